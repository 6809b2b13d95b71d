/* Topology domains and the placement of gangs within them (topology.h; the policy is
 * docs/policy.md, "Topology"). A domain belongs to one tenant, so that its counters are
 * those of the nodes its gangs may use. */
#include "sched/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/placement.h"

/* Longest label value a domain key is built on the stack for; longer ones use the heap. */
#define TOPOLOGY_KEY_STACK 256

/* The label value node n has for key, or NULL. */
static const char *node_label(const struct sched_node *n, const char *key)
{
    for (uint32_t i = 0; i < n->n_labels; i++)
        if (strcmp(n->labels[i].key, key) == 0)
            return n->labels[i].value;
    return NULL;
}

/* The domain of tenant t at level named value, made when missing. RET 0 and *id, or
 * -ALLOT_ENOMEM. */
static int domain_get(struct sched *s, uint32_t t, uint32_t level, const char *value, uint32_t *id)
{
    char stack[TOPOLOGY_KEY_STACK + 32];
    size_t need = strlen(value) + 32;
    char *key = need <= sizeof(stack) ? stack : malloc(need);
    int rc = 0;
    if (!key)
        return -ALLOT_ENOMEM;
    snprintf(key, need, "%u/%u/%s", t, level, value);
    if (hmap_get(&s->domain_ids, key, id) == 0)
        goto out;
    rc = ARRAY_GROW(s->domains, s->n_domains, s->cap_domains) ? -ALLOT_ENOMEM : 0;
    const char *kept = rc ? NULL : arena_strdup(&s->names, key);
    const char *v = kept ? arena_strdup(&s->names, value) : NULL;
    if (!v || hmap_put(&s->domain_ids, kept, s->n_domains)) {
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    s->domains[s->n_domains] =
        (struct sched_domain){.tenant = t, .level = level, .value = v, .nodes = NULL};
    *id = s->n_domains++;
out:
    if (key != stack)
        free(key);
    return rc;
}

uint32_t sched_node_domain(const struct sched *s, uint32_t node, uint32_t level)
{
    if (level >= s->opt.n_topology || node >= s->cap_node_domains)
        return SCHED_NONE;
    return s->node_domains[(size_t)node * s->opt.n_topology + level];
}

/* Node id's row of s->node_domains, made (all SCHED_NONE) when missing. RET it, or NULL
 * without levels or memory. */
static uint32_t *node_row(struct sched *s, uint32_t id)
{
    uint32_t width = s->opt.n_topology;
    if (!width)
        return NULL;
    if (id >= s->cap_node_domains) {
        uint32_t cap = s->cap_node_domains ? s->cap_node_domains : 64;
        while (cap <= id)
            cap *= 2;
        uint32_t *p = realloc(s->node_domains, (size_t)cap * width * sizeof(*p));
        if (!p)
            return NULL;
        for (size_t i = (size_t)s->cap_node_domains * width; i < (size_t)cap * width; i++)
            p[i] = SCHED_NONE;
        s->node_domains = p;
        s->cap_node_domains = cap;
    }
    return &s->node_domains[(size_t)id * width];
}

int topology_node_join(struct sched *s, uint32_t id)
{
    struct sched_node *n = &s->nodes[id];
    uint32_t *row = node_row(s, id);
    if (!s->opt.n_topology)
        return 0;
    if (!row)
        return -ALLOT_ENOMEM;
    for (uint32_t l = 0; l < s->opt.n_topology; l++)
        row[l] = SCHED_NONE;
    if (n->tenant == SCHED_NONE)
        return 0;
    for (uint32_t l = 0; l < s->opt.n_topology; l++) {
        const char *value = node_label(n, s->opt.topology[l]);
        uint32_t d;
        if (!value)
            continue;
        if (domain_get(s, n->tenant, l, value, &d) ||
            ARRAY_GROW(s->domains[d].nodes, s->domains[d].n_nodes, s->domains[d].cap_nodes)) {
            topology_node_leave(s, id);
            return -ALLOT_ENOMEM;
        }
        struct sched_domain *dom = &s->domains[d];
        dom->nodes[dom->n_nodes++] = id;
        dom->free_whole += n->free_whole;
        row[l] = d;
    }
    return 0;
}

void topology_node_leave(struct sched *s, uint32_t id)
{
    const struct sched_node *n = &s->nodes[id];
    if (id >= s->cap_node_domains)
        return; /* in no domain */
    uint32_t *row = &s->node_domains[(size_t)id * s->opt.n_topology];
    for (uint32_t l = 0; l < s->opt.n_topology; l++) {
        if (row[l] == SCHED_NONE)
            continue;
        struct sched_domain *dom = &s->domains[row[l]];
        for (uint32_t k = 0; k < dom->n_nodes; k++) {
            if (dom->nodes[k] == id) {
                memmove(&dom->nodes[k], &dom->nodes[k + 1],
                        (dom->n_nodes - k - 1) * sizeof(dom->nodes[0]));
                dom->n_nodes--;
                break;
            }
        }
        dom->free_whole -= n->free_whole;
        row[l] = SCHED_NONE;
    }
}

void topology_free(struct sched *s)
{
    for (uint32_t i = 0; i < s->n_domains; i++)
        free(s->domains[i].nodes);
    free(s->domains);
    s->domains = NULL;
    s->n_domains = s->cap_domains = 0;
    free(s->node_domains);
    s->node_domains = NULL;
    s->cap_node_domains = 0;
    hmap_cleanup(&s->domain_ids);
    hmap_init(&s->domain_ids);
}

int topology_rebuild(struct sched *s)
{
    topology_free(s);
    for (uint32_t i = 0; i < s->n_nodes; i++)
        if (topology_node_join(s, i))
            return -ALLOT_ENOMEM;
    return 0;
}

int sched_topology_find(const struct sched *s, const char *name, uint32_t *level)
{
    for (uint32_t l = 0; name && l < s->opt.n_topology; l++) {
        if (strcmp(s->opt.topology[l], name) == 0) {
            *level = l;
            return 0;
        }
    }
    return -ALLOT_ENOENT;
}

int sched_topology_set(struct sched *s, const char *const *levels, uint32_t n, char *err,
                       size_t len)
{
    const char *copy[SCHED_MAX_TOPOLOGY_LEVELS] = {NULL};
    if (n > SCHED_MAX_TOPOLOGY_LEVELS) {
        snprintf(err, len, "topology: %u levels; at most %d are allowed", n,
                 SCHED_MAX_TOPOLOGY_LEVELS);
        return -ALLOT_EINVAL;
    }
    bool same = n == s->opt.n_topology;
    for (uint32_t l = 0; l < n; l++) {
        int rc = engine_name_check(levels[l], "topology level", err, len);
        if (rc)
            return rc;
        for (uint32_t k = 0; k < l; k++) {
            if (strcmp(levels[k], levels[l]) == 0) {
                snprintf(err, len, "topology: level '%s' is named twice", levels[l]);
                return -ALLOT_EINVAL;
            }
        }
        same = same && strcmp(levels[l], s->opt.topology[l]) == 0;
    }
    if (same)
        return 0;
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (w->name && !sched_state_ended(w->state) && w->topology_level >= 0) {
            snprintf(err, len,
                     "topology: workload '%s' names level '%s'; the levels cannot change "
                     "while it is in flight",
                     w->name, s->opt.topology[w->topology_level]);
            return -ALLOT_EINVAL;
        }
    }
    for (uint32_t l = 0; l < n; l++)
        if (!(copy[l] = arena_strdup(&s->names, levels[l])))
            return -ALLOT_ENOMEM;
    memcpy(s->opt.topology, copy, sizeof(copy));
    s->opt.n_topology = n;
    /* levels of ended workloads name nothing now */
    for (uint32_t i = 0; i < s->n_workloads; i++)
        if (s->workloads[i].topology_level >= (int)n)
            s->workloads[i].topology_level = -1;
    for (uint32_t i = 0; i < s->n_tenants; i++)
        s->tenants[i].dirty = true;
    return topology_rebuild(s);
}

