/* The child of the runner's start, between its start and exec: the workload's setup (session,
 * cgroup, limits, stdio, directory, user) and exec, or the keeper that forks the workload,
 * reaps what is left of it and ends as it did (docs/agent-running.md, "Containment"). Only
 * async-signal-safe calls: the agent may have threads, and a workload started without a
 * keeper shares the agent's memory until its exec (as after vfork), so the child writes
 * nothing but its own stack (and errno). */
#ifndef ALLOT_AGENT_SPAWN_H
#define ALLOT_AGENT_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/runner.h"

/* Steps of the child between fork and exec; a failing step is reported through the
 * failure pipe as {stage, errno} and named in the exit reason. */
enum spawn_stage {
    SPAWN_STAGE_KEEPER,
    SPAWN_STAGE_SETSID,
    SPAWN_STAGE_CGROUP,
    SPAWN_STAGE_DEVICES,
    SPAWN_STAGE_RLIMIT,
    SPAWN_STAGE_STDIO,
    SPAWN_STAGE_CHDIR,
    SPAWN_STAGE_SETGROUPS,
    SPAWN_STAGE_SETGID,
    SPAWN_STAGE_SETUID,
    SPAWN_STAGE_EXEC,
    SPAWN_STAGE_COUNT
};

/* A failed setup step, as the child writes it to the failure pipe. */
struct spawn_failure {
    int stage;
    int err;
};

/* Everything the child needs, prepared by the parent so that the child only makes
 * async-signal-safe calls between its start and exec. */
struct spawn_plan {
    char *const *argv;
    char **envp;
    const char *path; /* the PATH searched for argv[0] (without a '/'): envp's */
    int dir_fd, out_fd, err_fd, null_fd, fail_fd; /* all >= 3 */
    const char *cgroup;
    const char *devices_cgroup; /* a v1 devices cgroup to enter as well, or NULL */
    struct runner_rlimits rlimits;
    bool switch_user;
    uid_t uid;
    gid_t gid;
    bool keeper; /* fork a keeper, which forks the workload */
};

/* The name of a setup step for an exit reason ("setuid", "exec"); stage out of range: that
 * of SPAWN_STAGE_EXEC. */
const char *spawn_stage_name(int stage);

/* fd moved to a number >= 3 (close-on-exec), so that the child's dup2 onto 0..2 cannot
 * clobber it; fd itself is closed if moved. RET the fd, or -1 with errno (fd < 0: fd). */
int spawn_fd_high(int fd);

/* Longest argv a script without "#!" may have: it is run by /bin/sh, as execvp does. */
#define SPAWN_MAX_SCRIPT_ARGS 1024

/* Run the child of the runner's start: the keeper (p->keeper), which forks the workload, or
 * the workload itself; a failed step is written to p->fail_fd as a struct spawn_failure and
 * the child ends with 126 or 127. Every signal must be blocked on entry. Never returns. */
_Noreturn void spawn_child(const struct spawn_plan *p);

/* Start the child of plan: the keeper with fork (it outlives the start), the workload itself
 * in the agent's memory until its exec, on stack (stack_size bytes, the runner's), while the
 * agent waits (clone with CLONE_VM and CLONE_VFORK, as posix_spawn does): no copy of the
 * agent's page tables, no copy-on-write faults after. Every signal is blocked around it.
 * RET the child's pid, or -1 with errno. */
pid_t spawn_start(const struct spawn_plan *plan, void *stack, size_t stack_size);

#endif
