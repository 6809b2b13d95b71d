/* `allot admin ...`: platform administration through allotd. Each subcommand checks its
 * flags, sends one request and says what changed; the table at the end is their grammar and
 * help (docs/cli.md). Who may do what is the daemon's decision (docs/api.md, "Roles"). */
#include "cli/admin.h"

#include <string.h>

#include "cli/client.h"
#include "cli/history.h"
#include "cli/document.h"
#include "cli/flags.h"
#include "cli/human.h"
#include "cli/table.h"
#include "sched/sched.h"

#define ADMIN_TOKEN_ID_LEN 16 /* hex digits of a token id */

/* Send method path with body (taken; NULL: none, or memory ran out when with_body), print the
 * answer as -o json asks or with human, and clean up. RET the exit code. */
static int admin_send(const struct flag_values *v, const char *method, const char *path,
                      bool with_body, json_t *body,
                      void (*human)(const struct flag_values *, const json_t *))
{
    struct client cl = {0};
    struct client_answer a = {0};
    int rc = client_open(&cl, v);
    if (rc == 0 && with_body && !body) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
    }
    if (rc == 0)
        rc = client_fetch(&cl, method, path, body, &a);
    if (rc == 0) {
        if (v->json)
            client_print_json(&a);
        else
            human(v, a.json);
    }
    json_decref(body);
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

/* ---- tenants, clusters ----------------------------------------------------------------- */

static void tenant_created(const struct flag_values *v, const json_t *answer)
{
    const char *grace = flags_get(v, "max-grace");
    printf("created tenant %s (%s%s%s)\n", v->args[0],
           flags_has(v, "dedicated") ? "dedicated" : "shared", grace ? ", grace at most " : "",
           grace ? grace : "");
}

static int run_tenant_create(const struct flag_values *v)
{
    int rc;
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "a tenant name is 1 to %d of a-z 0-9 . _ -, got '%.64s'",
                                 FLAGS_MAX_NAME, v->args[0]);
    int64_t queued = 0;
    if ((rc = flags_quantity(v, "max-grace", FLAGS_Q_DURATION, false)) ||
        (rc = flags_int(v, "limit-queued", 1, SCHED_MAX_QUEUED, &queued)))
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:s?}", "name", v->args[0], "isolation",
                             flags_has(v, "dedicated") ? "dedicated" : "shared", "max_grace",
                             flags_get(v, "max-grace"));
    if (body && queued)
        json_object_set_new(body, "limits", json_pack("{s:I}", "queued", (json_int_t)queued));
    return admin_send(v, "POST", "/v1/tenants", true, body, tenant_created);
}

static void tenant_shown(const struct flag_values *v, const json_t *t)
{
    printf("%s: at most %lld queued workloads in all its workspaces (%lld now)\n",
           human_text(t, "name"), (long long)human_int(json_object_get(t, "limits"), "queued", 0),
           (long long)human_int(t, "queued", 0));
}

/* `admin tenant set NAME --limit-queued N`: the platform admin's change of a tenant's cap. */
static int run_tenant_set(const struct flag_values *v)
{
    char path[160];
    int64_t queued = 0;
    int rc = flags_int(v, "limit-queued", 1, SCHED_MAX_QUEUED, &queued);
    if (rc)
        return rc;
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "a tenant name is 1 to %d of a-z 0-9 . _ -, got '%.64s'",
                                 FLAGS_MAX_NAME, v->args[0]);
    if (!queued)
        return flags_usage_error(v, "nothing to change: give --limit-queued");
    snprintf(path, sizeof(path), "/v1/tenants/%s", v->args[0]); /* checked: a name */
    return admin_send(v, "PATCH", path, true,
                      json_pack("{s:{s:I}}", "limits", "queued", (json_int_t)queued), tenant_shown);
}

static void cluster_created(const struct flag_values *v, const json_t *answer)
{
    const char *to = flags_get(v, "dedicated-to");
    printf("created cluster %s%s%s\n", v->args[0], to ? ", dedicated to tenant " : "",
           to ? to : "");
}

