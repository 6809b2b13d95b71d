/* Readers of the platform's objects (tenants, clusters, nodes with their GPUs, MIG layouts and
 * labels, workspaces with their limits), whatever text they arrived in (spec.h). */
#include "schema/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/mig.h"

static const char *const isolation_names[] = {
    [SCHED_ISOLATION_SHARED] = "shared",
    [SCHED_ISOLATION_DEDICATED] = "dedicated",
};

static const char *const tenant_keys[] = {"name",          "isolation", "max_grace",
                                          "require_image", "limits",    NULL};
/* A tenant's limits: its cap on the queued workloads of all its workspaces. */
static const char *const tenant_limit_keys[] = {"queued", NULL};
static const char *const scheduler_keys[] = {"default_grace", "starvation_age", "checkpoint_aware",
                                             NULL};
static const char *const cluster_keys[] = {"name", "dedicated_to", NULL};
/* Fields whose null is a value: no cap on grace, dedicated to no tenant, owned by none. */
static const char *const tenant_nullable[] = {"max_grace", NULL};
static const char *const cluster_nullable[] = {"dedicated_to", NULL};
static const char *const node_nullable[] = {"tenant", NULL};
static const char *const node_keys[] = {"name",  "cluster", "tenant", "cpu", "memory",
                                        "state", "labels",  "gpus",   NULL};
static const char *const gpu_keys[] = {"model", "count", "healthy", "mig", NULL};
static const char *const mig_keys[] = {"profile", "start", NULL};
static const char *const workspace_keys[] = {
    "name",        "reserved",           "limits",         "lend", "weight", "require_image",
    "min_runtime", "default_time_limit", "max_time_limit", NULL};
/* null: no default, no maximum */
static const char *const workspace_nullable[] = {"default_time_limit", "max_time_limit", NULL};
static const char *const reserved_keys[] = {"gpu", NULL};
/* The limits a workspace may set, in enum sched_resource order. */
static const struct {
    const char *key;
    enum reader_quantity kind;
} spec_limits[] = {
    [SCHED_RES_GPU] = {"gpu", READER_GPU},
    [SCHED_RES_CPU] = {"cpu", READER_CPU},
    [SCHED_RES_MEMORY] = {"memory", READER_BYTES},
    [SCHED_RES_STORAGE] = {"storage", READER_BYTES},
};
static const char *const limit_keys[] = {"gpu", "cpu", "memory", "storage", "queued", NULL};

/* limits.queued of obj `limits` (docs/policy.md, "Queue caps"), if given: 1..SCHED_MAX_QUEUED
 * into *queued. RET 0, or the reader's error naming the field. */
static int read_queued(struct reader *r, const json_t *limits, uint32_t *queued)
{
    int64_t v = *queued;
    int rc = reader_key_int(r, limits, "queued", 1, SCHED_MAX_QUEUED, &v);
    if (rc == 0)
        *queued = (uint32_t)v;
    return rc;
}

const char *spec_isolation_name(enum sched_isolation isolation)
{
    return (unsigned)isolation < 2 ? isolation_names[isolation] : "?";
}

/* ---- tenants and clusters ------------------------------------------------------------- */

int spec_read_tenant(struct reader *r, const json_t *j, const char *const *extra,
                     struct sched_tenant_spec *out)
{
    struct sched_tenant_spec spec = {.isolation = SCHED_ISOLATION_SHARED, .max_grace_ms = 0};
    int isolation = SCHED_ISOLATION_SHARED;
    int rc = reader_object_with(r, j, tenant_keys, extra, tenant_nullable);
    if (rc == 0)
        rc = reader_key_name(r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = reader_key_enum(r, j, "isolation", false, isolation_names, 2, &isolation);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "max_grace", false, READER_DURATION, &spec.max_grace_ms);
    if (rc == 0)
        rc = reader_key_bool(r, j, "require_image", &spec.require_image);
    const json_t *limits = rc ? NULL : reader_get(j, "limits");
    if (limits) {
        size_t mark = reader_push_key(r, "limits", 6);
        rc = reader_object(r, limits, tenant_limit_keys, NULL);
        if (rc == 0)
            rc = read_queued(r, limits, &spec.max_queued);
        reader_pop(r, mark);
    }
    if (rc)
        return rc;
    spec.isolation = (enum sched_isolation)isolation;
    *out = spec;
    return 0;
}

