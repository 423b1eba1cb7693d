/*
 * cli_engine.c — what the commands that compile or load engines share: engine-file detection by
 * magic, the `1x3x224x224` shape and NAME:MIN,OPT,MAX profile syntax, the compile options
 * (--threads, --profile, --no-autotune, --opt-level, --precision), the progress line, and the
 * checks that turn a bad profile into a usage error before the library sees it.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cli_is_engine_file(const char *path) {
    char head[sizeof CLI_ENGINE_MAGIC - 1];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool yes = fread(head, 1, sizeof head, f) == sizeof head &&
               memcmp(head, CLI_ENGINE_MAGIC, sizeof head) == 0;
    fclose(f);
    return yes;
}

bool cli_parse_shape(const char *text, size_t len, int32_t *rank, int64_t *dims) {
    const char *p = text, *end = text + len;
    int32_t r = 0;
    if (len == 0) return false;
    for (;;) {
        if (p == end || *p < '0' || *p > '9' || r == ANVIL_MAX_RANK) return false;
        int64_t v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - 9) / 10) return false;
            v = v * 10 + (*p - '0');
        }
        dims[r++] = v;
        if (p == end) break;
        if (*p != 'x' && *p != 'X') return false;
        p++;
    }
    *rank = r;
    return true;
}

char *cli_shape_text(int32_t rank, const int64_t *dims, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    if (rank == 0) snprintf(out, size, "scalar");
    for (int32_t i = 0; i < rank && len + 1 < size; i++) {
        int n = dims[i] >= 0 ? snprintf(out + len, size - len, "%s%lld", i ? "x" : "",
                                        (long long)dims[i])
                             : snprintf(out + len, size - len, "%s?", i ? "x" : "");
        if (n < 0) break;
        len = (size_t)n >= size - len ? size - 1 : len + (size_t)n;
    }
    return out;
}

bool cli_parse_profile(const char *spec, anvil_input_profile *p, char **name_store, char *why,
                       size_t why_size) {
    memset(p, 0, sizeof *p);
    *name_store = NULL;
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) {
        snprintf(why, why_size, "expected NAME:MIN,OPT,MAX or NAME:SHAPE");
        return false;
    }
    const char *shapes[3], *s = colon + 1;
    size_t lens[3];
    int n = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        if (n == 3) {
            snprintf(why, why_size, "expected 1 or 3 shapes after ':', got more");
            return false;
        }
        shapes[n] = s;
        lens[n++] = comma ? (size_t)(comma - s) : strlen(s);
        if (!comma) break;
        s = comma + 1;
    }
    if (n == 2) {
        snprintf(why, why_size, "expected 1 or 3 shapes after ':' (MIN,OPT,MAX), got 2");
        return false;
    }
    int64_t *dst[3] = {p->min, p->opt, p->max};
    int32_t ranks[3];
    for (int i = 0; i < n; i++) {
        if (!cli_parse_shape(shapes[i], lens[i], &ranks[i], dst[i])) {
            snprintf(why, why_size, "bad shape '%.*s': expected dims joined by 'x', "
                     "e.g. 1x3x224x224 (at most %d dims)", (int)lens[i], shapes[i],
                     ANVIL_MAX_RANK);
            return false;
        }
    }
    for (int i = n; i < 3; i++) {
        memcpy(dst[i], p->min, sizeof p->min);
        ranks[i] = ranks[0];
    }
    if (ranks[1] != ranks[0] || ranks[2] != ranks[0]) {
        snprintf(why, why_size, "MIN, OPT and MAX have different ranks (%d, %d, %d)",
                 (int)ranks[0], (int)ranks[1], (int)ranks[2]);
        return false;
    }
    p->rank = ranks[0];
    for (int32_t d = 0; d < p->rank; d++) {
        if (p->min[d] > p->opt[d] || p->opt[d] > p->max[d]) {
            snprintf(why, why_size, "dim %d: expected MIN <= OPT <= MAX, got %lld, %lld, %lld",
                     (int)d, (long long)p->min[d], (long long)p->opt[d], (long long)p->max[d]);
            return false;
        }
    }
    size_t name_len = (size_t)(colon - spec);
    *name_store = malloc(name_len + 1);
    if (!*name_store) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    memcpy(*name_store, spec, name_len);
    (*name_store)[name_len] = '\0';
    p->name = *name_store;
    return true;
}

int cli_compile_args_init(cli_compile_args *a, int argc) {
    memset(a, 0, sizeof *a);
    a->options = anvil_compile_options_default();
    a->profiles = calloc((size_t)argc + 1, sizeof *a->profiles);
    a->names = calloc((size_t)argc + 1, sizeof *a->names);
    if (!a->profiles || !a->names) return cli_error("out of memory");
    return CLI_EXIT_OK;
}

void cli_compile_args_free(cli_compile_args *a) {
    for (size_t i = 0; a->names && i < a->n_profiles; i++) free(a->names[i]);
    free(a->names);
    free(a->profiles);
    memset(a, 0, sizeof *a);
}

/* Parses a whole decimal integer in [lo, hi]. */
static bool parse_int(const char *text, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int cli_compile_option(const char *command, int c, const char *arg, cli_compile_args *a) {
    long v;
    char why[256];
    switch (c) {
    case CLI_OPT_THREADS:
        if (!parse_int(arg, 0, 4096, &v))
            return cli_usage_error(command, "--threads '%s': expected 0 to 4096", arg);
        a->options.threads = (int32_t)v;
        a->threads_given = true;
        return CLI_EXIT_OK;
    case CLI_OPT_PROFILE:
        a->tuning_given = true;
        if (!cli_parse_profile(arg, &a->profiles[a->n_profiles], &a->names[a->n_profiles], why,
                               sizeof why))
            return cli_usage_error(command, "--profile '%s': %s", arg, why);
        for (size_t i = 0; i < a->n_profiles; i++)
            if (strcmp(a->profiles[i].name, a->names[a->n_profiles]) == 0) {
                free(a->names[a->n_profiles]);
                return cli_usage_error(command, "--profile: input '%s' is given twice",
                                       a->profiles[i].name);
            }
        a->n_profiles++;
        return CLI_EXIT_OK;
    case CLI_OPT_NO_AUTOTUNE:
        a->tuning_given = true;
        a->options.autotune = 0;
        return CLI_EXIT_OK;
    case CLI_OPT_OPT_LEVEL:
        a->tuning_given = true;
        if (!parse_int(arg, 0, 2, &v))
            return cli_usage_error(command, "--opt-level '%s': expected 0, 1 or 2", arg);
        a->options.opt_level = (int32_t)v;
        return CLI_EXIT_OK;
    case CLI_OPT_PRECISION:
        a->tuning_given = true;
        if (strcmp(arg, "f32") == 0) a->options.precision = ANVIL_PRECISION_F32;
        else if (strcmp(arg, "bf16") == 0) a->options.precision = ANVIL_PRECISION_BF16;
        else return cli_usage_error(command, "--precision '%s': expected f32 or bf16", arg);
        return CLI_EXIT_OK;
    default:
        return -1;
    }
}

/* Checks one --profile against the model input it names. */
static int check_profile(const char *command, const anvil_model *model,
                         const anvil_input_profile *p) {
    size_t n = anvil_model_input_count(model);
    char names[1024] = "", shape[256];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        if (anvil_model_input(model, i, &d) != ANVIL_OK) continue;
        if (strcmp(d.name, p->name) != 0) {
            int w = snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", d.name);
            if (w > 0) len = (size_t)w >= sizeof names - len ? sizeof names - 1 : len + (size_t)w;
            continue;
        }
        cli_format_shape(d.rank, d.dims, d.dim_names, shape, sizeof shape);
        if (d.rank >= 0 && d.rank != p->rank)
            return cli_usage_error(command, "--profile %s: input '%s' has rank %d %s, got %d",
                                   p->name, d.name, (int)d.rank, shape, (int)p->rank);
        for (int32_t k = 0; d.rank >= 0 && k < d.rank; k++)
            if (d.dims[k] >= 0 && (p->min[k] != d.dims[k] || p->max[k] != d.dims[k]))
                return cli_usage_error(command,
                                       "--profile %s: dim %d of input '%s' %s is fixed to "
                                       "%lld, got %lld..%lld",
                                       p->name, (int)k, d.name, shape, (long long)d.dims[k],
                                       (long long)p->min[k], (long long)p->max[k]);
        return CLI_EXIT_OK;
    }
    return cli_usage_error(command, "--profile: the model has no input '%s'; its inputs: %s",
                           p->name, n ? names : "none");
}

