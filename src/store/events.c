/* The event stream in the store: append with a sequence number never reused, read from a
 * position (a stream resumed from Last-Event-ID), trim to the newest N. */
#include "common/error.h"
#include "store/internal.h"

int store_append_event(struct store *st, int64_t t_ms, const char *tenant, const char *kind,
                       const char *json, int64_t *seq)
{
    size_t tenant_len, kind_len, json_len;
    int err = store_check_text(st, "tenant", tenant, STORE_NAME_MAX, true, &tenant_len);
    if (!err)
        err = store_check_name(st, "kind", kind, &kind_len);
    if (!err)
        err = store_check_spec(st, "json", json, &json_len);
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_APPEND_EVENT];
    err = store_bind_int(st, stmt, 1, t_ms);
    if (!err)
        err = store_bind_text(st, stmt, 2, tenant, tenant_len);
    if (!err)
        err = store_bind_text(st, stmt, 3, kind, kind_len);
    if (!err)
        err = store_bind_text(st, stmt, 4, json, json_len);
    if (err) {
        store_reset(stmt);
        return err;
    }
    err = store_run_write(st, stmt, NULL);
    if (!err && seq)
        *seq = sqlite3_last_insert_rowid(st->db);
    return err;
}

int store_events_trim(struct store *st, int64_t keep_last_n, int64_t *deleted)
{
    int64_t changes = 0;
    if (keep_last_n < 0) {
        store_set_errmsg(st, "keep_last_n: must not be negative");
        return -ALLOT_EINVAL;
    }
    int err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[keep_last_n ? STORE_STMT_TRIM_EVENTS : STORE_STMT_CLEAR_EVENTS];
    if (keep_last_n)
        err = store_bind_int(st, stmt, 1, keep_last_n);
    if (err) {
        store_reset(stmt);
        return err;
    }
    err = store_run_write(st, stmt, &changes);
    if (!err && deleted)
        *deleted = changes;
    return err;
}

int store_events_read(struct store *st, int64_t after_seq, int64_t max,
                      int (*fn)(void *ctx, const struct store_event *ev), void *ctx)
{
    if (max < 0 || !fn) {
        store_set_errmsg(st, "max: must not be negative");
        return -ALLOT_EINVAL;
    }
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_READ_EVENTS];
    int err = store_bind_int(st, stmt, 1, after_seq);
    if (!err)
        err = store_bind_int(st, stmt, 2, max);
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_event ev = {
            .seq = sqlite3_column_int64(stmt, 0),
            .t_ms = sqlite3_column_int64(stmt, 1),
            .tenant = (const char *)sqlite3_column_text(stmt, 2),
            .kind = (const char *)sqlite3_column_text(stmt, 3),
            .json = (const char *)sqlite3_column_text(stmt, 4),
        };
        err = fn(ctx, &ev);
    }
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}

int store_events_last(struct store *st, int64_t *seq)
{
    return store_query_int(st, STORE_STMT_LAST_EVENT, seq);
}
