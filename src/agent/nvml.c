/* GPU discovery through NVML: the library opened with dlopen and only read (never a set,
 * create or destroy call), each device's model, memory, MIG layout and health. What is read
 * and how it maps to Allot's models and profiles: docs/agent-discovery.md. */
#include "agent/nvml.h"

#include <assert.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* ---- NVML's ABI: the few declarations the agent needs ------------------------------------
 * No NVML header is packaged here, so these are transcribed from nvml.h (CUDA 11.1 and later;
 * the layouts have not changed since). The typedef'd names are NVML's own, kept so that the
 * code reads like NVML's documentation. Only functions with plain scalar, string or small
 * fixed-struct arguments are used; every struct below is one NVML writes whole. */
typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_UNKNOWN = 999,
} nvmlReturn_t;

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;

typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;
typedef enum nvmlMemoryErrorType_enum {
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
} nvmlMemoryErrorType_t;
typedef enum nvmlEccCounterType_enum { NVML_VOLATILE_ECC = 0 } nvmlEccCounterType_t;

#define NVML_DEVICE_MIG_ENABLE 1u
/* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define NVML_DRIVER_VERSION_SIZE 80u

typedef struct nvmlMemory_st {
    unsigned long long total; /* bytes */
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlUtilization_st {
    unsigned int gpu; /* percent of time a kernel ran over the last sample period */
    unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlGpuInstancePlacement_st {
    unsigned int start; /* first memory slice */
    unsigned int size;  /* memory slices */
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceInfo_st {
    nvmlDevice_t device;
    unsigned int id;
    unsigned int profileId; /* the profile id of mig.md: 19 for 1g.10gb, 9 for 3g.40gb... */
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

/* The layout of nvmlDeviceGetAttributes_v2 (R450 and later). */
typedef struct nvmlDeviceAttributes_st {
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
    unsigned int gpuInstanceSliceCount; /* compute slices of the MIG device's GPU instance */
    unsigned int computeInstanceSliceCount;
    unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t layout");
_Static_assert(sizeof(nvmlGpuInstancePlacement_t) == 8, "nvmlGpuInstancePlacement_t layout");
_Static_assert(sizeof(nvmlDeviceAttributes_t) == 40, "nvmlDeviceAttributes_t layout");
_Static_assert(sizeof(void *) != 8 || sizeof(nvmlGpuInstanceInfo_t) == 24,
               "nvmlGpuInstanceInfo_t layout");
/* dlsym's void * is stored into function pointers (POSIX guarantees the conversion). */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

/* The resolved entry points. Read-only by construction: no set/create/destroy is declared. */
struct nvml {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    const char *(*error_string)(nvmlReturn_t);
    nvmlReturn_t (*driver_version)(char *, unsigned int);
    nvmlReturn_t (*device_count)(unsigned int *);
    nvmlReturn_t (*device_by_index)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*device_name)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*device_uuid)(nvmlDevice_t, char *, unsigned int);
    nvmlReturn_t (*device_memory)(nvmlDevice_t, nvmlMemory_t *);
    nvmlReturn_t (*device_mig_mode)(nvmlDevice_t, unsigned int *, unsigned int *);
    nvmlReturn_t (*device_utilization)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*device_temperature)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned int *);
    nvmlReturn_t (*device_ecc_total)(nvmlDevice_t, nvmlMemoryErrorType_t, nvmlEccCounterType_t,
                                     unsigned long long *);
    nvmlReturn_t (*device_max_mig)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*device_mig_by_index)(nvmlDevice_t, unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*device_gpu_instance_id)(nvmlDevice_t, unsigned int *);
    nvmlReturn_t (*device_attributes)(nvmlDevice_t, nvmlDeviceAttributes_t *);
    nvmlReturn_t (*device_gpu_instance_by_id)(nvmlDevice_t, unsigned int, nvmlGpuInstance_t *);
    nvmlReturn_t (*gpu_instance_info)(nvmlGpuInstance_t, nvmlGpuInstanceInfo_t *);
};

/* Every symbol the agent resolves. Optional ones may be missing from older drivers: what they
 * would have read is then "not offered". */
