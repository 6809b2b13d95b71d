/* Per-workspace pending queues. Most insertions land at the tail (same priority, newest),
 * so insertion walks from the tail. */
#include "sched/queue.h"

#include <string.h>

#include "common/quantity.h"
#include "sched/engine.h"

/* Smallest GPU units of each size class: none, less than a GPU, then from 1, 2, 4, 8, 16
 * and 32 GPUs up. A whole-GPU request of 2^k GPUs is the floor of its class, so the lower
 * bound queue_min_need gives is exact for queues of such requests (the exhaustion test of
 * admission.c compares it with the smallest request that failed). */
static const int64_t bucket_floor[8] = {0,
                                        1,
                                        QUANTITY_GPU_UNITS,
                                        2 * QUANTITY_GPU_UNITS,
                                        4 * QUANTITY_GPU_UNITS,
                                        8 * QUANTITY_GPU_UNITS,
                                        16 * QUANTITY_GPU_UNITS,
                                        32 * QUANTITY_GPU_UNITS};

int queue_size_bucket(int64_t units)
{
    int b = 7;
    while (b > 0 && units < bucket_floor[b])
        b--;
    return b;
}

int64_t queue_min_need(const struct sched_workspace *ws)
{
    for (int b = 0; b < 8; b++)
        if (ws->pending_by_size[b])
            return bucket_floor[b];
    return 0;
}

bool queue_before(const struct sched_workload *a, const struct sched_workload *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

/* The tenant's FIFO of pending workloads: appended when queued, so the head is the one
 * that has waited longest (the starvation rule looks there first). */
static void fifo_append(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_tenant *t = &s->tenants[w->tenant];
    w->fnext = SCHED_NONE;
    w->fprev = t->fifo_tail;
    if (t->fifo_tail == SCHED_NONE)
        t->fifo_head = id;
    else
        s->workloads[t->fifo_tail].fnext = id;
    t->fifo_tail = id;
}

static void fifo_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_tenant *t = &s->tenants[w->tenant];
    if (w->fprev == SCHED_NONE)
        t->fifo_head = w->fnext;
    else
        s->workloads[w->fprev].fnext = w->fnext;
    if (w->fnext == SCHED_NONE)
        t->fifo_tail = w->fprev;
    else
        s->workloads[w->fnext].fprev = w->fprev;
    w->fprev = w->fnext = SCHED_NONE;
}

/* Index in ws->runs of the first run of priority <= prio (n_runs if none). */
static int run_find(const struct sched_workspace *ws, int32_t prio)
{
    int r = 0;
    while (r < ws->n_runs && ws->runs[r].priority > prio)
        r++;
    return r;
}

/* Record id, just inserted, in the runs of its workspace. */
static void run_inserted(struct sched *s, struct sched_workspace *ws, uint32_t id, int r)
{
    const struct sched_workload *w = &s->workloads[id];
    if (ws->n_runs == SCHED_QUEUE_RUNS_OFF)
        return;
    if (r < ws->n_runs && ws->runs[r].priority == w->priority) {
        if (w->qnext == SCHED_NONE || s->workloads[w->qnext].priority != w->priority)
            ws->runs[r].tail = id;
        return;
    }
    if (ws->n_runs == SCHED_QUEUE_RUNS) {
        ws->n_runs = SCHED_QUEUE_RUNS_OFF;
        return;
    }
    memmove(&ws->runs[r + 1], &ws->runs[r], (size_t)(ws->n_runs - r) * sizeof(ws->runs[0]));
    ws->runs[r] = (struct sched_queue_run){w->priority, id};
    ws->n_runs++;
}

/* Forget id, about to be unlinked, in the runs of its workspace. */
static void run_removed(struct sched *s, struct sched_workspace *ws, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    if (ws->n_runs == SCHED_QUEUE_RUNS_OFF) {
        if (ws->n_pending == 1)
            ws->n_runs = 0; /* empty again: index afresh */
        return;
    }
    int r = run_find(ws, w->priority); /* there: queue_remove checked it (queued) */
    if (ws->runs[r].tail != id)
        return;
    if (w->qprev != SCHED_NONE && s->workloads[w->qprev].priority == w->priority) {
        ws->runs[r].tail = w->qprev;
        return;
    }
    ws->n_runs--;
    memmove(&ws->runs[r], &ws->runs[r + 1], (size_t)(ws->n_runs - r) * sizeof(ws->runs[0]));
}

