/* Request bodies from files for the `allot` client (`submit -f`, `admin node add -f`): a JSON
 * or YAML file (or "-" for stdin) read with bounds and turned into one JSON object. */
#ifndef ALLOT_CLI_DOCUMENT_H
#define ALLOT_CLI_DOCUMENT_H

#include <stddef.h>

#include <jansson.h>

#define DOCUMENT_MAX_BYTES (1u << 20) /* the daemon's body limit */
#define DOCUMENT_MAX_DEPTH 8          /* nested maps and lists, as the daemon allows */
#define DOCUMENT_MAX_ITEMS 10000      /* values in all, as the daemon allows */

/* Read path ("-": stdin) as a JSON object. The format is JSON when the name ends in ".json"
 * or the text starts with '{', else YAML (plain scalars: true/false, null/~, integers and
 * decimals become JSON booleans, null and numbers; every other scalar, every quoted one, and
 * every one under a top-level `command` or `env` (a workload's words), a string).
 * OUT *out, a new reference the caller owns (set only on success). RET 0, or
 * -ALLOT_EIO, -ALLOT_EPARSE, -ALLOT_ERANGE, -ALLOT_ENOMEM with err holding
 * "path:line: problem". */
int document_load(const char *path, json_t **out, char *err, size_t len);

#endif
