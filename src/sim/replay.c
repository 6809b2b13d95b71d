/* Replays a job stream through the engine under a policy, in virtual time, measuring what
 * docs/evaluation.md reports. Jobs run for their duration once started; a preempted job
 * drains for its whole grace period and starts afresh when placed again (its first run's
 * GPU time is counted as thrown away), or with checkpoints (struct replay_model) resumes
 * from its last one, losing only the time since. Finished jobs are forgotten by the engine
 * (sched_workload_forget), so memory follows the jobs in flight. */
#include "sim/replay.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/agenda.h"
#include "common/array.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/quantity.h"

static const char *const policy_names[REPLAY_POLICY_COUNT] = {"static", "shared", "allot"};

const char *replay_policy_name(enum replay_policy p)
{
    return p < REPLAY_POLICY_COUNT ? policy_names[p] : "?";
}

int replay_policy_parse(const char *name, enum replay_policy *p)
{
    for (int i = 0; i < REPLAY_POLICY_COUNT; i++)
        if (strcmp(name, policy_names[i]) == 0) {
            *p = (enum replay_policy)i;
            return 0;
        }
    return -ALLOT_EINVAL;
}

static bool check_invariants; /* replay_set_check: set once, before the replays */

void replay_set_check(bool on)
{
    check_invariants = on;
}

/* ---- histograms ---- */

void replay_hist_add(struct replay_hist *h, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    uint32_t b;
    if (ms < 16) {
        b = (uint32_t)ms;
    } else {
        int e = 63 - __builtin_clzll((unsigned long long)ms); /* >= 4 */
        uint32_t mant = (uint32_t)((unsigned long long)ms >> (e - 4)) & 15;
        b = (uint32_t)(e - 3) * 16 + mant;
    }
    if (b >= REPLAY_HIST_BUCKETS)
        b = REPLAY_HIST_BUCKETS - 1;
    h->b[b]++;
    h->n++;
    h->sum_ms += (double)ms;
    if ((double)ms > h->max_ms)
        h->max_ms = (double)ms;
}

/* The lower edge and width of bucket b. */
static void bucket_range(uint32_t b, double *lo, double *width)
{
    if (b < 16) {
        *lo = b;
        *width = 1;
        return;
    }
    int e = (int)(b / 16) + 3;
    double base = ldexp(1.0, e);
    *width = base / 16;
    *lo = base + (b % 16) * *width;
}

double replay_hist_mean(const struct replay_hist *h)
{
    return h->n ? h->sum_ms / (double)h->n : 0;
}

double replay_hist_quantile(const struct replay_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < REPLAY_HIST_BUCKETS; b++) {
        seen += h->b[b];
        if (seen >= rank) {
            double lo, w;
            bucket_range(b, &lo, &w);
            double mid = b < 16 ? lo : lo + w / 2;
            return mid > h->max_ms ? h->max_ms : mid;
        }
    }
    return h->max_ms;
}

static void hist_merge(struct replay_hist *to, const struct replay_hist *from)
{
    to->n += from->n;
    to->sum_ms += from->sum_ms;
    if (from->max_ms > to->max_ms)
        to->max_ms = from->max_ms;
    for (uint32_t b = 0; b < REPLAY_HIST_BUCKETS; b++)
        to->b[b] += from->b[b];
}

/* ---- the replay ---- */

enum timer_kind { TIMER_FINISH, TIMER_STOPPED, TIMER_CHECKPOINT };

/* What the replay knows of each engine slot (reused with the engine's slots). */
struct slot {
    uint32_t workspace; /* input workspace */
    int64_t units;      /* GPU units of all replicas */
    int64_t submit_ms, duration_ms, start_ms;
    int64_t saved_ms;   /* work saved by checkpoints of earlier runs (replay_model) */
    uint32_t run;       /* the replay's number of its current run */
    int64_t reclaim_ms; /* when the engine began reclaiming GPUs for it, or -1 */
    bool started, guaranteed;
};

