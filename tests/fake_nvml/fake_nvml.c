/* A fake NVML (libnvidia-ml.so.1) for the agent's discovery tests: the GPUs, MIG layouts and
 * faults it shows come from FAKE_NVML_* environment variables read in nvmlInit_v2. Built by
 * the test suite into a test-only directory; never install it anywhere.
 *
 *   FAKE_NVML_GPUS="H100:mig=3g.40gb+3g.40gb@4,H100,A100-40GB"  GPUs in index order; keys:
 *       H100 H100-NVL H200 A100-40GB A100-80GB A30 L40S GH200; MIG instances are placed at the
 *       lowest free start unless "@<start>" is given; '+' followed by a digit separates them.
 *   FAKE_NVML_ECC=index:count[,...]   volatile uncorrected ECC errors (default 0)
 *   FAKE_NVML_TEMP=index:celsius[,...] temperature (default 40)
 *   FAKE_NVML_UTIL=index:percent[,...] utilisation (default 0; MIG-enabled GPUs: not supported)
 *   FAKE_NVML_FAIL_INIT=1             nvmlInit_v2 fails (NVML_ERROR_DRIVER_NOT_LOADED)
 *   FAKE_NVML_LOST=index              every call on that GPU but the handle answers GPU_IS_LOST
 *   FAKE_NVML_FAIL=function:index     that one call on that GPU (or its MIG devices) answers
 *                                     NVML_ERROR_UNKNOWN, e.g. nvmlDeviceGetTemperature:1
 *   FAKE_NVML_NO_ECC=1                ECC counters not supported
 *   FAKE_NVML_NO_PLACEMENT=1          GPU instance lookups answer NO_PERMISSION (not root)
 *   FAKE_NVML_NO_ATTRIBUTES=1         nvmlDeviceGetAttributes_v2 not supported
 * A malformed variable makes nvmlInit_v2 fail with NVML_ERROR_INVALID_ARGUMENT and a line on
 * stderr. Functions that would change a GPU abort the process: the agent must never call them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NVML's ABI as in nvml.h, written again here so the fake checks gpuinfo.c's transcription
 * instead of sharing it. */
typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_UNKNOWN = 999,
} nvmlReturn_t;

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;
typedef enum nvmlMemoryErrorType_enum {
    NVML_MEMORY_ERROR_TYPE_CORRECTED = 0,
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
} nvmlMemoryErrorType_t;
typedef enum nvmlEccCounterType_enum {
    NVML_VOLATILE_ECC = 0,
    NVML_AGGREGATE_ECC = 1
} nvmlEccCounterType_t;

typedef struct nvmlMemory_st {
    unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct nvmlUtilization_st {
    unsigned int gpu, memory;
} nvmlUtilization_t;
typedef struct nvmlGpuInstancePlacement_st {
    unsigned int start, size;
} nvmlGpuInstancePlacement_t;
typedef struct nvmlGpuInstanceInfo_st {
    nvmlDevice_t device;
    unsigned int id;
    unsigned int profileId;
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;
typedef struct nvmlDeviceAttributes_st {
    unsigned int multiprocessorCount, sharedCopyEngineCount, sharedDecoderCount, sharedEncoderCount,
        sharedJpegCount, sharedOfaCount, gpuInstanceSliceCount, computeInstanceSliceCount;
    unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

/* The exported functions (prototypes for -Wmissing-prototypes). */
nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current,
                                  unsigned int *pending);
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization);
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                      unsigned int *temp);
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t type,
                                         nvmlEccCounterType_t counter, unsigned long long *count);
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count);
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *mig);
nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id);
nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes);
nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                          nvmlGpuInstance_t *instance);
nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t instance, nvmlGpuInstanceInfo_t *info);
/* Tripwires: exported so that a mistaken call links and then aborts the test. */
nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode, nvmlReturn_t *status);
nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
                                         nvmlGpuInstance_t *instance);
nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t instance);

#define FAKE_MAX_GPUS 40
#define FAKE_MAX_MIG 7

/* One GPU instance profile: NVML profile id, compute and memory slices. */
struct fake_profile {
    const char *name;
    unsigned int id, compute, memory;
};

