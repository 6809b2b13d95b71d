/* Users and their API tokens in the store: add, change, find, delete, and the load of every
 * user and every token. Tokens are kept as the SHA-256 of their secret, never the secret. */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

/* Insert (ADD_USER) or change (UPDATE_USER) a user's row; the same four parameters bind
 * both. RET as store_add_user / store_update_user. */
static int store_write_user(struct store *st, enum store_stmt id, const struct store_user *user)
{
    size_t name_len, tenant_len, role_len, spec_len;
    int err = store_check_name(st, "name", user->name, &name_len);
    if (!err)
        err = store_check_text(st, "tenant", user->tenant, STORE_NAME_MAX, true, &tenant_len);
    if (!err)
        err = store_check_name(st, "role", user->role, &role_len);
    if (!err)
        err = store_check_spec(st, "spec", user->spec_json, &spec_len);
    if (err)
        return err;
    struct store_arg args[] = {
        store_text(user->name, name_len), store_text(user->tenant, tenant_len),
        store_text(user->role, role_len), store_text(user->spec_json, spec_len)};
    struct store_change change;
    err = store_write(st, id, args, 4, &change);
    if (err == -ALLOT_EEXIST)
        store_set_errmsg(st, "name: user '%s' exists", user->name);
    if (!err && change.rows == 0) {
        store_set_errmsg(st, "name: no user '%s'", user->name);
        err = -ALLOT_ENOENT;
    }
    return err;
}

int store_add_user(struct store *st, const struct store_user *user)
{
    return store_write_user(st, STORE_STMT_ADD_USER, user);
}

int store_update_user(struct store *st, const struct store_user *user)
{
    return store_write_user(st, STORE_STMT_UPDATE_USER, user);
}

/* Deletes the rows whose text key is `key`. OUT *changes: how many. */
static int store_delete_keyed(struct store *st, enum store_stmt id, const char *field,
                              const char *key, int64_t *changes)
{
    size_t key_len;
    *changes = 0;
    int err = store_check_name(st, field, key, &key_len);
    if (err)
        return err;
    struct store_arg args[] = {store_text(key, key_len)};
    struct store_change change;
    err = store_write(st, id, args, 1, &change);
    if (!err)
        *changes = change.rows;
    return err;
}

/* Deletes the row whose text key is `key`. RET -ALLOT_ENOENT when there was none. */
static int store_delete_named(struct store *st, enum store_stmt id, const char *field,
                              const char *key)
{
    int64_t changes;
    int err = store_delete_keyed(st, id, field, key, &changes);
    if (!err && changes == 0) {
        store_set_errmsg(st, "%s: not found", key);
        err = -ALLOT_ENOENT;
    }
    return err;
}

int store_delete_user(struct store *st, const char *name)
{
    return store_delete_named(st, STORE_STMT_DELETE_USER, "name", name);
}

/* store_find_user's destination buffers. */
struct store_user_found {
    struct store *st;
    bool has_tenant;
    char *tenant_buf, *role_buf, *workspace_buf;
    size_t tenant_len, role_len, workspace_len;
};

static int store_user_row(void *ctx, const struct store_row *row)
{
    struct store_user_found *found = ctx;
    found->has_tenant = !store_row_null(row, 0);
    int err = store_copy_text(found->st, row, 0, "tenant", found->tenant_buf, found->tenant_len);
    if (!err)
        err = store_copy_text(found->st, row, 1, "role", found->role_buf, found->role_len);
    if (!err)
        err = store_copy_text(found->st, row, 2, "workspace", found->workspace_buf,
                              found->workspace_len);
    return err;
}

int store_find_user(struct store *st, const char *name, struct store_user *out, char *tenant_buf,
                    size_t tenant_len, char *role_buf, size_t role_len, char *workspace_buf,
                    size_t workspace_len)
{
    size_t name_len;
    int err = store_check_name(st, "name", name, &name_len);
    if (err)
        return err;
    struct store_arg args[] = {store_text(name, name_len)};
    struct store_user_found found = {st,         false,    tenant_buf,   role_buf, workspace_buf,
                                     tenant_len, role_len, workspace_len};
    err = store_query_one(st, STORE_STMT_FIND_USER, args, 1, store_user_row, &found);
    if (err == -ALLOT_ENOENT)
        store_set_errmsg(st, "user %s: not found", name);
    if (!err && out) {
        out->name = name;
        out->tenant = found.has_tenant ? tenant_buf : NULL;
        out->role = role_buf;
        out->spec_json = NULL;
    }
    return err;
}

/* store_load's visitor and its context. */
struct store_user_visit {
    const struct store_visitor *v;
    void *ctx;
};

static int store_load_row(void *ctx, const struct store_row *row)
{
    struct store_user_visit *visit = ctx;
    struct store_user u = {
        .name = store_row_text(row, 0, NULL),
        .tenant = store_row_text_or_null(row, 1),
        .role = store_row_text(row, 2, NULL),
        .spec_json = store_row_text(row, 3, NULL),
    };
    return visit->v->user(visit->ctx, &u);
}

/* Run statement id (no parameters), calling row_fn(ctx, row) for each row, in a read
 * transaction of its own (who names the caller in messages). RET as store_query. */
static int store_read_rows(struct store *st, const char *who, enum store_stmt id,
                           int (*row_fn)(void *ctx, const struct store_row *row), void *ctx)
{
    int err = store_read_begin(st, who);
    if (err)
        return err;
    err = store_query(st, id, NULL, 0, row_fn, ctx);
    store_read_end(st);
    return err;
}

