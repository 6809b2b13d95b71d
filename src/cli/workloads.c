/* The workload subcommands of `allot` (submit, ls, describe, cancel, logs): flags checked
 * before anything is sent, one request per step, and the daemon's workload view shown as a
 * table or a description; ls --watch then follows the event stream. Submit itself is in
 * submit.c. The table below is their grammar and help (docs/cli.md). */
#include "cli/workloads.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/flags.h"
#include "cli/human.h"
#include "cli/submit.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/quantity.h"
#include "sched/sched.h"

#define WORKLOADS_PAGE_DEFAULT 100 /* ls without --all: the daemon's default page */
#define WORKLOADS_PAGE_MAX 1000    /* the daemon's largest page */
#define WORKLOADS_LIST_MAX 1000000 /* ls --all stops here, whatever the daemon says */

/* ---- ls -------------------------------------------------------------------------------- */

/* "8", "8x2", "3g.40gb", "3g.40gbx4": what each replica asks and how many. */
static void request_text(const json_t *w, char *buf, size_t len)
{
    int64_t replicas = human_int(w, "replicas", 1);
    const char *mig = json_string_value(json_object_get(w, "mig"));
    char one[64];
    if (mig)
        snprintf(one, sizeof(one), "%s", mig);
    else
        snprintf(one, sizeof(one), "%lld", (long long)human_int(w, "gpus", 0));
    if (replicas > 1)
        snprintf(buf, len, "%sx%lld", one, (long long)replicas);
    else
        snprintf(buf, len, "%s", one);
}

/* Whether workload view w's state is one of the NULL-ended names. */
static bool state_is(const json_t *w, const char *const *names)
{
    const char *state = human_text(w, "state");
    for (; *names; names++)
        if (strcmp(state, *names) == 0)
            return true;
    return false;
}

static const char *const states_holding[] = {"running", "draining", NULL};
static const char *const states_ended[] = {"finished", "failed", "cancelled", "rejected", NULL};
/* ended after it was taken (a rejection's detail stays its reason) */
static const char *const states_ran_out[] = {"finished", "failed", "cancelled", NULL};

/* How the last run of w ended, as its agent reported it ("exit code 3", "signal 9", and
 * with_reason the agent's sentence), into buf; "" when no end was reported. RET buf. */
static char *exit_text(const json_t *w, bool with_reason, char *buf, size_t len)
{
    const json_t *exit_info = json_object_get(w, "exit");
    const json_t *code = json_object_get(exit_info, "code"),
                 *sig = json_object_get(exit_info, "signal");
    const char *reason = json_string_value(json_object_get(exit_info, "reason"));
    int n = 0;
    buf[0] = '\0';
    if (json_integer_value(sig))
        n = snprintf(buf, len, "signal %lld", (long long)json_integer_value(sig));
    else if (json_is_integer(code))
        n = snprintf(buf, len, "exit code %lld", (long long)json_integer_value(code));
    if (with_reason && reason && *reason && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "%s%s", n ? ": " : "", reason);
    return buf;
}

static const struct table_column ls_columns[] = {
    {"NAME", false}, {"STATE", false},   {"KIND", false}, {"GPUS", true},
    {"PRIO", true},  {"ATTEMPTS", true}, {"AGE", true},   {"DETAIL", false},
};

static void ls_row(struct table *t, const json_t *w)
{
    char req[96], age[32], where[1024], how[320];
    table_row(t);
    table_cell(t, "%s", human_text(w, "name"));
    table_cell(t, "%s", human_text(w, "state"));
    table_cell(t, "%s", human_text(w, "kind"));
    request_text(w, req, sizeof(req));
    table_cell(t, "%s", req);
    table_cell(t, "%lld", (long long)human_int(w, "priority", 0));
    table_cell(t, "%lld", (long long)human_int(w, "attempts", 0));
    table_cell(t, "%s", human_age(human_int(w, "submitted", 0), age, sizeof(age)));
    if (json_object_get(w, "placement"))
        table_cell(t, "%s%s",
                   human_placement(json_object_get(w, "placement"), where, sizeof(where)),
                   json_is_true(json_object_get(w, "borrowed")) ? " (borrowed)" : "");
    else if (state_is(w, states_ran_out) && json_is_integer(json_object_get(w, "ended"))) {
        exit_text(w, false, how, sizeof(how));
        table_cell(t, "%s%sended %s ago", how, how[0] ? ", " : "",
                   human_age(human_int(w, "ended", 0), age, sizeof(age)));
    } else
        table_cell(t, "%s", human_text(w, "reason"));
}