bool topology_applies(const struct sched_workload *w)
{
    return w->topology_level >= 0 && w->replicas > 1;
}

static int room_cmp(const void *pa, const void *pb)
{
    const struct engine_domain_room *a = pa, *b = pb;
    if (a->room != b->room)
        return a->room < b->room ? -1 : 1;
    return a->domain < b->domain ? -1 : a->domain > b->domain;
}

/* Place workload id within one domain of level: the candidates are its tenant's domains of
 * that level (gathered from its nodes, so that other tenants' domains cost nothing), tried
 * from the least room to the most (best fit keeps large domains whole). RET 0,
 * -ALLOT_ENOFIT, or -ALLOT_ENOMEM. */
static int claim_at_level(struct sched *s, uint32_t id, uint32_t level)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    bool avoid = s->scratch->avoid_fence[id] && t->n_fence > 0;
    bool whole = w->mig < 0 && w->gpus > 0;
    if (engine_rooms_reserve(s, s->n_domains))
        return -ALLOT_ENOMEM;
    struct engine_domain_room *rooms = s->scratch->rooms;
    uint32_t *room_of = s->scratch->room_of, n_rooms = 0; /* 1 + index in rooms, or 0 */
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        const struct sched_node *n = &s->nodes[t->nodes[k]];
        uint32_t d = s->node_domains[(size_t)t->nodes[k] * s->opt.n_topology + level];
        if (d == SCHED_NONE)
            continue;
        if (!room_of[d]) {
            rooms[n_rooms] = (struct engine_domain_room){0, whole ? 0 : UINT32_MAX, d};
            room_of[d] = ++n_rooms;
        }
        if (n->state != SCHED_NODE_READY || (avoid && n->fenced))
            continue;
        struct engine_domain_room *r = &rooms[room_of[d] - 1];
        if (whole) {
            uint32_t free = n->free_whole + s->scratch->node[t->nodes[k]].victim_whole;
            r->room += free;
            r->fits += free / w->gpus;
        } else {
            r->room += w->mig >= 0 ? placement_node_free_units(s, n)
                                   : n->cpu - n->cpu_used - n->cpu_claimed;
        }
    }
    uint32_t kept = 0;
    for (uint32_t r = 0; r < n_rooms; r++) {
        room_of[rooms[r].domain] = 0;     /* clear for the next search */
        if (rooms[r].fits >= w->replicas) /* else too few GPUs there whatever the search finds */
            rooms[kept++] = rooms[r];
    }
    if (kept > 1) /* (rooms may be a null array when there are none) */
        qsort(rooms, kept, sizeof(*rooms), room_cmp);
    int rc = -ALLOT_ENOFIT;
    for (uint32_t r = 0; r < kept && rc == -ALLOT_ENOFIT; r++) {
        const struct sched_domain *dom = &s->domains[rooms[r].domain];
        rc = placement_claim_in(s, id, dom->nodes, dom->n_nodes);
    }
    return rc;
}

