/* YAML documents as jansson trees (source.h): a bounded event pre-scan, libyaml's loader for
 * the node tree, then a copy into JSON values that keeps each value's line by field path. */
#include "schema/source.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/array.h"
#include "common/error.h"

#define TEXT_OF(x) #x
#define TEXT(x) TEXT_OF(x)

struct source_line {
    const char *field;
    int line;
};

/* What a plain scalar with a kept text was typed as. A boolean is kept as a string of its
 * text (not as jansson's true or false, which are one shared value each: a mark on one would
 * be a mark on every `true` of the document). */
enum source_typed { TYPED_NUMBER, TYPED_TRUE, TYPED_FALSE };

struct source_text {
    const json_t *value;
    const char *text;
    enum source_typed typed;
    bool read_as_text; /* a reader took it as a string (source_text was asked for it) */
};

/* A copy under way: the document, the path of the value being copied, and what is kept. */
struct copier {
    struct source *src;
    yaml_document_t *doc;
    struct reader path; /* only its field path is used */
    size_t values;
    size_t cap_lines, cap_texts;
    char *err;
    size_t len;
};

/* Line (1-based) of byte offset in text, for reader errors, which carry no mark. */
static int line_at(const unsigned char *text, size_t n, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < n; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

/* Describe the parser's error in err. RET -ALLOT_ENOMEM or -ALLOT_ECONFIG. */
static int syntax_error(const yaml_parser_t *parser, const char *path, const unsigned char *text,
                        size_t n, char *err, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) {
        snprintf(err, len, "%s: out of memory while parsing YAML", path);
        return -ALLOT_ENOMEM;
    }
    int line = parser->error == YAML_READER_ERROR ? line_at(text, n, parser->problem_offset)
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
static int scan(const char *path, const unsigned char *text, size_t n, char *err, size_t len)
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
    for (bool end = false; !end;) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = syntax_error(&parser, path, text, n, err, len);
            break;
        }
        yaml_event_type_t type = event.type;
        int line = (int)event.start_mark.line + 1;
        yaml_event_delete(&event);
        const char *problem = NULL;
        if (type == YAML_DOCUMENT_START_EVENT && ++documents > 1)
            problem = "only one YAML document is allowed";
        if ((type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) &&
            ++depth > SOURCE_MAX_DEPTH)
            problem = "nested deeper than " TEXT(SOURCE_MAX_DEPTH) " levels";
        if ((type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT ||
             type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT) &&
            ++nodes > SOURCE_MAX_VALUES)
            problem = "more than " TEXT(SOURCE_MAX_VALUES) " YAML nodes";
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        if (problem) {
            snprintf(err, len, "%s:%d: document: %s", path, line, problem);
            rc = -ALLOT_ECONFIG;
            break;
        }
        end = type == YAML_STREAM_END_EVENT;
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Refuse the value being copied (at node's line). RET rc. */
static int copy_fail(struct copier *c, const yaml_node_t *node, int rc, const char *problem)
{
    snprintf(c->err, c->len, "%s:%d: %s: %s", c->src->path,
             node ? (int)node->start_mark.line + 1 : 1,
             c->path.field_len ? c->path.field : "document", problem);
    return rc;
}

/* Keep the line of the value at the current path. */
static int keep_line(struct copier *c, const yaml_node_t *node)
{
    struct source *s = c->src;
    if (ARRAY_GROW(s->lines, s->n_lines, c->cap_lines))
        return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    const char *field = arena_strndup(&s->arena, c->path.field, c->path.field_len);
    if (!field)
        return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    s->lines[s->n_lines++] = (struct source_line){field, (int)node->start_mark.line + 1};
    return 0;
}

/* Keep the text of plain scalar node, copied as v (typed as typed). */
static int keep_text(struct copier *c, const yaml_node_t *node, const json_t *v,
                     enum source_typed typed)
{
    struct source *s = c->src;
    if (ARRAY_GROW(s->texts, s->n_texts, c->cap_texts))
        return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    const char *text =
        arena_strndup(&s->arena, (const char *)node->data.scalar.value, node->data.scalar.length);
    if (!text)
        return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    s->texts[s->n_texts++] = (struct source_text){v, text, typed, false};
    return 0;
}

/* Whether s is [-+]?[0-9]+ (integer) or a decimal real [-+]?(.d+|d+(.d*)?)([eE][-+]?d+)?. */
static bool is_number(const char *s, bool *integer)
{
    size_t i = (*s == '-' || *s == '+') ? 1 : 0, digits = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    *integer = digits > 0 && s[i] == '\0';
    if (*integer)
        return true;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t exp = 0;
        i += (s[i + 1] == '-' || s[i + 1] == '+') ? 2 : 1;
        while (s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return s[i] == '\0';
}

/* A scalar node as a JSON value: plain null and numbers typed as YAML's core schema has
 * them (a number's text kept), plain booleans a string of their text kept as typed boolean
 * (source_bool), anything else a string. OUT *out (a new reference). */
static int copy_scalar(struct copier *c, yaml_node_t *node, json_t **out)
{
    const char *s = (const char *)node->data.scalar.value;
    size_t n = node->data.scalar.length;
    bool plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, integer = false;
    json_t *v = NULL;
    enum source_typed typed = TYPED_NUMBER;
    if (plain && strlen(s) == n) {
        if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL")) {
            *out = json_null();
            return 0;
        }
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            typed = TYPED_TRUE;
        else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            typed = TYPED_FALSE;
        else if (is_number(s, &integer)) {
            errno = 0;
            long long i = integer ? strtoll(s, NULL, 10) : 0;
            v = integer && errno == 0 ? json_integer(i) : json_real(strtod(s, NULL));
            if (!v)
                return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
        }
        if (typed != TYPED_NUMBER && !(v = json_stringn(s, n)))
            return copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    }
    if (v) {
        *out = v;
        return keep_text(c, node, v, typed);
    }
    v = json_stringn(s, n);
    if (!v)
        return copy_fail(c, node, -ALLOT_EINVAL, "not valid UTF-8 text");
    *out = v;
    return 0;
}

static int copy_node(struct copier *c, yaml_node_t *node, int depth, json_t **out);

/* A mapping node as a JSON object; keys are scalars, each given once. */
static int copy_mapping(struct copier *c, yaml_node_t *node, int depth, json_t **out)
{
    json_t *o = json_object();
    int rc = o ? 0 : copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         rc == 0 && p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(c->doc, p->value);
        if (!key || key->type != YAML_SCALAR_NODE) {
            rc = copy_fail(c, key, -ALLOT_EINVAL, "a key is a list or a map; keys are strings");
            break;
        }
        const char *k = (const char *)key->data.scalar.value;
        size_t n = key->data.scalar.length;
        size_t mark = reader_push_key(&c->path, k, n);
        json_t *v = NULL;
        if (json_object_getn(o, k, n))
            rc = copy_fail(c, key, -ALLOT_EINVAL, "given more than once");
        if (rc == 0)
            rc = copy_node(c, value, depth + 1, &v);
        if (rc == 0 && json_object_setn_new(o, k, n, v) != 0)
            rc = copy_fail(c, key, -ALLOT_EINVAL, "a key that is not valid UTF-8 text");
        reader_pop(&c->path, mark);
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

/* Copy node (and what it holds) at the current path. Aliases are copied each time they are
 * used, so the values are counted as copied, not as written. */
static int copy_node(struct copier *c, yaml_node_t *node, int depth, json_t **out)
{
    if (!node)
        return copy_fail(c, NULL, -ALLOT_EINVAL, "a value is missing");
    if (++c->values > SOURCE_MAX_VALUES)
        return copy_fail(c, node, -ALLOT_ERANGE,
                         "the document holds more than " TEXT(
                             SOURCE_MAX_VALUES) " values once its aliases are expanded");
    if (depth > SOURCE_MAX_DEPTH)
        return copy_fail(c, node, -ALLOT_ERANGE,
                         "nested deeper than " TEXT(SOURCE_MAX_DEPTH) " levels");
    int rc = keep_line(c, node);
    if (rc)
        return rc;
    if (node->type == YAML_SCALAR_NODE)
        return copy_scalar(c, node, out);
    if (node->type == YAML_MAPPING_NODE)
        return copy_mapping(c, node, depth, out);
    json_t *list = json_array();
    rc = list ? 0 : copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
    size_t i = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         rc == 0 && it < node->data.sequence.items.top; it++, i++) {
        size_t mark = reader_push_index(&c->path, i);
        json_t *v = NULL;
        rc = copy_node(c, yaml_document_get_node(c->doc, *it), depth + 1, &v);
        if (rc == 0 && json_array_append_new(list, v) != 0)
            rc = copy_fail(c, node, -ALLOT_ENOMEM, "out of memory");
        reader_pop(&c->path, mark);
    }
    if (rc)
        json_decref(list);
    else
        *out = list;
    return rc;
}

static int line_order(const void *a, const void *b)
{
    return strcmp(((const struct source_line *)a)->field, ((const struct source_line *)b)->field);
}

static int text_order(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct source_text *)a)->value;
    uintptr_t y = (uintptr_t)((const struct source_text *)b)->value;
    return x < y ? -1 : x > y;
}

