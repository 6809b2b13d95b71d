/* Fuzz target: a cluster's API body (POST /v1/clusters), read as allotd reads it and handed to
 * spec_cluster_from_json. */
/* fuzz-options: -max_len=1024 */
#include <string.h>

#include "schema/spec.h"
#include "support.h"

static int read_cluster(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct sched_cluster_spec *c = out;
    int rc = spec_cluster_from_json(body, a, c, err);
    if (rc == 0) {
        FUZZ_CHECK(reader_is_name(c->name, strlen(c->name)));
        FUZZ_CHECK(!c->dedicated_to || reader_is_name(c->dedicated_to, strlen(c->dedicated_to)));
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sched_cluster_spec out;
    return fuzz_read_body(data, size, read_cluster, &out);
}
