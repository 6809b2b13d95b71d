/* Workload processes of the node agent: fork/exec in a per-workload directory, under a keeper
 * process or in a cgroup so that nothing of a workload outlives it, tracked with pidfds on
 * the agent's one libevent loop, stopped with SIGTERM and then SIGKILL at a deadline, and
 * re-adopted after an agent restart. The process model, containment, environment, signals,
 * logs and storage are described in docs/agent-running.md. */
#ifndef ALLOT_AGENT_RUNNER_H
#define ALLOT_AGENT_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

/* The clean environment every workload starts from (docs/agent-running.md). */
#define RUNNER_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define RUNNER_DEFAULT_LANG "C.UTF-8"

/* Files in a workload's directory. */
#define RUNNER_STDOUT_LOG "stdout.log"
#define RUNNER_STDERR_LOG "stderr.log"
#define RUNNER_DEADLINE_FILE "preempt_deadline"
/* The file a workload touches when it has saved its work (ALLOT_CHECKPOINT_FILE): the agent
 * reports its modification time (docs/policy.md, "Lost work"). */
#define RUNNER_CHECKPOINT_FILE "checkpoint"
/* The workload's own temporary directory (TMPDIR, TMP, TEMP), inside its directory so that
 * the storage check counts what it holds. */
#define RUNNER_TMP_DIR "tmp"
/* The file mode creation mask of workloads: their group is their workspace's. */
#define RUNNER_UMASK 007

/* Input bounds, checked by runner_start before anything is created. */
#define RUNNER_ID_MAX 127                  /* bytes; ids follow common/name.h */
#define RUNNER_ARGV_MAX 4096               /* arguments */
#define RUNNER_ENV_MAX 1024                /* caller's environment entries */
#define RUNNER_ARG_BYTES_MAX (1024 * 1024) /* argv and env text together */
#define RUNNER_REASON_MAX 256              /* bytes of a stop reason or exit reason */

/* How the runner makes sure that no process of a workload outlives it, whatever it does
 * (setsid, double fork, a new process group): docs/agent-running.md, "Containment". */
enum runner_contain {
    /* The default: a keeper process, a child subreaper that leads the workload's process
     * group, forks the workload, reaps what is reparented to it, and once the workload's main
     * process has ended kills every descendant left before it exits with the main process's
     * status. The runner tracks the keeper. */
    RUNNER_CONTAIN_KEEPER,
    /* spec->cgroup, a real cgroup (v1 or v2): everything in it is killed, and the end is
     * reported only once it is empty. The runner tracks the workload's main process. */
    RUNNER_CONTAIN_CGROUP,
    /* A container (spec->runtime): argv runs a container runtime in the foreground (`runc
     * run`), as the agent (root), leading a process group of its own; the runtime contains the
     * workload and switches to its user. A stop sends SIGTERM to the runtime only, which passes
     * it on to the container's init; the deadline runs the runtime's kill command (SIGKILL to
     * the runtime would leave the container running), and after the end its delete command
     * removes whatever is left. An exit code 128+N of the runtime is reported as the signal N
     * that ended the container's init. docs/agent-running.md, "Containers". */
    RUNNER_CONTAIN_RUNTIME,
};

/* How the runner stops and cleans up a container (RUNNER_CONTAIN_RUNTIME). Borrowed for the
 * call; the runner keeps copies. */
struct runner_runtime {
    const char *const *kill_argv;   /* kills every process of the container, e.g. `runc --root R
                                     * kill --all ID KILL`; run at the deadline */
    const char *const *delete_argv; /* removes the container and what is left of it, e.g. `runc
                                     * --root R delete --force ID`; run after the end */
    const char *state_path;         /* the runtime's state of the container: the delete command
                                     * runs only while it exists (`runc run` removes it itself
                                     * when it ends normally); NULL: always */
};

/* How a workload process ended. */
enum runner_end {
    RUNNER_END_EXITED,  /* on its own: an exit code, or a signal the runner did not send */
    RUNNER_END_STOPPED, /* after runner_stop's SIGTERM, before the deadline */
    RUNNER_END_KILLED,  /* still running at the deadline: SIGKILL to all of it */
    RUNNER_END_FAILED,  /* the program never ran: setup or exec failed in the child */
};

/* Lower-case name of end ("exited", "stopped", "killed", "failed"); never NULL. */
const char *runner_end_name(enum runner_end end);

