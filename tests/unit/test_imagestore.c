/* Unit tests for agent/imagestore.c: importing an OCI image layout into the store (umoci, when
 * installed: an empty image made with `umoci new`), the refusals of malformed references and
 * layouts (a missing tag, a digest that is not one, an index of several platforms, an image
 * already in the store), nothing left behind by a failed import, and the listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/imagestore.h"
#include "common/error.h"

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fixture {
    char dir[64]; /* mkdtemp: holds layout/ and store/ */
    char layout[128], store[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/allot-test-imagestore-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->layout, sizeof(f->layout), "%s/layout", f->dir);
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
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

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* A layout by hand: index.json, and the manifest blob DIGEST_A naming config DIGEST_B. */
static void hand_layout(struct fixture *f, const char *index)
{
    char blobs[256], cmd[512];
    snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", f->layout);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", blobs);
    assert_int_equal(system(cmd), 0);
    write_text(f->layout, "index.json", index);
    write_text(blobs, DIGEST_A + 7, "{\"config\": {\"digest\": \"" DIGEST_B "\"}}");
    write_text(blobs, DIGEST_B + 7, "{\"config\": {\"Cmd\": [\"/bin/sh\"]}}");
}

/* Entries of the store's top directory other than "." and "..". */
static int store_entries(const struct fixture *f)
{
    DIR *d = opendir(f->store);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    char err[1024], ref[256];
    hand_layout(f, "{\"manifests\": [{\"mediaType\": "
                   "\"application/vnd.oci.image.manifest.v1+json\", \"digest\": \"" DIGEST_A
                   "\", \"annotations\": {\"org.opencontainers.image.ref.name\": \"1\"}}]}");
    snprintf(ref, sizeof(ref), "%s:1", f->layout);
    /* malformed references */
    assert_int_equal(imagestore_import(f->store, ref, "Bad:Name", "false", err, sizeof(err)),
                     -ALLOT_EINVAL);
    assert_non_null(strstr(err, "NAME:TAG"));
    assert_int_equal(imagestore_import(f->store, f->layout, "ok:1", "false", err, sizeof(err)),
                     -ALLOT_EINVAL);
    assert_non_null(strstr(err, "LAYOUT:TAG"));
    /* no manifest of that tag */
    char other[256];
    snprintf(other, sizeof(other), "%s:2", f->layout);
    assert_int_equal(imagestore_import(f->store, other, "ok:1", "false", err, sizeof(err)),
                     -ALLOT_ENOENT);
    assert_non_null(strstr(err, "no manifest tagged 2"));
    /* umoci fails (here `false` stands in for it): nothing is left in the store */
    assert_int_equal(imagestore_import(f->store, ref, "ok:1", "false", err, sizeof(err)),
                     -ALLOT_EIO);
    assert_non_null(strstr(err, "raw unpack"));
    assert_int_equal(store_entries(f), 0);
    /* a digest that is no digest (it would name a path outside the blobs) */
    write_text(f->layout, "index.json",
               "{\"manifests\": [{\"digest\": \"sha256:../../etc/passwd\", \"annotations\": "
               "{\"org.opencontainers.image.ref.name\": \"1\"}}]}");
    assert_int_equal(imagestore_import(f->store, ref, "ok:1", "false", err, sizeof(err)),
                     -ALLOT_EINVAL);
    assert_non_null(strstr(err, "digest"));
    /* an index of several platforms */
    write_text(f->layout, "index.json",
               "{\"manifests\": [{\"mediaType\": \"application/vnd.oci.image.index.v1+json\", "
               "\"digest\": \"" DIGEST_A "\", \"annotations\": "
               "{\"org.opencontainers.image.ref.name\": \"1\"}}]}");
    assert_int_equal(imagestore_import(f->store, ref, "ok:1", "false", err, sizeof(err)),
                     -ALLOT_EINVAL);
    assert_non_null(strstr(err, "several platforms"));
    /* no layout at all */
    assert_int_equal(
        imagestore_import(f->store, "/nonexistent/layout:1", "ok:1", "false", err, sizeof(err)),
        -ALLOT_ENOENT);
}

static void test_import_and_list(void **state)
{
    struct fixture *f = *state;
    if (system("command -v umoci >/dev/null 2>&1") != 0) {
        printf("SKIP test_import_and_list: umoci is not installed\n");
        skip();
    }
    char cmd[2048], ref[256], err[1024], path[512], rootfs[512];
    snprintf(cmd, sizeof(cmd),
             "umoci init --layout %s && umoci new --image %s:1 && umoci config --image %s:1 "
             "--config.cmd /bin/true --config.env A=1 >/dev/null 2>&1",
             f->layout, f->layout, f->layout);
    assert_int_equal(system(cmd), 0);
    snprintf(ref, sizeof(ref), "%s:1", f->layout);
    if (imagestore_import(f->store, ref, "tools/empty:1.0", NULL, err, sizeof(err)) != 0)
        fail_msg("import: %s", err);
    /* the rootfs with the containers' mount points, and the image config */
    const char *points[] = {"proc", "sys", "dev", "work", "tmp"};
    struct stat sb;
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/tools/empty/1.0/rootfs/%s", f->store, points[i]);
        assert_int_equal(stat(path, &sb), 0);
        assert_true(S_ISDIR(sb.st_mode));
    }
    json_t *config = NULL;
    assert_int_equal(imagestore_find(f->store, "tools/empty:1.0", rootfs, sizeof(rootfs), &config,
                                     err, sizeof(err)),
                     0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(config, "Cmd"), 0)),
                        "/bin/true");
    assert_string_equal(json_string_value(json_array_get(json_object_get(config, "Env"), 0)),
                        "A=1");
    json_decref(config);
    /* never replaced */
    assert_int_equal(imagestore_import(f->store, ref, "tools/empty:1.0", NULL, err, sizeof(err)),
                     -ALLOT_EEXIST);
    assert_non_null(strstr(err, "already in the store"));
    /* no temporary directory is left, whatever happened */
    snprintf(cmd, sizeof(cmd), "ls -A %s | grep -q '^\\.import'", f->store);
    assert_int_not_equal(system(cmd), 0);
    /* the listing */
    if (imagestore_import(f->store, ref, "other:2", NULL, err, sizeof(err)) != 0)
        fail_msg("import: %s", err);
    snprintf(path, sizeof(path), "%s/list.txt", f->dir);
    fflush(stdout);
    FILE *saved = fopen(path, "w");
    assert_non_null(saved);
    int out = dup(1);
    assert_int_equal(dup2(fileno(saved), 1), 1);
    assert_int_equal(imagestore_list(f->store), 0);
    fflush(stdout);
    dup2(out, 1);
    close(out);
    fclose(saved);
    snprintf(cmd, sizeof(cmd), "sort %s | tr '\\n' ' ' > %s.sorted", path, path);
    assert_int_equal(system(cmd), 0);
    char sorted[600];
    snprintf(sorted, sizeof(sorted), "%s.sorted", path);
    FILE *fp = fopen(sorted, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    assert_string_equal(line, "other:2 tools/empty:1.0 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_and_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
