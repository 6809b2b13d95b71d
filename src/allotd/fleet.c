/* The controller's side of node agents: their reports (read by src/schema/nodereport.c, applied
 * as ops), the set of workloads that should run on each node (answered at once, or held as a
 * long poll until it changes), which workloads run where, and the heartbeat check of silent
 * agents. */
#include "allotd/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "allotd/gate.h"
#include "allotd/log.h"
#include "allotd/server.h"
#include "common/array.h"
#include "common/error.h"
#include "common/imageref.h"
#include "common/protocol.h"
#include "sched/mig.h"
#include "schema/op.h"

/* What the controller knows of a node's agent (not journaled: heartbeats are volatile). */
struct fleet_node {
    int64_t last_seen_ms;    /* last report, or the daemon's start */
    bool unreachable;        /* the controller drained it for missed reports */
    json_t *inventory;       /* the last reported inventory, or NULL */
    uint64_t version;        /* of its desired set: bumped at every change */
    struct fleet_hold *held; /* its agent's report held until a change, or NULL */
    bool woken;              /* in the wake list */
    uint32_t *work;          /* the live workloads with a replica here: its desired set's */
    uint32_t n_work, cap_work;
};

/* Where a workload runs. */
struct fleet_workload {
    bool live;       /* running or draining: in its nodes' lists (fleet_node.work) */
    uint32_t *nodes; /* the distinct nodes it runs (or last ran) on */
    uint32_t n_nodes;
};

struct fleet {
    struct controller *ctl;
    struct fleet_node *agents; /* indexed like the engine's nodes */
    uint32_t cap_agents;
    struct fleet_workload *workloads; /* indexed like the engine's workloads */
    uint32_t cap_workloads;
    int64_t epoch;  /* this run's start: agents compare versions within one epoch */
    uint32_t *wake; /* nodes whose held reports are answered after the commit */
    uint32_t n_wake;
    struct fleet_stats stats;
    struct event *heartbeat; /* agents' reports checked (not with virtual nodes) */
};

static void node_changed(struct fleet *f, uint32_t node);

/* A report held open until its node's desired set changes or the wait ends. */
struct fleet_hold {
    struct fleet *fleet;
    struct call *call;
    uint32_t node;
    struct event *timer;
};

int fleet_new(struct controller *ctl, struct fleet **out)
{
    struct fleet *f = calloc(1, sizeof(*f));
    *out = f;
    if (!f)
        return -ALLOT_ENOMEM;
    f->ctl = ctl;
    return 0;
}

static struct fleet_node *agent_of(struct fleet *f, uint32_t node)
{
    if (node >= f->cap_agents) {
        uint32_t cap = f->cap_agents ? f->cap_agents : 16;
        while (cap <= node)
            cap *= 2;
        struct fleet_node *p = realloc(f->agents, cap * sizeof(*p));
        if (!p)
            return NULL;
        for (uint32_t i = f->cap_agents; i < cap; i++)
            p[i] = (struct fleet_node){.last_seen_ms = controller_now(f->ctl)};
        f->agents = p;
        f->cap_agents = cap;
    }
    return &f->agents[node];
}

/* Where workload id runs (grown on demand), or NULL when out of memory. */
static struct fleet_workload *workload_of(struct fleet *f, uint32_t id)
{
    if (ARRAY_RESERVE_ZEROED(f->workloads, f->cap_workloads, id + 1))
        return NULL;
    return &f->workloads[id];
}

bool fleet_ran_on(const struct fleet *f, uint32_t id, uint32_t node)
{
    const struct fleet_workload *x = id < f->cap_workloads ? &f->workloads[id] : NULL;
    for (uint32_t i = 0; x && i < x->n_nodes; i++)
        if (x->nodes[i] == node)
            return true;
    return false;
}

/* Apply op (taken) for a report; an op that no longer applies (the workload moved on
 * meanwhile) is not an error of the report. */
static void report_op(struct controller *ctl, json_t *op)
{
    char field[64], err[256];
    if (op)
        controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err));
    json_decref(op);
}