/* The report of one ended process, made once nothing of it runs any more. Pointers are valid
 * during the on_exit call only. */
struct runner_exit {
    const char *id;
    pid_t pid; /* the tracked process: the keeper under RUNNER_CONTAIN_KEEPER */
    enum runner_end end;
    bool status_known;  /* false for an adopted process that is not the agent's child:
                         * its exit status went to its new parent */
    int code;           /* exit code 0..255 when it exited, else -1 (127/126 when FAILED) */
    int signal;         /* the signal that ended it, else 0 (a keeper mirrors its workload's) */
    int64_t runtime_ms; /* since runner_start or runner_adopt */
    const char *reason; /* one sentence: "exited with code 3", "preempted; killed with SIGKILL
                         * at the deadline", "exec foo: No such file or directory" */
};

/* Called once per process, from the loop, when it has ended and been reaped. The proc
 * handle is freed right after it returns. It may call runner_start, runner_stop (on other
 * processes) and runner_adopt, but not runner_free. */
typedef void (*runner_exit_fn)(void *ctx, const struct runner_exit *e);

/* Resource limits applied with setrlimit in the child when cgroups cannot be used; 0 in a
 * field leaves that limit as the agent has it. */
struct runner_rlimits {
    uint64_t as_bytes;    /* RLIMIT_AS: address space */
    uint64_t nproc;       /* RLIMIT_NPROC: processes of the real user (ignored for root) */
    uint64_t cpu_seconds; /* RLIMIT_CPU: CPU time, SIGXCPU then SIGKILL */
};

/* Settings of a runner, copied by runner_new. */
struct runner_options {
    const char *base_dir; /* workload directories are base_dir/<id>; must exist */
    const char *path;     /* PATH of workloads; NULL: RUNNER_DEFAULT_PATH */
    const char *lang;     /* LANG of workloads; NULL: RUNNER_DEFAULT_LANG */
};

/* One workload process to start. Everything is borrowed for the call only. */
struct runner_spec {
    const char *id;                /* name_is_valid, unique among tracked processes */
    const char *const *argv;       /* NULL-terminated; argv[0] looked up in the clean PATH */
    const char *const *env;        /* NULL-terminated "KEY=value" (or NULL), added to the clean
                                    * environment; a later entry replaces an earlier one */
    uid_t uid;                     /* run as this user when the agent is root; 0: don't switch */
    gid_t gid;                     /* ... and group; 0: don't switch */
    struct runner_rlimits rlimits; /* the setrlimit fallback; all 0 when cgroups limit all */
    const char *cgroup;            /* a cgroup from cgroup_create to enter before exec, or NULL */
    enum runner_contain contain;   /* RUNNER_CONTAIN_CGROUP needs cgroup on a real cgroupfs */
    const struct runner_runtime *runtime; /* RUNNER_CONTAIN_RUNTIME only (and required there):
                                           * uid and gid then own the directory and logs, and
                                           * the runtime runs as the agent; no cgroup, no
                                           * rlimits */
    runner_exit_fn on_exit;               /* required */
    void *ctx;
    /* a v1 devices cgroup (cgroup_devices_create) the workload enters too, after cgroup; NULL:
     * none. Not the runner's to kill or remove: the caller removes it once the process ends. */
    const char *devices_cgroup;
};

/* A process started earlier (by this agent before a restart) to track again. */
struct runner_adoption {
    const char *id;
    pid_t pid;
    uint64_t start_ticks;        /* runner_proc_start_ticks when it was started; 0: don't check */
    const char *cgroup;          /* its cgroup, or NULL */
    enum runner_contain contain; /* as it was started */
    const struct runner_runtime *runtime; /* as it was started (RUNNER_CONTAIN_RUNTIME) */
    runner_exit_fn on_exit;
    void *ctx;
};

struct runner;
struct runner_proc;

/* Make a runner on base, which must outlive it. OUT *out (runner_free). RET 0; -ALLOT_EINVAL
 * (no base_dir), -ALLOT_EIO (base_dir cannot be opened as a directory), -ALLOT_ENOMEM. */
int runner_new(struct event_base *base, const struct runner_options *opt, struct runner **out);

/* Stop tracking every process and free the runner. The processes (and their keepers) keep
 * running, so that a restarted agent can adopt them, and are not reaped. Accepts NULL. */
