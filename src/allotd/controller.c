/* The controller: engine + store in one loop. Ops are applied in memory at once and
 * committed together with one scheduling pass at the end of the loop iteration; replies
 * wait for the commit. On start the journal is replayed to rebuild the engine. */
#include "allotd/controller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schema/export.h"
#include "allotd/fleet.h"
#include "allotd/log.h"
#include "allotd/output.h"
#include "allotd/server.h"
#include "schema/spec.h"
#include "schema/view.h"
#include "schema/workload.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/hmap.h"
#include "common/quantity.h"
#include "schema/platform.h"
#include "store/store.h"
#include "schema/view.h"

/* Timer of a virtual node: a simulated workload finishes, or a drained one exits. */
struct vtimer {
    struct vtimer *prev, *next; /* in the controller's list, to free what never fired */
    struct controller *ctl;
    struct event *ev;
    uint32_t workload;
    int64_t at_ms;
    bool stop; /* true: it was told to stop and now exits; false: it finishes */
};

int64_t controller_now(struct controller *ctl)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now < ctl->last_now)
        now = ctl->last_now;
    ctl->last_now = now;
    return now;
}

struct controller_workload *controller_extra(struct controller *ctl, uint32_t id)
{
    if (id >= ctl->cap_extra) {
        uint32_t cap = ctl->cap_extra ? ctl->cap_extra : 64;
        while (cap <= id)
            cap *= 2;
        struct controller_workload *p = realloc(ctl->extra, cap * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + ctl->cap_extra, 0, (cap - ctl->cap_extra) * sizeof(*p));
        ctl->extra = p;
        ctl->cap_extra = cap;
    }
    return &ctl->extra[id];
}

/* ---- virtual nodes ---- */

static void vtimer_fire(evutil_socket_t fd, short what, void *arg);

static void vtimer_free(struct vtimer *v)
{
    struct controller *ctl = v->ctl;
    if (v->prev)
        v->prev->next = v->next;
    else if (ctl->vtimers == v)
        ctl->vtimers = v->next;
    if (v->next)
        v->next->prev = v->prev;
    if (v->ev)
        event_free(v->ev);
    free(v);
}

/* Arm a timer for workload id at at_ms (wall clock). Only with virtual nodes. */
static void vtimer_arm(struct controller *ctl, uint32_t id, int64_t at_ms, bool stop)
{
    /* during a replay the journal itself holds the exits; vtimers_rearm follows it */
    if (!ctl->opt.virtual_nodes || ctl->replaying)
        return;
    struct vtimer *v = calloc(1, sizeof(*v));
    if (!v)
        return;
    v->ctl = ctl;
    v->workload = id;
    v->at_ms = at_ms;
    v->stop = stop;
    v->ev = evtimer_new(ctl->base, vtimer_fire, v);
    v->next = ctl->vtimers;
    if (ctl->vtimers)
        ctl->vtimers->prev = v;
    ctl->vtimers = v;
    int64_t delay = at_ms - controller_now(ctl);
    if (delay < 0)
        delay = 0;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
    if (!v->ev || evtimer_add(v->ev, &tv))
        vtimer_free(v);
}

static void vtimer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct vtimer *v = arg;
    struct controller *ctl = v->ctl;
    const struct sched_workload *w = &ctl->engine->workloads[v->workload];
    char field[64], err[256];
    json_t *op = NULL;
    if (v->stop && w->state == SCHED_DRAINING)
        op = json_pack("{s:s, s:s}", "op", "stopped", "workload", w->name);
    else if (!v->stop && w->state == SCHED_RUNNING &&
             w->start_ms + ctl->extra[v->workload].duration_ms <= v->at_ms)
        op = json_pack("{s:s, s:s}", "op", "finish", "workload", w->name);
    if (op)
        controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    vtimer_free(v);
}

/* ---- applying ops ---- */

/* Drop workload id's cached view (controller_workload_text): it has changed. */
static void view_forget(struct controller *ctl, uint32_t id)
{
    if (id < ctl->cap_extra) {
        free(ctl->extra[id].view);
        ctl->extra[id].view = NULL;
    }
}

/* Look up a workload by name. RET its id or SCHED_NONE. */
static uint32_t workload_id(struct controller *ctl, const char *name)
{
    uint32_t id;
    return name && sched_workload_find(ctl->engine, name, &id) == 0 ? id : SCHED_NONE;
}

/* A replica of gang workload id ended (op "finish" or "stopped" with its "rank"): is the
 * whole gang over now? A gang finishes when every replica has exited, or at once when one
 * fails (non-zero code or a signal: the others are then stopped); a draining gang is stopped
 * once every replica has. An op without a rank, or a workload of one replica, is over at
 * once. The record is the controller's, rebuilt by replaying the same ops. */
static bool gang_over(struct controller *ctl, uint32_t id, const json_t *op)
{
    const struct sched_workload *w = &ctl->engine->workloads[id];
    const json_t *rank = json_object_get(op, "rank");
    struct controller_workload *x = controller_extra(ctl, id);
    if (w->replicas <= 1 || !json_is_integer(rank) || !x)
        return true;
    json_int_t r = json_integer_value(rank);
    if (r < 0 || r >= w->replicas)
        return false; /* no such replica: nothing ended */
    if (!x->ended) {
        x->ended = calloc(w->replicas, 1);
        if (!x->ended)
            return true; /* without memory, the gang ends with its first replica */
    }
    const json_t *exit_info = json_object_get(op, "exit");
    bool failed = json_integer_value(json_object_get(exit_info, "code")) != 0 ||
                  json_integer_value(json_object_get(exit_info, "signal")) != 0;
    if (!x->ended[r]) {
        x->ended[r] = 1;
        x->n_ended++;
    }
    bool finishing = strcmp(json_string_value(json_object_get(op, "op")), "finish") == 0;
    return x->n_ended == w->replicas || (finishing && failed);
}

