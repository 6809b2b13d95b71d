/* Unit tests for agent/oci.c (the runtime config of a replica's container) and the lookup of
 * agent/imagestore.c: args, cwd and env precedence, the user and its capabilities, the
 * read-only root and the mounts, namespaces, resources and cgroupsPath, CDI edits (device
 * nodes, allow rules after a deny-all, env, mounts, hooks, additional gids), the bounds, and an
 * image config with fields missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include <sys/stat.h>
#include <unistd.h>

#include "agent/imagestore.h"
#include "agent/oci.h"
#include "common/error.h"

/* A replica with every field set as the agent sets it, on image (may be NULL). */
static struct oci_replica replica_of(const json_t *image)
{
    static const char *const env[] = {"A=agent", "CUDA_VISIBLE_DEVICES=GPU-1,GPU-2", "ALLOT_RANK=0",
                                      NULL};
    return (struct oci_replica){.hostname = "gpu-a",
                                .rootfs = "/store/busybox/1/rootfs",
                                .work_dir = "/agent/w7",
                                .tmp_dir = "/agent/w7/tmp",
                                .image = image,
                                .env = env,
                                .uid = 1000000,
                                .gid = 1000000,
                                .cgroups_path = "/allot/gpu-a.w7"};
}

static json_t *image_of(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

static json_t *build_ok(const struct oci_replica *r)
{
    json_t *c = NULL;
    char err[256] = "";
    int rc = oci_config_build(r, &c, err, sizeof(err));
    if (rc)
        fail_msg("oci_config_build: %s", err);
    assert_non_null(c);
    return c;
}

static int build_err(const struct oci_replica *r, char *err, size_t len)
{
    json_t *c = NULL;
    int rc = oci_config_build(r, &c, err, len);
    assert_null(c);
    return rc;
}

/* The value of KEY in the config's process.env, or NULL. */
static const char *env_get(const json_t *c, const char *key)
{
    size_t i, n = strlen(key);
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(c, "process"), "env"), i, v)
    {
        const char *s = json_string_value(v);
        if (strncmp(s, key, n) == 0 && s[n] == '=')
            return s + n + 1;
    }
    return NULL;
}

/* Position of KEY in process.env, or -1. */
static int env_pos(const json_t *c, const char *key)
{
    size_t i, n = strlen(key);
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(c, "process"), "env"), i, v)
    {
        const char *s = json_string_value(v);
        if (strncmp(s, key, n) == 0 && s[n] == '=')
            return (int)i;
    }
    return -1;
}

static const char *str_at(const json_t *arr, size_t i)
{
    return json_string_value(json_array_get(arr, i));
}

/* The mount of the config at destination, or NULL. */
static const json_t *mount_at(const json_t *c, const char *destination)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c, "mounts"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "destination")), destination) == 0)
            return m;
    }
    return NULL;
}

static bool has_option(const json_t *m, const char *option)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(m, "options"), i, v)
    {
        if (strcmp(json_string_value(v), option) == 0)
            return true;
    }
    return false;
}

