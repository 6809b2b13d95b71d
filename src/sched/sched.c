/* The engine's model and its event API: configuration (tenants, clusters, nodes,
 * workspaces), workload events (submit, cancel, finish, stopped) and faults. The admission
 * pass itself is in admission.c. */
#include "sched/sched.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/event.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"

void sched_options_default(struct sched_options *opt)
{
    opt->default_grace_ms = 30 * 1000;
    opt->starvation_age_ms = 10 * 60 * 1000;
    /* inference serves users, so it comes first; experiments last */
    opt->kind_priority[SCHED_KIND_TRAINING] = 100;
    opt->kind_priority[SCHED_KIND_FINETUNE] = 100;
    opt->kind_priority[SCHED_KIND_INFERENCE] = 1000;
    opt->kind_priority[SCHED_KIND_EXPERIMENT] = 50;
}

int sched_new(const struct sched_options *opt, struct sched **out)
{
    struct sched *s = calloc(1, sizeof(*s));
    if (!s)
        return -ALLOT_ENOMEM;
    if (opt)
        s->opt = *opt;
    else
        sched_options_default(&s->opt);
    arena_init(&s->names, 0);
    hmap_init(&s->tenant_ids);
    hmap_init(&s->cluster_ids);
    hmap_init(&s->node_ids);
    hmap_init(&s->workspace_ids);
    hmap_init(&s->workload_ids);
    *out = s;
    return 0;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        free(s->tenants[i].nodes);
        free(s->tenants[i].workspaces);
        free(s->tenants[i].fence);
    }
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        free(s->nodes[i].gpus);
        free(s->nodes[i].labels);
    }
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        free(s->workloads[i].placement);
        free((char *)s->workloads[i].name);
    }
    free(s->free_ids);
    free(s->tenants);
    free(s->clusters);
    free(s->nodes);
    free(s->workspaces);
    free(s->workloads);
    free(s->events);
    free(s->scratch);
    hmap_cleanup(&s->tenant_ids);
    hmap_cleanup(&s->cluster_ids);
    hmap_cleanup(&s->node_ids);
    hmap_cleanup(&s->workspace_ids);
    hmap_cleanup(&s->workload_ids);
    arena_cleanup(&s->names);
    free(s);
}

/* Make room for one more element in *arr (count n, capacity *cap). RET 0 or -ENOMEM. */
static int grow(void **arr, uint32_t n, uint32_t *cap, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        return -ALLOT_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

#define GROW(arr, n, cap) grow((void **)&(arr), (n), &(cap), sizeof(*(arr)))

/* A name is 1 to 127 printable characters without spaces or quotes. */
static int name_check(const char *name, const char *what, char *err, size_t len)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 127) {
        snprintf(err, len, "%s name must be 1 to 127 characters", what);
        return -ALLOT_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 127 || c == '"' || c == '\\') {
            snprintf(err, len, "%s name '%.*s' has a character that is not allowed", what, (int)n,
                     name);
            return -ALLOT_EINVAL;
        }
    }
    return 0;
}

