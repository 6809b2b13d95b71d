/* The platform document (scheduler options, tenants with their workspaces, clusters, nodes):
 * read with the schema's object readers from a YAML file, applied to a new engine in
 * dependency order, or turned into the journal ops that the daemon applies. */
#ifndef ALLOT_SCHEMA_PLATFORM_H
#define ALLOT_SCHEMA_PLATFORM_H

#include <stddef.h>

#include <jansson.h>

#include "schema/source.h"
#include "sched/sched.h"

/* Largest platform or scenario file accepted. */
#define PLATFORM_MAX_BYTES (64 * 1024 * 1024)

/* Build an engine from the platform keys of src's document (keys `scheduler`, `tenants`,
 * `clusters`, `nodes`; other top-level keys are left to the caller, which passes the ones it
 * accepts in extra_keys, NULL-terminated, or NULL). OUT *out (caller frees with sched_free;
 * NULL on error). RET 0, or the schema's refusal (-ALLOT_EINVAL, -ALLOT_ERANGE), the
 * engine's own (-ALLOT_EEXIST for a duplicate name, -ALLOT_ENOENT for an unknown tenant or
 * cluster, -ALLOT_ERESERVATION for reservations beyond a tenant's GPUs, ...), or
 * -ALLOT_ENOMEM, always with "path:line: field: problem" in err. */
int platform_build(const struct source *src, const char *const *extra_keys, struct sched **out,
                   char *err, size_t len);

/* Read the file at path, then platform_build with no extra keys. RET as platform_build, or
 * source_load's errors (-ALLOT_EIO, -ALLOT_ECONFIG for YAML that does not parse). */
int platform_load(const char *path, struct sched **out, char *err, size_t len);

/* The document of src, which platform_build has accepted, as journal ops in the API's input
 * format: {"op": "scheduler"} when given, then tenant_add, cluster_add, node_add and
 * workspace_add (workspaces by their full name), each {"op", "spec"}, the specs as the
 * readers read them (source_as_read). OUT *ops, a new array. RET 0 or -ALLOT_ENOMEM. */
int platform_ops(const struct source *src, json_t **ops);

#endif
