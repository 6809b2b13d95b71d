/* Workload processes (runner.h): the fork/exec path with its child-side setup, the keeper,
 * pidfd watching on the agent's event loop, the kill of what is left before an end is
 * reported, stop with SIGTERM and a SIGKILL deadline, adoption, and the storage walk. Process
 * model and rules: docs/agent-running.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall, close_range, _Fork, setgroups, environ, P_PIDFD, FTW_* */
#endif

#include "agent/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cgroup.h"
#include "agent/procwalk.h"
#include "common/error.h"
#include "common/name.h"

/* The kill of what is left of a workload in its cgroup is checked again after this long at
 * first, doubling up to the longest wait: dying processes take a moment to leave. */
#define RUNNER_DRAIN_FIRST_MS 1
#define RUNNER_DRAIN_MAX_MS 100
/* How long a kill waits for a keeper to be stopped (it is, within microseconds, unless the
 * machine is stalled), and how many rounds of SIGKILL its descendants get at once; then how
 * often what is left is killed again, and how long the keeper has to end on its own before it
 * gets SIGKILL itself. */
#define RUNNER_KEEPER_STOP_WAIT_MS 100
#define RUNNER_KEEPER_KILL_ROUNDS 64
#define RUNNER_KEEPER_RETRY_MS 10
#define RUNNER_KEEPER_END_MS 1000
/* The longest a keeper sleeps between two rounds of killing its descendants. */
#define RUNNER_KEEPER_ROUND_MAX_MS 50

struct runner {
    struct event_base *base;
    int base_fd; /* base_dir, opened once: workload directories are opened relative to it */
    char *base_dir;
    char *path_env;            /* "PATH=..." */
    char *lang_env;            /* "LANG=..." */
    struct runner_proc *procs; /* doubly linked, newest first */
    size_t count;
};

/* A failed setup step, as the child writes it to the failure pipe. */
struct runner_failure {
    int stage;
    int err;
};

struct runner_proc {
    struct runner *r;
    struct runner_proc *prev, *next;
    char id[RUNNER_ID_MAX + 1];
    char *workdir; /* base_dir/id */
    char *cgroup;  /* NULL when none */
    enum runner_contain contain;
    char argv0[128];
    pid_t pid; /* the keeper's, or the workload's in a cgroup */
    uint64_t start_ticks;
    int pidfd;
    int fail_fd; /* read end of the child's setup-failure pipe; -1 when adopted */
    bool adopted;
    bool stopping;             /* runner_stop was called: SIGTERM sent */
    bool killed;               /* the deadline passed: SIGKILL sent */
    bool ended;                /* reaped; its cgroup is being emptied before the report */
    int64_t deadline_ms;       /* ms since the epoch, when stopping */
    int64_t kill_ms;           /* monotonic, when a keeper's kill began */
    int64_t started_ms;        /* monotonic */
    struct event *exit_ev;     /* pidfd readable: the process has ended */
    struct event *deadline_ev; /* SIGKILL time, or the retry of a keeper's kill */
    struct event *drain_ev;    /* the next look at its cgroup, once ended */
    int drain_ms;              /* the wait before that look */
    struct runner_exit end;    /* what the report will say, once ended (no pointers yet) */
    struct runner_failure fail;
    bool failed;
    char stop_reason[RUNNER_REASON_MAX];
    runner_exit_fn on_exit;
    void *ctx;
};

/* Steps of the child between fork and exec; a failing step is reported through the
 * failure pipe as {stage, errno} and named in the exit reason. */
enum runner_stage {
    RUNNER_STAGE_KEEPER,
    RUNNER_STAGE_SETSID,
    RUNNER_STAGE_CGROUP,
    RUNNER_STAGE_RLIMIT,
    RUNNER_STAGE_STDIO,
    RUNNER_STAGE_CHDIR,
    RUNNER_STAGE_SETGROUPS,
    RUNNER_STAGE_SETGID,
    RUNNER_STAGE_SETUID,
    RUNNER_STAGE_EXEC,
    RUNNER_STAGE_COUNT
};

static const char *const runner_stage_names[RUNNER_STAGE_COUNT] = {
    [RUNNER_STAGE_KEEPER] = "start keeper",  [RUNNER_STAGE_SETSID] = "setsid",
    [RUNNER_STAGE_CGROUP] = "enter cgroup",  [RUNNER_STAGE_RLIMIT] = "setrlimit",
    [RUNNER_STAGE_STDIO] = "redirect stdio", [RUNNER_STAGE_CHDIR] = "chdir",
    [RUNNER_STAGE_SETGROUPS] = "setgroups",  [RUNNER_STAGE_SETGID] = "setgid",
    [RUNNER_STAGE_SETUID] = "setuid",        [RUNNER_STAGE_EXEC] = "exec",
};

static const char *const runner_end_names[] = {
    [RUNNER_END_EXITED] = "exited",
    [RUNNER_END_STOPPED] = "stopped",
    [RUNNER_END_KILLED] = "killed",
    [RUNNER_END_FAILED] = "failed",
};

/* The setrlimit fallback: which field of struct runner_rlimits sets which resource. */
static const struct {
    int resource;
    size_t field;
} runner_rlimit_rows[] = {
    {RLIMIT_AS, offsetof(struct runner_rlimits, as_bytes)},
    {RLIMIT_NPROC, offsetof(struct runner_rlimits, nproc)},
    {RLIMIT_CPU, offsetof(struct runner_rlimits, cpu_seconds)},
};
#define RUNNER_N_RLIMITS (sizeof(runner_rlimit_rows) / sizeof(runner_rlimit_rows[0]))

/* Everything the child needs, prepared by the parent so that the child only makes
 * async-signal-safe calls (plus execvp) between fork and exec. */
struct runner_plan {
    char *const *argv;
    char **envp;
    int dir_fd, out_fd, err_fd, null_fd, fail_fd; /* all >= 3 */
    const char *cgroup;
    struct runner_rlimits rlimits;
    bool switch_user;
    uid_t uid;
    gid_t gid;
    bool keeper; /* fork a keeper, which forks the workload */
};

/* Signals a keeper ignores itself: those meant for its workload's group (a stop, a terminal's
 * interrupt or hangup) must not end the keeper before the workload. */
