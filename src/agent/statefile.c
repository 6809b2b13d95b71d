/* The node agent's state file (agent-state.json): what runs and the workspaces' uids, kept so
 * that a restarted agent adopts its processes instead of orphaning or starting them twice,
 * and gives each workspace the uid it had. */
#include "agent/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/jsonfile.h"
#include "agent/shipment.h"
#include "agent/task.h"
#include "agent/workdir.h"
#include "common/error.h"
#include "common/protocol.h"

void statefile_save_soon(struct agent *a)
{
    a->state_dirty = true;
    event_active(a->save_now, EV_TIMEOUT, 0);
}

void statefile_save_now(struct agent *a)
{
    if (statefile_write(a) != 0)
        statefile_save_soon(a);
}

int statefile_write(struct agent *a)
{
    a->state_dirty = false;
    json_t *tasks = json_array();
    for (int k = 0; k < a->tasks_end; k++) {
        const struct task *t = &a->tasks[k];
        if (!t->used || !t->proc)
            continue;
        json_t *entry = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:b, s:s, s:b, s:I}", "id", t->id,
                                  "name", t->name, "rank", t->rank, "attempt", t->attempt, "pid",
                                  (json_int_t)runner_proc_pid(t->proc), "start_ticks",
                                  (json_int_t)runner_proc_start_ticks(t->proc), "stopping",
                                  t->stopping, "cgroup", t->cgroup, "keeper", t->keeper,
                                  "storage_bytes", (json_int_t)t->storage_bytes);
        /* its time limit: stopped at it after a restart too */
        if (entry && t->stop_at_ms > 0) {
            json_object_set_new(entry, "started_at", json_integer(t->started_at_ms));
            json_object_set_new(entry, "stop_at", json_integer(t->stop_at_ms));
            json_object_set_new(entry, "grace_ms", json_integer(t->grace_ms));
        }
        /* a container: its runtime's id, to stop and remove it after a restart */
        if (entry && t->container)
            json_object_set_new(entry, "container", json_string(t->container_id));
        json_array_append_new(tasks, entry);
    }
    json_t *state = json_pack("{s:I, s:o, s:o}", "next_id", (json_int_t)a->next_id, "tasks", tasks,
                              "identities", identity_to_json(&a->identity));
    if (state && a->tenant_known)
        json_object_set_new(state, "tenant", a->tenant[0] ? json_string(a->tenant) : json_null());
    /* Root's only: it names workspaces and their uids. */
    char err[600];
    int rc = state ? jsonfile_write(a->state_path, state, 0600, err, sizeof(err)) : -1;
    if (rc != 0)
        fprintf(stderr, "allot-agent: cannot write the state file: %s\n",
                state ? err : "out of memory");
    json_decref(state);
    return rc ? -1 : 0;
}

/* Task t (a slot just taken) from its entry x of the state file: adopted, with its output
 * shipped again from offset 0 (the controller skips what it has), or ended "gone" when its
 * process is. */
