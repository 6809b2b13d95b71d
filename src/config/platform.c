/* The platform schema: scheduler options, tenants with their workspaces, clusters and nodes,
 * checked field by field and then applied to a new engine in dependency order. */
#include "config/platform.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/hmap.h"
#include "common/quantity.h"
#include "config/ydoc.h"

/* Label keys and values: the bound Kubernetes uses. */
#define PLATFORM_MAX_LABEL 253

static const char *const platform_keys[] = {"scheduler", "tenants", "clusters", "nodes", NULL};
static const char *const scheduler_keys[] = {"default_grace", "starvation_age", NULL};
static const char *const tenant_keys[] = {"name", "isolation", "max_grace", "workspaces", NULL};
static const char *const workspace_keys[] = {"name", "reserved", "limits", "lend", "weight", NULL};
static const char *const reserved_keys[] = {"gpu", NULL};
static const char *const cluster_keys[] = {"name", "dedicated_to", NULL};
static const char *const node_keys[] = {"name",  "cluster", "tenant", "cpu", "memory",
                                        "state", "labels",  "gpus",   NULL};
static const char *const gpu_keys[] = {"model", "count", "healthy", "mig", NULL};
static const char *const mig_keys[] = {"profile", "start", NULL};

static const char *const isolation_names[] = {
    [SCHED_ISOLATION_SHARED] = "shared",
    [SCHED_ISOLATION_DEDICATED] = "dedicated",
};

/* The limits a workspace may set, in enum sched_resource order. */
static const struct {
    const char *key;
    enum ydoc_quantity kind;
    size_t offset; /* in struct sched_resources */
} platform_limits[] = {
    [SCHED_RES_GPU] = {"gpu", YDOC_GPU, offsetof(struct sched_resources, gpu)},
    [SCHED_RES_CPU] = {"cpu", YDOC_CPU, offsetof(struct sched_resources, cpu)},
    [SCHED_RES_MEMORY] = {"memory", YDOC_BYTES, offsetof(struct sched_resources, memory)},
    [SCHED_RES_STORAGE] = {"storage", YDOC_BYTES, offsetof(struct sched_resources, storage)},
};
static const char *const limit_keys[] = {"gpu", "cpu", "memory", "storage", NULL};

/* A workspace read with its tenant, added to the engine once every node is in (the engine
 * checks reservations against the GPUs the tenant owns). */
struct platform_workspace {
    struct sched_workspace_spec spec;
    yaml_node_t *entry;
    size_t tenant, index; /* tenants[tenant].workspaces[index] */
};

struct platform_builder {
    struct ydoc y;
    struct sched *s;
    struct arena names; /* "tenant/workspace" names, until the engine has copied them */
    struct platform_workspace *workspaces;
    size_t n_workspaces, cap_workspaces;
    char refusal[256]; /* the engine's sentence */
};

/* If entry has key, push it and RET its value (the engine's refusal is about that field);
 * otherwise RET entry. *mark is for ydoc_pop in both cases. */
static yaml_node_t *platform_blame(struct platform_builder *b, yaml_node_t *entry, const char *key,
                                   size_t *mark)
{
    yaml_node_t *value = key ? ydoc_get(&b->y, entry, key) : NULL;
    *mark = b->y.field_len;
    if (!value)
        return entry;
    ydoc_push(&b->y, key);
    return value;
}

/* Report the engine's refusal rc of the object at entry, naming key when it is given. */
static int platform_refused(struct platform_builder *b, yaml_node_t *entry, const char *key, int rc)
{
    size_t mark;
    yaml_node_t *at = platform_blame(b, entry, key, &mark);
    rc = ydoc_fail(&b->y, at, rc, "%s", b->refusal[0] ? b->refusal : allot_strerror(rc));
    ydoc_pop(&b->y, mark);
    return rc;
}

