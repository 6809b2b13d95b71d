/* Workloads' output in the store, as their agents ship it: chunks at byte offsets of one
 * stream of one attempt of one replica, appended and read back across chunks; each attempt's
 * and each workspace's stored bytes, and the retention that deletes whole attempts by age and
 * by a workspace's size cap (docs/store.md, "Retention"). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

/* Checks a log key and makes it parameters 1..4 of args. */
static int store_log_args(struct store *st, const struct store_log_key *k, struct store_arg *args)
{
    size_t name_len, stream_len;
    int err = store_check_text(st, "workload", k->workload, STORE_LOG_NAME_MAX, false, &name_len);
    if (!err)
        err = store_check_name(st, "stream", k->stream, &stream_len);
    if (!err && (k->rank < 0 || k->attempt < 0)) {
        store_set_errmsg(st, "%s: must not be negative", k->rank < 0 ? "rank" : "attempt");
        err = -ALLOT_EINVAL;
    }
    if (err)
        return err;
    args[0] = store_text(k->workload, name_len);
    args[1] = store_int(k->rank);
    args[2] = store_int(k->attempt);
    args[3] = store_text(k->stream, stream_len);
    return 0;
}

static int store_log_end_row(void *ctx, const struct store_row *row)
{
    *(int64_t *)ctx = store_row_int(row, 0);
    return 0;
}

int store_log_end(struct store *st, const struct store_log_key *k, int64_t *end)
{
    struct store_arg args[4];
    *end = 0;
    int err = store_log_args(st, k, args);
    if (!err)
        err = store_query_one(st, STORE_STMT_LOG_END, args, 4, store_log_end_row, end);
    return err == -ALLOT_ENOENT ? 0 : err;
}

/* The workspace of a workload named tenant/workspace/name: the length of what is before its
 * second '/' (all of it when it has fewer). */
static size_t log_workspace_len(const char *workload, size_t len)
{
    const char *first = memchr(workload, '/', len);
    const char *second =
        first ? memchr(first + 1, '/', len - (size_t)(first + 1 - workload)) : NULL;
    return second ? (size_t)(second - workload) : len;
}

/* store_log_append's transaction: the chunk and its bytes in the attempt's count. */
struct log_append {
    struct store_arg chunk[6];
    int64_t t_ms;
};

static int log_append_body(struct store *st, void *ctx)
{
    struct log_append *a = ctx;
    const struct store_arg *c = a->chunk;
    char workspace[STORE_LOG_NAME_MAX + 1]; /* a text parameter ends with its NUL */
    size_t len = log_workspace_len(c[0].p, c[0].len);
    memcpy(workspace, c[0].p, len);
    workspace[len] = '\0';
    struct store_arg counted[] = {c[0], c[2], store_string(workspace, len), store_int(a->t_ms),
                                  store_int((int64_t)c[5].len)};
    int err = store_write(st, STORE_STMT_LOG_APPEND, c, 6, NULL);
    return err ? err : store_write(st, STORE_STMT_LOG_ATTEMPT_ADD, counted, 5, NULL);
}

int store_log_append(struct store *st, const struct store_log_key *k, int64_t t_ms, int64_t offset,
                     const void *data, size_t len)
{
    if (offset < 0 || len == 0 || len > STORE_LOG_CHUNK_MAX) {
        store_set_errmsg(st, "%s",
                         offset < 0 ? "offset: must not be negative"
                                    : "data: 1 to STORE_LOG_CHUNK_MAX bytes");
        return -ALLOT_EINVAL;
    }
    struct log_append a = {.t_ms = t_ms};
    int err = store_log_args(st, k, a.chunk);
    if (err)
        return err;
    a.chunk[4] = store_int(offset);
    a.chunk[5] = store_blob(data, len);
    return store_atomic(st, log_append_body, &a);
}

/* store_log_read's destination: the bytes wanted from offset, and how many came. */
struct store_log_copy {
    int64_t offset;
    char *buf;
    size_t max, got;
    bool skipped; /* the bytes at the offset asked for were gone: offset moved on */
};

