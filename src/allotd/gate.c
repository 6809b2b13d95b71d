/* The connection gate (gate.h): the gate makes every connection's bufferevent, watches its
 * input buffer for the first byte of a request (which arms the deadline), and counts the
 * connection out in evhttp's close callback, which it sets on the loop iteration after the
 * accept (evhttp has made the connection by then). Connections are kept in three lists by
 * what they do: waiting for a request, receiving one, or being answered (a held long poll,
 * an event stream). */
#include "allotd/gate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>

#include "allotd/log.h"
#include "common/clock.h"
#include "common/error.h"

enum gate_state {
    GATE_IDLE,      /* waiting for a request */
    GATE_RECEIVING, /* part of a request has arrived: its deadline runs */
    GATE_BUSY,      /* a whole request is being answered */
    GATE_DEAD,      /* closed by the gate, not yet freed by libevent */
    GATE_N_STATES
};

struct gate_conn {
    struct gate *g;
    struct bufferevent *bev; /* the connection's, made by the gate, freed by evhttp */
    struct gate_conn *prev, *next;
    enum gate_state state;
    bool linked;     /* in the list of its state */
    bool registered; /* evhttp's close callback is the gate's */
    bool agent;
    struct event *deadline; /* first the registration (at once), then the request deadline */
    gate_close_fn on_close; /* the handler's close callback (gate_on_close), or NULL */
    void *on_close_arg;
    struct event *watch; /* the socket's end, seen while a handler holds its request */
};

struct gate_list {
    struct gate_conn *head, *tail;
};

struct gate {
    struct evconnlistener *listener;
    SSL_CTX *tls;
    struct gate_options opt;
    struct gate_list lists[GATE_N_STATES];
    uint32_t open; /* connections not closed by the gate (DEAD ones are not counted) */
    bool paused;   /* the listener is disabled: at the cap, or out of descriptors */
    struct event *evict, *resume;
    /* bufferevent -> connection, open addressing (a request knows only its bufferevent) */
    struct gate_conn **slots;
    size_t cap, used;
    struct gate_stats stats;
    int64_t last_log_ms;
    uint64_t errors_unlogged;
    struct gate *next_listening; /* in gates_listening */
};

/* ---- the bufferevent -> connection table ---- */

static size_t slot_of(const struct gate *g, const struct bufferevent *bev)
{
    uint64_t h = (uint64_t)(uintptr_t)bev * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (g->cap - 1);
}

static struct gate_conn *table_get(const struct gate *g, const struct bufferevent *bev)
{
    if (!g->cap || !bev)
        return NULL;
    for (size_t i = slot_of(g, bev);; i = (i + 1) & (g->cap - 1)) {
        if (!g->slots[i] || g->slots[i]->bev == bev)
            return g->slots[i];
    }
}

/* Make room for one more entry, so that table_put cannot fail. RET 0, -ALLOT_ENOMEM. */
static int table_reserve(struct gate *g)
{
    if ((g->used + 1) * 2 <= g->cap)
        return 0;
    size_t cap = g->cap ? g->cap * 2 : 1024;
    struct gate_conn **slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ALLOT_ENOMEM;
    struct gate_conn **old = g->slots;
    size_t old_cap = g->cap;
    g->slots = slots;
    g->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i])
            continue;
        size_t k = slot_of(g, old[i]->bev);
        while (slots[k])
            k = (k + 1) & (cap - 1);
        slots[k] = old[i];
    }
    free(old);
    return 0;
}

/* Add c (after table_reserve). */
static void table_put(struct gate *g, struct gate_conn *c)
{
    size_t i = slot_of(g, c->bev);
    while (g->slots[i])
        i = (i + 1) & (g->cap - 1);
    g->slots[i] = c;
    g->used++;
}

