/* Unit tests of sched/snapshot: an engine loaded from a snapshot is the saved engine. A seeded
 * random history (submissions of every shape, MIG slices, gangs, finishes, cancels, drains of
 * preempted work, forgotten workloads whose slots are reused, node and GPU faults, workspace
 * changes, scheduling passes) runs on one engine; at many points it is saved and loaded into a
 * second one, and from there both take the same operations: after each, their events and
 * their whole state (saved again, byte for byte) must be the same, so the loaded engine makes
 * exactly the decisions of the one that never stopped. And bytes that are not a snapshot, or a
 * snapshot cut short or with bytes changed, are refused without a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/quantity.h"
#include "sched/sched.h"
#include "sched/snapshot.h"

static char err[256];

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

/* Two tenants; 6 nodes of 8 H100 (one with two 3g.40gb slices on GPU 0), 2 of 4 A100; four
 * workspaces with reservations, limits and weights. */
static struct sched *platform(void)
{
    struct sched *s;
    assert_int_equal(sched_new(NULL, &s), 0);
    const char *tenants[] = {"t1", "t2"};
    for (int i = 0; i < 2; i++) {
        struct sched_tenant_spec t = {.name = tenants[i], .max_grace_ms = 60000};
        assert_int_equal(sched_tenant_add(s, &t, NULL, err, sizeof(err)), 0);
    }
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_cluster_add(s, &c, NULL, err, sizeof(err)), 0);
    const struct gpu_model_info *h100 = mig_model(GPU_MODEL_H100_80GB);
    int p3g = -1;
    for (int i = 0; i < h100->n_profiles; i++)
        if (strcmp(h100->profiles[i].name, "3g.40gb") == 0)
            p3g = i;
    assert_true(p3g >= 0);
    for (int i = 0; i < 8; i++) {
        struct sched_gpu_spec gpus[8];
        bool a100 = i >= 6;
        for (int g = 0; g < 8; g++)
            gpus[g] = (struct sched_gpu_spec){
                .model = a100 ? GPU_MODEL_A100_80GB : GPU_MODEL_H100_80GB, .healthy = true};
        if (i == 1)
            gpus[0] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB,
                                              .healthy = true,
                                              .n_mig = 2,
                                              .mig = {{(int8_t)p3g, 0}, {(int8_t)p3g, 4}}};
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        struct sched_label label = {"rack", i % 2 ? "r1" : "r2"};
        struct sched_node_spec n = {.name = name,
                                    .cluster = "c",
                                    .tenant = i < 5 ? "t1" : "t2",
                                    .cpu = 128000,
                                    .memory = 1LL << 40,
                                    .n_gpus = a100 ? 4 : 8,
                                    .gpus = gpus,
                                    .n_labels = 1,
                                    .labels = &label};
        assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    }
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    struct sched_resources capped = none;
    capped.gpu = 24 * QUANTITY_GPU_UNITS;
    struct sched_workspace_spec ws[] = {
        {.name = "t1/prod",
         .limits = none,
         .reserved = 16 * QUANTITY_GPU_UNITS,
         .lend = true,
         .weight = 1},
        {.name = "t1/research", .limits = capped, .reserved = 0, .lend = true, .weight = 2},
        {.name = "t1/dev",
         .limits = none,
         .reserved = 4 * QUANTITY_GPU_UNITS,
         .lend = false,
         .weight = 1},
        {.name = "t2/all",
         .limits = none,
         .reserved = 8 * QUANTITY_GPU_UNITS,
         .lend = true,
         .weight = 1},
    };
    for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++)
        assert_int_equal(sched_workspace_add(s, &ws[i], NULL, err, sizeof(err)), 0);
    return s;
}

/* Save s, load it into a new engine. */
static struct sched *reload(const struct sched *s)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(sched_snapshot_save(s, &buf, &len), 0);
    struct sched *copy = NULL;
    int rc = sched_snapshot_load(buf, len, &copy, err, sizeof(err));
    if (rc)
        fail_msg("load: %d %s", rc, err);
    free(buf);
    return copy;
}

