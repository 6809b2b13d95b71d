/* What the node agent knows of its GPUs: the models by name and memory, declared inventories
 * for machines without a driver, and the JSON report (NVML discovery is nvml.c). What is read
 * and how it maps to Allot's models and profiles: docs/agent-discovery.md. */
#include "agent/gpuinfo.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/protocol.h"

/* ---- Models --------------------------------------------------------------------------- */

/* Device name family, total memory range (MiB) and an excluding word, for each model. NVML
 * reports somewhat less than the nominal size (an H100 80GB reports 81559 MiB). NVL parts are
 * left out: their memory and MIG profiles differ (H100 NVL 94 GB; H200 NVL 7 x 16.5 GB). */
static const struct model_rule {
    const char *family;
    enum gpu_model model;
    uint32_t min_mib, max_mib;
    const char *unless; /* a word that makes the name another part */
} model_rules[] = {
    {"H100", GPU_MODEL_H100_80GB, 72 * 1024, 88 * 1024, "NVL"},
    {"H200", GPU_MODEL_H200_141GB, 128 * 1024, 150 * 1024, "NVL"},
    {"A100", GPU_MODEL_A100_40GB, 36 * 1024, 44 * 1024, NULL},
    {"A100", GPU_MODEL_A100_80GB, 72 * 1024, 88 * 1024, NULL},
    {"A30", GPU_MODEL_A30_24GB, 20 * 1024, 28 * 1024, NULL},
    {"L40S", GPU_MODEL_L40S, 40 * 1024, 52 * 1024, NULL},
};

/* Nominal memory of a declared GPU, GiB, by model. */
static const uint32_t declared_gib[GPU_MODEL_COUNT] = {
    [GPU_MODEL_H100_80GB] = 80, [GPU_MODEL_H200_141GB] = 141, [GPU_MODEL_A100_40GB] = 40,
    [GPU_MODEL_A100_80GB] = 80, [GPU_MODEL_A30_24GB] = 24,    [GPU_MODEL_L40S] = 48,
    [GPU_MODEL_OTHER] = 0,
};

/* True when word occurs in name as a whole word: not preceded or followed by a letter or
 * digit, so "H200" is not found in "GH200" and "A30" not in "A300". */
static bool has_word(const char *name, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(name, word); p; p = strstr(p + 1, word)) {
        bool left = p == name || !isalnum((unsigned char)p[-1]);
        bool right = !isalnum((unsigned char)p[n]);
        if (left && right)
            return true;
    }
    return false;
}

enum gpu_model gpuinfo_model_of(const char *name, uint64_t memory_bytes)
{
    uint64_t mib = memory_bytes >> 20;
    if (!name)
        return GPU_MODEL_OTHER;
    for (size_t i = 0; i < sizeof(model_rules) / sizeof(model_rules[0]); i++) {
        const struct model_rule *r = &model_rules[i];
        if (mib >= r->min_mib && mib <= r->max_mib && has_word(name, r->family) &&
            !(r->unless && has_word(name, r->unless)))
            return r->model;
    }
    return GPU_MODEL_OTHER;
}

/* ---- Declared inventories --------------------------------------------------------------- */

/* A piece of the spec: [p, p + n). */
struct span {
    const char *p;
    size_t n;
};

static struct span span_trim(struct span s)
{
    while (s.n && isspace((unsigned char)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && isspace((unsigned char)s.p[s.n - 1]))
        s.n--;
    return s;
}

/* Copy s into buf (size bytes); false when it does not fit. */
static bool span_copy(struct span s, char *buf, size_t size)
{
    if (s.n >= size)
        return false;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return true;
}

/* "H100-80GB, H200-141GB, ...", from mig.h's model table. */
static void model_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int m = 0; m < GPU_MODEL_COUNT && used < size; m++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", m ? ", " : "",
                                 mig_model((enum gpu_model)m)->name);
}

/* Parse one MIG instance "<profile>[@<start>]" of model m into *in.
 * RET: 0, or an error with err naming the instance within group. */
static int declare_instance(struct span tok, enum gpu_model m, struct span group,
                            struct mig_instance_spec *in, char *err, size_t len)
{
    const struct gpu_model_info *info = mig_model(m);
    const char *at = memchr(tok.p, '@', tok.n);
    struct span name = {tok.p, at ? (size_t)(at - tok.p) : tok.n};
    char buf[32];
    int id;
    const struct mig_profile *p;

    if (!span_copy(name, buf, sizeof(buf)) || (id = mig_name_id(buf)) < 0 ||
        !(p = mig_profile_of(m, id))) {
        snprintf(err, len, "\"%.*s\": MIG profile \"%.*s\" is not offered by %s", (int)group.n,
                 group.p, (int)(name.n < 40 ? name.n : 40), name.p, info->name);
        return -ALLOT_ECONFIG;
    }
    in->profile = (int8_t)(p - info->profiles);
    in->start = -1;
    if (at) {
        struct span s = {at + 1, tok.n - name.n - 1};
        if (s.n != 1 || !isdigit((unsigned char)s.p[0]) || s.p[0] - '0' >= info->memory_slices) {
            snprintf(err, len, "\"%.*s\": \"%.*s\" is not a memory slice of %s (0 to %d)",
                     (int)group.n, group.p, (int)(tok.n < 40 ? tok.n : 40), tok.p, info->name,
                     info->memory_slices - 1);
            return -ALLOT_EPARSE;
        }
        in->start = (int8_t)(s.p[0] - '0');
    }
    return 0;
}

