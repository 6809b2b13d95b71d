/* Unit tests for common/quantity: parsing and printing of durations, bytes, CPUs and GPUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/quantity.h"

struct parse_case {
    const char *text;
    int err;      /* expected return */
    int64_t want; /* expected value when err == 0 */
};

/* Run each case through parse; on failure the output must be left untouched. */
static void check_cases(int (*parse)(const char *, int64_t *), const struct parse_case *cases,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const int64_t sentinel = -777;
        int64_t got = sentinel;
        int err = parse(cases[i].text, &got);
        if (err != cases[i].err || (err == 0 && got != cases[i].want) ||
            (err != 0 && got != sentinel))
            print_error("input \"%s\": err %d (want %d), value %lld (want %lld)\n", cases[i].text,
                        err, cases[i].err, (long long)got,
                        (long long)(cases[i].err ? sentinel : cases[i].want));
        assert_int_equal(err, cases[i].err);
        if (err == 0)
            assert_int_equal(got, cases[i].want);
        else
            assert_int_equal(got, sentinel);
    }
}

#define CHECK_CASES(parse, cases) check_cases(parse, cases, sizeof(cases) / sizeof((cases)[0]))

static void test_duration_valid(void **state)
{
    static const struct parse_case cases[] = {
        {"30s", 0, 30000},    {"10m", 0, 600000},    {"1h30m", 0, 5400000},
        {"500ms", 0, 500},    {"2d", 0, 172800000},  {"45", 0, 45000}, /* bare number: seconds */
        {"1.5h", 0, 5400000}, {"1.5", 0, 1500},      {"1d2h3m4s5ms", 0, 93784005},
        {"1m", 0, 60000}, /* "m" is minutes, not the prefix of "ms" */
        {"0s", 0, 0},         {"  30s  ", 0, 30000}, {"1s500ms", 0, 1500},
    };
    CHECK_CASES(quantity_parse_duration, cases);
}

static void test_duration_invalid(void **state)
{
    static const struct parse_case cases[] = {
        {"", -ALLOT_EPARSE, 0},
        {"   ", -ALLOT_EPARSE, 0},
        {"abc", -ALLOT_EPARSE, 0},
        {"10x", -ALLOT_EPARSE, 0},
        {"5mo", -ALLOT_EPARSE, 0},
        {"1h30", -ALLOT_EPARSE, 0}, /* only a lone number may omit its unit */
        {"s", -ALLOT_EPARSE, 0},
        {"-5s", -ALLOT_ERANGE, 0},
        {"-1", -ALLOT_ERANGE, 0},
        {"99999999999999999999", -ALLOT_ERANGE, 0},
        {"0.5ms", -ALLOT_ERANGE, 0}, /* not a whole millisecond */
        {"999999999999d", -ALLOT_ERANGE, 0},
    };
    CHECK_CASES(quantity_parse_duration, cases);
}

static void test_bytes(void **state)
{
    static const struct parse_case cases[] = {
        {"64Gi", 0, 68719476736LL},
        {"2Ti", 0, 2199023255552LL},
        {"1.5Gi", 0, 1610612736LL},
        {"100", 0, 100},
        {"1G", 0, 1000000000LL},
        {"1k", 0, 1000},
        {"1Ki", 0, 1024},
        {"3Mi", 0, 3145728},
        {"2T", 0, 2000000000000LL},
        {"4Pi", 0, (int64_t)1 << 52}, /* exactly QUANTITY_MAX */
        {"0", 0, 0},
        {"12Gx", -ALLOT_EPARSE, 0},
        {"", -ALLOT_EPARSE, 0},
        {"abc", -ALLOT_EPARSE, 0},
        {"Gi", -ALLOT_EPARSE, 0},
        {"10Q", -ALLOT_EPARSE, 0},
        {"-1Gi", -ALLOT_ERANGE, 0},
        {"1.5", -ALLOT_ERANGE, 0}, /* half a byte */
        {"8Pi", -ALLOT_ERANGE, 0}, /* above QUANTITY_MAX */
        {"99999999999999999999", -ALLOT_ERANGE, 0},
    };
    CHECK_CASES(quantity_parse_bytes, cases);
}

static void test_cpu(void **state)
{
    static const struct parse_case cases[] = {
        {"16", 0, 16000},
        {"0.5", 0, 500},
        {"500m", 0, 500},
        {".25", 0, 250},
        {"0", 0, 0},
        {"1.001", 0, 1001},
        {"", -ALLOT_EPARSE, 0},
        {"abc", -ALLOT_EPARSE, 0},
        {"2cores", -ALLOT_EPARSE, 0},
        {"5mm", -ALLOT_EPARSE, 0},
        {"-1", -ALLOT_ERANGE, 0},
        {"0.0001", -ALLOT_ERANGE, 0},
        {"0.5m", -ALLOT_ERANGE, 0},
        {"99999999999999999999", -ALLOT_ERANGE, 0},
    };
    CHECK_CASES(quantity_parse_cpu, cases);
}

static void test_gpu_valid(void **state)
{
    static const struct parse_case cases[] = {
        {"4", 0, 3360},    {"0.5", 0, 420},  {"3/7", 0, 360},  {"1/8", 0, 105},
        {"0.125", 0, 105}, {"1/7", 0, 120},  {"0.25", 0, 210}, {"1/4", 0, 210},
        {"0", 0, 0},       {"8/4", 0, 1680}, {"1.5", 0, 1260}, {" 3 / 7 ", 0, 360},
    };
    CHECK_CASES(quantity_parse_gpu, cases);
    int64_t units = 0;
    assert_int_equal(quantity_parse_gpu("1", &units), 0);
    assert_int_equal(units, QUANTITY_GPU_UNITS);
}

