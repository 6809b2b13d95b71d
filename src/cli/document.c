/* Request bodies from files for the `allot` client: JSON through jansson, YAML through the
 * bounded loader of config/ydoc.h and a converter to JSON that keeps the daemon's bounds. */
#include "cli/document.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "config/ydoc.h"

/* Read all of f, at most DOCUMENT_MAX_BYTES. OUT *text (NUL-terminated, free()), *n. */
static int read_all(FILE *f, const char *path, char **text, size_t *n, char *err, size_t len)
{
    char *buf = malloc(DOCUMENT_MAX_BYTES + 2);
    if (!buf) {
        snprintf(err, len, "%s: out of memory", path);
        return -ALLOT_ENOMEM;
    }
    size_t got = fread(buf, 1, DOCUMENT_MAX_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        free(buf);
        return -ALLOT_EIO;
    }
    if (got > DOCUMENT_MAX_BYTES) {
        snprintf(err, len, "%s: larger than %u bytes", path, DOCUMENT_MAX_BYTES);
        free(buf);
        return -ALLOT_ERANGE;
    }
    buf[got] = '\0';
    *text = buf;
    *n = got;
    return 0;
}

/* The conversion of one YAML document, with its budget of values. */
struct converter {
    struct ydoc y;
    size_t items;
    bool text; /* inside a workload's command or env: every scalar is a string */
};

/* Whether s is a JSON-style number: -?digits(.digits)?; OUT *real when it has a fraction. */
static bool is_number(const char *s, bool *real)
{
    const char *p = s + (*s == '-');
    size_t digits = strspn(p, "0123456789");
    *real = false;
    if (digits == 0 || digits > 18)
        return false;
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        if (frac == 0 || frac > 18)
            return false;
        *real = true;
        p += 1 + frac;
    }
    return *p == '\0';
}

static int convert(struct converter *c, yaml_node_t *node, int depth, json_t **out);

static int convert_scalar(struct converter *c, yaml_node_t *node, json_t **out)
{
    const char *s = (const char *)node->data.scalar.value;
    bool real;
    if (strlen(s) != node->data.scalar.length)
        return ydoc_fail(&c->y, node, -ALLOT_EPARSE, "a NUL byte inside a value");
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || c->text)
        *out = json_string(s);
    else if (ydoc_is_null(node))
        *out = json_null();
    else if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
        *out = json_boolean(strcmp(s, "true") == 0);
    else if (is_number(s, &real))
        *out = real ? json_real(strtod(s, NULL)) : json_integer(strtoll(s, NULL, 10));
    else
        *out = json_string(s);
    if (!*out) /* json_string refuses text that is not UTF-8 */
        return ydoc_fail(&c->y, node, -ALLOT_EPARSE, "not UTF-8 text");
    return 0;
}

static int convert_map(struct converter *c, yaml_node_t *node, int depth, json_t **out)
{
    json_t *o = json_object();
    int rc = o ? 0 : -ALLOT_ENOMEM;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         rc == 0 && p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->y.doc, p->key);
        yaml_node_t *v = yaml_document_get_node(c->y.doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            rc = ydoc_fail(&c->y, k, -ALLOT_EPARSE, "a key must be a plain text");
            break;
        }
        const char *key = (const char *)k->data.scalar.value;
        if (json_object_get(o, key)) {
            rc = ydoc_fail(&c->y, k, -ALLOT_EPARSE, "key '%.64s' given twice", key);
            break;
        }
        size_t mark = ydoc_push(&c->y, key);
        json_t *value = NULL;
        /* a command's words and env's values are text even when they look like numbers
         * (`--lr 0.1`), as the daemon's schema has them */
        bool text = c->text;
        if (depth == 0 && (strcmp(key, "command") == 0 || strcmp(key, "env") == 0))
            c->text = true;
        rc = convert(c, v, depth + 1, &value);
        c->text = text;
        ydoc_pop(&c->y, mark);
        if (rc == 0 && json_object_set_new(o, key, value) != 0)
            rc = ydoc_fail(&c->y, k, -ALLOT_EPARSE, "a key must be UTF-8 text");
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

