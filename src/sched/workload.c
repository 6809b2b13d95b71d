/* Workloads: submission (the checks a request must pass to be queued at all), forgetting
 * finished ones, and the events of their lives that callers report: cancel, finish,
 * stopped (docs/policy.md, "Life of a workload"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/event.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"
#include "sched/sched.h"

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
    if (spec->time_limit_ms < 0 || spec->time_limit_ms > SCHED_MAX_TIME_LIMIT_MS) {
        snprintf(msg, len, "time_limit: must be between 1ms and 365 days");
        return -ALLOT_EINVAL;
    }
    uint32_t level = 0;
    if (spec->topology && sched_topology_find(s, spec->topology, &level)) {
        snprintf(msg, len, "topology.%s: '%.64s' is not a topology level of the platform",
                 spec->topology_required ? "required" : "preferred", spec->topology);
        return -ALLOT_EINVAL;
    }
    w->topology_level = spec->topology ? (int8_t)level : -1;
    w->topology_required = spec->topology && spec->topology_required;
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
    /* none given: the workspace's default, else its maximum (docs/policy.md, "Time limits") */
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    w->time_limit_ms = spec->time_limit_ms         ? spec->time_limit_ms
                       : ws->default_time_limit_ms ? ws->default_time_limit_ms
                                                   : ws->max_time_limit_ms;
    return 0;
}

/* Charge of one MIG slice of profile name_id for a workload of tenant t (model filter
 * model): the same on every model the tenant owns that offers it, or ambiguous.
 * RET units (> 0), 0 when no owned GPU offers it, -1 when the charge differs by model. */
static int64_t mig_charge(const struct sched *s, uint32_t tid, int name_id, int model)
{
    int64_t units = 0;
    const struct sched_tenant *t = &s->tenants[tid];
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        if (!t->gpus_by_model[m] || (model >= 0 && m != model))
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

/* A slot for a new workload named spec->name, pending, with defaults: that of a forgotten
 * workload first (sched_workload_forget), else a new one. RET 0 and *id, or -ALLOT_ENOMEM
 * with nothing created. */
static int workload_slot_new(struct sched *s, const struct sched_workload_spec *spec, int64_t now,
                             uint32_t *id)
{
    bool reuse = s->n_free > 0;
    if (!reuse && ARRAY_GROW(s->workloads, s->n_workloads, s->cap_workloads))
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
    w->rprev = w->rnext = w->fprev = w->fnext = w->reclaim_for = SCHED_NONE;
    w->backfill_for = SCHED_NONE;
    w->qat = UINT32_MAX; /* never queued: its place is searched for from the queue's end */
    w->seq = s->next_seq++;
    w->submit_ms = w->queued_ms = now;
    w->mig = -1;
    w->model = -1;
    w->topology_level = -1;
    w->replicas = 1;
    w->state = SCHED_PENDING;
    *id = wid;
    return 0;
}

/* The rules a request must meet to be queued at all, in the order of docs/policy.md:
 * limits, reservation, then what the tenant owns. RET SCHED_REASON_NONE, or the reason to
 * reject workload w with the sentence in msg. */
static enum sched_reason workload_admissible(const struct sched *s, const struct sched_workload *w,
                                             char *msg, size_t len)
{
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    enum sched_resource which;
    if (ws->max_time_limit_ms > 0 && w->time_limit_ms > ws->max_time_limit_ms) {
        char want[32], max[32];
        snprintf(msg, len, "time_limit: %s is above workspace %s's max_time_limit of %s",
                 quantity_format_duration(w->time_limit_ms, want, sizeof(want)), ws->name,
                 quantity_format_duration(ws->max_time_limit_ms, max, sizeof(max)));
        return SCHED_REASON_EXCEEDS_TIME_LIMIT;
    }
    struct sched_workspace empty = *ws;
    memset(&empty.held, 0, sizeof(empty.held));
    memset(&empty.claimed, 0, sizeof(empty.claimed));
    if (!quota_fits_limits(&empty, &w->total, &which)) {
        char want[32], limit[32];
        snprintf(
            msg, len, "%s: asks for %s in all, above workspace %s's limit of %s",
            sched_resource_name(which),
            sched_resource_format(which, sched_resources_get(&w->total, which), want, sizeof(want)),
            ws->name,
            sched_resource_format(which, sched_resources_get(&ws->limits, which), limit,
                                  sizeof(limit)));
        return SCHED_REASON_EXCEEDS_LIMIT;
    }
    if (!w->preemptible && w->total.gpu > ws->reserved) {
        char want[32], res[32];
        snprintf(msg, len,
                 "preemptible: a non-preemptible workload runs only within its reservation; it "
                 "asks for %s GPUs and %s reserves %s",
                 quantity_format_gpu(w->total.gpu, want, sizeof(want)), ws->name,
                 quantity_format_gpu(ws->reserved, res, sizeof(res)));
        return SCHED_REASON_EXCEEDS_RESERVATION;
    }
    return (enum sched_reason)placement_possible(s, w, msg, len);
}

int sched_submit(struct sched *s, const struct sched_workload_spec *spec, int64_t now, uint32_t *id,
                 char *err, size_t len)
{
    char msg[sizeof(((struct sched_event *)0)->message)];
    uint32_t dummy, wsid = SCHED_NONE, wid;
    int rc = engine_name_check(spec->name, "workload", err, len);
    if (rc)
        return rc;
    if (hmap_get(&s->workload_ids, spec->name, &dummy) == 0) {
        snprintf(err, len, "workload '%s' already exists", spec->name);
        return -ALLOT_EEXIST;
    }
    bool known = spec->workspace && hmap_get(&s->workspace_ids, spec->workspace, &wsid) == 0;
    /* room in its workspace's queue, should it be accepted: asked before anything changes */
    if (known && queue_reserve(s, wsid))
        return -ALLOT_ENOMEM;
    rc = workload_slot_new(s, spec, now, &wid);
    if (rc)
        return rc;
    struct sched_workload *w = &s->workloads[wid];
    if (id)
        *id = wid;
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
    if (!spec->has_image) { /* a policy of the workspace or its tenant (docs/policy.md) */
        char why[sizeof(msg) - 8];
        if (sched_image_required(s, wsid, why, sizeof(why))) {
            snprintf(msg, sizeof(msg), "image: %s", why);
            return workload_reject(s, wid, SCHED_REASON_IMAGE_REQUIRED, msg, now, err, len);
        }
    }
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
    enum sched_reason why = workload_admissible(s, w, msg, sizeof(msg));
    if (why != SCHED_REASON_NONE)
        return workload_reject(s, wid, why, msg, now, err, len);
    s->workspaces[w->workspace].n_live++; /* the room was reserved above */
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
    if (!sched_state_ended(w->state))
        return -ALLOT_ESTATE;
    if (ARRAY_GROW(s->free_ids, s->n_free, s->cap_free))
        return -ALLOT_ENOMEM;
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
    int rc = w->state == SCHED_RECLAIMING ? lifecycle_unreclaim(s, id) : 0; /* pending again */
    if (rc)
        return rc;
    switch (w->state) {
    case SCHED_PENDING:
        rc = queue_remove(s, id);
        if (rc)
            return rc;
        w->state = SCHED_CANCELLED;
        queue_unreserve(s, w->workspace);
        w->reason = SCHED_REASON_CANCELLED; /* not the queue reason it waited for */
        event_emit(s, SCHED_EV_CANCELLED, now, id)->reason = SCHED_REASON_CANCELLED;
        s->tenants[w->tenant].dirty = true;
        return 0;
    case SCHED_RUNNING:
        return lifecycle_drain(s, id, SCHED_REASON_CANCELLED, SCHED_NONE, now);
    case SCHED_DRAINING:
        /* already stopping; cancelling it means it will not be queued again */
        w->reason = SCHED_REASON_CANCELLED;
        return 0;
    default:
        return -ALLOT_ESTATE;
    }
}

/* A running or draining workload's processes ended on their own: it ends as final, with
 * reason why. */
static int workload_exited(struct sched *s, uint32_t id, enum sched_state final,
                           enum sched_reason why, int64_t now)
{
    if (id >= s->n_workloads)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_RUNNING && w->state != SCHED_DRAINING)
        return -ALLOT_ESTATE;
    s->last_now = now;
    return lifecycle_end(s, id, final, why, now);
}

