/* A standby allotd: while another allotd leads the PostgreSQL store, this one serves only
 * its role (GET /healthz, /readyz) and points every other request to the leader (307 with
 * the leader's URL, or 503 while none is alive), and tries to take the lead every
 * STANDBY_RETRY_MS. When it leads, the caller starts the controller on the store, which
 * replays to the current state. docs/operations.md, "A leader and standbys". */
#ifndef ALLOT_ALLOTD_STANDBY_H
#define ALLOT_ALLOTD_STANDBY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "allotd/gate.h"

#define STANDBY_RETRY_MS 250

struct store;

/* Where and how the standby listens: the leader's own address, so that clients find the
 * leader at the same URL once this one takes over. */
struct standby_options {
    const char *location; /* the store's PostgreSQL URI */
    const char *url;      /* the URL this allotd announces as leader */
    const char *addr;
    uint16_t port;
    const char *tls_cert, *tls_key; /* both or neither */
    const struct gate_options *limits;
};

/* Open the store; if another allotd leads it, serve as a standby on base until this one
 * takes the lead or the loop is stopped (SIGINT, SIGTERM: event_base_loopexit). The
 * standby's listener is closed before this returns.
 * OUT *out: the store, leading (store_epoch > 0), owned by the caller.
 * RET 0; 1 when stopped before leading (*out NULL); a negative error with a sentence in err. */
int standby_wait(struct event_base *base, const struct standby_options *opt, struct store **out,
                 char *err, size_t len);

#endif
