/* Helpers shared by the fuzz harnesses (support.h): the daemon's body parsing, the reader's
 * contract check, and the input as text or as a file. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allotd/server.h"
#include "sim/trace.h"
#include "common/error.h"

void fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: broken promise: %s\n", file, line, what);
    abort();
}

json_t *fuzz_json_body(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    struct schema_error serr;
    if (body &&
        reader_check_bounds(body, SERVER_MAX_JSON_DEPTH, SERVER_MAX_JSON_ITEMS, &serr) != 0) {
        fuzz_check_reader(serr.code, &serr);
        json_decref(body);
        body = NULL;
    }
    return body;
}

int fuzz_read_body(const uint8_t *data, size_t size, fuzz_body_reader read, void *out)
{
    json_t *body = fuzz_json_body(data, size);
    if (!body)
        return 0;
    struct arena a;
    arena_init(&a, 0);
    struct schema_error err;
    memset(&err, 0x5a, sizeof(err)); /* a reader that leaves it unset is caught */
    fuzz_check_reader(read(body, &a, out, &err), &err);
    arena_cleanup(&a);
    json_decref(body);
    return 0;
}

void fuzz_check_reader(int rc, const struct schema_error *err)
{
    if (rc == 0)
        return;
    FUZZ_CHECK(rc == -ALLOT_EINVAL || rc == -ALLOT_ERANGE || rc == -ALLOT_ENOMEM);
    FUZZ_CHECK(err->code == rc);
    FUZZ_CHECK(memchr(err->field, '\0', sizeof(err->field)) != NULL);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    FUZZ_CHECK(err->message[0] != '\0');
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size))
        return NULL;
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char file_path[4096];

static void file_remove(void)
{
    unlink(file_path);
}

const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (!file_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(file_path, sizeof(file_path), "%s/allot-fuzz-XXXXXX", dir ? dir : "/tmp");
        int fd = mkstemp(file_path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(file_remove);
    }
    FILE *f = fopen(file_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return file_path;
}

int fuzz_read_trace(const uint8_t *data, size_t size, enum trace_format format)
{
    struct trace t;
    char err[512];
    memset(err, 0x5a, sizeof(err));
    int rc = trace_open(fuzz_file(data, size), format, &t, err, sizeof(err));
    if (rc != 0) {
        FUZZ_CHECK(rc == -ALLOT_EPARSE || rc == -ALLOT_ERANGE || rc == -ALLOT_EIO ||
                   rc == -ALLOT_ENOMEM);
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
        return 0;
    }
    /* the jobs come back in submission order, from 0, each within what the first pass saw */
    struct trace_job job;
    uint64_t n = 0;
    int64_t last = 0;
    while ((rc = trace_next(&t, &job)) == 1) {
        FUZZ_CHECK(job.submit_ms >= last && job.submit_ms <= t.last_submit_ms);
        FUZZ_CHECK(job.duration_ms >= 1 && job.gpus >= 1 && job.gpus <= t.max_gpus);
        FUZZ_CHECK(job.workspace < t.n_workspaces);
        last = job.submit_ms;
        n++;
    }
    FUZZ_CHECK(rc == 0 && n == t.n_jobs && n >= 1);
    trace_close(&t);
    return 0;
}