static const int keeper_ignored[] = {SIGTERM, SIGINT, SIGHUP};
#define RUNNER_N_KEEPER_IGNORED (sizeof(keeper_ignored) / sizeof(keeper_ignored[0]))

const char *runner_end_name(enum runner_end end)
{
    if ((unsigned)end >= sizeof(runner_end_names) / sizeof(runner_end_names[0]))
        return "unknown";
    return runner_end_names[end];
}

static int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether the process behind pidfd still exists (a zombie counts: it still holds its pid and
 * process group id, so signalling the group is safe). */
static bool pidfd_alive(int pidfd)
{
    return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* fd moved to a number >= 3 (close-on-exec), so that the child's dup2 onto 0..2 cannot
 * clobber it; fd itself is closed if moved. RET the fd, or -1 with errno. */
static int fd_high(int fd)
{
    if (fd < 0 || fd >= 3)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat); 0 if unknown. */
static uint64_t read_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}

/* ---- the child ---- */

/* Report a failed setup step to the parent and end with the shell's codes: 127 when the
 * program was not found, 126 for anything else. */
static _Noreturn void child_fail(int fail_fd, enum runner_stage stage, int err)
{
    struct runner_failure f = {.stage = (int)stage, .err = err ? err : EIO};
    ssize_t w = write(fail_fd, &f, sizeof(f));
    (void)w;
    _exit(stage == RUNNER_STAGE_EXEC && (err == ENOENT || err == ENOTDIR) ? 127 : 126);
}

/* Every signal back to its default disposition (SIGKILL, SIGSTOP and reserved ones fail:
 * fine). Async-signal-safe. */
static void default_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
}

/* The workload, between fork and exec: default signals, a new session (unless it stays in
 * its keeper's group), cgroup, limits, stdio, directory, user, umask, then exec. Signals stay
 * blocked (as the parent blocked them around fork) until the default dispositions are in
 * place, so an early SIGTERM can never run an agent handler: it ends the child before exec. */
static _Noreturn void workload_run(const struct runner_plan *p)
{
    default_signals();
    if (!p->keeper && setsid() < 0)
        child_fail(p->fail_fd, RUNNER_STAGE_SETSID, errno);
    if (p->cgroup) {
        errno = 0;
        if (cgroup_attach(p->cgroup, getpid()) != 0)
            child_fail(p->fail_fd, RUNNER_STAGE_CGROUP, errno);
    }
    for (size_t i = 0; i < RUNNER_N_RLIMITS; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&p->rlimits + runner_rlimit_rows[i].field, sizeof(v));
        if (v == 0)
            continue;
        struct rlimit rl = {.rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v};
        if (setrlimit(runner_rlimit_rows[i].resource, &rl) != 0)
            child_fail(p->fail_fd, RUNNER_STAGE_RLIMIT, errno);
    }
    if (dup2(p->null_fd, 0) < 0 || dup2(p->out_fd, 1) < 0 || dup2(p->err_fd, 2) < 0)
        child_fail(p->fail_fd, RUNNER_STAGE_STDIO, errno);
    if (fchdir(p->dir_fd) != 0)
        child_fail(p->fail_fd, RUNNER_STAGE_CHDIR, errno);
    if (p->switch_user) {
        if (setgroups(0, NULL) != 0)
            child_fail(p->fail_fd, RUNNER_STAGE_SETGROUPS, errno);
        if (p->gid != 0 && setgid(p->gid) != 0)
            child_fail(p->fail_fd, RUNNER_STAGE_SETGID, errno);
        if (p->uid != 0 && setuid(p->uid) != 0)
            child_fail(p->fail_fd, RUNNER_STAGE_SETUID, errno);
    }
    umask(RUNNER_UMASK);
#ifdef CLOSE_RANGE_CLOEXEC
    /* Whatever the agent left inheritable must not reach the workload. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* execvp searches the PATH of environ: make that the clean one. */
    environ = p->envp;
    execvp(p->argv[0], p->argv);
    child_fail(p->fail_fd, RUNNER_STAGE_EXEC, errno);
}

/* Sleep ms milliseconds (async-signal-safe). */
static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The keeper, once its workload's main process has ended: SIGKILL every descendant left, in
 * rounds, and reap them, until it has no child left. Those whose parent dies are reparented
 * to the keeper (a subreaper), so every one of them is found. */
static void keeper_drain(void)
{
    long wait_ms = 1;
    for (;;) {
        procwalk_signal_descendants(getpid(), SIGKILL, 0);
        pid_t pid;
        do
            pid = waitpid(-1, NULL, WNOHANG | __WALL);
        while (pid > 0 || (pid < 0 && errno == EINTR));
        if (pid < 0)
            return; /* ECHILD: nothing of the workload is left */
        sleep_ms(wait_ms);
        wait_ms =
            wait_ms * 2 > RUNNER_KEEPER_ROUND_MAX_MS ? RUNNER_KEEPER_ROUND_MAX_MS : wait_ms * 2;
    }
}

/* End the keeper as its workload's main process ended: the same exit code, or the same
 * signal (with no core dump of the keeper's own). */
