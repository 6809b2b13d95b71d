/* The REST API of allotd (docs/api.md): one table of routes with their least role, and
 * their handlers. Objects of another tenant answer 404, exactly as if they did not exist. */
#include "allotd/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allotd/controller.h"
#include "allotd/fleet.h"
#include "allotd/metrics.h"
#include "allotd/output.h"
#include "schema/spec.h"
#include "schema/view.h"
#include "schema/workload.h"
#include "common/error.h"
#include "store/store.h"

#include <event2/buffer.h>

#define API_PAGE_DEFAULT 100
#define API_PAGE_MAX 1000

/* Apply op for call c; on success defer `status` with the op's result, else answer the
 * error. Takes op. */
static void apply_and_reply(struct controller *ctl, struct call *c, json_t *op, int status)
{
    char field[128], err[512];
    json_t *result = NULL;
    const char *kind = json_string_value(json_object_get(op, "op"));
    bool about_workload = kind && (strcmp(kind, "submit") == 0 || strcmp(kind, "cancel") == 0);
    int rc = controller_apply(ctl, op, &result, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    if (rc) {
        call_error(c, rc, 0, field, "%s", err[0] ? err : allot_strerror(rc));
        return;
    }
    /* a workload is shown as the commit's scheduling pass leaves it */
    const char *name = json_string_value(json_object_get(result, "name"));
    uint32_t id;
    if (about_workload && name && sched_workload_find(ctl->engine, name, &id) == 0)
        c->workload = id;
    call_defer(c, status, result ? result : json_object());
    controller_defer(ctl, c);
}

/* The body as an object, or answer 400 and return NULL. */
static json_t *body_object(struct call *c)
{
    if (!json_is_object(c->body)) {
        call_error(c, -ALLOT_EINVAL, 400, NULL, "a JSON object body is required");
        return NULL;
    }
    return c->body;
}

static const char *tenant_name(const struct sched *s, uint32_t t)
{
    return t < s->n_tenants ? s->tenants[t].name : NULL;
}

/* ---- health, readiness ---- */

static void get_healthz(struct controller *ctl, struct call *c)
{
    call_reply(c, 200, json_pack("{s:s}", "status", "ok"));
}

static void get_readyz(struct controller *ctl, struct call *c)
{
    if (ctl->read_only) { /* serves reads, refuses changes: not ready for traffic */
        call_reply(c, 503,
                   json_pack("{s:s, s:s}", "status", "read-only", "reason", ctl->read_only_why));
        return;
    }
    call_reply(c, 200,
               json_pack("{s:s, s:I}", "status", "ready", "workloads",
                         (json_int_t)ctl->engine->n_workloads));
}

/* ---- tenants and clusters ---- */

static void list_tenants(struct controller *ctl, struct call *c)
{
    json_t *items = json_array();
    for (uint32_t i = 0; i < ctl->engine->n_tenants; i++)
        if (auth_sees_tenant(&c->who, ctl->engine->tenants[i].name))
            json_array_append_new(items, view_tenant(ctl->engine, i));
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

static void get_tenant(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (sched_tenant_find(ctl->engine, c->args[0], &id) || !auth_sees_tenant(&c->who, c->args[0])) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no tenant '%s'", c->args[0]);
        return;
    }
    call_reply(c, 200, view_tenant(ctl->engine, id));
}

/* POST of a platform object: the body is the object's spec. */
static void post_spec(struct controller *ctl, struct call *c, const char *op_name)
{
    json_t *body = body_object(c);
    if (body)
        apply_and_reply(ctl, c, json_pack("{s:s, s:O}", "op", op_name, "spec", body), 201);
}

static void post_tenant(struct controller *ctl, struct call *c)
{
    post_spec(ctl, c, "tenant_add");
}

static void list_clusters(struct controller *ctl, struct call *c)
{
    json_t *items = json_array();
    for (uint32_t i = 0; i < ctl->engine->n_clusters; i++)
        json_array_append_new(items, view_cluster(ctl->engine, i));
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

static void post_cluster(struct controller *ctl, struct call *c)
{
    post_spec(ctl, c, "cluster_add");
}

/* ---- nodes ---- */

static bool node_visible(struct controller *ctl, struct call *c, uint32_t id)
{
    const struct sched_node *n = &ctl->engine->nodes[id];
    if (c->who.role == ROLE_ADMIN)
        return true;
    if (c->who.role == ROLE_NODE)
        return strcmp(c->who.node, n->name) == 0;
    return auth_sees_tenant(&c->who, tenant_name(ctl->engine, n->tenant));
}

/* A node's view: the platform's record, and what its agent reported (fleet.c). */
static json_t *node_json(struct controller *ctl, uint32_t id)
{
    json_t *j = view_node(ctl->engine, id);
    if (j)
        json_object_set_new(j, "agent", fleet_node_json(ctl, id));
    return j;
}

static void list_nodes(struct controller *ctl, struct call *c)
{
    json_t *items = json_array();
    for (uint32_t i = 0; i < ctl->engine->n_nodes; i++)
        if (node_visible(ctl, c, i))
            json_array_append_new(items, node_json(ctl, i));
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

static bool node_lookup(struct controller *ctl, struct call *c, uint32_t *id)
{
    if (sched_node_find(ctl->engine, c->args[0], id) || !node_visible(ctl, c, *id)) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no node '%s'", c->args[0]);
        return false;
    }
    return true;
}

static void get_node(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (node_lookup(ctl, c, &id))
        call_reply(c, 200, node_json(ctl, id));
}

static void post_node(struct controller *ctl, struct call *c)
{
    post_spec(ctl, c, "node_add");
}

static void node_state(struct controller *ctl, struct call *c, const char *state)
{
    uint32_t id;
    if (!node_lookup(ctl, c, &id))
        return;
    apply_and_reply(
        ctl, c,
        json_pack("{s:s, s:s, s:s}", "op", "node_state", "node", c->args[0], "state", state), 200);
}

static void post_node_drain(struct controller *ctl, struct call *c)
{
    node_state(ctl, c, "draining");
}

static void post_node_move(struct controller *ctl, struct call *c)
{
    uint32_t id;
    json_t *body = body_object(c);
    if (!body || !node_lookup(ctl, c, &id))
        return;
    json_t *to = json_object_get(body, "tenant");
    if (!to || json_object_size(body) != 1) {
        call_error(c, -ALLOT_EINVAL, 400, "tenant", "expected {\"tenant\": NAME or null}");
        return;
    }
    apply_and_reply(ctl, c,
                    json_pack("{s:s, s:s, s:O, s:b}", "op", "node_move", "node", c->args[0],
                              "tenant", to, "wipe", !ctl->opt.virtual_nodes),
                    202);
}

int api_query_int(const char *q, long long lo, long long hi, long long dflt, long long *out)
{
    char *end;
    errno = 0;
    long long v = q ? strtoll(q, &end, 10) : dflt;
    if (q && (!*q || *end || errno || v < lo || v > hi))
        return -ALLOT_EINVAL;
    *out = v;
    return 0;
}

/* A whole number query parameter in [lo, hi], or dflt when absent; false (answered) when
 * it is malformed or out of range. */
static bool query_int(struct call *c, const char *key, long long lo, long long hi, long long dflt,
                      long long *out)
{
    if (api_query_int(call_query(c, key), lo, hi, dflt, out)) {
        call_error(c, -ALLOT_EINVAL, 0, key, "expected a whole number from %lld to %lld", lo, hi);
        return false;
    }
    return true;
}

/* A node agent reports; the answer (after the commit) is what should run on its node. */
static void post_node_report(struct controller *ctl, struct call *c)
{
    uint32_t id;
    json_t *body = body_object(c);
    if (!body || !node_lookup(ctl, c, &id))
        return;
    if (c->who.role != ROLE_ADMIN && c->who.role != ROLE_NODE) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only the node's agent reports for it");
        return;
    }
    /* ?wait=MS&epoch=E&version=V: the agent has version V of epoch E; hold the answer up to
     * MS until that changes (a long poll, docs/api.md) */
    long long wait, epoch, version;
    if (!query_int(c, "wait", 0, FLEET_MAX_WAIT_MS, 0, &wait) ||
        !query_int(c, "epoch", 0, INT64_MAX, 0, &epoch) ||
        !query_int(c, "version", 0, INT64_MAX, 0, &version))
        return;
    char field[128], err[256];
    bool changed;
    int rc = fleet_report(ctl, id, body, &changed, field, sizeof(field), err, sizeof(err));
    if (rc) {
        call_error(c, rc, 0, field, "%s", err);
        return;
    }
    c->desired_node = id;
    c->wait_ms = changed ? 0 : wait;
    c->seen_epoch = epoch;
    c->seen_version = (uint64_t)version;
    call_defer(c, 200, json_object());
    controller_defer(ctl, c);
}

static void post_node_undrain(struct controller *ctl, struct call *c)
{
    node_state(ctl, c, "ready");
}

/* ---- workspaces ---- */

static void list_workspaces(struct controller *ctl, struct call *c)
{
    json_t *items = json_array();
    const struct sched *s = ctl->engine;
    for (uint32_t i = 0; i < s->n_workspaces; i++) {
        const char *t = tenant_name(s, s->workspaces[i].tenant);
        if (auth_allows(&c->who, ROLE_VIEWER, t, s->workspaces[i].name))
            json_array_append_new(items, view_workspace(s, i));
    }
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

/* The workspace named by the path ({tenant}/{ws}) if c may see it; else answers 404. */
static bool workspace_lookup(struct controller *ctl, struct call *c, uint32_t *id, char *name,
                             size_t len)
{
    snprintf(name, len, "%s/%s", c->args[0], c->args[1]);
    if (sched_workspace_find(ctl->engine, name, id) ||
        !auth_allows(&c->who, ROLE_VIEWER, c->args[0], name)) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no workspace '%s'", name);
        return false;
    }
    return true;
}

static void get_workspace(struct controller *ctl, struct call *c)
{
    uint32_t id;
    char name[300];
    if (workspace_lookup(ctl, c, &id, name, sizeof(name)))
        call_reply(c, 200, view_workspace(ctl->engine, id));
}

static void post_workspace(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *slash = name ? strchr(name, '/') : NULL;
    char tenant[128] = "";
    if (slash && (size_t)(slash - name) < sizeof(tenant))
        snprintf(tenant, sizeof(tenant), "%.*s", (int)(slash - name), name);
    if (!auth_sees_tenant(&c->who, tenant)) {
        call_error(c, -ALLOT_ENOENT, 404, "name", "no tenant '%s'", tenant);
        return;
    }
    if (!auth_allows(&c->who, ROLE_TENANT_ADMIN, tenant, NULL)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only a tenant admin creates workspaces");
        return;
    }
    post_spec(ctl, c, "workspace_add");
}

static void patch_workspace(struct controller *ctl, struct call *c)
{
    uint32_t id;
    char name[300];
    if (!workspace_lookup(ctl, c, &id, name, sizeof(name)))
        return;
    if (!auth_allows(&c->who, ROLE_TENANT_ADMIN, c->args[0], NULL)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only a tenant admin changes workspaces");
        return;
    }
    json_t *body = body_object(c);
    if (body)
        apply_and_reply(
            ctl, c,
            json_pack("{s:s, s:s, s:O}", "op", "workspace_update", "workspace", name, "spec", body),
            200);
}

/* ---- workloads ---- */

static bool workload_visible(struct controller *ctl, struct call *c, uint32_t id)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    if (w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE)
        return c->who.role == ROLE_ADMIN;
    return auth_allows(&c->who, ROLE_VIEWER, tenant_name(s, w->tenant),
                       s->workspaces[w->workspace].name);
}

