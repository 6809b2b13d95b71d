/* evhttp glue: routing by table, bounded bodies, bearer authentication, JSON replies and
 * errors (libevent's own error pages included). Replies to changes are deferred until the
 * controller has committed them. Connections pass the gate (gate.h). */
#include "allotd/server.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "common/clock.h"
#include "common/error.h"
#include "schema/reader.h"

struct server {
    struct controller *ctl; /* handed to the routes' handlers */
    struct server_auth auth;
    const struct route *routes;
    struct evhttp *http;
    struct gate *gate;
    SSL_CTX *tls;                /* NULL: plain HTTP */
    server_fallback_fn fallback; /* answers every request instead of the routes (a standby) */
    server_guard_fn guard;       /* may refuse a route that needs a role, before its token */
    void *fallback_arg;
    struct intake *intake; /* requests waiting their turn (intake.h) */
    struct event *turn;    /* serves a batch of them, once per loop iteration */
    bool turn_shared;      /* the last turn served more than one tenant */
};

/* Requests served in turn per loop iteration: between two turns the loop reads what has
 * arrived and commits what the turn changed (one group commit: controller.c). A turn serves
 * up to SERVER_TURN_BATCH requests, which keeps a single tenant's submissions in large group
 * commits; once it or the turn before served more than one tenant, it ends after
 * SERVER_TURN_SHARED, so that a request arriving behind another tenant's flood is read,
 * served and committed soon. */
#define SERVER_TURN_SHARED 8
#define SERVER_TURN_BATCH 64

static void call_free(struct call *c)
{
    evhttp_clear_headers(&c->query);
    json_decref(c->body);
    json_decref(c->reply);
    json_decref(c->warnings);
    free(c);
}

/* Send status with body b (NULL: none) on req: a HEAD request gets the Content-Length of the
 * body it would have had, and no body (libevent 2.1 would send it). */
static void send_reply(struct evhttp_request *req, bool head, int status, struct evbuffer *b)
{
    if (head) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", b ? evbuffer_get_length(b) : 0);
        evhttp_remove_header(evhttp_request_get_output_headers(req), "Content-Length");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", n);
        evhttp_send_reply(req, status, NULL, NULL);
        return;
    }
    evhttp_send_reply(req, status, NULL, b);
}

void call_send(struct call *c, int status, const char *type, struct evbuffer *b)
{
    if (type)
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type", type);
    gate_answered(c->gate, c->req);
    send_reply(c->req, c->head, status, b);
    call_free(c);
}

void call_reply_buffer(struct call *c, int status, struct evbuffer *b)
{
    evbuffer_add(b, "\n", 1);
    call_send(c, status, "application/json", b);
}

void call_done(struct call *c)
{
    call_free(c);
}

/* The request of a connection that closed while its handler held it: evhttp leaves it to the
 * handler (detached) when the connection failed, and frees it itself otherwise. */
static void request_drop(struct evhttp_request *req)
{
    if (req && !evhttp_request_get_connection(req))
        evhttp_request_free(req);
}

void call_lost(struct call *c)
{
    request_drop(c->req);
    call_free(c);
}

/* body (taken; NULL: an empty object) as a line of compact JSON in a new buffer, or NULL
 * when out of memory. */
static struct evbuffer *json_line(json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text =
        body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
             : NULL;
    json_decref(body);
    if (buf && evbuffer_add_printf(buf, "%s\n", text ? text : "{}") < 0) {
        evbuffer_free(buf);
        buf = NULL;
    }
    free(text);
    return buf;
}

void call_reply(struct call *c, int status, json_t *body)
{
    struct evbuffer *buf = json_line(body);
    call_send(c, buf ? status : 503, "application/json", buf);
    evbuffer_free(buf);
}

/* Copy s into buf as printable ASCII: any other byte (control characters, bytes of UTF-8
 * that may be malformed) becomes '?', so that the text is always a valid JSON string. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = s[i] >= ' ' && s[i] < 0x7f ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* The error body of docs/api.md. */
static json_t *error_body(int err, const char *field, const char *message)
{
    char code[32], text[600], name_of_field[160];
    const char *name = allot_errname(err);
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof(code); i++)
        code[i] = (char)tolower((unsigned char)name[i]);
    code[i] = '\0';
    json_t *e =
        json_pack("{s:s, s:s}", "code", code, "message", printable(message, text, sizeof(text)));
    if (e && field && field[0])
        json_object_set_new(e, "field",
                            json_string(printable(field, name_of_field, sizeof(name_of_field))));
    return json_pack("{s:o}", "error", e);
}

