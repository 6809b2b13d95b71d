/* Command-line grammar of the `allot` client subcommands: finds the subcommand in its family's
 * table, parses flags and arguments against that row, prints --help from it, and turns every
 * bad word into one sentence that names the flag (exit 2). */
#include "cli/flags.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/quantity.h"

/* Flags every client subcommand takes; the fields of struct flag_values they fill. */
enum common_flag {
    COMMON_SERVER,
    COMMON_TOKEN,
    COMMON_TIMEOUT,
    COMMON_CACERT,
    COMMON_OUTPUT,
    COMMON_HELP
};

static const struct flag common_flags[] = {
    [COMMON_SERVER] = {"server", 0, "URL[,URL]",
                       "the daemon, or its servers in order (repeatable; else $ALLOT_SERVER, "
                       "config, http://127.0.0.1:7070)"},
    [COMMON_TOKEN] = {"token", 0, "TOKEN", "API token (else $ALLOT_TOKEN, then the config file)"},
    [COMMON_TIMEOUT] = {"timeout", 0, "DURATION", "give up on the server after this long (30s)"},
    [COMMON_CACERT] = {"cacert", 0, "FILE.pem",
                       "CA to trust for https (else $ALLOT_CACERT, config file)"},
    [COMMON_OUTPUT] = {"output", 'o', "FORMAT",
                       "table (the default) or json: the server's JSON, as it is"},
    [COMMON_HELP] = {"help", 'h', NULL, "show this help"},
    {NULL, 0, NULL, NULL},
};

/* A copy of user text fit for a message: at most 64 bytes, unprintable bytes as '?'. */
static const char *quoted(const char *s, char buf[72])
{
    size_t n = 0;
    for (; s[n] && n < 64; n++)
        buf[n] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    if (s[n])
        buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
    return buf;
}

static size_t count_flags(const struct flag *flags)
{
    size_t n = 0;
    while (flags && flags[n].name)
        n++;
    return n;
}

/* Number of words of a command name ("admin tenant create": 3). */
static int name_words(const char *name)
{
    int n = 1;
    for (const char *p = name; *p; p++)
        n += *p == ' ';
    return n;
}

/* Whether argv[0..words) spells name. */
static bool name_matches(const char *name, int words, int argc, char **argv)
{
    if (argc < words)
        return false;
    const char *p = name;
    for (int i = 0; i < words; i++) {
        size_t n = strlen(argv[i]);
        if (strncmp(p, argv[i], n) != 0 || (p[n] != ' ' && p[n] != '\0'))
            return false;
        p += n + (p[n] == ' ');
    }
    return true;
}

