/* Unit tests for agent/gpuinfo: discovery through the fake NVML (tests/fake_nvml), the health
 * rule, model and profile mapping, declared inventories and the JSON report. The fake library
 * is built by the test suite; FAKE_NVML_LIB must name it (these tests fail, not skip, without). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/gpuinfo.h"
#include "agent/nvml.h"
#include "common/error.h"
#include "sched/mig.h"

static const char *const fake_vars[] = {
    "FAKE_NVML_GPUS",   "FAKE_NVML_ECC",          "FAKE_NVML_TEMP",
    "FAKE_NVML_UTIL",   "FAKE_NVML_FAIL_INIT",    "FAKE_NVML_LOST",
    "FAKE_NVML_NO_ECC", "FAKE_NVML_NO_PLACEMENT", "FAKE_NVML_NO_ATTRIBUTES",
};

/* Path of the fake NVML; fails the test with directions when it is not given. */
static const char *fake_lib(void)
{
    const char *path = getenv("FAKE_NVML_LIB");
    if (!path || !*path)
        fail_msg("FAKE_NVML_LIB is not set: build tests/fake_nvml/fake_nvml.c as "
                 "libnvidia-ml.so.1 (gcc -shared -fPIC) and point FAKE_NVML_LIB at it");
    return path;
}

/* Clear every FAKE_NVML_* variable so that each test states its whole machine. */
static int reset_env(void **state)
{
    for (size_t i = 0; i < sizeof(fake_vars) / sizeof(fake_vars[0]); i++)
        unsetenv(fake_vars[i]);
    return 0;
}

/* Discover the fake machine described by gpus; the call must succeed. */
static void discover(const char *gpus, struct gpuinfo *g)
{
    char err[256] = "";
    setenv("FAKE_NVML_GPUS", gpus, 1);
    int rc = nvml_discover(fake_lib(), g, err, sizeof(err));
    if (rc != 0)
        fail_msg("nvml_discover: %d: %s", rc, err);
    assert_true(g->discovered);
}

static void assert_mig(const struct gpuinfo_gpu *g, uint32_t k, const char *profile, int start)
{
    assert_true(k < g->n_mig);
    assert_string_equal(g->mig[k].profile, profile);
    assert_int_equal(g->mig[k].start, start);
}

