/* Event list of the engine. */
#include "sched/event.h"

#include <stdlib.h>
#include <string.h>

struct sched_event *event_emit(struct sched *s, enum sched_event_kind k, int64_t now, uint32_t w)
{
    struct sched_event *e = &s->spare_event;
    if (s->n_events == s->cap_events) {
        uint32_t cap = s->cap_events ? s->cap_events * 2 : 64;
        struct sched_event *ev = realloc(s->events, cap * sizeof(*ev));
        if (ev) {
            s->events = ev;
            s->cap_events = cap;
        }
    }
    if (s->n_events < s->cap_events)
        e = &s->events[s->n_events++];
    else
        s->oom = true;
    memset(e, 0, offsetof(struct sched_event, message) + 1);
    e->kind = k;
    e->t = now;
    e->workload = w;
    e->other = SCHED_NONE;
    e->node = e->gpu = e->workspace = SCHED_NONE;
    e->tenant = w != SCHED_NONE ? s->workloads[w].tenant : SCHED_NONE;
    return e;
}