/* Parse "mig=<profile>+<profile>..." of model m into inst (MIG_MAX_INSTANCES) and place it.
 * '+' followed by a digit starts the next profile; any other '+' belongs to the name
 * ("1g.10gb+me"). RET: 0 with *n set, or an error with err naming group. */
static int declare_layout(struct span layout, enum gpu_model m, struct span group,
                          struct mig_instance_spec *inst, int *n, char *err, size_t len)
{
    const struct gpu_model_info *info = mig_model(m);
    char why[160];
    int rc;

    *n = 0;
    if (layout.n < 4 || memcmp(layout.p, "mig=", 4) != 0) {
        snprintf(err, len, "\"%.*s\": expected \":mig=<profile>+<profile>...\" after the model",
                 (int)group.n, group.p);
        return -ALLOT_EPARSE;
    }
    if (info->compute_slices == 0) {
        snprintf(err, len, "\"%.*s\": GPU model %s does not support MIG", (int)group.n, group.p,
                 info->name);
        return -ALLOT_ECONFIG;
    }
    const char *p = layout.p + 4, *end = layout.p + layout.n;
    if (p == end) {
        snprintf(err, len, "\"%.*s\": no MIG profile after \"mig=\"", (int)group.n, group.p);
        return -ALLOT_EPARSE;
    }
    while (p <= end) {
        const char *q = p;
        while (q < end && !(q[0] == '+' && q + 1 < end && isdigit((unsigned char)q[1])))
            q++;
        if (*n == MIG_MAX_INSTANCES) {
            snprintf(err, len, "\"%.*s\": more than %d MIG instances on one GPU", (int)group.n,
                     group.p, MIG_MAX_INSTANCES);
            return -ALLOT_ECONFIG;
        }
        struct span tok = {p, (size_t)(q - p)};
        rc = declare_instance(tok, m, group, &inst[*n], err, len);
        if (rc)
            return rc;
        (*n)++;
        p = q + 1;
    }
    rc = mig_layout_place(m, inst, *n, why, sizeof(why));
    if (rc) {
        snprintf(err, len, "\"%.*s\": %s", (int)group.n, group.p, why);
        return rc;
    }
    return 0;
}

/* Parse one group "<count>x<model>[:mig=...]" and append its GPUs to out.
 * RET: 0, or an error with err naming the group. */
static int declare_group(struct span group, struct gpuinfo *out, char *err, size_t len)
{
    struct mig_instance_spec inst[MIG_MAX_INSTANCES];
    int n_inst = 0, rc;
    size_t i = 0;
    unsigned long count = 0;
    enum gpu_model m;
    char model[32], known[160];

    while (i < group.n && isdigit((unsigned char)group.p[i])) {
        if (count <= 1000)
            count = count * 10 + (unsigned long)(group.p[i] - '0');
        i++;
    }
    if (i == 0 || i >= group.n || group.p[i] != 'x') {
        snprintf(err, len, "\"%.*s\": expected <count>x<model>, as in 8xH100-80GB", (int)group.n,
                 group.p);
        return -ALLOT_EPARSE;
    }
    if (count < 1 || count > GPUINFO_MAX_GPUS) {
        snprintf(err, len, "\"%.*s\": GPU count %s%lu is outside 1 to %d", (int)group.n, group.p,
                 count > 1000 ? "over " : "", count > 1000 ? 1000ul : count, GPUINFO_MAX_GPUS);
        return -ALLOT_ERANGE;
    }
    const char *colon = memchr(group.p + i + 1, ':', group.n - i - 1);
    struct span name = {group.p + i + 1,
                        colon ? (size_t)(colon - group.p - i - 1) : group.n - i - 1};
    if (!span_copy(name, model, sizeof(model)) || mig_model_parse(model, &m) != 0) {
        model_list(known, sizeof(known));
        snprintf(err, len, "\"%.*s\": unknown GPU model \"%.*s\" (known: %s)", (int)group.n,
                 group.p, (int)(name.n < 40 ? name.n : 40), name.p, known);
        return -ALLOT_ECONFIG;
    }
    if (colon) {
        struct span layout = {colon + 1, (size_t)(group.p + group.n - colon - 1)};
        rc = declare_layout(layout, m, group, inst, &n_inst, err, len);
        if (rc)
            return rc;
    }
    if (out->n + count > GPUINFO_MAX_GPUS) {
        snprintf(err, len, "\"%.*s\": %lu GPUs in all; a node holds at most %d", (int)group.n,
                 group.p, out->n + count, GPUINFO_MAX_GPUS);
        return -ALLOT_ERANGE;
    }
    for (unsigned long c = 0; c < count; c++) {
        struct gpuinfo_gpu *g = &out->gpus[out->n];
        memset(g, 0, sizeof(*g));
        g->index = out->n;
        snprintf(g->uuid, sizeof(g->uuid), "DECLARED-%u", (unsigned)out->n);
        snprintf(g->name, sizeof(g->name), "%s", mig_model(m)->name);
        g->model = m;
        g->memory_bytes = (uint64_t)declared_gib[m] << 30;
        g->mig_enabled = n_inst > 0;
        g->n_mig = (uint32_t)n_inst;
        for (int k = 0; k < n_inst; k++) {
            snprintf(g->mig[k].uuid, sizeof(g->mig[k].uuid), "DECLARED-%u-MIG-%d", (unsigned)out->n,
                     k);
            snprintf(g->mig[k].profile, sizeof(g->mig[k].profile), "%s",
                     mig_model(m)->profiles[inst[k].profile].name);
            g->mig[k].start = inst[k].start;
        }
        g->utilization_pct = -1;
        g->temperature_c = -1;
        g->ecc_uncorrected = -1;
        g->healthy = true;
        out->n++;
    }
    return 0;
}