/* The query of one page, newest first, into path (len bytes); before < 0: from the newest.
 * RET 0, or FLAGS_EXIT_FAILED after printing why (memory, or a query longer than len, which
 * checked names cannot make). */
static int ls_path(struct client *cl, const char *ws, const char *state, int64_t limit,
                   int64_t before, char *path, size_t len)
{
    char *ews = ws ? client_escape(cl, ws) : NULL,
         *estate = state ? client_escape(cl, state) : NULL;
    int rc = 0, n = 0;
    if ((ws && !ews) || (state && !estate)) {
        fprintf(stderr, "allot: out of memory\n");
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    n = snprintf(path, len, "/v1/workloads?order=newest&limit=%lld%s%s%s%s", (long long)limit,
                 ews ? "&workspace=" : "", ews ? ews : "", estate ? "&state=" : "",
                 estate ? estate : "");
    if (n >= 0 && (size_t)n < len && before >= 0)
        n += snprintf(path + n, len - (size_t)n, "&before=%lld", (long long)before);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "allot: the query is too long\n");
        rc = FLAGS_EXIT_FAILED;
    }
out:
    free(ews);
    free(estate);
    return rc;
}

/* Where a one-page ls stopped: the flags of the next page (next < 0: none), said on stderr
 * and, with -o json, as "next" (the --before) and "next_state" (a --state it needs). */
struct ls_rest {
    int64_t next;
    const char *state; /* NULL: the same flags as this page */
    bool more;
};

/* Print the list of workloads as ls does (docs/cli.md, "ls"): without --state, the active ones
 * (pending, reclaiming, running, draining) then the ended ones, each newest first; with
 * --state, that state's. One page of limit, or with --all every page (-o json: one
 * {"items": [...]} with "next" when more follow). before >= 0: the active ones (or those of
 * state) submitted before that seq, as a page's "next" says. A workload that ended while the
 * list was read is shown once. RET 0 or an exit code. */
static int ls_list(const struct flag_values *v, struct client *cl, const char *ws,
                   const char *state, bool all, int64_t limit, int64_t before)
{
    const char *phases[2] = {state ? state : "active", state ? NULL : "ended"};
    char path[512];
    struct client_answer a = {0};
    struct table t;
    json_t *items = json_array(), *seen = json_object();
    struct ls_rest rest = {-1, NULL, false};
    size_t listed = 0;
    int rc = 0;
    table_init(&t, ls_columns, sizeof(ls_columns) / sizeof(ls_columns[0]));
    if (!items || !seen)
        goto oom;
    for (int p = 0; p < 2 && phases[p] && !rest.more; p++) {
        for (int64_t cursor = p == 0 ? before : -1;;) {
            /* one page: ask for what is left of it, or for one to know whether more follow */
            int64_t want = all ? limit : (int64_t)listed < limit ? limit - (int64_t)listed : 1;
            if ((rc = ls_path(cl, ws, phases[p], want, cursor, path, sizeof(path))) ||
                (rc = client_fetch(cl, "GET", path, NULL, &a)))
                goto out;
            const json_t *page = json_object_get(a.json, "items");
            const json_t *next = json_object_get(a.json, "next");
            for (size_t i = 0; i < json_array_size(page); i++) {
                json_t *w = json_array_get(page, i);
                const char *name = human_text(w, "name");
                if (p == 1 && json_object_get(seen, name))
                    continue; /* listed while it was active */
                if (!all && (int64_t)listed == limit) {
                    rest = (struct ls_rest){-1, phases[p], true};
                    break;
                }
                listed++;
                if (p == 0 && phases[1] && json_object_set_new(seen, name, json_true()))
                    goto oom;
                if (!v->json)
                    ls_row(&t, w);
                else if (json_array_append(items, w) != 0)
                    goto oom;
            }
            int64_t after_page = json_is_integer(next) ? json_integer_value(next) : -1;
            bool advances = after_page >= 0 && (cursor < 0 || after_page < cursor);
            if (!rest.more && !all && (int64_t)listed == limit && advances)
                rest = (struct ls_rest){after_page, phases[p], true};
            client_answer_cleanup(&a);
            if (rest.more || !advances)
                break;
            if (listed >= WORKLOADS_LIST_MAX) {
                fprintf(stderr, "allot: stopped after %d workloads\n", WORKLOADS_LIST_MAX);
                p = 2;
                break;
            }
            cursor = after_page;
        }
    }
    /* the next page's flags: a --state only when it is not this page's first */
    const char *rest_state = rest.state && rest.state != phases[0] ? rest.state : NULL;
    if (rest.more) {
        char before_flag[48] = "";
        if (rest.next >= 0)
            snprintf(before_flag, sizeof(before_flag), "%s--before %lld", rest_state ? " " : "",
                     (long long)rest.next);
        fprintf(stderr,
                "allot: more workloads follow: --all lists them all, %s%s%s shows the next "
                "page\n",
                rest_state ? "--state " : "", rest_state ? rest_state : "", before_flag);
    }
    if (v->json) {
        json_t *doc = json_pack("{s:O}", "items", items);
        if (doc && rest.more && rest.next >= 0)
            json_object_set_new(doc, "next", json_integer(rest.next));
        if (doc && rest.more && rest_state)
            json_object_set_new(doc, "next_state", json_string(rest_state));
        if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) != 0)
            rc = FLAGS_EXIT_FAILED;
        printf("\n");
        json_decref(doc);
    } else if (table_print(&t, stdout)) {
        rc = FLAGS_EXIT_FAILED;
    }
    goto out;