struct replay {
    struct sched *s;
    struct replay_result *res;
    struct agenda agenda; /* finishes and exits due (kind: enum timer_kind; id: engine
                           * slot; run: the run it is for) */
    struct slot *slots;
    uint32_t cap_slots;
    int64_t *held;               /* GPU units held per input workspace (running and draining) */
    int64_t *waiting;            /* GPU units of its jobs that have not started yet */
    int64_t *reserved;           /* the reference reservation per input workspace (allot's) */
    char **engine_ws;            /* the engine workspace each input workspace submits to */
    int64_t alloc;               /* GPU units held on the platform */
    int64_t t;                   /* the clock, ms */
    uint32_t in_flight;          /* jobs submitted and not over */
    uint32_t runs;               /* runs started so far: a run's number is never reused, so a
                                  * timer of a run that is over never touches a later one */
    int64_t checkpoint_every_ms; /* replay_model's */
    double time_limit_factor;    /* the input's */
};

static struct slot *slot_of(struct replay *r, uint32_t id)
{
    if (ARRAY_RESERVE_ZEROED(r->slots, r->cap_slots, id + 1))
        return NULL;
    return &r->slots[id];
}

/* Advance the clock to t, adding the GPUs held meanwhile to the figures and the series. */
static int advance(struct replay *r, int64_t t)
{
    struct replay_result *res = r->res;
    if (t <= r->t)
        return 0;
    double gpus = (double)r->alloc / QUANTITY_GPU_UNITS;
    res->all.allocated_gpu_s += gpus * (double)(t - r->t) / 1000.0;
    for (uint32_t i = 0; i < res->n_workspaces; i++)
        res->ws[i].allocated_gpu_s +=
            (double)r->held[i] / QUANTITY_GPU_UNITS * (double)(t - r->t) / 1000.0;
    /* the series: GPU-milliseconds into buckets of series_ms */
    int64_t from = r->t;
    while (from < t) {
        uint32_t b = (uint32_t)(from / res->series_ms);
        if (b >= res->n_series) {
            uint32_t n = b + 1024;
            double *p = realloc(res->series, n * sizeof(*p));
            if (!p)
                return -ALLOT_ENOMEM;
            memset(p + res->n_series, 0, (n - res->n_series) * sizeof(*p));
            res->series = p;
            res->n_series = n;
        }
        int64_t to = ((int64_t)b + 1) * res->series_ms;
        if (to > t)
            to = t;
        res->series[b] += gpus * (double)(to - from);
        from = to;
    }
    r->t = t;
    return 0;
}

static void release(struct replay *r, struct slot *sl)
{
    r->held[sl->workspace] -= sl->units;
    r->alloc -= sl->units;
}

