/* The GPU-hour ledger of the controller (usage.h; docs/operations.md, "GPU-hour accounting"):
 * an attempt's GPU time split at the hours by GPU model, MIG profile and class, its rows
 * queued for the commit that ends it, summed for GET /v1/usage with the attempts still
 * running, and totals per workspace for the metrics. */
#define _DEFAULT_SOURCE /* gmtime_r under -D_POSIX_C_SOURCE */
#include "allotd/usage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allotd/auth.h"
#include "allotd/server.h"
#include "common/array.h"
#include "common/error.h"
#include "common/hmap.h"
#include "common/quantity.h"
#include "store/store.h"

#define USAGE_HOUR_MS 3600000LL
#define USAGE_DAY_MS (24 * USAGE_HOUR_MS)
#define USAGE_PARTS 4 /* distinct (model, profile) pairs an attempt keeps */
#define USAGE_DEFAULT_SPAN_MS (7 * USAGE_DAY_MS) /* GET /v1/usage without from */
#define USAGE_MAX_SPAN_MS (400 * USAGE_DAY_MS)   /* the longest period one request sums */
#define USAGE_MAX_KEYS 10000                     /* rows one answer holds */

enum usage_class { USAGE_GUARANTEED, USAGE_BORROWED, USAGE_LOST, USAGE_CLASSES };
static const char *const usage_class_names[USAGE_CLASSES] = {"guaranteed", "borrowed", "lost"};

/* GPU units of one GPU model and MIG profile (-1: whole GPUs) an attempt holds. */
struct usage_part {
    int model; /* enum gpu_model, or -1: several, folded together */
    int mig;
    int64_t units;
};

/* One attempt: what it holds, when, and how it is split. */
struct usage_run {
    struct usage_part parts[USAGE_PARTS];
    int n;
    int64_t start, end, total, borrowed;
    bool lost;
};

/* GPU unit-milliseconds of each class. */
struct usage_sum {
    int64_t ms[USAGE_CLASSES];
};

struct usage {
    struct controller *ctl;
    json_t *attempts; /* rows ended since the last commit: objects for store_usage_attempt */
    json_t *hours;    /* and their rollups: [hour_ms, tenant, workspace, submitter, model, mig,
                       * class, unit_ms] */
    json_t *days;     /* and by day: [day_ms, ...] */
    struct usage_sum *totals; /* per engine workspace id: committed and queued rows */
    struct usage_sum *queued; /* and the queued part alone (usage_write adds it to the store's) */
    uint32_t cap_totals;
};

int usage_new(struct controller *ctl, struct usage **out)
{
    struct usage *u = calloc(1, sizeof(*u));
    if (u) {
        u->ctl = ctl;
        u->attempts = json_array();
        u->hours = json_array();
        u->days = json_array();
    }
    if (!u || !u->attempts || !u->hours || !u->days) {
        usage_free(u);
        *out = NULL;
        return -ALLOT_ENOMEM;
    }
    *out = u;
    return 0;
}

void usage_free(struct usage *u)
{
    if (!u)
        return;
    json_decref(u->attempts);
    json_decref(u->hours);
    json_decref(u->days);
    free(u->totals);
    free(u->queued);
    free(u);
}

/* ---- an attempt ---- */

static const char *model_name(int model)
{
    return model >= 0 && model < GPU_MODEL_COUNT ? mig_model((enum gpu_model)model)->name : "mixed";
}

static const char *profile_name(int mig)
{
    return mig >= 0 ? mig_name(mig) : "";
}

static void run_add(struct usage_run *r, int model, int mig, int64_t units)
{
    for (int i = 0; i < r->n; i++)
        if (r->parts[i].model == model && r->parts[i].mig == mig) {
            r->parts[i].units += units;
            return;
        }
    if (r->n < USAGE_PARTS) {
        r->parts[r->n++] = (struct usage_part){model, mig, units};
        return;
    }
    /* more kinds than kept: the last part becomes "mixed" */
    struct usage_part *last = &r->parts[USAGE_PARTS - 1];
    last->model = -1;
    if (last->mig != mig)
        last->mig = -1;
    last->units += units;
}

/* The attempt of workload id that started at its start_ms, as its placement holds it, until
 * end. borrowed: its units above the reservation. */
static void run_of(const struct sched *s, uint32_t id, int64_t end, int64_t borrowed, bool lost,
                   struct usage_run *r)
{
    const struct sched_workload *w = &s->workloads[id];
    memset(r, 0, sizeof(*r));
    for (uint32_t k = 0; w->placement && k < w->replicas; k++) {
        const struct sched_replica *p = &w->placement[k];
        const struct sched_node *n = &s->nodes[p->node];
        if (p->mig_gpu >= 0) {
            run_add(r, (int)n->gpus[p->mig_gpu].model, w->mig, w->units_per_replica);
            continue;
        }
        int bits = __builtin_popcount(p->gpu_mask);
        for (uint32_t g = 0; bits && g < n->n_gpus && g < 32; g++)
            if (p->gpu_mask & (1u << g))
                run_add(r, (int)n->gpus[g].model, -1, w->units_per_replica / bits);
    }
    for (int i = 0; i < r->n; i++)
        r->total += r->parts[i].units;
    r->start = w->start_ms;
    r->end = end > w->start_ms ? end : w->start_ms;
    r->borrowed = borrowed < 0 ? 0 : borrowed > r->total ? r->total : borrowed;
    r->lost = lost;
}

