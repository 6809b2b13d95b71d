/* Workload processes (runner.h): the fork/exec path (the child's side is spawn.c, the
 * directory workdir.c, the environment workenv.c), pidfd watching on the agent's event loop,
 * the kill of what is left before an end is reported, stop with SIGTERM and a SIGKILL
 * deadline, and adoption. Process model and rules: docs/agent-running.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall, P_PIDFD, __WALL */
#endif

#include "agent/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/cgroup.h"
#include "agent/procwalk.h"
#include "agent/runspec.h"
#include "agent/spawn.h"
#include "agent/workdir.h"
#include "agent/workenv.h"
#include "common/clock.h"
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
/* A container's runtime commands (kill, delete) are waited for at most this long, and a
 * runtime that has not ended this long after its kill command gets SIGKILL itself (its delete
 * command then removes the container). */
#define RUNNER_RUNTIME_HELPER_MS 5000
#define RUNNER_RUNTIME_KILL_WAIT_MS 2000
/* The stack of a workload's child until its exec (spawn_start): the setup and a PATH search,
 * with room for a script's /bin/sh argv (SPAWN_MAX_SCRIPT_ARGS). */
#define RUNNER_STACK_SIZE (256 * 1024)

extern char **environ;

struct runner {
    struct event_base *base;
    int base_fd; /* base_dir, opened once: workload directories are opened relative to it */
    char *base_dir;
    char *path_env;            /* "PATH=..." */
    char *lang_env;            /* "LANG=..." */
    struct runner_proc *procs; /* doubly linked, newest first */
    size_t count;
    void *stack; /* the child's stack while it shares the agent's memory (spawn_start) */
};

struct runner_proc {
    struct runner *r;
    struct runner_proc *prev, *next;
    char id[RUNNER_ID_MAX + 1];
    char *workdir; /* base_dir/id */
    char *cgroup;  /* NULL when none */
    enum runner_contain contain;
    char **kill_argv, **delete_argv; /* RUNNER_CONTAIN_RUNTIME: the runtime's commands */
    char *state_path;                /* ... and its state of the container, or NULL */
    pid_t helper_pid;                /* the runtime command running for it, or 0 */
    int helper_pidfd;
    struct event *helper_ev; /* the command has ended, or its time is up */
    bool helper_killed;      /* its time was up: SIGKILL sent */
    bool delete_pending;     /* the delete command must run before the report */
    bool deleting;           /* the command running is the delete */
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
    struct spawn_failure fail;
    bool failed;
    char stop_reason[RUNNER_REASON_MAX];
    runner_exit_fn on_exit;
    void *ctx;
};

static const char *const runner_end_names[] = {
    [RUNNER_END_EXITED] = "exited",
    [RUNNER_END_STOPPED] = "stopped",
    [RUNNER_END_KILLED] = "killed",
    [RUNNER_END_FAILED] = "failed",
};

