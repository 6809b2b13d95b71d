/* The sweep of shared directories for the node wipe (wipe.h). */
#include "agent/wipe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/workdir.h"
#include "common/error.h"

int wipe_dir(const char *dir, const uid_t *uids, size_t n, size_t *removed)
{
    size_t gone = 0, seen = 0;
    int rc = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (removed)
            *removed = 0;
        return errno == ENOENT ? 0 : -ALLOT_EIO;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++seen > WIPE_MAX_ENTRIES) {
            rc = rc ? rc : -ALLOT_ERANGE;
            break;
        }
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile */
        bool theirs = false;
        for (size_t i = 0; i < n && !theirs; i++)
            theirs = sb.st_uid == uids[i];
        if (!theirs)
            continue;
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
            workdir_tree_remove(path) != 0)
            rc = rc ? rc : -ALLOT_EIO;
        else
            gone++;
    }
    closedir(d);
    if (removed)
        *removed = gone;
    return rc;
}

int wipe_dirs(const char *list, const uid_t *uids, size_t n, size_t *removed, char *err, size_t len)
{
    int first = 0;
    *removed = 0;
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, ":");
        char dir[PATH_MAX];
        if (k > 0 && k < sizeof(dir)) {
            memcpy(dir, p, k);
            dir[k] = '\0';
            size_t gone = 0;
            int rc = wipe_dir(dir, uids, n, &gone);
            *removed += gone;
            if (rc && !first) {
                first = rc;
                snprintf(err, len, "%s: %s", dir, allot_strerror(rc));
            }
        }
        p += k + (p[k] == ':');
    }
    return first;
}
