/* Job traces (docs/simulator.md, "Traces"): CSV rows checked one by one, gathered into runs
 * of TRACE_RUN_JOBS jobs sorted in memory and written to temporary files, then merged back
 * in submission order. Memory holds one run and one job per run, whatever the trace's
 * length: traces need not be sorted (Philly's is not). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* timegm under -D_POSIX_C_SOURCE */
#endif
#include "sim/trace.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/name.h"

#define TRACE_MAX_FIELDS 16

/* The columns of the generic format. */
enum column {
    COL_SUBMIT,
    COL_DURATION,
    COL_GPUS,
    COL_WORKSPACE,
    COL_KIND,
    COL_PRIORITY,
    COL_PREEMPTIBLE,
    COL_COUNT
};
static const char *const column_names[COL_COUNT] = {"submit", "duration", "gpus",       "workspace",
                                                    "kind",   "priority", "preemptible"};
static const char *const philly_header = "timestamp,duration,num_gpus,gpu_time,cluster";

/* The reader's state during the first pass. */
struct reader {
    struct trace *t;
    char *err;
    size_t len;
    unsigned line;
    int col[COL_COUNT]; /* generic: the field index of each column, or -1 */
    struct trace_job *run;
    uint32_t n_run;
    int64_t min_submit_ms;
    int64_t max_submit_ms;
};

static int fail(struct reader *r, const char *field, const char *fmt, const char *value)
{
    snprintf(r->err, r->len, "%s:%u: %s: ", r->t->path, r->line, field);
    size_t used = strlen(r->err);
    snprintf(r->err + used, r->len - used, fmt, value ? value : "");
    return -ALLOT_EPARSE;
}

/* Split line (modified in place) at commas. RET the number of fields, or -1 for too many. */
static int split(char *line, char **fields)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == TRACE_MAX_FIELDS)
            return -1;
        fields[n++] = p;
        p = strchr(p, ',');
        if (!p)
            return n;
        *p = '\0';
    }
}

/* A finite number of seconds in [lo, TRACE_MAX_SECONDS] as milliseconds. */
static int seconds(struct reader *r, const char *field, const char *s, double lo, int64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > TRACE_MAX_SECONDS)
        return fail(r, field, "expected a number of seconds from 0 to 3.2e9, got '%.40s'", s);
    *ms = (int64_t)llround(v * 1000.0);
    return 0;
}

static int whole(struct reader *r, const char *field, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        char msg[96];
        snprintf(msg, sizeof(msg), "expected a whole number from %ld to %ld, got '%%.40s'", lo, hi);
        return fail(r, field, msg, s);
    }
    *out = v;
    return 0;
}

/* The workspace index of name (tenant/workspace or workspace), interned. */
static int workspace(struct reader *r, const char *field, const char *name, uint16_t *index)
{
    struct trace *t = r->t;
    const char *slash = strchr(name, '/');
    size_t n = strlen(name);
    bool ok = n <= TRACE_MAX_NAME &&
              (slash ? name_is_valid(name, (size_t)(slash - name), TRACE_MAX_NAME) &&
                           name_is_valid(slash + 1, strlen(slash + 1), TRACE_MAX_NAME)
                     : name_is_valid(name, n, TRACE_MAX_NAME));
    if (!ok)
        return fail(r, field, "expected a name (a-z 0-9 . _ -) or tenant/name, got '%.40s'", name);
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        if (strcmp(t->workspaces[i].name, name) == 0) {
            *index = (uint16_t)i;
            return 0;
        }
    if (t->n_workspaces == TRACE_MAX_WORKSPACES) {
        snprintf(r->err, r->len, "%s:%u: %s: more than %d workspaces", t->path, r->line, field,
                 TRACE_MAX_WORKSPACES);
        return -ALLOT_ERANGE;
    }
    struct trace_workspace *ws = realloc(t->workspaces, (t->n_workspaces + 1) * sizeof(*ws));
    if (!ws)
        return -ALLOT_ENOMEM;
    t->workspaces = ws;
    memset(&ws[t->n_workspaces], 0, sizeof(*ws));
    snprintf(ws[t->n_workspaces].name, sizeof(ws->name), "%s", name);
    *index = (uint16_t)t->n_workspaces++;
    return 0;
}

