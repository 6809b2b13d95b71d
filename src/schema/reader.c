/* The typed readers every schema reader is made of: a field path that grows as a reader
 * descends, refusals that name the field, and checks of names, numbers, quantities, enums and
 * the shape of a whole document (reader.h). */
#include "schema/reader.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"
#include "common/quantity.h"
#include "sched/sched.h"
#include "schema/source.h"

static int parse_gpu(const char *s, int64_t *units);

static const struct {
    int (*parse)(const char *s, int64_t *out);
    const char *what;
    const char *examples;
    const char *range; /* what -ALLOT_ERANGE from the parser means */
} reader_quantities[] = {
    [READER_DURATION] = {quantity_parse_duration, "a duration", "30s, 10m, 1h30m, or seconds",
                         "too large, or finer than a millisecond"},
    [READER_BYTES] = {quantity_parse_bytes, "an amount of bytes", "512Mi, 64Gi, 1Ti, or bytes",
                      "too large, or not a whole number of bytes"},
    [READER_CPU] = {quantity_parse_cpu, "a number of CPUs", "16, 0.5, \"500m\"",
                    "too large, or finer than a millicore"},
    [READER_GPU] = {parse_gpu, "a number of GPUs", "4, 0.5, \"3/7\"",
                    "too large, or not a multiple of 1/840 GPU"},
};

