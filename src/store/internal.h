/* Private to src/store/: the store's connection struct, its table of statements in both
 * dialects (SQLite and PostgreSQL), the backend interface each dialect implements, and the
 * helpers the store's modules share to check inputs and run statements. Not for other folders. */
#ifndef ALLOT_STORE_INTERNAL_H
#define ALLOT_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The ledger's sums of a period by one key (col), in both dialects: ?1/$1 and ?2/$2 the
 * period, ?3/$3 and ?4/$4 the tenant and workspace (NULL: any), ?5/$5 the most rows. */
#define STORE_USAGE_SUM_SQLITE(col, table, at)                                                     \
    "SELECT " col ", class, sum(unit_ms) FROM " table " WHERE " at " >= ?1 AND " at " < ?2"        \
    " AND (?3 IS NULL OR tenant = ?3) AND (?4 IS NULL OR workspace = ?4) GROUP BY 1, 2 LIMIT ?5"
#define STORE_USAGE_SUM_PG(col, table, at)                                                         \
    "SELECT " col ", class, sum(unit_ms)::bigint FROM " table " WHERE " at " >= $1"                \
    " AND " at " < $2 AND ($3::text IS NULL OR tenant = $3::text)"                                 \
    " AND ($4::text IS NULL OR workspace = $4::text) GROUP BY 1, 2 LIMIT $5"
/* One sum statement by key `col` over the hours (ID_HOURS) and one over the days (ID_DAYS). */
#define STORE_USAGE_SUMS(X, ID, col, daycol)                                                       \
    X(ID##_HOURS, STORE_USAGE_SUM_SQLITE(col, "usage_hours", "hour_ms"),                           \
      STORE_USAGE_SUM_PG(col, "usage_hours", "hour_ms"))                                           \
    X(ID##_DAYS, STORE_USAGE_SUM_SQLITE(daycol, "usage_days", "day_ms"),                           \
      STORE_USAGE_SUM_PG(daycol, "usage_days", "day_ms"))

/* Every statement the store runs after open, prepared once per connection:
 * X(ID, SQLite's text, PostgreSQL's text). A new store function is one row here and a thin
 * wrapper that checks its inputs and calls store_write or store_query (docs/store.md). Both
 * texts take the same parameters in the same order and give the same columns. */