/* The profile of a dynamic input given on the command line without --profile: its shape. */
static bool given_profile(const anvil_model *model, const cli_compile_args *a,
                          const anvil_tensor *t, anvil_input_profile *p) {
    for (size_t i = 0; i < a->n_profiles; i++)
        if (strcmp(a->profiles[i].name, t->name) == 0) return false;
    for (size_t i = 0; i < anvil_model_input_count(model); i++) {
        anvil_tensor_desc d;
        if (anvil_model_input(model, i, &d) != ANVIL_OK || strcmp(d.name, t->name) != 0)
            continue;
        bool dynamic = d.rank < 0;
        for (int32_t k = 0; k < d.rank; k++) dynamic = dynamic || d.dims[k] < 0;
        if (!dynamic || t->rank < 0 || t->rank > ANVIL_MAX_RANK) return false;
        memset(p, 0, sizeof *p);
        p->name = t->name;
        p->rank = t->rank;
        for (int32_t k = 0; k < t->rank; k++) p->min[k] = p->opt[k] = p->max[k] = t->dims[k];
        return true;
    }
    return false;
}

typedef struct progress_state {
    bool tty, shown;
    char stage[32];
    int quarter;
    double start, last;
} progress_state;

/* TTY: one line rewritten at most every 0.1 s, shown once the compile has taken 0.3 s.
 * Otherwise: a plain line per stage and per quarter of a stage. */