int spec_read_cluster(struct reader *r, const json_t *j, struct sched_cluster_spec *out)
{
    struct sched_cluster_spec spec = {.name = NULL, .dedicated_to = NULL};
    int rc = reader_object(r, j, cluster_keys, cluster_nullable);
    if (rc == 0)
        rc = reader_key_name(r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = reader_key_name(r, j, "dedicated_to", false, &spec.dedicated_to);
    if (rc)
        return rc;
    *out = spec;
    return 0;
}

/* ---- nodes ---------------------------------------------------------------------------- */

/* Index of the profile called name (n bytes) in info's table, or -1. */
static int profile_index(const struct gpu_model_info *info, const char *name, size_t n)
{
    for (int p = 0; p < info->n_profiles; p++)
        if (strlen(info->profiles[p].name) == n && memcmp(info->profiles[p].name, name, n) == 0)
            return p;
    return -1;
}

/* Read one `mig` entry, a profile name or {profile, start?}, of a GPU of model m. */
static int read_mig_instance(struct reader *r, const json_t *v, enum gpu_model m,
                             struct mig_instance_spec *inst)
{
    const struct gpu_model_info *info = mig_model(m);
    const json_t *profile = v;
    const char *name = NULL;
    size_t n = 0, mark = r->field_len;
    int64_t start = -1;
    int rc = 0;

    if (json_is_object(v)) {
        rc = reader_object(r, v, mig_keys, NULL);
        if (rc == 0)
            rc = reader_enter(r, v, "profile", true, &profile, &mark);
    } else if (!json_is_string(v)) {
        return reader_fail(r, -ALLOT_EINVAL,
                           "expected a MIG profile name or {\"profile\", \"start\"}, found %s",
                           reader_type_name(r, v));
    }
    if (rc == 0)
        rc = reader_text(r, profile, SCHEMA_MAX_STRING, &name, &n);
    int index = rc ? -1 : profile_index(info, name, n);
    if (rc == 0 && index < 0) {
        char q[READER_QUOTE + 4], offered[256];
        const char *names[MIG_MAX_NAMES];
        for (int p = 0; p < info->n_profiles; p++)
            names[p] = info->profiles[p].name;
        rc = reader_fail(r, -ALLOT_EINVAL, "MIG profile '%s' is not offered by %s (it offers: %s)",
                         reader_quote(name, n, q), info->name,
                         reader_join(names, info->n_profiles, offered, sizeof(offered)));
    }
    reader_pop(r, mark);
    if (rc == 0 && json_is_object(v))
        rc = reader_key_int(r, v, "start", 0, info->memory_slices - 1, &start);
    if (rc)
        return rc;
    inst->profile = (int8_t)index;
    inst->start = (int8_t)start;
    return 0;
}

/* Read gpus entry `entry` (at the current path) and append its count GPUs to gpus. */
static int read_gpu(struct reader *r, const json_t *entry, struct sched_gpu_spec *gpus,
                    uint32_t *n_gpus)
{
    const char *model_names[GPU_MODEL_COUNT];
    struct sched_gpu_spec gpu = {.healthy = true, .n_mig = 0};
    int model = 0;
    int64_t count = 1;

    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    int rc = reader_object(r, entry, gpu_keys, NULL);
    if (rc == 0)
        rc = reader_key_enum(r, entry, "model", true, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = reader_key_int(r, entry, "count", 1, SCHED_MAX_GPUS_PER_NODE, &count);
    if (rc == 0)
        rc = reader_key_bool(r, entry, "healthy", &gpu.healthy);
    if (rc)
        return rc;
    gpu.model = (enum gpu_model)model;

    const json_t *mig = reader_get(entry, "mig");
    if (mig) {
        size_t mark = reader_push_key(r, "mig", 3);
        size_t n = json_is_array(mig) ? json_array_size(mig) : 0;
        if (!json_is_array(mig))
            rc = reader_fail(r, -ALLOT_EINVAL, "expected an array of MIG instances, found %s",
                             reader_type_name(r, mig));
        else if (n > MIG_MAX_INSTANCES)
            rc = reader_fail(r, -ALLOT_ERANGE, "%zu MIG instances; a GPU holds at most %d", n,
                             MIG_MAX_INSTANCES);
        else if (n > 0 && mig_model(gpu.model)->compute_slices == 0)
            rc = reader_fail(r, -ALLOT_EINVAL, "GPU model %s does not support MIG",
                             mig_model(gpu.model)->name);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            size_t item = reader_push_index(r, k);
            rc = read_mig_instance(r, json_array_get(mig, k), gpu.model, &gpu.mig[k]);
            reader_pop(r, item);
        }
        if (rc == 0 && n > 0) {
            char problem[200] = "";
            if (mig_layout_place(gpu.model, gpu.mig, (int)n, problem, sizeof(problem)))
                rc = reader_fail(r, -ALLOT_EINVAL, "%s", problem);
        }
        reader_pop(r, mark);
        if (rc)
            return rc;
        gpu.n_mig = (uint8_t)n;
    }

    if (*n_gpus + (uint64_t)count > SCHED_MAX_GPUS_PER_NODE)
        return reader_fail(r, -ALLOT_ERANGE, "the node would have %u GPUs; at most %d",
                           (unsigned)(*n_gpus + count), SCHED_MAX_GPUS_PER_NODE);
    for (int64_t c = 0; c < count; c++)
        gpus[(*n_gpus)++] = gpu;
    return 0;
}

/* Whether s (n bytes) has a control character. */
static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
            return true;
    return false;
}