static void test_args_cwd_env_precedence(void **state)
{
    (void)state;
    json_t *image =
        image_of("{\"Env\": [\"PATH=/opt/bin:/bin\", \"A=image\", \"HOME=/root\", \"B=image\"],"
                 " \"Entrypoint\": [\"/bin/entry\"], \"Cmd\": [\"serve\", \"--port=1\"],"
                 " \"WorkingDir\": \"/srv\"}");
    struct oci_replica r = replica_of(image);
    /* no command: the image's Entrypoint then Cmd; its WorkingDir */
    json_t *c = build_ok(&r);
    const json_t *process = json_object_get(c, "process");
    const json_t *args = json_object_get(process, "args");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(str_at(args, 0), "/bin/entry");
    assert_string_equal(str_at(args, 1), "serve");
    assert_string_equal(str_at(args, 2), "--port=1");
    assert_string_equal(json_string_value(json_object_get(process, "cwd")), "/srv");
    /* env: the image's, HOME and TMPDIR of the container, the agent's replacing in place */
    assert_string_equal(env_get(c, "PATH"), "/opt/bin:/bin");
    assert_string_equal(env_get(c, "A"), "agent");
    assert_int_equal(env_pos(c, "A"), 1); /* replaced where the image had it */
    assert_string_equal(env_get(c, "B"), "image");
    assert_string_equal(env_get(c, "HOME"), "/work");
    assert_string_equal(env_get(c, "TMPDIR"), "/tmp");
    assert_string_equal(env_get(c, "CUDA_VISIBLE_DEVICES"), "GPU-1,GPU-2");
    assert_string_equal(env_get(c, "ALLOT_PREEMPT_DEADLINE_FILE"), "/work/preempt_deadline");
    assert_string_equal(env_get(c, "ALLOT_CHECKPOINT_FILE"), "/work/checkpoint");
    assert_false(json_is_true(json_object_get(process, "terminal")));
    json_decref(c);

    /* the workload's command and workdir win over the image's */
    const char *const command[] = {"/bin/sh", "-c", "echo hi", NULL};
    r.command = command;
    r.cwd = "/work/src";
    c = build_ok(&r);
    process = json_object_get(c, "process");
    args = json_object_get(process, "args");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(str_at(args, 2), "echo hi");
    assert_string_equal(json_string_value(json_object_get(process, "cwd")), "/work/src");
    json_decref(c);

    /* an empty command is no command */
    const char *const empty[] = {NULL};
    r.command = empty;
    r.cwd = "";
    c = build_ok(&r);
    assert_string_equal(str_at(json_object_get(json_object_get(c, "process"), "args"), 0),
                        "/bin/entry");
    json_decref(c);
    json_decref(image);
}

static void test_image_config_with_missing_fields(void **state)
{
    (void)state;
    char dir[] = "/tmp/allot-test-oci-XXXXXX", path[128], err[256];
    assert_non_null(mkdtemp(dir));
    /* an image config without "config": an image that says nothing */
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"architecture\": \"amd64\", \"os\": \"linux\"}", f);
    fclose(f);
    json_t *image = NULL;
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), 0);
    assert_true(json_is_object(image));
    assert_int_equal(json_object_size(image), 0);
    struct oci_replica r = replica_of(image);
    /* no command anywhere: refused, naming the field */
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "command"));
    const char *const command[] = {"/bin/true", NULL};
    r.command = command;
    json_t *c = build_ok(&r);
    /* no WorkingDir: /work; no PATH: the default one */
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "process"), "cwd")),
                        "/work");
    assert_string_equal(env_get(c, "PATH"), OCI_DEFAULT_PATH);
    json_decref(c);
    json_decref(image);
    /* a config with nulls where the fields are (as docker writes them) */
    f = fopen(path, "w");
    fputs("{\"config\": {\"Env\": null, \"Entrypoint\": null, \"Cmd\": [\"/bin/sh\"]}}", f);
    fclose(f);
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), 0);
    r = replica_of(image);
    c = build_ok(&r);
    assert_string_equal(str_at(json_object_get(json_object_get(c, "process"), "args"), 0),
                        "/bin/sh");
    json_decref(c);
    json_decref(image);
    /* malformed files */
    f = fopen(path, "w");
    fputs("{\"config\": 3}", f);
    fclose(f);
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), -ALLOT_EPARSE);
    assert_null(image);
    f = fopen(path, "w");
    fputs("not json", f);
    fclose(f);
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), -ALLOT_EPARSE);
    assert_int_equal(truncate(path, OCI_IMAGE_CONFIG_MAX + 1), 0);
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), -ALLOT_ERANGE);
    unlink(path);
    assert_int_equal(oci_image_config_load(path, &image, err, sizeof(err)), -ALLOT_ENOENT);
    /* wrong types in the image's fields name them */
    json_t *bad = image_of("{\"Env\": \"A=1\", \"Cmd\": [\"/bin/sh\"]}");
    r = replica_of(bad);
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "Env"));
    json_decref(bad);
    bad = image_of("{\"Cmd\": [\"/bin/sh\", 3]}");
    r = replica_of(bad);
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "Cmd[1]"));
    json_decref(bad);
    bad = image_of("{\"Cmd\": [\"/bin/sh\"], \"WorkingDir\": \"relative\"}");
    r = replica_of(bad);
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "WorkingDir"));
    json_decref(bad);
    support_remove_tree(dir);
}

