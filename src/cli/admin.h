/* `allot admin ...`: platform administration through allotd (tenants, clusters, workspaces,
 * nodes, users, tokens), each subcommand one request (docs/cli.md). */
#ifndef ALLOT_CLI_ADMIN_H
#define ALLOT_CLI_ADMIN_H

/* Entry point for `allot admin NOUN VERB ...` (argv[0] is "admin").
 * RET the process exit code (enum flags_exit). */
int admin_main(int argc, char **argv);

#endif