int sched_tenant_add(struct sched *s, const struct sched_tenant_spec *spec, uint32_t *id, char *err,
                     size_t len)
{
    uint32_t dummy;
    int rc = name_check(spec->name, "tenant", err, len);
    if (rc)
        return rc;
    if (strchr(spec->name, '/')) {
        snprintf(err, len, "tenant name '%s' may not contain '/'", spec->name);
        return -ALLOT_EINVAL;
    }
    if (hmap_get(&s->tenant_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "tenant '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    if (spec->max_grace_ms < 0) {
        snprintf(err, len, "max_grace may not be negative");
        return -ALLOT_ERANGE;
    }
    if (GROW(s->tenants, s->n_tenants, s->cap_tenants))
        return -ALLOT_ENOMEM;
    struct sched_tenant *t = &s->tenants[s->n_tenants];
    memset(t, 0, sizeof(*t));
    t->name = arena_strdup(&s->names, spec->name);
    if (!t->name || hmap_put(&s->tenant_ids, t->name, s->n_tenants))
        return -ALLOT_ENOMEM;
    t->isolation = spec->isolation;
    t->fifo_head = t->fifo_tail = t->held_by = SCHED_NONE;
    t->max_grace_ms = spec->max_grace_ms;
    if (id)
        *id = s->n_tenants;
    s->n_tenants++;
    return 0;
}

int sched_cluster_add(struct sched *s, const struct sched_cluster_spec *spec, uint32_t *id,
                      char *err, size_t len)
{
    uint32_t tenant = SCHED_NONE, dummy;
    int rc = name_check(spec->name, "cluster", err, len);
    if (rc)
        return rc;
    if (hmap_get(&s->cluster_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "cluster '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    if (spec->dedicated_to && hmap_get(&s->tenant_ids, spec->dedicated_to, &tenant)) {
        snprintf(err, len, "cluster '%s' is dedicated to unknown tenant '%s'", spec->name,
                 spec->dedicated_to);
        return -ALLOT_ENOENT;
    }
    if (GROW(s->clusters, s->n_clusters, s->cap_clusters))
        return -ALLOT_ENOMEM;
    struct sched_cluster *c = &s->clusters[s->n_clusters];
    c->name = arena_strdup(&s->names, spec->name);
    if (!c->name || hmap_put(&s->cluster_ids, c->name, s->n_clusters))
        return -ALLOT_ENOMEM;
    c->dedicated_to = tenant;
    if (id)
        *id = s->n_clusters;
    s->n_clusters++;
    return 0;
}

/* Re-evaluate whether the tenant's healthy GPUs still cover its reservations and report a
 * change either way (reservation_degraded / reservation_restored). */
static void tenant_degraded_check(struct sched *s, uint32_t tid, int64_t now)
{
    struct sched_tenant *t = &s->tenants[tid];
    bool degraded = t->healthy_units < t->reserved_units;
    if (degraded == t->degraded)
        return;
    t->degraded = degraded;
    struct sched_event *e =
        event_emit(s, degraded ? SCHED_EV_RESERVATION_DEGRADED : SCHED_EV_RESERVATION_RESTORED, now,
                   SCHED_NONE);
    e->tenant = tid;
    e->a = t->healthy_units;
    e->b = t->reserved_units;
    char have[32], want[32];
    quantity_format_gpu(t->healthy_units, have, sizeof(have));
    quantity_format_gpu(t->reserved_units, want, sizeof(want));
    snprintf(e->message, sizeof(e->message),
             degraded ? "tenant %s has %s healthy GPUs for %s reserved: guarantees are degraded"
                      : "tenant %s has %s healthy GPUs for %s reserved again",
             t->name, have, want);
}

int sched_node_add(struct sched *s, const struct sched_node_spec *spec, uint32_t *id, char *err,
                   size_t len)
{
    uint32_t cluster, tenant = SCHED_NONE, dummy;
    int rc = name_check(spec->name, "node", err, len);
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
    if (GROW(s->nodes, s->n_nodes, s->cap_nodes))
        return -ALLOT_ENOMEM;
    if (tenant != SCHED_NONE &&
        GROW(s->tenants[tenant].nodes, s->tenants[tenant].n_nodes, s->tenants[tenant].cap_nodes))
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
    if (tenant != SCHED_NONE) {
        struct sched_tenant *t = &s->tenants[tenant];
        t->nodes[t->n_nodes++] = s->n_nodes;
        /* owned capacity counts every GPU, healthy or not: reservations are promised
         * against what the tenant owns */
        for (uint32_t i = 0; i < n->n_gpus; i++) {
            struct sched_gpu g = n->gpus[i];
            g.healthy = true;
            struct sched_node one = {.n_gpus = 1, .gpus = &g};
            t->owned_units += placement_node_units(&one);
        }
        if (n->state == SCHED_NODE_READY)
            t->healthy_units += placement_node_units(n);
        t->free_units += placement_node_free_units(s, n);
        t->nodes_by_free[0]++; /* n->free_whole is 0 until set below */
        t->dirty = true;
    }
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    if (id)
        *id = s->n_nodes;
    s->n_nodes++;
    if (tenant != SCHED_NONE)
        tenant_degraded_check(s, tenant, s->last_now);
    return 0;
nomem:
    free(n->gpus);
    free(n->labels);
    return -ALLOT_ENOMEM;
}

/* Validate a workspace spec's numbers. */
static int workspace_spec_check(const struct sched_workspace_spec *spec, char *err, size_t len)
{
    const int64_t *v = &spec->limits.gpu;
    for (int r = 0; r < 4; r++) {
        if (v[r] < 0 || (v[r] > QUANTITY_MAX && v[r] != SCHED_UNLIMITED)) {
            snprintf(err, len, "workspace '%s': limit %s must be between 0 and %lld", spec->name,
                     quota_resource_name((enum sched_resource)r), (long long)QUANTITY_MAX);
            return -ALLOT_ERANGE;
        }
    }
    if (spec->reserved < 0 || spec->reserved > QUANTITY_MAX) {
        snprintf(err, len, "workspace '%s': reserved gpu may not be negative", spec->name);
        return -ALLOT_ERANGE;
    }
    if (spec->limits.gpu != SCHED_UNLIMITED && spec->reserved > spec->limits.gpu) {
        char r[32], l[32];
        snprintf(err, len, "workspace '%s': reserved gpu %s is above its gpu limit %s", spec->name,
                 quantity_format_gpu(spec->reserved, r, sizeof(r)),
                 quantity_format_gpu(spec->limits.gpu, l, sizeof(l)));
        return -ALLOT_ECONFIG;
    }
    if (spec->weight < 1 || spec->weight > 1000000) {
        snprintf(err, len, "workspace '%s': weight must be between 1 and 1000000", spec->name);
        return -ALLOT_ERANGE;
    }
    return 0;
}

/* Would the tenant's reservations, with `delta` more, still fit in what it owns? */
static int reservation_check(const struct sched *s, uint32_t tid, int64_t delta,
                             const char *ws_name, char *err, size_t len)
{
    const struct sched_tenant *t = &s->tenants[tid];
    if (t->reserved_units + delta <= t->owned_units)
        return 0;
    char want[32], own[32];
    snprintf(err, len,
             "workspace '%s': tenant '%s' would reserve %s GPUs but owns only %s; lower a "
             "reservation or give the tenant more nodes",
             ws_name, t->name, quantity_format_gpu(t->reserved_units + delta, want, sizeof(want)),
             quantity_format_gpu(t->owned_units, own, sizeof(own)));
    return -ALLOT_ERESERVATION;
}

int sched_workspace_add(struct sched *s, const struct sched_workspace_spec *spec, uint32_t *id,
                        char *err, size_t len)
{
    uint32_t tenant, dummy;
    int rc = name_check(spec->name, "workspace", err, len);
    if (rc)
        return rc;
    const char *slash = strchr(spec->name, '/');
    if (!slash || slash == spec->name || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, len, "workspace name '%s' must be tenant/workspace", spec->name);
        return -ALLOT_EINVAL;
    }
    char tname[128];
    snprintf(tname, sizeof(tname), "%.*s", (int)(slash - spec->name), spec->name);
    if (hmap_get(&s->tenant_ids, tname, &tenant)) {
        snprintf(err, len, "workspace '%s': unknown tenant '%s'", spec->name, tname);
        return -ALLOT_ENOENT;
    }
    if (hmap_get(&s->workspace_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "workspace '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    rc = workspace_spec_check(spec, err, len);
    if (!rc)
        rc = reservation_check(s, tenant, spec->reserved, spec->name, err, len);
    if (rc)
        return rc;
    struct sched_tenant *t = &s->tenants[tenant];
    if (GROW(s->workspaces, s->n_workspaces, s->cap_workspaces) ||
        GROW(t->workspaces, t->n_workspaces, t->cap_workspaces))
        return -ALLOT_ENOMEM;
    struct sched_workspace *ws = &s->workspaces[s->n_workspaces];
    memset(ws, 0, sizeof(*ws));
    ws->name = arena_strdup(&s->names, spec->name);
    if (!ws->name || hmap_put(&s->workspace_ids, ws->name, s->n_workspaces))
        return -ALLOT_ENOMEM;
    ws->tenant = tenant;
    ws->limits = spec->limits;
    ws->reserved = spec->reserved;
    ws->lend = spec->lend;
    ws->weight = spec->weight;
    ws->queue_head = ws->queue_tail = ws->running_head = ws->preempt_head = SCHED_NONE;
    ws->acct_ms = s->last_now;
    t->workspaces[t->n_workspaces++] = s->n_workspaces;
    t->reserved_units += spec->reserved;
    t->dirty = true;
    if (id)
        *id = s->n_workspaces;
    s->n_workspaces++;
    tenant_degraded_check(s, tenant, s->last_now);
    return 0;
}

/* "reserved 4 -> 2, lend true -> false": what spec changes in ws. */
static void workspace_change_text(const struct sched_workspace *ws,
                                  const struct sched_workspace_spec *spec, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s:", ws->name);
    char a[32], b[32];
    const int64_t *old = &ws->limits.gpu, *new = &spec->limits.gpu;
    for (int r = 0; r < 4 && used < len; r++)
        if (old[r] != new[r])
            used += (size_t)snprintf(buf + used, len - used, " limit %s %s -> %s",
                                     quota_resource_name((enum sched_resource)r),
                                     quota_format((enum sched_resource)r, old[r], a, sizeof(a)),
                                     quota_format((enum sched_resource)r, new[r], b, sizeof(b)));
    if (ws->reserved != spec->reserved && used < len)
        used += (size_t)snprintf(buf + used, len - used, " reserved %s -> %s",
                                 quantity_format_gpu(ws->reserved, a, sizeof(a)),
                                 quantity_format_gpu(spec->reserved, b, sizeof(b)));
    if (ws->lend != spec->lend && used < len)
        used += (size_t)snprintf(buf + used, len - used, " lend %s -> %s",
                                 ws->lend ? "true" : "false", spec->lend ? "true" : "false");
    if (ws->weight != spec->weight && used < len)
        snprintf(buf + used, len - used, " weight %u -> %u", ws->weight, spec->weight);
}

int sched_workspace_update(struct sched *s, const struct sched_workspace_spec *spec, int64_t now,
                           char *err, size_t len)
{
    uint32_t wid;
    if (!spec->name || hmap_get(&s->workspace_ids, spec->name, &wid)) {
        snprintf(err, len, "no workspace '%s'", spec->name ? spec->name : "");
        return -ALLOT_ENOENT;
    }
    struct sched_workspace *ws = &s->workspaces[wid];
    int rc = workspace_spec_check(spec, err, len);
    if (!rc)
        rc = reservation_check(s, ws->tenant, spec->reserved - ws->reserved, spec->name, err, len);
    if (rc)
        return rc;
    struct sched_tenant *t = &s->tenants[ws->tenant];
    s->last_now = now;
    struct sched_event *e = event_emit(s, SCHED_EV_WORKSPACE_UPDATED, now, SCHED_NONE);
    e->workspace = wid;
    e->tenant = ws->tenant;
    workspace_change_text(ws, spec, e->message, sizeof(e->message));
    quota_account(ws, now);
    t->reserved_units += spec->reserved - ws->reserved;
    ws->limits = spec->limits;
    ws->reserved = spec->reserved;
    ws->lend = spec->lend;
    ws->weight = spec->weight;
    t->dirty = true;
    /* A lowered limit drains the newest running workloads until what stays fits. */
    for (;;) {
        struct sched_resources kept = ws->held;
        quota_add(&kept, &ws->draining, -1);
        quota_add(&kept, &ws->claimed, +1);
        bool over = false;
        for (int r = 0; r < 4; r++) {
            int64_t limit = quota_get(&ws->limits, (enum sched_resource)r);
            if (limit != SCHED_UNLIMITED && quota_get(&kept, (enum sched_resource)r) > limit)
                over = true;
        }
        if (!over)
            break;
        uint32_t newest = ws->running_head;
        if (newest == SCHED_NONE)
            break; /* only reclaiming work is left; it keeps its claim */
        lifecycle_drain(s, newest, SCHED_REASON_LIMIT_REDUCED, SCHED_NONE, now);
    }
    tenant_degraded_check(s, ws->tenant, now);
    return 0;
}

/* A workload's node or GPU failed under it: it is gone at once. Work being cancelled ends
 * cancelled; anything else is queued again. */
static void workload_evict(struct sched *s, uint32_t id, enum sched_reason why, int64_t now)
{
    if (s->workloads[id].state == SCHED_DRAINING &&
        s->workloads[id].reason == SCHED_REASON_CANCELLED)
        lifecycle_end(s, id, SCHED_CANCELLED, SCHED_REASON_CANCELLED, now);
    else
        lifecycle_end(s, id, SCHED_PENDING, why, now);
}

/* Stop every running or draining workload that uses node n (or only GPU gpu of it when
 * gpu >= 0) and give up every claim there; both go back to the queue. */
static void node_evict(struct sched *s, uint32_t node, int gpu, enum sched_reason why, int64_t now)
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
            if (*claim != SCHED_NONE && s->workloads[*claim].state == SCHED_RECLAIMING)
                lifecycle_unreclaim(s, *claim);
            if (*holder != SCHED_NONE)
                workload_evict(s, *holder, why, now);
        }
    }
    if (gpu >= 0)
        return;
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
            if (w->state == SCHED_RECLAIMING)
                lifecycle_unreclaim(s, i);
            else
                workload_evict(s, i, why, now);
            break;
        }
    }
}

