/* Preemption: the fewest running workloads whose removal makes room for a waiting one are
 * told to drain, and the waiting one claims the room (docs/policy.md, "Reclaim" and
 * "Priority"). Victims are marked in the engine's scratch state during a search and
 * unmarked before these return. */
#ifndef ALLOT_SCHED_PREEMPT_H
#define ALLOT_SCHED_PREEMPT_H

#include <stdint.h>

#include "sched/sched.h"

/* Reclaim room for pending workload id (within its reservation): choose the fewest borrowed
 * workloads of the tenant's other workspaces whose removal lets it fit, never taking a
 * workspace below its reservation, claim the room and tell the victims to drain. RET 0 (id
 * is reclaiming, or running when no victim was needed after all), -ALLOT_ENOFIT,
 * -ALLOT_ENOMEM, or -ALLOT_ECHECK (engine_broken; it stops there). */
int preempt_reclaim(struct sched *s, uint32_t id, int64_t now);
/* A dry run of preempt_reclaim for pending workload id at the engine's last now: the
 * borrowers it would tell to drain now, in the order chosen. Nothing of the engine changes (its
 * scratch marks are cleared and id's placement is put back). OUT out[0..min(*total, max)): their
 * ids; *total: how many there are. RET 0; -ALLOT_ENOFIT (no set of borrowers makes room),
 * -ALLOT_ESTATE (id is not pending), -ALLOT_ENOMEM. */
int preempt_reclaim_victims(struct sched *s, uint32_t id, uint32_t *out, uint32_t max,
                            uint32_t *total);
/* Priority preemption inside a workspace: make room for pending workload id by stopping
 * running, preemptible workloads of its own workspace with a lower priority that have run
 * their workspace's min_runtime; fewest needed, in victim order (or the set losing less
 * work: docs/policy.md, "Lost work"). RET 0 (id is reclaiming), -ALLOT_ENOENT (no such
 * workload runs), -ALLOT_ENOFIT (they would not make room), -ALLOT_ENOMEM, or -ALLOT_ECHECK.
 * OUT *ripe_ms: on -ALLOT_ENOENT or -ALLOT_ENOFIT, when the first of the workloads that are
 * still too young to be taken reaches its min_runtime, if with them the room might be made
 * (a cheap necessary test); else 0. borrowable: quota_borrowable of id's workspace now, when
 * the caller knows it and it is not negative, else -1 (it is found when needed). */
int preempt_priority(struct sched *s, uint32_t id, int64_t now, int64_t borrowable,
                     int64_t *ripe_ms);

#endif
