/* Scenario files: the platform (schema/platform.h), then the timeline the simulator replays
 * and the expectations scenario tests check, read with the schema's readers and copied into
 * the scenario's arena. */
#include "sim/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/platform.h"
#include "schema/reader.h"
#include "schema/source.h"
#include "schema/spec.h"
#include "schema/workload.h"

/* The top-level keys a scenario adds to the platform's. */
static const char *const scenario_keys[] = {"timeline", "expect", "final", NULL};
static const char *const step_keys[] = {"at",  "submit",    "cancel",     "finish", "node",
                                        "gpu", "workspace", "checkpoint", NULL};
/* What a scenario's submit has besides a workload's fields. */
static const char *const submit_extra[] = {"drain", "count", NULL};
static const char *const node_step_keys[] = {"name", "state", NULL};
static const char *const gpu_step_keys[] = {"node", "index", "healthy", NULL};
static const char *const workspace_step_keys[] = {"name",   "reserved",      "limits", "lend",
                                                  "weight", "require_image", NULL};
static const char *const expect_keys[] = {"event",    "workload", "at",     "reason",
                                          "borrowed", "for",      "absent", NULL};
static const char *const limit_keys[] = {"gpu", "cpu", "memory", "storage"};

static const struct {
    const char *key;
    enum scenario_action action;
} scenario_actions[] = {
    {"submit", SCENARIO_SUBMIT},         {"cancel", SCENARIO_CANCEL},
    {"finish", SCENARIO_FINISH},         {"node", SCENARIO_NODE_STATE},
    {"gpu", SCENARIO_GPU_HEALTH},        {"workspace", SCENARIO_WORKSPACE},
    {"checkpoint", SCENARIO_CHECKPOINT},
};
#define SCENARIO_N_ACTIONS (sizeof(scenario_actions) / sizeof(scenario_actions[0]))

struct scenario_reader {
    struct reader r; /* strings go into the scenario's arena */
    struct schema_error error;
    const struct source *src;
    struct scenario *scn;
    struct sched *s;
};

/* Refuse key of map (pushed onto the path) with message. RET rc. */
static int scenario_fail_at(struct scenario_reader *sr, const char *key, int rc, const char *fmt,
                            const char *what)
{
    size_t mark = reader_push_key(&sr->r, key, strlen(key));
    rc = reader_fail(&sr->r, rc, fmt, what);
    reader_pop(&sr->r, mark);
    return rc;
}

/* Read a `submit:` map (at the current path) into step. */
static int scenario_submit(struct scenario_reader *sr, const json_t *map,
                           struct scenario_step *step)
{
    struct reader *r = &sr->r;
    struct workload_spec spec;
    int64_t count = 1;
    int rc = workload_read(r, map, submit_extra, &spec);
    if (rc == 0)
        rc = reader_key_quantity(r, map, "drain", false, READER_DURATION, &step->drain_ms);
    if (rc == 0)
        rc = reader_key_int(r, map, "count", 1, SCENARIO_MAX_COPIES, &count);
    if (rc)
        return rc;
    /* copies are named NAME-1 .. NAME-count, and those must be names too */
    char last[SCHEMA_MAX_NAME + 16];
    int n = snprintf(last, sizeof(last), "%s-%u", spec.w.name, (unsigned)count);
    if (count > 1 && n > SCHEMA_MAX_NAME) {
        size_t mark = reader_push_key(r, "name", 4);
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "too long for %u copies: '%s' has more than %d characters",
                         (unsigned)count, last, SCHEMA_MAX_NAME);
        reader_pop(r, mark);
        return rc;
    }
    step->submit = spec.w;
    step->duration_ms = spec.duration_ms;
    step->count = (uint32_t)count;
    return 0;
}

/* Read the node named by key of map, which must be in the platform. OUT *name, *id. */
static int scenario_node(struct scenario_reader *sr, const json_t *map, const char *key,
                         const char **name, uint32_t *id)
{
    int rc = reader_key_name(&sr->r, map, key, true, name);
    if (rc == 0 && sched_node_find(sr->s, *name, id) != 0)
        rc = scenario_fail_at(sr, key, -ALLOT_EINVAL, "the platform has no node named '%s'", *name);
    return rc;
}

/* Read a `node:` map: {name, state}. */
static int scenario_node_state(struct scenario_reader *sr, const json_t *map,
                               struct scenario_step *step)
{
    const char *state_names[SCHED_NODE_DOWN + 1];
    int state = SCHED_NODE_READY;
    uint32_t id;

