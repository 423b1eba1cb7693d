/*
 * cpu_onednn.c — what every oneDNN kernel of the CPU backend shares: memory descriptors for
 * arriving inputs, the post-op chain built from node->post (activations as eltwise steps, a
 * residual Add as a sum or binary post-op), primitive creation with a user-managed scratchpad,
 * and execution (memories wrapped around the plan's buffers, the per-thread stream). The
 * per-op descriptors live in cpu_onednn_conv.c, cpu_onednn_matmul.c and cpu_onednn_misc.c.
 */
#include "backend/cpu/cpu_internal.h"

#include "passes/passes.h" /* post-op conventions (ANVIL__POST_SILU) */

#include <string.h>

int32_t anvil__cpu_own_inputs(const anvil__node *n) {
    int32_t own = n->n_inputs;
    for (int32_t i = 0; i < n->n_post; i++)
        if (n->post[i].op == ANVIL_OP_Add && n->post[i].input >= 0 && n->post[i].input < own)
            own = n->post[i].input;
    return own;
}

bool anvil__cpu_all_f32(const anvil__node *n, const anvil__tensor *inputs, int32_t n_inputs) {
    if (n_inputs != n->n_inputs) return false;
    for (int32_t i = 0; i < n_inputs; i++) {
        if (n->inputs[i] < 0) continue;
        const anvil__tensor *t = &inputs[i];
        if (t->dtype != ANVIL_DTYPE_F32 || t->rank < 0 || t->rank > ANVIL_MAX_RANK ||
            anvil__tensor_numel(t) <= 0)
            return false;
    }
    return true;
}

anvil_status anvil__cpu_md_dims(int ndims, const int64_t *dims, bool any, dnnl_memory_desc_t *md) {
    if (!any) return anvil__cpu_md_plain_perm(ndims, dims, dnnl_f32, NULL, md);
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN tensors have 1 to %d dims, got %d",
                            DNNL_MAX_NDIMS, ndims);
    dnnl_dims_t dd;
    for (int d = 0; d < ndims; d++)
        dd[d] = dims[d];
    memset(md, 0, sizeof *md);
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(md, ndims, dd, dnnl_f32, dnnl_format_tag_any);
    return st == dnnl_success ? ANVIL_OK : anvil__cpu_dnnl_error(st, "memory descriptor");
}

anvil_status anvil__cpu_md_arriving(const anvil__kernel_desc *d, int32_t i,
                                    dnnl_memory_desc_t *md) {
    dnnl_memory_desc_t plain;
    anvil_status s = anvil__cpu_md_plain(&d->inputs[i], &plain);
    if (s == ANVIL_OK) s = anvil__cpu_md_from_layout(&d->in_layouts[i], &plain, md);
    return s;
}

int anvil__cpu_eltwise_steps(int32_t op, float alpha, float beta, dnnl_alg_kind_t *alg, float *a,
                             float *b) {
    a[0] = b[0] = 0.0f;
    switch (op) {
    case ANVIL_OP_Relu:
        alg[0] = dnnl_eltwise_relu;
        return 1;
    case ANVIL_OP_LeakyRelu:
        alg[0] = dnnl_eltwise_relu;
        a[0] = alpha;
        return 1;
    case ANVIL_OP_Clip:
        alg[0] = dnnl_eltwise_clip_v2;
        a[0] = alpha;
        b[0] = beta;
        return 1;
    case ANVIL_OP_Sigmoid:
        alg[0] = dnnl_eltwise_logistic;
        return 1;
    case ANVIL_OP_Tanh:
        alg[0] = dnnl_eltwise_tanh;
        return 1;
    case ANVIL_OP_Elu:
        alg[0] = dnnl_eltwise_elu;
        a[0] = alpha;
        return 1;
    case ANVIL_OP_HardSwish:
        alg[0] = dnnl_eltwise_hardswish;
        return 1;
    case ANVIL_OP_Gelu:
        alg[0] = alpha == 1.0f ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf;
        return 1;
    case ANVIL_OP_Mish:
        alg[0] = dnnl_eltwise_mish;
        return 1;
    case ANVIL_OP_Abs:
        alg[0] = dnnl_eltwise_abs;
        return 1;
    case ANVIL_OP_Sqrt:
        alg[0] = dnnl_eltwise_sqrt;
        return 1;
    case ANVIL_OP_Exp:
        alg[0] = dnnl_eltwise_exp;
        return 1;
    case ANVIL_OP_Neg:
        alg[0] = dnnl_eltwise_linear;
        a[0] = -1.0f;
        return 1;
    case ANVIL__POST_SILU:
        alg[0] = dnnl_eltwise_swish;
        a[0] = 1.0f;
        return 1;
    case ANVIL_OP_HardSigmoid: /* oneDNN 2.6 has no hardsigmoid: clip(alpha * x + beta, 0, 1) */
        alg[0] = dnnl_eltwise_linear;
        a[0] = alpha;
        b[0] = beta;
        alg[1] = dnnl_eltwise_clip_v2;
        a[1] = 0.0f;
        b[1] = 1.0f;
        return 2;
    default:
        return 0;
    }
}

