/* Unit tests of the schema layer's one-reader promise: the same bad object is refused with the
 * same code, field and message whether it comes as an API body (JSON) or in a YAML file (a
 * platform or a scenario), and the YAML error still names the file and line. Also the YAML
 * loader's own rules (plain scalars, keys given twice, aliases) and platform_ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/arena.h"
#include "common/error.h"
#include "schema/op.h"
#include "schema/platform.h"
#include "schema/source.h"
#include "schema/spec.h"
#include "schema/workload.h"
#include "sim/scenario.h"

enum kind { TENANT, CLUSTER, NODE, WORKSPACE, WORKLOAD };

/* A bad object (JSON text, which is also YAML flow text) and the field it is refused at. */
struct both_case {
    enum kind kind;
    const char *object;
    const char *field;
};

static const struct both_case cases[] = {
    {TENANT, "{\"name\": \"Acme\"}", "name"},
    {TENANT, "{\"name\": \"acme\", \"isolation\": \"private\"}", "isolation"},
    {TENANT, "{\"name\": \"acme\", \"max_grace\": \"soon\"}", "max_grace"},
    {TENANT, "{\"name\": \"acme\", \"isolation\": null}", "isolation"},
    {TENANT, "{\"name\": \"acme\", \"max_graces\": \"1m\"}", "max_graces"},
    {TENANT, "{\"isolation\": \"shared\"}", "name"},
    {TENANT, "{\"name\": \"acme\", \"require_image\": \"yes\"}", "require_image"},
    {TENANT, "{\"name\": \"acme\", \"require_image\": null}", "require_image"},
    {CLUSTER, "{\"name\": \"c2\", \"dedicated_to\": \"Not A Name\"}", "dedicated_to"},
    {NODE, "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": \"16\", \"memory\": \"12Gx\"}",
     "memory"},
    /* labels: control characters and lengths were checked differently by the two readers */
    {NODE,
     "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 16, \"memory\": \"1Gi\", "
     "\"labels\": {\"zone\": \"a\\u0001b\"}}",
     "labels.zone"},
    {NODE,
     "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 16, \"memory\": \"1Gi\", \"labels\": "
     "{\"k\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}",
     "labels.k"},
    {NODE,
     "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 16, \"memory\": \"1Gi\", "
     "\"gpus\": [{\"model\": \"L40S\", \"mig\": [\"1g.10gb\"]}]}",
     "gpus[0].mig"},
    {NODE,
     "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 16, \"memory\": \"1Gi\", "
     "\"gpus\": [{\"model\": \"H100-80GB\", \"count\": 40}]}",
     "gpus[0].count"},
    {NODE,
     "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 16, \"memory\": \"1Gi\", "
     "\"gpus\": [{\"model\": \"H100-80GB\", \"mig\": [{\"profile\": \"3g.40gb\", \"start\": 0}, "
     "{\"profile\": \"2g.20gb\", \"start\": 2}]}]}",
     "gpus[0].mig"},
    {WORKSPACE, "{\"name\": \"w\", \"reserved\": {\"gpu\": \"-1\"}}", "reserved.gpu"},
    {WORKSPACE, "{\"name\": \"w\", \"limits\": {\"gpus\": \"1\"}}", "limits.gpus"},
    {WORKSPACE, "{\"name\": \"w\", \"weight\": 0}", "weight"},
    {WORKSPACE, "{\"name\": \"w\", \"lend\": \"yes\"}", "lend"},
    {WORKSPACE, "{\"name\": \"w\", \"reserved\": {\"gpu\": 4}, \"limits\": {\"gpu\": 2}}",
     "reserved.gpu"},
    {WORKSPACE, "{\"name\": \"other/w\"}", "name"},
    {WORKSPACE, "{\"name\": \"w\", \"require_image\": \"true\"}", "require_image"},
    {WORKSPACE, "{\"name\": \"w\", \"require_image\": [true]}", "require_image"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"prod\"}", "workspace"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"gpus\": 0.5}", "gpus"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"mig\": \"9g.1tb\"}", "mig"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"kind\": \"batch\"}", "kind"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"replicas\": 5000}", "replicas"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"gpus\": 1, \"mig\": \"1g.10gb\"}",
     "mig"},
    /* image: the one rule of common/imageref.h, whatever the text */
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"image\": \"PyTorch:2\"}", "image"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"image\": \"vllm@sha256:ab12\"}",
     "image"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"image\": \"ml/../etc:1\"}", "image"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"image\": \"\"}", "image"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"image\": [\"busybox\"]}", "image"},
    /* topology: one of required or preferred, a level name */
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"topology\": \"block\"}", "topology"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"topology\": {}}", "topology.preferred"},
    {WORKLOAD, "{\"name\": \"j\", \"workspace\": \"t/w\", \"topology\": {\"needed\": \"block\"}}",
     "topology.needed"},
    {WORKLOAD,
     "{\"name\": \"j\", \"workspace\": \"t/w\", \"topology\": {\"required\": \"block\", "
     "\"preferred\": \"rack\"}}",
     "topology.required"},
};