static int run_cluster_create(const struct flag_values *v)
{
    const char *to = flags_get(v, "dedicated-to");
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "a cluster name is 1 to %d of a-z 0-9 . _ -, got '%.64s'",
                                 FLAGS_MAX_NAME, v->args[0]);
    if (to && !flags_is_name(to, strlen(to)))
        return flags_usage_error(v, "--dedicated-to: expected a tenant name, got '%.64s'", to);
    json_t *body = json_pack("{s:s, s:s?}", "name", v->args[0], "dedicated_to", to);
    return admin_send(v, "POST", "/v1/clusters", true, body, cluster_created);
}

/* ---- workspaces ------------------------------------------------------------------------ */

/* Limit flags and the field of "limits" each sets. */
static const struct {
    const char *flag, *field;
    enum flags_quantity kind;
} workspace_limits[] = {
    {"limit-gpu", "gpu", FLAGS_Q_GPU},
    {"limit-cpu", "cpu", FLAGS_Q_CPU},
    {"limit-memory", "memory", FLAGS_Q_BYTES},
    {"limit-storage", "storage", FLAGS_Q_BYTES},
};
#define N_LIMITS (sizeof(workspace_limits) / sizeof(workspace_limits[0]))

/* The body of workspace create (with name) or set (without): only the fields whose flags were
 * given. OUT *out (new reference). RET 0 or a usage error. */
static int workspace_body(const struct flag_values *v, bool with_name, json_t **out)
{
    char part[2][FLAGS_MAX_NAME + 1];
    int64_t weight = 0;
    bool lend = true;
    int rc;
    if (!flags_split_name(v->args[0], 2, part))
        return flags_usage_error(v,
                                 "expected TENANT/WORKSPACE, two names of a-z 0-9 . _ -, got "
                                 "'%.64s'",
                                 v->args[0]);
    int64_t queued = 0;
    if ((rc = flags_quantity(v, "reserve", FLAGS_Q_GPU, false)) ||
        (rc = flags_bool(v, "lend", &lend)) || (rc = flags_int(v, "weight", 1, 1000000, &weight)) ||
        (rc = flags_int(v, "limit-queued", 1, SCHED_MAX_QUEUED, &queued)))
        return rc;
    for (size_t i = 0; i < N_LIMITS; i++)
        if ((rc = flags_quantity(v, workspace_limits[i].flag, workspace_limits[i].kind, true)))
            return rc;
    static const char *const time_limits[][2] = {{"default-time-limit", "default_time_limit"},
                                                 {"max-time-limit", "max_time_limit"}};
    for (size_t i = 0; i < 2; i++)
        if ((rc = flags_quantity(v, time_limits[i][0], FLAGS_Q_DURATION, true)))
            return rc;
    json_t *body = json_object(), *limits = json_object();
    bool ok = body && limits;
    if (ok && with_name)
        ok = json_object_set_new(body, "name", json_string(v->args[0])) == 0;
    if (ok && flags_has(v, "reserve"))
        ok = json_object_set_new(body, "reserved",
                                 json_pack("{s:s}", "gpu", flags_get(v, "reserve"))) == 0;
    for (size_t i = 0; ok && i < N_LIMITS; i++)
        if (flags_has(v, workspace_limits[i].flag))
            ok = json_object_set_new(limits, workspace_limits[i].field,
                                     json_string(flags_get(v, workspace_limits[i].flag))) == 0;
    if (ok && queued)
        ok = json_object_set_new(limits, "queued", json_integer(queued)) == 0;
    if (ok && json_object_size(limits))
        ok = json_object_set(body, "limits", limits) == 0;
    if (ok && flags_has(v, "lend"))
        ok = json_object_set_new(body, "lend", json_boolean(lend)) == 0;
    if (ok && flags_has(v, "weight"))
        ok = json_object_set_new(body, "weight", json_integer(weight)) == 0;
    for (size_t i = 0; ok && i < 2; i++) { /* "none": null, no default or maximum */
        const char *d = flags_get(v, time_limits[i][0]);
        if (d)
            ok = json_object_set_new(body, time_limits[i][1],
                                     strcmp(d, "none") == 0 ? json_null() : json_string(d)) == 0;
    }
    json_decref(limits);
    if (!ok) {
        json_decref(body);
        fprintf(stderr, "allot: out of memory\n");
        return FLAGS_EXIT_FAILED;
    }
    if (!with_name && json_object_size(body) == 0) {
        json_decref(body);
        return flags_usage_error(v, "nothing to change: give --reserve, --limit-*, --lend, "
                                    "--weight or --*-time-limit");
    }
    *out = body;
    return 0;
}

