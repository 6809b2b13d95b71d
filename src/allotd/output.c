/* Workloads' output as their node agents ship it (docs/agent-running.md, "Logs"): chunks
 * checked against where the stream ends, queued, and written with the next commit. */
#include "allotd/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allotd/fleet.h"
#include "common/error.h"
#include "common/protocol.h"
#include "store/store.h"

/* Every chunk the protocol lets an agent send fits in one row of the store. */
_Static_assert(PROTOCOL_MAX_LOG_CHUNK <= STORE_LOG_CHUNK_MAX, "a log chunk must fit the store");

/* A chunk accepted and not yet written. */
struct output_chunk {
    struct output_chunk *next;
    char workload[STORE_LOG_NAME_MAX + 1];
    int rank, attempt;
    char stream[8];
    int64_t offset;
    size_t len;
    char data[];
};

struct output {
    struct controller *ctl;
    struct output_chunk *chunks, **tail; /* accepted, to write with the next commit */
    json_t *ends;                        /* where each shipped stream ends, by end_key */
};

int output_new(struct controller *ctl, struct output **out)
{
    struct output *o = calloc(1, sizeof(*o));
    *out = o;
    if (!o)
        return -ALLOT_ENOMEM;
    o->ctl = ctl;
    o->tail = &o->chunks;
    return 0;
}

/* The key of a stream in the controller's map of stream ends. */
static void end_key(const struct controller *ctl, const struct output_key *k, char *buf, size_t len)
{
    snprintf(buf, len, "%s\x1f%d\x1f%d\x1f%s", ctl->engine->workloads[k->workload].name, k->rank,
             k->attempt, k->stream);
}

static bool stream_ok(const char *s)
{
    return s && (strcmp(s, PROTOCOL_STREAM_STDOUT) == 0 || strcmp(s, PROTOCOL_STREAM_STDERR) == 0);
}

/* Whether node may ship this log: the attempt is the workload's latest and runs (or ran)
 * there, or an earlier attempt and the node belongs to the workload's tenant (its output
 * may still be on its way after a requeue). */
static bool shipper_ok(struct controller *ctl, uint32_t node, const struct output_key *k)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[k->workload];
    const struct controller_workload *x =
        k->workload < ctl->cap_extra ? &ctl->extra[k->workload] : NULL;
    if (!x || k->attempt < 1 || (uint32_t)k->attempt > x->runs || k->rank < 0 ||
        (uint32_t)k->rank >= w->replicas)
        return false;
    if ((uint32_t)k->attempt < x->runs)
        return s->nodes[node].tenant == w->tenant;
    return fleet_ran_on(ctl->fleet, k->workload, node);
}

void output_span(int64_t at, int64_t offset, size_t len, size_t *skip, size_t *take, int64_t *end)
{
    /* skip what is already here; take nothing after a gap; keep at most OUTPUT_STREAM_MAX */
    *skip = offset < at ? (size_t)(at - offset) : 0;
    *take = offset > at || *skip >= len ? 0 : len - *skip;
    if (at + (int64_t)*take > OUTPUT_STREAM_MAX)
        *take = at >= OUTPUT_STREAM_MAX ? 0 : (size_t)(OUTPUT_STREAM_MAX - at);
    /* beyond the cap the agent is told the stream ends where it sent to: it moves on
     * (offset <= at first: offset may be up to INT64_MAX, and offset + len overflow) */
    *end = at + (int64_t)*take;
    if (at + (int64_t)*take >= OUTPUT_STREAM_MAX && offset <= at && offset + (int64_t)len > *end)
        *end = offset + (int64_t)len;
}

