/* Engine benchmark: builds a large platform through the public sched API, schedules a full
 * queue in one pass, then times single decisions on the full cluster, and prints the figures
 * against the targets (10,000 nodes, 100,000 workloads: the whole queue < 0.2 s, each
 * decision's p99 < 50 us, submit, finish and stopped alike (issue 15), < 1 GiB). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/mig.h"
#include "sched/sched.h"

#include "percentile.h"

/* Targets of the issue, on one core. */
#define TARGET_SCHEDULE_S 0.2
#define TARGET_DECISION_P99_US 50.0
#define TARGET_RSS_MIB 1024.0

#define GPUS_PER_NODE 8
#define NODE_CPU (128 * 1000)               /* millicores */
#define NODE_MEMORY ((int64_t)2 << 40)      /* 2 TiB */
#define CPU_PER_GPU (12 * 1000)             /* a replica asks this much per GPU */
#define MEMORY_PER_GPU ((int64_t)128 << 30) /* 128 GiB */
#define MIG_NODE_EVERY 20                   /* one node in 20 is split into 3g.40gb slices */
#define SHARED_CLUSTERS 5
#define DECISION_STEP_MS 100 /* `now` advances this much per decision */

struct bench_config {
    uint32_t nodes;
    uint32_t tenants;
    uint32_t workspaces_per_tenant;
    uint32_t workloads;
    uint32_t decisions;
    uint64_t seed;
    uint32_t checkpoint_aware;   /* the engine option (docs/policy.md, "Lost work"): 1 or 0 */
    uint32_t time_limit_percent; /* workloads given a time limit (docs/policy.md, backfill) */
    uint32_t topology; /* 1: levels [block, rack] (a block: 32 nodes of a tenant, a rack 8);
                        * gangs require a block (half) or prefer a rack (the others) */
};

/* xorshift64*: deterministic across runs and platforms. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n). n > 0. */
static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)((rng_next() >> 32) % n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "bench_sched: %s failed (%d): %s\n", what, rc, err ? err : "");
    exit(1);
}

/* A set of workload ids with O(1) add, remove and random pick. pos[id] is its index in ids,
 * or UINT32_MAX. */
struct running_set {
    uint32_t *ids;
    uint32_t n, cap;
    uint32_t *pos;
    uint32_t cap_pos;
};

static void running_reserve_pos(struct running_set *r, uint32_t id)
{
    if (id < r->cap_pos)
        return;
    uint32_t cap = r->cap_pos ? r->cap_pos : 1024;
    while (cap <= id)
        cap *= 2;
    uint32_t *p = realloc(r->pos, cap * sizeof(*p));
    if (!p)
        die("realloc", -ENOMEM, "running set");
    for (uint32_t i = r->cap_pos; i < cap; i++)
        p[i] = UINT32_MAX;
    r->pos = p;
    r->cap_pos = cap;
}

static void running_add(struct running_set *r, uint32_t id)
{
    running_reserve_pos(r, id);
    if (r->pos[id] != UINT32_MAX)
        return;
    if (r->n == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 1024;
        uint32_t *p = realloc(r->ids, cap * sizeof(*p));
        if (!p)
            die("realloc", -ENOMEM, "running set");
        r->ids = p;
        r->cap = cap;
    }
    r->pos[id] = r->n;
    r->ids[r->n++] = id;
}

static void running_remove(struct running_set *r, uint32_t id)
{
    if (id >= r->cap_pos || r->pos[id] == UINT32_MAX)
        return;
    uint32_t i = r->pos[id], last = r->ids[--r->n];
    r->ids[i] = last;
    r->pos[last] = i;
    r->pos[id] = UINT32_MAX;
}

/* What the caller knows from the engine's events, kept the way a daemon would keep it:
 * admitted workloads run until they finish or are told to stop (preempting); those then
 * drain until the caller reports their exit (sched_stopped). */
struct cluster_view {
    struct running_set running;
    struct running_set draining;
    uint64_t kind[SCHED_EV_COUNT]; /* events seen, by kind */
    uint64_t digest;       /* FNV-1a of every event and every admitted placement, in order */
    uint64_t digest_moves; /* the same without queue reasons (queued events) */
};