int platform_read_limits(struct ydoc *y, yaml_node_t *map, struct sched_resources *limits,
                         bool given[4])
{
    int rc = ydoc_map(y, map, limit_keys, NULL);
    for (int r = 0; rc == 0 && r < 4; r++) {
        yaml_node_t *value = ydoc_get(y, map, platform_limits[r].key);
        if (!value)
            continue;
        int64_t *field = (int64_t *)((char *)limits + platform_limits[r].offset);
        size_t mark = ydoc_push(y, platform_limits[r].key);
        if (value->type == YAML_SCALAR_NODE &&
            strcmp((const char *)value->data.scalar.value, "none") == 0)
            *field = SCHED_UNLIMITED;
        else
            rc = ydoc_read_quantity(y, value, platform_limits[r].kind, field);
        ydoc_pop(y, mark);
        given[r] = true;
    }
    return rc;
}

/* `scheduler:` overrides of the engine's default options. */
static int platform_options(struct platform_builder *b, yaml_node_t *root,
                            struct sched_options *opt)
{
    yaml_node_t *node = ydoc_get(&b->y, root, "scheduler");
    if (!node)
        return 0;
    size_t mark = ydoc_push(&b->y, "scheduler");
    int rc = ydoc_map(&b->y, node, scheduler_keys, NULL);
    if (rc == 0)
        rc = ydoc_quantity(&b->y, node, "default_grace", false, YDOC_DURATION,
                           &opt->default_grace_ms);
    if (rc == 0)
        rc = ydoc_quantity(&b->y, node, "starvation_age", false, YDOC_DURATION,
                           &opt->starvation_age_ms);
    ydoc_pop(&b->y, mark);
    return rc;
}

/* Read workspaces entry (at the current field path) of tenant `tenant` and queue it for
 * platform_add_workspaces. */
