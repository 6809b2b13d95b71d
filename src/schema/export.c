/* Engine objects back to the API's input format, field by field as docs/simulator.md names
 * them, so that importing the result rebuilds the same platform. */
#include "schema/export.h"

#include "common/quantity.h"
#include "schema/op.h"

static json_t *op(const char *name, json_t *spec)
{
    return json_pack("{s:s, s:o}", "op", name, "spec", spec);
}

static json_t *tenant_spec(const struct sched_tenant *t)
{
    json_t *j = json_pack("{s:s, s:s}", "name", t->name, "isolation",
                          t->isolation == SCHED_ISOLATION_DEDICATED ? "dedicated" : "shared");
    if (t->max_grace_ms > 0) {
        char d[32];
        json_object_set_new(j, "max_grace",
                            json_string(quantity_format_duration(t->max_grace_ms, d, sizeof(d))));
    }
    if (t->require_image)
        json_object_set_new(j, "require_image", json_true());
    if (t->max_queued != SCHED_QUEUED_TENANT_DEFAULT)
        json_object_set_new(j, "limits", json_pack("{s:I}", "queued", (json_int_t)t->max_queued));
    return j;
}

static json_t *node_spec(const struct sched *s, const struct sched_node *n)
{
    char cpu[32], mem[32];
    json_t *labels = json_object(), *gpus = json_array();
    for (uint32_t i = 0; i < n->n_labels; i++)
        json_object_set_new(labels, n->labels[i].key, json_string(n->labels[i].value));
    for (uint32_t i = 0; i < n->n_gpus; i++) {
        const struct sched_gpu *g = &n->gpus[i];
        json_t *gj =
            json_pack("{s:s, s:b}", "model", mig_model(g->model)->name, "healthy", g->healthy);
        if (g->n_mig) {
            json_t *mig = json_array();
            for (int k = 0; k < g->n_mig; k++)
                json_array_append_new(
                    mig, json_pack("{s:s, s:i}", "profile",
                                   mig_model(g->model)->profiles[g->mig[k].profile].name, "start",
                                   g->mig[k].start));
            json_object_set_new(gj, "mig", mig);
        }
        json_array_append_new(gpus, gj);
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "name", n->name, "cluster",
                          s->clusters[n->cluster].name, "cpu",
                          quantity_format_cpu(n->cpu, cpu, sizeof(cpu)), "memory",
                          quantity_format_bytes(n->memory, mem, sizeof(mem)), "state",
                          sched_node_state_name(n->state), "labels", labels, "gpus", gpus);
    if (n->tenant != SCHED_NONE)
        json_object_set_new(j, "tenant", json_string(s->tenants[n->tenant].name));
    return j;
}

static json_t *workspace_spec(const struct sched_workspace *ws)
{
    char buf[4][32], r[32];
    json_t *limits = json_object();
    for (int k = 0; k < 4; k++) {
        int64_t v = sched_resources_get(&ws->limits, (enum sched_resource)k);
        json_object_set_new(limits, sched_resource_name((enum sched_resource)k),
                            json_string(v == SCHED_UNLIMITED
                                            ? "none"
                                            : sched_resource_format((enum sched_resource)k, v,
                                                                    buf[k], sizeof(buf[k]))));
    }
    json_object_set_new(limits, "queued", json_integer(ws->max_queued));
    json_t *j = json_pack("{s:s, s:{s:s}, s:o, s:b, s:i}", "name", ws->name, "reserved", "gpu",
                          quantity_format_gpu(ws->reserved, r, sizeof(r)), "limits", limits, "lend",
                          ws->lend, "weight", (int)ws->weight);
    if (j && ws->require_image)
        json_object_set_new(j, "require_image", json_true());
    char dur[32];
    if (j && ws->default_time_limit_ms)
        json_object_set_new(
            j, "default_time_limit",
            json_string(quantity_format_duration(ws->default_time_limit_ms, dur, sizeof(dur))));
    if (j && ws->max_time_limit_ms)
        json_object_set_new(
            j, "max_time_limit",
            json_string(quantity_format_duration(ws->max_time_limit_ms, dur, sizeof(dur))));
    json_t *min_runtime = json_object();
    for (int k = 0; k < SCHED_KIND_COUNT && min_runtime; k++) {
        char d[32];
        if (ws->min_runtime_ms[k])
            json_object_set_new(
                min_runtime, sched_kind_name((enum sched_kind)k),
                json_string(quantity_format_duration(ws->min_runtime_ms[k], d, sizeof(d))));
    }
    if (j && min_runtime && json_object_size(min_runtime))
        json_object_set_new(j, "min_runtime", min_runtime);
    else
        json_decref(min_runtime);
    return j;
}

json_t *export_platform_ops(const struct sched *s)
{
    json_t *ops = json_array();
    if (!ops)
        return NULL;
    char grace[32], age[32];
    json_t *scheduler = json_pack(
        "{s:s, s:{s:s, s:s}}", "op", OP_SCHEDULER, "spec", "default_grace",
        quantity_format_duration(s->opt.default_grace_ms, grace, sizeof(grace)), "starvation_age",
        quantity_format_duration(s->opt.starvation_age_ms, age, sizeof(age)));
    if (scheduler && s->opt.n_topology) {
        json_t *levels = json_array();
        for (uint32_t l = 0; l < s->opt.n_topology; l++)
            json_array_append_new(levels, json_string(s->opt.topology[l]));
        json_object_set_new(json_object_get(scheduler, "spec"), "topology", levels);
    }
    json_array_append_new(ops, scheduler);
    for (uint32_t i = 0; i < s->n_tenants; i++)
        json_array_append_new(ops, op(OP_TENANT_ADD, tenant_spec(&s->tenants[i])));
    for (uint32_t i = 0; i < s->n_clusters; i++) {
        const struct sched_cluster *c = &s->clusters[i];
        json_t *j = json_pack("{s:s}", "name", c->name);
        if (c->dedicated_to != SCHED_NONE)
            json_object_set_new(j, "dedicated_to", json_string(s->tenants[c->dedicated_to].name));
        json_array_append_new(ops, op(OP_CLUSTER_ADD, j));
    }
    for (uint32_t i = 0; i < s->n_nodes; i++)
        json_array_append_new(ops, op(OP_NODE_ADD, node_spec(s, &s->nodes[i])));
    for (uint32_t i = 0; i < s->n_workspaces; i++)
        json_array_append_new(ops, op(OP_WORKSPACE_ADD, workspace_spec(&s->workspaces[i])));
    return ops;
}
