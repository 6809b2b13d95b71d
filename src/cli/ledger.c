/* `allot usage`: GPU time per tenant, workspace, user, GPU model, MIG profile, day or
 * workload over a period, from allotd's ledger (GET /v1/usage), like `sreport`: a table in
 * GPU-hours, the server's JSON (-o json), or CSV in GPU-seconds (-o csv). */
#include "cli/ledger.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/flags.h"
#include "cli/human.h"
#include "cli/table.h"
#include "common/quantity.h"

static const struct flag usage_flags[] = {
    {"since", 0, "DURATION", "from this long ago (default 7d; whole hours: the ledger is hourly)"},
    {"until", 0, "DURATION", "to this long ago (default now)"},
    {"by", 0, "KEY", "tenant, workspace (default), user, model, mig, day or workload"},
    {"tenant", 0, "TENANT", "only this tenant's (a platform admin's choice)"},
    {"workspace", 0, "TENANT/WS", "only this workspace's"},
    {NULL, 0, NULL, NULL},
};

/* GPU-seconds of key in o as GPU-hours. */
static double hours(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key)) / 3600.0;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_print(const json_t *doc, const char *by)
{
    static const char *const cols[] = {"gpu_seconds", "guaranteed", "borrowed", "lost"};
    printf("%s,gpu_seconds,guaranteed_gpu_seconds,borrowed_gpu_seconds,lost_gpu_seconds\n", by);
    size_t i;
    const json_t *o;
    json_array_foreach(json_object_get(doc, "items"), i, o)
    {
        csv_field(human_text(o, by));
        for (size_t k = 0; k < 4; k++)
            printf(",%.3f", json_number_value(json_object_get(o, cols[k])));
        printf("\n");
    }
}

/* A time of the answer (Unix seconds) as "2026-12-04 16:00". */
static const char *when(const json_t *doc, const char *key, char *buf, size_t len)
{
    time_t t = (time_t)json_integer_value(json_object_get(doc, key));
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

static int table_out(const json_t *doc, const char *by)
{
    char title[32], a[32], b[32];
    size_t n = 0;
    for (; by[n] && n + 1 < sizeof(title); n++)
        title[n] = (char)(by[n] >= 'a' && by[n] <= 'z' ? by[n] - 'a' + 'A' : by[n]);
    title[n] = '\0';
    const struct table_column columns[] = {
        {title, false},     {"GPU-HOURS", true}, {"GUARANTEED", true},
        {"BORROWED", true}, {"LOST", true},
    };
    struct table t;
    table_init(&t, columns, sizeof(columns) / sizeof(columns[0]));
    size_t i;
    const json_t *o;
    const json_t *items = json_object_get(doc, "items"), *total = json_object_get(doc, "total");
    json_array_foreach(items, i, o)
    {
        table_row(&t);
        table_cell(&t, "%s", human_text(o, by));
        table_cell(&t, "%.2f", hours(o, "gpu_seconds"));
        table_cell(&t, "%.2f", hours(o, "guaranteed"));
        table_cell(&t, "%.2f", hours(o, "borrowed"));
        table_cell(&t, "%.2f", hours(o, "lost"));
    }
    table_row(&t);
    table_cell(&t, "%s", "total");
    table_cell(&t, "%.2f", hours(total, "gpu_seconds"));
    table_cell(&t, "%.2f", hours(total, "guaranteed"));
    table_cell(&t, "%.2f", hours(total, "borrowed"));
    table_cell(&t, "%.2f", hours(total, "lost"));
    printf("GPU-hours from %s to %s UTC, by %s (work still running counts up to now; lost is "
           "the part of GPU-HOURS that preemption cut short)\n",
           when(doc, "from", a, sizeof(a)), when(doc, "to", b, sizeof(b)), by);
    int rc = table_print(&t, stdout) ? FLAGS_EXIT_FAILED : 0;
    table_cleanup(&t);
    return rc;
}

/* Append "&key=VALUE" (escaped) to path. RET 0, or FLAGS_EXIT_FAILED out of memory or room. */
static int param(struct client *cl, char *path, size_t len, const char *key, const char *value)
{
    if (!value)
        return 0;
    char *e = client_escape(cl, value);
    size_t used = strlen(path);
    int n = e ? snprintf(path + used, len - used, "&%s=%s", key, e) : -1;
    free(e);
    if (n < 0 || (size_t)n >= len - used) {
        fprintf(stderr, "allot usage: the request does not fit\n");
        return FLAGS_EXIT_FAILED;
    }
    return 0;
}

static int run_usage(const struct flag_values *v)
{
    const char *since = flags_get(v, "since"), *until = flags_get(v, "until");
    const char *by = flags_get(v, "by") ? flags_get(v, "by") : "workspace";
    int64_t since_ms = 7LL * 24 * 3600 * 1000, until_ms = 0;
    if (since && (quantity_parse_duration(since, &since_ms) || since_ms < 1))
        return flags_usage_error(v, "--since: expected a duration such as 7d or 12h");
    if (until && (quantity_parse_duration(until, &until_ms) || until_ms < 0))
        return flags_usage_error(v, "--until: expected a duration such as 1d");
    if (until_ms >= since_ms)
        return flags_usage_error(v, "--until: must be less long ago than --since");
    static const char *const keys[] = {"tenant", "workspace", "user",    "model",
                                       "mig",    "day",       "workload"};
    size_t k = 0;
    while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(by, keys[k]) != 0)
        k++;
    if (k == sizeof(keys) / sizeof(keys[0]))
        return flags_usage_error(v, "--by: expected tenant, workspace, user, model, mig, day or "
                                    "workload");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec;
    char path[1024];
    snprintf(path, sizeof(path), "/v1/usage?by=%s&from=%lld&to=%lld", by,
             now - (long long)(since_ms / 1000), now - (long long)(until_ms / 1000));
    struct client cl = {0};
    struct client_answer a = {0};
    int rc = client_open(&cl, v);
    rc = rc ? rc : param(&cl, path, sizeof(path), "tenant", flags_get(v, "tenant"));
    rc = rc ? rc : param(&cl, path, sizeof(path), "workspace", flags_get(v, "workspace"));
    rc = rc ? rc : client_fetch(&cl, "GET", path, NULL, &a);
    if (!rc) {
        if (v->json)
            client_print_json(&a);
        else if (v->csv)
            csv_print(a.json, by);
        else
            rc = table_out(a.json, by);
    }
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

static const struct flag_command ledger_commands[] = {
    {"usage", "", "GPU-hours used over a period: guaranteed, borrowed and lost to preemption.",
     "Read from allotd's ledger (GET /v1/usage), hourly: the period is widened to whole hours.\n"
     "guaranteed: within the workspace's reservation when the work started; borrowed: above\n"
     "it; lost: the part of the total whose run preemption cut short. A member sees its\n"
     "workspace, a tenant admin its tenant. -o csv prints GPU-seconds, one row per key.\n"
     "Example: allot usage --since 7d --by workspace",
     usage_flags, 0, 0, FLAGS_WRITES_CSV, run_usage},
};

int ledger_main(int argc, char **argv)
{
    return flags_dispatch(ledger_commands, 1, NULL, argc, argv);
}
