/* The platform YAML schema (tenants with workspaces, clusters, nodes, scheduler options):
 * parsed with libyaml and applied to a new engine. Errors name file, line and field. */
#ifndef ALLOT_CONFIG_PLATFORM_H
#define ALLOT_CONFIG_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "sched/sched.h"

/* Largest configuration or scenario file accepted, and other input bounds. */
#define PLATFORM_MAX_BYTES (64 * 1024 * 1024)
#define PLATFORM_MAX_DEPTH 16
#define PLATFORM_MAX_NAME 63
/* Workspace weights: any useful share ratio, and sums of weights cannot overflow. */
#define PLATFORM_MAX_WEIGHT 1000000

/* Build an engine from the platform keys of a parsed YAML document (keys `scheduler`,
 * `tenants`, `clusters`, `nodes`; other top-level keys are left to the caller, which passes
 * the ones it accepts in extra_keys, NULL-terminated). IN doc, path (for messages).
 * OUT *out (caller frees with sched_free; NULL on error). RET 0, or -ALLOT_ECONFIG for a
 * document that breaks the schema, -ALLOT_ENOMEM, or the engine's own refusal (-ALLOT_EEXIST
 * for a duplicate name, -ALLOT_ENOENT for an unknown tenant or cluster, -ALLOT_ERESERVATION
 * for reservations beyond a tenant's GPUs, ...), always with "path:line: field: problem" in
 * err. */
int platform_build(yaml_document_t *doc, const char *path, const char *const *extra_keys,
                   struct sched **out, char *err, size_t len);

/* Read and parse the file at path, then platform_build with no extra keys. RET as
 * platform_build, or -ALLOT_EIO with "path: reason" when the file cannot be read. */
int platform_load(const char *path, struct sched **out, char *err, size_t len);

struct ydoc;
/* Read a workspace's `limits` map (keys gpu, cpu, memory, storage; a value may be "none" for
 * no limit) at y's current field path; shared with scenario.c. OUT for each key given: its
 * field of *limits and given[its enum sched_resource]. RET 0 or -ALLOT_ECONFIG. */
int platform_read_limits(struct ydoc *y, yaml_node_t *map, struct sched_resources *limits,
                         bool given[4]);

#endif
