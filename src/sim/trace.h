/* Job traces for `allot sim --trace`: the Philly-derived CSV and a generic CSV, read in one
 * pass into sorted runs on disk (an external merge sort: memory is bounded by the run size,
 * not the trace's length) and handed back in submission order, one job at a time. */
#ifndef ALLOT_SIM_TRACE_H
#define ALLOT_SIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sched/sched.h"

#define TRACE_MAX_LINE 4096       /* bytes of one CSV line */
#define TRACE_MAX_WORKSPACES 1024 /* distinct workspaces in one trace */
#define TRACE_RUN_JOBS 65536      /* jobs sorted in memory at once */
#define TRACE_MAX_GPUS 4096       /* GPUs of one job */
#define TRACE_MAX_SECONDS 3.2e9   /* submit times and durations: about a century */
#define TRACE_MAX_NAME 127        /* bytes of a workspace name */

enum trace_format { TRACE_PHILLY, TRACE_GENERIC };

/* One job of a trace. Times in milliseconds. */
struct trace_job {
    int64_t submit_ms;   /* from the trace's first submission (0) on */
    int64_t duration_ms; /* >= 1 */
    uint32_t gpus;       /* whole GPUs, >= 1 */
    uint16_t workspace;  /* index into the trace's workspaces */
    int8_t kind;         /* enum sched_kind */
    int8_t preemptible;  /* 1, 0, or -1: the kind's default */
    bool has_priority;
    int32_t priority;
    uint32_t line; /* in the file, for messages */
    uint64_t seq;  /* order in the file: ties keep it */
};

/* What the first pass learnt: the workspaces (first appearance order), their demand. */
struct trace_workspace {
    char name[TRACE_MAX_NAME + 1];
    double gpu_seconds; /* sum of gpus x duration of its jobs */
    uint64_t jobs;
};

struct trace {
    const char *path;
    enum trace_format format;
    struct trace_workspace *workspaces;
    uint32_t n_workspaces;
    uint64_t n_jobs;
    int64_t origin_ms;      /* the first submission in the file's own clock: jobs come back
                             * shifted by it, so that the first is at 0 */
    int64_t last_submit_ms; /* after shifting */
    uint32_t max_gpus;
    /* the sorted runs and the merge */
    FILE **runs;
    uint32_t n_runs;
    struct trace_job *heads; /* the next job of each run */
    bool *live;              /* a run still has jobs */
};

/* Read the whole file at path (format), validating every row: OUT *t (trace_close frees).
 * RET 0; -ALLOT_EPARSE with "PATH:LINE: field: message" in err; -ALLOT_EIO; -ALLOT_ENOMEM;
 * -ALLOT_ERANGE (over TRACE_MAX_WORKSPACES workspaces). */
int trace_open(const char *path, enum trace_format format, struct trace *t, char *err, size_t len);
/* Start handing out jobs in submission order (again, from the first). RET 0 or -ALLOT_EIO. */
int trace_rewind(struct trace *t);
/* The next job in submission order. RET 1 with *job, 0 at the end, -ALLOT_EIO. */
int trace_next(struct trace *t, struct trace_job *job);
/* Close the runs and free. Accepts a trace trace_open failed on. */
void trace_close(struct trace *t);

/* "philly" or "generic". RET 0, or -ALLOT_EINVAL. */
int trace_format_parse(const char *name, enum trace_format *out);

#endif
