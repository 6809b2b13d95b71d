/* Unit tests of the controller without HTTP: journal ops applied through the op table, then
 * replayed into a fresh engine after a close (the same state, gangs included); bad ops
 * refused with their field named and nothing applied; node agents' reports validated whole
 * before any part of them is applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "allotd/controller.h"
#include "allotd/fleet.h"
#include "allotd/ops.h"
#include "common/error.h"
#include "schema/op.h"
#include "schema/view.h"
#include "support.h"

struct fixture {
    char root[256];
    struct event_base *base;
    struct controller *ctl;
    char field[128], err[512];
};

/* Close the controller and open it again on the same store; snapshot_every: as allotd's
 * --snapshot-every (0: never, and a clean close writes none). */
static void reopen_every(struct fixture *f, uint32_t snapshot_every)
{
    controller_close(f->ctl);
    f->ctl = NULL;
    struct controller_options opt = {
        .data_dir = f->root, .virtual_nodes = true, .snapshot_every = snapshot_every};
    char err[512];
    int rc = controller_open(f->base, &opt, &f->ctl, err, sizeof(err));
    if (rc)
        fail_msg("controller_open: %s", err);
}

static void reopen(struct fixture *f)
{
    reopen_every(f, 0);
}

/* Apply op (taken). RET its error, with f->field and f->err. */
static int apply(struct fixture *f, json_t *op)
{
    assert_non_null(op);
    int rc = controller_apply(f->ctl, op, NULL, f->field, sizeof(f->field), f->err, sizeof(f->err));
    json_decref(op);
    return rc;
}

/* Commit what is pending, as the end of a loop iteration does (scheduling pass included). */
static void commit(struct fixture *f)
{
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static json_t *spec_op(const char *name, const char *spec)
{
    json_error_t jerr;
    json_t *s = json_loads(spec, 0, &jerr);
    assert_non_null(s);
    return json_pack("{s:s, s:o}", "op", name, "spec", s);
}

/* A platform: tenant acme, cluster c1, node n1 of acme with 4 GPUs, workspace acme/research. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->root, sizeof(f->root), "%s/allot-ctl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!f || !mkdtemp(f->root) || !(f->base = event_base_new()))
        return -1;
    *state = f;
    reopen(f);
    if (apply(f, spec_op(OP_TENANT_ADD, "{\"name\": \"acme\"}")) ||
        apply(f, spec_op(OP_CLUSTER_ADD, "{\"name\": \"c1\"}")) ||
        apply(f, spec_op(OP_NODE_ADD, "{\"name\": \"n1\", \"cluster\": \"c1\", \"tenant\": "
                                      "\"acme\", \"cpu\": \"64\", \"memory\": \"256Gi\", "
                                      "\"gpus\": [{\"model\": \"H100-80GB\", \"count\": 4}]}")) ||
        apply(f, spec_op(OP_WORKSPACE_ADD, "{\"name\": \"acme/research\"}")))
        fail_msg("platform: %s: %s", f->field, f->err);
    commit(f);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    controller_close(f->ctl);
    event_base_free(f->base);
    support_remove_tree(f->root);
    free(f);
    return 0;
}

static json_t *submit(const char *name, int gpus, int replicas)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:i, s:s}}", "op", OP_SUBMIT, "user", "ann",
                     "spec", "name", name, "workspace", "acme/research", "gpus", gpus, "replicas",
                     replicas, "duration", "10h");
}

static json_t *finish(const char *workload, int rank, int code)
{
    return json_pack("{s:s, s:s, s:i, s:{s:i}}", "op", OP_FINISH, "workload", workload, "rank",
                     rank, "exit", "code", code);
}

static enum sched_state state_of(struct fixture *f, const char *name)
{
    uint32_t id;
    assert_int_equal(sched_workload_find(f->ctl->engine, name, &id), 0);
    return f->ctl->engine->workloads[id].state;
}

/* Everything the controller shows of its engine, as one JSON text (owned by the caller). */
static char *snapshot(struct fixture *f)
{
    const struct sched *s = f->ctl->engine;
    json_t *all = json_array();
    for (uint32_t i = 0; i < s->n_tenants; i++)
        json_array_append_new(all, view_tenant(s, i));
    for (uint32_t i = 0; i < s->n_nodes; i++)
        json_array_append_new(all, controller_node_json(f->ctl, i)); /* with its reason */
    for (uint32_t i = 0; i < s->n_workspaces; i++)
        json_array_append_new(all, view_workspace(s, i));
    for (uint32_t i = 0; i < s->n_workloads; i++)
        if (s->workloads[i].name) /* a slot freed by a forget has none */
            json_array_append_new(all, controller_workload_json(f->ctl, i));
    char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(all);
    assert_non_null(text);
    return text;
}

/* The ops' table has one row per op name of schema/op.h, each once. */
static void test_op_table(void **state)
{
    static const char *const names[] = {
        OP_SCHEDULE,    OP_SCHEDULER,        OP_TICK,          OP_TENANT_ADD,
        OP_CLUSTER_ADD, OP_NODE_ADD,         OP_WORKSPACE_ADD, OP_WORKSPACE_UPDATE,
        OP_NODE_STATE,  OP_GPU_HEALTH,       OP_NODE_MOVE,     OP_NODE_WIPED,
        OP_SUBMIT,      OP_CANCEL,           OP_FINISH,        OP_STOPPED,
        OP_FORGET,      OP_NODE_MOVE_CANCEL, OP_CHECKPOINT,    OP_TENANT_UPDATE};
    size_t n = sizeof(names) / sizeof(names[0]);
    assert_int_equal(ops_count(), n);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t k = 0; k < ops_count(); k++)
            found += strcmp(ops_name(k), names[i]) == 0;
        assert_int_equal(found, 1);
    }
    assert_null(ops_name(n));
}

