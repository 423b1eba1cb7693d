/*
 * cpu_onednn_misc.c — the smaller oneDNN kernels: pooling (Max/Average/Global*), softmax and
 * log-softmax, layer normalization, inference batch normalization, binary Add/Sub/Mul/Div with
 * broadcasting, and standalone activations (eltwise). Pooling, batch norm, binary and eltwise
 * keep the layout their input arrives in (so a blocked chain stays blocked); softmax and layer
 * norm work on plain tensors (any axis: plain tensors reshape for free).
 */
#include "backend/cpu/cpu_internal.h"

#include "ops/nn_common.h"

#include <float.h>
#include <string.h>

/* Standalone activation parameters from the node's attributes (0 steps: not oneDNN). */
static int node_eltwise(const anvil__node *n, dnnl_alg_kind_t *alg, float *a, float *b) {
    float alpha = 0.0f, beta = 0.0f;
    switch (n->op) {
    case ANVIL_OP_LeakyRelu:
        alpha = (float)anvil__attr_float(n, "alpha", 0.01);
        break;
    case ANVIL_OP_Elu:
        alpha = (float)anvil__attr_float(n, "alpha", 1.0);
        break;
    case ANVIL_OP_HardSigmoid:
        alpha = (float)anvil__attr_float(n, "alpha", 0.2);
        beta = (float)anvil__attr_float(n, "beta", 0.5);
        break;
    case ANVIL_OP_Gelu:
        alpha = strcmp(anvil__attr_string(n, "approximate", "none"), "tanh") == 0 ? 1.0f : 0.0f;
        break;
    case ANVIL_OP_Clip: /* only the attribute form (opset < 11); bound inputs run in ref */
        for (int32_t i = 1; i < n->n_inputs; i++)
            if (n->inputs[i] >= 0) return 0;
        alpha = (float)anvil__attr_float(n, "min", -FLT_MAX);
        beta = (float)anvil__attr_float(n, "max", FLT_MAX);
        break;
    default:
        break;
    }
    return anvil__cpu_eltwise_steps(n->op, alpha, beta, alg, a, b);
}

/* Output dims of a numpy broadcast, right-aligned md dims of each input; false if not f32 or
 * the first operand would need broadcasting and the op does not commute. */
static bool binary_shapes(const anvil__node *n, const anvil__tensor *in, int *nd, int64_t *y,
                          int64_t *a, int64_t *b, bool *swap) {
    const anvil__tensor *x0 = &in[0], *x1 = &in[1];
    *nd = x0->rank > x1->rank ? x0->rank : x1->rank;
    if (*nd < 1) return false; /* two scalars: not worth a primitive */
    bool full0 = true, full1 = true;
    for (int d = 0; d < *nd; d++) {
        a[d] = d < *nd - x0->rank ? 1 : x0->dims[d - (*nd - x0->rank)];
        b[d] = d < *nd - x1->rank ? 1 : x1->dims[d - (*nd - x1->rank)];
        if (a[d] != b[d] && a[d] != 1 && b[d] != 1) return false;
        y[d] = a[d] > b[d] ? a[d] : b[d];
        full0 &= a[d] == y[d];
        full1 &= b[d] == y[d];
    }
    *swap = !full0;
    return full0 || (full1 && (n->op == ANVIL_OP_Add || n->op == ANVIL_OP_Mul));
}

/* oneDNN 2.6 has jit softmax only over the innermost dims (else its slow reference). Without
 * an axis attribute both opset rules normalize the innermost block; with one, the dims after
 * it must be 1 (tactics() does not know the opset; the flattening of opset < 13 would do). */
static bool softmax_innermost(const anvil__node *n, const anvil__tensor *x) {
    if (x->rank < 1) return false;
    if (!anvil__node_attr(n, "axis")) return true;
    int64_t axis = anvil__attr_int(n, "axis", -1);
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis >= x->rank) return false;
    for (int32_t d = (int32_t)axis + 1; d < x->rank; d++)
        if (x->dims[d] != 1) return false;
    return true;
}

