/* allot-agent: the node agent. Reports its node's GPUs and workloads to the controller on a
 * short period and runs, watches and stops what the controller's answer says should run
 * there (level-triggered: a lost report heals at the next one). One libevent loop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "agent/gpuinfo.h"
#include "agent/identity.h"
#include "agent/limits.h"
#include "agent/runner.h"
#include "agent/wipe.h"
#include "common/error.h"
#include "common/quantity.h"

#define AGENT_MAX_PROCS 1024
#define AGENT_MAX_ENV 96
#define AGENT_MAX_RUN_AS 64
#define AGENT_MAX_LABELS 32
/* The longest the controller holds a poll (its FLEET_MAX_WAIT_MS) */
#define FLEET_WAIT_MAX_MS 5000

/* One replica this agent runs (or ran and has not reported yet). */
struct task {
    bool used;
    char name[256]; /* tenant/workspace/name */
    int rank;
    char id[32];              /* the runner's id: "w<N>" */
    struct runner_proc *proc; /* NULL once it has ended */
    bool stopping;            /* told to stop */
    bool ended;               /* ended; reported at the next report, then forgotten */
    unsigned sent;            /* its end is in the report in flight on these channels */
    int attempt;              /* the controller's count of its starts (logs are kept by it) */
    const char *end_state;    /* "exited" or "stopped" */
    int code, signal;
    char reason[300];
    uint64_t storage_bytes;               /* its declared storage; 0: unchecked */
    char cgroup[CGROUP_NAME_MAX + 1];     /* its cgroup under the root, "" when none */
    bool keeper;                          /* it runs under a keeper process */
    char limit_reason[RUNNER_REASON_MAX]; /* why the agent stopped it for a limit, or "" */
    struct shipment *ship;                /* its output on its way to the controller */
};

/* The output of one replica, shipped to the controller in chunks (docs/agent-running.md,
 * "Logs"); kept after its process ends until all of it is there. */
struct shipment {
    bool used;
    bool ended;     /* its process ended: forgotten once everything is shipped */
    char name[256]; /* tenant/workspace/name */
    int rank, attempt;
    char dir[4200];     /* its working directory, which holds stdout.log and stderr.log */
    int64_t shipped[2]; /* bytes of stdout, stderr the controller has */
};

/* Reports travel on two channels (connections): the poll, which the controller holds until
 * something changes for this node, and the push, sent at once when a workload ends. */
enum channel { CHANNEL_POLL, CHANNEL_PUSH, CHANNEL_COUNT };

/* Who a workspace's workloads run as when the agent is root: --run-as PATTERN=USER. */
struct run_as {
    char pattern[260]; /* a workspace, a tenant with "/" and "*" after it, or "*" */
    char user[64];
    uid_t uid;
    gid_t gid;
};

struct agent {
    struct event_base *base;
    struct evhttp_connection *conn; /* the poll's */
    struct evhttp_connection *push; /* the push's */
    char host[256];
    int port;
    char node[128];
    char auth[512];
    struct gpuinfo gpus;
    struct runner *runner;
    struct task tasks[AGENT_MAX_PROCS];
    uint32_t next_id;
    bool in_flight[CHANNEL_COUNT];
    bool dirty;             /* something ended while a push was in flight */
    int64_t every_ms;       /* the longest the controller may hold a poll */
    int64_t epoch;          /* of the last answer applied ... */
    uint64_t version;       /* ... and its version: older answers are not applied */
    struct event *timer;    /* a poll when none is in flight (after a failure) */
    struct event *push_now; /* a push, from the loop rather than inside a callback */
    struct event *save_now; /* the state file, written once per loop iteration */
    bool state_dirty;
    struct evhttp_connection *ship_conn; /* output chunks, one at a time */
    struct shipment ships[AGENT_MAX_PROCS];
    bool ship_in_flight;
    struct event *ship_timer;
    struct event *storage_timer; /* the storage check of every running replica */
    struct limits limits;
    int64_t keep_ms;   /* a finished replica's directory is removed this long after its end */
    json_t *node_info; /* the system's CPUs and memory and --label's, sent in every report */
    struct run_as run_as[AGENT_MAX_RUN_AS]; /* in the order given; the first match wins */
    int n_run_as;
    struct identity identity; /* each workspace's own uid, when no --run-as rule matches */
    /* The tenant the node serves (docs/agent-running.md, "Wipe"): nothing of another is on
     * it. When the controller names another, the node is wiped before it serves that one. */
    char tenant[64];       /* "" for none */
    bool tenant_known;     /* from the state file or a wipe; false on a first start */
    bool wiping;           /* the controller named wipe_for: wipe once the old work is gone */
    char wipe_for[64];     /* "" for none */
    int64_t wipe_since_ms; /* when the wipe was asked for */
    const char *wipe_dirs; /* --wipe-dirs: shared directories swept of the old users' files */
    uint64_t reports, failures;
    char state_path[4200]; /* work-dir/agent-state.json: what runs, for a restarted agent */
    char workdir[4096];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct agent *the_agent; /* on_exit_cb's way back to the agent's state file */
static void state_save(struct agent *a);

/* What runs changed: the state file is written once, at the end of this loop iteration
 * (starts and exits come in bursts; one file per change would cost a file creation each). */
static void state_save(struct agent *a)
{
    a->state_dirty = true;
    event_active(a->save_now, EV_TIMEOUT, 0);
}

static void on_exit_cb(void *ctx, const struct runner_exit *e)
{
    struct task *t = ctx;
    const char *why = e->reason ? e->reason : "";
    t->proc = NULL;
    t->ended = true;
    /* Stopped for a limit, it ended on its own account: "exited", so that the controller
     * finishes it rather than requeue it to go over again. */
    t->end_state = t->limit_reason[0] ? "exited" : t->stopping ? "stopped" : "exited";
    t->code = e->code;
    t->signal = e->signal;
    if (t->limit_reason[0] && strncmp(why, t->limit_reason, strlen(t->limit_reason)) != 0)
        snprintf(t->reason, sizeof(t->reason), "%s; %s", t->limit_reason, why);
    else
        snprintf(t->reason, sizeof(t->reason), "%s", why);
    limits_release(&the_agent->limits, t->cgroup);
    t->cgroup[0] = '\0';
    if (t->ship)
        t->ship->ended = true;
    t->ship = NULL;
    fprintf(stderr, "allot-agent: %s (rank %d) %s: %s\n", t->name, t->rank, t->end_state,
            t->reason);
    state_save(the_agent);
    event_active(the_agent->push_now, EV_TIMEOUT, 0);
}

static struct task *task_find(struct agent *a, const char *name, int rank)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++)
        if (a->tasks[i].used && a->tasks[i].rank == rank && strcmp(a->tasks[i].name, name) == 0)
            return &a->tasks[i];
    return NULL;
}

