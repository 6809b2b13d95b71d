/* Per-workspace uids of the node agent (identity.h): the range and its check against the
 * system's users and groups, the assignment table and its JSON in the state file, and the kill
 * of a uid's processes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getpwent, getgrent */
#endif

#include "agent/identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/procwalk.h"
#include "common/array.h"
#include "common/error.h"

/* The last uid a range may hold: (uid_t)-1 means "no uid" to setuid and chown. */
#define IDENTITY_UID_LAST 4294967294ULL
/* The pause between two rounds of identity_kill_uid. */
#define IDENTITY_KILL_ROUND_MS 5

/* A decimal number of at most 10 digits at *p (no sign, no blank); *p moves past it.
 * RET true when there was one. */
static bool parse_decimal(const char **p, unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 11) {
        v = v * 10 + (unsigned long long)(*s++ - '0');
        digits++;
    }
    *p = s;
    *out = v;
    return digits > 0 && digits <= 10;
}

int identity_parse_range(const char *text, uid_t *start, uint32_t *count, char *err, size_t len)
{
    unsigned long long first, n;
    const char *p = text ? text : "";
    if (!parse_decimal(&p, &first) || *p++ != ':' || !parse_decimal(&p, &n) || *p) {
        snprintf(err, len, "--uid-range: expected START:COUNT in decimal, got '%.40s'",
                 text ? text : "");
        return -ALLOT_ECONFIG;
    }
    if (first == 0 || n == 0 || n > IDENTITY_COUNT_MAX || first + n - 1 > IDENTITY_UID_LAST) {
        snprintf(err, len,
                 "--uid-range %s: START must be at least 1, COUNT from 1 to %u, and "
                 "START + COUNT - 1 at most %llu",
                 text, IDENTITY_COUNT_MAX, IDENTITY_UID_LAST);
        return -ALLOT_ECONFIG;
    }
    *start = (uid_t)first;
    *count = (uint32_t)n;
    return 0;
}

/* Whether id lies in [start, start + count). */
static bool in_range(uint64_t id, uid_t start, uint32_t count)
{
    return id >= start && id - start < count;
}

int identity_check_system(uid_t start, uint32_t count, char *err, size_t len)
{
    int rc = 0;
    struct passwd *pw;
    setpwent();
    while (rc == 0 && (pw = getpwent()))
        if (in_range(pw->pw_uid, start, count) || in_range(pw->pw_gid, start, count)) {
            snprintf(err, len, "uid range %u:%u holds user %.64s (uid %u, gid %u)", (unsigned)start,
                     (unsigned)count, pw->pw_name, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
            rc = -ALLOT_ECONFIG;
        }
    endpwent();
    struct group *gr;
    setgrent();
    while (rc == 0 && (gr = getgrent()))
        if (in_range(gr->gr_gid, start, count)) {
            snprintf(err, len, "uid range %u:%u holds group %.64s (gid %u)", (unsigned)start,
                     (unsigned)count, gr->gr_name, (unsigned)gr->gr_gid);
            rc = -ALLOT_ECONFIG;
        }
    endgrent();
    return rc;
}

int identity_init(struct identity *id, const char *range, char *err, size_t len)
{
    memset(id, 0, sizeof(*id));
    int rc = identity_parse_range(range, &id->start, &id->count, err, len);
    if (rc == 0)
        rc = identity_check_system(id->start, id->count, err, len);
    return rc;
}

/* Free entries[0..n). */
static void free_entries(struct identity_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(entries[i].workspace);
    free(entries);
}

void identity_cleanup(struct identity *id)
{
    if (!id)
        return;
    free_entries(id->entries, id->n);
    id->entries = NULL;
    id->n = id->cap = 0;
}

/* The entry of workspace in entries[0..n), or NULL. */
static const struct identity_entry *find_workspace(const struct identity_entry *entries, size_t n,
                                                   const char *workspace)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].workspace, workspace) == 0)
            return &entries[i];
    return NULL;
}

/* Whether name can be a key of the table: 1 to IDENTITY_WORKSPACE_MAX bytes. */
static bool workspace_ok(const char *name)
{
    return name && *name && strlen(name) <= IDENTITY_WORKSPACE_MAX;
}

/* Append (workspace, offset) to id's table. RET 0 or -ALLOT_ENOMEM. */
static int append(struct identity *id, const char *workspace, uint32_t offset)
{
    if (ARRAY_GROW(id->entries, id->n, id->cap))
        return -ALLOT_ENOMEM;
    char *copy = strdup(workspace);
    if (!copy)
        return -ALLOT_ENOMEM;
    id->entries[id->n++] = (struct identity_entry){copy, offset};
    return 0;
}

