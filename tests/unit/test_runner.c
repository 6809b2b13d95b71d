/* Unit tests for agent/runner.c on a real libevent loop, each bounded by a timer that fails
 * the test: exit codes and logs, the clean environment and TMPDIR, SIGTERM within grace (also
 * to processes that left the group), SIGKILL of everything at the deadline, the keeper, many
 * processes at once, exec failures, limits, cgroup entry, storage usage, and adoption after a
 * restart. Every workload runs under a keeper here (the default); test_containment.c has the
 * cgroup modes. */
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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cgroup.h"
#include "agent/runner.h"
#include "agent/workdir.h"
#include "common/error.h"

#define MAX_EXITS 32
#define GUARD_MS 10000 /* no test waits longer for anything */

/* A copy of one exit report (the report's strings die with the callback). */
struct exit_copy {
    char id[RUNNER_ID_MAX + 1];
    pid_t pid;
    enum runner_end end;
    bool status_known;
    int code;
    int signal;
    int64_t runtime_ms;
    char reason[2 * RUNNER_REASON_MAX];
};

struct fixture {
    char base[64]; /* mkdtemp: the runner's base_dir */
    struct event_base *eb;
    struct runner *r;
    int want; /* exits that end the loop; 0 while polling for a file */
    int got;
    struct exit_copy exits[MAX_EXITS];
    bool timed_out;
    const char *poll_path; /* wait_file */
    const char *poll_needle;
    bool poll_found;
};

/* ---- helpers ---- */

static int64_t now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The content of path (at most 64 KiB), or "" when it cannot be read. Static buffer. */
static const char *slurp(const char *path)
{
    static char buf[65536];
    buf[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (!fp)
        return buf;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* base/id/name into buf. */
static const char *in_workdir(struct fixture *f, const char *id, const char *name, char *buf,
                              size_t len)
{
    snprintf(buf, len, "%s/%s/%s", f->base, id, name);
    return buf;
}

static void write_file(const char *path, const char *text, size_t n)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Whether pid has ended: no /proc entry, or a zombie nobody has reaped yet (the container's
 * init may not reap orphans). */
static bool process_dead(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    const char *stat = slurp(path);
    const char *close_paren = strrchr(stat, ')');
    if (!close_paren || close_paren[1] != ' ')
        return true;
    return close_paren[2] == 'Z' || close_paren[2] == 'X';
}

/* Whether pid names no process at all, not even a zombie: it was reaped. */
static bool process_reaped(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

/* Field `field` (4: parent, 5: process group) of /proc/<pid>/stat; -1 if unknown. */
static long stat_field(pid_t pid, int field)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    const char *p = strrchr(slurp(path), ')');
    for (int at = 2; p && at < field; at++) {
        p = strchr(p + 1, ' ');
    }
    return p ? atol(p + 1) : -1;
}

/* Wait (blocking the test, not a loop) up to ms for pid to end. */
static bool wait_dead(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        if (process_dead(pid))
            return true;
        sleep_ms(10);
    }
    return false;
}

/* Field 22 of /proc/<pid>/stat, read independently of the runner. */
static uint64_t start_ticks_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    const char *p = strrchr(slurp(path), ')');
    if (!p)
        return 0;
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        p = p ? p + 1 : NULL;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

/* ---- the loop ---- */

static void record_exit(void *ctx, const struct runner_exit *e)
{
    struct fixture *f = ctx;
    assert_true(f->got < MAX_EXITS);
    struct exit_copy *c = &f->exits[f->got++];
    snprintf(c->id, sizeof(c->id), "%s", e->id);
    c->pid = e->pid;
    c->end = e->end;
    c->status_known = e->status_known;
    c->code = e->code;
    c->signal = e->signal;
    c->runtime_ms = e->runtime_ms;
    snprintf(c->reason, sizeof(c->reason), "%s", e->reason);
    if (f->want > 0 && f->got >= f->want)
        event_base_loopbreak(f->eb);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
    struct fixture *f = arg;
    f->timed_out = true;
    event_base_loopbreak(f->eb);
}

/* Run the loop until something breaks it, or fail the test after ms. */
static void run_bounded(struct fixture *f, int ms)
{
    f->timed_out = false;
    struct event *guard = evtimer_new(f->eb, on_guard, f);
    assert_non_null(guard);
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(guard, &tv);
    event_base_dispatch(f->eb);
    event_free(guard);
    assert_false(f->timed_out);
}

/* Run the loop until `want` exits in all have been reported. */
static void wait_exits(struct fixture *f, int want)
{
    f->want = want;
    if (f->got < want)
        run_bounded(f, GUARD_MS);
    assert_int_equal(f->got, want);
    f->want = 0;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct fixture *f = arg;
    if (strstr(slurp(f->poll_path), f->poll_needle)) {
        f->poll_found = true;
        event_base_loopbreak(f->eb);
    }
}

/* Run the loop until path contains needle (checked every 10 ms). */
static void wait_file(struct fixture *f, const char *path, const char *needle)
{
    f->poll_path = path;
    f->poll_needle = needle;
    f->poll_found = false;
    struct event *poll = event_new(f->eb, -1, EV_PERSIST, on_poll, f);
    assert_non_null(poll);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 10000};
    event_add(poll, &tv);
    run_bounded(f, GUARD_MS);
    event_free(poll);
    assert_true(f->poll_found);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->base, sizeof(f->base), "/tmp/allot-runner-XXXXXX");
    if (!mkdtemp(f->base))
        return -1;
    f->eb = event_base_new();
    struct runner_options opt = {.base_dir = f->base};
    if (!f->eb || runner_new(f->eb, &opt, &f->r) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    runner_free(f->r);
    event_base_free(f->eb);
    support_remove_tree(f->base);
    free(f);
    return 0;
}

