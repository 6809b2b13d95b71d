/* Nodes: adding one, its state (ready, draining, down) and its GPUs' health, which stop the
 * work on it when they fail, and its move from one tenant to another (docs/policy.md,
 * "Moving a node"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/event.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/quota.h"
#include "sched/sched.h"
#include "sched/topology.h"

static int node_gpus_check(const struct sched_node_spec *spec, char *err, size_t len);

/* GPU units of the node if every GPU were healthy: what a tenant owns with it. */
static int64_t node_owned_units(const struct sched_node *n)
{
    int64_t units = 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        struct sched_gpu g = n->gpus[i];
        g.healthy = true;
        struct sched_node one = {.n_gpus = 1, .gpus = &g};
        units += placement_node_units(&one);
    }
    return units;
}

/* Check a node spec against the engine: a new name, a known cluster and tenant that may
 * hold it, sane capacity and GPUs. RET 0 with *cluster and *tenant (or SCHED_NONE), or a
 * negative error with a sentence in err. */
static int node_spec_check(const struct sched *s, const struct sched_node_spec *spec,
                           uint32_t *cluster_out, uint32_t *tenant_out, char *err, size_t len)
{
    uint32_t cluster, tenant = SCHED_NONE, dummy;
    int rc = engine_name_check(spec->name, "node", err, len);
    if (rc)
        return rc;
    if (hmap_get(&s->node_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "node '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    if (!spec->cluster || hmap_get(&s->cluster_ids, spec->cluster, &cluster)) {
        snprintf(err, len, "node '%s' names unknown cluster '%s'", spec->name,
                 spec->cluster ? spec->cluster : "");
        return -ALLOT_ENOENT;
    }
    if (spec->tenant && hmap_get(&s->tenant_ids, spec->tenant, &tenant)) {
        snprintf(err, len, "node '%s' names unknown tenant '%s'", spec->name, spec->tenant);
        return -ALLOT_ENOENT;
    }
    const struct sched_cluster *c = &s->clusters[cluster];
    if (c->dedicated_to != SCHED_NONE && tenant != c->dedicated_to) {
        snprintf(err, len, "node '%s' is in cluster '%s', dedicated to tenant '%s', but %s%s",
                 spec->name, c->name, s->tenants[c->dedicated_to].name,
                 tenant == SCHED_NONE ? "has no tenant" : "belongs to tenant ",
                 tenant == SCHED_NONE ? "" : s->tenants[tenant].name);
        return -ALLOT_ECONFIG;
    }
    if (tenant != SCHED_NONE && s->tenants[tenant].isolation == SCHED_ISOLATION_DEDICATED &&
        c->dedicated_to != tenant) {
        snprintf(err, len,
                 "tenant '%s' is dedicated, so its node '%s' must be in a cluster dedicated "
                 "to it, not in '%s'",
                 s->tenants[tenant].name, spec->name, c->name);
        return -ALLOT_ECONFIG;
    }
    if (spec->cpu < 0 || spec->memory < 0 || spec->cpu > QUANTITY_MAX ||
        spec->memory > QUANTITY_MAX) {
        snprintf(err, len, "node '%s' has a negative or absurd cpu or memory", spec->name);
        return -ALLOT_ERANGE;
    }
    if (spec->n_gpus > SCHED_MAX_GPUS_PER_NODE || spec->n_labels > SCHED_MAX_LABELS) {
        snprintf(err, len, "node '%s' has more than %d GPUs or %d labels", spec->name,
                 SCHED_MAX_GPUS_PER_NODE, SCHED_MAX_LABELS);
        return -ALLOT_ERANGE;
    }
    *cluster_out = cluster;
    *tenant_out = tenant;
    return node_gpus_check(spec, err, len);
}

/* The GPUs of a node spec: known models, MIG layouts placed and valid. RET 0, or
 * -ALLOT_EINVAL or -ALLOT_ECONFIG with a sentence in err. */
static int node_gpus_check(const struct sched_node_spec *spec, char *err, size_t len)
{
    for (uint32_t i = 0; i < spec->n_gpus; i++) {
        const struct sched_gpu_spec *g = &spec->gpus[i];
        if ((unsigned)g->model >= GPU_MODEL_COUNT || g->n_mig > MIG_MAX_INSTANCES) {
            snprintf(err, len, "node '%s' GPU %u: bad model or MIG layout", spec->name, i);
            return -ALLOT_EINVAL;
        }
        if (g->n_mig) {
            struct mig_instance_spec inst[MIG_MAX_INSTANCES];
            char why[160];
            memcpy(inst, g->mig, g->n_mig * sizeof(inst[0]));
            for (int k = 0; k < g->n_mig; k++) {
                if (inst[k].profile < 0 || inst[k].profile >= mig_model(g->model)->n_profiles ||
                    inst[k].start < 0) {
                    snprintf(err, len, "node '%s' GPU %u: MIG instance %d is not placed",
                             spec->name, i, k);
                    return -ALLOT_EINVAL;
                }
            }
            if (mig_layout_place(g->model, inst, g->n_mig, why, sizeof(why))) {
                snprintf(err, len, "node '%s' GPU %u: %s", spec->name, i, why);
                return -ALLOT_ECONFIG;
            }
        }
    }
    return 0;
}

/* Room for one more node in tenant t's nodes[] and node_free[]. RET 0 or -ALLOT_ENOMEM. */
static int node_room_in_tenant(struct sched_tenant *t)
{
    if (ARRAY_GROW(t->nodes, t->n_nodes, t->cap_nodes))
        return -ALLOT_ENOMEM;
    return placement_tenant_reserve(t, t->n_nodes + 1);
}

/* Count node id, of tenant tid now, in its tenant's books (its free_whole 0 until set). */
static void node_count_in_tenant(struct sched *s, uint32_t id, uint32_t tid)
{
    struct sched_tenant *t = &s->tenants[tid];
    struct sched_node *n = &s->nodes[id];
    n->tenant_pos = t->n_nodes;
    t->node_free[t->n_nodes] = 0;
    t->node_mig[t->n_nodes] = placement_node_has_mig(n);
    t->n_mixed += placement_node_mixed(n);
    placement_count_models(t, n, +1);
    t->nodes[t->n_nodes++] = id;
    /* owned capacity counts every GPU, healthy or not: reservations are promised against
     * what the tenant owns */
    t->owned_units += node_owned_units(n);
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n);
    t->free_units += placement_node_free_units(s, n);
    t->nodes_by_free[0]++; /* n->free_whole is 0 until set */
    t->dirty = true;
}

