/*
 * cli.h — shared declarations of the `anvil` command-line tool: the command table entry, exit
 * codes, and small helpers (error printing, name sanitizing, formatting). The tool uses only the
 * public anvil.h; nothing here is part of the library.
 */
#ifndef ANVIL_CLI_H
#define ANVIL_CLI_H

#include "anvil.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit codes, documented in every --help. */
enum {
    CLI_EXIT_OK = 0,    /* success */
    CLI_EXIT_ERROR = 1, /* runtime or library error */
    CLI_EXIT_USAGE = 2, /* bad or missing arguments */
};

/* One command. main.c holds the table; a new command (compile, bench, refit, map) is one more
 * entry plus its cmd_<name>.c. */
typedef struct cli_command {
    const char *name;
    const char *summary; /* one line for the command list */
    const char *help;    /* usage, description, options and examples (EXIT CODES are added) */
    /* argv[0] is the command name; --help is handled before this is called. */
    int (*main)(int argc, char **argv);
} cli_command;

/* Commands (cmd_<name>.c). */
extern const char cli_compile_help[];
int cli_compile_main(int argc, char **argv);
extern const char cli_inspect_help[];
int cli_inspect_main(int argc, char **argv);
/* `anvil inspect` of an engine file (cmd_inspect_engine.c). */
/* `anvil inspect ENGINE`; sources: also list the refittable source weights. */
int cli_inspect_engine(const char *path, bool sources);
extern const char cli_run_help[];
int cli_run_main(int argc, char **argv);
extern const char cli_bench_help[];
int cli_bench_main(int argc, char **argv);
extern const char cli_refit_help[];
int cli_refit_main(int argc, char **argv);
extern const char cli_map_help[];
int cli_map_main(int argc, char **argv);

/* The EXIT CODES section appended to every help text. */
extern const char cli_exit_codes_help[];

/* Prints "anvil: <status text>: <anvil_last_error()>" to stderr; returns CLI_EXIT_ERROR. */
int cli_library_error(anvil_status status);
/* Prints "anvil: <message>" to stderr; returns CLI_EXIT_ERROR (a failure that is not the
 * library's, e.g. creating a folder). */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints "anvil <command>: <message>" and a hint to run `anvil help <command>` to stderr;
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Usage error for getopt_long's answer c ('?' unknown option, ':' missing argument). */
int cli_bad_option(const char *command, int c, char **argv);
/* After getopt_long: the one operand left, MODEL, into *path; a usage error when it is
 * missing or there are several. */
int cli_model_argument(const char *command, int argc, char **argv, const char **path);
/* After getopt_long: exactly two operands (named `first` and `second` in messages) into *a
 * and *b; a usage error naming the missing one, or the count when there are more. */
int cli_two_arguments(const char *command, int argc, char **argv, const char *first,
                      const char *second, const char **a, const char **b);

/* Writes `name` as a file name stem into out (size > 1): every byte outside [A-Za-z0-9._-]
 * becomes '_', "" becomes "_", and it is cut to size - 1 bytes. Returns out. */
char *cli_sanitize_name(const char *name, char *out, size_t size);
/* "[1, 3, 224, 224]"; symbolic dims by name ("batch"), unknown ones as "?", unknown rank as
 * "[...]", rank 0 as "[]". Returns out. */
char *cli_format_shape(int32_t rank, const int64_t *dims, const char *const *dim_names,
                       char *out, size_t size);
/* "14,019,488". Returns out. */
char *cli_format_count(uint64_t value, char *out, size_t size);
/* "13.4 MiB" (B, KiB, MiB, GiB, TiB). Returns out. */
char *cli_format_bytes(uint64_t bytes, char *out, size_t size);
/* mkdir -p: creates the folder and its missing parents. Returns 0, or -1 with errno set. */
int cli_make_dirs(const char *path);
/* Monotonic clock in seconds. */
double cli_now(void);
/* Sorts v[0..n) ascending (n > 0) and returns its median. */
double cli_sort_median(double *v, size_t n);

/* ---- Engines (cli_engine.c) ---------------------------------------------------------------- */

/* First bytes of an engine file (docs/engine-format.md). */
#define CLI_ENGINE_MAGIC "ANVILENG"

/* True when the file starts with CLI_ENGINE_MAGIC; false when it does not or cannot be read
 * (loading it as a model then reports why). */
bool cli_is_engine_file(const char *path);

/* Parses "1x3x224x224" (len bytes of text; a scalar is not expressible). Dims are integers
 * >= 0. Returns false on bad syntax or rank > ANVIL_MAX_RANK. */
bool cli_parse_shape(const char *text, size_t len, int32_t *rank, int64_t *dims);
/* "1x3x224x224" (rank 0: "scalar"); dims < 0 as "?". Returns out. */
char *cli_shape_text(int32_t rank, const int64_t *dims, char *out, size_t size);
/* Parses NAME:MIN,OPT,MAX (or NAME:SHAPE for min = opt = max). p->name points into spec's copy
 * in *name_store (caller frees). On failure writes why into why and returns false. */
bool cli_parse_profile(const char *spec, anvil_input_profile *p, char **name_store, char *why,
                       size_t why_size);

