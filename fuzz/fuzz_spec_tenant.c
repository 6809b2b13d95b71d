/* Fuzz target: a tenant's API body (POST /v1/tenants), read as allotd reads it and handed to
 * spec_tenant_from_json. */
/* fuzz-options: -max_len=1024 */
#include <string.h>

#include "schema/spec.h"
#include "support.h"

static int read_tenant(const json_t *body, struct arena *a, void *out, struct schema_error *err)
{
    struct sched_tenant_spec *t = out;
    int rc = spec_tenant_from_json(body, a, t, err);
    if (rc == 0) {
        FUZZ_CHECK(reader_is_name(t->name, strlen(t->name)));
        FUZZ_CHECK(t->max_grace_ms >= 0);
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sched_tenant_spec out;
    return fuzz_read_body(data, size, read_tenant, &out);
}
