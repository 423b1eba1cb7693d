/*
 * cpu_backend.c — the CPU backend object (backend.h): the process-wide singleton (one oneDNN
 * CPU engine, per-thread streams, the reorder cache), tactic lists, kernel dispatch and the
 * kernel queries, host memory and the version string. The kernels themselves live in
 * cpu_onednn_*.c (oneDNN primitives) and cpu_fallback.c (reference kernels).
 *
 * Tactics (ids are stored in engine files: never renumber, only append):
 *   id  name              ops
 *    0  ref               every op of ops.def except If and internal ops (reference kernels,
 *                         plain layouts, post-ops applied after)
 *    1  onednn:conv       Conv 1-D/2-D/3-D (groups, dilations, pads, strides) + post-ops
 *    2  onednn:deconv     ConvTranspose 1-D/2-D/3-D + post-ops
 *    3  onednn:matmul     MatMul (batched, broadcast; bias from a first post-op Add)
 *    4  onednn:gemm       Gemm (transA/transB, alpha, beta, C as bias or full-shape sum)
 *    5  onednn:pool       MaxPool (no Indices), AveragePool (not ceil_mode with
 *                         count_include_pad), GlobalAveragePool, GlobalMaxPool; no fused ops
 *    6  onednn:softmax    Softmax, LogSoftmax over the innermost dims (others: ref)
 *    7  onednn:layernorm  LayerNormalization (Y only)
 *    8  onednn:batchnorm  BatchNormalization (inference, Y only)
 *    9  onednn:binary     Add, Sub, Mul, Div (numpy broadcasting of the second operand;
 *                         Add/Mul swap a broadcast first operand) + post-ops
 *   10  onednn:eltwise    Relu, LeakyRelu, Sigmoid, Tanh, Elu, Gelu, HardSwish, Clip
 *                         (attribute form), Abs, Sqrt, Exp, Mish, Neg; without fused ops
 *                         (Log and Softplus stay in ref: oneDNN's are not accurate enough)
 * Fused post-ops on oneDNN: Relu, LeakyRelu, Clip, Sigmoid, Tanh, Elu, HardSwish, HardSigmoid,
 * Gelu, Mish, SiLU (+ Abs, Sqrt, Exp, Neg) as eltwise steps; a residual Add of the output's
 * shape as a sum post-op (Conv/ConvTranspose/MatMul/Gemm), else as a broadcast binary add.
 * tactics() lists the oneDNN tactic first (when the node's dtypes/shapes fit) and ref last;
 * all-f32 only. kernel_create may still refuse a oneDNN tactic (UNSUPPORTED) when oneDNN has
 * no optimized implementation for the exact shapes: the planner then takes the next one.
 *
 * Precision BF16 (opt-in, CPUs with avx512_bf16): Conv, ConvTranspose, MatMul and Gemm with
 * weight slots pack them as bf16 and convert their f32 input per run (cpu_bf16.c); dst, bias
 * and every other kernel stay f32. A kernel oneDNN cannot build in bf16 is built in f32.
 *
 * Threads: oneDNN (Debian's build) runs on OpenMP. A kernel sets omp_set_num_threads(threads)
 * on the calling thread both while its primitive is created (oneDNN sizes its work split from
 * the thread count then) and for each run, restoring the caller's setting after; threads 0
 * keeps OpenMP's default (OMP_NUM_THREADS or one per core). Each calling thread has its own
 * OpenMP team, so concurrent contexts multiply the threads in use.
 * Streams: creating one per run is slow, so each thread keeps its own stream on the singleton
 * engine (pthread key, destroyed at thread exit). Scratchpads are user-managed: kernels are
 * immutable and may run from several threads at once, each with its context's scratch.
 */
#include "backend/cpu/cpu_internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_singleton {
    pthread_once_t once;
    anvil_status status;
    char message[256];
    anvil__cpu_ctx ctx;
    anvil__backend backend;
} cpu_singleton;

static const char *const tactic_names[ANVIL_CPU_TACTIC_COUNT] = {
    "ref",
    "onednn:conv",
    "onednn:deconv",
    "onednn:matmul",
    "onednn:gemm",
    "onednn:pool",
    "onednn:softmax",
    "onednn:layernorm",
    "onednn:batchnorm",
    "onednn:binary",
    "onednn:eltwise",
};

