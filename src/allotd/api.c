/* The REST API of allotd (docs/api.md): one table of routes with their least role, the
 * helpers the handlers share, and the handlers of health, tenants, clusters, nodes and
 * workspaces. Objects of another tenant answer 404, exactly as if they did not exist. */
#include "allotd/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allotd/api_handlers.h"
#include "allotd/fleet.h"
#include "allotd/metrics.h"
#include "allotd/ui.h"
#include "allotd/usage.h"
#include "common/error.h"
#include "common/protocol.h"
#include "store/store.h"
#include "schema/op.h"
#include "schema/view.h"

#include <event2/buffer.h>

int api_apply_reply(struct controller *ctl, struct call *c, json_t *op, int status)
{
    char field[128], err[512];
    json_t *result = NULL;
    const char *kind = json_string_value(json_object_get(op, "op"));
    bool about_workload = kind && (strcmp(kind, OP_SUBMIT) == 0 || strcmp(kind, OP_CANCEL) == 0);
    int rc = controller_apply(ctl, op, &result, field, sizeof(field), err, sizeof(err));
    json_decref(op);
    if (rc) {
        call_error(c, rc, 0, field, "%s", err[0] ? err : allot_strerror(rc));
        return rc;
    }
    /* a workload is shown as the commit's scheduling pass leaves it */
    const char *name = json_string_value(json_object_get(result, "name"));
    uint32_t id;
    if (about_workload && name && sched_workload_find(ctl->engine, name, &id) == 0)
        c->workload = id;
    call_defer(c, status, result ? result : json_object());
    controller_defer(ctl, c);
    return 0;
}

json_t *api_body_object(struct call *c)
{
    if (!json_is_object(c->body)) {
        call_error(c, -ALLOT_EINVAL, 400, NULL, "a JSON object body is required");
        return NULL;
    }
    return c->body;
}

const char *api_tenant_name(const struct sched *s, uint32_t t)
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
               json_pack("{s:s, s:s, s:I, s:I}", "status", "ready", "role", "leader", "epoch",
                         (json_int_t)store_epoch(ctl->store), "workloads",
                         (json_int_t)(ctl->engine->n_workloads - ctl->engine->n_free)));
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
    json_t *body = api_body_object(c);
    if (body)
        api_apply_reply(ctl, c, json_pack("{s:s, s:O}", "op", op_name, "spec", body), 201);
}

static void post_tenant(struct controller *ctl, struct call *c)
{
    post_spec(ctl, c, OP_TENANT_ADD);
}

/* The platform admin's change of a tenant's queue cap (docs/api.md, "Queue caps"). */
static void patch_tenant(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (sched_tenant_find(ctl->engine, c->args[0], &id)) {
        call_error(c, -ALLOT_ENOENT, 404, NULL, "no tenant '%s'", c->args[0]);
        return;
    }
    json_t *body = api_body_object(c);
    if (body)
        api_apply_reply(ctl, c,
                        json_pack("{s:s, s:s, s:O}", "op", OP_TENANT_UPDATE, "tenant",
                                  ctl->engine->tenants[id].name, "spec", body),
                        200);
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
    post_spec(ctl, c, OP_CLUSTER_ADD);
}

/* ---- nodes ---- */

static bool node_visible(struct controller *ctl, struct call *c, uint32_t id)
{
    const struct sched_node *n = &ctl->engine->nodes[id];
    if (c->who.role == ROLE_ADMIN)
        return true;
    if (c->who.role == ROLE_NODE)
        return strcmp(c->who.node, n->name) == 0;
    return auth_sees_tenant(&c->who, api_tenant_name(ctl->engine, n->tenant));
}

/* A node's view: the platform's record, and what its agent reported (fleet.c). */
static json_t *node_json(struct controller *ctl, uint32_t id)
{
    json_t *j = controller_node_json(ctl, id);
    if (j)
        json_object_set_new(j, "agent", fleet_node_json(ctl->fleet, id));
    return j;
}

/* A page of the nodes c sees, in the order of ids (?limit=&after=, docs/api.md "Pages"): a
 * node keeps its id for ever, so paging lists each one once. */
static void list_nodes(struct controller *ctl, struct call *c)
{
    struct api_page p;
    if (!api_page_open(c, (long long)SCHED_NONE - 1, &p))
        return;
    int rc = 0;
    for (uint32_t i = (uint32_t)(p.after + 1); rc == 0 && i < ctl->engine->n_nodes; i++) {
        if (!node_visible(ctl, c, i))
            continue;
        if (!api_page_take(&p, i))
            break;
        json_t *j = node_json(ctl, i);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        rc = text && evbuffer_add_printf(p.b, "%s%s", p.n > 1 ? "," : "", text) >= 0
                 ? 0
                 : -ALLOT_ENOMEM;
        free(text);
    }
    api_page_reply(c, &p, rc);
}