static const char *const type_names[] = {
    [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array",     [JSON_STRING] = "a string",
    [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real number", [JSON_TRUE] = "a boolean",
    [JSON_FALSE] = "a boolean",    [JSON_NULL] = "null",
};

/* ---- names ---------------------------------------------------------------------------- */

bool reader_is_name(const char *s, size_t n)
{
    return name_is_valid(s, n, SCHEMA_MAX_NAME);
}

bool reader_is_workspace_name(const char *s)
{
    const char *slash = s ? strchr(s, '/') : NULL;
    return slash && reader_is_name(s, (size_t)(slash - s)) &&
           reader_is_name(slash + 1, strlen(slash + 1));
}

/* ---- field paths and refusals --------------------------------------------------------- */

/* Start reading with an empty path; err is cleared. Cannot fail. */
void reader_init(struct reader *r, struct arena *a, struct schema_error *err)
{
    r->arena = a;
    r->err = err ? err : &r->scratch;
    err = r->err;
    r->source = NULL;
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

/* Append ".key" ("key" at the top, nothing for an empty key; n bytes, at most READER_PATH_KEY
 * shown). RET a mark for pop, which restores the path as it was. */
size_t reader_push_key(struct reader *r, const char *key, size_t n)
{
    size_t mark = r->field_len;
    if (mark > 0 && n > 0)
        path_append(r, ".", 1);
    path_append(r, key, n < READER_PATH_KEY ? n : READER_PATH_KEY);
    return mark;
}

size_t reader_push_index(struct reader *r, size_t index)
{
    char text[32];
    size_t mark = r->field_len;
    int n = snprintf(text, sizeof(text), "[%zu]", index);
    path_append(r, text, (size_t)n);
    return mark;
}

void reader_pop(struct reader *r, size_t mark)
{
    r->field_len = mark;
    r->field[mark] = '\0';
}

/* Refuse the field at the current path: fill r->err and RET rc, so that callers may write
 * `return reader_fail(...)`. */
int reader_fail(struct reader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->message, sizeof(r->err->message), fmt, ap);
    va_end(ap);
    memcpy(r->err->field, r->field, r->field_len + 1);
    r->err->code = rc;
    return rc;
}

/* User text s (n bytes) fit for a message: at most READER_QUOTE bytes, unprintable bytes
 * replaced by '?', "..." when cut. RET buf. */
const char *reader_quote(const char *s, size_t n, char buf[READER_QUOTE + 4])
{
    size_t k = 0;
    for (; k < n && k < READER_QUOTE; k++) {
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
const char *reader_join(const char *const *names, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; (n < 0 ? names[i] != NULL : i < n) && used < len; i++) {
        int k = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    return buf;
}

const char *reader_type_name(const struct reader *r, const json_t *v)
{
    bool b;
    if (r && json_is_string(v) && source_bool(r->source, v, &b))
        return type_names[JSON_TRUE];
    return v ? type_names[json_typeof(v)] : "nothing";
}

/* ---- typed readers of one value, at the current path ---------------------------------- */

/* Check that v is an object whose keys are all in keys (NULL-terminated), and whose values
 * are not null unless their key is in nullable (NULL-terminated, or NULL for none): a null
 * would otherwise pass for a value left out ("gpus": null as 0). */
/* Index of key (n bytes) in the NULL-terminated names (NULL: none), or -1. */
static int key_index(const char *const *names, const char *key, size_t n)
{
    for (int i = 0; names && names[i]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], key, n) == 0)
            return i;
    return -1;
}

/* The first of names that key (n bytes) is a prefix of, or the other way round: likely the
 * key it is a typo of ("gpu" for "gpus"); NULL when none or key is short. */
static const char *key_near(const char *const *names, const char *key, size_t n)
{
    for (size_t i = 0; names && names[i] && n >= 3; i++) {
        size_t k = strlen(names[i]);
        if (memcmp(names[i], key, k < n ? k : n) == 0)
            return names[i];
    }
    return NULL;
}

int reader_object_with(struct reader *r, const json_t *v, const char *const *keys,
                       const char *const *extra, const char *const *nullable)
{
    if (!json_is_object(v))
        return reader_fail(r, -ALLOT_EINVAL, "expected an object, found %s",
                           reader_type_name(r, v));
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        const char *key = json_object_iter_key(it);
        size_t n = json_object_iter_key_len(it), mark;
        bool known = key_index(keys, key, n) >= 0 || key_index(extra, key, n) >= 0;
        int rc = 0;
        if (known && json_is_null(json_object_iter_value(it)) && key_index(nullable, key, n) < 0) {
            mark = reader_push_key(r, key, n);
            rc = reader_fail(r, -ALLOT_EINVAL, "null is not a value of this field; leave it out");
            reader_pop(r, mark);
            return rc;
        }
        if (known)
            continue;
        const char *near = key_near(keys, key, n);
        near = near ? near : key_near(extra, key, n);
        char expected[512], more[256];
        mark = reader_push_key(r, key, n);
        if (near)
            rc = reader_fail(r, -ALLOT_EINVAL, "unknown field; did you mean %s?", near);
        else
            rc = reader_fail(r, -ALLOT_EINVAL, "unknown field (expected one of: %s%s%s)",
                             reader_join(keys, -1, expected, sizeof(expected)),
                             extra && extra[0] ? ", " : "",
                             extra ? reader_join(extra, -1, more, sizeof(more)) : "");
        reader_pop(r, mark);
        return rc;
    }
    return 0;
}

int reader_object(struct reader *r, const json_t *v, const char *const *keys,
                  const char *const *nullable)
{
    return reader_object_with(r, v, keys, NULL, nullable);
}

int reader_check_fields(const json_t *j, const char *const *keys, const char *const *nullable,
                        struct schema_error *err)
{
    struct reader r;
    reader_init(&r, NULL, err);
    return reader_object(&r, j, keys, nullable);
}

/* The value of key in obj, or NULL when absent or null (check_object has refused a null
 * where it is not a value of the field). */
const json_t *reader_get(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

/* Check that v is a string of at most max bytes without NUL. OUT *s (into the document) and
 * *n, its length. */
/* The text a YAML plain scalar that was typed a number or a boolean was written as (a plain
 * boolean is kept as its text, source.h); NULL for anything else (and for JSON, which has no
 * plain scalars). Asking remembers it as read as text. */
static const char *plain_text(const struct reader *r, const json_t *v)
{
    return json_is_number(v) || json_is_string(v) ? source_text(r->source, v) : NULL;
}

int reader_text(struct reader *r, const json_t *v, size_t max, const char **s, size_t *n)
{
    const char *plain = plain_text(r, v);
    if (!json_is_string(v) && !plain)
        return reader_fail(r, -ALLOT_EINVAL, "expected a string, found %s", reader_type_name(r, v));
    const char *text = plain ? plain : json_string_value(v);
    size_t len = plain ? strlen(plain) : json_string_length(v);
    if (memchr(text, '\0', len))
        return reader_fail(r, -ALLOT_EINVAL, "contains a NUL character");
    if (len > max)
        return reader_fail(r, -ALLOT_EINVAL, "%zu bytes long; at most %zu are allowed", len, max);
    *s = text;
    *n = len;
    return 0;
}

/* A copy of s (n bytes) in the arena. */
int reader_keep(struct reader *r, const char *s, size_t n, const char **out)
{
    char *copy = arena_strndup(r->arena, s, n);
    if (!copy)
        return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    *out = copy;
    return 0;
}

/* A string of at most max bytes, copied into the arena. */
int reader_string(struct reader *r, const json_t *v, size_t max, const char **out)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = reader_text(r, v, max, &s, &n);
    return rc ? rc : reader_keep(r, s, n, out);
}

int reader_name(struct reader *r, const json_t *v, const char **out)
{
    char q[READER_QUOTE + 4];
    const char *s = NULL;
    size_t n = 0;
    int rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &n);
    if (rc)
        return rc;
    if (!reader_is_name(s, n))
        return reader_fail(
            r, -ALLOT_EINVAL,
            "'%s' is not a valid name (1 to %d of a-z, 0-9, '-', '_', '.', starting with "
            "a letter or digit)",
            reader_quote(s, n, q), SCHEMA_MAX_NAME);
    return reader_keep(r, s, n, out);
}