/* What a FAKE_NVML_GPUS key stands for. */
struct fake_model {
    const char *key;
    const char *name;     /* as nvmlDeviceGetName reports it */
    unsigned int mem_mib; /* as nvmlDeviceGetMemoryInfo reports it */
    unsigned int compute_slices, memory_slices;
    struct fake_profile profiles[FAKE_MAX_MIG];
};

#define P8(a, b, c, d, e, f, g)                                                                    \
    {                                                                                              \
        {a, 19, 1, 1}, {b, 20, 1, 1}, {c, 15, 1, 2}, {d, 14, 2, 2}, {e, 9, 3, 4}, {f, 5, 4, 4},    \
        {                                                                                          \
            g, 0, 7, 8                                                                             \
        }                                                                                          \
    }

static const struct fake_model models[] = {
    {"H100", "NVIDIA H100 80GB HBM3", 81559, 7, 8,
     P8("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")},
    {"H200", "NVIDIA H200", 143771, 7, 8,
     P8("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")},
    {"A100-40GB", "NVIDIA A100-SXM4-40GB", 40960, 7, 8,
     P8("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")},
    {"A100-80GB", "NVIDIA A100 80GB PCIe", 81920, 7, 8,
     P8("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")},
    {"A30",
     "NVIDIA A30",
     24576,
     4,
     4,
     {{"1g.6gb", 14, 1, 1}, {"2g.12gb", 5, 2, 2}, {"4g.24gb", 0, 4, 4}}},
    {"L40S", "NVIDIA L40S", 46068, 0, 0, {{NULL, 0, 0, 0}}},
    {"H100-NVL", "NVIDIA H100 NVL", 95830, 0, 0, {{NULL, 0, 0, 0}}},
    {"GH200", "NVIDIA GH200 480GB", 97871, 0, 0, {{NULL, 0, 0, 0}}},
};

/* A handle: the GPU itself (mig < 0) or one of its MIG devices. */
struct nvmlDevice_st {
    int gpu, mig;
};
struct nvmlGpuInstance_st {
    int gpu, mig;
};

struct fake_mig {
    const struct fake_profile *profile;
    unsigned int start, gi_id;
    struct nvmlDevice_st handle;
    struct nvmlGpuInstance_st instance;
};

struct fake_gpu {
    const struct fake_model *model;
    int n_mig;
    struct fake_mig mig[FAKE_MAX_MIG]; /* in the order given; MIG device index = start */
    unsigned long long ecc;
    unsigned int temp, util;
    int lost;
    struct nvmlDevice_st handle;
};

static struct fake {
    int initialised;
    int n;
    struct fake_gpu gpus[FAKE_MAX_GPUS];
    int no_ecc, no_placement, no_attributes;
    char fail_call[64]; /* FAKE_NVML_FAIL */
    int fail_gpu;
} fake;

static int flag(const char *var)
{
    const char *v = getenv(var);
    return v && strcmp(v, "1") == 0;
}

/* Parse "<profile>[@start]" tokens of "mig=..." for g. 0, or -1 after a line on stderr. */
static int parse_mig(struct fake_gpu *g, const char *s, const char *end)
{
    const struct fake_model *m = g->model;
    unsigned int used = 0, compute = 0;
    while (s < end) {
        const char *q = s;
        while (q < end && !(q[0] == '+' && q + 1 < end && q[1] >= '0' && q[1] <= '9'))
            q++;
        const char *at = memchr(s, '@', (size_t)(q - s));
        size_t n = at ? (size_t)(at - s) : (size_t)(q - s);
        const struct fake_profile *p = NULL;
        for (int i = 0; i < FAKE_MAX_MIG && m->profiles[i].name; i++)
            if (strlen(m->profiles[i].name) == n && memcmp(m->profiles[i].name, s, n) == 0)
                p = &m->profiles[i];
        if (!p || g->n_mig == FAKE_MAX_MIG) {
            fprintf(stderr, "fake NVML: bad MIG instance \"%.*s\" for %s\n", (int)(q - s), s,
                    m->key);
            return -1;
        }
        unsigned int span = ((1u << p->memory) - 1), start = 0;
        int found = 0;
        if (at) {
            start = (unsigned int)strtoul(at + 1, NULL, 10);
            found = start % p->memory == 0 && start + p->memory <= m->memory_slices &&
                    !(used & span << start);
        } else {
            for (start = 0; start + p->memory <= m->memory_slices; start += p->memory) {
                /* NVIDIA's rules on 8-slice GPUs: 1g at 0..6, 2g at 0, 2 or 4 */
                if (m->memory_slices == 8 &&
                    ((p->memory == 1 && start > 6) || (p->compute == 2 && start > 4)))
                    break;
                if (!(used & span << start)) {
                    found = 1;
                    break;
                }
            }
        }
        compute += p->compute;
        if (!found || compute > m->compute_slices) {
            fprintf(stderr, "fake NVML: no room for MIG instance \"%.*s\" on %s\n", (int)(q - s), s,
                    m->key);
            return -1;
        }
        used |= span << start;
        struct fake_mig *mi = &g->mig[g->n_mig];
        mi->profile = p;
        mi->start = start;
        mi->gi_id = 20u + (unsigned int)g->n_mig; /* unlike the MIG device index, on purpose */
        g->n_mig++;
        s = q < end ? q + 1 : end;
    }
    if (g->n_mig == 0) {
        fprintf(stderr, "fake NVML: empty MIG layout for %s\n", m->key);
        return -1;
    }
    return 0;
}