static bool outputs_beyond_first_absent(const anvil__node *n) {
    for (int32_t o = 1; o < n->n_outputs; o++)
        if (n->outputs[o] >= 0) return false;
    return true;
}

int32_t anvil__cpu_misc_tactic(const anvil__node *n, const anvil__tensor *in, int32_t n_in) {
    if (!anvil__cpu_all_f32(n, in, n_in) || !anvil__cpu_post_supported(n, 0)) return -1;
    int32_t own = anvil__cpu_own_inputs(n), r = in[0].rank;
    bool no_post = n->n_post == 0;
    dnnl_alg_kind_t alg[2];
    float a[2], b[2];
    int64_t y[ANVIL_MAX_RANK], da[ANVIL_MAX_RANK], db[ANVIL_MAX_RANK];
    int nd;
    bool swap;
    switch (n->op) {
    case ANVIL_OP_AveragePool: /* ONNX does not count ceil_mode's extra room; oneDNN would */
        if (anvil__attr_int(n, "ceil_mode", 0) && anvil__attr_int(n, "count_include_pad", 0))
            return -1;
        /* fall through */
    case ANVIL_OP_MaxPool:
    case ANVIL_OP_GlobalAveragePool:
    case ANVIL_OP_GlobalMaxPool:
        return no_post && r >= 3 && r <= 5 && outputs_beyond_first_absent(n) ? ANVIL_CPU_TACTIC_POOL
                                                                             : -1;
    case ANVIL_OP_Softmax:
    case ANVIL_OP_LogSoftmax:
        return no_post && softmax_innermost(n, &in[0]) ? ANVIL_CPU_TACTIC_SOFTMAX : -1;
    case ANVIL_OP_LayerNormalization:
        return no_post && r >= 1 && outputs_beyond_first_absent(n) ? ANVIL_CPU_TACTIC_LAYERNORM
                                                                   : -1;
    case ANVIL_OP_BatchNormalization:
        return no_post && r >= 2 && r <= 5 && outputs_beyond_first_absent(n) &&
                       anvil__attr_int(n, "training_mode", 0) == 0 &&
                       anvil__attr_int(n, "spatial", 1) != 0
                   ? ANVIL_CPU_TACTIC_BATCHNORM
                   : -1;
    case ANVIL_OP_Add:
    case ANVIL_OP_Sub:
    case ANVIL_OP_Mul:
    case ANVIL_OP_Div:
        return own == 2 && binary_shapes(n, in, &nd, y, da, db, &swap) ? ANVIL_CPU_TACTIC_BINARY
                                                                       : -1;
    default: /* one step, no post-ops: oneDNN 2.6 runs eltwise + post-ops in a broken ref */
        return no_post && node_eltwise(n, alg, a, b) == 1 ? ANVIL_CPU_TACTIC_ELTWISE : -1;
    }
}

/* Runs the common tail: attribute with post-ops, primitive descriptor, then `bind`. */
typedef anvil_status (*bind_fn)(const anvil__kernel_desc *d, anvil__kernel *k,
                                dnnl_primitive_desc_t pd, void *user);

static anvil_status make(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                         const void *desc, dnnl_post_ops_t po, const char *what, bind_fn bind,
                         void *user) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    anvil_status s = anvil__cpu_attr(po, &attr);
    if (s == ANVIL_OK) s = anvil__cpu_create_pd(c, desc, attr, what, &pd);
    if (s == ANVIL_OK) s = bind(d, k, pd, user);
    if (s == ANVIL_OK) {
        s = anvil__cpu_finish(k, pd);
        pd = NULL;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

static const dnnl_memory_desc_t *query(dnnl_primitive_desc_t pd, dnnl_query_t q) {
    return dnnl_primitive_desc_query_md(pd, q, 0);
}

/* src (input 0) and dst (output 0) in the formats the primitive settled on. */
static anvil_status bind_src_dst(const anvil__kernel_desc *d, anvil__kernel *k,
                                 dnnl_primitive_desc_t pd, void *user) {
    const dnnl_memory_desc_t *src = query(pd, dnnl_query_src_md),
                             *dst = query(pd, dnnl_query_dst_md);
    if (!src || !dst) return anvil__error(ANVIL_STATUS_INTERNAL, "oneDNN returned no mds");
    anvil_status s = anvil__cpu_layout_from_md(src, NULL, &k->in_layouts[0]);
    if (s == ANVIL_OK) s = anvil__cpu_layout_from_md(dst, NULL, &k->out_layouts[0]);
    if (s == ANVIL_OK) s = anvil__cpu_post_layouts(d, k, dst);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SRC, ANVIL_CPU_ARG_INPUT, 0, src);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_DST, ANVIL_CPU_ARG_OUTPUT, 0, dst);
    return s;
}

