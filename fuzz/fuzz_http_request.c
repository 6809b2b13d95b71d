/* Fuzz target: a request's target ("/v1/nodes/gpu%2Da/drain?wait=10") through allotd's parsing
 * before authentication, in server.c's order: libevent's URI split, the path's %XX decoding
 * and text check, the query's split and text check, the match against every route of
 * api_routes, then the whole number parameters as the handlers read them. */
/* fuzz-options: -max_len=2048 */
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "allotd/api.h"
#include "allotd/fleet.h"
#include "sched/sched.h"
#include "common/protocol.h"
#include "support.h"

/* The whole number parameters of the handlers (api.c), with their widest bounds. */
static const struct {
    const char *key;
    long long lo, hi, dflt;
} numbers[] = {
    {"wait", 0, PROTOCOL_MAX_WAIT_MS, 0},
    {"epoch", 0, INT64_MAX, 0},
    {"version", 0, INT64_MAX, 0},
    {"limit", 1, 1000, 100},
    {"after", -1, (long long)SCHED_NONE - 1, -1},
    {"rank", 0, SCHED_MAX_REPLICAS - 1, 0},
    {"attempt", 1, INT32_MAX, 1},
    {"offset", 0, INT64_MAX, 0},
};

static void check_query(struct evkeyvalq *query)
{
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        long long v = numbers[i].dflt - 1;
        const char *q = evhttp_find_header(query, numbers[i].key);
        int rc = api_query_parse(q, numbers[i].lo, numbers[i].hi, numbers[i].dflt, &v);
        FUZZ_CHECK(rc == 0 || (rc < 0 && q != NULL));
        if (rc == 0)
            FUZZ_CHECK(q ? v >= numbers[i].lo && v <= numbers[i].hi : v == numbers[i].dflt);
    }
}

static void check_routes(const char *path)
{
    for (const struct route *r = api_routes; r->fn; r++) {
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", path);
        struct call c;
        memset(&c, 0, sizeof(c));
        if (!server_route_match(r->pattern, copy, &c))
            continue;
        FUZZ_CHECK(c.n_args >= 0 && c.n_args <= SERVER_MAX_PATH_ARGS);
        for (int i = 0; i < c.n_args; i++) {
            FUZZ_CHECK(c.args[i] >= copy && c.args[i] < copy + sizeof(copy));
            FUZZ_CHECK(c.args[i][0] != '\0' && strchr(c.args[i], '/') == NULL);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *target = fuzz_text(data, size);
    struct evhttp_uri *uri =
        target ? evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT) : NULL;
    struct evkeyvalq query;
    TAILQ_INIT(&query);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *raw_query = uri ? evhttp_uri_get_query(uri) : NULL;
    char path[1024];
    if (!raw_path || strlen(raw_path) >= sizeof(path))
        goto out;
    snprintf(path, sizeof(path), "%s", raw_path);
    size_t before = strlen(path);
    if (!server_path_decode(path) || !server_text_ok(path))
        goto out;
    FUZZ_CHECK(strlen(path) <= before);
    if (raw_query && evhttp_parse_query_str(raw_query, &query) != 0)
        goto out;
    for (const struct evkeyval *q = query.tqh_first; q; q = q->next.tqe_next)
        if (!server_text_ok(q->key) || !server_text_ok(q->value))
            goto out;
    check_routes(path);
    check_query(&query);
out:
    evhttp_clear_headers(&query);
    if (uri)
        evhttp_uri_free(uri);
    free(target);
    return 0;
}