/* The engine's decisions since the last call. */
static int events(struct replay *r)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(r->s, &n);
    struct replay_result *res = r->res;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const struct sched_event *e = &ev[i];
        if (e->workload == SCHED_NONE || e->workload >= r->cap_slots)
            continue;
        struct slot *sl = &r->slots[e->workload];
        struct replay_figures *f = &res->ws[sl->workspace];
        switch (e->kind) {
        case SCHED_EV_ADMITTED:
            if (!sl->started) {
                int64_t wait = e->t - sl->submit_ms;
                sl->started = true;
                r->waiting[sl->workspace] -= sl->units;
                f->started++;
                replay_hist_add(&f->delay, wait);
                if (sl->guaranteed) {
                    replay_hist_add(&f->guaranteed_wait, wait);
                    f->guaranteed_late += wait > res->promise_ms;
                }
            }
            if (sl->reclaim_ms >= 0) /* the reclaim's latency: from its start to this one */
                replay_hist_add(&f->reclaim, e->t - sl->reclaim_ms);
            sl->reclaim_ms = -1;
            sl->start_ms = e->t;
            sl->run = ++r->runs;
            r->held[sl->workspace] += sl->units;
            r->alloc += sl->units;
            /* what is left of its work: all of it, or what its checkpoints did not save */
            rc = agenda_push(&r->agenda,
                             (struct agenda_item){.t = e->t + sl->duration_ms - sl->saved_ms,
                                                  .kind = TIMER_FINISH,
                                                  .id = e->workload,
                                                  .run = sl->run});
            if (!rc && r->checkpoint_every_ms > 0 &&
                r->checkpoint_every_ms < sl->duration_ms - sl->saved_ms)
                rc =
                    agenda_push(&r->agenda, (struct agenda_item){.t = e->t + r->checkpoint_every_ms,
                                                                 .kind = TIMER_CHECKPOINT,
                                                                 .id = e->workload,
                                                                 .run = sl->run});
            break;
        case SCHED_EV_PREEMPTING:
            if (e->other != SCHED_NONE && e->other < r->cap_slots &&
                r->slots[e->other].reclaim_ms < 0)
                r->slots[e->other].reclaim_ms = e->t;
            /* it drains for its whole grace period: the slowest a program may take */
            rc = agenda_push(&r->agenda, (struct agenda_item){.t = e->deadline,
                                                              .kind = TIMER_STOPPED,
                                                              .id = e->workload,
                                                              .run = sl->run});
            break;
        case SCHED_EV_STOPPED: {
            /* lost: the run since its last checkpoint (every one, while it drained too) */
            int64_t ran = e->t - sl->start_ms, kept = 0;
            if (r->checkpoint_every_ms > 0)
                kept = ran / r->checkpoint_every_ms * r->checkpoint_every_ms;
            if (kept > sl->duration_ms - sl->saved_ms)
                kept = sl->duration_ms - sl->saved_ms;
            sl->saved_ms += kept;
            f->preemptions++;
            f->wasted_gpu_s +=
                (double)sl->units / QUANTITY_GPU_UNITS * (double)(ran - kept) / 1000.0;
            release(r, sl);
            break;
        }
        case SCHED_EV_FINISHED: {
            double gpus = (double)sl->units / QUANTITY_GPU_UNITS;
            f->finished++;
            replay_hist_add(&f->jct, e->t - sl->submit_ms);
            f->asked_gpu_s += gpus * (double)sl->duration_ms / 1000.0;
            f->sojourn_gpu_s += gpus * (double)(e->t - sl->submit_ms) / 1000.0;
            if (e->t > res->end_ms)
                res->end_ms = e->t;
            release(r, sl);
            r->in_flight--;
            rc = sched_workload_forget(r->s, e->workload);
            break;
        }
        case SCHED_EV_REJECTED:
            f->rejected++;
            r->waiting[sl->workspace] -= sl->units;
            r->in_flight--;
            rc = sched_workload_forget(r->s, e->workload);
            break;
        default:
            break;
        }
    }
    sched_events_clear(r->s);
    return rc;
}

/* Turn the platform for policy; note each input workspace's reference reservation and the
 * engine workspace it submits to. */
