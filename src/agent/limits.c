/* Containment and limits of allot-agent's workload replicas (limits.h): the choice of the
 * cgroup mode, a cgroup each with the limit files its hierarchy offers and setrlimit for the
 * rest, removal of cgroups once their replica has ended, and the storage check. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* statfs under -D_POSIX_C_SOURCE */
#endif

#include "agent/limits.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/workdir.h"
#include "common/error.h"

/* Where the kernel's cgroup hierarchies are mounted. */
#define LIMITS_CGROUPFS "/sys/fs/cgroup"

/* The values of --cgroup-mode. */
static const char *const limits_mode_names[] = {
    [LIMITS_AUTO] = "auto",
    [LIMITS_V2] = "v2",
    [LIMITS_V1] = "v1",
    [LIMITS_NONE] = "none",
};
#define LIMITS_N_MODES (sizeof(limits_mode_names) / sizeof(limits_mode_names[0]))

/* Each limit: the cgroup file that holds it, and what holds it without that file. */
static const struct {
    unsigned bit;
    const char *what;
    const char *file;
    const char *fallback;
} limits_rows[] = {
    {CGROUP_MEMORY, "memory", "memory.max", "RLIMIT_AS (setrlimit)"},
    {CGROUP_CPU, "CPU", "cpu.max", "not limited"},
    {CGROUP_PIDS, "processes", "pids.max", "RLIMIT_NPROC (setrlimit)"},
};
#define LIMITS_N_ROWS (sizeof(limits_rows) / sizeof(limits_rows[0]))

int limits_mode_parse(const char *text, enum limits_mode *mode)
{
    for (size_t i = 0; text && i < LIMITS_N_MODES; i++)
        if (strcmp(text, limits_mode_names[i]) == 0) {
            *mode = (enum limits_mode)i;
            return 0;
        }
    return -ALLOT_EINVAL;
}

const char *limits_mode_name(enum limits_mode mode)
{
    return (unsigned)mode < LIMITS_N_MODES ? limits_mode_names[mode] : "unknown";
}

