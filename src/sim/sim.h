/* The scenario simulator: drives the allocation engine in virtual time through a
 * scenario's timeline, with virtual workloads that run for their `duration`. */
#ifndef ALLOT_SIM_SIM_H
#define ALLOT_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/scenario.h"
#include "sched/sched.h"

struct sim_options {
    bool json;        /* one JSON object per line instead of the readable timeline */
    bool check;       /* sched_check after every step; stop at the first violation */
    bool expect;      /* verify the scenario's expect and final sections */
    bool quiet;       /* print nothing but problems */
    int64_t until_ms; /* stop the clock here; -1: when nothing is left to happen */
};

/* One engine event as the simulator recorded it (for expectations and summaries). */
struct sim_record {
    int64_t t;
    enum sched_event_kind kind;
    uint32_t workload;
    enum sched_reason reason;
    uint32_t other;
    bool borrowed;
};

struct sim_result {
    int64_t end_ms;
    struct sim_record *records;
    uint32_t n_records;
    uint32_t check_failures; /* 0, or 1: the run stopped at the first violation */
    uint32_t expect_failures;
};

/* Run the scenario at path, printing to out (problems to err). OUT *res (may be NULL;
 * free its records with free()). RET 0 when the run finished and every requested check
 * passed; -ALLOT_ECHECK when an invariant or expectation failed; other negative errors
 * when the scenario could not be loaded or run (message printed to err). */
int sim_run(const char *path, const struct sim_options *opt, FILE *out, FILE *err,
            struct sim_result *res);

/* `allot sim` entry point: parses argv, runs, returns the process exit code. */
int sim_main(int argc, char **argv);

#endif