static void node_change_state(struct sched *s, uint32_t node, enum sched_node_state state,
                              int64_t now);
static void node_move_finish(struct sched *s, uint32_t id, int64_t now);

int sched_node_set_state(struct sched *s, uint32_t node, enum sched_node_state state, int64_t now)
{
    if (node >= s->n_nodes || (unsigned)state > SCHED_NODE_DOWN)
        return -ALLOT_EINVAL;
    struct sched_node *n = &s->nodes[node];
    if (n->state == state)
        return 0;
    if (n->moving_to != SCHED_NONE && state == SCHED_NODE_READY)
        return -ALLOT_ESTATE; /* it drains until it has moved */
    /* a move completes after this change, not in the middle of it */
    uint32_t moving = n->moving_to;
    n->moving_to = SCHED_NONE;
    node_change_state(s, node, state, now);
    n->moving_to = moving;
    if (moving != SCHED_NONE)
        node_move_finish(s, node, now);
    return 0;
}

/* sched_node_set_state without the move handling. */
static void node_change_state(struct sched *s, uint32_t node, enum sched_node_state state,
                              int64_t now)
{
    struct sched_node *n = &s->nodes[node];
    s->last_now = now;
    struct sched_event *e = event_emit(s, SCHED_EV_NODE_STATE, now, SCHED_NONE);
    e->node = node;
    e->tenant = n->tenant;
    snprintf(e->message, sizeof(e->message), "node %s: %s -> %s", n->name,
             sched_node_state_name(n->state), sched_node_state_name(state));
    if (state == SCHED_NODE_DOWN)
        node_evict(s, node, -1, SCHED_REASON_NODE_DOWN, now);
    if (n->tenant == SCHED_NONE) {
        n->state = state;
        return;
    }
    struct sched_tenant *t = &s->tenants[n->tenant];
    if (n->state == SCHED_NODE_READY)
        t->healthy_units -= placement_node_units(n);
    t->free_units -= placement_node_free_units(s, n);
    n->state = state;
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n);
    t->free_units += placement_node_free_units(s, n);
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    t->dirty = true;
    tenant_degraded_check(s, n->tenant, now);
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
    if (!healthy)
        node_evict(s, node, (int)gpu, SCHED_REASON_GPU_UNHEALTHY, now);
    n->moving_to = moving;
    if (n->tenant == SCHED_NONE) {
        g->healthy = healthy;
        return 0;
    }
    struct sched_tenant *t = &s->tenants[n->tenant];
    int64_t units_before = placement_node_units(n), free_before = placement_node_free_units(s, n);
    g->healthy = healthy;
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n) - units_before;
    t->free_units += placement_node_free_units(s, n) - free_before;
    t->dirty = true;
    tenant_degraded_check(s, n->tenant, now);
    if (moving != SCHED_NONE)
        node_move_finish(s, node, now);
    return 0;
}

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
    t->nodes_by_free[0]--;
    t->owned_units -= node_owned_units(n);
    if (n->state == SCHED_NODE_READY)
        t->healthy_units -= placement_node_units(n);
    t->free_units -= placement_node_free_units(s, n);
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        if (t->nodes[k] == id) {
            memmove(&t->nodes[k], &t->nodes[k + 1], (t->n_nodes - k - 1) * sizeof(t->nodes[0]));
            t->n_nodes--;
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
    if (GROW(t->nodes, t->n_nodes, t->cap_nodes))
        return -ALLOT_ENOMEM;
    t->nodes[t->n_nodes++] = id;
    n->tenant = tid;
    if (n->state != SCHED_NODE_DOWN)
        n->state = SCHED_NODE_READY;
    t->owned_units += node_owned_units(n);
    if (n->state == SCHED_NODE_READY)
        t->healthy_units += placement_node_units(n);
    t->free_units += placement_node_free_units(s, n);
    t->nodes_by_free[0]++;
    placement_set_free_whole(s, n, placement_node_free_whole(n));
    t->dirty = true;
    tenant_degraded_check(s, tid, now);
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
    n->moving_to = SCHED_NONE;
    node_leave_tenant(s, id);
    if (from != SCHED_NONE)
        tenant_degraded_check(s, from, now);
    struct sched_event *e = event_emit(s, SCHED_EV_NODE_STATE, now, SCHED_NONE);
    e->node = id;
    e->tenant = to == SCHED_NO_TENANT ? SCHED_NONE : to;
    if (to == SCHED_NO_TENANT) { /* to nobody */
        if (n->state != SCHED_NODE_DOWN)
            n->state = SCHED_NODE_READY;
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
    /* no new work for the old tenant; what runs finishes or is cancelled by its owners */
    if (n->tenant != SCHED_NONE && n->state == SCHED_NODE_READY)
        sched_node_set_state(s, node, SCHED_NODE_DRAINING, now);
    n->moving_to = to == SCHED_NONE ? SCHED_NO_TENANT : to;
    n->wipe = wipe;
    node_move_finish(s, node, now);
    return 0;
}

/* Reject workload id: record why, emit rejected, return the reason's error. */
static int workload_reject(struct sched *s, uint32_t id, enum sched_reason why, const char *msg,
                           int64_t now, char *err, size_t len)
{
    struct sched_workload *w = &s->workloads[id];
    w->state = SCHED_REJECTED;
    w->reason = why;
    struct sched_event *e = event_emit(s, SCHED_EV_REJECTED, now, id);
    e->reason = why;
    snprintf(e->message, sizeof(e->message), "%s", msg);
    snprintf(err, len, "%s", msg);
    return -reason_error(why);
}

/* Fill the request fields of w from spec, with defaults. RET 0, or -ALLOT_EINVAL with the
 * problem in msg. */
static int workload_request(struct sched *s, struct sched_workload *w,
                            const struct sched_workload_spec *spec, char *msg, size_t len)
{
    if ((unsigned)spec->kind >= SCHED_KIND_COUNT) {
        snprintf(msg, len, "kind: unknown workload kind");
        return -ALLOT_EINVAL;
    }
    if (spec->replicas < 1 || spec->replicas > SCHED_MAX_REPLICAS) {
        snprintf(msg, len, "replicas: must be between 1 and %d", SCHED_MAX_REPLICAS);
        return -ALLOT_EINVAL;
    }
    if (spec->gpus > SCHED_MAX_GPUS_PER_NODE) {
        snprintf(msg, len, "gpus: %u GPUs per replica; no node has more than %d", spec->gpus,
                 SCHED_MAX_GPUS_PER_NODE);
        return -ALLOT_EINVAL;
    }
    if (spec->mig >= 0 && (spec->gpus > 0 || !mig_name(spec->mig))) {
        snprintf(msg, len, "mig: a replica asks for whole GPUs or one MIG slice, not both");
        return -ALLOT_EINVAL;
    }
    if (spec->model >= GPU_MODEL_COUNT || spec->model < -1) {
        snprintf(msg, len, "model: unknown GPU model");
        return -ALLOT_EINVAL;
    }
    if (spec->cpu < 0 || spec->memory < 0 || spec->storage < 0 || spec->cpu > QUANTITY_MAX ||
        spec->memory > QUANTITY_MAX || spec->storage > QUANTITY_MAX) {
        snprintf(msg, len, "cpu, memory and storage must be between 0 and %lld",
                 (long long)QUANTITY_MAX);
        return -ALLOT_EINVAL;
    }
    if (spec->grace_ms < -1 || spec->grace_ms > QUANTITY_MAX) {
        snprintf(msg, len, "grace: must not be negative");
        return -ALLOT_EINVAL;
    }
    w->kind = spec->kind;
    w->priority = spec->has_priority ? spec->priority : s->opt.kind_priority[spec->kind];
    w->preemptible =
        spec->preemptible < 0 ? spec->kind != SCHED_KIND_INFERENCE : spec->preemptible != 0;
    w->gpus = spec->gpus;
    w->mig = (int16_t)spec->mig;
    w->model = (int16_t)spec->model;
    w->replicas = spec->replicas;
    w->cpu = spec->cpu;
    w->memory = spec->memory;
    w->storage = spec->storage;
    w->grace_ms = spec->grace_ms < 0 ? s->opt.default_grace_ms : spec->grace_ms;
    const struct sched_tenant *t = &s->tenants[w->tenant];
    if (t->max_grace_ms > 0 && w->grace_ms > t->max_grace_ms)
        w->grace_ms = t->max_grace_ms;
    return 0;
}

/* Charge of one MIG slice of profile name_id for a workload of tenant t (model filter
 * model): the same on every model the tenant owns that offers it, or ambiguous.
 * RET units (> 0), 0 when no owned GPU offers it, -1 when the charge differs by model. */
static int64_t mig_charge(const struct sched *s, uint32_t tid, int name_id, int model)
{
    int64_t units = 0;
    const struct sched_tenant *t = &s->tenants[tid];
    bool seen[GPU_MODEL_COUNT] = {false};
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        const struct sched_node *n = &s->nodes[t->nodes[k]];
        for (uint32_t i = 0; i < n->n_gpus; i++)
            seen[n->gpus[i].model] = true;
    }
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        if (!seen[m] || (model >= 0 && m != model))
            continue;
        const struct mig_profile *p = mig_profile_of((enum gpu_model)m, name_id);
        if (!p)
            continue;
        if (units && units != p->units)
            return -1;
        units = p->units;
    }
    return units;
}