static int convert_list(struct converter *c, yaml_node_t *node, int depth, json_t **out)
{
    json_t *a = json_array();
    int rc = a ? 0 : -ALLOT_ENOMEM;
    size_t i = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         rc == 0 && it < node->data.sequence.items.top; it++, i++) {
        size_t mark = ydoc_push_index(&c->y, i);
        json_t *value = NULL;
        rc = convert(c, yaml_document_get_node(c->y.doc, *it), depth + 1, &value);
        ydoc_pop(&c->y, mark);
        if (rc == 0 && json_array_append_new(a, value) != 0)
            rc = -ALLOT_ENOMEM;
    }
    if (rc)
        json_decref(a);
    else
        *out = a;
    return rc;
}

/* Convert node (at nesting depth) into *out. Counting every value bounds what aliases could
 * multiply. RET 0 or a negative error with c->y's message set. */
static int convert(struct converter *c, yaml_node_t *node, int depth, json_t **out)
{
    if (!node)
        return ydoc_fail(&c->y, node, -ALLOT_EPARSE, "a value is missing");
    if (++c->items > DOCUMENT_MAX_ITEMS)
        return ydoc_fail(&c->y, node, -ALLOT_ERANGE, "more than %d values", DOCUMENT_MAX_ITEMS);
    if (node->type != YAML_SCALAR_NODE && depth >= DOCUMENT_MAX_DEPTH)
        return ydoc_fail(&c->y, node, -ALLOT_ERANGE, "nested deeper than %d levels",
                         DOCUMENT_MAX_DEPTH);
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return convert_scalar(c, node, out);
    case YAML_MAPPING_NODE:
        return convert_map(c, node, depth, out);
    case YAML_SEQUENCE_NODE:
        return convert_list(c, node, depth, out);
    default:
        return ydoc_fail(&c->y, node, -ALLOT_EPARSE, "an empty node");
    }
}

/* Whether the file is JSON: by its name, else by its first non-blank byte. */
static bool looks_json(const char *path, const char *text)
{
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0)
        return true;
    text += strspn(text, " \t\r\n");
    return *text == '{';
}

int document_load(const char *path, json_t **out, char *err, size_t len)
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "stdin" : path;
    char *text = NULL;
    size_t n = 0;
    json_t *j = NULL;
    int rc;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, len, "%s: %s", path, strerror(errno));
        return -ALLOT_EIO;
    }
    rc = read_all(f, name, &text, &n, err, len);
    if (!from_stdin)
        fclose(f);
    if (rc)
        return rc;
    if (looks_json(path, text)) {
        json_error_t e;
        j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
            snprintf(err, len, "%s:%d:%d: %s", name, e.line, e.column, e.text);
            rc = -ALLOT_EPARSE;
        }
    } else {
        yaml_document_t doc;
        rc = ydoc_parse(name, (const unsigned char *)text, n, DOCUMENT_MAX_DEPTH, &doc, err, len);
        if (rc == 0) {
            struct converter c = {0};
            ydoc_init(&c.y, &doc, name, err, len);
            yaml_node_t *root = ydoc_root(&c.y);
            rc = root ? convert(&c, root, 0, &j)
                      : (snprintf(err, len, "%s: the document is empty", name), -ALLOT_EPARSE);
            yaml_document_delete(&doc);
        } else if (rc == -ALLOT_ECONFIG) {
            rc = -ALLOT_EPARSE;
        }
    }
    if (rc == 0 && !json_is_object(j)) {
        snprintf(err, len, "%s: expected an object (a map of fields)", name);
        rc = -ALLOT_EPARSE;
    }
    free(text);
    if (rc) {
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}