anvil_status anvil__cpu_dnnl_error(dnnl_status_t st, const char *what) {
    switch (st) {
    case dnnl_out_of_memory:
        return anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "oneDNN ran out of memory in %s", what);
    case dnnl_unimplemented:
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN has no implementation of %s", what);
    case dnnl_invalid_arguments:
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN rejected the arguments of %s", what);
    default:
        return anvil__error(ANVIL_STATUS_INTERNAL, "oneDNN failed in %s (status %d)", what,
                            (int)st);
    }
}

static void destroy_stream(void *p) { dnnl_stream_destroy((dnnl_stream_t)p); }

anvil_status anvil__cpu_stream(anvil__cpu_ctx *c, dnnl_stream_t *out) {
    dnnl_stream_t s = pthread_getspecific(c->stream_key);
    if (!s) {
        dnnl_status_t st = dnnl_stream_create(&s, c->engine, dnnl_stream_default_flags);
        if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "stream creation");
        if (pthread_setspecific(c->stream_key, s) != 0) {
            dnnl_stream_destroy(s);
            return anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "cannot keep a per-thread stream");
        }
    }
    *out = s;
    return ANVIL_OK;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "generic";
    }
}

/* ---- tactics ---- */

static int32_t cpu_tactics(void *ctx, const anvil__node *node, const anvil__tensor *inputs,
                           int32_t n_inputs, int32_t *ids, int32_t cap) {
    int32_t n = 0, t = -1;
    switch (node->op) {
    case ANVIL_OP_Conv:
        if (anvil__cpu_conv_supported(node, inputs, n_inputs)) t = ANVIL_CPU_TACTIC_CONV;
        break;
    case ANVIL_OP_ConvTranspose:
        if (anvil__cpu_conv_supported(node, inputs, n_inputs)) t = ANVIL_CPU_TACTIC_DECONV;
        break;
    case ANVIL_OP_MatMul:
        if (anvil__cpu_matmul_supported(node, inputs, n_inputs)) t = ANVIL_CPU_TACTIC_MATMUL;
        break;
    case ANVIL_OP_Gemm:
        if (anvil__cpu_matmul_supported(node, inputs, n_inputs)) t = ANVIL_CPU_TACTIC_GEMM;
        break;
    default:
        t = anvil__cpu_misc_tactic(node, inputs, n_inputs);
        break;
    }
    if (t >= 0 && n < cap) ids[n++] = t;
    if (anvil__cpu_ref_supported(node) && n < cap) ids[n++] = ANVIL_CPU_TACTIC_REF;
    return n;
}

static const char *cpu_tactic_name(void *ctx, int32_t tactic) {
    return tactic >= 0 && tactic < ANVIL_CPU_TACTIC_COUNT ? tactic_names[tactic] : "unknown";
}

/* ---- kernels ---- */

anvil_status anvil__cpu_kernel_alloc(const anvil__kernel_desc *d, anvil__kernel **out) {
    anvil__kernel *k = anvil__calloc(1, sizeof *k);
    if (!k) return ANVIL_STATUS_OUT_OF_MEMORY;
    k->tactic = d->tactic;
    k->threads = d->threads;
    k->opset = d->opset;
    k->node = d->node;
    k->n_in = d->n_inputs;
    k->n_out = d->n_outputs;
    k->sum_input = -1;
    k->bias_input = -1;
    k->in_layouts =
        anvil__calloc((size_t)(d->n_inputs > 0 ? d->n_inputs : 1), sizeof(anvil__layout));
    k->out_layouts =
        anvil__calloc((size_t)(d->n_outputs > 0 ? d->n_outputs : 1), sizeof(anvil__layout));
    if (!k->in_layouts || !k->out_layouts) {
        anvil__cpu_kernel_free(k);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    *out = k;
    return ANVIL_OK;
}

void anvil__cpu_kernel_free(anvil__kernel *k) {
    if (!k) return;
    if (k->prim) dnnl_primitive_destroy(k->prim);
    if (k->src_prim) dnnl_primitive_destroy(k->src_prim);
    anvil__free(k->in_layouts);
    anvil__free(k->out_layouts);
    anvil__free(k);
}

static anvil_status check_desc(const anvil__kernel_desc *d) {
    const anvil__node *n = d->node;
    if (!n || !d->inputs || !d->outputs || !d->is_weight || !d->in_layouts)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "kernel_create: incomplete desc");
    if (d->n_inputs != n->n_inputs || d->n_outputs != n->n_outputs)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "kernel desc has %d inputs / %d outputs, the node %d / %d",
                                 (int)d->n_inputs, (int)d->n_outputs, (int)n->n_inputs,
                                 (int)n->n_outputs);
    return ANVIL_OK;
}

