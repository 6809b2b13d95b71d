/* The `allot` client's HTTP side: where the daemon is and which token to send (flags, then
 * ALLOT_SERVER/ALLOT_TOKEN, then ~/.config/allot/config), one libcurl easy handle, bounded
 * answers, and the daemon's error JSON turned into one line for people. */
#ifndef ALLOT_CLI_CLIENT_H
#define ALLOT_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli/flags.h"

#define CLIENT_DEFAULT_SERVER "http://127.0.0.1:7070"
#define CLIENT_DEFAULT_TIMEOUT_MS 30000
#define CLIENT_CONNECT_TIMEOUT_MS 5000
#define CLIENT_MAX_TIMEOUT_MS 3600000 /* --timeout at most 1h */
#define CLIENT_MAX_URL 2048           /* bytes of the server's base URL */
#define CLIENT_MAX_TOKEN 512          /* bytes of a token */
#define CLIENT_MAX_ANSWER (64u << 20) /* bytes of one answer; longer ones are refused */
#define CLIENT_MAX_CONFIG (64u << 10) /* bytes of the config file */

/* A connection to the daemon. Caller-owned: client_open, then client_close. */
struct client {
    void *curl; /* CURL * (kept opaque so that callers need not include curl.h) */
    char server[CLIENT_MAX_URL + 1]; /* base URL without the trailing '/' */
    char token[CLIENT_MAX_TOKEN + 1];
    int64_t timeout_ms;
    char cacert[1024]; /* CA file for https, or "" for the system's */
    const char *prog;  /* "allot ls", for messages */
    bool json;         /* -o json: error documents also go to stdout, as they came */
};

/* One answer. Caller-owned: filled by client_call, freed by client_answer_cleanup. */
struct client_answer {
    long status; /* HTTP status */
    char *text;  /* the body as it came, NUL-terminated (never NULL after client_call) */
    size_t len;
    json_t *json; /* the body parsed, or NULL when it is not JSON */
};

/* Resolve the server, token, timeout and CA file of v (flags, then the environment, then the config
 * file at $XDG_CONFIG_HOME/allot/config or ~/.config/allot/config) and make the handle.
 * RET 0, or a process exit code after printing why: FLAGS_EXIT_USAGE for a bad flag, variable
 * or config file (message names which), FLAGS_EXIT_FAILED when libcurl cannot start. */
int client_open(struct client *cl, const struct flag_values *v);
/* Free the handle. Accepts a client that client_open failed on, or a zeroed one. */
void client_close(struct client *cl);

/* Send method path (path starts with "/", its parts already escaped) with body (NULL: none;
 * sent as application/json) and wait for the whole answer. OUT *a (cleanup it whatever the
 * result). RET 0 when an answer arrived, whatever its status; FLAGS_EXIT_UNREACHABLE after
 * printing "allot: cannot reach the server at URL: why" when none did (refused, timed out,
 * unresolvable, TLS); FLAGS_EXIT_FAILED when the answer was over CLIENT_MAX_ANSWER or memory
 * ran out. */
int client_call(struct client *cl, const char *method, const char *path, const json_t *body,
                struct client_answer *a);

/* client_call, then judge the answer: a 2xx status with a JSON object is 0; any other answer
 * is printed as "allot: <message> (field: <field>)" (and, with -o json, the error document goes
 * to stdout as it came) and gives FLAGS_EXIT_FAILED. RET 0 or a process exit code. */
int client_fetch(struct client *cl, const char *method, const char *path, const json_t *body,
                 struct client_answer *a);

/* Print answer a's body to stdout as it came, with a newline (the -o json output). */
void client_print_json(const struct client_answer *a);

void client_answer_cleanup(struct client_answer *a);

/* s escaped for a query string value. RET a new string (free with free()), or NULL when
 * memory ran out. */
char *client_escape(struct client *cl, const char *s);

#endif
