/* Fuzz target: a chunk of a workload's output shipped by a node agent (POST
 * /v1/nodes/{name}/logs?workload=&rank=&attempt=&offset=&stream=, the bytes as body): the query
 * read as post_node_logs reads it (api.c), then where output_span puts the bytes in a stream
 * that already ends somewhere. Input: 8 bytes of where the stream ends (taken modulo
 * OUTPUT_STREAM_MAX + 1), the query string up to a newline, then the body. */
/* fuzz-options: -max_len=1024 */
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "allotd/api.h"
#include "allotd/output.h"
#include "sched/sched.h"
#include "store/store.h"
#include "support.h"

/* The chunk's parameters as post_node_logs takes them; false where it answers 400. */
static bool read_query(const char *raw, struct evkeyvalq *query, long long *rank,
                       long long *attempt, long long *offset)
{
    if (evhttp_parse_query_str(raw, query) != 0)
        return false;
    for (const struct evkeyval *q = query->tqh_first; q; q = q->next.tqe_next)
        if (!server_text_ok(q->key) || !server_text_ok(q->value))
            return false;
    const char *stream = evhttp_find_header(query, "stream");
    return api_query_parse(evhttp_find_header(query, "rank"), 0, SCHED_MAX_REPLICAS - 1, 0, rank) ==
               0 &&
           api_query_parse(evhttp_find_header(query, "attempt"), 1, INT32_MAX, 1, attempt) == 0 &&
           api_query_parse(evhttp_find_header(query, "offset"), 0, INT64_MAX, 0, offset) == 0 &&
           stream && (strcmp(stream, "stdout") == 0 || strcmp(stream, "stderr") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t raw_at;
    memcpy(&raw_at, data, sizeof(raw_at));
    int64_t at = (int64_t)(raw_at % (uint64_t)(OUTPUT_STREAM_MAX + 1));
    const uint8_t *rest = data + 8, *nl = memchr(rest, '\n', size - 8);
    size_t qlen = nl ? (size_t)(nl - rest) : size - 8;
    char *raw_query = fuzz_text(rest, qlen);
    size_t len = nl ? size - 8 - qlen - 1 : 0;
    struct evkeyvalq query;
    TAILQ_INIT(&query);
    long long rank, attempt, offset;
    if (raw_query && read_query(raw_query, &query, &rank, &attempt, &offset) &&
        len <= STORE_LOG_CHUNK_MAX) {
        size_t skip, take;
        int64_t end;
        output_span(at, offset, len, &skip, &take, &end);
        FUZZ_CHECK(take == 0 || (skip < len && take <= len - skip));
        FUZZ_CHECK(at + (int64_t)take <= OUTPUT_STREAM_MAX);
        FUZZ_CHECK(take == 0 || offset + (int64_t)skip == at); /* no gap, no overlap */
        FUZZ_CHECK(end >= at + (int64_t)take);
        FUZZ_CHECK(end == at + (int64_t)take || at + (int64_t)take == OUTPUT_STREAM_MAX);
    }
    evhttp_clear_headers(&query);
    free(raw_query);
    return 0;
}
