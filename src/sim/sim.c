/* `allot sim`: replays a scenario's timeline through the engine in virtual time. Virtual
 * workloads finish `duration` after they start and exit `drain` (default: the whole grace
 * period) after being told to stop. Output: a readable timeline or JSON lines
 * (docs/simulator.md documents the schema). */
#include "sim/sim.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sim/agenda.h"
#include "sim/evaluation.h"
#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "schema/view.h"

/* SIM_TICK: time alone may change a decision (a workload waits for min_runtime).
 * SIM_TIME_LIMIT: a run reaches its time limit before its duration (it fails, as its agent
 * would stop it: docs/policy.md, "Time limits and backfill") */
enum sim_kind { SIM_STEP, SIM_FINISH, SIM_STOPPED, SIM_TICK, SIM_TIME_LIMIT };

/* What the simulator knows of each workload beyond the engine. */
struct sim_workload {
    int64_t duration_ms;
    int64_t drain_ms;
    uint32_t run;
    int64_t first_start_ms; /* -1 until it first runs */
};

struct sim {
    const struct sim_options *opt;
    FILE *out, *err;
    struct scenario scn;
    struct sched *engine;
    struct agenda agenda; /* steps, finishes and exits due (kind: enum sim_kind; id: step
                           * index or workload id; run: SIM_FINISH's run, stale once the
                           * workload restarted) */
    struct sim_workload *wl;
    uint32_t cap_wl;
    struct sim_result res;
    uint32_t cap_records;
};

/* The simulator's record for workload id, grown to cover it. */
static struct sim_workload *sim_wl(struct sim *sm, uint32_t id)
{
    if (id >= sm->cap_wl) {
        uint32_t cap = sm->cap_wl ? sm->cap_wl : 64;
        while (cap <= id)
            cap *= 2;
        struct sim_workload *p = realloc(sm->wl, cap * sizeof(*p));
        if (!p)
            return NULL;
        for (uint32_t i = sm->cap_wl; i < cap; i++)
            p[i] = (struct sim_workload){-1, -1, 0, -1};
        sm->wl = p;
        sm->cap_wl = cap;
    }
    return &sm->wl[id];
}

/* Compact text of a placement: "gpu-a[0-3]" or "gpu-a/gpu7:3g.40gb@4", replicas joined by
 * commas. */
static void placement_text(const struct sched *s, const struct sched_workload *w, char *buf,
                           size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t r = 0; r < w->replicas && used < len; r++) {
        const struct sched_replica *rp = &w->placement[r];
        const struct sched_node *n = &s->nodes[rp->node];
        used += (size_t)snprintf(buf + used, len - used, "%s%s", r ? "," : "", n->name);
        if (used >= len)
            break;
        if (rp->mig_gpu >= 0) {
            used +=
                (size_t)snprintf(buf + used, len - used, "/gpu%d:%s@%d", rp->mig_gpu,
                                 mig_name(w->mig), n->gpus[rp->mig_gpu].mig[rp->mig_slot].start);
            continue;
        }
        if (!rp->gpu_mask)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "[");
        int first = 1;
        for (uint32_t i = 0; i < n->n_gpus && used < len; i++) {
            if (!(rp->gpu_mask >> i & 1))
                continue;
            uint32_t j = i;
            while (j + 1 < n->n_gpus && (rp->gpu_mask >> (j + 1) & 1))
                j++;
            if (j > i)
                used += (size_t)snprintf(buf + used, len - used, "%s%u-%u", first ? "" : ",", i, j);
            else
                used += (size_t)snprintf(buf + used, len - used, "%s%u", first ? "" : ",", i);
            first = 0;
            i = j;
        }
        if (used < len)
            used += (size_t)snprintf(buf + used, len - used, "]");
    }
}