/* Start argv as workload id with env (may be NULL); fails the test on error. */
static struct runner_proc *start(struct fixture *f, const char *id, const char *const *argv,
                                 const char *const *env)
{
    struct runner_spec spec = {
        .id = id, .argv = argv, .env = env, .on_exit = record_exit, .ctx = f};
    struct runner_proc *proc = NULL;
    char err[256] = "";
    int rc = runner_start(f->r, &spec, &proc, err, sizeof(err));
    if (rc != 0)
        fail_msg("runner_start %s: %s", id, err);
    assert_non_null(proc);
    return proc;
}

/* ---- tests ---- */

static void test_exit_code_and_logs(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    struct runner_proc *proc = start(f, "w1", argv, NULL);
    pid_t pid = runner_proc_pid(proc);
    char want_dir[128], path[256];
    snprintf(want_dir, sizeof(want_dir), "%s/w1", f->base);
    assert_string_equal(runner_proc_workdir(proc), want_dir);
    assert_string_equal(runner_proc_id(proc), "w1");
    assert_int_equal(runner_count(f->r), 1);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_string_equal(e->id, "w1");
    assert_int_equal(e->pid, pid);
    assert_int_equal(e->end, RUNNER_END_EXITED);
    assert_string_equal(runner_end_name(e->end), "exited");
    assert_true(e->status_known);
    assert_int_equal(e->code, 3);
    assert_int_equal(e->signal, 0);
    assert_string_equal(e->reason, "exited with code 3");
    assert_true(e->runtime_ms >= 0 && e->runtime_ms < GUARD_MS);
    assert_int_equal(runner_count(f->r), 0);
    assert_string_equal(slurp(in_workdir(f, "w1", "stdout.log", path, sizeof(path))), "out\n");
    assert_string_equal(slurp(in_workdir(f, "w1", "stderr.log", path, sizeof(path))), "err\n");
    struct stat sb;
    assert_int_equal(stat(want_dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_true(process_dead(pid));

    /* The same id again (after the first ended): the logs are appended to. */
    start(f, "w1", argv, NULL);
    wait_exits(f, 2);
    assert_int_equal(f->exits[1].code, 3);
    assert_string_equal(slurp(in_workdir(f, "w1", "stdout.log", path, sizeof(path))), "out\nout\n");
}

static void test_clean_environment(void **state)
{
    struct fixture *f = *state;
    char *saved_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("ALLOT_SECRET", "hunter2", 1);
    setenv("HOME", "/root/parent-home", 1);
    /* The agent's own PATH leads nowhere: "env" must be found through the clean one. */
    setenv("PATH", "/nonexistent", 1);
    const char *const argv[] = {"env", NULL};
    const char *const env[] = {"ALLOT_TEST=1", "LANG=en_US.UTF-8", "TEMP=/scratch",
                               "ALLOT_PREEMPT_DEADLINE_FILE=/tmp/elsewhere", NULL};
    start(f, "envw", argv, env);
    setenv("PATH", saved_path, 1);
    free(saved_path);
    unsetenv("ALLOT_SECRET");
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].end, RUNNER_END_EXITED);
    assert_int_equal(f->exits[0].code, 0);

    char path[256], line[512];
    const char *out = slurp(in_workdir(f, "envw", "stdout.log", path, sizeof(path)));
    assert_non_null(strstr(out, "ALLOT_TEST=1\n"));
    snprintf(line, sizeof(line), "HOME=%s/envw\n", f->base);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "PATH=" RUNNER_DEFAULT_PATH "\n"));
    assert_non_null(strstr(out, "LANG=en_US.UTF-8\n"));
    snprintf(line, sizeof(line), "ALLOT_PREEMPT_DEADLINE_FILE=%s/envw/preempt_deadline\n", f->base);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof(line), "ALLOT_CHECKPOINT_FILE=%s/envw/checkpoint\n", f->base);
    assert_non_null(strstr(out, line));
    /* Its own temporary directory, which the workload's env may point elsewhere. */
    snprintf(line, sizeof(line), "TMPDIR=%s/envw/tmp\n", f->base);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof(line), "TMP=%s/envw/tmp\n", f->base);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "TEMP=/scratch\n"));
    /* Nothing of the agent's environment, and nothing else at all. */
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "parent-home"));
    assert_null(strstr(out, "C.UTF-8"));
    assert_null(strstr(out, "/tmp/elsewhere"));
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 9);
}

static void test_sigterm_within_grace(void **state)
{
    struct fixture *f = *state;
    /* The program reads its deadline and waits for its own child, which must get SIGTERM too
     * (it is in the group) and says so in term.txt. */
    const char *const argv[] = {
        "/bin/sh", "-c",
        "trap 'cat \"$ALLOT_PREEMPT_DEADLINE_FILE\"; wait; exit 0' TERM; "
        "sh -c 'trap \"echo grandchild got TERM > term.txt; exit 0\" TERM; echo ready; "
        "sleep 30 & wait' & wait",
        NULL};
    struct runner_proc *proc = start(f, "graceful", argv, NULL);
    char out[256], deadline_path[256];
    in_workdir(f, "graceful", "stdout.log", out, sizeof(out));
    in_workdir(f, "graceful", "preempt_deadline", deadline_path, sizeof(deadline_path));
    wait_file(f, out, "ready\n");
    int64_t t0 = now_ms(CLOCK_REALTIME), m0 = now_ms(CLOCK_MONOTONIC);
    assert_int_equal(runner_stop(f->r, proc, 5000, "preempted by prod/train"), 0);
    long long deadline = atoll(slurp(deadline_path));
    assert_true(deadline >= t0 + 5000 && deadline <= t0 + 6000);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_true(now_ms(CLOCK_MONOTONIC) - m0 < 4000);
    assert_int_equal(e->end, RUNNER_END_STOPPED);
    assert_true(e->status_known);
    assert_int_equal(e->code, 0);
    assert_int_equal(e->signal, 0);
    assert_string_equal(e->reason,
                        "preempted by prod/train; exited with code 0 after SIGTERM, within the "
                        "grace period");
    /* The program read the deadline when SIGTERM came. */
    char want[64];
    snprintf(want, sizeof(want), "ready\n%lld\n", deadline);
    assert_string_equal(slurp(out), want);
    char term[256];
    assert_string_equal(slurp(in_workdir(f, "graceful", "term.txt", term, sizeof(term))),
                        "grandchild got TERM\n");
}

