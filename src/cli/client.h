/* The `allot` client's HTTP side: where the daemon is and which token to send (flags, then
 * ALLOT_SERVER/ALLOT_TOKEN, then ~/.config/allot/config), the leader among several servers,
 * one libcurl easy handle, bounded answers, the daemon's error JSON turned into one line for
 * people, and event streams. */
#ifndef ALLOT_CLI_CLIENT_H
#define ALLOT_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/flags.h"
#include "common/serverlist.h"

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:7070"
#define CLIENT_DEFAULT_TIMEOUT_MS 30000
#define CLIENT_CONNECT_TIMEOUT_MS 5000
#define CLIENT_MAX_TIMEOUT_MS 3600000     /* --timeout at most 1h */
#define CLIENT_MAX_URL SERVERLIST_MAX_URL /* bytes of one server's base URL */
#define CLIENT_PAUSE_MS 250               /* the first wait after no server was the leader ... */
#define CLIENT_MAX_PAUSE_MS 1000          /* ... doubled up to this */
#define CLIENT_STREAM_RETRY_MS 250        /* the pause before a dropped stream is reopened */
#define CLIENT_STREAM_RETRY_MAX_MS 2000   /* and the longest between tries while it cannot be */
#define CLIENT_MAX_TOKEN 512              /* bytes of a token */
#define CLIENT_MAX_ANSWER (64u << 20)     /* bytes of one answer; longer ones are refused */
#define CLIENT_MAX_CONFIG (64u << 10)     /* bytes of the config file */
#define CLIENT_MAX_EVENT_LINE                                                                      \
    (64u << 10) /* bytes of one line of an event stream, and of the                                \
                   data of one event */

/* A connection to the daemon. Caller-owned: client_open, then client_close. */
struct client {
    void *curl;                /* CURL * (kept opaque so that callers need not include curl.h) */
    struct serverlist servers; /* the configured servers (a leader and standbys), in order */
    int current;               /* the index in servers of the one asked now */
    const char *server;        /* its base URL without the trailing '/': servers.url[current] */
    int64_t left_ms;           /* time left to the request being made (its transfers' bound) */
    char token[CLIENT_MAX_TOKEN + 1];
    int64_t timeout_ms;
    char cacert[1024]; /* CA file for https, or "" for the system's */
    const char *prog;  /* "allot ls", for messages */
    bool json;         /* -o json: error documents also go to stdout, as they came */
    bool quiet;        /* a server not reached is not printed (an attempt that will be retried) */
};

/* One answer. Caller-owned: filled by client_call, freed by client_answer_cleanup. */
struct client_answer {
    long status; /* HTTP status */
    char *text;  /* the body as it came, NUL-terminated (never NULL after client_call) */
    size_t len;
    json_t *json; /* the body parsed, or NULL when it is not JSON */
    char allot_headers[CLIENT_MAX_URL +
                       512]; /* its X-Allot-* headers (and Retry-After), "name: value\n" lines */
};

/* The value of the answer's X-Allot-<name> header copied into buf, or NULL when absent. */
const char *client_answer_header(const struct client_answer *a, const char *name, char *buf,
                                 size_t len);

/* Resolve the servers, token, timeout and CA file of v (flags, then the environment, then the
 * config file at $XDG_CONFIG_HOME/allot/config or ~/.config/allot/config) and make the handle.
 * The servers are one or more comma lists (each --server, or the variable or config line);
 * cl->server starts at the first. RET 0, or a process exit code after printing why:
 * FLAGS_EXIT_USAGE for a bad flag, variable or config file (message names which, and which
 * URL), FLAGS_EXIT_FAILED when libcurl cannot start. */
int client_open(struct client *cl, const struct flag_values *v);
/* The default workspace of submit: $ALLOT_WORKSPACE, else the config file's `workspace`
 * line. OUT buf ("" when neither is set; room for 2 * FLAGS_MAX_NAME + 2 bytes). RET 0, or
 * FLAGS_EXIT_USAGE after printing which is bad (not TENANT/WS, or a bad config file). */
int client_default_workspace(const char *prog, char *buf, size_t len);

/* Free the handle. Accepts a client that client_open failed on, or a zeroed one. */
void client_close(struct client *cl);