/* The op's `spec` object, or an error naming it. */
static const json_t *op_spec(const json_t *op, char *field, size_t field_len, char *err, size_t len)
{
    const json_t *spec = json_object_get(op, "spec");
    if (!json_is_object(spec)) {
        snprintf(field, field_len, "spec");
        snprintf(err, len, "expected an object");
    }
    return json_is_object(spec) ? spec : NULL;
}

static int from_spec_error(const struct schema_error *e, char *field, size_t field_len, char *err,
                           size_t len)
{
    snprintf(field, field_len, "%s", e->field);
    snprintf(err, len, "%s", e->message);
    return e->code ? e->code : -ALLOT_EINVAL;
}

/* The engine's options from {default_grace, starvation_age} (durations). */
static int scheduler_options(struct sched *s, const json_t *spec, char *field, size_t field_len,
                             char *err, size_t len)
{
    static const char *const keys[] = {"default_grace", "starvation_age"};
    int64_t *slots[] = {&s->opt.default_grace_ms, &s->opt.starvation_age_ms};
    int64_t values[2] = {*slots[0], *slots[1]};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        size_t k = 0;
        while (k < 2 && strcmp(keys[k], key) != 0)
            k++;
        if (k == 2 || !json_is_string(v) ||
            quantity_parse_duration(json_string_value(v), &values[k])) {
            snprintf(field, field_len, "%s", key);
            snprintf(err, len, k == 2 ? "unknown field" : "expected a duration such as 30s");
            return -ALLOT_EINVAL;
        }
    }
    *slots[0] = values[0];
    *slots[1] = values[1];
    return 0;
}

