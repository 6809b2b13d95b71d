/* The reader of node agents' reports (nodereport.h): every part checked before any is used, so
 * that a bad report changes nothing and its refusal names the field. */
#include "schema/nodereport.h"

#include <string.h>

#include "common/error.h"
#include "schema/spec.h"
#include "sched/sched.h"

_Static_assert(PROTOCOL_MAX_LABEL == SCHEMA_MAX_LABEL, "a label is a label everywhere");

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
    size_t n, mark;
    int rc = 0;
    if (!json_is_object(j))
        return reader_fail(r, -ALLOT_EINVAL,
                           "expected {inventory: {gpus: [...]}, workloads: [...]}, found %s",
                           reader_type_name(r, j));
    if (inv && !json_is_object(inv))
        return refuse_at(r, PROTOCOL_FIELD_INVENTORY, -1, "expected an object");
    if (gpus) {
        mark = reader_push_key(r, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_GPUS,
                               strlen(PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_GPUS));
        rc = reader_array(r, gpus, SCHED_MAX_GPUS_PER_NODE, "GPUs", &n);
        reader_pop(r, mark);
    }
    if (rc == 0 && wls) {
        mark = reader_push_key(r, PROTOCOL_FIELD_WORKLOADS, strlen(PROTOCOL_FIELD_WORKLOADS));
        rc = reader_array(r, wls, PROTOCOL_MAX_REPORTED, "workloads", &n);
        reader_pop(r, mark);
    }
    return rc;
}

static int read_gpus(struct reader *r, const json_t *gpus, uint32_t node_gpus,
                     struct nodereport *out)
{
    size_t i;
    const json_t *g;
    struct nodereport_gpu *list =
        arena_alloc(r->arena, (json_array_size(gpus) + 1) * sizeof(*list));
    if (!list)
        return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    json_array_foreach(gpus, i, g)
    {
        json_t *index = json_object_get(g, PROTOCOL_FIELD_INDEX);
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) >= (json_int_t)node_gpus ||
            !json_is_boolean(json_object_get(g, PROTOCOL_FIELD_HEALTHY))) {
            char message[96];
            snprintf(message, sizeof(message), "expected {index: 0..%u, healthy: true|false, ...}",
                     node_gpus ? node_gpus - 1 : 0);
            return refuse_at(r, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_GPUS, (long)i, message);
        }
        list[i] = (struct nodereport_gpu){(uint32_t)json_integer_value(index),
                                          json_is_true(json_object_get(g, PROTOCOL_FIELD_HEALTHY))};
    }
    out->gpus = list;
    out->n_gpus = (uint32_t)json_array_size(gpus);
    return 0;
}

/* The system's CPUs and memory and the node's labels, as its agent sees them. */
static int read_system(struct reader *r, const json_t *inv, struct nodereport *out)
{
    const json_t *cpu = json_object_get(inv, PROTOCOL_FIELD_CPU_MILLICORES);
    const json_t *mem = json_object_get(inv, PROTOCOL_FIELD_MEMORY_BYTES);
    const json_t *labels = json_object_get(inv, PROTOCOL_FIELD_LABELS);
    if (cpu && (!json_is_integer(cpu) || json_integer_value(cpu) < 0))
        return refuse_at(r, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_CPU_MILLICORES, -1,
                         "expected a whole number, 0 or more");
    if (mem && (!json_is_integer(mem) || json_integer_value(mem) < 0))
        return refuse_at(r, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_MEMORY_BYTES, -1,
                         "expected a whole number, 0 or more");
    if (labels) {
        struct sched_label kept[SCHED_MAX_LABELS];
        uint32_t n;
        size_t mark = reader_push_key(r, PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_LABELS,
                                      strlen(PROTOCOL_FIELD_INVENTORY "." PROTOCOL_FIELD_LABELS));
        int rc = spec_read_labels(r, labels, kept, &n);
        reader_pop(r, mark);
        if (rc)
            return rc;
    }
    out->cpu_millicores = cpu;
    out->memory_bytes = mem;
    return 0;
}

static int read_workloads(struct reader *r, const json_t *wls, struct nodereport *out)
{
    static const char *const states[] = {PROTOCOL_STATE_RUNNING, PROTOCOL_STATE_EXITED,
                                         PROTOCOL_STATE_STOPPED, PROTOCOL_STATE_GONE};
    size_t i;
    const json_t *w;
    struct nodereport_workload *list =
        arena_alloc(r->arena, (json_array_size(wls) + 1) * sizeof(*list));
    if (!list)
        return reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    json_array_foreach(wls, i, w)
    {
        const char *name = json_string_value(json_object_get(w, PROTOCOL_FIELD_NAME));
        const char *state = json_string_value(json_object_get(w, PROTOCOL_FIELD_STATE));
        int known = -1;
        for (int k = 0; state && k < 4 && known < 0; k++)
            known = strcmp(state, states[k]) == 0 ? k : -1;
        if (!name || strlen(name) > PROTOCOL_MAX_WORKLOAD_NAME || known < 0)
            return refuse_at(r, PROTOCOL_FIELD_WORKLOADS, (long)i,
                             "expected {name, state: running|exited|stopped|gone}");
        const json_t *rank = json_object_get(w, PROTOCOL_FIELD_RANK);
        const json_t *checkpoint = json_object_get(w, PROTOCOL_FIELD_CHECKPOINT);
        if (checkpoint && (!json_is_integer(checkpoint) || json_integer_value(checkpoint) < 1 ||
                           json_integer_value(checkpoint) > NODEREPORT_MAX_TIME_MS))
            return refuse_at(r, PROTOCOL_FIELD_WORKLOADS, (long)i,
                             "checkpoint: expected milliseconds since the epoch");
        list[i] = (struct nodereport_workload){
            name,
            (enum nodereport_state)known,
            json_object_get(w, PROTOCOL_FIELD_EXIT_CODE),
            json_object_get(w, PROTOCOL_FIELD_SIGNAL),
            json_object_get(w, PROTOCOL_FIELD_REASON),
            json_is_integer(rank) ? rank : NULL,
            checkpoint ? json_integer_value(checkpoint) : 0,
            json_is_true(json_object_get(w, PROTOCOL_FIELD_TIME_LIMIT))};
    }
    out->workloads = list;
    out->n_workloads = (uint32_t)json_array_size(wls);
    return 0;
}

int nodereport_from_json(const json_t *j, uint32_t node_gpus, struct arena *a,
                         struct nodereport *out, struct schema_error *err)
{
    struct reader r;
    struct nodereport rep = {0};
    reader_init(&r, a, err);
    const json_t *inv = json_object_get(j, PROTOCOL_FIELD_INVENTORY);
    const json_t *wls = json_object_get(j, PROTOCOL_FIELD_WORKLOADS);
    const json_t *gpus = json_object_get(inv, PROTOCOL_FIELD_GPUS);
    const json_t *tenant = json_object_get(j, PROTOCOL_FIELD_TENANT); /* the tenant it serves */
    if (tenant && !json_is_null(tenant) &&
        (!json_is_string(tenant) || json_string_length(tenant) > SCHEMA_MAX_NAME))
        return refuse_at(&r, PROTOCOL_FIELD_TENANT, -1,
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
