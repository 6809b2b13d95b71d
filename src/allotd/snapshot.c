/* The controller's snapshots (snapshot.h): taking one after a commit, and starting from one.
 * The controller's part is JSON read back as untrusted input: every id must name a workload
 * of the engine it comes with, every value have its type, or the snapshot is not used. */
#include "allotd/snapshot.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "allotd/controller.h"
#include "allotd/fleet.h"
#include "allotd/log.h"
#include "common/clock.h"
#include "common/error.h"
#include "schema/op.h"
#include "sched/snapshot.h"
#include "store/store.h"

#define ADMISSION_BUCKETS (sizeof(((struct controller *)0)->admission_hist) / sizeof(uint64_t))

/* An array of n counters as JSON. */
static json_t *counters_json(const uint64_t *c, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)c[i]));
    return a;
}

/* The fields of a submitted spec the daemon reads again (the desired set, the view, the
 * history): a snapshot keeps only these of it. */
static const char *const spec_kept[] = {"command", "env", "image", "workdir", "idempotency_key"};
#define N_SPEC_KEPT (sizeof(spec_kept) / sizeof(spec_kept[0]))

/* What a snapshot keeps of spec: a new object, or null. */
static json_t *spec_json(const json_t *spec)
{
    if (!spec)
        return json_null();
    json_t *o = json_object();
    for (size_t k = 0; o && k < N_SPEC_KEPT; k++) {
        json_t *v = json_object_get(spec, spec_kept[k]);
        if (v)
            json_object_set(o, spec_kept[k], v);
    }
    return o;
}

/* One workload's record: [id, duration_ms, runs, ended_ms, owner, spec, exit, ended,
 * usage_borrowed, reason_message], an array rather than an object (a start parses 100,000 of
 * them: no hash table each). reason_message is [reason name, sentence] or null. Records
 * written before the ledger and the sentences end after `ended` (REC_OLD fields) and load
 * without them (usage_borrowed: all of its GPUs when its admission said borrowed). */
enum {
    REC_ID,
    REC_DURATION,
    REC_RUNS,
    REC_ENDED_MS,
    REC_OWNER,
    REC_SPEC,
    REC_EXIT,
    REC_ENDED,
    REC_USAGE_BORROWED, /* the open attempt's GPU units above the reservation (usage.h) */
    REC_REASON_MESSAGE,
    REC_N,
    REC_OLD = REC_USAGE_BORROWED /* fields of a record of an earlier version */
};

/* A kept sentence at most this long (an event's message is shorter). */
#define REC_MESSAGE_MAX 1024

/* The record of x's reason_message: [reason, sentence], or null. */
static json_t *reason_message_json(const struct controller_workload *x)
{
    if (!x->reason_message)
        return json_null();
    return json_pack("[s, s]", reason_name(x->message_reason), x->reason_message);
}

/* Is v a reason_message record (see reason_message_json)? OUT *r: its reason. */
static bool reason_message_valid(const json_t *v, enum sched_reason *r)
{
    const char *name = json_string_value(json_array_get(v, 0));
    const char *text = json_string_value(json_array_get(v, 1));
    return json_is_array(v) && json_array_size(v) == 2 && name && text &&
           strlen(text) <= REC_MESSAGE_MAX && reason_parse(name, r) == 0;
}

/* The controller's records of ctl's workloads, keys and counters. NULL when out of memory. */
static json_t *records_json(struct controller *ctl)
{
    const struct sched *s = ctl->engine;
    json_t *wls = json_array();
    for (uint32_t id = 0; wls && id < s->n_workloads && id < ctl->cap_extra; id++) {
        const struct controller_workload *x = &ctl->extra[id];
        if (!s->workloads[id].name)
            continue;
        json_t *ended = json_null();
        if (x->ended) {
            ended = json_array();
            for (uint32_t r = 0; ended && r < s->workloads[id].replicas; r++)
                json_array_append_new(ended, json_integer(x->ended[r]));
        }
        json_t *o =
            json_pack("[I, I, I, I, o, o, O, o, I, o]", (json_int_t)id, (json_int_t)x->duration_ms,
                      (json_int_t)x->runs, (json_int_t)x->ended_ms,
                      x->owner ? json_string(x->owner) : json_null(), spec_json(x->extra),
                      x->exit ? x->exit : json_null(), ended, (json_int_t)x->usage_borrowed,
                      reason_message_json(x));
        if (!o || json_array_append_new(wls, o)) {
            json_decref(wls);
            return NULL;
        }
    }
    return json_pack("{s:i, s:o, s:O, s:O, s:I, s:o, s:o, s:o, s:I}", "version",
                     SNAPSHOT_RECORDS_VERSION, "workloads", wls, "idempotency", ctl->idempotency,
                     "node_reasons", ctl->node_reasons, "last_now", (json_int_t)ctl->last_now,
                     "preemptions", counters_json(ctl->preemptions, SCHED_REASON_COUNT),
                     "rejections", counters_json(ctl->rejections, SCHED_REASON_COUNT), "admission",
                     counters_json(ctl->admission_hist, ADMISSION_BUCKETS), "admission_ms_sum",
                     (json_int_t)ctl->admission_ms_sum);
}

