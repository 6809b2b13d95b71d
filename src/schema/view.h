/* JSON views of engine events and placements (docs/simulator.md, "The --json schema"), for
 * the simulator and the daemon alike. */
#ifndef ALLOT_SCHEMA_VIEW_H
#define ALLOT_SCHEMA_VIEW_H

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

/* Views: each returns a new JSON object (the caller owns the reference) describing object id
 * of s, or NULL when id is out of range or memory ran out. Quantities are printed with
 * quantity_format_* in the formats the readers accept, so a view's fields can be sent back. */

/* {name, isolation, max_grace (null: no cap), nodes, gpus: {owned, healthy, free, reserved},
 *  degraded} */
json_t *view_tenant(const struct sched *s, uint32_t id);
/* {name, dedicated_to (or null), nodes} */
json_t *view_cluster(const struct sched *s, uint32_t id);
/* {name, cluster, tenant (or null), state, cpu, memory, cpu_used, memory_used, labels,
 *  gpus: [{index, model, healthy, holder (or null) | mig: [{profile, start, holder}]}]} */
json_t *view_node(const struct sched *s, uint32_t id);
/* {name, tenant, reserved: {gpu}, limits: {gpu, cpu, memory, storage} ("none": no limit), lend,
 *  weight, usage: {gpu_held, gpu_guaranteed, gpu_borrowed, cpu, memory, storage, pending}}.
 * Guaranteed and borrowed split the workspace's position (held - draining + claimed) at its
 * reservation (docs/policy.md). */
json_t *view_workspace(const struct sched *s, uint32_t id);
/* {name, workspace, tenant, kind, priority, preemptible, gpus | mig, model?, replicas, cpu,
 *  memory, storage, grace, state, reason? and reason_text? (while pending, reclaiming,
 *  draining, and once rejected or cancelled), borrowed, submitted (ms), started (ms of its
 *  last start, or null if it never ran), placement? (while reclaiming, running or draining:
 *  [{node, gpus: [index]}] or [{node, gpu, profile, start}], one per replica)}.
 * A workload rejected for an unknown workspace has workspace and tenant null. */
json_t *view_workload(const struct sched *s, uint32_t id);

#endif
