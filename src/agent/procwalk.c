/* /proc walks without allocation (procwalk.h): the directory read with getdents64, each
 * process's stat or status read into a stack buffer, descendants found in a static table
 * sorted by pid, signals sent through pidfds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif

#include "agent/procwalk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"

/* One process as a descendant walk keeps it. */
struct procwalk_entry {
    pid_t pid, ppid, pgid;
    signed char descends; /* 0: not known yet; 1: descends from the ancestor; -1: does not */
};

/* The descendant walk's table: static, since a keeper may not allocate. */
static struct procwalk_entry walk_table[PROCWALK_MAX];

/* A record of getdents64. */
struct dirent64_record {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* "/proc/<pid>/<leaf>" into buf, which holds 64 bytes; leaf is at most 16 bytes. */
static void proc_path(char *buf, pid_t pid, const char *leaf)
{
    static const char prefix[] = "/proc/";
    char digits[24];
    size_t n = 0, at = sizeof(prefix) - 1;
    unsigned long v = (unsigned long)pid;
    memcpy(buf, prefix, at);
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        buf[at++] = digits[--n];
    buf[at++] = '/';
    memcpy(buf + at, leaf, strlen(leaf) + 1);
}

/* Up to len-1 bytes of /proc/<pid>/<leaf> into buf, NUL-terminated. RET the bytes read, or -1
 * when the process is gone or the file cannot be read. */
static ssize_t proc_read(pid_t pid, const char *leaf, char *buf, size_t len)
{
    char path[64];
    proc_path(path, pid, leaf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* The decimal number at *p, after blanks; *p moves past it. */
static long parse_long(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    bool negative = *s == '-';
    if (negative)
        s++;
    long v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    *p = s;
    return negative ? -v : v;
}

/* Whether a state letter is that of a process that has ended (or of none). */
static bool state_dead(char state)
{
    return state == 0 || state == 'Z' || state == 'X' || state == 'x';
}

/* Parent and process group of pid, from /proc/<pid>/stat, into *e. RET its state letter, or 0
 * when it is gone. */
static char read_stat(pid_t pid, struct procwalk_entry *e)
{
    char buf[512];
    if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0)
        return 0;
    /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return 0;
    char state = p[2];
    p += 3;
    e->pid = pid;
    e->ppid = (pid_t)parse_long(&p);
    e->pgid = (pid_t)parse_long(&p);
    e->descends = 0;
    return state;
}

char procwalk_state(pid_t pid)
{
    struct procwalk_entry e;
    return pid > 0 ? read_stat(pid, &e) : 0;
}

/* Call visit(pid, ctx) for every process of /proc, until visit returns non-zero.
 * RET 0, or -ALLOT_EIO. */
static int proc_foreach(int (*visit)(pid_t pid, void *ctx), void *ctx)
{
    int dir_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return -ALLOT_EIO;
    _Alignas(uint64_t) char buf[4096];
    int rc = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dir_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -ALLOT_EIO : 0;
            break;
        }
        for (long off = 0; off < n;) {
            const struct dirent64_record *d = (const void *)(buf + off);
            off += d->reclen;
            const char *s = d->name;
            long pid = *s ? parse_long(&s) : 0;
            if (*s == '\0' && pid > 0 && visit((pid_t)pid, ctx))
                goto out;
        }
    }
out:
    close(dir_fd);
    return rc;
}

/* Send sig through a pidfd to pid, once pinned, if still(pid, ctx) holds then. */
static bool signal_pinned(pid_t pid, int sig, bool (*still)(pid_t pid, const void *ctx),
                          const void *ctx)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return false;
    bool sent = still(pid, ctx) && syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0;
    close(pidfd);
    return sent;
}

/* ---- descendants ---- */

struct descendant_walk {
    pid_t ancestor;
    pid_t spare_pgid;
    size_t n;
    bool overflow;
    const struct procwalk_entry *entry; /* the one being signalled */
};

/* proc_foreach visitor: keep pid in the table if it may descend from the ancestor. */
static int keep_candidate(pid_t pid, void *arg)
{
    struct descendant_walk *w = arg;
    struct procwalk_entry e;
    if (pid == w->ancestor || state_dead(read_stat(pid, &e)))
        return 0;
    /* Children of 0, 1 and 2 (the idle task, init, kthreadd) descend from no workload. */
    if (e.ppid <= 2 && e.ppid != w->ancestor)
        return 0;
    if (w->n == PROCWALK_MAX) {
        w->overflow = true;
        return 1;
    }
    walk_table[w->n++] = e;
    return 0;
}