oom:
    fprintf(stderr, "allot: out of memory\n");
    rc = FLAGS_EXIT_FAILED;
out:
    json_decref(items);
    json_decref(seen);
    table_cleanup(&t);
    client_answer_cleanup(&a);
    return rc;
}

/* ---- ls --watch ------------------------------------------------------------------------ */

#define WATCH_EVENT_WIDTH 20   /* "reservation_degraded", the longest event name */
#define WATCH_SUBJECT_WIDTH 24 /* most workload names fit */

/* What the event callback needs to know. */
struct watch {
    const char *workspace; /* -w: only events about this workspace; NULL: every event */
    bool json;             /* -o json: each event's data line as it came */
};

/* The self-pipe that SIGINT and SIGTERM write to while ls --watch follows the stream. */
static int watch_stop[2] = {-1, -1};

static void watch_on_signal(int sig)
{
    int saved = errno;
    ssize_t n = write(watch_stop[1], "", 1); /* a full pipe already says "stop" */
    (void)n;
    (void)sig;
    errno = saved;
}

/* Whether event ev is about workspace ws: its "workspace" is ws or, when it has none (a
 * workload rejected for naming no known workspace), its workload's name starts with "ws/". */
static bool watch_in_workspace(const json_t *ev, const char *ws)
{
    const char *w = json_string_value(json_object_get(ev, "workspace"));
    const char *name = json_string_value(json_object_get(ev, "workload"));
    size_t n = strlen(ws);
    if (w)
        return strcmp(w, ws) == 0;
    return name && strncmp(name, ws, n) == 0 && name[n] == '/';
}

/* Append printf-style text at *used of buf (len bytes), cut at its end. */
static void watch_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void watch_add(char *buf, size_t len, size_t *used, const char *fmt, ...)
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

/* One line for event ev (NULL when its data is not JSON) named name:
 * "HH:MM:SS  EVENT  SUBJECT  DETAIL". The time is ev's "t" as local time of day; the subject
 * its workload, else its node, tenant or workspace; the detail the placement of an admitted
 * workload, else whichever of reason, "for" (the workload it makes room for), deadline and
 * message it has. The same words for every event, so that new events read as well. */
static void watch_print(const char *name, const json_t *ev)
{
    static const char *const subjects[] = {"workload", "node", "tenant", "workspace"};
    char line[4096], when[32], by[32], where[1024], detail[2048];
    size_t used = 0, dused = 0;
    const char *subject = "-";
    const json_t *t = json_object_get(ev, "t"), *deadline = json_object_get(ev, "deadline");
    const json_t *placement = json_object_get(ev, "placement");
    const char *reason = json_string_value(json_object_get(ev, "reason"));
    const char *other = json_string_value(json_object_get(ev, "for"));
    const char *message = json_string_value(json_object_get(ev, "message"));
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]) && subject[0] == '-'; i++)
        if (json_is_string(json_object_get(ev, subjects[i])))
            subject = json_string_value(json_object_get(ev, subjects[i]));
    if (json_is_number(t))
        human_clock((int64_t)(json_number_value(t) * 1000), when, sizeof(when));
    else
        snprintf(when, sizeof(when), "--:--:--");
    detail[0] = '\0';
    if (placement) {
        watch_add(detail, sizeof(detail), &dused, "%s%s",
                  human_placement(placement, where, sizeof(where)),
                  json_is_true(json_object_get(ev, "borrowed")) ? " (borrowed)" : "");
    } else {
        if (reason)
            watch_add(detail, sizeof(detail), &dused, "%s", reason);
        if (other)
            watch_add(detail, sizeof(detail), &dused, "%sfor %s", dused ? " " : "", other);
        if (json_is_number(deadline))
            watch_add(detail, sizeof(detail), &dused, "%sstop by %s", dused ? ", " : "",
                      human_clock((int64_t)(json_number_value(deadline) * 1000), by, sizeof(by)));
        if (message)
            watch_add(detail, sizeof(detail), &dused, "%s%s", dused ? ": " : "", message);
    }
    watch_add(line, sizeof(line), &used, "%s  %-*s  ", when, WATCH_EVENT_WIDTH, name);
    if (detail[0])
        watch_add(line, sizeof(line), &used, "%-*s  %s", WATCH_SUBJECT_WIDTH, subject, detail);
    else
        watch_add(line, sizeof(line), &used, "%s", subject);
    /* names and messages come from the daemon: nothing in them may steer the terminal */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("%s\n", line);
}

