/* Preemption: choosing the fewest running workloads whose removal makes room for a waiting
 * one, in victim order, and telling them to drain: reclaim of borrowed GPUs across
 * workspaces (docs/policy.md, "Reclaim") and priority preemption within one ("Priority"). */
#include "sched/preempt.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sched/engine.h"
#include "sched/lifecycle.h"
#include "sched/placement.h"
#include "sched/quota.h"

/* Mark or unmark a victim for placement searches. */
static void victim_set(struct sched *s, uint32_t v, bool mark)
{
    struct sched_scratch *x = s->scratch;
    const struct sched_workload *w = &s->workloads[v];
    if (x->victim_mark[v] == mark)
        return;
    x->victim_mark[v] = mark;
    int sign = mark ? 1 : -1;
    for (uint32_t r = 0; r < w->replicas; r++) {
        struct engine_node_marks *m = &x->node[w->placement[r].node];
        int whole = sign * __builtin_popcount(w->placement[r].gpu_mask);
        m->victim_cpu += sign * w->cpu;
        m->victim_memory += sign * w->memory;
        m->victim_whole += (uint32_t)whole;
        x->victim_by_pos[s->nodes[w->placement[r].node].tenant_pos] += (uint8_t)whole;
    }
    x->victim_whole += (int64_t)sign * w->gpus * w->replicas;
}

/* Unmark the victims v[0..n). */
static void victims_clear(struct sched *s, const uint32_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        victim_set(s, v[i], false);
}

/* The room workload id fitted in with the marked victims gone could not be claimed: a
 * search and the claim that follows it disagree. Unmarks v[0..n). RET -ALLOT_ECHECK. */
static int claim_broken(struct sched *s, uint32_t id, const uint32_t *v, uint32_t n)
{
    victims_clear(s, v, n);
    return engine_broken(s,
                         "workload %s fits with its victims gone, but its room cannot be claimed",
                         s->workloads[id].name);
}

/* A cheap necessary condition for a whole-GPU request to fit with the marked victims gone:
 * enough free whole GPUs in the tenant, counting the victims'. */
static bool enough_whole(const struct sched *s, const struct sched_workload *w)
{
    if (w->mig >= 0)
        return true;
    return (int64_t)w->gpus * w->replicas <=
           (int64_t)s->tenants[w->tenant].free_whole + s->scratch->victim_whole;
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
 * only ones a reclaim may take (docs/policy.md, "Reclaim"). Written to the scratch
 * candidates in victim order. RET their count, or -ALLOT_ENOMEM. */
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
                    sched_workspace_borrowed(&s->workspaces[v->workspace]) == 0)
                    continue;
                bool dup = false;
                for (uint32_t j = n; j-- > 0 && !dup;)
                    dup = s->scratch->candidates[j] == h;
                if (dup)
                    continue;
                if (engine_candidates_reserve(s, n + 1))
                    return -ALLOT_ENOMEM;
                s->scratch->candidates[n++] = h;
            }
        }
    }
    victims_sort(s, s->scratch->candidates, n);
    return (int)n;
}

/* GPU units already chosen as victims from workspace ws among v[0..n). */
static int64_t victims_taken(const struct sched *s, const uint32_t *v, uint32_t n, uint32_t ws)
{
    int64_t taken = 0;
    for (uint32_t i = 0; i < n; i++)
        if (s->scratch->victim_mark[v[i]] && s->workloads[v[i]].workspace == ws)
            taken += s->workloads[v[i]].total.gpu;
    return taken;
}

/* Choose the victims of a reclaim for workload id (within its reservation): the fewest
 * borrowed workloads whose removal lets it fit, never taking a workspace below its
 * reservation. They are left marked (victim_set) among s->scratch->candidates[0..*used).
 * RET 0; -ALLOT_ENOFIT or -ALLOT_ENOMEM with nothing marked. */
static int reclaim_choose(struct sched *s, uint32_t id, uint32_t *used)
{
    int n = reclaim_candidates(s, &s->workloads[id]);
    if (n < 0)
        return n;
    uint32_t *v = s->scratch->candidates;
    const bool *marked = s->scratch->victim_mark;
    bool fitted = false;
    *used = 0;
    for (uint32_t i = 0; i < (uint32_t)n && !fitted; i++) {
        const struct sched_workload *c = &s->workloads[v[i]];
        const struct sched_workspace *cws = &s->workspaces[c->workspace];
        *used = i + 1;
        if (sched_workspace_position(cws) - victims_taken(s, v, i, c->workspace) - c->total.gpu <
            cws->reserved)
            continue;
        victim_set(s, v[i], true);
        fitted = enough_whole(s, &s->workloads[id]) && fits_with_victims(s, id);
    }
    if (!fitted) {
        victims_clear(s, v, *used);
        return -ALLOT_ENOFIT;
    }
    /* Never more than the need: drop every victim the fit does not depend on, starting
     * from the last chosen (the least protected). */
    for (uint32_t i = *used; i-- > 0;) {
        if (!marked[v[i]])
            continue;
        victim_set(s, v[i], false);
        if (!fits_with_victims(s, id))
            victim_set(s, v[i], true);
    }
    return 0;
}

