/* Fuzz target: a workspace's API body (POST /v1/workspaces), read as allotd reads it and
 * handed to spec_workspace_from_json, as the controller does (full names only) and as a
 * tenant's own document does (bare names allowed in a default tenant). */
/* fuzz-options: -max_len=2048 */
#include <string.h>

#include "schema/spec.h"
#include "support.h"

static void check_workspace(const struct sched_workspace_spec *w)
{
    FUZZ_CHECK(reader_is_workspace_name(w->name));
    FUZZ_CHECK(w->weight >= 1);
    FUZZ_CHECK(w->reserved >= 0);
    /* time limits: none (0), or bounded, the default not above the maximum */
    FUZZ_CHECK(w->default_time_limit_ms >= 0 &&
               w->default_time_limit_ms <= SCHED_MAX_TIME_LIMIT_MS);
    FUZZ_CHECK(w->max_time_limit_ms >= 0 && w->max_time_limit_ms <= SCHED_MAX_TIME_LIMIT_MS);
    FUZZ_CHECK(!w->max_time_limit_ms || w->default_time_limit_ms <= w->max_time_limit_ms);
}

static int read_full(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    int rc = spec_workspace_from_json(body, NULL, a, out, err);
    if (rc == 0)
        check_workspace(out);
    return rc;
}

static int read_in_tenant(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct sched_workspace_spec *w = out;
    int rc = spec_workspace_from_json(body, "acme", a, w, err);
    if (rc == 0) {
        check_workspace(w);
        FUZZ_CHECK(strncmp(w->name, "acme/", 5) == 0);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sched_workspace_spec out;
    fuzz_read_body(data, size, read_full, &out);
    return fuzz_read_body(data, size, read_in_tenant, &out);
}
