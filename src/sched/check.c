/* sched_check: recomputes every counter from the workloads' placements and verifies the
 * invariants of docs/policy.md ("What never happens"); the first one broken is named in a
 * sentence. Used by `allot sim --check` after every step, by allotd after its replay and
 * every --check-every passes, and by tests; it allocates and is not meant for the hot
 * path. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"
#include "sched/sched.h"
#include "sched/topology.h"

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -ALLOT_ECHECK;
}

static bool holds(enum sched_state st)
{
    return st == SCHED_RUNNING || st == SCHED_DRAINING;
}

/* Check one slot's holder and claim against the workloads that name it. */
static int slot_check(const struct sched *s, const struct sched_node *n, uint32_t gi, int slot,
                      uint32_t holder, uint32_t claim, char *err, size_t len)
{
    if (holder != SCHED_NONE) {
        if (holder >= s->n_workloads || !holds(s->workloads[holder].state))
            return fail(err, len,
                        "node %s GPU %u slot %d is held by a workload that holds "
                        "nothing",
                        n->name, gi, slot);
    }
    if (claim != SCHED_NONE) {
        if (claim >= s->n_workloads || s->workloads[claim].state != SCHED_RECLAIMING)
            return fail(err, len,
                        "node %s GPU %u slot %d is claimed by a workload that is not "
                        "reclaiming",
                        n->name, gi, slot);
    }
    return 0;
}

/* Verify that workload id holds (or claims) every slot of its placement, on its tenant's
 * nodes, and add its CPU and memory to the per-node sums. */
static int workload_check(const struct sched *s, uint32_t id, int64_t *cpu, int64_t *mem, char *err,
                          size_t len)
{
    const struct sched_workload *w = &s->workloads[id];
    bool claim = w->state == SCHED_RECLAIMING;
    for (uint32_t r = 0; r < w->replicas; r++) {
        const struct sched_replica *rp = &w->placement[r];
        if (rp->node >= s->n_nodes)
            return fail(err, len, "workload %s replica %u is on no node", w->name, r);
        const struct sched_node *n = &s->nodes[rp->node];
        if (n->tenant != w->tenant)
            return fail(err, len, "workload %s of tenant %s is on node %s of another tenant",
                        w->name, s->tenants[w->tenant].name, n->name);
        if (n->state == SCHED_NODE_DOWN)
            return fail(err, len, "workload %s holds resources on down node %s", w->name, n->name);
        cpu[rp->node] += w->cpu;
        mem[rp->node] += w->memory;
        uint32_t gpus = 0;
        for (uint32_t i = 0; i < n->n_gpus; i++) {
            const struct sched_gpu *g = &n->gpus[i];
            bool mine = rp->mig_gpu < 0 ? (rp->gpu_mask >> i & 1) : rp->mig_gpu == (int)i;
            if (!mine)
                continue;
            if (!g->healthy && !claim)
                return fail(err, len, "workload %s runs on unhealthy GPU %u of %s", w->name, i,
                            n->name);
            uint32_t who;
            if (rp->mig_gpu < 0) {
                if (g->n_mig)
                    return fail(err, len, "workload %s holds MIG GPU %u of %s whole", w->name, i,
                                n->name);
                who = claim ? g->claim : g->holder;
                gpus++;
            } else {
                if (rp->mig_slot < 0 || rp->mig_slot >= g->n_mig)
                    return fail(err, len, "workload %s names a missing MIG slot", w->name);
                const struct sched_mig_slot *m = &g->mig[rp->mig_slot];
                if (mig_model(g->model)->profiles[m->profile].name_id != w->mig)
                    return fail(err, len, "workload %s holds a MIG slot of another profile",
                                w->name);
                who = claim ? m->claim : m->holder;
                gpus++;
            }
            if (who != id)
                return fail(err, len, "GPU %u of node %s is given to workload %s but %s it is %s",
                            i, n->name, w->name, claim ? "the claim on" : "the holder of",
                            who == SCHED_NONE ? "nobody" : s->workloads[who].name);
        }
        uint32_t want = w->mig >= 0 ? 1 : w->gpus;
        if (gpus != want)
            return fail(err, len, "workload %s replica %u has %u GPUs or slices, asked %u", w->name,
                        r, gpus, want);
    }
    return 0;
}

/* What the workloads say each node and workspace should count, summed by workloads_sum. */
struct sums {
    int64_t *cpu_used, *mem_used, *cpu_claim, *mem_claim;     /* per node */
    struct sched_resources *held, *drain, *claimed;           /* per workspace */
    uint32_t *n_running, *n_preemptible, *n_pending, *n_live; /* per workspace */
    uint8_t *listed; /* per workload: in a preemptible array (lists_check) */
};

