/* The platform document (platform.h): every object read by the reader the API uses for it
 * (spec.h), then added to a new engine in dependency order, the engine's refusals reported at
 * the field and line they are about. */
#include "schema/platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/array.h"
#include "common/error.h"
#include "common/hmap.h"
#include "schema/spec.h"

static const char *const platform_keys[] = {"scheduler", "topology", "tenants",
                                            "clusters",  "nodes",    NULL};
static const char *const tenant_extra[] = {"workspaces", NULL};

/* Most entries of each list: far above any real platform, and bounded by the document's own
 * bound on values anyway. */
#define PLATFORM_MAX_ENTRIES SOURCE_MAX_VALUES

/* A workspace read with its tenant, added to the engine once every node is in (the engine
 * checks reservations against the GPUs the tenant owns). */
struct platform_workspace {
    struct sched_workspace_spec spec;
    const json_t *entry;
    size_t tenant, index; /* tenants[tenant].workspaces[index] */
};

struct platform_builder {
    const struct source *src;
    struct reader r;
    struct schema_error error;
    struct sched *s;
    struct arena arena; /* the specs' strings, until the engine has copied them */
    struct platform_workspace *workspaces;
    size_t n_workspaces, cap_workspaces;
    char *err;
    size_t len;
};

/* Report the refusal in b->error as "path:line: field: message". RET its code. */
static int platform_refusal(struct platform_builder *b)
{
    return source_error(b->src, &b->error, b->err, b->len);
}

/* Report the engine's refusal rc (its sentence in refusal) of the object at the current path,
 * at its key when key is given and present in entry. */
static int platform_refused(struct platform_builder *b, const json_t *entry, const char *key,
                            int rc, const char *refusal)
{
    size_t mark = b->r.field_len;
    if (key && json_object_get(entry, key))
        reader_push_key(&b->r, key, strlen(key));
    reader_fail(&b->r, rc, "%s", refusal[0] ? refusal : allot_strerror(rc));
    reader_pop(&b->r, mark);
    return platform_refusal(b);
}

/* Read workspaces entry (at the current path) of tenant `tenant` and queue it. */
static int platform_workspace(struct platform_builder *b, const json_t *entry, const char *tenant,
                              size_t tenant_index, size_t index)
{
    struct sched_workspace_spec spec;
    int rc = spec_read_workspace(&b->r, entry, tenant, &spec);
    if (rc)
        return platform_refusal(b);
    if (ARRAY_GROW(b->workspaces, b->n_workspaces, b->cap_workspaces))
        return platform_refused(b, entry, NULL, -ALLOT_ENOMEM, "out of memory");
    b->workspaces[b->n_workspaces++] = (struct platform_workspace){
        .spec = spec, .entry = entry, .tenant = tenant_index, .index = index};
    return 0;
}

/* Read tenants entry i (at the current path), add it to the engine, and queue its
 * workspaces. */
static int platform_tenant(struct platform_builder *b, const json_t *entry, size_t i)
{
    struct sched_tenant_spec spec;
    char refusal[256] = "";
    size_t n = 0;
    int rc = spec_read_tenant(&b->r, entry, tenant_extra, &spec);
    if (rc)
        return platform_refusal(b);
    const json_t *list = reader_get(entry, "workspaces");
    if (list) {
        size_t mark = reader_push_key(&b->r, "workspaces", 10);
        rc = reader_array(&b->r, list, PLATFORM_MAX_ENTRIES, "workspaces", &n);
        if (rc)
            return platform_refusal(b);
        for (size_t w = 0; rc == 0 && w < n; w++) {
            size_t item = reader_push_index(&b->r, w);
            rc = platform_workspace(b, json_array_get(list, w), spec.name, i, w);
            reader_pop(&b->r, item);
        }
        reader_pop(&b->r, mark);
        if (rc)
            return rc;
    }
    rc = sched_tenant_add(b->s, &spec, NULL, refusal, sizeof(refusal));
    if (rc)
        return platform_refused(b, entry, rc == -ALLOT_EEXIST ? "name" : NULL, rc, refusal);
    return 0;
}

/* Read clusters entry (at the current path) and add it to the engine. */
static int platform_cluster(struct platform_builder *b, const json_t *entry, size_t i)
{
    struct sched_cluster_spec spec;
    char refusal[256] = "";
    int rc = spec_read_cluster(&b->r, entry, &spec);
    if (rc)
        return platform_refusal(b);
    rc = sched_cluster_add(b->s, &spec, NULL, refusal, sizeof(refusal));
    if (rc == -ALLOT_EEXIST || rc == -ALLOT_ENOENT)
        return platform_refused(b, entry, rc == -ALLOT_EEXIST ? "name" : "dedicated_to", rc,
                                refusal);
    return rc ? platform_refused(b, entry, NULL, rc, refusal) : 0;
}