static void post_workload(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body)
        return;
    const char *ws = json_string_value(json_object_get(body, "workspace"));
    uint32_t wsid;
    if (!ws || sched_workspace_find(ctl->engine, ws, &wsid) ||
        !auth_allows(&c->who, ROLE_VIEWER,
                     tenant_name(ctl->engine, ctl->engine->workspaces[wsid].tenant), ws)) {
        call_error(c, -ALLOT_ENOENT, 404, "workspace", "no workspace '%s'", ws ? ws : "");
        return;
    }
    if (!auth_allows(&c->who, ROLE_MEMBER,
                     tenant_name(ctl->engine, ctl->engine->workspaces[wsid].tenant), ws)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "your role may not submit to %s", ws);
        return;
    }
    const char *key = json_string_value(json_object_get(body, "idempotency_key"));
    uint32_t prior = key ? controller_idempotent(ctl, ws, key) : SCHED_NONE;
    if (prior != SCHED_NONE) {
        call_reply(c, 200, view_workload(ctl->engine, prior));
        return;
    }
    json_t *spec = json_deep_copy(body);
    if (!json_object_get(spec, "name")) {
        /* w-N with the first N that is free in the workspace */
        char name[32], full[400];
        uint32_t n = ctl->engine->n_workloads + 1, id;
        do {
            snprintf(name, sizeof(name), "w-%u", n++);
            snprintf(full, sizeof(full), "%s/%s", ws, name);
        } while (sched_workload_find(ctl->engine, full, &id) == 0);
        json_object_set_new(spec, "name", json_string(name));
    }
    apply_and_reply(ctl, c,
                    json_pack("{s:s, s:s, s:o}", "op", "submit", "user", c->who.user, "spec", spec),
                    201);
}

