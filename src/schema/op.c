/* The readers of journal ops (op.h): the shape of each op checked, its values typed, a bad
 * one refused with the field named, before the controller applies anything of it. */
#include "schema/op.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "schema/spec.h"

const char *op_name(const json_t *j, struct schema_error *err)
{
    const char *name = json_string_value(json_object_get(j, "op"));
    if (!name) {
        struct reader r;
        reader_init(&r, NULL, err);
        reader_push_key(&r, "op", 2);
        reader_fail(&r, -ALLOT_EINVAL, "missing op");
    }
    return name;
}

/* The op's `spec` object at the reader's path "spec", or NULL with the error filled. */
static const json_t *op_spec(struct reader *r, const json_t *j)
{
    const json_t *spec = json_object_get(j, "spec");
    if (json_is_object(spec))
        return spec;
    size_t mark = reader_push_key(r, "spec", 4);
    reader_fail(r, -ALLOT_EINVAL, "expected an object");
    reader_pop(r, mark);
    return NULL;
}

/* The name of an object the op refers to (a node, workspace or workload) at key: any string,
 * since the engine looks it up; anything else is refused as an object it does not have,
 * -ALLOT_ENOENT "no such <what>", as the lookup would. */
static int object_ref(struct reader *r, const json_t *j, const char *key, const char *what,
                      const char **out)
{
    const json_t *v = json_object_get(j, key);
    if (json_is_string(v) && json_string_length(v) <= OP_MAX_WORKLOAD_NAME) {
        *out = json_string_value(v);
        return 0;
    }
    size_t mark = reader_push_key(r, key, strlen(key));
    int rc = reader_fail(r, -ALLOT_ENOENT, "no such %s", what);
    reader_pop(r, mark);
    return rc;
}

/* A tenant's name or null at key (required either way); OUT *out, NULL for null. */
static int tenant_or_null(struct reader *r, const json_t *j, const char *key, const char *message,
                          const char **out)
{
    const json_t *v = json_object_get(j, key);
    if (json_is_null(v) || (json_is_string(v) && json_string_length(v) <= SCHEMA_MAX_NAME)) {
        *out = json_string_value(v);
        return 0;
    }
    size_t mark = reader_push_key(r, key, strlen(key));
    int rc = reader_fail(r, -ALLOT_EINVAL, "%s", message);
    reader_pop(r, mark);
    return rc;
}

int op_read_bare(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    return 0;
}

int op_read_scheduler(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    /* -1: not given (a duration is never negative) */
    struct sched_options opt = {.default_grace_ms = -1, .starvation_age_ms = -1};
    struct reader r;
    reader_init(&r, a, err);
    const json_t *spec = op_spec(&r, j);
    int rc = spec ? spec_read_scheduler(&r, spec, true, &opt) : err->code;
    out->u.scheduler = (struct op_scheduler){
        .has_grace = opt.default_grace_ms >= 0,
        .has_age = opt.starvation_age_ms >= 0,
        .has_checkpoint_aware = spec && json_object_get(spec, "checkpoint_aware") != NULL,
        .default_grace_ms = opt.default_grace_ms,
        .starvation_age_ms = opt.starvation_age_ms,
        .checkpoint_aware = opt.checkpoint_aware,
        .has_topology = rc == 0 && reader_get(spec, "topology") != NULL,
        .n_topology = opt.n_topology,
    };
    memcpy(out->u.scheduler.topology, opt.topology, sizeof(opt.topology));
    return rc;
}

/* The op's spec at the top of a fresh reader, or NULL with err filled. */
static const json_t *spec_of(const json_t *j, struct schema_error *err)
{
    struct reader r;
    reader_init(&r, NULL, err);
    return op_spec(&r, j);
}

int op_read_tenant(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    const json_t *spec = spec_of(j, err);
    return spec ? spec_tenant_from_json(spec, a, &out->u.tenant, err) : err->code;
}

int op_read_cluster(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    const json_t *spec = spec_of(j, err);
    return spec ? spec_cluster_from_json(spec, a, &out->u.cluster, err) : err->code;
}

int op_read_node(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    const json_t *spec = spec_of(j, err);
    return spec ? spec_node_from_json(spec, a, &out->u.node, err) : err->code;
}

int op_read_workspace(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    const json_t *spec = spec_of(j, err);
    return spec ? spec_workspace_from_json(spec, NULL, a, &out->u.workspace, err) : err->code;
}

/* {KEY: name, spec: object}: a change of the object named at key (what: "tenant",
 * "workspace"), its spec read later against the object as it is. OUT *name, *spec. */
static int read_update(const json_t *j, struct arena *a, const char *key, const char **name,
                       const json_t **spec, struct schema_error *err)
{
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, key, key, name);
    if (rc == 0 && !(*spec = op_spec(&r, j)))
        rc = err->code;
    return rc;
}

int op_read_tenant_update(const json_t *j, struct arena *a, struct op *out,
                          struct schema_error *err)
{
    struct op_tenant_update *o = &out->u.tenant_update;
    return read_update(j, a, "tenant", &o->tenant, &o->spec, err);
}

int op_read_workspace_update(const json_t *j, struct arena *a, struct op *out,
                             struct schema_error *err)
{
    struct op_workspace_update *o = &out->u.workspace_update;
    return read_update(j, a, "workspace", &o->workspace, &o->spec, err);
}

