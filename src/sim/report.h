/* `--report DIR` of `allot sim --trace` and `--compare`: the figures as CSV and JSON, plots
 * drawn with gnuplot, and one self-contained HTML page with the plots inlined. */
#ifndef ALLOT_SIM_REPORT_H
#define ALLOT_SIM_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sim/replay.h"

/* Write the report of n results into dir (created if absent). Without gnuplot on the PATH
 * the page says so and has no plots. RET 0, or a negative error with a sentence in err. */
int report_write(const char *dir, const struct replay_result *res, uint32_t n,
                 const char *const *labels, char *err, size_t len);

#endif
