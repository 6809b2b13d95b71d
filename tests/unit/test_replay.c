/* Unit tests of the replay (src/sim/replay.c): histogram quantiles, and the three policies
 * on tiny job lists whose figures are worked out by hand in the comments: static makes a
 * workspace wait beside idle GPUs, shared lets a borrower keep a reserved workspace waiting,
 * allot reclaims within the grace period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim/replay.h"
#include "common/error.h"
#include "common/quantity.h"

static char err[512];

/* ---- input: an array of jobs ---- */

struct jobs {
    const struct replay_job *list;
    uint32_t n, next;
};

static int jobs_next(void *ctx, struct replay_job *job)
{
    struct jobs *j = ctx;
    if (j->next == j->n)
        return 0;
    *job = j->list[j->next++];
    return 1;
}

static int jobs_rewind(void *ctx)
{
    ((struct jobs *)ctx)->next = 0;
    return 0;
}

static const char *const names[] = {"t/a", "t/b"};

/* One node of 8 GPUs; t/a and t/b reserve 4 each. */
static int platform(void *ctx, struct sched **out, char *e, size_t len)
{
    struct sched *s;
    assert_int_equal(sched_new(NULL, &s), 0);
    struct sched_tenant_spec t = {.name = "t"};
    struct sched_cluster_spec c = {.name = "c"};
    assert_int_equal(sched_tenant_add(s, &t, NULL, e, len), 0);
    assert_int_equal(sched_cluster_add(s, &c, NULL, e, len), 0);
    struct sched_gpu_spec gpus[8];
    for (int i = 0; i < 8; i++)
        gpus[i] = (struct sched_gpu_spec){.model = GPU_MODEL_H100_80GB, .healthy = true};
    struct sched_node_spec n = {.name = "n0",
                                .cluster = "c",
                                .tenant = "t",
                                .cpu = 64000,
                                .memory = 1LL << 40,
                                .n_gpus = 8,
                                .gpus = gpus};
    assert_int_equal(sched_node_add(s, &n, NULL, e, len), 0);
    struct sched_resources none = {SCHED_UNLIMITED, SCHED_UNLIMITED, SCHED_UNLIMITED,
                                   SCHED_UNLIMITED};
    for (int i = 0; i < 2; i++) {
        struct sched_workspace_spec w = {.name = names[i],
                                         .limits = none,
                                         .reserved = 4 * QUANTITY_GPU_UNITS,
                                         .lend = true,
                                         .weight = 1};
        assert_int_equal(sched_workspace_add(s, &w, NULL, e, len), 0);
    }
    *out = s;
    return 0;
}

static struct replay_job job(int64_t at_s, int64_t duration_s, uint32_t ws)
{
    struct replay_job j = {
        .submit_ms = at_s * 1000, .duration_ms = duration_s * 1000, .workspace = ws};
    j.spec.gpus = 1;
    j.spec.replicas = 1;
    j.spec.mig = -1;
    j.spec.model = -1;
    j.spec.preemptible = -1;
    j.spec.grace_ms = -1;
    return j;
}

static void run(const struct replay_job *list, uint32_t n, enum replay_policy p,
                struct replay_result *res)
{
    struct jobs j = {list, n, 0};
    struct replay_input in = {jobs_next, jobs_rewind, &j, names, 2, 0};
    assert_int_equal(replay_run(&in, platform, NULL, p, res, err, sizeof(err)), 0);
    assert_int_equal(res->all.submitted, n);
}

static void test_hist_quantiles(void **state)
{
    struct replay_hist h = {0};
    for (int v = 1; v <= 10; v++)
        replay_hist_add(&h, v); /* below 16 ms: exact */
    assert_true(replay_hist_quantile(&h, 0.5) == 5);
    assert_true(replay_hist_quantile(&h, 1.0) == 10);
    assert_true(replay_hist_quantile(&h, 0) == 1);
    struct replay_hist big = {0};
    for (int i = 0; i < 99; i++)
        replay_hist_add(&big, 1000);
    replay_hist_add(&big, 3600000);
    double p50 = replay_hist_quantile(&big, 0.5), p100 = replay_hist_quantile(&big, 1);
    assert_true(p50 > 1000 * 0.956 && p50 < 1000 * 1.044); /* within the 4.4% promised */
    assert_true(p100 == 3600000);                          /* capped at the maximum seen */
    assert_true(big.sum_ms == 99 * 1000 + 3600000);
    struct replay_hist empty = {0};
    assert_true(replay_hist_quantile(&empty, 0.99) == 0);
}

/* t/a submits eight 1-GPU jobs of 10 s at 0; t/b is idle.
 * static: a is capped at its 4; the other four wait 10 s beside b's idle GPUs. Delay mean
 * 5 s; end 20 s; allocated 80 GPU-s over 8 x 20: 50%; a's served share 80 / (40 + 80).
 * shared and allot: all eight at once, end 10 s, 100%. */