/* s saved in the format of an earlier version and loaded again: that version's reader. */
static struct sched *reload_version(const struct sched *s, uint32_t version)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(sched_snapshot_save_version(s, version, &buf, &len), 0);
    assert_int_equal(buf[8], version);
    struct sched *copy = NULL;
    int rc = sched_snapshot_load(buf, len, &copy, err, sizeof(err));
    if (rc)
        fail_msg("load of version %u: %d %s", version, rc, err);
    free(buf);
    return copy;
}

/* Whether a and b are the same engine, byte for byte of their snapshots. */
static void assert_same(const struct sched *a, const struct sched *b, int step)
{
    uint8_t *x, *y;
    size_t nx, ny;
    assert_int_equal(sched_snapshot_save(a, &x, &nx), 0);
    assert_int_equal(sched_snapshot_save(b, &y, &ny), 0);
    if (nx != ny || memcmp(x, y, nx) != 0)
        fail_msg("step %d: the engines differ (%zu and %zu bytes)", step, nx, ny);
    free(x);
    free(y);
    /* and what the snapshots leave out, derived on load */
    for (uint32_t i = 0; i < a->n_workspaces; i++) {
        const struct sched_workspace *p = &a->workspaces[i], *q = &b->workspaces[i];
        if (p->n_preempt != q->n_preempt ||
            (p->n_preempt && memcmp(p->preempt, q->preempt, p->n_preempt * sizeof(*p->preempt))))
            fail_msg("step %d: workspace %s: the preemptible arrays differ", step, p->name);
    }
}

/* A random id of a workload of e in one of the states (mask of 1 << state), or SCHED_NONE. */
static uint32_t pick(const struct sched *e, unsigned states)
{
    uint32_t n = 0, chosen = SCHED_NONE;
    for (uint32_t i = 0; i < e->n_workloads; i++)
        if (e->workloads[i].name && (states >> e->workloads[i].state & 1) && rnd(++n) == 0)
            chosen = i;
    return chosen;
}

/* One random operation at time now, the same on every engine of es[0..n). */
static void step(struct sched **es, int n, int i, int64_t now)
{
    static const char *const wss[] = {"t1/prod", "t1/research", "t1/dev", "t2/all"};
    uint32_t op = rnd(100);
    /* ids and choices are drawn once, from the first engine (all hold the same state) */
    if (op < 45) {
        char name[32];
        snprintf(name, sizeof(name), "w%d", i);
        struct sched_workload_spec w = {.name = name,
                                        .workspace = wss[rnd(4)],
                                        .kind = (enum sched_kind)rnd(SCHED_KIND_COUNT),
                                        .gpus = rnd(5),
                                        .mig = -1,
                                        .model = -1,
                                        .replicas = 1 + (rnd(6) == 0 ? rnd(3) : 0),
                                        .cpu = 1000 * rnd(8),
                                        .memory = (int64_t)rnd(64) << 30,
                                        .preemptible = -1,
                                        .grace_ms = rnd(3) ? -1 : 1000 * (int64_t)rnd(60)};
        if (rnd(8) == 0) {
            w.gpus = 0;
            w.mig = mig_name_id("3g.40gb");
        }
        if (rnd(10) == 0) {
            w.has_priority = true;
            w.priority = (int32_t)rnd(2000) - 500;
        }
        for (int k = 0; k < n; k++) {
            uint32_t id;
            sched_submit(es[k], &w, now, &id, err, sizeof(err));
        }
    } else if (op < 65) {
        /* one end in four is a failed run */
        uint32_t id = pick(es[0], 1u << SCHED_RUNNING);
        for (int k = 0; id != SCHED_NONE && k < n; k++)
            assert_int_equal((op < 60 ? sched_finish : sched_fail)(es[k], id, now), 0);
    } else if (op < 72) {
        uint32_t id =
            pick(es[0], 1u << SCHED_PENDING | 1u << SCHED_RUNNING | 1u << SCHED_RECLAIMING);
        for (int k = 0; id != SCHED_NONE && k < n; k++)
            sched_cancel(es[k], id, now);
    } else if (op < 82) {
        uint32_t id = pick(es[0], 1u << SCHED_DRAINING);
        for (int k = 0; id != SCHED_NONE && k < n; k++)
            assert_int_equal(sched_stopped(es[k], id, now), 0);
    } else if (op < 90) {
        uint32_t id = pick(es[0], 1u << SCHED_FINISHED | 1u << SCHED_FAILED |
                                      1u << SCHED_CANCELLED | 1u << SCHED_REJECTED);
        for (int k = 0; id != SCHED_NONE && k < n; k++)
            assert_int_equal(sched_workload_forget(es[k], id), 0);
    } else if (op < 94) {
        /* node states, and moves: made, cancelled, wiped for */
        uint32_t node = rnd(8), what = rnd(6);
        enum sched_node_state st = (enum sched_node_state)rnd(3);
        const char *to = rnd(2) ? "t1" : "t2";
        bool wipe = rnd(2);
        uint32_t wiped_for = es[0]->nodes[node].moving_to == SCHED_NO_TENANT
                                 ? SCHED_NONE
                                 : es[0]->nodes[node].moving_to;
        for (int k = 0; k < n; k++) {
            if (what == 0)
                sched_node_move(es[k], node, to, wipe, now, err, sizeof(err));
            else if (what == 1)
                sched_node_move_cancel(es[k], node, now);
            else if (what == 2 && wiped_for != SCHED_NONE)
                sched_node_wiped(es[k], node, wiped_for, now);
            else
                sched_node_set_state(es[k], node, st, now);
        }
    } else if (op < 97) {
        uint32_t node = rnd(8), gpu = rnd(4);
        bool healthy = rnd(3) != 0;
        for (int k = 0; k < n; k++)
            sched_gpu_set_health(es[k], node, gpu, healthy, now);
    } else {
        struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                       SCHED_UNLIMITED};
        struct sched_workspace_spec ws = {.name = "t1/prod",
                                          .limits = none,
                                          .reserved = (int64_t)rnd(24) * QUANTITY_GPU_UNITS,
                                          .lend = true,
                                          .weight = 1 + rnd(3)};
        for (int k = 0; k < n; k++)
            sched_workspace_update(es[k], &ws, now, err, sizeof(err));
    }
    for (int k = 0; k < n; k++) {
        assert_int_equal(sched_schedule(es[k], now), 0);
        assert_int_equal(sched_check(es[k], err, sizeof(err)), 0);
    }
}

