/* The admission pass (sched_schedule): in each changed tenant, pending workloads are taken
 * in policy order and each is admitted, sent to reclaim, or left queued with its reason.
 * The rules and their order are those of docs/policy.md, "Admission". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/event.h"
#include "sched/fence.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/preempt.h"
#include "sched/queue.h"
#include "sched/quota.h"
#include "sched/sched.h"
#include "sched/topology.h"

/* What one admission attempt came to. */
enum attempt {
    ATTEMPT_ADMITTED, /* running, or reclaiming room for it */
    ATTEMPT_QUOTA,    /* held back by its own workspace (limits, reservation) */
    ATTEMPT_CAPACITY, /* held back by capacity: may starve, see tenant_pass */
    ATTEMPT_HELD,     /* held back by the starvation guard */
    ATTEMPT_BROKEN,   /* an engine invariant is broken (sched_broken): the pass stops */
};

/* What one pass over a tenant remembers. Within a pass capacity only shrinks (admissions
 * and claims take it; drains free nothing until the victims stop), so an attempt that
 * failed stays failed for every later request at least as large: these memos skip the
 * costly searches (reclaim, priority preemption) that cannot succeed. They apply only
 * between whole-GPU requests of no particular model, where "larger" is well defined. */
/* Priority preemption is tried for at most this many workloads of a workspace per pass: it
 * is a search over the workspace's running work, and later passes try the next ones. */
#define PASS_PREEMPT_TRIES 2

struct pass_ws {
    uint32_t cursor; /* next pending workload to consider, or SCHED_NONE */
    bool exhausted;  /* workspace_exhausted: the rest of its queue only gets its reasons */
    /* pass_before's inputs for the cursor, valid while key_gen == pass.gen */
    uint64_t key_gen;
    uint32_t key_cursor;
    int key_class;
    int64_t key_borrowed;
    uint32_t preempt_tries;   /* priority preemptions tried in this pass */
    bool preempt_failed;      /* priority preemption failed for ... */
    int32_t preempt_priority; /* ... a workload of this priority ... */
    int64_t preempt_need;     /* ... asking for this many GPU units */
    /* quota_borrowable of the workspace, valid while borrowable_gen == pass.gen + 1 */
    int64_t borrowable;
    uint64_t borrowable_gen;
};

/* Kinds of request (whole GPUs, or each MIG profile, per model) whose failed placements a
 * pass remembers. */
#define PASS_PLACE_MEMOS 4
/* Reclaiming workloads whose claims a backfill may try, per tenant and pass, at most. */
#define PASS_CLAIMANTS 8

struct pass {
    struct pass_ws *ws; /* one per workspace of the tenant, in tenant order */
    uint64_t gen;       /* bumped by every admission, reclaim or preemption in the pass */
    uint64_t order_gen; /* pass_next's list is in order for generation order_gen - 1 */
    bool in_full;       /* the scratch's searches_in_full (for tests) */
    bool reclaim_failed;
    int64_t reclaim_need;
    /* placements on free capacity that failed in this pass, one per kind of request */
    struct place_memo {
        bool used;
        int16_t mig, model; /* the kind: MIG profile (or -1 for whole GPUs) and model */
        int8_t level;       /* and memo_level: -1, or the level of a gang that requires a domain */
        uint32_t gpus, replicas;
        int64_t cpu, memory;
    } place[PASS_PLACE_MEMOS];
    /* the same for borrowers kept off the nodes fenced for a starving workload: they see
     * less capacity, so their failures say nothing about the others' */
    struct place_memo fenced_place[PASS_PLACE_MEMOS];
    /* quota_idle_unlent of the tenant, valid while idle_gen == gen + 1 (pass_borrowable) */
    int64_t idle;
    uint64_t idle_gen;
    /* fence_shadow of the tenant, valid while shadow_gen == gen + 1 */
    int64_t shadow;
    uint64_t shadow_gen;
    /* backfill into reclaims' claims (claim_backfill), valid while claims_gen == gen + 1:
     * the claimants with unheld slots and their shadow times, the latest of those, and the
     * requests (with the end they are sure of) that found no room in them */
    uint64_t claims_gen;
    uint32_t n_claimants;
    uint32_t claimants[PASS_CLAIMANTS];
    int64_t claimant_shadow[PASS_CLAIMANTS], claims_latest;
    struct claim_memo {
        struct place_memo m;
        int64_t end_by;
    } claim_failed[PASS_PLACE_MEMOS];
};

/* The topology level a placement of w is bound to: that of a gang that requires one domain
 * (its failure says nothing of others), else -1 (a gang that prefers a domain ends with a
 * search anywhere, as a plain request). */
static int8_t memo_level(const struct sched_workload *w)
{
    return topology_applies(w) && w->topology_required ? w->topology_level : -1;
}

/* Is a no larger than b in every dimension (same kind)? */
static bool request_within(const struct sched_workload *a, const struct place_memo *b)
{
    return a->mig == b->mig && a->model == b->model && memo_level(a) == b->level &&
           a->gpus <= b->gpus && a->replicas <= b->replicas && a->cpu <= b->cpu &&
           a->memory <= b->memory;
}

/* Would placement surely fail for w, being no smaller in any way than a request of its kind
 * that failed in this pass? */
static bool placement_hopeless(const struct pass *p, const struct sched_workload *w, bool fenced)
{
    for (int i = 0; i < PASS_PLACE_MEMOS; i++) {
        const struct place_memo *m = fenced ? &p->fenced_place[i] : &p->place[i];
        /* a failure anywhere dooms a gang bound to a domain as well, not the reverse */
        if (m->used && w->mig == m->mig && w->model == m->model &&
            (m->level < 0 || m->level == memo_level(w)) && w->gpus >= m->gpus &&
            w->replicas >= m->replicas && w->cpu >= m->cpu && w->memory >= m->memory)
            return true;
    }
    return false;
}

/* Remember that placing w failed: the smallest failure of each kind is kept. */
static void placement_failed(struct pass *p, const struct sched_workload *w, bool fenced)
{
    struct place_memo *memo = fenced ? p->fenced_place : p->place, *slot = NULL;
    for (int i = 0; i < PASS_PLACE_MEMOS && !slot; i++)
        if (!memo[i].used ||
            (memo[i].mig == w->mig && memo[i].model == w->model && memo[i].level == memo_level(w)))
            slot = &memo[i];
    if (!slot || (slot->used && !request_within(w, slot)))
        return;
    *slot = (struct place_memo){true,    w->mig,      w->model, memo_level(w),
                                w->gpus, w->replicas, w->cpu,   w->memory};
}

/* Free capacity the request could use at all: whole GPUs for whole requests (and a node
 * with enough of them for one replica), slices for MIG requests. */
static bool free_enough(const struct sched_tenant *t, const struct sched_workload *w)
{
    if (w->mig >= 0)
        return t->free_units - (int64_t)t->free_whole * QUANTITY_GPU_UNITS >= w->total.gpu;
    return (uint64_t)w->gpus * w->replicas <= t->free_whole &&
           w->gpus <= placement_max_free_whole(t);
}