/* Apply one op to the engine. t: its time. RET 0 or a negative error (engine unchanged). */
static int op_run(struct controller *ctl, const json_t *op, int64_t t, json_t **result, char *field,
                  size_t field_len, char *err, size_t len)
{
    struct sched *s = ctl->engine;
    const char *name = json_string_value(json_object_get(op, "op"));
    const json_t *spec;
    struct schema_error se = {0};
    struct arena a;
    int rc = -ALLOT_EINVAL;
    arena_init(&a, 0);
    field[0] = err[0] = '\0';
    if (!name) {
        snprintf(field, field_len, "op");
        snprintf(err, len, "missing op");
        goto out;
    }
    if (strcmp(name, "schedule") == 0) {
        rc = sched_schedule(s, t);
    } else if (strcmp(name, "scheduler") == 0) {
        if (!(spec = op_spec(op, field, field_len, err, len)))
            goto out;
        rc = scheduler_options(s, spec, field, field_len, err, len);
    } else if (strcmp(name, "tick") == 0) {
        sched_touch(s); /* the pass itself follows at the commit, as for any op */
        rc = 0;
    } else if (strcmp(name, "tenant_add") == 0 || strcmp(name, "cluster_add") == 0 ||
               strcmp(name, "node_add") == 0 || strcmp(name, "workspace_add") == 0) {
        if (!(spec = op_spec(op, field, field_len, err, len)))
            goto out;
        uint32_t id;
        if (name[0] == 't') {
            struct sched_tenant_spec ts;
            rc = spec_tenant_from_json(spec, &a, &ts, &se);
            rc = rc ? from_spec_error(&se, field, field_len, err, len)
                    : sched_tenant_add(s, &ts, &id, err, len);
        } else if (name[0] == 'c') {
            struct sched_cluster_spec cs;
            rc = spec_cluster_from_json(spec, &a, &cs, &se);
            rc = rc ? from_spec_error(&se, field, field_len, err, len)
                    : sched_cluster_add(s, &cs, &id, err, len);
        } else if (name[0] == 'n') {
            struct sched_node_spec ns;
            rc = spec_node_from_json(spec, &a, &ns, &se);
            rc = rc ? from_spec_error(&se, field, field_len, err, len)
                    : sched_node_add(s, &ns, &id, err, len);
            if (!rc && result)
                *result = view_node(s, id);
        } else {
            struct sched_workspace_spec ws;
            rc = spec_workspace_from_json(spec, NULL, &a, &ws, &se);
            rc = rc ? from_spec_error(&se, field, field_len, err, len)
                    : sched_workspace_add(s, &ws, &id, err, len);
            if (!rc && result)
                *result = view_workspace(s, id);
        }
    } else if (strcmp(name, "workspace_update") == 0) {
        const char *wsname = json_string_value(json_object_get(op, "workspace"));
        uint32_t id;
        if (!wsname || sched_workspace_find(s, wsname, &id)) {
            snprintf(field, field_len, "workspace");
            snprintf(err, len, "no such workspace");
            rc = -ALLOT_ENOENT;
            goto out;
        }
        if (!(spec = op_spec(op, field, field_len, err, len)))
            goto out;
        const struct sched_workspace *cur = &s->workspaces[id];
        struct sched_workspace_spec ws = {.name = cur->name,
                                          .limits = cur->limits,
                                          .reserved = cur->reserved,
                                          .lend = cur->lend,
                                          .weight = cur->weight};
        rc = spec_workspace_patch_from_json(spec, &a, &ws, &se);
        rc = rc ? from_spec_error(&se, field, field_len, err, len)
                : sched_workspace_update(s, &ws, t, err, len);
        if (!rc && result)
            *result = view_workspace(s, id);
    } else if (strcmp(name, "node_state") == 0) {
        const char *node = json_string_value(json_object_get(op, "node"));
        const char *state = json_string_value(json_object_get(op, "state"));
        uint32_t id;
        enum sched_node_state st;
        if (!node || sched_node_find(s, node, &id)) {
            snprintf(field, field_len, "node");
            snprintf(err, len, "no such node");
            rc = -ALLOT_ENOENT;
        } else if (!state || sched_node_state_parse(state, &st)) {
            snprintf(field, field_len, "state");
            snprintf(err, len, "expected ready, draining or down");
        } else {
            rc = sched_node_set_state(s, id, st, t);
            if (!rc && result)
                *result = view_node(s, id);
        }
    } else if (strcmp(name, "gpu_health") == 0) {
        const char *node = json_string_value(json_object_get(op, "node"));
        json_t *index = json_object_get(op, "index");
        json_t *healthy = json_object_get(op, "healthy");
        uint32_t id;
        if (!node || sched_node_find(s, node, &id)) {
            snprintf(field, field_len, "node");
            snprintf(err, len, "no such node");
            rc = -ALLOT_ENOENT;
        } else if (!json_is_integer(index) || !json_is_boolean(healthy) ||
                   json_integer_value(index) < 0 ||
                   json_integer_value(index) >= (json_int_t)s->nodes[id].n_gpus) {
            snprintf(field, field_len, "index");
            snprintf(err, len, "expected a GPU index of the node and healthy true or false");
        } else {
            rc = sched_gpu_set_health(s, id, (uint32_t)json_integer_value(index),
                                      json_is_true(healthy), t);
        }
    } else if (strcmp(name, "node_move") == 0) {
        const char *node = json_string_value(json_object_get(op, "node"));
        const json_t *to = json_object_get(op, "tenant");
        uint32_t id;
        if (!node || sched_node_find(s, node, &id)) {
            snprintf(field, field_len, "node");
            snprintf(err, len, "no such node");
            rc = -ALLOT_ENOENT;
        } else if (!json_is_string(to) && !json_is_null(to)) {
            snprintf(field, field_len, "tenant");
            snprintf(err, len, "expected a tenant name, or null for none");
        } else {
            /* with node agents, the node joins the new tenant once its agent wiped it */
            bool wipe = json_is_true(json_object_get(op, "wipe"));
            rc = sched_node_move(s, id, json_string_value(to), wipe, t, err, len);
            if (rc)
                snprintf(field, field_len, "tenant");
            else
                fleet_node_changed(ctl, id); /* its agent may now have a wipe to do */
            if (!rc && result)
                *result = view_node(s, id);
        }
    } else if (strcmp(name, "node_wiped") == 0) {
        const char *node = json_string_value(json_object_get(op, "node"));
        const json_t *for_tenant = json_object_get(op, "tenant");
        uint32_t id, tid = SCHED_NONE;
        if (!node || sched_node_find(s, node, &id)) {
            snprintf(field, field_len, "node");
            snprintf(err, len, "no such node");
            rc = -ALLOT_ENOENT;
        } else if (!json_is_null(for_tenant) &&
                   (!json_is_string(for_tenant) ||
                    sched_tenant_find(s, json_string_value(for_tenant), &tid))) {
            snprintf(field, field_len, "tenant");
            snprintf(err, len, "expected a tenant's name, or null");
        } else {
            rc = sched_node_wiped(s, id, tid, t);
            if (rc)
                snprintf(err, len, "node %s waits for no wipe for that tenant", node);
            else
                fleet_node_changed(ctl, id);
        }
    } else if (strcmp(name, "submit") == 0) {
        if (!(spec = op_spec(op, field, field_len, err, len)))
            goto out;
        struct workload_spec sw;
        rc = workload_from_json(spec, &a, &sw, &se);
        if (rc) {
            rc = from_spec_error(&se, field, field_len, err, len);
            goto out;
        }
        /* the engine's name is unique platform-wide: tenant/workspace/name */
        char *full = arena_alloc(&a, strlen(sw.w.workspace) + strlen(sw.w.name) + 2);
        if (!full) {
            rc = -ALLOT_ENOMEM;
            goto out;
        }
        sprintf(full, "%s/%s", sw.w.workspace, sw.w.name);
        sw.w.name = full;
        uint32_t id = SCHED_NONE;
        char why[256];
        int sub = sched_submit(s, &sw.w, t, &id, why, sizeof(why));
        if (id == SCHED_NONE) { /* nothing was created: not an op */
            rc = sub;
            snprintf(field, field_len, sub == -ALLOT_EEXIST ? "name" : "");
            snprintf(err, len, "%s", why);
            goto out;
        }
        rc = 0;
        struct controller_workload *x = controller_extra(ctl, id);
        if (x) {
            const char *owner = json_string_value(json_object_get(op, "user"));
            x->owner = strdup(owner ? owner : "");
            x->duration_ms = sw.duration_ms;
            x->extra = json_incref((json_t *)spec);
        }
        if (sw.idempotency_key) {
            char key[512];
            snprintf(key, sizeof(key), "%s\x1f%s", sw.w.workspace, sw.idempotency_key);
            json_object_set_new(ctl->idempotency, key, json_integer(id));
        }
        if (result)
            *result = view_workload(s, id);
    } else if (strcmp(name, "cancel") == 0 || strcmp(name, "finish") == 0 ||
               strcmp(name, "stopped") == 0) {
        uint32_t id = workload_id(ctl, json_string_value(json_object_get(op, "workload")));
        if (id == SCHED_NONE) {
            snprintf(field, field_len, "workload");
            snprintf(err, len, "no such workload");
            rc = -ALLOT_ENOENT;
            goto out;
        }
        view_forget(ctl, id); /* a cancel may change it without an event */
        if (name[0] != 'c' && !gang_over(ctl, id, op))
            goto out; /* other replicas of its gang still run */
        rc = name[0] == 'c'   ? sched_cancel(s, id, t)
             : name[0] == 'f' ? sched_finish(s, id, t)
                              : sched_stopped(s, id, t);
        if (rc == -ALLOT_ESTATE)
            snprintf(err, len, "the workload is %s", sched_state_name(s->workloads[id].state));
        if (!rc && name[0] == 'c' && s->workloads[id].state == SCHED_DRAINING)
            vtimer_arm(ctl, id, s->workloads[id].deadline_ms, true);
        /* how the process ended, as its agent reported it: kept for the workload's view */
        const json_t *exit_info = json_object_get(op, "exit");
        if (!rc && json_is_object(exit_info) && json_object_size(exit_info) &&
            id < ctl->cap_extra) {
            json_decref(ctl->extra[id].exit);
            ctl->extra[id].exit = json_deep_copy(exit_info);
        }
        if (!rc && result)
            *result = view_workload(s, id);
    } else {
        snprintf(field, field_len, "op");
        snprintf(err, len, "unknown op '%s'", name);
    }
out:
    arena_cleanup(&a);
    return rc;
}