int sched_node_add(struct sched *s, const struct sched_node_spec *spec, uint32_t *id, char *err,
                   size_t len)
{
    uint32_t cluster, tenant;
    int rc = node_spec_check(s, spec, &cluster, &tenant, err, len);
    if (rc)
        return rc;
    if (ARRAY_GROW(s->nodes, s->n_nodes, s->cap_nodes))
        return -ALLOT_ENOMEM;
    if (tenant != SCHED_NONE && node_room_in_tenant(&s->tenants[tenant]))
        return -ALLOT_ENOMEM;
    struct sched_node *n = &s->nodes[s->n_nodes];
    memset(n, 0, sizeof(*n));
    n->gpus = calloc(spec->n_gpus ? spec->n_gpus : 1, sizeof(*n->gpus));
    n->labels = calloc(spec->n_labels ? spec->n_labels : 1, sizeof(*n->labels));
    n->name = arena_strdup(&s->names, spec->name);
    if (!n->gpus || !n->labels || !n->name)
        goto nomem;
    for (uint32_t i = 0; i < spec->n_labels; i++) {
        n->labels[i].key = arena_strdup(&s->names, spec->labels[i].key);
        n->labels[i].value = arena_strdup(&s->names, spec->labels[i].value);
        if (!n->labels[i].key || !n->labels[i].value)
            goto nomem;
    }
    if (hmap_put(&s->node_ids, n->name, s->n_nodes))
        goto nomem;
    n->n_labels = spec->n_labels;
    n->moving_to = SCHED_NONE;
    n->cluster = cluster;
    n->tenant = tenant;
    n->state = spec->state;
    n->cpu = spec->cpu;
    n->memory = spec->memory;
    n->n_gpus = spec->n_gpus;
    for (uint32_t i = 0; i < spec->n_gpus; i++) {
        struct sched_gpu *g = &n->gpus[i];
        g->model = spec->gpus[i].model;
        g->healthy = spec->gpus[i].healthy;
        g->n_mig = spec->gpus[i].n_mig;
        g->holder = g->claim = SCHED_NONE;
        for (int k = 0; k < g->n_mig; k++) {
            g->mig[k].profile = spec->gpus[i].mig[k].profile;
            g->mig[k].start = spec->gpus[i].mig[k].start;
            g->mig[k].holder = g->mig[k].claim = SCHED_NONE;
        }
    }
    n->whole_model = placement_whole_model(n);
    n->locked = placement_node_locked(n);
    /* its free_whole is 0 still: the domains count it once it is set */
    if (topology_node_join(s, s->n_nodes)) {
        hmap_del(&s->node_ids, n->name);
        goto nomem;
    }
    if (tenant != SCHED_NONE)
        node_count_in_tenant(s, s->n_nodes, tenant);
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    if (id)
        *id = s->n_nodes;
    s->n_nodes++;
    if (tenant != SCHED_NONE)
        quota_degraded_check(s, tenant, s->last_now);
    return 0;
nomem:
    free(n->gpus);
    free(n->labels);
    return -ALLOT_ENOMEM;
}

