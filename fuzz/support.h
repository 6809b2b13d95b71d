/* What every fuzz harness shares: libFuzzer's entry point, the daemon's way of reading a JSON
 * body, and the checks of a reader's contract that turn a broken promise into a crash. */
#ifndef ALLOT_FUZZ_SUPPORT_H
#define ALLOT_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sim/trace.h"
#include "common/arena.h"
#include "schema/reader.h"

/* libFuzzer calls it once per input; it returns 0 (anything else is reserved). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a finding) unless cond holds: what the code under test promised. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))
_Noreturn void fuzz_fail(const char *what, const char *file, int line);

/* The body as allotd reads a request's (server.c): json_loadb with JSON_REJECT_DUPLICATES,
 * then reader_check_bounds with the server's depth and item bounds. RET the parsed value
 * (json_decref it), or NULL when the daemon answers 400 before any reader sees it. */
json_t *fuzz_json_body(const uint8_t *data, size_t size);

/* A reader of one body: an adapter around one of schema/'s readers, which checks what it
 * promises of *out when it returns 0. */
typedef int (*fuzz_body_reader)(const json_t *body, struct arena *a, void *out,
                                struct schema_error *err);
/* Read the input as a request body (fuzz_json_body) with read, check its answer
 * (fuzz_check_reader) and free everything. RET 0, for LLVMFuzzerTestOneInput to return. */
int fuzz_read_body(const uint8_t *data, size_t size, fuzz_body_reader read, void *out);

/* A reader's answer against its contract (schema/reader.h): 0, or a negative error of the
 * reader's kinds with err->code equal to it, a NUL-terminated field and a message. */
void fuzz_check_reader(int rc, const struct schema_error *err);

/* A NUL-terminated copy of the input, or NULL when it holds a NUL byte (text that arrives as
 * a C string cannot). free() it. */
char *fuzz_text(const uint8_t *data, size_t size);

/* The path of a file (one per process, rewritten by each call) that holds the input, for
 * readers that open a path. */
const char *fuzz_file(const uint8_t *data, size_t size);

/* Read the input as a job trace of format (a file, trace_open), hand every job back
 * (trace_next) and check the order and bounds trace.h promises. RET 0. */
int fuzz_read_trace(const uint8_t *data, size_t size, enum trace_format format);

#endif