static void test_sigkill_at_deadline(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {
        "/bin/sh", "-c", "trap '' TERM; echo $$ > main.pid; sleep 30 & echo $! > sleep.pid; wait",
        NULL};
    struct runner_proc *proc = start(f, "stubborn", argv, NULL);
    pid_t pid = runner_proc_pid(proc);
    char pidfile[256];
    in_workdir(f, "stubborn", "sleep.pid", pidfile, sizeof(pidfile));
    wait_file(f, pidfile, "\n");
    pid_t grandchild = (pid_t)atol(slurp(pidfile));
    assert_true(grandchild > 0 && grandchild != pid);
    assert_false(process_dead(grandchild));
    int64_t m0 = now_ms(CLOCK_MONOTONIC);
    assert_int_equal(runner_stop(f->r, proc, 300, "preempted"), 0);
    /* A later, longer grace does not push the deadline away. */
    assert_int_equal(runner_stop(f->r, proc, 60000, "again"), 0);
    wait_exits(f, 1);
    int64_t took = now_ms(CLOCK_MONOTONIC) - m0;
    assert_true(took >= 280 && took < 3000);
    struct exit_copy *e = &f->exits[0];
    assert_int_equal(e->end, RUNNER_END_KILLED);
    assert_string_equal(runner_end_name(e->end), "killed");
    assert_int_equal(e->signal, SIGKILL);
    assert_int_equal(e->code, -1);
    assert_string_equal(e->reason, "preempted; killed with SIGKILL at the deadline");
    /* Everything went, before the report, and the keeper reaped it: no zombie is left. */
    pid_t main_pid = (pid_t)atol(slurp(in_workdir(f, "stubborn", "main.pid", pidfile, 256)));
    assert_true(main_pid > 0);
    assert_true(process_reaped(main_pid));
    assert_true(process_reaped(grandchild));
    assert_true(process_reaped(pid));
}

static void test_keeper(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"/bin/sh", "-c",
                                "echo $$ > main.pid; umask; touch made; echo ready; "
                                "while [ ! -e go ]; do sleep 0.02; done; kill -SEGV $$",
                                NULL};
    struct runner_proc *proc = start(f, "kept", argv, NULL);
    pid_t keeper = runner_proc_pid(proc);
    char out[256], path[256];
    in_workdir(f, "kept", "stdout.log", out, sizeof(out));
    wait_file(f, out, "ready\n");
    pid_t main_pid = (pid_t)atol(slurp(in_workdir(f, "kept", "main.pid", path, sizeof(path))));
    /* The keeper leads its session and group; the workload is its child, in its group. */
    assert_int_equal(getpgid(keeper), keeper);
    assert_int_equal(getsid(keeper), keeper);
    assert_int_equal(stat_field(main_pid, 4), keeper);
    assert_int_equal(getpgid(main_pid), keeper);
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)keeper);
    assert_string_equal(slurp(path), "allot-keeper\n");
    /* It holds nothing of the agent's: 0, 1 and 2 only, all /dev/null. */
    snprintf(path, sizeof(path), "/proc/%ld/fd", (long)keeper);
    DIR *d = opendir(path);
    assert_non_null(d);
    int fds = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char link[600], target[64] = "";
        snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        assert_string_equal(target, "/dev/null");
        fds++;
    }
    closedir(d);
    assert_int_equal(fds, 3);
    /* SIGTERM, SIGINT and SIGHUP meant for the keeper itself do nothing. */
    assert_int_equal(kill(keeper, SIGTERM), 0);
    assert_int_equal(kill(keeper, SIGHUP), 0);
    sleep_ms(50);
    assert_false(process_dead(keeper));
    assert_false(process_dead(main_pid));
    /* It ends as the workload ended: by the same signal. */
    write_file(in_workdir(f, "kept", "go", path, sizeof(path)), "", 0);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_int_equal(e->end, RUNNER_END_EXITED);
    assert_true(e->status_known);
    assert_int_equal(e->signal, SIGSEGV);
    assert_int_equal(e->code, -1);
    assert_string_equal(e->reason, "killed by signal 11 (Segmentation fault)");
    assert_true(process_reaped(main_pid));
    /* The workload's umask: its group is its workspace's. */
    assert_string_equal(slurp(out), "0007\nready\n");
    struct stat sb;
    assert_int_equal(stat(in_workdir(f, "kept", "made", path, sizeof(path)), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0660);
}

static void test_stop_reaches_escaped_descendants(void **state)
{
    struct fixture *f = *state;
    /* A helper in a new session: not in the group, so only the keeper's walk reaches it. */
    const char *const argv[] = {
        "/bin/sh", "-c",
        "setsid sh -c 'trap \"echo escaped got TERM >> term.txt; exit 0\" TERM; "
        "echo $$ > escaped.pid; while :; do sleep 0.02; done' & "
        "trap 'wait; exit 0' TERM; while [ ! -s escaped.pid ]; do sleep 0.02; done; echo ready; "
        "while :; do sleep 0.02; done",
        NULL};
    struct runner_proc *proc = start(f, "escaper", argv, NULL);
    char out[256], path[256];
    wait_file(f, in_workdir(f, "escaper", "stdout.log", out, sizeof(out)), "ready\n");
    pid_t escaped = (pid_t)atol(slurp(in_workdir(f, "escaper", "escaped.pid", path, sizeof(path))));
    assert_true(escaped > 0);
    assert_int_equal(getsid(escaped), escaped);
    assert_int_equal(runner_stop(f->r, proc, 5000, "cancelled"), 0);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].end, RUNNER_END_STOPPED);
    assert_int_equal(f->exits[0].code, 0);
    /* It got SIGTERM once, and had time to act on it. */
    assert_string_equal(slurp(in_workdir(f, "escaper", "term.txt", path, sizeof(path))),
                        "escaped got TERM\n");
    assert_true(process_reaped(escaped));
}

