/* JSON views of engine events, shared by the simulator's --json output and the daemon's
 * event stream: one schema (docs/simulator.md). */
#include "schema/view.h"

#include "schema/spec.h"
#include "sched/mig.h"
#include "sched/reason.h"

#include "common/quantity.h"

json_t *view_time(int64_t ms)
{
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000.0);
}

/* The placement of workload w as JSON: one object per replica. */
json_t *view_placement(const struct sched *s, const struct sched_workload *w)
{
    json_t *list = json_array();
    for (uint32_t r = 0; r < w->replicas; r++) {
        const struct sched_replica *rp = &w->placement[r];
        const struct sched_node *n = &s->nodes[rp->node];
        json_t *o = json_object();
        json_object_set_new(o, "node", json_string(n->name));
        if (rp->mig_gpu >= 0) {
            const struct sched_gpu *g = &n->gpus[rp->mig_gpu];
            json_object_set_new(o, "gpu", json_integer(rp->mig_gpu));
            json_object_set_new(o, "profile", json_string(mig_name(w->mig)));
            json_object_set_new(o, "start", json_integer(g->mig[rp->mig_slot].start));
        } else {
            json_t *gpus = json_array();
            for (uint32_t i = 0; i < n->n_gpus; i++)
                if (rp->gpu_mask >> i & 1)
                    json_array_append_new(gpus, json_integer(i));
            json_object_set_new(o, "gpus", gpus);
        }
        json_array_append_new(list, o);
    }
    return list;
}

/* One engine event as the documented JSON object. */
json_t *view_event(const struct sched *s, const struct sched_event *e, int64_t epoch_ms)
{
    json_t *o = json_object();
    json_object_set_new(o, "t", view_time(e->t - epoch_ms));
    json_object_set_new(o, "event", json_string(sched_event_name(e->kind)));
    if (e->workload != SCHED_NONE) {
        const struct sched_workload *w = &s->workloads[e->workload];
        json_object_set_new(o, "workload", json_string(w->name));
        if (w->state != SCHED_REJECTED || w->reason != SCHED_REASON_UNKNOWN_WORKSPACE)
            json_object_set_new(o, "workspace", json_string(s->workspaces[w->workspace].name));
    }
    switch (e->kind) {
    case SCHED_EV_QUEUED:
    case SCHED_EV_REJECTED:
        json_object_set_new(o, "reason", json_string(reason_name(e->reason)));
        json_object_set_new(o, "message", json_string(e->message));
        break;
    case SCHED_EV_ADMITTED:
        json_object_set_new(o, "placement", view_placement(s, &s->workloads[e->workload]));
        json_object_set_new(o, "borrowed", json_boolean(e->borrowed));
        break;
    case SCHED_EV_PREEMPTING:
        json_object_set_new(o, "reason", json_string(reason_name(e->reason)));
        if (e->other != SCHED_NONE)
            json_object_set_new(o, "for", json_string(s->workloads[e->other].name));
        json_object_set_new(o, "deadline", view_time(e->deadline - epoch_ms));
        break;
    case SCHED_EV_STOPPED:
    case SCHED_EV_CANCELLED:
        json_object_set_new(o, "reason", json_string(reason_name(e->reason)));
        break;
    case SCHED_EV_NODE_STATE:
    case SCHED_EV_GPU_HEALTH:
        json_object_set_new(o, "node", json_string(s->nodes[e->node].name));
        if (e->kind == SCHED_EV_GPU_HEALTH) {
            json_object_set_new(o, "gpu", json_integer(e->gpu));
            json_object_set_new(o, "healthy", json_boolean(s->nodes[e->node].gpus[e->gpu].healthy));
        } else {
            json_object_set_new(o, "state",
                                json_string(sched_node_state_name(s->nodes[e->node].state)));
            json_object_set_new(o, "from",
                                json_string(sched_node_state_name((enum sched_node_state)e->a)));
        }
        json_object_set_new(o, "message", json_string(e->message));
        break;
    case SCHED_EV_WORKSPACE_UPDATED:
        json_object_set_new(o, "workspace", json_string(s->workspaces[e->workspace].name));
        json_object_set_new(o, "message", json_string(e->message));
        break;
    case SCHED_EV_RESERVATION_DEGRADED:
    case SCHED_EV_RESERVATION_RESTORED: {
        char a[32], b[32];
        json_object_set_new(o, "tenant", json_string(s->tenants[e->tenant].name));
        json_object_set_new(o, "healthy_gpus",
                            json_string(quantity_format_gpu(e->a, a, sizeof(a))));
        json_object_set_new(o, "reserved_gpus",
                            json_string(quantity_format_gpu(e->b, b, sizeof(b))));
        json_object_set_new(o, "message", json_string(e->message));
        break;
    }
    default:
        break;
    }
    return o;
}

