/* The controller's durable state in SQLite: schema migrations, cached statements, group
 * commit, and the load that rebuilds the daemon's model at start. Design in docs/store.md. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/error.h"

/* 0x416c6c74, "Allt": marks the file as an Allot store (PRAGMA application_id). */
#define STORE_APPLICATION_ID 1097624692
/* WAL frames (pages) after which a commit runs a passive checkpoint (SQLite's default). */
#define STORE_CHECKPOINT_FRAMES 1000
/* The WAL is truncated back to this size (64 MiB) after a checkpoint; a PRAGMA literal. */
#define STORE_WAL_SIZE_LIMIT "67108864"
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DIR_MAX 4000
/* UPSERT (3.24); the JSON functions of the CHECK constraints must be built in. */
#define STORE_SQLITE_MIN 3024000

/* Migrations, oldest first: migration i brings user_version from i to i + 1, in one
 * transaction. Never edit a released entry; append a new one (docs/store.md). A spec column
 * holds one JSON object; the CASE keeps json_type from ever seeing invalid text. */
static const char *const store_migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE tenants ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT tenants_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE TABLE clusters ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT clusters_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE TABLE nodes ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT,"
    "  spec TEXT NOT NULL CONSTRAINT nodes_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX nodes_tenant ON nodes (tenant);"
    "CREATE TABLE workspaces ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT workspaces_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX workspaces_tenant ON workspaces (tenant);"
    "CREATE TABLE workloads ("
    "  id INTEGER PRIMARY KEY CONSTRAINT workloads_id CHECK (id >= 1),"
    "  name TEXT NOT NULL UNIQUE,"
    "  workspace TEXT NOT NULL,"
    "  tenant TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT workloads_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END),"
    "  submitted_ms INTEGER NOT NULL,"
    "  idempotency_key TEXT,"
    "  UNIQUE (workspace, idempotency_key));"
    "CREATE INDEX workloads_tenant_state ON workloads (tenant, state);"
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  tenant TEXT,"
    "  role TEXT NOT NULL,"
    "  spec TEXT NOT NULL CONSTRAINT users_spec"
    "    CHECK (CASE WHEN json_valid(spec) THEN json_type(spec) = 'object' ELSE 0 END));"
    "CREATE INDEX users_tenant ON users (tenant);"
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  token_hash BLOB NOT NULL CONSTRAINT tokens_hash"
    "    CHECK (typeof(token_hash) = 'blob' AND length(token_hash) = 32),"
    "  user TEXT,"
    "  node TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER,"
    "  CONSTRAINT tokens_holder CHECK (user IS NOT NULL OR node IS NOT NULL));"
    "CREATE INDEX tokens_user ON tokens (user);"
    "CREATE INDEX tokens_node ON tokens (node);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  t_ms INTEGER NOT NULL,"
    "  tenant TEXT,"
    "  kind TEXT NOT NULL,"
    "  json TEXT NOT NULL CONSTRAINT events_json CHECK (json_valid(json)));"
    "CREATE TABLE journal ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  t_ms INTEGER NOT NULL,"
    "  op TEXT NOT NULL CONSTRAINT journal_op CHECK (json_valid(op)));"
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL);"
    /* a token must not outlive the user or node it acts for */
    "CREATE TRIGGER users_delete_tokens AFTER DELETE ON users BEGIN"
    "  DELETE FROM tokens WHERE user = old.name;"
    "END;"
    "CREATE TRIGGER nodes_delete_tokens AFTER DELETE ON nodes BEGIN"
    "  DELETE FROM tokens WHERE node = old.name;"
    "END;"
    /* workload ids are never reused, even after the highest one is deleted */
    "CREATE TRIGGER workloads_id_high AFTER DELETE ON workloads BEGIN"
    "  INSERT OR REPLACE INTO meta (key, value) VALUES ('store.workload_id_high',"
    "    max(old.id, coalesce((SELECT CAST(value AS INTEGER) FROM meta"
    "                          WHERE key = 'store.workload_id_high'), 0)));"
    "END;",
    /* 2: workloads' output as their agents shipped it, in chunks at byte offsets */
    "CREATE TABLE logs ("
    "  workload TEXT NOT NULL,"
    "  rank INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  off INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (workload, rank, attempt, stream, off)) WITHOUT ROWID;",
    /* 3: the object tables go. No daemon ever wrote them (it rebuilds its state from the
     * journal), and snapshots will be journal compactions, not copies of the model
     * (docs/store.md, "Snapshots"). A table's indexes and triggers go with it. */
    "DROP TABLE tenants;"
    "DROP TABLE clusters;"
    "DROP TABLE nodes;"
    "DROP TABLE workspaces;"
    "DROP TABLE workloads;"
    "DELETE FROM meta WHERE key = 'store.workload_id_high';",
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must count the migrations");

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
    X(LOAD_JOURNAL, "SELECT seq, t_ms, op FROM journal ORDER BY seq")                              \
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