/* Where the object sits in the YAML document, and the prefix of its field path there. */
static const char *const yaml_templates[] = {
    [TENANT] = "tenants:\n  - %s\n",
    [CLUSTER] = "tenants: [{name: t}]\nclusters:\n  - %s\n",
    [NODE] = "tenants: [{name: t}]\nclusters: [{name: c}]\nnodes:\n  - %s\n",
    [WORKSPACE] = "tenants:\n  - name: t\n    workspaces:\n      - %s\n",
    [WORKLOAD] = "tenants:\n  - name: t\n    workspaces: [{name: w}]\n"
                 "timeline:\n  - at: 0s\n    submit: %s\n",
};
static const char *const yaml_prefixes[] = {
    [TENANT] = "tenants[0]",
    [CLUSTER] = "clusters[0]",
    [NODE] = "nodes[0]",
    [WORKSPACE] = "tenants[0].workspaces[0]",
    [WORKLOAD] = "timeline[0].submit",
};
/* The line the object is written on in each template. */
static const int yaml_lines[] = {
    [TENANT] = 2, [CLUSTER] = 3, [NODE] = 4, [WORKSPACE] = 4, [WORKLOAD] = 6};

/* The API's refusal of c's object. */
static int read_json(const struct both_case *c, struct schema_error *e)
{
    json_error_t jerr;
    json_t *j = json_loads(c->object, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("case %s: bad JSON: %s", c->object, jerr.text);
    struct arena a;
    arena_init(&a, 0);
    struct sched_tenant_spec t;
    struct sched_cluster_spec cl;
    struct sched_node_spec n;
    struct sched_workspace_spec w;
    struct workload_spec wl;
    int rc = c->kind == TENANT      ? spec_tenant_from_json(j, &a, &t, e)
             : c->kind == CLUSTER   ? spec_cluster_from_json(j, &a, &cl, e)
             : c->kind == NODE      ? spec_node_from_json(j, &a, &n, e)
             : c->kind == WORKSPACE ? spec_workspace_from_json(j, "t", &a, &w, e)
                                    : workload_from_json(j, &a, &wl, e);
    arena_cleanup(&a);
    json_decref(j);
    return rc;
}

/* The YAML loader's refusal of c's object, in err. */
static int read_yaml(const struct both_case *c, const char *path, char *err, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, yaml_templates[c->kind], c->object);
    assert_int_equal(fclose(f), 0);
    if (c->kind == WORKLOAD) {
        struct scenario scn;
        struct sched *s = NULL;
        int rc = scenario_load(path, &scn, &s, err, len);
        if (rc == 0) {
            scenario_cleanup(&scn);
            sched_free(s);
        }
        return rc;
    }
    struct sched *s = NULL;
    int rc = platform_load(path, &s, err, len);
    sched_free(s);
    return rc;
}

static void test_same_refusal_both_ways(void **state)
{
    char dir[] = "/tmp/allot-test-schema-XXXXXX";
    char path[64], err[1024], want[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/doc.yaml", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct both_case *c = &cases[i];
        struct schema_error e;
        int json_rc = read_json(c, &e);
        int yaml_rc = read_yaml(c, path, err, sizeof(err));
        if (json_rc == 0 || yaml_rc == 0)
            fail_msg("case %zu (%s): accepted (JSON %d, YAML %d): %s", i, c->object, json_rc,
                     yaml_rc, err);
        if (strcmp(e.field, c->field) != 0)
            fail_msg("case %zu: JSON refused field '%s', want '%s' (%s)", i, e.field, c->field,
                     e.message);
        snprintf(want, sizeof(want), "%s:%d: %s.%s: %s", path, yaml_lines[c->kind],
                 yaml_prefixes[c->kind], e.field, e.message);
        if (yaml_rc != json_rc || strcmp(err, want) != 0)
            fail_msg("case %zu:\n  YAML %s: %s\n  JSON %s: %s", i, allot_errname(yaml_rc), err,
                     allot_errname(json_rc), want);
    }
    unlink(path);
    rmdir(dir);
}

