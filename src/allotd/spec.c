/* The JSON codec of allotd's API (spec.h): readers that check every field of a request body
 * and name the one they refuse, mirroring config/platform.c, and writers of the views. */
#include "allotd/spec.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"
#include "view/view.h"
#include "common/quantity.h"
#include "sched/mig.h"
#include "sched/quota.h"
#include "sched/reason.h"

/* Most bytes of one key a field path shows, and of user text a message quotes. */
#define SPEC_PATH_KEY 48
#define SPEC_QUOTE 64

/* A body being read: where its strings go, where a refusal goes, and the path of the field
 * being read, which grows and shrinks as the reader descends (push_key, push_index, pop). */
struct reader {
    struct arena *arena;
    struct spec_error *err;
    size_t field_len;
    char field[sizeof(((struct spec_error *)0)->field)];
};

/* What a quantity holds; each kind has its parser in common/quantity.h. */
enum spec_quantity { SPEC_Q_DURATION, SPEC_Q_BYTES, SPEC_Q_CPU, SPEC_Q_GPU };

static int parse_gpu(const char *s, int64_t *units);

static const struct {
    int (*parse)(const char *s, int64_t *out);
    const char *what;
    const char *examples;
    const char *range; /* what -ALLOT_ERANGE from the parser means */
} spec_quantities[] = {
    [SPEC_Q_DURATION] = {quantity_parse_duration, "a duration", "30s, 10m, 1h30m, or seconds",
                         "too large, or finer than a millisecond"},
    [SPEC_Q_BYTES] = {quantity_parse_bytes, "an amount of bytes", "512Mi, 64Gi, 1Ti, or bytes",
                      "too large, or not a whole number of bytes"},
    [SPEC_Q_CPU] = {quantity_parse_cpu, "a number of CPUs", "16, 0.5, \"500m\"",
                    "too large, or finer than a millicore"},
    [SPEC_Q_GPU] = {parse_gpu, "a number of GPUs", "4, 0.5, \"3/7\"",
                    "too large, or not a multiple of 1/840 GPU"},
};

static const char *const type_names[] = {
    [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array",     [JSON_STRING] = "a string",
    [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real number", [JSON_TRUE] = "a boolean",
    [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null",
};

static const char *const isolation_names[] = {
    [SCHED_ISOLATION_SHARED] = "shared",
    [SCHED_ISOLATION_DEDICATED] = "dedicated",
};

static const char *const tenant_keys[] = {"name", "isolation", "max_grace", NULL};
static const char *const cluster_keys[] = {"name", "dedicated_to", NULL};
/* Fields whose null is a value: no cap on grace, dedicated to no tenant, owned by none. */
static const char *const tenant_nullable[] = {"max_grace", NULL};
static const char *const cluster_nullable[] = {"dedicated_to", NULL};
static const char *const node_nullable[] = {"tenant", NULL};
static const char *const node_keys[] = {"name",  "cluster", "tenant", "cpu", "memory",
                                        "state", "labels",  "gpus",   NULL};
static const char *const gpu_keys[] = {"model", "count", "healthy", "mig", NULL};
static const char *const mig_keys[] = {"profile", "start", NULL};
static const char *const workspace_keys[] = {"name", "reserved", "limits", "lend", "weight", NULL};
static const char *const reserved_keys[] = {"gpu", NULL};
static const char *const workload_keys[] = {
    "name",     "workspace",       "kind",     "priority", "gpus",
    "mig",      "model",           "replicas", "cpu",      "memory",
    "storage",  "preemptible",     "grace",    "command",  "env",
    "duration", "idempotency_key", NULL};

/* The limits a workspace may set, in enum sched_resource order. */
static const struct {
    const char *key;
    enum spec_quantity kind;
    size_t offset; /* in struct sched_resources */
} spec_limits[] = {
    [SCHED_RES_GPU] = {"gpu", SPEC_Q_GPU, offsetof(struct sched_resources, gpu)},
    [SCHED_RES_CPU] = {"cpu", SPEC_Q_CPU, offsetof(struct sched_resources, cpu)},
    [SCHED_RES_MEMORY] = {"memory", SPEC_Q_BYTES, offsetof(struct sched_resources, memory)},
    [SCHED_RES_STORAGE] = {"storage", SPEC_Q_BYTES, offsetof(struct sched_resources, storage)},
};
static const char *const limit_keys[] = {"gpu", "cpu", "memory", "storage", NULL};

/* ---- names ---------------------------------------------------------------------------- */

bool spec_is_name(const char *s, size_t n)
{
    return name_is_valid(s, n, SPEC_MAX_NAME);
}

bool spec_is_workspace_name(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    return slash && spec_is_name(s, (size_t)(slash - s)) &&
           spec_is_name(slash + 1, strlen(slash + 1));
}

/* ---- field paths and refusals --------------------------------------------------------- */

/* Start reading with an empty path; err is cleared. Cannot fail. */
static void reader_init(struct reader *r, struct arena *a, struct spec_error *err)
{
    r->arena = a;
    r->err = err;
    r->field_len = 0;
    r->field[0] = '\0';
    err->field[0] = '\0';
    err->message[0] = '\0';
    err->code = 0;
}

/* Append printable text to the path, cut where the path is full. */
static void path_append(struct reader *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n && r->field_len + 1 < sizeof(r->field); i++) {
        unsigned char c = (unsigned char)s[i];
        r->field[r->field_len++] = c > ' ' && c < 0x7f ? (char)c : '?';
    }
    r->field[r->field_len] = '\0';
}

/* Append ".key" ("key" at the top, nothing for an empty key; n bytes, at most SPEC_PATH_KEY
 * shown). RET a mark for pop, which restores the path as it was. */
static size_t push_key(struct reader *r, const char *key, size_t n)
{
    size_t mark = r->field_len;
    if (mark > 0 && n > 0)
        path_append(r, ".", 1);
    path_append(r, key, n < SPEC_PATH_KEY ? n : SPEC_PATH_KEY);
    return mark;
}

static size_t push_index(struct reader *r, size_t index)
{
    char text[32];
    size_t mark = r->field_len;
    int n = snprintf(text, sizeof(text), "[%zu]", index);
    path_append(r, text, (size_t)n);
    return mark;
}

static void pop(struct reader *r, size_t mark)
{
    r->field_len = mark;
    r->field[mark] = '\0';
}

/* Refuse the field at the current path: fill r->err and RET rc, so that callers may write
 * `return fail(...)`. */
static int fail(struct reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->message, sizeof(r->err->message), fmt, ap);
    va_end(ap);
    memcpy(r->err->field, r->field, r->field_len + 1);
    r->err->code = rc;
    return rc;
}

/* User text s (n bytes) fit for a message: at most SPEC_QUOTE bytes, unprintable bytes
 * replaced by '?', "..." when cut. RET buf. */
static const char *quoted(const char *s, size_t n, char buf[SPEC_QUOTE + 4])
{
    size_t k = 0;
    for (; k < n && k < SPEC_QUOTE; k++) {
        unsigned char c = (unsigned char)s[k];
        buf[k] = c >= ' ' && c < 0x7f ? (char)c : '?';
    }
    if (k < n) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

/* "a, b, c" of a NULL-terminated list (or the first n names when n >= 0) into buf. */
static const char *joined(const char *const *names, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n) && used < len; i++) {
        int k = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    return buf;
}

static const char *type_name(const json_t *v)
{
    return v ? type_names[json_typeof(v)] : "nothing";
}

/* ---- typed readers of one value, at the current path ---------------------------------- */

/* Check that v is an object whose keys are all in keys (NULL-terminated), and whose values
 * are not null unless their key is in nullable (NULL-terminated, or NULL for none): a null
 * would otherwise pass for a value left out ("gpus": null as 0). */
static int check_object(struct reader *r, const json_t *v, const char *const *keys,
                        const char *const *nullable)
{
    if (!json_is_object(v))
        return fail(r, -ALLOT_EINVAL, "expected an object, found %s", type_name(v));
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        const char *key = json_object_iter_key(it);
        size_t n = json_object_iter_key_len(it);
        bool known = false, may_null = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strlen(keys[i]) == n && memcmp(keys[i], key, n) == 0;
        for (size_t i = 0; nullable && nullable[i] && !may_null; i++)
            may_null = strlen(nullable[i]) == n && memcmp(nullable[i], key, n) == 0;
        if (known && json_is_null(json_object_iter_value(it)) && !may_null) {
            size_t mark = push_key(r, key, n);
            int rc = fail(r, -ALLOT_EINVAL, "null is not a value of this field; leave it out");
            pop(r, mark);
            return rc;
        }
        if (known)
            continue;
        /* a key that is a prefix of a known one, or the other way round, is likely a typo
         * of it ("gpu" for "gpus") */
        const char *near = NULL;
        for (size_t i = 0; keys[i] && !near && n >= 3; i++) {
            size_t k = strlen(keys[i]);
            if (memcmp(keys[i], key, k < n ? k : n) == 0)
                near = keys[i];
        }
        char expected[512];
        size_t mark = push_key(r, key, n);
        int rc = near ? fail(r, -ALLOT_EINVAL, "unknown field; did you mean %s?", near)
                      : fail(r, -ALLOT_EINVAL, "unknown field (expected one of: %s)",
                             joined(keys, -1, expected, sizeof(expected)));
        pop(r, mark);
        return rc;
    }
    return 0;
}