/* A workspace's name: "tenant/workspace", or with default_tenant the bare workspace name (a
 * full name must then be in default_tenant). OUT *out, the full name in the arena. */
int reader_workspace_name(struct reader *r, const json_t *v, const char *default_tenant,
                          const char **out)
{
    char q[READER_QUOTE + 4];
    const char *s = NULL;
    size_t n = 0;
    int rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &n);
    if (rc)
        return rc;
    const char *slash = memchr(s, '/', n);
    if (!slash && default_tenant && reader_is_name(s, n)) {
        size_t t = strlen(default_tenant);
        char *full = arena_alloc(r->arena, t + 1 + n + 1);
        if (!full)
            return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
        memcpy(full, default_tenant, t);
        full[t] = '/';
        memcpy(full + t + 1, s, n);
        full[t + 1 + n] = '\0';
        *out = full;
        return 0;
    }
    if (!slash || !reader_is_name(s, (size_t)(slash - s)) ||
        !reader_is_name(slash + 1, n - (size_t)(slash + 1 - s)))
        return reader_fail(
            r, -ALLOT_EINVAL,
            "'%s' is not a workspace name (tenant/workspace, each a name of 1 to %d of "
            "a-z, 0-9, '-', '_', '.')",
            reader_quote(s, n, q), SCHEMA_MAX_NAME);
    if (default_tenant && (strlen(default_tenant) != (size_t)(slash - s) ||
                           memcmp(default_tenant, s, (size_t)(slash - s)) != 0))
        return reader_fail(r, -ALLOT_EINVAL, "workspace '%s' is not in tenant '%s'",
                           reader_quote(s, n, q), default_tenant);
    return reader_keep(r, s, n, out);
}

/* What v is, for "expected ..., found %s": a string is quoted ('yes'), else its type. */
static const char *found(const struct reader *r, const json_t *v, char buf[READER_QUOTE + 8])
{
    char q[READER_QUOTE + 4];
    bool b;
    if (!json_is_string(v) || source_bool(r->source, v, &b))
        return reader_type_name(r, v);
    snprintf(buf, READER_QUOTE + 8, "'%s'",
             reader_quote(json_string_value(v), json_string_length(v), q));
    return buf;
}

int reader_bool(struct reader *r, const json_t *v, bool *out)
{
    char what[READER_QUOTE + 8];
    if (json_is_string(v) && source_bool(r->source, v, out))
        return 0; /* a YAML plain boolean */
    if (!json_is_boolean(v))
        return reader_fail(r, -ALLOT_EINVAL, "expected true or false, found %s", found(r, v, what));
    *out = json_is_true(v);
    return 0;
}

