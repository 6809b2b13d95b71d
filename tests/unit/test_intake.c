/* Unit tests for allotd/intake without HTTP: requests are taken in turn by tenant and by
 * token inside a tenant, each token's in arrival order; the queues are bounded; the rate caps
 * refuse with a retry in whole seconds and charge nothing when one refuses; node agents'
 * requests go first in a turn, up to a bound. The server's use of it is tested over HTTP
 * (test_fairness.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "allotd/intake.h"
#include "common/error.h"

/* Items are small integers cast to pointers: 100 * tenant + 10 * token + n. */
#define ITEM(x) ((void *)(uintptr_t)(x))

static int pushed(struct intake *in, const char *tenant, const char *token, uintptr_t x)
{
    struct intake_refusal why;
    return intake_push(in, tenant, token, ITEM(x), &why);
}

static uintptr_t popped(struct intake *in)
{
    return (uintptr_t)intake_pop(in);
}

/* A flood of tenant a (token a1: 5 requests, then token a2: 2) and tenant b's two requests
 * arriving last are taken a, b, a, b, a...: b waits for one of a's, not for the flood; inside
 * a, tokens a1 and a2 alternate; each token's requests keep their order. */
static void test_round_robin(void **state)
{
    (void)state;
    struct intake_options opt = {0};
    struct intake *in;
    assert_int_equal(intake_new(&opt, &in), 0);
    assert_null(intake_pop(in));
    for (uintptr_t n = 1; n <= 5; n++)
        assert_int_equal(pushed(in, "a", "a1", 110 + n), 0);
    assert_int_equal(pushed(in, "a", "a2", 121), 0);
    assert_int_equal(pushed(in, "a", "a2", 122), 0);
    assert_int_equal(pushed(in, "b", "b1", 211), 0);
    assert_int_equal(pushed(in, "b", "b1", 212), 0);
    static const uintptr_t want[] = {111, 211, 121, 212, 112, 122, 113, 114, 115};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(popped(in), want[i]);
    assert_null(intake_pop(in));
    struct intake_stats st;
    intake_stats(in, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.served, 9);
    /* a tenant that comes back later takes its turn after those waiting */
    assert_int_equal(pushed(in, "a", "a1", 116), 0);
    assert_int_equal(pushed(in, "b", "b1", 213), 0);
    assert_int_equal(popped(in), 116);
    assert_int_equal(popped(in), 213);
    intake_free(in);
}

/* A token's queue and a tenant's are bounded: one more is refused naming the bound, and the
 * other tenants are not held; what waits is unchanged. */
static void test_queue_bounds(void **state)
{
    (void)state;
    struct intake_options opt = {0};
    struct intake *in;
    struct intake_refusal why;
    assert_int_equal(intake_new(&opt, &in), 0);
    for (uintptr_t n = 0; n < INTAKE_TOKEN_QUEUE; n++)
        assert_int_equal(pushed(in, "a", "a1", n + 1), 0);
    assert_int_equal(intake_push(in, "a", "a1", ITEM(9999), &why), -ALLOT_ETOOMANY);
    assert_string_equal(why.cap, "token_queue");
    assert_int_equal(why.limit, INTAKE_TOKEN_QUEUE);
    /* other tokens of a fill the tenant's bound */
    char token[16];
    uint32_t more = INTAKE_TENANT_QUEUE - INTAKE_TOKEN_QUEUE, k = 0;
    for (uint32_t n = 0; n < more; n++) {
        if (n % INTAKE_TOKEN_QUEUE == 0)
            snprintf(token, sizeof(token), "a%u", 2 + k++);
        assert_int_equal(pushed(in, "a", token, 5000 + n), 0);
    }
    assert_int_equal(intake_push(in, "a", "another", ITEM(9999), &why), -ALLOT_ETOOMANY);
    assert_string_equal(why.cap, "tenant_queue");
    assert_int_equal(pushed(in, "b", "b1", 7), 0);
    struct intake_stats st;
    intake_stats(in, &st);
    assert_int_equal(st.waiting, INTAKE_TENANT_QUEUE + 1);
    assert_int_equal(st.queue_refused, 2);
    assert_int_equal(popped(in), 1);
    assert_int_equal(popped(in), 7);
    while (intake_pop(in))
        ;
    intake_free(in);
}

/* Rate caps: a burst of 2 at 2 per second; the third request in the same millisecond is
 * refused (token_rate, retry 1 s) and another token is not held; half a second later one more
 * fits. The tenant's cap holds all its tokens; a refusal charges neither bucket. */
