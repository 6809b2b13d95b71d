/* Placement search over a tenant's nodes. A replica takes whole GPUs of one model on one
 * node, or one MIG slot; gang replicas are claimed one after another and rolled back
 * together when one does not fit. */
#include "sched/placement.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/topology.h"

int64_t placement_slot_units(const struct sched_gpu *g, int slot)
{
    if (slot < 0 || !g->n_mig)
        return QUANTITY_GPU_UNITS;
    return mig_model(g->model)->profiles[g->mig[slot].profile].units;
}

int64_t placement_node_units(const struct sched_node *n)
{
    int64_t units = 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (!g->healthy)
            continue;
        if (!g->n_mig)
            units += QUANTITY_GPU_UNITS;
        for (int k = 0; k < g->n_mig; k++)
            units += placement_slot_units(g, k);
    }
    return units;
}

int64_t placement_node_free_units(const struct sched *s, const struct sched_node *n)
{
    int64_t units = 0;
    if (n->state != SCHED_NODE_READY)
        return 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (!g->healthy)
            continue;
        if (!g->n_mig && g->holder == SCHED_NONE && g->claim == SCHED_NONE)
            units += QUANTITY_GPU_UNITS;
        for (int k = 0; k < g->n_mig; k++)
            if (g->mig[k].holder == SCHED_NONE && g->mig[k].claim == SCHED_NONE)
                units += placement_slot_units(g, k);
    }
    return units;
}

uint32_t placement_node_free_whole(const struct sched_node *n)
{
    uint32_t count = 0;
    if (n->state != SCHED_NODE_READY)
        return 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        count += !g->n_mig && g->healthy && g->holder == SCHED_NONE && g->claim == SCHED_NONE;
    }
    return count;
}

void placement_set_free_whole(struct sched *s, struct sched_node *n, uint32_t value)
{
    if (n->tenant != SCHED_NONE) {
        struct sched_tenant *t = &s->tenants[n->tenant];
        t->free_whole = t->free_whole - n->free_whole + value;
        t->nodes_by_free[n->free_whole]--;
        t->nodes_by_free[value]++;
        t->node_free[n->tenant_pos] = (uint8_t)value;
    }
    for (uint32_t l = 0; l < s->opt.n_topology; l++) {
        uint32_t d = sched_node_domain(s, (uint32_t)(n - s->nodes), l);
        if (d != SCHED_NONE)
            s->domains[d].free_whole += value - n->free_whole;
    }
    n->free_whole = value;
}

bool placement_node_mixed(const struct sched_node *n)
{
    if (placement_whole_model(n) >= 0)
        return false;
    for (uint32_t i = 0; i < n->n_gpus; i++)
        if (!n->gpus[i].n_mig)
            return true;
    return false;
}

uint8_t placement_node_has_mig(const struct sched_node *n)
{
    for (uint32_t i = 0; i < n->n_gpus; i++)
        if (n->gpus[i].n_mig)
            return 1;
    return 0;
}

/* Is GPU g locked (struct sched_node)? */
static bool gpu_locked(const struct sched_gpu *g)
{
    return g->n_mig || !g->healthy || g->claim != SCHED_NONE;
}

uint32_t placement_node_locked(const struct sched_node *n)
{
    uint32_t mask = 0;
    for (uint32_t i = 0; i < n->n_gpus; i++)
        mask |= (uint32_t)gpu_locked(&n->gpus[i]) << i;
    return mask;
}

void placement_gpu_lock(struct sched_node *n, uint32_t i)
{
    n->locked = (n->locked & ~(1u << i)) | (uint32_t)gpu_locked(&n->gpus[i]) << i;
}

int8_t placement_whole_model(const struct sched_node *n)
{
    int8_t model = -1;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        if (n->gpus[i].n_mig)
            continue;
        if (model >= 0 && model != (int8_t)n->gpus[i].model)
            return -1;
        model = (int8_t)n->gpus[i].model;
    }
    return model;
}

void placement_count_models(struct sched_tenant *t, const struct sched_node *n, int sign)
{
    for (uint32_t i = 0; i < n->n_gpus; i++)
        t->gpus_by_model[n->gpus[i].model] += (uint32_t)sign;
}