/* The stream's callback: filter by -w, then print the event (one line, flushed at once so
 * that a pipe sees it). RET 0, or FLAGS_EXIT_FAILED when stdout cannot be written. */
static int watch_on_event(void *arg, const struct client_event *e)
{
    const struct watch *w = arg;
    json_t *ev = json_loadb(e->data, e->len, 0, NULL);
    if (!w->workspace || (ev && watch_in_workspace(ev, w->workspace))) {
        if (w->json) {
            /* one object per line: line ends between JSON tokens are only white space */
            for (size_t i = 0; i < e->len; i++)
                putchar(e->data[i] == '\n' || e->data[i] == '\r' ? ' ' : e->data[i]);
            putchar('\n');
        } else {
            watch_print(e->name, ev);
        }
    }
    json_decref(ev);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "allot: cannot write the events: %s\n", strerror(errno));
        return FLAGS_EXIT_FAILED;
    }
    return 0;
}

/* Follow stream until SIGINT or SIGTERM (exit 0), deadline_ms on the monotonic clock (< 0:
 * none; exit 0), or the end of the stream (exit 3). The signals' dispositions are put back
 * before it returns. RET the exit code. */
static int watch_follow(struct client_stream *stream, int64_t deadline_ms)
{
    struct sigaction sa, old_int, old_term;
    int rc;
    if (pipe(watch_stop) != 0) {
        fprintf(stderr, "allot: cannot watch: %s\n", strerror(errno));
        return FLAGS_EXIT_FAILED;
    }
    for (int i = 0; i < 2; i++)
        fcntl(watch_stop[i], F_SETFL, fcntl(watch_stop[i], F_GETFL) | O_NONBLOCK);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = watch_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = client_stream_follow(stream, watch_stop[0], deadline_ms);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    for (int i = 0; i < 2; i++) {
        close(watch_stop[i]);
        watch_stop[i] = -1;
    }
    return rc;
}

static int run_ls(const struct flag_values *v)
{
    char part[2][FLAGS_MAX_NAME + 1];
    const char *ws = flags_get(v, "workspace"), *state = flags_get(v, "state");
    const char *watch_timeout = flags_get(v, "watch-timeout");
    bool all = flags_has(v, "all"), watch = flags_has(v, "watch");
    int64_t limit = all ? WORKLOADS_PAGE_MAX : WORKLOADS_PAGE_DEFAULT, before = -1;
    int64_t started = clock_mono_ms(), watch_ms = -1;
    enum sched_state st;
    struct client cl = {0};
    struct client_stream *stream = NULL;
    struct watch w = {ws, v->json};
    int rc;
    if (ws && !flags_split_name(ws, 2, part))
        return flags_usage_error(v, "--workspace: expected TENANT/WORKSPACE, got '%.64s'", ws);
    if (state && sched_state_parse(state, &st) && strcmp(state, "active") != 0 &&
        strcmp(state, "ended") != 0)
        return flags_usage_error(v,
                                 "--state: expected pending, reclaiming, running, draining, "
                                 "finished, failed, cancelled, rejected, active or ended, got "
                                 "'%.64s'",
                                 state);
    if ((rc = flags_int(v, "limit", 1, WORKLOADS_PAGE_MAX, &limit)) ||
        (rc = flags_int(v, "before", 0, INT64_MAX, &before)) ||
        (rc = flags_quantity(v, "watch-timeout", FLAGS_Q_DURATION, false)))
        return rc;
    if (watch_timeout && !watch)
        return flags_usage_error(v, "--watch-timeout goes with --watch");
    if (watch_timeout && (quantity_parse_duration(watch_timeout, &watch_ms) || watch_ms < 1))
        return flags_usage_error(v, "--watch-timeout: expected a duration of 1ms or more");
    if ((rc = client_open(&cl, v)))
        goto out;
    /* subscribe first: what happens while the list is read then shows as events, not lost */
    if (watch && (rc = client_stream_open(&cl, "/v1/events", watch_on_event, &w, &stream)))
        goto out;
    if ((rc = ls_list(v, &cl, ws, state, all, limit, before)) || !watch)
        goto out;
    if (fflush(stdout) != 0) {
        fprintf(stderr, "allot: cannot write the list: %s\n", strerror(errno));
        rc = FLAGS_EXIT_FAILED;
        goto out;
    }
    rc = watch_follow(stream, watch_ms >= 0 ? started + watch_ms : -1);
out:
    client_stream_free(stream);
    client_close(&cl);
    return rc;
}

