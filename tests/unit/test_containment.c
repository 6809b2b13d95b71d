/* Unit tests of containment, through agent/limits.c and agent/runner.c as the agent drives
 * them: in each cgroup mode this host offers (cgroup v2, cgroup v1 with the freezer, cgroup v1
 * with pids, none and a keeper), a workload that escapes with setsid, a double fork and a new
 * process group, all ignoring SIGTERM, is ended three ways (it exits on its own, it is stopped
 * within its grace, it is killed at the deadline); when its end is reported none of its
 * processes runs, and its cgroup is removed at once. Its limits go to the cgroup files the
 * mode offers (pids.max in v1's pids hierarchy), the others to setrlimit. A mode the host
 * lacks (every cgroup mode when not root) is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cgroup.h"
#include "agent/limits.h"
#include "agent/runner.h"
#include "common/error.h"

#define GUARD_MS 10000 /* no test waits longer for anything */
#define MAX_MARKED 64

/* A mode to test: how the agent would be configured, and the hierarchy it needs. */
struct mode_case {
    const char *name;
    enum limits_mode mode;
    const char *hierarchy; /* must be a cgroup filesystem of this kind; NULL: none needed */
    enum cgroup_kind kind;
};

static const struct mode_case mode_cases[] = {
    {"v2", LIMITS_V2, "/sys/fs/cgroup", CGROUP_KIND_V2},
    {"v2 (hybrid)", LIMITS_V2, "/sys/fs/cgroup/unified", CGROUP_KIND_V2},
    {"v1 freezer", LIMITS_V1, "/sys/fs/cgroup/freezer", CGROUP_KIND_V1},
    {"v1 pids", LIMITS_V1, "/sys/fs/cgroup/pids", CGROUP_KIND_V1},
    {"none", LIMITS_NONE, NULL, CGROUP_KIND_PLAIN},
};
#define N_MODES (sizeof(mode_cases) / sizeof(mode_cases[0]))

/* How a test ends its workload. */
enum ending { ENDS_ON_ITS_OWN, ENDS_STOPPED, ENDS_KILLED };

struct fixture {
    const struct mode_case *mode;
    bool available;
    char base[64];
    char root[128];
    char mark[64]; /* in the environment of every process of the workload */
    struct event_base *eb;
    struct runner *r;
    struct limits limits;
    bool ended, timed_out;
    struct runner_exit end; /* its strings are not kept */
    int alive_at_report;    /* processes of the workload running when its end was reported */
    char cgroup_name[64];
    char cgroup_path[256];
    bool cgroup_gone; /* removed by limits_release in the exit callback */
};

/* Up to len-1 bytes of path into buf; RET the bytes read (0 when it cannot be read). */
static size_t read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    n = n < 0 ? 0 : n;
    buf[n] = '\0';
    return (size_t)n;
}

/* The living processes whose environment holds mark, with their command lines ("sleep 901").
 * Zombies have no environment, so they are not counted. RET how many, at most max in pids. */
static int find_marked(const char *mark, pid_t *pids, char (*cmds)[64], int max)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    size_t mark_len = strlen(mark);
    static char env[65536];
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atol(e->d_name);
        char path[64];
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
        size_t len = read_file(path, env, sizeof(env));
        bool found = false;
        for (size_t at = 0; at + mark_len <= len && !found; at += strlen(env + at) + 1)
            found = strcmp(env + at, mark) == 0;
        if (!found || n >= max)
            continue;
        pids[n] = pid;
        if (cmds) {
            snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
            size_t c = read_file(path, cmds[n], sizeof(cmds[n]));
            for (size_t i = 0; i + 1 < c; i++)
                cmds[n][i] = cmds[n][i] ? cmds[n][i] : ' ';
        }
        n++;
    }
    closedir(d);
    return n;
}

static int count_marked(const char *mark)
{
    pid_t pids[MAX_MARKED];
    return find_marked(mark, pids, NULL, MAX_MARKED);
}

/* ---- the loop ---- */

static void on_exit_cb(void *ctx, const struct runner_exit *e)
{
    struct fixture *f = ctx;
    f->ended = true;
    f->end = *e;
    f->end.id = NULL;
    f->end.reason = NULL;
    /* At the very moment of the report, as the agent then gives the GPUs away. */
    f->alive_at_report = count_marked(f->mark);
    limits_release(&f->limits, f->cgroup_name);
    struct stat sb;
    f->cgroup_gone = !f->cgroup_path[0] || (lstat(f->cgroup_path, &sb) != 0 && errno == ENOENT);
    event_base_loopbreak(f->eb);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    struct fixture *f = arg;
    f->timed_out = true;
    event_base_loopbreak(f->eb);
}

