/* The node agent's replicas: what the controller's desired set starts and stops here, each
 * under its limits and its workspace's user, and how each ended, kept for the next report. */
#include "agent/task.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/devices.h"
#include "agent/imagestore.h"
#include "agent/oci.h"
#include "agent/report.h"
#include "agent/shipment.h"
#include "agent/statefile.h"
#include "agent/tenancy.h"
#include "agent/workdir.h"
#include "common/error.h"
#include "common/protocol.h"
#include "common/quantity.h"
#include "sched/sched.h"

_Static_assert(DEVICES_MAX_EDITS <= OCI_MAX_EDITS, "a replica's CDI edits fit in its OCI config");

/* Arguments of one replica's command, at most. */
#define TASK_MAX_ARGS 64

/* Join the strings of a JSON array with commas into buf. */
static void join_strings(const json_t *arr, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s", i ? "," : "", s);
    }
}

/* The name of t's devices cgroup ("NODE.ID", as its other cgroup). RET 0, or -1 when it does
 * not fit. */
static int devices_cgroup_name(const struct agent *a, const struct task *t, char *name, size_t len)
{
    return snprintf(name, len, "%s.%s", a->node, t->id) < (int)len ? 0 : -1;
}

/* Remove t's devices cgroup, if the agent makes them (docs/agent.md, "Devices"). */
static void task_release_devices(struct agent *a, const struct task *t)
{
    char name[CGROUP_NAME_MAX + 1];
    if (a->limits.devices_root[0] && devices_cgroup_name(a, t, name, sizeof(name)) == 0)
        limits_devices_release(&a->limits, name);
}

/* Remove t's bundle directory (its config.json), once its container has ended or did not
 * start. */
static void task_bundle_remove(struct agent *a, const struct task *t)
{
    char bundle[AGENT_PATH_SIZE + 64];
    if ((size_t)snprintf(bundle, sizeof(bundle), "%s/%s", a->bundles, t->id) < sizeof(bundle))
        workdir_tree_remove(bundle);
}

void task_runtime_init(const struct agent *a, const char *container_id, struct task_runtime *rt)
{
    memset(rt, 0, sizeof(*rt));
    snprintf(rt->state, sizeof(rt->state), "%s/%s", a->runtime_root, container_id);
    const char *kill_argv[] = {a->runtime, "--root",     a->runtime_root, "kill",
                               "--all",    container_id, "KILL",          NULL};
    const char *delete_argv[] = {a->runtime,   "--root", a->runtime_root, "delete", "--force",
                                 container_id, NULL};
    memcpy(rt->kill, kill_argv, sizeof(kill_argv));
    memcpy(rt->del, delete_argv, sizeof(delete_argv));
    rt->runtime = (struct runner_runtime){
        .kill_argv = rt->kill, .delete_argv = rt->del, .state_path = rt->state};
}

void task_time_limits(struct agent *a)
{
    int64_t now = agent_now_ms(), next = 0;
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used || !t->proc || t->stopping || t->stop_at_ms <= 0)
            continue;
        if (t->stop_at_ms > now) {
            next = next && next < t->stop_at_ms ? next : t->stop_at_ms;
            continue;
        }
        char limit[32];
        snprintf(t->limit_reason, sizeof(t->limit_reason), "stopped at its time limit of %s",
                 quantity_format_duration(t->stop_at_ms - t->started_at_ms, limit, sizeof(limit)));
        fprintf(stderr, "allot-agent: %s (rank %d): %s\n", t->name, t->rank, t->limit_reason);
        t->stopping = true;
        t->time_limited = true;
        runner_stop(a->runner, t->proc, t->grace_ms, t->limit_reason);
        statefile_save_soon(a);
    }
    if (next) {
        int64_t delay = next - now;
        struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
        evtimer_add(a->time_limit_timer, &tv);
    }
}