int placement_tenant_reserve(struct sched_tenant *t, uint32_t n)
{
    if (n <= t->cap_node_index)
        return 0;
    uint32_t cap = t->cap_node_index ? t->cap_node_index * 2 : 16;
    cap = cap < n ? n : cap;
    uint8_t *f = realloc(t->node_free, cap);
    if (f)
        t->node_free = f;
    uint8_t *m = f ? realloc(t->node_mig, cap) : NULL;
    if (!m)
        return -ALLOT_ENOMEM; /* node_free may be larger: harmless, cap_node_index unchanged */
    t->node_mig = m;
    t->cap_node_index = cap;
    return 0;
}

int placement_index_rebuild(struct sched *s)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        s->nodes[i].whole_model = placement_whole_model(&s->nodes[i]);
        s->nodes[i].locked = placement_node_locked(&s->nodes[i]);
    }
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        struct sched_tenant *t = &s->tenants[i];
        t->n_mixed = 0;
        memset(t->gpus_by_model, 0, sizeof(t->gpus_by_model));
        if (placement_tenant_reserve(t, t->n_nodes))
            return -ALLOT_ENOMEM;
        for (uint32_t k = 0; k < t->n_nodes; k++) {
            struct sched_node *n = &s->nodes[t->nodes[k]];
            n->tenant_pos = k;
            t->node_free[k] = (uint8_t)n->free_whole;
            t->node_mig[k] = placement_node_has_mig(n);
            t->n_mixed += placement_node_mixed(n);
            placement_count_models(t, n, +1);
        }
    }
    return 0;
}

uint32_t placement_max_free_whole(const struct sched_tenant *t)
{
    uint32_t i = SCHED_MAX_GPUS_PER_NODE;
    while (i > 0 && !t->nodes_by_free[i])
        i--;
    return i;
}

/* Free for a placement search: unclaimed and either unheld or held by a marked victim; or,
 * for a backfill (placement_claim_backfill), unheld and claimed by its claimant. */
static bool slot_usable(const struct sched *s, uint32_t holder, uint32_t claim)
{
    if (claim != SCHED_NONE)
        return holder == SCHED_NONE && claim == s->scratch->backfill_claimant;
    return holder == SCHED_NONE || s->scratch->victim_mark[holder];
}

/* Counters follow a slot of a counted GPU (healthy, ready node) leaving or entering the
 * free state (unheld and unclaimed). */
static void slot_counted(struct sched *s, struct sched_node *n, struct sched_gpu *g, int slot,
                         int delta)
{
    if (n->state != SCHED_NODE_READY || !g->healthy)
        return;
    if (!g->n_mig)
        placement_set_free_whole(s, n, (uint32_t)((int64_t)n->free_whole + delta));
    s->tenants[n->tenant].free_units += delta * placement_slot_units(g, slot);
}

/* CPU and memory of node n free for a placement search, counting the marked victims'. */
static int64_t node_cpu_avail(const struct sched *s, const struct sched_node *n)
{
    return n->cpu - n->cpu_used - n->cpu_claimed + s->scratch->node[n - s->nodes].victim_cpu;
}

static int64_t node_mem_avail(const struct sched *s, const struct sched_node *n)
{
    return n->memory - n->memory_used - n->memory_claimed +
           s->scratch->node[n - s->nodes].victim_memory;
}

/* May node n take a replica of w at all: ready, with the CPU and memory it asks for
 * (counting the marked victims'), and not set aside for a starving workload when w must
 * avoid such nodes (avoid)? */
static bool node_takes(const struct sched *s, const struct sched_node *n,
                       const struct sched_workload *w, bool avoid)
{
    return n->state == SCHED_NODE_READY && node_cpu_avail(s, n) >= w->cpu &&
           node_mem_avail(s, n) >= w->memory && !(avoid && n->fenced);
}

/* Best whole-GPU fit for one replica on node n: the model whose usable free count leaves
 * the fewest GPUs over. RET leftover (>= 0) and *model, or -1 when it does not fit. */
