/* Unit tests of the trace readers (src/sim/trace.c): Philly and generic CSV, rows in any
 * order handed back sorted, every kind of bad row refused with FILE:LINE: field, and the
 * external sort over many runs. Traces are written by the tests themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim/trace.h"
#include "common/error.h"

static char path[64];
static char err[512];

static int setup(void **state)
{
    snprintf(path, sizeof(path), "/tmp/allot-trace-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_philly_rows_come_back_sorted(void **state)
{
    write_file("timestamp,duration,num_gpus,gpu_time,cluster\n"
               "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
               "2017-10-09 06:13:03,2951.0,2,5902.0,6214e9\n"
               "2017-10-09 06:13:03,10.5,16,168.0,11cb48\n"
               "2017-10-09 06:13:36,0.0,1,0.0,6214e9\n");
    struct trace t;
    assert_int_equal(trace_open(path, TRACE_PHILLY, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n_jobs, 4);
    assert_int_equal(t.n_workspaces, 2);
    assert_string_equal(t.workspaces[0].name, "11cb48"); /* in order of appearance */
    assert_true(t.workspaces[0].gpu_seconds == 66.0 + 16 * 10.5);
    assert_int_equal(t.max_gpus, 16);
    struct trace_job j;
    int64_t want_ms[] = {0, 0, 33000, 48 * 60000 + 52000};
    uint32_t want_line[] = {3, 4, 5, 2};   /* ties keep the file's order */
    for (int pass = 0; pass < 2; pass++) { /* and again after a rewind */
        for (int i = 0; i < 4; i++) {
            assert_int_equal(trace_next(&t, &j), 1);
            assert_int_equal(j.submit_ms, want_ms[i]);
            assert_int_equal(j.line, want_line[i]);
        }
        assert_int_equal(trace_next(&t, &j), 0);
        assert_int_equal(trace_rewind(&t), 0);
    }
    assert_int_equal(trace_next(&t, &j), 1);
    assert_int_equal(j.duration_ms, 2951000);
    assert_int_equal(j.gpus, 2);
    assert_int_equal(trace_next(&t, &j), 1);
    assert_int_equal(j.gpus, 16);
    assert_int_equal(j.duration_ms, 10500);
    trace_close(&t);
    /* a zero duration is a job of one millisecond, not nothing */
    assert_int_equal(trace_open(path, TRACE_PHILLY, &t, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) /* the third in submission order (06:13:36) */
        assert_int_equal(trace_next(&t, &j), 1);
    assert_int_equal(j.line, 5);
    assert_int_equal(j.duration_ms, 1);
    trace_close(&t);
}

static void expect_error(enum trace_format format, const char *text, const char *want)
{
    write_file(text);
    struct trace t;
    int rc = trace_open(path, format, &t, err, sizeof(err));
    assert_true(rc < 0);
    char full[600];
    snprintf(full, sizeof(full), "%s:%s", path, want);
    if (strncmp(err, full, strlen(full)) != 0)
        fail_msg("got '%s', want it to start with '%s'", err, full);
}

static void test_philly_bad_rows(void **state)
{
    const char *h = "timestamp,duration,num_gpus,gpu_time,cluster\n";
    char text[8192];
    expect_error(TRACE_PHILLY, "ts,dur\n1,2\n", "1: header: expected 'timestamp,");
    expect_error(TRACE_PHILLY, "", "0: header: the file is empty");
    snprintf(text, sizeof(text), "%s", h);
    expect_error(TRACE_PHILLY, text, "2: row: no jobs after the header");
    struct {
        const char *row, *want;
    } cases[] = {
        {"2017-10-09,66.0,1,66.0,a\n", "2: timestamp: expected YYYY-MM-DD HH:MM:SS"},
        {"2017-13-09 07:01:55,66.0,1,66.0,a\n", "2: timestamp:"},
        {"2017-10-09 07:01:55x,66.0,1,66.0,a\n", "2: timestamp:"},
        {"2017-10-09 07:01:55,-1,1,66.0,a\n", "2: duration: expected a number of seconds"},
        {"2017-10-09 07:01:55,abc,1,66.0,a\n", "2: duration:"},
        {"2017-10-09 07:01:55,nan,1,66.0,a\n", "2: duration:"},
        {"2017-10-09 07:01:55,1e300,1,66.0,a\n", "2: duration:"},
        {"2017-10-09 07:01:55,66,0,66.0,a\n", "2: num_gpus: expected a whole number from 1"},
        {"2017-10-09 07:01:55,66,1.5,66.0,a\n", "2: num_gpus:"},
        {"2017-10-09 07:01:55,66,99999,66.0,a\n", "2: num_gpus:"},
        {"2017-10-09 07:01:55,66,1,x,a\n", "2: gpu_time:"},
        {"2017-10-09 07:01:55,66,1,66,Bad Name\n", "2: cluster: expected a name"},
        {"2017-10-09 07:01:55,66,1,66,\n", "2: cluster:"},
        {"2017-10-09 07:01:55,66,1,66\n", "2: row: expected 5 fields"},
        {"2017-10-09 07:01:55,66,1,66,a,extra\n", "2: row: expected 5 fields"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "%s%s", h, cases[i].row);
        expect_error(TRACE_PHILLY, text, cases[i].want);
    }
    /* a line longer than the bound, after a good one: the line number is the long one's */
    char *big = malloc(TRACE_MAX_LINE + 200);
    assert_non_null(big);
    memset(big, 'x', TRACE_MAX_LINE + 100);
    big[TRACE_MAX_LINE + 100] = '\0';
    char *text2 = malloc(TRACE_MAX_LINE + 400);
    assert_non_null(text2);
    snprintf(text2, TRACE_MAX_LINE + 400, "%s2017-10-09 07:01:55,66,1,66,a\n%s\n", h, big);
    expect_error(TRACE_PHILLY, text2, "3: row: longer than 4096 bytes");
    free(big);
    free(text2);
}

