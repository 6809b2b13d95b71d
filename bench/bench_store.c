/* Store benchmark: durable journal appends of submissions (WAL, synchronous=FULL) committed
 * one per transaction and in group-commit batches, the figure behind allotd's 5,000 submissions/s.
 * Usage: bench_store [PARENT_DIR]   (default "."; use a directory on the real data disk)
 *        bench_store postgresql://...   (the PostgreSQL backend; the ops it adds to that
 *                                       database's journal are trimmed at the end) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "store/store.h"

/* One round: `batches` transactions of `per_batch` journal appends each, a submission as an
 * op (what the daemon writes). */
struct bench_round {
    const char *label;
    int batches;
    int per_batch;
};

static const struct bench_round bench_rounds[] = {
    {"journal, 1 op/commit", 1000, 1},
    {"journal, 10 ops/commit", 300, 10},
    {"journal, 100 ops/commit", 100, 100},
};

static double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char child[1024];
                snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
                bench_remove_tree(child);
            }
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Appends one submission shaped like the daemon's (a spec of about 300 bytes and an
 * idempotency key) to the journal as an op. */
static int bench_append(struct store *st, int64_t id)
{
    char name[32], key[64], spec[512];
    snprintf(name, sizeof(name), "job-%" PRId64, id);
    snprintf(key, sizeof(key), "8c1f0e52-%08" PRIx64 "-4d1b-9a57-3f0c2e6b7d41", (uint64_t)id);
    snprintf(spec, sizeof(spec),
             "{\"name\":\"%s\",\"workspace\":\"acme/research\",\"kind\":\"training\","
             "\"priority\":100,\"preemptible\":true,\"replicas\":1,\"gpus\":%d,"
             "\"cpu\":\"%dm\",\"memory\":\"%dGi\",\"duration\":\"2h\","
             "\"command\":[\"python\",\"train.py\",\"--config\",\"configs/run-%" PRId64
             ".yaml\"],\"labels\":{\"team\":\"vision\",\"project\":\"allot-bench\"}}",
             name, (int)(id % 8) + 1, 12000 * ((int)(id % 8) + 1), 128 * ((int)(id % 8) + 1), id);
    char op[640];
    snprintf(op, sizeof(op), "{\"op\":\"submit\",\"key\":\"%s\",\"spec\":%s}", key, spec);
    return store_journal_append(st, id, op);
}

/* Runs one round. OUT lat: per-commit latency in ms (begin to durable), sorted. */
static int bench_run(struct store *st, const struct bench_round *r, int64_t *next_id, double *lat,
                     double *total_ms)
{
    double t0 = bench_now_ms();
    for (int b = 0; b < r->batches; b++) {
        double start = bench_now_ms();
        int err = r->per_batch > 1 ? store_batch_begin(st) : 0;
        for (int i = 0; !err && i < r->per_batch; i++)
            err = bench_append(st, (*next_id)++);
        if (!err && r->per_batch > 1)
            err = store_batch_commit(st);
        if (err) {
            fprintf(stderr, "bench_store: %s: %s\n", allot_strerror(err), store_errmsg(st));
            return err;
        }
        lat[b] = bench_now_ms() - start;
    }
    *total_ms = bench_now_ms() - t0;
    qsort(lat, (size_t)r->batches, sizeof(*lat), bench_cmp_double);
    return 0;
}

int main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : ".";
    char root[512] = "", data[600], err[256];
    bool postgres = store_location_is_postgres(parent);
    snprintf(root, sizeof(root), "%s/bench-store-XXXXXX", parent);
    if (postgres) {
        root[0] = '\0';
        snprintf(data, sizeof(data), "%s", parent);
    } else if (!mkdtemp(root)) {
        perror(root);
        return 1;
    }
    if (!postgres)
        snprintf(data, sizeof(data), "%s/data", root);
    struct store *st = NULL;
    int rc = store_open(data, &st, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "bench_store: %s\n", err);
        bench_remove_tree(root);
        return 1;
    }
    char where[600];
    store_location_redact(data, where, sizeof(where));
    printf("store benchmark in %s (%s: every commit is durable)\n", where,
           postgres ? "PostgreSQL, synchronous_commit=on" : "WAL, synchronous=FULL");
    printf("%-26s %8s %8s %12s %12s %10s %10s\n", "round", "commits", "rows", "commits/s", "rows/s",
           "p50 ms", "p99 ms");
    int64_t next_id = 1;
    static double lat[1000];
    for (size_t i = 0; !rc && i < sizeof(bench_rounds) / sizeof(bench_rounds[0]); i++) {
        const struct bench_round *r = &bench_rounds[i];
        double total_ms = 0;
        rc = bench_run(st, r, &next_id, lat, &total_ms);
        if (rc)
            break;
        int rows = r->batches * r->per_batch;
        size_t p99 = (size_t)((double)r->batches * 0.99);
        if (p99 >= (size_t)r->batches)
            p99 = (size_t)r->batches - 1;
        printf("%-26s %8d %8d %12.0f %12.0f %10.3f %10.3f\n", r->label, r->batches, rows,
               r->batches / (total_ms / 1e3), rows / (total_ms / 1e3), lat[r->batches / 2],
               lat[p99]);
    }
    struct store_stats stats;
    store_stats(st, &stats);
    printf("commits counted by the store: %" PRIu64 "\n", stats.commits);
    if (postgres && !rc)
        rc = store_journal_trim(st, INT64_MAX, NULL);
    store_close(st);
    bench_remove_tree(root);
    return rc ? 1 : 0;
}
