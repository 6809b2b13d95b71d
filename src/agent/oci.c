/* The OCI runtime config of a replica's container (oci.h): process, root, mounts, namespaces,
 * cgroup resources and the CDI edits of its devices, built as JSON for runc or crun. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* major, minor */
#endif

#include "agent/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/jsonfile.h"
#include "common/error.h"

/* The paths runc's default spec masks or makes read-only under /proc and /sys. */
static const char *const oci_masked_paths[] = {"/proc/acpi",
                                               "/proc/asound",
                                               "/proc/kcore",
                                               "/proc/keys",
                                               "/proc/latency_stats",
                                               "/proc/timer_list",
                                               "/proc/timer_stats",
                                               "/proc/sched_debug",
                                               "/sys/firmware",
                                               "/proc/scsi",
                                               NULL};
static const char *const oci_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL};
/* What only a container of root keeps (runc's defaults); every other container has none. */
static const char *const oci_root_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                                            NULL};
/* The hooks of a runtime config, by the CDI hookName that adds to each. */
static const char *const oci_hook_names[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
    NULL};

/* A mount of every container: destination, type, source, options (NULL-terminated). */
struct oci_fixed_mount {
    const char *destination, *type, *source;
    const char *options[8];
};
static const struct oci_fixed_mount oci_fixed_mounts[] = {
    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev", NULL}},
    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
    {"/dev/pts",
     "devpts",
     "devpts",
     {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", NULL}},
    {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
    {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev", NULL}},
    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro", NULL}},
};

/* A JSON array of the strings of a NULL-terminated list (NULL: empty). */
static json_t *string_array(const char *const *list)
{
    json_t *a = json_array();
    for (size_t i = 0; a && list && list[i]; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

/* A JSON array of n strings. */
static json_t *string_array_n(const char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

int oci_image_config_load(const char *path, json_t **out, char *err, size_t len)
{
    *out = NULL;
    json_t *blob = NULL;
    int rc = jsonfile_read(path, OCI_IMAGE_CONFIG_MAX, &blob, err, len);
    if (rc != 0)
        return rc;
    json_t *config = json_object_get(blob, "config");
    if (config && !json_is_object(config) && !json_is_null(config)) {
        json_decref(blob);
        return allot_fail(err, len, -ALLOT_EPARSE, "%s: config: expected an object", path);
    }
    *out = json_is_object(config) ? json_incref(config) : json_object();
    json_decref(blob);
    return *out ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
}

/* ---- process ---- */

/* Whether s is "KEY=value" with a key of [A-Za-z_][A-Za-z0-9_.-]* (images use dots too). */
static bool env_entry_valid(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '=')
            return true;
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    }
    return false;
}

/* The environment being merged: entries in order, a later key replacing an earlier one. */
struct oci_env {
    json_t *list;
    size_t bytes;
};

/* Add entry to env (replacing the one with its key). RET 0; -ALLOT_EINVAL, -ALLOT_ERANGE. */
static int env_put(struct oci_env *env, const char *entry, const char *field, char *err, size_t len)
{
    if (!env_entry_valid(entry))
        return allot_fail(err, len, -ALLOT_EINVAL, "%s: \"%.40s\" is not KEY=value", field,
                          entry ? entry : "");
    size_t key = (size_t)(strchr(entry, '=') - entry) + 1, i;
    json_t *v;
    env->bytes += strlen(entry) + 1;
    if (env->bytes > OCI_MAX_BYTES)
        return allot_fail(err, len, -ALLOT_ERANGE, "%s: the environment holds more than %d bytes",
                          field, OCI_MAX_BYTES);
    json_array_foreach(env->list, i, v)
    {
        if (strncmp(json_string_value(v), entry, key) == 0)
            return json_array_set_new(env->list, i, json_string(entry)) == 0
                       ? 0
                       : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    }
    if (json_array_size(env->list) >= OCI_MAX_ENV)
        return allot_fail(err, len, -ALLOT_ERANGE, "%s: more than %d environment entries", field,
                          OCI_MAX_ENV);
    return json_array_append_new(env->list, json_string(entry)) == 0
               ? 0
               : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
}

/* Whether env has key (with its '='). */
static bool env_has(const struct oci_env *env, const char *key)
{
    size_t i, n = strlen(key);
    json_t *v;
    json_array_foreach(env->list, i, v)
    {
        if (strncmp(json_string_value(v), key, n) == 0)
            return true;
    }
    return false;
}

/* The process's environment (oci.h's order). OUT *out. RET 0 or an error with err. */
static int build_env(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    struct oci_env env = {.list = json_array()};
    int rc = env.list ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    const json_t *image_env = r->image ? json_object_get(r->image, "Env") : NULL;
    if (rc == 0 && image_env && !json_is_array(image_env) && !json_is_null(image_env))
        rc = allot_fail(err, len, -ALLOT_EINVAL, "image config Env: expected an array of strings");
    size_t i;
    json_t *v;
    json_array_foreach(image_env, i, v)
    {
        if (rc == 0)
            rc = env_put(&env, json_string_value(v), "image config Env", err, len);
    }
    static const char *const fixed[] = {"HOME=" OCI_WORK_DIR, "TMPDIR=" OCI_TMP_DIR,
                                        "TMP=" OCI_TMP_DIR, "TEMP=" OCI_TMP_DIR, NULL};
    for (i = 0; rc == 0 && fixed[i]; i++)
        rc = env_put(&env, fixed[i], "env", err, len);
    for (i = 0; rc == 0 && r->env && r->env[i]; i++)
        rc = env_put(&env, r->env[i], "env", err, len);
    for (size_t e = 0; rc == 0 && e < r->n_edits; e++)
        for (i = 0; rc == 0 && i < r->edits[e]->n_env; i++)
            rc = env_put(&env, r->edits[e]->env[i], "CDI edits env", err, len);
    if (rc == 0)
        rc = env_put(&env, "ALLOT_PREEMPT_DEADLINE_FILE=" OCI_WORK_DIR "/preempt_deadline", "env",
                     err, len);
    if (rc == 0) /* the workload's directory is /work: the agent finds the file there */
        rc = env_put(&env, "ALLOT_CHECKPOINT_FILE=" OCI_WORK_DIR "/checkpoint", "env", err, len);
    if (rc == 0 && !env_has(&env, "PATH="))
        rc = env_put(&env, "PATH=" OCI_DEFAULT_PATH, "env", err, len);
    if (rc != 0) {
        json_decref(env.list);
        return rc;
    }
    *out = env.list;
    return 0;
}

/* Append the strings of the image's field (an array of strings, or null) to args. */
static int image_args(const json_t *image, const char *field, json_t *args, size_t *bytes,
                      char *err, size_t len)
{
    const json_t *list = image ? json_object_get(image, field) : NULL;
    if (list && !json_is_array(list) && !json_is_null(list))
        return allot_fail(err, len, -ALLOT_EINVAL, "image config %s: expected an array of strings",
                          field);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v))
            return allot_fail(err, len, -ALLOT_EINVAL, "image config %s[%zu]: expected a string",
                              field, i);
        *bytes += json_string_length(v) + 1;
        if (json_array_size(args) >= OCI_MAX_ARGS || *bytes > OCI_MAX_BYTES)
            return allot_fail(err, len, -ALLOT_ERANGE,
                              "image config %s: more than %d arguments or %d "
                              "bytes",
                              field, OCI_MAX_ARGS, OCI_MAX_BYTES);
        json_array_append(args, v);
    }
    return 0;
}

/* process.args: the workload's command, else the image's Entrypoint then Cmd. */
static int build_args(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    json_t *args = json_array();
    size_t bytes = 0;
    int rc = args ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    if (rc == 0 && r->command && r->command[0]) {
        for (size_t i = 0; rc == 0 && r->command[i]; i++) {
            bytes += strlen(r->command[i]) + 1;
            if (i >= OCI_MAX_ARGS || bytes > OCI_MAX_BYTES)
                rc = allot_fail(err, len, -ALLOT_ERANGE,
                                "command: more than %d arguments or %d bytes", OCI_MAX_ARGS,
                                OCI_MAX_BYTES);
            else
                json_array_append_new(args, json_string(r->command[i]));
        }
    } else if (rc == 0) {
        rc = image_args(r->image, "Entrypoint", args, &bytes, err, len);
        if (rc == 0)
            rc = image_args(r->image, "Cmd", args, &bytes, err, len);
    }
    if (rc == 0 && json_array_size(args) == 0)
        rc = allot_fail(err, len, -ALLOT_EINVAL,
                        "command: the workload gives none and its image has no Entrypoint or Cmd");
    if (rc != 0) {
        json_decref(args);
        return rc;
    }
    *out = args;
    return 0;
}

/* process.cwd: the workload's workdir, else the image's WorkingDir, else /work. */
static int build_cwd(const struct oci_replica *r, const char **cwd, char *err, size_t len)
{
    const json_t *image_dir = r->image ? json_object_get(r->image, "WorkingDir") : NULL;
    if (image_dir && !json_is_string(image_dir) && !json_is_null(image_dir))
        return allot_fail(err, len, -ALLOT_EINVAL, "image config WorkingDir: expected a string");
    const char *field = "workdir";
    *cwd = r->cwd;
    if (!*cwd || !**cwd) {
        field = "image config WorkingDir";
        *cwd = json_string_value(image_dir);
    }
    if (!*cwd || !**cwd) {
        *cwd = OCI_WORK_DIR;
        return 0;
    }
    if ((*cwd)[0] != '/' || strlen(*cwd) > OCI_MAX_PATH)
        return allot_fail(err, len, -ALLOT_EINVAL, "%s: \"%.64s\" is not an absolute path", field,
                          *cwd);
    return 0;
}

/* The capability sets: none at all, or runc's defaults for root. */
static json_t *build_capabilities(uid_t uid)
{
    const char *const *caps = uid == 0 ? oci_root_caps : NULL;
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "bounding", string_array(caps), "effective",
                     string_array(caps), "inheritable", string_array(NULL), "permitted",
                     string_array(caps), "ambient", string_array(NULL));
}

static int build_process(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    json_t *args = NULL, *env = NULL, *gids = json_array();
    const char *cwd = NULL;
    int rc = gids ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    if (rc == 0)
        rc = build_args(r, &args, err, len);
    if (rc == 0)
        rc = build_env(r, &env, err, len);
    if (rc == 0)
        rc = build_cwd(r, &cwd, err, len);
    for (size_t e = 0; rc == 0 && e < r->n_edits; e++)
        for (size_t i = 0; i < r->edits[e]->n_additional_gids; i++)
            json_array_append_new(gids, json_integer(r->edits[e]->additional_gids[i]));
    if (rc != 0) {
        json_decref(args);
        json_decref(env);
        json_decref(gids);
        return rc;
    }
    json_t *user = json_pack("{s:I, s:I}", "uid", (json_int_t)r->uid, "gid", (json_int_t)r->gid);
    if (user && json_array_size(gids))
        json_object_set(user, "additionalGids", gids);
    json_decref(gids);
    *out = json_pack("{s:b, s:o, s:o, s:o, s:s, s:o, s:b}", "terminal", 0, "user", user, "args",
                     args, "env", env, "cwd", cwd, "capabilities", build_capabilities(r->uid),
                     "noNewPrivileges", 1);
    return *out ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
}

/* ---- mounts ---- */

static json_t *mount_new(const char *destination, const char *type, const char *source,
                         json_t *options)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", destination, "type", type, "source",
                     source, "options", options);
}