int store_load(struct store *st, const struct store_visitor *v, void *ctx)
{
    if (!v->user)
        return 0;
    struct store_user_visit visit = {v, ctx};
    return store_read_rows(st, "store_load", STORE_STMT_LOAD_USERS, store_load_row, &visit);
}

int store_add_token(struct store *st, const struct store_token *token)
{
    size_t id_len, user_len, node_len;
    int err = store_check_name(st, "id", token->id, &id_len);
    if (!err)
        err = store_check_text(st, "user", token->user, STORE_NAME_MAX, true, &user_len);
    if (!err)
        err = store_check_text(st, "node", token->node, STORE_NAME_MAX, true, &node_len);
    if (!err && !user_len && !node_len) {
        store_set_errmsg(st, "user: missing (a token acts for a user or a node)");
        err = -ALLOT_EINVAL;
    }
    if (!err && (token->created_ms < 0 || token->expires_ms < 0)) {
        store_set_errmsg(st, "created_ms, expires_ms: must not be negative");
        err = -ALLOT_EINVAL;
    }
    if (err)
        return err;
    struct store_arg args[] = {
        store_text(token->id, id_len),
        store_blob(token->hash, STORE_TOKEN_HASH_LEN),
        store_text(token->user, user_len),
        store_text(token->node, node_len),
        store_int(token->created_ms),
        token->expires_ms ? store_int(token->expires_ms) : store_text(NULL, 0),
    };
    return store_write(st, STORE_STMT_ADD_TOKEN, args, 6, NULL);
}

/* Copies column col (text, NULL read as "") into a buffer of STORE_NAME_MAX + 1 bytes.
 * RET -ALLOT_EIO when the stored value is longer than any the store writes. */
static int store_copy_name(struct store *st, const struct store_row *row, int col, const char *what,
                           char *buf)
{
    size_t n;
    const char *s = store_row_text(row, col, &n);
    if (n > STORE_NAME_MAX) {
        store_set_errmsg(st, "corrupt row: %s is %zu bytes", what, n);
        return -ALLOT_EIO;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* Fills the token (ctx) from a row of id, token_hash, user, node, created_ms, expires_ms. */
static int store_token_row(void *ctx, const struct store_row *row)
{
    struct store_token *out = ctx;
    struct store *st = row->st;
    memset(out, 0, sizeof(*out));
    int err = store_copy_name(st, row, 0, "id", out->id);
    if (!err)
        err = store_copy_name(st, row, 2, "user", out->user);
    if (!err)
        err = store_copy_name(st, row, 3, "node", out->node);
    if (err)
        return err;
    size_t len;
    const void *hash = store_row_blob(row, 1, &len);
    if (!hash || len != STORE_TOKEN_HASH_LEN) {
        store_set_errmsg(st, "corrupt row: token %s has no 32-byte hash", out->id);
        return -ALLOT_EIO;
    }
    memcpy(out->hash, hash, STORE_TOKEN_HASH_LEN);
    out->created_ms = store_row_int(row, 4);
    out->expires_ms = store_row_null(row, 5) ? 0 : store_row_int(row, 5); /* NULL: never */
    out->used_ms = store_row_null(row, 6) ? 0 : store_row_int(row, 6);    /* NULL: unknown */
    return 0;
}

int store_find_token(struct store *st, const char *id, struct store_token *out)
{
    size_t id_len;
    int err = store_check_name(st, "id", id, &id_len);
    if (err)
        return err;
    struct store_arg args[] = {store_text(id, id_len)};
    return store_query_one(st, STORE_STMT_FIND_TOKEN, args, 1, store_token_row, out);
}

/* store_each_token's callback and its context. */
struct store_token_visit {
    int (*fn)(void *ctx, const struct store_token *token);
    void *ctx;
};

static int store_each_token_row(void *ctx, const struct store_row *row)
{
    struct store_token_visit *visit = ctx;
    struct store_token token;
    int err = store_token_row(&token, row);
    return err ? err : visit->fn(visit->ctx, &token);
}

int store_each_token(struct store *st, int (*fn)(void *ctx, const struct store_token *token),
                     void *ctx)
{
    struct store_token_visit visit = {fn, ctx};
    return store_read_rows(st, "store_each_token", STORE_STMT_LOAD_TOKENS, store_each_token_row,
                           &visit);
}

int store_token_used(struct store *st, const char *id, int64_t used_ms)
{
    size_t id_len;
    int err = store_check_name(st, "id", id, &id_len);
    if (err)
        return err;
    if (used_ms <= 0) {
        store_set_errmsg(st, "used_ms: must be positive");
        return -ALLOT_EINVAL;
    }
    struct store_arg args[] = {store_text(id, id_len), store_int(used_ms)};
    return store_write(st, STORE_STMT_TOKEN_USED, args, 2, NULL);
}

int store_delete_token(struct store *st, const char *id)
{
    return store_delete_named(st, STORE_STMT_DELETE_TOKEN, "id", id);
}

int store_delete_user_tokens(struct store *st, const char *user, int64_t *deleted)
{
    int64_t changes;
    int err = store_delete_keyed(st, STORE_STMT_DELETE_USER_TOKENS, "user", user, &changes);
    if (!err && deleted)
        *deleted = changes;
    return err;
}