static void test_discover_three(void **state)
{
    struct gpuinfo g;
    discover("H100:mig=3g.40gb+3g.40gb,H100,A100-40GB", &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.driver, "550.54.15-fake");

    const struct gpuinfo_gpu *a = &g.gpus[0], *b = &g.gpus[1], *c = &g.gpus[2];
    assert_int_equal(a->index, 0);
    assert_string_equal(a->uuid, "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert_string_equal(a->name, "NVIDIA H100 80GB HBM3");
    assert_int_equal(a->model, GPU_MODEL_H100_80GB);
    assert_int_equal(a->memory_bytes, 81559ull << 20);
    assert_true(a->mig_enabled);
    assert_int_equal(a->n_mig, 2);
    assert_mig(a, 0, "3g.40gb", 0);
    assert_mig(a, 1, "3g.40gb", 4);
    assert_string_equal(a->mig[0].uuid, "MIG-fa4e0000-0000-4000-8000-000000000000");
    assert_string_equal(a->mig[1].uuid, "MIG-fa4e0000-0001-4000-8000-000000000000");
    assert_int_equal(a->utilization_pct, -1); /* NVML does not offer it under MIG */
    assert_int_equal(a->temperature_c, 40);
    assert_int_equal(a->ecc_uncorrected, 0);
    assert_true(a->healthy);
    assert_string_equal(a->health_reason, "");

    assert_int_equal(b->index, 1);
    assert_string_equal(b->uuid, "GPU-fa4e0001-0000-4000-8000-000000000000");
    assert_int_equal(b->model, GPU_MODEL_H100_80GB);
    assert_false(b->mig_enabled);
    assert_int_equal(b->n_mig, 0);
    assert_int_equal(b->utilization_pct, 0);
    assert_true(b->healthy);

    assert_string_equal(c->uuid, "GPU-fa4e0002-0000-4000-8000-000000000000");
    assert_string_equal(c->name, "NVIDIA A100-SXM4-40GB");
    assert_int_equal(c->model, GPU_MODEL_A100_40GB);
    assert_false(c->mig_enabled);
    assert_true(c->healthy);
}

/* Every model, and mixed layouts: profiles come from the model's table, starts from NVML's
 * placement, and instances are listed in MIG device index order. */
static void test_discover_models_and_layouts(void **state)
{
    struct gpuinfo g;
    discover("H200:mig=4g.71gb+2g.35gb+1g.18gb,A100-40GB:mig=3g.20gb@4+2g.10gb+1g.5gb+me,"
             "A100-80GB:mig=7g.80gb,A30:mig=2g.12gb@2+1g.6gb+1g.6gb,L40S,H100-NVL,GH200,"
             "H100:mig=1g.20gb+1g.10gb+me+2g.20gb",
             &g);
    assert_int_equal(g.n, 8);
    assert_int_equal(g.gpus[0].model, GPU_MODEL_H200_141GB);
    assert_int_equal(g.gpus[0].n_mig, 3);
    assert_mig(&g.gpus[0], 0, "4g.71gb", 0);
    assert_mig(&g.gpus[0], 1, "2g.35gb", 4);
    assert_mig(&g.gpus[0], 2, "1g.18gb", 6);

    assert_int_equal(g.gpus[1].model, GPU_MODEL_A100_40GB);
    assert_int_equal(g.gpus[1].n_mig, 3);
    assert_mig(&g.gpus[1], 0, "2g.10gb", 0);
    assert_mig(&g.gpus[1], 1, "1g.5gb+me", 2);
    assert_mig(&g.gpus[1], 2, "3g.20gb", 4);

    assert_int_equal(g.gpus[2].model, GPU_MODEL_A100_80GB);
    assert_string_equal(g.gpus[2].name, "NVIDIA A100 80GB PCIe");
    assert_int_equal(g.gpus[2].n_mig, 1);
    assert_mig(&g.gpus[2], 0, "7g.80gb", 0);

    assert_int_equal(g.gpus[3].model, GPU_MODEL_A30_24GB);
    assert_int_equal(g.gpus[3].n_mig, 3);
    assert_mig(&g.gpus[3], 0, "1g.6gb", 0);
    assert_mig(&g.gpus[3], 1, "1g.6gb", 1);
    assert_mig(&g.gpus[3], 2, "2g.12gb", 2);

    assert_int_equal(g.gpus[4].model, GPU_MODEL_L40S);
    assert_false(g.gpus[4].mig_enabled);
    assert_int_equal(g.gpus[5].model, GPU_MODEL_OTHER); /* H100 NVL: 94 GB, not an H100-80GB */
    assert_int_equal(g.gpus[6].model, GPU_MODEL_OTHER); /* GH200 is not an H200 */

    assert_int_equal(g.gpus[7].n_mig, 3);
    assert_mig(&g.gpus[7], 0, "1g.20gb", 0);
    assert_mig(&g.gpus[7], 1, "1g.10gb+me", 2);
    assert_mig(&g.gpus[7], 2, "2g.20gb", 4);
    for (uint32_t i = 0; i < g.n; i++)
        assert_true(g.gpus[i].healthy);
}

/* Without root NVML hides GPU instances: profiles still come from slice counts and memory,
 * starts are unknown. Without slice counts too, memory alone names a profile only where it
 * is unambiguous. */
static void test_discover_without_placement(void **state)
{
    struct gpuinfo g;
    setenv("FAKE_NVML_NO_PLACEMENT", "1", 1);
    discover("H100:mig=4g.40gb+2g.20gb+1g.10gb,A30:mig=4g.24gb", &g);
    assert_int_equal(g.gpus[0].n_mig, 3);
    assert_mig(&g.gpus[0], 0, "4g.40gb", -1);
    assert_mig(&g.gpus[0], 1, "2g.20gb", -1);
    assert_mig(&g.gpus[0], 2, "1g.10gb", -1);
    assert_mig(&g.gpus[1], 0, "4g.24gb", -1);
    assert_true(g.gpus[0].healthy);

    setenv("FAKE_NVML_NO_ATTRIBUTES", "1", 1);
    discover("H100:mig=3g.40gb+1g.10gb+1g.10gb+1g.10gb,H100:mig=7g.80gb", &g);
    assert_int_equal(g.gpus[0].n_mig, 4);
    assert_mig(&g.gpus[0], 0, "", -1); /* 4 memory slices: 3g.40gb or 4g.40gb */
    assert_mig(&g.gpus[0], 1, "1g.10gb", -1);
    assert_mig(&g.gpus[1], 0, "7g.80gb", -1);
    assert_true(g.gpus[0].healthy);

    unsetenv("FAKE_NVML_NO_PLACEMENT");
    discover("H100:mig=4g.40gb+3g.40gb", &g); /* placement and profile id suffice */
    assert_mig(&g.gpus[0], 0, "4g.40gb", 0);
    assert_mig(&g.gpus[0], 1, "3g.40gb", 4);
}

static void test_health_ecc_and_temperature(void **state)
{
    struct gpuinfo g;
    setenv("FAKE_NVML_ECC", "1:3", 1);
    setenv("FAKE_NVML_TEMP", "2:92,3:89", 1);
    discover("H100,H100,H100,H100", &g);
    assert_true(g.gpus[0].healthy);
    assert_false(g.gpus[1].healthy);
    assert_int_equal(g.gpus[1].ecc_uncorrected, 3);
    assert_non_null(strstr(g.gpus[1].health_reason, "3 uncorrected ECC errors"));
    assert_false(g.gpus[2].healthy);
    assert_int_equal(g.gpus[2].temperature_c, 92);
    assert_non_null(strstr(g.gpus[2].health_reason, "temperature 92 C"));
    assert_null(strstr(g.gpus[2].health_reason, "ECC"));
    assert_true(g.gpus[3].healthy); /* 89 C is below the limit */
    assert_int_equal(g.gpus[3].temperature_c, 89);

    /* both at once: both reasons */
    setenv("FAKE_NVML_ECC", "0:1", 1);
    setenv("FAKE_NVML_TEMP", "0:90", 1);
    discover("A30", &g);
    assert_false(g.gpus[0].healthy);
    assert_non_null(strstr(g.gpus[0].health_reason, "1 uncorrected ECC error since"));
    assert_non_null(strstr(g.gpus[0].health_reason, "temperature 90 C"));
}

static void test_health_ecc_not_offered(void **state)
{
    struct gpuinfo g;
    setenv("FAKE_NVML_NO_ECC", "1", 1);
    discover("L40S", &g);
    assert_int_equal(g.gpus[0].ecc_uncorrected, -1);
    assert_true(g.gpus[0].healthy);
}

/* An NVML error on one device makes that GPU unhealthy, naming the call, and leaves the
 * others alone. */
static void test_health_device_error(void **state)
{
    struct gpuinfo g;
    setenv("FAKE_NVML_LOST", "1", 1);
    discover("H100,H100,H100", &g);
    assert_int_equal(g.n, 3);
    assert_true(g.gpus[0].healthy);
    assert_true(g.gpus[2].healthy);
    assert_false(g.gpus[1].healthy);
    assert_non_null(strstr(g.gpus[1].health_reason, "NVML nvmlDeviceGetName: GPU is lost"));
    assert_string_equal(g.gpus[1].uuid, "");
    assert_int_equal(g.gpus[1].model, GPU_MODEL_OTHER);
    assert_true(strlen(g.gpus[1].health_reason) < sizeof(g.gpus[1].health_reason));
}

/* One call failing with a real error (not "not supported") is a device error too, wherever
 * it happens; the rest of what NVML reports for that GPU is still read. */
static void test_health_single_call_error(void **state)
{
    static const struct {
        const char *call, *gpus;
    } cases[] = {
        {"nvmlDeviceGetTemperature", "H100,H100"},
        {"nvmlDeviceGetTotalEccErrors", "H100,H100"},
        {"nvmlDeviceGetUtilizationRates", "H100,H100"},
        {"nvmlDeviceGetMigMode", "H100,H100"},
        {"nvmlDeviceGetMigDeviceHandleByIndex", "H100,H100:mig=7g.80gb"},
        {"nvmlDeviceGetGpuInstanceById", "H100,H100:mig=7g.80gb"},
        {"nvmlGpuInstanceGetInfo", "H100,H100:mig=7g.80gb"},
        {"nvmlDeviceGetAttributes_v2", "H100,H100:mig=7g.80gb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gpuinfo g;
        char fail[80];
        snprintf(fail, sizeof(fail), "%s:1", cases[i].call);
        setenv("FAKE_NVML_FAIL", fail, 1);
        discover(cases[i].gpus, &g);
        assert_true(g.gpus[0].healthy);
        if (g.gpus[1].healthy || !strstr(g.gpus[1].health_reason, cases[i].call) ||
            !strstr(g.gpus[1].health_reason, "Unknown Error"))
            fail_msg("%s failing: healthy %d, reason \"%s\"", cases[i].call, g.gpus[1].healthy,
                     g.gpus[1].health_reason);
        assert_string_equal(g.gpus[1].uuid, "GPU-fa4e0001-0000-4000-8000-000000000000");
        assert_int_equal(g.gpus[1].model, GPU_MODEL_H100_80GB);
    }
}

static void test_init_failure(void **state)
{
    struct gpuinfo g;
    char err[256] = "";
    setenv("FAKE_NVML_GPUS", "H100", 1);
    setenv("FAKE_NVML_FAIL_INIT", "1", 1);
    assert_int_equal(nvml_discover(fake_lib(), &g, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, "nvmlInit_v2"));
    assert_non_null(strstr(err, "Driver Not Loaded"));
    assert_int_equal(g.n, 0);

    /* a library that NVML cannot start from its configuration is an error too */
    unsetenv("FAKE_NVML_FAIL_INIT");
    setenv("FAKE_NVML_GPUS", "H100:mig=5g.50gb", 1);
    assert_int_equal(nvml_discover(fake_lib(), &g, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, "Invalid Argument"));
}

static void test_missing_library(void **state)
{
    struct gpuinfo g;
    char err[512] = "";
    assert_int_equal(
        nvml_discover("/nonexistent/allot-test/libnvidia-ml.so.1", &g, err, sizeof(err)),
        -ALLOT_ENOENT);
    assert_non_null(strstr(err, "/nonexistent/allot-test/libnvidia-ml.so.1"));
    assert_non_null(strstr(err, "declare"));
    assert_int_equal(g.n, 0);
}

/* A library without NVML's entry points (libc is always there) is not NVML. */
static void test_not_nvml(void **state)
{
    struct gpuinfo g;
    char err[512] = "";
    assert_int_equal(nvml_discover("libc.so.6", &g, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, "lacks nvmlInit_v2"));
}

static void test_too_many_gpus(void **state)
{
    struct gpuinfo g;
    char gpus[33 * 5 + 1] = "", err[256] = "";
    for (int i = 0; i < 33; i++)
        strcat(gpus, i ? ",H100" : "H100");
    setenv("FAKE_NVML_GPUS", gpus, 1);
    assert_int_equal(nvml_discover(fake_lib(), &g, err, sizeof(err)), -ALLOT_ERANGE);
    assert_non_null(strstr(err, "33 GPUs"));
    assert_int_equal(g.n, 0);
}

static void test_model_of(void **state)
{
    const uint64_t mib = 1ull << 20;
    assert_int_equal(gpuinfo_model_of("NVIDIA H100 80GB HBM3", 81559 * mib), GPU_MODEL_H100_80GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA H100 PCIe", 81559 * mib), GPU_MODEL_H100_80GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA H100 NVL", 95830 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("NVIDIA H200", 143771 * mib), GPU_MODEL_H200_141GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA GH200 480GB", 97871 * mib), GPU_MODEL_OTHER);
    /* a GH200 with H200-sized memory: the name decides, as a whole word */
    assert_int_equal(gpuinfo_model_of("NVIDIA GH200 144G HBM3e", 146 * 1024 * mib),
                     GPU_MODEL_OTHER);
    /* NVL parts have other MIG profiles (H200 NVL: 7 x 16.5 GB) */
    assert_int_equal(gpuinfo_model_of("NVIDIA H200 NVL", 143771 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("NVIDIA H100 NVL", 81559 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("NVIDIA A100-SXM4-40GB", 40960 * mib), GPU_MODEL_A100_40GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA A100-PCIE-40GB", 40536 * mib), GPU_MODEL_A100_40GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA A100-SXM4-80GB", 81920 * mib), GPU_MODEL_A100_80GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA A30", 24576 * mib), GPU_MODEL_A30_24GB);
    assert_int_equal(gpuinfo_model_of("NVIDIA L40S", 46068 * mib), GPU_MODEL_L40S);
    assert_int_equal(gpuinfo_model_of("NVIDIA L40", 46068 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("NVIDIA A10", 24564 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("NVIDIA H100 80GB HBM3", 0), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of("", 81559 * mib), GPU_MODEL_OTHER);
    assert_int_equal(gpuinfo_model_of(NULL, 81559 * mib), GPU_MODEL_OTHER);
}

static void test_declare_good(void **state)
{
    struct gpuinfo g;
    char err[256] = "";
    assert_int_equal(gpuinfo_declare("8xH100-80GB", &g, err, sizeof(err)), 0);
    assert_false(g.discovered);
    assert_int_equal(g.n, 8);
    for (uint32_t i = 0; i < 8; i++) {
        char uuid[32];
        snprintf(uuid, sizeof(uuid), "DECLARED-%u", (unsigned)i);
        assert_int_equal(g.gpus[i].index, i);
        assert_string_equal(g.gpus[i].uuid, uuid);
        assert_int_equal(g.gpus[i].model, GPU_MODEL_H100_80GB);
        assert_false(g.gpus[i].mig_enabled);
        assert_true(g.gpus[i].healthy);
        assert_int_equal(g.gpus[i].ecc_uncorrected, -1);
    }
    assert_int_equal(g.gpus[0].memory_bytes, 80ull << 30);

    assert_int_equal(gpuinfo_declare("4xA100-40GB,2xL40S", &g, err, sizeof(err)), 0);
    assert_int_equal(g.n, 6);
    assert_int_equal(g.gpus[3].model, GPU_MODEL_A100_40GB);
    assert_int_equal(g.gpus[4].model, GPU_MODEL_L40S);
    assert_string_equal(g.gpus[5].uuid, "DECLARED-5");

    assert_int_equal(gpuinfo_declare("1xH100-80GB:mig=3g.40gb+3g.40gb", &g, err, sizeof(err)), 0);
    assert_int_equal(g.n, 1);
    assert_true(g.gpus[0].mig_enabled);
    assert_int_equal(g.gpus[0].n_mig, 2);
    assert_mig(&g.gpus[0], 0, "3g.40gb", 0);
    assert_mig(&g.gpus[0], 1, "3g.40gb", 4);
    assert_string_equal(g.gpus[0].mig[1].uuid, "DECLARED-0-MIG-1");

    /* explicit starts, "+me" names, spaces around groups, and 32 in all */
    assert_int_equal(gpuinfo_declare(" 2xA30-24GB:mig=2g.12gb@2+1g.6gb , 1xH200-141GB:"
                                     "mig=1g.18gb+me+3g.71gb,29xother",
                                     &g, err, sizeof(err)),
                     0);
    assert_int_equal(g.n, 32);
    assert_mig(&g.gpus[1], 0, "2g.12gb", 2);
    assert_mig(&g.gpus[1], 1, "1g.6gb", 0);
    assert_mig(&g.gpus[2], 0, "1g.18gb+me", 4); /* placed largest first */
    assert_mig(&g.gpus[2], 1, "3g.71gb", 0);
    assert_int_equal(g.gpus[31].model, GPU_MODEL_OTHER);
}

/* spec must fail with rc and an error that contains each of the parts given. */
static void expect_declare_error(const char *spec, int rc, const char *part1, const char *part2)
{
    struct gpuinfo g;
    char err[512] = "";
    int got = gpuinfo_declare(spec, &g, err, sizeof(err));
    if (got != rc)
        fail_msg("\"%s\": expected %d, got %d (%s)", spec, rc, got, err);
    if (part1 && !strstr(err, part1))
        fail_msg("\"%s\": error \"%s\" does not name \"%s\"", spec, err, part1);
    if (part2 && !strstr(err, part2))
        fail_msg("\"%s\": error \"%s\" does not name \"%s\"", spec, err, part2);
    assert_int_equal(g.n, 0);
}

static void test_declare_bad(void **state)
{
    expect_declare_error("8xH100", -ALLOT_ECONFIG, "\"H100\"", "H100-80GB");
    expect_declare_error("4xA100-40GB,2xB200", -ALLOT_ECONFIG, "\"2xB200\"", "\"B200\"");
    expect_declare_error("0xH100-80GB", -ALLOT_ERANGE, "\"0xH100-80GB\"", "count 0");
    expect_declare_error("99xH100-80GB", -ALLOT_ERANGE, "\"99xH100-80GB\"", "count 99");
    expect_declare_error("99999999999999999999xL40S", -ALLOT_ERANGE, "count over", NULL);
    expect_declare_error("16xH100-80GB,17xL40S", -ALLOT_ERANGE, "\"17xL40S\"", "33 GPUs");
    expect_declare_error("1xH100-80GB:mig=3g.40gb+3g.40gb+1g.10gb", -ALLOT_ECONFIG,
                         "\"1xH100-80GB:mig=3g.40gb+3g.40gb+1g.10gb\"", "no room");
    expect_declare_error("1xH100-80GB:mig=4g.40gb+3g.40gb+1g.10gb", -ALLOT_ECONFIG,
                         "\"1xH100-80GB:mig=4g.40gb+3g.40gb+1g.10gb\"", "compute slices");
    expect_declare_error("1xH100-80GB:mig=3g.40gb@2", -ALLOT_ECONFIG, "3g.40gb",
                         "may not start at memory slice 2");
    expect_declare_error("1xH100-80GB:mig=3g.20gb", -ALLOT_ECONFIG, "\"3g.20gb\"",
                         "not offered by H100-80GB");
    expect_declare_error("1xL40S:mig=1g.10gb", -ALLOT_ECONFIG, "\"1xL40S:mig=1g.10gb\"",
                         "does not support MIG");
    expect_declare_error("1xH100-80GB:mig=", -ALLOT_EPARSE, "no MIG profile", NULL);
    expect_declare_error("1xH100-80GB:gpus=2", -ALLOT_EPARSE, "\"1xH100-80GB:gpus=2\"", ":mig=");
    expect_declare_error("1xH100-80GB:mig=3g.40gb@x", -ALLOT_EPARSE, "\"3g.40gb@x\"", NULL);
    expect_declare_error("1xH100-80GB:mig=1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+1g.10gb+"
                         "1g.10gb+1g.10gb",
                         -ALLOT_ECONFIG, "more than 7", NULL);
    expect_declare_error("eight H100s", -ALLOT_EPARSE, "\"eight H100s\"", "<count>x<model>");
    expect_declare_error("8*H100-80GB", -ALLOT_EPARSE, "\"8*H100-80GB\"", NULL);
    expect_declare_error("8xH100-80GB,,2xL40S", -ALLOT_EPARSE, "empty group", NULL);
    expect_declare_error("8xH100-80GB,", -ALLOT_EPARSE, "empty group", NULL);
    expect_declare_error("", -ALLOT_EPARSE, "empty GPU inventory", NULL);
    expect_declare_error("   ", -ALLOT_EPARSE, "empty GPU inventory", NULL);
    expect_declare_error(NULL, -ALLOT_EPARSE, "empty GPU inventory", NULL);

    char long_spec[GPUINFO_SPEC_MAX + 16];
    memset(long_spec, 'x', sizeof(long_spec) - 1);
    long_spec[sizeof(long_spec) - 1] = '\0';
    expect_declare_error(long_spec, -ALLOT_ERANGE, "longer than", NULL);
}

/* The report carries every field, with null for what is not offered. */
static void test_json(void **state)
{
    struct gpuinfo g;
    setenv("FAKE_NVML_ECC", "1:2", 1);
    discover("H100:mig=3g.40gb+3g.40gb,H100", &g);
    json_t *j = gpuinfo_to_json(&g);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "discovered")));
    assert_string_equal(json_string_value(json_object_get(j, "driver")), "550.54.15-fake");
    json_t *gpus = json_object_get(j, "gpus");
    assert_int_equal(json_array_size(gpus), 2);
    json_t *a = json_array_get(gpus, 0), *b = json_array_get(gpus, 1);
    assert_int_equal(json_integer_value(json_object_get(a, "index")), 0);
    assert_string_equal(json_string_value(json_object_get(a, "uuid")),
                        "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert_string_equal(json_string_value(json_object_get(a, "name")), "NVIDIA H100 80GB HBM3");
    assert_string_equal(json_string_value(json_object_get(a, "model")), "H100-80GB");
    assert_int_equal(json_integer_value(json_object_get(a, "memory")), 81559ll << 20);
    assert_true(json_is_true(json_object_get(a, "mig_enabled")));
    json_t *mig = json_object_get(a, "mig");
    assert_int_equal(json_array_size(mig), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(mig, 1), "profile")),
                        "3g.40gb");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(mig, 1), "start")), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(mig, 1), "uuid")),
                        "MIG-fa4e0000-0001-4000-8000-000000000000");
    assert_true(json_is_null(json_object_get(a, "utilization")));
    assert_int_equal(json_integer_value(json_object_get(a, "temperature")), 40);
    assert_int_equal(json_integer_value(json_object_get(a, "ecc_uncorrected")), 0);
    assert_true(json_is_true(json_object_get(a, "healthy")));
    assert_true(json_is_null(json_object_get(a, "health_reason")));
    assert_true(json_is_false(json_object_get(b, "healthy")));
    assert_non_null(strstr(json_string_value(json_object_get(b, "health_reason")), "ECC"));
    assert_int_equal(json_integer_value(json_object_get(b, "utilization")), 0);
    json_decref(j);

    char err[256];
    assert_int_equal(gpuinfo_declare("1xH100-80GB:mig=3g.40gb,1xL40S", &g, err, sizeof(err)), 0);
    j = gpuinfo_to_json(&g);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "discovered")));
    assert_true(json_is_null(json_object_get(j, "driver")));
    a = json_array_get(json_object_get(j, "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "uuid")), "DECLARED-0");
    assert_true(json_is_null(json_object_get(a, "temperature")));
    assert_true(json_is_null(json_object_get(a, "ecc_uncorrected")));
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(a, "mig"), 0), "start")),
        0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_discover_three, reset_env),
        cmocka_unit_test_setup(test_discover_models_and_layouts, reset_env),
        cmocka_unit_test_setup(test_discover_without_placement, reset_env),
        cmocka_unit_test_setup(test_health_ecc_and_temperature, reset_env),
        cmocka_unit_test_setup(test_health_ecc_not_offered, reset_env),
        cmocka_unit_test_setup(test_health_device_error, reset_env),
        cmocka_unit_test_setup(test_health_single_call_error, reset_env),
        cmocka_unit_test_setup(test_init_failure, reset_env),
        cmocka_unit_test_setup(test_missing_library, reset_env),
        cmocka_unit_test_setup(test_not_nvml, reset_env),
        cmocka_unit_test_setup(test_too_many_gpus, reset_env),
        cmocka_unit_test(test_model_of),
        cmocka_unit_test(test_declare_good),
        cmocka_unit_test(test_declare_bad),
        cmocka_unit_test_setup(test_json, reset_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
