/*
 * cpu_onednn_conv.c — Conv and ConvTranspose as oneDNN convolution / deconvolution primitives
 * (1-D to 3-D spatial, groups, strides, dilations, pads with auto_pad resolved from the
 * shapes, ConvTranspose output_padding/output_shape), with node->post fused as post-ops.
 * src, weights and dst are created with format `any` so oneDNN picks its fastest (blocked or
 * channels-last) layouts; the kernel reports them and the planner reorders/packs to match.
 * bf16 compute (cpu_bf16.c): weights and src bf16, dst f32; the f32 input is converted per run.
 */
#include "backend/cpu/cpu_internal.h"

#include "ops/nn_common.h"

#include <string.h>

bool anvil__cpu_conv_supported(const anvil__node *n, const anvil__tensor *in, int32_t n_in) {
    int32_t own = anvil__cpu_own_inputs(n);
    if (own < 2 || own > 3 || !anvil__cpu_all_f32(n, in, n_in)) return false;
    if (n->inputs[0] < 0 || n->inputs[1] < 0) return false;
    if (in[0].rank < 3 || in[0].rank > 5 || in[1].rank != in[0].rank) return false;
    return anvil__cpu_post_supported(n, 0);
}

/* Everything the descriptor needs, in oneDNN terms. */
typedef struct conv_setup {
    int ns;
    int64_t group;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
    int wnd; /* weights md dims */
    int64_t wdims[DNNL_MAX_NDIMS];
    uint8_t wperm[DNNL_MAX_NDIMS]; /* ONNX storage order of the weights md dims */
    bool has_bias;
    dnnl_data_type_t wdt; /* weights and src: bf16 for bf16 compute, else f32 */
} conv_setup;

static anvil_status out_check(const anvil__node *n, const anvil__tensor *y, int ns,
                              const int64_t *out) {
    for (int i = 0; i < ns; i++)
        if (y->rank != ns + 2 || y->dims[2 + i] != out[i])
            return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "output spatial dim %d is %lld, the window gives %lld", i,
                                     (long long)(y->rank == ns + 2 ? y->dims[2 + i] : -1),
                                     (long long)out[i]);
    return ANVIL_OK;
}

static anvil_status conv_geometry(const anvil__kernel_desc *d, conv_setup *cs) {
    const anvil__node *n = d->node;
    const anvil__tensor *x = &d->inputs[0], *w = &d->inputs[1];
    anvil__window win;
    int64_t out[ANVIL_NN_MAX_SPATIAL];
    cs->ns = x->rank - 2;
    anvil_status s = anvil__window_read(n, cs->ns, w->dims + 2, &win);
    if (s == ANVIL_OK) s = anvil__window_output(n, &win, x->dims + 2, false, out);
    if (s == ANVIL_OK) s = out_check(n, &d->outputs[0], cs->ns, out);
    if (s != ANVIL_OK) return s;
    for (int i = 0; i < cs->ns; i++) {
        cs->strides[i] = win.stride[i];
        cs->dilates[i] = win.dilation[i] - 1;
        cs->pad_l[i] = win.pad_begin[i];
        cs->pad_r[i] = win.pad_end[i];
        /* Padding wider than the (dilated) kernel only adds outputs that see no input. oneDNN
         * builds its kernels for such shapes slowly and with memory growing with the padding
         * (a crafted engine file made it take gigabytes): the reference kernel takes them. */
        int64_t extent = (w->dims[2 + i] - 1) * win.dilation[i] + 1;
        if (win.pad_begin[i] > extent || win.pad_end[i] > extent)
            return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "padding %lld/%lld wider than "
                                     "the kernel (%lld) on spatial axis %d: left to the "
                                     "reference kernel", (long long)win.pad_begin[i],
                                     (long long)win.pad_end[i], (long long)extent, i);
    }
    cs->group = anvil__attr_int(n, "group", 1);
    int64_t m = w->dims[0], cg = w->dims[1];
    if (cs->group < 1 || m % cs->group != 0 || cg * cs->group != x->dims[1])
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "bad group/channel counts");
    int k = 0;
    if (cs->group > 1) cs->wdims[k++] = cs->group;
    cs->wdims[k++] = m / cs->group;
    cs->wdims[k++] = cg;
    for (int i = 0; i < cs->ns; i++)
        cs->wdims[k++] = w->dims[2 + i];
    cs->wnd = k;
    for (int j = 0; j < k; j++)
        cs->wperm[j] = (uint8_t)j;
    return ANVIL_OK;
}

/* ConvTranspose pads from ONNX rules: auto_pad/output_shape split the total padding, else the
 * pads attribute; the right pad follows from the output size (output_padding included). */
