/* `allot admin export`: reads the platform, the workloads and the stored node events from the
 * controller (the same GET routes as the other commands) and writes them as a scenario: the
 * platform with its nodes as they were at the window's start, and a timeline of submissions
 * and node changes at their real offsets, with the run times the workloads really had. One
 * JSON flow mapping per item: valid YAML, one line to edit. */
#include "cli/history.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "common/quantity.h"

const struct flag history_flags[] = {
    {"since", 0, "DURATION", "only workloads submitted this long ago or later (e.g. 7d; all)"},
    {"output", 0, "FILE", "write here instead of standard output"},
    {NULL, 0, NULL, NULL},
};

/* Copy key from src to dst when present (and, for quantities, not "none"). */
static void copy(json_t *dst, const json_t *src, const char *key)
{
    const json_t *v = json_object_get(src, key);
    if (v && !json_is_null(v) && !(json_is_string(v) && strcmp(json_string_value(v), "none") == 0))
        json_object_set(dst, key, (json_t *)v);
}

/* The node as the platform file has it: GPUs grouped into runs of one model. */
static json_t *node_spec(const json_t *n)
{
    json_t *o = json_object();
    static const char *const keys[] = {"name", "cluster", "tenant", "cpu", "memory", "labels"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        copy(o, n, keys[i]);
    const char *state = json_string_value(json_object_get(n, "state"));
    if (state && strcmp(state, "ready") != 0)
        json_object_set_new(o, "state", json_string(state));
    json_t *gpus = json_array(), *run = NULL;
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(n, "gpus"), i, g)
    {
        const json_t *mig = json_object_get(g, "mig");
        bool healthy = !json_is_false(json_object_get(g, "healthy"));
        if (json_array_size(mig) > 0) {
            json_t *layout = json_array();
            size_t k;
            const json_t *m;
            json_array_foreach(mig, k, m)
            {
                json_array_append_new(layout, json_pack("{s:O, s:O}", "profile",
                                                        json_object_get(m, "profile"), "start",
                                                        json_object_get(m, "start")));
            }
            json_t *one =
                json_pack("{s:O, s:o}", "model", json_object_get(g, "model"), "mig", layout);
            if (!healthy)
                json_object_set_new(one, "healthy", json_false());
            json_array_append_new(gpus, one);
            run = NULL;
            continue;
        }
        if (run && healthy &&
            json_equal(json_object_get(run, "model"), json_object_get(g, "model")) &&
            !json_object_get(run, "healthy")) {
            json_object_set_new(
                run, "count", json_integer(json_integer_value(json_object_get(run, "count")) + 1));
            continue;
        }
        run = json_pack("{s:O, s:i}", "model", json_object_get(g, "model"), "count", 1);
        if (!healthy)
            json_object_set_new(run, "healthy", json_false());
        json_array_append_new(gpus, run);
        if (!healthy)
            run = NULL;
    }
    json_object_set_new(o, "gpus", gpus);
    return o;
}

/* A workload as a scenario's submit, with the run time it had. NULL for one that never ran
 * (its run time is unknown: it is counted and said in the header). */
static json_t *submit_spec(const json_t *w, int64_t now_ms)
{
    const json_t *started = json_object_get(w, "started");
    if (!json_is_integer(started))
        return NULL;
    const char *full = json_string_value(json_object_get(w, "name"));
    const char *slash = full ? strrchr(full, '/') : NULL;
    json_t *o = json_pack("{s:s}", "name", slash ? slash + 1 : "");
    static const char *const keys[] = {"workspace", "kind",  "priority", "preemptible", "gpus",
                                       "mig",       "model", "replicas", "cpu",         "memory",
                                       "storage",   "grace", "image",    "time_limit"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        copy(o, w, keys[i]);
    if (json_object_get(o, "mig"))
        json_object_del(o, "gpus");
    /* its last run: from its (last) start to its end, or to now while it runs */
    const json_t *ended = json_object_get(w, "ended");
    int64_t end = json_is_integer(ended) ? json_integer_value(ended) : now_ms;
    int64_t ms = end - json_integer_value(started);
    char d[32];
    snprintf(d, sizeof(d), "%" PRId64 "ms", ms > 1 ? ms : 1);
    json_object_set_new(o, "duration", json_string(d));
    return o;
}

/* Write items as a YAML block list under key, one JSON flow mapping per item. */
static void put_list(FILE *f, const char *key, const json_t *items)
{
    fprintf(f, "%s:\n", key);
    size_t i;
    const json_t *x;
    json_array_foreach(items, i, x)
    {
        char *text = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f, "  - %s\n", text ? text : "{}");
        free(text);
    }
    if (json_array_size(items) == 0)
        fprintf(f, "  []\n");
}

