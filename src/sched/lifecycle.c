/* Workload state transitions. */
#include "sched/lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "sched/engine.h"
#include "sched/event.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"

static void tenant_touch(struct sched *s, uint32_t tenant)
{
    s->tenants[tenant].dirty = true;
}

/* Is workload w in state `want` as a transition requires? RET 0, or -ALLOT_ECHECK naming the
 * transition (`what`) that met it in another state. */
static int state_required(struct sched *s, const struct sched_workload *w, enum sched_state want,
                          const char *what)
{
    if (w->state == want)
        return 0;
    return engine_broken(s, "workload %s is %s, not %s, when it %s", w->name,
                         sched_state_name(w->state), sched_state_name(want), what);
}

/* Where workload priority `priority` goes in preemptible array a of n entries: before the
 * first of the same or a higher priority (the most recently started first within it). */
static uint32_t preemptible_at(const struct sched_preemptible *a, uint32_t n, int32_t priority)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid].priority < priority)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Room for `more` more entries in workspace ws's preemptible array, asked before a change
 * that will push them, so that the change cannot fail halfway. RET 0 or -ALLOT_ENOMEM. */
static int preemptible_room(struct sched_workspace *ws, uint32_t more)
{
    for (uint32_t n = ws->n_preempt; n < ws->n_preempt + more; n++)
        if (ARRAY_GROW(ws->preempt, n, ws->cap_preempt))
            return -ALLOT_ENOMEM;
    return 0;
}

/* Workload id, of priority `priority`, into ws's preemptible array, which has room for it:
 * lowest priority first and, within a priority, the most recently started first, so that
 * priority preemption reads only its candidates, in nearly victim order (docs/policy.md,
 * "Priority"). */
static void preemptible_insert(struct sched_workspace *ws, int32_t priority, uint32_t id)
{
    uint32_t at = preemptible_at(ws->preempt, ws->n_preempt, priority);
    memmove(&ws->preempt[at + 1], &ws->preempt[at], (ws->n_preempt - at) * sizeof(*ws->preempt));
    ws->preempt[at] = (struct sched_preemptible){priority, id};
    ws->n_preempt++;
}

/* Its workspace's running list: pushed at the front when it starts, so the list runs from
 * the most recently started. A preemptible one also goes into the preemptible array (room
 * made beforehand: preemptible_room). */
static void running_push(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    w->rprev = SCHED_NONE;
    w->rnext = ws->running_head;
    if (ws->running_head != SCHED_NONE)
        s->workloads[ws->running_head].rprev = id;
    ws->running_head = id;
    if (!w->preemptible)
        return;
    preemptible_insert(ws, w->priority, id);
}

static void running_remove(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    if (w->rprev == SCHED_NONE)
        ws->running_head = w->rnext;
    else
        s->workloads[w->rprev].rnext = w->rnext;
    if (w->rnext != SCHED_NONE)
        s->workloads[w->rnext].rprev = w->rprev;
    w->rprev = w->rnext = SCHED_NONE;
    if (!w->preemptible)
        return;
    uint32_t at = preemptible_at(ws->preempt, ws->n_preempt, w->priority);
    while (at < ws->n_preempt && ws->preempt[at].id != id)
        at++;
    if (at == ws->n_preempt)
        return; /* not there: sched_check says so */
    ws->n_preempt--;
    memmove(&ws->preempt[at], &ws->preempt[at + 1], (ws->n_preempt - at) * sizeof(*ws->preempt));
    /* halved, it keeps room for max(2n, 33) entries: the room asked before a removal for the
     * starts that follow it (two, lifecycle_end) stays */
    ARRAY_TRIM(ws->preempt, ws->n_preempt, ws->cap_preempt);
}

