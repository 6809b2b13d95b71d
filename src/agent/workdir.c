/* A workload's directory: made its own, its files opened safely, its size, its removal. */
#define _GNU_SOURCE /* FTW_ACTIONRETVAL, FTW_SKIP_SUBTREE */

#include "agent/workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/runner.h"
#include "agent/spawn.h"
#include "common/error.h"

/* Whether a file or directory of the workload, as fstat saw it, is one the runner may use:
 * owned by the agent or by the workload's user. */
static bool owner_ok(const struct stat *sb, const struct workdir_owner *o)
{
    return sb->st_uid == geteuid() || (o->switch_user && sb->st_uid == o->uid);
}

/* Create (or reuse) the directory name under parent_fd (whose path is parent, for errors) as
 * a 0700 directory of the workload's user and open it (workdir_open). */
static int open_own_dir(int parent_fd, const char *parent, const char *name,
                        const struct workdir_owner *o, int *fd_out, char *err, size_t len)
{
    struct stat sb;
    if (mkdirat(parent_fd, name, 0700) != 0 && errno != EEXIST) {
        snprintf(err, len, "create workload directory %s/%s: %s", parent, name, strerror(errno));
        return -ALLOT_EIO;
    }
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (fd = spawn_fd_high(fd)) < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, len, "open workload directory %s/%s: %s", parent, name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -ALLOT_EIO;
    }
    if (!owner_ok(&sb, o) || (o->switch_user && fchown(fd, o->uid, o->gid) != 0) ||
        fchmod(fd, 0700) != 0) {
        snprintf(err, len,
                 "workload directory %s/%s belongs to uid %u or cannot be given to "
                 "the workload",
                 parent, name, (unsigned)sb.st_uid);
        close(fd);
        return -ALLOT_EIO;
    }
    *fd_out = fd;
    return 0;
}

int workdir_open(int base_fd, const char *base_dir, const struct workdir_owner *o, int *fd_out,
                 char *err, size_t len)
{
    char workdir[PATH_MAX];
    snprintf(workdir, sizeof(workdir), "%s/%s", base_dir, o->id);
    int fd = -1, tmp_fd = -1;
    int rc = open_own_dir(base_fd, base_dir, o->id, o, &fd, err, len);
    if (rc == 0)
        rc = open_own_dir(fd, workdir, RUNNER_TMP_DIR, o, &tmp_fd, err, len);
    if (tmp_fd >= 0)
        close(tmp_fd);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int workdir_open_log(int dir_fd, const char *name, const struct workdir_owner *o, int *fd_out,
                     char *err, size_t len)
{
    struct stat sb;
    int fd = openat(dir_fd, name,
                    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0 || (fd = spawn_fd_high(fd)) < 0 || fstat(fd, &sb) != 0) {
        snprintf(err, len, "open %s of workload %s: %s", name, o->id, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -ALLOT_EIO;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 || !owner_ok(&sb, o) ||
        (o->switch_user && fchown(fd, o->uid, o->gid) != 0) ||
        fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0) {
        snprintf(err, len, "%s of workload %s is not a plain file of its own", name, o->id);
        close(fd);
        return -ALLOT_EIO;
    }
    *fd_out = fd;
    return 0;
}

void workdir_write_deadline(int base_fd, const char *id, int64_t deadline_ms)
{
    static const char tmp[] = RUNNER_DEADLINE_FILE ".tmp";
    int dir_fd = openat(base_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return;
    int fd = -1;
    if (unlinkat(dir_fd, tmp, 0) != 0 && errno != ENOENT)
        goto out;
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRId64 "\n", deadline_ms);
    struct stat dir_sb;
    if (write(fd, text, (size_t)n) != n || fstat(dir_fd, &dir_sb) != 0)
        goto out;
    if (geteuid() == 0 && fchown(fd, dir_sb.st_uid, dir_sb.st_gid) != 0)
        goto out;
    renameat(dir_fd, tmp, dir_fd, RUNNER_DEADLINE_FILE);
out:
    if (fd >= 0)
        close(fd);
    close(dir_fd);
}

/* nftw passes no context: the walk's state, one walk at a time per thread. */
static _Thread_local struct {
    uint64_t bytes;
    size_t entries;
    bool bounded;
} usage_walk;

static int usage_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    if (++usage_walk.entries > WORKDIR_USAGE_MAX_ENTRIES) {
        usage_walk.bounded = true;
        return FTW_STOP;
    }
    if (type == FTW_F && S_ISREG(sb->st_mode))
        usage_walk.bytes += (uint64_t)sb->st_size;
    else if (type == FTW_DNR || type == FTW_NS)
        usage_walk.bounded = true; /* unseen: the sum is a lower bound */
    if (type == FTW_D && ftw->level >= WORKDIR_USAGE_MAX_DEPTH) {
        usage_walk.bounded = true;
        return FTW_SKIP_SUBTREE;
    }
    return FTW_CONTINUE;
}

int workdir_usage_bytes(const char *workdir, uint64_t *bytes)
{
    struct stat sb;
    *bytes = 0;
    if (!workdir || !*workdir)
        return -ALLOT_EINVAL;
    if (lstat(workdir, &sb) != 0)
        return errno == ENOENT ? -ALLOT_ENOENT : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return -ALLOT_EINVAL;
    memset(&usage_walk, 0, sizeof(usage_walk));
    int rc = nftw(workdir, usage_visit, 16, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    *bytes = usage_walk.bytes;
    if (rc == -1 && errno == ENOENT)
        /* A directory vanished under the walk (the workload deletes as we count): what was
         * counted is a lower bound, unless the whole directory is gone. */
        return lstat(workdir, &sb) != 0 ? -ALLOT_ENOENT : -ALLOT_ERANGE;
    if (rc == -1)
        return -ALLOT_EIO;
    return usage_walk.bounded ? -ALLOT_ERANGE : 0;
}

/* nftw callback of workdir_tree_remove: everything, deepest first, links not followed. */
static int remove_visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int workdir_tree_remove(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -ALLOT_EIO;
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) == 0 || errno == ENOENT ? 0 : -ALLOT_EIO;
    return nftw(path, remove_visit, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) == 0 ? 0 : -ALLOT_EIO;
}