/* A workload's node or GPU failed under it: it is gone at once. Work being cancelled ends
 * cancelled; anything else is queued again. RET 0 or -ALLOT_ECHECK (lifecycle_end). */
static int workload_evict(struct sched *s, uint32_t id, enum sched_reason why, int64_t now)
{
    if (s->workloads[id].state == SCHED_DRAINING &&
        s->workloads[id].reason == SCHED_REASON_CANCELLED)
        return lifecycle_end(s, id, SCHED_CANCELLED, SCHED_REASON_CANCELLED, now);
    return lifecycle_end(s, id, SCHED_PENDING, why, now);
}

/* Stop every running or draining workload that uses node n (or only GPU gpu of it when
 * gpu >= 0) and give up every claim there; both go back to the queue. RET 0, or
 * -ALLOT_ECHECK at the first workload whose state breaks an invariant (it stops there). */
static int node_evict(struct sched *s, uint32_t node, int gpu, enum sched_reason why, int64_t now)
{
    struct sched_node *n = &s->nodes[node];
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        if (gpu >= 0 && (int)i != gpu)
            continue;
        struct sched_gpu *g = &n->gpus[i];
        for (int k = -1; k < (int)g->n_mig; k++) {
            if (k < 0 && g->n_mig)
                continue;
            uint32_t *holder = k < 0 ? &g->holder : &g->mig[k].holder;
            uint32_t *claim = k < 0 ? &g->claim : &g->mig[k].claim;
            int rc = 0;
            if (*claim != SCHED_NONE && s->workloads[*claim].state == SCHED_RECLAIMING)
                rc = lifecycle_unreclaim(s, *claim);
            if (!rc && *holder != SCHED_NONE)
                rc = workload_evict(s, *holder, why, now);
            if (rc)
                return rc;
        }
    }
    if (gpu >= 0)
        return 0;
    /* work holding only CPU and memory on the node */
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        struct sched_workload *w = &s->workloads[i];
        if (w->state != SCHED_RUNNING && w->state != SCHED_DRAINING && w->state != SCHED_RECLAIMING)
            continue;
        if (w->gpus || w->mig >= 0)
            continue;
        for (uint32_t r = 0; r < w->replicas; r++) {
            if (w->placement[r].node != node)
                continue;
            int rc = w->state == SCHED_RECLAIMING ? lifecycle_unreclaim(s, i)
                                                  : workload_evict(s, i, why, now);
            if (rc)
                return rc;
            break;
        }
    }
    return 0;
}

static int node_change_state(struct sched *s, uint32_t node, enum sched_node_state state,
                             const char *why, int64_t now);
static void node_move_finish(struct sched *s, uint32_t id, int64_t now);

int sched_node_set_state(struct sched *s, uint32_t node, enum sched_node_state state, int64_t now)
{
    return sched_node_set_state_why(s, node, state, NULL, now);
}

int sched_node_set_state_why(struct sched *s, uint32_t node, enum sched_node_state state,
                             const char *why, int64_t now)
{
    if (node >= s->n_nodes || (unsigned)state > SCHED_NODE_DOWN)
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    if (n->moving_to != SCHED_NONE && state == SCHED_NODE_READY)
        return -ALLOT_ESTATE; /* it drains until it has moved */
    if (state == SCHED_NODE_DRAINING)
        n->move_drained = false; /* drained on purpose: a cancelled move leaves it so */
    if (n->state == state)
        return 0;
    /* a move completes after this change, not in the middle of it */
    uint32_t moving = n->moving_to;
    n->moving_to = SCHED_NONE;
    int rc = node_change_state(s, node, state, why, now);
    n->moving_to = moving;
    if (rc)
        return rc;
    if (moving != SCHED_NONE)
        node_move_finish(s, node, now);
    return 0;
}

