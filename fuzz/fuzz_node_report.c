/* Fuzz target: a node agent's report (POST /v1/nodes/{node}/report), read as allotd reads a
 * body and handed to nodereport_from_json for a node of 8 GPUs. */
/* fuzz-options: -max_len=4096 */
#include <string.h>

#include "schema/nodereport.h"
#include "support.h"

#define NODE_GPUS 8

static int read_report(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct nodereport *rep = out;
    int rc = nodereport_from_json(body, NODE_GPUS, a, rep, err);
    if (rc == 0) {
        for (uint32_t i = 0; i < rep->n_gpus; i++)
            FUZZ_CHECK(rep->gpus[i].index < NODE_GPUS);
        FUZZ_CHECK(rep->n_workloads <= PROTOCOL_MAX_REPORTED);
        for (uint32_t i = 0; i < rep->n_workloads; i++)
            FUZZ_CHECK(strlen(rep->workloads[i].name) <= PROTOCOL_MAX_WORKLOAD_NAME);
        FUZZ_CHECK(!rep->tenant || strlen(rep->tenant) <= SCHEMA_MAX_NAME);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nodereport out;
    return fuzz_read_body(data, size, read_report, &out);
}
