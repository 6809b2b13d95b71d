/* `allot usage`: the GPU-hour ledger of allotd (GET /v1/usage) as a table, JSON or CSV
 * (docs/cli.md). */
#ifndef ALLOT_CLI_LEDGER_H
#define ALLOT_CLI_LEDGER_H

/* Entry point for `allot usage ...`. RET the process exit code (enum flags_exit). */
int ledger_main(int argc, char **argv);

#endif
