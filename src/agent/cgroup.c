/* cgroup directories, limit files and kills for workloads (cgroup.h), in the v2 hierarchy, a
 * v1 hierarchy, or a plain directory standing in for a v2 one: statfs tells which, and only
 * the plain directory gets files created and removed by this code. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* statfs, O_NOFOLLOW and friends under -D_POSIX_C_SOURCE */
#endif

#include "agent/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
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
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* The files cgroup_create writes: name, the controller that provides it (NULL: the kernel's
 * own, created only on a plain directory) with its CGROUP_* bit, and the field of struct
 * cgroup_limits it holds. The same table tells cgroup_remove which files a plain directory
 * may hold, and cgroup_controllers which controllers a v2 root enables. */
struct cgroup_file {
    const char *name;
    const char *controller;
    unsigned bit;
    size_t field; /* offsetof(struct cgroup_limits, ...), or CGROUP_NO_FIELD */
};
#define CGROUP_NO_FIELD ((size_t)-1)

static const struct cgroup_file cgroup_files[] = {
    {"memory.max", "memory", CGROUP_MEMORY, offsetof(struct cgroup_limits, memory_max)},
    {"cpu.max", "cpu", CGROUP_CPU, offsetof(struct cgroup_limits, cpu_max_millicores)},
    {"pids.max", "pids", CGROUP_PIDS, offsetof(struct cgroup_limits, pids_max)},
    {"cgroup.procs", NULL, 0, CGROUP_NO_FIELD},
};
#define CGROUP_N_FILES (sizeof(cgroup_files) / sizeof(cgroup_files[0]))
/* The rows of cgroup_files that are limits (those with a controller) come first. */
#define CGROUP_N_LIMITS 3

/* How a cgroup is frozen around a kill by listed pids, where it can be: the file, and what
 * freezes and thaws it. */
static const struct {
    const char *file;
    const char *freeze;
    const char *thaw;
} cgroup_freezers[] = {
    {"freezer.state", "FROZEN", "THAWED"}, /* v1 freezer hierarchy */
    {"cgroup.freeze", "1", "0"},           /* v2, Linux 5.2+ */
};
#define CGROUP_N_FREEZERS (sizeof(cgroup_freezers) / sizeof(cgroup_freezers[0]))