static const struct nvml_symbol {
    const char *name;
    size_t offset;
    bool required;
} nvml_symbols[] = {
    {"nvmlInit_v2", offsetof(struct nvml, init), true},
    {"nvmlShutdown", offsetof(struct nvml, shutdown), true},
    {"nvmlErrorString", offsetof(struct nvml, error_string), true},
    {"nvmlSystemGetDriverVersion", offsetof(struct nvml, driver_version), false},
    {"nvmlDeviceGetCount_v2", offsetof(struct nvml, device_count), true},
    {"nvmlDeviceGetHandleByIndex_v2", offsetof(struct nvml, device_by_index), true},
    {"nvmlDeviceGetName", offsetof(struct nvml, device_name), true},
    {"nvmlDeviceGetUUID", offsetof(struct nvml, device_uuid), true},
    {"nvmlDeviceGetMemoryInfo", offsetof(struct nvml, device_memory), true},
    {"nvmlDeviceGetMigMode", offsetof(struct nvml, device_mig_mode), false},
    {"nvmlDeviceGetUtilizationRates", offsetof(struct nvml, device_utilization), false},
    {"nvmlDeviceGetTemperature", offsetof(struct nvml, device_temperature), false},
    {"nvmlDeviceGetTotalEccErrors", offsetof(struct nvml, device_ecc_total), false},
    {"nvmlDeviceGetMaxMigDeviceCount", offsetof(struct nvml, device_max_mig), false},
    {"nvmlDeviceGetMigDeviceHandleByIndex", offsetof(struct nvml, device_mig_by_index), false},
    {"nvmlDeviceGetGpuInstanceId", offsetof(struct nvml, device_gpu_instance_id), false},
    {"nvmlDeviceGetAttributes_v2", offsetof(struct nvml, device_attributes), false},
    {"nvmlDeviceGetGpuInstanceById", offsetof(struct nvml, device_gpu_instance_by_id), false},
    {"nvmlGpuInstanceGetInfo", offsetof(struct nvml, gpu_instance_info), false},
};

#define N_SYMBOLS (sizeof(nvml_symbols) / sizeof(nvml_symbols[0]))
/* A MIG-capable GPU has at most 7 MIG devices; this only bounds a misbehaving library. */
#define MIG_INDEX_LIMIT 64u

/* ---- Health ----------------------------------------------------------------------------- */

/* Mark g unhealthy and append a reason (joined with "; ", truncated to the field). */
static void health_add(struct gpuinfo_gpu *g, const char *fmt, ...)
{
    size_t used = strlen(g->health_reason);
    g->healthy = false;
    if (used && used + 2 < sizeof(g->health_reason)) {
        memcpy(g->health_reason + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= sizeof(g->health_reason))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->health_reason + used, sizeof(g->health_reason) - used, fmt, ap);
    va_end(ap);
}

/* NVML answers that mean "this is not offered here" rather than "this device failed": no
 * such feature, no permission (MIG placement needs root), nothing at that index. */
static bool not_offered(nvmlReturn_t r)
{
    return r == NVML_ERROR_NOT_SUPPORTED || r == NVML_ERROR_NO_PERMISSION ||
           r == NVML_ERROR_NOT_FOUND || r == NVML_ERROR_FUNCTION_NOT_FOUND;
}

static const char *nvml_message(const struct nvml *api, nvmlReturn_t r)
{
    const char *s = api->error_string(r);
    return s ? s : "unknown error";
}

/* Record that call failed with r on g: the device is unhealthy (docs/agent-discovery.md). */
static void device_error(const struct nvml *api, struct gpuinfo_gpu *g, const char *call,
                         nvmlReturn_t r)
{
    health_add(g, "NVML %s: %s", call, nvml_message(api, r));
}

/* Copy an NVML string result, NUL-terminated whatever the library wrote. */
static void terminate(char *buf, size_t size)
{
    buf[size - 1] = '\0';
}

/* ---- MIG -------------------------------------------------------------------------------- */

/* What NVML told about one MIG device; -1 where it told nothing. */
struct mig_facts {
    int profile_id; /* NVML GPU instance profile id */
    int compute;    /* compute slices of the GPU instance */
    int memory;     /* memory slices of the GPU instance */
};

/* The profile of model m that the facts describe, or NULL when they do not name one. A
 * matching profile id wins; otherwise compute and memory slices, where profiles that differ
 * only by engines ("1g.10gb" and "1g.10gb+me") resolve to the first, plain one; with memory
 * alone, only when every candidate has the same compute slices. */