/* Engine events after an op or a pass: arm virtual-node timers, count, log. */
static void events_apply(struct controller *ctl)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(ctl->engine, &n);
    for (uint32_t i = 0; i < n; i++) {
        const struct sched_event *e = &ev[i];
        uint32_t id = e->workload;
        /* the cached views of what the event is about are stale now */
        view_forget(ctl, id);
        view_forget(ctl, e->other);
        fleet_track(ctl, id);
        fleet_track(ctl, e->other);
        if (!ctl->replaying) {
            log_event(ctl->engine, e);
            json_t *j = view_event(ctl->engine, e, 0);
            if (j)
                stream_queue_take(ctl->streams, j);
        }
        if (e->kind == SCHED_EV_FINISHED || e->kind == SCHED_EV_CANCELLED ||
            e->kind == SCHED_EV_REJECTED) {
            struct controller_workload *x = controller_extra(ctl, id);
            if (x)
                x->ended_ms = e->t;
        }
        if (e->kind == SCHED_EV_PREEMPTING) {
            ctl->preemptions[e->reason]++;
            vtimer_arm(ctl, id, e->deadline, true);
        } else if (e->kind == SCHED_EV_REJECTED) {
            ctl->rejections[e->reason]++;
        } else if (e->kind == SCHED_EV_ADMITTED && id < ctl->cap_extra &&
                   ctl->extra[id].duration_ms >= 0) {
            vtimer_arm(ctl, id, e->t + ctl->extra[id].duration_ms, false);
        }
        if (e->kind == SCHED_EV_ADMITTED) {
            /* each start is an attempt: its own log, and none of its replicas has ended */
            struct controller_workload *x = controller_extra(ctl, id);
            if (x) {
                x->runs++;
                x->confirmed_ms = 0;
                if (x->ended)
                    memset(x->ended, 0, ctl->engine->workloads[id].replicas);
                x->n_ended = 0;
            }
            int64_t waited = e->t - ctl->engine->workloads[id].submit_ms;
            int b = 0;
            while (b < 11 && waited > (1LL << (2 * b)))
                b++;
            ctl->admission_hist[b]++;
        }
    }
    sched_events_clear(ctl->engine);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void engine_failed(struct controller *ctl);

int controller_apply(struct controller *ctl, json_t *op, json_t **result, char *field,
                     size_t field_len, char *err, size_t len)
{
    if (ctl->read_only) {
        snprintf(field, field_len, "%s", "");
        snprintf(err, len,
                 "the controller is read-only: its store cannot write (%.150s); changes are "
                 "accepted again once it can",
                 ctl->read_only_why);
        return ctl->read_only;
    }
    if (ctl->stopped) {
        snprintf(field, field_len, "%s", "");
        snprintf(err, len, "an engine invariant is broken: the controller is stopping");
        return ctl->stopped;
    }
    int64_t t = controller_now(ctl);
    int rc = op_run(ctl, op, t, result, field, field_len, err, len);
    if (rc == -ALLOT_ECHECK)
        engine_failed(ctl);
    if (rc)
        return rc;
    json_object_set_new(op, "t", json_integer(t));
    json_array_append(ctl->pending, op);
    events_apply(ctl);
    event_active(ctl->flush, EV_WRITE, 0);
    return 0;
}

void controller_defer(struct controller *ctl, struct call *c)
{
    c->next = NULL;
    if (ctl->deferred_tail)
        ctl->deferred_tail->next = c;
    else
        ctl->deferred = c;
    ctl->deferred_tail = c;
    event_active(ctl->flush, EV_WRITE, 0);
}

/* ---- a commit that fails: read-only until the store can write again ---- */