static int check_path(const char *path, const char *field, size_t k, char *err, size_t len)
{
    if (!path || path[0] != '/' || strlen(path) > OCI_MAX_PATH)
        return allot_fail(err, len, -ALLOT_EINVAL, "%s[%zu]: \"%.64s\" is not an absolute path",
                          field, k, path ? path : "");
    return 0;
}

static int build_mounts(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    json_t *mounts = json_array();
    int rc = mounts ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < sizeof(oci_fixed_mounts) / sizeof(oci_fixed_mounts[0]); i++) {
        const struct oci_fixed_mount *m = &oci_fixed_mounts[i];
        json_array_append_new(
            mounts, mount_new(m->destination, m->type, m->source, string_array(m->options)));
    }
    static const char *const bind_rw[] = {"rbind", "rw", "nosuid", "nodev", NULL};
    if (rc == 0 && (check_path(r->work_dir, "work_dir", 0, err, len) ||
                    check_path(r->tmp_dir, "tmp_dir", 0, err, len)))
        rc = -ALLOT_EINVAL;
    if (rc == 0) {
        json_array_append_new(mounts,
                              mount_new(OCI_WORK_DIR, "bind", r->work_dir, string_array(bind_rw)));
        json_array_append_new(mounts,
                              mount_new(OCI_TMP_DIR, "bind", r->tmp_dir, string_array(bind_rw)));
    }
    size_t k = 0;
    for (size_t e = 0; rc == 0 && e < r->n_edits; e++) {
        for (size_t i = 0; rc == 0 && i < r->edits[e]->n_mounts; i++, k++) {
            const struct cdi_mount *m = &r->edits[e]->mounts[i];
            if ((rc = check_path(m->host_path, "CDI mounts hostPath", k, err, len)) != 0 ||
                (rc = check_path(m->container_path, "CDI mounts containerPath", k, err, len)) != 0)
                break;
            static const char *const bind_only[] = {"bind", NULL};
            json_t *options =
                m->n_options ? string_array_n(m->options, m->n_options) : string_array(bind_only);
            json_array_append_new(mounts, mount_new(m->container_path, m->type ? m->type : "bind",
                                                    m->host_path, options));
        }
    }
    if (rc != 0) {
        json_decref(mounts);
        return rc;
    }
    *out = mounts;
    return 0;
}