/* ---- describe, cancel ------------------------------------------------------------------ */

/* Check NAME (tenant/workspace/name) and make its path. RET 0 or a usage error. */
static int workload_path(const struct flag_values *v, char *path, size_t len)
{
    char part[3][FLAGS_MAX_NAME + 1];
    if (!flags_split_name(v->args[0], 3, part))
        return flags_usage_error(v,
                                 "expected TENANT/WORKSPACE/NAME, three names of a-z 0-9 . _ -,"
                                 " got '%.64s'",
                                 v->args[0]);
    snprintf(path, len, "/v1/workloads/%s/%s/%s", part[0], part[1], part[2]);
    return 0;
}

/* A position {"index": i, "of": n} as "i of n", or "-". */
static char *position_text(const json_t *p, char *buf, size_t len)
{
    if (!json_is_object(p))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%lld of %lld", (long long)human_int(p, "index", 0),
                 (long long)human_int(p, "of", 0));
    return buf;
}

/* The /why answer in plain words: the rule and the specific sentence, then for a waiting
 * workload its positions, what is ahead of it, what holds it back and when it may start
 * (docs/cli.md, "why"). */
static void why_print(const json_t *why)
{
    char a[64], b[64], when[64];
    printf("why:         %s (%s)\n", human_text(why, "explanation"), human_text(why, "reason"));
    const char *message = json_string_value(json_object_get(why, "message"));
    if (message && strcmp(message, human_text(why, "explanation")) != 0)
        printf("             %s\n", message);
    const json_t *pos = json_object_get(why, "position");
    if (json_is_object(pos))
        printf("position:    %s in its workspace's queue, %s in its tenant's\n",
               position_text(json_object_get(pos, "workspace"), a, sizeof(a)),
               position_text(json_object_get(pos, "tenant"), b, sizeof(b)));
    const json_t *ahead = json_object_get(why, "ahead");
    for (size_t i = 0; i < json_array_size(ahead); i++)
        printf("%s%s\n", i ? "             " : "ahead:       ",
               json_string_value(json_array_get(ahead, i))
                   ? json_string_value(json_array_get(ahead, i))
                   : "-");
    if ((long long)human_int(why, "ahead_total", 0) > (long long)json_array_size(ahead))
        printf("             ... %lld ahead in all\n", (long long)human_int(why, "ahead_total", 0));
    const json_t *holders = json_object_get(why, "holders");
    for (size_t i = 0; i < json_array_size(holders); i++) {
        const json_t *h = json_array_get(holders, i);
        bool ends = json_is_integer(json_object_get(h, "ends"));
        printf("%s%s (%s, %s%s%s)\n",
               i ? "             " : "held by:     ", human_text(h, "workload"),
               human_text(h, "role"), human_text(h, "state"), ends ? ", ends " : "",
               ends ? human_time(human_int(h, "ends", 0), when, sizeof(when)) : "");
    }
    long long total = human_int(why, "holders_total", 0);
    long long hidden = human_int(why, "holders_hidden", 0);
    if (total > (long long)json_array_size(holders))
        printf("%s%lld workload(s) in all%s\n",
               json_array_size(holders) ? "             " : "held by:     ", total,
               hidden ? ", some in workspaces your token may not see" : "");
    if (!json_object_get(why, "estimated_start_reason"))
        return;
    if (json_is_integer(json_object_get(why, "estimated_start")))
        printf("starts:      about %s: %s\n",
               human_time(human_int(why, "estimated_start", 0), when, sizeof(when)),
               human_text(why, "estimated_start_reason"));
    else
        printf("starts:      %s\n", human_text(why, "estimated_start_reason"));
}

