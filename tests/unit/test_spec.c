/* Unit tests for schema/spec, workload and view: JSON bodies become engine specs and views show the
 * same values back, and every kind of bad input is refused with its error code and the exact field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "schema/export.h"
#include "schema/op.h"
#include "schema/spec.h"
#include "schema/view.h"
#include "schema/workload.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/sched.h"

#define GPU QUANTITY_GPU_UNITS
#define GI ((int64_t)1 << 30)
#define TI ((int64_t)1 << 40)

static char why[256];

/* Parse text (a test's own JSON, so it must be valid). RET a new reference. */
static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

/* The string value of key in o (which must be a string). */
static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static json_int_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

static bool boolean(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v))
        fail_msg("%s is not a boolean", key);
    return json_is_true(v);
}

static const char tenant_json[] = "{\"name\": \"acme\", \"isolation\": \"shared\", "
                                  "\"max_grace\": \"5m\"}";
static const char node_json[] =
    "{\"name\": \"gpu-a\", \"cluster\": \"shared-1\", \"tenant\": \"acme\", \"cpu\": 128,"
    " \"memory\": \"1Ti\", \"labels\": {\"zone\": \"a\", \"rack\": \"r1\"},"
    " \"gpus\": [{\"model\": \"H100-80GB\", \"count\": 7},"
    "            {\"model\": \"H100-80GB\", \"mig\": [\"3g.40gb\", "
    "{\"profile\": \"3g.40gb\", \"start\": 4}]}]}";
static const char prod_json[] = "{\"name\": \"acme/prod\", \"reserved\": {\"gpu\": 4},"
                                " \"limits\": {\"gpu\": 8, \"cpu\": 64, \"memory\": \"512Gi\","
                                " \"storage\": \"1Ti\"}}";
static const char research_json[] = "{\"name\": \"research\", \"limits\": {\"gpu\": \"none\","
                                    " \"cpu\": \"none\"}, \"lend\": false, \"weight\": 2}";

/* The demo platform built through the readers: tenant acme, cluster shared-1, node gpu-a
 * (7 whole H100s and one split into two 3g.40gb), workspaces acme/prod and acme/research. */
static struct sched *platform(struct arena *a)
{
    struct sched *s;
    struct schema_error err;
    struct sched_tenant_spec t;
    struct sched_cluster_spec c;
    struct sched_node_spec n;
    struct sched_workspace_spec ws;
    assert_int_equal(sched_new(NULL, &s), 0);

    json_t *j = parse(tenant_json);
    assert_int_equal(spec_tenant_from_json(j, a, &t, &err), 0);
    json_decref(j); /* the spec's strings live in the arena */
    assert_string_equal(t.name, "acme");
    assert_int_equal(t.isolation, SCHED_ISOLATION_SHARED);
    assert_int_equal(t.max_grace_ms, 5 * 60000);
    assert_int_equal(sched_tenant_add(s, &t, NULL, why, sizeof(why)), 0);

    j = parse("{\"name\": \"shared-1\", \"dedicated_to\": null}");
    assert_int_equal(spec_cluster_from_json(j, a, &c, &err), 0);
    json_decref(j);
    assert_null(c.dedicated_to);
    assert_int_equal(sched_cluster_add(s, &c, NULL, why, sizeof(why)), 0);

    j = parse(node_json);
    assert_int_equal(spec_node_from_json(j, a, &n, &err), 0);
    json_decref(j);
    assert_int_equal(n.n_gpus, 8);
    assert_int_equal(n.cpu, 128000);
    assert_int_equal(n.memory, TI);
    assert_int_equal(n.n_labels, 2);
    assert_int_equal(n.gpus[7].n_mig, 2);
    assert_int_equal(n.gpus[7].mig[0].start, 0); /* placed by mig_layout_place */
    assert_int_equal(n.gpus[7].mig[1].start, 4);
    assert_int_equal(sched_node_add(s, &n, NULL, why, sizeof(why)), 0);

    j = parse(prod_json);
    assert_int_equal(spec_workspace_from_json(j, NULL, a, &ws, &err), 0);
    json_decref(j);
    assert_string_equal(ws.name, "acme/prod");
    assert_int_equal(ws.reserved, 4 * GPU);
    assert_int_equal(ws.limits.gpu, 8 * GPU);
    assert_int_equal(ws.limits.cpu, 64000);
    assert_int_equal(ws.limits.memory, 512 * GI);
    assert_int_equal(ws.limits.storage, TI);
    assert_true(ws.lend);
    assert_int_equal(ws.weight, 1);
    assert_int_equal(sched_workspace_add(s, &ws, NULL, why, sizeof(why)), 0);

    j = parse(research_json);
    assert_int_equal(spec_workspace_from_json(j, "acme", a, &ws, &err), 0);
    json_decref(j);
    assert_string_equal(ws.name, "acme/research");
    assert_true(ws.limits.gpu == SCHED_UNLIMITED && ws.limits.cpu == SCHED_UNLIMITED);
    assert_false(ws.lend);
    assert_int_equal(ws.weight, 2);
    assert_int_equal(sched_workspace_add(s, &ws, NULL, why, sizeof(why)), 0);
    return s;
}

static void test_names(void **state)
{
    assert_true(reader_is_name("gpu-a.1_x", 9));
    assert_false(reader_is_name("-a", 2));
    assert_false(reader_is_name("A", 1));
    assert_false(reader_is_name("", 0));
    assert_false(reader_is_name("a/b", 3));
    char long_name[65];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_true(reader_is_name(long_name, 63));
    assert_false(reader_is_name(long_name, 64));
    assert_true(reader_is_workspace_name("acme/prod"));
    assert_false(reader_is_workspace_name("acme"));
    assert_false(reader_is_workspace_name("acme/prod/x"));
    assert_false(reader_is_workspace_name("/prod"));
    assert_false(reader_is_workspace_name(NULL));
}

