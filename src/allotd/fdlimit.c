/* allotd's file-descriptor limit (fdlimit.h): RLIMIT_NOFILE's soft limit raised for the
 * connection cap, and the cap fitted to the limit. */
#include "allotd/fdlimit.h"

#include <stdio.h>
#include <sys/resource.h>

/* The most connections a cap may name (--max-connections takes no more). */
#define FDLIMIT_MAX_CONNECTIONS 1000000

/* A limit as a count: an infinite or huge one counts as enough for any cap. */
static uint64_t count_of(rlim_t n)
{
    return n == RLIM_INFINITY || n > (rlim_t)2 * FDLIMIT_MAX_CONNECTIONS
               ? (uint64_t)2 * FDLIMIT_MAX_CONNECTIONS
               : (uint64_t)n;
}

int fdlimit_fit(uint32_t *max_connections, uint32_t reserve, char *msg, size_t len)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = 1024;
        rl.rlim_max = 1024;
    }
    uint64_t soft = count_of(rl.rlim_cur), hard = count_of(rl.rlim_max), was = soft;
    uint64_t asked = *max_connections;
    uint64_t want = asked ? asked + reserve : FDLIMIT_DEFAULT;
    if (soft < want) {
        struct rlimit raised = rl;
        raised.rlim_cur = (rlim_t)(want < hard ? want : hard);
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            soft = (uint64_t)raised.rlim_cur;
    }
    uint64_t fits = soft > reserve + 16 ? soft - reserve : 16;
    if (fits > FDLIMIT_MAX_CONNECTIONS)
        fits = FDLIMIT_MAX_CONNECTIONS;
    char raised_text[96] = "";
    if (soft != was)
        snprintf(raised_text, sizeof(raised_text), " (raised from %llu)", (unsigned long long)was);
    int too_low = 0;
    if (asked && fits < asked) {
        snprintf(msg, len,
                 "the file descriptor limit is too low for --max-connections %llu: it needs "
                 "%llu descriptors (%u kept for the store, logs and listener), the limit is %llu "
                 "(hard limit %llu)%s, room for %llu connections: past them accepts fail and the "
                 "cap is lowered to fit. Raise the hard limit (ulimit -n, LimitNOFILE= in a "
                 "systemd unit) or lower --max-connections",
                 (unsigned long long)asked, (unsigned long long)want, reserve,
                 (unsigned long long)soft, (unsigned long long)hard, raised_text,
                 (unsigned long long)fits);
        too_low = 1;
    } else if (!asked && fits < FDLIMIT_FLEET_MIN) {
        snprintf(msg, len,
                 "the file descriptor limit is too low for a fleet: %llu (hard limit %llu)%s "
                 "allows %llu connections (%u descriptors kept for the store, logs and "
                 "listener), fewer than %d. Raise the hard limit (ulimit -n, LimitNOFILE= in a "
                 "systemd unit)",
                 (unsigned long long)soft, (unsigned long long)hard, raised_text,
                 (unsigned long long)fits, reserve, FDLIMIT_FLEET_MIN);
        too_low = 1;
    } else {
        snprintf(msg, len, "file descriptor limit %llu (hard limit %llu)%s: up to %llu connections",
                 (unsigned long long)soft, (unsigned long long)hard, raised_text,
                 (unsigned long long)(asked ? asked : fits));
    }
    *max_connections = (uint32_t)(asked ? asked : fits);
    return too_low;
}
