/* The capacity subcommands of `allot` (nodes, ws, top): what the platform holds and who uses
 * it, as tables computed from the daemon's node, workspace and tenant views. The table at the
 * end is their grammar and help (docs/cli.md). */
#include "cli/capacity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/flags.h"
#include "cli/human.h"
#include "cli/table.h"

#define N_COLUMNS(c) (sizeof(c) / sizeof((c)[0]))

/* GPU amount at key of o, in the daemon's form; "?" when it cannot be read. */
static const char *gpu_text(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

/* a - b of two GPU amounts at keys of o, printed into buf. */
static const char *gpu_difference(const json_t *o, const char *a, const char *b, char *buf,
                                  size_t len)
{
    int64_t x, y;
    if (human_gpu_units(json_object_get(o, a), &x) || human_gpu_units(json_object_get(o, b), &y))
        return "?";
    return human_gpu(x > y ? x - y : 0, buf, len);
}

/* ---- nodes ----------------------------------------------------------------------------- */

/* Whether GPU g ({holder} or {mig: [{holder}]}) holds any workload. */
static bool gpu_busy(const json_t *g)
{
    const json_t *mig = json_object_get(g, "mig");
    if (!mig)
        return json_is_string(json_object_get(g, "holder"));
    for (size_t i = 0; i < json_array_size(mig); i++)
        if (json_is_string(json_object_get(json_array_get(mig, i), "holder")))
            return true;
    return false;
}

/* Distinct GPU models of a node (the first 8), joined by '+'; "-" for none. */
static void models_text(const json_t *gpus, char *buf, size_t len)
{
    const char *seen[8];
    size_t n_seen = 0, used = 0, i, k;
    const json_t *g;
    buf[0] = '\0';
    json_array_foreach(gpus, i, g)
    {
        const char *m = human_text(g, "model");
        for (k = 0; k < n_seen && strcmp(seen[k], m) != 0; k++)
            ;
        if (k < n_seen || n_seen == 8 || used + strlen(m) + 2 >= len)
            continue;
        seen[n_seen++] = m;
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "+" : "", m);
    }
    if (!buf[0])
        snprintf(buf, len, "-");
}

static const struct table_column node_columns[] = {
    {"NAME", false},  {"CLUSTER", false}, {"TENANT", false}, {"STATE", false},
    {"MODEL", false}, {"GPUS", true},     {"BUSY", true},    {"UNHEALTHY", true},
    {"CPU", true},    {"MEMORY", true},   {"AGENT", false},  {"REASON", false},
};

/* A node's state, with its move under way: "draining (moving to acme)", ", then wipe" while
 * the move waits for its agent's wipe, "no tenant" for a move to none. */
static void state_text(const json_t *n, char *buf, size_t len)
{
    const json_t *move = json_object_get(n, "moving");
    if (!move) {
        snprintf(buf, len, "%s", human_text(n, "state"));
        return;
    }
    const char *to = json_string_value(json_object_get(move, "to"));
    const char *waits = json_string_value(json_object_get(move, "waits_for"));
    snprintf(buf, len, "%s (moving to %s%s)", human_text(n, "state"), to ? to : "no tenant",
             waits && strcmp(waits, "wipe") == 0 ? ", waits for its wipe" : "");
}

static void node_row(struct table *t, const json_t *n)
{
    const json_t *gpus = json_object_get(n, "gpus"), *g;
    size_t i, busy = 0, sick = 0;
    char models[128], state[320];
    json_array_foreach(gpus, i, g)
    {
        busy += gpu_busy(g);
        sick += !json_is_true(json_object_get(g, "healthy"));
    }
    models_text(gpus, models, sizeof(models));
    table_row(t);
    table_cell(t, "%s", human_text(n, "name"));
    table_cell(t, "%s", human_text(n, "cluster"));
    table_cell(t, "%s", human_text(n, "tenant"));
    state_text(n, state, sizeof(state));
    table_cell(t, "%s", state);
    table_cell(t, "%s", models);
    table_cell(t, "%zu", json_array_size(gpus));
    table_cell(t, "%zu", busy);
    table_cell(t, "%zu", sick);
    table_cell(t, "%s/%s", human_text(n, "cpu_used"), human_text(n, "cpu"));
    table_cell(t, "%s/%s", human_text(n, "memory_used"), human_text(n, "memory"));
    /* "reporting, declared GPUs": whether an agent speaks for the node, and of which GPUs */
    const json_t *agent = json_object_get(n, "agent");
    const char *gpus_of = json_string_value(json_object_get(agent, "gpus"));
    table_cell(t, "%s%s%s%s", human_text(agent, "state"), gpus_of ? ", " : "",
               gpus_of ? gpus_of : "", gpus_of ? " GPUs" : "");
    table_cell(t, "%s", human_text(n, "reason"));
}

