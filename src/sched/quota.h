/* Workspace accounting: what each workspace holds, drains and claims; its position against
 * its reservation (guaranteed vs borrowed); its limits; and GPU time split at the
 * reservation. The words are those of docs/policy.md. */
#ifndef ALLOT_SCHED_QUOTA_H
#define ALLOT_SCHED_QUOTA_H

#include "sched/sched.h"

/* a += sign * b, for every resource. */
void quota_add(struct sched_resources *a, const struct sched_resources *b, int sign);
/* GPU units the workspace will hold once its draining workloads are gone and its
 * reclaiming ones run: held - draining + claimed. */
int64_t quota_position(const struct sched_workspace *ws);
/* Units of its position above its reservation (0 when within it). */
int64_t quota_borrowed(const struct sched_workspace *ws);
/* Would ws stay within every limit with `more` added to what it holds and claims?
 * RET true, or false with *which set to the first limit that would be exceeded. */
bool quota_fits_limits(const struct sched_workspace *ws, const struct sched_resources *more,
                       enum sched_resource *which);
/* GPU units the workspace ws may borrow now: the tenant's free units less the idle
 * reservations of the other workspaces that do not lend. */
int64_t quota_borrowable(const struct sched *s, uint32_t ws);
/* Add GPU time from ws->acct_ms up to now to its guaranteed and borrowed totals. Call
 * before anything changes what it holds or reserves. */
void quota_account(struct sched_workspace *ws, int64_t now);
/* Name of a resource ("gpu"). */
const char *quota_resource_name(enum sched_resource r);
/* Value of one resource in a set. */
int64_t quota_get(const struct sched_resources *r, enum sched_resource which);
/* Print an amount of a resource in its unit ("4", "64Gi", "500m"). */
char *quota_format(enum sched_resource which, int64_t v, char *buf, size_t len);

#endif
