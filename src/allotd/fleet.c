/* The controller's side of node agents: their reports (applied as ops), the set of
 * workloads that should run on each node (answered at once, or held as a long poll until it
 * changes), which workloads run where, and the heartbeat check of silent agents. */
#include "allotd/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "allotd/log.h"
#include "allotd/server.h"
#include "common/error.h"
#include "common/protocol.h"
#include "sched/mig.h"

static void node_changed(struct controller *ctl, uint32_t node);

/* A report held open until its node's desired set changes or the wait ends. */
struct fleet_hold {
    struct controller *ctl;
    struct call *call;
    uint32_t node;
    struct event *timer;
};

static struct controller_node *agent_of(struct controller *ctl, uint32_t node)
{
    if (node >= ctl->cap_agents) {
        uint32_t cap = ctl->cap_agents ? ctl->cap_agents : 16;
        while (cap <= node)
            cap *= 2;
        struct controller_node *p = realloc(ctl->agents, cap * sizeof(*p));
        if (!p)
            return NULL;
        for (uint32_t i = ctl->cap_agents; i < cap; i++)
            p[i] = (struct controller_node){.last_seen_ms = controller_now(ctl)};
        ctl->agents = p;
        ctl->cap_agents = cap;
    }
    return &ctl->agents[node];
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

int fleet_report(struct controller *ctl, uint32_t node, const json_t *report, bool *changed,
                 char *field, size_t field_len, char *err, size_t len)
{
    struct sched *s = ctl->engine;
    const struct sched_node *n = &s->nodes[node];
    const json_t *inv = json_object_get(report, PROTOCOL_FIELD_INVENTORY);
    const json_t *wls = json_object_get(report, PROTOCOL_FIELD_WORKLOADS);
    const json_t *gpus = json_object_get(inv, PROTOCOL_FIELD_GPUS);
    const json_t *wiped_for =
        json_object_get(report, PROTOCOL_FIELD_TENANT); /* the tenant it serves */
    field[0] = err[0] = '\0';
    if (wiped_for && !json_is_null(wiped_for) &&
        (!json_is_string(wiped_for) || json_string_length(wiped_for) > PROTOCOL_MAX_TENANT)) {
        snprintf(field, field_len, PROTOCOL_FIELD_TENANT);
        snprintf(err, len, "expected the name of the tenant the agent serves, or null");
        return -ALLOT_EINVAL;
    }
    if (!json_is_object(report) || (inv && !json_is_object(inv)) ||
        (gpus && (!json_is_array(gpus) || json_array_size(gpus) > SCHED_MAX_GPUS_PER_NODE)) ||
        (wls && (!json_is_array(wls) || json_array_size(wls) > PROTOCOL_MAX_REPORTED))) {
        snprintf(field, field_len,
                 !json_is_object(report)        ? ""
                 : inv && !json_is_object(inv)  ? PROTOCOL_FIELD_INVENTORY
                 : gpus && !json_is_array(gpus) ? PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_GPUS
                                                : PROTOCOL_FIELD_WORKLOADS);
        snprintf(err, len, "expected {inventory: {gpus: [...]}, workloads: [...]} within bounds");
        return -ALLOT_EINVAL;
    }
    /* validate everything before applying anything */
    size_t i;
    const json_t *g, *w;
    json_array_foreach(gpus, i, g)
    {
        json_t *index = json_object_get(g, PROTOCOL_FIELD_INDEX);
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) >= (json_int_t)n->n_gpus ||
            !json_is_boolean(json_object_get(g, PROTOCOL_FIELD_HEALTHY))) {
            snprintf(field, field_len, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_GPUS "[%zu]", i);
            snprintf(err, len, "expected {index: 0..%u, healthy: true|false, ...}",
                     n->n_gpus ? n->n_gpus - 1 : 0);
            return -ALLOT_EINVAL;
        }
    }
    /* the system's CPUs and memory and the node's labels, as its agent sees them */
    const json_t *cpu = json_object_get(inv, PROTOCOL_FIELD_CPU_MILLICORES);
    const json_t *mem = json_object_get(inv, PROTOCOL_FIELD_MEMORY_BYTES);
    const json_t *labels = json_object_get(inv, PROTOCOL_FIELD_LABELS);
    const char *bad =
        (cpu && (!json_is_integer(cpu) || json_integer_value(cpu) < 0)) ? PROTOCOL_FIELD_INVENTORY
            "." PROTOCOL_FIELD_CPU_MILLICORES
        : (mem && (!json_is_integer(mem) || json_integer_value(mem) < 0)) ? PROTOCOL_FIELD_INVENTORY
            "." PROTOCOL_FIELD_MEMORY_BYTES
        : (labels && (!json_is_object(labels) || json_object_size(labels) > SCHED_MAX_LABELS))
            ? PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_LABELS
            : NULL;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)labels, key, value)
    {
        if (!bad && (strlen(key) > PROTOCOL_MAX_LABEL || !json_is_string(value) ||
                     strlen(json_string_value(value)) > PROTOCOL_MAX_LABEL))
            bad = PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_LABELS;
    }
    if (bad) {
        snprintf(field, field_len, "%s", bad);
        snprintf(err, len, "%s",
                 strcmp(bad, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_LABELS) == 0
                     ? "expected at most 32 labels, strings of 1 to 63 bytes"
                     : "expected a whole number, 0 or more");
        return -ALLOT_EINVAL;
    }
    static const char *const states[] = {PROTOCOL_STATE_RUNNING, PROTOCOL_STATE_EXITED,
                                         PROTOCOL_STATE_STOPPED, PROTOCOL_STATE_GONE};
    json_array_foreach(wls, i, w)
    {
        const char *name = json_string_value(json_object_get(w, PROTOCOL_FIELD_NAME));
        const char *state = json_string_value(json_object_get(w, PROTOCOL_FIELD_STATE));
        bool known = false;
        for (size_t k = 0; state && k < 4; k++)
            known = known || strcmp(state, states[k]) == 0;
        if (!name || strlen(name) > PROTOCOL_MAX_WORKLOAD_NAME || !known) {
            snprintf(field, field_len, PROTOCOL_FIELD_WORKLOADS "[%zu]", i);
            snprintf(err, len, "expected {name, state: running|exited|stopped|gone}");
            return -ALLOT_EINVAL;
        }
    }
    struct controller_node *a = agent_of(ctl, node);
    if (!a)
        return -ALLOT_ENOMEM;
    *changed = false;
    a->last_seen_ms = controller_now(ctl);
    if (inv) {
        /* an agent that sees less than the platform declares: said once per change */
        int64_t seen_cpu = json_integer_value(cpu), seen_mem = json_integer_value(mem);
        bool news =
            !json_equal(json_object_get(a->inventory, PROTOCOL_FIELD_CPU_MILLICORES), cpu) ||
            !json_equal(json_object_get(a->inventory, PROTOCOL_FIELD_MEMORY_BYTES), mem);
        if (news && ((cpu && seen_cpu < n->cpu) || (mem && seen_mem < n->memory)))
            log_info("node %s: its agent sees %lld millicores and %lld bytes of memory; the "
                     "platform declares %lld and %lld: work is placed by the declared capacity",
                     n->name, (long long)seen_cpu, (long long)seen_mem, (long long)n->cpu,
                     (long long)n->memory);
        json_decref(a->inventory);
        a->inventory = json_deep_copy(inv);
    }
    if (a->unreachable) {
        a->unreachable = false;
        *changed = true;
        if (n->state != SCHED_NODE_READY && n->moving_to == SCHED_NONE)
            report_op(ctl, json_pack("{s:s, s:s, s:s}", "op", "node_state", "node", n->name,
                                     "state", "ready"));
    }
    json_array_foreach(gpus, i, g)
    {
        uint32_t index = (uint32_t)json_integer_value(json_object_get(g, PROTOCOL_FIELD_INDEX));
        bool healthy = json_is_true(json_object_get(g, PROTOCOL_FIELD_HEALTHY));
        if (s->nodes[node].gpus[index].healthy != healthy && (*changed = true))
            report_op(ctl, json_pack("{s:s, s:s, s:i, s:b}", "op", "gpu_health", "node", n->name,
                                     "index", (int)index, "healthy", healthy));
    }
    json_array_foreach(wls, i, w)
    {
        const char *name = json_string_value(json_object_get(w, PROTOCOL_FIELD_NAME));
        const char *state = json_string_value(json_object_get(w, PROTOCOL_FIELD_STATE));
        uint32_t id;
        if (sched_workload_find(s, name, &id))
            id = SCHED_NONE;
        if (id == SCHED_NONE)
            continue;
        if (strcmp(state, PROTOCOL_STATE_RUNNING) ==
            0) { /* its process runs: the first word of it counts */
            struct controller_workload *x = controller_extra(ctl, id);
            bool ours = false;
            for (uint32_t k = 0; x && x->live && k < x->n_nodes; k++)
                ours = ours || x->nodes[k] == node;
            if (ours && x->confirmed_ms == 0) {
                x->confirmed_ms = controller_now(ctl);
                free(x->view); /* the cached view lacks it */
                x->view = NULL;
            }
            continue;
        }
        const struct sched_workload *x = &s->workloads[id];
        bool here = false;
        for (uint32_t r = 0; r < x->replicas && !here; r++)
            here = x->placement[r].node == node;
        if (!here || (x->state != SCHED_RUNNING && x->state != SCHED_DRAINING))
            continue; /* not ours, or already over: nothing to do */
        /* told to stop and now gone: stopped; anything else that ended: finished */
        bool stopped = x->state == SCHED_DRAINING && strcmp(state, PROTOCOL_STATE_EXITED) != 0;
        *changed = true;
        json_t *op = json_pack("{s:s, s:s, s:{s:O*, s:O*, s:O*}}", "op",
                               stopped ? "stopped" : "finish", "workload", name, "exit", "code",
                               json_object_get(w, PROTOCOL_FIELD_EXIT_CODE), "signal",
                               json_object_get(w, PROTOCOL_FIELD_SIGNAL), "reason",
                               json_object_get(w, PROTOCOL_FIELD_REASON));
        if (op &&
            json_is_integer(json_object_get(w, PROTOCOL_FIELD_RANK))) /* one replica of a gang */
            json_object_set(op, "rank", json_object_get(w, PROTOCOL_FIELD_RANK));
        report_op(ctl, op);
    }
    /* a move waits for this node's wipe: the agent says it serves the new tenant now (it
     * wipes the node before it says so: docs/agent-running.md, "Wipe") */
    uint32_t serving = sched_node_serving(s, node);
    const char *want = serving < s->n_tenants ? s->tenants[serving].name : NULL;
    if (wiped_for && serving != n->tenant &&
        (json_is_null(wiped_for) ? !want
                                 : want && strcmp(want, json_string_value(wiped_for)) == 0)) {
        *changed = true;
        log_info("node %s: its agent wiped it for %s", n->name, want ? want : "no tenant");
        report_op(ctl, json_pack("{s:s, s:s, s:s?}", "op", "node_wiped", "node", n->name, "tenant",
                                 want));
    }
    return 0;
}

