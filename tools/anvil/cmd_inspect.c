/*
 * cmd_inspect.c — `anvil inspect MODEL|ENGINE`: prints a model's inputs and outputs (dtype,
 * shape with symbolic dims), its op histogram, initializer and parameter counts, weight bytes and
 * opset; `--graph` adds the full node listing. Engine files (found by their magic) are handed to
 * cmd_inspect_engine.c. Read-only: it never runs anything.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cli_inspect_help[] =
    "USAGE\n"
    "  anvil inspect MODEL.onnx [--graph]\n"
    "  anvil inspect ENGINE [--sources]\n"
    "\n"
    "For a model: its inputs and outputs (name, dtype, shape; dims that are not fixed show\n"
    "their symbolic name, or ? without one), the op histogram sorted by count, the number of\n"
    "initializers, the parameter count (sum of their elements) and their size in bytes, and\n"
    "the ONNX opset.\n"
    "For an engine file (recognized by its first bytes, whatever its name): backend,\n"
    "precision, threads, whether it is refittable and whether it needs weights (stripped), its\n"
    "inputs with their profiles (min, opt, max) and outputs, a table of the executed layers\n"
    "(index, name, op, tactic, fused ops, output shape at the opt shapes), the activation arena\n"
    "against the sum of all activations (what reuse saves), the weight bytes and slots, and\n"
    "whether it holds a name map. --sources lists the source weights a refit must supply\n"
    "(name, dtype, shape; mapped: the checkpoint tensors the name map computes it from).\n"
    "\n"
    "OPTIONS\n"
    "  -g, --graph    also print every value and node of the graph (models only)\n"
    "  -s, --sources  list the refittable source weights (engines only)\n"
    "  -h, --help     show this help\n"
    "\n"
    "EXAMPLES\n"
    "  anvil inspect mobilenet_v2.onnx\n"
    "  anvil inspect model.onnx --graph | less\n"
    "  anvil inspect mobilenet_v2.anvil\n"
    "  anvil inspect mobilenet_v2.anvil --sources\n";

typedef struct op_count {
    const char *op;
    size_t count;
    size_t first_seen;
} op_count;

/* Most frequent first; ties keep the model's first-seen order. */
static int by_count(const void *a, const void *b) {
    const op_count *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return x->first_seen < y->first_seen ? -1 : x->first_seen > y->first_seen;
}

static int print_tensors(const anvil_model *model, bool inputs) {
    size_t n = inputs ? anvil_model_input_count(model) : anvil_model_output_count(model);
    printf("%-13s%zu\n", inputs ? "inputs" : "outputs", n);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        anvil_status st =
            inputs ? anvil_model_input(model, i, &d) : anvil_model_output(model, i, &d);
        if (st != ANVIL_OK) return cli_library_error(st);
        char shape[512];
        printf("  %-24s %-5s %s\n", d.name ? d.name : "", anvil_dtype_name(d.dtype),
               cli_format_shape(d.rank, d.dims, d.dim_names, shape, sizeof shape));
    }
    return CLI_EXIT_OK;
}

static int print_ops(const anvil_model *model) {
    size_t n = 0, count;
    while (anvil_model_op_type(model, n, &count)) n++;
    printf("%-13s%zu\n", "nodes", anvil_model_node_count(model, NULL));
    printf("%-13s%zu distinct\n", "ops", n);
    if (n == 0) return CLI_EXIT_OK;
    op_count *ops = calloc(n, sizeof *ops);
    if (!ops) return cli_error("out of memory");
    size_t width = 0;
    for (size_t i = 0; i < n; i++) {
        ops[i].op = anvil_model_op_type(model, i, &ops[i].count);
        ops[i].first_seen = i;
        if (strlen(ops[i].op) > width) width = strlen(ops[i].op);
    }
    qsort(ops, n, sizeof *ops, by_count);
    for (size_t i = 0; i < n; i++) printf("  %-*s %zu\n", (int)width + 1, ops[i].op, ops[i].count);
    free(ops);
    return CLI_EXIT_OK;
}

static int print_weights(const anvil_model *model) {
    size_t n = anvil_model_initializer_count(model);
    uint64_t params = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        size_t b = 0;
        anvil_status st = anvil_model_initializer(model, i, &d, &b);
        if (st != ANVIL_OK) return cli_library_error(st);
        int64_t numel = anvil_shape_numel(d.rank, d.dims);
        if (numel > 0) params += (uint64_t)numel;
        bytes += b;
    }
    char a[64], b[64], c[64];
    printf("%-13s%zu\n", "initializers", n);
    printf("%-13s%s\n", "parameters", cli_format_count(params, a, sizeof a));
    printf("%-13s%s (%s bytes)\n", "weights", cli_format_bytes(bytes, b, sizeof b),
           cli_format_count(bytes, c, sizeof c));
    return CLI_EXIT_OK;
}

/* user: the last character written, so the listing can be ended with a newline. */
static void write_stdout(void *user, const char *text, size_t length) {
    if (length == 0) return;
    fwrite(text, 1, length, stdout);
    *(char *)user = text[length - 1];
}

int cli_inspect_main(int argc, char **argv) {
    static const struct option longs[] = {{"graph", no_argument, NULL, 'g'},
                                          {"sources", no_argument, NULL, 's'},
                                          {0, 0, 0, 0}};
    bool graph = false, sources = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":gs", longs, NULL)) != -1) {
        if (c == 'g') graph = true;
        else if (c == 's') sources = true;
        else return cli_bad_option("inspect", c, argv);
    }
    if (optind == argc) return cli_usage_error("inspect", "missing MODEL argument");
    if (optind != argc - 1)
        return cli_usage_error("inspect", "expected one MODEL, got %d arguments", argc - optind);
    const char *path = argv[optind];
    if (cli_is_engine_file(path)) {
        if (graph)
            return cli_usage_error("inspect", "--graph lists a model's graph; '%s' is an engine "
                                   "file (its layers are listed without it)", path);
        return cli_inspect_engine(path, sources);
    }
    if (sources)
        return cli_usage_error("inspect", "--sources lists an engine's refittable weights; '%s' "
                               "is a model (its initializers are counted without it)", path);
    anvil_model *model = NULL;
    anvil_status st = anvil_model_load(path, &model);
    if (st != ANVIL_OK) return cli_library_error(st);
    printf("%-13s%s\n", "model", path);
    printf("%-13s%lld\n", "opset", (long long)anvil_model_opset(model));
    int rc = print_tensors(model, true);
    if (rc == CLI_EXIT_OK) rc = print_tensors(model, false);
    if (rc == CLI_EXIT_OK) rc = print_ops(model);
    if (rc == CLI_EXIT_OK) rc = print_weights(model);
    if (rc == CLI_EXIT_OK && graph) {
        char last = '\n';
        fputs("\n", stdout);
        st = anvil_model_print(model, write_stdout, &last);
        if (last != '\n') fputc('\n', stdout);
        if (st != ANVIL_OK) rc = cli_library_error(st);
    }
    anvil_model_destroy(model);
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0) rc = cli_error("cannot write to stdout");
    return rc;
}