/* One line on a workspace view. */
static void workspace_shown(const struct flag_values *v, const json_t *w)
{
    const json_t *limits = json_object_get(w, "limits");
    printf("%s: reserved %s GPUs, limits gpu %s cpu %s memory %s storage %s queued %lld, lend "
           "%s, weight %lld\n",
           human_text(w, "name"), human_text(json_object_get(w, "reserved"), "gpu"),
           human_text(limits, "gpu"), human_text(limits, "cpu"), human_text(limits, "memory"),
           human_text(limits, "storage"), (long long)human_int(limits, "queued", 0),
           json_is_true(json_object_get(w, "lend")) ? "yes" : "no",
           (long long)human_int(w, "weight", 1));
    if (json_is_string(json_object_get(w, "default_time_limit")) ||
        json_is_string(json_object_get(w, "max_time_limit")))
        printf("%s: time limits: default %s, max %s\n", human_text(w, "name"),
               json_is_string(json_object_get(w, "default_time_limit"))
                   ? human_text(w, "default_time_limit")
                   : "none",
               json_is_string(json_object_get(w, "max_time_limit"))
                   ? human_text(w, "max_time_limit")
                   : "none");
}

static int run_workspace_create(const struct flag_values *v)
{
    json_t *body = NULL;
    int rc = workspace_body(v, true, &body);
    return rc ? rc : admin_send(v, "POST", "/v1/workspaces", true, body, workspace_shown);
}

static int run_workspace_set(const struct flag_values *v)
{
    char path[160];
    json_t *body = NULL;
    int rc = workspace_body(v, false, &body);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "/v1/workspaces/%s", v->args[0]); /* checked: a/b names */
    return admin_send(v, "PATCH", path, true, body, workspace_shown);
}

/* ---- nodes ----------------------------------------------------------------------------- */

static void node_shown(const struct flag_values *v, const json_t *n)
{
    const char *reason = json_string_value(json_object_get(n, "reason"));
    printf("node %s: %s, tenant %s, cluster %s, %zu GPUs%s%s\n", human_text(n, "name"),
           human_text(n, "state"), human_text(n, "tenant"), human_text(n, "cluster"),
           json_array_size(json_object_get(n, "gpus")), reason ? "; reason: " : "",
           reason ? reason : "");
}

