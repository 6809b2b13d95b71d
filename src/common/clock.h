/* The monotonic clock, for durations and deadlines within one process (never for times that
 * are stored or shown: those are the controller's own clock, controller_now). */
#ifndef ALLOT_COMMON_CLOCK_H
#define ALLOT_COMMON_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
int64_t clock_mono_us(void);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t clock_mono_ms(void);

#endif
