/* Unit tests of the allocation engine through its API: configuration rules, placement
 * (best fit, MIG, gangs), reclaim, faults, that sched_check catches corruption and names
 * it, that the engine's own guards stop a call that meets a broken invariant, and explain.c
 * (positions, holders, the reclaim run dry, estimated starts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/array.h"
#include "common/error.h"
#include "common/quantity.h"
#include "sched/engine.h"
#include "sched/explain.h"
#include "sched/fence.h"
#include "sched/placement.h"
#include "sched/queue.h"
#include "sched/quota.h"
#include "sched/sched.h"
#include "sched/snapshot.h"

#define G QUANTITY_GPU_UNITS
#define MIN 60000

static char err[256];

/* A tenant "t" with workspaces a (reserved ra, lend) and b (reserved rb), on `nodes` nodes
 * of 8 whole H100s each (n0, n1, ...); with blocks, the topology levels [block, rack], and
 * node i labelled block=blocks[i] (none when NULL) and rack=r<i>. */
static struct sched *platform_of(int nodes, int64_t ra, bool lend_a, int64_t rb,
                                 const char *const *blocks)
{
    struct sched *s;
    struct sched_options opt;
    sched_options_default(&opt);
    opt.topology[0] = "block";
    opt.topology[1] = "rack";
    opt.n_topology = blocks ? 2 : 0;
    assert_int_equal(sched_new(&opt, &s), 0);
    struct sched_tenant_spec t = {.name = "t"};
    assert_int_equal(sched_tenant_add(s, &t, NULL, err, sizeof(err)), 0);
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_cluster_add(s, &c, NULL, err, sizeof(err)), 0);
    struct sched_gpu_spec gpus[8];
    for (int i = 0; i < 8; i++)
        gpus[i] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB, .healthy = true};
    for (int i = 0; i < nodes; i++) {
        char name[16], rack[16];
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(rack, sizeof(rack), "r%d", i);
        struct sched_label labels[2] = {{"rack", rack}, {"block", blocks ? blocks[i] : NULL}};
        struct sched_node_spec n = {.name = name,
                                    .cluster = "c",
                                    .tenant = "t",
                                    .cpu = 64000,
                                    .memory = 1LL << 40,
                                    .n_gpus = 8,
                                    .gpus = gpus,
                                    .n_labels = !blocks     ? 0
                                                : blocks[i] ? 2
                                                            : 1,
                                    .labels = labels};
        assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    }
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    struct sched_workspace_spec a = {
        .name = "t/a", .limits = none, .reserved = ra, .lend = lend_a, .weight = 1};
    struct sched_workspace_spec b = {
        .name = "t/b", .limits = none, .reserved = rb, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_add(s, &a, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_workspace_add(s, &b, NULL, err, sizeof(err)), 0);
    return s;
}

/* platform_of without topology. */
static struct sched *platform(int nodes, int64_t ra, bool lend_a, int64_t rb)
{
    return platform_of(nodes, ra, lend_a, rb, NULL);
}

/* A request of replicas x gpus whole GPUs, with topology level (required or preferred; NULL:
 * none), the kind's defaults otherwise. */
static struct sched_workload_spec gang_spec(const char *name, const char *ws, uint32_t gpus,
                                            uint32_t replicas, const char *level, bool required)
{
    return (struct sched_workload_spec){.name = name,
                                        .workspace = ws,
                                        .gpus = gpus,
                                        .mig = -1,
                                        .model = -1,
                                        .replicas = replicas,
                                        .preemptible = -1,
                                        .grace_ms = -1,
                                        .topology = level,
                                        .topology_required = required};
}

/* Submit gang_spec, which must be queued. RET its id. */
static uint32_t submit_topo(struct sched *s, const char *name, const char *ws, uint32_t gpus,
                            uint32_t replicas, const char *level, bool required, int64_t now)
{
    struct sched_workload_spec w = gang_spec(name, ws, gpus, replicas, level, required);
    uint32_t id = SCHED_NONE;
    int rc = sched_submit(s, &w, now, &id, err, sizeof(err));
    if (rc)
        fail_msg("submit %s: %d %s", name, rc, err);
    return id;
}

/* What the last submit_limited's sched_submit returned, and the grace it submits with (-1:
 * the default). */
static int submit_rc;
static int64_t submit_grace = -1;

/* submit with a time limit (0: none given). RET its id (it may be rejected: submit_rc). */
static uint32_t submit_limited(struct sched *s, const char *name, const char *ws, uint32_t gpus,
                               uint32_t replicas, int64_t limit_ms, int64_t now)
{
    struct sched_workload_spec w = {.name = name,
                                    .workspace = ws,
                                    .gpus = gpus,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = replicas,
                                    .preemptible = -1,
                                    .grace_ms = submit_grace,
                                    .time_limit_ms = limit_ms};
    uint32_t id = SCHED_NONE;
    submit_rc = sched_submit(s, &w, now, &id, err, sizeof(err));
    assert_int_not_equal(id, SCHED_NONE);
    return id;
}

static uint32_t submit(struct sched *s, const char *name, const char *ws, uint32_t gpus,
                       uint32_t replicas, int64_t now)
{
    uint32_t id = submit_limited(s, name, ws, gpus, replicas, 0, now);
    assert_int_equal(submit_rc, 0);
    return id;
}

/* The index of MIG profile name in the H100-80GB's profile table (a mig_instance_spec's). */
static int h100_profile(const char *name)
{
    const struct mig_profile *p = mig_profile_of(GPU_MODEL_H100_80GB, mig_name_id(name));
    assert_non_null(p);
    return (int)(p - mig_model(GPU_MODEL_H100_80GB)->profiles);
}

/* s saved in the format of version (SCHED_SNAPSHOT_VERSION: the current one) and loaded
 * again: a copy without the engine's memos, or with what that version kept. */
static struct sched *reload_as(const struct sched *s, uint32_t version)
{
    uint8_t *buf;
    size_t len;
    struct sched *copy = NULL;
    assert_int_equal(sched_snapshot_save_version(s, version, &buf, &len), 0);
    int rc = sched_snapshot_load(buf, len, &copy, err, sizeof(err));
    free(buf);
    if (rc)
        fail_msg("load of version %u: %d %s", version, rc, err);
    return copy;
}

static void schedule_ok(struct sched *s, int64_t now)
{
    assert_int_equal(sched_schedule(s, now), 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
}

static int count_events(struct sched *s, enum sched_event_kind k)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    int c = 0;
    for (uint32_t i = 0; i < n; i++)
        c += ev[i].kind == k;
    return c;
}

/* xorshift64*: the differential test's operations, the same in every run. */
static uint64_t diff_rng = 0x9e3779b97f4a7c15ULL;