static _Noreturn void keeper_exit(int status)
{
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

/* The keeper, forked from the agent (which may have threads: only async-signal-safe calls
 * here, and _Fork for the workload). It leads a new session and process group, becomes a
 * child subreaper, forks the workload into its group, ignores SIGTERM, SIGINT and SIGHUP
 * itself, reaps whatever is reparented to it, and when the workload's main process ends kills
 * everything left, then ends as that process did. Every signal stays blocked in it. */
static _Noreturn void keeper_run(const struct runner_plan *p)
{
    default_signals();
    if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        child_fail(p->fail_fd, RUNNER_STAGE_KEEPER, errno);
    prctl(PR_SET_NAME, "allot-keeper", 0, 0, 0);
    pid_t main_pid = _Fork();
    if (main_pid < 0)
        child_fail(p->fail_fd, RUNNER_STAGE_KEEPER, errno);
    if (main_pid == 0)
        workload_run(p);
    /* A stop sent before the keeper had its group reached only the keeper: pass it on. Sent
     * later, it reaches the workload through the group. Then the keeper ignores them. */
    sigset_t pending;
    sigpending(&pending);
    for (size_t i = 0; i < RUNNER_N_KEEPER_IGNORED; i++)
        if (sigismember(&pending, keeper_ignored[i]) == 1)
            kill(main_pid, keeper_ignored[i]);
    for (size_t i = 0; i < RUNNER_N_KEEPER_IGNORED; i++)
        signal(keeper_ignored[i], SIG_IGN);
    /* Nothing of the agent's stays open in the keeper: its connections, its log, the pidfds
     * of other workloads. */
    if (dup2(p->null_fd, 0) < 0 || dup2(p->null_fd, 1) < 0 || dup2(p->null_fd, 2) < 0 ||
        chdir("/") != 0)
        kill(main_pid, SIGKILL); /* cannot happen; if it did, the workload would not run */
    if (close_range(3, ~0U, 0) != 0) {
        struct rlimit files;
        rlim_t n = getrlimit(RLIMIT_NOFILE, &files) == 0 ? files.rlim_cur : 1024;
        for (rlim_t fd = 3; fd < n && fd < 65536; fd++)
            close((int)fd);
    }
    int status = 0;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, __WALL);
        if (pid == main_pid) {
            status = st;
            break;
        }
        if (pid < 0 && errno != EINTR)
            break;
    }
    keeper_drain();
    keeper_exit(status);
}

/* The child of runner_start's fork: the keeper, or the workload itself. */
static _Noreturn void child_run(const struct runner_plan *p)
{
    if (p->keeper)
        keeper_run(p);
    workload_run(p);
}

/* ---- bookkeeping ---- */