static int whole_fit(const struct sched *s, const struct sched_node *n,
                     const struct sched_workload *w, int *model)
{
    int count[GPU_MODEL_COUNT] = {0};
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (!g->n_mig && g->healthy && slot_usable(s, g->holder, g->claim))
            count[g->model]++;
    }
    int best = -1;
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        if (w->model >= 0 && m != w->model)
            continue;
        int left = count[m] - (int)w->gpus;
        if (left >= 0 && (best < 0 || left < best)) {
            best = left;
            *model = m;
        }
    }
    return best;
}

/* Best MIG slot on node n for w: the one that leaves its GPU with the fewest free units, so
 * partly used GPUs fill up before untouched ones. RET the units left on that GPU (>= 0)
 * with *gpu and *slot, or -1. */
static int64_t mig_fit(const struct sched *s, const struct sched_node *n,
                       const struct sched_workload *w, int *gpu, int *slot)
{
    int64_t best = -1;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (!g->n_mig || !g->healthy || (w->model >= 0 && (int)g->model != w->model))
            continue;
        int64_t free_units = 0;
        int found = -1;
        for (int k = 0; k < g->n_mig; k++) {
            if (!slot_usable(s, g->mig[k].holder, g->mig[k].claim))
                continue;
            free_units += placement_slot_units(g, k);
            if (found < 0 && mig_model(g->model)->profiles[g->mig[k].profile].name_id == w->mig)
                found = k;
        }
        if (found < 0)
            continue;
        int64_t left = free_units - placement_slot_units(g, found);
        if (best < 0 || left < best) {
            best = left;
            *gpu = (int)i;
            *slot = found;
        }
    }
    return best;
}

/* Claim one slot (or whole GPU) for id. */
static void slot_claim(struct sched *s, struct sched_node *n, struct sched_gpu *g, int slot,
                       uint32_t id)
{
    uint32_t *holder = slot < 0 ? &g->holder : &g->mig[slot].holder;
    uint32_t *claim = slot < 0 ? &g->claim : &g->mig[slot].claim;
    if (*claim != SCHED_NONE) {
        /* a backfill in the claimant's slot: held at once, the claim stays (not free) */
        assert(*claim == s->scratch->backfill_claimant && *holder == SCHED_NONE);
        *holder = id;
        s->scratch->backfilled = true;
        return;
    }
    if (*holder == SCHED_NONE)
        slot_counted(s, n, g, slot, -1);
    *claim = id;
    if (slot < 0)
        placement_gpu_lock(n, (uint32_t)(g - n->gpus));
}

static void slot_unclaim(struct sched *s, struct sched_node *n, struct sched_gpu *g, int slot,
                         uint32_t id)
{
    uint32_t *holder = slot < 0 ? &g->holder : &g->mig[slot].holder;
    uint32_t *claim = slot < 0 ? &g->claim : &g->mig[slot].claim;
    if (*claim != id) {
        /* a backfill's slot in another's claim (slot_claim), before it started */
        if (*holder == id && s->workloads[id].state == SCHED_PENDING)
            *holder = SCHED_NONE;
        return;
    }
    *claim = SCHED_NONE;
    if (slot < 0)
        placement_gpu_lock(n, (uint32_t)(g - n->gpus));
    if (*holder == SCHED_NONE)
        slot_counted(s, n, g, slot, +1);
}

/* replica_claim's search for a whole-GPU replica of w when no victim is marked and every
 * node of the tenant has whole GPUs of one model: a node's leftover is then its free count
 * less w->gpus, so the best fit lies among the nodes with the fewest free GPUs that still
 * hold it. Those counts are read from the tenant's node_free, and only nodes of one count
 * are visited at a time, from the smallest: the node replica_claim's scan would choose (with
 * topology levels, the fuller domain first among equal counts, as there), with far fewer
 * nodes read. levels is a constant at each call (always inlined). RET that node (*left its
 * leftover, *model its model), or SCHED_NONE. */
