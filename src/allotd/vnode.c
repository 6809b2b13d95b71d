/* Virtual nodes (vnode.h): one libevent timer per workload that a simulated node finishes or
 * stops; a timer that fires applies its op only if the workload is still as it was armed. */
#include "allotd/vnode.h"

#include <stdlib.h>

#include <event2/event.h>

#include "allotd/controller.h"
#include "common/error.h"
#include "schema/op.h"

/* Timer of a virtual node: a simulated workload finishes, or a drained one exits. */
struct vtimer {
    struct vtimer *prev, *next; /* in the list, to free what never fired */
    struct vnodes *owner;
    struct event *ev;
    uint32_t workload;
    int64_t at_ms;
    bool stop; /* true: it was told to stop and now exits; false: it finishes */
};

struct vnodes {
    struct controller *ctl;
    struct vtimer *timers;
};

int vnodes_new(struct controller *ctl, struct vnodes **out)
{
    struct vnodes *v = calloc(1, sizeof(*v));
    *out = v;
    if (!v)
        return -ALLOT_ENOMEM;
    v->ctl = ctl;
    return 0;
}

static void vtimer_free(struct vtimer *t)
{
    struct vnodes *v = t->owner;
    if (t->prev)
        t->prev->next = t->next;
    else if (v->timers == t)
        v->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->ev)
        event_free(t->ev);
    free(t);
}

void vnodes_clear(struct vnodes *v)
{
    while (v && v->timers)
        vtimer_free(v->timers);
}

void vnodes_free(struct vnodes *v)
{
    vnodes_clear(v);
    free(v);
}

static void vtimer_fire(evutil_socket_t fd, short what, void *arg)
{
    struct vtimer *t = arg;
    struct controller *ctl = t->owner->ctl;
    const struct sched_workload *w = &ctl->engine->workloads[t->workload];
    char field[64], err[256];
    json_t *op = NULL;
    if (t->stop && w->state == SCHED_DRAINING)
        op = json_pack("{s:s, s:s}", "op", OP_STOPPED, "workload", w->name);
    else if (!t->stop && w->state == SCHED_RUNNING && ctl->extra[t->workload].duration_ms >= 0 &&
             w->start_ms + ctl->extra[t->workload].duration_ms <= t->at_ms)
        op = json_pack("{s:s, s:s}", "op", OP_FINISH, "workload", w->name);
    else if (!t->stop && w->state == SCHED_RUNNING && w->time_limit_ms > 0 &&
             w->start_ms + w->time_limit_ms <= t->at_ms) /* as its agent would stop it */
        op = json_pack("{s:s, s:s, s:{s:b}}", "op", OP_FINISH, "workload", w->name, "exit",
                       "time_limit", true);
    if (op)
        controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    vtimer_free(t);
}

void vnodes_arm(struct vnodes *v, uint32_t id, int64_t at_ms, bool stop)
{
    struct controller *ctl = v->ctl;
    /* during a replay the journal itself holds the exits; vnodes_rearm follows it */
    if (!ctl->opt.virtual_nodes || ctl->replaying)
        return;
    struct vtimer *t = calloc(1, sizeof(*t));
    if (!t)
        return;
    t->owner = v;
    t->workload = id;
    t->at_ms = at_ms;
    t->stop = stop;
    t->ev = evtimer_new(ctl->base, vtimer_fire, t);
    t->next = v->timers;
    if (v->timers)
        v->timers->prev = t;
    v->timers = t;
    int64_t delay = at_ms - controller_now(ctl);
    if (delay < 0)
        delay = 0;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
    if (!t->ev || evtimer_add(t->ev, &tv))
        vtimer_free(t);
}

void vnodes_arm_run(struct vnodes *v, uint32_t id, int64_t start_ms)
{
    struct controller *ctl = v->ctl;
    if (id >= ctl->cap_extra || id >= ctl->engine->n_workloads)
        return;
    int64_t duration = ctl->extra[id].duration_ms, limit = ctl->engine->workloads[id].time_limit_ms;
    if (limit > 0 && (duration < 0 || limit < duration))
        duration = limit;
    if (duration >= 0)
        vnodes_arm(v, id, start_ms + duration, false);
}

void vnodes_rearm(struct vnodes *v)
{
    struct controller *ctl = v->ctl;
    for (uint32_t i = 0; i < ctl->engine->n_workloads; i++) {
        const struct sched_workload *w = &ctl->engine->workloads[i];
        if (w->state == SCHED_DRAINING)
            vnodes_arm(v, i, w->deadline_ms, true);
        else if (w->state == SCHED_RUNNING)
            vnodes_arm_run(v, i, w->start_ms);
    }
}
