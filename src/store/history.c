/* The history of workloads that have left the engine (store.h, docs/store.md "History"):
 * added when the daemon forgets a workload, found by name or idempotency key, listed in
 * pages, and trimmed by age. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

int store_history_add(struct store *st, const struct store_history_row *r)
{
    size_t len[7] = {0};
    const char *fields[] = {"name", "tenant", "workspace", "state"};
    const char *values[] = {r->name, r->tenant, r->workspace, r->state};
    int err = 0;
    for (int i = 0; !err && i < 4; i++)
        err = store_check_text(st, fields[i], values[i], STORE_LOG_NAME_MAX, false, &len[i]);
    err = err ? err
              : store_check_text(st, "idempotency_key", r->idempotency_key, STORE_NAME_MAX, true,
                                 &len[5]);
    err = err ? err : store_check_spec(st, "view", r->view_json, &len[6]);
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    struct store_arg args[] = {
        store_text(values[0], len[0]),    store_text(values[1], len[1]),
        store_text(values[2], len[2]),    store_text(values[3], len[3]),
        store_int(r->ended_ms),           store_text(r->idempotency_key, len[5]),
        store_text(r->view_json, len[6]),
    };
    return store_write(st, STORE_STMT_HISTORY_ADD, args, 7, NULL);
}

/* Copies the view column of a row into *(char **)ctx. */
static int view_row(void *ctx, const struct store_row *row)
{
    const char *text = store_row_text_or_null(row, 0);
    char **view = ctx;
    *view = strdup(text ? text : "{}");
    return *view ? 0 : -ALLOT_ENOMEM;
}

int store_history_find(struct store *st, const char *name, char **view)
{
    size_t n;
    *view = NULL;
    int err = store_check_text(st, "name", name, STORE_LOG_NAME_MAX, false, &n);
    if (err)
        return err;
    struct store_arg args[] = {store_text(name, n)};
    return store_query_one(st, STORE_STMT_HISTORY_FIND, args, 1, view_row, view);
}

int store_history_find_key(struct store *st, const char *workspace, const char *key, char **view)
{
    size_t nw, nk;
    *view = NULL;
    int err = store_check_text(st, "workspace", workspace, STORE_LOG_NAME_MAX, false, &nw);
    err = err ? err : store_check_text(st, "idempotency_key", key, STORE_NAME_MAX, false, &nk);
    if (err)
        return err;
    struct store_arg args[] = {store_text(workspace, nw), store_text(key, nk)};
    return store_query_one(st, STORE_STMT_HISTORY_FIND_KEY, args, 2, view_row, view);
}

/* store_history_list's callback and its context. */
struct history_visit {
    int (*fn)(void *ctx, int64_t id, const char *tenant, const char *workspace,
              const char *view_json);
    void *ctx;
};

static int history_row(void *ctx, const struct store_row *row)
{
    struct history_visit *visit = ctx;
    return visit->fn(visit->ctx, store_row_int(row, 0), store_row_text(row, 1, NULL),
                     store_row_text(row, 2, NULL), store_row_text(row, 3, NULL));
}

int store_history_list(struct store *st, int64_t after_id, const char *tenant,
                       const char *workspace, int64_t limit,
                       int (*fn)(void *ctx, int64_t id, const char *tenant, const char *workspace,
                                 const char *view_json),
                       void *ctx)
{
    size_t nt, nw;
    if (limit < 0 || !fn) {
        store_set_errmsg(st, "limit: must not be negative");
        return -ALLOT_EINVAL;
    }
    int err = store_check_text(st, "tenant", tenant, STORE_NAME_MAX, true, &nt);
    err = err ? err : store_check_text(st, "workspace", workspace, STORE_LOG_NAME_MAX, true, &nw);
    if (err)
        return err;
    struct store_arg args[] = {store_int(after_id), store_text(tenant, nt),
                               store_text(workspace, nw), store_int(limit)};
    struct history_visit visit = {fn, ctx};
    return store_query(st, STORE_STMT_HISTORY_LIST, args, 4, history_row, &visit);
}

/* Run statement which with before_ms as its parameter. OUT *changes (may be NULL). */
static int run_before(struct store *st, enum store_stmt which, int64_t before_ms, int64_t *changes)
{
    struct store_arg args[] = {store_int(before_ms)};
    struct store_change change;
    int err = store_write(st, which, args, 1, &change);
    if (!err && changes)
        *changes = change.rows;
    return err;
}

/* store_history_trim's transaction: the output and the rows go together. */
struct history_trim {
    int64_t before_ms, deleted;
};

static int history_trim_body(struct store *st, void *ctx)
{
    struct history_trim *trim = ctx;
    int err = run_before(st, STORE_STMT_HISTORY_TRIM_LOGS, trim->before_ms, NULL);
    err = err ? err : run_before(st, STORE_STMT_HISTORY_TRIM_ATTEMPTS, trim->before_ms, NULL);
    return err ? err : run_before(st, STORE_STMT_HISTORY_TRIM, trim->before_ms, &trim->deleted);
}

int store_history_trim(struct store *st, int64_t before_ms, int64_t *deleted)
{
    struct history_trim trim = {before_ms, 0};
    int err = store_atomic(st, history_trim_body, &trim);
    if (!err && deleted)
        *deleted = trim.deleted;
    return err;
}

int store_history_count(struct store *st, int64_t *count)
{
    return store_query_int(st, STORE_STMT_HISTORY_COUNT, count);
}
