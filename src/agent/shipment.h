/* The node agent's shipping of replicas' output (stdout.log, stderr.log) to the controller in
 * chunks of at most PROTOCOL_MAX_LOG_CHUNK, one at a time, resumed from where the controller's
 * copy ends (docs/agent-running.md, "Logs"). */
#ifndef ALLOT_AGENT_SHIPMENT_H
#define ALLOT_AGENT_SHIPMENT_H

#include "agent/agent.h"

/* Start shipping the output of t, which runs (its process is in its working directory);
 * nothing when every shipment slot is taken. */
void shipment_start(struct agent *a, struct task *t);
/* Send the next chunk of output that the controller lacks, if any and if none is in flight;
 * forget shipments whose process ended and whose output is all there. An accepted chunk
 * sends the next at once; a refused one (HTTP 400, 404) gives its shipment up; any other
 * failure is retried at the next call. */
void shipment_next(struct agent *a);

#endif
