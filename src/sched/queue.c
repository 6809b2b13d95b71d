/* Per-workspace pending queues. Most insertions land at the tail (same priority, newest),
 * so insertion walks from the tail. */
#include "sched/queue.h"

#include <assert.h>

#include "common/quantity.h"

/* Smallest GPU units of each size class: 0, up to 1/2 GPU, 1, 2, 4, 8, 16 GPUs, more. */
static const int64_t bucket_floor[8] = {0,
                                        1,
                                        QUANTITY_GPU_UNITS / 2 + 1,
                                        QUANTITY_GPU_UNITS + 1,
                                        2 * QUANTITY_GPU_UNITS + 1,
                                        4 * QUANTITY_GPU_UNITS + 1,
                                        8 * QUANTITY_GPU_UNITS + 1,
                                        16 * QUANTITY_GPU_UNITS + 1};

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

void queue_insert(struct sched *s, uint32_t id)
{
    fifo_append(s, id);
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t after = ws->queue_tail;
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
    ws->pending_by_size[queue_size_bucket(w->total.gpu)]++;
    ws->pending_mig += w->mig >= 0;
}

void queue_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    assert(ws->n_pending > 0);
    fifo_remove(s, id);
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
    ws->pending_by_size[queue_size_bucket(w->total.gpu)]--;
    ws->pending_mig -= w->mig >= 0;
}
