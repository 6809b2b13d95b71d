/* MIG tables from ../shared/reference/mig.md (NVIDIA MIG User Guide, supported profiles). */
#include "sched/mig.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"

/* Charge of an instance: the larger of its compute and memory shares, in GPU units. Exact
 * because QUANTITY_GPU_UNITS is divisible by 7, 8 and 4. */
#define MIG_UNITS(c, m, cs, ms)                                                                    \
    ((c) * QUANTITY_GPU_UNITS / (cs) > (m) * QUANTITY_GPU_UNITS / (ms)                             \
         ? (c) * QUANTITY_GPU_UNITS / (cs)                                                         \
         : (m) * QUANTITY_GPU_UNITS / (ms))

#define P7(name, id, c, m, max, starts) {name, id, c, m, max, starts, MIG_UNITS(c, m, 7, 8), 0}
#define P4(name, id, c, m, max, starts) {name, id, c, m, max, starts, MIG_UNITS(c, m, 4, 4), 0}

/* starts masks: bit i = memory slice i */
#define S_0TO6 0x7f
#define S_EVEN 0x55
#define S_024 0x15
#define S_04 0x11
#define S_0 0x01

static struct mig_profile h100_80[] = {
    P7("1g.10gb", 19, 1, 1, 7, S_0TO6), P7("1g.10gb+me", 20, 1, 1, 1, S_0TO6),
    P7("1g.20gb", 15, 1, 2, 4, S_EVEN), P7("2g.20gb", 14, 2, 2, 3, S_024),
    P7("3g.40gb", 9, 3, 4, 2, S_04),    P7("4g.40gb", 5, 4, 4, 1, S_0),
    P7("7g.80gb", 0, 7, 8, 1, S_0),
};
static struct mig_profile h200_141[] = {
    P7("1g.18gb", 19, 1, 1, 7, S_0TO6), P7("1g.18gb+me", 20, 1, 1, 1, S_0TO6),
    P7("1g.35gb", 15, 1, 2, 4, S_EVEN), P7("2g.35gb", 14, 2, 2, 3, S_024),
    P7("3g.71gb", 9, 3, 4, 2, S_04),    P7("4g.71gb", 5, 4, 4, 1, S_0),
    P7("7g.141gb", 0, 7, 8, 1, S_0),
};
static struct mig_profile a100_40[] = {
    P7("1g.5gb", 19, 1, 1, 7, S_0TO6), P7("1g.5gb+me", 20, 1, 1, 1, S_0TO6),
    P7("1g.10gb", 15, 1, 2, 4, S_EVEN), P7("2g.10gb", 14, 2, 2, 3, S_024),
    P7("3g.20gb", 9, 3, 4, 2, S_04),   P7("4g.20gb", 5, 4, 4, 1, S_0),
    P7("7g.40gb", 0, 7, 8, 1, S_0),
};
static struct mig_profile a100_80[] = {
    P7("1g.10gb", 19, 1, 1, 7, S_0TO6), P7("1g.10gb+me", 20, 1, 1, 1, S_0TO6),
    P7("1g.20gb", 15, 1, 2, 4, S_EVEN), P7("2g.20gb", 14, 2, 2, 3, S_024),
    P7("3g.40gb", 9, 3, 4, 2, S_04),    P7("4g.40gb", 5, 4, 4, 1, S_0),
    P7("7g.80gb", 0, 7, 8, 1, S_0),
};
/* A30 24GB: 4 compute and 4 memory slices. */
static struct mig_profile a30_24[] = {
    P4("1g.6gb", 14, 1, 1, 4, 0x0f),
    P4("2g.12gb", 5, 2, 2, 2, 0x05),
    P4("4g.24gb", 0, 4, 4, 1, 0x01),
};

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))

static struct gpu_model_info models[GPU_MODEL_COUNT] = {
    [GPU_MODEL_H100_80GB] = {"H100-80GB", 7, 8, N(h100_80), h100_80},
    [GPU_MODEL_H200_141GB] = {"H200-141GB", 7, 8, N(h200_141), h200_141},
    [GPU_MODEL_A100_40GB] = {"A100-40GB", 7, 8, N(a100_40), a100_40},
    [GPU_MODEL_A100_80GB] = {"A100-80GB", 7, 8, N(a100_80), a100_80},
    [GPU_MODEL_A30_24GB] = {"A30-24GB", 4, 4, N(a30_24), a30_24},
    [GPU_MODEL_L40S] = {"L40S", 0, 0, 0, NULL},
    [GPU_MODEL_OTHER] = {"other", 0, 0, 0, NULL},
};