/* Read a node's `labels` object (at the current path) into labels. */
int spec_read_labels(struct reader *r, const json_t *map, struct sched_label *labels,
                     uint32_t *n_labels)
{
    if (!json_is_object(map))
        return reader_fail(r, -ALLOT_EINVAL, "expected an object of labels, found %s",
                           reader_type_name(r, map));
    size_t n = json_object_size(map), i = 0;
    if (n > SCHED_MAX_LABELS)
        return reader_fail(r, -ALLOT_ERANGE, "%zu labels; at most %d are allowed", n,
                           SCHED_MAX_LABELS);
    for (void *it = json_object_iter((json_t *)map); it;
         it = json_object_iter_next((json_t *)map, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it), mark = reader_push_key(r, key, len);
        int rc = 0;
        if (len == 0 || len > SCHEMA_MAX_LABEL || has_control(key, len))
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "a label key has 1 to %d characters, none of them control characters",
                             SCHEMA_MAX_LABEL);
        if (rc == 0)
            rc = reader_keep(r, key, len, &labels[i].key);
        if (rc == 0)
            rc = reader_string(r, json_object_iter_value(it), SCHEMA_MAX_LABEL, &labels[i].value);
        if (rc == 0 && has_control(labels[i].value, strlen(labels[i].value)))
            rc = reader_fail(r, -ALLOT_EINVAL, "a label value has no control characters");
        reader_pop(r, mark);
        if (rc)
            return rc;
    }
    *n_labels = (uint32_t)n;
    return 0;
}

/* A copy of n elements of size bytes in the arena (NULL for n == 0). */
static int keep_array(struct reader *r, const void *src, size_t n, size_t size, const void **out)
{
    void *copy = NULL;
    if (n > 0) {
        copy = arena_alloc(r->arena, n * size);
        if (!copy)
            return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
        memcpy(copy, src, n * size);
    }
    *out = copy;
    return 0;
}

