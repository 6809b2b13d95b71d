/* The GPU-hour ledger (store.h, docs/store.md "Usage"): ended attempts of workloads that held
 * GPUs, and hourly rollups of their GPU time, added with the commit that ended them, read
 * for GET /v1/usage and the metrics, and trimmed by age. */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

#define USAGE_HOUR_MS 3600000

/* Checks the strings of a ledger row (names within STORE_LOG_NAME_MAX; mig may be empty).
 * OUT len[i]: their lengths. RET 0 or -ALLOT_EINVAL naming the field. */
static int usage_check(struct store *st, const char *const *fields, const char *const *values,
                       const bool *optional, int n, size_t *len)
{
    int err = 0;
    for (int i = 0; !err && i < n; i++)
        err = store_check_text(st, fields[i], values[i], STORE_LOG_NAME_MAX, optional[i], &len[i]);
    return err;
}

int store_usage_attempt_add(struct store *st, const struct store_usage_attempt *a)
{
    static const char *const fields[] = {"workload", "tenant", "workspace", "submitter", "ending"};
    static const bool optional[] = {false, false, false, false, false};
    const char *values[] = {a->workload, a->tenant, a->workspace, a->submitter, a->ending};
    size_t len[5];
    int err = usage_check(st, fields, values, optional, 5, len);
    if (!err && (a->attempt < 1 || a->start_ms < 0 || a->end_ms < a->start_ms || a->gpu_units < 0 ||
                 a->borrowed_units < 0 || a->borrowed_units > a->gpu_units || a->reclaim_ms < -1)) {
        store_set_errmsg(st, "attempt, times or units: out of range");
        err = -ALLOT_EINVAL;
    }
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    struct store_arg args[] = {
        store_text(values[0], len[0]),
        store_int(a->attempt),
        store_text(values[1], len[1]),
        store_text(values[2], len[2]),
        store_text(values[3], len[3]),
        store_int(a->start_ms),
        store_int(a->end_ms),
        store_int(a->gpu_units),
        store_int(a->borrowed_units),
        store_text(values[4], len[4]),
        store_int(a->lost ? 1 : 0),
        a->reclaim_ms >= 0 ? store_int(a->reclaim_ms) : (struct store_arg){.kind = STORE_ARG_NULL},
    };
    return store_write(st, STORE_STMT_USAGE_ATTEMPT_ADD, args, 12, NULL);
}

/* Add rollup row h of a period of step ms (its hour_ms a multiple of it) with statement which. */
static int rollup_add(struct store *st, enum store_stmt which, int64_t step,
                      const struct store_usage_hour *h)
{
    static const char *const fields[] = {"tenant", "workspace", "submitter",
                                         "model",  "mig",       "class"};
    static const bool optional[] = {false, false, false, false, true, false};
    const char *values[] = {h->tenant, h->workspace, h->submitter, h->model, h->mig, h->cls};
    size_t len[6];
    int err = usage_check(st, fields, values, optional, 6, len);
    if (!err && (h->hour_ms < 0 || h->hour_ms % step != 0 || h->unit_ms < 0)) {
        store_set_errmsg(st, "hour_ms or unit_ms: out of range");
        err = -ALLOT_EINVAL;
    }
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    struct store_arg args[] = {
        store_int(h->hour_ms),
        store_text(values[0], len[0]),
        store_text(values[1], len[1]),
        store_text(values[2], len[2]),
        store_text(values[3], len[3]),
        store_string(values[4], len[4]), /* "" rather than NULL: part of the key */
        store_text(values[5], len[5]),
        store_int(h->unit_ms),
    };
    return store_write(st, which, args, 8, NULL);
}

int store_usage_hour_add(struct store *st, const struct store_usage_hour *h)
{
    return rollup_add(st, STORE_STMT_USAGE_HOUR_ADD, USAGE_HOUR_MS, h);
}

int store_usage_day_add(struct store *st, const struct store_usage_hour *d)
{
    return rollup_add(st, STORE_STMT_USAGE_DAY_ADD, 24 * USAGE_HOUR_MS, d);
}