static const char *names[MIG_MAX_NAMES];
static int n_names;

/* Fill the global name table and each profile's name_id. Idempotent; the tables are
 * constant after the first call, so concurrent readers afterwards are safe. */
static void mig_names_build(void)
{
    if (n_names)
        return;
    for (int m = 0; m < GPU_MODEL_COUNT; m++) {
        for (int p = 0; p < models[m].n_profiles; p++) {
            struct mig_profile *prof = (struct mig_profile *)&models[m].profiles[p];
            int id = -1;
            for (int i = 0; i < n_names; i++)
                if (strcmp(names[i], prof->name) == 0)
                    id = i;
            if (id < 0) {
                id = n_names++;
                names[id] = prof->name;
            }
            prof->name_id = (uint8_t)id;
        }
    }
}

const struct gpu_model_info *mig_model(enum gpu_model m)
{
    mig_names_build();
    return &models[m];
}

int mig_model_parse(const char *name, enum gpu_model *m)
{
    for (int i = 0; i < GPU_MODEL_COUNT; i++) {
        if (strcmp(models[i].name, name) == 0) {
            *m = (enum gpu_model)i;
            return 0;
        }
    }
    return -ALLOT_ENOENT;
}

int mig_name_id(const char *profile)
{
    mig_names_build();
    for (int i = 0; i < n_names; i++)
        if (strcmp(names[i], profile) == 0)
            return i;
    return -ALLOT_ENOENT;
}

const char *mig_name(int name_id)
{
    mig_names_build();
    return name_id >= 0 && name_id < n_names ? names[name_id] : NULL;
}

const struct mig_profile *mig_profile_of(enum gpu_model m, int name_id)
{
    const struct gpu_model_info *info = mig_model(m);
    for (int p = 0; p < info->n_profiles; p++)
        if (info->profiles[p].name_id == name_id)
            return &info->profiles[p];
    return NULL;
}

static int mig_span(const struct mig_profile *p, int start)
{
    return ((1 << p->memory) - 1) << start;
}

int mig_layout_place(enum gpu_model m, struct mig_instance_spec *inst, int n, char *err,
                     unsigned long len)
{
    const struct gpu_model_info *info = mig_model(m);
    int used = 0, compute = 0;
    int count[16] = {0};
    if (info->compute_slices == 0) {
        snprintf(err, len, "GPU model %s does not support MIG", info->name);
        return -ALLOT_ECONFIG;
    }
    if (n > MIG_MAX_INSTANCES) {
        snprintf(err, len, "%d MIG instances: a GPU holds at most %d", n, MIG_MAX_INSTANCES);
        return -ALLOT_ECONFIG;
    }
    /* Fixed starts first, then the rest largest first at the lowest free start. */
    for (int pass = 0; pass < 2; pass++) {
        for (int size = 8; size >= 1; size--) {
            for (int i = 0; i < n; i++) {
                const struct mig_profile *p = &info->profiles[inst[i].profile];
                if ((pass == 0) != (inst[i].start >= 0) || (pass == 1 && p->memory != size))
                    continue;
                if (pass == 0 && size != 8)
                    continue; /* fixed starts: handle once */
                if (inst[i].start < 0) {
                    for (int s = 0; s < info->memory_slices; s++) {
                        if ((p->starts >> s & 1) && !(used & mig_span(p, s))) {
                            inst[i].start = (int8_t)s;
                            break;
                        }
                    }
                    if (inst[i].start < 0) {
                        snprintf(err, len, "no room left on the GPU for MIG instance %s",
                                 p->name);
                        return -ALLOT_ECONFIG;
                    }
                } else if (inst[i].start >= info->memory_slices ||
                           !(p->starts >> inst[i].start & 1)) {
                    snprintf(err, len, "MIG instance %s may not start at memory slice %d",
                             p->name, inst[i].start);
                    return -ALLOT_ECONFIG;
                }
                int span = mig_span(p, inst[i].start);
                if (used & span) {
                    snprintf(err, len, "MIG instance %s at slice %d overlaps another instance",
                             p->name, inst[i].start);
                    return -ALLOT_ECONFIG;
                }
                used |= span;
                compute += p->compute;
                if (++count[inst[i].profile] > p->max_count) {
                    snprintf(err, len, "more than %d instances of MIG profile %s on one GPU",
                             p->max_count, p->name);
                    return -ALLOT_ECONFIG;
                }
                if (compute > info->compute_slices) {
                    snprintf(err, len, "MIG instances use more than the %d compute slices of %s",
                             info->compute_slices, info->name);
                    return -ALLOT_ECONFIG;
                }
            }
        }
    }
    return 0;
}