static int platform_workspace(struct platform_builder *b, yaml_node_t *entry, const char *tenant,
                              size_t tenant_index, size_t index)
{
    struct ydoc *y = &b->y;
    struct sched_workspace_spec spec = {
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 0,
        .lend = true,
        .weight = 1,
    };
    const char *name = NULL;
    int64_t weight = 1;
    bool given[4] = {false};
    int rc = ydoc_map(y, entry, workspace_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, entry, "name", true, PLATFORM_MAX_NAME, &name);
    yaml_node_t *reserved = ydoc_get(y, entry, "reserved");
    if (rc == 0 && reserved) {
        size_t mark = ydoc_push(y, "reserved");
        rc = ydoc_map(y, reserved, reserved_keys, NULL);
        if (rc == 0)
            rc = ydoc_quantity(y, reserved, "gpu", false, YDOC_GPU, &spec.reserved);
        ydoc_pop(y, mark);
    }
    yaml_node_t *limits = ydoc_get(y, entry, "limits");
    if (rc == 0 && limits) {
        size_t mark = ydoc_push(y, "limits");
        rc = platform_read_limits(y, limits, &spec.limits, given);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_bool(y, entry, "lend", false, &spec.lend);
    if (rc == 0)
        rc = ydoc_int(y, entry, "weight", false, 1, PLATFORM_MAX_WEIGHT, &weight);
    if (rc)
        return rc;
    spec.weight = (uint32_t)weight;

    size_t n = strlen(tenant) + 1 + strlen(name);
    char *full = arena_alloc(&b->names, n + 1);
    if (!full)
        return ydoc_fail(y, entry, -ALLOT_ENOMEM, "out of memory");
    snprintf(full, n + 1, "%s/%s", tenant, name);
    spec.name = full;

    if (b->n_workspaces == b->cap_workspaces) {
        size_t cap = b->cap_workspaces ? b->cap_workspaces * 2 : 16;
        struct platform_workspace *grown = realloc(b->workspaces, cap * sizeof(*grown));
        if (!grown)
            return ydoc_fail(y, entry, -ALLOT_ENOMEM, "out of memory");
        b->workspaces = grown;
        b->cap_workspaces = cap;
    }
    b->workspaces[b->n_workspaces++] = (struct platform_workspace){
        .spec = spec, .entry = entry, .tenant = tenant_index, .index = index};
    return 0;
}

/* Read tenants entry i (at the current field path), add it to the engine, and queue its
 * workspaces. */
static int platform_tenant(struct platform_builder *b, yaml_node_t *entry, size_t i)
{
    struct ydoc *y = &b->y;
    struct sched_tenant_spec spec = {.isolation = SCHED_ISOLATION_SHARED, .max_grace_ms = 0};
    int isolation = SCHED_ISOLATION_SHARED;
    size_t n = 0;
    int rc = ydoc_map(y, entry, tenant_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, entry, "name", true, PLATFORM_MAX_NAME, &spec.name);
    if (rc == 0)
        rc = ydoc_enum(y, entry, "isolation", false, isolation_names, 2, &isolation);
    if (rc == 0)
        rc = ydoc_quantity(y, entry, "max_grace", false, YDOC_DURATION, &spec.max_grace_ms);
    if (rc)
        return rc;
    spec.isolation = (enum sched_isolation)isolation;

    yaml_node_t *list = ydoc_get(y, entry, "workspaces");
    if (list) {
        size_t mark = ydoc_push(y, "workspaces");
        rc = ydoc_list(y, list, YDOC_MAX_NODES, &n);
        for (size_t w = 0; rc == 0 && w < n; w++) {
            size_t item = ydoc_push_index(y, w);
            rc = platform_workspace(b, ydoc_item(y, list, w), spec.name, i, w);
            ydoc_pop(y, item);
        }
        ydoc_pop(y, mark);
        if (rc)
            return rc;
    }

    b->refusal[0] = '\0';
    rc = sched_tenant_add(b->s, &spec, NULL, b->refusal, sizeof(b->refusal));
    if (rc)
        return platform_refused(b, entry, rc == -ALLOT_EEXIST ? "name" : NULL, rc);
    return 0;
}

/* Read clusters entry (at the current field path) and add it to the engine. */
static int platform_cluster(struct platform_builder *b, yaml_node_t *entry)
{
    struct ydoc *y = &b->y;
    struct sched_cluster_spec spec = {.name = NULL, .dedicated_to = NULL};
    int rc = ydoc_map(y, entry, cluster_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, entry, "name", true, PLATFORM_MAX_NAME, &spec.name);
    if (rc == 0)
        rc = ydoc_name(y, entry, "dedicated_to", false, PLATFORM_MAX_NAME, &spec.dedicated_to);
    if (rc)
        return rc;
    b->refusal[0] = '\0';
    rc = sched_cluster_add(b->s, &spec, NULL, b->refusal, sizeof(b->refusal));
    if (rc == -ALLOT_EEXIST)
        return platform_refused(b, entry, "name", rc);
    if (rc == -ALLOT_ENOENT)
        return platform_refused(b, entry, "dedicated_to", rc);
    if (rc)
        return platform_refused(b, entry, NULL, rc);
    return 0;
}

/* Index of the profile called name in info's table, or -1. */
static int platform_profile(const struct gpu_model_info *info, const char *name)
{
    for (int p = 0; p < info->n_profiles; p++)
        if (strcmp(info->profiles[p].name, name) == 0)
            return p;
    return -1;
}

/* Read one `mig:` entry (a profile name, or {profile, start}) for model m. */
static int platform_mig_instance(struct platform_builder *b, yaml_node_t *node, enum gpu_model m,
                                 struct mig_instance_spec *inst)
{
    struct ydoc *y = &b->y;
    const struct gpu_model_info *info = mig_model(m);
    yaml_node_t *profile = node;
    const char *name = NULL;
    int64_t start = -1;
    size_t mark = y->field_len;
    int rc = 0;

    if (node && node->type == YAML_MAPPING_NODE) {
        rc = ydoc_map(y, node, mig_keys, NULL);
        if (rc == 0)
            rc = ydoc_str(y, node, "profile", true, &name);
        if (rc == 0)
            rc = ydoc_int(y, node, "start", false, 0, info->memory_slices - 1, &start);
        if (rc)
            return rc;
        profile = ydoc_get(y, node, "profile");
        mark = ydoc_push(y, "profile");
    } else {
        rc = ydoc_scalar(y, node, &name);
    }
    int index = rc ? -1 : platform_profile(info, name);
    if (rc == 0 && index < 0) {
        char offered[256] = "";
        size_t used = 0;
        for (int p = 0; p < info->n_profiles && used < sizeof(offered); p++)
            used += (size_t)snprintf(offered + used, sizeof(offered) - used, "%s%s", p ? ", " : "",
                                     info->profiles[p].name);
        rc = ydoc_fail(y, profile, -ALLOT_ECONFIG,
                       "MIG profile '%.64s' is not offered by %s (it offers: %s)", name, info->name,
                       offered);
    }
    ydoc_pop(y, mark);
    if (rc)
        return rc;
    inst->profile = (int8_t)index;
    inst->start = (int8_t)start;
    return 0;
}

/* Read gpus entry j (at the current field path) and append its `count` GPUs to gpus. */
static int platform_gpu(struct platform_builder *b, yaml_node_t *entry, struct sched_gpu_spec *gpus,
                        uint32_t *n_gpus)
{
    const char *model_names[GPU_MODEL_COUNT];
    struct ydoc *y = &b->y;
    struct sched_gpu_spec gpu = {.healthy = true, .n_mig = 0};
    int model = 0;
    int64_t count = 1;
    size_t n_mig = 0;

    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    int rc = ydoc_map(y, entry, gpu_keys, NULL);
    if (rc == 0)
        rc = ydoc_enum(y, entry, "model", true, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = ydoc_int(y, entry, "count", false, 1, SCHED_MAX_GPUS_PER_NODE, &count);
    if (rc == 0)
        rc = ydoc_bool(y, entry, "healthy", false, &gpu.healthy);
    if (rc)
        return rc;
    gpu.model = (enum gpu_model)model;

    yaml_node_t *mig = ydoc_get(y, entry, "mig");
    if (mig) {
        size_t mark = ydoc_push(y, "mig");
        rc = ydoc_list(y, mig, MIG_MAX_INSTANCES, &n_mig);
        if (rc == 0 && n_mig > 0 && mig_model(gpu.model)->compute_slices == 0)
            rc = ydoc_fail(y, mig, -ALLOT_ECONFIG, "GPU model %s does not support MIG",
                           mig_model(gpu.model)->name);
        for (size_t k = 0; rc == 0 && k < n_mig; k++) {
            size_t item = ydoc_push_index(y, k);
            rc = platform_mig_instance(b, ydoc_item(y, mig, k), gpu.model, &gpu.mig[k]);
            ydoc_pop(y, item);
        }
        ydoc_pop(y, mark);
        if (rc)
            return rc;
        if (n_mig > 0) {
            char problem[200] = "";
            rc = mig_layout_place(gpu.model, gpu.mig, (int)n_mig, problem, sizeof(problem));
            if (rc)
                return ydoc_fail(y, entry, rc, "%s", problem);
        }
        gpu.n_mig = (uint8_t)n_mig;
    }

    if (*n_gpus + (uint64_t)count > SCHED_MAX_GPUS_PER_NODE)
        return ydoc_fail(y, entry, -ALLOT_ECONFIG, "the node would have %u GPUs; at most %d",
                         (unsigned)(*n_gpus + count), SCHED_MAX_GPUS_PER_NODE);
    for (int64_t c = 0; c < count; c++)
        gpus[(*n_gpus)++] = gpu;
    return 0;
}

/* Read a node's `labels:` map (at the current field path) into labels. */
static int platform_labels(struct platform_builder *b, yaml_node_t *map, struct sched_label *labels,
                           uint32_t *n_labels)
{
    struct ydoc *y = &b->y;
    int rc = ydoc_map(y, map, NULL, NULL);
    if (rc)
        return rc;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > SCHED_MAX_LABELS)
        return ydoc_fail(y, map, -ALLOT_ECONFIG, "%zu labels; at most %d are allowed", n,
                         SCHED_MAX_LABELS);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &map->data.mapping.pairs.start[i];
        yaml_node_t *key = yaml_document_get_node(y->doc, pair->key);
        const char *name = (const char *)key->data.scalar.value;
        size_t mark = ydoc_push(y, name);
        rc = ydoc_scalar(y, key, &labels[i].key);
        if (rc == 0 && (!*name || strlen(name) > PLATFORM_MAX_LABEL))
            rc = ydoc_fail(y, key, -ALLOT_ECONFIG, "a label key has 1 to %d characters",
                           PLATFORM_MAX_LABEL);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(labels[j].key, name) == 0)
                rc = ydoc_fail(y, key, -ALLOT_ECONFIG, "given more than once");
        yaml_node_t *value = yaml_document_get_node(y->doc, pair->value);
        if (rc == 0)
            rc = ydoc_scalar(y, value, &labels[i].value);
        if (rc == 0 && strlen(labels[i].value) > PLATFORM_MAX_LABEL)
            rc = ydoc_fail(y, value, -ALLOT_ECONFIG, "a label value has at most %d characters",
                           PLATFORM_MAX_LABEL);
        ydoc_pop(y, mark);
        if (rc)
            return rc;
    }
    *n_labels = (uint32_t)n;
    return 0;
}

