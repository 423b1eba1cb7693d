/*
 * cpu_bf16.c — opt-in bf16 compute of the CPU backend (ANVIL_PRECISION_BF16): whether the CPU
 * has it, which weights are packed as bf16, and the per-run conversion of a kernel's f32 input
 * into the bf16 source its primitive reads. Activations between kernels stay f32, so layouts
 * negotiated by the planner are f32 ones; only packed weights and kernel scratch hold bf16.
 * The Conv/MatMul/Gemm descriptors that use this live in cpu_onednn_conv.c / _matmul.c.
 */
#include "backend/cpu/cpu_internal.h"

#include <string.h>

bool anvil__cpu_has_bf16(void) {
    /* ISA values are bit sets in oneDNN 2.x (avx2_vnni is numerically larger but has no bf16):
     * compare bits, not order. */
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned need = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return (isa & need) == need;
}

dnnl_data_type_t anvil__cpu_weight_dt(const anvil__kernel_desc *d, int32_t w) {
    if (w >= d->n_inputs || !d->is_weight[w]) return dnnl_f32;
    /* A reloaded engine's packed weights decide: the kernel must read what was packed. */
    if (d->fixed_weight_layouts)
        return anvil__cpu_layout_dt(&d->fixed_weight_layouts[w]) == dnnl_bf16 ? dnnl_bf16
                                                                             : dnnl_f32;
    return d->precision == ANVIL_PRECISION_BF16 && anvil__cpu_has_bf16() ? dnnl_bf16 : dnnl_f32;
}

static anvil_status src_reorder(anvil__cpu_ctx *c, anvil__kernel *k) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    anvil_status s = anvil__cpu_attr(NULL, &attr); /* user scratchpad: kernels run concurrently */
    if (s != ANVIL_OK) return s;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, &k->src_from, c->engine,
                                                          &k->src_to, c->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "bf16 source conversion");
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd) {
        anvil__cpu_md_canonical(smd, &k->src_scratch_md);
        k->src_scratch = dnnl_memory_desc_get_size(smd);
    }
    st = dnnl_primitive_create(&k->src_prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        k->src_prim = NULL;
        return anvil__cpu_dnnl_error(st, "bf16 source conversion primitive");
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_bf16_src(anvil__cpu_ctx *c, anvil__kernel *k,
                                 const dnnl_memory_desc_t *src, bool report_layout) {
    if (src->data_type != dnnl_bf16 || src->format_kind != dnnl_blocked)
        return anvil__error(ANVIL_STATUS_INTERNAL, "bf16 kernel without a blocked bf16 source");
    anvil__cpu_md_canonical(src, &k->src_to);
    k->src_from = k->src_to; /* strides count elements: the same md holds f32 */
    k->src_from.data_type = dnnl_f32;
    anvil_status s = ANVIL_OK;
    if (report_layout) s = anvil__cpu_layout_from_md(&k->src_from, NULL, &k->in_layouts[0]);
    if (s == ANVIL_OK) s = src_reorder(c, k);
    if (s != ANVIL_OK) return s;
    size_t bytes = dnnl_memory_desc_get_size(&k->src_to);
    k->src_offset = (k->extra_bytes + 63) & ~(size_t)63; /* after a scaled Gemm bias */
    if (!anvil__add_size(k->src_offset, bytes, &k->extra_bytes))
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "bf16 source of %zu bytes", bytes);
    for (int32_t i = 0; i < k->n_args; i++)
        if (k->args[i].dnnl_arg == DNNL_ARG_SRC) {
            k->args[i].src = ANVIL_CPU_ARG_EXTRA;
            k->args[i].index = 0;
            k->args[i].offset = k->src_offset;
            return ANVIL_OK;
        }
    return anvil__error(ANVIL_STATUS_INTERNAL, "bf16 kernel has no source argument");
}

anvil_status anvil__cpu_bf16_src_run(anvil__cpu_ctx *c, dnnl_stream_t stream,
                                     const anvil__kernel *k, const anvil__exec_args *args) {
    if (!k->src_prim) return ANVIL_OK;
    void *from = k->n_in > 0 ? args->inputs[0] : NULL;
    if (!from || !args->scratch)
        return anvil__node_error(k->node, ANVIL_STATUS_INVALID_ARGUMENT,
                                 "bf16 kernel needs its input and scratch buffers");
    dnnl_memory_t m[3] = {NULL, NULL, NULL};
    dnnl_status_t st = dnnl_memory_create(&m[0], &k->src_from, c->engine, from);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m[1], &k->src_to, c->engine,
                                (char *)args->scratch + k->extra_offset + k->src_offset);
    if (st == dnnl_success && k->src_scratch)
        st = dnnl_memory_create(&m[2], &k->src_scratch_md, c->engine, args->scratch);
    dnnl_exec_arg_t ea[3] = {
        {DNNL_ARG_FROM, m[0]}, {DNNL_ARG_TO, m[1]}, {DNNL_ARG_SCRATCHPAD, m[2]}};
    if (st == dnnl_success)
        st = dnnl_primitive_execute(k->src_prim, stream, k->src_scratch ? 3 : 2, ea);
    if (st == dnnl_success) st = dnnl_stream_wait(stream);
    for (int i = 0; i < 3; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    return st == dnnl_success ? ANVIL_OK : anvil__cpu_dnnl_error(st, "bf16 source conversion");
}
