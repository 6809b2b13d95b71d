/* Request bodies from files for the `allot` client: JSON through jansson, YAML through the
 * schema's loader (schema/source.h), within the daemon's bounds. */
#include "cli/document.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/reader.h"
#include "schema/source.h"

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

/* Mark every value in v as read as text, so that source_as_read makes strings of the plain
 * scalars YAML typed as numbers or booleans (a command's `--lr 0.1`, env's `1`). */
static void as_text(const struct source *src, const json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    source_text(src, v);
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, item) as_text(src, item);
    if (json_is_array(v))
        json_array_foreach(v, i, item) as_text(src, item);
}

/* The YAML text (n bytes) as JSON: plain scalars typed as YAML has them, but for a
 * workload's words. RET 0 or a negative error with "name:line: field: problem" in err. */
static int from_yaml(const char *name, const char *text, size_t n, json_t **out, char *err,
                     size_t len)
{
    struct source src;
    struct schema_error e;
    int rc = source_parse(name, (const unsigned char *)text, n, &src, err, len);
    if (rc == 0 && !src.root) {
        snprintf(err, len, "%s: the document is empty", name);
        rc = -ALLOT_EPARSE;
    }
    if (rc == 0 && reader_check_bounds(src.root, DOCUMENT_MAX_DEPTH, DOCUMENT_MAX_ITEMS, &e))
        rc = source_error(&src, &e, err, len);
    if (rc == 0 && json_is_object(src.root)) {
        /* a command's words and env's values are text even when they look like numbers, as
         * the daemon's schema has them */
        as_text(&src, json_object_get(src.root, "command"));
        as_text(&src, json_object_get(src.root, "env"));
    }
    if (rc == 0 && !(*out = source_as_read(&src, src.root)))
        rc = -ALLOT_ENOMEM;
    source_cleanup(&src);
    return rc == -ALLOT_ECONFIG || rc == -ALLOT_EINVAL ? -ALLOT_EPARSE : rc;
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
        rc = from_yaml(name, text, n, &j, err, len);
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
