/* Reading YAML documents for the config loaders: a bounded event pre-scan, libyaml's loader
 * for the node tree (every node keeps its line), and typed readers that name the field. */
#include "config/ydoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"
#include "common/quantity.h"

/* Longest user text quoted in a message. */
#define YDOC_QUOTE 64

/* Line (1-based) of byte offset in text, for reader errors, which carry no mark. */
static int ydoc_line_at(const unsigned char *text, size_t n, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < n; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

/* Describe the parser's error in err. RET -ALLOT_ENOMEM or -ALLOT_ECONFIG. */
static int ydoc_syntax_error(const yaml_parser_t *parser, const char *path,
                             const unsigned char *text, size_t n, char *err, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        snprintf(err, len, "%s: out of memory while parsing YAML", path);
        return -ALLOT_ENOMEM;
    }
    int line = parser->error == YAML_READER_ERROR ? ydoc_line_at(text, n, parser->problem_offset)
                                                  : (int)parser->problem_mark.line + 1;
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    if (parser->context)
        snprintf(err, len, "%s:%d: syntax error: %s (%s at line %d)", path, line, problem,
                 parser->context, (int)parser->context_mark.line + 1);
    else
        snprintf(err, len, "%s:%d: syntax error: %s", path, line, problem);
    return -ALLOT_ECONFIG;
}

/* Walk the event stream once without building anything, so that a document too deep, too
 * large or holding more than one document is refused before libyaml builds its tree (whose
 * size is not otherwise bounded by the file size: "[1,1,1,...]" is two bytes a node). */
static int ydoc_scan(const char *path, const unsigned char *text, size_t n, int max_depth,
                     char *err, size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    int rc = 0, depth = 0, documents = 0;
    size_t nodes = 0;

    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, len, "%s: out of memory while parsing YAML", path);
        return -ALLOT_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, text, n);
    for (;;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = ydoc_syntax_error(&parser, path, text, n, err, len);
            goto out;
        }
        yaml_event_type_t type = event.type;
        int line = (int)event.start_mark.line + 1;
        yaml_event_delete(&event);
        switch (type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                snprintf(err, len, "%s:%d: document: only one YAML document is allowed", path,
                         line);
                rc = -ALLOT_ECONFIG;
                goto out;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > max_depth) {
                snprintf(err, len, "%s:%d: document: nested deeper than %d levels", path, line,
                         max_depth);
                rc = -ALLOT_ECONFIG;
                goto out;
            }
            /* a collection is a node too */
            /* fall through */
        case YAML_SCALAR_EVENT:
        case YAML_ALIAS_EVENT:
            if (++nodes > YDOC_MAX_NODES) {
                snprintf(err, len, "%s:%d: document: more than %d YAML nodes", path, line,
                         YDOC_MAX_NODES);
                rc = -ALLOT_ECONFIG;
                goto out;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            goto out;
        default:
            break;
        }
    }
out:
    yaml_parser_delete(&parser);
    return rc;
}

int ydoc_parse(const char *path, const unsigned char *text, size_t n, int max_depth,
               yaml_document_t *doc, char *err, size_t len)
{
    static const unsigned char empty[1] = {0};
    yaml_parser_t parser;
    int rc;

    if (!text)
        text = empty; /* libyaml insists on a buffer even for no bytes */
    rc = ydoc_scan(path, text, n, max_depth, err, len);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, len, "%s: out of memory while parsing YAML", path);
        return -ALLOT_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, text, n);
    if (!yaml_parser_load(&parser, doc))
        rc = ydoc_syntax_error(&parser, path, text, n, err, len);
    yaml_parser_delete(&parser);
    return rc;
}

