/* allot-agent: the node agent. Reports its node's GPUs and workloads to the controller on a
 * short period and runs, watches and stops what the controller's answer says should run
 * there (level-triggered: a lost report heals at the next one). This file reads the command
 * line and wires the modules together; the loop is agent.c. */
#define _GNU_SOURCE /* realpath */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/devices.h"
#include "agent/imagestore.h"
#include "agent/join.h"
#include "agent/nvml.h"
#include "agent/statefile.h"
#include "agent/wipe.h"
#include "common/protocol.h"
#include "common/quantity.h"

/* The command line (usage()). */
struct options {
    const char *token, *token_file, *join_token, *node, *gpus, *nvml, *work, *interval, *keepalive,
        *cgroup_root, *storage_every, *keep, *cgroup_mode, *cgroup_v1_root, *uid_range, *wipe_dirs,
        *image_store, *runtime, *runtime_root, *container_cgroups;
    bool discover;
    const char *servers[SERVERLIST_MAX]; /* each --server (a comma list), in order */
    int n_servers;
    const char *run_as[RUNAS_MAX_RULES + 1];
    int n_run_as;
    const char *labels[AGENT_MAX_LABELS];
    int n_labels;
    /* Devices (docs/agent.md, "Devices"): --devices, --cdi-dirs, --cdi-kind,
     * --cgroup-devices-root. */
    struct {
        const char *mode, *dirs, *kind, *cgroup_root;
    } dev;
};

/* ---- Devices: --devices, --cdi-dirs, --cdi-kind, --cgroup-devices-root ------------------ */

/* The slot of a devices option named arg, or NULL. */
static const char **devices_option(struct options *o, const char *arg)
{
    return strcmp(arg, "--devices") == 0               ? &o->dev.mode
           : strcmp(arg, "--cdi-dirs") == 0            ? &o->dev.dirs
           : strcmp(arg, "--cdi-kind") == 0            ? &o->dev.kind
           : strcmp(arg, "--cgroup-devices-root") == 0 ? &o->dev.cgroup_root
                                                       : NULL;
}

/* Map the GPUs to CDI devices and choose how devices are enforced (docs/agent.md, "Devices"):
 * --devices cdi, none, or auto (cdi when a spec of the kind is found or the GPUs were
 * discovered, none for declared GPUs without one). With cdi, GPUs without a device are
 * unhealthy, and bare processes get a devices cgroup where the host has a v1 devices
 * hierarchy. Call after the limits are set. RET 0, or 2 after saying why. */
static int devices_setup(struct agent *a, const struct options *o)
{
    const char *mode = o->dev.mode ? o->dev.mode : "auto";
    char err[512], why[600];
    if (strcmp(mode, "auto") != 0 && strcmp(mode, "cdi") != 0 && strcmp(mode, "none") != 0) {
        fprintf(stderr, "allot-agent: --devices: expected auto, cdi or none, got '%.40s'\n", mode);
        return 2;
    }
    if (strcmp(mode, "none") == 0) {
        fprintf(stderr, "allot-agent: devices: none (--devices none): a workload can open every "
                        "device node of the host; only CUDA_VISIBLE_DEVICES names its GPUs\n");
        return 0;
    }
    static struct gpuinfo mapped;
    struct devices *d = NULL;
    mapped = a->gpus;
    if (!cdi_is_kind(o->dev.kind, strlen(o->dev.kind))) {
        fprintf(stderr, "allot-agent: --cdi-kind: '%.80s' is not a CDI kind (vendor.com/class)\n",
                o->dev.kind);
        return 2;
    }
    if (devices_load(o->dev.dirs, o->dev.kind, &mapped, &d, err, sizeof(err))) {
        fprintf(stderr, "allot-agent: --cdi-dirs: %s\n", err);
        return 2;
    }
    if (strcmp(mode, "auto") == 0 && !a->gpus.discovered && !devices_kind_found(d)) {
        fprintf(stderr,
                "allot-agent: devices: none (declared GPUs and no CDI spec of kind %s in %s): "
                "a workload can open every device node of the host; only "
                "CUDA_VISIBLE_DEVICES names its GPUs\n",
                o->dev.kind, o->dev.dirs);
        devices_free(d);
        return 0;
    }
    a->gpus = mapped; /* with the GPUs that have no device marked unhealthy */
    a->devices = d;
    uint32_t healthy = 0;
    for (uint32_t i = 0; i < a->gpus.n; i++) {
        const struct gpuinfo_gpu *g = &a->gpus.gpus[i];
        healthy += g->healthy;
        if (!g->healthy)
            fprintf(stderr, "allot-agent: GPU %u (%s) unhealthy: %s\n", g->index, g->uuid,
                    g->health_reason);
    }
    if (!devices_kind_found(d))
        fprintf(stderr,
                "allot-agent: warning: no CDI spec of kind %s in %s, so no GPU can be given to a "
                "workload (fail closed): write the specs (nvidia-ctk cdi generate "
                "--output=/etc/cdi/nvidia.yaml), or run the agent with --devices none to use "
                "the GPUs without device isolation\n",
                o->dev.kind, o->dev.dirs);
    int rc = limits_devices_init(&a->limits, o->dev.cgroup_root, why, sizeof(why));
    fprintf(stderr,
            "allot-agent: %sdevices: cdi, kind %s from %s (%u of %u GPU(s) healthy); bare "
            "processes: %s%s\n",
            rc ? "warning: " : "", o->dev.kind, o->dev.dirs, healthy, a->gpus.n,
            rc ? "NOT device-isolated: " : "a devices cgroup per replica under ",
            rc ? why : a->limits.devices_root);
    return 0;
}

