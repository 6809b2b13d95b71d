/* The one rule for an OCI image reference of a workload, "name[:tag]", shared by the API
 * (which refuses a malformed one) and the node agent (which finds the image in its store by
 * it): docs/agent.md, "Images". */
#ifndef ALLOT_COMMON_IMAGEREF_H
#define ALLOT_COMMON_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

#define IMAGEREF_MAX 255     /* bytes of a whole reference */
#define IMAGEREF_TAG_MAX 128 /* bytes of a tag */
#define IMAGEREF_DEFAULT_TAG "latest"

/* A reference split: name and tag, NUL-terminated. */
struct imageref {
    char name[IMAGEREF_MAX + 1];    /* "pytorch", "library/busybox", "registry.local/ml/vllm" */
    char tag[IMAGEREF_TAG_MAX + 1]; /* "2.3-cuda12", IMAGEREF_DEFAULT_TAG when not given */
};

/* Split the n bytes at s into out. The name is one or more components separated by '/', each
 * [a-z0-9] then [a-z0-9._-]* and none "." or ".." (so that a name is a safe relative path);
 * the tag, after the last ':' (a ':' inside a component of the name, as in "host:5000/x", is
 * not accepted), is [A-Za-z0-9_] then [A-Za-z0-9_.-]*. A digest reference ("@sha256:...") is
 * not accepted. RET 0; -ALLOT_EINVAL with why (len bytes) saying what is wrong. */
int imageref_parse(const char *s, size_t n, struct imageref *out, char *why, size_t len);

#endif