/* A workload body with the required fields and the JSON members x; refused at field with
 * code, or accepted (field NULL). OUT *out with strings in a. */
static int read_workload(const char *x, struct arena *a, struct workload_spec *out,
                         struct schema_error *e)
{
    char text[8192];
    snprintf(text, sizeof(text), "{\"name\": \"j\", \"workspace\": \"t/w\"%s%s}", x[0] ? ", " : "",
             x);
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    if (!j)
        fail_msg("bad JSON %s: %s", text, jerr.text);
    int rc = workload_from_json(j, a, out, e);
    json_decref(j);
    return rc;
}

/* image and workdir of an API body: accepted as given, refused naming the field. */
static void test_image_and_workdir(void **state)
{
    struct arena a;
    struct workload_spec w;
    struct schema_error e;
    arena_init(&a, 0);
    assert_int_equal(read_workload("", &a, &w, &e), 0);
    assert_false(w.w.has_image);
    assert_null(w.image);
    assert_null(w.workdir);
    assert_int_equal(read_workload("\"image\": \"registry.local/ml/vllm:0.6-cu12\"", &a, &w, &e),
                     0);
    assert_true(w.w.has_image);
    assert_string_equal(w.image, "registry.local/ml/vllm:0.6-cu12");
    assert_null(w.command); /* the image's own entrypoint runs */
    assert_int_equal(
        read_workload("\"image\": \"pytorch\", \"workdir\": \"/work/a..b/.x\", \"command\": "
                      "[\"python\", \"train.py\"]",
                      &a, &w, &e),
        0);
    assert_string_equal(w.image, "pytorch");
    assert_string_equal(w.workdir, "/work/a..b/.x");
    assert_int_equal(w.n_command, 2);

    char long_dir[SCHEMA_MAX_WORKDIR + 64], body[SCHEMA_MAX_WORKDIR + 128];
    memset(long_dir, 'd', sizeof(long_dir));
    long_dir[0] = '/';
    long_dir[SCHEMA_MAX_WORKDIR] = '\0'; /* the longest allowed */
    snprintf(body, sizeof(body), "\"image\": \"busybox\", \"workdir\": \"%s\"", long_dir);
    assert_int_equal(read_workload(body, &a, &w, &e), 0);
    assert_int_equal(strlen(w.workdir), SCHEMA_MAX_WORKDIR);
    long_dir[SCHEMA_MAX_WORKDIR] = 'd';
    long_dir[SCHEMA_MAX_WORKDIR + 1] = '\0';
    snprintf(body, sizeof(body), "\"image\": \"busybox\", \"workdir\": \"%s\"", long_dir);

    const struct {
        const char *x;
        const char *field, *fragment;
    } bad[] = {
        {"\"workdir\": \"/work\"", "workdir", "give image too"},
        {"\"workdir\": \"/work\", \"command\": [\"sh\"]", "workdir", "give image too"},
        {"\"image\": \"busybox\", \"workdir\": \"work\"", "workdir", "absolute path"},
        {"\"image\": \"busybox\", \"workdir\": \"\"", "workdir", "absolute path"},
        {"\"image\": \"busybox\", \"workdir\": \"/a/../b\"", "workdir", "'..'"},
        {"\"image\": \"busybox\", \"workdir\": \"/a/..\"", "workdir", "'..'"},
        {"\"image\": \"busybox\", \"workdir\": \"/..\"", "workdir", "'..'"},
        {"\"image\": \"busybox\", \"workdir\": \"/a\\tb\"", "workdir", "control characters"},
        {"\"image\": \"busybox\", \"workdir\": \"/a\\u007fb\"", "workdir", "control characters"},
        {"\"image\": \"busybox\", \"workdir\": \"/a\\u0000b\"", "workdir", "NUL"},
        {"\"image\": \"busybox\", \"workdir\": 7", "workdir", "expected a string"},
        {body, "workdir", "at most 4096"},
        {"\"image\": \"busybox:\"", "image", "a tag is"},
        {"\"image\": \"Busybox\"", "image", "an image name is"},
        {"\"image\": null", "image", "null"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        int rc = read_workload(bad[i].x, &a, &w, &e);
        if (rc != -ALLOT_EINVAL || strcmp(e.field, bad[i].field) != 0 ||
            !strstr(e.message, bad[i].fragment))
            fail_msg("case %zu: got %s at '%s': %s; want inval at '%s' with \"%s\"", i,
                     allot_errname(rc), e.field, e.message, bad[i].field, bad[i].fragment);
    }
    arena_cleanup(&a);
}

/* The platform of text, parsed into *src and built (both must succeed). RET the engine. */
static struct sched *platform_of(const char *text, struct source *src)
{
    struct sched *s = NULL;
    char err[512] = "";
    assert_int_equal(
        source_parse("p.yaml", (const unsigned char *)text, strlen(text), src, err, sizeof(err)),
        0);
    assert_int_equal(platform_build(src, NULL, &s, err, sizeof(err)), 0);
    return s;
}

/* require_image reads the same from a platform file and an API body, and a scenario's submit
 * takes an image (the policy needs to know of it) but not a workdir, which only the daemon's
 * agents use. */
static void test_require_image_both_ways(void **state)
{
    static const char text[] = "tenants:\n"
                               "  - name: t\n"
                               "    require_image: true\n"
                               "    workspaces: [{name: w, require_image: true}, {name: v}]\n";
    struct source src;
    struct sched *s = platform_of(text, &src);
    char err[512] = "";
    assert_true(s->tenants[0].require_image);
    assert_true(s->workspaces[0].require_image);
    assert_false(s->workspaces[1].require_image);
    sched_free(s);
    source_cleanup(&src);

    struct arena a;
    struct schema_error e;
    struct sched_tenant_spec t;
    struct sched_workspace_spec ws;
    arena_init(&a, 0);
    json_t *j = json_loads("{\"name\": \"t\", \"require_image\": true}", 0, NULL);
    assert_int_equal(spec_tenant_from_json(j, &a, &t, &e), 0);
    assert_true(t.require_image);
    assert_int_equal(spec_workspace_from_json(j, "t", &a, &ws, &e), 0);
    assert_true(ws.require_image);
    json_decref(j);
    j = json_loads("{\"name\": \"t\"}", 0, NULL);
    assert_int_equal(spec_tenant_from_json(j, &a, &t, &e), 0);
    assert_false(t.require_image); /* the default */
    json_decref(j);
    /* a PATCH changes it and nothing else; one without it leaves it */
    j = json_loads("{\"require_image\": false}", 0, NULL);
    assert_int_equal(spec_workspace_patch_from_json(j, &a, &ws, &e), 0);
    assert_false(ws.require_image);
    assert_true(ws.lend);
    json_decref(j);
    ws.require_image = true;
    j = json_loads("{\"weight\": 3}", 0, NULL);
    assert_int_equal(spec_workspace_patch_from_json(j, &a, &ws, &e), 0);
    assert_true(ws.require_image);
    json_decref(j);
    arena_cleanup(&a);

    char dir[] = "/tmp/allot-test-schema-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/scn.yaml", dir);
    static const char *const submits[] = {
        "{name: j, workspace: t/w, image: \"busybox:1.36\"}",
        "{name: j, workspace: t/w, image: busybox, workdir: /work}",
    };
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, yaml_templates[WORKLOAD], submits[i]);
        assert_int_equal(fclose(f), 0);
        struct scenario scn;
        int rc = scenario_load(path, &scn, &s, err, sizeof(err));
        if (i == 0) {
            assert_int_equal(rc, 0);
            assert_true(scn.steps[0].submit.has_image);
            scenario_cleanup(&scn);
            sched_free(s);
        } else {
            assert_int_equal(rc, -ALLOT_EINVAL);
            assert_non_null(strstr(err, "timeline[0].submit.workdir: unknown field"));
        }
    }
    unlink(path);
    rmdir(dir);
}

