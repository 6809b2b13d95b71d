/* The GPU-hour ledger (docs/operations.md, "GPU-hour accounting"): every attempt of a workload
 * that held GPUs, from its admission to the end of its run, is split at the hours into GPU
 * time of each GPU model and MIG profile it held, guaranteed (within its workspace's
 * reservation when it started) or borrowed (above it), and lost when preemption cut it
 * short; written with the commit that ended it, summed for GET /v1/usage with the attempts
 * still running, and counted in allot_gpu_seconds_total. */
#ifndef ALLOT_ALLOTD_USAGE_H
#define ALLOT_ALLOTD_USAGE_H

#include <stdint.h>

#include <event2/buffer.h>

#include "allotd/controller.h"

struct usage;

/* An empty ledger for ctl. OUT *out, owned by the caller (usage_free). RET 0, -ALLOT_ENOMEM. */
int usage_new(struct controller *ctl, struct usage **out);
void usage_free(struct usage *u);

/* Workload id's attempt starts (its `admitted` event): borrowed is the part of its GPU units
 * above its workspace's reservation, reclaim_ms how long it waited for borrowed GPUs to be
 * reclaimed for it (-1: it needed no reclaim, or it is not known). */
void usage_open(struct usage *u, uint32_t id, int64_t borrowed, int64_t reclaim_ms);
/* Its attempt ends at t by event e (finished, failed, cancelled, or stopped: preempted, which
 * makes its time lost). Outside a replay its rows join the next commit (usage_write). A
 * workload without an open attempt (cancelled while pending) is ignored. RET 0 or
 * -ALLOT_ENOMEM. */
int usage_close(struct usage *u, uint32_t id, const struct sched_event *e);

/* Write the rows of the attempts ended since the last commit into the open batch. RET 0 or the
 * store's error. */
int usage_write(struct usage *u);
/* The commit made them durable (committed) or the state is being rebuilt (dropped). */
void usage_committed(struct usage *u);
void usage_discard(struct usage *u);
/* After a start or a rebuild from the store: the metrics' totals from the stored rollups.
 * RET 0 or the store's error. */
int usage_reload(struct usage *u);

/* allot_gpu_seconds_total{tenant,workspace,class} into b: the workspaces of the tenants who
 * may see, their ended attempts and those running up to now. */
struct principal;
void usage_metrics(struct usage *u, struct evbuffer *b, const struct principal *who);
/* GET /v1/usage?from=&to=&by=&tenant=&workspace= for c (docs/api.md, "Usage"). */
void usage_reply(struct usage *u, struct call *c);
/* GET /v1/usage/reclaims?from=&to=&tenant=&workspace=: the reclaims measured, how long each
 * reclaimer waited from the reclaim's start to its own, with their median, p95 and max. */
void usage_reclaims_reply(struct usage *u, struct call *c);

/* Delete the rows older than before_ms. OUT *deleted (may be NULL). RET 0 or the store's
 * error. */
int usage_trim(struct usage *u, int64_t before_ms, int64_t *deleted);

#endif
