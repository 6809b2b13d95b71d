/* Each workspace's queue of pending workloads: highest priority first, then submission
 * order (seq). An array of (priority, seq, id) entries in that order, with room at both
 * ends: a walk reads its ids ahead of the workloads (no chain of dependent loads), a place is
 * found by binary search, and an insert or removal moves the shorter side. */
#ifndef ALLOT_SCHED_QUEUE_H
#define ALLOT_SCHED_QUEUE_H

#include "sched/sched.h"

/* Room in workspace wsid's queue for one more live workload (struct sched_workspace,
 * n_live), asked before a submission changes anything: a live workload that goes back to the
 * queue then always finds room. RET 0 or -ALLOT_ENOMEM. */
int queue_reserve(struct sched *s, uint32_t wsid);
/* A live workload of workspace wsid has ended: its room is no longer kept (n_live), and the
 * array gives memory back once mostly unused (array_trim_due). */
void queue_unreserve(struct sched *s, uint32_t wsid);
/* Insert workload id, pending, into its workspace's queue at its place. It must not be
 * queued; the room is there (queue_reserve). */
void queue_insert(struct sched *s, uint32_t id);
/* Is workload id pending and in its workspace's queue? RET 0, or -ALLOT_ECHECK
 * (engine_broken). */
int queue_check(struct sched *s, uint32_t id);
/* Remove workload id, pending, from its workspace's queue. RET 0, or -ALLOT_ECHECK with
 * nothing changed when it is not queued there (queue_check). */
int queue_remove(struct sched *s, uint32_t id);
/* The entries of ws's queue, in queue order (ws->n_pending of them). */
static inline const struct sched_queued *queue_entries(const struct sched_workspace *ws)
{
    return ws->queue ? ws->queue + ws->queue_first : ws->queue;
}
/* The first workload of ws's queue, or SCHED_NONE. */
uint32_t queue_head(const struct sched_workspace *ws);
/* Where workload w goes in its workspace's queue: the index (into queue_entries) of the
 * first entry not before it; w's own when it is queued. Searches from w->qat. */
uint32_t queue_place(const struct sched *s, const struct sched_workload *w);
/* Where the first workload queued after workload id is in its workspace's queue (id itself
 * need not be queued): an index into queue_entries, n_pending when none. */
uint32_t queue_after_at(struct sched *s, uint32_t id);
/* The first workload queued after workload id in its workspace's queue (id itself need not be
 * queued), or SCHED_NONE. */
uint32_t queue_after(struct sched *s, uint32_t id);
/* The queues of every workspace, derived from the pending workloads (a loaded snapshot),
 * with room for each workspace's live workloads. RET 0 or -ALLOT_ENOMEM. */
int queue_rebuild(struct sched *s);
/* The size class of a request of `units` GPU units, for pending_by_size. */
int queue_size_bucket(int64_t units);
/* Count again the pending workloads of workspace wsid by size (pending_by_size), MIG
 * (pending_mig) and model (pending_model) from its queue, as a loaded snapshot needs (their
 * size classes may have been others). */
void queue_recount(struct sched *s, uint32_t wsid);
/* A lower bound of the GPU units of every workload pending in ws (0 if none). */
int64_t queue_min_need(const struct sched_workspace *ws);
/* True when a comes before b in a queue. */
bool queue_before(const struct sched_workload *a, const struct sched_workload *b);

#endif
