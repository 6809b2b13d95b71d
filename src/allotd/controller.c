/* The controller: engine + store in one loop. Ops are applied in memory at once and
 * committed together with one scheduling pass at the end of the loop iteration; replies
 * wait for the commit. On start the journal is replayed to rebuild the engine. */
#include "allotd/controller.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "allotd/fleet.h"
#include "allotd/log.h"
#include "allotd/ops.h"
#include "allotd/output.h"
#include "allotd/server.h"
#include "allotd/snapshot.h"
#include "allotd/tokens.h"
#include "allotd/usage.h"
#include "allotd/vnode.h"
#include "common/array.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/hmap.h"
#include "common/quantity.h"
#include "schema/op.h"
#include "schema/platform.h"
#include "schema/view.h"
#include "store/store.h"

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
    if (ARRAY_RESERVE_ZEROED(ctl->extra, ctl->cap_extra, id + 1))
        return NULL;
    return &ctl->extra[id];
}

/* ---- applying ops ---- */

void controller_view_forget(struct controller *ctl, uint32_t id)
{
    if (id < ctl->cap_extra) {
        free(ctl->extra[id].view);
        ctl->extra[id].view = NULL;
    }
}

/* The sentence of event e as the workload's view may show it: the starvation guard's names
 * the starving workload, which may be of another workspace, whose members alone may learn its
 * name; it is said as "a workload of another workspace" then. RET a new string, or NULL. */
static char *message_scoped(const struct sched *s, const struct sched_event *e)
{
    const struct sched_workload *w = &s->workloads[e->workload];
    uint32_t h = s->tenants[w->tenant].held_by;
    const char *at = NULL;
    if (e->reason == SCHED_REASON_STARVATION_GUARD && h != SCHED_NONE && h < s->n_workloads &&
        s->workloads[h].name && s->workloads[h].workspace != w->workspace)
        at = strstr(e->message, s->workloads[h].name);
    if (!at)
        return strdup(e->message);
    char out[sizeof(e->message) + 64];
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - e->message), e->message,
             "a workload of another workspace", at + strlen(s->workloads[h].name));
    return strdup(out);
}

/* Keep the sentence of a queued or rejected event for its workload (the engine keeps only
 * the reason); an admission or an end drops it. Out of memory, the view says reason_text. */
static void reason_message_keep(struct controller *ctl, const struct sched_event *e)
{
    bool said = e->kind == SCHED_EV_QUEUED || e->kind == SCHED_EV_REJECTED;
    bool gone = e->kind == SCHED_EV_ADMITTED || e->kind == SCHED_EV_FINISHED ||
                e->kind == SCHED_EV_FAILED || e->kind == SCHED_EV_CANCELLED;
    if ((!said && !gone) || e->workload == SCHED_NONE)
        return;
    struct controller_workload *x = controller_extra(ctl, e->workload);
    if (!x)
        return;
    free(x->reason_message);
    x->reason_message = said && e->message[0] ? message_scoped(ctl->engine, e) : NULL;
    x->message_reason = e->reason;
}

