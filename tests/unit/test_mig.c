/* Unit tests for sched/mig: profile tables, exact charges, name ids and layout placement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/mig.h"

/* Index of profile name in model m's table; fails the test when m does not offer it. */
static int8_t profile_index(enum gpu_model m, const char *name)
{
    const struct gpu_model_info *info = mig_model(m);
    for (int i = 0; i < info->n_profiles; i++)
        if (strcmp(info->profiles[i].name, name) == 0)
            return (int8_t)i;
    fail_msg("model %s has no MIG profile %s", info->name, name);
    return -1;
}

static const struct mig_profile *profile_named(enum gpu_model m, const char *name)
{
    return &mig_model(m)->profiles[profile_index(m, name)];
}

/* Fill specs with the named profiles, each to be placed automatically (start -1). */
static void specs_of(struct mig_instance_spec *inst, enum gpu_model m, const char *const *names,
                     int n)
{
    for (int i = 0; i < n; i++) {
        inst[i].profile = profile_index(m, names[i]);
        inst[i].start = -1;
    }
}

/* A placed layout is valid: allowed starts, in range, no overlap, compute within the GPU. */
static void assert_layout_valid(enum gpu_model m, const struct mig_instance_spec *inst, int n)
{
    const struct gpu_model_info *info = mig_model(m);
    unsigned used = 0;
    int compute = 0;
    for (int i = 0; i < n; i++) {
        const struct mig_profile *p = &info->profiles[inst[i].profile];
        assert_in_range(inst[i].start, 0, info->memory_slices - 1);
        assert_true(p->starts >> inst[i].start & 1);
        assert_true(inst[i].start + p->memory <= info->memory_slices);
        unsigned span = ((1u << p->memory) - 1) << inst[i].start;
        assert_int_equal(used & span, 0);
        used |= span;
        compute += p->compute;
    }
    assert_true(compute <= info->compute_slices);
}

static void test_models(void **state)
{
    enum gpu_model m = GPU_MODEL_OTHER;
    assert_int_equal(mig_model_parse("H100-80GB", &m), 0);
    assert_int_equal(m, GPU_MODEL_H100_80GB);
    assert_int_equal(mig_model_parse("A30-24GB", &m), 0);
    assert_int_equal(m, GPU_MODEL_A30_24GB);
    assert_int_equal(mig_model_parse("L40S", &m), 0);
    assert_int_equal(m, GPU_MODEL_L40S);
    m = GPU_MODEL_H100_80GB;
    assert_int_equal(mig_model_parse("H100", &m), -ALLOT_ENOENT);
    assert_int_equal(mig_model_parse("", &m), -ALLOT_ENOENT);
    assert_int_equal(m, GPU_MODEL_H100_80GB);

    const struct gpu_model_info *h100 = mig_model(GPU_MODEL_H100_80GB);
    assert_string_equal(h100->name, "H100-80GB");
    assert_int_equal(h100->compute_slices, 7);
    assert_int_equal(h100->memory_slices, 8);
    assert_int_equal(h100->n_profiles, 7);
    const struct gpu_model_info *a30 = mig_model(GPU_MODEL_A30_24GB);
    assert_int_equal(a30->compute_slices, 4);
    assert_int_equal(a30->memory_slices, 4);
    assert_int_equal(mig_model(GPU_MODEL_L40S)->compute_slices, 0);
    assert_int_equal(mig_model(GPU_MODEL_L40S)->n_profiles, 0);
}