static void on_progress(void *user, const char *stage, double fraction) {
    progress_state *s = user;
    double now = cli_now();
    bool new_stage = strncmp(s->stage, stage ? stage : "", sizeof s->stage - 1) != 0;
    int quarter = fraction >= 0 && fraction <= 1 ? (int)(fraction * 4.0) : 0;
    if (new_stage) {
        snprintf(s->stage, sizeof s->stage, "%s", stage ? stage : "");
        s->quarter = -1;
    }
    if (s->tty) {
        if (now - s->start < 0.3 || (!new_stage && now - s->last < 0.1)) return;
        fprintf(stderr, "\r\033[Kcompiling: %s %3.0f%%", s->stage, fraction * 100.0);
        s->shown = true;
    } else {
        if (quarter == s->quarter) return;
        fprintf(stderr, "compiling: %s %3.0f%%\n", s->stage, quarter * 25.0);
        s->quarter = quarter;
    }
    fflush(stderr);
    s->last = now;
}

int cli_compile(const char *command, const anvil_model *model, cli_compile_args *a,
                const anvil_tensor *given, size_t n_given, anvil_engine **out) {
    *out = NULL;
    for (size_t i = 0; i < a->n_profiles; i++) {
        int rc = check_profile(command, model, &a->profiles[i]);
        if (rc != CLI_EXIT_OK) return rc;
    }
    anvil_input_profile *all = calloc(a->n_profiles + n_given + 1, sizeof *all);
    if (!all) return cli_error("out of memory");
    size_t n = a->n_profiles;
    memcpy(all, a->profiles, n * sizeof *all);
    for (size_t i = 0; i < n_given; i++)
        if (given[i].name && given_profile(model, a, &given[i], &all[n])) n++;
    anvil_compile_options o = a->options;
    o.profiles = n ? all : NULL;
    o.n_profiles = n;
    progress_state ps = {.tty = isatty(STDERR_FILENO) == 1, .start = cli_now()};
    if (a->progress) {
        o.progress = on_progress;
        o.progress_user = &ps;
    }
    anvil_status st = anvil_engine_compile(model, &o, out);
    if (ps.shown) fputs("\r\033[K", stderr);
    free(all);
    return st == ANVIL_OK ? CLI_EXIT_OK : cli_library_error(st);
}

int cli_check_reference_args(const char *command, bool reference, const cli_compile_args *a) {
    if (reference && (a->threads_given || a->tuning_given))
        return cli_usage_error(command, "--reference runs the interpreter, which takes no "
                                        "compile options (--threads, --profile, ...)");
    return CLI_EXIT_OK;
}

int cli_check_engine_args(const char *command, const anvil_engine *engine, const char *path,
                          const cli_compile_args *a) {
    if (a->tuning_given)
        return cli_usage_error(command, "'%s' is an engine file, compiled already: --profile, "
                               "--no-autotune, --opt-level and --precision apply to models",
                               path);
    anvil_engine_info info;
    anvil_status st = anvil_engine_get_info(engine, &info);
    if (st != ANVIL_OK) return cli_library_error(st);
    if (a->threads_given && a->options.threads != info.threads)
        return cli_usage_error(command, "--threads %d: the engine '%s' was compiled for %d "
                               "thread(s); compile it again to change that",
                               (int)a->options.threads, path, (int)info.threads);
    return CLI_EXIT_OK;
}

int cli_load_engine(const char *path, anvil_engine **out, double *seconds) {
    double t0 = cli_now();
    anvil_status st = anvil_engine_load(path, out);
    *seconds = cli_now() - t0;
    return st == ANVIL_OK ? CLI_EXIT_OK : cli_library_error(st);
}

int cli_engine_run(anvil_context *ctx, const anvil_tensor *inputs, size_t n,
                   anvil_tensor_list **out) {
    anvil_status st = anvil_engine_run(ctx, inputs, n, out);
    if (st == ANVIL_OK) return CLI_EXIT_OK;
    cli_library_error(st);
    if (st == ANVIL_STATUS_NEEDS_WEIGHTS)
        fputs("anvil: the engine was saved without weights (--stripped); it runs once it has "
              "been refitted with weights\n",
              stderr);
    return CLI_EXIT_ERROR;
}

int cli_engine_set_map(anvil_engine *engine, const char *path) {
    if (!path) return CLI_EXIT_OK;
    anvil_name_map *map = NULL;
    anvil_status s = anvil_name_map_load(path, &map);
    if (s == ANVIL_OK) s = anvil_engine_set_name_map(engine, map);
    anvil_name_map_destroy(map);
    return s == ANVIL_OK ? CLI_EXIT_OK : cli_library_error(s);
}