int snapshot_take(struct controller *ctl)
{
    if (json_array_size(ctl->pending) || ctl->read_only || ctl->stopped)
        return -ALLOT_ESTATE; /* only a committed state is a snapshot */
    int64_t a = clock_mono_us();
    uint8_t *engine = NULL;
    size_t engine_len = 0;
    json_t *records = records_json(ctl);
    char *text = records ? json_dumps(records, JSON_COMPACT) : NULL;
    int64_t seq = 0, trimmed = 0;
    int rc = text ? sched_snapshot_save(ctl->engine, &engine, &engine_len) : -ALLOT_ENOMEM;
    int64_t m = clock_mono_us(); /* built: the rest is the store's */
    rc = rc ? rc
            : store_snapshot_write(ctl->store, controller_now(ctl), engine, engine_len, text, &seq,
                                   &trimmed);
    uint64_t us = (uint64_t)(clock_mono_us() - a), build_us = (uint64_t)(m - a);
    if (rc) {
        ctl->snapshot_failures++;
        log_fatal("snapshot not written: %s; the journal is kept whole",
                  rc == -ALLOT_ENOMEM ? "out of memory" : store_errmsg(ctl->store));
    } else {
        ctl->snapshots++;
        ctl->snapshot_seq = seq;
        ctl->snapshot_bytes = engine_len + strlen(text);
        ctl->snapshot_us = us;
        ctl->journal_trimmed += (uint64_t)trimmed;
        ctl->ops_since_snapshot = 0;
        log_info("snapshot of journal entry %lld: %zu bytes of engine and %zu of records in "
                 "%.1f ms (%.1f ms to build, %.1f ms to store); %lld journal entries trimmed",
                 (long long)seq, engine_len, strlen(text), (double)us / 1000,
                 (double)build_us / 1000, (double)(us - build_us) / 1000, (long long)trimmed);
    }
    free(engine);
    free(text);
    json_decref(records);
    return rc;
}

/* ---- starting from one ---- */

/* Counters of the JSON array a (exactly n non-negative integers) into c. RET 0 or -1. */
static int counters_read(const json_t *a, uint64_t *c, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return -1;
        c[i] = (uint64_t)json_integer_value(v);
    }
    return 0;
}

/* Field i of record w: JSON null reads as absent (NULL). */
static const json_t *field(const json_t *w, size_t i)
{
    const json_t *v = json_array_get(w, i);
    return json_is_null(v) ? NULL : v;
}

/* Check the records r against engine s before anything is installed. RET 0, or -1 with the
 * reason in why. */
