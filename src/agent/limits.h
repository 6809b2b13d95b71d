/* How allot-agent contains and limits each workload replica: the cgroup mode (a cgroup v2, a
 * cgroup v1, or none and a keeper process), the limit files the cgroup gets (memory.max,
 * cpu.max, pids.max) and setrlimit for the others, and the storage check of its directory.
 * The policy is in docs/agent.md ("Limits"). */
#ifndef ALLOT_AGENT_LIMITS_H
#define ALLOT_AGENT_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/cgroup.h"
#include "agent/runner.h"

/* pids.max of every workload cgroup, and RLIMIT_NPROC in the fallback. */
#define LIMITS_PIDS_MAX 4096
/* Where cgroup v1 roots are looked for unless configured, in this order: the freezer
 * hierarchy (a cgroup is frozen while it is killed), then the pids hierarchy (pids.max). */
#define LIMITS_V1_FREEZER_ROOT "/sys/fs/cgroup/freezer/allot"
#define LIMITS_V1_PIDS_ROOT "/sys/fs/cgroup/pids/allot"
/* Longest cgroup root path, bytes. */
#define LIMITS_ROOT_MAX 4000
/* cgroups whose removal is retried later (processes were still in them); one per replica
 * the agent can run is enough. */
#define LIMITS_PENDING_MAX 1024

/* The cgroup modes of --cgroup-mode (docs/agent.md, "Limits"). */
enum limits_mode {
    LIMITS_AUTO, /* v2 if its root is usable, else v1 if one is, else none */
    LIMITS_V2,   /* a cgroup per replica under the cgroup v2 root */
    LIMITS_V1,   /* a cgroup per replica under a cgroup v1 root */
    LIMITS_NONE, /* no cgroup: a keeper process per replica, setrlimit */
};

/* What the agent was told: its options. */
struct limits_config {
    enum limits_mode mode;
    const char *v2_root; /* --cgroup-root; NULL: CGROUP_DEFAULT_ROOT */
    const char *v1_root; /* --cgroup-v1-root; NULL: LIMITS_V1_FREEZER_ROOT, else _PIDS_ROOT */
};

/* How this agent contains and limits replicas. Caller-owned; nothing in it needs freeing. */
struct limits {
    enum limits_mode mode;          /* the one chosen: LIMITS_V2, LIMITS_V1 or LIMITS_NONE */
    char root[LIMITS_ROOT_MAX + 1]; /* of the cgroups; "" in LIMITS_NONE */
    bool cgroups;                   /* one cgroup per replica under root */
    bool keeper;                    /* replicas run under a keeper: no cgroup, or a plain directory
                                     * standing in for cgroupfs (tests), which can kill nothing */
    unsigned controllers; /* the limit files (CGROUP_* bits) cgroups get; setrlimit for the
                           * others */
    char pending[LIMITS_PENDING_MAX][CGROUP_NAME_MAX + 1]; /* cgroups to remove again */
    size_t n_pending;
    /* The devices cgroups of bare processes (docs/agent.md, "Devices"): their root in the v1
     * devices hierarchy, "" when devices are not enforced that way (limits_devices_init). */
    char devices_root[LIMITS_ROOT_MAX + 1];
    char devices_pending[LIMITS_PENDING_MAX][CGROUP_NAME_MAX + 1];
    size_t n_devices_pending;
};

/* The mode named text ("auto", "v2", "v1", "none"). OUT *mode. RET 0 or -ALLOT_EINVAL. */
int limits_mode_parse(const char *text, enum limits_mode *mode);

/* Lower-case name of mode; never NULL. */
const char *limits_mode_name(enum limits_mode mode);

