/* The intake (intake.h): tenants and tokens are kept by name in maps (they are bounded by the
 * principals the store knows) with a token bucket each; the turn is a ring of the tenants that
 * have requests waiting, each with a ring of its tokens that have some, each token a ring of
 * its requests: a pop takes one request of the first token of the first tenant and puts both
 * back at the end of their rings while they still have requests. Tokens with nothing waiting
 * are forgotten when too many are remembered (tokens_prune). */
#include "allotd/intake.h"

#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "common/hmap.h"

/* A growable FIFO of uintptr_t (requests, token ids, tenant ids). */
struct ring {
    uintptr_t *v;
    uint32_t head, n, cap;
};

/* A token bucket: tokens refill at rate per second up to burst. */
struct bucket {
    double tokens;
    int64_t at_ms; /* of the last refill */
    bool started;
};

struct intake_token {
    char *id;
    uint32_t tenant;
    struct bucket bucket;
    struct ring waiting; /* its requests */
};

struct intake_tenant {
    char *name;
    struct bucket bucket;
    struct ring turn; /* its tokens with requests waiting */
    uint32_t waiting; /* requests of all its tokens */
};

struct intake {
    struct intake_options opt;
    struct hmap tenant_ids, token_ids;
    struct intake_tenant *tenants;
    struct intake_token *tokens;
    uint32_t n_tenants, cap_tenants, n_tokens, cap_tokens;
    struct ring turn;     /* tenants with requests waiting */
    struct ring agents;   /* agents' requests, in arrival order */
    uint32_t agents_left; /* of this turn's INTAKE_AGENTS_PER_TURN */
    struct intake_stats stats;
};

/* ---- rings ---- */

static int ring_push(struct ring *r, uintptr_t x)
{
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 8;
        uintptr_t *v = malloc(cap * sizeof(*v));
        if (!v)
            return -ALLOT_ENOMEM;
        for (uint32_t i = 0; i < r->n; i++)
            v[i] = r->v[(r->head + i) % r->cap];
        free(r->v);
        r->v = v;
        r->cap = cap;
        r->head = 0;
    }
    r->v[(r->head + r->n) % r->cap] = x;
    r->n++;
    return 0;
}

/* The first of r, taken off (r not empty). */
static uintptr_t ring_pop(struct ring *r)
{
    uintptr_t x = r->v[r->head];
    r->head = (r->head + 1) % r->cap;
    r->n--;
    return x;
}

/* ---- buckets ---- */