/* Remove c, shifting back the entries of its probe run (no tombstones). */
static void table_del(struct gate *g, const struct gate_conn *c)
{
    size_t i = slot_of(g, c->bev);
    while (g->slots[i] != c)
        i = (i + 1) & (g->cap - 1);
    g->slots[i] = NULL;
    g->used--;
    for (size_t j = (i + 1) & (g->cap - 1); g->slots[j]; j = (j + 1) & (g->cap - 1)) {
        size_t home = slot_of(g, g->slots[j]->bev);
        /* the entry at j may move to the hole at i if its home is not in (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            g->slots[i] = g->slots[j];
            g->slots[j] = NULL;
            i = j;
        }
    }
}

/* ---- states ---- */

static void list_unlink(struct gate *g, struct gate_conn *c)
{
    struct gate_list *l = &g->lists[c->state];
    if (!c->linked)
        return;
    c->linked = false;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
}

/* Move c to the tail of the list of state s (the tail is the newest). */
static void set_state(struct gate *g, struct gate_conn *c, enum gate_state s)
{
    list_unlink(g, c);
    c->state = s;
    struct gate_list *l = &g->lists[s];
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    c->linked = true;
    if (s != GATE_RECEIVING)
        evtimer_del(c->deadline);
}

static void listener_pause(struct gate *g, bool pause)
{
    if (!g->listener || g->paused == pause)
        return;
    g->paused = pause;
    if (pause)
        evconnlistener_disable(g->listener);
    else
        evconnlistener_enable(g->listener);
}

/* Close c as a read timeout would: evhttp drops the connection without an answer (requests
 * of a connection that is not busy were never given to a handler, so nothing is lost). */
static bool conn_register(struct gate *g, struct gate_conn *c);

static void conn_close(struct gate *g, struct gate_conn *c)
{
    bufferevent_event_cb on_event = NULL;
    void *arg = NULL;
    /* not yet registered: evhttp has made its connection by now (or c is gone) */
    if (!c->registered && !conn_register(g, c))
        return;
    set_state(g, c, GATE_DEAD);
    g->open--;
    bufferevent_getcb(c->bev, NULL, NULL, &on_event, &arg);
    if (on_event)
        on_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, arg);
}

static void conn_free(struct gate *g, struct gate_conn *c);
static void on_closed(struct evhttp_connection *evcon, void *arg);

/* The loop iteration after the accept: evhttp has made the connection around c->bev (or has
 * given up and freed the bufferevent, whose callbacks are then gone; the gate's reference
 * kept its memory). Set evhttp's close callback, or count the connection out. RET whether
 * c is still there. */
static bool conn_register(struct gate *g, struct gate_conn *c)
{
    bufferevent_event_cb on_event = NULL;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &on_event, &evcon);
    c->registered = true;
    if (!on_event || !evcon) {
        struct bufferevent *bev = c->bev;
        conn_free(g, c); /* before the table forgets bev's address */
        bufferevent_decref(bev);
        return false;
    }
    evhttp_connection_set_closecb(evcon, on_closed, c);
    bufferevent_decref(c->bev);
    return true;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct gate_conn *c = arg;
    if (!c->registered) {
        conn_register(c->g, c);
        return;
    }
    c->g->stats.timed_out++;
    conn_close(c->g, c);
}

/* The oldest connection that may be closed to make room: one still receiving, then one
 * waiting; node agents' last. NULL when all are busy. */
static struct gate_conn *victim(struct gate *g)
{
    static const enum gate_state order[] = {GATE_RECEIVING, GATE_IDLE};
    for (int agents = 0; agents < 2; agents++)
        for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
            for (struct gate_conn *c = g->lists[order[k]].head; c; c = c->next)
                if (c->agent == (agents == 1))
                    return c;
    return NULL;
}

/* Over the cap: close the oldest slow or idle connections; with none left to close, stop
 * accepting until a connection ends. */
static void on_evict(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    while (g->open > g->opt.max_connections) {
        struct gate_conn *c = victim(g);
        if (!c)
            break;
        g->stats.evicted++;
        conn_close(g, c);
    }
    /* accept again if there is room, or a connection to close for the next one */
    listener_pause(g, g->open >= g->opt.max_connections && !victim(g));
}

/* After a pause for want of descriptors: accept again (a connection over the cap evicts an
 * idle or slow one, or pauses the listener while every connection is busy). */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct gate *g = arg;
    if (g->open < g->opt.max_connections || victim(g))
        listener_pause(g, false);
}

/* ---- the bufferevent's hooks ---- */