/* Ops applied, committed, the controller closed and opened again: the replay of the journal
 * rebuilds the same engine and the same records (attempts, exits, ended times). */
static void test_apply_then_replay(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("solo", 1, 1)), 0);
    assert_int_equal(apply(f, submit("gang", 1, 2)), 0);
    assert_int_equal(apply(f, submit("big", 4, 1)), 0);
    commit(f);
    assert_int_equal(state_of(f, "acme/research/solo"), SCHED_RUNNING);
    assert_int_equal(state_of(f, "acme/research/gang"), SCHED_RUNNING);
    assert_int_equal(state_of(f, "acme/research/big"), SCHED_PENDING);
    /* one replica of the gang ends: the gang runs on, and that end is journaled too */
    assert_int_equal(apply(f, finish("acme/research/gang", 0, 0)), 0);
    assert_int_equal(state_of(f, "acme/research/gang"), SCHED_RUNNING);
    commit(f);
    assert_int_equal(apply(f, finish("acme/research/gang", 1, 0)), 0);
    assert_int_equal(state_of(f, "acme/research/gang"), SCHED_FINISHED);
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:{s:s}}", "op", OP_WORKSPACE_UPDATE,
                                        "workspace", "acme/research", "spec", "weight", "3")),
                     -ALLOT_EINVAL); /* weight is a number */
    assert_string_equal(f->field, "weight");
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:{s:i}}", "op", OP_WORKSPACE_UPDATE,
                                        "workspace", "acme/research", "spec", "weight", 3)),
                     0);
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:i, s:b}", "op", OP_GPU_HEALTH, "node", "n1",
                                        "index", 3, "healthy", 0)),
                     0);
    commit(f);
    /* the ended gang leaves the engine; its slot goes to the next submission; a running
     * workload is not forgotten */
    uint32_t gang_id, again_id;
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/gang", &gang_id), 0);
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s}", "op", OP_FORGET, "workload", "acme/research/solo")),
        -ALLOT_ESTATE);
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s}", "op", OP_FORGET, "workload", "acme/research/gang")), 0);
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/gang", &again_id),
                     -ALLOT_ENOENT);
    assert_int_equal(apply(f, submit("again", 1, 1)), 0);
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/again", &again_id), 0);
    assert_int_equal(again_id, gang_id);
    commit(f);
    char *before = snapshot(f);
    reopen(f);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/gang", &again_id),
                     -ALLOT_ENOENT);
    assert_int_equal(state_of(f, "acme/research/again"), SCHED_RUNNING);
    free(before);
    free(after);
}

/* A start from a snapshot rebuilds what the journal's replay does: the same state, and the
 * node an ended workload ran on (its agent may still ship its output there). */
