/* The store's SQLite backend: the data directory and its lock, the database file, SQLite's
 * settings (WAL, synchronous=FULL), its prepared statements and how they are bound, run and
 * read, and SQLite's errors mapped to Allot's codes. Design in docs/store.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/error.h"
#include "store/sqlite.h"

/* WAL frames (pages) after which a commit runs a passive checkpoint (SQLite's default). */
#define STORE_CHECKPOINT_FRAMES 1000
/* The WAL is truncated back to this size (64 MiB) after a checkpoint; a PRAGMA literal. */
#define STORE_WAL_SIZE_LIMIT "67108864"
#define STORE_BUSY_TIMEOUT_MS 5000
/* UPSERT (3.24); the JSON functions of the CHECK constraints must be built in. */
#define STORE_SQLITE_MIN 3024000

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
    ((struct store_sqlite *)st->conn)->lock_fd = fd;
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

/* Connection settings; see docs/store.md for why each one. */
static int store_configure(struct store *st, const char *path)
{
    char mode[16];
    sqlite3_extended_result_codes(store_sqlite_db(st), 1);
    int rc = sqlite3_busy_timeout(store_sqlite_db(st), STORE_BUSY_TIMEOUT_MS);
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
        rc = sqlite3_exec(store_sqlite_db(st), settings[i], NULL, NULL, &msg);
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

sqlite3 *store_sqlite_db(const struct store *st)
{
    return ((const struct store_sqlite *)st->conn)->db;
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
    sqlite3 *db = store_sqlite_db(st);
    store_set_errmsg(st, "%s", sqlite3_errmsg(db));
    if (st->in_batch && sqlite3_get_autocommit(db))
        st->batch_broken = true;
    return err;
}

/* Prepares every statement of the table (persistent). RET 0 or a store_sqlite_error code. */
static int store_sqlite_prepare_all(struct store *st)
{
    struct store_sqlite *lite = st->conn;
    for (int i = 0; i < STORE_STMT_COUNT; i++) {
        int rc = sqlite3_prepare_v3(lite->db, store_stmt_sqlite[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &lite->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            int err = store_sqlite_error(st, rc);
            store_set_errmsg(st, "cannot prepare \"%.60s\": %s", store_stmt_sqlite[i],
                             sqlite3_errmsg(lite->db));
            return err;
        }
    }
    return 0;
}

/* Opens dir as the store's data directory (see store_open). */
static int store_sqlite_open(struct store *st, const char *dir)
{
    char path[STORE_DIR_MAX + sizeof(STORE_DB_FILE) + 2];
    if (sqlite3_libversion_number() < STORE_SQLITE_MIN) {
        store_set_errmsg(st, "SQLite %s is too old; 3.24 or newer is needed", sqlite3_libversion());
        return -ALLOT_ECONFIG;
    }
    struct store_sqlite *lite = calloc(1, sizeof(*lite));
    if (!lite) {
        store_set_errmsg(st, "out of memory");
        return -ALLOT_ENOMEM;
    }
    lite->lock_fd = -1;
    st->conn = lite;
    snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_FILE);
    int rc = store_make_dir(st, dir);
    if (!rc)
        rc = store_lock_dir(st, dir);
    if (!rc)
        rc = store_create_db_file(st, dir, path);
    if (rc)
        return rc;
    int src = sqlite3_open_v2(path, &lite->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        store_set_errmsg(st, "%s: %s", path, lite->db ? sqlite3_errmsg(lite->db) : "cannot open");
        return src == SQLITE_NOMEM ? -ALLOT_ENOMEM : -ALLOT_EIO;
    }
    rc = store_configure(st, path);
    if (!rc)
        rc = store_migrate(st, path);
    if (!rc)
        rc = store_sqlite_prepare_all(st);
    if (rc)
        return rc;
    /* installed last, so the counter starts at zero after the migrations */
    sqlite3_wal_hook(lite->db, store_wal_hook, st);
    return 0;
}

static void store_sqlite_close(struct store *st)
{
    struct store_sqlite *lite = st->conn;
    if (!lite)
        return;
    if (lite->db) {
        if (!sqlite3_get_autocommit(lite->db))
            sqlite3_exec(lite->db, "ROLLBACK", NULL, NULL, NULL);
        for (int i = 0; i < STORE_STMT_COUNT; i++)
            sqlite3_finalize(lite->stmt[i]);
        sqlite3_close(lite->db);
    }
    if (lite->lock_fd >= 0)
        close(lite->lock_fd);
    free(lite);
    st->conn = NULL;
}

/* Resets stmt and clears its bindings, ready for the next use. */
static void store_sqlite_reset(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Binds args as parameters 1..n of statement id. Text and blobs are bound SQLITE_STATIC:
 * valid because every statement is stepped and reset before the call that bound it returns.
 * OUT *out: the statement, bound (reset it after use, also on failure). */
static int store_sqlite_bind(struct store *st, enum store_stmt id, const struct store_arg *args,
                             int n, sqlite3_stmt **out)
{
    sqlite3_stmt *stmt = ((struct store_sqlite *)st->conn)->stmt[id];
    *out = stmt;
    for (int i = 0; i < n; i++) {
        const struct store_arg *a = &args[i];
        int rc;
        switch (a->kind) {
        case STORE_ARG_INT:
            rc = sqlite3_bind_int64(stmt, i + 1, a->i);
            break;
        case STORE_ARG_TEXT:
            rc = sqlite3_bind_text(stmt, i + 1, a->p, (int)a->len, SQLITE_STATIC);
            break;
        case STORE_ARG_BLOB:
            rc = sqlite3_bind_blob(stmt, i + 1, a->p, (int)a->len, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(stmt, i + 1);
            break;
        }
        if (rc != SQLITE_OK)
            return store_sqlite_error(st, rc);
    }
    return 0;
}

static int store_sqlite_write(struct store *st, enum store_stmt id, const struct store_arg *args,
                              int n, struct store_change *out)
{
    sqlite3_stmt *stmt;
    int err = store_sqlite_bind(st, id, args, n, &stmt);
    if (!err) {
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE) {
            err = store_sqlite_error(st, rc);
        } else {
            out->rows = sqlite3_changes(store_sqlite_db(st));
            out->seq = sqlite3_last_insert_rowid(store_sqlite_db(st));
        }
    }
    store_sqlite_reset(stmt);
    return err;
}

static int store_sqlite_query(struct store *st, enum store_stmt id, const struct store_arg *args,
                              int n, store_row_fn fn, void *ctx)
{
    sqlite3_stmt *stmt;
    int err = store_sqlite_bind(st, id, args, n, &stmt);
    struct store_row row = {.st = st, .cursor = stmt};
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        err = fn(ctx, &row);
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(st, rc);
    store_sqlite_reset(stmt);
    return err;
}

static bool store_sqlite_in_transaction(const struct store *st)
{
    return !sqlite3_get_autocommit(store_sqlite_db(st));
}

static bool store_sqlite_row_null(const struct store_row *row, int col)
{
    return sqlite3_column_type((sqlite3_stmt *)row->cursor, col) == SQLITE_NULL;
}

static int64_t store_sqlite_row_int(const struct store_row *row, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)row->cursor, col);
}

/* A text column's bytes (NUL-terminated) or a blob's; NULL for SQL NULL. */
static const void *store_sqlite_row_bytes(const struct store_row *row, int col, size_t *len)
{
    sqlite3_stmt *stmt = (sqlite3_stmt *)row->cursor;
    const void *p = sqlite3_column_type(stmt, col) == SQLITE_BLOB ? sqlite3_column_blob(stmt, col)
                                                                  : sqlite3_column_text(stmt, col);
    *len = (size_t)sqlite3_column_bytes(stmt, col);
    return p;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .write = store_sqlite_write,
    .query = store_sqlite_query,
    .in_transaction = store_sqlite_in_transaction,
    .row_null = store_sqlite_row_null,
    .row_int = store_sqlite_row_int,
    .row_bytes = store_sqlite_row_bytes,
};
