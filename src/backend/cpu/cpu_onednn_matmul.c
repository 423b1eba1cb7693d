/*
 * cpu_onednn_matmul.c — MatMul and Gemm as the oneDNN matmul primitive. MatMul: numpy
 * batching/broadcasting, 1-D operands, a first fused Add of a [.., N] operand as the bias,
 * other fused ops as post-ops; when the weights have no batch dims, the batch is folded into
 * M (one large GEMM). Gemm: transA/transB through strides, alpha as a linear post-op, C as the
 * bias (scaled when alpha/beta != 1) or, with the output's shape, a sum post-op scaled by beta.
 * Activations are plain; weight slots are packed in the format oneDNN picks (as bf16 for bf16
 * compute, with A converted to bf16 per run: cpu_bf16.c).
 */
#include "backend/cpu/cpu_internal.h"

#include <string.h>

bool anvil__cpu_matmul_supported(const anvil__node *n, const anvil__tensor *in, int32_t n_in) {
    int32_t own = anvil__cpu_own_inputs(n);
    if (!anvil__cpu_all_f32(n, in, n_in) || n->inputs[0] < 0 || n->inputs[1] < 0) return false;
    if (n->op == ANVIL_OP_Gemm) {
        if (own < 2 || own > 3 || in[0].rank != 2 || in[1].rank != 2) return false;
        int64_t m = in[0].dims[anvil__attr_int(n, "transA", 0) ? 1 : 0];
        int64_t nn = in[1].dims[anvil__attr_int(n, "transB", 0) ? 0 : 1];
        const anvil__tensor *c = &in[2];
        if (own == 3 && n->inputs[2] >= 0 && anvil__attr_float(n, "beta", 1.0) != 0.0 &&
            !(c->rank == 1 && c->dims[0] == nn) &&
            !(c->rank == 2 && (c->dims[0] == 1 || c->dims[0] == m) && c->dims[1] == nn))
            return false; /* scalar or column C: ref */
    } else if (own != 2 || in[0].rank < 1 || in[1].rank < 1 || in[0].rank > DNNL_MAX_NDIMS ||
               in[1].rank > DNNL_MAX_NDIMS) {
        return false;
    }
    return anvil__cpu_post_supported(n, 0);
}

typedef struct mm_setup {
    int nd;
    int64_t a[DNNL_MAX_NDIMS], b[DNNL_MAX_NDIMS], y[DNNL_MAX_NDIMS];
    uint8_t aperm[DNNL_MAX_NDIMS], bperm[DNNL_MAX_NDIMS];
    int32_t bias_input; /* input bound as DNNL_ARG_BIAS directly, -1 none */
    bool bias_scaled;   /* bias from the kernel's scratch (Gemm with alpha/beta != 1) */
    int64_t bias_dims[DNNL_MAX_NDIMS];
    dnnl_data_type_t wdt; /* B and A: bf16 for bf16 compute (cpu_bf16.c), else f32 */
} mm_setup;

/* A fused-Add operand usable as the matmul bias: [.., N] with every other dim 1. */
static bool bias_like(const anvil__tensor *t, int64_t n) {
    if (t->rank < 1 || t->dims[t->rank - 1] != n) return false;
    for (int32_t d = 0; d < t->rank - 1; d++)
        if (t->dims[d] != 1) return false;
    return true;
}

static void identity(uint8_t *perm, int nd) {
    for (int j = 0; j < nd; j++)
        perm[j] = (uint8_t)j;
}

/* Folds the batch of A into M when B has no batch, and every fused Add operand either has the
 * output's size or is bias-like (both stay valid on the folded 2-D dst). */
static bool can_fold(const anvil__kernel_desc *d, const mm_setup *m) {
    const anvil__node *n = d->node;
    int64_t count = 1;
    for (int i = 0; i < m->nd - 2; i++)
        if (m->b[i] != 1) return false;
    for (int i = 0; i < m->nd; i++)
        count *= m->y[i];
    for (int32_t i = 0; i < n->n_post; i++) {
        if (n->post[i].op != ANVIL_OP_Add) continue;
        const anvil__tensor *t = &d->inputs[n->post[i].input];
        if (anvil__tensor_numel(t) != count && !bias_like(t, m->y[m->nd - 1])) return false;
    }
    return m->nd > 2;
}

