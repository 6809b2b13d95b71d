/* The REST API's workload handlers (api.c holds the table): submit, list, get, why, cancel,
 * and workloads' output, shipped by node agents and read back for `allot logs`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "allotd/api_handlers.h"
#include "allotd/output.h"
#include "common/error.h"
#include "common/quantity.h"
#include "common/protocol.h"
#include "sched/explain.h"
#include "schema/op.h"
#include "schema/view.h"
#include "store/store.h"

/* Seconds a submission refused by a full queue (limits.queued) is told to wait. */
#define API_QUEUED_RETRY_S 5

static bool workload_visible(struct controller *ctl, struct call *c, uint32_t id)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    if (w->state == SCHED_REJECTED && w->reason == SCHED_REASON_UNKNOWN_WORKSPACE)
        return c->who.role == ROLE_ADMIN;
    return auth_allows(&c->who, ROLE_VIEWER, api_tenant_name(s, w->tenant),
                       s->workspaces[w->workspace].name);
}

/* Answer c with the text of a view (JSON), as it was stored. */
static void reply_text(struct call *c, int status, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(b, text, strlen(text));
    call_reply_buffer(c, status, b);
    evbuffer_free(b);
}

/* A history look-up's answer: found (1), not there (0: no such row, or a name the store would
 * not hold, which the submission's own check then refuses), or the store's error (< 0). */
static int history_answer(int rc)
{
    return rc == 0 ? 1 : rc == -ALLOT_ENOENT || rc == -ALLOT_EINVAL ? 0 : rc;
}

/* Whether the history holds a workload named name (tenant/ws/n). RET 1, 0, or the store's
 * error: the caller refuses the submission then (fail closed: a name the history holds must
 * not be taken again because the store could not be read). */
static int in_history(struct controller *ctl, const char *name)
{
    char *view = NULL;
    int rc = history_answer(store_history_find(ctl->store, name, &view));
    if (rc > 0) { /* a rejected one never ran: its name is free again */
        json_t *v = json_loads(view, 0, NULL);
        const char *state = json_string_value(json_object_get(v, "state"));
        if (state && strcmp(state, "rejected") == 0)
            rc = 0;
        json_decref(v);
    }
    free(view);
    return rc;
}

/* A workload of this name that was rejected (it never ran) leaves the engine for the history
 * now, as a forget op, so that its name can be used again. RET 0 (also when there is none),
 * or the forget's error (the submission then meets the name as taken). */
static int free_rejected_name(struct controller *ctl, const char *full)
{
    uint32_t id;
    if (sched_workload_find(ctl->engine, full, &id) != 0 ||
        ctl->engine->workloads[id].state != SCHED_REJECTED)
        return 0;
    char field[64], err[256];
    json_t *op = json_pack("{s:s, s:s}", "op", OP_FORGET, "workload", full);
    int rc = op ? controller_apply(ctl, op, NULL, field, sizeof(field), err, sizeof(err))
                : -ALLOT_ENOMEM;
    json_decref(op);
    return rc;
}

/* The history could not be read: answer 503, nothing is submitted. */
static void history_unavailable(struct controller *ctl, struct call *c)
{
    call_error(c, -ALLOT_EUNAVAILABLE, 503, NULL,
               "the history cannot be read (%s): try again; nothing was submitted",
               store_errmsg(ctl->store));
}

/* The grace a submission asks for (a duration, or a number of seconds), or -1. */
static int64_t asked_grace(const json_t *spec)
{
    const json_t *g = json_object_get(spec, "grace");
    int64_t ms;
    if (json_is_string(g) && quantity_parse_duration(json_string_value(g), &ms) == 0)
        return ms;
    if (json_is_number(g) && json_number_value(g) >= 0 && json_number_value(g) < 1e12)
        return (int64_t)(json_number_value(g) * 1000);
    return -1;
}