/* ---- pooling ---- */

static anvil_status pool_desc(const anvil__kernel_desc *d, dnnl_pooling_v2_desc_t *desc) {
    const anvil__node *n = d->node;
    const anvil__tensor *x = &d->inputs[0], *y = &d->outputs[0];
    int ns = x->rank - 2;
    bool global = n->op == ANVIL_OP_GlobalAveragePool || n->op == ANVIL_OP_GlobalMaxPool;
    bool max = n->op == ANVIL_OP_MaxPool || n->op == ANVIL_OP_GlobalMaxPool;
    bool include = anvil__attr_int(n, "count_include_pad", 0) != 0;
    dnnl_dims_t kernel, strides, dil, pl, pr;
    anvil__window w;
    int64_t out[ANVIL_NN_MAX_SPATIAL];
    anvil_status s = ANVIL_OK;
    if (!global) {
        s = anvil__window_read(n, ns, NULL, &w);
        if (s == ANVIL_OK)
            s = anvil__window_output(n, &w, x->dims + 2, anvil__attr_int(n, "ceil_mode", 0) != 0,
                                     out);
        if (s != ANVIL_OK) return s;
    }
    for (int i = 0; i < ns; i++) {
        if (global) {
            kernel[i] = x->dims[2 + i], strides[i] = 1, dil[i] = 0, pl[i] = pr[i] = 0;
            continue;
        }
        int64_t span = (w.kernel[i] - 1) * w.dilation[i] + 1, in = x->dims[2 + i];
        kernel[i] = w.kernel[i], strides[i] = w.stride[i], dil[i] = w.dilation[i] - 1;
        pl[i] = w.pad_begin[i];
        /* Floor mode fits the given right pad; ceil_mode needs the extra room of the last
         * window, which average-with-padding must not count (ONNX) but oneDNN would. */
        pr[i] = w.pad_end[i];
        if ((in + pl[i] + pr[i] - span) / w.stride[i] + 1 != out[i]) {
            pr[i] = (out[i] - 1) * w.stride[i] + span - in - pl[i];
            if (include && !max)
                return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                         "ceil_mode with count_include_pad runs in ref");
        }
        if (y->dims[2 + i] != out[i])
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "output dims differ");
    }
    dnnl_alg_kind_t alg = max       ? dnnl_pooling_max
                          : include ? dnnl_pooling_avg_include_padding
                                    : dnnl_pooling_avg_exclude_padding;
    dnnl_memory_desc_t src, dst;
    s = anvil__cpu_md_arriving(d, 0, &src);
    if (s == ANVIL_OK) s = anvil__cpu_md_dims(y->rank, y->dims, !d->plain_activations, &dst);
    if (s != ANVIL_OK) return s;
    dnnl_status_t st = dnnl_pooling_v2_forward_desc_init(desc, dnnl_forward_inference, alg, &src,
                                                         &dst, strides, kernel, dil, pl, pr);
    return st == dnnl_success ? ANVIL_OK : anvil__cpu_dnnl_error(st, "pooling");
}

static anvil_status pool_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k) {
    dnnl_pooling_v2_desc_t desc;
    anvil_status s = pool_desc(d, &desc);
    dnnl_post_ops_t po = NULL;
    if (s == ANVIL_OK && dnnl_post_ops_create(&po) != dnnl_success) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__cpu_post_ops(d, k, 0, false, po);
    if (s == ANVIL_OK) s = make(c, d, k, &desc, po, "this pooling", bind_src_dst, NULL);
    if (po) dnnl_post_ops_destroy(po);
    return s;
}