/* sched_node_set_state_why without the move handling. RET 0 or -ALLOT_ECHECK (node_evict). */
static int node_change_state(struct sched *s, uint32_t node, enum sched_node_state state,
                             const char *why, int64_t now)
{
    struct sched_node *n = &s->nodes[node];
    s->last_now = now;
    struct sched_event *e = event_emit(s, SCHED_EV_NODE_STATE, now, SCHED_NONE);
    e->node = node;
    e->tenant = n->tenant;
    e->a = n->state;
    snprintf(e->message, sizeof(e->message), "node %s: %s -> %s%s%s%s", n->name,
             sched_node_state_name(n->state), sched_node_state_name(state), why && *why ? " (" : "",
             why && *why ? why : "", why && *why ? ")" : "");
    int rc = state == SCHED_NODE_DOWN ? node_evict(s, node, -1, SCHED_REASON_NODE_DOWN, now) : 0;
    if (rc)
        return rc;
    int64_t units_before = n->state == SCHED_NODE_READY ? placement_node_units(n) : 0;
    int64_t free_before = placement_node_free_units(s, n);
    n->state = state;
    /* its free GPUs count while it is ready, whether a tenant owns it or not */
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    if (n->tenant == SCHED_NONE)
        return 0;
    struct sched_tenant *t = &s->tenants[n->tenant];
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n);
    t->healthy_units -= units_before;
    t->free_units += placement_node_free_units(s, n) - free_before;
    t->dirty = true;
    quota_degraded_check(s, n->tenant, now);
    return 0;
}

int sched_gpu_set_health(struct sched *s, uint32_t node, uint32_t gpu, bool healthy, int64_t now)
{
    if (node >= s->n_nodes || gpu >= s->nodes[node].n_gpus)
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    struct sched_gpu *g = &n->gpus[gpu];
    if (g->healthy == healthy)
        return 0;
    s->last_now = now;
    struct sched_event *e = event_emit(s, SCHED_EV_GPU_HEALTH, now, SCHED_NONE);
    e->node = node;
    e->gpu = gpu;
    e->tenant = n->tenant;
    snprintf(e->message, sizeof(e->message), "node %s GPU %u: %s", n->name, gpu,
             healthy ? "healthy" : "unhealthy");
    uint32_t moving = n->moving_to;
    n->moving_to = SCHED_NONE; /* complete a move after the change, not in its middle */
    int rc = healthy ? 0 : node_evict(s, node, (int)gpu, SCHED_REASON_GPU_UNHEALTHY, now);
    n->moving_to = moving;
    if (rc)
        return rc;
    int64_t units_before = placement_node_units(n), free_before = placement_node_free_units(s, n);
    g->healthy = healthy;
    placement_gpu_lock(n, gpu);
    /* counted out or in as on any node, whether a tenant owns it or not */
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    if (n->tenant == SCHED_NONE)
        return 0;
    struct sched_tenant *t = &s->tenants[n->tenant];
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n) - units_before;
    t->free_units += placement_node_free_units(s, n) - free_before;
    t->dirty = true;
    quota_degraded_check(s, n->tenant, now);
    if (moving != SCHED_NONE)
        node_move_finish(s, node, now);
    return 0;
}

/* Is anything held or claimed on node n? */
static bool node_busy(const struct sched_node *n)
{
    if (n->cpu_used || n->cpu_claimed || n->memory_used || n->memory_claimed)
        return true;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        if (g->holder != SCHED_NONE || g->claim != SCHED_NONE)
            return true;
        for (int k = 0; k < g->n_mig; k++)
            if (g->mig[k].holder != SCHED_NONE || g->mig[k].claim != SCHED_NONE)
                return true;
    }
    return false;
}

