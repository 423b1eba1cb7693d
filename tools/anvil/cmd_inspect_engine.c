/*
 * cmd_inspect_engine.c — `anvil inspect ENGINE`: what an engine file holds, through the public
 * query API: backend, precision, threads, refit state, inputs with profiles, outputs, the layer
 * table (tactics and fused ops) and the memory figures. Loading is the only work it does; it
 * never runs the engine.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Widest column worth aligning to; longer names just push their row out. */
#define MAX_COLUMN 48

static const char *backend_name(anvil_backend b) {
    return b == ANVIL_BACKEND_CPU ? "cpu" : b == ANVIL_BACKEND_CUDA ? "cuda" : "unknown";
}

static const char *precision_name(anvil_precision p) {
    return p == ANVIL_PRECISION_F32 ? "f32" : p == ANVIL_PRECISION_BF16 ? "bf16" : "unknown";
}

static void print_profile(const anvil_input_profile *p) {
    char a[128], b[128], c[128];
    printf("      profile  min %s  opt %s  max %s\n", cli_shape_text(p->rank, p->min, a, sizeof a),
           cli_shape_text(p->rank, p->opt, b, sizeof b),
           cli_shape_text(p->rank, p->max, c, sizeof c));
}

static int print_io(const anvil_engine *engine, bool inputs) {
    size_t n = inputs ? anvil_engine_input_count(engine) : anvil_engine_output_count(engine);
    printf("%-15s%zu\n", inputs ? "inputs" : "outputs", n);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        anvil_status st =
            inputs ? anvil_engine_input(engine, i, &d) : anvil_engine_output(engine, i, &d);
        if (st != ANVIL_OK) return cli_library_error(st);
        char shape[512];
        printf("  %-24s %-5s %s\n", d.name ? d.name : "", anvil_dtype_name(d.dtype),
               cli_format_shape(d.rank, d.dims, d.dim_names, shape, sizeof shape));
        if (!inputs) continue;
        anvil_input_profile p;
        if ((st = anvil_engine_profile(engine, i, &p)) != ANVIL_OK) return cli_library_error(st);
        bool varies = false;
        for (int32_t k = 0; k < p.rank; k++) varies = varies || p.min[k] != p.max[k];
        if (varies) print_profile(&p);
    }
    return CLI_EXIT_OK;
}

static size_t column(size_t width, const char *text) {
    size_t n = text ? strlen(text) : 0;
    return n > width && n <= MAX_COLUMN ? n : width;
}

static int print_layers(const anvil_engine *engine, size_t count) {
    size_t wn = 4, wo = 2, wt = 6, wf = 5;
    anvil_layer_info l;
    anvil_status st;
    for (size_t i = 0; i < count; i++) {
        if ((st = anvil_engine_layer(engine, i, &l)) != ANVIL_OK) return cli_library_error(st);
        wn = column(wn, l.name);
        wo = column(wo, l.op);
        wt = column(wt, l.tactic);
        wf = column(wf, l.fused);
    }
    printf("%-15s%zu\n", "layers", count);
    printf("  %5s  %-*s  %-*s  %-*s  %-*s  %s\n", "#", (int)wn, "name", (int)wo, "op", (int)wt,
           "tactic", (int)wf, "fused", "output");
    for (size_t i = 0; i < count; i++) {
        char shape[256];
        if ((st = anvil_engine_layer(engine, i, &l)) != ANVIL_OK) return cli_library_error(st);
        printf("  %5zu  %-*s  %-*s  %-*s  %-*s  %s\n", i, (int)wn, l.name ? l.name : "",
               (int)wo, l.op ? l.op : "", (int)wt, l.tactic ? l.tactic : "", (int)wf,
               l.fused && l.fused[0] ? l.fused : "-",
               cli_format_shape(l.rank, l.dims, NULL, shape, sizeof shape));
    }
    return CLI_EXIT_OK;
}