/* Read nodes entry (at the current path) and add it to the engine. */
static int platform_node(struct platform_builder *b, const json_t *entry, size_t i)
{
    struct sched_node_spec spec;
    char refusal[256] = "";
    int rc = spec_read_node(&b->r, entry, &spec);
    if (rc)
        return platform_refusal(b);
    rc = sched_node_add(b->s, &spec, NULL, refusal, sizeof(refusal));
    if (rc == -ALLOT_EEXIST)
        return platform_refused(b, entry, "name", rc, refusal);
    if (rc == -ALLOT_ENOENT) {
        /* an unknown cluster or tenant: say which (the cluster when both are) */
        uint32_t id;
        bool cluster_known = hmap_get(&b->s->cluster_ids, spec.cluster, &id) == 0;
        return platform_refused(b, entry, cluster_known ? "tenant" : "cluster", rc, refusal);
    }
    return rc ? platform_refused(b, entry, NULL, rc, refusal) : 0;
}

/* Add the queued workspaces, now that the engine knows every node. */
static int platform_add_workspaces(struct platform_builder *b)
{
    for (size_t i = 0; i < b->n_workspaces; i++) {
        struct platform_workspace *w = &b->workspaces[i];
        char refusal[256] = "";
        int rc = sched_workspace_add(b->s, &w->spec, NULL, refusal, sizeof(refusal));
        if (rc == 0)
            continue;
        size_t mark = reader_push_key(&b->r, "tenants", 7);
        reader_push_index(&b->r, w->tenant);
        reader_push_key(&b->r, "workspaces", 10);
        reader_push_index(&b->r, w->index);
        if (rc == -ALLOT_EEXIST) {
            rc = platform_refused(b, w->entry, "name", rc, refusal);
        } else if (rc == -ALLOT_ERESERVATION || rc == -ALLOT_ECONFIG) {
            /* beyond the tenant's GPUs, or above the workspace's own gpu limit */
            const json_t *reserved = json_object_get(w->entry, "reserved");
            size_t inner = reserved ? reader_push_key(&b->r, "reserved", 8) : b->r.field_len;
            rc = platform_refused(b, reserved ? reserved : w->entry, reserved ? "gpu" : NULL, rc,
                                  refusal);
            reader_pop(&b->r, inner);
        } else {
            rc = platform_refused(b, w->entry, NULL, rc, refusal);
        }
        reader_pop(&b->r, mark);
        return rc;
    }
    return 0;
}

/* Read the list under key of root and hand each entry, with its index pushed onto the path,
 * to add. */
static int platform_each(struct platform_builder *b, const json_t *root, const char *key,
                         int (*add)(struct platform_builder *b, const json_t *entry, size_t i))
{
    const json_t *list = reader_get(root, key);
    size_t n = 0;
    if (!list)
        return 0;
    size_t mark = reader_push_key(&b->r, key, strlen(key));
    int rc = reader_array(&b->r, list, PLATFORM_MAX_ENTRIES, key, &n);
    if (rc)
        rc = platform_refusal(b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = reader_push_index(&b->r, i);
        rc = add(b, json_array_get(list, i), i);
        reader_pop(&b->r, item);
    }
    reader_pop(&b->r, mark);
    return rc;
}

/* The engine's options: its defaults, then `scheduler:` and `topology:` over them. */
static int platform_options(struct platform_builder *b, const json_t *root,
                            struct sched_options *opt)
{
    sched_options_default(opt);
    const json_t *node = reader_get(root, "scheduler"), *topology = reader_get(root, "topology");
    int rc = 0;
    if (node) {
        size_t mark = reader_push_key(&b->r, "scheduler", 9);
        rc = spec_read_scheduler(&b->r, node, false, opt);
        reader_pop(&b->r, mark);
    }
    if (rc == 0 && topology) {
        size_t mark = reader_push_key(&b->r, "topology", 8);
        rc = spec_read_topology(&b->r, topology, opt);
        reader_pop(&b->r, mark);
    }
    return rc ? platform_refusal(b) : 0;
}

