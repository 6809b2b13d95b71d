/* The checks of a workload's runner_spec against the bounds and rules of runner_start
 * (runner.h), made before anything is created. */
#ifndef ALLOT_AGENT_RUNSPEC_H
#define ALLOT_AGENT_RUNSPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/runner.h"

/* Check spec: an on_exit, an id that is a name, a non-empty argv and env within
 * RUNNER_ARGV_MAX, RUNNER_ENV_MAX and RUNNER_ARG_BYTES_MAX, env entries "KEY=value", a gid
 * with a uid, root to switch users, a cgroup path that fits, and a cgroup on a cgroup
 * filesystem when it contains the workload. Whether the id is already tracked is the
 * runner's to check. OUT *switch_user: the workload runs as another user than the agent.
 * RET 0 or -ALLOT_EINVAL with a sentence in err. */
int runspec_check(const struct runner_spec *spec, bool *switch_user, char *err, size_t len);

#endif