int ydoc_load(const char *path, size_t max_bytes, int max_depth, yaml_document_t *doc, char *err,
              size_t len)
{
    unsigned char *text = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");

    if (!f) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        return -ALLOT_EIO;
    }
    /* Read at most max_bytes + 1 bytes: one more than allowed tells a file too large. */
    for (;;) {
        if (n == cap) {
            size_t want = cap ? cap * 2 : 64 * 1024;
            if (want > max_bytes + 1)
                want = max_bytes + 1;
            unsigned char *grown = realloc(text, want);
            if (!grown) {
                snprintf(err, len, "%s: out of memory reading the file", path);
                rc = -ALLOT_ENOMEM;
                goto out;
            }
            text = grown;
            cap = want;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (n > max_bytes) {
            snprintf(err, len, "%s: larger than %zu bytes", path, max_bytes);
            rc = -ALLOT_ECONFIG;
            goto out;
        }
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, len, "%s: %s", path, strerror(errno));
                rc = -ALLOT_EIO;
                goto out;
            }
            break;
        }
    }
    rc = ydoc_parse(path, text, n, max_depth, doc, err, len);
out:
    free(text);
    fclose(f);
    return rc;
}

void ydoc_init(struct ydoc *y, yaml_document_t *doc, const char *path, char *err, size_t len)
{
    y->doc = doc;
    y->path = path;
    y->err = err;
    y->len = len;
    y->field_len = 0;
    y->field[0] = '\0';
}

/* Append text to the field path, cutting it at YDOC_FIELD_MAX. */
static size_t ydoc_append(struct ydoc *y, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t ydoc_append(struct ydoc *y, const char *fmt, ...)
{
    size_t mark = y->field_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(y->field + mark, sizeof(y->field) - mark, fmt, ap);
    va_end(ap);
    if (n > 0)
        y->field_len =
            mark + (size_t)n < sizeof(y->field) ? mark + (size_t)n : sizeof(y->field) - 1;
    return mark;
}

size_t ydoc_push(struct ydoc *y, const char *key)
{
    return ydoc_append(y, "%s%s", y->field_len ? "." : "", key);
}

size_t ydoc_push_index(struct ydoc *y, size_t index)
{
    return ydoc_append(y, "[%zu]", index);
}

void ydoc_pop(struct ydoc *y, size_t mark)
{
    if (mark < y->field_len) {
        y->field_len = mark;
        y->field[mark] = '\0';
    }
}

int ydoc_line(const yaml_node_t *node)
{
    return node ? (int)node->start_mark.line + 1 : 1;
}

int ydoc_fail(struct ydoc *y, const yaml_node_t *node, int rc, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(y->err, y->len, "%s:%d: %s: %s", y->path, ydoc_line(node),
             y->field_len ? y->field : "document", message);
    return rc;
}

yaml_node_t *ydoc_root(struct ydoc *y)
{
    return yaml_document_get_root_node(y->doc);
}

bool ydoc_is_null(const yaml_node_t *node)
{
    if (!node || node->type != YAML_SCALAR_NODE ||
        node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)node->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* "a map", "a list", ... for type mismatch messages. */
static const char *ydoc_kind(const yaml_node_t *node)
{
    if (!node)
        return "nothing";
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a map";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return ydoc_is_null(node) ? "null" : "a scalar";
    default:
        return "nothing";
    }
}

/* Index of s in the NULL-terminated names, or -1. */
static int ydoc_find(const char *const *names, const char *s)
{
    for (int i = 0; names && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* names joined by ", " into buf. */
static void ydoc_join(char *buf, size_t len, const char *const *names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; (n < 0 || i < n) && names[i] && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int ydoc_map(struct ydoc *y, yaml_node_t *node, const char *const *keys, const char *const *extra)
{
    uint64_t seen = 0;
    int n_keys = 0;

    if (!node || node->type != YAML_MAPPING_NODE)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "expected a map, found %s", ydoc_kind(node));
    while (keys && keys[n_keys])
        n_keys++;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(y->doc, pair->key);
        if (!key || key->type != YAML_SCALAR_NODE)
            return ydoc_fail(y, key, -ALLOT_ECONFIG, "found %s as a key; keys are strings",
                             ydoc_kind(key));
        if (!keys)
            continue;
        const char *name = (const char *)key->data.scalar.value;
        int index = -1;
        if (strlen(name) == key->data.scalar.length) {
            index = ydoc_find(keys, name);
            if (index < 0 && (index = ydoc_find(extra, name)) >= 0)
                index += n_keys;
        }
        size_t mark = ydoc_push(y, name);
        int rc = 0;
        if (index < 0) {
            char expected[256];
            ydoc_join(expected, sizeof(expected), keys, -1);
            if (extra && extra[0]) {
                size_t used = strlen(expected);
                snprintf(expected + used, sizeof(expected) - used, ", ");
                used = strlen(expected);
                ydoc_join(expected + used, sizeof(expected) - used, extra, -1);
            }
            rc = ydoc_fail(y, key, -ALLOT_ECONFIG, "unknown key (expected one of: %s)", expected);
        } else if (index < 64 && (seen >> index & 1)) {
            rc = ydoc_fail(y, key, -ALLOT_ECONFIG, "given more than once");
        } else if (index < 64) {
            seen |= (uint64_t)1 << index;
        }
        ydoc_pop(y, mark);
        if (rc)
            return rc;
    }
    return 0;
}

int ydoc_list(struct ydoc *y, yaml_node_t *node, size_t max, size_t *n)
{
    if (!node || node->type != YAML_SEQUENCE_NODE)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "expected a list, found %s", ydoc_kind(node));
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (count > max)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "%zu entries; at most %zu are allowed", count,
                         max);
    *n = count;
    return 0;
}