int spec_check_fields(const json_t *j, const char *const *keys, const char *const *nullable,
                      struct spec_error *err)
{
    struct reader r;
    reader_init(&r, NULL, err);
    return check_object(&r, j, keys, nullable);
}

/* The value of key in obj, or NULL when absent or null (check_object has refused a null
 * where it is not a value of the field). */
static const json_t *get(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Check that v is a string of at most max bytes without NUL. OUT *s (into the document) and
 * *n, its length. */
static int read_text(struct reader *r, const json_t *v, size_t max, const char **s, size_t *n)
{
    if (!json_is_string(v))
        return fail(r, -ALLOT_EINVAL, "expected a string, found %s", type_name(v));
    const char *text = json_string_value(v);
    size_t len = json_string_length(v);
    if (memchr(text, '\0', len))
        return fail(r, -ALLOT_EINVAL, "contains a NUL character");
    if (len > max)
        return fail(r, -ALLOT_EINVAL, "%zu bytes long; at most %zu are allowed", len, max);
    *s = text;
    *n = len;
    return 0;
}

/* A copy of s (n bytes) in the arena. */
static int keep(struct reader *r, const char *s, size_t n, const char **out)
{
    char *copy = arena_strndup(r->arena, s, n);
    if (!copy)
        return fail(r, -ALLOT_ENOMEM, "out of memory");
    *out = copy;
    return 0;
}

/* A string of at most max bytes, copied into the arena. */
static int read_string(struct reader *r, const json_t *v, size_t max, const char **out)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = read_text(r, v, max, &s, &n);
    return rc ? rc : keep(r, s, n, out);
}

static int read_name(struct reader *r, const json_t *v, const char **out)
{
    char q[SPEC_QUOTE + 4];
    const char *s = NULL;
    size_t n = 0;
    int rc = read_text(r, v, SPEC_MAX_STRING, &s, &n);
    if (rc)
        return rc;
    if (!spec_is_name(s, n))
        return fail(r, -ALLOT_EINVAL,
                    "'%s' is not a valid name (1 to %d of a-z, 0-9, '-', '_', '.', starting with "
                    "a letter or digit)",
                    quoted(s, n, q), SPEC_MAX_NAME);
    return keep(r, s, n, out);
}

/* A workspace's name: "tenant/workspace", or with default_tenant the bare workspace name (a
 * full name must then be in default_tenant). OUT *out, the full name in the arena. */
static int read_workspace_name(struct reader *r, const json_t *v, const char *default_tenant,
                               const char **out)
{
    char q[SPEC_QUOTE + 4];
    const char *s = NULL;
    size_t n = 0;
    int rc = read_text(r, v, SPEC_MAX_STRING, &s, &n);
    if (rc)
        return rc;
    const char *slash = memchr(s, '/', n);
    if (!slash && default_tenant && spec_is_name(s, n)) {
        size_t t = strlen(default_tenant);
        char *full = arena_alloc(r->arena, t + 1 + n + 1);
        if (!full)
            return fail(r, -ALLOT_ENOMEM, "out of memory");
        memcpy(full, default_tenant, t);
        full[t] = '/';
        memcpy(full + t + 1, s, n);
        full[t + 1 + n] = '\0';
        *out = full;
        return 0;
    }
    if (!slash || !spec_is_name(s, (size_t)(slash - s)) ||
        !spec_is_name(slash + 1, n - (size_t)(slash + 1 - s)))
        return fail(r, -ALLOT_EINVAL,
                    "'%s' is not a workspace name (tenant/workspace, each a name of 1 to %d of "
                    "a-z, 0-9, '-', '_', '.')",
                    quoted(s, n, q), SPEC_MAX_NAME);
    if (default_tenant && (strlen(default_tenant) != (size_t)(slash - s) ||
                           memcmp(default_tenant, s, (size_t)(slash - s)) != 0))
        return fail(r, -ALLOT_EINVAL, "workspace '%s' is not in tenant '%s'", quoted(s, n, q),
                    default_tenant);
    return keep(r, s, n, out);
}

static int read_bool(struct reader *r, const json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return fail(r, -ALLOT_EINVAL, "expected true or false, found %s", type_name(v));
    *out = json_is_true(v);
    return 0;
}

/* A JSON integer between min and max. */
static int read_int(struct reader *r, const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    if (!json_is_integer(v))
        return fail(r, -ALLOT_EINVAL, "expected an integer, found %s", type_name(v));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(r, -ALLOT_ERANGE,
                    "%" JSON_INTEGER_FORMAT " is out of range (%" PRId64 " to %" PRId64 ")", i, min,
                    max);
    *out = (int64_t)i;
    return 0;
}

/* One of n names; OUT *out, its index. */
static int read_enum(struct reader *r, const json_t *v, const char *const *names, int n, int *out)
{
    char q[SPEC_QUOTE + 4], expected[256];
    const char *s = NULL;
    size_t len = 0;
    int rc = read_text(r, v, SPEC_MAX_STRING, &s, &len);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail(r, -ALLOT_EINVAL, "unknown value '%s' (expected one of: %s)", quoted(s, len, q),
                joined(names, n, expected, sizeof(expected)));
}

