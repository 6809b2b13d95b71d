/* Fuzz target: a CDI spec file (what the node agent reads from /etc/cdi and /var/run/cdi), read
 * by cdi_spec_read (source_parse, then the spec's readers); what it accepts must hold what
 * cdi.h promises, and a refusal must name the file. */
/* fuzz-options: -max_len=8192 */
#include <string.h>

#include "common/error.h"
#include "schema/cdi.h"
#include "support.h"

/* An absolute path, as the reader promises for every path it keeps. */
static void check_path(const char *path)
{
    FUZZ_CHECK(path != NULL && path[0] == '/');
    FUZZ_CHECK(strstr(path, "/../") == NULL);
}

/* Every edit of e within its bounds and of the form promised. */
static void check_edits(const struct cdi_edits *e)
{
    FUZZ_CHECK(e->n_env <= CDI_MAX_EDITS && e->n_device_nodes <= CDI_MAX_EDITS &&
               e->n_mounts <= CDI_MAX_EDITS && e->n_hooks <= CDI_MAX_EDITS &&
               e->n_additional_gids <= CDI_MAX_EDITS);
    for (size_t i = 0; i < e->n_env; i++)
        FUZZ_CHECK(strchr(e->env[i], '=') != NULL && e->env[i][0] != '=');
    for (size_t i = 0; i < e->n_device_nodes; i++) {
        const struct cdi_device_node *d = &e->device_nodes[i];
        check_path(d->path);
        if (d->host_path)
            check_path(d->host_path);
        FUZZ_CHECK(d->type == 0 || d->type == 'c' || d->type == 'b');
        FUZZ_CHECK(d->major >= -1 && d->minor >= -1);
        if (d->permissions) {
            FUZZ_CHECK(d->permissions[0] != '\0');
            FUZZ_CHECK(strspn(d->permissions, "rwm") == strlen(d->permissions));
        }
    }
    for (size_t i = 0; i < e->n_mounts; i++) {
        check_path(e->mounts[i].host_path);
        check_path(e->mounts[i].container_path);
    }
    for (size_t i = 0; i < e->n_hooks; i++) {
        FUZZ_CHECK(e->hooks[i].hook_name != NULL);
        check_path(e->hooks[i].path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    struct cdi_spec spec;
    struct schema_error err;
    char msg[1024] = "";
    arena_init(&a, 0);
    int rc = cdi_spec_read("fuzz.yaml", (const char *)data, size, &a, &spec, msg, sizeof(msg));
    if (rc == 0) {
        FUZZ_CHECK(spec.path && strcmp(spec.path, "fuzz.yaml") == 0);
        FUZZ_CHECK(spec.version && spec.kind && cdi_is_kind(spec.kind, strlen(spec.kind)));
        FUZZ_CHECK(spec.n_devices >= 1 && spec.n_devices <= CDI_MAX_DEVICES);
        for (size_t i = 0; i < spec.n_devices; i++) {
            const char *name = spec.devices[i].name;
            FUZZ_CHECK(cdi_is_device_name(name, strlen(name)));
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(strcmp(spec.devices[k].name, name) != 0);
            check_edits(&spec.devices[i].edits);
        }
        check_edits(&spec.edits);
    } else {
        FUZZ_CHECK(rc < 0);
        FUZZ_CHECK(strncmp(msg, "fuzz.yaml", 9) == 0);
        FUZZ_CHECK(spec.kind == NULL && spec.n_devices == 0);
    }
    /* the schema error of cdi_spec_parse agrees with it */
    int again = cdi_spec_parse("fuzz.yaml", (const char *)data, size, &a, &spec, &err);
    FUZZ_CHECK(again == rc);
    if (again) {
        FUZZ_CHECK(again == -ALLOT_EINVAL || again == -ALLOT_ERANGE || again == -ALLOT_EEXIST ||
                   again == -ALLOT_EPARSE || again == -ALLOT_ENOMEM);
        FUZZ_CHECK(err.code == again && err.message[0] != '\0');
        FUZZ_CHECK(memchr(err.field, '\0', sizeof(err.field)) != NULL);
    }
    arena_cleanup(&a);
    return 0;
}