static inline __attribute__((always_inline)) uint32_t whole_best_fit(const struct sched *s,
                                                                     const struct sched_workload *w,
                                                                     bool avoid, bool levels,
                                                                     int64_t *left, int *model)
{
    const struct sched_tenant *t = &s->tenants[w->tenant];
    for (uint32_t f = w->gpus; f <= SCHED_MAX_GPUS_PER_NODE; f++) {
        if (!t->nodes_by_free[f])
            continue;
        uint32_t best = SCHED_NONE;
        int64_t best_cpu_left = 0;
        for (uint32_t k = 0; k < t->n_nodes; k++) {
            if (t->node_free[k] != f)
                continue;
            const struct sched_node *n = &s->nodes[t->nodes[k]];
            if (!node_takes(s, n, w, avoid) || (w->model >= 0 && w->model != n->whole_model))
                continue;
            int64_t cpu_left = node_cpu_avail(s, n) - w->cpu;
            int pack = levels && best != SCHED_NONE ? topology_pack_cmp(s, n, &s->nodes[best]) : 0;
            if (best == SCHED_NONE || pack < 0 || (pack == 0 && cpu_left < best_cpu_left)) {
                best = t->nodes[k];
                best_cpu_left = cpu_left;
                if (cpu_left == 0 && !levels)
                    break;
            }
        }
        if (best != SCHED_NONE) {
            *left = (int64_t)(f - w->gpus);
            *model = s->nodes[best].whole_model;
            return best;
        }
    }
    return SCHED_NONE;
}

/* The best node for one replica, with what replica_claim takes there. */
struct replica_pick {
    uint32_t node; /* SCHED_NONE: none fits */
    int model, gpu, slot;
};

/* The best of the n nodes (ids of w's tenant) for one replica of workload id: the fewest
 * GPUs left over, then (levels: with topology levels) the fullest domains, then the least
 * CPU left over. in_order: nodes is the tenant's nodes[], so that a node's position in it is
 * k. Both flags are constants at each call (always inlined), so that the search over a
 * platform without topology is the plain one. OUT *pick. */
static inline __attribute__((always_inline)) void
replica_search(struct sched *s, uint32_t id, const uint32_t *nodes, uint32_t n_nodes, bool in_order,
               bool levels, struct replica_pick *pick)
{
    struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    uint32_t best_node = SCHED_NONE;
    int64_t best_left = -1, best_cpu_left = 0;
    int best_model = -1, best_gpu = -1, best_slot = -1;
    bool avoid = s->scratch->avoid_fence[id] && t->n_fence > 0; /* set-aside nodes are not for it */
    /* whole GPUs: a node with fewer free GPUs than asked, counting the marked victims'
     * (node_free and victim_by_pos, by the node's position in its tenant: over the tenant's
     * nodes read in order without touching the node; a domain's nodes give theirs), cannot
     * hold it */
    bool whole = w->mig < 0 && w->gpus > 0;
    const uint8_t *victims = s->scratch->victim_by_pos;
    /* a backfill counts its claimant's unheld slots too (slot_usable): by whole_fit only */
    bool backfill = s->scratch->backfill_claimant != SCHED_NONE;
    /* over the tenant's nodes, no victim marked and every node of one model: whole_best_fit
     * visits only the nodes of the smallest free count that holds it */
    bool by_count =
        in_order && whole && !backfill && s->scratch->victim_whole == 0 && t->n_mixed == 0;
    /* the victims' usable GPUs counted as they were marked (struct engine_node_marks) serve a
     * request of one replica, unless the searches are made in full (for tests) */
    bool one = w->replicas == 1 && !s->scratch->searches_in_full;
    if (by_count)
        best_node = whole_best_fit(s, w, avoid, levels, &best_left, &best_model);
    for (uint32_t k = 0; k < n_nodes && !by_count; k++) {
        uint32_t pos = in_order ? k : s->nodes[nodes[k]].tenant_pos;
        if (whole && !backfill && (uint32_t)t->node_free[pos] + victims[pos] < w->gpus)
            continue;
        if (w->mig >= 0 && !t->node_mig[pos]) /* no slices there (mig_fit would find none) */
            continue;
        struct sched_node *n = &s->nodes[nodes[k]];
        if (!node_takes(s, n, w, avoid))
            continue;
        int64_t left;
        int model = -1, gpu = -1, slot = -1;
        if (w->mig >= 0) {
            left = mig_fit(s, n, w, &gpu, &slot);
        } else if (w->gpus > 0 && !backfill && n->whole_model >= 0 &&
                   (victims[pos] == 0 || (one && !s->scratch->node[nodes[k]].victim_gangs))) {
            /* one model: its usable GPUs (whole_fit's count) are its free ones and, for a
             * request of one replica (a gang's first replicas claim some as it goes), those of
             * its victims a search may use, counted as they were marked */
            if (w->model >= 0 && w->model != n->whole_model)
                continue;
            model = n->whole_model;
            left = (int64_t)t->node_free[pos] - w->gpus;
            if (victims[pos])
                left += s->scratch->node[nodes[k]].victim_usable;
        } else if (w->gpus > 0) {
            left = whole_fit(s, n, w, &model);
        } else {
            left = 0;
        }
        if (left < 0)
            continue;
        int64_t cpu_left = node_cpu_avail(s, n) - w->cpu;
        int pack = levels && best_node != SCHED_NONE && left == best_left
                       ? topology_pack_cmp(s, n, &s->nodes[best_node])
                       : 0;
        if (best_node == SCHED_NONE || left < best_left || (left == best_left && pack < 0) ||
            (left == best_left && pack == 0 && cpu_left < best_cpu_left)) {
            best_node = nodes[k];
            best_left = left;
            best_cpu_left = cpu_left;
            best_model = model;
            best_gpu = gpu;
            best_slot = slot;
            if (left == 0 && cpu_left == 0 && !levels)
                break;
        }
    }
    *pick = (struct replica_pick){best_node, best_model, best_gpu, best_slot};
}