static void test_rate_caps(void **state)
{
    (void)state;
    struct intake_options opt = {.token_rate = 2, .burst = 2};
    struct intake *in;
    struct intake_refusal why;
    assert_int_equal(intake_new(&opt, &in), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 1000, &why), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 1000, &why), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 1000, &why), -ALLOT_ETOOMANY);
    assert_string_equal(why.cap, "token_rate");
    assert_int_equal(why.limit, 2);
    assert_int_equal(why.retry_s, 1);
    assert_int_equal(intake_charge(in, "a", "a2", 1000, &why), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 1500, &why), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 1500, &why), -ALLOT_ETOOMANY);
    intake_free(in);

    opt = (struct intake_options){.token_rate = 10, .tenant_rate = 1};
    assert_int_equal(intake_new(&opt, &in), 0);
    assert_int_equal(intake_charge(in, "a", "a1", 0, &why), 0);
    assert_int_equal(intake_charge(in, "a", "a2", 0, &why), -ALLOT_ETOOMANY);
    assert_string_equal(why.cap, "tenant_rate");
    assert_int_equal(why.retry_s, 1);
    assert_int_equal(intake_charge(in, "b", "b1", 0, &why), 0);
    /* a2's refusal charged nothing: a2 has its whole burst once a has room */
    for (int i = 0; i < 10; i++)
        assert_int_equal(intake_charge(in, "a", "a2", 1000 * (i + 1), &why), 0);
    struct intake_stats st;
    intake_stats(in, &st);
    assert_int_equal(st.rate_refused, 1);
    intake_free(in);

    opt = (struct intake_options){.token_rate = INTAKE_MAX_RATE + 1};
    assert_int_equal(intake_new(&opt, &in), -ALLOT_ERANGE);
}

/* At max_tokens, tokens with nothing waiting are forgotten (a rate-capped one starts with its
 * burst again); those waiting keep their requests and their turn. */
/* A storm of agents' reports (INTAKE_AGENTS_PER_TURN + 44 of them) and one tenant request
 * that arrives last: the turn serves the first INTAKE_AGENTS_PER_TURN reports, in arrival
 * order, then the tenant's request; the 44 other reports wait for the next turn. */
static void test_agents_first_within_a_bound(void **state)
{
    (void)state;
    struct intake_options opt = {0};
    struct intake *in;
    assert_int_equal(intake_new(&opt, &in), 0);
    uintptr_t n_agents = INTAKE_AGENTS_PER_TURN + 44;
    for (uintptr_t i = 1; i <= n_agents; i++)
        assert_int_equal(intake_push_agent(in, ITEM(1000 + i)), 0);
    assert_int_equal(pushed(in, "a", "a1", 111), 0);
    struct intake_stats st;
    intake_stats(in, &st);
    assert_int_equal(st.agents_waiting, n_agents);
    assert_int_equal(st.waiting, 1);
    intake_turn(in);
    for (uintptr_t i = 1; i <= INTAKE_AGENTS_PER_TURN; i++)
        assert_int_equal((uintptr_t)intake_pop_agent(in), 1000 + i);
    assert_null(intake_pop_agent(in)); /* this turn's agents are served */
    assert_int_equal(popped(in), 111);
    assert_null(intake_pop(in));
    intake_turn(in);
    for (uintptr_t i = INTAKE_AGENTS_PER_TURN + 1; i <= n_agents; i++)
        assert_int_equal((uintptr_t)intake_pop_agent(in), 1000 + i);
    assert_null(intake_pop_agent(in));
    intake_stats(in, &st);
    assert_int_equal(st.agents_waiting, 0);
    intake_free(in);
}

static void test_tokens_forgotten(void **state)
{
    (void)state;
    struct intake_options opt = {.token_rate = 1, .max_tokens = 4};
    struct intake *in;
    struct intake_refusal why;
    assert_int_equal(intake_new(&opt, &in), 0);
    assert_int_equal(intake_charge(in, "a", "t1", 0, &why), 0);
    assert_int_equal(intake_charge(in, "a", "t1", 0, &why), -ALLOT_ETOOMANY);
    assert_int_equal(pushed(in, "a", "t2", 1), 0);
    assert_int_equal(pushed(in, "b", "t3", 2), 0);
    assert_int_equal(pushed(in, "a", "t2", 3), 0);
    assert_int_equal(intake_charge(in, "b", "t4", 0, &why), 0);
    /* a fifth token: t1 and t4 (nothing waiting) are forgotten, t2 and t3 kept */
    assert_int_equal(pushed(in, "b", "t5", 4), 0);
    assert_int_equal(intake_charge(in, "a", "t1", 0, &why), 0); /* its burst again */
    assert_int_equal(popped(in), 1);
    assert_int_equal(popped(in), 2);
    assert_int_equal(popped(in), 3);
    assert_int_equal(popped(in), 4);
    assert_null(intake_pop(in));
    /* all tokens waiting at the bound: one more cannot be remembered */
    for (uintptr_t n = 0; n < 4; n++) {
        char token[8];
        snprintf(token, sizeof(token), "w%u", (unsigned)n);
        assert_int_equal(pushed(in, "c", token, 10 + n), 0);
    }
    assert_int_equal(intake_push(in, "c", "w9", ITEM(99), &why), -ALLOT_ENOMEM);
    while (intake_pop(in))
        ;
    intake_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_queue_bounds),
        cmocka_unit_test(test_rate_caps),
        cmocka_unit_test(test_tokens_forgotten),
        cmocka_unit_test(test_agents_first_within_a_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
