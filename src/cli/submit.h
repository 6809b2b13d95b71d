/* `allot submit`: a workload's submission from a file and flags, sent to allotd's
 * POST /v1/workloads; its row of the command table is in workloads.c (docs/cli.md). */
#ifndef ALLOT_CLI_SUBMIT_H
#define ALLOT_CLI_SUBMIT_H

#include <stddef.h>

#include "cli/flags.h"

/* The flags of submit, ended by a row of NULLs: its grammar and help. */
extern const struct flag submit_flags[];

/* Split one --env value "NAME=VALUE": NAME a variable's name (workload_env_name_ok), VALUE
 * any text, maybe empty. OUT *name_len, the bytes of NAME (the value starts after its '=').
 * RET 0, or -ALLOT_EINVAL when there is no '=' or NAME is not a name. */
int submit_env_split(const char *assignment, size_t *name_len);

/* Runs `allot submit` with the parsed flags v: checks them, builds the submission, sends it
 * and prints the decision. RET the process exit code (enum flags_exit): FLAGS_EXIT_FAILED
 * also when the daemon rejected the workload. */
int submit_run(const struct flag_values *v);

#endif
