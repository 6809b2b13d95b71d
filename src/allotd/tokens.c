/* The token cache (tokens.h): principals of the tokens checked against the store, by their
 * public id, each entry keeping the hash and expiry it was checked with. */
#include "allotd/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hmap.h"
#include "store/store.h"

struct token_entry {
    char id[AUTH_ID_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    int64_t expires_ms;
    struct principal who;
};

/* A token's last use not written yet. */
struct token_use {
    char id[AUTH_ID_LEN + 1];
    int64_t used_ms;
};

struct token_cache {
    struct store *store;
    struct hmap ids;             /* token id -> index in entries */
    struct token_entry *entries; /* TOKENS_CACHE_MAX, allocated at the first token seen */
    uint32_t n;
    struct hmap use_ids;    /* token id -> index in uses */
    struct token_use *uses; /* since the last token_cache_write_uses */
    uint32_t n_uses, cap_uses;
};

int token_cache_new(struct store *st, struct token_cache **out)
{
    struct token_cache *c = calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return -ALLOT_ENOMEM;
    c->store = st;
    hmap_init(&c->ids);
    hmap_init(&c->use_ids);
    return 0;
}

void token_cache_forget(struct token_cache *c)
{
    if (!c)
        return;
    hmap_cleanup(&c->ids);
    hmap_init(&c->ids);
    free(c->entries);
    c->entries = NULL;
    c->n = 0;
}

void token_cache_free(struct token_cache *c)
{
    if (!c)
        return;
    token_cache_forget(c);
    hmap_cleanup(&c->ids);
    hmap_cleanup(&c->use_ids);
    free(c->uses);
    free(c);
}

/* Remember a checked token (best effort: a full or failing cache only costs speed). */
static void remember(struct token_cache *c, const char *id, const unsigned char *hash,
                     int64_t expires_ms, const struct principal *who)
{
    if (!c->entries && !(c->entries = calloc(TOKENS_CACHE_MAX, sizeof(*c->entries))))
        return;
    if (c->n == TOKENS_CACHE_MAX)
        return;
    struct token_entry *e = &c->entries[c->n];
    snprintf(e->id, sizeof(e->id), "%s", id);
    memcpy(e->hash, hash, AUTH_HASH_LEN);
    e->expires_ms = expires_ms;
    e->who = *who;
    if (hmap_put(&c->ids, e->id, c->n) == 0)
        c->n++;
}

/* The principal of token id, row as the store has it (its user's role, tenant and workspace).
 * RET 0, or -ALLOT_EUNAUTHORIZED. */
static int principal_of(struct token_cache *c, const char *id, const struct store_token *row,
                        struct principal *who)
{
    struct store_user user;
    char tenant[64] = "", role[32] = "", workspace[128] = "";
    if (strcmp(row->user, AUTH_JOIN_USER) == 0)
        return -ALLOT_EUNAUTHORIZED; /* a join token is only good for POST /v1/join */
    snprintf(who->token_id, sizeof(who->token_id), "%s", id);
    if (row->node[0]) {
        who->role = ROLE_NODE;
        snprintf(who->node, sizeof(who->node), "%s", row->node);
        return 0;
    }
    if (store_find_user(c->store, row->user, &user, tenant, sizeof(tenant), role, sizeof(role),
                        workspace, sizeof(workspace)))
        return -ALLOT_EUNAUTHORIZED;
    if (auth_role_parse(role, &who->role))
        return -ALLOT_EUNAUTHORIZED;
    snprintf(who->user, sizeof(who->user), "%s", row->user);
    snprintf(who->tenant, sizeof(who->tenant), "%s", tenant);
    snprintf(who->workspace, sizeof(who->workspace), "%s", workspace);
    return 0;
}

/* Token id is used at now_ms (best effort: a full table or no memory only loses the record
 * until the next write). */
static void used(struct token_cache *c, const char *id, int64_t now_ms)
{
    uint32_t k;
    if (hmap_get(&c->use_ids, id, &k) == 0) {
        if (c->uses[k].used_ms < now_ms)
            c->uses[k].used_ms = now_ms;
        return;
    }
    if (c->n_uses == c->cap_uses) {
        uint32_t cap = c->cap_uses ? c->cap_uses * 2 : 64;
        struct token_use *p = cap <= TOKENS_USES_MAX ? realloc(c->uses, cap * sizeof(*p)) : NULL;
        if (!p)
            return;
        /* the map's keys point into the array: index them again where it moved */
        if (p != c->uses) {
            hmap_cleanup(&c->use_ids);
            hmap_init(&c->use_ids);
            for (uint32_t i = 0; i < c->n_uses; i++)
                if (hmap_put(&c->use_ids, p[i].id, i))
                    break;
        }
        c->uses = p;
        c->cap_uses = cap;
    }
    struct token_use *u = &c->uses[c->n_uses];
    snprintf(u->id, sizeof(u->id), "%s", id);
    u->used_ms = now_ms;
    if (hmap_put(&c->use_ids, u->id, c->n_uses) == 0)
        c->n_uses++;
}

int64_t token_cache_used(const struct token_cache *c, const char *id)
{
    uint32_t k;
    return hmap_get(&c->use_ids, id, &k) == 0 ? c->uses[k].used_ms : 0;
}

int token_cache_write_uses(struct token_cache *c, int64_t *written)
{
    if (written)
        *written = 0;
    if (!c->n_uses)
        return 0;
    int rc = store_batch_begin(c->store);
    for (uint32_t i = 0; !rc && i < c->n_uses; i++)
        rc = store_token_used(c->store, c->uses[i].id, c->uses[i].used_ms);
    rc = rc ? rc : store_batch_commit(c->store);
    if (rc) {
        if (store_in_batch(c->store))
            store_batch_rollback(c->store);
        return rc;
    }
    if (written)
        *written = c->n_uses;
    hmap_cleanup(&c->use_ids);
    hmap_init(&c->use_ids);
    c->n_uses = 0;
    return 0;
}

int token_cache_authenticate(struct token_cache *c, const char *token, int64_t now_ms,
                             struct principal *who)
{
    char id[AUTH_ID_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    struct store_token row;
    uint32_t k;
    memset(who, 0, sizeof(*who));
    if (auth_token_parse(token, id, hash))
        return -ALLOT_EUNAUTHORIZED;
    if (hmap_get(&c->ids, id, &k) == 0) {
        const struct token_entry *e = &c->entries[k];
        if (!auth_hash_equal(hash, e->hash) || (e->expires_ms && e->expires_ms < now_ms))
            return -ALLOT_EUNAUTHORIZED;
        *who = e->who;
        snprintf(who->token_id, sizeof(who->token_id), "%s", id);
        used(c, id, now_ms);
        return 0;
    }
    if (store_find_token(c->store, id, &row) || !auth_hash_equal(hash, row.hash))
        return -ALLOT_EUNAUTHORIZED;
    if (row.expires_ms && row.expires_ms < now_ms)
        return -ALLOT_EUNAUTHORIZED;
    int rc = principal_of(c, id, &row, who);
    if (rc) {
        memset(who, 0, sizeof(*who));
        return rc;
    }
    remember(c, id, row.hash, row.expires_ms, who);
    used(c, id, now_ms);
    return 0;
}
