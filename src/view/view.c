/* JSON views of engine events, shared by the simulator's --json output and the daemon's
 * event stream: one schema (docs/simulator.md). */
#include "view/view.h"

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