enum cgroup_kind cgroup_kind(const char *path)
{
    struct statfs sf;
    if (!path || statfs(path, &sf) != 0)
        return CGROUP_KIND_PLAIN;
    if ((unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC)
        return CGROUP_KIND_V2;
    if ((unsigned long)sf.f_type == CGROUP_SUPER_MAGIC)
        return CGROUP_KIND_V1;
    return CGROUP_KIND_PLAIN;
}

/* Whether path lies on a cgroup filesystem, v1 or v2. */
static bool on_cgroupfs(const char *path)
{
    return cgroup_kind(path) != CGROUP_KIND_PLAIN;
}

/* dir/name into buf. RET 0, or -ALLOT_EINVAL when it does not fit. */
static int join_path(char *buf, size_t len, const char *dir, const char *name)
{
    return snprintf(buf, len, "%s/%s", dir, name) < (int)len ? 0 : -ALLOT_EINVAL;
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
    char offered[256], control[PATH_MAX], path[PATH_MAX];
    if (!root || !*root || strlen(root) > PATH_MAX - 32) {
        snprintf(err, elen, "cgroup root is empty or too long");
        return -ALLOT_EINVAL;
    }
    if (mkdir(root, 0755) != 0 && errno != EEXIST) {
        snprintf(err, elen, "create cgroup root %s: %s", root, strerror(errno));
        return -ALLOT_EIO;
    }
    if (cgroup_kind(root) != CGROUP_KIND_V2)
        return 0;
    join_path(path, sizeof(path), root, "cgroup.controllers");
    join_path(control, sizeof(control), root, "cgroup.subtree_control");
    if (read_text(path, offered, sizeof(offered)) != 0)
        offered[0] = '\0';
    /* One controller per write, so that the error names the one that failed. */
    for (size_t i = 0; i < CGROUP_N_LIMITS; i++) {
        char word[16];
        if (!has_word(offered, cgroup_files[i].controller))
            continue; /* not offered by the parent: left off, limits fall back */
        snprintf(word, sizeof(word), "+%s", cgroup_files[i].controller);
        int rc = write_text(control, word, false);
        if (rc != 0) {
            snprintf(err, elen, "enable the %s controller in %s: %s", cgroup_files[i].controller,
                     control, strerror(-rc));
            return -ALLOT_EIO;
        }
    }
    return 0;
}

unsigned cgroup_controllers(const char *root)
{
    char path[PATH_MAX], text[256];
    unsigned bits = 0;
    enum cgroup_kind kind = cgroup_kind(root);
    if (kind == CGROUP_KIND_PLAIN)
        return CGROUP_ALL;
    if (kind == CGROUP_KIND_V2 &&
        (join_path(path, sizeof(path), root, "cgroup.subtree_control") != 0 ||
         read_text(path, text, sizeof(text)) != 0))
        return 0;
    for (size_t i = 0; i < CGROUP_N_LIMITS; i++) {
        const struct cgroup_file *f = &cgroup_files[i];
        struct stat sb;
        if (kind == CGROUP_KIND_V2
                ? has_word(text, f->controller)
                : join_path(path, sizeof(path), root, f->name) == 0 && stat(path, &sb) == 0)
            bits |= f->bit;
    }
    return bits;
}

bool cgroup_writable(const char *root)
{
    if (!root || !*root)
        return false;
    struct stat sb;
    if (stat(root, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return false;
    char path[PATH_MAX];
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

/* Make the directory of cgroup name under root: dir (PATH_MAX bytes) and *made (whether this
 * call made it, else it was there: the caller removes it on a later failure only if made).
 * name is checked, and the path must fit len bytes too (the caller's copy). RET 0,
 * -ALLOT_EINVAL, -ALLOT_EIO with a sentence in err. */
static int cgroup_dir_make(const char *root, const char *name, size_t len, char *dir, bool *made,
                           char *err, size_t elen)
{
    *made = false;
    if (!name || !name_is_valid(name, strlen(name), CGROUP_NAME_MAX)) {
        snprintf(err, elen, "cgroup name \"%.*s\" is not a name ([a-z0-9][a-z0-9._-]*, at most %d)",
                 64, name ? name : "", CGROUP_NAME_MAX);
        return -ALLOT_EINVAL;
    }
    int n = snprintf(dir, PATH_MAX, "%s/%s", root, name);
    if (n < 0 || n >= PATH_MAX || (size_t)n >= len) {
        snprintf(err, elen, "cgroup path %s/%s is too long", root, name);
        return -ALLOT_EINVAL;
    }
    if (mkdir(dir, 0755) == 0) {
        *made = true;
        return 0;
    }
    struct stat sb;
    if (errno != EEXIST || lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, elen, "create cgroup %s: %s", dir,
                 errno == EEXIST ? "exists and is not a directory" : strerror(errno));
        return -ALLOT_EIO;
    }
    return 0;
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
    if ((rc = cgroup_dir_make(root, name, len, dir, &made, err, elen)) != 0)
        return rc;
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
                         "cgroup %s has no %s: the %s controller is not available under %s", dir,
                         f->name, f->controller, root);
                rc = -ALLOT_ECONFIG;
            } else {
                snprintf(err, elen, "write %s: %s", path, strerror(-wrc));
                rc = -ALLOT_EIO;
            }
            goto out;
        }
    }
    memcpy(path_out, dir, strlen(dir) + 1); /* fits len: cgroup_dir_make checked */
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

/* Call visit(pid, ctx) for each pid listed in path/cgroup.procs, read in pieces (the list
 * has no bound). RET the number listed; -ALLOT_EINVAL (not on a cgroupfs); -ALLOT_EIO. */
