/* The JSON codec of allotd's API: request bodies to engine specs, checked field by field with
 * errors that name the field, and engine objects to the JSON views GET answers. Field names
 * and value formats are those of the YAML platform schema (docs/simulator.md). */
#ifndef ALLOT_ALLOTD_SPEC_H
#define ALLOT_ALLOTD_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "sched/sched.h"

/* Input bounds. Names, weights, priorities and whole GPUs per replica are bounded as in the
 * YAML schema (config/platform.h, config/scenario.c), so both front doors accept the same. */
#define SPEC_MAX_NAME 63
#define SPEC_MAX_WEIGHT 1000000
#define SPEC_MAX_PRIORITY 1000000
#define SPEC_MAX_GPUS 1024
#define SPEC_MAX_LABEL 253       /* label keys and values: the bound Kubernetes uses */
#define SPEC_MAX_STRING 4096     /* any string not bounded otherwise (quantities, profiles) */
#define SPEC_MAX_DEPTH 8         /* nesting of arrays and objects in one body */
#define SPEC_MAX_COMMAND 64      /* arguments of a command */
#define SPEC_MAX_ARG 4096        /* bytes of one argument */
#define SPEC_MAX_ENV 64          /* environment variables of a workload */
#define SPEC_MAX_ENV_NAME 256    /* bytes of an environment variable's name */
#define SPEC_MAX_ENV_VALUE 4096  /* bytes of its value */
#define SPEC_MAX_IDEMPOTENCY 128 /* bytes of an idempotency key */

/* Why a body was refused. code: -ALLOT_EINVAL for a wrong type, format, name or unknown key
 * (strings too long included); -ALLOT_ERANGE for a number or a count (items, depth, array
 * length) outside its range; -ALLOT_ENOMEM when the arena could not grow. field: the path of
 * the value at fault ("gpus", "limits.memory", "gpus[1].mig[0]"; "" for the body itself).
 * message: one sentence for people, without the field; user text in it is cut to 64 bytes
 * and its unprintable bytes replaced by '?'. */
struct spec_error {
    char field[128];
    char message[256];
    int code;
};

/* One environment variable of a workload. */
struct spec_env {
    const char *name;
    const char *value;
};

/* A workload submission: the engine's request plus what only the daemon uses. */
struct spec_workload {
    struct sched_workload_spec w;
    const char *const *command; /* n_command arguments; NULL when not given */
    uint32_t n_command;
    const struct spec_env *env; /* n_env variables, in the order given */
    uint32_t n_env;
    int64_t duration_ms;         /* virtual run time on simulated nodes; -1: until stopped */
    const char *idempotency_key; /* NULL when not given */
};

/* Whether s (n bytes) is a name: [a-z0-9][a-z0-9._-]*, 1 to SPEC_MAX_NAME bytes. */
bool spec_is_name(const char *s, size_t n);
/* Whether s is a workspace's full name: "tenant/workspace", both parts names. */
bool spec_is_workspace_name(const char *s);

/* Walk a parsed document and refuse one nested deeper than max_depth containers (a bare
 * object or array is depth 1) or holding more than max_items values in all (the root
 * included). Runs before any reader, right after json_loadb, so that no reader meets a
 * document of unbounded shape. RET 0, or -ALLOT_ERANGE with err naming the container that
 * went too deep or too wide. */
int spec_check_bounds(const json_t *j, int max_depth, size_t max_items, struct spec_error *err);

/* Readers: each takes the JSON body j of one object, checks every field (types, names,
 * ranges, unknown keys; a JSON null is refused, but where a field says it means "none":
 * a tenant's max_grace, a cluster's dedicated_to, a node's tenant), and fills *out only when
 * it returns 0. Strings and arrays *out points to are copied into arena a and live as long
 * as it. Values the engine checks against its state (unknown tenant or cluster, duplicate
 * names, reservations beyond the tenant's GPUs) are left to the engine. RET 0, or a negative
 * error with err filled (see struct spec_error). err may be NULL. */

/* Only the check of check_object, for bodies read without a reader of this module: j is an
 * object whose keys are all in keys (NULL-terminated), none null unless in nullable (or
 * NULL). RET 0, or -ALLOT_EINVAL with err naming the field. */