/* Run the loop until the workload's end is reported, or fail after GUARD_MS. */
static void wait_end(struct fixture *f)
{
    struct event *guard = evtimer_new(f->eb, on_guard, f);
    struct timeval tv = {.tv_sec = GUARD_MS / 1000, .tv_usec = 0};
    evtimer_add(guard, &tv);
    if (!f->ended)
        event_base_dispatch(f->eb);
    event_free(guard);
    assert_false(f->timed_out);
    assert_true(f->ended);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->mode = *state;
    *state = f;
    snprintf(f->base, sizeof(f->base), "/tmp/allot-containment-XXXXXX");
    if (!mkdtemp(f->base))
        return -1;
    snprintf(f->mark, sizeof(f->mark), "ALLOT_TEST_MARK=containment-%ld-%ld", (long)getpid(),
             (long)(f->mode - mode_cases));
    f->eb = event_base_new();
    struct runner_options opt = {.base_dir = f->base};
    if (!f->eb || runner_new(f->eb, &opt, &f->r) != 0)
        return -1;
    if (f->mode->hierarchy && (geteuid() != 0 || cgroup_kind(f->mode->hierarchy) != f->mode->kind))
        return 0;
    /* On a cgroup v2 host the hybrid mount does not exist, and the other way round. */
    if (f->mode->kind == CGROUP_KIND_V2 && strcmp(f->mode->hierarchy, "/sys/fs/cgroup") != 0 &&
        cgroup_kind("/sys/fs/cgroup") == CGROUP_KIND_V2)
        return 0;
    struct limits_config cfg = {.mode = f->mode->mode};
    if (f->mode->hierarchy) {
        snprintf(f->root, sizeof(f->root), "%s/allot-containment-%ld", f->mode->hierarchy,
                 (long)getpid());
        if (f->mode->mode == LIMITS_V2)
            cfg.v2_root = f->root;
        else
            cfg.v1_root = f->root;
    }
    char note[2048];
    f->available = limits_init(&f->limits, &cfg, note, sizeof(note)) == 0;
    if (!f->available)
        fprintf(stderr, "%s: %s\n", f->mode->name, note);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* Whatever a failed test left running goes first, by pid. */
    pid_t pids[MAX_MARKED];
    for (int round = 0; round < 100; round++) {
        int n = find_marked(f->mark, pids, NULL, MAX_MARKED);
        if (n == 0)
            break;
        for (int i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        support_sleep_ms(10);
    }
    runner_free(f->r);
    if (f->cgroup_path[0]) {
        for (int i = 0; i < 200 && cgroup_kill(f->cgroup_path) > 0; i++)
            support_sleep_ms(5);
        cgroup_remove(f->cgroup_path);
    }
    if (f->root[0])
        cgroup_remove(f->root);
    /* The test is a subreaper (main): what was orphaned to it is reaped here. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    event_base_free(f->eb);
    support_remove_tree(f->base);
    free(f);
    return 0;
}

/* The workload: three sleepers that escape, all ignoring SIGTERM (one in a new session, one
 * orphaned by a double fork, one in a new process group), then a main loop that ends as the
 * test asks: on its own with code 3 once the file "go" exists, or on SIGTERM with code 0, or
 * never (it ignores SIGTERM). */
static const char *const escape_script = "trap '' TERM; "
                                         "setsid sleep 901 & "
                                         "(sleep 902 &) ; "
                                         "perl -e 'setpgrp(0, 0); exec \"sleep\", \"903\"' & "
                                         "case $1 in stopped) trap 'exit 0' TERM;; esac; "
                                         "echo ready; "
                                         "while [ ! -e go ]; do sleep 0.02; done; exit 3";

/* Start the escaping workload as the agent would in f's mode, wait until its three sleepers
 * run, then end it as ending says and check that nothing of it was left at the report. */
static void run_escaper(struct fixture *f, enum ending ending)
{
    if (!f->available)
        skip();
    static const char *const ending_names[] = {"exits", "stopped", "killed"};
    const char *const argv[] = {"/bin/sh", "-c", escape_script, "escaper", ending_names[ending],
                                NULL};
    const char *const env[] = {f->mark, NULL};
    struct runner_spec spec = {
        .id = "escaper", .argv = argv, .env = env, .on_exit = on_exit_cb, .ctx = f};
    char err[256] = "";
    snprintf(f->cgroup_name, sizeof(f->cgroup_name), "node.escaper");
    assert_int_equal(limits_apply(&f->limits, f->cgroup_name, 1ULL << 40, 500, &spec,
                                  f->cgroup_path, sizeof(f->cgroup_path), err, sizeof(err)),
                     0);
    if (!f->limits.cgroups)
        f->cgroup_name[0] = '\0';
    assert_int_equal(spec.contain,
                     f->mode->mode == LIMITS_NONE ? RUNNER_CONTAIN_KEEPER : RUNNER_CONTAIN_CGROUP);
    /* Each limit in its cgroup file where the hierarchy has it, else with setrlimit. */
    unsigned files = f->limits.cgroups ? f->limits.controllers : 0;
    if (f->mode->mode == LIMITS_V1)
        assert_int_equal(files & ~CGROUP_PIDS, 0);
    assert_int_equal(spec.rlimits.as_bytes, files & CGROUP_MEMORY ? 0 : 1ULL << 40);
    assert_int_equal(spec.rlimits.nproc, files & CGROUP_PIDS ? 0 : LIMITS_PIDS_MAX);
    char file[300], text[32] = "";
    snprintf(file, sizeof(file), "%s/pids.max", f->cgroup_path);
    if (files & CGROUP_PIDS) {
        FILE *fp = fopen(file, "r");
        assert_non_null(fp);
        assert_non_null(fgets(text, sizeof(text), fp));
        fclose(fp);
        assert_string_equal(text, "4096\n");
    }
    struct runner_proc *proc = NULL;
    if (runner_start(f->r, &spec, &proc, err, sizeof(err)) != 0)
        fail_msg("%s: runner_start: %s", f->mode->name, err);

    /* Its three sleepers run, away from its group or session. */
    pid_t pids[MAX_MARKED];
    char cmds[MAX_MARKED][64];
    int sleepers = 0;
    for (int waited = 0; waited < GUARD_MS && sleepers < 3; waited += 10) {
        support_sleep_ms(10);
        int n = find_marked(f->mark, pids, cmds, MAX_MARKED);
        sleepers = 0;
        for (int i = 0; i < n; i++)
            sleepers += strncmp(cmds[i], "sleep 90", 8) == 0;
    }
    assert_int_equal(sleepers, 3);

    int64_t grace = ending == ENDS_KILLED ? 300 : 5000;
    if (ending == ENDS_ON_ITS_OWN) {
        char go[128];
        snprintf(go, sizeof(go), "%s/escaper/go", f->base);
        int fd = open(go, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
    } else {
        assert_int_equal(runner_stop(f->r, proc, grace, "cancelled"), 0);
    }
    wait_end(f);
    static const enum runner_end want_end[] = {RUNNER_END_EXITED, RUNNER_END_STOPPED,
                                               RUNNER_END_KILLED};
    static const int want_code[] = {3, 0, -1};
    static const int want_signal[] = {0, 0, SIGKILL};
    assert_int_equal(f->end.end, want_end[ending]);
    assert_int_equal(f->end.code, want_code[ending]);
    assert_int_equal(f->end.signal, want_signal[ending]);
    if (f->alive_at_report != 0)
        fail_msg("%s: %d processes of the workload ran when its end was reported", f->mode->name,
                 f->alive_at_report);
    assert_true(f->cgroup_gone);
    assert_int_equal(f->limits.n_pending, 0);
    assert_int_equal(count_marked(f->mark), 0);
}

static void test_exits_on_its_own(void **state)
{
    run_escaper(*state, ENDS_ON_ITS_OWN);
}

static void test_stopped_within_grace(void **state)
{
    run_escaper(*state, ENDS_STOPPED);
}

static void test_killed_at_deadline(void **state)
{
    run_escaper(*state, ENDS_KILLED);
}

int main(void)
{
    /* Dead pipes must not kill the tests; orphans of the cgroup modes come back to the test,
     * which reaps them in teardown. */
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    static const struct {
        const char *what;
        CMUnitTestFunction fn;
    } endings[] = {
        {"exits on its own", test_exits_on_its_own},
        {"stopped within its grace", test_stopped_within_grace},
        {"killed at the deadline", test_killed_at_deadline},
    };
    enum { N_ENDINGS = sizeof(endings) / sizeof(endings[0]) };
    static char names[N_MODES][N_ENDINGS][96];
    struct CMUnitTest tests[N_MODES * N_ENDINGS];
    for (size_t m = 0; m < N_MODES; m++)
        for (size_t e = 0; e < N_ENDINGS; e++) {
            snprintf(names[m][e], sizeof(names[m][e]), "%s: %s", mode_cases[m].name,
                     endings[e].what);
            tests[m * N_ENDINGS + e] = (struct CMUnitTest){
                .name = names[m][e],
                .test_func = endings[e].fn,
                .setup_func = setup,
                .teardown_func = teardown,
                .initial_state = (void *)&mode_cases[m],
            };
        }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
