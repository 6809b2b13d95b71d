/* The node agent's join: its node token, kept in the work directory from an earlier join, or
 * traded once for the one-time join token an admin gave (docs/agent.md, "Joining"). */
#ifndef ALLOT_AGENT_JOIN_H
#define ALLOT_AGENT_JOIN_H

#include <stddef.h>

#include "agent/agent.h"

/* The node token: read from path when an earlier join kept it there, else traded for
 * join_token at PROTOCOL_ROUTE_JOIN (on a->conn, running a->base until answered) and kept in
 * path (mode 0600). OUT out (len bytes). RET 0, or -1 after saying why. */
int join_trade(struct agent *a, const char *join_token, const char *path, char *out, size_t len);

#endif
