/* `allot`: the command-line client of allotd, and the entry to the scenario simulator
 * (src/sim/, `allot sim`). Subcommands come from one table, which also makes the help text;
 * each family keeps its own table of flags and help (workloads.c, capacity.c, admin.c;
 * docs/cli.md). This is the one file of src/cli/ that uses src/sim/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/capacity.h"
#include "cli/client.h"
#include "cli/flags.h"
#include "cli/ledger.h"
#include "sim/sim.h"
#include "cli/workloads.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static int help_main(int argc, char **argv);

static const struct command commands[] = {
    {"submit", workloads_main, "submit a workload (flags, or -f FILE)"},
    {"ls", workloads_main, "list workloads"},
    {"describe", workloads_main, "show a workload: placement, or why it waits"},
    {"why", workloads_main, "why a workload waits: positions, holders, estimated start"},
    {"cancel", workloads_main, "cancel a workload"},
    {"checkpoint", workloads_main, "say that a running workload saved its work now"},
    {"logs", workloads_main, "print a workload's output (-f to follow)"},
    {"nodes", capacity_main, "list nodes and their GPUs"},
    {"ws", capacity_main, "workspaces: reservation and limit against usage"},
    {"top", capacity_main, "GPUs per tenant and workspace: total, allocated, free"},
    {"usage", ledger_main, "GPU-hours used: guaranteed, borrowed, lost (by workspace, user...)"},
    {"admin", admin_main, "tenants, clusters, workspaces, nodes, users, tokens"},
    {"sim", sim_main, "run a scenario through the allocation engine in virtual time"},
    {"help", help_main, "show this help, or a command's ('allot help submit')"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: allot COMMAND [ARGS]\n\nAllot, a multi-tenant GPU orchestrator.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(f,
            "\nThe client commands talk to allotd: --server or ALLOT_SERVER (default %s;\n"
            "a comma list names a leader and its standbys), --token or ALLOT_TOKEN, or\n"
            "~/.config/allot/config. Exit codes: 0 done, 1 refused by the server, 2 usage\n"
            "error, 3 server unreachable.\n"
            "'allot COMMAND --help' tells more; 'allot --version' prints the version.\n",
            CLIENT_DEFAULT_SERVER);
}

/* `allot help [COMMAND [WORDS...]]`: the overview, or what `allot COMMAND WORDS... --help`
 * prints, by running that. RET the process exit code (2 for an unknown command). */
static int help_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    size_t i = 0;
    while (i < N_COMMANDS && strcmp(argv[1], commands[i].name) != 0)
        i++;
    if (i == N_COMMANDS) {
        fprintf(stderr, "allot help: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    /* COMMAND WORDS... --help, and the NULL that ends an argv */
    char **line = calloc((size_t)argc + 1, sizeof(*line));
    if (!line) {
        fprintf(stderr, "allot: out of memory\n");
        return 2;
    }
    for (int k = 1; k < argc; k++)
        line[k - 1] = argv[k];
    line[argc - 1] = "--help";
    int rc = commands[i].run(argc, line);
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("allot %s\n", ALLOT_VERSION);
        return 0;
    }
    /* the common flags may come before the command: "allot --server URL -o json ls" */
    char err[256];
    char **line = calloc((size_t)argc + 1, sizeof(*line));
    if (!line) {
        fprintf(stderr, "allot: out of memory\n");
        return 2;
    }
    int rc = flags_hoist(argc, argv, line, &argc, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "allot: %s\n'allot --help' tells more.\n", err);
        free(line);
        return rc;
    }
    size_t i = 0;
    while (i < N_COMMANDS && strcmp(line[1], commands[i].name) != 0)
        i++;
    if (i < N_COMMANDS) {
        rc = commands[i].run(argc - 1, line + 1);
    } else {
        fprintf(stderr, "allot: unknown command '%s'\n", line[1]);
        usage(stderr);
        rc = 2;
    }
    free(line);
    return rc;
}