/* GPUs as quantity_parse_gpu reads them, and also "1+3/7", the way quantity_format_gpu
 * prints a whole number with a fraction, so that views can be sent back. */
static int parse_gpu(const char *s, int64_t *units)
{
    const char *plus = strchr(s, '+');
    if (!plus)
        return quantity_parse_gpu(s, units);
    char whole[32];
    size_t n = (size_t)(plus - s);
    if (n == 0 || n >= sizeof(whole) || strchr(plus + 1, '+'))
        return -ALLOT_EPARSE;
    memcpy(whole, s, n);
    whole[n] = '\0';
    int64_t a, b;
    int rc = quantity_parse_gpu(whole, &a);
    if (rc == 0)
        rc = quantity_parse_gpu(plus + 1, &b);
    if (rc)
        return rc;
    if (a % QUANTITY_GPU_UNITS != 0 || b >= QUANTITY_GPU_UNITS)
        return -ALLOT_EPARSE; /* "W+N/D": a whole number, then a fraction below one */
    if (a > QUANTITY_MAX - b)
        return -ALLOT_ERANGE;
    *units = a + b;
    return 0;
}

/* The decimal text of JSON number v for the quantity parsers (buf of len >= 64). A real is
 * printed with six decimals, trailing zeros cut, and refused unless that text reads back as
 * the same double: 0.5 and 0.125 pass exactly, 0.1234567 is refused rather than rounded. */
static int number_text(struct reader *r, const json_t *v, enum spec_quantity kind, char *buf,
                       size_t len)
{
    const char *what = spec_quantities[kind].what;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return fail(r, -ALLOT_ERANGE,
                        "%" JSON_INTEGER_FORMAT " is negative (expected %s, 0 or more)", i, what);
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, i);
        return 0;
    }
    double d = json_real_value(v) + 0.0; /* + 0.0: -0.0 becomes 0.0 */
    if (!isfinite(d))
        return fail(r, -ALLOT_ERANGE, "not a finite number (expected %s)", what);
    if (d < 0)
        return fail(r, -ALLOT_ERANGE, "%g is negative (expected %s, 0 or more)", d, what);
    if (d >= 1e18)
        return fail(r, -ALLOT_ERANGE, "%g is out of range for %s", d, what);
    snprintf(buf, len, "%.6f", d);
    char *end = buf + strlen(buf);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    if (strtod(buf, NULL) != d)
        return fail(r, -ALLOT_EINVAL,
                    "%.17g has more than 6 decimal places; write it as a string (e.g. \"3/7\")", d);
    return 0;
}

/* A quantity of the given kind: a JSON number (seconds for a duration, bytes for an amount of
 * bytes) or a string in the YAML schema's format ("30s", "64Gi", "500m", "3/7"). */
static int read_quantity(struct reader *r, const json_t *v, enum spec_quantity kind, int64_t *out)
{
    char num[64], q[SPEC_QUOTE + 4];
    const char *s = num;
    size_t n = 0;
    int rc;
    if (json_is_number(v))
        rc = number_text(r, v, kind, num, sizeof(num));
    else if (json_is_string(v))
        rc = read_text(r, v, SPEC_MAX_STRING, &s, &n);
    else
        return fail(r, -ALLOT_EINVAL, "expected %s (a number or a string, e.g. %s), found %s",
                    spec_quantities[kind].what, spec_quantities[kind].examples, type_name(v));
    if (rc)
        return rc;
    if (s == num)
        n = strlen(num);
    rc = spec_quantities[kind].parse(s, out);
    if (rc == 0)
        return 0;
    quoted(s, n, q);
    if (s[strspn(s, " \t")] == '-')
        return fail(r, -ALLOT_ERANGE, "'%s' is negative (expected %s, 0 or more)", q,
                    spec_quantities[kind].what);
    if (rc == -ALLOT_ERANGE)
        return fail(r, -ALLOT_ERANGE, "'%s' is out of range for %s (%s)", q,
                    spec_quantities[kind].what, spec_quantities[kind].range);
    return fail(r, -ALLOT_EINVAL, "'%s' is not %s (examples: %s)", q, spec_quantities[kind].what,
                spec_quantities[kind].examples);
}

/* ---- readers of the value of one key -------------------------------------------------- */

/* Push key and find its value. OUT *value (NULL when absent), *mark for pop, which the
 * caller always calls. RET 0, or an error when the key is required and absent. */
static int enter(struct reader *r, const json_t *obj, const char *key, bool required,
                 const json_t **value, size_t *mark)
{
    *value = get(obj, key);
    *mark = push_key(r, key, strlen(key));
    if (!*value && required)
        return fail(r, -ALLOT_EINVAL, "required, but not given");
    return 0;
}

/* Each reads the value of key in obj with key pushed onto the path. An absent (or null) key
 * leaves *out as it was and returns 0, unless required. */
static int key_name(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char **out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = read_name(r, v, out);
    pop(r, mark);
    return rc;
}

static int key_bool(struct reader *r, const json_t *obj, const char *key, bool *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = read_bool(r, v, out);
    pop(r, mark);
    return rc;
}

static int key_int(struct reader *r, const json_t *obj, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = read_int(r, v, min, max, out);
    pop(r, mark);
    return rc;
}

static int key_quantity(struct reader *r, const json_t *obj, const char *key, bool required,
                        enum spec_quantity kind, int64_t *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = read_quantity(r, v, kind, out);
    pop(r, mark);
    return rc;
}

static int key_enum(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char *const *names, int n, int *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = read_enum(r, v, names, n, out);
    pop(r, mark);
    return rc;
}

/* ---- bounds --------------------------------------------------------------------------- */

struct bounds {
    struct reader r;
    int max_depth;
    size_t max_items;
    size_t items; /* values seen so far, the root included */
};

/* Check container v at depth (1 for the root) and everything in it. */
static int bounds_walk(struct bounds *b, const json_t *v, int depth)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    if (depth > b->max_depth)
        return fail(&b->r, -ALLOT_ERANGE, "nested deeper than %d levels of arrays and objects",
                    b->max_depth);
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    if (n > b->max_items - b->items)
        return fail(&b->r, -ALLOT_ERANGE, "holds %zu entries; the body may hold at most %zu values",
                    n, b->max_items);
    b->items += n;
    int rc = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t mark = push_index(&b->r, i);
            rc = bounds_walk(b, json_array_get(v, i), depth + 1);
            pop(&b->r, mark);
        }
        return rc;
    }
    for (void *it = json_object_iter((json_t *)v); rc == 0 && it;
         it = json_object_iter_next((json_t *)v, it)) {
        size_t mark = push_key(&b->r, json_object_iter_key(it), json_object_iter_key_len(it));
        rc = bounds_walk(b, json_object_iter_value(it), depth + 1);
        pop(&b->r, mark);
    }
    return rc;
}

int spec_check_bounds(const json_t *j, int max_depth, size_t max_items, struct spec_error *err)
{
    struct spec_error scratch;
    struct bounds b = {.max_depth = max_depth, .max_items = max_items, .items = 1};
    reader_init(&b.r, NULL, err ? err : &scratch);
    if (!j)
        return fail(&b.r, -ALLOT_EINVAL, "no document");
    if (max_items < 1)
        return fail(&b.r, -ALLOT_ERANGE, "the body may hold no values");
    return bounds_walk(&b, j, 1);
}

