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

/* Count one replica of victim v in (sign +1) or out of (-1) the marks placement searches read:
 * on node (tenant_pos pos), holding whole GPUs, cpu and memory. gang: v has more than one
 * replica; else usable: the whole GPUs of it a search may use (read when marking). */
static void replica_mark(struct sched_scratch *x, uint32_t v, uint32_t node, uint32_t pos,
                         uint32_t whole, int64_t cpu, int64_t memory, bool gang, uint32_t usable,
                         int sign)
{
    struct engine_node_marks *m = &x->node[node];
    m->victim_cpu += sign * cpu;
    m->victim_memory += sign * memory;
    m->victim_whole += (uint32_t)(sign * (int)whole);
    x->victim_by_pos[pos] += (uint8_t)(sign * (int)whole);
    if (gang) {
        m->victim_gangs += (uint32_t)sign;
        return;
    }
    if (sign > 0)
        x->victim_usable_of[v] = (uint8_t)usable;
    m->victim_usable += (uint32_t)(sign * x->victim_usable_of[v]);
}

/* Mark or unmark a victim for placement searches. */
static void victim_set(struct sched *s, uint32_t v, bool mark)
{
    struct sched_scratch *x = s->scratch;
    const struct sched_workload *w = &s->workloads[v];
    if (x->victim_mark[v] == mark)
        return;
    x->victim_mark[v] = mark;
    int sign = mark ? 1 : -1;
    bool gang = w->replicas > 1;
    for (uint32_t r = 0; r < w->replicas; r++) {
        const struct sched_replica *p = &w->placement[r];
        uint32_t usable = mark && !gang ? placement_usable_whole(s, p) : 0;
        replica_mark(x, v, p->node, s->nodes[p->node].tenant_pos,
                     (uint32_t)__builtin_popcount(p->gpu_mask), w->cpu, w->memory, gang, usable,
                     sign);
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

/* A candidate victim as the searches read it, gathered once per choice (victims_choose) so
 * that marking one, ordering the candidates and summing their lost work read no workload
 * and no node: the first cache line holds what marking reads. */
struct victim_cand {
    uint32_t id, replicas;
    uint32_t node, pos, whole; /* its first replica's node, the node's tenant_pos, and the
                                * whole GPUs it holds there */
    uint32_t usable;           /* of those, the ones a search may use (placement_usable_whole) */
    uint32_t workspace;
    int64_t cpu, memory; /* per replica */
    int64_t all_whole;   /* whole GPUs in all (gpus x replicas) */
    struct sched_resources total;
    int32_t priority;
    int64_t start;
    uint64_t seq;
    int64_t lost, lost_time; /* the keys of the lost orders at now (checkpoint_aware) */
};

/* victim_set for candidate c: the same marks, read from c (a gang's from its workload). */
static void cand_set(struct sched *s, const struct victim_cand *c, bool mark)
{
    struct sched_scratch *x = s->scratch;
    if (c->replicas != 1) {
        victim_set(s, c->id, mark);
        return;
    }
    if (x->victim_mark[c->id] == mark)
        return;
    x->victim_mark[c->id] = mark;
    int sign = mark ? 1 : -1;
    replica_mark(x, c->id, c->node, c->pos, c->whole, c->cpu, c->memory, false, c->usable, sign);
    x->victim_whole += (int64_t)sign * c->all_whole;
}

/* Unmark the candidates v[0..n) (indexes into c). */
static void cands_clear(struct sched *s, const struct victim_cand *c, const uint32_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        cand_set(s, &c[v[i]], false);
}

/* Is candidate c marked? */
static bool cand_marked(const struct sched *s, const struct victim_cand *c)
{
    return s->scratch->victim_mark[c->id];
}

/* What a search for victims (reclaim_pick, priority_pick) knows of where workload id fits, so
 * that it seldom searches every node again (fit_search). For a request of one replica a fit
 * is one node's (placement_fits_on), and marking or unmarking a victim changes only the nodes
 * it runs on: as victims are added, a fit can appear only on the nodes of those added since
 * the last search that failed; as one is dropped, a node that fitted and is not one of its
 * nodes still fits. The answers are those of fit_search, with far fewer nodes read. */
struct fit_track {
    bool local;       /* one replica, no backfill claimant: the answers above apply */
    bool unfit_known; /* it fitted with none of the marks since v[unfit] ... */
    uint32_t unfit;   /* ... (the candidates of the search, v[0..unfit) marked as now) */
    uint32_t witness; /* a node it fits on with the current marks, or SCHED_NONE */
};

static void fit_track_init(const struct sched *s, uint32_t id, struct fit_track *f)
{
    const struct sched_scratch *x = s->scratch;
    *f = (struct fit_track){s->workloads[id].replicas == 1 && x->backfill_claimant == SCHED_NONE &&
                                !x->searches_in_full,
                            false, 0, SCHED_NONE};
}

/* Would workload id fit with the currently marked victims gone (a search of every node)?
 * Leaves nothing claimed. OUT f->witness: the node it fitted on (its first replica's), or
 * SCHED_NONE. */
static bool fit_search(struct sched *s, uint32_t id, struct fit_track *f)
{
    f->witness = SCHED_NONE;
    if (placement_claim(s, id) < 0)
        return false;
    f->witness = s->workloads[id].placement[0].node;
    placement_unclaim(s, id);
    return true;
}

/* The node of replica r of candidate c. */
static uint32_t cand_node(const struct sched *s, const struct victim_cand *c, uint32_t r)
{
    return c->replicas == 1 ? c->node : s->workloads[c->id].placement[r].node;
}

/* Does workload id fit on one of the nodes of candidate c (placement_fits_on)? OUT
 * f->witness: the first such node. */
static bool fit_on_cand_nodes(struct sched *s, uint32_t id, const struct victim_cand *c,
                              struct fit_track *f)
{
    for (uint32_t r = 0; r < c->replicas; r++) {
        uint32_t node = cand_node(s, c, r);
        if (placement_fits_on(s, id, node)) {
            f->witness = node;
            return true;
        }
    }
    return false;
}

/* fit_search as the candidates v[0..n) (indexes into c) of a search are being marked: the
 * first n are (and were, in order, since the last call of the search). */
static bool fit_after_adding(struct sched *s, uint32_t id, const struct victim_cand *c,
                             const uint32_t *v, uint32_t n, struct fit_track *f)
{
    if (!f->local || !f->unfit_known) {
        bool fits = fit_search(s, id, f);
        f->unfit_known = !fits;
        f->unfit = n;
        return fits;
    }
    for (uint32_t i = f->unfit; i < n; i++)
        if (fit_on_cand_nodes(s, id, &c[v[i]], f))
            return true;
    f->unfit = n;
    return false;
}

/* fit_search just after candidate c was unmarked, when workload id fitted with it marked (on
 * f->witness, found by fit_after_adding or an earlier call). Should it not fit, the caller
 * marks c again, and the witness stands. */
static bool fit_after_dropping(struct sched *s, uint32_t id, const struct victim_cand *c,
                               struct fit_track *f)
{
    if (!f->local || f->witness == SCHED_NONE)
        return fit_search(s, id, f);
    bool touched = false;
    for (uint32_t r = 0; r < c->replicas && !touched; r++)
        touched = cand_node(s, c, r) == f->witness;
    if (!touched || placement_fits_on(s, id, f->witness))
        return true;
    uint32_t witness = f->witness;
    if (fit_search(s, id, f))
        return true;
    f->witness = witness; /* with c marked again, it fits there as before */
    return false;
}

/* How candidates are sorted: the victim order, or the least work lost first (in GPU units x
 * time, or in time alone: the most recent checkpoint first), then the victim order
 * (docs/policy.md, "Lost work"). */
enum victim_key { VICTIM_ORDER, VICTIM_LOST, VICTIM_LOST_TIME, VICTIM_KEYS, VICTIM_LOST_PER_GPU };

/* Ask for the marks that cand_set will write of candidate workload id of one replica on node
 * (tenant_pos pos): the searches that follow the gathering then find them in the cache. A hint
 * to the processor: it changes nothing. */
static inline void cand_prefetch_marks(const struct sched *s, uint32_t id, uint32_t node,
                                       uint32_t pos)
{
    const struct sched_scratch *x = s->scratch;
    __builtin_prefetch(&x->victim_mark[id], 1);
    __builtin_prefetch(&x->victim_usable_of[id], 1);
    __builtin_prefetch(&x->node[node], 1);
    __builtin_prefetch(&x->victim_by_pos[pos], 1);
}

/* Gather candidate workloads ids[0..n) into c[0..n), with their lost keys at now when aware
 * (victim_key_of's, as it read them from the workloads). The memory it reads is asked for
 * ahead (placements by preempt_priority, then nodes): a choice of a hundred candidates reads
 * several hundred lines that the caches seldom hold. Of a node it reads one line (tenant_pos
 * and locked), none of its GPUs; it asks for the marks the searches will write. */
static void cands_gather(const struct sched *s, const uint32_t *ids, uint32_t n, int64_t now,
                         bool aware, struct victim_cand *c)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct sched_workload *w = &s->workloads[ids[i]];
        if (w->replicas == 1)
            __builtin_prefetch(&s->nodes[w->placement[0].node].tenant_pos);
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct sched_workload *w = &s->workloads[ids[i]];
        uint32_t node = w->replicas ? w->placement[0].node : SCHED_NONE;
        c[i] = (struct victim_cand){
            .id = ids[i],
            .replicas = w->replicas,
            .node = node,
            .pos = w->replicas == 1 ? s->nodes[node].tenant_pos : 0,
            .whole = w->replicas == 1 ? (uint32_t)__builtin_popcount(w->placement[0].gpu_mask) : 0,
            .usable = w->replicas == 1 ? placement_usable_whole(s, &w->placement[0]) : 0,
            .workspace = w->workspace,
            .cpu = w->cpu,
            .memory = w->memory,
            .all_whole = (int64_t)w->gpus * w->replicas,
            .total = w->total,
            .priority = w->priority,
            .start = w->start_ms,
            .seq = w->seq,
        };
        if (w->replicas == 1)
            cand_prefetch_marks(s, ids[i], node, c[i].pos);
        if (!aware)
            continue;
        c[i].lost = sched_workload_lost(s, ids[i], now);
        int64_t since = w->checkpoint_ms > w->start_ms ? w->checkpoint_ms : w->start_ms;
        c[i].lost_time = w->total.gpu > 0 && now > since ? now - since : 0;
    }
}

