/* The reader of CDI spec files and the registry of a node's CDI directories (cdi.h): a spec is
 * loaded by source_parse (YAML, of which JSON is a part) and read field by field with the
 * schema's readers, so that a refusal reads "FILE:LINE: field: message". docs/agent.md. */
#include "schema/cdi.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "schema/source.h"

/* Longest path a spec may name, bytes. */
#define CDI_MAX_PATH 4096
/* Longest file name in a CDI directory considered, bytes. */
#define CDI_MAX_FILE_NAME 255
/* Most annotations of a spec or a device. */
#define CDI_MAX_ANNOTATIONS 256

static const char *const spec_keys[] = {"cdiVersion",     "kind",        "devices",
                                        "containerEdits", "annotations", NULL};
static const char *const device_keys[] = {"name", "annotations", "containerEdits", NULL};
static const char *const edits_keys[] = {
    "env", "deviceNodes", "mounts", "hooks", "additionalGIDs", "intelRdt", "netDevices", NULL};
static const char *const node_keys[] = {"path",     "hostPath",    "type", "major", "minor",
                                        "fileMode", "permissions", "uid",  "gid",   NULL};
static const char *const mount_keys[] = {"hostPath", "containerPath", "type", "options", NULL};
static const char *const hook_keys[] = {"hookName", "path", "args", "env", "timeout", NULL};
/* The OCI hooks a CDI spec may name. */
static const char *const hook_names[] = {"prestart",       "createRuntime", "createContainer",
                                         "startContainer", "poststart",     "poststop"};
#define CDI_N_HOOK_NAMES (sizeof(hook_names) / sizeof(hook_names[0]))

/* A spec file that did not read: why, and what of it could be told (its kind and device names),
 * so that a device it meant to define is not taken from an older spec silently. */
struct cdi_refusal {
    const char *problem; /* "FILE:LINE: field: message" */
    const char *kind;    /* NULL when it could not be read */
    const char **names;  /* the device names it holds, as far as they read */
    size_t n_names;
};

struct cdi_registry {
    struct arena arena; /* the specs, the problems */
    struct cdi_spec *specs;
    size_t n_specs;
    struct cdi_refusal *refusals;
    size_t n_refusals;
};

/* ---- syntax of the names and values ------------------------------------------------------ */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

/* A CDI vendor ("nvidia.com"): a letter first, a letter or digit last, letters, digits, '-',
 * '_' and '.' between; or a class ("gpu"): the same without '.'. */