const char *controller_reason_message(struct controller *ctl, uint32_t id)
{
    const struct sched *s = ctl->engine;
    if (id >= ctl->cap_extra || id >= s->n_workloads || !ctl->extra[id].reason_message)
        return NULL;
    const struct sched_workload *w = &s->workloads[id];
    bool waits =
        w->state == SCHED_PENDING || w->state == SCHED_RECLAIMING || w->state == SCHED_REJECTED;
    return waits && w->reason == ctl->extra[id].message_reason ? ctl->extra[id].reason_message
                                                               : NULL;
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
        controller_view_forget(ctl, id);
        controller_view_forget(ctl, e->other);
        fleet_track(ctl->fleet, id);
        fleet_track(ctl->fleet, e->other);
        if (!ctl->replaying) {
            log_event(ctl->engine, e);
            json_t *j = view_event(ctl->engine, e, 0);
            if (j)
                stream_queue_take(ctl->streams, j);
        }
        if (e->kind == SCHED_EV_FINISHED || e->kind == SCHED_EV_FAILED ||
            e->kind == SCHED_EV_CANCELLED || e->kind == SCHED_EV_REJECTED) {
            struct controller_workload *x = controller_extra(ctl, id);
            if (x)
                x->ended_ms = e->t;
        }
        if ((e->kind == SCHED_EV_FINISHED || e->kind == SCHED_EV_FAILED ||
             e->kind == SCHED_EV_CANCELLED || e->kind == SCHED_EV_STOPPED) &&
            usage_close(ctl->usage, id, e))
            log_fatal("out of memory: the GPU time of %s is not in the ledger",
                      ctl->engine->workloads[id].name);
        reason_message_keep(ctl, e);
        if (e->kind == SCHED_EV_QUEUED && e->reason == SCHED_REASON_RECLAIMING) {
            /* a reclaim for it begins: its start measures how long reclaims take */
            struct controller_workload *x = controller_extra(ctl, id);
            if (x && !x->reclaim_ms)
                x->reclaim_ms = e->t;
        } else if (id < ctl->cap_extra && id < ctl->engine->n_workloads &&
                   sched_state_ended(ctl->engine->workloads[id].state)) {
            ctl->extra[id].reclaim_ms = 0;
        }
        if (e->kind == SCHED_EV_PREEMPTING) {
            ctl->preemptions[e->reason]++;
            vnodes_arm(ctl->vnodes, id, e->deadline, true);
        } else if (e->kind == SCHED_EV_REJECTED) {
            ctl->rejections[e->reason]++;
        } else if (e->kind == SCHED_EV_ADMITTED) {
            vnodes_arm_run(ctl->vnodes, id, e->t);
        }
        if (e->kind == SCHED_EV_ADMITTED) {
            /* each start is an attempt: its own log, and none of its replicas has ended */
            struct controller_workload *x = controller_extra(ctl, id);
            usage_open(ctl->usage, id, e->a, x && x->reclaim_ms ? e->t - x->reclaim_ms : -1);
            if (x) {
                x->reclaim_ms = 0;
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
            ctl->admission_ms_sum += waited > 0 ? (uint64_t)waited : 0;
        }
    }
    sched_events_clear(ctl->engine);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void engine_failed(struct controller *ctl);
static void controller_deposed(struct controller *ctl);

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
    int rc = ops_run(ctl, op, t, result, field, field_len, err, len);
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

/* Free what the controller keeps of a workload (not the record itself). */
static void extra_free(struct controller_workload *x)
{
    free(x->view);
    free(x->reason_message);
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

/* Rebuild the state into the (fresh) engine: the newest snapshot that loads, then the journal
 * after it (the whole journal without one), then check it. RET 0, or the error of the
 * snapshots, of the entry that does not replay or of the check (logged). */
static int journal_replay(struct controller *ctl)
{
    int64_t after_seq = 0;
    int rc0 = snapshot_restore(ctl, &after_seq);
    if (rc0)
        return rc0;
    ctl->replaying = true;
    int rc = store_journal_load(ctl->store, after_seq, replay_one, ctl);
    ctl->replaying = false;
    rc = rc ? rc : engine_check(ctl, "the journal's replay");
    return rc ? rc : usage_reload(ctl->usage);
}

/* Rebuild the engine and the controller's records of workloads from the store alone (the
 * journal replayed into a fresh engine, as at start), dropping whatever was applied in
 * memory and not committed. Agents get a new epoch, so that they take the desired sets of the
 * rebuilt state. RET 0, or the error of the replay. */
static int controller_reload(struct controller *ctl)
{
    json_array_clear(ctl->pending);
    json_array_clear(ctl->history);
    usage_discard(ctl->usage);
    stream_abort(ctl->streams);
    output_discard(ctl->output);
    vnodes_clear(ctl->vnodes);
    fleet_forget_workloads(ctl->fleet);
    for (uint32_t i = 0; i < ctl->cap_extra; i++) {
        extra_free(&ctl->extra[i]);
        memset(&ctl->extra[i], 0, sizeof(ctl->extra[i]));
    }
    json_object_clear(ctl->idempotency);
    json_object_clear(ctl->node_reasons);
    sched_free(ctl->engine);
    ctl->engine = NULL;
    int rc = sched_new(NULL, &ctl->engine);
    if (rc)
        return rc;
    rc = journal_replay(ctl);
    if (rc)
        return rc;
    vnodes_rearm(ctl->vnodes);
    fleet_new_epoch(ctl->fleet);
    return 0;
}

#define CONTROLLER_PROBE_MS 2000

/* While read-only: try a write; once one commits, accept changes again. */
static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    if (ctl->stale) { /* first the state, from the store, once it can be read again */
        int lost = controller_reload(ctl);
        if (lost == -ALLOT_EIO)
            return;
        if (lost) {
            log_fatal("cannot rebuild the state from the store (%s): stopping",
                      allot_strerror(lost));
            exit(1);
        }
        ctl->stale = false;
        log_info("the state is rebuilt from the store: requests are served again");
    }
    char stamp[32];
    snprintf(stamp, sizeof(stamp), "%lld", (long long)controller_now(ctl));
    int rc = store_batch_begin(ctl->store);
    rc = rc ? rc : store_meta_set(ctl->store, "store.probe", stamp);
    rc = rc ? rc : store_batch_commit(ctl->store);
    if (rc) {
        if (store_in_batch(ctl->store))
            store_batch_rollback(ctl->store);
        if (store_fenced(ctl->store))
            controller_deposed(ctl);
        return;
    }
    log_info("the store can write again: changes are accepted");
    fleet_grace(ctl->fleet); /* agents' reports were refused meanwhile: not their silence */
    ctl->read_only = 0;
    ctl->read_only_why[0] = '\0';
    event_del(ctl->probe);
}

/* Answer every deferred call with err and drop them. */
static void deferred_fail(struct controller *ctl, int err)
{
    struct call *c = ctl->deferred;
    ctl->deferred = ctl->deferred_tail = NULL;
    while (c) {
        struct call *next = c->next;
        call_fail(c, err);
        c = next;
    }
}

/* Another allotd leads the store now (this one was paused, cut off, or its session ended):
 * the store is fenced and commits nothing more, so this allotd stops at once, its pending
 * changes dropped and their requests answered 503; main exits with status 3, and a restart
 * comes back as a standby (docs/operations.md, "A leader and standbys"). */
static void controller_deposed(struct controller *ctl)
{
    if (ctl->deposed)
        return;
    log_fatal("deposed: %s; another allotd leads: stopping, %zu changes not applied",
              store_errmsg(ctl->store), json_array_size(ctl->pending));
    json_array_clear(ctl->pending);
    ctl->deposed = true;
    ctl->stopped = -ALLOT_ESTATE;
    deferred_fail(ctl, -ALLOT_EUNAVAILABLE);
    event_base_loopbreak(ctl->base);
}

/* A commit failed: nothing of it is durable. Answer its requests 503, rebuild the state from
 * the store and refuse changes until a probe write succeeds (docs/operations.md). Without
 * even the store's state to rebuild from, stop. */
static void commit_failed(struct controller *ctl, int rc)
{
    if (store_fenced(ctl->store)) {
        if (store_in_batch(ctl->store))
            store_batch_rollback(ctl->store);
        controller_deposed(ctl);
        return;
    }
    size_t ops = json_array_size(ctl->pending);
    snprintf(ctl->read_only_why, sizeof(ctl->read_only_why), "%s%s",
             rc == -ALLOT_EFULL ? "the disk is full: " : "", store_errmsg(ctl->store));
    if (store_in_batch(ctl->store))
        store_batch_rollback(ctl->store);
    log_fatal("commit failed: %s; %zu changes were not applied and their requests are answered "
              "503; the controller is read-only until the store can write again",
              ctl->read_only_why, ops);
    deferred_fail(ctl, rc);
    ctl->read_only = rc;
    int lost = controller_reload(ctl);
    if (lost == -ALLOT_EIO) { /* the store cannot be reached: the probe rebuilds it later */
        ctl->stale = true;
        log_fatal("cannot rebuild the state from the store now (%s): every request but "
                  "/healthz, /readyz and /metrics is answered 503 until the store is back",
                  store_errmsg(ctl->store));
    } else if (lost) {
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
    deferred_fail(ctl, -ALLOT_ECHECK);
    event_base_loopbreak(ctl->base);
}

/* End of a loop iteration: one scheduling pass, then one transaction for everything, then
 * the replies. A failed commit leaves memory ahead of the disk: commit_failed answers its
 * requests 503 and rebuilds the state from the store (docs/operations.md). */
/* The history rows of the workloads forgotten since the last commit, into the open batch.
 * RET 0 or the store's error. */
static int history_write(struct controller *ctl)
{
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(ctl->history, i, r)
    {
        struct store_history_row row = {
            .name = json_string_value(json_object_get(r, "name")),
            .tenant = json_string_value(json_object_get(r, "tenant")),
            .workspace = json_string_value(json_object_get(r, "workspace")),
            .state = json_string_value(json_object_get(r, "state")),
            .idempotency_key = json_string_value(json_object_get(r, "key")),
            .ended_ms = json_integer_value(json_object_get(r, "ended_ms")),
            .view_json = json_string_value(json_object_get(r, "view")),
        };
        if ((rc = store_history_add(ctl->store, &row)) != 0)
            break;
    }
    return rc;
}

int controller_forget(struct controller *ctl, uint32_t id)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    struct controller_workload *x = id < ctl->cap_extra ? &ctl->extra[id] : NULL;
    const char *ws = s->workspaces[w->workspace].name;
    const char *key = x ? json_string_value(json_object_get(x->extra, "idempotency_key")) : NULL;
    json_t *row = NULL;
    if (!ctl->replaying) { /* a replay finds the row in the history already */
        json_t *view = controller_workload_json(ctl, id);
        if (view)
            json_object_set_new(view, "history", json_true());
        char *text = view ? json_dumps(view, JSON_COMPACT) : NULL;
        json_decref(view);
        row = text ? json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "name", w->name, "tenant",
                               s->tenants[w->tenant].name, "workspace", ws, "state",
                               sched_state_name(w->state), "ended_ms",
                               (json_int_t)(x ? x->ended_ms : 0), "view", text)
                   : NULL;
        free(text);
        if (row && key)
            json_object_set_new(row, "key", json_string(key));
        if (!row || json_array_append_new(ctl->history, row))
            return -ALLOT_ENOMEM;
    }
    char k[512];
    bool has_key = key && snprintf(k, sizeof(k), "%s\x1f%s", ws, key) < (int)sizeof(k);
    int rc = sched_workload_forget(ctl->engine, id); /* w and ws are gone after it */
    if (rc) {
        if (row) /* nothing changed */
            json_array_remove(ctl->history, json_array_size(ctl->history) - 1);
        return rc;
    }
    if (has_key) /* the history answers for it now */
        json_object_del(ctl->idempotency, k);
    fleet_forget(ctl->fleet, id);
    if (x) {
        extra_free(x);
        memset(x, 0, sizeof(*x));
    }
    ctl->forgotten++;
    return 0;
}

