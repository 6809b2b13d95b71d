/* MIG tables from ../shared/reference/mig.md (NVIDIA MIG User Guide, supported profiles). */
#include "sched/mig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"

/* Charge of an instance: the larger of its compute and memory shares, in GPU units. Exact
 * because QUANTITY_GPU_UNITS is divisible by 7, 8 and 4. */
#define MIG_UNITS(c, m, cs, ms)                                                                    \
    ((c)*QUANTITY_GPU_UNITS / (cs) > (m)*QUANTITY_GPU_UNITS / (ms)                                 \
         ? (c)*QUANTITY_GPU_UNITS / (cs)                                                           \
         : (m)*QUANTITY_GPU_UNITS / (ms))

/* Every profile name any model offers; a profile's name_id indexes this table. */
static const char *const names[] = {
    "1g.10gb",    "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb",  "7g.80gb", "1g.18gb",
    "1g.18gb+me", "1g.35gb",    "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb", "1g.5gb",  "1g.5gb+me",
    "2g.10gb",    "3g.20gb",    "4g.20gb", "7g.40gb", "1g.6gb",  "2g.12gb",  "4g.24gb",
};

#define N(a) (uint8_t)(sizeof(a) / sizeof((a)[0]))
_Static_assert(N(names) <= MIG_MAX_NAMES, "MIG_MAX_NAMES too small");

/* name_id is spelled out: the tables are constant, and test_mig checks each against names */
#define P7(name, nid, id, c, m, max, starts)                                                       \
    {                                                                                              \
        name, id, c, m, max, starts, MIG_UNITS(c, m, 7, 8), nid                                    \
    }
#define P4(name, nid, id, c, m, max, starts)                                                       \
    {                                                                                              \
        name, id, c, m, max, starts, MIG_UNITS(c, m, 4, 4), nid                                    \
    }

/* starts masks: bit i = memory slice i */
#define S_0TO6 0x7f
#define S_EVEN 0x55
#define S_024 0x15
#define S_04 0x11
#define S_0 0x01

static const struct mig_profile h100_80[] = {
    P7("1g.10gb", 0, 19, 1, 1, 7, S_0TO6), P7("1g.10gb+me", 1, 20, 1, 1, 1, S_0TO6),
    P7("1g.20gb", 2, 15, 1, 2, 4, S_EVEN), P7("2g.20gb", 3, 14, 2, 2, 3, S_024),
    P7("3g.40gb", 4, 9, 3, 4, 2, S_04),    P7("4g.40gb", 5, 5, 4, 4, 1, S_0),
    P7("7g.80gb", 6, 0, 7, 8, 1, S_0),
};
static const struct mig_profile h200_141[] = {
    P7("1g.18gb", 7, 19, 1, 1, 7, S_0TO6), P7("1g.18gb+me", 8, 20, 1, 1, 1, S_0TO6),
    P7("1g.35gb", 9, 15, 1, 2, 4, S_EVEN), P7("2g.35gb", 10, 14, 2, 2, 3, S_024),
    P7("3g.71gb", 11, 9, 3, 4, 2, S_04),   P7("4g.71gb", 12, 5, 4, 4, 1, S_0),
    P7("7g.141gb", 13, 0, 7, 8, 1, S_0),
};
static const struct mig_profile a100_40[] = {
    P7("1g.5gb", 14, 19, 1, 1, 7, S_0TO6), P7("1g.5gb+me", 15, 20, 1, 1, 1, S_0TO6),
    P7("1g.10gb", 0, 15, 1, 2, 4, S_EVEN), P7("2g.10gb", 16, 14, 2, 2, 3, S_024),
    P7("3g.20gb", 17, 9, 3, 4, 2, S_04),   P7("4g.20gb", 18, 5, 4, 4, 1, S_0),
    P7("7g.40gb", 19, 0, 7, 8, 1, S_0),
};
static const struct mig_profile a100_80[] = {
    P7("1g.10gb", 0, 19, 1, 1, 7, S_0TO6), P7("1g.10gb+me", 1, 20, 1, 1, 1, S_0TO6),
    P7("1g.20gb", 2, 15, 1, 2, 4, S_EVEN), P7("2g.20gb", 3, 14, 2, 2, 3, S_024),
    P7("3g.40gb", 4, 9, 3, 4, 2, S_04),    P7("4g.40gb", 5, 5, 4, 4, 1, S_0),
    P7("7g.80gb", 6, 0, 7, 8, 1, S_0),
};
/* A30 24GB: 4 compute and 4 memory slices. */
static const struct mig_profile a30_24[] = {
    P4("1g.6gb", 20, 14, 1, 1, 4, 0x0f),
    P4("2g.12gb", 21, 5, 2, 2, 2, 0x05),
    P4("4g.24gb", 22, 0, 4, 4, 1, 0x01),
};

