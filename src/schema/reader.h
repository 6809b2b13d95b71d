/* The typed readers every schema reader is made of: a document's values (a jansson tree,
 * whether it came as JSON or YAML) are checked one at a time while a field path follows the
 * reader down, so that a refusal names the field ("gpus[1].mig[0]"), its code and a sentence. */
#ifndef ALLOT_SCHEMA_READER_H
#define ALLOT_SCHEMA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"

/* Input bounds shared by every front door (API bodies, YAML files, journal ops, reports). */
#define SCHEMA_MAX_NAME 63
#define SCHEMA_MAX_WEIGHT 1000000
#define SCHEMA_MAX_PRIORITY 1000000
#define SCHEMA_MAX_GPUS 1024
#define SCHEMA_MAX_LABEL 253       /* label keys and values: the bound Kubernetes uses */
#define SCHEMA_MAX_STRING 4096     /* any string not bounded otherwise (quantities, profiles) */
#define SCHEMA_MAX_DEPTH 8         /* nesting of arrays and objects in one body */
#define SCHEMA_MAX_COMMAND 64      /* arguments of a command */
#define SCHEMA_MAX_ARG 4096        /* bytes of one argument */
#define SCHEMA_MAX_ENV 64          /* environment variables of a workload */
#define SCHEMA_MAX_ENV_NAME 256    /* bytes of an environment variable's name */
#define SCHEMA_MAX_ENV_VALUE 4096  /* bytes of its value */
#define SCHEMA_MAX_IDEMPOTENCY 128 /* bytes of an idempotency key */
#define SCHEMA_MAX_WORKDIR 4096    /* bytes of a workload's working directory in its image */

/* Most bytes of one key a field path shows, and of user text a message quotes. */
#define READER_PATH_KEY 48
#define READER_QUOTE 64

/* Why a document was refused. code: -ALLOT_EINVAL for a wrong type, format, name or unknown
 * key (strings too long included); -ALLOT_ERANGE for a number or a count (items, depth, array
 * length) outside its range; -ALLOT_ENOMEM when the arena could not grow. field: the path of
 * the value at fault ("gpus", "limits.memory", "gpus[1].mig[0]"; "" for the document itself).
 * message: one sentence for people, without the field; user text in it is cut to 64 bytes
 * and its unprintable bytes replaced by '?'. */
struct schema_error {
    char field[128];
    char message[256];
    int code;
};

struct source;

/* A document being read: where its strings go (arena), where a refusal goes (err), the
 * path of the field being read, which grows and shrinks as the reader descends, and for a
 * document from a YAML file its source (source.h; NULL for JSON), whose plain scalars a
 * reader of a string or a quantity reads as the text they were written as. */
struct reader {
    struct arena *arena;
    struct schema_error *err;
    const struct source *source;
    size_t field_len;
    char field[sizeof(((struct schema_error *)0)->field)];
    struct schema_error scratch; /* err when the caller passed none */
};

/* What a quantity holds; each kind has its parser in common/quantity.h. */
enum reader_quantity { READER_DURATION, READER_BYTES, READER_CPU, READER_GPU };

/* Whether s (n bytes) is a name: [a-z0-9][a-z0-9._-]*, 1 to SCHEMA_MAX_NAME bytes. */
bool reader_is_name(const char *s, size_t n);
/* Whether s is a workspace's full name: "tenant/workspace", both parts names. */
bool reader_is_workspace_name(const char *s);

/* Start reading with an empty path and no source; err is cleared (NULL: the reader keeps the
 * refusal in r->scratch). a may be NULL for readers that keep no string. Cannot fail. */
void reader_init(struct reader *r, struct arena *a, struct schema_error *err);
/* Append ".key" ("key" at the top, nothing for an empty key; n bytes, at most
 * READER_PATH_KEY shown) or "[index]" to the path. RET a mark for reader_pop, which restores
 * the path as it was. */
size_t reader_push_key(struct reader *r, const char *key, size_t n);
size_t reader_push_index(struct reader *r, size_t index);
void reader_pop(struct reader *r, size_t mark);
/* Refuse the field at the current path: fill r->err and RET rc, so that callers may write
 * `return reader_fail(...)`. */