int spec_read_node(struct reader *r, const json_t *j, struct sched_node_spec *out)
{
    const char *state_names[SCHED_NODE_DOWN + 1];
    struct sched_gpu_spec gpus[SCHED_MAX_GPUS_PER_NODE];
    struct sched_label labels[SCHED_MAX_LABELS];
    struct sched_node_spec spec = {.state = SCHED_NODE_READY};
    int state = SCHED_NODE_READY;

    for (int st = 0; st <= SCHED_NODE_DOWN; st++)
        state_names[st] = sched_node_state_name((enum sched_node_state)st);
    int rc = reader_object(r, j, node_keys, node_nullable);
    if (rc == 0)
        rc = reader_key_name(r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = reader_key_name(r, j, "cluster", true, &spec.cluster);
    if (rc == 0)
        rc = reader_key_name(r, j, "tenant", false, &spec.tenant);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "cpu", true, READER_CPU, &spec.cpu);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "memory", true, READER_BYTES, &spec.memory);
    if (rc == 0)
        rc = reader_key_enum(r, j, "state", false, state_names, SCHED_NODE_DOWN + 1, &state);
    if (rc)
        return rc;
    spec.state = (enum sched_node_state)state;

    const json_t *map = reader_get(j, "labels");
    if (map) {
        size_t mark = reader_push_key(r, "labels", 6);
        rc = spec_read_labels(r, map, labels, &spec.n_labels);
        reader_pop(r, mark);
        if (rc)
            return rc;
    }
    const json_t *list = reader_get(j, "gpus");
    if (list) {
        size_t mark = reader_push_key(r, "gpus", 4);
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (!json_is_array(list))
            rc = reader_fail(r, -ALLOT_EINVAL, "expected an array of GPUs, found %s",
                             reader_type_name(r, list));
        else if (n > SCHED_MAX_GPUS_PER_NODE)
            rc = reader_fail(r, -ALLOT_ERANGE, "%zu entries; a node has at most %d GPUs", n,
                             SCHED_MAX_GPUS_PER_NODE);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            size_t item = reader_push_index(r, k);
            rc = read_gpu(r, json_array_get(list, k), gpus, &spec.n_gpus);
            reader_pop(r, item);
        }
        reader_pop(r, mark);
        if (rc)
            return rc;
    }
    const void *kept_gpus = NULL, *kept_labels = NULL;
    rc = keep_array(r, gpus, spec.n_gpus, sizeof(gpus[0]), &kept_gpus);
    if (rc == 0)
        rc = keep_array(r, labels, spec.n_labels, sizeof(labels[0]), &kept_labels);
    if (rc)
        return rc;
    spec.gpus = kept_gpus;
    spec.labels = kept_labels;
    *out = spec;
    return 0;
}

/* ---- workspaces ----------------------------------------------------------------------- */

/* Read a `limits` object (at the current path) into *limits and *queued: only the keys
 * given change. */
static int read_limits(struct reader *r, const json_t *map, struct sched_resources *limits,
                       uint32_t *queued)
{
    int rc = reader_object(r, map, limit_keys, NULL);
    if (rc == 0)
        rc = read_queued(r, map, queued);
    for (int k = 0; rc == 0 && k < 4; k++) {
        const json_t *v = reader_get(map, spec_limits[k].key);
        if (!v)
            continue;
        int64_t value = SCHED_UNLIMITED;
        size_t mark = reader_push_key(r, spec_limits[k].key, strlen(spec_limits[k].key));
        if (!json_is_string(v) || strcmp(json_string_value(v), "none") != 0 ||
            json_string_length(v) != 4)
            rc = reader_quantity(r, v, spec_limits[k].kind, &value);
        if (rc == 0)
            sched_resources_set(limits, (enum sched_resource)k, value);
        reader_pop(r, mark);
    }
    return rc;
}

