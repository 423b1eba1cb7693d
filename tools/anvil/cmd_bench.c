/*
 * cmd_bench.c — `anvil bench MODEL|ENGINE`: times runs of an engine (loaded, or compiled in
 * memory from an ONNX model) or of the reference interpreter, and prints min / median / max
 * latency. One context, inputs from -i files or generated; only the run call is timed. The
 * side-by-side comparison with ONNX Runtime lives in bench/, not here.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_bench_help[] =
    "USAGE\n"
    "  anvil bench MODEL.onnx|ENGINE [--threads N] [--runs N] [--warmup N]\n"
    "              [-i NAME=FILE.npy]... [--reference] [compile options]\n"
    "\n"
    "Measures how long one run takes. An engine file (recognized by its first bytes) is\n"
    "loaded; an ONNX model is compiled in memory first (or, with --reference, run by the\n"
    "reference interpreter). Inputs not given with -i are generated: deterministic\n"
    "pseudo-random data of the input's shape (the profile's OPT shape for dims that vary; 1\n"
    "with --reference), floats uniform in [-1, 1), integers 0, booleans 1. After the warm-up\n"
    "runs, each run is timed alone (the inputs are not copied again; freeing the outputs is not\n"
    "timed). Prints the compile or load time, then the min, median, mean and max latency in ms.\n"
    "\n"
    "OPTIONS\n"
    "      --runs N                timed runs (default 50)\n"
    "      --warmup N              untimed runs first (default 5)\n"
    "  -i, --input NAME=FILE.npy   use FILE.npy for input NAME instead of generated data\n"
    "      --reference             time the reference interpreter on an ONNX model\n"
    "  -h, --help                  show this help\n"
    "Compile options (ONNX models only; an engine keeps those it was compiled with, so\n"
    "--threads must match it):\n"
    CLI_COMPILE_OPTIONS_HELP
    "\n"
    "EXAMPLES\n"
    "  anvil bench mobilenet_v2.onnx --threads 2\n"
    "  anvil bench mobilenet_v2.anvil --runs 200 --warmup 20\n"
    "  anvil bench encoder.onnx -i input=x.npy --reference --runs 5\n";

typedef struct bench_args {
    const char *path;
    char **specs;
    int n_specs;
    long runs, warmup;
    bool reference;
    cli_compile_args compile;
} bench_args;

static bool parse_count(const char *text, long lo, long *out) {
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < lo || v > 100000000) return false;
    *out = v;
    return true;
}

static int parse_bench_args(int argc, char **argv, bench_args *a) {
    enum { OPT_RUNS = 256, OPT_WARMUP, OPT_REFERENCE };
    static const struct option longs[] = {{"input", required_argument, NULL, 'i'},
                                          {"runs", required_argument, NULL, OPT_RUNS},
                                          {"warmup", required_argument, NULL, OPT_WARMUP},
                                          {"reference", no_argument, NULL, OPT_REFERENCE},
                                          CLI_COMPILE_LONG_OPTIONS,
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->runs = 50;
    a->warmup = 5;
    a->specs = calloc((size_t)argc, sizeof *a->specs);
    if (!a->specs) return cli_error("out of memory");
    int rc = cli_compile_args_init(&a->compile, argc), c;
    opterr = 0;
    while (rc == CLI_EXIT_OK && (c = getopt_long(argc, argv, ":i:", longs, NULL)) != -1) {
        if (c == 'i') a->specs[a->n_specs++] = optarg;
        else if (c == OPT_REFERENCE) a->reference = true;
        else if (c == OPT_RUNS && !parse_count(optarg, 1, &a->runs))
            rc = cli_usage_error("bench", "--runs '%s': expected a count >= 1", optarg);
        else if (c == OPT_WARMUP && !parse_count(optarg, 0, &a->warmup))
            rc = cli_usage_error("bench", "--warmup '%s': expected a count >= 0", optarg);
        else if (c != OPT_RUNS && c != OPT_WARMUP &&
                 (rc = cli_compile_option("bench", c, optarg, &a->compile)) == -1)
            rc = cli_bad_option("bench", c, argv);
    }
    if (rc == CLI_EXIT_OK) rc = cli_model_argument("bench", argc, argv, &a->path);
    if (rc == CLI_EXIT_OK) rc = cli_check_reference_args("bench", a->reference, &a->compile);
    if (rc != CLI_EXIT_OK) return rc;
    a->compile.progress = isatty(STDERR_FILENO) == 1;
    return CLI_EXIT_OK;
}

/* What is being timed: an engine through a context, or the model's interpreter. */
typedef struct bench_target {
    anvil_model *model;
    anvil_engine *engine;
    anvil_context *ctx;
} bench_target;