/* The inventory as the agent sent it, kept for the node's view and the GPUs' UUIDs of its
 * desired set; an agent that sees less than the platform declares is said once per change.
 * RET whether it differs from the one kept (the desired set may differ too). */
static bool report_inventory(struct fleet *f, uint32_t node, struct fleet_node *a,
                             const struct nodereport *rep)
{
    const struct sched_node *n = &f->ctl->engine->nodes[node];
    const json_t *cpu = rep->cpu_millicores, *mem = rep->memory_bytes;
    int64_t seen_cpu = json_integer_value(cpu), seen_mem = json_integer_value(mem);
    bool news = !json_equal(json_object_get(a->inventory, PROTOCOL_FIELD_CPU_MILLICORES), cpu) ||
                !json_equal(json_object_get(a->inventory, PROTOCOL_FIELD_MEMORY_BYTES), mem);
    if (news && ((cpu && seen_cpu < n->cpu) || (mem && seen_mem < n->memory)))
        log_info("node %s: its agent sees %lld millicores and %lld bytes of memory; the "
                 "platform declares %lld and %lld: work is placed by the declared capacity",
                 n->name, (long long)seen_cpu, (long long)seen_mem, (long long)n->cpu,
                 (long long)n->memory);
    if (!news && json_equal(a->inventory, rep->inventory))
        return false; /* resent unchanged (an agent older than delta reports): nothing to copy */
    json_decref(a->inventory);
    a->inventory = json_deep_copy(rep->inventory);
    return true;
}

/* A process of workload id runs on node: the first word of it counts (process_started). */
static void report_running(struct fleet *f, uint32_t node, uint32_t id)
{
    struct controller_workload *x = controller_extra(f->ctl, id);
    bool ours = id < f->cap_workloads && f->workloads[id].live && fleet_ran_on(f, id, node);
    if (x && ours && x->confirmed_ms == 0) {
        x->confirmed_ms = controller_now(f->ctl);
        controller_view_forget(f->ctl, id); /* the cached view lacks it */
    }
}

/* How far ahead of the controller's clock an agent's checkpoint time may be (clocks of
 * machines differ a little); it counts as now. Further ahead, it is ignored. */
#define FLEET_CHECKPOINT_SKEW_MS 5000

/* A replica of running workload id on node reports a checkpoint (its file's time): the op
 * checkpoint when it is newer than the engine's, not before the workload's start, and not in
 * the future beyond FLEET_CHECKPOINT_SKEW_MS (docs/policy.md, "Lost work"); else nothing. */
static void report_checkpoint(struct fleet *f, uint32_t node, uint32_t id,
                              const struct nodereport_workload *w)
{
    const struct sched_workload *x = &f->ctl->engine->workloads[id];
    int64_t now = controller_now(f->ctl), at = w->checkpoint_ms;
    if (at <= 0 || at > now + FLEET_CHECKPOINT_SKEW_MS || !fleet_ran_on(f, id, node) ||
        (x->state != SCHED_RUNNING && x->state != SCHED_DRAINING))
        return;
    at = at > now ? now : at;
    if (at < x->start_ms || at <= x->checkpoint_ms)
        return; /* from before this run (a file left by an earlier start), or known */
    report_op(f->ctl, json_pack("{s:s, s:s, s:I}", "op", OP_CHECKPOINT, "workload", w->name, "at",
                                (json_int_t)at));
}

/* A replica of workload id on node ended as w says: told to stop and now gone, it stopped;
 * anything else that ended finished. RET whether that changed anything. */
static bool report_ended(struct fleet *f, uint32_t node, uint32_t id,
                         const struct nodereport_workload *w)
{
    const struct sched_workload *x = &f->ctl->engine->workloads[id];
    bool here = false;
    for (uint32_t r = 0; r < x->replicas && !here; r++)
        here = x->placement[r].node == node;
    if (!here || (x->state != SCHED_RUNNING && x->state != SCHED_DRAINING))
        return false; /* not ours, or already over: nothing to do */
    bool stopped = x->state == SCHED_DRAINING && w->state != NODEREPORT_EXITED;
    json_t *op = json_pack("{s:s, s:s, s:{s:O*, s:O*, s:O*}}", "op",
                           stopped ? OP_STOPPED : OP_FINISH, "workload", w->name, "exit", "code",
                           w->exit_code, "signal", w->signal, "reason", w->reason);
    if (op && w->rank) /* one replica of a gang */
        json_object_set(op, "rank", (json_t *)w->rank);
    if (op && w->time_limit) /* stopped at its time limit: it fails so (ops.c) */
        json_object_set_new(json_object_get(op, "exit"), "time_limit", json_true());
    report_op(f->ctl, op);
    return true;
}