int topology_claim(struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    int level = w->topology_level;
    int rc = claim_at_level(s, id, (uint32_t)level);
    if (w->topology_required || rc != -ALLOT_ENOFIT)
        return rc == -ALLOT_ENOMEM ? (s->oom = true, -ALLOT_ENOFIT) : rc;
    while (rc == -ALLOT_ENOFIT && --level >= 0)
        rc = claim_at_level(s, id, (uint32_t)level);
    if (rc == -ALLOT_ENOFIT) {
        const struct sched_tenant *t = &s->tenants[w->tenant];
        rc = placement_claim_in(s, id, t->nodes, t->n_nodes);
    }
    return rc == -ALLOT_ENOMEM ? (s->oom = true, -ALLOT_ENOFIT) : rc;
}

int topology_pack_cmp(const struct sched *s, const struct sched_node *a, const struct sched_node *b)
{
    uint32_t ia = (uint32_t)(a - s->nodes), ib = (uint32_t)(b - s->nodes);
    for (uint32_t l = 0; l < s->opt.n_topology; l++) {
        uint32_t da = sched_node_domain(s, ia, l), db = sched_node_domain(s, ib, l);
        uint32_t fa = da == SCHED_NONE ? 0 : s->domains[da].free_whole;
        uint32_t fb = db == SCHED_NONE ? 0 : s->domains[db].free_whole;
        if (fa != fb)
            return fa < fb ? -1 : 1;
    }
    return 0;
}