/* Request summary: "8 GPUs", "2 x 3g.40gb", "cpu only". */
static void request_text(const struct sched_workload *w, char *buf, size_t len)
{
    if (w->mig >= 0)
        snprintf(buf, len, "%u x %s", w->replicas, mig_name(w->mig));
    else if (w->gpus && w->replicas > 1)
        snprintf(buf, len, "%u x %u GPUs", w->replicas, w->gpus);
    else if (w->gpus)
        snprintf(buf, len, "%u GPU%s", w->gpus, w->gpus > 1 ? "s" : "");
    else
        snprintf(buf, len, "cpu only");
}

static void event_text(const struct sched *s, const struct sched_event *e, FILE *out)
{
    char t[32], detail[512], a[200];
    quantity_format_duration(e->t, t, sizeof(t));
    const char *name = e->workload != SCHED_NONE ? s->workloads[e->workload].name : "";
    const struct sched_workload *w = e->workload != SCHED_NONE ? &s->workloads[e->workload] : NULL;
    detail[0] = '\0';
    switch (e->kind) {
    case SCHED_EV_SUBMITTED:
        request_text(w, a, sizeof(a));
        snprintf(detail, sizeof(detail), "%s %s, %s, priority %d%s",
                 w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE
                     ? "?"
                     : s->workspaces[w->workspace].name,
                 sched_kind_name(w->kind), a, w->priority,
                 w->preemptible ? "" : ", non-preemptible");
        break;
    case SCHED_EV_QUEUED:
    case SCHED_EV_REJECTED:
        snprintf(detail, sizeof(detail), "%s: %s", reason_name(e->reason), e->message);
        break;
    case SCHED_EV_ADMITTED:
        placement_text(s, w, a, sizeof(a));
        snprintf(detail, sizeof(detail), "on %s%s", a, e->borrowed ? " (borrowed)" : "");
        break;
    case SCHED_EV_PREEMPTING: {
        char d[32];
        quantity_format_duration(e->deadline, d, sizeof(d));
        snprintf(detail, sizeof(detail), "%s%s%s, must stop by %s", reason_name(e->reason),
                 e->other != SCHED_NONE ? " for " : "",
                 e->other != SCHED_NONE ? s->workloads[e->other].name : "", d);
        break;
    }
    case SCHED_EV_STOPPED:
        snprintf(detail, sizeof(detail), "%s; queued again", reason_name(e->reason));
        break;
    case SCHED_EV_FAILED:
        if (e->reason != SCHED_REASON_NONE) /* time_limit */
            snprintf(detail, sizeof(detail), "%s: %s", reason_name(e->reason), e->message);
        break;
    case SCHED_EV_RESERVATION_DEGRADED:
    case SCHED_EV_RESERVATION_RESTORED:
    case SCHED_EV_NODE_STATE:
    case SCHED_EV_GPU_HEALTH:
    case SCHED_EV_WORKSPACE_UPDATED:
        snprintf(detail, sizeof(detail), "%s", e->message);
        break;
    default:
        break;
    }
    fprintf(out, "%9s  %-20s %-16s %s\n", t, sched_event_name(e->kind), name, detail);
}

static int record_push(struct sim *sm, const struct sched_event *e)
{
    if (ARRAY_GROW(sm->res.records, sm->res.n_records, sm->cap_records))
        return -ALLOT_ENOMEM;
    sm->res.records[sm->res.n_records++] =
        (struct sim_record){e->t, e->kind, e->workload, e->reason, e->other, e->borrowed};
    return 0;
}

/* Print and record the engine's events, and schedule what they set in motion: a finish
 * for each admitted workload, an exit for each one told to stop. */
