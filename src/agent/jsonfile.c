/* The agent's JSON files (jsonfile.h): bounded reads, whole atomic writes. */
#include "agent/jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

int jsonfile_read(const char *path, size_t max, json_t **out, char *err, size_t len)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return allot_fail(err, len, errno == ENOENT ? -ALLOT_ENOENT : -ALLOT_EIO, "%s: %s", path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
        close(fd);
        return allot_fail(err, len, -ALLOT_ERANGE, "%s: not a regular file of at most %zu bytes",
                          path, max);
    }
    /* one byte more than allowed: a file that grew since fstat is refused, not cut */
    char *text = malloc(max + 1);
    size_t got = 0;
    ssize_t n = 0;
    while (text && got <= max &&
           ((n = read(fd, text + got, max + 1 - got)) > 0 || (n < 0 && errno == EINTR)))
        got += n > 0 ? (size_t)n : 0;
    int read_errno = errno;
    close(fd);
    if (!text)
        return allot_fail(err, len, -ALLOT_ENOMEM, "out of memory");
    if (n < 0) {
        free(text);
        return allot_fail(err, len, -ALLOT_EIO, "%s: %s", path, strerror(read_errno));
    }
    if (got > max) {
        free(text);
        return allot_fail(err, len, -ALLOT_ERANGE, "%s: not a regular file of at most %zu bytes",
                          path, max);
    }
    json_error_t jerr;
    json_t *v = json_loadb(text, got, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!json_is_object(v)) {
        json_decref(v);
        return allot_fail(err, len, -ALLOT_EPARSE, "%s: line %d: %s", path, v ? 1 : jerr.line,
                          v ? "not a JSON object" : jerr.text);
    }
    *out = v;
    return 0;
}

int jsonfile_write(const char *path, const json_t *value, mode_t mode, char *err, size_t len)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return allot_fail(err, len, -ALLOT_EINVAL, "%s: path too long", path);
    /* one write of the whole text: json_dumpfd writes each token by itself (a system call per
     * quote and colon) */
    char *text = json_dumps(value, JSON_COMPACT);
    if (!text)
        return allot_fail(err, len, -ALLOT_EIO, "%s: cannot encode it (out of memory)", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    size_t n = strlen(text), done = 0;
    bool ok = fd >= 0;
    while (ok && done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if (w > 0)
            done += (size_t)w;
        else if (w == 0 || errno != EINTR)
            ok = false;
    }
    free(text);
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        int saved = errno;
        unlink(tmp);
        return allot_fail(err, len, -ALLOT_EIO, "%s: %s", path, strerror(saved));
    }
    return 0;
}
