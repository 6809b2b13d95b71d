/* Unit tests for cli/flags: the common flags moved from before the subcommand to after it
 * (flags_hoist), and the words it refuses, named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/flags.h"

#define MAX_WORDS 16

/* Hoist the words of line (spaces apart) and join the result with spaces into joined.
 * RET flags_hoist's result; err holds its sentence. */
static int hoist(const char *line, char *joined, size_t len, char *err, size_t err_len)
{
    static char copy[512];
    char *argv[MAX_WORDS + 1], *out[MAX_WORDS + 1];
    int argc = 0, out_argc = -1;
    snprintf(copy, sizeof(copy), "%s", line);
    for (char *w = strtok(copy, " "); w && argc < MAX_WORDS; w = strtok(NULL, " "))
        argv[argc++] = w;
    argv[argc] = NULL;
    err[0] = '\0';
    int rc = flags_hoist(argc, argv, out, &out_argc, err, err_len);
    joined[0] = '\0';
    if (rc == 0) {
        assert_int_equal(out_argc, argc);
        assert_null(out[out_argc]);
        for (int i = 0; i < out_argc; i++)
            snprintf(joined + strlen(joined), len - strlen(joined), "%s%s", i ? " " : "", out[i]);
    }
    return rc;
}

static void assert_hoisted(const char *line, const char *want)
{
    char got[512], err[256];
    assert_int_equal(hoist(line, got, sizeof(got), err, sizeof(err)), 0);
    assert_string_equal(got, want);
}

static void assert_refused(const char *line, const char *message)
{
    char got[512], err[256];
    assert_int_equal(hoist(line, got, sizeof(got), err, sizeof(err)), FLAGS_EXIT_USAGE);
    if (!strstr(err, message))
        fail_msg("'%s': '%s' lacks '%s'", line, err, message);
}

static void test_hoist_moves_common_flags(void **state)
{
    (void)state;
    /* nothing before the command: unchanged */
    assert_hoisted("allot ls -a", "allot ls -a");
    assert_hoisted("allot frobnicate", "allot frobnicate");
    /* each common flag, with its value, in its three spellings */
    assert_hoisted("allot --server http://a:1 ls", "allot ls --server http://a:1");
    assert_hoisted("allot --server=http://a:1 -o json ls -a",
                   "allot ls -a --server=http://a:1 -o json");
    assert_hoisted("allot --token T --timeout 5s --cacert ca.pem ls",
                   "allot ls --token T --timeout 5s --cacert ca.pem");
    assert_hoisted("allot -h ls", "allot ls -h");
    /* after the command's words and flags, before its "--": the workload's command is kept */
    assert_hoisted("allot -o json submit -w a/b -- echo -o json",
                   "allot submit -w a/b -o json -- echo -o json");
    assert_hoisted("allot --token T admin tenant create x",
                   "allot admin tenant create x --token T");
    /* a value that looks like a flag is the flag's value */
    assert_hoisted("allot --token -o ls", "allot ls --token -o");
}

static void test_hoist_refuses(void **state)
{
    (void)state;
    assert_refused("allot --bogus ls", "unknown flag '--bogus' before the command");
    assert_refused("allot -x ls", "unknown flag '-x'");
    assert_refused("allot -oj ls", "unknown flag '-oj'");
    assert_refused("allot -- ls", "unknown flag '--'");
    assert_refused("allot - ls", "unknown flag '-'");
    assert_refused("allot --workspace a/b ls", "unknown flag '--workspace'");
    assert_refused("allot --token", "--token needs a value (TOKEN)");
    assert_refused("allot -o json", "a command must follow the flags");
    assert_refused("allot --server=http://a:1", "a command must follow the flags");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hoist_moves_common_flags),
        cmocka_unit_test(test_hoist_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
