/* The fence of a starving workload (docs/policy.md, "Starvation"): nodes of its tenant set
 * aside for it, which borrowers are not placed on while it waits. */
#include "sched/fence.h"

#include <stdlib.h>

#include "common/quantity.h"
#include "sched/engine.h"
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

/* Does a running borrower with a time limit hold a GPU of node n (work backfilled onto a
 * fence, or work whose end is known)? */
static bool node_holds_timed_borrower(const struct sched *s, const struct sched_node *n)
{
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        const struct sched_workload *h = g->holder != SCHED_NONE ? &s->workloads[g->holder] : NULL;
        if (h && h->state == SCHED_RUNNING && h->borrowed && h->time_limit_ms > 0)
            return true;
    }
    return false;
}

/* Nodes (of nodes[0..n_nodes)) to add to t's fence for w: the `need` able ones with the
 * most free whole GPUs, ties in the order given, appended to t->fence in that order (most
 * free first) and marked fenced; one scan of the nodes, then a count of them by free whole
 * GPUs for the cut. RET false when fewer than need are able (t->fence then holds some). */
static bool fence_pick(struct sched *s, struct sched_tenant *t, const struct sched_workload *w,
                       const uint32_t *nodes, uint32_t n_nodes, uint32_t need)
{
    if (need == 0)
        return true;
    if (engine_candidates_reserve(s, n_nodes)) {
        s->oom = true;
        return false;
    }
    uint32_t *able = s->scratch->candidates, n_able = 0;
    uint32_t by_free[SCHED_MAX_GPUS_PER_NODE + 1] = {0};
    for (uint32_t k = 0; k < n_nodes; k++) {
        const struct sched_node *n = &s->nodes[nodes[k]];
        if (n->fenced || !node_able(n, w))
            continue;
        able[n_able++] = nodes[k];
        by_free[n->free_whole]++;
    }
    if (n_able < need)
        return false;
    /* the cut: every able node with more free than `cut`, and the first `at_cut` with it */
    uint32_t cut = SCHED_MAX_GPUS_PER_NODE, above = 0;
    while (above + by_free[cut] < need)
        above += by_free[cut--];
    uint32_t at_cut = need - above;
    uint32_t first = t->n_fence;
    for (uint32_t k = 0; k < n_able; k++) {
        struct sched_node *n = &s->nodes[able[k]];
        if (n->free_whole < cut || (n->free_whole == cut && at_cut == 0))
            continue;
        at_cut -= n->free_whole == cut;
        /* in place among those picked so far: most free first, ties in the order given */
        uint32_t j = t->n_fence++;
        for (; j > first && s->nodes[t->fence[j - 1]].free_whole < n->free_whole; j--)
            t->fence[j] = t->fence[j - 1];
        t->fence[j] = able[k];
        n->fenced = true;
    }
    return true;
}

/* Set aside nodes for starving workload id of tenant t: one per replica, each able to hold
 * a replica, those with the most free whole GPUs first (they fill it soonest; ties: the
 * tenant's node order); for a gang that requires a topology domain, all within the domain
 * of its level with the most free whole GPUs among those able to hold it
 * (topology_fence_domain), kept nodes too. Borrowers are not placed there while it waits;
 * everything else goes on. RET false, with no fence, for a MIG or CPU-only request or when
 * too few nodes (of one domain) could ever hold it: borrowing then pauses in the whole
 * tenant. */
