/*
 * cpu_fallback.c — the `ref` tactic: runs any op of ops.def (except If and anvil's internal
 * ops) with its reference kernel on plain buffers, converting f16/bf16/f64 around
 * ANVIL_OP_F32_COMPUTE ops like the interpreter does, then applies node->post in order
 * (activations written out here, residual Add with broadcasting). Every layout is plain and
 * weights are plain. Speed is not the point; coverage is.
 */
#include "backend/cpu/cpu_internal.h"

#include "passes/passes.h" /* post-op conventions (ANVIL__POST_SILU) */

#include <math.h>
#include <string.h>

#define REF_MAX_IO 64

static bool ref_activation(int32_t op) {
    switch (op) {
    case ANVIL_OP_Relu:
    case ANVIL_OP_LeakyRelu:
    case ANVIL_OP_Clip:
    case ANVIL_OP_Sigmoid:
    case ANVIL_OP_Tanh:
    case ANVIL_OP_Elu:
    case ANVIL_OP_Celu:
    case ANVIL_OP_HardSigmoid:
    case ANVIL_OP_HardSwish:
    case ANVIL_OP_Gelu:
    case ANVIL_OP_Softplus:
    case ANVIL_OP_Softsign:
    case ANVIL_OP_Mish:
    case ANVIL_OP_Abs:
    case ANVIL_OP_Sqrt:
    case ANVIL_OP_Exp:
    case ANVIL_OP_Log:
    case ANVIL_OP_Neg:
    case ANVIL__POST_SILU:
        return true;
    default:
        return false;
    }
}

bool anvil__cpu_ref_supported(const anvil__node *n) {
    const anvil__op_def *def = anvil__op_get(n->op);
    if (!def || (def->flags & (ANVIL_OP_SELF_ALLOC | ANVIL_OP_INTERNAL)) || n->op == ANVIL_OP_If)
        return false;
    if (n->n_inputs > REF_MAX_IO || n->n_outputs > REF_MAX_IO || n->n_post < 0 ||
        n->n_post > ANVIL_MAX_POST_OPS)
        return false;
    for (int32_t i = 0; i < n->n_post; i++) {
        const anvil__post_op *p = &n->post[i];
        if (p->op == ANVIL_OP_Add) {
            if (p->input < 0 || p->input >= n->n_inputs || n->inputs[p->input] < 0) return false;
        } else if (!ref_activation(p->op)) {
            return false;
        }
    }
    return true;
}

anvil_status anvil__cpu_ref_create(const anvil__kernel_desc *d, anvil__kernel *k) {
    const anvil__node *n = d->node;
    if (!anvil__cpu_ref_supported(n))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "the reference tactic cannot run this op or its fused ops");
    if (n->n_post > 0 && (n->n_outputs < 1 || !anvil__dtype_is_float(d->outputs[0].dtype)))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "fused ops need a floating-point output");
    return ANVIL_OK; /* every layout stays plain (zeroed by the allocation) */
}

static float gelu(float x, bool approx) {
    if (approx) {
        float c = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}

static float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

static float activation(int32_t op, float a, float b, float x) {
    switch (op) {
    case ANVIL_OP_Relu:
        return x > 0.0f ? x : 0.0f;
    case ANVIL_OP_LeakyRelu:
        return x >= 0.0f ? x : a * x;
    case ANVIL_OP_Clip:
        return x < a ? a : x > b ? b : x;
    case ANVIL_OP_Sigmoid:
        return 1.0f / (1.0f + expf(-x));
    case ANVIL_OP_Tanh:
        return tanhf(x);
    case ANVIL_OP_Elu:
        return x > 0.0f ? x : a * expm1f(x);
    case ANVIL_OP_Celu:
        return fmaxf(0.0f, x) + fminf(0.0f, a * expm1f(x / a));
    case ANVIL_OP_HardSigmoid:
        return fmaxf(0.0f, fminf(1.0f, a * x + b));
    case ANVIL_OP_HardSwish:
        return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    case ANVIL_OP_Gelu:
        return gelu(x, a == 1.0f);
    case ANVIL_OP_Softplus:
        return softplus(x);
    case ANVIL_OP_Softsign:
        return x / (1.0f + fabsf(x));
    case ANVIL_OP_Mish:
        return x * tanhf(softplus(x));
    case ANVIL_OP_Abs:
        return fabsf(x);
    case ANVIL_OP_Sqrt:
        return sqrtf(x);
    case ANVIL_OP_Exp:
        return expf(x);
    case ANVIL_OP_Log:
        return logf(x);
    case ANVIL_OP_Neg:
        return -x;
    case ANVIL__POST_SILU:
        return x / (1.0f + expf(-x));
    default:
        return x;
    }
}

/* The fused ops, in order, on output y (f32). */
static anvil_status apply_post(const anvil__kernel *k, const anvil__exec_args *args,
                               anvil__tensor *y) {
    const anvil__node *n = k->node;
    size_t count = (size_t)anvil__tensor_numel(y);
    float *v = y->data;
    for (int32_t p = 0; p < n->n_post; p++) {
        const anvil__post_op *po = &n->post[p];
        if (po->op != ANVIL_OP_Add) {
            for (size_t i = 0; i < count; i++)
                v[i] = activation(po->op, po->alpha, po->beta, v[i]);
            continue;
        }
        const anvil__tensor *ts = &args->in_shapes[po->input];
        const void *src = args->inputs[po->input];
        int64_t ocount = anvil__tensor_numel(ts);
        if (!src || ocount <= 0 || !anvil__dtype_is_float(ts->dtype) || ts->rank > y->rank)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "fused Add operand does not broadcast to the output");
        for (int32_t d = 0; d < ts->rank; d++) {
            int64_t od = ts->dims[d], yd = y->dims[y->rank - ts->rank + d];
            if (od != yd && od != 1)
                return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                         "fused Add operand does not broadcast to the output");
        }
        bool same = (size_t)ocount == count;
        for (size_t i = 0; i < count; i++) {
            size_t j = same ? i : anvil__broadcast_index(i, y->rank, y->dims, ts->rank, ts->dims);
            v[i] += ts->dtype == ANVIL_DTYPE_F32 ? ((const float *)src)[j]
                                                 : (float)anvil__load_f64(ts->dtype, src, j);
        }
    }
    return ANVIL_OK;
}

