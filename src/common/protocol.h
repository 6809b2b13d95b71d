/* The protocol between the node agent (src/agent/) and the controller (src/allotd/): its
 * routes, query parameters, field names, states and limits, spelled once for both programs.
 * The exchange itself is described in docs/agent.md and docs/api.md. */
#ifndef ALLOT_COMMON_PROTOCOL_H
#define ALLOT_COMMON_PROTOCOL_H

/* ---- Routes: patterns of the controller's route table, and the agent's paths ---- */

#define PROTOCOL_NODES "/v1/nodes/"
#define PROTOCOL_REPORT "/report"
#define PROTOCOL_LOGS "/logs"
/* POST {token}: the agent trades its one-time join token for its node token. */
#define PROTOCOL_ROUTE_JOIN "/v1/join"
/* POST the report; the answer is the node's desired set (a long poll: PROTOCOL_QUERY_WAIT). */
#define PROTOCOL_ROUTE_REPORT PROTOCOL_NODES "{node}" PROTOCOL_REPORT
/* POST a chunk of a replica's output (application/octet-stream); the answer is {end}. */
#define PROTOCOL_ROUTE_LOGS PROTOCOL_NODES "{node}" PROTOCOL_LOGS
/* The same two as printf formats of the node's name. */
#define PROTOCOL_PATH_REPORT PROTOCOL_NODES "%s" PROTOCOL_REPORT
#define PROTOCOL_PATH_LOGS PROTOCOL_NODES "%s" PROTOCOL_LOGS

/* ---- Query parameters ---- */

/* Of a report: hold the answer up to `wait` ms while the agent has `version` of `epoch`. */
#define PROTOCOL_QUERY_WAIT "wait"
#define PROTOCOL_QUERY_EPOCH "epoch"
#define PROTOCOL_QUERY_VERSION "version"
/* Of a log chunk: which stream of which replica, from which byte on. */
#define PROTOCOL_QUERY_WORKLOAD "workload"
#define PROTOCOL_QUERY_RANK "rank"
#define PROTOCOL_QUERY_ATTEMPT "attempt"
#define PROTOCOL_QUERY_STREAM "stream"
#define PROTOCOL_QUERY_OFFSET "offset"

/* ---- Fields ---- */

/* The join: the token sent, and the node token answered. */
#define PROTOCOL_FIELD_TOKEN "token"
/* A report: {inventory, workloads, tenant}. */
#define PROTOCOL_FIELD_INVENTORY "inventory"
/* The desired set's `inventory_wanted: true`: the controller knows no inventory of the node
 * (a new leader, a restart); the agent sends it in its next report. A report carries the
 * inventory only then, at the agent's start and when it changes. */
#define PROTOCOL_FIELD_INVENTORY_WANTED "inventory_wanted"
#define PROTOCOL_FIELD_WORKLOADS "workloads"
#define PROTOCOL_FIELD_TENANT "tenant" /* the tenant the node serves, or null */
/* The inventory: {discovered, driver, gpus, cpu_millicores, memory_bytes, labels}. */
#define PROTOCOL_FIELD_DISCOVERED "discovered"
#define PROTOCOL_FIELD_DRIVER "driver"
#define PROTOCOL_FIELD_GPUS "gpus"
#define PROTOCOL_FIELD_CPU_MILLICORES "cpu_millicores"
#define PROTOCOL_FIELD_MEMORY_BYTES "memory_bytes"
#define PROTOCOL_FIELD_LABELS "labels"
/* One GPU of the inventory: {index, uuid, healthy, mig: [{uuid, start}], ...}. */
#define PROTOCOL_FIELD_INDEX "index"
#define PROTOCOL_FIELD_UUID "uuid"
#define PROTOCOL_FIELD_HEALTHY "healthy"
#define PROTOCOL_FIELD_MIG "mig"
#define PROTOCOL_FIELD_START "start"
/* One reported workload: {name, rank, state, exit_code, signal, reason, checkpoint}
 * (checkpoint: a running one's checkpoint file's modification time, ms since the epoch). */