/* Start shipping t's output (its process runs in its working directory). */
static void ship_start(struct agent *a, struct task *t)
{
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct shipment *sh = &a->ships[i];
        if (sh->used)
            continue;
        memset(sh, 0, sizeof(*sh));
        sh->used = true;
        sh->rank = t->rank;
        sh->attempt = t->attempt > 0 ? t->attempt : 1;
        snprintf(sh->name, sizeof(sh->name), "%s", t->name);
        snprintf(sh->dir, sizeof(sh->dir), "%s", runner_proc_workdir(t->proc));
        t->ship = sh;
        return;
    }
}

/* Keep what runs, and the workspaces' uids, in the state file (written whole, then renamed:
 * never half-written), so a restarted agent adopts its processes instead of orphaning or
 * starting them twice, and gives each workspace the uid it had. RET 0, or -1 after saying
 * why. */
static int state_write(struct agent *a)
{
    a->state_dirty = false;
    json_t *tasks = json_array();
    for (int k = 0; k < AGENT_MAX_PROCS; k++) {
        const struct task *t = &a->tasks[k];
        if (!t->used || !t->proc)
            continue;
        json_array_append_new(tasks,
                              json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:b, s:s, s:b, s:I}", "id",
                                        t->id, "name", t->name, "rank", t->rank, "attempt",
                                        t->attempt, "pid", (json_int_t)runner_proc_pid(t->proc),
                                        "start_ticks", (json_int_t)runner_proc_start_ticks(t->proc),
                                        "stopping", t->stopping, "cgroup", t->cgroup, "keeper",
                                        t->keeper, "storage_bytes", (json_int_t)t->storage_bytes));
    }
    json_t *state = json_pack("{s:I, s:o, s:o}", "next_id", (json_int_t)a->next_id, "tasks", tasks,
                              "identities", identity_to_json(&a->identity));
    if (state && a->tenant_known)
        json_object_set_new(state, "tenant", a->tenant[0] ? json_string(a->tenant) : json_null());
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", a->state_path);
    /* Root's only: it names workspaces and their uids. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool written = fd >= 0 && state && json_dumpfd(state, fd, JSON_COMPACT) == 0;
    if (fd >= 0 && close(fd) != 0)
        written = false;
    if (written && rename(tmp, a->state_path) != 0)
        written = false;
    if (!written)
        fprintf(stderr, "allot-agent: cannot write %s: %s\n", a->state_path, strerror(errno));
    json_decref(state);
    return written ? 0 : -1;
}

/* Take back the uids given to workspaces and adopt the processes a previous run of the agent
 * left. Those that are gone are reported gone at the next report. A state file that is there
 * but cannot be read stops the agent: starting afresh could give a workspace the uid of
 * another's files and processes. RET 0, or -1 after saying why. */
static int state_load(struct agent *a)
{
    json_error_t jerr;
    char why[512];
    struct stat sb;
    if (lstat(a->state_path, &sb) != 0 && errno == ENOENT)
        return 0; /* first start */
    json_t *state = json_load_file(a->state_path, 0, &jerr);
    if (!state) {
        fprintf(stderr, "allot-agent: cannot read %s: %s\n", a->state_path, jerr.text);
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
    int k = 0;
    json_array_foreach(json_object_get(state, "tasks"), i, x)
    {
        if (k >= AGENT_MAX_PROCS)
            break;
        struct task *t = &a->tasks[k++];
        memset(t, 0, sizeof(*t));
        t->used = true;
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
        char cgroup_path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2] = "";
        if (t->cgroup[0])
            limits_cgroup_path(&a->limits, t->cgroup, cgroup_path, sizeof(cgroup_path));
        struct runner_adoption ad = {
            .id = t->id,
            .pid = (pid_t)json_integer_value(json_object_get(x, "pid")),
            .start_ticks = (uint64_t)json_integer_value(json_object_get(x, "start_ticks")),
            .cgroup = cgroup_path[0] ? cgroup_path : NULL,
            .contain = t->keeper ? RUNNER_CONTAIN_KEEPER : RUNNER_CONTAIN_CGROUP,
            .on_exit = on_exit_cb,
            .ctx = t};
        char err[256];
        if (runner_adopt(a->runner, &ad, &t->proc, err, sizeof(err))) {
            t->proc = NULL;
            t->ended = true;
            t->end_state = "gone";
            t->code = -1;
            snprintf(t->reason, sizeof(t->reason), "gone while the agent was down: %s", err);
            limits_release(&a->limits, t->cgroup);
            t->cgroup[0] = '\0';
        } else {
            fprintf(stderr, "allot-agent: adopted %s (rank %d), pid %d\n", t->name, t->rank,
                    (int)ad.pid);
            ship_start(a, t); /* from offset 0: the controller skips what it has */
        }
    }
    json_decref(state);
    return 0;
}

/* Join the strings of a JSON array with commas into buf. */
static void join(const json_t *arr, char *buf, size_t len)
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

/* A non-negative integer field of the controller's answer; 0 when absent or negative. */
static uint64_t answer_u64(const json_t *item, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(item, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* Mark t ended before it ran, with the exit code of a shell that could not run it. */
static void task_fail(struct task *t, int code, const char *reason)
{
    t->ended = true;
    t->end_state = "exited";
    t->code = code;
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
}

/* The first --run-as rule whose pattern matches workspace, or NULL. */
static const struct run_as *run_as_for(const struct agent *a, const char *workspace)
{
    for (int i = 0; i < a->n_run_as; i++) {
        const char *p = a->run_as[i].pattern;
        size_t n = strlen(p);
        if (strcmp(p, "*") == 0 || strcmp(p, workspace) == 0 ||
            (n >= 2 && strcmp(p + n - 2, "/*") == 0 && strncmp(p, workspace, n - 1) == 0))
            return &a->run_as[i];
    }
    return NULL;
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
    const struct run_as *rule = run_as_for(a, workspace);
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
    if (fresh && state_write(a) != 0) {
        snprintf(err, len, "workspace %.64s: its uid could not be kept in the state file",
                 workspace);
        return -1;
    }
    return 0;
}

/* The system's CPUs (those this process may run on) and memory, and the --label's given
 * (KEY=VALUE each), for the report. RET a new object, or NULL after saying why. */
static json_t *node_info_new(const char *const *labels, int n_labels)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *l = json_object();
    for (int i = 0; i < n_labels; i++) {
        const char *eq = strchr(labels[i], '=');
        char key[64];
        if (!eq || eq == labels[i] || (size_t)(eq - labels[i]) >= sizeof(key) ||
            strlen(eq + 1) > 63) {
            fprintf(stderr,
                    "allot-agent: --label: expected KEY=VALUE (key 1 to 63 bytes, value up to "
                    "63), got '%.80s'\n",
                    labels[i]);
            json_decref(l);
            return NULL;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - labels[i]), labels[i]);
        json_object_set_new(l, key, json_string(eq + 1));
    }
    return json_pack("{s:I, s:I, s:o}", "cpu_millicores", (json_int_t)(cpus > 0 ? cpus : 0) * 1000,
                     "memory_bytes", (json_int_t)(pages > 0 && page > 0 ? pages : 0) * page,
                     "labels", l);
}