static int run_once(const bench_target *t, const cli_inputs *in, size_t n, double *seconds) {
    anvil_tensor_list *out = NULL;
    double t0 = cli_now();
    int rc = CLI_EXIT_OK;
    if (t->ctx) {
        rc = cli_engine_run(t->ctx, in->tensors, n, &out);
    } else {
        anvil_status st = anvil_model_run_reference(t->model, in->tensors, n, &out);
        if (st != ANVIL_OK) rc = cli_library_error(st);
    }
    *seconds = cli_now() - t0;
    anvil_tensor_list_destroy(out);
    return rc;
}

static void print_inputs(const cli_inputs *in) {
    for (size_t i = 0; i < in->n; i++) {
        const anvil_tensor *t = &in->tensors[i];
        char shape[256];
        printf("%-13s%s %s %s (%s)\n", i ? "" : "inputs", t->name, anvil_dtype_name(t->dtype),
               cli_format_shape(t->rank, t->dims, NULL, shape, sizeof shape),
               in->generated[i] ? "generated" : "from file");
    }
}

static int time_runs(const bench_target *t, cli_inputs *in, const bench_args *a) {
    size_t n = cli_inputs_pack(in);
    double *times = calloc((size_t)a->runs, sizeof *times), sum = 0, dummy;
    if (!times) return cli_error("out of memory");
    int rc = CLI_EXIT_OK;
    for (long i = 0; i < a->warmup && rc == CLI_EXIT_OK; i++) rc = run_once(t, in, n, &dummy);
    for (long i = 0; i < a->runs && rc == CLI_EXIT_OK; i++) {
        rc = run_once(t, in, n, &times[i]);
        sum += times[i];
    }
    if (rc == CLI_EXIT_OK) {
        double median = cli_sort_median(times, (size_t)a->runs);
        printf("%-13s%ld after %ld warm-up\n", "runs", a->runs, a->warmup);
        printf("%-13smin %.3f ms  median %.3f ms  mean %.3f ms  max %.3f ms\n", "latency",
               times[0] * 1e3, median * 1e3, sum / (double)a->runs * 1e3,
               times[a->runs - 1] * 1e3);
    }
    free(times);
    return rc;
}

/* Loads or compiles the target and prepares its inputs; prints the setup lines. */
static int prepare(bench_args *a, bench_target *t, cli_inputs *in) {
    cli_io io = {NULL, NULL};
    double seconds = 0;
    int rc;
    bool engine_file = cli_is_engine_file(a->path);
    if (engine_file) {
        if (a->reference)
            return cli_usage_error("bench", "--reference needs an ONNX model; '%s' is an "
                                   "engine file", a->path);
        rc = cli_load_engine(a->path, &t->engine, &seconds);
        if (rc == CLI_EXIT_OK) rc = cli_check_engine_args("bench", t->engine, a->path, &a->compile);
        io.engine = t->engine;
        if (rc == CLI_EXIT_OK) rc = cli_inputs_load("bench", &io, a->specs, a->n_specs, in);
    } else {
        anvil_status st = anvil_model_load(a->path, &t->model);
        if (st != ANVIL_OK) return cli_library_error(st);
        io.model = t->model;
        rc = cli_inputs_load("bench", &io, a->specs, a->n_specs, in);
        if (rc == CLI_EXIT_OK && !a->reference) {
            rc = cli_compile("bench", t->model, &a->compile, in->tensors, in->n, &t->engine);
            io = (cli_io){NULL, t->engine};
        }
    }
    if (rc == CLI_EXIT_OK) rc = cli_inputs_generate(&io, in);
    if (rc != CLI_EXIT_OK) return rc;
    if (t->engine) {
        anvil_status st = anvil_context_create(t->engine, &t->ctx);
        if (st != ANVIL_OK) return cli_library_error(st);
    }
    anvil_engine_info info = {0};
    anvil_status st = t->engine ? anvil_engine_get_info(t->engine, &info) : ANVIL_OK;
    if (st != ANVIL_OK) return cli_library_error(st);
    printf("%-13s%s\n", engine_file ? "engine" : "model", a->path);
    if (engine_file) printf("%-13s%.3f s\n", "load", seconds);
    else if (t->engine) printf("%-13s%.3f s\n", "compile", info.compile_seconds);
    if (t->engine) printf("%-13s%d\n", "threads", (int)info.threads);
    else printf("%-13s%s\n", "runs with", "the reference interpreter");
    print_inputs(in);
    return CLI_EXIT_OK;
}

int cli_bench_main(int argc, char **argv) {
    bench_args a;
    bench_target t = {0};
    cli_inputs in = {0};
    int rc = parse_bench_args(argc, argv, &a);
    if (rc == CLI_EXIT_OK) rc = prepare(&a, &t, &in);
    if (rc == CLI_EXIT_OK) rc = time_runs(&t, &in, &a);
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0) rc = cli_error("cannot write to stdout");
    anvil_context_destroy(t.ctx);
    anvil_engine_destroy(t.engine);
    anvil_model_destroy(t.model);
    cli_inputs_free(&in);
    cli_compile_args_free(&a.compile);
    free(a.specs);
    return rc;
}
