/*
 * cmd_run.c — `anvil run MODEL|ENGINE -i NAME=FILE.npy ... [-o DIR]`: runs an engine file, an
 * ONNX model compiled in memory, or (--reference) the model with the reference interpreter, and
 * writes one .npy per output. Inputs are checked by the library (dtype, shape, profile); this
 * file maps arguments to inputs and outputs to file names.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_run_help[] =
    "USAGE\n"
    "  anvil run MODEL.onnx|ENGINE [-i [NAME=]FILE.npy]... [-o DIR] [--reference]\n"
    "            [--threads N] [compile options]\n"
    "\n"
    "Runs the model on the given inputs and prints each output's name, dtype and shape.\n"
    "An engine file (recognized by its first bytes, whatever its name) is loaded and run. An\n"
    "ONNX model is compiled in memory first (as `anvil compile` would, without saving); an input\n"
    "with dims the model leaves open is compiled for the shape of the file given, unless a\n"
    "--profile says otherwise. --reference runs the model with the reference interpreter instead.\n"
    "With -o, writes each output to DIR/<output name>.npy; characters of the name outside\n"
    "[A-Za-z0-9._-] become '_' (a clash gets a _2, _3, ... suffix). DIR is created if missing.\n"
    "An input missing from the command line is an error naming each missing input with its\n"
    "expected dtype and shape. A stripped engine (compile --stripped) cannot run before a refit:\n"
    "that is an error (exit 1) saying it needs weights.\n"
    "\n"
    "OPTIONS\n"
    "  -i, --input NAME=FILE.npy   feed FILE.npy to the input NAME; repeat per input.\n"
    "                              A single-input model or engine also takes -i FILE.npy.\n"
    "  -o, --output-dir DIR        write the outputs as .npy files into DIR\n"
    "      --reference             run an ONNX model with the reference interpreter (plain C\n"
    "                              kernels, one node at a time) instead of compiling it\n"
    "  -h, --help                  show this help\n"
    "Compile options (ONNX models only; an engine keeps those it was compiled with, so\n"
    "--threads must match it):\n"
    CLI_COMPILE_OPTIONS_HELP
    "\n"
    "EXAMPLES\n"
    "  anvil run mobilenet_v2.onnx -i input=image.npy -o out/\n"
    "  anvil run mobilenet_v2.anvil -i image.npy\n"
    "  anvil run encoder.onnx -i ids=ids.npy -i mask=mask.npy -o out/ --reference\n";

#define STEM_MAX 224

/* File stems of all outputs: the sanitized names, with _2, _3, ... when an earlier output
 * already took one (names "a/b" and "a_b" both sanitize to "a_b"). */
static void output_stems(const anvil_tensor_list *out, char (*stems)[STEM_MAX]) {
    size_t n = anvil_tensor_list_count(out);
    for (size_t i = 0; i < n; i++) {
        char base[STEM_MAX - 16];
        cli_sanitize_name(anvil_tensor_list_get(out, i)->name, base, sizeof base);
        snprintf(stems[i], STEM_MAX, "%s", base);
        for (unsigned suffix = 2;; suffix++) {
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++) taken = strcmp(stems[j], stems[i]) == 0;
            if (!taken) break;
            snprintf(stems[i], STEM_MAX, "%s_%u", base, suffix);
        }
    }
}

static int write_outputs(const anvil_tensor_list *out, const char *dir) {
    size_t n = anvil_tensor_list_count(out);
    char (*stems)[STEM_MAX] = calloc(n + 1, sizeof *stems);
    if (!stems) return cli_error("out of memory");
    output_stems(out, stems);
    int rc = CLI_EXIT_OK;
    if (dir && cli_make_dirs(dir) != 0)
        rc = cli_error("cannot create folder '%s': %s", dir, strerror(errno));
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++) {
        const anvil_tensor *t = anvil_tensor_list_get(out, i);
        char shape[256];
        printf("%s %s %s", t->name ? t->name : "", anvil_dtype_name(t->dtype),
               cli_format_shape(t->rank, t->dims, NULL, shape, sizeof shape));
        if (dir) {
            char path[4400];
            size_t len = strlen(dir);
            snprintf(path, sizeof path, "%s%s%s.npy", dir, dir[len - 1] == '/' ? "" : "/",
                     stems[i]);
            anvil_status st = anvil_npy_write(path, t);
            if (st == ANVIL_OK) printf(" -> %s", path);
            else rc = cli_library_error(st);
        }
        fputc('\n', stdout);
    }
    free(stems);
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0) rc = cli_error("cannot write to stdout");
    return rc;
}

typedef struct run_args {
    const char *path;
    const char *out_dir;
    char **specs; /* -i values, in order */
    int n_specs;
    bool reference;
    cli_compile_args compile;
} run_args;

