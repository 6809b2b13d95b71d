/* Unit tests for allotd/output: where a shipped chunk of a workload's output lands in its
 * stream (output_span). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "allotd/output.h"

struct span_case {
    int64_t at, offset;
    size_t len;
    size_t take;
    int64_t end;
};

static void check_spans(const struct span_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t skip = 99, take = 99;
        int64_t end = -1;
        output_span(cases[i].at, cases[i].offset, cases[i].len, &skip, &take, &end);
        assert_int_equal(take, cases[i].take);
        assert_int_equal(end, cases[i].end);
        if (take > 0)
            assert_int_equal(cases[i].offset + (int64_t)skip, cases[i].at);
    }
}

static void test_span(void **state)
{
    static const struct span_case cases[] = {
        {0, 0, 10, 10, 10},  /* the first chunk */
        {10, 5, 10, 5, 15},  /* half of it is here already */
        {10, 0, 10, 0, 10},  /* all of it is here already */
        {10, 20, 10, 0, 10}, /* after a gap: nothing taken, resume from 10 */
        {OUTPUT_STREAM_MAX - 4, OUTPUT_STREAM_MAX - 4, 10, 4, OUTPUT_STREAM_MAX + 6}, /* cap */
        {OUTPUT_STREAM_MAX, OUTPUT_STREAM_MAX, 10, 0, OUTPUT_STREAM_MAX + 10},        /* full */
    };
    check_spans(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Found by fuzz/fuzz_log_chunk.c (docs/fuzzing.md): a chunk at ?offset=INT64_MAX to a stream
 * already at OUTPUT_STREAM_MAX computed offset + len before checking offset <= at, a signed
 * overflow (undefined behaviour; UBSan stops the sanitizer build here without the fix). */
static void test_span_offset_at_int64_max(void **state)
{
    static const struct span_case cases[] = {
        {OUTPUT_STREAM_MAX, INT64_MAX, 1, 0, OUTPUT_STREAM_MAX},
        {OUTPUT_STREAM_MAX, INT64_MAX - 100, 256 * 1024, 0, OUTPUT_STREAM_MAX},
        {0, INT64_MAX, 1, 0, 0},
    };
    check_spans(cases, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span),
        cmocka_unit_test(test_span_offset_at_int64_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