/* Does victim c run on a node of w's (claimed) placement? Only those are told to drain: the
 * others were needed by the search alone. */
static bool victim_shares(const struct sched_workload *c, const struct sched_workload *w)
{
    for (uint32_t a = 0; a < c->replicas; a++)
        for (uint32_t b = 0; b < w->replicas; b++)
            if (c->placement[a].node == w->placement[b].node)
                return true;
    return false;
}

/* Reclaim room for workload id (within its reservation): choose the victims
 * (reclaim_choose), claim the room and tell them to drain. RET 0 (id is reclaiming, or
 * running when no victim was needed after all), -ALLOT_ENOFIT, -ALLOT_ENOMEM. */
int preempt_reclaim(struct sched *s, uint32_t id, int64_t now)
{
    uint32_t used;
    int rc = reclaim_choose(s, id, &used);
    if (rc)
        return rc;
    uint32_t *v = s->scratch->candidates;
    const bool *marked = s->scratch->victim_mark;
    if (placement_claim(s, id))
        return claim_broken(s, id, v, used);
    struct sched_workload *w = &s->workloads[id];
    /* a reclaim is for work within the reservation */
    rc = lifecycle_reclaim(s, id, false, now);
    if (rc)
        placement_unclaim(s, id); /* it does not reclaim: nothing of it stays */
    for (uint32_t i = 0; i < used && !rc; i++) {
        if (!marked[v[i]])
            continue;
        victim_set(s, v[i], false);
        if (!victim_shares(&s->workloads[v[i]], w))
            continue;
        rc = lifecycle_drain(s, v[i], SCHED_REASON_RECLAIM, id, now);
        w->waiting_on += !rc;
    }
    if (rc) {
        victims_clear(s, v, used);
        return rc;
    }
    return w->waiting_on == 0 ? lifecycle_start(s, id, now) : 0;
}

int preempt_reclaim_victims(struct sched *s, uint32_t id, uint32_t *out, uint32_t max,
                            uint32_t *total)
{
    struct sched_workload *w = &s->workloads[id];
    *total = 0;
    if (w->state != SCHED_PENDING || w->replicas == 0)
        return -ALLOT_ESTATE;
    int rc = engine_scratch_reserve(s);
    if (rc)
        return rc;
    /* the searches write w's placement: it is put back as it was */
    struct sched_replica *saved = malloc(w->replicas * sizeof(*saved));
    if (!saved)
        return -ALLOT_ENOMEM;
    memcpy(saved, w->placement, w->replicas * sizeof(*saved));
    uint32_t used;
    rc = reclaim_choose(s, id, &used);
    if (rc)
        goto out;
    const uint32_t *v = s->scratch->candidates;
    const bool *marked = s->scratch->victim_mark;
    if (placement_claim(s, id) == 0) {
        for (uint32_t i = 0; i < used; i++) {
            if (!marked[v[i]] || !victim_shares(&s->workloads[v[i]], w))
                continue;
            if (*total < max)
                out[*total] = v[i];
            (*total)++;
        }
        placement_unclaim(s, id);
    } else {
        rc = -ALLOT_ENOFIT; /* a search and its claim disagree: no answer */
    }
    victims_clear(s, v, used);
out:
    memcpy(w->placement, saved, w->replicas * sizeof(*saved));
    free(saved);
    return rc;
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
    int64_t pos = sched_workspace_position(ws) - freed->gpu;
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
int preempt_priority(struct sched *s, uint32_t id, int64_t now)
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
        if (engine_candidates_reserve(s, n + 1))
            return -ALLOT_ENOMEM;
        s->scratch->candidates[n++] = v;
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
    uint32_t *v = s->scratch->candidates;
    const bool *marked = s->scratch->victim_mark;
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
        victims_clear(s, v, used);
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
    /* it waits for its victims: with none, nobody would ever start it (placement without
     * one failed, or the quota needs one: quota_fits_with) */
    uint32_t victims = 0;
    for (uint32_t i = 0; i < used; i++)
        victims += marked[v[i]];
    if (victims == 0) {
        victims_clear(s, v, used);
        return engine_broken(s, "priority preemption for workload %s found it fits with no victim",
                             w->name);
    }
    if (placement_claim(s, id))
        return claim_broken(s, id, v, used);
    bool borrowed =
        w->total.gpu > 0 && sched_workspace_position(ws) - freed.gpu + w->total.gpu > ws->reserved;
    int rc = lifecycle_reclaim(s, id, borrowed, now);
    if (rc)
        placement_unclaim(s, id);
    for (uint32_t i = 0; i < used && !rc; i++) {
        if (!marked[v[i]])
            continue;
        victim_set(s, v[i], false);
        rc = lifecycle_drain(s, v[i], SCHED_REASON_PRIORITY, id, now);
        w->waiting_on += !rc;
    }
    if (rc)
        victims_clear(s, v, used);
    return rc;
}