int gpuinfo_declare(const char *spec, struct gpuinfo *out, char *err, size_t len)
{
    int rc = 0;
    assert(out);
    memset(out, 0, sizeof(*out));
    out->discovered = false;
    if (!spec || !span_trim((struct span){spec, strlen(spec)}).n) {
        snprintf(err, len, "empty GPU inventory: expected groups like 8xH100-80GB");
        return -ALLOT_EPARSE;
    }
    size_t total = strnlen(spec, GPUINFO_SPEC_MAX + 1);
    if (total > GPUINFO_SPEC_MAX) {
        snprintf(err, len, "GPU inventory longer than %d bytes", GPUINFO_SPEC_MAX);
        return -ALLOT_ERANGE;
    }
    const char *p = spec, *end = spec + total;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *q = comma ? comma : end;
        struct span group = span_trim((struct span){p, (size_t)(q - p)});
        if (!group.n) {
            snprintf(err, len, "empty group in GPU inventory \"%s\"", spec);
            rc = -ALLOT_EPARSE;
            goto out;
        }
        rc = declare_group(group, out, err, len);
        if (rc)
            goto out;
        p = q + 1;
    }
out:
    if (rc)
        out->n = 0;
    return rc;
}

/* ---- Report ----------------------------------------------------------------------------- */

static json_t *int_or_null(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *string_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

/* Set key of o to v (stolen); 1 when that failed (no memory, or o or v NULL), else 0. */
static int put(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v) != 0;
}

static json_t *gpu_json(const struct gpuinfo_gpu *g)
{
    json_t *o = json_object(), *mig = json_array();
    int bad = !o || !mig;
    for (uint32_t k = 0; !bad && k < g->n_mig && k < MIG_MAX_INSTANCES; k++) {
        json_t *mo = json_object();
        bad |= put(mo, PROTOCOL_FIELD_UUID, string_or_null(g->mig[k].uuid));
        bad |= put(mo, "profile", string_or_null(g->mig[k].profile));
        bad |= put(mo, PROTOCOL_FIELD_START, int_or_null(g->mig[k].start));
        bad |= json_array_append_new(mig, mo) != 0;
    }
    bad |= put(o, PROTOCOL_FIELD_INDEX, json_integer(g->index));
    bad |= put(o, PROTOCOL_FIELD_UUID, string_or_null(g->uuid));
    bad |= put(o, "name", json_string(g->name));
    bad |= put(o, "model", json_string(mig_model(g->model)->name));
    bad |= put(o, "memory", json_integer((json_int_t)g->memory_bytes));
    bad |= put(o, "mig_enabled", json_boolean(g->mig_enabled));
    bad |= put(o, PROTOCOL_FIELD_MIG, mig);
    bad |= put(o, "utilization", int_or_null(g->utilization_pct));
    bad |= put(o, "temperature", int_or_null(g->temperature_c));
    bad |= put(o, "ecc_uncorrected", int_or_null(g->ecc_uncorrected));
    bad |= put(o, PROTOCOL_FIELD_HEALTHY, json_boolean(g->healthy));
    bad |= put(o, "health_reason", string_or_null(g->health_reason));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gpuinfo_to_json(const struct gpuinfo *g)
{
    json_t *o = json_object(), *gpus = json_array();
    int bad = !o || !gpus;
    for (uint32_t i = 0; !bad && i < g->n && i < GPUINFO_MAX_GPUS; i++)
        bad |= json_array_append_new(gpus, gpu_json(&g->gpus[i])) != 0;
    bad |= put(o, PROTOCOL_FIELD_DISCOVERED, json_boolean(g->discovered));
    bad |= put(o, PROTOCOL_FIELD_DRIVER, string_or_null(g->driver));
    bad |= put(o, PROTOCOL_FIELD_GPUS, gpus);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