int platform_build(const struct source *src, const char *const *extra_keys, struct sched **out,
                   char *err, size_t len)
{
    struct platform_builder b = {.src = src, .err = err, .len = len};
    struct sched_options opt;
    const json_t *root = src->root;
    int rc;

    *out = NULL;
    arena_init(&b.arena, 0);
    reader_init(&b.r, &b.arena, &b.error);
    b.r.source = src;
    if (!root) {
        reader_fail(&b.r, -ALLOT_EINVAL, "empty; expected a map with tenants, clusters and nodes");
        rc = platform_refusal(&b);
        goto out;
    }
    rc = reader_object_with(&b.r, root, platform_keys, extra_keys, NULL);
    if (rc == 0)
        rc = platform_options(&b, root, &opt);
    else
        rc = platform_refusal(&b);
    if (rc)
        goto out;
    rc = sched_new(&opt, &b.s);
    if (rc) {
        snprintf(err, len, "%s: cannot create the engine: %s", src->path, allot_strerror(rc));
        goto out;
    }
    /* Tenants first (clusters and nodes name them), workspaces last (their reservations are
     * checked against the GPUs of the tenant's nodes). */
    rc = platform_each(&b, root, "tenants", platform_tenant);
    if (rc == 0)
        rc = platform_each(&b, root, "clusters", platform_cluster);
    if (rc == 0)
        rc = platform_each(&b, root, "nodes", platform_node);
    if (rc == 0)
        rc = platform_add_workspaces(&b);
    if (rc)
        goto out;
    *out = b.s;
    b.s = NULL;
out:
    sched_free(b.s);
    free(b.workspaces);
    arena_cleanup(&b.arena);
    return rc;
}

int platform_load(const char *path, struct sched **out, char *err, size_t len)
{
    struct source src;
    *out = NULL;
    int rc = source_load(path, PLATFORM_MAX_BYTES, &src, err, len);
    if (rc == 0)
        rc = platform_build(&src, NULL, out, err, len);
    source_cleanup(&src);
    return rc;
}

/* Append {"op": name, "spec": spec (taken)} to ops. RET 0 or -ALLOT_ENOMEM. */
static int platform_op(json_t *ops, const char *name, json_t *spec)
{
    json_t *op = spec ? json_pack("{s:s, s:o}", "op", name, "spec", spec) : NULL;
    return op && json_array_append_new(ops, op) == 0 ? 0 : -ALLOT_ENOMEM;
}

/* Append one op per entry of the list under key of root (tenants without their workspaces). */
static int platform_list_ops(const struct source *src, json_t *ops, const char *key,
                             const char *name)
{
    const json_t *list = reader_get(src->root, key);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(list); i++) {
        json_t *spec = source_as_read(src, json_array_get(list, i));
        if (spec)
            json_object_del(spec, "workspaces");
        rc = platform_op(ops, name, spec);
    }
    return rc;
}

/* Append a workspace_add op for every workspace of every tenant, by its full name. */
static int platform_workspace_ops(const struct source *src, json_t *ops)
{
    const json_t *tenants = reader_get(src->root, "tenants");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < json_array_size(tenants); i++) {
        const json_t *tenant = json_array_get(tenants, i);
        const json_t *list = reader_get(tenant, "workspaces");
        json_t *tenant_name = source_as_read(src, json_object_get(tenant, "name"));
        for (size_t w = 0; rc == 0 && w < json_array_size(list); w++) {
            json_t *spec = source_as_read(src, json_array_get(list, w));
            const char *name = spec ? json_string_value(json_object_get(spec, "name")) : NULL;
            if (name && !strchr(name, '/') && json_is_string(tenant_name)) {
                size_t n = json_string_length(tenant_name) + 1 + strlen(name) + 1;
                char *full = malloc(n);
                if (full)
                    snprintf(full, n, "%s/%s", json_string_value(tenant_name), name);
                if (!full || json_object_set_new(spec, "name", json_string(full)) != 0)
                    rc = -ALLOT_ENOMEM;
                free(full);
            }
            rc = rc ? rc : platform_op(ops, "workspace_add", spec);
        }
        json_decref(tenant_name);
    }
    return rc;
}

int platform_ops(const struct source *src, json_t **ops)
{
    json_t *list = json_array();
    const json_t *scheduler = reader_get(src->root, "scheduler");
    const json_t *topology = reader_get(src->root, "topology");
    int rc = list ? 0 : -ALLOT_ENOMEM;
    /* the topology levels travel in the scheduler op, before any node is added */
    json_t *spec = scheduler ? source_as_read(src, scheduler) : topology ? json_object() : NULL;
    if (spec && topology &&
        json_object_set_new(spec, "topology", source_as_read(src, topology)) != 0)
        rc = -ALLOT_ENOMEM;
    if (rc == 0 && spec)
        rc = platform_op(list, "scheduler", spec);
    else
        json_decref(spec);
    if (rc == 0)
        rc = platform_list_ops(src, list, "tenants", "tenant_add");
    if (rc == 0)
        rc = platform_list_ops(src, list, "clusters", "cluster_add");
    if (rc == 0)
        rc = platform_list_ops(src, list, "nodes", "node_add");
    if (rc == 0)
        rc = platform_workspace_ops(src, list);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *ops = list;
    return 0;
}
