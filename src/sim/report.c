/* The report of a replay (docs/evaluation.md): figures.json and figures.csv, data files for
 * the plots, a gnuplot script run once (utilisation over time, CDF of queueing delay,
 * per-workspace delay bars, reclaim latency), and index.html with the PNGs inlined as
 * base64, so that the page is one file to mail or archive. */
#include "sim/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"

#define REPORT_MAX_PNG (8 << 20)

static const char *const plots[][2] = {
    {"utilisation.png", "GPU utilisation over time (allocated GPUs over capacity, per day)"},
    {"delay_cdf.png", "Queueing delay: share of jobs started within a delay (CDF)"},
    {"workspace_delay.png", "Mean queueing delay per workspace"},
    {"reclaim.png", "Reclaim latency: from the first preemption made for a job to its start"},
};
#define N_PLOTS (sizeof(plots) / sizeof(plots[0]))

static FILE *open_in(const char *dir, const char *name, char *err, size_t len)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        snprintf(err, len, "cannot write %s: %s", path, strerror(errno));
    return f;
}

static void csv_row(FILE *f, const char *label, const char *policy, const char *ws,
                    const struct replay_figures *x, double util, double jain)
{
    fprintf(
        f,
        "%s,%s,%s,%llu,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%llu,%.2f,%llu,%.1f,%.1f,%.1f,"
        "%.4f,%.4f,",
        label, policy, ws, (unsigned long long)x->submitted, (unsigned long long)x->finished,
        (unsigned long long)x->rejected, replay_hist_mean(&x->delay) / 1000,
        replay_hist_quantile(&x->delay, 0.5) / 1000, replay_hist_quantile(&x->delay, 0.95) / 1000,
        replay_hist_quantile(&x->delay, 0.99) / 1000, replay_hist_mean(&x->jct) / 1000,
        (unsigned long long)x->preemptions, x->wasted_gpu_s / 3600,
        (unsigned long long)x->guaranteed, replay_hist_quantile(&x->guaranteed_wait, 0.5) / 1000,
        replay_hist_quantile(&x->guaranteed_wait, 0.99) / 1000, x->guaranteed_wait.max_ms / 1000,
        x->guaranteed ? (double)x->guaranteed_late / (double)x->guaranteed : 0.0,
        x->sojourn_gpu_s > 0 ? x->asked_gpu_s / x->sojourn_gpu_s : 1.0);
    if (util >= 0)
        fprintf(f, "%.4f,%.4f\n", util, jain);
    else
        fprintf(f, ",\n");
}

