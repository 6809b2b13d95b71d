/* Scenario files: a platform (platform.h) plus a `timeline` of timed events for the
 * simulator, and optional `expect` and `final` sections that scenario tests check. */
#ifndef ALLOT_SIM_SCENARIO_H
#define ALLOT_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "sched/sched.h"

#define SCENARIO_MAX_STEPS 1000000
#define SCENARIO_MAX_COPIES 100000

enum scenario_action {
    SCENARIO_SUBMIT,     /* submit: {...} */
    SCENARIO_CANCEL,     /* cancel: NAME */
    SCENARIO_FINISH,     /* finish: NAME */
    SCENARIO_NODE_STATE, /* node: {name, state} */
    SCENARIO_GPU_HEALTH, /* gpu: {node, index, healthy} */
    SCENARIO_WORKSPACE,  /* workspace: {name, reserved?, limits?, lend?, weight?} */
    SCENARIO_CHECKPOINT, /* checkpoint: NAME (it saved its work at the step's time) */
};

/* A partial workspace change: only the fields marked present change. */
struct scenario_workspace_change {
    const char *name;
    bool has_limit[4];             /* indexed by enum sched_resource */
    struct sched_resources limits; /* a present limit may be SCHED_UNLIMITED */
    bool has_reserved;
    int64_t reserved;
    bool has_lend;
    bool lend;
    bool has_weight;
    uint32_t weight;
    bool has_require_image;
    bool require_image;
};

struct scenario_step {
    int64_t at_ms;
    int line;
    enum scenario_action action;
    /* SCENARIO_SUBMIT */
    struct sched_workload_spec submit;
    int64_t duration_ms; /* run time once started; -1: until cancelled or finished */
    int64_t drain_ms;    /* time to exit after being told to stop; -1: the whole grace */
    uint32_t count;      /* > 1: copies named NAME-1 .. NAME-count */
    /* SCENARIO_CANCEL, SCENARIO_FINISH, SCENARIO_CHECKPOINT: workload; NODE_STATE, GPU_HEALTH: node
     */
    const char *target;
    enum sched_node_state node_state;
    uint32_t gpu_index;
    bool healthy;
    struct scenario_workspace_change workspace;
};

/* An event that must (or, with absent, must not) appear in the simulation's output. Only
 * the fields marked present are compared. */
struct scenario_expect {
    int line;
    enum sched_event_kind event;
    const char *workload; /* NULL: any */
    bool has_at;
    int64_t at_ms;
    bool has_reason;
    enum sched_reason reason;
    int borrowed;             /* -1: any, else 0/1 */
    const char *for_workload; /* preempting: the workload it makes room for */
    bool absent;
};

struct scenario_final {
    int line;
    const char *workload;
    enum sched_state state;
};

struct scenario {
    struct arena arena; /* every string and array below */
    const char *path;
    struct scenario_step *steps; /* sorted by at_ms, stable */
    uint32_t n_steps;
    struct scenario_expect *expects;
    uint32_t n_expects;
    struct scenario_final *finals;
    uint32_t n_finals;
};

/* Load a scenario file: OUT *scn (caller calls scenario_cleanup) and *engine (the
 * platform, caller frees with sched_free). RET 0, or -ALLOT_ECONFIG/-ALLOT_EIO/-ALLOT_ENOMEM
 * with "path:line: field: problem" in err; on error nothing is left to free. */
int scenario_load(const char *path, struct scenario *scn, struct sched **engine, char *err,
                  size_t len);
/* Free what scenario_load allocated. Accepts NULL. */
void scenario_cleanup(struct scenario *scn);

#endif