static void test_charges_exact(void **state)
{
    static const struct {
        enum gpu_model model;
        const char *name;
        int32_t units;
    } cases[] = {
        {GPU_MODEL_H100_80GB, "1g.10gb", 120},  {GPU_MODEL_H100_80GB, "1g.10gb+me", 120},
        {GPU_MODEL_H100_80GB, "1g.20gb", 210},  {GPU_MODEL_H100_80GB, "2g.20gb", 240},
        {GPU_MODEL_H100_80GB, "3g.40gb", 420},  {GPU_MODEL_H100_80GB, "4g.40gb", 480},
        {GPU_MODEL_H100_80GB, "7g.80gb", 840},  {GPU_MODEL_H200_141GB, "1g.18gb", 120},
        {GPU_MODEL_H200_141GB, "3g.71gb", 420}, {GPU_MODEL_H200_141GB, "7g.141gb", 840},
        {GPU_MODEL_A100_40GB, "1g.5gb", 120},   {GPU_MODEL_A100_40GB, "1g.10gb", 210},
        {GPU_MODEL_A100_40GB, "7g.40gb", 840},  {GPU_MODEL_A100_80GB, "3g.40gb", 420},
        {GPU_MODEL_A30_24GB, "1g.6gb", 210},    {GPU_MODEL_A30_24GB, "2g.12gb", 420},
        {GPU_MODEL_A30_24GB, "4g.24gb", 840},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct mig_profile *p = profile_named(cases[i].model, cases[i].name);
        assert_int_equal(p->units, cases[i].units);
    }
    assert_int_equal(120 * 7, QUANTITY_GPU_UNITS);
    assert_int_equal(7 * profile_named(GPU_MODEL_H100_80GB, "1g.10gb")->units, QUANTITY_GPU_UNITS);
    assert_int_equal(2 * profile_named(GPU_MODEL_H100_80GB, "3g.40gb")->units, QUANTITY_GPU_UNITS);
    assert_int_equal(4 * profile_named(GPU_MODEL_A30_24GB, "1g.6gb")->units, QUANTITY_GPU_UNITS);

    /* every charge is the dominant share, so no profile is charged more than a GPU */
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        const struct gpu_model_info *info = mig_model((enum gpu_model)m);
        for (int p = 0; p < info->n_profiles; p++) {
            const struct mig_profile *prof = &info->profiles[p];
            assert_in_range(prof->units, 1, QUANTITY_GPU_UNITS);
            assert_true(prof->units * info->compute_slices >= prof->compute * QUANTITY_GPU_UNITS);
            assert_true(prof->units * info->memory_slices >= prof->memory * QUANTITY_GPU_UNITS);
        }
    }
}

static void test_geometry_matches_reference(void **state)
{
    const struct mig_profile *p = profile_named(GPU_MODEL_H100_80GB, "1g.10gb");
    assert_int_equal(p->id, 19);
    assert_int_equal(p->max_count, 7);
    assert_int_equal(p->starts, 0x7f);
    p = profile_named(GPU_MODEL_H100_80GB, "1g.20gb");
    assert_int_equal(p->id, 15);
    assert_int_equal(p->memory, 2);
    assert_int_equal(p->starts, 0x55); /* 0, 2, 4, 6 */
    p = profile_named(GPU_MODEL_H100_80GB, "2g.20gb");
    assert_int_equal(p->starts, 0x15); /* 0, 2, 4 */
    assert_int_equal(p->max_count, 3);
    p = profile_named(GPU_MODEL_H100_80GB, "3g.40gb");
    assert_int_equal(p->id, 9);
    assert_int_equal(p->starts, 0x11); /* 0, 4 */
    p = profile_named(GPU_MODEL_H100_80GB, "7g.80gb");
    assert_int_equal(p->id, 0);
    assert_int_equal(p->memory, 8);
    assert_int_equal(p->compute, 7);
}