/* The data files gnuplot reads. */
static int data_write(const char *dir, const struct replay_result *res, uint32_t n, char *err,
                      size_t len)
{
    FILE *f = open_in(dir, "utilisation.dat", err, len);
    if (!f)
        return -ALLOT_EIO;
    /* daily averages, one column per run */
    uint32_t days = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t d = (uint32_t)((res[k].end_ms + 86400000 - 1) / 86400000);
        days = d > days ? d : days;
    }
    for (uint32_t d = 0; d < days; d++) {
        fprintf(f, "%u", d);
        for (uint32_t k = 0; k < n; k++) {
            const struct replay_result *x = &res[k];
            double sum = 0;
            uint32_t per_day = (uint32_t)(86400000 / x->series_ms), c = 0;
            for (uint32_t b = d * per_day; b < (d + 1) * per_day && b < x->n_series; b++, c++)
                sum += x->series[b];
            fprintf(f, " %.4f", c && x->capacity_gpus ? sum / c / (double)x->capacity_gpus : 0);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    /* CDFs: one block per run (gnuplot's index), delay in hours against share */
    const char *names[2] = {"delay_cdf.dat", "reclaim.dat"};
    for (int which = 0; which < 2; which++) {
        if (!(f = open_in(dir, names[which], err, len)))
            return -ALLOT_EIO;
        for (uint32_t k = 0; k < n; k++) {
            const struct replay_hist *h = which ? &res[k].all.reclaim : &res[k].all.delay;
            fprintf(f, "# run %u\n0 0\n", k);
            for (int p = 1; p <= 1000; p++) {
                double q = p / 1000.0;
                fprintf(f, "%.6f %.4f\n", replay_hist_quantile(h, q) / 1000 / (which ? 1 : 3600),
                        h->n ? q : 0);
            }
            fprintf(f, "\n\n");
        }
        fclose(f);
    }
    if (!(f = open_in(dir, "workspace_delay.dat", err, len)))
        return -ALLOT_EIO;
    for (uint32_t i = 0; i < res[0].n_workspaces; i++) {
        fprintf(f, "\"%s\"", res[0].names[i]);
        for (uint32_t k = 0; k < n; k++) {
            const struct replay_figures *x = i < res[k].n_workspaces ? &res[k].ws[i] : NULL;
            fprintf(f, " %.4f", x ? replay_hist_mean(&x->delay) / 3600000 : 0);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    return 0;
}

static int script_write(const char *dir, uint32_t n, const char *const *labels, char *err,
                        size_t len)
{
    FILE *f = open_in(dir, "plots.gp", err, len);
    if (!f)
        return -ALLOT_EIO;
    fprintf(f, "# gnuplot script of allot sim --report: gnuplot plots.gp (in this directory)\n"
               "set terminal pngcairo size 900,480 font 'sans,10'\n"
               "set key outside right top\nset grid\n");
    fprintf(f, "set output 'utilisation.png'\nset xlabel 'day'\nset ylabel 'allocated / "
               "capacity'\nset yrange [0:1.05]\nplot ");
    for (uint32_t k = 0; k < n; k++)
        fprintf(f, "%s'utilisation.dat' using 1:%u with lines lw 2 title '%s'", k ? ", " : "",
                k + 2, labels[k]);
    fprintf(f, "\nset output 'delay_cdf.png'\nset logscale x\nset xlabel 'queueing delay "
               "(hours, log scale)'\nset ylabel 'share of jobs'\nset xrange [0.001:*]\nplot ");
    for (uint32_t k = 0; k < n; k++)
        fprintf(f, "%s'delay_cdf.dat' index %u using 1:2 with steps lw 2 title '%s'", k ? ", " : "",
                k, labels[k]);
    fprintf(f, "\nunset logscale x\nset xrange [*:*]\nset yrange [0:*]\n"
               "set output 'workspace_delay.png'\nset style data histograms\n"
               "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
               "set xtics rotate by -45\nset xlabel 'workspace'\nset ylabel 'mean queueing "
               "delay (hours)'\nplot ");
    for (uint32_t k = 0; k < n; k++)
        fprintf(f, "%s'workspace_delay.dat' using %u:xtic(1) title '%s'", k ? ", " : "", k + 2,
                labels[k]);
    fprintf(f, "\nset style data lines\nset xtics norotate\nset output 'reclaim.png'\n"
               "set logscale x\nset xrange [1:*]\nset xlabel 'first preemption for it to its "
               "start (seconds, log scale)'\nset ylabel 'share of jobs reclaimed for'\n"
               "set yrange [0:1.05]\nplot ");
    for (uint32_t k = 0; k < n; k++)
        fprintf(f, "%s'reclaim.dat' index %u using 1:2 with steps lw 2 title '%s'", k ? ", " : "",
                k, labels[k]);
    fprintf(f, "\n");
    fclose(f);
    return 0;
}

/* Run gnuplot plots.gp in dir. RET 0 when it ran and succeeded. */
static int gnuplot_run(const char *dir)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(127);
        FILE *quiet = freopen("gnuplot.log", "w", stderr);
        (void)quiet;
        execlp("gnuplot", "gnuplot", "plots.gp", (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void base64_put(FILE *out, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(a[v >> 18 & 63], out);
        fputc(a[v >> 12 & 63], out);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', out);
        fputc(i + 2 < n ? a[v & 63] : '=', out);
    }
}

/* The PNG at dir/name inlined as an <img>, or a line saying why not. */
static void image_put(FILE *out, const char *dir, const char *name, const char *alt)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    unsigned char *buf = f ? malloc(REPORT_MAX_PNG) : NULL;
    size_t n = buf ? fread(buf, 1, REPORT_MAX_PNG, f) : 0;
    if (n > 0 && n < REPORT_MAX_PNG) {
        fprintf(out, "<img alt=\"%s\" src=\"data:image/png;base64,", alt);
        base64_put(out, buf, n);
        fprintf(out, "\">\n");
    } else {
        fprintf(out, "<p><em>No plot: %s was not drawn.</em></p>\n", name);
    }
    free(buf);
    if (f)
        fclose(f);
}

static void html_escape(FILE *out, const char *s)
{
    for (; *s; s++)
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else
            fputc(*s, out);
}

static int html_write(const char *dir, const struct replay_result *res, uint32_t n,
                      const char *const *labels, bool drawn, char *err, size_t len)
{
    FILE *f = open_in(dir, "index.html", err, len);
    if (!f)
        return -ALLOT_EIO;
    fprintf(f, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Allot replay "
               "report</title>\n<style>body{font-family:sans-serif;max-width:1000px;margin:2em "
               "auto}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid "
               "#bbb;padding:3px 6px;text-align:right}th{background:#eee}td:first-child{"
               "text-align:left}img{max-width:100%%}</style></head><body>\n"
               "<h1>Allot replay report</h1>\n<p>Made by <code>allot sim --report</code>: the "
               "same jobs through the same allocation engine, per run. Workloads are simulated "
               "(virtual time, no processes). The figures are in <code>figures.csv</code> and "
               "<code>figures.json</code> beside this page.</p>\n<table><tr><th>run</th><th>"
               "GPUs</th><th>utilisation</th><th>jobs</th><th>rejected</th><th>mean delay "
               "(s)</th><th>p50</th><th>p95</th><th>p99</th><th>preemptions</th><th>lost GPU-h"
               "</th><th>guaranteed jobs</th><th>guarantee p99 (s)</th><th>late</th><th>Jain"
               "</th></tr>\n");
    for (uint32_t k = 0; k < n; k++) {
        const struct replay_figures *x = &res[k].all;
        fprintf(f, "<tr><td>");
        html_escape(f, labels[k]);
        fprintf(f,
                "</td><td>%lld</td><td>%.1f%%</td><td>%llu</td><td>%llu</td><td>%.0f</td><td>"
                "%.0f</td><td>%.0f</td><td>%.0f</td><td>%llu</td><td>%.0f</td><td>%llu</td><td>"
                "%.1f</td><td>%.2f%%</td><td>%.3f</td></tr>\n",
                (long long)res[k].capacity_gpus, 100 * res[k].utilisation,
                (unsigned long long)x->submitted, (unsigned long long)x->rejected,
                replay_hist_mean(&x->delay) / 1000, replay_hist_quantile(&x->delay, 0.5) / 1000,
                replay_hist_quantile(&x->delay, 0.95) / 1000,
                replay_hist_quantile(&x->delay, 0.99) / 1000, (unsigned long long)x->preemptions,
                x->wasted_gpu_s / 3600, (unsigned long long)x->guaranteed,
                replay_hist_quantile(&x->guaranteed_wait, 0.99) / 1000,
                x->guaranteed ? 100.0 * (double)x->guaranteed_late / (double)x->guaranteed : 0,
                res[k].jain);
    }
    fprintf(f, "</table>\n");
    if (!drawn)
        fprintf(f, "<p><strong>gnuplot was not found or failed: no plots.</strong> Install "
                   "gnuplot-nox and run again.</p>\n");
    for (size_t p = 0; drawn && p < N_PLOTS; p++) {
        fprintf(f, "<h2>%s</h2>\n", plots[p][1]);
        image_put(f, dir, plots[p][0], plots[p][1]);
    }
    fprintf(f, "</body></html>\n");
    return fclose(f) == 0 ? 0 : -ALLOT_EIO;
}

int report_write(const char *dir, const struct replay_result *res, uint32_t n,
                 const char *const *labels, char *err, size_t len)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, len, "cannot create %s: %s", dir, strerror(errno));
        return -ALLOT_EIO;
    }
    FILE *f = open_in(dir, "figures.csv", err, len);
    if (!f)
        return -ALLOT_EIO;
    fprintf(f, "run,policy,workspace,jobs,finished,rejected,delay_mean_s,delay_p50_s,"
               "delay_p95_s,delay_p99_s,completion_mean_s,preemptions,lost_gpu_hours,"
               "guaranteed_jobs,guarantee_p50_s,guarantee_p99_s,guarantee_max_s,"
               "guarantee_late_share,served_share,utilisation,jain\n");
    for (uint32_t k = 0; k < n; k++) {
        const char *pol = replay_policy_name(res[k].policy);
        csv_row(f, labels[k], pol, "all", &res[k].all, res[k].utilisation, res[k].jain);
        for (uint32_t i = 0; i < res[k].n_workspaces; i++)
            csv_row(f, labels[k], pol, res[k].names[i], &res[k].ws[i], -1, 0);
    }
    if (fclose(f) != 0) {
        snprintf(err, len, "cannot write figures.csv");
        return -ALLOT_EIO;
    }
    json_t *j = replay_json(res, n, labels);
    char path[4200];
    snprintf(path, sizeof(path), "%s/figures.json", dir);
    int rc =
        j && json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : -ALLOT_EIO;
    json_decref(j);
    if (rc) {
        snprintf(err, len, "cannot write %s", path);
        return rc;
    }
    rc = data_write(dir, res, n, err, len);
    rc = rc ? rc : script_write(dir, n, labels, err, len);
    if (rc)
        return rc;
    bool drawn = gnuplot_run(dir) == 0;
    return html_write(dir, res, n, labels, drawn, err, len);
}
