/* The engine's private parts, shared by its files and hidden from programs: the scratch
 * state of placement searches with victims, the record of a broken invariant, and helpers
 * for growing arrays and checking names. Nothing outside src/sched/ includes this. */
#ifndef ALLOT_SCHED_ENGINE_H
#define ALLOT_SCHED_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"

/* What a placement search with victims counts on one node: the resources that the
 * workloads marked as victims hold there. */
struct engine_node_marks {
    int64_t victim_cpu, victim_memory;
    uint32_t victim_whole;
    /* of those, the ones a search may use (whole, healthy, unclaimed: slot_usable), counted
     * for victims of one replica as they were marked (victim_usable_of) ... */
    uint32_t victim_usable;
    uint32_t victim_gangs; /* ... and the replicas of marked victims of more than one */
};

/* A topology domain as a gang's placement search counts it (topology.c): its room (free
 * whole GPUs, with the marked victims', for a whole-GPU request; else free GPU units or CPU)
 * and the replicas its nodes could take by whole GPUs alone (UINT32_MAX: not counted). */
struct engine_domain_room {
    int64_t room;
    uint32_t fits;
    uint32_t domain;
};

/* Most workloads a refresh reads (admission.c's PASS_REFRESH_DEPTH). */
#define ENGINE_REFRESH_DEPTH 32

/* What the admission pass last found when it refreshed the queue reasons of a stretch of an
 * exhausted workspace's queue (admission.c, pass_exhaust), valid while everything those
 * reasons depend on is as it was: the same refresh would then change nothing, and is
 * skipped. */
struct engine_refresh {
    bool valid; /* cleared by engine_refresh_touch when its stretch changes */
    /* the stretch, in queue order (valid: at least one): a refresh from a cursor within it
     * or before it reads only the workloads that are not in it */
    uint32_t ids[ENGINE_REFRESH_DEPTH];
    uint32_t n_ids;
    bool to_end;        /* it ended with the queue: a workload queued after last joins it */
    uint32_t held_by;   /* the pass's starvation guard ... */
    uint32_t fence_for; /* ... and its tenant's fence: the workload, or SCHED_NONE for none */
    struct sched_resources limits;
    int64_t reserved;
    /* the same quota outcomes while what the workspace holds and claims of each resource
     * stays in [have_lo, have_hi] (its limits) and its position in [pos_lo, pos_hi] (its
     * reservation) */
    int64_t have_lo[SCHED_RES_COUNT], have_hi[SCHED_RES_COUNT];
    int64_t pos_lo, pos_hi;
    /* the same quota outcomes for any borrowable capacity in [borrow_lo, borrow_hi) */
    int64_t borrow_lo, borrow_hi;
    /* every workload that passed the quota checks found no free capacity that could fit
     * it: the smallest of their requests, by kind (whole GPUs per replica and in all, MIG
     * units), which must still not fit */
    uint32_t min_gpus;
    uint64_t min_whole;
    int64_t min_mig;
};

/* Working state of the admission pass. Between passes every mark is clear. */
struct sched_scratch {
    bool *victim_mark; /* per workload: counted as free in a placement search */
    bool *avoid_fence; /* per workload: a borrower being placed: fenced nodes are not used */
    /* per workload: a marked victim of one replica: what it added to its node's
     * victim_usable */
    uint8_t *victim_usable_of;
    uint32_t cap_workloads;
    struct engine_node_marks *node; /* per node */
    uint32_t cap_nodes;
    /* victim_whole of the marked victims' nodes again, by the node's tenant_pos (victims
     * are all of one tenant): placement reads it beside the tenant's node_free */
    uint8_t *victim_by_pos;
    uint32_t cap_pos;
    int64_t victim_whole;           /* whole GPUs the victim-marked workloads hold */
    struct engine_refresh *refresh; /* per workspace */
    uint32_t cap_workspaces;
    uint32_t *candidates;             /* victim candidate lists */
    struct victim_cand *victim_cands; /* what a choice of victims reads of each (preempt.c) */
    uint32_t cap_victim_cands;
    uint32_t cap_candidates;
    struct engine_domain_room *rooms; /* the domains a topology search weighs */
    uint32_t *room_of;                /* per domain: 1 + its index in rooms, 0 (clear) */
    uint32_t cap_rooms;               /* of both */
    char broken[256];                 /* the first invariant found broken, or "" */
    /* the reclaiming workload into whose unheld claimed slots the placement being searched
     * may go (backfill), or SCHED_NONE (placement_claim_backfill) */
    uint32_t backfill_claimant;
    bool backfilled; /* the last placement_claim took a slot of backfill_claimant */
    /* for tests: the searches that keep what they learnt to shorten the next look search in
     * full: every fit a search for victims asks about is a search of every node (preempt.c,
     * fit_track) that reads every GPU of a victim's node (struct engine_node_marks), the
     * pass sorts its workspaces' heads again for each next workload (admission.c,
     * pass_next), what a workspace may borrow is found afresh each time (pass_borrowable,
     * preempt_priority), and a choice of victims sorts every lost order rather than taking
     * an order already in it as it (preempt.c, victims_choose). A differential test
     * holds the two the same. */
    bool searches_in_full;
};

/* A name is 1 to 127 printable characters without spaces or quotes. RET 0, or -ALLOT_EINVAL
 * with a sentence naming `what` in err. */
int engine_name_check(const char *name, const char *what, char *err, size_t len);

/* Workload id has just been queued in its workspace, is about to be taken off the queue, or
 * has a new queue reason: a refresh memo of that workspace whose stretch holds it (by queue
 * order, queue_before) no longer stands for it, nor one whose stretch reached the queue's end
 * when id is queued after it. A change elsewhere in the queue leaves the
 * memo standing: its stretch reads the same workloads as before. */
void engine_refresh_touch(struct sched *s, uint32_t id);
/* Workload id is about to be taken off its workspace's queue: a refresh memo of that workspace
 * whose stretch holds it stands for the rest of its stretch, which a refresh from its first
 * reads as before, one workload further (a stretch that stopped short of the queue's end, or
 * the depth, reads the rest from the queue); the memo of a stretch that would have it
 * without holding it ends (engine_refresh_touch). */
void engine_refresh_leave(struct sched *s, uint32_t id);
/* Size the scratch state for every workload and node of s (new marks clear). Call before a
 * pass. RET 0 or -ALLOT_ENOMEM, nothing changed. */
int engine_scratch_reserve(struct sched *s);
/* Room for n victim candidates in s->scratch->candidates. RET 0 or -ALLOT_ENOMEM. */
int engine_candidates_reserve(struct sched *s, uint32_t n);
/* Room for n domains in s->scratch->rooms and room_of. RET 0 or -ALLOT_ENOMEM. */
int engine_rooms_reserve(struct sched *s, uint32_t n);
/* Free the scratch state. Accepts NULL. */
void engine_scratch_free(struct sched_scratch *x);

/* An invariant of the engine does not hold (a bug, or a state corrupted from outside): record
 * the sentence (printf format) naming it, for sched_broken, unless one is recorded already.
 * The caller stops at once and returns what this returns. RET -ALLOT_ECHECK. */
int engine_broken(struct sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