static int run_node_add(const struct flag_values *v)
{
    char err[512];
    json_t *body = NULL;
    const char *file = flags_get(v, "file");
    if (!file)
        return flags_usage_error(v, "-f FILE is required: the node as JSON or YAML");
    if (document_load(file, &body, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", v->prog, err);
        return FLAGS_EXIT_USAGE;
    }
    return admin_send(v, "POST", "/v1/nodes", true, body, node_shown);
}

/* POST /v1/nodes/NAME/verb with body (taken; NULL: none). */
static int node_state(const struct flag_values *v, const char *verb, json_t *body)
{
    char path[128];
    if (!flags_is_name(v->args[0], strlen(v->args[0]))) {
        json_decref(body);
        return flags_usage_error(v, "expected a node name (a-z 0-9 . _ -), got '%.64s'",
                                 v->args[0]);
    }
    snprintf(path, sizeof(path), "/v1/nodes/%s/%s", v->args[0], verb);
    return admin_send(v, "POST", path, body != NULL, body, node_shown);
}

/* The daemon checks the reason (at most 200 bytes, no control characters). */
static int run_node_drain(const struct flag_values *v)
{
    const char *reason = flags_get(v, "reason");
    return node_state(v, "drain", reason ? json_pack("{s:s}", "reason", reason) : NULL);
}

static int run_node_undrain(const struct flag_values *v)
{
    return node_state(v, "undrain", NULL);
}

static void node_moving(const struct flag_values *v, const json_t *n)
{
    const char *to = flags_get(v, "tenant");
    const char *now = json_string_value(json_object_get(n, "tenant"));
    if (to ? now && strcmp(now, to) == 0 : !now)
        printf("node %s: %s, now %s%s\n", human_text(n, "name"), human_text(n, "state"),
               to ? "of tenant " : "of no tenant", to ? to : "");
    else
        printf("node %s: %s; it joins %s%s once nothing of tenant %s runs there\n",
               human_text(n, "name"), human_text(n, "state"), to ? "tenant " : "no tenant",
               to ? to : "", now ? now : "-");
}

static void node_move_cancelled(const struct flag_values *v, const json_t *n)
{
    printf("node %s: move cancelled; %s, tenant %s\n", human_text(n, "name"),
           human_text(n, "state"), human_text(n, "tenant"));
}

static int run_node_move(const struct flag_values *v)
{
    char path[128];
    const char *to = flags_get(v, "tenant");
    bool cancel = flags_has(v, "cancel");
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "expected a node name (a-z 0-9 . _ -), got '%.64s'",
                                 v->args[0]);
    if (cancel && (to || flags_has(v, "no-tenant")))
        return flags_usage_error(v, "--cancel takes neither --tenant nor --no-tenant");
    if (cancel) {
        snprintf(path, sizeof(path), "/v1/nodes/%s/move", v->args[0]);
        return admin_send(v, "DELETE", path, false, NULL, node_move_cancelled);
    }
    if (!to == !flags_has(v, "no-tenant"))
        return flags_usage_error(v, "give one of --tenant TENANT, --no-tenant or --cancel");
    if (to && !flags_is_name(to, strlen(to)))
        return flags_usage_error(v, "--tenant: expected a tenant name, got '%.64s'", to);
    snprintf(path, sizeof(path), "/v1/nodes/%s/move", v->args[0]);
    json_t *body = to ? json_pack("{s:s}", "tenant", to) : json_pack("{s:n}", "tenant");
    return admin_send(v, "POST", path, true, body, node_moving);
}

/* ---- users, tokens --------------------------------------------------------------------- */

static const char *const roles[] = {"admin", "tenant-admin", "workspace-admin", "member", "viewer"};

/* "what NAME: ROLE of tenant T, workspace W" of user u. */
static void user_print(const char *what, const char *sep, const json_t *u)
{
    const char *tenant = json_string_value(json_object_get(u, "tenant"));
    const char *ws = json_string_value(json_object_get(u, "workspace"));
    printf("%s %s%s%s%s%s%s%s\n", what, human_text(u, "name"), sep, human_text(u, "role"),
           tenant ? " of tenant " : " of the platform", tenant ? tenant : "",
           ws ? ", workspace " : "", ws ? ws : "");
}

static void user_created(const struct flag_values *v, const json_t *u)
{
    user_print("created user", ": ", u);
    printf("next: allot admin token create --user %s\n", human_text(u, "name"));
}

/* Check the flags a user's role, tenant and workspace come from (any may be absent); with
 * --workspace and no --tenant the workspace names the tenant. OUT *tenant (may point into
 * part). RET 0, or the usage error's exit code. */
