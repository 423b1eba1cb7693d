/*
 * cmd_compile.c — `anvil compile MODEL -o ENGINE`: compiles an ONNX model for the CPU backend
 * with the command line's options and profiles, saves the engine (optionally stripped of its
 * weights) and prints a summary. The compile itself is the library's; this file maps options,
 * shows progress and reports.
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char cli_compile_help[] =
    "USAGE\n"
    "  anvil compile MODEL.onnx -o ENGINE [--stripped] [--threads N]\n"
    "                [--profile NAME:MIN,OPT,MAX]... [--no-autotune] [--opt-level N]\n"
    "                [--precision f32|bf16] [--map MAP.json]\n"
    "\n"
    "Compiles the model into an engine (optimization passes, a tactic per node, timed on the\n"
    "OPT shapes unless --no-autotune, a memory plan, packed weights) and saves it to ENGINE,\n"
    "atomically. Prints the compile progress on stderr (one updating line on a terminal, a line\n"
    "per stage otherwise) and then a summary: layers, weight bytes and slots, arena bytes,\n"
    "compile time and file size. Every dim the model leaves open needs a --profile (or is\n"
    "compiled as 1). Shapes are written with 'x': 1x3x224x224.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output ENGINE         the engine file to write (required)\n"
    "      --map MAP.json          store this name map (from `anvil map`) in the engine, so that\n"
    "                              `anvil refit` takes checkpoints in its source names\n"
    "      --stripped              save the plan and recipes without weights: smaller, and it\n"
    "                              runs only after a refit supplies the weights\n"
    CLI_COMPILE_OPTIONS_HELP
    "  -h, --help                  show this help\n"
    "\n"
    "EXAMPLES\n"
    "  anvil compile mobilenet_v2.onnx -o mobilenet_v2.anvil\n"
    "  anvil compile mobilenet_v2.onnx -o mnv2.anvil --threads 2 \\\n"
    "      --profile input:1x3x224x224,4x3x224x224,8x3x224x224\n"
    "  anvil compile encoder.onnx -o encoder.anvil --stripped --no-autotune\n";

typedef struct compile_args {
    const char *model_path;
    const char *engine_path;
    const char *map_path;
    bool stripped;
    cli_compile_args compile;
} compile_args;

static int parse_compile_args(int argc, char **argv, compile_args *a) {
    enum { OPT_STRIPPED = 256, OPT_MAP };
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"stripped", no_argument, NULL, OPT_STRIPPED},
                                          {"map", required_argument, NULL, OPT_MAP},
                                          CLI_COMPILE_LONG_OPTIONS,
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int rc = cli_compile_args_init(&a->compile, argc), c;
    opterr = 0;
    while (rc == CLI_EXIT_OK && (c = getopt_long(argc, argv, ":o:", longs, NULL)) != -1) {
        if (c == 'o') a->engine_path = optarg;
        else if (c == OPT_STRIPPED) a->stripped = true;
        else if (c == OPT_MAP) a->map_path = optarg;
        else if ((rc = cli_compile_option("compile", c, optarg, &a->compile)) == -1)
            rc = cli_bad_option("compile", c, argv);
    }
    if (rc != CLI_EXIT_OK) return rc;
    if (optind == argc) return cli_usage_error("compile", "missing MODEL argument");
    if (optind != argc - 1)
        return cli_usage_error("compile", "expected one MODEL, got %d arguments", argc - optind);
    a->model_path = argv[optind];
    if (!a->engine_path || !a->engine_path[0])
        return cli_usage_error("compile", "missing -o ENGINE (the file to write)");
    a->compile.progress = true;
    return CLI_EXIT_OK;
}

static int print_summary(const anvil_engine *engine, const compile_args *a) {
    anvil_engine_info info;
    anvil_status st = anvil_engine_get_info(engine, &info);
    if (st != ANVIL_OK) return cli_library_error(st);
    struct stat sb;
    char b1[64], b2[64], b3[64], b4[64];
    printf("%-13s%s%s\n", "engine", a->engine_path, a->stripped ? " (stripped: no weights)" : "");
    printf("%-13s%s\n", "model", a->model_path);
    printf("%-13s%zu\n", "layers", info.layer_count);
    printf("%-13s%s in %zu slots (%s bytes%s)\n", "weights",
           cli_format_bytes(info.weight_bytes, b1, sizeof b1), info.slot_count,
           cli_format_count(info.weight_bytes, b2, sizeof b2),
           a->stripped ? ", not saved" : "");
    printf("%-13s%s (activations without reuse: %s)\n", "arena",
           cli_format_bytes(info.arena_bytes, b1, sizeof b1),
           cli_format_bytes(info.activation_bytes, b2, sizeof b2));
    printf("%-13s%d\n", "threads", (int)info.threads);
    printf("%-13s%.3f s\n", "compile", info.compile_seconds);
    if (stat(a->engine_path, &sb) == 0)
        printf("%-13s%s (%s bytes)\n", "file", cli_format_bytes((uint64_t)sb.st_size, b3, sizeof b3),
               cli_format_count((uint64_t)sb.st_size, b4, sizeof b4));
    return fflush(stdout) == 0 ? CLI_EXIT_OK : cli_error("cannot write to stdout");
}

int cli_compile_main(int argc, char **argv) {
    compile_args a;
    anvil_model *model = NULL;
    anvil_engine *engine = NULL;
    int rc = parse_compile_args(argc, argv, &a);
    anvil_status st;
    if (rc == CLI_EXIT_OK && (st = anvil_model_load(a.model_path, &model)) != ANVIL_OK)
        rc = cli_library_error(st);
    if (rc == CLI_EXIT_OK) rc = cli_compile("compile", model, &a.compile, NULL, 0, &engine);
    if (rc == CLI_EXIT_OK) rc = cli_engine_set_map(engine, a.map_path);
    if (rc == CLI_EXIT_OK) {
        anvil_save_options so = anvil_save_options_default();
        so.stripped = a.stripped ? 1 : 0;
        if ((st = anvil_engine_save(engine, a.engine_path, &so)) != ANVIL_OK)
            rc = cli_library_error(st);
    }
    if (rc == CLI_EXIT_OK) rc = print_summary(engine, &a);
    anvil_engine_destroy(engine);
    anvil_model_destroy(model);
    cli_compile_args_free(&a.compile);
    return rc;
}
