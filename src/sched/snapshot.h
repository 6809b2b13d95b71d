/* Snapshots of the engine: its whole state as bytes and back, so that a daemon restarts from
 * the latest snapshot and the journal after it instead of the whole journal (docs/store.md,
 * "Snapshots"). The bytes hold every field that a decision can depend on, ids included (a
 * workload's id is its slot, and slots of forgotten workloads are reused in order), so an
 * engine loaded from a snapshot makes exactly the decisions the saved one would: the same
 * placements, queue order, events and counters. Pure, like the rest of the engine. */
#ifndef ALLOT_SCHED_SNAPSHOT_H
#define ALLOT_SCHED_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"

/* The format's version: a snapshot of a newer version is refused (the daemon then replays
 * its whole journal, which a snapshot never replaces until a newer one is written); older
 * ones from SCHED_SNAPSHOT_OLDEST load. Version 2 added a node's move_drained (a version 1
 * snapshot loads it false: a move cancelled later leaves its node draining). Version 3 added
 * a workload's checkpoint_ms, a workspace's min_runtime_ms and the option checkpoint_aware
 * (an older snapshot loads none, none and on). Version 4 added time limits: a workload's
 * time_limit_ms and backfill_for, a workspace's default and maximum time limit (older
 * snapshots load them 0 and SCHED_NONE: none). Version 5 added the
 * topology levels (after the free workload slots) and a workload's topology_level and
 * topology_required (at the end of its record); older snapshots load with neither. Version 6
 * added the queue caps, a tenant's and a workspace's max_queued (at the end of their records;
 * older snapshots load the defaults). Version 7 dropped a workspace's queue (head, tail, priority
 * index, count) and preemptible list, and a workload's links in both: they became arrays
 * derived on load, from the pending workloads and from the running list (what older snapshots
 * hold of them is read and left unused). */
#define SCHED_SNAPSHOT_VERSION 7
#define SCHED_SNAPSHOT_OLDEST 1

/* Save s, with its events not yet cleared. OUT *buf (malloc'd; the caller frees it) and *len.
 * RET 0 or -ALLOT_ENOMEM (nothing allocated). */
int sched_snapshot_save(const struct sched *s, uint8_t **buf, size_t *len);
/* sched_snapshot_save in the format of an older version (SCHED_SNAPSHOT_OLDEST up to
 * SCHED_SNAPSHOT_VERSION), dropping what it lacks: for tests that older snapshots still load.
 * RET as sched_snapshot_save, or -ALLOT_EINVAL for a version out of that range. */
int sched_snapshot_save_version(const struct sched *s, uint32_t version, uint8_t **buf,
                                size_t *len);

/* A new engine from the len bytes of buf (any bytes: nothing is trusted). OUT *out (the
 * caller's: sched_free). RET 0; -ALLOT_EPARSE when they are not a snapshot of this version, are
 * cut short or name something out of range (err says what); -ALLOT_ECHECK when the state
 * they hold breaks an invariant of the engine (sched_check's sentence in err); -ALLOT_ENOMEM.
 * Nothing is left allocated on failure. */
int sched_snapshot_load(const void *buf, size_t len, struct sched **out, char *err, size_t elen);

#endif