/* The human description of workload w; why is the /why answer (NULL: none). */
static void describe_print(const json_t *w, const json_t *why)
{
    char when[64], age[32], req[96], one[256];
    const char *mig = json_string_value(json_object_get(w, "mig"));
    int64_t replicas = human_int(w, "replicas", 1);
    printf("name:        %s\n", human_text(w, "name"));
    printf("workspace:   %s (tenant %s)\n", human_text(w, "workspace"), human_text(w, "tenant"));
    /* each line only when it is true of the current state: an ended or requeued workload
     * holds no GPUs and runs no process, whatever its last run did */
    bool holding = state_is(w, states_holding);
    printf("state:       %s%s\n", human_text(w, "state"),
           holding && json_is_true(json_object_get(w, "borrowed")) ? ", on borrowed GPUs" : "");
    if (why && json_object_get(why, "explanation"))
        why_print(why);
    else if (json_object_get(w, "reason"))
        printf("why:         %s (%s)\n", human_text(w, "reason_text"), human_text(w, "reason"));
    printf("kind:        %s, priority %lld, %s, grace %s\n", human_text(w, "kind"),
           (long long)human_int(w, "priority", 0),
           json_is_true(json_object_get(w, "preemptible")) ? "preemptible" : "not preemptible",
           human_text(w, "grace"));
    printf("time limit:  %s\n",
           json_is_string(json_object_get(w, "time_limit")) ? human_text(w, "time_limit") : "none");
    if (mig)
        snprintf(req, sizeof(req), "one %s MIG instance", mig);
    else
        snprintf(req, sizeof(req), "%lld GPU%s", (long long)human_int(w, "gpus", 0),
                 human_int(w, "gpus", 0) == 1 ? "" : "s");
    printf("request:     %s x %lld replica%s%s%s; cpu %s, memory %s, storage %s\n", req,
           (long long)replicas, replicas == 1 ? "" : "s", json_object_get(w, "model") ? ", " : "",
           json_object_get(w, "model") ? human_text(w, "model") : "", human_text(w, "cpu"),
           human_text(w, "memory"), human_text(w, "storage"));
    printf("submitted:   %s (%s ago)%s%s\n",
           human_time(human_int(w, "submitted", 0), when, sizeof(when)),
           human_age(human_int(w, "submitted", 0), age, sizeof(age)),
           json_is_string(json_object_get(w, "user")) ? " by " : "",
           json_is_string(json_object_get(w, "user")) ? human_text(w, "user") : "");
    if (json_is_integer(json_object_get(w, "started")))
        printf("started:     %s\n", human_time(human_int(w, "started", 0), when, sizeof(when)));
    else
        printf("started:     never\n");
    printf("attempts:    %lld\n", (long long)human_int(w, "attempts", 0));
    if (holding && json_is_integer(json_object_get(w, "process_started")))
        printf("process:     running since %s (its node agent says so)\n",
               human_time(human_int(w, "process_started", 0), when, sizeof(when)));
    if (state_is(w, states_ended) && json_is_integer(json_object_get(w, "ended")))
        printf("ended:       %s (%s ago)\n",
               human_time(human_int(w, "ended", 0), when, sizeof(when)),
               human_age(human_int(w, "ended", 0), age, sizeof(age)));
    if (state_is(w, states_ended) && exit_text(w, true, one, sizeof(one))[0])
        printf("exit:        %s\n", one);
    const json_t *placement = json_object_get(w, "placement");
    for (size_t i = 0; i < json_array_size(placement); i++)
        printf("%s replica %zu on %s\n", i ? "            " : "placement:  ", i,
               human_replica(json_array_get(placement, i), one, sizeof(one)));
}

