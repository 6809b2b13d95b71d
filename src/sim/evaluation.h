/* `allot sim --trace` and `allot sim --compare`: a trace or two scenarios replayed under
 * policies or platforms, with the figures side by side (docs/simulator.md, "Traces";
 * docs/what-if.md). */
#ifndef ALLOT_SIM_EVALUATION_H
#define ALLOT_SIM_EVALUATION_H

#include <stdbool.h>
#include <stdio.h>

/* Whether argv asks for a trace replay or a comparison (else: a scenario run). */
bool evaluation_wanted(int argc, char **argv);

/* Print the synopsis, after lead ("usage: " or "   or: "), and the options of --trace and
 * --compare to f. */
void evaluation_usage(FILE *f, const char *lead);

/* Run it: parse argv (argv[0] is "sim"), replay, print. RET the process exit code: 0; 1 a
 * replay failed; 2 a bad command line or input file (the message names the file, line and
 * field). */
int evaluation_main(int argc, char **argv);

#endif