static void test_stop_right_after_start(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"sleep", "30", NULL};
    /* Before the child may even have made its own group. */
    struct runner_proc *proc = start(f, "early", argv, NULL);
    assert_int_equal(runner_stop(f->r, proc, 5000, NULL), 0);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].end, RUNNER_END_STOPPED);
    assert_int_equal(f->exits[0].signal, SIGTERM);
    assert_string_equal(f->exits[0].reason, "stopped; killed by signal 15 (Terminated) after "
                                            "SIGTERM, within the grace period");
    assert_true(f->exits[0].runtime_ms < 4000);

    /* grace 0: SIGKILL at once. */
    proc = start(f, "now", argv, NULL);
    assert_int_equal(runner_stop(f->r, proc, 0, "cancelled"), 0);
    wait_exits(f, 2);
    assert_int_equal(f->exits[1].end, RUNNER_END_KILLED);
    assert_int_equal(f->exits[1].signal, SIGKILL);
}

static void test_group_leftovers_killed(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $! > sleep.pid; exit 0", NULL};
    start(f, "leaver", argv, NULL);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].end, RUNNER_END_EXITED);
    assert_int_equal(f->exits[0].code, 0);
    char pidfile[256];
    pid_t left = (pid_t)atol(slurp(in_workdir(f, "leaver", "sleep.pid", pidfile, sizeof(pidfile))));
    assert_true(left > 0);
    assert_true(wait_dead(left, 2000));
}

static void test_many_at_once(void **state)
{
    struct fixture *f = *state;
    enum { N = 20 };
    char ids[N][16], scripts[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        snprintf(scripts[i], sizeof(scripts[i]), "exit %d", i + 1);
        const char *const argv[] = {"/bin/sh", "-c", scripts[i], NULL};
        start(f, ids[i], argv, NULL);
    }
    assert_int_equal(runner_count(f->r), N);
    wait_exits(f, N);
    assert_int_equal(runner_count(f->r), 0);
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        struct exit_copy *e = &f->exits[i];
        int k = atoi(e->id + 1);
        assert_true(k >= 0 && k < N);
        assert_false(seen[k]);
        seen[k] = true;
        assert_int_equal(e->end, RUNNER_END_EXITED);
        assert_int_equal(e->code, k + 1);
    }
}

static void test_exec_failure(void **state)
{
    struct fixture *f = *state;
    const char *const missing[] = {"/nonexistent/allot-no-such-binary", "x", NULL};
    start(f, "miss", missing, NULL);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_int_equal(e->end, RUNNER_END_FAILED);
    assert_string_equal(runner_end_name(e->end), "failed");
    assert_int_equal(e->code, 127);
    assert_string_equal(e->reason,
                        "exec /nonexistent/allot-no-such-binary: No such file or directory");

    /* Looked up in the clean PATH. */
    const char *const unknown[] = {"allot-no-such-binary-zz", NULL};
    start(f, "miss2", unknown, NULL);
    wait_exits(f, 2);
    assert_int_equal(f->exits[1].end, RUNNER_END_FAILED);
    assert_int_equal(f->exits[1].code, 127);

    /* Not executable: 126, for root too. */
    char plain[128];
    snprintf(plain, sizeof(plain), "%s/plain.txt", f->base);
    write_file(plain, "hello\n", 6);
    chmod(plain, 0644);
    const char *const noexec[] = {plain, NULL};
    start(f, "noexec", noexec, NULL);
    wait_exits(f, 3);
    assert_int_equal(f->exits[2].end, RUNNER_END_FAILED);
    assert_int_equal(f->exits[2].code, 126);
    assert_non_null(strstr(f->exits[2].reason, "Permission denied"));

    /* The runner carries on. */
    const char *const ok[] = {"true", NULL};
    start(f, "fine", ok, NULL);
    wait_exits(f, 4);
    assert_int_equal(f->exits[3].end, RUNNER_END_EXITED);
    assert_int_equal(f->exits[3].code, 0);
}