/* a, b and c joined into a new string (free it); NULL when out of memory. */
static char *concat3(const char *a, const char *b, const char *c)
{
    size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

int runner_new(struct event_base *base, const struct runner_options *opt, struct runner **out)
{
    int rc = 0;
    *out = NULL;
    if (!base || !opt || !opt->base_dir || !*opt->base_dir)
        return -ALLOT_EINVAL;
    struct runner *r = calloc(1, sizeof(*r));
    if (!r)
        return -ALLOT_ENOMEM;
    r->base = base;
    r->base_fd = fd_high(open(opt->base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (r->base_fd < 0) {
        rc = -ALLOT_EIO;
        goto out;
    }
    r->base_dir = strdup(opt->base_dir);
    r->path_env = concat3("PATH=", opt->path ? opt->path : RUNNER_DEFAULT_PATH, "");
    r->lang_env = concat3("LANG=", opt->lang ? opt->lang : RUNNER_DEFAULT_LANG, "");
    if (!r->base_dir || !r->path_env || !r->lang_env) {
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    *out = r;
out:
    if (rc != 0)
        runner_free(r);
    return rc;
}

/* Free a process record (its events and fds); it must already be out of the list. */
static void proc_free(struct runner_proc *p)
{
    if (!p)
        return;
    if (p->exit_ev)
        event_free(p->exit_ev);
    if (p->deadline_ev)
        event_free(p->deadline_ev);
    if (p->drain_ev)
        event_free(p->drain_ev);
    close_fd(&p->pidfd);
    close_fd(&p->fail_fd);
    free(p->workdir);
    free(p->cgroup);
    free(p);
}

static void proc_unlink(struct runner_proc *p)
{
    struct runner *r = p->r;
    if (p->prev)
        p->prev->next = p->next;
    else if (r->procs == p)
        r->procs = p->next;
    else
        return; /* not linked */
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    r->count--;
}

void runner_free(struct runner *r)
{
    if (!r)
        return;
    while (r->procs) {
        struct runner_proc *p = r->procs;
        proc_unlink(p);
        proc_free(p);
    }
    if (r->base_fd >= 0)
        close(r->base_fd);
    free(r->base_dir);
    free(r->path_env);
    free(r->lang_env);
    free(r);
}

/* The tracked process with this id or (pid > 0) this pid, or NULL. */
static struct runner_proc *find_proc(const struct runner *r, const char *id, pid_t pid)
{
    for (struct runner_proc *p = r->procs; p; p = p->next)
        if (strcmp(p->id, id) == 0 || (pid > 0 && p->pid == pid))
            return p;
    return NULL;
}

size_t runner_count(const struct runner *r)
{
    return r ? r->count : 0;
}

pid_t runner_proc_pid(const struct runner_proc *proc)
{
    return proc->pid;
}

const char *runner_proc_id(const struct runner_proc *proc)
{
    return proc->id;
}

const char *runner_proc_workdir(const struct runner_proc *proc)
{
    return proc->workdir;
}

uint64_t runner_proc_start_ticks(const struct runner_proc *proc)
{
    return proc->start_ticks;
}

/* ---- exit ---- */

/* The sentence of an exit report into buf. */
static void exit_reason(const struct runner_proc *p, const struct runner_exit *e,
                        const struct runner_failure *fail, char *buf, size_t len)
{
    char status[96];
    if (!e->status_known)
        snprintf(status, sizeof(status), "exit status unknown (not a child of this agent)");
    else if (e->signal)
        snprintf(status, sizeof(status), "killed by signal %d (%s)", e->signal,
                 strsignal(e->signal));
    else
        snprintf(status, sizeof(status), "exited with code %d", e->code);
    switch (e->end) {
    case RUNNER_END_FAILED: {
        int stage =
            fail->stage >= 0 && fail->stage < RUNNER_STAGE_COUNT ? fail->stage : RUNNER_STAGE_EXEC;
        const char *what = stage == RUNNER_STAGE_EXEC     ? p->argv0
                           : stage == RUNNER_STAGE_CGROUP ? (p->cgroup ? p->cgroup : "")
                                                          : NULL;
        snprintf(buf, len, "%s%s%s: %s", runner_stage_names[stage], what ? " " : "",
                 what ? what : "", strerror(fail->err));
        break;
    }
    case RUNNER_END_KILLED:
        snprintf(buf, len, "%s; killed with SIGKILL at the deadline", p->stop_reason);
        break;
    case RUNNER_END_STOPPED:
        snprintf(buf, len, "%s; %s after SIGTERM, within the grace period", p->stop_reason, status);
        break;
    case RUNNER_END_EXITED:
    default:
        snprintf(buf, len, "%s", status);
        break;
    }
}

static void on_drain(evutil_socket_t fd, short what, void *arg);

/* Report p's end and forget it. */
static void proc_report(struct runner_proc *p)
{
    char reason[RUNNER_REASON_MAX * 2];
    struct runner_exit e = p->end;
    e.id = p->id;
    e.pid = p->pid;
    e.end = p->failed     ? RUNNER_END_FAILED
            : p->killed   ? RUNNER_END_KILLED
            : p->stopping ? RUNNER_END_STOPPED
                          : RUNNER_END_EXITED;
    e.runtime_ms = clock_ms(CLOCK_MONOTONIC) - p->started_ms;
    exit_reason(p, &e, &p->fail, reason, sizeof(reason));
    e.reason = reason;
    proc_unlink(p);
    p->on_exit(p->ctx, &e);
    proc_free(p);
}

/* Once p has ended: kill what is left in its cgroup and report only when the cgroup is
 * empty, so that the GPUs are not given to others while something of it still runs. Under a
 * keeper there is nothing left to wait for: the keeper ends last. A cgroup whose processes do
 * not die is looked at again and again (backing off to RUNNER_DRAIN_MAX_MS) and the end is
 * not reported while they live; an error reading it ends the wait. */
static void proc_drain(struct runner_proc *p)
{
    int left = 0;
    if (p->contain == RUNNER_CONTAIN_CGROUP && p->cgroup)
        left = cgroup_kill(p->cgroup);
    if (left > 0 && !p->drain_ev)
        p->drain_ev = evtimer_new(p->r->base, on_drain, p);
    if (left <= 0 || !p->drain_ev) {
        proc_report(p);
        return;
    }
    struct timeval tv = {.tv_sec = p->drain_ms / 1000, .tv_usec = (p->drain_ms % 1000) * 1000};
    p->drain_ms = p->drain_ms * 2 > RUNNER_DRAIN_MAX_MS ? RUNNER_DRAIN_MAX_MS : p->drain_ms * 2;
    if (event_add(p->drain_ev, &tv) != 0)
        proc_report(p);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    proc_drain(arg);
}

/* The pidfd is readable: the process has ended. Kill what is left of its group while the
 * unreaped leader still pins the group id, reap it, read a setup failure if the child
 * reported one, then empty its cgroup and report (proc_drain). */
static void on_proc_exit(evutil_socket_t fd, short what, void *arg)
{
    struct runner_proc *p = arg;
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    bool child = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                 si.si_pid == p->pid;
    if (child)
        kill(-p->pid, SIGKILL); /* leftovers of the group; ESRCH when there are none */
    if (child) {
        memset(&si, 0, sizeof(si));
        child = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) == 0 && si.si_pid == p->pid;
    }
    p->end = (struct runner_exit){.code = -1, .status_known = child};
    if (child && si.si_code == CLD_EXITED)
        p->end.code = si.si_status;
    else if (child)
        p->end.signal = si.si_status;
    if (p->fail_fd >= 0)
        p->failed = read(p->fail_fd, &p->fail, sizeof(p->fail)) == (ssize_t)sizeof(p->fail);
    p->ended = true;
    event_del(p->deadline_ev);
    p->drain_ms = RUNNER_DRAIN_FIRST_MS;
    proc_drain(p);
}

/* ---- stop ---- */

/* Send sig to proc's process group, or to the process itself while it has not made its
 * group yet (between fork and setsid). Nothing is sent once the process is gone for good,
 * so a reused pid is never signalled. RET 0 or -ALLOT_EIO. */
static int signal_group(struct runner_proc *p, int sig)
{
    if (!pidfd_alive(p->pidfd))
        return 0;
    if (kill(-p->pid, sig) == 0)
        return 0;
    if (errno == ESRCH && !p->adopted && kill(p->pid, sig) == 0)
        return 0;
    return errno == ESRCH ? 0 : -ALLOT_EIO;
}

/* signal_group, and sig to those of p's processes that left its group: the keeper's other
 * descendants, or the other members of its cgroup. RET what signal_group returns. */
static int signal_all(struct runner_proc *p, int sig)
{
    int rc = signal_group(p, sig);
    if (!pidfd_alive(p->pidfd))
        return rc;
    if (p->contain == RUNNER_CONTAIN_KEEPER)
        procwalk_signal_descendants(p->pid, sig, p->pid);
    else if (p->cgroup)
        cgroup_signal(p->cgroup, sig, p->pid);
    return rc;
}

/* Kill everything of a workload under a keeper, never the keeper alone (its orphans would go
 * to init): stop the keeper, so that it forks nothing more, wait until it is stopped, SIGKILL
 * its descendants in rounds until a walk finds none, and let the keeper go on: it reaps them
 * (nothing is left as a zombie) and ends as its workload did, by SIGKILL. A moment later
 * (keeper_kill_again) whatever is still there is killed again. RET 0 or -ALLOT_EIO. */
static int keeper_kill(struct runner_proc *p)
{
    p->kill_ms = clock_ms(CLOCK_MONOTONIC);
    if (syscall(SYS_pidfd_send_signal, p->pidfd, SIGSTOP, NULL, 0) != 0)
        return errno == ESRCH ? 0 : -ALLOT_EIO;
    for (int waited = 0; waited < RUNNER_KEEPER_STOP_WAIT_MS; waited++) {
        char state = procwalk_state(p->pid);
        if (state == 'T' || state == 't' || state == 'Z' || state == 0)
            break;
        sleep_ms(1);
    }
    int found = 1;
    for (int round = 0; round < RUNNER_KEEPER_KILL_ROUNDS && found > 0; round++)
        found = procwalk_signal_descendants(p->pid, SIGKILL, 0);
    syscall(SYS_pidfd_send_signal, p->pidfd, SIGCONT, NULL, 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = RUNNER_KEEPER_RETRY_MS * 1000};
    return event_add(p->deadline_ev, &tv) == 0 ? 0 : -ALLOT_EIO;
}

/* A keeper killed a moment ago has not ended yet: SIGKILL its descendants again, and, once a
 * walk finds none and it has had RUNNER_KEEPER_END_MS to end, SIGKILL the keeper itself (no
 * orphan is left to escape then); else look again a moment later. */
static void keeper_kill_again(struct runner_proc *p)
{
    int found = procwalk_signal_descendants(p->pid, SIGKILL, 0);
    if (found == 0 && clock_ms(CLOCK_MONOTONIC) - p->kill_ms >= RUNNER_KEEPER_END_MS) {
        signal_group(p, SIGKILL);
        return;
    }
    struct timeval tv = {.tv_sec = 0, .tv_usec = RUNNER_KEEPER_RETRY_MS * 1000};
    event_add(p->deadline_ev, &tv);
}

/* SIGKILL all of p: the keeper's way, or its group and its cgroup. */
static int kill_all(struct runner_proc *p)
{
    p->killed = true;
    if (p->contain == RUNNER_CONTAIN_KEEPER)
        return keeper_kill(p);
    int rc = signal_group(p, SIGKILL);
    if (p->cgroup)
        cgroup_kill(p->cgroup);
    return rc;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct runner_proc *p = arg;
    if (p->killed && p->contain == RUNNER_CONTAIN_KEEPER)
        keeper_kill_again(p);
    else
        kill_all(p);
}

/* Write deadline_ms to workdir/preempt_deadline atomically (temporary file, then rename),
 * never through a link the workload may have planted. Best effort: the signals are what
 * enforce the deadline. */
static void write_deadline(struct runner_proc *p, int64_t deadline_ms)
{
    static const char tmp[] = RUNNER_DEADLINE_FILE ".tmp";
    int dir_fd = openat(p->r->base_fd, p->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return;
    int fd = -1;
    if (unlinkat(dir_fd, tmp, 0) != 0 && errno != ENOENT)
        goto out;
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", deadline_ms);
    struct stat dir_sb;
    if (write(fd, text, (size_t)n) != n || fstat(dir_fd, &dir_sb) != 0)
        goto out;
    if (geteuid() == 0 && fchown(fd, dir_sb.st_uid, dir_sb.st_gid) != 0)
        goto out;
    renameat(dir_fd, tmp, dir_fd, RUNNER_DEADLINE_FILE);
out:
    close_fd(&fd);
    close(dir_fd);
}

int runner_stop(struct runner *r, struct runner_proc *p, int64_t grace_ms, const char *reason)
{
    if (!r || !p)
        return -ALLOT_EINVAL;
    if (p->killed || p->ended)
        return 0;
    if (grace_ms < 0)
        grace_ms = 0;
    int64_t deadline = clock_ms(CLOCK_REALTIME) + grace_ms;
    bool first = !p->stopping;
    if (first) {
        p->stopping = true;
        snprintf(p->stop_reason, sizeof(p->stop_reason), "%s",
                 reason && *reason ? reason : "stopped");
    } else if (deadline >= p->deadline_ms) {
        return 0;
    }
    p->deadline_ms = deadline;
    /* The file first, so that a program reading it on SIGTERM finds it. */
    write_deadline(p, deadline);
    if (grace_ms == 0) {
        event_del(p->deadline_ev);
        return kill_all(p);
    }
    struct timeval tv = {.tv_sec = grace_ms / 1000, .tv_usec = (grace_ms % 1000) * 1000};
    if (event_add(p->deadline_ev, &tv) != 0)
        return -ALLOT_EIO;
    if (!first)
        return 0;
    int rc = signal_all(p, SIGTERM);
    /* A stopped process (SIGSTOP, a debugger) must run to see SIGTERM. */
    signal_all(p, SIGCONT);
    return rc;
}

/* ---- start ---- */

/* Whether s is "KEY=value" with KEY an environment name ([A-Za-z_][A-Za-z0-9_]*). */
static bool env_entry_valid(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s != '='; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* Check spec against the bounds and rules of runner_start. OUT *switch_user. */
static int check_spec(const struct runner *r, const struct runner_spec *spec, bool *switch_user,
                      char *err, size_t len)
{
    size_t bytes = 0;
    if (!spec || !spec->on_exit) {
        snprintf(err, len, "a workload needs an on_exit callback");
        return -ALLOT_EINVAL;
    }
    if (!spec->id || !name_is_valid(spec->id, strlen(spec->id), RUNNER_ID_MAX)) {
        snprintf(err, len, "workload id \"%.64s\" is not a name ([a-z0-9][a-z0-9._-]*, at most %d)",
                 spec->id ? spec->id : "", RUNNER_ID_MAX);
        return -ALLOT_EINVAL;
    }
    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0]) {
        snprintf(err, len, "workload %s: argv is empty", spec->id);
        return -ALLOT_EINVAL;
    }
    size_t n = 0;
    for (; spec->argv[n]; n++) {
        if (n >= RUNNER_ARGV_MAX) {
            snprintf(err, len, "workload %s: more than %d arguments", spec->id, RUNNER_ARGV_MAX);
            return -ALLOT_EINVAL;
        }
        bytes += strlen(spec->argv[n]) + 1;
    }
    for (n = 0; spec->env && spec->env[n]; n++) {
        if (n >= RUNNER_ENV_MAX) {
            snprintf(err, len, "workload %s: more than %d environment entries", spec->id,
                     RUNNER_ENV_MAX);
            return -ALLOT_EINVAL;
        }
        if (!env_entry_valid(spec->env[n])) {
            snprintf(err, len, "workload %s: env[%zu] \"%.40s\" is not KEY=value", spec->id, n,
                     spec->env[n]);
            return -ALLOT_EINVAL;
        }
        bytes += strlen(spec->env[n]) + 1;
    }
    if (bytes > RUNNER_ARG_BYTES_MAX) {
        snprintf(err, len, "workload %s: argv and env hold %zu bytes, more than %d", spec->id,
                 bytes, RUNNER_ARG_BYTES_MAX);
        return -ALLOT_EINVAL;
    }
    if (spec->uid != 0 && spec->gid == 0) {
        snprintf(err, len, "workload %s: uid %u needs a gid too (it must not keep group 0)",
                 spec->id, (unsigned)spec->uid);
        return -ALLOT_EINVAL;
    }
    bool other_uid = spec->uid != 0 && spec->uid != geteuid();
    bool other_gid = spec->gid != 0 && spec->gid != getegid();
    if ((other_uid || other_gid) && geteuid() != 0) {
        snprintf(err, len, "workload %s: switching to uid %u gid %u needs an agent running as root",
                 spec->id, (unsigned)spec->uid, (unsigned)spec->gid);
        return -ALLOT_EINVAL;
    }
    *switch_user = other_uid || other_gid;
    if (spec->cgroup && (!*spec->cgroup || strlen(spec->cgroup) > PATH_MAX - 32)) {
        snprintf(err, len, "workload %s: cgroup path is empty or too long", spec->id);
        return -ALLOT_EINVAL;
    }
    if (spec->contain != RUNNER_CONTAIN_KEEPER &&
        (spec->contain != RUNNER_CONTAIN_CGROUP || !spec->cgroup ||
         cgroup_kind(spec->cgroup) == CGROUP_KIND_PLAIN)) {
        snprintf(err, len,
                 "workload %s: contained by a cgroup, but %s is on no cgroup filesystem: its "
                 "processes could not be killed through it",
                 spec->id, spec->cgroup ? spec->cgroup : "(none)");
        return -ALLOT_EINVAL;
    }
    if (find_proc(r, spec->id, 0)) {
        snprintf(err, len, "workload %s is already running here", spec->id);
        return -ALLOT_EEXIST;
    }
    return 0;
}

/* Whether a file or directory of the workload, as fstat saw it, is one the runner may use:
 * owned by the agent or by the workload's user. */
static bool owner_ok(const struct stat *sb, bool switch_user, uid_t uid)
{
    return sb->st_uid == geteuid() || (switch_user && sb->st_uid == uid);
}

/* Create (or reuse) the directory name under parent_fd (whose path is parent, for errors) as
 * a 0700 directory owned by the workload's user and open it. A symbolic link or a directory
 * of another user is refused. OUT *fd_out (>= 3, close-on-exec). */
static int open_own_dir(int parent_fd, const char *parent, const char *name,
                        const struct runner_spec *spec, bool switch_user, int *fd_out, char *err,
                        size_t len)
{
    struct stat sb;
    if (mkdirat(parent_fd, name, 0700) != 0 && errno != EEXIST) {
        snprintf(err, len, "create workload directory %s/%s: %s", parent, name, strerror(errno));
        return -ALLOT_EIO;
    }
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (fd = fd_high(fd)) < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, len, "open workload directory %s/%s: %s", parent, name, strerror(errno));
        close_fd(&fd);
        return -ALLOT_EIO;
    }
    if (!owner_ok(&sb, switch_user, spec->uid) ||
        (switch_user && fchown(fd, spec->uid, spec->gid) != 0) || fchmod(fd, 0700) != 0) {
        snprintf(err, len,
                 "workload directory %s/%s belongs to uid %u or cannot be given to "
                 "the workload",
                 parent, name, (unsigned)sb.st_uid);
        close(fd);
        return -ALLOT_EIO;
    }
    *fd_out = fd;
    return 0;
}

/* workdir (base_dir/id) and its RUNNER_TMP_DIR, both 0700 and the workload's (open_own_dir).
 * OUT *fd_out: workdir. */
static int open_workdir(struct runner *r, const char *workdir, const struct runner_spec *spec,
                        bool switch_user, int *fd_out, char *err, size_t len)
{
    int fd = -1, tmp_fd = -1;
    int rc = open_own_dir(r->base_fd, r->base_dir, spec->id, spec, switch_user, &fd, err, len);
    if (rc == 0)
        rc = open_own_dir(fd, workdir, RUNNER_TMP_DIR, spec, switch_user, &tmp_fd, err, len);
    close_fd(&tmp_fd);
    if (rc != 0) {
        close_fd(&fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Open (append, create 0600) a log file in the workload's directory. Non-blocking open and
 * the checks after it refuse what a workload may have planted there: a FIFO, a link, a
 * file with several names, a file of another user. OUT *fd_out (>= 3, close-on-exec). */
static int open_log(int dir_fd, const char *name, const struct runner_spec *spec, bool switch_user,
                    int *fd_out, char *err, size_t len)
{
    struct stat sb;
    int fd = openat(dir_fd, name,
                    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0 || (fd = fd_high(fd)) < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, len, "open %s of workload %s: %s", name, spec->id, strerror(errno));
        close_fd(&fd);
        return -ALLOT_EIO;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || !owner_ok(&sb, switch_user, spec->uid) ||
        (switch_user && fchown(fd, spec->uid, spec->gid) != 0) ||
        fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0) {
        snprintf(err, len, "%s of workload %s is not a plain file of its own", name, spec->id);
        close(fd);
        return -ALLOT_EIO;
    }
    *fd_out = fd;
    return 0;
}

/* Index of the entry of env[0..n) with the same KEY as entry, or n. */
static size_t env_find(char **env, size_t n, const char *entry)
{
    size_t key = (size_t)(strchr(entry, '=') - entry);
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], entry, key + 1) == 0)
            return i;
    return n;
}