static const struct table_column gpu_columns[] = {
    {"GPU", true}, {"MODEL", false}, {"HEALTHY", false}, {"SLICE", false}, {"HOLDER", false},
};

/* One node's GPUs, one row per whole GPU or MIG instance. */
static void gpu_rows(struct table *t, const json_t *node)
{
    const json_t *g, *slot;
    size_t i, k;
    json_array_foreach(json_object_get(node, "gpus"), i, g)
    {
        const json_t *mig = json_object_get(g, "mig");
        if (!json_array_size(mig)) {
            table_row(t);
            table_cell(t, "%lld", (long long)human_int(g, "index", -1));
            table_cell(t, "%s", human_text(g, "model"));
            table_cell(t, "%s", json_is_true(json_object_get(g, "healthy")) ? "yes" : "no");
            table_cell(t, "whole");
            table_cell(t, "%s", human_text(g, "holder"));
            continue;
        }
        json_array_foreach(mig, k, slot)
        {
            table_row(t);
            table_cell(t, "%lld", (long long)human_int(g, "index", -1));
            table_cell(t, "%s", human_text(g, "model"));
            table_cell(t, "%s", json_is_true(json_object_get(g, "healthy")) ? "yes" : "no");
            table_cell(t, "%s@%lld", human_text(slot, "profile"),
                       (long long)human_int(slot, "start", -1));
            table_cell(t, "%s", human_text(slot, "holder"));
        }
    }
}