static void test_bad_specs(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"sleep", "30", NULL};
    const char *const empty_argv[] = {NULL};
    const char *const blank_argv[] = {"", NULL};
    const char *const bad_env1[] = {"NOEQUALS", NULL};
    const char *const bad_env2[] = {"=v", NULL};
    const char *const bad_env3[] = {"1X=2", NULL};
    const struct {
        const char *id;
        const char *const *argv;
        const char *const *env;
        const char *needle;
    } cases[] = {
        {"../x", argv, NULL, "not a name"},
        {"a/b", argv, NULL, "not a name"},
        {"", argv, NULL, "not a name"},
        {NULL, argv, NULL, "not a name"},
        {"Upper", argv, NULL, "not a name"},
        {"ok", NULL, NULL, "argv is empty"},
        {"ok", empty_argv, NULL, "argv is empty"},
        {"ok", blank_argv, NULL, "argv is empty"},
        {"ok", argv, bad_env1, "not KEY=value"},
        {"ok", argv, bad_env2, "not KEY=value"},
        {"ok", argv, bad_env3, "not KEY=value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct runner_spec spec = {.id = cases[i].id,
                                   .argv = cases[i].argv,
                                   .env = cases[i].env,
                                   .on_exit = record_exit,
                                   .ctx = f};
        struct runner_proc *proc = (struct runner_proc *)&spec; /* must be reset */
        char err[256] = "";
        assert_int_equal(runner_start(f->r, &spec, &proc, err, sizeof(err)), -ALLOT_EINVAL);
        assert_null(proc);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].needle);
    }
    char err[256];
    struct runner_spec no_cb = {.id = "ok", .argv = argv};
    assert_int_equal(runner_start(f->r, &no_cb, NULL, err, sizeof(err)), -ALLOT_EINVAL);
    struct runner_spec uid_only = {
        .id = "ok", .argv = argv, .uid = 65534, .on_exit = record_exit, .ctx = f};
    assert_int_equal(runner_start(f->r, &uid_only, NULL, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "needs a gid"));
    /* Nothing was created or started by any of them. */
    DIR *d = opendir(f->base);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            fail_msg("unexpected %s", de->d_name);
    closedir(d);
    assert_int_equal(runner_count(f->r), 0);

    /* An id already running is refused; after it ends the id is free again. */
    struct runner_proc *first = start(f, "dup", argv, NULL);
    struct runner_spec dup = {.id = "dup", .argv = argv, .on_exit = record_exit, .ctx = f};
    assert_int_equal(runner_start(f->r, &dup, NULL, err, sizeof(err)), -ALLOT_EEXIST);
    assert_non_null(strstr(err, "already running"));
    assert_int_equal(runner_stop(f->r, first, 0, "test over"), 0);
    wait_exits(f, 1);
    assert_int_equal(runner_count(f->r), 0);
}

static void test_rlimits_fallback(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"/bin/sh", "-c", "ulimit -v; ulimit -t; ulimit -p", NULL};
    struct runner_spec spec = {
        .id = "limited",
        .argv = argv,
        .rlimits = {.as_bytes = 256ULL << 20, .cpu_seconds = 7, .nproc = 100},
        .on_exit = record_exit,
        .ctx = f,
    };
    char err[256] = "", path[256];
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), 0);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].code, 0);
    assert_string_equal(slurp(in_workdir(f, "limited", "stdout.log", path, sizeof(path))),
                        "262144\n7\n100\n");
}

static void test_enters_cgroup(void **state)
{
    struct fixture *f = *state;
    char cgroot[128], cg[256], err[256] = "";
    snprintf(cgroot, sizeof(cgroot), "%s/cgroot", f->base);
    assert_int_equal(mkdir(cgroot, 0755), 0);
    struct cgroup_limits lim = {.memory_max = 1 << 30, .pids_max = 64};
    assert_int_equal(cgroup_create(cgroot, "cgw", &lim, cg, sizeof(cg), err, sizeof(err)), 0);
    const char *const argv[] = {"/bin/sh", "-c", "echo $$", NULL};
    /* A plain directory cannot kill anything: it cannot be what contains the workload. */
    struct runner_spec spec = {.id = "cgw",
                               .argv = argv,
                               .cgroup = cg,
                               .contain = RUNNER_CONTAIN_CGROUP,
                               .on_exit = record_exit,
                               .ctx = f};
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "no cgroup filesystem"));
    /* Under a keeper, the workload enters the (stand-in) cgroup itself. */
    spec.contain = RUNNER_CONTAIN_KEEPER;
    struct runner_proc *proc = NULL;
    assert_int_equal(runner_start(f->r, &spec, &proc, err, sizeof(err)), 0);
    pid_t keeper = runner_proc_pid(proc);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].code, 0);
    char path[300];
    /* The workload wrote its own pid before exec, and exec kept the pid. */
    snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
    char procs[64];
    snprintf(procs, sizeof(procs), "%s", slurp(path));
    assert_string_equal(slurp(in_workdir(f, "cgw", "stdout.log", path, sizeof(path))), procs);
    assert_true(atol(procs) > 0 && atol(procs) != keeper);

    /* A cgroup that is not there: the start fails in the child and is reported. */
    char gone[300];
    snprintf(gone, sizeof(gone), "%s/missing", cgroot);
    spec.id = "cgw2";
    spec.cgroup = gone;
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), 0);
    wait_exits(f, 2);
    assert_int_equal(f->exits[1].end, RUNNER_END_FAILED);
    assert_int_equal(f->exits[1].code, 126);
    char reason[400];
    snprintf(reason, sizeof(reason), "enter cgroup %s: No such file or directory", gone);
    assert_string_equal(f->exits[1].reason, reason);
}