static int policy_apply(struct replay *r, const struct replay_input *in, enum replay_policy p,
                        char *err, size_t len)
{
    struct sched *s = r->s;
    for (uint32_t i = 0; i < in->n_workspaces; i++) {
        uint32_t id;
        if (sched_workspace_find(s, in->workspaces[i], &id)) {
            snprintf(err, len, "workspace: the platform has no workspace '%s' (the trace's)",
                     in->workspaces[i]);
            return -ALLOT_ENOENT;
        }
        r->reserved[i] = s->workspaces[id].reserved;
        r->engine_ws[i] = strdup(in->workspaces[i]);
        if (!r->engine_ws[i])
            return -ALLOT_ENOMEM;
    }
    uint32_t n_ws = s->n_workspaces;
    for (uint32_t k = 0; k < n_ws && p != REPLAY_ALLOT; k++) {
        const struct sched_workspace *ws = &s->workspaces[k];
        struct sched_workspace_spec spec = {.name = ws->name,
                                            .limits = ws->limits,
                                            .reserved = ws->reserved,
                                            .lend = ws->lend,
                                            .weight = ws->weight,
                                            .require_image = ws->require_image,
                                            .default_time_limit_ms = ws->default_time_limit_ms,
                                            .max_time_limit_ms = ws->max_time_limit_ms,
                                            .max_queued = ws->max_queued};
        if (p == REPLAY_STATIC) {
            spec.limits.gpu = ws->reserved; /* a hard partition */
            spec.lend = false;
        } else {
            spec.reserved = 0;
        }
        int rc = sched_workspace_update(s, &spec, 0, err, len);
        if (rc)
            return rc;
    }
    if (p == REPLAY_SHARED) {
        /* one pool per tenant: its workspaces' jobs in one queue, priority then arrival */
        struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                       SCHED_UNLIMITED};
        for (uint32_t t = 0; t < s->n_tenants; t++) {
            char name[300];
            snprintf(name, sizeof(name), "%s/shared-pool", s->tenants[t].name);
            struct sched_workspace_spec pool = {
                .name = name, .limits = none, .reserved = 0, .lend = true, .weight = 1};
            int rc = sched_workspace_add(s, &pool, NULL, err, len);
            if (rc)
                return rc;
        }
        for (uint32_t i = 0; i < in->n_workspaces; i++) {
            const char *slash = strchr(in->workspaces[i], '/');
            char name[300];
            snprintf(name, sizeof(name), "%.*s/shared-pool",
                     (int)(slash ? slash - in->workspaces[i] : 0), in->workspaces[i]);
            free(r->engine_ws[i]);
            r->engine_ws[i] = strdup(name);
            if (!r->engine_ws[i])
                return -ALLOT_ENOMEM;
        }
    }
    sched_events_clear(s);
    return 0;
}

static int submit(struct replay *r, struct replay_job *job, uint64_t seq, char *err, size_t len)
{
    char name[32];
    snprintf(name, sizeof(name), "j%llu", (unsigned long long)seq);
    job->spec.name = name;
    if (r->time_limit_factor > 0) { /* its duration x the factor: never below its run */
        double limit = ceil((double)job->duration_ms * r->time_limit_factor);
        job->spec.time_limit_ms =
            limit >= 1 && limit <= (double)SCHED_MAX_TIME_LIMIT_MS ? (int64_t)limit : 0;
    } else if (job->spec.time_limit_ms > 0 && job->spec.time_limit_ms < job->duration_ms) {
        job->spec.time_limit_ms = 0; /* the replay runs it for its duration: no known end */
    }
    job->spec.workspace = r->engine_ws[job->workspace];
    uint32_t id = SCHED_NONE;
    int rc = sched_submit(r->s, &job->spec, job->submit_ms, &id, err, len);
    if (id == SCHED_NONE)
        return rc ? rc : -ALLOT_ENOMEM;
    struct slot *sl = slot_of(r, id);
    if (!sl)
        return -ALLOT_ENOMEM;
    const struct sched_workload *w = &r->s->workloads[id];
    *sl = (struct slot){.workspace = job->workspace,
                        .units = w->total.gpu,
                        .submit_ms = job->submit_ms,
                        .duration_ms = job->duration_ms,
                        .reclaim_ms = -1};
    /* within its reservation at submission (with what the workspace holds and what it
     * already waits for): the guarantee applies to it */
    sl->guaranteed = r->reserved[job->workspace] > 0 &&
                     r->held[job->workspace] + r->waiting[job->workspace] + sl->units <=
                         r->reserved[job->workspace];
    r->waiting[job->workspace] += sl->units;
    struct replay_figures *f = &r->res->ws[job->workspace];
    f->submitted++;
    f->guaranteed += sl->guaranteed;
    r->in_flight++;
    uint32_t used = r->s->n_workloads - r->s->n_free;
    if (used > r->res->peak_slots)
        r->res->peak_slots = used;
    err[0] = '\0';
    return 0;
}