static const struct mig_profile *mig_match(enum gpu_model m, const struct mig_facts *f)
{
    const struct gpu_model_info *info = mig_model(m);
    const struct mig_profile *first = NULL;
    for (int i = 0; f->profile_id >= 0 && i < info->n_profiles; i++) {
        const struct mig_profile *p = &info->profiles[i];
        if (p->id == f->profile_id && (f->compute < 0 || p->compute == f->compute) &&
            (f->memory < 0 || p->memory == f->memory))
            return p;
    }
    if (f->memory < 0)
        return NULL;
    for (int i = 0; i < info->n_profiles; i++) {
        const struct mig_profile *p = &info->profiles[i];
        if (p->memory != f->memory || (f->compute >= 0 && p->compute != f->compute))
            continue;
        if (!first)
            first = p;
        else if (first->compute != p->compute)
            return NULL; /* memory alone cannot tell 3g.40gb from 4g.40gb */
    }
    return first;
}

/* Placement and profile id of the MIG device mdev of parent, through its GPU instance. NVML
 * asks for root here; without it the facts stay -1 and *start too. Errors other than "not
 * offered" mark g unhealthy. */
static void mig_placement(const struct nvml *api, nvmlDevice_t parent, nvmlDevice_t mdev,
                          struct gpuinfo_gpu *g, struct mig_facts *f, int *start)
{
    unsigned int gi_id = 0;
    nvmlGpuInstance_t gi = NULL;
    nvmlGpuInstanceInfo_t info;
    nvmlReturn_t r;
    if (!api->device_gpu_instance_id || !api->device_gpu_instance_by_id || !api->gpu_instance_info)
        return;
    r = api->device_gpu_instance_id(mdev, &gi_id);
    if (r == NVML_SUCCESS) {
        r = api->device_gpu_instance_by_id(parent, gi_id, &gi);
        if (r == NVML_SUCCESS) {
            memset(&info, 0, sizeof(info));
            r = api->gpu_instance_info(gi, &info);
            if (r != NVML_SUCCESS && !not_offered(r))
                device_error(api, g, "nvmlGpuInstanceGetInfo", r);
        } else if (!not_offered(r)) {
            device_error(api, g, "nvmlDeviceGetGpuInstanceById", r);
        }
    } else if (!not_offered(r)) {
        device_error(api, g, "nvmlDeviceGetGpuInstanceId", r);
    }
    if (r != NVML_SUCCESS)
        return;
    if (info.placement.start < 8 && info.placement.size >= 1 && info.placement.size <= 8) {
        *start = (int)info.placement.start;
        f->memory = (int)info.placement.size;
    }
    if (info.profileId < 256)
        f->profile_id = (int)info.profileId;
}

/* Read one MIG device into g->mig[g->n_mig]; errors mark g unhealthy. */
static void mig_read(const struct nvml *api, nvmlDevice_t parent, nvmlDevice_t mdev,
                     struct gpuinfo_gpu *g)
{
    struct gpuinfo_mig *mi = &g->mig[g->n_mig++];
    struct mig_facts f = {-1, -1, -1};
    nvmlDeviceAttributes_t attr;
    nvmlMemory_t mem;
    nvmlReturn_t r;
    const struct gpu_model_info *info = mig_model(g->model);

    mi->start = -1;
    r = api->device_uuid(mdev, mi->uuid, sizeof(mi->uuid));
    if (r != NVML_SUCCESS) {
        mi->uuid[0] = '\0';
        device_error(api, g, "nvmlDeviceGetUUID (MIG device)", r);
    }
    terminate(mi->uuid, sizeof(mi->uuid));

    mig_placement(api, parent, mdev, g, &f, &mi->start);

    memset(&attr, 0, sizeof(attr));
    r = api->device_attributes ? api->device_attributes(mdev, &attr)
                               : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (r == NVML_SUCCESS && attr.gpuInstanceSliceCount >= 1 && attr.gpuInstanceSliceCount <= 8)
        f.compute = (int)attr.gpuInstanceSliceCount;
    else if (r != NVML_SUCCESS && !not_offered(r))
        device_error(api, g, "nvmlDeviceGetAttributes_v2 (MIG device)", r);

