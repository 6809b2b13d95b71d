/* The node agent's upkeep of replicas' disk: the storage check of every running replica
 * against its declared storage, and the removal of finished replicas' directories after
 * --keep-finished (docs/agent-running.md, "Storage"). */
#ifndef ALLOT_AGENT_STORAGE_H
#define ALLOT_AGENT_STORAGE_H

#include "agent/agent.h"

/* One round, on its own slow timer: a replica whose directory holds more than its declared
 * storage is killed at once (a grace period would let it write on) and reported "exited"
 * with the reason; cgroups that were still busy are removed again; directories of replicas
 * that ended more than a->keep_ms ago, with their output shipped, are removed. */
void storage_check(struct agent *a);

#endif