    for (int st = 0; st <= SCHED_NODE_DOWN; st++)
        state_names[st] = sched_node_state_name((enum sched_node_state)st);
    int rc = reader_object(&sr->r, map, node_step_keys, NULL);
    if (rc == 0)
        rc = scenario_node(sr, map, "name", &step->target, &id);
    if (rc == 0)
        rc = reader_key_enum(&sr->r, map, "state", true, state_names, SCHED_NODE_DOWN + 1, &state);
    if (rc == 0)
        step->node_state = (enum sched_node_state)state;
    return rc;
}

/* Read a `gpu:` map: {node, index, healthy}. The GPU must be in the platform. */
static int scenario_gpu_health(struct scenario_reader *sr, const json_t *map,
                               struct scenario_step *step)
{
    int64_t index = 0;
    uint32_t id = 0;
    int rc = reader_object(&sr->r, map, gpu_step_keys, NULL);
    if (rc == 0)
        rc = scenario_node(sr, map, "node", &step->target, &id);
    if (rc == 0)
        rc = reader_key_int(&sr->r, map, "index", 0, SCHED_MAX_GPUS_PER_NODE - 1, &index);
    if (rc == 0 && !reader_get(map, "index"))
        rc = scenario_fail_at(sr, "index", -ALLOT_EINVAL, "%s", "required, but not given");
    if (rc == 0 && (uint32_t)index >= sr->s->nodes[id].n_gpus) {
        char what[128];
        snprintf(what, sizeof(what), "node %s has %u GPUs (indexes from 0)", step->target,
                 sr->s->nodes[id].n_gpus);
        rc = scenario_fail_at(sr, "index", -ALLOT_EINVAL, "%s", what);
    }
    if (rc == 0 && !reader_get(map, "healthy"))
        rc = scenario_fail_at(sr, "healthy", -ALLOT_EINVAL, "%s", "required, but not given");
    if (rc == 0)
        rc = reader_key_bool(&sr->r, map, "healthy", &step->healthy);
    if (rc == 0)
        step->gpu_index = (uint32_t)index;
    return rc;
}

/* Read a `workspace:` map: a partial change of a workspace of the platform, read as the
 * API's PATCH of a workspace is (spec_read_workspace_patch); the fields given are marked. */
static int scenario_workspace(struct scenario_reader *sr, const json_t *map,
                              struct scenario_step *step)
{
    struct scenario_workspace_change *change = &step->workspace;
    struct sched_workspace_spec spec = {
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .lend = true,
        .weight = 1,
    };
    const json_t *v = NULL, *limits;
    size_t mark;
    uint32_t id;
    int rc = reader_object(&sr->r, map, workspace_step_keys, NULL);
    if (rc == 0) {
        rc = reader_enter(&sr->r, map, "name", true, &v, &mark);
        if (rc == 0)
            rc = reader_workspace_name(&sr->r, v, NULL, &change->name);
        reader_pop(&sr->r, mark);
    }
    if (rc == 0 && sched_workspace_find(sr->s, change->name, &id) != 0)
        rc = scenario_fail_at(sr, "name", -ALLOT_EINVAL, "the platform has no workspace named '%s'",
                              change->name);
    spec.name = change->name;
    if (rc == 0)
        rc = spec_read_workspace_patch(&sr->r, map, &spec);
    if (rc)
        return rc;
    limits = reader_get(map, "limits");
    for (int k = 0; k < 4; k++)
        change->has_limit[k] = reader_get(limits, limit_keys[k]) != NULL;
    change->limits = spec.limits;
    change->has_reserved = reader_get(map, "reserved") != NULL;
    change->reserved = spec.reserved;
    change->has_lend = reader_get(map, "lend") != NULL;
    change->lend = spec.lend;
    change->has_weight = reader_get(map, "weight") != NULL;
    change->weight = spec.weight;
    change->has_require_image = reader_get(map, "require_image") != NULL;
    change->require_image = spec.require_image;
    return 0;
}

/* Read timeline entry (at the current path): `at` and exactly one action. */
static int scenario_step(struct scenario_reader *sr, const json_t *entry,
                         struct scenario_step *step)
{
    struct reader *r = &sr->r;
    const json_t *action = NULL;
    size_t which = 0;