/* A JSON integer between min and max. */
int reader_int(struct reader *r, const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    char what[READER_QUOTE + 8];
    if (!json_is_integer(v))
        return reader_fail(r, -ALLOT_EINVAL, "expected an integer, found %s", found(r, v, what));
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return reader_fail(r, -ALLOT_ERANGE,
                           "%" JSON_INTEGER_FORMAT " is out of range (%" PRId64 " to %" PRId64 ")",
                           i, min, max);
    *out = (int64_t)i;
    return 0;
}

/* One of n names; OUT *out, its index. */
int reader_enum(struct reader *r, const json_t *v, const char *const *names, int n, int *out)
{
    char q[READER_QUOTE + 4], expected[256];
    const char *s = NULL;
    size_t len = 0;
    int rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &len);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            *out = i;
            return 0;
        }
    }
    return reader_fail(r, -ALLOT_EINVAL, "unknown value '%s' (expected one of: %s)",
                       reader_quote(s, len, q), reader_join(names, n, expected, sizeof(expected)));
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
static int number_text(struct reader *r, const json_t *v, enum reader_quantity kind, char *buf,
                       size_t len)
{
    const char *what = reader_quantities[kind].what;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return reader_fail(r, -ALLOT_ERANGE,
                               "%" JSON_INTEGER_FORMAT " is negative (expected %s, 0 or more)", i,
                               what);
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, i);
        return 0;
    }
    double d = json_real_value(v) + 0.0; /* + 0.0: -0.0 becomes 0.0 */
    if (!isfinite(d))
        return reader_fail(r, -ALLOT_ERANGE, "not a finite number (expected %s)", what);
    if (d < 0)
        return reader_fail(r, -ALLOT_ERANGE, "%g is negative (expected %s, 0 or more)", d, what);
    if (d >= 1e18)
        return reader_fail(r, -ALLOT_ERANGE, "%g is out of range for %s", d, what);
    snprintf(buf, len, "%.6f", d);
    char *end = buf + strlen(buf);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        *--end = '\0';
    if (strtod(buf, NULL) != d)
        return reader_fail(
            r, -ALLOT_EINVAL,
            "%.17g has more than 6 decimal places; write it as a string (e.g. \"3/7\")", d);
    return 0;
}

/* A quantity of the given kind: a JSON number (seconds for a duration, bytes for an amount of
 * bytes) or a string in the YAML schema's format ("30s", "64Gi", "500m", "3/7"). */
int reader_quantity(struct reader *r, const json_t *v, enum reader_quantity kind, int64_t *out)
{
    char num[64], q[READER_QUOTE + 4];
    const char *s = num;
    size_t n = 0;
    int rc;
    if (json_is_number(v) && !plain_text(r, v))
        rc = number_text(r, v, kind, num, sizeof(num));
    else if (json_is_string(v) || plain_text(r, v))
        rc = reader_text(r, v, SCHEMA_MAX_STRING, &s, &n);
    else
        return reader_fail(
            r, -ALLOT_EINVAL, "expected %s (a number or a string, e.g. %s), found %s",
            reader_quantities[kind].what, reader_quantities[kind].examples, reader_type_name(r, v));
    if (rc)
        return rc;
    if (s == num)
        n = strlen(num);
    rc = reader_quantities[kind].parse(s, out);
    if (rc == 0)
        return 0;
    reader_quote(s, n, q);
    if (s[strspn(s, " \t")] == '-')
        return reader_fail(r, -ALLOT_ERANGE, "'%s' is negative (expected %s, 0 or more)", q,
                           reader_quantities[kind].what);
    if (rc == -ALLOT_ERANGE)
        return reader_fail(r, -ALLOT_ERANGE, "'%s' is out of range for %s (%s)", q,
                           reader_quantities[kind].what, reader_quantities[kind].range);
    return reader_fail(r, -ALLOT_EINVAL, "'%s' is not %s (examples: %s)", q,
                       reader_quantities[kind].what, reader_quantities[kind].examples);
}

/* ---- readers of the value of one key -------------------------------------------------- */

/* Push key and find its value. OUT *value (NULL when absent), *mark for pop, which the
 * caller always calls. RET 0, or an error when the key is required and absent. */