static int run_nodes(const struct flag_values *v)
{
    char path[128];
    struct client cl = {0};
    struct client_answer a = {0};
    json_t *items = NULL;
    struct table t;
    int rc;
    if (v->n_args && !flags_is_name(v->args[0], strlen(v->args[0])))
        return flags_usage_error(v, "expected a node name (a-z 0-9 . _ -), got '%.64s'",
                                 v->args[0]);
    snprintf(path, sizeof(path), "/v1/nodes%s%s", v->n_args ? "/" : "",
             v->n_args ? v->args[0] : "?limit=1000");
    bool one = v->n_args == 1;
    table_init(&t, one ? gpu_columns : node_columns,
               one ? N_COLUMNS(gpu_columns) : N_COLUMNS(node_columns));
    if ((rc = client_open(&cl, v)))
        goto out;
    if (!one) { /* every page of the list */
        if ((rc = client_fetch_all(&cl, path, &items)))
            goto out;
        if (v->json) {
            json_t *doc = json_pack("{s:O}", "items", items);
            char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            rc = text ? 0 : FLAGS_EXIT_FAILED;
            if (text)
                printf("%s\n", text);
            free(text);
            json_decref(doc);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(items); i++)
            node_row(&t, json_array_get(items, i));
    } else {
        if ((rc = client_fetch(&cl, "GET", path, NULL, &a)))
            goto out;
        if (v->json) {
            client_print_json(&a);
            goto out;
        }
        struct table summary;
        table_init(&summary, node_columns, N_COLUMNS(node_columns));
        node_row(&summary, a.json);
        rc = table_print(&summary, stdout) ? FLAGS_EXIT_FAILED : 0;
        table_cleanup(&summary);
        if (json_is_string(json_object_get(a.json, "reason"))) {
            char when[64];
            const char *by = json_string_value(json_object_get(a.json, "reason_by"));
            printf("reason: %s (by %s, %s)\n", human_text(a.json, "reason"), by ? by : "allotd",
                   human_time(human_int(a.json, "reason_at", 0), when, sizeof(when)));
        }
        printf("\n");
        gpu_rows(&t, a.json);
    }
    if (table_print(&t, stdout))
        rc = FLAGS_EXIT_FAILED;
out:
    json_decref(items);
    table_cleanup(&t);
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

/* ---- ws -------------------------------------------------------------------------------- */

static const struct table_column ws_columns[] = {
    {"WORKSPACE", false}, {"RESERVED", true},   {"LIMIT", true},
    {"HELD", true},       {"GUARANTEED", true}, {"BORROWED", true},
    {"PENDING", true},    {"LEND", false},      {"WEIGHT", true},
};

static void ws_row(struct table *t, const json_t *w)
{
    const json_t *usage = json_object_get(w, "usage");
    table_row(t);
    table_cell(t, "%s", human_text(w, "name"));
    table_cell(t, "%s", gpu_text(json_object_get(w, "reserved"), "gpu"));
    table_cell(t, "%s", gpu_text(json_object_get(w, "limits"), "gpu"));
    table_cell(t, "%s", gpu_text(usage, "gpu_held"));
    table_cell(t, "%s", gpu_text(usage, "gpu_guaranteed"));
    table_cell(t, "%s", gpu_text(usage, "gpu_borrowed"));
    table_cell(t, "%lld", (long long)human_int(usage, "pending", 0));
    table_cell(t, "%s", json_is_true(json_object_get(w, "lend")) ? "yes" : "no");
    table_cell(t, "%lld", (long long)human_int(w, "weight", 1));
}

static int run_ws(const struct flag_values *v)
{
    char path[160], part[2][FLAGS_MAX_NAME + 1];
    struct client cl = {0};
    struct client_answer a = {0};
    struct table t;
    int rc;
    if (v->n_args && !flags_split_name(v->args[0], 2, part))
        return flags_usage_error(v, "expected TENANT/WORKSPACE, got '%.64s'", v->args[0]);
    if (v->n_args)
        snprintf(path, sizeof(path), "/v1/workspaces/%s/%s", part[0], part[1]);
    else
        snprintf(path, sizeof(path), "/v1/workspaces");
    table_init(&t, ws_columns, N_COLUMNS(ws_columns));
    if ((rc = client_open(&cl, v)) || (rc = client_fetch(&cl, "GET", path, NULL, &a)))
        goto out;
    if (v->json) {
        client_print_json(&a);
        goto out;
    }
    if (v->n_args)
        ws_row(&t, a.json);
    else
        for (size_t i = 0; i < json_array_size(json_object_get(a.json, "items")); i++)
            ws_row(&t, json_array_get(json_object_get(a.json, "items"), i));
    if (table_print(&t, stdout))
        rc = FLAGS_EXIT_FAILED;
    if (v->n_args) {
        /* one workspace: its other limits and usage too */
        const json_t *lim = json_object_get(a.json, "limits");
        const json_t *use = json_object_get(a.json, "usage");
        printf("\nlimits: cpu %s, memory %s, storage %s\n", human_text(lim, "cpu"),
               human_text(lim, "memory"), human_text(lim, "storage"));
        printf("in use: cpu %s, memory %s, storage %s\n", human_text(use, "cpu"),
               human_text(use, "memory"), human_text(use, "storage"));
    }
out:
    table_cleanup(&t);
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

/* ---- top ------------------------------------------------------------------------------- */

static const struct table_column tenant_columns[] = {
    {"TENANT", false},   {"ISOLATION", false}, {"NODES", true},    {"GPUS", true},
    {"ALLOCATED", true}, {"FREE", true},       {"RESERVED", true}, {"UNAVAILABLE", true},
};

static const struct table_column usage_columns[] = {
    {"WORKSPACE", false}, {"HELD", true},  {"GUARANTEED", true}, {"BORROWED", true},
    {"RESERVED", true},   {"LIMIT", true}, {"PENDING", true},
};

static int run_top(const struct flag_values *v)
{
    struct client cl = {0};
    struct client_answer tenants = {0}, workspaces = {0};
    struct table t, u;
    const json_t *o;
    char alloc[48], gone[48];
    size_t i;
    int rc;
    table_init(&t, tenant_columns, N_COLUMNS(tenant_columns));
    table_init(&u, usage_columns, N_COLUMNS(usage_columns));
    if ((rc = client_open(&cl, v)) ||
        (rc = client_fetch(&cl, "GET", "/v1/tenants", NULL, &tenants)) ||
        (rc = client_fetch(&cl, "GET", "/v1/workspaces", NULL, &workspaces)))
        goto out;
    if (v->json) {
        /* two answers, one document */
        json_t *doc = json_pack("{s:O, s:O}", "tenants", json_object_get(tenants.json, "items"),
                                "workspaces", json_object_get(workspaces.json, "items"));
        if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) != 0)
            rc = FLAGS_EXIT_FAILED;
        printf("\n");
        json_decref(doc);
        goto out;
    }
    json_array_foreach(json_object_get(tenants.json, "items"), i, o)
    {
        const json_t *gpus = json_object_get(o, "gpus");
        table_row(&t);
        table_cell(&t, "%s", human_text(o, "name"));
        table_cell(&t, "%s", human_text(o, "isolation"));
        table_cell(&t, "%lld", (long long)human_int(o, "nodes", 0));
        table_cell(&t, "%s", gpu_text(gpus, "owned"));
        /* allocated: healthy GPUs on ready nodes that are not free */
        table_cell(&t, "%s", gpu_difference(gpus, "healthy", "free", alloc, sizeof(alloc)));
        table_cell(&t, "%s", gpu_text(gpus, "free"));
        table_cell(&t, "%s", gpu_text(gpus, "reserved"));
        table_cell(&t, "%s", gpu_difference(gpus, "owned", "healthy", gone, sizeof(gone)));
    }
    json_array_foreach(json_object_get(workspaces.json, "items"), i, o)
    {
        const json_t *usage = json_object_get(o, "usage");
        table_row(&u);
        table_cell(&u, "%s", human_text(o, "name"));
        table_cell(&u, "%s", gpu_text(usage, "gpu_held"));
        table_cell(&u, "%s", gpu_text(usage, "gpu_guaranteed"));
        table_cell(&u, "%s", gpu_text(usage, "gpu_borrowed"));
        table_cell(&u, "%s", gpu_text(json_object_get(o, "reserved"), "gpu"));
        table_cell(&u, "%s", gpu_text(json_object_get(o, "limits"), "gpu"));
        table_cell(&u, "%lld", (long long)human_int(usage, "pending", 0));
    }
    if (table_print(&t, stdout) || printf("\n") < 0 || table_print(&u, stdout))
        rc = FLAGS_EXIT_FAILED;
out:
    table_cleanup(&t);
    table_cleanup(&u);
    client_answer_cleanup(&tenants);
    client_answer_cleanup(&workspaces);
    client_close(&cl);
    return rc;
}

/* ---- the table ------------------------------------------------------------------------- */

static const struct flag_command capacity_commands[] = {
    {"nodes", "[NODE]",
     "List nodes: owner, state (and move under way), GPUs busy and unhealthy, CPU and memory in "
     "use, why drained.",
     "With NODE, also each GPU (or MIG instance) and the workload that holds it.", NULL, 0, 1, 0,
     run_nodes},
    {"ws", "[TENANT/WS]",
     "List workspaces: GPU reservation and limit against held, guaranteed, borrowed, pending.",
     "guaranteed + borrowed is the workspace's position: GPUs held (less those draining) and\n"
     "claimed, split at its reservation. docs/policy.md tells how borrowing works.",
     NULL, 0, 1, 0, run_ws},
    {"top", "", "GPUs per tenant (total, allocated, free, reserved) and per workspace.",
     "-o json prints one document: {\"tenants\": [...], \"workspaces\": [...]}, the items of\n"
     "GET /v1/tenants and GET /v1/workspaces.",
     NULL, 0, 0, 0, run_top},
};

int capacity_main(int argc, char **argv)
{
    return flags_dispatch(capacity_commands, N_COLUMNS(capacity_commands), NULL, argc, argv);
}