static uint32_t diff_below(uint32_t n)
{
    diff_rng ^= diff_rng >> 12;
    diff_rng ^= diff_rng << 25;
    diff_rng ^= diff_rng >> 27;
    return (uint32_t)((diff_rng * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

/* Whether t/a lends its idle reservation in a differential run (diff_run_of). */
static bool diff_lend_a = true;

/* One random change to engine s at now, chosen by the seeded generator: a submission of a
 * random shape to a random workspace, a finish, the exit of a draining workload, a node
 * drained or made ready again, or a workspace's GPU limit changed. Refusals are fine. */
static void diff_step(struct sched *s, uint32_t step, int64_t now, uint32_t submit_tenths)
{
    static const char *const spaces[] = {"t/a", "t/b", "t/c"};
    uint32_t what = diff_below(10), pick = diff_below(1u << 30);
    if (what < submit_tenths) {
        static const uint32_t sizes[] = {1, 1, 1, 2, 4, 8};
        char name[32];
        snprintf(name, sizeof(name), "w%u", step);
        struct sched_workload_spec w = {.name = name,
                                        .workspace = spaces[pick % 3],
                                        .kind = (enum sched_kind)(pick / 3 % SCHED_KIND_COUNT),
                                        .gpus = sizes[pick / 16 % 6],
                                        .mig = -1,
                                        .model = -1,
                                        .replicas = pick / 128 % 5 == 0 ? 2 : 1,
                                        .cpu = (int64_t)(pick / 1024 % 4) * 4000,
                                        .preemptible = -1,
                                        .grace_ms = -1};
        if (pick / 4096 % 8 == 0) { /* a MIG slice, or no GPU at all */
            w.gpus = 0;
            w.mig = pick / 32768 % 2 ? mig_name_id("3g.40gb") : -1;
        } else if (pick / 4096 % 8 == 1) {
            w.model = GPU_MODEL_H100_80GB;
        }
        sched_submit(s, &w, now, NULL, err, sizeof(err));
    } else if (what < 8 && s->n_workloads) {
        uint32_t id = pick % s->n_workloads; /* the first running or draining from there */
        for (uint32_t k = 0; k < s->n_workloads && s->workloads[id].state != SCHED_RUNNING &&
                             s->workloads[id].state != SCHED_DRAINING;
             k++)
            id = (id + 1) % s->n_workloads;
        if (s->workloads[id].state == SCHED_RUNNING)
            assert_int_equal(sched_finish(s, id, now), 0);
        else if (s->workloads[id].state == SCHED_DRAINING)
            assert_int_equal(sched_stopped(s, id, now), 0);
    } else if (what == 8) {
        uint32_t node = pick % s->n_nodes;
        enum sched_node_state st = pick / 64 % 2 ? SCHED_NODE_READY : SCHED_NODE_DRAINING;
        if (s->nodes[node].moving_to == SCHED_NONE)
            assert_int_equal(sched_node_set_state(s, node, st, now), 0);
    } else {
        struct sched_workspace_spec ws = {
            .name = spaces[pick % 3],
            .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
            .reserved = pick % 3 == 0 ? 8 * G : 0,
            .lend = pick % 3 != 0 || diff_lend_a,
            .weight = 1};
        if (pick / 8 % 2)
            ws.limits.gpu = (int64_t)(8 + pick / 16 % 24) * G;
        sched_workspace_update(s, &ws, now, err, sizeof(err));
    }
}

/* The events of two engines since their last clear are the same, field by field. */
static void diff_events_equal(struct sched *x, struct sched *y, uint32_t step)
{
    uint32_t nx, ny;
    const struct sched_event *ex = sched_events(x, &nx), *ey = sched_events(y, &ny);
    if (nx != ny)
        fail_msg("step %u: %u events against %u", step, nx, ny);
    for (uint32_t i = 0; i < nx; i++) {
        const struct sched_event *a = &ex[i], *b = &ey[i];
        if (a->kind != b->kind || a->t != b->t || a->workload != b->workload ||
            a->reason != b->reason || a->other != b->other || a->deadline != b->deadline ||
            a->borrowed != b->borrowed || a->a != b->a || a->b != b->b || a->node != b->node ||
            strcmp(a->message, b->message) != 0)
            fail_msg("step %u, event %u: %s/%u (%s) against %s/%u (%s)", step, i,
                     sched_event_name(a->kind), a->workload, a->message, sched_event_name(b->kind),
                     b->workload, b->message);
    }
    sched_events_clear(x);
    sched_events_clear(y);
}

/* The admission pass keeps memos and indexes beside the engine's state (the refresh memo
 * of exhausted workspaces, each tenant's node_free, pending counts by size), which must
 * change no decision. An engine saved and loaded before every pass has none of the memos
 * and rebuilds the indexes: over thousands of random changes on a small, busy platform
 * (MIG slices, gangs, limits, drains, the starvation guard) both make the same decisions,
 * event by event. With in_full, the other engine is not reloaded but makes the searches that
 * keep what they learnt in full (sched_scratch's searches_in_full), and at least
 * min_preempted preemptions are made. */
static void diff_run_of(uint32_t submit_tenths, uint32_t min_admitted, uint32_t min_queued,
                        bool in_full, uint32_t min_preempted)
{
    struct sched_options opt;
    sched_options_default(&opt);
    opt.starvation_age_ms = 20000;
    struct sched *x;
    assert_int_equal(sched_new(&opt, &x), 0);
    struct sched_tenant_spec t = {.name = "t"};
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_tenant_add(x, &t, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_cluster_add(x, &c, NULL, err, sizeof(err)), 0);
    int p3g = h100_profile("3g.40gb");
    struct sched_gpu_spec gpus[8];
    for (int i = 0; i < 8; i++)
        gpus[i] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB, .healthy = true};
    gpus[7].n_mig = 2; /* one GPU of each node split in two 3g.40gb slices */
    gpus[7].mig[0] = (struct mig_instance_spec){(int8_t)p3g, 0};
    gpus[7].mig[1] = (struct mig_instance_spec){(int8_t)p3g, 4};
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", i);
        struct sched_node_spec n = {.name = name,
                                    .cluster = "c",
                                    .tenant = "t",
                                    .cpu = 64000,
                                    .memory = 1LL << 40,
                                    .n_gpus = 8,
                                    .gpus = gpus};
        assert_int_equal(sched_node_add(x, &n, NULL, err, sizeof(err)), 0);
    }
    static const char *const spaces[] = {"t/a", "t/b", "t/c"};
    for (int i = 0; i < 3; i++) {
        struct sched_workspace_spec ws = {
            .name = spaces[i],
            .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
            .reserved = i == 0 ? 8 * G : 0,
            .lend = i != 0 || diff_lend_a,
            .weight = 1};
        assert_int_equal(sched_workspace_add(x, &ws, NULL, err, sizeof(err)), 0);
    }
    struct sched *y = reload_as(x, SCHED_SNAPSHOT_VERSION);
    y->scratch->searches_in_full = in_full;
    uint32_t admitted = 0, queued = 0, preempted = 0;
    for (uint32_t step = 0; step < 3000; step++) {
        int64_t now = (int64_t)step * 1000;
        uint64_t seed = diff_rng;
        diff_step(x, step, now, submit_tenths);
        diff_rng = seed; /* the same change to both */
        diff_step(y, step, now, submit_tenths);
        if (!in_full) {
            struct sched *fresh = reload_as(y, SCHED_SNAPSHOT_VERSION); /* without memos */
            sched_free(y);
            y = fresh;
        }
        assert_int_equal(sched_schedule(x, now), 0);
        assert_int_equal(sched_schedule(y, now), 0);
        admitted += (uint32_t)count_events(x, SCHED_EV_ADMITTED);
        queued += (uint32_t)count_events(x, SCHED_EV_QUEUED);
        preempted += (uint32_t)count_events(x, SCHED_EV_PREEMPTING);
        diff_events_equal(x, y, step);
        if (step % 100 == 0) {
            assert_int_equal(sched_check(x, err, sizeof(err)), 0);
            sched_touch(x); /* time alone may change a pass (the starvation guard) */
            sched_touch(y);
        }
    }
    /* the run was busy enough to mean something */
    assert_true(admitted > min_admitted);
    assert_true(queued > min_queued);
    assert_true(preempted >= min_preempted);
    sched_free(x);
    sched_free(y);
}

static void diff_run(uint32_t submit_tenths, uint32_t min_admitted, uint32_t min_queued)
{
    diff_run_of(submit_tenths, min_admitted, min_queued, false, 0);
}

/* Two searches keep what they learnt to shorten the next look, which must change no
 * decision. A search for victims asks whether the waiting workload fits after each victim it
 * marks or unmarks; for a request of one replica it looks only at the nodes whose marks
 * changed and at the node it last fitted on (preempt.c, struct fit_track). A pass keeps its
 * workspaces' heads in policy order and puts back only the one that moved (admission.c,
 * pass_next). Against an engine that searches every node each time and sorts the heads for
 * each next workload, both make the same decisions, event by event (fails when a look skips
 * a node that could fit, or trusts one that cannot, or a head is put back out of order). So
 * with what a workspace may borrow, kept for a pass's generation (pass_borrowable), once
 * with a workspace that does not lend, and with a choice of victims that takes an order
 * already in a lost order's as that order, unsorted (victims_choose: fails when it takes one
 * not in order, or skips the check of its first pair). */
static void test_shortened_searches_change_no_decision(void **state)
{
    (void)state;
    diff_run_of(6, 500, 500, true, 150);
    diff_run_of(5, 500, 200, true, 100); /* another mix: reclaims reorder the heads */
    diff_lend_a = false; /* t/a's idle reservation is not borrowable: pass_borrowable */
    diff_run_of(6, 500, 200, true, 100);
    diff_lend_a = true;
}

static void test_memos_change_no_decision(void **state)
{
    (void)state;
    /* half the changes submit: long queues, refreshed 32 deep */
    diff_run(5, 500, 1000);
    /* a third: short queues, whose refreshes reach their end, so that a workload queued
     * after it joins what a memo stands for */
    diff_run(4, 500, 200);
}

/* The refresh memo of a workspace stands for a stretch of its queue (from the cursor, up to
 * PASS_REFRESH_DEPTH workloads): a workload queued within it, or given a new reason there,
 * ends the memo; one taken off within it leaves its stretch, and the memo stands for the rest
 * (engine_refresh_leave); one queued after a stretch that stopped short of the queue's end
 * does not end it, and one queued after a stretch that reached the end joins it (ends it). */
static void test_memo_stands_for_its_stretch(void **state)
{
    (void)state;
    for (int deep = 0; deep < 2; deep++) {
        struct sched *s = platform(1, 0, true, 0);
        submit(s, "full", "t/a", 8, 1, 0); /* the node is full: t/b's work waits */
        schedule_ok(s, 0);
        uint32_t b = 0, queued = deep ? 40 : 3, second = SCHED_NONE;
        while (strcmp(s->workspaces[b].name, "t/b") != 0)
            b++;
        for (uint32_t i = 0; i < queued; i++) {
            char name[16];
            snprintf(name, sizeof(name), "q%u", i);
            uint32_t id = submit(s, name, "t/b", 1, 1, 1);
            second = i == 1 ? id : second;
        }
        schedule_ok(s, 1);
        sched_touch(s); /* a full pass: t/b is exhausted, its queue reasons refreshed */
        schedule_ok(s, 2);
        const struct engine_refresh *m = &s->scratch->refresh[b];
        assert_true(m->valid);
        assert_int_equal(m->to_end, !deep);
        submit(s, "later", "t/b", 1, 1, 3);
        schedule_ok(s, 3);
        assert_int_equal(m->valid, deep); /* after the stretch: it stands if it stopped short */
        if (deep) {
            uint32_t n = m->n_ids;
            assert_int_equal(sched_cancel(s, second, 4), 0); /* within it */
            assert_true(m->valid);
            assert_int_equal(m->n_ids, n - 1);
            for (uint32_t i = 0; i < m->n_ids; i++)
                assert_int_not_equal(m->ids[i], second);
            /* the next pass reads one workload past it, the stretch of the depth again */
            sched_touch(s);
            schedule_ok(s, 5);
            assert_true(m->valid);
            assert_int_equal(m->n_ids, n);
        }
        sched_free(s);
    }
}

/* A memo whose stretch lost a workload (engine_refresh_leave) stands for less than a refresh
 * from its first reads: the refresh reads on past it. Here the workload just past the stretch
 * was held back by t/b's CPU limit, which a finish in the same pass lifts, without changing
 * what the memo's workloads get (it stands): a refresh that took the shorter memo for all it
 * reads would leave it with its stale reason. */
static void test_memo_that_lost_a_workload_reads_on(void **state)
{
    (void)state;
    struct sched *s = platform(1, 0, true, 0);
    struct sched_workspace_spec b = {
        .name = "t/b",
        .limits = {SCHED_UNLIMITED, 24000, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 0,
        .lend = true,
        .weight = 1};
    assert_int_equal(sched_workspace_update(s, &b, 0, err, sizeof(err)), 0);
    submit(s, "full", "t/a", 8, 1, 0); /* the node's GPUs are taken: t/b cannot borrow */
    struct sched_workload_spec w = {.name = "cpu",
                                    .workspace = "t/b",
                                    .kind = SCHED_KIND_EXPERIMENT,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .cpu = 8000,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    uint32_t cpu, second = SCHED_NONE, big = SCHED_NONE;
    assert_int_equal(sched_submit(s, &w, 0, &cpu, err, sizeof(err)), 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[cpu].state, SCHED_RUNNING);
    w.gpus = 1;
    w.cpu = 1000;
    for (uint32_t i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "q%u", i);
        w.name = name;
        w.cpu = i == ENGINE_REFRESH_DEPTH ? 20000 : 1000; /* 8000 + 20000 > 24000 */
        uint32_t id;
        assert_int_equal(sched_submit(s, &w, 1, &id, err, sizeof(err)), 0);
        second = i == 1 ? id : second;
        big = i == ENGINE_REFRESH_DEPTH ? id : big;
        if (i + 1 >= ENGINE_REFRESH_DEPTH)
            schedule_ok(s, 1); /* big alone: its arrival gives it its reason */
    }
    assert_int_equal(s->workloads[big].reason, SCHED_REASON_WORKSPACE_LIMIT);
    sched_touch(s); /* a full pass: t/b's memo stands for q0..q31 */
    schedule_ok(s, 2);
    uint32_t wsb = s->workloads[big].workspace;
    const struct engine_refresh *m = &s->scratch->refresh[wsb];
    assert_true(m->valid);
    assert_int_equal(m->n_ids, ENGINE_REFRESH_DEPTH);
    assert_int_equal(sched_cancel(s, second, 3), 0); /* q1 leaves the stretch */
    assert_int_equal(sched_finish(s, cpu, 3), 0);    /* big is within t/b's CPU limit now */
    schedule_ok(s, 3);
    assert_int_equal(s->workloads[big].reason, SCHED_REASON_BORROW_UNAVAILABLE);
    sched_free(s);
}

/* A stream of short workloads through one node: forgetting what is over keeps the engine's
 * workload slots bounded by what is in flight, and names are free again. */
static void test_forget_reuses_slots(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t running = submit(s, "keep", "t/a", 1, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(sched_workload_forget(s, running), -ALLOT_ESTATE); /* not over */
    for (int i = 0; i < 10000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "job-%d", i);
        uint32_t id = submit(s, name, "t/b", 2, 1, i);
        schedule_ok(s, i);
        assert_int_equal(s->workloads[id].state, SCHED_RUNNING);
        assert_int_equal(sched_finish(s, id, i), 0);
        schedule_ok(s, i);
        assert_int_equal(sched_workload_forget(s, id), 0);
        assert_int_equal(sched_workload_forget(s, id), -ALLOT_ENOENT); /* once */
        uint32_t found;
        assert_int_equal(sched_workload_find(s, name, &found), -ALLOT_ENOENT);
        sched_events_clear(s);
    }
    assert_true(s->n_workloads <= 3); /* 10,001 submissions, two slots in use at most */
    /* a forgotten name may be used again; the running one is untouched */
    submit(s, "job-0", "t/b", 1, 1, 20000);
    schedule_ok(s, 20000);
    assert_int_equal(s->workloads[running].state, SCHED_RUNNING);
    assert_string_equal(s->workloads[running].name, "keep");
    sched_free(s);
}

static void test_best_fit_keeps_whole_nodes_free(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 3, 1, 0);
    schedule_ok(s, 0);
    uint32_t b = submit(s, "b", "t/a", 2, 1, 0);
    schedule_ok(s, 0);
    /* b goes next to a, leaving the other node whole for an 8-GPU job */
    assert_int_equal(s->workloads[a].placement[0].node, s->workloads[b].placement[0].node);
    uint32_t c = submit(s, "c", "t/a", 8, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[c].state, SCHED_RUNNING);
    assert_int_not_equal(s->workloads[c].placement[0].node, s->workloads[a].placement[0].node);
    sched_free(s);
}

/* docs/policy.md, "Starvation": a starving gang gets the node with the most free GPUs set
 * aside (ties: node order). Work within its reservation goes elsewhere while elsewhere has
 * room; a borrower never goes there, and waits starvation_guard. */
static void test_fence_keeps_borrowers_off_and_reserved_work_elsewhere(void **state)
{
    struct sched *s = platform(2, QUANTITY_GPU_UNITS, true, 0); /* a reserves 1 GPU */
    uint32_t j[15];
    for (int i = 0; i < 15; i++) {
        char name[16];
        snprintf(name, sizeof(name), "j%d", i);
        j[i] = submit(s, name, "t/b", 1, 1, 0);
    }
    schedule_ok(s, 0); /* n0 full, n1 holds 7 */
    uint32_t n0 = s->workloads[j[0]].placement[0].node;
    uint32_t big = submit(s, "big", "t/b", 8, 1, 1000);
    schedule_ok(s, 1000);
    assert_int_equal(s->workloads[big].state, SCHED_PENDING);
    /* past the starvation age, one GPU frees on n0: both nodes have one free; big is
     * starving and n0 (first of the tie) is set aside for it */
    int64_t t = 1000 + s->opt.starvation_age_ms;
    assert_int_equal(sched_finish(s, j[0], t), 0);
    schedule_ok(s, t);
    assert_true(s->workloads[big].starving);
    assert_int_equal(s->tenants[0].n_fence, 1);
    assert_int_equal(s->tenants[0].fence[0], n0);
    /* within its reservation: the free GPU that is not set aside */
    uint32_t mine = submit(s, "mine", "t/a", 1, 1, t + 1);
    schedule_ok(s, t + 1);
    assert_int_equal(s->workloads[mine].state, SCHED_RUNNING);
    assert_int_not_equal(s->workloads[mine].placement[0].node, n0);
    /* a borrower: the only free GPU is set aside, so it waits */
    uint32_t small = submit(s, "small", "t/b", 1, 1, t + 2);
    schedule_ok(s, t + 2);
    assert_int_equal(s->workloads[small].state, SCHED_PENDING);
    assert_int_equal(s->workloads[small].reason, SCHED_REASON_STARVATION_GUARD);
    sched_free(s);
}

/* The spec of workspace ws as it is now (limits, reservation, lend, weight, require_image;
 * no time limits, the default queue cap), for a change of some of it. */
static struct sched_workspace_spec spec_now(const struct sched *s, const char *ws)
{
    uint32_t id;
    assert_int_equal(sched_workspace_find(s, ws, &id), 0);
    const struct sched_workspace *cur = &s->workspaces[id];
    return (struct sched_workspace_spec){.name = cur->name,
                                         .limits = cur->limits,
                                         .reserved = cur->reserved,
                                         .lend = cur->lend,
                                         .weight = cur->weight,
                                         .require_image = cur->require_image};
}

/* Set workspace ws's default and maximum time limits. RET sched_workspace_update's. */
static int time_limits_set(struct sched *s, const char *ws, int64_t def, int64_t max, int64_t now)
{
    struct sched_workspace_spec spec = spec_now(s, ws);
    spec.default_time_limit_ms = def;
    spec.max_time_limit_ms = max;
    return sched_workspace_update(s, &spec, now, err, sizeof(err));
}

/* docs/policy.md, "Time limits and backfill": a submission without a time limit gets its
 * workspace's default (else its maximum); one above the maximum is rejected naming
 * time_limit and the maximum; a change applies to later submissions only; a default above
 * the maximum is refused. */
static void test_time_limit_default_and_max(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t before = submit_limited(s, "before", "t/a", 1, 1, 0, 0);
    assert_int_equal(s->workloads[before].time_limit_ms, 0);
    assert_int_equal(time_limits_set(s, "t/a", 2 * 3600000, 1, 0), -ALLOT_ECONFIG);
    assert_int_equal(time_limits_set(s, "t/a", 3600000, 2 * 3600000, 0), 0);
    assert_int_equal(s->workloads[before].time_limit_ms, 0); /* later submissions only */
    uint32_t dflt = submit_limited(s, "dflt", "t/a", 1, 1, 0, 1);
    assert_int_equal(s->workloads[dflt].time_limit_ms, 3600000);
    uint32_t own = submit_limited(s, "own", "t/a", 1, 1, 90 * MIN, 1);
    assert_int_equal(s->workloads[own].time_limit_ms, 90 * MIN);
    assert_int_equal(s->workloads[own].state, SCHED_PENDING);
    uint32_t over = submit_limited(s, "over", "t/a", 1, 1, 3 * 3600000, 1);
    assert_int_equal(s->workloads[over].state, SCHED_REJECTED);
    assert_int_equal(s->workloads[over].reason, SCHED_REASON_EXCEEDS_TIME_LIMIT);
    assert_non_null(strstr(err, "time_limit"));
    assert_non_null(strstr(err, "max_time_limit of 2h"));
    /* no default, a maximum: the maximum */
    assert_int_equal(time_limits_set(s, "t/a", 0, 2 * 3600000, 2), 0);
    uint32_t capped = submit_limited(s, "capped", "t/a", 1, 1, 0, 3);
    assert_int_equal(s->workloads[capped].time_limit_ms, 2 * 3600000);
    /* out of range: refused, nothing changes */
    assert_int_equal(time_limits_set(s, "t/a", -1, 0, 4), -ALLOT_ERANGE);
    assert_int_equal(time_limits_set(s, "t/a", 0, SCHED_MAX_TIME_LIMIT_MS + 1, 4), -ALLOT_ERANGE);
    assert_int_equal(s->workspaces[0].max_time_limit_ms, 2 * 3600000);
    uint32_t bad = submit_limited(s, "bad", "t/a", 1, 1, SCHED_MAX_TIME_LIMIT_MS + 1, 5);
    assert_int_equal(s->workloads[bad].state, SCHED_REJECTED);
    assert_int_equal(s->workloads[bad].reason, SCHED_REASON_INVALID_REQUEST);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* Set workspace ws's limits.queued (0: the default). RET sched_workspace_update's. */
static int queued_set(struct sched *s, const char *ws, uint32_t max_queued)
{
    struct sched_workspace_spec spec = spec_now(s, ws);
    spec.max_queued = max_queued;
    return sched_workspace_update(s, &spec, 0, err, sizeof(err));
}

/* docs/policy.md, "Queue caps": pending workloads count against their workspace's
 * limits.queued and their tenant's (all its workspaces); sched_queued_check names the cap
 * that is full and changes nothing; running work does not count; 0 is the default. */
static void test_queued_caps(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    struct sched_queued_cap full;
    assert_int_equal(s->workspaces[0].max_queued, SCHED_QUEUED_WORKSPACE_DEFAULT);
    assert_int_equal(s->tenants[0].max_queued, SCHED_QUEUED_TENANT_DEFAULT);
    assert_int_equal(queued_set(s, "t/a", SCHED_MAX_QUEUED + 1), -ALLOT_ERANGE);
    assert_int_equal(queued_set(s, "t/a", 2), 0);
    submit(s, "big", "t/a", 8, 1, 0); /* runs: not queued */
    assert_int_equal(sched_schedule(s, 0), 0);
    submit(s, "q1", "t/a", 8, 1, 1);
    assert_int_equal(sched_queued_check(s, 0, &full), 0);
    submit(s, "q2", "t/a", 8, 1, 1);
    assert_int_equal(sched_queued_check(s, 0, &full), -ALLOT_ETOOMANY);
    assert_false(full.tenant);
    assert_string_equal(full.of, "t/a");
    assert_int_equal(full.cap, 2);
    assert_int_equal(full.queued, 2);
    assert_int_equal(s->workspaces[0].n_pending, 2);     /* the check changed nothing */
    assert_int_equal(sched_queued_check(s, 1, NULL), 0); /* the neighbour workspace */
    /* the tenant's cap: t/a's 2 and t/b's 1 */
    assert_int_equal(sched_tenant_set_queued(s, 0, SCHED_MAX_QUEUED + 1, err, sizeof(err)),
                     -ALLOT_ERANGE);
    assert_int_equal(sched_tenant_set_queued(s, 0, 3, err, sizeof(err)), 0);
    submit(s, "b1", "t/b", 8, 1, 1);
    assert_int_equal(sched_queued_check(s, 1, &full), -ALLOT_ETOOMANY);
    assert_true(full.tenant);
    assert_string_equal(full.of, "t");
    assert_int_equal(full.cap, 3);
    assert_int_equal(full.queued, 3);
    /* back to the defaults */
    assert_int_equal(queued_set(s, "t/a", 0), 0);
    assert_int_equal(sched_tenant_set_queued(s, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(s->workspaces[0].max_queued, SCHED_QUEUED_WORKSPACE_DEFAULT);
    assert_int_equal(sched_queued_check(s, 0, NULL), 0);
    assert_int_equal(sched_queued_check(s, 2, NULL), -ALLOT_ENOENT);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A run stopped at its time limit ends failed with reason time_limit and a sentence naming
 * the limit; its GPUs are free; one that ended by itself before is unaffected. */
static void test_time_limit_reached_fails(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t slow = submit_limited(s, "slow", "t/a", 4, 1, 2 * 3600000, 0);
    uint32_t quick = submit_limited(s, "quick", "t/a", 4, 1, 2 * 3600000, 0);
    schedule_ok(s, 0);
    assert_int_equal(sched_workload_end_by(&s->workloads[slow]), 2 * 3600000 + 30000);
    assert_int_equal(sched_finish(s, quick, MIN), 0);
    assert_int_equal(s->workloads[quick].state, SCHED_FINISHED);
    sched_events_clear(s);
    assert_int_equal(sched_time_limit_reached(s, slow, 2 * 3600000 + 5000), 0);
    assert_int_equal(s->workloads[slow].state, SCHED_FAILED);
    assert_int_equal(s->workloads[slow].reason, SCHED_REASON_TIME_LIMIT);
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    assert_true(n >= 1);
    assert_int_equal(ev[0].kind, SCHED_EV_FAILED);
    assert_int_equal(ev[0].reason, SCHED_REASON_TIME_LIMIT);
    assert_string_equal(ev[0].message, "stopped at its time limit of 2h");
    assert_int_equal(s->tenants[0].free_units, 8 * G);
    assert_int_equal(sched_time_limit_reached(s, slow, 2 * 3600000 + 6000), -ALLOT_ESTATE);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* submit with a time limit and a grace period (ms): one replica, accepted. RET its id. */
static uint32_t submit_timed(struct sched *s, const char *name, const char *ws, uint32_t gpus,
                             int64_t limit_ms, int64_t grace_ms, int64_t now)
{
    submit_grace = grace_ms;
    uint32_t id = submit_limited(s, name, ws, gpus, 1, limit_ms, now);
    submit_grace = -1;
    assert_int_equal(submit_rc, 0);
    return id;
}

/* Two nodes of 8 full of 1-GPU borrowers of t/b started at 0 with a time limit of 1h (one,
 * on n0, without when `unlimited`); big (8 GPUs, t/b) waits from 1000; past the starvation
 * age two GPUs free on n0, which is set aside for big. OUT *big. RET the starvation time. */
static int64_t fence_with_known_ends(struct sched *s, bool unlimited, uint32_t *big)
{
    uint32_t j[16];
    for (int i = 0; i < 16; i++) {
        char name[16];
        snprintf(name, sizeof(name), "j%d", i);
        j[i] = submit_timed(s, name, "t/b", 1, unlimited && i == 2 ? 0 : 3600000, -1, 0);
        schedule_ok(s, 0);
    }
    uint32_t n0 = s->workloads[j[0]].placement[0].node;
    assert_int_equal(s->workloads[j[2]].placement[0].node, n0);
    *big = submit(s, "big", "t/b", 8, 1, 1000);
    schedule_ok(s, 1000);
    int64_t t = 1000 + s->opt.starvation_age_ms;
    assert_int_equal(sched_finish(s, j[0], t), 0);
    assert_int_equal(sched_finish(s, j[1], t), 0);
    schedule_ok(s, t);
    assert_true(s->workloads[*big].starving);
    assert_int_equal(s->tenants[0].n_fence, 1);
    assert_int_equal(s->tenants[0].fence[0], n0);
    return t;
}

/* docs/policy.md, "Time limits and backfill": the fence's shadow time is when its node is
 * sure to hold big: its six other holders end by 1h + their grace (30s). A borrower whose
 * time limit (and grace) ends it by then goes on the fenced node; one that would end after
 * it, or has no time limit, waits starvation_guard as before. */
static void test_backfill_onto_fence_when_it_ends_in_time(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t big;
    int64_t t = fence_with_known_ends(s, false, &big);
    uint32_t n0 = s->tenants[0].fence[0];
    int64_t shadow = 3600000 + 30000;
    assert_int_equal(fence_shadow(s, &s->tenants[0], t), shadow);
    /* after the shadow by 1ms: refused */
    uint32_t late = submit_timed(s, "late", "t/b", 1, shadow - (t + 1) - 1000 + 1, 1000, t + 1);
    schedule_ok(s, t + 1);
    assert_int_equal(s->workloads[late].state, SCHED_PENDING);
    assert_int_equal(s->workloads[late].reason, SCHED_REASON_STARVATION_GUARD);
    uint32_t bare = submit(s, "bare", "t/b", 1, 1, t + 2);
    schedule_ok(s, t + 2);
    assert_int_equal(s->workloads[bare].state, SCHED_PENDING);
    /* ends exactly at the shadow: it goes on the fenced node */
    uint32_t fits = submit_timed(s, "fits", "t/b", 1, shadow - (t + 3) - 1000, 1000, t + 3);
    schedule_ok(s, t + 3);
    assert_int_equal(s->workloads[fits].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[fits].placement[0].node, n0);
    assert_int_equal(sched_workload_end_by(&s->workloads[fits]), shadow);
    /* its own end counts: the shadow is no later for it */
    assert_int_equal(fence_shadow(s, &s->tenants[0], t + 3), shadow);
    assert_int_equal(s->workloads[late].state, SCHED_PENDING);
    assert_int_equal(s->workloads[bare].state, SCHED_PENDING);
    /* and big starts once they have all gone (by the shadow) */
    for (uint32_t i = 0; i < s->n_workloads; i++)
        if (s->workloads[i].state == SCHED_RUNNING && s->workloads[i].placement[0].node == n0)
            assert_int_equal(sched_time_limit_reached(s, i, shadow), 0);
    schedule_ok(s, shadow);
    assert_int_equal(s->workloads[big].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[big].placement[0].node, n0);
    sched_free(s);
}

/* The fence stays where work was backfilled against its shadow time: once three GPUs of n1
 * free (n0 has one), a fence chosen afresh would move to n1 and open n0, where `fits` was
 * admitted only because big was promised n0 by the shadow, to any borrower. It stays on n0,
 * and big still starts there at the shadow. */
static void test_backfilled_fence_stays(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t big;
    int64_t t = fence_with_known_ends(s, false, &big);
    uint32_t n0 = s->tenants[0].fence[0];
    int64_t shadow = 3600000 + 30000;
    uint32_t fits = submit_timed(s, "fits", "t/b", 1, shadow - (t + 1) - 1000, 1000, t + 1);
    schedule_ok(s, t + 1);
    assert_int_equal(s->workloads[fits].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[fits].placement[0].node, n0);
    int freed = 0;
    for (uint32_t i = 0; i < s->n_workloads && freed < 3; i++)
        if (s->workloads[i].state == SCHED_RUNNING && s->workloads[i].placement[0].node != n0) {
            assert_int_equal(sched_finish(s, i, t + 2), 0);
            freed++;
        }
    assert_int_equal(freed, 3);
    sched_touch(s);
    schedule_ok(s, t + 2);
    assert_true(s->workloads[big].starving);
    assert_int_equal(s->tenants[0].n_fence, 1);
    assert_int_equal(s->tenants[0].fence[0], n0);
    assert_int_equal(fence_shadow(s, &s->tenants[0], t + 2), shadow);
    for (uint32_t i = 0; i < s->n_workloads; i++)
        if (s->workloads[i].state == SCHED_RUNNING && s->workloads[i].placement[0].node == n0)
            assert_int_equal(sched_time_limit_reached(s, i, shadow), 0);
    schedule_ok(s, shadow);
    assert_int_equal(s->workloads[big].state, SCHED_RUNNING);
    sched_free(s);
}

/* A holder of the fenced node without a time limit: the shadow time is unknown and nothing
 * backfills there, whatever its time limit (today's rule). */
static void test_backfill_refused_when_a_holder_has_no_time_limit(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t big;
    int64_t t = fence_with_known_ends(s, true, &big);
    assert_int_equal(fence_shadow(s, &s->tenants[0], t), -1);
    uint32_t brief = submit_timed(s, "brief", "t/b", 1, 1000, 0, t + 1);
    schedule_ok(s, t + 1);
    assert_int_equal(s->workloads[brief].state, SCHED_PENDING);
    assert_int_equal(s->workloads[brief].reason, SCHED_REASON_STARVATION_GUARD);
    sched_free(s);
}

/* t/a reserves 6 and t/b 2 of one node of 8; t/b's six 1-GPU workloads run from 0 (four
 * of them on a's idle reservation); own (t/a, 4 GPUs) comes at 1000: it claims the 2 free
 * GPUs and 2 of b's borrowers, which drain until 1000 + 30s (its shadow time). RET own. */
static uint32_t reclaim_with_unheld_claims(struct sched *s, uint32_t *b)
{
    for (int i = 0; i < 6; i++) {
        char name[16];
        snprintf(name, sizeof(name), "b%d", i);
        b[i] = submit(s, name, "t/b", 1, 1, 0);
    }
    schedule_ok(s, 0);
    uint32_t own = submit(s, "own", "t/a", 4, 1, 1000);
    schedule_ok(s, 1000);
    assert_int_equal(s->workloads[own].state, SCHED_RECLAIMING);
    assert_int_equal(s->workloads[own].waiting_on, 2);
    assert_int_equal(placement_claim_shadow(s, own), 1000 + 30000);
    return own;
}

/* docs/policy.md, "Time limits and backfill", reclaim: work (here within t/a's reservation)
 * that is sure to be gone by the claimant's shadow time (time limit + grace) goes on a GPU
 * claimed for it that nobody holds, and the claimant waits for it as for its victims; one
 * that would end later does not (it reclaims for itself instead). */
static void test_backfill_into_reclaim_claims(void **state)
{
    struct sched *s = platform(1, 6 * G, true, 2 * G);
    uint32_t b[6];
    uint32_t own = reclaim_with_unheld_claims(s, b);
    int64_t shadow = 1000 + 30000;
    uint32_t slow = submit_timed(s, "slow", "t/a", 1, shadow - 2000 - 1000 + 1, 1000, 2000);
    schedule_ok(s, 2000);
    assert_int_not_equal(s->workloads[slow].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[slow].backfill_for, SCHED_NONE);
    assert_int_equal(s->workloads[own].waiting_on, 2);
    uint32_t quick = submit_timed(s, "quick", "t/a", 1, 20000, 1000, 2002);
    schedule_ok(s, 2002);
    assert_int_equal(s->workloads[quick].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[quick].backfill_for, own);
    assert_int_equal(s->workloads[own].waiting_on, 3);
    /* the link survives a snapshot */
    struct sched *copy = reload_as(s, SCHED_SNAPSHOT_VERSION);
    assert_int_equal(copy->workloads[quick].backfill_for, own);
    sched_free(copy);
    /* own's victims stop early: it still waits for quick, and starts when quick ends */
    for (int i = 0; i < 6; i++)
        if (s->workloads[b[i]].state == SCHED_DRAINING && s->workloads[b[i]].reclaim_for == own)
            assert_int_equal(sched_stopped(s, b[i], 5000), 0);
    schedule_ok(s, 5000);
    assert_int_equal(s->workloads[own].state, SCHED_RECLAIMING);
    assert_int_equal(s->workloads[own].waiting_on, 1);
    assert_int_equal(sched_time_limit_reached(s, quick, 23000), 0);
    assert_int_equal(s->workloads[own].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[own].start_ms, 23000);
    schedule_ok(s, 23000);
    sched_free(s);
}

/* reclaim_with_unheld_claims on a new platform, then quick (t/a, 1 GPU, 20s) backfills into
 * own's claim at 2000. OUT b, *own, *quick. RET the engine. */
static struct sched *backfill_in_claim(uint32_t *b, uint32_t *own, uint32_t *quick)
{
    struct sched *s = platform(1, 6 * G, true, 2 * G);
    *own = reclaim_with_unheld_claims(s, b);
    *quick = submit_timed(s, "quick", "t/a", 1, 20000, 1000, 2000);
    schedule_ok(s, 2000);
    assert_int_equal(s->workloads[*quick].backfill_for, *own);
    return s;
}

/* What a victim adds to its node's count of GPUs a search may use (placement_usable_whole,
 * struct engine_node_marks): its whole GPUs that slot_usable would take once it is marked,
 * not one claimed by another (a backfill's, in its claimant's claim), read from the node's
 * locked mask, which follows the claim as it comes and goes. */
static void test_victim_usable_gpus_exclude_claimed_ones(void **state)
{
    (void)state;
    uint32_t b[6], own, quick;
    struct sched *s = backfill_in_claim(b, &own, &quick);
    const struct sched_replica *q = &s->workloads[quick].placement[0];
    assert_int_equal(placement_usable_whole(s, q), 0); /* claimed by own */
    assert_true(s->nodes[q->node].locked & q->gpu_mask);
    uint32_t running = SCHED_NONE;
    for (int i = 0; i < 6 && running == SCHED_NONE; i++)
        running = s->workloads[b[i]].state == SCHED_RUNNING ? b[i] : SCHED_NONE;
    assert_int_not_equal(running, SCHED_NONE);
    const struct sched_replica *r = &s->workloads[running].placement[0];
    assert_int_equal(placement_usable_whole(s, r), 1);
    /* the claimant gone, its claim is lifted: quick's GPU may be used once it is a victim */
    assert_int_equal(sched_cancel(s, own, 3000), 0);
    assert_int_equal(s->nodes[q->node].gpus[__builtin_ctz(q->gpu_mask)].claim, SCHED_NONE);
    assert_int_equal(placement_usable_whole(s, q), 1);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A claimant cancelled while a backfill runs in its claim: the backfill runs on, unlinked,
 * and the GPU it holds stays its own until it ends. */
static void test_backfill_outlives_a_cancelled_claimant(void **state)
{
    uint32_t b[6], own, quick;
    struct sched *s = backfill_in_claim(b, &own, &quick);
    assert_int_equal(sched_cancel(s, own, 3000), 0);
    assert_int_equal(s->workloads[quick].backfill_for, SCHED_NONE);
    schedule_ok(s, 3000);
    assert_int_equal(s->workloads[quick].state, SCHED_RUNNING);
    assert_int_equal(sched_finish(s, quick, 4000), 0);
    schedule_ok(s, 4000);
    sched_free(s);
}

static void test_gang_all_or_nothing(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t one = submit(s, "one", "t/a", 2, 1, 0);
    schedule_ok(s, 0);
    /* 14 GPUs are free, enough in all, but only one node has 7 */
    uint32_t gang = submit(s, "gang", "t/b", 7, 2, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[gang].state, SCHED_PENDING);
    assert_int_equal(s->workloads[gang].reason, SCHED_REASON_NO_CAPACITY);
    /* nothing of the gang is held */
    assert_int_equal(s->tenants[0].free_units, 14 * G);
    assert_int_equal(s->nodes[0].free_whole + s->nodes[1].free_whole, 14);
    assert_int_equal(sched_finish(s, one, MIN), 0);
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[gang].state, SCHED_RUNNING);
    assert_int_not_equal(s->workloads[gang].placement[0].node,
                         s->workloads[gang].placement[1].node);
    sched_free(s);
}

/* A run that ended badly ends failed: its GPUs are free again, a failed event says so, the
 * state is an end (forgettable) and sched_check accepts it; a pending workload cannot fail. */
static void test_fail_ends_failed(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t bad = submit(s, "bad", "t/a", 8, 1, 0);
    uint32_t next = submit(s, "next", "t/a", 8, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[bad].state, SCHED_RUNNING);
    assert_int_equal(sched_fail(s, next, MIN), -ALLOT_ESTATE); /* pending: no run to fail */
    sched_events_clear(s);
    assert_int_equal(sched_fail(s, bad, MIN), 0);
    assert_int_equal(s->workloads[bad].state, SCHED_FAILED);
    assert_int_equal(count_events(s, SCHED_EV_FAILED), 1);
    assert_int_equal(count_events(s, SCHED_EV_FINISHED), 0);
    assert_true(sched_state_ended(SCHED_FAILED));
    assert_string_equal(sched_state_name(SCHED_FAILED), "failed");
    enum sched_state st;
    assert_int_equal(sched_state_parse("failed", &st), 0);
    assert_int_equal(st, SCHED_FAILED);
    assert_int_equal(sched_fail(s, bad, MIN), -ALLOT_ESTATE); /* already over */
    assert_int_equal(sched_finish(s, bad, MIN), -ALLOT_ESTATE);
    schedule_ok(s, MIN); /* its 8 GPUs went to the next */
    assert_int_equal(s->workloads[next].state, SCHED_RUNNING);
    assert_int_equal(sched_workload_forget(s, bad), 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    /* a waiting workload cancelled says it was cancelled, not what it waited for */
    uint32_t waits = submit(s, "waits", "t/a", 8, 1, 2 * MIN);
    schedule_ok(s, 2 * MIN);
    assert_int_not_equal(s->workloads[waits].reason, SCHED_REASON_NONE);
    assert_int_equal(sched_cancel(s, waits, 2 * MIN), 0);
    assert_int_equal(s->workloads[waits].state, SCHED_CANCELLED);
    assert_int_equal(s->workloads[waits].reason, SCHED_REASON_CANCELLED);
    assert_int_equal(sched_fail(s, waits, 2 * MIN), -ALLOT_ESTATE);
    sched_free(s);
}

/* One node, t/a reserving 4 GPUs of it, and eight 1-GPU borrowers of t/b (b0 to b7, in b)
 * started a second apart: every GPU is in use. */
static struct sched *eight_borrowers(uint32_t *b)
{
    struct sched *s = platform(1, 4 * G, true, 0);
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof(name), "b%d", i);
        b[i] = submit(s, name, "t/b", 1, 1, i * 1000);
        schedule_ok(s, i * 1000);
    }
    sched_events_clear(s);
    return s;
}

/* The `a` of workload id's last admitted event among those not cleared, or -1 when none. */
static int64_t admitted_borrowed(struct sched *s, uint32_t id)
{
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    int64_t a = -1;
    for (uint32_t i = 0; i < n; i++)
        if (ev[i].kind == SCHED_EV_ADMITTED && ev[i].workload == id)
            a = ev[i].a;
    return a;
}

/* The admitted event says how much of a start is above its workspace's reservation (the
 * ledger's borrowed part): none within it, the excess of one that crosses it, all of one
 * that starts above it, none for work without GPUs; and none for a reclaimer, which starts
 * within its reservation once its victims are gone. */
static void test_admitted_borrowed_units(void **state)
{
    struct sched *s = platform(1, 4 * G, true, 0);
    uint32_t x = submit(s, "x", "t/a", 3, 1, 0);
    uint32_t y = submit(s, "y", "t/a", 3, 1, 0);
    uint32_t z = submit(s, "z", "t/a", 1, 1, 0);
    struct sched_workload_spec cpu = {.name = "cpu-only",
                                      .workspace = "t/a",
                                      .cpu = 1000,
                                      .mig = -1,
                                      .model = -1,
                                      .replicas = 1,
                                      .preemptible = -1,
                                      .grace_ms = -1};
    uint32_t c = SCHED_NONE;
    assert_int_equal(sched_submit(s, &cpu, 0, &c, err, sizeof(err)), 0);
    schedule_ok(s, 0);
    assert_int_equal(admitted_borrowed(s, x), 0);
    assert_false(s->workloads[x].borrowed);
    assert_int_equal(admitted_borrowed(s, y), 2 * G); /* 3 + 3 against 4 reserved */
    assert_true(s->workloads[y].borrowed);
    assert_int_equal(admitted_borrowed(s, z), G); /* all above */
    assert_int_equal(admitted_borrowed(s, c), 0);
    assert_false(s->workloads[c].borrowed); /* it holds no GPU: it borrows none */
    sched_free(s);

    uint32_t b[8];
    s = eight_borrowers(b);
    uint32_t a = submit(s, "a", "t/a", 3, 1, MIN);
    schedule_ok(s, MIN);
    sched_events_clear(s);
    for (int i = 5; i < 8; i++)
        assert_int_equal(sched_stopped(s, b[i], MIN + 1000), 0);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    assert_int_equal(admitted_borrowed(s, a), 0);
    sched_free(s);
}

static void test_reclaim_takes_only_the_need(void **state)
{
    uint32_t b[8];
    struct sched *s = eight_borrowers(b);
    uint32_t a = submit(s, "a", "t/a", 3, 1, MIN);
    schedule_ok(s, MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 3);
    assert_int_equal(s->workloads[a].state, SCHED_RECLAIMING);
    /* the most recently started borrowers go first */
    for (int i = 0; i < 8; i++)
        assert_int_equal(s->workloads[b[i]].state, i >= 5 ? SCHED_DRAINING : SCHED_RUNNING);
    /* the claimed GPUs are not given to anyone else while the victims drain */
    uint32_t other = submit(s, "other", "t/b", 1, 1, MIN + 1);
    schedule_ok(s, MIN + 1);
    assert_int_equal(s->workloads[other].state, SCHED_PENDING);
    for (int i = 5; i < 8; i++)
        assert_int_equal(sched_stopped(s, b[i], MIN + 30000), 0);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    assert_false(s->workloads[a].borrowed);
    schedule_ok(s, MIN + 30000);
    /* the preempted borrowers wait again, in their original order */
    assert_int_equal(s->workloads[b[5]].state, SCHED_PENDING);
    assert_int_equal(queue_head(&s->workspaces[1]), b[5]);
    sched_free(s);
}

static void test_lend_false_protects_idle_reservation(void **state)
{
    struct sched *s = platform(1, 4 * G, false, 0);
    uint32_t x = submit(s, "x", "t/b", 5, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[x].state, SCHED_PENDING);
    assert_int_equal(s->workloads[x].reason, SCHED_REASON_BORROW_UNAVAILABLE);
    uint32_t y = submit(s, "y", "t/b", 4, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[y].state, SCHED_RUNNING);
    sched_free(s);
}

static void test_reservation_beyond_owned_refused(void **state)
{
    struct sched *s = platform(1, 4 * G, true, 4 * G);
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    struct sched_workspace_spec w = {
        .name = "t/a", .limits = none, .reserved = 5 * G, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_update(s, &w, 0, err, sizeof(err)), -ALLOT_ERESERVATION);
    assert_non_null(strstr(err, "owns only 8"));
    assert_int_equal(s->workspaces[0].reserved, 4 * G); /* unchanged */
    assert_int_equal(s->tenants[0].reserved_units, 8 * G);
    w.reserved = 3 * G;
    assert_int_equal(sched_workspace_update(s, &w, 0, err, sizeof(err)), 0);
    assert_int_equal(s->tenants[0].reserved_units, 7 * G);
    sched_free(s);
}

static void test_node_down_requeues_in_order(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 8, 1, 0);
    uint32_t b = submit(s, "b", "t/a", 4, 1, 0);
    schedule_ok(s, 0);
    uint32_t node = s->workloads[a].placement[0].node;
    assert_int_not_equal(node, s->workloads[b].placement[0].node);
    sched_events_clear(s);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_DOWN, MIN), 0);
    assert_int_equal(s->workloads[a].state, SCHED_PENDING);
    assert_int_equal(count_events(s, SCHED_EV_STOPPED), 1);
    schedule_ok(s, MIN);
    /* 4 GPUs are left on the other node: a (8) waits */
    assert_int_equal(s->workloads[a].state, SCHED_PENDING);
    assert_int_equal(s->workloads[b].state, SCHED_RUNNING);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_READY, 2 * MIN), 0);
    schedule_ok(s, 2 * MIN);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    sched_free(s);
}