static anvil_status matmul_shapes(const anvil__kernel_desc *d, mm_setup *m) {
    const anvil__node *n = d->node;
    const anvil__tensor *A = &d->inputs[0], *B = &d->inputs[1];
    int64_t a[DNNL_MAX_NDIMS], b[DNNL_MAX_NDIMS];
    int ra = A->rank, rb = B->rank;
    memcpy(a, A->dims, (size_t)ra * sizeof *a);
    memcpy(b, B->dims, (size_t)rb * sizeof *b);
    if (ra == 1) { /* [K] -> [1, K] */
        a[1] = a[0];
        a[0] = 1;
        ra = 2;
    }
    if (rb == 1) { /* [K] -> [K, 1] */
        b[1] = 1;
        rb = 2;
    }
    m->nd = ra > rb ? ra : rb;
    if (m->nd > DNNL_MAX_NDIMS) return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "rank");
    for (int i = 0; i < m->nd; i++) {
        m->a[i] = i < m->nd - ra ? 1 : a[i - (m->nd - ra)];
        m->b[i] = i < m->nd - rb ? 1 : b[i - (m->nd - rb)];
    }
    int64_t count = 1, want = anvil__tensor_numel(&d->outputs[0]);
    for (int i = 0; i < m->nd - 2; i++) {
        if (m->a[i] != m->b[i] && m->a[i] != 1 && m->b[i] != 1)
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "batch dims differ");
        m->y[i] = m->a[i] > m->b[i] ? m->a[i] : m->b[i];
        count *= m->y[i];
    }
    m->y[m->nd - 2] = m->a[m->nd - 2];
    m->y[m->nd - 1] = m->b[m->nd - 1];
    count *= m->y[m->nd - 2] * m->y[m->nd - 1];
    if (m->a[m->nd - 1] != m->b[m->nd - 2] || count != want)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "inner dims do not match");
    if (can_fold(d, m)) {
        int64_t rows = 1;
        for (int i = 0; i < m->nd - 1; i++)
            rows *= m->a[i];
        int64_t k = m->a[m->nd - 1], nn = m->b[m->nd - 1];
        m->nd = 2;
        m->a[0] = m->y[0] = rows;
        m->a[1] = m->b[0] = k;
        m->b[1] = m->y[1] = nn;
    }
    identity(m->aperm, m->nd);
    identity(m->bperm, m->nd);
    return ANVIL_OK;
}

/* B's md: `any` for a weight slot, else plain (or a fixed packed layout). */
static anvil_status b_md(const anvil__kernel_desc *d, const mm_setup *m, dnnl_memory_desc_t *md) {
    if (d->is_weight[1] && !d->fixed_weight_layouts) {
        anvil_status s = anvil__cpu_md_dims(m->nd, m->b, true, md);
        md->data_type = m->wdt;
        return s;
    }
    dnnl_memory_desc_t plain;
    anvil_status s = anvil__cpu_md_plain_perm(m->nd, m->b, m->wdt, m->bperm, &plain);
    if (s != ANVIL_OK) return s;
    if (!d->is_weight[1]) {
        *md = plain;
        return ANVIL_OK;
    }
    return anvil__cpu_md_from_layout(&d->fixed_weight_layouts[1], &plain, md);
}

