/*
 * cmd_refit.c — `anvil refit ENGINE SOURCE -o OUT`: loads an engine file, refits it with the
 * weights of an ONNX model or a safetensors checkpoint, saves the result and prints what the
 * refit did. The refit itself is the library's; this file picks the source reader, maps options
 * and reports: --map (checkpoint names, stored in the written engine) and --verify (sample
 * inputs the refitted engine must agree on with the reference interpreter).
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char cli_refit_help[] =
    "USAGE\n"
    "  anvil refit ENGINE SOURCE -o OUT [--map MAP.json] [--verify [NAME=]FILE.npy ...]\n"
    "  anvil refit ENGINE SOURCE --in-place [options]\n"
    "\n"
    "Loads the engine file ENGINE, gives it the weights of SOURCE by replaying the engine's\n"
    "recipes (no compile: the plan and tactics stay, only the packed weights are rebuilt) and\n"
    "saves the refitted engine to OUT, atomically. SOURCE is an ONNX model of the same structure\n"
    "(a name ending in .onnx, or any file that is not safetensors) or a safetensors checkpoint.\n"
    "Every refittable weight must be in it under its ONNX initializer name or, through a name\n"
    "map (--map, or the one stored in ENGINE), under its checkpoint name (PyTorch state-dict\n"
    "names, transposed or with BatchNorm to fold: see `anvil map`). Weights whose content did\n"
    "not change are not repacked. A stripped engine gets its weights this way. Prints the source\n"
    "weights read and changed, the bytes repacked, the refit time and the file written. On any\n"
    "failure nothing is written; a missing weight is named with the checkpoint's unused tensors.\n"
    "\n"
    "OPTIONS\n"
    "  -o, --output OUT            the engine file to write (required without --in-place)\n"
    "      --in-place              write the refitted engine back to ENGINE instead\n"
    "      --map MAP.json          name map from `anvil map`; it is stored in the written engine\n"
    "      --verify [NAME=]FILE.npy  a sample input (repeat for several inputs): the refitted\n"
    "                              engine and the reference interpreter must agree on it within\n"
    "                              --tolerance, or nothing is written\n"
    "      --tolerance T           verify bound on max|engine - reference| / max|reference|\n"
    "                              (default 1e-4)\n"
    "      --fallback-compile      when verify fails and SOURCE is an ONNX model, compile it\n"
    "                              afresh (the engine's compile options) and write that instead\n"
    "      --check-finite          refuse NaN or infinite values in float source weights\n"
    "      --threads N             threads that hash and pack the weights (default 0: all\n"
    "                              cores, or OMP_NUM_THREADS)\n"
    "  -h, --help                  show this help\n"
    "\n"
    "EXAMPLES\n"
    "  anvil refit mobilenet_v2.anvil v2.onnx -o mobilenet_v2.v2.anvil\n"
    "  anvil map mobilenet_v2.onnx v1.safetensors -o map.json\n"
    "  anvil refit mobilenet_v2.anvil v2.safetensors --map map.json -o v2.anvil \\\n"
    "      --verify input=image.npy\n"
    "  anvil refit stripped.anvil weights.safetensors --in-place\n";

typedef struct refit_args {
    const char *engine_path;
    const char *source_path;
    const char *out_path;
    const char *map_path;
    char *verify[64];
    int n_verify;
    double tolerance;
    bool in_place;
    bool check_finite;
    bool fallback_compile;
    int threads;
} refit_args;

static int parse_refit_args(int argc, char **argv, refit_args *a) {
    enum { OPT_IN_PLACE = 256, OPT_CHECK_FINITE, OPT_MAP, OPT_VERIFY, OPT_TOLERANCE, OPT_FALLBACK,
           OPT_THREADS };
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"in-place", no_argument, NULL, OPT_IN_PLACE},
                                          {"check-finite", no_argument, NULL, OPT_CHECK_FINITE},
                                          {"map", required_argument, NULL, OPT_MAP},
                                          {"verify", required_argument, NULL, OPT_VERIFY},
                                          {"tolerance", required_argument, NULL, OPT_TOLERANCE},
                                          {"fallback-compile", no_argument, NULL, OPT_FALLBACK},
                                          {"threads", required_argument, NULL, OPT_THREADS},
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->tolerance = 1e-4;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", longs, NULL)) != -1) {
        if (c == 'o') a->out_path = optarg;
        else if (c == OPT_IN_PLACE) a->in_place = true;
        else if (c == OPT_CHECK_FINITE) a->check_finite = true;
        else if (c == OPT_MAP) a->map_path = optarg;
        else if (c == OPT_FALLBACK) a->fallback_compile = true;
        else if (c == OPT_VERIFY) {
            if (a->n_verify == (int)(sizeof a->verify / sizeof a->verify[0]))
                return cli_usage_error("refit", "more than 64 --verify inputs");
            a->verify[a->n_verify++] = optarg;
        } else if (c == OPT_TOLERANCE) {
            char *end = NULL;
            a->tolerance = strtod(optarg, &end);
            if (!end || *end || !(a->tolerance > 0))
                return cli_usage_error("refit", "--tolerance wants a positive number, got '%s'",
                                       optarg);
        } else if (c == OPT_THREADS) {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!end || end == optarg || *end || v < 0 || v > 4096)
                return cli_usage_error("refit", "--threads '%s': expected 0 to 4096", optarg);
            a->threads = (int)v;
        } else return cli_bad_option("refit", c, argv);
    }
    int rc = cli_two_arguments("refit", argc, argv, "ENGINE", "SOURCE", &a->engine_path,
                               &a->source_path);
    if (rc != CLI_EXIT_OK) return rc;
    if (a->in_place && a->out_path)
        return cli_usage_error("refit", "-o and --in-place exclude each other");
    if (a->in_place) a->out_path = a->engine_path;
    if (!a->out_path || !a->out_path[0])
        return cli_usage_error("refit", "missing -o OUT (the file to write) or --in-place");
    if (a->fallback_compile && !a->n_verify)
        return cli_usage_error("refit", "--fallback-compile acts when --verify fails: give "
                               "--verify inputs too");
    return CLI_EXIT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Opens SOURCE into src: ONNX by extension; otherwise safetensors, falling back to ONNX when
 * the file opens but is not safetensors (a .safetensors name or an unreadable file has no
 * fallback: its own error is the useful one). */
