/* Unit tests for agent/devices: declared GPUs (and MIG instances) mapped to the devices of
 * hand-written CDI specs in a temporary directory, GPUs without a device or covered by a spec
 * that did not read marked unhealthy with the reason, the edits of a replica's GPUs (in order,
 * each spec's own edits once) and their devices cgroup rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/devices.h"
#include "agent/gpuinfo.h"
#include "common/error.h"
#include "support.h"

/* Devices "0", "1", "DECLARED-2" (GPU 2 by UUID) and "3:0" (MIG), with the control device in
 * the spec-level edits; GPU 3's whole device and GPU 4 have none. */
static const char gpu_spec[] =
    "cdiVersion: 0.6.0\n"
    "kind: nvidia.com/gpu\n"
    "devices:\n"
    "  - name: 0\n"
    "    containerEdits:\n"
    "      deviceNodes: [{path: /dev/nvidia0, type: c, major: 195, minor: 0}]\n"
    "  - name: 1\n"
    "    containerEdits:\n"
    "      deviceNodes: [{path: /dev/nvidia1, type: c, major: 195, minor: 1, permissions: rw}]\n"
    "      env: [GPU_ONE=1]\n"
    "  - name: DECLARED-2\n"
    "    containerEdits:\n"
    "      deviceNodes: [{path: /dev/nvidia2, type: c, major: 195, minor: 2}]\n"
    "  - name: 2\n"
    "    containerEdits:\n"
    "      deviceNodes: [{path: /dev/nvidia-wrong, type: c, major: 195, minor: 99}]\n"
    "  - name: \"3:0\"\n"
    "    containerEdits:\n"
    "      deviceNodes: [{path: /dev/nvidia-caps/nvidia-cap30, type: c, major: 511, minor: 30}]\n"
    "containerEdits:\n"
    "  env: [NVIDIA_VISIBLE_DEVICES=void]\n"
    "  deviceNodes: [{path: /dev/nvidiactl, type: c, major: 195, minor: 255}]\n";

/* Another spec, of the same kind, for GPU 5 only, with edits of its own. */
static const char other_spec[] = "cdiVersion: 0.5.0\n"
                                 "kind: nvidia.com/gpu\n"
                                 "devices:\n"
                                 "  - name: 5\n"
                                 "    containerEdits:\n"
                                 "      deviceNodes: [{path: /dev/nvidia5, type: c, major: 195, "
                                 "minor: 5}]\n"
                                 "containerEdits:\n"
                                 "  env: [OTHER=yes]\n";

struct fixture {
    char dir[64];
    struct gpuinfo gpus;
    struct devices *d;
};

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* 3 whole GPUs, one with two MIG instances, 2 more whole GPUs (indices 0..5). */
static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/allot-devices-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    int rc = gpuinfo_declare("3xH100-80GB,1xH100-80GB:mig=3g.40gb+3g.40gb,2xH100-80GB", &fx->gpus,
                             err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    devices_free(fx->d);
    support_remove_tree(fx->dir);
    free(fx);
    return 0;
}

static void load(struct fixture *fx)
{
    char err[256];
    int rc = devices_load(fx->dir, DEVICES_DEFAULT_KIND, &fx->gpus, &fx->d, err, sizeof(err));
    if (rc)
        fail_msg("devices_load: %s", err);
}

