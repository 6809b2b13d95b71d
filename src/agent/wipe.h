/* The node wipe's sweep of shared places: when a node passes to another tenant, the files the
 * old tenant's users left where every user of the node may write (/tmp, /var/tmp, /dev/shm)
 * go with its processes and replica directories. The wipe as a whole is in
 * docs/agent-running.md ("Wipe"). */
#ifndef ALLOT_AGENT_WIPE_H
#define ALLOT_AGENT_WIPE_H

#include <stddef.h>
#include <sys/types.h>

/* The shared directories swept unless configured (--wipe-dirs), separated by ':'. */
#define WIPE_DEFAULT_DIRS "/tmp:/var/tmp:/dev/shm"
/* Entries of one directory looked at, at most (a wipe must end). */
#define WIPE_MAX_ENTRIES 100000

/* Remove every entry directly in dir that belongs to one of uids[0..n) (the owner of a file
 * or directory), with everything under it: links removed, never followed; other filesystems
 * not entered. The processes of those users must be gone first (nothing may race the walk).
 * OUT *removed (may be NULL): entries removed. RET 0 (also for a missing dir); -ALLOT_EIO
 * when one could not be removed or dir not read (the others were); -ALLOT_ERANGE when dir
 * holds more than WIPE_MAX_ENTRIES entries (those seen were swept). */
int wipe_dir(const char *dir, const uid_t *uids, size_t n, size_t *removed);

/* wipe_dir on each directory of list ("a:b:c"). OUT *removed: in all. RET 0 or the first
 * error, with the directory it came from in err. */
int wipe_dirs(const char *list, const uid_t *uids, size_t n, size_t *removed, char *err,
              size_t len);

#endif