/* Plain scalars are typed as YAML has them, but a reader of text reads what was written: a
 * name of digits, a label value `true`, a quantity with many decimals. */
static void test_plain_scalars(void **state)
{
    static const char text[] = "tenants: [{name: 007}]\n"
                               "clusters: [{name: c}]\n"
                               "nodes:\n"
                               "  - {name: n1, cluster: c, tenant: 007, cpu: 0.1234567,"
                               " memory: 1Gi, labels: {fast: true, rack: 12}}\n";
    struct source src;
    struct sched *s = NULL;
    char err[512] = "";
    assert_int_equal(
        source_parse("p.yaml", (const unsigned char *)text, strlen(text), &src, err, sizeof(err)),
        0);
    /* 0.1234567 CPUs is finer than a millicore: refused as the text reads, not as a double */
    assert_int_equal(platform_build(&src, NULL, &s, err, sizeof(err)), -ALLOT_ERANGE);
    assert_null(s);
    assert_non_null(strstr(err, "p.yaml:4: nodes[0].cpu: '0.1234567' is out of range"));
    source_cleanup(&src);

    static const char ok[] = "tenants: [{name: 007}]\nclusters: [{name: c}]\n"
                             "nodes: [{name: n1, cluster: c, tenant: 007, cpu: 0.5, memory: 1Gi,"
                             " labels: {fast: true, rack: 12}}]\n";
    assert_int_equal(
        source_parse("p.yaml", (const unsigned char *)ok, strlen(ok), &src, err, sizeof(err)), 0);
    assert_int_equal(platform_build(&src, NULL, &s, err, sizeof(err)), 0);
    assert_string_equal(s->tenants[0].name, "007");
    assert_int_equal(s->nodes[0].n_labels, 2);
    assert_string_equal(s->nodes[0].labels[0].value, "true");
    assert_string_equal(s->nodes[0].labels[1].value, "12");
    assert_int_equal(s->nodes[0].cpu, 500);

    /* the ops carry the values as they were read: strings where text was read */
    json_t *ops = NULL;
    assert_int_equal(platform_ops(&src, &ops), 0);
    assert_int_equal(json_array_size(ops), 3);
    json_t *node = json_object_get(json_array_get(ops, 2), "spec");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ops, 2), "op")),
                        "node_add");
    assert_true(json_is_string(json_object_get(node, "tenant")));
    assert_true(json_is_string(json_object_get(json_object_get(node, "labels"), "fast")));
    assert_true(json_is_string(json_object_get(node, "cpu")));
    /* and each reads back through the API's reader */
    struct arena a;
    struct sched_node_spec ns;
    struct schema_error e;
    arena_init(&a, 0);
    assert_int_equal(spec_node_from_json(node, &a, &ns, &e), 0);
    assert_string_equal(ns.tenant, "007");
    arena_cleanup(&a);
    json_decref(ops);
    sched_free(s);
    source_cleanup(&src);
}

