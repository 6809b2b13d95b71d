/* The node's image store (imagestore.h): finding an image for a replica, importing one from an
 * OCI image layout with `umoci raw unpack`, and listing what the store holds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif

#include "agent/imagestore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/jsonfile.h"
#include "agent/oci.h"
#include "agent/workdir.h"
#include "common/error.h"
#include "common/imageref.h"

extern char **environ;

/* Deepest directory of a name in the store that imagestore_list looks into. */
#define IMAGESTORE_LIST_DEPTH 16
/* The annotation of an index.json entry that names its tag. */
#define IMAGESTORE_REF_NAME "org.opencontainers.image.ref.name"

int imagestore_find(const char *dir, const char *ref, char *rootfs, size_t len, json_t **config,
                    char *err, size_t elen)
{
    struct imageref ir;
    char why[160], path[IMAGESTORE_PATH_MAX];
    struct stat sb;
    *config = NULL;
    if (imageref_parse(ref, strlen(ref), &ir, why, sizeof(why)) != 0)
        return allot_fail(err, elen, -ALLOT_EINVAL, "image: %s", why);
    if ((size_t)snprintf(rootfs, len, "%s/%s/%s/" IMAGESTORE_ROOTFS, dir, ir.name, ir.tag) >= len ||
        (size_t)snprintf(path, sizeof(path), "%s/%s/%s/" IMAGESTORE_CONFIG, dir, ir.name, ir.tag) >=
            sizeof(path))
        return allot_fail(err, elen, -ALLOT_EINVAL, "image: the store's path is too long");
    if (stat(rootfs, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return allot_fail(err, elen, -ALLOT_ENOENT,
                          IMAGESTORE_MISSING ": %s:%s is not in the node's image store %s", ir.name,
                          ir.tag, dir);
    int rc = oci_image_config_load(path, config, why, sizeof(why));
    if (rc == -ALLOT_ENOENT)
        return allot_fail(err, elen, rc,
                          IMAGESTORE_MISSING ": %s:%s is not in the node's image store %s", ir.name,
                          ir.tag, dir);
    if (rc)
        return allot_fail(err, elen, rc, "image %s:%s: %s", ir.name, ir.tag, why);
    return 0;
}

/* ---- import ---- */

/* Read the file path whole (at most IMAGESTORE_LAYOUT_FILE_MAX bytes) as a JSON object. */
static int read_json(const char *path, json_t **out, char *err, size_t len)
{
    return jsonfile_read(path, IMAGESTORE_LAYOUT_FILE_MAX, out, err, len);
}

/* The path of the blob digest ("sha256:<64 hex>" or "sha512:<128 hex>") of layout, checked so
 * that it stays in the layout's blobs directory. */
static int blob_path(const char *layout, const json_t *digest, const char *field, char *path,
                     size_t plen, char *err, size_t len)
{
    const char *d = json_string_value(digest);
    size_t hex = d ? strspn(d + 7, "0123456789abcdef") : 0;
    bool ok = d && ((strncmp(d, "sha256:", 7) == 0 && hex == 64 && strlen(d) == 71) ||
                    (strncmp(d, "sha512:", 7) == 0 && hex == 128 && strlen(d) == 135));
    if (!ok)
        return allot_fail(err, len, -ALLOT_EINVAL, "%s: expected a sha256 or sha512 digest", field);
    if ((size_t)snprintf(path, plen, "%s/blobs/%.6s/%s", layout, d, d + 7) >= plen)
        return allot_fail(err, len, -ALLOT_EINVAL, "%s: path too long", field);
    return 0;
}

/* The path of the config blob of tag in layout (index.json -> manifest -> config). */
static int layout_config(const char *layout, const char *tag, char *path, size_t plen, char *err,
                         size_t len)
{
    char file[IMAGESTORE_PATH_MAX + 64];
    json_t *index = NULL, *manifest = NULL;
    snprintf(file, sizeof(file), "%s/index.json", layout);
    int rc = read_json(file, &index, err, len);
    const json_t *found = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(rc == 0 ? json_object_get(index, "manifests") : NULL, i, m)
    {
        const char *name = json_string_value(
            json_object_get(json_object_get(m, "annotations"), IMAGESTORE_REF_NAME));
        if (name && strcmp(name, tag) == 0)
            found = m;
    }
    if (rc == 0 && !found)
        rc = allot_fail(err, len, -ALLOT_ENOENT, "%s: no manifest tagged %s", file, tag);
    const char *type = found ? json_string_value(json_object_get(found, "mediaType")) : NULL;
    if (rc == 0 && type && strstr(type, "index"))
        rc = allot_fail(err, len, -ALLOT_EINVAL,
                        "%s: %s is an index of several platforms: copy one (skopeo copy "
                        "--override-arch ...)",
                        file, tag);
    if (rc == 0)
        rc = blob_path(layout, json_object_get(found, "digest"), "index.json manifests[].digest",
                       file, sizeof(file), err, len);
    if (rc == 0)
        rc = read_json(file, &manifest, err, len);
    if (rc == 0)
        rc = blob_path(layout, json_object_get(json_object_get(manifest, "config"), "digest"),
                       "manifest config.digest", path, plen, err, len);
    json_decref(index);
    json_decref(manifest);
    return rc;
}

/* Run argv (argv[0] looked up in PATH) with stdin and stdout on /dev/null and wait for it.
 * RET its exit status (0 when it succeeded), or -1 when it could not run. */
static int run_wait(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Copy the JSON file from to to (0644), at most IMAGESTORE_LAYOUT_FILE_MAX bytes. */
static int copy_file(const char *from, const char *to, char *err, size_t len)
{
    json_t *blob = NULL;
    int rc = read_json(from, &blob, err, len);
    if (rc == 0)
        rc = jsonfile_write(to, blob, 0644, err, len);
    json_decref(blob);
    return rc;
}

/* mkdir -p of path's directories below base (which exists), mode 0711. */
static int make_parents(const char *path, size_t base_len, char *err, size_t len)
{
    char p[IMAGESTORE_PATH_MAX];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + base_len + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(p, 0711) != 0 && errno != EEXIST)
            return allot_fail(err, len, -ALLOT_EIO, "%s: %s", p, strerror(errno));
        *s = '/';
    }
    return 0;
}

int imagestore_import(const char *dir, const char *layout_ref, const char *ref, const char *umoci,
                      char *err, size_t len)
{
    struct imageref ir;
    char why[160], layout[IMAGESTORE_PATH_MAX], final[IMAGESTORE_PATH_MAX],
        tmp[IMAGESTORE_PATH_MAX], path[IMAGESTORE_PATH_MAX + 64], blob[IMAGESTORE_PATH_MAX + 64];
    const char *tag = strrchr(layout_ref, ':');
    struct stat sb;
    if (imageref_parse(ref, strlen(ref), &ir, why, sizeof(why)) != 0)
        return allot_fail(err, len, -ALLOT_EINVAL, "NAME:TAG: %s", why);
    if (!tag || tag == layout_ref || !tag[1] || strlen(tag + 1) > IMAGEREF_TAG_MAX ||
        strchr(tag, '/') || (size_t)(tag - layout_ref) >= sizeof(layout))
        return allot_fail(err, len, -ALLOT_EINVAL,
                          "LAYOUT:TAG: expected an OCI layout directory and a "
                          "tag in it, got \"%.80s\"",
                          layout_ref);
    snprintf(layout, sizeof(layout), "%.*s", (int)(tag - layout_ref), layout_ref);
    tag++;
    if ((size_t)snprintf(final, sizeof(final), "%s/%s/%s", dir, ir.name, ir.tag) >= sizeof(final))
        return allot_fail(err, len, -ALLOT_EINVAL, "NAME:TAG: the store's path is too long");
    if (lstat(final, &sb) == 0)
        return allot_fail(err, len, -ALLOT_EEXIST,
                          "%s:%s is already in the store (%s): an image is never replaced, since "
                          "running containers use it; import it under another tag",
                          ir.name, ir.tag, final);
    int rc = layout_config(layout, tag, blob, sizeof(blob), err, len);
    if (rc)
        return rc;
    if ((mkdir(dir, 0711) != 0 && errno != EEXIST) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.import-XXXXXX", dir) >= sizeof(tmp) ||
        !mkdtemp(tmp))
        return allot_fail(err, len, -ALLOT_EIO, "%s: %s", dir, strerror(errno));
    snprintf(path, sizeof(path), "%s/" IMAGESTORE_ROOTFS, tmp);
    char *const argv[] = {(char *)(umoci ? umoci : "umoci"),
                          "--log",
                          "error",
                          "raw",
                          "unpack",
                          "--image",
                          (char *)layout_ref,
                          path,
                          NULL};
    int status = run_wait(argv);
    if (status != 0) {
        rc = allot_fail(err, len, -ALLOT_EIO, "%s raw unpack --image %s: %s", argv[0], layout_ref,
                        status < 0 ? strerror(errno) : "failed (its messages are above)");
        goto out;
    }
    /* the mount points of every container, so that the runtime never writes to the rootfs,
     * which is shared and mounted read-only */
    static const struct {
        const char *name;
        mode_t mode;
    } points[] = {{"proc", 0555}, {"sys", 0555}, {"dev", 0755}, {"work", 0755}, {"tmp", 01777}};
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        char point[IMAGESTORE_PATH_MAX + 96];
        snprintf(point, sizeof(point), "%s/%s", path, points[i].name);
        if (mkdir(point, points[i].mode) != 0 && errno != EEXIST) {
            rc = allot_fail(err, len, -ALLOT_EIO, "%s: %s", point, strerror(errno));
            goto out;
        }
        if (lstat(point, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == 0 &&
            chmod(point, points[i].mode) != 0) {
            rc = allot_fail(err, len, -ALLOT_EIO, "%s: %s", point, strerror(errno));
            goto out;
        }
    }
    snprintf(path, sizeof(path), "%s/" IMAGESTORE_CONFIG, tmp);
    if ((rc = copy_file(blob, path, err, len)) != 0)
        goto out;
    if (chmod(tmp, 0711) != 0 || (rc = make_parents(final, strlen(dir), err, len)) != 0) {
        rc = rc ? rc : allot_fail(err, len, -ALLOT_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, final) != 0) {
        rc = errno == EEXIST || errno == ENOTEMPTY
                 ? allot_fail(err, len, -ALLOT_EEXIST, "%s:%s was imported meanwhile", ir.name,
                              ir.tag)
                 : allot_fail(err, len, -ALLOT_EIO, "rename to %s: %s", final, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
out:
    if (tmp[0])
        workdir_tree_remove(tmp);
    return rc;
}

/* ---- list ---- */

/* Print the images under path (name so far: name, name_len bytes), depth levels deep. */
static int list_dir(char *path, size_t plen, size_t root_len, int depth)
{
    DIR *d = opendir(path);
    if (!d)
        return -ALLOT_EIO;
    struct dirent *e;
    size_t at = strlen(path);
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (e->d_name[0] == '.' || at + strlen(e->d_name) + 16 >= plen)
            continue;
        snprintf(path + at, plen - at, "/%s/" IMAGESTORE_ROOTFS, e->d_name);
        bool image = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        snprintf(path + at, plen - at, "/%s", e->d_name);
        if (image && at > root_len)
            printf("%.*s:%s\n", (int)(at - root_len - 1), path + root_len + 1, e->d_name);
        else if (!image && depth > 0 && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            list_dir(path, plen, root_len, depth - 1);
        path[at] = '\0';
    }
    closedir(d);
    return 0;
}

int imagestore_list(const char *dir)
{
    char path[IMAGESTORE_PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    return list_dir(path, sizeof(path), strlen(path), IMAGESTORE_LIST_DEPTH);
}
