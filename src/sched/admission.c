/* The admission pass (sched_schedule): in each changed tenant, pending workloads are taken
 * in policy order and each is admitted, sent to reclaim, or left queued with its reason.
 * The rules and their order are those of docs/policy.md, "Admission". */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/event.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"
#include "sched/sched.h"

/* What one admission attempt came to. */
enum attempt {
    ATTEMPT_ADMITTED, /* running, or reclaiming room for it */
    ATTEMPT_QUOTA,    /* held back by its own workspace (limits, reservation) */
    ATTEMPT_CAPACITY, /* held back by capacity: may starve, see tenant_pass */
    ATTEMPT_HELD,     /* held back by the starvation guard */
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

struct pass {
    struct pass_ws *ws; /* one per workspace of the tenant, in tenant order */
    uint64_t gen;       /* bumped by every admission, reclaim or preemption in the pass */
    bool reclaim_failed;
    int64_t reclaim_need;
    /* placements on free capacity that failed in this pass, one per kind of request */
    struct place_memo {
        bool used;
        int16_t mig, model; /* the kind: MIG profile (or -1 for whole GPUs) and model */
        uint32_t gpus, replicas;
        int64_t cpu, memory;
    } place[PASS_PLACE_MEMOS];
    /* the same for borrowers kept off the nodes fenced for a starving workload: they see
     * less capacity, so their failures say nothing about the others' */
    struct place_memo fenced_place[PASS_PLACE_MEMOS];
};

/* Is a no larger than b in every dimension (same kind)? */
static bool request_within(const struct sched_workload *a, const struct place_memo *b)
{
    return a->mig == b->mig && a->model == b->model && a->gpus <= b->gpus &&
           a->replicas <= b->replicas && a->cpu <= b->cpu && a->memory <= b->memory;
}

/* Would placement surely fail for w, being no smaller in any way than a request of its kind
 * that failed in this pass? */
static bool placement_hopeless(const struct pass *p, const struct sched_workload *w, bool fenced)
{
    for (int i = 0; i < PASS_PLACE_MEMOS; i++) {
        const struct place_memo *m = fenced ? &p->fenced_place[i] : &p->place[i];
        if (m->used && w->mig == m->mig && w->model == m->model && w->gpus >= m->gpus &&
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
        if (!memo[i].used || (memo[i].mig == w->mig && memo[i].model == w->model))
            slot = &memo[i];
    if (!slot || (slot->used && !request_within(w, slot)))
        return;
    *slot = (struct place_memo){true, w->mig, w->model, w->gpus, w->replicas, w->cpu, w->memory};
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

/* Whole GPUs of any model: the requests the memos of struct pass compare. */
static bool plain_request(const struct sched_workload *w)
{
    return w->mig < 0 && w->model < 0;
}

static int scratch_reserve(struct sched *s, uint32_t n)
{
    if (n <= s->cap_scratch)
        return 0;
    uint32_t cap = s->cap_scratch ? s->cap_scratch : 64;
    while (cap < n)
        cap *= 2;
    uint32_t *p = realloc(s->scratch, cap * sizeof(*p));
    if (!p)
        return -ALLOT_ENOMEM;
    s->scratch = p;
    s->cap_scratch = cap;
    return 0;
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

/* Mark or unmark a victim for placement searches. */
static void victim_set(struct sched *s, uint32_t v, bool mark)
{
    struct sched_workload *w = &s->workloads[v];
    if (w->victim_mark == mark)
        return;
    w->victim_mark = mark;
    int sign = mark ? 1 : -1;
    for (uint32_t r = 0; r < w->replicas; r++) {
        struct sched_node *n = &s->nodes[w->placement[r].node];
        n->victim_cpu += sign * w->cpu;
        n->victim_memory += sign * w->memory;
        n->victim_whole += (uint32_t)(sign * __builtin_popcount(w->placement[r].gpu_mask));
    }
    s->victim_whole += (int64_t)sign * w->gpus * w->replicas;
}

/* A cheap necessary condition for a whole-GPU request to fit with the marked victims gone:
 * enough free whole GPUs in the tenant, counting the victims'. */
static bool enough_whole(const struct sched *s, const struct sched_workload *w)
{
    if (w->mig >= 0)
        return true;
    return (int64_t)w->gpus * w->replicas <=
           (int64_t)s->tenants[w->tenant].free_whole + s->victim_whole;
}

/* Would workload id fit with the currently marked victims gone? Leaves nothing claimed. */
static bool fits_with_victims(struct sched *s, uint32_t id)
{
    if (placement_claim(s, id) < 0)
        return false;
    placement_unclaim(s, id);
    return true;
}

/* Victim order: lowest priority first, then fewest GPUs, then most recently started. */
static int victim_cmp(const void *pa, const void *pb, void *ctx)
{
    const struct sched *s = ctx;
    const struct sched_workload *a = &s->workloads[*(const uint32_t *)pa];
    const struct sched_workload *b = &s->workloads[*(const uint32_t *)pb];
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    if (a->total.gpu != b->total.gpu)
        return a->total.gpu < b->total.gpu ? -1 : 1;
    if (a->start_ms != b->start_ms)
        return a->start_ms > b->start_ms ? -1 : 1;
    return a->seq > b->seq ? -1 : (a->seq < b->seq ? 1 : 0);
}

/* Sift element i down the max-heap v[0..n) ordered by victim_cmp. */
static void victims_sift(struct sched *s, uint32_t *v, uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && victim_cmp(&v[c + 1], &v[c], s) > 0)
            c++;
        if (victim_cmp(&v[c], &v[i], s) <= 0)
            return;
        uint32_t t = v[c];
        v[c] = v[i];
        v[i] = t;
        i = c;
    }
}

/* Sort victims into victim order: a heap sort, in place and O(n log n), with the engine as
 * the comparison's context (qsort has none). */
static void victims_sort(struct sched *s, uint32_t *v, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        victims_sift(s, v, i, n);
    for (uint32_t end = n; end > 1; end--) {
        uint32_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        victims_sift(s, v, 0, end - 1);
    }
}

/* Running, preemptible workloads of the tenant's other workspaces that are borrowing: the
 * only ones a reclaim may take (docs/policy.md, "Reclaim"). Written to s->scratch in victim
 * order. RET their count, or -ALLOT_ENOMEM. */
static int reclaim_candidates(struct sched *s, const struct sched_workload *w)
{
    const struct sched_tenant *t = &s->tenants[w->tenant];
    uint32_t n = 0;
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        const struct sched_node *node = &s->nodes[t->nodes[k]];
        for (uint32_t i = 0; i < node->n_gpus; i++) {
            const struct sched_gpu *g = &node->gpus[i];
            for (int m = g->n_mig ? 0 : -1; m < (int)g->n_mig; m++) {
                uint32_t h = m < 0 ? g->holder : g->mig[m].holder;
                if (h == SCHED_NONE)
                    continue;
                const struct sched_workload *v = &s->workloads[h];
                if (v->state != SCHED_RUNNING || !v->preemptible || v->workspace == w->workspace ||
                    quota_borrowed(&s->workspaces[v->workspace]) == 0)
                    continue;
                bool dup = false;
                for (uint32_t j = n; j-- > 0 && !dup;)
                    dup = s->scratch[j] == h;
                if (dup)
                    continue;
                if (scratch_reserve(s, n + 1))
                    return -ALLOT_ENOMEM;
                s->scratch[n++] = h;
            }
        }
    }
    victims_sort(s, s->scratch, n);
    return (int)n;
}

/* GPU units already chosen as victims from workspace ws among v[0..n). */
static int64_t victims_taken(const struct sched *s, const uint32_t *v, uint32_t n, uint32_t ws)
{
    int64_t taken = 0;
    for (uint32_t i = 0; i < n; i++)
        if (s->workloads[v[i]].victim_mark && s->workloads[v[i]].workspace == ws)
            taken += s->workloads[v[i]].total.gpu;
    return taken;
}

/* Reclaim room for workload id (within its reservation): choose the fewest borrowed
 * workloads whose removal lets it fit, never taking a workspace below its reservation,
 * claim the room and tell the victims to drain. RET 0 (id is reclaiming, or running when
 * no victim was needed after all), -ALLOT_ENOFIT, -ALLOT_ENOMEM. */
static int reclaim(struct sched *s, uint32_t id, int64_t now)
{
    int n = reclaim_candidates(s, &s->workloads[id]);
    if (n < 0)
        return n;
    uint32_t *v = s->scratch;
    bool fitted = false;
    uint32_t used = 0;
    for (uint32_t i = 0; i < (uint32_t)n && !fitted; i++) {
        const struct sched_workload *c = &s->workloads[v[i]];
        const struct sched_workspace *cws = &s->workspaces[c->workspace];
        used = i + 1;
        if (quota_position(cws) - victims_taken(s, v, i, c->workspace) - c->total.gpu <
            cws->reserved)
            continue;
        victim_set(s, v[i], true);
        fitted = enough_whole(s, &s->workloads[id]) && fits_with_victims(s, id);
    }
    if (!fitted) {
        for (uint32_t i = 0; i < used; i++)
            victim_set(s, v[i], false);
        return -ALLOT_ENOFIT;
    }
    /* Never more than the need: drop every victim the fit does not depend on, starting
     * from the last chosen (the least protected). */
    for (uint32_t i = used; i-- > 0;) {
        if (!s->workloads[v[i]].victim_mark)
            continue;
        victim_set(s, v[i], false);
        if (!fits_with_victims(s, id))
            victim_set(s, v[i], true);
    }
    int rc = placement_claim(s, id);
    assert(rc == 0);
    (void)rc;
    struct sched_workload *w = &s->workloads[id];
    lifecycle_reclaim(s, id, false, now); /* a reclaim is for work within the reservation */
    for (uint32_t i = 0; i < used; i++) {
        if (!s->workloads[v[i]].victim_mark)
            continue;
        victim_set(s, v[i], false);
        const struct sched_workload *c = &s->workloads[v[i]];
        bool shares = false;
        for (uint32_t a = 0; a < c->replicas && !shares; a++)
            for (uint32_t b = 0; b < w->replicas && !shares; b++)
                shares = c->placement[a].node == w->placement[b].node;
        if (!shares)
            continue;
        lifecycle_drain(s, v[i], SCHED_REASON_RECLAIM, id, now);
        w->waiting_on++;
    }
    if (w->waiting_on == 0)
        lifecycle_start(s, id, now);
    return 0;
}

/* With the marked victims gone, would workload w pass its workspace's limits and
 * reservation rules and the borrowable-capacity check? freed: what the victims hold. */
static bool quota_fits_with(const struct sched *s, const struct sched_workload *w,
                            const struct sched_resources *freed)
{
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    struct sched_resources more = w->total;
    enum sched_resource which;
    quota_add(&more, freed, -1);
    if (!quota_fits_limits(ws, &more, &which))
        return false;
    int64_t pos = quota_position(ws) - freed->gpu;
    if (pos + w->total.gpu <= ws->reserved)
        return true;
    if (!w->preemptible)
        return false;
    return quota_borrowable(s, w->workspace) + freed->gpu >= w->total.gpu;
}

/* Priority preemption inside a workspace (docs/policy.md, "Priority"): make room for
 * workload id by stopping running, preemptible workloads of its own workspace with a lower
 * priority; fewest needed, in victim order. RET 0 (id is reclaiming), -ALLOT_ENOENT (no
 * such workload runs), -ALLOT_ENOFIT (they would not make room), -ALLOT_ENOMEM. */
static int priority_preempt(struct sched *s, uint32_t id, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t n = 0;
    struct sched_resources freed = {0, 0, 0, 0};
    int64_t whole = 0;
    for (uint32_t v = ws->preempt_head; v != SCHED_NONE; v = s->workloads[v].pnext) {
        const struct sched_workload *c = &s->workloads[v];
        if (c->priority >= w->priority)
            break; /* the list runs from the lowest priority */
        if (scratch_reserve(s, n + 1))
            return -ALLOT_ENOMEM;
        s->scratch[n++] = v;
        quota_add(&freed, &c->total, +1);
        whole += (int64_t)c->gpus * c->replicas;
    }
    /* hopeless even if every candidate went: no need to sort or search */
    if (n == 0)
        return -ALLOT_ENOENT;
    if (!quota_fits_with(s, w, &freed) ||
        (w->mig < 0 && (int64_t)w->gpus * w->replicas > s->tenants[w->tenant].free_whole + whole))
        return -ALLOT_ENOFIT;
    memset(&freed, 0, sizeof(freed));
    uint32_t *v = s->scratch;
    victims_sort(s, v, n);
    bool fitted = false;
    uint32_t used = 0;
    for (uint32_t i = 0; i < n && !fitted; i++) {
        used = i + 1;
        victim_set(s, v[i], true);
        quota_add(&freed, &s->workloads[v[i]].total, +1);
        fitted = quota_fits_with(s, w, &freed) && enough_whole(s, w) && fits_with_victims(s, id);
    }
    if (!fitted) {
        for (uint32_t i = 0; i < used; i++)
            victim_set(s, v[i], false);
        return -ALLOT_ENOFIT;
    }
    for (uint32_t i = used; i-- > 0;) {
        victim_set(s, v[i], false);
        quota_add(&freed, &s->workloads[v[i]].total, -1);
        if (!quota_fits_with(s, w, &freed) || !fits_with_victims(s, id)) {
            victim_set(s, v[i], true);
            quota_add(&freed, &s->workloads[v[i]].total, +1);
        }
    }
    int rc = placement_claim(s, id);
    assert(rc == 0);
    (void)rc;
    bool borrowed = quota_position(ws) - freed.gpu + w->total.gpu > ws->reserved;
    lifecycle_reclaim(s, id, borrowed, now);
    for (uint32_t i = 0; i < used; i++) {
        if (!s->workloads[v[i]].victim_mark)
            continue;
        victim_set(s, v[i], false);
        lifecycle_drain(s, v[i], SCHED_REASON_PRIORITY, id, now);
        w->waiting_on++;
    }
    assert(w->waiting_on > 0);
    return 0;
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
        if (quota_borrowed(&s->workspaces[t->workspaces[i]]) > 0)
            return true;
    return false;
}

/* ---- the fence of a starving workload (docs/policy.md, "Starvation") ---- */

static void fence_clear(struct sched *s, struct sched_tenant *t)
{
    for (uint32_t i = 0; i < t->n_fence; i++)
        s->nodes[t->fence[i]].fenced = false;
    t->n_fence = 0;
}

/* Healthy whole GPUs of node n that a replica of w could use (its model, if it names one). */
static uint32_t node_fits_whole(const struct sched_node *n, const struct sched_workload *w)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        count += !g->n_mig && g->healthy && (w->model < 0 || (int)g->model == w->model);
    }
    return count;
}