/* Read nodes entry (at the current field path) and add it to the engine. */
static int platform_node(struct platform_builder *b, yaml_node_t *entry)
{
    const char *state_names[SCHED_NODE_DOWN + 1];
    struct ydoc *y = &b->y;
    struct sched_gpu_spec gpus[SCHED_MAX_GPUS_PER_NODE];
    struct sched_label labels[SCHED_MAX_LABELS];
    struct sched_node_spec spec = {.state = SCHED_NODE_READY, .gpus = gpus, .labels = labels};
    int state = SCHED_NODE_READY;
    size_t n = 0;

    for (int st = 0; st <= SCHED_NODE_DOWN; st++)
        state_names[st] = sched_node_state_name((enum sched_node_state)st);
    int rc = ydoc_map(y, entry, node_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, entry, "name", true, PLATFORM_MAX_NAME, &spec.name);
    if (rc == 0)
        rc = ydoc_name(y, entry, "cluster", true, PLATFORM_MAX_NAME, &spec.cluster);
    if (rc == 0)
        rc = ydoc_name(y, entry, "tenant", false, PLATFORM_MAX_NAME, &spec.tenant);
    if (rc == 0)
        rc = ydoc_quantity(y, entry, "cpu", true, YDOC_CPU, &spec.cpu);
    if (rc == 0)
        rc = ydoc_quantity(y, entry, "memory", true, YDOC_BYTES, &spec.memory);
    if (rc == 0)
        rc = ydoc_enum(y, entry, "state", false, state_names, SCHED_NODE_DOWN + 1, &state);
    if (rc)
        return rc;
    spec.state = (enum sched_node_state)state;

    yaml_node_t *map = ydoc_get(y, entry, "labels");
    if (map) {
        size_t mark = ydoc_push(y, "labels");
        rc = platform_labels(b, map, labels, &spec.n_labels);
        ydoc_pop(y, mark);
        if (rc)
            return rc;
    }
    yaml_node_t *list = ydoc_get(y, entry, "gpus");
    if (list) {
        size_t mark = ydoc_push(y, "gpus");
        rc = ydoc_list(y, list, SCHED_MAX_GPUS_PER_NODE, &n);
        for (size_t j = 0; rc == 0 && j < n; j++) {
            size_t item = ydoc_push_index(y, j);
            rc = platform_gpu(b, ydoc_item(y, list, j), gpus, &spec.n_gpus);
            ydoc_pop(y, item);
        }
        ydoc_pop(y, mark);
        if (rc)
            return rc;
    }

    b->refusal[0] = '\0';
    rc = sched_node_add(b->s, &spec, NULL, b->refusal, sizeof(b->refusal));
    if (rc == -ALLOT_EEXIST)
        return platform_refused(b, entry, "name", rc);
    if (rc == -ALLOT_ENOENT) {
        /* an unknown cluster or tenant: say which (the cluster when both are) */
        uint32_t id;
        bool cluster_known = hmap_get(&b->s->cluster_ids, spec.cluster, &id) == 0;
        return platform_refused(b, entry, cluster_known ? "tenant" : "cluster", rc);
    }
    if (rc)
        return platform_refused(b, entry, NULL, rc);
    return 0;
}