/* Add --run-as PATTERN=USER (or the default). RET 0, or -1 after saying why. */
static int run_as_add(struct agent *a, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    struct run_as *r = &a->run_as[a->n_run_as];
    if (!eq || eq == arg || !eq[1] || a->n_run_as >= AGENT_MAX_RUN_AS ||
        (size_t)(eq - arg) >= sizeof(r->pattern) || strlen(eq + 1) >= sizeof(r->user)) {
        fprintf(stderr,
                "allot-agent: --run-as: expected TENANT/WORKSPACE=USER, TENANT/*=USER or "
                "*=USER (at most %d), got '%.80s'\n",
                AGENT_MAX_RUN_AS, arg);
        return -1;
    }
    snprintf(r->pattern, sizeof(r->pattern), "%.*s", (int)(eq - arg), arg);
    snprintf(r->user, sizeof(r->user), "%s", eq + 1);
    struct passwd *pw = getpwnam(r->user);
    if (!pw) {
        fprintf(stderr, "allot-agent: --run-as %s: no user '%s' on this node\n", arg, r->user);
        return -1;
    }
    if (pw->pw_uid == 0)
        fprintf(stderr, "allot-agent: warning: workloads of %s run as root (--run-as)\n",
                r->pattern);
    r->uid = pw->pw_uid;
    r->gid = pw->pw_gid;
    a->n_run_as++;
    return 0;
}

/* Whether name is that of a replica's directory: "w<N>", as task_start names them. */
static bool replica_dir(const char *name)
{
    return name[0] == 'w' && name[1] && strspn(name + 1, "0123456789") == strlen(name + 1);
}

/* Whether workspace ("tenant/ws") is of tenant ("" for none: nothing is). */
static bool of_tenant(const char *workspace, const char *tenant)
{
    size_t n = strlen(tenant);
    return n && strncmp(workspace, tenant, n) == 0 && workspace[n] == '/';
}

/* Start replica `item` of the controller's answer, under its limits (docs/agent.md). */
static void task_start(struct agent *a, const json_t *item)
{
    const char *name = json_string_value(json_object_get(item, "name"));
    int rank = (int)json_integer_value(json_object_get(item, "rank"));
    struct task *t = NULL;
    for (int i = 0; i < AGENT_MAX_PROCS && !t; i++)
        if (!a->tasks[i].used)
            t = &a->tasks[i];
    if (!t || !name)
        return;
    memset(t, 0, sizeof(*t));
    t->used = true;
    t->rank = rank;
    t->attempt = (int)json_integer_value(json_object_get(item, "attempt"));
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->id, sizeof(t->id), "w%u", ++a->next_id);
    const json_t *cmd = json_object_get(item, "command");
    if (!json_is_array(cmd) || json_array_size(cmd) == 0) {
        task_fail(t, 127, "no command to run");
        return;
    }
    const char *argv[66];
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(cmd, i, v)
    {
        if (n < 64 && json_is_string(v))
            argv[n++] = json_string_value(v);
    }
    argv[n] = NULL;
    /* the environment: the workload's, then Allot's (which win) */
    static char envbuf[AGENT_MAX_ENV][1024];
    const char *env[AGENT_MAX_ENV + 1];
    int k = 0;
    const char *key;
    json_object_foreach((json_t *)json_object_get(item, "env"), key, v)
    {
        if (k < AGENT_MAX_ENV - 8 && json_is_string(v)) {
            snprintf(envbuf[k], sizeof(envbuf[k]), "%s=%s", key, json_string_value(v));
            env[k] = envbuf[k];
            k++;
        }
    }
    char uuids[900], peers[900];
    join(json_object_get(item, "gpu_uuids"), uuids, sizeof(uuids));
    join(json_object_get(item, "peers"), peers, sizeof(peers));
    snprintf(envbuf[k], sizeof(envbuf[k]), "CUDA_VISIBLE_DEVICES=%s", uuids);
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "NVIDIA_VISIBLE_DEVICES=%s", uuids);
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_WORKLOAD=%s", name);
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_WORKSPACE=%s",
             json_string_value(json_object_get(item, "workspace")));
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_RANK=%d", rank);
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_WORLD_SIZE=%d",
             (int)json_integer_value(json_object_get(item, "world_size")));
    env[k] = envbuf[k];
    k++;
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_PEERS=%s", peers);
    env[k] = envbuf[k];
    k++;
    /* how long it has to checkpoint once told to stop (seconds); the absolute deadline is
     * written to $ALLOT_PREEMPT_DEADLINE_FILE when that happens */
    snprintf(envbuf[k], sizeof(envbuf[k]), "ALLOT_PREEMPT_DEADLINE=%lld",
             (long long)(json_integer_value(json_object_get(item, "grace_ms")) / 1000));
    env[k] = envbuf[k];
    k++;
    env[k] = NULL;
    struct runner_spec spec = {
        .id = t->id, .argv = argv, .env = env, .on_exit = on_exit_cb, .ctx = t};
    char err[256], cgroup_path[LIMITS_ROOT_MAX + CGROUP_NAME_MAX + 2];
    const char *ws = json_string_value(json_object_get(item, "workspace"));
    if (a->tenant_known && !of_tenant(ws ? ws : "", a->tenant)) {
        /* fail closed: nothing of a tenant the node does not serve runs here */
        snprintf(err, sizeof(err), "workspace %.64s is not of tenant '%s', which this node serves",
                 ws ? ws : "", a->tenant);
        task_fail(t, 126, err);
        return;
    }
    if (user_for(a, ws ? ws : "", &spec.uid, &spec.gid, err, sizeof(err))) {
        task_fail(t, 126, err);
        return;
    }
    /* The cgroup is named after the node too: agents of several nodes on one host (a demo,
     * the tests) share a cgroup root, and each counts its ids from 1. */
    if (a->limits.cgroups &&
        snprintf(t->cgroup, sizeof(t->cgroup), "%s.%s", a->node, t->id) >= (int)sizeof(t->cgroup)) {
        t->cgroup[0] = '\0';
        task_fail(t, 126, "cgroup name too long: the node's name is too long");
        return;
    }
    t->storage_bytes = answer_u64(item, "storage_bytes");
    if (limits_apply(&a->limits, t->cgroup, answer_u64(item, "memory_bytes"),
                     answer_u64(item, "cpu_millicores"), &spec, cgroup_path, sizeof(cgroup_path),
                     err, sizeof(err))) {
        t->cgroup[0] = '\0';
        task_fail(t, 126, err);
        return;
    }
    t->keeper = spec.contain == RUNNER_CONTAIN_KEEPER;
    if (runner_start(a->runner, &spec, &t->proc, err, sizeof(err))) {
        limits_release(&a->limits, t->cgroup);
        t->cgroup[0] = '\0';
        task_fail(t, 126, err);
        return;
    }
    fprintf(stderr, "allot-agent: started %s (rank %d) on GPUs %s\n", name, rank, uuids);
    ship_start(a, t);
    state_save(a);
}