/* The events of a and b since they were last cleared: the same decisions, in the same order. */
static void assert_same_events(struct sched *a, struct sched *b, int i)
{
    uint32_t na, nb;
    const struct sched_event *ea = sched_events(a, &na), *eb = sched_events(b, &nb);
    assert_int_equal(na, nb);
    for (uint32_t k = 0; k < na; k++) {
        if (ea[k].kind != eb[k].kind || ea[k].workload != eb[k].workload ||
            ea[k].reason != eb[k].reason || ea[k].other != eb[k].other ||
            strcmp(ea[k].message, eb[k].message) != 0)
            fail_msg("step %d, event %u: %s / %s", i, k, ea[k].message, eb[k].message);
    }
    sched_events_clear(a);
    sched_events_clear(b);
}

static void test_loaded_engine_decides_as_the_saved_one(void **state)
{
    (void)state;
    rng_state = 0x5eed5eed12345678ULL;
    struct sched *a = platform();
    struct sched *b = NULL;
    int64_t now = 1000;
    uint32_t preempting = 0, mig_admitted = 0, failed = 0, snapshots = 0;
    for (int i = 0; i < 3000; i++) {
        now += 1 + rnd(20000);
        if (i % 150 == 75) {
            /* a snapshot here: from now on b goes on from it, a never stopped */
            sched_free(b);
            b = reload(a);
            assert_same(a, b, i);
            snapshots++;
        }
        struct sched *both[2] = {a, b};
        step(both, b ? 2 : 1, i, now);
        uint32_t n_ev;
        const struct sched_event *ev = sched_events(a, &n_ev);
        for (uint32_t k = 0; k < n_ev; k++) {
            preempting += ev[k].kind == SCHED_EV_PREEMPTING;
            failed += ev[k].kind == SCHED_EV_FAILED;
            mig_admitted +=
                ev[k].kind == SCHED_EV_ADMITTED && a->workloads[ev[k].workload].mig >= 0;
        }
        if (b) {
            assert_same_events(a, b, i);
            assert_same(a, b, i);
        } else {
            sched_events_clear(a);
        }
    }
    /* the history covered what it is meant to: preemptions, MIG slices, failed runs (kept
     * and forgotten across snapshots), reused slots */
    assert_int_equal(snapshots, 20);
    assert_true(preempting > 0);
    assert_true(failed > 0);
    assert_true(mig_admitted > 0);
    assert_true(a->n_workloads < 3000);
    sched_free(a);
    sched_free(b);
}