yaml_node_t *ydoc_item(struct ydoc *y, yaml_node_t *list, size_t i)
{
    return yaml_document_get_node(y->doc, list->data.sequence.items.start[i]);
}

yaml_node_t *ydoc_get(struct ydoc *y, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, pair->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0) {
            yaml_node_t *value = yaml_document_get_node(y->doc, pair->value);
            return ydoc_is_null(value) ? NULL : value;
        }
    }
    return NULL;
}

bool ydoc_is_name(const char *s, size_t n, size_t max)
{
    return name_is_valid(s, n, max);
}

int ydoc_scalar(struct ydoc *y, yaml_node_t *node, const char **out)
{
    if (!node || node->type != YAML_SCALAR_NODE)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "expected a scalar, found %s", ydoc_kind(node));
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "contains a NUL character");
    *out = s;
    return 0;
}

int ydoc_read_name(struct ydoc *y, yaml_node_t *node, size_t max, const char **out)
{
    const char *s = NULL;
    int rc = ydoc_scalar(y, node, &s);
    if (rc)
        return rc;
    if (!ydoc_is_name(s, strlen(s), max))
        return ydoc_fail(y, node, -ALLOT_ECONFIG,
                         "'%.*s' is not a valid name (1 to %zu of a-z, 0-9, '-', '_', '.', "
                         "starting with a letter or digit)",
                         YDOC_QUOTE, s, max);
    *out = s;
    return 0;
}

int ydoc_read_bool(struct ydoc *y, yaml_node_t *node, bool *out)
{
    const char *s = NULL;
    int rc = ydoc_scalar(y, node, &s);
    if (rc)
        return rc;
    if (strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0)
        *out = false;
    else
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "expected true or false, found '%.*s'",
                         YDOC_QUOTE, s);
    return 0;
}

int ydoc_read_int(struct ydoc *y, yaml_node_t *node, int64_t min, int64_t max, int64_t *out)
{
    const char *s = NULL, *p;
    int rc = ydoc_scalar(y, node, &s);
    if (rc)
        return rc;
    bool negative = *s == '-';
    bool big = false;
    uint64_t value = 0;
    p = s + negative;
    if (!*p)
        goto not_integer;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto not_integer;
        if (value > (UINT64_MAX - 9) / 10)
            big = true;
        else
            value = value * 10 + (uint64_t)(*p - '0');
    }
    /* Every accepted range lies within +-2^62, so a larger magnitude is out of it. */
    if (big || value > (uint64_t)1 << 62)
        goto out_of_range;
    int64_t v = negative ? -(int64_t)value : (int64_t)value;
    if (v < min || v > max)
        goto out_of_range;
    *out = v;
    return 0;
not_integer:
    return ydoc_fail(y, node, -ALLOT_ECONFIG, "'%.*s' is not an integer", YDOC_QUOTE, s);
out_of_range:
    return ydoc_fail(y, node, -ALLOT_ECONFIG, "'%.*s' is out of range (%" PRId64 " to %" PRId64 ")",
                     YDOC_QUOTE, s, min, max);
}