/* A move waits for this node's wipe: the agent says it serves the new tenant now (it wipes
 * the node before it says so: docs/agent-running.md, "Wipe"). RET whether it completed one. */
static bool report_wiped(struct fleet *f, uint32_t node, const struct nodereport *rep)
{
    const struct sched *s = f->ctl->engine;
    const struct sched_node *n = &s->nodes[node];
    uint32_t serving = sched_node_serving(s, node);
    const char *want = serving < s->n_tenants ? s->tenants[serving].name : NULL;
    if (!rep->has_tenant || serving == n->tenant ||
        !(rep->tenant ? want && strcmp(want, rep->tenant) == 0 : !want))
        return false;
    log_info("node %s: its agent wiped it for %s", n->name, want ? want : "no tenant");
    report_op(f->ctl,
              json_pack("{s:s, s:s, s:s?}", "op", OP_NODE_WIPED, "node", n->name, "tenant", want));
    return true;
}

/* Apply a report that has been read whole: nothing of it is refused any more. */
static void report_apply(struct fleet *f, uint32_t node, struct fleet_node *a,
                         const struct nodereport *rep, bool *changed)
{
    struct sched *s = f->ctl->engine;
    const struct sched_node *n = &s->nodes[node];
    a->last_seen_ms = controller_now(f->ctl);
    if (rep->inventory && report_inventory(f, node, a, rep))
        node_changed(f, node); /* another inventory: its GPUs' UUIDs in the desired set */
    if (a->unreachable) {
        a->unreachable = false;
        *changed = true;
        /* ready again, unless someone drained it by hand meanwhile (their reason names them) */
        const json_t *why = json_object_get(f->ctl->node_reasons, n->name);
        bool by_hand = json_is_string(json_object_get(why, "by"));
        if (n->state != SCHED_NODE_READY && n->moving_to == SCHED_NONE && !by_hand)
            report_op(f->ctl, json_pack("{s:s, s:s, s:s}", "op", OP_NODE_STATE, "node", n->name,
                                        "state", "ready"));
    }
    for (uint32_t i = 0; i < rep->n_gpus; i++) {
        const struct nodereport_gpu *g = &rep->gpus[i];
        if (s->nodes[node].gpus[g->index].healthy == g->healthy)
            continue;
        *changed = true;
        report_op(f->ctl, json_pack("{s:s, s:s, s:i, s:b}", "op", OP_GPU_HEALTH, "node", n->name,
                                    "index", (int)g->index, "healthy", g->healthy));
    }
    for (uint32_t i = 0; i < rep->n_workloads; i++) {
        const struct nodereport_workload *w = &rep->workloads[i];
        uint32_t id;
        if (sched_workload_find(s, w->name, &id))
            continue;
        if (w->state == NODEREPORT_RUNNING) {
            report_running(f, node, id);
            report_checkpoint(f, node, id, w);
        } else if (report_ended(f, node, id, w))
            *changed = true;
    }
    if (report_wiped(f, node, rep))
        *changed = true;
}

int fleet_report(struct fleet *f, uint32_t node, const json_t *report, bool *changed, char *field,
                 size_t field_len, char *err, size_t len)
{
    struct schema_error e;
    struct nodereport rep;
    struct arena a;
    arena_init(&a, 0);
    *changed = false;
    int rc = nodereport_from_json(report, f->ctl->engine->nodes[node].n_gpus, &a, &rep, &e);
    struct fleet_node *agent = rc ? NULL : agent_of(f, node);
    if (rc) {
        snprintf(field, field_len, "%s", e.field);
        snprintf(err, len, "%s", e.message);
    } else if (!agent) {
        rc = -ALLOT_ENOMEM;
        snprintf(field, field_len, "%s", "");
        snprintf(err, len, "out of memory");
    } else {
        field[0] = err[0] = '\0';
        f->stats.reports++;
        f->stats.inventories += rep.inventory != NULL;
        report_apply(f, node, agent, &rep, changed);
    }
    arena_cleanup(&a);
    return rc;
}