static const char *const store_stmt_sql[STORE_STMT_COUNT] = {
#define STORE_STMT_SQL(id, sql) [STORE_STMT_##id] = sql,
    STORE_STMT_TABLE(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

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

static void store_set_errmsg(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

/* Maps a failed SQLite call to an Allot code and keeps SQLite's message. Notes when SQLite
 * rolled back an open batch on its own (I/O error, disk full, out of memory). */
static int store_sqlite_error(struct store *st, int rc)
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
static int store_check_text(struct store *st, const char *field, const char *s, size_t max,
                            bool optional, size_t *len)
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

static int store_check_name(struct store *st, const char *field, const char *s, size_t *len)
{
    return store_check_text(st, field, s, STORE_NAME_MAX, false, len);
}

static int store_check_spec(struct store *st, const char *field, const char *s, size_t *len)
{
    return store_check_text(st, field, s, STORE_SPEC_MAX, false, len);
}

/* Binds s (len bytes, or NULL when len is 0 and s absent) as text parameter i. The text is
 * bound SQLITE_STATIC: valid because every statement is stepped and reset before the
 * function that bound it returns. */
static int store_bind_text(struct store *st, sqlite3_stmt *stmt, int i, const char *s, size_t len)
{
    int rc = (s && len) ? sqlite3_bind_text(stmt, i, s, (int)len, SQLITE_STATIC)
                        : sqlite3_bind_null(stmt, i);
    return rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
}

static int store_bind_int(struct store *st, sqlite3_stmt *stmt, int i, int64_t v)
{
    int rc = sqlite3_bind_int64(stmt, i, v);
    return rc == SQLITE_OK ? 0 : store_sqlite_error(st, rc);
}

static void store_reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Refuses writes once SQLite has abandoned the open batch. */
static int store_check_writable(struct store *st)
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
static int store_run_write(struct store *st, sqlite3_stmt *stmt, int64_t *changes)
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
static int store_run_plain(struct store *st, enum store_stmt id)
{
    return store_run_write(st, st->stmt[id], NULL);
}

/* Called by SQLite after every commit to the WAL, so `commits` counts transactions that
 * really reached the log. Replaces SQLite's default hook, so it also checkpoints. */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store *st = arg;
    st->stats.commits++;
    if (frames >= STORE_CHECKPOINT_FRAMES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

/* Fsyncs directory path so that a file just created in it survives a power loss. */
static int store_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ALLOT_EIO;
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? 0 : -ALLOT_EIO;
}

/* Creates dir (0700) if missing; an existing dir must be a directory. */
static int store_make_dir(struct store *st, const char *dir)
{
    if (mkdir(dir, 0700) == 0) {
        char parent[STORE_DIR_MAX + 8];
        snprintf(parent, sizeof(parent), "%s/..", dir);
        if (store_sync_dir(parent) < 0) {
            store_set_errmsg(st, "%s: cannot sync the parent directory: %s", dir, strerror(errno));
            return -ALLOT_EIO;
        }
        return 0;
    }
    if (errno != EEXIST) {
        store_set_errmsg(st, "%s: cannot create the data directory: %s", dir, strerror(errno));
        return -ALLOT_EIO;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        store_set_errmsg(st, "%s: exists and is not a directory", dir);
        return -ALLOT_EIO;
    }
    return 0;
}

/* Takes the exclusive lock on dir/allot.lock that makes one process the owner of the data.
 * The lock is released by the kernel when the process ends, however it ends. */
static int store_lock_dir(struct store *st, const char *dir)
{
    char path[STORE_DIR_MAX + sizeof(STORE_LOCK_FILE) + 2];
    snprintf(path, sizeof(path), "%s/%s", dir, STORE_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        store_set_errmsg(st, "%s: %s", path, strerror(errno));
        return -ALLOT_EIO;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int saved = errno;
        struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if ((saved == EACCES || saved == EAGAIN) && fcntl(fd, F_GETLK, &who) == 0 &&
            who.l_type != F_UNLCK)
            store_set_errmsg(st, "%s: the data directory is in use by process %ld", dir,
                             (long)who.l_pid);
        else
            store_set_errmsg(st, "%s: cannot lock: %s", path, strerror(saved));
        close(fd);
        return (saved == EACCES || saved == EAGAIN) ? -ALLOT_ESTATE : -ALLOT_EIO;
    }
    /* the owner's pid, for people reading the file; the lock is what counts */
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        store_set_errmsg(st, "%s: %s", path, strerror(errno));
        close(fd);
        return -ALLOT_EIO;
    }
    st->lock_fd = fd;
    return 0;
}

/* Creates the database file with mode 0600 before SQLite opens it: SQLite gives its WAL
 * and shared-memory files the database file's mode, so token hashes stay private. */
static int store_create_db_file(struct store *st, const char *dir, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        store_set_errmsg(st, "%s: %s", path, strerror(errno));
        return -ALLOT_EIO;
    }
    close(fd);
    if (store_sync_dir(dir) < 0) {
        store_set_errmsg(st, "%s: cannot sync: %s", dir, strerror(errno));
        return -ALLOT_EIO;
    }
    return 0;
}

/* Runs a PRAGMA that returns one integer or text row. OUT *out (may be NULL): the integer;
 * text (may be NULL) receives the text value when it fits. */
static int store_pragma(struct store *st, const char *sql, int64_t *out, char *text, size_t len)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return store_sqlite_error(st, rc);
    int err = 0;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (out)
            *out = sqlite3_column_int64(stmt, 0);
        if (text && len) {
            const char *t = (const char *)sqlite3_column_text(stmt, 0);
            snprintf(text, len, "%s", t ? t : "");
        }
    } else if (rc != SQLITE_DONE) {
        err = store_sqlite_error(st, rc);
    }
    sqlite3_finalize(stmt);
    return err;
}

