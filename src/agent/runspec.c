/* The checks of a workload's runner_spec before runner_start creates anything: its bounds
 * (runner.h), its environment's names, its user and group, its containment. */
#include "agent/runspec.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "agent/workenv.h"
#include "common/error.h"
#include "common/name.h"

int runspec_check(const struct runner_spec *spec, bool *switch_user, char *err, size_t len)
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
        if (!workenv_entry_valid(spec->env[n])) {
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
    if (spec->contain == RUNNER_CONTAIN_RUNTIME) {
        const struct runner_runtime *rt = spec->runtime;
        if (!rt || !rt->kill_argv || !rt->kill_argv[0] || !rt->delete_argv || !rt->delete_argv[0] ||
            spec->cgroup) {
            snprintf(err, len,
                     "workload %s: a container needs the runtime's kill and delete commands, and "
                     "no cgroup of the agent's (the runtime makes its own)",
                     spec->id);
            return -ALLOT_EINVAL;
        }
        return 0;
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
    return 0;
}
