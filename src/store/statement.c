/* The store's prepared statements and the helpers every part of the store uses on them:
 * bounded inputs checked, parameters bound, writes run, rows read, SQLite's errors mapped to
 * Allot's codes. The statements themselves are listed in internal.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

const char *const store_stmt_sql[STORE_STMT_COUNT] = {
#define STORE_STMT_SQL(id, sql) [STORE_STMT_##id] = sql,
    STORE_STMT_TABLE(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

void store_set_errmsg(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

/* Maps a failed SQLite call to an Allot code and keeps SQLite's message. Notes when SQLite
 * rolled back an open batch on its own (I/O error, disk full, out of memory). */
int store_sqlite_error(struct store *st, int rc)
{
    int err;
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        err = -ALLOT_EEXIST;
        break;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_TOOBIG:
        err = -ALLOT_EINVAL;
        break;
    case SQLITE_NOMEM:
        err = -ALLOT_ENOMEM;
        break;
    case SQLITE_FULL:
        err = -ALLOT_EFULL;
        break;
    default:
        err = -ALLOT_EIO;
        break;
    }
    store_set_errmsg(st, "%s", sqlite3_errmsg(st->db));
    if (st->in_batch && sqlite3_get_autocommit(st->db))
        st->batch_broken = true;
    return err;
}

/* Checks one bounded string input: 1..max bytes, or NULL/"" when optional.
 * OUT *len: its length (0 when absent). */
int store_check_text(struct store *st, const char *field, const char *s, size_t max, bool optional,
                     size_t *len)
{
    *len = 0;
    if (!s || !*s) {
        if (optional)
            return 0;
        store_set_errmsg(st, "%s: missing", field);
        return -ALLOT_EINVAL;
    }
    size_t n = strnlen(s, max + 1);
    if (n > max) {
        store_set_errmsg(st, "%s: longer than %zu bytes", field, max);
        return -ALLOT_EINVAL;
    }
    *len = n;
    return 0;
}

int store_check_name(struct store *st, const char *field, const char *s, size_t *len)
{
    return store_check_text(st, field, s, STORE_NAME_MAX, false, len);
}

int store_check_spec(struct store *st, const char *field, const char *s, size_t *len)
{
    return store_check_text(st, field, s, STORE_SPEC_MAX, false, len);
}

/* Binds s (len bytes, or NULL when len is 0 and s absent) as text parameter i. The text is
 * bound SQLITE_STATIC: valid because every statement is stepped and reset before the
 * function that bound it returns. */
int store_bind_text(struct store *st, sqlite3_stmt *stmt, int i, const char *s, size_t len)
{
    int rc = (s && len) ? sqlite3_bind_text(stmt, i, s, (int)len, SQLITE_STATIC)
                        : sqlite3_bind_null(stmt, i);
    return rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
}

int store_bind_int(struct store *st, sqlite3_stmt *stmt, int i, int64_t v)
{
    int rc = sqlite3_bind_int64(stmt, i, v);
    return rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
}

void store_reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Refuses writes once SQLite has abandoned the open batch. */
int store_check_writable(struct store *st)
{
    if (st->in_batch && st->batch_broken) {
        store_set_errmsg(st, "the batch failed; roll it back");
        return -ALLOT_EIO;
    }
    return 0;
}

/* Runs a bound write statement to completion and resets it. Outside a batch the statement
 * is its own transaction, durable when this returns 0.
 * OUT *changes (may be NULL): rows the statement changed, triggers excluded. */
