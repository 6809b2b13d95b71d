/* Scenario files: the platform (platform.c), then the timeline the simulator replays and the
 * expectations scenario tests check, copied into the scenario's arena. */
#include "sim/scenario.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hmap.h"
#include "common/quantity.h"
#include "config/platform.h"
#include "config/ydoc.h"

/* Workload priorities: wide enough for any policy, narrow enough that the engine may add the
 * kind's priority without overflow. */
#define SCENARIO_MAX_PRIORITY 1000000
/* Whole GPUs one replica may ask for: far above any node (the engine rejects what never
 * fits, and scenarios test that), small enough that totals cannot overflow. */
#define SCENARIO_MAX_GPUS 1024

/* The top-level keys a scenario adds to the platform's. */
static const char *const scenario_keys[] = {"timeline", "expect", "final", NULL};
static const char *const step_keys[] = {"at",   "submit", "cancel",    "finish",
                                        "node", "gpu",    "workspace", NULL};
static const char *const submit_keys[] = {
    "name",  "workspace", "kind",  "priority", "gpus",    "mig",
    "model", "replicas",  "cpu",   "memory",   "storage", "preemptible",
    "grace", "duration",  "drain", "count",    NULL};
static const char *const node_step_keys[] = {"name", "state", NULL};
static const char *const gpu_step_keys[] = {"node", "index", "healthy", NULL};
static const char *const workspace_step_keys[] = {"name", "reserved", "limits",
                                                  "lend", "weight",   NULL};
static const char *const reserved_keys[] = {"gpu", NULL};
static const char *const expect_keys[] = {"event",    "workload", "at",     "reason",
                                          "borrowed", "for",      "absent", NULL};

static const struct {
    const char *key;
    enum scenario_action action;
} scenario_actions[] = {
    {"submit", SCENARIO_SUBMIT},   {"cancel", SCENARIO_CANCEL},  {"finish", SCENARIO_FINISH},
    {"node", SCENARIO_NODE_STATE}, {"gpu", SCENARIO_GPU_HEALTH}, {"workspace", SCENARIO_WORKSPACE},
};
#define SCENARIO_N_ACTIONS (sizeof(scenario_actions) / sizeof(scenario_actions[0]))

struct scenario_reader {
    struct ydoc y;
    struct scenario *scn;
    struct sched *s;
};

/* Replace *s (a string of the document) with a copy in the scenario's arena. */
static int scenario_keep(struct scenario_reader *r, yaml_node_t *at, const char **s)
{
    if (!*s)
        return 0;
    const char *copy = arena_strdup(&r->scn->arena, *s);
    if (!copy)
        return ydoc_fail(&r->y, at, -ALLOT_ENOMEM, "out of memory");
    *s = copy;
    return 0;
}

/* Read key of map as a workspace's full name, "tenant/workspace", into the arena. */
static int scenario_workspace_name(struct scenario_reader *r, yaml_node_t *map, const char *key,
                                   const char **out)
{
    struct ydoc *y = &r->y;
    yaml_node_t *value = ydoc_get(y, map, key);
    const char *s = NULL;
    size_t mark = ydoc_push(y, key);
    int rc = value ? ydoc_scalar(y, value, &s)
                   : ydoc_fail(y, map, -ALLOT_ECONFIG, "required, but not given");
    if (rc == 0) {
        const char *slash = strchr(s, '/');
        if (!slash || !ydoc_is_name(s, (size_t)(slash - s), PLATFORM_MAX_NAME) ||
            !ydoc_is_name(slash + 1, strlen(slash + 1), PLATFORM_MAX_NAME))
            rc = ydoc_fail(y, value, -ALLOT_ECONFIG,
                           "'%.64s' is not a workspace name (tenant/workspace)", s);
    }
    if (rc == 0)
        rc = scenario_keep(r, value, &s);
    ydoc_pop(y, mark);
    if (rc == 0)
        *out = s;
    return rc;
}

/* Read gpus of a submit: whole GPUs per replica. A fraction is refused here with a pointer to
 * mig, since the engine only shares a GPU through MIG instances. */
