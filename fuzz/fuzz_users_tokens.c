/* Fuzz target: the bodies of POST /v1/users, PATCH /v1/users/{name} and POST /v1/tokens, read
 * as allotd reads them and checked by reader_check_fields with the key lists of api.c. */
/* fuzz-options: -max_len=1024 */
#include <string.h>

#include "support.h"

/* The key lists of post_user, patch_user and post_token (src/allotd/api.c), with the keys
 * each lets be null. */
static const struct {
    const char *const *keys;
    const char *const *nullable;
} bodies[] = {
    {(const char *const[]){"name", "role", "tenant", "workspace", NULL},
     (const char *const[]){"tenant", "workspace", NULL}},
    {(const char *const[]){"role", "tenant", "workspace", NULL},
     (const char *const[]){"tenant", "workspace", NULL}},
    {(const char *const[]){"user", "node", "join", NULL}, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fuzz_json_body(data, size);
    if (!body)
        return 0;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct schema_error err;
        memset(&err, 0x5a, sizeof(err));
        int rc = reader_check_fields(body, bodies[i].keys, bodies[i].nullable, &err);
        fuzz_check_reader(rc, &err);
        if (rc == 0) /* every key it let through is one of the list */
            FUZZ_CHECK(json_is_object(body));
    }
    json_decref(body);
    return 0;
}