/* A submission that asked for more grace than its tenant's max_grace got the cap: say so in
 * the answer ("warnings"), as the engine silently did. */
static void grace_warning(struct controller *ctl, struct call *c, int64_t asked)
{
    const struct sched *s = ctl->engine;
    if (asked < 0 || c->workload >= s->n_workloads)
        return;
    const struct sched_workload *w = &s->workloads[c->workload];
    const struct sched_tenant *t = &s->tenants[w->tenant];
    if (t->max_grace_ms <= 0 || asked <= w->grace_ms)
        return;
    char a[32], cap[32], text[256];
    snprintf(text, sizeof(text), "grace: asked for %s, capped at %s, the max_grace of tenant %s",
             quantity_format_duration(asked, a, sizeof(a)),
             quantity_format_duration(w->grace_ms, cap, sizeof(cap)), t->name);
    c->warnings = json_pack("[s]", text);
}

/* Is workspace wsid's queue, or its tenant's, at its cap (docs/policy.md, "Queue caps")?
 * Asked of the engine before anything is journaled: RET true when c was answered 429 naming
 * the cap (field limits.queued, with the cap and the count), nothing changed. */
static bool queued_full(struct controller *ctl, struct call *c, uint32_t wsid)
{
    struct sched_queued_cap full;
    if (sched_queued_check(ctl->engine, wsid, &full) != -ALLOT_ETOOMANY)
        return false;
    const char *scope = full.tenant ? "tenant" : "workspace";
    call_too_many(c, API_QUEUED_RETRY_S, "limits.queued",
                  json_pack("{s:s, s:I, s:s, s:s, s:I}", "cap", "limits.queued", "limit",
                            (json_int_t)full.cap, "scope", scope, "of", full.of, "queued",
                            (json_int_t)full.queued),
                  "%s %s has %u queued workloads, its limits.queued (%u): nothing was submitted; "
                  "retry once some have started or ended",
                  scope, full.of, full.queued, full.cap);
    return true;
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
        call_reply(c, 200, controller_workload_json(ctl, prior)); /* as the first answer */
        return;
    }
    char *ended = NULL; /* the first submission has ended and left the engine */
    int found = key ? history_answer(store_history_find_key(ctl->store, ws, key, &ended)) : 0;
    if (found) {
        if (found > 0)
            reply_text(c, 200, ended);
        else
            history_unavailable(ctl, c);
        free(ended);
        return;
    }
    if (queued_full(ctl, c, wsid))
        return;
    json_t *spec = json_deep_copy(body);
    const char *given = json_string_value(json_object_get(spec, "name"));
    char full[400];
    found = given && snprintf(full, sizeof(full), "%s/%s", ws, given) < (int)sizeof(full)
                ? in_history(ctl, full)
                : 0;
    if (found) {
        json_decref(spec);
        if (found < 0)
            history_unavailable(ctl, c);
        else
            call_error(c, -ALLOT_EEXIST, 409, "name",
                       "workload %s has ended and is kept in the history (allotd --history): "
                       "choose another name",
                       full);
        return;
    }
    if (given)
        free_rejected_name(ctl, full);
    if (!json_object_get(spec, "name")) {
        /* w-N with the first N that is free in the workspace and its history */
        char name[32];
        uint32_t n = ctl->engine->n_workloads + 1, id;
        do {
            snprintf(name, sizeof(name), "w-%u", n++);
            snprintf(full, sizeof(full), "%s/%s", ws, name);
        } while (sched_workload_find(ctl->engine, full, &id) == 0 ||
                 (found = in_history(ctl, full)) > 0);
        if (found < 0) {
            json_decref(spec);
            history_unavailable(ctl, c);
            return;
        }
        json_object_set_new(spec, "name", json_string(name));
    }
    int64_t asked = asked_grace(spec);
    if (api_apply_reply(
            ctl, c,
            json_pack("{s:s, s:s, s:o}", "op", OP_SUBMIT, "user", c->who.user, "spec", spec),
            201) == 0)
        grace_warning(ctl, c, asked);
}