static int scenario_whole_gpus(struct scenario_reader *r, yaml_node_t *map, uint32_t *gpus)
{
    struct ydoc *y = &r->y;
    yaml_node_t *value = ydoc_get(y, map, "gpus");
    int64_t units = 0;
    if (!value)
        return 0;
    size_t mark = ydoc_push(y, "gpus");
    int rc = ydoc_read_quantity(y, value, YDOC_GPU, &units);
    if (rc == 0 && units % QUANTITY_GPU_UNITS != 0)
        rc = ydoc_fail(y, value, -ALLOT_ECONFIG,
                       "'%.64s' is not a whole number of GPUs; a fraction of a GPU is asked for "
                       "with mig: and a MIG profile (e.g. mig: 3g.40gb)",
                       (const char *)value->data.scalar.value);
    if (rc == 0 && units / QUANTITY_GPU_UNITS > SCENARIO_MAX_GPUS)
        rc = ydoc_fail(y, value, -ALLOT_ECONFIG, "at most %d GPUs per replica", SCENARIO_MAX_GPUS);
    ydoc_pop(y, mark);
    if (rc == 0)
        *gpus = (uint32_t)(units / QUANTITY_GPU_UNITS);
    return rc;
}

/* Read a `submit:` map (at the current field path) into step. */
static int scenario_submit(struct scenario_reader *r, yaml_node_t *map, struct scenario_step *step)
{
    const char *kind_names[SCHED_KIND_COUNT];
    const char *model_names[GPU_MODEL_COUNT];
    struct ydoc *y = &r->y;
    struct sched_workload_spec *spec = &step->submit;
    int kind = SCHED_KIND_TRAINING, model = -1;
    int64_t priority = 0, replicas = 1, count = 1;
    bool preemptible = false;
    const char *mig = NULL;

    for (int k = 0; k < SCHED_KIND_COUNT; k++)
        kind_names[k] = sched_kind_name((enum sched_kind)k);
    for (int m = 0; m < GPU_MODEL_COUNT; m++)
        model_names[m] = mig_model((enum gpu_model)m)->name;
    *spec = (struct sched_workload_spec){
        .kind = SCHED_KIND_TRAINING,
        .mig = -1,
        .model = -1,
        .replicas = 1,
        .preemptible = -1,
        .grace_ms = -1,
    };
    int rc = ydoc_map(y, map, submit_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, map, "name", true, PLATFORM_MAX_NAME, &spec->name);
    if (rc == 0)
        rc = scenario_workspace_name(r, map, "workspace", &spec->workspace);
    if (rc == 0)
        rc = ydoc_enum(y, map, "kind", false, kind_names, SCHED_KIND_COUNT, &kind);
    if (rc == 0)
        rc = ydoc_int(y, map, "priority", false, -SCENARIO_MAX_PRIORITY, SCENARIO_MAX_PRIORITY,
                      &priority);
    if (rc == 0)
        rc = scenario_whole_gpus(r, map, &spec->gpus);
    if (rc == 0)
        rc = ydoc_str(y, map, "mig", false, &mig);
    if (rc == 0 && mig) {
        yaml_node_t *value = ydoc_get(y, map, "mig");
        size_t mark = ydoc_push(y, "mig");
        if (ydoc_get(y, map, "gpus"))
            rc = ydoc_fail(y, value, -ALLOT_ECONFIG,
                           "gpus and mig exclude each other: a replica has whole GPUs or one "
                           "MIG instance");
        else if ((spec->mig = mig_name_id(mig)) < 0)
            rc = ydoc_fail(y, value, -ALLOT_ECONFIG, "unknown MIG profile '%.64s'", mig);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_enum(y, map, "model", false, model_names, GPU_MODEL_COUNT, &model);
    if (rc == 0)
        rc = ydoc_int(y, map, "replicas", false, 1, SCHED_MAX_REPLICAS, &replicas);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "cpu", false, YDOC_CPU, &spec->cpu);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "memory", false, YDOC_BYTES, &spec->memory);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "storage", false, YDOC_BYTES, &spec->storage);
    if (rc == 0)
        rc = ydoc_bool(y, map, "preemptible", false, &preemptible);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "grace", false, YDOC_DURATION, &spec->grace_ms);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "duration", false, YDOC_DURATION, &step->duration_ms);
    if (rc == 0)
        rc = ydoc_quantity(y, map, "drain", false, YDOC_DURATION, &step->drain_ms);
    if (rc == 0)
        rc = ydoc_int(y, map, "count", false, 1, SCENARIO_MAX_COPIES, &count);
    if (rc)
        return rc;
    /* copies are named NAME-1 .. NAME-count, and those must be names too */
    char last[PLATFORM_MAX_NAME + 16];
    int n = snprintf(last, sizeof(last), "%s-%u", spec->name, (unsigned)count);
    if (count > 1 && n > PLATFORM_MAX_NAME) {
        size_t mark = ydoc_push(y, "name");
        rc = ydoc_fail(y, ydoc_get(y, map, "name"), -ALLOT_ECONFIG,
                       "too long for %u copies: '%s' has more than %d characters", (unsigned)count,
                       last, PLATFORM_MAX_NAME);
        ydoc_pop(y, mark);
        return rc;
    }
    spec->kind = (enum sched_kind)kind;
    spec->has_priority = ydoc_get(y, map, "priority") != NULL;
    spec->priority = (int32_t)priority;
    spec->model = model;
    spec->replicas = (uint32_t)replicas;
    if (ydoc_get(y, map, "preemptible"))
        spec->preemptible = preemptible;
    step->count = (uint32_t)count;
    return scenario_keep(r, map, &spec->name);
}

