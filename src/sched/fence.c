/* The fence of a starving workload (docs/policy.md, "Starvation"): nodes of its tenant set
 * aside for it, which borrowers are not placed on while it waits. */
#include "sched/fence.h"

#include <stdlib.h>

#include "common/quantity.h"
#include "sched/placement.h"
#include "sched/topology.h"

void fence_clear(struct sched *s, struct sched_tenant *t)
{
    for (uint32_t i = 0; i < t->n_fence; i++)
        s->nodes[t->fence[i]].fenced = false;
    t->n_fence = 0;
}

/* Healthy whole GPUs of node n that a replica of w could use (its model, if it names one). */
static uint32_t node_fits_whole(const struct sched_node *n, const struct sched_workload *w)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        count += !g->n_mig && g->healthy && (w->model < 0 || (int)g->model == w->model);
    }
    return count;
}

/* Could node n, ready, hold a replica of w once emptied? */
static bool node_able(const struct sched_node *n, const struct sched_workload *w)
{
    return n->state == SCHED_NODE_READY && node_fits_whole(n, w) >= w->gpus;
}

/* Set aside nodes for starving workload id of tenant t: one per replica, each able to hold
 * a replica, those with the most free whole GPUs first (they fill it soonest; ties: the
 * tenant's node order); for a gang that requires a topology domain, all within the domain
 * of its level with the most free whole GPUs among those able to hold it. Borrowers are not
 * placed there while it waits; everything else goes on. RET false, with no fence, for a MIG
 * or CPU-only request or when too few nodes (of one domain) could ever hold it: borrowing
 * then pauses in the whole tenant. */
bool fence_make(struct sched *s, struct sched_tenant *t, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    const uint32_t *nodes = t->nodes;
    uint32_t n_nodes = t->n_nodes;
    fence_clear(s, t);
    if (w->mig >= 0 || w->gpus == 0)
        return false;
    if (topology_applies(w) && w->topology_required &&
        !topology_fence_domain(s, id, node_able, &nodes, &n_nodes))
        return false;
    if (t->cap_fence < w->replicas) {
        uint32_t *f = realloc(t->fence, w->replicas * sizeof(*f));
        if (!f) {
            s->oom = true;
            return false;
        }
        t->fence = f;
        t->cap_fence = w->replicas;
    }
    for (uint32_t r = 0; r < w->replicas; r++) {
        uint32_t best = SCHED_NONE;
        for (uint32_t k = 0; k < n_nodes; k++) {
            const struct sched_node *n = &s->nodes[nodes[k]];
            if (n->fenced || !node_able(n, w))
                continue;
            if (best == SCHED_NONE || n->free_whole > s->nodes[best].free_whole)
                best = nodes[k];
        }
        if (best == SCHED_NONE) {
            fence_clear(s, t);
            return false;
        }
        s->nodes[best].fenced = true;
        t->fence[t->n_fence++] = best;
    }
    return true;
}

/* Is workload id, which is (within) or is not within its reservation, kept off its tenant's
 * fenced nodes? Borrowers are, but not the starving workload itself. */
bool fence_applies(const struct sched *s, uint32_t id, bool within)
{
    const struct sched_tenant *t = &s->tenants[s->workloads[id].tenant];
    return !within && t->n_fence > 0 && t->held_by != id;
}

/* Free capacity on the fenced nodes of t: GPU units, or whole GPUs in units when whole. */
int64_t fence_free(const struct sched *s, const struct sched_tenant *t, bool whole)
{
    int64_t units = 0;
    for (uint32_t i = 0; i < t->n_fence; i++) {
        const struct sched_node *n = &s->nodes[t->fence[i]];
        units +=
            whole ? (int64_t)n->free_whole * QUANTITY_GPU_UNITS : placement_node_free_units(s, n);
    }
    return units;
}