/* Put entry in env (replacing the entry with its KEY). */
static void env_put(char **env, size_t *n, char *entry)
{
    size_t i = env_find(env, *n, entry);
    env[i] = entry;
    if (i == *n)
        (*n)++;
}

/* The variables the runner makes for a workload: its directory as HOME, its own temporary
 * directory as TMPDIR (and TMP and TEMP, which some programs read instead), and the deadline
 * file. The first RUNNER_N_DEFAULTS are defaults that spec->env may replace; the others come
 * after spec->env, which cannot override them. */
static const struct {
    const char *name; /* "NAME=" */
    const char *leaf; /* appended to the workload's directory */
} runner_own_env[] = {
    {"HOME=", ""},
    {"TMPDIR=", "/" RUNNER_TMP_DIR},
    {"TMP=", "/" RUNNER_TMP_DIR},
    {"TEMP=", "/" RUNNER_TMP_DIR},
    {"ALLOT_PREEMPT_DEADLINE_FILE=", "/" RUNNER_DEADLINE_FILE},
};
#define RUNNER_N_OWN_ENV (sizeof(runner_own_env) / sizeof(runner_own_env[0]))
#define RUNNER_N_DEFAULTS 4

/* The workload's environment: PATH, LANG and the runner's defaults, then spec->env, then the
 * runner's own ALLOT_ variables. OUT *envp (NULL-terminated; free the array and the
 * RUNNER_N_OWN_ENV strings of owned, made here). */