/* Set aside nodes for starving workload id of tenant t: one per replica, each able to hold
 * a replica, those with the most free whole GPUs first (they fill it soonest; ties: the
 * tenant's node order). Borrowers are not placed there while it waits; everything else goes
 * on. RET false, with no fence, for a MIG or CPU-only request or when too few nodes could
 * ever hold it: borrowing then pauses in the whole tenant. */
static bool fence_make(struct sched *s, struct sched_tenant *t, uint32_t id)
{
    const struct sched_workload *w = &s->workloads[id];
    fence_clear(s, t);
    if (w->mig >= 0 || w->gpus == 0)
        return false;
    if (t->cap_fence < w->replicas) {
        uint32_t *f = realloc(t->fence, w->replicas * sizeof(*f));
        if (!f) {
            s->oom = true;
            return false;
        }
        t->fence = f;
        t->cap_fence = w->replicas;
    }
    for (uint32_t r = 0; r < w->replicas; r++) {
        uint32_t best = SCHED_NONE;
        for (uint32_t k = 0; k < t->n_nodes; k++) {
            const struct sched_node *n = &s->nodes[t->nodes[k]];
            if (n->fenced || n->state != SCHED_NODE_READY || node_fits_whole(n, w) < w->gpus)
                continue;
            if (best == SCHED_NONE || n->free_whole > s->nodes[best].free_whole)
                best = t->nodes[k];
        }
        if (best == SCHED_NONE) {
            fence_clear(s, t);
            return false;
        }
        s->nodes[best].fenced = true;
        t->fence[t->n_fence++] = best;
    }
    return true;
}