static int records_check(const json_t *r, const struct sched *s, char *why, size_t len)
{
    if (!json_is_object(r) ||
        json_integer_value(json_object_get(r, "version")) != SNAPSHOT_RECORDS_VERSION)
        return snprintf(why, len, "its records are not of version %d", SNAPSHOT_RECORDS_VERSION),
               -1;
    if (!json_is_array(json_object_get(r, "workloads")) ||
        !json_is_object(json_object_get(r, "idempotency")) ||
        !json_is_integer(json_object_get(r, "last_now")))
        return snprintf(why, len, "its records lack workloads, idempotency or last_now"), -1;
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(r, "workloads"), i, w)
    {
        json_int_t id = json_integer_value(json_array_get(w, REC_ID));
        json_int_t runs = json_integer_value(json_array_get(w, REC_RUNS));
        const json_t *ended = field(w, REC_ENDED);
        const json_t *owner = field(w, REC_OWNER), *spec = field(w, REC_SPEC);
        const json_t *exit_info = field(w, REC_EXIT);
        const json_t *message = field(w, REC_REASON_MESSAGE);
        enum sched_reason reason;
        bool ok =
            json_is_array(w) && (json_array_size(w) == REC_N || json_array_size(w) == REC_OLD) &&
            (json_array_size(w) == REC_OLD ||
             json_is_integer(json_array_get(w, REC_USAGE_BORROWED))) &&
            (!message || reason_message_valid(message, &reason)) &&
            json_is_integer(json_array_get(w, REC_ID)) && id >= 0 &&
            id < (json_int_t)s->n_workloads && s->workloads[id].name &&
            json_is_integer(json_array_get(w, REC_DURATION)) &&
            json_is_integer(json_array_get(w, REC_RUNS)) && runs >= 0 && runs <= UINT32_MAX &&
            json_is_integer(json_array_get(w, REC_ENDED_MS)) && (!owner || json_is_string(owner)) &&
            (!spec || json_is_object(spec)) && (!exit_info || json_is_object(exit_info)) &&
            (!ended ||
             (json_is_array(ended) && json_array_size(ended) == s->workloads[id].replicas));
        for (size_t k = 0; ok && ended && k < json_array_size(ended); k++) {
            json_int_t v = json_integer_value(json_array_get(ended, k));
            ok = json_is_integer(json_array_get(ended, k)) && (v == 0 || v == 1);
        }
        if (!ok)
            return snprintf(why, len, "its record %zu does not match the engine's workloads", i),
                   -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(r, "idempotency"), key, v)
    {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id >= (json_int_t)s->n_workloads ||
            !s->workloads[id].name)
            return snprintf(why, len, "its idempotency key %.64s names no workload", key), -1;
    }
    /* nodes' drain reasons (absent from snapshots older than them): as a node_state op
     * gives them, for nodes of the engine */
    const json_t *reasons = json_object_get(r, "node_reasons");
    if (reasons && !json_is_object(reasons))
        return snprintf(why, len, "its node_reasons are not an object"), -1;
    json_object_foreach((json_t *)reasons, key, v)
    {
        uint32_t node;
        char bad[160];
        const json_t *by = json_object_get(v, "by");
        if (sched_node_find(s, key, &node) || !json_is_object(v) ||
            op_node_reason_check(json_object_get(v, "reason"), bad, sizeof(bad)) ||
            !json_is_integer(json_object_get(v, "at")) || (by && !json_is_string(by)))
            return snprintf(why, len, "its reason for node %.64s is not one", key), -1;
    }
    uint64_t scratch[SCHED_REASON_COUNT > 12 ? SCHED_REASON_COUNT : 12];
    if (counters_read(json_object_get(r, "preemptions"), scratch, SCHED_REASON_COUNT) ||
        counters_read(json_object_get(r, "rejections"), scratch, SCHED_REASON_COUNT) ||
        counters_read(json_object_get(r, "admission"), scratch, ADMISSION_BUCKETS))
        return snprintf(why, len, "its counters are not those of this version"), -1;
    return 0;
}

/* Install engine e (taken) and the checked records r as ctl's state. RET 0 or -ALLOT_ENOMEM
 * (ctl then holds e and part of the records: the caller stops). */
static int records_install(struct controller *ctl, struct sched *e, const json_t *r)
{
    sched_free(ctl->engine);
    ctl->engine = e;
    size_t i;
    const json_t *w;
    json_array_foreach(json_object_get(r, "workloads"), i, w)
    {
        uint32_t id = (uint32_t)json_integer_value(json_array_get(w, REC_ID));
        struct controller_workload *x = controller_extra(ctl, id);
        if (!x)
            return -ALLOT_ENOMEM;
        const char *owner = json_string_value(field(w, REC_OWNER));
        const json_t *ended = field(w, REC_ENDED);
        x->owner = owner ? strdup(owner) : NULL;
        x->duration_ms = json_integer_value(json_array_get(w, REC_DURATION));
        x->extra = json_incref((json_t *)field(w, REC_SPEC));
        x->exit = json_incref((json_t *)field(w, REC_EXIT));
        x->runs = (uint32_t)json_integer_value(json_array_get(w, REC_RUNS));
        x->ended_ms = json_integer_value(json_array_get(w, REC_ENDED_MS));
        /* an attempt holds GPUs while it runs or drains; an older record did not say how much
         * of it was borrowed: all of it when its admission said borrowed */
        const struct sched_workload *sw = &e->workloads[id];
        x->usage_open = sw->state == SCHED_RUNNING || sw->state == SCHED_DRAINING;
        x->usage_reclaim_ms = -1; /* a wait on a reclaim is not kept in snapshots: unknown */
        x->usage_borrowed = json_array_size(w) == REC_N
                                ? json_integer_value(json_array_get(w, REC_USAGE_BORROWED))
                            : sw->borrowed ? sw->total.gpu
                                           : 0;
        if (ended) {
            x->ended = calloc(json_array_size(ended) ? json_array_size(ended) : 1, 1);
            if (!x->ended)
                return -ALLOT_ENOMEM;
            for (size_t k = 0; k < json_array_size(ended); k++) {
                x->ended[k] = (uint8_t)json_integer_value(json_array_get(ended, k));
                x->n_ended += x->ended[k];
            }
        }
        if (owner && !x->owner)
            return -ALLOT_ENOMEM;
        const json_t *message = field(w, REC_REASON_MESSAGE);
        if (message && reason_message_valid(message, &x->message_reason)) {
            x->reason_message = strdup(json_string_value(json_array_get(message, 1)));
            if (!x->reason_message)
                return -ALLOT_ENOMEM;
        }
    }
    if (json_object_update(ctl->idempotency, json_object_get(r, "idempotency")))
        return -ALLOT_ENOMEM;
    const json_t *reasons = json_object_get(r, "node_reasons");
    if (reasons && json_object_update(ctl->node_reasons, (json_t *)reasons))
        return -ALLOT_ENOMEM;
    ctl->last_now = json_integer_value(json_object_get(r, "last_now"));
    counters_read(json_object_get(r, "preemptions"), ctl->preemptions, SCHED_REASON_COUNT);
    counters_read(json_object_get(r, "rejections"), ctl->rejections, SCHED_REASON_COUNT);
    counters_read(json_object_get(r, "admission"), ctl->admission_hist, ADMISSION_BUCKETS);
    /* absent from snapshots older than it: the sum restarts at 0 */
    json_int_t sum = json_integer_value(json_object_get(r, "admission_ms_sum"));
    ctl->admission_ms_sum = sum > 0 ? (uint64_t)sum : 0;
    fleet_restore(ctl->fleet);
    return 0;
}

