/* allotd's file-descriptor limit: raised at start toward the hard limit for its connection
 * cap, with the numbers said when the system's limit is too low (docs/operations.md,
 * "File descriptors"). */
#ifndef ALLOT_ALLOTD_FDLIMIT_H
#define ALLOT_ALLOTD_FDLIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Without --max-connections, the soft limit is raised toward this many descriptors (no
 * higher than the hard limit), and the cap is what it then allows. */
#define FDLIMIT_DEFAULT 65536
/* A derived cap below this many connections is named too low for a fleet. */
#define FDLIMIT_FLEET_MIN 1000

/* Fit RLIMIT_NOFILE to the connection cap: the soft limit is raised (never lowered) toward
 * the hard limit until it holds *max_connections connections and reserve descriptors for
 * everything else. A cap asked for stays as asked even when the limit cannot hold it (the
 * gate lowers it at the first accept that fails for want of descriptors, gate.h); a derived
 * cap is what the limit holds (16 at least). IN/OUT *max_connections: the cap asked for (0:
 * as many as FDLIMIT_DEFAULT descriptors allow), then the cap to serve. OUT msg: one sentence
 * with the limits and the cap (and, when too low, what to raise). RET 0; 1 when the limit is
 * too low for the cap asked for, or a derived cap is below FDLIMIT_FLEET_MIN. Cannot fail. */
int fdlimit_fit(uint32_t *max_connections, uint32_t reserve, char *msg, size_t len);

#endif