/* The lists of workspace wsid against the sums m: its queue holds exactly its pending
 * workloads, in queue order, within an array with room for its live ones; its running list
 * exactly its running workloads, linked both ways; its preemptible array exactly the
 * preemptible ones, lowest priority first, each once (m->listed: per workload, set here). */
static int lists_check(const struct sched *s, uint32_t wsid, const struct sums *m, char *err,
                       size_t len)
{
    const struct sched_workspace *ws = &s->workspaces[wsid];
    uint32_t running = 0, by_size[8] = {0}, mig = 0, model = 0;
    if (ws->n_pending > ws->n_live || ws->n_live > ws->cap_queue ||
        ws->queue_first > ws->cap_queue - ws->n_pending)
        return fail(err, len, "workspace %s queue holds %u of %u (from %u), %u live", ws->name,
                    ws->n_pending, ws->cap_queue, ws->queue_first, ws->n_live);
    const struct sched_queued *q = queue_entries(ws);
    for (uint32_t i = 0; i < ws->n_pending; i++) {
        const struct sched_workload *w = q[i].id < s->n_workloads ? &s->workloads[q[i].id] : NULL;
        if (!w || w->state != SCHED_PENDING || w->workspace != wsid)
            return fail(err, len, "workspace %s queues a workload that is not its pending one",
                        ws->name);
        if (q[i].priority != w->priority || q[i].seq != w->seq)
            return fail(err, len, "workspace %s queue entry of %s is not its order", ws->name,
                        w->name);
        /* strictly in order: no workload twice (its order is its own: seq) */
        if (i > 0 && !(q[i - 1].priority > q[i].priority ||
                       (q[i - 1].priority == q[i].priority && q[i - 1].seq < q[i].seq)))
            return fail(err, len, "workspace %s queue is out of order at %s", ws->name, w->name);
        by_size[queue_size_bucket(w->total.gpu)]++;
        mig += w->mig >= 0;
        model += w->mig < 0 && w->model >= 0;
    }
    if (ws->n_pending != m->n_pending[wsid] || ws->n_live != m->n_live[wsid])
        return fail(err, len, "workspace %s counts %u pending (%u live), really %u (%u)", ws->name,
                    ws->n_pending, ws->n_live, m->n_pending[wsid], m->n_live[wsid]);
    if (memcmp(by_size, ws->pending_by_size, sizeof(by_size)) != 0 || mig != ws->pending_mig ||
        model != ws->pending_model)
        return fail(err, len, "workspace %s counts its pending workloads by size or kind wrongly",
                    ws->name);
    uint32_t prev = SCHED_NONE;
    for (uint32_t id = ws->running_head; id != SCHED_NONE; id = s->workloads[id].rnext) {
        const struct sched_workload *w = &s->workloads[id];
        if (w->state != SCHED_RUNNING || w->workspace != wsid || w->rprev != prev ||
            ++running > s->n_workloads)
            return fail(err, len, "workspace %s running list is wrong", ws->name);
        prev = id;
    }
    int32_t prio = INT32_MIN;
    for (uint32_t i = 0; i < ws->n_preempt; i++) {
        uint32_t id = ws->preempt[i].id;
        const struct sched_workload *w = id < s->n_workloads ? &s->workloads[id] : NULL;
        if (!w || w->state != SCHED_RUNNING || !w->preemptible || w->workspace != wsid ||
            w->priority != ws->preempt[i].priority || w->priority < prio || m->listed[id]++)
            return fail(err, len, "workspace %s preemptible array is wrong at %u", ws->name, i);
        prio = w->priority;
    }
    if (running != m->n_running[wsid] || ws->n_preempt != m->n_preemptible[wsid])
        return fail(err, len, "workspace %s lists %u running (%u preemptible), really %u (%u)",
                    ws->name, running, ws->n_preempt, m->n_running[wsid], m->n_preemptible[wsid]);
    return 0;
}

static void sums_free(struct sums *m)
{
    free(m->cpu_used);
    free(m->mem_used);
    free(m->cpu_claim);
    free(m->mem_claim);
    free(m->held);
    free(m->drain);
    free(m->claimed);
    free(m->n_running);
    free(m->n_preemptible);
    free(m->n_pending);
    free(m->n_live);
    free(m->listed);
}