/* Is workload id, which is (within) or is not within its reservation, kept off its tenant's
 * fenced nodes? Borrowers are, but not the starving workload itself. */
static bool fence_applies(const struct sched *s, uint32_t id, bool within)
{
    const struct sched_tenant *t = &s->tenants[s->workloads[id].tenant];
    return !within && t->n_fence > 0 && t->held_by != id;
}

/* Free capacity on the fenced nodes of t: GPU units, or whole GPUs in units when whole. */
static int64_t fence_free(const struct sched *s, const struct sched_tenant *t, bool whole)
{
    int64_t units = 0;
    for (uint32_t i = 0; i < t->n_fence; i++) {
        const struct sched_node *n = &s->nodes[t->fence[i]];
        units +=
            whole ? (int64_t)n->free_whole * QUANTITY_GPU_UNITS : placement_node_free_units(s, n);
    }
    return units;
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
                quota_format(which, quota_get(&ws->held, which) + quota_get(&ws->claimed, which), a,
                             sizeof(a)),
                quota_format(which, quota_get(&ws->limits, which), b, sizeof(b)),
                quota_resource_name(which),
                quota_format(which, quota_get(&w->total, which), c, sizeof(c)));
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
    s->workloads[id].avoid_fence = false;
    return r;
}

/* attempt_admit, which leaves the workload's avoid_fence for it to clear. */
static enum attempt attempt_admit_fenced(struct sched *s, uint32_t id, uint32_t held_by,
                                         struct pass *p, struct pass_ws *pw, int64_t now)
{
    struct sched_workload *w = &s->workloads[id];
    struct sched_workspace *ws = &s->workspaces[w->workspace];
    struct sched_tenant *t = &s->tenants[w->tenant];
    char msg[sizeof(((struct sched_event *)0)->message)];
    char a[32], b[32];
    bool within;
    enum attempt result = ATTEMPT_CAPACITY;