static void digest_add(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

/* Fold what decides an event into the view's digest: two runs of different engine code
 * that make the same decisions print the same digest (an optimisation must not change it). */
static void digest_event(const struct sched *s, struct cluster_view *view,
                         const struct sched_event *e)
{
    int64_t fields[] = {e->kind,  e->t,        e->workload, e->tenant, e->reason,
                        e->other, e->deadline, e->borrowed, e->a,      e->b};
    digest_add(&view->digest, fields, sizeof(fields));
    digest_add(&view->digest, e->message, strnlen(e->message, sizeof(e->message)));
    if (e->kind != SCHED_EV_QUEUED)
        digest_add(&view->digest_moves, fields, sizeof(fields));
    if (e->kind != SCHED_EV_ADMITTED)
        return;
    const struct sched_workload *w = &s->workloads[e->workload];
    for (uint32_t r = 0; r < w->replicas; r++) {
        int64_t place[] = {w->placement[r].node, w->placement[r].gpu_mask, w->placement[r].mig_gpu,
                           w->placement[r].mig_slot};
        digest_add(&view->digest, place, sizeof(place));
        digest_add(&view->digest_moves, place, sizeof(place));
    }
}

static void events_consume(struct sched *s, struct cluster_view *view)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    for (uint32_t i = 0; i < n; i++) {
        view->kind[ev[i].kind]++;
        digest_event(s, view, &ev[i]);
        switch (ev[i].kind) {
        case SCHED_EV_ADMITTED:
            running_add(&view->running, ev[i].workload);
            break;
        case SCHED_EV_PREEMPTING:
            running_remove(&view->running, ev[i].workload);
            running_add(&view->draining, ev[i].workload);
            break;
        case SCHED_EV_FINISHED:
        case SCHED_EV_STOPPED:
        case SCHED_EV_CANCELLED:
            running_remove(&view->running, ev[i].workload);
            running_remove(&view->draining, ev[i].workload);
            break;
        default:
            break;
        }
    }
    sched_events_clear(s);
}

static void view_free(struct cluster_view *view)
{
    free(view->running.ids);
    free(view->running.pos);
    free(view->draining.ids);
    free(view->draining.pos);
}

/* Timings of one kind of decision, in microseconds. */
struct samples {
    double *us;
    uint32_t n, cap;
};

static void samples_add(struct samples *sm, double us)
{
    if (sm->n == sm->cap) {
        uint32_t cap = sm->cap ? sm->cap * 2 : 1024;
        double *p = realloc(sm->us, cap * sizeof(*p));
        if (!p)
            die("realloc", -ENOMEM, "samples");
        sm->us = p;
        sm->cap = cap;
    }
    sm->us[sm->n++] = us;
}

/* Report the exit of every draining workload, one decision each (sched_stopped and a pass),
 * the way the agents would once the grace periods end. Stops that lead to more preemptions
 * are followed too, up to a bound. Timed into sm when it is not NULL. */
static void drain_all(struct sched *s, struct cluster_view *view, int64_t now, struct samples *sm)
{
    for (uint32_t guard = 0; view->draining.n > 0 && guard < 1000000; guard++) {
        uint32_t id = view->draining.ids[view->draining.n - 1];
        double a = now_s();
        int rc = sched_stopped(s, id, now);
        int rs = sched_schedule(s, now);
        if (sm)
            samples_add(sm, (now_s() - a) * 1e6);
        if (rc)
            die("sched_stopped", rc, sched_state_name(s->workloads[id].state));
        if (rs)
            die("sched_schedule", rs, "");
        events_consume(s, view);
        running_remove(&view->draining, id); /* should the event have been missed */
    }
}

/* The platform's shape, kept for generating workloads. */
struct platform {
    uint32_t tenants;
    uint32_t workspaces_per_tenant;
    bool *ws_reserved; /* [tenant * wpt + w]: the workspace has a reservation */
    int mig_3g40;      /* name id of 3g.40gb */
    uint32_t time_limit_percent;
    bool topology; /* gangs name a topology level (bench_config.topology) */
};

static int h100_profile_index(const char *name)
{
    const struct gpu_model_info *m = mig_model(GPU_MODEL_H100_80GB);
    for (int i = 0; i < m->n_profiles; i++)
        if (strcmp(m->profiles[i].name, name) == 0)
            return i;
    return -1;
}