void task_on_exit(void *ctx, const struct runner_exit *e)
{
    struct task *t = ctx;
    struct agent *a = t->agent;
    const char *why = e->reason ? e->reason : "";
    t->proc = NULL;
    t->ended = true;
    /* Stopped for a limit, it ended on its own account: "exited", so that the controller
     * finishes it rather than requeue it to go over again. */
    t->end_state = t->limit_reason[0] ? PROTOCOL_STATE_EXITED
                   : t->stopping      ? PROTOCOL_STATE_STOPPED
                                      : PROTOCOL_STATE_EXITED;
    t->code = e->code;
    t->signal = e->signal;
    if (t->limit_reason[0] && strncmp(why, t->limit_reason, strlen(t->limit_reason)) != 0)
        snprintf(t->reason, sizeof(t->reason), "%s; %s", t->limit_reason, why);
    else
        snprintf(t->reason, sizeof(t->reason), "%s", why);
    limits_release(&a->limits, t->cgroup);
    t->cgroup[0] = '\0';
    if (t->container)
        task_bundle_remove(a, t); /* a container has no devices cgroup of the agent's */
    else
        task_release_devices(a, t);
    if (t->ship)
        t->ship->ended = true;
    t->ship = NULL;
    fprintf(stderr, "allot-agent: %s (rank %d) %s: %s\n", t->name, t->rank, t->end_state,
            t->reason);
    statefile_save_soon(a);
    event_active(a->push_now, EV_TIMEOUT, 0);
}

struct task *task_find(struct agent *a, const char *name, int rank)
{
    for (int i = 0; i < a->tasks_end; i++)
        if (a->tasks[i].used && a->tasks[i].rank == rank && strcmp(a->tasks[i].name, name) == 0)
            return &a->tasks[i];
    return NULL;
}

/* t has just started: its time limit (the desired set's time_limit_ms from now) and the grace
 * of the stop at it; none when the item has none. */
static void task_time_limit_set(struct task *t, const json_t *item)
{
    json_int_t limit = json_integer_value(json_object_get(item, PROTOCOL_FIELD_TIME_LIMIT_MS));
    json_int_t grace = json_integer_value(json_object_get(item, PROTOCOL_FIELD_GRACE_MS));
    t->started_at_ms = agent_now_ms();
    t->stop_at_ms = limit > 0 && limit <= SCHED_MAX_TIME_LIMIT_MS ? t->started_at_ms + limit : 0;
    t->grace_ms = grace > 0 ? grace : 0;
}

/* Mark t ended before it ran, with the exit code of a shell that could not run it. */
static void task_fail(struct task *t, int code, const char *reason)
{
    t->ended = true;
    t->end_state = PROTOCOL_STATE_EXITED;
    t->code = code;
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
}

/* Who workspace's workloads run as, when the agent is root (docs/agent.md, "Users"): the
 * user of the first matching --run-as rule, else the workspace's own uid, with a gid of the
 * same number; a uid just assigned is kept in the state file at once, before anything runs
 * as it. OUT *uid, *gid (0: as the agent). RET 0, or -1 with a sentence in err. */
static int user_for(struct agent *a, const char *workspace, uid_t *uid, gid_t *gid, char *err,
                    size_t len)
{
    *uid = 0;
    *gid = 0;
    if (geteuid() != 0)
        return 0;
    const struct runas_rule *rule = runas_find(&a->run_as, workspace);
    if (rule) {
        *uid = rule->uid;
        *gid = rule->uid == 0 ? 0 : rule->gid ? rule->gid : rule->uid;
        return 0;
    }
    bool fresh;
    int rc = identity_assign(&a->identity, workspace, uid, gid, &fresh);
    if (rc) {
        snprintf(err, len, "no uid for workspace %.64s: %s", workspace,
                 rc == -ALLOT_ERANGE ? "every uid of --uid-range is assigned" : allot_strerror(rc));
        return -1;
    }
    if (fresh && statefile_write(a) != 0) {
        snprintf(err, len, "workspace %.64s: its uid could not be kept in the state file",
                 workspace);
        return -1;
    }
    return 0;
}

/* The environment entries of replicas, one replica at a time (the runner copies them). */
static char envbuf[AGENT_MAX_ENV][1024];

/* Append an entry made from fmt to env[*k] (in envbuf[*k]). */
static void env_add(const char **env, int *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(envbuf[*k], sizeof(envbuf[*k]), fmt, ap);
    va_end(ap);
    env[*k] = envbuf[*k];
    (*k)++;
}

/* The environment of replica `item` (docs/agent-running.md): the workload's, then the env of
 * its GPUs' CDI edits (edits[0..n_edits)), then Allot's, which win. OUT env (AGENT_MAX_ENV + 1
 * entries, NULL-terminated), uuids: its GPUs. RET 0, or -1 when the CDI env does not fit (err). */