static int open_source(const char *path, anvil_refit_source *src, anvil_model **model,
                       anvil_safetensors **st) {
    memset(src, 0, sizeof *src);
    char st_error[512] = "";
    anvil_status s;
    if (!ends_with(path, ".onnx")) {
        s = anvil_safetensors_open(path, st);
        if (s == ANVIL_OK) {
            src->kind = ANVIL_REFIT_FROM_SAFETENSORS;
            src->safetensors = *st;
            return CLI_EXIT_OK;
        }
        if (s == ANVIL_STATUS_IO_ERROR || s == ANVIL_STATUS_NOT_FOUND ||
            ends_with(path, ".safetensors"))
            return cli_library_error(s);
        snprintf(st_error, sizeof st_error, "%s: %s", anvil_status_string(s), anvil_last_error());
    }
    if ((s = anvil_model_load(path, model)) != ANVIL_OK) {
        cli_library_error(s);
        if (st_error[0])
            cli_error("'%s' is no ONNX model, nor a safetensors checkpoint (%s)", path, st_error);
        return CLI_EXIT_ERROR;
    }
    src->kind = ANVIL_REFIT_FROM_MODEL;
    src->model = *model;
    return CLI_EXIT_OK;
}

static int print_report(const refit_args *a, const anvil_refit_source *src,
                        const anvil_refit_report *r) {
    char b1[64], b2[64], b3[64];
    printf("%-13s%s\n", "engine", a->engine_path);
    printf("%-13s%s (%s)\n", "source", a->source_path,
           src->kind == ANVIL_REFIT_FROM_MODEL ? "ONNX model" : "safetensors");
    printf("%-13s%zu (%zu changed, %zu through the name map)\n", "sources", r->sources,
           r->sources_changed, r->sources_mapped);
    printf("%-13s%s of %s (%s bytes, %zu slots)\n", "repacked",
           cli_format_bytes(r->bytes_packed, b1, sizeof b1),
           cli_format_bytes(r->bytes_total, b3, sizeof b3),
           cli_format_count(r->bytes_packed, b2, sizeof b2), r->slots_rebuilt);
    if (r->recompiled)
        printf("%-13sfailed (%.3g of max |reference|, tolerance %.3g): compiled the model "
               "afresh instead\n", "verified", r->verify_error, a->tolerance);
    else if (a->n_verify)
        printf("%-13s%.3g of max |reference| (tolerance %.3g)\n", "verified", r->verify_error,
               a->tolerance);
    printf("%-13s%.3f ms\n", "refit", r->seconds * 1e3);
    printf("%-13s%s%s\n", "output", a->out_path, a->in_place ? " (in place)" : "");
    return fflush(stdout) == 0 ? CLI_EXIT_OK : cli_error("cannot write to stdout");
}