    /* 1 to 3: workspace limits, reserved capacity, borrowable capacity (what the workspace
     * may borrow changes only with an admission, reclaim or preemption: kept per pass) */
    if (pw && p->ws && pw->borrowable_gen != p->gen + 1) {
        pw->borrowable = quota_borrowable(s, w->workspace);
        pw->borrowable_gen = p->gen + 1;
    }
    enum sched_reason why = quota_check(s, id, held_by, pw && p->ws ? pw->borrowable : -1, now,
                                        &within, msg, sizeof(msg));
    if (why == SCHED_REASON_STARVATION_GUARD) {
        lifecycle_queue_reason(s, id, why, msg, now);
        return ATTEMPT_HELD;
    }
    if (why == SCHED_REASON_WORKSPACE_LIMIT || why == SCHED_REASON_RESERVATION_FULL)
        result = ATTEMPT_QUOTA;
    if (why != SCHED_REASON_NONE)
        goto blocked;
    /* a borrower stays off the nodes set aside for a starving workload; work within its
     * reservation uses them only when nothing else has room, so that they empty */
    w->avoid_fence = fence_applies(s, id, within);
    bool spare = within && t->n_fence > 0 && t->held_by != id;
    /* 4. node ownership and real-time availability: the tenant's own ready nodes */
    if (free_enough(t, w) && !placement_hopeless(p, w, w->avoid_fence)) {
        w->avoid_fence = w->avoid_fence || spare;
        if (placement_claim(s, id) == 0) {
            lifecycle_start(s, id, now);
            return ATTEMPT_ADMITTED;
        }
        w->avoid_fence = fence_applies(s, id, within);
        if (spare && placement_claim(s, id) == 0) {
            lifecycle_start(s, id, now);
            return ATTEMPT_ADMITTED;
        }
        placement_failed(p, w, w->avoid_fence);
    }
    /* 5. reclaim, for work within its reservation */
    if (within) {
        int rc = -ALLOT_ENOFIT;
        bool hopeless = p->reclaim_failed && plain_request(w) && w->total.gpu >= p->reclaim_need;
        if (!hopeless && tenant_has_borrowers(s, t)) {
            rc = reclaim(s, id, now);
            if (rc == -ALLOT_ENOFIT && plain_request(w) &&
                (!p->reclaim_failed || w->total.gpu < p->reclaim_need)) {
                p->reclaim_failed = true;
                p->reclaim_need = w->total.gpu;
            }
        }
        if (rc == 0) {
            if (w->state == SCHED_RECLAIMING) {
                snprintf(msg, sizeof(msg),
                         "reclaiming borrowed GPUs of tenant %s: %u workload(s) are draining",
                         t->name, w->waiting_on);
                lifecycle_queue_reason(s, id, SCHED_REASON_RECLAIMING, msg, now);
            }
            return ATTEMPT_ADMITTED;
        }
        if (rc == -ALLOT_ENOMEM)
            s->oom = true;
        if (t->degraded) {
            if (w->reason != SCHED_REASON_CAPACITY_DEGRADED)
                snprintf(msg, sizeof(msg),
                         "tenant %s has %s healthy GPUs for %s reserved; its reservations cannot "
                         "all be honoured now",
                         t->name, quantity_format_gpu(t->healthy_units, a, sizeof(a)),
                         quantity_format_gpu(t->reserved_units, b, sizeof(b)));
            why = SCHED_REASON_CAPACITY_DEGRADED;
            goto blocked;
        }
        if (tenant_has_borrowers(s, t)) {
            if (w->reason != SCHED_REASON_RECLAIM_BLOCKED)
                snprintf(msg, sizeof(msg),
                         "within the reservation of %s, but no borrowed workload can be preempted "
                         "to make room for it without taking its workspace below its reservation",
                         ws->name);
            why = SCHED_REASON_RECLAIM_BLOCKED;
            goto blocked;
        }
    }
    if (w->avoid_fence) {
        why = SCHED_REASON_STARVATION_GUARD;
        if (w->reason != why)
            snprintf(
                msg, sizeof(msg),
                "no room for it outside the %u node(s) set aside for %s of tenant %s, "
                "which has waited %s",
                t->n_fence, s->workloads[t->held_by].name, t->name,
                quantity_format_duration(now - s->workloads[t->held_by].queued_ms, a, sizeof(a)));
        goto blocked;
    }
    if (w->reason == SCHED_REASON_NO_CAPACITY)
        ; /* the message is only shown when the reason changes */
    else if (w->mig >= 0)
        snprintf(msg, sizeof(msg),
                 "no ready node of tenant %s has %u free %s slice(s) with the CPU and memory "
                 "asked for",
                 t->name, w->replicas, mig_name(w->mig));
    else
        snprintf(msg, sizeof(msg),
                 "no ready nodes of tenant %s have room for %u replica(s) of %u GPU(s) now "
                 "(%s GPUs free in the tenant)",
                 t->name, w->replicas, w->gpus, quantity_format_gpu(t->free_units, a, sizeof(a)));
    why = SCHED_REASON_NO_CAPACITY;
blocked:
    /* 6. lower-priority work of its own workspace may make room */
    if (pw->preempt_tries >= PASS_PREEMPT_TRIES ||
        (pw->preempt_failed && plain_request(w) && w->priority <= pw->preempt_priority &&
         w->total.gpu >= pw->preempt_need)) {
        lifecycle_queue_reason(s, id, why, msg, now);
        return result;
    }
    int rc = priority_preempt(s, id, now);
    if (rc != -ALLOT_ENOENT)
        pw->preempt_tries++;
    if (rc == -ALLOT_ENOFIT && plain_request(w) && !pw->preempt_failed) {
        pw->preempt_failed = true;
        pw->preempt_priority = w->priority;
        pw->preempt_need = w->total.gpu;
    }
    if (rc == 0) {
        snprintf(msg, sizeof(msg),
                 "preempting %u lower-priority workload(s) of %s to make room; they are draining",
                 w->waiting_on, ws->name);
        lifecycle_queue_reason(s, id, SCHED_REASON_RECLAIMING, msg, now);
        return ATTEMPT_ADMITTED;
    }
    lifecycle_queue_reason(s, id, why, msg, now);
    return result;
}

