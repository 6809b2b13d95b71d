/* Unit tests of agent/jsonfile: a JSON file is read only whole, within its bound, as an object
 * with no key twice, with an error naming the file; a write replaces the file whole (through a
 * temporary file that never stays behind) with the mode asked for. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "agent/jsonfile.h"
#include "common/error.h"
#include "support.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/allot-jsonfile-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state.json", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    support_remove_tree(f->dir);
    free(f);
    return 0;
}

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_read_refuses_what_is_not_one_bounded_object(void **state)
{
    struct fixture *f = *state;
    char err[512];
    json_t *v = (json_t *)1;
    assert_int_equal(jsonfile_read(f->path, 100, &v, err, sizeof(err)), -ALLOT_ENOENT);
    assert_null(v);
    assert_non_null(strstr(err, f->path));

    put(f->path, "{\"a\": 1,\n \"a\": 2}");
    assert_int_equal(jsonfile_read(f->path, 100, &v, err, sizeof(err)), -ALLOT_EPARSE);
    assert_non_null(strstr(err, "duplicate"));
    assert_non_null(strstr(err, "line 2"));

    put(f->path, "[1, 2]");
    assert_int_equal(jsonfile_read(f->path, 100, &v, err, sizeof(err)), -ALLOT_EPARSE);
    assert_non_null(strstr(err, "not a JSON object"));

    put(f->path, "{\"a\": ");
    assert_int_equal(jsonfile_read(f->path, 100, &v, err, sizeof(err)), -ALLOT_EPARSE);

    /* exactly at the bound: read; one byte over: refused, never cut */
    put(f->path, "{\"key\": \"0123456789\"}"); /* 21 bytes */
    assert_int_equal(jsonfile_read(f->path, 21, &v, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(json_object_get(v, "key")), "0123456789");
    json_decref(v);
    assert_int_equal(jsonfile_read(f->path, 20, &v, err, sizeof(err)), -ALLOT_ERANGE);
    assert_non_null(strstr(err, "at most 20 bytes"));
    assert_null(v);

    /* a directory, a FIFO: no regular file (and no hang on the FIFO) */
    assert_int_equal(jsonfile_read(f->dir, 100, &v, err, sizeof(err)), -ALLOT_ERANGE);
    char fifo[160];
    snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(jsonfile_read(fifo, 100, &v, err, sizeof(err)), -ALLOT_ERANGE);
}

static void test_write_replaces_whole_with_its_mode(void **state)
{
    struct fixture *f = *state;
    char err[512], tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    put(f->path, "{\"old\": true}");
    put(tmp, "left over by a crash");
    json_t *v = json_pack("{s:s, s:[i, i]}", "name", "w1", "ids", 1, 2);
    assert_int_equal(jsonfile_write(f->path, v, 0600, err, sizeof(err)), 0);
    json_decref(v);
    assert_int_equal(access(tmp, F_OK), -1);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    json_t *back = NULL;
    assert_int_equal(jsonfile_read(f->path, 1000, &back, err, sizeof(err)), 0);
    assert_null(json_object_get(back, "old"));
    assert_string_equal(json_string_value(json_object_get(back, "name")), "w1");
    assert_int_equal(json_array_size(json_object_get(back, "ids")), 2);
    json_decref(back);

    /* a directory that is not there: an error naming the file; nothing left behind */
    char nowhere[160];
    snprintf(nowhere, sizeof(nowhere), "%s/missing/state.json", f->dir);
    v = json_object();
    assert_int_equal(jsonfile_write(nowhere, v, 0600, err, sizeof(err)), -ALLOT_EIO);
    assert_non_null(strstr(err, nowhere));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_refuses_what_is_not_one_bounded_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_replaces_whole_with_its_mode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