static int parse_gpus(const char *spec)
{
    const char *s = spec;
    while (*s) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        const char *colon = memchr(s, ':', (size_t)(end - s));
        size_t n = (size_t)((colon ? colon : end) - s);
        struct fake_gpu *g = &fake.gpus[fake.n];
        if (fake.n == FAKE_MAX_GPUS) {
            fprintf(stderr, "fake NVML: more than %d GPUs\n", FAKE_MAX_GPUS);
            return -1;
        }
        memset(g, 0, sizeof(*g));
        for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
            if (strlen(models[i].key) == n && memcmp(models[i].key, s, n) == 0)
                g->model = &models[i];
        if (!g->model) {
            fprintf(stderr, "fake NVML: unknown GPU \"%.*s\"\n", (int)n, s);
            return -1;
        }
        if (colon) {
            if (strncmp(colon, ":mig=", 5) != 0 || !g->model->memory_slices ||
                parse_mig(g, colon + 5, end) != 0) {
                fprintf(stderr, "fake NVML: bad GPU \"%.*s\"\n", (int)(end - s), s);
                return -1;
            }
        }
        g->temp = 40;
        g->handle.gpu = fake.n;
        g->handle.mig = -1;
        for (int k = 0; k < g->n_mig; k++) {
            g->mig[k].handle.gpu = g->mig[k].instance.gpu = fake.n;
            g->mig[k].handle.mig = g->mig[k].instance.mig = k;
        }
        fake.n++;
        s = comma ? comma + 1 : end;
    }
    return 0;
}

/* Apply "index:value[,...]" from var to the field at offset of each GPU (setter). */
static int parse_values(const char *var, void (*set)(struct fake_gpu *, unsigned long long))
{
    const char *s = getenv(var);
    while (s && *s) {
        char *end;
        unsigned long i = strtoul(s, &end, 10);
        if (end == s || *end != ':' || i >= (unsigned long)fake.n) {
            fprintf(stderr, "fake NVML: bad %s at \"%s\"\n", var, s);
            return -1;
        }
        s = end + 1;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || (*end && *end != ',')) {
            fprintf(stderr, "fake NVML: bad %s at \"%s\"\n", var, s);
            return -1;
        }
        set(&fake.gpus[i], v);
        s = *end ? end + 1 : end;
    }
    return 0;
}

static void set_ecc(struct fake_gpu *g, unsigned long long v)
{
    g->ecc = v;
}
static void set_temp(struct fake_gpu *g, unsigned long long v)
{
    g->temp = (unsigned int)v;
}
static void set_util(struct fake_gpu *g, unsigned long long v)
{
    g->util = (unsigned int)v;
}

