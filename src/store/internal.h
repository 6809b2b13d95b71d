/* Private to src/store/: the store's connection struct, its table of prepared statements,
 * and the helpers its modules share to check, bind and run them. Not for other folders. */
#ifndef ALLOT_STORE_INTERNAL_H
#define ALLOT_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* Every statement the store runs after open, prepared once: X(ID, sql). */
#define STORE_STMT_TABLE(X)                                                                        \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                              \
    X(BEGIN_READ, "BEGIN DEFERRED")                                                                \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(ADD_USER, "INSERT INTO users (name, tenant, role, spec) VALUES (?1, ?2, ?3, ?4)")            \
    X(UPDATE_USER, "UPDATE users SET tenant = ?2, role = ?3, spec = ?4 WHERE name = ?1")           \
    X(ADD_TOKEN, "INSERT INTO tokens (id, token_hash, user, node, created_ms, expires_ms)"         \
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                               \
    X(DELETE_USER, "DELETE FROM users WHERE name = ?1")                                            \
    X(DELETE_TOKEN, "DELETE FROM tokens WHERE id = ?1")                                            \
    X(DELETE_USER_TOKENS, "DELETE FROM tokens WHERE user = ?1")                                    \
    X(FIND_TOKEN, "SELECT id, token_hash, user, node, created_ms, expires_ms FROM tokens"          \
                  " WHERE id = ?1")                                                                \
    X(FIND_USER, "SELECT tenant, role, CASE json_type(spec, '$.workspace') WHEN 'text'"            \
                 " THEN json_extract(spec, '$.workspace') END FROM users WHERE name = ?1")         \
    X(APPEND_JOURNAL, "INSERT INTO journal (t_ms, op) VALUES (?1, ?2)")                            \
    X(TRIM_JOURNAL, "DELETE FROM journal WHERE seq <= ?1")                                         \
    X(LOAD_JOURNAL, "SELECT seq, t_ms, op FROM journal WHERE seq > ?1 ORDER BY seq")               \
    X(JOURNAL_BOUNDS, "SELECT coalesce(min(seq), 0), coalesce((SELECT seq FROM sqlite_sequence"    \
                      " WHERE name = 'journal'), 0) FROM journal")                                 \
    X(SNAPSHOT_ADD, "INSERT OR IGNORE INTO snapshots (seq, t_ms, engine, controller) VALUES"       \
                    " (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0),"     \
                    " ?1, ?2, ?3)")                                                                \
    X(SNAPSHOT_PRUNE, "DELETE FROM snapshots WHERE seq < (SELECT min(seq) FROM (SELECT seq"        \
                      " FROM snapshots ORDER BY seq DESC LIMIT ?1))")                              \
    X(SNAPSHOT_SPAN, "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM snapshots")         \
    X(SNAPSHOT_READ, "SELECT seq, t_ms, engine, controller FROM snapshots ORDER BY seq DESC"       \
                     " LIMIT 1 OFFSET ?1")                                                         \
    X(HISTORY_ADD, "INSERT INTO history (name, tenant, workspace, state, ended_ms,"                \
                   " idempotency_key, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                  \
    X(HISTORY_FIND, "SELECT view FROM history WHERE name = ?1 ORDER BY id DESC LIMIT 1")           \
    X(HISTORY_FIND_KEY, "SELECT view FROM history WHERE workspace = ?1 AND idempotency_key = ?2"   \
                        " ORDER BY id DESC LIMIT 1")                                               \
    X(HISTORY_LIST, "SELECT id, tenant, workspace, view FROM history WHERE id > ?1"                \
                    " AND (?2 IS NULL OR tenant = ?2) AND (?3 IS NULL OR workspace = ?3)"          \
                    " ORDER BY id LIMIT ?4")                                                       \
    X(HISTORY_TRIM_LOGS, "DELETE FROM logs WHERE workload IN (SELECT name FROM history"            \
                         " GROUP BY name HAVING max(ended_ms) < ?1)")                              \
    X(HISTORY_TRIM, "DELETE FROM history WHERE ended_ms < ?1")                                     \
    X(HISTORY_COUNT, "SELECT count(*) FROM history")                                               \
    X(APPEND_EVENT, "INSERT INTO events (t_ms, tenant, kind, json) VALUES (?1, ?2, ?3, ?4)")       \
    X(TRIM_EVENTS, "DELETE FROM events WHERE seq < (SELECT seq FROM events"                        \
                   " ORDER BY seq DESC LIMIT 1 OFFSET ?1 - 1)")                                    \
    X(CLEAR_EVENTS, "DELETE FROM events")                                                          \
    X(READ_EVENTS, "SELECT seq, t_ms, tenant, kind, json FROM events WHERE seq > ?1"               \
                   " ORDER BY seq LIMIT ?2")                                                       \
    X(LAST_EVENT, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)")   \
    X(LOG_END, "SELECT off + length(data) FROM logs WHERE workload = ?1 AND rank = ?2"             \
               " AND attempt = ?3 AND stream = ?4 ORDER BY off DESC LIMIT 1")                      \
    X(LOG_APPEND, "INSERT INTO logs (workload, rank, attempt, stream, off, data)"                  \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                              \
    X(LOG_READ, "SELECT off, data FROM logs WHERE workload = ?1 AND rank = ?2 AND attempt = ?3"    \
                " AND stream = ?4 AND off > ?5 ORDER BY off")                                      \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                           \
    X(META_SET, "INSERT INTO meta (key, value) VALUES (?1, ?2)"                                    \
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value")                         \
    X(LOAD_USERS, "SELECT name, tenant, role, spec FROM users ORDER BY rowid")

enum store_stmt {
#define STORE_STMT_ENUM(id, sql) STORE_STMT_##id,
    STORE_STMT_TABLE(STORE_STMT_ENUM)
#undef STORE_STMT_ENUM
        STORE_STMT_COUNT
};

/* The SQL text of each statement, indexed by enum store_stmt. */
extern const char *const store_stmt_sql[STORE_STMT_COUNT];

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STORE_STMT_COUNT];
    int lock_fd; /* holds the fcntl lock on allot.lock while open */
    int schema_version;
    bool in_batch;
    bool batch_broken; /* SQLite abandoned the batch's transaction; only rollback helps */
    struct store_stats stats;
    char errmsg[STORE_ERRMSG_MAX];
};

/* Sets st's message (store_errmsg), printf-style. */
void store_set_errmsg(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps a failed SQLite call to an Allot code and keeps SQLite's message. Notes when SQLite
 * rolled back an open batch on its own (I/O error, disk full, out of memory). RET < 0. */
int store_sqlite_error(struct store *st, int rc);

/* Checks one bounded string input: 1..max bytes, or NULL/"" when optional. OUT *len: its
 * length (0 when absent). RET 0 or -ALLOT_EINVAL with a message naming field. */
int store_check_text(struct store *st, const char *field, const char *s, size_t max, bool optional,
                     size_t *len);
/* store_check_text for a required name (STORE_NAME_MAX) or spec (STORE_SPEC_MAX). */
int store_check_name(struct store *st, const char *field, const char *s, size_t *len);
int store_check_spec(struct store *st, const char *field, const char *s, size_t *len);
/* Refuses writes (-ALLOT_EIO) once SQLite has abandoned the open batch. */
int store_check_writable(struct store *st);

/* Binds s (len bytes; NULL when len is 0) as text parameter i, or v as an integer. The text
 * is bound SQLITE_STATIC: valid because every statement is stepped and reset before the
 * function that bound it returns. RET 0 or a store_sqlite_error code. */
int store_bind_text(struct store *st, sqlite3_stmt *stmt, int i, const char *s, size_t len);
int store_bind_int(struct store *st, sqlite3_stmt *stmt, int i, int64_t v);
/* Resets stmt and clears its bindings, ready for the next use. */
void store_reset(sqlite3_stmt *stmt);

/* Runs a bound write statement to completion and resets it. Outside a batch the statement
 * is its own transaction, durable when this returns 0.
 * OUT *changes (may be NULL): rows the statement changed, triggers excluded. */
int store_run_write(struct store *st, sqlite3_stmt *stmt, int64_t *changes);
/* Runs one of the cached statements that take no parameters and return no rows. */
int store_run_plain(struct store *st, enum store_stmt id);
/* Steps a bound query expected to give at most one row. RET 1 with a row (the caller reads
 * it, then resets), 0 without (reset done), negative on error (reset done). */
int store_query_row(struct store *st, sqlite3_stmt *stmt);
/* Runs a query without parameters that always gives one integer. RET 0 and *out, or a
 * negative error (-ALLOT_EIO when it gave no row). */
int store_query_int(struct store *st, enum store_stmt which, int64_t *out);
/* The same for a row of n integers into out[0..n). */
int store_query_ints(struct store *st, enum store_stmt which, int64_t *out, int n);
/* Checks key as a name called what and binds it as parameter 1 of statement id.
 * OUT *out: the statement, bound (reset it after use). RET 0, or an error with the
 * statement reset. */
int store_bind_key(struct store *st, enum store_stmt id, const char *what, const char *key,
                   sqlite3_stmt **out);
/* Steps statement id, bound to key (checked as a name called what), onto its one row.
 * RET 0 with the statement on the row (the caller reads it, then store_reset);
 * -ALLOT_ENOENT when there is none; another negative error. */
int store_find_row(struct store *st, enum store_stmt id, const char *what, const char *key,
                   sqlite3_stmt **out);
/* Copies text column col (NULL read as "") into buf of len bytes; buf may be NULL when the
 * value is not wanted. RET 0; -ALLOT_ERANGE when it does not fit. */
int store_copy_text(struct store *st, sqlite3_stmt *stmt, int col, char *buf, size_t len);

/* Opens the read transaction in which a load sees one consistent state. RET 0;
 * -ALLOT_ESTATE inside a batch (who names the caller in the message); -ALLOT_EIO. */
int store_read_begin(struct store *st, const char *who);
/* Ends it: a read transaction writes nothing, so rollback and commit are the same. */
void store_read_end(struct store *st);

/* Prepares every statement of the table (persistent), or finalizes them; finalize accepts
 * statements that were never prepared. RET 0 or a store_sqlite_error code. */
int store_prepare_all(struct store *st);
void store_finalize_all(struct store *st);

/* Runs a PRAGMA (or any statement) that returns one integer or text row. OUT *out (may be
 * NULL): the integer; text (may be NULL) receives the text value when it fits. */
int store_pragma(struct store *st, const char *sql, int64_t *out, char *text, size_t len);
/* Checks that the open file (at path, for messages) is an Allot store this code
 * understands, then applies its missing migrations, one transaction each, and sets
 * st->schema_version. RET 0; -ALLOT_ECONFIG (not an Allot store, or a newer schema);
 * -ALLOT_EIO or -ALLOT_ENOMEM (a migration failed; the file keeps its version). */
int store_migrate(struct store *st, const char *path);

#endif