int identity_load(struct identity *id, const json_t *state, char *err, size_t len)
{
    if (!state)
        return 0;
    const json_t *workspaces = json_object_get(state, "workspaces");
    json_int_t start = json_integer_value(json_object_get(state, "uid_start"));
    json_int_t count = json_integer_value(json_object_get(state, "uid_count"));
    if (!json_is_object(state) || !json_is_object(workspaces)) {
        snprintf(err, len, "state file: \"identities\" is not an object with \"workspaces\"");
        return -ALLOT_EPARSE;
    }
    if (json_object_size(workspaces) > 0 && start != (json_int_t)id->start) {
        snprintf(err, len,
                 "state file: workspaces have uids from %lld:%lld, not from --uid-range %u:%u "
                 "(a range keeps its START while uids are assigned)",
                 (long long)start, (long long)count, (unsigned)id->start, (unsigned)id->count);
        return -ALLOT_ECONFIG;
    }
    json_int_t floor = json_integer_value(json_object_get(state, "uid_floor"));
    if (floor < 0 || floor >= (json_int_t)id->count)
        floor = 0; /* a floor is a preference: out of this range, start from the bottom */
    /* Read into a new table, taken only when all of it is good. */
    struct identity read = {.start = id->start, .count = id->count, .floor = (uint32_t)floor};
    unsigned char *taken = calloc(id->count / 8 + 1, 1); /* a bit per offset */
    int rc = taken ? 0 : -ALLOT_ENOMEM;
    if (!taken)
        snprintf(err, len, "out of memory");
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)workspaces, name, v)
    {
        if (rc != 0)
            break;
        json_int_t offset = json_integer_value(v);
        if (!workspace_ok(name) || !json_is_integer(v) || offset < 0 ||
            find_workspace(read.entries, read.n, name)) {
            snprintf(err, len, "state file: workspace \"%.64s\": a bad name, offset or duplicate",
                     name);
            rc = -ALLOT_EPARSE;
            break;
        }
        if (offset >= (json_int_t)id->count) {
            snprintf(err, len,
                     "state file: workspace %.64s has uid %lld, outside --uid-range %u:%u (a "
                     "range keeps every uid it has assigned)",
                     name, (long long)(id->start + offset), (unsigned)id->start,
                     (unsigned)id->count);
            rc = -ALLOT_ECONFIG;
            break;
        }
        if (taken[offset / 8] & (1u << (offset % 8))) {
            snprintf(err, len, "state file: workspace %.64s has the uid of another", name);
            rc = -ALLOT_EPARSE;
            break;
        }
        taken[offset / 8] |= (unsigned char)(1u << (offset % 8));
        if ((rc = append(&read, name, (uint32_t)offset)) != 0)
            snprintf(err, len, "out of memory");
    }
    free(taken);
    if (rc != 0) {
        free_entries(read.entries, read.n);
        return rc;
    }
    identity_cleanup(id);
    id->entries = read.entries;
    id->n = read.n;
    id->cap = read.cap;
    id->floor = read.floor;
    return 0;
}

json_t *identity_to_json(const struct identity *id)
{
    json_t *workspaces = json_object();
    for (size_t i = 0; workspaces && i < id->n; i++)
        if (json_object_set_new(workspaces, id->entries[i].workspace,
                                json_integer(id->entries[i].offset)) != 0) {
            json_decref(workspaces);
            return NULL;
        }
    return workspaces ? json_pack("{s:I, s:I, s:I, s:o}", "uid_start", (json_int_t)id->start,
                                  "uid_count", (json_int_t)id->count, "uid_floor",
                                  (json_int_t)id->floor, "workspaces", workspaces)
                      : NULL;
}

int identity_assign(struct identity *id, const char *workspace, uid_t *uid, gid_t *gid, bool *fresh)
{
    *fresh = false;
    if (!workspace_ok(workspace))
        return -ALLOT_EINVAL;
    const struct identity_entry *e = find_workspace(id->entries, id->n, workspace);
    if (e) {
        *uid = (uid_t)(id->start + e->offset);
        *gid = (gid_t)*uid;
        return 0;
    }
    /* The first offset nobody has from the floor on: among n + 1 of them, one is free. */
    if (id->n >= id->count)
        return -ALLOT_ERANGE;
    uint32_t offset = id->floor;
    for (size_t k = 0; k <= id->n; k++) {
        offset = (uint32_t)((id->floor + k) % id->count);
        bool taken = false;
        for (size_t i = 0; i < id->n && !taken; i++)
            taken = id->entries[i].offset == offset;
        if (!taken)
            break;
    }
    int rc = append(id, workspace, (uint32_t)offset);
    if (rc != 0)
        return rc;
    *uid = (uid_t)(id->start + offset);
    *gid = (gid_t)*uid;
    *fresh = true;
    return 0;
}

void identity_retire(struct identity *id)
{
    uint32_t past = id->floor;
    for (size_t i = 0; i < id->n; i++) {
        uint32_t next = id->entries[i].offset + 1;
        /* past the highest offset in the order of the wrap that starts at the floor */
        if ((next + id->count - id->floor) % id->count > (past + id->count - id->floor) % id->count)
            past = next;
    }
    free_entries(id->entries, id->n);
    id->entries = NULL;
    id->n = id->cap = 0;
    id->floor = past % id->count;
}

size_t identity_uids(const struct identity *id, uid_t *out, size_t max)
{
    for (size_t i = 0; i < id->n && i < max; i++)
        out[i] = (uid_t)(id->start + id->entries[i].offset);
    return id->n;
}

int identity_kill_uid(const struct identity *id, uid_t uid, int timeout_ms)
{
    if (uid == 0 || !in_range(uid, id->start, id->count))
        return -ALLOT_EINVAL;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = IDENTITY_KILL_ROUND_MS * 1000000L};
    for (int waited = 0;; waited += IDENTITY_KILL_ROUND_MS) {
        int found = procwalk_signal_uid(uid, SIGKILL);
        if (found <= 0)
            return found; /* 0: none left (or -ALLOT_EIO) */
        if (waited >= timeout_ms)
            return -ALLOT_ESTATE;
        nanosleep(&pause, NULL);
    }
}