/* Add the queued workspaces, now that the engine knows every node. */
static int platform_add_workspaces(struct platform_builder *b)
{
    struct ydoc *y = &b->y;
    for (size_t i = 0; i < b->n_workspaces; i++) {
        struct platform_workspace *w = &b->workspaces[i];
        b->refusal[0] = '\0';
        int rc = sched_workspace_add(b->s, &w->spec, NULL, b->refusal, sizeof(b->refusal));
        if (rc == 0)
            continue;
        size_t mark = ydoc_push(y, "tenants");
        ydoc_push_index(y, w->tenant);
        ydoc_push(y, "workspaces");
        ydoc_push_index(y, w->index);
        if (rc == -ALLOT_EEXIST) {
            rc = platform_refused(b, w->entry, "name", rc);
        } else if (rc == -ALLOT_ERESERVATION || rc == -ALLOT_ECONFIG) {
            /* beyond the tenant's GPUs, or above the workspace's own gpu limit */
            size_t inner;
            yaml_node_t *reserved = platform_blame(b, w->entry, "reserved", &inner);
            rc = platform_refused(b, reserved, reserved == w->entry ? NULL : "gpu", rc);
            ydoc_pop(y, inner);
        } else {
            rc = platform_refused(b, w->entry, NULL, rc);
        }
        ydoc_pop(y, mark);
        return rc;
    }
    return 0;
}

