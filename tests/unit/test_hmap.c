/* Unit tests for common/hmap: put/get/del, duplicates, growth and backward-shift deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/hmap.h"

#define MANY 10000
#define KEY_LEN 24

/* Keys must outlive the map: one heap block of MANY fixed-size names. */
static char (*make_keys(void))[KEY_LEN]
{
    char(*keys)[KEY_LEN] = calloc(MANY, KEY_LEN);
    assert_non_null(keys);
    for (int i = 0; i < MANY; i++)
        snprintf(keys[i], KEY_LEN, "tenant-%d", i);
    return keys;
}

static void test_empty(void **state)
{
    struct hmap m;
    hmap_init(&m);
    uint32_t v = 99;
    assert_int_equal(hmap_get(&m, "x", &v), -ALLOT_ENOENT);
    assert_int_equal(v, 99);
    assert_int_equal(hmap_del(&m, "x"), -ALLOT_ENOENT);
    assert_int_equal(m.count, 0);
    hmap_cleanup(&m);
    hmap_cleanup(NULL);
}

static void test_put_get_del(void **state)
{
    struct hmap m;
    hmap_init(&m);
    uint32_t v = 0;
    assert_int_equal(hmap_put(&m, "alpha", 1), 0);
    assert_int_equal(hmap_put(&m, "beta", 2), 0);
    assert_int_equal(hmap_put(&m, "", 3), 0); /* the empty name is a key like any other */
    assert_int_equal(m.count, 3);

    assert_int_equal(hmap_get(&m, "alpha", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(hmap_get(&m, "beta", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(hmap_get(&m, "", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(hmap_get(&m, "gamma", &v), -ALLOT_ENOENT);
    assert_int_equal(hmap_get(&m, "alph", &v), -ALLOT_ENOENT);

    /* a duplicate is refused and keeps the first value */
    assert_int_equal(hmap_put(&m, "alpha", 10), -ALLOT_EEXIST);
    char copy[] = "alpha"; /* same text, different pointer */
    assert_int_equal(hmap_put(&m, copy, 11), -ALLOT_EEXIST);
    assert_int_equal(hmap_get(&m, "alpha", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(m.count, 3);

    assert_int_equal(hmap_del(&m, "alpha"), 0);
    assert_int_equal(hmap_del(&m, "alpha"), -ALLOT_ENOENT);
    assert_int_equal(hmap_get(&m, "alpha", &v), -ALLOT_ENOENT);
    assert_int_equal(hmap_get(&m, "beta", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(m.count, 2);

    /* a deleted key may be put again with a new value */
    assert_int_equal(hmap_put(&m, "alpha", 42), 0);
    assert_int_equal(hmap_get(&m, "alpha", &v), 0);
    assert_int_equal(v, 42);
    hmap_cleanup(&m);
    assert_null(m.slots);
    assert_int_equal(m.count, 0);
}

static void test_growth(void **state)
{
    char(*keys)[KEY_LEN] = make_keys();
    struct hmap m;
    hmap_init(&m);
    for (uint32_t i = 0; i < MANY; i++)
        assert_int_equal(hmap_put(&m, keys[i], i * 3 + 1), 0);
    assert_int_equal(m.count, MANY);
    assert_true(m.cap >= MANY);
    assert_int_equal(m.cap & (m.cap - 1), 0); /* power of two */
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t v = 0;
        assert_int_equal(hmap_get(&m, keys[i], &v), 0);
        assert_int_equal(v, i * 3 + 1);
        assert_int_equal(hmap_put(&m, keys[i], 0), -ALLOT_EEXIST);
    }
    uint32_t v = 0;
    assert_int_equal(hmap_get(&m, "tenant-10000", &v), -ALLOT_ENOENT);
    hmap_cleanup(&m);
    free(keys);
}

static void test_delete_every_other(void **state)
{
    char(*keys)[KEY_LEN] = make_keys();
    struct hmap m;
    hmap_init(&m);
    for (uint32_t i = 0; i < MANY; i++)
        assert_int_equal(hmap_put(&m, keys[i], i), 0);
    for (uint32_t i = 0; i < MANY; i += 2)
        assert_int_equal(hmap_del(&m, keys[i]), 0);
    assert_int_equal(m.count, MANY / 2);
    for (uint32_t i = 0; i < MANY; i++) {
        uint32_t v = UINT32_MAX;
        if (i % 2 == 0) {
            assert_int_equal(hmap_get(&m, keys[i], &v), -ALLOT_ENOENT);
        } else {
            assert_int_equal(hmap_get(&m, keys[i], &v), 0);
            assert_int_equal(v, i);
        }
    }
    /* linear-probing invariant: no empty slot lies between a key's home and its slot */
    size_t occupied = 0, mask = m.cap - 1;
    for (size_t j = 0; j < m.cap; j++) {
        if (!m.slots[j].key)
            continue;
        occupied++;
        for (size_t h = m.slots[j].hash & mask; h != j; h = (h + 1) & mask)
            assert_non_null(m.slots[h].key);
    }
    assert_int_equal(occupied, MANY / 2);

    /* delete the rest, then the map is empty and still usable */
    for (uint32_t i = 1; i < MANY; i += 2)
        assert_int_equal(hmap_del(&m, keys[i]), 0);
    assert_int_equal(m.count, 0);
    for (size_t j = 0; j < m.cap; j++)
        assert_null(m.slots[j].key);
    assert_int_equal(hmap_put(&m, keys[7], 7), 0);
    uint32_t v = 0;
    assert_int_equal(hmap_get(&m, keys[7], &v), 0);
    assert_int_equal(v, 7);
    hmap_cleanup(&m);
    free(keys);
}

/* Interleaved puts and deletes against a reference array, to exercise wrapped probe runs. */
static void test_churn(void **state)
{
    char(*keys)[KEY_LEN] = make_keys();
    static int present[MANY];
    memset(present, 0, sizeof(present));
    struct hmap m;
    hmap_init(&m);
    unsigned long long x = 88172645463325252ULL;
    for (int step = 0; step < 50000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t k = (uint32_t)(x % 300); /* small key space: many deletes hit */
        if (present[k]) {
            assert_int_equal(hmap_del(&m, keys[k]), 0);
            present[k] = 0;
        } else {
            assert_int_equal(hmap_put(&m, keys[k], k), 0);
            present[k] = 1;
        }
    }
    size_t count = 0;
    for (uint32_t k = 0; k < 300; k++) {
        uint32_t v = UINT32_MAX;
        count += (size_t)present[k];
        assert_int_equal(hmap_get(&m, keys[k], &v), present[k] ? 0 : -ALLOT_ENOENT);
        if (present[k])
            assert_int_equal(v, k);
    }
    assert_int_equal(m.count, count);
    hmap_cleanup(&m);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),  cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_growth), cmocka_unit_test(test_delete_every_other),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