static void test_user_switch(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"/bin/sh", "-c", "id -u; id -g; id -G; touch mine \"$TMPDIR/t\"",
                                NULL};
    struct runner_spec spec = {
        .id = "nobody", .argv = argv, .uid = 65534, .gid = 65534, .on_exit = record_exit, .ctx = f};
    char err[256] = "", path[256];
    if (geteuid() != 0) {
        /* Not root: switching to another user is refused up front, not attempted. */
        spec.uid = geteuid() + 1;
        spec.gid = getegid() + 1;
        assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EINVAL);
        assert_non_null(strstr(err, "root"));
        return;
    }
    chmod(f->base, 0711); /* workload users may pass through, not list */
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), 0);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].code, 0);
    assert_string_equal(slurp(in_workdir(f, "nobody", "stdout.log", path, sizeof(path))),
                        "65534\n65534\n65534\n");
    struct stat sb;
    snprintf(path, sizeof(path), "%s/nobody", f->base);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(stat(in_workdir(f, "nobody", "mine", path, sizeof(path)), &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
    assert_int_equal(stat(in_workdir(f, "nobody", "stdout.log", path, sizeof(path)), &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
    /* Its temporary directory is its own, and what it writes there is in its directory. */
    assert_int_equal(stat(in_workdir(f, "nobody", "tmp", path, sizeof(path)), &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(stat(in_workdir(f, "nobody", "tmp/t", path, sizeof(path)), &sb), 0);
    assert_int_equal(sb.st_uid, 65534);
}

static void test_refuses_planted_logs(void **state)
{
    struct fixture *f = *state;
    char dir[128], path[256], err[256] = "";
    snprintf(dir, sizeof(dir), "%s/planted", f->base);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* A symbolic link where stdout.log goes: never written through. */
    char target[128];
    snprintf(target, sizeof(target), "%s/victim", f->base);
    write_file(target, "keep\n", 5);
    snprintf(path, sizeof(path), "%s/stdout.log", dir);
    assert_int_equal(symlink(target, path), 0);
    const char *const argv[] = {"/bin/sh", "-c", "echo overwritten", NULL};
    struct runner_spec spec = {.id = "planted", .argv = argv, .on_exit = record_exit, .ctx = f};
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, "stdout.log"));
    /* A FIFO: refused without blocking the caller. */
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EIO);
    /* A second name of another file. */
    unlink(path);
    assert_int_equal(link(target, path), 0);
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EIO);
    assert_string_equal(slurp(target), "keep\n");
    assert_int_equal(runner_count(f->r), 0);
    /* The workload directory itself as a symbolic link. */
    char linked[128];
    snprintf(linked, sizeof(linked), "%s/linked", f->base);
    assert_int_equal(symlink(dir, linked), 0);
    spec.id = "linked";
    assert_int_equal(runner_start(f->r, &spec, NULL, err, sizeof(err)), -ALLOT_EIO);
    assert_int_equal(runner_count(f->r), 0);
}

static void test_storage_usage(void **state)
{
    struct fixture *f = *state;
    char dir[128], path[512];
    static char block[4096];
    memset(block, 'x', sizeof(block));
    snprintf(dir, sizeof(dir), "%s/usage", f->base);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/a.bin", dir);
    write_file(path, block, 1000);
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/sub/b.bin", dir);
    write_file(path, block, 4096);
    snprintf(path, sizeof(path), "%s/sub/empty", dir);
    write_file(path, block, 0);
    /* Links are not followed: neither to a file nor to a directory. */
    snprintf(path, sizeof(path), "%s/passwd", dir);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/up", dir);
    assert_int_equal(symlink(f->base, path), 0);
    uint64_t bytes = 1;
    assert_int_equal(workdir_usage_bytes(dir, &bytes), 0);
    assert_int_equal(bytes, 5096);

    /* Deeper than the bound: a lower bound and -ALLOT_ERANGE. */
    char deep[128];
    snprintf(deep, sizeof(deep), "%s/deep", f->base);
    assert_int_equal(mkdir(deep, 0700), 0);
    snprintf(path, sizeof(path), "%s/top", deep);
    write_file(path, block, 7);
    snprintf(path, sizeof(path), "%s", deep);
    for (int i = 0; i < WORKDIR_USAGE_MAX_DEPTH + 5; i++) {
        strcat(path, "/d");
        assert_int_equal(mkdir(path, 0700), 0);
    }
    strcat(path, "/bottom");
    write_file(path, block, 10);
    assert_int_equal(workdir_usage_bytes(deep, &bytes), -ALLOT_ERANGE);
    assert_int_equal(bytes, 7);

    char missing[128];
    snprintf(missing, sizeof(missing), "%s/missing", f->base);
    assert_int_equal(workdir_usage_bytes(missing, &bytes), -ALLOT_ENOENT);
    assert_int_equal(bytes, 0);
    snprintf(path, sizeof(path), "%s/a.bin", dir);
    assert_int_equal(workdir_usage_bytes(path, &bytes), -ALLOT_EINVAL);

    /* A workload's own directory, logs included. */
    const char *const argv[] = {"/bin/sh", "-c", "head -c 3000 /dev/zero > data; echo 12345", NULL};
    start(f, "writer", argv, NULL);
    wait_exits(f, 1);
    snprintf(path, sizeof(path), "%s/writer", f->base);
    assert_int_equal(workdir_usage_bytes(path, &bytes), 0);
    assert_int_equal(bytes, 3006);
}

/* Fork a sleeper (sleep 30) in its own session; with via_orphan, through an intermediate
 * process that exits, so that the sleeper is not our child. RET its pid once its session
 * exists. */
static pid_t fork_sleeper(bool via_orphan)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        if (via_orphan && fork() != 0)
            _exit(0);
        setsid();
        pid_t self = getpid();
        if (write(fds[1], &self, sizeof(self)) != sizeof(self))
            _exit(1);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    pid_t sleeper = -1;
    assert_int_equal(read(fds[0], &sleeper, sizeof(sleeper)), sizeof(sleeper));
    close(fds[0]);
    if (via_orphan)
        assert_int_equal(waitpid(mid, NULL, 0), mid);
    return sleeper;
}

