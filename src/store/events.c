/* The event stream in the store: append with a sequence number never reused, read from a
 * position (a stream resumed from Last-Event-ID), trim to the newest N or by age. */
#include "common/error.h"
#include "store/internal.h"

int store_append_event(struct store *st, int64_t t_ms, const char *tenant, const char *kind,
                       const char *json, int64_t *seq)
{
    size_t tenant_len, kind_len, json_len;
    int err = store_check_text(st, "tenant", tenant, STORE_NAME_MAX, true, &tenant_len);
    if (!err)
        err = store_check_name(st, "kind", kind, &kind_len);
    if (!err)
        err = store_check_spec(st, "json", json, &json_len);
    if (err)
        return err;
    struct store_arg args[] = {store_int(t_ms), store_text(tenant, tenant_len),
                               store_text(kind, kind_len), store_text(json, json_len)};
    struct store_change change;
    err = store_write(st, STORE_STMT_APPEND_EVENT, args, 4, &change);
    if (!err && seq)
        *seq = change.seq;
    return err;
}

int store_events_trim(struct store *st, int64_t keep_last_n, int64_t *deleted)
{
    if (keep_last_n < 0) {
        store_set_errmsg(st, "keep_last_n: must not be negative");
        return -ALLOT_EINVAL;
    }
    struct store_arg args[] = {store_int(keep_last_n)};
    struct store_change change;
    int err = keep_last_n ? store_write(st, STORE_STMT_TRIM_EVENTS, args, 1, &change)
                          : store_write(st, STORE_STMT_CLEAR_EVENTS, NULL, 0, &change);
    if (!err && deleted)
        *deleted = change.rows;
    return err;
}

int store_events_trim_before(struct store *st, int64_t before_ms, int64_t limit, int64_t *deleted)
{
    if (limit < 1) {
        store_set_errmsg(st, "limit: must be 1 or more");
        return -ALLOT_EINVAL;
    }
    struct store_arg args[] = {store_int(before_ms), store_int(limit)};
    struct store_change change;
    int err = store_write(st, STORE_STMT_TRIM_EVENTS_BEFORE, args, 2, &change);
    if (!err && deleted)
        *deleted = change.rows;
    return err;
}

int store_events_first(struct store *st, int64_t *seq, int64_t *t_ms)
{
    int64_t row[2] = {0, 0};
    int err = store_query_ints(st, STORE_STMT_FIRST_EVENT, row, 2);
    *seq = row[0];
    *t_ms = row[1];
    return err;
}

/* store_events_read's callback and its context. */
struct store_event_visit {
    int (*fn)(void *ctx, const struct store_event *ev);
    void *ctx;
};

static int store_event_row(void *ctx, const struct store_row *row)
{
    struct store_event_visit *visit = ctx;
    struct store_event ev = {
        .seq = store_row_int(row, 0),
        .t_ms = store_row_int(row, 1),
        .tenant = store_row_text_or_null(row, 2),
        .kind = store_row_text(row, 3, NULL),
        .json = store_row_text(row, 4, NULL),
    };
    return visit->fn(visit->ctx, &ev);
}

int store_events_read(struct store *st, int64_t after_seq, int64_t max,
                      int (*fn)(void *ctx, const struct store_event *ev), void *ctx)
{
    if (max < 0 || !fn) {
        store_set_errmsg(st, "max: must not be negative");
        return -ALLOT_EINVAL;
    }
    struct store_arg args[] = {store_int(after_seq), store_int(max)};
    struct store_event_visit visit = {fn, ctx};
    return store_query(st, STORE_STMT_READ_EVENTS, args, 2, store_event_row, &visit);
}

int store_events_last(struct store *st, int64_t *seq)
{
    return store_query_int(st, STORE_STMT_LAST_EVENT, seq);
}