/* Tenants (shared), SHARED_CLUSTERS clusters, nodes dealt evenly to tenants, and workspaces
 * with reservations on about 60% of each tenant's GPUs. */
static void platform_build(struct sched *s, const struct bench_config *cfg, struct platform *p)
{
    char err[256], name[128], tenant[64], cluster[64];
    int rc;
    p->tenants = cfg->tenants;
    p->topology = cfg->topology != 0;
    p->workspaces_per_tenant = cfg->workspaces_per_tenant;
    p->time_limit_percent = cfg->time_limit_percent;
    p->ws_reserved = calloc((size_t)cfg->tenants * cfg->workspaces_per_tenant, sizeof(bool));
    if (!p->ws_reserved)
        die("calloc", -ENOMEM, "workspaces");
    p->mig_3g40 = mig_name_id("3g.40gb");
    int prof = h100_profile_index("3g.40gb");
    if (p->mig_3g40 < 0 || prof < 0)
        die("mig lookup", -1, "3g.40gb not offered by H100-80GB");

    for (uint32_t t = 0; t < cfg->tenants; t++) {
        snprintf(tenant, sizeof(tenant), "t%03u", t);
        struct sched_tenant_spec ts = {.name = tenant, .isolation = SCHED_ISOLATION_SHARED};
        if ((rc = sched_tenant_add(s, &ts, NULL, err, sizeof(err))))
            die("sched_tenant_add", rc, err);
    }
    for (uint32_t c = 0; c < SHARED_CLUSTERS; c++) {
        snprintf(cluster, sizeof(cluster), "c%u", c);
        struct sched_cluster_spec cs = {.name = cluster};
        if ((rc = sched_cluster_add(s, &cs, NULL, err, sizeof(err))))
            die("sched_cluster_add", rc, err);
    }

    struct sched_gpu_spec whole[GPUS_PER_NODE], sliced[GPUS_PER_NODE];
    for (int g = 0; g < GPUS_PER_NODE; g++) {
        whole[g] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB, .healthy = true};
        sliced[g] = whole[g];
        sliced[g].n_mig = 2;
        sliced[g].mig[0] = (struct mig_instance_spec){.profile = (int8_t)prof, .start = 0};
        sliced[g].mig[1] = (struct mig_instance_spec){.profile = (int8_t)prof, .start = 4};
    }
    for (uint32_t i = 0; i < cfg->nodes; i++) {
        uint32_t t = i % cfg->tenants;
        uint32_t k = i / cfg->tenants; /* index of the node within its tenant */
        snprintf(tenant, sizeof(tenant), "t%03u", t);
        snprintf(cluster, sizeof(cluster), "c%u", t % SHARED_CLUSTERS);
        snprintf(name, sizeof(name), "t%03u-n%05u", t, k);
        char block[32], rack[32];
        snprintf(block, sizeof(block), "b%u", k / 32);
        snprintf(rack, sizeof(rack), "r%u", k / 8);
        struct sched_label labels[2] = {{"block", block}, {"rack", rack}};
        struct sched_node_spec ns = {
            .n_labels = cfg->topology ? 2 : 0,
            .labels = labels,
            .name = name,
            .cluster = cluster,
            .tenant = tenant,
            .cpu = NODE_CPU,
            .memory = NODE_MEMORY,
            .state = SCHED_NODE_READY,
            .n_gpus = GPUS_PER_NODE,
            .gpus = k % MIG_NODE_EVERY == MIG_NODE_EVERY - 1 ? sliced : whole,
        };
        if ((rc = sched_node_add(s, &ns, NULL, err, sizeof(err))))
            die("sched_node_add", rc, err);
    }

    /* The first 60% of each tenant's workspaces (at least one) share 60% of its GPUs. */
    uint32_t wpt = cfg->workspaces_per_tenant;
    uint32_t reserving = wpt * 6 / 10 ? wpt * 6 / 10 : 1;
    for (uint32_t t = 0; t < cfg->tenants; t++) {
        uint32_t tenant_nodes = cfg->nodes / cfg->tenants + (t < cfg->nodes % cfg->tenants);
        int64_t tenant_gpus = (int64_t)tenant_nodes * GPUS_PER_NODE;
        int64_t each = tenant_gpus * 6 / 10 / reserving;
        for (uint32_t w = 0; w < wpt; w++) {
            snprintf(name, sizeof(name), "t%03u/ws%02u", t, w);
            bool reserved = w < reserving && each > 0;
            struct sched_workspace_spec ws = {
                .name = name,
                .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
                .reserved = reserved ? each * QUANTITY_GPU_UNITS : 0,
                .lend = w % 5 != 4, /* one workspace in five keeps its idle reservation */
                .weight = 1 + w % 3,
            };
            if ((rc = sched_workspace_add(s, &ws, NULL, err, sizeof(err))))
                die("sched_workspace_add", rc, err);
            p->ws_reserved[t * wpt + w] = reserved;
        }
    }
}

