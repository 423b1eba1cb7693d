/*
 * main.c — entry point of the `anvil` tool: the command table, `--help` / `help CMD`,
 * `--version`, and dispatch to cmd_<name>.c. Commands do the work; this file only routes.
 */
#include "cli.h"

#include <string.h>

static const cli_command k_commands[] = {
    {"compile", "compile a model into an engine file (profiles, tactics, packed weights)",
     cli_compile_help, cli_compile_main},
    {"inspect", "show a model's inputs, ops and weights, or an engine's layers and tactics",
     cli_inspect_help, cli_inspect_main},
    {"run", "run a model or engine on .npy inputs (or the reference interpreter)", cli_run_help,
     cli_run_main},
    {"bench", "time runs of a model or engine: min, median and max latency", cli_bench_help,
     cli_bench_main},
    {"refit", "give an engine file new weights from an ONNX model or safetensors checkpoint",
     cli_refit_help, cli_refit_main},
    {"map", "match a model's initializers to a checkpoint's tensors by content (name map)",
     cli_map_help, cli_map_main},
};

#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

static const cli_command *find_command(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(k_commands[i].name, name) == 0) return &k_commands[i];
    return NULL;
}

static void print_command_list(FILE *f) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", k_commands[i].name, k_commands[i].summary);
}

static void print_main_help(FILE *f) {
    fprintf(f,
            "anvil %s: compile, inspect, run and time ONNX models\n"
            "\n"
            "USAGE\n"
            "  anvil COMMAND [OPTIONS] [ARGS]\n"
            "  anvil help COMMAND        (or: anvil COMMAND --help)\n"
            "  anvil --version\n"
            "\n"
            "COMMANDS\n",
            anvil_version());
    print_command_list(f);
    fputs("\nOPTIONS\n"
          "  -h, --help     show this help\n"
          "  -V, --version  show the tool and library versions\n"
          "\n"
          "EXAMPLES\n"
          "  anvil inspect model.onnx\n"
          "  anvil compile model.onnx -o model.anvil --threads 2\n"
          "  anvil inspect model.anvil\n"
          "  anvil run model.anvil -i input=x.npy -o out/\n"
          "  anvil bench model.onnx --threads 2 --runs 100\n"
          "  anvil refit model.anvil new_weights.safetensors -o model.new.anvil\n"
          "  anvil map model.onnx state_dict.safetensors -o map.json\n"
          "\n",
          f);
    fputs(cli_exit_codes_help, f);
}

static void print_command_help(FILE *f, const cli_command *cmd) {
    fputs(cmd->help, f);
    fputc('\n', f);
    fputs(cli_exit_codes_help, f);
}

static int unknown_command(const char *name) {
    fprintf(stderr, "anvil: unknown command '%s'; commands:", name);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(stderr, "%s %s", i ? "," : "", k_commands[i].name);
    fputs("\nTry 'anvil --help'.\n", stderr);
    return CLI_EXIT_USAGE;
}

/* True when a command's arguments ask for help. Arguments after "--" are operands. */
static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
    }
    return false;
}

static int help_command(int argc, char **argv) {
    if (argc < 2) {
        print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 2) return cli_usage_error("help", "expected one command name, got %d", argc - 1);
    const cli_command *cmd = find_command(argv[1]);
    if (!cmd) return unknown_command(argv[1]);
    print_command_help(stdout, cmd);
    return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_main_help(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("anvil %s (library %s)\n", ANVIL_VERSION_STRING, anvil_version());
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) return help_command(argc - 1, argv + 1);
    if (name[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", name);
    const cli_command *cmd = find_command(name);
    if (!cmd) return unknown_command(name);
    if (wants_help(argc - 1, argv + 1)) {
        print_command_help(stdout, cmd);
        return CLI_EXIT_OK;
    }
    return cmd->main(argc - 1, argv + 1);
}
