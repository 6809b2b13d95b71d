/* Command-line grammar of the `allot` client subcommands: one table row per subcommand gives
 * its flags, arguments and help text; parsing, --help output and usage errors come from it. */
#ifndef ALLOT_CLI_FLAGS_H
#define ALLOT_CLI_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes that scripts can trust (docs/cli.md). */
enum flags_exit {
    FLAGS_EXIT_OK = 0,          /* done */
    FLAGS_EXIT_FAILED = 1,      /* the server refused or failed, or the workload was rejected */
    FLAGS_EXIT_USAGE = 2,       /* bad command line, flag value, file or configuration */
    FLAGS_EXIT_UNREACHABLE = 3, /* no answer from the server (connect, timeout, TLS) */
};

#define FLAGS_MAX 24          /* flags of one subcommand, common flags excluded */
#define FLAGS_MAX_ARGS 4      /* positional arguments of one subcommand */
#define FLAGS_MAX_VALUE 4096  /* bytes of one flag value or argument */
#define FLAGS_MAX_COMMAND 64  /* words after "--" (the daemon's bound on a command) */
#define FLAGS_MAX_NAME 63     /* tenant, workspace, workload, node and user names */
#define FLAGS_MAX_SERVERS 16  /* --server flags of one command line (each may be a comma list) */
#define FLAGS_MAX_REPEATED 64 /* values of repeatable flags of one command line, all together */

/* One flag: --name VALUE (or --name=VALUE), or a switch when metavar is NULL. */
struct flag {
    const char *name;    /* long name without "--" */
    char short_name;     /* '-x' form, or 0 */
    const char *metavar; /* what the value is ("N", "DURATION"); NULL: a switch */
    const char *help;
};

/* A repeatable flag's metavar ends so ("NAME=VALUE..."): each value is kept, in order, for
 * flags_each (flags_get gives NULL); other flags may be given once. */
#define FLAGS_REPEAT "..."

struct flag_values;

/* One subcommand: its grammar, its help and the function that runs it. */
struct flag_command {
    const char *name;         /* words after "allot": "submit", "admin tenant create" */
    const char *args;         /* positional synopsis ("NAME"), or "" */
    const char *summary;      /* one line */
    const char *details;      /* further help lines (may be NULL) */
    const struct flag *flags; /* terminated by a row with a NULL name; may be NULL */
    uint8_t min_args, max_args;
    uint8_t traits;                          /* FLAGS_TAKES_COMMAND | FLAGS_WRITES_CSV */
    int (*run)(const struct flag_values *v); /* RET a process exit code (enum flags_exit) */
};

/* flag_command.traits: it takes "-- COMMAND ARGS..."; -o csv is one of its formats. */
#define FLAGS_TAKES_COMMAND 1
#define FLAGS_WRITES_CSV 2

/* A parsed command line. Strings point into argv. */
struct flag_values {
    const struct flag_command *cmd;
    char prog[96];                    /* "allot submit", for messages */
    const char *value[FLAGS_MAX];     /* by index in cmd->flags; "" for a given switch */
    const char *args[FLAGS_MAX_ARGS]; /* positional arguments */
    int n_args;
    const char *repeated[FLAGS_MAX_REPEATED]; /* values of repeatable flags, in order */
    int repeated_flag[FLAGS_MAX_REPEATED];    /* the index in cmd->flags of each */
    int n_repeated;
    char *const *command; /* words after "--" (cmd->command only) */
    int n_command;
    /* common flags of every subcommand; NULL when not given */
    const char *servers[FLAGS_MAX_SERVERS]; /* each --server, in order (comma lists as given) */
    int n_servers;
    const char *token;
    const char *timeout;
    const char *cacert;
    bool json; /* -o json */
    bool csv;  /* -o csv (commands with flag_command.csv only) */
    bool help;
};

/* Run the subcommand of table (n rows) that argv names. argv[0] is the first word of every
 * name in the family ("admin" for "admin tenant create", or the command itself for one-word
 * names). --help prints the subcommand's help and returns 0; a bad command line prints a
 * sentence naming the flag to stderr and returns FLAGS_EXIT_USAGE. family_help describes the
 * family when argv names no subcommand ("allot admin"). RET the process exit code. */
int flags_dispatch(const struct flag_command *table, size_t n, const char *family_help, int argc,
                   char **argv);

/* Move the common flags that come before the subcommand (argv[0] is the program) to after
 * the subcommand's words and flags, before its "--" if it has one: "allot --server URL ls -a"
 * becomes "allot ls -a --server URL". out has room for argc + 1 pointers, which point into
 * argv (out[*out_argc] is NULL). RET 0, or FLAGS_EXIT_USAGE with a sentence in err: an
 * unknown flag before the command (named), a flag without its value, or no command. */
int flags_hoist(int argc, char **argv, char **out, int *out_argc, char *err, size_t err_len);

/* Parse argv (argv[0] is the last word of cmd->name's words already consumed: arguments
 * start at argv[0]) for cmd into *v. RET 0, or FLAGS_EXIT_USAGE after printing why. */
int flags_parse(const struct flag_command *cmd, const char *prog, int argc, char **argv,
                struct flag_values *v);

/* Print cmd's help (usage line, summary, details, flags and the common flags) to f. */
void flags_help(const struct flag_command *cmd, FILE *f);

/* The value of flag name, or NULL when it was not given. name must be in the table (an
 * unknown name is a programming error and aborts). "" for a given switch. */
const char *flags_get(const struct flag_values *v, const char *name);
/* Whether flag name was given. */
bool flags_has(const struct flag_values *v, const char *name);
/* The values of the repeatable flag name, in the order given, into out (room for max).
 * RET how many (at most max). */
int flags_each(const struct flag_values *v, const char *name, const char **out, int max);

/* Print "allot CMD: <message>" (control bytes as '?', at most 1 KiB) and a pointer to --help
 * to stderr. RET FLAGS_EXIT_USAGE. */
int flags_usage_error(const struct flag_values *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Value checkers: each reads flag name (when given) and prints a usage error naming the flag
 * when its value is bad. RET 0 (also when the flag is absent: *out is left alone) or
 * FLAGS_EXIT_USAGE. */
int flags_int(const struct flag_values *v, const char *name, int64_t min, int64_t max,
              int64_t *out);
int flags_bool(const struct flag_values *v, const char *name, bool *out);

enum flags_quantity { FLAGS_Q_GPU, FLAGS_Q_CPU, FLAGS_Q_BYTES, FLAGS_Q_DURATION };
/* Check that flag name holds a quantity of kind (or "none" when none_ok). */
int flags_quantity(const struct flag_values *v, const char *name, enum flags_quantity kind,
                   bool none_ok);

/* Whether s is a name: [a-z0-9][a-z0-9._-]*, 1 to FLAGS_MAX_NAME bytes (the daemon's rule). */
bool flags_is_name(const char *s, size_t n);
/* Split "a/b" (parts == 2) or "a/b/c" (parts == 3) into names; each part must be a name.
 * OUT part[i] (NUL-terminated copies of at most FLAGS_MAX_NAME bytes). RET true when s has
 * that shape. */
bool flags_split_name(const char *s, int parts, char part[][FLAGS_MAX_NAME + 1]);

#endif