/* How candidate a's work lost per GPU unit compares with b's (lost / total.gpu, exactly: no
 * division): <0, 0 or >0. */
static inline int lost_per_gpu_cmp(const struct victim_cand *a, const struct victim_cand *b)
{
    __int128 x = (__int128)a->lost * b->total.gpu, y = (__int128)b->lost * a->total.gpu;
    return (x > y) - (x < y);
}

/* Does candidate a go before b in the order of key: key's value (none in the victim order),
 * then lowest priority first, then fewest GPUs, then most recently started (start, then seq:
 * a total order, so that any sort gives the same)? */
static inline bool cand_before(const struct victim_cand *a, const struct victim_cand *b,
                               enum victim_key key)
{
    if (key == VICTIM_LOST_PER_GPU) {
        int c = lost_per_gpu_cmp(a, b);
        if (c)
            return c < 0;
    } else if (key != VICTIM_ORDER) {
        int64_t ka = key == VICTIM_LOST ? a->lost : a->lost_time;
        int64_t kb = key == VICTIM_LOST ? b->lost : b->lost_time;
        if (ka != kb)
            return ka < kb;
    }
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->total.gpu != b->total.gpu)
        return a->total.gpu < b->total.gpu;
    if (a->start != b->start)
        return a->start > b->start;
    return a->seq > b->seq;
}

