/* The dashboard's file names (ui.c): which names are served, with which content type, and
 * that every name that could leave the directory or is not in the table is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "allotd/ui.h"

static void test_types_by_extension(void **state)
{
    (void)state;
    assert_string_equal(ui_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(ui_content_type("style.css"), "text/css; charset=utf-8");
    assert_string_equal(ui_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(ui_content_type("favicon.svg"), "image/svg+xml");
    assert_string_equal(ui_content_type("shot-1_a.png"), "image/png");
    assert_string_equal(ui_content_type("favicon.ico"), "image/x-icon");
    assert_string_equal(ui_content_type("data.json"), "application/json");
}

static void test_refused_names(void **state)
{
    (void)state;
    static const char *const refused[] = {
        NULL,     "",           ".",         "..",       "../app.js",  "/etc/passwd",
        "a/b.js", ".hidden.js", "app.js/",   "app.JS",   "app.js.bak", "notes.txt",
        ".js",    "app%2e.js",  "app js.js", "app\\.js", "app.js\n",   "\xc3\xa9.js",
        "html",   "app.exe",    "~app.js",   "app:x.js",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_null(ui_content_type(refused[i]));
}

static void test_name_length(void **state)
{
    (void)state;
    char name[UI_MAX_NAME + 2];
    memset(name, 'a', sizeof(name));
    memcpy(name + UI_MAX_NAME - 3, ".js", 4); /* UI_MAX_NAME bytes: served */
    assert_non_null(ui_content_type(name));
    memset(name, 'a', sizeof(name));
    memcpy(name + UI_MAX_NAME - 2, ".js", 4); /* one more: refused */
    assert_null(ui_content_type(name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_by_extension),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_name_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