/* Shapes of the mix, per 100 workloads. */
enum shape { SHAPE_1, SHAPE_2, SHAPE_4, SHAPE_8, SHAPE_GANG, SHAPE_MIG, SHAPE_COUNT };
static const struct {
    const char *name;
    uint32_t percent;
    uint32_t gpus, replicas;
    bool mig;
} shapes[SHAPE_COUNT] = {
    [SHAPE_1] = {"1 GPU", 60, 1, 1, false},      [SHAPE_2] = {"2 GPUs", 20, 2, 1, false},
    [SHAPE_4] = {"4 GPUs", 10, 4, 1, false},     [SHAPE_8] = {"8 GPUs", 5, 8, 1, false},
    [SHAPE_GANG] = {"gang 2x8", 3, 8, 2, false}, [SHAPE_MIG] = {"MIG 3g.40gb", 2, 0, 1, true},
};

/* A random workload of the mix for tenant t, named name. Inference (non-preemptible) goes
 * only to reserving workspaces and only in small shapes, so that it is never rejected. */
static void workload_make(const struct platform *p, uint32_t t, const char *name, char *ws_name,
                          size_t ws_len, struct sched_workload_spec *spec)
{
    uint32_t w = rng_below(p->workspaces_per_tenant);
    snprintf(ws_name, ws_len, "t%03u/ws%02u", t, w);
    uint32_t roll = rng_below(100), acc = 0;
    enum shape sh = SHAPE_1;
    for (int i = 0; i < SHAPE_COUNT; i++) {
        acc += shapes[i].percent;
        if (roll < acc) {
            sh = (enum shape)i;
            break;
        }
    }
    uint32_t kroll = rng_below(100);
    enum sched_kind kind = kroll < 40   ? SCHED_KIND_TRAINING
                           : kroll < 75 ? SCHED_KIND_EXPERIMENT
                                        : SCHED_KIND_FINETUNE;
    bool small = sh == SHAPE_1 || sh == SHAPE_MIG;
    if (small && p->ws_reserved[t * p->workspaces_per_tenant + w] && rng_below(100) < 8)
        kind = SCHED_KIND_INFERENCE;
    uint32_t gpus = shapes[sh].gpus;
    *spec = (struct sched_workload_spec){
        .name = name,
        .workspace = ws_name,
        .kind = kind,
        .gpus = gpus,
        .mig = shapes[sh].mig ? p->mig_3g40 : -1,
        .model = -1,
        .replicas = shapes[sh].replicas,
        .cpu = shapes[sh].mig ? CPU_PER_GPU / 2 : (int64_t)gpus * CPU_PER_GPU,
        .memory = shapes[sh].mig ? MEMORY_PER_GPU / 2 : (int64_t)gpus * MEMORY_PER_GPU,
        .storage = 0,
        .preemptible = -1,
        .grace_ms = -1,
    };
    /* (the draw only with the option: the default mix stays that of earlier runs) */
    if (p->time_limit_percent && rng_below(100) < p->time_limit_percent)
        spec->time_limit_ms = (int64_t)(1 + rng_below(24)) * 3600 * 1000;
    if (p->topology && sh == SHAPE_GANG) {
        spec->topology_required = rng_below(2) == 0;
        spec->topology = spec->topology_required ? "block" : "rack";
    }
}

static uint32_t pending_count(const struct sched *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_workspaces; i++)
        n += s->workspaces[i].n_pending;
    return n;
}

