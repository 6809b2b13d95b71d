/* Inside the REST API: the handlers of api_routes that live outside api.c (by file), and the
 * helpers every handler file shares (api.c). Only src/allotd/api*.c include this. */
#ifndef ALLOT_ALLOTD_API_HANDLERS_H
#define ALLOT_ALLOTD_API_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "allotd/controller.h"
#include "allotd/server.h"

/* Apply op for call c; on success defer `status` with the op's result (a submitted or
 * cancelled workload as the commit's pass leaves it), else answer the error. Takes op.
 * RET 0: deferred (c may still get warnings until the commit); else the error, c answered
 * and freed. */
int api_apply_reply(struct controller *ctl, struct call *c, json_t *op, int status);
/* The body as an object, or answer 400 and RET NULL. */
json_t *api_body_object(struct call *c);
/* The name of tenant t, or NULL for none. */
const char *api_tenant_name(const struct sched *s, uint32_t t);
/* A whole number query parameter in [lo, hi], or dflt when absent. OUT *out. RET false
 * (answered 400 naming key) when it is malformed or out of range. */
bool api_query_int(struct call *c, const char *key, long long lo, long long hi, long long dflt,
                   long long *out);
/* Lists answer in pages (docs/api.md, "Pages"): ?limit= items at most, this many unless
 * told. */
#define API_PAGE_DEFAULT 100
#define API_PAGE_MAX 1000

/* A page of a list in the order of ids: {"items":[...]} and, when more follow, "next", the
 * id of the last item on it, which the next page's ?after= names. An id order lists every
 * item once whatever changes between pages, as long as ids are never reused for another
 * item while a client pages (nodes: never; workloads: a slot freed by the history may be,
 * and is then listed once as the new workload). */
struct api_page {
    struct evbuffer *b; /* the answer so far */
    long long limit;    /* items at most */
    long long after;    /* ?after=: the last id seen (-1: none), the page starts above it */
    long long n;        /* items on the page */
    long long next;     /* -1, or "next" once an item past the page was met */
};
/* Read ?limit= and ?after= (from -1 to max_id) of c and start p's answer. RET false when c
 * was answered (400 naming the parameter, or 503 out of memory): p holds nothing then. */
bool api_page_open(struct call *c, long long max_id, struct api_page *p);
/* Item id (above p->after, ids given in ascending order) is next in the list. RET true when
 * it goes on the page (p->n counts it: write it after a comma unless p->n is 1); false when
 * the page is full (p->next is set: stop). */
bool api_page_take(struct api_page *p, uint32_t id);
/* Close the list, say "next" when more follow, and answer c 200, or 503 when rc (the items
 * could not be written: out of memory). Frees p->b. */
void api_page_reply(struct call *c, struct api_page *p, int rc);
/* The workspace named by the path ({tenant}/{ws}) if c may see it: OUT *id, and its name in
 * name. RET false (answered 404) if not. */
bool api_workspace_lookup(struct controller *ctl, struct call *c, uint32_t *id, char *name,
                          size_t len);
/* The node of the path ({node}) if c may see it. OUT *id. RET false (answered 404) if not. */
bool api_node_lookup(struct controller *ctl, struct call *c, uint32_t *id);

/* api_workloads.c */
void api_post_workload(struct controller *ctl, struct call *c);
void api_list_workloads(struct controller *ctl, struct call *c);
void api_get_workload(struct controller *ctl, struct call *c);
void api_get_workload_logs(struct controller *ctl, struct call *c);
void api_why_workload(struct controller *ctl, struct call *c);
/* GET /v1/workspaces/{tenant}/{ws}/pending: its queue with positions (explain_queue). */
void api_workspace_pending(struct controller *ctl, struct call *c);
void api_cancel_workload(struct controller *ctl, struct call *c);
/* POST .../{name}/checkpoint: it saved its work now (op checkpoint, docs/api.md). */
void api_checkpoint_workload(struct controller *ctl, struct call *c);
void api_post_node_logs(struct controller *ctl, struct call *c);

/* api_users.c */
void api_list_users(struct controller *ctl, struct call *c);
void api_post_user(struct controller *ctl, struct call *c);
void api_patch_user(struct controller *ctl, struct call *c);
void api_delete_user(struct controller *ctl, struct call *c);
/* GET /v1/tokens: the tokens the caller sees (user_visible), without their secrets. */
void api_list_tokens(struct controller *ctl, struct call *c);
void api_post_token(struct controller *ctl, struct call *c);
void api_delete_token(struct controller *ctl, struct call *c);
void api_post_join(struct controller *ctl, struct call *c);

#endif