/* Can nothing pending in workspace ws be admitted for the rest of this pass? Looks at its
 * smallest pending request (queue_min_need, a lower bound): true when its GPU limit is
 * reached, or when it can neither borrow that much nor place it within its reservation,
 * and priority preemption in it has been tried enough or cannot help; or when the starvation
 * guard holds (held_by) and none of it fits in its reservation. Capacity only shrinks
 * within a pass, so a workspace found exhausted stays so (docs/policy.md, "Order"). */
static bool workspace_exhausted(const struct sched *s, uint32_t wsid, const struct pass *p,
                                const struct pass_ws *pw, uint32_t held_by)
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
        blocked = (pw->borrowable_gen == p->gen + 1 ? pw->borrowable : quota_borrowable(s, wsid)) <
                      need ||
                  placeable - fence_free(s, t, !ws->pending_mig) < need;
    if (!limited && !blocked)
        return false;
    if (pw->preempt_tries >= PASS_PREEMPT_TRIES || (pw->preempt_failed && pw->preempt_need <= need))
        return true;
    /* a lower-priority preemptible workload of its own may still make room */
    return pw->cursor == SCHED_NONE || ws->preempt_head == SCHED_NONE ||
           s->workloads[ws->preempt_head].priority >= s->workloads[pw->cursor].priority;
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
#define PASS_REFRESH_DEPTH 32