/* ---- softmax / layer norm: plain, reshaped ---- */

static int64_t prod(const int64_t *dims, int32_t from, int32_t to) {
    int64_t p = 1;
    for (int32_t i = from; i < to; i++)
        p *= dims[i];
    return p;
}

static anvil_status softmax_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                   anvil__kernel *k) {
    const anvil__node *n = d->node;
    const anvil__tensor *x = &d->inputs[0];
    bool v13 = d->opset >= 13;
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", v13 ? -1 : 1), x->rank, &axis);
    if (s != ANVIL_OK) return s;
    dnnl_memory_desc_t md;
    int64_t two[2] = {prod(x->dims, 0, axis), prod(x->dims, axis, x->rank)};
    /* Before opset 13 the op normalizes the flattened [axis:] block: a 2-D view, axis 1. */
    s = v13 ? anvil__cpu_md_plain(x, &md) : anvil__cpu_md_plain_perm(2, two, dnnl_f32, NULL, &md);
    if (s != ANVIL_OK) return s;
    int dnnl_axis = v13 ? axis : 1;
    dnnl_status_t st;
    dnnl_softmax_desc_t sd;
    dnnl_logsoftmax_desc_t ld;
    bool log = n->op == ANVIL_OP_LogSoftmax;
    st = log ? dnnl_logsoftmax_forward_desc_init(&ld, dnnl_forward_inference, &md, dnnl_axis)
             : dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &md, dnnl_axis);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "softmax");
    s = make(c, d, k, log ? (const void *)&ld : (const void *)&sd, NULL, "this softmax",
             bind_src_dst, NULL);
    /* bind_src_dst reported the md's layout; the md is plain over the tensor's own bytes */
    memset(&k->in_layouts[0], 0, sizeof k->in_layouts[0]);
    memset(&k->out_layouts[0], 0, sizeof k->out_layouts[0]);
    return s;
}

static anvil_status bind_norm(const anvil__kernel_desc *d, anvil__kernel *k,
                              dnnl_primitive_desc_t pd, void *user) {
    const dnnl_memory_desc_t *vec = user; /* 1-D per-channel md */
    anvil_status s = bind_src_dst(d, k, pd, NULL);
    bool bn = d->node->op == ANVIL_OP_BatchNormalization;
    bool shift = d->n_inputs > 2 && d->node->inputs[2] >= 0;
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SCALE, ANVIL_CPU_ARG_INPUT, 1, vec);
    if (s == ANVIL_OK && shift)
        s = anvil__cpu_add_arg(k, DNNL_ARG_SHIFT, ANVIL_CPU_ARG_INPUT, 2, vec);
    if (s == ANVIL_OK && bn) s = anvil__cpu_add_arg(k, DNNL_ARG_MEAN, ANVIL_CPU_ARG_INPUT, 3, vec);
    if (s == ANVIL_OK && bn)
        s = anvil__cpu_add_arg(k, DNNL_ARG_VARIANCE, ANVIL_CPU_ARG_INPUT, 4, vec);
    return s;
}

static anvil_status layernorm_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                     anvil__kernel *k) {
    const anvil__node *n = d->node;
    const anvil__tensor *x = &d->inputs[0];
    int32_t axis;
    anvil_status s = anvil__axis(n, anvil__attr_int(n, "axis", -1), x->rank, &axis);
    if (s != ANVIL_OK) return s;
    int64_t two[2] = {prod(x->dims, 0, axis), prod(x->dims, axis, x->rank)};
    bool shift = d->n_inputs > 2 && n->inputs[2] >= 0;
    if (anvil__tensor_numel(&d->inputs[1]) != two[1] ||
        (shift && anvil__tensor_numel(&d->inputs[2]) != two[1]))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "oneDNN layer norm needs Scale/B of the normalized size");
    dnnl_memory_desc_t md, vec;
    s = anvil__cpu_md_plain_perm(2, two, dnnl_f32, NULL, &md);
    if (s == ANVIL_OK) s = anvil__cpu_md_plain_perm(1, &two[1], dnnl_f32, NULL, &vec);
    if (s != ANVIL_OK) return s;
    float eps = (float)anvil__attr_float(n, "epsilon", 1e-5);
    unsigned flags = dnnl_use_scale | (shift ? dnnl_use_shift : 0u);
    dnnl_layer_normalization_desc_t desc;
    dnnl_status_t st = dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_inference,
                                                                  &md, NULL, eps, flags);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "layer normalization");
    s = make(c, d, k, &desc, NULL, "this layer normalization", bind_norm, &vec);
    memset(&k->in_layouts[0], 0, sizeof k->in_layouts[0]);
    memset(&k->out_layouts[0], 0, sizeof k->out_layouts[0]);
    return s;
}

