/* The API's route table and its OpenAPI document agree: every route of api_routes is a
 * path and method of docs/openapi.yaml, and the document has no route the daemon lacks. And
 * every route of the agent protocol (common/protocol.h) is served, as the agent calls it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <yaml.h>

#include "allotd/api.h"
#include "common/protocol.h"

static yaml_document_t doc;

static int setup(void **state)
{
    const char *src = getenv("ALLOT_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/openapi.yaml", src ? src : ".");
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    yaml_document_delete(&doc);
    return 0;
}

/* The value of key in mapping node m, or NULL. */
static yaml_node_t *get(yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&doc, p->value);
    }
    return NULL;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "get";
    case EVHTTP_REQ_POST:
        return "post";
    case EVHTTP_REQ_PUT:
        return "put";
    case EVHTTP_REQ_PATCH:
        return "patch";
    case EVHTTP_REQ_DELETE:
        return "delete";
    default:
        return "other";
    }
}

static void test_every_route_is_documented(void **state)
{
    yaml_node_t *paths = get(yaml_document_get_root_node(&doc), "paths");
    assert_non_null(paths);
    int n = 0;
    for (const struct route *r = api_routes; r->fn; r++, n++) {
        yaml_node_t *item = get(paths, r->pattern);
        if (!item)
            fail_msg("route %s is not in docs/openapi.yaml", r->pattern);
        if (!get(item, method_name(r->method)))
            fail_msg("route %s %s is not in docs/openapi.yaml", method_name(r->method), r->pattern);
    }
    assert_true(n > 20);
}

static void test_every_documented_route_exists(void **state)
{
    static const char *const methods[] = {"get", "post", "put", "patch", "delete"};
    yaml_node_t *paths = get(yaml_document_get_root_node(&doc), "paths");
    assert_non_null(paths);
    for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top;
         p++) {
        const char *path = (char *)yaml_document_get_node(&doc, p->key)->data.scalar.value;
        yaml_node_t *item = yaml_document_get_node(&doc, p->value);
        for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            if (!get(item, methods[m]))
                continue;
            bool found = false;
            for (const struct route *r = api_routes; r->fn && !found; r++)
                found = strcmp(r->pattern, path) == 0 &&
                        strcasecmp(method_name(r->method), methods[m]) == 0;
            if (!found)
                fail_msg("docs/openapi.yaml documents %s %s, which the daemon does not serve",
                         methods[m], path);
        }
    }
}

/* The route of api_routes for method and pattern, or NULL. */
static const struct route *route_find(enum evhttp_cmd_type method, const char *pattern)
{
    for (const struct route *r = api_routes; r->fn; r++)
        if (r->method == method && strcmp(r->pattern, pattern) == 0)
            return r;
    return NULL;
}

static void test_every_agent_route_is_served(void **state)
{
    /* the paths the agent posts to, with the node's name in its place, are the patterns */
    char path[256];
    snprintf(path, sizeof(path), PROTOCOL_PATH_REPORT, "{node}");
    assert_string_equal(path, PROTOCOL_ROUTE_REPORT);
    snprintf(path, sizeof(path), PROTOCOL_PATH_LOGS, "{node}");
    assert_string_equal(path, PROTOCOL_ROUTE_LOGS);
    /* served by POST, to an agent's node token (the join: to no token at all) */
    const struct route *join = route_find(EVHTTP_REQ_POST, PROTOCOL_ROUTE_JOIN);
    const struct route *report = route_find(EVHTTP_REQ_POST, PROTOCOL_ROUTE_REPORT);
    const struct route *logs = route_find(EVHTTP_REQ_POST, PROTOCOL_ROUTE_LOGS);
    assert_non_null(join);
    assert_non_null(report);
    assert_non_null(logs);
    assert_int_equal(join->least, ROLE_NONE);
    assert_int_equal(report->least, ROLE_NODE);
    assert_int_equal(logs->least, ROLE_NODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_documented),
        cmocka_unit_test(test_every_documented_route_exists),
        cmocka_unit_test(test_every_agent_route_is_served),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