/* Read the list under key of root and hand each entry, with its index pushed onto the field
 * path, to add. */
static int platform_each(struct platform_builder *b, yaml_node_t *root, const char *key,
                         int (*add)(struct platform_builder *b, yaml_node_t *entry, size_t i))
{
    struct ydoc *y = &b->y;
    yaml_node_t *list = ydoc_get(y, root, key);
    size_t n = 0;
    if (!list)
        return 0;
    size_t mark = ydoc_push(y, key);
    int rc = ydoc_list(y, list, YDOC_MAX_NODES, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = ydoc_push_index(y, i);
        rc = add(b, ydoc_item(y, list, i), i);
        ydoc_pop(y, item);
    }
    ydoc_pop(y, mark);
    return rc;
}

static int platform_each_cluster(struct platform_builder *b, yaml_node_t *entry, size_t i)
{
    return platform_cluster(b, entry);
}

static int platform_each_node(struct platform_builder *b, yaml_node_t *entry, size_t i)
{
    return platform_node(b, entry);
}

int platform_build(yaml_document_t *doc, const char *path, const char *const *extra_keys,
                   struct sched **out, char *err, size_t len)
{
    struct platform_builder b = {.s = NULL, .workspaces = NULL};
    struct sched_options opt;
    int rc;

    *out = NULL;
    ydoc_init(&b.y, doc, path, err, len);
    arena_init(&b.names, 0);
    yaml_node_t *root = ydoc_root(&b.y);
    if (!root) {
        rc = ydoc_fail(&b.y, NULL, -ALLOT_ECONFIG,
                       "empty; expected a map with tenants, clusters and nodes");
        goto out;
    }
    rc = ydoc_map(&b.y, root, platform_keys, extra_keys);
    if (rc)
        goto out;
    sched_options_default(&opt);
    rc = platform_options(&b, root, &opt);
    if (rc)
        goto out;
    rc = sched_new(&opt, &b.s);
    if (rc) {
        rc = ydoc_fail(&b.y, root, rc, "cannot create the engine: %s", allot_strerror(rc));
        goto out;
    }
    /* Tenants first (clusters and nodes name them), workspaces last (their reservations are
     * checked against the GPUs of the tenant's nodes). */
    rc = platform_each(&b, root, "tenants", platform_tenant);
    if (rc)
        goto out;
    rc = platform_each(&b, root, "clusters", platform_each_cluster);
    if (rc)
        goto out;
    rc = platform_each(&b, root, "nodes", platform_each_node);
    if (rc)
        goto out;
    rc = platform_add_workspaces(&b);
    if (rc)
        goto out;
    *out = b.s;
    b.s = NULL;
out:
    sched_free(b.s);
    free(b.workspaces);
    arena_cleanup(&b.names);
    return rc;
}

int platform_load(const char *path, struct sched **out, char *err, size_t len)
{
    yaml_document_t doc;
    *out = NULL;
    int rc = ydoc_load(path, PLATFORM_MAX_BYTES, PLATFORM_MAX_DEPTH, &doc, err, len);
    if (rc)
        return rc;
    rc = platform_build(&doc, path, NULL, out, err, len);
    yaml_document_delete(&doc);
    return rc;
}
