/* Unit tests for agent/identity.c: uid range parsing and its bounds, the refusal of a range
 * that holds a user or group of the system, distinct and stable uids per workspace, the
 * lowest free offset, exhaustion, the state file's JSON both ways and what it refuses, and
 * (as root) the kill of every process of one uid, never of uid 0 or of a uid outside the
 * range. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getpwent, getgrent */
#endif

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

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/identity.h"
#include "common/error.h"

/* Far from any user of a test machine, and from the agent's default range. */
#define TEST_START 1700000000u

static void test_parse_range(void **state)
{
    uid_t start = 0;
    uint32_t count = 0;
    char err[256];
    assert_int_equal(identity_parse_range("1000000000:65536", &start, &count, err, sizeof(err)), 0);
    assert_int_equal(start, 1000000000u);
    assert_int_equal(count, 65536);
    assert_int_equal(identity_parse_range("1:1", &start, &count, err, sizeof(err)), 0);
    assert_int_equal(start, 1);
    assert_int_equal(count, 1);
    /* The last uid a range may hold is 4294967294: (uid_t)-1 means none. */
    assert_int_equal(identity_parse_range("4294967294:1", &start, &count, err, sizeof(err)), 0);
    assert_int_equal(start, 4294967294u);
    static const struct {
        const char *text;
        const char *needle;
    } bad[] = {
        {"", "START:COUNT"},
        {"abc", "START:COUNT"},
        {"100", "START:COUNT"},
        {"100:", "START:COUNT"},
        {":100", "START:COUNT"},
        {"100:5x", "START:COUNT"},
        {" 100:5", "START:COUNT"},
        {"-1:5", "START:COUNT"},
        {"+1:5", "START:COUNT"},
        {"1:2:3", "START:COUNT"},
        {"99999999999:1", "START:COUNT"}, /* 11 digits */
        {"0:10", "at least 1"},           /* uid 0 is root */
        {"10:0", "COUNT from 1"},
        {"10:1048577", "COUNT from 1"},
        {"4294967290:10", "at most 4294967294"},
        {"4294967295:1", "at most 4294967294"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        start = 7;
        count = 7;
        err[0] = '\0';
        assert_int_equal(identity_parse_range(bad[i].text, &start, &count, err, sizeof(err)),
                         -ALLOT_ECONFIG);
        if (!strstr(err, bad[i].needle))
            fail_msg("'%s': \"%s\" lacks \"%s\"", bad[i].text, err, bad[i].needle);
        assert_int_equal(start, 7);
        assert_int_equal(count, 7);
    }
    assert_int_equal(identity_parse_range(NULL, &start, &count, err, sizeof(err)), -ALLOT_ECONFIG);
}

static void test_overlap_with_the_system(void **state)
{
    char err[256] = "";
    /* root (uid 0) is refused by the parse; uid 1 up to 99 always holds a system user here
     * (daemon, bin, ...) and 65534 nobody: either is named. */
    assert_int_equal(identity_check_system(1, 100, err, sizeof(err)), -ALLOT_ECONFIG);
    assert_non_null(strstr(err, "holds"));
    assert_int_equal(identity_check_system(65534, 1, err, sizeof(err)), -ALLOT_ECONFIG);
    assert_non_null(strstr(err, "65534"));
    /* A group alone is enough: one whose id no user has, as uid or as group. */
    struct group *g;
    gid_t lone = 0;
    setgrent();
    while (!lone && (g = getgrent())) {
        bool used = g->gr_gid == 0;
        struct passwd *pw;
        setpwent();
        while (!used && (pw = getpwent()))
            used = pw->pw_uid == g->gr_gid || pw->pw_gid == g->gr_gid;
        endpwent();
        if (!used)
            lone = g->gr_gid;
    }
    endgrent();
    if (lone) {
        assert_int_equal(identity_check_system(lone, 1, err, sizeof(err)), -ALLOT_ECONFIG);
        assert_non_null(strstr(err, "holds group"));
    }
    assert_int_equal(identity_check_system(TEST_START, 65536, err, sizeof(err)), 0);
    struct identity id;
    assert_int_equal(identity_init(&id, "60000:10000", err, sizeof(err)), -ALLOT_ECONFIG);
    identity_cleanup(&id);
    assert_int_equal(identity_init(&id, "0:5", err, sizeof(err)), -ALLOT_ECONFIG);
    identity_cleanup(&id);
    assert_int_equal(identity_init(&id, IDENTITY_DEFAULT_RANGE, err, sizeof(err)), 0);
    assert_int_equal(id.start, 1000000000u);
    assert_int_equal(id.count, 65536);
    identity_cleanup(&id);
    identity_cleanup(NULL);
}

/* An identity over start:count. */
static void make_at(struct identity *id, uid_t start, uint32_t count)
{
    char range[64], err[256];
    snprintf(range, sizeof(range), "%u:%u", (unsigned)start, count);
    assert_int_equal(identity_init(id, range, err, sizeof(err)), 0);
}

/* An identity over TEST_START:count. */
static void make(struct identity *id, uint32_t count)
{
    make_at(id, TEST_START, count);
}

static void test_distinct_and_stable(void **state)
{
    struct identity id;
    make(&id, 1000);
    uid_t uid;
    gid_t gid;
    bool fresh;
    assert_int_equal(identity_assign(&id, "beta/dev", &uid, &gid, &fresh), 0);
    assert_true(fresh);
    assert_int_equal(uid, TEST_START);
    assert_int_equal(gid, TEST_START);
    assert_int_equal(identity_assign(&id, "beta/ops", &uid, &gid, &fresh), 0);
    assert_true(fresh);
    assert_int_equal(uid, TEST_START + 1);
    assert_int_equal(gid, TEST_START + 1);
    /* The same workspace again: the same uid, nothing new. */
    assert_int_equal(identity_assign(&id, "beta/dev", &uid, &gid, &fresh), 0);
    assert_false(fresh);
    assert_int_equal(uid, TEST_START);
    assert_int_equal(identity_assign(&id, "alpha/dev", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 2);
    uid_t uids[8];
    assert_int_equal(identity_uids(&id, uids, 8), 3);
    assert_int_equal(uids[0], TEST_START);
    assert_int_equal(uids[1], TEST_START + 1);
    assert_int_equal(uids[2], TEST_START + 2);
    assert_int_equal(identity_uids(&id, uids, 1), 3); /* the count, even when more than max */
    /* Names: none, empty, too long. */
    char long_name[IDENTITY_WORKSPACE_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(identity_assign(&id, "", &uid, &gid, &fresh), -ALLOT_EINVAL);
    assert_int_equal(identity_assign(&id, NULL, &uid, &gid, &fresh), -ALLOT_EINVAL);
    assert_int_equal(identity_assign(&id, long_name, &uid, &gid, &fresh), -ALLOT_EINVAL);
    assert_int_equal(id.n, 3);
    identity_cleanup(&id);
}

static void test_exhaustion(void **state)
{
    struct identity id;
    make(&id, 2);
    uid_t uid;
    gid_t gid;
    bool fresh;
    assert_int_equal(identity_assign(&id, "t/a", &uid, &gid, &fresh), 0);
    assert_int_equal(identity_assign(&id, "t/b", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 1);
    uid = 5;
    assert_int_equal(identity_assign(&id, "t/c", &uid, &gid, &fresh), -ALLOT_ERANGE);
    assert_false(fresh);
    assert_int_equal(uid, 5);
    assert_int_equal(id.n, 2);
    /* Those that have one keep it. */
    assert_int_equal(identity_assign(&id, "t/a", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START);
    identity_cleanup(&id);
}

/* json text loaded into a new identity over TEST_START:count. RET identity_load's result. */
static int load_text(struct identity *id, uint32_t count, const char *text, char *err, size_t len)
{
    make(id, count);
    json_error_t jerr;
    json_t *state = json_loads(text, 0, &jerr);
    assert_non_null(state);
    int rc = identity_load(id, state, err, len);
    json_decref(state);
    return rc;
}

static void test_persistence(void **state)
{
    struct identity id, again;
    make(&id, 100);
    uid_t uid, ops;
    gid_t gid;
    bool fresh;
    char err[256] = "";
    assert_int_equal(identity_assign(&id, "beta/dev", &uid, &gid, &fresh), 0);
    assert_int_equal(identity_assign(&id, "beta/ops", &ops, &gid, &fresh), 0);
    /* Through the state file's text, as an agent that restarts reads it. */
    json_t *j = identity_to_json(&id);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "uid_start")), TEST_START);
    assert_int_equal(json_integer_value(json_object_get(j, "uid_count")), 100);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_int_equal(load_text(&again, 100, text, err, sizeof(err)), 0);
    free(text);
    assert_int_equal(again.n, 2);
    assert_int_equal(identity_assign(&again, "beta/ops", &uid, &gid, &fresh), 0);
    assert_false(fresh);
    assert_int_equal(uid, ops);
    assert_int_equal(identity_assign(&again, "beta/new", &uid, &gid, &fresh), 0);
    assert_true(fresh);
    assert_int_equal(uid, TEST_START + 2);
    identity_cleanup(&again);
    identity_cleanup(&id);

    /* Nothing kept yet. */
    make(&id, 10);
    assert_int_equal(identity_load(&id, NULL, err, sizeof(err)), 0);
    assert_int_equal(id.n, 0);
    identity_cleanup(&id);

    /* A hole (a state written by hand, say): the lowest free offset is used, and an assigned
     * one never. */
    assert_int_equal(load_text(&id, 10,
                               "{\"uid_start\": 1700000000, \"uid_count\": 10, \"workspaces\": "
                               "{\"a/x\": 0, \"a/y\": 2}}",
                               err, sizeof(err)),
                     0);
    assert_int_equal(identity_assign(&id, "a/z", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 1);
    assert_int_equal(identity_assign(&id, "a/w", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 3);
    identity_cleanup(&id);

    /* A larger COUNT with the same START keeps every uid. */
    assert_int_equal(load_text(&id, 50,
                               "{\"uid_start\": 1700000000, \"uid_count\": 10, \"workspaces\": "
                               "{\"a/x\": 9}}",
                               err, sizeof(err)),
                     0);
    assert_int_equal(identity_assign(&id, "a/x", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 9);
    identity_cleanup(&id);
    /* Another START with nothing assigned is no change to refuse. */
    assert_int_equal(load_text(&id, 10, "{\"uid_start\": 5, \"uid_count\": 10, \"workspaces\": {}}",
                               err, sizeof(err)),
                     0);
    identity_cleanup(&id);
}

/* A wipe retires a tenant's uids: the next tenant's workspaces get uids nobody had, kept in
 * the state file, until the range wraps around. */
static void test_retire(void **state)
{
    struct identity id;
    make(&id, 4);
    uid_t uid;
    gid_t gid;
    bool fresh;
    assert_int_equal(identity_assign(&id, "beta/dev", &uid, &gid, &fresh), 0);
    assert_int_equal(identity_assign(&id, "beta/ops", &uid, &gid, &fresh), 0);
    identity_retire(&id);
    uid_t uids[4];
    assert_int_equal(identity_uids(&id, uids, 4), 0);
    /* acme's workspace, even of beta's name, gets a uid beta never had */
    assert_int_equal(identity_assign(&id, "beta/dev", &uid, &gid, &fresh), 0);
    assert_true(fresh);
    assert_int_equal(uid, TEST_START + 2);
    /* the floor is kept in the state file */
    json_t *j = identity_to_json(&id);
    struct identity back;
    make(&back, 4);
    char err[256];
    assert_int_equal(identity_load(&back, j, err, sizeof(err)), 0);
    json_decref(j);
    identity_retire(&back);
    assert_int_equal(identity_assign(&back, "acme/x", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 3);
    /* past the end of the range: around to its start */
    identity_retire(&back);
    assert_int_equal(identity_assign(&back, "acme/y", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START);
    assert_int_equal(identity_assign(&back, "acme/z", &uid, &gid, &fresh), 0);
    assert_int_equal(uid, TEST_START + 1);
    identity_cleanup(&back);
    identity_cleanup(&id);
}

static void test_load_refuses(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *needle;
    } bad[] = {
        /* another START while uids are assigned: files and processes have the old ones */
        {"{\"uid_start\": 5, \"uid_count\": 10, \"workspaces\": {\"a/x\": 0}}", -ALLOT_ECONFIG,
         "keeps its START"},
        /* a COUNT now below an offset assigned */
        {"{\"uid_start\": 1700000000, \"uid_count\": 100, \"workspaces\": {\"a/x\": 50}}",
         -ALLOT_ECONFIG, "outside --uid-range"},
        {"{\"uid_start\": 1700000000, \"workspaces\": {\"a/x\": 1, \"a/y\": 1}}", -ALLOT_EPARSE,
         "uid of another"},
        {"{\"uid_start\": 1700000000, \"workspaces\": {\"a/x\": -1}}", -ALLOT_EPARSE, "a/x"},
        {"{\"uid_start\": 1700000000, \"workspaces\": {\"a/x\": \"0\"}}", -ALLOT_EPARSE, "a/x"},
        {"{\"uid_start\": 1700000000, \"workspaces\": {\"\": 0}}", -ALLOT_EPARSE, "bad name"},
        {"{\"uid_start\": 1700000000, \"workspaces\": [0]}", -ALLOT_EPARSE, "not an object"},
        {"[1, 2]", -ALLOT_EPARSE, "not an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct identity id;
        char err[256] = "";
        make(&id, 20);
        uid_t uid;
        gid_t gid;
        bool fresh;
        assert_int_equal(identity_assign(&id, "kept/one", &uid, &gid, &fresh), 0);
        json_error_t jerr;
        json_t *j = json_loads(bad[i].text, 0, &jerr);
        assert_non_null(j);
        assert_int_equal(identity_load(&id, j, err, sizeof(err)), bad[i].rc);
        json_decref(j);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
        /* Nothing of it was taken: the table is as it was. */
        assert_int_equal(id.n, 1);
        assert_string_equal(id.entries[0].workspace, "kept/one");
        identity_cleanup(&id);
    }
}

/* A child that runs as uid (real, effective and saved) and sleeps; with hidden, it also makes
 * itself non-dumpable, which gives its /proc entries to root. RET its pid once it has. */
static pid_t sleeper_as(uid_t uid, bool hidden)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (setgid(uid) != 0 || setuid(uid) != 0)
            _exit(1);
        if (hidden)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (write(fds[1], "x", 1) != 1)
            _exit(1);
        close(fds[1]);
        for (;;)
            pause();
    }
    close(fds[1]);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    return pid;
}

/* Whether pid has ended (reaped, or a zombie of ours that waitpid reaps now). */
static bool ended(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == pid || (kill(pid, 0) != 0 && errno == ESRCH);
}

static void test_kill_uid(void **state)
{
    /* uids of this test alone: a test running beside it kills uids of its own. */
    const uid_t start = TEST_START + 100000 + (uid_t)getpid() % 100000 * 10;
    struct identity id;
    make_at(&id, start, 10);
    /* Never uid 0, never a uid outside the range: refused before anything is looked at. */
    assert_int_equal(identity_kill_uid(&id, 0, 100), -ALLOT_EINVAL);
    assert_int_equal(identity_kill_uid(&id, start - 1, 100), -ALLOT_EINVAL);
    assert_int_equal(identity_kill_uid(&id, start + 10, 100), -ALLOT_EINVAL);
    assert_int_equal(identity_kill_uid(&id, getuid(), 100), -ALLOT_EINVAL);
    /* No process of it: nothing to do. */
    assert_int_equal(identity_kill_uid(&id, start + 3, 100), 0);
    if (geteuid() != 0) {
        identity_cleanup(&id);
        skip();
    }
    pid_t a = sleeper_as(start + 1, false);
    pid_t hidden = sleeper_as(start + 1, true);
    pid_t other = sleeper_as(start + 2, false);
    assert_int_equal(identity_kill_uid(&id, start + 1, 2000), 0);
    support_sleep_ms(20);
    assert_true(ended(a));
    assert_true(ended(hidden));
    /* Another uid of the range is not touched. */
    assert_false(ended(other));
    assert_int_equal(identity_kill_uid(&id, start + 2, 2000), 0);
    assert_int_equal(waitpid(other, NULL, 0), other);
    waitpid(a, NULL, 0);
    waitpid(hidden, NULL, 0);
    identity_cleanup(&id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_range),         cmocka_unit_test(test_overlap_with_the_system),
        cmocka_unit_test(test_distinct_and_stable), cmocka_unit_test(test_exhaustion),
        cmocka_unit_test(test_persistence),         cmocka_unit_test(test_retire),
        cmocka_unit_test(test_load_refuses),        cmocka_unit_test(test_kill_uid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
