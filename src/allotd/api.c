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
#include "allotd/spec.h"
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
            json_array_append_new(items, spec_tenant_to_json(ctl->engine, i));
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

static void get_tenant(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (sched_tenant_find(ctl->engine, c->args[0], &id) || !auth_sees_tenant(&c->who, c->args[0])) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no tenant '%s'", c->args[0]);
        return;
    }
    call_reply(c, 200, spec_tenant_to_json(ctl->engine, id));
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
        json_array_append_new(items, spec_cluster_to_json(ctl->engine, i));
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
    json_t *j = spec_node_to_json(ctl->engine, id);
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
    apply_and_reply(
        ctl, c, json_pack("{s:s, s:s, s:O}", "op", "node_move", "node", c->args[0], "tenant", to),
        202);
}

/* A whole number query parameter in [lo, hi], or dflt when absent; false (answered) when
 * it is malformed or out of range. */
static bool query_int(struct call *c, const char *key, long long lo, long long hi, long long dflt,
                      long long *out)
{
    const char *q = call_query(c, key);
    char *end;
    errno = 0;
    *out = q ? strtoll(q, &end, 10) : dflt;
    if (q && (!*q || *end || errno || *out < lo || *out > hi)) {
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
            json_array_append_new(items, spec_workspace_to_json(s, i));
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
        call_reply(c, 200, spec_workspace_to_json(ctl->engine, id));
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
        call_reply(c, 200, spec_workload_to_json(ctl->engine, prior));
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
    const char *limit_s = call_query(c, "limit");
    const char *after_s = call_query(c, "after");
    enum sched_state st = SCHED_PENDING;
    if (state && sched_state_parse(state, &st)) {
        call_error(c, -ALLOT_EINVAL, 400, "state", "unknown state '%s'", state);
        return;
    }
    char *end = NULL;
    long limit = limit_s ? strtol(limit_s, &end, 10) : API_PAGE_DEFAULT;
    if (limit_s && (*end || limit < 1 || limit > API_PAGE_MAX)) {
        call_error(c, -ALLOT_ERANGE, 400, "limit", "limit must be 1 to %d", API_PAGE_MAX);
        return;
    }
    long after = after_s ? strtol(after_s, &end, 10) : -1;
    if (after_s && (*end || after < 0)) {
        call_error(c, -ALLOT_EINVAL, 400, "after", "after must be a workload id");
        return;
    }
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
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "X-Allot-Next-Offset", next);
    evhttp_add_header(h, "X-Allot-Attempt", at);
    evhttp_add_header(h, "X-Allot-Running", live ? "true" : "false");
    evhttp_send_reply(c->req, 200, NULL, b);
    evbuffer_free(b);
    call_done(c);
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

static void post_user(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *role_s = json_string_value(json_object_get(body, "role"));
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    const char *workspace = json_string_value(json_object_get(body, "workspace"));
    enum role role;
    uint32_t dummy;
    if (!name || !spec_is_name(name, strlen(name))) {
        call_error(c, -ALLOT_EINVAL, 400, "name", "a user name is 1 to 63 of a-z 0-9 . _ -");
        return;
    }
    if (!role_s || auth_role_parse(role_s, &role) || role == ROLE_NONE || role == ROLE_NODE) {
        call_error(c, -ALLOT_EINVAL, 400, "role",
                   "expected admin, tenant-admin, workspace-admin, member or viewer");
        return;
    }
    if (role != ROLE_ADMIN && (!tenant || sched_tenant_find(ctl->engine, tenant, &dummy) ||
                               !auth_sees_tenant(&c->who, tenant))) {
        call_error(c, -ALLOT_ENOENT, tenant ? 404 : 400, "tenant", "no tenant '%s'",
                   tenant ? tenant : "");
        return;
    }
    size_t tlen = tenant ? strlen(tenant) : 0;
    if (workspace && (sched_workspace_find(ctl->engine, workspace, &dummy) || !tenant ||
                      strncmp(workspace, tenant, tlen) != 0 || workspace[tlen] != '/')) {
        call_error(c, -ALLOT_ENOENT, 404, "workspace", "no workspace '%s' in tenant %s", workspace,
                   tenant ? tenant : "");
        return;
    }
    /* a tenant admin manages its own tenant's people, below itself */
    if (c->who.role != ROLE_ADMIN &&
        (role >= ROLE_TENANT_ADMIN || !auth_allows(&c->who, ROLE_TENANT_ADMIN, tenant, NULL))) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, "role", "you may not create a user with role %s",
                   role_s);
        return;
    }
    json_t *spec = json_pack("{s:s?}", "workspace", workspace);
    char *spec_text = json_dumps(spec, JSON_COMPACT);
    struct store_user u = {.name = name,
                           .tenant = role == ROLE_ADMIN ? NULL : tenant,
                           .role = role_s,
                           .spec_json = spec_text};
    int rc = store_put_user(ctl->store, &u);
    controller_auth_changed(ctl); /* a user's role or scope may have changed */
    free(spec_text);
    json_decref(spec);
    if (rc) {
        call_error(c, rc, 0, "name", "cannot store the user: %s", allot_strerror(rc));
        return;
    }
    call_reply(c, 201,
               json_pack("{s:s, s:s, s:s?, s:s?}", "name", name, "role", role_s, "tenant",
                         role == ROLE_ADMIN ? NULL : tenant, "workspace", workspace));
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