static int build_env(const struct runner *r, const struct runner_proc *p,
                     const struct runner_spec *spec, char ***envp, char **owned)
{
    size_t n = 0, cap = 3 + RUNNER_N_OWN_ENV;
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        cap++;
    char **env = calloc(cap, sizeof(*env));
    bool made = env != NULL;
    for (size_t i = 0; i < RUNNER_N_OWN_ENV; i++)
        made = (owned[i] = concat3(runner_own_env[i].name, p->workdir, runner_own_env[i].leaf)) &&
               made;
    if (!made) {
        free(env);
        for (size_t i = 0; i < RUNNER_N_OWN_ENV; i++) {
            free(owned[i]);
            owned[i] = NULL;
        }
        return -ALLOT_ENOMEM;
    }
    env_put(env, &n, r->path_env);
    env_put(env, &n, r->lang_env);
    for (size_t i = 0; i < RUNNER_N_DEFAULTS; i++)
        env_put(env, &n, owned[i]);
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        env_put(env, &n, (char *)spec->env[i]);
    for (size_t i = RUNNER_N_DEFAULTS; i < RUNNER_N_OWN_ENV; i++)
        env_put(env, &n, owned[i]);
    env[n] = NULL;
    *envp = env;
    return 0;
}

/* A new, unlinked process record. */
static struct runner_proc *proc_new(struct runner *r, const char *id, const char *cgroup,
                                    enum runner_contain contain, runner_exit_fn on_exit, void *ctx)
{
    struct runner_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->r = r;
    p->contain = contain;
    p->pidfd = -1;
    p->fail_fd = -1;
    p->fail.stage = -1;
    p->on_exit = on_exit;
    p->ctx = ctx;
    p->started_ms = clock_ms(CLOCK_MONOTONIC);
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (!(p->workdir = concat3(r->base_dir, "/", id)))
        goto fail;
    if (cgroup && !(p->cgroup = strdup(cgroup)))
        goto fail;
    p->deadline_ev = evtimer_new(r->base, on_deadline, p);
    if (!p->deadline_ev)
        goto fail;
    return p;
fail:
    proc_free(p);
    return NULL;
}