/* Paged list: ?workspace=&state=&limit=&after= (after: the id of the last item seen). */
static void list_workloads(struct controller *ctl, struct call *c)
{
    const struct sched *s = ctl->engine;
    const char *ws = call_query(c, "workspace");
    const char *state = call_query(c, "state");
    enum sched_state st = SCHED_PENDING;
    if (state && sched_state_parse(state, &st)) {
        call_error(c, -ALLOT_EINVAL, 400, "state", "unknown state '%s'", state);
        return;
    }
    /* after: the id of the last item seen; ids are below SCHED_NONE, so the next one is too */
    long long limit, after;
    if (!query_int(c, "limit", 1, API_PAGE_MAX, API_PAGE_DEFAULT, &limit) ||
        !query_int(c, "after", -1, (long long)SCHED_NONE - 1, -1, &after))
        return;
    /* rendered from the cached views: a list is mostly string copies */
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(b, "{\"items\":[", 10);
    long n = 0, next = -1;
    for (uint32_t i = (uint32_t)(after + 1); i < s->n_workloads; i++) {
        const struct sched_workload *w = &s->workloads[i];
        if (!workload_visible(ctl, c, i) || (state && w->state != st) ||
            (ws && strcmp(ws, s->workspaces[w->workspace].name) != 0))
            continue;
        if (n == limit) {
            next = (long)i - 1;
            break;
        }
        size_t len;
        const char *view = controller_workload_text(ctl, i, &len);
        if (!view || len < 2) {
            evbuffer_free(b);
            call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
            return;
        }
        /* {"id":N, + the view without its opening brace */
        evbuffer_add_printf(b, "%s{\"id\":%u,", n ? "," : "", i);
        evbuffer_add(b, view + 1, len - 1);
        n++;
    }
    evbuffer_add(b, "]", 1);
    if (next >= 0)
        evbuffer_add_printf(b, ",\"next\":%ld", next);
    evbuffer_add(b, "}", 1);
    call_reply_buffer(c, 200, b);
    evbuffer_free(b);
}

/* The workload of the path {tenant}/{ws}/{name} if visible; else answers 404. */
static bool workload_lookup(struct controller *ctl, struct call *c, uint32_t *id)
{
    char name[512];
    snprintf(name, sizeof(name), "%s/%s/%s", c->args[0], c->args[1], c->args[2]);
    if (sched_workload_find(ctl->engine, name, id) || !workload_visible(ctl, c, *id)) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no workload '%s'", name);
        return false;
    }
    return true;
}

static void get_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    size_t len;
    if (!workload_lookup(ctl, c, &id))
        return;
    const char *view = controller_workload_text(ctl, id, &len);
    struct evbuffer *b = view ? evbuffer_new() : NULL;
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(b, view, len);
    call_reply_buffer(c, 200, b);
    evbuffer_free(b);
}

/* A node agent ships a chunk of a workload's output (the body, application/octet-stream);
 * the answer, after the commit, says where the stream now ends. */
