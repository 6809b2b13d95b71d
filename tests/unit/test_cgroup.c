/* Unit tests for agent/cgroup.c against a temporary directory that stands in for cgroupfs:
 * exact limit file contents, attach, remove, name validation and writability, and that a
 * plain directory kills nothing; then, where this host has them (and the test runs as root),
 * against real cgroup v2 and v1 hierarchies: kinds, controllers, and the kill of processes
 * that left their session or group, through cgroup.kill, a freezer, or pids alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/cgroup.h"
#include "common/error.h"

struct fixture {
    char root[64]; /* mkdtemp: the stand-in for /sys/fs/cgroup/allot */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/allot-cgroup-XXXXXX");
    if (!mkdtemp(f->root)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    support_remove_tree(f->root);
    free(f);
    return 0;
}

/* The whole content of dir/name, or "<missing>" when it cannot be read. */
static const char *slurp(const char *dir, const char *name)
{
    static char buf[4096];
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return "<missing>";
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void test_limits_written(void **state)
{
    struct fixture *f = *state;
    struct cgroup_limits lim = {
        .memory_max = 8589934592ULL, .cpu_max_millicores = 1500, .pids_max = 512};
    char path[512], err[256] = "";
    assert_int_equal(cgroup_create(f->root, "w-1", &lim, path, sizeof(path), err, sizeof(err)), 0);
    char want[512];
    snprintf(want, sizeof(want), "%s/w-1", f->root);
    assert_string_equal(path, want);
    assert_string_equal(slurp(path, "memory.max"), "8589934592\n");
    assert_string_equal(slurp(path, "cpu.max"), "150000 100000\n");
    assert_string_equal(slurp(path, "pids.max"), "512\n");
    assert_string_equal(slurp(path, "cgroup.procs"), "");
}

static void test_unlimited_is_max(void **state)
{
    struct fixture *f = *state;
    struct cgroup_limits lim = {0};
    char path[512], err[256] = "";
    assert_int_equal(cgroup_create(f->root, "free", &lim, path, sizeof(path), err, sizeof(err)), 0);
    assert_string_equal(slurp(path, "memory.max"), "max\n");
    assert_string_equal(slurp(path, "cpu.max"), "max 100000\n");
    assert_string_equal(slurp(path, "pids.max"), "max\n");
    /* NULL limits mean the same. */
    assert_int_equal(cgroup_create(f->root, "free2", NULL, path, sizeof(path), err, sizeof(err)),
                     0);
    assert_string_equal(slurp(path, "memory.max"), "max\n");
}

static void test_cpu_quota_bounds(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "";
    /* Below the kernel's 1 ms minimum quota: raised to it. */
    struct cgroup_limits tiny = {.cpu_max_millicores = 1};
    assert_int_equal(cgroup_create(f->root, "tiny", &tiny, path, sizeof(path), err, sizeof(err)),
                     0);
    assert_string_equal(slurp(path, "cpu.max"), "1000 100000\n");
    /* Eight whole CPUs. */
    struct cgroup_limits eight = {.cpu_max_millicores = 8000};
    assert_int_equal(cgroup_create(f->root, "eight", &eight, path, sizeof(path), err, sizeof(err)),
                     0);
    assert_string_equal(slurp(path, "cpu.max"), "800000 100000\n");
    /* So large that the quota would overflow: unlimited. */
    struct cgroup_limits huge = {.cpu_max_millicores = UINT64_MAX};
    assert_int_equal(cgroup_create(f->root, "huge", &huge, path, sizeof(path), err, sizeof(err)),
                     0);
    assert_string_equal(slurp(path, "cpu.max"), "max 100000\n");
}

static void test_recreate_rewrites(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "";
    struct cgroup_limits a = {.memory_max = 1000, .pids_max = 10};
    struct cgroup_limits b = {.memory_max = 0, .pids_max = 20};
    assert_int_equal(cgroup_create(f->root, "again", &a, path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(cgroup_create(f->root, "again", &b, path, sizeof(path), err, sizeof(err)), 0);
    assert_string_equal(slurp(path, "memory.max"), "max\n");
    assert_string_equal(slurp(path, "pids.max"), "20\n");
}

static void test_attach_writes_pid(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "";
    assert_int_equal(cgroup_create(f->root, "att", NULL, path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(cgroup_attach(path, 4242), 0);
    assert_string_equal(slurp(path, "cgroup.procs"), "4242\n");
    assert_int_equal(cgroup_attach(path, getpid()), 0);
    char want[64];
    snprintf(want, sizeof(want), "4242\n%ld\n", (long)getpid());
    assert_string_equal(slurp(path, "cgroup.procs"), want);
    assert_int_equal(cgroup_attach(path, 0), -ALLOT_EINVAL);
    assert_int_equal(cgroup_attach(path, -5), -ALLOT_EINVAL);
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/nope", f->root);
    assert_int_equal(cgroup_attach(missing, 4242), -ALLOT_ENOENT);
    assert_false(exists(missing));
}

static void test_plain_directory_kills_nothing(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "", file[600];
    assert_int_equal(cgroup_create(f->root, "k", NULL, path, sizeof(path), err, sizeof(err)), 0);
    /* Its cgroup.procs lists the test itself (and pids that may be reused): nothing listed in
     * a plain directory is ever signalled, and no cgroup.kill is made. */
    assert_int_equal(cgroup_attach(path, getpid()), 0);
    assert_int_equal(cgroup_kill(path), -ALLOT_EINVAL);
    assert_int_equal(cgroup_kill_listed(path), -ALLOT_EINVAL);
    assert_int_equal(cgroup_signal(path, SIGKILL, 0), -ALLOT_EINVAL);
    snprintf(file, sizeof(file), "%s/cgroup.kill", path);
    assert_false(exists(file));
    assert_int_equal(cgroup_kind(path), CGROUP_KIND_PLAIN);
    assert_int_equal(cgroup_controllers(f->root), CGROUP_ALL);
    /* A cgroup that is not there holds nothing to kill. */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/missing", f->root);
    assert_int_equal(cgroup_kill(missing), 0);
}

static void test_remove_cleans_up(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "";
    struct cgroup_limits lim = {.memory_max = 1 << 20};
    assert_int_equal(cgroup_create(f->root, "gone", &lim, path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(cgroup_attach(path, 77), 0);
    assert_int_equal(cgroup_remove(path), 0);
    assert_false(exists(path));
    /* Idempotent. */
    assert_int_equal(cgroup_remove(path), 0);
    /* A file this module did not make is not removed: the directory stays. */
    assert_int_equal(cgroup_create(f->root, "kept", NULL, path, sizeof(path), err, sizeof(err)), 0);
    char other[600];
    snprintf(other, sizeof(other), "%s/notes.txt", path);
    FILE *fp = fopen(other, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(cgroup_remove(path), -ALLOT_EIO);
    assert_true(exists(other));
    assert_string_equal(slurp(path, "memory.max"), "<missing>");
}

static void test_bad_names(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"",     "..",      ".",     "a/b",    "../x",
                                      "/abs", ".hidden", "Upper", "sp ace", "x/../y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[512] = "untouched", err[256] = "";
        assert_int_equal(cgroup_create(f->root, bad[i], NULL, path, sizeof(path), err, sizeof(err)),
                         -ALLOT_EINVAL);
        assert_string_equal(path, "untouched");
        assert_non_null(strstr(err, "not a name"));
    }
    char path[512], err[256];
    assert_int_equal(cgroup_create(f->root, NULL, NULL, path, sizeof(path), err, sizeof(err)),
                     -ALLOT_EINVAL);
    char long_name[CGROUP_NAME_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(cgroup_create(f->root, long_name, NULL, path, sizeof(path), err, sizeof(err)),
                     -ALLOT_EINVAL);
    /* A path buffer too small for root/name is refused, not truncated. */
    char small[8];
    assert_int_equal(cgroup_create(f->root, "fits", NULL, small, sizeof(small), err, sizeof(err)),
                     -ALLOT_EINVAL);
    /* Nothing was created by any of them. */
    DIR *d = opendir(f->root);
    assert_non_null(d);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    assert_int_equal(entries, 0);
}

static void test_create_fails_cleanly(void **state)
{
    struct fixture *f = *state;
    char path[512], err[256] = "", file[600];
    /* root is a regular file: nothing can be created under it, for root too. */
    snprintf(file, sizeof(file), "%s/plain", f->root);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(cgroup_create(file, "w", NULL, path, sizeof(path), err, sizeof(err)),
                     -ALLOT_EIO);
    assert_non_null(strstr(err, "create cgroup"));
    /* name exists as a file, not a directory. */
    assert_int_equal(cgroup_create(f->root, "plain", NULL, path, sizeof(path), err, sizeof(err)),
                     -ALLOT_EIO);
    assert_non_null(strstr(err, "not a directory"));
}

static void test_writable(void **state)
{
    struct fixture *f = *state;
    assert_true(cgroup_writable(f->root));
    /* The probe leaves nothing behind. */
    DIR *d = opendir(f->root);
    assert_non_null(d);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    assert_int_equal(entries, 0);

    /* Unwritable for everyone, root included: a path under a regular file. */
    char file[600], under[700];
    snprintf(file, sizeof(file), "%s/regular", f->root);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(under, sizeof(under), "%s/cg", file);
    assert_false(cgroup_writable(under));
    assert_false(cgroup_writable(file));
    /* Missing, empty and NULL roots. */
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/missing", f->root);
    assert_false(cgroup_writable(missing));
    assert_false(cgroup_writable(""));
    assert_false(cgroup_writable(NULL));

    /* A 0500 directory: unwritable unless the caller bypasses permissions (root), and the
     * answer must be the truth either way. */
    char ro[600];
    snprintf(ro, sizeof(ro), "%s/ro", f->root);
    assert_int_equal(mkdir(ro, 0500), 0);
    assert_int_equal(chmod(ro, 0500), 0);
    bool can = access(ro, W_OK) == 0 || geteuid() == 0;
    assert_int_equal(cgroup_writable(ro), can);
    chmod(ro, 0700);
}

static void test_prepare(void **state)
{
    struct fixture *f = *state;
    char root[600], err[256] = "";
    snprintf(root, sizeof(root), "%s/allot", f->root);
    assert_int_equal(cgroup_prepare(root, err, sizeof(err)), 0);
    assert_true(cgroup_writable(root));
    /* Idempotent. */
    assert_int_equal(cgroup_prepare(root, err, sizeof(err)), 0);
    /* The parent must exist. */
    char deep[700];
    snprintf(deep, sizeof(deep), "%s/no/such/parent", f->root);
    assert_int_equal(cgroup_prepare(deep, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, deep));
    assert_int_equal(cgroup_prepare("", err, sizeof(err)), -ALLOT_EINVAL);
}

/* ---- real hierarchies ---- */

/* A cgroup under a real hierarchy, made by the test and removed by its teardown. */
struct real_fixture {
    char root[128];
    char cg[256];
};

/* A fixture with root = dir/allot-cgtest-<pid>, when dir is a hierarchy of kind and the test
 * runs as root; else the test is skipped. */
static int real_setup(void **state, const char *dir, enum cgroup_kind kind)
{
    struct real_fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    *state = f;
    if (geteuid() != 0 || cgroup_kind(dir) != kind)
        return 0;
    snprintf(f->root, sizeof(f->root), "%s/allot-cgtest-%ld", dir, (long)getpid());
    char err[256];
    if (cgroup_prepare(f->root, err, sizeof(err)) != 0) {
        f->root[0] = '\0';
        return 0;
    }
    if (cgroup_create(f->root, "w", NULL, f->cg, sizeof(f->cg), err, sizeof(err)) != 0)
        return -1;
    return 0;
}

static int v2_setup(void **state)
{
    /* A hybrid host mounts it at unified/; a cgroup v2 host at the top. */
    if (cgroup_kind("/sys/fs/cgroup") == CGROUP_KIND_V2)
        return real_setup(state, "/sys/fs/cgroup", CGROUP_KIND_V2);
    return real_setup(state, "/sys/fs/cgroup/unified", CGROUP_KIND_V2);
}

static int freezer_setup(void **state)
{
    return real_setup(state, "/sys/fs/cgroup/freezer", CGROUP_KIND_V1);
}

static int pids_setup(void **state)
{
    return real_setup(state, "/sys/fs/cgroup/pids", CGROUP_KIND_V1);
}

static int real_teardown(void **state)
{
    struct real_fixture *f = *state;
    if (f->root[0]) {
        /* Whatever a failed test left in it goes first. */
        for (int i = 0; i < 200 && cgroup_kill(f->cg) > 0; i++)
            support_sleep_ms(5);
        cgroup_remove(f->cg);
        cgroup_remove(f->root);
    }
    /* The test is a subreaper: the orphans it made are its own to reap. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    free(f);
    return 0;
}

/* Start, in cgroup cg, a process that starts three sleepers that escape: one in a new
 * session, one through a double fork (orphaned), one in a new process group. OUT pids[0..4):
 * the process (a child of the test, leading its own group) and the three sleepers. */
static void start_escapers(const char *cg, pid_t pids[4])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        setpgid(0, 0);
        if (cgroup_attach(cg, getpid()) != 0)
            _exit(1);
        for (int way = 0; way < 3; way++) {
            pid_t sleeper = fork();
            if (sleeper == 0) {
                if (way == 1 && fork() != 0)
                    _exit(0); /* the middle of a double fork */
                if (way == 0)
                    setsid();
                if (way == 2)
                    setpgid(0, 0);
                pid_t self[2] = {way, getpid()};
                if (write(fds[1], self, sizeof(self)) != sizeof(self))
                    _exit(1);
                execl("/bin/sleep", "sleep", "30", (char *)NULL);
                _exit(127);
            }
            if (way == 1)
                waitpid(sleeper, NULL, 0);
        }
        pause();
        _exit(0);
    }
    close(fds[1]);
    pids[0] = child;
    for (int i = 1; i < 4; i++) {
        pid_t sleeper[2]; /* way, pid: they come in any order */
        assert_int_equal(read(fds[0], sleeper, sizeof(sleeper)), sizeof(sleeper));
        assert_true(sleeper[0] >= 0 && sleeper[0] < 3);
        pids[1 + sleeper[0]] = sleeper[1];
    }
    close(fds[0]);
    assert_int_equal(getsid(pids[1]), pids[1]);
    assert_int_equal(getpgid(pids[3]), pids[3]);
    /* all four are members of the cgroup, whatever group or session they left for */
    const char *procs = slurp(cg, "cgroup.procs");
    for (int i = 0; i < 4; i++) {
        bool member = false;
        for (const char *p = procs; *p && !member; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
            member = strtol(p, NULL, 10) == pids[i];
        assert_true(member);
    }
}

/* kill(cg) until it says the cgroup is empty (at most 2 s); then every one of pids is dead and
 * the cgroup can be removed. */
static void assert_killed(const char *cg, int (*kill_fn)(const char *path), pid_t pids[4])
{
    int left = -1;
    for (int i = 0; i < 400 && left != 0; i++) {
        left = kill_fn(cg);
        assert_true(left >= 0);
        if (left)
            support_sleep_ms(5);
    }
    assert_int_equal(left, 0);
    for (int i = 0; i < 4; i++)
        assert_true(support_dead(pids[i]));
    assert_int_equal(cgroup_remove(cg), 0);
    waitpid(pids[0], NULL, 0);
}

static void test_v2(void **state)
{
    struct real_fixture *f = *state;
    if (!f->root[0])
        skip();
    assert_int_equal(cgroup_kind(f->cg), CGROUP_KIND_V2);
    /* Controllers come from the root's cgroup.subtree_control, whatever the host offers. */
    unsigned bits = cgroup_controllers(f->root);
    assert_true((bits & ~CGROUP_ALL) == 0);
    pid_t pids[4];
    start_escapers(f->cg, pids);
    assert_killed(f->cg, cgroup_kill, pids);
    /* Where the kernel has no cgroup.kill: freeze, kill what is listed, thaw. */
    char err[256];
    assert_int_equal(cgroup_create(f->root, "w", NULL, f->cg, sizeof(f->cg), err, sizeof(err)), 0);
    start_escapers(f->cg, pids);
    assert_killed(f->cg, cgroup_kill_listed, pids);
}

static void test_v1_freezer(void **state)
{
    struct real_fixture *f = *state;
    if (!f->root[0])
        skip();
    assert_int_equal(cgroup_kind(f->cg), CGROUP_KIND_V1);
    assert_int_equal(cgroup_controllers(f->root), 0);
    assert_string_equal(slurp(f->cg, "freezer.state"), "THAWED\n");
    pid_t pids[4];
    start_escapers(f->cg, pids);
    assert_killed(f->cg, cgroup_kill, pids);
}

static void test_v1_pids(void **state)
{
    struct real_fixture *f = *state;
    if (!f->root[0])
        skip();
    assert_int_equal(cgroup_controllers(f->root), CGROUP_PIDS);
    /* pids.max is written; the others are not there and not asked for. */
    char err[256];
    struct cgroup_limits lim = {.pids_max = 64};
    assert_int_equal(cgroup_create(f->root, "w", &lim, f->cg, sizeof(f->cg), err, sizeof(err)), 0);
    assert_string_equal(slurp(f->cg, "pids.max"), "64\n");
    lim.memory_max = 1 << 20;
    char other[256];
    assert_int_equal(cgroup_create(f->root, "m", &lim, other, sizeof(other), err, sizeof(err)),
                     -ALLOT_ECONFIG);
    pid_t pids[4];
    start_escapers(f->cg, pids);
    /* A signal to those that left the first process's group: two of the sleepers. */
    assert_int_equal(cgroup_signal(f->cg, SIGCONT, pids[0]), 2);
    assert_killed(f->cg, cgroup_kill, pids);
}

int main(void)
{
    /* Orphans of the kill tests come back to the test, which reaps them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v2, v2_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_v1_freezer, freezer_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_v1_pids, pids_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_limits_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlimited_is_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpu_quota_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recreate_rewrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_writes_pid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_directory_kills_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_cleans_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