static int task_env(const json_t *item, const struct cdi_edits *const *edits, size_t n_edits,
                    const char **env, char *uuids, size_t len, char *err, size_t elen)
{
    int k = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(item, PROTOCOL_FIELD_ENV), key, v)
    {
        if (k < AGENT_MAX_ENV - 8 && json_is_string(v))
            env_add(env, &k, "%s=%s", key, json_string_value(v));
    }
    for (size_t i = 0; i < n_edits; i++)
        for (size_t e = 0; e < edits[i]->n_env; e++) {
            if (k >= AGENT_MAX_ENV - 8 || strlen(edits[i]->env[e]) >= sizeof(envbuf[0])) {
                snprintf(err, elen,
                         "the environment of its CDI devices does not fit (%d entries "
                         "of up to %zu bytes in all)",
                         AGENT_MAX_ENV, sizeof(envbuf[0]) - 1);
                return -1;
            }
            env_add(env, &k, "%s", edits[i]->env[e]);
        }
    char peers[900];
    join_strings(json_object_get(item, PROTOCOL_FIELD_GPU_UUIDS), uuids, len);
    join_strings(json_object_get(item, PROTOCOL_FIELD_PEERS), peers, sizeof(peers));
    env_add(env, &k, "CUDA_VISIBLE_DEVICES=%s", uuids);
    env_add(env, &k, "NVIDIA_VISIBLE_DEVICES=%s", uuids);
    env_add(env, &k, "ALLOT_WORKLOAD=%s",
            json_string_value(json_object_get(item, PROTOCOL_FIELD_NAME)));
    env_add(env, &k, "ALLOT_WORKSPACE=%s",
            json_string_value(json_object_get(item, PROTOCOL_FIELD_WORKSPACE)));
    env_add(env, &k, "ALLOT_RANK=%d",
            (int)json_integer_value(json_object_get(item, PROTOCOL_FIELD_RANK)));
    env_add(env, &k, "ALLOT_WORLD_SIZE=%d",
            (int)json_integer_value(json_object_get(item, PROTOCOL_FIELD_WORLD_SIZE)));
    env_add(env, &k, "ALLOT_PEERS=%s", peers);
    /* how long it has to checkpoint once told to stop (seconds); the absolute deadline is
     * written to $ALLOT_PREEMPT_DEADLINE_FILE when that happens */
    env_add(env, &k, "ALLOT_PREEMPT_DEADLINE=%lld",
            (long long)(json_integer_value(json_object_get(item, PROTOCOL_FIELD_GRACE_MS)) / 1000));
    env[k] = NULL;
    return 0;
}

/* The CDI edits of replica item's GPUs (docs/agent.md, "Devices"): its whole GPUs by index,
 * or its MIG instance by UUID. None when the agent does not enforce devices. OUT edits[0..*n)
 * (DEVICES_MAX_EDITS). RET 0, or -1 with a sentence in err: the replica must not run. */
static int task_devices(const struct agent *a, const json_t *item, const struct cdi_edits **edits,
                        size_t *n, char *err, size_t len)
{
    uint32_t indices[GPUINFO_MAX_GPUS];
    size_t k = 0, i;
    const char *mig = NULL;
    json_t *v;
    *n = 0;
    if (!a->devices)
        return 0;
    if (json_object_get(item, PROTOCOL_FIELD_MIG)) {
        mig = json_string_value(json_array_get(json_object_get(item, PROTOCOL_FIELD_GPU_UUIDS), 0));
        if (!mig) {
            snprintf(err, len, "its MIG instance has no UUID: its CDI device cannot be told");
            return -1;
        }
    } else {
        json_array_foreach(json_object_get(item, PROTOCOL_FIELD_GPU_INDICES), i, v)
        {
            if (k == GPUINFO_MAX_GPUS || !json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) >= GPUINFO_MAX_GPUS) {
                snprintf(err, len, "its GPU indices are not those of this node");
                return -1;
            }
            indices[k++] = (uint32_t)json_integer_value(v);
        }
    }
    int rc = devices_edits(a->devices, indices, k, mig, edits, DEVICES_MAX_EDITS);
    if (rc < 0) {
        snprintf(err, len, "%s",
                 rc == -ALLOT_ENOENT
                     ? "one of its GPUs has no CDI device on this node (it is reported unhealthy)"
                     : "its GPUs have more CDI edits than a replica may get");
        return -1;
    }
    *n = (size_t)rc;
    return 0;
}

