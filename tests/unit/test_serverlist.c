/* Unit tests for common/serverlist: comma lists of servers (bad URL named, too many, given
 * twice, trailing slash), their normalized form, and the rule that picks the next server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/serverlist.h"

/* A list of the servers in text, which must be good. s is static: it is 32 KiB. */
static const struct serverlist *list_of(const char *text)
{
    static struct serverlist s;
    char err[160] = "";
    memset(&s, 0, sizeof(s));
    if (serverlist_add(&s, text, err, sizeof(err)) != 0)
        fail_msg("'%s' refused: %s", text, err);
    return &s;
}

static void test_add_lists(void **state)
{
    (void)state;
    const struct serverlist *s = list_of(" http://a:7070/ ,https://b.example.com//,http://c");
    assert_int_equal(s->n, 3);
    assert_string_equal(s->url[0], "http://a:7070"); /* spaces and trailing '/' gone */
    assert_string_equal(s->url[1], "https://b.example.com");
    assert_string_equal(s->url[2], "http://c");

    /* several lists (--server given again) add up, in order */
    static struct serverlist t;
    char err[160];
    memset(&t, 0, sizeof(t));
    assert_int_equal(serverlist_add(&t, "http://a:1", err, sizeof(err)), 0);
    assert_int_equal(serverlist_add(&t, "http://b:2,http://c:3", err, sizeof(err)), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.url[2], "http://c:3");
}

static void test_add_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int err;
        const char *says; /* part of the message */
    } cases[] = {
        {"http://a:1,ftp://b", -ALLOT_EINVAL, "got 'ftp://b'"},
        {"http://a:1,,http://b:2", -ALLOT_EINVAL, "empty item"},
        {"http://a:1,", -ALLOT_EINVAL, "empty item"},
        {"", -ALLOT_EINVAL, "empty item"},
        {"http://", -ALLOT_EINVAL, "got 'http://'"},
        {"http://a:99999", -ALLOT_EINVAL, "got 'http://a:99999'"},
        {"http://a:x1", -ALLOT_EINVAL, "got 'http://a:x1'"},
        {"http://a b", -ALLOT_EINVAL, "got 'http://a?b'"},
        {"http://a\x01:1", -ALLOT_EINVAL, "got 'http://a?:1'"},
        {"http://a:1,http://a:1/", -ALLOT_EEXIST, "'http://a:1' is given twice"},
        {"http://A:80,http://a", -ALLOT_EEXIST, "given twice"},
        {"https://a,https://a:443/", -ALLOT_EEXIST, "given twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static struct serverlist s;
        char err[160] = "";
        memset(&s, 0, sizeof(s));
        int rc = serverlist_add(&s, cases[i].text, err, sizeof(err));
        if (rc != cases[i].err || !strstr(err, cases[i].says))
            fail_msg("'%s': %d (want %d), '%s' (want '%s' in it)", cases[i].text, rc, cases[i].err,
                     err, cases[i].says);
        assert_int_equal(s.n, 0); /* nothing of a refused list is kept */
    }

    /* a long bad URL is not copied into the message */
    static char longer[SERVERLIST_MAX_URL + 10];
    static struct serverlist s;
    char err[160] = "";
    memset(longer, 'a', sizeof(longer) - 1);
    memcpy(longer, "http://", 7);
    assert_int_equal(serverlist_add(&s, longer, err, sizeof(err)), -ALLOT_EINVAL);
    assert_non_null(strstr(err, "(a long text)"));
    /* the longest URL allowed is taken */
    longer[SERVERLIST_MAX_URL] = '\0';
    assert_int_equal(serverlist_add(&s, longer, err, sizeof(err)), 0);
}

static void test_too_many(void **state)
{
    (void)state;
    static struct serverlist s;
    char text[SERVERLIST_MAX * 32] = "", err[160] = "";
    size_t used = 0;
    for (int i = 0; i < SERVERLIST_MAX; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%shttp://h%d:7070",
                                 i ? "," : "", i);
    assert_int_equal(serverlist_add(&s, text, err, sizeof(err)), 0);
    assert_int_equal(s.n, SERVERLIST_MAX);
    /* one more, in the same list or another, is refused and changes nothing */
    assert_int_equal(serverlist_add(&s, "http://one-more:7070", err, sizeof(err)), -ALLOT_ERANGE);
    assert_non_null(strstr(err, "at most 16 servers"));
    assert_int_equal(s.n, SERVERLIST_MAX);
    static struct serverlist t;
    memset(&t, 0, sizeof(t));
    strcat(text, ",http://h99:7070");
    assert_int_equal(serverlist_add(&t, text, err, sizeof(err)), -ALLOT_ERANGE);
    assert_int_equal(t.n, 0);
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"http://a", "http://a:80"},
        {"HTTP://Node-1.Example.COM:7070/", "http://node-1.example.com:7070"},
        {"https://a", "https://a:443"},
        {"https://a:443///", "https://a:443"},
        {"http://a:7070/base/", "http://a:7070/base"},
        {"http://[::1]:7070", "http://[::1]:7070"},
        {"http://[::1]", "http://[::1]:80"},
        {"http://a:", "http://a:80"},
    };
    char out[SERVERLIST_MAX_URL + 32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(serverlist_normalize(cases[i].url, out, sizeof(out)), 0);
        assert_string_equal(out, cases[i].want);
    }
    const char *bad[] = {"ftp://a",     "http://",       "http://:80",     "http://a:0",
                         "http://[::1", "http://[::1]x", "http://a:123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(serverlist_normalize(bad[i], out, sizeof(out)), -ALLOT_EINVAL);
    assert_int_equal(serverlist_normalize("http://a", out, 8), -ALLOT_EINVAL); /* no room */
}