/* One slice of an attempt: unit_ms of a class of part p in the bucket starting at at. */
typedef int (*usage_slice_fn)(void *ctx, int64_t at, const struct usage_part *p,
                              enum usage_class cls, int64_t unit_ms);

/* Split r's time within [from, to) into buckets of step ms (aligned to the epoch) and each
 * part into its guaranteed and borrowed shares (and lost, when preemption cut it short).
 * RET 0 or fn's first nonzero result. */
static int run_split(const struct usage_run *r, int64_t from, int64_t to, int64_t step,
                     usage_slice_fn fn, void *ctx)
{
    int64_t a = r->start > from ? r->start : from, b = r->end < to ? r->end : to;
    if (a >= b || r->total <= 0)
        return 0;
    for (int64_t at = a - a % step; at < b; at += step) {
        int64_t lo = a > at ? a : at, hi = b < at + step ? b : at + step;
        for (int i = 0; hi > lo && i < r->n; i++) {
            const struct usage_part *p = &r->parts[i];
            int64_t all = p->units * (hi - lo);
            int64_t borrowed = (int64_t)((__int128)all * r->borrowed / r->total);
            int rc = 0;
            if (all - borrowed > 0)
                rc = fn(ctx, at, p, USAGE_GUARANTEED, all - borrowed);
            if (!rc && borrowed > 0)
                rc = fn(ctx, at, p, USAGE_BORROWED, borrowed);
            if (!rc && r->lost)
                rc = fn(ctx, at, p, USAGE_LOST, all);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the totals of the metrics ---- */

/* The totals of workspace ws (grown on demand; its queued part is u->queued[ws]). NULL when
 * out of memory. */
static struct usage_sum *total_of(struct usage *u, uint32_t ws)
{
    uint32_t cap = u->cap_totals;
    if (ARRAY_RESERVE_ZEROED(u->totals, cap, ws + 1))
        return NULL;
    cap = u->cap_totals; /* the queued parts grow alike */
    if (ARRAY_RESERVE_ZEROED(u->queued, cap, ws + 1))
        return NULL;
    u->cap_totals = cap; /* both arrays have it now */
    return &u->totals[ws];
}

static int total_slice(void *ctx, int64_t at, const struct usage_part *p, enum usage_class cls,
                       int64_t unit_ms)
{
    (void)at;
    (void)p;
    ((struct usage_sum *)ctx)->ms[cls] += unit_ms;
    return 0;
}

static int total_row(void *ctx, const char *tenant, const char *workspace, const char *cls,
                     int64_t unit_ms)
{
    (void)tenant;
    struct usage *u = ctx;
    uint32_t ws;
    if (sched_workspace_find(u->ctl->engine, workspace, &ws))
        return 0; /* no such workspace now: nothing to count it under */
    struct usage_sum *sum = total_of(u, ws);
    if (!sum)
        return -ALLOT_ENOMEM;
    for (int c = 0; c < USAGE_CLASSES; c++)
        if (strcmp(cls, usage_class_names[c]) == 0)
            sum->ms[c] += unit_ms;
    return 0;
}

int usage_reload(struct usage *u)
{
    usage_discard(u);
    if (u->totals)
        memset(u->totals, 0, u->cap_totals * sizeof(*u->totals));
    return store_usage_totals(u->ctl->store, total_row, u);
}

/* ---- opening, closing, writing ---- */

void usage_open(struct usage *u, uint32_t id, int64_t borrowed, int64_t reclaim_ms)
{
    struct controller_workload *x = controller_extra(u->ctl, id);
    if (x) {
        x->usage_open = true;
        x->usage_borrowed = borrowed;
        x->usage_reclaim_ms = reclaim_ms;
    }
}

/* Queue the rollup row of one slice of an attempt (its context: where and under which names). */
struct close_ctx {
    json_t *rows; /* u->hours or u->days */
    const char *tenant, *workspace, *submitter;
};

static int rollup_slice(void *ctx, int64_t at, const struct usage_part *p, enum usage_class cls,
                        int64_t unit_ms)
{
    const struct close_ctx *k = ctx;
    json_t *row = json_pack("[I, s, s, s, s, s, s, I]", (json_int_t)at, k->tenant, k->workspace,
                            k->submitter, model_name(p->model), profile_name(p->mig),
                            usage_class_names[cls], (json_int_t)unit_ms);
    return row && !json_array_append_new(k->rows, row) ? 0 : -ALLOT_ENOMEM;
}

/* What ended the attempt, as the ledger writes it. */
static void ending_of(const struct sched_event *e, char *buf, size_t len)
{
    if (e->kind == SCHED_EV_STOPPED)
        snprintf(buf, len, "preempted:%s", reason_name(e->reason));
    else
        snprintf(buf, len, "%s", sched_event_name(e->kind));
}

int usage_close(struct usage *u, uint32_t id, const struct sched_event *e)
{
    struct controller *ctl = u->ctl;
    struct controller_workload *x = id < ctl->cap_extra ? &ctl->extra[id] : NULL;
    if (!x || !x->usage_open)
        return 0;
    x->usage_open = false;
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    struct usage_run r;
    run_of(s, id, e->t, x->usage_borrowed, e->kind == SCHED_EV_STOPPED, &r);
    if (r.total <= 0 || ctl->replaying) /* CPU only; or the store has its rows already */
        return 0;
    struct usage_sum *sum = total_of(u, w->workspace);
    if (!sum)
        return -ALLOT_ENOMEM;
    struct usage_sum add = {{0}};
    run_split(&r, r.start, r.end, INT64_MAX / 2, total_slice, &add);
    for (int k = 0; k < USAGE_CLASSES; k++) {
        sum->ms[k] += add.ms[k];
        u->queued[w->workspace].ms[k] += add.ms[k];
    }
    char ending[64];
    ending_of(e, ending, sizeof(ending));
    struct close_ctx k = {u->hours, s->tenants[w->tenant].name, s->workspaces[w->workspace].name,
                          x->owner && x->owner[0] ? x->owner : "unknown"};
    json_t *a = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:b, s:I}",
                          "workload", w->name, "attempt", (json_int_t)x->runs, "tenant", k.tenant,
                          "workspace", k.workspace, "submitter", k.submitter, "start_ms",
                          (json_int_t)r.start, "end_ms", (json_int_t)r.end, "gpu_units",
                          (json_int_t)r.total, "borrowed_units", (json_int_t)r.borrowed, "ending",
                          ending, "lost", r.lost, "reclaim_ms", (json_int_t)x->usage_reclaim_ms);
    if (!a || json_array_append_new(u->attempts, a))
        return -ALLOT_ENOMEM;
    int rc = run_split(&r, r.start, r.end, USAGE_HOUR_MS, rollup_slice, &k);
    k.rows = u->days; /* and the same by day */
    return rc ? rc : run_split(&r, r.start, r.end, USAGE_DAY_MS, rollup_slice, &k);
}

/* A queued row (usage_close) as the store's struct; strings point into v. */
static struct store_usage_attempt attempt_of(const json_t *v)
{
    return (struct store_usage_attempt){
        .workload = json_string_value(json_object_get(v, "workload")),
        .tenant = json_string_value(json_object_get(v, "tenant")),
        .workspace = json_string_value(json_object_get(v, "workspace")),
        .submitter = json_string_value(json_object_get(v, "submitter")),
        .attempt = json_integer_value(json_object_get(v, "attempt")),
        .start_ms = json_integer_value(json_object_get(v, "start_ms")),
        .end_ms = json_integer_value(json_object_get(v, "end_ms")),
        .gpu_units = json_integer_value(json_object_get(v, "gpu_units")),
        .borrowed_units = json_integer_value(json_object_get(v, "borrowed_units")),
        .ending = json_string_value(json_object_get(v, "ending")),
        .lost = json_is_true(json_object_get(v, "lost")),
        .reclaim_ms = json_integer_value(json_object_get(v, "reclaim_ms")),
    };
}

static struct store_usage_hour hour_of(const json_t *v)
{
    return (struct store_usage_hour){
        .hour_ms = json_integer_value(json_array_get(v, 0)),
        .tenant = json_string_value(json_array_get(v, 1)),
        .workspace = json_string_value(json_array_get(v, 2)),
        .submitter = json_string_value(json_array_get(v, 3)),
        .model = json_string_value(json_array_get(v, 4)),
        .mig = json_string_value(json_array_get(v, 5)),
        .cls = json_string_value(json_array_get(v, 6)),
        .unit_ms = json_integer_value(json_array_get(v, 7)),
    };
}

int usage_write(struct usage *u)
{
    struct store *st = u->ctl->store;
    size_t i;
    json_t *v;
    json_array_foreach(u->attempts, i, v)
    {
        struct store_usage_attempt a = attempt_of(v);
        int rc = store_usage_attempt_add(st, &a);
        if (rc)
            return rc;
    }
    json_array_foreach(u->hours, i, v)
    {
        struct store_usage_hour h = hour_of(v);
        int rc = store_usage_hour_add(st, &h);
        if (rc)
            return rc;
    }
    json_array_foreach(u->days, i, v)
    {
        struct store_usage_hour d = hour_of(v);
        int rc = store_usage_day_add(st, &d);
        if (rc)
            return rc;
    }
    const struct sched *s = u->ctl->engine;
    for (uint32_t ws = 0; ws < u->cap_totals && ws < s->n_workspaces; ws++)
        for (int k = 0; k < USAGE_CLASSES; k++) {
            int rc = u->queued[ws].ms[k]
                         ? store_usage_total_add(st, s->tenants[s->workspaces[ws].tenant].name,
                                                 s->workspaces[ws].name, usage_class_names[k],
                                                 u->queued[ws].ms[k])
                         : 0;
            if (rc)
                return rc;
        }
    return 0;
}

void usage_committed(struct usage *u)
{
    json_array_clear(u->attempts);
    json_array_clear(u->hours);
    json_array_clear(u->days);
    if (u->queued)
        memset(u->queued, 0, u->cap_totals * sizeof(*u->queued));
}

void usage_discard(struct usage *u)
{
    usage_committed(u); /* the totals are read again from the store (usage_reload) */
}

int usage_trim(struct usage *u, int64_t before_ms, int64_t *deleted)
{
    return store_usage_trim(u->ctl->store, before_ms - before_ms % USAGE_HOUR_MS, deleted);
}

/* ---- the metrics ---- */

void usage_metrics(struct usage *u, struct evbuffer *b, const struct principal *who)
{
    struct controller *ctl = u->ctl;
    const struct sched *s = ctl->engine;
    uint32_t n = s->n_workspaces;
    struct usage_sum *live = calloc(n ? n : 1, sizeof(*live));
    if (!live)
        return;
    int64_t now = controller_now(ctl);
    for (uint32_t id = 0; id < s->n_workloads && id < ctl->cap_extra; id++) {
        const struct controller_workload *x = &ctl->extra[id];
        if (!x->usage_open || !s->workloads[id].name)
            continue;
        struct usage_run r;
        run_of(s, id, now, x->usage_borrowed, false, &r);
        run_split(&r, r.start, r.end, INT64_MAX / 2, total_slice,
                  &live[s->workloads[id].workspace]);
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        const char *tenant = s->tenants[ws->tenant].name;
        if (!auth_sees_tenant(who, tenant))
            continue;
        for (int c = 0; c < USAGE_CLASSES; c++) {
            int64_t ms = live[i].ms[c] + (i < u->cap_totals ? u->totals[i].ms[c] : 0);
            evbuffer_add_printf(
                b, "allot_gpu_seconds_total{tenant=\"%s\",workspace=\"%s\",class=\"%s\"} %.3f\n",
                tenant, ws->name, usage_class_names[c], (double)ms / QUANTITY_GPU_UNITS / 1000.0);
        }
    }
    free(live);
}

/* ---- GET /v1/usage ---- */

enum usage_by { BY_TENANT, BY_WORKSPACE, BY_USER, BY_MODEL, BY_MIG, BY_DAY, BY_WORKLOAD, BY_N };
static const char *const usage_by_names[BY_N] = {"tenant", "workspace", "user",    "model",
                                                 "mig",    "day",       "workload"};

/* The sums of one request, by key. */
struct usage_agg {
    enum usage_by by;
    struct hmap index;
    struct usage_row {
        char *key;
        struct usage_sum sum;
    } * rows;
    uint32_t n, cap;
    struct usage_sum total;
    int64_t read; /* stored rows read */
    int err;
};

/* Add unit_ms of cls under key. RET 0, -ALLOT_ENOMEM, -ALLOT_ERANGE (too many keys). */
static int agg_add(struct usage_agg *g, const char *key, enum usage_class cls, int64_t unit_ms)
{
    uint32_t i;
    if (hmap_get(&g->index, key, &i)) {
        if (g->n == USAGE_MAX_KEYS)
            return g->err = -ALLOT_ERANGE;
        if (ARRAY_GROW(g->rows, g->n, g->cap))
            return g->err = -ALLOT_ENOMEM;
        char *k = strdup(key);
        if (!k || hmap_put(&g->index, k, g->n)) {
            free(k);
            return g->err = -ALLOT_ENOMEM;
        }
        i = g->n++;
        g->rows[i] = (struct usage_row){k, {{0}}};
    }
    g->rows[i].sum.ms[cls] += unit_ms;
    g->total.ms[cls] += unit_ms;
    return 0;
}

static void agg_free(struct usage_agg *g)
{
    for (uint32_t i = 0; i < g->n; i++)
        free(g->rows[i].key);
    free(g->rows);
    hmap_cleanup(&g->index);
}

/* The key of a row for g->by (day: the UTC date of at). */
static const char *key_of(const struct usage_agg *g, const char *tenant, const char *workspace,
                          const char *submitter, const char *model, const char *mig,
                          const char *workload, int64_t at, char *buf, size_t len)
{
    switch (g->by) {
    case BY_TENANT:
        return tenant;
    case BY_WORKSPACE:
        return workspace;
    case BY_USER:
        return submitter;
    case BY_MODEL:
        return model;
    case BY_MIG:
        return mig && mig[0] ? mig : "whole";
    case BY_WORKLOAD:
        return workload;
    default: {
        time_t t = (time_t)(at / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%d", &tm);
        return buf;
    }
    }
}

static enum usage_class class_of(const char *name)
{
    for (int c = 0; c < USAGE_CLASSES; c++)
        if (strcmp(name, usage_class_names[c]) == 0)
            return (enum usage_class)c;
    return USAGE_CLASSES;
}

/* A queued rollup row (not in the store yet) into g. */
static int hour_row(struct usage_agg *g, const struct store_usage_hour *h)
{
    enum usage_class cls = class_of(h->cls);
    char buf[32];
    if (cls == USAGE_CLASSES)
        return 0;
    return agg_add(g,
                   key_of(g, h->tenant, h->workspace, h->submitter, h->model, h->mig, NULL,
                          h->hour_ms, buf, sizeof(buf)),
                   cls, h->unit_ms);
}

/* The request being answered: its period and scope. */
struct usage_query {
    int64_t from, to;
    const char *tenant, *workspace; /* NULL: all the caller may see */
    struct usage_agg agg;
};

/* A stored or queued attempt, clipped to the period, under its workload's key. */
static int attempt_add(struct usage_query *q, const struct store_usage_attempt *a)
{
    int64_t lo = a->start_ms > q->from ? a->start_ms : q->from;
    int64_t hi = a->end_ms < q->to ? a->end_ms : q->to;
    if (hi <= lo || a->gpu_units <= 0)
        return 0;
    int64_t all = a->gpu_units * (hi - lo);
    int64_t borrowed = (int64_t)((__int128)all * a->borrowed_units / a->gpu_units);
    int rc = agg_add(&q->agg, a->workload, USAGE_GUARANTEED, all - borrowed);
    rc = rc ? rc : agg_add(&q->agg, a->workload, USAGE_BORROWED, borrowed);
    return rc ? rc : agg_add(&q->agg, a->workload, USAGE_LOST, a->lost ? all : 0);
}

/* A stored sum (store_usage_sum) into the agg (ctx). */
static int sum_row(void *ctx, const char *key, int64_t day_ms, const char *cls, int64_t unit_ms)
{
    struct usage_agg *g = ctx;
    enum usage_class c = class_of(cls);
    char buf[32];
    g->read++;
    if (c == USAGE_CLASSES)
        return 0;
    if (!key) /* by day */
        key = key_of(g, NULL, NULL, NULL, NULL, NULL, NULL, day_ms, buf, sizeof(buf));
    else if (g->by == BY_MIG)
        key = key_of(g, NULL, NULL, NULL, NULL, key, NULL, 0, buf, sizeof(buf));
    return agg_add(g, key, c, unit_ms);
}

static int attempt_row(void *ctx, const struct store_usage_attempt *a)
{
    struct usage_query *q = ctx;
    q->agg.read++;
    return attempt_add(q, a);
}

/* Whether a row of tenant and workspace is in q's scope. */
static bool in_scope(const struct usage_query *q, const char *tenant, const char *workspace)
{
    return (!q->tenant || strcmp(q->tenant, tenant) == 0) &&
           (!q->workspace || strcmp(q->workspace, workspace) == 0);
}

/* The rows queued for the next commit (not in the store yet). RET 0 or an error. */
static int queued_add(struct usage *u, struct usage_query *q)
{
    size_t i;
    json_t *v;
    if (q->agg.by == BY_WORKLOAD) {
        json_array_foreach(u->attempts, i, v)
        {
            struct store_usage_attempt a = attempt_of(v);
            int rc = in_scope(q, a.tenant, a.workspace) ? attempt_add(q, &a) : 0;
            if (rc)
                return rc;
        }
        return 0;
    }
    json_array_foreach(u->hours, i, v)
    {
        struct store_usage_hour h = hour_of(v);
        int rc = h.hour_ms >= q->from && h.hour_ms < q->to && in_scope(q, h.tenant, h.workspace)
                     ? hour_row(&q->agg, &h)
                     : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* A slice of a running attempt (ctx: live_ctx). */
struct live_ctx {
    struct usage_query *q;
    const char *tenant, *workspace, *submitter, *workload;
};

static int live_slice(void *ctx, int64_t at, const struct usage_part *p, enum usage_class cls,
                      int64_t unit_ms)
{
    const struct live_ctx *k = ctx;
    char buf[32];
    return agg_add(&k->q->agg,
                   key_of(&k->q->agg, k->tenant, k->workspace, k->submitter, model_name(p->model),
                          profile_name(p->mig), k->workload, at, buf, sizeof(buf)),
                   cls, unit_ms);
}

/* The attempts running now, up to now. RET 0 or an error. */
static int live_add(struct usage *u, struct usage_query *q, int64_t now)
{
    struct controller *ctl = u->ctl;
    const struct sched *s = ctl->engine;
    int64_t step = q->agg.by == BY_DAY ? USAGE_DAY_MS : INT64_MAX / 2;
    for (uint32_t id = 0; id < s->n_workloads && id < ctl->cap_extra; id++) {
        const struct controller_workload *x = &ctl->extra[id];
        const struct sched_workload *w = &s->workloads[id];
        if (!x->usage_open || !w->name)
            continue;
        struct live_ctx k = {q, s->tenants[w->tenant].name, s->workspaces[w->workspace].name,
                             x->owner && x->owner[0] ? x->owner : "unknown", w->name};
        if (!in_scope(q, k.tenant, k.workspace))
            continue;
        struct usage_run r;
        run_of(s, id, now, x->usage_borrowed, false, &r);
        int rc = run_split(&r, q->from, q->to, step, live_slice, &k);
        if (rc)
            return rc;
    }
    return 0;
}

/* A time parameter: Unix seconds. RET false (answered 400) when malformed. */
static bool time_param(struct call *c, const char *key, int64_t dflt, int64_t *out)
{
    const char *v = call_query(c, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < 0 || n > 253402300799LL) { /* up to the year 9999 */
        call_error(c, -ALLOT_EINVAL, 400, key, "expected a time in Unix seconds, such as %lld",
                   (long long)(dflt / 1000));
        return false;
    }
    *out = n * 1000;
    return true;
}

/* Compare rows by total, largest first, then by key. */
static int row_cmp(const void *a, const void *b)
{
    const struct usage_row *x = a, *y = b;
    int64_t tx = x->sum.ms[0] + x->sum.ms[1], ty = y->sum.ms[0] + y->sum.ms[1];
    if (tx != ty)
        return tx > ty ? -1 : 1;
    return strcmp(x->key, y->key);
}

static json_t *seconds(int64_t unit_ms)
{
    /* to the GPU-millisecond: a ledger's figures, not float noise */
    return json_real((double)llround((double)unit_ms / QUANTITY_GPU_UNITS) / 1000.0);
}

static json_t *sum_json(const struct usage_sum *s)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "gpu_seconds", seconds(s->ms[0] + s->ms[1]),
                     "guaranteed", seconds(s->ms[0]), "borrowed", seconds(s->ms[1]), "lost",
                     seconds(s->ms[2]));
}

/* The answer of q, rows sorted (largest first). NULL when out of memory. */
static json_t *usage_json(struct usage_query *q)
{
    struct usage_agg *g = &q->agg;
    if (g->n) /* qsort of no rows may be given no array */
        qsort(g->rows, g->n, sizeof(*g->rows), row_cmp);
    json_t *items = json_array();
    for (uint32_t i = 0; items && i < g->n; i++) {
        json_t *o = sum_json(&g->rows[i].sum);
        if (!o || json_object_set_new(o, usage_by_names[g->by], json_string(g->rows[i].key)) ||
            json_array_append_new(items, o)) {
            json_decref(o);
            json_decref(items);
            return NULL;
        }
    }
    if (!items)
        return NULL;
    return json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "from", (json_int_t)(q->from / 1000), "to",
                     (json_int_t)(q->to / 1000), "by", usage_by_names[g->by], "unit", "GPU-seconds",
                     "items", items, "total", sum_json(&g->total));
}

/* The scope of the request: the tenant and workspace parameters within what the caller may
 * see (a workspace-confined caller gets its workspace). RET false when answered (404). */
static bool usage_scope(struct controller *ctl, struct call *c, struct usage_query *q)
{
    const struct principal *p = &c->who;
    q->tenant = call_query(c, "tenant");
    q->workspace = call_query(c, "workspace");
    if (q->tenant && (!*q->tenant || strlen(q->tenant) > STORE_NAME_MAX)) {
        call_error(c, -ALLOT_EINVAL, 400, "tenant", "expected a tenant's name");
        return false;
    }
    if (q->workspace && (!strchr(q->workspace, '/') || strlen(q->workspace) > 255)) {
        call_error(c, -ALLOT_EINVAL, 400, "workspace", "expected tenant/workspace");
        return false;
    }
    if (p->tenant[0]) { /* confined to its tenant (and maybe a workspace): no other is seen */
        if ((q->tenant && strcmp(q->tenant, p->tenant) != 0) ||
            (q->workspace && !auth_allows(p, ROLE_VIEWER, p->tenant, q->workspace))) {
            call_error(c, -ALLOT_ENOENT, 404, NULL, "no such tenant or workspace");
            return false;
        }
        q->tenant = p->tenant;
        if (p->workspace[0])
            q->workspace = p->workspace;
    }
    if (q->workspace) {
        uint32_t ws;
        size_t tl = strcspn(q->workspace, "/");
        if (sched_workspace_find(ctl->engine, q->workspace, &ws) ||
            (q->tenant && (strlen(q->tenant) != tl || strncmp(q->tenant, q->workspace, tl)))) {
            call_error(c, -ALLOT_ENOENT, 404, NULL, "no such workspace");
            return false;
        }
    } else if (q->tenant) {
        uint32_t t;
        if (sched_tenant_find(ctl->engine, q->tenant, &t)) {
            call_error(c, -ALLOT_ENOENT, 404, NULL, "no such tenant");
            return false;
        }
    }
    return true;
}

/* The period (from and to, widened to whole units of `unit` ms; default the 7 days up to
 * to_default) and the scope of request c into *q. RET false when c was answered (400, 404). */
static bool usage_period(struct controller *ctl, struct call *c, int64_t to_default, int64_t unit,
                         struct usage_query *q)
{
    if (!time_param(c, "to", to_default, &q->to) ||
        !time_param(c, "from", q->to - USAGE_DEFAULT_SPAN_MS, &q->from))
        return false;
    q->from -= q->from % unit;
    if (q->to % unit)
        q->to += unit - q->to % unit;
    if (q->from >= q->to || q->to - q->from > USAGE_MAX_SPAN_MS) {
        call_error(c, -ALLOT_EINVAL, 400, "from",
                   "expected from before to, at most 400 days apart");
        return false;
    }
    return usage_scope(ctl, c, q);
}

/* Answer c: body (taken) when rc is 0, else the error: -ALLOT_ERANGE as 400 naming field
 * with `range` (printf'd with its cap), memory as 503, the store's failure as 503. */
static void usage_answer(struct controller *ctl, struct call *c, int rc, json_t *body,
                         const char *field, const char *range, int cap, const char *what)
{
    if (rc == -ALLOT_ERANGE)
        call_error(c, rc, 400, field, range, cap);
    else if (rc == -ALLOT_ENOMEM || (!rc && !body))
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
    else if (rc)
        call_error(c, rc, 503, NULL, "%s cannot be read (%s): try again", what,
                   store_errmsg(ctl->store));
    else
        call_reply(c, 200, body);
    if (rc)
        json_decref(body);
}

void usage_reply(struct usage *u, struct call *c)
{
    struct controller *ctl = u->ctl;
    struct usage_query q = {0};
    int64_t now = controller_now(ctl);
    const char *by = call_query(c, "by");
    q.agg.by = BY_WORKSPACE;
    if (by) {
        int k = 0;
        while (k < BY_N && strcmp(by, usage_by_names[k]) != 0)
            k++;
        if (k == BY_N) {
            call_error(c, -ALLOT_EINVAL, 400, "by",
                       "expected tenant, workspace, user, model, mig, day or workload");
            return;
        }
        q.agg.by = (enum usage_by)k;
    }
    int64_t to_default = now - now % USAGE_HOUR_MS + USAGE_HOUR_MS;
    /* the rollups are hourly: the period is made of whole hours */
    if (!usage_period(ctl, c, to_default, USAGE_HOUR_MS, &q))
        return;
    hmap_init(&q.agg.index);
    /* the store sums the rollups; the attempts come as rows. Never a sum of part of them. */
    static const enum store_usage_by store_by[] = {
        [BY_TENANT] = STORE_USAGE_BY_TENANT,  [BY_WORKSPACE] = STORE_USAGE_BY_WORKSPACE,
        [BY_USER] = STORE_USAGE_BY_SUBMITTER, [BY_MODEL] = STORE_USAGE_BY_MODEL,
        [BY_MIG] = STORE_USAGE_BY_MIG,        [BY_DAY] = STORE_USAGE_BY_DAY,
    };
    int64_t most = q.agg.by == BY_WORKLOAD ? STORE_USAGE_READ_MAX : USAGE_MAX_KEYS * USAGE_CLASSES;
    int rc = 0;
    if (q.agg.by == BY_WORKLOAD) {
        rc = store_usage_attempts_read(ctl->store, q.from, q.to, q.tenant, q.workspace, most,
                                       attempt_row, &q);
        rc = !rc && q.agg.read >= most ? -ALLOT_ERANGE : rc;
    } else {
        /* whole days from the day rollups, the hours before and after them from the hours' */
        int64_t d1 = q.from + (USAGE_DAY_MS - q.from % USAGE_DAY_MS) % USAGE_DAY_MS;
        int64_t d2 = q.to - q.to % USAGE_DAY_MS;
        if (d1 >= d2)
            d1 = d2 = q.to;
        const struct {
            bool days;
            int64_t from, to;
        } parts[] = {{false, q.from, d1}, {true, d1, d2}, {false, d2, q.to}};
        for (size_t k = 0; !rc && k < 3; k++) {
            if (parts[k].from >= parts[k].to)
                continue;
            q.agg.read = 0;
            rc = store_usage_sum(ctl->store, store_by[q.agg.by], parts[k].days, parts[k].from,
                                 parts[k].to, q.tenant, q.workspace, most, sum_row, &q.agg);
            rc = !rc && q.agg.read >= most ? -ALLOT_ERANGE : rc;
        }
    }
    rc = rc ? rc : queued_add(u, &q);
    rc = rc ? rc : live_add(u, &q, now);
    json_t *body = rc ? NULL : usage_json(&q);
    agg_free(&q.agg);
    usage_answer(ctl, c, rc, body, "by",
                 "more than %d rows: ask for a shorter period, a tenant or a workspace",
                 USAGE_MAX_KEYS, "the usage");
}

/* ---- GET /v1/usage/reclaims ---- */

#define USAGE_RECLAIMS_MAX 100000 /* reclaims one answer looks at */
#define USAGE_RECLAIMS_LISTED 20  /* and lists, the newest */

/* One reclaim measured: the attempt it let start, when, and how long it took. */
struct reclaim {
    char *workload;
    int64_t at, ms;
};

struct reclaims {
    struct usage_query *q;
    struct reclaim *r;
    size_t n, cap;
    int64_t read;
};

static int reclaim_add(struct reclaims *rs, const char *workload, int64_t at, int64_t ms)
{
    if (rs->n == USAGE_RECLAIMS_MAX)
        return -ALLOT_ERANGE;
    if (ARRAY_GROW(rs->r, rs->n, rs->cap))
        return -ALLOT_ENOMEM;
    char *name = strdup(workload);
    if (!name)
        return -ALLOT_ENOMEM;
    rs->r[rs->n++] = (struct reclaim){name, at, ms};
    return 0;
}

static int reclaim_row(void *ctx, const struct store_usage_attempt *a)
{
    struct reclaims *rs = ctx;
    rs->read++;
    return reclaim_add(rs, a->workload, a->start_ms, a->reclaim_ms);
}

static int by_newest(const void *a, const void *b)
{
    const struct reclaim *x = a, *y = b;
    return x->at != y->at ? (x->at > y->at ? -1 : 1) : strcmp(x->workload, y->workload);
}

static int by_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The queued attempts and the running ones that waited on a reclaim. RET 0 or an error. */
static int reclaims_unstored(struct usage *u, struct reclaims *rs)
{
    const struct usage_query *q = rs->q;
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(u->attempts, i, v)
    {
        struct store_usage_attempt a = attempt_of(v);
        if (!rc && a.reclaim_ms >= 0 && a.start_ms >= q->from && a.start_ms < q->to &&
            in_scope(q, a.tenant, a.workspace))
            rc = reclaim_add(rs, a.workload, a.start_ms, a.reclaim_ms);
    }
    const struct sched *s = u->ctl->engine;
    for (uint32_t id = 0; !rc && id < s->n_workloads && id < u->ctl->cap_extra; id++) {
        const struct controller_workload *x = &u->ctl->extra[id];
        const struct sched_workload *w = &s->workloads[id];
        if (x->usage_open && w->name && x->usage_reclaim_ms >= 0 && w->start_ms >= q->from &&
            w->start_ms < q->to &&
            in_scope(q, s->tenants[w->tenant].name, s->workspaces[w->workspace].name))
            rc = reclaim_add(rs, w->name, w->start_ms, x->usage_reclaim_ms);
    }
    return rc;
}

/* The answer: the count, median, p95 and max in seconds, and the newest listed. */
static json_t *reclaims_json(struct reclaims *rs)
{
    if (rs->n)
        qsort(rs->r, rs->n, sizeof(*rs->r), by_newest);
    int64_t *ms = malloc((rs->n ? rs->n : 1) * sizeof(*ms));
    json_t *items = json_array();
    if (!ms || !items) {
        free(ms);
        json_decref(items);
        return NULL;
    }
    for (size_t i = 0; i < rs->n; i++)
        ms[i] = rs->r[i].ms;
    qsort(ms, rs->n, sizeof(*ms), by_ms);
    for (size_t i = 0; i < rs->n && i < USAGE_RECLAIMS_LISTED; i++)
        json_array_append_new(items, json_pack("{s:s, s:I, s:f}", "workload", rs->r[i].workload,
                                               "at", (json_int_t)(rs->r[i].at / 1000), "seconds",
                                               (double)rs->r[i].ms / 1000.0));
    json_t *stat = rs->n ? json_real((double)ms[(rs->n - 1) / 2] / 1000.0) : json_null();
    json_t *p95 = rs->n ? json_real((double)ms[(rs->n * 95 + 99) / 100 - 1] / 1000.0) : json_null();
    json_t *max = rs->n ? json_real((double)ms[rs->n - 1] / 1000.0) : json_null();
    free(ms);
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "from",
                     (json_int_t)(rs->q->from / 1000), "to", (json_int_t)(rs->q->to / 1000),
                     "count", (json_int_t)rs->n, "median_seconds", stat, "p95_seconds", p95,
                     "max_seconds", max, "items", items);
}

void usage_reclaims_reply(struct usage *u, struct call *c)
{
    struct controller *ctl = u->ctl;
    struct usage_query q = {0};
    if (!usage_period(ctl, c, controller_now(ctl), 1, &q))
        return;
    struct reclaims rs = {.q = &q};
    int rc = store_usage_reclaims_read(ctl->store, q.from, q.to, q.tenant, q.workspace,
                                       USAGE_RECLAIMS_MAX, reclaim_row, &rs);
    rc = !rc && rs.read >= USAGE_RECLAIMS_MAX ? -ALLOT_ERANGE : rc;
    rc = rc ? rc : reclaims_unstored(u, &rs);
    json_t *body = rc ? NULL : reclaims_json(&rs);
    for (size_t i = 0; i < rs.n; i++)
        free(rs.r[i].workload);
    free(rs.r);
    usage_answer(ctl, c, rc, body, "from", "more than %d reclaims: ask for a shorter period",
                 USAGE_RECLAIMS_MAX, "the reclaims");
}