static int replay_one(void *arg, int64_t seq, int64_t t, const char *text);
static void vtimers_rearm(struct controller *ctl);

/* Free what the controller keeps of a workload (not the record itself). */
static void extra_free(struct controller_workload *x)
{
    free(x->view);
    free(x->ended);
    json_decref(x->exit);
    free(x->owner);
    json_decref(x->extra);
}

/* Verify every invariant of the engine (sched_check) and log the one broken, if any, after
 * `when`. RET 0, -ALLOT_ECHECK or -ALLOT_ENOMEM. */
static int engine_check(struct controller *ctl, const char *when)
{
    char why[256];
    int rc = sched_check(ctl->engine, why, sizeof(why));
    if (rc)
        log_fatal("engine invariant broken after %s: %s", when, why);
    return rc;
}

/* Replay the journal into the (fresh) engine, then check the state it rebuilt. RET 0, or the
 * error of the entry that does not replay or of the check (logged). */
static int journal_replay(struct controller *ctl)
{
    ctl->replaying = true;
    int rc = store_journal_load(ctl->store, replay_one, ctl);
    ctl->replaying = false;
    return rc ? rc : engine_check(ctl, "the journal's replay");
}

/* Rebuild the engine and the controller's records of workloads from the store alone (the
 * journal replayed into a fresh engine, as at start), dropping whatever was applied in
 * memory and not committed. Agents get a new epoch, so that they take the desired sets of the
 * rebuilt state. RET 0, or the error of the replay. */
static int controller_reload(struct controller *ctl)
{
    json_array_clear(ctl->pending);
    stream_abort(ctl->streams);
    output_free(ctl);
    while (ctl->vtimers)
        vtimer_free(ctl->vtimers);
    fleet_forget_workloads(ctl);
    for (uint32_t i = 0; i < ctl->cap_extra; i++) {
        extra_free(&ctl->extra[i]);
        memset(&ctl->extra[i], 0, sizeof(ctl->extra[i]));
    }
    json_object_clear(ctl->idempotency);
    sched_free(ctl->engine);
    ctl->engine = NULL;
    int rc = sched_new(NULL, &ctl->engine);
    if (rc)
        return rc;
    rc = journal_replay(ctl);
    if (rc)
        return rc;
    vtimers_rearm(ctl);
    fleet_new_epoch(ctl);
    return 0;
}

#define CONTROLLER_PROBE_MS 2000

/* While read-only: try a write; once one commits, accept changes again. */
static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    char stamp[32];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)controller_now(ctl));
    int rc = store_batch_begin(ctl->store);
    rc = rc ? rc : store_meta_set(ctl->store, "store.probe", stamp);
    rc = rc ? rc : store_batch_commit(ctl->store);
    if (rc) {
        if (store_in_batch(ctl->store))
            store_batch_rollback(ctl->store);
        return;
    }
    log_info("the store can write again: changes are accepted");
    ctl->read_only = 0;
    ctl->read_only_why[0] = '\0';
    event_del(ctl->probe);
}

/* A commit failed: nothing of it is durable. Answer its requests 503, rebuild the state from
 * the store and refuse changes until a probe write succeeds (docs/operations.md). Without
 * even the store's state to rebuild from, stop. */
static void commit_failed(struct controller *ctl, int rc)
{
    size_t ops = json_array_size(ctl->pending);
    snprintf(ctl->read_only_why, sizeof(ctl->read_only_why), "%s%s",
             rc == -ALLOT_EFULL ? "the disk is full: " : "", store_errmsg(ctl->store));
    if (store_in_batch(ctl->store))
        store_batch_rollback(ctl->store);
    log_fatal("commit failed: %s; %zu changes were not applied and their requests are answered "
              "503; the controller is read-only until the store can write again",
              ctl->read_only_why, ops);
    struct call *c = ctl->deferred;
    ctl->deferred = ctl->deferred_tail = NULL;
    while (c) {
        struct call *next = c->next;
        call_fail(c, rc);
        c = next;
    }
    ctl->read_only = rc;
    int lost = controller_reload(ctl);
    if (lost) {
        log_fatal("cannot rebuild the state from the store (%s): stopping", allot_strerror(lost));
        exit(1);
    }
    struct timeval tv = {CONTROLLER_PROBE_MS / 1000, (CONTROLLER_PROBE_MS % 1000) * 1000};
    if (!ctl->probe)
        ctl->probe = event_new(ctl->base, -1, EV_PERSIST, probe_cb, ctl);
    if (!ctl->probe || event_add(ctl->probe, &tv)) {
        log_fatal("cannot start the store's probe: stopping");
        exit(1);
    }
}

/* An engine invariant broke while the loop applied a change or a pass: the engine's state
 * cannot be trusted, so nothing of this iteration is committed (the journal keeps the last
 * committed state, which a restart replays and checks): its requests are answered 500, the
 * loop stops and allotd exits non-zero (docs/operations.md). */
static void engine_failed(struct controller *ctl)
{
    const char *why = sched_broken(ctl->engine);
    log_fatal("engine invariant broken: %s; stopping before the commit: the %zu changes of this "
              "loop iteration are dropped",
              why ? why : "(the check above)", json_array_size(ctl->pending));
    json_array_clear(ctl->pending);
    ctl->stopped = -ALLOT_ECHECK;
    struct call *c = ctl->deferred;
    ctl->deferred = ctl->deferred_tail = NULL;
    while (c) {
        struct call *next = c->next;
        call_fail(c, -ALLOT_ECHECK);
        c = next;
    }
    event_base_loopbreak(ctl->base);
}