static void test_start_from_snapshot(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("solo", 1, 1)), 0);
    assert_int_equal(apply(f, submit("gang", 1, 2)), 0);
    commit(f);
    assert_int_equal(apply(f, finish("acme/research/solo", 0, 0)), 0);
    commit(f);
    char *before = snapshot(f);
    reopen_every(f, 1); /* the journal replayed; the clean close below writes a snapshot */
    assert_int_equal(f->ctl->snapshot_seq, 0);
    reopen_every(f, 1);
    assert_true(f->ctl->snapshot_seq > 0); /* started from it */
    char *after = snapshot(f);
    assert_string_equal(before, after);
    uint32_t solo, node;
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/solo", &solo), 0);
    assert_int_equal(f->ctl->engine->workloads[solo].state, SCHED_FINISHED);
    assert_int_equal(sched_node_find(f->ctl->engine, "n1", &node), 0);
    assert_true(fleet_ran_on(f->ctl->fleet, solo, node));
    free(before);
    free(after);
}

/* A node's drain reason follows its node_state ops and comes back the same from a replay of
 * the journal and from a snapshot; a move cancelled is replayed too. */
static void test_node_reason_and_move_cancel_replayed(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, spec_op(OP_TENANT_ADD, "{\"name\": \"beta\"}")), 0);
    assert_int_equal(apply(f, submit("busy", 1, 1)), 0); /* the move waits for it */
    commit(f);
    assert_int_equal(state_of(f, "acme/research/busy"), SCHED_RUNNING);
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", OP_NODE_STATE, "node", "n1", "state",
                           "draining", "reason", "replacing PSU", "by", "alice")),
        0);
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s, s:s}", "op", OP_NODE_MOVE, "node", "n1", "tenant", "beta")),
        0);
    assert_int_equal(apply(f, json_pack("{s:s, s:s}", "op", OP_NODE_MOVE_CANCEL, "node", "n1")), 0);
    commit(f);
    json_t *n = controller_node_json(f->ctl, 0);
    assert_string_equal(json_string_value(json_object_get(n, "state")), "draining");
    assert_string_equal(json_string_value(json_object_get(n, "tenant")), "acme");
    assert_string_equal(json_string_value(json_object_get(n, "reason")), "replacing PSU");
    assert_string_equal(json_string_value(json_object_get(n, "reason_by")), "alice");
    assert_null(json_object_get(n, "moving"));
    json_decref(n);
    char *before = snapshot(f);
    reopen(f); /* the journal replayed */
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(after);
    reopen_every(f, 1);
    reopen_every(f, 1); /* from the snapshot the close wrote */
    assert_true(f->ctl->snapshot_seq > 0);
    after = snapshot(f);
    assert_string_equal(before, after);
    free(after);
    /* ready again: the reason is gone, and stays gone after a replay */
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s, s:s}", "op", OP_NODE_STATE, "node", "n1", "state", "ready")),
        0);
    commit(f);
    n = controller_node_json(f->ctl, 0);
    assert_null(json_object_get(n, "reason"));
    json_decref(n);
    assert_int_equal(json_object_size(f->ctl->node_reasons), 0);
    free(before);
}

