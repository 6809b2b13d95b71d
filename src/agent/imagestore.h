/* The node's image store: each image "name:tag" unpacked in DIR/<name>/<tag>/ as rootfs/ and
 * config.json (its OCI image config), imported from an OCI image layout with umoci and then
 * only read by the agent when a replica runs in it. docs/agent.md, "Images and containers". */
#ifndef ALLOT_AGENT_IMAGESTORE_H
#define ALLOT_AGENT_IMAGESTORE_H

#include <stddef.h>

#include <jansson.h>

/* The default of --image-store. */
#define IMAGESTORE_DEFAULT_DIR "/var/lib/allot/images"
/* The files of an image in the store. */
#define IMAGESTORE_ROOTFS "rootfs"
#define IMAGESTORE_CONFIG "config.json"
/* The prefix of an exit reason when a replica's image is not in the store. */
#define IMAGESTORE_MISSING "image_missing"
/* Bounds of what import reads from a layout: index.json and manifest, bytes. */
#define IMAGESTORE_LAYOUT_FILE_MAX (1 << 20)
/* Longest path in the store. */
#define IMAGESTORE_PATH_MAX 4096

/* Find the image named ref ("name[:tag]", common/imageref.h) in the store dir: its rootfs
 * (OUT rootfs, len bytes, absolute when dir is) and its image config's "config" object (OUT
 * *config, a new reference). RET 0; -ALLOT_EINVAL (a malformed reference); -ALLOT_ENOENT (not
 * in the store: err is "image_missing: NAME:TAG is not in the node's image store DIR");
 * -ALLOT_EPARSE, -ALLOT_ERANGE, -ALLOT_EIO (its config is unreadable); err says why. */
int imagestore_find(const char *dir, const char *ref, char *rootfs, size_t len, json_t **config,
                    char *err, size_t elen);

/* Import the image layout:tag (an OCI image layout directory, as `skopeo copy ... oci:DIR:TAG`
 * or umoci writes it) into the store dir as ref: `umoci raw unpack` of its rootfs into a
 * temporary directory of the store, its config blob (index.json -> manifest -> config) copied
 * next to it, the mount points the containers need made in the rootfs, then renamed into place.
 * An image already in the store is never replaced (running containers use its rootfs).
 * umoci: the umoci program (NULL: "umoci" in PATH). RET 0; -ALLOT_EINVAL (a malformed
 * reference or layout), -ALLOT_EEXIST, -ALLOT_ENOENT (no such layout or tag), -ALLOT_EIO;
 * err says why. */
int imagestore_import(const char *dir, const char *layout_ref, const char *ref, const char *umoci,
                      char *err, size_t len);

/* Print "name:tag" of every image in the store dir, one a line, to stdout. RET 0 or
 * -ALLOT_EIO. */
int imagestore_list(const char *dir);

#endif
