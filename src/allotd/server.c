/* evhttp glue: routing by table, bounded bodies, bearer authentication, JSON replies and
 * errors. Replies to changes are deferred until the controller has committed them. */
#include "allotd/server.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/keyvalq_struct.h>

#include "allotd/controller.h"
#include "allotd/spec.h"
#include "common/error.h"

struct server {
    struct controller *ctl;
    const struct route *routes;
    struct evhttp *http;
    SSL_CTX *tls; /* NULL: plain HTTP */
};

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (buf) {
        if (text) {
            evbuffer_add(buf, text, strlen(text));
            evbuffer_add(buf, "\n", 1);
        }
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, status, NULL, buf);
        evbuffer_free(buf);
    } else {
        evhttp_send_error(req, 500, NULL);
    }
    free(text);
}

static void call_free(struct call *c)
{
    evhttp_clear_headers(&c->query);
    json_decref(c->body);
    json_decref(c->reply);
    free(c);
}

void call_reply_buffer(struct call *c, int status, struct evbuffer *b)
{
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type",
                      "application/json");
    evbuffer_add(b, "\n", 1);
    evhttp_send_reply(c->req, status, NULL, b);
    call_free(c);
}

void call_done(struct call *c)
{
    call_free(c);
}

void call_reply(struct call *c, int status, json_t *body)
{
    send_json(c->req, status, body);
    json_decref(body);
    call_free(c);
}

/* The error body of docs/api.md. */
static json_t *error_body(int err, const char *field, const char *message)
{
    char code[32];
    const char *name = allot_errname(err);
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(code); i++)
        code[i] = (char)tolower((unsigned char)name[i]);
    code[i] = '\0';
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (field && field[0])
        json_object_set_new(e, "field", json_string(field));
    return json_pack("{s:o}", "error", e);
}

void call_error(struct call *c, int err, int status, const char *field, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    call_reply(c, status > 0 ? status : allot_http_status(err), error_body(err, field, message));
}

void call_defer(struct call *c, int status, json_t *body)
{
    c->deferred = true;
    c->status = status;
    c->reply = body;
}

void call_flush(struct call *c)
{
    send_json(c->req, c->status, c->reply);
    call_free(c);
}

void call_fail(struct call *c, int err)
{
    json_t *body =
        error_body(err, NULL, "the change could not be made durable; it was not applied");
    send_json(c->req, 503, body);
    json_decref(body);
    call_free(c);
}

const char *call_query(struct call *c, const char *key)
{
    return evhttp_find_header(&c->query, key);
}

/* Match path against pattern; fill c->args with the decoded {placeholders}.
 * Arguments live in buf (the decoded path, split in place). */