/* ---- the wipe (docs/agent-running.md, "Wipe") ---- */

static void report(struct agent *a, enum channel ch);

/* Bound on waiting for the old tenant's output to be shipped before the wipe goes on. */
#define AGENT_WIPE_SHIP_MS 30000
/* Bound on killing the processes of one of its users. */
#define AGENT_WIPE_KILL_MS 2000

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
        if (identity_kill_uid(&a->identity, uids[i], AGENT_WIPE_KILL_MS) != 0)
            stuck++;
    size_t dirs = 0, shared = 0;
    DIR *d = opendir(a->workdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (replica_dir(e->d_name) && runner_workdir_remove(a->runner, e->d_name) == 0)
            dirs++;
    if (d)
        closedir(d);
    char why[512] = "";
    wipe_dirs(a->wipe_dirs, uids, n, &shared, why, sizeof(why));
    identity_retire(&a->identity);
    for (int k = 0; k < AGENT_MAX_PROCS; k++)
        a->ships[k].used = false;
    snprintf(a->tenant, sizeof(a->tenant), "%s", a->wipe_for);
    a->tenant_known = true;
    a->wiping = false;
    if (state_write(a) != 0) { /* the next iteration tries again; until then, nothing runs */
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

/* Wipe once nothing of the old tenant runs and its ends are reported, and once its output is
 * shipped (or AGENT_WIPE_SHIP_MS have passed: given up, said in the log). */
static void wipe_try(struct agent *a)
{
    if (!a->wiping)
        return;
    for (int k = 0; k < AGENT_MAX_PROCS; k++)
        if (a->tasks[k].used)
            return; /* running, stopping, or its end not yet acknowledged */
    size_t unshipped = 0;
    for (int k = 0; k < AGENT_MAX_PROCS; k++)
        unshipped += a->ships[k].used;
    if (unshipped && now_ms() - a->wipe_since_ms < AGENT_WIPE_SHIP_MS)
        return;
    if (unshipped)
        fprintf(stderr,
                "allot-agent: the output of %zu replicas of the old tenant is not all shipped "
                "after %d s: given up for the wipe\n",
                unshipped, AGENT_WIPE_SHIP_MS / 1000);
    wipe_now(a);
}

/* The controller's answer names the tenant the node is to serve: another than the one it
 * serves asks for a wipe first. */
static void tenant_check(struct agent *a, const json_t *answer)
{
    const json_t *t = json_object_get(answer, "tenant");
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
        for (int k = 0; k < AGENT_MAX_PROCS; k++) {
            const struct task *x = &a->tasks[k];
            if (x->used && x->proc) {
                running = true;
                others = others || !of_tenant(x->name, want);
            }
        }
        if (running && !others) {
            snprintf(a->tenant, sizeof(a->tenant), "%s", want);
            a->tenant_known = true;
            state_save(a);
            return;
        }
    }
    if (!a->wiping || strcmp(a->wipe_for, want) != 0) {
        fprintf(stderr, "allot-agent: the node passes from %s%s to %s%s: wiping it first\n",
                a->tenant_known ? (a->tenant[0] ? "tenant " : "no tenant") : "an unknown tenant",
                a->tenant_known ? a->tenant : "", want[0] ? "tenant " : "no tenant", want);
        a->wiping = true;
        snprintf(a->wipe_for, sizeof(a->wipe_for), "%s", want);
        a->wipe_since_ms = now_ms();
    }
}

/* Make the node match the controller's answer. */
static void reconcile(struct agent *a, const json_t *answer)
{
    const json_t *items = json_object_get(answer, "workloads");
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *state = json_string_value(json_object_get(item, "state"));
        int rank = (int)json_integer_value(json_object_get(item, "rank"));
        if (!name || !state)
            continue;
        struct task *t = task_find(a, name, rank);
        if (!t && strcmp(state, "running") == 0 && !a->wiping) {
            task_start(a, item);
        } else if (t && t->proc && !t->stopping && strcmp(state, "draining") == 0) {
            int64_t grace = json_integer_value(json_object_get(item, "stop_by")) - now_ms();
            t->stopping = true;
            runner_stop(a->runner, t->proc, grace > 0 ? grace : 0, "preempted");
            state_save(a);
        }
    }
    /* running here but no longer wanted: stop it */
    for (int k = 0; k < AGENT_MAX_PROCS; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used || !t->proc || t->stopping)
            continue;
        bool wanted = false;
        json_array_foreach(items, i, item)
        {
            wanted =
                wanted || (json_integer_value(json_object_get(item, "rank")) == t->rank &&
                           strcmp(json_string_value(json_object_get(item, "name")), t->name) == 0);
        }
        if (!wanted) {
            t->stopping = true;
            runner_stop(a->runner, t->proc, 5000, "no longer wanted by the controller");
        }
    }
}