bool anvil__cpu_post_supported(const anvil__node *n, int32_t skip) {
    dnnl_alg_kind_t alg[2];
    float a[2], b[2];
    if (n->n_post < 0 || n->n_post > ANVIL_MAX_POST_OPS) return false;
    for (int32_t i = skip; i < n->n_post; i++) {
        const anvil__post_op *p = &n->post[i];
        if (p->op == ANVIL_OP_Add) {
            if (p->input < 0 || p->input >= n->n_inputs || n->inputs[p->input] < 0) return false;
        } else if (anvil__cpu_eltwise_steps(p->op, p->alpha, p->beta, alg, a, b) == 0) {
            return false;
        }
    }
    return true;
}

anvil_status anvil__cpu_add_arg(anvil__kernel *k, int dnnl_arg, anvil__cpu_arg_src src,
                                int32_t index, const dnnl_memory_desc_t *md) {
    if (k->n_args >= ANVIL_CPU_MAX_ARGS)
        return anvil__error(ANVIL_STATUS_INTERNAL, "too many oneDNN arguments");
    anvil__cpu_arg *a = &k->args[k->n_args++];
    a->dnnl_arg = dnnl_arg;
    a->src = src;
    a->index = index;
    a->offset = 0;
    anvil__cpu_md_canonical(md, &a->md);
    return ANVIL_OK;
}

/* Operand `t` of a fused Add against a dst md of `dims`: the same number of elements means
 * the same tensor (the graph's shapes broadcast, so equal counts mean equal dims, possibly
 * collapsed by a matmul); otherwise its dims without leading 1s, right-aligned, must broadcast.
 * Sets *same and the operand's plain md. */
static bool broadcast_md(const anvil__tensor *t, int ndims, const int64_t *dims, bool *same,
                         dnnl_memory_desc_t *md) {
    int64_t count = 1, od[DNNL_MAX_NDIMS];
    for (int d = 0; d < ndims; d++)
        count *= dims[d];
    *same = anvil__tensor_numel(t) == count;
    if (*same) return anvil__cpu_md_plain_perm(ndims, dims, dnnl_f32, NULL, md) == ANVIL_OK;
    int32_t lead = 0;
    while (lead < t->rank && t->dims[lead] == 1)
        lead++;
    int32_t rank = t->rank - lead;
    if (rank > ndims) return false;
    for (int d = 0; d < ndims; d++) {
        int src = d - (ndims - rank);
        od[d] = src >= 0 ? t->dims[lead + src] : 1;
        if (od[d] != dims[d] && od[d] != 1) return false;
    }
    return anvil__cpu_md_plain_perm(ndims, od, dnnl_f32, NULL, md) == ANVIL_OK;
}