static bool route_match(const char *pattern, char *path, struct call *c)
{
    c->n_args = 0;
    const char *p = pattern;
    char *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            char *end = strchr(s, '/');
            if (!close || c->n_args >= SERVER_MAX_PATH_ARGS || (end ? end == s : !*s))
                return false;
            c->args[c->n_args++] = s;
            p = close + 1;
            if (end) {
                *end = '\0';
                s = end + 1;
                if (*p != '/')
                    return false;
                p++;
            } else {
                s += strlen(s);
            }
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

/* Decode %XX escapes of one path in place. RET false on a bad escape or a NUL byte. */
static bool path_decode(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (*s == '%') {
            if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
                return false;
            char hexbuf[3] = {s[1], s[2], 0};
            char ch = (char)strtol(hexbuf, NULL, 16);
            if (ch == '\0')
                return false;
            *out++ = ch;
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *sv = arg;
    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        evhttp_send_error(req, 503, NULL);
        return;
    }
    c->req = req;
    c->workload = c->desired_node = UINT32_MAX;
    c->method = evhttp_request_get_command(req);
    TAILQ_INIT(&c->query);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *raw_query = uri ? evhttp_uri_get_query(uri) : NULL;
    char path[1024];
    if (!raw_path || strlen(raw_path) >= sizeof(path)) {
        call_error(c, -ALLOT_EINVAL, 414, NULL, "path missing or longer than %zu bytes",
                   sizeof(path) - 1);
        return;
    }
    snprintf(path, sizeof(path), "%s", raw_path);
    if (!path_decode(path)) {
        call_error(c, -ALLOT_EINVAL, 400, NULL, "bad escape in the path");
        return;
    }
    if (raw_query && evhttp_parse_query_str(raw_query, &c->query) != 0) {
        call_error(c, -ALLOT_EINVAL, 400, NULL, "malformed query string");
        return;
    }
    const struct route *r = NULL;
    bool path_known = false;
    for (const struct route *x = sv->routes; x->fn && !r; x++) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", path);
        struct call probe = {.n_args = 0};
        if (!route_match(x->pattern, copy, &probe))
            continue;
        path_known = true;
        if (x->method == c->method)
            r = x;
    }
    /* split the path in place for the chosen route: c->args point into path */
    if (r)
        route_match(r->pattern, path, c);
    if (!r) {
        call_error(c, -ALLOT_ENOENT, path_known ? 405 : 404, NULL,
                   path_known ? "method not allowed on %s" : "no such route: %s", raw_path);
        return;
    }
    /* authenticate */
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (r->least > ROLE_NONE) {
        if (!authz || strncmp(authz, "Bearer ", 7) != 0) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
            call_error(c, -ALLOT_EUNAUTHORIZED, 401, NULL, "a bearer token is required");
            return;
        }
        if (controller_authenticate(sv->ctl, authz + 7, &c->who) != 0) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                              "Bearer error=\"invalid_token\"");
            call_error(c, -ALLOT_EUNAUTHORIZED, 401, NULL, "the token is unknown or expired");
            return;
        }
        if (c->who.role < r->least && c->who.role != ROLE_ADMIN) {
            call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "your role (%s) may not do this",
                       auth_role_name(c->who.role));
            return;
        }
    }
    /* body */
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n > 0) {
        if (n > SERVER_MAX_BODY) {
            call_error(c, -ALLOT_ERANGE, 413, NULL, "body larger than %d bytes", SERVER_MAX_BODY);
            return;
        }
        const char *ctype =
            evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
        /* bytes (a workload's output from its agent) are left for the handler to read */
        if (ctype && strcmp(ctype, "application/octet-stream") == 0) {
            r->fn(sv->ctl, c);
            return;
        }
        if (ctype && strncmp(ctype, "application/json", 16) != 0) {
            call_error(c, -ALLOT_EINVAL, 415, NULL,
                       "the body must be application/json (or application/octet-stream for "
                       "a workload's output)");
            return;
        }
        json_error_t jerr;
        c->body =
            json_loadb((const char *)evbuffer_pullup(in, -1), n, JSON_REJECT_DUPLICATES, &jerr);
        if (!c->body) {
            call_error(c, -ALLOT_EPARSE, 400, NULL, "malformed JSON at line %d column %d: %s",
                       jerr.line, jerr.column, jerr.text);
            return;
        }
        struct spec_error serr;
        if (spec_check_bounds(c->body, SERVER_MAX_JSON_DEPTH, SERVER_MAX_JSON_ITEMS, &serr)) {
            call_error(c, serr.code, 400, serr.field, "%s", serr.message);
            return;
        }
    }
    r->fn(sv->ctl, c);
}

int server_start(struct event_base *base, struct controller *ctl, const struct route *routes,
                 const char *addr, uint16_t port, struct server **out, char *err, size_t len)
{
    struct server *sv = calloc(1, sizeof(*sv));
    struct evhttp *http = sv ? evhttp_new(base) : NULL;
    if (!http) {
        free(sv);
        snprintf(err, len, "cannot create the HTTP server");
        return -ALLOT_EIO;
    }
    sv->ctl = ctl;
    sv->routes = routes;
    sv->http = http;
    evhttp_set_max_body_size(http, SERVER_MAX_BODY);
    evhttp_set_max_headers_size(http, SERVER_MAX_HEADERS);
    evhttp_set_timeout(http, SERVER_TIMEOUT_S);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http, on_request, sv);
    if (!evhttp_bind_socket_with_handle(http, addr, port)) {
        snprintf(err, len, "cannot listen on %s:%u (in use, or not an address of this host)", addr,
                 port);
        server_stop(sv);
        return -ALLOT_EIO;
    }
    *out = sv;
    return 0;
}

void server_stop(struct server *sv)
{
    if (!sv)
        return;
    evhttp_free(sv->http);
    SSL_CTX_free(sv->tls);
    free(sv);
}

/* A TLS bufferevent for each new connection. */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
    struct server *sv = arg;
    SSL *ssl = SSL_new(sv->tls);
    return ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                BEV_OPT_CLOSE_ON_FREE)
               : NULL;
}

int server_tls(struct server *sv, const char *cert, const char *key, char *err, size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof(why));
        snprintf(err, len, "TLS certificate %s or key %s: %s", cert, key, why);
        SSL_CTX_free(ctx);
        return -ALLOT_ECONFIG;
    }
    sv->tls = ctx;
    evhttp_set_bevcb(sv->http, tls_bev, sv);
    return 0;
}
