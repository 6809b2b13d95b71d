/* Unit tests for schema/platform: a full platform loads into the engine as written, and each
 * kind of bad input is refused with its error code and a "file:line: field" message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/quantity.h"
#include "schema/platform.h"
#include "schema/source.h"
#include "sched/sched.h"

#define GPU QUANTITY_GPU_UNITS
#define GI ((int64_t)1 << 30)

/* The temporary directory of this run and the one file the tests write in it. */
static char dir[64];
static char file[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/allot-test-platform-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(file, sizeof(file), "%s/p.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(file);
    return rmdir(dir);
}

/* Write text to the test file and RET its path. */
static const char *write_yaml(const char *text)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return file;
}

static const char good_platform[] = "scheduler:\n"
                                    "  default_grace: 45s\n"
                                    "  starvation_age: 15m\n"
                                    "tenants:\n"
                                    "  - name: acme\n"
                                    "    max_grace: 5m\n"
                                    "    workspaces:\n"
                                    "      - name: prod\n"
                                    "        reserved: {gpu: 4}\n"
                                    "        limits: {gpu: 8, cpu: 64, memory: 512Gi, "
                                    "storage: 1Ti}\n"
                                    "      - name: research\n"
                                    "        limits: {gpu: 16, cpu: none}\n"
                                    "        lend: false\n"
                                    "        weight: 2\n"
                                    "  - name: beta\n"
                                    "    isolation: dedicated\n"
                                    "    workspaces:\n"
                                    "      - name: main\n"
                                    "        reserved: {gpu: 1.5}\n"
                                    "clusters:\n"
                                    "  - name: shared-1\n"
                                    "  - name: beta-only\n"
                                    "    dedicated_to: beta\n"
                                    "nodes:\n"
                                    "  - name: gpu-a\n"
                                    "    cluster: shared-1\n"
                                    "    tenant: acme\n"
                                    "    cpu: 128\n"
                                    "    memory: 1Ti\n"
                                    "    labels: {zone: eu-1, rack: \"r7\"}\n"
                                    "    gpus:\n"
                                    "      - model: H100-80GB\n"
                                    "        count: 8\n"
                                    "  - name: mig-a\n"
                                    "    cluster: beta-only\n"
                                    "    tenant: beta\n"
                                    "    cpu: 500m\n"
                                    "    memory: 256Gi\n"
                                    "    state: draining\n"
                                    "    gpus:\n"
                                    "      - model: H100-80GB\n"
                                    "        mig: [3g.40gb, {profile: 2g.20gb, start: 4}, "
                                    "1g.10gb]\n"
                                    "      - model: A100-80GB\n"
                                    "        healthy: false\n"
                                    "  - name: spare\n"
                                    "    cluster: shared-1\n"
                                    "    cpu: 16\n"
                                    "    memory: 64Gi\n";

static const struct sched_workspace *workspace(const struct sched *s, const char *name)
{
    uint32_t id = SCHED_NONE;
    assert_int_equal(sched_workspace_find(s, name, &id), 0);
    return &s->workspaces[id];
}

static const struct sched_node *node(const struct sched *s, const char *name)
{
    uint32_t id = SCHED_NONE;
    assert_int_equal(sched_node_find(s, name, &id), 0);
    return &s->nodes[id];
}

static int8_t profile_index(enum gpu_model m, const char *name)
{
    const struct gpu_model_info *info = mig_model(m);
    for (int i = 0; i < info->n_profiles; i++)
        if (strcmp(info->profiles[i].name, name) == 0)
            return (int8_t)i;
    fail_msg("model %s has no MIG profile %s", info->name, name);
    return -1;
}