static void test_names(void **state)
{
    int id = mig_name_id("3g.40gb");
    assert_true(id >= 0);
    assert_string_equal(mig_name(id), "3g.40gb");
    assert_int_equal(mig_name_id("9g.99gb"), -ALLOT_ENOENT);
    assert_int_equal(mig_name_id(""), -ALLOT_ENOENT);
    assert_null(mig_name(-1));
    assert_null(mig_name(MIG_MAX_NAMES));

    /* every profile of every model round-trips through its global name id */
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        const struct gpu_model_info *info = mig_model((enum gpu_model)m);
        for (int p = 0; p < info->n_profiles; p++) {
            const struct mig_profile *prof = &info->profiles[p];
            int nid = mig_name_id(prof->name);
            assert_int_equal(nid, prof->name_id);
            assert_string_equal(mig_name(nid), prof->name);
            assert_ptr_equal(mig_profile_of((enum gpu_model)m, nid), prof);
        }
    }

    /* one name, different geometry per model */
    int g1_10 = mig_name_id("1g.10gb");
    assert_true(g1_10 >= 0);
    const struct mig_profile *a100 = mig_profile_of(GPU_MODEL_A100_40GB, g1_10);
    const struct mig_profile *h100 = mig_profile_of(GPU_MODEL_H100_80GB, g1_10);
    assert_non_null(a100);
    assert_non_null(h100);
    assert_int_equal(a100->memory, 2);
    assert_int_equal(h100->memory, 1);
    assert_int_equal(a100->units, 210);
    assert_int_equal(h100->units, 120);
    /* a model that does not offer a name */
    assert_null(mig_profile_of(GPU_MODEL_A30_24GB, g1_10));
    assert_null(mig_profile_of(GPU_MODEL_L40S, g1_10));
    assert_null(mig_profile_of(GPU_MODEL_H100_80GB, mig_name_id("1g.5gb")));
}

