/* Fuzz target: a platform YAML file (allot sim --platform, allotd --platform), loaded with
 * source_parse and read by platform_build; what it accepts must also come out as journal ops
 * that the API's readers accept, as allotd applies them. */
/* fuzz-options: -max_len=4096 */
#include <string.h>

#include "schema/op.h"
#include "schema/platform.h"
#include "sched/sched.h"
#include "support.h"

/* Each op of an accepted platform reads back through the journal's reader for it (op.h), as
 * allotd reads it when it applies the platform. */
static void check_ops(const struct source *src)
{
    json_t *ops = NULL;
    struct schema_error e;
    struct arena a;
    FUZZ_CHECK(platform_ops(src, &ops) == 0);
    arena_init(&a, 0);
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        const char *name = json_string_value(json_object_get(op, "op"));
        struct op out;
        int rc = -1;
        memset(&out, 0, sizeof(out));
        if (strcmp(name, OP_SCHEDULER) == 0)
            rc = op_read_scheduler(op, &a, &out, &e);
        else if (strcmp(name, OP_TENANT_ADD) == 0)
            rc = op_read_tenant(op, &a, &out, &e);
        else if (strcmp(name, OP_CLUSTER_ADD) == 0)
            rc = op_read_cluster(op, &a, &out, &e);
        else if (strcmp(name, OP_NODE_ADD) == 0)
            rc = op_read_node(op, &a, &out, &e);
        else if (strcmp(name, OP_WORKSPACE_ADD) == 0)
            rc = op_read_workspace(op, &a, &out, &e);
        FUZZ_CHECK(rc == 0);
    }
    arena_cleanup(&a);
    json_decref(ops);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source src;
    struct sched *s = NULL;
    char err[1024] = "";
    int rc = source_parse("fuzz.yaml", data, size, &src, err, sizeof(err));
    if (rc == 0)
        rc = platform_build(&src, NULL, &s, err, sizeof(err));
    if (rc == 0) {
        FUZZ_CHECK(s != NULL);
        FUZZ_CHECK(sched_check(s, err, sizeof(err)) == 0);
        check_ops(&src);
    } else {
        /* a refusal names the file (and a line and field when the YAML parsed) */
        FUZZ_CHECK(s == NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.yaml", 9) == 0);
    }
    sched_free(s);
    source_cleanup(&src);
    return 0;
}