/* libevent 2.1 answers some requests itself (a request line or header it cannot parse, a
 * body above the limit, an expectation it does not meet) through evhttp_send_error, with an
 * HTML page and no way to change it (evhttp_set_errorcb arrived in 2.2). allotd defines
 * evhttp_send_error: libevent's own calls go through its procedure linkage table, so the
 * dynamic linker binds them to this definition, and every error answer is JSON as in
 * docs/api.md. tests/integration/test_security.py holds this (a malformed request line gets a
 * JSON error). The connection is closed after the answer, as libevent does. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    static const struct {
        int status, err;
        const char *message;
    } rows[] = {
        {400, -ALLOT_EPARSE,
         "malformed request: a request line or header this server cannot read (or a method it "
         "does not know)"},
        {413, -ALLOT_ERANGE, "request too large (the body is limited to 1 MiB)"},
        {417, -ALLOT_EINVAL, "unsupported Expect header"},
        {501, -ALLOT_EINVAL, "method not implemented"},
        {503, -ALLOT_EUNAVAILABLE, "temporarily unavailable"},
    };
    int err = -ALLOT_EINVAL;
    const char *message = reason ? reason : "request refused";
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].status == error) {
            err = rows[i].err;
            message = rows[i].message;
        }
    }
    json_t *body = error_body(err, NULL, message);
    struct evbuffer *buf = body ? json_line(body) : NULL;
    if (!buf) {
        evhttp_connection_free(evhttp_request_get_connection(req));
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_clear_headers(h);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    /* a request line that did not parse leaves no version: answer in HTTP/1.1 */
    if (req->major != 1) {
        req->major = 1;
        req->minor = 1;
    }
    send_reply(req, req->type == EVHTTP_REQ_HEAD, error, buf);
    evbuffer_free(buf);
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

void call_too_many(struct call *c, int retry_s, const char *field, json_t *detail, const char *fmt,
                   ...)
{
    char message[512], retry[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(retry, sizeof(retry), "%d", retry_s > 0 ? retry_s : 1);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", retry);
    json_t *body = error_body(-ALLOT_ETOOMANY, field, message);
    json_t *e = json_object_get(body, "error");
    if (e && detail)
        json_object_update(e, detail);
    json_decref(detail);
    call_reply(c, 429, body);
}

void call_defer(struct call *c, int status, json_t *body)
{
    c->deferred = true;
    c->status = status;
    c->reply = body;
}

void call_flush(struct call *c)
{
    json_t *reply = c->reply;
    c->reply = NULL;
    if (c->warnings && json_is_object(reply))
        json_object_set(reply, "warnings", c->warnings);
    call_reply(c, c->status, reply);
}

void call_fail(struct call *c, int err)
{
    call_reply(c, 503,
               error_body(err, NULL, "the change could not be made durable; it was not applied"));
}

const char *call_query(struct call *c, const char *key)
{
    return evhttp_find_header(&c->query, key);
}

bool server_route_match(const char *pattern, char *path, struct call *c)
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

bool server_path_decode(char *s)
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

bool server_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (n == 9 || (n == 0 && (c < 0x20 || c == 0x7f)))
            return false;
        uint32_t cp = n == 0 ? c : c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[k] & 0x3f);
        }
        static const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false; /* overlong, beyond Unicode, or a surrogate */
        p += n + 1;
    }
    return true;
}

/* "GET, HEAD, POST" of the methods in mask (a route's method each), into buf. */
static const char *allowed(unsigned mask, char *buf, size_t len)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"},
                 {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PUT, "PUT"},
                 {EVHTTP_REQ_PATCH, "PATCH"},
                 {EVHTTP_REQ_DELETE, "DELETE"}};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((mask & names[i].m) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s%s", used ? ", " : "",
                                     names[i].name, names[i].m == EVHTTP_REQ_GET ? ", HEAD" : "");
    }
    return buf;
}

/* A new call for req (HEAD read as a GET without a body), or NULL (answered 503). */
static struct call *call_new(struct server *sv, struct evhttp_request *req)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        evhttp_send_error(req, 503, NULL);
        return NULL;
    }
    c->req = req;
    c->gate = sv->gate;
    c->workload = c->desired_node = UINT32_MAX;
    c->method = evhttp_request_get_command(req);
    TAILQ_INIT(&c->query);
    if (c->method == EVHTTP_REQ_HEAD) { /* a GET without its body */
        c->method = EVHTTP_REQ_GET;
        c->head = true;
    }
    return c;
}