/* End of a loop iteration: one scheduling pass, then one transaction for everything, then
 * the replies. A failed commit leaves memory ahead of the disk: commit_failed answers its
 * requests 503 and rebuilds the state from the store (docs/operations.md). */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    bool ops = json_array_size(ctl->pending) > 0;
    if (ops || output_pending(ctl)) {
        int64_t t = controller_now(ctl);
        if (ops) { /* output alone changes nothing the engine sees: no pass */
            uint32_t every = ctl->opt.check_every;
            if (sched_schedule(ctl->engine, t) == -ALLOT_ECHECK ||
                (every && ++ctl->passes % every == 0 &&
                 engine_check(ctl, "a pass") == -ALLOT_ECHECK)) {
                engine_failed(ctl);
                return;
            }
            json_array_append_new(ctl->pending, json_pack("{s:s, s:I}", "op", "schedule", "t", t));
            events_apply(ctl);
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int rc = store_batch_begin(ctl->store);
        size_t i;
        json_t *op;
        json_array_foreach(ctl->pending, i, op)
        {
            char *text = rc ? NULL : json_dumps(op, JSON_COMPACT);
            rc = rc ? rc
                    : store_journal_append(ctl->store, json_integer_value(json_object_get(op, "t")),
                                           text);
            free(text);
        }
        rc = rc ? rc : output_write(ctl);
        rc = rc ? rc : stream_store(ctl->streams, t);
        rc = rc ? rc : store_batch_commit(ctl->store);
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc) {
            commit_failed(ctl, rc);
            return;
        }
        uint64_t us = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000);
        int bucket = 0;
        while (bucket < 11 && us > (uint64_t)(250 << bucket))
            bucket++;
        ctl->commit_hist[bucket]++;
        ctl->commits++;
        ctl->commit_us_sum += us;
        ctl->ops_committed += json_array_size(ctl->pending);
        json_array_clear(ctl->pending);
        stream_publish(ctl->streams); /* committed: tell the streams */
    }
    struct call *c = ctl->deferred;
    ctl->deferred = ctl->deferred_tail = NULL;
    while (c) {
        struct call *next = c->next;
        if (c->workload != SCHED_NONE && c->workload < ctl->engine->n_workloads) {
            json_decref(c->reply);
            c->reply = controller_workload_json(ctl, c->workload);
        }
        if (c->desired_node != SCHED_NONE && c->desired_node < ctl->engine->n_nodes)
            fleet_reply(ctl, c);
        else
            call_flush(c);
        c = next;
    }
    fleet_wake(ctl);
}

/* The periodic tick: while work waits, look at every tenant again every CONTROLLER_TICK_MS,
 * since time alone can change a decision (the starvation guard). The tick is an op like
 * any other, so a replay makes the same passes. */
#define CONTROLLER_TICK_MS 10000

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    bool waiting = false;
    for (uint32_t i = 0; i < ctl->engine->n_tenants && !waiting; i++)
        waiting = ctl->engine->tenants[i].fifo_head != SCHED_NONE;
    if (waiting) {
        char field[64], err[256];
        json_t *op = json_pack("{s:s}", "op", "tick");
        if (op)
            controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err));
        json_decref(op);
    }
}

/* ---- start: journal replay, platform import, admin token ---- */

static int replay_one(void *arg, int64_t seq, int64_t t, const char *text)
{
    struct controller *ctl = arg;
    char field[64], err[256];
    json_error_t jerr;
    json_t *op = json_loads(text, 0, &jerr);
    if (!op) {
        log_fatal("journal entry %lld is not JSON: %s", (long long)seq, jerr.text);
        return -ALLOT_ECONFIG;
    }
    if (t > ctl->last_now)
        ctl->last_now = t;
    int rc = op_run(ctl, op, t, NULL, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    events_apply(ctl);
    if (rc == -ALLOT_ECHECK)
        log_fatal("journal entry %lld breaks an engine invariant: %s", (long long)seq,
                  sched_broken(ctl->engine) ? sched_broken(ctl->engine) : err);
    else if (rc)
        log_fatal("journal entry %lld does not replay: %s: %s", (long long)seq, field, err);
    return rc;
}

/* Re-arm the virtual nodes' timers for what runs or drains after a replay. */
static void vtimers_rearm(struct controller *ctl)
{
    for (uint32_t i = 0; i < ctl->engine->n_workloads; i++) {
        const struct sched_workload *w = &ctl->engine->workloads[i];
        if (w->state == SCHED_DRAINING)
            vtimer_arm(ctl, i, w->deadline_ms, true);
        else if (w->state == SCHED_RUNNING && i < ctl->cap_extra && ctl->extra[i].duration_ms >= 0)
            vtimer_arm(ctl, i, w->start_ms + ctl->extra[i].duration_ms, false);
    }
}

/* Import a platform YAML on first start: as ops, so the journal holds everything. */
static int platform_import(struct controller *ctl, char *err, size_t len)
{
    struct sched *p = NULL;
    int rc = platform_load(ctl->opt.platform_path, &p, err, len);
    if (rc)
        return rc;
    char field[64];
    json_t *ops = export_platform_ops(p);
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        rc = controller_apply(ctl, op, NULL, field, sizeof(field), err, len);
        if (rc)
            break;
    }
    json_decref(ops);
    sched_free(p);
    return rc;
}