/* Make t's devices cgroup (docs/agent.md, "Devices"): the device nodes of edits[0..n) and the
 * standard ones, nothing else; spec->devices_cgroup points into path (len bytes). Nothing when
 * the agent makes no devices cgroups. RET 0, or -1 with a sentence in err. */
static int task_devices_cgroup(struct agent *a, const struct task *t,
                               const struct cdi_edits *const *edits, size_t n,
                               struct runner_spec *spec, char *path, size_t len, char *err,
                               size_t elen)
{
    struct cgroup_device_rule rules[CGROUP_MAX_DEVICE_RULES - 16];
    char name[CGROUP_NAME_MAX + 1];
    size_t n_rules = 0;
    spec->devices_cgroup = NULL;
    if (!a->limits.devices_root[0])
        return 0;
    if (devices_cgroup_name(a, t, name, sizeof(name)) != 0) {
        snprintf(err, elen, "devices cgroup name too long: the node's name is too long");
        return -1;
    }
    if (devices_rules(edits, n, rules, sizeof(rules) / sizeof(rules[0]), &n_rules, err, elen) ||
        limits_devices_apply(&a->limits, name, rules, n_rules, spec, path, len, err, elen))
        return -1;
    return 0;
}

/* Where and as whom t runs: fail closed on another tenant's workspace, the user, the cgroup
 * and the limits of item into spec, and the devices cgroup of its CDI edits (edits[0..n));
 * spec->cgroup points into path (len bytes) and spec->devices_cgroup into dpath (dlen), which
 * must outlive spec. A container (container true) gets neither cgroup of the agent's: its
 * runtime makes its cgroup and applies its limits and device rules. RET 0, or -1 with t
 * failed. */
static int task_confine(struct agent *a, struct task *t, const json_t *item,
                        const struct cdi_edits *const *edits, size_t n, struct runner_spec *spec,
                        char *path, size_t len, char *dpath, size_t dlen, bool container)
{
    char err[256];
    const char *ws = json_string_value(json_object_get(item, PROTOCOL_FIELD_WORKSPACE));
    if (a->tenant_known && !tenancy_owns(ws ? ws : "", a->tenant)) {
        /* fail closed: nothing of a tenant the node does not serve runs here */
        snprintf(err, sizeof(err), "workspace %.64s is not of tenant '%s', which this node serves",
                 ws ? ws : "", a->tenant);
        task_fail(t, 126, err);
        return -1;
    }
    if (user_for(a, ws ? ws : "", &spec->uid, &spec->gid, err, sizeof(err))) {
        task_fail(t, 126, err);
        return -1;
    }
    t->storage_bytes = report_u64(item, PROTOCOL_FIELD_STORAGE_BYTES);
    if (container)
        return 0;
    /* The cgroup is named after the node too: agents of several nodes on one host (a demo,
     * the tests) share a cgroup root, and each counts its ids from 1. */
    if (a->limits.cgroups &&
        snprintf(t->cgroup, sizeof(t->cgroup), "%s.%s", a->node, t->id) >= (int)sizeof(t->cgroup)) {
        t->cgroup[0] = '\0';
        task_fail(t, 126, "cgroup name too long: the node's name is too long");
        return -1;
    }
    if (limits_apply(&a->limits, t->cgroup, report_u64(item, PROTOCOL_FIELD_MEMORY_BYTES),
                     report_u64(item, PROTOCOL_FIELD_CPU_MILLICORES), spec, path, len, err,
                     sizeof(err))) {
        t->cgroup[0] = '\0';
        task_fail(t, 126, err);
        return -1;
    }
    if (task_devices_cgroup(a, t, edits, n, spec, dpath, dlen, err, sizeof(err))) {
        limits_release(&a->limits, t->cgroup);
        t->cgroup[0] = '\0';
        task_fail(t, 126, err);
        return -1;
    }
    return 0;
}

/* Start replica t of item in a container of image (docs/agent.md, "Images and containers"):
 * the image from the store (missing: t ends at once, image_missing), the workspace's user, a
 * bundle in a->bundles/<id> with the runtime config, then `runtime --root R run --bundle B
 * <node>.<id>` under the runner. argv: the workload's command (may be empty: the image's);
 * env: the workload's and Allot's entries; edits[0..n_edits): the CDI edits of its GPUs
 * (task_devices). On failure t has failed with a reason. */
