/* cgroup v2 limits for the node agent's workloads: one cgroup per workload under a root
 * directory, with memory.max, cpu.max and pids.max. Works on a real cgroupfs and on a plain
 * directory that stands in for it in tests. See docs/agent-running.md. */
#ifndef ALLOT_AGENT_CGROUP_H
#define ALLOT_AGENT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the agent's cgroups live unless configured otherwise. */
#define CGROUP_DEFAULT_ROOT "/sys/fs/cgroup/allot"
/* Longest cgroup name, bytes (names follow common/name.h: [a-z0-9][a-z0-9._-]*). */
#define CGROUP_NAME_MAX 127
/* cpu.max is written as "quota period" with this period, microseconds. */
#define CGROUP_CPU_PERIOD_US 100000
/* The kernel refuses a quota below 1 ms; smaller requests are raised to it (10 millicores). */
#define CGROUP_CPU_MIN_QUOTA_US 1000

/* Limits of one workload; 0 in a field means unlimited ("max" in the file). */
struct cgroup_limits {
    uint64_t memory_max;         /* bytes */
    uint64_t cpu_max_millicores; /* 1000 = one CPU; 1500 -> cpu.max "150000 100000" */
    uint64_t pids_max;           /* processes and threads */
};

/* Make root usable for workload cgroups: create it if missing (its parent must exist) and,
 * on a real cgroupfs, enable the memory, cpu and pids controllers for its children through
 * root/cgroup.subtree_control. Idempotent. RET 0; -ALLOT_ECONFIG (a controller the parent
 * does not offer) or -ALLOT_EIO, with a sentence in err. */
int cgroup_prepare(const char *root, char *err, size_t elen);

/* Whether limits can be applied under root: a child directory can be made there (probed by
 * making and removing one, so that root, read-only mounts and missing directories are all
 * judged as they really are) and, on a real cgroupfs, root's cgroup.subtree_control enables
 * memory, cpu and pids. When false the caller falls back to setrlimit and logs a warning.
 * Never fails; leaves nothing behind. */
bool cgroup_writable(const char *root);

/* Create (or reuse, if it is already a directory) the cgroup root/name and write its limits:
 * memory.max, cpu.max and pids.max. On a real cgroupfs a file the kernel does not offer is
 * skipped when its limit is 0 and an error otherwise; on a plain directory the files are
 * created, with cgroup.procs. name must satisfy name_is_valid (so no '/', no "..").
 * OUT path_out: "root/name" (len bytes). RET 0; -ALLOT_EINVAL (bad name, path too long),
 * -ALLOT_ECONFIG (controller missing) or -ALLOT_EIO, with a sentence in err. On error a
 * directory this call made is removed again: nothing is left half-applied. */
int cgroup_create(const char *root, const char *name, const struct cgroup_limits *lim,
                  char *path_out, size_t len, char *err, size_t elen);

/* Move pid into the cgroup at path by writing it to path/cgroup.procs (appended, so that a
 * plain directory lists every pid written). Uses only async-signal-safe calls and no
 * allocation, so a forked child may call it for itself before exec. RET 0; -ALLOT_EINVAL
 * (pid <= 0, path too long), -ALLOT_ENOENT (no such cgroup) or -ALLOT_EIO. */
int cgroup_attach(const char *path, pid_t pid);

/* Kill every process of the cgroup at path, including those that left their process group,
 * by writing "1" to path/cgroup.kill (Linux 5.14+). Never creates the file.
 * RET 0; -ALLOT_ENOENT when the kernel (or a plain directory) has no cgroup.kill; -ALLOT_EIO. */
int cgroup_kill(const char *path);

/* Remove the cgroup at path. On a plain directory the files cgroup_create made are removed
 * first (only those). Idempotent: a missing cgroup is 0. RET 0; -ALLOT_ESTATE when processes
 * are still in it (EBUSY); -ALLOT_EIO otherwise. */
int cgroup_remove(const char *path);

#endif