static void test_user_root_mounts_namespaces(void **state)
{
    (void)state;
    const char *const command[] = {"/bin/true", NULL};
    struct oci_replica r = replica_of(NULL);
    r.command = command;
    json_t *c = build_ok(&r);
    const json_t *process = json_object_get(c, "process");
    const json_t *user = json_object_get(process, "user");
    assert_int_equal(json_integer_value(json_object_get(user, "uid")), 1000000);
    assert_int_equal(json_integer_value(json_object_get(user, "gid")), 1000000);
    assert_null(json_object_get(user, "additionalGids"));
    assert_true(json_is_true(json_object_get(process, "noNewPrivileges")));
    const char *sets[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
    for (size_t i = 0; i < 5; i++) {
        const json_t *set = json_object_get(json_object_get(process, "capabilities"), sets[i]);
        assert_true(json_is_array(set));
        assert_int_equal(json_array_size(set), 0);
    }
    /* the image's rootfs, read-only */
    const json_t *root = json_object_get(c, "root");
    assert_string_equal(json_string_value(json_object_get(root, "path")), r.rootfs);
    assert_true(json_is_true(json_object_get(root, "readonly")));
    assert_string_equal(json_string_value(json_object_get(c, "hostname")), "gpu-a");
    /* the replica's directory at /work and its tmp at /tmp, read-write binds */
    const json_t *work = mount_at(c, "/work");
    assert_non_null(work);
    assert_string_equal(json_string_value(json_object_get(work, "source")), "/agent/w7");
    assert_true(has_option(work, "rbind") && has_option(work, "rw"));
    const json_t *tmp = mount_at(c, "/tmp");
    assert_non_null(tmp);
    assert_string_equal(json_string_value(json_object_get(tmp, "source")), "/agent/w7/tmp");
    assert_true(has_option(tmp, "rbind"));
    const char *fixed[] = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"};
    for (size_t i = 0; i < 6; i++)
        assert_non_null(mount_at(c, fixed[i]));
    assert_true(has_option(mount_at(c, "/sys"), "ro"));
    assert_string_equal(json_string_value(json_object_get(mount_at(c, "/proc"), "type")), "proc");
    /* namespaces: pid, ipc, uts, mount; the host's network, no user namespace */
    const json_t *linux_ = json_object_get(c, "linux");
    const json_t *ns = json_object_get(linux_, "namespaces");
    assert_int_equal(json_array_size(ns), 4);
    const char *want[] = {"pid", "ipc", "uts", "mount"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(ns, i), "type")),
                            want[i]);
    assert_string_equal(json_string_value(json_object_get(linux_, "cgroupsPath")),
                        "/allot/gpu-a.w7");
    /* devices: everything denied, none allowed without edits; no limits asked, none set */
    const json_t *res = json_object_get(linux_, "resources");
    const json_t *rules = json_object_get(res, "devices");
    assert_int_equal(json_array_size(rules), 1);
    assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 0), "access")),
                        "rwm");
    assert_null(json_object_get(res, "memory"));
    assert_null(json_object_get(res, "cpu"));
    assert_null(json_object_get(c, "hooks"));
    json_decref(c);
    /* root (a --run-as rule said so) keeps runc's default capabilities */
    r.uid = 0;
    r.gid = 0;
    c = build_ok(&r);
    const json_t *bounding =
        json_object_get(json_object_get(json_object_get(c, "process"), "capabilities"), "bounding");
    assert_true(json_array_size(bounding) > 0);
    json_decref(c);
}