/* Tenant and cluster: views show what was read, and the view's fields read back the same. */
static void test_tenant_cluster_views(void **state)
{
    struct arena a;
    arena_init(&a, 0);
    struct sched *s = platform(&a);
    json_t *v = view_tenant(s, 0);
    assert_non_null(v);
    assert_string_equal(str(v, "name"), "acme");
    assert_string_equal(str(v, "isolation"), "shared");
    assert_string_equal(str(v, "max_grace"), "5m");
    assert_int_equal(num(v, "nodes"), 1);
    const json_t *gpus = json_object_get(v, "gpus");
    assert_string_equal(str(gpus, "owned"), "8");
    assert_string_equal(str(gpus, "healthy"), "8");
    assert_string_equal(str(gpus, "free"), "8");
    assert_string_equal(str(gpus, "reserved"), "4");
    assert_false(boolean(v, "degraded"));
    assert_int_equal(num(json_object_get(v, "limits"), "queued"), SCHED_QUEUED_TENANT_DEFAULT);
    assert_int_equal(num(v, "queued"), 0);

    /* back: the view without its read-only fields is a valid body with the same values */
    json_object_del(v, "nodes");
    json_object_del(v, "gpus");
    json_object_del(v, "degraded");
    json_object_del(v, "queued");
    struct sched_tenant_spec t;
    struct schema_error err;
    assert_int_equal(spec_tenant_from_json(v, &a, &t, &err), 0);
    assert_string_equal(t.name, "acme");
    assert_int_equal(t.max_grace_ms, 5 * 60000);
    assert_int_equal(t.max_queued, SCHED_QUEUED_TENANT_DEFAULT);
    json_decref(v);

    v = view_cluster(s, 0);
    assert_string_equal(str(v, "name"), "shared-1");
    assert_true(json_is_null(json_object_get(v, "dedicated_to")));
    assert_int_equal(num(v, "nodes"), 1);
    json_decref(v);

    /* a tenant without a grace cap shows null, and null reads back as "not given" */
    json_t *j = parse("{\"name\": \"beta\", \"isolation\": \"dedicated\"}");
    assert_int_equal(spec_tenant_from_json(j, &a, &t, &err), 0);
    json_decref(j);
    assert_int_equal(sched_tenant_add(s, &t, NULL, why, sizeof(why)), 0);
    v = view_tenant(s, 1);
    assert_true(json_is_null(json_object_get(v, "max_grace")));
    assert_string_equal(str(v, "isolation"), "dedicated");
    /* and the view reads back: null is a value of max_grace (no cap) */
    struct sched_tenant_spec t2;
    assert_int_equal(spec_tenant_from_json(v, &a, &t2, &err), -ALLOT_EINVAL); /* read-only */
    json_object_del(v, "nodes");
    json_object_del(v, "gpus");
    json_object_del(v, "degraded");
    json_object_del(v, "queued");
    assert_int_equal(spec_tenant_from_json(v, &a, &t2, &err), 0);
    assert_int_equal(t2.max_grace_ms, 0);
    json_decref(v);
    j = parse("{\"name\": \"beta-only\", \"dedicated_to\": \"beta\"}");
    struct sched_cluster_spec c;
    assert_int_equal(spec_cluster_from_json(j, &a, &c, &err), 0);
    json_decref(j);
    assert_int_equal(sched_cluster_add(s, &c, NULL, why, sizeof(why)), 0);
    v = view_cluster(s, 1);
    assert_string_equal(str(v, "dedicated_to"), "beta");
    assert_int_equal(num(v, "nodes"), 0);
    json_decref(v);

    assert_null(view_tenant(s, 2));
    assert_null(view_cluster(s, 2));
    assert_null(view_node(s, 1));
    assert_null(view_workspace(s, 2));
    assert_null(view_workload(s, 0));
    sched_free(s);
    arena_cleanup(&a);
}

/* A node's view, turned back into a body, makes a second node with the same view. */
static void test_node_round_trip(void **state)
{
    struct arena a;
    struct schema_error err;
    arena_init(&a, 0);
    struct sched *s = platform(&a);
    json_t *v = view_node(s, 0);
    assert_string_equal(str(v, "name"), "gpu-a");
    assert_string_equal(str(v, "cluster"), "shared-1");
    assert_string_equal(str(v, "tenant"), "acme");
    assert_string_equal(str(v, "state"), "ready");
    assert_string_equal(str(v, "cpu"), "128");
    assert_string_equal(str(v, "memory"), "1Ti");
    assert_string_equal(str(v, "cpu_used"), "0");
    assert_string_equal(str(v, "memory_used"), "0");
    const json_t *labels = json_object_get(v, "labels");
    assert_int_equal(json_object_size(labels), 2);
    assert_string_equal(str(labels, "zone"), "a");
    assert_string_equal(str(labels, "rack"), "r1");
    const json_t *gpus = json_object_get(v, "gpus");
    assert_int_equal(json_array_size(gpus), 8);
    const json_t *g0 = json_array_get(gpus, 0), *g7 = json_array_get(gpus, 7);
    assert_int_equal(num(g0, "index"), 0);
    assert_string_equal(str(g0, "model"), "H100-80GB");
    assert_true(boolean(g0, "healthy"));
    assert_true(json_is_null(json_object_get(g0, "holder")));
    assert_null(json_object_get(g0, "mig"));
    const json_t *mig = json_object_get(g7, "mig");
    assert_int_equal(json_array_size(mig), 2);
    assert_string_equal(str(json_array_get(mig, 1), "profile"), "3g.40gb");
    assert_int_equal(num(json_array_get(mig, 1), "start"), 4);
    assert_true(json_is_null(json_object_get(json_array_get(mig, 1), "holder")));

    /* back: one gpus entry per GPU, MIG instances as {profile, start} */
    json_t *body = json_object();
    json_object_set_new(body, "name", json_string("gpu-b"));
    const char *keep[] = {"cluster", "tenant", "cpu", "memory", "state", "labels"};
    for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
        json_object_set(body, keep[k], json_object_get(v, keep[k]));
    json_t *list = json_array();
    for (size_t i = 0; i < json_array_size(gpus); i++) {
        const json_t *g = json_array_get(gpus, i);
        json_t *e = json_object();
        json_object_set(e, "model", json_object_get(g, "model"));
        json_object_set(e, "healthy", json_object_get(g, "healthy"));
        const json_t *slots = json_object_get(g, "mig");
        if (slots) {
            json_t *m = json_array();
            for (size_t k = 0; k < json_array_size(slots); k++) {
                json_t *x = json_deep_copy(json_array_get(slots, k));
                json_object_del(x, "holder");
                json_array_append_new(m, x);
            }
            json_object_set_new(e, "mig", m);
        }
        json_array_append_new(list, e);
    }
    json_object_set_new(body, "gpus", list);
    struct sched_node_spec n;
    assert_int_equal(spec_node_from_json(body, &a, &n, &err), 0);
    json_decref(body);
    assert_int_equal(sched_node_add(s, &n, NULL, why, sizeof(why)), 0);
    json_t *v2 = view_node(s, 1);
    json_object_set_new(v2, "name", json_string("gpu-a"));
    assert_true(json_equal(v, v2));
    json_decref(v);
    json_decref(v2);
    sched_free(s);
    arena_cleanup(&a);
}

