/* The op journal, from which the daemon rebuilds its engine (append, load in order, trim
 * after a snapshot), and the store's small key/value settings (meta). */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

int store_journal_append(struct store *st, int64_t t_ms, const char *op_json)
{
    size_t len;
    int err = store_check_text(st, "op", op_json, STORE_JOURNAL_MAX, false, &len);
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_APPEND_JOURNAL];
    err = store_bind_int(st, stmt, 1, t_ms);
    if (!err)
        err = store_bind_text(st, stmt, 2, op_json, len);
    if (!err)
        return store_run_write(st, stmt, NULL);
    store_reset(stmt);
    return err;
}

int store_journal_load(struct store *st, int64_t after_seq,
                       int (*fn)(void *ctx, int64_t seq, int64_t t_ms, const char *op_json),
                       void *ctx)
{
    int err = store_read_begin(st, "store_journal_load");
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOAD_JOURNAL];
    int rc = SQLITE_DONE;
    err = store_bind_int(st, stmt, 1, after_seq);
    while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        err = fn(ctx, sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1),
                 (const char *)sqlite3_column_text(stmt, 2));
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    store_read_end(st);
    return err;
}

int store_journal_trim(struct store *st, int64_t through_seq, int64_t *deleted)
{
    int64_t changes = 0;
    int err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_TRIM_JOURNAL];
    err = store_bind_int(st, stmt, 1, through_seq);
    if (err) {
        store_reset(stmt);
        return err;
    }
    err = store_run_write(st, stmt, &changes);
    if (!err && deleted)
        *deleted = changes;
    return err;
}

int store_meta_get(struct store *st, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *stmt;
    int err = store_find_row(st, STORE_STMT_META_GET, "key", key, &stmt);
    if (err)
        return err;
    const unsigned char *value = sqlite3_column_text(stmt, 0);
    size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
    if (!buf || n + 1 > len) {
        store_set_errmsg(st, "%s: value of %zu bytes does not fit", key, n);
        err = -ALLOT_ERANGE;
    } else {
        if (n)
            memcpy(buf, value, n);
        buf[n] = '\0';
    }
    store_reset(stmt);
    return err;
}

int store_meta_set(struct store *st, const char *key, const char *value)
{
    size_t key_len, value_len;
    int err = store_check_name(st, "key", key, &key_len);
    if (!err && !value) {
        store_set_errmsg(st, "value: missing");
        err = -ALLOT_EINVAL;
    }
    if (!err)
        err = store_check_text(st, "value", value, STORE_META_MAX, true, &value_len);
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_META_SET];
    err = store_bind_text(st, stmt, 1, key, key_len);
    /* an empty value is stored as '', not NULL */
    if (!err) {
        int rc = sqlite3_bind_text(stmt, 2, value, (int)value_len, SQLITE_STATIC);
        err = rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
    }
    if (!err)
        return store_run_write(st, stmt, NULL);
    store_reset(stmt);
    return err;
}