/* Whole GPUs of any model, on any nodes: the requests the memos of struct pass compare. */
static bool plain_request(const struct sched_workload *w)
{
    return w->mig < 0 && w->model < 0 && !topology_applies(w);
}

/* Class 0: fits entirely within its workspace's reservation (guaranteed); class 1 borrows. */
static int candidate_class(const struct sched *s, const struct sched_workload *w)
{
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    return quota_position(ws) + w->total.gpu <= ws->reserved ? 0 : 1;
}

/* Policy order of two pending workloads of one tenant: guaranteed before borrowing; among
 * borrowers, starving ones first, then the workspace with the least borrowed GPUs per unit
 * of weight; then priority, then submission order.
 * Compares the workloads at two cursors of a pass (tenant t's workspaces i and j) on the
 * keys cached in them. */
static bool pass_before(const struct sched *s, const struct sched_tenant *t,
                        const struct pass_ws *a, uint32_t i, const struct pass_ws *b, uint32_t j)
{
    const struct sched_workload *wa = &s->workloads[a->cursor], *wb = &s->workloads[b->cursor];
    if (a->key_class != b->key_class)
        return a->key_class < b->key_class;
    if (a->key_class == 1) {
        if (wa->starving != wb->starving)
            return wa->starving;
        __int128 sa = (__int128)a->key_borrowed * s->workspaces[t->workspaces[j]].weight;
        __int128 sb = (__int128)b->key_borrowed * s->workspaces[t->workspaces[i]].weight;
        if (sa != sb)
            return sa < sb;
    }
    return queue_before(wa, wb);
}

/* GPU units workspace ws could ever get by borrowing, once everything that can end or be
 * preempted elsewhere has: the tenant's healthy units less, for each other workspace, what
 * its non-preemptible workloads hold (they may serve forever) and, if it does not lend,
 * the rest of its reservation. */
static int64_t attainable(const struct sched *s, uint32_t ws)
{
    const struct sched_tenant *t = &s->tenants[s->workspaces[ws].tenant];
    int64_t units = t->healthy_units;
    for (uint32_t i = 0; i < t->n_workspaces; i++) {
        const struct sched_workspace *o = &s->workspaces[t->workspaces[i]];
        if (t->workspaces[i] == ws)
            continue;
        units -= !o->lend && o->reserved > o->held_fixed ? o->reserved : o->held_fixed;
    }
    return units;
}

static bool tenant_has_borrowers(const struct sched *s, const struct sched_tenant *t)
{
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        if (sched_workspace_borrowed(&s->workspaces[t->workspaces[i]]) > 0)
            return true;
    return false;
}

/* Try to admit pending workload id. held_by: the starving workload that pauses borrowing in
 * its tenant, or SCHED_NONE. */
/* Steps 1 to 3 of admission (docs/policy.md): workspace limits, reserved capacity,
 * borrowable capacity. RET the reason that holds workload id back, or SCHED_REASON_NONE;
 * the sentence goes to msg only when the reason differs from the one last reported (the
 * message is only ever shown on a change). *within: the request fits in its reservation.
 * borrowable: quota_borrowable of its workspace if the caller knows it, else -1. */
static enum sched_reason quota_check(const struct sched *s, uint32_t id, uint32_t held_by,
                                     int64_t borrowable, int64_t now, bool *within, char *msg,
                                     size_t len)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    char a[32], b[32], c[32];
    enum sched_resource which;
    int64_t pos = quota_position(ws);
    *within = pos + w->total.gpu <= ws->reserved;
    if (!quota_fits_limits(ws, &w->total, &which)) {
        if (w->reason != SCHED_REASON_WORKSPACE_LIMIT)
            snprintf(
                msg, len, "workspace %s holds %s of its %s %s limit; this workload needs %s more",
                ws->name,
                sched_resource_format(which,
                                      sched_resources_get(&ws->held, which) +
                                          sched_resources_get(&ws->claimed, which),
                                      a, sizeof(a)),
                sched_resource_format(which, sched_resources_get(&ws->limits, which), b, sizeof(b)),
                sched_resource_name(which),
                sched_resource_format(which, sched_resources_get(&w->total, which), c, sizeof(c)));
        return SCHED_REASON_WORKSPACE_LIMIT;
    }
    if (!w->preemptible && !*within) {
        if (w->reason != SCHED_REASON_RESERVATION_FULL)
            snprintf(msg, len,
                     "non-preemptible work runs only within the reservation: %s of %s reserved "
                     "GPUs of %s are in use, it needs %s",
                     quantity_format_gpu(pos, a, sizeof(a)),
                     quantity_format_gpu(ws->reserved, b, sizeof(b)), ws->name,
                     quantity_format_gpu(w->total.gpu, c, sizeof(c)));
        return SCHED_REASON_RESERVATION_FULL;
    }
    if (*within)
        return SCHED_REASON_NONE;
    if (held_by != SCHED_NONE && held_by != id) {
        if (w->reason != SCHED_REASON_STARVATION_GUARD)
            snprintf(msg, len,
                     "borrowing in tenant %s is paused until %s, which has waited %s, runs",
                     t->name, s->workloads[held_by].name,
                     quantity_format_duration(now - s->workloads[held_by].queued_ms, a, sizeof(a)));
        return SCHED_REASON_STARVATION_GUARD;
    }
    int64_t avail = borrowable >= 0 ? borrowable : quota_borrowable(s, w->workspace);
    if (avail < w->total.gpu) {
        if (w->reason != SCHED_REASON_BORROW_UNAVAILABLE)
            snprintf(msg, len,
                     "needs %s GPU%s beyond what %s has reserved; only %s of tenant %s can be "
                     "borrowed now",
                     quantity_format_gpu(w->total.gpu, a, sizeof(a)),
                     w->total.gpu == QUANTITY_GPU_UNITS ? "" : "s", ws->name,
                     quantity_format_gpu(avail > 0 ? avail : 0, b, sizeof(b)), t->name);
        return SCHED_REASON_BORROW_UNAVAILABLE;
    }
    return SCHED_REASON_NONE;
}

static enum attempt attempt_admit_fenced(struct sched *s, uint32_t id, uint32_t held_by,
                                         struct pass *p, struct pass_ws *pw, int64_t now);

/* Try to admit pending workload id (steps 1 to 6 of docs/policy.md). held_by: the starving
 * workload that pauses borrowing in its whole tenant, or SCHED_NONE (also when a fence
 * keeps borrowers off its nodes instead). */
static enum attempt attempt_admit(struct sched *s, uint32_t id, uint32_t held_by, struct pass *p,
                                  struct pass_ws *pw, int64_t now)
{
    enum attempt r = attempt_admit_fenced(s, id, held_by, p, pw, now);
    s->scratch->avoid_fence[id] = false;
    return r;
}

/* Does some workspace of tenant t claim GPUs for a reclaim (that a backfill might use)? */
static bool tenant_claims(const struct sched *s, const struct sched_tenant *t)
{
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        if (s->workspaces[t->workspaces[i]].claimed.gpu > 0)
            return true;
    return false;
}

/* The claimants of tenant t a backfill may use in this pass (placement_claimants with their
 * shadow times, placement_claim_shadow), found once per admission. */