/* Sort walk_table[0..n) by pid. /proc lists pids in increasing order, so this insertion sort
 * is a linear check that rarely moves anything. */
static void sort_table(size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct procwalk_entry e = walk_table[i];
        size_t j = i;
        for (; j > 0 && walk_table[j - 1].pid > e.pid; j--)
            walk_table[j] = walk_table[j - 1];
        walk_table[j] = e;
    }
}

/* Index of pid in the sorted walk_table[0..n), or -1. */
static long find_entry(size_t n, pid_t pid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (walk_table[mid].pid == pid)
            return (long)mid;
        if (walk_table[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Whether walk_table[i] descends from ancestor: its chain of parents is followed up to the
 * ancestor, a process not in the table, or one already judged; the whole chain then gets
 * the verdict, so that no chain is followed twice. At most n steps (pids read at different
 * moments may form a cycle). */
static signed char resolve(size_t n, size_t i, pid_t ancestor)
{
    signed char verdict = -1;
    size_t at = i;
    for (size_t steps = 0; steps <= n; steps++) {
        if (walk_table[at].descends) {
            verdict = walk_table[at].descends;
            break;
        }
        if (walk_table[at].ppid == ancestor) {
            verdict = 1;
            break;
        }
        long up = find_entry(n, walk_table[at].ppid);
        if (up < 0)
            break;
        at = (size_t)up;
    }
    at = i;
    for (size_t steps = 0; steps <= n && !walk_table[at].descends; steps++) {
        walk_table[at].descends = verdict;
        long up = walk_table[at].ppid == ancestor ? -1 : find_entry(n, walk_table[at].ppid);
        if (up < 0)
            break;
        at = (size_t)up;
    }
    return verdict;
}

/* signal_pinned check: the process still has the parent the walk saw (or was reparented to
 * the ancestor, a subreaper) and is not in the spared group. */
static bool still_descends(pid_t pid, const void *arg)
{
    const struct descendant_walk *w = arg;
    struct procwalk_entry now;
    if (state_dead(read_stat(pid, &now)))
        return false;
    if (now.ppid != w->entry->ppid && now.ppid != w->ancestor)
        return false;
    return w->spare_pgid <= 0 || now.pgid != w->spare_pgid;
}

int procwalk_signal_descendants(pid_t ancestor, int sig, pid_t spare_pgid)
{
    struct descendant_walk w = {.ancestor = ancestor, .spare_pgid = spare_pgid};
    if (ancestor <= 0)
        return -ALLOT_EINVAL;
    int rc = proc_foreach(keep_candidate, &w);
    if (rc != 0)
        return rc;
    sort_table(w.n);
    int signalled = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (resolve(w.n, i, ancestor) <= 0)
            continue;
        if (spare_pgid > 0 && walk_table[i].pgid == spare_pgid)
            continue;
        w.entry = &walk_table[i];
        signalled += signal_pinned(walk_table[i].pid, sig, still_descends, &w);
    }
    return w.overflow ? -ALLOT_ERANGE : signalled;
}

/* ---- users ---- */

struct uid_walk {
    uid_t uid;
    int sig;
    int signalled;
};

/* Whether pid is alive and uid is one of its users (the Uid: line of /proc/<pid>/status:
 * real, effective, saved, filesystem). */
static bool runs_as(pid_t pid, const void *arg)
{
    const struct uid_walk *w = arg;
    char buf[4096];
    if (proc_read(pid, "status", buf, sizeof(buf)) <= 0)
        return false;
    const char *state = strstr(buf, "\nState:");
    if (state) {
        const char *s = state + 7;
        while (*s == ' ' || *s == '\t')
            s++;
        if (state_dead(*s))
            return false;
    }
    const char *p = strstr(buf, "\nUid:");
    if (!p)
        return false;
    p += 5;
    for (int i = 0; i < 4; i++)
        if ((uid_t)parse_long(&p) == w->uid)
            return true;
    return false;
}

/* proc_foreach visitor of procwalk_signal_uid. */
static int signal_if_user(pid_t pid, void *arg)
{
    struct uid_walk *w = arg;
    if (runs_as(pid, w))
        w->signalled += signal_pinned(pid, w->sig, runs_as, w);
    return 0;
}

int procwalk_signal_uid(uid_t uid, int sig)
{
    struct uid_walk w = {.uid = uid, .sig = sig};
    int rc = proc_foreach(signal_if_user, &w);
    return rc != 0 ? rc : w.signalled;
}

uint64_t procwalk_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2; /* field 3 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    return strtoull(p, NULL, 10);
}