/* A bad op is refused with its field named; nothing of it is applied or journaled. */
static void test_bad_op_refused(void **state)
{
    struct fixture *f = *state;
    struct {
        const char *op;
        const char *field;
        int rc;
    } bad[] = {
        {"{\"op\": \"launch\"}", "op", -ALLOT_EINVAL},
        {"{\"spec\": {}}", "op", -ALLOT_EINVAL},
        {"{\"op\": \"tenant_add\", \"spec\": 3}", "spec", -ALLOT_EINVAL},
        {"{\"op\": \"tenant_add\", \"spec\": {\"name\": \"Bad Name\"}}", "name", -ALLOT_EINVAL},
        {"{\"op\": \"tenant_add\", \"spec\": {\"name\": \"acme\"}}", "", -ALLOT_EEXIST},
        {"{\"op\": \"node_add\", \"spec\": {\"name\": \"n2\", \"cluster\": \"c1\", "
         "\"cpu\": \"1\", \"memory\": \"1Gi\", \"gpus\": \"all\"}}",
         "gpus", -ALLOT_EINVAL},
        {"{\"op\": \"workspace_update\", \"workspace\": \"acme/none\", \"spec\": {}}", "workspace",
         -ALLOT_ENOENT},
        {"{\"op\": \"tenant_update\", \"tenant\": \"none\", \"spec\": {}}", "tenant",
         -ALLOT_ENOENT},
        {"{\"op\": \"tenant_update\", \"tenant\": \"acme\", \"spec\": {\"limits\": {\"queued\": "
         "0}}}",
         "limits.queued", -ALLOT_ERANGE},
        {"{\"op\": \"node_state\", \"node\": \"n1\", \"state\": \"asleep\"}", "state",
         -ALLOT_EINVAL},
        {"{\"op\": \"node_state\", \"node\": \"n9\", \"state\": \"down\"}", "node", -ALLOT_ENOENT},
        {"{\"op\": \"gpu_health\", \"node\": \"n1\", \"index\": 4, \"healthy\": false}", "index",
         -ALLOT_EINVAL},
        {"{\"op\": \"node_move\", \"node\": \"n1\"}", "tenant", -ALLOT_EINVAL},
        {"{\"op\": \"node_state\", \"node\": \"n1\", \"state\": \"draining\", "
         "\"reason\": \"a\\u0007bell\"}",
         "reason", -ALLOT_EINVAL},
        {"{\"op\": \"node_state\", \"node\": \"n1\", \"state\": \"draining\", "
         "\"reason\": \"ok\", \"by\": 3}",
         "by", -ALLOT_EINVAL},
        {"{\"op\": \"node_move_cancel\", \"node\": \"n1\"}", "", -ALLOT_ESTATE},
        {"{\"op\": \"node_move_cancel\", \"node\": \"n9\"}", "node", -ALLOT_ENOENT},
        {"{\"op\": \"submit\", \"spec\": {\"name\": \"x\", \"workspace\": \"acme/research\", "
         "\"gpus\": 0.5}}",
         "gpus", -ALLOT_EINVAL},
        {"{\"op\": \"cancel\", \"workload\": \"acme/research/none\"}", "workload", -ALLOT_ENOENT},
        {"{\"op\": \"scheduler\", \"spec\": {\"default_grace\": \"soon\"}}", "default_grace",
         -ALLOT_EINVAL},
    };
    assert_int_equal(apply(f, submit("one", 1, 1)), 0);
    commit(f);
    char *before = snapshot(f);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t jerr;
        json_t *op = json_loads(bad[i].op, 0, &jerr);
        assert_non_null(op);
        assert_int_equal(apply(f, op), bad[i].rc);
        assert_string_equal(f->field, bad[i].field);
        assert_true(f->err[0] != '\0');
        assert_int_equal(json_array_size(f->ctl->pending), 0);
    }
    /* a gang replica that does not exist ends nothing */
    assert_int_equal(apply(f, finish("acme/research/one", 0, 0)), 0); /* one replica: over */
    assert_int_equal(apply(f, submit("pair", 1, 2)), 0);
    commit(f);
    assert_int_equal(apply(f, finish("acme/research/pair", 2, 0)), -ALLOT_EINVAL);
    assert_string_equal(f->field, "rank");
    assert_int_equal(state_of(f, "acme/research/pair"), SCHED_RUNNING);
    free(before);
    before = snapshot(f);
    reopen(f);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* A report is read whole before anything of it applies: a bad entry after a good one refuses
 * the report, names the field, and leaves the GPU the good part would have changed. */
