/* The engine itself: creating and freeing it, tenants and clusters, look-ups by name, the
 * event list and the names of its enums. Workspaces, nodes and workloads have their own
 * files (workspace.c, node.c, workload.c); the admission pass is in admission.c. */
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "sched/engine.h"
#include "sched/topology.h"
#include "sched/quota.h"

void sched_options_default(struct sched_options *opt)
{
    memset(opt, 0, sizeof(*opt)); /* no topology levels */
    opt->default_grace_ms = 30 * 1000;
    opt->starvation_age_ms = 10 * 60 * 1000;
    /* inference serves users, so it comes first; experiments last */
    opt->kind_priority[SCHED_KIND_TRAINING] = 100;
    opt->kind_priority[SCHED_KIND_FINETUNE] = 100;
    opt->kind_priority[SCHED_KIND_INFERENCE] = 1000;
    opt->kind_priority[SCHED_KIND_EXPERIMENT] = 50;
    opt->checkpoint_aware = true;
}

int sched_new(const struct sched_options *opt, struct sched **out)
{
    struct sched *s = calloc(1, sizeof(*s));
    struct sched_scratch *scratch = calloc(1, sizeof(*scratch));
    if (!s || !scratch) {
        free(s);
        free(scratch);
        return -ALLOT_ENOMEM;
    }
    scratch->backfill_claimant = SCHED_NONE;
    s->scratch = scratch;
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
    hmap_init(&s->domain_ids);
    s->opt.n_topology = 0; /* the caller's names: copied next */
    if (opt && opt->n_topology) {
        char err[160];
        int rc = sched_topology_set(s, opt->topology, opt->n_topology, err, sizeof(err));
        if (rc) {
            sched_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        free(s->tenants[i].nodes);
        free(s->tenants[i].node_free);
        free(s->tenants[i].node_mig);
        free(s->tenants[i].workspaces);
        free(s->tenants[i].fence);
    }
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        free(s->workspaces[i].preempt);
        free(s->workspaces[i].queue);
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
    engine_scratch_free(s->scratch);
    topology_free(s);
    hmap_cleanup(&s->domain_ids);
    hmap_cleanup(&s->tenant_ids);
    hmap_cleanup(&s->cluster_ids);
    hmap_cleanup(&s->node_ids);
    hmap_cleanup(&s->workspace_ids);
    hmap_cleanup(&s->workload_ids);
    arena_cleanup(&s->names);
    free(s);
}

int sched_tenant_add(struct sched *s, const struct sched_tenant_spec *spec, uint32_t *id, char *err,
                     size_t len)
{
    uint32_t dummy;
    int rc = engine_name_check(spec->name, "tenant", err, len);
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
    if (spec->max_queued > SCHED_MAX_QUEUED) {
        snprintf(err, len, "tenant '%s': limits.queued must be between 1 and %d", spec->name,
                 SCHED_MAX_QUEUED);
        return -ALLOT_ERANGE;
    }
    if (ARRAY_GROW(s->tenants, s->n_tenants, s->cap_tenants))
        return -ALLOT_ENOMEM;
    struct sched_tenant *t = &s->tenants[s->n_tenants];
    memset(t, 0, sizeof(*t));
    t->name = arena_strdup(&s->names, spec->name);
    if (!t->name || hmap_put(&s->tenant_ids, t->name, s->n_tenants))
        return -ALLOT_ENOMEM;
    t->isolation = spec->isolation;
    t->fifo_head = t->fifo_tail = t->held_by = SCHED_NONE;
    t->max_grace_ms = spec->max_grace_ms;
    t->require_image = spec->require_image;
    t->max_queued = spec->max_queued ? spec->max_queued : SCHED_QUEUED_TENANT_DEFAULT;
    if (id)
        *id = s->n_tenants;
    s->n_tenants++;
    return 0;
}

int sched_cluster_add(struct sched *s, const struct sched_cluster_spec *spec, uint32_t *id,
                      char *err, size_t len)
{
    uint32_t tenant = SCHED_NONE, dummy;
    int rc = engine_name_check(spec->name, "cluster", err, len);
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
    if (ARRAY_GROW(s->clusters, s->n_clusters, s->cap_clusters))
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

const char *sched_broken(const struct sched *s)
{
    return s->scratch->broken[0] ? s->scratch->broken : NULL;
}

static const char *const state_names[] = {"pending",  "reclaiming", "running",  "draining",
                                          "finished", "cancelled",  "rejected", "failed"};
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
                                          "workspace_updated",
                                          "failed"};
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

bool sched_state_ended(enum sched_state st)
{
    return st == SCHED_FINISHED || st == SCHED_FAILED || st == SCHED_CANCELLED ||
           st == SCHED_REJECTED;
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
