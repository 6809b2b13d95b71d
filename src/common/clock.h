/* The monotonic clock, for durations and deadlines within one process (never for times that
 * are stored or shown: those are the controller's own clock, controller_now); and the wall
 * clock, for a deadline another process reads. */
#ifndef ALLOT_COMMON_CLOCK_H
#define ALLOT_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
int64_t clock_mono_us(void);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_mono_ms(void);
/* CLOCK_REALTIME in milliseconds since the epoch: only for a deadline that another process
 * reads (the agent's keeper), never for a duration. */
int64_t clock_real_ms(void);

#endif