static anvil_status post_add(const anvil__kernel_desc *d, anvil__kernel *k, int32_t input,
                             bool allow_sum, int ndims, const int64_t *dims, dnnl_post_ops_t po) {
    const anvil__node *n = d->node;
    const anvil__tensor *t = &d->inputs[input];
    dnnl_memory_desc_t md;
    bool same = false;
    if (t->dtype != ANVIL_DTYPE_F32 || !broadcast_md(t, ndims, dims, &same, &md))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "fused Add operand (input %d) does not broadcast to the output",
                                 (int)input);
    dnnl_status_t st;
    if (same && allow_sum && k->sum_input < 0) {
        st = dnnl_post_ops_append_sum(po, 1.0f);
        k->sum_input = input;
    } else {
        int pos = dnnl_post_ops_len(po);
        st = dnnl_post_ops_append_binary(po, dnnl_binary_add, &md);
        if (st == dnnl_success) {
            anvil_status s =
                anvil__cpu_add_arg(k, DNNL_ARG_ATTR_MULTIPLE_POST_OP(pos) | DNNL_ARG_SRC_1,
                                   ANVIL_CPU_ARG_INPUT, input, &md);
            if (s != ANVIL_OK) return s;
        }
    }
    return st == dnnl_success ? ANVIL_OK : anvil__cpu_dnnl_error(st, "post-op Add");
}

anvil_status anvil__cpu_post_ops_dims(const anvil__kernel_desc *d, anvil__kernel *k, int32_t skip,
                                      bool allow_sum, int ndims, const int64_t *dims,
                                      dnnl_post_ops_t po) {
    const anvil__node *n = d->node;
    if (!anvil__cpu_post_supported(n, skip))
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "a fused post-op has no oneDNN equivalent");
    for (int32_t i = skip; i < n->n_post; i++) {
        const anvil__post_op *p = &n->post[i];
        if (p->op == ANVIL_OP_Add) {
            anvil_status s = post_add(d, k, p->input, allow_sum, ndims, dims, po);
            if (s != ANVIL_OK) return s;
            continue;
        }
        dnnl_alg_kind_t alg[2];
        float a[2], b[2];
        int steps = anvil__cpu_eltwise_steps(p->op, p->alpha, p->beta, alg, a, b);
        for (int j = 0; j < steps; j++) {
            dnnl_status_t st = dnnl_post_ops_append_eltwise(po, 1.0f, alg[j], a[j], b[j]);
            if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "post-op activation");
        }
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_post_ops(const anvil__kernel_desc *d, anvil__kernel *k, int32_t skip,
                                 bool allow_sum, dnnl_post_ops_t po) {
    const anvil__tensor *y = &d->outputs[0];
    return anvil__cpu_post_ops_dims(d, k, skip, allow_sum, y->rank, y->dims, po);
}

