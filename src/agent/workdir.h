/* A workload's directory under the runner's base directory: made the workload's own (0700,
 * its user), its log files and deadline file opened without following what the workload may
 * have planted, the space its files take, and its removal (docs/agent-running.md, "Storage"). */
#ifndef ALLOT_AGENT_WORKDIR_H
#define ALLOT_AGENT_WORKDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds of workdir_usage_bytes: directory depth and entries visited. */
#define WORKDIR_USAGE_MAX_DEPTH 64
#define WORKDIR_USAGE_MAX_ENTRIES 100000

/* Whose a workload's directory and files are. */
struct workdir_owner {
    const char *id;   /* the workload's, the directory's name under the base */
    bool switch_user; /* the workload runs as uid:gid, not as the agent */
    uid_t uid;
    gid_t gid;
};

/* Create (or reuse) base_dir/id and its RUNNER_TMP_DIR, both 0700 and the workload's, and open
 * the first (base_fd is base_dir). A symbolic link or a directory of another user is refused.
 * OUT *fd_out (>= 3, close-on-exec). RET 0 or -ALLOT_EIO with a sentence in err. */
int workdir_open(int base_fd, const char *base_dir, const struct workdir_owner *o, int *fd_out,
                 char *err, size_t len);
/* Open (append, create 0600) the log file name in the workload's directory dir_fd. A FIFO, a
 * link, a file with several names or a file of another user is refused. OUT *fd_out (>= 3,
 * close-on-exec). RET 0 or -ALLOT_EIO with a sentence in err. */
int workdir_open_log(int dir_fd, const char *name, const struct workdir_owner *o, int *fd_out,
                     char *err, size_t len);
/* Write deadline_ms to base_dir/id/RUNNER_DEADLINE_FILE atomically (temporary file, then
 * rename), never through a link the workload may have planted. Best effort: the signals are
 * what enforce the deadline. */
void workdir_write_deadline(int base_fd, const char *id, int64_t deadline_ms);

/* Bytes used by the files under workdir: the apparent sizes of regular files, symbolic
 * links not followed, other filesystems not entered, at most WORKDIR_USAGE_MAX_DEPTH deep and
 * WORKDIR_USAGE_MAX_ENTRIES entries (so the walk is short enough for the loop's thread).
 * Hard links are counted once per name. OUT *bytes. RET 0; -ALLOT_ERANGE when a bound was
 * hit, a directory could not be read or one vanished during the walk (*bytes is then a lower
 * bound, which is enough to stop a workload that is over its storage); -ALLOT_ENOENT;
 * -ALLOT_EINVAL (not a directory); -ALLOT_EIO. */
int workdir_usage_bytes(const char *workdir, uint64_t *bytes);

/* Remove path: a file, or a directory and everything in it (links removed, never followed;
 * other filesystems not entered). Missing is 0. RET 0; -ALLOT_EIO. */
int workdir_tree_remove(const char *path);

#endif