static void test_static_waits_beside_idle_gpus(void **state)
{
    struct replay_job list[8];
    for (int i = 0; i < 8; i++)
        list[i] = job(0, 10, 0);
    struct replay_result st, sh, al;
    run(list, 8, REPLAY_STATIC, &st);
    assert_int_equal(st.end_ms, 20000);
    assert_true(st.all.delay.sum_ms == 4 * 10000);
    assert_true(st.utilisation > 0.499 && st.utilisation < 0.501);
    assert_true(st.ws[0].asked_gpu_s == 80 && st.ws[0].sojourn_gpu_s == 120);
    assert_int_equal(st.all.preemptions, 0);
    run(list, 8, REPLAY_SHARED, &sh);
    run(list, 8, REPLAY_ALLOT, &al);
    for (int k = 0; k < 2; k++) {
        const struct replay_result *x = k ? &al : &sh;
        assert_int_equal(x->end_ms, 10000);
        assert_true(x->all.delay.sum_ms == 0);
        assert_true(x->utilisation > 0.999 && x->utilisation < 1.001);
        assert_int_equal(x->capacity_gpus, 8);
    }
    replay_result_free(&st);
    replay_result_free(&sh);
    replay_result_free(&al);
}

/* t/b submits eight jobs of 100 s at 0 (four on a's idle reservation); at 1 s t/a submits
 * one job of 10 s, within its reservation (the guarantee applies).
 * shared: no reservations: a waits for b's first job to end, at 100 s: 99 s, late.
 * allot: one of b's borrowed jobs is preempted at 1 s and drains its 30 s grace; a runs at
 * 31 s (30 s: kept, the promise is 31 s); the victim ran 31 s for nothing (31 GPU-s lost)
 * and runs again when a's job ends at 41 s, to 141 s.
 * Jain over (a: 10/40, b: 800/841).
 * static: b is capped at its 4, a runs at once. */
static void test_shared_waits_allot_reclaims(void **state)
{
    struct replay_job list[9];
    for (int i = 0; i < 8; i++)
        list[i] = job(0, 100, 1);
    list[8] = job(1, 10, 0);
    struct replay_result sh, al, st;
    run(list, 9, REPLAY_SHARED, &sh);
    assert_int_equal(sh.ws[0].guaranteed, 1);
    assert_true(sh.ws[0].guaranteed_wait.max_ms == 99000);
    assert_int_equal(sh.ws[0].guaranteed_late, 1);
    assert_int_equal(sh.all.preemptions, 0);
    run(list, 9, REPLAY_ALLOT, &al);
    assert_int_equal(al.ws[0].guaranteed, 1);
    assert_true(al.ws[0].guaranteed_wait.max_ms == 30000);
    assert_int_equal(al.ws[0].guaranteed_late, 0);
    assert_int_equal(al.promise_ms, 31000);
    assert_int_equal(al.ws[1].preemptions, 1);
    assert_true(al.ws[1].wasted_gpu_s == 31);
    assert_int_equal(al.ws[0].reclaim.n, 1);
    assert_int_equal(al.end_ms, 141000);
    double xa = 10.0 / 40, xb = 800.0 / 841;
    double jain = (xa + xb) * (xa + xb) / (2 * (xa * xa + xb * xb));
    assert_true(al.jain > jain - 1e-9 && al.jain < jain + 1e-9);
    run(list, 9, REPLAY_STATIC, &st);
    assert_true(st.ws[0].delay.max_ms == 0);
    assert_int_equal(st.ws[1].finished, 8);
    replay_result_free(&sh);
    replay_result_free(&al);
    replay_result_free(&st);
}

/* --checkpoint-every: a preempted job loses only the time since its last checkpoint and
 * resumes from it; checkpoint-aware victims lose less than the victim order's. b borrows
 * with x (4 GPUs from 0s) and y (4 GPUs from 3000s), both 10000s long, checkpointing every
 * 1800s; at 4200s a's job (4 GPUs, 100s) reclaims one of them. x would lose 600s (since its
 * checkpoint at 3600s), y 1200s (none yet): aware takes x, the victim order y (the most
 * recently started). Stopped at 4230s (grace 30s): x loses 630s x 4 GPUs and resumes with
 * 6400s left; y would lose 1230s x 4. Without checkpoints y goes either way. */