static void test_report_refused_whole(void **state)
{
    struct fixture *f = *state;
    struct {
        const char *report;
        const char *field;
    } bad[] = {
        {"[]", ""},
        {"{\"inventory\": []}", "inventory"},
        {"{\"inventory\": {\"gpus\": {}}}", "inventory.gpus"},
        {"{\"inventory\": {\"gpus\": [{\"index\": 0, \"healthy\": false}]}, "
         "\"workloads\": [{\"name\": \"x\", \"state\": \"weird\"}]}",
         "workloads[0]"},
        {"{\"inventory\": {\"gpus\": [{\"index\": 0, \"healthy\": false}, {\"index\": 4, "
         "\"healthy\": true}]}}",
         "inventory.gpus[1]"},
        {"{\"inventory\": {\"gpus\": [{\"index\": 0, \"healthy\": false}], "
         "\"cpu_millicores\": -1}}",
         "inventory.cpu_millicores"},
        {"{\"inventory\": {\"memory_bytes\": \"lots\"}}", "inventory.memory_bytes"},
        {"{\"inventory\": {\"labels\": {\"k\": 5}}}", "inventory.labels.k"},
        {"{\"inventory\": {\"labels\": {\"zone\": \"a\\u0001b\"}}}", "inventory.labels.zone"},
        {"{\"workloads\": {}}", "workloads"},
        {"{\"tenant\": 7}", "tenant"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_error_t jerr;
        json_t *report = json_loads(bad[i].report, JSON_DECODE_ANY, &jerr);
        bool changed = false;
        assert_non_null(report);
        int rc = fleet_report(f->ctl->fleet, 0, report, &changed, f->field, sizeof(f->field),
                              f->err, sizeof(f->err));
        json_decref(report);
        assert_int_equal(rc, -ALLOT_EINVAL);
        assert_string_equal(f->field, bad[i].field);
        assert_false(changed);
        assert_true(f->ctl->engine->nodes[0].gpus[0].healthy);
        assert_int_equal(json_array_size(f->ctl->pending), 0);
    }
    /* the good part alone applies, as an op */
    json_t *good = json_pack("{s:{s:[{s:i, s:b}]}}", "inventory", "gpus", "index", 0, "healthy", 0);
    bool changed = false;
    assert_int_equal(fleet_report(f->ctl->fleet, 0, good, &changed, f->field, sizeof(f->field),
                                  f->err, sizeof(f->err)),
                     0);
    json_decref(good);
    assert_true(changed);
    assert_false(f->ctl->engine->nodes[0].gpus[0].healthy);
    assert_int_equal(json_array_size(f->ctl->pending), 1);
}

/* A report of the workload w running with checkpoint ms (its file's time) on node 0. RET the
 * ops it queued. */
static size_t report_checkpoint_at(struct fixture *f, json_int_t ms)
{
    json_t *report = json_pack("{s:[{s:s, s:i, s:s, s:I}]}", "workloads", "name", "acme/research/w",
                               "rank", 0, "state", "running", "checkpoint", ms);
    bool changed = false;
    size_t before = json_array_size(f->ctl->pending);
    assert_int_equal(fleet_report(f->ctl->fleet, 0, report, &changed, f->field, sizeof(f->field),
                                  f->err, sizeof(f->err)),
                     0);
    json_decref(report);
    return json_array_size(f->ctl->pending) - before;
}

/* An agent's checkpoint time becomes the op checkpoint only when it is plausible: not before
 * the workload's start, not in the future beyond a small skew (counted as now), newer than
 * the one known; a malformed one refuses the report; the journal replays it. */
static void test_report_checkpoint(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("w", 1, 1)), 0);
    commit(f);
    uint32_t id;
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/w", &id), 0);
    const struct sched_workload *w = &f->ctl->engine->workloads[id];
    assert_int_equal(w->state, SCHED_RUNNING);
    int64_t now = controller_now(f->ctl);
    assert_int_equal(report_checkpoint_at(f, now + 3600 * 1000), 0); /* the future */
    if (w->start_ms > 1)
        assert_int_equal(report_checkpoint_at(f, w->start_ms - 1), 0); /* before its start */
    assert_int_equal(report_checkpoint_at(f, now + 1000), 1);          /* a small skew: now */
    commit(f);
    w = &f->ctl->engine->workloads[id];
    assert_true(w->checkpoint_ms >= now && w->checkpoint_ms <= controller_now(f->ctl));
    int64_t saved = w->checkpoint_ms;
    assert_int_equal(report_checkpoint_at(f, saved), 0); /* known already */
    json_t *bad = json_pack("{s:[{s:s, s:s, s:s}]}", "workloads", "name", "acme/research/w",
                            "state", "running", "checkpoint", "soon");
    bool changed = false;
    assert_int_equal(fleet_report(f->ctl->fleet, 0, bad, &changed, f->field, sizeof(f->field),
                                  f->err, sizeof(f->err)),
                     -ALLOT_EINVAL);
    json_decref(bad);
    assert_string_equal(f->field, "workloads[0]");
    /* (the views differ after a reopen: a report's confirmation of the process is not kept) */
    reopen(f);
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/w", &id), 0);
    assert_int_equal(f->ctl->engine->workloads[id].checkpoint_ms, saved);
}

/* An agent's report ends a replica of a gang as finish ops with its rank: the gang finishes
 * when both have, and the journal replays to the same state. */
static void test_report_ends_gang(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("g", 1, 2)), 0);
    commit(f);
    for (int rank = 0; rank < 2; rank++) {
        json_t *report =
            json_pack("{s:[{s:s, s:i, s:s, s:i}]}", "workloads", "name", "acme/research/g", "rank",
                      rank, "state", "exited", "exit_code", 0);
        bool changed = false;
        assert_int_equal(fleet_report(f->ctl->fleet, 0, report, &changed, f->field,
                                      sizeof(f->field), f->err, sizeof(f->err)),
                         0);
        json_decref(report);
        assert_true(changed);
        assert_int_equal(state_of(f, "acme/research/g"), rank ? SCHED_FINISHED : SCHED_RUNNING);
        commit(f);
    }
    char *before = snapshot(f);
    reopen(f);
    char *after = snapshot(f);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* A finish whose exit says the run failed (a non-zero code, a signal) ends the workload
 * failed; a gang fails with its first failed replica, a stopped replica's signal (Allot's own)
 * is no failure; the journal and a snapshot both rebuild the same states. */