/* Set key of o to v (taken). A NULL o or v, or a failed set, clears *ok. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) != 0) /* a NULL o: v is freed, -1 */
        *ok = false;
}

static void append(json_t *list, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(list, v) != 0)
        *ok = false;
}

/* o when everything went in, else NULL (and o is freed). */
static json_t *done(json_t *o, bool ok)
{
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

static json_t *gpu_json(int64_t units)
{
    char buf[48];
    return json_string(quantity_format_gpu(units, buf, sizeof(buf)));
}

static json_t *cpu_json(int64_t millicores)
{
    char buf[48];
    return json_string(quantity_format_cpu(millicores, buf, sizeof(buf)));
}

static json_t *bytes_json(int64_t bytes)
{
    char buf[48];
    return json_string(quantity_format_bytes(bytes, buf, sizeof(buf)));
}

static json_t *duration_json(int64_t ms)
{
    char buf[64];
    return json_string(quantity_format_duration(ms, buf, sizeof(buf)));
}

/* A limit in its unit, or "none". */
static json_t *limit_json(enum sched_resource which, int64_t v)
{
    if (v == SCHED_UNLIMITED)
        return json_string("none");
    return which == SCHED_RES_GPU   ? gpu_json(v)
           : which == SCHED_RES_CPU ? cpu_json(v)
                                    : bytes_json(v);
}

/* The name of workload id, or null for SCHED_NONE (or an id out of range). */
static json_t *holder_json(const struct sched *s, uint32_t id)
{
    return id < s->n_workloads ? json_string(s->workloads[id].name) : json_null();
}

json_t *view_tenant(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_tenants)
        return NULL;
    const struct sched_tenant *t = &s->tenants[id];
    bool ok = true;
    json_t *o = json_object(), *gpus = json_object();
    put(o, "name", json_string(t->name), &ok);
    put(o, "isolation", json_string(spec_isolation_name(t->isolation)), &ok);
    put(o, "max_grace", t->max_grace_ms > 0 ? duration_json(t->max_grace_ms) : json_null(), &ok);
    put(o, "require_image", json_boolean(t->require_image), &ok);
    uint64_t queued = 0;
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        queued += s->workspaces[t->workspaces[i]].n_pending;
    put(o, "limits", json_pack("{s:I}", "queued", (json_int_t)t->max_queued), &ok);
    put(o, "queued", json_integer((json_int_t)queued), &ok);
    put(o, "nodes", json_integer(t->n_nodes), &ok);
    put(gpus, "owned", gpu_json(t->owned_units), &ok);
    put(gpus, "healthy", gpu_json(t->healthy_units), &ok);
    put(gpus, "free", gpu_json(t->free_units), &ok);
    put(gpus, "reserved", gpu_json(t->reserved_units), &ok);
    put(o, "gpus", gpus, &ok);
    put(o, "degraded", json_boolean(t->degraded), &ok);
    return done(o, ok);
}

json_t *view_cluster(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_clusters)
        return NULL;
    const struct sched_cluster *c = &s->clusters[id];
    uint32_t nodes = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        nodes += s->nodes[i].cluster == id;
    bool ok = true;
    json_t *o = json_object();
    put(o, "name", json_string(c->name), &ok);
    put(o, "dedicated_to",
        c->dedicated_to < s->n_tenants ? json_string(s->tenants[c->dedicated_to].name)
                                       : json_null(),
        &ok);
    put(o, "nodes", json_integer(nodes), &ok);
    return done(o, ok);
}