static void post_node_logs(struct controller *ctl, struct call *c)
{
    uint32_t node, id;
    if (!node_lookup(ctl, c, &node))
        return;
    if (c->who.role != ROLE_ADMIN && c->who.role != ROLE_NODE) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only the node's agent ships its output");
        return;
    }
    if (c->body) {
        call_error(c, -ALLOT_EINVAL, 415, NULL, "send the bytes as application/octet-stream");
        return;
    }
    const char *name = call_query(c, "workload");
    long long rank, attempt, offset;
    if (!query_int(c, "rank", 0, SCHED_MAX_REPLICAS - 1, 0, &rank) ||
        !query_int(c, "attempt", 1, INT32_MAX, 1, &attempt) ||
        !query_int(c, "offset", 0, INT64_MAX, 0, &offset))
        return;
    if (!name || sched_workload_find(ctl->engine, name, &id)) {
        call_error(c, -ALLOT_ENOENT, 404, "workload", "no workload '%s'", name ? name : "");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    struct output_key k = {id, (int)rank, (int)attempt, call_query(c, "stream")};
    char field[64], err[256];
    int64_t end;
    int rc = output_accept(ctl, node, &k, offset, evbuffer_pullup(in, -1), len, &end, field,
                           sizeof(field), err, sizeof(err));
    if (rc) {
        call_error(c, rc, 0, field, "%s", err);
        return;
    }
    call_defer(c, 200, json_pack("{s:I}", "end", (json_int_t)end));
    controller_defer(ctl, c);
}

/* A workload's output as its agents shipped it: text from ?offset= on, with where to go on
 * from and whether more may come in headers (docs/api.md). */
static void get_workload_logs(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_lookup(ctl, c, &id))
        return;
    const struct sched_workload *w = &ctl->engine->workloads[id];
    const struct controller_workload *x = id < ctl->cap_extra ? &ctl->extra[id] : NULL;
    long long runs = x ? x->runs : 0, rank, attempt, offset, limit;
    const char *stream = call_query(c, "stream") ? call_query(c, "stream") : "stdout";
    if (!query_int(c, "rank", 0, w->replicas ? w->replicas - 1 : 0, 0, &rank) ||
        !query_int(c, "attempt", 1, runs > 0 ? runs : 1, runs > 0 ? runs : 1, &attempt) ||
        !query_int(c, "offset", 0, INT64_MAX, 0, &offset) ||
        !query_int(c, "limit", 1, 1 << 20, 64 * 1024, &limit))
        return;
    if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) {
        call_error(c, -ALLOT_EINVAL, 0, "stream", "expected stdout or stderr");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    size_t got = 0;
    struct output_key k = {id, (int)rank, (int)attempt, stream};
    int rc = b ? output_read(ctl, &k, offset, (size_t)limit, b, &got) : -ALLOT_ENOMEM;
    if (rc) {
        evbuffer_free(b);
        call_error(c, rc, 0, NULL, "cannot read the output");
        return;
    }
    /* more may come while this attempt runs or drains (its agent ships every ~250 ms) */
    bool live = attempt == runs && (w->state == SCHED_RUNNING || w->state == SCHED_DRAINING);
    char next[32], at[32];
    snprintf(next, sizeof(next), "%lld", offset + (long long)got);
    snprintf(at, sizeof(at), "%lld", attempt);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "X-Allot-Next-Offset", next);
    evhttp_add_header(h, "X-Allot-Attempt", at);
    evhttp_add_header(h, "X-Allot-Running", live ? "true" : "false");
    call_send(c, 200, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

static void why_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_lookup(ctl, c, &id))
        return;
    const struct sched_workload *w = &ctl->engine->workloads[id];
    json_t *r = json_pack("{s:s, s:s}", "workload", w->name, "state", sched_state_name(w->state));
    if (w->state == SCHED_PENDING || w->state == SCHED_RECLAIMING || w->state == SCHED_REJECTED) {
        json_object_set_new(r, "reason", json_string(reason_name(w->reason)));
        json_object_set_new(r, "explanation", json_string(reason_text(w->reason)));
    }
    call_reply(c, 200, r);
}

static void cancel_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_lookup(ctl, c, &id))
        return;
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    bool own = id < ctl->cap_extra && ctl->extra[id].owner &&
               strcmp(ctl->extra[id].owner, c->who.user) == 0;
    enum role need = own ? ROLE_MEMBER : ROLE_WORKSPACE_ADMIN;
    if (!auth_allows(&c->who, need, tenant_name(s, w->tenant), s->workspaces[w->workspace].name)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL,
                   own ? "your role may not cancel workloads"
                       : "only a workspace admin cancels others' workloads");
        return;
    }
    apply_and_reply(ctl, c, json_pack("{s:s, s:s}", "op", "cancel", "workload", w->name), 200);
}

/* ---- users and tokens ---- */

/* Whether the body's keys are all in keys (NULL-terminated), none null unless nullable
 * lists it (reader_check_fields), and every other value is of the JSON type strings gives for
 * its key (NULL: every one a string); else answers 400 naming the field. */
static bool body_fields(struct call *c, const json_t *body, const char *const *keys,
                        const char *const *nullable, const json_type *types)
{
    struct schema_error err;
    if (reader_check_fields(body, keys, nullable, &err)) {
        call_error(c, err.code, 400, err.field, "%s", err.message);
        return false;
    }
    for (size_t i = 0; keys[i]; i++) {
        const json_t *v = json_object_get(body, keys[i]);
        json_type want = types ? types[i] : JSON_STRING;
        bool boolean = want == JSON_TRUE || want == JSON_FALSE;
        if (v && !json_is_null(v) && (boolean ? !json_is_boolean(v) : json_typeof(v) != want)) {
            call_error(c, -ALLOT_EINVAL, 400, keys[i], "expected a %s",
                       boolean ? "boolean" : "string");
            return false;
        }
    }
    return true;
}