static void claims_refresh(const struct sched *s, struct pass *p, const struct sched_tenant *t)
{
    if (p->claims_gen == p->gen + 1)
        return;
    p->claims_gen = p->gen + 1;
    p->n_claimants =
        tenant_claims(s, t) ? placement_claimants(s, t, p->claimants, PASS_CLAIMANTS) : 0;
    p->claims_latest = -1;
    for (uint32_t i = 0; i < p->n_claimants; i++) {
        p->claimant_shadow[i] = placement_claim_shadow(s, p->claimants[i]);
        if (p->claimant_shadow[i] > p->claims_latest)
            p->claims_latest = p->claimant_shadow[i];
    }
    memset(p->claim_failed, 0, sizeof(p->claim_failed));
}

/* Might work w, sure to be gone by end_by, backfill into a claim of its tenant now: some
 * claimant's shadow time is end_by or later, and no request of its kind no larger, sure of
 * an end no later, failed to since the last admission? */
static bool claim_backfill_may(const struct sched *s, struct pass *p,
                               const struct sched_workload *w, int64_t end_by)
{
    if (w->time_limit_ms <= 0)
        return false;
    claims_refresh(s, p, &s->tenants[w->tenant]);
    if (p->claims_latest < 0 || end_by > p->claims_latest)
        return false;
    for (int i = 0; i < PASS_PLACE_MEMOS; i++) {
        const struct claim_memo *c = &p->claim_failed[i];
        if (c->m.used && w->mig == c->m.mig && w->model == c->m.model &&
            (c->m.level < 0 || c->m.level == memo_level(w)) && w->gpus >= c->m.gpus &&
            w->replicas >= c->m.replicas && w->cpu >= c->m.cpu && w->memory >= c->m.memory &&
            end_by >= c->end_by)
            return false;
    }
    return true;
}

/* Backfill w (id) into the claim of a reclaiming workload of its tenant whose shadow time
 * is end_by or later (docs/policy.md, "Time limits and backfill"). OUT *claimant: the one
 * whose slots it took (SCHED_NONE: it found room without). RET 0 (placed), or -ALLOT_ENOFIT,
 * remembered for the pass. */
static int claim_backfill(struct sched *s, struct pass *p, uint32_t id, int64_t end_by,
                          uint32_t *claimant)
{
    const struct sched_workload *w = &s->workloads[id];
    for (uint32_t i = 0; i < p->n_claimants; i++) {
        bool used;
        if (p->claimant_shadow[i] < end_by ||
            placement_claim_into(s, id, p->claimants[i], &used) != 0)
            continue;
        *claimant = used ? p->claimants[i] : SCHED_NONE;
        return 0;
    }
    struct claim_memo *slot = NULL;
    for (int i = 0; i < PASS_PLACE_MEMOS && !slot; i++)
        if (!p->claim_failed[i].m.used ||
            (p->claim_failed[i].m.mig == w->mig && p->claim_failed[i].m.model == w->model &&
             p->claim_failed[i].m.level == memo_level(w)))
            slot = &p->claim_failed[i];
    if (slot && (!slot->m.used || (request_within(w, &slot->m) && end_by <= slot->end_by)))
        *slot = (struct claim_memo){
            {true, w->mig, w->model, memo_level(w), w->gpus, w->replicas, w->cpu, w->memory},
            end_by};
    return -ALLOT_ENOFIT;
}

/* docs/policy.md, "Time limits and backfill": may borrower w, kept off the fence of its
 * tenant t, go on the fenced nodes? Only with a time limit that has it gone (start now)
 * by the fence's shadow time, which must be known. The shadow is kept for the pass until
 * the next admission. */
static bool fence_backfill(const struct sched *s, struct pass *p, const struct sched_tenant *t,
                           const struct sched_workload *w, int64_t now)
{
    if (w->time_limit_ms <= 0)
        return false;
    if (p->shadow_gen != p->gen + 1) {
        p->shadow = fence_shadow(s, t, now);
        p->shadow_gen = p->gen + 1;
    }
    return p->shadow >= 0 && now + w->time_limit_ms + w->grace_ms <= p->shadow;
}

/* Start workload id on the placement it claimed, linked to claimant (a backfill into its
 * claim: it waits for id too), or SCHED_NONE. RET 1 (running) or -ALLOT_ECHECK with
 * nothing of it left. */
static int admit_start(struct sched *s, uint32_t id, uint32_t claimant, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    if (claimant != SCHED_NONE) {
        w->backfill_for = claimant;
        s->workloads[claimant].waiting_on++;
    }
    int rc = lifecycle_start(s, id, now);
    if (rc) {
        placement_unclaim(s, id); /* it did not start: nothing of it stays */
        if (claimant != SCHED_NONE) {
            w->backfill_for = SCHED_NONE;
            s->workloads[claimant].waiting_on--;
        }
    }
    return rc ? rc : 1;
}

/* Step 4, node ownership and real-time availability: place workload id on free capacity of
 * its tenant's ready nodes and start it. within: it fits in its reservation. A borrower
 * stays off the nodes set aside for a starving workload unless its time limit ends it
 * before their shadow time (fence_backfill); work within its reservation uses them only when
 * nothing else has room, so that they empty. Failing that, work with a time limit may go on
 * GPUs claimed for a reclaim and not yet held, when it is gone by the claimant's shadow time
 * (placement_claim_backfill). Leaves avoid_fence set as the later steps need it. RET 1
 * (running), 0 (no room), or -ALLOT_ECHECK. */
static int admit_on_free(struct sched *s, uint32_t id, struct pass *p, bool within, int64_t now)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    bool *avoid = &s->scratch->avoid_fence[id];
    bool spare = within && t->n_fence > 0 && t->held_by != id;
    *avoid = fence_applies(s, id, within);
    bool backfill = *avoid && fence_backfill(s, p, t, w, now);
    bool placed = false;
    if (free_enough(t, w) && !placement_hopeless(p, w, *avoid && !backfill)) {
        *avoid = *avoid || spare || backfill; /* elsewhere first */
        placed = placement_claim(s, id) == 0;
        if (!placed) {
            *avoid = fence_applies(s, id, within) && !backfill;
            placed = (spare || backfill) && placement_claim(s, id) == 0;
        }
        if (!placed)
            placement_failed(p, w, *avoid);
    }
    uint32_t claimant = SCHED_NONE;
    int64_t end_by = now + w->time_limit_ms + w->grace_ms;
    if (!placed && claim_backfill_may(s, p, w, end_by)) {
        *avoid = fence_applies(s, id, within) && !backfill;
        placed = claim_backfill(s, p, id, end_by, &claimant) == 0;
    }
    return placed ? admit_start(s, id, claimant, now) : 0;
}

/* Step 5, reclaim, for workload id within its reservation: borrowed work of the other
 * workspaces is stopped to make room. RET 1 (running or reclaiming), 0 with *why set to what
 * holds it back (capacity_degraded, reclaim_blocked; none when the later steps decide) and
 * the sentence in msg, or -ALLOT_ECHECK. */
