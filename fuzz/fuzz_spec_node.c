/* Fuzz target: a node's API body (POST /v1/nodes: GPUs, MIG layouts, labels), read as allotd
 * reads it and handed to spec_node_from_json. */
/* fuzz-options: -max_len=4096 */
#include <string.h>

#include "schema/spec.h"
#include "support.h"

static int read_node(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct sched_node_spec *n = out;
    int rc = spec_node_from_json(body, a, n, err);
    if (rc != 0)
        return rc;
    FUZZ_CHECK(reader_is_name(n->name, strlen(n->name)));
    FUZZ_CHECK(reader_is_name(n->cluster, strlen(n->cluster)));
    FUZZ_CHECK(n->cpu >= 0 && n->memory >= 0);
    FUZZ_CHECK(n->n_gpus <= SCHEMA_MAX_GPUS);
    for (uint32_t i = 0; i < n->n_gpus; i++)
        FUZZ_CHECK(n->gpus[i].n_mig <= MIG_MAX_INSTANCES);
    for (uint32_t i = 0; i < n->n_labels; i++)
        FUZZ_CHECK(strlen(n->labels[i].key) <= SCHEMA_MAX_LABEL &&
                   strlen(n->labels[i].value) <= SCHEMA_MAX_LABEL);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sched_node_spec out;
    return fuzz_read_body(data, size, read_node, &out);
}
