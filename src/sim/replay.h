/* Replays of job streams (a trace, or a scenario's submissions) through the allocation
 * engine under a policy, measured: utilisation, queueing delay, completion time,
 * preemptions and the work they threw away, the reservation guarantee, fairness
 * (docs/simulator.md, "Traces and policies"; docs/evaluation.md). */
#ifndef ALLOT_SIM_REPLAY_H
#define ALLOT_SIM_REPLAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sched/sched.h"

/* How the platform is turned for a policy (the engine is the same in all three). */
enum replay_policy {
    REPLAY_STATIC, /* each workspace capped at its reservation, lending nothing */
    REPLAY_SHARED, /* no reservations: one pool per tenant, priority then arrival */
    REPLAY_ALLOT,  /* reservations, borrowing, reclaim with the grace period */
    REPLAY_POLICY_COUNT
};

/* One job to replay. */
struct replay_job {
    int64_t submit_ms, duration_ms;
    uint32_t workspace;              /* index into the input's workspaces */
    struct sched_workload_spec spec; /* name and workspace are set by the replay */
};

/* Where jobs come from: next gives them in submission order (1 per job, 0 at the end, or a
 * negative error); rewind starts over. workspaces are full names (tenant/workspace). */
struct replay_input {
    int (*next)(void *ctx, struct replay_job *job);
    int (*rewind)(void *ctx);
    void *ctx;
    const char *const *workspaces;
    uint32_t n_workspaces;
    /* > 0: each job's time limit is its duration x this (1 to REPLAY_MAX_TIME_LIMIT_FACTOR;
     * none where that is above the engine's longest), whatever its spec says, so that the
     * engine may backfill (docs/policy.md, "Time limits and backfill"); 0: the jobs' own (one
     * below its duration is dropped: the replay runs every job for its duration). */
    double time_limit_factor;
};
#define REPLAY_MAX_TIME_LIMIT_FACTOR 1000

/* Log-bucketed histogram of milliseconds: 16 buckets per power of two (values within 4.4%),
 * exact count, sum and maximum. */
#define REPLAY_HIST_BUCKETS (48 * 16)
struct replay_hist {
    uint64_t n;
    double sum_ms, max_ms;
    uint32_t b[REPLAY_HIST_BUCKETS];
};
void replay_hist_add(struct replay_hist *h, int64_t ms);
/* The mean in ms (0 when empty). */
double replay_hist_mean(const struct replay_hist *h);
/* The q-quantile (0..1) in ms: the middle of its bucket (exact for 0 and below 16 ms). */
double replay_hist_quantile(const struct replay_hist *h, double q);

/* What one workspace (or, summed, the platform) went through. */
struct replay_figures {
    uint64_t submitted, started, finished, rejected;
    uint64_t preemptions;
    double wasted_gpu_s;      /* GPU-seconds of runs cut short by preemption */
    double allocated_gpu_s;   /* GPU-seconds held (running or draining) */
    double asked_gpu_s;       /* gpus x duration of its finished jobs */
    double sojourn_gpu_s;     /* gpus x (finish - submit) of its finished jobs */
    struct replay_hist delay; /* submission to first start, jobs that started */
    struct replay_hist jct;   /* submission to finish */
    uint64_t guaranteed;      /* jobs that fit within the reservation at submission */
    uint64_t guaranteed_late; /* ... that waited longer than the promise */
    struct replay_hist guaranteed_wait;
    struct replay_hist reclaim; /* jobs GPUs were reclaimed for: from the first preemption
                                 * made for it to its start (the grace period, and more
                                 * when the victims' GPUs could not all serve it) */
};

/* A policy's run. */
struct replay_result {
    enum replay_policy policy;
    uint32_t n_workspaces;
    const char *const *names;  /* the input's workspace names (the input's: keep it) */
    struct replay_figures *ws; /* per input workspace */
    struct replay_figures all;
    int64_t capacity_gpus;
    int64_t end_ms;     /* the last job's end */
    int64_t promise_ms; /* the guarantee: grace period plus one second of scheduling */
    double utilisation; /* allocated GPU-seconds over capacity x end */
    double jain;        /* over workspaces' asked / sojourn GPU-seconds */
    double *series;     /* allocated GPUs (average) per bucket of series_ms */
    uint32_t n_series;
    int64_t series_ms;
    double wall_s;               /* how long the replay took */
    uint32_t peak_slots;         /* engine workload slots in use at most: jobs in flight */
    int64_t checkpoint_every_ms; /* its replay_model's (0: no checkpoints) */
    bool checkpoint_aware;       /* the engine's option during the run */
};

/* Build the platform: OUT *engine (sched_free), as the policy-free platform. */
typedef int (*replay_platform_fn)(void *ctx, struct sched **engine, char *err, size_t len);

/* Replay input through a platform from build under policy: OUT *res (replay_result_free).
 * RET 0; a negative error with a sentence in err (a job's workspace unknown to the
 * platform, out of memory, a bad input). */
int replay_run(const struct replay_input *input, replay_platform_fn build, void *build_ctx,
               enum replay_policy policy, struct replay_result *res, char *err, size_t len);

/* How jobs save their work (docs/simulator.md, "Checkpoints"). */
struct replay_model {
    /* > 0: a job checkpoints every this long of its run (the engine is told: sched_checkpoint)
     * and a preempted job resumes from its last checkpoint, losing only the time since; 0:
     * no checkpoints, a preempted job starts again from zero */
    int64_t checkpoint_every_ms;
    /* the engine's checkpoint_aware off: victims in the victim order alone */
    bool victim_order;
};

/* replay_run with model (NULL: no checkpoints, the engine's options as built). */
int replay_run_model(const struct replay_input *input, replay_platform_fn build, void *build_ctx,
                     enum replay_policy policy, const struct replay_model *model,
                     struct replay_result *res, char *err, size_t len);
/* Verify every invariant of the engine (sched_check) during replays: after every pass while
 * it holds at most 2,000 workloads, else after every 1,000th. A violation fails the replay
 * with -ALLOT_ECHECK and the violation in err. */
void replay_set_check(bool on);
void replay_result_free(struct replay_result *res);

const char *replay_policy_name(enum replay_policy p);
int replay_policy_parse(const char *name, enum replay_policy *p);

/* Print results (n of them, side by side) as readable tables. */
void replay_print(FILE *out, const struct replay_result *res, uint32_t n,
                  const char *const *labels);
/* The same as one JSON document (a new reference). */
struct json_t;
struct json_t *replay_json(const struct replay_result *res, uint32_t n, const char *const *labels);

#endif