static anvil_status bind(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                         const mm_setup *m, dnnl_primitive_desc_t pd,
                         const dnnl_memory_desc_t *bias) {
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (!src || !wei || !dst || wei->format_kind != dnnl_blocked)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN matmul chose unusable formats");
    anvil_status s = m->wdt == dnnl_bf16
                         ? anvil__cpu_layout_blob(wei, m->bperm, &k->in_layouts[1])
                         : anvil__cpu_layout_from_md(wei, m->bperm, &k->in_layouts[1]);
    if (s == ANVIL_OK) s = anvil__cpu_post_layouts(d, k, dst);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SRC, ANVIL_CPU_ARG_INPUT, 0, src);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_WEIGHTS, ANVIL_CPU_ARG_INPUT, 1, wei);
    if (s == ANVIL_OK && m->bias_scaled)
        s = anvil__cpu_add_arg(k, DNNL_ARG_BIAS, ANVIL_CPU_ARG_EXTRA, 0, bias);
    else if (s == ANVIL_OK && m->bias_input >= 0)
        s = anvil__cpu_add_arg(k, DNNL_ARG_BIAS, ANVIL_CPU_ARG_INPUT, m->bias_input, bias);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_DST, ANVIL_CPU_ARG_OUTPUT, 0, dst);
    /* A arrives plain f32 as before; a bf16 kernel converts it (same strides) per run. */
    if (s == ANVIL_OK && m->wdt == dnnl_bf16) s = anvil__cpu_bf16_src(c, k, src, false);
    return s; /* activations (inputs 0, bias, output) stay plain: layouts already zeroed */
}

/* Creates the primitive once shapes, bias and the post-op chain are decided. */
static anvil_status build(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                          const mm_setup *m, dnnl_post_ops_t po) {
    dnnl_memory_desc_t src, wei, bias, dst;
    bool has_bias = m->bias_input >= 0 || m->bias_scaled;
    anvil_status s = anvil__cpu_md_plain_perm(m->nd, m->a, m->wdt, m->aperm, &src);
    if (s == ANVIL_OK) s = b_md(d, m, &wei);
    if (s == ANVIL_OK) s = anvil__cpu_md_dims(m->nd, m->y, false, &dst);
    if (s == ANVIL_OK && has_bias) s = anvil__cpu_md_dims(m->nd, m->bias_dims, false, &bias);
    if (s != ANVIL_OK) return s;
    dnnl_matmul_desc_t desc;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, &src, &wei, has_bias ? &bias : NULL, &dst);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "matmul");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    s = anvil__cpu_attr(po, &attr);
    if (s == ANVIL_OK) s = anvil__cpu_create_pd(c, &desc, attr, "this matmul", &pd);
    if (s == ANVIL_OK) s = bind(c, d, k, m, pd, &bias);
    if (s == ANVIL_OK) {
        s = anvil__cpu_finish(k, pd);
        pd = NULL;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

static void set_bias_dims(mm_setup *m) {
    for (int i = 0; i < m->nd; i++)
        m->bias_dims[i] = i == m->nd - 1 ? m->y[m->nd - 1] : 1;
}

anvil_status anvil__cpu_matmul_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                      anvil__kernel *k) {
    const anvil__node *n = d->node;
    if (!anvil__cpu_matmul_supported(n, d->inputs, d->n_inputs) ||
        d->outputs[0].dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "oneDNN matmul needs f32");
    mm_setup m;
    memset(&m, 0, sizeof m);
    m.bias_input = -1;
    m.wdt = anvil__cpu_weight_dt(d, 1);
    anvil_status s = matmul_shapes(d, &m);
    if (s != ANVIL_OK) return s;
    int32_t skip = 0;
    if (n->n_post > 0 && n->post[0].op == ANVIL_OP_Add &&
        bias_like(&d->inputs[n->post[0].input], m.y[m.nd - 1])) {
        m.bias_input = n->post[0].input;
        set_bias_dims(&m);
        skip = 1;
    }
    dnnl_post_ops_t po = NULL;
    if (dnnl_post_ops_create(&po) != dnnl_success) return ANVIL_STATUS_OUT_OF_MEMORY;
    s = anvil__cpu_post_ops_dims(d, k, skip, true, m.nd, m.y, po);
    if (s == ANVIL_OK) s = build(c, d, k, &m, po);
    dnnl_post_ops_destroy(po);
    return s;
}

