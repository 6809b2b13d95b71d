/* cgroup v2 directories and limit files for workloads (cgroup.h), on a real cgroupfs or on
 * a plain directory standing in for it: statfs tells which, and only the plain directory
 * gets files created and removed by this code. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* statfs, O_NOFOLLOW and friends under -D_POSIX_C_SOURCE */
#endif

#include "agent/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/name.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The files cgroup_create writes: name, the controller that provides it (NULL: the kernel's
 * own, created only on a plain directory), and the field of struct cgroup_limits it holds.
 * The same table tells cgroup_remove which files a plain directory may hold. */
struct cgroup_file {
    const char *name;
    const char *controller;
    size_t field; /* offsetof(struct cgroup_limits, ...), or CGROUP_NO_FIELD */
};
#define CGROUP_NO_FIELD ((size_t)-1)

static const struct cgroup_file cgroup_files[] = {
    {"memory.max", "memory", offsetof(struct cgroup_limits, memory_max)},
    {"cpu.max", "cpu", offsetof(struct cgroup_limits, cpu_max_millicores)},
    {"pids.max", "pids", offsetof(struct cgroup_limits, pids_max)},
    {"cgroup.procs", NULL, CGROUP_NO_FIELD},
};
#define CGROUP_N_FILES (sizeof(cgroup_files) / sizeof(cgroup_files[0]))

/* Controllers a workload cgroup needs, as cgroup.subtree_control spells them. */
static const char *const cgroup_controllers[] = {"memory", "cpu", "pids"};
#define CGROUP_N_CONTROLLERS (sizeof(cgroup_controllers) / sizeof(cgroup_controllers[0]))

/* Whether path lies on a cgroup2 filesystem (false when it cannot be told). */
static bool on_cgroupfs(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* Write text to path in full. create: make or truncate the file (plain directories only);
 * otherwise the file must exist. RET 0 or -errno. */
static int write_text(const char *path, const char *text, bool create)
{
    int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_TRUNC : 0);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return -errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int rc = w == (ssize_t)n ? 0 : (w < 0 ? -errno : -EIO);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* Whether the space-separated list in text names word. */
static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)) != NULL; p += n) {
        bool starts = p == text || p[-1] == ' ' || p[-1] == '\n';
        bool ends = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
        if (starts && ends)
            return true;
    }
    return false;
}

/* Read up to len-1 bytes of path into buf, NUL-terminated. RET 0 or -errno. */
static int read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    ssize_t r = read(fd, buf, len - 1);
    int rc = r < 0 ? -errno : 0;
    buf[r < 0 ? 0 : r] = '\0';
    close(fd);
    return rc;
}

int cgroup_prepare(const char *root, char *err, size_t elen)
{
    if (!root || !*root) {
        snprintf(err, elen, "cgroup root is empty");
        return -ALLOT_EINVAL;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(err, elen, "create cgroup root %s: %s", root, strerror(errno));
        return -ALLOT_EIO;
    }
    if (!on_cgroupfs(root))
        return 0;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root) >= (int)sizeof(path)) {
        snprintf(err, elen, "cgroup root path is too long");
        return -ALLOT_EINVAL;
    }
    /* One controller per write, so that the error names the one the parent lacks. */
    for (size_t i = 0; i < CGROUP_N_CONTROLLERS; i++) {
        char word[16];
        snprintf(word, sizeof(word), "+%s", cgroup_controllers[i]);
        int rc = write_text(path, word, false);
        if (rc != 0) {
            snprintf(err, elen,
                     "enable the %s controller in %s: %s (is it in the parent's "
                     "cgroup.subtree_control?)",
                     cgroup_controllers[i], path, strerror(-rc));
            return rc == -ENOENT || rc == -EINVAL ? -ALLOT_ECONFIG : -ALLOT_EIO;
        }
    }
    return 0;
}

bool cgroup_writable(const char *root)
{
    if (!root || !*root)
        return false;
    struct stat sb;
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return false;
    char path[PATH_MAX];
    if (on_cgroupfs(root)) {
        char text[256];
        if (snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root) >= (int)sizeof(path) ||
            read_text(path, text, sizeof(text)) != 0)
            return false;
        for (size_t i = 0; i < CGROUP_N_CONTROLLERS; i++)
            if (!has_word(text, cgroup_controllers[i]))
                return false;
    }
    /* A leading '.' can never be a valid workload name, so the probe collides with none. */
    if (snprintf(path, sizeof(path), "%s/.allot-probe-%ld", root, (long)getpid()) >=
        (int)sizeof(path))
        return false;
    if (mkdir(path, 0700) != 0)
        return false;
    return rmdir(path) == 0;
}

/* The value lim holds for file f; 0 means unlimited. */
static uint64_t limit_value(const struct cgroup_file *f, const struct cgroup_limits *lim)
{
    uint64_t v;
    memcpy(&v, (const char *)lim + f->field, sizeof(v));
    return v;
}

/* The text of limit file f for lim: "max" when unlimited; cpu.max as "quota period". */
static void limit_text(const struct cgroup_file *f, const struct cgroup_limits *lim, char *buf,
                       size_t len)
{
    uint64_t v = limit_value(f, lim);
    bool cpu = f->field == offsetof(struct cgroup_limits, cpu_max_millicores);
    if (!cpu) {
        if (v)
            snprintf(buf, len, "%" PRIu64 "\n", v);
        else
            snprintf(buf, len, "max\n");
        return;
    }
    /* millicores * period / 1000, saturating: a request beyond any machine is "max". */
    uint64_t per_milli = CGROUP_CPU_PERIOD_US / 1000;
    if (v == 0 || v > UINT64_MAX / per_milli) {
        snprintf(buf, len, "max %d\n", CGROUP_CPU_PERIOD_US);
        return;
    }
    uint64_t quota = v * per_milli;
    if (quota < CGROUP_CPU_MIN_QUOTA_US)
        quota = CGROUP_CPU_MIN_QUOTA_US;
    snprintf(buf, len, "%" PRIu64 " %d\n", quota, CGROUP_CPU_PERIOD_US);
}

