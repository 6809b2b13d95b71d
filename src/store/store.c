/* The store's front: store_open picks the backend (SQLite or PostgreSQL) from the location,
 * and open, close, errors, stats and group commit work the same on both. The rest of the
 * store is in its own files behind store.h; design in docs/store.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "store/internal.h"

/* Milliseconds since the epoch, for the leader's row of store_open. */
static int64_t store_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Location prefixes: "sqlite:DIR", a libpq URI, or (as before) a bare directory. */
#define STORE_SQLITE_PREFIX "sqlite:"

static bool store_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool store_location_is_postgres(const char *location)
{
    return location && (store_has_prefix(location, "postgresql://") ||
                        store_has_prefix(location, "postgres://"));
}

/* Appends n bytes of s to buf (len bytes, *used of them taken), truncating; keeps the NUL. */
static void store_put(char *buf, size_t len, size_t *used, const char *s, size_t n)
{
    while (n-- && *used + 1 < len)
        buf[(*used)++] = *s++;
    buf[*used] = '\0';
}

void store_location_redact(const char *location, char *buf, size_t len)
{
    static const char hidden[] = "***", key_password[] = "password=";
    size_t used = 0;
    if (!len)
        return;
    buf[0] = '\0';
    if (!location)
        return;
    const char *rest = location;
    if (store_location_is_postgres(location)) {
        /* scheme://user:password@host...: the password is what lies between the first ':'
         * and the last '@' of the authority */
        const char *auth = strstr(location, "://") + 3;
        const char *auth_end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *p = auth; p < auth_end; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            store_put(buf, len, &used, location, (size_t)(colon + 1 - location));
            store_put(buf, len, &used, hidden, strlen(hidden));
            rest = at;
        }
        /* and the value of a password=... parameter of the query */
        const char *query = strchr(rest, '?');
        if (query) {
            store_put(buf, len, &used, rest, (size_t)(query + 1 - rest));
            for (const char *key = query + 1; *key;) {
                size_t n = strcspn(key, "&");
                bool secret = strncmp(key, key_password, strlen(key_password)) == 0;
                store_put(buf, len, &used, key, secret ? strlen(key_password) : n);
                if (secret)
                    store_put(buf, len, &used, hidden, strlen(hidden));
                key += n;
                if (*key == '&')
                    store_put(buf, len, &used, key++, 1);
            }
            return;
        }
    }
    store_put(buf, len, &used, rest, strlen(rest));
}

/* store_open and store_open_standby: the backend's open, then the lead unless standby. */
static int store_open_as(const char *location, bool standby, struct store **out, char *err,
                         size_t len)
{
    if (out)
        *out = NULL;
    if (err && len)
        err[0] = '\0';
    if (!out || !location || !*location || strnlen(location, STORE_DIR_MAX + 1) > STORE_DIR_MAX) {
        if (err && len)
            snprintf(err, len, "data directory: missing or longer than %d bytes", STORE_DIR_MAX);
        return -ALLOT_EINVAL;
    }
    const struct store_backend *backend = &store_sqlite_backend;
    const char *target = location;
    if (store_location_is_postgres(location))
        backend = &store_postgres_backend;
    else if (store_has_prefix(location, STORE_SQLITE_PREFIX))
        target = location + strlen(STORE_SQLITE_PREFIX);
    if (!*target) {
        if (err && len)
            snprintf(err, len, "data directory: missing after %s", STORE_SQLITE_PREFIX);
        return -ALLOT_EINVAL;
    }
    struct store *st = calloc(1, sizeof(*st));
    if (!st) {
        if (err && len)
            snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    st->backend = backend;
    st->standby = standby;
    int rc = backend->open(st, target);
    rc = rc || standby ? rc : store_lead(st, NULL, store_clock_ms());
    if (rc) {
        if (err && len)
            snprintf(err, len, "%s", st->errmsg);
        store_close(st);
        return rc;
    }
    st->stats = (struct store_stats){0}; /* counted from here, after the migrations */
    *out = st;
    return 0;
}

int store_open(const char *location, struct store **out, char *err, size_t len)
{
    return store_open_as(location, false, out, err, len);
}

int store_open_standby(const char *location, struct store **out, char *err, size_t len)
{
    if (!store_location_is_postgres(location)) {
        if (out)
            *out = NULL;
        if (err && len)
            snprintf(err, len, "a standby needs a PostgreSQL store (--store postgresql://...)");
        return -ALLOT_EINVAL;
    }
    return store_open_as(location, true, out, err, len);
}

void store_close(struct store *st)
{
    if (!st)
        return;
    st->backend->close(st);
    free(st);
}

const char *store_errmsg(const struct store *st)
{
    return st ? st->errmsg : "";
}

const char *store_backend_name(const struct store *st)
{
    return st->backend->name;
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
    if (st->fenced) {
        store_fence_lost(st, "its place was taken");
        return -ALLOT_ESTATE;
    }
    int err = store_write(st, STORE_STMT_BEGIN_WRITE, NULL, 0, NULL);
    if (err)
        return err;
    st->in_batch = true;
    st->batch_broken = false;
    return 0;
}

static int store_row_ignore(void *ctx, const struct store_row *row)
{
    (void)ctx;
    (void)row;
    return 0;
}

/* The epoch's check in the open transaction: the leader's row still holds this store's
 * epoch (in PostgreSQL the row stays locked until the commit, so that a new leader's
 * increment waits for it). RET 0; -ALLOT_ESTATE (fenced for good); the query's error. */
static int store_fence_check(struct store *st)
{
    struct store_arg arg = store_int(st->epoch);
    int err = store_query_one(st, STORE_STMT_FENCE, &arg, 1, store_row_ignore, NULL);
    if (err == -ALLOT_ENOENT) {
        char why[STORE_ERRMSG_MAX];
        snprintf(why, sizeof(why), "another store has led since epoch %lld", (long long)st->epoch);
        store_fence_lost(st, why);
        err = -ALLOT_ESTATE;
    }
    return err;
}

void store_fence_lost(struct store *st, const char *why)
{
    if (!st->fenced) /* the first reason is the one that counts */
        snprintf(st->fence_why, sizeof(st->fence_why), "%.150s", why);
    st->fenced = true;
    store_set_errmsg(st, "fenced: this store no longer leads (%s); it writes nothing more",
                     st->fence_why);
}

/* The commit of the open batch (not counted: store_batch_commit counts its own). */
static int store_commit(struct store *st)
{
    if (!st->in_batch) {
        store_set_errmsg(st, "no batch is open");
        return -ALLOT_ESTATE;
    }
    int err = store_check_writable(st);
    if (!err && st->fenced) {
        store_fence_lost(st, "its lock was taken");
        err = -ALLOT_ESTATE;
    }
    if (!err && st->epoch)
        err = store_fence_check(st);
    if (!err)
        err = store_write(st, STORE_STMT_COMMIT, NULL, 0, NULL);
    if (err) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        if (st->backend->in_transaction(st))
            store_write(st, STORE_STMT_ROLLBACK, NULL, 0, NULL);
        store_set_errmsg(st, "batch not committed: %s", msg);
        if (st->fenced)
            err = -ALLOT_ESTATE;
        else if (err != -ALLOT_EFULL)
            err = -ALLOT_EIO;
    }
    st->in_batch = false;
    st->batch_broken = false;
    return err;
}