/* The system's CPUs (those this process may run on) and memory, and the --label's given
 * (KEY=VALUE each), for the report. RET a new object, or NULL after saying why. */
static json_t *node_info_new(const char *const *labels, int n_labels)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *l = json_object();
    for (int i = 0; i < n_labels; i++) {
        const char *eq = strchr(labels[i], '=');
        char key[PROTOCOL_MAX_LABEL + 1];
        bool control = false;
        for (const char *p = labels[i]; *p && !control; p++)
            control = (unsigned char)*p < ' ' || *p == 0x7f;
        if (!eq || eq == labels[i] || (size_t)(eq - labels[i]) >= sizeof(key) ||
            strlen(eq + 1) > PROTOCOL_MAX_LABEL || control) {
            fprintf(stderr,
                    "allot-agent: --label: expected KEY=VALUE (key 1 to %d bytes, value up to "
                    "%d, no control characters), got '%.80s'\n",
                    PROTOCOL_MAX_LABEL, PROTOCOL_MAX_LABEL, labels[i]);
            json_decref(l);
            return NULL;
        }
        snprintf(key, sizeof(key), "%.*s", (int)(eq - labels[i]), labels[i]);
        json_object_set_new(l, key, json_string(eq + 1));
    }
    return json_pack("{s:I, s:I, s:o}", PROTOCOL_FIELD_CPU_MILLICORES,
                     (json_int_t)(cpus > 0 ? cpus : 0) * 1000, PROTOCOL_FIELD_MEMORY_BYTES,
                     (json_int_t)(pages > 0 && page > 0 ? pages : 0) * page, PROTOCOL_FIELD_LABELS,
                     l);
}

/* Warn when the users of workloads cannot go through a directory above dir (it lacks the x of
 * others): then $HOME and $TMPDIR lead nowhere for them, though they start in their
 * directories (entered by descriptor). */