/* min_runtime (docs/policy.md, "Minimum runtime"): one duration for every kind, or an object
 * of kind: duration (kinds not named: 0). Each at most SCHED_MAX_MIN_RUNTIME_MS. OUT out[kind],
 * all of it replaced. RET 0, or the reader's error naming the field. */
static int read_min_runtime(struct reader *r, const json_t *v, int64_t out[SCHED_KIND_COUNT])
{
    int64_t ms[SCHED_KIND_COUNT] = {0};
    int rc = 0;
    if (json_is_object(v)) {
        const char *names[SCHED_KIND_COUNT + 1];
        for (int k = 0; k < SCHED_KIND_COUNT; k++)
            names[k] = sched_kind_name((enum sched_kind)k);
        names[SCHED_KIND_COUNT] = NULL;
        rc = reader_object(r, v, names, NULL);
        for (int k = 0; k < SCHED_KIND_COUNT && rc == 0; k++)
            rc = reader_key_quantity(r, v, names[k], false, READER_DURATION, &ms[k]);
    } else {
        rc = reader_quantity(r, v, READER_DURATION, &ms[0]);
        for (int k = 1; k < SCHED_KIND_COUNT; k++)
            ms[k] = ms[0];
    }
    for (int k = 0; k < SCHED_KIND_COUNT && rc == 0; k++)
        if (ms[k] > SCHED_MAX_MIN_RUNTIME_MS) {
            const char *kind = sched_kind_name((enum sched_kind)k);
            size_t mark = json_is_object(v) ? reader_push_key(r, kind, strlen(kind)) : 0;
            rc = reader_fail(r, -ALLOT_EINVAL, "a min_runtime is at most 30d");
            if (json_is_object(v))
                reader_pop(r, mark);
        }
    if (rc == 0)
        memcpy(out, ms, sizeof(ms));
    return rc;
}

/* Read the changeable fields of a workspace (reserved, limits, lend, weight, require_image,
 * min_runtime) that j gives into *spec, then check the reservation against the gpu limit. */
static int read_workspace_fields(struct reader *r, const json_t *j,
                                 struct sched_workspace_spec *spec)
{
    int64_t weight = spec->weight;
    int rc = 0;
    const json_t *reserved = reader_get(j, "reserved");
    if (reserved) {
        size_t mark = reader_push_key(r, "reserved", 8);
        rc = reader_object(r, reserved, reserved_keys, NULL);
        if (rc == 0)
            rc = reader_key_quantity(r, reserved, "gpu", true, READER_GPU, &spec->reserved);
        reader_pop(r, mark);
    }
    const json_t *limits = reader_get(j, "limits");
    if (rc == 0 && limits) {
        size_t mark = reader_push_key(r, "limits", 6);
        rc = read_limits(r, limits, &spec->limits, &spec->max_queued);
        reader_pop(r, mark);
    }
    if (rc == 0)
        rc = reader_key_bool(r, j, "lend", &spec->lend);
    if (rc == 0)
        rc = reader_key_int(r, j, "weight", 1, SCHEMA_MAX_WEIGHT, &weight);
    if (rc == 0)
        rc = reader_key_bool(r, j, "require_image", &spec->require_image);
    const json_t *min_runtime = reader_get(j, "min_runtime");
    if (rc == 0 && min_runtime) {
        size_t mark = reader_push_key(r, "min_runtime", 11);
        rc = read_min_runtime(r, min_runtime, spec->min_runtime_ms);
        reader_pop(r, mark);
    }
    if (rc == 0)
        rc = reader_key_time_limit(r, j, "default_time_limit", &spec->default_time_limit_ms);
    if (rc == 0)
        rc = reader_key_time_limit(r, j, "max_time_limit", &spec->max_time_limit_ms);
    if (rc)
        return rc;
    spec->weight = (uint32_t)weight;
    if (spec->max_time_limit_ms > 0 && spec->default_time_limit_ms > spec->max_time_limit_ms) {
        char d[32], m[32];
        bool blame_default = reader_get(j, "default_time_limit") != NULL;
        size_t mark = blame_default ? reader_push_key(r, "default_time_limit", 18)
                                    : reader_push_key(r, "max_time_limit", 14);
        rc = reader_fail(r, -ALLOT_EINVAL, "the default time limit %s is above the maximum %s",
                         quantity_format_duration(spec->default_time_limit_ms, d, sizeof(d)),
                         quantity_format_duration(spec->max_time_limit_ms, m, sizeof(m)));
        reader_pop(r, mark);
        return rc;
    }
    if (spec->limits.gpu != SCHED_UNLIMITED && spec->reserved > spec->limits.gpu) {
        char res[48], lim[48];
        bool blame_reserved = reserved != NULL;
        size_t mark =
            blame_reserved ? reader_push_key(r, "reserved", 8) : reader_push_key(r, "limits", 6);
        reader_push_key(r, "gpu", 3);
        rc =
            reader_fail(r, -ALLOT_EINVAL, "the reservation of %s GPUs is above the gpu limit of %s",
                        quantity_format_gpu(spec->reserved, res, sizeof(res)),
                        quantity_format_gpu(spec->limits.gpu, lim, sizeof(lim)));
        reader_pop(r, mark);
    }
    return rc;
}