/* Claim room for one replica r of w on the best of the n nodes (ids) of its tenant
 * (replica_search). RET 0 or -ALLOT_ENOFIT. */
static int replica_claim(struct sched *s, uint32_t id, struct sched_replica *r,
                         const uint32_t *nodes, uint32_t n_nodes)
{
    struct sched_workload *w = &s->workloads[id];
    bool in_order = nodes == s->tenants[w->tenant].nodes;
    struct replica_pick pick;
    if (in_order && !s->opt.n_topology)
        replica_search(s, id, nodes, n_nodes, true, false, &pick);
    else if (in_order)
        replica_search(s, id, nodes, n_nodes, true, true, &pick);
    else
        replica_search(s, id, nodes, n_nodes, false, true, &pick);
    uint32_t best_node = pick.node;
    int best_model = pick.model, best_gpu = pick.gpu, best_slot = pick.slot;
    if (best_node == SCHED_NONE)
        return -ALLOT_ENOFIT;
    struct sched_node *n = &s->nodes[best_node];
    r->node = best_node;
    r->gpu_mask = 0;
    r->mig_gpu = r->mig_slot = -1;
    if (w->mig >= 0) {
        r->mig_gpu = (int8_t)best_gpu;
        r->mig_slot = (int8_t)best_slot;
        slot_claim(s, n, &n->gpus[best_gpu], best_slot, id);
    } else {
        uint32_t need = w->gpus;
        for (uint32_t i = 0; i < n->n_gpus && need; i++) {
            struct sched_gpu *g = &n->gpus[i];
            if (!g->n_mig && g->healthy && (int)g->model == best_model &&
                slot_usable(s, g->holder, g->claim)) {
                slot_claim(s, n, g, -1, id);
                r->gpu_mask |= 1u << i;
                need--;
            }
        }
        /* cannot fail: whole_fit counted at least w->gpus such GPUs with the same test */
        assert(need == 0);
    }
    n->cpu_claimed += w->cpu;
    n->memory_claimed += w->memory;
    return 0;
}

static void replica_unclaim(struct sched *s, uint32_t id, const struct sched_replica *r)
{
    const struct sched_workload *w = &s->workloads[id];
    struct sched_node *n = &s->nodes[r->node];
    if (r->mig_gpu >= 0) {
        slot_unclaim(s, n, &n->gpus[r->mig_gpu], r->mig_slot, id);
    } else {
        for (uint32_t i = 0; i < n->n_gpus; i++)
            if (r->gpu_mask >> i & 1)
                slot_unclaim(s, n, &n->gpus[i], -1, id);
    }
    n->cpu_claimed -= w->cpu;
    n->memory_claimed -= w->memory;
}

int placement_claim(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    if (topology_applies(w))
        return topology_claim(s, id);
    return placement_claim_in(s, id, t->nodes, t->n_nodes);
}

