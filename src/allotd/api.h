/* The route table of allotd's REST API (docs/api.md). */
#ifndef ALLOT_ALLOTD_API_H
#define ALLOT_ALLOTD_API_H

#include "allotd/server.h"

/* Every route, ending with an entry whose fn is NULL. */
extern const struct route api_routes[];

#endif