static void post_token(struct controller *ctl, struct call *c)
{
    json_t *body = body_object(c);
    if (!body)
        return;
    const char *user = json_string_value(json_object_get(body, "user"));
    const char *node = json_string_value(json_object_get(body, "node"));
    struct store_user u;
    char tenant[64] = "", role[32] = "", workspace[128] = "";
    uint32_t dummy;
    if (node) {
        if (c->who.role != ROLE_ADMIN || sched_node_find(ctl->engine, node, &dummy)) {
            call_error(c, -ALLOT_ENOENT, 404, "node", "no node '%s'", node);
            return;
        }
    } else if (!user ||
               store_find_user(ctl->store, user, &u, tenant, sizeof(tenant), role, sizeof(role),
                               workspace, sizeof(workspace)) ||
               (c->who.role != ROLE_ADMIN &&
                !(strcmp(user, c->who.user) == 0 ||
                  auth_allows(&c->who, ROLE_TENANT_ADMIN, tenant, NULL)))) {
        call_error(c, -ALLOT_ENOENT, 404, "user", "no user '%s'", user ? user : "");
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
    rc = rc ? rc : store_put_token(ctl->store, &row);
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
    rc = rc ? rc : store_put_token(ctl->store, &fresh);
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
    char tenant[64] = "", role[32] = "", workspace[128] = "";
    struct store_user u;
    if (store_find_token(ctl->store, c->args[0], &row) ||
        (c->who.role != ROLE_ADMIN &&
         !(strcmp(row.user, c->who.user) == 0 ||
           (store_find_user(ctl->store, row.user, &u, tenant, sizeof(tenant), role, sizeof(role),
                            workspace, sizeof(workspace)) == 0 &&
            auth_allows(&c->who, ROLE_TENANT_ADMIN, tenant, NULL))))) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no token '%s'", c->args[0]);
        return;
    }
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
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type",
                      "application/yaml");
    evhttp_send_reply(c->req, 200, NULL, b);
    evbuffer_free(b);
    call_done(c);
}

static void get_events(struct controller *ctl, struct call *c)
{
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
    {EVHTTP_REQ_POST, "/v1/users", ROLE_TENANT_ADMIN, post_user, "create a user"},
    {EVHTTP_REQ_POST, "/v1/tokens", ROLE_VIEWER, post_token, "create an API token (shown once)"},
    {EVHTTP_REQ_DELETE, "/v1/tokens/{id}", ROLE_VIEWER, delete_token, "revoke an API token"},
    {EVHTTP_REQ_POST, "/v1/join", ROLE_NONE, post_join,
     "a node agent trades its one-time join token for its node token"},
    {0, NULL, ROLE_NONE, NULL, NULL},
};