/* The platform's topology travels in its scheduler op, and that op reads back through the
 * journal's reader with the levels and the scheduler's options (the fuzzer found the op refused
 * by a reader that knew no topology). */
static void test_topology_op(void **state)
{
    static const char text[] = "scheduler: {default_grace: 5s}\ntopology: [block, rack]\n"
                               "tenants: [{name: a}]\n";
    struct source src;
    struct sched *s = platform_of(text, &src);
    char err[512] = "";
    json_t *ops = NULL;
    assert_int_equal(platform_ops(&src, &ops), 0);
    const json_t *op = json_array_get(ops, 0);
    assert_string_equal(json_string_value(json_object_get(op, "op")), OP_SCHEDULER);
    struct arena a;
    struct op out;
    struct schema_error e;
    arena_init(&a, 0);
    assert_int_equal(op_read_scheduler(op, &a, &out, &e), 0);
    assert_true(out.u.scheduler.has_topology);
    assert_int_equal(out.u.scheduler.n_topology, 2);
    assert_string_equal(out.u.scheduler.topology[0], "block");
    assert_string_equal(out.u.scheduler.topology[1], "rack");
    assert_true(out.u.scheduler.has_grace);
    assert_int_equal(out.u.scheduler.default_grace_ms, 5000);
    /* topology alone: a scheduler op of its own */
    json_decref(ops);
    source_cleanup(&src);
    sched_free(s);
    static const char bare[] = "topology: [rack]\n";
    assert_int_equal(
        source_parse("p.yaml", (const unsigned char *)bare, strlen(bare), &src, err, sizeof(err)),
        0);
    assert_int_equal(platform_ops(&src, &ops), 0);
    assert_int_equal(op_read_scheduler(json_array_get(ops, 0), &a, &out, &e), 0);
    assert_int_equal(out.u.scheduler.n_topology, 1);
    assert_false(out.u.scheduler.has_grace);
    arena_cleanup(&a);
    json_decref(ops);
    source_cleanup(&src);
}

/* A boolean read as text in one place stays a boolean elsewhere: jansson's true and false are
 * one shared value each, so a source that marked them would turn every `False` of the document
 * into text once a label read one (the fuzzer found `lend: False` journaled as "False", which
 * the journal's reader then refused). */