/* The UUIDs the agent reported for GPU index of node (whole, or the MIG slot at start). */
static json_t *gpu_uuid(const struct controller_node *a, uint32_t index, int start)
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

json_t *fleet_desired(struct controller *ctl, uint32_t node)
{
    const struct sched *s = ctl->engine;
    const struct controller_node *a = node < ctl->cap_agents ? &ctl->agents[node] : NULL;
    json_t *items = json_array();
    for (uint32_t k = 0; k < ctl->n_live; k++) {
        uint32_t id = ctl->live[k];
        const struct controller_workload *x = &ctl->extra[id];
        bool here = false;
        for (uint32_t i = 0; i < x->n_nodes && !here; i++)
            here = x->nodes[i] == node;
        if (!here)
            continue;
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
            if (w->state == SCHED_DRAINING)
                json_object_set_new(item, PROTOCOL_FIELD_STOP_BY, json_integer(w->deadline_ms));
            json_t *cmd = json_object_get(extra, "command"), *env = json_object_get(extra, "env");
            if (cmd)
                json_object_set(item, PROTOCOL_FIELD_COMMAND, cmd);
            if (env)
                json_object_set(item, PROTOCOL_FIELD_ENV, env);
            json_array_append_new(items, item);
        }
    }
    /* the tenant the agent serves: the owner, or the one a move waits to wipe the node for */
    uint32_t serving = sched_node_serving(s, node);
    return json_pack("{s:s, s:I, s:I, s:o, s:o}", PROTOCOL_FIELD_NODE, s->nodes[node].name,
                     PROTOCOL_FIELD_EPOCH, (json_int_t)ctl->epoch, PROTOCOL_FIELD_VERSION,
                     (json_int_t)(a ? a->version : 0), PROTOCOL_FIELD_TENANT,
                     serving < s->n_tenants ? json_string(s->tenants[serving].name) : json_null(),
                     PROTOCOL_FIELD_WORKLOADS, items);
}