/* ---- tenants and clusters ------------------------------------------------------------- */

int spec_tenant_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *out,
                          struct spec_error *err)
{
    struct spec_error scratch;
    struct reader r;
    struct sched_tenant_spec spec = {.isolation = SCHED_ISOLATION_SHARED, .max_grace_ms = 0};
    int isolation = SCHED_ISOLATION_SHARED;
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, tenant_keys, tenant_nullable);
    if (rc == 0)
        rc = key_name(&r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = key_enum(&r, j, "isolation", false, isolation_names, 2, &isolation);
    if (rc == 0)
        rc = key_quantity(&r, j, "max_grace", false, SPEC_Q_DURATION, &spec.max_grace_ms);
    if (rc)
        return rc;
    spec.isolation = (enum sched_isolation)isolation;
    *out = spec;
    return 0;
}

int spec_cluster_from_json(const json_t *j, struct arena *a, struct sched_cluster_spec *out,
                           struct spec_error *err)
{
    struct spec_error scratch;
    struct reader r;
    struct sched_cluster_spec spec = {.name = NULL, .dedicated_to = NULL};
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, cluster_keys, cluster_nullable);
    if (rc == 0)
        rc = key_name(&r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = key_name(&r, j, "dedicated_to", false, &spec.dedicated_to);
    if (rc)
        return rc;
    *out = spec;
    return 0;
}

/* ---- nodes ---------------------------------------------------------------------------- */

/* Index of the profile called name (n bytes) in info's table, or -1. */
static int profile_index(const struct gpu_model_info *info, const char *name, size_t n)
{
    for (int p = 0; p < info->n_profiles; p++)
        if (strlen(info->profiles[p].name) == n && memcmp(info->profiles[p].name, name, n) == 0)
            return p;
    return -1;
}

/* Read one `mig` entry, a profile name or {profile, start?}, of a GPU of model m. */
static int read_mig_instance(struct reader *r, const json_t *v, enum gpu_model m,
                             struct mig_instance_spec *inst)
{
    const struct gpu_model_info *info = mig_model(m);
    const json_t *profile = v;
    const char *name = NULL;
    size_t n = 0, mark = r->field_len;
    int64_t start = -1;
    int rc = 0;

    if (json_is_object(v)) {
        rc = check_object(r, v, mig_keys, NULL);
        if (rc == 0)
            rc = enter(r, v, "profile", true, &profile, &mark);
    } else if (!json_is_string(v)) {
        return fail(r, -ALLOT_EINVAL,
                    "expected a MIG profile name or {\"profile\", \"start\"}, found %s",
                    type_name(v));
    }
    if (rc == 0)
        rc = read_text(r, profile, SPEC_MAX_STRING, &name, &n);
    int index = rc ? -1 : profile_index(info, name, n);
    if (rc == 0 && index < 0) {
        char q[SPEC_QUOTE + 4], offered[256];
        const char *names[MIG_MAX_NAMES];
        for (int p = 0; p < info->n_profiles; p++)
            names[p] = info->profiles[p].name;
        rc = fail(r, -ALLOT_EINVAL, "MIG profile '%s' is not offered by %s (it offers: %s)",
                  quoted(name, n, q), info->name,
                  joined(names, info->n_profiles, offered, sizeof(offered)));
    }
    pop(r, mark);
    if (rc == 0 && json_is_object(v))
        rc = key_int(r, v, "start", 0, info->memory_slices - 1, &start);
    if (rc)
        return rc;
    inst->profile = (int8_t)index;
    inst->start = (int8_t)start;
    return 0;
}

/* Read gpus entry `entry` (at the current path) and append its count GPUs to gpus. */
static int read_gpu(struct reader *r, const json_t *entry, struct sched_gpu_spec *gpus,
                    uint32_t *n_gpus)
{
    const char *model_names[GPU_MODEL_COUNT];
    struct sched_gpu_spec gpu = {.healthy = true, .n_mig = 0};
    int model = 0;
    int64_t count = 1;

    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    int rc = check_object(r, entry, gpu_keys, NULL);
    if (rc == 0)
        rc = key_enum(r, entry, "model", true, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = key_int(r, entry, "count", 1, SCHED_MAX_GPUS_PER_NODE, &count);
    if (rc == 0)
        rc = key_bool(r, entry, "healthy", &gpu.healthy);
    if (rc)
        return rc;
    gpu.model = (enum gpu_model)model;

    const json_t *mig = get(entry, "mig");
    if (mig) {
        size_t mark = push_key(r, "mig", 3);
        size_t n = json_is_array(mig) ? json_array_size(mig) : 0;
        if (!json_is_array(mig))
            rc = fail(r, -ALLOT_EINVAL, "expected an array of MIG instances, found %s",
                      type_name(mig));
        else if (n > MIG_MAX_INSTANCES)
            rc = fail(r, -ALLOT_ERANGE, "%zu MIG instances; a GPU holds at most %d", n,
                      MIG_MAX_INSTANCES);
        else if (n > 0 && mig_model(gpu.model)->compute_slices == 0)
            rc = fail(r, -ALLOT_EINVAL, "GPU model %s does not support MIG",
                      mig_model(gpu.model)->name);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            size_t item = push_index(r, k);
            rc = read_mig_instance(r, json_array_get(mig, k), gpu.model, &gpu.mig[k]);
            pop(r, item);
        }
        if (rc == 0 && n > 0) {
            char problem[200] = "";
            if (mig_layout_place(gpu.model, gpu.mig, (int)n, problem, sizeof(problem)))
                rc = fail(r, -ALLOT_EINVAL, "%s", problem);
        }
        pop(r, mark);
        if (rc)
            return rc;
        gpu.n_mig = (uint8_t)n;
    }

    if (*n_gpus + (uint64_t)count > SCHED_MAX_GPUS_PER_NODE)
        return fail(r, -ALLOT_ERANGE, "the node would have %u GPUs; at most %d",
                    (unsigned)(*n_gpus + count), SCHED_MAX_GPUS_PER_NODE);
    for (int64_t c = 0; c < count; c++)
        gpus[(*n_gpus)++] = gpu;
    return 0;
}

/* Whether s (n bytes) has a control character. */
static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
            return true;
    return false;
}

/* Read a node's `labels` object (at the current path) into labels. */
static int read_labels(struct reader *r, const json_t *map, struct sched_label *labels,
                       uint32_t *n_labels)
{
    if (!json_is_object(map))
        return fail(r, -ALLOT_EINVAL, "expected an object of labels, found %s", type_name(map));
    size_t n = json_object_size(map), i = 0;
    if (n > SCHED_MAX_LABELS)
        return fail(r, -ALLOT_ERANGE, "%zu labels; at most %d are allowed", n, SCHED_MAX_LABELS);
    for (void *it = json_object_iter((json_t *)map); it;
         it = json_object_iter_next((json_t *)map, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it), mark = push_key(r, key, len);
        int rc = 0;
        if (len == 0 || len > SPEC_MAX_LABEL || has_control(key, len))
            rc = fail(r, -ALLOT_EINVAL,
                      "a label key has 1 to %d characters, none of them control characters",
                      SPEC_MAX_LABEL);
        if (rc == 0)
            rc = keep(r, key, len, &labels[i].key);
        if (rc == 0)
            rc = read_string(r, json_object_iter_value(it), SPEC_MAX_LABEL, &labels[i].value);
        if (rc == 0 && has_control(labels[i].value, strlen(labels[i].value)))
            rc = fail(r, -ALLOT_EINVAL, "a label value has no control characters");
        pop(r, mark);
        if (rc)
            return rc;
    }
    *n_labels = (uint32_t)n;
    return 0;
}