static int user_flags_check(const struct flag_values *v, const char *role, const char **tenant,
                            const char *ws, char part[2][FLAGS_MAX_NAME + 1])
{
    size_t k = 0;
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "a user name is 1 to %d of a-z 0-9 . _ -, got '%.64s'",
                                 FLAGS_MAX_NAME, v->args[0]);
    while (role && k < sizeof(roles) / sizeof(roles[0]) && strcmp(roles[k], role) != 0)
        k++;
    if (role && k == sizeof(roles) / sizeof(roles[0]))
        return flags_usage_error(v,
                                 "--role: expected admin, tenant-admin, workspace-admin, member "
                                 "or viewer, got '%.64s'",
                                 role);
    if (*tenant && !flags_is_name(*tenant, strlen(*tenant)))
        return flags_usage_error(v, "--tenant: expected a tenant name, got '%.64s'", *tenant);
    if (ws && !flags_split_name(ws, 2, part))
        return flags_usage_error(v, "--workspace: expected TENANT/WORKSPACE, got '%.64s'", ws);
    if (ws && *tenant && strcmp(part[0], *tenant) != 0)
        return flags_usage_error(v, "--workspace %s is not in --tenant %s", ws, *tenant);
    if (ws && !*tenant)
        *tenant = part[0]; /* the workspace names its tenant */
    return 0;
}

static int run_user_create(const struct flag_values *v)
{
    const char *role = flags_get(v, "role"), *tenant = flags_get(v, "tenant");
    const char *ws = flags_get(v, "workspace");
    if (!role)
        return flags_usage_error(v, "--role is required (admin, tenant-admin, workspace-admin, "
                                    "member or viewer)");
    char part[2][FLAGS_MAX_NAME + 1];
    int rc = user_flags_check(v, role, &tenant, ws, part);
    if (rc)
        return rc;
    if (!tenant && strcmp(role, "admin") != 0)
        return flags_usage_error(v, "--tenant is required for role %s", role);
    json_t *body = json_pack("{s:s, s:s, s:s*, s:s*}", "name", v->args[0], "role", role, "tenant",
                             strcmp(role, "admin") == 0 ? NULL : tenant, "workspace", ws);
    return admin_send(v, "POST", "/v1/users", true, body, user_created);
}

static void user_changed(const struct flag_values *v, const json_t *u)
{
    user_print("user", " is now ", u);
}

static int run_user_set(const struct flag_values *v)
{
    const char *role = flags_get(v, "role"), *tenant = flags_get(v, "tenant");
    const char *ws = flags_get(v, "workspace");
    bool whole = flags_has(v, "whole-tenant");
    if (ws && whole)
        return flags_usage_error(v, "give --workspace or --whole-tenant, not both");
    char part[2][FLAGS_MAX_NAME + 1];
    int rc = user_flags_check(v, role, &tenant, ws, part);
    if (rc)
        return rc;
    if (!role && !tenant && !ws && !whole)
        return flags_usage_error(v, "nothing to change: give --role, --tenant, --workspace or "
                                    "--whole-tenant");
    json_t *body = json_pack("{s:s*, s:s*}", "role", role, "tenant", tenant);
    if (ws || whole)
        json_object_set_new(body, "workspace", ws ? json_string(ws) : json_null());
    char path[128];
    snprintf(path, sizeof(path), "/v1/users/%s", v->args[0]);
    return admin_send(v, "PATCH", path, true, body, user_changed);
}

static void user_deleted(const struct flag_values *v, const json_t *u)
{
    printf("deleted user %s and its tokens\n", human_text(u, "deleted"));
}

static int run_user_delete(const struct flag_values *v)
{
    char path[128];
    if (!flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "a user name is 1 to %d of a-z 0-9 . _ -, got '%.64s'",
                                 FLAGS_MAX_NAME, v->args[0]);
    snprintf(path, sizeof(path), "/v1/users/%s", v->args[0]);
    return admin_send(v, "DELETE", path, false, NULL, user_deleted);
}

static const struct table_column user_columns[] = {
    {"NAME", false}, {"TENANT", false}, {"ROLE", false}, {"WORKSPACE", false}};

static void users_listed(const struct flag_values *v, const json_t *answer)
{
    struct table t;
    size_t i;
    const json_t *u;
    table_init(&t, user_columns, sizeof(user_columns) / sizeof(user_columns[0]));
    json_array_foreach(json_object_get(answer, "items"), i, u)
    {
        table_row(&t);
        table_cell(&t, "%s", human_text(u, "name"));
        table_cell(&t, "%s", human_text(u, "tenant"));
        table_cell(&t, "%s", human_text(u, "role"));
        table_cell(&t, "%s", human_text(u, "workspace"));
    }
    table_print(&t, stdout);
    table_cleanup(&t);
}