static anvil_status batchnorm_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                     anvil__kernel *k) {
    const anvil__node *n = d->node;
    int64_t ch = d->inputs[0].dims[1];
    for (int32_t i = 1; i < 5; i++)
        if (anvil__tensor_numel(&d->inputs[i]) != ch)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "input %d must have %lld elements", (int)i, (long long)ch);
    dnnl_memory_desc_t src, vec;
    anvil_status s = anvil__cpu_md_arriving(d, 0, &src);
    if (s == ANVIL_OK) s = anvil__cpu_md_plain_perm(1, &ch, dnnl_f32, NULL, &vec);
    if (s != ANVIL_OK) return s;
    float eps = (float)anvil__attr_float(n, "epsilon", 1e-5);
    unsigned flags = dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift;
    dnnl_batch_normalization_desc_t desc;
    dnnl_status_t st =
        dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &src, eps, flags);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "batch normalization");
    return make(c, d, k, &desc, NULL, "this batch normalization", bind_norm, &vec);
}

/* ---- binary ---- */

typedef struct binary_setup {
    int32_t in0, in1; /* node inputs bound as SRC_0 / SRC_1 */
} binary_setup;

static anvil_status bind_binary(const anvil__kernel_desc *d, anvil__kernel *k,
                                dnnl_primitive_desc_t pd, void *user) {
    const binary_setup *b = user;
    const dnnl_memory_desc_t *s0 = query(pd, dnnl_query_src_md);
    const dnnl_memory_desc_t *s1 = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 1);
    const dnnl_memory_desc_t *dst = query(pd, dnnl_query_dst_md);
    if (!s0 || !s1 || !dst) return anvil__error(ANVIL_STATUS_INTERNAL, "oneDNN returned no mds");
    anvil_status s = ANVIL_OK;
    /* An operand of lower rank is bound through its padded md: plain bytes either way. */
    if (d->inputs[b->in0].rank == s0->ndims)
        s = anvil__cpu_layout_from_md(s0, NULL, &k->in_layouts[b->in0]);
    if (s == ANVIL_OK && d->inputs[b->in1].rank == s1->ndims)
        s = anvil__cpu_layout_from_md(s1, NULL, &k->in_layouts[b->in1]);
    if (s == ANVIL_OK) s = anvil__cpu_layout_from_md(dst, NULL, &k->out_layouts[0]);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SRC_0, ANVIL_CPU_ARG_INPUT, b->in0, s0);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SRC_1, ANVIL_CPU_ARG_INPUT, b->in1, s1);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_DST, ANVIL_CPU_ARG_OUTPUT, 0, dst);
    return s;
}

