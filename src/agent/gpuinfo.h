/* What the node agent knows of its GPUs: discovered through NVML (nvml.h: loaded at run time,
 * read only) or declared on the command line where there is no driver, and reported to the
 * controller as JSON. Rules and mapping: docs/agent-discovery.md. */
#ifndef ALLOT_AGENT_GPUINFO_H
#define ALLOT_AGENT_GPUINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sched/mig.h"

/* Most GPUs one node reports. */
#define GPUINFO_MAX_GPUS 32
/* Health rule (docs/agent-discovery.md): a GPU at or above this temperature is unhealthy. */
#define GPUINFO_TEMP_LIMIT_C 90
/* Longest declared inventory accepted by gpuinfo_declare(), in bytes. */
#define GPUINFO_SPEC_MAX 1024

struct gpuinfo_mig {
    char uuid[96];    /* "MIG-..." from NVML, "DECLARED-<gpu>-MIG-<k>" when declared */
    char profile[32]; /* a profile of the GPU's model ("3g.40gb"); "" when it cannot be told */
    int start;        /* first memory slice; -1 when NVML does not let the agent read it */
};

struct gpuinfo_gpu {
    uint32_t index;       /* NVML index, or position in the declared inventory */
    char uuid[96];        /* "GPU-..." from NVML, "DECLARED-<index>" when declared */
    char name[96];        /* NVML device name ("NVIDIA H100 80GB HBM3"); the model when declared */
    enum gpu_model model; /* GPU_MODEL_OTHER when the name or memory is not one Allot knows */
    uint64_t memory_bytes;
    bool mig_enabled;
    uint32_t n_mig;
    struct gpuinfo_mig mig[MIG_MAX_INSTANCES]; /* ordered by NVML MIG device index */
    int utilization_pct;     /* -1: not offered (MIG-enabled GPUs, declared GPUs) */
    int temperature_c;       /* -1: not offered */
    int64_t ecc_uncorrected; /* volatile uncorrected ECC errors; -1: not offered */
    bool healthy;
    char health_reason[128]; /* why not healthy; "" when healthy */
};

struct gpuinfo {
    uint32_t n;
    struct gpuinfo_gpu gpus[GPUINFO_MAX_GPUS];
    bool discovered; /* true: read from NVML; false: declared */
    char driver[64]; /* driver version from NVML; "" when declared or not offered */
};

/* Build the inventory of a machine without NVML from spec: groups separated by ',', each
 * "<count>x<model>" with an optional ":mig=<profile>[@<start>]+<profile>..." that gives every
 * GPU of the group that MIG layout ("8xH100-80GB", "4xA100-40GB,2xL40S",
 * "1xH100-80GB:mig=3g.40gb+3g.40gb"). Layouts are checked and placed by mig_layout_place().
 * UUIDs are "DECLARED-<index>" (MIG: "DECLARED-<index>-MIG-<k>"), identical on every node.
 * RET: 0 with out->discovered false; -ALLOT_EPARSE for malformed text, -ALLOT_ERANGE for a
 * count outside 1..GPUINFO_MAX_GPUS (per group and in all), -ALLOT_ECONFIG for an unknown
 * model or profile or an impossible layout; err (len bytes) names the offending part. On error
 * out is left with n = 0. */
int gpuinfo_declare(const char *spec, struct gpuinfo *out, char *err, size_t len);

/* The model a device of this NVML name and total memory is, by the family in its name and
 * the size of its memory (docs/agent-discovery.md); GPU_MODEL_OTHER when neither fits. */
enum gpu_model gpuinfo_model_of(const char *name, uint64_t memory_bytes);

/* The report of g: {discovered, driver, gpus:[{index, uuid, name, model, memory, mig_enabled,
 * mig:[{uuid, profile, start}], utilization, temperature, ecc_uncorrected, healthy,
 * health_reason}]}; values not offered are null. A new reference, or NULL without memory. */
json_t *gpuinfo_to_json(const struct gpuinfo *g);

#endif
