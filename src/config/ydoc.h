/* Helpers over libyaml's document API for the config loaders: bounded loading, map look-up,
 * typed scalar readers and unknown-key checks, with "file:line: field: problem" errors. */
#ifndef ALLOT_CONFIG_YDOC_H
#define ALLOT_CONFIG_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

/* Most nodes (scalars, lists, maps and alias references) one document may hold. */
#define YDOC_MAX_NODES 1000000
/* Longest field path kept for messages ("nodes[2].gpus[1].mig[0]"); longer ones are cut. */
#define YDOC_FIELD_MAX 256

/* A document being read, and where its messages go. The field path grows and shrinks as the
 * reader descends (ydoc_push, ydoc_pop) so that every message names the field it is about. */
struct ydoc {
    yaml_document_t *doc;
    const char *path; /* file name for messages */
    char *err;
    size_t len;
    size_t field_len;
    char field[YDOC_FIELD_MAX];
};

/* What a quantity scalar holds; each kind has its parser in common/quantity.h. */
enum ydoc_quantity { YDOC_DURATION, YDOC_BYTES, YDOC_CPU, YDOC_GPU };

/* Read the file at path (at most max_bytes) and parse its single YAML document, refusing
 * nesting deeper than max_depth and more than YDOC_MAX_NODES nodes before any tree is built.
 * OUT *doc, which the caller frees with yaml_document_delete (only when 0 is returned).
 * RET 0, -ALLOT_EIO ("path: reason"), -ALLOT_ECONFIG ("path:line: problem"), -ALLOT_ENOMEM. */
int ydoc_load(const char *path, size_t max_bytes, int max_depth, yaml_document_t *doc, char *err,
              size_t len);
/* As ydoc_load, for text already in memory (n bytes); path is only for messages. */
int ydoc_parse(const char *path, const unsigned char *text, size_t n, int max_depth,
               yaml_document_t *doc, char *err, size_t len);

/* Start reading doc: the field path is empty. Cannot fail. */
void ydoc_init(struct ydoc *y, yaml_document_t *doc, const char *path, char *err, size_t len);
/* Append ".key" (or "key" at the top) or "[index]" to the field path. RET a mark for
 * ydoc_pop, which restores the path as it was. */
size_t ydoc_push(struct ydoc *y, const char *key);
size_t ydoc_push_index(struct ydoc *y, size_t index);
void ydoc_pop(struct ydoc *y, size_t mark);

/* 1-based line of node; 1 for NULL. */
int ydoc_line(const yaml_node_t *node);
/* Write "path:line: field: <message>" to y->err (line of node, field the current path) and
 * RET rc, so that callers can write `return ydoc_fail(...)`. */
int ydoc_fail(struct ydoc *y, const yaml_node_t *node, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The root node, or NULL for an empty document. */
yaml_node_t *ydoc_root(struct ydoc *y);
/* True for a plain empty, "~" or "null" scalar: YAML's way of writing "not given". */
bool ydoc_is_null(const yaml_node_t *node);

/* Check that node (at the current field path) is a map whose keys are distinct strings from
 * keys or extra (each NULL-terminated; extra may be NULL). With keys NULL every string key is
 * accepted and duplicates are left to the caller. RET 0 or -ALLOT_ECONFIG naming the key. */
int ydoc_map(struct ydoc *y, yaml_node_t *node, const char *const *keys, const char *const *extra);
/* Check that node is a list of at most max entries. OUT *n. RET 0 or -ALLOT_ECONFIG. */
int ydoc_list(struct ydoc *y, yaml_node_t *node, size_t max, size_t *n);
/* Entry i of a list checked by ydoc_list. */
yaml_node_t *ydoc_item(struct ydoc *y, yaml_node_t *list, size_t i);
/* The value of key in map, or NULL when the key is absent or its value is null. */
yaml_node_t *ydoc_get(struct ydoc *y, yaml_node_t *map, const char *key);

/* Whether s (n bytes) is a name: [a-z0-9][a-z0-9-_.]*, 1 to max bytes. */
bool ydoc_is_name(const char *s, size_t n, size_t max);

/* Readers of one scalar node, at the current field path. OUT the value; strings point into
 * the document. RET 0 or -ALLOT_ECONFIG with the problem described. */
int ydoc_scalar(struct ydoc *y, yaml_node_t *node, const char **out);
int ydoc_read_name(struct ydoc *y, yaml_node_t *node, size_t max, const char **out);
int ydoc_read_bool(struct ydoc *y, yaml_node_t *node, bool *out);
int ydoc_read_int(struct ydoc *y, yaml_node_t *node, int64_t min, int64_t max, int64_t *out);
int ydoc_read_quantity(struct ydoc *y, yaml_node_t *node, enum ydoc_quantity kind, int64_t *out);
/* One of n names; OUT *out its index. The message lists the names. */
int ydoc_read_enum(struct ydoc *y, yaml_node_t *node, const char *const *names, int n, int *out);

/* Readers of the value of key in map, with key pushed onto the field path. An absent (or
 * null) key leaves *out as it was and returns 0, unless required: then it is an error at the
 * map's line. RET 0 or -ALLOT_ECONFIG. */
int ydoc_str(struct ydoc *y, yaml_node_t *map, const char *key, bool required, const char **out);
int ydoc_name(struct ydoc *y, yaml_node_t *map, const char *key, bool required, size_t max,
              const char **out);
int ydoc_bool(struct ydoc *y, yaml_node_t *map, const char *key, bool required, bool *out);
int ydoc_int(struct ydoc *y, yaml_node_t *map, const char *key, bool required, int64_t min,
             int64_t max, int64_t *out);
int ydoc_quantity(struct ydoc *y, yaml_node_t *map, const char *key, bool required,
                  enum ydoc_quantity kind, int64_t *out);
int ydoc_enum(struct ydoc *y, yaml_node_t *map, const char *key, bool required,
              const char *const *names, int n, int *out);

#endif