/* The UUIDs the agent reported for GPU index of node (whole, or the MIG slot at start). */
static json_t *gpu_uuid(const struct fleet_node *a, uint32_t index, int start)
{
    size_t i;
    json_t *g;
    json_array_foreach(a ? json_object_get(a->inventory, PROTOCOL_FIELD_GPUS) : NULL, i, g)
    {
        if (json_integer_value(json_object_get(g, PROTOCOL_FIELD_INDEX)) != (json_int_t)index)
            continue;
        if (start < 0)
            return json_incref(json_object_get(g, PROTOCOL_FIELD_UUID));
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(g, PROTOCOL_FIELD_MIG), k, m)
        {
            if (json_integer_value(json_object_get(m, PROTOCOL_FIELD_START)) == start)
                return json_incref(json_object_get(m, PROTOCOL_FIELD_UUID));
        }
    }
    return NULL;
}

/* The image of a replica's item as "name:tag" of the node's image store (the tag the rule of
 * common/imageref.h gives it when it was left out) and its working directory, from the spec
 * as submitted; nothing for a workload without an image. */
static void fleet_image(json_t *item, const json_t *extra)
{
    const json_t *image = json_object_get(extra, "image");
    const json_t *workdir = json_object_get(extra, "workdir");
    struct imageref ref;
    char why[160], full[IMAGEREF_MAX + IMAGEREF_TAG_MAX + 2];
    if (!json_is_string(image) ||
        imageref_parse(json_string_value(image), json_string_length(image), &ref, why, sizeof(why)))
        return; /* read by workload_from_json when it was submitted: always one */
    snprintf(full, sizeof(full), "%s:%s", ref.name, ref.tag);
    json_object_set_new(item, PROTOCOL_FIELD_IMAGE, json_string(full));
    if (json_is_string(workdir))
        json_object_set(item, PROTOCOL_FIELD_WORKDIR, (json_t *)workdir);
}