/* Count pending workload w in (sign +1) or out of (-1) its workspace's pending_by_size,
 * pending_mig and pending_model. */
static void pending_count(struct sched_workspace *ws, const struct sched_workload *w, int sign)
{
    ws->pending_by_size[queue_size_bucket(w->total.gpu)] += (uint32_t)sign;
    ws->pending_mig += (uint32_t)(sign * (w->mig >= 0));
    ws->pending_model += (uint32_t)(sign * (w->mig < 0 && w->model >= 0));
}

void queue_insert(struct sched *s, uint32_t id)
{
    fifo_append(s, id);
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t after = ws->queue_tail;
    int r = 0;
    if (ws->n_runs != SCHED_QUEUE_RUNS_OFF) {
        /* start at the last workload of its priority, or of the next higher one */
        r = run_find(ws, w->priority);
        if (r < ws->n_runs && ws->runs[r].priority == w->priority)
            after = ws->runs[r].tail;
        else
            after = r > 0 ? ws->runs[r - 1].tail : SCHED_NONE;
    }
    while (after != SCHED_NONE && queue_before(w, &s->workloads[after]))
        after = s->workloads[after].qprev;
    w->qprev = after;
    if (after == SCHED_NONE) {
        w->qnext = ws->queue_head;
        ws->queue_head = id;
    } else {
        w->qnext = s->workloads[after].qnext;
        s->workloads[after].qnext = id;
    }
    if (w->qnext == SCHED_NONE)
        ws->queue_tail = id;
    else
        s->workloads[w->qnext].qprev = id;
    ws->n_pending++;
    engine_refresh_touch(s, id);
    run_inserted(s, ws, id, r);
    pending_count(ws, w, +1);
}

/* Is workload w (id) linked into its workspace's queue (ws) and its priority index? */
static bool queued(const struct sched *s, const struct sched_workspace *ws, uint32_t id,
                   const struct sched_workload *w)
{
    if (ws->n_pending == 0 || w->state != SCHED_PENDING)
        return false;
    if (w->qprev == SCHED_NONE ? ws->queue_head != id : s->workloads[w->qprev].qnext != id)
        return false;
    if (ws->n_runs == SCHED_QUEUE_RUNS_OFF)
        return true;
    int r = run_find(ws, w->priority);
    return r < ws->n_runs && ws->runs[r].priority == w->priority;
}

int queue_check(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    if (queued(s, ws, id, w))
        return 0;
    return engine_broken(s, "workload %s is taken off the queue of %s but is not queued in it",
                         w->name, ws->name);
}

int queue_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    /* unlinking a workload that is not queued would corrupt the queue */
    int rc = queue_check(s, id);
    if (rc)
        return rc;
    engine_refresh_leave(s, id); /* while it is still in the order */
    fifo_remove(s, id);
    run_removed(s, ws, id);
    if (w->qprev == SCHED_NONE)
        ws->queue_head = w->qnext;
    else
        s->workloads[w->qprev].qnext = w->qnext;
    if (w->qnext == SCHED_NONE)
        ws->queue_tail = w->qprev;
    else
        s->workloads[w->qnext].qprev = w->qprev;
    w->qprev = w->qnext = SCHED_NONE;
    ws->n_pending--;
    pending_count(ws, w, -1);
    return 0;
}

int queue_recount(struct sched *s, uint32_t wsid)
{
    struct sched_workspace *ws = &s->workspaces[wsid];
    uint32_t n = 0;
    memset(ws->pending_by_size, 0, sizeof(ws->pending_by_size));
    ws->pending_mig = ws->pending_model = 0;
    for (uint32_t id = ws->queue_head; id != SCHED_NONE; id = s->workloads[id].qnext) {
        const struct sched_workload *w = &s->workloads[id];
        if (++n > s->n_workloads)
            return engine_broken(s, "workspace %s queue has a cycle", ws->name);
        pending_count(ws, w, +1);
    }
    return 0;
}
