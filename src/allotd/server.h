/* The HTTP side of allotd: libevent's evhttp on loopback (or any address given), a table of
 * routes, bounded JSON bodies, JSON errors, and replies deferred until a change is durable. */
#ifndef ALLOT_ALLOTD_SERVER_H
#define ALLOT_ALLOTD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "allotd/auth.h"
#include "allotd/gate.h"
#include "allotd/intake.h"

/* Input bounds: every request is held to these before anything else looks at it. */
#define SERVER_MAX_BODY (1 << 20)
#define SERVER_MAX_HEADERS (16 * 1024)
#define SERVER_MAX_JSON_DEPTH 8
#define SERVER_MAX_JSON_ITEMS 10000
#define SERVER_MAX_PATH_ARGS 4
#define SERVER_TIMEOUT_S 10

struct controller;

/* One HTTP request on its way through a handler. */
struct call {
    struct evhttp_request *req;
    struct gate *gate;
    enum evhttp_cmd_type method; /* GET for a HEAD request, which gets no body (head) */
    bool head;
    const char *args[SERVER_MAX_PATH_ARGS]; /* {placeholders} of the route, decoded */
    int n_args;
    struct evkeyvalq query;    /* parsed query string */
    json_t *body;              /* parsed JSON body, or NULL when there is none */
    struct principal who;      /* who is asking (auth.h) */
    bool deferred;             /* the reply waits for the next commit */
    int status;                /* deferred reply */
    json_t *reply;             /* deferred reply body (owned) */
    json_t *warnings;          /* NULL, or an array of sentences added to a deferred reply's
                                * object as "warnings" (owned) */
    uint32_t workload;         /* deferred: reply with this workload as it is after the
                                * commit's scheduling pass (SCHED_NONE: reply as is) */
    uint32_t desired_node;     /* deferred: reply with what should run on this node after the
                                * commit (a node agent's report), or SCHED_NONE */
    int64_t wait_ms;           /* a report: hold the reply up to this long for a change */
    int64_t seen_epoch;        /* a report: the epoch and version of the desired set the */
    uint64_t seen_version;     /* agent last had (fleet.c) */
    struct call *next;         /* in the controller's list of deferred calls */
    const struct route *route; /* while it waits its turn (intake.h) */
    bool gone;                 /* its connection closed while it waited: never answered */
    char path[1024];           /* the decoded path: args point into it */
};

/* Handler of a route. It must answer through call_reply / call_error, now or, after
 * call_defer, from the controller once the change is committed. */
typedef void (*route_fn)(struct controller *ctl, struct call *c);

/* A route: method, path pattern with {placeholders}, least role, handler, help line. */
struct route {
    enum evhttp_cmd_type method;
    const char *pattern;
    enum role least;
    route_fn fn;
    const char *help;
};

struct server;

/* Who holds a bearer token (arg: the authenticator's own state). OUT *who.
 * RET 0, or a negative error: the request is answered 401. */
typedef int (*server_auth_fn)(void *arg, const char *token, struct principal *who);

/* The authenticator of the routes that need a role: fn(arg, token, who). */
struct server_auth {
    server_auth_fn fn;
    void *arg;
};

/* Start serving on addr:port with the given routes (a table ending with fn == NULL), each
 * handler called with ctl, bearer tokens checked by auth, every connection through a gate
 * with limits (NULL: the defaults of gate.h).
 * OUT *out (server_stop frees it). RET 0, or -ALLOT_EIO with a sentence in err. */
int server_start(struct event_base *base, struct controller *ctl, const struct route *routes,
                 const struct server_auth *auth, const char *addr, uint16_t port,
                 const struct gate_options *limits, struct server **out, char *err, size_t len);
/* A handler of every request (arg: its own state; path: the decoded path, without the query),
 * in place of the routes, authentication and body parsing: a standby's (standby.h). It must
 * answer through call_reply / call_error / call_send. */
