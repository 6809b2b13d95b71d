/* The store's connection: the data directory and its lock, the database file, SQLite's
 * settings (WAL, synchronous=FULL), open and close, and group commit. The rest of the store
 * is in its own files behind store.h; design in docs/store.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/error.h"
#include "store/internal.h"

/* WAL frames (pages) after which a commit runs a passive checkpoint (SQLite's default). */
#define STORE_CHECKPOINT_FRAMES 1000
/* The WAL is truncated back to this size (64 MiB) after a checkpoint; a PRAGMA literal. */
#define STORE_WAL_SIZE_LIMIT "67108864"
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DIR_MAX 4000
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
        store_finalize_all(st);
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
