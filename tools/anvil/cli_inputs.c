/*
 * cli_inputs.c — the inputs of `anvil run` and `anvil bench`: mapping each -i [NAME=]FILE.npy
 * to an input of a model or engine, reading the files, reporting missing inputs, and generating
 * deterministic pseudo-random inputs for benchmarks. Shapes and dtypes are checked by the
 * library when it runs; this file only matches names and reads files.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t cli_io_input_count(const cli_io *io) {
    return io->model ? anvil_model_input_count(io->model) : anvil_engine_input_count(io->engine);
}

anvil_status cli_io_input(const cli_io *io, size_t index, anvil_tensor_desc *out) {
    return io->model ? anvil_model_input(io->model, index, out)
                     : anvil_engine_input(io->engine, index, out);
}

/* Index of the input called `name`, or -1. */
static long find_input(const cli_io *io, const char *name, size_t name_len) {
    size_t n = cli_io_input_count(io);
    for (size_t i = 0; i < n; i++) {
        anvil_tensor_desc d;
        if (cli_io_input(io, i, &d) == ANVIL_OK && d.name && strlen(d.name) == name_len &&
            memcmp(d.name, name, name_len) == 0)
            return (long)i;
    }
    return -1;
}

/* "input (f32 [1, 3, 224, 224]), mask (i64 [batch, ?])" for usage messages. */
static const char *format_inputs(const cli_io *io, char *out, size_t size) {
    size_t n = cli_io_input_count(io), len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 1 < size; i++) {
        anvil_tensor_desc d;
        char shape[256];
        if (cli_io_input(io, i, &d) != ANVIL_OK) continue;
        int w = snprintf(out + len, size - len, "%s%s (%s %s)", len ? ", " : "",
                         d.name ? d.name : "", anvil_dtype_name(d.dtype),
                         cli_format_shape(d.rank, d.dims, d.dim_names, shape, sizeof shape));
        if (w < 0) break;
        len = (size_t)w >= size - len ? size - 1 : len + (size_t)w;
    }
    return n ? out : "none";
}

/* Maps one -i value to an input index and a file. NAME=FILE when NAME is an input; a bare FILE
 * (or one whose text before '=' is no input name but which exists as a file) for a single-input
 * model or engine. */
static int resolve_spec(const char *command, const cli_io *io, const char *spec, long *index,
                        const char **file) {
    const char *eq = strchr(spec, '=');
    char list[1024];
    *index = -1;
    *file = NULL;
    if (eq) {
        *index = find_input(io, spec, (size_t)(eq - spec));
        *file = eq + 1;
        if (*index >= 0) return CLI_EXIT_OK;
    }
    if (!eq || access(spec, F_OK) == 0) {
        if (cli_io_input_count(io) == 1) {
            *index = 0;
            *file = spec;
            return CLI_EXIT_OK;
        }
        return cli_usage_error(command, "-i '%s' gives no input name, but the %s has %zu "
                               "inputs; use -i NAME=FILE.npy with NAME among: %s",
                               spec, io->model ? "model" : "engine", cli_io_input_count(io),
                               format_inputs(io, list, sizeof list));
    }
    return cli_usage_error(command, "-i '%s': the %s has no input '%.*s'; its inputs: %s", spec,
                           io->model ? "model" : "engine", (int)(eq - spec), spec,
                           format_inputs(io, list, sizeof list));
}

static int inputs_alloc(const cli_io *io, cli_inputs *in) {
    memset(in, 0, sizeof *in);
    in->n = cli_io_input_count(io);
    in->tensors = calloc(in->n + 1, sizeof *in->tensors);
    in->lists = calloc(in->n + 1, sizeof *in->lists);
    in->generated = calloc(in->n + 1, sizeof *in->generated);
    if (!in->tensors || !in->lists || !in->generated) return cli_error("out of memory");
    return CLI_EXIT_OK;
}

int cli_inputs_load(const char *command, const cli_io *io, char **specs, int n_specs,
                    cli_inputs *in) {
    int rc = inputs_alloc(io, in);
    for (int k = 0; k < n_specs && rc == CLI_EXIT_OK; k++) {
        long index = -1;
        const char *file = NULL;
        anvil_tensor_desc d;
        rc = resolve_spec(command, io, specs[k], &index, &file);
        if (rc != CLI_EXIT_OK) break;
        anvil_status st = cli_io_input(io, (size_t)index, &d);
        if (st != ANVIL_OK) {
            rc = cli_library_error(st);
        } else if (in->tensors[index].name) {
            rc = cli_usage_error(command, "input '%s' is given twice", d.name);
        } else if (!file[0]) {
            rc = cli_usage_error(command, "-i '%s': missing file name", specs[k]);
        } else if ((st = anvil_npy_read(file, &in->lists[index])) != ANVIL_OK) {
            rc = cli_library_error(st);
        } else {
            in->tensors[index] = *anvil_tensor_list_get(in->lists[index], 0);
            in->tensors[index].name = d.name;
        }
    }
    return rc;
}

