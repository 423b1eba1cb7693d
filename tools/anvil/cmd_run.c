/*
 * cmd_run.c — `anvil run MODEL -i NAME=FILE.npy ... [-o DIR]`: runs a model on .npy inputs
 * with the reference interpreter (the only execution path so far) and writes one .npy per
 * output. Inputs are checked by the library (MISSING_INPUT, dtype and shape errors); this file
 * only maps arguments to model inputs and outputs to file names.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_run_help[] =
    "USAGE\n"
    "  anvil run MODEL.onnx [-i [NAME=]FILE.npy]... [-o DIR] [--reference]\n"
    "\n"
    "Runs the model on the given inputs and prints each output's name, dtype and shape.\n"
    "With -o, writes each output to DIR/<output name>.npy; characters of the name outside\n"
    "[A-Za-z0-9._-] become '_' (a clash gets a _2, _3, ... suffix). DIR is created if missing.\n"
    "An input missing from the command line is an error naming each missing input with its\n"
    "expected dtype and shape.\n"
    "\n"
    "OPTIONS\n"
    "  -i, --input NAME=FILE.npy   feed FILE.npy to the model input NAME; repeat per input.\n"
    "                              A model with a single input also takes -i FILE.npy.\n"
    "  -o, --output-dir DIR        write the outputs as .npy files into DIR\n"
    "      --reference             run with the reference interpreter (the default, and the\n"
    "                              only engine for now)\n"
    "  -h, --help                  show this help\n"
    "\n"
    "EXAMPLES\n"
    "  anvil run mobilenet_v2.onnx -i input=image.npy -o out/\n"
    "  anvil run mobilenet_v2.onnx -i image.npy\n"
    "  anvil run encoder.onnx -i ids=ids.npy -i mask=mask.npy -o out/ --reference\n";

typedef struct run_args {
    const char *model_path;
    const char *out_dir;
    char **specs; /* -i values, in order */
    int n_specs;
} run_args;

static int parse_run_args(int argc, char **argv, run_args *a) {
    enum { OPT_REFERENCE = 256 };
    static const struct option longs[] = {{"input", required_argument, NULL, 'i'},
                                          {"output-dir", required_argument, NULL, 'o'},
                                          {"reference", no_argument, NULL, OPT_REFERENCE},
                                          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->specs = calloc((size_t)argc, sizeof *a->specs);
    if (!a->specs) return cli_error("out of memory");
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:o:", longs, NULL)) != -1) {
        if (c == 'i') a->specs[a->n_specs++] = optarg;
        else if (c == 'o') a->out_dir = optarg;
        else if (c != OPT_REFERENCE) return cli_bad_option("run", c, argv);
    }
    if (optind == argc) return cli_usage_error("run", "missing MODEL argument");
    if (optind != argc - 1)
        return cli_usage_error("run", "expected one MODEL, got %d arguments", argc - optind);
    a->model_path = argv[optind];
    if (a->out_dir && !a->out_dir[0]) return cli_usage_error("run", "-o needs a folder name");
    return CLI_EXIT_OK;
}

/* Index of the model input called `name`, or -1. */
static long find_input(const anvil_model *model, const char *name, size_t name_len) {
    size_t n = anvil_model_input_count(model);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        if (anvil_model_input(model, i, &d) == ANVIL_OK && d.name &&
            strlen(d.name) == name_len && memcmp(d.name, name, name_len) == 0)
            return (long)i;
    }
    return -1;
}

/* "input (f32 [1, 3, 224, 224]), mask (i64 [batch, ?])" for usage messages. */
static const char *format_inputs(const anvil_model *model, char *out, size_t size) {
    size_t n = anvil_model_input_count(model), len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < size; i++) {
        anvil_tensor_desc d;
        char shape[256];
        if (anvil_model_input(model, i, &d) != ANVIL_OK) continue;
        int w = snprintf(out + len, size - len, "%s%s (%s %s)", len ? ", " : "",
                         d.name ? d.name : "", anvil_dtype_name(d.dtype),
                         cli_format_shape(d.rank, d.dims, d.dim_names, shape, sizeof shape));
        if (w < 0) break;
        len = (size_t)w >= size - len ? size - 1 : len + (size_t)w;
    }
    return n ? out : "none";
}