uint32_t topology_largest(const struct sched *s, uint32_t t, uint32_t level)
{
    uint32_t best = SCHED_NONE;
    for (uint32_t d = 0; d < s->n_domains; d++) {
        const struct sched_domain *dom = &s->domains[d];
        if (dom->tenant == t && dom->level == level && dom->n_nodes &&
            (best == SCHED_NONE || dom->free_whole > s->domains[best].free_whole))
            best = d;
    }
    return best;
}

bool topology_fence_domain(const struct sched *s, uint32_t id,
                           bool (*fits)(const struct sched_node *, const struct sched_workload *),
                           const uint32_t **nodes, uint32_t *n)
{
    const struct sched_workload *w = &s->workloads[id];
    uint32_t best = SCHED_NONE;
    for (uint32_t d = 0; d < s->n_domains; d++) {
        const struct sched_domain *dom = &s->domains[d];
        if (dom->tenant != w->tenant || dom->level != (uint32_t)w->topology_level)
            continue;
        uint32_t able = 0;
        for (uint32_t k = 0; k < dom->n_nodes; k++)
            able += fits(&s->nodes[dom->nodes[k]], w);
        if (able >= w->replicas &&
            (best == SCHED_NONE || dom->free_whole > s->domains[best].free_whole))
            best = d;
    }
    if (best == SCHED_NONE)
        return false;
    *nodes = s->domains[best].nodes;
    *n = s->domains[best].n_nodes;
    return true;
}

int topology_check(const struct sched *s, char *err, size_t len)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const struct sched_node *n = &s->nodes[i];
        for (uint32_t l = 0; l < s->opt.n_topology; l++) {
            const char *value = n->tenant != SCHED_NONE ? node_label(n, s->opt.topology[l]) : NULL;
            uint32_t d = sched_node_domain(s, i, l);
            bool ok = value
                          ? d < s->n_domains && s->domains[d].tenant == n->tenant &&
                                s->domains[d].level == l && strcmp(s->domains[d].value, value) == 0
                          : d == SCHED_NONE;
            if (!ok)
                return snprintf(err, len,
                                "node %s is not in the domain its label names at "
                                "topology level %u",
                                n->name, l),
                       -1;
        }
    }
    for (uint32_t d = 0; d < s->n_domains; d++) {
        const struct sched_domain *dom = &s->domains[d];
        uint32_t free_whole = 0;
        for (uint32_t k = 0; k < dom->n_nodes; k++) {
            const struct sched_node *n = &s->nodes[dom->nodes[k]];
            if (sched_node_domain(s, dom->nodes[k], dom->level) != d)
                return snprintf(err, len, "topology domain %s lists node %s, not in it", dom->value,
                                n->name),
                       -1;
            free_whole += n->free_whole;
        }
        if (free_whole != dom->free_whole)
            return snprintf(err, len,
                            "topology domain %s counts %u free whole GPUs; its nodes have %u",
                            dom->value, dom->free_whole, free_whole),
                   -1;
    }
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        bool placed =
            w->state == SCHED_RUNNING || w->state == SCHED_DRAINING || w->state == SCHED_RECLAIMING;
        if (!w->name || !placed || !topology_applies(w) || !w->topology_required)
            continue;
        uint32_t level = (uint32_t)w->topology_level;
        uint32_t d = sched_node_domain(s, w->placement[0].node, level);
        for (uint32_t r = 0; r < w->replicas; r++)
            if (d == SCHED_NONE || sched_node_domain(s, w->placement[r].node, level) != d)
                return snprintf(err, len,
                                "workload %s requires one %s, but its replicas are not all in "
                                "one",
                                w->name, s->opt.topology[w->topology_level]),
                       -1;
    }
    return 0;
}
