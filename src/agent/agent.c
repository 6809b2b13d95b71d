/* The node agent's loop: its connections to the controller (moved to another of its servers
 * when one fails or is a standby), its timers (poll, push, state file, shipping, storage check)
 * and signals, set up once and run until SIGINT or SIGTERM; and the slots of its tasks and
 * shipments. */
#include "agent/agent.h"

#include "agent/devices.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agent/report.h"
#include "agent/shipment.h"
#include "agent/statefile.h"
#include "agent/storage.h"
#include "agent/task.h"
#include "agent/tenancy.h"
#include "common/protocol.h"

int64_t agent_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct task *agent_task_take(struct agent *a)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct task *t = &a->tasks[i];
        if (t->used)
            continue;
        memset(t, 0, sizeof(*t));
        t->used = true;
        if (i >= a->tasks_end)
            a->tasks_end = i + 1;
        return t;
    }
    return NULL;
}

void agent_task_drop(struct agent *a, struct task *t)
{
    t->used = false;
    while (a->tasks_end > 0 && !a->tasks[a->tasks_end - 1].used)
        a->tasks_end--;
}

struct shipment *agent_ship_take(struct agent *a)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct shipment *sh = &a->ships[i];
        if (sh->used)
            continue;
        memset(sh, 0, sizeof(*sh));
        sh->used = true;
        if (i >= a->ships_end)
            a->ships_end = i + 1;
        return sh;
    }
    return NULL;
}

void agent_ship_drop(struct agent *a, struct shipment *sh)
{
    sh->used = false;
    while (a->ships_end > 0 && !a->ships[a->ships_end - 1].used)
        a->ships_end--;
}

static void save_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    if (a->state_dirty)
        statefile_write(a);
}

/* Every --interval: what the controller has not heard yet (a new checkpoint, a replica just
 * started by a push's answer) goes at once on the push while a poll is held (it carries
 * nothing until its keepalive); with no poll in flight (after a failure) the poll sent now
 * carries it. */
static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    report_checkpoints(a);
    if (a->in_flight[AGENT_CHANNEL_POLL] && report_pending(a))
        report_send(a, AGENT_CHANNEL_PUSH);
    report_send(a, AGENT_CHANNEL_POLL);
}

static void push_cb(evutil_socket_t fd, short what, void *arg)
{
    report_send(arg, AGENT_CHANNEL_PUSH);
}

static void ship_cb(evutil_socket_t fd, short what, void *arg)
{
    shipment_next(arg);
    tenancy_wipe_try(arg); /* a wipe that waits for output to be shipped, or for its bound */
}

static void storage_cb(evutil_socket_t fd, short what, void *arg)
{
    storage_check(arg);
}