/* Nodes whose agents stopped reporting: drained after unreachable_ms, down (work requeued)
 * after lost_ms. Only when agents, not virtual nodes, run the work. */
static void heartbeats_check(evutil_socket_t fd, short what, void *arg)
{
    struct controller *ctl = arg;
    int64_t now = controller_now(ctl);
    int64_t unreachable = ctl->opt.unreachable_ms > 0 ? ctl->opt.unreachable_ms : 15000;
    int64_t lost = ctl->opt.lost_ms > 0 ? ctl->opt.lost_ms : 60000;
    for (uint32_t i = 0; i < ctl->engine->n_nodes; i++) {
        const struct sched_node *n = &ctl->engine->nodes[i];
        struct controller_node *a = agent_of(ctl, i);
        if (!a || n->tenant == SCHED_NONE || n->state == SCHED_NODE_DOWN)
            continue;
        int64_t silent = now - a->last_seen_ms;
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
        report_op(
            ctl, json_pack("{s:s, s:s, s:s}", "op", "node_state", "node", n->name, "state", state));
    }
}

json_t *fleet_node_json(struct controller *ctl, uint32_t node)
{
    const struct controller_node *a = node < ctl->cap_agents ? &ctl->agents[node] : NULL;
    if (!a || !a->inventory)
        return json_pack("{s:s}", "state", ctl->opt.virtual_nodes ? "simulated" : "never seen");
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
static int live_nodes(struct controller *ctl, uint32_t id, struct controller_workload *x)
{
    const struct sched_workload *w = &ctl->engine->workloads[id];
    uint32_t *nodes = realloc(x->nodes, (w->replicas ? w->replicas : 1) * sizeof(*nodes));
    if (!nodes)
        return -ALLOT_ENOMEM;
    x->nodes = nodes;
    x->n_nodes = 0;
    for (uint32_t r = 0; r < w->replicas; r++) {
        uint32_t n = w->placement[r].node, i = 0;
        while (i < x->n_nodes && x->nodes[i] != n)
            i++;
        if (i == x->n_nodes && n < ctl->engine->n_nodes)
            x->nodes[x->n_nodes++] = n;
    }
    return 0;
}

void fleet_node_changed(struct controller *ctl, uint32_t node)
{
    if (node < ctl->engine->n_nodes)
        node_changed(ctl, node);
}

/* Something about node's desired set changed: a new version, and its held report (if any)
 * is answered after the commit. */
static void node_changed(struct controller *ctl, uint32_t node)
{
    struct controller_node *a = agent_of(ctl, node);
    if (!a)
        return;
    a->version++;
    if (a->held && !a->woken) {
        uint32_t *wake = realloc(ctl->wake, (ctl->n_wake + 1) * sizeof(*wake));
        if (!wake)
            return; /* the held report is answered when its wait ends */
        ctl->wake = wake;
        ctl->wake[ctl->n_wake++] = node;
        a->woken = true;
    }
}

void fleet_track(struct controller *ctl, uint32_t id)
{
    if (id >= ctl->engine->n_workloads)
        return;
    const struct sched_workload *w = &ctl->engine->workloads[id];
    bool live = w->state == SCHED_RUNNING || w->state == SCHED_DRAINING;
    struct controller_workload *x = controller_extra(ctl, id);
    if (!x)
        return;
    if (x->live) {
        for (uint32_t i = 0; i < x->n_nodes; i++)
            node_changed(ctl, x->nodes[i]);
        if (!live) { /* out of the live set: the last one takes its place */
            uint32_t slot = x->live - 1, last = ctl->live[--ctl->n_live];
            ctl->live[slot] = last;
            ctl->extra[last].live = slot + 1;
            x->live = 0; /* its nodes stay known: its output may still be shipped */
            return;
        }
    }
    if (!live)
        return;
    if (!x->live) {
        if (ctl->n_live == ctl->cap_live) {
            uint32_t cap = ctl->cap_live ? ctl->cap_live * 2 : 256;
            uint32_t *p = realloc(ctl->live, cap * sizeof(*p));
            if (!p)
                return;
            ctl->live = p;
            ctl->cap_live = cap;
        }
        ctl->live[ctl->n_live++] = id;
        x->live = ctl->n_live;
    }
    if (live_nodes(ctl, id, x) == 0)
        for (uint32_t i = 0; i < x->n_nodes; i++)
            node_changed(ctl, x->nodes[i]);
}

/* Answer node's held report with its desired set now. */
static void hold_answer(struct controller *ctl, uint32_t node)
{
    struct controller_node *a = &ctl->agents[node];
    struct fleet_hold *h = a->held;
    a->held = NULL;
    a->woken = false;
    a->last_seen_ms = controller_now(ctl);
    gate_on_close(h->call->gate, evhttp_request_get_connection(h->call->req), NULL, NULL);
    event_free(h->timer);
    json_decref(h->call->reply);
    h->call->reply = fleet_desired(ctl, node);
    call_flush(h->call);
    free(h);
}

static void hold_expired(evutil_socket_t fd, short what, void *arg)
{
    struct fleet_hold *h = arg;
    hold_answer(h->ctl, h->node);
}

/* The agent went away while its report was held: libevent frees the request itself. */
static void hold_closed(struct evhttp_connection *conn, void *arg)
{
    struct fleet_hold *h = arg;
    struct controller_node *a = &h->ctl->agents[h->node];
    a->held = NULL;
    a->woken = false;
    event_free(h->timer);
    call_done(h->call);
    free(h);
}

void fleet_reply(struct controller *ctl, struct call *c)
{
    uint32_t node = c->desired_node;
    struct controller_node *a = agent_of(ctl, node);
    bool hold = a && c->wait_ms > 0 && c->seen_epoch == ctl->epoch && c->seen_version == a->version;
    if (hold && a->held)
        hold_answer(ctl, node); /* one held report per node: the older one is answered */
    struct fleet_hold *h = hold ? calloc(1, sizeof(*h)) : NULL;
    if (h) {
        *h = (struct fleet_hold){ctl, c, node, evtimer_new(ctl->base, hold_expired, h)};
        struct timeval tv = {(time_t)(c->wait_ms / 1000), (suseconds_t)(c->wait_ms % 1000) * 1000};
        if (h->timer && evtimer_add(h->timer, &tv) == 0) {
            a->held = h;
            gate_on_close(c->gate, evhttp_request_get_connection(c->req), hold_closed, h);
            return;
        }
        if (h->timer)
            event_free(h->timer);
        free(h);
    }
    json_decref(c->reply);
    c->reply = fleet_desired(ctl, node);
    call_flush(c);
}

void fleet_forget_workloads(struct controller *ctl)
{
    for (uint32_t i = 0; i < ctl->cap_extra; i++) {
        free(ctl->extra[i].nodes);
        ctl->extra[i].nodes = NULL;
        ctl->extra[i].n_nodes = 0;
        ctl->extra[i].live = 0;
    }
    ctl->n_live = 0;
}

void fleet_new_epoch(struct controller *ctl)
{
    int64_t now = controller_now(ctl);
    ctl->epoch = now > ctl->epoch ? now : ctl->epoch + 1;
    for (uint32_t i = 0; i < ctl->cap_agents; i++) {
        ctl->agents[i].woken = false;
        if (ctl->agents[i].held)
            hold_answer(ctl, i);
    }
    ctl->n_wake = 0;
}

void fleet_wake(struct controller *ctl)
{
    for (uint32_t i = 0; i < ctl->n_wake; i++)
        if (ctl->agents[ctl->wake[i]].held)
            hold_answer(ctl, ctl->wake[i]);
    ctl->n_wake = 0;
}

int fleet_start(struct controller *ctl, char *err, size_t len)
{
    ctl->epoch = controller_now(ctl);
    if (ctl->opt.virtual_nodes)
        return 0;
    /* agents' heartbeats are checked four times per unreachable period */
    int64_t hb = (ctl->opt.unreachable_ms > 0 ? ctl->opt.unreachable_ms : 15000) / 4;
    struct timeval tv = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    ctl->heartbeat = event_new(ctl->base, -1, EV_PERSIST, heartbeats_check, ctl);
    if (!ctl->heartbeat || event_add(ctl->heartbeat, &tv)) {
        snprintf(err, len, "cannot start the heartbeat check");
        return -ALLOT_ENOMEM;
    }
    return 0;
}

void fleet_stop(struct controller *ctl)
{
    for (uint32_t i = 0; i < ctl->cap_agents; i++) {
        struct fleet_hold *h = ctl->agents[i].held;
        if (h) {
            gate_on_close(h->call->gate, evhttp_request_get_connection(h->call->req), NULL, NULL);
            event_free(h->timer);
            call_done(h->call);
            free(h);
        }
        json_decref(ctl->agents[i].inventory);
    }
    free(ctl->agents);
    ctl->agents = NULL;
    ctl->cap_agents = 0;
    for (uint32_t i = 0; i < ctl->cap_extra; i++)
        free(ctl->extra[i].nodes);
    free(ctl->live);
    free(ctl->wake);
    if (ctl->heartbeat)
        event_free(ctl->heartbeat);
    ctl->heartbeat = NULL;
}
