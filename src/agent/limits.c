/* Limits of allot-agent's workload replicas (limits.h): a cgroup each when the root is
 * writable, setrlimit otherwise, removal of cgroups once their replica has ended, and the
 * storage check. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* statfs under -D_POSIX_C_SOURCE */
#endif

#include "agent/limits.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>

#include "common/error.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Where the kernel's cgroup hierarchies are mounted. */
#define LIMITS_CGROUPFS "/sys/fs/cgroup"

/* Whether root lies under /sys/fs/cgroup while its parent is no cgroup v2 filesystem. On a
 * cgroup v1 host /sys/fs/cgroup is a tmpfs, writable by root: a directory made there would
 * pass for a plain directory standing in for cgroupfs, and limit nothing, silently. */
static bool fake_cgroupfs(const char *root)
{
    size_t n = strlen(LIMITS_CGROUPFS);
    if (strncmp(root, LIMITS_CGROUPFS, n) != 0 || (root[n] != '/' && root[n] != '\0'))
        return false;
    char parent[LIMITS_ROOT_MAX + 1];
    snprintf(parent, sizeof(parent), "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = '\0';
    struct statfs sf;
    return statfs(parent, &sf) != 0 || (unsigned long)sf.f_type != CGROUP2_SUPER_MAGIC;
}

bool limits_init(struct limits *l, const char *root, char *why, size_t len)
{
    assert(l && root && why && len);
    memset(l, 0, sizeof(*l));
    why[0] = '\0';
    if (snprintf(l->root, sizeof(l->root), "%s", root) >= (int)sizeof(l->root)) {
        snprintf(why, len, "path too long");
        return false;
    }
    if (fake_cgroupfs(root)) {
        snprintf(why, len, "its parent is no cgroup v2 filesystem");
        return false;
    }
    /* A failed prepare is not final by itself (the root may exist and be delegated with
     * its controllers already on); cgroup_writable judges, prepare's error says why not. */
    char err[512] = "";
    int rc = cgroup_prepare(root, err, sizeof(err));
    l->cgroups = cgroup_writable(root);
    if (!l->cgroups && rc)
        snprintf(why, len, "%s", err);
    return l->cgroups;
}

int limits_apply(struct limits *l, const char *name, uint64_t memory_bytes, uint64_t cpu_millicores,
                 struct runner_spec *spec, char *path, size_t len, char *err, size_t elen)
{
    assert(l && name && spec && path && len);
    path[0] = '\0';
    if (!l->cgroups) {
        spec->cgroup = NULL;
        spec->rlimits = (struct runner_rlimits){.as_bytes = memory_bytes, .nproc = LIMITS_PIDS_MAX};
        return 0;
    }
    struct cgroup_limits lim = {.memory_max = memory_bytes,
                                .cpu_max_millicores = cpu_millicores,
                                .pids_max = LIMITS_PIDS_MAX};
    int rc = cgroup_create(l->root, name, &lim, path, len, err, elen);
    if (rc)
        return rc;
    spec->cgroup = path;
    spec->rlimits = (struct runner_rlimits){0};
    return 0;
}

int limits_cgroup_path(const struct limits *l, const char *name, char *path, size_t len)
{
    assert(l && name && path && len);
    if (snprintf(path, len, "%s/%s", l->root, name) >= (int)len)
        return -ALLOT_EINVAL;
    return 0;
}

/* Remove cgroup name. RET what cgroup_remove returns; -ALLOT_EINVAL for a path too long. */
static int remove_one(const struct limits *l, const char *name)
{
    char path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    int rc = limits_cgroup_path(l, name, path, sizeof(path));
    if (rc == 0)
        rc = cgroup_remove(path);
    if (rc == -ALLOT_ESTATE)
        cgroup_kill(path); /* what is left is killed again; rmdir at the next retry */
    return rc;
}

void limits_release(struct limits *l, const char *name)
{
    assert(l);
    if (!name || !*name)
        return;
    int rc = remove_one(l, name);
    if (rc == 0)
        return;
    if (rc == -ALLOT_ESTATE && l->n_pending < LIMITS_PENDING_MAX) {
        snprintf(l->pending[l->n_pending++], sizeof(l->pending[0]), "%s", name);
        return;
    }
    fprintf(stderr, "allot-agent: cannot remove cgroup %s/%s: %s\n", l->root, name,
            allot_strerror(rc));
}

void limits_retry(struct limits *l)
{
    assert(l);
    size_t kept = 0;
    for (size_t i = 0; i < l->n_pending; i++) {
        int rc = remove_one(l, l->pending[i]);
        if (rc == -ALLOT_ESTATE) {
            if (kept != i)
                memcpy(l->pending[kept], l->pending[i], sizeof(l->pending[0]));
            kept++;
        } else if (rc) {
            fprintf(stderr, "allot-agent: cannot remove cgroup %s/%s: %s\n", l->root, l->pending[i],
                    allot_strerror(rc));
        }
    }
    l->n_pending = kept;
}

bool limits_storage_exceeded(const char *workdir, uint64_t storage_bytes, uint64_t *used)
{
    assert(workdir && used);
    *used = 0;
    if (storage_bytes == 0)
        return false;
    int rc = runner_usage_bytes(workdir, used);
    if (rc != 0 && rc != -ALLOT_ERANGE)
        *used = 0; /* not measured (the directory vanished): not over */
    return *used > storage_bytes;
}