static void figures_sum(struct replay_result *res)
{
    struct replay_figures *a = &res->all;
    double sum = 0, sum2 = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < res->n_workspaces; i++) {
        const struct replay_figures *f = &res->ws[i];
        a->submitted += f->submitted;
        a->started += f->started;
        a->finished += f->finished;
        a->rejected += f->rejected;
        a->preemptions += f->preemptions;
        a->wasted_gpu_s += f->wasted_gpu_s;
        a->asked_gpu_s += f->asked_gpu_s;
        a->sojourn_gpu_s += f->sojourn_gpu_s;
        a->guaranteed += f->guaranteed;
        a->guaranteed_late += f->guaranteed_late;
        hist_merge(&a->delay, &f->delay);
        hist_merge(&a->jct, &f->jct);
        hist_merge(&a->guaranteed_wait, &f->guaranteed_wait);
        hist_merge(&a->reclaim, &f->reclaim);
        if (f->sojourn_gpu_s > 0) {
            double x = f->asked_gpu_s / f->sojourn_gpu_s;
            sum += x;
            sum2 += x * x;
            n++;
        }
    }
    res->jain = n && sum2 > 0 ? sum * sum / (n * sum2) : 1;
    res->utilisation =
        res->end_ms > 0 && res->capacity_gpus > 0
            ? res->all.allocated_gpu_s / ((double)res->capacity_gpus * (double)res->end_ms / 1000.0)
            : 0;
    for (uint32_t b = 0; b < res->n_series; b++)
        res->series[b] /= (double)res->series_ms; /* GPU-ms per bucket to average GPUs */
    if (res->end_ms > 0)
        res->n_series = (uint32_t)((res->end_ms + res->series_ms - 1) / res->series_ms);
}

int replay_run(const struct replay_input *in, replay_platform_fn build, void *build_ctx,
               enum replay_policy policy, struct replay_result *res, char *err, size_t len)
{
    return replay_run_model(in, build, build_ctx, policy, NULL, res, err, len);
}

/* A running job's periodic checkpoint (replay_model): the engine is told, and the next is
 * due unless its work ends first. RET 0, or the engine's or the agenda's error. */
static int checkpoint_due(struct replay *r, uint32_t id, int64_t t)
{
    const struct slot *sl = &r->slots[id];
    int rc = sched_checkpoint(r->s, id, t, t);
    if (rc == 0 && t + r->checkpoint_every_ms < sl->start_ms + sl->duration_ms - sl->saved_ms)
        rc = agenda_push(&r->agenda, (struct agenda_item){.t = t + r->checkpoint_every_ms,
                                                          .kind = TIMER_CHECKPOINT,
                                                          .id = id,
                                                          .run = sl->run});
    return rc;
}