static void task_start_container(struct agent *a, struct task *t, const json_t *item,
                                 const char *image, const char *const *argv, const char *const *env,
                                 const struct cdi_edits *const *edits, size_t n_edits)
{
    char err[256], rootfs[AGENT_PATH_SIZE], bundle[AGENT_PATH_SIZE + 64],
        work[AGENT_PATH_SIZE + 64], tmp[AGENT_PATH_SIZE + 96], cgroups_path[512];
    json_t *image_config = NULL, *config = NULL;
    bool bundled = false;
    if (geteuid() != 0) {
        task_fail(t, 126,
                  "a container needs an agent running as root (rootless containers are "
                  "not supported)");
        return;
    }
    if (!a->runtime[0]) {
        task_fail(t, 126,
                  "no container runtime on this node: runc was not found in PATH; give "
                  "the agent --runtime");
        return;
    }
    int rc = imagestore_find(a->image_store, image, rootfs, sizeof(rootfs), &image_config, err,
                             sizeof(err));
    if (rc) {
        task_fail(t, rc == -ALLOT_ENOENT ? 127 : 126, err);
        return;
    }
    struct runner_spec spec = {.id = t->id, .on_exit = task_on_exit, .ctx = t};
    if (task_confine(a, t, item, edits, n_edits, &spec, NULL, 0, NULL, 0, true))
        goto out;
    snprintf(t->container_id, sizeof(t->container_id), "%s.%s", a->node, t->id);
    snprintf(bundle, sizeof(bundle), "%s/%s", a->bundles, t->id);
    snprintf(work, sizeof(work), "%s/%s", a->workdir, t->id);
    snprintf(tmp, sizeof(tmp), "%s/" RUNNER_TMP_DIR, work);
    snprintf(cgroups_path, sizeof(cgroups_path), "%s/%s", a->container_cgroups, t->container_id);
    struct oci_replica replica = {
        .hostname = a->node,
        .rootfs = rootfs,
        .work_dir = work,
        .tmp_dir = tmp,
        .image = image_config,
        .command = argv,
        .cwd = json_string_value(json_object_get(item, PROTOCOL_FIELD_WORKDIR)),
        .env = env,
        .uid = spec.uid,
        .gid = spec.gid,
        .memory_bytes = report_u64(item, PROTOCOL_FIELD_MEMORY_BYTES),
        .cpu_millicores = report_u64(item, PROTOCOL_FIELD_CPU_MILLICORES),
        .pids_max = LIMITS_PIDS_MAX,
        .cgroups_path = cgroups_path,
        .edits = edits,
        .n_edits = n_edits,
    };
    if (oci_config_build(&replica, &config, err, sizeof(err)) != 0) {
        task_fail(t, 126, err);
        goto out;
    }
    bundled = mkdir(bundle, 0700) == 0 || errno == EEXIST;
    if (!bundled || oci_config_write(bundle, config, err, sizeof(err)) != 0) {
        if (!bundled)
            snprintf(err, sizeof(err), "%.160s: %s", bundle, strerror(errno));
        task_fail(t, 126, err);
        goto out;
    }
    struct task_runtime rt;
    task_runtime_init(a, t->container_id, &rt);
    const char *run_argv[] = {a->runtime, "--root", a->runtime_root, "run",
                              "--bundle", bundle,   t->container_id, NULL};
    spec.argv = run_argv;
    spec.contain = RUNNER_CONTAIN_RUNTIME;
    spec.runtime = &rt.runtime;
    if (runner_start(a->runner, &spec, &t->proc, err, sizeof(err))) {
        task_fail(t, 126, err);
        goto out;
    }
    t->container = true;
    task_time_limit_set(t, item);
    bundled = false; /* removed when it ends */
    fprintf(stderr, "allot-agent: started %s (rank %d) in container %s of %s\n", t->name, t->rank,
            t->container_id, image);
    shipment_start(a, t);
    statefile_save_now(a);
out:
    if (bundled)
        task_bundle_remove(a, t);
    json_decref(image_config);
    json_decref(config);
}

