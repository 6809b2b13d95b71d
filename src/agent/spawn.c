/* The child of the runner's start (spawn_start: clone, or fork for a keeper): the
 * workload's setup and exec, or the keeper that contains it. Async-signal-safe until exec. */
#define _GNU_SOURCE /* close_range, _Fork, clone, strchrnul, __WALL */

#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(SPAWN_ASAN)
#include <sanitizer/asan_interface.h>
#define SPAWN_STACK_UNPOISON(stack, size) ASAN_UNPOISON_MEMORY_REGION(stack, size)
#else
#define SPAWN_STACK_UNPOISON(stack, size) ((void)(stack), (void)(size))
#endif

#include "agent/cgroup.h"
#include "agent/procwalk.h"

/* The longest a keeper sleeps between two rounds of killing its descendants. */
#define SPAWN_KEEPER_ROUND_MAX_MS 50

static const char *const spawn_stage_names[SPAWN_STAGE_COUNT] = {
    [SPAWN_STAGE_KEEPER] = "start keeper", [SPAWN_STAGE_SETSID] = "setsid",
    [SPAWN_STAGE_CGROUP] = "enter cgroup", [SPAWN_STAGE_DEVICES] = "enter devices cgroup",
    [SPAWN_STAGE_RLIMIT] = "setrlimit",    [SPAWN_STAGE_STDIO] = "redirect stdio",
    [SPAWN_STAGE_CHDIR] = "chdir",         [SPAWN_STAGE_SETGROUPS] = "setgroups",
    [SPAWN_STAGE_SETGID] = "setgid",       [SPAWN_STAGE_SETUID] = "setuid",
    [SPAWN_STAGE_EXEC] = "exec",
};

/* The setrlimit fallback: which field of struct runner_rlimits sets which resource. */
static const struct {
    int resource;
    size_t field;
} spawn_rlimit_rows[] = {
    {RLIMIT_AS, offsetof(struct runner_rlimits, as_bytes)},
    {RLIMIT_NPROC, offsetof(struct runner_rlimits, nproc)},
    {RLIMIT_CPU, offsetof(struct runner_rlimits, cpu_seconds)},
};
#define SPAWN_N_RLIMITS (sizeof(spawn_rlimit_rows) / sizeof(spawn_rlimit_rows[0]))

/* Signals a keeper ignores itself: those meant for its workload's group (a stop, a terminal's
 * interrupt or hangup) must not end the keeper before the workload. */
static const int keeper_ignored[] = {SIGTERM, SIGINT, SIGHUP};
#define SPAWN_N_KEEPER_IGNORED (sizeof(keeper_ignored) / sizeof(keeper_ignored[0]))

const char *spawn_stage_name(int stage)
{
    return spawn_stage_names[stage >= 0 && stage < SPAWN_STAGE_COUNT ? stage : SPAWN_STAGE_EXEC];
}