static void test_gpu_invalid(void **state)
{
    static const struct parse_case cases[] = {
        {"12Gx", -ALLOT_EPARSE, 0},
        {"", -ALLOT_EPARSE, 0},
        {"abc", -ALLOT_EPARSE, 0},
        {"1/", -ALLOT_EPARSE, 0},
        {"/2", -ALLOT_EPARSE, 0},
        {"1.5/2", -ALLOT_EPARSE, 0},
        {"1/2.5", -ALLOT_EPARSE, 0},
        {"1/2x", -ALLOT_EPARSE, 0},
        {"-1", -ALLOT_ERANGE, 0},
        {"-0.5", -ALLOT_ERANGE, 0},
        {"1/0", -ALLOT_ERANGE, 0},
        {"0.001", -ALLOT_ERANGE, 0}, /* 0.84 units: not exact */
        {"1/9", -ALLOT_ERANGE, 0},   /* 840 is not divisible by 9 */
        {"99999999999999999999", -ALLOT_ERANGE, 0},
    };
    CHECK_CASES(quantity_parse_gpu, cases);
}

static void test_format_gpu(void **state)
{
    static const struct {
        int64_t units;
        const char *text;
    } cases[] = {
        {420, "0.5"},   {360, "3/7"},  {3360, "4"},   {1200, "1+3/7"}, {0, "0"},
        {105, "0.125"}, {210, "0.25"}, {1260, "1.5"}, {120, "1/7"},    {42, "0.05"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        assert_string_equal(quantity_format_gpu(cases[i].units, buf, sizeof(buf)), cases[i].text);
        /* what is printed parses back to the same amount */
        int64_t back = -1;
        if (strchr(cases[i].text, '+') == NULL) {
            assert_int_equal(quantity_parse_gpu(buf, &back), 0);
            assert_int_equal(back, cases[i].units);
        }
    }
}

static void test_format_duration(void **state)
{
    char buf[64];
    assert_string_equal(quantity_format_duration(5400000, buf, sizeof(buf)), "1h30m");
    assert_string_equal(quantity_format_duration(0, buf, sizeof(buf)), "0s");
    assert_string_equal(quantity_format_duration(500, buf, sizeof(buf)), "500ms");
    assert_string_equal(quantity_format_duration(172800000, buf, sizeof(buf)), "2d");
    assert_string_equal(quantity_format_duration(93784005, buf, sizeof(buf)), "1d2h3m4s5ms");
    int64_t back = 0;
    assert_int_equal(quantity_parse_duration(quantity_format_duration(93784005, buf, 64), &back),
                     0);
    assert_int_equal(back, 93784005);
    /* truncation still yields a terminated prefix */
    char small[4];
    assert_string_equal(quantity_format_duration(93784005, small, sizeof(small)), "1d2");
}

static void test_format_bytes_cpu(void **state)
{
    char buf[64];
    assert_string_equal(quantity_format_bytes(68719476736LL, buf, sizeof(buf)), "64Gi");
    assert_string_equal(quantity_format_bytes(0, buf, sizeof(buf)), "0");
    assert_string_equal(quantity_format_bytes(100, buf, sizeof(buf)), "100");
    assert_string_equal(quantity_format_bytes(1024, buf, sizeof(buf)), "1Ki");
    assert_string_equal(quantity_format_bytes(1610612736LL, buf, sizeof(buf)), "1536Mi");
    assert_string_equal(quantity_format_bytes(2199023255552LL, buf, sizeof(buf)), "2Ti");
    assert_string_equal(quantity_format_cpu(500, buf, sizeof(buf)), "500m");
    assert_string_equal(quantity_format_cpu(16000, buf, sizeof(buf)), "16");
    assert_string_equal(quantity_format_cpu(1500, buf, sizeof(buf)), "1500m");
    assert_string_equal(quantity_format_cpu(0, buf, sizeof(buf)), "0");
}

/* Found by fuzz/fuzz_quantity.c: an amount the fraction form accepts printed as a decimal
 * whose digits go beyond QUANTITY_MAX did not parse back (-ALLOT_ERANGE). The range is the
 * amount's, not its digits'. */
static void test_large_decimal_round_trip(void **state)
{
    static const struct parse_case gpu[] = {
        {"00000040000559054015/8", 0, 4200058700671575}, {"5000069881751.875", 0, 4200058700671575},
        {"5361999365296.761904", -ALLOT_ERANGE, 0}, /* not exact */
        {"5361999365296.762", -ALLOT_ERANGE, 0},    /* just above QUANTITY_MAX */
        {"99999999999999999999", -ALLOT_ERANGE, 0}, /* beyond 64 bits */
    };
    CHECK_CASES(quantity_parse_gpu, gpu);
    char buf[64];
    int64_t back = -1;
    assert_string_equal(quantity_format_gpu(4200058700671575, buf, sizeof(buf)),
                        "5000069881751.875");
    assert_int_equal(quantity_parse_gpu(buf, &back), 0);
    assert_int_equal(back, 4200058700671575);
    static const struct parse_case cpu[] = {
        {"4503599627370.496", 0, QUANTITY_MAX}, /* millicores: digits beyond QUANTITY_MAX */
        {"4503599627370.497", -ALLOT_ERANGE, 0},
    };
    CHECK_CASES(quantity_parse_cpu, cpu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_gpu_valid),
        cmocka_unit_test(test_gpu_invalid),
        cmocka_unit_test(test_format_gpu),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_format_bytes_cpu),
        cmocka_unit_test(test_large_decimal_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
