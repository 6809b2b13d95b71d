/* Per-workspace pending queues. Most insertions land at the tail (same priority, newest),
 * so insertion walks from the tail. */
#include "sched/queue.h"

#include <assert.h>

bool queue_before(const struct sched_workload *a, const struct sched_workload *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

void queue_insert(struct sched *s, uint32_t id)
{
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
}

void queue_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    assert(ws->n_pending > 0);
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
}
