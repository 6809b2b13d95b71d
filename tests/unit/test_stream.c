/* Unit tests for allotd/stream without HTTP: each queued event is stored once, in the
 * commit's transaction, with the scope the streams filter on; a round without streams
 * frees what it sent. The streams themselves are tested over HTTP (test_streams.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "allotd/stream.h"
#include "common/error.h"
#include "store/store.h"
#include "support.h"

struct fixture {
    char root[256];
    struct event_base *base;
    struct store *store;
    struct stream *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char data[300], err[256];
    const char *tmp = getenv("TMPDIR");
    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/allot-stream-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(data, sizeof(data), "%s/data", f->root);
    f->base = event_base_new();
    struct stream_options opt = {0};
    if (!f->base || store_open(data, &f->store, err, sizeof(err)) ||
        stream_new(f->base, f->store, &opt, &f->st))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stream_free(f->st);
    store_close(f->store);
    event_base_free(f->base);
    support_remove_tree(f->root);
    free(f);
    return 0;
}

/* Queue the event in text, which must parse. */
static void queue(struct stream *st, const char *text)
{
    json_t *ev = json_loads(text, 0, NULL);
    assert_non_null(ev);
    assert_int_equal(stream_queue_take(st, ev), 0);
}

/* The stored events, oldest first. */
struct stored {
    int n;
    int64_t seq[8];
    char tenant[8][32]; /* "" for none */
    char kind[8][32];
    char json[8][256];
};

static int on_event(void *arg, const struct store_event *ev)
{
    struct stored *s = arg;
    if (s->n == 8)
        return -1;
    s->seq[s->n] = ev->seq;
    snprintf(s->tenant[s->n], sizeof(s->tenant[0]), "%s", ev->tenant ? ev->tenant : "");
    snprintf(s->kind[s->n], sizeof(s->kind[0]), "%s", ev->kind);
    snprintf(s->json[s->n], sizeof(s->json[0]), "%s", ev->json);
    s->n++;
    return 0;
}

static void test_events_are_stored_once_with_their_scope(void **state)
{
    struct fixture *f = *state;
    queue(f->st, "{\"event\":\"submitted\",\"workload\":\"acme/research/w1\","
                 "\"workspace\":\"acme/research\"}");
    queue(f->st, "{\"event\":\"reservation_degraded\",\"tenant\":\"beta\"}");
    queue(f->st, "{\"event\":\"node_state\",\"node\":\"gpu-a\",\"state\":\"draining\"}");
    assert_int_equal(store_batch_begin(f->store), 0);
    assert_int_equal(stream_store(f->st, 1000), 0);
    assert_int_equal(store_batch_commit(f->store), 0);
    /* the queue was emptied: a second store in another commit adds nothing */
    assert_int_equal(store_batch_begin(f->store), 0);
    assert_int_equal(stream_store(f->st, 2000), 0);
    assert_int_equal(store_batch_commit(f->store), 0);

    struct stored s = {0};
    assert_int_equal(store_events_read(f->store, 0, 100, on_event, &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], 1);
    assert_int_equal(s.seq[2], 3);
    /* the tenant of a workspace is its first part; a named tenant is itself; a node's none */
    assert_string_equal(s.tenant[0], "acme");
    assert_string_equal(s.tenant[1], "beta");
    assert_string_equal(s.tenant[2], "");
    assert_string_equal(s.kind[0], "submitted");
    assert_string_equal(s.kind[2], "node_state");
    assert_non_null(strstr(s.json[0], "\"workspace\":\"acme/research\""));
    assert_null(strchr(s.json[0], '\n')); /* one line: it is a data: line of the stream */
    int64_t last = 0;
    assert_int_equal(store_events_last(f->store, &last), 0);
    assert_int_equal(last, 3);
}

static void test_rounds_without_streams(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 3; round++) {
        queue(f->st, "{\"event\":\"submitted\",\"workload\":\"acme/research/w\","
                     "\"workspace\":\"acme/research\"}");
        assert_int_equal(store_batch_begin(f->store), 0);
        assert_int_equal(stream_store(f->st, 1000 + round), 0);
        assert_int_equal(store_batch_commit(f->store), 0);
        stream_publish(f->st);
        /* the round runs on the loop: let it (it is due within STREAM_ROUND_MS) */
        struct timeval tv = {0, 100 * 1000};
        event_base_loopexit(f->base, &tv);
        assert_int_equal(event_base_dispatch(f->base), 0);
    }
    struct stream_stats ss;
    stream_stats(f->st, &ss);
    assert_int_equal(ss.open, 0);
    assert_int_equal(ss.refused, 0);
    assert_int_equal(ss.overflows, 0);
}

static void test_free_accepts_null(void **state)
{
    stream_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_are_stored_once_with_their_scope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rounds_without_streams, setup, teardown),
        cmocka_unit_test(test_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