static int parse_run_args(int argc, char **argv, run_args *a) {
    enum { OPT_REFERENCE = 256 };
    static const struct option longs[] = {{"input", required_argument, NULL, 'i'},
                                          {"output-dir", required_argument, NULL, 'o'},
                                          {"reference", no_argument, NULL, OPT_REFERENCE},
                                          CLI_COMPILE_LONG_OPTIONS,
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->specs = calloc((size_t)argc, sizeof *a->specs);
    if (!a->specs) return cli_error("out of memory");
    int rc = cli_compile_args_init(&a->compile, argc), c;
    opterr = 0;
    while (rc == CLI_EXIT_OK && (c = getopt_long(argc, argv, ":i:o:", longs, NULL)) != -1) {
        if (c == 'i') a->specs[a->n_specs++] = optarg;
        else if (c == 'o') a->out_dir = optarg;
        else if (c == OPT_REFERENCE) a->reference = true;
        else if ((rc = cli_compile_option("run", c, optarg, &a->compile)) == -1)
            rc = cli_bad_option("run", c, argv);
    }
    if (rc == CLI_EXIT_OK) rc = cli_model_argument("run", argc, argv, &a->path);
    if (rc != CLI_EXIT_OK) return rc;
    if (a->out_dir && !a->out_dir[0]) return cli_usage_error("run", "-o needs a folder name");
    rc = cli_check_reference_args("run", a->reference, &a->compile);
    if (rc != CLI_EXIT_OK) return rc;
    a->compile.progress = isatty(STDERR_FILENO) == 1;
    return CLI_EXIT_OK;
}

/* Runs `engine` once on the inputs. */
static int run_engine(const anvil_engine *engine, cli_inputs *in, anvil_tensor_list **out) {
    anvil_context *ctx = NULL;
    anvil_status st = anvil_context_create(engine, &ctx);
    if (st != ANVIL_OK) return cli_library_error(st);
    size_t n = cli_inputs_pack(in);
    int rc = cli_engine_run(ctx, in->tensors, n, out);
    anvil_context_destroy(ctx);
    return rc;
}

/* An engine file: load, check the options against it, read the inputs, run. */
static int run_engine_file(run_args *a, cli_inputs *in, anvil_tensor_list **out) {
    anvil_engine *engine = NULL;
    double seconds;
    if (a->reference)
        return cli_usage_error("run", "--reference needs an ONNX model; '%s' is an engine file",
                               a->path);
    int rc = cli_load_engine(a->path, &engine, &seconds);
    if (rc == CLI_EXIT_OK) rc = cli_check_engine_args("run", engine, a->path, &a->compile);
    cli_io io = {NULL, engine};
    if (rc == CLI_EXIT_OK) rc = cli_inputs_load("run", &io, a->specs, a->n_specs, in);
    if (rc == CLI_EXIT_OK) rc = cli_inputs_require_all(&io, in);
    if (rc == CLI_EXIT_OK) rc = run_engine(engine, in, out);
    anvil_engine_destroy(engine);
    return rc;
}

/* An ONNX model: the interpreter (--reference), or compiled in memory and run. */
static int run_model_file(run_args *a, cli_inputs *in, anvil_tensor_list **out) {
    anvil_model *model = NULL;
    anvil_engine *engine = NULL;
    anvil_status st = anvil_model_load(a->path, &model);
    if (st != ANVIL_OK) return cli_library_error(st);
    cli_io io = {model, NULL};
    int rc = cli_inputs_load("run", &io, a->specs, a->n_specs, in);
    if (rc == CLI_EXIT_OK) rc = cli_inputs_require_all(&io, in);
    if (rc == CLI_EXIT_OK && a->reference) {
        size_t n = cli_inputs_pack(in);
        if ((st = anvil_model_run_reference(model, in->tensors, n, out)) != ANVIL_OK)
            rc = cli_library_error(st);
    } else if (rc == CLI_EXIT_OK) {
        rc = cli_compile("run", model, &a->compile, in->tensors, in->n, &engine);
        if (rc == CLI_EXIT_OK) rc = run_engine(engine, in, out);
    }
    anvil_engine_destroy(engine);
    anvil_model_destroy(model);
    return rc;
}

int cli_run_main(int argc, char **argv) {
    run_args a;
    cli_inputs in = {0};
    anvil_tensor_list *out = NULL;
    int rc = parse_run_args(argc, argv, &a);
    if (rc == CLI_EXIT_OK)
        rc = cli_is_engine_file(a.path) ? run_engine_file(&a, &in, &out)
                                        : run_model_file(&a, &in, &out);
    if (rc == CLI_EXIT_OK) rc = write_outputs(out, a.out_dir);
    anvil_tensor_list_destroy(out);
    cli_inputs_free(&in);
    cli_compile_args_free(&a.compile);
    free(a.specs);
    return rc;
}