static void test_generic_format(void **state)
{
    write_file("workspace,gpus,submit,duration,kind,priority,preemptible\n"
               "acme/prod,4,10,3600,inference,500,false\n"
               "research,1,0.5,60,,,\n");
    struct trace t;
    assert_int_equal(trace_open(path, TRACE_GENERIC, &t, err, sizeof(err)), 0);
    struct trace_job j;
    assert_int_equal(trace_next(&t, &j), 1);
    assert_string_equal(t.workspaces[j.workspace].name, "research");
    assert_int_equal(j.submit_ms, 0);
    assert_int_equal(j.kind, SCHED_KIND_TRAINING);
    assert_int_equal(j.preemptible, -1);
    assert_false(j.has_priority);
    assert_int_equal(trace_next(&t, &j), 1);
    assert_string_equal(t.workspaces[j.workspace].name, "acme/prod");
    assert_int_equal(j.submit_ms, 9500); /* shifted: the first submission is 0 */
    assert_int_equal(j.gpus, 4);
    assert_int_equal(j.kind, SCHED_KIND_INFERENCE);
    assert_true(j.has_priority);
    assert_int_equal(j.priority, 500);
    assert_int_equal(j.preemptible, 0);
    trace_close(&t);
    const char *h = "submit,duration,gpus,workspace,kind,priority,preemptible\n";
    char text[512];
    struct {
        const char *text, *want;
    } cases[] = {
        {"submit,duration,gpus\n1,1,1\n", "1: header: missing column 'workspace'"},
        {"submit,duration,gpus,workspace,colour\n", "1: header: unknown column 'colour'"},
        {"submit,submit,duration,gpus,workspace\n", "1: header: column 'submit' twice"},
        {"submit,duration,gpus,workspace\n1,1,1\n", "2: row: expected 4 fields"},
        {NULL, "2: kind: expected training, finetune"},
        {NULL, "2: priority: expected a whole number from -1000000"},
        {NULL, "2: preemptible: expected true or false"},
        {NULL, "2: submit: expected a number of seconds"},
        {NULL, "2: workspace: expected a name"},
    };
    const char *rows[] = {"1,1,1,w,gaming,,\n", "1,1,1,w,,high,\n", "1,1,1,w,,,maybe\n",
                          "-3,1,1,w,,,\n", "1,1,1,a/b/c,,,\n"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].text)
            snprintf(text, sizeof(text), "%s", cases[i].text);
        else
            snprintf(text, sizeof(text), "%s%s", h, rows[i - 4]);
        expect_error(TRACE_GENERIC, text, cases[i].want);
    }
}

/* Many more jobs than one run holds, written newest first: they come back oldest first,
 * from several sorted runs merged. */
static void test_many_runs_merged(void **state)
{
    const uint32_t n = TRACE_RUN_JOBS * 3 + 123;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("submit,duration,gpus,workspace\n", f);
    for (uint32_t i = 0; i < n; i++)
        fprintf(f, "%u,10,1,w%u\n", n - i, i % 7);
    fclose(f);
    struct trace t;
    assert_int_equal(trace_open(path, TRACE_GENERIC, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n_runs, 4);
    assert_int_equal(t.n_workspaces, 7);
    struct trace_job j;
    int64_t last = -1;
    uint32_t got = 0;
    while (trace_next(&t, &j) == 1) {
        assert_true(j.submit_ms >= last);
        last = j.submit_ms;
        got++;
    }
    assert_int_equal(got, n);
    assert_int_equal(last, (int64_t)(n - 1) * 1000);
    trace_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_philly_rows_come_back_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_philly_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generic_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_runs_merged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
