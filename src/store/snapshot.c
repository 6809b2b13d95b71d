/* Snapshots of the daemon's state (store.h, docs/store.md "Snapshots"): written with the
 * journal position they cover, the two newest kept, the journal trimmed through the older;
 * and the journal's bounds, which say whether a snapshot is needed to start at all. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

int store_journal_bounds(struct store *st, int64_t *first, int64_t *last)
{
    int64_t v[2] = {0, 0};
    int err = store_query_ints(st, STORE_STMT_JOURNAL_BOUNDS, v, 2);
    *first = v[0];
    *last = v[1];
    return err;
}

/* The writes of store_snapshot_write, inside its transaction. */
static int snapshot_put(struct store *st, int64_t t_ms, const void *engine, size_t engine_len,
                        const char *controller, size_t controller_len, int64_t *seq,
                        int64_t *trimmed)
{
    struct store_arg add[] = {store_int(t_ms), store_blob(engine, engine_len),
                              store_text(controller, controller_len)};
    struct store_arg keep[] = {store_int(STORE_SNAPSHOTS_KEPT)};
    int err = store_write(st, STORE_STMT_SNAPSHOT_ADD, add, 3, NULL);
    err = err ? err : store_write(st, STORE_STMT_SNAPSHOT_PRUNE, keep, 1, NULL);
    int64_t span[2] = {0, 0}; /* the oldest and newest kept */
    err = err ? err : store_query_ints(st, STORE_STMT_SNAPSHOT_SPAN, span, 2);
    err = err ? err : store_journal_trim(st, span[0], trimmed);
    if (!err && seq)
        *seq = span[1];
    return err;
}

int store_snapshot_write(struct store *st, int64_t t_ms, const void *engine, size_t engine_len,
                         const char *controller_json, int64_t *seq, int64_t *trimmed)
{
    size_t controller_len = 0;
    if (trimmed)
        *trimmed = 0;
    if (!engine || engine_len == 0 || engine_len > STORE_SNAPSHOT_MAX) {
        store_set_errmsg(st, "engine: a snapshot's engine part is 1 to %u bytes",
                         STORE_SNAPSHOT_MAX);
        return -ALLOT_EINVAL;
    }
    int err = store_check_text(st, "controller", controller_json, STORE_SNAPSHOT_MAX, false,
                               &controller_len);
    err = err ? err : store_check_writable(st);
    if (err)
        return err;
    bool own = !st->in_batch; /* its writes are one transaction, or the caller's */
    if (own && (err = store_batch_begin(st)) != 0)
        return err;
    err = snapshot_put(st, t_ms, engine, engine_len, controller_json, controller_len, seq, trimmed);
    if (own)
        err = err ? (store_batch_rollback(st), err) : store_batch_commit(st);
    return err;
}

/* Copies the row of a snapshot into the struct store_snapshot ctx. */
static int snapshot_row(void *ctx, const struct store_row *row)
{
    struct store_snapshot *out = ctx;
    size_t engine_len, controller_len;
    const void *engine = store_row_blob(row, 2, &engine_len);
    const char *controller = store_row_text(row, 3, &controller_len);
    out->seq = store_row_int(row, 0);
    out->t_ms = store_row_int(row, 1);
    out->engine = malloc(engine_len ? engine_len : 1);
    out->controller = malloc(controller_len + 1);
    if (!out->engine || !out->controller || (engine_len && !engine))
        return -ALLOT_ENOMEM;
    if (engine_len)
        memcpy(out->engine, engine, engine_len);
    out->engine_len = engine_len;
    memcpy(out->controller, controller, controller_len);
    out->controller[controller_len] = '\0';
    return 0;
}

int store_snapshot_read(struct store *st, int k, struct store_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    int err = store_read_begin(st, "store_snapshot_read");
    if (err)
        return err;
    struct store_arg args[] = {store_int(k < 0 ? 0 : k)};
    err = store_query_one(st, STORE_STMT_SNAPSHOT_READ, args, 1, snapshot_row, out);
    if (err == -ALLOT_ENOENT)
        store_set_errmsg(st, "no snapshot %d", k);
    store_read_end(st);
    if (err)
        store_snapshot_free(out);
    return err;
}

void store_snapshot_free(struct store_snapshot *s)
{
    if (!s)
        return;
    free(s->engine);
    free(s->controller);
    memset(s, 0, sizeof(*s));
}