int reader_array(struct reader *r, const json_t *v, size_t max, const char *what, size_t *n)
{
    if (!json_is_array(v))
        return reader_fail(r, -ALLOT_EINVAL, "expected an array of %s, found %s", what,
                           reader_type_name(r, v));
    if (json_array_size(v) > max)
        return reader_fail(r, -ALLOT_ERANGE, "%zu entries; at most %zu %s are allowed",
                           json_array_size(v), max, what);
    *n = json_array_size(v);
    return 0;
}

int reader_enter(struct reader *r, const json_t *obj, const char *key, bool required,
                 const json_t **value, size_t *mark)
{
    *value = reader_get(obj, key);
    *mark = reader_push_key(r, key, strlen(key));
    if (!*value && required)
        return reader_fail(r, -ALLOT_EINVAL, "required, but not given");
    return 0;
}

/* Each reads the value of key in obj with key pushed onto the path. An absent (or null) key
 * leaves *out as it was and returns 0, unless required. */
int reader_key_name(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char **out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = reader_name(r, v, out);
    reader_pop(r, mark);
    return rc;
}

int reader_key_bool(struct reader *r, const json_t *obj, const char *key, bool *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_bool(r, v, out);
    reader_pop(r, mark);
    return rc;
}

int reader_key_int(struct reader *r, const json_t *obj, const char *key, int64_t min, int64_t max,
                   int64_t *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_int(r, v, min, max, out);
    reader_pop(r, mark);
    return rc;
}

int reader_key_quantity(struct reader *r, const json_t *obj, const char *key, bool required,
                        enum reader_quantity kind, int64_t *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = reader_quantity(r, v, kind, out);
    reader_pop(r, mark);
    return rc;
}

int reader_key_enum(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char *const *names, int n, int *out)
{
    const json_t *v = NULL;
    size_t mark;
    int rc = reader_enter(r, obj, key, required, &v, &mark);
    if (rc == 0 && v)
        rc = reader_enum(r, v, names, n, out);
    reader_pop(r, mark);
    return rc;
}

int reader_key_time_limit(struct reader *r, const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = NULL;
    size_t mark;
    int64_t ms = 0;
    int rc = reader_enter(r, obj, key, false, &v, &mark);
    if (rc == 0 && v)
        rc = reader_quantity(r, v, READER_DURATION, &ms);
    if (rc == 0 && v && (ms <= 0 || ms > SCHED_MAX_TIME_LIMIT_MS))
        rc = reader_fail(r, -ALLOT_ERANGE, "a time limit is above 0 and at most 365 days");
    reader_pop(r, mark);
    if (rc == 0 && (v || json_is_null(json_object_get(obj, key))))
        *out = v ? ms : 0;
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
        return reader_fail(&b->r, -ALLOT_ERANGE,
                           "nested deeper than %d levels of arrays and objects", b->max_depth);
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    if (n > b->max_items - b->items)
        return reader_fail(&b->r, -ALLOT_ERANGE,
                           "holds %zu entries; the body may hold at most %zu values", n,
                           b->max_items);
    b->items += n;
    int rc = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t mark = reader_push_index(&b->r, i);
            rc = bounds_walk(b, json_array_get(v, i), depth + 1);
            reader_pop(&b->r, mark);
        }
        return rc;
    }
    for (void *it = json_object_iter((json_t *)v); rc == 0 && it;
         it = json_object_iter_next((json_t *)v, it)) {
        size_t mark =
            reader_push_key(&b->r, json_object_iter_key(it), json_object_iter_key_len(it));
        rc = bounds_walk(b, json_object_iter_value(it), depth + 1);
        reader_pop(&b->r, mark);
    }
    return rc;
}

int reader_check_bounds(const json_t *j, int max_depth, size_t max_items, struct schema_error *err)
{
    struct bounds b = {.max_depth = max_depth, .max_items = max_items, .items = 1};
    reader_init(&b.r, NULL, err);
    if (!j)
        return reader_fail(&b.r, -ALLOT_EINVAL, "no document");
    if (max_items < 1)
        return reader_fail(&b.r, -ALLOT_ERANGE, "the body may hold no values");
    return bounds_walk(&b, j, 1);
}