int spawn_fd_high(int fd)
{
    if (fd < 0 || fd >= 3)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

/* Report a failed setup step to the parent and end with the shell's codes: 127 when the
 * program was not found, 126 for anything else. */
static _Noreturn void child_fail(int fail_fd, enum spawn_stage stage, int err)
{
    struct spawn_failure f = {.stage = (int)stage, .err = err ? err : EIO};
    ssize_t w = write(fail_fd, &f, sizeof(f));
    (void)w;
    _exit(stage == SPAWN_STAGE_EXEC && (err == ENOENT || err == ENOTDIR) ? 127 : 126);
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

/* execve file with p's argv and environment; a script without "#!" (ENOEXEC) is run by
 * /bin/sh, as execvp does. RET the errno of the failure. */
static int exec_one(const char *file, const struct spawn_plan *p)
{
    execve(file, p->argv, p->envp);
    if (errno != ENOEXEC)
        return errno;
    char *sh_argv[SPAWN_MAX_SCRIPT_ARGS + 2] = {"/bin/sh", (char *)file};
    size_t n = 1;
    while (p->argv[n] && n <= SPAWN_MAX_SCRIPT_ARGS) {
        sh_argv[n + 1] = p->argv[n];
        n++;
    }
    if (p->argv[n])
        return E2BIG;
    sh_argv[n + 1] = NULL;
    execve("/bin/sh", sh_argv, p->envp);
    return errno;
}

/* Exec p->argv[0] as execvp would, but in the PATH of the workload's environment (p->path),
 * not the agent's, and without touching the agent's environ: a name without '/' is looked
 * for in each directory of the path (an empty one is the working directory), going on past
 * those where it is missing or not executable. Never returns. */
static _Noreturn void exec_search(const struct spawn_plan *p)
{
    const char *file = p->argv[0];
    size_t flen = strlen(file);
    if (flen == 0)
        child_fail(p->fail_fd, SPAWN_STAGE_EXEC, ENOENT);
    if (strchr(file, '/'))
        child_fail(p->fail_fd, SPAWN_STAGE_EXEC, exec_one(file, p));
    char buf[PATH_MAX];
    bool denied = false;
    const char *dir = p->path && *p->path ? p->path : "/bin:/usr/bin";
    for (;;) {
        const char *end = strchrnul(dir, ':');
        size_t dlen = (size_t)(end - dir);
        if (dlen + 1 + flen < sizeof(buf)) {
            size_t at = 0;
            if (dlen) {
                memcpy(buf, dir, dlen);
                buf[dlen] = '/';
                at = dlen + 1;
            }
            memcpy(buf + at, file, flen + 1);
            int err = exec_one(buf, p);
            if (err == EACCES)
                denied = true;
            else if (err != ENOENT && err != ENOTDIR && err != ESTALE && err != ENODEV &&
                     err != ETIMEDOUT)
                child_fail(p->fail_fd, SPAWN_STAGE_EXEC, err);
        }
        if (!*end)
            break;
        dir = end + 1;
    }
    child_fail(p->fail_fd, SPAWN_STAGE_EXEC, denied ? EACCES : ENOENT);
}

/* The workload, between fork and exec: default signals, a new session (unless it stays in
 * its keeper's group), cgroup, limits, stdio, directory, user, umask, then exec. Signals stay
 * blocked (as the parent blocked them around fork) until the default dispositions are in
 * place, so an early SIGTERM can never run an agent handler: it ends the child before exec. */
static _Noreturn void workload_run(const struct spawn_plan *p)
{
    default_signals();
    if (!p->keeper && setsid() < 0)
        child_fail(p->fail_fd, SPAWN_STAGE_SETSID, errno);
    if (p->cgroup) {
        errno = 0;
        if (cgroup_attach(p->cgroup, getpid()) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_CGROUP, errno);
    }
    /* The devices it may open (docs/agent.md, "Devices"), before anything runs as its user. */
    if (p->devices_cgroup) {
        errno = 0;
        if (cgroup_attach(p->devices_cgroup, getpid()) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_DEVICES, errno);
    }
    for (size_t i = 0; i < SPAWN_N_RLIMITS; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&p->rlimits + spawn_rlimit_rows[i].field, sizeof(v));
        if (v == 0)
            continue;
        struct rlimit rl = {.rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v};
        if (setrlimit(spawn_rlimit_rows[i].resource, &rl) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_RLIMIT, errno);
    }
    if (dup2(p->null_fd, 0) < 0 || dup2(p->out_fd, 1) < 0 || dup2(p->err_fd, 2) < 0)
        child_fail(p->fail_fd, SPAWN_STAGE_STDIO, errno);
    if (fchdir(p->dir_fd) != 0)
        child_fail(p->fail_fd, SPAWN_STAGE_CHDIR, errno);
    /* The system calls themselves, for this process alone: with the agent's memory shared
     * here, the C library's wrappers would walk the agent's list of threads under its lock
     * (which another thread of the agent may hold: the start would never end). */
    if (p->switch_user) {
        if (syscall(SYS_setgroups, 0, NULL) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_SETGROUPS, errno);
        if (p->gid != 0 && syscall(SYS_setgid, p->gid) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_SETGID, errno);
        if (p->uid != 0 && syscall(SYS_setuid, p->uid) != 0)
            child_fail(p->fail_fd, SPAWN_STAGE_SETUID, errno);
    }
    umask(RUNNER_UMASK);
#ifdef CLOSE_RANGE_CLOEXEC
    /* Whatever the agent left inheritable must not reach the workload. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    exec_search(p);
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
        wait_ms = wait_ms * 2 > SPAWN_KEEPER_ROUND_MAX_MS ? SPAWN_KEEPER_ROUND_MAX_MS : wait_ms * 2;
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
static _Noreturn void keeper_run(const struct spawn_plan *p)
{
    default_signals();
    if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        child_fail(p->fail_fd, SPAWN_STAGE_KEEPER, errno);
    prctl(PR_SET_NAME, "allot-keeper", 0, 0, 0);
    pid_t main_pid = _Fork();
    if (main_pid < 0)
        child_fail(p->fail_fd, SPAWN_STAGE_KEEPER, errno);
    if (main_pid == 0)
        workload_run(p);
    /* A stop sent before the keeper had its group reached only the keeper: pass it on. Sent
     * later, it reaches the workload through the group. Then the keeper ignores them. */
    sigset_t pending;
    sigpending(&pending);
    for (size_t i = 0; i < SPAWN_N_KEEPER_IGNORED; i++)
        if (sigismember(&pending, keeper_ignored[i]) == 1)
            kill(main_pid, keeper_ignored[i]);
    for (size_t i = 0; i < SPAWN_N_KEEPER_IGNORED; i++)
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

_Noreturn void spawn_child(const struct spawn_plan *p)
{
    if (p->keeper)
        keeper_run(p);
    workload_run(p);
}

/* clone's entry: arg is the plan. */
static int spawn_entry(void *arg)
{
    spawn_child(arg);
}

pid_t spawn_start(const struct spawn_plan *plan, void *stack, size_t stack_size)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid;
    if (plan->keeper) {
        pid = fork();
        if (pid == 0)
            spawn_child(plan);
    } else {
        /* An AddressSanitizer build: the frames of an earlier child left their redzones marked
         * on this stack, which would read as overflows now. */
        SPAWN_STACK_UNPOISON(stack, stack_size);
        /* the stack grows down on every architecture Allot builds for */
        pid = clone(spawn_entry, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    (void *)plan);
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}
