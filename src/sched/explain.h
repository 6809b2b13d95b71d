/* Why a pending workload waits, in detail (docs/policy.md, "Pending workloads explained"): its
 * positions in its workspace's queue and its tenant's FIFO, the workloads ahead of it, those
 * that hold what it waits for, and, where their ends are known, when it may start. Read-only:
 * nothing of the engine changes. */
#ifndef ALLOT_SCHED_EXPLAIN_H
#define ALLOT_SCHED_EXPLAIN_H

#include <stdint.h>

#include "sched/sched.h"

/* At most this many workloads are named in each list (the totals count them all). */
#define EXPLAIN_MAX_NAMES 10

/* X(ENUM, "name", "what it means"): the part a holder plays for the waiting workload. */
#define EXPLAIN_ROLE_TABLE(X)                                                                      \
    X(RECLAIMED, "borrower being reclaimed",                                                       \
      "a borrower told to stop to make room for it (reclaim); it starts once they are gone")       \
    X(PREEMPTED, "lower priority being preempted",                                                 \
      "told to stop to make room for it (priority); it starts once they are gone")                 \
    X(TO_RECLAIM, "borrower to reclaim",                                                           \
      "a borrowed workload of another workspace that a reclaim would stop for it")                 \
    X(HOLDS_LIMIT, "holds the workspace limit",                                                    \
      "runs in its workspace, counted against the limit")                                          \
    X(HOLDS_RESERVATION, "holds the workspace reservation",                                        \
      "runs in its workspace, within the reservation it waits for")                                \
    X(HOLDS_CAPACITY, "holds the tenant's GPUs", "runs on the nodes of its tenant")                \
    X(STARVING, "starving workload first",                                                         \
      "waited longer; the starvation guard keeps room for it first")

enum explain_role {
#define EXPLAIN_ROLE_ENUM(e, name, text) EXPLAIN_ROLE_##e,
    EXPLAIN_ROLE_TABLE(EXPLAIN_ROLE_ENUM)
#undef EXPLAIN_ROLE_ENUM
        EXPLAIN_ROLE_COUNT
};

struct explain_holder {
    uint32_t workload;
    enum explain_role role;
};

/* A pending (or reclaiming) workload explained. Positions are 1-based; 0 when it is not in
 * that queue (a reclaiming workload has left both). */
struct explain {
    uint32_t workspace_index, workspace_count; /* in its workspace's queue (count: its length) */
    uint32_t tenant_index, tenant_count;       /* in its tenant's FIFO, longest waiting first */
    uint32_t ahead[EXPLAIN_MAX_NAMES];         /* the head of its workspace's queue, first first */
    uint32_t n_ahead;                          /* named; workspace_index - 1 in all */
    struct explain_holder holders[EXPLAIN_MAX_NAMES];
    uint32_t n_holders, holders_total; /* named, and in all */
    int64_t estimated_start;           /* ms since the epoch, or -1: unknown (why says why) */
    char why[200];                     /* a sentence on the estimate, or why there is none */
};

/* The end of a running workload that the caller knows (a virtual node's run time, a time
 * limit), or -1 when it does not. */
typedef int64_t explain_known_end(void *ctx, uint32_t workload);

/* Explain pending or reclaiming workload id at time now. known_end (may be NULL: no end is
 * known) says when running workloads end. The reclaim's victims come from preempt.c's own
 * choice, run dry. Cost: O(its queues' length + its tenant's running workloads), and
 * O(workloads) when it or its tenant has draining work. OUT *out. RET 0; -ALLOT_ESTATE (id
 * neither pending nor reclaiming), -ALLOT_ENOENT (no such workload), -ALLOT_ENOMEM. */
int explain_workload(struct sched *s, uint32_t id, int64_t now, explain_known_end *known_end,
                     void *ctx, struct explain *out);

/* One pending workload of a workspace's queue with its 1-based positions (explain_queue). */
struct explain_entry {
    uint32_t workload;
    uint32_t workspace_index, tenant_index;
};

/* The pending workloads of workspace ws in queue order, skipping the first `skip`, at most max
 * of them, each with its positions in the queue and in its tenant's FIFO (as Kueue's
 * visibility API lists a queue). Cost: O(skip + max) for the queue, O(tenant's pending) for
 * the FIFO. OUT out[0..*n). RET 0; -ALLOT_ENOENT (no such workspace), -ALLOT_ENOMEM. */
int explain_queue(const struct sched *s, uint32_t ws, uint32_t skip, uint32_t max,
                  struct explain_entry *out, uint32_t *n);

/* Name of a role ("borrower to reclaim"); "unknown" out of range. */
const char *explain_role_name(enum explain_role r);

#endif
