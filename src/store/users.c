/* Users and their API tokens in the store: add, change, find, delete, and the load of every
 * user. Tokens are kept as the SHA-256 of their secret, never the secret. */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

/* Insert (ADD_USER) or change (UPDATE_USER) a user's row; the same four parameters bind
 * both. RET as store_add_user / store_update_user. */
static int store_write_user(struct store *st, enum store_stmt id, const struct store_user *user)
{
    size_t name_len, tenant_len, role_len, spec_len;
    int64_t changes = 0;
    int err = store_check_name(st, "name", user->name, &name_len);
    if (!err)
        err = store_check_text(st, "tenant", user->tenant, STORE_NAME_MAX, true, &tenant_len);
    if (!err)
        err = store_check_name(st, "role", user->role, &role_len);
    if (!err)
        err = store_check_spec(st, "spec", user->spec_json, &spec_len);
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[id];
    err = store_bind_text(st, stmt, 1, user->name, name_len);
    if (!err)
        err = store_bind_text(st, stmt, 2, user->tenant, tenant_len);
    if (!err)
        err = store_bind_text(st, stmt, 3, user->role, role_len);
    if (!err)
        err = store_bind_text(st, stmt, 4, user->spec_json, spec_len);
    if (err) {
        store_reset(stmt);
        return err;
    }
    err = store_run_write(st, stmt, &changes);
    if (err == -ALLOT_EEXIST)
        store_set_errmsg(st, "name: user '%s' exists", user->name);
    if (!err && changes == 0) {
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
    sqlite3_stmt *stmt;
    *changes = 0;
    int err = store_bind_key(st, id, field, key, &stmt);
    if (err)
        return err;
    err = store_check_writable(st);
    if (err) {
        store_reset(stmt);
        return err;
    }
    return store_run_write(st, stmt, changes);
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

int store_find_user(struct store *st, const char *name, struct store_user *out, char *tenant_buf,
                    size_t tenant_len, char *role_buf, size_t role_len, char *workspace_buf,
                    size_t workspace_len)
{
    sqlite3_stmt *stmt;
    int err = store_find_row(st, STORE_STMT_FIND_USER, "name", name, &stmt);
    if (err == -ALLOT_ENOENT)
        store_set_errmsg(st, "user %s: not found", name);
    if (err)
        return err;
    bool has_tenant = sqlite3_column_type(stmt, 0) != SQLITE_NULL;
    err = store_copy_text(st, stmt, 0, tenant_buf, tenant_len);
    if (!err)
        err = store_copy_text(st, stmt, 1, role_buf, role_len);
    if (!err)
        err = store_copy_text(st, stmt, 2, workspace_buf, workspace_len);
    store_reset(stmt);
    if (!err && out) {
        out->name = name;
        out->tenant = has_tenant ? tenant_buf : NULL;
        out->role = role_buf;
        out->spec_json = NULL;
    }
    return err;
}

static const char *store_col_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}

int store_load(struct store *st, const struct store_visitor *v, void *ctx)
{
    if (!v->user)
        return 0;
    int err = store_read_begin(st, "store_load");
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOAD_USERS];
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_user u = {
            .name = store_col_text(stmt, 0),
            .tenant = store_col_text(stmt, 1),
            .role = store_col_text(stmt, 2),
            .spec_json = store_col_text(stmt, 3),
        };
        err = v->user(ctx, &u);
    }
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    store_read_end(st);
    return err;
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
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_ADD_TOKEN];
    err = store_bind_text(st, stmt, 1, token->id, id_len);
    if (!err) {
        int rc = sqlite3_bind_blob(stmt, 2, token->hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
        err = rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
    }
    if (!err)
        err = store_bind_text(st, stmt, 3, token->user, user_len);
    if (!err)
        err = store_bind_text(st, stmt, 4, token->node, node_len);
    if (!err)
        err = store_bind_int(st, stmt, 5, token->created_ms);
    if (!err) {
        int rc = token->expires_ms ? sqlite3_bind_int64(stmt, 6, token->expires_ms)
                                   : sqlite3_bind_null(stmt, 6);
        err = rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
    }
    if (!err)
        return store_run_write(st, stmt, NULL);
    store_reset(stmt);
    return err;
}

/* Copies column col (text, NULL read as "") into a buffer of STORE_NAME_MAX + 1 bytes.
 * RET -ALLOT_EIO when the stored value is longer than any the store writes. */
static int store_copy_name(struct store *st, sqlite3_stmt *stmt, int col, char *buf)
{
    const unsigned char *s = sqlite3_column_text(stmt, col);
    int n = sqlite3_column_bytes(stmt, col);
    if (n < 0 || n > STORE_NAME_MAX) {
        store_set_errmsg(st, "corrupt row: %s is %d bytes", sqlite3_column_name(stmt, col), n);
        return -ALLOT_EIO;
    }
    if (s)
        memcpy(buf, s, (size_t)n);
    buf[s ? n : 0] = '\0';
    return 0;
}

/* Fills *out from a row of id, token_hash, user, node, created_ms, expires_ms. */
static int store_read_token(struct store *st, sqlite3_stmt *stmt, struct store_token *out)
{
    memset(out, 0, sizeof(*out));
    int err = store_copy_name(st, stmt, 0, out->id);
    if (!err)
        err = store_copy_name(st, stmt, 2, out->user);
    if (!err)
        err = store_copy_name(st, stmt, 3, out->node);
    if (err)
        return err;
    const void *hash = sqlite3_column_blob(stmt, 1);
    if (!hash || sqlite3_column_bytes(stmt, 1) != STORE_TOKEN_HASH_LEN) {
        store_set_errmsg(st, "corrupt row: token %s has no 32-byte hash", out->id);
        return -ALLOT_EIO;
    }
    memcpy(out->hash, hash, STORE_TOKEN_HASH_LEN);
    out->created_ms = sqlite3_column_int64(stmt, 4);
    out->expires_ms = sqlite3_column_int64(stmt, 5); /* NULL reads as 0: never */
    return 0;
}

int store_find_token(struct store *st, const char *id, struct store_token *out)
{
    sqlite3_stmt *stmt;
    int err = store_find_row(st, STORE_STMT_FIND_TOKEN, "id", id, &stmt);
    if (err)
        return err;
    err = store_read_token(st, stmt, out);
    store_reset(stmt);
    return err;
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