static void check_reachable(const char *dir)
{
    char path[8192], cwd[2048] = "";
    struct stat sb;
    if (dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
        return;
    snprintf(path, sizeof(path), "%s%s%s", cwd, cwd[0] ? "/" : "", dir);
    for (char *slash = path + strlen(path); slash; slash = strrchr(path, '/')) {
        *slash = '\0';
        const char *ancestor = path[0] ? path : "/";
        if (stat(ancestor, &sb) == 0 && !(sb.st_mode & S_IXOTH)) {
            fprintf(stderr,
                    "allot-agent: warning: %s is mode %03o: workloads cannot reach their "
                    "directories under %s by path ($HOME, $TMPDIR); give it o+x\n",
                    ancestor, (unsigned)(sb.st_mode & 0777), dir);
            return;
        }
        if (!path[0])
            return;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: allot-agent --node NAME --token T|--token-file F|--join-token J\n"
            "                   [--server http://H:P[,http://H:P...] ...]\n"
            "                   [--gpus SPEC | --nvml PATH] [--work-dir DIR] [--interval D]\n"
            "                   [--keepalive D]\n"
            "                   [--cgroup-mode auto|v2|v1|none] [--cgroup-root DIR]\n"
            "                   [--cgroup-v1-root DIR] [--storage-check D] [--keep-finished D]\n"
            "                   [--uid-range START:COUNT] [--run-as TENANT/WORKSPACE=USER ...]\n"
            "                   [--label KEY=VALUE ...] [--wipe-dirs DIR:DIR...]\n"
            "                   [--devices auto|cdi|none] [--cdi-dirs DIR:DIR...]\n"
            "                   [--cdi-kind VENDOR.COM/CLASS] [--cgroup-devices-root DIR]\n"
            "                   [--image-store DIR] [--runtime PATH] [--runtime-root DIR]\n"
            "                   [--container-cgroup-parent /PATH]\n"
            "       allot-agent --discover [--gpus SPEC | --nvml PATH]\n"
            "       allot-agent image import [--image-store DIR] [--umoci PATH] LAYOUT:TAG "
            "NAME:TAG\n"
            "       allot-agent image list [--image-store DIR]\n"
            "       allot-agent --version\n\n"
            "The Allot node agent: reports GPUs and workloads, runs what the controller places\n"
            "on this node. --gpus declares the GPUs (\"8xH100-80GB\") where NVML is absent; the\n"
            "report then says they are declared, not discovered. Several --server (or a comma\n"
            "list) name a leader and its standbys: the agent reports to the leader.\n");
}

/* Read argv into o (defaults set by the caller). RET 0; 1 when --help or --version was
 * answered; 2 after saying what is wrong. */
static int options_parse(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--token") == 0            ? &o->token
                            : strcmp(argv[i], "--token-file") == 0     ? &o->token_file
                            : strcmp(argv[i], "--join-token") == 0     ? &o->join_token
                            : strcmp(argv[i], "--node") == 0           ? &o->node
                            : strcmp(argv[i], "--gpus") == 0           ? &o->gpus
                            : strcmp(argv[i], "--nvml") == 0           ? &o->nvml
                            : strcmp(argv[i], "--work-dir") == 0       ? &o->work
                            : strcmp(argv[i], "--interval") == 0       ? &o->interval
                            : strcmp(argv[i], "--keepalive") == 0      ? &o->keepalive
                            : strcmp(argv[i], "--cgroup-root") == 0    ? &o->cgroup_root
                            : strcmp(argv[i], "--cgroup-mode") == 0    ? &o->cgroup_mode
                            : strcmp(argv[i], "--cgroup-v1-root") == 0 ? &o->cgroup_v1_root
                            : strcmp(argv[i], "--uid-range") == 0      ? &o->uid_range
                            : strcmp(argv[i], "--storage-check") == 0  ? &o->storage_every
                            : strcmp(argv[i], "--keep-finished") == 0  ? &o->keep
                            : strcmp(argv[i], "--wipe-dirs") == 0      ? &o->wipe_dirs
                            : strcmp(argv[i], "--image-store") == 0    ? &o->image_store
                            : strcmp(argv[i], "--runtime") == 0        ? &o->runtime
                            : strcmp(argv[i], "--runtime-root") == 0   ? &o->runtime_root
                            : strcmp(argv[i], "--container-cgroup-parent") == 0
                                ? &o->container_cgroups
                                : NULL;
        slot = slot ? slot : devices_option(o, argv[i]);
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc) {
            if (o->n_labels == AGENT_MAX_LABELS) {
                fprintf(stderr, "allot-agent: at most %d --label\n", AGENT_MAX_LABELS);
                return 2;
            }
            o->labels[o->n_labels++] = argv[++i];
        } else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
            if (o->n_servers == SERVERLIST_MAX) {
                fprintf(stderr, "allot-agent: at most %d --server\n", SERVERLIST_MAX);
                return 2;
            }
            o->servers[o->n_servers++] = argv[++i];
        } else if (strcmp(argv[i], "--run-as") == 0 && i + 1 < argc) {
            /* one past the most is kept, for runas_add to refuse */
            o->run_as[o->n_run_as < RUNAS_MAX_RULES ? o->n_run_as++ : o->n_run_as] = argv[++i];
        } else if (strcmp(argv[i], "--discover") == 0) {
            o->discover = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("allot-agent %s\n", ALLOT_VERSION);
            return 1;
        } else {
            fprintf(stderr, "allot-agent: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* The node as the options describe it: --run-as rules, the cgroup mode, the labels and
 * system's capacity, the GPUs. OUT *lcfg. RET 0 or 2 after saying why. */
static int node_setup(struct agent *a, const struct options *o, struct limits_config *lcfg)
{
    char err[512];
    a->wipe_dirs = o->wipe_dirs;
    for (int i = 0; i < o->n_run_as; i++)
        if (runas_add(&a->run_as, o->run_as[i]))
            return 2;
    *lcfg = (struct limits_config){.v2_root = o->cgroup_root, .v1_root = o->cgroup_v1_root};
    if (limits_mode_parse(o->cgroup_mode, &lcfg->mode)) {
        fprintf(stderr, "allot-agent: --cgroup-mode: expected auto, v2, v1 or none, got '%.40s'\n",
                o->cgroup_mode);
        return 2;
    }
    if (!(a->node_info = node_info_new(o->labels, o->n_labels)))
        return 2;
    int rc = o->gpus ? gpuinfo_declare(o->gpus, &a->gpus, err, sizeof(err))
                     : nvml_discover(o->nvml, &a->gpus, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "allot-agent: %s%s\n", err,
                o->gpus ? "" : " (without a driver, declare the GPUs with --gpus)");
        return 2;
    }
    return 0;
}

/* Print the GPUs found (--discover). RET 0. */
static int discover_print(const struct agent *a)
{
    json_t *j = gpuinfo_to_json(&a->gpus);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    json_decref(j);
    return 0;
}

/* The periods, the uid range, the token (from --token-file too: into tokbuf), the server and
 * the node's name. OUT *every_ms, *storage_ms, *keepalive_ms. RET 0 or 2 after saying why. */
static int access_setup(struct agent *a, struct options *o, int64_t *every_ms, int64_t *storage_ms,
                        int64_t *keepalive_ms, char *tokbuf, size_t toklen)
{
    char err[512];
    if (quantity_parse_duration(o->keepalive, keepalive_ms) || *keepalive_ms < 1000 ||
        *keepalive_ms > PROTOCOL_MAX_WAIT_MS) {
        fprintf(stderr, "allot-agent: --keepalive: a duration from 1s to %ds, such as 30s\n",
                PROTOCOL_MAX_WAIT_MS / 1000);
        return 2;
    }
    if (!o->node || (!o->token && !o->token_file && !o->join_token) ||
        quantity_parse_duration(o->interval, every_ms) || *every_ms < 50 ||
        quantity_parse_duration(o->storage_every, storage_ms) || *storage_ms < 50 ||
        quantity_parse_duration(o->keep, &a->keep_ms)) {
        fprintf(
            stderr,
            "allot-agent: --node and --token (or --token-file or --join-token) are required, and "
            "--interval and --storage-check are durations of 50ms or more, --keep-finished a "
            "duration\n");
        return 2;
    }
    if (identity_init(&a->identity, o->uid_range, err, sizeof(err))) {
        fprintf(stderr, "allot-agent: %s\n", err);
        return 2;
    }
    if (o->token_file) {
        FILE *f = fopen(o->token_file, "r");
        if (!f || !fgets(tokbuf, (int)toklen, f)) {
            fprintf(stderr, "allot-agent: cannot read %s: %s\n", o->token_file, strerror(errno));
            return 2;
        }
        fclose(f);
        tokbuf[strcspn(tokbuf, "\r\n")] = '\0';
        o->token = tokbuf;
    }
    /* every server is checked now: a move to one later cannot fail */
    for (int i = 0; i < (o->n_servers ? o->n_servers : 1); i++)
        if (serverlist_add(&a->servers, o->n_servers ? o->servers[i] : AGENT_DEFAULT_SERVER, err,
                           sizeof(err))) {
            fprintf(stderr, "allot-agent: --server: %s\n", err);
            return 2;
        }
    for (int i = a->servers.n - 1; i >= 0; i--)
        if (agent_server_use(a, i)) {
            fprintf(stderr, "allot-agent: --server: expected http://HOST:PORT, got '%.64s'\n",
                    a->servers.url[i]);
            return 2;
        }
    snprintf(a->node, sizeof(a->node), "%s", o->node);
    return 0;
}

/* The node token (joining with --join-token when there is none), the limits, and the state
 * file of a previous run. RET 0, or 1 or 2 after saying why. */
static int agent_resume(struct agent *a, struct options *o, const struct limits_config *lcfg,
                        char *tokbuf, size_t toklen)
{
    char node_token_path[4200];
    snprintf(node_token_path, sizeof(node_token_path), "%s/node.token", a->workdir);
    if (!o->token && o->join_token && join_trade(a, o->join_token, node_token_path, tokbuf, toklen))
        return 1;
    snprintf(a->auth, sizeof(a->auth), "Bearer %s", o->token ? o->token : tokbuf);
    char note[2 * LIMITS_ROOT_MAX + 2048];
    int rc = limits_init(&a->limits, lcfg, note, sizeof(note));
    fprintf(stderr, "allot-agent: %s\n", note);
    if (rc)
        return 2;
    if (geteuid() != 0)
        fprintf(stderr,
                "allot-agent: warning: not root: every workload runs as uid %u, the "
                "agent's own, with no user of its workspace\n",
                (unsigned)geteuid());
    snprintf(a->state_path, sizeof(a->state_path), "%s/" STATEFILE_NAME, a->workdir);
    if (statefile_load(a))
        return 2;
    if (geteuid() == 0) {
        fprintf(stderr,
                "allot-agent: each workspace runs as its own uid of %u..%u (%zu assigned)\n",
                (unsigned)a->identity.start, (unsigned)(a->identity.start + a->identity.count - 1),
                a->identity.n);
        check_reachable(a->workdir);
    }
    return 0;
}

/* The program named name: itself when it holds a '/', else the first executable of that name
 * in PATH or in the system directories (/usr/sbin is in no workload's PATH, and often not in
 * the agent's). OUT path (len bytes). RET 0 or -1 (not found). */
static int find_program(const char *name, char *path, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(path, len, "%s", name);
        return access(path, X_OK) == 0 ? 0 : -1;
    }
    const char *env = getenv("PATH");
    char dirs[8192];
    snprintf(dirs, sizeof(dirs), "%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             env ? env : "");
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(path, len, "%s/%s", dir, name) < len && access(path, X_OK) == 0)
            return 0;
    }
    path[0] = '\0';
    return -1;
}

