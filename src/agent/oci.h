/* The OCI runtime config (a bundle's config.json, runtime-spec 1.0) of a replica that runs in
 * a container: the image's rootfs read-only, the replica's directory at /work, the workspace's
 * user with no capabilities, its limits as cgroup resources, and its devices' CDI edits.
 * Pure: it builds JSON from its inputs (only a CDI device node without major/minor is stat'ed
 * on the host). docs/agent.md, "Images and containers". */
#ifndef ALLOT_AGENT_OCI_H
#define ALLOT_AGENT_OCI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "schema/cdi.h"

/* Where the replica's directory and its tmp are in the container. */
#define OCI_WORK_DIR "/work"
#define OCI_TMP_DIR "/tmp"
/* PATH when neither the image nor the workload gives one. */
#define OCI_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* cpu.cfs_period_us of every container; the quota is millicores x 100, at least 1000 us. */
#define OCI_CPU_PERIOD_US 100000
#define OCI_CPU_QUOTA_MIN_US 1000

/* Bounds of one config, checked by oci_config_build. */
#define OCI_MAX_ARGS 4096              /* process.args */
#define OCI_MAX_ENV 2048               /* process.env, after merging */
#define OCI_MAX_BYTES (1024 * 1024)    /* args and env text together */
#define OCI_MAX_EDITS 64               /* CDI edits lists applied */
#define OCI_MAX_PATH 4096              /* bytes of any path */
#define OCI_IMAGE_CONFIG_MAX (1 << 20) /* bytes of an image config file */

/* One replica's container, everything borrowed for the call. */
struct oci_replica {
    const char *hostname;       /* the UTS namespace's hostname (the node's name) */
    const char *rootfs;         /* absolute: the image's unpacked rootfs, mounted read-only */
    const char *work_dir;       /* absolute: the replica's directory on the host, at /work */
    const char *tmp_dir;        /* absolute: its tmp on the host, at /tmp */
    const json_t *image;        /* the image config's "config" object (Env, Entrypoint, Cmd,
                                 * WorkingDir), or NULL: an image that says nothing */
    const char *const *command; /* the workload's command (NULL-terminated), or NULL / empty:
                                 * the image's Entrypoint then Cmd */
    const char *cwd;            /* the workload's workdir, or NULL: the image's WorkingDir,
                                 * else /work */
    const char *const *env;     /* "KEY=value" from the agent, NULL-terminated (or NULL): the
                                 * workload's env then Allot's, as a bare process gets them */
    uid_t uid;                  /* the container's user: the workspace's on the host */
    gid_t gid;
    uint64_t memory_bytes;                /* 0: no limit */
    uint64_t cpu_millicores;              /* 0: no limit */
    uint64_t pids_max;                    /* 0: no limit */
    const char *cgroups_path;             /* linux.cgroupsPath, "/allot/<node>.<id>" */
    const struct cdi_edits *const *edits; /* n_edits CDI edits lists, applied in order */
    size_t n_edits;
};

/* Read an image config file (the OCI image config blob the store keeps): at most
 * OCI_IMAGE_CONFIG_MAX bytes, a JSON object; its "config" object (absent: an empty one).
 * OUT *out, a new reference (json_decref). RET 0; -ALLOT_ENOENT (no file), -ALLOT_ERANGE (too
 * big), -ALLOT_EPARSE (not JSON, or "config" not an object), -ALLOT_EIO; err says why. */
int oci_image_config_load(const char *path, json_t **out, char *err, size_t len);

/* The runtime config of r (docs/agent.md, "Images and containers"):
 * - process.args: r->command when it has an entry, else the image's Entrypoint then Cmd;
 * - process.cwd: r->cwd, else the image's WorkingDir, else /work (each must be absolute);
 * - process.env: the image's Env, then HOME=/work and TMPDIR, TMP, TEMP=/tmp, then r->env,
 *   then each edit's env, then ALLOT_PREEMPT_DEADLINE_FILE=/work/preempt_deadline and
 *   ALLOT_CHECKPOINT_FILE=/work/checkpoint; a later
 *   entry replaces an earlier one with its key (in its place); PATH is added when none gave it;
 * - process.user r->uid:r->gid (plus the edits' additionalGids), noNewPrivileges, and no
 *   capability at all unless uid is 0;
 * - root: r->rootfs read-only; mounts /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue,
 *   /sys read-only, r->work_dir at /work and r->tmp_dir at /tmp (bind, read-write), then the
 *   edits' mounts;
 * - namespaces pid, ipc, uts, mount (the network is the host's); r->cgroups_path;
 *   resources: memory, CPU quota/period, pids, and the device cgroup: deny all, then allow
 *   each edit's device node; linux.devices: those nodes (type, major, minor read from the
 *   host's node when not given); the edits' hooks.
 * OUT *out, a new object (json_decref). RET 0; -ALLOT_EINVAL (no command, a relative path, a
 * malformed image field or edit, a device node that is not a device), -ALLOT_ERANGE (beyond a
 * bound), -ALLOT_ENOMEM; err names the field. */
int oci_config_build(const struct oci_replica *r, json_t **out, char *err, size_t len);

/* Write config to dir/config.json (mode 0600, whole or not at all: a temporary file renamed).
 * RET 0 or -ALLOT_EIO with err. */
int oci_config_write(const char *dir, const json_t *config, char *err, size_t len);

#endif