static void test_find_and_standby(void **state)
{
    (void)state;
    const struct serverlist *s = list_of("http://a:7070,http://b:7071/");
    assert_int_equal(serverlist_find(s, "http://B:7071"), 1);
    assert_int_equal(serverlist_find(s, "http://a:7070/"), 0);
    assert_int_equal(serverlist_find(s, "http://a:7071"), -1);
    assert_int_equal(serverlist_find(s, "https://a:7070"), -1);
    assert_int_equal(serverlist_find(s, "http://a:7070/other"), -1);
    assert_int_equal(serverlist_find(s, "not a url"), -1);
    assert_int_equal(serverlist_find(s, NULL), -1);

    assert_true(serverlist_is_standby(307, "standby"));
    assert_true(serverlist_is_standby(503, "Standby"));
    assert_false(serverlist_is_standby(307, NULL));     /* a redirect of something else */
    assert_false(serverlist_is_standby(503, "leader")); /* the leader is busy: final */
    assert_false(serverlist_is_standby(500, "standby"));
    assert_false(serverlist_is_standby(200, "standby"));
}

static void test_next(void **state)
{
    (void)state;
    /* 0 a standby, 1 a dead port, 2 the leader, 3 another */
    const struct serverlist *s = list_of("http://s:1,http://dead:2,http://l:3,http://o:4");
    /* a connect failure: the next in order */
    assert_int_equal(serverlist_next(s, 0, 0, NULL), 1);
    assert_int_equal(serverlist_next(s, 3, 0, NULL), 0); /* wraps */
    /* a standby naming a configured leader: that one, whatever its place */
    assert_int_equal(serverlist_next(s, 0, 0, "http://l:3/"), 2);
    assert_int_equal(serverlist_next(s, 3, 0, "HTTP://L:3"), 2);
    /* a standby without a leader, or naming one that is not configured: the next; never it */
    assert_int_equal(serverlist_next(s, 0, 0, NULL), 1);
    assert_int_equal(serverlist_next(s, 0, 0, "http://elsewhere:3"), 1);
    assert_int_equal(serverlist_next(s, 0, 0, "http://l:30"), 1);
    assert_int_equal(serverlist_next(s, 0, 0, "garbage"), 1);
    /* what was tried in this round is not asked again, the leader named included */
    assert_int_equal(serverlist_next(s, 1, 1u << 0 | 1u << 2, NULL), 3);
    assert_int_equal(serverlist_next(s, 0, 1u << 2, "http://l:3"), 1);
    assert_int_equal(serverlist_next(s, 2, 1u << 0 | 1u << 1, NULL), 3);
    /* everything tried: the round is over */
    assert_int_equal(serverlist_next(s, 3, 0x7, "http://l:3"), -1);
    assert_int_equal(serverlist_next(s, 0, 0xf, NULL), -1);
    /* the standby naming itself is not asked again */
    assert_int_equal(serverlist_next(s, 0, 0, "http://s:1"), 1);

    /* one server: after its failure there is none to move to */
    const struct serverlist *one = list_of("http://only:7070");
    assert_int_equal(serverlist_next(one, 0, 0, NULL), -1);
    assert_int_equal(serverlist_next(one, 0, 0, "http://other:7070"), -1);
    assert_int_equal(serverlist_next(one, 0, 0, "http://only:7070"), -1);
}

/* Every answer, from every place, with every set of servers tried: the choice is a configured
 * server not yet tried, or -1 only when all were; a leader that is not configured is never
 * chosen (it is not even representable as an index, so the check is that the choice is the
 * one a leaderless answer gives). */
static void test_next_exhaustive(void **state)
{
    (void)state;
    const struct serverlist *s = list_of("http://a:1,http://b:2,http://c:3,http://d:4,http://e:5");
    const char *leaders[] = {NULL, "http://a:1", "http://c:3", "http://e:5/", "http://x:9"};
    for (int current = 0; current < s->n; current++)
        for (uint32_t tried = 0; tried < 1u << s->n; tried++)
            for (size_t k = 0; k < sizeof(leaders) / sizeof(leaders[0]); k++) {
                int next = serverlist_next(s, current, tried, leaders[k]);
                uint32_t all = tried | 1u << current;
                if (all == (1u << s->n) - 1) {
                    assert_int_equal(next, -1);
                    continue;
                }
                assert_in_range(next, 0, s->n - 1);
                assert_false(all >> next & 1);
                int named = serverlist_find(s, leaders[k]);
                if (named >= 0 && !(all >> named & 1))
                    assert_int_equal(next, named);
                else
                    assert_int_equal(next, serverlist_next(s, current, tried, NULL));
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_lists),        cmocka_unit_test(test_add_refused),
        cmocka_unit_test(test_too_many),         cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_find_and_standby), cmocka_unit_test(test_next),
        cmocka_unit_test(test_next_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