/* The periodic invariant check takes at most 1/CONTROLLER_CHECK_SHARE of the loop's time: on
 * a platform of thousands of nodes one check costs tens of ms (docs/benchmarks.md, "Ten
 * thousand agents"), and a check every --check-every passes would be a steady share of the
 * CPU and of the decisions' latency. */
#define CONTROLLER_CHECK_SHARE 100

/* After a pass: the invariant check when it is due (--check-every passes since the last, and
 * CONTROLLER_CHECK_SHARE times its duration). RET 0 or -ALLOT_ECHECK (logged). */
static int pass_check(struct controller *ctl)
{
    uint32_t every = ctl->opt.check_every;
    int64_t now = clock_mono_us();
    ctl->passes++;
    if (!ctl->check_pass)
        ctl->check_pass = every; /* the first after every passes, as each one after it */
    if (!every || ctl->passes < ctl->check_pass || now < ctl->check_at_us)
        return 0;
    int rc = engine_check(ctl, "a pass");
    int64_t took = clock_mono_us() - now;
    ctl->checks++;
    ctl->check_pass = ctl->passes + every;
    ctl->check_at_us = now + took * CONTROLLER_CHECK_SHARE;
    return rc == -ALLOT_ECHECK ? rc : 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    bool ops = json_array_size(ctl->pending) > 0;
    if (ops || output_pending(ctl->output)) {
        int64_t t = controller_now(ctl);
        if (ops) { /* output alone changes nothing the engine sees: no pass */
            if (sched_schedule(ctl->engine, t) == -ALLOT_ECHECK ||
                pass_check(ctl) == -ALLOT_ECHECK) {
                engine_failed(ctl);
                return;
            }
            json_array_append_new(ctl->pending, json_pack("{s:s, s:I}", "op", OP_SCHEDULE, "t", t));
            events_apply(ctl);
        }
        int64_t began_us = clock_mono_us();
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
        rc = rc ? rc : history_write(ctl);
        rc = rc ? rc : usage_write(ctl->usage);
        rc = rc ? rc : output_write(ctl->output);
        rc = rc ? rc : stream_store(ctl->streams, t);
        rc = rc ? rc : store_batch_commit(ctl->store);
        uint64_t us = (uint64_t)(clock_mono_us() - began_us);
        if (rc) {
            commit_failed(ctl, rc);
            return;
        }
        int bucket = 0;
        while (bucket < 11 && us > (uint64_t)(250 << bucket))
            bucket++;
        ctl->commit_hist[bucket]++;
        ctl->commits++;
        ctl->commit_us_sum += us;
        ctl->ops_committed += json_array_size(ctl->pending);
        ctl->ops_since_snapshot += json_array_size(ctl->pending);
        json_array_clear(ctl->pending);
        json_array_clear(ctl->history);
        usage_committed(ctl->usage);
        stream_publish(ctl->streams); /* committed: tell the streams */
        /* A snapshot stops the loop for a time that grows with the live workloads (about 6 us
         * each): taken only after twice as many ops, its cost per op stays small. */
        uint64_t live = ctl->engine->n_workloads - ctl->engine->n_free;
        if (ctl->opt.snapshot_every && ctl->ops_since_snapshot >= ctl->opt.snapshot_every &&
            ctl->ops_since_snapshot >= 2 * live)
            snapshot_take(ctl);
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
            fleet_reply(ctl->fleet, c);
        else
            call_flush(c);
        c = next;
    }
    fleet_wake(ctl->fleet);
}