bool api_node_lookup(struct controller *ctl, struct call *c, uint32_t *id)
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
    if (api_node_lookup(ctl, c, &id))
        call_reply(c, 200, node_json(ctl, id));
}

static void post_node(struct controller *ctl, struct call *c)
{
    post_spec(ctl, c, OP_NODE_ADD);
}

static void node_state(struct controller *ctl, struct call *c, const char *state)
{
    uint32_t id;
    if (!api_node_lookup(ctl, c, &id))
        return;
    api_apply_reply(
        ctl, c,
        json_pack("{s:s, s:s, s:s}", "op", OP_NODE_STATE, "node", c->args[0], "state", state), 200);
}

/* A body is optional: {"reason": "replacing PSU"}, kept with the node while it is not ready. */
static void post_node_drain(struct controller *ctl, struct call *c)
{
    uint32_t id;
    char why[160];
    const json_t *reason = json_object_get(c->body, "reason");
    if (c->body && (!json_is_object(c->body) || json_object_size(c->body) != !!reason)) {
        call_error(c, -ALLOT_EINVAL, 400, "reason", "expected no body, or {\"reason\": TEXT}");
        return;
    }
    if (reason && op_node_reason_check(reason, why, sizeof(why))) {
        call_error(c, -ALLOT_EINVAL, 400, "reason", "%s", why);
        return;
    }
    if (!api_node_lookup(ctl, c, &id))
        return;
    api_apply_reply(ctl, c,
                    json_pack("{s:s, s:s, s:s, s:O*, s:s*}", "op", OP_NODE_STATE, "node",
                              c->args[0], "state", "draining", "reason", reason, "by",
                              c->who.user[0] ? c->who.user : NULL),
                    200);
}

static void post_node_move(struct controller *ctl, struct call *c)
{
    uint32_t id;
    json_t *body = api_body_object(c);
    if (!body || !api_node_lookup(ctl, c, &id))
        return;
    json_t *to = json_object_get(body, "tenant");
    if (!to || json_object_size(body) != 1) {
        call_error(c, -ALLOT_EINVAL, 400, "tenant", "expected {\"tenant\": NAME or null}");
        return;
    }
    api_apply_reply(ctl, c,
                    json_pack("{s:s, s:s, s:O, s:b}", "op", OP_NODE_MOVE, "node", c->args[0],
                              "tenant", to, "wipe", !ctl->opt.virtual_nodes),
                    202);
}

/* Stop a move under way: 200 with the node, 409 when it is not moving. */
static void delete_node_move(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (api_node_lookup(ctl, c, &id))
        api_apply_reply(
            ctl, c, json_pack("{s:s, s:s}", "op", OP_NODE_MOVE_CANCEL, "node", c->args[0]), 200);
}

int api_query_parse(const char *q, long long lo, long long hi, long long dflt, long long *out)
{
    char *end;
    errno = 0;
    long long v = q ? strtoll(q, &end, 10) : dflt;
    if (q && (!*q || *end || errno || v < lo || v > hi))
        return -ALLOT_EINVAL;
    *out = v;
    return 0;
}

bool api_query_int(struct call *c, const char *key, long long lo, long long hi, long long dflt,
                   long long *out)
{
    if (api_query_parse(call_query(c, key), lo, hi, dflt, out)) {
        call_error(c, -ALLOT_EINVAL, 0, key, "expected a whole number from %lld to %lld", lo, hi);
        return false;
    }
    return true;
}

bool api_page_open(struct call *c, long long max_id, struct api_page *p)
{
    *p = (struct api_page){.next = -1};
    if (!api_query_int(c, "limit", 1, API_PAGE_MAX, API_PAGE_DEFAULT, &p->limit) ||
        !api_query_int(c, "after", -1, max_id, -1, &p->after))
        return false;
    p->b = evbuffer_new();
    if (!p->b || evbuffer_add(p->b, "{\"items\":[", 10)) {
        evbuffer_free(p->b);
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return false;
    }
    return true;
}

bool api_page_take(struct api_page *p, uint32_t id)
{
    if (p->n == p->limit) {
        p->next = (long long)id - 1; /* id is wanted and above every item on the page */
        return false;
    }
    p->n++;
    return true;
}