int sched_finish(struct sched *s, uint32_t id, int64_t now)
{
    return workload_exited(s, id, SCHED_FINISHED, SCHED_REASON_NONE, now);
}

int sched_fail(struct sched *s, uint32_t id, int64_t now)
{
    return workload_exited(s, id, SCHED_FAILED, SCHED_REASON_NONE, now);
}

int sched_time_limit_reached(struct sched *s, uint32_t id, int64_t now)
{
    uint32_t first = s->n_events; /* its failed event comes first (a claimant may start) */
    int rc = workload_exited(s, id, SCHED_FAILED, SCHED_REASON_TIME_LIMIT, now);
    if (rc)
        return rc;
    struct sched_workload *w = &s->workloads[id];
    w->reason = SCHED_REASON_TIME_LIMIT; /* kept: why it failed */
    char d[32];
    if (first < s->n_events && s->events[first].kind == SCHED_EV_FAILED &&
        s->events[first].workload == id)
        snprintf(s->events[first].message, sizeof(s->events[first].message),
                 "stopped at its time limit of %s",
                 w->time_limit_ms ? quantity_format_duration(w->time_limit_ms, d, sizeof(d))
                                  : "(none)");
    return 0;
}

int64_t sched_workload_end_by(const struct sched_workload *w)
{
    if (w->state == SCHED_DRAINING)
        return w->deadline_ms;
    if (w->time_limit_ms <= 0)
        return -1;
    return w->start_ms + w->time_limit_ms + w->grace_ms;
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
        return lifecycle_end(s, id, SCHED_CANCELLED, SCHED_REASON_CANCELLED, now);
    return lifecycle_end(s, id, SCHED_PENDING, w->reason, now);
}

int sched_checkpoint(struct sched *s, uint32_t id, int64_t t, int64_t now)
{
    if (id >= s->n_workloads || !s->workloads[id].name)
        return -ALLOT_ENOENT;
    struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_RUNNING && w->state != SCHED_DRAINING)
        return -ALLOT_ESTATE;
    if (t < w->start_ms || t > now)
        return -ALLOT_EINVAL;
    s->last_now = now;
    if (t > w->checkpoint_ms)
        w->checkpoint_ms = t;
    return 0;
}

int64_t sched_workload_lost(const struct sched *s, uint32_t id, int64_t now)
{
    const struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_RUNNING && w->state != SCHED_DRAINING)
        return 0;
    int64_t since = w->checkpoint_ms > w->start_ms ? w->checkpoint_ms : w->start_ms;
    int64_t ms = now > since ? now - since : 0;
    if (w->total.gpu <= 0 || ms == 0)
        return 0;
    return ms > INT64_MAX / w->total.gpu ? INT64_MAX : ms * w->total.gpu;
}
