/* The gate every HTTP connection of allotd passes: a cap on open connections (slow ones are
 * evicted first, node agents' last), a deadline by which a request must have arrived whole,
 * and accept errors (out of file descriptors) met by pausing instead of spinning. See
 * docs/operations.md, "Security". */
#ifndef ALLOT_ALLOTD_GATE_H
#define ALLOT_ALLOTD_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

/* Between two log lines about failed accepts, at least this long. */
#define GATE_LOG_INTERVAL_MS 10000
/* Accepts pause this long after the process ran out of file descriptors, and the cap is
 * lowered to the connections open then, less this margin. */
#define GATE_PAUSE_MS 50
#define GATE_FD_MARGIN 8
/* File descriptors kept for everything but connections (store, log, listener) when the cap
 * is derived from RLIMIT_NOFILE. */
#define GATE_FD_RESERVE 64

struct gate_options {
    uint32_t max_connections; /* 0: RLIMIT_NOFILE's soft limit - GATE_FD_RESERVE */
    int64_t request_ms;       /* a request must arrive whole this long after its first byte */
};

/* Counters for /metrics. */
struct gate_stats {
    uint32_t open;          /* connections open now */
    uint32_t max;           /* the cap */
    uint64_t accepted;      /* connections ever accepted */
    uint64_t evicted;       /* closed to make room for a new one */
    uint64_t timed_out;     /* closed because a request did not arrive whole in time */
    uint64_t accept_errors; /* accept() failures (out of file descriptors, mostly) */
    uint64_t unfinished;    /* closed (reset) with a reply not yet sent whole */
};

struct gate;

/* A gate on base. OUT *out (gate_free). RET 0, -ALLOT_ENOMEM. */
int gate_new(struct event_base *base, const struct gate_options *opt, struct gate **out);
/* Free the gate; call after evhttp_free, which closes the connections it counts. Accepts
 * NULL. */
void gate_free(struct gate *g);

/* evhttp's bufferevent callback (evhttp_set_bevcb with the gate as arg): every new
 * connection gets a bufferevent the gate watches (TLS when gate_tls was called). */
struct bufferevent *gate_bufferevent(struct event_base *base, void *arg);
/* Serve TLS on new connections with ctx (the caller keeps it alive). */
void gate_tls(struct gate *g, SSL_CTX *ctx);
/* Watch the listener: its accept errors, and pausing it while every connection is busy at
 * the cap. */
void gate_listen(struct gate *g, struct evconnlistener *lev);

/* req arrived whole: its connection is busy (never evicted) until gate_answered. agent: the
 * request is a node agent's, whose connection is evicted last. */
void gate_request(struct gate *g, struct evhttp_request *req);
void gate_agent(struct gate *g, struct evhttp_request *req);
/* req was answered: its connection waits for the next request. */
void gate_answered(struct gate *g, struct evhttp_request *req);

/* Call fn(evcon, arg) when connection evcon closes (its handler holds a request: a long
 * poll, an event stream); fn NULL forgets it. evhttp_connection_set_closecb belongs to the
 * gate. */
typedef void (*gate_close_fn)(struct evhttp_connection *evcon, void *arg);
void gate_on_close(struct gate *g, struct evhttp_connection *evcon, gate_close_fn fn, void *arg);

void gate_stats(const struct gate *g, struct gate_stats *out);

#endif
