/* Unit tests for common/error: names, messages and HTTP statuses of the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"

static void test_known_codes(void **state)
{
    assert_string_equal(allot_errname(-ALLOT_ENOENT), "NOENT");
    assert_string_equal(allot_strerror(-ALLOT_ENOENT), "not found");
    assert_int_equal(allot_http_status(-ALLOT_ENOENT), 404);

    assert_string_equal(allot_errname(-ALLOT_EEXIST), "EXIST");
    assert_string_equal(allot_strerror(-ALLOT_EEXIST), "already exists");
    assert_int_equal(allot_http_status(-ALLOT_EEXIST), 409);

    assert_string_equal(allot_errname(-ALLOT_EINVAL), "INVAL");
    assert_int_equal(allot_http_status(-ALLOT_EINVAL), 400);

    assert_string_equal(allot_errname(-ALLOT_ENOMEM), "NOMEM");
    assert_int_equal(allot_http_status(-ALLOT_ENOMEM), 500);

    assert_string_equal(allot_errname(-ALLOT_EREJECTED), "REJECTED");
    assert_string_equal(allot_strerror(-ALLOT_EREJECTED), "workload rejected");
    assert_int_equal(allot_http_status(-ALLOT_EREJECTED), 422);

    assert_string_equal(allot_errname(-ALLOT_ECHECK), "CHECK");
    assert_string_equal(allot_strerror(-ALLOT_ECHECK), "invariant violated");
    assert_int_equal(allot_http_status(-ALLOT_ECHECK), 500);
}

static void test_ok(void **state)
{
    assert_int_equal(ALLOT_OK, 0);
    assert_string_equal(allot_errname(0), "OK");
    assert_string_equal(allot_strerror(0), "success");
    assert_int_equal(allot_http_status(0), 200);
}

static void test_positive_and_negative_agree(void **state)
{
    for (int code = 1; code < ALLOT_E_COUNT; code++) {
        assert_string_equal(allot_errname(code), allot_errname(-code));
        assert_string_equal(allot_strerror(code), allot_strerror(-code));
        assert_int_equal(allot_http_status(code), allot_http_status(-code));
    }
    assert_string_equal(allot_errname(ALLOT_EPARSE), "PARSE");
    assert_string_equal(allot_strerror(ALLOT_ERANGE), "value out of range");
    assert_int_equal(allot_http_status(ALLOT_ESTATE), 409);
}

static void test_table_well_formed(void **state)
{
    for (int code = 1; code < ALLOT_E_COUNT; code++) {
        const char *name = allot_errname(-code);
        assert_non_null(name);
        assert_true(strlen(name) > 0);
        assert_true(strlen(allot_strerror(-code)) > 0);
        int status = allot_http_status(-code);
        assert_in_range(status, 400, 599); /* every error is a client or server error */
        for (int other = 1; other < code; other++)
            assert_string_not_equal(name, allot_errname(-other));
    }
}

static void test_unknown_codes(void **state)
{
    const int unknown[] = {ALLOT_E_COUNT, -ALLOT_E_COUNT, 1000, -1000};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_non_null(allot_errname(unknown[i]));
        assert_non_null(allot_strerror(unknown[i]));
        assert_string_not_equal(allot_errname(unknown[i]), "OK");
        assert_in_range(allot_http_status(unknown[i]), 400, 599);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_codes),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_positive_and_negative_agree),
        cmocka_unit_test(test_table_well_formed),
        cmocka_unit_test(test_unknown_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
