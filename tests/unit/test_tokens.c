/* Unit tests of the token cache (src/allotd/tokens.c) on a store in a temporary directory:
 * a checked token is served from the cache (even once the store forgets it) until the cache
 * is told users or tokens changed; expiry is checked on every hit; a wrong secret, a join
 * token or a user without a known role is nobody. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "allotd/tokens.h"
#include "common/error.h"
#include "store/store.h"
#include "support.h"

struct fixture {
    char root[256];
    struct store *store;
    struct token_cache *cache;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    char err[256];
    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/allot-tokens-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->root) || store_open(f->root, &f->store, err, sizeof(err)) ||
        token_cache_new(f->store, &f->cache))
        return -1;
    struct store_user ann = {"ann", "acme", "member", "{\"workspace\": \"acme/research\"}"};
    *state = f;
    return store_add_user(f->store, &ann) ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    token_cache_free(f->cache);
    store_close(f->store);
    support_remove_tree(f->root);
    free(f);
    return 0;
}

/* A new token of user (or of node when user is NULL) expiring at expires_ms, stored; its
 * full text into token, its id into id. */
static void token_add(struct fixture *f, const char *user, const char *node, int64_t expires_ms,
                      char token[AUTH_TOKEN_LEN + 1], char id[AUTH_ID_LEN + 1])
{
    struct store_token row = {.created_ms = 1, .expires_ms = expires_ms};
    assert_int_equal(auth_token_make(token, id, row.hash), 0);
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.user, sizeof(row.user), "%s", user ? user : "");
    snprintf(row.node, sizeof(row.node), "%s", node ? node : "");
    assert_int_equal(store_add_token(f->store, &row), 0);
}

static void test_hit_until_forgotten(void **state)
{
    struct fixture *f = *state;
    char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1];
    struct principal who;
    token_add(f, "ann", NULL, 0, token, id);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    assert_int_equal(who.role, ROLE_MEMBER);
    assert_string_equal(who.user, "ann");
    assert_string_equal(who.tenant, "acme");
    assert_string_equal(who.workspace, "acme/research");
    assert_string_equal(who.token_id, id);
    /* revoked in the store: the cache still knows it (a hit, no read) until told */
    assert_int_equal(store_delete_token(f->store, id), 0);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    assert_string_equal(who.user, "ann");
    token_cache_forget(f->cache);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), -ALLOT_EUNAUTHORIZED);
}

static void test_changed_user(void **state)
{
    struct fixture *f = *state;
    char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1];
    struct principal who;
    token_add(f, "ann", NULL, 0, token, id);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    struct store_user ann = {"ann", "acme", "tenant-admin", "{}"};
    assert_int_equal(store_update_user(f->store, &ann), 0);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    assert_int_equal(who.role, ROLE_MEMBER); /* cached */
    token_cache_forget(f->cache);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    assert_int_equal(who.role, ROLE_TENANT_ADMIN);
    assert_string_equal(who.workspace, "");
}

static void test_expiry(void **state)
{
    struct fixture *f = *state;
    char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1];
    struct principal who;
    token_add(f, "ann", NULL, 5000, token, id);
    assert_int_equal(token_cache_authenticate(f->cache, token, 4000, &who), 0);
    /* the cached entry expires too */
    assert_int_equal(token_cache_authenticate(f->cache, token, 6000, &who), -ALLOT_EUNAUTHORIZED);
    token_cache_forget(f->cache);
    assert_int_equal(token_cache_authenticate(f->cache, token, 6000, &who), -ALLOT_EUNAUTHORIZED);
}

static void test_nobody(void **state)
{
    struct fixture *f = *state;
    char token[AUTH_TOKEN_LEN + 1], id[AUTH_ID_LEN + 1], join[AUTH_TOKEN_LEN + 1];
    char node[AUTH_TOKEN_LEN + 1], ghost[AUTH_TOKEN_LEN + 1];
    struct principal who;
    token_add(f, "ann", NULL, 0, token, id);
    assert_int_equal(token_cache_authenticate(f->cache, token, 1000, &who), 0);
    /* the same id with another secret, from the cache and from the store */
    char forged[AUTH_TOKEN_LEN + 1];
    snprintf(forged, sizeof(forged), "%s", token);
    forged[AUTH_TOKEN_LEN - 1] = forged[AUTH_TOKEN_LEN - 1] == '0' ? '1' : '0';
    assert_int_equal(token_cache_authenticate(f->cache, forged, 1000, &who), -ALLOT_EUNAUTHORIZED);
    token_cache_forget(f->cache);
    assert_int_equal(token_cache_authenticate(f->cache, forged, 1000, &who), -ALLOT_EUNAUTHORIZED);
    assert_int_equal(token_cache_authenticate(f->cache, "not-a-token", 1000, &who),
                     -ALLOT_EUNAUTHORIZED);
    token_add(f, AUTH_JOIN_USER, "n1", 0, join, id);
    assert_int_equal(token_cache_authenticate(f->cache, join, 1000, &who), -ALLOT_EUNAUTHORIZED);
    token_add(f, "nobody", NULL, 0, ghost, id);
    assert_int_equal(token_cache_authenticate(f->cache, ghost, 1000, &who), -ALLOT_EUNAUTHORIZED);
    token_add(f, NULL, "n1", 0, node, id);
    assert_int_equal(token_cache_authenticate(f->cache, node, 1000, &who), 0);
    assert_int_equal(who.role, ROLE_NODE);
    assert_string_equal(who.node, "n1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_until_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nobody, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