static bool is_kind_part(const char *s, size_t n, bool vendor)
{
    if (n == 0 || !is_alpha(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && !(vendor && s[i] == '.'))
            return false;
    return true;
}

bool cdi_is_kind(const char *s, size_t n)
{
    const char *slash = s ? memchr(s, '/', n) : NULL;
    if (!slash || n > CDI_MAX_NAME)
        return false;
    size_t v = (size_t)(slash - s);
    return is_kind_part(s, v, true) && is_kind_part(slash + 1, n - v - 1, false);
}

bool cdi_is_device_name(const char *s, size_t n)
{
    if (!s || n == 0 || n > CDI_MAX_NAME || !is_alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum(s[i]) && !strchr("_.:-", s[i]))
            return false;
    return true;
}

/* Whether s (n bytes) is a version this reader reads: "0.M.P" with M from 3 to 8, P digits. */
static bool version_supported(const char *s, size_t n)
{
    if (n < 5 || n > 12 || memcmp(s, "0.", 2) != 0 || s[2] < '3' || s[2] > '8' || s[3] != '.')
        return false;
    for (size_t i = 4; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Whether s (n bytes) is KEY=VALUE with KEY [A-Za-z_][A-Za-z0-9_]*. */
static bool is_env_entry(const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    if (!eq || eq == s || !(is_alpha(s[0]) || s[0] == '_'))
        return false;
    for (const char *p = s; p < eq; p++)
        if (!is_alnum(*p) && *p != '_')
            return false;
    return true;
}

/* ---- the readers of a spec's parts ---------------------------------------------------- */

/* An absolute path without ".." components, copied into the arena. */
static int read_path(struct reader *r, const json_t *v, const char **out)
{
    char q[READER_QUOTE + 4];
    const char *s = NULL;
    size_t n = 0;
    int rc = reader_text(r, v, CDI_MAX_PATH, &s, &n);
    if (rc)
        return rc;
    if (n == 0 || s[0] != '/')
        return reader_fail(r, -ALLOT_EINVAL, "'%s' is not an absolute path", reader_quote(s, n, q));
    for (size_t i = 0; i < n;) {
        size_t k = i + 1;
        while (k < n && s[k] != '/')
            k++;
        if (k - i == 3 && s[i + 1] == '.' && s[i + 2] == '.')
            return reader_fail(r, -ALLOT_EINVAL, "'%s' has a '..' component",
                               reader_quote(s, n, q));
        i = k;
    }
    return reader_keep(r, s, n, out);
}

/* The path at key of obj (required or not). */
static int read_key_path(struct reader *r, const json_t *obj, const char *key, bool required,
                         const char **out)
{
    const json_t *v;
    size_t mark;
    int rc = reader_enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = read_path(r, v, out);
    reader_pop(r, mark);
    return rc;
}

/* The string at key of obj, at most max bytes (left as it was when absent). */
static int read_key_string(struct reader *r, const json_t *obj, const char *key, size_t max,
                           const char **out)
{
    const json_t *v;
    size_t mark;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_string(r, v, max, out);
    reader_pop(r, mark);
    return rc;
}

/* A list of strings at key of obj, each at most max bytes and, with env, KEY=VALUE. */
static int read_key_strings(struct reader *r, const json_t *obj, const char *key, size_t max,
                            bool env, const char *const **out, size_t *n_out)
{
    const json_t *v;
    size_t mark, n = 0;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_array(r, v, CDI_MAX_EDITS, env ? "KEY=VALUE strings" : "strings", &n);
    const char **list = NULL;
    if (rc == 0 && n > 0 && !(list = arena_alloc(r->arena, n * sizeof(*list))))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char q[READER_QUOTE + 4];
        const char *s = NULL;
        size_t len = 0, item = reader_push_index(r, i);
        rc = reader_text(r, json_array_get(v, i), max, &s, &len);
        if (rc == 0 && env && !is_env_entry(s, len))
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "'%s' is not KEY=VALUE (KEY of letters, digits and '_', not "
                             "starting with a digit)",
                             reader_quote(s, len, q));
        if (rc == 0)
            rc = reader_keep(r, s, len, &list[i]);
        reader_pop(r, item);
    }
    reader_pop(r, mark);
    if (rc == 0 && v) {
        *out = list;
        *n_out = n;
    }
    return rc;
}

/* annotations of obj: an object of at most CDI_MAX_ANNOTATIONS strings (not kept). */
static int read_annotations(struct reader *r, const json_t *obj)
{
    const json_t *v;
    size_t mark;
    int rc = reader_enter(r, obj, "annotations", false, &v, &mark);
    if (rc == 0 && v && !json_is_object(v))
        rc = reader_fail(r, -ALLOT_EINVAL, "expected an object of strings, found %s",
                         reader_type_name(r, v));
    if (rc == 0 && v && json_object_size(v) > CDI_MAX_ANNOTATIONS)
        rc = reader_fail(r, -ALLOT_ERANGE, "%zu annotations; at most %d are allowed",
                         json_object_size(v), CDI_MAX_ANNOTATIONS);
    if (rc == 0 && v) {
        for (void *it = json_object_iter((json_t *)v); rc == 0 && it;
             it = json_object_iter_next((json_t *)v, it)) {
            const char *s;
            size_t n,
                item = reader_push_key(r, json_object_iter_key(it), json_object_iter_key_len(it));
            rc = reader_text(r, json_object_iter_value(it), SCHEMA_MAX_STRING, &s, &n);
            reader_pop(r, item);
        }
    }
    reader_pop(r, mark);
    return rc;
}

/* An integer at key of obj between min and max, -1 when absent. */
static int read_key_int(struct reader *r, const json_t *obj, const char *key, int64_t min,
                        int64_t max, int64_t *out)
{
    *out = -1;
    return reader_key_int(r, obj, key, min, max, out);
}

/* One of containerEdits.deviceNodes. */
static int read_device_node(struct reader *r, const json_t *v, struct cdi_device_node *d)
{
    int rc = reader_object(r, v, node_keys, NULL);
    const json_t *type;
    size_t mark;
    char q[READER_QUOTE + 4];
    *d = (struct cdi_device_node){0};
    if (rc == 0)
        rc = read_key_path(r, v, "path", true, &d->path);
    if (rc == 0)
        rc = read_key_path(r, v, "hostPath", false, &d->host_path);
    if (rc)
        return rc;
    rc = reader_enter(r, v, "type", false, &type, &mark);
    if (rc == 0 && type) {
        const char *s = NULL;
        size_t n = 0;
        rc = reader_text(r, type, SCHEMA_MAX_STRING, &s, &n);
        if (rc == 0 && (n != 1 || (s[0] != 'c' && s[0] != 'b')))
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "'%s' is not a device type (c for a character device, b for a "
                             "block device)",
                             reader_quote(s, n, q));
        if (rc == 0)
            d->type = s[0];
    }
    if (rc)
        return rc;
    reader_pop(r, mark);
    /* Linux: 12 bits of major, 20 of minor. */
    if (rc == 0)
        rc = read_key_int(r, v, "major", 0, 4095, &d->major);
    if (rc == 0)
        rc = read_key_int(r, v, "minor", 0, 1048575, &d->minor);
    if (rc == 0)
        rc = read_key_int(r, v, "fileMode", 0, 07777, &d->file_mode);
    if (rc == 0)
        rc = read_key_int(r, v, "uid", 0, 4294967294LL, &d->uid);
    if (rc == 0)
        rc = read_key_int(r, v, "gid", 0, 4294967294LL, &d->gid);
    if (rc == 0)
        rc = read_key_string(r, v, "permissions", 3, &d->permissions);
    if (rc == 0 && d->permissions) {
        const char *p = d->permissions;
        size_t n = strlen(p);
        bool ok = n > 0;
        for (size_t i = 0; ok && i < n; i++)
            ok = strchr("rwm", p[i]) && !memchr(p, p[i], i);
        if (!ok) {
            mark = reader_push_key(r, "permissions", 11);
            rc = reader_fail(r, -ALLOT_EINVAL,
                             "'%s' is not a set of permissions (r, w and m, each at most once)",
                             reader_quote(p, n, q));
            reader_pop(r, mark);
        }
    }
    return rc;
}