static int store_log_chunk(void *ctx, const struct store_row *row)
{
    struct store_log_copy *copy = ctx;
    size_t len;
    int64_t off = store_row_int(row, 0);
    const char *data = store_row_blob(row, 1, &len);
    int64_t n = (int64_t)len;
    int64_t from = copy->offset + (int64_t)copy->got; /* the next byte wanted */
    if (off > from && copy->got == 0 && !copy->skipped) {
        copy->offset = from = off; /* what was before it was trimmed: start here */
        copy->skipped = true;
    }
    if (off > from)
        return STORE_STOP; /* a hole: chunks are contiguous, so nothing is stored there */
    if (off + n <= from)
        return 0;
    size_t take = (size_t)(off + n - from);
    if (take > copy->max - copy->got)
        take = copy->max - copy->got;
    memcpy(copy->buf + copy->got, data + (from - off), take);
    copy->got += take;
    return copy->got < copy->max ? 0 : STORE_STOP;
}

int store_log_read(struct store *st, const struct store_log_key *k, int64_t offset, void *buf,
                   size_t max, size_t *got, int64_t *start)
{
    struct store_arg args[5];
    *got = 0;
    if (start)
        *start = offset;
    int err = store_log_args(st, k, args);
    if (err || max == 0)
        return err;
    /* a chunk that starts before offset may still hold bytes from it on */
    args[4] = store_int(offset - STORE_LOG_CHUNK_MAX - 1);
    struct store_log_copy copy = {.offset = offset, .buf = buf, .max = max};
    err = store_query(st, STORE_STMT_LOG_READ, args, 5, store_log_chunk, &copy);
    *got = copy.got;
    if (start && copy.got)
        *start = copy.offset;
    return err;
}

int store_log_trimmed(struct store *st, const char *workload, int attempt, int64_t *trimmed)
{
    struct store_log_key k = {workload, 0, attempt, "stdout"};
    struct store_arg args[4];
    *trimmed = 0;
    int err = store_log_args(st, &k, args);
    if (err)
        return err;
    struct store_arg which[] = {args[0], args[2]};
    err = store_query_one(st, STORE_STMT_LOG_TRIMMED, which, 2, store_log_end_row, trimmed);
    return err == -ALLOT_ENOENT ? 0 : err;
}

/* ---- the retention: whole attempts, chosen first, then deleted ---- */

/* One attempt chosen for deletion. */
struct output_victim {
    char workload[STORE_LOG_NAME_MAX + 1];
    int64_t attempt, bytes;
};

/* The attempts a trim deletes: at most limit, and, for a workspace over its cap, only until
 * what stays is within the cap (excess: the bytes still to delete; < 0: no such bound). */
struct output_victims {
    struct store *st;
    struct output_victim *v;
    int64_t n, limit;
    int64_t excess;
};

static int output_victim_row(void *ctx, const struct store_row *row)
{
    struct output_victims *all = ctx;
    if (all->n == all->limit || all->excess == 0)
        return STORE_STOP;
    struct output_victim *v = &all->v[all->n];
    int err = store_copy_text(all->st, row, 0, "workload", v->workload, sizeof(v->workload));
    if (err)
        return err;
    v->attempt = store_row_int(row, 1);
    v->bytes = store_row_int(row, 2);
    all->n++;
    if (all->excess > 0)
        all->excess = v->bytes >= all->excess ? 0 : all->excess - v->bytes;
    return 0;
}

/* Delete the chosen attempts' chunks and zero their counts (the triggers keep the
 * workspaces' totals), adding them to *out. */
static int output_drop(struct store *st, const struct output_victims *all,
                       struct store_output_trimmed *out)
{
    for (int64_t i = 0; i < all->n; i++) {
        const struct output_victim *v = &all->v[i];
        struct store_arg args[] = {store_text(v->workload, strlen(v->workload)),
                                   store_int(v->attempt)};
        int err = store_write(st, STORE_STMT_OUTPUT_DROP_LOGS, args, 2, NULL);
        err = err ? err : store_write(st, STORE_STMT_OUTPUT_DROP_ATTEMPT, args, 2, NULL);
        if (err)
            return err;
        out->attempts++;
        out->bytes += v->bytes;
    }
    return 0;
}

/* A trim's transaction: the rule's bound (before_ms or max_bytes), its limit, its result. */
struct output_trim {
    int64_t bound, limit;
    struct store_output_trimmed done;
    struct output_victims all;
};

