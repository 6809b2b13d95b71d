/* Parsing and printing of quantities: durations ("30s", "1h30m"), bytes ("64Gi"),
 * CPUs ("16", "500m") and GPUs as exact fractions ("4", "0.5", "3/7"). */
#ifndef ALLOT_COMMON_QUANTITY_H
#define ALLOT_COMMON_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

/* GPU amounts are integers in units of 1/840 GPU: 840 = lcm(1..8), so every MIG slice share
 * (sevenths of compute, eighths of memory, quarters on A30) and every decimal with up to
 * three places that divides evenly is exact. See docs/policy.md, "Charging MIG slices". */
#define QUANTITY_GPU_UNITS 840

/* Largest value any parser returns: keeps sums of many quantities far from overflow. */
#define QUANTITY_MAX ((int64_t)1 << 52)

/* Duration to milliseconds: a sequence of <number><unit>, unit one of ms s m h d
 * ("1h30m", "500ms"); a bare number is seconds. RET: 0, -ALLOT_EPARSE, -ALLOT_ERANGE. */
int quantity_parse_duration(const char *s, int64_t *ms);
/* Bytes: a number with an optional suffix Ki Mi Gi Ti Pi (powers of 1024) or k M G T P
 * (powers of 1000); fractions allowed if the result is whole ("1.5Gi").
 * RET: 0, -ALLOT_EPARSE, -ALLOT_ERANGE. */
int quantity_parse_bytes(const char *s, int64_t *bytes);
/* CPUs to millicores: "16", "0.5", "500m". RET: 0, -ALLOT_EPARSE, -ALLOT_ERANGE. */
int quantity_parse_cpu(const char *s, int64_t *millicores);
/* GPUs to units of 1/QUANTITY_GPU_UNITS: "4", "0.5", "3/7". Only exact values are
 * accepted. RET: 0, -ALLOT_EPARSE, -ALLOT_ERANGE (negative, too large or not exact). */
int quantity_parse_gpu(const char *s, int64_t *units);

/* Printers write a NUL-terminated text into buf (always, truncating) and return buf. */
char *quantity_format_duration(int64_t ms, char *buf, size_t len);
char *quantity_format_bytes(int64_t bytes, char *buf, size_t len);
char *quantity_format_cpu(int64_t millicores, char *buf, size_t len);
/* "4", "0.5", "3/7", "1+3/7". */
char *quantity_format_gpu(int64_t units, char *buf, size_t len);

#endif