/* Bytes were added to (or taken from) the connection's input: the first byte of a request
 * starts its deadline. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct gate_conn *c = arg;
    if (c->state != GATE_IDLE || info->n_added == 0 || !c->registered)
        return;
    set_state(c->g, c, GATE_RECEIVING);
    struct timeval tv = {(time_t)(c->g->opt.request_ms / 1000),
                         (suseconds_t)(c->g->opt.request_ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}

/* Forget c: out of its list, the table and the count. */
static void conn_free(struct gate *g, struct gate_conn *c)
{
    if (c->state != GATE_DEAD)
        g->open--;
    list_unlink(g, c);
    table_del(g, c);
    event_free(c->deadline);
    if (c->watch)
        event_free(c->watch);
    free(c);
    if (g->paused && g->open < g->opt.max_connections && !evtimer_pending(g->resume, NULL))
        listener_pause(g, false);
}

/* evhttp frees the connection: tell the handler's callback, then count it out. A reply not
 * all handed to the kernel (its client took nothing for the send timeout) ends in a reset,
 * not a clean end of stream, so that no client can take a cut answer for a whole one
 * (docs/api.md, "Pages"). */
static void on_closed(struct evhttp_connection *evcon, void *arg)
{
    struct gate_conn *c = arg;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        struct linger reset = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        c->g->stats.unfinished++;
    }
    if (c->on_close)
        c->on_close(evcon, c->on_close_arg);
    evbuffer_remove_cb(bufferevent_get_input(c->bev), on_input, c);
    conn_free(c->g, c);
}

struct bufferevent *gate_bufferevent(struct event_base *base, void *arg)
{
    struct gate *g = arg;
    struct gate_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (g->tls) {
        SSL *ssl = SSL_new(g->tls);
        c->bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (!c->bev)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    c->g = g;
    c->deadline = evtimer_new(base, on_deadline, c);
    if (!c->bev || !c->deadline || table_reserve(g) ||
        !evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c)) {
        /* evhttp makes a plain bufferevent of its own: the connection is served, uncounted */
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->deadline)
            event_free(c->deadline);
        free(c);
        return NULL;
    }
    table_put(g, c);
    set_state(g, c, GATE_IDLE);
    /* evhttp makes its connection around the bufferevent after this returns: register on the
     * next loop iteration, holding a reference in case evhttp gives up on it first */
    bufferevent_incref(c->bev);
    event_active(c->deadline, EV_TIMEOUT, 0);
    g->open++;
    g->stats.accepted++;
    if (g->open > g->opt.max_connections) {
        /* no more accepts in this round: eviction runs first (after evhttp has this one) */
        listener_pause(g, true);
        event_active(g->evict, EV_TIMEOUT, 0);
    }
    return c->bev;
}

/* ---- accept errors ---- */

/* The listener's callbacks share its user data, which is evhttp's: the error callback finds
 * its gate here (one per listening socket). */
static struct gate *gates_listening;

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    struct gate *g = gates_listening;
    while (g && g->listener != lev)
        g = g->next_listening;
    int err = EVUTIL_SOCKET_ERROR();
    if (!g) { /* not a listener the gate watches: pause it briefly all the same */
        evconnlistener_disable(lev);
        return;
    }
    g->stats.accept_errors++;
    g->errors_unlogged++;
    /* out of descriptors below the cap: the cap was set too high for this process's limit;
     * lower it to what is open now, less a margin, and make room by the usual eviction */
    bool lowered = false;
    if ((err == EMFILE || err == ENFILE) && g->open > 2 * GATE_FD_MARGIN &&
        g->opt.max_connections > g->open - GATE_FD_MARGIN) {
        g->opt.max_connections = g->open - GATE_FD_MARGIN;
        lowered = true;
    }
    int64_t now = clock_mono_ms();
    if (now - g->last_log_ms >= GATE_LOG_INTERVAL_MS) {
        log_info("cannot accept connections: %s (%llu times since the last line); accepts "
                 "pause %d ms; %u connections open, cap %u%s",
                 strerror(err), (unsigned long long)g->errors_unlogged, GATE_PAUSE_MS, g->open,
                 g->opt.max_connections, lowered ? " (lowered to fit the descriptor limit)" : "");
        g->last_log_ms = now;
        g->errors_unlogged = 0;
    }
    /* the listening socket stays readable: without a pause, libevent would call accept in a
     * loop (the spin this replaces) */
    listener_pause(g, true);
    on_evict(-1, 0, g);
    struct timeval tv = {0, GATE_PAUSE_MS * 1000};
    evtimer_add(g->resume, &tv);
}

void gate_listen(struct gate *g, struct evconnlistener *lev)
{
    g->listener = lev;
    g->next_listening = gates_listening;
    gates_listening = g;
    evconnlistener_set_error_cb(lev, on_accept_error);
}

