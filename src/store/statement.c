/* The store's statements in both dialects and the helpers every part of the store uses on
 * them: bounded inputs checked, parameters built, writes and queries run through the open
 * backend, rows read. The statements themselves are listed in internal.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

const char *const store_stmt_sqlite[STORE_STMT_COUNT] = {
#define STORE_STMT_SQLITE(id, sqlite, postgres) [STORE_STMT_##id] = sqlite,
    STORE_STMT_TABLE(STORE_STMT_SQLITE)
#undef STORE_STMT_SQLITE
};

const char *const store_stmt_postgres[STORE_STMT_COUNT] = {
#define STORE_STMT_POSTGRES(id, sqlite, postgres) [STORE_STMT_##id] = postgres,
    STORE_STMT_TABLE(STORE_STMT_POSTGRES)
#undef STORE_STMT_POSTGRES
};

void store_set_errmsg(struct store *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
    va_end(ap);
}

struct store_arg store_int(int64_t v)
{
    return (struct store_arg){.kind = STORE_ARG_INT, .i = v};
}

struct store_arg store_text(const char *s, size_t len)
{
    if (!s || !len)
        return (struct store_arg){.kind = STORE_ARG_NULL};
    return (struct store_arg){.kind = STORE_ARG_TEXT, .p = s, .len = len};
}

struct store_arg store_string(const char *s, size_t len)
{
    return (struct store_arg){.kind = STORE_ARG_TEXT, .p = s ? s : "", .len = s ? len : 0};
}

struct store_arg store_blob(const void *p, size_t len)
{
    return (struct store_arg){.kind = STORE_ARG_BLOB, .p = p, .len = len};
}

bool store_row_null(const struct store_row *row, int col)
{
    return row->st->backend->row_null(row, col);
}

int64_t store_row_int(const struct store_row *row, int col)
{
    return row->st->backend->row_int(row, col);
}

const char *store_row_text(const struct store_row *row, int col, size_t *len)
{
    size_t n = 0;
    const char *s = row->st->backend->row_bytes(row, col, &n);
    if (len)
        *len = s ? n : 0;
    return s ? s : "";
}

const char *store_row_text_or_null(const struct store_row *row, int col)
{
    return store_row_null(row, col) ? NULL : store_row_text(row, col, NULL);
}

const void *store_row_blob(const struct store_row *row, int col, size_t *len)
{
    *len = 0;
    return row->st->backend->row_bytes(row, col, len);
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

/* Refuses writes once the backend has abandoned the open batch. */
int store_check_writable(struct store *st)
{
    if (st->in_batch && st->batch_broken) {
        store_set_errmsg(st, "the batch failed; roll it back");
        return -ALLOT_EIO;
    }
    return 0;
}

int store_write(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                struct store_change *out)
{
    struct store_change change = {0};
    if (st->standby) {
        store_set_errmsg(st, "a standby writes nothing until it leads");
        return -ALLOT_ESTATE;
    }
    if ((st->epoch || st->fenced) && !st->in_batch && !STORE_STMT_IS_CONTROL(id))
        return store_write_alone(st, id, args, n, out);
    int err = STORE_STMT_IS_CONTROL(id) ? 0 : store_check_writable(st);
    if (!err)
        err = st->backend->write(st, id, args, n, &change);
    if (!err && out)
        *out = change;
    return err;
}

int store_query(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                store_row_fn fn, void *ctx)
{
    if (st->standby) {
        store_set_errmsg(st, "a standby reads nothing but the leader's row until it leads");
        return -ALLOT_ESTATE;
    }
    int err = st->backend->query(st, id, args, n, fn, ctx);
    return err == STORE_STOP ? 0 : err;
}

/* store_query_one's wrapper of the caller's callback: notes that a row came. */
struct store_one {
    store_row_fn fn;
    void *ctx;
    bool found;
};

static int store_one_row(void *ctx, const struct store_row *row)
{
    struct store_one *one = ctx;
    one->found = true;
    int err = one->fn(one->ctx, row);
    return err ? err : STORE_STOP;
}

int store_query_one(struct store *st, enum store_stmt id, const struct store_arg *args, int n,
                    store_row_fn fn, void *ctx)
{
    struct store_one one = {.fn = fn, .ctx = ctx};
    int err = store_query(st, id, args, n, store_one_row, &one);
    if (!err && !one.found)
        err = -ALLOT_ENOENT;
    return err;
}

/* store_query_ints' destination: n integers. */
struct store_ints {
    int64_t *out;
    int n;
};

static int store_ints_row(void *ctx, const struct store_row *row)
{
    struct store_ints *ints = ctx;
    for (int i = 0; i < ints->n; i++)
        ints->out[i] = store_row_int(row, i);
    return 0;
}

/* Runs a query without parameters that always gives one row of n integers. */
int store_query_ints(struct store *st, enum store_stmt which, int64_t *out, int n)
{
    struct store_ints ints = {out, n};
    int err = store_query_one(st, which, NULL, 0, store_ints_row, &ints);
    if (err == -ALLOT_ENOENT) {
        store_set_errmsg(st, "a query that always gives a row gave none");
        err = -ALLOT_EIO;
    }
    return err;
}

int store_query_int(struct store *st, enum store_stmt which, int64_t *out)
{
    return store_query_ints(st, which, out, 1);
}

/* Copies text column col (NULL read as "") into buf of len bytes; buf may be NULL when the
 * value is not wanted. RET -ALLOT_ERANGE when it does not fit. */
int store_copy_text(struct store *st, const struct store_row *row, int col, const char *what,
                    char *buf, size_t len)
{
    if (!buf)
        return 0;
    size_t n;
    const char *s = store_row_text(row, col, &n);
    if (n + 1 > len) {
        store_set_errmsg(st, "%s: value of %zu bytes does not fit", what, n);
        return -ALLOT_ERANGE;
    }
    if (n)
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
    return store_write(st, STORE_STMT_BEGIN_READ, NULL, 0, NULL);
}

/* Ends it: a read transaction writes nothing, so rollback and commit are the same. */
void store_read_end(struct store *st)
{
    if (st->backend->in_transaction(st))
        store_write(st, STORE_STMT_ROLLBACK, NULL, 0, NULL);
}

int store_apply_migrations(struct store *st, const char *where, int64_t version,
                           int (*migrate_one)(struct store *st, int version))
{
    if (version > STORE_SCHEMA_VERSION) {
        store_set_errmsg(st,
                         "%s: schema version %" PRId64 " is newer than this allotd knows (%d);"
                         " run a newer allotd",
                         where, version, STORE_SCHEMA_VERSION);
        return -ALLOT_ECONFIG;
    }
    if (version < 0) {
        store_set_errmsg(st, "%s: invalid schema version %" PRId64, where, version);
        return -ALLOT_ECONFIG;
    }
    for (int v = (int)version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        int err = migrate_one(st, v);
        if (err)
            return err;
    }
    st->schema_version = STORE_SCHEMA_VERSION;
    return 0;
}

int store_atomic(struct store *st, int (*body)(struct store *st, void *ctx), void *ctx)
{
    int err = store_check_writable(st);
    if (err)
        return err;
    bool own = !st->in_batch;
    if (own && (err = store_batch_begin(st)) != 0)
        return err;
    err = body(st, ctx);
    if (own)
        err = err ? (store_batch_rollback(st), err) : store_batch_commit(st);
    return err;
}