static int by_submitted(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(const json_t *const *)a, "submitted"));
    json_int_t y = json_integer_value(json_object_get(*(const json_t *const *)b, "submitted"));
    return x < y ? -1 : x > y;
}

/* The platform's tenants, each with its workspaces, as the scenario writes them.
 * RET a new array. */
static json_t *export_tenants(const json_t *tenants, const json_t *spaces)
{
    json_t *ptenants = json_array();
    size_t i, k;
    const json_t *t, *w;
    json_array_foreach(tenants, i, t)
    {
        json_t *pt = json_object(), *pws = json_array();
        copy(pt, t, "name");
        copy(pt, t, "isolation");
        copy(pt, t, "max_grace");
        if (json_is_true(json_object_get(t, "require_image")))
            copy(pt, t, "require_image");
        json_array_foreach(spaces, k, w)
        {
            if (!json_equal(json_object_get(w, "tenant"), json_object_get(t, "name")))
                continue;
            const char *full = json_string_value(json_object_get(w, "name"));
            const char *slash = full ? strchr(full, '/') : NULL;
            json_t *limits = json_object();
            const json_t *l = json_object_get(w, "limits");
            copy(limits, l, "gpu");
            copy(limits, l, "cpu");
            copy(limits, l, "memory");
            copy(limits, l, "storage");
            json_t *pw = json_pack("{s:s}", "name", slash ? slash + 1 : "");
            copy(pw, w, "reserved");
            if (json_object_size(limits))
                json_object_set(pw, "limits", limits);
            json_decref(limits);
            copy(pw, w, "lend");
            copy(pw, w, "weight");
            if (json_is_true(json_object_get(w, "require_image")))
                copy(pw, w, "require_image");
            json_array_append_new(pws, pw);
        }
        json_object_set_new(pt, "workspaces", pws);
        json_array_append_new(ptenants, pt);
    }
    return ptenants;
}

/* One step of the exported timeline, before it is written: its offset and the order it was
 * made in (steps of one instant keep it). */
struct export_step {
    int64_t at;
    size_t made;
    json_t *step;
};

static int by_at(const void *a, const void *b)
{
    const struct export_step *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at ? 1 : x->made < y->made ? -1 : x->made > y->made;
}

/* A stored event's time ("t", seconds since the epoch) in milliseconds. */
static int64_t event_ms(const json_t *ev)
{
    return (int64_t)llround(json_number_value(json_object_get(ev, "t")) * 1000.0);
}

/* A node's state before its first change of the window: the event's "from"; an event stored
 * before the daemon wrote it has none, and the state before a change to ready is taken as
 * draining, before any other as ready. */
static const char *state_before(const json_t *ev)
{
    const char *from = json_string_value(json_object_get(ev, "from"));
    const char *to = json_string_value(json_object_get(ev, "state"));
    if (from)
        return from;
    return to && strcmp(to, "ready") == 0 ? "draining" : "ready";
}

/* Put nodes (the controller's views, changed in place) back in the state they had at the
 * window's start, and make a timeline step of each change from then on: the node events
 * (node_state, gpu_health, oldest first) stamped at start or later, about nodes the platform
 * still has. The first change of a node says its state before (its "from"), of a GPU its
 * health before (the opposite of the new one); a node or GPU with no change keeps its state of
 * now. OUT steps[*n] appended (each step's "at" still the event's time in ms), *first: the
 * time of the first change (INT64_MAX: none). RET 0 or -1 (memory). */