#define STORE_STMT_TABLE(X)                                                                        \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE", "BEGIN")                                                     \
    X(BEGIN_READ, "BEGIN DEFERRED", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")             \
    X(COMMIT, "COMMIT", "COMMIT")                                                                  \
    X(ROLLBACK, "ROLLBACK", "ROLLBACK")                                                            \
    X(ADD_USER, "INSERT INTO users (name, tenant, role, spec) VALUES (?1, ?2, ?3, ?4)",            \
      "INSERT INTO users (name, tenant, role, spec) VALUES ($1, $2, $3, $4)")                      \
    X(UPDATE_USER, "UPDATE users SET tenant = ?2, role = ?3, spec = ?4 WHERE name = ?1",           \
      "UPDATE users SET tenant = $2, role = $3, spec = $4 WHERE name = $1")                        \
    X(ADD_TOKEN,                                                                                   \
      "INSERT INTO tokens (id, token_hash, user, node, created_ms, expires_ms)"                    \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",                                                          \
      "INSERT INTO tokens (id, token_hash, \"user\", node, created_ms, expires_ms)"                \
      " VALUES ($1, $2, $3, $4, $5, $6)")                                                          \
    X(DELETE_USER, "DELETE FROM users WHERE name = ?1", "DELETE FROM users WHERE name = $1")       \
    X(DELETE_TOKEN, "DELETE FROM tokens WHERE id = ?1", "DELETE FROM tokens WHERE id = $1")        \
    X(DELETE_USER_TOKENS, "DELETE FROM tokens WHERE user = ?1",                                    \
      "DELETE FROM tokens WHERE \"user\" = $1")                                                    \
    X(FIND_TOKEN,                                                                                  \
      "SELECT id, token_hash, user, node, created_ms, expires_ms, used_ms FROM tokens"             \
      " WHERE id = ?1",                                                                            \
      "SELECT id, token_hash, \"user\", node, created_ms, expires_ms, used_ms FROM tokens"         \
      " WHERE id = $1")                                                                            \
    X(LOAD_TOKENS,                                                                                 \
      "SELECT id, token_hash, user, node, created_ms, expires_ms, used_ms FROM tokens"             \
      " ORDER BY created_ms, id",                                                                  \
      "SELECT id, token_hash, \"user\", node, created_ms, expires_ms, used_ms FROM tokens"         \
      " ORDER BY created_ms, id")                                                                  \
    X(TOKEN_USED,                                                                                  \
      "UPDATE tokens SET used_ms = ?2 WHERE id = ?1 AND (used_ms IS NULL OR used_ms < ?2)",        \
      "UPDATE tokens SET used_ms = $2 WHERE id = $1 AND (used_ms IS NULL OR used_ms < $2)")        \
    X(FIND_USER,                                                                                   \
      "SELECT tenant, role, CASE json_type(spec, '$.workspace') WHEN 'text'"                       \
      " THEN json_extract(spec, '$.workspace') END FROM users WHERE name = ?1",                    \
      "SELECT tenant, role, CASE WHEN json_typeof(spec::json -> 'workspace') = 'string'"           \
      " THEN spec::json ->> 'workspace' END FROM users WHERE name = $1")                           \
    X(APPEND_JOURNAL, "INSERT INTO journal (t_ms, op) VALUES (?1, ?2)",                            \
      "WITH next AS (UPDATE counters SET last = last + 1 WHERE name = 'journal' RETURNING last)"   \
      " INSERT INTO journal (seq, t_ms, op) SELECT last, $1::bigint, $2::json FROM next")          \
    X(TRIM_JOURNAL, "DELETE FROM journal WHERE seq <= ?1", "DELETE FROM journal WHERE seq <= $1")  \
    X(LOAD_JOURNAL, "SELECT seq, t_ms, op FROM journal WHERE seq > ?1 ORDER BY seq",               \
      "SELECT seq, t_ms, op FROM journal WHERE seq > $1 ORDER BY seq")                             \
    X(JOURNAL_BOUNDS,                                                                              \
      "SELECT coalesce(min(seq), 0), coalesce((SELECT seq FROM sqlite_sequence"                    \
      " WHERE name = 'journal'), 0) FROM journal",                                                 \
      "SELECT coalesce(min(seq), 0), (SELECT last FROM counters WHERE name = 'journal')"           \
      " FROM journal")                                                                             \
    X(SNAPSHOT_ADD,                                                                                \
      "INSERT OR IGNORE INTO snapshots (seq, t_ms, engine, controller) VALUES"                     \
      " (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0), ?1, ?2, ?3)",      \
      "INSERT INTO snapshots (seq, t_ms, engine, controller) SELECT last, $1::bigint,"             \
      " $2::bytea, $3::json FROM counters WHERE name = 'journal' ON CONFLICT (seq) DO NOTHING")    \
    X(SNAPSHOT_PRUNE,                                                                              \
      "DELETE FROM snapshots WHERE seq < (SELECT min(seq) FROM (SELECT seq"                        \
      " FROM snapshots ORDER BY seq DESC LIMIT ?1))",                                              \
      "DELETE FROM snapshots WHERE seq < (SELECT min(seq) FROM (SELECT seq"                        \
      " FROM snapshots ORDER BY seq DESC LIMIT $1) AS newest)")                                    \
    X(SNAPSHOT_SPAN, "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM snapshots",         \
      "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM snapshots")                        \
    X(SNAPSHOT_READ,                                                                               \
      "SELECT seq, t_ms, engine, controller FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET ?1",   \
      "SELECT seq, t_ms, engine, controller FROM snapshots ORDER BY seq DESC LIMIT 1 OFFSET $1")   \
    X(HISTORY_ADD,                                                                                 \
      "INSERT INTO history (name, tenant, workspace, state, ended_ms,"                             \
      " idempotency_key, view) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",                               \
      "INSERT INTO history (name, tenant, workspace, state, ended_ms,"                             \
      " idempotency_key, view) VALUES ($1, $2, $3, $4, $5, $6, $7)")                               \
    X(HISTORY_FIND, "SELECT view FROM history WHERE name = ?1 ORDER BY id DESC LIMIT 1",           \
      "SELECT view FROM history WHERE name = $1 ORDER BY id DESC LIMIT 1")                         \
    X(HISTORY_FIND_KEY,                                                                            \
      "SELECT view FROM history WHERE workspace = ?1 AND idempotency_key = ?2"                     \
      " ORDER BY id DESC LIMIT 1",                                                                 \
      "SELECT view FROM history WHERE workspace = $1 AND idempotency_key = $2"                     \
      " ORDER BY id DESC LIMIT 1")                                                                 \
    X(HISTORY_LIST,                                                                                \
      "SELECT id, tenant, workspace, view FROM history WHERE id > ?1"                              \
      " AND (?2 IS NULL OR tenant = ?2) AND (?3 IS NULL OR workspace = ?3)"                        \
      " ORDER BY id LIMIT ?4",                                                                     \
      "SELECT id, tenant, workspace, view FROM history WHERE id > $1"                              \
      " AND ($2::text IS NULL OR tenant = $2::text)"                                               \
      " AND ($3::text IS NULL OR workspace = $3::text) ORDER BY id LIMIT $4")                      \
    X(HISTORY_TRIM_LOGS,                                                                           \
      "DELETE FROM logs WHERE workload IN (SELECT name FROM history"                               \
      " GROUP BY name HAVING max(ended_ms) < ?1)",                                                 \
      "DELETE FROM logs WHERE workload IN (SELECT name FROM history"                               \
      " GROUP BY name HAVING max(ended_ms) < $1)")                                                 \
    X(HISTORY_TRIM_ATTEMPTS,                                                                       \
      "DELETE FROM log_attempts WHERE workload IN (SELECT name FROM history"                       \
      " GROUP BY name HAVING max(ended_ms) < ?1)",                                                 \
      "DELETE FROM log_attempts WHERE workload IN (SELECT name FROM history"                       \
      " GROUP BY name HAVING max(ended_ms) < $1)")                                                 \
    X(HISTORY_TRIM, "DELETE FROM history WHERE ended_ms < ?1",                                     \
      "DELETE FROM history WHERE ended_ms < $1")                                                   \
    X(HISTORY_COUNT, "SELECT count(*) FROM history", "SELECT count(*) FROM history")               \
    X(APPEND_EVENT, "INSERT INTO events (t_ms, tenant, kind, json) VALUES (?1, ?2, ?3, ?4)",       \
      "WITH next AS (UPDATE counters SET last = last + 1 WHERE name = 'events' RETURNING last)"    \
      " INSERT INTO events (seq, t_ms, tenant, kind, json)"                                        \
      " SELECT last, $1::bigint, $2::text, $3::text, $4::json FROM next RETURNING seq")            \
    X(TRIM_EVENTS,                                                                                 \
      "DELETE FROM events WHERE seq < (SELECT seq FROM events"                                     \
      " ORDER BY seq DESC LIMIT 1 OFFSET ?1 - 1)",                                                 \
      "DELETE FROM events WHERE seq < (SELECT seq FROM events"                                     \
      " ORDER BY seq DESC LIMIT 1 OFFSET $1::bigint - 1)")                                         \
    X(CLEAR_EVENTS, "DELETE FROM events", "DELETE FROM events")                                    \
    X(TRIM_EVENTS_BEFORE,                                                                          \
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE t_ms < ?1"                    \
      " ORDER BY t_ms LIMIT ?2)",                                                                  \
      "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE t_ms < $1"                    \
      " ORDER BY t_ms LIMIT $2)")                                                                  \
    X(FIRST_EVENT,                                                                                 \
      "SELECT coalesce(min(seq), 0), coalesce((SELECT t_ms FROM events ORDER BY seq LIMIT 1), 0)"  \
      " FROM events",                                                                              \
      "SELECT coalesce(min(seq), 0), coalesce((SELECT t_ms FROM events ORDER BY seq LIMIT 1), 0)"  \
      " FROM events")                                                                              \
    X(READ_EVENTS,                                                                                 \
      "SELECT seq, t_ms, tenant, kind, json FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",     \
      "SELECT seq, t_ms, tenant, kind, json FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")     \
    X(LAST_EVENT, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",   \
      "SELECT last FROM counters WHERE name = 'events'")                                           \
    X(LOG_END,                                                                                     \
      "SELECT off + length(data) FROM logs WHERE workload = ?1 AND rank = ?2"                      \
      " AND attempt = ?3 AND stream = ?4 ORDER BY off DESC LIMIT 1",                               \
      "SELECT off + length(data) FROM logs WHERE workload = $1 AND rank = $2"                      \
      " AND attempt = $3 AND stream = $4 ORDER BY off DESC LIMIT 1")                               \
    X(LOG_APPEND,                                                                                  \
      "INSERT INTO logs (workload, rank, attempt, stream, off, data)"                              \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",                                                          \
      "INSERT INTO logs (workload, rank, attempt, stream, off, data)"                              \
      " VALUES ($1, $2, $3, $4, $5, $6)")                                                          \
    X(LOG_READ,                                                                                    \
      "SELECT off, data FROM logs WHERE workload = ?1 AND rank = ?2 AND attempt = ?3"              \
      " AND stream = ?4 AND off > ?5 ORDER BY off",                                                \
      "SELECT off, data FROM logs WHERE workload = $1 AND rank = $2 AND attempt = $3"              \
      " AND stream = $4 AND off > $5 ORDER BY off")                                                \
    X(LOG_ATTEMPT_ADD,                                                                             \
      "INSERT INTO log_attempts (workload, attempt, workspace, first_ms, last_ms, bytes)"          \
      " VALUES (?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT (workload, attempt) DO UPDATE"                 \
      " SET last_ms = max(last_ms, excluded.last_ms), bytes = bytes + excluded.bytes",             \
      "INSERT INTO log_attempts (workload, attempt, workspace, first_ms, last_ms, bytes)"          \
      " VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (workload, attempt) DO UPDATE"                 \
      " SET last_ms = greatest(log_attempts.last_ms, excluded.last_ms),"                           \
      " bytes = log_attempts.bytes + excluded.bytes")                                              \
    X(LOG_TRIMMED, "SELECT trimmed FROM log_attempts WHERE workload = ?1 AND attempt = ?2",        \
      "SELECT trimmed FROM log_attempts WHERE workload = $1 AND attempt = $2")                     \
    X(OUTPUT_OVER,                                                                                 \
      "SELECT workspace, bytes FROM log_totals WHERE bytes > ?1 ORDER BY workspace LIMIT ?2",      \
      "SELECT workspace, bytes FROM log_totals WHERE bytes > $1 ORDER BY workspace LIMIT $2")      \
    X(OUTPUT_OLDEST,                                                                               \
      "SELECT workload, attempt, bytes FROM log_attempts WHERE workspace = ?1 AND bytes > 0"       \
      " ORDER BY first_ms, workload, attempt LIMIT ?2",                                            \
      "SELECT workload, attempt, bytes FROM log_attempts WHERE workspace = $1 AND bytes > 0"       \
      " ORDER BY first_ms, workload, attempt LIMIT $2")                                            \
    X(OUTPUT_AGED,                                                                                 \
      "SELECT workload, attempt, bytes FROM log_attempts WHERE last_ms < ?1 AND bytes > 0"         \
      " ORDER BY last_ms LIMIT ?2",                                                                \
      "SELECT workload, attempt, bytes FROM log_attempts WHERE last_ms < $1 AND bytes > 0"         \
      " ORDER BY last_ms LIMIT $2")                                                                \
    X(OUTPUT_DROP_LOGS, "DELETE FROM logs WHERE workload = ?1 AND attempt = ?2",                   \
      "DELETE FROM logs WHERE workload = $1 AND attempt = $2")                                     \
    X(OUTPUT_DROP_ATTEMPT,                                                                         \
      "UPDATE log_attempts SET trimmed = trimmed + bytes, bytes = 0"                               \
      " WHERE workload = ?1 AND attempt = ?2",                                                     \
      "UPDATE log_attempts SET trimmed = trimmed + bytes, bytes = 0"                               \
      " WHERE workload = $1 AND attempt = $2")                                                     \
    X(OUTPUT_TOTALS, "SELECT workspace, bytes FROM log_totals WHERE bytes > 0 ORDER BY workspace", \
      "SELECT workspace, bytes FROM log_totals WHERE bytes > 0 ORDER BY workspace")                \
    X(USAGE_ATTEMPT_ADD,                                                                           \
      "INSERT INTO usage_attempts (workload, attempt, tenant, workspace, submitter, start_ms,"     \
      " end_ms, gpu_units, borrowed_units, ending, lost, reclaim_ms)"                              \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",                               \
      "INSERT INTO usage_attempts (workload, attempt, tenant, workspace, submitter, start_ms,"     \
      " end_ms, gpu_units, borrowed_units, ending, lost, reclaim_ms)"                              \
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")                               \
    X(USAGE_HOUR_ADD,                                                                              \
      "INSERT INTO usage_hours (hour_ms, tenant, workspace, submitter, model, mig, class, "        \
      "unit_ms)"                                                                                   \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (hour_ms, tenant, workspace,"          \
      " submitter, model, mig, class) DO UPDATE SET unit_ms = unit_ms + excluded.unit_ms",         \
      "INSERT INTO usage_hours (hour_ms, tenant, workspace, submitter, model, mig, class, "        \
      "unit_ms)"                                                                                   \
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hour_ms, tenant, workspace,"          \
      " submitter, model, mig, class) DO UPDATE SET unit_ms = usage_hours.unit_ms"                 \
      " + excluded.unit_ms")                                                                       \
    STORE_USAGE_SUMS(X, USAGE_SUM_TENANT, "tenant", "tenant")                                      \
    STORE_USAGE_SUMS(X, USAGE_SUM_WORKSPACE, "workspace", "workspace")                             \
    STORE_USAGE_SUMS(X, USAGE_SUM_SUBMITTER, "submitter", "submitter")                             \
    STORE_USAGE_SUMS(X, USAGE_SUM_MODEL, "model", "model")                                         \
    STORE_USAGE_SUMS(X, USAGE_SUM_MIG, "mig", "mig")                                               \
    STORE_USAGE_SUMS(X, USAGE_SUM_DAY, "hour_ms - hour_ms % 86400000", "day_ms")                   \
    X(USAGE_DAY_ADD,                                                                               \
      "INSERT INTO usage_days (day_ms, tenant, workspace, submitter, model, mig, class, unit_ms)"  \
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (day_ms, tenant, workspace,"           \
      " submitter, model, mig, class) DO UPDATE SET unit_ms = unit_ms + excluded.unit_ms",         \
      "INSERT INTO usage_days (day_ms, tenant, workspace, submitter, model, mig, class, unit_ms)"  \
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (day_ms, tenant, workspace,"           \
      " submitter, model, mig, class) DO UPDATE SET unit_ms = usage_days.unit_ms"                  \
      " + excluded.unit_ms")                                                                       \
    X(USAGE_ATTEMPTS_READ,                                                                         \
      "SELECT workload, attempt, tenant, workspace, submitter, start_ms, end_ms, gpu_units,"       \
      " borrowed_units, ending, lost, reclaim_ms FROM usage_attempts WHERE end_ms > ?1"            \
      " AND start_ms < ?2 AND (?3 IS NULL OR tenant = ?3) AND (?4 IS NULL OR workspace = ?4)"      \
      " ORDER BY id LIMIT ?5",                                                                     \
      "SELECT workload, attempt, tenant, workspace, submitter, start_ms, end_ms, gpu_units,"       \
      " borrowed_units, ending, lost, reclaim_ms FROM usage_attempts WHERE end_ms > $1"            \
      " AND start_ms < $2"                                                                         \
      " AND ($3::text IS NULL OR tenant = $3::text) AND ($4::text IS NULL OR workspace = "         \
      "$4::text)"                                                                                  \
      " ORDER BY id LIMIT $5")                                                                     \
    X(USAGE_RECLAIMS,                                                                              \
      "SELECT workload, attempt, tenant, workspace, submitter, start_ms, end_ms, gpu_units,"       \
      " borrowed_units, ending, lost, reclaim_ms FROM usage_attempts WHERE reclaim_ms IS NOT NULL" \
      " AND start_ms >= ?1 AND start_ms < ?2 AND (?3 IS NULL OR tenant = ?3)"                      \
      " AND (?4 IS NULL OR workspace = ?4) ORDER BY start_ms DESC LIMIT ?5",                       \
      "SELECT workload, attempt, tenant, workspace, submitter, start_ms, end_ms, gpu_units,"       \
      " borrowed_units, ending, lost, reclaim_ms FROM usage_attempts WHERE reclaim_ms IS NOT NULL" \
      " AND start_ms >= $1 AND start_ms < $2 AND ($3::text IS NULL OR tenant = $3::text)"          \
      " AND ($4::text IS NULL OR workspace = $4::text) ORDER BY start_ms DESC LIMIT $5")           \
    X(USAGE_TOTAL_ADD,                                                                             \
      "INSERT INTO usage_totals (tenant, workspace, class, unit_ms) VALUES (?1, ?2, ?3, ?4)"       \
      " ON CONFLICT (tenant, workspace, class) DO UPDATE SET unit_ms = unit_ms + "                 \
      "excluded.unit_ms",                                                                          \
      "INSERT INTO usage_totals (tenant, workspace, class, unit_ms) VALUES ($1, $2, $3, $4)"       \
      " ON CONFLICT (tenant, workspace, class) DO UPDATE SET unit_ms = usage_totals.unit_ms"       \
      " + excluded.unit_ms")                                                                       \
    X(USAGE_TOTALS,                                                                                \
      "SELECT tenant, workspace, class, unit_ms FROM usage_totals"                                 \
      " ORDER BY tenant, workspace, class",                                                        \
      "SELECT tenant, workspace, class, unit_ms FROM usage_totals"                                 \
      " ORDER BY tenant, workspace, class")                                                        \
    X(USAGE_TRIM_HOURS, "DELETE FROM usage_hours WHERE hour_ms < ?1",                              \
      "DELETE FROM usage_hours WHERE hour_ms < $1")                                                \
    X(USAGE_TRIM_DAYS, "DELETE FROM usage_days WHERE day_ms < ?1",                                 \
      "DELETE FROM usage_days WHERE day_ms < $1")                                                  \
    X(USAGE_TRIM_ATTEMPTS, "DELETE FROM usage_attempts WHERE end_ms < ?1",                         \
      "DELETE FROM usage_attempts WHERE end_ms < $1")                                              \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1", "SELECT value FROM meta WHERE key = $1")  \
    X(META_SET,                                                                                    \
      "INSERT INTO meta (key, value) VALUES (?1, ?2)"                                              \
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value",                                   \
      "INSERT INTO meta (key, value) VALUES ($1, $2)"                                              \
      " ON CONFLICT (key) DO UPDATE SET value = excluded.value")                                   \
    X(LEADER_BUMP, "UPDATE leader SET epoch = epoch + 1, url = ?1, since_ms = ?2",                 \
      "UPDATE leader SET epoch = epoch + 1, url = $1, since_ms = $2")                              \
    X(LEADER_READ, "SELECT epoch, url, since_ms FROM leader",                                      \
      "SELECT epoch, url, since_ms FROM leader")                                                   \
    X(FENCE, "SELECT epoch FROM leader WHERE epoch = ?1",                                          \
      "SELECT epoch FROM leader WHERE epoch = $1 FOR SHARE")                                       \
    X(LOAD_USERS, "SELECT name, tenant, role, spec FROM users ORDER BY rowid",                     \
      "SELECT name, tenant, role, spec FROM users ORDER BY seq")

enum store_stmt {
#define STORE_STMT_ENUM(id, sqlite, postgres) STORE_STMT_##id,
    STORE_STMT_TABLE(STORE_STMT_ENUM)
#undef STORE_STMT_ENUM
        STORE_STMT_COUNT
};

/* The transaction statements come first; the rest read or change rows. */
#define STORE_STMT_IS_CONTROL(id) ((id) <= STORE_STMT_ROLLBACK)

/* The text of each statement in each dialect, indexed by enum store_stmt. */
extern const char *const store_stmt_sqlite[STORE_STMT_COUNT];
extern const char *const store_stmt_postgres[STORE_STMT_COUNT];

/* One parameter of a statement. Text and blobs are borrowed for the call only. */
enum store_arg_kind { STORE_ARG_NULL, STORE_ARG_INT, STORE_ARG_TEXT, STORE_ARG_BLOB };
struct store_arg {
    enum store_arg_kind kind;
    int64_t i;
    const void *p; /* text (NUL-terminated after len bytes) or blob */
    size_t len;
};
#define STORE_ARGS_MAX 12 /* the most parameters of one statement */

/* Bytes of a location (a directory or a connection URI). */
#define STORE_DIR_MAX 4000

/* A parameter: an integer; a text of len bytes, NULL when absent (len 0); a text that is
 * stored even when empty; a blob of len bytes. */
struct store_arg store_int(int64_t v);
struct store_arg store_text(const char *s, size_t len);
struct store_arg store_string(const char *s, size_t len);
struct store_arg store_blob(const void *p, size_t len);

/* A result row during a store_query callback: read it through the store_row_* functions
 * only; what they return is valid until the callback returns. */
struct store_row {
    struct store *st;
    const void *cursor; /* the backend's statement or result */
    int index;          /* the row's index in the cursor, where the backend needs one */
};
bool store_row_null(const struct store_row *row, int col);
int64_t store_row_int(const struct store_row *row, int col);
/* A text column ("" when NULL); OUT *len (may be NULL): its bytes. */
const char *store_row_text(const struct store_row *row, int col, size_t *len);
/* A text column, NULL when NULL. */
const char *store_row_text_or_null(const struct store_row *row, int col);
const void *store_row_blob(const struct store_row *row, int col, size_t *len);

/* Called for each row of a query; a nonzero return stops the query and is returned by it.
 * STORE_STOP stops it without an error (store_query returns 0). */
typedef int (*store_row_fn)(void *ctx, const struct store_row *row);
#define STORE_STOP INT32_MAX /* a value no caller of the store returns from its callbacks */

/* What a write did: rows changed (triggers excluded) and, for an insert into a table with a
 * sequence, the new row's sequence number. */
struct store_change {
    int64_t rows;
    int64_t seq;
};

/* One backend (dialect): every function returns 0 or a negative -ALLOT_* code and leaves a
 * message in st->errmsg on failure.
 * open: connects to location (what follows "sqlite:", or the whole URI), creates or migrates
 * the schema, prepares every statement; sets st->conn. close: frees st->conn, rolling back an
 * open transaction; accepts a store whose open failed half-way.
 * write: runs a statement that changes rows or controls a transaction. Outside a batch a
 * change is its own transaction, durable when write returns 0; inside a batch a failed
 * change leaves the batch's earlier changes as they were (or sets st->batch_broken when the
 * backend lost the transaction).
 * query: calls fn for each row. in_transaction: whether the connection is inside one.
 * row_*: the row accessors behind store_row_*. */
struct store_backend {
    const char *name;
    int (*open)(struct store *st, const char *location);
    void (*close)(struct store *st);
    int (*write)(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                 struct store_change *out);
    int (*query)(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                 store_row_fn fn, void *ctx);
    bool (*in_transaction)(const struct store *st);
    bool (*row_null)(const struct store_row *row, int col);
    int64_t (*row_int)(const struct store_row *row, int col);
    const void *(*row_bytes)(const struct store_row *row, int col, size_t *len);
    /* Optional (NULL: the backend owns its data from open on, as SQLite's lock file does).
     * lead: makes a store opened as a standby the owner of the database (its lock, the schema,
     * the statements); -ALLOT_ESTATE while another holds it. peek_leader: the leader's row and
     * whether a store holds the lock now, read without the statements (a standby has none). */
    int (*lead)(struct store *st);
    int (*peek_leader)(struct store *st, struct store_leader *out);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_postgres_backend;

struct store {
    const struct store_backend *backend;
    void *conn; /* the backend's own state */
    int schema_version;
    bool in_batch;
    bool batch_broken; /* the backend abandoned the batch's transaction; only rollback helps */
    bool standby;      /* opened by store_open_standby and not leading yet */
    bool alone;        /* the batch holds one write (store_write_alone): nothing to gain from
                        * deferring its answer, and its own error code to keep */
    int64_t epoch;     /* the leader's epoch this store holds (0: not leading) */
    bool fenced;       /* it held one and lost it: it never writes again */
    char fence_why[160];
    struct store_stats stats;
    char errmsg[STORE_ERRMSG_MAX];
};

/* Sets st's message (store_errmsg), printf-style. */
void store_set_errmsg(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks one bounded string input: 1..max bytes, or NULL/"" when optional. OUT *len: its
 * length (0 when absent). RET 0 or -ALLOT_EINVAL with a message naming field. */
int store_check_text(struct store *st, const char *field, const char *s, size_t max, bool optional,
                     size_t *len);
/* store_check_text for a required name (STORE_NAME_MAX) or spec (STORE_SPEC_MAX). */
int store_check_name(struct store *st, const char *field, const char *s, size_t *len);
int store_check_spec(struct store *st, const char *field, const char *s, size_t *len);
/* The store has lost its leadership (why: one line, kept from the first call): it is fenced
 * for good; sets the message every refusal gives. */
void store_fence_lost(struct store *st, const char *why);

/* Refuses writes (-ALLOT_EIO) once the backend has abandoned the open batch. */
int store_check_writable(struct store *st);

/* Runs body(st, ctx) in one transaction: the open batch's, or its own, committed when body
 * returns 0 and rolled back otherwise. RET 0, body's error or the commit's. */
int store_atomic(struct store *st, int (*body)(struct store *st, void *ctx), void *ctx);

/* Runs write statement id with n parameters (store_check_writable first). Outside a batch
 * the statement is its own transaction, durable when this returns 0.
 * OUT *out (may be NULL): what it changed. */
int store_write(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                struct store_change *out);
/* store_write for a leading store outside a batch: the statement in a batch of its own, so
 * that its commit checks the epoch. */
int store_write_alone(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                      struct store_change *out);
/* Runs query id with n parameters, calling fn for each row (see store_row_fn). */
int store_query(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                store_row_fn fn, void *ctx);
/* store_query for a query of at most one row. RET -ALLOT_ENOENT when it gave none. */
int store_query_one(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                    store_row_fn fn, void *ctx);
/* Runs a query without parameters that always gives one integer. RET 0 and *out, or a
 * negative error (-ALLOT_EIO when it gave no row). */
int store_query_int(struct store *st, enum store_stmt which, int64_t *out);
/* The same for a row of n integers into out[0..n). */
int store_query_ints(struct store *st, enum store_stmt which, int64_t *out, int n);
/* Copies text column col (NULL read as "") into buf of len bytes; buf may be NULL when the
 * value is not wanted. RET 0; -ALLOT_ERANGE when it does not fit. */
int store_copy_text(struct store *st, const struct store_row *row, int col, const char *what,
                    char *buf, size_t len);

/* Opens the read transaction in which a load sees one consistent state. RET 0;
 * -ALLOT_ESTATE inside a batch (who names the caller in the message); -ALLOT_EIO. */
int store_read_begin(struct store *st, const char *who);
/* Ends it: a read transaction writes nothing, so rollback and commit are the same. */
void store_read_end(struct store *st);

/* Brings a database of schema version `version` (where names it in messages) up to
 * STORE_SCHEMA_VERSION with migrate_one(st, v) for each missing version v, oldest first,
 * and sets st->schema_version. RET 0; -ALLOT_ECONFIG (a newer or invalid version, refused
 * without a change); migrate_one's error. */
int store_apply_migrations(struct store *st, const char *where, int64_t version,
                           int (*migrate_one)(struct store *st, int version));

/* SQLite's schema: checks that the open file (at path, for messages) is an Allot store this
 * code understands, then applies its missing migrations, one transaction each, and sets
 * st->schema_version. RET 0; -ALLOT_ECONFIG (not an Allot store, or a newer schema);
 * -ALLOT_EIO or -ALLOT_ENOMEM (a migration failed; the file keeps its version). */
int store_migrate(struct store *st, const char *path);

#endif
