/* Workloads' output in the store, as their agents ship it: chunks at byte offsets of one
 * stream of one attempt of one replica, appended and read back across chunks. */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

/* Binds a log key as parameters 1..4 of stmt. */
static int store_bind_log_key(struct store *st, sqlite3_stmt *stmt, const struct store_log_key *k)
{
    size_t name_len, stream_len;
    int err = store_check_text(st, "workload", k->workload, STORE_LOG_NAME_MAX, false, &name_len);
    if (!err)
        err = store_check_name(st, "stream", k->stream, &stream_len);
    if (!err && (k->rank < 0 || k->attempt < 0)) {
        store_set_errmsg(st, "%s: must not be negative", k->rank < 0 ? "rank" : "attempt");
        err = -ALLOT_EINVAL;
    }
    err = err ? err : store_bind_text(st, stmt, 1, k->workload, name_len);
    err = err ? err : store_bind_int(st, stmt, 2, k->rank);
    err = err ? err : store_bind_int(st, stmt, 3, k->attempt);
    err = err ? err : store_bind_text(st, stmt, 4, k->stream, stream_len);
    return err;
}

int store_log_end(struct store *st, const struct store_log_key *k, int64_t *end)
{
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOG_END];
    int err = store_bind_log_key(st, stmt, k);
    *end = 0;
    int rc = err ? SQLITE_DONE : sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *end = sqlite3_column_int64(stmt, 0);
    else if (rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}

int store_log_append(struct store *st, const struct store_log_key *k, int64_t offset,
                     const void *data, size_t len)
{
    if (offset < 0 || len == 0 || len > STORE_LOG_CHUNK_MAX) {
        store_set_errmsg(st, "%s",
                         offset < 0 ? "offset: must not be negative"
                                    : "data: 1 to STORE_LOG_CHUNK_MAX bytes");
        return -ALLOT_EINVAL;
    }
    int err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOG_APPEND];
    err = store_bind_log_key(st, stmt, k);
    err = err ? err : store_bind_int(st, stmt, 5, offset);
    if (!err) {
        int rc = sqlite3_bind_blob(stmt, 6, data, (int)len, SQLITE_STATIC);
        err = rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
    }
    if (err) {
        store_reset(stmt);
        return err;
    }
    return store_run_write(st, stmt, NULL);
}

int store_log_read(struct store *st, const struct store_log_key *k, int64_t offset, void *buf,
                   size_t max, size_t *got)
{
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOG_READ];
    *got = 0;
    int err = store_bind_log_key(st, stmt, k);
    /* a chunk that starts before offset may still hold bytes from it on */
    err = err ? err : store_bind_int(st, stmt, 5, offset - STORE_LOG_CHUNK_MAX - 1);
    int rc = SQLITE_DONE;
    while (!err && *got < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int64_t off = sqlite3_column_int64(stmt, 0);
        const char *data = sqlite3_column_blob(stmt, 1);
        int64_t n = sqlite3_column_bytes(stmt, 1);
        int64_t from = offset + (int64_t)*got; /* the next byte wanted */
        if (off > from)
            break; /* a hole: chunks are contiguous, so nothing is stored there */
        if (off + n <= from)
            continue;
        size_t take = (size_t)(off + n - from);
        if (take > max - *got)
            take = max - *got;
        memcpy((char *)buf + *got, data + (from - off), take);
        *got += take;
    }
    if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}