/* Take node id out of its tenant's books (it must be idle). */
static void node_leave_tenant(struct sched *s, uint32_t id)
{
    struct sched_node *n = &s->nodes[id];
    if (n->tenant == SCHED_NONE)
        return;
    struct sched_tenant *t = &s->tenants[n->tenant];
    placement_set_free_whole(s, n, 0);
    topology_node_leave(s, id);
    t->nodes_by_free[0]--;
    t->n_mixed -= placement_node_mixed(n);
    placement_count_models(t, n, -1);
    t->owned_units -= node_owned_units(n);
    if (n->state == SCHED_NODE_READY)
        t->healthy_units -= placement_node_units(n);
    t->free_units -= placement_node_free_units(s, n);
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        if (t->nodes[k] == id) {
            memmove(&t->nodes[k], &t->nodes[k + 1], (t->n_nodes - k - 1) * sizeof(t->nodes[0]));
            memmove(&t->node_free[k], &t->node_free[k + 1], t->n_nodes - k - 1);
            memmove(&t->node_mig[k], &t->node_mig[k + 1], t->n_nodes - k - 1);
            t->n_nodes--;
            for (uint32_t j = k; j < t->n_nodes; j++)
                s->nodes[t->nodes[j]].tenant_pos = j;
            break;
        }
    }
    t->dirty = true;
    n->tenant = SCHED_NONE;
}

/* Put idle, tenant-less node id in tenant tid's books, ready. RET 0 or -ALLOT_ENOMEM. */
static int node_join_tenant(struct sched *s, uint32_t id, uint32_t tid, int64_t now)
{
    struct sched_node *n = &s->nodes[id];
    struct sched_tenant *t = &s->tenants[tid];
    if (node_room_in_tenant(t))
        return -ALLOT_ENOMEM;
    n->tenant = tid;
    if (topology_node_join(s, id)) { /* its free_whole is 0 since it left its tenant */
        n->tenant = SCHED_NONE;
        return -ALLOT_ENOMEM;
    }
    if (n->state != SCHED_NODE_DOWN)
        n->state = SCHED_NODE_READY;
    node_count_in_tenant(s, id, tid); /* its free_whole is 0 since it left its tenant */
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    quota_degraded_check(s, tid, now);
    return 0;
}

/* Finish a node's move when nothing of its old tenant is left on it (and, for a move that
 * waits for it, its agent has wiped it). */
static void node_move_finish(struct sched *s, uint32_t id, int64_t now)
{
    struct sched_node *n = &s->nodes[id];
    if (n->moving_to == SCHED_NONE || node_busy(n) || n->wipe)
        return;
    uint32_t to = n->moving_to, from = n->tenant;
    enum sched_node_state was = n->state;
    n->moving_to = SCHED_NONE;
    n->move_drained = false;
    node_leave_tenant(s, id);
    if (from != SCHED_NONE)
        quota_degraded_check(s, from, now);
    struct sched_event *e = event_emit(s, SCHED_EV_NODE_STATE, now, SCHED_NONE);
    e->node = id;
    e->tenant = to == SCHED_NO_TENANT ? SCHED_NONE : to;
    e->a = was;
    if (to == SCHED_NO_TENANT) { /* to nobody */
        if (n->state != SCHED_NODE_DOWN)
            n->state = SCHED_NODE_READY;
        /* ready and nobody's: its free GPUs count again (as an unowned node's always do) */
        placement_set_free_whole(s, n, placement_node_free_whole(n));
        snprintf(e->message, sizeof(e->message), "node %s: drained; now owned by no tenant",
                 n->name);
        return;
    }
    if (node_join_tenant(s, id, to, now))
        s->oom = true;
    snprintf(e->message, sizeof(e->message), "node %s: drained; joined tenant %s", n->name,
             s->tenants[to].name);
}

void sched_node_moves_settle(struct sched *s, uint32_t node, int64_t now)
{
    node_move_finish(s, node, now);
}

uint32_t sched_node_serving(const struct sched *s, uint32_t node)
{
    if (node >= s->n_nodes)
        return SCHED_NONE;
    const struct sched_node *n = &s->nodes[node];
    if (n->moving_to != SCHED_NONE && n->wipe && !node_busy(n))
        return n->moving_to == SCHED_NO_TENANT ? SCHED_NONE : n->moving_to;
    return n->tenant;
}