/* A request to the controller with the agent's token and body (len bytes of type), which
 * calls cb(req, ctx) with the answer. RET it, or NULL when out of memory. */
static struct evhttp_request *request_new(struct agent *a,
                                          void (*cb)(struct evhttp_request *, void *), void *ctx,
                                          const char *type, const void *body, size_t len)
{
    struct evhttp_request *req = evhttp_request_new(cb, ctx);
    if (!req)
        return NULL;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (evhttp_add_header(h, "Host", a->host) || evhttp_add_header(h, "Authorization", a->auth) ||
        evhttp_add_header(h, "Content-Type", type) ||
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len)) {
        evhttp_request_free(req);
        return NULL;
    }
    return req;
}

static void report(struct agent *a, enum channel ch);

/* The context of a report in flight. */
struct report_call {
    struct agent *agent;
    enum channel channel;
};

static void on_answer(struct evhttp_request *req, void *arg)
{
    struct report_call *rc = arg;
    struct agent *a = rc->agent;
    enum channel ch = rc->channel;
    free(rc);
    a->in_flight[ch] = false;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    json_t *answer = NULL;
    if (status == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_error_t jerr;
        answer =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, &jerr);
        if (!answer)
            fprintf(stderr, "allot-agent: bad answer: %s\n", jerr.text);
    } else {
        fprintf(stderr, "allot-agent: report failed (HTTP %d); retrying\n", status);
    }
    for (int k = 0; k < AGENT_MAX_PROCS; k++) {
        struct task *t = &a->tasks[k];
        if (answer && t->ended && (t->sent >> ch & 1))
            t->used = false; /* the controller has what ended: forget it */
        else
            t->sent &= ~(1u << ch); /* not acknowledged: report it again */
    }
    if (!answer) {
        a->failures++;
        return; /* the timer tries again */
    }
    a->reports++;
    /* Answers on the two channels may arrive out of order: one older than the last applied
     * (same epoch, lower version) could restart what has just ended. */
    int64_t epoch = json_integer_value(json_object_get(answer, "epoch"));
    uint64_t version = answer_u64(answer, "version");
    if (epoch != a->epoch || version >= a->version) {
        a->epoch = epoch;
        a->version = version;
        tenant_check(a, answer);
        wipe_try(a); /* at once when nothing of the old tenant is left */
        reconcile(a, answer);
        wipe_try(a);
    }
    json_decref(answer);
    if (ch == CHANNEL_POLL)
        report(a, CHANNEL_POLL); /* the next poll: the controller holds it until a change */
    else if (a->dirty)
        report(a, CHANNEL_PUSH);
}

/* Build and send one report on channel ch (one in flight per channel). */
static void report(struct agent *a, enum channel ch)
{
    if (a->in_flight[ch]) {
        a->dirty = a->dirty || ch == CHANNEL_PUSH;
        return;
    }
    if (ch == CHANNEL_PUSH)
        a->dirty = false;
    json_t *wls = json_array();
    for (int k = 0; k < AGENT_MAX_PROCS; k++) {
        struct task *t = &a->tasks[k];
        if (!t->used)
            continue;
        if (t->ended) {
            json_array_append_new(wls,
                                  json_pack("{s:s, s:i, s:s, s:i, s:i, s:s}", "name", t->name,
                                            "rank", t->rank, "state", t->end_state, "exit_code",
                                            t->code, "signal", t->signal, "reason", t->reason));
            t->sent |= 1u << ch; /* forgotten once the controller has answered */
        } else {
            json_array_append_new(wls, json_pack("{s:s, s:i, s:s}", "name", t->name, "rank",
                                                 t->rank, "state", "running"));
        }
    }
    json_t *inventory = gpuinfo_to_json(&a->gpus);
    if (inventory)
        json_object_update(inventory, a->node_info);
    json_t *body = json_pack("{s:o, s:o}", "inventory", inventory, "workloads", wls);
    /* the tenant served: once wiped for the one the controller named, its move completes */
    if (body && a->tenant_known)
        json_object_set_new(body, "tenant", a->tenant[0] ? json_string(a->tenant) : json_null());
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct report_call *rc = malloc(sizeof(*rc));
    struct evhttp_request *req =
        rc && text ? request_new(a, on_answer, rc, "application/json", text, strlen(text)) : NULL;
    free(text);
    if (!req) {
        free(rc);
        return;
    }
    *rc = (struct report_call){a, ch};
    char path[400];
    if (ch == CHANNEL_POLL && a->epoch)
        snprintf(path, sizeof(path), "/v1/nodes/%s/report?wait=%lld&epoch=%lld&version=%llu",
                 a->node, (long long)a->every_ms, (long long)a->epoch,
                 (unsigned long long)a->version);
    else
        snprintf(path, sizeof(path), "/v1/nodes/%s/report", a->node);
    a->in_flight[ch] = evhttp_make_request(ch == CHANNEL_POLL ? a->conn : a->push, req,
                                           EVHTTP_REQ_POST, path) == 0;
}

static void save_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    if (a->state_dirty)
        state_write(a);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    report(arg, CHANNEL_POLL);
}

static void push_cb(evutil_socket_t fd, short what, void *arg)
{
    report(arg, CHANNEL_PUSH);
}

/* ---- shipping output ---- */

static void ship_next(struct agent *a);

/* The context of a chunk in flight. */
struct ship_call {
    struct agent *agent;
    struct shipment *ship;
    int stream;
};

static void on_shipped(struct evhttp_request *req, void *arg)
{
    struct ship_call *sc = arg;
    struct agent *a = sc->agent;
    a->ship_in_flight = false;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_t *ans =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, NULL);
        /* the controller's end is the truth: past a gap it asks for the bytes from there */
        json_t *end = json_object_get(ans, "end");
        if (json_is_integer(end) && json_integer_value(end) >= 0)
            sc->ship->shipped[sc->stream] = json_integer_value(end);
        json_decref(ans);
    } else if (status == 404 || status == 400) {
        /* the controller will never take it (the workload is gone, or not ours) */
        fprintf(stderr, "allot-agent: output of %s (rank %d) refused (HTTP %d); not shipped\n",
                sc->ship->name, sc->ship->rank, status);
        sc->ship->used = false;
    } else {
        fprintf(stderr, "allot-agent: output of %s (rank %d) not shipped (HTTP %d); retrying\n",
                sc->ship->name, sc->ship->rank, status);
    }
    free(sc);
    if (status == 200)
        ship_next(a); /* more may wait: go on at once */
}