int flags_usage_error(const struct flag_values *v, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* the message may quote what was typed: nothing in it may steer the terminal */
    for (char *p = message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s: %s\n'%s --help' tells more.\n", v->prog, message, v->prog);
    return FLAGS_EXIT_USAGE;
}

/* "-w, --workspace TENANT/WS" for the flag list. */
static void flag_synopsis(const struct flag *f, char *buf, size_t len)
{
    char shortname[8] = "   ";
    if (f->short_name)
        snprintf(shortname, sizeof(shortname), "-%c,", f->short_name);
    snprintf(buf, len, "%s --%s%s%s", shortname, f->name, f->metavar ? " " : "",
             f->metavar ? f->metavar : "");
}

static void print_flags(const struct flag *flags, FILE *f)
{
    char syn[96];
    for (size_t i = 0; flags && flags[i].name; i++) {
        flag_synopsis(&flags[i], syn, sizeof(syn));
        if (strlen(syn) > 28)
            fprintf(f, "  %s\n  %-28s  %s\n", syn, "", flags[i].help);
        else
            fprintf(f, "  %-28s  %s\n", syn, flags[i].help);
    }
}

void flags_help(const struct flag_command *cmd, FILE *f)
{
    fprintf(f, "usage: allot %s%s%s%s%s\n\n%s\n", cmd->name, cmd->args[0] ? " " : "", cmd->args,
            count_flags(cmd->flags) ? " [FLAGS]" : " [-o json]",
            (cmd->traits & FLAGS_TAKES_COMMAND) ? " [-- COMMAND ARGS...]" : "", cmd->summary);
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
    if (count_flags(cmd->flags)) {
        fprintf(f, "\nflags:\n");
        print_flags(cmd->flags, f);
    }
    fprintf(f, "\ncommon flags:\n");
    print_flags(common_flags, f);
    fprintf(f, "\nexit codes: 0 done, 1 refused by the server (or the workload was rejected),\n"
               "2 usage error, 3 the server cannot be reached. docs/cli.md tells more.\n");
}

/* Whether f may be given more than once (its metavar ends with FLAGS_REPEAT). */
static bool repeats(const struct flag *f)
{
    size_t n = f->metavar ? strlen(f->metavar) : 0, r = strlen(FLAGS_REPEAT);
    return n > r && strcmp(f->metavar + n - r, FLAGS_REPEAT) == 0;
}

/* Find --name or -c among flags. RET its index, or -1. */
static int find_flag(const struct flag *flags, const char *name, size_t n, char c)
{
    for (int i = 0; flags && flags[i].name; i++) {
        if (c ? flags[i].short_name == c
              : strlen(flags[i].name) == n && strncmp(flags[i].name, name, n) == 0)
            return i;
    }
    return -1;
}

/* Find the flag that the word a ("--name", "--name=value" or "-c") names among flags.
 * OUT *eq: the '=' of "--name=value", or NULL. RET its index, or -1 (also for "-", "--" and
 * "-xy", which name no flag). */
static int find_word(const struct flag *flags, const char *a, const char **eq)
{
    const char *name = a[1] == '-' ? a + 2 : a + 1;
    *eq = a[1] == '-' ? strchr(name, '=') : NULL;
    size_t n = *eq ? (size_t)(*eq - name) : strlen(name);
    if (n == 0 || (a[1] != '-' && n != 1))
        return -1;
    return find_flag(flags, name, n, a[1] != '-' ? name[0] : 0);
}

/* Store value for the common flag k. RET 0 or a usage error. */
static int set_common(struct flag_values *v, int k, const char *value)
{
    char q[72];
    const char **slot = k == COMMON_TOKEN    ? &v->token
                        : k == COMMON_CACERT ? &v->cacert
                                             : &v->timeout;
    if (k == COMMON_SERVER) { /* a leader and its standbys: each URL is checked by the client */
        if (v->n_servers == FLAGS_MAX_SERVERS)
            return flags_usage_error(v, "--server given more than %d times", FLAGS_MAX_SERVERS);
        v->servers[v->n_servers++] = value;
        return 0;
    }
    if (k == COMMON_OUTPUT) {
        bool csv = (v->cmd->traits & FLAGS_WRITES_CSV) && strcmp(value, "csv") == 0;
        if (strcmp(value, "json") != 0 && strcmp(value, "table") != 0 && !csv)
            return flags_usage_error(v, "--output: expected table%s or json, got '%s'",
                                     (v->cmd->traits & FLAGS_WRITES_CSV) ? ", csv" : "",
                                     quoted(value, q));
        v->json = strcmp(value, "json") == 0;
        v->csv = csv;
        return 0;
    }
    if (*slot)
        return flags_usage_error(v, "--%s given twice", common_flags[k].name);
    *slot = value;
    return 0;
}

int flags_parse(const struct flag_command *cmd, const char *prog, int argc, char **argv,
                struct flag_values *v)
{
    char q[72];
    memset(v, 0, sizeof(*v));
    v->cmd = cmd;
    snprintf(v->prog, sizeof(v->prog), "%s", prog);
    assert(count_flags(cmd->flags) <= FLAGS_MAX && cmd->max_args <= FLAGS_MAX_ARGS);
    /* --help wins over any other problem of the line */
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            v->help = true;
            return 0;
        }
    bool only_args = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strlen(a) > FLAGS_MAX_VALUE)
            return flags_usage_error(v, "argument %d is longer than %d bytes", i + 1,
                                     FLAGS_MAX_VALUE);
        if (!only_args && strcmp(a, "--") == 0) {
            if (!(cmd->traits & FLAGS_TAKES_COMMAND)) {
                only_args = true;
                continue;
            }
            v->command = argv + i + 1;
            v->n_command = argc - i - 1;
            if (v->n_command == 0)
                return flags_usage_error(v, "'--' must be followed by a command");
            if (v->n_command > FLAGS_MAX_COMMAND)
                return flags_usage_error(v, "a command has at most %d words, not %d",
                                         FLAGS_MAX_COMMAND, v->n_command);
            for (int k = 0; k < v->n_command; k++)
                if (strlen(v->command[k]) > FLAGS_MAX_VALUE)
                    return flags_usage_error(v, "word %d of the command is longer than %d bytes",
                                             k + 1, FLAGS_MAX_VALUE);
            break;
        }
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (v->n_args == cmd->max_args)
                return flags_usage_error(v, "unexpected argument '%s'", quoted(a, q));
            v->args[v->n_args++] = a;
            continue;
        }
        /* a flag: --name, --name=value or -c */
        const char *eq;
        int k = find_word(cmd->flags, a, &eq);
        bool common = k < 0;
        if (common)
            k = find_word(common_flags, a, &eq);
        if (k < 0)
            return flags_usage_error(v, "unknown option '%s'", quoted(a, q));
        const struct flag *f = common ? &common_flags[k] : &cmd->flags[k];
        const char *value = "";
        if (!f->metavar && eq)
            return flags_usage_error(v, "--%s takes no value", f->name);
        if (f->metavar) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return flags_usage_error(v, "--%s needs a value (%s)", f->name, f->metavar);
            if (strlen(value) > FLAGS_MAX_VALUE)
                return flags_usage_error(v, "--%s: the value is longer than %d bytes", f->name,
                                         FLAGS_MAX_VALUE);
        }
        if (common) {
            int rc = set_common(v, k, value);
            if (rc)
                return rc;
            continue;
        }
        if (repeats(f)) {
            if (v->n_repeated == FLAGS_MAX_REPEATED)
                return flags_usage_error(v, "--%s given more than %d times", f->name,
                                         FLAGS_MAX_REPEATED);
            v->repeated_flag[v->n_repeated] = k;
            v->repeated[v->n_repeated++] = value;
            continue;
        }
        if (v->value[k])
            return flags_usage_error(v, "--%s given twice", f->name);
        v->value[k] = value;
    }
    if (v->n_args < cmd->min_args)
        return flags_usage_error(v, "missing %s", cmd->args);
    return 0;
}

