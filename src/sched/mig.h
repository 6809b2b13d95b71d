/* GPU models and MIG geometry: which profiles each model offers, where instances may be
 * placed, and what share of a GPU each instance is charged (docs/policy.md). */
#ifndef ALLOT_SCHED_MIG_H
#define ALLOT_SCHED_MIG_H

#include <stdbool.h>
#include <stdint.h>

enum gpu_model {
    GPU_MODEL_H100_80GB,
    GPU_MODEL_H200_141GB,
    GPU_MODEL_A100_40GB,
    GPU_MODEL_A100_80GB,
    GPU_MODEL_A30_24GB,
    GPU_MODEL_L40S,
    GPU_MODEL_OTHER,
    GPU_MODEL_COUNT
};

/* Most instances one GPU can hold (seven 1g slices). */
#define MIG_MAX_INSTANCES 7
/* Distinct profile names across all models. */
#define MIG_MAX_NAMES 32

struct mig_profile {
    const char *name;  /* "3g.40gb" */
    uint8_t id;        /* NVML profile id (mig.md) */
    uint8_t compute;   /* compute slices */
    uint8_t memory;    /* memory slices: also the placement size */
    uint8_t max_count; /* most instances of this profile on one GPU */
    uint8_t starts;    /* bit i set: may start at memory slice i */
    int32_t units;     /* charge in QUANTITY_GPU_UNITS: dominant of compute and memory share */
    uint8_t name_id;   /* index in the global name table (mig_name) */
};

struct gpu_model_info {
    const char *name;       /* "H100-80GB" */
    uint8_t compute_slices; /* 0: the model has no MIG */
    uint8_t memory_slices;
    uint8_t n_profiles;
    const struct mig_profile *profiles;
};

/* Model info for m (valid enum value). */
const struct gpu_model_info *mig_model(enum gpu_model m);
/* RET: 0 and *m set, or -ALLOT_ENOENT for an unknown model name. */
int mig_model_parse(const char *name, enum gpu_model *m);
/* Global id of a profile name, or -ALLOT_ENOENT if no model offers it. */
int mig_name_id(const char *profile);
/* Name for a global id; NULL if out of range. */
const char *mig_name(int name_id);
/* The profile of model m with global name id, or NULL if m does not offer it. */
const struct mig_profile *mig_profile_of(enum gpu_model m, int name_id);

struct mig_instance_spec {
    int8_t profile; /* index in the model's profile table */
    int8_t start;   /* first memory slice; -1: choose (mig_layout_place) */
};

/* Check a layout of n instances for model m: profiles offered, allowed starts, no overlap,
 * compute and per-profile counts within the GPU. Instances with start -1 are placed first,
 * largest first, at the lowest free allowed start, and their start is written back.
 * RET: 0, or -ALLOT_ECONFIG with a sentence in err (len bytes) naming the problem. */
int mig_layout_place(enum gpu_model m, struct mig_instance_spec *inst, int n, char *err,
                     unsigned long len);

#endif
