/* The replicas of the node agent: started from the controller's desired set under their
 * limits, as the workspace's user, stopped when no longer wanted or when drained, and their
 * ends kept until reported (docs/agent.md, docs/agent-running.md). */
#ifndef ALLOT_AGENT_TASK_H
#define ALLOT_AGENT_TASK_H

#include <stdbool.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/runner.h"

/* The task of replica rank of workload name, or NULL. */
struct task *task_find(struct agent *a, const char *name, int rank);
/* Make the node match the controller's desired set (answer): start the replicas it names
 * running and this node lacks (none while a wipe waits), stop those it drains (by their
 * stop_by) and those it no longer names. Failures to start are replicas that ended at once,
 * reported as such. */
void task_reconcile(struct agent *a, const json_t *answer);
/* The runner's on_exit of every replica (ctx: its struct task): records how it ended for the
 * next report, releases its cgroup, and asks for a push and a state file write. */
void task_on_exit(void *ctx, const struct runner_exit *e);
/* The runtime commands of the container container_id, made from the agent's --runtime and
 * --runtime-root: `runtime --root R kill --all ID KILL`, `runtime --root R delete --force ID`
 * and the state directory R/ID. rt holds them, and must outlive their use. */
struct task_runtime {
    const char *kill[8], *del[8];
    char state[AGENT_PATH_SIZE + AGENT_CONTAINER_ID_SIZE + 2];
    struct runner_runtime runtime;
};
void task_runtime_init(const struct agent *a, const char *container_id, struct task_runtime *rt);
/* Stop every running replica whose time limit has come (docs/agent-running.md, "Time
 * limits"): SIGTERM, its grace, then SIGKILL, as a stop; it is reported ended at its time
 * limit. Then arm a->time_limit_timer for the next one due. */
void task_time_limits(struct agent *a);
/* Whether name is that of a replica's directory: "w<N>", as task_reconcile names them. */
bool task_is_dir_name(const char *name);

#endif