static int for_each_listed(const char *path, void (*visit)(pid_t pid, void *ctx), void *ctx)
{
    char file[PATH_MAX], buf[4096];
    if (!path || !on_cgroupfs(path) || join_path(file, sizeof(file), path, "cgroup.procs") != 0)
        return -ALLOT_EINVAL;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -ALLOT_EIO;
    int listed = 0;
    long pid = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = pid * 10 + (buf[i] - '0');
            } else if (pid > 0) {
                visit((pid_t)pid, ctx);
                listed++;
                pid = 0;
            }
        }
    }
    if (pid > 0) {
        visit((pid_t)pid, ctx);
        listed++;
    }
    int rc = n < 0 ? -ALLOT_EIO : listed;
    close(fd);
    return rc;
}

struct cgroup_signal_call {
    int sig;
    pid_t spare_pgid;
    int signalled;
};

static void signal_listed(pid_t pid, void *arg)
{
    struct cgroup_signal_call *c = arg;
    if (c->spare_pgid > 0 && getpgid(pid) == c->spare_pgid)
        return;
    c->signalled += kill(pid, c->sig) == 0;
}

int cgroup_signal(const char *path, int sig, pid_t spare_pgid)
{
    struct cgroup_signal_call c = {.sig = sig, .spare_pgid = spare_pgid};
    int rc = for_each_listed(path, signal_listed, &c);
    return rc < 0 ? rc : c.signalled;
}

/* for_each_listed visitor that only counts. */
static void count_listed(pid_t pid, void *arg)
{
    (void)pid;
    (void)arg;
}

int cgroup_kill_listed(const char *path)
{
    char file[PATH_MAX];
    const char *thaw = NULL;
    if (!path || !on_cgroupfs(path))
        return -ALLOT_EINVAL;
    /* Empty, it stays so (only its members can fork into it): no freeze, which costs
     * milliseconds in v1. This is the common case, a workload that left nothing behind. */
    int listed = for_each_listed(path, count_listed, NULL);
    if (listed <= 0)
        return listed;
    for (size_t i = 0; i < CGROUP_N_FREEZERS && !thaw; i++)
        if (join_path(file, sizeof(file), path, cgroup_freezers[i].file) == 0 &&
            write_text(file, cgroup_freezers[i].freeze, false) == 0)
            thaw = cgroup_freezers[i].thaw;
    struct cgroup_signal_call c = {.sig = SIGKILL};
    int rc = for_each_listed(path, signal_listed, &c);
    /* Frozen processes die of their SIGKILL once thawed. */
    if (thaw)
        write_text(file, thaw, false);
    return rc;
}