/* One of containerEdits.mounts. */
static int read_mount(struct reader *r, const json_t *v, struct cdi_mount *m)
{
    int rc = reader_object(r, v, mount_keys, NULL);
    *m = (struct cdi_mount){0};
    if (rc == 0)
        rc = read_key_path(r, v, "hostPath", true, &m->host_path);
    if (rc == 0)
        rc = read_key_path(r, v, "containerPath", true, &m->container_path);
    if (rc == 0)
        rc = read_key_string(r, v, "type", CDI_MAX_NAME, &m->type);
    if (rc == 0)
        rc =
            read_key_strings(r, v, "options", SCHEMA_MAX_STRING, false, &m->options, &m->n_options);
    return rc;
}

/* One of containerEdits.hooks. */
static int read_hook(struct reader *r, const json_t *v, struct cdi_hook *h)
{
    int rc = reader_object(r, v, hook_keys, NULL), which = 0;
    *h = (struct cdi_hook){.timeout = -1};
    if (rc == 0)
        rc = reader_key_enum(r, v, "hookName", true, hook_names, (int)CDI_N_HOOK_NAMES, &which);
    if (rc == 0)
        h->hook_name = hook_names[which];
    if (rc == 0)
        rc = read_key_path(r, v, "path", true, &h->path);
    if (rc == 0)
        rc = read_key_strings(r, v, "args", SCHEMA_MAX_ARG, false, &h->args, &h->n_args);
    if (rc == 0)
        rc = read_key_strings(r, v, "env", SCHEMA_MAX_ARG, true, &h->env, &h->n_env);
    if (rc == 0)
        rc = reader_key_int(r, v, "timeout", 1, 86400, &h->timeout);
    return rc;
}