static int events_apply(struct sim *sm)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(sm->engine, &n);
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const struct sched_event *e = &ev[i];
        rc = record_push(sm, e);
        if (!sm->opt->quiet) {
            if (sm->opt->json) {
                json_t *o = view_event(sm->engine, e, 0);
                char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
                if (line)
                    fprintf(sm->out, "%s\n", line);
                free(line);
                json_decref(o);
            } else {
                event_text(sm->engine, e, sm->out);
            }
        }
        if (rc || e->workload == SCHED_NONE)
            continue;
        struct sim_workload *w = sim_wl(sm, e->workload);
        if (!w)
            return -ALLOT_ENOMEM;
        if (e->kind == SCHED_EV_ADMITTED) {
            w->run++;
            if (w->first_start_ms < 0)
                w->first_start_ms = e->t;
            int64_t limit = sm->engine->workloads[e->workload].time_limit_ms;
            if (limit > 0 && (w->duration_ms < 0 || limit < w->duration_ms))
                rc = agenda_push(&sm->agenda, (struct agenda_item){.t = e->t + limit,
                                                                   .kind = SIM_TIME_LIMIT,
                                                                   .id = e->workload,
                                                                   .run = w->run});
            else if (w->duration_ms >= 0)
                rc = agenda_push(&sm->agenda, (struct agenda_item){.t = e->t + w->duration_ms,
                                                                   .kind = SIM_FINISH,
                                                                   .id = e->workload,
                                                                   .run = w->run});
        } else if (e->kind == SCHED_EV_QUEUED && e->reason == SCHED_REASON_MIN_RUNTIME &&
                   e->deadline > e->t) {
            rc = agenda_push(&sm->agenda, (struct agenda_item){.t = e->deadline,
                                                               .kind = SIM_TICK,
                                                               .id = e->workload,
                                                               .run = w->run});
        } else if (e->kind == SCHED_EV_PREEMPTING) {
            int64_t grace = sm->engine->workloads[e->workload].grace_ms;
            int64_t drain = w->drain_ms >= 0 && w->drain_ms < grace ? w->drain_ms : grace;
            rc = agenda_push(&sm->agenda, (struct agenda_item){.t = e->t + drain,
                                                               .kind = SIM_STOPPED,
                                                               .id = e->workload,
                                                               .run = w->run});
        }
    }
    sched_events_clear(sm->engine);
    return rc;
}

/* Apply a partial workspace change on top of the workspace's current settings. */
static int workspace_change(struct sim *sm, const struct scenario_workspace_change *c, int64_t now)
{
    uint32_t id;
    char err[256];
    if (sched_workspace_find(sm->engine, c->name, &id)) {
        fprintf(sm->err, "%s: workspace change: no workspace '%s'\n", sm->scn.path, c->name);
        return -ALLOT_ENOENT;
    }
    const struct sched_workspace *ws = &sm->engine->workspaces[id];
    struct sched_workspace_spec spec = {.name = c->name,
                                        .limits = ws->limits,
                                        .reserved = ws->reserved,
                                        .lend = ws->lend,
                                        .weight = ws->weight,
                                        .require_image = ws->require_image,
                                        .default_time_limit_ms = ws->default_time_limit_ms,
                                        .max_time_limit_ms = ws->max_time_limit_ms,
                                        .max_queued = ws->max_queued};
    memcpy(spec.min_runtime_ms, ws->min_runtime_ms, sizeof(spec.min_runtime_ms));
    for (int r = 0; r < SCHED_RES_COUNT; r++)
        if (c->has_limit[r])
            sched_resources_set(&spec.limits, (enum sched_resource)r,
                                sched_resources_get(&c->limits, (enum sched_resource)r));
    if (c->has_reserved)
        spec.reserved = c->reserved;
    if (c->has_lend)
        spec.lend = c->lend;
    if (c->has_weight)
        spec.weight = c->weight;
    if (c->has_require_image)
        spec.require_image = c->require_image;
    int rc = sched_workspace_update(sm->engine, &spec, now, err, sizeof(err));
    if (rc) /* refused, as a running controller would refuse it: report and go on */
        fprintf(sm->err, "%s: at %" PRId64 "s: workspace change refused: %s\n", sm->scn.path,
                now / 1000, err);
    return 0;
}

