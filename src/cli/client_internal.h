/* Private to the `allot` client's HTTP side (client.c and stream.c): bounded answer bodies,
 * libcurl's common request options, and the messages both print. Not for other modules. */
#ifndef ALLOT_CLI_CLIENT_INTERNAL_H
#define ALLOT_CLI_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>

#include "cli/client.h"

/* Growing buffer of an answer, bounded by CLIENT_MAX_ANSWER. Zeroed to start; data is
 * malloc'd (free it), NUL-terminated once anything came. */
struct client_body {
    char *data;
    size_t len, cap;
    bool too_big, no_memory;
};

/* libcurl's write callback into the struct client_body at body. RET size * nmemb, or 0
 * (libcurl then stops with CURLE_WRITE_ERROR) when the answer would pass CLIENT_MAX_ANSWER
 * (too_big) or memory ran out (no_memory). */
size_t client_body_write(char *data, size_t size, size_t nmemb, void *body);

/* Append header h to list; on failure clear *ok and keep list as it was (to be freed). Once
 * *ok is false, appends nothing. RET the list. */
struct curl_slist *client_add_header(struct curl_slist *list, const char *h, bool *ok);
/* A new header list with accept ("Accept: ...") and cl's bearer token, if any; on failure
 * *ok is cleared. RET the list (free with curl_slist_free_all). */
struct curl_slist *client_base_headers(const struct client *cl, const char *accept, bool *ok);

/* Write cl's server followed by path into url (len bytes). RET false after printing why
 * when it does not fit. */
bool client_url(const struct client *cl, const char *path, char *url, size_t len);
/* Set the options every request of cl shares on curl: url, http(s) only, no signals, no
 * redirects, the connect timeout, the user agent, cl's CA file, headers and errbuf
 * (CURL_ERROR_SIZE bytes). headers, url and errbuf must outlive the transfer. */
void client_setopt_common(const struct client *cl, CURL *curl, const char *url,
                          struct curl_slist *headers, char *errbuf);

/* Print "allot: cannot reach the server at URL: why" (libcurl's errbuf, else res's text).
 * RET FLAGS_EXIT_UNREACHABLE. */
int client_print_unreachable(const struct client *cl, const char *errbuf, CURLcode res);

/* Whether a transfer that ended with res on curl never reached the server, so that sending it
 * to another is safe whatever its method: refused, unresolvable, or no connection within the
 * connect timeout. */
bool client_not_sent(CURL *curl, CURLcode res);

/* Keep the X-Allot-* header line (len bytes, as libcurl gives it) in buf (cap bytes) as
 * "name: value\n", or a Retry-After line as it is, when it is one and fits
 * (client_answer_header reads it back). */
void client_keep_header(char *buf, size_t cap, const char *line, size_t len);

/* One request's way to the leader among cl's servers (docs/cli.md, "Several servers"). */
struct client_round {
    int64_t deadline_ms; /* on the monotonic clock: cl's timeout from the start */
    int64_t pause_ms;    /* the wait after the next round in which no server was the leader */
    uint32_t tried;      /* bit i: servers.url[i] was asked in this round */
    char said[SERVERLIST_MAX][320]; /* what each server answered last, "" when never asked */
};

/* Start a request's round at cl's first server. */
void client_round_start(struct client *cl, struct client_round *r);
/* The request to cl->server was not answered by a leader: not sent (errbuf and res say why)
 * when standby is false, else a standby's answer naming leader (NULL: none). Point cl->server
 * at the next server to ask (after a pause when every one was asked) and set cl->left_ms.
 * RET 0 to send it again, or FLAGS_EXIT_UNREACHABLE after printing what each server
 * answered (with one server: at once). */
int client_round_next(struct client *cl, struct client_round *r, bool standby, const char *leader,
                      const char *errbuf, CURLcode res);
/* Print answer a, which is not a 2xx JSON object, as the daemon's refusal: "allot: <message>
 * (field: <field>)" on stderr and, with -o json, its error document on stdout.
 * RET FLAGS_EXIT_FAILED. */
int client_print_refusal(const struct client *cl, const struct client_answer *a);

#endif