/* The request's target: its path decoded into path (len bytes) and its query parsed into
 * c->query, both checked (no control character, UTF-8). RET false when answered. */
static bool call_target(struct call *c, char *path, size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *raw_query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!raw_path || strlen(raw_path) >= len) {
        call_error(c, -ALLOT_EINVAL, 414, NULL, "path missing or longer than %zu bytes", len - 1);
        return false;
    }
    snprintf(path, len, "%s", raw_path);
    if (!server_path_decode(path) || !server_text_ok(path)) {
        call_error(c, -ALLOT_EINVAL, 400, NULL,
                   "the path has a bad escape, a control character or is not UTF-8");
        return false;
    }
    if (raw_query && evhttp_parse_query_str(raw_query, &c->query) != 0) {
        call_error(c, -ALLOT_EINVAL, 400, NULL, "malformed query string");
        return false;
    }
    for (const struct evkeyval *q = c->query.tqh_first; q; q = q->next.tqe_next) {
        if (!server_text_ok(q->key) || !server_text_ok(q->value)) {
            call_error(c, -ALLOT_EINVAL, 400, q->key,
                       "a query parameter with a control character or not UTF-8");
            return false;
        }
    }
    return true;
}

/* The route of c's method and path, with c->args pointing into path; or NULL, answered 404,
 * 405 (with Allow) or, for OPTIONS, 204. */
static const struct route *call_route(struct server *sv, struct call *c, char *path)
{
    const struct route *r = NULL;
    unsigned methods = 0; /* of the routes of this path: complete when none is chosen */
    for (const struct route *x = sv->routes; x->fn && !r; x++) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", path);
        struct call probe = {.n_args = 0};
        if (!server_route_match(x->pattern, copy, &probe))
            continue;
        methods |= (unsigned)x->method;
        if (x->method == c->method)
            r = x;
    }
    if (r) { /* split the path in place for the chosen route: c->args point into path */
        server_route_match(r->pattern, path, c);
        return r;
    }
    char allow[128];
    if (methods)
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
                          allowed(methods, allow, sizeof(allow)));
    if (methods && c->method == EVHTTP_REQ_OPTIONS)
        call_send(c, 204, NULL, NULL);
    else
        call_error(c, -ALLOT_ENOENT, methods ? 405 : 404, NULL,
                   methods ? "method not allowed on %s" : "no such route: %s", path);
    return NULL;
}

/* Who asks, by the bearer token (the server's authenticator), and whether that role may use
 * route r. RET false when answered (401, 403). */
static bool call_authenticate(struct server *sv, struct call *c, const struct route *r)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(c->req);
    const char *authz =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    if (r->least == ROLE_NONE)
        return true;
    if (!authz || strncmp(authz, "Bearer ", 7) != 0) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer");
        call_error(c, -ALLOT_EUNAUTHORIZED, 401, NULL, "a bearer token is required");
        return false;
    }
    if (sv->auth.fn(sv->auth.arg, authz + 7, &c->who) != 0) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        call_error(c, -ALLOT_EUNAUTHORIZED, 401, NULL, "the token is unknown or expired");
        return false;
    }
    if (c->who.role == ROLE_NODE)
        gate_agent(sv->gate, c->req);
    if (c->who.role < r->least && c->who.role != ROLE_ADMIN) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "your role (%s) may not do this",
                   auth_role_name(c->who.role));
        return false;
    }
    return true;
}

/* The body, if any: JSON parsed into c->body and held to the bounds, or bytes
 * (application/octet-stream: a workload's output from its agent) left for the handler to
 * read. RET false when answered (413, 415, 400). */
static bool call_body(struct call *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return true;
    if (n > SERVER_MAX_BODY) {
        call_error(c, -ALLOT_ERANGE, 413, NULL, "body larger than %d bytes", SERVER_MAX_BODY);
        return false;
    }
    const char *ctype =
        evhttp_find_header(evhttp_request_get_input_headers(c->req), "Content-Type");
    if (ctype && strcmp(ctype, "application/octet-stream") == 0)
        return true;
    if (ctype && strncmp(ctype, "application/json", 16) != 0) {
        call_error(c, -ALLOT_EINVAL, 415, NULL,
                   "the body must be application/json (or application/octet-stream for "
                   "a workload's output)");
        return false;
    }
    json_error_t jerr;
    c->body = json_loadb((const char *)evbuffer_pullup(in, -1), n, JSON_REJECT_DUPLICATES, &jerr);
    if (!c->body) {
        call_error(c, -ALLOT_EPARSE, 400, NULL, "malformed JSON at line %d column %d: %s",
                   jerr.line, jerr.column, jerr.text);
        return false;
    }
    struct schema_error serr;
    if (reader_check_bounds(c->body, SERVER_MAX_JSON_DEPTH, SERVER_MAX_JSON_ITEMS, &serr)) {
        call_error(c, serr.code, 400, serr.field, "%s", serr.message);
        return false;
    }
    return true;
}