/* The end of both workspace readers: unless rc already refused the body, read the
 * changeable fields into *spec, and copy it to *out when all is well. RET rc or theirs. */
static int workspace_done(struct reader *r, const json_t *j, int rc,
                          struct sched_workspace_spec *spec, struct sched_workspace_spec *out)
{
    if (rc == 0)
        rc = read_workspace_fields(r, j, spec);
    if (rc == 0)
        *out = *spec;
    return rc;
}

int spec_read_workspace(struct reader *r, const json_t *j, const char *default_tenant,
                        struct sched_workspace_spec *out)
{
    struct sched_workspace_spec spec = {
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 0,
        .lend = true,
        .weight = 1,
    };
    int rc = reader_object(r, j, workspace_keys, workspace_nullable);
    if (rc == 0) {
        const json_t *v = NULL;
        size_t mark;
        rc = reader_enter(r, j, "name", true, &v, &mark);
        if (rc == 0)
            rc = reader_workspace_name(r, v, default_tenant, &spec.name);
        reader_pop(r, mark);
    }
    return workspace_done(r, j, rc, &spec, out);
}

int spec_read_workspace_patch(struct reader *r, const json_t *j, struct sched_workspace_spec *inout)
{
    struct sched_workspace_spec spec = *inout;
    int rc = reader_object(r, j, workspace_keys, workspace_nullable);
    const json_t *name = rc ? NULL : reader_get(j, "name");
    if (name) {
        /* the name is the URL's; one that says otherwise is a rename, which is not offered */
        char q[READER_QUOTE + 4];
        const char *s = NULL;
        size_t n = 0, mark = reader_push_key(r, "name", 4);
        const char *slash = inout->name ? strchr(inout->name, '/') : NULL;
        const char *bare = slash ? slash + 1 : inout->name;
        rc = reader_text(r, name, SCHEMA_MAX_STRING, &s, &n);
        if (rc == 0 &&
            !(inout->name && strlen(inout->name) == n && memcmp(inout->name, s, n) == 0) &&
            !(bare && strlen(bare) == n && memcmp(bare, s, n) == 0))
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "'%s' is not this workspace (%s); a workspace cannot be "
                             "renamed",
                             reader_quote(s, n, q), inout->name ? inout->name : "?");
        reader_pop(r, mark);
    }
    return workspace_done(r, j, rc, &spec, inout);
}

/* ---- the scheduler's options ---------------------------------------------------------- */