int controller_token_new(struct controller *ctl, const char *user, const char *node,
                         int64_t expires_ms, char *token, struct store_token *row)
{
    char id[AUTH_ID_LEN + 1];
    memset(row, 0, sizeof(*row));
    int rc = auth_token_make(token, id, row->hash);
    snprintf(row->id, sizeof(row->id), "%s", id);
    snprintf(row->user, sizeof(row->user), "%s", user ? user : "");
    snprintf(row->node, sizeof(row->node), "%s", node ? node : "");
    row->created_ms = controller_now(ctl);
    row->expires_ms = expires_ms;
    return rc;
}

/* Create the bootstrap admin and its token if there is none; write the token to
 * data_dir/admin.token, readable by its owner only. */
static int admin_bootstrap(struct controller *ctl, char *err, size_t len)
{
    char flag[8];
    if (store_meta_get(ctl->store, "bootstrap", flag, sizeof(flag)) == 0)
        return 0;
    char token[AUTH_TOKEN_LEN + 1], path[4200];
    struct store_token row;
    int rc = controller_token_new(ctl, "admin", NULL, 0, token, &row);
    if (rc) {
        snprintf(err, len, "no randomness for the admin token");
        return rc;
    }
    struct store_user admin = {.name = "admin", .tenant = NULL, .role = "admin", .spec_json = "{}"};
    rc = store_batch_begin(ctl->store);
    rc = rc ? rc : store_add_user(ctl->store, &admin);
    rc = rc ? rc : store_add_token(ctl->store, &row);
    rc = rc ? rc : store_meta_set(ctl->store, "bootstrap", "1");
    snprintf(path, sizeof(path), "%s/admin.token", ctl->opt.data_dir);
    int fd = rc ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, token, strlen(token)) != (ssize_t)strlen(token) ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        store_batch_rollback(ctl->store);
        snprintf(err, len, "cannot write %s: %s", path, strerror(errno));
        return rc ? rc : -ALLOT_EIO;
    }
    close(fd);
    rc = store_batch_commit(ctl->store);
    if (rc)
        snprintf(err, len, "cannot store the admin token");
    else
        log_info("bootstrap admin token written to %s", path);
    return rc;
}

int controller_open(struct event_base *base, const struct controller_options *opt,
                    struct controller **out, char *err, size_t len)
{
    struct controller *ctl = calloc(1, sizeof(*ctl));
    if (!ctl)
        return -ALLOT_ENOMEM;
    ctl->base = base;
    ctl->opt = *opt;
    ctl->pending = json_array();
    ctl->idempotency = json_object();
    ctl->flush = event_new(base, -1, 0, flush_cb, ctl);
    ctl->output_tail = &ctl->output_chunks;
    int rc = sched_new(NULL, &ctl->engine);
    if (rc || !ctl->pending || !ctl->idempotency || !ctl->flush) {
        snprintf(err, len, "out of memory");
        controller_close(ctl);
        return rc ? rc : -ALLOT_ENOMEM;
    }
    rc = store_open(opt->data_dir, &ctl->store, err, len);
    if (!rc) {
        rc = stream_new(base, ctl->store, &opt->streams, &ctl->streams);
        if (rc)
            snprintf(err, len, "cannot start the event streams: %s", allot_strerror(rc));
    }
    if (rc) {
        controller_close(ctl);
        return rc;
    }
    rc = journal_replay(ctl);
    if (rc) {
        snprintf(err, len,
                 rc == -ALLOT_ECHECK ? "the state replayed from %s breaks an engine invariant; "
                                       "refusing to start (see the log)"
                                     : "the journal in %s does not replay (see the log)",
                 opt->data_dir);
        controller_close(ctl);
        return rc;
    }
    if (ctl->engine->n_tenants == 0 && opt->platform_path) {
        rc = platform_import(ctl, err, len);
        if (!rc)
            flush_cb(-1, 0, ctl);
    }
    if (!rc)
        rc = admin_bootstrap(ctl, err, len);
    if (rc) {
        controller_close(ctl);
        return rc;
    }
    vtimers_rearm(ctl);
    ctl->tick = event_new(base, -1, EV_PERSIST, tick_cb, ctl);
    struct timeval tv = {CONTROLLER_TICK_MS / 1000, (CONTROLLER_TICK_MS % 1000) * 1000};
    rc = fleet_start(ctl, err, len);
    if (rc) {
        controller_close(ctl);
        return rc;
    }
    if (!ctl->tick || event_add(ctl->tick, &tv)) {
        snprintf(err, len, "cannot start the scheduling tick");
        controller_close(ctl);
        return -ALLOT_ENOMEM;
    }
    *out = ctl;
    return 0;
}

void controller_close(struct controller *ctl)
{
    if (!ctl)
        return;
    if (ctl->store && !ctl->stopped && (json_array_size(ctl->pending) || output_pending(ctl)))
        flush_cb(-1, 0, ctl);
    output_free(ctl);
    fleet_stop(ctl);
    for (uint32_t i = 0; i < ctl->cap_extra; i++)
        extra_free(&ctl->extra[i]);
    free(ctl->extra);
    if (ctl->flush)
        event_free(ctl->flush);
    if (ctl->tick)
        event_free(ctl->tick);
    if (ctl->probe)
        event_free(ctl->probe);
    while (ctl->vtimers)
        vtimer_free(ctl->vtimers);
    json_decref(ctl->pending);
    json_decref(ctl->idempotency);
    controller_auth_changed(ctl);
    stream_free(ctl->streams);
    store_close(ctl->store);
    sched_free(ctl->engine);
    free(ctl);
}

