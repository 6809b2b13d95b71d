/* The op journal, from which the daemon rebuilds its engine (append, load in order, trim
 * after a snapshot), and the store's small key/value settings (meta). */
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

int store_journal_append(struct store *st, int64_t t_ms, const char *op_json)
{
    size_t len;
    int err = store_check_text(st, "op", op_json, STORE_JOURNAL_MAX, false, &len);
    if (err)
        return err;
    struct store_arg args[] = {store_int(t_ms), store_text(op_json, len)};
    return store_write(st, STORE_STMT_APPEND_JOURNAL, args, 2, NULL);
}

/* store_journal_load's callback and its context. */
struct store_journal_visit {
    int (*fn)(void *ctx, int64_t seq, int64_t t_ms, const char *op_json);
    void *ctx;
};

static int store_journal_row(void *ctx, const struct store_row *row)
{
    struct store_journal_visit *visit = ctx;
    return visit->fn(visit->ctx, store_row_int(row, 0), store_row_int(row, 1),
                     store_row_text(row, 2, NULL));
}

int store_journal_load(struct store *st, int64_t after_seq,
                       int (*fn)(void *ctx, int64_t seq, int64_t t_ms, const char *op_json),
                       void *ctx)
{
    int err = store_read_begin(st, "store_journal_load");
    if (err)
        return err;
    struct store_arg args[] = {store_int(after_seq)};
    struct store_journal_visit visit = {fn, ctx};
    err = store_query(st, STORE_STMT_LOAD_JOURNAL, args, 1, store_journal_row, &visit);
    store_read_end(st);
    return err;
}

int store_journal_trim(struct store *st, int64_t through_seq, int64_t *deleted)
{
    struct store_change change;
    struct store_arg args[] = {store_int(through_seq)};
    int err = store_write(st, STORE_STMT_TRIM_JOURNAL, args, 1, &change);
    if (!err && deleted)
        *deleted = change.rows;
    return err;
}

/* store_meta_get's destination and the key, for the message. */
struct store_meta_value {
    struct store *st;
    const char *key;
    char *buf;
    size_t len;
};

static int store_meta_row(void *ctx, const struct store_row *row)
{
    struct store_meta_value *value = ctx;
    if (!value->buf) {
        store_set_errmsg(value->st, "%s: no buffer for the value", value->key);
        return -ALLOT_ERANGE;
    }
    return store_copy_text(value->st, row, 0, value->key, value->buf, value->len);
}

int store_meta_get(struct store *st, const char *key, char *buf, size_t len)
{
    size_t key_len;
    int err = store_check_name(st, "key", key, &key_len);
    if (err)
        return err;
    struct store_arg args[] = {store_text(key, key_len)};
    struct store_meta_value value = {st, key, buf, len};
    err = store_query_one(st, STORE_STMT_META_GET, args, 1, store_meta_row, &value);
    if (err == -ALLOT_ENOENT)
        store_set_errmsg(st, "%s: not found", key);
    return err;
}

int store_meta_set(struct store *st, const char *key, const char *value)
{
    size_t key_len, value_len;
    int err = store_check_name(st, "key", key, &key_len);
    if (!err && !value) {
        store_set_errmsg(st, "value: missing");
        err = -ALLOT_EINVAL;
    }
    if (!err)
        err = store_check_text(st, "value", value, STORE_META_MAX, true, &value_len);
    if (err)
        return err;
    /* an empty value is stored as '', not NULL */
    struct store_arg args[] = {store_text(key, key_len), store_string(value, value_len)};
    return store_write(st, STORE_STMT_META_SET, args, 2, NULL);
}