/* The list at key of obj, each entry read by one of the readers above into an array of `size`
 * bytes per entry. */
typedef int (*entry_reader)(struct reader *r, const json_t *v, void *out);

static int read_key_list(struct reader *r, const json_t *obj, const char *key, const char *what,
                         size_t size, entry_reader read, const void **out, size_t *n_out)
{
    const json_t *v;
    size_t mark, n = 0;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_array(r, v, CDI_MAX_EDITS, what, &n);
    char *list = NULL;
    if (rc == 0 && n > 0 && !(list = arena_alloc(r->arena, n * size)))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = reader_push_index(r, i);
        rc = read(r, json_array_get(v, i), list + i * size);
        reader_pop(r, item);
    }
    reader_pop(r, mark);
    if (rc == 0 && n > 0) {
        *out = list;
        *n_out = n;
    }
    return rc;
}

static int entry_node(struct reader *r, const json_t *v, void *out)
{
    return read_device_node(r, v, out);
}

static int entry_mount(struct reader *r, const json_t *v, void *out)
{
    return read_mount(r, v, out);
}

static int entry_hook(struct reader *r, const json_t *v, void *out)
{
    return read_hook(r, v, out);
}

/* additionalGIDs of obj: at most CDI_MAX_EDITS group ids. */
static int read_gids(struct reader *r, const json_t *obj, struct cdi_edits *e)
{
    const json_t *v;
    size_t mark, n = 0;
    int rc = reader_enter(r, obj, "additionalGIDs", false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_array(r, v, CDI_MAX_EDITS, "group ids", &n);
    uint32_t *gids = NULL;
    if (rc == 0 && n > 0 && !(gids = arena_alloc(r->arena, n * sizeof(*gids))))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t gid = 0;
        size_t item = reader_push_index(r, i);
        rc = reader_int(r, json_array_get(v, i), 0, 4294967294LL, &gid);
        gids[i] = (uint32_t)gid;
        reader_pop(r, item);
    }
    reader_pop(r, mark);
    if (rc == 0 && n > 0) {
        e->additional_gids = gids;
        e->n_additional_gids = n;
    }
    return rc;
}

/* The containerEdits at key of obj into *e (all empty when absent). */
static int read_edits(struct reader *r, const json_t *obj, bool required, struct cdi_edits *e)
{
    const json_t *v;
    size_t mark;
    const void *list;
    *e = (struct cdi_edits){0};
    int rc = reader_enter(r, obj, "containerEdits", required, &v, &mark);
    if (rc == 0 && v)
        rc = reader_object(r, v, edits_keys, NULL);
    for (const char *const *unsupported = (const char *const[]){"intelRdt", "netDevices", NULL};
         rc == 0 && v && *unsupported; unsupported++) {
        if (!json_object_get(v, *unsupported))
            continue;
        size_t item = reader_push_key(r, *unsupported, strlen(*unsupported));
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "not supported by Allot: a spec with it would be applied in part");
        reader_pop(r, item);
    }
    if (rc == 0 && v)
        rc = read_key_strings(r, v, "env", SCHEMA_MAX_ENV_NAME + SCHEMA_MAX_ENV_VALUE + 1, true,
                              &e->env, &e->n_env);
    if (rc == 0 && v) {
        list = NULL;
        rc = read_key_list(r, v, "deviceNodes", "device nodes", sizeof(struct cdi_device_node),
                           entry_node, &list, &e->n_device_nodes);
        e->device_nodes = list;
    }
    if (rc == 0 && v) {
        list = NULL;
        rc = read_key_list(r, v, "mounts", "mounts", sizeof(struct cdi_mount), entry_mount, &list,
                           &e->n_mounts);
        e->mounts = list;
    }
    if (rc == 0 && v) {
        list = NULL;
        rc = read_key_list(r, v, "hooks", "hooks", sizeof(struct cdi_hook), entry_hook, &list,
                           &e->n_hooks);
        e->hooks = list;
    }
    if (rc == 0 && v)
        rc = read_gids(r, v, e);
    if (rc == 0 && required &&
        e->n_env + e->n_device_nodes + e->n_mounts + e->n_hooks + e->n_additional_gids == 0)
        rc = reader_fail(r, -ALLOT_EINVAL, "a device's edits are empty: it would give nothing");
    reader_pop(r, mark);
    return rc;
}

