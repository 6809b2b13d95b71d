/* The controller's snapshots (docs/store.md, "Snapshots"): the engine saved whole
 * (sched/snapshot.h) and the controller's own records of workloads as JSON (owner, the spec as
 * submitted, exit, attempts, a gang's ended replicas, the sentence of its queue reason,
 * idempotency keys, the counters that a
 * replay rebuilds), written to the store after every opt.snapshot_every committed ops and when
 * the daemon stops. A start loads the newest snapshot that loads (else the older one kept) and
 * replays only the journal after it; the store trims the journal before the older one. */
#ifndef ALLOT_ALLOTD_SNAPSHOT_H
#define ALLOT_ALLOTD_SNAPSHOT_H

#include <stdint.h>

struct controller;

/* Default of --snapshot-every: committed ops between two snapshots. */
#define SNAPSHOT_EVERY_DEFAULT 10000
/* The version of the controller's part (the engine's has its own). */
#define SNAPSHOT_RECORDS_VERSION 2

/* Write a snapshot of ctl's committed state now (nothing may be pending). RET 0, or a negative
 * error, logged; the store then keeps what it had (the journal is trimmed only with a
 * snapshot written). */
int snapshot_take(struct controller *ctl);

/* Before the journal's replay at start: install the newest snapshot that loads and covers the
 * journal's start (else the older one) as ctl's engine and records. OUT *after_seq: the
 * journal entry it covers, where the replay begins (0 when none is used: the whole journal).
 * RET 0; -ALLOT_ECONFIG when the journal has been trimmed and no snapshot that covers its
 * start loads (the state cannot be rebuilt; logged with each snapshot's reason); -ALLOT_EIO,
 * -ALLOT_ENOMEM. */
int snapshot_restore(struct controller *ctl, int64_t *after_seq);

#endif