/* Watch p->pidfd and link p into the runner. RET 0 or -ALLOT_ENOMEM. */
static int proc_watch(struct runner_proc *p)
{
    struct runner *r = p->r;
    p->exit_ev = event_new(r->base, p->pidfd, EV_READ, on_proc_exit, p);
    if (!p->exit_ev || event_add(p->exit_ev, NULL) != 0)
        return -ALLOT_ENOMEM;
    p->next = r->procs;
    if (r->procs)
        r->procs->prev = p;
    r->procs = p;
    r->count++;
    return 0;
}

/* Kill and reap a child that could not be tracked. waitpid blocks only until SIGKILL lands. */
static void abandon_child(pid_t pid)
{
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int runner_start(struct runner *r, const struct runner_spec *spec, struct runner_proc **out,
                 char *err, size_t len)
{
    int rc = 0, dir_fd = -1, out_fd = -1, err_fd = -1, null_fd = -1;
    int fail_pipe[2] = {-1, -1};
    char **envp = NULL, *owned[RUNNER_N_OWN_ENV] = {NULL};
    struct runner_proc *p = NULL;
    bool switch_user = false;
    if (out)
        *out = NULL;
    if (!r) {
        snprintf(err, len, "no runner");
        return -ALLOT_EINVAL;
    }
    rc = check_spec(r, spec, &switch_user, err, len);
    if (rc != 0)
        return rc;
    p = proc_new(r, spec->id, spec->cgroup, spec->contain, spec->on_exit, spec->ctx);
    if (!p) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    snprintf(p->argv0, sizeof(p->argv0), "%s", spec->argv[0]);
    if ((rc = open_workdir(r, p->workdir, spec, switch_user, &dir_fd, err, len)) != 0 ||
        (rc = open_log(dir_fd, RUNNER_STDOUT_LOG, spec, switch_user, &out_fd, err, len)) != 0 ||
        (rc = open_log(dir_fd, RUNNER_STDERR_LOG, spec, switch_user, &err_fd, err, len)) != 0)
        goto out;
    /* A deadline left by an earlier run must not tell this one to hurry. */
    unlinkat(dir_fd, RUNNER_DEADLINE_FILE, 0);
    if (build_env(r, p, spec, &envp, owned) != 0) {
        snprintf(err, len, "out of memory");
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    null_fd = fd_high(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null_fd < 0 || pipe2(fail_pipe, O_CLOEXEC) != 0 ||
        (fail_pipe[0] = fd_high(fail_pipe[0])) < 0 || (fail_pipe[1] = fd_high(fail_pipe[1])) < 0 ||
        fcntl(fail_pipe[0], F_SETFL, O_NONBLOCK) != 0) {
        snprintf(err, len, "workload %s: /dev/null or pipe: %s", spec->id, strerror(errno));
        rc = -ALLOT_EIO;
        goto out;
    }
    struct runner_plan plan = {
        .argv = (char *const *)spec->argv,
        .envp = envp,
        .dir_fd = dir_fd,
        .out_fd = out_fd,
        .err_fd = err_fd,
        .null_fd = null_fd,
        .fail_fd = fail_pipe[1],
        .cgroup = spec->cgroup,
        .rlimits = spec->rlimits,
        .switch_user = switch_user,
        .uid = spec->uid,
        .gid = spec->gid,
        .keeper = spec->contain == RUNNER_CONTAIN_KEEPER,
    };
    /* Block every signal across fork: the child must not run an agent handler before it has
     * reset them (child_run unblocks just before exec). */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_run(&plan);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        snprintf(err, len, "workload %s: fork: %s", spec->id, strerror(fork_errno));
        rc = -ALLOT_EUNAVAILABLE;
        goto out;
    }
    close_fd(&fail_pipe[1]);
    p->pid = pid;
    p->fail_fd = fail_pipe[0];
    fail_pipe[0] = -1;
    /* Race-free: the child cannot be reaped (so its pid not reused) before we wait for it. */
    p->pidfd = fd_high(pidfd_open(pid));
    if (p->pidfd < 0) {
        snprintf(err, len, "workload %s: pidfd_open: %s (Linux 5.3 or later is required)", spec->id,
                 strerror(errno));
        abandon_child(pid);
        rc = -ALLOT_EIO;
        goto out;
    }
    p->start_ticks = read_start_ticks(pid);
    if (proc_watch(p) != 0) {
        snprintf(err, len, "workload %s: cannot watch its pidfd", spec->id);
        abandon_child(pid);
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    if (out)
        *out = p;
    p = NULL;
out:
    close_fd(&dir_fd);
    close_fd(&out_fd);
    close_fd(&err_fd);
    close_fd(&null_fd);
    close_fd(&fail_pipe[0]);
    close_fd(&fail_pipe[1]);
    free(envp);
    for (size_t i = 0; i < RUNNER_N_OWN_ENV; i++)
        free(owned[i]);
    if (p) {
        proc_unlink(p);
        proc_free(p);
    }
    return rc;
}

/* ---- adopt ---- */

int runner_adopt(struct runner *r, const struct runner_adoption *a, struct runner_proc **out,
                 char *err, size_t len)
{
    int rc = 0;
    struct runner_proc *p = NULL;
    if (out)
        *out = NULL;
    if (!r || !a || !a->on_exit || a->pid <= 0 || !a->id ||
        !name_is_valid(a->id, strlen(a->id), RUNNER_ID_MAX)) {
        snprintf(err, len, "adoption needs a valid id, a pid > 0 and an on_exit callback");
        return -ALLOT_EINVAL;
    }
    if (find_proc(r, a->id, a->pid)) {
        snprintf(err, len, "workload %s or process %ld is already tracked", a->id, (long)a->pid);
        return -ALLOT_EEXIST;
    }
    p = proc_new(r, a->id, a->cgroup, a->contain, a->on_exit, a->ctx);
    if (!p) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    p->adopted = true;
    p->pid = a->pid;
    /* The pidfd first: every check after it is about the process it pins. */
    p->pidfd = fd_high(pidfd_open(a->pid));
    if (p->pidfd < 0) {
        rc = errno == ESRCH ? -ALLOT_ENOENT : -ALLOT_EIO;
        snprintf(err, len, "process %ld of workload %s: %s", (long)a->pid, a->id,
                 errno == ESRCH ? "gone" : strerror(errno));
        goto out;
    }
    p->start_ticks = read_start_ticks(a->pid);
    if (a->start_ticks != 0 && p->start_ticks != a->start_ticks) {
        snprintf(err, len,
                 "process %ld of workload %s: gone (the pid now names a process started at "
                 "tick %" PRIu64 ", not %" PRIu64 ")",
                 (long)a->pid, a->id, p->start_ticks, a->start_ticks);
        rc = -ALLOT_ENOENT;
        goto out;
    }
    pid_t pgid = getpgid(a->pid);
    if (pgid < 0 || !pidfd_alive(p->pidfd)) {
        snprintf(err, len, "process %ld of workload %s: gone", (long)a->pid, a->id);
        rc = -ALLOT_ENOENT;
        goto out;
    }
    if (pgid != a->pid) {
        snprintf(err, len,
                 "process %ld of workload %s does not lead its own process group: not started "
                 "by the runner",
                 (long)a->pid, a->id);
        rc = -ALLOT_ESTATE;
        goto out;
    }
    if (proc_watch(p) != 0) {
        snprintf(err, len, "workload %s: cannot watch its pidfd", a->id);
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    if (out)
        *out = p;
    p = NULL;
out:
    if (p) {
        proc_unlink(p);
        proc_free(p);
    }
    return rc;
}

/* ---- storage ---- */

/* nftw passes no context: the walk's state, one walk at a time per thread. */
static _Thread_local struct {
    uint64_t bytes;
    size_t entries;
    bool bounded;
} usage_walk;

static int usage_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    if (++usage_walk.entries > RUNNER_USAGE_MAX_ENTRIES) {
        usage_walk.bounded = true;
        return FTW_STOP;
    }
    if (type == FTW_F && S_ISREG(sb->st_mode))
        usage_walk.bytes += (uint64_t)sb->st_size;
    else if (type == FTW_DNR || type == FTW_NS)
        usage_walk.bounded = true; /* unseen: the sum is a lower bound */
    if (type == FTW_D && ftw->level >= RUNNER_USAGE_MAX_DEPTH) {
        usage_walk.bounded = true;
        return FTW_SKIP_SUBTREE;
    }
    return FTW_CONTINUE;
}

int runner_usage_bytes(const char *workdir, uint64_t *bytes)
{
    struct stat sb;
    *bytes = 0;
    if (!workdir || !*workdir)
        return -ALLOT_EINVAL;
    if (lstat(workdir, &sb) != 0)
        return errno == ENOENT ? -ALLOT_ENOENT : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return -ALLOT_EINVAL;
    memset(&usage_walk, 0, sizeof(usage_walk));
    int rc = nftw(workdir, usage_visit, 16, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    *bytes = usage_walk.bytes;
    if (rc == -1 && errno == ENOENT)
        /* A directory vanished under the walk (the workload deletes as we count): what was
         * counted is a lower bound, unless the whole directory is gone. */
        return lstat(workdir, &sb) != 0 ? -ALLOT_ENOENT : -ALLOT_ERANGE;
    if (rc == -1)
        return -ALLOT_EIO;
    return usage_walk.bounded ? -ALLOT_ERANGE : 0;
}

/* nftw callback of runner_workdir_remove: everything, deepest first, links not followed. */
static int remove_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int runner_workdir_remove(struct runner *r, const char *id)
{
    char path[PATH_MAX];
    struct stat sb;
    if (!id || !name_is_valid(id, strlen(id), RUNNER_ID_MAX) || find_proc(r, id, 0))
        return -ALLOT_EINVAL;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", r->base_dir, id) >= sizeof(path))
        return -ALLOT_EINVAL;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? -ALLOT_ENOENT : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return -ALLOT_EINVAL;
    return runner_tree_remove(path);
}

int runner_tree_remove(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : -ALLOT_EIO;
    return nftw(path, remove_visit, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 ? 0 : -ALLOT_EIO;
}
