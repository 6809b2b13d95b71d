/* Reading the daemon's JSON views for people: fields with a fallback, placements in the
 * simulator's compact form ("gpu-a[0-3]"), GPU amounts, ages and times. */
#ifndef ALLOT_CLI_HUMAN_H
#define ALLOT_CLI_HUMAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The string at key of o, or "-" when it is absent, null or not a string. Never NULL. */
const char *human_text(const json_t *o, const char *key);
/* The integer at key of o, or fallback. */
int64_t human_int(const json_t *o, const char *key, int64_t fallback);

/* Placement list [{node, gpus: [i...]} | {node, gpu, profile, start}] as
 * "gpu-a[0-3],gpu-b[0-7]" or "gpu-a/gpu7:3g.40gb@4"; "-" when empty. Always NUL-terminates
 * buf (cut when it is too short). RET buf. */
char *human_placement(const json_t *placement, char *buf, size_t len);
/* One replica's placement ({node, ...}) in the same form. RET buf. */
char *human_replica(const json_t *replica, char *buf, size_t len);

/* A GPU amount as the daemon prints it ("4", "0.5", "3/7", "1+3/7"), or an integer, in units
 * of 1/QUANTITY_GPU_UNITS. RET 0, or -ALLOT_EPARSE (then *units is 0). */
int human_gpu_units(const json_t *v, int64_t *units);
/* units as the daemon prints GPU amounts. RET buf. */
char *human_gpu(int64_t units, char *buf, size_t len);

/* Time since epoch_ms ("45s", "12m", "3h5m", "2d4h"; "0s" for the future). RET buf. */
char *human_age(int64_t epoch_ms, char *buf, size_t len);
/* epoch_ms as "2026-11-24 06:23:50 UTC". RET buf. */
char *human_time(int64_t epoch_ms, char *buf, size_t len);
/* epoch_ms as the local time of day, "14:02:11" (the watcher's clock). RET buf. */
char *human_clock(int64_t epoch_ms, char *buf, size_t len);

#endif