static anvil_status create_for_tactic(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                      anvil__kernel *k) {
    const anvil__node *n = d->node;
    int32_t op = n->op;
    switch (d->tactic) {
    case ANVIL_CPU_TACTIC_REF:
        return anvil__cpu_ref_create(d, k);
    case ANVIL_CPU_TACTIC_CONV:
        if (op == ANVIL_OP_Conv) return anvil__cpu_conv_create(c, d, k);
        break;
    case ANVIL_CPU_TACTIC_DECONV:
        if (op == ANVIL_OP_ConvTranspose) return anvil__cpu_deconv_create(c, d, k);
        break;
    case ANVIL_CPU_TACTIC_MATMUL:
        if (op == ANVIL_OP_MatMul) return anvil__cpu_matmul_create(c, d, k);
        break;
    case ANVIL_CPU_TACTIC_GEMM:
        if (op == ANVIL_OP_Gemm) return anvil__cpu_gemm_create(c, d, k);
        break;
    default:
        if (d->tactic > 0 && d->tactic < ANVIL_CPU_TACTIC_COUNT &&
            anvil__cpu_misc_tactic(n, d->inputs, d->n_inputs) == d->tactic)
            return anvil__cpu_misc_create(c, d, k);
        break;
    }
    return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "cpu tactic %d (%s) cannot run this op",
                             (int)d->tactic, cpu_tactic_name(c, d->tactic));
}

static anvil_status cpu_kernel_create(void *ctx, const anvil__kernel_desc *d, anvil__kernel **out) {
    anvil__cpu_ctx *c = ctx;
    *out = NULL;
    anvil_status s = check_desc(d);
    anvil__kernel *k = NULL;
    if (s == ANVIL_OK) s = anvil__cpu_kernel_alloc(d, &k);
    if (s != ANVIL_OK) return s;
    int prev = omp_get_max_threads();
    if (d->threads > 0) omp_set_num_threads(d->threads);
    s = create_for_tactic(c, d, k);
    if (s == ANVIL_STATUS_UNSUPPORTED && d->precision == ANVIL_PRECISION_BF16 &&
        !d->fixed_weight_layouts && d->tactic != ANVIL_CPU_TACTIC_REF) {
        /* bf16 is a hint: a shape oneDNN cannot run in bf16 stays on its f32 kernel rather
         * than falling to the next (reference) tactic. */
        anvil__kernel_desc f32 = *d;
        f32.precision = ANVIL_PRECISION_F32;
        anvil__cpu_kernel_free(k);
        k = NULL;
        s = anvil__cpu_kernel_alloc(&f32, &k);
        if (s == ANVIL_OK) s = create_for_tactic(c, &f32, k);
    }
    omp_set_num_threads(prev);
    if (s != ANVIL_OK) {
        anvil__cpu_kernel_free(k);
        return s;
    }
    *out = k;
    return ANVIL_OK;
}

static void cpu_kernel_destroy(void *ctx, anvil__kernel *k) { anvil__cpu_kernel_free(k); }

static void cpu_kernel_input_layout(void *ctx, const anvil__kernel *k, int32_t i,
                                    anvil__layout *out) {
    if (i >= 0 && i < k->n_in) {
        *out = k->in_layouts[i];
    } else {
        memset(out, 0, sizeof *out);
    }
}

static void cpu_kernel_output_layout(void *ctx, const anvil__kernel *k, int32_t o,
                                     anvil__layout *out) {
    if (o >= 0 && o < k->n_out) {
        *out = k->out_layouts[o];
    } else {
        memset(out, 0, sizeof *out);
    }
}

static size_t cpu_kernel_scratch_bytes(void *ctx, const anvil__kernel *k) {
    return k->extra_bytes ? k->extra_offset + k->extra_bytes : k->dnnl_scratch;
}