json_t *fleet_desired(struct fleet *f, uint32_t node)
{
    struct controller *ctl = f->ctl;
    const struct sched *s = ctl->engine;
    const struct fleet_node *a = node < f->cap_agents ? &f->agents[node] : NULL;
    json_t *items = json_array();
    for (uint32_t k = 0; a && k < a->n_work; k++) {
        uint32_t id = a->work[k];
        const struct controller_workload *x = &ctl->extra[id];
        const struct sched_workload *w = &s->workloads[id];
        for (uint32_t r = 0; r < w->replicas; r++) {
            const struct sched_replica *rp = &w->placement[r];
            if (rp->node != node || (x->ended && x->ended[r]))
                continue; /* elsewhere, or this replica of a gang is over */
            json_t *peers = json_array(), *indices = json_array(), *uuids = json_array();
            for (uint32_t p = 0; p < w->replicas; p++)
                json_array_append_new(peers, json_string(s->nodes[w->placement[p].node].name));
            if (rp->mig_gpu >= 0) {
                int start = s->nodes[node].gpus[rp->mig_gpu].mig[rp->mig_slot].start;
                json_array_append_new(indices, json_integer(rp->mig_gpu));
                json_t *u = gpu_uuid(a, (uint32_t)rp->mig_gpu, start);
                json_array_append_new(uuids, u ? u : json_null());
            }
            for (uint32_t g = 0; g < s->nodes[node].n_gpus; g++) {
                if (!(rp->gpu_mask >> g & 1))
                    continue;
                json_array_append_new(indices, json_integer(g));
                json_t *u = gpu_uuid(a, g, -1);
                json_array_append_new(uuids, u ? u : json_null());
            }
            const json_t *extra = x->extra;
            json_t *item = json_pack(
                "{s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o, s:o, s:I, s:I, s:I, s:I}",
                PROTOCOL_FIELD_NAME, w->name, PROTOCOL_FIELD_WORKSPACE,
                s->workspaces[w->workspace].name, PROTOCOL_FIELD_STATE, sched_state_name(w->state),
                PROTOCOL_FIELD_RANK, (int)r, PROTOCOL_FIELD_ATTEMPT, (int)x->runs,
                PROTOCOL_FIELD_WORLD_SIZE, (int)w->replicas, PROTOCOL_FIELD_PEERS, peers,
                PROTOCOL_FIELD_GPU_INDICES, indices, PROTOCOL_FIELD_GPU_UUIDS, uuids,
                PROTOCOL_FIELD_CPU_MILLICORES, (json_int_t)w->cpu, PROTOCOL_FIELD_MEMORY_BYTES,
                (json_int_t)w->memory, PROTOCOL_FIELD_STORAGE_BYTES, (json_int_t)w->storage,
                PROTOCOL_FIELD_GRACE_MS, (json_int_t)w->grace_ms);
            if (w->mig >= 0)
                json_object_set_new(item, PROTOCOL_FIELD_MIG, json_string(mig_name(w->mig)));
            if (w->time_limit_ms > 0) /* the agent stops it then (docs/policy.md) */
                json_object_set_new(item, PROTOCOL_FIELD_TIME_LIMIT_MS,
                                    json_integer(w->time_limit_ms));
            if (w->state == SCHED_DRAINING) {
                json_object_set_new(item, PROTOCOL_FIELD_STOP_BY, json_integer(w->deadline_ms));
                /* why it stops, for the agent's account of the end (cancelled, reclaim, ...) */
                json_object_set_new(item, PROTOCOL_FIELD_REASON,
                                    json_string(reason_name(w->reason)));
            }
            json_t *cmd = json_object_get(extra, "command"), *env = json_object_get(extra, "env");
            if (cmd)
                json_object_set(item, PROTOCOL_FIELD_COMMAND, cmd);
            if (env)
                json_object_set(item, PROTOCOL_FIELD_ENV, env);
            fleet_image(item, extra);
            json_array_append_new(items, item);
        }
    }
    /* the tenant the agent serves: the owner, or the one a move waits to wipe the node for */
    uint32_t serving = sched_node_serving(s, node);
    json_t *set =
        json_pack("{s:s, s:I, s:I, s:o, s:o}", PROTOCOL_FIELD_NODE, s->nodes[node].name,
                  PROTOCOL_FIELD_EPOCH, (json_int_t)f->epoch, PROTOCOL_FIELD_VERSION,
                  (json_int_t)(a ? a->version : 0), PROTOCOL_FIELD_TENANT,
                  serving < s->n_tenants ? json_string(s->tenants[serving].name) : json_null(),
                  PROTOCOL_FIELD_WORKLOADS, items);
    /* reports carry the inventory only when it changes: one is asked for when none is known
     * (a new leader, a restart) */
    if (set && !(a && a->inventory))
        json_object_set_new(set, PROTOCOL_FIELD_INVENTORY_WANTED, json_true());
    return set;
}

/* Nodes whose agents stopped reporting: drained after unreachable_ms, down (work requeued)
 * after lost_ms. Only when agents, not virtual nodes, run the work. */