/* Load snapshot sn into ctl, or say why not (in why) and leave ctl as it was. RET 0; 1 when
 * this snapshot cannot be used; -ALLOT_ENOMEM. */
static int load_one(struct controller *ctl, const struct store_snapshot *sn, char *why, size_t len)
{
    struct sched *e = NULL;
    json_error_t jerr;
    int rc = sched_snapshot_load(sn->engine, sn->engine_len, &e, why, len);
    if (rc == -ALLOT_ENOMEM)
        return rc;
    if (rc)
        return 1;
    json_t *r = json_loads(sn->controller, JSON_REJECT_DUPLICATES, &jerr);
    if (!r)
        snprintf(why, len, "its records are not JSON: %s", jerr.text);
    if (!r || records_check(r, e, why, len)) {
        json_decref(r);
        sched_free(e);
        return 1;
    }
    rc = records_install(ctl, e, r);
    json_decref(r);
    return rc;
}

int snapshot_restore(struct controller *ctl, int64_t *after_seq)
{
    int64_t first = 0, last = 0;
    *after_seq = 0;
    int rc = store_journal_bounds(ctl->store, &first, &last);
    if (rc) {
        log_fatal("cannot read the journal's bounds: %s", store_errmsg(ctl->store));
        return rc;
    }
    for (int k = 0; k < STORE_SNAPSHOTS_KEPT; k++) {
        struct store_snapshot sn;
        char why[300] = "";
        rc = store_snapshot_read(ctl->store, k, &sn);
        if (rc == -ALLOT_ENOENT)
            break;
        if (rc) {
            log_fatal("cannot read snapshot %d: %s", k, store_errmsg(ctl->store));
            return rc;
        }
        /* it must reach the journal: the entry after it is the oldest kept, or none is */
        bool covers = first == 0 ? last <= sn.seq : first <= sn.seq + 1;
        if (!covers)
            snprintf(why, sizeof(why), "the journal after it was trimmed (it starts at %lld)",
                     (long long)first);
        rc = covers ? load_one(ctl, &sn, why, sizeof(why)) : 1;
        if (rc == 0) {
            *after_seq = sn.seq;
            log_info("started from the snapshot of journal entry %lld (%zu bytes); replaying "
                     "the %lld entries after it",
                     (long long)sn.seq, sn.engine_len + strlen(sn.controller),
                     (long long)(last - sn.seq));
            ctl->snapshot_seq = sn.seq;
        } else if (rc > 0) {
            log_fatal("the snapshot of journal entry %lld is not used: %s", (long long)sn.seq, why);
        }
        store_snapshot_free(&sn);
        if (rc <= 0)
            return rc;
    }
    if (first == 1 || (first == 0 && last == 0))
        return 0; /* the journal is whole (or there is none): replay it all */
    log_fatal("the journal was trimmed through entry %lld and no snapshot that covers it loads: "
              "the state cannot be rebuilt from this store",
              (long long)(first ? first - 1 : last));
    return -ALLOT_ECONFIG;
}