/* The settings of containers (docs/agent.md, "Images and containers"): the image store, the
 * runtime (absent: workloads with an image fail, saying so), its state directory and the
 * bundles' directory (both root's alone), the parent of the containers' cgroups. RET 0 or 2
 * after saying why. */
static int containers_setup(struct agent *a, const struct options *o)
{
    char abs[PATH_MAX];
    const char *store = o->image_store ? o->image_store : IMAGESTORE_DEFAULT_DIR;
    snprintf(a->image_store, sizeof(a->image_store), "%s", realpath(store, abs) ? abs : store);
    if (a->image_store[0] != '/') {
        fprintf(stderr, "allot-agent: --image-store: %s does not exist\n", store);
        return 2;
    }
    const char *parent = o->container_cgroups ? o->container_cgroups : "/allot";
    if (parent[0] != '/' || strlen(parent) >= sizeof(a->container_cgroups) - 1 ||
        strstr(parent, "..")) {
        fprintf(stderr, "allot-agent: --container-cgroup-parent: expected an absolute path "
                        "without '..' of at most 200 bytes\n");
        return 2;
    }
    snprintf(a->container_cgroups, sizeof(a->container_cgroups), "%s", parent);
    snprintf(a->bundles, sizeof(a->bundles), "%.4000s/bundles", a->workdir);
    if (o->runtime_root)
        snprintf(a->runtime_root, sizeof(a->runtime_root), "%s", o->runtime_root);
    else
        snprintf(a->runtime_root, sizeof(a->runtime_root), "%.4000s/runtime", a->workdir);
    if ((mkdir(a->bundles, 0700) != 0 && errno != EEXIST) ||
        (mkdir(a->runtime_root, 0700) != 0 && errno != EEXIST) || !realpath(a->runtime_root, abs)) {
        fprintf(stderr, "allot-agent: cannot create %s or %s: %s\n", a->bundles, a->runtime_root,
                strerror(errno));
        return 2;
    }
    snprintf(a->runtime_root, sizeof(a->runtime_root), "%s", abs);
    const char *runtime = o->runtime ? o->runtime : "runc";
    if (find_program(runtime, a->runtime, sizeof(a->runtime)) != 0) {
        if (o->runtime) {
            fprintf(stderr, "allot-agent: --runtime: %s is not an executable program\n", runtime);
            return 2;
        }
        fprintf(stderr, "allot-agent: containers: no runtime (runc is not in PATH): a workload "
                        "with an image fails\n");
        return 0;
    }
    fprintf(stderr, "allot-agent: containers: runtime %s (state in %s), images in %s%s\n",
            a->runtime, a->runtime_root, a->image_store,
            geteuid() == 0 ? "" : "; not root: a workload with an image fails");
    return 0;
}