int sched_submit(struct sched *s, const struct sched_workload_spec *spec, int64_t now, uint32_t *id,
                 char *err, size_t len)
{
    char msg[sizeof(((struct sched_event *)0)->message)];
    uint32_t dummy, wsid = SCHED_NONE;
    int rc = name_check(spec->name, "workload", err, len);
    if (rc)
        return rc;
    if (hmap_get(&s->workload_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "workload '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    /* a slot of a forgotten workload first (sched_workload_forget), else a new one */
    bool reuse = s->n_free > 0;
    if (!reuse && GROW(s->workloads, s->n_workloads, s->cap_workloads))
        return -ALLOT_ENOMEM;
    uint32_t wid = reuse ? s->free_ids[s->n_free - 1] : s->n_workloads;
    struct sched_workload *w = &s->workloads[wid];
    memset(w, 0, sizeof(*w));
    w->name = strdup(spec->name);
    uint32_t n_replicas =
        spec->replicas >= 1 && spec->replicas <= SCHED_MAX_REPLICAS ? spec->replicas : 1;
    w->placement = calloc(n_replicas, sizeof(*w->placement));
    if (!w->name || !w->placement || hmap_put(&s->workload_ids, w->name, wid)) {
        free(w->placement);
        free((char *)w->name);
        w->name = NULL;
        w->placement = NULL;
        w->state = SCHED_REJECTED; /* a free slot stays one */
        return -ALLOT_ENOMEM;
    }
    if (reuse)
        s->n_free--;
    else
        s->n_workloads++;
    s->last_now = now;
    w->qprev = w->qnext = w->rprev = w->rnext = w->fprev = w->fnext = w->reclaim_for = SCHED_NONE;
    w->pprev = w->pnext = SCHED_NONE;
    w->seq = s->next_seq++;
    w->submit_ms = w->queued_ms = now;
    w->mig = -1;
    w->model = -1;
    w->replicas = 1;
    w->state = SCHED_PENDING;
    if (id)
        *id = wid;
    bool known = spec->workspace && hmap_get(&s->workspace_ids, spec->workspace, &wsid) == 0;
    w->workspace = known ? wsid : 0;
    w->tenant = known ? s->workspaces[wsid].tenant : 0;
    event_emit(s, SCHED_EV_SUBMITTED, now, wid)->tenant = known ? w->tenant : SCHED_NONE;
    if (!known) {
        snprintf(msg, sizeof(msg), "workspace: no workspace '%s'",
                 spec->workspace ? spec->workspace : "");
        return workload_reject(s, wid, SCHED_REASON_UNKNOWN_WORKSPACE, msg, now, err, len);
    }
    if (workload_request(s, w, spec, msg, sizeof(msg)))
        return workload_reject(s, wid, SCHED_REASON_INVALID_REQUEST, msg, now, err, len);
    const struct sched_workspace *ws = &s->workspaces[wsid];
    if (w->mig >= 0) {
        w->units_per_replica = mig_charge(s, w->tenant, w->mig, w->model);
        if (w->units_per_replica < 0) {
            snprintf(msg, sizeof(msg),
                     "mig: profile %s means different slices on the GPU models of tenant %s; "
                     "name a model",
                     mig_name(w->mig), s->tenants[w->tenant].name);
            return workload_reject(s, wid, SCHED_REASON_INVALID_REQUEST, msg, now, err, len);
        }
    } else {
        w->units_per_replica = (int64_t)w->gpus * QUANTITY_GPU_UNITS;
    }
    w->total.gpu = w->units_per_replica * w->replicas;
    w->total.cpu = w->cpu * w->replicas;
    w->total.memory = w->memory * w->replicas;
    w->total.storage = w->storage * w->replicas;
    /* the order of docs/policy.md: limits, reservation, then what the tenant owns */
    enum sched_resource which;
    struct sched_workspace empty = *ws;
    memset(&empty.held, 0, sizeof(empty.held));
    memset(&empty.claimed, 0, sizeof(empty.claimed));
    if (!quota_fits_limits(&empty, &w->total, &which)) {
        char want[32], limit[32];
        snprintf(msg, sizeof(msg), "%s: asks for %s in all, above workspace %s's limit of %s",
                 quota_resource_name(which),
                 quota_format(which, quota_get(&w->total, which), want, sizeof(want)), ws->name,
                 quota_format(which, quota_get(&ws->limits, which), limit, sizeof(limit)));
        return workload_reject(s, wid, SCHED_REASON_EXCEEDS_LIMIT, msg, now, err, len);
    }
    if (!w->preemptible && w->total.gpu > ws->reserved) {
        char want[32], res[32];
        snprintf(msg, sizeof(msg),
                 "preemptible: a non-preemptible workload runs only within its reservation; it "
                 "asks for %s GPUs and %s reserves %s",
                 quantity_format_gpu(w->total.gpu, want, sizeof(want)), ws->name,
                 quantity_format_gpu(ws->reserved, res, sizeof(res)));
        return workload_reject(s, wid, SCHED_REASON_EXCEEDS_RESERVATION, msg, now, err, len);
    }
    int why = placement_possible(s, w, msg, sizeof(msg));
    if (why)
        return workload_reject(s, wid, (enum sched_reason)why, msg, now, err, len);
    queue_insert(s, wid);
    /* only new work: the next pass may look at it alone (sched_schedule) */
    s->tenants[w->tenant].n_arrivals++;
    s->tenants[w->tenant].arrival = wid;
    return 0;
}

int sched_workload_forget(struct sched *s, uint32_t id)
{
    if (id >= s->n_workloads || !s->workloads[id].name)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_FINISHED && w->state != SCHED_CANCELLED && w->state != SCHED_REJECTED)
        return -ALLOT_ESTATE;
    if (s->n_free == s->cap_free) {
        uint32_t cap = s->cap_free ? s->cap_free * 2 : 64;
        uint32_t *p = realloc(s->free_ids, cap * sizeof(*p));
        if (!p)
            return -ALLOT_ENOMEM;
        s->free_ids = p;
        s->cap_free = cap;
    }
    hmap_del(&s->workload_ids, w->name);
    free((char *)w->name);
    free(w->placement);
    w->name = NULL;
    w->placement = NULL;
    w->replicas = 0;
    s->free_ids[s->n_free++] = id;
    return 0;
}

int sched_cancel(struct sched *s, uint32_t id, int64_t now)
{
    if (id >= s->n_workloads)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    s->last_now = now;
    if (w->state == SCHED_RECLAIMING)
        lifecycle_unreclaim(s, id); /* pending again, then dropped below */
    switch (w->state) {
    case SCHED_PENDING:
        queue_remove(s, id);
        w->state = SCHED_CANCELLED;
        event_emit(s, SCHED_EV_CANCELLED, now, id)->reason = SCHED_REASON_CANCELLED;
        s->tenants[w->tenant].dirty = true;
        return 0;
    case SCHED_RUNNING:
        lifecycle_drain(s, id, SCHED_REASON_CANCELLED, SCHED_NONE, now);
        return 0;
    case SCHED_DRAINING:
        /* already stopping; cancelling it means it will not be queued again */
        w->reason = SCHED_REASON_CANCELLED;
        return 0;
    default:
        return -ALLOT_ESTATE;
    }
}

int sched_finish(struct sched *s, uint32_t id, int64_t now)
{
    if (id >= s->n_workloads)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_RUNNING && w->state != SCHED_DRAINING)
        return -ALLOT_ESTATE;
    s->last_now = now;
    lifecycle_end(s, id, SCHED_FINISHED, SCHED_REASON_NONE, now);
    return 0;
}

