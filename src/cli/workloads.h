/* The workload subcommands of `allot`: submit, ls, describe and cancel, against allotd's
 * /v1/workloads routes (docs/cli.md, docs/api.md). */
#ifndef ALLOT_CLI_WORKLOADS_H
#define ALLOT_CLI_WORKLOADS_H

/* Entry point for `allot submit|ls|describe|cancel ...`: argv[0] names the subcommand.
 * RET the process exit code (enum flags_exit). */
int workloads_main(int argc, char **argv);

#endif