int cli_inputs_require_all(const cli_io *io, const cli_inputs *in) {
    char msg[2048], shape[256];
    size_t len = 0, missing = 0;
    msg[0] = '\0';
    for (size_t i = 0; i < in->n; i++) {
        anvil_tensor_desc d;
        if (in->tensors[i].name || cli_io_input(io, i, &d) != ANVIL_OK) continue;
        int w = snprintf(msg + len, sizeof msg - len, "%s'%s' (%s %s)", missing ? ", " : "",
                         d.name, anvil_dtype_name(d.dtype),
                         cli_shape_text(d.rank, d.dims, shape, sizeof shape));
        if (w > 0) len = (size_t)w >= sizeof msg - len ? sizeof msg - 1 : len + (size_t)w;
        missing++;
    }
    if (!missing) return CLI_EXIT_OK;
    fprintf(stderr, "anvil: %s: missing input%s: %s; give each with -i NAME=FILE.npy\n",
            anvil_status_string(ANVIL_STATUS_MISSING_INPUT), missing > 1 ? "s" : "", msg);
    return CLI_EXIT_ERROR;
}

/* splitmix64: a fixed, portable sequence, so benchmarks see the same data everywhere. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* k / 1024 (|k| < 1024) as an f16 bit pattern: exact, since k needs at most 10 bits. */
static uint16_t f16_of_k1024(int k) {
    if (k == 0) return 0;
    uint16_t sign = k < 0 ? 0x8000u : 0;
    unsigned m = (unsigned)(k < 0 ? -k : k), e = 0;
    while ((m >> (e + 1)) != 0) e++;
    return (uint16_t)(sign | ((e + 5u) << 10) | ((m << (10 - e)) & 0x3ffu));
}

/* Fills `count` elements: floats k / 1024 for k uniform in [-1024, 1024), integers 0, bool 1. */
static void fill_random(anvil_dtype dtype, void *data, size_t count, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < count; i++) {
        int k = (int)(next_random(&state) >> 53) - 1024;
        float f = (float)k / 1024.0f;
        switch (dtype) {
        case ANVIL_DTYPE_F32: ((float *)data)[i] = f; break;
        case ANVIL_DTYPE_F64: ((double *)data)[i] = f; break;
        case ANVIL_DTYPE_F16: ((uint16_t *)data)[i] = f16_of_k1024(k); break;
        case ANVIL_DTYPE_BF16: {
            uint32_t bits;
            memcpy(&bits, &f, sizeof bits);
            ((uint16_t *)data)[i] = (uint16_t)(bits >> 16); /* exact: 10 significant bits */
            break;
        }
        case ANVIL_DTYPE_BOOL: ((uint8_t *)data)[i] = 1; break;
        default: return; /* integers: calloc's zeros, a valid index into any table */
        }
    }
}

/* Shape to generate for input i: its fixed dims; for dims that vary, the engine profile's opt
 * value, or 1 for a model (the reference interpreter takes any size). */
static int input_shape(const cli_io *io, size_t i, const anvil_tensor_desc *d, anvil_tensor *t) {
    anvil_input_profile p;
    bool varies = d->rank < 0;
    for (int32_t k = 0; k < d->rank; k++) varies = varies || d->dims[k] < 0;
    t->rank = d->rank;
    memcpy(t->dims, d->dims, sizeof t->dims);
    if (!varies) return CLI_EXIT_OK;
    if (io->model) {
        if (d->rank < 0)
            return cli_error("input '%s' has no known rank; give it with -i NAME=FILE.npy",
                             d->name);
        for (int32_t k = 0; k < d->rank; k++) t->dims[k] = d->dims[k] < 0 ? 1 : d->dims[k];
        return CLI_EXIT_OK;
    }
    anvil_status st = anvil_engine_profile(io->engine, i, &p);
    if (st != ANVIL_OK) return cli_library_error(st);
    t->rank = p.rank;
    for (int32_t k = 0; k < p.rank; k++)
        t->dims[k] = d->rank < 0 || d->dims[k] < 0 ? p.opt[k] : d->dims[k];
    return CLI_EXIT_OK;
}

int cli_inputs_generate(const cli_io *io, cli_inputs *in) {
    for (size_t i = 0; i < in->n; i++) {
        if (in->tensors[i].name) continue;
        anvil_tensor_desc d;
        anvil_tensor *t = &in->tensors[i];
        anvil_status st = cli_io_input(io, i, &d);
        if (st != ANVIL_OK) return cli_library_error(st);
        int rc = input_shape(io, i, &d, t);
        if (rc != CLI_EXIT_OK) return rc;
        int64_t numel = anvil_shape_numel(t->rank, t->dims);
        size_t esize = anvil_dtype_size(d.dtype);
        if (numel < 0 || esize == 0 || (uint64_t)numel > SIZE_MAX / esize / 2)
            return cli_error("input '%s': cannot make %s data of that shape", d.name,
                             anvil_dtype_name(d.dtype));
        in->generated[i] = calloc((size_t)numel + 1, esize);
        if (!in->generated[i]) return cli_error("out of memory for input '%s'", d.name);
        fill_random(d.dtype, in->generated[i], (size_t)numel, 0x616e76696cull + i);
        t->name = d.name;
        t->dtype = d.dtype;
        t->data = in->generated[i];
        t->bytes = (size_t)numel * esize;
    }
    return CLI_EXIT_OK;
}

size_t cli_inputs_pack(cli_inputs *in) {
    size_t n = 0;
    for (size_t i = 0; i < in->n; i++)
        if (in->tensors[i].name) in->tensors[n++] = in->tensors[i];
    for (size_t i = n; i < in->n; i++) memset(&in->tensors[i], 0, sizeof in->tensors[i]);
    return n;
}

void cli_inputs_free(cli_inputs *in) {
    for (size_t i = 0; i < in->n; i++) {
        if (in->lists) anvil_tensor_list_destroy(in->lists[i]);
        if (in->generated) free(in->generated[i]);
    }
    free(in->tensors);
    free(in->lists);
    free(in->generated);
    memset(in, 0, sizeof *in);
}