/* GPU units allocated (held or claimed) and healthy, over all tenants. */
static void gpu_usage(const struct sched *s, int64_t *used, int64_t *capacity)
{
    *used = *capacity = 0;
    for (uint32_t i = 0; i < s->n_tenants; i++) {
        *capacity += s->tenants[i].healthy_units;
        *used += s->tenants[i].healthy_units - s->tenants[i].free_units;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_sched [--nodes N] [--tenants N] [--workspaces-per-tenant N]\n"
               "                   [--workloads N] [--decisions N] [--seed N]\n"
               "                   [--checkpoint-aware 1|0] [--topology 0|1]\n"
               "                   [--time-limit-percent P]  (P%% get a time limit of 1-24h)\n"
               "Run it pinned to one core: taskset -c 1 bench_sched\n");
}

static int parse_args(int argc, char **argv, struct bench_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_sched: %s needs a value\n", argv[i]);
            return -1;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (errno || *end || end == argv[i + 1] || v > UINT32_MAX) {
            fprintf(stderr, "bench_sched: %s: bad number '%s'\n", argv[i], argv[i + 1]);
            return -1;
        }
        const char *opt = argv[i++];
        if (strcmp(opt, "--nodes") == 0)
            cfg->nodes = (uint32_t)v;
        else if (strcmp(opt, "--tenants") == 0)
            cfg->tenants = (uint32_t)v;
        else if (strcmp(opt, "--workspaces-per-tenant") == 0)
            cfg->workspaces_per_tenant = (uint32_t)v;
        else if (strcmp(opt, "--workloads") == 0)
            cfg->workloads = (uint32_t)v;
        else if (strcmp(opt, "--decisions") == 0)
            cfg->decisions = (uint32_t)v;
        else if (strcmp(opt, "--seed") == 0)
            cfg->seed = v;
        else if (strcmp(opt, "--checkpoint-aware") == 0 && v <= 1)
            cfg->checkpoint_aware = (uint32_t)v;
        else if (strcmp(opt, "--time-limit-percent") == 0 && v <= 100)
            cfg->time_limit_percent = (uint32_t)v;
        else if (strcmp(opt, "--topology") == 0)
            cfg->topology = (uint32_t)v;
        else {
            fprintf(stderr, "bench_sched: unknown option %s\n", opt);
            return -1;
        }
    }
    if (cfg->tenants < 1 || cfg->tenants > 1000 || cfg->nodes < cfg->tenants ||
        cfg->workspaces_per_tenant < 1 || cfg->workspaces_per_tenant > 100) {
        fprintf(stderr, "bench_sched: need 1 <= tenants <= 1000, nodes >= tenants, "
                        "1 <= workspaces-per-tenant <= 100\n");
        return -1;
    }
    if (cfg->nodes > 1000000 || cfg->workloads > 10000000) {
        fprintf(stderr, "bench_sched: at most 1000000 nodes and 10000000 workloads\n");
        return -1;
    }
    return 0;
}

static const char *verdict(bool met)
{
    return met ? "met" : "NOT MET";
}

/* Sort sm and print its count, p50, p99 and max under title. RET the p99. */
static double samples_report(struct samples *sm, const char *title)
{
    percentile_sort(sm->us, sm->n);
    double p99 = percentile(sm->us, sm->n, 0.99);
    printf("%-44s %14u\n", title, sm->n);
    printf("%-44s %14.1f\n", "  p50 (us)", percentile(sm->us, sm->n, 0.50));
    printf("%-44s %14.1f\n", "  p99 (us)", p99);
    printf("%-44s %14.1f\n", "  max (us)", sm->n ? sm->us[sm->n - 1] : 0.0);
    return p99;
}

