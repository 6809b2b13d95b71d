/* Unit tests for common/array: growth by one (uint32_t and size_t capacities), room for an
 * index with the new elements zeroed, trimming, and the bounds that refuse rather than wrap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/array.h"
#include "common/error.h"

/* Appending grows from 16 by doubling and keeps what was there, whatever the capacity's
 * type (ARRAY_GROW picks the function). */
static void test_grow_keeps_elements(void **state)
{
    (void)state;
    int64_t *a = NULL;
    uint32_t n = 0, cap = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        assert_int_equal(ARRAY_GROW(a, n, cap), 0);
        assert_true(n < cap);
        a[n++] = (int64_t)i * 7;
        if (i == 0)
            assert_int_equal(cap, 16);
    }
    assert_int_equal(cap, 1024);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(a[i], (int64_t)i * 7);
    free(a);

    char *b = NULL;
    size_t m = 0, bcap = 0;
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(ARRAY_GROW(b, m, bcap), 0);
        b[m++] = (char)('a' + i % 26);
    }
    assert_int_equal(bcap, 128);
    for (size_t i = 0; i < m; i++)
        assert_int_equal(b[i], 'a' + i % 26);
    free(b);
}

/* A count or capacity at the edge of its type is refused, nothing changed. */
static void test_grow_refuses_overflow(void **state)
{
    (void)state;
    char one = 'x';
    void *a = &one; /* never passed to realloc: refused before */
    uint32_t cap = UINT32_MAX;
    assert_int_equal(array_grow(&a, UINT32_MAX, &cap, 1), -ALLOT_ENOMEM);
    assert_ptr_equal(a, &one);
    assert_int_equal(cap, UINT32_MAX);
    cap = (UINT32_MAX / 2) + 1;
    assert_int_equal(array_grow(&a, cap, &cap, 1), -ALLOT_ENOMEM); /* doubling would wrap */
    assert_int_equal(cap, (UINT32_MAX / 2) + 1);
    size_t scap = SIZE_MAX / 4;
    assert_int_equal(array_grow_size(&a, scap, &scap, 8), -ALLOT_ENOMEM); /* bytes would wrap */
    assert_int_equal(scap, SIZE_MAX / 4);
    assert_ptr_equal(a, &one);
}

/* Room up to an index: doubling from 64, the elements gained zeroed, the others kept. */
static void test_reserve_zeroes_what_it_adds(void **state)
{
    (void)state;
    uint16_t *a = NULL;
    uint32_t cap = 0;
    assert_int_equal(ARRAY_RESERVE_ZEROED(a, cap, 10), 0);
    assert_int_equal(cap, 64);
    for (uint32_t i = 0; i < cap; i++) {
        assert_int_equal(a[i], 0);
        a[i] = (uint16_t)(i + 1);
    }
    assert_int_equal(ARRAY_RESERVE_ZEROED(a, cap, 64), 0); /* enough already */
    assert_int_equal(cap, 64);
    assert_int_equal(ARRAY_RESERVE_ZEROED(a, cap, 300), 0);
    assert_int_equal(cap, 512);
    for (uint32_t i = 0; i < cap; i++)
        assert_int_equal(a[i], i < 64 ? i + 1 : 0);
    free(a);
}

/* Trimming halves an array a quarter used or less, never to ARRAY_TRIM_MIN or below, and keeps
 * its elements. */
static void test_trim(void **state)
{
    (void)state;
    assert_false(array_trim_due(16, 64)); /* at the floor */
    assert_false(array_trim_due(33, 128));
    assert_true(array_trim_due(32, 128));
    uint32_t *a = malloc(1024 * sizeof(*a));
    assert_non_null(a);
    uint32_t cap = 1024, n = 10;
    for (uint32_t i = 0; i < n; i++)
        a[i] = i * 3;
    ARRAY_TRIM(a, 257, cap);
    assert_int_equal(cap, 1024); /* more than a quarter used */
    while (array_trim_due(n, cap))
        ARRAY_TRIM(a, n, cap);
    assert_int_equal(cap, ARRAY_TRIM_MIN);
    ARRAY_TRIM(a, n, cap);
    assert_int_equal(cap, ARRAY_TRIM_MIN);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(a[i], i * 3);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_keeps_elements),
        cmocka_unit_test(test_grow_refuses_overflow),
        cmocka_unit_test(test_reserve_zeroes_what_it_adds),
        cmocka_unit_test(test_trim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
