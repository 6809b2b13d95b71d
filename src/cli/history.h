/* `allot admin export`: a running controller's platform and workload history written as a
 * scenario file, so that `allot sim` can replay the same history under a changed platform
 * (what-if planning, docs/what-if.md). */
#ifndef ALLOT_CLI_HISTORY_H
#define ALLOT_CLI_HISTORY_H

#include "cli/flags.h"

/* The flags of `allot admin export` (a table ending with a NULL name). */
extern const struct flag history_flags[];

/* Run `allot admin export`. RET the process exit code. */
int history_export(const struct flag_values *v);

#endif
