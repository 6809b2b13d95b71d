/* The platform YAML schema (tenants with workspaces, clusters, nodes, scheduler options):
 * parsed with libyaml and applied to a new engine. Errors name file, line and field. */
#ifndef ALLOT_CONFIG_PLATFORM_H
#define ALLOT_CONFIG_PLATFORM_H

#include <stddef.h>

#include <yaml.h>

#include "sched/sched.h"

/* Largest configuration or scenario file accepted, and other input bounds. */
#define PLATFORM_MAX_BYTES (64 * 1024 * 1024)
#define PLATFORM_MAX_DEPTH 16
#define PLATFORM_MAX_NAME 63

/* Build an engine from the platform keys of a parsed YAML document (keys `scheduler`,
 * `tenants`, `clusters`, `nodes`; other top-level keys are left to the caller, which passes
 * the ones it accepts in extra_keys, NULL-terminated). IN doc, path (for messages).
 * OUT *out (caller frees with sched_free). RET 0, or -ALLOT_ECONFIG / -ALLOT_ENOMEM with
 * "path:line: field: problem" in err. */
int platform_build(yaml_document_t *doc, const char *path, const char *const *extra_keys,
                   struct sched **out, char *err, size_t len);

/* Read and parse the file at path, then platform_build with no extra keys. */
int platform_load(const char *path, struct sched **out, char *err, size_t len);

#endif
