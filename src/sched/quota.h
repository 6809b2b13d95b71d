/* Workspace accounting: what each workspace holds, drains and claims; its position against
 * its reservation (guaranteed vs borrowed); its limits; and GPU time split at the
 * reservation. The words are those of docs/policy.md. */
#ifndef ALLOT_SCHED_QUOTA_H
#define ALLOT_SCHED_QUOTA_H

#include "sched/sched.h"

/* sched_resources_get, inline: the engine's loops over resources read it for every
 * workload they look at. */
static inline int64_t quota_res(const struct sched_resources *r, enum sched_resource which)
{
    switch (which) {
    case SCHED_RES_GPU:
        return r->gpu;
    case SCHED_RES_CPU:
        return r->cpu;
    case SCHED_RES_MEMORY:
        return r->memory;
    case SCHED_RES_STORAGE:
        return r->storage;
    case SCHED_RES_COUNT:
        break;
    }
    return 0;
}

/* a += sign * b, for every resource. Inline: searches for victims call it per candidate. */
static inline void quota_add(struct sched_resources *a, const struct sched_resources *b, int sign)
{
    a->gpu += sign * b->gpu;
    a->cpu += sign * b->cpu;
    a->memory += sign * b->memory;
    a->storage += sign * b->storage;
}

/* What workspace ws holds and claims of resource r: what its limit is checked against. */
static inline int64_t quota_have(const struct sched_workspace *ws, enum sched_resource r)
{
    return quota_res(&ws->held, r) + quota_res(&ws->claimed, r);
}
/* Would ws stay within every limit with `more` added to what it holds and claims?
 * RET true, or false with *which set to the first limit that would be exceeded. Inline: every
 * admission attempt and refresh reads it. */
static inline bool quota_fits_limits(const struct sched_workspace *ws,
                                     const struct sched_resources *more, enum sched_resource *which)
{
    for (int r = 0; r < SCHED_RES_COUNT; r++) {
        int64_t limit = quota_res(&ws->limits, (enum sched_resource)r);
        if (limit == SCHED_UNLIMITED)
            continue;
        if (quota_have(ws, (enum sched_resource)r) + quota_res(more, (enum sched_resource)r) >
            limit) {
            *which = (enum sched_resource)r;
            return false;
        }
    }
    return true;
}

/* sched_workspace_position, inline. */
static inline int64_t quota_position(const struct sched_workspace *ws)
{
    return ws->held.gpu - ws->draining.gpu + ws->claimed.gpu;
}
/* GPU units the workspace ws may borrow now: the tenant's free units less the idle
 * reservations of the other workspaces that do not lend. */
int64_t quota_borrowable(const struct sched *s, uint32_t ws);
/* The idle reservations of tenant tid's workspaces that do not lend, in all: what
 * quota_borrowable takes from the free units, with ws's own. */
int64_t quota_idle_unlent(const struct sched *s, uint32_t tid);
/* quota_borrowable of ws, given quota_idle_unlent of its tenant as it is now. */
int64_t quota_borrowable_given(const struct sched *s, uint32_t ws, int64_t idle);
/* Add GPU time from ws->acct_ms up to now to its guaranteed and borrowed totals. Call
 * before anything changes what it holds or reserves. */
void quota_account(struct sched_workspace *ws, int64_t now);
/* Does ws keep more than a limit allows once its draining workloads are gone and its
 * reclaiming ones run (held - draining + claimed)? RET true with *which, the first such
 * resource. */
bool quota_over_limits(const struct sched_workspace *ws, enum sched_resource *which);
/* Re-evaluate whether tenant tid's healthy GPUs still cover its reservations and report a
 * change either way (reservation_degraded / reservation_restored events). */
void quota_degraded_check(struct sched *s, uint32_t tid, int64_t now);

#endif