int replay_run_model(const struct replay_input *in, replay_platform_fn build, void *build_ctx,
                     enum replay_policy policy, const struct replay_model *model,
                     struct replay_result *res, char *err, size_t len)
{
    int64_t w0 = clock_mono_us();
    memset(res, 0, sizeof(*res));
    res->policy = policy;
    res->n_workspaces = in->n_workspaces;
    res->names = in->workspaces;
    res->ws = calloc(in->n_workspaces ? in->n_workspaces : 1, sizeof(*res->ws));
    struct replay r = {.res = res, .time_limit_factor = in->time_limit_factor};
    r.held = calloc(in->n_workspaces + 1, sizeof(*r.held));
    r.reserved = calloc(in->n_workspaces + 1, sizeof(*r.reserved));
    r.waiting = calloc(in->n_workspaces + 1, sizeof(*r.waiting));
    r.engine_ws = calloc(in->n_workspaces + 1, sizeof(*r.engine_ws));
    err[0] = '\0';
    int rc = res->ws && r.held && r.reserved && r.waiting && r.engine_ws ? 0 : -ALLOT_ENOMEM;
    rc = rc ? rc : build(build_ctx, &r.s, err, len);
    rc = rc ? rc : policy_apply(&r, in, policy, err, len);
    rc = rc ? rc : in->rewind(in->ctx);
    if (rc)
        goto out;
    if (model) {
        r.checkpoint_every_ms = model->checkpoint_every_ms;
        if (model->victim_order)
            r.s->opt.checkpoint_aware = false;
    }
    res->checkpoint_every_ms = r.checkpoint_every_ms;
    res->checkpoint_aware = r.s->opt.checkpoint_aware;
    for (uint32_t i = 0; i < r.s->n_nodes; i++)
        if (r.s->nodes[i].tenant != SCHED_NONE)
            for (uint32_t g = 0; g < r.s->nodes[i].n_gpus; g++)
                res->capacity_gpus++;
    res->promise_ms = r.s->opt.default_grace_ms + 1000;
    res->series_ms = 3600 * 1000;
    struct replay_job job;
    uint64_t seq = 0, passes = 0;
    int more = in->next(in->ctx, &job);
    while (more > 0 || r.agenda.n > 0) {
        if (more < 0) {
            rc = more;
            snprintf(err, len, "cannot read the jobs");
            goto out;
        }
        int64_t t = more > 0 ? job.submit_ms : INT64_MAX;
        if (r.agenda.n && r.agenda.items[0].t < t)
            t = r.agenda.items[0].t;
        if ((rc = advance(&r, t)))
            goto out;
        /* everything due at t, then one pass */
        while (more > 0 && job.submit_ms == t) {
            if ((rc = submit(&r, &job, seq++, err, len)) && rc != -ALLOT_EREJECTED &&
                rc != -ALLOT_ELIMIT && rc != -ALLOT_ENOFIT && rc != -ALLOT_EINVAL)
                goto out;
            rc = 0;
            more = in->next(in->ctx, &job);
        }
        while (r.agenda.n && r.agenda.items[0].t == t) {
            struct agenda_item x = agenda_pop(&r.agenda);
            const struct sched_workload *w = &r.s->workloads[x.id];
            if (x.kind == TIMER_FINISH && x.run == r.slots[x.id].run && w->state == SCHED_RUNNING)
                rc = sched_finish(r.s, x.id, t);
            else if (x.kind == TIMER_STOPPED && x.run == r.slots[x.id].run &&
                     w->state == SCHED_DRAINING)
                rc = sched_stopped(r.s, x.id, t);
            else if (x.kind == TIMER_CHECKPOINT && x.run == r.slots[x.id].run &&
                     (w->state == SCHED_RUNNING || w->state == SCHED_DRAINING))
                rc = checkpoint_due(&r, x.id, t);
            if (rc) /* the timer's workload is in the state it needs: only an invariant fails */
                break;
        }
        if (rc || (rc = sched_schedule(r.s, t)) || (rc = events(&r))) {
            snprintf(err, len, "the engine: %s", allot_strerror(rc));
            goto out;
        }
        if (check_invariants && (r.s->n_workloads <= 2000 || ++passes % 1000 == 0) &&
            (rc = sched_check(r.s, err, len)))
            goto out;
    }
    if (r.in_flight > 0) {
        /* jobs that can never run here (a gang larger than the platform) stay queued */
        for (uint32_t i = 0; i < r.cap_slots && i < r.s->n_workloads; i++) {
            const struct sched_workload *w = &r.s->workloads[i];
            if (w->name && (w->state == SCHED_PENDING || w->state == SCHED_RECLAIMING))
                res->ws[r.slots[i].workspace].rejected++;
        }
    }
    figures_sum(res);
out:
    res->wall_s = (double)(clock_mono_us() - w0) / 1e6;
    for (uint32_t i = 0; r.engine_ws && i < in->n_workspaces; i++)
        free(r.engine_ws[i]);
    free(r.engine_ws);
    free(r.held);
    free(r.reserved);
    free(r.waiting);
    agenda_cleanup(&r.agenda);
    free(r.slots);
    sched_free(r.s);
    if (rc)
        replay_result_free(res);
    return rc;
}