/* `allot-agent image import|list ...`: the node's image store. RET the exit code. */
static int image_main(int argc, char **argv)
{
    const char *store = IMAGESTORE_DEFAULT_DIR, *umoci = NULL, *args[2] = {NULL, NULL};
    int n = 0;
    char err[1024];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--image-store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (strcmp(argv[i], "--umoci") == 0 && i + 1 < argc)
            umoci = argv[++i];
        else if (argv[i][0] != '-' && n < 2)
            args[n++] = argv[i];
        else
            n = 3;
    }
    if (argc >= 2 && strcmp(argv[1], "list") == 0 && n == 0)
        return imagestore_list(store) == 0 ? 0 : 1;
    if (argc < 2 || strcmp(argv[1], "import") != 0 || n != 2) {
        fprintf(stderr, "usage: allot-agent image import [--image-store DIR] [--umoci PATH] "
                        "LAYOUT:TAG NAME:TAG\n"
                        "       allot-agent image list [--image-store DIR]\n");
        return 2;
    }
    umask(022);
    if (imagestore_import(store, args[0], args[1], umoci, err, sizeof(err)) != 0) {
        fprintf(stderr, "allot-agent: image import: %s\n", err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "image") == 0)
        return image_main(argc - 1, argv + 1);
    struct options o = {.interval = "1s",
                        .keepalive = "30s",
                        .cgroup_root = CGROUP_DEFAULT_ROOT,
                        .storage_every = "5s",
                        .keep = "24h",
                        .cgroup_mode = "auto",
                        .uid_range = IDENTITY_DEFAULT_RANGE,
                        .wipe_dirs = WIPE_DEFAULT_DIRS,
                        .dev = {.dirs = DEVICES_DEFAULT_DIRS, .kind = DEVICES_DEFAULT_KIND}};
    int rc = options_parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    static struct agent a;
    /* Whatever the agent writes is its own (root's) unless made otherwise, explicitly. */
    umask(077);
    struct limits_config lcfg;
    if ((rc = node_setup(&a, &o, &lcfg)) != 0)
        return rc;
    if (o.discover)
        return discover_print(&a);
    int64_t every_ms, storage_ms, keepalive_ms;
    char tokbuf[256] = "";
    if ((rc = access_setup(&a, &o, &every_ms, &storage_ms, &keepalive_ms, tokbuf,
                           sizeof(tokbuf))) != 0)
        return rc;
    snprintf(a.workdir, sizeof(a.workdir), "%s", o.work ? o.work : "./allot-agent-work");
    /* 0711: a workload reaches its own directory in it, and lists nothing. */
    if ((mkdir(a.workdir, 0711) && errno != EEXIST) || chmod(a.workdir, 0711)) {
        fprintf(stderr, "allot-agent: cannot create %s: %s\n", a.workdir, strerror(errno));
        return 2;
    }
    char abs[PATH_MAX];
    if (realpath(a.workdir, abs)) /* containers mount paths under it: absolute ones */
        snprintf(a.workdir, sizeof(a.workdir), "%s", abs);
    if ((rc = containers_setup(&a, &o)) != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    if (agent_open(&a, a.workdir, every_ms, keepalive_ms))
        return 1;
    if ((rc = agent_resume(&a, &o, &lcfg, tokbuf, sizeof(tokbuf))) != 0)
        return rc;
    if ((rc = devices_setup(&a, &o)) != 0)
        return rc;
    fprintf(stderr,
            "allot-agent: node %s, %u %s GPU(s), reporting to %s%s: changes at once, its own "
            "checks every %lld ms, a held poll at most %lld ms\n",
            a.node, a.gpus.n, a.gpus.discovered ? "discovered" : "declared",
            a.servers.url[a.server], a.servers.n > 1 ? " (or the leader among its servers)" : "",
            (long long)every_ms, (long long)keepalive_ms);
    agent_run(&a, every_ms, storage_ms);
    agent_close(&a);
    return 0;
}