static void task_adopt(struct agent *a, struct task *t, const json_t *x)
{
    t->agent = a;
    t->rank = (int)json_integer_value(json_object_get(x, "rank"));
    t->attempt = (int)json_integer_value(json_object_get(x, "attempt"));
    /* a stop under way is issued again from the next answer (level-triggered) */
    t->stopping = false;
    snprintf(t->name, sizeof(t->name), "%s", json_string_value(json_object_get(x, "name")));
    snprintf(t->id, sizeof(t->id), "%s", json_string_value(json_object_get(x, "id")));
    const char *cgroup = json_string_value(json_object_get(x, "cgroup"));
    snprintf(t->cgroup, sizeof(t->cgroup), "%s", cgroup ? cgroup : "");
    const json_t *keeper = json_object_get(x, "keeper");
    t->keeper = json_is_boolean(keeper) ? json_is_true(keeper) : a->limits.keeper;
    json_int_t storage = json_integer_value(json_object_get(x, "storage_bytes"));
    t->storage_bytes = storage > 0 ? (uint64_t)storage : 0;
    json_int_t stop_at = json_integer_value(json_object_get(x, "stop_at"));
    json_int_t started_at = json_integer_value(json_object_get(x, "started_at"));
    json_int_t grace = json_integer_value(json_object_get(x, "grace_ms"));
    t->stop_at_ms = stop_at > 0 && started_at > 0 && started_at < stop_at ? stop_at : 0;
    t->started_at_ms = t->stop_at_ms ? started_at : 0;
    t->grace_ms = grace > 0 ? grace : 0;
    const char *container = json_string_value(json_object_get(x, "container"));
    struct task_runtime rt;
    if (container && strlen(container) < sizeof(t->container_id)) {
        t->container = true;
        t->keeper = false;
        snprintf(t->container_id, sizeof(t->container_id), "%s", container);
        task_runtime_init(a, container, &rt);
    }
    char cgroup_path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2] = "";
    if (t->cgroup[0])
        limits_cgroup_path(&a->limits, t->cgroup, cgroup_path, sizeof(cgroup_path));
    struct runner_adoption ad = {
        .id = t->id,
        .pid = (pid_t)json_integer_value(json_object_get(x, "pid")),
        .start_ticks = (uint64_t)json_integer_value(json_object_get(x, "start_ticks")),
        .cgroup = cgroup_path[0] ? cgroup_path : NULL,
        .contain = t->container ? RUNNER_CONTAIN_RUNTIME
                   : t->keeper  ? RUNNER_CONTAIN_KEEPER
                                : RUNNER_CONTAIN_CGROUP,
        .runtime = t->container ? &rt.runtime : NULL,
        .on_exit = task_on_exit,
        .ctx = t};
    char err[256];
    if (runner_adopt(a->runner, &ad, &t->proc, err, sizeof(err))) {
        t->proc = NULL;
        t->ended = true;
        t->end_state = PROTOCOL_STATE_GONE;
        t->code = -1;
        snprintf(t->reason, sizeof(t->reason), "gone while the agent was down: %s", err);
        limits_release(&a->limits, t->cgroup);
        t->cgroup[0] = '\0';
        /* its runtime is gone: the container may not be; kill and remove what is left, and
         * its bundle */
        if (t->container && a->runtime[0])
            runner_run_command(rt.runtime.delete_argv);
        char bundle[AGENT_PATH_SIZE + 64];
        if (t->container &&
            (size_t)snprintf(bundle, sizeof(bundle), "%s/%s", a->bundles, t->id) < sizeof(bundle))
            workdir_tree_remove(bundle);
        fprintf(stderr, "allot-agent: %s (rank %d) %s\n", t->name, t->rank, t->reason);
    } else {
        fprintf(stderr, "allot-agent: adopted %s (rank %d), pid %d\n", t->name, t->rank,
                (int)ad.pid);
        shipment_start(a, t);
    }
}

int statefile_load(struct agent *a)
{
    char why[640];
    json_t *state = NULL;
    int rc = jsonfile_read(a->state_path, STATEFILE_MAX, &state, why, sizeof(why));
    if (rc == -ALLOT_ENOENT)
        return 0; /* first start */
    if (rc != 0) {
        fprintf(stderr, "allot-agent: cannot read the state file: %s\n", why);
        return -1;
    }
    if (identity_load(&a->identity, json_object_get(state, "identities"), why, sizeof(why))) {
        fprintf(stderr, "allot-agent: %s: %s\n", a->state_path, why);
        json_decref(state);
        return -1;
    }
    a->next_id = (uint32_t)json_integer_value(json_object_get(state, "next_id"));
    const json_t *tenant = json_object_get(state, "tenant");
    if (json_is_string(tenant) || json_is_null(tenant)) {
        a->tenant_known = true;
        snprintf(a->tenant, sizeof(a->tenant), "%s", tenant ? json_string_value(tenant) : "");
        if (!json_string_value(tenant))
            a->tenant[0] = '\0';
    }
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(state, "tasks"), i, x)
    {
        struct task *t = agent_task_take(a);
        if (!t)
            break;
        task_adopt(a, t, x);
    }
    json_decref(state);
    return 0;
}
