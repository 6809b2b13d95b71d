/* A workload's transitions between states, each keeping placement, workspace accounting,
 * the queue and the event list in step (docs/policy.md, "Life of a workload"). Each checks
 * what it relies on (the state it starts from, its queue, its slots) before changing it: a
 * transition from another state would corrupt the lists and counters, so it returns
 * -ALLOT_ECHECK instead (engine_broken) and goes no further. Otherwise RET 0. */
#ifndef ALLOT_SCHED_LIFECYCLE_H
#define ALLOT_SCHED_LIFECYCLE_H

#include "sched/sched.h"

/* Pending -> running on the slots it has claimed (all free now). Emits admitted. */
int lifecycle_start(struct sched *s, uint32_t id, int64_t now);
/* Pending -> reclaiming: it has claimed its slots and waits for victims to stop. borrowed:
 * whether it will run (partly) above its workspace's reservation. */
int lifecycle_reclaim(struct sched *s, uint32_t id, bool borrowed, int64_t now);
/* Running -> draining: told to stop within its grace period. Emits preempting unless the
 * reason is a cancel. for_id: the workload it makes room for, or SCHED_NONE. */
int lifecycle_drain(struct sched *s, uint32_t id, enum sched_reason why, uint32_t for_id,
                    int64_t now);
/* Running or draining -> gone: releases what it holds, then becomes `final` (finished,
 * failed, cancelled) or, for SCHED_PENDING, is queued again at its original place. Claimants
 * whose last victim this was start. Emits finished, failed, cancelled or stopped (with why). */
int lifecycle_end(struct sched *s, uint32_t id, enum sched_state final, enum sched_reason why,
                  int64_t now);
/* Reclaiming -> pending: gives its claims back (its node failed, or it was cancelled). */
int lifecycle_unreclaim(struct sched *s, uint32_t id);
/* Workspace wsid's preemptible array, derived again from its running list (a loaded
 * snapshot). RET 0, -ALLOT_ENOMEM, or -ALLOT_ECHECK if the list does not end. */
int lifecycle_preemptible_rebuild(struct sched *s, uint32_t wsid);
/* Set the queue reason; emits queued when it changed. message: the human sentence. RET the
 * queued event when one was emitted (the caller may add to it), else NULL. */
struct sched_event *lifecycle_queue_reason(struct sched *s, uint32_t id, enum sched_reason why,
                                           const char *message, int64_t now);

#endif