int spec_read_topology(struct reader *r, const json_t *v, struct sched_options *inout)
{
    size_t n = 0;
    int rc = reader_array(r, v, SCHED_MAX_TOPOLOGY_LEVELS, "topology levels", &n);
    const char *levels[SCHED_MAX_TOPOLOGY_LEVELS] = {NULL};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t mark = reader_push_index(r, i);
        const char *s = NULL;
        size_t len = 0;
        rc = reader_text(r, json_array_get(v, i), SCHEMA_MAX_STRING, &s, &len);
        bool plain = rc == 0 && len >= 1 && len <= SCHEMA_MAX_STRING && !has_control(s, len) &&
                     !strpbrk(s, " \"'");
        if (rc == 0 && !plain)
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "a topology level is a node label key of 1 to %d characters, "
                             "without spaces, quotes or control characters",
                             SCHEMA_MAX_STRING);
        for (size_t k = 0; rc == 0 && k < i; k++)
            if (strcmp(levels[k], s) == 0)
                rc = reader_fail(r, -ALLOT_EINVAL, "level '%s' is named twice", s);
        if (rc == 0)
            rc = reader_keep(r, s, len, &levels[i]);
        reader_pop(r, mark);
    }
    if (rc)
        return rc;
    memcpy(inout->topology, levels, sizeof(levels));
    inout->n_topology = (uint32_t)n;
    return 0;
}

int spec_read_scheduler(struct reader *r, const json_t *j, bool with_topology,
                        struct sched_options *inout)
{
    static const char *const topology_key[] = {"topology", NULL};
    struct sched_options opt = *inout;
    int rc = reader_object_with(r, j, scheduler_keys, with_topology ? topology_key : NULL, NULL);
    if (rc == 0 && with_topology && reader_get(j, "topology")) {
        size_t mark = reader_push_key(r, "topology", 8);
        rc = spec_read_topology(r, reader_get(j, "topology"), &opt);
        reader_pop(r, mark);
    }
    if (rc == 0)
        rc = reader_key_quantity(r, j, "default_grace", false, READER_DURATION,
                                 &opt.default_grace_ms);
    if (rc == 0)
        rc = reader_key_quantity(r, j, "starvation_age", false, READER_DURATION,
                                 &opt.starvation_age_ms);
    if (rc == 0)
        rc = reader_key_bool(r, j, "checkpoint_aware", &opt.checkpoint_aware);
    if (rc)
        return rc;
    *inout = opt;
    return 0;
}

/* ---- one object from a JSON body ------------------------------------------------------ */

int spec_tenant_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *out,
                          struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    return spec_read_tenant(&r, j, NULL, out);
}

int spec_tenant_patch_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *inout,
                                struct schema_error *err)
{
    static const char *const patch_keys[] = {"limits", NULL};
    struct reader r;
    reader_init(&r, a, err);
    uint32_t queued = inout->max_queued;
    int rc = reader_object(&r, j, patch_keys, NULL);
    const json_t *limits = rc ? NULL : reader_get(j, "limits");
    if (limits) {
        size_t mark = reader_push_key(&r, "limits", 6);
        rc = reader_object(&r, limits, tenant_limit_keys, NULL);
        if (rc == 0)
            rc = read_queued(&r, limits, &queued);
        reader_pop(&r, mark);
    }
    if (rc == 0)
        inout->max_queued = queued;
    return rc;
}

int spec_cluster_from_json(const json_t *j, struct arena *a, struct sched_cluster_spec *out,
                           struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    return spec_read_cluster(&r, j, out);
}

int spec_node_from_json(const json_t *j, struct arena *a, struct sched_node_spec *out,
                        struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    return spec_read_node(&r, j, out);
}

int spec_workspace_from_json(const json_t *j, const char *default_tenant, struct arena *a,
                             struct sched_workspace_spec *out, struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    return spec_read_workspace(&r, j, default_tenant, out);
}

int spec_workspace_patch_from_json(const json_t *j, struct arena *a,
                                   struct sched_workspace_spec *inout, struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    return spec_read_workspace_patch(&r, j, inout);
}
