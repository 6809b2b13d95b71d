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

/* How candidates are sorted: the victim order, or the least work lost first (in GPU units x
 * time, or in time alone: the most recent checkpoint first), then the victim order
 * (docs/policy.md, "Lost work"). */
enum victim_key { VICTIM_ORDER, VICTIM_LOST, VICTIM_LOST_TIME, VICTIM_KEYS };

struct victim_order {
    const struct sched *s;
    int64_t now;
    enum victim_key key;
};

/* What order o sorts workload id by before the victim order. */
static int64_t victim_key_of(const struct victim_order *o, uint32_t id)
{
    const struct sched_workload *w = &o->s->workloads[id];
    if (o->key == VICTIM_LOST)
        return sched_workload_lost(o->s, id, o->now);
    int64_t since = w->checkpoint_ms > w->start_ms ? w->checkpoint_ms : w->start_ms;
    return w->total.gpu > 0 && o->now > since ? o->now - since : 0;
}

/* What the victim order compares, read once per candidate so that a sort reads no workload:
 * key (order o's, 0 in the victim order), then lowest priority first, then fewest GPUs,
 * then most recently started (start, then seq: a total order). */
struct victim_rec {
    int64_t key, gpu, start;
    uint64_t seq;
    int32_t priority;
    uint32_t id;
};

static int victim_rec_cmp(const void *pa, const void *pb)
{
    const struct victim_rec *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    if (a->gpu != b->gpu)
        return a->gpu < b->gpu ? -1 : 1;
    if (a->start != b->start)
        return a->start > b->start ? -1 : 1;
    return a->seq > b->seq ? -1 : (a->seq < b->seq ? 1 : 0);
}

/* Sort victims v[0..n) into order o. RET 0 or -ALLOT_ENOMEM (v unchanged). */
static int victims_sort(const struct victim_order *o, uint32_t *v, uint32_t n)
{
    struct sched_scratch *x = o->s->scratch;
    if (n < 2)
        return 0; /* sorted (and no records to sort: qsort is not given a null array) */
    if (x->cap_victim_recs < n) {
        struct victim_rec *r = realloc(x->victim_recs, n * sizeof(*r));
        if (!r)
            return -ALLOT_ENOMEM;
        x->victim_recs = r;
        x->cap_victim_recs = n;
    }
    struct victim_rec *r = x->victim_recs;
    for (uint32_t i = 0; i < n; i++) {
        const struct sched_workload *w = &o->s->workloads[v[i]];
        r[i] = (struct victim_rec){o->key == VICTIM_ORDER ? 0 : victim_key_of(o, v[i]),
                                   w->total.gpu,
                                   w->start_ms,
                                   w->seq,
                                   w->priority,
                                   v[i]};
    }
    qsort(r, n, sizeof(*r), victim_rec_cmp);
    for (uint32_t i = 0; i < n; i++)
        v[i] = r[i].id;
    return 0;
}

/* Work the victims v[0..n) would lose at now, saturating. */
static int64_t victims_lost(const struct sched *s, const uint32_t *v, uint32_t n, int64_t now)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t l = sched_workload_lost(s, v[i], now);
        sum = l > INT64_MAX - sum ? INT64_MAX : sum + l;
    }
    return sum;
}

/* Keep the marked victims among v[0..used) at its front, in their order. RET their count. */
static uint32_t victims_compact(const struct sched *s, uint32_t *v, uint32_t used)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < used; i++)
        if (s->scratch->victim_mark[v[i]])
            v[k++] = v[i];
    return k;
}

/* A search for victims among candidates v[0..n) in the order given (reclaim_pick,
 * priority_pick): on success, the victims are marked and compacted to v[0..*k). */
typedef int (*victims_pick)(struct sched *s, uint32_t id, uint32_t *v, uint32_t n, uint32_t *k);

/* Choose the victims for workload id among the candidates s->scratch->candidates[0..n), in
 * victim order with pick; with the engine's checkpoint_aware, also in the two lost orders,
 * keeping the set that loses the least work at now (a tie keeps the earlier order's, the
 * victim order's first). An order the same as one searched already is not searched again.
 * VICTIM_KEYS searches of the same cost at most: the choice stays bounded. OUT the victims
 * marked, at candidates[0..*k). RET 0, -ALLOT_ENOFIT or -ALLOT_ENOMEM with nothing marked. */
