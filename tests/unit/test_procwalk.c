/* Unit tests for agent/procwalk.c: a signal reaches every descendant of a process (also those
 * that left its session or process group, and those orphaned to it as a subreaper) and no
 * other process, a process group can be spared, states are read, and (as root) a signal
 * reaches every process of a uid, whatever its dumpable flag. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setresuid */
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
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/procwalk.h"
#include "common/error.h"

/* The test's own children, killed and reaped by teardown whatever happened. */
static pid_t started[8];
static int n_started;

static pid_t track(pid_t pid)
{
    assert_true(pid >= 0);
    if (pid > 0 && n_started < 8)
        started[n_started++] = pid;
    return pid;
}

static int teardown(void **state)
{
    for (int i = 0; i < n_started; i++) {
        kill(started[i], SIGKILL);
        waitpid(started[i], NULL, 0);
    }
    n_started = 0;
    return 0;
}

/* Whether pid has ended: gone, or a zombie. */
static bool dead(pid_t pid)
{
    char state = procwalk_state(pid);
    return state == 0 || state == 'Z' || state == 'X';
}

/* Wait up to 2 s for pid to end. */
static bool wait_dead(pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        if (dead(pid))
            return true;
        support_sleep_ms(10);
    }
    return false;
}

/* A tree under a new child of the test, the root: a child in the root's group, a child in a
 * new session, and a grandchild (under the second) in a new process group. OUT pids[0..4):
 * root, the three below it. The root is a subreaper, as a keeper is, and reaps. */
static void start_tree(pid_t pids[4])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t root = track(fork());
    if (root == 0) {
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        setpgid(0, 0);
        for (int which = 1; which <= 2; which++) {
            if (fork() != 0)
                continue;
            if (which == 2) {
                setsid();
                if (fork() == 0) {
                    setpgid(0, 0);
                    which = 3;
                }
            }
            pid_t self[2] = {which, getpid()};
            if (write(fds[1], self, sizeof(self)) != sizeof(self))
                _exit(1);
            for (;;)
                pause();
        }
        for (;;)
            if (waitpid(-1, NULL, 0) < 0)
                support_sleep_ms(5);
    }
    close(fds[1]);
    pids[0] = root;
    for (int i = 0; i < 3; i++) {
        pid_t got[2];
        assert_int_equal(read(fds[0], got, sizeof(got)), sizeof(got));
        pids[got[0]] = got[1];
    }
    close(fds[0]);
}

static void test_descendants(void **state)
{
    pid_t tree[4];
    start_tree(tree);
    /* An unrelated process: the test's other child. */
    pid_t stranger = track(fork());
    if (stranger == 0) {
        for (;;)
            pause();
    }
    assert_int_equal(getsid(tree[2]), tree[2]);
    assert_int_equal(getpgid(tree[3]), tree[3]);
    /* Those in the root's group spared: the two that left it. */
    assert_int_equal(procwalk_signal_descendants(tree[0], SIGSTOP, tree[0]), 2);
    for (int i = 0; i < 200 && (procwalk_state(tree[2]) != 'T' || procwalk_state(tree[3]) != 'T');
         i++)
        support_sleep_ms(5);
    assert_int_equal(procwalk_state(tree[2]), 'T');
    assert_int_equal(procwalk_state(tree[3]), 'T');
    assert_int_not_equal(procwalk_state(tree[1]), 'T');
    /* (Go on: a stopped group orphaned by the kill would die of the kernel's SIGHUP before
     * its SIGKILL, and not be counted.) */
    assert_int_equal(procwalk_signal_descendants(tree[0], SIGCONT, tree[0]), 2);
    /* All three, never the root, never the stranger, never the test. */
    assert_int_equal(procwalk_signal_descendants(tree[0], SIGKILL, 0), 3);
    for (int i = 1; i < 4; i++)
        assert_true(wait_dead(tree[i]));
    assert_false(dead(tree[0]));
    assert_false(dead(stranger));
    /* The root reaps its children (and what was orphaned to it): nothing is left below it. */
    for (int i = 1; i < 4; i++)
        for (int waited = 0; waited < 2000 && procwalk_state(tree[i]) != 0; waited += 5)
            support_sleep_ms(5);
    for (int i = 1; i < 4; i++)
        assert_int_equal(procwalk_state(tree[i]), 0);
    assert_int_equal(procwalk_signal_descendants(tree[0], SIGKILL, 0), 0);
    assert_int_equal(procwalk_signal_descendants(0, SIGKILL, 0), -ALLOT_EINVAL);
}

static void test_state(void **state)
{
    assert_int_equal(procwalk_state(getpid()), 'R');
    pid_t child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    track(child);
    for (int i = 0; i < 200 && procwalk_state(child) != 'S'; i++)
        support_sleep_ms(5);
    assert_int_equal(procwalk_state(child), 'S');
    kill(child, SIGKILL);
    for (int i = 0; i < 200 && procwalk_state(child) != 'Z'; i++)
        support_sleep_ms(5);
    assert_int_equal(procwalk_state(child), 'Z');
    waitpid(child, NULL, 0);
    n_started = 0;
    assert_int_equal(procwalk_state(child), 0);
    assert_int_equal(procwalk_state(0), 0);
    assert_int_equal(procwalk_state(-1), 0);
}

static void test_uid(void **state)
{
    if (geteuid() != 0)
        skip();
    /* A uid of this test alone: tests that run beside it kill uids of their own. */
    const uid_t uid = 1700100000 + (uid_t)getpid() % 100000;
    pid_t children[3];
    for (int i = 0; i < 3; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        children[i] = track(fork());
        if (children[i] == 0) {
            /* the first two run as uid (the second also hidden from /proc's owner), the third
             * only has it as its saved uid */
            if (setgid(uid) != 0 || (i < 2 ? setuid(uid) : setresuid(0, 0, uid)) != 0)
                _exit(1);
            if (i == 1)
                prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
            if (write(fds[1], "x", 1) != 1)
                _exit(1);
            for (;;)
                pause();
        }
        char c;
        close(fds[1]);
        assert_int_equal(read(fds[0], &c, 1), 1);
        close(fds[0]);
    }
    assert_int_equal(procwalk_signal_uid(uid, SIGKILL), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(waitpid(children[i], NULL, 0), children[i]);
    n_started = 0;
    assert_int_equal(procwalk_signal_uid(uid, SIGKILL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_descendants, teardown),
        cmocka_unit_test_teardown(test_state, teardown),
        cmocka_unit_test_teardown(test_uid, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