static int admit_by_reclaim(struct sched *s, uint32_t id, struct pass *p, int64_t now,
                            enum sched_reason *why, char *msg, size_t len)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    char a[32], b[32];
    int rc = -ALLOT_ENOFIT;
    bool hopeless = p->reclaim_failed && plain_request(w) && w->total.gpu >= p->reclaim_need;
    *why = SCHED_REASON_NONE;
    if (!hopeless && tenant_has_borrowers(s, t)) {
        rc = preempt_reclaim(s, id, now);
        if (rc == -ALLOT_ENOFIT && plain_request(w) &&
            (!p->reclaim_failed || w->total.gpu < p->reclaim_need)) {
            p->reclaim_failed = true;
            p->reclaim_need = w->total.gpu;
        }
    }
    if (rc == -ALLOT_ECHECK)
        return rc;
    if (rc == 0) {
        if (w->state == SCHED_RECLAIMING) {
            snprintf(msg, len, "reclaiming borrowed GPUs of tenant %s: %u workload(s) are draining",
                     t->name, w->waiting_on);
            lifecycle_queue_reason(s, id, SCHED_REASON_RECLAIMING, msg, now);
        }
        return 1;
    }
    if (rc == -ALLOT_ENOMEM)
        s->oom = true;
    if (t->degraded) {
        if (w->reason != SCHED_REASON_CAPACITY_DEGRADED)
            snprintf(msg, len,
                     "tenant %s has %s healthy GPUs for %s reserved; its reservations cannot "
                     "all be honoured now",
                     t->name, quantity_format_gpu(t->healthy_units, a, sizeof(a)),
                     quantity_format_gpu(t->reserved_units, b, sizeof(b)));
        *why = SCHED_REASON_CAPACITY_DEGRADED;
    } else if (tenant_has_borrowers(s, t)) {
        if (w->reason != SCHED_REASON_RECLAIM_BLOCKED)
            snprintf(msg, len,
                     "within the reservation of %s, but no borrowed workload can be preempted "
                     "to make room for it without taking its workspace below its reservation",
                     s->workspaces[w->workspace].name);
        *why = SCHED_REASON_RECLAIM_BLOCKED;
    }
    return 0;
}

/* Why gang w, which requires one topology domain, waits: no domain of its level has room
 * (docs/policy.md, "Topology"). The sentence, naming the domain with the most free whole
 * GPUs, goes to msg (it is shown only when the reason changes). RET SCHED_REASON_TOPOLOGY. */
static enum sched_reason topology_reason(const struct sched *s, const struct sched_workload *w,
                                         char *msg, size_t len)
{
    const char *level = s->opt.topology[w->topology_level];
    uint32_t d = topology_largest(s, w->tenant, (uint32_t)w->topology_level);
    if (w->reason == SCHED_REASON_TOPOLOGY)
        return SCHED_REASON_TOPOLOGY;
    if (d == SCHED_NONE)
        snprintf(msg, len, "topology.required: tenant %s has no ready %s for its %u replica(s)",
                 s->tenants[w->tenant].name, level, w->replicas);
    else
        snprintf(msg, len,
                 "topology.required: no %s of tenant %s has room for %u replica(s) of %u GPU(s) "
                 "now; the largest free %s, %s, has %u free GPU(s)",
                 level, s->tenants[w->tenant].name, w->replicas, w->gpus, level,
                 s->domains[d].value, s->domains[d].free_whole);
    return SCHED_REASON_TOPOLOGY;
}

/* Why workload id, which quota allows, waits for capacity: the nodes with room are fenced
 * for a starving workload, or none has room. The sentence goes to msg on a change. */
static enum sched_reason capacity_reason(const struct sched *s, uint32_t id, int64_t now, char *msg,
                                         size_t len)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    char a[32];
    if (s->scratch->avoid_fence[id]) {
        if (w->reason != SCHED_REASON_STARVATION_GUARD)
            snprintf(
                msg, len,
                "no room for it outside the %u node(s) set aside for %s of tenant %s, "
                "which has waited %s",
                t->n_fence, s->workloads[t->held_by].name, t->name,
                quantity_format_duration(now - s->workloads[t->held_by].queued_ms, a, sizeof(a)));
        return SCHED_REASON_STARVATION_GUARD;
    }
    if (topology_applies(w) && w->topology_required)
        return topology_reason(s, w, msg, len);
    if (w->reason == SCHED_REASON_NO_CAPACITY)
        ; /* the message is only shown when the reason changes */
    else if (w->mig >= 0)
        snprintf(msg, len,
                 "no ready node of tenant %s has %u free %s slice(s) with the CPU and memory "
                 "asked for",
                 t->name, w->replicas, mig_name(w->mig));
    else
        snprintf(msg, len,
                 "no ready nodes of tenant %s have room for %u replica(s) of %u GPU(s) now "
                 "(%s GPUs free in the tenant)",
                 t->name, w->replicas, w->gpus, quantity_format_gpu(t->free_units, a, sizeof(a)));
    return SCHED_REASON_NO_CAPACITY;
}

/* Step 6: lower-priority work of its own workspace may make room for workload id, held
 * back for `why` (sentence in msg). borrowable: what the quota check was given (its
 * workspace's quota_borrowable, unchanged since, or -1). RET ATTEMPT_ADMITTED (it reclaims),
 * `held` when it still waits (its queue reason reported), or ATTEMPT_BROKEN. */
static enum attempt admit_by_preemption(struct sched *s, uint32_t id, struct pass_ws *pw,
                                        enum sched_reason why, char *msg, size_t len,
                                        enum attempt held, int64_t borrowable, int64_t now)
{
    const struct sched_workload *w = &s->workloads[id];
    if (pw->preempt_tries >= PASS_PREEMPT_TRIES ||
        (pw->preempt_failed && plain_request(w) && w->priority <= pw->preempt_priority &&
         w->total.gpu >= pw->preempt_need)) {
        lifecycle_queue_reason(s, id, why, msg, now);
        return held;
    }
    int64_t ripe = 0;
    int rc = preempt_priority(s, id, now, s->scratch->searches_in_full ? -1 : borrowable, &ripe);
    if (rc == -ALLOT_ECHECK)
        return ATTEMPT_BROKEN;
    if (rc != -ALLOT_ENOENT)
        pw->preempt_tries++;
    if (rc == -ALLOT_ENOFIT && plain_request(w) && !pw->preempt_failed) {
        pw->preempt_failed = true;
        pw->preempt_priority = w->priority;
        pw->preempt_need = w->total.gpu;
    }
    if (rc == 0) {
        snprintf(msg, len,
                 "preempting %u lower-priority workload(s) of %s to make room; they are draining",
                 w->waiting_on, s->workspaces[w->workspace].name);
        lifecycle_queue_reason(s, id, SCHED_REASON_RECLAIMING, msg, now);
        return ATTEMPT_ADMITTED;
    }
    if (ripe > 0) {
        /* lower-priority work that could make room has not run its min_runtime yet */
        char a[32];
        snprintf(msg, len,
                 "the lower-priority workloads of %s that could make room have not run their "
                 "min_runtime; the first may be preempted in %s",
                 s->workspaces[w->workspace].name,
                 quantity_format_duration(ripe - now, a, sizeof(a)));
        struct sched_event *e = lifecycle_queue_reason(s, id, SCHED_REASON_MIN_RUNTIME, msg, now);
        if (e)
            e->deadline = ripe; /* a simulator passes again then: time alone changes it */
        return held;
    }
    lifecycle_queue_reason(s, id, why, msg, now);
    return held;
}