/* A copy of n elements of size bytes in the arena (NULL for n == 0). */
static int keep_array(struct reader *r, const void *src, size_t n, size_t size, const void **out)
{
    void *copy = NULL;
    if (n > 0) {
        copy = arena_alloc(r->arena, n * size);
        if (!copy)
            return fail(r, -ALLOT_ENOMEM, "out of memory");
        memcpy(copy, src, n * size);
    }
    *out = copy;
    return 0;
}

int spec_node_from_json(const json_t *j, struct arena *a, struct sched_node_spec *out,
                        struct spec_error *err)
{
    const char *state_names[SCHED_NODE_DOWN + 1];
    struct spec_error scratch;
    struct reader r;
    struct sched_gpu_spec gpus[SCHED_MAX_GPUS_PER_NODE];
    struct sched_label labels[SCHED_MAX_LABELS];
    struct sched_node_spec spec = {.state = SCHED_NODE_READY};
    int state = SCHED_NODE_READY;

    for (int st = 0; st <= SCHED_NODE_DOWN; st++)
        state_names[st] = sched_node_state_name((enum sched_node_state)st);
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, node_keys, node_nullable);
    if (rc == 0)
        rc = key_name(&r, j, "name", true, &spec.name);
    if (rc == 0)
        rc = key_name(&r, j, "cluster", true, &spec.cluster);
    if (rc == 0)
        rc = key_name(&r, j, "tenant", false, &spec.tenant);
    if (rc == 0)
        rc = key_quantity(&r, j, "cpu", true, SPEC_Q_CPU, &spec.cpu);
    if (rc == 0)
        rc = key_quantity(&r, j, "memory", true, SPEC_Q_BYTES, &spec.memory);
    if (rc == 0)
        rc = key_enum(&r, j, "state", false, state_names, SCHED_NODE_DOWN + 1, &state);
    if (rc)
        return rc;
    spec.state = (enum sched_node_state)state;

    const json_t *map = get(j, "labels");
    if (map) {
        size_t mark = push_key(&r, "labels", 6);
        rc = read_labels(&r, map, labels, &spec.n_labels);
        pop(&r, mark);
        if (rc)
            return rc;
    }
    const json_t *list = get(j, "gpus");
    if (list) {
        size_t mark = push_key(&r, "gpus", 4);
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (!json_is_array(list))
            rc = fail(&r, -ALLOT_EINVAL, "expected an array of GPUs, found %s", type_name(list));
        else if (n > SCHED_MAX_GPUS_PER_NODE)
            rc = fail(&r, -ALLOT_ERANGE, "%zu entries; a node has at most %d GPUs", n,
                      SCHED_MAX_GPUS_PER_NODE);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            size_t item = push_index(&r, k);
            rc = read_gpu(&r, json_array_get(list, k), gpus, &spec.n_gpus);
            pop(&r, item);
        }
        pop(&r, mark);
        if (rc)
            return rc;
    }
    const void *kept_gpus = NULL, *kept_labels = NULL;
    rc = keep_array(&r, gpus, spec.n_gpus, sizeof(gpus[0]), &kept_gpus);
    if (rc == 0)
        rc = keep_array(&r, labels, spec.n_labels, sizeof(labels[0]), &kept_labels);
    if (rc)
        return rc;
    spec.gpus = kept_gpus;
    spec.labels = kept_labels;
    *out = spec;
    return 0;
}

/* ---- workspaces ----------------------------------------------------------------------- */

/* Read a `limits` object (at the current path) into *limits: only the keys given change. */
static int read_limits(struct reader *r, const json_t *map, struct sched_resources *limits)
{
    int rc = check_object(r, map, limit_keys, NULL);
    for (int k = 0; rc == 0 && k < 4; k++) {
        const json_t *v = get(map, spec_limits[k].key);
        if (!v)
            continue;
        int64_t *field = (int64_t *)((char *)limits + spec_limits[k].offset);
        size_t mark = push_key(r, spec_limits[k].key, strlen(spec_limits[k].key));
        if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0 &&
            json_string_length(v) == 4)
            *field = SCHED_UNLIMITED;
        else
            rc = read_quantity(r, v, spec_limits[k].kind, field);
        pop(r, mark);
    }
    return rc;
}

/* Read the changeable fields of a workspace (reserved, limits, lend, weight) that j gives
 * into *spec, then check the reservation against the gpu limit. */
static int read_workspace_fields(struct reader *r, const json_t *j,
                                 struct sched_workspace_spec *spec)
{
    int64_t weight = spec->weight;
    int rc = 0;
    const json_t *reserved = get(j, "reserved");
    if (reserved) {
        size_t mark = push_key(r, "reserved", 8);
        rc = check_object(r, reserved, reserved_keys, NULL);
        if (rc == 0)
            rc = key_quantity(r, reserved, "gpu", true, SPEC_Q_GPU, &spec->reserved);
        pop(r, mark);
    }
    const json_t *limits = get(j, "limits");
    if (rc == 0 && limits) {
        size_t mark = push_key(r, "limits", 6);
        rc = read_limits(r, limits, &spec->limits);
        pop(r, mark);
    }
    if (rc == 0)
        rc = key_bool(r, j, "lend", &spec->lend);
    if (rc == 0)
        rc = key_int(r, j, "weight", 1, SPEC_MAX_WEIGHT, &weight);
    if (rc)
        return rc;
    spec->weight = (uint32_t)weight;
    if (spec->limits.gpu != SCHED_UNLIMITED && spec->reserved > spec->limits.gpu) {
        char res[48], lim[48];
        bool blame_reserved = reserved != NULL;
        size_t mark = blame_reserved ? push_key(r, "reserved", 8) : push_key(r, "limits", 6);
        push_key(r, "gpu", 3);
        rc = fail(r, -ALLOT_EINVAL, "the reservation of %s GPUs is above the gpu limit of %s",
                  quantity_format_gpu(spec->reserved, res, sizeof(res)),
                  quantity_format_gpu(spec->limits.gpu, lim, sizeof(lim)));
        pop(r, mark);
    }
    return rc;
}

int spec_workspace_from_json(const json_t *j, const char *default_tenant, struct arena *a,
                             struct sched_workspace_spec *out, struct spec_error *err)
{
    struct spec_error scratch;
    struct reader r;
    struct sched_workspace_spec spec = {
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 0,
        .lend = true,
        .weight = 1,
    };
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, workspace_keys, NULL);
    if (rc == 0) {
        const json_t *v = NULL;
        size_t mark;
        rc = enter(&r, j, "name", true, &v, &mark);
        if (rc == 0)
            rc = read_workspace_name(&r, v, default_tenant, &spec.name);
        pop(&r, mark);
    }
    if (rc == 0)
        rc = read_workspace_fields(&r, j, &spec);
    if (rc)
        return rc;
    *out = spec;
    return 0;
}