    memset(step, 0, sizeof(*step));
    step->line = source_line(sr->src, r->field);
    step->duration_ms = -1;
    step->drain_ms = -1;
    step->count = 1;
    int rc = reader_object(r, entry, step_keys, NULL);
    if (rc == 0)
        rc = reader_key_quantity(r, entry, "at", true, READER_DURATION, &step->at_ms);
    for (size_t a = 0; rc == 0 && a < SCENARIO_N_ACTIONS; a++) {
        const json_t *value = reader_get(entry, scenario_actions[a].key);
        if (value && action)
            return scenario_fail_at(sr, scenario_actions[a].key, -ALLOT_EINVAL,
                                    "a timeline entry has one action, and this one also has %s",
                                    scenario_actions[which].key);
        if (value) {
            action = value;
            which = a;
        }
    }
    if (rc == 0 && !action)
        rc = reader_fail(r, -ALLOT_EINVAL,
                         "no action (expected one of: submit, cancel, finish, node, gpu, "
                         "workspace, checkpoint)");
    if (rc)
        return rc;
    step->action = scenario_actions[which].action;
    size_t mark =
        reader_push_key(r, scenario_actions[which].key, strlen(scenario_actions[which].key));
    switch (step->action) {
    case SCENARIO_SUBMIT:
        rc = scenario_submit(sr, action, step);
        break;
    case SCENARIO_CANCEL:
    case SCENARIO_FINISH:
    case SCENARIO_CHECKPOINT:
        rc = reader_name(r, action, &step->target);
        break;
    case SCENARIO_NODE_STATE:
        rc = scenario_node_state(sr, action, step);
        break;
    case SCENARIO_GPU_HEALTH:
        rc = scenario_gpu_health(sr, action, step);
        break;
    case SCENARIO_WORKSPACE:
        rc = scenario_workspace(sr, action, step);
        break;
    }
    reader_pop(r, mark);
    return rc;
}

/* Read expect entry (at the current path). */
static int scenario_expect(struct scenario_reader *sr, const json_t *entry,
                           struct scenario_expect *expect)
{
    const char *event_names[SCHED_EV_COUNT];
    const char *reason_names[SCHED_REASON_COUNT];
    struct reader *r = &sr->r;
    int event = 0, reason = 0;
    bool borrowed = false;

    for (int e = 0; e < SCHED_EV_COUNT; e++)
        event_names[e] = sched_event_name((enum sched_event_kind)e);
    for (int c = 0; c < SCHED_REASON_COUNT; c++)
        reason_names[c] = reason_name((enum sched_reason)c);
    memset(expect, 0, sizeof(*expect));
    expect->line = source_line(sr->src, r->field);
    int rc = reader_object(r, entry, expect_keys, NULL);
    if (rc == 0)
        rc = reader_key_enum(r, entry, "event", true, event_names, SCHED_EV_COUNT, &event);
    if (rc == 0)
        rc = reader_key_name(r, entry, "workload", false, &expect->workload);
    if (rc == 0)
        rc = reader_key_quantity(r, entry, "at", false, READER_DURATION, &expect->at_ms);
    if (rc == 0)
        rc = reader_key_enum(r, entry, "reason", false, reason_names, SCHED_REASON_COUNT, &reason);
    if (rc == 0)
        rc = reader_key_bool(r, entry, "borrowed", &borrowed);
    if (rc == 0)
        rc = reader_key_name(r, entry, "for", false, &expect->for_workload);
    if (rc == 0)
        rc = reader_key_bool(r, entry, "absent", &expect->absent);
    if (rc)
        return rc;
    expect->event = (enum sched_event_kind)event;
    expect->has_at = reader_get(entry, "at") != NULL;
    expect->has_reason = reader_get(entry, "reason") != NULL;
    expect->reason = (enum sched_reason)reason;
    expect->borrowed = reader_get(entry, "borrowed") ? borrowed : -1;
    return 0;
}