/* Read a `node:` map: {name, state}. The node must be in the platform. */
static int scenario_node_state(struct scenario_reader *r, yaml_node_t *map,
                               struct scenario_step *step)
{
    const char *state_names[SCHED_NODE_DOWN + 1];
    struct ydoc *y = &r->y;
    int state = SCHED_NODE_READY;
    uint32_t id;

    for (int st = 0; st <= SCHED_NODE_DOWN; st++)
        state_names[st] = sched_node_state_name((enum sched_node_state)st);
    int rc = ydoc_map(y, map, node_step_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, map, "name", true, PLATFORM_MAX_NAME, &step->target);
    if (rc == 0 && sched_node_find(r->s, step->target, &id) != 0) {
        size_t mark = ydoc_push(y, "name");
        rc = ydoc_fail(y, ydoc_get(y, map, "name"), -ALLOT_ECONFIG,
                       "the platform has no node named '%s'", step->target);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_enum(y, map, "state", true, state_names, SCHED_NODE_DOWN + 1, &state);
    if (rc)
        return rc;
    step->node_state = (enum sched_node_state)state;
    return scenario_keep(r, map, &step->target);
}

/* Read a `gpu:` map: {node, index, healthy}. The GPU must be in the platform. */
static int scenario_gpu_health(struct scenario_reader *r, yaml_node_t *map,
                               struct scenario_step *step)
{
    struct ydoc *y = &r->y;
    int64_t index = 0;
    uint32_t id = 0;
    int rc = ydoc_map(y, map, gpu_step_keys, NULL);
    if (rc == 0)
        rc = ydoc_name(y, map, "node", true, PLATFORM_MAX_NAME, &step->target);
    if (rc == 0 && sched_node_find(r->s, step->target, &id) != 0) {
        size_t mark = ydoc_push(y, "node");
        rc = ydoc_fail(y, ydoc_get(y, map, "node"), -ALLOT_ECONFIG,
                       "the platform has no node named '%s'", step->target);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_int(y, map, "index", true, 0, SCHED_MAX_GPUS_PER_NODE - 1, &index);
    if (rc == 0 && (uint32_t)index >= r->s->nodes[id].n_gpus) {
        size_t mark = ydoc_push(y, "index");
        rc =
            ydoc_fail(y, ydoc_get(y, map, "index"), -ALLOT_ECONFIG,
                      "node %s has %u GPUs (indexes from 0)", step->target, r->s->nodes[id].n_gpus);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_bool(y, map, "healthy", true, &step->healthy);
    if (rc)
        return rc;
    step->gpu_index = (uint32_t)index;
    return scenario_keep(r, map, &step->target);
}

/* Read a `workspace:` map: a partial change of a workspace of the platform. */
static int scenario_workspace(struct scenario_reader *r, yaml_node_t *map,
                              struct scenario_step *step)
{
    struct ydoc *y = &r->y;
    struct scenario_workspace_change *change = &step->workspace;
    int64_t weight = 1;
    uint32_t id;
    int rc = ydoc_map(y, map, workspace_step_keys, NULL);
    if (rc == 0)
        rc = scenario_workspace_name(r, map, "name", &change->name);
    if (rc == 0 && sched_workspace_find(r->s, change->name, &id) != 0) {
        size_t mark = ydoc_push(y, "name");
        rc = ydoc_fail(y, ydoc_get(y, map, "name"), -ALLOT_ECONFIG,
                       "the platform has no workspace named '%s'", change->name);
        ydoc_pop(y, mark);
    }
    yaml_node_t *reserved = ydoc_get(y, map, "reserved");
    if (rc == 0 && reserved) {
        size_t mark = ydoc_push(y, "reserved");
        rc = ydoc_map(y, reserved, reserved_keys, NULL);
        if (rc == 0)
            rc = ydoc_quantity(y, reserved, "gpu", true, YDOC_GPU, &change->reserved);
        change->has_reserved = true;
        ydoc_pop(y, mark);
    }
    yaml_node_t *limits = ydoc_get(y, map, "limits");
    if (rc == 0 && limits) {
        size_t mark = ydoc_push(y, "limits");
        rc = platform_read_limits(y, limits, &change->limits, change->has_limit);
        ydoc_pop(y, mark);
    }
    if (rc == 0)
        rc = ydoc_bool(y, map, "lend", false, &change->lend);
    if (rc == 0)
        rc = ydoc_int(y, map, "weight", false, 1, PLATFORM_MAX_WEIGHT, &weight);
    if (rc)
        return rc;
    change->has_lend = ydoc_get(y, map, "lend") != NULL;
    change->has_weight = ydoc_get(y, map, "weight") != NULL;
    change->weight = (uint32_t)weight;
    return 0;
}

/* Read timeline entry (at the current field path): `at` and exactly one action. */
static int scenario_step(struct scenario_reader *r, yaml_node_t *entry, struct scenario_step *step)
{
    struct ydoc *y = &r->y;
    yaml_node_t *action = NULL;
    size_t which = 0;

    memset(step, 0, sizeof(*step));
    step->line = ydoc_line(entry);
    step->duration_ms = -1;
    step->drain_ms = -1;
    step->count = 1;
    int rc = ydoc_map(y, entry, step_keys, NULL);
    if (rc == 0)
        rc = ydoc_quantity(y, entry, "at", true, YDOC_DURATION, &step->at_ms);
    if (rc)
        return rc;
    for (size_t a = 0; a < SCENARIO_N_ACTIONS; a++) {
        yaml_node_t *value = ydoc_get(y, entry, scenario_actions[a].key);
        if (!value)
            continue;
        if (action) {
            size_t mark = ydoc_push(y, scenario_actions[a].key);
            rc = ydoc_fail(y, value, -ALLOT_ECONFIG,
                           "a timeline entry has one action, and this one also has %s",
                           scenario_actions[which].key);
            ydoc_pop(y, mark);
            return rc;
        }
        action = value;
        which = a;
    }
    if (!action)
        return ydoc_fail(y, entry, -ALLOT_ECONFIG,
                         "no action (expected one of: submit, cancel, finish, node, gpu, "
                         "workspace)");
    step->action = scenario_actions[which].action;
    size_t mark = ydoc_push(y, scenario_actions[which].key);
    switch (step->action) {
    case SCENARIO_SUBMIT:
        rc = scenario_submit(r, action, step);
        break;
    case SCENARIO_CANCEL:
    case SCENARIO_FINISH:
        rc = ydoc_read_name(y, action, PLATFORM_MAX_NAME, &step->target);
        if (rc == 0)
            rc = scenario_keep(r, action, &step->target);
        break;
    case SCENARIO_NODE_STATE:
        rc = scenario_node_state(r, action, step);
        break;
    case SCENARIO_GPU_HEALTH:
        rc = scenario_gpu_health(r, action, step);
        break;
    case SCENARIO_WORKSPACE:
        rc = scenario_workspace(r, action, step);
        break;
    }
    ydoc_pop(y, mark);
    return rc;
}

/* Read expect entry (at the current field path). */
static int scenario_expect(struct scenario_reader *r, yaml_node_t *entry,
                           struct scenario_expect *expect)
{
    const char *event_names[SCHED_EV_COUNT];
    const char *reason_names[SCHED_REASON_COUNT];
    struct ydoc *y = &r->y;
    int event = 0, reason = 0;
    bool borrowed = false;

    for (int e = 0; e < SCHED_EV_COUNT; e++)
        event_names[e] = sched_event_name((enum sched_event_kind)e);
    for (int c = 0; c < SCHED_REASON_COUNT; c++)
        reason_names[c] = reason_name((enum sched_reason)c);
    memset(expect, 0, sizeof(*expect));
    expect->line = ydoc_line(entry);
    int rc = ydoc_map(y, entry, expect_keys, NULL);
    if (rc == 0)
        rc = ydoc_enum(y, entry, "event", true, event_names, SCHED_EV_COUNT, &event);
    if (rc == 0)
        rc = ydoc_name(y, entry, "workload", false, PLATFORM_MAX_NAME, &expect->workload);
    if (rc == 0)
        rc = ydoc_quantity(y, entry, "at", false, YDOC_DURATION, &expect->at_ms);
    if (rc == 0)
        rc = ydoc_enum(y, entry, "reason", false, reason_names, SCHED_REASON_COUNT, &reason);
    if (rc == 0)
        rc = ydoc_bool(y, entry, "borrowed", false, &borrowed);
    if (rc == 0)
        rc = ydoc_name(y, entry, "for", false, PLATFORM_MAX_NAME, &expect->for_workload);
    if (rc == 0)
        rc = ydoc_bool(y, entry, "absent", false, &expect->absent);
    if (rc == 0)
        rc = scenario_keep(r, entry, &expect->workload);
    if (rc == 0)
        rc = scenario_keep(r, entry, &expect->for_workload);
    if (rc)
        return rc;
    expect->event = (enum sched_event_kind)event;
    expect->has_at = ydoc_get(y, entry, "at") != NULL;
    expect->has_reason = ydoc_get(y, entry, "reason") != NULL;
    expect->reason = (enum sched_reason)reason;
    expect->borrowed = ydoc_get(y, entry, "borrowed") ? borrowed : -1;
    return 0;
}

/* Read the `final:` map of workload name to state. */
static int scenario_finals(struct scenario_reader *r, yaml_node_t *map)
{
    const char *state_names[SCHED_STATE_COUNT];
    struct ydoc *y = &r->y;
    struct scenario *scn = r->scn;
    struct hmap seen;
    int rc = 0;

    for (int st = 0; st < SCHED_STATE_COUNT; st++)
        state_names[st] = sched_state_name((enum sched_state)st);
    hmap_init(&seen);
    size_t mark = ydoc_push(y, "final");
    rc = ydoc_map(y, map, NULL, NULL);
    if (rc)
        goto out;
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n > SCENARIO_MAX_STEPS) {
        rc = ydoc_fail(y, map, -ALLOT_ECONFIG, "%zu entries; at most %d are allowed", n,
                       SCENARIO_MAX_STEPS);
        goto out;
    }
    if (n) {
        scn->finals = arena_alloc(&scn->arena, n * sizeof(*scn->finals));
        if (!scn->finals) {
            rc = ydoc_fail(y, map, -ALLOT_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &map->data.mapping.pairs.start[i];
        yaml_node_t *key = yaml_document_get_node(y->doc, pair->key);
        struct scenario_final *final = &scn->finals[i];
        int state = 0;
        size_t item = ydoc_push(y, (const char *)key->data.scalar.value);
        final->line = ydoc_line(key);
        rc = ydoc_read_name(y, key, PLATFORM_MAX_NAME, &final->workload);
        if (rc == 0) {
            rc = hmap_put(&seen, final->workload, (uint32_t)i);
            if (rc == -ALLOT_EEXIST)
                rc = ydoc_fail(y, key, -ALLOT_ECONFIG, "given more than once");
            else if (rc)
                rc = ydoc_fail(y, key, rc, "out of memory");
        }
        if (rc == 0)
            rc = ydoc_read_enum(y, yaml_document_get_node(y->doc, pair->value), state_names,
                                SCHED_STATE_COUNT, &state);
        if (rc == 0)
            rc = scenario_keep(r, key, &final->workload);
        ydoc_pop(y, item);
        if (rc)
            goto out;
        final->state = (enum sched_state)state;
        scn->n_finals++;
    }
out:
    ydoc_pop(y, mark);
    hmap_cleanup(&seen);
    return rc;
}

/* Stable merge sort of n steps by at_ms; tmp has room for n steps. */
static void scenario_sort(struct scenario_step *steps, struct scenario_step *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t half = n / 2;
    scenario_sort(steps, tmp, half);
    scenario_sort(steps + half, tmp, n - half);
    if (steps[half - 1].at_ms <= steps[half].at_ms)
        return;
    memcpy(tmp, steps, n * sizeof(*steps));
    size_t i = 0, j = half, k = 0;
    while (i < half && j < n)
        steps[k++] = tmp[j].at_ms < tmp[i].at_ms ? tmp[j++] : tmp[i++];
    while (i < half)
        steps[k++] = tmp[i++];
    while (j < n)
        steps[k++] = tmp[j++];
}

/* Read the timeline, then order it by time (entries at the same time keep file order). */
static int scenario_timeline(struct scenario_reader *r, yaml_node_t *list)
{
    struct ydoc *y = &r->y;
    struct scenario *scn = r->scn;
    size_t n = 0;
    size_t mark = ydoc_push(y, "timeline");
    int rc = ydoc_list(y, list, SCENARIO_MAX_STEPS, &n);
    if (rc == 0 && n) {
        scn->steps = arena_alloc(&scn->arena, n * sizeof(*scn->steps));
        if (!scn->steps)
            rc = ydoc_fail(y, list, -ALLOT_ENOMEM, "out of memory");
    }
    bool sorted = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = ydoc_push_index(y, i);
        rc = scenario_step(r, ydoc_item(y, list, i), &scn->steps[i]);
        ydoc_pop(y, item);
        if (rc == 0 && i > 0 && scn->steps[i].at_ms < scn->steps[i - 1].at_ms)
            sorted = false;
    }
    if (rc == 0 && !sorted) {
        struct scenario_step *tmp = malloc(n * sizeof(*tmp));
        if (tmp)
            scenario_sort(scn->steps, tmp, n);
        else
            rc = ydoc_fail(y, list, -ALLOT_ENOMEM, "out of memory");
        free(tmp);
    }
    ydoc_pop(y, mark);
    if (rc == 0)
        scn->n_steps = (uint32_t)n;
    return rc;
}

static int scenario_expects(struct scenario_reader *r, yaml_node_t *list)
{
    struct ydoc *y = &r->y;
    struct scenario *scn = r->scn;
    size_t n = 0;
    size_t mark = ydoc_push(y, "expect");
    int rc = ydoc_list(y, list, SCENARIO_MAX_STEPS, &n);
    if (rc == 0 && n) {
        scn->expects = arena_alloc(&scn->arena, n * sizeof(*scn->expects));
        if (!scn->expects)
            rc = ydoc_fail(y, list, -ALLOT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t item = ydoc_push_index(y, i);
        rc = scenario_expect(r, ydoc_item(y, list, i), &scn->expects[i]);
        ydoc_pop(y, item);
    }
    ydoc_pop(y, mark);
    if (rc == 0)
        scn->n_expects = (uint32_t)n;
    return rc;
}

int scenario_load(const char *path, struct scenario *scn, struct sched **engine, char *err,
                  size_t len)
{
    struct scenario_reader r = {.scn = scn, .s = NULL};
    yaml_document_t doc;
    bool have_doc = false;
    int rc;

    memset(scn, 0, sizeof(*scn));
    arena_init(&scn->arena, 0);
    *engine = NULL;
    rc = ydoc_load(path, PLATFORM_MAX_BYTES, PLATFORM_MAX_DEPTH, &doc, err, len);
    if (rc)
        goto out;
    have_doc = true;
    rc = platform_build(&doc, path, scenario_keys, &r.s, err, len);
    if (rc)
        goto out;
    ydoc_init(&r.y, &doc, path, err, len);
    yaml_node_t *root = ydoc_root(&r.y);
    scn->path = arena_strdup(&scn->arena, path);
    if (!scn->path) {
        rc = ydoc_fail(&r.y, root, -ALLOT_ENOMEM, "out of memory");
        goto out;
    }
    yaml_node_t *node = ydoc_get(&r.y, root, "timeline");
    if (node && (rc = scenario_timeline(&r, node)) != 0)
        goto out;
    node = ydoc_get(&r.y, root, "expect");
    if (node && (rc = scenario_expects(&r, node)) != 0)
        goto out;
    node = ydoc_get(&r.y, root, "final");
    if (node && (rc = scenario_finals(&r, node)) != 0)
        goto out;
    *engine = r.s;
    r.s = NULL;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    sched_free(r.s);
    if (rc)
        scenario_cleanup(scn);
    return rc;
}

void scenario_cleanup(struct scenario *scn)
{
    if (!scn)
        return;
    arena_cleanup(&scn->arena);
    scn->path = NULL;
    scn->steps = NULL;
    scn->n_steps = 0;
    scn->expects = NULL;
    scn->n_expects = 0;
    scn->finals = NULL;
    scn->n_finals = 0;
}