/* What the parent directory of root is (cgroup_kind). */
static enum cgroup_kind parent_kind(const char *root)
{
    char parent[LIMITS_ROOT_MAX + 1];
    snprintf(parent, sizeof(parent), "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
    else
        snprintf(parent, sizeof(parent), ".");
    return cgroup_kind(parent);
}

/* Whether root lies under /sys/fs/cgroup while its parent is no cgroup v2 filesystem. On a
 * cgroup v1 host /sys/fs/cgroup is a tmpfs, writable by root: a directory made there would
 * pass for a plain directory standing in for cgroupfs, and limit nothing, silently. */
static bool fake_cgroupfs(const char *root)
{
    size_t n = strlen(LIMITS_CGROUPFS);
    if (strncmp(root, LIMITS_CGROUPFS, n) != 0 || (root[n] != '/' && root[n] != '\0'))
        return false;
    return parent_kind(root) != CGROUP_KIND_V2;
}

/* Use the cgroup v2 root root, if it is usable. RET 0 with l set, or -ALLOT_ECONFIG with why. */
static int use_v2(struct limits *l, const char *root, char *why, size_t len)
{
    char err[512] = "";
    if (strlen(root) > LIMITS_ROOT_MAX) {
        snprintf(why, len, "path too long");
        return -ALLOT_ECONFIG;
    }
    if (fake_cgroupfs(root)) {
        snprintf(why, len, "its parent is no cgroup v2 filesystem");
        return -ALLOT_ECONFIG;
    }
    /* A failed prepare is not final by itself (the root may exist and be delegated with its
     * controllers already on); cgroup_writable judges, prepare's error says why not. */
    int rc = cgroup_prepare(root, err, sizeof(err));
    if (!cgroup_writable(root)) {
        snprintf(why, len, "%s", rc ? err : "no cgroup can be made under it");
        return -ALLOT_ECONFIG;
    }
    if (cgroup_kind(root) == CGROUP_KIND_V1) {
        snprintf(why, len, "it is in a cgroup v1 hierarchy");
        return -ALLOT_ECONFIG;
    }
    l->mode = LIMITS_V2;
    l->keeper = cgroup_kind(root) == CGROUP_KIND_PLAIN;
    l->controllers = cgroup_controllers(root);
    snprintf(l->root, sizeof(l->root), "%s", root);
    return 0;
}

/* Use the cgroup v1 root root, if it is usable. RET 0 with l set, or -ALLOT_ECONFIG with why. */
static int use_v1(struct limits *l, const char *root, char *why, size_t len)
{
    if (strlen(root) > LIMITS_ROOT_MAX) {
        snprintf(why, len, "path too long");
        return -ALLOT_ECONFIG;
    }
    if (parent_kind(root) != CGROUP_KIND_V1) {
        snprintf(why, len, "its parent is in no cgroup v1 hierarchy");
        return -ALLOT_ECONFIG;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(why, len, "create it: %s", strerror(errno));
        return -ALLOT_ECONFIG;
    }
    if (!cgroup_writable(root)) {
        snprintf(why, len, "no cgroup can be made under it");
        return -ALLOT_ECONFIG;
    }
    l->mode = LIMITS_V1;
    l->keeper = false;
    l->controllers = cgroup_controllers(root);
    snprintf(l->root, sizeof(l->root), "%s", root);
    return 0;
}

/* The sentence of limits_init for the mode chosen; tried holds why other modes were not. */
static void describe(const struct limits *l, const char *tried, char *note, size_t len)
{
    char what[LIMITS_ROOT_MAX + 512];
    unsigned files = l->cgroups ? l->controllers : 0;
    if (l->mode == LIMITS_NONE)
        snprintf(what, sizeof(what),
                 "no cgroup: a keeper process per replica kills what is left "
                 "of it when it ends");
    else if (l->keeper)
        snprintf(what, sizeof(what),
                 "cgroup root %s is a plain directory, no cgroup filesystem (a stand-in for "
                 "tests): limit files are written there and nothing enforces them; a keeper "
                 "process per replica kills what is left of it when it ends",
                 l->root);
    else
        snprintf(what, sizeof(what),
                 "cgroup %s at %s: a cgroup per replica, every process in it killed when the "
                 "replica ends%s",
                 limits_mode_name(l->mode), l->root,
                 files == 0            ? "; used to track and kill only: it has no memory, cpu "
                                         "or pids controller there"
                 : files != CGROUP_ALL ? "; some controllers are not available there"
                                       : "");
    bool weaker = l->mode != LIMITS_V2 || l->keeper || files != CGROUP_ALL;
    size_t used = (size_t)snprintf(note, len, "%s%s; limits:", weaker ? "warning: " : "", what);
    for (size_t i = 0; i < LIMITS_N_ROWS && used < len; i++)
        used += (size_t)snprintf(
            note + used, len - used, "%s %s %s", i ? "," : "", limits_rows[i].what,
            files & limits_rows[i].bit ? limits_rows[i].file : limits_rows[i].fallback);
    if (tried[0] && used < len)
        snprintf(note + used, len - used, " (%s)", tried);
}

int limits_init(struct limits *l, const struct limits_config *cfg, char *note, size_t len)
{
    assert(l && cfg && note && len);
    const char *v2_root = cfg->v2_root ? cfg->v2_root : CGROUP_DEFAULT_ROOT;
    const char *v1_roots[] = {cfg->v1_root ? cfg->v1_root : LIMITS_V1_FREEZER_ROOT,
                              cfg->v1_root ? NULL : LIMITS_V1_PIDS_ROOT};
    char tried[2 * LIMITS_ROOT_MAX + 1024] = "", why[600];
    size_t used = 0;
    memset(l, 0, sizeof(*l));
    note[0] = '\0';
    if (cfg->mode == LIMITS_AUTO || cfg->mode == LIMITS_V2) {
        if (use_v2(l, v2_root, why, sizeof(why)) == 0)
            goto chosen;
        used += (size_t)snprintf(tried, sizeof(tried), "cgroup v2 root %s not usable: %s", v2_root,
                                 why);
        if (cfg->mode == LIMITS_V2) {
            snprintf(note, len, "--cgroup-mode v2: %s", tried);
            return -ALLOT_ECONFIG;
        }
    }
    if (cfg->mode == LIMITS_AUTO || cfg->mode == LIMITS_V1) {
        for (size_t i = 0; i < sizeof(v1_roots) / sizeof(v1_roots[0]) && v1_roots[i]; i++) {
            if (use_v1(l, v1_roots[i], why, sizeof(why)) == 0)
                goto chosen;
            if (used < sizeof(tried))
                used += (size_t)snprintf(tried + used, sizeof(tried) - used,
                                         "%scgroup v1 root %s not usable: %s", used ? "; " : "",
                                         v1_roots[i], why);
        }
        if (cfg->mode == LIMITS_V1) {
            snprintf(note, len, "--cgroup-mode v1: %s", tried);
            return -ALLOT_ECONFIG;
        }
    }
    l->mode = LIMITS_NONE;
    l->keeper = true;
chosen:
    l->cgroups = l->mode != LIMITS_NONE;
    describe(l, tried, note, len);
    return 0;
}

int limits_apply(struct limits *l, const char *name, uint64_t memory_bytes, uint64_t cpu_millicores,
                 struct runner_spec *spec, char *path, size_t len, char *err, size_t elen)
{
    assert(l && name && spec && path && len);
    path[0] = '\0';
    unsigned files = l->cgroups ? l->controllers : 0;
    spec->cgroup = NULL;
    spec->contain = l->keeper ? RUNNER_CONTAIN_KEEPER : RUNNER_CONTAIN_CGROUP;
    spec->rlimits = (struct runner_rlimits){
        .as_bytes = files & CGROUP_MEMORY ? 0 : memory_bytes,
        .nproc = files & CGROUP_PIDS ? 0 : LIMITS_PIDS_MAX,
    };
    if (!l->cgroups)
        return 0;
    struct cgroup_limits lim = {
        .memory_max = files & CGROUP_MEMORY ? memory_bytes : 0,
        .cpu_max_millicores = files & CGROUP_CPU ? cpu_millicores : 0,
        .pids_max = files & CGROUP_PIDS ? LIMITS_PIDS_MAX : 0,
    };
    int rc = cgroup_create(l->root, name, &lim, path, len, err, elen);
    if (rc)
        return rc;
    spec->cgroup = path;
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

static void devices_retry(struct limits *l);

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
    devices_retry(l);
}

int limits_devices_init(struct limits *l, const char *root, char *why, size_t len)
{
    assert(l && why && len);
    root = root ? root : CGROUP_DEVICES_DEFAULT_ROOT;
    l->devices_root[0] = '\0';
    char parent[LIMITS_ROOT_MAX + 1];
    if (strlen(root) > LIMITS_ROOT_MAX || root[0] != '/') {
        snprintf(why, len, "devices cgroup root %.200s: not an absolute path of at most %d bytes",
                 root, LIMITS_ROOT_MAX);
        return -ALLOT_ECONFIG;
    }
    snprintf(parent, sizeof(parent), "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (!cgroup_is_devices(parent)) {
        snprintf(why, len, "%s is in no cgroup v1 devices hierarchy%s", parent,
                 cgroup_kind(LIMITS_CGROUPFS) == CGROUP_KIND_V2
                     ? " (a cgroup v2 host: device isolation there needs an eBPF program, which "
                       "the agent does not load)"
                     : "");
        return -ALLOT_ECONFIG;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(why, len, "create %s: %s", root, strerror(errno));
        return -ALLOT_ECONFIG;
    }
    if (!cgroup_is_devices(root) || !cgroup_writable(root)) {
        snprintf(why, len, "no devices cgroup can be made under %s", root);
        return -ALLOT_ECONFIG;
    }
    snprintf(l->devices_root, sizeof(l->devices_root), "%s", root);
    return 0;
}

int limits_devices_apply(struct limits *l, const char *name, const struct cgroup_device_rule *rules,
                         size_t n, struct runner_spec *spec, char *path, size_t len, char *err,
                         size_t elen)
{
    assert(l && name && spec && path && len);
    path[0] = '\0';
    spec->devices_cgroup = NULL;
    if (!l->devices_root[0])
        return 0;
    int rc = cgroup_devices_create(l->devices_root, name, rules, n, path, len, err, elen);
    if (rc == 0)
        spec->devices_cgroup = path;
    return rc;
}

void limits_devices_release(struct limits *l, const char *name)
{
    assert(l);
    char path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    if (!name || !*name || !l->devices_root[0])
        return;
    if (snprintf(path, sizeof(path), "%s/%s", l->devices_root, name) >= (int)sizeof(path))
        return;
    int rc = cgroup_remove(path);
    if (rc == -ALLOT_ESTATE && l->n_devices_pending < LIMITS_PENDING_MAX) {
        snprintf(l->devices_pending[l->n_devices_pending++], sizeof(l->devices_pending[0]), "%s",
                 name);
        return;
    }
    if (rc)
        fprintf(stderr, "allot-agent: cannot remove devices cgroup %s: %s\n", path,
                allot_strerror(rc));
}

/* Retry the removals of devices cgroups that still held processes (they are killed through
 * the replica's own containment; the devices cgroup only waits for them to be gone). */
static void devices_retry(struct limits *l)
{
    size_t kept = 0, n = l->n_devices_pending;
    char path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    l->n_devices_pending = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", l->devices_root, l->devices_pending[i]);
        int rc = cgroup_remove(path);
        if (rc == -ALLOT_ESTATE) {
            if (kept != i)
                memcpy(l->devices_pending[kept], l->devices_pending[i],
                       sizeof(l->devices_pending[0]));
            kept++;
        } else if (rc) {
            fprintf(stderr, "allot-agent: cannot remove devices cgroup %s: %s\n", path,
                    allot_strerror(rc));
        }
    }
    l->n_devices_pending = kept;
}

bool limits_storage_exceeded(const char *workdir, uint64_t storage_bytes, uint64_t *used)
{
    assert(workdir && used);
    *used = 0;
    if (storage_bytes == 0)
        return false;
    int rc = workdir_usage_bytes(workdir, used);
    if (rc != 0 && rc != -ALLOT_ERANGE)
        *used = 0; /* not measured (the directory vanished): not over */
    return *used > storage_bytes;
}