static void test_checkpoints_lose_less(void **state)
{
    struct replay_job list[3] = {job(0, 10000, 1), job(3000, 10000, 1), job(4200, 100, 0)};
    list[0].spec.gpus = list[1].spec.gpus = list[2].spec.gpus = 4;
    struct jobs j = {list, 3, 0};
    struct replay_input in = {jobs_next, jobs_rewind, &j, names, 2, 0};
    const struct {
        struct replay_model model;
        double wasted;
        int64_t end_ms;
    } cases[] = {
        {{.checkpoint_every_ms = 1800 * 1000}, 630 * 4, 13000 * 1000},
        {{.checkpoint_every_ms = 1800 * 1000, .victim_order = true}, 1230 * 4, 14330 * 1000},
        {{0}, 1230 * 4, 14330 * 1000},
        {{.victim_order = true}, 1230 * 4, 14330 * 1000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct replay_result res;
        assert_int_equal(replay_run_model(&in, platform, NULL, REPLAY_ALLOT, &cases[i].model, &res,
                                          err, sizeof(err)),
                         0);
        assert_int_equal(res.ws[1].preemptions, 1);
        assert_true(res.ws[1].wasted_gpu_s == cases[i].wasted);
        assert_int_equal(res.all.finished, 3);
        assert_int_equal(res.end_ms, cases[i].end_ms);
        replay_result_free(&res);
    }
}

/* One node of 8 GPUs; t/a reserves 6 and t/b 2. */
static int platform_6_2(void *ctx, struct sched **out, char *e, size_t len)
{
    assert_int_equal(platform(ctx, out, e, len), 0);
    struct sched *s = *out;
    /* b first: a's 6 would not fit beside b's 4 */
    for (int i = 1; i >= 0; i--) {
        struct sched_workspace_spec w = {.name = names[i],
                                         .limits = s->workspaces[i].limits,
                                         .reserved = (i ? 2 : 6) * QUANTITY_GPU_UNITS,
                                         .lend = true,
                                         .weight = 1};
        assert_int_equal(sched_workspace_update(s, &w, 0, e, len), 0);
    }
    return 0;
}

/* --time-limit-factor (docs/simulator.md): t/b runs six jobs of 100 s from 0 (four on a's
 * idle reservation); at 1 s t/a's 4-GPU job claims the 2 free GPUs and reclaims 2 of b's
 * (grace 30 s: by 31 s); at 2 s a's 1-GPU job of 5 s (grace 1 s) comes.
 * Without time limits it reclaims one more of b's and starts at 32 s (3 preemptions).
 * With factor 2 its time limit is 10 s: gone by 2 + 10 + 1 = 13 s <= 31 s, it backfills on
 * a claimed GPU at once (delay 0; 2 preemptions); the 4-GPU job still starts at 31 s. */
static void test_time_limit_factor_lets_the_engine_backfill(void **state)
{
    struct replay_job list[8];
    for (int i = 0; i < 6; i++)
        list[i] = job(0, 100, 1);
    list[6] = job(1, 10, 0);
    list[6].spec.gpus = 4;
    list[7] = job(2, 5, 0);
    list[7].spec.grace_ms = 1000;
    struct replay_result off, on;
    for (int k = 0; k < 2; k++) {
        struct jobs j = {list, 8, 0};
        struct replay_input in = {jobs_next, jobs_rewind, &j, names, 2, k ? 2.0 : 0};
        assert_int_equal(
            replay_run(&in, platform_6_2, NULL, REPLAY_ALLOT, k ? &on : &off, err, sizeof(err)), 0);
    }
    assert_int_equal(off.all.preemptions, 3);
    assert_true(off.ws[0].delay.max_ms == 30000); /* the small job: 2 s to 32 s */
    assert_int_equal(on.all.preemptions, 2);
    assert_true(on.ws[0].delay.sum_ms == 30000); /* the 4-GPU job's 30 s; the small one 0 */
    assert_int_equal(on.ws[0].finished, 2);
    assert_int_equal(on.ws[1].finished, 6);
    replay_result_free(&off);
    replay_result_free(&on);
}

/* A job for a workspace the platform lacks is refused, naming it. */
static void test_unknown_workspace_refused(void **state)
{
    static const char *const other[] = {"t/a", "t/zz"};
    struct replay_job list[1] = {job(0, 1, 1)};
    struct jobs j = {list, 1, 0};
    struct replay_input in = {jobs_next, jobs_rewind, &j, other, 2, 0};
    struct replay_result res;
    assert_int_equal(replay_run(&in, platform, NULL, REPLAY_ALLOT, &res, err, sizeof(err)),
                     -ALLOT_ENOENT);
    assert_non_null(strstr(err, "t/zz"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_quantiles),
        cmocka_unit_test(test_static_waits_beside_idle_gpus),
        cmocka_unit_test(test_shared_waits_allot_reclaims),
        cmocka_unit_test(test_unknown_workspace_refused),
        cmocka_unit_test(test_checkpoints_lose_less),
        cmocka_unit_test(test_time_limit_factor_lets_the_engine_backfill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