void gate_tls(struct gate *g, SSL_CTX *ctx)
{
    g->tls = ctx;
}

/* ---- requests ---- */

/* The record of connection evcon, or NULL (one the gate did not make). */
static struct gate_conn *conn_of_connection(const struct gate *g, struct evhttp_connection *evcon)
{
    return evcon ? table_get(g, evhttp_connection_get_bufferevent(evcon)) : NULL;
}

static struct gate_conn *conn_of(const struct gate *g, struct evhttp_request *req)
{
    return conn_of_connection(g, req ? evhttp_request_get_connection(req) : NULL);
}

void gate_request(struct gate *g, struct evhttp_request *req)
{
    struct gate_conn *c = conn_of(g, req);
    if (c && c->state != GATE_DEAD)
        set_state(g, c, GATE_BUSY);
}

void gate_agent(struct gate *g, struct evhttp_request *req)
{
    struct gate_conn *c = conn_of(g, req);
    if (c)
        c->agent = true;
}

void gate_answered(struct gate *g, struct evhttp_request *req)
{
    struct gate_conn *c = conn_of(g, req);
    if (c && c->state == GATE_BUSY)
        set_state(g, c, GATE_IDLE);
}

/* The socket of a connection whose request a handler holds is readable: evhttp does not read
 * it then, so a client gone (its end of stream, or a reset) would be seen only at the answer.
 * A peek tells: gone, the connection is closed as a timeout would close it (the handler's
 * close callback runs); data (a pipelined request), the watch ends. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct gate_conn *c = arg;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
        if (n > 0)
            event_del(c->watch);
        return;
    }
    conn_close(c->g, c);
}

void gate_on_close(struct gate *g, struct evhttp_connection *evcon, gate_close_fn fn, void *arg)
{
    struct gate_conn *c = conn_of_connection(g, evcon);
    if (!c)
        return;
    c->on_close = fn;
    c->on_close_arg = arg;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (!fn || fd < 0 || g->tls) { /* TLS: a peek sees records, not the end (docs/agent.md) */
        if (c->watch)
            event_del(c->watch);
        return;
    }
    if (!c->watch)
        c->watch = event_new(bufferevent_get_base(c->bev), fd, EV_READ | EV_PERSIST, on_watch, c);
    if (c->watch)
        event_add(c->watch, NULL);
}

void gate_stats(const struct gate *g, struct gate_stats *out)
{
    *out = g->stats;
    out->open = g->open;
    out->max = g->opt.max_connections;
}

int gate_new(struct event_base *base, const struct gate_options *opt, struct gate **out)
{
    struct gate *g = calloc(1, sizeof(*g));
    if (!g)
        return -ALLOT_ENOMEM;
    g->opt = *opt;
    if (!g->opt.max_connections) {
        struct rlimit rl;
        rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
        if (n == RLIM_INFINITY || n > 1000000)
            n = 1000000;
        g->opt.max_connections = n > GATE_FD_RESERVE + 16 ? (uint32_t)(n - GATE_FD_RESERVE) : 16;
    }
    if (g->opt.request_ms <= 0)
        g->opt.request_ms = 10000;
    g->evict = event_new(base, -1, 0, on_evict, g);
    g->resume = evtimer_new(base, on_resume, g);
    g->last_log_ms = clock_mono_ms() - GATE_LOG_INTERVAL_MS;
    if (!g->evict || !g->resume) {
        gate_free(g);
        return -ALLOT_ENOMEM;
    }
    *out = g;
    return 0;
}

void gate_free(struct gate *g)
{
    if (!g)
        return;
    for (struct gate **p = &gates_listening; *p; p = &(*p)->next_listening) {
        if (*p == g) {
            *p = g->next_listening;
            break;
        }
    }
    g->listener = NULL; /* freed by evhttp_free */
    /* evhttp_free has closed every registered connection; what is left was accepted on the
     * last iteration and never registered */
    for (int st = 0; st < GATE_N_STATES; st++) {
        while (g->lists[st].head) {
            struct gate_conn *c = g->lists[st].head;
            struct bufferevent *bev = c->registered ? NULL : c->bev;
            conn_free(g, c);
            if (bev)
                bufferevent_decref(bev);
        }
    }
    if (g->evict)
        event_free(g->evict);
    if (g->resume)
        event_free(g->resume);
    free(g->slots);
    free(g);
}