static void test_good_platform(void **state)
{
    struct sched *s = NULL;
    char err[512] = "";
    int rc = platform_load(write_yaml(good_platform), &s, err, sizeof(err));
    if (rc)
        fail_msg("platform_load: %d %s", rc, err);
    assert_non_null(s);

    assert_int_equal(s->opt.default_grace_ms, 45 * 1000);
    assert_int_equal(s->opt.starvation_age_ms, 15 * 60 * 1000);
    assert_int_equal(s->n_tenants, 2);
    assert_int_equal(s->n_clusters, 2);
    assert_int_equal(s->n_nodes, 3);
    assert_int_equal(s->n_workspaces, 3);

    uint32_t acme, beta;
    assert_int_equal(sched_tenant_find(s, "acme", &acme), 0);
    assert_int_equal(sched_tenant_find(s, "beta", &beta), 0);
    assert_int_equal(s->tenants[acme].isolation, SCHED_ISOLATION_SHARED);
    assert_int_equal(s->tenants[acme].max_grace_ms, 5 * 60 * 1000);
    assert_int_equal(s->tenants[beta].isolation, SCHED_ISOLATION_DEDICATED);
    assert_int_equal(s->clusters[1].dedicated_to, beta);
    assert_int_equal(s->clusters[0].dedicated_to, SCHED_NONE);

    const struct sched_workspace *prod = workspace(s, "acme/prod");
    assert_int_equal(prod->tenant, acme);
    assert_int_equal(prod->reserved, 4 * QUANTITY_GPU_UNITS);
    assert_int_equal(prod->limits.gpu, 8 * GPU);
    assert_int_equal(prod->limits.cpu, 64 * 1000);
    assert_int_equal(prod->limits.memory, 512 * GI);
    assert_int_equal(prod->limits.storage, 1024 * GI);
    assert_true(prod->lend);
    assert_int_equal(prod->weight, 1);

    const struct sched_workspace *research = workspace(s, "acme/research");
    assert_int_equal(research->reserved, 0);
    assert_int_equal(research->limits.gpu, 16 * GPU);
    assert_true(research->limits.cpu == SCHED_UNLIMITED);
    assert_true(research->limits.memory == SCHED_UNLIMITED);
    assert_true(research->limits.storage == SCHED_UNLIMITED);
    assert_false(research->lend);
    assert_int_equal(research->weight, 2);

    const struct sched_workspace *main_ws = workspace(s, "beta/main");
    assert_int_equal(main_ws->tenant, beta);
    assert_int_equal(main_ws->reserved, GPU * 3 / 2);

    const struct sched_node *a = node(s, "gpu-a");
    assert_int_equal(a->tenant, acme);
    assert_int_equal(a->state, SCHED_NODE_READY);
    assert_int_equal(a->cpu, 128 * 1000);
    assert_int_equal(a->memory, 1024 * GI);
    assert_int_equal(a->n_gpus, 8);
    for (uint32_t i = 0; i < a->n_gpus; i++) {
        assert_int_equal(a->gpus[i].model, GPU_MODEL_H100_80GB);
        assert_true(a->gpus[i].healthy);
        assert_int_equal(a->gpus[i].n_mig, 0);
    }
    assert_int_equal(a->n_labels, 2);
    assert_string_equal(a->labels[0].key, "zone");
    assert_string_equal(a->labels[0].value, "eu-1");
    assert_string_equal(a->labels[1].key, "rack");
    assert_string_equal(a->labels[1].value, "r7");

    /* MIG: the fixed start is kept, the others are placed lowest first, largest first */
    const struct sched_node *m = node(s, "mig-a");
    assert_int_equal(m->tenant, beta);
    assert_int_equal(m->state, SCHED_NODE_DRAINING);
    assert_int_equal(m->cpu, 500);
    assert_int_equal(m->n_gpus, 2);
    const struct sched_gpu *g = &m->gpus[0];
    assert_int_equal(g->model, GPU_MODEL_H100_80GB);
    assert_int_equal(g->n_mig, 3);
    assert_int_equal(g->mig[0].profile, profile_index(GPU_MODEL_H100_80GB, "3g.40gb"));
    assert_int_equal(g->mig[0].start, 0);
    assert_int_equal(g->mig[1].profile, profile_index(GPU_MODEL_H100_80GB, "2g.20gb"));
    assert_int_equal(g->mig[1].start, 4);
    assert_int_equal(g->mig[2].profile, profile_index(GPU_MODEL_H100_80GB, "1g.10gb"));
    assert_int_equal(g->mig[2].start, 6);
    assert_int_equal(m->gpus[1].model, GPU_MODEL_A100_80GB);
    assert_false(m->gpus[1].healthy);
    assert_int_equal(m->gpus[1].n_mig, 0);

    const struct sched_node *spare = node(s, "spare");
    assert_int_equal(spare->tenant, SCHED_NONE);
    assert_int_equal(spare->n_gpus, 0);
    sched_free(s);
}