/* ---- devices ---- */

/* The linux.devices entry of a CDI device node and its allow rule, with what the node lacks
 * read from the host's node. RET 0 or -ALLOT_EINVAL with err. */
static int device_node(const struct cdi_device_node *d, size_t k, json_t **node, json_t **rule,
                       char *err, size_t len)
{
    int rc = check_path(d->path, "CDI deviceNodes path", k, err, len);
    if (rc)
        return rc;
    const char *host = d->host_path ? d->host_path : d->path;
    char type = d->type;
    int64_t major_n = d->major, minor_n = d->minor, mode = d->file_mode;
    if (type == 0 || major_n < 0 || minor_n < 0) {
        struct stat sb;
        if (stat(host, &sb) != 0)
            return allot_fail(err, len, -ALLOT_EINVAL, "CDI deviceNodes[%zu]: %s: %s", k, host,
                              strerror(errno));
        if (!S_ISCHR(sb.st_mode) && !S_ISBLK(sb.st_mode))
            return allot_fail(err, len, -ALLOT_EINVAL, "CDI deviceNodes[%zu]: %s is not a device",
                              k, host);
        if (type == 0)
            type = S_ISCHR(sb.st_mode) ? 'c' : 'b';
        if (major_n < 0)
            major_n = major(sb.st_rdev);
        if (minor_n < 0)
            minor_n = minor(sb.st_rdev);
        if (mode < 0)
            mode = sb.st_mode & 07777;
    }
    if (type != 'c' && type != 'b')
        return allot_fail(err, len, -ALLOT_EINVAL, "CDI deviceNodes[%zu].type: expected c or b", k);
    const char *access = d->permissions && *d->permissions ? d->permissions : "rwm";
    if (strspn(access, "rwm") != strlen(access) || strlen(access) > 3)
        return allot_fail(err, len, -ALLOT_EINVAL,
                          "CDI deviceNodes[%zu].permissions: expected r, w and m, got \"%.8s\"", k,
                          access);
    char type_s[2] = {type, '\0'};
    *node = json_pack("{s:s, s:s, s:I, s:I}", "path", d->path, "type", type_s, "major",
                      (json_int_t)major_n, "minor", (json_int_t)minor_n);
    if (*node && mode >= 0)
        json_object_set_new(*node, "fileMode", json_integer(mode));
    if (*node && d->uid >= 0)
        json_object_set_new(*node, "uid", json_integer(d->uid));
    if (*node && d->gid >= 0)
        json_object_set_new(*node, "gid", json_integer(d->gid));
    *rule = json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type_s, "major",
                      (json_int_t)major_n, "minor", (json_int_t)minor_n, "access", access);
    if (!*node || !*rule) {
        json_decref(*node);
        json_decref(*rule);
        return allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    }
    return 0;
}