/* The route's handler for c, its body read first. */
static void call_serve(struct server *sv, struct call *c, const struct route *r)
{
    if (call_body(c))
        r->fn(sv->ctl, c);
}

/* The connection of a call waiting its turn closed: libevent frees the request, so the call
 * is only marked, and freed when its turn comes. */
static void call_gone(struct evhttp_connection *evcon, void *arg)
{
    struct call *c = arg;
    (void)evcon;
    c->gone = true;
    request_drop(c->req);
    c->req = NULL;
}

/* The next turn at the next loop iteration, unless one is already due. */
static void turn_soon(struct server *sv)
{
    if (!evtimer_pending(sv->turn, NULL)) {
        static const struct timeval now = {0, 0};
        evtimer_add(sv->turn, &now);
    }
}

/* A batch of the requests waiting, in turn (intake_pop); another batch on the next loop
 * iteration while some still wait. */
static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct server *sv = arg;
    (void)fd;
    (void)what;
    struct call *c;
    struct intake_stats st;
    char first[sizeof(c->who.tenant)] = "";
    bool mixed = false;      /* this turn served more than one tenant */
    intake_turn(sv->intake); /* agents' requests first, up to INTAKE_AGENTS_PER_TURN */
    while ((c = intake_pop_agent(sv->intake)) != NULL) {
        if (c->gone) {
            call_done(c);
            continue;
        }
        gate_on_close(sv->gate, evhttp_request_get_connection(c->req), NULL, NULL);
        call_serve(sv, c, c->route);
    }
    for (int i = 0; i < SERVER_TURN_BATCH; i++) {
        if (i >= SERVER_TURN_SHARED && (mixed || sv->turn_shared))
            break;
        if (!(c = intake_pop(sv->intake)))
            break;
        if (i == 0)
            snprintf(first, sizeof(first), "%s", c->who.tenant);
        else if (strcmp(first, c->who.tenant) != 0)
            mixed = true;
        if (c->gone) {
            call_done(c);
            continue;
        }
        gate_on_close(sv->gate, evhttp_request_get_connection(c->req), NULL, NULL);
        call_serve(sv, c, c->route);
    }
    sv->turn_shared = mixed;
    intake_stats(sv->intake, &st);
    if (st.waiting || st.agents_waiting)
        turn_soon(sv);
}

/* An authenticated request of a tenant's token: charged against the rate caps (not the platform
 * admin's), then queued for its turn (docs/operations.md, "Fair service"). Node agents'
 * requests are never capped and go first in each turn; the routes that need no role (health,
 * readiness) are served at once. */
static void call_admit(struct server *sv, struct call *c, const struct route *r)
{
    if (r->least == ROLE_NONE) {
        call_serve(sv, c, r);
        return;
    }
    if (c->who.role == ROLE_NODE) { /* first in the next turn, never capped */
        c->route = r;
        if (intake_push_agent(sv->intake, c)) {
            call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
            return;
        }
        gate_on_close(sv->gate, evhttp_request_get_connection(c->req), call_gone, c);
        turn_soon(sv);
        return;
    }
    struct intake_refusal why;
    /* the platform admin's requests take their turn, but no rate cap holds them */
    int rc = c->who.role == ROLE_ADMIN
                 ? 0
                 : intake_charge(sv->intake, c->who.tenant, c->who.token_id, clock_mono_ms(), &why);
    if (rc == 0) {
        c->route = r;
        rc = intake_push(sv->intake, c->who.tenant, c->who.token_id, c, &why);
    }
    if (rc == -ALLOT_ETOOMANY) {
        bool rate = strstr(why.cap, "rate") != NULL;
        call_too_many(c, why.retry_s, NULL,
                      json_pack("{s:s, s:I}", "cap", why.cap, "limit", (json_int_t)why.limit),
                      rate ? "over the %s cap of %u requests per second: retry in %d s"
                           : "over the %s cap of %u requests waiting: retry in %d s",
                      why.cap, why.limit, why.retry_s);
        return;
    }
    if (rc) {
        call_error(c, rc, 503, NULL, "out of memory");
        return;
    }
    gate_on_close(sv->gate, evhttp_request_get_connection(c->req), call_gone, c);
    turn_soon(sv);
}