int main(int argc, char **argv)
{
    struct bench_config cfg = {
        .nodes = 10000,
        .tenants = 50,
        .workspaces_per_tenant = 10,
        .workloads = 100000,
        .decisions = 2000,
        .seed = 0x9E3779B97F4A7C15ULL,
        .checkpoint_aware = 1,
    };
    if (parse_args(argc, argv, &cfg)) {
        usage(stderr);
        return 2;
    }
    rng_state = cfg.seed ? cfg.seed : 1;

    struct sched *s;
    struct platform plat;
    struct cluster_view view = {.digest = 0xcbf29ce484222325ULL,
                                .digest_moves = 0xcbf29ce484222325ULL};
    char err[256], name[64], ws_name[64];
    int rc;

    printf("bench_sched: %u nodes x %d GPUs, %u tenants, %u workspaces, %u workloads, "
           "%u decisions, seed %" PRIu64 ", checkpoint_aware %u%s\n",
           cfg.nodes, GPUS_PER_NODE, cfg.tenants, cfg.tenants * cfg.workspaces_per_tenant,
           cfg.workloads, cfg.decisions, cfg.seed, cfg.checkpoint_aware,
           cfg.topology ? ", topology [block, rack]: gangs require a block or prefer a rack" : "");

    /* 1. the platform */
    double t0 = now_s();
    struct sched_options opt;
    sched_options_default(&opt);
    opt.checkpoint_aware = cfg.checkpoint_aware != 0;
    if (cfg.topology) {
        opt.topology[0] = "block";
        opt.topology[1] = "rack";
        opt.n_topology = 2;
    }
    if ((rc = sched_new(&opt, &s)))
        die("sched_new", rc, "");
    platform_build(s, &cfg, &plat);
    double build_s = now_s() - t0;

    /* 2. the queue, submitted at t=0, then one pass */
    uint32_t rejected = 0;
    uint32_t shape_count[SHAPE_COUNT] = {0};
    int64_t requested_units = 0;
    t0 = now_s();
    for (uint32_t i = 0; i < cfg.workloads; i++) {
        struct sched_workload_spec spec;
        uint32_t t = i % cfg.tenants, id;
        snprintf(name, sizeof(name), "w%07u", i);
        workload_make(&plat, t, name, ws_name, sizeof(ws_name), &spec);
        rc = sched_submit(s, &spec, 0, &id, err, sizeof(err));
        if (rc == 0)
            requested_units += s->workloads[id].total.gpu;
        else if (rc == -ALLOT_EEXIST || rc == -ALLOT_ENOMEM)
            die("sched_submit", rc, err);
        else
            rejected++;
        shape_count[spec.mig >= 0       ? SHAPE_MIG
                    : spec.replicas > 1 ? SHAPE_GANG
                                        : (spec.gpus == 1   ? SHAPE_1
                                           : spec.gpus == 2 ? SHAPE_2
                                           : spec.gpus == 4 ? SHAPE_4
                                                            : SHAPE_8)]++;
    }
    double submit_s = now_s() - t0;

    t0 = now_s();
    rc = sched_schedule(s, 0);
    double schedule_s = now_s() - t0;
    if (rc)
        die("sched_schedule", rc, "");
    uint32_t n_events;
    sched_events(s, &n_events);
    events_consume(s, &view);
    uint64_t admitted = view.kind[SCHED_EV_ADMITTED];
    uint64_t pass_preempted = view.kind[SCHED_EV_PREEMPTING];
    uint32_t queued = pending_count(s);
    int64_t used_units, capacity_units;
    gpu_usage(s, &used_units, &capacity_units);
    /* workloads the pass told to stop exit before the decisions begin (untimed) */
    drain_all(s, &view, 0, NULL);

    t0 = now_s();
    rc = sched_check(s, err, sizeof(err));
    double check_s = now_s() - t0;
    if (rc)
        die("sched_check after the full pass", rc, err);

    /* 3. one more decision on the full cluster, alternately a submit and a finish; after
     * each, the exits of the workloads it preempted are reported, each its own decision */
    struct samples submit_us = {0}, finish_us = {0}, stopped_us = {0};
    memset(view.kind, 0, sizeof(view.kind));
    int64_t now = 0;
    for (uint32_t i = 0; i < cfg.decisions; i++) {
        now += DECISION_STEP_MS;
        if (i % 2 == 0) {
            struct sched_workload_spec spec;
            uint32_t t = rng_below(cfg.tenants);
            snprintf(name, sizeof(name), "d%07u", i);
            workload_make(&plat, t, name, ws_name, sizeof(ws_name), &spec);
            double a = now_s();
            rc = sched_submit(s, &spec, now, NULL, err, sizeof(err));
            int rs = sched_schedule(s, now);
            samples_add(&submit_us, (now_s() - a) * 1e6);
            if (rc == -ALLOT_EEXIST || rc == -ALLOT_ENOMEM)
                die("sched_submit", rc, err);
            if (rs)
                die("sched_schedule", rs, "");
        } else if (view.running.n > 0) {
            uint32_t id = view.running.ids[rng_below(view.running.n)];
            double a = now_s();
            rc = sched_finish(s, id, now);
            int rs = sched_schedule(s, now);
            samples_add(&finish_us, (now_s() - a) * 1e6);
            if (rc)
                die("sched_finish", rc, sched_state_name(s->workloads[id].state));
            if (rs)
                die("sched_schedule", rs, "");
        }
        events_consume(s, &view);
        drain_all(s, &view, now, &stopped_us);
    }
    rc = sched_check(s, err, sizeof(err));
    if (rc)
        die("sched_check after the decisions", rc, err);
    double rss = peak_rss_mib();

    /* 4. the figures */
    printf("\nworkload mix (submitted):");
    for (int i = 0; i < SHAPE_COUNT; i++)
        printf(" %s %u%s", shapes[i].name, shape_count[i], i + 1 < SHAPE_COUNT ? "," : "\n");
    char gpus[64];
    snprintf(gpus, sizeof(gpus), "%.1f / %.0f", (double)used_units / QUANTITY_GPU_UNITS,
             (double)capacity_units / QUANTITY_GPU_UNITS);
    printf("\n%-44s %14s\n", "figure", "value");
    printf("%-44s %14.3f\n", "platform build (s)", build_s);
    printf("%-44s %14.3f\n", "submit all workloads (s)", submit_s);
    printf("%-44s %14u\n", "  rejected at submit", rejected);
    printf("%-44s %14.1f\n", "  GPUs requested by accepted workloads",
           (double)requested_units / QUANTITY_GPU_UNITS);
    printf("%-44s %14.3f\n", "schedule whole queue, one pass (s)", schedule_s);
    printf("%-44s %14" PRIu64 "\n", "  admitted", admitted);
    printf("%-44s %14" PRIu64 "\n", "  preempted", pass_preempted);
    printf("%-44s %14u\n", "  still queued", queued);
    printf("%-44s %14u\n", "  events emitted (submit + pass)", n_events);
    printf("%-44s %14s\n", "  GPUs allocated / capacity", gpus);
    printf("%-44s %14.3f\n", "sched_check after the pass (s)", check_s);
    double p99_submit = samples_report(&submit_us, "decisions: submit + schedule (samples)");
    double p99_finish = samples_report(&finish_us, "decisions: finish + schedule (samples)");
    double p99_stopped = samples_report(&stopped_us, "decisions: stopped + schedule (samples)");
    printf("%-44s %14" PRIu64 "\n", "  admitted during decisions", view.kind[SCHED_EV_ADMITTED]);
    printf("%-44s %14" PRIu64 "\n", "  preemptions during decisions",
           view.kind[SCHED_EV_PREEMPTING]);
    printf("%-44s %14.1f\n", "peak RSS (MiB)", rss);
    printf("%-44s %#18" PRIx64 "\n", "digest of every decision", view.digest);
    printf("%-44s %#18" PRIx64 "\n", "  the same without queue reasons", view.digest_moves);

    printf("\ntargets:\n");
    printf("  schedule the whole queue < %.1f s: %.3f s, %s\n", TARGET_SCHEDULE_S, schedule_s,
           verdict(schedule_s < TARGET_SCHEDULE_S));
    printf("  one more decision p99 < %.0f us: submit %.1f us, finish %.1f us, stopped %.1f us, "
           "%s\n",
           TARGET_DECISION_P99_US, p99_submit, p99_finish, p99_stopped,
           submit_us.n && finish_us.n && stopped_us.n
               ? verdict(p99_submit < TARGET_DECISION_P99_US &&
                         p99_finish < TARGET_DECISION_P99_US &&
                         p99_stopped < TARGET_DECISION_P99_US)
               : "not measured");
    printf("  peak memory < %.0f MiB: %.1f MiB, %s\n", TARGET_RSS_MIB, rss,
           verdict(rss < TARGET_RSS_MIB));

    free(submit_us.us);
    free(finish_us.us);
    free(stopped_us.us);
    view_free(&view);
    free(plat.ws_reserved);
    sched_free(s);
    return 0;
}
