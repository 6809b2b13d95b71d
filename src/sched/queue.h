/* Each workspace's queue of pending workloads: highest priority first, then submission
 * order (seq). An intrusive doubly linked list through the workloads' qprev/qnext. */
#ifndef ALLOT_SCHED_QUEUE_H
#define ALLOT_SCHED_QUEUE_H

#include "sched/sched.h"

/* Insert workload id into its workspace's queue at its place. It must not be queued. */
void queue_insert(struct sched *s, uint32_t id);
/* Is workload id pending and linked in its workspace's queue? RET 0, or -ALLOT_ECHECK
 * (engine_broken). */
int queue_check(struct sched *s, uint32_t id);
/* Remove workload id, pending, from its workspace's queue. RET 0, or -ALLOT_ECHECK with
 * nothing changed when it is not queued there (queue_check). */
int queue_remove(struct sched *s, uint32_t id);
/* The size class of a request of `units` GPU units, for pending_by_size. */
int queue_size_bucket(int64_t units);
/* Count again the pending workloads of workspace wsid by size (pending_by_size), MIG
 * (pending_mig) and model (pending_model) from its queue, as a loaded snapshot needs (their
 * size classes may have been others). RET 0, or -ALLOT_ECHECK for a queue with a cycle. */
int queue_recount(struct sched *s, uint32_t wsid);
/* A lower bound of the GPU units of every workload pending in ws (0 if none). */
int64_t queue_min_need(const struct sched_workspace *ws);
/* True when a comes before b in a queue. */
bool queue_before(const struct sched_workload *a, const struct sched_workload *b);

#endif