static void test_boolean_as_text_once(void **state)
{
    static const char text[] =
        "tenants: [{name: acme, workspaces: [{name: prod, lend: False}]}]\n"
        "clusters: [{name: c1}]\n"
        "nodes: [{name: n1, cluster: c1, tenant: acme, cpu: 4, memory: 1Gi,\n"
        "         labels: {z: False, fast: true, off: FALSE}}]\n";
    struct source src;
    struct sched *s = platform_of(text, &src);
    char err[512] = "";
    assert_false(s->workspaces[0].lend);
    assert_string_equal(s->nodes[0].labels[0].value, "False");
    assert_string_equal(s->nodes[0].labels[1].value, "true");
    assert_string_equal(s->nodes[0].labels[2].value, "FALSE");
    json_t *ops = NULL;
    assert_int_equal(platform_ops(&src, &ops), 0);
    struct arena a;
    arena_init(&a, 0);
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        const char *name = json_string_value(json_object_get(op, "op"));
        const json_t *spec = json_object_get(op, "spec");
        struct op out;
        struct schema_error e;
        if (strcmp(name, OP_WORKSPACE_ADD) == 0) {
            assert_true(json_is_false(json_object_get(spec, "lend")));
            assert_int_equal(op_read_workspace(op, &a, &out, &e), 0);
            assert_false(out.u.workspace.lend);
        }
        if (strcmp(name, OP_NODE_ADD) == 0) {
            const json_t *labels = json_object_get(spec, "labels");
            assert_string_equal(json_string_value(json_object_get(labels, "z")), "False");
            assert_string_equal(json_string_value(json_object_get(labels, "fast")), "true");
            assert_int_equal(op_read_node(op, &a, &out, &e), 0);
        }
    }
    arena_cleanup(&a);
    json_decref(ops);
    sched_free(s);
    source_cleanup(&src);

    /* a plain boolean where a list is expected is named a boolean */
    static const char bad[] = "tenants: [{name: acme}]\nclusters: [{name: c1}]\n"
                              "nodes: [{name: n1, cluster: c1, tenant: acme, cpu: 4,"
                              " memory: 1Gi, gpus: true}]\n";
    assert_int_equal(
        source_parse("p.yaml", (const unsigned char *)bad, strlen(bad), &src, err, sizeof(err)), 0);
    assert_int_not_equal(platform_build(&src, NULL, &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "nodes[0].gpus"));
    assert_non_null(strstr(err, "found a boolean"));
    source_cleanup(&src);
}

/* Keys given twice, keys that are maps, and aliases that multiply past the bound. */
static void test_loader_refusals(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *fragment;
    } bad[] = {
        {"tenants:\n  - name: a\n    name: b\n", -ALLOT_EINVAL,
         "p.yaml:3: tenants[0].name: given more than once"},
        {"? [a]\n: 1\n", -ALLOT_EINVAL, "p.yaml:1: document: a key is a list or a map"},
        {"a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
         -ALLOT_ERANGE, "values once its aliases are expanded"},
        {"a: [\n", -ALLOT_ECONFIG, "p.yaml:2: syntax error"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct source src;
        char err[512] = "";
        int rc = source_parse("p.yaml", (const unsigned char *)bad[i].text, strlen(bad[i].text),
                              &src, err, sizeof(err));
        source_cleanup(&src);
        if (rc != bad[i].rc || !strstr(err, bad[i].fragment))
            fail_msg("case %zu: got %s \"%s\"; want %s and \"%s\"", i, allot_errname(rc), err,
                     allot_errname(bad[i].rc), bad[i].fragment);
    }
}

/* An empty document is no tree and no error (the platform reader refuses it); it used to
 * hand qsort a NULL array (undefined behaviour, found by fuzz_platform_yaml under UBSan). */
static void test_empty_document(void **state)
{
    struct source src;
    char err[256] = "";
    assert_int_equal(source_parse("e.yaml", (const unsigned char *)"", 0, &src, err, sizeof(err)),
                     0);
    assert_null(src.root);
    assert_int_equal(source_line(&src, "tenants[0]"), 1);
    source_cleanup(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_refusal_both_ways),
        cmocka_unit_test(test_image_and_workdir),
        cmocka_unit_test(test_require_image_both_ways),
        cmocka_unit_test(test_plain_scalars),
        cmocka_unit_test(test_loader_refusals),
        cmocka_unit_test(test_empty_document),
        cmocka_unit_test(test_topology_op),
        cmocka_unit_test(test_boolean_as_text_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
