/*
 * cmd_map.c — `anvil map MODEL CHECKPOINT -o MAP.json`: builds the name map of an ONNX model
 * against the safetensors checkpoint it was exported from (anvil_name_map_build), saves it and
 * prints what matched how, what did not, and the time. The matching is the library's; this file
 * parses arguments and reports.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char cli_map_help[] =
    "USAGE\n"
    "  anvil map MODEL CHECKPOINT -o MAP.json [--tolerance T]\n"
    "\n"
    "Matches every initializer of the ONNX model MODEL to the tensors of the safetensors\n"
    "CHECKPOINT it was exported from (a PyTorch state dict), by content: the same tensor\n"
    "(identity; under the initializer's own name first), a transpose (attention and linear\n"
    "weights exported for MatMul), or a BatchNorm the exporter folded into a Conv's weight and\n"
    "bias (eps found among 1e-5, 1e-3, 1e-4, 1e-6, 1e-2). Writes the name map to MAP.json,\n"
    "atomically; `anvil compile --map` and `anvil refit --map` take it, so that later\n"
    "checkpoints in the state dict's names refit the engine directly. Prints the number of\n"
    "initializers per kind of match, the initializers nothing matched (constants the exporter\n"
    "made), how many checkpoint tensors no entry reads, and the time. Fails (nothing written)\n"
    "when no initializer matches at all.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output MAP.json       the name map file to write (required)\n"
    "      --tolerance T           a candidate matches when max|a - b| <= T * max|b| (default\n"
    "                              1e-6: folds computed in another order differ in the last\n"
    "                              bits); 0 accepts exact matches only\n"
    "  -h, --help                  show this help\n"
    "\n"
    "EXAMPLES\n"
    "  anvil map mobilenet_v2.onnx state_dict.safetensors -o map.json\n"
    "  anvil compile mobilenet_v2.onnx -o mnv2.anvil --map map.json\n"
    "  anvil refit mnv2.anvil finetuned.safetensors -o mnv2.ft.anvil\n";

/* Unmatched initializers listed by name, at most this many. */
#define MAP_LIST_MAX 20

typedef struct map_args {
    const char *model_path;
    const char *ckpt_path;
    const char *out_path;
    anvil_map_options options;
} map_args;

static int parse_map_args(int argc, char **argv, map_args *a) {
    enum { OPT_TOLERANCE = 256 };
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"tolerance", required_argument, NULL, OPT_TOLERANCE},
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->options = anvil_map_options_default();
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", longs, NULL)) != -1) {
        if (c == 'o') {
            a->out_path = optarg;
        } else if (c == OPT_TOLERANCE) {
            char *end = NULL;
            double t = strtod(optarg, &end);
            if (!end || end == optarg || *end || !isfinite(t) || t < 0 || t >= 1)
                return cli_usage_error("map", "--tolerance wants a number in [0, 1), got '%s'",
                                       optarg);
            a->options.tolerance = t;
        } else {
            return cli_bad_option("map", c, argv);
        }
    }
    int rc = cli_two_arguments("map", argc, argv, "MODEL", "CHECKPOINT", &a->model_path,
                               &a->ckpt_path);
    if (rc != CLI_EXIT_OK) return rc;
    if (!a->out_path || !a->out_path[0])
        return cli_usage_error("map", "missing -o MAP.json (the file to write)");
    return CLI_EXIT_OK;
}

/* True when some entry of the map reads checkpoint tensor `name`, or a tie group checks it. */
static bool used_by_map(const anvil_name_map *map, const char *name) {
    for (size_t i = 0; i < anvil_name_map_count(map); i++) {
        anvil_map_entry e;
        if (anvil_name_map_entry(map, i, &e) != ANVIL_OK) continue;
        for (int32_t k = 0; k < e.n_sources; k++)
            if (strcmp(e.sources[k], name) == 0) return true;
    }
    for (size_t i = 0; i < anvil_name_map_tie_count(map); i++) {
        const char *const *names = NULL;
        size_t n = 0;
        if (anvil_name_map_tie(map, i, &names, &n) != ANVIL_OK) continue;
        for (size_t k = 0; k < n; k++)
            if (strcmp(names[k], name) == 0) return true;
    }
    return false;
}

/* The tie groups, one line each ("a = b = c"), then their count. */
static void print_ties(const anvil_name_map *map) {
    size_t n = anvil_name_map_tie_count(map);
    if (n)
        printf("tied checkpoint tensors (equal today; the model may use one for all: a refit "
               "refuses a checkpoint where they differ):\n");
    for (size_t i = 0; i < n && i < MAP_LIST_MAX; i++) {
        const char *const *names = NULL;
        size_t count = 0;
        if (anvil_name_map_tie(map, i, &names, &count) != ANVIL_OK) continue;
        printf(" ");
        for (size_t k = 0; k < count && k < 4; k++) printf("%s %s", k ? " =" : "", names[k]);
        printf("%s\n", count > 4 ? " = ..." : "");
    }
    if (n > MAP_LIST_MAX) printf("  ... and %zu more\n", n - MAP_LIST_MAX);
    if (n) printf("%-13s%zu group(s)\n", "tied", n);
}

