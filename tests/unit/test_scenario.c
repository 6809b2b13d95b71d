/* Unit tests for sim/scenario: the seed example loads as written, the timeline is ordered
 * stably, expect and final are read, and bad timelines are refused naming line and field. */
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
#include "sim/scenario.h"
#include "sched/sched.h"

#define GPU QUANTITY_GPU_UNITS
#define MINUTE (60 * 1000)

static char dir[64];
static char file[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/allot-test-scenario-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(file, sizeof(file), "%s/s.yaml", dir);
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

/* A platform for the timelines below: 8 H100s of tenant acme, one workspace. */
#define PLATFORM                                                                                   \
    "tenants:\n"                                                                                   \
    "  - name: acme\n"                                                                             \
    "    workspaces:\n"                                                                            \
    "      - {name: prod, reserved: {gpu: 4}}\n"                                                   \
    "clusters: [{name: c1}]\n"                                                                     \
    "nodes:\n"                                                                                     \
    "  - {name: n1, cluster: c1, tenant: acme, cpu: 64, memory: 512Gi,\n"                          \
    "     gpus: [{model: H100-80GB, count: 8}]}\n"
/* Lines of PLATFORM: timeline entries start on line 10. */

static void test_seed(void **state)
{
    const char *source = getenv("ALLOT_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/seed.yaml", source ? source : ".");
    struct scenario scn;
    struct sched *s = NULL;
    char err[512] = "";
    int rc = scenario_load(path, &scn, &s, err, sizeof(err));
    if (rc)
        fail_msg("scenario_load: %d %s", rc, err);
    assert_non_null(s);
    assert_string_equal(scn.path, path);
    assert_int_equal(s->n_tenants, 1);
    assert_int_equal(s->n_nodes, 2);
    assert_int_equal(s->n_workspaces, 2);
    assert_int_equal(s->tenants[0].max_grace_ms, 5 * MINUTE);

    assert_int_equal(scn.n_steps, 6);
    assert_int_equal(scn.n_expects, 0);
    assert_int_equal(scn.n_finals, 0);
    const struct scenario_step *st = scn.steps;

    assert_int_equal(st[0].action, SCENARIO_SUBMIT);
    assert_int_equal(st[0].at_ms, 0);
    assert_string_equal(st[0].submit.name, "r-train");
    assert_string_equal(st[0].submit.workspace, "acme/research");
    assert_int_equal(st[0].submit.kind, SCHED_KIND_TRAINING);
    assert_int_equal(st[0].submit.gpus, 8);
    assert_int_equal(st[0].submit.mig, -1);
    assert_int_equal(st[0].submit.model, -1);
    assert_int_equal(st[0].submit.replicas, 1);
    assert_int_equal(st[0].submit.preemptible, -1);
    assert_int_equal(st[0].submit.grace_ms, -1);
    assert_false(st[0].submit.has_priority);
    assert_int_equal(st[0].duration_ms, 120 * MINUTE);
    assert_int_equal(st[0].drain_ms, -1);
    assert_int_equal(st[0].count, 1);

    assert_int_equal(st[1].at_ms, 1 * MINUTE);
    assert_string_equal(st[1].submit.name, "r-exp");
    assert_int_equal(st[1].submit.kind, SCHED_KIND_EXPERIMENT);
    assert_int_equal(st[1].submit.gpus, 1);
    assert_int_equal(st[1].count, 8);
    assert_int_equal(st[1].duration_ms, 90 * MINUTE);

    assert_int_equal(st[2].at_ms, 10 * MINUTE);
    assert_string_equal(st[2].submit.name, "p-serve");
    assert_string_equal(st[2].submit.workspace, "acme/prod");
    assert_int_equal(st[2].submit.kind, SCHED_KIND_INFERENCE);
    assert_int_equal(st[2].submit.gpus, 4);

    assert_int_equal(st[3].at_ms, 20 * MINUTE);
    assert_int_equal(st[3].submit.kind, SCHED_KIND_FINETUNE);
    assert_int_equal(st[3].duration_ms, 30 * MINUTE);

    assert_int_equal(st[4].action, SCENARIO_CANCEL);
    assert_int_equal(st[4].at_ms, 40 * MINUTE);
    assert_string_equal(st[4].target, "r-train");

    assert_int_equal(st[5].action, SCENARIO_WORKSPACE);
    assert_int_equal(st[5].at_ms, 50 * MINUTE);
    assert_string_equal(st[5].workspace.name, "acme/prod");
    assert_true(st[5].workspace.has_reserved);
    assert_int_equal(st[5].workspace.reserved, 2 * GPU);
    for (int r = 0; r < 4; r++)
        assert_false(st[5].workspace.has_limit[r]);
    assert_false(st[5].workspace.has_lend);
    assert_false(st[5].workspace.has_weight);

    scenario_cleanup(&scn);
    assert_null(scn.steps);
    sched_free(s);
}

/* Every action, expect and final, with the timeline out of order: steps come out sorted by
 * time, and steps at the same time keep their order in the file. */
static void test_full(void **state)
{
    static const char text[] =
        PLATFORM "timeline:\n"
                 "  - at: 5m\n" /* 10 */
                 "    finish: late\n"
                 "  - at: 1m\n" /* 12 */
                 "    submit: {name: a, workspace: acme/prod, mig: 3g.40gb, model: H100-80GB,\n"
                 "             replicas: 2, cpu: 500m, memory: 8Gi, storage: 1Ti,\n"
                 "             preemptible: false, grace: 45s, drain: 10s, priority: -7}\n"
                 "  - at: 1m\n" /* 16 */
                 "    node: {name: n1, state: draining}\n"
                 "  - at: 0s\n" /* 18 */
                 "    gpu: {node: n1, index: 7, healthy: false}\n"
                 "  - at: 1m\n" /* 20 */
                 "    workspace:\n"
                 "      name: acme/prod\n"
                 "      limits: {gpu: 6, cpu: none}\n"
                 "      lend: false\n"
                 "      weight: 3\n"
                 "expect:\n"
                 "  - {event: admitted, workload: a, at: 1m, borrowed: false}\n" /* 27 */
                 "  - {event: preempting, workload: b-1, reason: reclaim, for: a}\n"
                 "  - {event: rejected, absent: true}\n"
                 "final:\n"
                 "  a: running\n" /* 31 */
                 "  b-1: cancelled\n";
    struct scenario scn;
    struct sched *s = NULL;
    char err[512] = "";
    int rc = scenario_load(write_yaml(text), &scn, &s, err, sizeof(err));
    if (rc)
        fail_msg("scenario_load: %d %s", rc, err);
    assert_int_equal(scn.n_steps, 5);
    const struct scenario_step *st = scn.steps;
    int order[] = {18, 12, 16, 20, 10};
    for (int i = 0; i < 5; i++)
        assert_int_equal(st[i].line, order[i]);
    assert_int_equal(st[0].action, SCENARIO_GPU_HEALTH);
    assert_string_equal(st[0].target, "n1");
    assert_int_equal(st[0].gpu_index, 7);
    assert_false(st[0].healthy);

    const struct sched_workload_spec *a = &st[1].submit;
    assert_int_equal(st[1].action, SCENARIO_SUBMIT);
    assert_int_equal(a->gpus, 0);
    assert_int_equal(a->mig, mig_name_id("3g.40gb"));
    assert_int_equal(a->model, GPU_MODEL_H100_80GB);
    assert_int_equal(a->replicas, 2);
    assert_int_equal(a->cpu, 500);
    assert_int_equal(a->memory, (int64_t)8 << 30);
    assert_int_equal(a->storage, (int64_t)1 << 40);
    assert_int_equal(a->preemptible, 0);
    assert_int_equal(a->grace_ms, 45 * 1000);
    assert_true(a->has_priority);
    assert_int_equal(a->priority, -7);
    assert_int_equal(st[1].drain_ms, 10 * 1000);
    assert_int_equal(st[1].duration_ms, -1);

    assert_int_equal(st[2].action, SCENARIO_NODE_STATE);
    assert_int_equal(st[2].node_state, SCHED_NODE_DRAINING);

    const struct scenario_workspace_change *w = &st[3].workspace;
    assert_int_equal(st[3].action, SCENARIO_WORKSPACE);
    assert_false(w->has_reserved);
    assert_true(w->has_limit[SCHED_RES_GPU]);
    assert_int_equal(w->limits.gpu, 6 * GPU);
    assert_true(w->has_limit[SCHED_RES_CPU]);
    assert_true(w->limits.cpu == SCHED_UNLIMITED);
    assert_false(w->has_limit[SCHED_RES_MEMORY]);
    assert_false(w->has_limit[SCHED_RES_STORAGE]);
    assert_true(w->has_lend);
    assert_false(w->lend);
    assert_true(w->has_weight);
    assert_int_equal(w->weight, 3);

    assert_int_equal(st[4].action, SCENARIO_FINISH);
    assert_string_equal(st[4].target, "late");

    assert_int_equal(scn.n_expects, 3);
    const struct scenario_expect *x = scn.expects;
    assert_int_equal(x[0].line, 27);
    assert_int_equal(x[0].event, SCHED_EV_ADMITTED);
    assert_string_equal(x[0].workload, "a");
    assert_true(x[0].has_at);
    assert_int_equal(x[0].at_ms, MINUTE);
    assert_false(x[0].has_reason);
    assert_int_equal(x[0].borrowed, 0);
    assert_null(x[0].for_workload);
    assert_false(x[0].absent);
    assert_int_equal(x[1].event, SCHED_EV_PREEMPTING);
    assert_true(x[1].has_reason);
    assert_int_equal(x[1].reason, SCHED_REASON_RECLAIM);
    assert_string_equal(x[1].for_workload, "a");
    assert_int_equal(x[1].borrowed, -1);
    assert_false(x[1].has_at);
    assert_int_equal(x[2].event, SCHED_EV_REJECTED);
    assert_null(x[2].workload);
    assert_true(x[2].absent);

    assert_int_equal(scn.n_finals, 2);
    assert_int_equal(scn.finals[0].line, 31);
    assert_string_equal(scn.finals[0].workload, "a");
    assert_int_equal(scn.finals[0].state, SCHED_RUNNING);
    assert_string_equal(scn.finals[1].workload, "b-1");
    assert_int_equal(scn.finals[1].state, SCHED_CANCELLED);

    scenario_cleanup(&scn);
    scenario_cleanup(NULL);
    sched_free(s);
}

struct bad_case {
    const char *what;
    const char *yaml;
    int rc;
    const char *fragment;
};

static const struct bad_case bad_cases[] = {
    {"fractional whole-GPU request",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, gpus: 0.5}\n",
     -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].submit.gpus: 0.5 is not a whole number of GPUs; a fraction of a GPU "
     "is asked for with m"},
    {"negative GPU request",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, gpus: -2}\n",
     -ALLOT_ERANGE,
     "s.yaml:11: timeline[0].submit.gpus: '-2' is negative (expected a number of GPUs, 0 or more)"},
    {"gpus and mig together",
     PLATFORM "timeline:\n"
              "  - at: 0s\n"
              "    submit:\n"
              "      name: x\n"
              "      workspace: acme/prod\n"
              "      gpus: 1\n"
              "      mig: 1g.10gb\n",
     -ALLOT_EINVAL,
     "s.yaml:15: timeline[0].submit.mig: gpus and mig exclude each other: a replica has whole GPUs "
     "or one MIG instan"},
    {"unknown MIG profile",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, mig: 9g.1tb}\n",
     -ALLOT_EINVAL, "s.yaml:11: timeline[0].submit.mig: unknown MIG profile '9g.1tb'"},
    {"unknown kind",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, kind: batch}\n",
     -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].submit.kind: unknown value 'batch' (expected one of: training, "
     "finetune, inference, exp"},
    {"workspace without tenant",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: prod}\n", -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].submit.workspace: 'prod' is not a workspace name (tenant/workspace, "
     "each a name of 1 to"},
    {"count zero",
     PLATFORM "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, count: 0}\n",
     -ALLOT_ERANGE, "s.yaml:11: timeline[0].submit.count: 0 is out of range (1 to 100000)"},
    {"too many replicas",
     PLATFORM
     "timeline:\n  - at: 0s\n    submit: {name: x, workspace: acme/prod, replicas: 5000}\n",
     -ALLOT_ERANGE, "s.yaml:11: timeline[0].submit.replicas: 5000 is out of range (1 to 4096)"},
    {"missing at", PLATFORM "timeline:\n  - cancel: x\n", -ALLOT_EINVAL,
     "s.yaml:10: timeline[0].at: required, but not given"},
    {"no action", PLATFORM "timeline:\n  - at: 1m\n", -ALLOT_EINVAL,
     "s.yaml:10: timeline[0]: no action (expected one of: submit, cancel, finish, node, gpu, "
     "workspace, checkpoint)"},
    {"two actions", PLATFORM "timeline:\n  - at: 1m\n    cancel: x\n    finish: y\n", -ALLOT_EINVAL,
     "s.yaml:12: timeline[0].finish: a timeline entry has one action, and this one also has "
     "cancel"},
    {"unknown node", PLATFORM "timeline:\n  - at: 1m\n    node: {name: n9, state: down}\n",
     -ALLOT_EINVAL, "s.yaml:11: timeline[0].node.name: the platform has no node named 'n9'"},
    {"bad node state", PLATFORM "timeline:\n  - at: 1m\n    node: {name: n1, state: gone}\n",
     -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].node.state: unknown value 'gone' (expected one of: ready, draining, "
     "down)"},
    {"GPU index beyond the node",
     PLATFORM "timeline:\n  - at: 1m\n    gpu: {node: n1, index: 8, healthy: false}\n",
     -ALLOT_EINVAL, "s.yaml:11: timeline[0].gpu.index: node n1 has 8 GPUs (indexes from 0)"},
    {"unknown workspace change",
     PLATFORM "timeline:\n  - at: 1m\n    workspace: {name: acme/dev, lend: false}\n",
     -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].workspace.name: the platform has no workspace named 'acme/dev'"},
    {"bad limit in a change",
     PLATFORM "timeline:\n  - at: 1m\n    workspace: {name: acme/prod, limits: {memory: lots}}\n",
     -ALLOT_EINVAL,
     "s.yaml:11: timeline[0].workspace.limits.memory: 'lots' is not an amount of bytes (examples: "
     "512Mi, 64Gi, 1Ti, "},
    {"timeline not a list", PLATFORM "timeline: {at: 1m}\n", -ALLOT_EINVAL,
     "s.yaml:9: timeline: expected an array of entries, found an object"},
    {"unknown event", PLATFORM "expect:\n  - {event: started, workload: x}\n", -ALLOT_EINVAL,
     "s.yaml:10: expect[0].event: unknown value 'started' (expected one of: submitted, queued, "
     "rejected, admitted, p"},
    {"unknown reason", PLATFORM "expect:\n  - {event: queued, reason: slow}\n", -ALLOT_EINVAL,
     "s.yaml:10: expect[0].reason: unknown value 'slow' (expected one of: none, workspace_limit, "
     "reservation_full, b"},
    {"expect without event", PLATFORM "expect:\n  - {workload: x}\n", -ALLOT_EINVAL,
     "s.yaml:10: expect[0].event: required, but not given"},
    {"bad final state", PLATFORM "final:\n  x: done\n", -ALLOT_EINVAL,
     "s.yaml:10: final.x: unknown value 'done' (expected one of: pending, reclaiming, running, "
     "draining, finished, c"},
    {"final given twice", PLATFORM "final:\n  x: running\n  x: finished\n", -ALLOT_EINVAL,
     "s.yaml:11: final.x: given more than once"},
    {"platform error", "tenants: [{name: acme}]\ntimelines: []\n", -ALLOT_EINVAL,
     "s.yaml:2: timelines: unknown field; did you mean timeline?"},
};

static void test_bad_inputs(void **state)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        struct scenario scn;
        struct sched *s = (struct sched *)&scn;
        char err[512] = "";
        int rc = scenario_load(write_yaml(c->yaml), &scn, &s, err, sizeof(err));
        if (rc != c->rc || !strstr(err, c->fragment))
            fail_msg("case '%s': got %d (%s) \"%s\"; want %d and \"%s\"", c->what, rc,
                     allot_errname(rc), err, c->rc, c->fragment);
        /* nothing is left to free */
        assert_null(s);
        assert_null(scn.steps);
        assert_int_equal(scn.n_steps, 0);
        assert_null(scn.arena.head);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