uint32_t placement_usable_whole(const struct sched *s, const struct sched_replica *r)
{
    return (uint32_t)__builtin_popcount(r->gpu_mask & ~s->nodes[r->node].locked);
}

bool placement_fits_on(struct sched *s, uint32_t id, uint32_t node)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    const struct sched_node *n = &s->nodes[node];
    if (n->tenant != w->tenant || n->tenant_pos >= t->n_nodes || t->nodes[n->tenant_pos] != node)
        return false;
    /* the search over one node: the tests of the whole search, node by node (the order and
     * the ties it breaks choose among the nodes that fit, not whether one does) */
    struct replica_pick pick;
    replica_search(s, id, &node, 1, false, true, &pick);
    return pick.node != SCHED_NONE;
}

int placement_claim_in(struct sched *s, uint32_t id, const uint32_t *nodes, uint32_t n_nodes)
{
    struct sched_workload *w = &s->workloads[id];
    for (uint32_t r = 0; r < w->replicas; r++) {
        if (replica_claim(s, id, &w->placement[r], nodes, n_nodes) < 0) {
            while (r-- > 0)
                replica_unclaim(s, id, &w->placement[r]);
            return -ALLOT_ENOFIT;
        }
    }
    return 0;
}

void placement_unclaim(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    for (uint32_t r = 0; r < w->replicas; r++)
        replica_unclaim(s, id, &w->placement[r]);
}

/* Is GPU i (g) of replica rp's node one of its own (a whole GPU of its mask, or the GPU of
 * its MIG slice)? OUT *holder, *claim: those of its slot there. */
static bool replica_slot(const struct sched_replica *rp, const struct sched_gpu *g, uint32_t i,
                         uint32_t *holder, uint32_t *claim)
{
    *holder = rp->mig_gpu < 0 ? g->holder : g->mig[rp->mig_slot].holder;
    *claim = rp->mig_gpu < 0 ? g->claim : g->mig[rp->mig_slot].claim;
    return rp->mig_gpu < 0 ? (rp->gpu_mask >> i & 1) : rp->mig_gpu == (int)i;
}

int64_t placement_claim_shadow(const struct sched *s, uint32_t claimant)
{
    const struct sched_workload *c = &s->workloads[claimant];
    int64_t shadow = -1;
    for (uint32_t r = 0; r < c->replicas; r++) {
        const struct sched_replica *rp = &c->placement[r];
        const struct sched_node *n = &s->nodes[rp->node];
        for (uint32_t i = 0; i < n->n_gpus; i++) {
            uint32_t holder, claim;
            if (!replica_slot(rp, &n->gpus[i], i, &holder, &claim) || holder == SCHED_NONE)
                continue;
            int64_t end = sched_workload_end_by(&s->workloads[holder]);
            if (end < 0)
                return -1; /* a holder without a known end: the claimant's start is unknown */
            shadow = end > shadow ? end : shadow;
        }
    }
    return shadow;
}

uint32_t placement_claimants(const struct sched *s, const struct sched_tenant *t, uint32_t *out,
                             uint32_t max)
{
    uint32_t n_out = 0;
    for (uint32_t k = 0; k < t->n_nodes && n_out < max; k++) {
        const struct sched_node *n = &s->nodes[t->nodes[k]];
        if (n->state != SCHED_NODE_READY)
            continue;
        for (uint32_t i = 0; i < n->n_gpus && n_out < max; i++) {
            const struct sched_gpu *g = &n->gpus[i];
            for (int m = g->n_mig ? 0 : -1; m < (int)g->n_mig && n_out < max; m++) {
                uint32_t holder = m < 0 ? g->holder : g->mig[m].holder;
                uint32_t claim = m < 0 ? g->claim : g->mig[m].claim;
                bool seen = claim == SCHED_NONE || holder != SCHED_NONE || !g->healthy;
                for (uint32_t j = 0; j < n_out && !seen; j++)
                    seen = out[j] == claim;
                if (!seen)
                    out[n_out++] = claim;
            }
        }
    }
    return n_out;
}

