/* Why a workload waits, was rejected or is being stopped: one table of machine-readable
 * reasons (the names in the JSON output and docs/policy.md) with their error codes. */
#ifndef ALLOT_SCHED_REASON_H
#define ALLOT_SCHED_REASON_H

/* X(ENUM, "name", error for rejections (0 otherwise), "what it means") */
#define SCHED_REASON_TABLE(X)                                                                      \
    X(NONE, "none", 0, "no reason")                                                                \
    /* queued */                                                                                   \
    X(WORKSPACE_LIMIT, "workspace_limit", 0, "admitting it now would exceed a workspace limit")    \
    X(RESERVATION_FULL, "reservation_full", 0,                                                     \
      "non-preemptible work runs only within the reservation, which is in use")                    \
    X(BORROW_UNAVAILABLE, "borrow_unavailable", 0,                                                 \
      "it needs to borrow more GPUs than are idle and lendable in the tenant")                     \
    X(NO_CAPACITY, "no_capacity", 0, "quota allows it, but no set of nodes has room for it now")   \
    X(RECLAIMING, "reclaiming", 0, "borrowed GPUs are being reclaimed for it; they are draining")  \
    X(RECLAIM_BLOCKED, "reclaim_blocked", 0,                                                       \
      "within its reservation, but no borrowed workload can be preempted to make room")            \
    X(CAPACITY_DEGRADED, "capacity_degraded", 0,                                                   \
      "the tenant's healthy GPUs are fewer than its reservations")                                 \
    X(STARVATION_GUARD, "starvation_guard", 0,                                                     \
      "nodes with room are set aside (or borrowing paused) for a workload that waited too long")   \
    /* rejected */                                                                                 \
    X(INVALID_REQUEST, "invalid_request", ALLOT_EINVAL, "the request is malformed")                \
    X(UNKNOWN_WORKSPACE, "unknown_workspace", ALLOT_ENOENT, "no such workspace")                   \
    X(EXCEEDS_LIMIT, "exceeds_limit", ALLOT_ELIMIT, "the request alone exceeds a workspace limit") \
    X(EXCEEDS_RESERVATION, "exceeds_reservation", ALLOT_EREJECTED,                                 \
      "a non-preemptible workload larger than its workspace's reservation")                        \
    X(NEVER_FITS, "never_fits", ALLOT_ENOFIT, "no node the tenant owns could ever hold it")        \
    X(MIG_UNSUPPORTED, "mig_unsupported", ALLOT_ENOFIT,                                            \
      "no GPU the tenant owns offers that MIG profile")                                            \
    X(IMAGE_REQUIRED, "image_required", ALLOT_EINVAL,                                              \
      "its workspace or tenant requires an image (require_image) and it names none")               \
    /* preempted or stopped */                                                                     \
    X(RECLAIM, "reclaim", 0, "its borrowed GPUs are reclaimed by the reserving workspace")         \
    X(PRIORITY, "priority", 0, "preempted for a higher-priority workload of its workspace")        \
    X(NODE_DOWN, "node_down", 0, "its node went down")                                             \
    X(GPU_UNHEALTHY, "gpu_unhealthy", 0, "one of its GPUs became unhealthy")                       \
    X(LIMIT_REDUCED, "limit_reduced", 0, "its workspace's limit was lowered below its usage")      \
    X(CANCELLED, "cancelled", 0, "cancelled by a user")                                            \
    /* queued (last: snapshots of earlier versions keep their values) */                           \
    X(MIN_RUNTIME, "min_runtime", 0,                                                               \
      "lower-priority work that could make room has not run its workspace's min_runtime")          \
    /* failed, rejected (appended likewise) */                                                     \
    X(TIME_LIMIT, "time_limit", 0, "its run reached its time limit and was stopped")               \
    X(EXCEEDS_TIME_LIMIT, "exceeds_time_limit", ALLOT_EINVAL,                                      \
      "its time limit is above its workspace's max_time_limit")                                    \
    /* queued (appended likewise) */                                                               \
    X(TOPOLOGY, "topology", 0,                                                                     \
      "a gang that requires one topology domain: no domain of that level has room for it now")

enum sched_reason {
#define SCHED_REASON_ENUM(e, name, err, text) SCHED_REASON_##e,
    SCHED_REASON_TABLE(SCHED_REASON_ENUM)
#undef SCHED_REASON_ENUM
        SCHED_REASON_COUNT
};

/* Machine-readable name ("no_capacity"); never NULL. */
const char *reason_name(enum sched_reason r);
/* One-line meaning, for documentation and help. */
const char *reason_text(enum sched_reason r);
/* Positive error code a rejection with this reason returns (negated), or 0. */
int reason_error(enum sched_reason r);
/* RET: 0 and *r, or -ALLOT_ENOENT. */
int reason_parse(const char *name, enum sched_reason *r);

#endif