/* quota_borrowable of workspace wsid, kept in pw for the pass's generation: what a workspace
 * may borrow changes only with an admission, reclaim or preemption, each a new generation.
 * The idle reservations it takes from the free units are summed once per generation for all
 * the tenant's workspaces (quota_borrowable_given). */
static int64_t pass_borrowable(const struct sched *s, struct pass *p, struct pass_ws *pw,
                               uint32_t wsid)
{
    if (p->in_full)
        return quota_borrowable(s, wsid); /* for tests: found afresh each time */
    if (pw->borrowable_gen != p->gen + 1) {
        if (p->idle_gen != p->gen + 1) {
            p->idle = quota_idle_unlent(s, s->workspaces[wsid].tenant);
            p->idle_gen = p->gen + 1;
        }
        pw->borrowable = quota_borrowable_given(s, wsid, p->idle);
        pw->borrowable_gen = p->gen + 1;
    }
    return pw->borrowable;
}

/* attempt_admit, which leaves the workload's avoid_fence for it to clear. */
static enum attempt attempt_admit_fenced(struct sched *s, uint32_t id, uint32_t held_by,
                                         struct pass *p, struct pass_ws *pw, int64_t now)
{
    const struct sched_workload *w = &s->workloads[id];
    char msg[sizeof(((struct sched_event *)0)->message)];
    bool within;
    enum attempt held = ATTEMPT_CAPACITY;

    /* 1 to 3: workspace limits, reserved capacity, borrowable capacity (kept per pass) */
    int64_t borrowable = pw && p->ws ? pass_borrowable(s, p, pw, w->workspace) : -1;
    enum sched_reason why = quota_check(s, id, held_by, borrowable, now, &within, msg, sizeof(msg));
    if (why == SCHED_REASON_STARVATION_GUARD) {
        lifecycle_queue_reason(s, id, why, msg, now);
        return ATTEMPT_HELD;
    }
    if (why == SCHED_REASON_WORKSPACE_LIMIT || why == SCHED_REASON_RESERVATION_FULL)
        held = ATTEMPT_QUOTA;
    if (why == SCHED_REASON_NONE) {
        int rc = admit_on_free(s, id, p, within, now); /* 4 */
        if (!rc && within)                             /* 5 */
            rc = admit_by_reclaim(s, id, p, now, &why, msg, sizeof(msg));
        if (rc)
            return rc > 0 ? ATTEMPT_ADMITTED : ATTEMPT_BROKEN;
        if (why == SCHED_REASON_NONE)
            why = capacity_reason(s, id, now, msg, sizeof(msg));
    }
    return admit_by_preemption(s, id, pw, why, msg, sizeof(msg), held, borrowable, now); /* 6 */
}

/* Can nothing pending in workspace ws be admitted for the rest of this pass? Looks at its
 * smallest pending request (queue_min_need, a lower bound): true when its GPU limit is
 * reached, or when it can neither borrow that much nor place it within its reservation,
 * and priority preemption in it has been tried enough or cannot help; or when the starvation
 * guard holds (held_by) and none of it fits in its reservation. Capacity only shrinks
 * within a pass, so a workspace found exhausted stays so (docs/policy.md, "Order"). */
static bool workspace_exhausted(const struct sched *s, uint32_t wsid, struct pass *p,
                                struct pass_ws *pw, uint32_t held_by)
{
    const struct sched_workspace *ws = &s->workspaces[wsid];
    const struct sched_tenant *t = &s->tenants[ws->tenant];
    int64_t need = queue_min_need(ws);
    if (need == 0)
        return false; /* CPU-only work needs no GPU */
    /* under the starvation guard, only work within its reservation may start */
    if (held_by != SCHED_NONE && quota_position(ws) + need > ws->reserved)
        return true;
    /* whole GPUs free, for a queue without MIG requests (they cannot use slices) */
    int64_t placeable =
        ws->pending_mig ? t->free_units : (int64_t)t->free_whole * QUANTITY_GPU_UNITS;
    bool limited =
        ws->limits.gpu != SCHED_UNLIMITED && ws->held.gpu + ws->claimed.gpu + need > ws->limits.gpu;
    bool blocked;
    if (quota_position(ws) + need <= ws->reserved) /* guaranteed work may still come */
        blocked = placeable < need &&
                  (!tenant_has_borrowers(s, t) || (p->reclaim_failed && p->reclaim_need <= need));
    else /* a borrower: the fenced nodes are not for it */
        blocked = pass_borrowable(s, p, pw, wsid) < need ||
                  placeable - fence_free(s, t, !ws->pending_mig) < need;
    if (!limited && !blocked)
        return false;
    /* priority preemption failed for a plain request no larger than any pending one, of a
     * priority no lower (the queue runs from the highest): it fails for the rest, which the
     * memo of admit_by_preemption skips, unless some ask for MIG slices or a model */
    if (pw->preempt_tries >= PASS_PREEMPT_TRIES ||
        (pw->preempt_failed && pw->preempt_need <= need && !ws->pending_mig && !ws->pending_model))
        return true;
    /* a lower-priority preemptible workload of its own may still make room */
    return pw->cursor == SCHED_NONE || ws->n_preempt == 0 ||
           ws->preempt[0].priority >= s->workloads[pw->cursor].priority;
}

/* How far starving_candidate looks down the FIFO: past workloads held back by their own
 * workspace only. */
#define STARVING_LOOKAHEAD 64

/* The workload the starvation rule protects now: the longest-waiting pending workload of
 * the tenant that has waited at least starvation_age, would borrow, is not held back by its
 * own workspace's limits, and could be met once every other workspace is back within its
 * reservation. SCHED_NONE if there is none. */
static uint32_t starving_candidate(const struct sched *s, uint32_t tid, int64_t now)
{
    uint32_t id = s->tenants[tid].fifo_head;
    for (int k = 0; id != SCHED_NONE && k < STARVING_LOOKAHEAD; k++) {
        const struct sched_workload *w = &s->workloads[id];
        if (now - w->queued_ms < s->opt.starvation_age_ms)
            return SCHED_NONE; /* everyone after it waited less */
        enum sched_resource which;
        const struct sched_workspace *ws = &s->workspaces[w->workspace];
        if (w->preemptible && candidate_class(s, w) == 1 &&
            quota_fits_limits(ws, &w->total, &which) && w->total.gpu <= attainable(s, w->workspace))
            return id;
        id = w->fnext;
    }
    return SCHED_NONE;
}

/* How deep into an exhausted workspace's queue a pass refreshes queue reasons. Deeper
 * workloads keep the reason they last got until a pass reaches them; this bounds the cost
 * of a pass on a saturated tenant (docs/policy.md, "Order"). */
#define PASS_REFRESH_DEPTH ENGINE_REFRESH_DEPTH

/* The key of a refresh memo of workspace wsid: everything the quota checks and the
 * starvation guard read, as they are now (borrowable aside: an interval). */