/* devices[i]: its name (unique among the n_seen before it) and edits. */
static int read_device(struct reader *r, const json_t *v, const struct cdi_device *seen,
                       size_t n_seen, struct cdi_device *d)
{
    char q[READER_QUOTE + 4];
    const json_t *name;
    const char *s = NULL;
    size_t mark, n = 0;
    *d = (struct cdi_device){0};
    int rc = reader_object(r, v, device_keys, NULL);
    if (rc)
        return rc;
    rc = reader_enter(r, v, "name", true, &name, &mark);
    if (rc == 0)
        rc = reader_text(r, name, SCHEMA_MAX_STRING, &s, &n);
    if (rc == 0 && !cdi_is_device_name(s, n))
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "'%s' is not a device name (1 to %d of letters, digits, '_', '.', ':' "
                         "and '-', starting with a letter or digit)",
                         reader_quote(s, n, q), CDI_MAX_NAME);
    for (size_t i = 0; rc == 0 && i < n_seen; i++)
        if (strlen(seen[i].name) == n && memcmp(seen[i].name, s, n) == 0)
            rc = reader_fail(r, -ALLOT_EEXIST, "device '%s' is defined twice (also devices[%zu])",
                             reader_quote(s, n, q), i);
    if (rc == 0)
        rc = reader_keep(r, s, n, &d->name);
    reader_pop(r, mark);
    if (rc == 0)
        rc = read_annotations(r, v);
    if (rc == 0)
        rc = read_edits(r, v, true, &d->edits);
    return rc;
}

/* The whole document root into out. */
static int read_spec(struct reader *r, const json_t *root, struct cdi_spec *out)
{
    char q[READER_QUOTE + 4];
    const json_t *v;
    const char *s = NULL;
    size_t mark, n = 0;
    if (!root)
        return reader_fail(r, -ALLOT_EINVAL, "the file is empty; expected a CDI spec");
    int rc = reader_object(r, root, spec_keys, NULL);
    if (rc == 0)
        rc = reader_enter(r, root, "cdiVersion", true, &v, &mark);
    if (rc == 0)
        rc = reader_text(r, v, 32, &s, &n);
    if (rc == 0 && !version_supported(s, n))
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "CDI version '%s' is not supported (0.3.0 to 0.8.x are read)",
                         reader_quote(s, n, q));
    if (rc == 0)
        rc = reader_keep(r, s, n, &out->version);
    if (rc)
        return rc;
    reader_pop(r, mark);
    rc = reader_enter(r, root, "kind", true, &v, &mark);
    if (rc == 0)
        rc = reader_text(r, v, CDI_MAX_NAME, &s, &n);
    if (rc == 0 && !cdi_is_kind(s, n))
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "'%s' is not a CDI kind (vendor.com/class: the vendor a domain name, "
                         "the class letters, digits, '-' and '_')",
                         reader_quote(s, n, q));
    if (rc == 0)
        rc = reader_keep(r, s, n, &out->kind);
    if (rc)
        return rc;
    reader_pop(r, mark);
    rc = read_annotations(r, root);
    if (rc == 0)
        rc = reader_enter(r, root, "devices", true, &v, &mark);
    if (rc == 0)
        rc = reader_array(r, v, CDI_MAX_DEVICES, "devices", &n);
    if (rc == 0 && n == 0)
        rc = reader_fail(r, -ALLOT_EINVAL, "no devices; a spec defines at least one");
    struct cdi_device *devices = NULL;
    if (rc == 0 && !(devices = arena_alloc(r->arena, n * sizeof(*devices))))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = reader_push_index(r, i);
        rc = read_device(r, json_array_get(v, i), devices, i, &devices[i]);
        reader_pop(r, item);
    }
    if (rc)
        return rc;
    reader_pop(r, mark);
    out->devices = devices;
    out->n_devices = n;
    return read_edits(r, root, false, &out->edits);
}

/* Whether text (len bytes) looks like JSON: its first byte other than white space is '{'. */
static bool json_text(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i]) && text[i])
        i++;
    return i < len && text[i] == '{';
}