void replay_result_free(struct replay_result *res)
{
    free(res->ws);
    free(res->series);
    res->ws = NULL;
    res->series = NULL;
}

/* ---- output ---- */

/* A duration in ms as text for tables: "0s", "45s", "12m", "3.4h", "2.1d". */
static const char *span_text(double ms, char *buf, size_t len)
{
    double s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%.0fm", s / 60);
    else if (s < 86400)
        snprintf(buf, len, "%.1fh", s / 3600);
    else
        snprintf(buf, len, "%.1fd", s / 86400);
    return buf;
}

static void print_row(FILE *out, const char *label, const struct replay_figures *f)
{
    char a[16], b[16], c[16], d[16], e[16], g[16], h[16];
    double mean = replay_hist_mean(&f->delay);
    double jct = replay_hist_mean(&f->jct);
    fprintf(out, "  %-22s %7llu %6llu %7s %6s %6s %6s %7s %6llu %8.0f", label,
            (unsigned long long)f->submitted, (unsigned long long)f->rejected,
            span_text(mean, a, sizeof(a)),
            span_text(replay_hist_quantile(&f->delay, 0.5), b, sizeof(b)),
            span_text(replay_hist_quantile(&f->delay, 0.95), c, sizeof(c)),
            span_text(replay_hist_quantile(&f->delay, 0.99), d, sizeof(d)),
            span_text(jct, e, sizeof(e)), (unsigned long long)f->preemptions,
            f->wasted_gpu_s / 3600);
    if (f->guaranteed)
        fprintf(out, " %7llu %6s %6s %5.1f%%\n", (unsigned long long)f->guaranteed,
                span_text(replay_hist_quantile(&f->guaranteed_wait, 0.99), g, sizeof(g)),
                span_text(f->guaranteed_wait.max_ms, h, sizeof(h)),
                100.0 * (double)f->guaranteed_late / (double)f->guaranteed);
    else
        fprintf(out, " %7s %6s %6s %6s\n", "0", "-", "-", "-");
}

void replay_print(FILE *out, const struct replay_result *res, uint32_t n, const char *const *labels)
{
    fprintf(out, "%-10s %6s %9s %6s %7s %6s %6s %6s %7s %9s %8s %6s\n", "run", "GPUs", "util",
            "jobs", "delay", "p50", "p99", "JCT", "preempt", "lost GPUh", "guar.p99", "Jain");
    for (uint32_t k = 0; k < n; k++) {
        const struct replay_result *x = &res[k];
        const struct replay_figures *f = &x->all;
        char a[16], b[16], c[16], d[16], g[16];
        fprintf(out, "%-10s %6lld %8.1f%% %6llu %7s %6s %6s %6s %7llu %9.0f %8s %6.3f\n", labels[k],
                (long long)x->capacity_gpus, 100 * x->utilisation, (unsigned long long)f->submitted,
                span_text(replay_hist_mean(&f->delay), a, sizeof(a)),
                span_text(replay_hist_quantile(&f->delay, 0.5), b, sizeof(b)),
                span_text(replay_hist_quantile(&f->delay, 0.99), c, sizeof(c)),
                span_text(replay_hist_mean(&f->jct), d, sizeof(d)),
                (unsigned long long)f->preemptions, f->wasted_gpu_s / 3600,
                f->guaranteed
                    ? span_text(replay_hist_quantile(&f->guaranteed_wait, 0.99), g, sizeof(g))
                    : "-",
                x->jain);
    }
    for (uint32_t k = 0; k < n; k++) {
        const struct replay_result *x = &res[k];
        fprintf(out,
                "\n%s: %llu jobs, %llu finished, %llu rejected; utilisation %.1f%% of %lld "
                "GPUs over %.1f days; guarantee promise %.0f s; replayed in %.2f s\n",
                labels[k], (unsigned long long)x->all.submitted,
                (unsigned long long)x->all.finished, (unsigned long long)x->all.rejected,
                100 * x->utilisation, (long long)x->capacity_gpus, (double)x->end_ms / 86400000.0,
                (double)x->promise_ms / 1000, x->wall_s);
        fprintf(out, "  %-22s %7s %6s %7s %6s %6s %6s %7s %6s %8s %7s %6s %6s %6s\n", "workspace",
                "jobs", "rej", "delay", "p50", "p95", "p99", "JCT", "preem", "lostGPUh", "guar",
                "g.p99", "g.max", "late");
        print_row(out, "all", &x->all);
        for (uint32_t i = 0; i < x->n_workspaces; i++)
            print_row(out, x->names[i], &x->ws[i]);
    }
}