int sched_stopped(struct sched *s, uint32_t id, int64_t now)
{
    if (id >= s->n_workloads)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_DRAINING)
        return -ALLOT_ESTATE;
    s->last_now = now;
    if (w->reason == SCHED_REASON_CANCELLED)
        lifecycle_end(s, id, SCHED_CANCELLED, SCHED_REASON_CANCELLED, now);
    else
        lifecycle_end(s, id, SCHED_PENDING, w->reason, now);
    return 0;
}

void sched_touch(struct sched *s)
{
    for (uint32_t i = 0; i < s->n_tenants; i++)
        if (s->tenants[i].fifo_head != SCHED_NONE)
            s->tenants[i].dirty = true;
}

void sched_account_flush(struct sched *s, int64_t now)
{
    for (uint32_t i = 0; i < s->n_workspaces; i++)
        quota_account(&s->workspaces[i], now);
}

const struct sched_event *sched_events(const struct sched *s, uint32_t *n)
{
    *n = s->n_events;
    return s->events;
}

void sched_events_clear(struct sched *s)
{
    s->n_events = 0;
}

int sched_workload_find(const struct sched *s, const char *name, uint32_t *id)
{
    return hmap_get(&s->workload_ids, name, id);
}

int sched_node_find(const struct sched *s, const char *name, uint32_t *id)
{
    return hmap_get(&s->node_ids, name, id);
}