static int export_node_changes(json_t *nodes, const json_t *events, int64_t start,
                               struct export_step *steps, size_t *n, int64_t *first)
{
    json_t *seen = json_object(); /* "node" or "node/gpu" already set to its state before */
    json_t *by_name = json_object();
    size_t i;
    const json_t *ev;
    json_t *node;
    int rc = -1;
    *first = INT64_MAX;
    if (!seen || !by_name)
        goto out;
    json_array_foreach(nodes, i, node)
    {
        const char *name = json_string_value(json_object_get(node, "name"));
        if (name && json_object_set(by_name, name, node))
            goto out;
    }
    json_array_foreach(events, i, ev)
    {
        const char *kind = json_string_value(json_object_get(ev, "event"));
        const char *name = json_string_value(json_object_get(ev, "node"));
        node = name ? json_object_get(by_name, name) : NULL;
        int64_t t = event_ms(ev);
        if (!kind || !node || t < start)
            continue;
        bool gpu = strcmp(kind, "gpu_health") == 0;
        json_int_t index = json_integer_value(json_object_get(ev, "gpu"));
        json_t *g = gpu ? json_array_get(json_object_get(node, "gpus"), (size_t)index) : NULL;
        if ((gpu && (!g || !json_is_boolean(json_object_get(ev, "healthy")))) ||
            (!gpu && (strcmp(kind, "node_state") != 0 || !json_object_get(ev, "state"))))
            continue;
        char key[320];
        snprintf(key, sizeof(key), gpu ? "%s/%lld" : "%s", name, (long long)index);
        if (!json_object_get(seen, key)) {
            if (gpu)
                json_object_set_new(g, "healthy",
                                    json_boolean(!json_is_true(json_object_get(ev, "healthy"))));
            else
                json_object_set_new(node, "state", json_string(state_before(ev)));
            json_object_set_new(seen, key, json_true());
        }
        json_t *step =
            gpu ? json_pack("{s:I, s:{s:s, s:I, s:O}}", "at", (json_int_t)t, "gpu", "node", name,
                            "index", index, "healthy", json_object_get(ev, "healthy"))
                : json_pack("{s:I, s:{s:s, s:O}}", "at", (json_int_t)t, "node", "name", name,
                            "state", json_object_get(ev, "state"));
        if (!step)
            goto out;
        steps[*n] = (struct export_step){t, *n, step};
        (*n)++;
        if (t < *first)
            *first = t;
    }
    rc = 0;
out:
    json_decref(by_name);
    json_decref(seen);
    return rc;
}

/* The timeline: the workloads submitted in the last since_ms (< 0: all) before now, and the
 * node changes from the window's start on (the first such submission, or now - since_ms),
 * in order, at their offsets from the first item exported. nodes are set back to their state
 * at the window's start (export_node_changes). OUT *never_ran: how many were left out because
 * they never ran; *changes: node changes exported. RET a new array, or NULL when memory ran
 * out. */
static json_t *export_timeline(const json_t *wls, json_t *nodes, const json_t *events,
                               int64_t since_ms, int64_t now, size_t *never_ran, size_t *changes)
{
    size_t n = json_array_size(wls), used = 0, n_steps = 0, i;
    const json_t *w;
    const json_t **order = calloc(n ? n : 1, sizeof(*order));
    struct export_step *steps = calloc(n + json_array_size(events) + 1, sizeof(*steps));
    json_t *timeline = order && steps ? json_array() : NULL;
    *never_ran = *changes = 0;
    if (!timeline)
        goto out;
    json_array_foreach(wls, i, w)
    {
        json_int_t at = json_integer_value(json_object_get(w, "submitted"));
        if (since_ms < 0 || at >= now - since_ms)
            order[used++] = w;
    }
    qsort(order, used, sizeof(*order), by_submitted);
    int64_t first = used ? json_integer_value(json_object_get(order[0], "submitted")) : now;
    int64_t start = since_ms >= 0 ? now - since_ms : first, t0;
    if (export_node_changes(nodes, events, start, steps, &n_steps, &t0))
        goto fail;
    *changes = n_steps;
    if (first < t0)
        t0 = first;
    for (i = 0; i < used; i++) {
        json_t *s = submit_spec(order[i], now);
        if (!s) {
            (*never_ran)++;
            continue;
        }
        int64_t at = json_integer_value(json_object_get(order[i], "submitted"));
        steps[n_steps] = (struct export_step){
            at, n_steps, json_pack("{s:I, s:o}", "at", (json_int_t)at, "submit", s)};
        if (!steps[n_steps++].step)
            goto fail;
    }
    qsort(steps, n_steps, sizeof(*steps), by_at);
    for (i = 0; i < n_steps; i++) {
        char at[32];
        snprintf(at, sizeof(at), "%" PRId64 "ms", steps[i].at - t0);
        if (json_object_set_new(steps[i].step, "at", json_string(at)) ||
            json_array_append(timeline, steps[i].step))
            goto fail;
    }
    goto out;
fail:
    json_decref(timeline);
    timeline = NULL;
out:
    for (i = 0; steps && i < n_steps; i++)
        json_decref(steps[i].step);
    free(steps);
    free(order);
    return timeline;
}

