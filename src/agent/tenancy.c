/* The node agent's tenancy: the tenant the node serves, the check of the one the controller
 * names, and the wipe of the node (processes, replica directories, shared directories, uids)
 * before it passes to another. */
#include "agent/tenancy.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "agent/statefile.h"
#include "agent/task.h"
#include "agent/wipe.h"
#include "common/protocol.h"

bool tenancy_owns(const char *workspace, const char *tenant)
{
    size_t n = strlen(tenant);
    return n && strncmp(workspace, tenant, n) == 0 && workspace[n] == '/';
}

/* Wipe the node for a->wipe_for: every process of the old tenant's users, every replica
 * directory (their files and logs), their files in the shared directories; their uids are
 * retired. Then the node serves the new tenant, the state file says so, and the next report
 * tells the controller, which completes the node's move. */
static void wipe_now(struct agent *a)
{
    uid_t uids[1024];
    size_t n = identity_uids(&a->identity, uids, sizeof(uids) / sizeof(uids[0]));
    if (n > sizeof(uids) / sizeof(uids[0]))
        n = sizeof(uids) / sizeof(uids[0]); /* more than a node ever runs: the rest stay */
    int stuck = 0;
    for (size_t i = 0; i < n; i++)
        if (identity_kill_uid(&a->identity, uids[i], TENANCY_WIPE_KILL_MS) != 0)
            stuck++;
    size_t dirs = 0, shared = 0;
    DIR *d = opendir(a->workdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (task_is_dir_name(e->d_name) && runner_workdir_remove(a->runner, e->d_name) == 0)
            dirs++;
    if (d)
        closedir(d);
    char why[512] = "";
    wipe_dirs(a->wipe_dirs, uids, n, &shared, why, sizeof(why));
    identity_retire(&a->identity);
    for (int k = 0; k < a->ships_end; k++)
        a->ships[k].used = false;
    a->ships_end = 0;
    snprintf(a->tenant, sizeof(a->tenant), "%s", a->wipe_for);
    a->tenant_known = true;
    a->wiping = false;
    if (statefile_write(a) != 0) { /* the next iteration tries again; until then, nothing runs */
        a->wiping = true;
        a->tenant_known = false;
        return;
    }
    fprintf(stderr,
            "allot-agent: node wiped for %s%s: the processes of %zu users killed%s, %zu replica "
            "directories and %zu files of shared directories removed%s%s\n",
            a->tenant[0] ? "tenant " : "no tenant", a->tenant, n,
            stuck ? " (some would not die)" : "", dirs, shared, why[0] ? "; " : "", why);
    event_active(a->push_now, EV_TIMEOUT, 0);
}

void tenancy_wipe_try(struct agent *a)
{
    if (!a->wiping)
        return;
    for (int k = 0; k < a->tasks_end; k++)
        if (a->tasks[k].used)
            return; /* running, stopping, or its end not yet acknowledged */
    size_t unshipped = 0;
    for (int k = 0; k < a->ships_end; k++)
        unshipped += a->ships[k].used;
    if (unshipped && agent_now_ms() - a->wipe_since_ms < TENANCY_WIPE_SHIP_MS)
        return;
    if (unshipped)
        fprintf(stderr,
                "allot-agent: the output of %zu replicas of the old tenant is not all shipped "
                "after %d s: given up for the wipe\n",
                unshipped, TENANCY_WIPE_SHIP_MS / 1000);
    wipe_now(a);
}

void tenancy_check(struct agent *a, const json_t *answer)
{
    const json_t *t = json_object_get(answer, PROTOCOL_FIELD_TENANT);
    if (!json_is_string(t) && !json_is_null(t))
        return; /* a controller that names none: nothing to check against */
    const char *want = json_is_string(t) ? json_string_value(t) : "";
    if (strlen(want) >= sizeof(a->tenant))
        return;
    if (a->tenant_known && strcmp(a->tenant, want) == 0) {
        a->wiping = false; /* a move taken back before its wipe */
        return;
    }
    if (!a->tenant_known) {
        /* a state file from before wipes: replicas that run are the named tenant's own, or
         * the node is wiped like any other */
        bool running = false, others = false;
        for (int k = 0; k < a->tasks_end; k++) {
            const struct task *x = &a->tasks[k];
            if (x->used && x->proc) {
                running = true;
                others = others || !tenancy_owns(x->name, want);
            }
        }
        if (running && !others) {
            snprintf(a->tenant, sizeof(a->tenant), "%s", want);
            a->tenant_known = true;
            statefile_save_soon(a);
            return;
        }
    }
    if (!a->wiping || strcmp(a->wipe_for, want) != 0) {
        fprintf(stderr, "allot-agent: the node passes from %s%s to %s%s: wiping it first\n",
                a->tenant_known ? (a->tenant[0] ? "tenant " : "no tenant") : "an unknown tenant",
                a->tenant_known ? a->tenant : "", want[0] ? "tenant " : "no tenant", want);
        a->wiping = true;
        snprintf(a->wipe_for, sizeof(a->wipe_for), "%s", want);
        a->wipe_since_ms = agent_now_ms();
    }
}
