/* Unit tests for schema/cdi: NVIDIA-like CDI specs in JSON and YAML, every refusal naming its
 * file, line and field, the bounds, and the registry of CDI directories (later directory wins,
 * a bad file is a problem while the others load). */
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

#include "common/arena.h"
#include "common/error.h"
#include "schema/cdi.h"
#include "support.h"

/* What nvidia-ctk writes, cut down: GPUs by index and UUID, a MIG instance "0:1", the control
 * devices, a library mount and the ldcache hook in the spec-level edits. */
static const char nvidia_yaml[] =
    "cdiVersion: 0.5.0\n"                                  /* 1 */
    "kind: nvidia.com/gpu\n"                               /* 2 */
    "devices:\n"                                           /* 3 */
    "  - name: 0\n"                                        /* 4 */
    "    containerEdits:\n"                                /* 5 */
    "      deviceNodes:\n"                                 /* 6 */
    "        - path: /dev/nvidia0\n"                       /* 7 */
    "          type: c\n"                                  /* 8 */
    "          major: 195\n"                               /* 9 */
    "          minor: 0\n"                                 /* 10 */
    "  - name: GPU-fa4e0000-0000-4000-8000-000000000000\n" /* 11 */
    "    containerEdits:\n"                                /* 12 */
    "      deviceNodes:\n"                                 /* 13 */
    "        - {path: /dev/nvidia0, hostPath: /dev/nvidia0, permissions: rw}\n"
    "  - name: \"0:1\"\n"                             /* 15 */
    "    containerEdits:\n"                           /* 16 */
    "      deviceNodes:\n"                            /* 17 */
    "        - path: /dev/nvidia-caps/nvidia-cap21\n" /* 18 */
    "      env: [NVIDIA_MIG=0:1]\n"                   /* 19 */
    "containerEdits:\n"                               /* 20 */
    "  env:\n"                                        /* 21 */
    "    - NVIDIA_VISIBLE_DEVICES=void\n"             /* 22 */
    "  deviceNodes:\n"                                /* 23 */
    "    - {path: /dev/nvidiactl, type: c, major: 195, minor: 255}\n"
    "    - path: /dev/nvidia-uvm\n" /* 25 */
    "  mounts:\n"                   /* 26 */
    "    - hostPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15\n"
    "      containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15\n"
    "      options: [ro, nosuid, nodev, bind]\n" /* 29 */
    "  hooks:\n"                                 /* 30 */
    "    - hookName: createContainer\n"          /* 31 */
    "      path: /usr/bin/nvidia-ctk\n"          /* 32 */
    "      args: [nvidia-ctk, hook, update-ldcache, --folder, /usr/lib/x86_64-linux-gnu]\n"
    "      env: [LD_LIBRARY_PATH=/usr/lib]\n" /* 34 */
    "      timeout: 10\n"                     /* 35 */
    "  additionalGIDs: [44]\n";               /* 36 */

static const char nvidia_json[] =
    "{\n"
    "  \"cdiVersion\": \"0.8.0\",\n"
    "  \"kind\": \"nvidia.com/gpu\",\n"
    "  \"annotations\": {\"generated-by\": \"hand\"},\n"
    "  \"devices\": [\n"
    "    {\"name\": \"0\", \"containerEdits\": {\"deviceNodes\": [\n"
    "      {\"path\": \"/dev/nvidia0\", \"type\": \"c\", \"major\": 195, \"minor\": 0}]}},\n"
    "    {\"name\": \"1\", \"containerEdits\": {\"deviceNodes\": [\n"
    "      {\"path\": \"/dev/nvidia1\", \"type\": \"c\", \"major\": 195, \"minor\": 1}]}}\n"
    "  ],\n"
    "  \"containerEdits\": {\"deviceNodes\": [{\"path\": \"/dev/nvidiactl\"}]}\n"
    "}\n";