int history_export(const struct flag_values *v)
{
    struct client cl = {0};
    json_t *tenants = NULL, *clusters = NULL, *nodes = NULL, *spaces = NULL, *wls = NULL;
    json_t *events = NULL;
    json_t *ptenants = NULL, *pclusters = NULL, *pnodes = NULL, *timeline = NULL;
    FILE *out = stdout;
    int64_t since_ms = -1;
    size_t never_ran = 0, changes = 0, i;
    const json_t *t;
    const char *since = flags_get(v, "since"), *path = flags_get(v, "output");
    if (since && (quantity_parse_duration(since, &since_ms) || since_ms < 1))
        return flags_usage_error(v, "--since: expected a duration such as 7d or 12h");
    int rc = client_open(&cl, v);
    if (rc || (rc = client_fetch_all(&cl, "/v1/tenants", &tenants)) ||
        (rc = client_fetch_all(&cl, "/v1/clusters", &clusters)) ||
        (rc = client_fetch_all(&cl, "/v1/nodes?limit=1000", &nodes)) ||
        (rc = client_fetch_all(&cl, "/v1/workspaces", &spaces)) ||
        (rc = client_fetch_all(&cl, "/v1/workloads?limit=1000", &wls)) ||
        (rc = client_fetch_all(&cl, "/v1/events?format=json&event=node_state,gpu_health&limit=1000",
                               &events)))
        goto out;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ptenants = export_tenants(tenants, spaces);
    pclusters = json_array();
    pnodes = json_array();
    json_array_foreach(clusters, i, t)
    {
        json_t *c = json_object();
        copy(c, t, "name");
        copy(c, t, "dedicated_to");
        json_array_append_new(pclusters, c);
    }
    /* the timeline first: it sets the nodes back to their state at the window's start */
    if (!(timeline = export_timeline(wls, nodes, events, since_ms, now, &never_ran, &changes))) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    json_array_foreach(nodes, i, t)
    {
        json_array_append_new(pnodes, node_spec(t));
    }
    if (path && !(out = fopen(path, "w"))) {
        fprintf(stderr, "allot admin export: cannot write %s\n", path);
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    fprintf(
        out,
        "# Exported from %s by `allot admin export`: the platform as it was at the start\n"
        "# (nodes' states and GPUs' health from the stored events), %zu submissions with the\n"
        "# run times they had (a running one: so far) and %zu node and GPU changes. %zu that\n"
        "# never ran are left out (their run time is unknown). Not carried: node moves between\n"
        "# tenants (a node is in its tenant of now), nodes added or removed meanwhile, and\n"
        "# changes older than the events kept (allotd --events-keep, 30 days): a node with no\n"
        "# change stored keeps its state of now. Replay: allot sim FILE\n",
        cl.server, json_array_size(timeline) - changes, changes, never_ran);
    put_list(out, "tenants", ptenants);
    put_list(out, "clusters", pclusters);
    put_list(out, "nodes", pnodes);
    put_list(out, "timeline", timeline);
    if (out != stdout && fclose(out) != 0)
        rc = FLAGS_EXIT_FAILED;
out:
    json_decref(ptenants);
    json_decref(pclusters);
    json_decref(pnodes);
    json_decref(timeline);
    json_decref(tenants);
    json_decref(clusters);
    json_decref(nodes);
    json_decref(spaces);
    json_decref(wls);
    json_decref(events);
    client_close(&cl);
    return rc;
}