/* Applies migration `version` (1-based) and sets user_version to it (and application_id),
 * in one transaction. */
static int store_migrate_one(struct store *st, int version)
{
    char *msg = NULL;
    char sql[128];
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, store_migrations[version - 1], NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d", version,
                 STORE_APPLICATION_ID);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    store_set_errmsg(st, "migration to schema version %d failed: %s", version,
                     msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_NOMEM ? -ALLOT_ENOMEM : -ALLOT_EIO;
}

/* Checks that the file is an Allot store this code understands, then migrates it. */
static int store_migrate(struct store *st, const char *path)
{
    int64_t app = 0, version = 0, objects = 0;
    int err = store_pragma(st, "PRAGMA application_id", &app, NULL, 0);
    if (!err)
        err = store_pragma(st, "PRAGMA user_version", &version, NULL, 0);
    if (!err)
        err = store_pragma(st, "SELECT count(*) FROM sqlite_master", &objects, NULL, 0);
    if (err)
        return err;
    bool fresh = app == 0 && version == 0 && objects == 0;
    if (!fresh && app != STORE_APPLICATION_ID) {
        store_set_errmsg(st, "%s: not an Allot store (application_id %" PRId64 ")", path, app);
        return -ALLOT_ECONFIG;
    }
    if (version > STORE_SCHEMA_VERSION) {
        store_set_errmsg(st,
                         "%s: schema version %" PRId64 " is newer than this allotd knows (%d);"
                         " run a newer allotd",
                         path, version, STORE_SCHEMA_VERSION);
        return -ALLOT_ECONFIG;
    }
    if (version < 0) {
        store_set_errmsg(st, "%s: invalid schema version %" PRId64, path, version);
        return -ALLOT_ECONFIG;
    }
    for (int v = (int)version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        err = store_migrate_one(st, v);
        if (err)
            return err;
    }
    st->schema_version = STORE_SCHEMA_VERSION;
    return 0;
}