/* A user as stored: role, tenant ("" for a platform admin) and workspace ("" when the role
 * covers the whole tenant). */
struct user_row {
    enum role role;
    char role_name[32];
    char tenant[64];
    char workspace[128];
};

/* Read user name. RET 0, or -ALLOT_ENOENT (also for a row whose role is unknown). */
static int user_read(struct controller *ctl, const char *name, struct user_row *u)
{
    struct store_user row;
    memset(u, 0, sizeof(*u));
    if (store_find_user(ctl->store, name, &row, u->tenant, sizeof(u->tenant), u->role_name,
                        sizeof(u->role_name), u->workspace, sizeof(u->workspace)) ||
        auth_role_parse(u->role_name, &u->role))
        return -ALLOT_ENOENT;
    return 0;
}

/* May the caller manage (change, delete, make tokens for) a user with this role and tenant?
 * The platform admin may; a tenant admin only for users of its own tenant below its role. */
static bool may_manage(const struct call *c, enum role role, const char *tenant)
{
    return c->who.role == ROLE_ADMIN ||
           (role < ROLE_TENANT_ADMIN && auth_allows(&c->who, ROLE_TENANT_ADMIN, tenant, NULL));
}

/* Check a user as it will be: role a person's role, tenant an existing one the caller sees
 * (none for a platform admin), workspace (may be NULL) one of that tenant, and the caller
 * allowed to grant it. Answers and RET false when not. */
static bool user_target_ok(struct controller *ctl, struct call *c, const char *role_s,
                           enum role role, const char *tenant, const char *workspace)
{
    uint32_t dummy;
    if (role == ROLE_NONE || role == ROLE_NODE) {
        call_error(c, -ALLOT_EINVAL, 400, "role",
                   "expected admin, tenant-admin, workspace-admin, member or viewer");
        return false;
    }
    if (role != ROLE_ADMIN &&
        (!tenant || !*tenant || sched_tenant_find(ctl->engine, tenant, &dummy) ||
         !auth_sees_tenant(&c->who, tenant))) {
        call_error(c, -ALLOT_ENOENT, tenant && *tenant ? 404 : 400, "tenant", "no tenant '%s'",
                   tenant ? tenant : "");
        return false;
    }
    if (!may_manage(c, role, tenant)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, "role", "you may not give a user the role %s%s%s",
                   role_s, tenant ? " in " : "", tenant ? tenant : "");
        return false;
    }
    if (role == ROLE_ADMIN && workspace && *workspace) {
        call_error(c, -ALLOT_EINVAL, 400, "workspace", "a platform admin has no workspace");
        return false;
    }
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (role != ROLE_ADMIN && workspace && *workspace &&
        (sched_workspace_find(ctl->engine, workspace, &dummy) ||
         strncmp(workspace, tenant, tlen) != 0 || workspace[tlen] != '/')) {
        call_error(c, -ALLOT_ENOENT, 404, "workspace", "no workspace '%s' in tenant %s", workspace,
                   tenant ? tenant : "");
        return false;
    }
    return true;
}

/* The store's row of a user: its spec holds the workspace. OUT u (spec_json allocated: free
 * it). */
static void user_row_fill(struct store_user *u, const char *name, const char *role_s,
                          enum role role, const char *tenant, const char *workspace)
{
    json_t *spec = json_pack("{s:s?}", "workspace", workspace && *workspace ? workspace : NULL);
    *u = (struct store_user){.name = name,
                             .tenant = role == ROLE_ADMIN || !tenant || !*tenant ? NULL : tenant,
                             .role = role_s,
                             .spec_json = spec ? json_dumps(spec, JSON_COMPACT) : NULL};
    json_decref(spec);
}

static json_t *user_json(const char *name, const char *role_s, enum role role, const char *tenant,
                         const char *workspace)
{
    return json_pack("{s:s, s:s, s:s?, s:s?}", "name", name, "role", role_s, "tenant",
                     role == ROLE_ADMIN || !tenant || !*tenant ? NULL : tenant, "workspace",
                     workspace && *workspace ? workspace : NULL);
}

/* The fields of a user; tenant and workspace may be null (none). */
static const char *const user_keys[] = {"name", "role", "tenant", "workspace", NULL};

/* POST /v1/users: a new user; a name that exists is 409, whoever asks (an insert never
 * overwrites: docs/api.md). */
static void post_user(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body || !body_fields(c, body, user_keys, user_keys + 2, NULL))
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *role_s = json_string_value(json_object_get(body, "role"));
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    const char *workspace = json_string_value(json_object_get(body, "workspace"));
    enum role role = ROLE_NONE;
    if (!name || !reader_is_name(name, strlen(name))) {
        call_error(c, -ALLOT_EINVAL, 400, "name", "a user name is 1 to 63 of a-z 0-9 . _ -");
        return;
    }
    if (!role_s)
        role_s = "";
    auth_role_parse(role_s, &role);
    if (!user_target_ok(ctl, c, role_s, role, tenant, workspace))
        return;
    struct store_user u;
    user_row_fill(&u, name, role_s, role, tenant, workspace);
    int rc = u.spec_json ? store_add_user(ctl->store, &u) : -ALLOT_ENOMEM;
    free((char *)u.spec_json);
    if (rc == -ALLOT_EEXIST) {
        call_error(c, rc, 409, "name", "user '%s' exists", name);
        return;
    }
    if (rc) {
        call_error(c, rc, 0, "name", "cannot store the user: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 201, user_json(name, role_s, role, tenant, workspace));
}

/* The user of the path as the caller may see it: answers 404 (another tenant's, or none) or
 * 403 (one the caller may not manage) and RET false. */
static bool user_lookup(struct controller *ctl, struct call *c, struct user_row *u)
{
    if (user_read(ctl, c->args[0], u) ||
        (c->who.role != ROLE_ADMIN && strcmp(u->tenant, c->who.tenant) != 0)) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no user '%s'", c->args[0]);
        return false;
    }
    if (!may_manage(c, u->role, u->tenant)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL,
                   "user '%s' is a %s: only the platform admin manages it", c->args[0],
                   u->role_name);
        return false;
    }
    return true;
}