static void test_degraded_reported(void **state)
{
    struct sched *s = platform(2, 8 * G, true, 4 * G);
    sched_events_clear(s);
    assert_int_equal(sched_node_set_state(s, 1, SCHED_NODE_DOWN, 0), 0);
    assert_int_equal(count_events(s, SCHED_EV_RESERVATION_DEGRADED), 1);
    assert_int_equal(sched_gpu_set_health(s, 0, 3, false, 1), 0);
    assert_int_equal(count_events(s, SCHED_EV_RESERVATION_DEGRADED), 1); /* once */
    assert_int_equal(sched_node_set_state(s, 1, SCHED_NODE_READY, 2), 0);
    assert_int_equal(count_events(s, SCHED_EV_RESERVATION_RESTORED), 1);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

static void test_check_catches_double_allocation(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 1, 1, 0);
    uint32_t b = submit(s, "b", "t/a", 1, 1, 0);
    schedule_ok(s, 0);
    /* corrupt: give b's GPU to a as well */
    s->workloads[b].placement[0].gpu_mask = s->workloads[a].placement[0].gpu_mask;
    assert_int_equal(sched_check(s, err, sizeof(err)), -ALLOT_ECHECK);
    assert_non_null(strstr(err, "given to workload"));
    sched_free(s);
}