/* Tokens already checked against the store, with their principal: one SQLite read per
 * token until users or tokens change, instead of two per request. */
struct auth_entry {
    char id[AUTH_ID_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    int64_t expires_ms;
    struct principal who;
};

struct auth_cache {
    struct hmap ids;
    struct auth_entry *entries;
    uint32_t n, cap;
};

#define AUTH_CACHE_MAX 4096

void controller_auth_changed(struct controller *ctl)
{
    struct auth_cache *c = ctl->auth;
    if (!c)
        return;
    hmap_cleanup(&c->ids);
    free(c->entries);
    free(c);
    ctl->auth = NULL;
}

/* Remember a checked token (best effort: a full or failing cache only costs speed). */
static void auth_remember(struct controller *ctl, const char *id, const unsigned char *hash,
                          int64_t expires_ms, const struct principal *who)
{
    struct auth_cache *c = ctl->auth;
    if (!c) {
        c = ctl->auth = calloc(1, sizeof(*c));
        if (!c)
            return;
        hmap_init(&c->ids);
        c->cap = AUTH_CACHE_MAX;
        c->entries = calloc(c->cap, sizeof(*c->entries));
        if (!c->entries) {
            controller_auth_changed(ctl);
            return;
        }
    }
    if (c->n == c->cap)
        return;
    struct auth_entry *e = &c->entries[c->n];
    snprintf(e->id, sizeof(e->id), "%s", id);
    memcpy(e->hash, hash, AUTH_HASH_LEN);
    e->expires_ms = expires_ms;
    e->who = *who;
    if (hmap_put(&c->ids, e->id, c->n) == 0)
        c->n++;
}

int controller_authenticate(struct controller *ctl, const char *token, struct principal *who)
{
    char id[AUTH_ID_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    struct store_token row;
    struct store_user user;
    char tenant[64] = "", role[32] = "", workspace[128] = "";
    memset(who, 0, sizeof(*who));
    if (auth_token_parse(token, id, hash))
        return -ALLOT_EUNAUTHORIZED;
    uint32_t k;
    if (ctl->auth && hmap_get(&ctl->auth->ids, id, &k) == 0) {
        const struct auth_entry *e = &ctl->auth->entries[k];
        if (!auth_hash_equal(hash, e->hash) ||
            (e->expires_ms && e->expires_ms < controller_now(ctl)))
            return -ALLOT_EUNAUTHORIZED;
        *who = e->who;
        snprintf(who->token_id, sizeof(who->token_id), "%s", id);
        return 0;
    }
    if (store_find_token(ctl->store, id, &row) || !auth_hash_equal(hash, row.hash))
        return -ALLOT_EUNAUTHORIZED;
    if (row.expires_ms && row.expires_ms < controller_now(ctl))
        return -ALLOT_EUNAUTHORIZED;
    if (strcmp(row.user, AUTH_JOIN_USER) == 0)
        return -ALLOT_EUNAUTHORIZED; /* a join token is only good for POST /v1/join */
    snprintf(who->token_id, sizeof(who->token_id), "%s", id);
    if (row.node[0]) {
        who->role = ROLE_NODE;
        snprintf(who->node, sizeof(who->node), "%s", row.node);
        auth_remember(ctl, id, row.hash, row.expires_ms, who);
        return 0;
    }
    if (store_find_user(ctl->store, row.user, &user, tenant, sizeof(tenant), role, sizeof(role),
                        workspace, sizeof(workspace)))
        return -ALLOT_EUNAUTHORIZED;
    if (auth_role_parse(role, &who->role))
        return -ALLOT_EUNAUTHORIZED;
    snprintf(who->user, sizeof(who->user), "%s", row.user);
    snprintf(who->tenant, sizeof(who->tenant), "%s", tenant);
    snprintf(who->workspace, sizeof(who->workspace), "%s", workspace);
    auth_remember(ctl, id, row.hash, row.expires_ms, who);
    return 0;
}

json_t *controller_workload_json(struct controller *ctl, uint32_t id)
{
    json_t *j = view_workload(ctl->engine, id);
    if (j && id < ctl->cap_extra && ctl->extra[id].exit)
        json_object_set(j, "exit", ctl->extra[id].exit);
    if (j && id < ctl->cap_extra && ctl->extra[id].ended_ms > 0)
        json_object_set_new(j, "ended", json_integer(ctl->extra[id].ended_ms));
    if (j && id < ctl->cap_extra)
        json_object_set_new(j, "attempts", json_integer(ctl->extra[id].runs));
    if (j && id < ctl->cap_extra && ctl->extra[id].confirmed_ms > 0)
        json_object_set_new(j, "process_started", json_integer(ctl->extra[id].confirmed_ms));
    return j;
}

const char *controller_workload_text(struct controller *ctl, uint32_t id, size_t *len)
{
    struct controller_workload *x = controller_extra(ctl, id);
    if (!x)
        return NULL;
    if (!x->view) {
        json_t *j = controller_workload_json(ctl, id);
        x->view = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        x->view_len = x->view ? strlen(x->view) : 0;
        json_decref(j);
    }
    *len = x->view_len;
    return x->view;
}

uint32_t controller_idempotent(struct controller *ctl, const char *workspace, const char *key)
{
    char k[512];
    snprintf(k, sizeof(k), "%s\x1f%s", workspace, key);
    json_t *v = json_object_get(ctl->idempotency, k);
    return v ? (uint32_t)json_integer_value(v) : SCHED_NONE;
}
