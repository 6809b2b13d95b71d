/* Fuzz target: a platform YAML file (allot sim --platform, allotd --platform), loaded with
 * source_parse and read by platform_build; what it accepts must also come out as journal ops
 * that the API's readers accept, as allotd applies them. */
/* fuzz-options: -max_len=4096 */
#include <string.h>

#include "schema/platform.h"
#include "schema/spec.h"
#include "sched/sched.h"
#include "support.h"

/* Each op of an accepted platform reads back through the reader the API uses for it. */
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
        const json_t *spec = json_object_get(op, "spec");
        struct sched_options opt;
        struct sched_tenant_spec t;
        struct sched_cluster_spec c;
        struct sched_node_spec n;
        struct sched_workspace_spec w;
        int rc = -1;
        sched_options_default(&opt);
        if (strcmp(name, "scheduler") == 0)
            rc = spec_scheduler_from_json(spec, &opt, &e);
        else if (strcmp(name, "tenant_add") == 0)
            rc = spec_tenant_from_json(spec, &a, &t, &e);
        else if (strcmp(name, "cluster_add") == 0)
            rc = spec_cluster_from_json(spec, &a, &c, &e);
        else if (strcmp(name, "node_add") == 0)
            rc = spec_node_from_json(spec, &a, &n, &e);
        else if (strcmp(name, "workspace_add") == 0)
            rc = spec_workspace_from_json(spec, NULL, &a, &w, &e);
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