int placement_claim_into(struct sched *s, uint32_t id, uint32_t claimant, bool *used)
{
    s->scratch->backfill_claimant = claimant;
    s->scratch->backfilled = false;
    int rc = placement_claim(s, id);
    s->scratch->backfill_claimant = SCHED_NONE;
    *used = rc == 0 && s->scratch->backfilled;
    return rc;
}

/* Visit every slot of replica r: fn(s, node, gpu, slot, id). */
static void replica_slots(struct sched *s, uint32_t id, const struct sched_replica *r,
                          void (*fn)(struct sched *, struct sched_node *, struct sched_gpu *, int,
                                     uint32_t))
{
    struct sched_node *n = &s->nodes[r->node];
    if (r->mig_gpu >= 0) {
        fn(s, n, &n->gpus[r->mig_gpu], r->mig_slot, id);
        return;
    }
    for (uint32_t i = 0; i < n->n_gpus; i++)
        if (r->gpu_mask >> i & 1)
            fn(s, n, &n->gpus[i], -1, id);
}

static void slot_start(struct sched *s, struct sched_node *n, struct sched_gpu *g, int slot,
                       uint32_t id)
{
    uint32_t *holder = slot < 0 ? &g->holder : &g->mig[slot].holder;
    uint32_t *claim = slot < 0 ? &g->claim : &g->mig[slot].claim;
    if (*claim == id) /* a backfill's slot keeps its claimant's claim */
        *claim = SCHED_NONE;
    *holder = id;
    if (slot < 0)
        placement_gpu_lock(n, (uint32_t)(g - n->gpus));
}

/* Is every slot of workload id's placement claimed by it and held by nobody, so that it
 * can start there? RET 0, or -ALLOT_ECHECK naming the first slot that is not. */
static int placement_startable(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    for (uint32_t r = 0; r < w->replicas; r++) {
        const struct sched_replica *rp = &w->placement[r];
        const struct sched_node *n = &s->nodes[rp->node];
        for (uint32_t i = 0; i < n->n_gpus; i++) {
            uint32_t holder, claim;
            bool mine = replica_slot(rp, &n->gpus[i], i, &holder, &claim);
            /* a backfill holds its slots in its claimant's claim already (slot_claim) */
            bool backfilled = holder == id && claim != SCHED_NONE && claim == w->backfill_for;
            if (mine && !backfilled && (claim != id || holder != SCHED_NONE))
                return engine_broken(s,
                                     "workload %s starts on GPU %u of node %s, which it has not "
                                     "claimed or which another workload still holds",
                                     w->name, i, n->name);
        }
    }
    return 0;
}

static void slot_release(struct sched *s, struct sched_node *n, struct sched_gpu *g, int slot,
                         uint32_t id)
{
    uint32_t *holder = slot < 0 ? &g->holder : &g->mig[slot].holder;
    uint32_t *claim = slot < 0 ? &g->claim : &g->mig[slot].claim;
    if (*holder != id)
        return;
    *holder = SCHED_NONE;
    if (*claim == SCHED_NONE)
        slot_counted(s, n, g, slot, +1);
}

int placement_start(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    int rc = placement_startable(s, id);
    if (rc)
        return rc;
    for (uint32_t r = 0; r < w->replicas; r++) {
        struct sched_node *n = &s->nodes[w->placement[r].node];
        replica_slots(s, id, &w->placement[r], slot_start);
        n->cpu_claimed -= w->cpu;
        n->memory_claimed -= w->memory;
        n->cpu_used += w->cpu;
        n->memory_used += w->memory;
    }
    return 0;
}

void placement_release(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    for (uint32_t r = 0; r < w->replicas; r++) {
        struct sched_node *n = &s->nodes[w->placement[r].node];
        replica_slots(s, id, &w->placement[r], slot_release);
        n->cpu_used -= w->cpu;
        n->memory_used -= w->memory;
    }
}

/* Replicas of w that node n could hold when empty and up, by its GPUs, CPU and memory;
 * *profile_seen set when it offers w's MIG profile. */