static anvil_status cpu_kernel_run(void *ctx, const anvil__kernel *k,
                                   const anvil__exec_args *args) {
    if (!args || (!args->inputs && k->n_in) || (!args->outputs && k->n_out))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "kernel_run: missing buffers");
    if (k->tactic == ANVIL_CPU_TACTIC_REF) return anvil__cpu_ref_run(k, args);
    /* The thread count is the calling thread's OpenMP setting: set for this run, then put
     * back so the caller's own OpenMP code is unaffected. */
    int prev = omp_get_max_threads();
    if (k->threads > 0 && prev != k->threads) omp_set_num_threads(k->threads);
    anvil_status s = anvil__cpu_onednn_run(ctx, k, args);
    if (k->threads > 0 && prev != k->threads) omp_set_num_threads(prev);
    return s;
}

/* ---- memory and identity ---- */

static void *cpu_alloc(void *ctx, size_t bytes) {
    size_t rounded;
    if (!anvil__add_size(bytes ? bytes : 1, 63, &rounded) || rounded > ANVIL_MAX_ALLOC) {
        anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "allocation of %zu bytes refused", bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded & ~(size_t)63);
    if (!p) anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "out of memory allocating %zu bytes", bytes);
    return p;
}

static void cpu_free(void *ctx, void *p) { free(p); }

static anvil_status cpu_copy(void *ctx, void *dst, const void *src, size_t bytes, bool to_device) {
    if (bytes && (!dst || !src))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "copy: NULL buffer");
    if (bytes && dst != src) memmove(dst, src, bytes);
    return ANVIL_OK;
}

static const char *cpu_version(void *ctx) { return ((anvil__cpu_ctx *)ctx)->version; }

static bool cpu_supports_precision(void *ctx, anvil_precision p) {
    return p == ANVIL_PRECISION_F32 || (p == ANVIL_PRECISION_BF16 && anvil__cpu_has_bf16());
}

/* ---- the singleton ---- */

static cpu_singleton g_cpu = {.once = PTHREAD_ONCE_INIT};

static void cpu_init(void) {
    anvil__cpu_ctx *c = &g_cpu.ctx;
    dnnl_status_t st = dnnl_engine_create(&c->engine, dnnl_cpu, 0);
    if (st != dnnl_success) {
        g_cpu.status = ANVIL_STATUS_UNSUPPORTED;
        snprintf(g_cpu.message, sizeof g_cpu.message,
                 "cannot create the oneDNN CPU engine (status %d)", (int)st);
        return;
    }
    if (pthread_key_create(&c->stream_key, destroy_stream) != 0 ||
        pthread_mutex_init(&c->cache_lock, NULL) != 0 ||
        anvil__cpu_reorder_cache_init(c) != ANVIL_OK) {
        g_cpu.status = ANVIL_STATUS_OUT_OF_MEMORY;
        snprintf(g_cpu.message, sizeof g_cpu.message, "cannot set up the CPU backend");
        return;
    }
    const dnnl_version_t *v = dnnl_version();
    snprintf(c->version, sizeof c->version, "onednn %d.%d.%d %s", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa()));
    g_cpu.backend = (anvil__backend){
        .name = "cpu",
        .kind = ANVIL_BACKEND_CPU,
        .ctx = c,
        .tactics = cpu_tactics,
        .tactic_name = cpu_tactic_name,
        .kernel_create = cpu_kernel_create,
        .kernel_destroy = cpu_kernel_destroy,
        .kernel_input_layout = cpu_kernel_input_layout,
        .kernel_output_layout = cpu_kernel_output_layout,
        .kernel_scratch_bytes = cpu_kernel_scratch_bytes,
        .kernel_run = cpu_kernel_run,
        .reorder = anvil__cpu_reorder,
        .pack_view = anvil__cpu_pack_view,
        .check_layout = anvil__cpu_check_layout,
        .host_memory = true,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .copy = cpu_copy,
        .version = cpu_version,
        .supports_precision = cpu_supports_precision,
    };
    g_cpu.status = ANVIL_OK;
}

anvil_status anvil__cpu_backend_get(const anvil__backend **out) {
    *out = NULL;
    pthread_once(&g_cpu.once, cpu_init);
    if (g_cpu.status != ANVIL_OK)
        return anvil__error(g_cpu.status, "cpu backend: %s", g_cpu.message);
    *out = &g_cpu.backend;
    return ANVIL_OK;
}