static int run_user_list(const struct flag_values *v)
{
    return admin_send(v, "GET", "/v1/users", false, NULL, users_listed);
}

/* The token alone on stdout, so that `T=$(allot admin token create ...)` works; the rest on
 * stderr. */
static void token_created(const struct flag_values *v, const json_t *t)
{
    printf("%s\n", human_text(t, "token"));
    fprintf(stderr, "allot: token id %s; it is shown only this once, keep it safe\n",
            human_text(t, "id"));
}

static int run_token_create(const struct flag_values *v)
{
    const char *user = flags_get(v, "user"), *node = flags_get(v, "node");
    if (!user == !node)
        return flags_usage_error(v, "give one of --user USER or --node NODE");
    const char *name = user ? user : node;
    if (!flags_is_name(name, strlen(name)))
        return flags_usage_error(v, "--%s: expected a name (a-z 0-9 . _ -), got '%.64s'",
                                 user ? "user" : "node", name);
    if (flags_has(v, "join") && !node)
        return flags_usage_error(v, "--join goes with --node NODE");
    json_t *body = json_pack("{s:s}", user ? "user" : "node", name);
    if (flags_has(v, "join"))
        json_object_set_new(body, "join", json_true());
    return admin_send(v, "POST", "/v1/tokens", true, body, token_created);
}

static const struct table_column token_columns[] = {{"ID", false},      {"KIND", false},
                                                    {"FOR", false},     {"CREATED", false},
                                                    {"EXPIRES", false}, {"LAST USED", false}};

/* Tokens: what each acts for (a user, or a node) and when it was made and ends; the daemon
 * never sends a secret. */
static void tokens_listed(const struct flag_values *v, const json_t *answer)
{
    struct table t;
    size_t i;
    const json_t *k;
    char created[64], expires[64], last[64];
    table_init(&t, token_columns, sizeof(token_columns) / sizeof(token_columns[0]));
    json_array_foreach(json_object_get(answer, "items"), i, k)
    {
        int64_t until = human_int(k, "expires", -1);
        table_row(&t);
        table_cell(&t, "%s", human_text(k, "id"));
        table_cell(&t, "%s", human_text(k, "kind"));
        table_cell(&t, "%s%s", json_is_string(json_object_get(k, "node")) ? "node " : "",
                   human_text(k, json_is_string(json_object_get(k, "node")) ? "node" : "user"));
        table_cell(&t, "%s", human_time(human_int(k, "created", 0), created, sizeof(created)));
        table_cell(&t, "%s", until < 0 ? "never" : human_time(until, expires, sizeof(expires)));
        int64_t used = human_int(k, "last_used", -1);
        table_cell(&t, "%s", used < 0 ? "-" : human_time(used, last, sizeof(last)));
    }
    table_print(&t, stdout);
    table_cleanup(&t);
}

static int run_token_list(const struct flag_values *v)
{
    return admin_send(v, "GET", "/v1/tokens", false, NULL, tokens_listed);
}

static void token_revoked(const struct flag_values *v, const json_t *t)
{
    printf("revoked token %s\n", human_text(t, "deleted"));
}

static int run_token_revoke(const struct flag_values *v)
{
    char path[64];
    const char *id = v->args[0];
    if (strlen(id) != ADMIN_TOKEN_ID_LEN || strspn(id, "0123456789abcdef") != ADMIN_TOKEN_ID_LEN)
        return flags_usage_error(v,
                                 "expected a token id: %d hex digits (allot_<id>_<secret>), "
                                 "got '%.64s'",
                                 ADMIN_TOKEN_ID_LEN, id);
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    return admin_send(v, "DELETE", path, false, NULL, token_revoked);
}

/* ---- the table ------------------------------------------------------------------------- */