/* Every request: checked target, route, authentication and rate, in that order, each
 * answering on its own when it refuses; then, in its turn, its body and the route's handler. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *sv = arg;
    gate_request(sv->gate, req);
    struct call *c = call_new(sv, req);
    if (!c)
        return;
    if (c->method == EVHTTP_REQ_CONNECT) {
        /* libevent keeps a CONNECT's connection open for a tunnel (and sends no length):
         * close it a second after the answer */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        evhttp_connection_set_timeout(evhttp_request_get_connection(req), 1);
        call_error(c, -ALLOT_EINVAL, 405, NULL, "CONNECT: this is an API, not a proxy");
        return;
    }
    if (!call_target(c, c->path, sizeof(c->path)))
        return;
    if (sv->fallback) {
        sv->fallback(sv->fallback_arg, c, c->path);
        return;
    }
    const struct route *r = call_route(sv, c, c->path);
    if (r && r->least != ROLE_NONE && sv->guard && !sv->guard(sv->ctl, c))
        return;
    if (r && call_authenticate(sv, c, r))
        call_admit(sv, c, r);
}

int server_start(struct event_base *base, struct controller *ctl, const struct route *routes,
                 const struct server_auth *auth, const char *addr, uint16_t port,
                 const struct gate_options *limits, struct server **out, char *err, size_t len)
{
    static const struct gate_options defaults = {0};
    struct server *sv = calloc(1, sizeof(*sv));
    struct evhttp *http = sv ? evhttp_new(base) : NULL;
    if (!http || gate_new(base, limits ? limits : &defaults, &sv->gate)) {
        if (http)
            evhttp_free(http);
        free(sv);
        snprintf(err, len, "cannot create the HTTP server");
        return -ALLOT_EIO;
    }
    static const struct intake_options no_caps = {0};
    sv->turn = evtimer_new(base, on_turn, sv);
    if (!sv->turn || intake_new(&no_caps, &sv->intake)) {
        snprintf(err, len, "cannot create the HTTP server");
        server_stop(sv);
        return -ALLOT_ENOMEM;
    }
    sv->ctl = ctl;
    sv->auth = *auth;
    sv->routes = routes;
    sv->http = http;
    evhttp_set_max_body_size(http, SERVER_MAX_BODY);
    evhttp_set_max_headers_size(http, SERVER_MAX_HEADERS);
    evhttp_set_timeout(http, SERVER_TIMEOUT_S);
    /* every method reaches on_request, which answers JSON for those no route has */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(http, on_request, sv);
    evhttp_set_bevcb(http, gate_bufferevent, sv->gate);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, addr, port);
    if (!bound) {
        snprintf(err, len, "cannot listen on %s:%u (in use, or not an address of this host)", addr,
                 port);
        server_stop(sv);
        return -ALLOT_EIO;
    }
    gate_listen(sv->gate, evhttp_bound_socket_get_listener(bound));
    *out = sv;
    return 0;
}

void server_set_fallback(struct server *sv, server_fallback_fn fn, void *arg)
{
    sv->fallback = fn;
    sv->fallback_arg = arg;
}

int server_set_intake(struct server *sv, const struct intake_options *opt)
{
    struct intake_stats st;
    intake_stats(sv->intake, &st);
    if (st.waiting || st.agents_waiting) /* set before serving: a request would lose its turn */
        return -ALLOT_ESTATE;
    struct intake *in;
    int rc = intake_new(opt, &in);
    if (rc)
        return rc;
    intake_free(sv->intake);
    sv->intake = in;
    return 0;
}

void server_intake_stats(const struct server *sv, struct intake_stats *out)
{
    intake_stats(sv->intake, out);
}

void server_set_guard(struct server *sv, server_guard_fn fn)
{
    sv->guard = fn;
}

struct gate *server_gate(struct server *sv)
{
    return sv->gate;
}

void server_stop(struct server *sv)
{
    if (!sv)
        return;
    /* calls waiting their turn are dropped unanswered: their connections close below */
    for (struct call *c; sv->intake && (c = intake_pop(sv->intake)) != NULL;)
        call_done(c);
    for (struct call *c; sv->intake && (intake_turn(sv->intake), c = intake_pop_agent(sv->intake));)
        call_done(c);
    intake_free(sv->intake);
    if (sv->turn)
        event_free(sv->turn);
    if (sv->http)
        evhttp_free(sv->http); /* closes the connections the gate counts */
    gate_free(sv->gate);
    SSL_CTX_free(sv->tls);
    free(sv);
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
    gate_tls(sv->gate, ctx);
    return 0;
}
