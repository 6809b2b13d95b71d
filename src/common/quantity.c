/* Quantity parsers: decimal numbers are read as exact rationals (integer numerator and a
 * power-of-ten denominator) so that nothing passes through floating point. */
#include "common/quantity.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* An exact non-negative decimal num / den with den a power of ten (den <= 10^9). */
struct decimal {
    int64_t num;
    int64_t den;
};

/* Read "123", "1.25" or ".5" at *p, advancing it. RET: 0, -ALLOT_EPARSE, -ALLOT_ERANGE. */
static int decimal_read(const char **p, struct decimal *d)
{
    const char *s = *p;
    int64_t num = 0, den = 1;
    bool digits = false, dot = false;
    for (;; s++) {
        if (isdigit((unsigned char)*s)) {
            /* the digits may go beyond QUANTITY_MAX ("5000069881751.875" GPUs, as
             * quantity_format_gpu prints 2^52 - 1 units): the range is the scaled value's */
            if (num > (INT64_MAX - 9) / 10)
                return -ALLOT_ERANGE;
            if (dot) {
                if (den >= 1000000000)
                    return -ALLOT_ERANGE;
                den *= 10;
            }
            num = num * 10 + (*s - '0');
            digits = true;
        } else if (*s == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits)
        return -ALLOT_EPARSE;
    d->num = num;
    d->den = den;
    *p = s;
    return 0;
}

/* d * scale when that is a whole number within range. */
static int decimal_scale(const struct decimal *d, int64_t scale, int64_t *out)
{
    /* num < 2^63 and scale <= 2^50, so the product fits in 128 bits. */
    __int128 v = (__int128)d->num * scale;
    if (v % d->den != 0)
        return -ALLOT_ERANGE;
    v /= d->den;
    if (v > QUANTITY_MAX)
        return -ALLOT_ERANGE;
    *out = (int64_t)v;
    return 0;
}

static const char *skip_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

static bool at_end(const char *s)
{
    return *skip_space(s) == '\0';
}

int quantity_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *p = skip_space(s);
    int64_t total = 0;
    bool any = false;
    if (*p == '-')
        return -ALLOT_ERANGE;
    while (!at_end(p)) {
        struct decimal d;
        int err = decimal_read(&p, &d);
        if (err)
            return err;
        int64_t scale = 0;
        if (at_end(p) && !any) {
            scale = 1000; /* bare number: seconds */
        } else {
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t n = strlen(units[i].unit);
                if (strncmp(p, units[i].unit, n) == 0 && !isalpha((unsigned char)p[n])) {
                    scale = units[i].ms;
                    p += n;
                    break;
                }
            }
            if (!scale)
                return -ALLOT_EPARSE;
        }
        int64_t part;
        err = decimal_scale(&d, scale, &part);
        if (err)
            return err;
        total += part;
        if (total > QUANTITY_MAX)
            return -ALLOT_ERANGE;
        any = true;
    }
    if (!any)
        return -ALLOT_EPARSE;
    *ms = total;
    return 0;
}

int quantity_parse_bytes(const char *s, int64_t *bytes)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } suffixes[] = {
        {"Ki", 1LL << 10},
        {"Mi", 1LL << 20},
        {"Gi", 1LL << 30},
        {"Ti", 1LL << 40},
        {"Pi", 1LL << 50},
        {"k", 1000},
        {"K", 1000},
        {"M", 1000000},
        {"G", 1000000000},
        {"T", 1000000000000LL},
        {"P", 1000000000000000LL},
    };
    const char *p = skip_space(s);
    if (*p == '-')
        return -ALLOT_ERANGE;
    struct decimal d;
    int err = decimal_read(&p, &d);
    if (err)
        return err;
    int64_t mult = 1;
    if (!at_end(p)) {
        mult = 0;
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
            size_t n = strlen(suffixes[i].suffix);
            if (strncmp(p, suffixes[i].suffix, n) == 0) {
                mult = suffixes[i].mult;
                p += n;
                break;
            }
        }
        if (!mult || !at_end(p))
            return -ALLOT_EPARSE;
    }
    return decimal_scale(&d, mult, bytes);
}

int quantity_parse_cpu(const char *s, int64_t *millicores)
{
    const char *p = skip_space(s);
    if (*p == '-')
        return -ALLOT_ERANGE;
    struct decimal d;
    int err = decimal_read(&p, &d);
    if (err)
        return err;
    int64_t scale = 1000;
    if (*p == 'm') {
        scale = 1;
        p++;
    }
    if (!at_end(p))
        return -ALLOT_EPARSE;
    return decimal_scale(&d, scale, millicores);
}

int quantity_parse_gpu(const char *s, int64_t *units)
{
    const char *p = skip_space(s);
    if (*p == '-')
        return -ALLOT_ERANGE;
    struct decimal d;
    int err = decimal_read(&p, &d);
    if (err)
        return err;
    p = skip_space(p);
    if (*p == '/') {
        /* a fraction of integers: "3/7" */
        if (d.den != 1)
            return -ALLOT_EPARSE;
        p = skip_space(p + 1);
        struct decimal q;
        err = decimal_read(&p, &q);
        if (err)
            return err;
        if (q.den != 1 || !at_end(p))
            return -ALLOT_EPARSE;
        if (q.num == 0)
            return -ALLOT_ERANGE;
        d.den = q.num;
    } else if (!at_end(p)) {
        return -ALLOT_EPARSE;
    }
    return decimal_scale(&d, QUANTITY_GPU_UNITS, units);
}

char *quantity_format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t used = 0;
    buf[0] = '\0';
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    if (ms < 0) {
        used += (size_t)snprintf(buf, len, "-");
        ms = -ms;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && used < len; i++) {
        if (ms >= units[i].ms) {
            used += (size_t)snprintf(buf + used, len - used, "%" PRId64 "%s", ms / units[i].ms,
                                     units[i].unit);
            ms %= units[i].ms;
        }
    }
    return buf;
}

char *quantity_format_bytes(int64_t bytes, char *buf, size_t len)
{
    static const char *const names[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    size_t i = 0;
    while (i + 1 < sizeof(names) / sizeof(names[0]) && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        i++;
    }
    snprintf(buf, len, "%" PRId64 "%s", bytes, names[i]);
    return buf;
}

char *quantity_format_cpu(int64_t millicores, char *buf, size_t len)
{
    if (millicores % 1000 == 0)
        snprintf(buf, len, "%" PRId64, millicores / 1000);
    else
        snprintf(buf, len, "%" PRId64 "m", millicores);
    return buf;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

char *quantity_format_gpu(int64_t units, char *buf, size_t len)
{
    const int64_t u = QUANTITY_GPU_UNITS;
    int64_t whole = units / u, rest = units % u;
    if (rest == 0) {
        snprintf(buf, len, "%" PRId64, whole);
    } else if ((rest * 1000) % u == 0) {
        int64_t milli = rest * 1000 / u;
        char frac[8];
        snprintf(frac, sizeof(frac), "%03" PRId64, milli);
        for (int i = 2; i > 0 && frac[i] == '0'; i--)
            frac[i] = '\0';
        snprintf(buf, len, "%" PRId64 ".%s", whole, frac);
    } else {
        int64_t g = gcd64(rest, u);
        if (whole)
            snprintf(buf, len, "%" PRId64 "+%" PRId64 "/%" PRId64, whole, rest / g, u / g);
        else
            snprintf(buf, len, "%" PRId64 "/%" PRId64, rest / g, u / g);
    }
    return buf;
}
