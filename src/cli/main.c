/* `allot`: the command-line client. Subcommands come from one table, which also makes the
 * help text. In this release it hosts the simulator; the controller client comes later. */
#include <stdio.h>
#include <string.h>

#include "cli/sim.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
};

static int help_main(int argc, char **argv);

static const struct command commands[] = {
    {"sim", sim_main, "run a scenario through the allocation engine in virtual time"},
    {"help", help_main, "show this help"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: allot COMMAND [ARGS]\n\nAllot, a multi-tenant GPU orchestrator.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'allot COMMAND --help' tells more.\n");
}

static int help_main(int argc, char **argv)
{
    usage(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "allot: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