static int output_age_body(struct store *st, void *ctx)
{
    struct output_trim *t = ctx;
    struct store_arg args[] = {store_int(t->bound), store_int(t->limit)};
    t->all.excess = -1;
    int err = store_query(st, STORE_STMT_OUTPUT_AGED, args, 2, output_victim_row, &t->all);
    return err ? err : output_drop(st, &t->all, &t->done);
}

/* The workspaces over the cap, at most OUTPUT_TRIM_WORKSPACES per call. */
#define OUTPUT_TRIM_WORKSPACES 64
struct output_over {
    struct store *st;
    char workspace[OUTPUT_TRIM_WORKSPACES][STORE_LOG_NAME_MAX + 1];
    int64_t bytes[OUTPUT_TRIM_WORKSPACES];
    int n;
};

static int output_over_row(void *ctx, const struct store_row *row)
{
    struct output_over *over = ctx;
    if (over->n == OUTPUT_TRIM_WORKSPACES)
        return STORE_STOP; /* the query's LIMIT says so already */
    int err = store_copy_text(over->st, row, 0, "workspace", over->workspace[over->n],
                              sizeof(over->workspace[0]));
    over->bytes[over->n++] = store_row_int(row, 1);
    return err;
}

static int output_size_body(struct store *st, void *ctx)
{
    struct output_trim *t = ctx;
    struct output_over *over = calloc(1, sizeof(*over));
    if (!over)
        return -ALLOT_ENOMEM;
    over->st = st;
    struct store_arg args[] = {store_int(t->bound), store_int(OUTPUT_TRIM_WORKSPACES)};
    int err = store_query(st, STORE_STMT_OUTPUT_OVER, args, 2, output_over_row, over);
    for (int i = 0; !err && i < over->n && t->all.limit > 0; i++) {
        struct store_arg oldest[] = {store_text(over->workspace[i], strlen(over->workspace[i])),
                                     store_int(t->all.limit)};
        t->all.n = 0;
        t->all.excess = over->bytes[i] - t->bound;
        err = store_query(st, STORE_STMT_OUTPUT_OLDEST, oldest, 2, output_victim_row, &t->all);
        err = err ? err : output_drop(st, &t->all, &t->done);
        t->all.limit -= t->all.n;
    }
    free(over);
    return err;
}

/* Runs a trim's body with room for limit victims. */
static int output_trim(struct store *st, int64_t bound, int64_t limit,
                       int (*body)(struct store *st, void *ctx), struct store_output_trimmed *out)
{
    memset(out, 0, sizeof(*out));
    if (limit < 1 || limit > STORE_OUTPUT_TRIM_MAX) {
        store_set_errmsg(st, "limit: 1 to %d attempts", STORE_OUTPUT_TRIM_MAX);
        return -ALLOT_EINVAL;
    }
    struct output_trim t = {.bound = bound, .limit = limit};
    t.all.st = st;
    t.all.limit = limit;
    t.all.v = calloc((size_t)limit, sizeof(*t.all.v));
    int err = t.all.v ? store_atomic(st, body, &t) : -ALLOT_ENOMEM;
    free(t.all.v);
    if (!err)
        *out = t.done;
    return err;
}

int store_output_trim_age(struct store *st, int64_t before_ms, int64_t limit,
                          struct store_output_trimmed *out)
{
    return output_trim(st, before_ms, limit, output_age_body, out);
}

int store_output_trim_size(struct store *st, int64_t max_bytes, int64_t limit,
                           struct store_output_trimmed *out)
{
    if (max_bytes < 0) {
        memset(out, 0, sizeof(*out));
        store_set_errmsg(st, "max_bytes: must not be negative");
        return -ALLOT_EINVAL;
    }
    return output_trim(st, max_bytes, limit, output_size_body, out);
}

/* store_output_totals' callback and its context. */
struct output_totals {
    int (*fn)(void *ctx, const char *workspace, int64_t bytes);
    void *ctx;
};

static int output_total_row(void *ctx, const struct store_row *row)
{
    struct output_totals *visit = ctx;
    return visit->fn(visit->ctx, store_row_text(row, 0, NULL), store_row_int(row, 1));
}

int store_output_totals(struct store *st,
                        int (*fn)(void *ctx, const char *workspace, int64_t bytes), void *ctx)
{
    struct output_totals visit = {fn, ctx};
    return store_query(st, STORE_STMT_OUTPUT_TOTALS, NULL, 0, output_total_row, &visit);
}