static void test_resources(void **state)
{
    (void)state;
    const char *const command[] = {"/bin/true", NULL};
    struct oci_replica r = replica_of(NULL);
    r.command = command;
    r.memory_bytes = 512ull << 20;
    r.cpu_millicores = 1500;
    r.pids_max = 4096;
    json_t *c = build_ok(&r);
    const json_t *res = json_object_get(json_object_get(c, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     512ll << 20);
    const json_t *cpu = json_object_get(res, "cpu");
    assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000);
    assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")),
                     4096);
    json_decref(c);
    /* below the kernel's least quota: the least */
    r.cpu_millicores = 5;
    c = build_ok(&r);
    res = json_object_get(json_object_get(c, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")),
                     OCI_CPU_QUOTA_MIN_US);
    json_decref(c);
}

static void test_cdi_edits_applied(void **state)
{
    (void)state;
    const char *const command[] = {"/bin/true", NULL};
    static const char *const env0[] = {"NVIDIA_VISIBLE_DEVICES=void", "A=cdi"};
    static const struct cdi_device_node nodes0[] = {
        /* everything given: not looked up on the host */
        {.path = "/dev/nvidia0",
         .type = 'c',
         .major = 195,
         .minor = 0,
         .file_mode = 0666,
         .permissions = "rw",
         .uid = -1,
         .gid = -1},
        /* nothing given: read from the host's node (here /dev/null, c 1:3) */
        {.path = "/dev/nvidiactl",
         .host_path = "/dev/null",
         .major = -1,
         .minor = -1,
         .file_mode = -1,
         .uid = -1,
         .gid = -1},
    };
    static const char *const ro[] = {"ro", "nosuid", "nodev", "bind"};
    static const struct cdi_mount mounts0[] = {
        {.host_path = "/usr/lib/libcuda.so.1",
         .container_path = "/usr/lib/libcuda.so.1",
         .options = ro,
         .n_options = 4},
        {.host_path = "/opt/driver", .container_path = "/opt/driver"},
    };
    static const char *const hook_args[] = {"nvidia-cdi-hook", "update-ldcache"};
    static const char *const hook_env[] = {"X=1"};
    static const struct cdi_hook hooks0[] = {
        {.hook_name = "createContainer",
         .path = "/usr/bin/nvidia-cdi-hook",
         .args = hook_args,
         .n_args = 2,
         .env = hook_env,
         .n_env = 1,
         .timeout = 10},
    };
    static const uint32_t gids0[] = {44};
    struct cdi_edits device = {.env = env0,
                               .n_env = 2,
                               .device_nodes = nodes0,
                               .n_device_nodes = 2,
                               .mounts = mounts0,
                               .n_mounts = 2,
                               .hooks = hooks0,
                               .n_hooks = 1,
                               .additional_gids = gids0,
                               .n_additional_gids = 1};
    static const char *const env1[] = {"A=spec"};
    struct cdi_edits spec = {.env = env1, .n_env = 1};
    const struct cdi_edits *edits[] = {&device, &spec};
    struct oci_replica r = replica_of(NULL);
    r.command = command;
    r.edits = edits;
    r.n_edits = 2;
    json_t *c = build_ok(&r);
    /* env: the edits' after the agent's, the later edit winning */
    assert_string_equal(env_get(c, "NVIDIA_VISIBLE_DEVICES"), "void");
    assert_string_equal(env_get(c, "A"), "spec");
    /* device nodes in linux.devices */
    const json_t *linux_ = json_object_get(c, "linux");
    const json_t *devs = json_object_get(linux_, "devices");
    assert_int_equal(json_array_size(devs), 2);
    const json_t *d0 = json_array_get(devs, 0), *d1 = json_array_get(devs, 1);
    assert_string_equal(json_string_value(json_object_get(d0, "path")), "/dev/nvidia0");
    assert_string_equal(json_string_value(json_object_get(d0, "type")), "c");
    assert_int_equal(json_integer_value(json_object_get(d0, "major")), 195);
    assert_int_equal(json_integer_value(json_object_get(d0, "fileMode")), 0666);
    assert_string_equal(json_string_value(json_object_get(d1, "path")), "/dev/nvidiactl");
    assert_string_equal(json_string_value(json_object_get(d1, "type")), "c");
    assert_int_equal(json_integer_value(json_object_get(d1, "major")), 1);
    assert_int_equal(json_integer_value(json_object_get(d1, "minor")), 3);
    /* the device cgroup: deny all first, then allow exactly those nodes */
    const json_t *rules = json_object_get(json_object_get(linux_, "resources"), "devices");
    assert_int_equal(json_array_size(rules), 3);
    assert_false(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
    const json_t *r1 = json_array_get(rules, 1), *r2 = json_array_get(rules, 2);
    assert_true(json_is_true(json_object_get(r1, "allow")));
    assert_int_equal(json_integer_value(json_object_get(r1, "major")), 195);
    assert_int_equal(json_integer_value(json_object_get(r1, "minor")), 0);
    assert_string_equal(json_string_value(json_object_get(r1, "access")), "rw");
    assert_true(json_is_true(json_object_get(r2, "allow")));
    assert_int_equal(json_integer_value(json_object_get(r2, "major")), 1);
    assert_string_equal(json_string_value(json_object_get(r2, "access")), "rwm");
    /* mounts: with their options, or a plain bind */
    const json_t *lib = mount_at(c, "/usr/lib/libcuda.so.1");
    assert_non_null(lib);
    assert_true(has_option(lib, "ro"));
    assert_string_equal(json_string_value(json_object_get(lib, "type")), "bind");
    const json_t *drv = mount_at(c, "/opt/driver");
    assert_non_null(drv);
    assert_string_equal(json_string_value(json_object_get(drv, "source")), "/opt/driver");
    assert_true(has_option(drv, "bind"));
    /* hooks under their name */
    const json_t *hook =
        json_array_get(json_object_get(json_object_get(c, "hooks"), "createContainer"), 0);
    assert_non_null(hook);
    assert_string_equal(json_string_value(json_object_get(hook, "path")),
                        "/usr/bin/nvidia-cdi-hook");
    assert_string_equal(str_at(json_object_get(hook, "args"), 1), "update-ldcache");
    assert_string_equal(str_at(json_object_get(hook, "env"), 0), "X=1");
    assert_int_equal(json_integer_value(json_object_get(hook, "timeout")), 10);
    /* additional gids of the user */
    const json_t *gids =
        json_object_get(json_object_get(json_object_get(c, "process"), "user"), "additionalGids");
    assert_int_equal(json_array_size(gids), 1);
    assert_int_equal(json_integer_value(json_array_get(gids, 0)), 44);
    json_decref(c);
}

static void test_bad_edits_and_bounds(void **state)
{
    (void)state;
    char err[256];
    const char *const command[] = {"/bin/true", NULL};
    struct oci_replica r = replica_of(NULL);
    r.command = command;
    /* a device node whose host path is no device */
    struct cdi_device_node file_node = {.path = "/dev/x",
                                        .host_path = "/etc/hostname",
                                        .major = -1,
                                        .minor = -1,
                                        .file_mode = -1,
                                        .uid = -1,
                                        .gid = -1};
    struct cdi_edits e = {.device_nodes = &file_node, .n_device_nodes = 1};
    const struct cdi_edits *edits[OCI_MAX_EDITS + 1];
    edits[0] = &e;
    r.edits = edits;
    r.n_edits = 1;
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "deviceNodes[0]"));
    /* bad permissions */
    struct cdi_device_node perm = {.path = "/dev/nvidia0",
                                   .type = 'c',
                                   .major = 195,
                                   .minor = 0,
                                   .file_mode = -1,
                                   .permissions = "rwx",
                                   .uid = -1,
                                   .gid = -1};
    e = (struct cdi_edits){.device_nodes = &perm, .n_device_nodes = 1};
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "permissions"));
    /* an unknown hook */
    struct cdi_hook hook = {.hook_name = "preStart", .path = "/bin/true", .timeout = -1};
    e = (struct cdi_edits){.hooks = &hook, .n_hooks = 1};
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "hookName"));
    /* a relative mount path */
    struct cdi_mount m = {.host_path = "lib", .container_path = "/lib"};
    e = (struct cdi_edits){.mounts = &m, .n_mounts = 1};
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "hostPath"));
    /* a malformed env entry from an edit */
    const char *bad_env[] = {"=x"};
    e = (struct cdi_edits){.env = bad_env, .n_env = 1};
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "CDI edits env"));
    /* too many edits */
    e = (struct cdi_edits){0};
    for (size_t i = 0; i <= OCI_MAX_EDITS; i++)
        edits[i] = &e;
    r.n_edits = OCI_MAX_EDITS + 1;
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_ERANGE);
    r.n_edits = 0;
    /* too many arguments */
    const char **many = calloc(OCI_MAX_ARGS + 2, sizeof(*many));
    for (size_t i = 0; i <= OCI_MAX_ARGS; i++)
        many[i] = "x";
    r.command = many;
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_ERANGE);
    assert_non_null(strstr(err, "command"));
    free(many);
    r.command = command;
    /* a relative workdir, rootfs or cgroupsPath */
    r.cwd = "src";
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "workdir"));
    r.cwd = NULL;
    r.rootfs = "rootfs";
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "rootfs"));
    r.rootfs = "/rootfs";
    r.cgroups_path = "allot/x";
    assert_int_equal(build_err(&r, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "cgroupsPath"));
}

