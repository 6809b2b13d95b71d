/* Fuzz target: a workload submission (POST /v1/workloads: resources, image, working directory,
 * command, environment), read as allotd reads it and handed to workload_from_json. */
/* fuzz-options: -max_len=8192 */
#include <string.h>

#include "common/imageref.h"
#include "schema/workload.h"
#include "support.h"

static int read_workload(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct workload_spec *w = out;
    int rc = workload_from_json(body, a, w, err);
    if (rc != 0)
        return rc;
    FUZZ_CHECK(reader_is_name(w->w.name, strlen(w->w.name)));
    FUZZ_CHECK(reader_is_workspace_name(w->w.workspace));
    FUZZ_CHECK(w->w.replicas >= 1);
    FUZZ_CHECK(w->w.time_limit_ms >= 0 && w->w.time_limit_ms <= SCHED_MAX_TIME_LIMIT_MS);
    FUZZ_CHECK(w->n_command <= SCHEMA_MAX_COMMAND && w->n_env <= SCHEMA_MAX_ENV);
    /* an image passes the one rule; a workdir comes only with one, absolute and bounded */
    FUZZ_CHECK(w->w.has_image == (w->image != NULL));
    struct imageref ref;
    char why[160];
    FUZZ_CHECK(!w->image ||
               imageref_parse(w->image, strlen(w->image), &ref, why, sizeof(why)) == 0);
    size_t dir_len = w->workdir ? strlen(w->workdir) : 0;
    FUZZ_CHECK(!w->workdir || (w->image && w->workdir[0] == '/' && dir_len <= SCHEMA_MAX_WORKDIR &&
                               !strstr(w->workdir, "/../") &&
                               !(dir_len >= 3 && strcmp(w->workdir + dir_len - 3, "/..") == 0)));
    for (uint32_t i = 0; i < w->n_command; i++)
        FUZZ_CHECK(strlen(w->command[i]) <= SCHEMA_MAX_ARG);
    for (uint32_t i = 0; i < w->n_env; i++)
        FUZZ_CHECK(strlen(w->env[i].name) <= SCHEMA_MAX_ENV_NAME &&
                   strlen(w->env[i].value) <= SCHEMA_MAX_ENV_VALUE);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct workload_spec out;
    return fuzz_read_body(data, size, read_workload, &out);
}
