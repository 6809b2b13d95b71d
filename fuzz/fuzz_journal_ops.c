/* Fuzz target: journal ops replayed. The input is a JSON array of ops, each run through the
 * controller's op table (ops_run: the reader of its kind, then its apply) on a controller
 * freshly opened over a small platform, as the journal's replay runs them; whatever they are,
 * the engine must still pass sched_check afterwards, and no op may break an invariant. */
/* fuzz-options: -max_len=8192 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "allotd/controller.h"
#include "allotd/ops.h"
#include "allotd/server.h"
#include "common/error.h"
#include "schema/op.h"
#include "support.h"

/* The platform every input starts from: two tenants, nodes with whole and MIG GPUs, three
 * workspaces (one reserving GPUs, one that does not lend). */
static const char *const platform[] = {
    "{\"op\": \"tenant_add\", \"spec\": {\"name\": \"acme\", \"max_grace\": \"5m\"}}",
    "{\"op\": \"tenant_add\", \"spec\": {\"name\": \"beta\"}}",
    "{\"op\": \"cluster_add\", \"spec\": {\"name\": \"c1\"}}",
    "{\"op\": \"node_add\", \"spec\": {\"name\": \"n1\", \"cluster\": \"c1\", \"tenant\": "
    "\"acme\", \"cpu\": 64, \"memory\": \"256Gi\", \"gpus\": [{\"model\": \"H100-80GB\", "
    "\"count\": 4}, {\"model\": \"A100-40GB\", \"mig\": [\"3g.20gb\", \"2g.10gb\", "
    "\"1g.5gb\"]}]}}",
    "{\"op\": \"node_add\", \"spec\": {\"name\": \"n2\", \"cluster\": \"c1\", \"tenant\": "
    "\"beta\", \"cpu\": 32, \"memory\": \"128Gi\", \"gpus\": [{\"model\": \"L40S\", "
    "\"count\": 2}]}}",
    "{\"op\": \"node_add\", \"spec\": {\"name\": \"n3\", \"cluster\": \"c1\", \"cpu\": 8, "
    "\"memory\": \"16Gi\"}}",
    "{\"op\": \"workspace_add\", \"spec\": {\"name\": \"acme/prod\", \"reserved\": {\"gpu\": 2}}}",
    "{\"op\": \"workspace_add\", \"spec\": {\"name\": \"acme/lab\", \"lend\": false, "
    "\"reserved\": {\"gpu\": 1}}}",
    "{\"op\": \"workspace_add\", \"spec\": {\"name\": \"beta/w\", \"limits\": {\"gpu\": 1}}}",
};

static char root[256];
static struct event_base *base;

/* Remove the data directory and its files (the store's) when the fuzzer exits. */
static void root_remove(void)
{
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[512];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            (size_t)snprintf(path, sizeof(path), "%s/%s", root, e->d_name) < sizeof(path))
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(root);
}

/* The data directory and the event base, once: the store is opened anew for each input. */
static void setup(void)
{
    if (base)
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/allot-fuzz-ops-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(root) != NULL);
    atexit(root_remove);
    base = event_base_new();
    FUZZ_CHECK(base != NULL);
}

/* Run op through the op table at time t; a refusal is fine, a broken invariant is not. */
static void run(struct controller *ctl, const json_t *op, int64_t t)
{
    char field[128], err[512];
    json_t *result = NULL;
    int rc = ops_run(ctl, op, t, &result, field, sizeof(field), err, sizeof(err));
    json_decref(result);
    FUZZ_CHECK(rc != -ALLOT_ECHECK);
    FUZZ_CHECK(rc <= 0 && rc > -ALLOT_E_COUNT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *ops = fuzz_json_body(data, size);
    if (!json_is_array(ops)) {
        json_decref(ops);
        return 0;
    }
    setup();
    struct controller_options opt = {.data_dir = root, .virtual_nodes = true};
    struct controller *ctl = NULL;
    char err[512];
    FUZZ_CHECK(controller_open(base, &opt, &ctl, err, sizeof(err)) == 0);
    int64_t t = 1000000;
    for (size_t i = 0; i < sizeof(platform) / sizeof(platform[0]); i++) {
        json_t *op = json_loads(platform[i], 0, NULL);
        FUZZ_CHECK(op != NULL);
        run(ctl, op, t);
        json_decref(op);
    }
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        run(ctl, op, t);
        t += 1000;
        if (i % 4 == 3) /* now and then a scheduling pass, as a commit makes */
            FUZZ_CHECK(sched_schedule(ctl->engine, t) == 0);
    }
    FUZZ_CHECK(sched_schedule(ctl->engine, t) == 0);
    int broken = sched_check(ctl->engine, err, sizeof(err));
    if (broken)
        fprintf(stderr, "sched_check: %s\n", err);
    FUZZ_CHECK(broken == 0);
    controller_close(ctl);
    json_decref(ops);
    return 0;
}