/* Submit through the reader, schedule, and check every field of the views. */
static void test_workload_round_trip(void **state)
{
    struct arena a;
    struct schema_error err;
    struct workload_spec w;
    uint32_t id;
    arena_init(&a, 0);
    struct sched *s = platform(&a);

    json_t *j = parse("{\"name\": \"train-1\", \"workspace\": \"acme/research\", \"kind\": "
                      "\"training\", \"priority\": 50, \"gpus\": 4, \"replicas\": 1, \"cpu\": "
                      "\"16\", \"memory\": \"64Gi\", \"storage\": \"100Gi\", \"preemptible\": "
                      "true, \"grace\": \"45s\", \"command\": [\"python\", \"train.py\", \"\"], "
                      "\"env\": {\"EPOCHS\": \"3\", \"_X1\": \"\"}, \"duration\": \"2h\", "
                      "\"idempotency_key\": \"abc-123\"}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_string_equal(w.w.name, "train-1");
    assert_string_equal(w.w.workspace, "acme/research");
    assert_int_equal(w.w.kind, SCHED_KIND_TRAINING);
    assert_true(w.w.has_priority);
    assert_int_equal(w.w.priority, 50);
    assert_int_equal(w.w.gpus, 4);
    assert_int_equal(w.w.mig, -1);
    assert_int_equal(w.w.model, -1);
    assert_int_equal(w.w.cpu, 16000);
    assert_int_equal(w.w.memory, 64 * GI);
    assert_int_equal(w.w.storage, 100 * GI);
    assert_int_equal(w.w.preemptible, 1);
    assert_int_equal(w.w.grace_ms, 45000);
    assert_int_equal(w.n_command, 3);
    assert_string_equal(w.command[1], "train.py");
    assert_string_equal(w.command[2], "");
    assert_int_equal(w.n_env, 2);
    assert_string_equal(w.env[0].name, "EPOCHS");
    assert_string_equal(w.env[0].value, "3");
    assert_string_equal(w.env[1].name, "_X1");
    assert_int_equal(w.duration_ms, 2 * 3600000);
    assert_string_equal(w.idempotency_key, "abc-123");
    assert_int_equal(sched_submit(s, &w.w, 1000, &id, why, sizeof(why)), 0);

    j = parse("{\"name\": \"infer\", \"workspace\": \"acme/prod\", \"kind\": \"inference\", "
              "\"mig\": \"3g.40gb\", \"model\": \"H100-80GB\", \"replicas\": 2, \"cpu\": 0.5}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_false(w.w.has_priority);
    assert_int_equal(w.w.preemptible, -1);
    assert_int_equal(w.w.grace_ms, -1);
    assert_int_equal(w.w.cpu, 500);
    assert_int_equal(w.w.model, GPU_MODEL_H100_80GB);
    assert_null(w.command);
    assert_null(w.idempotency_key);
    assert_int_equal(w.duration_ms, -1);
    assert_int_equal(sched_submit(s, &w.w, 1000, NULL, why, sizeof(why)), 0);
    assert_int_equal(sched_schedule(s, 2000), 0);

    json_t *v = view_workload(s, id);
    assert_string_equal(str(v, "name"), "train-1");
    assert_string_equal(str(v, "workspace"), "acme/research");
    assert_string_equal(str(v, "tenant"), "acme");
    assert_string_equal(str(v, "kind"), "training");
    assert_int_equal(num(v, "priority"), 50);
    assert_true(boolean(v, "preemptible"));
    assert_int_equal(num(v, "gpus"), 4);
    assert_null(json_object_get(v, "mig"));
    assert_null(json_object_get(v, "model"));
    assert_int_equal(num(v, "replicas"), 1);
    assert_string_equal(str(v, "cpu"), "16");
    assert_string_equal(str(v, "memory"), "64Gi");
    assert_string_equal(str(v, "storage"), "100Gi");
    assert_string_equal(str(v, "grace"), "45s");
    assert_true(json_is_null(json_object_get(v, "time_limit"))); /* none */
    assert_string_equal(str(v, "state"), "running");
    assert_null(json_object_get(v, "reason"));
    assert_true(boolean(v, "borrowed")); /* research reserves nothing */
    assert_int_equal(num(v, "submitted"), 1000);
    assert_int_equal(num(v, "started"), 2000);
    const json_t *placement = json_object_get(v, "placement");
    assert_int_equal(json_array_size(placement), 1);
    assert_string_equal(str(json_array_get(placement, 0), "node"), "gpu-a");
    assert_int_equal(json_array_size(json_object_get(json_array_get(placement, 0), "gpus")), 4);

    /* back: the request fields of the view read as the same request */
    json_t *body = json_deep_copy(v);
    const char *view_only[] = {"tenant",  "state",     "borrowed",       "submitted",
                               "started", "placement", "last_checkpoint"};
    for (size_t k = 0; k < sizeof(view_only) / sizeof(view_only[0]); k++)
        json_object_del(body, view_only[k]);
    json_object_set_new(body, "name", json_string("train-2"));
    struct workload_spec again;
    assert_int_equal(workload_from_json(body, &a, &again, &err), 0);
    json_decref(body);
    assert_int_equal(again.w.gpus, 4);
    assert_int_equal(again.w.cpu, 16000);
    assert_int_equal(again.w.memory, 64 * GI);
    assert_int_equal(again.w.storage, 100 * GI);
    assert_int_equal(again.w.grace_ms, 45000);
    assert_int_equal(again.w.priority, 50);
    assert_int_equal(again.w.preemptible, 1);
    json_decref(v);

    uint32_t infer;
    assert_int_equal(sched_workload_find(s, "infer", &infer), 0);
    v = view_workload(s, infer);
    assert_string_equal(str(v, "mig"), "3g.40gb");
    assert_null(json_object_get(v, "gpus"));
    assert_string_equal(str(v, "model"), "H100-80GB");
    assert_false(boolean(v, "preemptible")); /* the inference default */
    assert_string_equal(str(v, "cpu"), "500m");
    assert_string_equal(str(v, "grace"), "30s"); /* the engine's default */
    assert_false(boolean(v, "borrowed"));
    placement = json_object_get(v, "placement");
    assert_int_equal(json_array_size(placement), 2);
    for (size_t k = 0; k < 2; k++) {
        const json_t *p = json_array_get(placement, k);
        assert_int_equal(num(p, "gpu"), 7);
        assert_string_equal(str(p, "profile"), "3g.40gb");
    }
    assert_int_not_equal(num(json_array_get(placement, 0), "start"),
                         num(json_array_get(placement, 1), "start"));
    json_decref(v);

    /* usage: research borrows its 4 GPUs, prod holds 1 GPU's worth of slices, guaranteed */
    v = view_workspace(s, 1);
    const json_t *usage = json_object_get(v, "usage");
    assert_string_equal(str(usage, "gpu_held"), "4");
    assert_string_equal(str(usage, "gpu_guaranteed"), "0");
    assert_string_equal(str(usage, "gpu_borrowed"), "4");
    assert_string_equal(str(usage, "cpu"), "16");
    assert_string_equal(str(usage, "memory"), "64Gi");
    assert_int_equal(num(usage, "pending"), 0);
    json_decref(v);
    v = view_workspace(s, 0);
    usage = json_object_get(v, "usage");
    assert_string_equal(str(usage, "gpu_held"), "1");
    assert_string_equal(str(usage, "gpu_guaranteed"), "1");
    assert_string_equal(str(usage, "gpu_borrowed"), "0");
    assert_string_equal(str(usage, "cpu"), "1");
    json_decref(v);

    /* the node names its holders */
    v = view_node(s, 0);
    const json_t *gpus = json_object_get(v, "gpus");
    assert_string_equal(str(json_array_get(gpus, 0), "holder"), "train-1");
    assert_true(json_is_null(json_object_get(json_array_get(gpus, 6), "holder")));
    const json_t *mig = json_object_get(json_array_get(gpus, 7), "mig");
    assert_string_equal(str(json_array_get(mig, 0), "holder"), "infer");
    assert_string_equal(str(json_array_get(mig, 1), "holder"), "infer");
    assert_string_equal(str(v, "cpu_used"), "17");
    json_decref(v);

    /* a higher priority preempts train-1: it drains, and the newcomer reclaims its GPUs */
    j = parse("{\"name\": \"big\", \"workspace\": \"acme/research\", \"gpus\": \"4\"}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_int_equal(sched_submit(s, &w.w, 3000, &id, why, sizeof(why)), 0);
    assert_int_equal(sched_schedule(s, 3000), 0);
    v = view_workload(s, id);
    assert_string_equal(str(v, "state"), "reclaiming");
    assert_true(json_is_null(json_object_get(v, "started")));
    assert_int_equal(json_array_size(json_object_get(v, "placement")), 1);
    json_decref(v);
    uint32_t train;
    assert_int_equal(sched_workload_find(s, "train-1", &train), 0);
    v = view_workload(s, train);
    assert_string_equal(str(v, "state"), "draining");
    assert_string_equal(str(v, "reason"), "priority");
    assert_int_equal(num(v, "started"), 2000);
    assert_int_equal(json_array_size(json_object_get(v, "placement")), 1);
    json_decref(v);

    /* a pending workload says why, and has neither start nor placement */
    j = parse("{\"name\": \"small\", \"workspace\": \"acme/research\", \"gpus\": 4, "
              "\"priority\": 10}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_int_equal(sched_submit(s, &w.w, 3000, &id, why, sizeof(why)), 0);
    assert_int_equal(sched_schedule(s, 3000), 0);
    v = view_workload(s, id);
    assert_string_equal(str(v, "state"), "pending");
    enum sched_reason reason;
    assert_int_equal(reason_parse(str(v, "reason"), &reason), 0);
    assert_string_equal(str(v, "reason_text"), reason_text(reason));
    assert_true(json_is_null(json_object_get(v, "started")));
    assert_null(json_object_get(v, "placement"));
    json_decref(v);

    /* rejected for an unknown workspace: no workspace or tenant to show */
    j = parse("{\"name\": \"lost\", \"workspace\": \"acme/nowhere\"}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_int_equal(sched_submit(s, &w.w, 4000, &id, why, sizeof(why)), -ALLOT_ENOENT);
    v = view_workload(s, id);
    assert_string_equal(str(v, "state"), "rejected");
    assert_string_equal(str(v, "reason"), "unknown_workspace");
    assert_true(json_is_null(json_object_get(v, "workspace")));
    assert_true(json_is_null(json_object_get(v, "tenant")));
    json_decref(v);
    sched_free(s);
    arena_cleanup(&a);
}

/* A workspace's view reads back as the spec it was made from; partial changes change only the
 * fields they give, and a refused change changes nothing. */
static void test_workspace_round_trip_and_patch(void **state)
{
    struct arena a;
    struct schema_error err;
    struct sched_workspace_spec ws, back;
    arena_init(&a, 0);
    struct sched *s = platform(&a);
    json_t *v = view_workspace(s, 0);
    assert_string_equal(str(v, "name"), "acme/prod");
    assert_string_equal(str(v, "tenant"), "acme");
    assert_string_equal(str(json_object_get(v, "reserved"), "gpu"), "4");
    const json_t *limits = json_object_get(v, "limits");
    assert_string_equal(str(limits, "gpu"), "8");
    assert_string_equal(str(limits, "cpu"), "64");
    assert_string_equal(str(limits, "memory"), "512Gi");
    assert_string_equal(str(limits, "storage"), "1Ti");
    assert_true(boolean(v, "lend"));
    assert_int_equal(num(v, "weight"), 1);
    json_object_del(v, "tenant");
    json_object_del(v, "usage");
    json_t *j = parse(prod_json);
    assert_int_equal(spec_workspace_from_json(j, NULL, &a, &ws, &err), 0);
    json_decref(j);
    assert_int_equal(spec_workspace_from_json(v, "acme", &a, &back, &err), 0);
    json_decref(v);
    assert_string_equal(back.name, ws.name);
    assert_memory_equal(&back.limits, &ws.limits, sizeof(ws.limits));
    assert_int_equal(back.reserved, ws.reserved);
    assert_int_equal(back.lend, ws.lend);
    assert_int_equal(back.weight, ws.weight);

    v = view_workspace(s, 1);
    limits = json_object_get(v, "limits");
    assert_string_equal(str(limits, "gpu"), "none");
    assert_string_equal(str(limits, "cpu"), "none");
    assert_false(boolean(v, "lend"));
    assert_int_equal(num(v, "weight"), 2);
    json_decref(v);

    /* patches of acme/prod, starting from its current values */
    j = parse("{\"limits\": {\"gpu\": \"none\"}, \"weight\": 3, \"name\": \"prod\"}");
    assert_int_equal(spec_workspace_patch_from_json(j, &a, &ws, &err), 0);
    json_decref(j);
    assert_true(ws.limits.gpu == SCHED_UNLIMITED);
    assert_int_equal(ws.limits.cpu, 64000); /* untouched */
    assert_int_equal(ws.reserved, 4 * GPU);
    assert_int_equal(ws.weight, 3);
    j = parse("{\"reserved\": {\"gpu\": \"3/7\"}, \"lend\": false, \"name\": \"acme/prod\"}");
    assert_int_equal(spec_workspace_patch_from_json(j, &a, &ws, &err), 0);
    json_decref(j);
    assert_int_equal(ws.reserved, 3 * GPU / 7);
    assert_false(ws.lend);
    assert_int_equal(sched_workspace_update(s, &ws, 5000, why, sizeof(why)), 0);
    v = view_workspace(s, 0);
    assert_string_equal(str(json_object_get(v, "reserved"), "gpu"), "3/7");
    assert_string_equal(str(json_object_get(v, "limits"), "gpu"), "none");
    assert_int_equal(num(v, "weight"), 3);
    assert_false(boolean(v, "lend"));
    json_decref(v);

    struct sched_workspace_spec before = ws;
    const struct {
        const char *json;
        int code;
        const char *field;
    } refused[] = {
        {"{\"name\": \"acme/other\"}", -ALLOT_EINVAL, "name"},
        {"{\"limits\": {\"gpu\": 2}, \"reserved\": {\"gpu\": 3}}", -ALLOT_EINVAL, "reserved.gpu"},
        {"{\"limits\": {\"gpu\": \"3/8\"}}", -ALLOT_EINVAL, "limits.gpu"}, /* below 3/7 */
        {"{\"reserved\": {}}", -ALLOT_EINVAL, "reserved.gpu"},
        {"{\"weight\": 3, \"lend\": \"no\"}", -ALLOT_EINVAL, "lend"},
        {"{\"tenant\": \"acme\"}", -ALLOT_EINVAL, "tenant"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        j = parse(refused[i].json);
        int rc = spec_workspace_patch_from_json(j, &a, &ws, &err);
        json_decref(j);
        if (rc != refused[i].code || strcmp(err.field, refused[i].field) != 0)
            fail_msg("%s: got %d at '%s' (%s)", refused[i].json, rc, err.field, err.message);
        assert_memory_equal(&ws, &before, sizeof(ws));
    }
    sched_free(s);
    arena_cleanup(&a);
}

/* require_image: the views show it (false by default), and the exported platform carries it
 * in ops that read back the same; a tenant's stays on its tenant. */
static void test_require_image_views_and_export(void **state)
{
    struct arena a;
    struct schema_error err;
    struct sched_tenant_spec t;
    struct sched_workspace_spec ws;
    arena_init(&a, 0);
    struct sched *s = platform(&a);
    json_t *v = view_tenant(s, 0);
    assert_false(boolean(v, "require_image"));
    json_decref(v);
    v = view_workspace(s, 0);
    assert_false(boolean(v, "require_image"));
    json_decref(v);
    json_t *j = parse("{\"name\": \"boxed\", \"require_image\": true}");
    assert_int_equal(spec_tenant_from_json(j, &a, &t, &err), 0);
    json_decref(j);
    assert_int_equal(sched_tenant_add(s, &t, NULL, why, sizeof(why)), 0);
    ws = (struct sched_workspace_spec){.name = "acme/prod",
                                       .limits = s->workspaces[0].limits,
                                       .reserved = s->workspaces[0].reserved,
                                       .lend = s->workspaces[0].lend,
                                       .weight = s->workspaces[0].weight};
    j = parse("{\"require_image\": true}");
    assert_int_equal(spec_workspace_patch_from_json(j, &a, &ws, &err), 0);
    json_decref(j);
    assert_int_equal(sched_workspace_update(s, &ws, 1000, why, sizeof(why)), 0);
    v = view_tenant(s, 1);
    assert_true(boolean(v, "require_image"));
    json_decref(v);
    v = view_workspace(s, 0);
    assert_true(boolean(v, "require_image"));
    json_decref(v);
    v = view_workspace(s, 1);
    assert_false(boolean(v, "require_image"));
    json_decref(v);

    json_t *ops = export_platform_ops(s);
    assert_non_null(ops);
    int tenants = 0, workspaces = 0;
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        struct op read;
        const char *name = str(op, "op");
        const char *spec_name =
            json_string_value(json_object_get(json_object_get(op, "spec"), "name"));
        if (strcmp(name, OP_TENANT_ADD) == 0) {
            assert_int_equal(op_read_tenant(op, &a, &read, &err), 0);
            assert_int_equal(read.u.tenant.require_image, strcmp(spec_name, "boxed") == 0);
            tenants++;
        } else if (strcmp(name, OP_WORKSPACE_ADD) == 0) {
            assert_int_equal(op_read_workspace(op, &a, &read, &err), 0);
            assert_int_equal(read.u.workspace.require_image, strcmp(spec_name, "acme/prod") == 0);
            workspaces++;
        }
    }
    assert_int_equal(tenants, 2);
    assert_int_equal(workspaces, 2);
    json_decref(ops);
    sched_free(s);
    arena_cleanup(&a);
}

/* Numbers and strings for quantities, exact fractions, and "1+3/7" as views print it. */
static void test_quantities(void **state)
{
    struct arena a;
    struct schema_error err;
    struct sched_workspace_spec ws;
    struct workload_spec w;
    arena_init(&a, 0);
    const struct {
        const char *reserved;
        int64_t units;
    } gpus[] = {
        {"4", 4 * GPU},           {"0.5", GPU / 2},
        {"0.125", GPU / 8},       {"\"0.5\"", GPU / 2},
        {"\"3/7\"", 3 * GPU / 7}, {"\"1+3/7\"", GPU + 3 * GPU / 7},
        {"2.0", 2 * GPU},         {"0", 0},
        {"1e2", 100 * GPU},       {"\"1.25\"", 5 * GPU / 4},
    };
    for (size_t i = 0; i < sizeof(gpus) / sizeof(gpus[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"name\": \"a/b\", \"reserved\": {\"gpu\": %s}}",
                 gpus[i].reserved);
        json_t *j = parse(text);
        if (spec_workspace_from_json(j, NULL, &a, &ws, &err) != 0)
            fail_msg("%s: %s: %s", text, err.field, err.message);
        json_decref(j);
        assert_int_equal(ws.reserved, gpus[i].units);
        char back[48];
        quantity_format_gpu(ws.reserved, back, sizeof(back));
        snprintf(text, sizeof(text), "{\"name\": \"a/b\", \"reserved\": {\"gpu\": \"%s\"}}", back);
        j = parse(text);
        assert_int_equal(spec_workspace_from_json(j, NULL, &a, &ws, &err), 0);
        json_decref(j);
        assert_int_equal(ws.reserved, gpus[i].units);
    }
    json_t *j = parse("{\"name\": \"w\", \"workspace\": \"a/b\", \"cpu\": 2, \"memory\": "
                      "1073741824, \"storage\": \"1.5Gi\", \"grace\": 30, \"duration\": 0.5}");
    assert_int_equal(workload_from_json(j, &a, &w, &err), 0);
    json_decref(j);
    assert_int_equal(w.w.cpu, 2000);
    assert_int_equal(w.w.memory, GI);
    assert_int_equal(w.w.storage, 3 * GI / 2);
    assert_int_equal(w.w.grace_ms, 30000);
    assert_int_equal(w.duration_ms, 500);
    /* err may be NULL */
    j = parse("{\"name\": \"W\"}");
    assert_int_equal(spec_tenant_from_json(j, &a, &(struct sched_tenant_spec){0}, NULL),
                     -ALLOT_EINVAL);
    json_decref(j);
    arena_cleanup(&a);
}

enum reader_kind { TENANT, CLUSTER, NODE, WORKSPACE, WORKLOAD };

/* A workload body with the required fields and x; a node body likewise. */
#define WL(x) "{\"name\": \"w\", \"workspace\": \"acme/research\", " x "}"
#define NODE_WITH(x) "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 8, \"memory\": \"8Gi\", " x "}"
#define GPUS(x) NODE_WITH("\"gpus\": [" x "]")

static void test_bad_inputs(void **state)
{
    static const struct {
        enum reader_kind kind;
        const char *json;
        int code;
        const char *field;
    } cases[] = {
        /* workloads: types, ranges, names, formats */
        {WORKLOAD, WL("\"gpus\": true"), -ALLOT_EINVAL, "gpus"},
        /* null is not "left out": it is refused but where it means "none" */
        {WORKLOAD, WL("\"gpus\": null"), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"command\": null"), -ALLOT_EINVAL, "command"},
        {WORKSPACE, "{\"name\": \"acme/x\", \"limits\": {\"gpu\": null}}", -ALLOT_EINVAL,
         "limits.gpu"},
        {WORKLOAD, WL("\"gpus\": [4]"), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"gpus\": -1"), -ALLOT_ERANGE, "gpus"},
        {WORKLOAD, WL("\"gpus\": \"-1\""), -ALLOT_ERANGE, "gpus"},
        {WORKLOAD, WL("\"gpus\": 1e30"), -ALLOT_ERANGE, "gpus"},
        {WORKLOAD, WL("\"gpus\": 9223372036854775807"), -ALLOT_ERANGE, "gpus"},
        {WORKLOAD, WL("\"gpus\": 2000"), -ALLOT_ERANGE, "gpus"},
        {WORKLOAD, WL("\"gpus\": 0.5"), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"gpus\": \"3/7\""), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"gpus\": 0.1234567"), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"gpus\": \"four\""), -ALLOT_EINVAL, "gpus"},
        {WORKLOAD, WL("\"memory\": \"12Gx\""), -ALLOT_EINVAL, "memory"},
        {WORKLOAD, WL("\"memory\": 1.5"), -ALLOT_ERANGE, "memory"},
        {WORKLOAD, WL("\"cpu\": \"500x\""), -ALLOT_EINVAL, "cpu"},
        {WORKLOAD, WL("\"cpu\": 0.0005"), -ALLOT_ERANGE, "cpu"},
        {WORKLOAD, WL("\"storage\": {}"), -ALLOT_EINVAL, "storage"},
        {WORKLOAD, WL("\"gpu\": 4"), -ALLOT_EINVAL, "gpu"},
        {WORKLOAD, "{\"name\": \"a/b\", \"workspace\": \"acme/research\"}", -ALLOT_EINVAL, "name"},
        {WORKLOAD, "{\"name\": \"Train\", \"workspace\": \"acme/research\"}", -ALLOT_EINVAL,
         "name"},
        {WORKLOAD,
         "{\"name\": "
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"workspace\": \"acme/research\"}",
         -ALLOT_EINVAL, "name"},
        {WORKLOAD, "{\"name\": \"a'; DROP TABLE x;--\", \"workspace\": \"acme/research\"}",
         -ALLOT_EINVAL, "name"},
        {WORKLOAD, "{\"name\": \"a\\u0000b\", \"workspace\": \"acme/research\"}", -ALLOT_EINVAL,
         "name"},
        {WORKLOAD, "{\"name\": 7, \"workspace\": \"acme/research\"}", -ALLOT_EINVAL, "name"},
        {WORKLOAD, "{\"workspace\": \"acme/research\"}", -ALLOT_EINVAL, "name"},
        {WORKLOAD, "{\"name\": \"w\", \"workspace\": \"research\"}", -ALLOT_EINVAL, "workspace"},
        {WORKLOAD, "{\"name\": \"w\", \"workspace\": \"acme/research/x\"}", -ALLOT_EINVAL,
         "workspace"},
        {WORKLOAD, "{\"name\": \"w\"}", -ALLOT_EINVAL, "workspace"},
        {WORKLOAD, "[]", -ALLOT_EINVAL, ""},
        {WORKLOAD, "\"w\"", -ALLOT_EINVAL, ""},
        {WORKLOAD, WL("\"replicas\": 0"), -ALLOT_ERANGE, "replicas"},
        {WORKLOAD, WL("\"replicas\": 100000"), -ALLOT_ERANGE, "replicas"},
        {WORKLOAD, WL("\"replicas\": \"2\""), -ALLOT_EINVAL, "replicas"},
        {WORKLOAD, WL("\"priority\": \"high\""), -ALLOT_EINVAL, "priority"},
        {WORKLOAD, WL("\"priority\": 2.5"), -ALLOT_EINVAL, "priority"},
        {WORKLOAD, WL("\"priority\": 10000000"), -ALLOT_ERANGE, "priority"},
        {WORKLOAD, WL("\"kind\": \"batch\""), -ALLOT_EINVAL, "kind"},
        {WORKLOAD, WL("\"model\": \"H100\""), -ALLOT_EINVAL, "model"},
        {WORKLOAD, WL("\"preemptible\": \"yes\""), -ALLOT_EINVAL, "preemptible"},
        {WORKLOAD, WL("\"preemptible\": 1"), -ALLOT_EINVAL, "preemptible"},
        {WORKLOAD, WL("\"grace\": \"-5s\""), -ALLOT_ERANGE, "grace"},
        {WORKLOAD, WL("\"grace\": -5"), -ALLOT_ERANGE, "grace"},
        {WORKLOAD, WL("\"duration\": \"soon\""), -ALLOT_EINVAL, "duration"},
        {WORKLOAD, WL("\"mig\": \"9g.99gb\""), -ALLOT_EINVAL, "mig"},
        {WORKLOAD, WL("\"mig\": \"3g.40gb\", \"gpus\": 1"), -ALLOT_EINVAL, "mig"},
        {WORKLOAD, WL("\"command\": [\"python\", 3]"), -ALLOT_EINVAL, "command[1]"},
        {WORKLOAD, WL("\"command\": \"python train.py\""), -ALLOT_EINVAL, "command"},
        {WORKLOAD, WL("\"command\": []"), -ALLOT_ERANGE, "command"},
        {WORKLOAD, WL("\"command\": [\"\"]"), -ALLOT_EINVAL, "command[0]"},
        {WORKLOAD, WL("\"env\": {\"A\": 1}"), -ALLOT_EINVAL, "env.A"},
        {WORKLOAD, WL("\"env\": {\"A=B\": \"x\"}"), -ALLOT_EINVAL, "env.A=B"},
        {WORKLOAD, WL("\"env\": {\"1A\": \"x\"}"), -ALLOT_EINVAL, "env.1A"},
        {WORKLOAD, WL("\"env\": [\"A=1\"]"), -ALLOT_EINVAL, "env"},
        {WORKLOAD,
         WL("\"idempotency_key\": "
            "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
            "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\""),
         -ALLOT_EINVAL, "idempotency_key"},
        {WORKLOAD, WL("\"idempotency_key\": \"a b\""), -ALLOT_EINVAL, "idempotency_key"},
        {WORKLOAD, WL("\"count\": 4"), -ALLOT_EINVAL, "count"},
        /* nodes: MIG, GPU models, labels, quantities */
        {NODE,
         GPUS("{\"model\": \"H100-80GB\"}, {\"model\": \"H100-80GB\", \"mig\": [\"9g.1gb\"]}"),
         -ALLOT_EINVAL, "gpus[1].mig[0]"},
        {NODE, GPUS("{\"model\": \"H100-80GB\", \"mig\": [{\"profile\": \"2g.1gb\"}]}"),
         -ALLOT_EINVAL, "gpus[0].mig[0].profile"},
        {NODE,
         GPUS("{\"model\": \"H100-80GB\", \"mig\": [{\"profile\": \"4g.40gb\", \"start\": 0}, "
              "{\"profile\": \"3g.40gb\", \"start\": 0}]}"),
         -ALLOT_EINVAL, "gpus[0].mig"},
        {NODE, GPUS("{\"model\": \"H100-80GB\", \"mig\": [\"7g.80gb\", \"1g.10gb\"]}"),
         -ALLOT_EINVAL, "gpus[0].mig"},
        {NODE,
         GPUS("{\"model\": \"H100-80GB\", \"mig\": [{\"profile\": \"1g.10gb\", \"start\": 8}]}"),
         -ALLOT_ERANGE, "gpus[0].mig[0].start"},
        {NODE, GPUS("{\"model\": \"L40S\", \"mig\": [\"1g.10gb\"]}"), -ALLOT_EINVAL, "gpus[0].mig"},
        {NODE, GPUS("{\"model\": \"H100\"}"), -ALLOT_EINVAL, "gpus[0].model"},
        {NODE, GPUS("{\"count\": 2}"), -ALLOT_EINVAL, "gpus[0].model"},
        {NODE, GPUS("{\"model\": \"L40S\", \"count\": 33}"), -ALLOT_ERANGE, "gpus[0].count"},
        {NODE, GPUS("{\"model\": \"L40S\", \"count\": 20}, {\"model\": \"L40S\", \"count\": 20}"),
         -ALLOT_ERANGE, "gpus[1]"},
        {NODE, GPUS("{\"model\": \"L40S\", \"healthy\": \"no\"}"), -ALLOT_EINVAL,
         "gpus[0].healthy"},
        {NODE, NODE_WITH("\"labels\": {\"zone\": 1}"), -ALLOT_EINVAL, "labels.zone"},
        {NODE, NODE_WITH("\"labels\": {\"\": \"a\"}"), -ALLOT_EINVAL, "labels"},
        {NODE, NODE_WITH("\"state\": \"up\""), -ALLOT_EINVAL, "state"},
        {NODE, NODE_WITH("\"tenant\": \"Acme\""), -ALLOT_EINVAL, "tenant"},
        {NODE, "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": -8, \"memory\": \"8Gi\"}",
         -ALLOT_ERANGE, "cpu"},
        {NODE, "{\"name\": \"n\", \"cluster\": \"c\", \"cpu\": 8}", -ALLOT_EINVAL, "memory"},
        /* workspaces */
        {WORKSPACE, "{\"name\": \"acme/prod\", \"limits\": {\"memory\": \"lots\"}}", -ALLOT_EINVAL,
         "limits.memory"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"limits\": {\"gpu\": \"None\"}}", -ALLOT_EINVAL,
         "limits.gpu"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"limits\": {\"gpus\": 4}}", -ALLOT_EINVAL,
         "limits.gpus"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"reserved\": {\"gpus\": 1}}", -ALLOT_EINVAL,
         "reserved.gpus"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"reserved\": 4}", -ALLOT_EINVAL, "reserved"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"weight\": 0}", -ALLOT_ERANGE, "weight"},
        {WORKSPACE, "{\"name\": \"acme/prod\", \"lend\": 1}", -ALLOT_EINVAL, "lend"},
        {WORKSPACE, "{\"name\": \"other/prod\"}", -ALLOT_EINVAL, "name"}, /* default: acme */
        {WORKSPACE, "{\"name\": \"acme/Prod\"}", -ALLOT_EINVAL, "name"},
        /* tenants and clusters */
        {TENANT, "{\"name\": \"acme\", \"isolation\": \"private\"}", -ALLOT_EINVAL, "isolation"},
        {TENANT, "{\"name\": \"acme\", \"max_grace\": \"5 minutes\"}", -ALLOT_EINVAL, "max_grace"},
        {TENANT, "{\"name\": \"acme\", \"workspaces\": []}", -ALLOT_EINVAL, "workspaces"},
        {CLUSTER, "{\"name\": \"c\", \"dedicated_to\": \"Acme\"}", -ALLOT_EINVAL, "dedicated_to"},
    };
    struct arena a;
    arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = parse(cases[i].json);
        struct schema_error err;
        int rc = 0;
        switch (cases[i].kind) {
        case TENANT:
            rc = spec_tenant_from_json(j, &a, &(struct sched_tenant_spec){0}, &err);
            break;
        case CLUSTER:
            rc = spec_cluster_from_json(j, &a, &(struct sched_cluster_spec){0}, &err);
            break;
        case NODE:
            rc = spec_node_from_json(j, &a, &(struct sched_node_spec){0}, &err);
            break;
        case WORKSPACE:
            rc = spec_workspace_from_json(j, "acme", &a, &(struct sched_workspace_spec){0}, &err);
            break;
        case WORKLOAD:
            rc = workload_from_json(j, &a, &(struct workload_spec){0}, &err);
            break;
        }
        json_decref(j);
        if (rc != cases[i].code || err.code != rc || strcmp(err.field, cases[i].field) != 0 ||
            !err.message[0])
            fail_msg("case %zu %s: got %d at '%s' (%s); expected %d at '%s'", i, cases[i].json, rc,
                     err.field, err.message, cases[i].code, cases[i].field);
    }
    arena_cleanup(&a);
}

