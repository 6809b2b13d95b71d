/* The platform of an engine as ops in the API's input format: how a platform YAML enters
 * the journal on first start, and the basis of `allot admin export` later. */
#ifndef ALLOT_SCHEMA_EXPORT_H
#define ALLOT_SCHEMA_EXPORT_H

#include <jansson.h>

#include "sched/sched.h"

/* A new array of ops: scheduler (the engine's options), tenant_add, cluster_add, node_add,
 * workspace_add (in that order), each {"op": ..., "spec": {...}} as POST bodies of docs/api.md
 * would be. NULL when out of memory. */
json_t *export_platform_ops(const struct sched *s);

#endif