static const struct flag tenant_flags[] = {
    {"dedicated", 0, NULL, "its own clusters only (default: shared)"},
    {"max-grace", 0, "DURATION", "cap on its workloads' grace periods (5m)"},
    {"limit-queued", 0, "N", "most queued workloads of all its workspaces (default 50000)"},
    {NULL, 0, NULL, NULL},
};

static const struct flag tenant_set_flags[] = {
    {"limit-queued", 0, "N", "most queued workloads of all its workspaces"},
    {NULL, 0, NULL, NULL},
};

static const struct flag cluster_flags[] = {
    {"dedicated-to", 0, "TENANT", "only this tenant's nodes may join it"},
    {NULL, 0, NULL, NULL},
};

static const struct flag workspace_flags[] = {
    {"reserve", 0, "GPUS", "GPUs guaranteed to the workspace (2, 0.5)"},
    {"limit-gpu", 0, "GPUS", "most GPUs it may hold, or none"},
    {"limit-cpu", 0, "CPUS", "most CPUs it may hold, or none"},
    {"limit-memory", 0, "BYTES", "most memory it may hold (512Gi), or none"},
    {"limit-storage", 0, "BYTES", "most storage it may hold (1Ti), or none"},
    {"lend", 0, "BOOL", "true: others may borrow its idle reserved GPUs"},
    {"weight", 0, "N", "share of borrowable GPUs against other borrowers, 1 to 1000000"},
    {"limit-queued", 0, "N", "most queued (pending) workloads (default 10000)"},
    {"default-time-limit", 0, "DURATION", "time limit of a submission without one (2h), or none"},
    {"max-time-limit", 0, "DURATION", "longest time limit a submission may ask for (1d), or none"},
    {NULL, 0, NULL, NULL},
};

static const struct flag node_add_flags[] = {
    {"file", 'f', "FILE", "the node as JSON or YAML (- for stdin), as in docs/api.md"},
    {NULL, 0, NULL, NULL},
};

static const struct flag node_move_flags[] = {
    {"tenant", 0, "TENANT", "the tenant the node goes to"},
    {"no-tenant", 0, NULL, "the node leaves its tenant and belongs to none"},
    {"cancel", 0, NULL, "stop the move under way: the node stays with its tenant"},
    {NULL, 0, NULL, NULL},
};

static const struct flag node_drain_flags[] = {
    {"reason", 0, "TEXT", "why, shown with the node until it is ready (at most 200 bytes)"},
    {NULL, 0, NULL, NULL},
};

static const struct flag user_flags[] = {
    {"role", 0, "ROLE", "admin, tenant-admin, workspace-admin, member or viewer (required)"},
    {"tenant", 0, "TENANT", "its tenant (required but for admin; else from --workspace)"},
    {"workspace", 0, "TENANT/WS", "limit it to one workspace"},
    {NULL, 0, NULL, NULL},
};

static const struct flag user_set_flags[] = {
    {"role", 0, "ROLE", "its new role"},
    {"tenant", 0, "TENANT", "move it to this tenant (platform admin only; revokes its tokens)"},
    {"workspace", 0, "TENANT/WS", "limit it to this workspace"},
    {"whole-tenant", 0, NULL, "let its role cover its whole tenant again"},
    {NULL, 0, NULL, NULL},
};

static const struct flag token_flags[] = {
    {"user", 0, "USER", "a token for this user"},
    {"node", 0, "NODE", "a node agent's token for this node (admin only)"},
    {"join", 0, NULL,
     "with --node: a one-time join token, good for an hour (allot-agent "
     "--join-token)"},
    {NULL, 0, NULL, NULL},
};