int lifecycle_preemptible_rebuild(struct sched *s, uint32_t wsid)
{
    struct sched_workspace *ws = &s->workspaces[wsid];
    /* the running list from its oldest: pushing in that order puts each where its start did */
    uint32_t n = 0, oldest = SCHED_NONE;
    for (uint32_t id = ws->running_head; id != SCHED_NONE; id = s->workloads[id].rnext) {
        if (++n > s->n_workloads)
            return engine_broken(s, "workspace %s running list does not end", ws->name);
        oldest = id;
    }
    ws->n_preempt = 0;
    for (uint32_t id = oldest; id != SCHED_NONE && n > 0; id = s->workloads[id].rprev, n--) {
        const struct sched_workload *w = &s->workloads[id];
        if (!w->preemptible)
            continue;
        if (preemptible_room(ws, 1))
            return -ALLOT_ENOMEM;
        preemptible_insert(ws, w->priority, id);
    }
    return 0;
}

int lifecycle_start(struct sched *s, uint32_t id, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    /* what it relies on is checked before anything changes */
    int rc = w->state == SCHED_PENDING ? queue_check(s, id)
                                       : state_required(s, w, SCHED_RECLAIMING, "starts");
    if (!rc && w->preemptible)
        rc = preemptible_room(ws, 1);
    if (!rc)
        rc = placement_start(s, id);
    if (rc)
        return rc;
    /* its position before it starts: what is above the reservation is borrowed */
    int64_t before = sched_workspace_position(ws);
    if (w->state == SCHED_PENDING) {
        queue_remove(s, id); /* checked above: cannot fail */
        /* work without GPUs borrows none */
        w->borrowed = w->total.gpu > 0 && before + w->total.gpu > ws->reserved;
    } else {
        before -= w->total.gpu; /* its own claim is in the position */
        quota_add(&ws->claimed, &w->total, -1);
    }
    int64_t above = before + w->total.gpu - ws->reserved;
    quota_account(ws, now);
    quota_add(&ws->held, &w->total, +1);
    if (!w->preemptible)
        ws->held_fixed += w->total.gpu;
    w->state = SCHED_RUNNING;
    running_push(s, id);
    w->start_ms = now;
    w->reason = SCHED_REASON_NONE;
    w->starving = false;
    struct sched_event *e = event_emit(s, SCHED_EV_ADMITTED, now, id);
    e->borrowed = w->borrowed;
    /* the borrowed part (none when its admission counted it within the reservation) */
    e->a = !w->borrowed || above < 0 ? 0 : above > w->total.gpu ? w->total.gpu : above;
    return 0;
}

int lifecycle_reclaim(struct sched *s, uint32_t id, bool borrowed, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    int rc = state_required(s, w, SCHED_PENDING, "reclaims");
    if (!rc)
        rc = queue_remove(s, id);
    if (rc)
        return rc;
    w->borrowed = borrowed;
    quota_add(&ws->claimed, &w->total, +1);
    w->state = SCHED_RECLAIMING;
    return 0;
}

int lifecycle_unreclaim(struct sched *s, uint32_t id)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    int rc = state_required(s, w, SCHED_RECLAIMING, "gives its claim back");
    if (rc)
        return rc;
    placement_unclaim(s, id);
    quota_add(&ws->claimed, &w->total, -1);
    /* its victims drain on; they no longer make room for it */
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        if (s->workloads[i].reclaim_for == id)
            s->workloads[i].reclaim_for = SCHED_NONE;
        if (s->workloads[i].backfill_for == id) /* and its backfills run on, unlinked */
            s->workloads[i].backfill_for = SCHED_NONE;
    }
    w->waiting_on = 0;
    w->state = SCHED_PENDING;
    queue_insert(s, id);
    tenant_touch(s, w->tenant);
    return 0;
}

int lifecycle_drain(struct sched *s, uint32_t id, enum sched_reason why, uint32_t for_id,
                    int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    int rc = state_required(s, w, SCHED_RUNNING, "is told to stop");
    if (rc)
        return rc;
    running_remove(s, id);
    quota_add(&ws->draining, &w->total, +1);
    w->state = SCHED_DRAINING;
    w->reason = why;
    w->reclaim_for = for_id;
    w->deadline_ms = now + w->grace_ms;
    if (why == SCHED_REASON_CANCELLED)
        return 0;
    struct sched_event *e = event_emit(s, SCHED_EV_PREEMPTING, now, id);
    e->reason = why;
    e->other = for_id;
    e->deadline = w->deadline_ms;
    return 0;
}