/* The periodic tick: while work waits, look at every tenant again every CONTROLLER_TICK_MS,
 * since time alone can change a decision (the starvation guard). The tick is an op like
 * any other, so a replay makes the same passes. */
#define CONTROLLER_TICK_MS 10000

#define CONTROLLER_KEEP_FINISHED_MS (10 * 60 * 1000)
#define CONTROLLER_HISTORY_MS (30LL * 24 * 3600 * 1000)
/* The retention runs every second and forgets at most this many workloads each time (so that
 * one run after a long stop stays short), which keeps up with 10,000 endings a second. */
#define CONTROLLER_RETENTION_MS 1000
#define CONTROLLER_FORGET_PER_TICK 10000
/* Once this many workloads were forgotten since the last time, the retention hands the heap's
 * free memory back to the system (glibc keeps it otherwise: the RSS of a burst of ended work
 * would stay at its peak after it left the engine; docs/benchmarks.md, "Ended workloads"). */
#define CONTROLLER_TRIM_AFTER 1000
/* Events and output: each run deletes at most this many events (one statement) and this
 * many attempts of output, so a run after a long stop stays short (tens of milliseconds,
 * docs/store.md "Retention"); both indexed by time, a run with nothing due costs a lookup. */
#define CONTROLLER_EVENTS_KEEP_MS (30LL * 24 * 3600 * 1000)
#define CONTROLLER_OUTPUT_KEEP_MS (30LL * 24 * 3600 * 1000)
#define CONTROLLER_OUTPUT_MAX_BYTES (1LL << 30)
#define CONTROLLER_USAGE_KEEP_MS (400LL * 24 * 3600 * 1000)
#define CONTROLLER_EVENTS_TRIM_PER_TICK 10000
#define CONTROLLER_OUTPUT_TRIM_PER_TICK 100

