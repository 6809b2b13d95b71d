/* The node agent's state file, work-dir/agent-state.json: the replicas that run (to adopt
 * after a restart), the workspaces' uids and the tenant the node serves. Written whole, then
 * renamed; read once at start. */
#ifndef ALLOT_AGENT_STATEFILE_H
#define ALLOT_AGENT_STATEFILE_H

#include "agent/agent.h"

/* The state file's name in the work directory. */
#define STATEFILE_NAME "agent-state.json"
/* The largest state file read (its tasks and the workspaces' uids take far less). */
#define STATEFILE_MAX (32u << 20)

/* What runs changed: the state file is written once, at the end of this loop iteration
 * (exits and stops come in bursts; one file per change would cost a file creation each). */
void statefile_save_soon(struct agent *a);
/* A process was started: the state file is written now, so that an agent killed right after
 * it (before the loop iteration ends) adopts it rather than start it again (docs/agent.md,
 * "Adoption"); when the write fails, it is tried again at the end of the iteration. */
void statefile_save_now(struct agent *a);
/* Write a->state_path now (mode 0600: it names workspaces and their uids), never
 * half-written. RET 0, or -1 after saying why. */
int statefile_write(struct agent *a);
/* Take back the uids given to workspaces and the tenant served, and adopt the processes a
 * previous run of the agent left (those gone are reported gone at the next report). A
 * missing file is a first start. A file that is there but cannot be read stops the agent:
 * starting afresh could give a workspace the uid of another's files and processes.
 * RET 0, or -1 after saying why. */
int statefile_load(struct agent *a);

#endif