int sched_workspace_find(const struct sched *s, const char *name, uint32_t *id)
{
    return hmap_get(&s->workspace_ids, name, id);
}

int sched_tenant_find(const struct sched *s, const char *name, uint32_t *id)
{
    return hmap_get(&s->tenant_ids, name, id);
}

static const char *const state_names[] = {"pending",  "reclaiming", "running", "draining",
                                          "finished", "cancelled",  "rejected"};
static const char *const kind_names[] = {"training", "finetune", "inference", "experiment"};
static const char *const event_names[] = {"submitted",
                                          "queued",
                                          "rejected",
                                          "admitted",
                                          "preempting",
                                          "stopped",
                                          "finished",
                                          "cancelled",
                                          "reservation_degraded",
                                          "reservation_restored",
                                          "node_state",
                                          "gpu_health",
                                          "workspace_updated"};
static const char *const node_state_names[] = {"ready", "draining", "down"};

/* Index of name in a table of n names, or -ALLOT_ENOENT. */
static int name_index(const char *const *table, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(table[i], name) == 0)
            return i;
    return -ALLOT_ENOENT;
}

const char *sched_state_name(enum sched_state st)
{
    return (unsigned)st < SCHED_STATE_COUNT ? state_names[st] : "unknown";
}

const char *sched_kind_name(enum sched_kind k)
{
    return (unsigned)k < SCHED_KIND_COUNT ? kind_names[k] : "unknown";
}

int sched_kind_parse(const char *name, enum sched_kind *k)
{
    int i = name_index(kind_names, SCHED_KIND_COUNT, name);
    if (i < 0)
        return i;
    *k = (enum sched_kind)i;
    return 0;
}

int sched_state_parse(const char *name, enum sched_state *st)
{
    int i = name_index(state_names, SCHED_STATE_COUNT, name);
    if (i < 0)
        return i;
    *st = (enum sched_state)i;
    return 0;
}

const char *sched_event_name(enum sched_event_kind k)
{
    return (unsigned)k < SCHED_EV_COUNT ? event_names[k] : "unknown";
}

int sched_event_parse(const char *name, enum sched_event_kind *k)
{
    int i = name_index(event_names, SCHED_EV_COUNT, name);
    if (i < 0)
        return i;
    *k = (enum sched_event_kind)i;
    return 0;
}

const char *sched_node_state_name(enum sched_node_state st)
{
    return (unsigned)st <= SCHED_NODE_DOWN ? node_state_names[st] : "unknown";
}

int sched_node_state_parse(const char *name, enum sched_node_state *st)
{
    int i = name_index(node_state_names, 3, name);
    if (i < 0)
        return i;
    *st = (enum sched_node_state)i;
    return 0;
}
