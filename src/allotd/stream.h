/* Event streams (GET /v1/events): committed engine events as Server-Sent Events, each one
 * rendered once per commit and sent to every stream whose principal may see it, with caps on
 * how many streams are open and on how far behind each one may fall (docs/api.md, "Events"). */
#ifndef ALLOT_ALLOTD_STREAM_H
#define ALLOT_ALLOTD_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

struct call;
struct principal;
struct store;
struct stream;

/* Defaults and bounds of the options (allotd --max-streams, --max-streams-per-token,
 * --stream-buffer; docs/operations.md). */
#define STREAM_DEFAULT_MAX 1024
#define STREAM_DEFAULT_MAX_PER_TOKEN 16
#define STREAM_MAX_STREAMS 100000
#define STREAM_DEFAULT_BUFFER (256 * 1024)
#define STREAM_MIN_BUFFER (4 * 1024)
#define STREAM_MAX_BUFFER (64 * 1024 * 1024)
/* Seconds a refused client is told to wait (Retry-After), and a closing stream's client is
 * given to take what is still buffered for it before its connection is dropped. */
#define STREAM_RETRY_AFTER_S 10
/* A comment line (": keepalive") goes to every stream with nothing waiting this often, so
 * that a quiet stream stays open through proxies and load balancers that close idle
 * connections, and a client can tell a quiet server from a dead one (allotd
 * --stream-keepalive; docs/api.md, "Events"). */
#define STREAM_DEFAULT_KEEPALIVE_MS 15000
#define STREAM_CLOSE_TIMEOUT_S 10
/* Stored events looked at for one resume (Last-Event-ID), visible or not. */
#define STREAM_BACKLOG_ROWS 10000

struct stream_options {
    uint32_t max_streams;   /* open streams in all (0: STREAM_DEFAULT_MAX) */
    uint32_t max_per_token; /* open streams of one token (0: STREAM_DEFAULT_MAX_PER_TOKEN) */
    size_t max_buffered;    /* bytes waiting for one client before its stream is cut off
                             * (0: STREAM_DEFAULT_BUFFER) */
    int64_t keepalive_ms;   /* a keepalive comment this often (0: STREAM_DEFAULT_KEEPALIVE_MS) */
};

/* Counters for /metrics. */
struct stream_stats {
    uint32_t open;       /* streams open now, closing ones included */
    uint64_t refused;    /* answered 429 */
    uint64_t overflows;  /* cut off for falling behind */
    uint64_t keepalives; /* keepalive comments sent */
};

/* A stream set on base over store (both borrowed: they must outlive the set); the store
 * numbers the events. OUT *out (stream_free frees it). RET 0, -ALLOT_ENOMEM, or the store's
 * error. */
int stream_new(struct event_base *base, struct store *store, const struct stream_options *opt,
               struct stream **out);
/* End every stream (their clients see the end of the response) and free the set. Accepts
 * NULL. */
void stream_free(struct stream *st);

/* Queue an engine event (view_event's JSON) of this loop iteration; event is taken. It is
 * stored by stream_store and sent by stream_publish. RET 0 or -ALLOT_ENOMEM (dropped). */
int stream_queue_take(struct stream *st, json_t *event);
/* Inside the commit's transaction: append the queued events to the store, rendering each
 * one's text, scope and Server-Sent Events frame once. RET 0, or the store's error (the
 * commit must then fail: the caller stops). */
int stream_store(struct stream *st, int64_t t_ms);
/* After the commit: send the stored events to the streams, soon (the events of the commits
 * of a few milliseconds go together, one write per stream), no JSON parsed. A stream that
 * had nothing waiting takes them all; one that had would hold more than its buffer cap gets
 * what fits, then an `overflow` event naming the last id it was sent, and is closed. */
void stream_publish(struct stream *st);
/* The commit failed instead: forget the events queued and those stream_store added (their
 * ids were not committed and will be issued again). */
void stream_abort(struct stream *st);

/* Answer GET /v1/events call c with a stream of what its principal may see, resuming after
 * its Last-Event-ID if it sent one (the backlog is bounded like any write), or with an error:
 * 400 for a Last-Event-ID that is not an id this daemon issued, 429 with Retry-After over a
 * cap. c is answered, and freed, in every case. */
void stream_subscribe(struct stream *st, struct call *c);

/* GET /v1/events?format=json: the stored events after id `after` that who may see (the
 * streams' filter), of the kinds named in kinds (NULL-ended; NULL: every kind), oldest first,
 * at most limit of them, looking at no more than STREAM_BACKLOG_ROWS stored events (as a
 * resume does), into out as {"items": [{"id": N, ...the event}], "next": N}, "next" only
 * when more may follow: the after of the next page. RET 0, -ALLOT_ENOMEM, or the store's
 * error (out then holds part of a page: discard it). */
int stream_page(struct stream *st, const struct principal *who, int64_t after, int64_t limit,
                const char *const *kinds, struct evbuffer *out);
/* The id of the last event issued (0: none yet). */
int64_t stream_last_id(const struct stream *st);

/* OUT *out: the set's counters. */
void stream_stats(const struct stream *st, struct stream_stats *out);

#endif
