/* Image references of workloads (imageref.h). */
#include "common/imageref.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool tag_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == '-'));
}

/* Whether the k bytes at s are a component of a name. */
static bool component_ok(const char *s, size_t k)
{
    if (k == 0 || !lower_alnum(s[0]))
        return false; /* also refuses "." and ".." */
    for (size_t i = 1; i < k; i++)
        if (!lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

int imageref_parse(const char *s, size_t n, struct imageref *out, char *why, size_t len)
{
    if (!s || n == 0) {
        snprintf(why, len, "an image reference is not empty");
        return -ALLOT_EINVAL;
    }
    if (n > IMAGEREF_MAX) {
        snprintf(why, len, "an image reference has at most %d bytes", IMAGEREF_MAX);
        return -ALLOT_EINVAL;
    }
    if (memchr(s, '@', n)) {
        snprintf(why, len, "a digest reference (name@sha256:...) is not supported; name:tag is");
        return -ALLOT_EINVAL;
    }
    size_t name_len = n;
    const char *colon = NULL;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (colon) {
        name_len = (size_t)(colon - s);
        size_t tag_len = n - name_len - 1;
        if (tag_len == 0 || tag_len > IMAGEREF_TAG_MAX || !tag_char(colon[1], true)) {
            snprintf(why, len,
                     "a tag is 1 to %d characters of [A-Za-z0-9_.-], not starting "
                     "with '.' or '-'",
                     IMAGEREF_TAG_MAX);
            return -ALLOT_EINVAL;
        }
        for (size_t i = 1; i < tag_len; i++)
            if (!tag_char(colon[1 + i], false)) {
                snprintf(why, len,
                         "a tag is 1 to %d characters of [A-Za-z0-9_.-], not "
                         "starting with '.' or '-'",
                         IMAGEREF_TAG_MAX);
                return -ALLOT_EINVAL;
            }
        memcpy(out->tag, colon + 1, tag_len);
        out->tag[tag_len] = '\0';
    } else {
        snprintf(out->tag, sizeof(out->tag), "%s", IMAGEREF_DEFAULT_TAG);
    }
    for (size_t at = 0; at <= name_len;) {
        const char *slash = memchr(s + at, '/', name_len - at);
        size_t k = slash ? (size_t)(slash - (s + at)) : name_len - at;
        if (!component_ok(s + at, k)) {
            snprintf(why, len,
                     "an image name is components of [a-z0-9._-] separated by '/', "
                     "each starting with a letter or a digit");
            return -ALLOT_EINVAL;
        }
        at += k + 1;
    }
    memcpy(out->name, s, name_len);
    out->name[name_len] = '\0';
    return 0;
}