int lifecycle_end(struct sched *s, uint32_t id, enum sched_state final, enum sched_reason why,
                  int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    int rc = w->state == SCHED_DRAINING ? 0 : state_required(s, w, SCHED_RUNNING, "ends");
    if (rc)
        return rc;
    uint32_t claimant = w->state == SCHED_DRAINING ? w->reclaim_for : SCHED_NONE;
    uint32_t backfill = w->backfill_for; /* a claimant it backfilled, which waits for it too */
    /* the claimant it drains for waits for it: otherwise nobody would ever start it */
    if (claimant != SCHED_NONE && (s->workloads[claimant].state != SCHED_RECLAIMING ||
                                   s->workloads[claimant].waiting_on == 0))
        return engine_broken(s, "workload %s drains for %s, which waits for no victim", w->name,
                             s->workloads[claimant].name);
    if (backfill != SCHED_NONE && (s->workloads[backfill].state != SCHED_RECLAIMING ||
                                   s->workloads[backfill].waiting_on == 0))
        return engine_broken(s, "workload %s backfills for %s, which waits for nobody", w->name,
                             s->workloads[backfill].name);
    /* the starts it may lead to find room in their preemptible arrays (two: both may start
     * in one workspace) */
    uint32_t starts[] = {claimant, backfill};
    for (int i = 0; i < 2; i++)
        if (starts[i] != SCHED_NONE && s->workloads[starts[i]].preemptible &&
            preemptible_room(&s->workspaces[s->workloads[starts[i]].workspace], 2))
            return -ALLOT_ENOMEM;
    if (w->state == SCHED_RUNNING)
        running_remove(s, id);
    quota_account(ws, now);
    if (w->state == SCHED_DRAINING)
        quota_add(&ws->draining, &w->total, -1);
    quota_add(&ws->held, &w->total, -1);
    if (!w->preemptible)
        ws->held_fixed -= w->total.gpu;
    placement_release(s, id);
    for (uint32_t r = 0; r < w->replicas; r++)
        if (s->nodes[w->placement[r].node].moving_to != SCHED_NONE)
            sched_node_moves_settle(s, w->placement[r].node, now);
    w->reclaim_for = w->backfill_for = SCHED_NONE;
    static const enum sched_event_kind kinds[] = {
        [SCHED_FINISHED] = SCHED_EV_FINISHED,
        [SCHED_FAILED] = SCHED_EV_FAILED,
        [SCHED_CANCELLED] = SCHED_EV_CANCELLED,
        [SCHED_PENDING] = SCHED_EV_STOPPED,
    };
    struct sched_event *e = event_emit(s, kinds[final], now, id);
    e->reason = why;
    w->state = final;
    if (final != SCHED_PENDING)
        queue_unreserve(s, w->workspace); /* its room in the queue is no longer kept for it */
    if (final == SCHED_PENDING) {
        /* a fresh start later, in its original place in the queue */
        w->reason = SCHED_REASON_NONE;
        w->queued_ms = now;
        queue_insert(s, id);
    }
    tenant_touch(s, w->tenant);
    if (backfill != SCHED_NONE && --s->workloads[backfill].waiting_on == 0) {
        rc = lifecycle_start(s, backfill, now);
        if (rc)
            return rc;
    }
    if (claimant != SCHED_NONE && --s->workloads[claimant].waiting_on == 0)
        return lifecycle_start(s, claimant, now);
    return 0;
}

struct sched_event *lifecycle_queue_reason(struct sched *s, uint32_t id, enum sched_reason why,
                                           const char *message, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    if (w->reason == why)
        return NULL;
    w->reason = why;
    if (w->state == SCHED_PENDING)
        engine_refresh_touch(s, id);
    struct sched_event *e = event_emit(s, SCHED_EV_QUEUED, now, id);
    e->reason = why;
    snprintf(e->message, sizeof(e->message), "%s", message);
    return e;
}
