/* `allot sim --trace FILE` (one trace, several policies) and `allot sim --compare A B` (two
 * scenarios: what-if planning): inputs and platforms for the replay (replay.c), options,
 * and the output: tables, JSON, or a report directory (report.c). */
#include "sim/evaluation.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/replay.h"
#include "sim/report.h"
#include "sim/trace.h"
#include "common/error.h"
#include "common/quantity.h"
#include "schema/platform.h"
#include "sim/scenario.h"

#define NODE_GPUS 8 /* GPUs of a node of a platform made from flags */
#define MAX_NODES 100000

void evaluation_usage(FILE *f, const char *lead)
{
    fprintf(
        f,
        "%sallot sim --trace FILE [--format philly|generic]\n"
        "                 (--nodes N [--reserve none|proportional:F|WS=GPUS,...] |\n"
        "                  --platform FILE.yaml [--tenant T])\n"
        "                 [--policy static,shared,allot] [--starvation-age D] [--check] [--json]\n"
        "                 [--checkpoint-every D] [--checkpoint-aware on|off|both]\n"
        "                 [--time-limit-factor F] [--report DIR]\n"
        "       allot sim --compare BEFORE.yaml AFTER.yaml [--policy P] [--json]\n"
        "                 [--report DIR]\n\n"
        "Replays a job trace (or each scenario's submissions) through the allocation engine\n"
        "under each policy (or platform) and prints utilisation, queueing delay, completion\n"
        "time, preemptions, the reservation guarantee and fairness side by side.\n\n"
        "  --trace FILE          the job trace to replay (CSV)\n"
        "  --format F            the trace's columns: philly (the default) or generic\n"
        "  --nodes N             a platform of N nodes of 8 GPUs, one tenant 'trace'\n"
        "  --reserve R           their reservations: none, proportional:F or WS=GPUS,...\n"
        "  --platform FILE.yaml  or the platform from a file\n"
        "  --tenant T            the tenant of the trace's workspaces there (trace)\n"
        "  --policy P,...        static, shared, allot (all three; allot for --compare)\n"
        "  --starvation-age D    the engine's starvation age (platforms from flags)\n"
        "  --checkpoint-every D  jobs checkpoint every D of their run: a preempted one\n"
        "                        loses only the time since, and resumes from there\n"
        "  --checkpoint-aware A  victims losing the least work (on, the default), the victim\n"
        "                        order alone (off), or each policy both ways (both)\n"
        "  --compare A B         replay two scenarios' submissions side by side\n"
        "  --check               verify the engine's invariants during the replay\n"
        "  --time-limit-factor F each job's time limit is its duration x F (1 to 1000; off by\n"
        "                        default): the engine may then backfill\n"
        "  --json                one JSON document\n"
        "  --report DIR          also write figures.csv, figures.json, plots, index.html\n"
        "docs/simulator.md and docs/evaluation.md tell more.\n",
        lead);
}

bool evaluation_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--trace") == 0 || strcmp(argv[i], "--compare") == 0)
            return true;
    return false;
}

/* ---- a trace as replay input ---- */

struct trace_input {
    struct trace trace;
    char **names; /* full workspace names */
};

static int trace_input_next(void *ctx, struct replay_job *job)
{
    struct trace_input *ti = ctx;
    struct trace_job tj;
    int rc = trace_next(&ti->trace, &tj);
    if (rc <= 0)
        return rc;
    memset(job, 0, sizeof(*job));
    job->submit_ms = tj.submit_ms;
    job->duration_ms = tj.duration_ms;
    job->workspace = tj.workspace;
    struct sched_workload_spec *s = &job->spec;
    /* larger than a node: a gang of whole nodes (12 GPUs: 2 x 8) */
    s->replicas = tj.gpus > NODE_GPUS ? (tj.gpus + NODE_GPUS - 1) / NODE_GPUS : 1;
    s->gpus = tj.gpus > NODE_GPUS ? NODE_GPUS : tj.gpus;
    s->mig = -1;
    s->model = -1;
    s->kind = (enum sched_kind)tj.kind;
    s->has_priority = tj.has_priority;
    s->priority = tj.priority;
    s->preemptible = tj.preemptible;
    s->grace_ms = -1;
    return 1;
}

static int trace_input_rewind(void *ctx)
{
    return trace_rewind(&((struct trace_input *)ctx)->trace);
}

/* ---- a platform from flags ---- */

struct flag_platform {
    uint32_t nodes;
    int64_t starvation_age_ms; /* -1: the engine's default */
    const struct trace *trace;
    char **names;
    int64_t *reserved; /* GPU units per trace workspace */
};