static void test_nvidia_yaml_reads(void **state)
{
    struct arena a;
    struct cdi_spec spec;
    struct schema_error err;
    arena_init(&a, 0);
    int rc = cdi_spec_parse("nvidia.yaml", nvidia_yaml, strlen(nvidia_yaml), &a, &spec, &err);
    if (rc)
        fail_msg("%s: %s", err.field, err.message);
    assert_string_equal(spec.path, "nvidia.yaml");
    assert_string_equal(spec.version, "0.5.0");
    assert_string_equal(spec.kind, "nvidia.com/gpu");
    assert_int_equal(spec.n_devices, 3);
    /* a plain 0 in YAML is the name "0" */
    assert_string_equal(spec.devices[0].name, "0");
    const struct cdi_device_node *n = &spec.devices[0].edits.device_nodes[0];
    assert_string_equal(n->path, "/dev/nvidia0");
    assert_null(n->host_path);
    assert_int_equal(n->type, 'c');
    assert_int_equal(n->major, 195);
    assert_int_equal(n->minor, 0);
    assert_null(n->permissions);
    assert_int_equal(n->file_mode, -1);
    assert_int_equal(n->uid, -1);
    n = &spec.devices[1].edits.device_nodes[0];
    assert_string_equal(spec.devices[1].name, "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert_string_equal(n->host_path, "/dev/nvidia0");
    assert_string_equal(n->permissions, "rw");
    assert_int_equal(n->type, 0); /* not given: read from the host node */
    assert_int_equal(n->major, -1);
    assert_string_equal(spec.devices[2].name, "0:1");
    assert_int_equal(spec.devices[2].edits.n_env, 1);
    assert_string_equal(spec.devices[2].edits.env[0], "NVIDIA_MIG=0:1");
    /* the spec-level edits */
    const struct cdi_edits *e = &spec.edits;
    assert_int_equal(e->n_env, 1);
    assert_string_equal(e->env[0], "NVIDIA_VISIBLE_DEVICES=void");
    assert_int_equal(e->n_device_nodes, 2);
    assert_string_equal(e->device_nodes[0].path, "/dev/nvidiactl");
    assert_int_equal(e->device_nodes[0].minor, 255);
    assert_string_equal(e->device_nodes[1].path, "/dev/nvidia-uvm");
    assert_int_equal(e->n_mounts, 1);
    assert_null(e->mounts[0].type);
    assert_int_equal(e->mounts[0].n_options, 4);
    assert_string_equal(e->mounts[0].options[3], "bind");
    assert_int_equal(e->n_hooks, 1);
    assert_string_equal(e->hooks[0].hook_name, "createContainer");
    assert_string_equal(e->hooks[0].path, "/usr/bin/nvidia-ctk");
    assert_int_equal(e->hooks[0].n_args, 5);
    assert_string_equal(e->hooks[0].args[2], "update-ldcache");
    assert_int_equal(e->hooks[0].n_env, 1);
    assert_int_equal(e->hooks[0].timeout, 10);
    assert_int_equal(e->n_additional_gids, 1);
    assert_int_equal(e->additional_gids[0], 44);
    arena_cleanup(&a);
}

static void test_nvidia_json_reads(void **state)
{
    struct arena a;
    struct cdi_spec spec;
    char msg[512];
    arena_init(&a, 0);
    int rc =
        cdi_spec_read("nvidia.json", nvidia_json, strlen(nvidia_json), &a, &spec, msg, sizeof(msg));
    if (rc)
        fail_msg("%s", msg);
    assert_string_equal(spec.version, "0.8.0");
    assert_int_equal(spec.n_devices, 2);
    assert_string_equal(spec.devices[1].name, "1");
    assert_int_equal(spec.devices[1].edits.device_nodes[0].minor, 1);
    assert_int_equal(spec.edits.n_device_nodes, 1);
    assert_int_equal(spec.edits.device_nodes[0].major, -1);
    /* compact JSON, all on one line, reads too */
    const char *compact = "{\"cdiVersion\":\"0.3.0\",\"kind\":\"a.b/c\",\"devices\":[{\"name\":"
                          "\"x\",\"containerEdits\":{\"env\":[\"A=1\"]}}]}";
    rc = cdi_spec_read("c.json", compact, strlen(compact), &a, &spec, msg, sizeof(msg));
    if (rc)
        fail_msg("%s", msg);
    assert_string_equal(spec.kind, "a.b/c");
    assert_int_equal(spec.edits.n_env, 0);
    /* JSON that libyaml refuses (a surrogate pair's escapes) is read by jansson */
    const char *emoji = "{\"cdiVersion\": \"0.5.0\", \"kind\": \"a.b/c\", \"devices\": [{\"name\": "
                        "\"x\", \"containerEdits\": {\"env\": [\"A=\\ud83d\\ude00\"]}}]}";
    rc = cdi_spec_read("e.json", emoji, strlen(emoji), &a, &spec, msg, sizeof(msg));
    if (rc)
        fail_msg("%s", msg);
    assert_string_equal(spec.devices[0].edits.env[0], "A=\xf0\x9f\x98\x80");
    /* ... and its refusals name the field (at line 1: jansson keeps no lines) */
    char *bad = strdup(emoji);
    memcpy(strstr(bad, "\"x\""), "\"-\"", 3);
    rc = cdi_spec_read("e.json", bad, strlen(bad), &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_EINVAL);
    assert_true(strncmp(msg, "e.json:1: devices[0].name: '-' is not a device name", 51) == 0);
    free(bad);
    arena_cleanup(&a);
}

/* The text of spec with `from` replaced by `to` (once; it must be there). */
static char *edited(const char *spec, const char *from, const char *to)
{
    const char *at = strstr(spec, from);
    if (!at)
        fail_msg("'%s' is not in the spec", from);
    size_t head = (size_t)(at - spec), n = strlen(spec) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, spec, head);
    memcpy(out + head, to, strlen(to));
    strcpy(out + head + strlen(to), at + strlen(from));
    return out;
}