static anvil_status deconv_geometry(const anvil__kernel_desc *d, conv_setup *cs) {
    const anvil__node *n = d->node;
    const anvil__tensor *x = &d->inputs[0], *w = &d->inputs[1], *y = &d->outputs[0];
    anvil__window win;
    cs->ns = x->rank - 2;
    anvil_status s = anvil__window_read(n, cs->ns, w->dims + 2, &win);
    if (s != ANVIL_OK) return s;
    if (y->rank != x->rank)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "output rank differs");
    size_t n_opad = 0, n_oshape = 0;
    const int64_t *opad = anvil__attr_ints(n, "output_padding", &n_opad);
    anvil__attr_ints(n, "output_shape", &n_oshape);
    bool same =
        win.auto_pad == ANVIL_AUTO_PAD_SAME_UPPER || win.auto_pad == ANVIL_AUTO_PAD_SAME_LOWER;
    for (int i = 0; i < cs->ns; i++) {
        int64_t span = (w->dims[2 + i] - 1) * win.dilation[i] + 1;
        int64_t grown = (x->dims[2 + i] - 1) * win.stride[i];
        int64_t op = opad && n_opad == (size_t)cs->ns ? opad[i] : 0;
        int64_t pb = win.pad_begin[i];
        if (n_oshape || same) {
            int64_t total = grown + op + span - y->dims[2 + i];
            int64_t half = anvil__floor_div(total, 2);
            pb = win.auto_pad == ANVIL_AUTO_PAD_SAME_UPPER ? half : total - half;
        } else if (win.auto_pad == ANVIL_AUTO_PAD_VALID) {
            pb = 0;
        }
        int64_t pr = grown + span - pb - y->dims[2 + i];
        if (pb < 0 || pr < 0)
            return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                     "oneDNN deconvolution needs non-negative pads (dim %d: %lld, "
                                     "%lld)",
                                     i, (long long)pb, (long long)pr);
        cs->strides[i] = win.stride[i];
        cs->dilates[i] = win.dilation[i] - 1;
        cs->pad_l[i] = pb;
        cs->pad_r[i] = pr;
    }
    cs->group = anvil__attr_int(n, "group", 1);
    int64_t c = w->dims[0], mg = w->dims[1];
    if (cs->group < 1 || c % cs->group != 0 || c != x->dims[1] || y->dims[1] != mg * cs->group)
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "bad group/channel counts");
    /* md dims (g,) O/g, I/g, k...; ONNX stores I (= g x I/g), O/g, k...: swap o and i. */
    int k = 0;
    if (cs->group > 1) cs->wdims[k++] = cs->group;
    cs->wdims[k++] = mg;
    cs->wdims[k++] = c / cs->group;
    for (int i = 0; i < cs->ns; i++)
        cs->wdims[k++] = w->dims[2 + i];
    cs->wnd = k;
    for (int j = 0; j < k; j++)
        cs->wperm[j] = (uint8_t)j;
    int o = cs->group > 1 ? 1 : 0;
    cs->wperm[o] = (uint8_t)(o + 1);
    cs->wperm[o + 1] = (uint8_t)o;
    return ANVIL_OK;
}

/* Weights md: `any` for a weight slot (oneDNN picks the packing), the layout fixed by an
 * earlier compile, or the arriving layout for weights computed at run time. */
static anvil_status weights_md(const anvil__kernel_desc *d, const conv_setup *cs,
                               dnnl_memory_desc_t *md) {
    if (d->is_weight[1] && !d->fixed_weight_layouts) {
        anvil_status s = anvil__cpu_md_dims(cs->wnd, cs->wdims, true, md);
        md->data_type = cs->wdt;
        return s;
    }
    dnnl_memory_desc_t plain;
    anvil_status s = anvil__cpu_md_plain_perm(cs->wnd, cs->wdims, cs->wdt, cs->wperm, &plain);
    const anvil__layout *l = d->is_weight[1] ? &d->fixed_weight_layouts[1] : &d->in_layouts[1];
    if (s == ANVIL_OK) s = anvil__cpu_md_from_layout(l, &plain, md);
    return s;
}

static anvil_status init_desc(const anvil__kernel_desc *d, const conv_setup *cs, bool deconv,
                              dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                              dnnl_memory_desc_t *bias, dnnl_memory_desc_t *dst, void *desc) {
    const anvil__tensor *x = &d->inputs[0], *y = &d->outputs[0];
    bool any = !d->plain_activations; /* oneDNN picks blocked/channels-last layouts */
    anvil_status s = anvil__cpu_md_dims(x->rank, x->dims, any, src);
    src->data_type = cs->wdt; /* bf16 compute: the kernel converts its f32 input */
    if (s == ANVIL_OK) s = anvil__cpu_md_dims(y->rank, y->dims, any, dst);
    if (s == ANVIL_OK) s = weights_md(d, cs, wei);
    if (s == ANVIL_OK && cs->has_bias) s = anvil__cpu_md_plain(&d->inputs[2], bias);
    if (s != ANVIL_OK) return s;
    dnnl_status_t st;
    if (deconv)
        st = dnnl_dilated_deconvolution_forward_desc_init(
            desc, dnnl_forward_inference, dnnl_deconvolution_direct, src, wei,
            cs->has_bias ? bias : NULL, dst, cs->strides, cs->dilates, cs->pad_l, cs->pad_r);
    else
        st = dnnl_dilated_convolution_forward_desc_init(
            desc, dnnl_forward_inference, dnnl_convolution_direct, src, wei,
            cs->has_bias ? bias : NULL, dst, cs->strides, cs->dilates, cs->pad_l, cs->pad_r);
    return st == dnnl_success ? ANVIL_OK
                              : anvil__cpu_dnnl_error(st, deconv ? "deconvolution" : "convolution");
}