static int flag_platform_build(void *ctx, struct sched **out, char *err, size_t len)
{
    struct flag_platform *fp = ctx;
    struct sched *s;
    struct sched_options opt;
    sched_options_default(&opt);
    if (fp->starvation_age_ms >= 0)
        opt.starvation_age_ms = fp->starvation_age_ms;
    int rc = sched_new(&opt, &s);
    if (rc)
        return rc;
    struct sched_tenant_spec t = {.name = "trace", .isolation = SCHED_ISOLATION_SHARED};
    struct sched_cluster_spec c = {.name = "trace"};
    rc = sched_tenant_add(s, &t, NULL, err, len);
    rc = rc ? rc : sched_cluster_add(s, &c, NULL, err, len);
    struct sched_gpu_spec gpus[NODE_GPUS];
    for (int i = 0; i < NODE_GPUS; i++)
        gpus[i] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB, .healthy = true};
    for (uint32_t i = 0; !rc && i < fp->nodes; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%05u", i);
        struct sched_node_spec n = {.name = name,
                                    .cluster = "trace",
                                    .tenant = "trace",
                                    .cpu = 256000,
                                    .memory = 4LL << 40,
                                    .n_gpus = NODE_GPUS,
                                    .gpus = gpus};
        rc = sched_node_add(s, &n, NULL, err, len);
    }
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    for (uint32_t i = 0; !rc && i < fp->trace->n_workspaces; i++) {
        struct sched_workspace_spec w = {.name = fp->names[i],
                                         .limits = none,
                                         .reserved = fp->reserved[i],
                                         .lend = true,
                                         .weight = 1};
        rc = sched_workspace_add(s, &w, NULL, err, len);
    }
    if (rc) {
        sched_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* --reserve: none, proportional:F (each workspace's share of the trace's GPU-time, of F
 * times the capacity, in whole GPUs, rounded down), or WS=GPUS,... */
static int reserve_parse(const char *arg, struct flag_platform *fp, char *err, size_t len)
{
    const struct trace *t = fp->trace;
    if (strcmp(arg, "none") == 0)
        return 0;
    if (strncmp(arg, "proportional:", 13) == 0) {
        char *end;
        double f = strtod(arg + 13, &end);
        if (*end || !(f > 0 && f <= 1)) {
            snprintf(err, len, "--reserve: proportional:F takes a fraction F in (0, 1]");
            return -ALLOT_EINVAL;
        }
        double total = 0;
        for (uint32_t i = 0; i < t->n_workspaces; i++)
            total += t->workspaces[i].gpu_seconds;
        for (uint32_t i = 0; i < t->n_workspaces && total > 0; i++)
            fp->reserved[i] = (int64_t)floor(f * (double)fp->nodes * NODE_GPUS *
                                             t->workspaces[i].gpu_seconds / total) *
                              QUANTITY_GPU_UNITS;
        return 0;
    }
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", arg);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        uint32_t i = 0;
        if (eq)
            *eq = '\0';
        while (eq && i < t->n_workspaces && strcmp(t->workspaces[i].name, tok) != 0)
            i++;
        int64_t units;
        if (!eq || i == t->n_workspaces || quantity_parse_gpu(eq + 1, &units) || units < 0) {
            snprintf(err, len,
                     "--reserve: expected none, proportional:F or WS=GPUS,... with workspaces "
                     "of the trace; '%.60s' is not",
                     tok);
            return -ALLOT_EINVAL;
        }
        fp->reserved[i] = units;
    }
    return 0;
}

/* ---- a platform file, and scenarios ---- */

static int yaml_platform_build(void *ctx, struct sched **out, char *err, size_t len)
{
    return platform_load(ctx, out, err, len);
}

struct scenario_input {
    const char *path;
    struct scenario scn;
    struct sched *engine; /* its platform, loaded once to check the file */
    uint32_t step, copy;
    char **names;
    uint32_t n_names;
};

static int scenario_input_next(void *ctx, struct replay_job *job)
{
    struct scenario_input *si = ctx;
    while (si->step < si->scn.n_steps) {
        const struct scenario_step *st = &si->scn.steps[si->step];
        uint32_t copies = st->count > 1 ? st->count : 1;
        if (st->action != SCENARIO_SUBMIT || st->duration_ms < 0 || si->copy >= copies) {
            si->step++;
            si->copy = 0;
            continue; /* only submissions with a run time are replayed */
        }
        si->copy++;
        memset(job, 0, sizeof(*job));
        job->submit_ms = st->at_ms;
        job->duration_ms = st->duration_ms > 0 ? st->duration_ms : 1;
        job->spec = st->submit;
        for (uint32_t i = 0; i < si->n_names; i++)
            if (strcmp(si->names[i], st->submit.workspace) == 0)
                job->workspace = i;
        return 1;
    }
    return 0;
}