static void print_memory(const anvil_engine_info *info) {
    char a[64], b[64], c[64], d[64];
    printf("%-15s%s (%s bytes)\n", "arena", cli_format_bytes(info->arena_bytes, a, sizeof a),
           cli_format_count(info->arena_bytes, b, sizeof b));
    printf("%-15s%s (%s bytes) without reuse", "activations",
           cli_format_bytes(info->activation_bytes, c, sizeof c),
           cli_format_count(info->activation_bytes, d, sizeof d));
    if (info->activation_bytes > 0)
        printf("; the arena is %.1f%% of that",
               100.0 * (double)info->arena_bytes / (double)info->activation_bytes);
    fputc('\n', stdout);
    printf("%-15s%s (%s bytes) in %zu slots from %zu source weights%s\n", "weights",
           cli_format_bytes(info->weight_bytes, a, sizeof a),
           cli_format_count(info->weight_bytes, b, sizeof b), info->slot_count,
           info->source_count, info->needs_weights ? ", not in the file" : "");
}

static int print_engine(const char *path, const anvil_engine *engine, double load_seconds) {
    anvil_engine_info info;
    anvil_status st = anvil_engine_get_info(engine, &info);
    if (st != ANVIL_OK) return cli_library_error(st);
    struct stat sb;
    char a[64], b[64];
    printf("%-15s%s\n", "engine", path);
    if (stat(path, &sb) == 0)
        printf("%-15s%s (%s bytes), loaded in %.3f s\n", "file",
               cli_format_bytes((uint64_t)sb.st_size, a, sizeof a),
               cli_format_count((uint64_t)sb.st_size, b, sizeof b), load_seconds);
    printf("%-15s%s\n", "backend", backend_name(info.backend));
    printf("%-15s%s\n", "precision", precision_name(info.precision));
    printf("%-15s%d\n", "threads", (int)info.threads);
    printf("%-15s%s\n", "refittable", info.refittable ? "yes" : "no");
    printf("%-15s%s\n", "needs weights",
           info.needs_weights ? "yes (saved --stripped: a refit must supply them before a run)"
                              : "no");
    const anvil_name_map *map = anvil_engine_name_map(engine);
    if (map)
        printf("%-15s%zu entries (refits take checkpoints in their source names)\n", "name map",
               anvil_name_map_count(map));
    else
        printf("%-15snone (refits need the ONNX initializer names)\n", "name map");
    int rc = print_io(engine, true);
    if (rc == CLI_EXIT_OK) rc = print_io(engine, false);
    if (rc == CLI_EXIT_OK) rc = print_layers(engine, info.layer_count);
    if (rc == CLI_EXIT_OK) print_memory(&info);
    return rc;
}

/* The refittable source weights, and what the name map computes each from. */
static int print_sources(const anvil_engine *engine) {
    size_t n = anvil_engine_refit_source_count(engine);
    const anvil_name_map *map = anvil_engine_name_map(engine);
    printf("%-15s%zu\n", "sources", n);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        anvil_map_entry e;
        char shape[512];
        anvil_status st = anvil_engine_refit_source(engine, i, &d);
        if (st != ANVIL_OK) return cli_library_error(st);
        printf("  %-32s %-5s %s", d.name, anvil_dtype_name(d.dtype),
               cli_shape_text(d.rank, d.dims, shape, sizeof shape));
        if (map && anvil_name_map_find(map, d.name, &e) == ANVIL_OK) {
            static const char *const kinds[] = {"identity", "transpose", "bn fold weight",
                                                "bn fold bias"};
            printf("  <- %s(", (unsigned)e.kind < 4 ? kinds[e.kind] : "?");
            for (int32_t k = 0; k < e.n_sources; k++)
                printf("%s%s", k ? ", " : "", e.sources[k][0] ? e.sources[k] : "-");
            printf(")");
        }
        printf("\n");
    }
    return CLI_EXIT_OK;
}

int cli_inspect_engine(const char *path, bool sources) {
    anvil_engine *engine = NULL;
    double seconds;
    int rc = cli_load_engine(path, &engine, &seconds);
    if (rc == CLI_EXIT_OK) rc = print_engine(path, engine, seconds);
    if (rc == CLI_EXIT_OK && sources) rc = print_sources(engine);
    anvil_engine_destroy(engine);
    if (rc == CLI_EXIT_OK && fflush(stdout) != 0) rc = cli_error("cannot write to stdout");
    return rc;
}