/* Send the next chunk of output that the controller lacks, if any (one at a time). Forgets
 * shipments whose process ended and whose output is all there. */
static void ship_next(struct agent *a)
{
    static const char *const files[2] = {RUNNER_STDOUT_LOG, RUNNER_STDERR_LOG};
    static const char *const streams[2] = {"stdout", "stderr"};
    static char chunk[256 * 1024];
    if (a->ship_in_flight)
        return;
    for (int i = 0; i < AGENT_MAX_PROCS; i++) {
        struct shipment *sh = &a->ships[i];
        if (!sh->used)
            continue;
        for (int k = 0; k < 2; k++) {
            char path[4300];
            snprintf(path, sizeof(path), "%s/%s", sh->dir, files[k]);
            /* the file is the workload's: no links, no FIFOs */
            int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            struct stat sb;
            if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
                sb.st_size <= sh->shipped[k]) {
                if (fd >= 0)
                    close(fd);
                continue;
            }
            ssize_t n = pread(fd, chunk, sizeof(chunk), sh->shipped[k]);
            close(fd);
            if (n <= 0)
                continue;
            char *name = evhttp_uriencode(sh->name, -1, 0);
            struct ship_call *sc = name ? malloc(sizeof(*sc)) : NULL;
            struct evhttp_request *req =
                sc ? request_new(a, on_shipped, sc, "application/octet-stream", chunk, (size_t)n)
                   : NULL;
            if (!req) {
                free(sc);
                free(name);
                return;
            }
            *sc = (struct ship_call){a, sh, k};
            char uri[1400];
            snprintf(uri, sizeof(uri),
                     "/v1/nodes/%s/logs?workload=%s&rank=%d&attempt=%d&stream=%s&offset=%lld",
                     a->node, name, sh->rank, sh->attempt, streams[k], (long long)sh->shipped[k]);
            free(name);
            a->ship_in_flight = evhttp_make_request(a->ship_conn, req, EVHTTP_REQ_POST, uri) == 0;
            return;
        }
        if (sh->ended)
            sh->used = false; /* ended and all shipped */
    }
}

static void ship_cb(evutil_socket_t fd, short what, void *arg)
{
    ship_next(arg);
    wipe_try(arg); /* a wipe that waits for output to be shipped, or for its bound */
}

/* Remove the directories of replicas that ended more than --keep-finished ago and whose
 * output is shipped: "w<N>" entries of the work directory that no task or shipment uses and
 * that nothing has changed for that long (the directory, or its logs). */
static void workdirs_sweep(struct agent *a, const char *workdir)
{
    DIR *d = opendir(workdir);
    struct dirent *e;
    int64_t now = now_ms();
    while (d && (e = readdir(d))) {
        if (!replica_dir(e->d_name))
            continue;
        bool busy = false;
        for (int k = 0; k < AGENT_MAX_PROCS && !busy; k++) {
            const struct shipment *sh = &a->ships[k];
            const char *base = sh->used ? strrchr(sh->dir, '/') : NULL;
            busy = (a->tasks[k].used && strcmp(a->tasks[k].id, e->d_name) == 0) ||
                   (base && strcmp(base + 1, e->d_name) == 0);
        }
        struct stat sb, log;
        char path[300];
        if (busy || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(sb.st_mode))
            continue;
        int64_t changed = (int64_t)sb.st_mtime * 1000;
        snprintf(path, sizeof(path), "%s/" RUNNER_STDOUT_LOG, e->d_name);
        if (fstatat(dirfd(d), path, &log, AT_SYMLINK_NOFOLLOW) == 0 &&
            (int64_t)log.st_mtime * 1000 > changed)
            changed = (int64_t)log.st_mtime * 1000;
        snprintf(path, sizeof(path), "%s/" RUNNER_STDERR_LOG, e->d_name);
        if (fstatat(dirfd(d), path, &log, AT_SYMLINK_NOFOLLOW) == 0 &&
            (int64_t)log.st_mtime * 1000 > changed)
            changed = (int64_t)log.st_mtime * 1000;
        if (now - changed >= a->keep_ms && runner_workdir_remove(a->runner, e->d_name) != 0)
            fprintf(stderr, "allot-agent: cannot remove %s/%s\n", workdir, e->d_name);
    }
    if (d)
        closedir(d);
}

/* The storage check, on its own slow timer: a replica whose directory holds more than its
 * declared storage is killed at once (a grace period would let it write on) and reported
 * "exited" with the reason. Also retries the removal of cgroups that were still busy,
 * and sweeps finished directories. */
static void storage_check(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    limits_retry(&a->limits);
    workdirs_sweep(a, a->workdir);
    for (int k = 0; k < AGENT_MAX_PROCS; k++) {
        struct task *t = &a->tasks[k];
        uint64_t used;
        if (!t->used || !t->proc || t->limit_reason[0] ||
            !limits_storage_exceeded(runner_proc_workdir(t->proc), t->storage_bytes, &used))
            continue;
        snprintf(t->limit_reason, sizeof(t->limit_reason),
                 "storage above its limit: %" PRIu64 " bytes of %" PRIu64, used, t->storage_bytes);
        fprintf(stderr, "allot-agent: %s (rank %d): %s; killing it\n", t->name, t->rank,
                t->limit_reason);
        t->stopping = true;
        runner_stop(a->runner, t->proc, 0, t->limit_reason);
        state_save(a);
    }
}

struct join_answer {
    struct event_base *base;
    int status;
    char token[256];
};

static void on_joined(struct evhttp_request *req, void *arg)
{
    struct join_answer *j = arg;
    j->status = req ? evhttp_request_get_response_code(req) : 0;
    if (j->status == 201) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        json_error_t jerr;
        json_t *ans =
            json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, &jerr);
        const char *t = json_string_value(json_object_get(ans, "token"));
        snprintf(j->token, sizeof(j->token), "%s", t ? t : "");
        json_decref(ans);
    }
    event_base_loopbreak(j->base);
}

/* The node token: kept in path from an earlier join, else traded for the one-time join
 * token at POST /v1/join and kept there (mode 0600). RET 0 with it in out, or -1. */