int flags_hoist(int argc, char **argv, char **out, int *out_argc, char *err, size_t err_len)
{
    char q[72];
    const char *eq;
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        int k = find_word(common_flags, argv[i], &eq);
        if (k < 0) {
            snprintf(err, err_len,
                     "unknown flag '%s' before the command (only --server, --token, --timeout, "
                     "--cacert, -o/--output and -h/--help may come before it)",
                     quoted(argv[i], q));
            return FLAGS_EXIT_USAGE;
        }
        if (common_flags[k].metavar && !eq && i + 1 == argc) {
            snprintf(err, err_len, "--%s needs a value (%s)", common_flags[k].name,
                     common_flags[k].metavar);
            return FLAGS_EXIT_USAGE;
        }
        i += common_flags[k].metavar && !eq ? 2 : 1;
    }
    if (i == argc) {
        snprintf(err, err_len, "a command must follow the flags");
        return FLAGS_EXIT_USAGE;
    }
    int end = i + 1; /* the command's words and flags end at its "--", if any */
    while (end < argc && strcmp(argv[end], "--") != 0)
        end++;
    int n = 0;
    out[n++] = argv[0];
    for (int k = i; k < end; k++)
        out[n++] = argv[k];
    for (int k = 1; k < i; k++)
        out[n++] = argv[k];
    for (int k = end; k < argc; k++)
        out[n++] = argv[k];
    out[n] = NULL;
    *out_argc = n;
    return 0;
}

int flags_dispatch(const struct flag_command *table, size_t n, const char *family_help, int argc,
                   char **argv)
{
    const struct flag_command *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < n; i++) {
        int words = name_words(table[i].name);
        if (words > best_words && name_matches(table[i].name, words, argc, argv)) {
            best = &table[i];
            best_words = words;
        }
    }
    if (!best) {
        /* a family word alone ("allot admin"), asking for help, or a wrong subcommand */
        bool help = argc >= 2 &&
                    (strcmp(argv[argc - 1], "--help") == 0 || strcmp(argv[argc - 1], "-h") == 0);
        FILE *f = help ? stdout : stderr;
        char q[72], words[128] = "";
        for (int i = 1; i < argc && i < 3 && !help; i++)
            snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", i > 1 ? " " : "",
                     quoted(argv[i], q));
        if (!help && words[0])
            fprintf(f, "allot %s: unknown or incomplete command '%s'\n", argv[0], words);
        fprintf(f, "usage: allot %s COMMAND [ARGS]\n\n%s\n\ncommands:\n", argv[0],
                family_help ? family_help : "");
        size_t skip = strlen(argv[0]) + 1; /* names start with the family word */
        for (size_t i = 0; i < n; i++) {
            char syn[96];
            const char *name = table[i].name;
            snprintf(syn, sizeof(syn), "%s %s", strlen(name) > skip ? name + skip : name,
                     table[i].args);
            fprintf(f, "  %-28s %s\n", syn, table[i].summary);
        }
        fprintf(f, "\n'allot %s COMMAND --help' tells more.\n", argv[0]);
        return help ? FLAGS_EXIT_OK : FLAGS_EXIT_USAGE;
    }
    char prog[96];
    snprintf(prog, sizeof(prog), "allot %s", best->name);
    struct flag_values v;
    int rc = flags_parse(best, prog, argc - best_words, argv + best_words, &v);
    if (rc)
        return rc;
    if (v.help) {
        flags_help(best, stdout);
        return FLAGS_EXIT_OK;
    }
    return best->run(&v);
}