/* "unused  52 of 314 (a, b, c, ...)": checkpoint tensors no entry reads, the first few named. */
static void print_unused(const anvil_name_map *map, const anvil_safetensors *st) {
    size_t n = anvil_safetensors_count(st), unused = 0;
    const char *first[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < n; i++) {
        anvil_tensor t;
        if (anvil_safetensors_get(st, i, &t) != ANVIL_OK || used_by_map(map, t.name)) continue;
        if (unused < 3) first[unused] = t.name;
        unused++;
    }
    printf("%-13s%zu of %zu checkpoint tensors", "unused", unused, n);
    for (size_t i = 0; i < unused && i < 3; i++) printf("%s%s", i ? ", " : " (", first[i]);
    printf("%s\n", unused > 3 ? ", ...)" : unused ? ")" : "");
}

static int print_summary(const map_args *a, const anvil_model *model,
                         const anvil_safetensors *st, const anvil_name_map *map, double ms) {
    size_t kinds[ANVIL_MAP_KIND_COUNT] = {0};
    for (size_t i = 0; i < anvil_name_map_count(map); i++) {
        anvil_map_entry e;
        if (anvil_name_map_entry(map, i, &e) == ANVIL_OK && (unsigned)e.kind < ANVIL_MAP_KIND_COUNT)
            kinds[e.kind]++;
    }
    size_t n_un = anvil_name_map_unmatched_count(map);
    printf("%-13s%s (%zu initializers)\n", "model", a->model_path,
           anvil_model_initializer_count(model));
    printf("%-13s%s (%zu tensors)\n", "checkpoint", a->ckpt_path, anvil_safetensors_count(st));
    printf("%-13s%zu\n", "identity", kinds[ANVIL_MAP_IDENTITY]);
    printf("%-13s%zu\n", "transpose", kinds[ANVIL_MAP_TRANSPOSE]);
    printf("%-13s%zu weights, %zu biases\n", "bn fold", kinds[ANVIL_MAP_CONV_BN_FOLD_WEIGHT],
           kinds[ANVIL_MAP_CONV_BN_FOLD_BIAS]);
    if (n_un) printf("unmatched initializers (left out of the map):\n");
    for (size_t i = 0; i < n_un && i < MAP_LIST_MAX; i++)
        printf("  %s\n", anvil_name_map_unmatched(map, i));
    if (n_un > MAP_LIST_MAX) printf("  ... and %zu more\n", n_un - MAP_LIST_MAX);
    printf("%-13s%zu\n", "unmatched", n_un);
    print_ties(map);
    print_unused(map, st);
    printf("%-13s%.1f ms\n", "time", ms);
    printf("%-13s%s (%zu entries)\n", "output", a->out_path, anvil_name_map_count(map));
    return fflush(stdout) == 0 ? CLI_EXIT_OK : cli_error("cannot write to stdout");
}

int cli_map_main(int argc, char **argv) {
    map_args a;
    anvil_model *model = NULL;
    anvil_safetensors *st = NULL;
    anvil_name_map *map = NULL;
    anvil_status s;
    double ms = 0;
    int rc = parse_map_args(argc, argv, &a);
    if (rc == CLI_EXIT_OK && (s = anvil_model_load(a.model_path, &model)) != ANVIL_OK)
        rc = cli_library_error(s);
    if (rc == CLI_EXIT_OK && (s = anvil_safetensors_open(a.ckpt_path, &st)) != ANVIL_OK)
        rc = cli_library_error(s);
    if (rc == CLI_EXIT_OK) {
        double t0 = cli_now();
        s = anvil_name_map_build(model, st, &a.options, &map);
        ms = (cli_now() - t0) * 1e3;
        if (s != ANVIL_OK) rc = cli_library_error(s);
    }
    if (rc == CLI_EXIT_OK && anvil_name_map_count(map) == 0 &&
        anvil_model_initializer_count(model) > 0)
        rc = cli_error("no initializer of '%s' matches a tensor of '%s' (is it the checkpoint "
                       "the model was exported from?); nothing written", a.model_path,
                       a.ckpt_path);
    if (rc == CLI_EXIT_OK && (s = anvil_name_map_save(map, a.out_path)) != ANVIL_OK)
        rc = cli_library_error(s);
    if (rc == CLI_EXIT_OK) rc = print_summary(&a, model, st, map, ms);
    anvil_name_map_destroy(map);
    anvil_safetensors_close(st);
    anvil_model_destroy(model);
    return rc;
}