bool fence_make(struct sched *s, struct sched_tenant *t, uint32_t id, uint32_t prev_for,
                uint32_t n_prev)
{
    const struct sched_workload *w = &s->workloads[id];
    const uint32_t *nodes = t->nodes;
    uint32_t n_nodes = t->n_nodes, n_keep = 0, domain = SCHED_NONE;
    bool one_domain = topology_applies(w) && w->topology_required && w->mig < 0 && w->gpus > 0;
    uint32_t level = one_domain ? (uint32_t)w->topology_level : 0;
    if (one_domain && topology_fence_domain(s, id, node_able, &nodes, &n_nodes))
        domain = sched_node_domain(s, nodes[0], level);
    if (id == prev_for && (!one_domain || domain != SCHED_NONE)) {
        /* the last fence's nodes to keep, first in t->fence */
        for (uint32_t i = 0; i < n_prev && i < t->cap_fence && n_keep < w->replicas; i++) {
            const struct sched_node *n = &s->nodes[t->fence[i]];
            if (n->tenant == w->tenant && node_able(n, w) && node_holds_timed_borrower(s, n) &&
                (!one_domain || sched_node_domain(s, t->fence[i], level) == domain))
                t->fence[n_keep++] = t->fence[i];
        }
    }
    fence_clear(s, t);
    if (w->mig >= 0 || w->gpus == 0)
        return false;
    if (one_domain && domain == SCHED_NONE)
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
    for (uint32_t i = 0; i < n_keep; i++)
        s->nodes[t->fence[i]].fenced = true;
    t->n_fence = n_keep;
    if (fence_pick(s, t, w, nodes, n_nodes, w->replicas - n_keep))
        return true;
    fence_clear(s, t);
    return false;
}

/* When node n is sure to have room for one replica of w (whole GPUs of one model, CPU,
 * memory), from the ends of its GPUs' holders: the earliest time at which enough of its
 * usable GPUs are free or have been given back, with the CPU and memory those holders gave
 * back (work holding no GPU is counted as never ending). RET that time, or -1 when it is
 * unknown. */
static int64_t node_shadow(const struct sched *s, const struct sched_node *n,
                           const struct sched_workload *w, int64_t now)
{
    struct {
        int64_t at;
        uint32_t holder;
        int model;
    } gpu[SCHED_MAX_GPUS_PER_NODE];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n->n_gpus && i < SCHED_MAX_GPUS_PER_NODE; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (g->n_mig || !g->healthy || (w->model >= 0 && (int)g->model != w->model))
            continue;
        /* a claimed GPU goes to its claimant, whose end is not counted here: never */
        int64_t at = g->claim != SCHED_NONE    ? -1
                     : g->holder == SCHED_NONE ? now
                                               : sched_workload_end_by(&s->workloads[g->holder]);
        if (at < 0)
            continue;
        uint32_t j = k++; /* insertion in time order */
        for (; j > 0 && gpu[j - 1].at > at; j--)
            gpu[j] = gpu[j - 1];
        gpu[j].at = at;
        gpu[j].holder = g->holder;
        gpu[j].model = (int)g->model;
    }
    /* as each GPU frees, in time order: is there room for a replica once all of that time
     * have? The holders' CPU and memory come back with their first GPU here. */
    uint32_t free_by_model[GPU_MODEL_COUNT] = {0};
    int64_t cpu = n->cpu - n->cpu_used - n->cpu_claimed;
    int64_t mem = n->memory - n->memory_used - n->memory_claimed;
    for (uint32_t i = 0; i < k; i++) {
        bool first = gpu[i].holder != SCHED_NONE;
        for (uint32_t e = 0; e < i && first; e++)
            first = gpu[e].holder != gpu[i].holder;
        if (first) {
            cpu += s->workloads[gpu[i].holder].cpu;
            mem += s->workloads[gpu[i].holder].memory;
        }
        free_by_model[gpu[i].model]++;
        if (i + 1 < k && gpu[i + 1].at == gpu[i].at)
            continue;
        for (int m = 0; m < GPU_MODEL_COUNT; m++)
            if (free_by_model[m] >= w->gpus && cpu >= w->cpu && mem >= w->memory)
                return gpu[i].at;
    }
    return -1;
}

int64_t fence_shadow(const struct sched *s, const struct sched_tenant *t, int64_t now)
{
    if (t->n_fence == 0 || t->held_by == SCHED_NONE)
        return -1;
    const struct sched_workload *w = &s->workloads[t->held_by];
    int64_t shadow = now;
    for (uint32_t i = 0; i < t->n_fence; i++) {
        int64_t at = node_shadow(s, &s->nodes[t->fence[i]], w, now);
        if (at < 0)
            return -1;
        shadow = at > shadow ? at : shadow;
    }
    return shadow;
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