/* Send method path (path starts with "/", its parts already escaped) with body (NULL: none;
 * sent as application/json) to the leader and wait for the whole answer. The leader is found
 * by the rule of docs/cli.md ("Several servers"): past servers that refuse the connection and
 * standbys, within cl's timeout; cl->server is then the one that answered. OUT *a (cleanup it
 * whatever the result). RET 0 when an answer that is not a standby's arrived, whatever its
 * status; FLAGS_EXIT_UNREACHABLE after printing "allot: cannot reach the server at URL: why"
 * (for each server) when none did (refused, timed out, unresolvable, TLS, only standbys);
 * FLAGS_EXIT_FAILED when the answer was over CLIENT_MAX_ANSWER or memory ran out. */
int client_call(struct client *cl, const char *method, const char *path, const json_t *body,
                struct client_answer *a);

/* client_call, then judge the answer: a 2xx status with a JSON object is 0; any other answer
 * is printed as "allot: <message> (field: <field>)" (and, with -o json, the error document goes
 * to stdout as it came) and gives FLAGS_EXIT_FAILED. RET 0 or a process exit code. */
int client_fetch(struct client *cl, const char *method, const char *path, const json_t *body,
                 struct client_answer *a);

/* client_fetch of GET path's {"items": [...]}, following its pages ("next" as the next
 * page's ?after=, docs/api.md "Pages") to the end. OUT *items: a new array of every page's
 * items, owned by the caller (also on failure). RET 0 or client_fetch's exit code. */
int client_fetch_all(struct client *cl, const char *path, json_t **items);

/* client_call for an answer that is not JSON (text): a 2xx status is 0; any other answer is
 * printed as client_fetch prints it. RET 0 or a process exit code. */
int client_fetch_text(struct client *cl, const char *path, struct client_answer *a);

/* Print answer a's body to stdout as it came, with a newline (the -o json output). */
void client_print_json(const struct client_answer *a);

void client_answer_cleanup(struct client_answer *a);

/* One Server-Sent Event, valid during the callback that receives it. */
struct client_event {
    const char *id;   /* the last "id:" of the stream so far, "" when none came */
    const char *name; /* its "event:", or "message" when it had none */
    const char *data; /* its "data:" lines joined by '\n', NUL-terminated (may hold NULs) */
    size_t len;       /* bytes of data */
};

/* A followed event stream (GET of text/event-stream): its own handle, so that the client's
 * handle stays free for other requests. Opaque; client_stream_open, then client_stream_free. */
struct client_stream;

/* Print s to f with bytes that could steer a terminal replaced by '?' (text from the
 * daemon). */
void client_print_clean(FILE *f, const char *s);

/* Called once per event of a stream with the arg given to client_stream_open.
 * RET 0 to go on, or a process exit code that ends the stream with it. */
typedef int client_event_fn(void *arg, const struct client_event *ev);

/* GET path of the leader (found as client_call finds it) as an event stream, and wait (at most
 * cl's timeout) until the daemon has answered: once this returns 0 the daemon has registered the
 * subscription, so that nothing it sends from then on is missed, and nothing is delivered to
 * on_event before client_stream_follow. OUT *out (free it with client_stream_free; NULL on
 * failure). RET 0, or a process exit code after printing why: FLAGS_EXIT_UNREACHABLE (no answer),
 * FLAGS_EXIT_FAILED (the daemon refused, as client_fetch prints it, or the answer is not an
 * event stream, or memory ran out). */
int client_stream_open(struct client *cl, const char *path, client_event_fn *on_event, void *arg,
                       struct client_stream **out);

/* Deliver the stream's events to its callback as they come, with no total timeout, until:
 * stop_fd (-1: none) becomes readable, or the monotonic clock (clock_mono_ms)
 * reaches deadline_ms (< 0: none): RET 0. When the server ends the stream or the connection
 * drops, it says so on stderr and opens the stream again (the leader first, as
 * client_stream_open) with Last-Event-ID, so that no event is shown twice or missed; when
 * no server answers within cl's timeout: RET FLAGS_EXIT_UNREACHABLE after printing why; a
 * refusal: its exit code after printing it; a line longer than
 * CLIENT_MAX_EVENT_LINE, or an event whose data is: RET FLAGS_EXIT_FAILED after printing
 * why; the callback returns an exit code: RET that code. */
int client_stream_follow(struct client_stream *s, int stop_fd, int64_t deadline_ms);

/* Close the stream and free it, before client_close of its client. Accepts NULL. */
void client_stream_free(struct client_stream *s);

/* s escaped for a query string value. RET a new string (free with free()), or NULL when
 * memory ran out. */
char *client_escape(struct client *cl, const char *s);

#endif
