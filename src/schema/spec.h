/* Readers of the platform's objects: tenants, clusters, nodes (GPUs, MIG layouts, labels) and
 * workspaces (reservations, limits), from a document's values, whether the text was an API
 * body, a YAML file, a journal op or an export. Field names and formats: docs/api.md. */
#ifndef ALLOT_SCHEMA_SPEC_H
#define ALLOT_SCHEMA_SPEC_H

#include <jansson.h>

#include "common/arena.h"
#include "schema/reader.h"
#include "sched/sched.h"

/* Readers: each takes the JSON body j of one object, checks every field (types, names,
 * ranges, unknown keys; a JSON null is refused, but where a field says it means "none":
 * a tenant's max_grace, a cluster's dedicated_to, a node's tenant), and fills *out only when
 * it returns 0. Strings and arrays *out points to are copied into arena a and live as long
 * as it. Values the engine checks against its state (unknown tenant or cluster, duplicate
 * names, reservations beyond the tenant's GPUs) are left to the engine. RET 0, or a negative
 * error with err filled (see struct schema_error). err may be NULL. */

/* "shared" or "dedicated". */
const char *spec_isolation_name(enum sched_isolation isolation);

/* {name, isolation?: shared|dedicated, max_grace?, require_image?: bool,
 *  limits?: {queued?}} */
int spec_tenant_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *out,
                          struct schema_error *err);
/* A change of tenant *inout, which the caller fills with its current values: {limits:
 * {queued}} (the only field a tenant changes). *inout is changed only when 0 is returned. */
int spec_tenant_patch_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *inout,
                                struct schema_error *err);
/* {name, dedicated_to?} */
int spec_cluster_from_json(const json_t *j, struct arena *a, struct sched_cluster_spec *out,
                           struct schema_error *err);
/* {name, cluster, tenant?, cpu, memory, state?, labels?: {key: value},
 *  gpus?: [{model, count?, healthy?, mig?: [profile | {profile, start?}]}]}: each gpus entry
 * stands for count GPUs; MIG layouts are checked and placed with mig_layout_place, so that
 * out->gpus[i].mig[k].start is always set. */
int spec_node_from_json(const json_t *j, struct arena *a, struct sched_node_spec *out,
                        struct schema_error *err);
/* {name, reserved?: {gpu}, limits?: {gpu?, cpu?, memory?, storage?, queued?}, lend?, weight?,
 *  require_image?: bool}. A limit may be "none" (no limit, the default). name is
 * "tenant/workspace"; with default_tenant not NULL it may also be the bare workspace name,
 * and a full name must then be in that tenant. out->name is always the full name. */
int spec_workspace_from_json(const json_t *j, const char *default_tenant, struct arena *a,
                             struct sched_workspace_spec *out, struct schema_error *err);
/* A partial change of the workspace *inout, which the caller fills with its current values:
 * only the fields given change (each limit on its own). name may be given only if it names
 * the same workspace (full or bare). *inout is changed only when 0 is returned. */
int spec_workspace_patch_from_json(const json_t *j, struct arena *a,
                                   struct sched_workspace_spec *inout, struct schema_error *err);

/* The same readers for an object met inside a larger document (a platform file, a journal
 * op): r carries the arena, the refusal and the path of j, so that errors name the field from
 * the document's top ("tenants[2].max_grace"). Each fills *out only when it returns 0. A
 * tenant accepts the keys in extra besides its own (a platform file's "workspaces"). */
int spec_read_tenant(struct reader *r, const json_t *j, const char *const *extra,
                     struct sched_tenant_spec *out);
int spec_read_cluster(struct reader *r, const json_t *j, struct sched_cluster_spec *out);
int spec_read_node(struct reader *r, const json_t *j, struct sched_node_spec *out);
int spec_read_workspace(struct reader *r, const json_t *j, const char *default_tenant,
                        struct sched_workspace_spec *out);
int spec_read_workspace_patch(struct reader *r, const json_t *j,
                              struct sched_workspace_spec *inout);
/* with_topology: the journal's scheduler op, which also carries the platform's topology. */
int spec_read_scheduler(struct reader *r, const json_t *j, bool with_topology,
                        struct sched_options *inout);
/* A platform's `topology`: the array v (at r's path) of at most SCHED_MAX_TOPOLOGY_LEVELS
 * distinct label keys, widest level first (docs/policy.md, "Topology"), into inout's
 * topology and n_topology (the names in r's arena). */
int spec_read_topology(struct reader *r, const json_t *v, struct sched_options *inout);
/* A node's labels {key: value} (at most SCHED_MAX_LABELS; keys and values of 1 to
 * SCHEMA_MAX_LABEL bytes without control characters), wherever they are given (a node, an
 * agent's report). OUT labels (room for SCHED_MAX_LABELS; strings in r's arena), *n_labels. */
int spec_read_labels(struct reader *r, const json_t *map, struct sched_label *labels,
                     uint32_t *n_labels);

#endif