/* An option's value, or its default when unset (0). */
static int64_t or_default(int64_t value, int64_t fallback)
{
    return value > 0 ? value : fallback;
}

/* The events and output older than their limits, and the output of workspaces over their
 * size cap, go (docs/operations.md, "Retention"); failures are retried next run. */
static void retention_trim(struct controller *ctl, int64_t now)
{
    const struct controller_options *o = &ctl->opt;
    int64_t events = 0;
    struct store_output_trimmed aged = {0}, capped = {0};
    if (store_events_trim_before(ctl->store,
                                 now - or_default(o->events_keep_ms, CONTROLLER_EVENTS_KEEP_MS),
                                 CONTROLLER_EVENTS_TRIM_PER_TICK, &events) == 0)
        ctl->events_trimmed += (uint64_t)events;
    if (store_output_trim_age(ctl->store,
                              now - or_default(o->output_keep_ms, CONTROLLER_OUTPUT_KEEP_MS),
                              CONTROLLER_OUTPUT_TRIM_PER_TICK, &aged) != 0)
        aged = (struct store_output_trimmed){0};
    if (store_output_trim_size(ctl->store,
                               or_default(o->output_max_bytes, CONTROLLER_OUTPUT_MAX_BYTES),
                               CONTROLLER_OUTPUT_TRIM_PER_TICK, &capped) != 0)
        capped = (struct store_output_trimmed){0};
    ctl->output_trimmed_bytes += (uint64_t)(aged.bytes + capped.bytes);
    ctl->output_trimmed_attempts += (uint64_t)(aged.attempts + capped.attempts);
}