static void heartbeats_check(evutil_socket_t fd, short what, void *arg)
{
    struct fleet *f = arg;
    struct controller *ctl = f->ctl;
    int64_t now = controller_now(ctl);
    int64_t unreachable = ctl->opt.unreachable_ms > 0 ? ctl->opt.unreachable_ms : 15000;
    int64_t lost = ctl->opt.lost_ms > 0 ? ctl->opt.lost_ms : 60000;
    for (uint32_t i = 0; i < ctl->engine->n_nodes; i++) {
        const struct sched_node *n = &ctl->engine->nodes[i];
        struct fleet_node *a = agent_of(f, i);
        if (!a || n->tenant == SCHED_NONE || n->state == SCHED_NODE_DOWN)
            continue;
        /* an agent whose report the controller holds is heard from: it waits on us */
        int64_t silent = a->held ? 0 : now - a->last_seen_ms;
        const char *state = NULL;
        if (silent >= lost)
            state = "down";
        else if (silent >= unreachable && n->state == SCHED_NODE_READY)
            state = "draining";
        if (!state)
            continue;
        a->unreachable = true;
        log_info("node %s: no report for %lld ms: %s", n->name, (long long)silent,
                 state[0] == 'd' && state[1] == 'o' ? "down, its workloads are requeued"
                                                    : "unreachable, draining");
        char why[64];
        snprintf(why, sizeof(why), "no report from its agent for %llds",
                 (long long)(silent / 1000));
        report_op(ctl, json_pack("{s:s, s:s, s:s, s:s}", "op", OP_NODE_STATE, "node", n->name,
                                 "state", state, "reason", why));
    }
}

json_t *fleet_node_json(struct fleet *f, uint32_t node)
{
    const struct fleet_node *a = node < f->cap_agents ? &f->agents[node] : NULL;
    if (!a || !a->inventory)
        return json_pack("{s:s}", "state", f->ctl->opt.virtual_nodes ? "simulated" : "never seen");
    const json_t *inv = a->inventory;
    json_t *o = json_pack(
        "{s:s, s:I, s:s}", "state", a->unreachable ? "unreachable" : "reporting", "last_report",
        (json_int_t)a->last_seen_ms, "gpus",
        json_is_true(json_object_get(inv, PROTOCOL_FIELD_DISCOVERED)) ? "discovered" : "declared");
    static const char *const keys[] = {PROTOCOL_FIELD_DRIVER, PROTOCOL_FIELD_CPU_MILLICORES,
                                       PROTOCOL_FIELD_MEMORY_BYTES, PROTOCOL_FIELD_LABELS};
    for (size_t i = 0; o && i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(inv, keys[i]);
        if (v && !json_is_null(v))
            json_object_set(o, keys[i], v);
    }
    return o;
}

/* Distinct nodes of workload id's placement into x->nodes. RET 0 or -ALLOT_ENOMEM. */
static int live_nodes(struct fleet *f, uint32_t id, struct fleet_workload *x)
{
    const struct sched_workload *w = &f->ctl->engine->workloads[id];
    uint32_t *nodes = realloc(x->nodes, (w->replicas ? w->replicas : 1) * sizeof(*nodes));
    if (!nodes)
        return -ALLOT_ENOMEM;
    x->nodes = nodes;
    x->n_nodes = 0;
    for (uint32_t r = 0; r < w->replicas; r++) {
        uint32_t n = w->placement[r].node, i = 0;
        while (i < x->n_nodes && x->nodes[i] != n)
            i++;
        if (i == x->n_nodes && n < f->ctl->engine->n_nodes)
            x->nodes[x->n_nodes++] = n;
    }
    return 0;
}

void fleet_node_changed(struct fleet *f, uint32_t node)
{
    if (node < f->ctl->engine->n_nodes)
        node_changed(f, node);
}

/* Something about node's desired set changed: a new version, and its held report (if any)
 * is answered after the commit. */
static void node_changed(struct fleet *f, uint32_t node)
{
    struct fleet_node *a = agent_of(f, node);
    if (!a)
        return;
    a->version++;
    if (a->held && !a->woken) {
        uint32_t *wake = realloc(f->wake, (f->n_wake + 1) * sizeof(*wake));
        if (!wake)
            return; /* the held report is answered when its wait ends */
        f->wake = wake;
        f->wake[f->n_wake++] = node;
        a->woken = true;
    }
}

/* Workload id has a replica on node, or has none any more: node's own list of them. RET 0 or
 * -ALLOT_ENOMEM (add). */
static int node_work_add(struct fleet *f, uint32_t node, uint32_t id)
{
    struct fleet_node *a = agent_of(f, node);
    if (!a)
        return -ALLOT_ENOMEM;
    if (ARRAY_GROW(a->work, a->n_work, a->cap_work))
        return -ALLOT_ENOMEM;
    a->work[a->n_work++] = id;
    return 0;
}