static int scenario_input_rewind(void *ctx)
{
    struct scenario_input *si = ctx;
    si->step = si->copy = 0;
    return 0;
}

static int scenario_platform_build(void *ctx, struct sched **out, char *err, size_t len)
{
    struct scenario_input *si = ctx;
    struct scenario scn;
    int rc = scenario_load(si->path, &scn, out, err, len);
    if (!rc)
        scenario_cleanup(&scn);
    return rc;
}

static int scenario_input_open(struct scenario_input *si, const char *path, char *err, size_t len)
{
    memset(si, 0, sizeof(*si));
    si->path = path;
    int rc = scenario_load(path, &si->scn, &si->engine, err, len);
    for (uint32_t k = 0; !rc && k < si->scn.n_steps; k++) {
        const struct scenario_step *st = &si->scn.steps[k];
        if (st->action != SCENARIO_SUBMIT || !st->submit.workspace)
            continue;
        uint32_t i = 0;
        while (i < si->n_names && strcmp(si->names[i], st->submit.workspace) != 0)
            i++;
        if (i < si->n_names)
            continue;
        char **p = realloc(si->names, (si->n_names + 1) * sizeof(*p));
        if (!p || !(p[si->n_names] = strdup(st->submit.workspace))) {
            if (p)
                si->names = p;
            return -ALLOT_ENOMEM;
        }
        si->names = p;
        si->n_names++;
    }
    return rc;
}

static void scenario_input_close(struct scenario_input *si)
{
    for (uint32_t i = 0; i < si->n_names; i++)
        free(si->names[i]);
    free(si->names);
    scenario_cleanup(&si->scn);
    sched_free(si->engine);
}

/* ---- the command ---- */

struct options {
    const char *trace, *format, *platform, *tenant, *reserve, *policies, *report, *starvation;
    const char *checkpoint_every, *checkpoint_aware;
    const char *compare[2];
    long nodes;
    bool json;
    double time_limit_factor; /* 0: off */
};

static int options_parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){
        .format = "philly", .tenant = "trace", .reserve = "none", .policies = NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--trace") == 0              ? &o->trace
                            : strcmp(a, "--format") == 0           ? &o->format
                            : strcmp(a, "--platform") == 0         ? &o->platform
                            : strcmp(a, "--tenant") == 0           ? &o->tenant
                            : strcmp(a, "--reserve") == 0          ? &o->reserve
                            : strcmp(a, "--policy") == 0           ? &o->policies
                            : strcmp(a, "--report") == 0           ? &o->report
                            : strcmp(a, "--starvation-age") == 0   ? &o->starvation
                            : strcmp(a, "--checkpoint-every") == 0 ? &o->checkpoint_every
                            : strcmp(a, "--checkpoint-aware") == 0 ? &o->checkpoint_aware
                                                                   : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (strcmp(a, "--nodes") == 0 && i + 1 < argc) {
            char *end;
            o->nodes = strtol(argv[++i], &end, 10);
            if (*end || o->nodes < 1 || o->nodes > MAX_NODES) {
                fprintf(stderr, "allot sim: --nodes: expected 1 to %d\n", MAX_NODES);
                return 2;
            }
        } else if (strcmp(a, "--compare") == 0 && i + 2 < argc) {
            o->compare[0] = argv[++i];
            o->compare[1] = argv[++i];
        } else if (strcmp(a, "--time-limit-factor") == 0 && i + 1 < argc) {
            char *end;
            o->time_limit_factor = strtod(argv[++i], &end);
            if (*end || !(o->time_limit_factor >= 1 &&
                          o->time_limit_factor <= REPLAY_MAX_TIME_LIMIT_FACTOR)) {
                fprintf(stderr, "allot sim: --time-limit-factor: expected a number from 1 to %d\n",
                        REPLAY_MAX_TIME_LIMIT_FACTOR);
                return 2;
            }
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--check") == 0) {
            replay_set_check(true);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            evaluation_usage(stdout, "usage: ");
            return -1;
        } else {
            fprintf(stderr, "allot sim: unknown option or missing value: %s\n", a);
            evaluation_usage(stderr, "usage: ");
            return 2;
        }
    }
    if (o->trace && o->compare[0]) {
        fprintf(stderr, "allot sim: --trace and --compare do not go together\n");
        return 2;
    }
    if (o->trace && !o->platform == !o->nodes) {
        fprintf(stderr, "allot sim: --trace needs one of --nodes N or --platform FILE\n");
        return 2;
    }
    return 0;
}

