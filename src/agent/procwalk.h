/* Walks of /proc that signal a process tree or the processes of a user, with no allocation
 * and async-signal-safe calls only, so that a keeper forked from the multi-threaded agent can
 * use them as well as the agent's loop. Rules: docs/agent-running.md ("Containment"). */
#ifndef ALLOT_AGENT_PROCWALK_H
#define ALLOT_AGENT_PROCWALK_H

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* The pidfd system calls, which the walks and their callers use through syscall(2) (glibc
 * wraps them only from 2.36 on). */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* Most processes one descendant walk looks at. Only those that may descend from a process
 * are kept: zombies, kernel threads and the children of pids 0, 1 and 2 are left out. */
#define PROCWALK_MAX 65536

/* Send sig to every living descendant of ancestor (its children, theirs, and so on, found by
 * the parent pids of /proc/<pid>/stat), except those in process group spare_pgid (0: none is
 * spared); ancestor itself is not signalled. Each process is pinned with a pidfd and checked
 * again before the signal, so that a pid reused meanwhile is never signalled. One walk at a
 * time per process (the table is static). Async-signal-safe.
 * RET the number of processes signalled; -ALLOT_EIO when /proc cannot be read; -ALLOT_ERANGE
 * when more than PROCWALK_MAX processes had to be kept (those that were kept are signalled:
 * the caller must not take the walk as complete). */
int procwalk_signal_descendants(pid_t ancestor, int sig, pid_t spare_pgid);

/* Send sig to every living process of which uid is the real, effective, saved or filesystem
 * user (so a setuid program started by that user is included, and a process that made
 * itself non-dumpable is not missed). Pinned and checked like procwalk_signal_descendants.
 * Async-signal-safe. RET the number of processes signalled, or -ALLOT_EIO. */
int procwalk_signal_uid(uid_t uid, int sig);

/* The state letter of pid (field 3 of /proc/<pid>/stat: 'R', 'S', 'T', 'Z', ...), or 0 when
 * there is no such process. Async-signal-safe. */
char procwalk_state(pid_t pid);

/* The start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat), which
 * tells a process from a later one with its pid; 0 if unknown. Not async-signal-safe. */
uint64_t procwalk_start_ticks(pid_t pid);

#endif