anvil_status anvil__cpu_attr(dnnl_post_ops_t po, dnnl_primitive_attr_t *out) {
    dnnl_status_t st = dnnl_primitive_attr_create(out);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(*out, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && po && dnnl_post_ops_len(po) > 0)
        st = dnnl_primitive_attr_set_post_ops(*out, po);
    if (st != dnnl_success) {
        if (*out) dnnl_primitive_attr_destroy(*out);
        *out = NULL;
        return anvil__cpu_dnnl_error(st, "primitive attributes");
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_create_pd(anvil__cpu_ctx *c, const void *op_desc,
                                  dnnl_primitive_attr_t attr, const char *what,
                                  dnnl_primitive_desc_t *out) {
    *out = NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(out, op_desc, attr, c->engine, NULL);
    if (st != dnnl_success) {
        *out = NULL;
        return anvil__cpu_dnnl_error(st, what);
    }
    /* oneDNN's own reference implementations are slow, and 2.6's mishandle some post-op
     * chains (eltwise + eltwise gives garbage): our ref tactic is the better fallback. */
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*out, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
        impl && strncmp(impl, "ref", 3) == 0) {
        dnnl_primitive_desc_destroy(*out);
        *out = NULL;
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "oneDNN has only its reference implementation (%s) of %s", impl, what);
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_finish(anvil__kernel *k, dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd) {
        anvil__cpu_md_canonical(smd, &k->scratch_md);
        k->dnnl_scratch = dnnl_memory_desc_get_size(smd);
    }
    /* A bf16 source conversion's scratchpad shares offset 0 (it runs before the primitive). */
    size_t pad = k->src_scratch > k->dnnl_scratch ? k->src_scratch : k->dnnl_scratch;
    k->extra_offset = (pad + 63) & ~(size_t)63;
    dnnl_status_t st = dnnl_primitive_create(&k->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        k->prim = NULL;
        return anvil__cpu_dnnl_error(st, "primitive creation");
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_post_layouts(const anvil__kernel_desc *d, anvil__kernel *k,
                                     const dnnl_memory_desc_t *dst) {
    if (k->sum_input < 0) return ANVIL_OK;
    k->sum_bytes = dnnl_memory_desc_get_size(dst);
    return anvil__cpu_layout_from_md(dst, NULL, &k->in_layouts[k->sum_input]);
}

static void *arg_ptr(const anvil__kernel *k, const anvil__cpu_arg *a,
                     const anvil__exec_args *args) {
    switch (a->src) {
    case ANVIL_CPU_ARG_INPUT:
        return a->index < k->n_in ? args->inputs[a->index] : NULL;
    case ANVIL_CPU_ARG_OUTPUT:
        return a->index < k->n_out ? args->outputs[a->index] : NULL;
    case ANVIL_CPU_ARG_EXTRA:
        return args->scratch ? (char *)args->scratch + k->extra_offset + a->offset : NULL;
    }
    return NULL;
}

/* Work done before the primitive: the residual operand copied into dst for a sum post-op, and
 * a Gemm bias scaled into the kernel's scratch. */
static anvil_status prepare(const anvil__kernel *k, const anvil__exec_args *args) {
    if (k->sum_input >= 0) {
        const void *src = args->inputs[k->sum_input];
        void *dst = args->outputs[0];
        if (!src || !dst)
            return anvil__node_error(k->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "missing buffer for the fused Add");
        if (src != dst) memcpy(dst, src, k->sum_bytes);
    }
    if (k->bias_input >= 0) {
        const float *b = args->inputs[k->bias_input];
        float *to = args->scratch ? (float *)((char *)args->scratch + k->extra_offset) : NULL;
        if (!b || !to)
            return anvil__node_error(k->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                     "missing bias or scratch buffer");
        for (size_t i = 0; i < k->bias_count; i++)
            to[i] = b[i] * k->bias_scale;
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_onednn_run(anvil__cpu_ctx *c, const anvil__kernel *k,
                                   const anvil__exec_args *args) {
    dnnl_stream_t stream;
    anvil_status s = anvil__cpu_stream(c, &stream);
    if (s == ANVIL_OK) s = anvil__cpu_bf16_src_run(c, stream, k, args); /* before dst is written */
    if (s == ANVIL_OK) s = prepare(k, args);
    if (s != ANVIL_OK) return s;
    if (k->dnnl_scratch && !args->scratch)
        return anvil__node_error(k->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "kernel needs %zu bytes of scratch, none given", k->dnnl_scratch);
    dnnl_memory_t mem[ANVIL_CPU_MAX_ARGS + 1] = {0};
    dnnl_exec_arg_t ea[ANVIL_CPU_MAX_ARGS + 1];
    int n = 0;
    dnnl_status_t st = dnnl_success;
    for (int32_t i = 0; i < k->n_args && st == dnnl_success; i++) {
        void *p = arg_ptr(k, &k->args[i], args);
        if (!p) {
            s = anvil__node_error(k->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                  "missing buffer for oneDNN argument %d", k->args[i].dnnl_arg);
            break;
        }
        st = dnnl_memory_create(&mem[n], &k->args[i].md, c->engine, p);
        ea[n] = (dnnl_exec_arg_t){k->args[i].dnnl_arg, mem[n]};
        if (st == dnnl_success) n++;
    }
    if (s == ANVIL_OK && st == dnnl_success && k->dnnl_scratch) {
        st = dnnl_memory_create(&mem[n], &k->scratch_md, c->engine, args->scratch);
        ea[n] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, mem[n]};
        if (st == dnnl_success) n++;
    }
    if (s == ANVIL_OK && st == dnnl_success) st = dnnl_primitive_execute(k->prim, stream, n, ea);
    if (s == ANVIL_OK && st == dnnl_success) st = dnnl_stream_wait(stream);
    if (s == ANVIL_OK && st != dnnl_success) s = anvil__cpu_dnnl_error(st, "kernel execution");
    for (int i = 0; i < n; i++)
        dnnl_memory_destroy(mem[i]);
    return s;
}