static void refresh_key(const struct sched *s, uint32_t wsid, uint32_t held_by,
                        struct engine_refresh *m)
{
    const struct sched_workspace *ws = &s->workspaces[wsid];
    const struct sched_tenant *t = &s->tenants[ws->tenant];
    *m = (struct engine_refresh){
        .held_by = held_by,
        .fence_for = t->n_fence > 0 ? t->held_by : SCHED_NONE,
        .limits = ws->limits,
        .reserved = ws->reserved,
        .have_lo = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN},
        .have_hi = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX},
        .pos_lo = INT64_MIN,
        .pos_hi = INT64_MAX,
        .borrow_lo = INT64_MIN,
        .borrow_hi = INT64_MAX,
        .min_gpus = UINT32_MAX,
        .min_whole = UINT64_MAX,
        .min_mig = INT64_MAX,
    };
}

static bool resources_equal(const struct sched_resources *a, const struct sched_resources *b)
{
    return a->gpu == b->gpu && a->cpu == b->cpu && a->memory == b->memory &&
           a->storage == b->storage;
}

/* Do workspace ws's holdings and position lie where memo m's quota outcomes stay the same? */
static bool refresh_quota_holds(const struct engine_refresh *m, const struct sched_workspace *ws)
{
    int64_t pos = quota_position(ws);
    if (pos < m->pos_lo || pos > m->pos_hi)
        return false;
    for (int r = 0; r < SCHED_RES_COUNT; r++) {
        int64_t have = quota_have(ws, (enum sched_resource)r);
        if (have < m->have_lo[r] || have > m->have_hi[r])
            return false;
    }
    return true;
}

/* Would refreshing the workloads that workspace wsid's memo (struct engine_refresh) read
 * change none of their queue reasons? True when the memo was made with the same quota inputs
 * and guard (holdings, position and borrowable within their bounds), and still none of the
 * workloads that passed the quota checks could find free capacity (free_enough false for
 * each): each would get the reason it has. */
static bool refresh_unchanged(const struct sched *s, uint32_t wsid, uint32_t held_by,
                              int64_t borrowable)
{
    const struct engine_refresh *m = &s->scratch->refresh[wsid];
    const struct sched_workspace *ws = &s->workspaces[wsid];
    const struct sched_tenant *t = &s->tenants[ws->tenant];
    if (!m->valid || m->held_by != held_by ||
        m->fence_for != (t->n_fence > 0 ? t->held_by : SCHED_NONE) || m->reserved != ws->reserved ||
        borrowable < m->borrow_lo || borrowable >= m->borrow_hi ||
        !resources_equal(&m->limits, &ws->limits) || !refresh_quota_holds(m, ws))
        return false;
    int64_t mig_free = t->free_units - (int64_t)t->free_whole * QUANTITY_GPU_UNITS;
    return (t->free_whole < m->min_whole || placement_max_free_whole(t) < m->min_gpus) &&
           mig_free < m->min_mig;
}

/* Record in memo m what the quota check of workload w of workspace ws found (why; within:
 * it fits in its reservation): the intervals of holdings, position and borrowable capacity
 * with the same outcome (quota_check: the limits, then the reservation, then borrowing). */
static void refresh_note_quota(struct engine_refresh *m, const struct sched_workspace *ws,
                               const struct sched_workload *w, enum sched_reason why, bool within)
{
    bool fits = true;
    for (int r = 0; r < SCHED_RES_COUNT && fits; r++) {
        int64_t limit = quota_res(&ws->limits, (enum sched_resource)r);
        if (limit == SCHED_UNLIMITED)
            continue;
        int64_t slack = limit - quota_res(&w->total, (enum sched_resource)r);
        fits = quota_have(ws, (enum sched_resource)r) <= slack;
        if (fits && slack < m->have_hi[r])
            m->have_hi[r] = slack; /* it fits while have stays at most slack ... */
        if (!fits && slack + 1 > m->have_lo[r])
            m->have_lo[r] = slack + 1; /* ... and fails (at r, the first) while above it */
    }
    int64_t room = ws->reserved - w->total.gpu; /* within while the position is at most room */
    if (within && room < m->pos_hi)
        m->pos_hi = room;
    if (!within && room + 1 > m->pos_lo)
        m->pos_lo = room + 1;
    if (why == SCHED_REASON_BORROW_UNAVAILABLE && w->total.gpu < m->borrow_hi)
        m->borrow_hi = w->total.gpu;
    if (why == SCHED_REASON_NONE && !within && w->total.gpu > m->borrow_lo)
        m->borrow_lo = w->total.gpu;
}

/* Record in memo m that workload w passed the quota checks and found no free capacity
 * (free_enough false). RET false when the memo cannot stand for it: it fits in its
 * reservation (a reclaim could admit it) or asks for no GPU. */
static bool refresh_note_capacity(struct engine_refresh *m, const struct sched_workload *w,
                                  bool within)
{
    if (within)
        return false;
    if (w->mig >= 0) {
        if (w->total.gpu < m->min_mig)
            m->min_mig = w->total.gpu;
        return true;
    }
    if (w->gpus == 0)
        return false;
    if (w->gpus < m->min_gpus)
        m->min_gpus = w->gpus;
    if ((uint64_t)w->gpus * w->replicas < m->min_whole)
        m->min_whole = (uint64_t)w->gpus * w->replicas;
    return true;
}

/* How many entries ahead a refresh asks for the workloads it will read. */
enum { REFRESH_AHEAD = 8 };

/* Ask for what a refresh reads of workload id (quota checks, queue reasons), so that the
 * loads of several overlap. A hint to the processor: it changes nothing. */
static inline void workload_prefetch(const struct sched *s, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    __builtin_prefetch(&w->workspace);
    __builtin_prefetch((const char *)(&w->total + 1) - 1);
}

/* Mark a workspace exhausted for this pass and bring the queue reasons of the rest of its
 * queue up to date without the costly steps: each of them fails a quota check (steps 1 to
 * 3), which is all there is to report. Should one pass them after all (the exhaustion test
 * uses a lower bound of the sizes), the cursor stops there for a full evaluation. A refresh
 * that would change no reason (refresh_unchanged) is skipped: most passes after a finish
 * find the same reasons again, and reading the queued workloads is most of a pass's cost. */