static int victims_choose(struct sched *s, uint32_t id, uint32_t n, victims_pick pick, int64_t now,
                          uint32_t *k)
{
    struct victim_order o = {s, now, VICTIM_ORDER};
    bool aware = s->opt.checkpoint_aware && n > 1;
    *k = 0;
    /* candidates [0..n): the best set so far; [n..2n): the candidates in victim order;
     * [2n..3n): the order searched now; [3n..4n): the lost order searched before it */
    if (aware && engine_candidates_reserve(s, 4 * n))
        return -ALLOT_ENOMEM;
    uint32_t *v = s->scratch->candidates;
    if (victims_sort(&o, v, n))
        return -ALLOT_ENOMEM;
    if (aware)
        memcpy(v + n, v, n * sizeof(uint32_t));
    int best = pick(s, id, v, n, k);
    if (best == -ALLOT_ENOMEM || !aware)
        return best;
    int64_t best_lost = best ? INT64_MAX : victims_lost(s, v, *k, now);
    bool searched_lost = false;
    for (o.key = VICTIM_LOST; o.key < VICTIM_KEYS; o.key++) {
        uint32_t *b = v + 2 * n, *before = v + 3 * n, kb;
        memcpy(b, v + n, n * sizeof(uint32_t));
        if (victims_sort(&o, b, n)) {
            victims_clear(s, v, best ? 0 : *k);
            return -ALLOT_ENOMEM;
        }
        size_t size = n * sizeof(uint32_t);
        if (memcmp(b, v + n, size) == 0 || (searched_lost && memcmp(b, before, size) == 0))
            continue; /* the same order: the same set */
        memcpy(before, b, size);
        searched_lost = true;
        victims_clear(s, v, best ? 0 : *k); /* each search starts from no marks */
        int rc = pick(s, id, b, n, &kb);
        int64_t lost = rc ? INT64_MAX : victims_lost(s, b, kb, now);
        if (rc == 0 && (best || lost < best_lost)) {
            memcpy(v, b, kb * sizeof(uint32_t));
            *k = kb;
            best = 0;
            best_lost = lost;
        } else {
            victims_clear(s, b, rc ? 0 : kb);
        }
        for (uint32_t i = 0; i < *k && !best; i++)
            victim_set(s, v[i], true); /* the best set's marks again */
    }
    return best;
}

/* Running, preemptible workloads of the tenant's other workspaces that are borrowing: the
 * only ones a reclaim may take (docs/policy.md, "Reclaim"). Written to the scratch
 * candidates, unsorted. RET their count, or -ALLOT_ENOMEM. */
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

/* The reclaim's search among candidates v[0..n) in the order given: add them until workload
 * id fits, never taking a workspace below its reservation, then drop every victim the fit
 * does not depend on, last chosen first. A victims_pick. */
static int reclaim_pick(struct sched *s, uint32_t id, uint32_t *v, uint32_t n, uint32_t *k)
{
    const bool *marked = s->scratch->victim_mark;
    bool fitted = false;
    uint32_t used = 0;
    *k = 0;
    for (uint32_t i = 0; i < n && !fitted; i++) {
        const struct sched_workload *c = &s->workloads[v[i]];
        const struct sched_workspace *cws = &s->workspaces[c->workspace];
        used = i + 1;
        if (sched_workspace_position(cws) - victims_taken(s, v, i, c->workspace) - c->total.gpu <
            cws->reserved)
            continue;
        victim_set(s, v[i], true);
        fitted = enough_whole(s, &s->workloads[id]) && fits_with_victims(s, id);
    }
    if (!fitted) {
        victims_clear(s, v, used);
        return -ALLOT_ENOFIT;
    }
    /* Never more than the need: drop every victim the fit does not depend on, starting
     * from the last chosen (the least protected). */
    for (uint32_t i = used; i-- > 0;) {
        if (!marked[v[i]])
            continue;
        victim_set(s, v[i], false);
        if (!fits_with_victims(s, id))
            victim_set(s, v[i], true);
    }
    *k = victims_compact(s, v, used);
    return 0;
}

/* Choose the victims of a reclaim for workload id (within its reservation): the borrowed
 * workloads whose removal lets it fit (victims_choose with reclaim_pick). They are left
 * marked (victim_set) at s->scratch->candidates[0..*used). RET 0; -ALLOT_ENOFIT or
 * -ALLOT_ENOMEM with nothing marked. */
static int reclaim_choose(struct sched *s, uint32_t id, int64_t now, uint32_t *used)
{
    *used = 0;
    int n = reclaim_candidates(s, &s->workloads[id]);
    if (n < 0)
        return n;
    return victims_choose(s, id, (uint32_t)n, reclaim_pick, now, used);
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
    int rc = reclaim_choose(s, id, now, &used);
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
    rc = reclaim_choose(s, id, s->last_now, &used);
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
    /* a swap that does not grow what the workspace borrows takes nothing more from the
     * tenant: the room its own victims free is its own (docs/policy.md, "Priority") */
    return (w->total.gpu > 0 && freed->gpu >= w->total.gpu) ||
           quota_borrowable(s, w->workspace) + freed->gpu >= w->total.gpu;
}

/* The priority preemption's search among candidates v[0..n) in the order given: add them
 * until workload id fits (quota and placement), then drop every victim the fit does not
 * depend on, last chosen first. A victims_pick. */
