/* GET /metrics: the Prometheus text format, filtered to what the caller may see. */
#ifndef ALLOT_ALLOTD_METRICS_H
#define ALLOT_ALLOTD_METRICS_H

struct controller;
struct call;

/* Answer c with the metrics its principal may see (a tenant's users: their tenant only). */
void metrics_reply(struct controller *ctl, struct call *c);

#endif