/* Check every workload's placement and add it to the sums. */
static int workloads_sum(const struct sched *s, struct sums *m, char *err, size_t len)
{
    int rc = 0;
    for (uint32_t i = 0; i < s->n_workloads && !rc; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (w->name && !sched_state_ended(w->state)) {
            m->n_live[w->workspace]++;
            m->n_pending[w->workspace] += w->state == SCHED_PENDING;
        }
        if (w->state == SCHED_RUNNING) {
            m->n_running[w->workspace]++;
            m->n_preemptible[w->workspace] += w->preemptible;
        }
        if (holds(w->state)) {
            rc = workload_check(s, i, m->cpu_used, m->mem_used, err, len);
            quota_add(&m->held[w->workspace], &w->total, +1);
            if (w->state == SCHED_DRAINING)
                quota_add(&m->drain[w->workspace], &w->total, +1);
            if (!rc && !w->preemptible && w->borrowed)
                rc = fail(err, len, "non-preemptible workload %s runs on borrowed GPUs", w->name);
        } else if (w->state == SCHED_RECLAIMING) {
            rc = workload_check(s, i, m->cpu_claim, m->mem_claim, err, len);
            quota_add(&m->claimed[w->workspace], &w->total, +1);
            if (!rc && w->waiting_on == 0)
                rc = fail(err, len, "workload %s reclaims but waits for nobody", w->name);
        }
        /* a backfill holds room in the claim of a reclaiming workload, which waits for it */
        if (!rc && w->backfill_for != SCHED_NONE &&
            (!holds(w->state) || w->backfill_for >= s->n_workloads ||
             s->workloads[w->backfill_for].state != SCHED_RECLAIMING))
            rc = fail(err, len, "workload %s backfills for a workload that does not reclaim",
                      w->name);
    }
    return rc;
}

/* Every node: its slots name workloads that hold or claim them, and its counters agree
 * with the sums. */
static int nodes_check(const struct sched *s, const struct sums *m, char *err, size_t len)
{
    int rc = 0;
    for (uint32_t i = 0; i < s->n_nodes && !rc; i++) {
        const struct sched_node *n = &s->nodes[i];
        uint32_t free_whole = 0;
        for (uint32_t g = 0; g < n->n_gpus && !rc; g++) {
            const struct sched_gpu *gpu = &n->gpus[g];
            if (!gpu->n_mig) {
                rc = slot_check(s, n, g, -1, gpu->holder, gpu->claim, err, len);
                free_whole += n->state == SCHED_NODE_READY && gpu->healthy &&
                              gpu->holder == SCHED_NONE && gpu->claim == SCHED_NONE;
            }
            for (int k = 0; k < gpu->n_mig && !rc; k++)
                rc = slot_check(s, n, g, k, gpu->mig[k].holder, gpu->mig[k].claim, err, len);
        }
        if (rc)
            break;
        if (m->cpu_used[i] > n->cpu || m->mem_used[i] > n->memory)
            rc = fail(err, len, "node %s gives out more CPU or memory than it has", n->name);
        else if (m->cpu_used[i] != n->cpu_used || m->mem_used[i] != n->memory_used ||
                 m->cpu_claim[i] != n->cpu_claimed || m->mem_claim[i] != n->memory_claimed)
            rc = fail(err, len, "node %s CPU or memory counters disagree with its workloads",
                      n->name);
        else if (free_whole != n->free_whole || free_whole != placement_node_free_whole(n))
            rc = fail(err, len, "node %s counts %u free GPUs, really %u", n->name, n->free_whole,
                      free_whole);
        else if (n->locked != placement_node_locked(n))
            rc = fail(err, len, "node %s locks GPUs 0x%x, really 0x%x", n->name, n->locked,
                      placement_node_locked(n));
        else if (n->moving_to != SCHED_NONE && n->state == SCHED_NODE_READY)
            rc = fail(err, len, "node %s is moving to another tenant but takes work", n->name);
        bool listed = n->tenant == SCHED_NONE;
        for (uint32_t k = 0; n->tenant != SCHED_NONE && k < s->tenants[n->tenant].n_nodes; k++)
            listed = listed || s->tenants[n->tenant].nodes[k] == i;
        if (!rc && !listed)
            rc = fail(err, len, "node %s is not in its tenant's list", n->name);
    }
    return rc;
}

/* Every workspace: its lists, its counters against the sums, its limits. */
static int workspaces_check(const struct sched *s, const struct sums *m, char *err, size_t len)
{
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[i];
        enum sched_resource which;
        int rc = lists_check(s, i, m, err, len);
        if (rc)
            return rc;
        if (memcmp(&m->held[i], &ws->held, sizeof(m->held[i])) ||
            memcmp(&m->drain[i], &ws->draining, sizeof(m->drain[i])) ||
            memcmp(&m->claimed[i], &ws->claimed, sizeof(m->claimed[i])))
            return fail(err, len, "workspace %s counters disagree with its workloads", ws->name);
        if (quota_over_limits(ws, &which))
            return fail(err, len, "workspace %s holds more %s than its limit", ws->name,
                        sched_resource_name(which));
    }
    return 0;
}

