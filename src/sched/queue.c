/* Per-workspace pending queues (queue.h), with the tenant's FIFO of pending workloads that
 * the starvation rule reads. */
#include "sched/queue.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
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

/* Count pending workload w in (sign +1) or out of (-1) its workspace's pending_by_size,
 * pending_mig and pending_model. */
static void pending_count(struct sched_workspace *ws, const struct sched_workload *w, int sign)
{
    ws->pending_by_size[queue_size_bucket(w->total.gpu)] += (uint32_t)sign;
    ws->pending_mig += (uint32_t)(sign * (w->mig >= 0));
    ws->pending_model += (uint32_t)(sign * (w->mig < 0 && w->model >= 0));
}

/* Does entry e come before the place of priority `priority` and seq `seq`? */
static inline bool entry_before(const struct sched_queued *e, int32_t priority, uint64_t seq)
{
    return e->priority != priority ? e->priority > priority : e->seq < seq;
}

uint32_t queue_place(const struct sched *s, const struct sched_workload *w)
{
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    const struct sched_queued *q = queue_entries(ws);
    uint32_t n = ws->n_pending;
    /* most inserts come at the end of the queue (the newest of the lowest priority) */
    if (n == 0 || entry_before(&q[n - 1], w->priority, w->seq))
        return n;
    /* From where it last was (the entries move by a few places between two looks), outwards
     * in doubling steps until the place is bracketed, then halving: the first look and the
     * next ones share their cache lines. The place is in [lo, hi). */
    uint32_t h = w->qat < n ? w->qat : n - 1, lo, hi, step = 1;
    if (entry_before(&q[h], w->priority, w->seq)) {
        lo = h + 1;
        while (lo + step - 1 < n && entry_before(&q[lo + step - 1], w->priority, w->seq)) {
            lo += step;
            step *= 2;
        }
        hi = lo + step - 1 < n ? lo + step - 1 : n;
    } else {
        hi = h;
        while (hi >= step && !entry_before(&q[hi - step], w->priority, w->seq)) {
            hi -= step;
            step *= 2;
        }
        lo = hi >= step ? hi - step + 1 : 0;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (entry_before(&q[mid], w->priority, w->seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t queue_head(const struct sched_workspace *ws)
{
    return ws->n_pending ? queue_entries(ws)[0].id : SCHED_NONE;
}

/* Is e the entry of workload id (w), in its order? */
static inline bool entry_of(const struct sched_queued *e, uint32_t id,
                            const struct sched_workload *w)
{
    return e->id == id && e->priority == w->priority && e->seq == w->seq;
}

/* Where workload id is in its workspace's queue (index into queue_entries), or UINT32_MAX
 * when it is not queued there. Keeps the place as the next search's hint. */
static uint32_t queue_find(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    const struct sched_queued *q = queue_entries(ws);
    if (w->state != SCHED_PENDING)
        return UINT32_MAX;
    if (w->qat < ws->n_pending && entry_of(&q[w->qat], id, w))
        return w->qat; /* where it was */
    /* else a head, often, or where its order puts it */
    uint32_t at = ws->n_pending && entry_of(&q[0], id, w) ? 0 : queue_place(s, w);
    if (at >= ws->n_pending || !entry_of(&q[at], id, w))
        return UINT32_MAX;
    w->qat = at;
    return at;
}

uint32_t queue_after_at(struct sched *s, uint32_t id)
{
    uint32_t at = queue_find(s, id);
    return at != UINT32_MAX ? at + 1 : queue_place(s, &s->workloads[id]);
}

uint32_t queue_after(struct sched *s, uint32_t id)
{
    const struct sched_workspace *ws = &s->workspaces[s->workloads[id].workspace];
    uint32_t at = queue_after_at(s, id);
    if (at >= ws->n_pending)
        return SCHED_NONE;
    uint32_t next = queue_entries(ws)[at].id;
    s->workloads[next].qat = at; /* its next look starts there */
    return next;
}

/* Move ws's queue into an array of cap entries (at least n_pending), the queued ones in its
 * middle. RET 0 or -ALLOT_ENOMEM with nothing changed. */
static int queue_resize(struct sched_workspace *ws, uint32_t cap)
{
    struct sched_queued *q = malloc((size_t)cap * sizeof(*q));
    if (!q)
        return -ALLOT_ENOMEM;
    uint32_t first = (cap - ws->n_pending) / 2;
    if (ws->n_pending)
        memcpy(q + first, queue_entries(ws), (size_t)ws->n_pending * sizeof(*q));
    free(ws->queue);
    ws->queue = q;
    ws->cap_queue = cap;
    ws->queue_first = first;
    return 0;
}

/* Make ws's queue array hold at least `want` entries. RET 0 or -ALLOT_ENOMEM with nothing
 * changed. */
static int queue_grow(struct sched_workspace *ws, uint32_t want)
{
    if (ws->cap_queue >= want)
        return 0;
    uint32_t cap = ws->cap_queue ? ws->cap_queue : 16;
    while (cap < want)
        cap = cap > UINT32_MAX / 2 ? want : cap * 2;
    return queue_resize(ws, cap);
}

int queue_reserve(struct sched *s, uint32_t wsid)
{
    struct sched_workspace *ws = &s->workspaces[wsid];
    if (ws->n_live == UINT32_MAX)
        return -ALLOT_ENOMEM;
    return queue_grow(ws, ws->n_live + 1);
}

void queue_unreserve(struct sched *s, uint32_t wsid)
{
    struct sched_workspace *ws = &s->workspaces[wsid];
    ws->n_live--;
    if (array_trim_due(ws->n_live, ws->cap_queue))
        queue_resize(ws, ws->cap_queue / 2); /* should it fail, the larger array stays */
}

void queue_insert(struct sched *s, uint32_t id)
{
    fifo_append(s, id);
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t at = queue_place(s, w), n = ws->n_pending;
    /* the room is there (n_pending < n_live <= cap_queue): the shorter side moves, unless
     * there is no room on its end */
    bool front = ws->queue_first > 0 && (at < n - at || ws->queue_first + n == ws->cap_queue);
    struct sched_queued *q = ws->queue + ws->queue_first;
    if (front) {
        memmove(q - 1, q, (size_t)at * sizeof(*q));
        ws->queue_first--;
        q--;
    } else {
        memmove(q + at + 1, q + at, (size_t)(n - at) * sizeof(*q));
    }
    q[at] = (struct sched_queued){w->priority, id, w->seq};
    w->qat = at;
    ws->n_pending++;
    engine_refresh_touch(s, id);
    pending_count(ws, w, +1);
}

int queue_check(struct sched *s, uint32_t id)
{
    if (queue_find(s, id) != UINT32_MAX)
        return 0;
    const struct sched_workload *w = &s->workloads[id];
    return engine_broken(s, "workload %s is taken off the queue of %s but is not queued in it",
                         w->name, s->workspaces[w->workspace].name);
}

int queue_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    /* taking out an entry that is not this workload's would corrupt the queue */
    uint32_t at = queue_find(s, id);
    if (at == UINT32_MAX)
        return queue_check(s, id);
    engine_refresh_leave(s, id); /* while it is still in the order */
    fifo_remove(s, id);
    struct sched_queued *q = ws->queue + ws->queue_first;
    uint32_t n = ws->n_pending;
    if (at < n - at - 1) {
        memmove(q + 1, q, (size_t)at * sizeof(*q));
        ws->queue_first++;
    } else {
        memmove(q + at, q + at + 1, (size_t)(n - at - 1) * sizeof(*q));
    }
    if (--ws->n_pending == 0)
        ws->queue_first = ws->cap_queue / 2; /* empty: room on both sides again */
    pending_count(ws, w, -1);
    return 0;
}

/* Queue order of entries, for qsort. */
static int entry_order(const void *a, const void *b)
{
    const struct sched_queued *x = a, *y = b;
    if (entry_before(x, y->priority, y->seq))
        return -1;
    return entry_before(y, x->priority, x->seq);
}

int queue_rebuild(struct sched *s)
{
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        struct sched_workspace *ws = &s->workspaces[i];
        ws->n_pending = ws->n_live = ws->queue_first = 0;
    }
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (w->name && !sched_state_ended(w->state)) {
            struct sched_workspace *ws = &s->workspaces[w->workspace];
            ws->n_live++;
            ws->n_pending += w->state == SCHED_PENDING;
        }
    }
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        struct sched_workspace *ws = &s->workspaces[i];
        uint32_t n = ws->n_pending;
        ws->n_pending = 0; /* counted again as they go in */
        if (queue_grow(ws, ws->n_live ? ws->n_live : 1))
            return -ALLOT_ENOMEM;
        ws->queue_first = (ws->cap_queue - n) / 2;
    }
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (w->name && w->state == SCHED_PENDING) {
            struct sched_workspace *ws = &s->workspaces[w->workspace];
            ws->queue[ws->queue_first + ws->n_pending++] =
                (struct sched_queued){w->priority, i, w->seq};
        }
    }
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        struct sched_workspace *ws = &s->workspaces[i];
        if (ws->n_pending > 1)
            qsort(ws->queue + ws->queue_first, ws->n_pending, sizeof(*ws->queue), entry_order);
        queue_recount(s, i);
    }
    return 0;
}

void queue_recount(struct sched *s, uint32_t wsid)
{
    struct sched_workspace *ws = &s->workspaces[wsid];
    memset(ws->pending_by_size, 0, sizeof(ws->pending_by_size));
    ws->pending_mig = ws->pending_model = 0;
    const struct sched_queued *q = queue_entries(ws);
    for (uint32_t i = 0; i < ws->n_pending; i++)
        pending_count(ws, &s->workloads[q[i].id], +1);
}