static void pass_exhaust(struct sched *s, struct pass *p, struct pass_ws *pw, uint32_t wsid,
                         uint32_t held_by, int64_t now)
{
    char msg[sizeof(((struct sched_event *)0)->message)], a[32];
    bool within;
    const struct sched_tenant *t = &s->tenants[s->workspaces[wsid].tenant];
    pw->exhausted = true;
    if (pw->cursor == SCHED_NONE)
        return; /* nothing left to refresh */
    int64_t borrowable = pass_borrowable(s, p, pw, wsid);
    struct engine_refresh *memo = &s->scratch->refresh[wsid];
    /* A memo that holds stands for the workloads it read: a stretch from the cursor reads
     * only the others. Its bounds hold now and stay (they are a memo's for what it read and
     * for more). */
    uint32_t old[PASS_REFRESH_DEPTH], n_old = 0, at = 0, k = 0;
    bool old_to_end = memo->to_end;
    if (refresh_unchanged(s, wsid, held_by, borrowable)) {
        n_old = memo->n_ids;
        memcpy(old, memo->ids, n_old * sizeof(old[0]));
        while (at < n_old && old[at] != pw->cursor)
            at++;
        /* the whole stretch a refresh from the cursor reads (its depth, or to the end of the
         * queue): nothing changes; a shorter one (engine_refresh_leave) is taken as read */
        if (at < n_old && (old_to_end || (at == 0 && n_old == PASS_REFRESH_DEPTH))) {
            pw->cursor = SCHED_NONE;
            return;
        }
        if (at == n_old && !queue_before(&s->workloads[pw->cursor], &s->workloads[old[0]]))
            n_old = 0; /* past its stretch: of no use */
        memo->n_ids = 0;
        memo->valid = false; /* until the stretch is done */
    }
    if (n_old == 0)
        refresh_key(s, wsid, held_by, memo); /* invalid until the stretch is done */
    bool borrowers = tenant_has_borrowers(s, t);
    bool memo_holds = true;
    /* the walk goes by the queue's entries (the queue does not change during it) */
    const struct sched_workspace *ws = &s->workspaces[wsid];
    const struct sched_queued *q = queue_entries(ws);
    uint32_t qi = queue_place(s, &s->workloads[pw->cursor]); /* the cursor's */
    pw->cursor = qi < ws->n_pending ? q[qi].id : SCHED_NONE; /* (or the next, were it gone) */
    uint32_t asked = qi; /* the workloads of the entries up to asked are asked for */
    for (;; pw->cursor = ++qi < ws->n_pending ? q[qi].id : SCHED_NONE) {
        uint32_t from = at < n_old ? at : 0;
        if (n_old && pw->cursor == old[from]) {
            /* the memo's stretch from here: taken as read, up to the depth */
            uint32_t take =
                n_old - from < PASS_REFRESH_DEPTH - k ? n_old - from : PASS_REFRESH_DEPTH - k;
            memcpy(memo->ids + memo->n_ids, old + from, take * sizeof(old[0]));
            memo->n_ids += take;
            k += take;
            if (from + take < n_old) {
                pw->cursor = SCHED_NONE;
                memo->to_end = false; /* the depth ended within it */
                memo->valid = memo_holds;
                return;
            }
            qi = queue_after_at(s, old[n_old - 1]);
            pw->cursor = qi < ws->n_pending ? q[qi].id : SCHED_NONE;
            asked = qi;
            n_old = 0; /* and on past it (the queue may end there now) */
        }
        if (pw->cursor == SCHED_NONE || ++k > PASS_REFRESH_DEPTH) {
            memo->to_end = pw->cursor == SCHED_NONE;
            pw->cursor = SCHED_NONE;
            memo->valid = memo_holds && memo->n_ids > 0;
            return;
        }
        memo->ids[memo->n_ids++] = pw->cursor;
        const struct sched_workload *w = &s->workloads[pw->cursor];
        /* those this walk will read next, up to REFRESH_AHEAD ahead: their loads overlap */
        uint32_t ahead = qi + REFRESH_AHEAD;
        asked = asked > qi ? asked : qi;
        if (ahead > qi + PASS_REFRESH_DEPTH - k)
            ahead = qi + PASS_REFRESH_DEPTH - k;
        for (; asked < ahead && asked + 1 < ws->n_pending; asked++)
            workload_prefetch(s, q[asked + 1].id);
        enum sched_reason why =
            quota_check(s, pw->cursor, held_by, borrowable, now, &within, msg, sizeof(msg));
        refresh_note_quota(memo, &s->workspaces[wsid], w, why, within);
        if (why == SCHED_REASON_NONE) {
            /* quota allows it: only a placement, a reclaim or a backfill could admit it */
            bool fenced = fence_applies(s, pw->cursor, within);
            bool fits = free_enough(t, w);
            bool backfill = fenced && fence_backfill(s, p, t, w, now);
            bool reclaim_may =
                within && borrowers && !placement_hopeless(p, w, false) &&
                !(p->reclaim_failed && plain_request(w) && w->total.gpu >= p->reclaim_need);
            bool claims_may = claim_backfill_may(s, p, w, now + w->time_limit_ms + w->grace_ms);
            if ((fits && !placement_hopeless(p, w, fenced && !backfill)) || reclaim_may ||
                claims_may) {
                s->workloads[pw->cursor].qat = qi; /* its next look starts there */
                return;                            /* the memo stays invalid */
            }
            /* work with a time limit may backfill once a fence or a claim changes, which the
             * memo does not follow: it never stands for one */
            memo_holds = memo_holds && !fits && w->time_limit_ms == 0 &&
                         refresh_note_capacity(memo, w, within);
            why = fenced ? SCHED_REASON_STARVATION_GUARD : SCHED_REASON_NO_CAPACITY;
            if (!fenced && fits && topology_applies(w) && w->topology_required)
                why = topology_reason(s, w, msg, sizeof(msg)); /* room, but in no one domain */
            else if (w->reason != why && fenced)
                snprintf(msg, sizeof(msg),
                         "no room for it outside the %u node(s) set aside for %s of tenant %s",
                         t->n_fence, s->workloads[t->held_by].name, t->name);
            else if (w->reason != why)
                snprintf(msg, sizeof(msg),
                         "no ready nodes of tenant %s have room for it now (%s GPUs free in the "
                         "tenant)",
                         t->name, quantity_format_gpu(t->free_units, a, sizeof(a)));
        }
        if (w->reason != why) /* the same reason: nothing to report (lifecycle_queue_reason) */
            lifecycle_queue_reason(s, pw->cursor, why, msg, now);
    }
}

/* docs/policy.md, "Starvation": the longest-waiting borrower of tenant tid that is old
 * enough goes first (the last pass's fence gone: it may use any node); if it still cannot
 * run, nodes are set aside for it, and borrowers go on elsewhere; only when no fence can be
 * made does borrowing pause in the whole tenant. OUT *first: the workload tried (or
 * SCHED_NONE); *held_by: the workload that pauses borrowing (or SCHED_NONE). RET 0 or
 * -ALLOT_ECHECK. */
static int pass_starving(struct sched *s, uint32_t tid, struct pass *p, int64_t now,
                         uint32_t *first, uint32_t *held_by)
{
    struct sched_tenant *t = &s->tenants[tid];
    uint32_t prev_for = t->held_by, n_prev = t->n_fence; /* t->fence keeps the last fence */
    fence_clear(s, t);
    t->held_by = *held_by = SCHED_NONE;
    *first = starving_candidate(s, tid, now);
    if (*first != SCHED_NONE) {
        struct pass_ws *pw = NULL;
        for (uint32_t i = 0; i < t->n_workspaces && !pw; i++)
            if (t->workspaces[i] == s->workloads[*first].workspace)
                pw = &p->ws[i];
        /* before the cursors are set: admitting it takes it out of its queue */
        s->workloads[*first].starving = true;
        enum attempt r = attempt_admit(s, *first, SCHED_NONE, p, pw, now);
        if (r == ATTEMPT_BROKEN)
            return -ALLOT_ECHECK;
        if (r == ATTEMPT_ADMITTED)
            p->gen++; /* what the pass kept per generation (borrowable, claims) is stale */
        if (r == ATTEMPT_CAPACITY)
            *held_by = *first;
    }
    t->held_by = *held_by;
    if (*held_by == SCHED_NONE)
        fence_clear(s, t);
    else if (fence_make(s, t, *held_by, prev_for, n_prev))
        *held_by = SCHED_NONE; /* the guard is the fence: no pause */
    return 0;
}

