/* A document from a file: YAML read with libyaml into the same jansson tree an API body is
 * parsed into, with the line of every value kept by its field path, so that the schema's
 * readers check YAML and JSON alike and a refusal still reads "FILE:LINE: field: message". */
#ifndef ALLOT_SCHEMA_SOURCE_H
#define ALLOT_SCHEMA_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/arena.h"
#include "schema/reader.h"

/* Most values (scalars, lists, maps, with aliases counted each time they are used) one
 * document may hold, and the deepest nesting of lists and maps. */
#define SOURCE_MAX_VALUES 1000000
#define SOURCE_MAX_DEPTH 16

struct source_line;
struct source_text;

/* A loaded document. root is the tree (NULL for an empty document); everything is owned by
 * the source and freed by source_cleanup. */
struct source {
    json_t *root;
    const char *path;          /* for messages */
    struct source_line *lines; /* field path -> line, sorted by path */
    size_t n_lines;
    struct source_text *texts; /* plain scalars typed as numbers or booleans: their text */
    size_t n_texts;
    struct arena arena; /* the path and the texts */
};

/* Read the file at path (at most max_bytes) and load its single YAML document. Scalars are
 * typed as YAML's core schema has them when plain (null, true/false, integers, reals) and are
 * strings otherwise; a reader that wants a string still gets a plain scalar's text (see
 * source_text). Keys are strings, each given once. OUT *src (source_cleanup it; also on
 * error). RET 0, -ALLOT_EIO ("path: reason"), -ALLOT_ECONFIG ("path:line: problem": syntax,
 * too large, too deep, too many values, more than one document, a key given twice),
 * -ALLOT_ENOMEM. */
int source_load(const char *path, size_t max_bytes, struct source *src, char *err, size_t len);
/* As source_load, for n bytes of text already in memory; path is only for messages. */
int source_parse(const char *path, const unsigned char *text, size_t n, struct source *src,
                 char *err, size_t len);
/* Free what a source holds. Accepts a source that source_load failed to fill, and NULL. */
void source_cleanup(struct source *src);

/* The text of v when it was a plain scalar that YAML typed as a number or a boolean, so
 * that a reader of a string may take `name: 007` as "007"; NULL otherwise (and for a NULL
 * src). The value is remembered as read as text (see source_as_read). */
const char *source_text(const struct source *src, const json_t *v);
/* Whether v is a YAML plain boolean of src (kept in the tree as a string of its text, since
 * jansson's booleans are shared values that could not tell one `true` from another); OUT
 * *out, its value. False for anything else, and for a NULL src. */
bool source_bool(const struct source *src, const json_t *v, bool *out);
/* A deep copy of v (a value of src->root) as the readers read it: the plain scalars they took
 * as text are strings, so that the copy reads the same as JSON, with no source (how a
 * platform file's objects become journal ops). A new reference, or NULL without memory. */
json_t *source_as_read(const struct source *src, const json_t *v);
/* Line (1-based) of the value at field (a reader's path); a field not in the document (a key
 * left out) gets the line of the nearest value above it. */
int source_line(const struct source *src, const char *field);
/* Write "path:line: field: message" for the refusal e ("document" for an empty field) into
 * err. RET e->code. */
int source_error(const struct source *src, const struct schema_error *e, char *err, size_t len);

#endif