/* Connection settings; see docs/store.md for why each one. */
static int store_configure(struct store *st, const char *path)
{
    char mode[16];
    sqlite3_extended_result_codes(st->db, 1);
    int rc = sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        return store_sqlite_error(st, rc);
    int err = store_pragma(st, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
    if (err)
        return err;
    if (strcmp(mode, "wal") != 0) {
        store_set_errmsg(st, "%s: the file system does not support WAL (journal mode %s)", path,
                         mode);
        return -ALLOT_EIO;
    }
    static const char *const settings[] = {
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = OFF",
        ("PRAGMA journal_size_limit = " STORE_WAL_SIZE_LIMIT),
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        char *msg = NULL;
        rc = sqlite3_exec(st->db, settings[i], NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            store_set_errmsg(st, "%s: %s", settings[i], msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            return -ALLOT_EIO;
        }
    }
    int64_t sync = -1;
    err = store_pragma(st, "PRAGMA synchronous", &sync, NULL, 0);
    if (!err && sync != 2) {
        store_set_errmsg(st, "%s: synchronous=FULL was not accepted", path);
        err = -ALLOT_EIO;
    }
    return err;
}

static int store_prepare_all(struct store *st)
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

int store_open(const char *dir, struct store **out, char *err, size_t len)
{
    struct store *st = NULL;
    int rc = 0;
    char path[STORE_DIR_MAX + sizeof(STORE_DB_FILE) + 2];
    if (out)
        *out = NULL;
    if (err && len)
        err[0] = '\0';
    if (!out || !dir || !*dir || strnlen(dir, STORE_DIR_MAX + 1) > STORE_DIR_MAX) {
        if (err && len)
            snprintf(err, len, "data directory: missing or longer than %d bytes", STORE_DIR_MAX);
        return -ALLOT_EINVAL;
    }
    if (sqlite3_libversion_number() < STORE_SQLITE_MIN) {
        if (err && len)
            snprintf(err, len, "SQLite %s is too old; 3.24 or newer is needed",
                     sqlite3_libversion());
        return -ALLOT_ECONFIG;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        if (err && len)
            snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    st->lock_fd = -1;
    snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_FILE);

    rc = store_make_dir(st, dir);
    if (!rc)
        rc = store_lock_dir(st, dir);
    if (!rc)
        rc = store_create_db_file(st, dir, path);
    if (rc)
        goto out;
    int src = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        store_set_errmsg(st, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        rc = src == SQLITE_NOMEM ? -ALLOT_ENOMEM : -ALLOT_EIO;
        goto out;
    }
    rc = store_configure(st, path);
    if (!rc)
        rc = store_migrate(st, path);
    if (!rc)
        rc = store_prepare_all(st);
    if (rc)
        goto out;
    /* installed last, so the counter starts at zero after the migrations */
    sqlite3_wal_hook(st->db, store_wal_hook, st);
    *out = st;
    return 0;

out:
    if (err && len)
        snprintf(err, len, "%s", st->errmsg);
    store_close(st);
    return rc;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->db) {
        if (!sqlite3_get_autocommit(st->db))
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        for (int i = 0; i < STORE_STMT_COUNT; i++)
            sqlite3_finalize(st->stmt[i]);
        sqlite3_close(st->db);
    }
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st);
}

const char *store_errmsg(const struct store *st)
{
    return st ? st->errmsg : "";
}

int store_schema_version(const struct store *st)
{
    return st->schema_version;
}

void store_stats(const struct store *st, struct store_stats *out)
{
    *out = st->stats;
}

bool store_in_batch(const struct store *st)
{
    return st->in_batch;
}

int store_batch_begin(struct store *st)
{
    if (st->in_batch) {
        store_set_errmsg(st, "a batch is already open");
        return -ALLOT_ESTATE;
    }
    int err = store_run_plain(st, STORE_STMT_BEGIN_WRITE);
    if (err)
        return err;
    st->in_batch = true;
    st->batch_broken = false;
    return 0;
}

