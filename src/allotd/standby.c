/* A standby allotd (standby.h): the store opened without leading, a listener that answers
 * with the role and the leader's URL, and a timer that tries to take the lead. */
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "allotd/log.h"
#include "allotd/server.h"
#include "allotd/standby.h"
#include "common/error.h"
#include "common/serverlist.h"
#include "store/store.h"

struct standby {
    struct event_base *base;
    const struct standby_options *opt;
    struct store *store;
    struct store_leader leader; /* as last read */
    bool led;
    int last_rc; /* of the last try, to log a change once */
};

static int64_t standby_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a URL read from the store may go into a header: a server's URL as clients take
 * one, and ASCII. */
static bool standby_url_ok(const char *url)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return false;
    return serverlist_url_ok(url);
}

/* Every request: /healthz and /readyz say the role; the rest goes to the leader. */
static void standby_answer(void *arg, struct call *c, const char *path)
{
    struct standby *sb = arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    const struct store_leader *l = &sb->leader;
    bool known = l->alive && standby_url_ok(l->url);
    evhttp_add_header(h, SERVERLIST_HEADER_ROLE, SERVERLIST_ROLE_STANDBY);
    if (c->method == EVHTTP_REQ_GET && strcmp(path, "/healthz") == 0) {
        call_reply(c, 200, json_pack("{s:s, s:s}", "status", "ok", "role", "standby"));
        return;
    }
    if (c->method == EVHTTP_REQ_GET && strcmp(path, "/readyz") == 0) {
        call_reply(c, 503,
                   json_pack("{s:s, s:s, s:o, s:I}", "status", "standby", "role", "standby",
                             "leader", known ? json_string(l->url) : json_null(), "epoch",
                             (json_int_t)l->epoch));
        return;
    }
    if (!known) {
        evhttp_add_header(h, "Retry-After", "1");
        call_error(c, -ALLOT_EUNAVAILABLE, 503, NULL,
                   "this allotd is a standby and no leader is alive now; one takes over within "
                   "seconds: retry");
        return;
    }
    /* the target as sent (path and query), which call_target has checked */
    const char *uri = evhttp_request_get_uri(c->req);
    char location[STORE_URL_MAX + 1100];
    snprintf(location, sizeof(location), "%s%s", l->url, uri && uri[0] == '/' ? uri : path);
    evhttp_add_header(h, SERVERLIST_HEADER_LEADER, l->url);
    evhttp_add_header(h, "Location", location);
    char message[STORE_URL_MAX + 64];
    snprintf(message, sizeof(message), "this allotd is a standby; the leader is %s", l->url);
    call_reply(c, 307,
               json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "standby", "message", message,
                         "leader", l->url));
}

/* Reads the leader's row and logs what changed. */
static void standby_look(struct standby *sb)
{
    struct store_leader l;
    if (store_leader(sb->store, &l))
        return;
    if (l.epoch != sb->leader.epoch || l.alive != sb->leader.alive ||
        strcmp(l.url, sb->leader.url) != 0)
        log_info("standby: %s (epoch %lld%s%s)",
                 l.alive ? "another allotd leads" : "no allotd leads now: taking over",
                 (long long)l.epoch, l.url[0] ? ", " : "", l.url);
    sb->leader = l;
}

/* One try to take the lead. RET whether this store leads now. */
static bool standby_try(struct standby *sb)
{
    int rc = store_lead(sb->store, sb->opt->url, standby_now_ms());
    if (!rc)
        return true;
    if (rc != sb->last_rc && rc != -ALLOT_ESTATE)
        log_info("standby: cannot take the lead: %s; trying again", store_errmsg(sb->store));
    sb->last_rc = rc;
    if (rc != -ALLOT_ESTATE) {
        /* a failure half-way (the lock taken, the schema or the epoch not written): start
         * again from a new connection */
        char err[256];
        store_close(sb->store);
        sb->store = NULL;
        if (store_open_standby(sb->opt->location, &sb->store, err, sizeof(err)))
            return false;
    }
    standby_look(sb);
    return false;
}

static void standby_tick(evutil_socket_t fd, short what, void *arg)
{
    struct standby *sb = arg;
    (void)fd;
    (void)what;
    if (!sb->store) {
        char err[256];
        if (store_open_standby(sb->opt->location, &sb->store, err, sizeof(err)))
            return;
    }
    if (standby_try(sb)) {
        sb->led = true;
        event_base_loopexit(sb->base, NULL);
    }
}

int standby_wait(struct event_base *base, const struct standby_options *opt, struct store **out,
                 char *err, size_t len)
{
    struct standby sb = {.base = base, .opt = opt};
    *out = NULL;
    int rc = store_open_standby(opt->location, &sb.store, err, len);
    if (rc)
        return rc;
    if (standby_try(&sb)) {
        *out = sb.store;
        return 0;
    }
    if (!sb.store)
        return allot_fail(err, len, -ALLOT_EIO, "the store went away while starting");
    static const struct route none[] = {{0}};
    struct server_auth no_auth = {0};
    struct server *sv = NULL;
    rc = server_start(base, NULL, none, &no_auth, opt->addr, opt->port, opt->limits, &sv, err, len);
    rc = rc || !opt->tls_cert ? rc : server_tls(sv, opt->tls_cert, opt->tls_key, err, len);
    struct event *timer = rc ? NULL : event_new(base, -1, EV_PERSIST, standby_tick, &sb);
    struct timeval tv = {0, STANDBY_RETRY_MS * 1000};
    if (!rc && (!timer || event_add(timer, &tv)))
        rc = allot_fail(err, len, -ALLOT_ENOMEM, "cannot start the standby's timer");
    if (!rc) {
        server_set_fallback(sv, standby_answer, &sb);
        log_info("standby on %s:%u: requests go to the leader; taking over when it stops",
                 opt->addr, (unsigned)opt->port);
        event_base_dispatch(base);
    }
    if (timer)
        event_free(timer);
    server_stop(sv);
    if (rc || !sb.led) {
        store_close(sb.store);
        return rc ? rc : 1;
    }
    log_info("standby: this allotd leads now (epoch %lld): loading the state",
             (long long)store_epoch(sb.store));
    *out = sb.store;
    return 0;
}