void runner_free(struct runner *r);

/* Start a workload process and watch it; never blocks on the child. Under a keeper (the
 * default) the keeper leads a new session and process group and the workload is in that
 * group; in a cgroup the workload leads its own. The workload gets stdin from /dev/null,
 * stdout and stderr appended to base_dir/id/stdout.log and stderr.log, the directory (created
 * 0700, owned by uid:gid when switching) as working directory and HOME, base_dir/id/tmp
 * (0700, the same owner) as TMPDIR, the clean environment plus spec->env, the cgroup and
 * rlimits, then the user switch, umask RUNNER_UMASK, then exec (argv[0] looked up in the
 * clean PATH). A failure after the start
 * (keeper, exec, setuid, cgroup) is reported through on_exit as RUNNER_END_FAILED, never
 * here.
 * OUT *out: the handle, valid until on_exit returns (may be NULL if not wanted).
 * RET 0; -ALLOT_EINVAL (bad id, argv, env, uid without root, no on_exit), -ALLOT_EEXIST (id
 * already tracked), -ALLOT_EIO (directory, logs), -ALLOT_EUNAVAILABLE (fork), -ALLOT_ENOMEM,
 * with a sentence in err. On error nothing runs and nothing is tracked. */
int runner_start(struct runner *r, const struct runner_spec *spec, struct runner_proc **out,
                 char *err, size_t len);

/* Ask proc to stop: write the deadline (ms since the epoch, now + grace_ms) to
 * base_dir/id/preempt_deadline, send SIGTERM (then SIGCONT, so that a stopped process sees
 * it) to its process group and to those of its processes that left the group (the keeper's
 * other descendants, or the cgroup's other members), and at the deadline SIGKILL all of it
 * (under a keeper: the keeper is stopped, its descendants killed until none is left, then the
 * keeper); grace_ms <= 0 kills at once. A second call can bring the deadline closer, never
 * push it away; the first reason is kept. reason (may be NULL: "stopped") goes into the exit
 * report.
 * RET 0; -ALLOT_EIO when the signal cannot be sent (a process already gone is not an error:
 * its exit is being reported). */
int runner_stop(struct runner *r, struct runner_proc *proc, int64_t grace_ms, const char *reason);

/* Track a process started earlier (the keeper, or the workload in a cgroup): it must be
 * alive, lead its own process group, and, when a->start_ticks is not 0, have that start time
 * (so that a reused pid is not mistaken for it). Its exit status is known only if it is still
 * this process's child.
 * OUT *out (may be NULL). RET 0; -ALLOT_ENOENT (gone, or its pid now names another
 * process: report it gone); -ALLOT_ESTATE (not a group leader: not one of ours);
 * -ALLOT_EINVAL, -ALLOT_EEXIST, -ALLOT_EIO, -ALLOT_ENOMEM; with a sentence in err. */
int runner_adopt(struct runner *r, const struct runner_adoption *a, struct runner_proc **out,
                 char *err, size_t len);

/* Accessors of a tracked process; valid until its on_exit returns. */
pid_t runner_proc_pid(const struct runner_proc *proc);
const char *runner_proc_id(const struct runner_proc *proc);
/* base_dir/id. */
const char *runner_proc_workdir(const struct runner_proc *proc);
/* Start time in clock ticks since boot (/proc/<pid>/stat), 0 if unknown; the agent keeps it
 * with the pid so that runner_adopt can tell the process from a later one with its pid. */
uint64_t runner_proc_start_ticks(const struct runner_proc *proc);
/* Run a container runtime's command (argv[0] a path, or looked up in PATH) with stdin and
 * stdout on /dev/null and stderr the agent's, and wait for it, at most 5 s (then it is
 * killed). Blocking: for the agent's start (removing a container whose runtime died while the
 * agent was down); the runner's own commands never block the loop. RET its exit status, or -1
 * when it could not run or did not end. */
int runner_run_command(const char *const *argv);

/* Number of processes tracked (those whose end is not reported yet). */
size_t runner_count(const struct runner *r);

/* Remove base_dir/id and everything in it (workdir_tree_remove), once its process is over: an id
 * the runner still tracks is refused. RET 0; -ALLOT_EINVAL (a tracked or malformed id, not a
 * directory); -ALLOT_ENOENT; -ALLOT_EIO. */
int runner_workdir_remove(struct runner *r, const char *id);

#endif