static void node_work_remove(struct fleet *f, uint32_t node, uint32_t id)
{
    struct fleet_node *a = node < f->cap_agents ? &f->agents[node] : NULL;
    for (uint32_t i = 0; a && i < a->n_work; i++)
        if (a->work[i] == id) {
            a->work[i] = a->work[--a->n_work];
            return;
        }
}

void fleet_track(struct fleet *f, uint32_t id)
{
    if (id >= f->ctl->engine->n_workloads)
        return;
    const struct sched_workload *w = &f->ctl->engine->workloads[id];
    bool live = w->state == SCHED_RUNNING || w->state == SCHED_DRAINING;
    struct fleet_workload *x = workload_of(f, id);
    if (!x)
        return;
    if (x->live) {
        for (uint32_t i = 0; i < x->n_nodes; i++) {
            node_changed(f, x->nodes[i]);
            node_work_remove(f, x->nodes[i], id); /* added again below while it lives */
        }
    }
    /* when it ends, its nodes stay known: its output may still be shipped */
    x->live = live && live_nodes(f, id, x) == 0;
    for (uint32_t i = 0; x->live && i < x->n_nodes; i++) {
        if (node_work_add(f, x->nodes[i], id))
            log_fatal("workload %s: out of memory: it is missing from node %s's desired set",
                      w->name, f->ctl->engine->nodes[x->nodes[i]].name);
        node_changed(f, x->nodes[i]);
    }
}

/* Answer node's held report with its desired set now. */
/* Held report h leaves its node's hold (answered or lost): the node was heard from until
 * now. Frees h's timer; the caller finishes its call and frees it. */
static void hold_end(struct fleet_hold *h)
{
    struct fleet *f = h->fleet;
    struct fleet_node *a = &f->agents[h->node];
    a->held = NULL;
    a->woken = false;
    f->stats.held--;
    a->last_seen_ms = controller_now(f->ctl);
    event_free(h->timer);
}

static void hold_answer(struct fleet *f, uint32_t node)
{
    struct fleet_hold *h = f->agents[node].held;
    hold_end(h);
    gate_on_close(h->call->gate, evhttp_request_get_connection(h->call->req), NULL, NULL);
    json_decref(h->call->reply);
    h->call->reply = fleet_desired(f, node);
    call_flush(h->call);
    free(h);
}

static void hold_expired(evutil_socket_t fd, short what, void *arg)
{
    struct fleet_hold *h = arg;
    hold_answer(h->fleet, h->node);
}

/* The agent went away while its report was held (its connection closed: gate.c sees it). */
static void hold_closed(struct evhttp_connection *conn, void *arg)
{
    struct fleet_hold *h = arg;
    hold_end(h);
    call_lost(h->call);
    free(h);
}

void fleet_reply(struct fleet *f, struct call *c)
{
    uint32_t node = c->desired_node;
    struct fleet_node *a = agent_of(f, node);
    bool hold = a && c->wait_ms > 0 && c->seen_epoch == f->epoch && c->seen_version == a->version;
    if (hold && a->held)
        hold_answer(f, node); /* one held report per node: the older one is answered */
    struct fleet_hold *h = hold ? calloc(1, sizeof(*h)) : NULL;
    if (h) {
        *h = (struct fleet_hold){f, c, node, evtimer_new(f->ctl->base, hold_expired, h)};
        struct timeval tv = {(time_t)(c->wait_ms / 1000), (suseconds_t)(c->wait_ms % 1000) * 1000};
        if (h->timer && evtimer_add(h->timer, &tv) == 0) {
            a->held = h;
            f->stats.held++;
            gate_on_close(c->gate, evhttp_request_get_connection(c->req), hold_closed, h);
            return;
        }
        if (h->timer)
            event_free(h->timer);
        free(h);
    }
    json_decref(c->reply);
    c->reply = fleet_desired(f, node);
    call_flush(c);
}

void fleet_forget_workloads(struct fleet *f)
{
    for (uint32_t i = 0; i < f->cap_workloads; i++) {
        free(f->workloads[i].nodes);
        f->workloads[i] = (struct fleet_workload){0};
    }
    for (uint32_t i = 0; i < f->cap_agents; i++)
        f->agents[i].n_work = 0;
}