static uint64_t node_fits_empty(const struct sched_node *n, const struct sched_workload *w,
                                bool *profile_seen)
{
    uint64_t by_cpu = w->cpu ? (uint64_t)(n->cpu / w->cpu) : UINT32_MAX;
    uint64_t by_mem = w->memory ? (uint64_t)(n->memory / w->memory) : UINT32_MAX;
    uint64_t by_gpu = 0;
    if (w->mig >= 0) {
        for (uint32_t i = 0; i < n->n_gpus; i++) {
            const struct sched_gpu *g = &n->gpus[i];
            if (w->model >= 0 && (int)g->model != w->model)
                continue;
            for (int m = 0; m < g->n_mig; m++) {
                if (mig_model(g->model)->profiles[g->mig[m].profile].name_id == w->mig) {
                    by_gpu++;
                    *profile_seen = true;
                }
            }
        }
    } else if (w->gpus > 0) {
        uint32_t count[GPU_MODEL_COUNT] = {0};
        for (uint32_t i = 0; i < n->n_gpus; i++)
            if (!n->gpus[i].n_mig)
                count[n->gpus[i].model]++;
        for (int m = 0; m < GPU_MODEL_COUNT; m++)
            if ((w->model < 0 || m == w->model) && count[m] / w->gpus > by_gpu)
                by_gpu = count[m] / w->gpus;
    } else {
        by_gpu = UINT32_MAX;
    }
    uint64_t here = by_gpu < by_cpu ? by_gpu : by_cpu;
    return here < by_mem ? here : by_mem;
}

/* Could one domain of w's required level ever hold all of w? RET true when one could. */
static bool topology_possible(const struct sched *s, const struct sched_workload *w)
{
    bool seen = false;
    for (uint32_t d = 0; d < s->n_domains; d++) {
        const struct sched_domain *dom = &s->domains[d];
        uint64_t fits = 0;
        if (dom->tenant != w->tenant || dom->level != (uint32_t)w->topology_level)
            continue;
        for (uint32_t k = 0; k < dom->n_nodes && fits < w->replicas; k++)
            fits += node_fits_empty(&s->nodes[dom->nodes[k]], w, &seen);
        if (fits >= w->replicas)
            return true;
    }
    return false;
}

int placement_possible(const struct sched *s, const struct sched_workload *w, char *msg, size_t len)
{
    const struct sched_tenant *t = &s->tenants[w->tenant];
    uint64_t fits = 0; /* replicas the tenant's nodes could hold at once, when empty */
    bool profile_seen = false;
    for (uint32_t k = 0; k < t->n_nodes && fits < w->replicas; k++)
        fits += node_fits_empty(&s->nodes[t->nodes[k]], w, &profile_seen);
    if (fits >= w->replicas && topology_applies(w) && w->topology_required &&
        !topology_possible(s, w)) {
        snprintf(msg, len,
                 "topology.required: no %s of tenant %s could ever hold its %u replica(s) "
                 "together",
                 s->opt.topology[w->topology_level], t->name, w->replicas);
        return SCHED_REASON_NEVER_FITS;
    }
    if (fits >= w->replicas)
        return 0;
    if (w->mig >= 0 && !profile_seen) {
        snprintf(msg, len, "no GPU of tenant %s offers MIG profile %s%s%s", t->name,
                 mig_name(w->mig), w->model >= 0 ? " on " : "",
                 w->model >= 0 ? mig_model((enum gpu_model)w->model)->name : "");
        return SCHED_REASON_MIG_UNSUPPORTED;
    }
    char cpu[32], mem[32];
    quantity_format_cpu(w->cpu, cpu, sizeof(cpu));
    quantity_format_bytes(w->memory, mem, sizeof(mem));
    if (w->mig >= 0)
        snprintf(msg, len,
                 "%u replica(s) of MIG %s (cpu %s, memory %s each) exceed what the %u nodes "
                 "of tenant %s could ever hold",
                 w->replicas, mig_name(w->mig), cpu, mem, t->n_nodes, t->name);
    else
        snprintf(msg, len,
                 "%u replica(s) of %u GPU(s)%s%s (cpu %s, memory %s each) exceed what the %u "
                 "nodes of tenant %s could ever hold",
                 w->replicas, w->gpus, w->model >= 0 ? " of model " : "",
                 w->model >= 0 ? mig_model((enum gpu_model)w->model)->name : "", cpu, mem,
                 t->n_nodes, t->name);
    return SCHED_REASON_NEVER_FITS;
}