nvmlReturn_t nvmlInit_v2(void)
{
    const char *lost = getenv("FAKE_NVML_LOST");
    memset(&fake, 0, sizeof(fake));
    if (flag("FAKE_NVML_FAIL_INIT"))
        return NVML_ERROR_DRIVER_NOT_LOADED;
    if (parse_gpus(getenv("FAKE_NVML_GPUS") ? getenv("FAKE_NVML_GPUS") : "") != 0 ||
        parse_values("FAKE_NVML_ECC", set_ecc) != 0 ||
        parse_values("FAKE_NVML_TEMP", set_temp) != 0 ||
        parse_values("FAKE_NVML_UTIL", set_util) != 0) {
        memset(&fake, 0, sizeof(fake));
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (lost && *lost) {
        unsigned long i = strtoul(lost, NULL, 10);
        if (i >= (unsigned long)fake.n) {
            fprintf(stderr, "fake NVML: bad FAKE_NVML_LOST \"%s\"\n", lost);
            memset(&fake, 0, sizeof(fake));
            return NVML_ERROR_INVALID_ARGUMENT;
        }
        fake.gpus[i].lost = 1;
    }
    const char *fail = getenv("FAKE_NVML_FAIL");
    if (fail && *fail) {
        const char *colon = strchr(fail, ':');
        char *end;
        unsigned long i = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || (size_t)(colon - fail) >= sizeof(fake.fail_call) || end == colon + 1 ||
            *end || i >= (unsigned long)fake.n) {
            fprintf(stderr, "fake NVML: bad FAKE_NVML_FAIL \"%s\"\n", fail);
            memset(&fake, 0, sizeof(fake));
            return NVML_ERROR_INVALID_ARGUMENT;
        }
        memcpy(fake.fail_call, fail, (size_t)(colon - fail));
        fake.fail_gpu = (int)i;
    }
    fake.no_ecc = flag("FAKE_NVML_NO_ECC");
    fake.no_placement = flag("FAKE_NVML_NO_PLACEMENT");
    fake.no_attributes = flag("FAKE_NVML_NO_ATTRIBUTES");
    fake.initialised = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    memset(&fake, 0, sizeof(fake));
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS:
        return "Success";
    case NVML_ERROR_UNINITIALIZED:
        return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
        return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
        return "Not Supported";
    case NVML_ERROR_NO_PERMISSION:
        return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND:
        return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
        return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED:
        return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST:
        return "GPU is lost";
    default:
        return "Unknown Error";
    }
}

/* The GPU of handle d, or NULL when d is not one of ours or NVML is not initialised. */
static struct fake_gpu *gpu_of(nvmlDevice_t d)
{
    if (!fake.initialised || !d || d->gpu < 0 || d->gpu >= fake.n)
        return NULL;
    return &fake.gpus[d->gpu];
}

/* The answer for call on d before any data: 0 to go on, or the error to return. */
static nvmlReturn_t check_call(nvmlDevice_t d, const char *call)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    struct fake_gpu *g = gpu_of(d);
    if (!g || (d->mig >= g->n_mig))
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g->lost)
        return NVML_ERROR_GPU_IS_LOST;
    if (d->gpu == fake.fail_gpu && strcmp(call, fake.fail_call) == 0)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}
#define check(d) check_call(d, __func__)