/* Parse text into a source (lines by field path) and read it. OUT *line: the line of the
 * refusal (0 when the text did not parse: then msg holds the whole sentence). */
static int spec_parse(const char *path, const char *text, size_t len, struct arena *a,
                      struct cdi_spec *out, struct schema_error *err, char *msg, size_t msglen)
{
    struct source src;
    struct reader r;
    char why[512];
    int rc;
    memset(out, 0, sizeof(*out));
    reader_init(&r, a, err);
    if (len > CDI_MAX_FILE_BYTES) {
        rc = reader_fail(&r, -ALLOT_ERANGE, "%zu bytes; a CDI spec may hold at most %d", len,
                         CDI_MAX_FILE_BYTES);
        snprintf(msg, msglen, "%s: document: %s", path, r.err->message);
        return rc;
    }
    rc = source_parse(path, (const unsigned char *)text, len, &src, why, sizeof(why));
    if (rc && rc != -ALLOT_ENOMEM && json_text(text, len)) {
        /* JSON that libyaml does not take (a surrogate pair's escapes): jansson reads it, and
         * refusals then name the field at line 1, since jansson keeps no lines. */
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        if (root) {
            source_cleanup(&src);
            src.root = root;
            src.path = path;
            rc = 0;
        }
    }
    if (rc) {
        rc = rc == -ALLOT_ECONFIG ? -ALLOT_EPARSE : rc;
        snprintf(msg, msglen, "%s", why);
        reader_fail(&r, rc, "%s", why);
        source_cleanup(&src);
        return rc;
    }
    r.source = &src;
    rc = read_spec(&r, src.root, out);
    if (rc == 0) {
        out->path = arena_strdup(a, path);
        if (!out->path)
            rc = reader_fail(&r, -ALLOT_ENOMEM, "out of memory");
    }
    if (rc) {
        source_error(&src, r.err, msg, msglen);
        memset(out, 0, sizeof(*out));
    }
    source_cleanup(&src);
    return rc;
}

int cdi_spec_parse(const char *path, const char *text, size_t len, struct arena *a,
                   struct cdi_spec *out, struct schema_error *err)
{
    char msg[512];
    return spec_parse(path, text, len, a, out, err, msg, sizeof(msg));
}

int cdi_spec_read(const char *path, const char *text, size_t len, struct arena *a,
                  struct cdi_spec *out, char *msg, size_t msglen)
{
    struct schema_error err;
    msg[0] = '\0';
    return spec_parse(path, text, len, a, out, &err, msg, msglen);
}

/* ---- the registry --------------------------------------------------------------------- */

/* Whether name is a spec file's: *.json, *.yaml or *.yml, not hidden. */
static bool is_spec_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || n > CDI_MAX_FILE_NAME)
        return false;
    return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int name_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole file at path, at most CDI_MAX_FILE_BYTES (+1 to tell a larger one). OUT *text
 * (free it), *n. RET 0; -ALLOT_EIO; -ALLOT_ERANGE (too large); -ALLOT_ENOMEM. */