/* Are candidates v[0..n) (indexes into c) in the order of key? Each order is total (seq
 * tells any two apart), so then sorting them would give v again. */
static bool victims_in_order(const struct victim_cand *c, enum victim_key key, const uint32_t *v,
                             uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        if (!cand_before(&c[v[i - 1]], &c[v[i]], key))
            return false;
    return true;
}

/* Sort candidates v[0..n) (indexes into c) into the order of key, with tmp[0..n) as room:
 * insertion sort of short runs (the candidates come nearly in victim order), then merges. */
static void victims_sort(const struct victim_cand *c, enum victim_key key, uint32_t *v,
                         uint32_t *tmp, uint32_t n)
{
    enum { RUN = 16 };
    for (uint32_t lo = 0; lo < n; lo += RUN) {
        uint32_t hi = lo + RUN < n ? lo + RUN : n;
        for (uint32_t i = lo + 1; i < hi; i++) {
            uint32_t x = v[i], j = i;
            for (; j > lo && cand_before(&c[x], &c[v[j - 1]], key); j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    }
    uint32_t *from = v, *to = tmp;
    for (uint32_t width = RUN; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                to[k++] = cand_before(&c[from[b]], &c[from[a]], key) ? from[b++] : from[a++];
            while (a < mid)
                to[k++] = from[a++];
            while (b < hi)
                to[k++] = from[b++];
        }
        uint32_t *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof(*v));
}

/* Work the candidates v[0..n) (indexes into c) would lose at the choice's now, saturating. */
static int64_t victims_lost(const struct victim_cand *c, const uint32_t *v, uint32_t n)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        int64_t l = c[v[i]].lost;
        sum = l > INT64_MAX - sum ? INT64_MAX : sum + l;
    }
    return sum;
}

