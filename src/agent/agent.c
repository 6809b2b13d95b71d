/* The node agent's loop: its connections to the controller, its timers (poll, push, state
 * file, shipping, storage check) and signals, set up once and run until SIGINT or SIGTERM; and the
 * slots of its tasks and shipments. */
#include "agent/agent.h"

#include "agent/devices.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "agent/report.h"
#include "agent/shipment.h"
#include "agent/statefile.h"
#include "agent/storage.h"
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

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    report_send(arg, AGENT_CHANNEL_POLL);
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

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static struct timeval timeval_of(int64_t ms)
{
    return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

int agent_open(struct agent *a, const char *workdir, int64_t every_ms)
{
    unsigned short port = (unsigned short)a->port;
    a->base = event_base_new();
    if (a->base) {
        a->conn = evhttp_connection_base_new(a->base, NULL, a->host, port);
        a->push = evhttp_connection_base_new(a->base, NULL, a->host, port);
        a->push_now = event_new(a->base, -1, 0, push_cb, a);
        a->save_now = event_new(a->base, -1, 0, save_cb, a);
        a->ship_conn = evhttp_connection_base_new(a->base, NULL, a->host, port);
        a->ship_timer = event_new(a->base, -1, EV_PERSIST, ship_cb, a);
        a->timer = event_new(a->base, -1, EV_PERSIST, poll_cb, a);
        a->storage_timer = event_new(a->base, -1, EV_PERSIST, storage_cb, a);
        a->sigint = evsignal_new(a->base, SIGINT, on_signal, a->base);
        a->sigterm = evsignal_new(a->base, SIGTERM, on_signal, a->base);
    }
    struct runner_options ropt = {.base_dir = workdir};
    if (!a->base || !a->conn || !a->push || !a->push_now || !a->save_now || !a->ship_conn ||
        !a->ship_timer || !a->timer || !a->storage_timer || !a->sigint || !a->sigterm ||
        runner_new(a->base, &ropt, &a->runner)) {
        fprintf(stderr, "allot-agent: cannot start\n");
        return -1;
    }
    a->every_ms = every_ms > PROTOCOL_MAX_WAIT_MS ? PROTOCOL_MAX_WAIT_MS : every_ms;
    /* a held poll lasts up to every_ms: the timeout leaves room for it */
    evhttp_connection_set_timeout(a->conn, (int)(a->every_ms / 1000) + 10);
    evhttp_connection_set_timeout(a->push, 10);
    evhttp_connection_set_timeout(a->ship_conn, 10);
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
    report_send(a, AGENT_CHANNEL_POLL);
    event_base_dispatch(a->base);
    if (a->state_dirty)
        statefile_write(a);
}

void agent_close(struct agent *a)
{
    json_decref(a->node_info);
    a->node_info = NULL;
    struct event **events[] = {&a->timer,         &a->save_now, &a->push_now, &a->ship_timer,
                               &a->storage_timer, &a->sigint,   &a->sigterm};
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
    struct evhttp_connection **conns[] = {&a->conn, &a->push, &a->ship_conn};
    for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++) {
        if (*conns[i])
            evhttp_connection_free(*conns[i]);
        *conns[i] = NULL;
    }
    if (a->base)
        event_base_free(a->base);
    a->base = NULL;
}