/* Options shared by the commands that compile (compile, run, bench). */
enum {
    CLI_OPT_THREADS = 300,
    CLI_OPT_PROFILE,
    CLI_OPT_NO_AUTOTUNE,
    CLI_OPT_OPT_LEVEL,
    CLI_OPT_PRECISION,
};
/* Entries for getopt_long's table (the including file includes <getopt.h>). */
#define CLI_COMPILE_LONG_OPTIONS                                                               \
    {"threads", required_argument, NULL, CLI_OPT_THREADS},                                    \
    {"profile", required_argument, NULL, CLI_OPT_PROFILE},                                    \
    {"no-autotune", no_argument, NULL, CLI_OPT_NO_AUTOTUNE},                                  \
    {"opt-level", required_argument, NULL, CLI_OPT_OPT_LEVEL},                                \
    {"precision", required_argument, NULL, CLI_OPT_PRECISION}
/* Help lines for those options (a string literal, to be joined with a command's help). */
#define CLI_COMPILE_OPTIONS_HELP \
    "      --threads N             threads per run (default 0: one per core)\n" \
    "      --profile NAME:MIN,OPT,MAX\n" \
    "                              shapes the engine accepts for input NAME, e.g.\n" \
    "                              input:1x3x224x224,4x3x224x224,8x3x224x224; OPT is the shape\n" \
    "                              tuned for. NAME:SHAPE fixes one shape. Repeat per input.\n" \
    "      --no-autotune           take each node's first tactic instead of timing them\n" \
    "      --opt-level N           0: no passes, 1: folding and elimination, 2: all (default)\n" \
    "      --precision P           f32 (default) or bf16 (CPUs with avx512_bf16)\n"

typedef struct cli_compile_args {
    anvil_compile_options options;
    anvil_input_profile *profiles; /* one per --profile (capacity: argc) */
    char **names;                  /* owned profile names */
    size_t n_profiles;
    bool threads_given;
    bool tuning_given; /* --profile, --no-autotune, --opt-level or --precision given */
    bool progress;     /* show compile progress on stderr (set by the command) */
} cli_compile_args;

/* Sets defaults; capacity for argc profiles. Returns CLI_EXIT_OK or an error exit code. */
int cli_compile_args_init(cli_compile_args *a, int argc);
void cli_compile_args_free(cli_compile_args *a);
/* Handles getopt_long's answer c when it is one of the CLI_OPT_* compile options: returns
 * CLI_EXIT_OK or CLI_EXIT_USAGE (message printed); -1 when c is none of them. */
int cli_compile_option(const char *command, int c, const char *arg, cli_compile_args *a);

/* Compiles `model` with the command line's options. Each --profile must name an input of the
 * model with its rank and fixed dims (usage error otherwise). Inputs given on the command line
 * (`given`, NULL names allowed for unused entries) fix the profile of a dynamic input that has
 * no --profile to their shape. Prints the compile progress when a->progress. */
int cli_compile(const char *command, const anvil_model *model, cli_compile_args *a,
                const anvil_tensor *given, size_t n_given, anvil_engine **out);

/* --reference runs the interpreter, which takes no compile option: a usage error when
 * `reference` and any was given. */
int cli_check_reference_args(const char *command, bool reference, const cli_compile_args *a);

/* An engine file's compile-time options are fixed: a --threads that differs from the engine's,
 * or any other compile option, is a usage error. */
int cli_check_engine_args(const char *command, const anvil_engine *engine,
                          const char *path, const cli_compile_args *a);

/* Loads an engine file; *seconds gets the load time. Returns an exit code. */
int cli_load_engine(const char *path, anvil_engine **out, double *seconds);
/* --map: loads the name map at `path` (NULL: nothing to do) and stores it in the engine, so
 * the engine written next keeps it. Returns an exit code. */
int cli_engine_set_map(anvil_engine *engine, const char *path);
/* Runs `engine` once in `ctx`; a NEEDS_WEIGHTS failure gets a hint about stripped engines. */
int cli_engine_run(anvil_context *ctx, const anvil_tensor *inputs, size_t n,
                   anvil_tensor_list **out);

/* ---- Inputs (cli_inputs.c) ----------------------------------------------------------------- */

/* The inputs of what a command runs: a model (when model != NULL) or an engine. */
typedef struct cli_io {
    const anvil_model *model;
    const anvil_engine *engine;
} cli_io;

size_t cli_io_input_count(const cli_io *io);
anvil_status cli_io_input(const cli_io *io, size_t index, anvil_tensor_desc *out);

/* Command-line inputs: one tensor per input of `io`, in its order (name NULL: not given). */
typedef struct cli_inputs {
    size_t n;
    anvil_tensor *tensors;
    anvil_tensor_list **lists; /* .npy contents */
    void **generated;          /* data of generated inputs */
} cli_inputs;

/* Reads each -i [NAME=]FILE.npy (specs) into in->tensors at the input's index. Usage errors:
 * unknown NAME, NAME= missing for a several-input model, an input given twice. */
int cli_inputs_load(const char *command, const cli_io *io, char **specs, int n_specs,
                    cli_inputs *in);
/* Exit 1 with "anvil: missing input: 'x' (f32 1x3x224x224), ..." when an input is not given. */
int cli_inputs_require_all(const cli_io *io, const cli_inputs *in);
/* Fills every input not given with deterministic pseudo-random data of its shape (for dims that
 * vary: an engine's opt shape, 1 for a model): floats uniform in [-1, 1), integers 0 (a valid
 * index into any table), bool 1. */
int cli_inputs_generate(const cli_io *io, cli_inputs *in);
/* Moves the given tensors to the front of in->tensors (input order kept); returns their count.
 * Afterwards in->tensors no longer lines up with the input indices. */
size_t cli_inputs_pack(cli_inputs *in);
void cli_inputs_free(cli_inputs *in);

#endif /* ANVIL_CLI_H */