/* A read's callback and its context. */
struct usage_visit {
    enum store_usage_by by;
    int (*sum)(void *ctx, const char *key, int64_t day_ms, const char *cls, int64_t unit_ms);
    int (*attempt)(void *ctx, const struct store_usage_attempt *a);
    int (*total)(void *ctx, const char *tenant, const char *workspace, const char *cls,
                 int64_t unit_ms);
    void *ctx;
};

static int sum_row(void *ctx, const struct store_row *row)
{
    const struct usage_visit *v = ctx;
    bool day = v->by == STORE_USAGE_BY_DAY;
    return v->sum(v->ctx, day ? NULL : store_row_text(row, 0, NULL),
                  day ? store_row_int(row, 0) : 0, store_row_text(row, 1, NULL),
                  store_row_int(row, 2));
}

static int attempt_row(void *ctx, const struct store_row *row)
{
    const struct usage_visit *v = ctx;
    struct store_usage_attempt a = {
        .workload = store_row_text(row, 0, NULL),
        .attempt = store_row_int(row, 1),
        .tenant = store_row_text(row, 2, NULL),
        .workspace = store_row_text(row, 3, NULL),
        .submitter = store_row_text(row, 4, NULL),
        .start_ms = store_row_int(row, 5),
        .end_ms = store_row_int(row, 6),
        .gpu_units = store_row_int(row, 7),
        .borrowed_units = store_row_int(row, 8),
        .ending = store_row_text(row, 9, NULL),
        .lost = store_row_int(row, 10) != 0,
        .reclaim_ms = store_row_null(row, 11) ? -1 : store_row_int(row, 11),
    };
    return v->attempt(v->ctx, &a);
}

static int total_row(void *ctx, const struct store_row *row)
{
    const struct usage_visit *v = ctx;
    return v->total(v->ctx, store_row_text(row, 0, NULL), store_row_text(row, 1, NULL),
                    store_row_text(row, 2, NULL), store_row_int(row, 3));
}

/* Runs read statement which over [from_ms, to_ms) of tenant and workspace (NULL: all). */
static int usage_read(struct store *st, enum store_stmt which, int64_t from_ms, int64_t to_ms,
                      const char *tenant, const char *workspace, int64_t limit, store_row_fn row,
                      struct usage_visit *v)
{
    size_t nt, nw;
    if (limit < 1 || limit > STORE_USAGE_READ_MAX || from_ms > to_ms) {
        store_set_errmsg(st, "limit or period: out of range");
        return -ALLOT_EINVAL;
    }
    int err = store_check_text(st, "tenant", tenant, STORE_NAME_MAX, true, &nt);
    err = err ? err : store_check_text(st, "workspace", workspace, STORE_LOG_NAME_MAX, true, &nw);
    if (err)
        return err;
    struct store_arg args[] = {store_int(from_ms), store_int(to_ms), store_text(tenant, nt),
                               store_text(workspace, nw), store_int(limit)};
    return store_query(st, which, args, 5, row, v);
}

int store_usage_sum(struct store *st, enum store_usage_by by, bool days, int64_t from_ms,
                    int64_t to_ms, const char *tenant, const char *workspace, int64_t limit,
                    int (*fn)(void *ctx, const char *key, int64_t day_ms, const char *cls,
                              int64_t unit_ms),
                    void *ctx)
{
    static const enum store_stmt stmts[][2] = {
        [STORE_USAGE_BY_TENANT] = {STORE_STMT_USAGE_SUM_TENANT_HOURS,
                                   STORE_STMT_USAGE_SUM_TENANT_DAYS},
        [STORE_USAGE_BY_WORKSPACE] = {STORE_STMT_USAGE_SUM_WORKSPACE_HOURS,
                                      STORE_STMT_USAGE_SUM_WORKSPACE_DAYS},
        [STORE_USAGE_BY_SUBMITTER] = {STORE_STMT_USAGE_SUM_SUBMITTER_HOURS,
                                      STORE_STMT_USAGE_SUM_SUBMITTER_DAYS},
        [STORE_USAGE_BY_MODEL] = {STORE_STMT_USAGE_SUM_MODEL_HOURS,
                                  STORE_STMT_USAGE_SUM_MODEL_DAYS},
        [STORE_USAGE_BY_MIG] = {STORE_STMT_USAGE_SUM_MIG_HOURS, STORE_STMT_USAGE_SUM_MIG_DAYS},
        [STORE_USAGE_BY_DAY] = {STORE_STMT_USAGE_SUM_DAY_HOURS, STORE_STMT_USAGE_SUM_DAY_DAYS},
    };
    if ((unsigned)by > STORE_USAGE_BY_DAY) {
        store_set_errmsg(st, "by: unknown key");
        return -ALLOT_EINVAL;
    }
    struct usage_visit v = {.by = by, .sum = fn, .ctx = ctx};
    return usage_read(st, stmts[by][days], from_ms, to_ms, tenant, workspace, limit, sum_row, &v);
}