/* platform_build leaves the keys the caller names to the caller, and no others. */
static void test_extra_keys(void **state)
{
    static const char text[] = "tenants: [{name: acme}]\ntimeline: [{at: 0s}]\n";
    static const char *const extra[] = {"timeline", NULL};
    struct source doc;
    struct sched *s = NULL;
    char err[512] = "";
    assert_int_equal(
        source_parse("mem.yaml", (const unsigned char *)text, strlen(text), &doc, err, sizeof(err)),
        0);
    assert_int_equal(platform_build(&doc, extra, &s, err, sizeof(err)), 0);
    assert_non_null(s);
    assert_int_equal(s->n_tenants, 1);
    sched_free(s);
    s = NULL;
    assert_int_equal(platform_build(&doc, NULL, &s, err, sizeof(err)), -ALLOT_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "mem.yaml:2: timeline: unknown field"));
    source_cleanup(&doc);
}

static void test_unreadable(void **state)
{
    struct sched *s = (struct sched *)&s;
    char err[512] = "";
    char missing[192];
    snprintf(missing, sizeof(missing), "%s/missing.yaml", dir);
    assert_int_equal(platform_load(missing, &s, err, sizeof(err)), -ALLOT_EIO);
    assert_null(s);
    assert_non_null(strstr(err, "missing.yaml: No such file or directory"));
}

/* More than SOURCE_MAX_VALUES nodes is refused before libyaml builds the tree. */
static void test_too_many_nodes(void **state)
{
    size_t n = SOURCE_MAX_VALUES + 1;
    char *text = malloc(2 * n + 16);
    assert_non_null(text);
    size_t used = (size_t)sprintf(text, "tenants: [");
    for (size_t i = 0; i < n; i++) {
        text[used++] = '1';
        text[used++] = ',';
    }
    strcpy(text + used - 1, "]\n");
    struct sched *s = NULL;
    char err[512] = "";
    assert_int_equal(platform_load(write_yaml(text), &s, err, sizeof(err)), -ALLOT_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(err, "p.yaml:1: document: more than 1000000 YAML nodes"));
    free(text);
}

struct bad_case {
    const char *what;
    const char *yaml;
    int rc;
    const char *fragment; /* must appear in the message */
};

#define BASE_CLUSTER "clusters:\n  - name: c1\n"