static void test_write_and_store_lookup(void **state)
{
    (void)state;
    char dir[] = "/tmp/allot-test-oci-XXXXXX", path[256], err[256], rootfs[512];
    assert_non_null(mkdtemp(dir));
    const char *const command[] = {"/bin/true", NULL};
    struct oci_replica r = replica_of(NULL);
    r.command = command;
    json_t *c = build_ok(&r);
    assert_int_equal(oci_config_write(dir, c, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    json_error_t jerr;
    json_t *back = json_load_file(path, 0, &jerr);
    assert_true(json_equal(back, c));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    json_decref(back);
    json_decref(c);
    /* the store: a missing image is image_missing, naming it and the store */
    json_t *image = NULL;
    assert_int_equal(
        imagestore_find(dir, "tools/busybox:1.0", rootfs, sizeof(rootfs), &image, err, sizeof(err)),
        -ALLOT_ENOENT);
    char want[512];
    snprintf(want, sizeof(want),
             "image_missing: tools/busybox:1.0 is not in the node's image "
             "store %s",
             dir);
    assert_string_equal(err, want);
    assert_int_equal(
        imagestore_find(dir, "Bad:ref", rootfs, sizeof(rootfs), &image, err, sizeof(err)),
        -ALLOT_EINVAL);
    /* one that is there: its rootfs and its config; the tag defaults to latest */
    snprintf(path, sizeof(path), "%s/tools/busybox/latest/rootfs", dir);
    assert_int_equal(system(NULL) != 0, 1);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", path);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/tools/busybox/latest/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"config\": {\"Cmd\": [\"/bin/sh\"]}}", f);
    fclose(f);
    assert_int_equal(
        imagestore_find(dir, "tools/busybox", rootfs, sizeof(rootfs), &image, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s/tools/busybox/latest/rootfs", dir);
    assert_string_equal(rootfs, want);
    assert_string_equal(str_at(json_object_get(image, "Cmd"), 0), "/bin/sh");
    json_decref(image);
    support_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_cwd_env_precedence),
        cmocka_unit_test(test_image_config_with_missing_fields),
        cmocka_unit_test(test_user_root_mounts_namespaces),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_cdi_edits_applied),
        cmocka_unit_test(test_bad_edits_and_bounds),
        cmocka_unit_test(test_write_and_store_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