static int read_file(const char *path, char **text, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    int rc = 0;
    *text = NULL;
    *n = 0;
    if (!f)
        return -ALLOT_EIO;
    size_t cap = 64 * 1024, used = 0;
    for (;;) {
        if (used == cap || !buf) {
            size_t want = buf ? cap * 2 : cap;
            if (want > (size_t)CDI_MAX_FILE_BYTES + 1)
                want = (size_t)CDI_MAX_FILE_BYTES + 1;
            char *grown = realloc(buf, want);
            if (!grown) {
                rc = -ALLOT_ENOMEM;
                break;
            }
            buf = grown;
            cap = want;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (used > (size_t)CDI_MAX_FILE_BYTES) {
            rc = -ALLOT_ERANGE;
            break;
        }
        if (got == 0) {
            rc = ferror(f) ? -ALLOT_EIO : 0;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    *n = used;
    return 0;
}

/* Keep a refusal of the file at path (problem: its sentence), with the kind and the device
 * names of text as far as they can be read. RET 0 or -ALLOT_ENOMEM. */
static int keep_refusal(struct cdi_registry *reg, const char *text, size_t n, const char *problem,
                        size_t *cap)
{
    if (ARRAY_GROW(reg->refusals, reg->n_refusals, *cap))
        return -ALLOT_ENOMEM;
    struct cdi_refusal *f = &reg->refusals[reg->n_refusals];
    *f = (struct cdi_refusal){.problem = arena_strdup(&reg->arena, problem)};
    if (!f->problem)
        return -ALLOT_ENOMEM;
    reg->n_refusals++;
    struct source src = {0};
    char why[256];
    if (text &&
        source_parse("salvage", (const unsigned char *)text, n, &src, why, sizeof(why)) == 0) {
        const json_t *kind = json_object_get(src.root, "kind");
        const json_t *devices = json_object_get(src.root, "devices");
        if (json_is_string(kind) && cdi_is_kind(json_string_value(kind), json_string_length(kind)))
            f->kind = arena_strdup(&reg->arena, json_string_value(kind));
        size_t count = json_is_array(devices) ? json_array_size(devices) : 0;
        if (f->kind && count > 0 && count <= CDI_MAX_DEVICES &&
            (f->names = arena_alloc(&reg->arena, count * sizeof(*f->names)))) {
            for (size_t i = 0; i < count; i++) {
                const json_t *name = json_object_get(json_array_get(devices, i), "name");
                const char *s =
                    json_is_string(name) ? json_string_value(name) : source_text(&src, name);
                if (s && cdi_is_device_name(s, strlen(s)) &&
                    (f->names[f->n_names] = arena_strdup(&reg->arena, s)))
                    f->n_names++;
            }
        }
    }
    source_cleanup(&src);
    return 0;
}

/* Keep spec as the next one read. RET 0 or -ALLOT_ENOMEM. */
static int keep_spec(struct cdi_registry *reg, const struct cdi_spec *spec, size_t *cap)
{
    if (ARRAY_GROW(reg->specs, reg->n_specs, *cap))
        return -ALLOT_ENOMEM;
    reg->specs[reg->n_specs++] = *spec;
    return 0;
}

/* The spec file names of dir, sorted. OUT *names (each and the array free'd by the caller),
 * *n. RET 0; -ALLOT_ENOENT (no such directory); -ALLOT_EIO; -ALLOT_ERANGE (more than max);
 * -ALLOT_ENOMEM. */
static int list_dir(const char *dir, size_t max, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    char **list = NULL;
    size_t count = 0;
    int rc = 0;
    *names = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? -ALLOT_ENOENT : -ALLOT_EIO;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!is_spec_file(e->d_name))
            continue;
        if (count == max) {
            rc = -ALLOT_ERANGE;
            break;
        }
        char **grown = realloc(list, (count + 1) * sizeof(*list));
        char *copy = grown ? strdup(e->d_name) : NULL;
        if (grown)
            list = grown;
        if (!copy) {
            rc = -ALLOT_ENOMEM;
            break;
        }
        list[count++] = copy;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return rc;
    }
    if (count)
        qsort(list, count, sizeof(*list), name_order);
    *names = list;
    *n = count;
    return 0;
}

/* Read the spec file dir/name into reg: a spec, or a refusal. RET 0 or -ALLOT_ENOMEM. */
static int load_file(struct cdi_registry *reg, const char *dir, const char *name, size_t *cap_specs,
                     size_t *cap_refusals)
{
    char path[CDI_MAX_PATH + CDI_MAX_FILE_NAME + 2], problem[sizeof(path) + 640];
    char *text = NULL;
    size_t n = 0;
    struct cdi_spec spec;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    errno = 0;
    int rc = read_file(path, &text, &n), saved = errno ? errno : EIO;
    if (rc == -ALLOT_ENOMEM)
        return rc;
    if (rc) {
        if (rc == -ALLOT_ERANGE)
            snprintf(problem, sizeof(problem), "%s:1: document: larger than %d bytes", path,
                     CDI_MAX_FILE_BYTES);
        else
            snprintf(problem, sizeof(problem), "%s:1: document: cannot be read: %s", path,
                     strerror(saved));
        return keep_refusal(reg, NULL, 0, problem, cap_refusals);
    }
    rc = cdi_spec_read(path, text, n, &reg->arena, &spec, problem, sizeof(problem));
    if (rc == 0)
        rc = keep_spec(reg, &spec, cap_specs);
    else if (rc != -ALLOT_ENOMEM)
        rc = keep_refusal(reg, text, n, problem, cap_refusals);
    free(text);
    return rc;
}

int cdi_registry_load(const char *dirs, struct cdi_registry **out, char *err, size_t len)
{
    struct cdi_registry *reg = calloc(1, sizeof(*reg));
    size_t cap_specs = 0, cap_refusals = 0, files = 0;
    int rc = 0;
    *out = NULL;
    if (!reg) {
        snprintf(err, len, "out of memory");
        return -ALLOT_ENOMEM;
    }
    arena_init(&reg->arena, 0);
    for (const char *p = dirs ? dirs : ""; rc == 0 && *p;) {
        size_t n = strcspn(p, ":");
        char dir[CDI_MAX_PATH + 1];
        char **names = NULL;
        size_t count = 0;
        if (n == 0 || n > CDI_MAX_PATH) {
            if (n > CDI_MAX_PATH) {
                snprintf(err, len, "a CDI directory of more than %d bytes", CDI_MAX_PATH);
                rc = -ALLOT_ERANGE;
            }
            p += n + (p[n] == ':');
            continue;
        }
        memcpy(dir, p, n);
        dir[n] = '\0';
        p += n + (p[n] == ':');
        rc = list_dir(dir, CDI_MAX_FILES - files, &names, &count);
        if (rc == -ALLOT_ENOENT) {
            rc = 0; /* a directory that does not exist holds no spec */
            continue;
        }
        if (rc == -ALLOT_ERANGE)
            snprintf(err, len, "more than %d CDI spec files in %s", CDI_MAX_FILES, dirs);
        else if (rc)
            snprintf(err, len, "%s: %s", dir,
                     rc == -ALLOT_ENOMEM ? "out of memory" : "cannot be read");
        files += count;
        for (size_t i = 0; rc == 0 && i < count; i++) {
            rc = load_file(reg, dir, names[i], &cap_specs, &cap_refusals);
            if (rc)
                snprintf(err, len, "out of memory reading %s/%s", dir, names[i]);
        }
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
    }
    if (rc) {
        cdi_registry_free(reg);
        return rc;
    }
    *out = reg;
    return 0;
}

void cdi_registry_free(struct cdi_registry *reg)
{
    if (!reg)
        return;
    free(reg->specs);
    free(reg->refusals);
    arena_cleanup(&reg->arena);
    free(reg);
}

const struct cdi_device *cdi_registry_find(const struct cdi_registry *reg, const char *kind,
                                           const char *name, const struct cdi_spec **spec)
{
    if (spec)
        *spec = NULL;
    if (!reg || !kind || !name)
        return NULL;
    for (size_t i = reg->n_specs; i-- > 0;) {
        const struct cdi_spec *s = &reg->specs[i];
        if (strcmp(s->kind, kind) != 0)
            continue;
        for (size_t k = 0; k < s->n_devices; k++)
            if (strcmp(s->devices[k].name, name) == 0) {
                if (spec)
                    *spec = s;
                return &s->devices[k];
            }
    }
    return NULL;
}

const char *cdi_registry_refused(const struct cdi_registry *reg, const char *kind, const char *name)
{
    for (size_t i = 0; reg && kind && name && i < reg->n_refusals; i++) {
        const struct cdi_refusal *f = &reg->refusals[i];
        if (!f->kind || strcmp(f->kind, kind) != 0)
            continue;
        for (size_t k = 0; k < f->n_names; k++)
            if (strcmp(f->names[k], name) == 0)
                return f->problem;
    }
    return NULL;
}

const char *cdi_registry_problem(const struct cdi_registry *reg, size_t k)
{
    return reg && k < reg->n_refusals ? reg->refusals[k].problem : NULL;
}

size_t cdi_registry_count(const struct cdi_registry *reg)
{
    return reg ? reg->n_specs : 0;
}

const struct cdi_spec *cdi_registry_spec(const struct cdi_registry *reg, size_t k)
{
    return reg && k < reg->n_specs ? &reg->specs[k] : NULL;
}
