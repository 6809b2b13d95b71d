/* The intake of allotd's requests: per-token and per-tenant rate caps (token buckets) and
 * queues served round-robin, by tenant and by token inside a tenant, so that one tenant's
 * flood waits its turn and others' requests do not; node agents' requests first in each turn,
 * up to a bound (docs/operations.md, "Fair service").
 * Pure: the time is given and the items are the caller's; server.c runs it on the loop. */
#ifndef ALLOT_ALLOTD_INTAKE_H
#define ALLOT_ALLOTD_INTAKE_H

#include <stdbool.h>
#include <stdint.h>

/* Requests of one token, and of one tenant's tokens together, that may wait their turn; one
 * more is refused (429). */
#define INTAKE_TOKEN_QUEUE 256
#define INTAKE_TENANT_QUEUE 1024
/* Tokens the intake remembers (their buckets and queues) by default: at that many, those
 * with nothing waiting are forgotten (their buckets start full again). */
#define INTAKE_MAX_TOKENS 65536
/* The most a rate cap may be, requests per second. */
#define INTAKE_MAX_RATE 1000000

struct intake_options {
    uint32_t token_rate;  /* requests per second one token may make (0: no cap) */
    uint32_t tenant_rate; /* requests per second of all a tenant's tokens (0: no cap) */
    uint32_t burst;       /* requests a cap lets through at once (0: one second's worth) */
    uint32_t max_tokens;  /* tokens remembered (0: INTAKE_MAX_TOKENS) */
};

/* Why a request was refused: the cap ("token_rate", "tenant_rate", "token_queue",
 * "tenant_queue"), its value and when to retry. */
struct intake_refusal {
    const char *cap;
    uint32_t limit; /* requests per second, or queued requests */
    int retry_s;    /* whole seconds, at least 1 */
};

/* Node agents' requests one turn serves before the tenants' (intake_pop_agent): a turn stays
 * short (a report costs tens of µs) when thousands of agents report at once, after a leader's
 * start, and the API is served in every turn. */
#define INTAKE_AGENTS_PER_TURN 256

/* Counters for /metrics. */
struct intake_stats {
    uint64_t rate_refused;   /* over a rate cap */
    uint64_t queue_refused;  /* over a queue bound */
    uint64_t served;         /* taken in turn (intake_pop) */
    uint32_t waiting;        /* tenants' requests queued now */
    uint32_t agents_waiting; /* agents' requests queued now */
};

struct intake;

/* A new intake. OUT *out (intake_free). RET 0, -ALLOT_ENOMEM, -ALLOT_ERANGE (a rate above
 * INTAKE_MAX_RATE). */
int intake_new(const struct intake_options *opt, struct intake **out);
/* Free it; the items still queued are the caller's (take them with intake_pop first).
 * Accepts NULL. */
void intake_free(struct intake *in);

/* Charge one request of token (its public id) of tenant ("" for the platform) at now_ms
 * against the rate caps: both must have room, and only then both are charged.
 * RET 0; -ALLOT_ETOOMANY with *why; -ALLOT_ENOMEM. */
int intake_charge(struct intake *in, const char *tenant, const char *token, int64_t now_ms,
                  struct intake_refusal *why);
/* Queue item (not taken: the caller's) for its turn. RET 0; -ALLOT_ETOOMANY with *why when
 * the token's or tenant's queue is full; -ALLOT_ENOMEM. */
int intake_push(struct intake *in, const char *tenant, const char *token, void *item,
                struct intake_refusal *why);
/* The next item in turn, or NULL when none waits: one per tenant in turn, and inside a
 * tenant one per token in turn, each token's in arrival order. */
void *intake_pop(struct intake *in);

/* Queue a node agent's request (item, the caller's): never capped, in arrival order. RET 0 or
 * -ALLOT_ENOMEM. */
int intake_push_agent(struct intake *in, void *item);
/* A new turn: up to INTAKE_AGENTS_PER_TURN agents' requests may be taken in it. */
void intake_turn(struct intake *in);
/* The next agent's request of this turn, or NULL when none waits or the turn has served its
 * INTAKE_AGENTS_PER_TURN (the rest wait for the next turn, after the tenants'). */
void *intake_pop_agent(struct intake *in);

void intake_stats(const struct intake *in, struct intake_stats *out);

#endif