/* Maps one -i value to a model input index and a file. NAME=FILE when NAME is an input of the
 * model; a bare FILE (or one whose text before '=' is no input name but which exists as a file)
 * for a single-input model. */
static int resolve_spec(const anvil_model *model, const char *spec, long *index,
                        const char **file) {
    const char *eq = strchr(spec, '=');
    char list[1024];
    *index = -1;
    *file = NULL;
    if (eq) {
        *index = find_input(model, spec, (size_t)(eq - spec));
        *file = eq + 1;
        if (*index >= 0) return CLI_EXIT_OK;
    }
    if (!eq || access(spec, F_OK) == 0) {
        if (anvil_model_input_count(model) == 1) {
            *index = 0;
            *file = spec;
            return CLI_EXIT_OK;
        }
        return cli_usage_error("run", "-i '%s' gives no input name, but the model has %zu "
                                      "inputs; use -i NAME=FILE.npy with NAME among: %s",
                               spec, anvil_model_input_count(model),
                               format_inputs(model, list, sizeof list));
    }
    return cli_usage_error("run", "-i '%s': the model has no input '%.*s'; its inputs: %s",
                           spec, (int)(eq - spec), spec, format_inputs(model, list, sizeof list));
}

/* Reads every -i file into lists[k] and fills inputs[k] (named after the model input). */
static int load_inputs(const anvil_model *model, const run_args *a, anvil_tensor_list **lists,
                       anvil_tensor *inputs) {
    size_t n_model = anvil_model_input_count(model);
    bool *given = calloc(n_model + 1, sizeof *given);
    if (!given) return cli_error("out of memory");
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < a->n_specs && rc == CLI_EXIT_OK; k++) {
        long index = -1;
        const char *file = NULL;
        anvil_tensor_desc d;
        rc = resolve_spec(model, a->specs[k], &index, &file);
        if (rc != CLI_EXIT_OK) break;
        anvil_status st = anvil_model_input(model, (size_t)index, &d);
        if (st != ANVIL_OK) {
            rc = cli_library_error(st);
        } else if (given[index]) {
            rc = cli_usage_error("run", "input '%s' is given twice", d.name);
        } else if (!file[0]) {
            rc = cli_usage_error("run", "-i '%s': missing file name", a->specs[k]);
        } else if ((st = anvil_npy_read(file, &lists[k])) != ANVIL_OK) {
            rc = cli_library_error(st);
        } else {
            given[index] = true;
            inputs[k] = *anvil_tensor_list_get(lists[k], 0);
            inputs[k].name = d.name;
        }
    }
    free(given);
    return rc;
}

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

int cli_run_main(int argc, char **argv) {
    run_args a;
    int rc = parse_run_args(argc, argv, &a);
    anvil_model *model = NULL;
    anvil_tensor_list **lists = calloc((size_t)a.n_specs + 1, sizeof *lists);
    anvil_tensor *inputs = calloc((size_t)a.n_specs + 1, sizeof *inputs);
    if (rc == CLI_EXIT_OK && (!lists || !inputs)) rc = cli_error("out of memory");
    anvil_status st;
    if (rc == CLI_EXIT_OK && (st = anvil_model_load(a.model_path, &model)) != ANVIL_OK)
        rc = cli_library_error(st);
    if (rc == CLI_EXIT_OK) rc = load_inputs(model, &a, lists, inputs);
    anvil_tensor_list *out = NULL;
    if (rc == CLI_EXIT_OK &&
        (st = anvil_model_run_reference(model, inputs, (size_t)a.n_specs, &out)) != ANVIL_OK)
        rc = cli_library_error(st);
    if (rc == CLI_EXIT_OK) rc = write_outputs(out, a.out_dir);
    anvil_tensor_list_destroy(out);
    for (int k = 0; lists && k < a.n_specs; k++) anvil_tensor_list_destroy(lists[k]);
    free(lists);
    free(inputs);
    free(a.specs);
    anvil_model_destroy(model);
    return rc;
}
