/* The node agent's --run-as rules: parsed once at start, matched against a workspace when one
 * of its replicas starts. */
#include "agent/runas.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>

int runas_add(struct runas *r, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    struct runas_rule *rule = &r->rules[r->n < RUNAS_MAX_RULES ? r->n : 0];
    if (!eq || eq == arg || !eq[1] || r->n >= RUNAS_MAX_RULES ||
        (size_t)(eq - arg) >= sizeof(rule->pattern) || strlen(eq + 1) >= sizeof(rule->user)) {
        fprintf(stderr,
                "allot-agent: --run-as: expected TENANT/WORKSPACE=USER, TENANT/*=USER or "
                "*=USER (at most %d), got '%.80s'\n",
                RUNAS_MAX_RULES, arg);
        return -1;
    }
    snprintf(rule->pattern, sizeof(rule->pattern), "%.*s", (int)(eq - arg), arg);
    snprintf(rule->user, sizeof(rule->user), "%s", eq + 1);
    struct passwd *pw = getpwnam(rule->user);
    if (!pw) {
        fprintf(stderr, "allot-agent: --run-as %s: no user '%s' on this node\n", arg, rule->user);
        return -1;
    }
    if (pw->pw_uid == 0)
        fprintf(stderr, "allot-agent: warning: workloads of %s run as root (--run-as)\n",
                rule->pattern);
    rule->uid = pw->pw_uid;
    rule->gid = pw->pw_gid;
    r->n++;
    return 0;
}

const struct runas_rule *runas_find(const struct runas *r, const char *workspace)
{
    for (int i = 0; i < r->n; i++) {
        const char *p = r->rules[i].pattern;
        size_t n = strlen(p);
        if (strcmp(p, "*") == 0 || strcmp(p, workspace) == 0 ||
            (n >= 2 && strcmp(p + n - 2, "/*") == 0 && strncmp(p, workspace, n - 1) == 0))
            return &r->rules[i];
    }
    return NULL;
}