/* Ended workloads that have waited their keep_finished leave the engine for the history (as
 * forget ops, so that a replay forgets them in the same places), the history drops what is
 * older than its retention, and events and output theirs (retention_trim). */
static void retention_tick(struct controller *ctl)
{
    /* an idle leader learns here that it was deposed (PostgreSQL: its session ended and
     * another took the lead), within a second, rather than at its next commit */
    if (store_location_is_postgres(ctl->opt.store) && !store_in_batch(ctl->store) &&
        store_check_lead(ctl->store) == -ALLOT_ESTATE) {
        controller_deposed(ctl);
        return;
    }
    int64_t now = controller_now(ctl);
    /* what the forgets of earlier runs freed, once their history rows are committed */
    if (ctl->forgotten - ctl->forgotten_at_trim >= CONTROLLER_TRIM_AFTER &&
        json_array_size(ctl->pending) == 0) {
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        ctl->forgotten_at_trim = ctl->forgotten;
    }
    int64_t keep = or_default(ctl->opt.keep_finished_ms, CONTROLLER_KEEP_FINISHED_MS);
    int64_t history = or_default(ctl->opt.history_ms, CONTROLLER_HISTORY_MS);
    const struct sched *s = ctl->engine;
    int n = 0;
    for (uint32_t id = 0; id < s->n_workloads && id < ctl->cap_extra; id++) {
        const struct sched_workload *w = &s->workloads[id];
        if (!w->name || !sched_state_ended(w->state) || ctl->extra[id].ended_ms <= 0 ||
            now - ctl->extra[id].ended_ms < keep)
            continue;
        char field[64], err[256];
        json_t *op = json_pack("{s:s, s:s}", "op", OP_FORGET, "workload", w->name);
        int rc = op ? controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err))
                    : -ALLOT_ENOMEM;
        json_decref(op);
        if (rc || ++n == CONTROLLER_FORGET_PER_TICK)
            break; /* read-only, out of memory, or enough for this tick */
    }
    int64_t trimmed = 0; /* the age limit: once a minute is soon enough */
    if (ctl->retention_runs++ % 60 == 0 && !ctl->read_only &&
        store_history_trim(ctl->store, now - history, &trimmed) == 0)
        ctl->history_trimmed += (uint64_t)trimmed;
    /* when tokens were last used: a write a minute at most, whatever the traffic */
    if (ctl->retention_runs % 60 == 1 && !ctl->read_only)
        token_cache_write_uses(ctl->tokens, NULL);
    int64_t usage_keep = or_default(ctl->opt.usage_keep_ms, CONTROLLER_USAGE_KEEP_MS);
    if (ctl->retention_runs % 3600 == 1 && !ctl->read_only &&
        usage_trim(ctl->usage, now - usage_keep, &trimmed) == 0)
        ctl->usage_trimmed += (uint64_t)trimmed;
    if (!ctl->read_only)
        retention_trim(ctl, now);
}