static void test_saved_twice_is_the_same(void **state)
{
    (void)state;
    rng_state = 42;
    struct sched *a = platform();
    for (int i = 0; i < 400; i++) {
        struct sched *one[1] = {a};
        step(one, 1, i, 1000 + i * 5000);
    }
    /* with its events still there: they are part of the state */
    struct sched *b = reload(a);
    struct sched *c = reload(b);
    assert_same(a, c, 0);
    /* version 6 still wrote the preemptible lists as links: the arrays come back the same */
    struct sched *d = reload_version(a, 6);
    assert_same(a, d, 0);
    sched_free(d);
    uint32_t most = 0;
    for (uint32_t i = 0; i < a->n_workspaces; i++)
        most = a->workspaces[i].n_preempt > most ? a->workspaces[i].n_preempt : most;
    assert_true(most >= 2); /* an order to keep */
    uint32_t na, nc;
    sched_events(a, &na);
    sched_events(c, &nc);
    assert_int_equal(na, nc);
    uint32_t id;
    assert_int_equal(sched_workload_find(c, "w399", &id) == 0,
                     sched_workload_find(a, "w399", &id) == 0);
    assert_int_equal(sched_tenant_find(c, "t2", &id), 0);
    assert_int_equal(id, 1);
    sched_free(a);
    sched_free(b);
    sched_free(c);
}

/* A snapshot of version 1 (before move_drained) still loads: a move under way in it is kept,
 * and cancelling it leaves its node draining (it cannot tell that the move drained it); the
 * current version keeps that the move did, so the node is ready again after a cancel. */