void api_page_reply(struct call *c, struct api_page *p, int rc)
{
    if (rc) {
        evbuffer_free(p->b);
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(p->b, "]", 1);
    if (p->next >= 0)
        evbuffer_add_printf(p->b, ",\"next\":%lld", p->next);
    evbuffer_add(p->b, "}", 1);
    call_reply_buffer(c, 200, p->b);
    evbuffer_free(p->b);
}

/* A node agent reports; the answer (after the commit) is what should run on its node. */
static void post_node_report(struct controller *ctl, struct call *c)
{
    uint32_t id;
    json_t *body = api_body_object(c);
    if (!body || !api_node_lookup(ctl, c, &id))
        return;
    if (c->who.role != ROLE_ADMIN && c->who.role != ROLE_NODE) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only the node's agent reports for it");
        return;
    }
    /* ?wait=MS&epoch=E&version=V: the agent has version V of epoch E; hold the answer up to
     * MS until that changes (a long poll, docs/api.md) */
    long long wait, epoch, version;
    if (!api_query_int(c, PROTOCOL_QUERY_WAIT, 0, PROTOCOL_MAX_WAIT_MS, 0, &wait) ||
        !api_query_int(c, PROTOCOL_QUERY_EPOCH, 0, INT64_MAX, 0, &epoch) ||
        !api_query_int(c, PROTOCOL_QUERY_VERSION, 0, INT64_MAX, 0, &version))
        return;
    char field[128], err[256];
    bool changed;
    int rc = fleet_report(ctl->fleet, id, body, &changed, field, sizeof(field), err, sizeof(err));
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
        const char *t = api_tenant_name(s, s->workspaces[i].tenant);
        if (auth_allows(&c->who, ROLE_VIEWER, t, s->workspaces[i].name))
            json_array_append_new(items, view_workspace(s, i));
    }
    call_reply(c, 200, json_pack("{s:o}", "items", items));
}

bool api_workspace_lookup(struct controller *ctl, struct call *c, uint32_t *id, char *name,
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
    if (api_workspace_lookup(ctl, c, &id, name, sizeof(name)))
        call_reply(c, 200, view_workspace(ctl->engine, id));
}

static void post_workspace(struct controller *ctl, struct call *c)
{
    json_t *body = api_body_object(c);
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
    post_spec(ctl, c, OP_WORKSPACE_ADD);
}