/* Read the `final:` map of workload name to state. */
static int scenario_finals(struct scenario_reader *sr, const json_t *map)
{
    const char *state_names[SCHED_STATE_COUNT];
    struct reader *r = &sr->r;
    struct scenario *scn = sr->scn;
    size_t n = json_is_object(map) ? json_object_size(map) : 0, i = 0;
    int rc;

    for (int st = 0; st < SCHED_STATE_COUNT; st++)
        state_names[st] = sched_state_name((enum sched_state)st);
    size_t mark = reader_push_key(r, "final", 5);
    if (!json_is_object(map))
        rc = reader_fail(r, -ALLOT_EINVAL, "expected an object of workload: state, found %s",
                         reader_type_name(r, map));
    else if (n > SCENARIO_MAX_STEPS)
        rc = reader_fail(r, -ALLOT_ERANGE, "%zu entries; at most %d are allowed", n,
                         SCENARIO_MAX_STEPS);
    else if (n && !(scn->finals = arena_alloc(&scn->arena, n * sizeof(*scn->finals))))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    else
        rc = 0;
    for (void *it = rc ? NULL : json_object_iter((json_t *)map); rc == 0 && it;
         it = json_object_iter_next((json_t *)map, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t len = json_object_iter_key_len(it), item = reader_push_key(r, key, len);
        struct scenario_final *final = &scn->finals[i];
        int state = 0;
        final->line = source_line(sr->src, r->field);
        if (!reader_is_name(key, len))
            rc = reader_fail(r, -ALLOT_EINVAL, "not a workload name");
        if (rc == 0)
            rc = reader_keep(r, key, len, &final->workload);
        if (rc == 0)
            rc = reader_enum(r, json_object_iter_value(it), state_names, SCHED_STATE_COUNT, &state);
        reader_pop(r, item);
        final->state = (enum sched_state)state;
        scn->n_finals += rc == 0;
    }
    reader_pop(r, mark);
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

/* Read the list under key of root (at most SCENARIO_MAX_STEPS entries of size bytes) into a
 * new array of the scenario's arena, each entry by read. OUT *items, *n. */
static int scenario_list(struct scenario_reader *sr, const json_t *root, const char *key,
                         size_t size, int (*read)(struct scenario_reader *, const json_t *, void *),
                         void **items, uint32_t *n)
{
    struct reader *r = &sr->r;
    const json_t *list = reader_get(root, key);
    size_t count = 0, mark = reader_push_key(r, key, strlen(key));
    int rc = list ? reader_array(r, list, SCENARIO_MAX_STEPS, "entries", &count) : 0;
    char *array = NULL;
    if (rc == 0 && count && !(array = arena_alloc(&sr->scn->arena, count * size)))
        rc = reader_fail(r, -ALLOT_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        size_t item = reader_push_index(r, i);
        rc = read(sr, json_array_get(list, i), array + i * size);
        reader_pop(r, item);
    }
    reader_pop(r, mark);
    if (rc == 0) {
        *items = array;
        *n = (uint32_t)count;
    }
    return rc;
}

static int scenario_read_step(struct scenario_reader *sr, const json_t *entry, void *out)
{
    return scenario_step(sr, entry, out);
}

static int scenario_read_expect(struct scenario_reader *sr, const json_t *entry, void *out)
{
    return scenario_expect(sr, entry, out);
}

/* Whether the steps are in time order already. */
static bool scenario_sorted(const struct scenario_step *steps, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        if (steps[i].at_ms < steps[i - 1].at_ms)
            return false;
    return true;
}

/* Read the timeline, the expectations and the final states of src's document. */
static int scenario_read(struct scenario_reader *sr)
{
    struct scenario *scn = sr->scn;
    const json_t *root = sr->src->root;
    void *steps = NULL, *expects = NULL;
    int rc = scenario_list(sr, root, "timeline", sizeof(*scn->steps), scenario_read_step, &steps,
                           &scn->n_steps);
    scn->steps = steps;
    if (rc == 0)
        rc = scenario_list(sr, root, "expect", sizeof(*scn->expects), scenario_read_expect,
                           &expects, &scn->n_expects);
    scn->expects = expects;
    if (rc == 0 && reader_get(root, "final"))
        rc = scenario_finals(sr, reader_get(root, "final"));
    if (rc == 0 && !scenario_sorted(scn->steps, scn->n_steps)) {
        /* in time order; entries at the same time keep file order */
        struct scenario_step *tmp = malloc(scn->n_steps * sizeof(*tmp));
        if (tmp)
            scenario_sort(scn->steps, tmp, scn->n_steps);
        else
            rc = reader_fail(&sr->r, -ALLOT_ENOMEM, "out of memory");
        free(tmp);
    }
    return rc;
}

int scenario_load(const char *path, struct scenario *scn, struct sched **engine, char *err,
                  size_t len)
{
    struct scenario_reader sr = {.scn = scn, .s = NULL};
    struct source src;
    int rc;

    memset(scn, 0, sizeof(*scn));
    arena_init(&scn->arena, 0);
    *engine = NULL;
    rc = source_load(path, PLATFORM_MAX_BYTES, &src, err, len);
    if (rc == 0)
        rc = platform_build(&src, scenario_keys, &sr.s, err, len);
    if (rc)
        goto out;
    sr.src = &src;
    reader_init(&sr.r, &scn->arena, &sr.error);
    sr.r.source = &src;
    scn->path = arena_strdup(&scn->arena, path);
    rc = scn->path ? scenario_read(&sr) : reader_fail(&sr.r, -ALLOT_ENOMEM, "out of memory");
    if (rc) {
        source_error(&src, &sr.error, err, len);
        goto out;
    }
    *engine = sr.s;
    sr.s = NULL;
out:
    source_cleanup(&src);
    sched_free(sr.s);
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
