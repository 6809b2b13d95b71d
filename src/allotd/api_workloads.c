/* The REST API's workload handlers (api.c holds the table): submit, list, get, why, cancel,
 * and workloads' output, shipped by node agents and read back for `allot logs`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "allotd/api_handlers.h"
#include "allotd/output.h"
#include "common/error.h"
#include "common/protocol.h"
#include "schema/op.h"
#include "schema/view.h"

#define API_PAGE_DEFAULT 100
#define API_PAGE_MAX 1000

static bool workload_visible(struct controller *ctl, struct call *c, uint32_t id)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    if (w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE)
        return c->who.role == ROLE_ADMIN;
    return auth_allows(&c->who, ROLE_VIEWER, api_tenant_name(s, w->tenant),
                       s->workspaces[w->workspace].name);
}

void api_post_workload(struct controller *ctl, struct call *c)
{
    json_t *body = api_body_object(c);
    if (!body)
        return;
    const char *ws = json_string_value(json_object_get(body, "workspace"));
    uint32_t wsid;
    if (!ws || sched_workspace_find(ctl->engine, ws, &wsid) ||
        !auth_allows(&c->who, ROLE_VIEWER,
                     api_tenant_name(ctl->engine, ctl->engine->workspaces[wsid].tenant), ws)) {
        call_error(c, -ALLOT_ENOENT, 404, "workspace", "no workspace '%s'", ws ? ws : "");
        return;
    }
    if (!auth_allows(&c->who, ROLE_MEMBER,
                     api_tenant_name(ctl->engine, ctl->engine->workspaces[wsid].tenant), ws)) {
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
    api_apply_reply(
        ctl, c, json_pack("{s:s, s:s, s:o}", "op", OP_SUBMIT, "user", c->who.user, "spec", spec),
        201);
}

/* Paged list: ?workspace=&state=&limit=&after= (after: the id of the last item seen). */
void api_list_workloads(struct controller *ctl, struct call *c)
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
    if (!api_query_int(c, "limit", 1, API_PAGE_MAX, API_PAGE_DEFAULT, &limit) ||
        !api_query_int(c, "after", -1, (long long)SCHED_NONE - 1, -1, &after))
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

void api_get_workload(struct controller *ctl, struct call *c)
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
void api_post_node_logs(struct controller *ctl, struct call *c)
{
    uint32_t node, id;
    if (!api_node_lookup(ctl, c, &node))
        return;
    if (c->who.role != ROLE_ADMIN && c->who.role != ROLE_NODE) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL, "only the node's agent ships its output");
        return;
    }
    if (c->body) {
        call_error(c, -ALLOT_EINVAL, 415, NULL, "send the bytes as application/octet-stream");
        return;
    }
    const char *name = call_query(c, PROTOCOL_QUERY_WORKLOAD);
    long long rank, attempt, offset;
    if (!api_query_int(c, PROTOCOL_QUERY_RANK, 0, SCHED_MAX_REPLICAS - 1, 0, &rank) ||
        !api_query_int(c, PROTOCOL_QUERY_ATTEMPT, 1, INT32_MAX, 1, &attempt) ||
        !api_query_int(c, PROTOCOL_QUERY_OFFSET, 0, INT64_MAX, 0, &offset))
        return;
    if (!name || sched_workload_find(ctl->engine, name, &id)) {
        call_error(c, -ALLOT_ENOENT, 404, PROTOCOL_QUERY_WORKLOAD, "no workload '%s'",
                   name ? name : "");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = evbuffer_get_length(in);
    struct output_key k = {id, (int)rank, (int)attempt, call_query(c, PROTOCOL_QUERY_STREAM)};
    char field[64], err[256];
    int64_t end;
    int rc = output_accept(ctl->output, node, &k, offset, evbuffer_pullup(in, -1), len, &end, field,
                           sizeof(field), err, sizeof(err));
    if (rc) {
        call_error(c, rc, 0, field, "%s", err);
        return;
    }
    call_defer(c, 200, json_pack("{s:I}", PROTOCOL_FIELD_END, (json_int_t)end));
    controller_defer(ctl, c);
}

/* A workload's output as its agents shipped it: text from ?offset= on, with where to go on
 * from and whether more may come in headers (docs/api.md). */
void api_get_workload_logs(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_lookup(ctl, c, &id))
        return;
    const struct sched_workload *w = &ctl->engine->workloads[id];
    const struct controller_workload *x = id < ctl->cap_extra ? &ctl->extra[id] : NULL;
    long long runs = x ? x->runs : 0, rank, attempt, offset, limit;
    const char *stream = call_query(c, "stream") ? call_query(c, "stream") : "stdout";
    if (!api_query_int(c, PROTOCOL_QUERY_RANK, 0, w->replicas ? w->replicas - 1 : 0, 0, &rank) ||
        !api_query_int(c, PROTOCOL_QUERY_ATTEMPT, 1, runs > 0 ? runs : 1, runs > 0 ? runs : 1,
                       &attempt) ||
        !api_query_int(c, PROTOCOL_QUERY_OFFSET, 0, INT64_MAX, 0, &offset) ||
        !api_query_int(c, "limit", 1, 1 << 20, 64 * 1024, &limit))
        return;
    if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) {
        call_error(c, -ALLOT_EINVAL, 0, "stream", "expected stdout or stderr");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    size_t got = 0;
    struct output_key k = {id, (int)rank, (int)attempt, stream};
    int rc = b ? output_read(ctl->output, &k, offset, (size_t)limit, b, &got) : -ALLOT_ENOMEM;
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

void api_why_workload(struct controller *ctl, struct call *c)
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

void api_cancel_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_lookup(ctl, c, &id))
        return;
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    bool own = id < ctl->cap_extra && ctl->extra[id].owner &&
               strcmp(ctl->extra[id].owner, c->who.user) == 0;
    enum role need = own ? ROLE_MEMBER : ROLE_WORKSPACE_ADMIN;
    if (!auth_allows(&c->who, need, api_tenant_name(s, w->tenant),
                     s->workspaces[w->workspace].name)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL,
                   own ? "your role may not cancel workloads"
                       : "only a workspace admin cancels others' workloads");
        return;
    }
    api_apply_reply(ctl, c, json_pack("{s:s, s:s}", "op", OP_CANCEL, "workload", w->name), 200);
}