static int submit_one(struct sim *sm, const struct scenario_step *st, const char *name, int64_t now)
{
    struct sched_workload_spec spec = st->submit;
    char err[256];
    uint32_t id = SCHED_NONE;
    spec.name = name;
    /* over a queue cap: refused before the engine sees it, as allotd refuses it (429) */
    uint32_t ws;
    struct sched_queued_cap full;
    if (sched_workspace_find(sm->engine, spec.workspace, &ws) == 0 &&
        sched_queued_check(sm->engine, ws, &full) == -ALLOT_ETOOMANY) {
        fprintf(sm->err,
                "%s: at %" PRId64 "s: submit %s refused: %s %s has %u queued workloads, "
                "its limits.queued\n",
                sm->scn.path, now / 1000, name, full.tenant ? "tenant" : "workspace", full.of,
                full.queued);
        return 0;
    }
    int rc = sched_submit(sm->engine, &spec, now, &id, err, sizeof(err));
    if (rc == -ALLOT_EEXIST || rc == -ALLOT_ENOMEM || id == SCHED_NONE) {
        fprintf(sm->err, "%s:%d: submit %s: %s\n", sm->scn.path, st->line, name,
                rc == -ALLOT_ENOMEM ? "out of memory" : err);
        return rc ? rc : -ALLOT_EINVAL;
    }
    struct sim_workload *w = sim_wl(sm, id);
    if (!w)
        return -ALLOT_ENOMEM;
    w->duration_ms = st->duration_ms;
    w->drain_ms = st->drain_ms;
    return 0; /* a rejection is an outcome, already in the events */
}

/* Tell a workload to stop after a cancel left it draining. */
static int drain_after_cancel(struct sim *sm, uint32_t id, int64_t now)
{
    const struct sched_workload *w = &sm->engine->workloads[id];
    if (w->state != SCHED_DRAINING)
        return 0;
    struct sim_workload *sw = sim_wl(sm, id);
    if (!sw)
        return -ALLOT_ENOMEM;
    int64_t drain = sw->drain_ms >= 0 && sw->drain_ms < w->grace_ms ? sw->drain_ms : w->grace_ms;
    return agenda_push(
        &sm->agenda,
        (struct agenda_item){.t = now + drain, .kind = SIM_STOPPED, .id = id, .run = sw->run});
}

static int step_apply(struct sim *sm, const struct scenario_step *st, int64_t now)
{
    uint32_t id;
    char name[160];
    switch (st->action) {
    case SCENARIO_SUBMIT:
        if (st->count <= 1)
            return submit_one(sm, st, st->submit.name, now);
        for (uint32_t i = 1; i <= st->count; i++) {
            snprintf(name, sizeof(name), "%s-%u", st->submit.name, i);
            int rc = submit_one(sm, st, name, now);
            if (rc)
                return rc;
        }
        return 0;
    case SCENARIO_CANCEL:
    case SCENARIO_FINISH:
    case SCENARIO_CHECKPOINT:
        if (sched_workload_find(sm->engine, st->target, &id)) {
            fprintf(sm->err, "%s:%d: no workload '%s'\n", sm->scn.path, st->line, st->target);
            return -ALLOT_ENOENT;
        }
        if (st->action == SCENARIO_CHECKPOINT) {
            /* not running: nothing saved; a broken invariant stops the run */
            int rc = sched_checkpoint(sm->engine, id, now, now);
            return rc == -ALLOT_ECHECK ? rc : 0;
        }
        if (st->action == SCENARIO_FINISH) {
            /* not running: nothing to finish; a broken invariant stops the run */
            int rc = sched_finish(sm->engine, id, now);
            return rc == -ALLOT_ECHECK ? rc : 0;
        }
        if (sched_cancel(sm->engine, id, now) == -ALLOT_ECHECK)
            return -ALLOT_ECHECK;
        return drain_after_cancel(sm, id, now);
    case SCENARIO_NODE_STATE:
    case SCENARIO_GPU_HEALTH:
        if (sched_node_find(sm->engine, st->target, &id)) {
            fprintf(sm->err, "%s:%d: no node '%s'\n", sm->scn.path, st->line, st->target);
            return -ALLOT_ENOENT;
        }
        if (st->action == SCENARIO_NODE_STATE)
            return sched_node_set_state(sm->engine, id, st->node_state, now);
        if (sched_gpu_set_health(sm->engine, id, st->gpu_index, st->healthy, now)) {
            fprintf(sm->err, "%s:%d: node '%s' has no GPU %u\n", sm->scn.path, st->line, st->target,
                    st->gpu_index);
            return -ALLOT_EINVAL;
        }
        return 0;
    case SCENARIO_WORKSPACE:
        return workspace_change(sm, &st->workspace, now);
    }
    return -ALLOT_EINVAL;
}