int source_parse(const char *path, const unsigned char *text, size_t n, struct source *src,
                 char *err, size_t len)
{
    static const unsigned char empty[1] = {0};
    yaml_parser_t parser;
    yaml_document_t doc;
    struct copier c = {.src = src, .doc = &doc, .err = err, .len = len};
    int rc;

    memset(src, 0, sizeof(*src));
    arena_init(&src->arena, 0);
    src->path = arena_strdup(&src->arena, path);
    if (!src->path) {
        snprintf(err, len, "%s: out of memory", path);
        return -ALLOT_ENOMEM;
    }
    if (!text)
        text = empty; /* libyaml insists on a buffer even for no bytes */
    rc = scan(path, text, n, err, len);
    if (rc)
        return rc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, len, "%s: out of memory while parsing YAML", path);
        return -ALLOT_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, text, n);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, path, text, n, err, len);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    reader_init(&c.path, NULL, NULL);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        rc = copy_node(&c, root, 1, &src->root);
    yaml_document_delete(&doc);
    if (rc)
        return rc;
    if (src->n_lines) /* qsort's base may not be NULL, even for no items */
        qsort(src->lines, src->n_lines, sizeof(*src->lines), line_order);
    if (src->n_texts)
        qsort(src->texts, src->n_texts, sizeof(*src->texts), text_order);
    return 0;
}