/* Messages say what to do, and never echo control characters. */
static void test_messages(void **state)
{
    struct arena a;
    struct schema_error err;
    arena_init(&a, 0);
    json_t *j = parse(WL("\"gpus\": 0.5"));
    assert_int_equal(workload_from_json(j, &a, &(struct workload_spec){0}, &err), -ALLOT_EINVAL);
    json_decref(j);
    assert_non_null(strstr(err.message, "mig"));
    j = parse("{\"name\": \"a\\nb\\u001b[31m\", \"workspace\": \"acme/research\"}");
    assert_int_equal(workload_from_json(j, &a, &(struct workload_spec){0}, &err), -ALLOT_EINVAL);
    json_decref(j);
    for (const char *p = err.message; *p; p++)
        assert_true((unsigned char)*p >= ' ' && (unsigned char)*p < 0x7f);
    j = parse(WL("\"gpu\": 4"));
    assert_int_equal(workload_from_json(j, &a, &(struct workload_spec){0}, &err), -ALLOT_EINVAL);
    json_decref(j);
    assert_non_null(strstr(err.message, "gpus"));
    /* a key with a NUL inside is not the key it starts like (jansson builds these, though
     * its parser refuses them) */
    j = parse(WL("\"gpus\": 4"));
    assert_int_equal(json_object_setn_new(j, "gpus\0x", 6, json_integer(4)), 0);
    assert_int_equal(workload_from_json(j, &a, &(struct workload_spec){0}, &err), -ALLOT_EINVAL);
    json_decref(j);
    assert_string_equal(err.field, "gpus?x");
    arena_cleanup(&a);
}

