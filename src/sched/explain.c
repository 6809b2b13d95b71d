/* Why a pending workload waits, in detail: positions, the workloads ahead of it, the holders of
 * what it waits for and an estimated start where their ends are known. The method is that of
 * docs/policy.md, "Pending workloads explained"; nothing of the engine changes. */
#include "sched/explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sched/preempt.h"
#include "sched/queue.h"

static const char *const role_names[] = {
#define EXPLAIN_ROLE_NAME(e, name, text) name,
    EXPLAIN_ROLE_TABLE(EXPLAIN_ROLE_NAME)
#undef EXPLAIN_ROLE_NAME
};

const char *explain_role_name(enum explain_role r)
{
    return (unsigned)r < EXPLAIN_ROLE_COUNT ? role_names[r] : "unknown";
}

/* What the estimate has gathered: the latest known end, and how many ends are unknown. */
struct tally {
    int64_t latest;
    uint32_t unknown;
    explain_known_end *known_end;
    void *ctx;
};

/* When workload h stops holding what it holds: a draining one by its deadline (its grace
 * period's end), a running one by its time limit (sched_workload_end_by) or when the caller
 * knows its end; a borrower to reclaim once told
 * to drain now, at the latest when its grace period ends. RET ms, or -1: unknown. */
static int64_t holder_end(const struct sched *s, uint32_t h, enum explain_role role, int64_t now,
                          const struct tally *t)
{
    const struct sched_workload *w = &s->workloads[h];
    int64_t known = t->known_end ? t->known_end(t->ctx, h) : -1;
    int64_t bound = -1;
    if (w->state == SCHED_DRAINING)
        bound = w->deadline_ms;
    else if (role == EXPLAIN_ROLE_TO_RECLAIM)
        bound = now + w->grace_ms;
    int64_t limit = sched_workload_end_by(w); /* its time limit, if it has one */
    if (limit >= 0 && (bound < 0 || limit < bound))
        bound = limit;
    if (known >= 0 && (bound < 0 || known < bound))
        return known;
    return bound;
}

/* Count h as a holder in role (named while there is room) and its end in the tally. */
static void holder_add(const struct sched *s, struct explain *out, struct tally *t, uint32_t h,
                       enum explain_role role, int64_t now)
{
    if (out->n_holders < EXPLAIN_MAX_NAMES)
        out->holders[out->n_holders++] = (struct explain_holder){h, role};
    out->holders_total++;
    if (role == EXPLAIN_ROLE_STARVING)
        return; /* it waits too: no end */
    int64_t end = holder_end(s, h, role, now, t);
    if (end < 0)
        t->unknown++;
    else if (end > t->latest)
        t->latest = end;
}

/* Its position in its workspace's queue and its tenant's FIFO, and the head of the queue. */
static void positions(const struct sched *s, uint32_t id, struct explain *out)
{
    const struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    uint32_t k = 0;
    const struct sched_queued *entries = queue_entries(ws);
    for (uint32_t i = 0; i < ws->n_pending; i++) {
        uint32_t q = entries[i].id;
        k++;
        if (q == id) {
            out->workspace_index = k;
            break;
        }
        if (out->n_ahead < EXPLAIN_MAX_NAMES)
            out->ahead[out->n_ahead++] = q;
    }
    out->workspace_count = ws->n_pending;
    k = 0;
    for (uint32_t q = t->fifo_head; q != SCHED_NONE; q = s->workloads[q].fnext) {
        k++;
        if (q == id) {
            out->tenant_index = k;
            break;
        }
    }
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        out->tenant_count += s->workspaces[t->workspaces[i]].n_pending;
}

/* The running workloads of workspace wsid, each a holder in role. */
static void workspace_running(const struct sched *s, uint32_t wsid, struct explain *out,
                              struct tally *t, enum explain_role role, int64_t now)
{
    for (uint32_t r = s->workspaces[wsid].running_head; r != SCHED_NONE; r = s->workloads[r].rnext)
        holder_add(s, out, t, r, role, now);
}

/* Draining workloads end by their deadlines: the latest of those of tenant tid (or of its
 * workspace wsid only, unless SCHED_NONE) goes into the tally. A scan of every workload, made
 * only when the scope has draining work. */
static void draining_ends(const struct sched *s, uint32_t tid, uint32_t wsid, struct tally *t)
{
    bool any = false;
    const struct sched_tenant *tn = &s->tenants[tid];
    for (uint32_t i = 0; i < tn->n_workspaces && !any; i++) {
        const struct sched_workspace *ws = &s->workspaces[tn->workspaces[i]];
        any = (wsid == SCHED_NONE || wsid == tn->workspaces[i]) &&
              (ws->draining.gpu || ws->draining.cpu || ws->draining.memory);
    }
    for (uint32_t i = 0; any && i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (w->name && w->state == SCHED_DRAINING && w->tenant == tid &&
            (wsid == SCHED_NONE || w->workspace == wsid) && w->deadline_ms > t->latest)
            t->latest = w->deadline_ms;
    }
}