/* One attempt; `keep` uses the layouts the operands arrive in, else everything plain. */
static anvil_status binary_try(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                               bool keep) {
    const anvil__node *n = d->node;
    int nd;
    bool swap;
    int64_t y[ANVIL_MAX_RANK], da[ANVIL_MAX_RANK], db[ANVIL_MAX_RANK];
    if (!binary_shapes(n, d->inputs, &nd, y, da, db, &swap))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "operand shapes need ref");
    binary_setup b = {swap ? 1 : 0, swap ? 0 : 1};
    const int64_t *d1 = swap ? da : db;
    dnnl_memory_desc_t s0, s1, dst;
    bool s0_own = d->inputs[b.in0].rank == nd, s1_full = true;
    for (int i = 0; i < nd; i++)
        s1_full &= d1[i] == y[i];
    anvil_status s = keep && s0_own ? anvil__cpu_md_arriving(d, b.in0, &s0)
                                    : anvil__cpu_md_dims(nd, y, false, &s0);
    if (s == ANVIL_OK) {
        if (keep && s1_full && d->inputs[b.in1].rank == nd)
            s1 = s0; /* same shape: want it in src0's layout */
        else
            s = anvil__cpu_md_dims(nd, d1, false, &s1);
    }
    if (s == ANVIL_OK) s = anvil__cpu_md_dims(nd, y, !d->plain_activations, &dst);
    if (s != ANVIL_OK) return s;
    dnnl_alg_kind_t alg = n->op == ANVIL_OP_Add   ? dnnl_binary_add
                          : n->op == ANVIL_OP_Sub ? dnnl_binary_sub
                          : n->op == ANVIL_OP_Mul ? dnnl_binary_mul
                                                  : dnnl_binary_div;
    dnnl_binary_desc_t desc;
    dnnl_status_t st = dnnl_binary_desc_init(&desc, alg, &s0, &s1, &dst);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "binary");
    dnnl_post_ops_t po = NULL;
    if (dnnl_post_ops_create(&po) != dnnl_success) return ANVIL_STATUS_OUT_OF_MEMORY;
    s = anvil__cpu_post_ops_dims(d, k, 0, false, nd, y, po);
    if (s == ANVIL_OK) s = make(c, d, k, &desc, po, "this binary op", bind_binary, &b);
    dnnl_post_ops_destroy(po);
    return s;
}

static anvil_status binary_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                  anvil__kernel *k) {
    anvil_status s = binary_try(c, d, k, true);
    if (s != ANVIL_STATUS_UNSUPPORTED) return s;
    /* oneDNN may lack a kernel for mixed blocked/plain operands: retry all plain. */
    k->n_args = 0;
    for (int32_t i = 0; i < k->n_in; i++)
        memset(&k->in_layouts[i], 0, sizeof k->in_layouts[i]);
    return binary_try(c, d, k, false);
}

/* ---- eltwise ---- */

static anvil_status eltwise_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                   anvil__kernel *k) {
    dnnl_alg_kind_t alg[2];
    float a[2], b[2];
    if (node_eltwise(d->node, alg, a, b) != 1 || d->node->n_post != 0)
        return anvil__node_error(d->node, ANVIL_STATUS_UNSUPPORTED, "not a oneDNN activation");
    dnnl_memory_desc_t src;
    anvil_status s = anvil__cpu_md_arriving(d, 0, &src);
    if (s != ANVIL_OK) return s;
    dnnl_eltwise_desc_t desc;
    dnnl_status_t st =
        dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, alg[0], &src, a[0], b[0]);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "eltwise");
    return make(c, d, k, &desc, NULL, "this activation", bind_src_dst, NULL);
}

anvil_status anvil__cpu_misc_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k) {
    if (d->n_outputs < 1 || d->outputs[0].dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(d->node, ANVIL_STATUS_UNSUPPORTED, "oneDNN needs f32 outputs");
    switch (d->tactic) {
    case ANVIL_CPU_TACTIC_POOL:
        return pool_create(c, d, k);
    case ANVIL_CPU_TACTIC_SOFTMAX:
        return softmax_create(c, d, k);
    case ANVIL_CPU_TACTIC_LAYERNORM:
        return layernorm_create(c, d, k);
    case ANVIL_CPU_TACTIC_BATCHNORM:
        return batchnorm_create(c, d, k);
    case ANVIL_CPU_TACTIC_BINARY:
        return binary_create(c, d, k);
    case ANVIL_CPU_TACTIC_ELTWISE:
        return eltwise_create(c, d, k);
    default:
        return anvil__node_error(d->node, ANVIL_STATUS_UNSUPPORTED, "no oneDNN tactic %d",
                                 (int)d->tactic);
    }
}