/* linux.devices and linux.resources.devices (deny all first, then each node allowed). */
static int build_devices(const struct oci_replica *r, json_t **nodes, json_t **rules, char *err,
                         size_t len)
{
    *nodes = json_array();
    *rules = json_array();
    int rc = *nodes && *rules ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    if (rc == 0)
        json_array_append_new(*rules, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
    size_t k = 0;
    for (size_t e = 0; rc == 0 && e < r->n_edits; e++) {
        for (size_t i = 0; rc == 0 && i < r->edits[e]->n_device_nodes; i++, k++) {
            json_t *node = NULL, *rule = NULL;
            rc = device_node(&r->edits[e]->device_nodes[i], k, &node, &rule, err, len);
            if (rc == 0) {
                json_array_append_new(*nodes, node);
                json_array_append_new(*rules, rule);
            }
        }
    }
    if (rc != 0) {
        json_decref(*nodes);
        json_decref(*rules);
        *nodes = *rules = NULL;
    }
    return rc;
}

/* ---- hooks ---- */

static int build_hooks(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    json_t *hooks = json_object();
    int rc = hooks ? 0 : allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t e = 0; rc == 0 && e < r->n_edits; e++) {
        for (size_t i = 0; rc == 0 && i < r->edits[e]->n_hooks; i++, k++) {
            const struct cdi_hook *h = &r->edits[e]->hooks[i];
            size_t which = 0;
            while (oci_hook_names[which] &&
                   (!h->hook_name || strcmp(oci_hook_names[which], h->hook_name) != 0))
                which++;
            if (!oci_hook_names[which]) {
                rc = allot_fail(
                    err, len, -ALLOT_EINVAL,
                    "CDI hooks[%zu].hookName: \"%.32s\" is none of "
                    "prestart, createRuntime, createContainer, startContainer, poststart, "
                    "poststop",
                    k, h->hook_name ? h->hook_name : "");
                break;
            }
            if ((rc = check_path(h->path, "CDI hooks path", k, err, len)) != 0)
                break;
            json_t *hook = json_pack("{s:s}", "path", h->path);
            if (hook && h->n_args)
                json_object_set_new(hook, "args", string_array_n(h->args, h->n_args));
            if (hook && h->n_env)
                json_object_set_new(hook, "env", string_array_n(h->env, h->n_env));
            if (hook && h->timeout >= 0)
                json_object_set_new(hook, "timeout", json_integer(h->timeout));
            json_t *list = json_object_get(hooks, oci_hook_names[which]);
            if (!list) {
                list = json_array();
                json_object_set_new(hooks, oci_hook_names[which], list);
            }
            if (!hook || json_array_append_new(list, hook) != 0)
                rc = allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
        }
    }
    if (rc != 0) {
        json_decref(hooks);
        return rc;
    }
    *out = hooks;
    return 0;
}