int output_accept(struct output *o, uint32_t node, const struct output_key *k, int64_t offset,
                  const void *data, size_t len, int64_t *end, char *field, size_t field_len,
                  char *err, size_t err_len)
{
    struct controller *ctl = o->ctl;
    if (ctl->read_only) { /* nothing would be made durable */
        snprintf(field, field_len, "%s", "");
        snprintf(err, err_len, "the controller is read-only: %.150s", ctl->read_only_why);
        return ctl->read_only;
    }
    field[0] = err[0] = '\0';
    if (!stream_ok(k->stream) || offset < 0 || len > PROTOCOL_MAX_LOG_CHUNK) {
        snprintf(field, field_len, "%s",
                 !stream_ok(k->stream) ? PROTOCOL_QUERY_STREAM
                 : offset < 0          ? PROTOCOL_QUERY_OFFSET
                                       : "body");
        snprintf(err, err_len, "%s",
                 !stream_ok(k->stream) ? "expected stdout or stderr"
                 : offset < 0          ? "must not be negative"
                                       : "at most 256 KiB per chunk");
        return -ALLOT_EINVAL;
    }
    if (!shipper_ok(ctl, node, k)) {
        snprintf(err, err_len, "no such replica or attempt ran on this node");
        return -ALLOT_ENOENT;
    }
    if (!o->ends && !(o->ends = json_object()))
        return -ALLOT_ENOMEM;
    char key[STORE_LOG_NAME_MAX + 64];
    end_key(ctl, k, key, sizeof(key));
    json_t *known = json_object_get(o->ends, key);
    int64_t at = 0;
    if (known) {
        at = json_integer_value(known);
    } else {
        struct store_log_key sk = {ctl->engine->workloads[k->workload].name, k->rank, k->attempt,
                                   k->stream};
        int rc = store_log_end(ctl->store, &sk, &at);
        if (rc)
            return rc;
    }
    size_t skip, take;
    output_span(at, offset, len, &skip, &take, end);
    if (take > 0) {
        struct output_chunk *c = malloc(sizeof(*c) + take);
        if (!c)
            return -ALLOT_ENOMEM;
        c->next = NULL;
        snprintf(c->workload, sizeof(c->workload), "%s", ctl->engine->workloads[k->workload].name);
        c->rank = k->rank;
        c->attempt = k->attempt;
        snprintf(c->stream, sizeof(c->stream), "%s", k->stream);
        c->offset = at;
        c->len = take;
        memcpy(c->data, (const char *)data + skip, take);
        *o->tail = c;
        o->tail = &c->next;
        event_active(ctl->flush, EV_WRITE, 0);
    }
    json_object_set_new(o->ends, key, json_integer(at + (int64_t)take));
    return 0;
}

bool output_pending(const struct output *o)
{
    return o && o->chunks != NULL;
}

int output_write(struct output *o)
{
    int rc = 0;
    int64_t now = o->chunks ? controller_now(o->ctl) : 0;
    while (o->chunks) {
        struct output_chunk *c = o->chunks;
        o->chunks = c->next;
        struct store_log_key k = {c->workload, c->rank, c->attempt, c->stream};
        rc = rc ? rc : store_log_append(o->ctl->store, &k, now, c->offset, c->data, c->len);
        free(c);
    }
    o->tail = &o->chunks;
    return rc;
}

int output_read_named(struct output *o, const char *name, const struct output_key *k,
                      int64_t offset, size_t max, struct evbuffer *b, size_t *got, int64_t *start,
                      int64_t *trimmed)
{
    *got = 0;
    *start = offset;
    *trimmed = 0;
    if (!stream_ok(k->stream) || offset < 0)
        return -ALLOT_EINVAL;
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(b, (ev_ssize_t)max, &v, 1) < 1)
        return -ALLOT_ENOMEM;
    struct store_log_key sk = {name, k->rank, k->attempt, k->stream};
    int rc = store_log_read(o->ctl->store, &sk, offset, v.iov_base, max, got, start);
    v.iov_len = rc ? 0 : *got;
    evbuffer_commit_space(b, &v, 1);
    return rc ? rc : store_log_trimmed(o->ctl->store, name, k->attempt, trimmed);
}

void output_discard(struct output *o)
{
    while (o && o->chunks) {
        struct output_chunk *c = o->chunks;
        o->chunks = c->next;
        free(c);
    }
    if (!o)
        return;
    o->tail = &o->chunks;
    json_decref(o->ends);
    o->ends = NULL;
}

void output_free(struct output *o)
{
    output_discard(o);
    free(o);
}
