/* The node agent's storage check of running replicas and sweep of finished replicas'
 * directories. */
#include "agent/storage.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/statefile.h"
#include "agent/task.h"

/* Remove the directories of replicas that ended more than --keep-finished ago and whose
 * output is shipped: "w<N>" entries of the work directory that no task or shipment uses and
 * that nothing has changed for that long (the directory, or its logs). */
static void workdirs_sweep(struct agent *a, const char *workdir)
{
    DIR *d = opendir(workdir);
    struct dirent *e;
    int64_t now = agent_now_ms();
    while (d && (e = readdir(d))) {
        if (!task_is_dir_name(e->d_name))
            continue;
        bool busy = false;
        for (int k = 0; k < a->tasks_end && !busy; k++)
            busy = a->tasks[k].used && strcmp(a->tasks[k].id, e->d_name) == 0;
        for (int k = 0; k < a->ships_end && !busy; k++) {
            const struct shipment *sh = &a->ships[k];
            const char *base = sh->used ? strrchr(sh->dir, '/') : NULL;
            busy = base && strcmp(base + 1, e->d_name) == 0;
        }
        struct stat sb, log;
        char path[300];
        if (busy || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue;
        int64_t changed = (int64_t)sb.st_mtime * 1000;
        snprintf(path, sizeof(path), "%s/" RUNNER_STDOUT_LOG, e->d_name);
        if (fstatat(dirfd(d), path, &log, AT_SYMLINK_NOFOLLOW) == 0 &&
            (int64_t)log.st_mtime * 1000 > changed)
            changed = (int64_t)log.st_mtime * 1000;
        snprintf(path, sizeof(path), "%s/" RUNNER_STDERR_LOG, e->d_name);
        if (fstatat(dirfd(d), path, &log, AT_SYMLINK_NOFOLLOW) == 0 &&
            (int64_t)log.st_mtime * 1000 > changed)
            changed = (int64_t)log.st_mtime * 1000;
        if (now - changed >= a->keep_ms && runner_workdir_remove(a->runner, e->d_name) != 0)
            fprintf(stderr, "allot-agent: cannot remove %s/%s\n", workdir, e->d_name);
    }
    if (d)
        closedir(d);
}

void storage_check(struct agent *a)
{
    limits_retry(&a->limits);
    workdirs_sweep(a, a->workdir);
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        uint64_t used;
        if (!t->used || !t->proc || t->limit_reason[0] ||
            !limits_storage_exceeded(runner_proc_workdir(t->proc), t->storage_bytes, &used))
            continue;
        snprintf(t->limit_reason, sizeof(t->limit_reason),
                 "storage above its limit: %" PRIu64 " bytes of %" PRIu64, used, t->storage_bytes);
        fprintf(stderr, "allot-agent: %s (rank %d): %s; killing it\n", t->name, t->rank,
                t->limit_reason);
        t->stopping = true;
        runner_stop(a->runner, t->proc, 0, t->limit_reason);
        statefile_save_soon(a);
    }
}