static int priority_pick(struct sched *s, uint32_t id, uint32_t *v, uint32_t n, uint32_t *k)
{
    const struct sched_workload *w = &s->workloads[id];
    struct sched_resources freed = {0, 0, 0, 0};
    bool fitted = false;
    uint32_t used = 0;
    *k = 0;
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
        /* one the quota needs stays, and is not unmarked to find out (a workspace that
         * must come back within its reservation needs most of them) */
        struct sched_resources less = freed;
        quota_add(&less, &s->workloads[v[i]].total, -1);
        if (!quota_fits_with(s, w, &less))
            continue;
        victim_set(s, v[i], false);
        if (fits_with_victims(s, id))
            freed = less;
        else
            victim_set(s, v[i], true);
    }
    *k = victims_compact(s, v, used);
    return 0;
}

/* Has workload c run its workspace's min_runtime for its kind at now? (docs/policy.md,
 * "Minimum runtime"). OUT *ripe: when it will have (set only when it has not). */
static bool ran_min_runtime(const struct sched *s, const struct sched_workload *c, int64_t now,
                            int64_t *ripe)
{
    int64_t min = s->workspaces[c->workspace].min_runtime_ms[c->kind];
    if (min <= 0 || now - c->start_ms >= min)
        return true;
    *ripe = c->start_ms + min;
    return false;
}

int preempt_priority(struct sched *s, uint32_t id, int64_t now, int64_t *ripe_ms)
{
    struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t n = 0;
    struct sched_resources freed = {0, 0, 0, 0}, young = {0, 0, 0, 0};
    int64_t whole = 0, young_whole = 0;
    *ripe_ms = 0;
    for (uint32_t v = ws->preempt_head; v != SCHED_NONE; v = s->workloads[v].pnext) {
        const struct sched_workload *c = &s->workloads[v];
        if (c->priority >= w->priority)
            break; /* the list runs from the lowest priority */
        int64_t ripe;
        if (!ran_min_runtime(s, c, now, &ripe)) {
            /* too young to be taken; counted to tell whether it alone holds w back */
            quota_add(&young, &c->total, +1);
            young_whole += (int64_t)c->gpus * c->replicas;
            if (*ripe_ms == 0 || ripe < *ripe_ms)
                *ripe_ms = ripe;
            continue;
        }
        if (engine_candidates_reserve(s, n + 1))
            return -ALLOT_ENOMEM;
        s->scratch->candidates[n++] = v;
        quota_add(&freed, &c->total, +1);
        whole += (int64_t)c->gpus * c->replicas;
    }
    bool hopeless =
        n == 0 || !quota_fits_with(s, w, &freed) ||
        (w->mig < 0 && (int64_t)w->gpus * w->replicas > s->tenants[w->tenant].free_whole + whole);
    if (hopeless && *ripe_ms) {
        /* would the young ones make the difference? (the same cheap necessary test) */
        quota_add(&freed, &young, +1);
        if (!quota_fits_with(s, w, &freed) ||
            (w->mig < 0 && (int64_t)w->gpus * w->replicas >
                               s->tenants[w->tenant].free_whole + whole + young_whole))
            *ripe_ms = 0;
    }
    /* hopeless even if every candidate went: no need to sort or search */
    if (n == 0)
        return -ALLOT_ENOENT;
    if (hopeless)
        return -ALLOT_ENOFIT;
    uint32_t victims;
    int rc = victims_choose(s, id, n, priority_pick, now, &victims);
    if (rc)
        return rc;
    uint32_t *v = s->scratch->candidates; /* the choice may have moved it */
    /* the room is found: the young ones did not hold it back */
    *ripe_ms = 0;
    /* it waits for its victims: with none, nobody would ever start it (placement without
     * one failed, or the quota needs one: quota_fits_with) */
    if (victims == 0)
        return engine_broken(s, "priority preemption for workload %s found it fits with no victim",
                             w->name);
    if (placement_claim(s, id))
        return claim_broken(s, id, v, victims);
    memset(&freed, 0, sizeof(freed));
    for (uint32_t i = 0; i < victims; i++)
        quota_add(&freed, &s->workloads[v[i]].total, +1);
    bool borrowed =
        w->total.gpu > 0 && sched_workspace_position(ws) - freed.gpu + w->total.gpu > ws->reserved;
    rc = lifecycle_reclaim(s, id, borrowed, now);
    if (rc)
        placement_unclaim(s, id);
    for (uint32_t i = 0; i < victims && !rc; i++) {
        victim_set(s, v[i], false);
        rc = lifecycle_drain(s, v[i], SCHED_REASON_PRIORITY, id, now);
        w->waiting_on += !rc;
    }
    if (rc)
        victims_clear(s, v, victims);
    return rc;
}