/* Start replica `item` of the controller's answer, under its limits (docs/agent.md). */
static void task_start(struct agent *a, const json_t *item)
{
    const char *name = json_string_value(json_object_get(item, PROTOCOL_FIELD_NAME));
    int rank = (int)json_integer_value(json_object_get(item, PROTOCOL_FIELD_RANK));
    struct task *t = name ? agent_task_take(a) : NULL;
    if (!t)
        return;
    t->agent = a;
    t->rank = rank;
    t->attempt = (int)json_integer_value(json_object_get(item, PROTOCOL_FIELD_ATTEMPT));
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->id, sizeof(t->id), "w%u", ++a->next_id);
    const json_t *cmd = json_object_get(item, PROTOCOL_FIELD_COMMAND);
    const char *image = json_string_value(json_object_get(item, PROTOCOL_FIELD_IMAGE));
    if (!image && (!json_is_array(cmd) || json_array_size(cmd) == 0)) {
        task_fail(t, 127, "no command to run");
        return;
    }
    const char *argv[TASK_MAX_ARGS + 2];
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(cmd, i, v)
    {
        if (n < TASK_MAX_ARGS && json_is_string(v))
            argv[n++] = json_string_value(v);
    }
    argv[n] = NULL;
    const char *env[AGENT_MAX_ENV + 1];
    const struct cdi_edits *edits[DEVICES_MAX_EDITS];
    size_t n_edits = 0;
    char uuids[900], err[256], cgroup_path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    char devices_path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    if (task_devices(a, item, edits, &n_edits, err, sizeof(err)) ||
        task_env(item, edits, n_edits, env, uuids, sizeof(uuids), err, sizeof(err))) {
        task_fail(t, 126, err);
        return;
    }
    if (image) {
        task_start_container(a, t, item, image, argv, env, edits, n_edits);
        return;
    }
    struct runner_spec spec = {
        .id = t->id, .argv = argv, .env = env, .on_exit = task_on_exit, .ctx = t};
    if (task_confine(a, t, item, edits, n_edits, &spec, cgroup_path, sizeof(cgroup_path),
                     devices_path, sizeof(devices_path), false))
        return;
    t->keeper = spec.contain == RUNNER_CONTAIN_KEEPER;
    if (runner_start(a->runner, &spec, &t->proc, err, sizeof(err))) {
        limits_release(&a->limits, t->cgroup);
        t->cgroup[0] = '\0';
        task_release_devices(a, t);
        task_fail(t, 126, err);
        return;
    }
    task_time_limit_set(t, item);
    fprintf(stderr, "allot-agent: started %s (rank %d) on GPUs %s\n", name, rank, uuids);
    shipment_start(a, t);
    statefile_save_now(a);
}

void task_reconcile(struct agent *a, const json_t *answer)
{
    const json_t *items = json_object_get(answer, PROTOCOL_FIELD_WORKLOADS);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *name = json_string_value(json_object_get(item, PROTOCOL_FIELD_NAME));
        const char *state = json_string_value(json_object_get(item, PROTOCOL_FIELD_STATE));
        int rank = (int)json_integer_value(json_object_get(item, PROTOCOL_FIELD_RANK));
        if (!name || !state)
            continue;
        struct task *t = task_find(a, name, rank);
        if (!t && strcmp(state, PROTOCOL_STATE_RUNNING) == 0 && !a->wiping) {
            task_start(a, item);
        } else if (t && t->proc && !t->stopping && strcmp(state, PROTOCOL_STATE_DRAINING) == 0) {
            int64_t grace =
                json_integer_value(json_object_get(item, PROTOCOL_FIELD_STOP_BY)) - agent_now_ms();
            /* the controller says why (a fixed word here: its text is not copied) */
            const char *why = json_string_value(json_object_get(item, PROTOCOL_FIELD_REASON));
            t->stopping = true;
            runner_stop(a->runner, t->proc, grace > 0 ? grace : 0,
                        !why                            ? "told to stop"
                        : strcmp(why, "cancelled") == 0 ? "cancelled"
                                                        : "preempted");
            statefile_save_soon(a);
        }
    }
    task_time_limits(a); /* those of the replicas just started */
    /* running here but no longer wanted: stop it */
    for (int k = 0; k < a->tasks_end; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used || !t->proc || t->stopping)
            continue;
        bool wanted = false;
        json_array_foreach(items, i, item)
        {
            wanted = wanted ||
                     (json_integer_value(json_object_get(item, PROTOCOL_FIELD_RANK)) == t->rank &&
                      strcmp(json_string_value(json_object_get(item, PROTOCOL_FIELD_NAME)),
                             t->name) == 0);
        }
        if (!wanted) {
            t->stopping = true;
            runner_stop(a->runner, t->proc, 5000, "no longer wanted by the controller");
        }
    }
}

bool task_is_dir_name(const char *name)
{
    return name[0] == 'w' && name[1] && strspn(name + 1, "0123456789") == strlen(name + 1);
}
