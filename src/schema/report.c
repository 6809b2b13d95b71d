/* The reader of node agents' reports (report.h): every part checked before any is used, so
 * that a bad report changes nothing and its refusal names the field. */
#include "schema/report.h"

#include <string.h>

#include "common/error.h"
#include "sched/sched.h"

/* Refuse the field at path key (or key[index] when index >= 0) with message. */
static int refuse_at(struct reader *r, const char *key, long index, const char *message)
{
    size_t mark = reader_push_key(r, key, strlen(key));
    if (index >= 0)
        reader_push_index(r, (size_t)index);
    int rc = reader_fail(r, -ALLOT_EINVAL, "%s", message);
    reader_pop(r, mark);
    return rc;
}

/* The top-level shape: an object, inventory an object, gpus and workloads arrays in bounds. */
static int report_shape(struct reader *r, const json_t *j, const json_t *inv, const json_t *gpus,
                        const json_t *wls)
{
    static const char *const shape = "expected {inventory: {gpus: [...]}, workloads: [...]} "
                                     "within bounds";
    if (!json_is_object(j))
        return reader_fail(r, -ALLOT_EINVAL, "%s", shape);
    if (inv && !json_is_object(inv))
        return refuse_at(r, "inventory", -1, shape);
    if (gpus && (!json_is_array(gpus) || json_array_size(gpus) > SCHED_MAX_GPUS_PER_NODE))
        return refuse_at(r, json_is_array(gpus) ? "workloads" : "inventory.gpus", -1, shape);
    if (wls && (!json_is_array(wls) || json_array_size(wls) > REPORT_MAX_WORKLOADS))
        return refuse_at(r, "workloads", -1, shape);
    return 0;
}

static int read_gpus(struct reader *r, const json_t *gpus, uint32_t node_gpus, struct report *out)
{
    size_t i;
    const json_t *g;
    struct report_gpu *list = arena_alloc(r->arena, (json_array_size(gpus) + 1) * sizeof(*list));
    if (!list)
        return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    json_array_foreach(gpus, i, g)
    {
        json_t *index = json_object_get(g, "index");
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) >= (json_int_t)node_gpus ||
            !json_is_boolean(json_object_get(g, "healthy"))) {
            char message[96];
            snprintf(message, sizeof(message), "expected {index: 0..%u, healthy: true|false, ...}",
                     node_gpus ? node_gpus - 1 : 0);
            return refuse_at(r, "inventory.gpus", (long)i, message);
        }
        list[i] = (struct report_gpu){(uint32_t)json_integer_value(index),
                                      json_is_true(json_object_get(g, "healthy"))};
    }
    out->gpus = list;
    out->n_gpus = (uint32_t)json_array_size(gpus);
    return 0;
}

/* The system's CPUs and memory and the node's labels, as its agent sees them. */
static int read_system(struct reader *r, const json_t *inv, struct report *out)
{
    const json_t *cpu = json_object_get(inv, "cpu_millicores");
    const json_t *mem = json_object_get(inv, "memory_bytes");
    const json_t *labels = json_object_get(inv, "labels");
    if (cpu && (!json_is_integer(cpu) || json_integer_value(cpu) < 0))
        return refuse_at(r, "inventory.cpu_millicores", -1, "expected a whole number, 0 or more");
    if (mem && (!json_is_integer(mem) || json_integer_value(mem) < 0))
        return refuse_at(r, "inventory.memory_bytes", -1, "expected a whole number, 0 or more");
    bool bad = labels && (!json_is_object(labels) || json_object_size(labels) > SCHED_MAX_LABELS);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)labels, key, value)
    {
        bad = bad || strlen(key) > REPORT_MAX_LABEL || !json_is_string(value) ||
              strlen(json_string_value(value)) > REPORT_MAX_LABEL;
    }
    if (bad)
        return refuse_at(r, "inventory.labels", -1,
                         "expected at most 32 labels, strings of 1 to 63 bytes");
    out->cpu_millicores = cpu;
    out->memory_bytes = mem;
    return 0;
}

static int read_workloads(struct reader *r, const json_t *wls, struct report *out)
{
    static const char *const states[] = {"running", "exited", "stopped", "gone"};
    size_t i;
    const json_t *w;
    struct report_workload *list =
        arena_alloc(r->arena, (json_array_size(wls) + 1) * sizeof(*list));
    if (!list)
        return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    json_array_foreach(wls, i, w)
    {
        const char *name = json_string_value(json_object_get(w, "name"));
        const char *state = json_string_value(json_object_get(w, "state"));
        int known = -1;
        for (int k = 0; state && k < 4 && known < 0; k++)
            known = strcmp(state, states[k]) == 0 ? k : -1;
        if (!name || strlen(name) > REPORT_MAX_NAME || known < 0)
            return refuse_at(r, "workloads", (long)i,
                             "expected {name, state: running|exited|stopped|gone}");
        const json_t *rank = json_object_get(w, "rank");
        list[i] = (struct report_workload){name,
                                           (enum report_state)known,
                                           json_object_get(w, "exit_code"),
                                           json_object_get(w, "signal"),
                                           json_object_get(w, "reason"),
                                           json_is_integer(rank) ? rank : NULL};
    }
    out->workloads = list;
    out->n_workloads = (uint32_t)json_array_size(wls);
    return 0;
}

int report_from_json(const json_t *j, uint32_t node_gpus, struct arena *a, struct report *out,
                     struct schema_error *err)
{
    struct reader r;
    struct report rep = {0};
    reader_init(&r, a, err);
    const json_t *inv = json_object_get(j, "inventory");
    const json_t *wls = json_object_get(j, "workloads");
    const json_t *gpus = json_object_get(inv, "gpus");
    const json_t *tenant = json_object_get(j, "tenant"); /* the tenant it serves */
    if (tenant && !json_is_null(tenant) &&
        (!json_is_string(tenant) || json_string_length(tenant) > SCHEMA_MAX_NAME))
        return refuse_at(&r, "tenant", -1,
                         "expected the name of the tenant the agent serves, or null");
    int rc = report_shape(&r, j, inv, gpus, wls);
    rc = rc ? rc : read_gpus(&r, gpus, node_gpus, &rep);
    rc = rc ? rc : read_system(&r, inv, &rep);
    rc = rc ? rc : read_workloads(&r, wls, &rep);
    if (rc)
        return rc;
    rep.inventory = inv;
    rep.has_tenant = tenant != NULL;
    rep.tenant = json_string_value(tenant);
    *out = rep;
    return 0;
}
