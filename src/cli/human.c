/* Reading the daemon's JSON views for people: every accessor tolerates a missing or mistyped
 * field (the daemon may be newer than the client), and every text is bounded by its buffer. */
#include "cli/human.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/quantity.h"

const char *human_text(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

int64_t human_int(const json_t *o, const char *key, int64_t fallback)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

/* Append printf-style text at *used of buf (len bytes), never past the end. */
static void add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < len ? *used + (size_t)n : len - 1;
}

char *human_replica(const json_t *rp, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    add(buf, len, &used, "%s", human_text(rp, "node"));
    const json_t *gpus = json_object_get(rp, "gpus");
    if (json_object_get(rp, "profile")) {
        add(buf, len, &used, "/gpu%lld:%s@%lld", (long long)human_int(rp, "gpu", -1),
            human_text(rp, "profile"), (long long)human_int(rp, "start", -1));
        return buf;
    }
    size_t n = json_array_size(gpus);
    if (n == 0)
        return buf;
    add(buf, len, &used, "[");
    for (size_t i = 0; i < n; i++) {
        /* a run of consecutive indexes prints as "a-b" */
        json_int_t first = json_integer_value(json_array_get(gpus, i)), last = first;
        while (i + 1 < n && json_integer_value(json_array_get(gpus, i + 1)) == last + 1)
            last++, i++;
        const char *comma = used && buf[used - 1] != '[' ? "," : "";
        if (last > first)
            add(buf, len, &used, "%s%lld-%lld", comma, (long long)first, (long long)last);
        else
            add(buf, len, &used, "%s%lld", comma, (long long)first);
    }
    add(buf, len, &used, "]");
    return buf;
}

char *human_placement(const json_t *placement, char *buf, size_t len)
{
    size_t used = 0;
    char one[256];
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(placement); i++)
        add(buf, len, &used, "%s%s", i ? "," : "",
            human_replica(json_array_get(placement, i), one, sizeof(one)));
    if (!buf[0])
        snprintf(buf, len, "-");
    return buf;
}

int human_gpu_units(const json_t *v, int64_t *units)
{
    *units = 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > QUANTITY_MAX / QUANTITY_GPU_UNITS)
            return -ALLOT_EPARSE;
        *units = (int64_t)x * QUANTITY_GPU_UNITS;
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s)
        return -ALLOT_EPARSE;
    /* "1+3/7": a whole part and a fraction */
    const char *plus = strchr(s, '+');
    int64_t whole = 0, part = 0;
    char head[32];
    if (plus) {
        if ((size_t)(plus - s) >= sizeof(head))
            return -ALLOT_EPARSE;
        memcpy(head, s, (size_t)(plus - s));
        head[plus - s] = '\0';
        if (quantity_parse_gpu(head, &whole) || quantity_parse_gpu(plus + 1, &part))
            return -ALLOT_EPARSE;
    } else if (quantity_parse_gpu(s, &part)) {
        return -ALLOT_EPARSE;
    }
    *units = whole + part;
    return 0;
}

char *human_gpu(int64_t units, char *buf, size_t len)
{
    return quantity_format_gpu(units, buf, len);
}

char *human_age(int64_t epoch_ms, char *buf, size_t len)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t s = ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - epoch_ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, len, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else if (s < 86400)
        snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    return buf;
}

char *human_time(int64_t epoch_ms, char *buf, size_t len)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, len, "-");
    return buf;
}

char *human_clock(int64_t epoch_ms, char *buf, size_t len)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
        snprintf(buf, len, "--:--:--");
    return buf;
}