/* Records arguments and layouts from the primitive descriptor's chosen memory descs. */
static anvil_status bind(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                         const conv_setup *cs, dnnl_primitive_desc_t pd,
                         const dnnl_memory_desc_t *bias) {
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (!src || !wei || !dst)
        return anvil__error(ANVIL_STATUS_INTERNAL, "oneDNN returned no memory descriptors");
    if (wei->format_kind != dnnl_blocked)
        return anvil__node_error(d->node, ANVIL_STATUS_UNSUPPORTED,
                                 "oneDNN chose a non-blocked weight format");
    anvil_status s = anvil__cpu_layout_from_md(src, NULL, &k->in_layouts[0]);
    if (s == ANVIL_OK)
        s = cs->wdt == dnnl_bf16 ? anvil__cpu_layout_blob(wei, cs->wperm, &k->in_layouts[1])
                                 : anvil__cpu_layout_from_md(wei, cs->wperm, &k->in_layouts[1]);
    if (s == ANVIL_OK) s = anvil__cpu_layout_from_md(dst, NULL, &k->out_layouts[0]);
    if (s == ANVIL_OK) s = anvil__cpu_post_layouts(d, k, dst);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_SRC, ANVIL_CPU_ARG_INPUT, 0, src);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_WEIGHTS, ANVIL_CPU_ARG_INPUT, 1, wei);
    if (s == ANVIL_OK && cs->has_bias)
        s = anvil__cpu_add_arg(k, DNNL_ARG_BIAS, ANVIL_CPU_ARG_INPUT, 2, bias);
    if (s == ANVIL_OK) s = anvil__cpu_add_arg(k, DNNL_ARG_DST, ANVIL_CPU_ARG_OUTPUT, 0, dst);
    if (s == ANVIL_OK && cs->wdt == dnnl_bf16) s = anvil__cpu_bf16_src(c, k, src, true);
    return s;
}

static anvil_status create(anvil__cpu_ctx *c, const anvil__kernel_desc *d, anvil__kernel *k,
                           bool deconv) {
    const anvil__node *n = d->node;
    if (!anvil__cpu_conv_supported(n, d->inputs, d->n_inputs) || d->n_outputs != 1 ||
        d->outputs[0].dtype != ANVIL_DTYPE_F32)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                 "oneDNN %s needs f32 rank 3-5 tensors",
                                 deconv ? "deconvolution" : "convolution");
    conv_setup cs;
    memset(&cs, 0, sizeof cs);
    anvil_status s = deconv ? deconv_geometry(d, &cs) : conv_geometry(d, &cs);
    if (s != ANVIL_OK) return s;
    int32_t own = anvil__cpu_own_inputs(n);
    cs.has_bias = own > 2 && n->inputs[2] >= 0;
    cs.wdt = anvil__cpu_weight_dt(d, 1);
    /* Depthwise convs and convs of few input channels per group (a network's first conv, on
     * the image) are memory-bound: bf16 saves nothing there while its per-run conversion of
     * the input costs time and accuracy (MobileNetV2 logits: 7% -> 5% of max with the first
     * conv f32), so they stay f32. A reload follows the saved layouts instead. */
    if (!d->fixed_weight_layouts && d->inputs[1].dims[1] < 16) cs.wdt = dnnl_f32;
    if (cs.has_bias && (d->inputs[2].rank != 1 || d->inputs[2].dims[0] != d->outputs[0].dims[1]))
        return anvil__node_error(n, ANVIL_STATUS_SHAPE_MISMATCH, "bias must be [M]");
    dnnl_memory_desc_t src, wei, bias, dst;
    union {
        dnnl_convolution_desc_t conv;
        dnnl_deconvolution_desc_t deconv;
    } desc;
    s = init_desc(d, &cs, deconv, &src, &wei, &bias, &dst, &desc);
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (s == ANVIL_OK && dnnl_post_ops_create(&po) != dnnl_success) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__cpu_post_ops(d, k, 0, true, po);
    if (s == ANVIL_OK) s = anvil__cpu_attr(po, &attr);
    if (s == ANVIL_OK)
        s = anvil__cpu_create_pd(c, &desc, attr, deconv ? "this deconvolution" : "this convolution",
                                 &pd);
    if (s == ANVIL_OK) s = bind(c, d, k, &cs, pd, &bias);
    if (s == ANVIL_OK) {
        s = anvil__cpu_finish(k, pd); /* takes pd */
        pd = NULL;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (po) dnnl_post_ops_destroy(po);
    return s;
}

anvil_status anvil__cpu_conv_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k) {
    return create(c, d, k, false);
}

anvil_status anvil__cpu_deconv_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                      anvil__kernel *k) {
    return create(c, d, k, true);
}
