/* Workloads' output in the store, as their agents ship it: chunks at byte offsets of one
 * stream of one attempt of one replica, appended and read back across chunks. */
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

int store_log_append(struct store *st, const struct store_log_key *k, int64_t offset,
                     const void *data, size_t len)
{
    if (offset < 0 || len == 0 || len > STORE_LOG_CHUNK_MAX) {
        store_set_errmsg(st, "%s",
                         offset < 0 ? "offset: must not be negative"
                                    : "data: 1 to STORE_LOG_CHUNK_MAX bytes");
        return -ALLOT_EINVAL;
    }
    struct store_arg args[6];
    int err = store_log_args(st, k, args);
    if (err)
        return err;
    args[4] = store_int(offset);
    args[5] = store_blob(data, len);
    return store_write(st, STORE_STMT_LOG_APPEND, args, 6, NULL);
}

/* store_log_read's destination: the bytes wanted from offset, and how many came. */
struct store_log_copy {
    int64_t offset;
    char *buf;
    size_t max, got;
};

static int store_log_chunk(void *ctx, const struct store_row *row)
{
    struct store_log_copy *copy = ctx;
    size_t len;
    int64_t off = store_row_int(row, 0);
    const char *data = store_row_blob(row, 1, &len);
    int64_t n = (int64_t)len;
    int64_t from = copy->offset + (int64_t)copy->got; /* the next byte wanted */
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
                   size_t max, size_t *got)
{
    struct store_arg args[5];
    *got = 0;
    int err = store_log_args(st, k, args);
    if (err || max == 0)
        return err;
    /* a chunk that starts before offset may still hold bytes from it on */
    args[4] = store_int(offset - STORE_LOG_CHUNK_MAX - 1);
    struct store_log_copy copy = {.offset = offset, .buf = buf, .max = max};
    err = store_query(st, STORE_STMT_LOG_READ, args, 5, store_log_chunk, &copy);
    *got = copy.got;
    return err;
}