/* Philly: "2017-10-09 07:01:55,66.0,1,66.0,11cb48". */
static int philly_row(struct reader *r, char **f, int n, struct trace_job *job)
{
    if (n != 5)
        return fail(r, "row", "expected 5 fields (%s)", philly_header);
    struct tm tm = {0};
    char extra;
    if (sscanf(f[0], "%d-%d-%d %d:%d:%d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &extra) != 6 ||
        tm.tm_year < 1970 || tm.tm_year > 2100 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
        tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
        return fail(r, "timestamp", "expected YYYY-MM-DD HH:MM:SS (UTC), got '%.40s'", f[0]);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    job->submit_ms = (int64_t)timegm(&tm) * 1000;
    long gpus = 0;
    int64_t gpu_time;
    int rc = seconds(r, "duration", f[1], 0, &job->duration_ms);
    rc = rc ? rc : whole(r, "num_gpus", f[2], 1, TRACE_MAX_GPUS, &gpus);
    rc = rc ? rc : seconds(r, "gpu_time", f[3], 0, &gpu_time);
    rc = rc ? rc : workspace(r, "cluster", f[4], &job->workspace);
    job->gpus = (uint32_t)gpus;
    job->kind = SCHED_KIND_TRAINING;
    job->preemptible = -1;
    return rc;
}

/* Generic: the header names the columns (docs/simulator.md). */
static int generic_row(struct reader *r, char **f, int n, struct trace_job *job)
{
    int want = 0;
    for (int c = 0; c < COL_COUNT; c++)
        want += r->col[c] >= 0;
    if (n != want)
        return fail(r, "row", "expected %s fields, as the header has",
                    want == 4   ? "4"
                    : want == 5 ? "5"
                    : want == 6 ? "6"
                                : "7");
    long gpus, priority;
    int rc = seconds(r, "submit", f[r->col[COL_SUBMIT]], 0, &job->submit_ms);
    rc = rc ? rc : seconds(r, "duration", f[r->col[COL_DURATION]], 0, &job->duration_ms);
    rc = rc ? rc : whole(r, "gpus", f[r->col[COL_GPUS]], 1, TRACE_MAX_GPUS, &gpus);
    rc = rc ? rc : workspace(r, "workspace", f[r->col[COL_WORKSPACE]], &job->workspace);
    if (rc)
        return rc;
    job->gpus = (uint32_t)gpus;
    job->kind = SCHED_KIND_TRAINING;
    job->preemptible = -1;
    if (r->col[COL_KIND] >= 0 && *f[r->col[COL_KIND]]) {
        enum sched_kind k;
        if (sched_kind_parse(f[r->col[COL_KIND]], &k))
            return fail(r, "kind",
                        "expected training, finetune, inference or experiment, got '%.40s'",
                        f[r->col[COL_KIND]]);
        job->kind = (int8_t)k;
    }
    if (r->col[COL_PRIORITY] >= 0 && *f[r->col[COL_PRIORITY]]) {
        if ((rc = whole(r, "priority", f[r->col[COL_PRIORITY]], -1000000, 1000000, &priority)))
            return rc;
        job->has_priority = true;
        job->priority = (int32_t)priority;
    }
    if (r->col[COL_PREEMPTIBLE] >= 0 && *f[r->col[COL_PREEMPTIBLE]]) {
        const char *p = f[r->col[COL_PREEMPTIBLE]];
        if (strcmp(p, "true") != 0 && strcmp(p, "false") != 0)
            return fail(r, "preemptible", "expected true or false, got '%.40s'", p);
        job->preemptible = p[0] == 't';
    }
    return 0;
}

static int header(struct reader *r, char *line)
{
    if (r->t->format == TRACE_PHILLY)
        return strcmp(line, philly_header) == 0 ? 0
                                                : fail(r, "header", "expected '%s'", philly_header);
    char *f[TRACE_MAX_FIELDS];
    int n = split(line, f);
    for (int c = 0; c < COL_COUNT; c++)
        r->col[c] = -1;
    for (int i = 0; i < n; i++) {
        int c = 0;
        while (c < COL_COUNT && strcmp(f[i], column_names[c]) != 0)
            c++;
        if (c == COL_COUNT || r->col[c] >= 0)
            return fail(r, "header",
                        c == COL_COUNT
                            ? "unknown column '%.40s' (submit, duration, gpus, workspace, kind, "
                              "priority, preemptible)"
                            : "column '%.40s' twice",
                        f[i]);
        r->col[c] = i;
    }
    for (int c = 0; c < COL_WORKSPACE + 1; c++)
        if (r->col[c] < 0)
            return fail(r, "header", "missing column '%s'", column_names[c]);
    return n < 0 ? fail(r, "header", "too many columns%s", "") : 0;
}

static int by_submit(const void *a, const void *b)
{
    const struct trace_job *x = a, *y = b;
    if (x->submit_ms != y->submit_ms)
        return x->submit_ms < y->submit_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the jobs gathered and write them out as one more run. */
static int run_flush(struct reader *r)
{
    struct trace *t = r->t;
    if (r->n_run == 0)
        return 0;
    qsort(r->run, r->n_run, sizeof(*r->run), by_submit);
    FILE **runs = realloc(t->runs, (t->n_runs + 1) * sizeof(*runs));
    if (!runs)
        return -ALLOT_ENOMEM;
    t->runs = runs;
    FILE *f = tmpfile();
    if (!f || fwrite(r->run, sizeof(*r->run), r->n_run, f) != r->n_run) {
        snprintf(r->err, r->len, "%s: cannot write a temporary file: %s", t->path, strerror(errno));
        if (f)
            fclose(f);
        return -ALLOT_EIO;
    }
    t->runs[t->n_runs++] = f;
    r->n_run = 0;
    return 0;
}

int trace_format_parse(const char *name, enum trace_format *out)
{
    if (strcmp(name, "philly") == 0)
        *out = TRACE_PHILLY;
    else if (strcmp(name, "generic") == 0)
        *out = TRACE_GENERIC;
    else
        return -ALLOT_EINVAL;
    return 0;
}

int trace_open(const char *path, enum trace_format format, struct trace *t, char *err, size_t len)
{
    memset(t, 0, sizeof(*t));
    t->path = path;
    t->format = format;
    struct reader r = {
        .t = t, .err = err, .len = len, .min_submit_ms = INT64_MAX, .max_submit_ms = INT64_MIN};
    char line[TRACE_MAX_LINE + 2];
    int rc = 0;
    FILE *f = fopen(path, "r");
    r.run = malloc(TRACE_RUN_JOBS * sizeof(*r.run));
    if (!f || !r.run) {
        snprintf(err, len, "%s: %s", path, f ? "out of memory" : strerror(errno));
        rc = f ? -ALLOT_ENOMEM : -ALLOT_EIO;
        goto out;
    }
    while (!rc && fgets(line, sizeof(line), f)) {
        r.line++;
        size_t n = strlen(line);
        if (n > TRACE_MAX_LINE || (n == TRACE_MAX_LINE + 1 && line[n - 1] != '\n')) {
            rc = fail(&r, "row", "longer than %s bytes", "4096");
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (r.line == 1) {
            rc = header(&r, line);
            continue;
        }
        if (n == 0)
            continue; /* a blank line, as at the end of some files */
        char *fields[TRACE_MAX_FIELDS];
        int nf = split(line, fields);
        struct trace_job *job = &r.run[r.n_run];
        memset(job, 0, sizeof(*job));
        job->line = r.line;
        job->seq = t->n_jobs;
        rc = nf < 0                   ? fail(&r, "row", "more than %s fields", "16")
             : format == TRACE_PHILLY ? philly_row(&r, fields, nf, job)
                                      : generic_row(&r, fields, nf, job);
        if (rc)
            break;
        if (job->duration_ms < 1)
            job->duration_ms = 1;
        t->workspaces[job->workspace].gpu_seconds +=
            (double)job->gpus * (double)job->duration_ms / 1000.0;
        t->workspaces[job->workspace].jobs++;
        t->max_gpus = job->gpus > t->max_gpus ? job->gpus : t->max_gpus;
        r.min_submit_ms = job->submit_ms < r.min_submit_ms ? job->submit_ms : r.min_submit_ms;
        r.max_submit_ms = job->submit_ms > r.max_submit_ms ? job->submit_ms : r.max_submit_ms;
        t->n_jobs++;
        if (++r.n_run == TRACE_RUN_JOBS)
            rc = run_flush(&r);
    }
    if (!rc && ferror(f)) {
        snprintf(err, len, "%s: read error: %s", path, strerror(errno));
        rc = -ALLOT_EIO;
    }
    if (!rc && r.line == 0)
        rc = fail(&r, "header", "the file is empty%s", "");
    if (!rc && t->n_jobs == 0) {
        r.line = 2;
        rc = fail(&r, "row", "no jobs after the header%s", "");
    }
    rc = rc ? rc : run_flush(&r);
    if (!rc) {
        t->origin_ms = r.min_submit_ms;
        t->last_submit_ms = r.max_submit_ms - r.min_submit_ms;
        t->heads = calloc(t->n_runs, sizeof(*t->heads));
        t->live = calloc(t->n_runs, sizeof(*t->live));
        rc = t->heads && t->live ? trace_rewind(t) : -ALLOT_ENOMEM;
    }
out:
    if (f)
        fclose(f);
    free(r.run);
    if (rc)
        trace_close(t);
    return rc;
}

int trace_rewind(struct trace *t)
{
    for (uint32_t i = 0; i < t->n_runs; i++) {
        if (fseek(t->runs[i], 0, SEEK_SET) != 0)
            return -ALLOT_EIO;
        t->live[i] = fread(&t->heads[i], sizeof(t->heads[i]), 1, t->runs[i]) == 1;
    }
    return 0;
}

int trace_next(struct trace *t, struct trace_job *job)
{
    int best = -1;
    for (uint32_t i = 0; i < t->n_runs; i++)
        if (t->live[i] && (best < 0 || by_submit(&t->heads[i], &t->heads[best]) < 0))
            best = (int)i;
    if (best < 0)
        return 0;
    *job = t->heads[best];
    job->submit_ms -= t->origin_ms;
    t->live[best] = fread(&t->heads[best], sizeof(t->heads[best]), 1, t->runs[best]) == 1;
    if (!t->live[best] && ferror(t->runs[best]))
        return -ALLOT_EIO;
    return 1;
}

void trace_close(struct trace *t)
{
    for (uint32_t i = 0; i < t->n_runs; i++)
        if (t->runs[i])
            fclose(t->runs[i]);
    free(t->runs);
    free(t->heads);
    free(t->live);
    free(t->workspaces);
    memset(t, 0, sizeof(*t));
}