/* Refill b at now_ms for rate per second; RET whether one request fits. */
static bool bucket_room(struct bucket *b, uint32_t rate, uint32_t burst, int64_t now_ms)
{
    if (!b->started || now_ms < b->at_ms) {
        b->tokens = burst;
        b->started = true;
    } else {
        b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->at_ms = now_ms;
    return b->tokens >= 1.0;
}

/* Whole seconds until b has room for one request again (at least 1). */
static int bucket_retry(const struct bucket *b, uint32_t rate)
{
    double s = (1.0 - b->tokens) / rate;
    int whole = (int)s;
    return whole < s ? whole + 1 : (whole > 0 ? whole : 1);
}

static uint32_t burst_of(const struct intake *in, uint32_t rate)
{
    uint32_t burst = in->opt.burst ? in->opt.burst : rate;
    return burst ? burst : 1;
}

/* ---- tenants and tokens ---- */

/* *name = a copy of key, mapped to id in m. RET 0, -ALLOT_ENOMEM (nothing kept). */
static int name_put(struct hmap *m, char **name, const char *key, uint32_t id)
{
    *name = strdup(key);
    if (*name && hmap_put(m, *name, id) == 0)
        return 0;
    free(*name);
    *name = NULL;
    return -ALLOT_ENOMEM;
}

/* The id of tenant name, made when new. RET 0, -ALLOT_ENOMEM. */
static int tenant_of(struct intake *in, const char *name, uint32_t *id)
{
    if (hmap_get(&in->tenant_ids, name, id) == 0)
        return 0;
    if (ARRAY_GROW(in->tenants, in->n_tenants, in->cap_tenants))
        return -ALLOT_ENOMEM;
    struct intake_tenant *t = &in->tenants[in->n_tenants];
    memset(t, 0, sizeof(*t));
    if (name_put(&in->tenant_ids, &t->name, name, in->n_tenants))
        return -ALLOT_ENOMEM;
    *id = in->n_tenants++;
    return 0;
}

/* Forget the tokens with nothing waiting, so that what the intake remembers stays bounded
 * (opt.max_tokens): the others are renumbered, in the map and in their tenants' turns.
 * RET 0, -ALLOT_ENOMEM (the map could not be rebuilt: nothing forgotten). */
static int tokens_prune(struct intake *in)
{
    struct hmap ids;
    hmap_init(&ids);
    uint32_t *renumber = malloc((in->n_tokens ? in->n_tokens : 1) * sizeof(*renumber)), n = 0;
    for (uint32_t i = 0; renumber && i < in->n_tokens; i++) {
        renumber[i] = in->tokens[i].waiting.n ? n++ : UINT32_MAX;
        if (renumber[i] != UINT32_MAX && hmap_put(&ids, in->tokens[i].id, renumber[i]))
            break;
    }
    if (!renumber || ids.count != n) {
        free(renumber);
        hmap_cleanup(&ids);
        return -ALLOT_ENOMEM;
    }
    n = 0;
    for (uint32_t i = 0; i < in->n_tokens; i++) {
        if (renumber[i] == UINT32_MAX) {
            free(in->tokens[i].id);
            free(in->tokens[i].waiting.v);
        } else {
            in->tokens[n++] = in->tokens[i];
        }
    }
    for (uint32_t i = 0; i < in->n_tenants; i++) {
        struct ring *r = &in->tenants[i].turn;
        for (uint32_t k = 0; k < r->n; k++)
            r->v[(r->head + k) % r->cap] = renumber[r->v[(r->head + k) % r->cap]];
    }
    hmap_cleanup(&in->token_ids);
    in->token_ids = ids;
    in->n_tokens = n;
    free(renumber);
    return 0;
}

/* The id of token (public id) of tenant, made when new. RET 0, -ALLOT_ENOMEM. */
static int token_of(struct intake *in, const char *tenant, const char *token, uint32_t *id)
{
    uint32_t tid;
    int rc = tenant_of(in, tenant, &tid);
    if (rc || hmap_get(&in->token_ids, token, id) == 0)
        return rc;
    uint32_t most = in->opt.max_tokens ? in->opt.max_tokens : INTAKE_MAX_TOKENS;
    if (in->n_tokens >= most && (tokens_prune(in) || in->n_tokens >= most))
        return -ALLOT_ENOMEM;
    if (ARRAY_GROW(in->tokens, in->n_tokens, in->cap_tokens))
        return -ALLOT_ENOMEM;
    struct intake_token *k = &in->tokens[in->n_tokens];
    memset(k, 0, sizeof(*k));
    k->tenant = tid;
    if (name_put(&in->token_ids, &k->id, token, in->n_tokens))
        return -ALLOT_ENOMEM;
    *id = in->n_tokens++;
    return 0;
}

/* Token token of tenant, made when new: OUT *kid, *k and *t (its tenant). RET 0,
 * -ALLOT_ENOMEM. */
static int flow_of(struct intake *in, const char *tenant, const char *token, uint32_t *kid,
                   struct intake_token **k, struct intake_tenant **t)
{
    int rc = token_of(in, tenant, token, kid);
    if (rc)
        return rc;
    *k = &in->tokens[*kid];
    *t = &in->tenants[(*k)->tenant];
    return 0;
}

/* ---- the intake ---- */

int intake_new(const struct intake_options *opt, struct intake **out)
{
    if (opt->token_rate > INTAKE_MAX_RATE || opt->tenant_rate > INTAKE_MAX_RATE ||
        opt->burst > INTAKE_MAX_RATE)
        return -ALLOT_ERANGE;
    struct intake *in = calloc(1, sizeof(*in));
    if (!in)
        return -ALLOT_ENOMEM;
    in->opt = *opt;
    hmap_init(&in->tenant_ids);
    hmap_init(&in->token_ids);
    *out = in;
    return 0;
}

void intake_free(struct intake *in)
{
    if (!in)
        return;
    for (uint32_t i = 0; i < in->n_tenants; i++) {
        free(in->tenants[i].name);
        free(in->tenants[i].turn.v);
    }
    for (uint32_t i = 0; i < in->n_tokens; i++) {
        free(in->tokens[i].id);
        free(in->tokens[i].waiting.v);
    }
    free(in->tenants);
    free(in->tokens);
    free(in->turn.v);
    free(in->agents.v);
    hmap_cleanup(&in->tenant_ids);
    hmap_cleanup(&in->token_ids);
    free(in);
}

int intake_charge(struct intake *in, const char *tenant, const char *token, int64_t now_ms,
                  struct intake_refusal *why)
{
    const struct intake_options *o = &in->opt;
    if (!o->token_rate && !o->tenant_rate)
        return 0;
    uint32_t kid;
    struct intake_token *k;
    struct intake_tenant *t;
    int rc = flow_of(in, tenant, token, &kid, &k, &t);
    if (rc)
        return rc;
    bool token_ok = !o->token_rate ||
                    bucket_room(&k->bucket, o->token_rate, burst_of(in, o->token_rate), now_ms);
    bool tenant_ok = !o->tenant_rate ||
                     bucket_room(&t->bucket, o->tenant_rate, burst_of(in, o->tenant_rate), now_ms);
    if (token_ok && tenant_ok) {
        if (o->token_rate)
            k->bucket.tokens -= 1.0;
        if (o->tenant_rate)
            t->bucket.tokens -= 1.0;
        return 0;
    }
    in->stats.rate_refused++;
    if (!token_ok)
        *why = (struct intake_refusal){"token_rate", o->token_rate,
                                       bucket_retry(&k->bucket, o->token_rate)};
    else
        *why = (struct intake_refusal){"tenant_rate", o->tenant_rate,
                                       bucket_retry(&t->bucket, o->tenant_rate)};
    return -ALLOT_ETOOMANY;
}

int intake_push(struct intake *in, const char *tenant, const char *token, void *item,
                struct intake_refusal *why)
{
    uint32_t kid;
    struct intake_token *k;
    struct intake_tenant *t;
    int rc = flow_of(in, tenant, token, &kid, &k, &t);
    if (rc)
        return rc;
    if (k->waiting.n >= INTAKE_TOKEN_QUEUE || t->waiting >= INTAKE_TENANT_QUEUE) {
        in->stats.queue_refused++;
        *why = k->waiting.n >= INTAKE_TOKEN_QUEUE
                   ? (struct intake_refusal){"token_queue", INTAKE_TOKEN_QUEUE, 1}
                   : (struct intake_refusal){"tenant_queue", INTAKE_TENANT_QUEUE, 1};
        return -ALLOT_ETOOMANY;
    }
    /* room in every ring first, so that a push that fails changes nothing */
    bool token_new = k->waiting.n == 0, tenant_new = t->waiting == 0;
    rc = ring_push(&k->waiting, (uintptr_t)item);
    if (rc == 0 && token_new && (rc = ring_push(&t->turn, kid)) != 0)
        k->waiting.n--;
    if (rc == 0 && tenant_new && (rc = ring_push(&in->turn, k->tenant)) != 0) {
        k->waiting.n--;
        t->turn.n--;
    }
    if (rc)
        return rc;
    t->waiting++;
    in->stats.waiting++;
    return 0;
}

void *intake_pop(struct intake *in)
{
    if (in->turn.n == 0)
        return NULL;
    uint32_t tid = (uint32_t)ring_pop(&in->turn);
    struct intake_tenant *t = &in->tenants[tid];
    uint32_t kid = (uint32_t)ring_pop(&t->turn);
    struct intake_token *k = &in->tokens[kid];
    void *item = (void *)ring_pop(&k->waiting);
    /* the rings only shrank: pushing back what was just taken cannot fail */
    if (k->waiting.n)
        ring_push(&t->turn, kid);
    t->waiting--;
    if (t->waiting)
        ring_push(&in->turn, tid);
    in->stats.waiting--;
    in->stats.served++;
    return item;
}

int intake_push_agent(struct intake *in, void *item)
{
    int rc = ring_push(&in->agents, (uintptr_t)item);
    if (rc == 0)
        in->stats.agents_waiting++;
    return rc;
}

void intake_turn(struct intake *in)
{
    in->agents_left = INTAKE_AGENTS_PER_TURN;
}

void *intake_pop_agent(struct intake *in)
{
    if (in->agents.n == 0 || in->agents_left == 0)
        return NULL;
    in->agents_left--;
    in->stats.agents_waiting--;
    return (void *)ring_pop(&in->agents);
}

void intake_stats(const struct intake *in, struct intake_stats *out)
{
    *out = in->stats;
}