static int node_join(struct agent *a, const char *join_token, const char *path, char *out,
                     size_t len)
{
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(out, (int)len, f) != NULL;
        fclose(f);
        out[strcspn(out, "\r\n")] = '\0';
        if (ok && out[0])
            return 0;
    }
    struct join_answer j = {.base = a->base};
    struct evhttp_request *req = evhttp_request_new(on_joined, &j);
    json_t *b = json_pack("{s:s}", "token", join_token);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", a->host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    free(body);
    if (evhttp_make_request(a->conn, req, EVHTTP_REQ_POST, "/v1/join") == 0)
        event_base_dispatch(a->base);
    if (j.status != 201 || !j.token[0]) {
        fprintf(stderr,
                "allot-agent: join refused (HTTP %d): a join token is good once, for an hour\n",
                j.status);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        write(fd, j.token, strlen(j.token)) != (ssize_t)strlen(j.token) || fsync(fd)) {
        fprintf(stderr, "allot-agent: cannot keep the node token in %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    snprintf(out, len, "%s", j.token);
    fprintf(stderr, "allot-agent: joined as node %s; node token kept in %s\n", a->node, path);
    return 0;
}

/* Warn when the users of workloads cannot go through a directory above dir (it lacks the x of
 * others): then $HOME and $TMPDIR lead nowhere for them, though they start in their
 * directories (entered by descriptor). */
static void check_reachable(const char *dir)
{
    char path[8192], cwd[2048] = "";
    struct stat sb;
    if (dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
        return;
    snprintf(path, sizeof(path), "%s%s%s", cwd, cwd[0] ? "/" : "", dir);
    for (char *slash = path + strlen(path); slash; slash = strrchr(path, '/')) {
        *slash = '\0';
        const char *ancestor = path[0] ? path : "/";
        if (stat(ancestor, &sb) == 0 && !(sb.st_mode & S_IXOTH)) {
            fprintf(stderr,
                    "allot-agent: warning: %s is mode %03o: workloads cannot reach their "
                    "directories under %s by path ($HOME, $TMPDIR); give it o+x\n",
                    ancestor, (unsigned)(sb.st_mode & 0777), dir);
            return;
        }
        if (!path[0])
            return;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: allot-agent --node NAME --token T|--token-file F|--join-token J\n"
            "                   [--server http://H:P]\n"
            "                   [--gpus SPEC | --nvml PATH] [--work-dir DIR] [--interval D]\n"
            "                   [--cgroup-mode auto|v2|v1|none] [--cgroup-root DIR]\n"
            "                   [--cgroup-v1-root DIR] [--storage-check D] [--keep-finished D]\n"
            "                   [--uid-range START:COUNT] [--run-as TENANT/WORKSPACE=USER ...]\n"
            "                   [--label KEY=VALUE ...] [--wipe-dirs DIR:DIR...]\n"
            "       allot-agent --discover [--gpus SPEC | --nvml PATH]\n\n"
            "The Allot node agent: reports GPUs and workloads, runs what the controller places\n"
            "on this node. --gpus declares the GPUs (\"8xH100-80GB\") where NVML is absent; the\n"
            "report then says they are declared, not discovered.\n");
}

int main(int argc, char **argv)
{
    const char *join_token = NULL;
    const char *server = "http://127.0.0.1:7070", *token = NULL, *token_file = NULL, *node = NULL,
               *gpus = NULL, *nvml = NULL, *work = NULL, *interval = "1s",
               *cgroup_root = CGROUP_DEFAULT_ROOT, *storage_every = "5s", *keep = "24h",
               *cgroup_mode = "auto", *cgroup_v1_root = NULL, *uid_range = IDENTITY_DEFAULT_RANGE,
               *wipe_dirs = WIPE_DEFAULT_DIRS;
    bool discover = false;
    const char *run_as_args[AGENT_MAX_RUN_AS + 1];
    const char *labels[AGENT_MAX_LABELS];
    int n_labels = 0;
    int n_run_as_args = 0;
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--server") == 0           ? &server
                            : strcmp(argv[i], "--token") == 0          ? &token
                            : strcmp(argv[i], "--token-file") == 0     ? &token_file
                            : strcmp(argv[i], "--join-token") == 0     ? &join_token
                            : strcmp(argv[i], "--node") == 0           ? &node
                            : strcmp(argv[i], "--gpus") == 0           ? &gpus
                            : strcmp(argv[i], "--nvml") == 0           ? &nvml
                            : strcmp(argv[i], "--work-dir") == 0       ? &work
                            : strcmp(argv[i], "--interval") == 0       ? &interval
                            : strcmp(argv[i], "--cgroup-root") == 0    ? &cgroup_root
                            : strcmp(argv[i], "--cgroup-mode") == 0    ? &cgroup_mode
                            : strcmp(argv[i], "--cgroup-v1-root") == 0 ? &cgroup_v1_root
                            : strcmp(argv[i], "--uid-range") == 0      ? &uid_range
                            : strcmp(argv[i], "--storage-check") == 0  ? &storage_every
                            : strcmp(argv[i], "--keep-finished") == 0  ? &keep
                            : strcmp(argv[i], "--wipe-dirs") == 0      ? &wipe_dirs
                                                                       : NULL;
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc) {
            if (n_labels == AGENT_MAX_LABELS) {
                fprintf(stderr, "allot-agent: at most %d --label\n", AGENT_MAX_LABELS);
                return 2;
            }
            labels[n_labels++] = argv[++i];
        } else if (strcmp(argv[i], "--run-as") == 0 && i + 1 < argc) {
            run_as_args[n_run_as_args < AGENT_MAX_RUN_AS ? n_run_as_args++ : n_run_as_args] =
                argv[++i];
        } else if (strcmp(argv[i], "--discover") == 0) {
            discover = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "allot-agent: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    static struct agent a;
    char err[512];
    a.wipe_dirs = wipe_dirs;
    /* Whatever the agent writes is its own (root's) unless made otherwise, explicitly. */
    umask(077);
    for (int i = 0; i < n_run_as_args; i++)
        if (run_as_add(&a, run_as_args[i]))
            return 2;
    struct limits_config lcfg = {.v2_root = cgroup_root, .v1_root = cgroup_v1_root};
    if (limits_mode_parse(cgroup_mode, &lcfg.mode)) {
        fprintf(stderr, "allot-agent: --cgroup-mode: expected auto, v2, v1 or none, got '%.40s'\n",
                cgroup_mode);
        return 2;
    }
    if (!(a.node_info = node_info_new(labels, n_labels)))
        return 2;
    int rc = gpus ? gpuinfo_declare(gpus, &a.gpus, err, sizeof(err))
                  : gpuinfo_discover(nvml, &a.gpus, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "allot-agent: %s%s\n", err,
                gpus ? "" : " (without a driver, declare the GPUs with --gpus)");
        return 2;
    }
    if (discover) {
        json_t *j = gpuinfo_to_json(&a.gpus);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(j);
        return 0;
    }
    int64_t every_ms, storage_ms;
    if (!node || (!token && !token_file && !join_token) ||
        quantity_parse_duration(interval, &every_ms) || every_ms < 50 ||
        quantity_parse_duration(storage_every, &storage_ms) || storage_ms < 50 ||
        quantity_parse_duration(keep, &a.keep_ms)) {
        fprintf(
            stderr,
            "allot-agent: --node and --token (or --token-file or --join-token) are required, and "
            "--interval and --storage-check are durations of 50ms or more, --keep-finished a "
            "duration\n");
        return 2;
    }
    if (identity_init(&a.identity, uid_range, err, sizeof(err))) {
        fprintf(stderr, "allot-agent: %s\n", err);
        return 2;
    }
    char tokbuf[256] = "";
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        if (!f || !fgets(tokbuf, sizeof(tokbuf), f)) {
            fprintf(stderr, "allot-agent: cannot read %s: %s\n", token_file, strerror(errno));
            return 2;
        }
        fclose(f);
        tokbuf[strcspn(tokbuf, "\r\n")] = '\0';
        token = tokbuf;
    }
    if (sscanf(server, "http://%255[^:/]:%d", a.host, &a.port) != 2 || a.port < 1 ||
        a.port > 65535) {
        fprintf(stderr, "allot-agent: --server: expected http://HOST:PORT\n");
        return 2;
    }
    snprintf(a.node, sizeof(a.node), "%s", node);
    char workdir[4096];
    snprintf(workdir, sizeof(workdir), "%s", work ? work : "./allot-agent-work");
    /* 0711: a workload reaches its own directory in it, and lists nothing. */
    if ((mkdir(workdir, 0711) && errno != EEXIST) || chmod(workdir, 0711)) {
        fprintf(stderr, "allot-agent: cannot create %s: %s\n", workdir, strerror(errno));
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    a.base = event_base_new();
    a.conn = evhttp_connection_base_new(a.base, NULL, a.host, (unsigned short)a.port);
    a.push = evhttp_connection_base_new(a.base, NULL, a.host, (unsigned short)a.port);
    a.push_now = event_new(a.base, -1, 0, push_cb, &a);
    a.save_now = event_new(a.base, -1, 0, save_cb, &a);
    a.ship_conn = evhttp_connection_base_new(a.base, NULL, a.host, (unsigned short)a.port);
    a.ship_timer = event_new(a.base, -1, EV_PERSIST, ship_cb, &a);
    struct runner_options ropt = {.base_dir = workdir};
    if (!a.base || !a.conn || !a.push || !a.push_now || !a.save_now || !a.ship_conn ||
        !a.ship_timer || runner_new(a.base, &ropt, &a.runner)) {
        fprintf(stderr, "allot-agent: cannot start\n");
        return 1;
    }
    a.every_ms = every_ms > FLEET_WAIT_MAX_MS ? FLEET_WAIT_MAX_MS : every_ms;
    /* a held poll lasts up to every_ms: the timeout leaves room for it */
    evhttp_connection_set_timeout(a.conn, (int)(a.every_ms / 1000) + 10);
    evhttp_connection_set_timeout(a.push, 10);
    evhttp_connection_set_timeout(a.ship_conn, 10);
    char node_token_path[4200];
    snprintf(node_token_path, sizeof(node_token_path), "%s/node.token", workdir);
    if (!token && join_token && node_join(&a, join_token, node_token_path, tokbuf, sizeof(tokbuf)))
        return 1;
    if (!token)
        token = tokbuf;
    snprintf(a.auth, sizeof(a.auth), "Bearer %s", token);
    char note[2 * LIMITS_ROOT_MAX + 2048];
    rc = limits_init(&a.limits, &lcfg, note, sizeof(note));
    fprintf(stderr, "allot-agent: %s\n", note);
    if (rc)
        return 2;
    if (geteuid() != 0)
        fprintf(stderr,
                "allot-agent: warning: not root: every workload runs as uid %u, the "
                "agent's own, with no user of its workspace\n",
                (unsigned)geteuid());
    the_agent = &a;
    snprintf(a.state_path, sizeof(a.state_path), "%s/agent-state.json", workdir);
    snprintf(a.workdir, sizeof(a.workdir), "%s", workdir);
    if (state_load(&a))
        return 2;
    if (geteuid() == 0) {
        fprintf(stderr,
                "allot-agent: each workspace runs as its own uid of %u..%u (%zu assigned)\n",
                (unsigned)a.identity.start, (unsigned)(a.identity.start + a.identity.count - 1),
                a.identity.n);
        check_reachable(workdir);
    }
    a.timer = event_new(a.base, -1, EV_PERSIST, poll_cb, &a);
    struct timeval tv = {(time_t)(every_ms / 1000), (suseconds_t)(every_ms % 1000) * 1000};
    event_add(a.timer, &tv);
    a.storage_timer = event_new(a.base, -1, EV_PERSIST, storage_check, &a);
    struct timeval storage_tv = {(time_t)(storage_ms / 1000),
                                 (suseconds_t)(storage_ms % 1000) * 1000};
    event_add(a.storage_timer, &storage_tv);
    /* output is shipped every quarter second (and at once while there is a backlog) */
    struct timeval ship_tv = {0, 250000};
    event_add(a.ship_timer, &ship_tv);
    struct event *sigint = evsignal_new(a.base, SIGINT, on_signal, a.base);
    struct event *sigterm = evsignal_new(a.base, SIGTERM, on_signal, a.base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    fprintf(stderr, "allot-agent: node %s, %u %s GPU(s), reporting to %s every %lld ms\n", a.node,
            a.gpus.n, a.gpus.discovered ? "discovered" : "declared", server, (long long)every_ms);
    report(&a, CHANNEL_POLL);
    event_base_dispatch(a.base);
    if (a.state_dirty)
        state_write(&a);
    json_decref(a.node_info);
    event_free(a.timer);
    event_free(a.save_now);
    event_free(a.push_now);
    event_free(a.ship_timer);
    event_free(a.storage_timer);
    event_free(sigint);
    event_free(sigterm);
    runner_free(a.runner);
    identity_cleanup(&a.identity);
    evhttp_connection_free(a.conn);
    evhttp_connection_free(a.push);
    evhttp_connection_free(a.ship_conn);
    event_base_free(a.base);
    return 0;
}
