/* Virtual nodes: without node agents (allotd's default), an admitted workload runs no
 * process; a timer finishes it after its `duration` (or fails it at its time limit), and one
 * stops a drained workload at its
 * deadline, both as ops, so that the journal holds what happened. */
#ifndef ALLOT_ALLOTD_VNODE_H
#define ALLOT_ALLOTD_VNODE_H

#include <stdbool.h>
#include <stdint.h>

struct controller;
struct vnodes;

/* The virtual nodes of ctl (which must outlive them). OUT *out, owned by the caller
 * (vnodes_free). RET 0 or -ALLOT_ENOMEM. */
int vnodes_new(struct controller *ctl, struct vnodes **out);
/* Cancel every timer and free them. Accepts NULL. */
void vnodes_free(struct vnodes *v);
/* Cancel every timer (the state they were armed for is being rebuilt). */
void vnodes_clear(struct vnodes *v);

/* Workload id finishes (stop false) or, told to stop, exits (stop true) at at_ms (wall
 * clock). Nothing without virtual nodes or during a replay (the journal holds the exits;
 * vnodes_rearm follows it); a timer that cannot be armed is dropped (out of memory). */
void vnodes_arm(struct vnodes *v, uint32_t id, int64_t at_ms, bool stop);
/* Running workload id, started at start_ms, ends at the first of its duration (it finishes)
 * and its time limit (it fails, reason time_limit: docs/policy.md, "Time limits and
 * backfill"): arm that end, if it has either. */
void vnodes_arm_run(struct vnodes *v, uint32_t id, int64_t start_ms);
/* After a replay: arm the timers of what runs or drains. */
void vnodes_rearm(struct vnodes *v);

#endif