int store_usage_attempts_read(struct store *st, int64_t from_ms, int64_t to_ms, const char *tenant,
                              const char *workspace, int64_t limit,
                              int (*fn)(void *ctx, const struct store_usage_attempt *a), void *ctx)
{
    struct usage_visit v = {.attempt = fn, .ctx = ctx};
    return usage_read(st, STORE_STMT_USAGE_ATTEMPTS_READ, from_ms, to_ms, tenant, workspace, limit,
                      attempt_row, &v);
}

int store_usage_reclaims_read(struct store *st, int64_t from_ms, int64_t to_ms, const char *tenant,
                              const char *workspace, int64_t limit,
                              int (*fn)(void *ctx, const struct store_usage_attempt *a), void *ctx)
{
    struct usage_visit v = {.attempt = fn, .ctx = ctx};
    return usage_read(st, STORE_STMT_USAGE_RECLAIMS, from_ms, to_ms, tenant, workspace, limit,
                      attempt_row, &v);
}

int store_usage_total_add(struct store *st, const char *tenant, const char *workspace,
                          const char *cls, int64_t unit_ms)
{
    static const char *const fields[] = {"tenant", "workspace", "class"};
    static const bool optional[] = {false, false, false};
    const char *values[] = {tenant, workspace, cls};
    size_t len[3];
    int err = usage_check(st, fields, values, optional, 3, len);
    if (!err && unit_ms < 0) {
        store_set_errmsg(st, "unit_ms: must not be negative");
        err = -ALLOT_EINVAL;
    }
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    struct store_arg args[] = {store_text(tenant, len[0]), store_text(workspace, len[1]),
                               store_text(cls, len[2]), store_int(unit_ms)};
    return store_write(st, STORE_STMT_USAGE_TOTAL_ADD, args, 4, NULL);
}

int store_usage_totals(struct store *st,
                       int (*fn)(void *ctx, const char *tenant, const char *workspace,
                                 const char *cls, int64_t unit_ms),
                       void *ctx)
{
    struct usage_visit v = {.total = fn, .ctx = ctx};
    return store_query(st, STORE_STMT_USAGE_TOTALS, NULL, 0, total_row, &v);
}

/* store_usage_trim's transaction. */
struct usage_trim {
    int64_t before_ms, deleted;
};

static int usage_trim_body(struct store *st, void *ctx)
{
    struct usage_trim *trim = ctx;
    struct store_arg args[] = {store_int(trim->before_ms)};
    struct store_change a = {0}, b = {0};
    /* a day goes once all of it is past the limit */
    struct store_arg day[] = {store_int(trim->before_ms - trim->before_ms % (24 * USAGE_HOUR_MS))};
    struct store_change c = {0};
    int err = store_write(st, STORE_STMT_USAGE_TRIM_HOURS, args, 1, &a);
    err = err ? err : store_write(st, STORE_STMT_USAGE_TRIM_ATTEMPTS, args, 1, &b);
    err = err ? err : store_write(st, STORE_STMT_USAGE_TRIM_DAYS, day, 1, &c);
    trim->deleted = a.rows + b.rows + c.rows;
    return err;
}

int store_usage_trim(struct store *st, int64_t before_ms, int64_t *deleted)
{
    struct usage_trim trim = {before_ms, 0};
    int err = store_atomic(st, usage_trim_body, &trim);
    if (!err && deleted)
        *deleted = trim.deleted;
    return err;
}