/* Every tenant: it lists only its own nodes, and its capacity counters agree with them. */
static int tenants_check(const struct sched *s, char *err, size_t len)
{
    for (uint32_t t = 0; t < s->n_tenants; t++) {
        const struct sched_tenant *tn = &s->tenants[t];
        for (uint32_t k = 0; k < tn->n_nodes; k++) {
            const struct sched_node *n = &s->nodes[tn->nodes[k]];
            if (n->tenant != t)
                return fail(err, len, "tenant %s lists node %s of another tenant", tn->name,
                            n->name);
            if (n->tenant_pos != k || tn->node_free[k] != n->free_whole ||
                tn->node_mig[k] != placement_node_has_mig(n) ||
                n->whole_model != placement_whole_model(n))
                return fail(err, len, "tenant %s indexes node %s wrongly", tn->name, n->name);
        }
        int64_t free_units = 0, healthy = 0, reserved = 0;
        uint32_t free_whole = 0, by_free[SCHED_MAX_GPUS_PER_NODE + 1] = {0}, mixed = 0;
        uint32_t by_model[GPU_MODEL_COUNT] = {0};
        for (uint32_t k = 0; k < tn->n_nodes; k++) {
            const struct sched_node *n = &s->nodes[tn->nodes[k]];
            for (uint32_t i = 0; i < n->n_gpus; i++)
                by_model[n->gpus[i].model]++;
            free_whole += n->free_whole;
            by_free[n->free_whole]++;
            mixed += placement_node_mixed(n);
            free_units += placement_node_free_units(s, n);
            if (n->state == SCHED_NODE_READY)
                healthy += placement_node_units(n);
        }
        for (uint32_t k = 0; k < tn->n_workspaces; k++)
            reserved += s->workspaces[tn->workspaces[k]].reserved;
        if (free_units != tn->free_units || healthy != tn->healthy_units ||
            free_whole != tn->free_whole || memcmp(by_free, tn->nodes_by_free, sizeof(by_free)) ||
            reserved != tn->reserved_units || mixed != tn->n_mixed ||
            memcmp(by_model, tn->gpus_by_model, sizeof(by_model)))
            return fail(err, len, "tenant %s capacity counters disagree with its nodes", tn->name);
        if (reserved > tn->owned_units)
            return fail(err, len, "tenant %s reserves more GPUs than it owns", tn->name);
    }
    return 0;
}

int sched_check(const struct sched *s, char *err, size_t len)
{
    int rc = 0;
    size_t nn = s->n_nodes ? s->n_nodes : 1, nw = s->n_workspaces ? s->n_workspaces : 1;
    struct sums m = {
        .cpu_used = calloc(nn, sizeof(int64_t)),
        .mem_used = calloc(nn, sizeof(int64_t)),
        .cpu_claim = calloc(nn, sizeof(int64_t)),
        .mem_claim = calloc(nn, sizeof(int64_t)),
        .held = calloc(nw, sizeof(struct sched_resources)),
        .drain = calloc(nw, sizeof(struct sched_resources)),
        .claimed = calloc(nw, sizeof(struct sched_resources)),
        .n_running = calloc(nw, sizeof(uint32_t)),
        .n_preemptible = calloc(nw, sizeof(uint32_t)),
        .n_pending = calloc(nw, sizeof(uint32_t)),
        .n_live = calloc(nw, sizeof(uint32_t)),
        .listed = calloc(s->n_workloads ? s->n_workloads : 1, 1),
    };
    if (!m.cpu_used || !m.mem_used || !m.cpu_claim || !m.mem_claim || !m.held || !m.drain ||
        !m.claimed || !m.n_running || !m.n_preemptible || !m.n_pending || !m.n_live || !m.listed) {
        rc = -ALLOT_ENOMEM;
        snprintf(err, len, "out of memory");
        goto out;
    }
    rc = workloads_sum(s, &m, err, len);
    if (!rc)
        rc = nodes_check(s, &m, err, len);
    if (!rc)
        rc = workspaces_check(s, &m, err, len);
    if (!rc)
        rc = tenants_check(s, err, len);
    if (!rc && topology_check(s, err, len))
        rc = -ALLOT_ECHECK;
out:
    sums_free(&m);
    return rc;
}