static const struct bad_case bad_cases[] = {
    {"unknown top-level key", "tenants: []\nnodez: []\n", -ALLOT_EINVAL,
     "p.yaml:2: nodez: unknown field (expected one of: scheduler, topology, tenants, clusters, "
     "nodes)"},
    {"topology not a list", "topology: block\ntenants: []\n", -ALLOT_EINVAL,
     "p.yaml:1: topology: expected an array of topology levels, found a string"},
    {"topology level twice", "topology: [block, rack, block]\ntenants: []\n", -ALLOT_EINVAL,
     "p.yaml:1: topology[2]: level 'block' is named twice"},
    {"topology too many levels", "topology: [a, b, c, d, e]\ntenants: []\n", -ALLOT_ERANGE,
     "p.yaml:1: topology: 5 entries; at most 4 topology levels are allowed"},
    {"topology level with a space", "topology: [\"my rack\"]\ntenants: []\n", -ALLOT_EINVAL,
     "p.yaml:1: topology[0]: a topology level is a node label key of 1 to"},
    {"topology level not a string", "topology: [{a: 1}]\ntenants: []\n", -ALLOT_EINVAL,
     "p.yaml:1: topology[0]: expected a string"},
    {"unknown nested key",
     "tenants:\n"
     "  - name: acme\n"
     "    workspaces:\n"
     "      - name: prod\n"
     "        limits:\n"
     "          gpus: 4\n",
     -ALLOT_EINVAL,
     "p.yaml:6: tenants[0].workspaces[0].limits.gpus: unknown field; did you mean gpu?"},
    {"map where a list belongs", "tenants:\n  name: acme\n", -ALLOT_EINVAL,
     "p.yaml:2: tenants: expected an array of tenants, found an object"},
    {"scalar where a map belongs",
     "tenants:\n"
     "  - name: acme\n"
     "    workspaces:\n"
     "      - name: prod\n"
     "        reserved: 4\n",
     -ALLOT_EINVAL,
     "p.yaml:5: tenants[0].workspaces[0].reserved: expected an object, found an integer"},
    {"list where a scalar belongs", "tenants:\n  - name: [acme]\n", -ALLOT_EINVAL,
     "p.yaml:2: tenants[0].name: expected a string, found an array"},
    {"bad byte quantity",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    cpu: 8\n"
     "    memory: 12Gx\n",
     -ALLOT_EINVAL,
     "p.yaml:8: nodes[0].memory: '12Gx' is not an amount of bytes (examples: 512Mi, 64Gi, 1Ti, or "
     "bytes)"},
    {"negative gpu",
     "tenants:\n"
     "  - name: acme\n"
     "    workspaces:\n"
     "      - name: prod\n"
     "        reserved: {gpu: -1}\n",
     -ALLOT_ERANGE,
     "p.yaml:5: tenants[0].workspaces[0].reserved.gpu: '-1' is negative (expected a number of "
     "GPUs, 0 or more)"},
    {"gpu amount not exact",
     "tenants:\n  - name: a\n    workspaces: [{name: w, limits: {gpu: 1/11}}]\n", -ALLOT_ERANGE,
     "p.yaml:3: tenants[0].workspaces[0].limits.gpu: '1/11' is out of range for a number of GPUs "
     "(too large, or not "},
    {"bad boolean",
     "tenants:\n  - name: acme\n    workspaces:\n      - name: prod\n        lend: yes\n",
     -ALLOT_EINVAL, "p.yaml:5: tenants[0].workspaces[0].lend: expected true or false, found 'yes'"},
    {"weight out of range",
     "tenants:\n  - name: acme\n    workspaces:\n      - name: prod\n        weight: 0\n",
     -ALLOT_ERANGE, "p.yaml:5: tenants[0].workspaces[0].weight: 0 is out of range (1 to 1000000)"},
    {"bad name", "tenants:\n  - name: Acme\n", -ALLOT_EINVAL,
     "p.yaml:2: tenants[0].name: 'Acme' is not a valid name (1 to 63 of a-z, 0-9, '-', '_', '.', "
     "starting with a let"},
    {"bad isolation", "tenants:\n  - name: acme\n    isolation: private\n", -ALLOT_EINVAL,
     "p.yaml:3: tenants[0].isolation: unknown value 'private' (expected one of: shared, "
     "dedicated)"},
    {"MIG profile the model does not offer",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n"
     "    gpus:\n"
     "      - model: A100-40GB\n"
     "        mig:\n"
     "          - 1g.5gb\n"
     "          - 3g.40gb\n",
     -ALLOT_EINVAL,
     "p.yaml:13: nodes[0].gpus[0].mig[1]: MIG profile '3g.40gb' is not offered by A100-40GB (it "
     "offers: 1g.5gb, 1g.5"},
    {"overlapping MIG starts",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n"
     "    gpus:\n"
     "      - model: H100-80GB\n"
     "        mig:\n"
     "          - {profile: 3g.40gb, start: 0}\n"
     "          - {profile: 2g.20gb, start: 2}\n",
     -ALLOT_EINVAL,
     "p.yaml:12: nodes[0].gpus[0].mig: MIG instance 2g.20gb at slice 2 overlaps another instance"},
    {"MIG on a model without MIG",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - {name: n1, cluster: c1, cpu: 8, memory: 64Gi,\n"
     "     gpus: [{model: L40S, mig: [1g.10gb]}]}\n",
     -ALLOT_EINVAL, "p.yaml:6: nodes[0].gpus[0].mig: GPU model L40S does not support MIG"},
    {"unknown GPU model",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - {name: n1, cluster: c1, cpu: 8, memory: 64Gi, gpus: [{model: H100}]}\n",
     -ALLOT_EINVAL,
     "p.yaml:5: nodes[0].gpus[0].model: unknown value 'H100' (expected one of: H100-80GB, "
     "H200-141GB, A100-40GB, A10"},
    {"too many GPUs on a node",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n"
     "    gpus:\n"
     "      - {model: H100-80GB, count: 20}\n"
     "      - {model: H100-80GB, count: 20}\n",
     -ALLOT_ERANGE, "p.yaml:11: nodes[0].gpus[1]: the node would have 40 GPUs; at most 32"},
    {"unknown tenant of a node",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    tenant: nobody\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n",
     -ALLOT_ENOENT, "p.yaml:7: nodes[0].tenant: node 'n1' names unknown tenant 'nobody'"},
    {"unknown cluster of a node",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - {name: n1, cluster: c2, tenant: acme, cpu: 8, memory: 64Gi}\n",
     -ALLOT_ENOENT, "p.yaml:5: nodes[0].cluster: node 'n1' names unknown cluster 'c2'"},
    {"dedicated cluster violation",
     "tenants: [{name: acme}, {name: beta}]\n"
     "clusters:\n"
     "  - name: c1\n"
     "    dedicated_to: acme\n"
     "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    tenant: beta\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n",
     -ALLOT_ECONFIG,
     "p.yaml:6: nodes[0]: node 'n1' is in cluster 'c1', dedicated to tenant "
     "'acme', but belongs to tenant beta"},
    {"cluster dedicated to an unknown tenant",
     "tenants: [{name: acme}]\nclusters:\n  - name: c1\n    dedicated_to: beta\n", -ALLOT_ENOENT,
     "p.yaml:4: clusters[0].dedicated_to: cluster 'c1' is dedicated to unknown"},
    {"reservations beyond owned GPUs",
     "tenants:\n"
     "  - name: acme\n"
     "    workspaces:\n"
     "      - name: prod\n"
     "        reserved: {gpu: 6}\n"
     "      - name: dev\n"
     "        reserved:\n"
     "          gpu: 4\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    tenant: acme\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n"
     "    gpus: [{model: H100-80GB, count: 8}]\n",
     -ALLOT_ERESERVATION,
     "p.yaml:8: tenants[0].workspaces[1].reserved.gpu: workspace 'acme/dev': tenant 'acme' "
     "would reserve 10 GPUs but owns only 8"},
    {"duplicate tenant", "tenants:\n  - name: acme\n  - name: acme\n", -ALLOT_EEXIST,
     "p.yaml:3: tenants[1].name: tenant 'acme' already exists"},
    {"key given twice", "tenants:\n  - name: acme\n    name: beta\n", -ALLOT_EINVAL,
     "p.yaml:3: tenants[0].name: given more than once"},
    {"syntax error",
     "tenants:\n"
     "  - name: acme\n"
     "    workspaces: [{name: prod}\n"
     "clusters: []\n",
     -ALLOT_ECONFIG, "p.yaml:4: syntax error: did not find expected ',' or ']'"},
    {"missing required field",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    memory: 64Gi\n",
     -ALLOT_EINVAL, "p.yaml:5: nodes[0].cpu: required, but not given"},
    {"empty document", "# nothing here\n", -ALLOT_EINVAL,
     "p.yaml:1: document: empty; expected a map with tenants, clusters and nodes"},
    {"two documents", "tenants: []\n---\ntenants: []\n", -ALLOT_ECONFIG,
     "p.yaml:2: document: only one YAML document is allowed"},
    {"too deep", "tenants: [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]\n", -ALLOT_ECONFIG,
     "p.yaml:1: document: nested deeper than 16 levels"},
    {"NUL in a name", "tenants:\n  - name: \"ac\\0me\"\n", -ALLOT_EINVAL,
     "p.yaml:2: tenants[0].name: contains a NUL character"},
    {"too many labels",
     "tenants: [{name: acme}]\n" BASE_CLUSTER "nodes:\n"
     "  - name: n1\n"
     "    cluster: c1\n"
     "    cpu: 8\n"
     "    memory: 64Gi\n"
     "    labels: {a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1, j: 1, k: 1, l: 1, m: 1,\n"
     "             n: 1, o: 1, p: 1, q: 1, r: 1, s: 1, t: 1, u: 1, v: 1, w: 1, x: 1, y: 1, z: 1,\n"
     "             aa: 1, ab: 1, ac: 1, ad: 1, ae: 1, af: 1, ag: 1}\n",
     -ALLOT_ERANGE, "p.yaml:9: nodes[0].labels: 33 labels; at most 32 are allowed"},
};

static void test_bad_inputs(void **state)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct sched *s = NULL;
        char err[512] = "";
        int rc = platform_load(write_yaml(c->yaml), &s, err, sizeof(err));
        if (rc != c->rc || !strstr(err, c->fragment))
            fail_msg("case '%s': got %d (%s) \"%s\"; want %d and \"%s\"", c->what, rc,
                     allot_errname(rc), err, c->rc, c->fragment);
        assert_null(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_platform), cmocka_unit_test(test_extra_keys),
        cmocka_unit_test(test_unreadable),    cmocka_unit_test(test_too_many_nodes),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
