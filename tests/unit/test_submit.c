/* Unit tests for cli/submit: --env's NAME=VALUE split, and the names it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/submit.h"
#include "common/error.h"

static void test_env_split(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t name_len;
    } good[] = {
        {"A=1", 1},          {"HF_HOME=/cache", 7}, {"_x=", 2},
        {"PATH=/a:/b=c", 4}, {"a9=  spaces ", 2},   {"X==", 1},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t n = 0;
        assert_int_equal(submit_env_split(good[i].text, &n), 0);
        assert_int_equal(n, good[i].name_len);
    }
    char long_name[300];
    memset(long_name, 'A', 257);
    strcpy(long_name + 257, "=v");
    const char *bad[] = {"A", "", "=1", "1A=x", "A-B=x", "A B=x", "É=x", "A.B=x", long_name};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 99;
        assert_int_equal(submit_env_split(bad[i], &n), -ALLOT_EINVAL);
        assert_int_equal(n, 99); /* untouched */
    }
    /* the longest name the daemon takes */
    long_name[256] = '=';
    size_t n = 0;
    assert_int_equal(submit_env_split(long_name + 1, &n), 0);
    assert_int_equal(n, 255);
    assert_int_equal(submit_env_split(long_name, &n), 0);
    assert_int_equal(n, 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