/* Keep the marked candidates among v[0..used) (indexes into c) at its front, in their order.
 * RET their count. */
static uint32_t victims_compact(const struct sched *s, const struct victim_cand *c, uint32_t *v,
                                uint32_t used)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < used; i++)
        if (cand_marked(s, &c[v[i]]))
            v[k++] = v[i];
    return k;
}

/* A lower bound of the work any set of candidates c[0..n) loses that frees at least `need`
 * GPU units: the cheapest cover when part of a candidate may be taken (the least work lost
 * per GPU unit first), rounded down; INT64_MAX when all of them free less. tmp: room for
 * 2n indexes. */
static int64_t victims_lost_floor(const struct victim_cand *c, uint32_t n, int64_t need,
                                  uint32_t *tmp)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (c[i].total.gpu > 0)
            tmp[m++] = i;
    victims_sort(c, VICTIM_LOST_PER_GPU, tmp, tmp + n, m);
    __int128 sum = 0;
    for (uint32_t i = 0; i < m && need > 0; i++) {
        const struct victim_cand *d = &c[tmp[i]];
        if (d->total.gpu <= need) {
            sum += d->lost;
            need -= d->total.gpu;
        } else {
            sum += (__int128)d->lost * need / d->total.gpu;
            need = 0;
        }
    }
    if (need > 0)
        return INT64_MAX;
    return sum > INT64_MAX ? INT64_MAX : (int64_t)sum;
}

/* Does candidate a lose no more work per GPU unit than b? Exact; both free some GPU. */
static inline bool lost_per_gpu_at_most(const struct victim_cand *a, const struct victim_cand *b)
{
    return lost_per_gpu_cmp(a, b) <= 0;
}

/* Does no set of candidates c[0..n) that frees at least `need` GPU units lose less work than
 * the set v[0..k) (indexes into c)? At once when that set frees exactly `need` and none of it
 * loses more per GPU unit than any other candidate (it is then the cheapest cover even when
 * part of a candidate may be taken); else by victims_lost_floor. tmp: room for 2n indexes;
 * lost: the set's. */
static bool victims_least_lost(const struct victim_cand *c, uint32_t n, const uint32_t *v,
                               uint32_t k, int64_t need, int64_t lost, uint32_t *tmp)
{
    int64_t freed = 0;
    const struct victim_cand *dearest = NULL; /* of the set, per GPU unit */
    bool cover = true;
    for (uint32_t i = 0; i < k && cover; i++) {
        const struct victim_cand *d = &c[v[i]];
        cover = d->total.gpu > 0;
        freed += d->total.gpu;
        if (cover && (!dearest || !lost_per_gpu_at_most(d, dearest)))
            dearest = d;
    }
    if (cover && dearest && freed == need) {
        uint8_t *in = (uint8_t *)tmp; /* the set's members, by index into c */
        memset(in, 0, n);
        for (uint32_t i = 0; i < k; i++)
            in[v[i]] = 1;
        bool cheapest = true;
        for (uint32_t i = 0; i < n && cheapest; i++)
            cheapest = in[i] || c[i].total.gpu <= 0 || lost_per_gpu_at_most(dearest, &c[i]);
        if (cheapest)
            return true;
    }
    return victims_lost_floor(c, n, need, tmp) >= lost;
}

/* A search for victims among candidates v[0..n) (indexes into c) in the order given
 * (reclaim_pick, priority_pick): on success, the victims are marked and compacted to
 * v[0..*k). */
typedef int (*victims_pick)(struct sched *s, uint32_t id, const struct victim_cand *c, uint32_t *v,
                            uint32_t n, uint32_t *k);