static const struct gpu_model_info models[GPU_MODEL_COUNT] = {
    [GPU_MODEL_H100_80GB] = {"H100-80GB", 7, 8, N(h100_80), h100_80},
    [GPU_MODEL_H200_141GB] = {"H200-141GB", 7, 8, N(h200_141), h200_141},
    [GPU_MODEL_A100_40GB] = {"A100-40GB", 7, 8, N(a100_40), a100_40},
    [GPU_MODEL_A100_80GB] = {"A100-80GB", 7, 8, N(a100_80), a100_80},
    [GPU_MODEL_A30_24GB] = {"A30-24GB", 4, 4, N(a30_24), a30_24},
    [GPU_MODEL_L40S] = {"L40S", 0, 0, 0, NULL},
    [GPU_MODEL_OTHER] = {"other", 0, 0, 0, NULL},
};

const struct gpu_model_info *mig_model(enum gpu_model m)
{
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
    for (int i = 0; i < N(names); i++)
        if (strcmp(names[i], profile) == 0)
            return i;
    return -ALLOT_ENOENT;
}

const char *mig_name(int name_id)
{
    return name_id >= 0 && name_id < N(names) ? names[name_id] : NULL;
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

/* Place auto[k..n_auto) into free slices of used (depth-first, lowest start first). */
static bool mig_search(const struct gpu_model_info *info, struct mig_instance_spec *inst,
                       const int *order, int k, int n_auto, int used)
{
    if (k == n_auto)
        return true;
    struct mig_instance_spec *in = &inst[order[k]];
    const struct mig_profile *p = &info->profiles[in->profile];
    for (int s = 0; s + p->memory <= info->memory_slices; s++) {
        int span = mig_span(p, s);
        if (!(p->starts >> s & 1) || (used & span))
            continue;
        in->start = (int8_t)s;
        if (mig_search(info, inst, order, k + 1, n_auto, used | span))
            return true;
    }
    in->start = -1;
    return false;
}

static int popcount8(unsigned v)
{
    int c = 0;
    for (; v; v &= v - 1)
        c++;
    return c;
}

int mig_layout_place(enum gpu_model m, struct mig_instance_spec *inst, int n, char *err,
                     unsigned long len)
{
    const struct gpu_model_info *info = mig_model(m);
    int used = 0, compute = 0, n_auto = 0;
    int count[MIG_MAX_INSTANCES + 1] = {0}, order[MIG_MAX_INSTANCES];
    if (info->compute_slices == 0) {
        snprintf(err, len, "GPU model %s does not support MIG", info->name);
        return -ALLOT_ECONFIG;
    }
    if (n > MIG_MAX_INSTANCES) {
        snprintf(err, len, "%d MIG instances: a GPU holds at most %d", n, MIG_MAX_INSTANCES);
        return -ALLOT_ECONFIG;
    }
    for (int i = 0; i < n; i++) {
        if (inst[i].profile < 0 || inst[i].profile >= info->n_profiles) {
            snprintf(err, len, "MIG profile %d is not offered by %s", inst[i].profile, info->name);
            return -ALLOT_ECONFIG;
        }
        const struct mig_profile *p = &info->profiles[inst[i].profile];
        compute += p->compute;
        if (++count[inst[i].profile] > p->max_count) {
            snprintf(err, len, "more than %d instances of MIG profile %s on one GPU", p->max_count,
                     p->name);
            return -ALLOT_ECONFIG;
        }
        if (compute > info->compute_slices) {
            snprintf(err, len, "MIG instances use more than the %d compute slices of %s",
                     info->compute_slices, info->name);
            return -ALLOT_ECONFIG;
        }
        if (inst[i].start < 0) {
            order[n_auto++] = i;
            continue;
        }
        if (inst[i].start >= info->memory_slices || !(p->starts >> inst[i].start & 1)) {
            snprintf(err, len, "MIG instance %s may not start at memory slice %d", p->name,
                     inst[i].start);
            return -ALLOT_ECONFIG;
        }
        int span = mig_span(p, inst[i].start);
        if (used & span) {
            snprintf(err, len, "MIG instance %s at slice %d overlaps another instance", p->name,
                     inst[i].start);
            return -ALLOT_ECONFIG;
        }
        used |= span;
    }
    /* largest first; among equals the one with fewest allowed starts; then listing order */
    for (int a = 1; a < n_auto; a++) {
        for (int b = a; b > 0; b--) {
            const struct mig_profile *x = &info->profiles[inst[order[b - 1]].profile];
            const struct mig_profile *y = &info->profiles[inst[order[b]].profile];
            bool swap = y->memory > x->memory ||
                        (y->memory == x->memory && popcount8(y->starts) < popcount8(x->starts));
            if (!swap)
                break;
            int t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    }
    if (!mig_search(info, inst, order, 0, n_auto, used)) {
        snprintf(err, len, "no room left on the GPU for the MIG instances");
        return -ALLOT_ECONFIG;
    }
    return 0;
}