static void test_gpus_map_to_their_devices(void **state)
{
    struct fixture *fx = *state;
    put_file(fx->dir, "gpus.yaml", gpu_spec);
    put_file(fx->dir, "other.json.yaml", other_spec);
    load(fx);
    assert_true(devices_kind_found(fx->d));
    const struct gpuinfo_gpu *g = fx->gpus.gpus;
    for (int i = 0; i < 3; i++)
        if (!g[i].healthy)
            fail_msg("GPU %d: %s", i, g[i].health_reason);
    /* GPU 3 is given by its MIG instances: 3:0 has a device, 3:1 none */
    assert_false(g[3].healthy);
    assert_string_equal(g[3].health_reason,
                        "MIG 3:1: no CDI device nvidia.com/gpu=DECLARED-3-MIG-1 or =3:1");
    /* GPU 4: no device by UUID nor by index */
    assert_false(g[4].healthy);
    assert_string_equal(g[4].health_reason, "GPU 4: no CDI device nvidia.com/gpu=DECLARED-4 or =4");
    assert_true(g[5].healthy);

    const struct cdi_edits *edits[DEVICES_MAX_EDITS];
    /* the devices in the order of the GPUs, then each spec's own edits once */
    uint32_t three[] = {5, 0, 1};
    int n = devices_edits(fx->d, three, 3, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(n, 5);
    assert_string_equal(edits[0]->device_nodes[0].path, "/dev/nvidia5");
    assert_string_equal(edits[1]->device_nodes[0].path, "/dev/nvidia0");
    assert_string_equal(edits[2]->device_nodes[0].path, "/dev/nvidia1");
    assert_string_equal(edits[3]->env[0], "OTHER=yes");
    assert_string_equal(edits[4]->device_nodes[0].path, "/dev/nvidiactl");
    /* GPU 2 is found by its UUID before its index */
    uint32_t two[] = {2};
    n = devices_edits(fx->d, two, 1, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(n, 2);
    assert_string_equal(edits[0]->device_nodes[0].path, "/dev/nvidia2");
    /* a MIG instance by its UUID */
    n = devices_edits(fx->d, NULL, 0, "DECLARED-3-MIG-0", edits, DEVICES_MAX_EDITS);
    assert_int_equal(n, 2);
    assert_string_equal(edits[0]->device_nodes[0].path, "/dev/nvidia-caps/nvidia-cap30");
    assert_string_equal(edits[1]->device_nodes[0].path, "/dev/nvidiactl");
    /* no device: refused, not given another's */
    uint32_t four[] = {0, 4};
    assert_int_equal(devices_edits(fx->d, four, 2, NULL, edits, DEVICES_MAX_EDITS), -ALLOT_ENOENT);
    assert_int_equal(devices_edits(fx->d, NULL, 0, "DECLARED-3-MIG-1", edits, DEVICES_MAX_EDITS),
                     -ALLOT_ENOENT);
    assert_int_equal(devices_edits(fx->d, NULL, 0, "MIG-nowhere", edits, DEVICES_MAX_EDITS),
                     -ALLOT_ENOENT);
    /* no GPU at all: no edits */
    assert_int_equal(devices_edits(fx->d, NULL, 0, NULL, edits, DEVICES_MAX_EDITS), 0);
    /* bounded */
    assert_int_equal(devices_edits(fx->d, three, 3, NULL, edits, 4), -ALLOT_ERANGE);

    /* the devices cgroup rules of GPUs 0 and 1 with their spec's control device */
    struct cgroup_device_rule rules[8];
    size_t n_rules = 0;
    char err[256];
    uint32_t pair[] = {0, 1};
    n = devices_edits(fx->d, pair, 2, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(n, 3);
    assert_int_equal(devices_rules(edits, (size_t)n, rules, 8, &n_rules, err, sizeof(err)), 0);
    assert_int_equal(n_rules, 3);
    assert_int_equal(rules[0].type, 'c');
    assert_int_equal(rules[0].major, 195);
    assert_int_equal(rules[0].minor, 0);
    assert_string_equal(rules[0].access, "rwm");
    assert_int_equal(rules[1].minor, 1);
    assert_string_equal(rules[1].access, "rw");
    assert_int_equal(rules[2].minor, 255);
    assert_int_equal(devices_rules(edits, (size_t)n, rules, 2, &n_rules, err, sizeof(err)),
                     -ALLOT_ERANGE);
}

static void test_a_bad_spec_makes_its_gpus_unhealthy(void **state)
{
    struct fixture *fx = *state;
    put_file(fx->dir, "a-gpus.yaml", gpu_spec);
    /* a later file meant to redefine GPU 1 and define GPU 5, and did not read */
    put_file(fx->dir, "b-broken.yaml",
             "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n"
             "  - name: 1\n    containerEdits: {deviceNodes: [{path: /dev/nvidia1}]}\n"
             "  - name: 5\n    containerEdits: {deviceNodes: [{path: dev/nvidia5}]}\n");
    load(fx);
    char problem[256];
    snprintf(problem, sizeof(problem),
             "%s/b-broken.yaml:7: devices[1].containerEdits.deviceNodes[0].path: 'dev/nvidia5' "
             "is not an absolute path",
             fx->dir);
    const struct gpuinfo_gpu *g = fx->gpus.gpus;
    assert_true(g[0].healthy);
    assert_false(g[1].healthy);
    char want[512];
    snprintf(want, sizeof(want), "GPU 1: CDI spec refused: %s", problem);
    /* the reason is cut to what the report holds; its start names file, line and field */
    assert_true(strncmp(g[1].health_reason, want, sizeof(g[1].health_reason) - 1) == 0);
    assert_false(g[5].healthy);
    assert_true(strncmp(g[5].health_reason, "GPU 5: CDI spec refused: ", 25) == 0);
    /* its device is not taken from the older spec */
    const struct cdi_edits *edits[DEVICES_MAX_EDITS];
    uint32_t one[] = {1};
    assert_int_equal(devices_edits(fx->d, one, 1, NULL, edits, DEVICES_MAX_EDITS), -ALLOT_ENOENT);
}

static void test_unreadable_spec_is_named_for_gpus_without_device(void **state)
{
    struct fixture *fx = *state;
    put_file(fx->dir, "broken.yaml", "cdiVersion: [0.6.0\n");
    load(fx);
    /* nothing of the kind was found: --devices auto stays off for declared GPUs */
    assert_false(devices_kind_found(fx->d));
    const struct gpuinfo_gpu *g = fx->gpus.gpus;
    assert_false(g[0].healthy);
    assert_true(strncmp(g[0].health_reason,
                        "GPU 0: no CDI device nvidia.com/gpu=DECLARED-0 or =0 (and a CDI spec did "
                        "not read: ",
                        70) == 0);
}

static void test_rules_read_the_host_node(void **state)
{
    struct fixture *fx = *state;
    char spec[512];
    /* /dev/null is c 1:3 on every Linux; a path that is not there is refused */
    snprintf(spec, sizeof(spec),
             "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n"
             "  - {name: 0, containerEdits: {deviceNodes: [{path: /dev/nvidia0, hostPath: "
             "/dev/null, permissions: r}]}}\n"
             "  - {name: 1, containerEdits: {deviceNodes: [{path: %s/missing}]}}\n"
             "  - {name: 2, containerEdits: {deviceNodes: [{path: %s}]}}\n",
             fx->dir, fx->dir);
    put_file(fx->dir, "gpus.yaml", spec);
    load(fx);
    const struct cdi_edits *edits[DEVICES_MAX_EDITS];
    struct cgroup_device_rule rules[4];
    size_t n_rules;
    char err[256];
    uint32_t zero[] = {0}, one[] = {1}, two[] = {2};
    int n = devices_edits(fx->d, zero, 1, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(n, 1);
    assert_int_equal(devices_rules(edits, 1, rules, 4, &n_rules, err, sizeof(err)), 0);
    assert_int_equal(n_rules, 1);
    assert_int_equal(rules[0].type, 'c');
    assert_int_equal(rules[0].major, 1);
    assert_int_equal(rules[0].minor, 3);
    assert_string_equal(rules[0].access, "r");
    n = devices_edits(fx->d, one, 1, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(devices_rules(edits, (size_t)n, rules, 4, &n_rules, err, sizeof(err)),
                     -ALLOT_ENOENT);
    assert_non_null(strstr(err, "No such file or directory"));
    n = devices_edits(fx->d, two, 1, NULL, edits, DEVICES_MAX_EDITS);
    assert_int_equal(devices_rules(edits, (size_t)n, rules, 4, &n_rules, err, sizeof(err)),
                     -ALLOT_ENOENT);
    assert_non_null(strstr(err, "is not a device node on this host"));
}

/* A devices cgroup allows exactly the standard devices and its rules (devices.list). Only as
 * root with a cgroup v1 devices hierarchy; elsewhere only the refusal of a root outside one is
 * checked (and the test says so). */
static void test_devices_cgroup(void **state)
{
    struct fixture *fx = *state;
    char err[256], path[512], root[128], list[4096];
    const struct cgroup_device_rule rules[] = {{'c', 195, 3, "rw"}, {'c', 195, 255, "rwm"}};
    const struct cgroup_device_rule bad[] = {{'x', 1, 1, "rw"}};
    /* a plain directory is no devices hierarchy */
    assert_int_equal(
        cgroup_devices_create(fx->dir, "n.w1", rules, 2, path, sizeof(path), err, sizeof(err)),
        -ALLOT_EINVAL);
    assert_non_null(strstr(err, "is not in a cgroup v1 devices hierarchy"));
    if (geteuid() != 0 || !cgroup_is_devices("/sys/fs/cgroup/devices")) {
        print_message("NOT TESTED here: writing a devices cgroup (needs root and a cgroup v1 "
                      "devices hierarchy)\n");
        return;
    }
    snprintf(root, sizeof(root), "/sys/fs/cgroup/devices/allot-unit-%d", (int)getpid());
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(
        cgroup_devices_create(root, "n.w1", bad, 1, path, sizeof(path), err, sizeof(err)),
        -ALLOT_EINVAL);
    int rc = cgroup_devices_create(root, "n.w1", rules, 2, path, sizeof(path), err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    snprintf(list, sizeof(list), "%s/n.w1", root);
    assert_string_equal(path, list);
    snprintf(list, sizeof(list), "%s/devices.list", path);
    FILE *f = fopen(list, "r");
    assert_non_null(f);
    size_t n = fread(list, 1, sizeof(list) - 1, f);
    list[n] = '\0';
    fclose(f);
    assert_string_equal(list, "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\n"
                              "c 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\nc 136:* rwm\nc 195:3 rw\n"
                              "c 195:255 rwm\n");
    assert_int_equal(cgroup_remove(path), 0);
    assert_int_equal(rmdir(root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gpus_map_to_their_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bad_spec_makes_its_gpus_unhealthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_spec_is_named_for_gpus_without_device,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_read_the_host_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices_cgroup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
