/* cgroups of the node agent's workloads: one cgroup per workload under a root directory of a
 * cgroup v2 or v1 hierarchy, with the limit files the hierarchy offers (memory.max, cpu.max,
 * pids.max), and the kill of everything in it. Works on a real cgroupfs and on a plain
 * directory that stands in for a v2 one in tests. See docs/agent-running.md. */
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

/* What a directory is, as statfs tells. */
enum cgroup_kind {
    CGROUP_KIND_PLAIN, /* no cgroupfs: a plain directory (a stand-in in tests), or unknown */
    CGROUP_KIND_V1,    /* a cgroup v1 hierarchy */
    CGROUP_KIND_V2,    /* the cgroup v2 hierarchy */
};

/* The limit files a cgroup may get, by the controller that provides them (a bit set). */
#define CGROUP_MEMORY (1u << 0) /* memory.max */
#define CGROUP_CPU (1u << 1)    /* cpu.max */
#define CGROUP_PIDS (1u << 2)   /* pids.max */
#define CGROUP_ALL (CGROUP_MEMORY | CGROUP_CPU | CGROUP_PIDS)

/* Limits of one workload; 0 in a field means unlimited ("max" in the file). */
struct cgroup_limits {
    uint64_t memory_max;         /* bytes */
    uint64_t cpu_max_millicores; /* 1000 = one CPU; 1500 -> cpu.max "150000 100000" */
    uint64_t pids_max;           /* processes and threads */
};

/* What path is (statfs). Never fails: a path that cannot be examined is CGROUP_KIND_PLAIN. */
enum cgroup_kind cgroup_kind(const char *path);

/* Make root usable for workload cgroups: create it if missing (its parent must exist) and,
 * in the v2 hierarchy, enable for its children those of the memory, cpu and pids controllers
 * that root offers (root/cgroup.controllers) through root/cgroup.subtree_control; those it
 * does not offer stay off (cgroup_controllers tells). Idempotent. RET 0; -ALLOT_EINVAL (empty
 * or long root); -ALLOT_EIO (root cannot be made, or an offered controller cannot be enabled)
 * with a sentence in err. */
int cgroup_prepare(const char *root, char *err, size_t elen);

/* The limit files that cgroups made under root get (CGROUP_* bits): in the v2 hierarchy the
 * controllers in root/cgroup.subtree_control, in a v1 hierarchy those whose file root has
 * (pids.max in the pids hierarchy), on a plain directory all of them. Never fails. */
unsigned cgroup_controllers(const char *root);

/* Whether a cgroup can be made under root: probed by making and removing one, so that root,
 * read-only mounts and missing directories are all judged as they really are. Never fails;
 * leaves nothing behind. */
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

/* SIGKILL every process of the cgroup at path, including those that left their process group
 * or session: through path/cgroup.kill where the kernel has it (v2, Linux 5.14+), else by
 * cgroup_kill_listed. The processes die a moment later: call again until it returns 0.
 * RET the number of processes still listed in path/cgroup.procs after the kill (0: empty, or
 * no such cgroup); -ALLOT_EINVAL when path is not on a cgroupfs (a plain directory lists pids
 * that may be long gone and reused: nothing is killed through it); -ALLOT_EIO. */
int cgroup_kill(const char *path);

/* What cgroup_kill does where there is no cgroup.kill: freeze the cgroup where it can be
 * frozen (v1 freezer.state, v2 cgroup.freeze), SIGKILL every process listed in
 * path/cgroup.procs, thaw it. A cgroup that cannot be frozen can gain a process during the
 * kill, and a listed pid can be reused before its signal: call again until it returns 0.
 * RET the number of processes that were listed; -ALLOT_EINVAL (not on a cgroupfs); -ALLOT_EIO. */
int cgroup_kill_listed(const char *path);

/* Send sig to every process listed in path/cgroup.procs whose process group is not
 * spare_pgid (0: none spared), e.g. SIGTERM to those that left the workload's group.
 * RET the number signalled; -ALLOT_EINVAL (not on a cgroupfs); -ALLOT_EIO. */
int cgroup_signal(const char *path, int sig, pid_t spare_pgid);

/* ---- The v1 devices controller: which device nodes a bare process may open ------------ */

/* Where the agent's devices cgroups live unless configured (docs/agent.md, "Devices"). */
#define CGROUP_DEVICES_DEFAULT_ROOT "/sys/fs/cgroup/devices/allot"
/* Most rules one devices cgroup gets, the standard ones included. */
#define CGROUP_MAX_DEVICE_RULES 256

/* One line of devices.allow: type 'c', 'b' or 'a' (all), major and minor (-1: any, "*"),
 * access "r", "w", "m" in any combination. */
struct cgroup_device_rule {
    char type;
    int64_t major, minor;
    char access[4];
};

/* Create (or reuse) the cgroup root/name in the v1 devices hierarchy and let it reach only the
 * standard devices (null, zero, full, random, urandom, tty, ptmx and the pts, and mknod of any
 * node, as runc allows a container) and rules[0..n): "a" is written to devices.deny, then each
 * rule to devices.allow. name as for cgroup_create. OUT path_out: "root/name" (len bytes).
 * RET 0; -ALLOT_EINVAL (bad name, path too long, bad rule, root not in a v1 hierarchy),
 * -ALLOT_ERANGE (more than CGROUP_MAX_DEVICE_RULES), -ALLOT_EIO, with a sentence in err. On
 * error a directory this call made is removed again. */
int cgroup_devices_create(const char *root, const char *name,
                          const struct cgroup_device_rule *rules, size_t n, char *path_out,
                          size_t len, char *err, size_t elen);

/* Whether root is a directory of a cgroup v1 devices hierarchy (it has devices.allow). */
bool cgroup_is_devices(const char *root);

/* Remove the cgroup at path. On a plain directory the files cgroup_create made are removed
 * first (only those). Idempotent: a missing cgroup is 0. RET 0; -ALLOT_ESTATE when processes
 * are still in it (EBUSY); -ALLOT_EIO otherwise. */
int cgroup_remove(const char *path);

#endif