int store_batch_commit(struct store *st)
{
    int err = store_commit(st);
    if (!err)
        st->stats.batches++;
    return err;
}

int store_write_alone(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                      struct store_change *out)
{
    int err = store_batch_begin(st);
    st->alone = true;
    err = err ? err : store_write(st, id, args, n, out);
    st->alone = false;
    if (err) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        store_batch_rollback(st);
        store_set_errmsg(st, "%s", msg);
        return err;
    }
    return store_commit(st);
}

/* The row of LEADER_READ into *out. */
static int store_leader_row(void *ctx, const struct store_row *row)
{
    struct store_leader *out = ctx;
    out->epoch = store_row_int(row, 0);
    out->since_ms = store_row_int(row, 2);
    return store_copy_text(row->st, row, 1, "leader url", out->url, sizeof(out->url));
}

int store_lead(struct store *st, const char *url, int64_t now_ms)
{
    size_t n;
    if (st->epoch)
        return 0;
    if (st->fenced) {
        store_set_errmsg(st, "fenced: this store led once and lost its place; open it again");
        return -ALLOT_ESTATE;
    }
    int err = store_check_text(st, "url", url, STORE_URL_MAX, true, &n);
    err = err || !st->backend->lead ? err : st->backend->lead(st);
    if (err)
        return err;
    st->standby = false;
    struct store_arg args[] = {store_string(url, n), store_int(now_ms)};
    struct store_leader now = {0};
    err = store_batch_begin(st);
    err = err ? err : store_write(st, STORE_STMT_LEADER_BUMP, args, 2, NULL);
    err = err ? err : store_query_one(st, STORE_STMT_LEADER_READ, NULL, 0, store_leader_row, &now);
    err = err ? err : store_commit(st);
    if (err) {
        if (store_in_batch(st))
            store_batch_rollback(st);
        return err == -ALLOT_ENOENT ? -ALLOT_EIO : err;
    }
    st->epoch = now.epoch;
    return 0;
}

int store_leader(struct store *st, struct store_leader *out)
{
    memset(out, 0, sizeof(*out));
    if (st->backend->peek_leader)
        return st->backend->peek_leader(st, out);
    int err = store_query_one(st, STORE_STMT_LEADER_READ, NULL, 0, store_leader_row, out);
    out->alive = true; /* SQLite: this process owns the data */
    return err == -ALLOT_ENOENT ? -ALLOT_EIO : err;
}

int store_check_lead(struct store *st)
{
    if (st->fenced) {
        store_fence_lost(st, ""); /* the message, with the first reason */
        return -ALLOT_ESTATE;
    }
    if (!st->epoch) {
        store_set_errmsg(st, "this store does not lead");
        return -ALLOT_ESTATE;
    }
    if (st->in_batch) {
        store_set_errmsg(st, "the lead is checked outside a batch");
        return -ALLOT_ESTATE;
    }
    return store_fence_check(st);
}

int64_t store_epoch(const struct store *st)
{
    return st->epoch;
}

bool store_fenced(const struct store *st)
{
    return st->fenced;
}

int store_batch_rollback(struct store *st)
{
    int err = 0;
    if (st->backend->in_transaction(st))
        err = store_write(st, STORE_STMT_ROLLBACK, NULL, 0, NULL);
    st->in_batch = false;
    st->batch_broken = false;
    return err ? -ALLOT_EIO : 0;
}