    /* memory slices from the instance's share of the GPU's memory, rounded */
    memset(&mem, 0, sizeof(mem));
    if (f.memory < 0 && info->memory_slices && g->memory_bytes) {
        r = api->device_memory(mdev, &mem);
        if (r == NVML_SUCCESS) {
            uint64_t slices =
                (mem.total * info->memory_slices * 2 + g->memory_bytes) / (2 * g->memory_bytes);
            if (slices >= 1 && slices <= info->memory_slices)
                f.memory = (int)slices;
        } else if (!not_offered(r)) {
            device_error(api, g, "nvmlDeviceGetMemoryInfo (MIG device)", r);
        }
    }

    const struct mig_profile *p = info->n_profiles ? mig_match(g->model, &f) : NULL;
    snprintf(mi->profile, sizeof(mi->profile), "%s", p ? p->name : "");
}

/* Enumerate the MIG devices of a MIG-enabled GPU. Indices without a device answer
 * NVML_ERROR_NOT_FOUND and are skipped. */
static void mig_discover(const struct nvml *api, nvmlDevice_t dev, struct gpuinfo_gpu *g)
{
    unsigned int max = 0;
    nvmlReturn_t r;
    if (!api->device_max_mig || !api->device_mig_by_index) {
        health_add(g, "MIG is enabled but this NVML cannot list MIG devices");
        return;
    }
    r = api->device_max_mig(dev, &max);
    if (r != NVML_SUCCESS) {
        device_error(api, g, "nvmlDeviceGetMaxMigDeviceCount", r);
        return;
    }
    for (unsigned int k = 0; k < max && k < MIG_INDEX_LIMIT; k++) {
        nvmlDevice_t mdev = NULL;
        r = api->device_mig_by_index(dev, k, &mdev);
        if (r == NVML_ERROR_NOT_FOUND)
            continue;
        if (r != NVML_SUCCESS) {
            device_error(api, g, "nvmlDeviceGetMigDeviceHandleByIndex", r);
            continue;
        }
        if (g->n_mig == MIG_MAX_INSTANCES) {
            health_add(g, "more than %d MIG devices", MIG_MAX_INSTANCES);
            return;
        }
        mig_read(api, dev, mdev, g);
    }
}

/* ---- Devices ---------------------------------------------------------------------------- */

/* Read GPU i into g. Never fails: what cannot be read is "not offered" or, when NVML reports
 * an error, a reason for g to be unhealthy. */
static void device_read(const struct nvml *api, unsigned int i, struct gpuinfo_gpu *g)
{
    nvmlDevice_t dev = NULL;
    nvmlMemory_t mem;
    nvmlReturn_t r;

    memset(g, 0, sizeof(*g));
    g->index = i;
    g->model = GPU_MODEL_OTHER;
    g->utilization_pct = -1;
    g->temperature_c = -1;
    g->ecc_uncorrected = -1;
    g->healthy = true;

    r = api->device_by_index(i, &dev);
    if (r != NVML_SUCCESS) {
        device_error(api, g, "nvmlDeviceGetHandleByIndex_v2", r);
        return;
    }
    r = api->device_name(dev, g->name, sizeof(g->name));
    if (r != NVML_SUCCESS) {
        g->name[0] = '\0';
        device_error(api, g, "nvmlDeviceGetName", r);
    }
    terminate(g->name, sizeof(g->name));
    r = api->device_uuid(dev, g->uuid, sizeof(g->uuid));
    if (r != NVML_SUCCESS) {
        g->uuid[0] = '\0';
        device_error(api, g, "nvmlDeviceGetUUID", r);
    }
    terminate(g->uuid, sizeof(g->uuid));
    memset(&mem, 0, sizeof(mem));
    r = api->device_memory(dev, &mem);
    if (r == NVML_SUCCESS)
        g->memory_bytes = mem.total;
    else
        device_error(api, g, "nvmlDeviceGetMemoryInfo", r);
    g->model = gpuinfo_model_of(g->name, g->memory_bytes);

    if (api->device_mig_mode) {
        unsigned int current = 0, pending = 0;
        r = api->device_mig_mode(dev, &current, &pending);
        if (r == NVML_SUCCESS)
            g->mig_enabled = current == NVML_DEVICE_MIG_ENABLE;
        else if (!not_offered(r))
            device_error(api, g, "nvmlDeviceGetMigMode", r);
    }
    if (api->device_utilization) {
        nvmlUtilization_t u = {0, 0};
        r = api->device_utilization(dev, &u);
        if (r == NVML_SUCCESS)
            g->utilization_pct = u.gpu <= 100 ? (int)u.gpu : 100;
        else if (!not_offered(r))
            device_error(api, g, "nvmlDeviceGetUtilizationRates", r);
    }
    if (api->device_temperature) {
        unsigned int t = 0;
        r = api->device_temperature(dev, NVML_TEMPERATURE_GPU, &t);
        if (r == NVML_SUCCESS)
            g->temperature_c = t < 1000 ? (int)t : 999;
        else if (!not_offered(r))
            device_error(api, g, "nvmlDeviceGetTemperature", r);
    }
    if (api->device_ecc_total) {
        unsigned long long n = 0;
        r = api->device_ecc_total(dev, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, &n);
        if (r == NVML_SUCCESS)
            g->ecc_uncorrected = n < (unsigned long long)INT64_MAX ? (int64_t)n : INT64_MAX;
        else if (!not_offered(r))
            device_error(api, g, "nvmlDeviceGetTotalEccErrors", r);
    }
    if (g->ecc_uncorrected > 0)
        health_add(g, "%lld uncorrected ECC error%s since the driver loaded",
                   (long long)g->ecc_uncorrected, g->ecc_uncorrected == 1 ? "" : "s");
    if (g->temperature_c >= GPUINFO_TEMP_LIMIT_C)
        health_add(g, "temperature %d C (limit %d C)", g->temperature_c, GPUINFO_TEMP_LIMIT_C);
    if (g->mig_enabled)
        mig_discover(api, dev, g);
}

