/* The tenant a node serves, as the node agent keeps it: nothing of another tenant runs on it,
 * and when the controller names another, the node is wiped before it serves that one
 * (docs/agent-running.md, "Wipe"). */
#ifndef ALLOT_AGENT_TENANCY_H
#define ALLOT_AGENT_TENANCY_H

#include <stdbool.h>

#include <jansson.h>

#include "agent/agent.h"

/* Bound on waiting for the old tenant's output to be shipped before the wipe goes on, ms. */
#define TENANCY_WIPE_SHIP_MS 30000
/* Bound on killing the processes of one of its users, ms. */
#define TENANCY_WIPE_KILL_MS 2000

/* Whether workspace ("tenant/ws") is of tenant ("" for none: nothing is). */
bool tenancy_owns(const char *workspace, const char *tenant);
/* The controller's answer names the tenant the node is to serve: another than the one it
 * serves asks for a wipe first (a->wiping); the same one takes back a wipe asked for. */
void tenancy_check(struct agent *a, const json_t *answer);
/* Wipe the node when a wipe is asked for, nothing of the old tenant runs and its ends are
 * reported, and its output is shipped (or TENANCY_WIPE_SHIP_MS have passed: given up, said in
 * the log). Then the node serves the new tenant and the next report says so. */
void tenancy_wipe_try(struct agent *a);

#endif