static void test_check_catches_foreign_tenant(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 1, 1, 0);
    schedule_ok(s, 0);
    s->nodes[0].tenant = SCHED_NONE; /* as if the node had been given away */
    assert_int_equal(sched_check(s, err, sizeof(err)), -ALLOT_ECHECK);
    assert_non_null(strstr(err, "another tenant"));
    (void)a;
    sched_free(s);
}

static void test_submit_rejections(void **state)
{
    struct sched *s = platform(1, 2 * G, true, 0);
    struct sched_workload_spec w = {.name = "big",
                                    .workspace = "t/a",
                                    .gpus = 9,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    uint32_t id;
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_ENOFIT);
    assert_int_equal(s->workloads[id].state, SCHED_REJECTED);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_NEVER_FITS);
    w.name = "serve";
    w.gpus = 4;
    w.kind = SCHED_KIND_INFERENCE; /* non-preemptible, above the 2 reserved */
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_EREJECTED);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_EXCEEDS_RESERVATION);
    w.name = "lost";
    w.workspace = "t/zzz";
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_ENOENT);
    w.name = "lost"; /* names stay taken, even by rejected workloads */
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_EEXIST);
    w.name = "mig";
    w.workspace = "t/a";
    w.gpus = 0;
    w.kind = SCHED_KIND_TRAINING;
    w.mig = mig_name_id("3g.40gb");
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_ENOFIT);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_MIG_UNSUPPORTED);
    sched_free(s);
}

/* A spec of one replica of gpus whole GPUs in ws, with or without an image. */
static struct sched_workload_spec image_spec(const char *name, const char *ws, uint32_t gpus,
                                             bool has_image)
{
    return (struct sched_workload_spec){.name = name,
                                        .workspace = ws,
                                        .gpus = gpus,
                                        .mig = -1,
                                        .model = -1,
                                        .replicas = 1,
                                        .preemptible = -1,
                                        .grace_ms = -1,
                                        .has_image = has_image};
}

/* require_image on the tenant: a workload without an image is rejected (image_required, the
 * sentence naming the tenant) in each of its workspaces; one with an image is queued. */
static void test_require_image_tenant(void **state)
{
    struct sched *s;
    assert_int_equal(sched_new(NULL, &s), 0);
    struct sched_tenant_spec t = {.name = "t", .require_image = true};
    assert_int_equal(sched_tenant_add(s, &t, NULL, err, sizeof(err)), 0);
    struct sched_tenant_spec free_tenant = {.name = "u"};
    assert_int_equal(sched_tenant_add(s, &free_tenant, NULL, err, sizeof(err)), 0);
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_cluster_add(s, &c, NULL, err, sizeof(err)), 0);
    struct sched_gpu_spec gpus[2] = {{.model = GPU_MODEL_H100_80GB, .healthy = true},
                                     {.model = GPU_MODEL_H100_80GB, .healthy = true}};
    const char *tenants[2] = {"t", "u"}, *names[2] = {"n0", "n1"};
    for (int i = 0; i < 2; i++) {
        struct sched_node_spec n = {.name = names[i],
                                    .cluster = "c",
                                    .tenant = tenants[i],
                                    .cpu = 64000,
                                    .memory = 1LL << 40,
                                    .n_gpus = 2,
                                    .gpus = gpus};
        assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    }
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    const char *wss[3] = {"t/a", "t/b", "u/a"};
    for (int i = 0; i < 3; i++) {
        struct sched_workspace_spec w = {.name = wss[i], .limits = none, .lend = true, .weight = 1};
        assert_int_equal(sched_workspace_add(s, &w, NULL, err, sizeof(err)), 0);
    }
    uint32_t id, ws;
    assert_int_equal(sched_workspace_find(s, "t/b", &ws), 0);
    assert_int_equal(sched_image_required(s, ws, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "tenant t requires an image"));
    struct sched_workload_spec w = image_spec("bare", "t/b", 1, false);
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_EINVAL);
    assert_int_equal(s->workloads[id].state, SCHED_REJECTED);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_IMAGE_REQUIRED);
    assert_string_equal(err, "image: tenant t requires an image (require_image) in all its "
                             "workspaces and none is given");
    w = image_spec("boxed", "t/a", 1, true);
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), 0);
    w = image_spec("u-bare", "u/a", 1, false); /* another tenant's rule is not this one's */
    uint32_t other;
    assert_int_equal(sched_submit(s, &w, 0, &other, err, sizeof(err)), 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[id].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[other].state, SCHED_RUNNING);
    sched_free(s);
}

/* require_image on a workspace: only that workspace's submissions without an image are
 * rejected, with the workspace named; its tenant's other workspace takes them. */
static void test_require_image_workspace(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t a, id;
    assert_int_equal(sched_workspace_find(s, "t/a", &a), 0);
    struct sched_workspace_spec spec = {.name = "t/a",
                                        .limits = s->workspaces[a].limits,
                                        .lend = true,
                                        .weight = 1,
                                        .require_image = true};
    assert_int_equal(sched_workspace_update(s, &spec, 0, err, sizeof(err)), 0);
    assert_true(s->workspaces[a].require_image);
    struct sched_workload_spec w = image_spec("bare", "t/a", 1, false);
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_EINVAL);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_IMAGE_REQUIRED);
    assert_string_equal(err, "image: workspace t/a requires an image (require_image) and none "
                             "is given");
    w = image_spec("boxed", "t/a", 1, true);
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), 0);
    w = image_spec("b-bare", "t/b", 1, false);
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), 0);
    schedule_ok(s, 0);
    assert_int_equal(count_events(s, SCHED_EV_ADMITTED), 2);
    sched_free(s);
}

/* Turning require_image on changes later submissions only: what runs keeps running and what
 * is queued stays queued (then runs); turning it off lets bare workloads in again. */
static void test_require_image_patch_later_only(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t run = submit(s, "run", "t/a", 8, 1, 0);
    schedule_ok(s, 0);
    uint32_t wait = submit(s, "wait", "t/a", 8, 1, MIN); /* the node is full: it waits */
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[wait].state, SCHED_PENDING);
    uint32_t a, id;
    assert_int_equal(sched_workspace_find(s, "t/a", &a), 0);
    struct sched_workspace_spec spec = {.name = "t/a",
                                        .limits = s->workspaces[a].limits,
                                        .lend = true,
                                        .weight = 1,
                                        .require_image = true};
    sched_events_clear(s);
    assert_int_equal(sched_workspace_update(s, &spec, 2 * MIN, err, sizeof(err)), 0);
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].message, "t/a: require_image false -> true");
    schedule_ok(s, 2 * MIN);
    assert_int_equal(s->workloads[run].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[wait].state, SCHED_PENDING);
    struct sched_workload_spec w = image_spec("late", "t/a", 1, false);
    assert_int_equal(sched_submit(s, &w, 3 * MIN, &id, err, sizeof(err)), -ALLOT_EINVAL);
    assert_int_equal(s->workloads[id].reason, SCHED_REASON_IMAGE_REQUIRED);
    assert_int_equal(sched_finish(s, run, 4 * MIN), 0);
    schedule_ok(s, 4 * MIN);
    assert_int_equal(s->workloads[wait].state, SCHED_RUNNING);
    spec.require_image = false;
    assert_int_equal(sched_workspace_update(s, &spec, 5 * MIN, err, sizeof(err)), 0);
    w.name = "later";
    assert_int_equal(sched_submit(s, &w, 5 * MIN, &id, err, sizeof(err)), 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

static void test_mig_charging(void **state)
{
    struct sched *s;
    assert_int_equal(sched_new(NULL, &s), 0);
    struct sched_tenant_spec t = {.name = "t"};
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_tenant_add(s, &t, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_cluster_add(s, &c, NULL, err, sizeof(err)), 0);
    int p3g = h100_profile("3g.40gb");
    struct sched_gpu_spec g = {.model = GPU_MODEL_H100_80GB,
                               .healthy = true,
                               .n_mig = 2,
                               .mig = {{(int8_t)p3g, 0}, {(int8_t)p3g, 4}}};
    struct sched_node_spec n = {.name = "n",
                                .cluster = "c",
                                .tenant = "t",
                                .cpu = 8000,
                                .memory = 1LL << 36,
                                .n_gpus = 1,
                                .gpus = &g};
    assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    struct sched_workspace_spec ws = {
        .name = "t/a", .limits = none, .reserved = G, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_add(s, &ws, NULL, err, sizeof(err)), 0);
    struct sched_workload_spec w = {.workspace = "t/a",
                                    .mig = mig_name_id("3g.40gb"),
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    uint32_t ids[3];
    const char *names[] = {"m1", "m2", "m3"};
    for (int i = 0; i < 3; i++) {
        w.name = names[i];
        assert_int_equal(sched_submit(s, &w, 0, &ids[i], err, sizeof(err)), 0);
    }
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[ids[0]].units_per_replica, G / 2);
    assert_int_equal(s->workloads[ids[0]].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[ids[1]].state, SCHED_RUNNING);
    assert_false(s->workloads[ids[1]].borrowed); /* 2 x 1/2 within a 1-GPU reservation */
    assert_int_equal(s->workloads[ids[2]].state, SCHED_PENDING);
    assert_int_not_equal(s->workloads[ids[0]].placement[0].mig_slot,
                         s->workloads[ids[1]].placement[0].mig_slot);
    sched_free(s);
}

static void test_dedicated_cluster_rules(void **state)
{
    struct sched *s;
    assert_int_equal(sched_new(NULL, &s), 0);
    struct sched_tenant_spec d = {.name = "d", .isolation = SCHED_ISOLATION_DEDICATED};
    struct sched_tenant_spec o = {.name = "o"};
    assert_int_equal(sched_tenant_add(s, &d, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_tenant_add(s, &o, NULL, err, sizeof(err)), 0);
    struct sched_cluster_spec shared = {.name = "shared"};
    struct sched_cluster_spec own = {.name = "own", .dedicated_to = "d"};
    assert_int_equal(sched_cluster_add(s, &shared, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_cluster_add(s, &own, NULL, err, sizeof(err)), 0);
    struct sched_node_spec n = {
        .name = "x", .cluster = "shared", .tenant = "d", .cpu = 1000, .memory = 1 << 30};
    assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), -ALLOT_ECONFIG);
    assert_non_null(strstr(err, "dedicated"));
    n.cluster = "own";
    n.tenant = "o";
    assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), -ALLOT_ECONFIG);
    n.tenant = "d";
    assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    assert_int_equal(s->n_nodes, 1);
    sched_free(s);
}

static void test_limit_reduced_drains_newest(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 2, 1, 0);
    schedule_ok(s, 0);
    uint32_t b = submit(s, "b", "t/a", 2, 1, MIN);
    schedule_ok(s, MIN);
    struct sched_resources lim = {3 * G, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED};
    struct sched_workspace_spec w = {
        .name = "t/a", .limits = lim, .reserved = 0, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_update(s, &w, 2 * MIN, err, sizeof(err)), 0);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[b].state, SCHED_DRAINING);
    assert_int_equal(s->workloads[b].reason, SCHED_REASON_LIMIT_REDUCED);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A swap inside a workspace needs no borrowable capacity: b borrows 8 GPUs with low-priority
 * experiments; c's guaranteed work then takes the GPUs a (lend: false) keeps idle, so
 * nothing is borrowable any more. A higher-priority preemptible workload of b takes the
 * place of one experiment (what b borrows does not grow), not of nine, and not never. */
/* A starving workload admitted first in a pass changes what its workspace may borrow: the
 * workloads tried after it in the same pass see the new figure, not the one the pass read
 * before it was admitted (a stale one let a borrower take GPUs a non-lending workspace had
 * reserved). */
static void test_starving_admission_updates_borrowable(void **state)
{
    (void)state;
    struct sched *s = platform(2, 8 * G, false, 0); /* t/a reserves 8 of 16 and lends none */
    uint32_t big = submit(s, "big", "t/b", 8, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[big].state, SCHED_RUNNING); /* borrowed: 16 - 8 */
    uint32_t first = submit(s, "first", "t/b", 4, 1, 1);
    uint32_t next = submit(s, "next", "t/b", 8, 1, 2);
    schedule_ok(s, 2);
    assert_int_equal(s->workloads[first].state, SCHED_PENDING); /* nothing borrowable */
    int64_t later = s->opt.starvation_age_ms + 10;              /* first starves: it goes first */
    assert_int_equal(sched_finish(s, big, later), 0);
    schedule_ok(s, later);
    assert_int_equal(s->workloads[first].state, SCHED_RUNNING);
    /* 16 - 8 reserved - 4 held by first: 4 borrowable, so next (8) waits */
    assert_int_equal(s->workloads[next].state, SCHED_PENDING);
    assert_int_equal(s->workloads[next].reason, SCHED_REASON_BORROW_UNAVAILABLE);
    sched_free(s);
}

/* A failed priority preemption for a plain whole-GPU request ends a pass over its workspace
 * only when nothing queued there asks for MIG slices or a model: a slice request behind it
 * may still make room by preempting a slice's holder, in the same pass (workspace_exhausted). */
static void test_failed_preemption_leaves_slice_requests_a_try(void **state)
{
    (void)state;
    struct sched_options opt;
    sched_options_default(&opt);
    struct sched *s;
    assert_int_equal(sched_new(&opt, &s), 0);
    struct sched_tenant_spec t = {.name = "t"};
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_tenant_add(s, &t, NULL, err, sizeof(err)), 0);
    assert_int_equal(sched_cluster_add(s, &c, NULL, err, sizeof(err)), 0);
    struct sched_gpu_spec gpus[2] = {{.model = GPU_MODEL_H100_80GB, .healthy = true},
                                     {.model = GPU_MODEL_H100_80GB, .healthy = true, .n_mig = 1}};
    gpus[1].mig[0] = (struct mig_instance_spec){(int8_t)h100_profile("7g.80gb"), 0};
    struct sched_node_spec n = {.name = "n0",
                                .cluster = "c",
                                .tenant = "t",
                                .cpu = 64000,
                                .memory = 1LL << 40,
                                .n_gpus = 2,
                                .gpus = gpus};
    assert_int_equal(sched_node_add(s, &n, NULL, err, sizeof(err)), 0);
    struct sched_workspace_spec ws = {
        .name = "t/a",
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 2 * G,
        .lend = true,
        .weight = 1};
    assert_int_equal(sched_workspace_add(s, &ws, NULL, err, sizeof(err)), 0);
    int16_t slice = (int16_t)mig_name_id("7g.80gb");
    struct sched_workload_spec specs[4] = {
        /* the whole GPU, held by work that is never preempted */
        {.name = "fixed", .gpus = 1, .mig = -1, .preemptible = 0},
        /* the slice, held by low-priority work */
        {.name = "low", .mig = slice, .has_priority = true, .priority = 0, .preemptible = 1},
        /* a plain request no preemption can serve (the slice is no whole GPU) ... */
        {.name = "whole",
         .gpus = 1,
         .mig = -1,
         .has_priority = true,
         .priority = 100,
         .preemptible = 1},
        /* ... and a slice request behind it, which preempting "low" serves */
        {.name = "slice", .mig = slice, .has_priority = true, .priority = 100, .preemptible = 1}};
    uint32_t id[4];
    for (int i = 0; i < 4; i++) {
        specs[i].workspace = "t/a";
        specs[i].model = -1;
        specs[i].replicas = 1;
        specs[i].grace_ms = -1;
        assert_int_equal(sched_submit(s, &specs[i], 0, &id[i], err, sizeof(err)), 0);
        if (i == 1)
            schedule_ok(s, 0); /* fixed and low run; the other two come together */
    }
    schedule_ok(s, 1);
    assert_int_equal(s->workloads[id[0]].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[id[2]].state, SCHED_PENDING);
    assert_int_equal(s->workloads[id[3]].state, SCHED_RECLAIMING);
    assert_int_equal(s->workloads[id[1]].state, SCHED_DRAINING);
    sched_free(s);
}

/* A pass orders the queue heads by their keys, computed for each head: workload 0 at the head
 * of a borrower's queue is a borrower like any (it once read empty keys, which made it
 * guaranteed work, so it went before the reserved work of another workspace). */