int store_run_write(struct store *st, sqlite3_stmt *stmt, int64_t *changes)
{
    int rc = sqlite3_step(stmt);
    int err = 0;
    if (rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    else if (changes)
        *changes = sqlite3_changes(st->db);
    store_reset(stmt);
    return err;
}

/* Runs one of the cached statements that take no parameters and return no rows. */
int store_run_plain(struct store *st, enum store_stmt id)
{
    return store_run_write(st, st->stmt[id], NULL);
}

/* Steps a bound query expected to give at most one row. RET 1 with a row (the caller reads
 * it, then resets), 0 without (reset done), negative on error (reset done). */
int store_query_row(struct store *st, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    int err = rc == SQLITE_DONE ? 0 : store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}

/* Runs a query without parameters that always gives one row of n integers. RET 0 and
 * out[0..n), or a negative error (-ALLOT_EIO when it gave no row). */
int store_query_ints(struct store *st, enum store_stmt which, int64_t *out, int n)
{
    sqlite3_stmt *stmt = st->stmt[which];
    int row = store_query_row(st, stmt);
    if (row <= 0)
        return row < 0 ? row : -ALLOT_EIO;
    for (int i = 0; i < n; i++)
        out[i] = sqlite3_column_int64(stmt, i);
    store_reset(stmt);
    return 0;
}

int store_query_int(struct store *st, enum store_stmt which, int64_t *out)
{
    return store_query_ints(st, which, out, 1);
}

/* Checks key as a name called what and binds it as parameter 1 of statement id.
 * OUT *out: the statement, bound (reset it after use). RET 0, or an error with the
 * statement reset. */
int store_bind_key(struct store *st, enum store_stmt id, const char *what, const char *key,
                   sqlite3_stmt **out)
{
    size_t key_len;
    int err = store_check_name(st, what, key, &key_len);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[id];
    err = store_bind_text(st, stmt, 1, key, key_len);
    if (err) {
        store_reset(stmt);
        return err;
    }
    *out = stmt;
    return 0;
}

/* Step statement id, bound to key (checked as a name called what), onto its one row.
 * RET 0 with the statement on the row (the caller reads it, then store_reset);
 * -ALLOT_ENOENT when there is none; another negative error. */
int store_find_row(struct store *st, enum store_stmt id, const char *what, const char *key,
                   sqlite3_stmt **out)
{
    sqlite3_stmt *stmt;
    int err = store_bind_key(st, id, what, key, &stmt);
    if (err)
        return err;
    int row = store_query_row(st, stmt);
    if (row < 0)
        return row;
    if (row == 0)
        return -ALLOT_ENOENT;
    *out = stmt;
    return 0;
}

/* Copies text column col (NULL read as "") into buf of len bytes; buf may be NULL when len
 * is 0 and the value is not wanted. RET -ALLOT_ERANGE when it does not fit. */
int store_copy_text(struct store *st, sqlite3_stmt *stmt, int col, char *buf, size_t len)
{
    if (!buf)
        return 0;
    const unsigned char *s = sqlite3_column_text(stmt, col);
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    if (n + 1 > len) {
        store_set_errmsg(st, "%s: value of %zu bytes does not fit", sqlite3_column_name(stmt, col),
                         n);
        return -ALLOT_ERANGE;
    }
    if (s && n)
        memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* Opens the read transaction in which a load sees one consistent state. */
int store_read_begin(struct store *st, const char *who)
{
    if (st->in_batch) {
        store_set_errmsg(st, "%s inside a batch", who);
        return -ALLOT_ESTATE;
    }
    return store_run_plain(st, STORE_STMT_BEGIN_READ);
}

/* Ends it: a read transaction writes nothing, so rollback and commit are the same. */
void store_read_end(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        store_run_plain(st, STORE_STMT_ROLLBACK);
}

int store_prepare_all(struct store *st)
{
    for (int i = 0; i < STORE_STMT_COUNT; i++) {
        int rc = sqlite3_prepare_v3(st->db, store_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            int err = store_sqlite_error(st, rc);
            store_set_errmsg(st, "cannot prepare \"%.60s\": %s", store_stmt_sql[i],
                             sqlite3_errmsg(st->db));
            return err;
        }
    }
    return 0;
}

void store_finalize_all(struct store *st)
{
    for (int i = 0; i < STORE_STMT_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
}