static json_t *hist_json(const struct replay_hist *h)
{
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)h->n, "mean_s",
                     replay_hist_mean(h) / 1000, "p50_s", replay_hist_quantile(h, 0.5) / 1000,
                     "p95_s", replay_hist_quantile(h, 0.95) / 1000, "p99_s",
                     replay_hist_quantile(h, 0.99) / 1000, "max_s", h->max_ms / 1000);
}

static json_t *figures_json(const struct replay_figures *f)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:o, s:o, s:{s:I, s:I, s:f, s:o}, "
        "s:o}",
        "submitted", (json_int_t)f->submitted, "started", (json_int_t)f->started, "finished",
        (json_int_t)f->finished, "rejected", (json_int_t)f->rejected, "preemptions",
        (json_int_t)f->preemptions, "lost_gpu_hours", f->wasted_gpu_s / 3600, "allocated_gpu_hours",
        f->allocated_gpu_s / 3600, "served_share",
        f->sojourn_gpu_s > 0 ? f->asked_gpu_s / f->sojourn_gpu_s : 1.0, "queueing_delay",
        hist_json(&f->delay), "completion_time", hist_json(&f->jct), "guarantee", "jobs",
        (json_int_t)f->guaranteed, "late", (json_int_t)f->guaranteed_late, "late_share",
        f->guaranteed ? (double)f->guaranteed_late / (double)f->guaranteed : 0.0, "wait",
        hist_json(&f->guaranteed_wait), "reclaim_wait", hist_json(&f->reclaim));
}

json_t *replay_json(const struct replay_result *res, uint32_t n, const char *const *labels)
{
    json_t *runs = json_array();
    for (uint32_t k = 0; k < n; k++) {
        const struct replay_result *x = &res[k];
        json_t *ws = json_object();
        for (uint32_t i = 0; i < x->n_workspaces; i++)
            json_object_set_new(ws, x->names[i], figures_json(&x->ws[i]));
        json_array_append_new(
            runs,
            json_pack("{s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:o, s:o}", "label", labels[k],
                      "policy", replay_policy_name(x->policy), "gpus", (json_int_t)x->capacity_gpus,
                      "span_days", (double)x->end_ms / 86400000.0, "utilisation", x->utilisation,
                      "jain", x->jain, "promise_s", (double)x->promise_ms / 1000, "replay_seconds",
                      x->wall_s, "peak_jobs_in_engine", (json_int_t)x->peak_slots, "all",
                      figures_json(&x->all), "workspaces", ws));
        json_t *run = json_array_get(runs, json_array_size(runs) - 1);
        json_object_set_new(run, "checkpoint_every_s",
                            json_real((double)x->checkpoint_every_ms / 1000));
        json_object_set_new(run, "checkpoint_aware", json_boolean(x->checkpoint_aware));
    }
    return json_pack("{s:o}", "runs", runs);
}
