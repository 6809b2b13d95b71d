/* JSON views of engine events and placements (docs/simulator.md, "The --json schema"), for
 * the simulator and the daemon alike. */
#ifndef ALLOT_VIEW_VIEW_H
#define ALLOT_VIEW_VIEW_H

#include <jansson.h>

#include "sched/sched.h"

/* Milliseconds as seconds: an integer when whole, else a number with a fraction. */
json_t *view_time(int64_t ms);
/* The placement of workload w: one object per replica, {node, gpus} or {node, gpu,
 * profile, start}. */
json_t *view_placement(const struct sched *s, const struct sched_workload *w);
/* Event e as the documented JSON object; times are given relative to epoch_ms (0 for the
 * simulator's virtual time; the daemon's times are milliseconds since the Unix epoch, so it
 * passes 0 and gets seconds since the epoch). A new reference, or NULL without memory. */
json_t *view_event(const struct sched *s, const struct sched_event *e, int64_t epoch_ms);

#endif