static void test_workload_zero_is_ordered_by_its_keys(void **state)
{
    (void)state;
    struct sched *s = platform(1, 4 * G, true, 0);
    uint32_t borrower = submit(s, "borrower", "t/b", 6, 1, 0);
    uint32_t reserved = submit(s, "reserved", "t/a", 4, 1, 0);
    assert_int_equal(borrower, 0);
    schedule_ok(s, 0); /* one pass for both */
    assert_int_equal(s->workloads[reserved].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[borrower].state, SCHED_PENDING);
    sched_free(s);
}

static void test_priority_swap_needs_no_borrowable(void **state)
{
    struct sched *s = platform(2, 8 * G, false, 0);
    struct sched_workspace_spec c = {
        .name = "t/c",
        .limits = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED},
        .reserved = 8 * G,
        .lend = true,
        .weight = 1};
    assert_int_equal(sched_workspace_add(s, &c, NULL, err, sizeof(err)), 0);
    struct sched_workload_spec w = {.workspace = "t/b",
                                    .kind = SCHED_KIND_EXPERIMENT,
                                    .gpus = 1,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    char names[16][16];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%d", i < 8 ? "e" : "g", i);
        w.name = names[i];
        w.workspace = i < 8 ? "t/b" : "t/c";
        uint32_t id;
        assert_int_equal(sched_submit(s, &w, i, &id, err, sizeof(err)), 0);
        schedule_ok(s, i);
        assert_int_equal(s->workloads[id].state, SCHED_RUNNING);
    }
    uint32_t b;
    assert_int_equal(sched_workspace_find(s, "t/b", &b), 0);
    assert_true(quota_borrowable(s, b) < 0); /* a keeps 8 idle; c holds them */
    sched_events_clear(s);
    w.name = "urgent";
    w.workspace = "t/b";
    w.kind = SCHED_KIND_TRAINING;
    w.has_priority = true;
    w.priority = 5000;
    w.preemptible = 1;
    uint32_t urgent;
    assert_int_equal(sched_submit(s, &w, MIN, &urgent, err, sizeof(err)), 0);
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[urgent].state, SCHED_RECLAIMING);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 1);
    assert_int_equal(s->workloads[urgent].waiting_on, 1);
    sched_free(s);
}

static void test_priority_preemption_within_workspace(void **state)
{
    struct sched *s = platform(1, 4 * G, true, 4 * G);
    struct sched_workload_spec w = {.workspace = "t/a",
                                    .kind = SCHED_KIND_EXPERIMENT,
                                    .gpus = 1,
                                    .mig = -1,
                                    .model = -1,
                                    .replicas = 1,
                                    .preemptible = -1,
                                    .grace_ms = -1};
    uint32_t e[4], serve, other;
    const char *names[] = {"e0", "e1", "e2", "e3"};
    for (int i = 0; i < 4; i++) {
        w.name = names[i];
        assert_int_equal(sched_submit(s, &w, i, &e[i], err, sizeof(err)), 0);
        schedule_ok(s, i);
    }
    /* b uses its own reservation: nothing is borrowed anywhere */
    other = submit(s, "other", "t/b", 4, 1, 10);
    schedule_ok(s, 10);
    assert_int_equal(s->workloads[other].state, SCHED_RUNNING);
    sched_events_clear(s);
    w.name = "serve";
    w.kind = SCHED_KIND_INFERENCE;
    w.gpus = 2;
    assert_int_equal(sched_submit(s, &w, MIN, &serve, err, sizeof(err)), 0);
    schedule_ok(s, MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 2);
    assert_int_equal(s->workloads[serve].state, SCHED_RECLAIMING);
    /* the most recently started experiments go; b's work is not touched */
    assert_int_equal(s->workloads[e[3]].state, SCHED_DRAINING);
    assert_int_equal(s->workloads[e[2]].state, SCHED_DRAINING);
    assert_int_equal(s->workloads[e[3]].reason, SCHED_REASON_PRIORITY);
    assert_int_equal(s->workloads[e[1]].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[other].state, SCHED_RUNNING);
    assert_int_equal(sched_stopped(s, e[3], MIN + 1000), 0);
    assert_int_equal(s->workloads[serve].state, SCHED_RECLAIMING);
    assert_int_equal(sched_stopped(s, e[2], MIN + 2000), 0);
    assert_int_equal(s->workloads[serve].state, SCHED_RUNNING);
    assert_false(s->workloads[serve].borrowed);
    schedule_ok(s, MIN + 2000);
    /* an equal priority never preempts */
    sched_events_clear(s);
    w.name = "peer";
    w.kind = SCHED_KIND_EXPERIMENT;
    w.gpus = 1;
    assert_int_equal(sched_submit(s, &w, 2 * MIN, NULL, err, sizeof(err)), 0);
    schedule_ok(s, 2 * MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 0);
    sched_free(s);
}

/* A one-GPU experiment of t/a, with the kind's defaults (name to be set). */
static struct sched_workload_spec experiment_spec(void)
{
    return (struct sched_workload_spec){.workspace = "t/a",
                                        .kind = SCHED_KIND_EXPERIMENT,
                                        .gpus = 1,
                                        .mig = -1,
                                        .model = -1,
                                        .replicas = 1,
                                        .preemptible = -1,
                                        .grace_ms = -1};
}

/* sched_checkpoint's bounds: running or draining work only, never before its start nor
 * after now; an older checkpoint changes nothing; what a stop would lose counts from it. */
static void test_checkpoint_bounds(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t r = submit(s, "r", "t/a", 2, 1, 1000);
    schedule_ok(s, 1000);
    uint32_t p = submit(s, "p", "t/a", 8, 1, 2000);
    schedule_ok(s, 2000);
    assert_int_equal(s->workloads[p].state, SCHED_PENDING);
    assert_int_equal(sched_checkpoint(s, p, 2000, 3000), -ALLOT_ESTATE);
    assert_int_equal(sched_checkpoint(s, 9999, 2000, 3000), -ALLOT_ENOENT);
    assert_int_equal(sched_checkpoint(s, r, 999, 3000), -ALLOT_EINVAL);
    assert_int_equal(sched_checkpoint(s, r, 3001, 3000), -ALLOT_EINVAL);
    assert_int_equal(s->workloads[r].checkpoint_ms, 0);
    /* no checkpoint: everything since its start */
    assert_int_equal(sched_workload_lost(s, r, 11000), 2 * G * 10000);
    assert_int_equal(sched_checkpoint(s, r, 5000, 6000), 0);
    assert_int_equal(sched_checkpoint(s, r, 4000, 7000), 0); /* older: kept 5000 */
    assert_int_equal(s->workloads[r].checkpoint_ms, 5000);
    assert_int_equal(sched_workload_lost(s, r, 11000), 2 * G * 6000);
    assert_int_equal(sched_workload_lost(s, p, 11000), 0);
    /* kept in the snapshot; a version 2 snapshot loads none */
    struct sched *back = reload_as(s, SCHED_SNAPSHOT_VERSION);
    assert_int_equal(back->workloads[r].checkpoint_ms, 5000);
    sched_free(back);
    back = reload_as(s, 2);
    assert_int_equal(back->workloads[r].checkpoint_ms, 0);
    assert_true(back->opt.checkpoint_aware);
    sched_free(back);
    sched_free(s);
}

/* Which of eight 1-GPU workloads (started at 0s, 1s, ... 7s; a bit each) a 3-GPU workload
 * submitted at 1m preempts, after the checkpoints ckpt[i] (0: none) and with
 * checkpoint_aware as given: by reclaim (the eight borrow in b, the claimant is within a's
 * reservation) or by priority (the eight are experiments of a, the claimant inference). */
static unsigned victims_after_checkpoints(bool priority, bool aware, const int64_t ckpt[8])
{
    uint32_t v[8];
    struct sched *s = priority ? platform(1, 8 * G, true, 0) : eight_borrowers(v);
    s->opt.checkpoint_aware = aware;
    struct sched_workload_spec w = experiment_spec();
    for (int i = 0; i < 8 && priority; i++) {
        char name[8];
        snprintf(name, sizeof(name), "e%d", i);
        w.name = name;
        assert_int_equal(sched_submit(s, &w, i * 1000, &v[i], err, sizeof(err)), 0);
        schedule_ok(s, i * 1000);
    }
    for (int i = 0; i < 8; i++)
        if (ckpt[i])
            assert_int_equal(sched_checkpoint(s, v[i], ckpt[i], MIN), 0);
    w.name = "claimant";
    w.kind = priority ? SCHED_KIND_INFERENCE : SCHED_KIND_TRAINING;
    w.gpus = 3;
    uint32_t c;
    assert_int_equal(sched_submit(s, &w, MIN, &c, err, sizeof(err)), 0);
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[c].state, SCHED_RECLAIMING);
    unsigned mask = 0;
    for (int i = 0; i < 8; i++)
        if (s->workloads[v[i]].state == SCHED_DRAINING) {
            assert_int_equal(s->workloads[v[i]].reason,
                             priority ? SCHED_REASON_PRIORITY : SCHED_REASON_RECLAIM);
            mask |= 1u << i;
        }
    sched_free(s);
    return mask;
}

/* Which of big (4 GPUs, priority 0, 10s old) and four smalls (1 GPU, priority 5, 15s old)
 * drain for an inference of 2 GPUs and priority 10 that must come back within its full
 * reservation: a mask, big as bit 0. */
static unsigned victims_big_or_small(bool aware)
{
    struct sched *s = platform(1, 8 * G, true, 0);
    s->opt.checkpoint_aware = aware;
    struct sched_workload_spec w = experiment_spec();
    w.has_priority = true;
    uint32_t v[5];
    for (int i = 4; i >= 0; i--) {
        char name[8];
        snprintf(name, sizeof(name), "v%d", i);
        w.name = name;
        w.gpus = i == 0 ? 4 : 1;
        w.priority = i == 0 ? 0 : 5;
        int64_t at = i == 0 ? 50000 : 45000;
        assert_int_equal(sched_submit(s, &w, at, &v[i], err, sizeof(err)), 0);
        schedule_ok(s, at);
    }
    w.name = "claimant";
    w.kind = SCHED_KIND_INFERENCE;
    w.gpus = 2;
    w.priority = 10;
    uint32_t c;
    assert_int_equal(sched_submit(s, &w, MIN, &c, err, sizeof(err)), 0);
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[c].state, SCHED_RECLAIMING);
    unsigned mask = 0;
    for (int i = 0; i < 5; i++)
        mask |= (unsigned)(s->workloads[v[i]].state == SCHED_DRAINING) << i;
    sched_free(s);
    return mask;
}

/* The victim order takes big, the lowest priority, which frees more than the reservation
 * needs: 40 GPU-seconds lost, though big loses the least per GPU. Two smalls lose 30 between
 * them: a lost order finds them, which a shortcut that took big's set for the cheapest cover
 * (it covers more than the need) would skip. */
static void test_victims_least_lost_beyond_the_need(void **state)
{
    assert_int_equal(victims_big_or_small(false), 0x01);
    unsigned two_smalls = victims_big_or_small(true);
    assert_int_equal(two_smalls & 1, 0);
    assert_int_equal(__builtin_popcount(two_smalls), 2);
}

/* docs/policy.md, "Lost work": victims that checkpointed recently are taken before those that
 * would lose more, for reclaim and for priority preemption; equal losses fall back to the
 * victim order (the most recently started first), as does checkpoint_aware off. */
static void test_victims_lose_the_least_work(void **state)
{
    const int64_t none[8] = {0};
    const int64_t first3[8] = {50000, 50000, 50000};
    const int64_t first4[8] = {50000, 50000, 50000, 50000};
    for (int priority = 0; priority < 2; priority++) {
        /* without checkpoints the newest lose the least: the victim order's own choice */
        assert_int_equal(victims_after_checkpoints(priority, true, none), 0xE0);
        assert_int_equal(victims_after_checkpoints(priority, false, none), 0xE0);
        /* e0..e2 saved 10s ago: each loses 10s, not 53s or more */
        assert_int_equal(victims_after_checkpoints(priority, true, first3), 0x07);
        assert_int_equal(victims_after_checkpoints(priority, false, first3), 0xE0);
        /* four lose 10s each: the three started last among them */
        assert_int_equal(victims_after_checkpoints(priority, true, first4), 0x0E);
    }
}

/* Give workspace name's kind a min_runtime of ms (sched_workspace_update, the rest kept). */
static void set_min_runtime(struct sched *s, const char *name, enum sched_kind kind, int64_t ms,
                            int64_t now)
{
    uint32_t id;
    assert_int_equal(sched_workspace_find(s, name, &id), 0);
    const struct sched_workspace *ws = &s->workspaces[id];
    struct sched_workspace_spec spec = {.name = name,
                                        .limits = ws->limits,
                                        .reserved = ws->reserved,
                                        .lend = ws->lend,
                                        .weight = ws->weight,
                                        .require_image = ws->require_image};
    memcpy(spec.min_runtime_ms, ws->min_runtime_ms, sizeof(spec.min_runtime_ms));
    spec.min_runtime_ms[kind] = ms;
    assert_int_equal(sched_workspace_update(s, &spec, now, err, sizeof(err)), 0);
    assert_int_equal(s->workspaces[id].min_runtime_ms[kind], ms);
}

/* docs/policy.md, "Minimum runtime": work younger than its workspace's min_runtime for its
 * kind is no candidate for priority preemption (the waiting one says when the first may be
 * taken), but a reclaim for a reservation takes it; out-of-range values are refused. */
static void test_min_runtime(void **state)
{
    struct sched *s = platform(1, 8 * G, true, 0);
    set_min_runtime(s, "t/a", SCHED_KIND_EXPERIMENT, 10 * MIN, 0);
    struct sched_workload_spec w = experiment_spec();
    uint32_t e[8], serve;
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof(name), "e%d", i);
        w.name = name;
        assert_int_equal(sched_submit(s, &w, i * MIN, &e[i], err, sizeof(err)), 0);
        schedule_ok(s, i * MIN);
    }
    w.name = "serve";
    w.kind = SCHED_KIND_INFERENCE;
    assert_int_equal(sched_submit(s, &w, 8 * MIN, &serve, err, sizeof(err)), 0);
    schedule_ok(s, 8 * MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 0);
    assert_int_equal(s->workloads[serve].state, SCHED_PENDING);
    assert_int_equal(s->workloads[serve].reason, SCHED_REASON_MIN_RUNTIME);
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    assert_non_null(strstr(ev[n - 1].message, "in 2m")); /* e0 reaches 10m at 10m */
    /* at 10m e0 is old enough: the only candidate */
    sched_events_clear(s);
    sched_touch(s);
    schedule_ok(s, 10 * MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 1);
    assert_int_equal(s->workloads[e[0]].state, SCHED_DRAINING);
    assert_int_equal(s->workloads[serve].state, SCHED_RECLAIMING);
    sched_free(s);

    /* a reclaim for a reservation ignores it */
    uint32_t b[8];
    s = eight_borrowers(b);
    set_min_runtime(s, "t/b", SCHED_KIND_TRAINING, 60 * MIN, 8000);
    uint32_t a = submit(s, "a", "t/a", 3, 1, MIN);
    schedule_ok(s, MIN);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 3);
    assert_int_equal(s->workloads[a].state, SCHED_RECLAIMING);
    /* bounds: refused, nothing changed */
    struct sched_workspace_spec spec = {
        .name = "t/b", .limits = s->workspaces[1].limits, .reserved = 0, .lend = true, .weight = 1};
    spec.min_runtime_ms[SCHED_KIND_FINETUNE] = SCHED_MAX_MIN_RUNTIME_MS + 1;
    assert_int_equal(sched_workspace_update(s, &spec, MIN, err, sizeof(err)), -ALLOT_ERANGE);
    assert_non_null(strstr(err, "finetune"));
    spec.min_runtime_ms[SCHED_KIND_FINETUNE] = -1;
    assert_int_equal(sched_workspace_update(s, &spec, MIN, err, sizeof(err)), -ALLOT_ERANGE);
    assert_int_equal(s->workspaces[1].min_runtime_ms[SCHED_KIND_TRAINING], 60 * MIN);
    /* kept in the snapshot; a version 2 snapshot loads none */
    struct sched *back = reload_as(s, SCHED_SNAPSHOT_VERSION);
    assert_int_equal(back->workspaces[1].min_runtime_ms[SCHED_KIND_TRAINING], 60 * MIN);
    sched_free(back);
    back = reload_as(s, 2);
    assert_int_equal(back->workspaces[1].min_runtime_ms[SCHED_KIND_TRAINING], 0);
    sched_free(back);
    sched_free(s);
}

static void test_node_move_drains_first(void **state)
{
    struct sched *s = platform(2, 4 * G, true, 0);
    struct sched_tenant_spec beta = {.name = "beta"};
    assert_int_equal(sched_tenant_add(s, &beta, NULL, err, sizeof(err)), 0);
    uint32_t a = submit(s, "a", "t/b", 8, 1, 0);
    schedule_ok(s, 0);
    uint32_t node = s->workloads[a].placement[0].node;
    /* t reserves 4 of its 16 GPUs: it may give away one node of 8 */
    assert_int_equal(sched_node_move(s, node, "beta", false, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    assert_int_equal(s->nodes[node].tenant, 0); /* still t's while a runs */
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    /* no new work of t lands there meanwhile */
    uint32_t b = submit(s, "b", "t/b", 8, 1, MIN);
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[b].state, SCHED_RUNNING);
    assert_int_not_equal(s->workloads[b].placement[0].node, node);
    /* undrain is refused until the move is done */
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_READY, MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_finish(s, a, 2 * MIN), 0);
    assert_int_equal(s->nodes[node].tenant, 1);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_READY);
    assert_int_equal(s->tenants[0].owned_units, 8 * G);
    assert_int_equal(s->tenants[1].owned_units, 8 * G);
    schedule_ok(s, 2 * MIN);
    /* t cannot give away its last node: its reservation needs it */
    uint32_t other = s->workloads[b].placement[0].node;
    assert_int_equal(sched_node_move(s, other, "beta", false, 3 * MIN, err, sizeof(err)),
                     -ALLOT_ERESERVATION);
    assert_int_equal(s->nodes[other].state, SCHED_NODE_READY);
    sched_free(s);
}

/* A move that waits for a wipe: drained, the node serves the new tenant for its agent to wipe,
 * and joins it only when the agent says it has wiped it for that tenant. */