static int due_apply(struct sim *sm, const struct agenda_item *d)
{
    switch (d->kind) {
    case SIM_STEP:
        return step_apply(sm, &sm->scn.steps[d->id], d->t);
    case SIM_FINISH: {
        const struct sched_workload *w = &sm->engine->workloads[d->id];
        if (sm->wl[d->id].run != d->run || w->state != SCHED_RUNNING)
            return 0; /* that run was stopped before it could finish */
        return sched_finish(sm->engine, d->id, d->t);
    }
    case SIM_STOPPED:
        if (sm->engine->workloads[d->id].state != SCHED_DRAINING || sm->wl[d->id].run != d->run)
            return 0; /* finished by itself meanwhile */
        return sched_stopped(sm->engine, d->id, d->t);
    case SIM_TICK:
        sched_touch(sm->engine);
        return 0;
    case SIM_TIME_LIMIT:
        if (sm->engine->workloads[d->id].state != SCHED_RUNNING || sm->wl[d->id].run != d->run)
            return 0; /* that run was stopped before */
        return sched_time_limit_reached(sm->engine, d->id, d->t);
    }
    return 0;
}

static void summary_json(struct sim *sm, FILE *out)
{
    const struct sched *s = sm->engine;
    json_t *o = json_object(), *wls = json_object(), *wss = json_object();
    json_object_set_new(o, "t", view_time(sm->res.end_ms));
    json_object_set_new(o, "event", json_string("summary"));
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        json_t *x = json_object();
        json_object_set_new(x, "state", json_string(sched_state_name(w->state)));
        json_object_set_new(x, "workspace",
                            w->state == SCHED_REJECTED &&
                                    w->reason == SCHED_REASON_UNKNOWN_WORKSPACE
                                ? json_null()
                                : json_string(s->workspaces[w->workspace].name));
        json_object_set_new(x, "submitted", view_time(w->submit_ms));
        if (i < sm->cap_wl && sm->wl[i].first_start_ms >= 0)
            json_object_set_new(x, "started", view_time(sm->wl[i].first_start_ms));
        json_object_set_new(wls, w->name, x);
    }
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        json_t *x = json_object();
        char r[32];
        json_object_set_new(x, "reserved_gpus",
                            json_string(quantity_format_gpu(ws->reserved, r, sizeof(r))));
        json_object_set_new(x, "gpu_seconds_guaranteed",
                            json_real((double)ws->guaranteed_unit_ms / QUANTITY_GPU_UNITS / 1000));
        json_object_set_new(x, "gpu_seconds_borrowed",
                            json_real((double)ws->borrowed_unit_ms / QUANTITY_GPU_UNITS / 1000));
        json_object_set_new(wss, ws->name, x);
    }
    json_object_set_new(o, "workloads", wls);
    json_object_set_new(o, "workspaces", wss);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line)
        fprintf(out, "%s\n", line);
    free(line);
    json_decref(o);
}