/* Does any workspace of tenant tid (or wsid only, unless SCHED_NONE) have room claimed by
 * reclaiming work, which will hold it once it runs? */
static bool claims_pending(const struct sched *s, uint32_t tid, uint32_t wsid)
{
    const struct sched_tenant *tn = &s->tenants[tid];
    for (uint32_t i = 0; i < tn->n_workspaces; i++) {
        const struct sched_workspace *ws = &s->workspaces[tn->workspaces[i]];
        if ((wsid == SCHED_NONE || wsid == tn->workspaces[i]) &&
            (ws->claimed.gpu || ws->claimed.cpu || ws->claimed.memory))
            return true;
    }
    return false;
}

/* The borrowers a reclaim would stop for id now (preempt.c's choice, run dry), as holders.
 * RET how many (0: a reclaim would not make room), or -ALLOT_ENOMEM. */
static int reclaim_holders(struct sched *s, uint32_t id, struct explain *out, struct tally *t,
                           int64_t now)
{
    uint32_t first[EXPLAIN_MAX_NAMES], total = 0;
    int rc = preempt_reclaim_victims(s, id, first, EXPLAIN_MAX_NAMES, &total);
    if (rc == -ALLOT_ENOMEM)
        return rc;
    if (rc || total == 0)
        return 0;
    uint32_t *all = first;
    if (total > EXPLAIN_MAX_NAMES) { /* every one's end counts in the estimate */
        uint32_t again = 0;
        all = malloc(total * sizeof(*all));
        rc = all ? preempt_reclaim_victims(s, id, all, total, &again) : -ALLOT_ENOMEM;
        if (rc || again != total) {
            free(all);
            return rc == -ALLOT_ENOMEM ? rc : 0;
        }
    }
    for (uint32_t i = 0; i < total; i++)
        holder_add(s, out, t, all[i], EXPLAIN_ROLE_TO_RECLAIM, now);
    if (all != first)
        free(all);
    return (int)total;
}

/* The estimate from the tally (the latest end, not before now) with `what` as its sentence,
 * or "unknown: " and why when there is no holder or an end is unknown. */
static void estimate(struct explain *out, const struct tally *t, int64_t now, const char *what)
{
    if (out->holders_total == 0) {
        snprintf(out->why, sizeof(out->why),
                 "unknown: no running workload holds what it waits for (it waits for nodes to "
                 "be added, to come back or to become healthy, or for draining work)");
        return;
    }
    if (t->unknown) {
        snprintf(out->why, sizeof(out->why),
                 "unknown: %u of the %u workload(s) it waits for have no known end (no "
                 "duration or time limit)",
                 t->unknown, out->holders_total);
        return;
    }
    out->estimated_start = t->latest > now ? t->latest : now;
    snprintf(out->why, sizeof(out->why), "%s", what);
}