/* Choose the victims for workload id among the candidates s->scratch->candidates[0..n)
 * (workload ids), in victim order with pick; with the engine's checkpoint_aware, also in the
 * two lost orders, keeping the set that loses the least work at now (a tie keeps the earlier
 * order's, the victim order's first). An order the same as one searched already is not
 * searched again. VICTIM_KEYS searches of the same cost at most: the choice stays bounded.
 * OUT the victims marked, at candidates[0..*k) (workload ids). RET 0, -ALLOT_ENOFIT or
 * -ALLOT_ENOMEM with nothing marked. */
static int victims_choose(struct sched *s, uint32_t id, uint32_t n, victims_pick pick, int64_t need,
                          int64_t now, uint32_t *k)
{
    struct sched_scratch *x = s->scratch;
    bool aware = s->opt.checkpoint_aware && n > 1;
    *k = 0;
    /* candidates [0..n): the best set so far; [n..2n): the candidates in victim order;
     * [2n..3n): the order searched now; [3n..4n): the lost order searched before it; then
     * room for a sort; all indexes into c until the choice is made */
    uint32_t room = aware ? 4 * n : n;
    if (engine_candidates_reserve(s, room + n))
        return -ALLOT_ENOMEM;
    if (x->cap_victim_cands < n) {
        struct victim_cand *r = realloc(x->victim_cands, (size_t)n * sizeof(*r));
        if (!r)
            return -ALLOT_ENOMEM;
        x->victim_cands = r;
        x->cap_victim_cands = n;
    }
    struct victim_cand *c = x->victim_cands;
    uint32_t *v = x->candidates;
    cands_gather(s, v, n, now, aware, c);
    for (uint32_t i = 0; i < n; i++)
        v[i] = i;
    victims_sort(c, VICTIM_ORDER, v, v + room, n);
    if (aware)
        memcpy(v + n, v, n * sizeof(uint32_t));
    int best = pick(s, id, c, v, n, k);
    if (best == -ALLOT_ENOMEM || !aware)
        goto out;
    int64_t best_lost = best ? INT64_MAX : victims_lost(c, v, *k);
    /* no set that frees what the quota needs loses less: no lost order can do better (the
     * floor is the same whatever the order) */
    if (!best && need > 0 && !x->searches_in_full &&
        victims_least_lost(c, n, v, *k, need, best_lost, v + 2 * n))
        goto out;
    bool searched_lost = false;
    for (enum victim_key key = VICTIM_LOST; key < VICTIM_KEYS; key++) {
        uint32_t *b = v + 2 * n, *before = v + 3 * n, kb;
        size_t size = n * sizeof(uint32_t);
        /* an order already in key's order is key's (sorting it would give it again): the
         * same set; unless in_full (for tests: every order is sorted and compared) */
        if (!x->searches_in_full && (victims_in_order(c, key, v + n, n) ||
                                     (searched_lost && victims_in_order(c, key, before, n))))
            continue;
        memcpy(b, searched_lost ? before : v + n, size);
        victims_sort(c, key, b, v + room, n);
        if (memcmp(b, v + n, size) == 0 || (searched_lost && memcmp(b, before, size) == 0))
            continue; /* the same order: the same set */
        memcpy(before, b, size);
        searched_lost = true;
        cands_clear(s, c, v, best ? 0 : *k); /* each search starts from no marks */
        int rc = pick(s, id, c, b, n, &kb);
        int64_t lost = rc ? INT64_MAX : victims_lost(c, b, kb);
        if (rc == 0 && (best || lost < best_lost)) {
            memcpy(v, b, kb * sizeof(uint32_t));
            *k = kb;
            best = 0;
            best_lost = lost;
        } else {
            cands_clear(s, c, b, rc ? 0 : kb);
        }
        for (uint32_t i = 0; i < *k && !best; i++)
            cand_set(s, &c[v[i]], true); /* the best set's marks again */
    }
out:
    for (uint32_t i = 0; i < *k && !best; i++)
        v[i] = c[v[i]].id;
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

/* GPU units already chosen as victims from workspace ws among candidates v[0..n) (indexes
 * into c). */
static int64_t victims_taken(const struct sched *s, const struct victim_cand *c, const uint32_t *v,
                             uint32_t n, uint32_t ws)
{
    int64_t taken = 0;
    for (uint32_t i = 0; i < n; i++)
        if (c[v[i]].workspace == ws && cand_marked(s, &c[v[i]]))
            taken += c[v[i]].total.gpu;
    return taken;
}

/* The reclaim's search among candidates v[0..n) (indexes into c) in the order given: add
 * them until workload id fits, never taking a workspace below its reservation, then drop
 * every victim the fit does not depend on, last chosen first. A victims_pick. */
static int reclaim_pick(struct sched *s, uint32_t id, const struct victim_cand *c, uint32_t *v,
                        uint32_t n, uint32_t *k)
{
    bool fitted = false;
    uint32_t used = 0;
    struct fit_track f;
    fit_track_init(s, id, &f);
    *k = 0;
    for (uint32_t i = 0; i < n && !fitted; i++) {
        const struct victim_cand *d = &c[v[i]];
        const struct sched_workspace *cws = &s->workspaces[d->workspace];
        used = i + 1;
        if (quota_position(cws) - victims_taken(s, c, v, i, d->workspace) - d->total.gpu <
            cws->reserved)
            continue;
        cand_set(s, d, true);
        fitted = enough_whole(s, &s->workloads[id]) && fit_after_adding(s, id, c, v, used, &f);
    }
    if (!fitted) {
        cands_clear(s, c, v, used);
        return -ALLOT_ENOFIT;
    }
    /* Never more than the need: drop every victim the fit does not depend on, starting
     * from the last chosen (the least protected). */
    for (uint32_t i = used; i-- > 0;) {
        const struct victim_cand *d = &c[v[i]];
        if (!cand_marked(s, d))
            continue;
        cand_set(s, d, false);
        if (!fit_after_dropping(s, id, d, &f))
            cand_set(s, d, true);
    }
    *k = victims_compact(s, c, v, used);
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
    return victims_choose(s, id, (uint32_t)n, reclaim_pick, 0, now, used);
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

/* quota_borrowable of a workspace, found once for the searches of one choice (marks change
 * it not). */
struct borrowable_memo {
    bool known;
    int64_t value;
};

/* With the marked victims gone, would workload w pass its workspace's limits and
 * reservation rules and the borrowable-capacity check? freed: what the victims hold. */
static bool quota_fits_with(const struct sched *s, const struct sched_workload *w,
                            const struct sched_resources *freed, struct borrowable_memo *b)
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
    /* a swap that does not grow what the workspace borrows takes nothing more from the
     * tenant: the room its own victims free is its own (docs/policy.md, "Priority") */
    if (w->total.gpu > 0 && freed->gpu >= w->total.gpu)
        return true;
    if (!b->known)
        *b = (struct borrowable_memo){true, quota_borrowable(s, w->workspace)};
    return b->value + freed->gpu >= w->total.gpu;
}

/* The fewest GPU units a set of workload w's candidates must free for its quota to allow it
 * (quota_fits_with), when the set frees at most `all` (the candidates together) and as much
 * of everything else as it can: a lower bound for any set a search may choose. 0 when the
 * quota allows it without any. */
static int64_t quota_need(const struct sched *s, const struct sched_workload *w,
                          const struct sched_resources *all, struct borrowable_memo *b)
{
    int64_t lo = 0, hi = all->gpu;
    struct sched_resources freed = *all;
    while (lo < hi) {
        freed.gpu = lo + (hi - lo) / 2;
        if (quota_fits_with(s, w, &freed, b))
            hi = freed.gpu;
        else
            lo = freed.gpu + 1;
    }
    return lo;
}

/* The priority preemption's search among candidates v[0..n) (indexes into c) in the order
 * given: add them until workload id fits (quota and placement), then drop every victim the
 * fit does not depend on, last chosen first. A victims_pick. */
static int priority_pick(struct sched *s, uint32_t id, const struct victim_cand *c, uint32_t *v,
                         uint32_t n, uint32_t *k)
{
    const struct sched_workload *w = &s->workloads[id];
    struct sched_resources freed = {0, 0, 0, 0};
    struct borrowable_memo b = {false, 0};
    bool fitted = false;
    uint32_t used = 0;
    struct fit_track f;
    fit_track_init(s, id, &f);
    *k = 0;
    for (uint32_t i = 0; i < n && !fitted; i++) {
        used = i + 1;
        cand_set(s, &c[v[i]], true);
        quota_add(&freed, &c[v[i]].total, +1);
        fitted = quota_fits_with(s, w, &freed, &b) && enough_whole(s, w) &&
                 fit_after_adding(s, id, c, v, used, &f);
    }
    if (!fitted) {
        cands_clear(s, c, v, used);
        return -ALLOT_ENOFIT;
    }
    for (uint32_t i = used; i-- > 0;) {
        /* one the quota needs stays, and is not unmarked to find out (a workspace that
         * must come back within its reservation needs most of them) */
        const struct victim_cand *d = &c[v[i]];
        struct sched_resources less = freed;
        quota_add(&less, &d->total, -1);
        if (!quota_fits_with(s, w, &less, &b))
            continue;
        cand_set(s, d, false);
        if (fit_after_dropping(s, id, d, &f))
            freed = less;
        else
            cand_set(s, d, true);
    }
    *k = victims_compact(s, c, v, used);
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

/* How many victims ahead preempt_priority asks for what draining one writes, and how many
 * candidates ahead its walk asks for what it reads of one. */
enum { DRAIN_AHEAD = 4, WALK_AHEAD = 8 };

int preempt_priority(struct sched *s, uint32_t id, int64_t now, int64_t borrowable,
                     int64_t *ripe_ms)
{
    struct sched_workload *w = &s->workloads[id];
    const struct sched_workspace *ws = &s->workspaces[w->workspace];
    uint32_t n = 0;
    struct sched_resources freed = {0, 0, 0, 0}, young = {0, 0, 0, 0};
    struct borrowable_memo known = {borrowable >= 0, borrowable};
    int64_t whole = 0, young_whole = 0;
    *ripe_ms = 0;
    const struct sched_preemptible *pe = ws->preempt;
    uint32_t end = 0; /* the array runs from the lowest priority: its candidates come first */
    while (end < ws->n_preempt && pe[end].priority < w->priority)
        end++;
    for (uint32_t i = 0; i < end; i++) {
        uint32_t v = pe[i].id;
        const struct sched_workload *c = &s->workloads[v];
        if (i + WALK_AHEAD < end) {
            /* the lines read below of a candidate further on: its loads overlap this one's */
            const struct sched_workload *d = &s->workloads[pe[i + WALK_AHEAD].id];
            __builtin_prefetch(&d->gpus);
            __builtin_prefetch((const char *)(&d->total + 1) - 1);
            __builtin_prefetch(&d->placement);
        }
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
        __builtin_prefetch(c->placement); /* for cands_gather, should a choice follow */
        quota_add(&freed, &c->total, +1);
        whole += (int64_t)c->gpus * c->replicas;
    }
    bool hopeless =
        n == 0 || !quota_fits_with(s, w, &freed, &known) ||
        (w->mig < 0 && (int64_t)w->gpus * w->replicas > s->tenants[w->tenant].free_whole + whole);
    if (hopeless && *ripe_ms) {
        /* would the young ones make the difference? (the same cheap necessary test) */
        quota_add(&freed, &young, +1);
        if (!quota_fits_with(s, w, &freed, &known) ||
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
    /* what the lost orders' searches could not go below (victims_lost_floor) */
    int64_t need = s->opt.checkpoint_aware && n > 1 ? quota_need(s, w, &freed, &known) : 0;
    int rc = victims_choose(s, id, n, priority_pick, need, now, &victims);
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
        w->total.gpu > 0 && quota_position(ws) - freed.gpu + w->total.gpu > ws->reserved;
    rc = lifecycle_reclaim(s, id, borrowed, now);
    if (rc)
        placement_unclaim(s, id);
    for (uint32_t i = 0; i < victims && !rc; i++) {
        if (i + DRAIN_AHEAD < victims) {
            /* the neighbours whose links its leaving the running list writes (a hint) */
            const struct sched_workload *d = &s->workloads[v[i + DRAIN_AHEAD]];
            if (d->rprev != SCHED_NONE)
                __builtin_prefetch(&s->workloads[d->rprev].rnext, 1);
            if (d->rnext != SCHED_NONE)
                __builtin_prefetch(&s->workloads[d->rnext].rprev, 1);
        }
        victim_set(s, v[i], false);
        rc = lifecycle_drain(s, v[i], SCHED_REASON_PRIORITY, id, now);
        w->waiting_on += !rc;
    }
    if (rc)
        victims_clear(s, v, victims);
    return rc;
}
