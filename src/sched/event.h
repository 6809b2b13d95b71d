/* The engine's output: decisions and changes appended in order for the caller to apply. */
#ifndef ALLOT_SCHED_EVENT_H
#define ALLOT_SCHED_EVENT_H

#include "sched/sched.h"

/* Append an event of kind k about workload w (or SCHED_NONE) made at now, and return it
 * for the caller to fill. Never NULL: when out of memory the event is dropped into a
 * spare and s->oom is set so that sched_schedule reports -ALLOT_ENOMEM. */
struct sched_event *event_emit(struct sched *s, enum sched_event_kind k, int64_t now, uint32_t w);

#endif