int spec_workspace_patch_from_json(const json_t *j, struct arena *a,
                                   struct sched_workspace_spec *inout, struct spec_error *err)
{
    struct spec_error scratch;
    struct reader r;
    struct sched_workspace_spec spec = *inout;
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, workspace_keys, NULL);
    const json_t *name = rc ? NULL : get(j, "name");
    if (name) {
        /* the name is the URL's; one that says otherwise is a rename, which is not offered */
        char q[SPEC_QUOTE + 4];
        const char *s = NULL;
        size_t n = 0, mark = push_key(&r, "name", 4);
        const char *slash = inout->name ? strchr(inout->name, '/') : NULL;
        const char *bare = slash ? slash + 1 : inout->name;
        rc = read_text(&r, name, SPEC_MAX_STRING, &s, &n);
        if (rc == 0 &&
            !(inout->name && strlen(inout->name) == n && memcmp(inout->name, s, n) == 0) &&
            !(bare && strlen(bare) == n && memcmp(bare, s, n) == 0))
            rc = fail(&r, -ALLOT_EINVAL,
                      "'%s' is not this workspace (%s); a workspace cannot be "
                      "renamed",
                      quoted(s, n, q), inout->name ? inout->name : "?");
        pop(&r, mark);
    }
    if (rc == 0)
        rc = read_workspace_fields(&r, j, &spec);
    if (rc)
        return rc;
    *inout = spec;
    return 0;
}

/* ---- workloads ------------------------------------------------------------------------ */

/* Read `gpus`: whole GPUs per replica. A fraction is refused with a pointer to mig, since the
 * engine shares a GPU only through MIG instances. */
static int read_whole_gpus(struct reader *r, const json_t *j, uint32_t *gpus)
{
    const json_t *v = NULL;
    size_t mark;
    int64_t units = 0;
    int rc = enter(r, j, "gpus", false, &v, &mark);
    if (rc == 0 && v)
        rc = read_quantity(r, v, SPEC_Q_GPU, &units);
    if (rc == 0 && v && units % QUANTITY_GPU_UNITS != 0) {
        char amount[48];
        rc = fail(r, -ALLOT_EINVAL,
                  "%s is not a whole number of GPUs; a fraction of a GPU is asked for with mig "
                  "and a MIG profile (e.g. \"mig\": \"3g.40gb\")",
                  quantity_format_gpu(units, amount, sizeof(amount)));
    }
    if (rc == 0 && v && units / QUANTITY_GPU_UNITS > SPEC_MAX_GPUS)
        rc = fail(r, -ALLOT_ERANGE, "at most %d GPUs per replica", SPEC_MAX_GPUS);
    pop(r, mark);
    if (rc == 0 && v)
        *gpus = (uint32_t)(units / QUANTITY_GPU_UNITS);
    return rc;
}

/* Read `mig`: one MIG profile per replica, by name; excludes gpus. */
static int read_mig(struct reader *r, const json_t *j, int *mig)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = enter(r, j, "mig", false, &v, &mark);
    if (rc == 0 && v)
        rc = read_text(r, v, SPEC_MAX_STRING, &s, &n);
    if (rc == 0 && v) {
        char q[SPEC_QUOTE + 4];
        int id = mig_name_id(s); /* s is NUL-terminated and has no NUL inside (read_text) */
        if (get(j, "gpus"))
            rc = fail(r, -ALLOT_EINVAL,
                      "gpus and mig exclude each other: a replica has whole "
                      "GPUs or one MIG instance");
        else if (id < 0)
            rc = fail(r, -ALLOT_EINVAL, "unknown MIG profile '%s'", quoted(s, n, q));
        else
            *mig = id;
    }
    pop(r, mark);
    return rc;
}

/* Read `command`: 1 to SPEC_MAX_COMMAND strings, the first not empty. */
static int read_command(struct reader *r, const json_t *j, struct spec_workload *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, j, "command", false, &v, &mark);
    if (rc == 0 && v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 0;
        const char **args = NULL;
        if (!json_is_array(v))
            rc = fail(r, -ALLOT_EINVAL, "expected an array of strings, found %s", type_name(v));
        else if (n < 1 || n > SPEC_MAX_COMMAND)
            rc =
                fail(r, -ALLOT_ERANGE, "%zu arguments; a command has 1 to %d", n, SPEC_MAX_COMMAND);
        else if (!(args = arena_alloc(r->arena, n * sizeof(*args))))
            rc = fail(r, -ALLOT_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t item = push_index(r, i);
            rc = read_string(r, json_array_get(v, i), SPEC_MAX_ARG, &args[i]);
            if (rc == 0 && i == 0 && !*args[0])
                rc = fail(r, -ALLOT_EINVAL, "the program to run is an empty string");
            pop(r, item);
        }
        if (rc == 0) {
            out->command = args;
            out->n_command = (uint32_t)n;
        }
    }
    pop(r, mark);
    return rc;
}