static void test_version_1_loads(void **state)
{
    (void)state;
    struct sched *a = platform();
    uint32_t n5 = 5; /* t2's node of 8 H100: t2 reserves 8 and keeps its two A100 nodes */
    struct sched_workload_spec w = {.name = "eight",
                                    .workspace = "t2/all",
                                    .gpus = 8, /* only n5 has 8 GPUs of t2 */
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    assert_int_equal(sched_submit(a, &w, 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_schedule(a, 0), 0);
    assert_int_equal(a->nodes[n5].free_whole, 0);
    assert_int_equal(sched_node_move(a, n5, "t1", false, 1000, err, sizeof(err)), 0);
    assert_int_equal(a->nodes[n5].state, SCHED_NODE_DRAINING);
    assert_true(a->nodes[n5].move_drained);
    struct sched *now = reload(a), *old = reload_version(a, 1);
    assert_int_equal(old->nodes[n5].moving_to, 0);
    assert_false(old->nodes[n5].move_drained);
    assert_int_equal(sched_node_move_cancel(old, n5, 2000), 0);
    assert_int_equal(old->nodes[n5].state, SCHED_NODE_DRAINING);
    assert_int_equal(sched_node_move_cancel(now, n5, 2000), 0);
    assert_int_equal(now->nodes[n5].state, SCHED_NODE_READY);
    assert_int_equal(now->nodes[n5].tenant, 1);
    assert_int_equal(sched_check(now, err, sizeof(err)), 0);
    assert_int_equal(sched_check(old, err, sizeof(err)), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(sched_snapshot_save_version(a, SCHED_SNAPSHOT_VERSION + 1, &buf, &len),
                     -ALLOT_EINVAL);
    sched_free(a);
    sched_free(now);
    sched_free(old);
}

/* The spec of workspace cur as it is (limits, reservation, lend, weight), for a change. */
static struct sched_workspace_spec spec_now(const struct sched_workspace *cur)
{
    return (struct sched_workspace_spec){.name = cur->name,
                                         .limits = cur->limits,
                                         .reserved = cur->reserved,
                                         .lend = cur->lend,
                                         .weight = cur->weight};
}

/* Version 4 keeps time limits (a workload's, a workspace's default and maximum) and backfill
 * links; snapshots of versions 2 and 3 still load, with none. */
static void test_versions_before_4_load_without_time_limits(void **state)
{
    (void)state;
    struct sched *a = platform();
    uint32_t ws;
    assert_int_equal(sched_workspace_find(a, "t2/all", &ws), 0);
    struct sched_workspace_spec spec = spec_now(&a->workspaces[ws]);
    spec.default_time_limit_ms = 3600000;
    spec.max_time_limit_ms = 7200000;
    assert_int_equal(sched_workspace_update(a, &spec, 0, err, sizeof(err)), 0);
    struct sched_workload_spec w = {.name = "limited",
                                    .workspace = "t2/all",
                                    .gpus = 1,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1,
                                    .time_limit_ms = 60000};
    uint32_t id;
    assert_int_equal(sched_submit(a, &w, 0, &id, err, sizeof(err)), 0);
    assert_int_equal(sched_schedule(a, 0), 0);
    struct sched *now = reload(a);
    assert_int_equal(now->workloads[id].time_limit_ms, 60000);
    assert_int_equal(now->workloads[id].backfill_for, SCHED_NONE);
    assert_int_equal(now->workspaces[ws].default_time_limit_ms, 3600000);
    assert_int_equal(now->workspaces[ws].max_time_limit_ms, 7200000);
    for (uint32_t version = 2; version <= 3; version++) {
        struct sched *old = reload_version(a, version);
        assert_int_equal(old->workloads[id].time_limit_ms, 0);
        assert_int_equal(old->workloads[id].backfill_for, SCHED_NONE);
        assert_int_equal(old->workspaces[ws].default_time_limit_ms, 0);
        assert_int_equal(old->workspaces[ws].max_time_limit_ms, 0);
        assert_int_equal(old->workloads[id].state, a->workloads[id].state);
        sched_free(old);
    }
    sched_free(a);
    sched_free(now);
}

/* Version 6 keeps the queue caps (a tenant's and a workspace's max_queued); a snapshot of
 * version 5 still loads, with the defaults. */
static void test_versions_before_6_load_default_queue_caps(void **state)
{
    (void)state;
    struct sched *a = platform();
    uint32_t ws;
    assert_int_equal(sched_workspace_find(a, "t2/all", &ws), 0);
    struct sched_workspace_spec spec = spec_now(&a->workspaces[ws]);
    spec.max_queued = 7;
    assert_int_equal(sched_workspace_update(a, &spec, 0, err, sizeof(err)), 0);
    uint32_t t = a->workspaces[ws].tenant;
    assert_int_equal(sched_tenant_set_queued(a, t, 9, err, sizeof(err)), 0);
    struct sched *now = reload(a);
    assert_int_equal(now->workspaces[ws].max_queued, 7);
    assert_int_equal(now->tenants[t].max_queued, 9);
    struct sched *old = reload_version(a, 5);
    assert_int_equal(old->workspaces[ws].max_queued, SCHED_QUEUED_WORKSPACE_DEFAULT);
    assert_int_equal(old->tenants[t].max_queued, SCHED_QUEUED_TENANT_DEFAULT);
    sched_free(old);
    sched_free(a);
    sched_free(now);
}

static void test_bad_bytes_are_refused(void **state)
{
    (void)state;
    rng_state = 7;
    struct sched *a = platform();
    for (int i = 0; i < 200; i++) {
        struct sched *one[1] = {a};
        step(one, 1, i, 1000 + i * 5000);
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(sched_snapshot_save(a, &buf, &len), 0);
    struct sched *out = (struct sched *)1;
    assert_int_equal(sched_snapshot_load("hello", 5, &out, err, sizeof(err)), -ALLOT_EPARSE);
    assert_null(out);
    assert_non_null(strstr(err, "not a snapshot"));
    /* another version */
    uint8_t *other = malloc(len);
    memcpy(other, buf, len);
    other[8] = SCHED_SNAPSHOT_VERSION + 1;
    assert_int_equal(sched_snapshot_load(other, len, &out, err, sizeof(err)), -ALLOT_EPARSE);
    assert_non_null(strstr(err, "version"));
    /* every length short of the whole: refused */
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        assert_int_equal(sched_snapshot_load(buf, cut, &out, err, sizeof(err)), -ALLOT_EPARSE);
        assert_null(out);
    }
    /* a byte more: refused */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(sched_snapshot_load(longer, len + 1, &out, err, sizeof(err)), -ALLOT_EPARSE);
    assert_non_null(strstr(err, "after the end"));
    /* a byte changed anywhere: refused, or loaded whole and consistent; never a crash */
    int refused = 0;
    for (size_t at = 9; at < len; at += 1 + at / 97) {
        memcpy(other, buf, len);
        other[at] ^= (uint8_t)(1 + rnd(255));
        int rc = sched_snapshot_load(other, len, &out, err, sizeof(err));
        if (rc == 0) {
            assert_int_equal(sched_check(out, err, sizeof(err)), 0);
            sched_free(out);
        } else {
            assert_true(rc == -ALLOT_EPARSE || rc == -ALLOT_ECHECK);
            assert_null(out);
            refused++;
        }
    }
    assert_true(refused > 0);
    free(longer);
    free(other);
    free(buf);
    sched_free(a);
}

/* Topology (version 5): the levels and a workload's topology_level survive a snapshot, the
 * domains are resolved again on load, and the loaded engine places the next gang as the saved
 * one does; a snapshot of versions 2 to 4 loads without levels, its workloads naming none. */
static void test_topology_survives(void **state)
{
    (void)state;
    struct sched *a = platform();
    const char *levels[] = {"rack"};
    assert_int_equal(sched_topology_set(a, levels, 1, err, sizeof(err)), 0);
    struct sched_workload_spec w = {.name = "g1",
                                    .workspace = "t1/prod",
                                    .gpus = 8,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 2,
                                    .preemptible = -1,
                                    .grace_ms = -1,
                                    .topology = "rack",
                                    .topology_required = true};
    uint32_t g1, g2;
    assert_int_equal(sched_submit(a, &w, 0, &g1, err, sizeof(err)), 0);
    assert_int_equal(sched_schedule(a, 0), 0);
    assert_int_equal(a->workloads[g1].state, SCHED_RUNNING);
    w.name = "g2";
    assert_int_equal(sched_submit(a, &w, 1, &g2, err, sizeof(err)), 0);
    struct sched *b = reload(a);
    assert_int_equal(b->opt.n_topology, 1);
    assert_string_equal(b->opt.topology[0], "rack");
    assert_int_equal(b->workloads[g2].topology_level, 0);
    assert_true(b->workloads[g2].topology_required);
    assert_int_equal(b->n_domains, a->n_domains);
    for (uint32_t i = 0; i < a->n_nodes; i++)
        assert_int_equal(sched_node_domain(b, i, 0), sched_node_domain(a, i, 0));
    assert_int_equal(sched_schedule(a, 2), 0);
    assert_int_equal(sched_schedule(b, 2), 0);
    assert_int_equal(b->workloads[g2].state, a->workloads[g2].state);
    for (uint32_t r = 0; r < 2 && a->workloads[g2].state == SCHED_RUNNING; r++)
        assert_int_equal(b->workloads[g2].placement[r].node, a->workloads[g2].placement[r].node);
    for (uint32_t version = 2; version < 5; version++) { /* before topology */
        struct sched *old = reload_version(a, version);
        assert_int_equal(old->opt.n_topology, 0);
        assert_int_equal(old->workloads[g1].topology_level, -1);
        assert_int_equal(old->n_domains, 0);
        assert_int_equal(sched_check(old, err, sizeof(err)), 0);
        sched_free(old);
    }
    sched_free(a);
    sched_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_engine_decides_as_the_saved_one),
        cmocka_unit_test(test_saved_twice_is_the_same),
        cmocka_unit_test(test_versions_before_6_load_default_queue_caps),
        cmocka_unit_test(test_bad_bytes_are_refused),
        cmocka_unit_test(test_version_1_loads),
        cmocka_unit_test(test_versions_before_4_load_without_time_limits),
        cmocka_unit_test(test_topology_survives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