static void test_bounds(void **state)
{
    struct schema_error err;
    /* 20 levels of {"a": ...}: the ninth object is one too deep */
    char deep[256] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "{\"a\": ");
    strcat(deep, "1");
    for (int i = 0; i < 20; i++)
        strcat(deep, "}");
    json_t *j = parse(deep);
    assert_int_equal(reader_check_bounds(j, 8, 10000, &err), -ALLOT_ERANGE);
    assert_string_equal(err.field, "a.a.a.a.a.a.a.a");
    assert_int_equal(err.code, -ALLOT_ERANGE);
    assert_int_equal(reader_check_bounds(j, 20, 10000, &err), 0);
    json_decref(j);
    j = parse("[[[[[[[[1]]]]]]]]"); /* exactly 8 */
    assert_int_equal(reader_check_bounds(j, 8, 10000, &err), 0);
    json_decref(j);
    j = parse("[[[[[[[[[1]]]]]]]]]");
    assert_int_equal(reader_check_bounds(j, 8, 10000, &err), -ALLOT_ERANGE);
    assert_string_equal(err.field, "[0][0][0][0][0][0][0][0]");
    json_decref(j);

    /* 100,000 entries: refused at the array, before anything reads them */
    j = json_object();
    json_t *items = json_array();
    for (int i = 0; i < 100000; i++)
        json_array_append_new(items, json_integer(i));
    json_object_set_new(j, "items", items);
    assert_int_equal(reader_check_bounds(j, 8, 10000, &err), -ALLOT_ERANGE);
    assert_string_equal(err.field, "items");
    assert_int_equal(reader_check_bounds(j, 8, 100002, &err), 0); /* root + items + entries */
    assert_int_equal(reader_check_bounds(j, 8, 100001, &err), -ALLOT_ERANGE);
    json_decref(j);

    j = parse(node_json);
    assert_int_equal(reader_check_bounds(j, SCHEMA_MAX_DEPTH, 10000, &err), 0);
    assert_int_equal(reader_check_bounds(j, 3, 10000, &err), -ALLOT_ERANGE);
    assert_string_equal(err.field, "gpus[1].mig");
    json_decref(j);
    j = json_integer(3);
    assert_int_equal(reader_check_bounds(j, 0, 1, NULL), 0);
    json_decref(j);
    assert_int_equal(reader_check_bounds(NULL, 8, 10, &err), -ALLOT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_tenant_cluster_views),
        cmocka_unit_test(test_node_round_trip),
        cmocka_unit_test(test_workload_round_trip),
        cmocka_unit_test(test_workspace_round_trip_and_patch),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_require_image_views_and_export),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