void fleet_restore(struct fleet *f)
{
    const struct controller *ctl = f->ctl;
    for (uint32_t id = 0; id < ctl->engine->n_workloads; id++) {
        const struct sched_workload *w = &ctl->engine->workloads[id];
        if (!w->name)
            continue;
        if (w->state == SCHED_RUNNING || w->state == SCHED_DRAINING) {
            fleet_track(f, id);
        } else if (id < ctl->cap_extra && ctl->extra[id].runs > 0) {
            /* its last placement stays in the engine after its end */
            struct fleet_workload *x = workload_of(f, id);
            if (x)
                live_nodes(f, id, x);
        }
    }
}

void fleet_forget(struct fleet *f, uint32_t id)
{
    if (id >= f->cap_workloads || f->workloads[id].live)
        return; /* a live one is never forgotten */
    free(f->workloads[id].nodes);
    f->workloads[id] = (struct fleet_workload){0};
}

void fleet_new_epoch(struct fleet *f)
{
    int64_t now = controller_now(f->ctl);
    f->epoch = now > f->epoch ? now : f->epoch + 1;
    for (uint32_t i = 0; i < f->cap_agents; i++) {
        f->agents[i].woken = false;
        if (f->agents[i].held)
            hold_answer(f, i);
    }
    f->n_wake = 0;
}

void fleet_grace(struct fleet *f)
{
    int64_t now = controller_now(f->ctl);
    for (uint32_t i = 0; i < f->cap_agents; i++)
        f->agents[i].last_seen_ms = now;
}

void fleet_wake(struct fleet *f)
{
    for (uint32_t i = 0; i < f->n_wake; i++)
        if (f->agents[f->wake[i]].held)
            hold_answer(f, f->wake[i]);
    f->n_wake = 0;
}

int fleet_start(struct fleet *f, char *err, size_t len)
{
    const struct controller_options *opt = &f->ctl->opt;
    f->epoch = controller_now(f->ctl);
    if (opt->virtual_nodes)
        return 0;
    /* agents' heartbeats are checked four times per unreachable period */
    int64_t hb = (opt->unreachable_ms > 0 ? opt->unreachable_ms : 15000) / 4;
    struct timeval tv = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    f->heartbeat = event_new(f->ctl->base, -1, EV_PERSIST, heartbeats_check, f);
    if (!f->heartbeat || event_add(f->heartbeat, &tv)) {
        snprintf(err, len, "cannot start the heartbeat check");
        return -ALLOT_ENOMEM;
    }
    return 0;
}

void fleet_connections_check(struct controller *ctl)
{
    struct gate_stats g = {0};
    if (ctl->gate)
        gate_stats(ctl->gate, &g);
    uint64_t nodes = ctl->engine->n_nodes, need = nodes * FLEET_AGENT_CONNECTIONS;
    if (g.max && g.max < need)
        log_info("the connection cap %u is below what the platform's %llu nodes' agents may hold "
                 "(%d each: the poll, the push, the output): %llu. Past it the oldest idle "
                 "connections are closed; raise --max-connections, or the file descriptor limit "
                 "(ulimit -n, LimitNOFILE= in a systemd unit)",
                 g.max, (unsigned long long)nodes, FLEET_AGENT_CONNECTIONS,
                 (unsigned long long)need);
}

void fleet_stats(const struct fleet *f, struct fleet_stats *out)
{
    *out = f->stats;
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    fleet_forget_workloads(f); /* before the agents: it empties their lists */
    for (uint32_t i = 0; i < f->cap_agents; i++) {
        struct fleet_hold *h = f->agents[i].held;
        if (h) {
            gate_on_close(h->call->gate, evhttp_request_get_connection(h->call->req), NULL, NULL);
            event_free(h->timer);
            call_done(h->call);
            free(h);
        }
        json_decref(f->agents[i].inventory);
        free(f->agents[i].work);
    }
    free(f->agents);
    free(f->workloads);
    free(f->wake);
    if (f->heartbeat)
        event_free(f->heartbeat);
    free(f);
}