int spec_check_fields(const json_t *j, const char *const *keys, const char *const *nullable,
                      struct spec_error *err);

/* {name, isolation?: shared|dedicated, max_grace?} */
int spec_tenant_from_json(const json_t *j, struct arena *a, struct sched_tenant_spec *out,
                          struct spec_error *err);
/* {name, dedicated_to?} */
int spec_cluster_from_json(const json_t *j, struct arena *a, struct sched_cluster_spec *out,
                           struct spec_error *err);
/* {name, cluster, tenant?, cpu, memory, state?, labels?: {key: value},
 *  gpus?: [{model, count?, healthy?, mig?: [profile | {profile, start?}]}]}: each gpus entry
 * stands for count GPUs; MIG layouts are checked and placed with mig_layout_place, so that
 * out->gpus[i].mig[k].start is always set. */
int spec_node_from_json(const json_t *j, struct arena *a, struct sched_node_spec *out,
                        struct spec_error *err);
/* {name, reserved?: {gpu}, limits?: {gpu?, cpu?, memory?, storage?}, lend?, weight?}. A limit
 * may be "none" (no limit, the default). name is "tenant/workspace"; with default_tenant not
 * NULL it may also be the bare workspace name, and a full name must then be in that tenant.
 * out->name is always the full name. */
int spec_workspace_from_json(const json_t *j, const char *default_tenant, struct arena *a,
                             struct sched_workspace_spec *out, struct spec_error *err);
/* A partial change of the workspace *inout, which the caller fills with its current values:
 * only the fields given change (each limit on its own). name may be given only if it names
 * the same workspace (full or bare). *inout is changed only when 0 is returned. */
int spec_workspace_patch_from_json(const json_t *j, struct arena *a,
                                   struct sched_workspace_spec *inout, struct spec_error *err);
/* {name, workspace: "tenant/workspace", kind?, priority?, gpus? | mig?, model?, replicas?, cpu?,
 *  memory?, storage?, preemptible?, grace?, command?: [string], env?: {name: value},
 *  duration?, idempotency_key?}. gpus is whole GPUs per replica (a fraction is refused with a
 * pointer to mig). */
int spec_workload_from_json(const json_t *j, struct arena *a, struct spec_workload *out,
                            struct spec_error *err);

/* Views: each returns a new JSON object (the caller owns the reference) describing object id
 * of s, or NULL when id is out of range or memory ran out. Quantities are printed with
 * quantity_format_* in the formats the readers accept, so a view's fields can be sent back. */

/* {name, isolation, max_grace (null: no cap), nodes, gpus: {owned, healthy, free, reserved},
 *  degraded} */
json_t *spec_tenant_to_json(const struct sched *s, uint32_t id);
/* {name, dedicated_to (or null), nodes} */
json_t *spec_cluster_to_json(const struct sched *s, uint32_t id);
/* {name, cluster, tenant (or null), state, cpu, memory, cpu_used, memory_used, labels,
 *  gpus: [{index, model, healthy, holder (or null) | mig: [{profile, start, holder}]}]} */
json_t *spec_node_to_json(const struct sched *s, uint32_t id);
/* {name, tenant, reserved: {gpu}, limits: {gpu, cpu, memory, storage} ("none": no limit), lend,
 *  weight, usage: {gpu_held, gpu_guaranteed, gpu_borrowed, cpu, memory, storage, pending}}.
 * Guaranteed and borrowed split the workspace's position (held - draining + claimed) at its
 * reservation (docs/policy.md). */
json_t *spec_workspace_to_json(const struct sched *s, uint32_t id);
/* {name, workspace, tenant, kind, priority, preemptible, gpus | mig, model?, replicas, cpu,
 *  memory, storage, grace, state, reason? and reason_text? (while pending, reclaiming,
 *  draining, and once rejected or cancelled), borrowed, submitted (ms), started (ms of its
 *  last start, or null if it never ran), placement? (while reclaiming, running or draining:
 *  [{node, gpus: [index]}] or [{node, gpu, profile, start}], one per replica)}.
 * A workload rejected for an unknown workspace has workspace and tenant null. */
json_t *spec_workload_to_json(const struct sched *s, uint32_t id);

#endif