static void patch_workspace(struct controller *ctl, struct call *c)
{
    uint32_t id;
    char name[300];
    if (!api_workspace_lookup(ctl, c, &id, name, sizeof(name)))
        return;
    if (!auth_allows(&c->who, ROLE_TENANT_ADMIN, c->args[0], NULL)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only a tenant admin changes workspaces");
        return;
    }
    json_t *body = api_body_object(c);
    if (body)
        api_apply_reply(ctl, c,
                        json_pack("{s:s, s:s, s:O}", "op", OP_WORKSPACE_UPDATE, "workspace", name,
                                  "spec", body),
                        200);
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

#define EVENTS_PAGE_DEFAULT 100
#define EVENTS_PAGE_MAX 1000

/* ?event=KIND,KIND: the engine's event names (docs/api.md, "Events"), each at most once.
 * OUT kinds (NULL-ended, pointing into the engine's names; kinds[0] NULL: any). RET false
 * (answered 400 naming event) when one is not an event's name. */
static bool events_kinds(struct call *c, const char *kinds[SCHED_EV_COUNT + 1])
{
    const char *list = call_query(c, "event");
    size_t n = 0;
    kinds[0] = NULL;
    for (const char *p = list; p && *p; p += *p == ',') {
        size_t len = strcspn(p, ",");
        int k = 0;
        while (k < SCHED_EV_COUNT && (strlen(sched_event_name((enum sched_event_kind)k)) != len ||
                                      strncmp(sched_event_name((enum sched_event_kind)k), p, len)))
            k++;
        if (k == SCHED_EV_COUNT || n == SCHED_EV_COUNT) {
            call_error(c, -ALLOT_EINVAL, 400, "event", "'%.*s' is not an event's name",
                       (int)(len < 64 ? len : 64), p);
            return false;
        }
        kinds[n++] = sched_event_name((enum sched_event_kind)k);
        kinds[n] = NULL;
        p += len;
    }
    if (list && n == 0) {
        call_error(c, -ALLOT_EINVAL, 400, "event", "expected event names, separated by commas");
        return false;
    }
    return true;
}

/* ?format=json: a page of the stored events the caller may see (stream_page). */
static void get_events_page(struct controller *ctl, struct call *c)
{
    const char *kinds[SCHED_EV_COUNT + 1];
    long long after, limit;
    if (!api_query_int(c, "after", 0, stream_last_id(ctl->streams), 0, &after) ||
        !api_query_int(c, "limit", 1, EVENTS_PAGE_MAX, EVENTS_PAGE_DEFAULT, &limit) ||
        !events_kinds(c, kinds))
        return;
    struct evbuffer *b = evbuffer_new();
    int rc = b ? stream_page(ctl->streams, &c->who, after, limit, kinds[0] ? kinds : NULL, b)
               : -ALLOT_ENOMEM;
    if (rc) {
        if (b)
            evbuffer_free(b);
        call_error(c, rc == -ALLOT_ENOMEM ? rc : -ALLOT_EIO, 503, NULL,
                   "the events cannot be read: try again");
        return;
    }
    call_reply_buffer(c, 200, b);
    evbuffer_free(b);
}

static void get_events(struct controller *ctl, struct call *c)
{
    const char *format = call_query(c, "format");
    if (format && strcmp(format, "json") == 0)
        get_events_page(ctl, c);
    else if (format && strcmp(format, "sse") != 0)
        call_error(c, -ALLOT_EINVAL, 400, "format",
                   "expected json (a page of stored events) or sse (the stream)");
    else if (c->head) /* the headers of a stream, and no stream */
        call_send(c, 200, "text/event-stream", NULL);
    else
        stream_subscribe(ctl->streams, c);
}

static void get_metrics(struct controller *ctl, struct call *c)
{
    metrics_reply(ctl, c);
}

static void get_usage(struct controller *ctl, struct call *c)
{
    usage_reply(ctl->usage, c);
}

static void get_usage_reclaims(struct controller *ctl, struct call *c)
{
    usage_reclaims_reply(ctl->usage, c);
}

const struct route api_routes[] = {
    {EVHTTP_REQ_GET, "/healthz", ROLE_NONE, get_healthz, "liveness"},
    {EVHTTP_REQ_GET, "/readyz", ROLE_NONE, get_readyz, "readiness: state loaded"},
    {EVHTTP_REQ_GET, "/metrics", ROLE_VIEWER, get_metrics, "Prometheus metrics"},
    {EVHTTP_REQ_GET, "/v1/openapi.yaml", ROLE_NONE, get_openapi, "this API as OpenAPI 3"},
    {EVHTTP_REQ_GET, "/v1/tenants", ROLE_VIEWER, list_tenants, "list tenants"},
    {EVHTTP_REQ_POST, "/v1/tenants", ROLE_ADMIN, post_tenant, "create a tenant"},
    {EVHTTP_REQ_GET, "/v1/tenants/{tenant}", ROLE_VIEWER, get_tenant, "get a tenant"},
    {EVHTTP_REQ_PATCH, "/v1/tenants/{tenant}", ROLE_ADMIN, patch_tenant,
     "change a tenant's cap on queued workloads (limits.queued)"},
    {EVHTTP_REQ_GET, "/v1/clusters", ROLE_ADMIN, list_clusters, "list clusters"},
    {EVHTTP_REQ_POST, "/v1/clusters", ROLE_ADMIN, post_cluster, "create a cluster"},
    {EVHTTP_REQ_GET, "/v1/nodes", ROLE_NODE, list_nodes, "list nodes"},
    {EVHTTP_REQ_POST, "/v1/nodes", ROLE_ADMIN, post_node, "add a node"},
    {EVHTTP_REQ_GET, "/v1/nodes/{node}", ROLE_NODE, get_node, "get a node"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/drain", ROLE_ADMIN, post_node_drain,
     "drain a node (with an optional reason)"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/undrain", ROLE_ADMIN, post_node_undrain,
     "make a node ready"},
    {EVHTTP_REQ_POST, PROTOCOL_ROUTE_REPORT, ROLE_NODE, post_node_report,
     "a node agent's report (inventory, health, workloads); answers what should run there"},
    {EVHTTP_REQ_POST, PROTOCOL_ROUTE_LOGS, ROLE_NODE, api_post_node_logs,
     "a node agent ships a chunk of a workload's output (application/octet-stream)"},
    {EVHTTP_REQ_POST, "/v1/nodes/{node}/move", ROLE_ADMIN, post_node_move,
     "give a node to another tenant: it drains first"},
    {EVHTTP_REQ_DELETE, "/v1/nodes/{node}/move", ROLE_ADMIN, delete_node_move,
     "cancel a node's move under way: it stays with its tenant"},
    {EVHTTP_REQ_GET, "/v1/workspaces", ROLE_VIEWER, list_workspaces, "list workspaces"},
    {EVHTTP_REQ_POST, "/v1/workspaces", ROLE_TENANT_ADMIN, post_workspace, "create a workspace"},
    {EVHTTP_REQ_GET, "/v1/workspaces/{tenant}/{ws}", ROLE_VIEWER, get_workspace,
     "get a workspace with its usage"},
    {EVHTTP_REQ_PATCH, "/v1/workspaces/{tenant}/{ws}", ROLE_TENANT_ADMIN, patch_workspace,
     "change limits, reservation, lend, weight, require_image"},
    {EVHTTP_REQ_GET, "/v1/workspaces/{tenant}/{ws}/pending", ROLE_VIEWER, api_workspace_pending,
     "its pending workloads in queue order, with their positions (?limit=&offset=)"},
    {EVHTTP_REQ_POST, "/v1/workloads", ROLE_MEMBER, api_post_workload, "submit a workload"},
    {EVHTTP_REQ_GET, "/v1/workloads", ROLE_VIEWER, api_list_workloads,
     "list workloads (?workspace=&state=&limit=&after=, or ?order=newest&before=)"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}", ROLE_VIEWER, api_get_workload,
     "get a workload"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}/logs", ROLE_VIEWER, api_get_workload_logs,
     "a workload's output (?rank=&attempt=&stream=stdout|stderr&offset=&limit=)"},
    {EVHTTP_REQ_GET, "/v1/workloads/{tenant}/{ws}/{name}/why", ROLE_VIEWER, api_why_workload,
     "why a workload waits"},
    {EVHTTP_REQ_DELETE, "/v1/workloads/{tenant}/{ws}/{name}", ROLE_MEMBER, api_cancel_workload,
     "cancel a workload"},
    {EVHTTP_REQ_POST, "/v1/workloads/{tenant}/{ws}/{name}/checkpoint", ROLE_MEMBER,
     api_checkpoint_workload,
     "it saved its work now: preemption counts what it would lose from here"},
    {EVHTTP_REQ_GET, "/v1/events", ROLE_VIEWER, get_events,
     "Server-Sent Events of what the caller may see (resumes after Last-Event-ID), or with "
     "?format=json a page of the stored ones"},
    {EVHTTP_REQ_GET, "/v1/usage", ROLE_VIEWER, get_usage,
     "GPU-seconds used, guaranteed, borrowed and lost (?from=&to=&by=&tenant=&workspace=)"},
    {EVHTTP_REQ_GET, "/v1/usage/reclaims", ROLE_VIEWER, get_usage_reclaims,
     "reclaims measured: how long reclaimers waited (?from=&to=&tenant=&workspace=)"},
    {EVHTTP_REQ_GET, "/v1/users", ROLE_TENANT_ADMIN, api_list_users,
     "list users: the platform's, or a tenant admin's own tenant's"},
    {EVHTTP_REQ_POST, "/v1/users", ROLE_TENANT_ADMIN, api_post_user,
     "create a user (a name that exists is 409)"},
    {EVHTTP_REQ_PATCH, "/v1/users/{name}", ROLE_TENANT_ADMIN, api_patch_user,
     "change a user's role, workspace or (platform admin) tenant"},
    {EVHTTP_REQ_DELETE, "/v1/users/{name}", ROLE_TENANT_ADMIN, api_delete_user,
     "delete a user and its tokens"},
    {EVHTTP_REQ_GET, "/v1/tokens", ROLE_TENANT_ADMIN, api_list_tokens,
     "list API tokens (never their secrets): all, or those of a tenant admin's tenant's users"},
    {EVHTTP_REQ_POST, "/v1/tokens", ROLE_VIEWER, api_post_token,
     "create an API token (shown once)"},
    {EVHTTP_REQ_DELETE, "/v1/tokens/{id}", ROLE_VIEWER, api_delete_token, "revoke an API token"},
    {EVHTTP_REQ_POST, PROTOCOL_ROUTE_JOIN, ROLE_NONE, api_post_join,
     "a node agent trades its one-time join token for its node token"},
    {EVHTTP_REQ_GET, "/ui", ROLE_NONE, ui_get_root, "the dashboard: a redirect to /ui/"},
    {EVHTTP_REQ_GET, "/ui/", ROLE_NONE, ui_get_index,
     "the dashboard's page (docs/dashboard.md); its data comes from the API with a token"},
    {EVHTTP_REQ_GET, "/ui/{file}", ROLE_NONE, ui_get_file,
     "a file of the dashboard (scripts, styles, images)"},
    {0, NULL, ROLE_NONE, NULL, NULL},
};