/* A page of the history being rendered for c. */
struct history_page {
    struct call *c;
    struct evbuffer *b;
    long n, rows; /* items shown, rows read */
    int64_t last;
};

static int history_item(void *ctx, int64_t id, const char *tenant, const char *workspace,
                        const char *view)
{
    struct history_page *p = ctx;
    size_t len = view ? strlen(view) : 0;
    p->last = id;
    p->rows++;
    if (!auth_allows(&p->c->who, ROLE_VIEWER, tenant, workspace) || len < 2)
        return 0;
    /* {"history_id":N, + the view without its opening brace */
    evbuffer_add_printf(p->b, "%s{\"history_id\":%lld,", p->n ? "," : "", (long long)id);
    evbuffer_add(p->b, view + 1, len - 1);
    p->n++;
    return 0;
}

/* ?history=true: a page of the ended workloads that left the engine, in the order they left,
 * of the caller's tenant (and workspace, for a user confined to one); after: the history_id of
 * the last item seen. */
static void list_history(struct controller *ctl, struct call *c, const char *ws)
{
    long long limit, after;
    if (!api_query_int(c, "limit", 1, API_PAGE_MAX, API_PAGE_DEFAULT, &limit) ||
        !api_query_int(c, "after", 0, INT64_MAX, 0, &after))
        return;
    bool admin = c->who.role == ROLE_ADMIN;
    const char *tenant = admin ? NULL : c->who.tenant;
    if (!ws && !admin && c->who.workspace[0])
        ws = c->who.workspace;
    struct history_page p = {c, evbuffer_new(), 0, 0, 0};
    if (!p.b) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    evbuffer_add(p.b, "{\"items\":[", 10);
    int rc = store_history_list(ctl->store, after, tenant, ws, limit, history_item, &p);
    if (rc) {
        evbuffer_free(p.b);
        call_error(c, rc == -ALLOT_EINVAL ? rc : -ALLOT_EIO, rc == -ALLOT_EINVAL ? 400 : 503,
                   "workspace", "%s", store_errmsg(ctl->store));
        return;
    }
    evbuffer_add(p.b, "]", 1);
    if (p.rows == limit) /* more may follow */
        evbuffer_add_printf(p.b, ",\"next\":%lld", (long long)p.last);
    evbuffer_add(p.b, "}", 1);
    call_reply_buffer(c, 200, p.b);
    evbuffer_free(p.b);
}

/* state=: one state's name, or one of these groups (docs/api.md, "Workloads"). */
#define LIST_ANY (-1)
#define LIST_ACTIVE (-2) /* pending, reclaiming, running, draining */
#define LIST_ENDED (-3)  /* finished, failed, cancelled, rejected */

static bool list_state_wanted(int want, enum sched_state st)
{
    if (want == LIST_ANY)
        return true;
    if (want == LIST_ACTIVE || want == LIST_ENDED)
        return sched_state_ended(st) == (want == LIST_ENDED);
    return (int)st == want;
}

/* What a list asks for, read from its query. */
struct list_query {
    const char *workspace; /* NULL: any */
    int state;             /* a sched_state, or LIST_ANY, LIST_ACTIVE, LIST_ENDED */
    long long limit;
};

/* Whether workload i is in the list of q for c (a freed slot never is). */
static bool list_wanted(struct controller *ctl, struct call *c, const struct list_query *q,
                        uint32_t i)
{
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[i];
    return w->name /* else a slot freed when its workload left for the history */ &&
           workload_visible(ctl, c, i) && list_state_wanted(q->state, w->state) &&
           (!q->workspace || strcmp(q->workspace, s->workspaces[w->workspace].name) == 0);
}

/* Append workload i to list b: {"id":N,"seq":S, + its cached view without its opening
 * brace; first: no comma before it. RET 0 or -ALLOT_ENOMEM. */