int op_read_node_state(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_node_state *o = &out->u.node_state;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "node", "node", &o->node);
    const char *state = json_string_value(json_object_get(j, "state"));
    if (rc == 0 && (!state || sched_node_state_parse(state, &o->state))) {
        reader_push_key(&r, "state", 5);
        rc = reader_fail(&r, -ALLOT_EINVAL, "expected ready, draining or down");
    }
    const json_t *reason = json_object_get(j, "reason"), *by = json_object_get(j, "by");
    char why[160];
    if (rc == 0 && reason && op_node_reason_check(reason, why, sizeof(why))) {
        reader_push_key(&r, "reason", 6);
        rc = reader_fail(&r, -ALLOT_EINVAL, "%s", why);
    }
    if (rc == 0 && by && (!json_is_string(by) || json_string_length(by) > 127)) {
        reader_push_key(&r, "by", 2);
        rc = reader_fail(&r, -ALLOT_EINVAL, "expected a user's name");
    }
    o->reason = json_string_value(reason);
    o->by = json_string_value(by);
    return rc;
}

int op_node_reason_check(const json_t *reason, char *err, size_t len)
{
    const char *text = json_string_value(reason);
    size_t n = json_string_length(reason);
    bool ok = text && n <= OP_MAX_NODE_REASON;
    /* UTF-8 beyond ASCII is fine (jansson checked it), but for the C1 controls U+0080..U+009F */
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)text[i] >= 0x20 && text[i] != 0x7f &&
             !((unsigned char)text[i] == 0xc2 && i + 1 < n && (unsigned char)text[i + 1] < 0xa0);
    if (!ok)
        snprintf(err, len, "expected a sentence of at most %d bytes without control characters",
                 OP_MAX_NODE_REASON);
    return ok ? 0 : -ALLOT_EINVAL;
}

int op_read_gpu_health(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_gpu_health *o = &out->u.gpu_health;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "node", "node", &o->node);
    const json_t *index = json_object_get(j, "index"), *healthy = json_object_get(j, "healthy");
    if (rc == 0 &&
        (!json_is_integer(index) || !json_is_boolean(healthy) || json_integer_value(index) < 0 ||
         json_integer_value(index) >= SCHED_MAX_GPUS_PER_NODE)) {
        reader_push_key(&r, "index", 5);
        rc = reader_fail(&r, -ALLOT_EINVAL,
                         "expected a GPU index of the node and healthy true or false");
    }
    if (rc == 0) {
        o->index = (uint32_t)json_integer_value(index);
        o->healthy = json_is_true(healthy);
    }
    return rc;
}

int op_read_node_move(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_node_tenant *o = &out->u.node_tenant;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "node", "node", &o->node);
    rc = rc ? rc
            : tenant_or_null(&r, j, "tenant", "expected a tenant name, or null for none",
                             &o->tenant);
    o->wipe = json_is_true(json_object_get(j, "wipe"));
    return rc;
}

int op_read_node_wiped(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_node_tenant *o = &out->u.node_tenant;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "node", "node", &o->node);
    rc = rc ? rc : tenant_or_null(&r, j, "tenant", "expected a tenant's name, or null", &o->tenant);
    o->wipe = false;
    return rc;
}

int op_read_node_move_cancel(const json_t *j, struct arena *a, struct op *out,
                             struct schema_error *err)
{
    struct op_node_tenant *o = &out->u.node_tenant;
    struct reader r;
    reader_init(&r, a, err);
    *o = (struct op_node_tenant){0};
    return object_ref(&r, j, "node", "node", &o->node);
}

int op_read_submit(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_submit *o = &out->u.submit;
    if (!(o->spec = spec_of(j, err)))
        return err->code;
    const char *user = json_string_value(json_object_get(j, "user"));
    o->user = user ? user : "";
    return workload_from_json(o->spec, a, &o->workload, err);
}

int op_read_workload_end(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_workload_end *o = &out->u.end;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "workload", "workload", &o->workload);
    /* a rank or an exit of another shape than an agent's is no replica's and no exit: the
     * journal of earlier versions is read as they read it */
    const json_t *rank = json_object_get(j, "rank");
    const json_t *exit_info = json_object_get(j, "exit");
    o->has_rank = json_is_integer(rank);
    o->rank = json_integer_value(rank);
    o->exit = json_is_object(exit_info) && json_object_size(exit_info) ? exit_info : NULL;
    o->time_limit = json_is_true(json_object_get(exit_info, "time_limit"));
    o->failed = json_integer_value(json_object_get(exit_info, "code")) != 0 ||
                json_integer_value(json_object_get(exit_info, "signal")) != 0 || o->time_limit;
    return rc;
}

int op_read_checkpoint(const json_t *j, struct arena *a, struct op *out, struct schema_error *err)
{
    struct op_checkpoint *o = &out->u.checkpoint;
    struct reader r;
    reader_init(&r, a, err);
    int rc = object_ref(&r, j, "workload", "workload", &o->workload);
    o->has_at = json_object_get(j, "at") != NULL;
    o->at_ms = 0;
    if (rc == 0 && o->has_at)
        rc = reader_key_int(&r, j, "at", 0, INT64_MAX, &o->at_ms);
    return rc;
}
