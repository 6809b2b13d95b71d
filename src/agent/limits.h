/* The limits allot-agent puts on each workload replica: a cgroup v2 (memory.max, cpu.max,
 * pids.max) when the cgroup root is writable, setrlimit otherwise, and the storage check of
 * its directory. The policy is in docs/agent.md ("Limits"). */
#ifndef ALLOT_AGENT_LIMITS_H
#define ALLOT_AGENT_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/cgroup.h"
#include "agent/runner.h"

/* pids.max of every workload cgroup, and RLIMIT_NPROC in the fallback. */
#define LIMITS_PIDS_MAX 4096
/* Longest cgroup root path, bytes. */
#define LIMITS_ROOT_MAX 4000
/* cgroups whose removal is retried later (processes were still in them); one per replica
 * the agent can run is enough. */
#define LIMITS_PENDING_MAX 1024

/* How this agent applies limits. Caller-owned; nothing in it needs freeing. */
struct limits {
    char root[LIMITS_ROOT_MAX + 1];
    bool cgroups; /* true: one cgroup per replica under root; false: setrlimit */
    char pending[LIMITS_PENDING_MAX][CGROUP_NAME_MAX + 1]; /* cgroups to remove again */
    size_t n_pending;
};

/* Decide how limits are applied: cgroup_prepare(root), then cgroup_writable(root). OUT *l.
 * RET true when cgroups are used; false when the agent falls back to setrlimit, with the
 * reason (may be empty) in why, for the one warning the caller prints. Never fails. */
bool limits_init(struct limits *l, const char *root, char *why, size_t len);

/* Put the limits of one replica on spec before runner_start: with cgroups, create (or
 * reuse) the cgroup root/name with memory.max = memory_bytes, cpu.max from cpu_millicores
 * and pids.max = LIMITS_PIDS_MAX, and point spec->cgroup at path (which must outlive the
 * runner_start call); without, set spec->rlimits (RLIMIT_AS = memory_bytes when not 0,
 * RLIMIT_NPROC = LIMITS_PIDS_MAX). 0 in memory_bytes or cpu_millicores means unlimited.
 * name must be a valid name (common/name.h). RET 0, or the error of cgroup_create with a
 * sentence in err: the replica must then not run, since it would run without its limits. */
int limits_apply(struct limits *l, const char *name, uint64_t memory_bytes, uint64_t cpu_millicores,
                 struct runner_spec *spec, char *path, size_t len, char *err, size_t elen);

/* The path of cgroup name under l's root into path (for an adopted replica). RET 0;
 * -ALLOT_EINVAL when it does not fit. */
int limits_cgroup_path(const struct limits *l, const char *name, char *path, size_t len);

/* Remove the cgroup name once its replica has ended. When processes are still in it (they
 * die after cgroup.kill, not at once), kill them again and keep the name for limits_retry.
 * A NULL or empty name is ignored. Never fails: a removal that cannot be done is logged. */
void limits_release(struct limits *l, const char *name);

/* Retry the removals limits_release could not do yet; called on a slow timer. */
void limits_retry(struct limits *l);

/* Whether the files under workdir take more than storage_bytes (runner_usage_bytes; a
 * lower bound counts, since it is enough to be over). storage_bytes 0 is no limit.
 * OUT *used: the bytes counted (0 when the directory could not be measured). */
bool limits_storage_exceeded(const char *workdir, uint64_t storage_bytes, uint64_t *used);

#endif