int store_batch_commit(struct store *st)
{
    if (!st->in_batch) {
        store_set_errmsg(st, "no batch is open");
        return -ALLOT_ESTATE;
    }
    int err = store_check_writable(st);
    if (!err)
        err = store_run_plain(st, STORE_STMT_COMMIT);
    if (err) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        if (!sqlite3_get_autocommit(st->db))
            store_run_plain(st, STORE_STMT_ROLLBACK);
        store_set_errmsg(st, "batch not committed: %s", msg);
        err = err == -ALLOT_EFULL ? err : -ALLOT_EIO;
    } else {
        st->stats.batches++;
    }
    st->in_batch = false;
    st->batch_broken = false;
    return err;
}

int store_batch_rollback(struct store *st)
{
    int err = 0;
    if (!sqlite3_get_autocommit(st->db))
        err = store_run_plain(st, STORE_STMT_ROLLBACK);
    st->in_batch = false;
    st->batch_broken = false;
    return err ? -ALLOT_EIO : 0;
}

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
    size_t key_len;
    *changes = 0;
    int err = store_check_name(st, field, key, &key_len);
    if (!err)
        err = store_check_writable(st);
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[id];
    err = store_bind_text(st, stmt, 1, key, key_len);
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

int store_delete_token(struct store *st, const char *id)
{
    return store_delete_named(st, STORE_STMT_DELETE_TOKEN, "id", id);
}

/* Steps a bound query expected to give at most one row. RET 1 with a row (the caller reads
 * it, then resets), 0 without (reset done), negative on error (reset done). */
static int store_query_row(struct store *st, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        return 1;
    int err = rc == SQLITE_DONE ? 0 : store_sqlite_error(st, rc);
    store_reset(stmt);
    return err;
}

/* Runs a query without parameters that always gives one integer. RET 0 and *out, or a
 * negative error (-ALLOT_EIO when it gave no row). */
static int store_query_int(struct store *st, enum store_stmt which, int64_t *out)
{
    sqlite3_stmt *stmt = st->stmt[which];
    int row = store_query_row(st, stmt);
    if (row <= 0)
        return row < 0 ? row : -ALLOT_EIO;
    *out = sqlite3_column_int64(stmt, 0);
    store_reset(stmt);
    return 0;
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

/* Step statement id, bound to key (checked as a name called what), onto its one row.
 * RET 0 with the statement on the row (the caller reads it, then store_reset);
 * -ALLOT_ENOENT when there is none; another negative error. */
static int store_find_row(struct store *st, enum store_stmt id, const char *what, const char *key,
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
    int row = store_query_row(st, stmt);
    if (row < 0)
        return row;
    if (row == 0)
        return -ALLOT_ENOENT;
    *out = stmt;
    return 0;
}

int store_delete_user_tokens(struct store *st, const char *user, int64_t *deleted)
{
    int64_t changes;
    int err = store_delete_keyed(st, STORE_STMT_DELETE_USER_TOKENS, "user", user, &changes);
    if (!err && deleted)
        *deleted = changes;
    return err;
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

/* Copies text column col (NULL read as "") into buf of len bytes; buf may be NULL when len
 * is 0 and the value is not wanted. RET -ALLOT_ERANGE when it does not fit. */
static int store_copy_text(struct store *st, sqlite3_stmt *stmt, int col, char *buf, size_t len)
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

/* Opens the read transaction in which a load sees one consistent state. */
static int store_read_begin(struct store *st, const char *who)
{
    if (st->in_batch) {
        store_set_errmsg(st, "%s inside a batch", who);
        return -ALLOT_ESTATE;
    }
    return store_run_plain(st, STORE_STMT_BEGIN_READ);
}

/* Ends it: a read transaction writes nothing, so rollback and commit are the same. */
static void store_read_end(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        store_run_plain(st, STORE_STMT_ROLLBACK);
}

int store_journal_load(struct store *st,
                       int (*fn)(void *ctx, int64_t seq, int64_t t_ms, const char *op_json),
                       void *ctx)
{
    int err = store_read_begin(st, "store_journal_load");
    if (err)
        return err;
    sqlite3_stmt *stmt = st->stmt[STORE_STMT_LOAD_JOURNAL];
    int rc = SQLITE_DONE;
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