static void test_refusals_name_file_line_and_field(void **state)
{
    static const struct {
        const char *from, *to;
        int rc;
        const char *want; /* the start of the message after the file name */
    } cases[] = {
        {"cdiVersion: 0.5.0\n", "", -ALLOT_EINVAL, ":1: cdiVersion: required"},
        {"cdiVersion: 0.5.0", "cdiVersion: 1.0.0", -ALLOT_EINVAL,
         ":1: cdiVersion: CDI version '1.0.0' is not supported (0.3.0 to 0.8.x"},
        {"cdiVersion: 0.5.0", "cdiVersion: 0.2.0", -ALLOT_EINVAL, ":1: cdiVersion: CDI version"},
        {"kind: nvidia.com/gpu", "kind: nvidia", -ALLOT_EINVAL,
         ":2: kind: 'nvidia' is not a CDI kind"},
        {"kind: nvidia.com/gpu", "kind: nvidia.com/gpu/x", -ALLOT_EINVAL, ":2: kind: "},
        {"  - name: 0\n", "  - name: -bad\n", -ALLOT_EINVAL,
         ":4: devices[0].name: '-bad' is not a device name"},
        {"  - name: \"0:1\"", "  - name: \"0\"", -ALLOT_EEXIST,
         ":15: devices[2].name: device '0' is defined twice (also devices[0])"},
        {"        - path: /dev/nvidia0\n", "        - path: dev/nvidia0\n", -ALLOT_EINVAL,
         ":7: devices[0].containerEdits.deviceNodes[0].path: 'dev/nvidia0' is not an absolute"},
        {"hostPath: /dev/nvidia0", "hostPath: /dev/../etc/shadow", -ALLOT_EINVAL,
         ":14: devices[1].containerEdits.deviceNodes[0].hostPath: '/dev/../etc/shadow' has a '..'"},
        {"          type: c\n", "          type: p\n", -ALLOT_EINVAL,
         ":8: devices[0].containerEdits.deviceNodes[0].type: 'p' is not a device type"},
        {"          major: 195\n", "          major: -1\n", -ALLOT_ERANGE,
         ":9: devices[0].containerEdits.deviceNodes[0].major: -1 is out of range"},
        {"          minor: 0\n", "          minor: -5\n", -ALLOT_ERANGE,
         ":10: devices[0].containerEdits.deviceNodes[0].minor: -5 is out of range"},
        {"permissions: rw}", "permissions: rx}", -ALLOT_EINVAL,
         ":14: devices[1].containerEdits.deviceNodes[0].permissions: 'rx' is not a set of"},
        {"permissions: rw}", "permissions: rr}", -ALLOT_EINVAL,
         ":14: devices[1].containerEdits.deviceNodes[0].permissions: 'rr' is not a set of"},
        {"env: [NVIDIA_MIG=0:1]", "env: [NVIDIA_MIG]", -ALLOT_EINVAL,
         ":19: devices[2].containerEdits.env[0]: 'NVIDIA_MIG' is not KEY=VALUE"},
        {"    - NVIDIA_VISIBLE_DEVICES=void", "    - 1X=void", -ALLOT_EINVAL,
         ":22: containerEdits.env[0]: '1X=void' is not KEY=VALUE"},
        {"hookName: createContainer", "hookName: beforeStart", -ALLOT_EINVAL,
         ":31: containerEdits.hooks[0].hookName: unknown value 'beforeStart' (expected one of: "
         "prestart, createRuntime, createContainer, startContainer, poststart, poststop)"},
        {"      path: /usr/bin/nvidia-ctk", "      path: nvidia-ctk", -ALLOT_EINVAL,
         ":32: containerEdits.hooks[0].path: 'nvidia-ctk' is not an absolute path"},
        {"      containerPath: /usr", "      containerPat: /usr", -ALLOT_EINVAL,
         ":28: containerEdits.mounts[0].containerPat: unknown field; did you mean containerPath?"},
        {"  additionalGIDs: [44]", "  intelRdt: {closID: x}", -ALLOT_EINVAL,
         ":36: containerEdits.intelRdt: not supported by Allot"},
        {"      timeout: 10", "      timeout: 0", -ALLOT_ERANGE,
         ":35: containerEdits.hooks[0].timeout: 0 is out of range"},
        {"    containerEdits:\n      deviceNodes:\n        - path: /dev/nvidia0\n          type: "
         "c\n          major: 195\n          minor: 0\n",
         "    containerEdits: {}\n", -ALLOT_EINVAL,
         ":5: devices[0].containerEdits: a device's edits are empty"},
        {"kind: nvidia.com/gpu\n", "kind: nvidia.com/gpu\nvendor: x\n", -ALLOT_EINVAL,
         ":3: vendor: unknown field"},
    };
    struct arena a;
    struct cdi_spec spec;
    char msg[512], want[256];
    arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = edited(nvidia_yaml, cases[i].from, cases[i].to);
        int rc =
            cdi_spec_read("/etc/cdi/nvidia.yaml", text, strlen(text), &a, &spec, msg, sizeof(msg));
        snprintf(want, sizeof(want), "/etc/cdi/nvidia.yaml%s", cases[i].want);
        if (rc != cases[i].rc || strncmp(msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got %d '%s', want %d '%s'", i, rc, msg, cases[i].rc, want);
        assert_null(spec.kind); /* nothing is half read */
        free(text);
    }
    /* JSON refusals name their line too */
    char *text = edited(nvidia_json, "\"minor\": 1}", "\"minor\": \"one\"}");
    int rc = cdi_spec_read("n.json", text, strlen(text), &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_EINVAL);
    assert_string_equal(msg, "n.json:9: devices[1].containerEdits.deviceNodes[0].minor: expected "
                             "an integer, found 'one'");
    free(text);
    /* text that is no YAML: a syntax error at its line */
    const char *broken = "cdiVersion: 0.5.0\nkind: [nvidia.com/gpu\n";
    rc = cdi_spec_read("b.yaml", broken, strlen(broken), &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_EPARSE);
    assert_true(strncmp(msg, "b.yaml:", 7) == 0);
    assert_non_null(strstr(msg, "syntax error"));
    /* an empty file */
    rc = cdi_spec_read("e.yaml", "", 0, &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_EINVAL);
    assert_string_equal(msg, "e.yaml:1: document: the file is empty; expected a CDI spec");
    /* cdi_spec_parse names the field in the schema error */
    struct schema_error err;
    text = edited(nvidia_yaml, "minor: 255}", "minor: 2000000}");
    rc = cdi_spec_parse("x.yaml", text, strlen(text), &a, &spec, &err);
    assert_int_equal(rc, -ALLOT_ERANGE);
    assert_int_equal(err.code, -ALLOT_ERANGE);
    assert_string_equal(err.field, "containerEdits.deviceNodes[0].minor");
    free(text);
    arena_cleanup(&a);
}

static void test_bounds(void **state)
{
    struct arena a;
    struct cdi_spec spec;
    char msg[512];
    arena_init(&a, 0);
    /* more devices than CDI_MAX_DEVICES */
    size_t cap = 64 + (CDI_MAX_DEVICES + 1) * 64;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = (size_t)snprintf(text, cap, "cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n");
    for (int i = 0; i <= CDI_MAX_DEVICES; i++)
        n += (size_t)snprintf(text + n, cap - n, "  - {name: d%d, containerEdits: {env: [A=1]}}\n",
                              i);
    int rc = cdi_spec_read("many.yaml", text, n, &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_ERANGE);
    assert_string_equal(msg, "many.yaml:4: devices: 1025 entries; at most 1024 devices are "
                             "allowed");
    /* exactly CDI_MAX_DEVICES read */
    char *last = strstr(text, "  - {name: d1024");
    rc = cdi_spec_read("most.yaml", text, (size_t)(last - text), &a, &spec, msg, sizeof(msg));
    if (rc)
        fail_msg("%s", msg);
    assert_int_equal(spec.n_devices, CDI_MAX_DEVICES);
    free(text);
    /* a list of edits longer than CDI_MAX_EDITS */
    cap = 128 + (CDI_MAX_EDITS + 1) * 8;
    text = malloc(cap);
    n = (size_t)snprintf(text, cap,
                         "cdiVersion: 0.5.0\nkind: a.com/b\ndevices:\n"
                         "  - name: x\n    containerEdits:\n      env: [");
    for (int i = 0; i <= CDI_MAX_EDITS; i++)
        n += (size_t)snprintf(text + n, cap - n, "%sA=%d", i ? "," : "", i);
    n += (size_t)snprintf(text + n, cap - n, "]\n");
    rc = cdi_spec_read("env.yaml", text, n, &a, &spec, msg, sizeof(msg));
    assert_int_equal(rc, -ALLOT_ERANGE);
    assert_string_equal(msg, "env.yaml:6: devices[0].containerEdits.env: 257 entries; at most "
                             "256 KEY=VALUE strings are allowed");
    free(text);
    /* a file larger than CDI_MAX_FILE_BYTES is refused before it is parsed */
    rc = cdi_spec_read("big.yaml", nvidia_yaml, (size_t)CDI_MAX_FILE_BYTES + 1, &a, &spec, msg,
                       sizeof(msg));
    assert_int_equal(rc, -ALLOT_ERANGE);
    assert_string_equal(msg, "big.yaml: document: 4194305 bytes; a CDI spec may hold at most "
                             "4194304");
    /* a device name longer than CDI_MAX_NAME */
    char name[CDI_MAX_NAME + 2];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_false(cdi_is_device_name(name, strlen(name)));
    assert_true(cdi_is_device_name(name, CDI_MAX_NAME));
    assert_true(cdi_is_kind("nvidia.com/gpu", 14));
    assert_true(cdi_is_kind("vendor1.com/device_a-b", 22));
    assert_false(cdi_is_kind("nvidia.com/", 11));
    assert_false(cdi_is_kind("/gpu", 4));
    assert_false(cdi_is_kind("1nvidia.com/gpu", 15));
    assert_false(cdi_is_kind("nvidia.com/g.pu", 15));
    arena_cleanup(&a);
}

/* Write text to dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A one-device spec of kind with device name whose env is A=value. */
static void put_spec(const char *dir, const char *file, const char *kind, const char *name,
                     const char *value)
{
    char text[512];
    snprintf(text, sizeof(text),
             "cdiVersion: 0.6.0\nkind: %s\ndevices:\n  - name: \"%s\"\n    containerEdits:\n"
             "      env: [A=%s]\n",
             kind, name, value);
    put_file(dir, file, text);
}

static void test_registry(void **state)
{
    char root[] = "/tmp/allot-cdi-XXXXXX", first[64], second[64], dirs[256], err[256];
    assert_non_null(mkdtemp(root));
    snprintf(first, sizeof(first), "%s/etc", root);
    snprintf(second, sizeof(second), "%s/run", root);
    assert_int_equal(mkdir(first, 0755), 0);
    assert_int_equal(mkdir(second, 0755), 0);
    put_spec(first, "a.yaml", "nvidia.com/gpu", "0", "etc");
    put_spec(first, "b.json", "nvidia.com/gpu", "1", "etc");
    put_file(first, "notes.txt", "not a spec: not read\n");
    put_spec(second, "a.yml", "nvidia.com/gpu", "0", "run");
    /* a bad file is a problem, named with its line and field; the others load */
    put_file(second, "bad.yaml",
             "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n  - name: \"2\"\n"
             "    containerEdits:\n      deviceNodes: [{path: dev/nvidia2}]\n");
    snprintf(dirs, sizeof(dirs), "%s:%s/missing:%s", first, root, second);
    struct cdi_registry *reg = NULL;
    int rc = cdi_registry_load(dirs, &reg, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(cdi_registry_count(reg), 3);
    const struct cdi_spec *spec = NULL;
    const struct cdi_device *d = cdi_registry_find(reg, "nvidia.com/gpu", "0", &spec);
    assert_non_null(d);
    assert_string_equal(d->edits.env[0], "A=run"); /* the later directory wins */
    assert_non_null(strstr(spec->path, "/run/a.yml"));
    d = cdi_registry_find(reg, "nvidia.com/gpu", "1", &spec);
    assert_non_null(d);
    assert_string_equal(d->edits.env[0], "A=etc");
    assert_null(cdi_registry_find(reg, "nvidia.com/gpu", "2", &spec));
    assert_null(spec);
    assert_null(cdi_registry_find(reg, "other.com/gpu", "0", NULL));
    char want[256];
    snprintf(want, sizeof(want),
             "%s/bad.yaml:6: devices[0].containerEdits.deviceNodes[0].path: 'dev/nvidia2' is not "
             "an absolute path",
             second);
    assert_non_null(cdi_registry_problem(reg, 0));
    assert_string_equal(cdi_registry_problem(reg, 0), want);
    assert_null(cdi_registry_problem(reg, 1));
    /* the refused spec still says which device it meant */
    assert_string_equal(cdi_registry_refused(reg, "nvidia.com/gpu", "2"), want);
    assert_null(cdi_registry_refused(reg, "nvidia.com/gpu", "0"));
    cdi_registry_free(reg);
    /* later definitions win within a directory too, by file name */
    put_spec(second, "b.yaml", "nvidia.com/gpu", "0", "run-b");
    rc = cdi_registry_load(dirs, &reg, err, sizeof(err));
    assert_int_equal(rc, 0);
    d = cdi_registry_find(reg, "nvidia.com/gpu", "0", NULL);
    assert_string_equal(d->edits.env[0], "A=run-b");
    cdi_registry_free(reg);
    /* no directory at all: an empty registry */
    rc = cdi_registry_load("/nonexistent-allot-cdi", &reg, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(cdi_registry_count(reg), 0);
    assert_null(cdi_registry_problem(reg, 0));
    cdi_registry_free(reg);
    cdi_registry_free(NULL);
    support_remove_tree(root);
}

static void test_registry_bounds(void **state)
{
    char root[] = "/tmp/allot-cdi-XXXXXX", err[256], name[32];
    assert_non_null(mkdtemp(root));
    for (int i = 0; i <= CDI_MAX_FILES; i++) {
        snprintf(name, sizeof(name), "s%03d.yaml", i);
        put_spec(root, name, "a.com/b", "0", "x");
    }
    struct cdi_registry *reg = (struct cdi_registry *)1;
    int rc = cdi_registry_load(root, &reg, err, sizeof(err));
    assert_int_equal(rc, -ALLOT_ERANGE);
    assert_null(reg);
    assert_non_null(strstr(err, "more than 256 CDI spec files"));
    /* one file fewer: all read */
    snprintf(name, sizeof(name), "%s/s000.yaml", root);
    assert_int_equal(unlink(name), 0);
    rc = cdi_registry_load(root, &reg, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(cdi_registry_count(reg), CDI_MAX_FILES);
    cdi_registry_free(reg);
    /* a file over CDI_MAX_FILE_BYTES is a problem, not read whole */
    support_remove_tree(root);
    assert_non_null(mkdtemp(strcpy(root, "/tmp/allot-cdi-XXXXXX")));
    snprintf(name, sizeof(name), "%s/huge.json", root);
    FILE *f = fopen(name, "w");
    assert_non_null(f);
    for (int i = 0; i < CDI_MAX_FILE_BYTES / 1024 + 1; i++)
        fprintf(f, "%1024s", " ");
    fclose(f);
    rc = cdi_registry_load(root, &reg, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(cdi_registry_count(reg), 0);
    assert_non_null(strstr(cdi_registry_problem(reg, 0), "huge.json:1: document: larger than"));
    cdi_registry_free(reg);
    support_remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvidia_yaml_reads),
        cmocka_unit_test(test_nvidia_json_reads),
        cmocka_unit_test(test_refusals_name_file_line_and_field),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_registry_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
