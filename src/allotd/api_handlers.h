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