static const struct flag_command admin_commands[] = {
    {"admin tenant create", "NAME", "Create a tenant.", NULL, tenant_flags, 1, 1, 0,
     run_tenant_create},
    {"admin tenant set", "NAME", "Change a tenant's cap on queued workloads (platform admin).",
     "A submission over the cap is refused (429) and changes nothing; what is queued stays.",
     tenant_set_flags, 1, 1, 0, run_tenant_set},
    {"admin cluster create", "NAME", "Create a cluster.", NULL, cluster_flags, 1, 1, 0,
     run_cluster_create},
    {"admin workspace create", "TENANT/WS", "Create a workspace with its reservation and limits.",
     NULL, workspace_flags, 1, 1, 0, run_workspace_create},
    {"admin workspace set", "TENANT/WS",
     "Change a workspace: only the fields whose flags are given.",
     "A reservation may not exceed the tenant's GPUs nor the workspace's GPU limit.",
     workspace_flags, 1, 1, 0, run_workspace_set},
    {"admin node add", "-f FILE", "Add a node from a JSON or YAML file.",
     "Example file: {\"name\": \"gpu-c\", \"cluster\": \"shared-1\", \"tenant\": \"acme\",\n"
     "\"cpu\": 128, \"memory\": \"1Ti\", \"gpus\": [{\"model\": \"H100-80GB\", \"count\": 8}]}",
     node_add_flags, 0, 0, 0, run_node_add},
    {"admin node drain", "NAME", "Drain a node: no new work; what runs there keeps running.",
     "The reason is shown by allot nodes until the node is ready again.\n"
     "Example: allot admin node drain gpu-a --reason \"replacing PSU\"",
     node_drain_flags, 1, 1, 0, run_node_drain},
    {"admin node undrain", "NAME", "Make a drained node ready again.", NULL, NULL, 1, 1, 0,
     run_node_undrain},
    {"admin node move", "NAME", "Give a node to another tenant: it drains first, then moves.",
     "The node takes no new work at once and joins the new tenant when nothing of the old\n"
     "tenant runs on it any more (the daemon answers 202: under way). allot nodes shows the\n"
     "move; --cancel stops it before it completes: the node stays with its tenant, ready\n"
     "again unless it was drained apart from the move.",
     node_move_flags, 1, 1, 0, run_node_move},
    {"admin user create", "NAME", "Create a user with a role.",
     "A name that exists is refused (409): creating never changes a user.", user_flags, 1, 1, 0,
     run_user_create},
    {"admin user set", "NAME", "Change a user's role, workspace or tenant.",
     "A tenant admin changes users of its tenant below its role, to roles below its own; only\n"
     "the platform admin moves a user to another tenant, which revokes the user's tokens.",
     user_set_flags, 1, 1, 0, run_user_set},
    {"admin user delete", "NAME", "Delete a user and its tokens.", NULL, NULL, 1, 1, 0,
     run_user_delete},
    {"admin user list", "", "List users: name, tenant, role and workspace.",
     "The platform admin sees every user, a tenant admin those of its own tenant.", NULL, 0, 0, 0,
     run_user_list},
    {"admin token list", "",
     "List API tokens: id, kind, user or node, created, expires, last used.",
     "Never a token's secret. The platform admin sees every token (users', nodes' and join\n"
     "tokens), a tenant admin those of its own tenant's users. LAST USED: when the daemon last\n"
     "accepted it (written at most once a minute; -: not since it was made).",
     NULL, 0, 0, 0, run_token_list},
    {"admin token create", "", "Create an API token; prints it (only this once) on stdout.",
     "Example: export ALLOT_TOKEN=$(allot admin token create --user alice)", token_flags, 0, 0, 0,
     run_token_create},
    {"admin token revoke", "ID", "Revoke a token by its id (the 16 hex digits after allot_).", NULL,
     NULL, 1, 1, 0, run_token_revoke},
    {"admin export", "", "Write the platform and the workload history as a scenario file.",
     "The platform as the controller has it now, and every workload that ran (or only those\n"
     "submitted within --since) as a submission at its real offset with the run time it had.\n"
     "Edit a copy (a reservation, a node more) and compare the two with allot sim\n"
     "(docs/what-if.md). Example: allot admin export --since 7d --output history.yaml",
     history_flags, 0, 0, 0, history_export},
};

int admin_main(int argc, char **argv)
{
    return flags_dispatch(admin_commands, sizeof(admin_commands) / sizeof(admin_commands[0]),
                          "Administer the platform: tenants, clusters, workspaces, nodes, users "
                          "and tokens.",
                          argc, argv);
}