static void time_limit_cb(evutil_socket_t fd, short what, void *arg)
{
    task_time_limits(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    agent_reconnect(arg);
}

static struct timeval timeval_of(int64_t ms)
{
    return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

int agent_server_use(struct agent *a, int i)
{
    char host[256];
    int port = 0;
    char tail = '\0';
    if (i < 0 || i >= a->servers.n ||
        sscanf(a->servers.url[i], "http://%255[^:/]:%d%c", host, &port, &tail) != 2 || port < 1 ||
        port > 65535)
        return -1;
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = port;
    a->server = i;
    return 0;
}

/* Free a's three connections, if any. What was in flight on them is dropped without its
 * callback. */
static void connections_free(struct agent *a)
{
    struct evhttp_connection **conns[] = {&a->conn, &a->push, &a->ship_conn};
    for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
        if (*conns[i])
            evhttp_connection_free(*conns[i]);
        *conns[i] = NULL;
    }
}

/* Make a's three connections to a->host:a->port, with their timeouts (a held poll lasts up
 * to a->keepalive_ms: its timeout leaves room for it). RET 0, or -1 when one cannot be made. */
static int connections_make(struct agent *a)
{
    unsigned short port = (unsigned short)a->port;
    a->conn = evhttp_connection_base_new(a->base, NULL, a->host, port);
    a->push = evhttp_connection_base_new(a->base, NULL, a->host, port);
    a->ship_conn = evhttp_connection_base_new(a->base, NULL, a->host, port);
    if (!a->conn || !a->push || !a->ship_conn)
        return -1;
    evhttp_connection_set_timeout(a->conn, (int)(a->keepalive_ms / 1000) + 10);
    evhttp_connection_set_timeout(a->push, 10);
    evhttp_connection_set_timeout(a->ship_conn, 10);
    return 0;
}

bool agent_failover(struct agent *a, struct evhttp_request *req)
{
    int status = req ? evhttp_request_get_response_code(req) : 0;
    struct evkeyvalq *h = req && status ? evhttp_request_get_input_headers(req) : NULL;
    const char *role = h ? evhttp_find_header(h, SERVERLIST_HEADER_ROLE) : NULL;
    const char *leader = h ? evhttp_find_header(h, SERVERLIST_HEADER_LEADER) : NULL;
    bool standby = serverlist_is_standby(status, role);
    if (status != 0 && !standby)
        return false;
    if (a->next_server >= 0)
        return true; /* a move is decided (and was logged): this channel's failure is its cause */
    if (!standby)
        leader = NULL;
    /* the leader's URL is shown, never used unless it is one of a->servers */
    char named[200];
    snprintf(named, sizeof(named), "%s", leader ? leader : "");
    for (char *p = named; *p; p++)
        *p = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
    int next = serverlist_next(&a->servers, a->server, 0, leader);
    bool configured = leader && serverlist_find(&a->servers, leader) >= 0;
    const char *from = a->servers.url[a->server];
    if (next < 0 && !standby)
        return false; /* one server: the timers retry it, as ever */
    if (next >= 0 && configured && next == serverlist_find(&a->servers, leader))
        fprintf(stderr, "allot-agent: %s is a standby; moving to the leader %s\n", from,
                a->servers.url[next]);
    else if (standby)
        fprintf(stderr, "allot-agent: %s is a standby; %s%s%s%s%s\n", from,
                leader ? "the leader is " : "it knows no leader now", leader ? named : "",
                leader && !configured ? ", which is not among --server" : "",
                next >= 0 ? "; moving to " : "; retrying", next >= 0 ? a->servers.url[next] : "");
    else
        fprintf(stderr, "allot-agent: %s does not answer; moving to %s\n", from,
                a->servers.url[next]);
    if (next >= 0) {
        a->next_server = next;
        event_active(a->reconnect_now, 0, 0);
    }
    return true;
}

int agent_reconnect(struct agent *a)
{
    if (a->next_server < 0)
        return 0;
    event_del(a->reconnect_now);
    if (agent_server_use(a, a->next_server))
        return -1; /* cannot be: every server was checked at the start */
    a->next_server = -1;
    connections_free(a);
    /* nothing in flight was answered: the channels are free, the ended replicas reported again */
    for (int ch = 0; ch < AGENT_CHANNEL_COUNT; ch++) {
        a->in_flight[ch] = false;
        report_unsend(a, (enum agent_channel)ch);
    }
    a->ship_in_flight = false;
    report_forget_told(a); /* another server: it may know nothing of this node yet */
    if (connections_make(a)) {
        fprintf(stderr, "allot-agent: cannot connect to %s\n", a->servers.url[a->server]);
        return -1;
    }
    return 0;
}

int agent_open(struct agent *a, const char *workdir, int64_t every_ms, int64_t keepalive_ms)
{
    a->every_ms = every_ms;
    a->keepalive_ms = keepalive_ms > PROTOCOL_MAX_WAIT_MS ? PROTOCOL_MAX_WAIT_MS : keepalive_ms;
    a->next_server = -1;
    a->base = event_base_new();
    if (a->base) {
        connections_make(a);
        a->push_now = event_new(a->base, -1, 0, push_cb, a);
        a->save_now = event_new(a->base, -1, 0, save_cb, a);
        a->reconnect_now = event_new(a->base, -1, 0, reconnect_cb, a);
        a->ship_timer = event_new(a->base, -1, EV_PERSIST, ship_cb, a);
        a->timer = event_new(a->base, -1, EV_PERSIST, poll_cb, a);
        a->storage_timer = event_new(a->base, -1, EV_PERSIST, storage_cb, a);
        a->time_limit_timer = evtimer_new(a->base, time_limit_cb, a);
        a->sigint = evsignal_new(a->base, SIGINT, on_signal, a->base);
        a->sigterm = evsignal_new(a->base, SIGTERM, on_signal, a->base);
    }
    struct runner_options ropt = {.base_dir = workdir};
    if (!a->base || !a->conn || !a->push || !a->push_now || !a->save_now || !a->ship_conn ||
        !a->reconnect_now || !a->ship_timer || !a->timer || !a->storage_timer ||
        !a->time_limit_timer || !a->sigint || !a->sigterm ||
        runner_new(a->base, &ropt, &a->runner)) {
        fprintf(stderr, "allot-agent: cannot start\n");
        return -1;
    }
    return 0;
}

void agent_run(struct agent *a, int64_t every_ms, int64_t storage_ms)
{
    struct timeval poll_tv = timeval_of(every_ms), storage_tv = timeval_of(storage_ms);
    event_add(a->timer, &poll_tv);
    event_add(a->storage_timer, &storage_tv);
    /* output is shipped every quarter second (and at once while there is a backlog) */
    struct timeval ship_tv = {0, 250000};
    event_add(a->ship_timer, &ship_tv);
    event_add(a->sigint, NULL);
    event_add(a->sigterm, NULL);
    task_time_limits(a); /* those of replicas adopted from the state file */
    report_send(a, AGENT_CHANNEL_POLL);
    event_base_dispatch(a->base);
    if (a->state_dirty)
        statefile_write(a);
}

void agent_close(struct agent *a)
{
    json_decref(a->node_info);
    a->node_info = NULL;
    for (int ch = 0; ch < AGENT_CHANNEL_COUNT; ch++)
        report_unsend(a, (enum agent_channel)ch);
    report_forget_told(a); /* frees the inventory it was told */
    struct event **events[] = {&a->timer,         &a->save_now,      &a->push_now,
                               &a->ship_timer,    &a->sigint,        &a->sigterm,
                               &a->storage_timer, &a->reconnect_now, &a->time_limit_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (*events[i])
            event_free(*events[i]);
        *events[i] = NULL;
    }
    runner_free(a->runner);
    a->runner = NULL;
    identity_cleanup(&a->identity);
    devices_free(a->devices);
    a->devices = NULL;
    connections_free(a);
    if (a->base)
        event_base_free(a->base);
    a->base = NULL;
}