/* The policies of --policy (default: all three for a trace, allot for a comparison). */
static int policies_parse(const char *list, enum replay_policy *out, uint32_t *n)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", list);
    *n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (*n == REPLAY_POLICY_COUNT || replay_policy_parse(tok, &out[*n])) {
            fprintf(stderr,
                    "allot sim: --policy: expected static, shared and/or allot, got "
                    "'%.40s'\n",
                    tok);
            return 2;
        }
        (*n)++;
    }
    return *n ? 0 : 2;
}

/* Print or write the results. */
static int output(const struct options *o, const struct replay_result *res, uint32_t n,
                  const char *const *labels)
{
    if (o->report) {
        char err[512];
        if (report_write(o->report, res, n, labels, err, sizeof(err))) {
            fprintf(stderr, "allot sim: --report: %s\n", err);
            return 1;
        }
    }
    if (o->json) {
        json_t *j = replay_json(res, n, labels);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        replay_print(stdout, res, n, labels);
    }
    if (o->report)
        fprintf(stderr, "allot sim: report written to %s/index.html\n", o->report);
    return 0;
}

/* --checkpoint-every and --checkpoint-aware: OUT models[0..*n) to run each policy with (two
 * for both: checkpoint-aware, then the victim order). RET 0, or 2 with the flag named. */
static int models_parse(const struct options *o, struct replay_model models[2], uint32_t *n)
{
    int64_t every = 0;
    if (o->checkpoint_every && (quantity_parse_duration(o->checkpoint_every, &every) ||
                                every < 1000 || every > 365LL * 24 * 3600 * 1000)) {
        fprintf(stderr, "allot sim: --checkpoint-every: expected a duration from 1s to 365d\n");
        return 2;
    }
    const char *aware = o->checkpoint_aware ? o->checkpoint_aware : "on";
    models[0] = (struct replay_model){.checkpoint_every_ms = every};
    models[1] = (struct replay_model){.checkpoint_every_ms = every, .victim_order = true};
    if (strcmp(aware, "on") == 0 || strcmp(aware, "both") == 0) {
        *n = strcmp(aware, "both") == 0 ? 2 : 1;
    } else if (strcmp(aware, "off") == 0) {
        models[0] = models[1];
        *n = 1;
    } else {
        fprintf(stderr, "allot sim: --checkpoint-aware: expected on, off or both\n");
        return 2;
    }
    return 0;
}