/* One GPU of a node: {index, model, healthy, holder} or {index, model, healthy, mig: [...]}. */
static json_t *gpu_view(const struct sched *s, const struct sched_gpu *g, uint32_t index, bool *ok)
{
    const struct gpu_model_info *info = mig_model(g->model);
    json_t *o = json_object();
    put(o, "index", json_integer(index), ok);
    put(o, "model", json_string(info->name), ok);
    put(o, "healthy", json_boolean(g->healthy), ok);
    if (g->n_mig == 0) {
        put(o, "holder", holder_json(s, g->holder), ok);
        return o;
    }
    json_t *slots = json_array();
    for (int k = 0; k < g->n_mig; k++) {
        const struct sched_mig_slot *slot = &g->mig[k];
        json_t *x = json_object();
        put(x, "profile", json_string(info->profiles[slot->profile].name), ok);
        put(x, "start", json_integer(slot->start), ok);
        put(x, "holder", holder_json(s, slot->holder), ok);
        append(slots, x, ok);
    }
    put(o, "mig", slots, ok);
    return o;
}

json_t *view_node(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_nodes)
        return NULL;
    const struct sched_node *n = &s->nodes[id];
    bool ok = true;
    json_t *o = json_object(), *labels = json_object(), *gpus = json_array();
    put(o, "name", json_string(n->name), &ok);
    put(o, "cluster", json_string(s->clusters[n->cluster].name), &ok);
    put(o, "tenant",
        n->tenant < s->n_tenants ? json_string(s->tenants[n->tenant].name) : json_null(), &ok);
    put(o, "state", json_string(sched_node_state_name(n->state)), &ok);
    if (n->moving_to != SCHED_NONE) { /* a move under way: to whom, and what it waits for */
        json_t *move = json_object();
        put(move, "to",
            n->moving_to < s->n_tenants ? json_string(s->tenants[n->moving_to].name) : json_null(),
            &ok);
        put(move, "waits_for",
            json_string(sched_node_serving(s, id) != n->tenant ? "wipe" : "drain"), &ok);
        put(o, "moving", move, &ok);
    }
    put(o, "cpu", cpu_json(n->cpu), &ok);
    put(o, "memory", bytes_json(n->memory), &ok);
    put(o, "cpu_used", cpu_json(n->cpu_used), &ok);
    put(o, "memory_used", bytes_json(n->memory_used), &ok);
    for (uint32_t i = 0; i < n->n_labels; i++)
        put(labels, n->labels[i].key, json_string(n->labels[i].value), &ok);
    put(o, "labels", labels, &ok);
    for (uint32_t i = 0; i < n->n_gpus; i++)
        append(gpus, gpu_view(s, &n->gpus[i], i, &ok), &ok);
    put(o, "gpus", gpus, &ok);
    return done(o, ok);
}

json_t *view_workspace(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_workspaces)
        return NULL;
    const struct sched_workspace *ws = &s->workspaces[id];
    bool ok = true;
    json_t *o = json_object(), *reserved = json_object(), *limits = json_object();
    json_t *usage = json_object();
    put(o, "name", json_string(ws->name), &ok);
    put(o, "tenant", json_string(s->tenants[ws->tenant].name), &ok);
    put(reserved, "gpu", gpu_json(ws->reserved), &ok);
    put(o, "reserved", reserved, &ok);
    for (int k = 0; k < 4; k++)
        put(limits, sched_resource_name((enum sched_resource)k),
            limit_json((enum sched_resource)k,
                       sched_resources_get(&ws->limits, (enum sched_resource)k)),
            &ok);
    put(limits, "queued", json_integer(ws->max_queued), &ok);
    put(o, "limits", limits, &ok);
    put(o, "lend", json_boolean(ws->lend), &ok);
    put(o, "weight", json_integer(ws->weight), &ok);
    put(o, "require_image", json_boolean(ws->require_image), &ok);
    json_t *min_runtime = json_object();
    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        put(min_runtime, sched_kind_name((enum sched_kind)k), duration_json(ws->min_runtime_ms[k]),
            &ok);
    put(o, "min_runtime", min_runtime, &ok);
    put(o, "default_time_limit",
        ws->default_time_limit_ms ? duration_json(ws->default_time_limit_ms) : json_null(), &ok);
    put(o, "max_time_limit",
        ws->max_time_limit_ms ? duration_json(ws->max_time_limit_ms) : json_null(), &ok);
    put(usage, "gpu_held", gpu_json(ws->held.gpu), &ok);
    put(usage, "gpu_guaranteed", gpu_json(sched_workspace_guaranteed(ws)), &ok);
    put(usage, "gpu_borrowed", gpu_json(sched_workspace_borrowed(ws)), &ok);
    put(usage, "cpu", cpu_json(ws->held.cpu), &ok);
    put(usage, "memory", bytes_json(ws->held.memory), &ok);
    put(usage, "storage", bytes_json(ws->held.storage), &ok);
    put(usage, "pending", json_integer(ws->n_pending), &ok);
    put(o, "usage", usage, &ok);
    return done(o, ok);
}