static void retention_cb(evutil_socket_t fd, short what, void *arg)
{
    retention_tick(arg);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    bool waiting = false;
    for (uint32_t i = 0; i < ctl->engine->n_tenants && !waiting; i++)
        waiting = ctl->engine->tenants[i].fifo_head != SCHED_NONE;
    if (waiting) {
        char field[64], err[256];
        json_t *op = json_pack("{s:s}", "op", OP_TICK);
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
    ctl->ops_since_snapshot++; /* a long tail replayed is snapshotted as soon as new ops are */
    int rc = ops_run(ctl, op, t, NULL, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    events_apply(ctl);
    if (rc == -ALLOT_ECHECK)
        log_fatal("journal entry %lld breaks an engine invariant: %s", (long long)seq,
                  sched_broken(ctl->engine) ? sched_broken(ctl->engine) : err);
    else if (rc)
        log_fatal("journal entry %lld does not replay: %s: %s", (long long)seq, field, err);
    return rc;
}

/* Import a platform YAML on first start: as ops, so the journal holds everything. */
static int platform_import(struct controller *ctl, char *err, size_t len)
{
    struct source src;
    struct sched *p = NULL;
    json_t *ops = NULL;
    char field[64];
    /* checked whole first (the engine's refusals too, at their line), then applied as the
     * readers read it: one op per object, as the API's bodies are */
    int rc = source_load(ctl->opt.platform_path, PLATFORM_MAX_BYTES, &src, err, len);
    rc = rc ? rc : platform_build(&src, NULL, &p, err, len);
    rc = rc ? rc : platform_ops(&src, &ops);
    size_t i;
    json_t *op;
    json_array_foreach(rc ? NULL : ops, i, op)
    {
        rc = controller_apply(ctl, op, NULL, field, sizeof(field), err, len);
        if (rc)
            break;
    }
    json_decref(ops);
    sched_free(p);
    source_cleanup(&src);
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

/* The controller's parts, empty: engine, journal buffer, its subsystems' own state.
 * RET 0, or -ALLOT_ENOMEM. */
static int controller_parts_new(struct controller *ctl)
{
    ctl->pending = json_array();
    ctl->history = json_array();
    ctl->idempotency = json_object();
    ctl->node_reasons = json_object();
    ctl->flush = event_new(ctl->base, -1, 0, flush_cb, ctl);
    int rc = sched_new(NULL, &ctl->engine);
    rc = rc ? rc : fleet_new(ctl, &ctl->fleet);
    rc = rc ? rc : output_new(ctl, &ctl->output);
    rc = rc ? rc : vnodes_new(ctl, &ctl->vnodes);
    rc = rc ? rc : usage_new(ctl, &ctl->usage);
    if (!rc &&
        (!ctl->pending || !ctl->history || !ctl->idempotency || !ctl->node_reasons || !ctl->flush))
        rc = -ALLOT_ENOMEM;
    return rc;
}

int controller_open(struct event_base *base, const struct controller_options *opt,
                    struct controller **out, char *err, size_t len)
{
    struct controller *ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        store_close(opt->store_open);
        return -ALLOT_ENOMEM;
    }
    ctl->base = base;
    ctl->opt = *opt;
    ctl->store = opt->store_open; /* a standby that took the lead (standby.h), or NULL */
    ctl->opt.store_open = NULL;
    int rc = controller_parts_new(ctl);
    if (rc) {
        snprintf(err, len, "out of memory");
        goto out;
    }
    if (!ctl->store)
        rc = store_open(opt->store ? opt->store : opt->data_dir, &ctl->store, err, len);
    /* with the store elsewhere the data directory still holds admin.token */
    if (!rc && opt->store && store_location_is_postgres(opt->store) &&
        mkdir(opt->data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, len, "%s: cannot create the data directory: %s", opt->data_dir,
                 strerror(errno));
        rc = -ALLOT_EIO;
    }
    rc = rc ? rc : token_cache_new(ctl->store, &ctl->tokens);
    if (!rc) {
        rc = stream_new(base, ctl->store, &opt->streams, &ctl->streams);
        if (rc)
            snprintf(err, len, "cannot start the event streams: %s", allot_strerror(rc));
    }
    if (rc)
        goto out;
    rc = journal_replay(ctl);
    if (rc) {
        snprintf(err, len,
                 rc == -ALLOT_ECHECK ? "the state replayed from %s breaks an engine invariant; "
                                       "refusing to start (see the log)"
                                     : "the journal in %s does not replay (see the log)",
                 opt->store && store_location_is_postgres(opt->store) ? "PostgreSQL"
                                                                      : opt->data_dir);
        goto out;
    }
    if (ctl->engine->n_tenants == 0 && opt->platform_path) {
        rc = platform_import(ctl, err, len);
        if (!rc)
            flush_cb(-1, 0, ctl);
    }
    rc = rc ? rc : admin_bootstrap(ctl, err, len);
    if (rc)
        goto out;
    vnodes_rearm(ctl->vnodes);
    rc = fleet_start(ctl->fleet, err, len);
    if (rc)
        goto out;
    ctl->tick = event_new(base, -1, EV_PERSIST, tick_cb, ctl);
    ctl->retention = event_new(base, -1, EV_PERSIST, retention_cb, ctl);
    struct timeval tv = {CONTROLLER_TICK_MS / 1000, (CONTROLLER_TICK_MS % 1000) * 1000};
    struct timeval rv = {CONTROLLER_RETENTION_MS / 1000, (CONTROLLER_RETENTION_MS % 1000) * 1000};
    if (!ctl->tick || event_add(ctl->tick, &tv) || !ctl->retention ||
        event_add(ctl->retention, &rv)) {
        snprintf(err, len, "cannot start the scheduling tick");
        rc = -ALLOT_ENOMEM;
    }
out:
    if (rc) {
        controller_close(ctl);
        return rc;
    }
    *out = ctl;
    return 0;
}

void controller_close(struct controller *ctl)
{
    if (!ctl)
        return;
    if (ctl->store && !ctl->stopped &&
        (json_array_size(ctl->pending) || output_pending(ctl->output)))
        flush_cb(-1, 0, ctl);
    if (ctl->store && ctl->tokens && !ctl->stopped && !ctl->read_only)
        token_cache_write_uses(ctl->tokens, NULL); /* best effort: the last minute of uses */
    /* a restart replays nothing it need not (a deposed one writes nothing) */
    if (ctl->store && ctl->engine && !ctl->deposed && ctl->opt.snapshot_every &&
        ctl->ops_since_snapshot)
        snapshot_take(ctl);
    output_free(ctl->output);
    usage_free(ctl->usage);
    fleet_free(ctl->fleet);
    vnodes_free(ctl->vnodes);
    for (uint32_t i = 0; i < ctl->cap_extra; i++)
        extra_free(&ctl->extra[i]);
    free(ctl->extra);
    if (ctl->flush)
        event_free(ctl->flush);
    if (ctl->tick)
        event_free(ctl->tick);
    if (ctl->retention)
        event_free(ctl->retention);
    if (ctl->probe)
        event_free(ctl->probe);
    json_decref(ctl->pending);
    json_decref(ctl->history);
    json_decref(ctl->idempotency);
    json_decref(ctl->node_reasons);
    token_cache_free(ctl->tokens);
    stream_free(ctl->streams);
    store_close(ctl->store);
    sched_free(ctl->engine);
    free(ctl);
}

bool controller_serving(struct controller *ctl, struct call *c)
{
    if (!ctl->stale && !ctl->deposed)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", "2");
    call_error(c, -ALLOT_EUNAVAILABLE, 503, NULL,
               ctl->deposed ? "this allotd no longer leads: it is stopping"
                            : "the store cannot be reached (%.150s): the state is rebuilt from "
                              "it once it can; retry",
               ctl->read_only_why);
    return false;
}

int controller_authenticate(struct controller *ctl, const char *token, struct principal *who)
{
    return token_cache_authenticate(ctl->tokens, token, controller_now(ctl), who);
}

void controller_auth_changed(struct controller *ctl)
{
    token_cache_forget(ctl->tokens);
}

json_t *controller_workload_json(struct controller *ctl, uint32_t id)
{
    json_t *j = view_workload(ctl->engine, id);
    /* the image and working directory as submitted (the spec kept in extra) */
    static const char *const submitted[] = {"image", "workdir"};
    for (size_t k = 0; j && id < ctl->cap_extra && k < sizeof(submitted) / sizeof(*submitted);
         k++) {
        json_t *v = json_object_get(ctl->extra[id].extra, submitted[k]);
        if (json_is_string(v))
            json_object_set(j, submitted[k], v);
    }
    const char *why = controller_reason_message(ctl, id);
    if (j && why) /* the specific sentence beside reason_text */
        json_object_set_new(j, "reason_message", json_string(why));
    if (j && id < ctl->cap_extra && ctl->extra[id].exit)
        json_object_set(j, "exit", ctl->extra[id].exit);
    if (j && id < ctl->cap_extra && ctl->extra[id].ended_ms > 0)
        json_object_set_new(j, "ended", json_integer(ctl->extra[id].ended_ms));
    if (j && id < ctl->cap_extra)
        json_object_set_new(j, "attempts", json_integer(ctl->extra[id].runs));
    if (j && id < ctl->cap_extra && ctl->extra[id].owner) /* who submitted it (the ledger's user) */
        json_object_set_new(j, "user", json_string(ctl->extra[id].owner));
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

json_t *controller_node_json(struct controller *ctl, uint32_t id)
{
    json_t *j = view_node(ctl->engine, id);
    const json_t *why = j && ctl->engine->nodes[id].state != SCHED_NODE_READY
                            ? json_object_get(ctl->node_reasons, ctl->engine->nodes[id].name)
                            : NULL;
    if (!why)
        return j;
    json_t *by = json_object_get(why, "by");
    if (json_object_set(j, "reason", json_object_get(why, "reason")) ||
        json_object_set(j, "reason_by", by ? by : json_null()) ||
        json_object_set(j, "reason_at", json_object_get(why, "at"))) {
        json_decref(j);
        return NULL;
    }
    return j;
}