struct admin_count {
    int admins;
};

static int admin_counted(void *arg, const struct store_user *u)
{
    struct admin_count *n = arg;
    n->admins += strcmp(u->role, "admin") == 0;
    return 0;
}

/* Whether user u (an admin) is the platform's last: the platform must keep one. */
static bool last_admin(struct controller *ctl, const struct user_row *u)
{
    struct admin_count n = {0};
    struct store_visitor v = {.user = admin_counted};
    return u->role == ROLE_ADMIN && (store_load(ctl->store, &v, &n) || n.admins <= 1);
}

/* PATCH /v1/users/{name}: change a user's role, workspace or (platform admin only) tenant.
 * Checked against the user as it is and as it will be; a user moved to another tenant loses
 * its tokens. */
static void patch_user(struct controller *ctl, struct call *c)
{
    static const char *const keys[] = {"role", "tenant", "workspace", NULL};
    static const char *const nullable[] = {"tenant", "workspace", NULL};
    struct user_row cur;
    json_t *body = body_object(c);
    if (!body || !body_fields(c, body, keys, nullable, NULL) || !user_lookup(ctl, c, &cur))
        return;
    const json_t *jr = json_object_get(body, "role"), *jt = json_object_get(body, "tenant"),
                 *jw = json_object_get(body, "workspace");
    const char *role_s = jr ? json_string_value(jr) : cur.role_name;
    const char *tenant = jt ? json_string_value(jt) : cur.tenant;
    /* a user stays in its workspace unless told otherwise, or unless it changes tenant */
    const char *workspace = jw ? json_string_value(jw) : jt ? NULL : cur.workspace;
    enum role role = ROLE_NONE;
    auth_role_parse(role_s, &role);
    bool moved = strcmp(tenant ? tenant : "", cur.tenant) != 0 && role != ROLE_ADMIN;
    if (moved && c->who.role != ROLE_ADMIN) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, "tenant",
                   "only the platform admin moves a user to another tenant");
        return;
    }
    if (!user_target_ok(ctl, c, role_s, role, tenant, workspace))
        return;
    if (role != ROLE_ADMIN && last_admin(ctl, &cur)) {
        call_error(c, -ALLOT_ESTATE, 409, "role",
                   "'%s' is the last platform admin; make another admin first", c->args[0]);
        return;
    }
    struct store_user u;
    user_row_fill(&u, c->args[0], role_s, role, tenant, workspace);
    int rc = u.spec_json ? store_batch_begin(ctl->store) : -ALLOT_ENOMEM;
    rc = rc ? rc : store_update_user(ctl->store, &u);
    if (!rc && (moved || (role == ROLE_ADMIN) != (cur.role == ROLE_ADMIN)))
        rc = store_delete_user_tokens(ctl->store, c->args[0], NULL);
    rc = rc ? rc : store_batch_commit(ctl->store);
    if (rc && store_in_batch(ctl->store))
        store_batch_rollback(ctl->store);
    free((char *)u.spec_json);
    controller_auth_changed(ctl);
    if (rc) {
        call_error(c, rc, 0, NULL, "cannot change the user: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 200, user_json(c->args[0], role_s, role, tenant, workspace));
}

/* DELETE /v1/users/{name}: the user and its tokens. */
static void delete_user(struct controller *ctl, struct call *c)
{
    struct user_row cur;
    if (!user_lookup(ctl, c, &cur))
        return;
    if (last_admin(ctl, &cur)) {
        call_error(c, -ALLOT_ESTATE, 409, NULL,
                   "'%s' is the last platform admin; make another admin first", c->args[0]);
        return;
    }
    int rc = store_delete_user(ctl->store, c->args[0]);
    controller_auth_changed(ctl);
    if (rc) {
        call_error(c, rc, 0, NULL, "cannot delete the user: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 200, json_pack("{s:s}", "deleted", c->args[0]));
}

struct user_list {
    struct call *c;
    json_t *items;
};

static int user_listed(void *arg, const struct store_user *u)
{
    struct user_list *l = arg;
    if (l->c->who.role != ROLE_ADMIN && (!u->tenant || strcmp(u->tenant, l->c->who.tenant) != 0))
        return 0;
    json_error_t jerr;
    json_t *spec = u->spec_json ? json_loads(u->spec_json, 0, &jerr) : NULL;
    json_t *ws = json_object_get(spec, "workspace");
    json_array_append_new(
        l->items, json_pack("{s:s, s:s, s:o, s:o}", "name", u->name, "role", u->role, "tenant",
                            u->tenant ? json_string(u->tenant) : json_null(), "workspace",
                            json_is_string(ws) ? json_incref(ws) : json_null()));
    json_decref(spec);
    return 0;
}

static void list_users(struct controller *ctl, struct call *c)
{
    struct user_list l = {c, json_array()};
    struct store_visitor v = {.user = user_listed};
    int rc = store_load(ctl->store, &v, &l);
    if (rc) {
        json_decref(l.items);
        call_error(c, rc, 0, NULL, "cannot read the users: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 200, json_pack("{s:o}", "items", l.items));
}

/* Whether the caller may make or revoke tokens of user: its own, or as may_manage allows.
 * Answers 404 (no such user, or another tenant's) or 403 and RET false when not. */
static bool token_user_ok(struct controller *ctl, struct call *c, const char *user)
{
    struct user_row u;
    bool self = c->who.user[0] && strcmp(user, c->who.user) == 0;
    if (user_read(ctl, user, &u) ||
        (!self && c->who.role != ROLE_ADMIN && strcmp(u.tenant, c->who.tenant) != 0)) {
        call_error(c, -ALLOT_ENOENT, 404, "user", "no user '%s'", user);
        return false;
    }
    if (!self && !may_manage(c, u.role, u.tenant)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, "user",
                   "only the platform admin makes or revokes tokens of %s '%s'", u.role_name, user);
        return false;
    }
    return true;
}

static void post_token(struct controller *ctl, struct call *c)
{
    static const char *const keys[] = {"user", "node", "join", NULL};
    static const json_type types[] = {JSON_STRING, JSON_STRING, JSON_TRUE};
    json_t *body = body_object(c);
    if (!body || !body_fields(c, body, keys, NULL, types))
        return;
    const char *user = json_string_value(json_object_get(body, "user"));
    const char *node = json_string_value(json_object_get(body, "node"));
    uint32_t dummy;
    if (user && node) {
        call_error(c, -ALLOT_EINVAL, 400, "node", "a token is for a user or for a node, not both");
        return;
    }
    if (node) {
        if (c->who.role != ROLE_ADMIN || sched_node_find(ctl->engine, node, &dummy)) {
            call_error(c, -ALLOT_ENOENT, 404, "node", "no node '%s'", node);
            return;
        }
    } else if (!user) {
        call_error(c, -ALLOT_EINVAL, 400, "user", "name the user (or the node) of the token");
        return;
    } else if (!token_user_ok(ctl, c, user)) {
        return;
    }
    /* {"node": N, "join": true}: a one-time join token, exchanged by the agent for its node
     * token at POST /v1/join within the hour */
    bool join = json_is_true(json_object_get(body, "join"));
    if (join && !node) {
        call_error(c, -ALLOT_EINVAL, 400, "join", "a join token is for a node: give \"node\"");
        return;
    }
    char token[AUTH_TOKEN_LEN + 1];
    struct store_token row;
    int rc =
        controller_token_new(ctl,
                             join   ? AUTH_JOIN_USER
                             : node ? ""
                                    : user,
                             node, join ? controller_now(ctl) + AUTH_JOIN_TTL_MS : 0, token, &row);
    rc = rc ? rc : store_add_token(ctl->store, &row);
    if (rc) {
        call_error(c, rc, 0, NULL, "cannot create the token: %s", allot_strerror(rc));
        return;
    }
    /* the only time the token is shown */
    call_reply(c, 201, json_pack("{s:s, s:s}", "id", row.id, "token", token));
}

/* POST /v1/join {"token": JOIN}: a node agent trades its one-time join token for its node
 * token (no other authentication: the join token is the proof). */
static void post_join(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body)
        return;
    const char *join = json_string_value(json_object_get(body, "token"));
    char id[AUTH_ID_LEN + 1], token[AUTH_TOKEN_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    struct store_token row, fresh;
    if (!join || auth_token_parse(join, id, hash) || store_find_token(ctl->store, id, &row) ||
        !auth_hash_equal(hash, row.hash) || strcmp(row.user, AUTH_JOIN_USER) != 0 ||
        (row.expires_ms && row.expires_ms < controller_now(ctl))) {
        call_error(c, -ALLOT_EUNAUTHORIZED, 401, "token", "not a valid join token");
        return;
    }
    int rc = controller_token_new(ctl, "", row.node, 0, token, &fresh);
    rc = rc ? rc : store_batch_begin(ctl->store);
    rc = rc ? rc : store_delete_token(ctl->store, id); /* used once */
    rc = rc ? rc : store_add_token(ctl->store, &fresh);
    rc = rc ? rc : store_batch_commit(ctl->store);
    if (rc) {
        store_batch_rollback(ctl->store);
        call_error(c, rc, 0, NULL, "cannot create the node token: %s", allot_strerror(rc));
        return;
    }
    controller_auth_changed(ctl);
    call_reply(c, 201,
               json_pack("{s:s, s:s, s:s}", "node", row.node, "id", fresh.id, "token", token));
}

static void delete_token(struct controller *ctl, struct call *c)
{
    struct store_token row;
    if (store_find_token(ctl->store, c->args[0], &row) ||
        (c->who.role != ROLE_ADMIN && !row.user[0])) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no token '%s'", c->args[0]);
        return;
    }
    bool own = c->who.user[0] && strcmp(row.user, c->who.user) == 0;
    if (!own && c->who.role != ROLE_ADMIN && !token_user_ok(ctl, c, row.user))
        return;
    int rc = store_delete_token(ctl->store, c->args[0]);
    controller_auth_changed(ctl);
    if (rc) {
        call_error(c, rc, 0, NULL, "cannot delete the token: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 200, json_pack("{s:s}", "deleted", c->args[0]));
}

/* docs/openapi.yaml, embedded at build time (CMakeLists.txt). */
extern const unsigned char openapi_text[];
extern const size_t openapi_len;

static void get_openapi(struct controller *ctl, struct call *c)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(b, openapi_text, openapi_len);
    call_send(c, 200, "application/yaml", b);
    evbuffer_free(b);
}

static void get_events(struct controller *ctl, struct call *c)
{
    if (c->head) /* the headers of a stream, and no stream */
        call_send(c, 200, "text/event-stream", NULL);
    else
        stream_subscribe(ctl->streams, c);
}

static void get_metrics(struct controller *ctl, struct call *c)
{
    metrics_reply(ctl, c);
}

const struct route api_routes[] = {
    {EVHTTP_REQ_GET, "/healthz", ROLE_NONE, get_healthz, "liveness"},
    {EVHTTP_REQ_GET, "/readyz", ROLE_NONE, get_readyz, "readiness: state loaded"},
    {EVHTTP_REQ_GET, "/metrics", ROLE_VIEWER, get_metrics, "Prometheus metrics"},
    {EVHTTP_REQ_GET, "/v1/openapi.yaml", ROLE_NONE, get_openapi, "this API as OpenAPI 3"},
    {EVHTTP_REQ_GET, "/v1/tenants", ROLE_VIEWER, list_tenants, "list tenants"},
    {EVHTTP_REQ_POST, "/v1/tenants", ROLE_ADMIN, post_tenant, "create a tenant"},
    {EVHTTP_REQ_GET, "/v1/tenants/{tenant}", ROLE_VIEWER, get_tenant, "get a tenant"},
    {EVHTTP_REQ_GET, "/v1/clusters", ROLE_ADMIN, list_clusters, "list clusters"},
    {EVHTTP_REQ_POST, "/v1/clusters", ROLE_ADMIN, post_cluster, "create a cluster"},
    {EVHTTP_REQ_GET, "/v1/nodes", ROLE_NODE, list_nodes, "list nodes"},
    {EVHTTP_REQ_POST, "/v1/nodes", ROLE_ADMIN, post_node, "add a node"},
    {EVHTTP_REQ_GET, "/v1/nodes/{node}", ROLE_NODE, get_node, "get a node"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/drain", ROLE_ADMIN, post_node_drain, "drain a node"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/undrain", ROLE_ADMIN, post_node_undrain,
     "make a node ready"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/report", ROLE_NODE, post_node_report,
     "a node agent's report (inventory, health, workloads); answers what should run there"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/logs", ROLE_NODE, post_node_logs,
     "a node agent ships a chunk of a workload's output (application/octet-stream)"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/move", ROLE_ADMIN, post_node_move,
     "give a node to another tenant: it drains first"},
    {EVHTTP_REQ_GET, "/v1/workspaces", ROLE_VIEWER, list_workspaces, "list workspaces"},
    {EVHTTP_REQ_POST, "/v1/workspaces", ROLE_TENANT_ADMIN, post_workspace, "create a workspace"},
    {EVHTTP_REQ_GET, "/v1/workspaces/{tenant}/{ws}", ROLE_VIEWER, get_workspace,
     "get a workspace with its usage"},
    {EVHTTP_REQ_PATCH, "/v1/workspaces/{tenant}/{ws}", ROLE_TENANT_ADMIN, patch_workspace,
     "change limits, reservation, lend, weight"},
    {EVHTTP_REQ_POST, "/v1/workloads", ROLE_MEMBER, post_workload, "submit a workload"},
    {EVHTTP_REQ_GET, "/v1/workloads", ROLE_VIEWER, list_workloads,
     "list workloads (?workspace=&state=&limit=&after=)"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}", ROLE_VIEWER, get_workload,
     "get a workload"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}/logs", ROLE_VIEWER, get_workload_logs,
     "a workload's output (?rank=&attempt=&stream=stdout|stderr&offset=&limit=)"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}/why", ROLE_VIEWER, why_workload,
     "why a workload waits"},
    {EVHTTP_REQ_DELETE, "/v1/workloads/{tenant}/{ws}/{name}", ROLE_MEMBER, cancel_workload,
     "cancel a workload"},
    {EVHTTP_REQ_GET, "/v1/events", ROLE_VIEWER, get_events,
     "Server-Sent Events of what the caller may see (resumes after Last-Event-ID)"},
    {EVHTTP_REQ_GET, "/v1/users", ROLE_TENANT_ADMIN, list_users,
     "list users: the platform's, or a tenant admin's own tenant's"},
    {EVHTTP_REQ_POST, "/v1/users", ROLE_TENANT_ADMIN, post_user,
     "create a user (a name that exists is 409)"},
    {EVHTTP_REQ_PATCH, "/v1/users/{name}", ROLE_TENANT_ADMIN, patch_user,
     "change a user's role, workspace or (platform admin) tenant"},
    {EVHTTP_REQ_DELETE, "/v1/users/{name}", ROLE_TENANT_ADMIN, delete_user,
     "delete a user and its tokens"},
    {EVHTTP_REQ_POST, "/v1/tokens", ROLE_VIEWER, post_token, "create an API token (shown once)"},
    {EVHTTP_REQ_DELETE, "/v1/tokens/{id}", ROLE_VIEWER, delete_token, "revoke an API token"},
    {EVHTTP_REQ_POST, "/v1/join", ROLE_NONE, post_join,
     "a node agent trades its one-time join token for its node token"},
    {0, NULL, ROLE_NONE, NULL, NULL},
};