int sched_node_wiped(struct sched *s, uint32_t node, uint32_t tenant, int64_t now)
{
    if (node >= s->n_nodes || (tenant != SCHED_NONE && tenant >= s->n_tenants))
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    uint32_t to = n->moving_to == SCHED_NO_TENANT ? SCHED_NONE : n->moving_to;
    if (n->moving_to == SCHED_NONE || !n->wipe || node_busy(n) || to != tenant)
        return -ALLOT_ESTATE;
    n->wipe = false;
    node_move_finish(s, node, now);
    return 0;
}

int sched_node_move(struct sched *s, uint32_t node, const char *tenant, bool wipe, int64_t now,
                    char *err, size_t len)
{
    if (node >= s->n_nodes)
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    uint32_t to = SCHED_NONE;
    if (tenant && sched_tenant_find(s, tenant, &to)) {
        snprintf(err, len, "no tenant '%s'", tenant);
        return -ALLOT_ENOENT;
    }
    if (to == n->tenant) {
        snprintf(err, len, "node '%s' already belongs to %s", n->name, tenant ? tenant : "nobody");
        return -ALLOT_ESTATE;
    }
    const struct sched_cluster *c = &s->clusters[n->cluster];
    if ((c->dedicated_to != SCHED_NONE && c->dedicated_to != to) ||
        (to != SCHED_NONE && s->tenants[to].isolation == SCHED_ISOLATION_DEDICATED &&
         c->dedicated_to != to)) {
        snprintf(err, len, "node '%s' is in cluster '%s', which %s", n->name, c->name,
                 c->dedicated_to != SCHED_NONE ? "is dedicated to another tenant"
                                               : "is not dedicated to that dedicated tenant");
        return -ALLOT_ECONFIG;
    }
    if (n->tenant != SCHED_NONE) {
        const struct sched_tenant *t = &s->tenants[n->tenant];
        if (t->reserved_units > t->owned_units - node_owned_units(n)) {
            char want[32], keep[32];
            snprintf(err, len,
                     "tenant '%s' reserves %s GPUs and would own only %s without node '%s'; "
                     "lower its reservations first",
                     t->name, quantity_format_gpu(t->reserved_units, want, sizeof(want)),
                     quantity_format_gpu(t->owned_units - node_owned_units(n), keep, sizeof(keep)),
                     n->name);
            return -ALLOT_ERESERVATION;
        }
    }
    s->last_now = now;
    /* no new work for the old tenant; what runs finishes or is cancelled by its owners. A
     * node of no tenant drains too: a move to be wiped first waits ready for nothing. A
     * move that replaces one under way keeps whether the first drained it */
    bool was_ready = n->state == SCHED_NODE_READY;
    bool by_move = was_ready || (n->moving_to != SCHED_NONE && n->move_drained);
    if (was_ready) {
        int rc = sched_node_set_state(s, node, SCHED_NODE_DRAINING, now);
        if (rc)
            return rc;
    }
    n->moving_to = to == SCHED_NONE ? SCHED_NO_TENANT : to;
    n->wipe = wipe;
    n->move_drained = by_move;
    node_move_finish(s, node, now);
    return 0;
}

int sched_node_move_cancel(struct sched *s, uint32_t node, int64_t now)
{
    if (node >= s->n_nodes)
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    if (n->moving_to == SCHED_NONE)
        return -ALLOT_ESTATE;
    s->last_now = now;
    uint32_t to = n->moving_to;
    bool ready = n->move_drained && n->state == SCHED_NODE_DRAINING;
    n->moving_to = SCHED_NONE;
    n->wipe = false;
    n->move_drained = false;
    struct sched_event *e = event_emit(s, SCHED_EV_NODE_STATE, now, SCHED_NONE);
    e->node = node;
    e->tenant = n->tenant;
    e->a = n->state; /* unchanged here: a ready one follows when the move alone drained it */
    snprintf(e->message, sizeof(e->message), "node %s: move to %s%s cancelled; it stays with %s%s",
             n->name, to == SCHED_NO_TENANT ? "no tenant" : "tenant ",
             to == SCHED_NO_TENANT ? "" : s->tenants[to].name,
             n->tenant == SCHED_NONE ? "no tenant" : "tenant ",
             n->tenant == SCHED_NONE ? "" : s->tenants[n->tenant].name);
    /* ready again only if the move alone drained it; its tenant's books then count it */
    return ready ? node_change_state(s, node, SCHED_NODE_READY, NULL, now) : 0;
}