/* Whether s (n bytes) is an environment variable's name: [A-Za-z_][A-Za-z0-9_]*. */
static bool is_env_name(const char *s, size_t n)
{
    if (n == 0 || n > SPEC_MAX_ENV_NAME || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

/* Read `env`: an object of at most SPEC_MAX_ENV names to string values. */
static int read_env(struct reader *r, const json_t *j, struct spec_workload *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = enter(r, j, "env", false, &v, &mark);
    if (rc == 0 && v) {
        size_t n = json_is_object(v) ? json_object_size(v) : 0, i = 0;
        struct spec_env *env = NULL;
        if (!json_is_object(v))
            rc = fail(r, -ALLOT_EINVAL, "expected an object of strings, found %s", type_name(v));
        else if (n > SPEC_MAX_ENV)
            rc = fail(r, -ALLOT_ERANGE, "%zu variables; at most %d are allowed", n, SPEC_MAX_ENV);
        else if (n > 0 && !(env = arena_alloc(r->arena, n * sizeof(*env))))
            rc = fail(r, -ALLOT_ENOMEM, "out of memory");
        for (void *it = rc ? NULL : json_object_iter((json_t *)v); rc == 0 && it;
             it = json_object_iter_next((json_t *)v, it), i++) {
            const char *key = json_object_iter_key(it);
            size_t len = json_object_iter_key_len(it), item = push_key(r, key, len);
            if (!is_env_name(key, len))
                rc = fail(r, -ALLOT_EINVAL,
                          "not a variable name (1 to %d of A-Z, a-z, 0-9, '_', not starting "
                          "with a digit)",
                          SPEC_MAX_ENV_NAME);
            if (rc == 0)
                rc = keep(r, key, len, &env[i].name);
            if (rc == 0)
                rc = read_string(r, json_object_iter_value(it), SPEC_MAX_ENV_VALUE, &env[i].value);
            pop(r, item);
        }
        if (rc == 0) {
            out->env = env;
            out->n_env = (uint32_t)n;
        }
    }
    pop(r, mark);
    return rc;
}

/* Read `idempotency_key`: 1 to SPEC_MAX_IDEMPOTENCY printable ASCII characters. */
static int read_idempotency_key(struct reader *r, const json_t *j, const char **out)
{
    const json_t *v = NULL;
    const char *s = NULL;
    size_t n = 0, mark;
    int rc = enter(r, j, "idempotency_key", false, &v, &mark);
    if (rc == 0 && v)
        rc = read_text(r, v, SPEC_MAX_IDEMPOTENCY, &s, &n);
    if (rc == 0 && v) {
        bool printable = n > 0;
        for (size_t i = 0; i < n && printable; i++)
            printable = s[i] > ' ' && s[i] < 0x7f;
        rc = printable ? keep(r, s, n, out)
                       : fail(r, -ALLOT_EINVAL,
                              "an idempotency key has 1 to %d printable ASCII "
                              "characters without spaces",
                              SPEC_MAX_IDEMPOTENCY);
    }
    pop(r, mark);
    return rc;
}

int spec_workload_from_json(const json_t *j, struct arena *a, struct spec_workload *out,
                            struct spec_error *err)
{
    const char *kind_names[SCHED_KIND_COUNT];
    const char *model_names[GPU_MODEL_COUNT];
    struct spec_error scratch;
    struct reader r;
    struct spec_workload spec = {
        .w = {.kind = SCHED_KIND_TRAINING,
              .mig = -1,
              .model = -1,
              .replicas = 1,
              .preemptible = -1,
              .grace_ms = -1},
        .duration_ms = -1,
    };
    int kind = SCHED_KIND_TRAINING, model = -1;
    int64_t priority = 0, replicas = 1;
    bool preemptible = false;

    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        kind_names[k] = sched_kind_name((enum sched_kind)k);
    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    reader_init(&r, a, err ? err : &scratch);
    int rc = check_object(&r, j, workload_keys, NULL);
    if (rc == 0)
        rc = key_name(&r, j, "name", true, &spec.w.name);
    if (rc == 0) {
        const json_t *v = NULL;
        size_t mark;
        rc = enter(&r, j, "workspace", true, &v, &mark);
        if (rc == 0)
            rc = read_workspace_name(&r, v, NULL, &spec.w.workspace);
        pop(&r, mark);
    }
    if (rc == 0)
        rc = key_enum(&r, j, "kind", false, kind_names, SCHED_KIND_COUNT, &kind);
    if (rc == 0)
        rc = key_int(&r, j, "priority", -SPEC_MAX_PRIORITY, SPEC_MAX_PRIORITY, &priority);
    if (rc == 0)
        rc = read_whole_gpus(&r, j, &spec.w.gpus);
    if (rc == 0)
        rc = read_mig(&r, j, &spec.w.mig);
    if (rc == 0)
        rc = key_enum(&r, j, "model", false, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = key_int(&r, j, "replicas", 1, SCHED_MAX_REPLICAS, &replicas);
    if (rc == 0)
        rc = key_quantity(&r, j, "cpu", false, SPEC_Q_CPU, &spec.w.cpu);
    if (rc == 0)
        rc = key_quantity(&r, j, "memory", false, SPEC_Q_BYTES, &spec.w.memory);
    if (rc == 0)
        rc = key_quantity(&r, j, "storage", false, SPEC_Q_BYTES, &spec.w.storage);
    if (rc == 0)
        rc = key_bool(&r, j, "preemptible", &preemptible);
    if (rc == 0)
        rc = key_quantity(&r, j, "grace", false, SPEC_Q_DURATION, &spec.w.grace_ms);
    if (rc == 0)
        rc = read_command(&r, j, &spec);
    if (rc == 0)
        rc = read_env(&r, j, &spec);
    if (rc == 0)
        rc = key_quantity(&r, j, "duration", false, SPEC_Q_DURATION, &spec.duration_ms);
    if (rc == 0)
        rc = read_idempotency_key(&r, j, &spec.idempotency_key);
    if (rc)
        return rc;
    spec.w.kind = (enum sched_kind)kind;
    spec.w.has_priority = get(j, "priority") != NULL;
    spec.w.priority = (int32_t)priority;
    spec.w.model = model;
    spec.w.replicas = (uint32_t)replicas;
    if (get(j, "preemptible"))
        spec.w.preemptible = preemptible;
    *out = spec;
    return 0;
}

/* ---- views ---------------------------------------------------------------------------- */

/* Set key of o to v (taken). A NULL o or v, or a failed set, clears *ok. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) != 0) /* a NULL o: v is freed, -1 */
        *ok = false;
}

static void append(json_t *list, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(list, v) != 0)
        *ok = false;
}

/* o when everything went in, else NULL (and o is freed). */
static json_t *done(json_t *o, bool ok)
{
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

static json_t *gpu_json(int64_t units)
{
    char buf[48];
    return json_string(quantity_format_gpu(units, buf, sizeof(buf)));
}

static json_t *cpu_json(int64_t millicores)
{
    char buf[48];
    return json_string(quantity_format_cpu(millicores, buf, sizeof(buf)));
}

static json_t *bytes_json(int64_t bytes)
{
    char buf[48];
    return json_string(quantity_format_bytes(bytes, buf, sizeof(buf)));
}

static json_t *duration_json(int64_t ms)
{
    char buf[64];
    return json_string(quantity_format_duration(ms, buf, sizeof(buf)));
}

/* A limit in its unit, or "none". */
static json_t *limit_json(enum sched_resource which, int64_t v)
{
    if (v == SCHED_UNLIMITED)
        return json_string("none");
    return which == SCHED_RES_GPU   ? gpu_json(v)
           : which == SCHED_RES_CPU ? cpu_json(v)
                                    : bytes_json(v);
}

/* The name of workload id, or null for SCHED_NONE (or an id out of range). */
static json_t *holder_json(const struct sched *s, uint32_t id)
{
    return id < s->n_workloads ? json_string(s->workloads[id].name) : json_null();
}

json_t *spec_tenant_to_json(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_tenants)
        return NULL;
    const struct sched_tenant *t = &s->tenants[id];
    bool ok = true;
    json_t *o = json_object(), *gpus = json_object();
    put(o, "name", json_string(t->name), &ok);
    put(o, "isolation", json_string(isolation_names[t->isolation]), &ok);
    put(o, "max_grace", t->max_grace_ms > 0 ? duration_json(t->max_grace_ms) : json_null(), &ok);
    put(o, "nodes", json_integer(t->n_nodes), &ok);
    put(gpus, "owned", gpu_json(t->owned_units), &ok);
    put(gpus, "healthy", gpu_json(t->healthy_units), &ok);
    put(gpus, "free", gpu_json(t->free_units), &ok);
    put(gpus, "reserved", gpu_json(t->reserved_units), &ok);
    put(o, "gpus", gpus, &ok);
    put(o, "degraded", json_boolean(t->degraded), &ok);
    return done(o, ok);
}

json_t *spec_cluster_to_json(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_clusters)
        return NULL;
    const struct sched_cluster *c = &s->clusters[id];
    uint32_t nodes = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        nodes += s->nodes[i].cluster == id;
    bool ok = true;
    json_t *o = json_object();
    put(o, "name", json_string(c->name), &ok);
    put(o, "dedicated_to",
        c->dedicated_to < s->n_tenants ? json_string(s->tenants[c->dedicated_to].name)
                                       : json_null(),
        &ok);
    put(o, "nodes", json_integer(nodes), &ok);
    return done(o, ok);
}