/* Index of flag name in v's table; aborts when the table lacks it (a programming error). */
static int flag_index(const struct flag_values *v, const char *name)
{
    int k = find_flag(v->cmd->flags, name, strlen(name), 0);
    if (k < 0) {
        fprintf(stderr, "allot: internal error: %s has no flag --%s\n", v->prog, name);
        abort();
    }
    return k;
}

const char *flags_get(const struct flag_values *v, const char *name)
{
    return v->value[flag_index(v, name)];
}

bool flags_has(const struct flag_values *v, const char *name)
{
    return flags_get(v, name) != NULL;
}

int flags_each(const struct flag_values *v, const char *name, const char **out, int max)
{
    int k = flag_index(v, name), n = 0;
    for (int i = 0; i < v->n_repeated && n < max; i++)
        if (v->repeated_flag[i] == k)
            out[n++] = v->repeated[i];
    return n;
}

int flags_int(const struct flag_values *v, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *s = flags_get(v, name);
    if (!s)
        return 0;
    char *end = NULL, q[72];
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < min || x > max)
        return flags_usage_error(v, "--%s: expected a whole number from %lld to %lld, got '%s'",
                                 name, (long long)min, (long long)max, quoted(s, q));
    *out = x;
    return 0;
}

int flags_bool(const struct flag_values *v, const char *name, bool *out)
{
    const char *s = flags_get(v, name);
    char q[72];
    if (!s)
        return 0;
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *out = strcmp(s, "true") == 0;
        return 0;
    }
    return flags_usage_error(v, "--%s: expected true or false, got '%s'", name, quoted(s, q));
}

int flags_quantity(const struct flag_values *v, const char *name, enum flags_quantity kind,
                   bool none_ok)
{
    static const struct {
        int (*parse)(const char *, int64_t *);
        const char *what;
    } kinds[] = {
        [FLAGS_Q_GPU] = {quantity_parse_gpu, "a number of GPUs (4, 0.5, 3/7)"},
        [FLAGS_Q_CPU] = {quantity_parse_cpu, "a number of CPUs (16, 0.5, 500m)"},
        [FLAGS_Q_BYTES] = {quantity_parse_bytes, "a size in bytes (128Gi, 512Mi, 1T)"},
        [FLAGS_Q_DURATION] = {quantity_parse_duration, "a duration (30s, 5m, 1h30m)"},
    };
    const char *s = flags_get(v, name);
    int64_t x;
    char q[72];
    if (!s || (none_ok && strcmp(s, "none") == 0) || kinds[kind].parse(s, &x) == 0)
        return 0;
    return flags_usage_error(v, "--%s: expected %s%s, got '%s'", name, kinds[kind].what,
                             none_ok ? " or none" : "", quoted(s, q));
}

bool flags_is_name(const char *s, size_t n)
{
    if (n == 0 || n > FLAGS_MAX_NAME ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool flags_split_name(const char *s, int parts, char part[][FLAGS_MAX_NAME + 1])
{
    const char *p = s;
    for (int i = 0; i < parts; i++) {
        const char *slash = strchr(p, '/');
        size_t n = (i == parts - 1 || !slash) ? strlen(p) : (size_t)(slash - p);
        if ((i < parts - 1 && !slash) || !flags_is_name(p, n))
            return false;
        memcpy(part[i], p, n);
        part[i][n] = '\0';
        p += n + 1;
    }
    return true;
}