int cgroup_create(const char *root, const char *name, const struct cgroup_limits *lim,
                  char *path_out, size_t len, char *err, size_t elen)
{
    static const struct cgroup_limits unlimited = {0};
    char dir[PATH_MAX];
    bool made = false;
    int rc = 0;
    if (!lim)
        lim = &unlimited;
    if (!root || !*root || !path_out) {
        snprintf(err, elen, "cgroup root and path buffer are required");
        return -ALLOT_EINVAL;
    }
    if (!name || !name_is_valid(name, strlen(name), CGROUP_NAME_MAX)) {
        snprintf(err, elen, "cgroup name \"%.*s\" is not a name ([a-z0-9][a-z0-9._-]*, at most %d)",
                 64, name ? name : "", CGROUP_NAME_MAX);
        return -ALLOT_EINVAL;
    }
    int n = snprintf(dir, sizeof(dir), "%s/%s", root, name);
    if (n < 0 || (size_t)n >= sizeof(dir) || (size_t)n >= len) {
        snprintf(err, elen, "cgroup path %s/%s is too long", root, name);
        return -ALLOT_EINVAL;
    }
    if (mkdir(dir, 0755) == 0) {
        made = true;
    } else {
        struct stat sb;
        if (errno != EEXIST || lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            snprintf(err, elen, "create cgroup %s: %s", dir,
                     errno == EEXIST ? "exists and is not a directory" : strerror(errno));
            return -ALLOT_EIO;
        }
    }
    bool real = on_cgroupfs(dir);
    for (size_t i = 0; i < CGROUP_N_FILES; i++) {
        const struct cgroup_file *f = &cgroup_files[i];
        char path[PATH_MAX], text[64];
        if (f->controller == NULL && real)
            continue; /* the kernel's own cgroup.procs */
        if (snprintf(path, sizeof(path), "%s/%s", dir, f->name) >= (int)sizeof(path)) {
            snprintf(err, elen, "cgroup path %s is too long", dir);
            rc = -ALLOT_EINVAL;
            goto out;
        }
        if (f->controller == NULL) {
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (fd < 0) {
                snprintf(err, elen, "create %s: %s", path, strerror(errno));
                rc = -ALLOT_EIO;
                goto out;
            }
            close(fd);
            continue;
        }
        limit_text(f, lim, text, sizeof(text));
        int wrc = write_text(path, text, !real);
        if (wrc == -ENOENT && real && limit_value(f, lim) == 0)
            continue; /* controller not enabled, and nothing asked of it */
        if (wrc != 0) {
            if (wrc == -ENOENT && real) {
                snprintf(err, elen,
                         "cgroup %s has no %s: the %s controller is not enabled in %s's "
                         "cgroup.subtree_control",
                         dir, f->name, f->controller, root);
                rc = -ALLOT_ECONFIG;
            } else {
                snprintf(err, elen, "write %s: %s", path, strerror(-wrc));
                rc = -ALLOT_EIO;
            }
            goto out;
        }
    }
    memcpy(path_out, dir, (size_t)n + 1);
out:
    if (rc != 0 && made)
        cgroup_remove(dir);
    return rc;
}

/* Append the decimal digits of v to buf at *at (async-signal-safe). */
static void put_decimal(char *buf, size_t *at, unsigned long v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[(*at)++] = digits[--n];
}

int cgroup_attach(const char *path, pid_t pid)
{
    static const char procs[] = "/cgroup.procs";
    char file[PATH_MAX], text[32];
    if (!path || pid <= 0)
        return -ALLOT_EINVAL;
    size_t n = strlen(path);
    if (n + sizeof(procs) > sizeof(file))
        return -ALLOT_EINVAL;
    memcpy(file, path, n);
    memcpy(file + n, procs, sizeof(procs));
    size_t at = 0;
    put_decimal(text, &at, (unsigned long)pid);
    text[at++] = '\n';
    int fd = open(file, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? -ALLOT_ENOENT : -ALLOT_EIO;
    ssize_t w = write(fd, text, at);
    int rc = w == (ssize_t)at ? 0 : -ALLOT_EIO;
    if (close(fd) != 0)
        rc = -ALLOT_EIO;
    return rc;
}

int cgroup_kill(const char *path)
{
    char file[PATH_MAX];
    if (!path || snprintf(file, sizeof(file), "%s/cgroup.kill", path) >= (int)sizeof(file))
        return -ALLOT_EINVAL;
    int rc = write_text(file, "1", false);
    if (rc == -ENOENT)
        return -ALLOT_ENOENT;
    return rc == 0 ? 0 : -ALLOT_EIO;
}

int cgroup_remove(const char *path)
{
    struct stat sb;
    if (!path || !*path)
        return -ALLOT_EINVAL;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return -ALLOT_EIO;
    if (!on_cgroupfs(path)) {
        for (size_t i = 0; i < CGROUP_N_FILES; i++) {
            char file[PATH_MAX];
            if (snprintf(file, sizeof(file), "%s/%s", path, cgroup_files[i].name) >=
                (int)sizeof(file))
                return -ALLOT_EINVAL;
            if (unlink(file) != 0 && errno != ENOENT)
                return -ALLOT_EIO;
        }
    }
    if (rmdir(path) == 0 || errno == ENOENT)
        return 0;
    return errno == EBUSY ? -ALLOT_ESTATE : -ALLOT_EIO;
}