static void summary_text(struct sim *sm, FILE *out)
{
    const struct sched *s = sm->engine;
    char end[32];
    fprintf(out, "\nSummary at %s\n\n", quantity_format_duration(sm->res.end_ms, end, sizeof(end)));
    fprintf(out, "%-24s %9s %9s %14s %14s\n", "workspace", "reserved", "gpu limit",
            "GPU-h guaranteed", "GPU-h borrowed");
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        char r[32], l[32];
        fprintf(out, "%-24s %9s %9s %16.2f %14.2f\n", ws->name,
                quantity_format_gpu(ws->reserved, r, sizeof(r)),
                sched_resource_format(SCHED_RES_GPU, ws->limits.gpu, l, sizeof(l)),
                (double)ws->guaranteed_unit_ms / QUANTITY_GPU_UNITS / 3600000.0,
                (double)ws->borrowed_unit_ms / QUANTITY_GPU_UNITS / 3600000.0);
    }
    fprintf(out, "\n%-20s %-24s %-10s %10s %10s\n", "workload", "workspace", "state", "submitted",
            "waited");
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        char sub[32], wait[32] = "-";
        if (i < sm->cap_wl && sm->wl[i].first_start_ms >= 0)
            quantity_format_duration(sm->wl[i].first_start_ms - w->submit_ms, wait, sizeof(wait));
        fprintf(out, "%-20s %-24s %-10s %10s %10s\n", w->name,
                w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE
                    ? "?"
                    : s->workspaces[w->workspace].name,
                sched_state_name(w->state),
                quantity_format_duration(w->submit_ms, sub, sizeof(sub)), wait);
    }
}

/* Does record r match expectation x (only the fields x gives)? */
static bool expect_match(const struct sim *sm, const struct scenario_expect *x,
                         const struct sim_record *r)
{
    const struct sched *s = sm->engine;
    if (r->kind != x->event)
        return false;
    if (x->workload &&
        (r->workload == SCHED_NONE || strcmp(s->workloads[r->workload].name, x->workload) != 0))
        return false;
    if (x->has_at && r->t != x->at_ms)
        return false;
    if (x->has_reason && r->reason != x->reason)
        return false;
    if (x->borrowed >= 0 && r->borrowed != (x->borrowed != 0))
        return false;
    if (x->for_workload &&
        (r->other == SCHED_NONE || strcmp(s->workloads[r->other].name, x->for_workload) != 0))
        return false;
    return true;
}

static void expectations_check(struct sim *sm)
{
    const struct scenario *scn = &sm->scn;
    for (uint32_t i = 0; i < scn->n_expects; i++) {
        const struct scenario_expect *x = &scn->expects[i];
        bool found = false;
        for (uint32_t k = 0; k < sm->res.n_records && !found; k++)
            found = expect_match(sm, x, &sm->res.records[k]);
        if (found != !x->absent) {
            fprintf(sm->err, "%s:%d: expectation failed: %s %s%s%s\n", scn->path, x->line,
                    sched_event_name(x->event), x->workload ? x->workload : "(any workload)",
                    x->absent ? " occurred but must not" : " did not occur",
                    x->has_reason ? "" : "");
            sm->res.expect_failures++;
        }
    }
    for (uint32_t i = 0; i < scn->n_finals; i++) {
        const struct scenario_final *f = &scn->finals[i];
        uint32_t id;
        if (sched_workload_find(sm->engine, f->workload, &id)) {
            fprintf(sm->err, "%s:%d: final: no workload '%s'\n", scn->path, f->line, f->workload);
            sm->res.expect_failures++;
        } else if (sm->engine->workloads[id].state != f->state) {
            fprintf(sm->err, "%s:%d: final: %s is %s, expected %s\n", scn->path, f->line,
                    f->workload, sched_state_name(sm->engine->workloads[id].state),
                    sched_state_name(f->state));
            sm->res.expect_failures++;
        }
    }
}

