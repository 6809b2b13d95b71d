/* Journal ops: the names every writer of ops uses, and the readers that turn one op
 * ({"op": name, ...} from an API handler, an agent's report, a timer or the journal) into a
 * typed struct, refusing a bad one with the field named. What each op does to the engine is
 * the controller's (src/allotd/ops.c, one table of name, reader and apply). */
#ifndef ALLOT_SCHEMA_OP_H
#define ALLOT_SCHEMA_OP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "schema/reader.h"
#include "schema/workload.h"
#include "sched/sched.h"

/* The ops' names, as they are written in the journal: never change one. */
#define OP_SCHEDULE "schedule" /* {t}: the commit's scheduling pass */
#define OP_SCHEDULER                                                                               \
    "scheduler"        /* {spec: {default_grace?, starvation_age?, checkpoint_aware?, topology?}} */
#define OP_TICK "tick" /* {}: time alone may change a decision */
#define OP_TENANT_ADD "tenant_add"             /* {spec: tenant} */
#define OP_TENANT_UPDATE "tenant_update"       /* {tenant, spec: {limits: {queued}}} */
#define OP_CLUSTER_ADD "cluster_add"           /* {spec: cluster} */
#define OP_NODE_ADD "node_add"                 /* {spec: node} */
#define OP_WORKSPACE_ADD "workspace_add"       /* {spec: workspace} */
#define OP_WORKSPACE_UPDATE "workspace_update" /* {workspace, spec: partial workspace} */
#define OP_NODE_STATE "node_state" /* {node, state: ready|draining|down, reason?, by?} */
#define OP_GPU_HEALTH "gpu_health" /* {node, index, healthy} */
#define OP_NODE_MOVE "node_move"   /* {node, tenant: name|null, wipe?} */
#define OP_NODE_WIPED "node_wiped" /* {node, tenant: name|null} */
#define OP_NODE_MOVE_CANCEL "node_move_cancel" /* {node} */
#define OP_SUBMIT "submit"                     /* {user?, spec: workload} */
#define OP_CANCEL "cancel"                     /* {workload} */
#define OP_FINISH "finish"                     /* {workload, rank?, exit?} */
#define OP_STOPPED "stopped"                   /* {workload, rank?, exit?} */
#define OP_FORGET "forget" /* {workload}: an ended workload leaves the engine for the history */
/* {workload, at?}: it saved its work at `at` (ms; absent: the op's time) */
#define OP_CHECKPOINT "checkpoint"

/* Bytes of a workload's full name ("tenant/workspace/name") in an op. */
#define OP_MAX_WORKLOAD_NAME 400

/* {spec: {default_grace?, starvation_age?, checkpoint_aware?, topology?}}: the engine's options
 * that are given. */
struct op_scheduler {
    bool has_grace, has_age;
    int64_t default_grace_ms, starvation_age_ms;
    bool has_checkpoint_aware, checkpoint_aware;
    bool has_topology; /* topology: the platform's levels (docs/policy.md, "Topology") */
    uint32_t n_topology;
    const char *topology[SCHED_MAX_TOPOLOGY_LEVELS];
};

/* {workspace, spec}: the patch is read against the workspace as it is (by the apply, with
 * spec_workspace_patch_from_json), so only its shape is checked here. */
struct op_workspace_update {
    const char *workspace;
    const json_t *spec;
};

/* {tenant, spec}: read against the tenant as it is (spec_tenant_patch_from_json, by the
 * apply), so only its shape is checked here. */
struct op_tenant_update {
    const char *tenant;
    const json_t *spec;
};

/* Bytes of a node's drain reason at most (docs/api.md, "Node maintenance"). */
#define OP_MAX_NODE_REASON 200

struct op_node_state {
    const char *node;
    enum sched_node_state state;
    const char *reason; /* why (at most OP_MAX_NODE_REASON bytes, no control characters), or
                         * NULL */
    const char *by;     /* the user who asked, or NULL (allotd itself) */
};

struct op_gpu_health {
    const char *node;
    uint32_t index; /* checked against the node's GPUs by the apply */
    bool healthy;
};

/* node_move, node_wiped and node_move_cancel (node alone). */
struct op_node_tenant {
    const char *node;
    const char *tenant; /* NULL: none */
    bool wipe;          /* node_move: the node joins its tenant after its agent wiped it */
};

struct op_submit {
    struct workload_spec workload;
    const char *user; /* "" when not given */
    const json_t *spec;
};

/* cancel, finish, stopped. */
struct op_workload_end {
    const char *workload;
    bool has_rank;      /* the op is about one replica of a gang: rank */
    int64_t rank;       /* any integer: one out of the gang's range ends nothing */
    const json_t *exit; /* {code?, signal?, reason?, time_limit?} as its agent reported, or
                         * NULL */
    bool failed;        /* exit has a non-zero code or a signal, or time_limit */
    bool time_limit;    /* exit says its agent stopped it at its time limit */
};

/* checkpoint: when workload saved its work (sched_checkpoint). */
struct op_checkpoint {
    const char *workload;
    bool has_at;
    int64_t at_ms; /* >= 0; checked against its start and the op's time by the apply */
};

/* One op, read. The member that holds is the one of its reader; strings point into the op's
 * document or into the reader's arena, and live as long as both. */
struct op {
    const char *name;
    union {
        struct op_scheduler scheduler;
        struct sched_tenant_spec tenant;
        struct op_tenant_update tenant_update;
        struct sched_cluster_spec cluster;
        struct sched_node_spec node;
        struct sched_workspace_spec workspace;
        struct op_workspace_update workspace_update;
        struct op_node_state node_state;
        struct op_gpu_health gpu_health;
        struct op_node_tenant node_tenant;
        struct op_submit submit;
        struct op_workload_end end;
        struct op_checkpoint checkpoint;
    } u;
};

/* A reader of one kind of op: checks the op object j and fills out->u (not out->name).
 * Strings go into arena a. RET 0, or a negative error with err filled (struct schema_error);
 * the field of a spec's error is the spec's own ("name", "gpus[1]"), as for the API body it
 * came from. */
typedef int (*op_reader)(const json_t *j, struct arena *a, struct op *out,
                         struct schema_error *err);

/* The readers, one per kind of op (schedule and tick have no fields: op_read_bare). */
int op_read_bare(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_scheduler(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_tenant(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_cluster(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_node(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_workspace(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_tenant_update(const json_t *j, struct arena *a, struct op *out,
                          struct schema_error *err);
int op_read_workspace_update(const json_t *j, struct arena *a, struct op *out,
                             struct schema_error *err);
int op_read_node_state(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_gpu_health(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_node_move(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_node_wiped(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_node_move_cancel(const json_t *j, struct arena *a, struct op *out,
                             struct schema_error *err);
/* Whether reason is a node's drain reason: a string of at most OP_MAX_NODE_REASON bytes without
 * control characters (C0, DEL, C1). RET 0, or -ALLOT_EINVAL with a sentence in err (len bytes). */
int op_node_reason_check(const json_t *reason, char *err, size_t len);
int op_read_submit(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);
int op_read_workload_end(const json_t *j, struct arena *a, struct op *out,
                         struct schema_error *err);
int op_read_checkpoint(const json_t *j, struct arena *a, struct op *out, struct schema_error *err);

/* The op's name ("op"), or NULL with err naming the field "op". */
const char *op_name(const json_t *j, struct schema_error *err);

#endif
