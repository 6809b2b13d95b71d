/* Tests of the simulator: the --json output meets the schema of docs/simulator.md, the seed
 * example reaches the outcomes the policy promises, and run errors are reported. */
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

#include "sim/sim.h"
#include "common/error.h"

static char seed_path[4096];

static int setup(void **state)
{
    const char *src = getenv("ALLOT_SOURCE_DIR");
    snprintf(seed_path, sizeof(seed_path), "%s/examples/seed.yaml", src ? src : ".");
    return 0;
}

/* Write text to a new temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/allot-test-sim-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Field f of o exists and has JSON type t. */
static void need(json_t *o, const char *f, json_type t, int line)
{
    json_t *v = json_object_get(o, f);
    if (!v || json_typeof(v) != t) {
        char *dump = json_dumps(o, JSON_COMPACT);
        fail_msg("line %d: field '%s' missing or of the wrong type in %s", line, f, dump);
    }
}

static const char *const known_events[] = {"submitted",
                                           "queued",
                                           "rejected",
                                           "admitted",
                                           "preempting",
                                           "stopped",
                                           "finished",
                                           "cancelled",
                                           "reservation_degraded",
                                           "reservation_restored",
                                           "node_state",
                                           "gpu_health",
                                           "workspace_updated",
                                           "summary"};

static void test_json_schema(void **state)
{
    FILE *out = tmpfile();
    struct sim_options opt = {.json = true, .check = true, .until_ms = -1};
    struct sim_result res;
    assert_int_equal(sim_run(seed_path, &opt, out, stderr, &res), 0);
    free(res.records);
    rewind(out);
    char line[1 << 16];
    int n = 0, admitted = 0, preempting = 0;
    json_t *last = NULL;
    double prev_t = -1;
    while (fgets(line, sizeof(line), out)) {
        n++;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        assert_true(json_is_object(o));
        assert_true(json_is_number(json_object_get(o, "t")));
        need(o, "event", JSON_STRING, n);
        double t = json_number_value(json_object_get(o, "t"));
        assert_true(t >= prev_t); /* time never goes back */
        prev_t = t;
        const char *ev = json_string_value(json_object_get(o, "event"));
        bool known = false;
        for (size_t i = 0; i < sizeof(known_events) / sizeof(known_events[0]); i++)
            known = known || strcmp(ev, known_events[i]) == 0;
        assert_true(known);
        if (strcmp(ev, "summary") != 0 && strstr("submitted queued rejected admitted preempting "
                                                 "stopped finished cancelled",
                                                 ev)) {
            need(o, "workload", JSON_STRING, n);
            need(o, "workspace", JSON_STRING, n);
        }
        if (strcmp(ev, "queued") == 0 || strcmp(ev, "rejected") == 0) {
            need(o, "reason", JSON_STRING, n);
            need(o, "message", JSON_STRING, n);
        } else if (strcmp(ev, "admitted") == 0) {
            admitted++;
            assert_true(json_is_boolean(json_object_get(o, "borrowed")));
            json_t *pl = json_object_get(o, "placement");
            assert_true(json_is_array(pl) && json_array_size(pl) >= 1);
            json_t *r = json_array_get(pl, 0);
            need(r, "node", JSON_STRING, n);
            json_t *gpus = json_object_get(r, "gpus");
            assert_true(json_is_array(gpus) || json_is_integer(json_object_get(r, "gpu")));
        } else if (strcmp(ev, "preempting") == 0) {
            preempting++;
            need(o, "reason", JSON_STRING, n);
            need(o, "for", JSON_STRING, n);
            assert_true(json_number_value(json_object_get(o, "deadline")) > t);
        }
        json_decref(last);
        last = o;
    }
    fclose(out);
    assert_non_null(last);
    assert_string_equal(json_string_value(json_object_get(last, "event")), "summary");
    json_t *wls = json_object_get(last, "workloads"), *wss = json_object_get(last, "workspaces");
    assert_true(json_is_object(wls) && json_is_object(wss));
    json_t *prod = json_object_get(wss, "acme/prod");
    assert_non_null(prod);
    assert_true(json_number_value(json_object_get(prod, "gpu_seconds_guaranteed")) > 0);
    json_t *serve = json_object_get(wls, "p-serve");
    assert_non_null(serve);
    assert_string_equal(json_string_value(json_object_get(serve, "state")), "finished");
    assert_true(admitted >= 10);
    assert_int_equal(preempting, 4);
    json_decref(last);
}