/* Each quantity kind: its parser and how to describe it. */
static const struct {
    int (*parse)(const char *s, int64_t *out);
    const char *what;
    const char *examples;
} ydoc_quantities[] = {
    [YDOC_DURATION] = {quantity_parse_duration, "a duration", "30s, 10m, 1h30m"},
    [YDOC_BYTES] = {quantity_parse_bytes, "an amount of bytes", "512Mi, 64Gi, 1Ti"},
    [YDOC_CPU] = {quantity_parse_cpu, "a number of CPUs", "16, 0.5, 500m"},
    [YDOC_GPU] = {quantity_parse_gpu, "a number of GPUs", "4, 0.5, 3/7"},
};

int ydoc_read_quantity(struct ydoc *y, yaml_node_t *node, enum ydoc_quantity kind, int64_t *out)
{
    const char *s = NULL;
    int rc = ydoc_scalar(y, node, &s);
    if (rc)
        return rc;
    rc = ydoc_quantities[kind].parse(s, out);
    if (rc == 0)
        return 0;
    if (s[strspn(s, " \t")] == '-')
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "'%.*s' is negative (expected %s, 0 or more)",
                         YDOC_QUOTE, s, ydoc_quantities[kind].what);
    if (rc == -ALLOT_ERANGE)
        return ydoc_fail(y, node, -ALLOT_ECONFIG, "'%.*s' is out of range for %s%s", YDOC_QUOTE, s,
                         ydoc_quantities[kind].what,
                         kind == YDOC_GPU ? " (too large, or not a multiple of 1/840 GPU)" : "");
    return ydoc_fail(y, node, -ALLOT_ECONFIG, "'%.*s' is not %s (examples: %s)", YDOC_QUOTE, s,
                     ydoc_quantities[kind].what, ydoc_quantities[kind].examples);
}

int ydoc_read_enum(struct ydoc *y, yaml_node_t *node, const char *const *names, int n, int *out)
{
    const char *s = NULL;
    int rc = ydoc_scalar(y, node, &s);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    }
    char expected[512];
    ydoc_join(expected, sizeof(expected), names, n);
    return ydoc_fail(y, node, -ALLOT_ECONFIG, "unknown value '%.*s' (expected one of: %s)",
                     YDOC_QUOTE, s, expected);
}

/* Push key and find its value. OUT *value (NULL when absent), *mark for ydoc_pop, which the
 * caller always calls. RET 0, or an error when the key is required and absent. */
static int ydoc_enter(struct ydoc *y, yaml_node_t *map, const char *key, bool required,
                      yaml_node_t **value, size_t *mark)
{
    *value = ydoc_get(y, map, key);
    *mark = ydoc_push(y, key);
    if (!*value && required)
        return ydoc_fail(y, map, -ALLOT_ECONFIG, "required, but not given");
    return 0;
}

int ydoc_str(struct ydoc *y, yaml_node_t *map, const char *key, bool required, const char **out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_scalar(y, value, out);
    ydoc_pop(y, mark);
    return rc;
}

int ydoc_name(struct ydoc *y, yaml_node_t *map, const char *key, bool required, size_t max,
              const char **out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_read_name(y, value, max, out);
    ydoc_pop(y, mark);
    return rc;
}

int ydoc_bool(struct ydoc *y, yaml_node_t *map, const char *key, bool required, bool *out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_read_bool(y, value, out);
    ydoc_pop(y, mark);
    return rc;
}

int ydoc_int(struct ydoc *y, yaml_node_t *map, const char *key, bool required, int64_t min,
             int64_t max, int64_t *out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_read_int(y, value, min, max, out);
    ydoc_pop(y, mark);
    return rc;
}

int ydoc_quantity(struct ydoc *y, yaml_node_t *map, const char *key, bool required,
                  enum ydoc_quantity kind, int64_t *out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_read_quantity(y, value, kind, out);
    ydoc_pop(y, mark);
    return rc;
}

int ydoc_enum(struct ydoc *y, yaml_node_t *map, const char *key, bool required,
              const char *const *names, int n, int *out)
{
    yaml_node_t *value;
    size_t mark;
    int rc = ydoc_enter(y, map, key, required, &value, &mark);
    if (rc == 0 && value)
        rc = ydoc_read_enum(y, value, names, n, out);
    ydoc_pop(y, mark);
    return rc;
}