static int list_item(struct controller *ctl, struct evbuffer *b, uint32_t i, bool first)
{
    size_t len;
    const char *view = controller_workload_text(ctl, i, &len);
    if (!view || len < 2)
        return -ALLOT_ENOMEM;
    evbuffer_add_printf(b, "%s{\"id\":%u,\"seq\":%llu,", first ? "" : ",", i,
                        (unsigned long long)ctl->engine->workloads[i].seq);
    evbuffer_add(b, view + 1, len - 1);
    return 0;
}

/* One of the newest workloads picked for a page: its submission number and slot. */
struct list_pick {
    uint64_t seq;
    uint32_t id;
};

/* Sift the pick at k of the min-heap h (n picks, the smallest seq on top) down. */
static void pick_sift(struct list_pick *h, size_t n, size_t k)
{
    for (;;) {
        size_t l = 2 * k + 1, m = k;
        if (l < n && h[l].seq < h[m].seq)
            m = l;
        if (l + 1 < n && h[l + 1].seq < h[m].seq)
            m = l + 1;
        if (m == k)
            return;
        struct list_pick t = h[k];
        h[k] = h[m];
        h[m] = t;
        k = m;
    }
}

static int by_seq_newest(const void *a, const void *b)
{
    uint64_t x = ((const struct list_pick *)a)->seq, y = ((const struct list_pick *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* order=newest: the q->limit wanted workloads submitted last before submission number
 * before, newest first, into b; *more: whether older ones follow. One pass over the engine's
 * slots with a heap of limit + 1 picks: the work of a page is bounded as the id order's.
 * Seq numbers are unique and a new submission takes a higher one, so that a page's last seq
 * as the next page's before lists every workload once, whatever is submitted meanwhile.
 * RET 0 or -ALLOT_ENOMEM. */
static int list_newest(struct controller *ctl, struct call *c, const struct list_query *q,
                       uint64_t before, struct evbuffer *b, bool *more, uint64_t *next)
{
    const struct sched *s = ctl->engine;
    size_t cap = (size_t)q->limit + 1, n = 0;
    struct list_pick *h = malloc(cap * sizeof(*h));
    if (!h)
        return -ALLOT_ENOMEM;
    for (uint32_t i = 0; i < s->n_workloads; i++) {
        uint64_t seq = s->workloads[i].seq;
        if (seq >= before || (n == cap && seq <= h[0].seq) || !list_wanted(ctl, c, q, i))
            continue;
        if (n < cap) { /* sift up */
            size_t k = n++;
            h[k] = (struct list_pick){seq, i};
            while (k && h[(k - 1) / 2].seq > h[k].seq) {
                struct list_pick t = h[k];
                h[k] = h[(k - 1) / 2];
                h[(k - 1) / 2] = t;
                k = (k - 1) / 2;
            }
        } else {
            h[0] = (struct list_pick){seq, i};
            pick_sift(h, n, 0);
        }
    }
    qsort(h, n, sizeof(*h), by_seq_newest);
    *more = n == cap;
    if (*more)
        n--;
    *next = n ? h[n - 1].seq : 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        rc = list_item(ctl, b, h[k].id, k == 0);
    free(h);
    return rc;
}

/* Paged list: ?workspace=&state=&limit=, and after= (the id of the last item seen) in the
 * order of ids, or with order=newest before= (the seq of the last item seen), newest first;
 * or ?history=true for those that left the engine. */
void api_list_workloads(struct controller *ctl, struct call *c)
{
    const struct sched *s = ctl->engine;
    const char *state = call_query(c, "state");
    const char *history = call_query(c, "history");
    const char *order = call_query(c, "order");
    struct list_query q = {call_query(c, "workspace"), LIST_ANY, 0};
    if (history && strcmp(history, "true") != 0 && strcmp(history, "false") != 0) {
        call_error(c, -ALLOT_EINVAL, 400, "history", "expected true or false");
        return;
    }
    if (history && strcmp(history, "true") == 0) {
        list_history(ctl, c, q.workspace);
        return;
    }
    enum sched_state st = SCHED_PENDING;
    if (state && strcmp(state, "active") == 0)
        q.state = LIST_ACTIVE;
    else if (state && strcmp(state, "ended") == 0)
        q.state = LIST_ENDED;
    else if (state && sched_state_parse(state, &st)) {
        call_error(c, -ALLOT_EINVAL, 400, "state", "unknown state '%s' (a state, active or ended)",
                   state);
        return;
    } else if (state)
        q.state = (int)st;
    bool newest = order && strcmp(order, "newest") == 0;
    if (order && !newest && strcmp(order, "id") != 0) {
        call_error(c, -ALLOT_EINVAL, 400, "order", "expected id or newest");
        return;
    }
    const char *wrong = newest ? "after" : "before";
    if (call_query(c, wrong)) {
        call_error(c, -ALLOT_EINVAL, 400, wrong, "%s goes with order=%s", wrong,
                   newest ? "id" : "newest");
        return;
    }
    /* after: the id of the last item seen; ids are below SCHED_NONE, so the next one is too */
    long long before;
    struct api_page p;
    if (!api_query_int(c, "before", 0, INT64_MAX, INT64_MAX, &before) ||
        !api_page_open(c, (long long)SCHED_NONE - 1, &p))
        return;
    q.limit = p.limit;
    /* rendered from the cached views: a list is mostly string copies */
    int rc = 0;
    if (newest) {
        bool more = false;
        uint64_t last = 0;
        rc = list_newest(ctl, c, &q, (uint64_t)before, p.b, &more, &last);
        p.next = more ? (long long)last : -1;
    }
    for (uint32_t i = (uint32_t)(p.after + 1); !newest && rc == 0 && i < s->n_workloads; i++) {
        if (!list_wanted(ctl, c, &q, i))
            continue;
        if (!api_page_take(&p, i))
            break;
        rc = list_item(ctl, p.b, i, p.n == 1);
    }
    api_page_reply(c, &p, rc);
}

/* The workload of the path {tenant}/{ws}/{name}: in the engine (*id), or, with history not
 * NULL, ended and in the history (*id SCHED_NONE, *history its view: free it). RET whether
 * one is visible to c; else c is answered 404. */
static bool workload_find(struct controller *ctl, struct call *c, uint32_t *id, char **history)
{
    char name[512], ws[300];
    snprintf(name, sizeof(name), "%s/%s/%s", c->args[0], c->args[1], c->args[2]);
    snprintf(ws, sizeof(ws), "%s/%s", c->args[0], c->args[1]);
    if (history)
        *history = NULL;
    if (sched_workload_find(ctl->engine, name, id) == 0) {
        if (workload_visible(ctl, c, *id))
            return true;
    } else if (history && auth_allows(&c->who, ROLE_VIEWER, c->args[0], ws) &&
               store_history_find(ctl->store, name, history) == 0) {
        *id = SCHED_NONE;
        return true;
    }
    call_error(c, -ALLOT_ENOENT, 404, NULL, "no workload '%s'", name);
    return false;
}

void api_get_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    size_t len;
    char *history;
    if (!workload_find(ctl, c, &id, &history))
        return;
    if (history) {
        reply_text(c, 200, history);
        free(history);
        return;
    }
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
    char *history;
    if (!workload_find(ctl, c, &id, &history))
        return;
    /* one in the history: its replicas and attempts as its view says */
    json_t *ended = history ? json_loads(history, 0, NULL) : NULL;
    free(history);
    const struct sched_workload *w = ended ? NULL : &ctl->engine->workloads[id];
    const struct controller_workload *x = !w || id >= ctl->cap_extra ? NULL : &ctl->extra[id];
    long long replicas = w ? w->replicas : json_integer_value(json_object_get(ended, "replicas"));
    long long runs = x ? x->runs : json_integer_value(json_object_get(ended, "attempts"));
    json_decref(ended);
    long long rank, attempt, offset, limit;
    const char *stream = call_query(c, "stream") ? call_query(c, "stream") : "stdout";
    if (!api_query_int(c, PROTOCOL_QUERY_RANK, 0, replicas > 0 ? replicas - 1 : 0, 0, &rank) ||
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
    char name[512];
    snprintf(name, sizeof(name), "%s/%s/%s", c->args[0], c->args[1], c->args[2]);
    int64_t start = offset, trimmed = 0;
    int rc = b ? output_read_named(ctl->output, name, &k, offset, (size_t)limit, b, &got, &start,
                                   &trimmed)
               : -ALLOT_ENOMEM;
    if (rc) {
        evbuffer_free(b);
        call_error(c, rc, 0, NULL, "cannot read the output");
        return;
    }
    /* more may come while this attempt runs or drains (its agent ships every ~250 ms) */
    bool live = w && attempt == runs && (w->state == SCHED_RUNNING || w->state == SCHED_DRAINING);
    char next[32], at[32], gone[32];
    snprintf(next, sizeof(next), "%lld", (long long)start + (long long)got);
    snprintf(at, sizeof(at), "%lld", attempt);
    snprintf(gone, sizeof(gone), "%lld", (long long)trimmed);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "X-Allot-Next-Offset", next);
    evhttp_add_header(h, "X-Allot-Attempt", at);
    evhttp_add_header(h, "X-Allot-Running", live ? "true" : "false");
    if (ctl->opt.virtual_nodes) /* no process runs: there is no output to wait for */
        evhttp_add_header(h, "X-Allot-Simulated", "true");
    if (trimmed > 0) /* the retention deleted output of this attempt (docs/api.md) */
        evhttp_add_header(h, "X-Allot-Output-Trimmed", gone);
    call_send(c, 200, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

/* When a running workload ends, if the controller knows (explain_known_end): by its time
 * limit (sched_workload_end_by), and on virtual nodes by its start and duration; the first. */
static int64_t known_end(void *ctx, uint32_t id)
{
    struct controller *ctl = ctx;
    const struct sched_workload *w = &ctl->engine->workloads[id];
    if (w->state != SCHED_RUNNING)
        return -1;
    int64_t by = sched_workload_end_by(w);
    if (ctl->opt.virtual_nodes && id < ctl->cap_extra && ctl->extra[id].duration_ms >= 0) {
        int64_t end = w->start_ms + ctl->extra[id].duration_ms;
        by = by < 0 || end < by ? end : by;
    }
    return by;
}

/* {"index": i, "of": n}, or null for 0 (not in that queue). */
static json_t *position_json(uint32_t index, uint32_t of)
{
    return index ? json_pack("{s:I, s:I}", "index", (json_int_t)index, "of", (json_int_t)of)
                 : json_null();
}

/* The holders c may see, by name, and how many of those named it may not (only counted: a
 * member of one workspace learns nothing of another's workloads). */
static json_t *holders_json(struct controller *ctl, struct call *c, const struct explain *e,
                            uint32_t *hidden)
{
    const struct sched *s = ctl->engine;
    json_t *a = json_array();
    *hidden = 0;
    for (uint32_t i = 0; a && i < e->n_holders; i++) {
        uint32_t h = e->holders[i].workload;
        const struct sched_workload *w = &s->workloads[h];
        if (!workload_visible(ctl, c, h)) {
            (*hidden)++;
            continue;
        }
        int64_t end = known_end(ctl, h);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o}", "workload", w->name,
                                           "workspace", s->workspaces[w->workspace].name, "state",
                                           sched_state_name(w->state), "role",
                                           explain_role_name(e->holders[i].role), "ends",
                                           end >= 0 ? json_integer(end) : json_null()));
    }
    return a;
}

/* What explain.c says of pending or reclaiming workload id, into the /why answer r. RET 0 or
 * -ALLOT_ENOMEM. */
static int why_explained(struct controller *ctl, struct call *c, uint32_t id, json_t *r)
{
    const struct sched *s = ctl->engine;
    struct explain e;
    int rc = explain_workload(ctl->engine, id, controller_now(ctl), known_end, ctl, &e);
    if (rc)
        return rc;
    json_t *ahead = json_array();
    for (uint32_t i = 0; ahead && i < e.n_ahead; i++) /* its own workspace: c sees them */
        json_array_append_new(ahead, json_string(s->workloads[e.ahead[i]].name));
    uint32_t hidden;
    json_t *holders = holders_json(ctl, c, &e, &hidden);
    json_t *pos = e.workspace_index
                      ? json_pack("{s:o, s:o}", "workspace",
                                  position_json(e.workspace_index, e.workspace_count), "tenant",
                                  position_json(e.tenant_index, e.tenant_count))
                      : json_null();
    if (!ahead || !holders || !pos) {
        json_decref(ahead);
        json_decref(holders);
        json_decref(pos);
        return -ALLOT_ENOMEM;
    }
    /* json_object_set_new takes each value, also when it fails */
    int bad = json_object_set_new(r, "position", pos);
    bad |= json_object_set_new(r, "ahead", ahead);
    bad |= json_object_set_new(r, "ahead_total",
                               json_integer(e.workspace_index ? e.workspace_index - 1 : 0));
    bad |= json_object_set_new(r, "holders", holders);
    bad |= json_object_set_new(r, "holders_total", json_integer(e.holders_total));
    bad |= json_object_set_new(r, "holders_hidden", json_integer(hidden));
    bad |=
        json_object_set_new(r, "estimated_start",
                            e.estimated_start >= 0 ? json_integer(e.estimated_start) : json_null());
    bad |= json_object_set_new(r, "estimated_start_reason", json_string(e.why));
    return bad ? -ALLOT_ENOMEM : 0;
}

void api_why_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    char *history;
    if (!workload_find(ctl, c, &id, &history))
        return;
    if (history) { /* it has ended: nothing holds it back */
        json_t *v = json_loads(history, 0, NULL);
        free(history);
        call_reply(c, 200,
                   json_pack("{s:O, s:O, s:b}", "workload", json_object_get(v, "name"), "state",
                             json_object_get(v, "state"), "history", 1));
        json_decref(v);
        return;
    }
    const struct sched_workload *w = &ctl->engine->workloads[id];
    json_t *r = json_pack("{s:s, s:s}", "workload", w->name, "state", sched_state_name(w->state));
    if (r &&
        (w->state == SCHED_PENDING || w->state == SCHED_RECLAIMING || w->state == SCHED_REJECTED)) {
        const char *message = controller_reason_message(ctl, id);
        json_object_set_new(r, "reason", json_string(reason_name(w->reason)));
        json_object_set_new(r, "explanation", json_string(reason_text(w->reason)));
        json_object_set_new(r, "message", json_string(message ? message : reason_text(w->reason)));
    }
    if (r && (w->state == SCHED_PENDING || w->state == SCHED_RECLAIMING) &&
        why_explained(ctl, c, id, r)) {
        json_decref(r);
        r = NULL;
    }
    if (!r) {
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    call_reply(c, 200, r);
}

/* A workspace's queue as Kueue's visibility API shows one: its pending workloads in queue
 * order with their positions in the queue and in the tenant's FIFO (?limit=&offset=). All
 * are of the one workspace the caller may view; the tenant's other workloads only count. */
void api_workspace_pending(struct controller *ctl, struct call *c)
{
    const struct sched *s = ctl->engine;
    char name[300];
    uint32_t wsid;
    if (!api_workspace_lookup(ctl, c, &wsid, name, sizeof(name)))
        return;
    long long limit, offset;
    if (!api_query_int(c, "limit", 1, API_PAGE_MAX, API_PAGE_DEFAULT, &limit) ||
        !api_query_int(c, "offset", 0, UINT32_MAX, 0, &offset))
        return;
    const struct sched_workspace *ws = &s->workspaces[wsid];
    const struct sched_tenant *t = &s->tenants[ws->tenant];
    uint32_t tenant_pending = 0, n = 0;
    for (uint32_t i = 0; i < t->n_workspaces; i++)
        tenant_pending += s->workspaces[t->workspaces[i]].n_pending;
    struct explain_entry *e = malloc((size_t)limit * sizeof(*e));
    json_t *items = json_array();
    int rc = e && items ? explain_queue(s, wsid, (uint32_t)offset, (uint32_t)limit, e, &n)
                        : -ALLOT_ENOMEM;
    for (uint32_t i = 0; !rc && i < n; i++) {
        const struct sched_workload *w = &s->workloads[e[i].workload];
        const char *message = controller_reason_message(ctl, e[i].workload);
        char gpus[32];
        json_t *item = json_pack(
            "{s:s, s:{s:{s:I, s:I}, s:{s:I, s:I}}, s:i, s:s, s:s, s:s, s:I}", "name", w->name,
            "position", "workspace", "index", (json_int_t)e[i].workspace_index, "of",
            (json_int_t)ws->n_pending, "tenant", "index", (json_int_t)e[i].tenant_index, "of",
            (json_int_t)tenant_pending, "priority", w->priority, "gpu_total",
            quantity_format_gpu(w->total.gpu, gpus, sizeof(gpus)), "reason", reason_name(w->reason),
            "reason_message", message ? message : reason_text(w->reason), "submitted",
            (json_int_t)w->submit_ms);
        rc = item ? json_array_append_new(items, item) ? -ALLOT_ENOMEM : 0 : -ALLOT_ENOMEM;
    }
    free(e);
    json_t *r = rc ? NULL
                   : json_pack("{s:s, s:I, s:I, s:o}", "workspace", ws->name, "pending",
                               (json_int_t)ws->n_pending, "tenant_pending",
                               (json_int_t)tenant_pending, "items", items);
    if (!r) {
        if (rc)
            json_decref(items);
        call_error(c, -ALLOT_ENOMEM, 503, NULL, "out of memory");
        return;
    }
    if ((long long)offset + n < ws->n_pending)
        json_object_set_new(r, "next", json_integer(offset + n));
    call_reply(c, 200, r);
}

/* The workload of the path, in the engine, if c may see it. OUT *id. RET false (answered:
 * 404, or 409 for one that ended and is in the history) if not. */
static bool workload_in_engine(struct controller *ctl, struct call *c, uint32_t *id)
{
    char *history;
    if (!workload_find(ctl, c, id, &history))
        return false;
    if (history) {
        free(history);
        call_error(c, -ALLOT_ESTATE, 409, NULL, "the workload has ended (it is in the history)");
        return false;
    }
    return true;
}

void api_cancel_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_in_engine(ctl, c, &id))
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

void api_checkpoint_workload(struct controller *ctl, struct call *c)
{
    uint32_t id;
    if (!workload_in_engine(ctl, c, &id))
        return;
    const struct sched *s = ctl->engine;
    const struct sched_workload *w = &s->workloads[id];
    if (!auth_allows(&c->who, ROLE_MEMBER, api_tenant_name(s, w->tenant),
                     s->workspaces[w->workspace].name)) {
        call_error(c, -ALLOT_EFORBIDDEN, 403, NULL,
                   "your role may not report checkpoints of this workspace's workloads");
        return;
    }
    api_apply_reply(ctl, c, json_pack("{s:s, s:s}", "op", OP_CHECKPOINT, "workload", w->name), 200);
}