#define PROTOCOL_FIELD_NAME "name"
#define PROTOCOL_FIELD_RANK "rank"
#define PROTOCOL_FIELD_STATE "state"
#define PROTOCOL_FIELD_EXIT_CODE "exit_code"
#define PROTOCOL_FIELD_SIGNAL "signal"
#define PROTOCOL_FIELD_REASON "reason"
#define PROTOCOL_FIELD_CHECKPOINT "checkpoint"
/* true in a reported end when the agent stopped the replica at its time limit */
#define PROTOCOL_FIELD_TIME_LIMIT "time_limit"
/* The desired set: {node, epoch, version, tenant, workloads}, each workload {name, workspace,
 * state, rank, attempt, world_size, peers, gpu_indices, gpu_uuids, cpu_millicores,
 * memory_bytes, storage_bytes, grace_ms, mig, stop_by, command, env, image, workdir,
 * time_limit_ms}. time_limit_ms (absent: none): the agent stops the replica that long after it
 * started it, as a stop with grace_ms (docs/agent-running.md, "Time limits"). */
#define PROTOCOL_FIELD_NODE "node"
#define PROTOCOL_FIELD_EPOCH "epoch"
#define PROTOCOL_FIELD_VERSION "version"
#define PROTOCOL_FIELD_WORKSPACE "workspace"
#define PROTOCOL_FIELD_ATTEMPT "attempt"
#define PROTOCOL_FIELD_WORLD_SIZE "world_size"
#define PROTOCOL_FIELD_PEERS "peers"
#define PROTOCOL_FIELD_GPU_INDICES "gpu_indices"
#define PROTOCOL_FIELD_GPU_UUIDS "gpu_uuids"
#define PROTOCOL_FIELD_STORAGE_BYTES "storage_bytes"
#define PROTOCOL_FIELD_GRACE_MS "grace_ms"
#define PROTOCOL_FIELD_STOP_BY "stop_by"
#define PROTOCOL_FIELD_TIME_LIMIT_MS "time_limit_ms"
#define PROTOCOL_FIELD_COMMAND "command"
#define PROTOCOL_FIELD_ENV "env"
/* The OCI image the replica runs in ("name:tag" of the node's image store) and the working
 * directory in it; absent for a bare process. */
#define PROTOCOL_FIELD_IMAGE "image"
#define PROTOCOL_FIELD_WORKDIR "workdir"
/* The answer to a log chunk: where the controller's copy of the stream now ends. */
#define PROTOCOL_FIELD_END "end"

/* ---- States and streams ---- */

/* Of a workload in the desired set. */
#define PROTOCOL_STATE_RUNNING "running"
#define PROTOCOL_STATE_DRAINING "draining"
/* Of a workload in a report: running, or how it ended. */
#define PROTOCOL_STATE_EXITED "exited"
#define PROTOCOL_STATE_STOPPED "stopped"
#define PROTOCOL_STATE_GONE "gone"
/* The streams of a replica's output. */
#define PROTOCOL_STREAM_STDOUT "stdout"
#define PROTOCOL_STREAM_STDERR "stderr"

/* ---- Limits ---- */

/* The longest the controller holds a report (its `wait`), ms; the agent's --keepalive. */
#define PROTOCOL_MAX_WAIT_MS 120000
/* Workloads one report may list (running and ended ones). */
#define PROTOCOL_MAX_REPORTED 4096
/* Bytes of one chunk of output. */
#define PROTOCOL_MAX_LOG_CHUNK (256 * 1024)
/* Longest name of a reported workload, bytes. */
#define PROTOCOL_MAX_WORKLOAD_NAME 400
/* Longest label key or value (bytes): the bound of a label everywhere (schema/reader.h), and
 * the longest tenant name. */
#define PROTOCOL_MAX_LABEL 253
#define PROTOCOL_MAX_TENANT 63

#endif