int explain_workload(struct sched *s, uint32_t id, int64_t now, explain_known_end *known_end,
                     void *ctx, struct explain *out)
{
    memset(out, 0, sizeof(*out));
    out->estimated_start = -1;
    if (id >= s->n_workloads || !s->workloads[id].name)
        return -ALLOT_ENOENT;
    const struct sched_workload *w = &s->workloads[id];
    if (w->state != SCHED_PENDING && w->state != SCHED_RECLAIMING)
        return -ALLOT_ESTATE;
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    const struct sched_tenant *tn = &s->tenants[w->tenant];
    struct tally t = {.latest = 0, .unknown = 0, .known_end = known_end, .ctx = ctx};

    if (w->state == SCHED_RECLAIMING) { /* its room is claimed: it waits for its victims */
        for (uint32_t i = 0; i < s->n_workloads; i++)
            if (s->workloads[i].name && s->workloads[i].state == SCHED_DRAINING &&
                s->workloads[i].reclaim_for == id)
                holder_add(s, out, &t, i,
                           s->workloads[i].reason == SCHED_REASON_PRIORITY ? EXPLAIN_ROLE_PREEMPTED
                                                                           : EXPLAIN_ROLE_RECLAIMED,
                           now);
        estimate(out, &t, now,
                 "when the last workload draining for it is gone (by the end of its grace period)");
        return 0;
    }

    positions(s, id, out);
    bool within = sched_workspace_position(ws) + w->total.gpu <= ws->reserved;
    uint32_t scope = SCHED_NONE; /* where the room it waits for is: its tenant, or ... */
    const char *unknown = NULL;  /* the estimate is unknown for this reason */
    switch (w->reason) {
    case SCHED_REASON_WORKSPACE_LIMIT:
    case SCHED_REASON_RESERVATION_FULL:
        scope = w->workspace; /* ... its workspace */
        workspace_running(s, w->workspace, out, &t,
                          w->reason == SCHED_REASON_WORKSPACE_LIMIT
                              ? EXPLAIN_ROLE_HOLDS_LIMIT
                              : EXPLAIN_ROLE_HOLDS_RESERVATION,
                          now);
        break;
    case SCHED_REASON_STARVATION_GUARD:
        if (tn->held_by != SCHED_NONE && tn->held_by != id)
            holder_add(s, out, &t, tn->held_by, EXPLAIN_ROLE_STARVING, now);
        unknown = "unknown: it waits until the starving workload of its tenant runs";
        break;
    default: {
        int n = within ? reclaim_holders(s, id, out, &t, now) : 0;
        if (n < 0)
            return n;
        if (n > 0) {
            if (out->workspace_index > 1)
                snprintf(out->why, sizeof(out->why),
                         "unknown: %u workload(s) are ahead of it in its workspace's queue",
                         out->workspace_index - 1);
            else
                estimate(out, &t, now,
                         "once the next scheduling pass reclaims the borrowers: they drain "
                         "within their grace periods");
            return 0;
        }
        for (uint32_t i = 0; i < tn->n_workspaces; i++)
            workspace_running(s, tn->workspaces[i], out, &t, EXPLAIN_ROLE_HOLDS_CAPACITY, now);
        if (w->reason == SCHED_REASON_BORROW_UNAVAILABLE)
            unknown = "unknown: what it may borrow depends on the other workspaces' "
                      "reservations and use, not only on ends";
        else if (w->reason == SCHED_REASON_CAPACITY_DEGRADED)
            unknown = "unknown: its tenant has fewer healthy GPUs than it reserves";
        else if (w->reason == SCHED_REASON_NONE)
            unknown = "unknown: no scheduling pass has looked at it yet";
        else if (w->reason == SCHED_REASON_TOPOLOGY)
            unknown = "unknown: it waits for one topology domain with room for all its "
                      "replicas; ends are counted in GPUs, not domains";
    }
    }
    if (unknown) {
        snprintf(out->why, sizeof(out->why), "%s", unknown);
        return 0;
    }
    if (out->workspace_index > 1 || out->tenant_index > 1) {
        snprintf(out->why, sizeof(out->why),
                 "unknown: %u workload(s) are ahead of it in its workspace's queue and %u in "
                 "its tenant's; the order they start in is not simulated",
                 out->workspace_index ? out->workspace_index - 1 : 0,
                 out->tenant_index ? out->tenant_index - 1 : 0);
        return 0;
    }
    if (claims_pending(s, w->tenant, scope)) {
        snprintf(out->why, sizeof(out->why),
                 "unknown: other work of its %s is reclaiming room and will hold it",
                 scope == SCHED_NONE ? "tenant" : "workspace");
        return 0;
    }
    draining_ends(s, w->tenant, scope, &t);
    estimate(out, &t, now,
             "when the last workload holding what it waits for has ended, if no other work "
             "takes the room first");
    return 0;
}

/* Order of entries by workload id, for the FIFO walk's look-ups. */
static int entry_by_workload(const void *a, const void *b)
{
    uint32_t x = ((const struct explain_entry *)a)->workload;
    uint32_t y = ((const struct explain_entry *)b)->workload;
    return x < y ? -1 : x > y;
}

int explain_queue(const struct sched *s, uint32_t ws, uint32_t skip, uint32_t max,
                  struct explain_entry *out, uint32_t *n)
{
    *n = 0;
    if (ws >= s->n_workspaces)
        return -ALLOT_ENOENT;
    const struct sched_workspace *w = &s->workspaces[ws];
    const struct sched_queued *entries = queue_entries(w);
    for (uint32_t k = skip; k < w->n_pending && *n < max; k++)
        out[(*n)++] = (struct explain_entry){entries[k].id, k + 1, 0};
    if (*n == 0)
        return 0;
    /* the tenant's FIFO once, each of this workspace's looked up among those listed */
    struct explain_entry *sorted = malloc(*n * sizeof(*sorted));
    if (!sorted)
        return -ALLOT_ENOMEM;
    memcpy(sorted, out, *n * sizeof(*sorted));
    qsort(sorted, *n, sizeof(*sorted), entry_by_workload);
    uint32_t found = 0, index = 0;
    for (uint32_t f = s->tenants[s->workspaces[ws].tenant].fifo_head; f != SCHED_NONE && found < *n;
         f = s->workloads[f].fnext) {
        index++;
        struct explain_entry key = {.workload = f};
        struct explain_entry *e =
            s->workloads[f].workspace == ws
                ? bsearch(&key, sorted, *n, sizeof(*sorted), entry_by_workload)
                : NULL;
        if (e) {
            e->tenant_index = index;
            found++;
        }
    }
    for (uint32_t i = 0; i < *n; i++) {
        struct explain_entry key = {.workload = out[i].workload};
        const struct explain_entry *e =
            bsearch(&key, sorted, *n, sizeof(*sorted), entry_by_workload);
        out[i].tenant_index = e ? e->tenant_index : 0;
    }
    free(sorted);
    return 0;
}
