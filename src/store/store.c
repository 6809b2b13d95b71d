/* The store's front: store_open picks the backend (SQLite or PostgreSQL) from the location,
 * and open, close, errors, stats and group commit work the same on both. The rest of the
 * store is in its own files behind store.h; design in docs/store.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

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

int store_open(const char *location, struct store **out, char *err, size_t len)
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
    int rc = backend->open(st, target);
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
    int err = store_write(st, STORE_STMT_BEGIN_WRITE, NULL, 0, NULL);
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
        err = store_write(st, STORE_STMT_COMMIT, NULL, 0, NULL);
    if (err) {
        char msg[STORE_ERRMSG_MAX];
        snprintf(msg, sizeof(msg), "%s", st->errmsg);
        if (st->backend->in_transaction(st))
            store_write(st, STORE_STMT_ROLLBACK, NULL, 0, NULL);
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
    if (st->backend->in_transaction(st))
        err = store_write(st, STORE_STMT_ROLLBACK, NULL, 0, NULL);
    st->in_batch = false;
    st->batch_broken = false;
    return err ? -ALLOT_EIO : 0;
}