static nvmlReturn_t copy_string(const char *s, char *buf, unsigned int length)
{
    if (!buf || strlen(s) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, s, strlen(s) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    return copy_string("550.54.15-fake", version, length);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    *count = (unsigned int)fake.n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (index >= (unsigned int)fake.n || !device)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &fake.gpus[index].handle;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    char buf[128];
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    const struct fake_gpu *g = gpu_of(device);
    if (device->mig >= 0)
        snprintf(buf, sizeof(buf), "%s MIG %s", g->model->name, g->mig[device->mig].profile->name);
    else
        snprintf(buf, sizeof(buf), "%s", g->model->name);
    return copy_string(buf, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    char buf[96];
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    if (device->mig >= 0)
        snprintf(buf, sizeof(buf), "MIG-fa4e%04d-%04d-4000-8000-000000000000", device->gpu,
                 device->mig);
    else
        snprintf(buf, sizeof(buf), "GPU-fa4e%04d-0000-4000-8000-000000000000", device->gpu);
    return copy_string(buf, uuid, length);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    const struct fake_gpu *g = gpu_of(device);
    unsigned long long mib = g->model->mem_mib;
    if (device->mig >= 0) /* an instance gets a little less than its share, as on real GPUs */
        mib = mib * g->mig[device->mig].profile->memory * 98 / (g->model->memory_slices * 100u);
    memory->total = mib << 20;
    memory->used = 0;
    memory->free = memory->total;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    const struct fake_gpu *g = gpu_of(device);
    if (!g->model->memory_slices || device->mig >= 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *current = *pending = g->n_mig > 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    const struct fake_gpu *g = gpu_of(device);
    if (g->n_mig > 0 || device->mig >= 0)
        return NVML_ERROR_NOT_SUPPORTED;
    utilization->gpu = g->util;
    utilization->memory = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor,
                                      unsigned int *temp)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    if (sensor != NVML_TEMPERATURE_GPU)
        return NVML_ERROR_INVALID_ARGUMENT;
    *temp = gpu_of(device)->temp;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t type,
                                         nvmlEccCounterType_t counter, unsigned long long *count)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    if (fake.no_ecc)
        return NVML_ERROR_NOT_SUPPORTED;
    if (type != NVML_MEMORY_ERROR_TYPE_UNCORRECTED || counter != NVML_VOLATILE_ECC)
        *count = 0; /* the fake only has volatile uncorrected errors */
    else
        *count = gpu_of(device)->ecc;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    const struct fake_gpu *g = gpu_of(device);
    if (!g->model->memory_slices)
        return NVML_ERROR_NOT_SUPPORTED;
    *count = g->model->memory_slices == 8 ? 7 : g->model->memory_slices;
    return NVML_SUCCESS;
}

/* MIG devices sit at the index of their start slice, so indices have gaps. */
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                 nvmlDevice_t *mig)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    struct fake_gpu *g = gpu_of(device);
    if (device->mig >= 0 || g->n_mig == 0)
        return NVML_ERROR_NOT_SUPPORTED;
    for (int k = 0; k < g->n_mig; k++) {
        if (g->mig[k].start == index) {
            *mig = &g->mig[k].handle;
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    if (device->mig < 0)
        return NVML_ERROR_NOT_SUPPORTED;
    *id = gpu_of(device)->mig[device->mig].gi_id;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    if (fake.no_attributes)
        return NVML_ERROR_NOT_SUPPORTED;
    const struct fake_gpu *g = gpu_of(device);
    memset(attributes, 0, sizeof(*attributes));
    attributes->multiprocessorCount = 132;
    if (device->mig >= 0) {
        const struct fake_profile *p = g->mig[device->mig].profile;
        attributes->multiprocessorCount = 16 * p->compute;
        attributes->gpuInstanceSliceCount = p->compute;
        attributes->computeInstanceSliceCount = p->compute;
        attributes->memorySizeMB =
            (unsigned long long)g->model->mem_mib * p->memory / g->model->memory_slices;
    } else {
        attributes->memorySizeMB = g->model->mem_mib;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                          nvmlGpuInstance_t *instance)
{
    nvmlReturn_t r = check(device);
    if (r)
        return r;
    struct fake_gpu *g = gpu_of(device);
    if (device->mig >= 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g->n_mig == 0)
        return NVML_ERROR_NOT_SUPPORTED;
    if (fake.no_placement)
        return NVML_ERROR_NO_PERMISSION;
    for (int k = 0; k < g->n_mig; k++) {
        if (g->mig[k].gi_id == id) {
            *instance = &g->mig[k].instance;
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t instance, nvmlGpuInstanceInfo_t *info)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (!instance || instance->gpu < 0 || instance->gpu >= fake.n ||
        instance->mig >= fake.gpus[instance->gpu].n_mig || instance->mig < 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct fake_gpu *g = &fake.gpus[instance->gpu];
    const struct fake_mig *mi = &g->mig[instance->mig];
    if (instance->gpu == fake.fail_gpu && strcmp(__func__, fake.fail_call) == 0)
        return NVML_ERROR_UNKNOWN;
    info->device = &g->handle;
    info->id = mi->gi_id;
    info->profileId = mi->profile->id;
    info->placement.start = mi->start;
    info->placement.size = mi->profile->memory;
    return NVML_SUCCESS;
}

static void tripwire(const char *name)
{
    fprintf(stderr, "fake NVML: %s called: discovery must never change a GPU\n", name);
    abort();
}

nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t device, unsigned int mode, nvmlReturn_t *status)
{
    tripwire("nvmlDeviceSetMigMode");
    return NVML_ERROR_UNKNOWN;
}

nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t device, unsigned int profileId,
                                         nvmlGpuInstance_t *instance)
{
    tripwire("nvmlDeviceCreateGpuInstance");
    return NVML_ERROR_UNKNOWN;
}

nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t instance)
{
    tripwire("nvmlGpuInstanceDestroy");
    return NVML_ERROR_UNKNOWN;
}
