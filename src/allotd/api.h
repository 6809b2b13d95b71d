/* The route table of allotd's REST API (docs/api.md). */
#ifndef ALLOT_ALLOTD_API_H
#define ALLOT_ALLOTD_API_H

#include "allotd/server.h"

/* Every route, ending with an entry whose fn is NULL. */
extern const struct route api_routes[];

/* The value of a whole number query parameter: q (NULL when absent) in decimal, from lo to
 * hi. OUT *out: the number, or dflt when q is NULL; left as it was on an error.
 * RET 0, or -ALLOT_EINVAL (empty, not a number, trailing bytes, or outside [lo, hi]). */
int api_query_parse(const char *q, long long lo, long long hi, long long dflt, long long *out);

#endif