int sim_run(const char *path, const struct sim_options *opt, FILE *out, FILE *err,
            struct sim_result *res)
{
    struct sim sm = {.opt = opt, .out = out, .err = err};
    char msg[512];
    int rc = scenario_load(path, &sm.scn, &sm.engine, msg, sizeof(msg));
    if (rc) {
        fprintf(err, "%s\n", msg);
        return rc;
    }
    for (uint32_t i = 0; i < sm.scn.n_steps && !rc; i++)
        rc = agenda_push(&sm.agenda, (struct agenda_item){
                                         .t = sm.scn.steps[i].at_ms, .kind = SIM_STEP, .id = i});
    int64_t now = 0;
    if (!opt->json && !opt->quiet)
        fprintf(
            out,
            "Simulation of %s in virtual time: the engine is the real one; nodes, GPUs and "
            "workloads are simulated\n(a workload runs for its `duration`; told to stop, it exits "
            "after its `drain` time, by default its whole grace period).\n\n",
            path);
    /* events from building the platform (reservation_degraded) */
    if (!rc)
        rc = events_apply(&sm);
    while (!rc && sm.agenda.n > 0) {
        now = sm.agenda.items[0].t;
        if (opt->until_ms >= 0 && now > opt->until_ms) {
            now = opt->until_ms;
            break;
        }
        while (!rc && sm.agenda.n > 0 && sm.agenda.items[0].t == now) {
            struct agenda_item d = agenda_pop(&sm.agenda);
            rc = due_apply(&sm, &d);
            if (!rc)
                rc = events_apply(&sm);
        }
        if (!rc)
            rc = sched_schedule(sm.engine, now);
        if (!rc)
            rc = events_apply(&sm);
        if (!rc && opt->check && sched_check(sm.engine, msg, sizeof(msg))) {
            char t[32];
            fprintf(err, "%s: invariant violated at %s: %s\n", path,
                    quantity_format_duration(now, t, sizeof(t)), msg);
            sm.res.check_failures = 1;
            rc = -ALLOT_ECHECK;
        }
    }
    if (rc && rc != -ALLOT_ECHECK)
        fprintf(err, "%s: simulation stopped: %s\n", path, allot_strerror(rc));
    sm.res.end_ms = now;
    sched_account_flush(sm.engine, now);
    if (!rc && !opt->quiet) {
        if (opt->json)
            summary_json(&sm, out);
        else
            summary_text(&sm, out);
    }
    if (!rc && opt->expect) {
        expectations_check(&sm);
        if (sm.res.expect_failures)
            rc = -ALLOT_ECHECK;
    }
    if (res)
        *res = sm.res;
    else
        free(sm.res.records);
    agenda_cleanup(&sm.agenda);
    free(sm.wl);
    sched_free(sm.engine);
    scenario_cleanup(&sm.scn);
    return rc;
}

static void sim_usage(FILE *f)
{
    fprintf(f, "usage: allot sim [--json] [--check] [--expect] [--quiet] [--until DURATION] "
               "FILE.yaml\n\n"
               "Runs a scenario (platform + timeline) through the allocation engine in virtual\n"
               "time. Workloads are simulated: each finishes `duration` after it starts.\n\n"
               "  --json       one JSON object per line (schema: docs/simulator.md)\n"
               "  --check      verify the engine's invariants after every step\n"
               "  --expect     verify the scenario's expect: and final: sections\n"
               "  --quiet      print only problems\n"
               "  --until D    stop the clock at D (e.g. 12h)\n\n");
    evaluation_usage(f, "   or: ");
}

int sim_main(int argc, char **argv)
{
    if (evaluation_wanted(argc, argv)) /* --trace or --compare: replays with figures */
        return evaluation_main(argc, argv);
    struct sim_options opt = {.until_ms = -1};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            opt.json = true;
        } else if (strcmp(a, "--check") == 0) {
            opt.check = true;
        } else if (strcmp(a, "--expect") == 0) {
            opt.expect = true;
        } else if (strcmp(a, "--quiet") == 0) {
            opt.quiet = true;
        } else if (strcmp(a, "--until") == 0) {
            if (i + 1 >= argc || quantity_parse_duration(argv[i + 1], &opt.until_ms)) {
                fprintf(stderr, "allot sim: --until: expected a duration such as 12h\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sim_usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "allot sim: unknown option '%s'\n", a);
            sim_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "allot sim: only one scenario file, got '%s' and '%s'\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        sim_usage(stderr);
        return 2;
    }
    int rc = sim_run(path, &opt, stdout, stderr, NULL);
    if (rc == -ALLOT_ECHECK)
        return 1;
    return rc ? 2 : 0;
}