int source_load(const char *path, size_t max_bytes, struct source *src, char *err, size_t len)
{
    unsigned char *text = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    FILE *f = fopen(path, "rb");

    memset(src, 0, sizeof(*src));
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
    rc = source_parse(path, text, n, src, err, len);
out:
    free(text);
    fclose(f);
    return rc;
}

void source_cleanup(struct source *src)
{
    if (!src)
        return;
    json_decref(src->root);
    free(src->lines);
    free(src->texts);
    arena_cleanup(&src->arena);
    memset(src, 0, sizeof(*src));
}

/* The entry of v in the texts, or NULL. */
static struct source_text *text_entry(const struct source *src, const json_t *v)
{
    if (!src || !v || src->n_texts == 0)
        return NULL;
    struct source_text key = {.value = v};
    return bsearch(&key, src->texts, src->n_texts, sizeof(key), text_order);
}

const char *source_text(const struct source *src, const json_t *v)
{
    struct source_text *hit = text_entry(src, v);
    if (!hit)
        return NULL;
    hit->read_as_text = true;
    return hit->text;
}

bool source_bool(const struct source *src, const json_t *v, bool *out)
{
    const struct source_text *hit = text_entry(src, v);
    if (!hit || hit->typed == TYPED_NUMBER)
        return false;
    *out = hit->typed == TYPED_TRUE;
    return true;
}

json_t *source_as_read(const struct source *src, const json_t *v)
{
    const struct source_text *hit = text_entry(src, v);
    if (hit && hit->read_as_text)
        return json_string(hit->text);
    if (hit && hit->typed != TYPED_NUMBER)
        return json_boolean(hit->typed == TYPED_TRUE);
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *key;
        size_t n;
        json_t *item;
        json_object_keylen_foreach((json_t *)v, key, n, item)
        {
            if (!o || json_object_setn_new(o, key, n, source_as_read(src, item)) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < json_array_size(v); i++) {
            if (json_array_append_new(list, source_as_read(src, json_array_get(v, i))) != 0) {
                json_decref(list);
                return NULL;
            }
        }
        return list;
    }
    return json_deep_copy(v);
}

int source_line(const struct source *src, const char *field)
{
    char path[sizeof(((struct schema_error *)0)->field)];
    size_t n = strlen(field);
    if (!src || src->n_lines == 0 || n >= sizeof(path))
        return 1;
    memcpy(path, field, n + 1);
    for (;;) {
        struct source_line key = {.field = path};
        const struct source_line *hit =
            bsearch(&key, src->lines, src->n_lines, sizeof(key), line_order);
        if (hit)
            return hit->line;
        /* the nearest value above: cut the last ".key" or "[index]" */
        char *dot = strrchr(path, '.'), *bracket = strrchr(path, '[');
        char *cut = dot > bracket ? dot : bracket;
        if (!cut) {
            if (!*path)
                return 1;
            cut = path;
        }
        *cut = '\0';
    }
}

int source_error(const struct source *src, const struct schema_error *e, char *err, size_t len)
{
    snprintf(err, len, "%s:%d: %s: %s", src && src->path ? src->path : "?",
             source_line(src, e->field), e->field[0] ? e->field : "document", e->message);
    return e->code;
}
