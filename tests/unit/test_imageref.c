/* Unit tests for common/imageref: what a workload's image reference may be. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/imageref.h"

static int parse(const char *s, struct imageref *r, char *why, size_t len)
{
    return imageref_parse(s, strlen(s), r, why, len);
}

static void test_accepted(void **state)
{
    (void)state;
    struct imageref r;
    char why[200];
    assert_int_equal(parse("busybox", &r, why, sizeof(why)), 0);
    assert_string_equal(r.name, "busybox");
    assert_string_equal(r.tag, "latest");
    assert_int_equal(parse("registry.local/ml/vllm:0.6.3-cuda12", &r, why, sizeof(why)), 0);
    assert_string_equal(r.name, "registry.local/ml/vllm");
    assert_string_equal(r.tag, "0.6.3-cuda12");
    assert_int_equal(parse("a:_", &r, why, sizeof(why)), 0);
    assert_string_equal(r.tag, "_");
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"",        "Busybox",    "../etc",      "a/../b", "a//b",
                         "/abs",    "a/",         "a:",          "a:.x",   "a:-x",
                         "a:b/c",   "a@sha256:0", "host:5000/x", "a b",    "a/./b",
                         ".hidden", "a:tag:x",    "a\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct imageref r;
        char why[200] = "";
        assert_int_equal(parse(bad[i], &r, why, sizeof(why)), -ALLOT_EINVAL);
        assert_true(strlen(why) > 10);
    }
    /* bounds: the whole and the tag */
    char long_name[IMAGEREF_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct imageref r;
    char why[200];
    assert_int_equal(parse(long_name, &r, why, sizeof(why)), -ALLOT_EINVAL);
    long_name[IMAGEREF_MAX] = '\0';
    assert_int_equal(parse(long_name, &r, why, sizeof(why)), 0);
    char long_tag[IMAGEREF_TAG_MAX + 4] = "a:";
    memset(long_tag + 2, 't', IMAGEREF_TAG_MAX + 1);
    long_tag[IMAGEREF_TAG_MAX + 3] = '\0';
    assert_int_equal(parse(long_tag, &r, why, sizeof(why)), -ALLOT_EINVAL);
    long_tag[IMAGEREF_TAG_MAX + 2] = '\0';
    assert_int_equal(parse(long_tag, &r, why, sizeof(why)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
