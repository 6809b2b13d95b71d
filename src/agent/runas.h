/* Who a workspace's workloads run as when the agent is root and a --run-as rule names a user
 * for it: PATTERN=USER rules, in the order given, the first match winning (docs/agent.md,
 * "Users"). Workspaces no rule matches get their own uid (identity.h). */
#ifndef ALLOT_AGENT_RUNAS_H
#define ALLOT_AGENT_RUNAS_H

#include <sys/types.h>

/* --run-as rules of one agent, at most. */
#define RUNAS_MAX_RULES 64

/* One --run-as PATTERN=USER. */
struct runas_rule {
    char pattern[260]; /* a workspace, a tenant with "/" and "*" after it, or "*" */
    char user[64];
    uid_t uid;
    gid_t gid;
};

/* The rules of an agent; zeroed is empty. */
struct runas {
    struct runas_rule rules[RUNAS_MAX_RULES]; /* in the order given */
    int n;
};

/* Add the rule arg ("PATTERN=USER"), USER looked up on this node. RET 0, or -1 after saying
 * why on stderr (malformed, too many, no such user). */
int runas_add(struct runas *r, const char *arg);
/* The first rule whose pattern matches workspace ("tenant/ws"), or NULL. */
const struct runas_rule *runas_find(const struct runas *r, const char *workspace);

#endif