typedef void (*server_fallback_fn)(void *arg, struct call *c, const char *path);
void server_set_fallback(struct server *sv, server_fallback_fn fn, void *arg);
/* Asked before authenticating any route that needs a role: false when it has answered c
 * itself (a controller that cannot serve now, controller_serving). */
typedef bool (*server_guard_fn)(struct controller *ctl, struct call *c);
void server_set_guard(struct server *sv, server_guard_fn fn);
/* Cap request rates and serve requests in turn by tenant and token with opt (docs/operations.md,
 * "Fair service"); until called, no rate is capped (requests are still served in turn). Call
 * it before the loop serves requests. RET 0, -ALLOT_ERANGE, -ALLOT_ENOMEM, -ALLOT_ESTATE
 * (requests wait already); the server keeps what it had on error. */
int server_set_intake(struct server *sv, const struct intake_options *opt);
/* The intake's counters (for /metrics). */
void server_intake_stats(const struct server *sv, struct intake_stats *out);
/* The server's connection gate (its counters are in /metrics). */
struct gate *server_gate(struct server *sv);
/* Serve HTTPS instead: load the PEM certificate chain and key (before any request).
 * RET 0, or -ALLOT_ECONFIG with a sentence in err. */
int server_tls(struct server *sv, const char *cert, const char *key, char *err, size_t len);
/* Stop listening and free the server. Accepts NULL. */
void server_stop(struct server *sv);

/* Answer now with status, Content-Type type and body b (b stays the caller's; NULL: none),
 * then free c. A HEAD request gets the headers, Content-Length included, without the body.
 * Every answer goes out through here (or call_done after a stream). */
void call_send(struct call *c, int status, const char *type, struct evbuffer *b);
/* Answer now with status and a JSON body already rendered into b (b stays the caller's). */
void call_reply_buffer(struct call *c, int status, struct evbuffer *b);
/* Free a call whose handler sent the reply itself (evhttp_send_reply). */
void call_done(struct call *c);
/* Free c whose connection closed while its handler held it (a long poll), with its request
 * when evhttp left that to the handler. */
void call_lost(struct call *c);
/* Answer now with status and body (body is taken: the call owns and frees it). */
void call_reply(struct call *c, int status, json_t *body);
/* Answer now with {"error": {"code", "message", "field"?}}: code from err (error.h),
 * status from its table unless status > 0. field may be NULL. */
void call_error(struct call *c, int err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Answer now 429 (-ALLOT_ETOOMANY) with Retry-After: retry_s (at least 1) and the error of
 * call_error, whose object also gets the members of detail (taken; NULL: none): a cap's name,
 * value and count (docs/api.md, "Caps"). */
void call_too_many(struct call *c, int retry_s, const char *field, json_t *detail, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
/* Answer later: keep status and body (taken) until call_flush. */
void call_defer(struct call *c, int status, json_t *body);
/* Send a deferred reply and free the call. */
void call_flush(struct call *c);
/* Fail a deferred reply (the commit failed) and free the call. */
void call_fail(struct call *c, int err);

/* Query parameter, or NULL. */
const char *call_query(struct call *c, const char *key);

/* The parsing of a request's target, in the order the server applies it (exposed for
 * fuzz/fuzz_http_request.c): */
/* Decode the %XX escapes of path s in place. RET false on a bad escape or an escaped NUL
 * (s is then partly decoded). Cannot overrun: the text only shrinks. */
bool server_path_decode(char *s);
/* Whether s is valid UTF-8 (no overlong form, surrogate or code point beyond U+10FFFF)
 * without control characters: paths and query values are names and plain text, and an
 * answer may quote them. */
bool server_text_ok(const char *s);
/* Match the decoded path against pattern ("/v1/nodes/{name}/drain"). path is split in
 * place: on a match, c->args[0 .. c->n_args) point into it (at most SERVER_MAX_PATH_ARGS,
 * none empty); only c->args and c->n_args are written. RET whether it matched. */
bool server_route_match(const char *pattern, char *path, struct call *c);

#endif
