/* Per-workspace users of the node agent: each workspace gets its own unprivileged uid, and a
 * gid of the same number, from a configured range; the assignments live in the agent's state
 * file, so a workspace keeps its uid across restarts. Also the kill of every process of one
 * of those uids. Rules: docs/agent.md ("Users"). */
#ifndef ALLOT_AGENT_IDENTITY_H
#define ALLOT_AGENT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* The range unless configured: far above the uids of people, of system accounts and of
 * systemd's dynamic users, one block of 65536 as container runtimes give out. */
#define IDENTITY_DEFAULT_RANGE "1000000000:65536"
/* Largest COUNT of a range: the table holds at most that many workspaces. */
#define IDENTITY_COUNT_MAX (1u << 20)
/* Longest workspace name ("tenant/workspace") in the table, bytes. */
#define IDENTITY_WORKSPACE_MAX 255

/* One workspace and its uid, as start + offset. */
struct identity_entry {
    char *workspace;
    uint32_t offset;
};

/* An agent's uid range and the workspaces it has given uids to. Caller-owned: identity_init,
 * identity_cleanup. */
struct identity {
    uid_t start;
    uint32_t count;
    struct identity_entry *entries; /* in the order assigned */
    size_t n, cap;
    uint32_t floor; /* new assignments start here (offsets below were retired), wrapping */
};

/* Parse "START:COUNT" (decimal; START at least 1, COUNT from 1 to IDENTITY_COUNT_MAX, the last
 * uid START + COUNT - 1 at most 4294967294, as (uid_t)-1 means "no uid"). OUT *start, *count.
 * RET 0; -ALLOT_ECONFIG with a sentence in err. */
int identity_parse_range(const char *text, uid_t *start, uint32_t *count, char *err, size_t len);

/* Whether any user or group the system knows (getpwent and getgrent, once each: the files and
 * whatever NSS adds) has an id in [start, start + count). Not thread-safe (the *ent calls):
 * for the agent's start. RET 0 when none has; -ALLOT_ECONFIG naming the first found. */
int identity_check_system(uid_t start, uint32_t count, char *err, size_t len);

/* identity_parse_range, identity_check_system, and an empty table. OUT *id (identity_cleanup
 * also after an error). RET 0 or -ALLOT_ECONFIG, with a sentence in err. */
int identity_init(struct identity *id, const char *range, char *err, size_t len);

/* Free the table. Accepts NULL. */
void identity_cleanup(struct identity *id);

/* Take the assignments kept in the state file: state is what identity_to_json made (NULL: none
 * kept yet). A kept range with another START, or a COUNT below an assigned offset, is refused:
 * workspaces would get other uids than the files and processes they own.
 * RET 0; -ALLOT_EPARSE (malformed: not an object, a bad name, an offset out of range, a
 * workspace or an offset twice); -ALLOT_ECONFIG (range changed); -ALLOT_ENOMEM; with a
 * sentence in err. On error the table is left as it was. */
int identity_load(struct identity *id, const json_t *state, char *err, size_t len);

/* The range and assignments as a new object for the state file:
 * {"uid_start": N, "uid_count": N, "uid_floor": N, "workspaces": {"tenant/ws": offset, ...}}.
 * NULL when out of
 * memory. */
json_t *identity_to_json(const struct identity *id);

/* The uid and gid (the same number) of workspace: the one it has, or else the first offset
 * from the floor on (wrapping) that no workspace has (an offset assigned is never given to
 * another workspace). OUT *uid,
 * *gid; *fresh is true when the uid was just assigned: the caller keeps the state file before
 * anything runs as it. RET 0; -ALLOT_EINVAL (empty or too long a name); -ALLOT_ERANGE (every
 * uid of the range is assigned); -ALLOT_ENOMEM. */
int identity_assign(struct identity *id, const char *workspace, uid_t *uid, gid_t *gid,
                    bool *fresh);

/* Forget every assignment (the node was wiped for another tenant: their processes and files
 * are gone) and move the floor past the offsets they had, so that the next tenant's
 * workspaces get uids nobody had before, until the range wraps around. */
void identity_retire(struct identity *id);

/* The uids assigned, in the order assigned, into out[0..max). RET how many are assigned, which
 * may be more than max. */
size_t identity_uids(const struct identity *id, uid_t *out, size_t max);

/* SIGKILL every process of which uid is a user (real, effective, saved or filesystem; see
 * procwalk_signal_uid), again until none is left or timeout_ms has passed, sleeping a little
 * between rounds (it blocks the caller). Only a uid of id's range: never 0, never one outside.
 * RET 0 when none is left; -ALLOT_EINVAL (uid 0 or outside the range); -ALLOT_ESTATE (some are
 * left at the timeout: stuck in the kernel, say); -ALLOT_EIO (/proc cannot be read). */
int identity_kill_uid(const struct identity *id, uid_t uid, int timeout_ms);

#endif