/* ---- the whole config ---- */

static json_t *build_resources(const struct oci_replica *r, json_t *device_rules)
{
    json_t *res = json_pack("{s:o}", "devices", device_rules);
    if (res && r->memory_bytes)
        json_object_set_new(res, "memory",
                            json_pack("{s:I}", "limit", (json_int_t)r->memory_bytes));
    if (res && r->cpu_millicores) {
        uint64_t quota = r->cpu_millicores * (OCI_CPU_PERIOD_US / 1000);
        if (quota < OCI_CPU_QUOTA_MIN_US)
            quota = OCI_CPU_QUOTA_MIN_US;
        json_object_set_new(res, "cpu",
                            json_pack("{s:I, s:I}", "quota", (json_int_t)quota, "period",
                                      (json_int_t)OCI_CPU_PERIOD_US));
    }
    if (res && r->pids_max)
        json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)r->pids_max));
    return res;
}

static json_t *build_namespaces(void)
{
    /* no network namespace: replicas of a gang reach each other on the host's network (and
     * no user namespace: docs/agent.md says why) */
    static const char *const kinds[] = {"pid", "ipc", "uts", "mount", NULL};
    json_t *ns = json_array();
    for (size_t i = 0; ns && kinds[i]; i++)
        json_array_append_new(ns, json_pack("{s:s}", "type", kinds[i]));
    return ns;
}