/* The seed story: prod's reclaim takes exactly four borrowed GPUs and prod starts when the
 * grace period ends, not before and not later. */
static void test_seed_outcome(void **state)
{
    FILE *devnull = fopen("/dev/null", "w");
    struct sim_options opt = {.check = true, .quiet = true, .until_ms = -1};
    struct sim_result res;
    assert_int_equal(sim_run(seed_path, &opt, devnull, stderr, &res), 0);
    fclose(devnull);
    int reclaims = 0;
    int64_t serve_start = -1, first_reclaim = -1;
    for (uint32_t i = 0; i < res.n_records; i++) {
        const struct sim_record *r = &res.records[i];
        if (r->kind == SCHED_EV_PREEMPTING && r->reason == SCHED_REASON_RECLAIM) {
            reclaims++;
            if (first_reclaim < 0)
                first_reclaim = r->t;
        }
        if (r->kind == SCHED_EV_ADMITTED && serve_start < 0 && r->other == SCHED_NONE &&
            r->borrowed == false && r->t >= 10 * 60 * 1000)
            serve_start = r->t;
    }
    assert_int_equal(reclaims, 4);
    assert_int_equal(first_reclaim, 10 * 60 * 1000);
    assert_int_equal(serve_start, 10 * 60 * 1000 + 30 * 1000);
    free(res.records);
}

static void test_unknown_workload_in_timeline(void **state)
{
    const char *path = temp_file("tenants: [{name: a, workspaces: [{name: w}]}]\n"
                                 "clusters: [{name: c}]\n"
                                 "nodes: [{name: n, cluster: c, tenant: a, cpu: 8, memory: 8Gi,"
                                 " gpus: [{model: H100-80GB, count: 1}]}]\n"
                                 "timeline:\n  - {at: 1s, cancel: ghost}\n");
    FILE *devnull = fopen("/dev/null", "w");
    FILE *err = tmpfile();
    struct sim_options opt = {.quiet = true, .until_ms = -1};
    assert_int_equal(sim_run(path, &opt, devnull, err, NULL), -ALLOT_ENOENT);
    rewind(err);
    char msg[512] = "";
    assert_non_null(fgets(msg, sizeof(msg), err));
    assert_non_null(strstr(msg, "ghost"));
    assert_non_null(strstr(msg, ":5:")); /* names the line of the timeline entry */
    fclose(err);
    fclose(devnull);
    unlink(path);
}

static void test_expect_failure_detected(void **state)
{
    /* the workload can never be admitted at 5s: it is submitted at 10s */
    const char *path = temp_file("tenants: [{name: a, workspaces: [{name: w}]}]\n"
                                 "clusters: [{name: c}]\n"
                                 "nodes: [{name: n, cluster: c, tenant: a, cpu: 8, memory: 8Gi,"
                                 " gpus: [{model: H100-80GB, count: 1}]}]\n"
                                 "timeline:\n  - {at: 10s, submit: {name: j, workspace: a/w, "
                                 "gpus: 1, duration: 1m}}\n"
                                 "expect:\n  - {event: admitted, workload: j, at: 5s}\n"
                                 "final: {j: finished}\n");
    FILE *devnull = fopen("/dev/null", "w");
    struct sim_options opt = {.quiet = true, .expect = true, .until_ms = -1};
    struct sim_result res;
    assert_int_equal(sim_run(path, &opt, devnull, devnull, &res), -ALLOT_ECHECK);
    assert_int_equal(res.expect_failures, 1); /* the final state is right */
    free(res.records);
    fclose(devnull);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_seed_outcome),
        cmocka_unit_test(test_unknown_workload_in_timeline),
        cmocka_unit_test(test_expect_failure_detected),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