/* One GPU of a node: {index, model, healthy, holder} or {index, model, healthy, mig: [...]}. */
static json_t *gpu_view(const struct sched *s, const struct sched_gpu *g, uint32_t index, bool *ok)
{
    const struct gpu_model_info *info = mig_model(g->model);
    json_t *o = json_object();
    put(o, "index", json_integer(index), ok);
    put(o, "model", json_string(info->name), ok);
    put(o, "healthy", json_boolean(g->healthy), ok);
    if (g->n_mig == 0) {
        put(o, "holder", holder_json(s, g->holder), ok);
        return o;
    }
    json_t *slots = json_array();
    for (int k = 0; k < g->n_mig; k++) {
        const struct sched_mig_slot *slot = &g->mig[k];
        json_t *x = json_object();
        put(x, "profile", json_string(info->profiles[slot->profile].name), ok);
        put(x, "start", json_integer(slot->start), ok);
        put(x, "holder", holder_json(s, slot->holder), ok);
        append(slots, x, ok);
    }
    put(o, "mig", slots, ok);
    return o;
}

json_t *spec_node_to_json(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_nodes)
        return NULL;
    const struct sched_node *n = &s->nodes[id];
    bool ok = true;
    json_t *o = json_object(), *labels = json_object(), *gpus = json_array();
    put(o, "name", json_string(n->name), &ok);
    put(o, "cluster", json_string(s->clusters[n->cluster].name), &ok);
    put(o, "tenant",
        n->tenant < s->n_tenants ? json_string(s->tenants[n->tenant].name) : json_null(), &ok);
    put(o, "state", json_string(sched_node_state_name(n->state)), &ok);
    if (n->moving_to != SCHED_NONE) { /* a move under way: to whom, and what it waits for */
        json_t *move = json_object();
        put(move, "to",
            n->moving_to < s->n_tenants ? json_string(s->tenants[n->moving_to].name) : json_null(),
            &ok);
        put(move, "waits_for",
            json_string(sched_node_serving(s, id) != n->tenant ? "wipe" : "drain"), &ok);
        put(o, "moving", move, &ok);
    }
    put(o, "cpu", cpu_json(n->cpu), &ok);
    put(o, "memory", bytes_json(n->memory), &ok);
    put(o, "cpu_used", cpu_json(n->cpu_used), &ok);
    put(o, "memory_used", bytes_json(n->memory_used), &ok);
    for (uint32_t i = 0; i < n->n_labels; i++)
        put(labels, n->labels[i].key, json_string(n->labels[i].value), &ok);
    put(o, "labels", labels, &ok);
    for (uint32_t i = 0; i < n->n_gpus; i++)
        append(gpus, gpu_view(s, &n->gpus[i], i, &ok), &ok);
    put(o, "gpus", gpus, &ok);
    return done(o, ok);
}

json_t *spec_workspace_to_json(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_workspaces)
        return NULL;
    const struct sched_workspace *ws = &s->workspaces[id];
    int64_t position = quota_position(ws);
    int64_t guaranteed = position < ws->reserved ? position : ws->reserved;
    int64_t borrowed = position > ws->reserved ? position - ws->reserved : 0;
    bool ok = true;
    json_t *o = json_object(), *reserved = json_object(), *limits = json_object();
    json_t *usage = json_object();
    put(o, "name", json_string(ws->name), &ok);
    put(o, "tenant", json_string(s->tenants[ws->tenant].name), &ok);
    put(reserved, "gpu", gpu_json(ws->reserved), &ok);
    put(o, "reserved", reserved, &ok);
    for (int k = 0; k < 4; k++)
        put(limits, spec_limits[k].key,
            limit_json((enum sched_resource)k, quota_get(&ws->limits, (enum sched_resource)k)),
            &ok);
    put(o, "limits", limits, &ok);
    put(o, "lend", json_boolean(ws->lend), &ok);
    put(o, "weight", json_integer(ws->weight), &ok);
    put(usage, "gpu_held", gpu_json(ws->held.gpu), &ok);
    put(usage, "gpu_guaranteed", gpu_json(guaranteed > 0 ? guaranteed : 0), &ok);
    put(usage, "gpu_borrowed", gpu_json(borrowed), &ok);
    put(usage, "cpu", cpu_json(ws->held.cpu), &ok);
    put(usage, "memory", bytes_json(ws->held.memory), &ok);
    put(usage, "storage", bytes_json(ws->held.storage), &ok);
    put(usage, "pending", json_integer(ws->n_pending), &ok);
    put(o, "usage", usage, &ok);
    return done(o, ok);
}

json_t *spec_workload_to_json(const struct sched *s, uint32_t id)
{
    if (!s || id >= s->n_workloads)
        return NULL;
    const struct sched_workload *w = &s->workloads[id];
    bool known = w->workspace < s->n_workspaces &&
                 !(w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE);
    bool placed =
        w->state == SCHED_RECLAIMING || w->state == SCHED_RUNNING || w->state == SCHED_DRAINING;
    bool has_reason =
        w->reason != SCHED_REASON_NONE && w->state != SCHED_RUNNING && w->state != SCHED_FINISHED;
    /* start_ms is kept when a workload is requeued, and is 0 until it first runs */
    bool started = w->state == SCHED_RUNNING || w->state == SCHED_DRAINING || w->start_ms != 0;
    bool ok = true;
    json_t *o = json_object();
    put(o, "name", json_string(w->name), &ok);
    put(o, "workspace", known ? json_string(s->workspaces[w->workspace].name) : json_null(), &ok);
    put(o, "tenant", known ? json_string(s->tenants[w->tenant].name) : json_null(), &ok);
    put(o, "kind", json_string(sched_kind_name(w->kind)), &ok);
    put(o, "priority", json_integer(w->priority), &ok);
    put(o, "preemptible", json_boolean(w->preemptible), &ok);
    if (w->mig >= 0)
        put(o, "mig", json_string(mig_name(w->mig)), &ok);
    else
        put(o, "gpus", json_integer(w->gpus), &ok);
    if (w->model >= 0 && w->model < GPU_MODEL_COUNT)
        put(o, "model", json_string(mig_model((enum gpu_model)w->model)->name), &ok);
    put(o, "replicas", json_integer(w->replicas), &ok);
    put(o, "cpu", cpu_json(w->cpu), &ok);
    put(o, "memory", bytes_json(w->memory), &ok);
    put(o, "storage", bytes_json(w->storage), &ok);
    put(o, "grace", duration_json(w->grace_ms), &ok);
    put(o, "state", json_string(sched_state_name(w->state)), &ok);
    if (has_reason) {
        put(o, "reason", json_string(reason_name(w->reason)), &ok);
        put(o, "reason_text", json_string(reason_text(w->reason)), &ok);
    }
    put(o, "borrowed", json_boolean(w->borrowed), &ok);
    put(o, "submitted", json_integer(w->submit_ms), &ok);
    put(o, "started", started ? json_integer(w->start_ms) : json_null(), &ok);
    if (placed)
        put(o, "placement", view_placement(s, w), &ok); /* the `admitted` event's format */
    return done(o, ok);
}
