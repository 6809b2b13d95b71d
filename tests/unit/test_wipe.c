/* Unit tests for agent/wipe.c: the sweep of a shared directory removes every entry of the old
 * tenant's users with what is under it, and nothing else: not other users' entries, not what
 * a link of theirs points to, not a directory with their files owned by someone else. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
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

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/wipe.h"
#include "common/error.h"

#define OLD 1700100001u   /* a user of the tenant that leaves */
#define OTHER 1700100002u /* someone else */

static char tmp[256];

static void make(const char *rel, bool dir, uid_t owner)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    if (dir)
        assert_int_equal(mkdir(path, 0755), 0);
    else
        assert_int_equal(close(open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
    assert_int_equal(lchown(path, owner, owner), 0);
}

static bool exists(const char *rel)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", tmp, rel);
    return lstat(path, &sb) == 0;
}

static void test_sweep(void **state)
{
    if (geteuid() != 0)
        fail_msg("test_wipe runs as root: it makes files of other users (make test is run as "
                 "root)");
    snprintf(tmp, sizeof(tmp), "/tmp/allot-wipe-test-%ld", (long)getpid());
    assert_int_equal(mkdir(tmp, 0755), 0);
    make("shared", true, OLD); /* the old user's directory, with its tree */
    make("shared/deep", true, OLD);
    make("shared/deep/secret", false, OLD);
    make("shared/given", false, OTHER); /* under theirs: goes with it */
    make("file", false, OLD);
    make("theirs", true, OTHER); /* another user's, with an old user's file in it: stays */
    make("theirs/kept", false, OLD);
    make("keep", false, OTHER);
    make("target", false, OTHER);
    char link[512], target[512];
    snprintf(link, sizeof(link), "%s/link", tmp);
    snprintf(target, sizeof(target), "%s/target", tmp);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(lchown(link, OLD, OLD), 0);

    uid_t uids[] = {OLD};
    size_t removed = 99;
    assert_int_equal(wipe_dir(tmp, uids, 1, &removed), 0);
    assert_int_equal(removed, 3); /* shared, file, link */
    assert_false(exists("shared"));
    assert_false(exists("file"));
    assert_false(exists("link"));
    assert_true(exists("target")); /* a link is removed, never followed */
    assert_true(exists("theirs/kept"));
    assert_true(exists("keep"));
    /* nobody's uids: nothing goes; a missing directory is nothing to do */
    assert_int_equal(wipe_dir(tmp, uids, 0, &removed), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(wipe_dir("/nonexistent/allot", uids, 1, &removed), 0);
    /* a list of directories, empty parts skipped */
    char list[600], err[256] = "";
    snprintf(list, sizeof(list), "::/nonexistent/allot:%s:", tmp);
    uid_t other[] = {OTHER};
    assert_int_equal(wipe_dirs(list, other, 1, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 3); /* theirs (with kept), keep, target */
    assert_false(exists("theirs"));
    support_remove_tree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