/* Choose how replicas are contained and limited, as cfg says: the v2 root is usable when a
 * cgroup can be made under it (cgroup_prepare, then cgroup_writable) and it is not a plain
 * directory under /sys/fs/cgroup; a v1 root when its parent is in a cgroup v1 hierarchy and a
 * cgroup can be made under it. OUT *l, and in note one sentence for the agent's log saying
 * what is enforced and how (it starts with "warning: " unless cgroup v2 with memory, cpu and
 * pids holds every limit), with why the modes tried before were not usable.
 * RET 0; -ALLOT_ECONFIG when cfg->mode is v2 or v1 and that mode is not usable (why in note). */
int limits_init(struct limits *l, const struct limits_config *cfg, char *note, size_t len);

/* Put the containment and limits of one replica on spec before runner_start. With cgroups,
 * create (or reuse) the cgroup root/name with the limit files l->controllers allows
 * (memory.max = memory_bytes, cpu.max from cpu_millicores, pids.max = LIMITS_PIDS_MAX) and
 * point spec->cgroup at path (which must outlive the runner_start call); the limits without a
 * file go to spec->rlimits (RLIMIT_AS = memory_bytes when not 0, RLIMIT_NPROC =
 * LIMITS_PIDS_MAX; CPU has none). spec->contain: a keeper when l->keeper, else the cgroup.
 * 0 in memory_bytes or cpu_millicores means unlimited. name must be a valid name
 * (common/name.h). RET 0, or the error of cgroup_create with a sentence in err: the replica
 * must then not run, since it would run without its limits. */
int limits_apply(struct limits *l, const char *name, uint64_t memory_bytes, uint64_t cpu_millicores,
                 struct runner_spec *spec, char *path, size_t len, char *err, size_t elen);

/* The path of cgroup name under l's root into path (for an adopted replica). RET 0;
 * -ALLOT_EINVAL when it does not fit. */
int limits_cgroup_path(const struct limits *l, const char *name, char *path, size_t len);

/* Remove the cgroup name once its replica has ended. When processes are still in it (rare:
 * the runner reports an end once the cgroup is empty), kill them again and keep the name for
 * limits_retry.
 * A NULL or empty name is ignored. Never fails: a removal that cannot be done is logged. */
void limits_release(struct limits *l, const char *name);

/* Retry the removals limits_release could not do yet; called on a slow timer. */
void limits_retry(struct limits *l);

/* Enforce devices for bare processes with a v1 devices cgroup per replica under root (NULL:
 * CGROUP_DEVICES_DEFAULT_ROOT), made if missing: usable when its parent is a directory of the v1
 * devices hierarchy and a cgroup can be made under it. Call after limits_init (which clears
 * it). OUT l->devices_root. RET 0; -ALLOT_ECONFIG with why (len bytes) when not usable (on a
 * cgroup v2 host there is no devices hierarchy: v2 needs an eBPF program, not written). */
int limits_devices_init(struct limits *l, const char *root, char *why, size_t len);

/* Make the devices cgroup name under l->devices_root that lets a process reach only the
 * standard devices and rules[0..n) (cgroup_devices_create) and point spec->devices_cgroup at
 * path (len bytes; it must outlive runner_start). Without l->devices_root, nothing (RET 0).
 * RET 0, or the error of cgroup_devices_create with a sentence in err: the replica must then
 * not run, since it would reach every device. */
int limits_devices_apply(struct limits *l, const char *name, const struct cgroup_device_rule *rules,
                         size_t n, struct runner_spec *spec, char *path, size_t len, char *err,
                         size_t elen);

/* Remove the devices cgroup name once its replica has ended (as limits_release; retried by
 * limits_retry while processes are still in it). Nothing without l->devices_root. */
void limits_devices_release(struct limits *l, const char *name);

/* Whether the files under workdir take more than storage_bytes (workdir_usage_bytes; a
 * lower bound counts, since it is enough to be over). storage_bytes 0 is no limit.
 * OUT *used: the bytes counted (0 when the directory could not be measured). */
bool limits_storage_exceeded(const char *workdir, uint64_t storage_bytes, uint64_t *used);

#endif