static void test_adopt(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    pid_t sleeper = fork_sleeper(false);
    uint64_t ticks = start_ticks_of(sleeper);
    assert_true(ticks > 0);
    struct runner_adoption a = {
        .id = "a1", .pid = sleeper, .start_ticks = ticks + 1, .on_exit = record_exit, .ctx = f};
    struct runner_proc *proc = NULL;
    /* The pid names a process started at another time: the workload is gone. */
    assert_int_equal(runner_adopt(f->r, &a, &proc, err, sizeof(err)), -ALLOT_ENOENT);
    assert_null(proc);
    assert_non_null(strstr(err, "gone"));
    a.start_ticks = ticks;
    assert_int_equal(runner_adopt(f->r, &a, &proc, err, sizeof(err)), 0);
    assert_int_equal(runner_proc_pid(proc), sleeper);
    assert_true(runner_proc_start_ticks(proc) == ticks);
    /* Not twice, under the same id or another. */
    a.id = "a1-again";
    assert_int_equal(runner_adopt(f->r, &a, NULL, err, sizeof(err)), -ALLOT_EEXIST);
    assert_int_equal(runner_stop(f->r, proc, 5000, "cancelled"), 0);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_string_equal(e->id, "a1");
    assert_int_equal(e->end, RUNNER_END_STOPPED);
    assert_true(e->status_known); /* still our child here */
    assert_int_equal(e->signal, SIGTERM);
    assert_true(process_dead(sleeper));

    /* Gone: reaped before the adoption. */
    pid_t quick = fork();
    if (quick == 0)
        _exit(0);
    assert_int_equal(waitpid(quick, NULL, 0), quick);
    a.id = "a2";
    a.pid = quick;
    a.start_ticks = 0;
    assert_int_equal(runner_adopt(f->r, &a, NULL, err, sizeof(err)), -ALLOT_ENOENT);

    /* Alive, but not the leader of its own group: not something the runner started. */
    pid_t stray = fork();
    if (stray == 0) {
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    a.id = "a3";
    a.pid = stray;
    assert_int_equal(runner_adopt(f->r, &a, NULL, err, sizeof(err)), -ALLOT_ESTATE);
    kill(stray, SIGKILL);
    waitpid(stray, NULL, 0);

    /* Not our child (as after an agent restart): tracked and stopped, status unknown. */
    pid_t orphan = fork_sleeper(true);
    a.id = "a4";
    a.pid = orphan;
    a.start_ticks = start_ticks_of(orphan);
    assert_int_equal(runner_adopt(f->r, &a, &proc, err, sizeof(err)), 0);
    assert_int_equal(runner_stop(f->r, proc, 5000, "node drained"), 0);
    wait_exits(f, 2);
    e = &f->exits[1];
    assert_int_equal(e->end, RUNNER_END_STOPPED);
    assert_false(e->status_known);
    assert_int_equal(e->code, -1);
    assert_int_equal(e->signal, 0);
    assert_non_null(strstr(e->reason, "node drained; exit status unknown"));
    assert_true(wait_dead(orphan, 2000));
}

static void test_restart_and_adopt(void **state)
{
    struct fixture *f = *state;
    const char *const argv[] = {"sleep", "30", NULL};
    struct runner_proc *proc = start(f, "survivor", argv, NULL);
    pid_t pid = runner_proc_pid(proc); /* its keeper */
    uint64_t ticks = runner_proc_start_ticks(proc);
    assert_true(ticks > 0);
    assert_int_equal(ticks, start_ticks_of(pid));
    /* The agent goes away: the workload keeps running. */
    runner_free(f->r);
    f->r = NULL;
    sleep_ms(50);
    assert_false(process_dead(pid));
    /* A new agent adopts it from what the old one kept, and stops it. */
    struct runner_options opt = {.base_dir = f->base};
    assert_int_equal(runner_new(f->eb, &opt, &f->r), 0);
    struct runner_adoption a = {
        .id = "survivor", .pid = pid, .start_ticks = ticks, .on_exit = record_exit, .ctx = f};
    char err[256] = "";
    assert_int_equal(runner_adopt(f->r, &a, &proc, err, sizeof(err)), 0);
    assert_int_equal(runner_stop(f->r, proc, 300, "reclaimed"), 0);
    wait_exits(f, 1);
    assert_int_equal(f->exits[0].end, RUNNER_END_STOPPED);
    assert_int_equal(f->exits[0].signal, SIGTERM);
    char path[256];
    long long deadline =
        atoll(slurp(in_workdir(f, "survivor", "preempt_deadline", path, sizeof(path))));
    assert_true(deadline > 0);
}

/* Start argv as a container's runtime (RUNNER_CONTAIN_RUNTIME) with the kill and delete
 * commands given (shell lines), state_path (may be NULL); fails the test on error. */
static struct runner_proc *start_runtime(struct fixture *f, const char *id, const char *const *argv,
                                         const char *kill_line, const char *delete_line,
                                         const char *state_path, uid_t uid)
{
    const char *const kill_argv[] = {"/bin/sh", "-c", kill_line, NULL};
    const char *const delete_argv[] = {"/bin/sh", "-c", delete_line, NULL};
    struct runner_runtime rt = {
        .kill_argv = kill_argv, .delete_argv = delete_argv, .state_path = state_path};
    struct runner_spec spec = {.id = id,
                               .argv = argv,
                               .uid = uid,
                               .gid = uid,
                               .contain = RUNNER_CONTAIN_RUNTIME,
                               .runtime = &rt,
                               .on_exit = record_exit,
                               .ctx = f};
    struct runner_proc *proc = NULL;
    char err[256] = "";
    if (runner_start(f->r, &spec, &proc, err, sizeof(err)) != 0)
        fail_msg("runner_start %s: %s", id, err);
    return proc;
}

/* A container's runtime (a shell standing in for runc): it runs as the agent in a group of its
 * own while its directory is the workload's; SIGTERM reaches it alone (not what it started in
 * other sessions: the container, which the runtime signals itself); its exit code 128+N is the
 * signal N; the delete command runs after the end only while the state is there; at the
 * deadline the kill command runs, and a runtime that outlives it gets SIGKILL. */
static void test_runtime(void **state)
{
    struct fixture *f = *state;
    char line[1024], kill_line[512], delete_line[512], path[256], state_path[256];
    uid_t uid = geteuid() == 0 ? 1234567 : 0;
    /* 137: its container's init died of SIGKILL; no state left: no delete */
    snprintf(delete_line, sizeof(delete_line), "echo deleted >> %s/deleted.txt", f->base);
    snprintf(state_path, sizeof(state_path), "%s/state-rt1", f->base);
    const char *const shot[] = {"/bin/sh", "-c", "id -u > uid.txt; exit 137", NULL};
    struct runner_proc *proc = start_runtime(f, "rt1", shot, "true", delete_line, state_path, uid);
    assert_non_null(proc);
    wait_exits(f, 1);
    struct exit_copy *e = &f->exits[0];
    assert_int_equal(e->end, RUNNER_END_EXITED);
    assert_int_equal(e->code, -1);
    assert_int_equal(e->signal, SIGKILL);
    assert_string_equal(e->reason, "killed by signal 9 (Killed)");
    snprintf(path, sizeof(path), "%s/deleted.txt", f->base);
    assert_string_equal(slurp(path), "");
    /* the runtime ran as the agent; its directory is the workload's */
    assert_string_equal(slurp(in_workdir(f, "rt1", "uid.txt", line, sizeof(line))), "0\n");
    struct stat sb;
    snprintf(path, sizeof(path), "%s/rt1", f->base);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_uid, uid);

    /* SIGTERM to the runtime only; the state is there after its end: delete runs, first */
    snprintf(state_path, sizeof(state_path), "%s/state-rt2", f->base);
    write_file(state_path, "x", 1);
    snprintf(delete_line, sizeof(delete_line),
             "kill -9 $(cat %s/rt2/container.pid); echo deleted >> %s/deleted.txt", f->base,
             f->base);
    const char *const polite[] = {
        "/bin/sh", "-c",
        "trap 'echo term >> term.txt; exit 0' TERM; setsid sh -c 'echo $$ > container.pid; trap "
        "\"echo container term >> term.txt\" TERM; sleep 30' & while true; do sleep 0.02; "
        "done",
        NULL};
    proc = start_runtime(f, "rt2", polite, "true", delete_line, state_path, uid);
    wait_file(f, in_workdir(f, "rt2", "container.pid", path, sizeof(path)), "\n");
    pid_t container = (pid_t)atol(slurp(path));
    assert_true(container > 0);
    assert_int_equal(runner_stop(f->r, proc, 5000, "cancelled"), 0);
    wait_exits(f, 2);
    e = &f->exits[1];
    assert_int_equal(e->end, RUNNER_END_STOPPED);
    assert_int_equal(e->code, 0);
    assert_string_equal(slurp(in_workdir(f, "rt2", "term.txt", line, sizeof(line))), "term\n");
    snprintf(path, sizeof(path), "%s/deleted.txt", f->base);
    assert_string_equal(slurp(path), "deleted\n"); /* before the report */
    assert_true(wait_dead(container, 2000));

    /* the deadline: the kill command, which ends the runtime as the container did */
    snprintf(kill_line, sizeof(kill_line),
             "echo killed >> %s/killed.txt; kill -9 $(cat %s/rt3/runtime.pid)", f->base, f->base);
    const char *const stubborn[] = {
        "/bin/sh", "-c", "trap '' TERM; echo $$ > runtime.pid; while true; do sleep 0.02; done",
        NULL};
    proc = start_runtime(f, "rt3", stubborn, kill_line, "true", NULL, uid);
    wait_file(f, in_workdir(f, "rt3", "runtime.pid", path, sizeof(path)), "\n");
    assert_int_equal(runner_stop(f->r, proc, 100, "preempted"), 0);
    wait_exits(f, 3);
    e = &f->exits[2];
    assert_int_equal(e->end, RUNNER_END_KILLED);
    assert_int_equal(e->signal, SIGKILL);
    assert_string_equal(e->reason, "preempted; killed with SIGKILL at the deadline");
    snprintf(path, sizeof(path), "%s/killed.txt", f->base);
    assert_string_equal(slurp(path), "killed\n");

    /* a kill command that kills nothing: the runtime itself gets SIGKILL a while later */
    proc = start_runtime(f, "rt4", stubborn, "true", "true", NULL, uid);
    wait_file(f, in_workdir(f, "rt4", "runtime.pid", path, sizeof(path)), "\n");
    assert_int_equal(runner_stop(f->r, proc, 0, "storage above its limit"), 0);
    wait_exits(f, 4);
    e = &f->exits[3];
    assert_int_equal(e->end, RUNNER_END_KILLED);
    assert_int_equal(e->signal, SIGKILL);

    /* the delete command does not hold the loop: a process that ends while it runs is
     * reported first */
    snprintf(state_path, sizeof(state_path), "%s/state-rt6", f->base);
    write_file(state_path, "x", 1);
    snprintf(delete_line, sizeof(delete_line), "sleep 0.5; echo deleted6 >> %s/deleted.txt",
             f->base);
    const char *const quick[] = {"/bin/sh", "-c", "exit 0", NULL};
    start_runtime(f, "rt6", quick, "true", delete_line, state_path, uid);
    const char *const short_sleep[] = {"/bin/sh", "-c", "sleep 0.1", NULL};
    start(f, "bare", short_sleep, NULL);
    wait_exits(f, 6);
    assert_string_equal(f->exits[4].id, "bare");
    assert_string_equal(f->exits[5].id, "rt6");
    snprintf(path, sizeof(path), "%s/deleted.txt", f->base);
    assert_string_equal(slurp(path), "deleted\ndeleted6\n");

    /* a container needs its runtime's commands and no cgroup of the agent's */
    struct runner_spec bad = {.id = "rt5",
                              .argv = shot,
                              .contain = RUNNER_CONTAIN_RUNTIME,
                              .on_exit = record_exit,
                              .ctx = f};
    char err[256];
    assert_int_equal(runner_start(f->r, &bad, NULL, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "kill and delete"));
}

int main(void)
{
    /* A dead pipe must not kill the tests; children get default dispositions anyway. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_code_and_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_within_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_at_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_reaches_escaped_descendants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_right_after_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_leftovers_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rlimits_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enters_cgroup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_planted_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_adopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
