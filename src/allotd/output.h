/* Workloads' output (stdout, stderr) as their node agents ship it: chunks accepted at byte
 * offsets, made durable with the next commit, and read back for `allot logs`. The output
 * store owns its state (struct output): output_new makes it, output_free frees it. */
#ifndef ALLOT_ALLOTD_OUTPUT_H
#define ALLOT_ALLOTD_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "allotd/controller.h"

/* Bytes of one stream kept by the controller; beyond, the agent's copy on its node is the
 * whole log. */
#define OUTPUT_STREAM_MAX (16LL << 20)

/* Which log: replica rank of attempt (1 = first start) of workload id, stream "stdout" or
 * "stderr". */
struct output_key {
    uint32_t workload;
    int rank, attempt;
    const char *stream;
};

struct output;

/* The output store of ctl (which must outlive it), empty. OUT *out, owned by the caller
 * (output_free). RET 0 or -ALLOT_ENOMEM. */
int output_new(struct controller *ctl, struct output **out);
/* Free it with the chunks not written. Accepts NULL. */
void output_free(struct output *o);
/* Drop the chunks not written and the known ends of streams (the controller rebuilds its
 * state from the store, where the ends are read again). Accepts NULL. */
void output_discard(struct output *o);

/* Accept len bytes at offset from node's agent. Bytes it already has are skipped; bytes
 * after a gap are not taken (the agent resumes from *end). Bytes beyond OUTPUT_STREAM_MAX
 * are dropped. OUT *end: where the next bytes go.
 * RET 0; -ALLOT_ENOENT (no such replica ran on node), -ALLOT_EINVAL with field and
 * sentence; -ALLOT_EIO, -ALLOT_ENOMEM. */
int output_accept(struct output *o, uint32_t node, const struct output_key *k, int64_t offset,
                  const void *data, size_t len, int64_t *end, char *field, size_t field_len,
                  char *err, size_t err_len);
/* Where a chunk of len bytes (at most STORE_LOG_CHUNK_MAX) at offset (>= 0) lands in a
 * stream that ends at at (0 to OUTPUT_STREAM_MAX): the first *skip bytes are there already
 * (at - offset when it starts before at, which may be more than len), the *take after them
 * are kept (none after a gap, none beyond OUTPUT_STREAM_MAX), and *end
 * is where the agent goes on from. Cannot fail. */
void output_span(int64_t at, int64_t offset, size_t len, size_t *skip, size_t *take, int64_t *end);
/* Write the accepted chunks into the open batch. RET 0 or the store's error. */
int output_write(struct output *o);
/* Whether chunks wait for the next commit. */
bool output_pending(const struct output *o);
/* Append up to max durable bytes from offset on of workload name's stream k (k->workload is
 * not used: the name says which, also for one that has left the engine for the history) to
 * b. OUT *got; *start: where they begin (after offset when the retention deleted what was
 * there, store_log_read); *trimmed: bytes of the attempt the retention deleted.
 * RET 0, -ALLOT_EINVAL, -ALLOT_EIO, -ALLOT_ENOMEM. */
int output_read_named(struct output *o, const char *name, const struct output_key *k,
                      int64_t offset, size_t max, struct evbuffer *b, size_t *got, int64_t *start,
                      int64_t *trimmed);

#endif
