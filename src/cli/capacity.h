/* The capacity subcommands of `allot`: nodes, ws (workspaces against their reservation and
 * limit) and top (GPUs per tenant and workspace), read from allotd (docs/cli.md). */
#ifndef ALLOT_CLI_CAPACITY_H
#define ALLOT_CLI_CAPACITY_H

/* Entry point for `allot nodes|ws|top ...`: argv[0] names the subcommand.
 * RET the process exit code (enum flags_exit). */
int capacity_main(int argc, char **argv);

#endif