json_t *view_workload(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_workloads)
        return NULL;
    const struct sched_workload *w = &s->workloads[id];
    bool known = w->workspace < s->n_workspaces &&
                 !(w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE);
    bool placed =
        w->state == SCHED_RECLAIMING || w->state == SCHED_RUNNING || w->state == SCHED_DRAINING;
    bool has_reason = (w->reason != SCHED_REASON_NONE && w->state != SCHED_RUNNING &&
                       w->state != SCHED_FINISHED && w->state != SCHED_FAILED) ||
                      (w->state == SCHED_FAILED && w->reason == SCHED_REASON_TIME_LIMIT);
    /* start_ms is kept when a workload is requeued, and is 0 until it first runs */
    bool started = w->state == SCHED_RUNNING || w->state == SCHED_DRAINING || w->start_ms != 0;
    bool ok = true;
    json_t *o = json_object();
    put(o, "name", json_string(w->name), &ok);
    put(o, "workspace", known ? json_string(s->workspaces[w->workspace].name) : json_null(), &ok);
    put(o, "tenant", known ? json_string(s->tenants[w->tenant].name) : json_null(), &ok);
    put(o, "kind", json_string(sched_kind_name(w->kind)), &ok);
    put(o, "priority", json_integer(w->priority), &ok);
    put(o, "preemptible", json_boolean(w->preemptible), &ok);
    if (w->mig >= 0)
        put(o, "mig", json_string(mig_name(w->mig)), &ok);
    else
        put(o, "gpus", json_integer(w->gpus), &ok);
    if (w->model >= 0 && w->model < GPU_MODEL_COUNT)
        put(o, "model", json_string(mig_model((enum gpu_model)w->model)->name), &ok);
    put(o, "replicas", json_integer(w->replicas), &ok);
    if (w->topology_level >= 0 && (uint32_t)w->topology_level < s->opt.n_topology)
        put(o, "topology",
            json_pack("{s:s}", w->topology_required ? "required" : "preferred",
                      s->opt.topology[w->topology_level]),
            &ok);
    put(o, "cpu", cpu_json(w->cpu), &ok);
    put(o, "memory", bytes_json(w->memory), &ok);
    put(o, "storage", bytes_json(w->storage), &ok);
    put(o, "grace", duration_json(w->grace_ms), &ok);
    put(o, "time_limit", w->time_limit_ms ? duration_json(w->time_limit_ms) : json_null(), &ok);
    put(o, "state", json_string(sched_state_name(w->state)), &ok);
    if (has_reason) {
        put(o, "reason", json_string(reason_name(w->reason)), &ok);
        put(o, "reason_text", json_string(reason_text(w->reason)), &ok);
    }
    put(o, "borrowed", json_boolean(w->borrowed), &ok);
    put(o, "submitted", json_integer(w->submit_ms), &ok);
    put(o, "started", started ? json_integer(w->start_ms) : json_null(), &ok);
    /* when it last saved its work (sched_checkpoint), or null */
    put(o, "last_checkpoint", w->checkpoint_ms ? json_integer(w->checkpoint_ms) : json_null(), &ok);
    if (placed)
        put(o, "placement", view_placement(s, w), &ok); /* the `admitted` event's format */
    return done(o, ok);
}
