/* The reader of a node agent's report (POST /v1/nodes/{node}/report, docs/agent.md): its
 * inventory (GPU health, the CPUs, memory and labels it sees), the state of its workloads and
 * the tenant it serves, all checked before the controller applies anything of it. */
#ifndef ALLOT_SCHEMA_NODEREPORT_H
#define ALLOT_SCHEMA_NODEREPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/protocol.h"
#include "schema/reader.h"

/* Its bounds are the protocol's (common/protocol.h): PROTOCOL_MAX_REPORTED workloads, full
 * names of PROTOCOL_MAX_WORKLOAD_NAME bytes; labels are read as a node's labels are
 * everywhere (spec_read_labels). */

/* The latest time a report may carry (ms since the epoch: the year 2200). */
#define NODEREPORT_MAX_TIME_MS 7258118400000LL

/* What the agent says of one GPU of its node. */
struct nodereport_gpu {
    uint32_t index;
    bool healthy;
};

/* The state of one of its processes. */
enum nodereport_state {
    NODEREPORT_RUNNING,
    NODEREPORT_EXITED,
    NODEREPORT_STOPPED,
    NODEREPORT_GONE
};

/* One workload replica the agent runs or ran. The exit values are copied into the op that
 * ends the workload as the agent gave them (NULL when not given). */
struct nodereport_workload {
    const char *name;
    enum nodereport_state state;
    const json_t *exit_code, *signal, *reason;
    const json_t *rank;    /* an integer (a gang's replica), or NULL */
    int64_t checkpoint_ms; /* running: its checkpoint file's modification time (ms since the
                            * epoch, > 0), or 0 when not given */
    bool time_limit;       /* its agent stopped it at its time limit */
};

/* A report, read. Pointers go into the report's document (and the arena); inventory is the
 * whole object as sent, kept by the controller for the node's view. */
struct nodereport {
    const json_t *inventory; /* NULL when not given */
    const struct nodereport_gpu *gpus;
    uint32_t n_gpus;
    const json_t *cpu_millicores, *memory_bytes; /* whole numbers >= 0, or NULL */
    const struct nodereport_workload *workloads;
    uint32_t n_workloads;
    bool has_tenant;    /* the agent said which tenant it serves */
    const char *tenant; /* that tenant, or NULL for none */
};

/* Read report j of a node with node_gpus GPUs: {inventory?: {gpus?: [{index, healthy, ...}],
 * cpu_millicores?, memory_bytes?, labels?, ...}, workloads?: [{name, state: running | exited
 * | stopped | gone, rank?, exit_code?, signal?, reason?, checkpoint?}], tenant?: name | null}
 * (checkpoint: a whole number of milliseconds, 1 .. NODEREPORT_MAX_TIME_MS; whether it is
 * plausible for the workload is the controller's to judge). Fills *out
 * only when it returns 0; arrays go into arena a. RET 0, or -ALLOT_EINVAL (or -ALLOT_ENOMEM)
 * with err naming the field ("inventory.gpus[1]", "workloads[0]"). */
int nodereport_from_json(const json_t *j, uint32_t node_gpus, struct arena *a,
                         struct nodereport *out, struct schema_error *err);

#endif