/* The keys pass_before compares for cursor c of workspace i (index into p->ws), as of the
 * pass's generation. */
static void pass_keys(const struct sched *s, const struct sched_tenant *t, const struct pass *p,
                      struct pass_ws *c, uint32_t i)
{
    if (c->key_gen == p->gen && c->key_cursor == c->cursor)
        return;
    c->key_gen = p->gen;
    c->key_cursor = c->cursor;
    c->key_class = candidate_class(s, &s->workloads[c->cursor]);
    c->key_borrowed = sched_workspace_borrowed(&s->workspaces[t->workspaces[i]]);
}

/* The next workload of the pass: the first in policy order (pass_before) among the heads
 * of the queues of the active workspaces (indexes into p->ws; those done leave the list).
 * The list is kept in that order: the keys change with the generation (then it is sorted
 * again), and otherwise only the cursor of the workspace last returned moves (within a
 * generation nothing else is admitted or queued), which is put back in its place. pass_before
 * is a total order of distinct workloads, so the first is the one a scan would find. RET its
 * id with *best_i, or SCHED_NONE when every queue is done. */
static uint32_t pass_next(const struct sched *s, const struct sched_tenant *t, struct pass *p,
                          uint32_t *active, uint32_t *n_active, uint32_t *best_i)
{
    uint32_t n = *n_active;
    if (p->order_gen != p->gen + 1 || p->in_full) {
        uint32_t k = 0;
        for (uint32_t a = 0; a < n; a++) {
            uint32_t i = active[a];
            if (p->ws[i].cursor == SCHED_NONE)
                continue; /* done: out of the list */
            pass_keys(s, t, p, &p->ws[i], i);
            uint32_t b = k++;
            for (; b > 0 && pass_before(s, t, &p->ws[i], i, &p->ws[active[b - 1]], active[b - 1]);
                 b--)
                active[b] = active[b - 1];
            active[b] = i;
        }
        n = k;
        p->order_gen = p->gen + 1;
    } else if (n > 0) {
        uint32_t i = active[0], a = 0;
        if (p->ws[i].cursor == SCHED_NONE) {
            memmove(&active[0], &active[1], (n - 1) * sizeof(*active));
            n--;
        } else {
            pass_keys(s, t, p, &p->ws[i], i);
            for (;
                 a + 1 < n && pass_before(s, t, &p->ws[active[a + 1]], active[a + 1], &p->ws[i], i);
                 a++)
                active[a] = active[a + 1];
            active[a] = i;
        }
    }
    *n_active = n;
    if (n == 0)
        return SCHED_NONE;
    *best_i = active[0];
    return p->ws[active[0]].cursor;
}

/* One admission pass over tenant tid: repeatedly take the first pending workload in policy
 * order (pass_next) among the heads of its workspaces' queues. RET 0, -ALLOT_ENOMEM, or
 * -ALLOT_ECHECK (stopped at the broken invariant). */
static int tenant_pass(struct sched *s, uint32_t tid, int64_t now)
{
    struct sched_tenant *t = &s->tenants[tid];
    uint32_t n = t->n_workspaces, n_active = 0, first, held_by;
    struct pass p = {.ws = calloc(n ? n : 1, sizeof(*p.ws)),
                     .in_full = s->scratch->searches_in_full};
    /* the workspaces with a cursor, in tenant order (most are often empty) */
    uint32_t *active = malloc((n ? n : 1) * sizeof(*active));
    int rc = p.ws && active ? pass_starving(s, tid, &p, now, &first, &held_by) : -ALLOT_ENOMEM;
    if (rc)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        p.ws[i].key_cursor = SCHED_NONE; /* no keys yet (workload 0 is a cursor like any) */
        p.ws[i].cursor = queue_head(&s->workspaces[t->workspaces[i]]);
        if (p.ws[i].cursor != SCHED_NONE &&
            workspace_exhausted(s, t->workspaces[i], &p, &p.ws[i], held_by))
            pass_exhaust(s, &p, &p.ws[i], t->workspaces[i], held_by, now);
        if (p.ws[i].cursor != SCHED_NONE)
            active[n_active++] = i;
    }
    for (;;) {
        uint32_t best_i = 0, best = pass_next(s, t, &p, active, &n_active, &best_i);
        if (best == SCHED_NONE)
            break;
        struct pass_ws *pw = &p.ws[best_i];
        pw->cursor = queue_after(s, best);
        if (pw->exhausted)
            pass_exhaust(s, &p, pw, t->workspaces[best_i], held_by, now);
        if (best == first)
            continue; /* evaluated first */
        enum attempt r = attempt_admit(s, best, held_by, &p, pw, now);
        if (r == ATTEMPT_BROKEN) {
            rc = -ALLOT_ECHECK;
            goto out;
        }
        if (r == ATTEMPT_ADMITTED)
            p.gen++;
        if (r != ATTEMPT_ADMITTED && pw->cursor != SCHED_NONE && !pw->exhausted &&
            workspace_exhausted(s, t->workspaces[best_i], &p, pw, held_by))
            pass_exhaust(s, &p, pw, t->workspaces[best_i], held_by, now);
    }
out:
    free(active);
    free(p.ws);
    return rc;
}

/* The pass for a tenant whose only change since its last pass is one new workload, id.
 * Nothing was freed, so every workload that waited then would wait again for the same
 * reason: only id needs a look, under the starvation guard of the last pass. Should the
 * starvation rule now protect another workload, a full pass is made instead. */
static int arrival_pass(struct sched *s, uint32_t tid, uint32_t id, int64_t now)
{
    struct sched_tenant *t = &s->tenants[tid];
    if (starving_candidate(s, tid, now) != t->held_by)
        return tenant_pass(s, tid, now);
    if (s->workloads[id].state != SCHED_PENDING)
        return 0;
    struct pass p = {.ws = NULL};
    struct pass_ws pw = {.cursor = SCHED_NONE};
    enum attempt r = attempt_admit(s, id, t->n_fence ? SCHED_NONE : t->held_by, &p, &pw, now);
    return r == ATTEMPT_BROKEN ? -ALLOT_ECHECK : 0;
}

int sched_schedule(struct sched *s, int64_t now)
{
    int rc = engine_scratch_reserve(s); /* the marks of every workload and node */
    if (rc)
        return rc;
    s->last_now = now;
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        struct sched_tenant *t = &s->tenants[i];
        if (!t->dirty && t->n_arrivals == 0)
            continue;
        bool full = t->dirty || t->n_arrivals > 1;
        uint32_t arrival = t->arrival;
        t->dirty = false;
        t->n_arrivals = 0;
        rc = full ? tenant_pass(s, i, now) : arrival_pass(s, i, arrival, now);
        if (rc)
            return rc;
    }
    if (s->oom) {
        s->oom = false;
        return -ALLOT_ENOMEM;
    }
    return 0;
}