typedef struct ref_io {
    anvil__tensor in[REF_MAX_IO], out[REF_MAX_IO];
    anvil__tensor *in_ptrs[REF_MAX_IO], *out_ptrs[REF_MAX_IO];
    void *temp_in[REF_MAX_IO], *temp_out[REF_MAX_IO]; /* f32 copies for F32_COMPUTE */
} ref_io;

/* A plan buffer seen as a tensor; `f32` converts floats other than f32 to a fresh f32 copy. */
static anvil_status wrap(const anvil__tensor *shape, void *data, bool f32, bool copy_in,
                         anvil__tensor *t, void **temp) {
    *t = *shape;
    t->data = data;
    int64_t count = anvil__tensor_numel(shape);
    if (count < 0) return anvil__error(ANVIL_STATUS_INTERNAL, "kernel run with an unknown shape");
    t->bytes = (size_t)count * anvil_dtype_size(shape->dtype);
    *temp = NULL;
    if (!f32 || !anvil__dtype_is_float(shape->dtype) || shape->dtype == ANVIL_DTYPE_F32)
        return ANVIL_OK;
    *temp = anvil__malloc_array((size_t)(count ? count : 1), sizeof(float));
    if (!*temp) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (copy_in) anvil__convert(ANVIL_DTYPE_F32, *temp, shape->dtype, data, (size_t)count);
    t->dtype = ANVIL_DTYPE_F32;
    t->data = *temp;
    t->bytes = (size_t)count * sizeof(float);
    return ANVIL_OK;
}

static anvil_status ref_prepare(const anvil__kernel *k, const anvil__exec_args *args, bool f32,
                                int32_t own, ref_io *io) {
    const anvil__node *n = k->node;
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; i < own && s == ANVIL_OK; i++) {
        io->in_ptrs[i] = NULL;
        if (n->inputs[i] < 0) continue;
        if (!args->inputs[i] || !args->in_shapes)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "input %d missing", i);
        s = wrap(&args->in_shapes[i], args->inputs[i], f32, true, &io->in[i], &io->temp_in[i]);
        io->in_ptrs[i] = &io->in[i];
    }
    for (int32_t o = 0; o < n->n_outputs && s == ANVIL_OK; o++) {
        io->out_ptrs[o] = NULL;
        if (n->outputs[o] < 0) continue;
        if (!args->outputs[o] || !args->out_shapes)
            return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "output %d missing", o);
        s = wrap(&args->out_shapes[o], args->outputs[o], f32, false, &io->out[o], &io->temp_out[o]);
        if (s == ANVIL_OK) memset(io->out[o].data, 0, io->out[o].bytes); /* kernels expect 0 */
        io->out_ptrs[o] = &io->out[o];
    }
    return s;
}

anvil_status anvil__cpu_ref_run(const anvil__kernel *k, const anvil__exec_args *args) {
    const anvil__node *n = k->node;
    const anvil__op_def *def = anvil__op_get(n->op);
    if (!def || n->n_inputs > REF_MAX_IO || n->n_outputs > REF_MAX_IO)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "no reference kernel");
    bool f32 = (def->flags & ANVIL_OP_F32_COMPUTE) != 0;
    int32_t own = anvil__cpu_own_inputs(n);
    ref_io *io = anvil__calloc(1, sizeof *io);
    if (!io) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ref_prepare(k, args, f32, own, io);
    if (s == ANVIL_OK) {
        anvil__op_ctx ctx = {n, k->opset, own, io->in_ptrs, n->n_outputs, io->out_ptrs, NULL, NULL};
        s = def->run(&ctx);
    }
    if (s == ANVIL_OK && n->n_post > 0) {
        if (io->out[0].dtype != ANVIL_DTYPE_F32)
            s = anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "fused ops need an f32 output");
        else
            s = apply_post(k, args, &io->out[0]);
    }
    for (int32_t o = 0; o < n->n_outputs; o++) {
        if (!io->temp_out[o]) continue;
        if (s == ANVIL_OK)
            anvil__convert(args->out_shapes[o].dtype, args->outputs[o], ANVIL_DTYPE_F32,
                           io->temp_out[o], (size_t)anvil__tensor_numel(&args->out_shapes[o]));
        anvil__free(io->temp_out[o]);
    }
    for (int32_t i = 0; i < own; i++)
        anvil__free(io->temp_in[i]);
    anvil__free(io);
    return s;
}
