/* Fuzz target: a workspace's change (PATCH /v1/workspaces/{name}), read as allotd reads it and
 * handed to spec_workspace_patch_from_json over a workspace as the controller fills it. */
/* fuzz-options: -max_len=2048 */
#include <string.h>

#include "schema/spec.h"
#include "support.h"

static const struct sched_workspace_spec current = {.name = "acme/prod",
                                                    .limits = {.gpu = SCHED_UNLIMITED,
                                                               .cpu = 64000,
                                                               .memory = 1LL << 40,
                                                               .storage = SCHED_UNLIMITED},
                                                    .reserved = 4 * 840,
                                                    .lend = true,
                                                    .weight = 2};

static int read_patch(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct sched_workspace_spec *w = out;
    *w = current;
    int rc = spec_workspace_patch_from_json(body, a, w, err);
    if (rc == 0) {
        FUZZ_CHECK(strcmp(w->name, current.name) == 0);
        FUZZ_CHECK(w->weight >= 1 && w->reserved >= 0);
    } else {
        /* changed only on success */
        FUZZ_CHECK(w->name == current.name && w->reserved == current.reserved &&
                   w->lend == current.lend && w->weight == current.weight);
        FUZZ_CHECK(memcmp(&w->limits, &current.limits, sizeof(current.limits)) == 0);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sched_workspace_spec out;
    return fuzz_read_body(data, size, read_patch, &out);
}