static int refit(const refit_args *a, anvil_engine *engine, const anvil_refit_source *src,
                 anvil_engine **refitted, anvil_refit_report *report) {
    cli_inputs in;
    memset(&in, 0, sizeof in);
    cli_io io = {NULL, engine};
    int rc = CLI_EXIT_OK;
    if (a->n_verify) {
        rc = cli_inputs_load("refit", &io, (char **)a->verify, a->n_verify, &in);
        if (rc == CLI_EXIT_OK) rc = cli_inputs_require_all(&io, &in);
    }
    if (rc == CLI_EXIT_OK) {
        /* In place: the loaded engine is ours alone, so a second copy would only cost memory. */
        anvil_refit_options o = anvil_refit_options_default();
        o.in_place = 1;
        o.check_finite = a->check_finite ? 1 : 0;
        o.verify_tolerance = a->tolerance;
        o.fallback_compile = a->fallback_compile ? 1 : 0;
        o.threads = a->threads;
        if (a->n_verify) {
            o.n_verify_inputs = cli_inputs_pack(&in);
            o.verify_inputs = in.tensors;
        }
        anvil_status s = anvil_engine_refit(engine, src, &o, refitted, report);
        if (s != ANVIL_OK) rc = cli_library_error(s);
    }
    cli_inputs_free(&in);
    return rc;
}

int cli_refit_main(int argc, char **argv) {
    refit_args a;
    anvil_engine *engine = NULL, *refitted = NULL;
    anvil_model *model = NULL;
    anvil_safetensors *st = NULL;
    anvil_refit_source src;
    anvil_refit_report report;
    memset(&report, 0, sizeof report);
    double load_seconds = 0;
    int rc = parse_refit_args(argc, argv, &a);
    if (rc == CLI_EXIT_OK) rc = cli_load_engine(a.engine_path, &engine, &load_seconds);
    if (rc == CLI_EXIT_OK) rc = cli_engine_set_map(engine, a.map_path);
    if (rc == CLI_EXIT_OK) rc = open_source(a.source_path, &src, &model, &st);
    if (rc == CLI_EXIT_OK) rc = refit(&a, engine, &src, &refitted, &report);
    if (rc == CLI_EXIT_OK) {
        anvil_save_options so = anvil_save_options_default();
        anvil_status s = anvil_engine_save(refitted, a.out_path, &so);
        if (s != ANVIL_OK) rc = cli_library_error(s);
    }
    if (rc == CLI_EXIT_OK) rc = print_report(&a, &src, &report);
    if (refitted != engine) anvil_engine_destroy(refitted);
    anvil_engine_destroy(engine);
    anvil_safetensors_close(st);
    anvil_model_destroy(model);
    return rc;
}
