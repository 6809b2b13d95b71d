/* The node agent's side of the controller's loop (docs/agent.md): reports of its GPUs and
 * replicas on two channels, the long poll and the push, and the desired set each answer
 * carries, applied unless older than the last one applied. */
#ifndef ALLOT_AGENT_REPORT_H
#define ALLOT_AGENT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/agent.h"

struct evhttp_request;

/* Build and send one report on channel ch, unless one is in flight there (a push asked for
 * meanwhile is sent once that one is answered). The poll carries the epoch and version of the
 * last desired set applied, so that the controller holds it until that set changes; each
 * answer on the poll sends the next poll. Ended replicas are forgotten once an answer that
 * acknowledges them arrives; a failed report leaves them for the next. */
void report_send(struct agent *a, enum agent_channel ch);
/* Read the modification time of each running replica's checkpoint file (its directory's
 * RUNNER_CHECKPOINT_FILE, ALLOT_CHECKPOINT_FILE to the program; lstat: a link there is not
 * followed, and only a plain file counts): one lstat per replica. The next reports carry it.
 * RET whether one changed since the last look. */
bool report_checkpoints(struct agent *a);

/* Whether a report would carry something the controller has not acknowledged and that is in
 * no report in flight: an ended replica, a running one (or its newer checkpoint), the
 * inventory. The agent pushes then (its check every --interval, and after a push's answer). */
bool report_pending(const struct agent *a);
/* Nothing is in flight on ch after all (a failed report, a connection made again): the
 * replicas and inventory a report there carried are to be sent again. */
void report_unsend(struct agent *a, enum agent_channel ch);
/* Forget what the controller has acknowledged (a new run of it, another server): the next
 * report carries every running replica and the inventory again. */
void report_forget_told(struct agent *a);

/* A request to the controller with the agent's token and body (len bytes of type), which
 * calls cb(req, ctx) with the answer. RET it (evhttp_make_request takes it), or NULL when out
 * of memory. */
struct evhttp_request *report_request_new(struct agent *a,
                                          void (*cb)(struct evhttp_request *, void *), void *ctx,
                                          const char *type, const void *body, size_t len);

/* A non-negative integer field of the controller's answer; 0 when absent or negative. */
uint64_t report_u64(const json_t *item, const char *key);

#endif
