/* The history of workloads that have left the engine (store.h, docs/store.md "History"):
 * added when the daemon forgets a workload, found by name or idempotency key, listed in
 * pages, and trimmed by age. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

int store_history_add(struct store *st, const struct store_history_row *r)
{
    size_t len[7] = {0};
    const char *fields[] = {"name", "tenant", "workspace", "state"};
    const char *values[] = {r->name, r->tenant, r->workspace, r->state};
    int err = 0;
    for (int i = 0; !err && i < 4; i++)
        err = store_check_text(st, fields[i], values[i], STORE_LOG_NAME_MAX, false, &len[i]);
    err = err ? err
              : store_check_text(st, "idempotency_key", r->idempotency_key, STORE_NAME_MAX, true,
                                 &len[5]);
    err = err ? err : store_check_spec(st, "view", r->view_json, &len[6]);
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_HISTORY_ADD];
    for (int i = 0; !err && i < 4; i++)
        err = store_bind_text(st, stmt, i + 1, values[i], len[i]);
    err = err ? err : store_bind_int(st, stmt, 5, r->ended_ms);
    err = err ? err : store_bind_text(st, stmt, 6, r->idempotency_key, len[5]);
    err = err ? err : store_bind_text(st, stmt, 7, r->view_json, len[6]);
    if (err) {
        store_reset(stmt);
        return err;
    }
    return store_run_write(st, stmt, NULL);
}

/* The view column of statement stmt's one row, bound already: copied into *view. */
static int find_view(struct store *st, sqlite3_stmt *stmt, char **view)
{
    *view = NULL;
    int row = store_query_row(st, stmt);
    if (row <= 0)
        return row < 0 ? row : -ALLOT_ENOENT;
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    *view = strdup(text ? text : "{}");
    store_reset(stmt);
    return *view ? 0 : -ALLOT_ENOMEM;
}

int store_history_find(struct store *st, const char *name, char **view)
{
    size_t n;
    *view = NULL;
    int err = store_check_text(st, "name", name, STORE_LOG_NAME_MAX, false, &n);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_HISTORY_FIND];
    err = store_bind_text(st, stmt, 1, name, n);
    if (err) {
        store_reset(stmt);
        return err;
    }
    return find_view(st, stmt, view);
}

int store_history_find_key(struct store *st, const char *workspace, const char *key, char **view)
{
    size_t nw, nk;
    *view = NULL;
    int err = store_check_text(st, "workspace", workspace, STORE_LOG_NAME_MAX, false, &nw);
    err = err ? err : store_check_text(st, "idempotency_key", key, STORE_NAME_MAX, false, &nk);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_HISTORY_FIND_KEY];
    err = store_bind_text(st, stmt, 1, workspace, nw);
    err = err ? err : store_bind_text(st, stmt, 2, key, nk);
    if (err) {
        store_reset(stmt);
        return err;
    }
    return find_view(st, stmt, view);
}

int store_history_list(struct store *st, int64_t after_id, const char *tenant,
                       const char *workspace, int64_t limit,
                       int (*fn)(void *ctx, int64_t id, const char *tenant, const char *workspace,
                                 const char *view_json),
                       void *ctx)
{
    size_t nt, nw;
    if (limit < 0 || !fn) {
        store_set_errmsg(st, "limit: must not be negative");
        return -ALLOT_EINVAL;
    }
    int err = store_check_text(st, "tenant", tenant, STORE_NAME_MAX, true, &nt);
    err = err ? err : store_check_text(st, "workspace", workspace, STORE_LOG_NAME_MAX, true, &nw);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_HISTORY_LIST];
    err = store_bind_int(st, stmt, 1, after_id);
    err = err ? err : store_bind_text(st, stmt, 2, tenant, nt);
    err = err ? err : store_bind_text(st, stmt, 3, workspace, nw);
    err = err ? err : store_bind_int(st, stmt, 4, limit);
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        err = fn(ctx, sqlite3_column_int64(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
                 (const char *)sqlite3_column_text(stmt, 2),
                 (const char *)sqlite3_column_text(stmt, 3));
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}

/* Run statement which with before_ms as its parameter. OUT *changes (may be NULL). */
static int run_before(struct store *st, enum store_stmt which, int64_t before_ms, int64_t *changes)
{
    sqlite3_stmt *stmt = st->stmt[which];
    int err = store_bind_int(st, stmt, 1, before_ms);
    if (err) {
        store_reset(stmt);
        return err;
    }
    return store_run_write(st, stmt, changes);
}

int store_history_trim(struct store *st, int64_t before_ms, int64_t *deleted)
{
    int64_t changes = 0;
    int err = store_check_writable(st);
    if (err)
        return err;
    bool own = !st->in_batch; /* the output and the rows go together */
    if (own && (err = store_batch_begin(st)) != 0)
        return err;
    err = run_before(st, STORE_STMT_HISTORY_TRIM_LOGS, before_ms, NULL);
    err = err ? err : run_before(st, STORE_STMT_HISTORY_TRIM, before_ms, &changes);
    if (own)
        err = err ? (store_batch_rollback(st), err) : store_batch_commit(st);
    if (!err && deleted)
        *deleted = changes;
    return err;
}

int store_history_count(struct store *st, int64_t *count)
{
    return store_query_int(st, STORE_STMT_HISTORY_COUNT, count);
}