int reader_fail(struct reader *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* User text s (n bytes) fit for a message: at most READER_QUOTE bytes, unprintable bytes
 * replaced by '?', "..." when cut. RET buf. */
const char *reader_quote(const char *s, size_t n, char buf[READER_QUOTE + 4]);
/* "a, b, c" of a NULL-terminated list (or the first n names when n >= 0) into buf. */
const char *reader_join(const char *const *names, int n, char *buf, size_t len);
/* "an object", "a string", ... of v ("nothing" for NULL); "a boolean" for a YAML plain
 * boolean of r's source too (which the source keeps as its text, source.h). */
const char *reader_type_name(const struct reader *r, const json_t *v);

/* Check that v is an object whose keys are all in keys (NULL-terminated), and whose values
 * are not null unless their key is in nullable (NULL-terminated, or NULL for none): a null
 * would otherwise pass for a value left out. RET 0 or -ALLOT_EINVAL naming the key. */
int reader_object(struct reader *r, const json_t *v, const char *const *keys,
                  const char *const *nullable);
/* reader_object, where the keys in extra (NULL-terminated, or NULL) are also accepted: for a
 * document that holds an object and more (a tenant with its workspaces in a platform file). */
int reader_object_with(struct reader *r, const json_t *v, const char *const *keys,
                       const char *const *extra, const char *const *nullable);
/* reader_object for a document read without a reader of its own. */
int reader_check_fields(const json_t *j, const char *const *keys, const char *const *nullable,
                        struct schema_error *err);
/* The value of key in obj, or NULL when absent or null. */
const json_t *reader_get(const json_t *obj, const char *key);

/* Readers of one value v at the current path. Each fills *out only when it returns 0, and
 * otherwise returns a negative error with r->err filled. */
/* A string of at most max bytes without NUL. OUT *s (into the document) and *n. */
int reader_text(struct reader *r, const json_t *v, size_t max, const char **s, size_t *n);
/* A copy of s (n bytes) in the arena. */
int reader_keep(struct reader *r, const char *s, size_t n, const char **out);
/* A string of at most max bytes, copied into the arena. */
int reader_string(struct reader *r, const json_t *v, size_t max, const char **out);
/* A name (reader_is_name), copied into the arena. */
int reader_name(struct reader *r, const json_t *v, const char **out);
/* A workspace's name: "tenant/workspace", or with default_tenant the bare workspace name (a
 * full name must then be in default_tenant). OUT *out, the full name in the arena. */
int reader_workspace_name(struct reader *r, const json_t *v, const char *default_tenant,
                          const char **out);
int reader_bool(struct reader *r, const json_t *v, bool *out);
/* A JSON integer between min and max. */
int reader_int(struct reader *r, const json_t *v, int64_t min, int64_t max, int64_t *out);
/* One of n names (NULL entries skipped); OUT *out, its index. */
int reader_enum(struct reader *r, const json_t *v, const char *const *names, int n, int *out);
/* A quantity of the given kind: a number (seconds for a duration, bytes for an amount of
 * bytes) or a string ("30s", "64Gi", "500m", "3/7"). */
int reader_quantity(struct reader *r, const json_t *v, enum reader_quantity kind, int64_t *out);

/* Check that v is an array of at most max values (what: "GPUs", "nodes", for messages).
 * OUT *n, its length. */
int reader_array(struct reader *r, const json_t *v, size_t max, const char *what, size_t *n);

/* Push key and find its value. OUT *value (NULL when absent), *mark for reader_pop, which
 * the caller always calls. RET 0, or -ALLOT_EINVAL when the key is required and absent. */
int reader_enter(struct reader *r, const json_t *obj, const char *key, bool required,
                 const json_t **value, size_t *mark);
/* Readers of the value of key in obj with key pushed onto the path. An absent (or null) key
 * leaves *out as it was and returns 0, unless required. */
int reader_key_name(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char **out);
int reader_key_bool(struct reader *r, const json_t *obj, const char *key, bool *out);
int reader_key_int(struct reader *r, const json_t *obj, const char *key, int64_t min, int64_t max,
                   int64_t *out);
int reader_key_quantity(struct reader *r, const json_t *obj, const char *key, bool required,
                        enum reader_quantity kind, int64_t *out);
int reader_key_enum(struct reader *r, const json_t *obj, const char *key, bool required,
                    const char *const *names, int n, int *out);
/* A time limit under key (docs/policy.md, "Time limits and backfill"): a duration above 0
 * and at most 365 days. An explicit null (where the object's reader allows one) is 0, none;
 * absent leaves *out as it was. RET 0, or an error naming key. */
int reader_key_time_limit(struct reader *r, const json_t *obj, const char *key, int64_t *out);

/* Walk a parsed document and refuse one nested deeper than max_depth containers (a bare
 * object or array is depth 1) or holding more than max_items values in all (the root
 * included). Runs before any reader, so that no reader meets a document of unbounded shape.
 * RET 0, or -ALLOT_ERANGE with err naming the container that went too deep or too wide. */
int reader_check_bounds(const json_t *j, int max_depth, size_t max_items, struct schema_error *err);

#endif