static void test_place_valid(void **state)
{
    enum gpu_model h = GPU_MODEL_H100_80GB;
    struct mig_instance_spec inst[MIG_MAX_INSTANCES];
    char err[256] = "";

    static const char *const two_3g[] = {"3g.40gb", "3g.40gb"};
    specs_of(inst, h, two_3g, 2);
    assert_int_equal(mig_layout_place(h, inst, 2, err, sizeof(err)), 0);
    assert_int_equal(inst[0].start, 0);
    assert_int_equal(inst[1].start, 4);

    static const char *const g4_g3[] = {"4g.40gb", "3g.40gb"};
    specs_of(inst, h, g4_g3, 2);
    assert_int_equal(mig_layout_place(h, inst, 2, err, sizeof(err)), 0);
    assert_int_equal(inst[0].start, 0);
    assert_int_equal(inst[1].start, 4);

    static const char *const seven_1g[] = {"1g.10gb", "1g.10gb", "1g.10gb", "1g.10gb",
                                           "1g.10gb", "1g.10gb", "1g.10gb"};
    specs_of(inst, h, seven_1g, 7);
    assert_int_equal(mig_layout_place(h, inst, 7, err, sizeof(err)), 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(inst[i].start, i);

    static const char *const whole[] = {"7g.80gb"};
    specs_of(inst, h, whole, 1);
    assert_int_equal(mig_layout_place(h, inst, 1, err, sizeof(err)), 0);
    assert_int_equal(inst[0].start, 0);

    /* largest first: the 3g takes 0 although listed last */
    static const char *const mixed[] = {"1g.10gb", "2g.20gb", "3g.40gb"};
    specs_of(inst, h, mixed, 3);
    assert_int_equal(mig_layout_place(h, inst, 3, err, sizeof(err)), 0);
    assert_int_equal(inst[2].start, 0);
    assert_int_equal(inst[1].start, 4);
    assert_int_equal(inst[0].start, 6);
    assert_layout_valid(h, inst, 3);

    /* explicit starts are kept, automatic ones fill around them */
    static const char *const fixed_mix[] = {"3g.40gb", "3g.40gb"};
    specs_of(inst, h, fixed_mix, 2);
    inst[0].start = 4;
    assert_int_equal(mig_layout_place(h, inst, 2, err, sizeof(err)), 0);
    assert_int_equal(inst[0].start, 4);
    assert_int_equal(inst[1].start, 0);

    /* four 1g.20gb at the even slices */
    static const char *const four_1g20[] = {"1g.20gb", "1g.20gb", "1g.20gb", "1g.20gb"};
    specs_of(inst, h, four_1g20, 4);
    assert_int_equal(mig_layout_place(h, inst, 4, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(inst[i].start, 2 * i);

    /* an empty layout is valid */
    assert_int_equal(mig_layout_place(h, inst, 0, err, sizeof(err)), 0);

    /* A30: four slices */
    enum gpu_model a30 = GPU_MODEL_A30_24GB;
    static const char *const a30_2g[] = {"2g.12gb", "2g.12gb"};
    specs_of(inst, a30, a30_2g, 2);
    assert_int_equal(mig_layout_place(a30, inst, 2, err, sizeof(err)), 0);
    assert_int_equal(inst[0].start, 0);
    assert_int_equal(inst[1].start, 2);
    static const char *const a30_1g[] = {"1g.6gb", "1g.6gb", "1g.6gb", "1g.6gb"};
    specs_of(inst, a30, a30_1g, 4);
    assert_int_equal(mig_layout_place(a30, inst, 4, err, sizeof(err)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(inst[i].start, i);
}

/* Expect -ALLOT_ECONFIG and a non-empty message containing want (when not NULL). */
static void expect_config_error(enum gpu_model m, struct mig_instance_spec *inst, int n,
                                const char *want)
{
    char err[256] = "";
    assert_int_equal(mig_layout_place(m, inst, n, err, sizeof(err)), -ALLOT_ECONFIG);
    assert_true(strlen(err) > 0);
    if (want && !strstr(err, want))
        fail_msg("message \"%s\" does not mention \"%s\"", err, want);
}

static void test_place_invalid(void **state)
{
    enum gpu_model h = GPU_MODEL_H100_80GB;
    struct mig_instance_spec inst[MIG_MAX_INSTANCES + 1];

    static const char *const three_3g[] = {"3g.40gb", "3g.40gb", "3g.40gb"};
    specs_of(inst, h, three_3g, 3);
    expect_config_error(h, inst, 3, "3g.40gb");

    static const char *const odd[] = {"1g.20gb"};
    specs_of(inst, h, odd, 1);
    inst[0].start = 1;
    expect_config_error(h, inst, 1, "1g.20gb");

    /* overlapping explicit starts: 3g.40gb covers 0-3, 2g.20gb at 2 covers 2-3 */
    static const char *const overlap[] = {"3g.40gb", "2g.20gb"};
    specs_of(inst, h, overlap, 2);
    inst[0].start = 0;
    inst[1].start = 2;
    expect_config_error(h, inst, 2, "overlap");

    /* two 1g.10gb fixed at the same slice */
    static const char *const same[] = {"1g.10gb", "1g.10gb"};
    specs_of(inst, h, same, 2);
    inst[0].start = 3;
    inst[1].start = 3;
    expect_config_error(h, inst, 2, "overlap");

    static const char *const eight_1g[] = {"1g.10gb", "1g.10gb", "1g.10gb", "1g.10gb",
                                           "1g.10gb", "1g.10gb", "1g.10gb", "1g.10gb"};
    specs_of(inst, h, eight_1g, 8);
    expect_config_error(h, inst, 8, NULL);

    static const char *const two_4g[] = {"4g.40gb", "4g.40gb"};
    specs_of(inst, h, two_4g, 2);
    expect_config_error(h, inst, 2, "4g.40gb");

    /* 4g.40gb and 3g.40gb fill the GPU (all 7 compute, all 8 memory slices): a further
     * 1g.10gb fits neither */
    static const char *const full[] = {"4g.40gb", "3g.40gb", "1g.10gb"};
    specs_of(inst, h, full, 3);
    expect_config_error(h, inst, 3, NULL);

    /* per-profile maximum: 1g.10gb+me at most once */
    static const char *const two_me[] = {"1g.10gb+me", "1g.10gb+me"};
    specs_of(inst, h, two_me, 2);
    expect_config_error(h, inst, 2, "1g.10gb+me");

    /* start beyond the GPU */
    static const char *const far[] = {"1g.10gb"};
    specs_of(inst, h, far, 1);
    inst[0].start = 7; /* 1g.10gb may start at 0..6 only */
    expect_config_error(h, inst, 1, NULL);
    inst[0].start = 100;
    expect_config_error(h, inst, 1, NULL);

    /* A30: five 1g.6gb exceed its four slices */
    static const char *const a30_five[] = {"1g.6gb", "1g.6gb", "1g.6gb", "1g.6gb", "1g.6gb"};
    specs_of(inst, GPU_MODEL_A30_24GB, a30_five, 5);
    expect_config_error(GPU_MODEL_A30_24GB, inst, 5, NULL);

    /* MIG on a GPU without MIG */
    inst[0].profile = 0;
    inst[0].start = -1;
    expect_config_error(GPU_MODEL_L40S, inst, 1, "L40S");
    expect_config_error(GPU_MODEL_OTHER, inst, 1, NULL);
}

/* Automatic placement must not depend on the order instances are listed in: a 4g.40gb can
 * only start at 0, so it must get 0 even when a 3g.40gb is listed first. */
static void test_place_order_3g_4g(void **state)
{
    enum gpu_model h = GPU_MODEL_H100_80GB;
    struct mig_instance_spec inst[2];
    char err[256] = "";
    static const char *const g3_g4[] = {"3g.40gb", "4g.40gb"};
    specs_of(inst, h, g3_g4, 2);
    int rc = mig_layout_place(h, inst, 2, err, sizeof(err));
    if (rc != 0)
        print_error("[3g.40gb, 4g.40gb]: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(inst[0].start, 4);
    assert_int_equal(inst[1].start, 0);
}

/* Three 2g.20gb (starts 0, 2, 4) and one 1g.20gb (which alone may take 6) fill an H100 in
 * whatever order they are listed. */
static void test_place_order_1g20_2g(void **state)
{
    enum gpu_model h = GPU_MODEL_H100_80GB;
    struct mig_instance_spec inst[4];
    char err[256] = "";
    static const char *const g1_first[] = {"1g.20gb", "2g.20gb", "2g.20gb", "2g.20gb"};
    specs_of(inst, h, g1_first, 4);
    int rc = mig_layout_place(h, inst, 4, err, sizeof(err));
    if (rc != 0)
        print_error("[1g.20gb, 3 x 2g.20gb]: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(inst[0].start, 6);
    assert_layout_valid(h, inst, 4);
}

/* 3g.40gb with two 2g.20gb fits (mig.md: 3g at 4, 2g at 0 and 2: 7 compute, 8 memory), but
 * only if the 3g is not put at the lowest start 0: placement must search, not be greedy. */
static void test_place_3g_2g_2g(void **state)
{
    enum gpu_model h = GPU_MODEL_H100_80GB;
    struct mig_instance_spec inst[3];
    char err[256] = "";
    static const char *const names[] = {"3g.40gb", "2g.20gb", "2g.20gb"};
    specs_of(inst, h, names, 3);
    int rc = mig_layout_place(h, inst, 3, err, sizeof(err));
    if (rc != 0)
        print_error("[3g.40gb, 2 x 2g.20gb]: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(inst[0].start, 4);
    assert_layout_valid(h, inst, 3);
}

/* A profile index outside the model's table is a configuration error, not a memory read
 * past the table (the contract promises to check that profiles are offered). Kept last: under
 * AddressSanitizer the current code aborts here. */
static void test_place_bad_profile_index(void **state)
{
    struct mig_instance_spec inst[1];
    const struct gpu_model_info *a30 = mig_model(GPU_MODEL_A30_24GB);
    inst[0].profile = (int8_t)a30->n_profiles;
    inst[0].start = -1;
    expect_config_error(GPU_MODEL_A30_24GB, inst, 1, NULL);
    inst[0].profile = -1;
    inst[0].start = -1;
    expect_config_error(GPU_MODEL_A30_24GB, inst, 1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_charges_exact),
        cmocka_unit_test(test_geometry_matches_reference),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_place_valid),
        cmocka_unit_test(test_place_invalid),
        cmocka_unit_test(test_place_order_3g_4g),
        cmocka_unit_test(test_place_order_1g20_2g),
        cmocka_unit_test(test_place_3g_2g_2g),
        cmocka_unit_test(test_place_bad_profile_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