/* Mark a workspace exhausted for this pass and bring the queue reasons of the rest of its
 * queue up to date without the costly steps: each of them fails a quota check (steps 1 to
 * 3), which is all there is to report. Should one pass them after all (the exhaustion test
 * uses a lower bound of the sizes), the cursor stops there for a full evaluation. */
static void pass_exhaust(struct sched *s, const struct pass *p, struct pass_ws *pw, uint32_t wsid,
                         uint32_t held_by, int64_t now)
{
    char msg[sizeof(((struct sched_event *)0)->message)], a[32];
    bool within;
    const struct sched_tenant *t = &s->tenants[s->workspaces[wsid].tenant];
    bool borrowers = tenant_has_borrowers(s, t);
    pw->exhausted = true;
    int64_t borrowable = quota_borrowable(s, wsid);
    for (uint32_t k = 0; pw->cursor != SCHED_NONE; pw->cursor = s->workloads[pw->cursor].qnext) {
        if (++k > PASS_REFRESH_DEPTH) {
            pw->cursor = SCHED_NONE;
            return;
        }
        const struct sched_workload *w = &s->workloads[pw->cursor];
        enum sched_reason why =
            quota_check(s, pw->cursor, held_by, borrowable, now, &within, msg, sizeof(msg));
        if (why == SCHED_REASON_NONE) {
            /* quota allows it: only a placement or a reclaim could admit it */
            bool fenced = fence_applies(s, pw->cursor, within);
            bool reclaim_may =
                within && borrowers && !placement_hopeless(p, w, false) &&
                !(p->reclaim_failed && plain_request(w) && w->total.gpu >= p->reclaim_need);
            if ((free_enough(t, w) && !placement_hopeless(p, w, fenced)) || reclaim_may)
                return;
            why = fenced ? SCHED_REASON_STARVATION_GUARD : SCHED_REASON_NO_CAPACITY;
            if (w->reason != why && fenced)
                snprintf(msg, sizeof(msg),
                         "no room for it outside the %u node(s) set aside for %s of tenant %s",
                         t->n_fence, s->workloads[t->held_by].name, t->name);
            else if (w->reason != why)
                snprintf(msg, sizeof(msg),
                         "no ready nodes of tenant %s have room for it now (%s GPUs free in the "
                         "tenant)",
                         t->name, quantity_format_gpu(t->free_units, a, sizeof(a)));
        }
        lifecycle_queue_reason(s, pw->cursor, why, msg, now);
    }
}