static void test_failed_runs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("ok", 1, 1)), 0);
    assert_int_equal(apply(f, submit("bad", 1, 1)), 0);
    assert_int_equal(apply(f, submit("gang", 1, 2)), 0);
    commit(f);
    assert_int_equal(apply(f, finish("acme/research/ok", 0, 0)), 0);
    assert_int_equal(state_of(f, "acme/research/ok"), SCHED_FINISHED);
    assert_int_equal(apply(f, finish("acme/research/bad", 0, 3)), 0);
    assert_int_equal(state_of(f, "acme/research/bad"), SCHED_FAILED);
    /* a replica killed by a signal nobody sent on Allot's behalf: the gang fails at once */
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:i, s:{s:i}}", "op", OP_FINISH, "workload",
                                        "acme/research/gang", "rank", 1, "exit", "signal", 9)),
                     0);
    assert_int_equal(state_of(f, "acme/research/gang"), SCHED_FAILED);
    /* cancelled: the agent's SIGTERM ends it as stopped, and it is cancelled, not failed */
    assert_int_equal(apply(f, submit("gone", 1, 1)), 0);
    commit(f);
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s}", "op", OP_CANCEL, "workload", "acme/research/gone")), 0);
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:{s:i}}", "op", OP_STOPPED, "workload",
                                        "acme/research/gone", "exit", "signal", 15)),
                     0);
    assert_int_equal(state_of(f, "acme/research/gone"), SCHED_CANCELLED);
    commit(f);
    char *before = snapshot(f);
    reopen(f); /* from the journal */
    char *replayed = snapshot(f);
    assert_string_equal(before, replayed);
    reopen_every(f, 1);
    reopen_every(f, 1); /* from a snapshot */
    assert_true(f->ctl->snapshot_seq > 0);
    char *loaded = snapshot(f);
    assert_string_equal(before, loaded);
    assert_int_equal(state_of(f, "acme/research/bad"), SCHED_FAILED);
    assert_int_equal(state_of(f, "acme/research/gang"), SCHED_FAILED);
    /* failed is an end: it is forgotten like the others */
    assert_int_equal(
        apply(f, json_pack("{s:s, s:s}", "op", OP_FORGET, "workload", "acme/research/bad")), 0);
    free(before);
    free(replayed);
    free(loaded);
}

/* With node agents a submission with neither command nor image is refused, naming command;
 * one accepted earlier with simulated nodes still replays once the nodes are real. */
static void test_real_nodes_need_a_command(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(apply(f, submit("simulated", 1, 1)), 0); /* virtual: no command needed */
    commit(f);
    controller_close(f->ctl);
    f->ctl = NULL;
    struct controller_options opt = {.data_dir = f->root, .virtual_nodes = false};
    char err[512];
    if (controller_open(f->base, &opt, &f->ctl, err, sizeof(err)))
        fail_msg("controller_open: %s", err);
    assert_int_equal(state_of(f, "acme/research/simulated"), SCHED_RUNNING);
    assert_int_equal(apply(f, submit("idle", 1, 1)), -ALLOT_EINVAL);
    assert_string_equal(f->field, "command");
    assert_non_null(strstr(f->err, "agents need a command to run"));
    uint32_t id;
    assert_int_equal(sched_workload_find(f->ctl->engine, "acme/research/idle", &id), -ALLOT_ENOENT);
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:[s]}}", "op", OP_SUBMIT,
                                        "user", "ann", "spec", "name", "busy", "workspace",
                                        "acme/research", "gpus", 1, "command", "true")),
                     0);
    assert_int_equal(apply(f, json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:s}}", "op", OP_SUBMIT,
                                        "user", "ann", "spec", "name", "boxed", "workspace",
                                        "acme/research", "gpus", 1, "image", "busybox:1.36")),
                     0);
    commit(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test_setup_teardown(test_apply_then_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_from_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_op_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_reason_and_move_cancel_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_refused_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_ends_gang, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_nodes_need_a_command, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