int nvml_discover(const char *nvml_path, struct gpuinfo *out, char *err, size_t len)
{
    const char *path = nvml_path ? nvml_path : "libnvidia-ml.so.1";
    struct nvml api;
    unsigned int count = 0;
    nvmlReturn_t r;
    int rc = 0;
    bool initialised = false;

    assert(out);
    memset(out, 0, sizeof(*out));
    out->discovered = true;
    memset(&api, 0, sizeof(api));

    api.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!api.lib) {
        const char *why = dlerror();
        snprintf(err, len,
                 "cannot load NVML from %s (%s): no NVIDIA driver here; declare the GPUs instead",
                 path, why ? why : "not found");
        return -ALLOT_ENOENT;
    }
    for (size_t i = 0; i < N_SYMBOLS; i++) {
        void *sym = dlsym(api.lib, nvml_symbols[i].name);
        if (!sym && nvml_symbols[i].required) {
            snprintf(err, len, "%s is not a usable NVML: it lacks %s", path, nvml_symbols[i].name);
            rc = -ALLOT_EIO;
            goto out;
        }
        memcpy((char *)&api + nvml_symbols[i].offset, &sym, sizeof(sym));
    }

    r = api.init();
    if (r != NVML_SUCCESS) {
        snprintf(err, len, "nvmlInit_v2 failed: %s (NVML error %d)", nvml_message(&api, r), (int)r);
        rc = -ALLOT_EIO;
        goto out;
    }
    initialised = true;

    if (api.driver_version) {
        char version[NVML_DRIVER_VERSION_SIZE] = "";
        if (api.driver_version(version, sizeof(version)) == NVML_SUCCESS) {
            terminate(version, sizeof(version));
            snprintf(out->driver, sizeof(out->driver), "%.*s", (int)sizeof(out->driver) - 1,
                     version);
        }
    }

    r = api.device_count(&count);
    if (r != NVML_SUCCESS) {
        snprintf(err, len, "nvmlDeviceGetCount_v2 failed: %s (NVML error %d)",
                 nvml_message(&api, r), (int)r);
        rc = -ALLOT_EIO;
        goto out;
    }
    if (count > GPUINFO_MAX_GPUS) {
        snprintf(err, len, "NVML reports %u GPUs; an Allot node holds at most %d", count,
                 GPUINFO_MAX_GPUS);
        rc = -ALLOT_ERANGE;
        goto out;
    }
    for (unsigned int i = 0; i < count; i++)
        device_read(&api, i, &out->gpus[i]);
    out->n = count;

out:
    if (initialised)
        api.shutdown();
    dlclose(api.lib);
    if (rc)
        out->n = 0;
    return rc;
}
