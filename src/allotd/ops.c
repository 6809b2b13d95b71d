/* The journal ops' apply functions and their table (ops.h): each takes an op its reader
 * (src/schema/op.c) has checked, looks up what it names in the engine and changes the engine
 * and the controller's records; an error leaves both as they were. */
#include "allotd/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allotd/controller.h"
#include "allotd/fleet.h"
#include "allotd/vnode.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/quantity.h"
#include "schema/op.h"
#include "schema/spec.h"
#include "schema/view.h"

/* Apply a read op at time t. OUT *result as ops_run. RET 0, or a negative error with e
 * filled; the engine and the controller are unchanged then. */
typedef int (*op_apply)(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                        json_t **result, struct schema_error *e);

struct op_row {
    const char *name;
    op_reader read;
    op_apply apply;
};

/* Fill e (field, then a sentence) and RET rc. */
static int refuse(struct schema_error *e, int rc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(struct schema_error *e, int rc, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    e->code = rc;
    return rc;
}

/* The node an op names, or -ALLOT_ENOENT naming the field "node". */
static int node_of(struct controller *ctl, const char *name, uint32_t *id, struct schema_error *e)
{
    if (sched_node_find(ctl->engine, name, id))
        return refuse(e, -ALLOT_ENOENT, "node", "no such node");
    return 0;
}

static void set_result(json_t **result, json_t *view)
{
    if (result)
        *result = view;
    else
        json_decref(view);
}

static int apply_schedule(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                          json_t **result, struct schema_error *e)
{
    return sched_schedule(ctl->engine, t);
}

static int apply_tick(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                      json_t **result, struct schema_error *e)
{
    sched_touch(ctl->engine); /* the pass itself follows at the commit, as for any op */
    return 0;
}

static int apply_scheduler(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                           json_t **result, struct schema_error *e)
{
    const struct op_scheduler *o = &op->u.scheduler;
    if (o->has_topology) { /* first: a refused change leaves the options as they were */
        char why[sizeof(e->message)];
        int rc = sched_topology_set(ctl->engine, o->topology, o->n_topology, why, sizeof(why));
        if (rc)
            return refuse(e, rc, "topology", "%s", why);
    }
    if (o->has_grace)
        ctl->engine->opt.default_grace_ms = o->default_grace_ms;
    if (o->has_age)
        ctl->engine->opt.starvation_age_ms = o->starvation_age_ms;
    if (o->has_checkpoint_aware)
        ctl->engine->opt.checkpoint_aware = o->checkpoint_aware;
    return 0;
}

static int apply_tenant_add(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                            json_t **result, struct schema_error *e)
{
    uint32_t id;
    return sched_tenant_add(ctl->engine, &op->u.tenant, &id, e->message, sizeof(e->message));
}

static int apply_cluster_add(struct controller *ctl, const struct op *op, int64_t t,
                             struct arena *a, json_t **result, struct schema_error *e)
{
    uint32_t id;
    return sched_cluster_add(ctl->engine, &op->u.cluster, &id, e->message, sizeof(e->message));
}

static int apply_node_add(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                          json_t **result, struct schema_error *e)
{
    uint32_t id;
    int rc = sched_node_add(ctl->engine, &op->u.node, &id, e->message, sizeof(e->message));
    if (!rc)
        set_result(result, controller_node_json(ctl, id));
    return rc;
}

static int apply_workspace_add(struct controller *ctl, const struct op *op, int64_t t,
                               struct arena *a, json_t **result, struct schema_error *e)
{
    uint32_t id;
    int rc =
        sched_workspace_add(ctl->engine, &op->u.workspace, &id, e->message, sizeof(e->message));
    if (!rc)
        set_result(result, view_workspace(ctl->engine, id));
    return rc;
}

/* The patch is read against the tenant as it is now: only its queue cap changes
 * (docs/policy.md, "Queue caps"). */
static int apply_tenant_update(struct controller *ctl, const struct op *op, int64_t t,
                               struct arena *a, json_t **result, struct schema_error *e)
{
    struct sched *s = ctl->engine;
    uint32_t id;
    if (sched_tenant_find(s, op->u.tenant_update.tenant, &id))
        return refuse(e, -ALLOT_ENOENT, "tenant", "no such tenant");
    struct sched_tenant_spec spec = {.name = s->tenants[id].name,
                                     .max_queued = s->tenants[id].max_queued};
    int rc = spec_tenant_patch_from_json(op->u.tenant_update.spec, a, &spec, e);
    if (rc)
        return e->code ? e->code : -ALLOT_EINVAL;
    rc = sched_tenant_set_queued(s, id, spec.max_queued, e->message, sizeof(e->message));
    if (!rc)
        set_result(result, view_tenant(s, id));
    return rc;
}

/* The patch is read against the workspace as it is now: only the fields given change. */
static int apply_workspace_update(struct controller *ctl, const struct op *op, int64_t t,
                                  struct arena *a, json_t **result, struct schema_error *e)
{
    struct sched *s = ctl->engine;
    uint32_t id;
    if (sched_workspace_find(s, op->u.workspace_update.workspace, &id))
        return refuse(e, -ALLOT_ENOENT, "workspace", "no such workspace");
    const struct sched_workspace *cur = &s->workspaces[id];
    struct sched_workspace_spec ws = {.name = cur->name,
                                      .limits = cur->limits,
                                      .reserved = cur->reserved,
                                      .lend = cur->lend,
                                      .weight = cur->weight,
                                      .require_image = cur->require_image,
                                      .default_time_limit_ms = cur->default_time_limit_ms,
                                      .max_time_limit_ms = cur->max_time_limit_ms,
                                      .max_queued = cur->max_queued};
    memcpy(ws.min_runtime_ms, cur->min_runtime_ms, sizeof(ws.min_runtime_ms));
    int rc = spec_workspace_patch_from_json(op->u.workspace_update.spec, a, &ws, e);
    if (rc)
        return e->code ? e->code : -ALLOT_EINVAL;
    rc = sched_workspace_update(s, &ws, t, e->message, sizeof(e->message));
    if (!rc)
        set_result(result, view_workspace(s, id));
    return rc;
}

/* The node's reason (controller.node_reasons) follows the op: set when it gives one, dropped
 * when the node is ready again or drained anew without one; a node already drained or down
 * keeps its reason through a change without one (allotd's down after its own drain). */
static int apply_node_state(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                            json_t **result, struct schema_error *e)
{
    const struct op_node_state *o = &op->u.node_state;
    uint32_t id;
    int rc = node_of(ctl, o->node, &id, e);
    if (rc)
        return rc;
    bool was_ready = ctl->engine->nodes[id].state == SCHED_NODE_READY;
    rc = sched_node_set_state_why(ctl->engine, id, o->state, o->reason, t);
    if (rc == -ALLOT_ESTATE)
        return refuse(e, rc, "", "node %s is moving to another tenant: cancel the move first",
                      o->node);
    if (rc)
        return rc;
    const char *name = ctl->engine->nodes[id].name;
    if (o->state != SCHED_NODE_READY && o->reason && *o->reason) {
        json_t *why =
            json_pack("{s:s, s:s*, s:I}", "reason", o->reason, "by", o->by, "at", (json_int_t)t);
        if (!why || json_object_set_new(ctl->node_reasons, name, why))
            return refuse(e, -ALLOT_ENOMEM, "", "out of memory");
    } else if (o->state == SCHED_NODE_READY || was_ready) {
        json_object_del(ctl->node_reasons, name);
    }
    set_result(result, controller_node_json(ctl, id));
    return 0;
}

static int apply_gpu_health(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                            json_t **result, struct schema_error *e)
{
    const struct op_gpu_health *o = &op->u.gpu_health;
    uint32_t id;
    int rc = node_of(ctl, o->node, &id, e);
    if (rc)
        return rc;
    if (o->index >= ctl->engine->nodes[id].n_gpus)
        return refuse(e, -ALLOT_EINVAL, "index",
                      "expected a GPU index of the node and healthy true or false");
    return sched_gpu_set_health(ctl->engine, id, o->index, o->healthy, t);
}

/* With node agents, the node joins the new tenant once its agent wiped it. */
static int apply_node_move(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                           json_t **result, struct schema_error *e)
{
    const struct op_node_tenant *o = &op->u.node_tenant;
    uint32_t id;
    int rc = node_of(ctl, o->node, &id, e);
    if (rc)
        return rc;
    rc = sched_node_move(ctl->engine, id, o->tenant, o->wipe, t, e->message, sizeof(e->message));
    if (rc) {
        snprintf(e->field, sizeof(e->field), "tenant");
        return rc;
    }
    fleet_node_changed(ctl->fleet, id); /* its agent may now have a wipe to do */
    set_result(result, controller_node_json(ctl, id));
    return 0;
}

static int apply_node_wiped(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                            json_t **result, struct schema_error *e)
{
    const struct op_node_tenant *o = &op->u.node_tenant;
    uint32_t id, tenant = SCHED_NONE;
    int rc = node_of(ctl, o->node, &id, e);
    if (rc)
        return rc;
    if (o->tenant && sched_tenant_find(ctl->engine, o->tenant, &tenant))
        return refuse(e, -ALLOT_EINVAL, "tenant", "expected a tenant's name, or null");
    rc = sched_node_wiped(ctl->engine, id, tenant, t);
    if (rc)
        return refuse(e, rc, "", "node %s waits for no wipe for that tenant", o->node);
    fleet_node_changed(ctl->fleet, id);
    return 0;
}

/* The node stays its tenant's; its agent serves that tenant again if it was to wipe it. */
static int apply_node_move_cancel(struct controller *ctl, const struct op *op, int64_t t,
                                  struct arena *a, json_t **result, struct schema_error *e)
{
    const struct op_node_tenant *o = &op->u.node_tenant;
    uint32_t id;
    int rc = node_of(ctl, o->node, &id, e);
    if (rc)
        return rc;
    rc = sched_node_move_cancel(ctl->engine, id, t);
    if (rc == -ALLOT_ESTATE)
        return refuse(e, rc, "", "node %s is not moving (no move, or it has completed)", o->node);
    if (rc)
        return rc;
    if (ctl->engine->nodes[id].state == SCHED_NODE_READY)
        json_object_del(ctl->node_reasons, ctl->engine->nodes[id].name);
    fleet_node_changed(ctl->fleet, id);
    set_result(result, controller_node_json(ctl, id));
    return 0;
}

/* What the controller keeps of a new workload beyond the engine: its owner, virtual run time,
 * command and environment (the spec as submitted), and its idempotency key. */
static void submit_record(struct controller *ctl, uint32_t id, const struct op_submit *o)
{
    struct controller_workload *x = controller_extra(ctl, id);
    if (x) {
        x->owner = strdup(o->user);
        x->duration_ms = o->workload.duration_ms;
        x->extra = json_incref((json_t *)o->spec);
    }
    if (o->workload.idempotency_key) {
        char key[512];
        snprintf(key, sizeof(key), "%s\x1f%s", o->workload.w.workspace,
                 o->workload.idempotency_key);
        json_object_set_new(ctl->idempotency, key, json_integer(id));
    }
}

/* A submission the engine rejects at once is still an op: the workload exists, rejected. One
 * without an image where its workspace or tenant requires one (require_image) is refused
 * before the engine sees it, naming the field image: the client's request misses a field the
 * policy asks for, and nothing is created (docs/api.md). */
static int apply_submit(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                        json_t **result, struct schema_error *e)
{
    const struct op_submit *o = &op->u.submit;
    struct sched_workload_spec w = o->workload.w;
    uint32_t wsid;
    char why[256];
    if (!w.has_image && sched_workspace_find(ctl->engine, w.workspace, &wsid) == 0 &&
        sched_image_required(ctl->engine, wsid, why, sizeof(why)))
        return refuse(e, -ALLOT_EINVAL, "image", "%s", why);
    /* above its workspace's max_time_limit: a field of the request the policy refuses, as
     * image (the engine would reject it: exceeds_time_limit) */
    if (w.time_limit_ms > 0 && sched_workspace_find(ctl->engine, w.workspace, &wsid) == 0 &&
        ctl->engine->workspaces[wsid].max_time_limit_ms > 0 &&
        w.time_limit_ms > ctl->engine->workspaces[wsid].max_time_limit_ms) {
        char want[32], max[32];
        return refuse(e, -ALLOT_EINVAL, "time_limit",
                      "%s is above workspace %s's max_time_limit of %s",
                      quantity_format_duration(w.time_limit_ms, want, sizeof(want)), w.workspace,
                      quantity_format_duration(ctl->engine->workspaces[wsid].max_time_limit_ms, max,
                                               sizeof(max)));
    }
    uint32_t level;
    if (w.topology && sched_topology_find(ctl->engine, w.topology, &level))
        return refuse(e, -ALLOT_EINVAL,
                      w.topology_required ? "topology.required" : "topology.preferred",
                      "'%.64s' is not a topology level of the platform (its platform file's "
                      "topology)",
                      w.topology);
    /* agents run a command or an image's own entrypoint: with neither it could never start.
     * A replay applies what was accepted then, whatever the nodes are now. */
    if (!ctl->opt.virtual_nodes && !ctl->replaying && !w.has_image && !o->workload.n_command)
        return refuse(e, -ALLOT_EINVAL, "command",
                      "give a command: node agents need a command to run (or an image whose "
                      "entrypoint runs)");
    /* the engine's name is unique platform-wide: tenant/workspace/name */
    char *full = arena_alloc(a, strlen(w.workspace) + strlen(w.name) + 2);
    if (!full)
        return refuse(e, -ALLOT_ENOMEM, "", "out of memory");
    sprintf(full, "%s/%s", w.workspace, w.name);
    w.name = full;
    uint32_t id = SCHED_NONE;
    int sub = sched_submit(ctl->engine, &w, t, &id, why, sizeof(why));
    if (id == SCHED_NONE) /* nothing was created: not an op */
        return refuse(e, sub, sub == -ALLOT_EEXIST ? "name" : "", "%s", why);
    submit_record(ctl, id, o);
    set_result(result, view_workload(ctl->engine, id));
    return 0;
}

/* A replica of gang workload id ended (finish or stopped with its rank): is the whole gang
 * over now? A gang finishes when every replica has exited, or fails at once when one fails
 * (failing: a non-zero code or a signal: the others are then stopped); a draining gang is
 * stopped once every replica has. An op without a rank, or a workload of one replica, is over at
 * once. The record is the controller's, rebuilt by replaying the same ops. RET 1 (over), 0 (other
 * replicas still run), or -ALLOT_EINVAL (no such replica: nothing recorded). */
static int gang_over(struct controller *ctl, uint32_t id, const struct op_workload_end *o,
                     bool failing)
{
    const struct sched_workload *w = &ctl->engine->workloads[id];
    struct controller_workload *x = controller_extra(ctl, id);
    if (w->replicas <= 1 || !o->has_rank || !x)
        return 1;
    if (o->rank < 0 || o->rank >= w->replicas)
        return -ALLOT_EINVAL;
    if (!x->ended) {
        x->ended = calloc(w->replicas, 1);
        if (!x->ended)
            return 1; /* without memory, the gang ends with its first replica */
    }
    if (!x->ended[o->rank]) {
        x->ended[o->rank] = 1;
        x->n_ended++;
    }
    return x->n_ended == w->replicas || failing;
}

/* cancel, finish and stopped: end workload op names with the engine's end (sched_fail for a
 * finish whose exit says the run failed). */
static int workload_end(struct controller *ctl, const struct op *op, int64_t t,
                        int (*end)(struct sched *, uint32_t, int64_t), bool whole, json_t **result,
                        struct schema_error *e)
{
    struct sched *s = ctl->engine;
    const struct op_workload_end *o = &op->u.end;
    uint32_t id;
    if (sched_workload_find(s, o->workload, &id))
        return refuse(e, -ALLOT_ENOENT, "workload", "no such workload");
    controller_view_forget(ctl, id); /* a cancel may change it without an event */
    int over =
        whole ? 1 : gang_over(ctl, id, o, end == sched_fail || end == sched_time_limit_reached);
    if (over < 0)
        return refuse(e, over, "rank", "the workload has no replica %lld", (long long)o->rank);
    if (over == 0) { /* other replicas of its gang still run: this one's end is recorded */
        fleet_track(ctl->fleet, id); /* its node's desired set lacks it now */
        return 0;
    }
    int rc = end(s, id, t);
    /* a cancel drains without an event: its nodes' desired sets say so now (held polls) */
    fleet_track(ctl->fleet, id);
    if (rc == -ALLOT_ESTATE)
        return refuse(e, rc, "", "the workload is %s", sched_state_name(s->workloads[id].state));
    if (rc)
        return rc;
    if (end == sched_cancel && s->workloads[id].state == SCHED_DRAINING)
        vnodes_arm(ctl->vnodes, id, s->workloads[id].deadline_ms, true);
    /* how the process ended, as its agent reported it: kept for the workload's view */
    if (o->exit && id < ctl->cap_extra) {
        json_decref(ctl->extra[id].exit);
        ctl->extra[id].exit = json_deep_copy(o->exit);
    }
    set_result(result, view_workload(s, id));
    return 0;
}

static int apply_cancel(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                        json_t **result, struct schema_error *e)
{
    return workload_end(ctl, op, t, sched_cancel, true, result, e);
}

static int apply_finish(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                        json_t **result, struct schema_error *e)
{
    /* the op says how the run ended: a replay decides the same (docs/api.md, "States"); at
     * its time limit it fails with reason time_limit, whatever its exit */
    return workload_end(ctl, op, t,
                        op->u.end.time_limit ? sched_time_limit_reached
                        : op->u.end.failed   ? sched_fail
                                             : sched_finish,
                        false, result, e);
}

static int apply_stopped(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                         json_t **result, struct schema_error *e)
{
    return workload_end(ctl, op, t, sched_stopped, false, result, e);
}

/* An ended workload leaves the engine (and its slot is free again): its last view goes to the
 * history with the commit (controller_forget). */
static int apply_forget(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                        json_t **result, struct schema_error *e)
{
    uint32_t id;
    if (sched_workload_find(ctl->engine, op->u.end.workload, &id))
        return refuse(e, -ALLOT_ENOENT, "workload", "no such workload");
    enum sched_state st = ctl->engine->workloads[id].state;
    if (!sched_state_ended(st))
        return refuse(e, -ALLOT_ESTATE, "", "the workload is %s: only an ended one is forgotten",
                      sched_state_name(st));
    int rc = controller_forget(ctl, id);
    return rc ? refuse(e, rc, "", "out of memory") : 0;
}

/* A workload saved its work (its agent saw its checkpoint file change, or the API was told):
 * at `at` or, without one, the op's time (docs/policy.md, "Lost work"). */
static int apply_checkpoint(struct controller *ctl, const struct op *op, int64_t t, struct arena *a,
                            json_t **result, struct schema_error *e)
{
    struct sched *s = ctl->engine;
    const struct op_checkpoint *o = &op->u.checkpoint;
    uint32_t id;
    if (sched_workload_find(s, o->workload, &id))
        return refuse(e, -ALLOT_ENOENT, "workload", "no such workload");
    int64_t at = o->has_at ? o->at_ms : t;
    int rc = sched_checkpoint(s, id, at, t);
    if (rc == -ALLOT_ESTATE)
        return refuse(e, rc, "", "the workload is %s: only running work checkpoints",
                      sched_state_name(s->workloads[id].state));
    if (rc == -ALLOT_EINVAL)
        return refuse(e, rc, "at", "a checkpoint is not before the workload's start nor after now");
    if (rc)
        return rc;
    controller_view_forget(ctl, id); /* its view shows last_checkpoint */
    set_result(result, view_workload(s, id));
    return 0;
}

static const struct op_row op_rows[] = {
    {OP_SCHEDULE, op_read_bare, apply_schedule},
    {OP_SCHEDULER, op_read_scheduler, apply_scheduler},
    {OP_TICK, op_read_bare, apply_tick},
    {OP_TENANT_ADD, op_read_tenant, apply_tenant_add},
    {OP_TENANT_UPDATE, op_read_tenant_update, apply_tenant_update},
    {OP_CLUSTER_ADD, op_read_cluster, apply_cluster_add},
    {OP_NODE_ADD, op_read_node, apply_node_add},
    {OP_WORKSPACE_ADD, op_read_workspace, apply_workspace_add},
    {OP_WORKSPACE_UPDATE, op_read_workspace_update, apply_workspace_update},
    {OP_NODE_STATE, op_read_node_state, apply_node_state},
    {OP_GPU_HEALTH, op_read_gpu_health, apply_gpu_health},
    {OP_NODE_MOVE, op_read_node_move, apply_node_move},
    {OP_NODE_WIPED, op_read_node_wiped, apply_node_wiped},
    {OP_NODE_MOVE_CANCEL, op_read_node_move_cancel, apply_node_move_cancel},
    {OP_SUBMIT, op_read_submit, apply_submit},
    {OP_CANCEL, op_read_workload_end, apply_cancel},
    {OP_FINISH, op_read_workload_end, apply_finish},
    {OP_STOPPED, op_read_workload_end, apply_stopped},
    {OP_FORGET, op_read_workload_end, apply_forget},
    {OP_CHECKPOINT, op_read_checkpoint, apply_checkpoint},
};
#define N_OP_ROWS (sizeof(op_rows) / sizeof(op_rows[0]))

size_t ops_count(void)
{
    return N_OP_ROWS;
}

const char *ops_name(size_t i)
{
    return i < N_OP_ROWS ? op_rows[i].name : NULL;
}

int ops_run(struct controller *ctl, const json_t *op, int64_t t, json_t **result, char *field,
            size_t field_len, char *err, size_t len)
{
    struct schema_error e = {0};
    struct op read = {0};
    struct arena a;
    int rc;
    arena_init(&a, 0);
    const char *name = op_name(op, &e);
    size_t k = 0;
    while (name && k < N_OP_ROWS && strcmp(op_rows[k].name, name) != 0)
        k++;
    if (!name) {
        rc = e.code;
        goto out;
    }
    if (k == N_OP_ROWS) {
        rc = refuse(&e, -ALLOT_EINVAL, "op", "unknown op '%s'", name);
        goto out;
    }
    read.name = op_rows[k].name;
    rc = op_rows[k].read(op, &a, &read, &e);
    if (rc) {
        rc = e.code ? e.code : rc;
        goto out;
    }
    rc = op_rows[k].apply(ctl, &read, t, &a, result, &e);
out:
    snprintf(field, field_len, "%s", rc ? e.field : "");
    snprintf(err, len, "%s", rc ? e.message : "");
    arena_cleanup(&a);
    return rc;
}