int oci_config_build(const struct oci_replica *r, json_t **out, char *err, size_t len)
{
    *out = NULL;
    json_t *process = NULL, *mounts = NULL, *nodes = NULL, *rules = NULL, *hooks = NULL;
    int rc = 0;
    if (!r->rootfs || r->rootfs[0] != '/' || strlen(r->rootfs) > OCI_MAX_PATH)
        return allot_fail(err, len, -ALLOT_EINVAL, "rootfs: \"%.64s\" is not an absolute path",
                          r->rootfs ? r->rootfs : "");
    if (!r->cgroups_path || r->cgroups_path[0] != '/' || strlen(r->cgroups_path) > OCI_MAX_PATH)
        return allot_fail(err, len, -ALLOT_EINVAL, "cgroupsPath: \"%.64s\" is not an absolute path",
                          r->cgroups_path ? r->cgroups_path : "");
    if (r->n_edits > OCI_MAX_EDITS)
        return allot_fail(err, len, -ALLOT_ERANGE, "more than %d CDI edits", OCI_MAX_EDITS);
    if ((rc = build_process(r, &process, err, len)) != 0 ||
        (rc = build_mounts(r, &mounts, err, len)) != 0 ||
        (rc = build_devices(r, &nodes, &rules, err, len)) != 0 ||
        (rc = build_hooks(r, &hooks, err, len)) != 0)
        goto out;
    json_t *linux_ = json_pack(
        "{s:o, s:s, s:o, s:o, s:o, s:o}", "namespaces", build_namespaces(), "cgroupsPath",
        r->cgroups_path, "resources", build_resources(r, rules), "devices", nodes, "maskedPaths",
        string_array(oci_masked_paths), "readonlyPaths", string_array(oci_readonly_paths));
    rules = nodes = NULL;
    *out = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process",
                     process, "root", "path", r->rootfs, "readonly", 1, "hostname",
                     r->hostname ? r->hostname : "allot", "mounts", mounts, "linux", linux_);
    process = mounts = NULL;
    if (*out && json_object_size(hooks))
        json_object_set(*out, "hooks", hooks);
    if (!*out)
        rc = allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
out:
    json_decref(process);
    json_decref(mounts);
    json_decref(nodes);
    json_decref(rules);
    json_decref(hooks);
    return rc;
}

int oci_config_write(const char *dir, const json_t *config, char *err, size_t len)
{
    char path[OCI_MAX_PATH + 32];
    if ((size_t)snprintf(path, sizeof(path), "%s/config.json", dir) >= sizeof(path))
        return allot_fail(err, len, -ALLOT_EIO, "bundle directory path too long");
    return jsonfile_write(path, config, 0600, err, len) == 0 ? 0 : -ALLOT_EIO;
}