static int run_trace(const struct options *o)
{
    enum trace_format format;
    enum replay_policy pol[REPLAY_POLICY_COUNT];
    uint32_t n_pol, n_models;
    struct replay_model models[2];
    char err[1024] = "";
    if (trace_format_parse(o->format, &format)) {
        fprintf(stderr, "allot sim: --format: expected philly or generic\n");
        return 2;
    }
    if (policies_parse(o->policies ? o->policies : "static,shared,allot", pol, &n_pol) ||
        models_parse(o, models, &n_models))
        return 2;
    struct trace_input ti = {0};
    struct flag_platform fp = {0};
    struct replay_result res[2 * REPLAY_POLICY_COUNT];
    const char *labels[2 * REPLAY_POLICY_COUNT];
    char label_text[2 * REPLAY_POLICY_COUNT][32];
    uint32_t done = 0;
    int code = 0, rc = trace_open(o->trace, format, &ti.trace, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "allot sim: %s\n", err);
        return 2;
    }
    ti.names = calloc(ti.trace.n_workspaces, sizeof(*ti.names));
    fp.reserved = calloc(ti.trace.n_workspaces, sizeof(*fp.reserved));
    for (uint32_t i = 0; ti.names && i < ti.trace.n_workspaces; i++) {
        const char *w = ti.trace.workspaces[i].name;
        size_t need = strlen(o->tenant) + strlen(w) + 2;
        if ((ti.names[i] = malloc(need)))
            snprintf(ti.names[i], need, "%s%s%s",
                     strchr(w, '/') ? ""
                     : o->platform  ? o->tenant
                                    : "trace",
                     strchr(w, '/') ? "" : "/", w);
    }
    fp.nodes = (uint32_t)o->nodes;
    fp.starvation_age_ms = -1;
    if (o->starvation && (quantity_parse_duration(o->starvation, &fp.starvation_age_ms) ||
                          fp.starvation_age_ms < 1)) {
        fprintf(stderr, "allot sim: --starvation-age: expected a duration such as 10m\n");
        code = 2;
        goto out;
    }
    fp.trace = &ti.trace;
    fp.names = ti.names;
    if (!ti.names || !fp.reserved) {
        fprintf(stderr, "allot sim: out of memory\n");
        code = 1;
        goto out;
    }
    if (!o->platform && reserve_parse(o->reserve, &fp, err, sizeof(err))) {
        fprintf(stderr, "allot sim: %s\n", err);
        code = 2;
        goto out;
    }
    struct replay_input in = {.next = trace_input_next,
                              .rewind = trace_input_rewind,
                              .ctx = &ti,
                              .workspaces = (const char *const *)ti.names,
                              .n_workspaces = ti.trace.n_workspaces,
                              .time_limit_factor = o->time_limit_factor};
    for (uint32_t k = 0; k < n_pol * n_models; k++) {
        enum replay_policy p = pol[k / n_models];
        const struct replay_model *m = &models[k % n_models];
        rc = o->platform
                 ? replay_run_model(&in, yaml_platform_build, (void *)o->platform, p, m, &res[k],
                                    err, sizeof(err))
                 : replay_run_model(&in, flag_platform_build, &fp, p, m, &res[k], err, sizeof(err));
        if (rc) {
            fprintf(stderr, "allot sim: %s: %s\n", replay_policy_name(p), err);
            code = rc == -ALLOT_ENOENT || rc == -ALLOT_ECONFIG || rc == -ALLOT_EIO ||
                           rc == -ALLOT_EINVAL || rc == -ALLOT_ERANGE
                       ? 2
                       : 1;
            if (rc == -ALLOT_ECHECK)
                code = 1;
            goto out;
        }
        /* both ways: the victim order's run is "POLICY/order" */
        snprintf(label_text[k], sizeof(label_text[k]), "%s%s", replay_policy_name(p),
                 n_models == 2 && m->victim_order ? "/order" : "");
        labels[k] = label_text[k];
        done++;
    }
    code = output(o, res, done, labels);
out:
    for (uint32_t k = 0; k < done; k++)
        replay_result_free(&res[k]);
    for (uint32_t i = 0; ti.names && i < ti.trace.n_workspaces; i++)
        free(ti.names[i]);
    free(ti.names);
    free(fp.reserved);
    trace_close(&ti.trace);
    return code;
}

static int run_compare(const struct options *o)
{
    enum replay_policy pol[REPLAY_POLICY_COUNT];
    uint32_t n_pol;
    char err[1024] = "";
    if (policies_parse(o->policies ? o->policies : "allot", pol, &n_pol))
        return 2;
    if (n_pol != 1) {
        fprintf(stderr, "allot sim: --compare replays under one policy\n");
        return 2;
    }
    struct scenario_input si[2];
    struct replay_result res[2];
    uint32_t opened = 0, done = 0;
    int code = 0;
    for (; opened < 2; opened++)
        if (scenario_input_open(&si[opened], o->compare[opened], err, sizeof(err))) {
            fprintf(stderr, "allot sim: %s\n", err);
            code = 2;
            opened++;
            goto out;
        }
    /* the figures are side by side per workspace: those of the first file */
    struct replay_input in[2];
    for (int k = 0; k < 2; k++) {
        in[k] = (struct replay_input){.next = scenario_input_next,
                                      .rewind = scenario_input_rewind,
                                      .ctx = &si[k],
                                      .workspaces = (const char *const *)si[k].names,
                                      .n_workspaces = si[k].n_names,
                                      .time_limit_factor = o->time_limit_factor};
        if (replay_run(&in[k], scenario_platform_build, &si[k], pol[0], &res[k], err,
                       sizeof(err))) {
            fprintf(stderr, "allot sim: %s: %s\n", o->compare[k], err);
            code = 1;
            goto out;
        }
        done++;
    }
    const char *labels[2] = {"before", "after"};
    code = output(o, res, 2, labels);
out:
    for (uint32_t k = 0; k < done; k++)
        replay_result_free(&res[k]);
    for (uint32_t k = 0; k < opened; k++)
        scenario_input_close(&si[k]);
    return code;
}

int evaluation_main(int argc, char **argv)
{
    struct options o;
    int rc = options_parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    return o.trace ? run_trace(&o) : run_compare(&o);
}