static int run_describe(const struct flag_values *v)
{
    char path[300], why_path[320];
    struct client cl = {0};
    struct client_answer a = {0}, why = {0};
    int rc = workload_path(v, path, sizeof(path));
    if (rc)
        return rc;
    if ((rc = client_open(&cl, v)) || (rc = client_fetch(&cl, "GET", path, NULL, &a)))
        goto out;
    if (v->json) {
        client_print_json(&a);
        goto out;
    }
    /* a waiting or refused workload: the rule that holds it back, in plain words */
    const char *state = human_text(a.json, "state");
    if (strcmp(state, "pending") == 0 || strcmp(state, "reclaiming") == 0 ||
        strcmp(state, "rejected") == 0) {
        snprintf(why_path, sizeof(why_path), "%s/why", path);
        if ((rc = client_fetch(&cl, "GET", why_path, NULL, &why)))
            goto out;
    }
    describe_print(a.json, why.json);
out:
    client_answer_cleanup(&why);
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

/* allot why: the /why answer of one workload, in plain words (why_print) or -o json. */
static int run_why(const struct flag_values *v)
{
    char path[300], why_path[320];
    struct client cl = {0};
    struct client_answer a = {0};
    int rc = workload_path(v, path, sizeof(path));
    if (rc)
        return rc;
    snprintf(why_path, sizeof(why_path), "%s/why", path);
    if ((rc = client_open(&cl, v)) || (rc = client_fetch(&cl, "GET", why_path, NULL, &a)))
        goto out;
    if (v->json) {
        client_print_json(&a);
        goto out;
    }
    printf("name:        %s\n", human_text(a.json, "workload"));
    printf("state:       %s\n", human_text(a.json, "state"));
    if (json_object_get(a.json, "explanation"))
        why_print(a.json);
    else
        printf("why:         nothing holds it back\n");
out:
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

static int run_cancel(const struct flag_values *v)
{
    char path[300];
    struct client cl = {0};
    struct client_answer a = {0};
    int rc = workload_path(v, path, sizeof(path));
    if (rc)
        return rc;
    if ((rc = client_open(&cl, v)) || (rc = client_fetch(&cl, "DELETE", path, NULL, &a)))
        goto out;
    if (v->json)
        client_print_json(&a);
    else if (strcmp(human_text(a.json, "state"), "draining") == 0)
        printf("%s  draining: cancelled, it stops within its grace period (%s)\n",
               human_text(a.json, "name"), human_text(a.json, "grace"));
    else
        printf("%s  %s\n", human_text(a.json, "name"), human_text(a.json, "state"));
out:
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

static int run_checkpoint(const struct flag_values *v)
{
    char path[320];
    struct client cl = {0};
    struct client_answer a = {0};
    int rc = workload_path(v, path, sizeof(path));
    if (rc)
        return rc;
    strncat(path, "/checkpoint", sizeof(path) - strlen(path) - 1);
    if ((rc = client_open(&cl, v)) || (rc = client_fetch(&cl, "POST", path, NULL, &a)))
        goto out;
    if (v->json)
        client_print_json(&a);
    else
        printf("%s  checkpoint recorded: preemption counts its work from now\n",
               human_text(a.json, "name"));
out:
    client_answer_cleanup(&a);
    client_close(&cl);
    return rc;
}

/* After the workload's attempt is over, how long -f still waits for output on its way from
 * the agent (it ships every quarter second) before it ends. */
#define LOGS_SETTLE_MS 2000
#define LOGS_POLL_MS 300

static int run_logs(const struct flag_values *v)
{
    char base[300], path[400], buf[32];
    struct client cl = {0};
    int64_t rank = 0, attempt = 0, offset = 0;
    bool follow = flags_has(v, "follow");
    const char *stream = flags_has(v, "stderr") ? "stderr" : "stdout";
    int rc = workload_path(v, base, sizeof(base));
    if (rc || (rc = flags_int(v, "rank", 0, 4095, &rank)) ||
        (rc = flags_int(v, "attempt", 1, INT32_MAX, &attempt)) || (rc = client_open(&cl, v)))
        goto out;
    int64_t quiet_since = -1;
    for (;;) {
        struct client_answer a = {0};
        /* the first answer says which attempt (the latest by default): stay with it */
        if (attempt > 0)
            snprintf(path, sizeof(path), "%s/logs?rank=%lld&stream=%s&offset=%lld&attempt=%lld",
                     base, (long long)rank, stream, (long long)offset, (long long)attempt);
        else
            snprintf(path, sizeof(path), "%s/logs?rank=%lld&stream=%s&offset=%lld", base,
                     (long long)rank, stream, (long long)offset);
        if ((rc = client_fetch_text(&cl, path, &a))) {
            client_answer_cleanup(&a);
            goto out;
        }
        fwrite(a.text, 1, a.len, stdout);
        fflush(stdout);
        offset += (int64_t)a.len;
        if (attempt == 0 && client_answer_header(&a, "Attempt", buf, sizeof(buf)))
            attempt = strtoll(buf, NULL, 10);
        bool running =
            client_answer_header(&a, "Running", buf, sizeof(buf)) && strcmp(buf, "true") == 0;
        bool simulated =
            client_answer_header(&a, "Simulated", buf, sizeof(buf)) && strcmp(buf, "true") == 0;
        size_t got = a.len;
        client_answer_cleanup(&a);
        if (simulated && got == 0 && offset == 0) {
            fprintf(stderr, "allot: no output: this allotd's nodes are simulated, so no process "
                            "ran (allotd --no-virtual-nodes hands the nodes to node agents)\n");
            break;
        }
        if (got > 0) {
            quiet_since = -1;
            continue; /* more may be there already */
        }
        if (!follow)
            break;
        if (!running) {
            if (quiet_since < 0)
                quiet_since = clock_mono_ms();
            else if (clock_mono_ms() - quiet_since >= LOGS_SETTLE_MS)
                break;
        }
        struct timespec pause = {0, LOGS_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
out:
    client_close(&cl);
    return rc;
}

/* ---- the table ------------------------------------------------------------------------- */

static const struct flag ls_flags[] = {
    {"workspace", 'w', "TENANT/WS", "only this workspace's workloads"},
    {"state", 0, "STATE", "only this state's (pending, running, ..., active or ended)"},
    {"all", 0, NULL, "follow the pages to the end (else one page)"},
    {"limit", 0, "N", "workloads per page, 1 to 1000 (100; 1000 with --all)"},
    {"before", 0, "SEQ", "those submitted before this one (a page's \"next\")"},
    {"watch", 0, NULL, "then print each event as it happens, until Ctrl-C"},
    {"watch-timeout", 0, "DURATION", "with --watch: stop after this long (exit 0), e.g. 10s"},
    {NULL, 0, NULL, NULL},
};

static const struct flag logs_flags[] = {
    {"follow", 'f', NULL, "keep printing while it runs, then end (exit 0)"},
    {"stderr", 0, NULL, "its standard error instead of its standard output"},
    {"rank", 0, "N", "which replica of a gang (default 0)"},
    {"attempt", 0, "N", "which start, 1 for the first (default: the latest)"},
    {NULL, 0, NULL, NULL},
};

static const struct flag_command workloads_commands[] = {
    {"submit", "", "Submit a workload; prints its name, state and placement or reason.",
     "The answer is the admission decision: running (or reclaiming borrowed GPUs for it),\n"
     "pending with the rule that holds it back, or rejected with why (exit code 1).\n"
     "Example: allot submit -w acme/research --gpus 4 --kind training -- python train.py",
     submit_flags, 0, 0, FLAGS_TAKES_COMMAND, submit_run},
    {"ls", "", "List workloads: name, state, kind, GPUs, priority, age, placement or reason.",
     "Lists the workloads the token may see: the active ones (pending, reclaiming, running,\n"
     "draining) first, then the ended ones, each newest first; --state STATE only that\n"
     "state's (or active, ended). One page, or --all every page. -o json prints\n"
     "{\"items\": [...], \"next\": SEQ} (with \"next_state\" when the next page needs a\n"
     "--state); with --all, one {\"items\": [...]} of all pages.\n"
     "--watch then follows GET /v1/events: one line per event (local time, event, workload,\n"
     "placement or reason), or with -o json each event's JSON on its own line; -w keeps the\n"
     "workspace's events. Ctrl-C ends it (exit 0); a lost connection is exit 3.",
     ls_flags, 0, 0, 0, run_ls},
    {"describe", "TENANT/WS/NAME",
     "Show one workload: its request, state, and placement or why it waits.", NULL, NULL, 1, 1, 0,
     run_describe},
    {"why", "TENANT/WS/NAME",
     "Say why a workload waits: the rule, its positions, what holds it, when it may start.",
     "GET .../why in plain words: the rule and its specific sentence; for a pending workload\n"
     "its position in its workspace's queue and its tenant's, the workloads ahead, those that\n"
     "hold what it waits for (named where your token may see them) and the estimated start,\n"
     "or why there is none (docs/policy.md, \"Pending workloads explained\").",
     NULL, 1, 1, 0, run_why},
    {"cancel", "TENANT/WS/NAME", "Cancel a workload; a running one stops within its grace period.",
     NULL, NULL, 1, 1, 0, run_cancel},
    {"checkpoint", "TENANT/WS/NAME", "Say that a running workload saved its work now.",
     "POST .../checkpoint: preemption then counts what it would lose from now, not from its\n"
     "start (docs/policy.md, \"Lost work\"). A program may instead touch the file named by\n"
     "$ALLOT_CHECKPOINT_FILE.",
     NULL, 1, 1, 0, run_checkpoint},
    {"logs", "TENANT/WS/NAME", "Print a workload's output as its node agent shipped it.",
     "The controller keeps what agents ship (up to 16 MiB per stream; the whole log stays in\n"
     "the replica's directory on its node). A requeued workload starts afresh: each start is an\n"
     "attempt with its own log. -f follows the attempt until it ends.\n"
     "Example: allot logs -f acme/research/train --rank 1 --stderr",
     logs_flags, 1, 1, 0, run_logs},
};

int workloads_main(int argc, char **argv)
{
    return flags_dispatch(workloads_commands,
                          sizeof(workloads_commands) / sizeof(workloads_commands[0]), NULL, argc,
                          argv);
}