const char *runner_end_name(enum runner_end end)
{
    if ((unsigned)end >= sizeof(runner_end_names) / sizeof(runner_end_names[0]))
        return "unknown";
    return runner_end_names[end];
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

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
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
    r->base_fd = spawn_fd_high(open(opt->base_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
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
    /* its lowest page is a guard: an overflow faults rather than write the agent's memory */
    r->stack = mmap(NULL, RUNNER_STACK_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (r->stack == MAP_FAILED || mprotect(r->stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE)) {
        if (r->stack != MAP_FAILED)
            munmap(r->stack, RUNNER_STACK_SIZE);
        r->stack = NULL;
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    *out = r;
out:
    if (rc != 0)
        runner_free(r);
    return rc;
}

/* Free a NULL-terminated array of strings and the strings. Accepts NULL. */
static void argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* A copy of the NULL-terminated argv (at most RUNNER_ARGV_MAX entries), or NULL. */
static char **argv_dup(const char *const *argv)
{
    size_t n = 0;
    while (argv && argv[n] && n < RUNNER_ARGV_MAX)
        n++;
    char **copy = calloc(n + 1, sizeof(*copy));
    for (size_t i = 0; copy && i < n; i++) {
        if (!(copy[i] = strdup(argv[i]))) {
            argv_free(copy);
            return NULL;
        }
    }
    return copy;
}

/* Start argv (a runtime command) as runner_run_command does, without waiting. RET its pid, or
 * -1 (said on stderr). */
static pid_t command_spawn(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    pid_t pid;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        fprintf(stderr, "allot-agent: %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    return pid;
}

int runner_run_command(const char *const *argv)
{
    pid_t pid = command_spawn(argv);
    if (pid < 0)
        return -1;
    int pidfd = pidfd_open(pid);
    if (pidfd >= 0) {
        struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
        int64_t until = clock_mono_ms() + RUNNER_RUNTIME_HELPER_MS;
        int n;
        do
            n = poll(&pfd, 1, (int)(until - clock_mono_ms()));
        while (n < 0 && errno == EINTR && clock_mono_ms() < until);
        if (n == 0) {
            fprintf(stderr, "allot-agent: %s %s did not end within %d ms: killed\n", argv[0],
                    argv[1] ? argv[1] : "", RUNNER_RUNTIME_HELPER_MS);
            kill(pid, SIGKILL);
        }
        close(pidfd);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void helper_reap(struct runner_proc *p, bool force);

/* Free a process record (its events and fds, and a runtime command still running for it);
 * it must already be out of the list. */
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
    helper_reap(p, true);
    close_fd(&p->pidfd);
    close_fd(&p->fail_fd);
    free(p->workdir);
    free(p->cgroup);
    argv_free(p->kill_argv);
    argv_free(p->delete_argv);
    free(p->state_path);
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
    if (r->stack)
        munmap(r->stack, RUNNER_STACK_SIZE);
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
                        const struct spawn_failure *fail, char *buf, size_t len)
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
            fail->stage >= 0 && fail->stage < SPAWN_STAGE_COUNT ? fail->stage : SPAWN_STAGE_EXEC;
        const char *what = stage == SPAWN_STAGE_EXEC     ? p->argv0
                           : stage == SPAWN_STAGE_CGROUP ? (p->cgroup ? p->cgroup : "")
                                                         : NULL;
        snprintf(buf, len, "%s%s%s: %s", spawn_stage_name(stage), what ? " " : "", what ? what : "",
                 strerror(fail->err));
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
    e.runtime_ms = clock_mono_ms() - p->started_ms;
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

/* A container's runtime has ended: its exit code 128+N says that the container's init died of
 * signal N (runc and crun exit so); and when the runtime left its state of the container (it
 * was killed, or failed half-way), the delete command kills and removes what is left, so that
 * nothing of the container runs when its end is reported. */
static bool runtime_ended(struct runner_proc *p)
{
    if (p->end.status_known && !p->failed && p->end.code > 128 && p->end.code < 128 + NSIG) {
        p->end.signal = p->end.code - 128;
        p->end.code = -1;
    }
    return !p->state_path || access(p->state_path, F_OK) == 0;
}

/* ---- a container runtime's commands, run without blocking the loop ---- */

static void on_helper(evutil_socket_t fd, short what, void *arg);

/* Reap p's runtime command, if one runs, and forget it; kill it first when force (only
 * proc_free does, and then the wait is for SIGKILL to land). */
static void helper_reap(struct runner_proc *p, bool force)
{
    if (p->helper_pid <= 0)
        return;
    if (force)
        kill(p->helper_pid, SIGKILL);
    while (waitpid(p->helper_pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (p->helper_ev)
        event_free(p->helper_ev);
    p->helper_ev = NULL;
    close_fd(&p->helper_pidfd);
    p->helper_pid = 0;
}

/* Start argv (the kill or the delete command) for p, one at a time, and watch it: its end, or
 * after RUNNER_RUNTIME_HELPER_MS its SIGKILL, comes back to on_helper. RET 0, or -1 when it
 * could not run or be watched (said on stderr; nothing of it is left running). */
static int helper_start(struct runner_proc *p, char **argv, bool deleting)
{
    pid_t pid = command_spawn((const char *const *)argv);
    if (pid < 0)
        return -1;
    p->helper_pid = pid;
    p->helper_killed = false;
    p->deleting = deleting;
    p->helper_pidfd = spawn_fd_high(pidfd_open(pid));
    if (p->helper_pidfd >= 0)
        p->helper_ev = event_new(p->r->base, p->helper_pidfd, EV_READ, on_helper, p);
    struct timeval tv = {.tv_sec = RUNNER_RUNTIME_HELPER_MS / 1000,
                         .tv_usec = (RUNNER_RUNTIME_HELPER_MS % 1000) * 1000};
    if (!p->helper_ev || event_add(p->helper_ev, &tv) != 0) {
        fprintf(stderr, "allot-agent: workload %s: cannot watch %s %s\n", p->id, argv[0],
                deleting ? "delete" : "kill");
        helper_reap(p, true);
        return -1;
    }
    return 0;
}

/* The ended runtime of p left its state of the container: run the delete command (after the
 * kill command still running, if one is), and report only once it has ended. */
static void runtime_delete(struct runner_proc *p)
{
    p->delete_pending = true;
    if (p->helper_pid > 0)
        return; /* on_helper starts it */
    if (helper_start(p, p->delete_argv, true) != 0) {
        p->delete_pending = false;
        proc_drain(p);
    }
}

static void on_helper(evutil_socket_t fd, short what, void *arg)
{
    struct runner_proc *p = arg;
    if ((what & EV_TIMEOUT) && !p->helper_killed) {
        fprintf(stderr,
                "allot-agent: workload %s: its runtime's %s did not end within %d ms: "
                "killed\n",
                p->id, p->deleting ? "delete" : "kill", RUNNER_RUNTIME_HELPER_MS);
        kill(p->helper_pid, SIGKILL);
        p->helper_killed = true;
        if (event_add(p->helper_ev, NULL) == 0)
            return;
    }
    bool deleted = p->deleting;
    helper_reap(p, false);
    if (deleted) {
        p->delete_pending = false;
        proc_drain(p);
    } else if (p->delete_pending) {
        runtime_delete(p);
    }
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
    if (p->contain == RUNNER_CONTAIN_RUNTIME && runtime_ended(p)) {
        runtime_delete(p);
        return;
    }
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
    else if (p->contain == RUNNER_CONTAIN_RUNTIME)
        return rc; /* the runtime passes it on to the container's init */
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
    p->kill_ms = clock_mono_ms();
    if (syscall(SYS_pidfd_send_signal, p->pidfd, SIGSTOP, NULL, 0) != 0)
        return errno == ESRCH ? 0 : -ALLOT_EIO;
    for (int waited = 0; waited < RUNNER_KEEPER_STOP_WAIT_MS; waited++) {
        char state = procwalk_state(p->pid);
        if (state == 'T' || state == 't' || state == 'Z' || state == 0)
            break;
        struct timespec one_ms = {0, 1000000};
        nanosleep(&one_ms, NULL);
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
    if (found == 0 && clock_mono_ms() - p->kill_ms >= RUNNER_KEEPER_END_MS) {
        signal_group(p, SIGKILL);
        return;
    }
    struct timeval tv = {.tv_sec = 0, .tv_usec = RUNNER_KEEPER_RETRY_MS * 1000};
    event_add(p->deadline_ev, &tv);
}

/* SIGKILL all of p: the keeper's way, the runtime's kill command (the runtime then ends as its
 * container's init did; one that has not ended RUNNER_RUNTIME_KILL_WAIT_MS later gets
 * SIGKILL), or its group and its cgroup. */
static int kill_all(struct runner_proc *p)
{
    p->killed = true;
    if (p->contain == RUNNER_CONTAIN_KEEPER)
        return keeper_kill(p);
    if (p->contain == RUNNER_CONTAIN_RUNTIME) {
        if (pidfd_alive(p->pidfd) && p->helper_pid <= 0)
            helper_start(p, p->kill_argv, false);
        struct timeval tv = {.tv_sec = RUNNER_RUNTIME_KILL_WAIT_MS / 1000,
                             .tv_usec = (RUNNER_RUNTIME_KILL_WAIT_MS % 1000) * 1000};
        return event_add(p->deadline_ev, &tv) == 0 ? 0 : -ALLOT_EIO;
    }
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
    else if (p->killed && p->contain == RUNNER_CONTAIN_RUNTIME)
        signal_group(p, SIGKILL); /* its end runs the delete command */
    else
        kill_all(p);
}

int runner_stop(struct runner *r, struct runner_proc *p, int64_t grace_ms, const char *reason)
{
    if (!r || !p)
        return -ALLOT_EINVAL;
    if (p->killed || p->ended)
        return 0;
    if (grace_ms < 0)
        grace_ms = 0;
    int64_t deadline = clock_real_ms() + grace_ms;
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
    workdir_write_deadline(r->base_fd, p->id, deadline);
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

/* A new, unlinked process record. */
static struct runner_proc *proc_new(struct runner *r, const char *id, const char *cgroup,
                                    enum runner_contain contain,
                                    const struct runner_runtime *runtime, runner_exit_fn on_exit,
                                    void *ctx)
{
    struct runner_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->r = r;
    p->contain = contain;
    p->pidfd = -1;
    p->fail_fd = -1;
    p->helper_pidfd = -1;
    p->fail.stage = -1;
    p->on_exit = on_exit;
    p->ctx = ctx;
    p->started_ms = clock_mono_ms();
    snprintf(p->id, sizeof(p->id), "%s", id);
    if (!(p->workdir = concat3(r->base_dir, "/", id)))
        goto fail;
    if (cgroup && !(p->cgroup = strdup(cgroup)))
        goto fail;
    if (contain == RUNNER_CONTAIN_RUNTIME &&
        (!runtime || !(p->kill_argv = argv_dup(runtime->kill_argv)) ||
         !(p->delete_argv = argv_dup(runtime->delete_argv)) ||
         (runtime->state_path && !(p->state_path = strdup(runtime->state_path)))))
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

/* The descriptors of spec's child, in plan (all -1 first): its directory and logs (made the
 * workload's), /dev/null and the write end of the setup-failure pipe, whose read end goes to
 * *fail_read. A deadline file left by an earlier run is removed. RET 0, or -ALLOT_EIO with a
 * sentence in err (plan_close then). */
static int plan_open(struct runner *r, const struct runner_spec *spec, bool switch_user,
                     struct spawn_plan *plan, int *fail_read, char *err, size_t len)
{
    struct workdir_owner owner = {spec->id, switch_user, spec->uid, spec->gid};
    int rc, fail_pipe[2] = {-1, -1};
    if ((rc = workdir_open(r->base_fd, r->base_dir, &owner, &plan->dir_fd, err, len)) != 0 ||
        (rc = workdir_open_log(plan->dir_fd, RUNNER_STDOUT_LOG, &owner, &plan->out_fd, err, len)) !=
            0 ||
        (rc = workdir_open_log(plan->dir_fd, RUNNER_STDERR_LOG, &owner, &plan->err_fd, err, len)) !=
            0)
        return rc;
    /* A deadline left by an earlier run must not tell this one to hurry. */
    unlinkat(plan->dir_fd, RUNNER_DEADLINE_FILE, 0);
    plan->null_fd = spawn_fd_high(open("/dev/null", O_RDWR | O_CLOEXEC));
    bool piped = plan->null_fd >= 0 && pipe2(fail_pipe, O_CLOEXEC) == 0;
    if (piped) { /* each end held where it is closed from, also when moving it fails */
        *fail_read = fail_pipe[0];
        plan->fail_fd = fail_pipe[1];
    }
    if (!piped || (*fail_read = spawn_fd_high(*fail_read)) < 0 ||
        (plan->fail_fd = spawn_fd_high(plan->fail_fd)) < 0 ||
        fcntl(*fail_read, F_SETFL, O_NONBLOCK) != 0) {
        snprintf(err, len, "workload %s: /dev/null or pipe: %s", spec->id, strerror(errno));
        return -ALLOT_EIO;
    }
    return 0;
}

/* Close the parent's copies of plan's descriptors. */
static void plan_close(struct spawn_plan *plan)
{
    close_fd(&plan->dir_fd);
    close_fd(&plan->out_fd);
    close_fd(&plan->err_fd);
    close_fd(&plan->null_fd);
    close_fd(&plan->fail_fd);
}

/* Fork the child of plan with every signal blocked across the fork: the child must not run
 * an agent handler before it has reset them (spawn_child unblocks just before exec).
 * RET its pid, or -1 with errno. */
int runner_start(struct runner *r, const struct runner_spec *spec, struct runner_proc **out,
                 char *err, size_t len)
{
    int rc = 0, fail_read = -1;
    struct workenv env = {0};
    struct spawn_plan plan = {
        .dir_fd = -1, .out_fd = -1, .err_fd = -1, .null_fd = -1, .fail_fd = -1};
    struct runner_proc *p = NULL;
    bool switch_user = false;
    if (out)
        *out = NULL;
    if (!r) {
        snprintf(err, len, "no runner");
        return -ALLOT_EINVAL;
    }
    rc = runspec_check(spec, &switch_user, err, len);
    if (rc != 0)
        return rc;
    if (find_proc(r, spec->id, 0)) {
        snprintf(err, len, "workload %s is already running here", spec->id);
        return -ALLOT_EEXIST;
    }
    p = proc_new(r, spec->id, spec->cgroup, spec->contain, spec->runtime, spec->on_exit, spec->ctx);
    if (!p) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    snprintf(p->argv0, sizeof(p->argv0), "%s", spec->argv[0]);
    if ((rc = plan_open(r, spec, switch_user, &plan, &fail_read, err, len)) != 0)
        goto out;
    if (workenv_build(&env, r->path_env, r->lang_env, p->workdir, spec->env) != 0) {
        snprintf(err, len, "out of memory");
        rc = -ALLOT_ENOMEM;
        goto out;
    }
    plan.argv = (char *const *)spec->argv;
    plan.envp = env.envp;
    for (size_t i = 0; env.envp[i]; i++)
        if (strncmp(env.envp[i], "PATH=", 5) == 0)
            plan.path = env.envp[i] + 5;
    bool runtime = spec->contain == RUNNER_CONTAIN_RUNTIME;
    plan.cgroup = spec->cgroup;
    plan.devices_cgroup = spec->devices_cgroup;
    /* a container's runtime runs as the agent, with its limits: it makes the container's */
    plan.rlimits = runtime ? (struct runner_rlimits){0} : spec->rlimits;
    plan.switch_user = switch_user && !runtime;
    plan.uid = spec->uid;
    plan.gid = spec->gid;
    plan.keeper = spec->contain == RUNNER_CONTAIN_KEEPER;
    pid_t pid = spawn_start(&plan, r->stack, RUNNER_STACK_SIZE);
    if (pid < 0) {
        snprintf(err, len, "workload %s: fork: %s", spec->id, strerror(errno));
        rc = -ALLOT_EUNAVAILABLE;
        goto out;
    }
    close_fd(&plan.fail_fd);
    p->pid = pid;
    p->fail_fd = fail_read;
    fail_read = -1;
    /* Race-free: the child cannot be reaped (so its pid not reused) before we wait for it. */
    p->pidfd = spawn_fd_high(pidfd_open(pid));
    if (p->pidfd < 0) {
        snprintf(err, len, "workload %s: pidfd_open: %s (Linux 5.3 or later is required)", spec->id,
                 strerror(errno));
        abandon_child(pid);
        rc = -ALLOT_EIO;
        goto out;
    }
    p->start_ticks = procwalk_start_ticks(pid);
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
    plan_close(&plan);
    close_fd(&fail_read);
    workenv_cleanup(&env);
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
    if (a->contain == RUNNER_CONTAIN_RUNTIME &&
        (!a->runtime || !a->runtime->kill_argv || !a->runtime->delete_argv)) {
        snprintf(err, len, "adoption of container %s needs its runtime's commands", a->id);
        return -ALLOT_EINVAL;
    }
    if (find_proc(r, a->id, a->pid)) {
        snprintf(err, len, "workload %s or process %ld is already tracked", a->id, (long)a->pid);
        return -ALLOT_EEXIST;
    }
    p = proc_new(r, a->id, a->cgroup, a->contain, a->runtime, a->on_exit, a->ctx);
    if (!p) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    p->adopted = true;
    p->pid = a->pid;
    /* The pidfd first: every check after it is about the process it pins. */
    p->pidfd = spawn_fd_high(pidfd_open(a->pid));
    if (p->pidfd < 0) {
        rc = errno == ESRCH ? -ALLOT_ENOENT : -ALLOT_EIO;
        snprintf(err, len, "process %ld of workload %s: %s", (long)a->pid, a->id,
                 errno == ESRCH ? "gone" : strerror(errno));
        goto out;
    }
    p->start_ticks = procwalk_start_ticks(a->pid);
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
    return workdir_tree_remove(path);
}
