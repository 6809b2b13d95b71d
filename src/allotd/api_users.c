/* The REST API's handlers of users and tokens (api.c holds the table): who may manage
 * whom, the platform's last admin kept, tokens shown once, join tokens traded for node
 * tokens. Changes go to the store directly (users and tokens are not engine state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allotd/api_handlers.h"
#include "allotd/tokens.h"
#include "common/error.h"
#include "common/protocol.h"
#include "schema/reader.h"
#include "store/store.h"

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
void api_post_user(struct controller *ctl, struct call *c)
{
    json_t *body = api_body_object(c);
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
void api_patch_user(struct controller *ctl, struct call *c)
{
    static const char *const keys[] = {"role", "tenant", "workspace", NULL};
    static const char *const nullable[] = {"tenant", "workspace", NULL};
    struct user_row cur;
    json_t *body = api_body_object(c);
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
void api_delete_user(struct controller *ctl, struct call *c)
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

/* Whether the caller sees the users of tenant (NULL: platform-wide users) and their tokens:
 * the platform admin all, a tenant admin its own tenant's (the route's least role says who
 * else is refused). */
static bool user_visible(const struct call *c, const char *tenant)
{
    return c->who.role == ROLE_ADMIN || (tenant && strcmp(tenant, c->who.tenant) == 0);
}

static int user_listed(void *arg, const struct store_user *u)
{
    struct user_list *l = arg;
    if (!user_visible(l->c, u->tenant))
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

void api_list_users(struct controller *ctl, struct call *c)
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

/* GET /v1/tokens' state: the caller, the names of the users it sees (an object used as a
 * set; unused for the platform admin) and the list. */
struct token_list {
    struct call *c;
    json_t *users;
    json_t *items;
    const struct token_cache *tokens; /* the uses not written yet */
};

static int token_user_seen(void *arg, const struct store_user *u)
{
    struct token_list *l = arg;
    if (user_visible(l->c, u->tenant) && json_object_set_new(l->users, u->name, json_true()))
        return -ALLOT_ENOMEM;
    return 0;
}

static int token_listed(void *arg, const struct store_token *t)
{
    struct token_list *l = arg;
    bool join = strcmp(t->user, AUTH_JOIN_USER) == 0;
    /* a node's token and a join token are the platform admin's business alone */
    if (l->c->who.role != ROLE_ADMIN && (t->node[0] || join || !json_object_get(l->users, t->user)))
        return 0;
    /* the id and what it acts for; never the secret nor its hash */
    int64_t used = token_cache_used(l->tokens, t->id);
    used = used > t->used_ms ? used : t->used_ms;
    json_t *row = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o, s:o}", "id", t->id, "kind",
                            join         ? "join"
                            : t->node[0] ? "node"
                                         : "user",
                            "user", t->user[0] && !join ? json_string(t->user) : json_null(),
                            "node", t->node[0] ? json_string(t->node) : json_null(), "created",
                            (json_int_t)t->created_ms, "expires",
                            t->expires_ms ? json_integer(t->expires_ms) : json_null(), "last_used",
                            used ? json_integer(used) : json_null());
    return !row || json_array_append_new(l->items, row) ? -ALLOT_ENOMEM : 0;
}

void api_list_tokens(struct controller *ctl, struct call *c)
{
    struct token_list l = {c, json_object(), json_array(), ctl->tokens};
    struct store_visitor v = {.user = token_user_seen};
    int rc = !l.users || !l.items ? -ALLOT_ENOMEM : 0;
    if (!rc && c->who.role != ROLE_ADMIN)
        rc = store_load(ctl->store, &v, &l);
    rc = rc ? rc : store_each_token(ctl->store, token_listed, &l);
    json_decref(l.users);
    if (rc) {
        json_decref(l.items);
        call_error(c, rc, 0, NULL, "cannot read the tokens: %s", allot_strerror(rc));
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

void api_post_token(struct controller *ctl, struct call *c)
{
    static const char *const keys[] = {"user", "node", "join", NULL};
    static const json_type types[] = {JSON_STRING, JSON_STRING, JSON_TRUE};
    json_t *body = api_body_object(c);
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
void api_post_join(struct controller *ctl, struct call *c)
{
    json_t *body = api_body_object(c);
    if (!body)
        return;
    const char *join = json_string_value(json_object_get(body, PROTOCOL_FIELD_TOKEN));
    char id[AUTH_ID_LEN + 1], token[AUTH_TOKEN_LEN + 1];
    unsigned char hash[AUTH_HASH_LEN];
    struct store_token row, fresh;
    if (!join || auth_token_parse(join, id, hash) || store_find_token(ctl->store, id, &row) ||
        !auth_hash_equal(hash, row.hash) || strcmp(row.user, AUTH_JOIN_USER) != 0 ||
        (row.expires_ms && row.expires_ms < controller_now(ctl))) {
        call_error(c, -ALLOT_EUNAUTHORIZED, 401, PROTOCOL_FIELD_TOKEN, "not a valid join token");
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
               json_pack("{s:s, s:s, s:s}", "node", row.node, "id", fresh.id, PROTOCOL_FIELD_TOKEN,
                         token));
}

void api_delete_token(struct controller *ctl, struct call *c)
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
