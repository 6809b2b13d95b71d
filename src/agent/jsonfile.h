/* The agent's JSON files (its state file, a container's config.json, an image layout's index,
 * manifests and config): read whole with a bound on their size, written whole in one write
 * and renamed into place, so that a reader never sees half of one. */
#ifndef ALLOT_AGENT_JSONFILE_H
#define ALLOT_AGENT_JSONFILE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* Read path, a regular file of at most max bytes, as a JSON object with no key twice. OUT
 * *out (the caller's reference; NULL on failure). RET 0; -ALLOT_ENOENT when it does not
 * exist, -ALLOT_EIO when it cannot be read, -ALLOT_ERANGE when it is no regular file or is
 * larger, -ALLOT_EPARSE when it is not a JSON object (with the line), -ALLOT_ENOMEM; with a
 * sentence naming the file in err. */
int jsonfile_read(const char *path, size_t max, json_t **out, char *err, size_t len);

/* Write value (compact) to path through path.tmp (mode; a stale one is replaced), renamed over
 * path. RET 0, or -ALLOT_EIO (-ALLOT_EINVAL: path too long) with a sentence in err; path.tmp
 * is removed on failure. */
int jsonfile_write(const char *path, const json_t *value, mode_t mode, char *err, size_t len);

#endif