/* One admission pass over tenant tid: repeatedly take the first pending workload in policy
 * order (pass_before) among the heads of its workspaces' queues. */
static int tenant_pass(struct sched *s, uint32_t tid, int64_t now)
{
    struct sched_tenant *t = &s->tenants[tid];
    uint32_t n = t->n_workspaces;
    struct pass p = {.ws = calloc(n ? n : 1, sizeof(*p.ws))};
    if (!p.ws)
        return -ALLOT_ENOMEM;
    /* docs/policy.md, "Starvation": the longest-waiting borrower that is old enough goes
     * first (the last pass's fence gone: it may use any node); if it still cannot run,
     * nodes are set aside for it, or borrowing pauses for this pass */
    fence_clear(s, t);
    t->held_by = SCHED_NONE;
    uint32_t held_by = SCHED_NONE, first = starving_candidate(s, tid, now);
    if (first != SCHED_NONE) {
        struct pass_ws *pw = NULL;
        for (uint32_t i = 0; i < n && !pw; i++)
            if (t->workspaces[i] == s->workloads[first].workspace)
                pw = &p.ws[i];
        /* before the cursors are set: admitting it takes it out of its queue */
        s->workloads[first].starving = true;
        if (attempt_admit(s, first, SCHED_NONE, &p, pw, now) == ATTEMPT_CAPACITY)
            held_by = first;
    }
    /* it still waits: nodes are set aside for it, and borrowers go on elsewhere; only when
     * no fence can be made does borrowing pause in the whole tenant */
    t->held_by = held_by;
    if (held_by == SCHED_NONE)
        fence_clear(s, t);
    else if (fence_make(s, t, held_by))
        held_by = SCHED_NONE; /* the guard is the fence: no pause */
    for (uint32_t i = 0; i < n; i++) {
        p.ws[i].cursor = s->workspaces[t->workspaces[i]].queue_head;
        if (p.ws[i].cursor != SCHED_NONE &&
            workspace_exhausted(s, t->workspaces[i], &p, &p.ws[i], held_by))
            pass_exhaust(s, &p, &p.ws[i], t->workspaces[i], held_by, now);
    }
    /* the workspaces with a cursor, in tenant order (most are often empty) */
    uint32_t *active = malloc((n ? n : 1) * sizeof(*active)), n_active = 0;
    if (!active) {
        free(p.ws);
        return -ALLOT_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        if (p.ws[i].cursor != SCHED_NONE)
            active[n_active++] = i;
    for (;;) {
        uint32_t best = SCHED_NONE, best_i = 0;
        for (uint32_t a = 0; a < n_active; a++) {
            uint32_t i = active[a];
            struct pass_ws *c = &p.ws[i];
            if (c->cursor == SCHED_NONE) { /* done: out of the list, the order kept */
                memmove(&active[a], &active[a + 1], (n_active - a - 1) * sizeof(*active));
                n_active--;
                a--;
                continue;
            }
            if (c->key_gen != p.gen || c->key_cursor != c->cursor) {
                c->key_gen = p.gen;
                c->key_cursor = c->cursor;
                c->key_class = candidate_class(s, &s->workloads[c->cursor]);
                c->key_borrowed = quota_borrowed(&s->workspaces[t->workspaces[i]]);
            }
            if (best == SCHED_NONE || pass_before(s, t, c, i, &p.ws[best_i], best_i)) {
                best = c->cursor;
                best_i = i;
            }
        }
        if (best == SCHED_NONE)
            break;
        struct pass_ws *pw = &p.ws[best_i];
        pw->cursor = s->workloads[best].qnext;
        if (pw->exhausted)
            pass_exhaust(s, &p, pw, t->workspaces[best_i], held_by, now);
        if (best == first)
            continue; /* evaluated first */
        enum attempt r = attempt_admit(s, best, held_by, &p, pw, now);
        if (r == ATTEMPT_ADMITTED)
            p.gen++;
        if (r != ATTEMPT_ADMITTED && pw->cursor != SCHED_NONE && !pw->exhausted &&
            workspace_exhausted(s, t->workspaces[best_i], &p, pw, held_by))
            pass_exhaust(s, &p, pw, t->workspaces[best_i], held_by, now);
    }
    free(active);
    free(p.ws);
    return 0;
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
    attempt_admit(s, id, t->n_fence ? SCHED_NONE : t->held_by, &p, &pw, now);
    return 0;
}

int sched_schedule(struct sched *s, int64_t now)
{
    s->last_now = now;
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        struct sched_tenant *t = &s->tenants[i];
        if (!t->dirty && t->n_arrivals == 0)
            continue;
        bool full = t->dirty || t->n_arrivals > 1;
        uint32_t arrival = t->arrival;
        t->dirty = false;
        t->n_arrivals = 0;
        int rc = full ? tenant_pass(s, i, now) : arrival_pass(s, i, arrival, now);
        if (rc)
            return rc;
    }
    if (s->oom) {
        s->oom = false;
        return -ALLOT_ENOMEM;
    }
    return 0;
}
