/* The fence of a starving workload (docs/policy.md, "Starvation"): nodes of its tenant set
 * aside for it while it waits; borrowers go on elsewhere. */
#ifndef ALLOT_SCHED_FENCE_H
#define ALLOT_SCHED_FENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/sched.h"

/* Take down tenant t's fence: its nodes are for everyone again. */
void fence_clear(struct sched *s, struct sched_tenant *t);
/* Set aside nodes for starving workload id of tenant t: one per replica, each able to hold
 * a replica, those with the most free whole GPUs first. When the last fence, whose nodes
 * are still t->fence[0..n_prev), was for id too (prev_for), its nodes where a borrower with
 * a time limit runs stay in it first (docs/policy.md, "Time limits and backfill": moving
 * them would open them to other borrowers and void the shadow time a backfill was admitted
 * against). RET false, with no fence, for a MIG or CPU-only request or when too few nodes
 * could ever hold it (s->oom set when out of memory): borrowing then pauses in the whole
 * tenant. */
bool fence_make(struct sched *s, struct sched_tenant *t, uint32_t id, uint32_t prev_for,
                uint32_t n_prev);
/* Is workload id, which is (within) or is not within its reservation, kept off its tenant's
 * fenced nodes? Borrowers are, but not the starving workload itself. */
static inline bool fence_applies(const struct sched *s, uint32_t id, bool within)
{
    const struct sched_tenant *t = &s->tenants[s->workloads[id].tenant];
    return !within && t->n_fence > 0 && t->held_by != id;
}
/* Free capacity on the fenced nodes of t: GPU units, or whole GPUs in units when whole. */
int64_t fence_free(const struct sched *s, const struct sched_tenant *t, bool whole);
/* The shadow time of t's fence (docs/policy.md, "Time limits and backfill"): the time by
 * which, from the known ends of what holds its fenced nodes (sched_workload_end_by), each
 * fenced node is sure to have room for one replica of the starving workload t->held_by
 * (GPUs, CPU and memory). RET that time (now when they have room now), or -1 when it is
 * unknown: a holder it depends on has no known end, or there is no fence. Costs a look at
 * every GPU of the fenced nodes. */
int64_t fence_shadow(const struct sched *s, const struct sched_tenant *t, int64_t now);

#endif