static void test_node_move_waits_for_the_wipe(void **state)
{
    struct sched *s = platform(2, 4 * G, true, 0);
    struct sched_tenant_spec beta = {.name = "beta"};
    assert_int_equal(sched_tenant_add(s, &beta, NULL, err, sizeof(err)), 0);
    uint32_t a = submit(s, "a", "t/b", 8, 1, 0);
    schedule_ok(s, 0);
    uint32_t node = s->workloads[a].placement[0].node;
    assert_int_equal(sched_node_move(s, node, "beta", true, MIN, err, sizeof(err)), 0);
    /* while t's work runs, its agent serves t; no wipe is taken yet */
    assert_int_equal(sched_node_serving(s, node), 0);
    assert_int_equal(sched_node_wiped(s, node, 1, MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_finish(s, a, 2 * MIN), 0);
    /* drained: the agent is to wipe it for beta; it belongs to neither meanwhile */
    assert_int_equal(sched_node_serving(s, node), 1);
    assert_int_equal(s->nodes[node].tenant, 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    /* a wipe for another tenant, or for none, does not count */
    assert_int_equal(sched_node_wiped(s, node, 0, 2 * MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_node_wiped(s, node, SCHED_NONE, 2 * MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_node_wiped(s, node, 1, 3 * MIN), 0);
    assert_int_equal(s->nodes[node].tenant, 1);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_READY);
    assert_int_equal(sched_node_serving(s, node), 1);
    assert_int_equal(sched_node_wiped(s, node, 1, 3 * MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A node of no tenant moved to one whose agents wipe: it takes no work until it is wiped, and
 * the state passes sched_check meanwhile (found by fuzz_journal_ops: the node stayed ready
 * while moving, which the daemon's periodic check and its start after a replay refuse). */
static void test_unowned_node_move_waits_for_the_wipe(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    struct sched_node_spec spare = {
        .name = "spare", .cluster = "c", .cpu = 8000, .memory = 1LL << 34};
    uint32_t node;
    assert_int_equal(sched_node_add(s, &spare, &node, err, sizeof(err)), 0);
    assert_int_equal(sched_node_move(s, node, "t", true, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    assert_int_equal(sched_node_serving(s, node), 0);
    schedule_ok(s, MIN);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    assert_int_equal(sched_node_wiped(s, node, 0, 2 * MIN), 0);
    assert_int_equal(s->nodes[node].tenant, 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_READY);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A node given to no tenant: once drained it is nobody's and ready, and its free GPUs count
 * as an unowned node's do (found by fuzz_journal_ops: they stayed 0, which sched_check
 * refuses); a GPU of it that fails is counted out as on any node (it was not: sched_check
 * refused that too). */
static void test_node_move_to_no_tenant(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    uint32_t a = submit(s, "a", "t/b", 2, 1, 0);
    schedule_ok(s, 0);
    uint32_t busy = s->workloads[a].placement[0].node, idle = busy == 0 ? 1 : 0;
    assert_int_equal(sched_node_move(s, idle, NULL, false, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[idle].tenant, SCHED_NONE); /* nothing ran there: at once */
    assert_int_equal(s->nodes[idle].state, SCHED_NODE_READY);
    assert_int_equal(s->nodes[idle].free_whole, 8);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    /* a GPU of a node of no tenant that fails is locked all the same (struct sched_node) */
    assert_int_equal(sched_gpu_set_health(s, idle, 2, false, MIN), 0);
    assert_int_equal(s->nodes[idle].locked, 1u << 2);
    assert_int_equal(s->nodes[idle].free_whole, 7);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    assert_int_equal(sched_node_move(s, busy, NULL, false, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[busy].tenant, 0); /* a runs there: it drains first */
    assert_int_equal(sched_finish(s, a, 2 * MIN), 0);
    assert_int_equal(s->nodes[busy].tenant, SCHED_NONE);
    assert_int_equal(s->nodes[busy].free_whole, 8);
    schedule_ok(s, 3 * MIN);
    sched_free(s);
}

/* A node given to no tenant and then back to one, without a wipe, and an idle node of no
 * tenant drained by an admin: its free GPUs stop counting while it is not ready, so that it
 * joins its new tenant with nothing counted twice (found by fuzz_journal_ops: the node's
 * free_whole stayed 8 while it drained, and the tenant's nodes_by_free went wrong). */
static void test_node_back_from_no_tenant(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    assert_int_equal(sched_node_move(s, 1, NULL, false, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[1].tenant, SCHED_NONE);
    assert_int_equal(s->nodes[1].free_whole, 8);
    assert_int_equal(sched_node_set_state(s, 1, SCHED_NODE_DRAINING, MIN), 0);
    assert_int_equal(s->nodes[1].free_whole, 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    assert_int_equal(sched_node_set_state(s, 1, SCHED_NODE_READY, MIN), 0);
    assert_int_equal(s->nodes[1].free_whole, 8);
    assert_int_equal(sched_node_move(s, 1, "t", false, 2 * MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[1].tenant, 0);
    assert_int_equal(s->nodes[1].state, SCHED_NODE_READY);
    assert_int_equal(s->tenants[0].free_whole, 16);
    assert_int_equal(s->tenants[0].nodes_by_free[8], 2);
    assert_int_equal(s->tenants[0].nodes_by_free[0], 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    uint32_t a = submit(s, "a", "t/b", 8, 2, 3 * MIN); /* both nodes whole */
    schedule_ok(s, 3 * MIN);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    sched_free(s);
}

/* Tenant t with two nodes of 8 GPUs (platform(2, 4 GPUs, ...)), tenant beta with none, and
 * workload a of t of gpus GPUs running. OUT *a and *node, where it runs. */
static struct sched *moving_platform(uint32_t gpus, uint32_t *a, uint32_t *node)
{
    struct sched *s = platform(2, 4 * G, true, 0);
    struct sched_tenant_spec beta = {.name = "beta"};
    assert_int_equal(sched_tenant_add(s, &beta, NULL, err, sizeof(err)), 0);
    *a = submit(s, "a", "t/b", gpus, 1, 0);
    schedule_ok(s, 0);
    *node = s->workloads[*a].placement[0].node;
    return s;
}

/* A move cancelled while the old tenant's work still runs there: the node stays its tenant's,
 * ready again (the move alone drained it), its work untouched, and takes new work; a second
 * cancel, or one after a move completed, is refused. */
static void test_node_move_cancel_after_drain_began(void **state)
{
    uint32_t a, node;
    struct sched *s = moving_platform(4, &a, &node);
    assert_int_equal(sched_node_move_cancel(s, node, 0), -ALLOT_ESTATE); /* no move yet */
    assert_int_equal(sched_node_move(s, node, "beta", false, MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    sched_events_clear(s);
    assert_int_equal(sched_node_move_cancel(s, node, 2 * MIN), 0);
    assert_int_equal(s->nodes[node].moving_to, SCHED_NONE);
    assert_int_equal(s->nodes[node].tenant, 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_READY);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[a].placement[0].node, node);
    assert_int_equal(s->tenants[0].owned_units, 16 * G);
    assert_int_equal(s->tenants[0].healthy_units, 16 * G);
    assert_int_equal(count_events(s, SCHED_EV_NODE_STATE), 2); /* cancelled; ready */
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    assert_int_equal(sched_node_move_cancel(s, node, 2 * MIN), -ALLOT_ESTATE);
    /* the node takes its tenant's work again: 4 GPUs are left on it beside a */
    uint32_t b = submit(s, "b", "t/b", 8, 1, 2 * MIN);
    uint32_t c = submit(s, "c", "t/b", 8, 1, 2 * MIN);
    schedule_ok(s, 2 * MIN);
    assert_int_equal(s->workloads[b].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[c].state, SCHED_PENDING);
    uint32_t d = submit(s, "d", "t/b", 4, 1, 2 * MIN);
    schedule_ok(s, 2 * MIN);
    assert_int_equal(s->workloads[d].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[d].placement[0].node, node);
    /* a completed move is no move under way: idle, the node moves at once */
    assert_int_equal(sched_finish(s, a, 3 * MIN), 0);
    assert_int_equal(sched_finish(s, d, 3 * MIN), 0);
    assert_int_equal(sched_node_move(s, node, "beta", false, 4 * MIN, err, sizeof(err)), 0);
    assert_int_equal(s->nodes[node].tenant, 1);
    assert_int_equal(sched_node_move_cancel(s, node, 4 * MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_node_move_cancel(s, s->n_nodes, 4 * MIN), -ALLOT_EINVAL);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A move cancelled once the drain is over and the node waits for its agent's wipe: the agent
 * serves the old tenant again, the node is back in its books, ready, and a wipe reported late
 * is refused. */
static void test_node_move_cancel_with_a_wipe_pending(void **state)
{
    uint32_t a, node;
    struct sched *s = moving_platform(8, &a, &node);
    assert_int_equal(sched_node_move(s, node, "beta", true, MIN, err, sizeof(err)), 0);
    assert_int_equal(sched_finish(s, a, 2 * MIN), 0);
    assert_int_equal(sched_node_serving(s, node), 1); /* to be wiped for beta */
    assert_int_equal(sched_node_move_cancel(s, node, 3 * MIN), 0);
    assert_int_equal(sched_node_serving(s, node), 0);
    assert_int_equal(s->nodes[node].tenant, 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_READY);
    assert_false(s->nodes[node].wipe);
    assert_int_equal(sched_node_wiped(s, node, 1, 3 * MIN), -ALLOT_ESTATE);
    assert_int_equal(s->tenants[1].owned_units, 0);
    uint32_t b = submit(s, "b", "t/b", 8, 2, 3 * MIN); /* both nodes */
    schedule_ok(s, 3 * MIN);
    assert_int_equal(s->workloads[b].state, SCHED_RUNNING);
    sched_free(s);
}

/* A node an admin drained stays drained when a move is cancelled, whether it was drained before
 * the move or during it; one that went down stays down. */
static void test_node_move_cancel_keeps_an_admin_drain(void **state)
{
    uint32_t a, node;
    struct sched *s = moving_platform(8, &a, &node);
    /* drained before, saying why: the event's message carries it */
    sched_events_clear(s);
    assert_int_equal(sched_node_set_state_why(s, node, SCHED_NODE_DRAINING, "cabling", MIN), 0);
    uint32_t n_events;
    const struct sched_event *ev = sched_events(s, &n_events);
    assert_int_equal(n_events, 1);
    assert_string_equal(ev[0].message, "node n0: ready -> draining (cabling)");
    assert_int_equal(sched_node_move(s, node, "beta", false, MIN, err, sizeof(err)), 0);
    assert_int_equal(sched_node_move_cancel(s, node, 2 * MIN), 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_READY, 2 * MIN), 0);
    /* drained during: a second move replacing the first keeps that the first drained it */
    assert_int_equal(sched_node_move(s, node, "beta", false, 3 * MIN, err, sizeof(err)), 0);
    assert_int_equal(sched_node_move(s, node, NULL, false, 3 * MIN, err, sizeof(err)), 0);
    assert_true(s->nodes[node].move_drained);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_DRAINING, 3 * MIN), 0);
    assert_int_equal(sched_node_move_cancel(s, node, 4 * MIN), 0);
    assert_int_equal(s->nodes[node].state, SCHED_NODE_DRAINING);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_READY, 4 * MIN), 0);
    /* down during: its work is requeued, and it stays down */
    assert_int_equal(sched_node_move(s, node, "beta", false, 5 * MIN, err, sizeof(err)), 0);
    assert_int_equal(sched_node_set_state(s, node, SCHED_NODE_DOWN, 5 * MIN), 0);
    assert_int_equal(s->nodes[node].tenant, 1); /* nothing ran there any more: it moved */
    assert_int_equal(sched_node_move_cancel(s, node, 6 * MIN), -ALLOT_ESTATE);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A workspace's preemptible array runs from the lowest priority and, within a priority, from
 * the most recently started; a workload leaves it when it stops running; and the array
 * derived on load, from a snapshot of this version or of one that still had the list, is the
 * same. */
static void test_preemptible_array_order(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    static const int32_t prio[] = {10, 5, 10, 5, 7};
    uint32_t id[5];
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        struct sched_workload_spec w = gang_spec(name, "t/a", 1, 1, NULL, false);
        w.has_priority = true;
        w.priority = prio[i];
        w.preemptible = 1;
        assert_int_equal(sched_submit(s, &w, i, &id[i], err, sizeof(err)), 0);
        schedule_ok(s, i);
        assert_int_equal(s->workloads[id[i]].state, SCHED_RUNNING);
    }
    const struct sched_workspace *ws = &s->workspaces[0];
    uint32_t want[] = {id[3], id[1], id[4], id[2], id[0]};
    assert_int_equal(ws->n_preempt, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ws->preempt[i].id, want[i]);
        assert_int_equal(ws->preempt[i].priority, s->workloads[want[i]].priority);
    }
    assert_int_equal(sched_finish(s, id[4], 10), 0);
    assert_int_equal(sched_cancel(s, id[1], 10), 0); /* draining: out of it too */
    uint32_t after[] = {id[3], id[2], id[0]};
    assert_int_equal(ws->n_preempt, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ws->preempt[i].id, after[i]);
    uint32_t versions[] = {6, SCHED_SNAPSHOT_VERSION};
    for (int v = 0; v < 2; v++) {
        struct sched *copy = reload_as(s, versions[v]);
        assert_int_equal(copy->workspaces[0].n_preempt, 3);
        assert_memory_equal(copy->workspaces[0].preempt, ws->preempt, 3 * sizeof(*ws->preempt));
        sched_free(copy);
    }
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* A workspace's preemptible array gives memory back once mostly unused (array_trim_due),
 * keeping its order, and grows again. */
static void test_preemptible_array_shrinks(void **state)
{
    struct sched *s = platform(20, 0, true, 0); /* 160 GPUs */
    uint32_t id[160];
    for (int i = 0; i < 160; i++) {
        char name[8];
        snprintf(name, sizeof(name), "p%d", i);
        struct sched_workload_spec w = gang_spec(name, "t/a", 1, 1, NULL, false);
        w.has_priority = true;
        w.priority = i % 3;
        w.preemptible = 1;
        assert_int_equal(sched_submit(s, &w, i, &id[i], err, sizeof(err)), 0);
    }
    schedule_ok(s, 200);
    const struct sched_workspace *ws = &s->workspaces[0];
    assert_int_equal(ws->n_preempt, 160);
    assert_int_equal(ws->cap_preempt, 256);
    for (int i = 0; i < 157; i++)
        assert_int_equal(sched_finish(s, id[i], 300), 0);
    assert_int_equal(ws->n_preempt, 3);
    assert_int_equal(ws->cap_preempt, ARRAY_TRIM_MIN);
    uint32_t want[] = {id[159], id[157], id[158]}; /* priorities 0, 1, 2 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ws->preempt[i].id, want[i]);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    for (int i = 0; i < 100; i++) { /* and it grows again */
        char name[8];
        snprintf(name, sizeof(name), "r%d", i);
        submit(s, name, "t/a", 1, 1, 400);
    }
    schedule_ok(s, 400);
    assert_int_equal(ws->n_preempt, 103);
    assert_int_equal(ws->cap_preempt, 2 * ARRAY_TRIM_MIN);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    sched_free(s);
}

/* Queue order of workload ids a and b (qsort): highest priority first, then seq. */
static const struct sched *order_of;
static int by_queue_order(const void *a, const void *b)
{
    const struct sched_workload *x = &order_of->workloads[*(const uint32_t *)a];
    const struct sched_workload *y = &order_of->workloads[*(const uint32_t *)b];
    return queue_before(x, y) ? -1 : queue_before(y, x);
}

/* A workspace's queue (an array with room at both ends, searched from where each workload
 * last was) keeps exactly its pending workloads in queue order through submissions and
 * cancels anywhere in it, growth, trimming, and hints gone stale or wrong; queue_after names
 * the next in order, for a queued workload and for one that has left. Once nearly empty, it
 * gives its memory back. */
static void test_queue_keeps_order_under_churn(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint64_t r = 12345;
    uint32_t ids[600], n_ids = 0, *sorted = malloc(sizeof(ids));
    int cancelled = 0;
    for (int op = 0; op < 1500; op++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t x = (uint32_t)(r >> 33);
        if (n_ids < 40 || (x % 3 != 0 && n_ids < 600)) {
            char name[16];
            snprintf(name, sizeof(name), "q%d", op);
            struct sched_workload_spec w = gang_spec(name, "t/a", 1, 1, NULL, false);
            w.has_priority = true;
            w.priority = (int32_t)(x % 4) * 10;
            assert_int_equal(sched_submit(s, &w, op, &ids[n_ids], err, sizeof(err)), 0);
            n_ids++;
        } else {
            uint32_t k = x % n_ids, gone = ids[k];
            assert_int_equal(sched_cancel(s, gone, op), 0);
            ids[k] = ids[--n_ids];
            cancelled++;
            if (n_ids > 0) { /* the one after where it was */
                uint32_t next = queue_after(s, gone);
                bool found = false;
                for (uint32_t i = 0; i < n_ids && !found; i++)
                    found = ids[i] == next;
                assert_true(found || next == SCHED_NONE);
                assert_true(next == SCHED_NONE ||
                            queue_before(&s->workloads[gone], &s->workloads[next]));
            }
        }
        for (uint32_t i = 0; i < n_ids; i++) /* hints gone wrong: the search must not care */
            s->workloads[ids[i]].qat = (x >> (i % 16)) % (n_ids + 8);
        const struct sched_workspace *ws = &s->workspaces[0];
        assert_int_equal(ws->n_pending, n_ids);
        memcpy(sorted, ids, n_ids * sizeof(*ids));
        order_of = s;
        qsort(sorted, n_ids, sizeof(*sorted), by_queue_order);
        const struct sched_queued *q = queue_entries(ws);
        for (uint32_t i = 0; i < n_ids; i++) {
            assert_int_equal(q[i].id, sorted[i]);
            assert_int_equal(queue_place(s, &s->workloads[sorted[i]]), i);
            assert_int_equal(queue_after(s, sorted[i]), i + 1 < n_ids ? sorted[i + 1] : SCHED_NONE);
        }
        if (op % 50 == 0)
            assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    }
    assert_true(cancelled > 300);
    const struct sched_workspace *ws = &s->workspaces[0];
    assert_true(ws->cap_queue >= 256); /* it grew */
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    /* all but three gone: the array gives its memory back, the order kept */
    while (n_ids > 3)
        assert_int_equal(sched_cancel(s, ids[--n_ids], 2000), 0);
    assert_int_equal(ws->cap_queue, ARRAY_TRIM_MIN);
    memcpy(sorted, ids, n_ids * sizeof(*ids));
    qsort(sorted, n_ids, sizeof(*sorted), by_queue_order);
    for (uint32_t i = 0; i < n_ids; i++)
        assert_int_equal(queue_entries(ws)[i].id, sorted[i]);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0);
    free(sorted);
    sched_free(s);
}

/* sched_check names the invariant each corruption breaks. */
static void test_check_names_the_broken_invariant(void **state)
{
    static const struct {
        int what;
        const char *says;
    } cases[] = {
        {0, "tenant t capacity counters disagree with its nodes"},
        {1, "node n0 CPU or memory counters disagree with its workloads"},
        {2, "node n0 GPU 7 slot -1 is held by a workload that holds nothing"},
        {3, "workspace t/a counts 0 pending (2 live), really 1 (2)"},
        {4, "workspace t/a counters disagree with its workloads"},
        {5, "workspace t/a preemptible array is wrong at 0"},
        {6, "workspace t/a lists 1 running (0 preemptible), really 1 (1)"},
        {7, "workspace t/a running list is wrong"},
        {8, "workspace t/a queue entry of wait is not its order"},
        {9, "workspace t/a queue holds 1 of 16 (from 16), 2 live"},
        {10, "node n0 locks GPUs 0x1, really 0x0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sched *s = platform(1, 0, true, 0);
        uint32_t run = submit(s, "run", "t/a", 1, 1, 0);
        schedule_ok(s, 0);
        uint32_t wait = submit(s, "wait", "t/a", 8, 1, 0); /* pending: 7 GPUs free */
        schedule_ok(s, 0);
        assert_int_equal(s->workloads[wait].state, SCHED_PENDING);
        switch (cases[i].what) {
        case 0:
            s->tenants[0].free_units -= G;
            break;
        case 1:
            s->nodes[0].cpu_used += 1000;
            break;
        case 2:
            s->nodes[0].gpus[7].holder = wait;
            break;
        case 3:
            s->workspaces[0].n_pending = 0;
            break;
        case 4:
            s->workspaces[0].held.gpu += G;
            break;
        case 5: /* the array's copy of a priority */
            s->workspaces[0].preempt[0].priority++;
            break;
        case 6:
            s->workspaces[0].n_preempt = 0;
            break;
        case 7: /* a link back that is not the way forward */
            s->workloads[run].rprev = wait;
            break;
        case 8: /* the queue's copy of an order */
            s->workspaces[0].queue[s->workspaces[0].queue_first].seq++;
            break;
        case 9: /* an entry past the end of the array */
            s->workspaces[0].queue_first = s->workspaces[0].cap_queue;
            break;
        case 10: /* a lock on a healthy, whole, unclaimed GPU */
            s->nodes[0].locked |= 1;
            break;
        }
        assert_int_equal(sched_check(s, err, sizeof(err)), -ALLOT_ECHECK);
        assert_string_equal(err, cases[i].says);
        (void)run;
        sched_free(s);
    }
}

/* The engine's own guards are on in every build (this one is NDEBUG): a call that meets a
 * broken invariant returns -ALLOT_ECHECK, names it in sched_broken, and goes no further.
 * Here the admission pass meets a workload whose order is not that of its place in the
 * queue: it would have taken another entry off the queue and started it. */
static void test_pass_stops_at_a_broken_queue(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t w = submit(s, "w", "t/a", 2, 1, 0);
    uint32_t v = submit(s, "v", "t/a", 2, 1, 0);
    assert_null(sched_broken(s));
    s->workloads[w].seq = s->workloads[v].seq + 1; /* corrupt: w is queued first, ordered last */
    sched_events_clear(s);
    assert_int_equal(sched_schedule(s, 0), -ALLOT_ECHECK);
    assert_non_null(sched_broken(s));
    assert_non_null(strstr(sched_broken(s), "workload w is taken off the queue of t/a"));
    /* nothing changed: w still waits, holds no GPU, and was not admitted */
    assert_int_equal(s->workloads[w].state, SCHED_PENDING);
    assert_int_equal(queue_head(&s->workspaces[0]), w);
    assert_int_equal(s->workspaces[0].n_pending, 2);
    assert_int_equal(s->workspaces[0].held.gpu, 0);
    assert_int_equal(s->tenants[0].free_units, 8 * G);
    for (uint32_t g = 0; g < 8; g++) {
        assert_int_equal(s->nodes[0].gpus[g].holder, SCHED_NONE);
        assert_int_equal(s->nodes[0].gpus[g].claim, SCHED_NONE);
    }
    assert_int_equal(count_events(s, SCHED_EV_ADMITTED), 0);
    sched_free(s);
}

/* A claimant starts when its last victim stops, on the GPUs it claimed: one of them still
 * held by another workload is a double allocation, which the start refuses. */
static void test_start_refuses_a_held_gpu(void **state)
{
    struct sched *s = platform(1, 8 * G, true, 0);
    uint32_t b = submit(s, "b", "t/b", 8, 1, 0); /* borrows the whole node */
    schedule_ok(s, 0);
    uint32_t a = submit(s, "a", "t/a", 2, 1, MIN); /* within its reservation: reclaims */
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[a].state, SCHED_RECLAIMING);
    assert_int_equal(s->workloads[b].state, SCHED_DRAINING);
    /* corrupt: one of a's claimed GPUs is held by a third party, not by the victim b */
    uint32_t mask = s->workloads[a].placement[0].gpu_mask;
    uint32_t g = (uint32_t)__builtin_ctz(mask);
    uint32_t third = submit(s, "third", "t/b", 1, 1, MIN);
    s->nodes[0].gpus[g].holder = third;
    sched_events_clear(s);
    assert_int_equal(sched_stopped(s, b, MIN + 1000), -ALLOT_ECHECK);
    assert_non_null(strstr(sched_broken(s), "workload a starts on GPU"));
    /* a was not started over the third party's GPU */
    assert_int_equal(s->workloads[a].state, SCHED_RECLAIMING);
    assert_int_equal(s->nodes[0].gpus[g].holder, third);
    assert_int_equal(s->nodes[0].gpus[g].claim, a);
    assert_int_equal(s->workspaces[0].held.gpu, 0);
    assert_int_equal(count_events(s, SCHED_EV_ADMITTED), 0);
    sched_free(s);
}

/* Lowering a limit drains the newest running workloads: a running list that names a
 * pending workload stops the update before it drains anything. */
static void test_drain_refuses_a_workload_that_does_not_run(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    uint32_t a = submit(s, "a", "t/a", 2, 1, 0);
    schedule_ok(s, 0);
    uint32_t p = submit(s, "p", "t/a", 8, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[p].state, SCHED_PENDING);
    s->workspaces[0].running_head = p; /* corrupt: the running list starts at a pending one */
    sched_events_clear(s);
    struct sched_resources lim = {G, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED};
    struct sched_workspace_spec w = {
        .name = "t/a", .limits = lim, .reserved = 0, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_update(s, &w, MIN, err, sizeof(err)), -ALLOT_ECHECK);
    assert_string_equal(sched_broken(s),
                        "workload p is pending, not running, when it is told to stop");
    assert_int_equal(s->workloads[p].state, SCHED_PENDING);
    assert_int_equal(s->workloads[a].state, SCHED_RUNNING);
    assert_int_equal(s->workspaces[0].draining.gpu, 0);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 0);
    /* the first sentence is kept: a later broken invariant does not replace it */
    s->nodes[0].gpus[7].holder = p;
    assert_int_equal(sched_node_set_state(s, 0, SCHED_NODE_DOWN, 2 * MIN), -ALLOT_ECHECK);
    assert_string_equal(sched_broken(s),
                        "workload p is pending, not running, when it is told to stop");
    sched_free(s);
}

/* ---- explain.c: a pending workload explained (docs/policy.md, "Pending workloads explained") ----
 */

/* Known ends for the tests: ends[id] (0: unknown). */
static int64_t ends_of(void *ctx, uint32_t id)
{
    const int64_t *ends = ctx;
    return ends[id] ? ends[id] : -1;
}

static const char *holder_name(const struct sched *s, const struct explain *e, uint32_t i)
{
    return s->workloads[e->holders[i].workload].name;
}

/* Two nodes each with 5 GPUs taken: 6 free, but no node has 4. Three 4-GPU requests wait
 * no_capacity; their positions, what is ahead, the holders and the estimate. */
static void test_explain_positions_and_capacity_holders(void **state)
{
    struct sched *s = platform(2, 16 * G, true, 0);
    uint32_t r1 = submit(s, "r1", "t/a", 5, 1, 0);
    schedule_ok(s, 0);
    uint32_t r2 = submit(s, "r2", "t/a", 5, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[r2].state, SCHED_RUNNING);
    uint32_t p1 = submit(s, "p1", "t/a", 4, 1, 1000);
    uint32_t p2 = submit(s, "p2", "t/b", 4, 1, 2000);
    uint32_t p3 = submit(s, "p3", "t/a", 4, 1, 3000);
    schedule_ok(s, 3000);
    assert_int_equal(s->workloads[p1].reason, SCHED_REASON_NO_CAPACITY);

    struct explain e;
    int64_t ends[16] = {0};
    ends[r1] = 50000;
    ends[r2] = 70000;
    assert_int_equal(explain_workload(s, p1, 4000, ends_of, ends, &e), 0);
    assert_int_equal(e.workspace_index, 1);
    assert_int_equal(e.workspace_count, 2);
    assert_int_equal(e.tenant_index, 1);
    assert_int_equal(e.tenant_count, 3);
    assert_int_equal(e.n_ahead, 0);
    assert_int_equal(e.holders_total, 2);
    assert_int_equal(e.n_holders, 2);
    assert_int_equal(e.holders[0].role, EXPLAIN_ROLE_HOLDS_CAPACITY);
    /* the running list is most recently started first */
    assert_string_equal(holder_name(s, &e, 0), "r2");
    assert_string_equal(holder_name(s, &e, 1), "r1");
    assert_int_equal(e.estimated_start, 70000); /* the later of the two ends */

    /* one end unknown: no estimate, and the sentence says how many */
    ends[r2] = 0;
    assert_int_equal(explain_workload(s, p1, 4000, ends_of, ends, &e), 0);
    assert_int_equal(e.estimated_start, -1);
    assert_string_equal(e.why, "unknown: 1 of the 2 workload(s) it waits for have no known end "
                               "(no duration or time limit)");
    /* no ends known at all (NULL) */
    assert_int_equal(explain_workload(s, p1, 4000, NULL, NULL, &e), 0);
    assert_int_equal(e.estimated_start, -1);

    /* p3: second in t/a behind p1, third in the tenant */
    ends[r2] = 70000;
    assert_int_equal(explain_workload(s, p3, 4000, ends_of, ends, &e), 0);
    assert_int_equal(e.workspace_index, 2);
    assert_int_equal(e.workspace_count, 2);
    assert_int_equal(e.tenant_index, 3);
    assert_int_equal(e.tenant_count, 3);
    assert_int_equal(e.n_ahead, 1);
    assert_string_equal(s->workloads[e.ahead[0]].name, "p1");
    assert_int_equal(e.estimated_start, -1); /* the order of those ahead is not simulated */
    assert_non_null(strstr(e.why, "1 workload(s) are ahead of it in its workspace's queue"));

    /* p2: first in t/b, second in the tenant */
    assert_int_equal(explain_workload(s, p2, 4000, ends_of, ends, &e), 0);
    assert_int_equal(e.workspace_index, 1);
    assert_int_equal(e.workspace_count, 1);
    assert_int_equal(e.tenant_index, 2);
    assert_int_equal(e.estimated_start, -1);

    /* the queue of t/a listed with the positions, whole and in pages; t/b's */
    struct explain_entry q[4];
    uint32_t n;
    assert_int_equal(explain_queue(s, 0, 0, 4, q, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(q[0].workload, p1);
    assert_int_equal(q[0].workspace_index, 1);
    assert_int_equal(q[0].tenant_index, 1);
    assert_int_equal(q[1].workload, p3);
    assert_int_equal(q[1].workspace_index, 2);
    assert_int_equal(q[1].tenant_index, 3);
    assert_int_equal(explain_queue(s, 0, 1, 1, q, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(q[0].workload, p3);
    assert_int_equal(q[0].workspace_index, 2);
    assert_int_equal(q[0].tenant_index, 3);
    assert_int_equal(explain_queue(s, 1, 0, 4, q, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(q[0].workload, p2);
    assert_int_equal(q[0].tenant_index, 2);
    assert_int_equal(explain_queue(s, 0, 2, 4, q, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(explain_queue(s, 7, 0, 4, q, &n), -ALLOT_ENOENT);

    /* only pending and reclaiming workloads are explained */
    assert_int_equal(explain_workload(s, r1, 4000, NULL, NULL, &e), -ALLOT_ESTATE);
    assert_int_equal(explain_workload(s, 999, 4000, NULL, NULL, &e), -ALLOT_ENOENT);
    sched_free(s);
}

/* A workspace at its GPU limit: the holders are its running workloads; an estimate never lies
 * in the past. */
static void test_explain_workspace_limit_holders(void **state)
{
    struct sched *s = platform(1, 0, true, 0);
    struct sched_resources lim = {4 * G, SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED};
    struct sched_workspace_spec a = {
        .name = "t/a", .limits = lim, .reserved = 0, .lend = true, .weight = 1};
    assert_int_equal(sched_workspace_update(s, &a, 0, err, sizeof(err)), 0);
    uint32_t r1 = submit(s, "r1", "t/a", 2, 1, 0);
    uint32_t r2 = submit(s, "r2", "t/a", 2, 1, 0);
    uint32_t other = submit(s, "other", "t/b", 1, 1, 0);
    schedule_ok(s, 0);
    uint32_t p = submit(s, "p", "t/a", 1, 1, 1000);
    schedule_ok(s, 1000);
    assert_int_equal(s->workloads[p].reason, SCHED_REASON_WORKSPACE_LIMIT);
    int64_t ends[8] = {0};
    ends[r1] = 10000;
    ends[r2] = 20000; /* other's end is unknown, but it does not count against t/a's limit */
    struct explain e;
    assert_int_equal(explain_workload(s, p, 5000, ends_of, ends, &e), 0);
    assert_int_equal(e.holders_total, 2);
    for (uint32_t i = 0; i < e.n_holders; i++) {
        assert_int_equal(e.holders[i].role, EXPLAIN_ROLE_HOLDS_LIMIT);
        assert_int_not_equal(e.holders[i].workload, other);
    }
    assert_int_equal(e.estimated_start, 20000);
    assert_int_equal(explain_workload(s, p, 25000, ends_of, ends, &e), 0);
    assert_int_equal(e.estimated_start, 25000); /* late ends: now, not the past */
    assert_string_equal(explain_role_name(EXPLAIN_ROLE_HOLDS_LIMIT), "holds the workspace limit");
    sched_free(s);
}

/* The borrowers a reclaim would take, from preempt.c's choice run dry: the same ones the pass
 * then drains, and the engine is byte for byte the same after the dry run. */
static void test_explain_reclaim_dry_run_names_the_victims(void **state)
{
    uint32_t b[8];
    struct sched *s = eight_borrowers(b);
    uint32_t a = submit(s, "a", "t/a", 3, 1, MIN); /* no pass yet */
    uint8_t *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    assert_int_equal(sched_snapshot_save(s, &before, &before_len), 0);
    int64_t ends[16] = {0};
    ends[b[6]] = MIN + 1000; /* ends before its grace period would */
    struct explain e;
    assert_int_equal(explain_workload(s, a, MIN, ends_of, ends, &e), 0);
    assert_int_equal(sched_snapshot_save(s, &after, &after_len), 0);
    assert_int_equal(sched_check(s, err, sizeof(err)), 0); /* and the counters it derives */
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    /* the most recently started borrowers, in victim order */
    assert_int_equal(e.holders_total, 3);
    assert_string_equal(holder_name(s, &e, 0), "b7");
    assert_string_equal(holder_name(s, &e, 1), "b6");
    assert_string_equal(holder_name(s, &e, 2), "b5");
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(e.holders[i].role, EXPLAIN_ROLE_TO_RECLAIM);
    assert_int_equal(e.estimated_start, MIN + 30000); /* the default grace of b7 and b5 */

    /* the pass takes those very ones; now a reclaims and waits for them */
    schedule_ok(s, MIN);
    assert_int_equal(s->workloads[a].state, SCHED_RECLAIMING);
    for (int i = 5; i < 8; i++)
        assert_int_equal(s->workloads[b[i]].state, SCHED_DRAINING);
    assert_int_equal(explain_workload(s, a, MIN + 10, ends_of, ends, &e), 0);
    assert_int_equal(e.workspace_index, 0); /* out of the queue: its room is claimed */
    assert_int_equal(e.tenant_index, 0);
    assert_int_equal(e.holders_total, 3);
    assert_string_equal(holder_name(s, &e, 0), "b5");
    assert_string_equal(holder_name(s, &e, 2), "b7");
    assert_int_equal(e.holders[0].role, EXPLAIN_ROLE_RECLAIMED);
    assert_int_equal(e.estimated_start, MIN + 30000); /* their deadlines */
    sched_free(s);
}

/* docs/policy.md, "Pending workloads explained": a running holder's time limit makes its end
 * known without the caller (start + time limit + grace), and the estimate is the earlier of
 * that and an end the caller knows. */
static void test_explain_uses_time_limit_ends(void **state)
{
    struct sched *s = platform(2, 0, true, 0);
    struct sched_workspace_spec lim = {
        .name = "t/a", .limits = s->workspaces[0].limits, .lend = true, .weight = 1};
    lim.limits.gpu = 8 * G; /* p waits for a and b to end (workspace_limit) */
    assert_int_equal(sched_workspace_update(s, &lim, 0, err, sizeof(err)), 0);
    uint32_t a = submit_timed(s, "a", "t/a", 4, 3600000, -1, 0);
    uint32_t b = submit_timed(s, "b", "t/a", 4, 7200000, -1, 0);
    schedule_ok(s, 0);
    uint32_t p = submit(s, "p", "t/a", 8, 1, 1000);
    schedule_ok(s, 1000);
    assert_int_equal(s->workloads[p].reason, SCHED_REASON_WORKSPACE_LIMIT);
    struct explain e;
    assert_int_equal(explain_workload(s, p, 2000, NULL, NULL, &e), 0);
    assert_int_equal(e.holders_total, 2);
    assert_int_equal(e.estimated_start, 7200000 + 30000); /* b's limit and grace */
    int64_t ends[8] = {0};
    ends[b] = 5000000; /* known earlier by the caller (a simulated duration) */
    ends[a] = 0;
    assert_int_equal(explain_workload(s, p, 2000, ends_of, ends, &e), 0);
    assert_int_equal(e.estimated_start, 5000000);
    sched_free(s);
}

/* ---- topology (docs/policy.md, "Topology") ---- */

/* Tenant "t" (workspaces a: reserved ra, lends; b: nothing reserved) on one node of 8 H100s
 * per entry of blocks, with the topology levels [block, rack] (platform_of). */
static struct sched *topo_platform(const char *const *blocks, int nodes, int64_t ra)
{
    return platform_of(nodes, ra, true, 0, blocks);
}

/* The block label of the node replica r of workload id runs on. */
static const char *replica_block(const struct sched *s, uint32_t id, uint32_t r)
{
    const struct sched_node *n = &s->nodes[s->workloads[id].placement[r].node];
    for (uint32_t i = 0; i < n->n_labels; i++)
        if (strcmp(n->labels[i].key, "block") == 0)
            return n->labels[i].value;
    return "";
}

/* The free whole GPUs of the only node whose block label is b1 and b2, one per block: a gang
 * that requires a block waits (reason topology, naming the level and the largest free
 * block) rather than split over both, and runs once one block has room. */
static void test_topology_required_waits_rather_than_splits(void **state)
{
    const char *blocks[] = {"b1", "b1", "b2", "b2"};
    struct sched *s = topo_platform(blocks, 4, 0);
    uint32_t x = submit(s, "x", "t/b", 8, 1, 0), y = submit(s, "y", "t/b", 8, 1, 0);
    uint32_t z = submit(s, "z", "t/b", 8, 1, 0);
    schedule_ok(s, 0);
    /* packing fills block b1 first: x and y there, z in b2 */
    assert_string_equal(replica_block(s, x, 0), "b1");
    assert_string_equal(replica_block(s, y, 0), "b1");
    assert_string_equal(replica_block(s, z, 0), "b2");
    assert_int_equal(sched_finish(s, y, 1), 0); /* one free node in each block */
    schedule_ok(s, 1);
    sched_events_clear(s);
    uint32_t g = submit_topo(s, "g", "t/b", 8, 2, "block", true, 2);
    /* a gang free to split, behind it in the queue, runs on those two nodes in the same pass:
     * the failure of g says nothing of it */
    uint32_t p = submit(s, "plain", "t/b", 8, 2, 2);
    schedule_ok(s, 2);
    assert_int_equal(s->workloads[p].state, SCHED_RUNNING);
    assert_int_equal(s->workloads[g].state, SCHED_PENDING);
    assert_int_equal(s->workloads[g].reason, SCHED_REASON_TOPOLOGY);
    uint32_t n;
    const struct sched_event *ev = sched_events(s, &n);
    bool said = false;
    for (uint32_t i = 0; i < n; i++)
        said = said ||
               (ev[i].kind == SCHED_EV_QUEUED && ev[i].workload == g &&
                strstr(ev[i].message, "no block") && strstr(ev[i].message, "largest free block"));
    assert_true(said);
    assert_int_equal(sched_finish(s, p, 4), 0);
    assert_int_equal(sched_finish(s, x, 4), 0); /* block b1 is free now */
    schedule_ok(s, 4);
    assert_int_equal(s->workloads[g].state, SCHED_RUNNING);
    assert_string_equal(replica_block(s, g, 0), "b1");
    assert_string_equal(replica_block(s, g, 1), "b1");
    sched_free(s);
}

/* A gang that prefers a block stays within one when any has room, though best fit alone
 * would split it, and splits when no block has room. */
static void test_topology_preferred_splits_only_when_it_must(void **state)
{
    const char *blocks[] = {"b1", "b2", "b1", "b2"}; /* interleaved in node order */
    struct sched *s = topo_platform(blocks, 4, 0);
    /* 6 GPUs used on n0 (b1) and on n1 (b2): n2 and n3 are drained meanwhile */
    assert_int_equal(sched_node_set_state(s, 2, SCHED_NODE_DRAINING, 0), 0);
    assert_int_equal(sched_node_set_state(s, 3, SCHED_NODE_DRAINING, 0), 0);
    uint32_t h0 = submit(s, "h0", "t/b", 6, 1, 0), h1 = submit(s, "h1", "t/b", 6, 1, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[h0].placement[0].node, 0);
    assert_int_equal(s->workloads[h1].placement[0].node, 1);
    assert_int_equal(sched_node_set_state(s, 2, SCHED_NODE_READY, 1), 0);
    assert_int_equal(sched_node_set_state(s, 3, SCHED_NODE_READY, 1), 0);
    schedule_ok(s, 1);
    /* best fit alone would take the 2 free GPUs of n0 and of n1, in two blocks */
    uint32_t g = submit_topo(s, "g", "t/b", 2, 2, "block", false, 2);
    schedule_ok(s, 2);
    assert_int_equal(s->workloads[g].state, SCHED_RUNNING);
    assert_string_equal(replica_block(s, g, 0), replica_block(s, g, 1));
    /* the whole node left goes; then no block (nor rack) has room for 4 x 2: it splits */
    uint32_t f = submit(s, "f", "t/b", 8, 1, 3);
    schedule_ok(s, 3);
    assert_int_equal(s->workloads[f].state, SCHED_RUNNING);
    uint32_t g2 = submit_topo(s, "g2", "t/b", 2, 4, "block", false, 4);
    schedule_ok(s, 4);
    assert_int_equal(s->workloads[g2].state, SCHED_RUNNING);
    bool split = false;
    for (uint32_t r = 1; r < 4; r++)
        split = split || strcmp(replica_block(s, g2, 0), replica_block(s, g2, r)) != 0;
    assert_true(split);
    sched_free(s);
}

/* Best fit among domains: a gang that fits a small block goes there, keeping the large block
 * whole for a later large gang; and single-node work fills the fuller block. */
static void test_topology_packing_keeps_a_large_domain_whole(void **state)
{
    const char *blocks[] = {"big", "big", "big", "big", "small", "small"};
    struct sched *s = topo_platform(blocks, 6, 0);
    uint32_t g1 = submit_topo(s, "g1", "t/b", 8, 2, "block", true, 0);
    schedule_ok(s, 0);
    assert_int_equal(s->workloads[g1].state, SCHED_RUNNING);
    assert_string_equal(replica_block(s, g1, 0), "small"); /* first fit would take big */
    uint32_t g2 = submit_topo(s, "g2", "t/b", 8, 4, "block", true, 1);
    schedule_ok(s, 1);
    assert_int_equal(s->workloads[g2].state, SCHED_RUNNING);
    assert_int_equal(sched_finish(s, g1, 2), 0);
    assert_int_equal(sched_finish(s, g2, 2), 0);
    schedule_ok(s, 2);
    /* single nodes: with blocks interleaved in node order, an 8-GPU job goes to the block
     * another already uses */
    const char *mixed[] = {"b1", "b2", "b1", "b2"};
    struct sched *m = topo_platform(mixed, 4, 0);
    uint32_t a = submit(m, "a", "t/b", 8, 1, 0);
    schedule_ok(m, 0);
    uint32_t b = submit(m, "b", "t/b", 8, 1, 0);
    schedule_ok(m, 0);
    assert_string_equal(replica_block(m, a, 0), replica_block(m, b, 0)); /* not n1 of b2 */
    uint32_t g = submit_topo(m, "g", "t/a", 8, 2, "block", true, 1);
    schedule_ok(m, 1);
    assert_int_equal(m->workloads[g].state, SCHED_RUNNING);
    sched_free(m);
    sched_free(s);
}

/* Reclaim for a gang that requires a block: free GPUs in two blocks do not do; one borrower
 * is stopped so that both replicas share a block. */
static void test_topology_reclaim_keeps_the_gang_in_one_domain(void **state)
{
    const char *blocks[] = {"b1", "b1", "b2", "b2"};
    struct sched *s = topo_platform(blocks, 4, 16 * G);
    uint32_t v[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof(name), "v%d", i);
        v[i] = submit(s, name, "t/b", 8, 1, 0);
    }
    schedule_ok(s, 0);
    /* free one node in each block */
    bool freed_b1 = false, freed_b2 = false;
    for (int i = 0; i < 4; i++) {
        bool in_b1 = strcmp(replica_block(s, v[i], 0), "b1") == 0;
        if ((in_b1 && !freed_b1) || (!in_b1 && !freed_b2)) {
            assert_int_equal(sched_finish(s, v[i], 1), 0);
            freed_b1 = freed_b1 || in_b1;
            freed_b2 = freed_b2 || !in_b1;
        }
    }
    schedule_ok(s, 1);
    sched_events_clear(s);
    uint32_t g = submit_topo(s, "g", "t/a", 8, 2, "block", true, 2);
    schedule_ok(s, 2);
    assert_int_equal(s->workloads[g].state, SCHED_RECLAIMING);
    assert_int_equal(count_events(s, SCHED_EV_PREEMPTING), 1);
    assert_string_equal(replica_block(s, g, 0), replica_block(s, g, 1));
    for (int i = 0; i < 4; i++)
        if (s->workloads[v[i]].state == SCHED_DRAINING)
            assert_int_equal(sched_stopped(s, v[i], 3), 0);
    schedule_ok(s, 3);
    assert_int_equal(s->workloads[g].state, SCHED_RUNNING);
    assert_string_equal(replica_block(s, g, 0), replica_block(s, g, 1));
    sched_free(s);
}

/* docs/policy.md, "Starvation" with "Topology": a starving gang that requires a block is
 * fenced within one block (the one with the most free whole GPUs among those with enough
 * nodes), though the nodes with the most free GPUs are in two. */
static void test_topology_fence_within_one_domain(void **state)
{
    const char *blocks[] = {"b1", "b2", "b1", "b2"};
    struct sched *s = topo_platform(blocks, 4, 0);
    uint32_t j[32], free_on[4] = {3, 4, 1, 1}; /* then one more on n3: 3 4 1 2 */
    for (int i = 0; i < 32; i++) {
        char name[16];
        snprintf(name, sizeof(name), "j%d", i);
        j[i] = submit(s, name, "t/b", 1, 1, 0);
    }
    schedule_ok(s, 0);
    uint32_t last_on_n3 = SCHED_NONE;
    for (int i = 0; i < 32; i++) {
        uint32_t n = s->workloads[j[i]].placement[0].node;
        if (free_on[n] > 0) {
            assert_int_equal(sched_finish(s, j[i], 1), 0);
            free_on[n]--;
        } else if (n == 3) {
            last_on_n3 = j[i];
        }
    }
    schedule_ok(s, 1);
    uint32_t big = submit_topo(s, "big", "t/b", 8, 2, "block", true, 1000);
    schedule_ok(s, 1000);
    assert_int_equal(s->workloads[big].state, SCHED_PENDING);
    int64_t t = 1000 + s->opt.starvation_age_ms;
    assert_int_equal(sched_finish(s, last_on_n3, t), 0);
    schedule_ok(s, t);
    assert_true(s->workloads[big].starving);
    assert_int_equal(s->tenants[0].n_fence, 2);
    /* the two nodes with the most free GPUs, n1 (4) and n0 (3), are in two blocks; block b2
     * (n1, n3: 6 free) is fenced */
    assert_int_equal(sched_node_domain(s, s->tenants[0].fence[0], 0),
                     sched_node_domain(s, s->tenants[0].fence[1], 0));
    assert_true(s->nodes[1].fenced && s->nodes[3].fenced);
    sched_free(s);
}

/* A level the platform does not declare is refused, naming topology.required; so are bad
 * levels; a gang no block could ever hold is rejected; and a node without the label is in no
 * block. */
static void test_topology_unknown_level_refused(void **state)
{
    const char *blocks[] = {"b1", "b1", NULL};
    struct sched *s = topo_platform(blocks, 3, 0);
    struct sched_workload_spec w = gang_spec("w", "t/b", 8, 2, "zone", true);
    uint32_t id = SCHED_NONE;
    assert_int_equal(sched_submit(s, &w, 0, &id, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "topology.required"));
    assert_int_equal(s->workloads[id].state, SCHED_REJECTED);
    /* three replicas: the tenant has 3 nodes, but block b1 only 2 */
    uint32_t big = SCHED_NONE;
    w.name = "big";
    w.topology = "block";
    w.replicas = 3;
    assert_int_equal(sched_submit(s, &w, 0, &big, err, sizeof(err)), -ALLOT_ENOFIT);
    assert_non_null(strstr(err, "topology.required"));
    assert_int_equal(s->workloads[big].reason, SCHED_REASON_NEVER_FITS);
    assert_int_equal(sched_node_domain(s, 2, 0), SCHED_NONE);
    assert_int_not_equal(sched_node_domain(s, 1, 0), SCHED_NONE);
    const char *bad[][2] = {{"block", "block"}, {"a b", NULL}};
    assert_int_not_equal(sched_topology_set(s, bad[0], 2, err, sizeof(err)), 0);
    assert_int_not_equal(sched_topology_set(s, bad[1], 1, err, sizeof(err)), 0);
    /* the levels cannot change under a workload that names one */
    uint32_t run = submit_topo(s, "run", "t/b", 8, 2, "block", true, 1);
    schedule_ok(s, 1);
    assert_int_equal(s->workloads[run].state, SCHED_RUNNING);
    const char *other[] = {"zone"};
    assert_int_equal(sched_topology_set(s, other, 1, err, sizeof(err)), -ALLOT_EINVAL);
    assert_string_equal(s->opt.topology[0], "block");
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forget_reuses_slots),
        cmocka_unit_test(test_memos_change_no_decision),
        cmocka_unit_test(test_shortened_searches_change_no_decision),
        cmocka_unit_test(test_memo_stands_for_its_stretch),
        cmocka_unit_test(test_memo_that_lost_a_workload_reads_on),
        cmocka_unit_test(test_starving_admission_updates_borrowable),
        cmocka_unit_test(test_failed_preemption_leaves_slice_requests_a_try),
        cmocka_unit_test(test_workload_zero_is_ordered_by_its_keys),
        cmocka_unit_test(test_priority_swap_needs_no_borrowable),
        cmocka_unit_test(test_backfilled_fence_stays),
        cmocka_unit_test(test_best_fit_keeps_whole_nodes_free),
        cmocka_unit_test(test_fence_keeps_borrowers_off_and_reserved_work_elsewhere),
        cmocka_unit_test(test_gang_all_or_nothing),
        cmocka_unit_test(test_time_limit_default_and_max),
        cmocka_unit_test(test_time_limit_reached_fails),
        cmocka_unit_test(test_backfill_onto_fence_when_it_ends_in_time),
        cmocka_unit_test(test_backfill_refused_when_a_holder_has_no_time_limit),
        cmocka_unit_test(test_backfill_into_reclaim_claims),
        cmocka_unit_test(test_backfill_outlives_a_cancelled_claimant),
        cmocka_unit_test(test_victim_usable_gpus_exclude_claimed_ones),
        cmocka_unit_test(test_fail_ends_failed),
        cmocka_unit_test(test_admitted_borrowed_units),
        cmocka_unit_test(test_reclaim_takes_only_the_need),
        cmocka_unit_test(test_lend_false_protects_idle_reservation),
        cmocka_unit_test(test_reservation_beyond_owned_refused),
        cmocka_unit_test(test_node_down_requeues_in_order),
        cmocka_unit_test(test_degraded_reported),
        cmocka_unit_test(test_check_catches_double_allocation),
        cmocka_unit_test(test_check_catches_foreign_tenant),
        cmocka_unit_test(test_submit_rejections),
        cmocka_unit_test(test_require_image_tenant),
        cmocka_unit_test(test_require_image_workspace),
        cmocka_unit_test(test_require_image_patch_later_only),
        cmocka_unit_test(test_mig_charging),
        cmocka_unit_test(test_dedicated_cluster_rules),
        cmocka_unit_test(test_limit_reduced_drains_newest),
        cmocka_unit_test(test_priority_preemption_within_workspace),
        cmocka_unit_test(test_checkpoint_bounds),
        cmocka_unit_test(test_victims_lose_the_least_work),
        cmocka_unit_test(test_victims_least_lost_beyond_the_need),
        cmocka_unit_test(test_min_runtime),
        cmocka_unit_test(test_node_move_drains_first),
        cmocka_unit_test(test_node_move_waits_for_the_wipe),
        cmocka_unit_test(test_unowned_node_move_waits_for_the_wipe),
        cmocka_unit_test(test_node_move_to_no_tenant),
        cmocka_unit_test(test_node_back_from_no_tenant),
        cmocka_unit_test(test_node_move_cancel_after_drain_began),
        cmocka_unit_test(test_node_move_cancel_with_a_wipe_pending),
        cmocka_unit_test(test_node_move_cancel_keeps_an_admin_drain),
        cmocka_unit_test(test_check_names_the_broken_invariant),
        cmocka_unit_test(test_preemptible_array_order),
        cmocka_unit_test(test_preemptible_array_shrinks),
        cmocka_unit_test(test_queue_keeps_order_under_churn),
        cmocka_unit_test(test_pass_stops_at_a_broken_queue),
        cmocka_unit_test(test_start_refuses_a_held_gpu),
        cmocka_unit_test(test_drain_refuses_a_workload_that_does_not_run),
        cmocka_unit_test(test_explain_positions_and_capacity_holders),
        cmocka_unit_test(test_explain_workspace_limit_holders),
        cmocka_unit_test(test_explain_reclaim_dry_run_names_the_victims),
        cmocka_unit_test(test_explain_uses_time_limit_ends),
        cmocka_unit_test(test_topology_required_waits_rather_than_splits),
        cmocka_unit_test(test_topology_preferred_splits_only_when_it_must),
        cmocka_unit_test(test_topology_packing_keeps_a_large_domain_whole),
        cmocka_unit_test(test_topology_reclaim_keeps_the_gang_in_one_domain),
        cmocka_unit_test(test_topology_unknown_level_refused),
        cmocka_unit_test(test_topology_fence_within_one_domain),
        cmocka_unit_test(test_queued_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