int cgroup_kill(const char *path)
{
    char file[PATH_MAX];
    struct stat sb;
    if (!path || join_path(file, sizeof(file), path, "cgroup.kill") != 0)
        return -ALLOT_EINVAL;
    if (lstat(path, &sb) != 0 && errno == ENOENT)
        return 0; /* no cgroup: nothing in it */
    if (!on_cgroupfs(path))
        return -ALLOT_EINVAL;
    int rc = write_text(file, "1", false);
    if (rc == -ENOENT)
        return cgroup_kill_listed(path);
    if (rc != 0)
        return -ALLOT_EIO;
    return for_each_listed(path, count_listed, NULL);
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

/* ---- the v1 devices controller -------------------------------------------------------- */

/* What runc allows every container (libcontainer's AllowedDevices): mknod of any node, and
 * the character devices a program expects to open. */
static const struct cgroup_device_rule cgroup_standard_devices[] = {
    {'c', -1, -1, "m"},    /* mknod of any character device */
    {'b', -1, -1, "m"},    /* ... and block device */
    {'c', 1, 3, "rwm"},    /* /dev/null */
    {'c', 1, 5, "rwm"},    /* /dev/zero */
    {'c', 1, 7, "rwm"},    /* /dev/full */
    {'c', 1, 8, "rwm"},    /* /dev/random */
    {'c', 1, 9, "rwm"},    /* /dev/urandom */
    {'c', 5, 0, "rwm"},    /* /dev/tty */
    {'c', 5, 2, "rwm"},    /* /dev/ptmx */
    {'c', 136, -1, "rwm"}, /* /dev/pts/N */
};
#define CGROUP_N_STANDARD_DEVICES                                                                  \
    (sizeof(cgroup_standard_devices) / sizeof(cgroup_standard_devices[0]))

/* rule as a line of devices.allow into text. RET 0, or -ALLOT_EINVAL for a rule that is none. */
static int device_rule_text(const struct cgroup_device_rule *rule, char *text, size_t len)
{
    char major[24], minor[24];
    size_t n = strnlen(rule->access, sizeof(rule->access));
    bool ok = (rule->type == 'c' || rule->type == 'b' || rule->type == 'a') && n > 0 &&
              n < sizeof(rule->access) && rule->major >= -1 && rule->minor >= -1 &&
              rule->major <= 0xfff && rule->minor <= 0xfffff;
    for (size_t i = 0; ok && i < n; i++)
        ok = strchr("rwm", rule->access[i]) != NULL;
    if (!ok)
        return -ALLOT_EINVAL;
    if (rule->major < 0)
        snprintf(major, sizeof(major), "*");
    else
        snprintf(major, sizeof(major), "%" PRId64, rule->major);
    if (rule->minor < 0)
        snprintf(minor, sizeof(minor), "*");
    else
        snprintf(minor, sizeof(minor), "%" PRId64, rule->minor);
    snprintf(text, len, "%c %s:%s %s", rule->type, major, minor, rule->access);
    return 0;
}

bool cgroup_is_devices(const char *root)
{
    char file[PATH_MAX];
    struct stat sb;
    if (!root || snprintf(file, sizeof(file), "%s/devices.allow", root) >= (int)sizeof(file))
        return false;
    return cgroup_kind(root) == CGROUP_KIND_V1 && stat(file, &sb) == 0;
}

int cgroup_devices_create(const char *root, const char *name,
                          const struct cgroup_device_rule *rules, size_t n, char *path_out,
                          size_t len, char *err, size_t elen)
{
    char dir[PATH_MAX], file[PATH_MAX + 32], text[64];
    bool made = false;
    int rc = 0;
    if (!root || !*root || !path_out || (n > 0 && !rules)) {
        snprintf(err, elen, "devices cgroup root, rules and path buffer are required");
        return -ALLOT_EINVAL;
    }
    if (n > CGROUP_MAX_DEVICE_RULES - CGROUP_N_STANDARD_DEVICES) {
        snprintf(err, elen, "%zu device rules; at most %zu", n,
                 CGROUP_MAX_DEVICE_RULES - CGROUP_N_STANDARD_DEVICES);
        return -ALLOT_ERANGE;
    }
    if (!cgroup_is_devices(root)) {
        snprintf(err, elen, "%s is not in a cgroup v1 devices hierarchy", root);
        return -ALLOT_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (device_rule_text(&rules[i], text, sizeof(text)) != 0) {
            snprintf(err, elen, "device rule %zu is not a rule of devices.allow", i);
            return -ALLOT_EINVAL;
        }
    if ((rc = cgroup_dir_make(root, name, len, dir, &made, err, elen)) != 0)
        return rc;
    /* Deny everything first, then allow: the cgroup never allows more than it should. */
    snprintf(file, sizeof(file), "%s/devices.deny", dir);
    int wrc = write_text(file, "a", false);
    for (size_t i = 0; wrc == 0 && i < CGROUP_N_STANDARD_DEVICES + n; i++) {
        const struct cgroup_device_rule *rule = i < CGROUP_N_STANDARD_DEVICES
                                                    ? &cgroup_standard_devices[i]
                                                    : &rules[i - CGROUP_N_STANDARD_DEVICES];
        device_rule_text(rule, text, sizeof(text));
        snprintf(file, sizeof(file), "%s/devices.allow", dir);
        wrc = write_text(file, text, false);
    }
    if (wrc != 0) {
        snprintf(err, elen, "write %s: %s", file, strerror(-wrc));
        rc = -ALLOT_EIO;
        goto out;
    }
    memcpy(path_out, dir, strlen(dir) + 1); /* fits len: cgroup_dir_make checked */
out:
    if (rc != 0 && made)
        cgroup_remove(dir);
    return rc;
}