/* Gemm's C: the bias (scaled into scratch when alpha or beta is not 1) or a sum post-op. */
static anvil_status gemm_c(const anvil__kernel_desc *d, anvil__kernel *k, mm_setup *m, float alpha,
                           float beta, dnnl_post_ops_t po) {
    const anvil__tensor *C = &d->inputs[2];
    int64_t M = m->y[0], N = m->y[1];
    bool bias =
        (C->rank == 1 && C->dims[0] == N) || (C->rank == 2 && C->dims[0] == 1 && C->dims[1] == N);
    bool full = C->rank == 2 && C->dims[0] == M && C->dims[1] == N;
    dnnl_status_t st = dnnl_success;
    if (bias && alpha != 0.0f) {
        set_bias_dims(m);
        if (alpha == 1.0f && beta == 1.0f) {
            m->bias_input = 2;
        } else { /* post-op linear(alpha) follows, so the bias is beta / alpha * C */
            m->bias_scaled = true;
            k->bias_input = 2;
            k->bias_scale = beta / alpha;
            k->bias_count = (size_t)N;
            k->extra_bytes = (size_t)N * sizeof(float);
        }
    } else if (full) {
        st = dnnl_post_ops_append_sum(po, beta);
        k->sum_input = 2;
    } else {
        return anvil__node_error(d->node, ANVIL_STATUS_UNSUPPORTED,
                                 "oneDNN Gemm takes C of shape [N], [1, N] or [M, N]");
    }
    return st == dnnl_success ? ANVIL_OK : anvil__cpu_dnnl_error(st, "Gemm C");
}

anvil_status anvil__cpu_gemm_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k) {
    const anvil__node *n = d->node;
    if (!anvil__cpu_matmul_supported(n, d->inputs, d->n_inputs) ||
        d->outputs[0].dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "oneDNN Gemm needs f32");
    const anvil__tensor *A = &d->inputs[0], *B = &d->inputs[1], *Y = &d->outputs[0];
    bool ta = anvil__attr_int(n, "transA", 0) != 0, tb = anvil__attr_int(n, "transB", 0) != 0;
    float alpha = (float)anvil__attr_float(n, "alpha", 1.0),
          beta = (float)anvil__attr_float(n, "beta", 1.0);
    mm_setup m;
    memset(&m, 0, sizeof m);
    m.bias_input = -1;
    m.wdt = anvil__cpu_weight_dt(d, 1);
    m.nd = 2;
    m.a[0] = ta ? A->dims[1] : A->dims[0];
    m.a[1] = ta ? A->dims[0] : A->dims[1];
    m.b[0] = tb ? B->dims[1] : B->dims[0];
    m.b[1] = tb ? B->dims[0] : B->dims[1];
    m.y[0] = m.a[0];
    m.y[1] = m.b[1];
    if (m.a[1] != m.b[0] || Y->rank != 2 || Y->dims[0] != m.y[0] || Y->dims[1] != m.y[1])
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "Gemm shapes do not match");
    identity(m.aperm, 2);
    identity(m.bperm, 2);
    if (ta) { /* stored [K, M]: md dim 1 is outermost */
        m.aperm[0] = 1;
        m.aperm[1] = 0;
    }
    if (tb) {
        m.bperm[0] = 1;
        m.bperm[1] = 0;
    }
    dnnl_post_ops_t po = NULL;
    if (dnnl_post_ops_create(&po) != dnnl_success) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ANVIL_OK;
    if (alpha != 1.0f &&
        dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, alpha, 0.0f) != dnnl_success)
        s = anvil__error(ANVIL_STATUS_INTERNAL, "cannot add the alpha post-op");
    bool has_c = anvil__cpu_own_inputs(n) > 2 && n->inputs[2] >= 0 && beta != 0.0f;
    if (s == ANVIL_OK && has_c) s = gemm_c(d, k, &m, alpha, beta, po);
    if (s == ANVIL_OK) s = anvil__cpu_post_ops_dims(d, k, 0, true, 2, m.y, po);
    if (s == ANVIL_OK) s = build(c, d, k, &m, po);
    dnnl_post_ops_destroy(po);
    return s;
}
