/*
 * cpu_internal.h — pieces shared by the CPU backend's files (cpu_*.c): the kernel object, the
 * backend context (oneDNN engine, per-thread streams, reorder cache), layout blobs, post-op
 * building and the per-op kernel constructors. Nothing outside src/backend/cpu includes it;
 * the planner sees the backend only through backend.h.
 */
#ifndef ANVIL_CPU_INTERNAL_H
#define ANVIL_CPU_INTERNAL_H

#include "backend/backend.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>

/* Tactic ids (stable: they are stored in engine files). See the table in cpu_backend.c. */
enum {
    ANVIL_CPU_TACTIC_REF = 0,
    ANVIL_CPU_TACTIC_CONV = 1,
    ANVIL_CPU_TACTIC_DECONV = 2,
    ANVIL_CPU_TACTIC_MATMUL = 3,
    ANVIL_CPU_TACTIC_GEMM = 4,
    ANVIL_CPU_TACTIC_POOL = 5,
    ANVIL_CPU_TACTIC_SOFTMAX = 6,
    ANVIL_CPU_TACTIC_LAYERNORM = 7,
    ANVIL_CPU_TACTIC_BATCHNORM = 8,
    ANVIL_CPU_TACTIC_BINARY = 9,
    ANVIL_CPU_TACTIC_ELTWISE = 10,
    ANVIL_CPU_TACTIC_COUNT
};

/* Layout kind of a oneDNN memory descriptor blob (ANVIL_LAYOUT_PLAIN is 0). */
#define ANVIL_CPU_LAYOUT_ONEDNN 1

/* The backend singleton's state. */
typedef struct anvil__cpu_ctx {
    dnnl_engine_t engine;
    pthread_key_t stream_key; /* per-thread dnnl_stream_t, destroyed at thread exit */
    pthread_mutex_t cache_lock;
    struct anvil__cpu_reorder_entry *cache; /* reorder primitives by (from, to) */
    int32_t cache_count;
    char version[96];
} anvil__cpu_ctx;

/* Where a oneDNN execution argument's memory comes from. */
typedef enum anvil__cpu_arg_src {
    ANVIL_CPU_ARG_INPUT = 0,  /* args->inputs[index] */
    ANVIL_CPU_ARG_OUTPUT = 1, /* args->outputs[index] */
    ANVIL_CPU_ARG_EXTRA = 2,  /* the kernel's own part of the scratch buffer, at `offset` */
} anvil__cpu_arg_src;

typedef struct anvil__cpu_arg {
    int dnnl_arg;
    anvil__cpu_arg_src src;
    int32_t index;
    size_t offset;
    dnnl_memory_desc_t md;
} anvil__cpu_arg;

#define ANVIL_CPU_MAX_ARGS 16

struct anvil__kernel {
    int32_t tactic;
    int32_t threads;
    int64_t opset;
    const anvil__node *node; /* borrowed: the run graph outlives its kernels */
    int32_t n_in, n_out;
    anvil__layout *in_layouts;  /* wanted, per input */
    anvil__layout *out_layouts; /* produced, per output */
    /* oneDNN part (tactics other than ref). */
    dnnl_primitive_t prim;
    anvil__cpu_arg args[ANVIL_CPU_MAX_ARGS];
    int32_t n_args;
    dnnl_memory_desc_t scratch_md;
    size_t dnnl_scratch; /* bytes of oneDNN's scratchpad, at offset 0 of args->scratch */
    size_t extra_offset; /* the kernel's own scratch (64-byte aligned) follows */
    size_t extra_bytes;
    /* Residual Add as a sum post-op: input `sum_input` is copied into output 0 (sum_bytes)
     * before the primitive runs, unless it already is that buffer. -1: none. */
    int32_t sum_input;
    size_t sum_bytes;
    /* Gemm bias scaled by bias_scale into the extra scratch before running (bias_count
     * floats from input bias_input). -1: none. */
    int32_t bias_input;
    float bias_scale;
    size_t bias_count;
    /* bf16 compute (ANVIL_PRECISION_BF16): input 0 arrives f32 (src_from) and src_prim
     * converts it into the extra scratch at src_offset, in the bf16 md the primitive wants
     * (src_to); its own scratchpad (src_scratch_md) shares offset 0 with the primitive's. */
    dnnl_primitive_t src_prim;
    dnnl_memory_desc_t src_from, src_to, src_scratch_md;
    size_t src_scratch;
    size_t src_offset;
};

/* ---- cpu_backend.c ---- */
/* The process-wide CPU backend (created on first use; UNSUPPORTED when oneDNN cannot start). */
anvil_status anvil__cpu_backend_get(const anvil__backend **out);
/* The calling thread's stream on the backend's engine (created on first use). */
anvil_status anvil__cpu_stream(anvil__cpu_ctx *c, dnnl_stream_t *out);
/* Maps a failed oneDNN call to a status with a message naming `what`. */
anvil_status anvil__cpu_dnnl_error(dnnl_status_t st, const char *what);
/* Allocates a kernel with per-input/output layout arrays (all plain) and no primitive. */
anvil_status anvil__cpu_kernel_alloc(const anvil__kernel_desc *d, anvil__kernel **out);
void anvil__cpu_kernel_free(anvil__kernel *k);

/* ---- cpu_layout.c ---- */
/* Row-major md over the tensor's dims (rank 0 becomes [1]). */
anvil_status anvil__cpu_md_plain(const anvil__tensor *t, dnnl_memory_desc_t *md);
/* Plain md over `dims` whose bytes are stored with the dims in physical order `perm` (perm[j]
 * = the md dim stored j-th, outermost first); NULL perm = identity. */
anvil_status anvil__cpu_md_plain_perm(int ndims, const int64_t *dims, dnnl_data_type_t dt,
                                      const uint8_t *perm, dnnl_memory_desc_t *md);
/* Layout reporting `md` for a tensor stored plain as the md's dims in order `perm` (NULL:
 * identity): PLAIN when md is exactly that plain layout, else a oneDNN blob. */
anvil_status anvil__cpu_layout_from_md(const dnnl_memory_desc_t *md, const uint8_t *perm,
                                       anvil__layout *out);
/* The md a layout describes, checked against the plain md of the same tensor `plain` (its
 * dims and dtype must match; blobs from files are validated before use). */
anvil_status anvil__cpu_md_from_layout(const anvil__layout *l, const dnnl_memory_desc_t *plain,
                                       dnnl_memory_desc_t *md);
/* Copies an md zeroing padding and unused fields, so equal layouts have equal bytes. */
void anvil__cpu_md_canonical(const dnnl_memory_desc_t *in, dnnl_memory_desc_t *out);
anvil_status anvil__cpu_reorder(void *ctx, const anvil__tensor *shape, const anvil__layout *from,
                                const void *src, const anvil__layout *to, void *dst);
/* The backend's check_layout (see backend.h). */
anvil_status anvil__cpu_check_layout(void *ctx, const anvil__tensor *shape, const anvil__layout *l);
/* The backend's pack_view (see backend.h): a reorder from the view's strides, with oneDNN
 * output scales over the md dims that index ONNX dim 0. */
anvil_status anvil__cpu_pack_view(void *ctx, const anvil__tensor *shape, const int64_t *strides,
                                  const void *src, const float *scale, const anvil__layout *to,
                                  void *dst);
anvil_status anvil__cpu_reorder_cache_init(anvil__cpu_ctx *c);
dnnl_data_type_t anvil__cpu_dnnl_dtype(anvil_dtype dt); /* dnnl_data_type_undef if none */

/* ---- cpu_onednn.c: shared by the oneDNN kernels ---- */
/* Post-op chain of node->post (skipping the first `skip` entries, consumed as a bias) for a
 * primitive whose dst is `dst_dims`. Residual Adds with the output's shape become a sum
 * post-op when `allow_sum`, else binary add post-ops (operand plain, broadcast). Records the
 * binary operands and the sum input in k. UNSUPPORTED for post-ops oneDNN cannot run. */
anvil_status anvil__cpu_post_ops(const anvil__kernel_desc *d, anvil__kernel *k, int32_t skip,
                                 bool allow_sum, dnnl_post_ops_t po);
/* As anvil__cpu_post_ops for a dst md of `ndims` dims (matmul dst md may add leading 1s). */
anvil_status anvil__cpu_post_ops_dims(const anvil__kernel_desc *d, anvil__kernel *k, int32_t skip,
                                      bool allow_sum, int ndims, const int64_t *dims,
                                      dnnl_post_ops_t po);
/* Whether anvil__cpu_post_ops would accept node->post (tactics() uses it). */
bool anvil__cpu_post_supported(const anvil__node *n, int32_t skip);
/* Maps an activation to up to two eltwise steps; returns the count (0: not supported). */
int anvil__cpu_eltwise_steps(int32_t op, float alpha, float beta, dnnl_alg_kind_t *alg, float *a,
                             float *b);
/* An attribute with the user scratchpad and `po` (may be NULL). */
anvil_status anvil__cpu_attr(dnnl_post_ops_t po, dnnl_primitive_attr_t *out);
/* Creates the primitive from an op descriptor; fills scratch sizes. Returns UNSUPPORTED with
 * `what` in the message when oneDNN has no implementation. */
anvil_status anvil__cpu_create_pd(anvil__cpu_ctx *c, const void *op_desc,
                                  dnnl_primitive_attr_t attr, const char *what,
                                  dnnl_primitive_desc_t *out);
anvil_status anvil__cpu_finish(anvil__kernel *k, dnnl_primitive_desc_t pd);
/* Records an execution argument. */
anvil_status anvil__cpu_add_arg(anvil__kernel *k, int dnnl_arg, anvil__cpu_arg_src src,
                                int32_t index, const dnnl_memory_desc_t *md);
/* Fills the post-op operands' and sum input's wanted layouts once the dst md is known. */
anvil_status anvil__cpu_post_layouts(const anvil__kernel_desc *d, anvil__kernel *k,
                                     const dnnl_memory_desc_t *dst);
anvil_status anvil__cpu_onednn_run(anvil__cpu_ctx *c, const anvil__kernel *k,
                                   const anvil__exec_args *args);
/* Count of the node's own inputs (those before the first post-op operand). */
int32_t anvil__cpu_own_inputs(const anvil__node *n);
/* All of the node's present inputs are f32 with known shapes and no zero-sized tensor. */
bool anvil__cpu_all_f32(const anvil__node *n, const anvil__tensor *inputs, int32_t n_inputs);
/* md for input i arriving in desc->in_layouts[i] (plain or blob), checked against its shape. */
anvil_status anvil__cpu_md_arriving(const anvil__kernel_desc *d, int32_t i, dnnl_memory_desc_t *md);
/* md from dims (row-major plain, or format any when `any`). */
anvil_status anvil__cpu_md_dims(int ndims, const int64_t *dims, bool any, dnnl_memory_desc_t *md);

/* ---- cpu_bf16.c: opt-in bf16 compute (weights packed as bf16, src converted per run) ---- */
/* The CPU (as oneDNN sees it, DNNL_MAX_CPU_ISA included) has avx512_bf16. */
bool anvil__cpu_has_bf16(void);
/* dtype of weight input w's md: bf16 when a fixed layout says so or, choosing, when the desc
 * asks for BF16 and the CPU has it; f32 otherwise (and for weights computed at run time). */
dnnl_data_type_t anvil__cpu_weight_dt(const anvil__kernel_desc *d, int32_t w);
/* Makes input 0 arrive f32 for a primitive whose src md `src` is bf16: records the conversion
 * (a reorder into the kernel's extra scratch) and points the DNNL_ARG_SRC argument there.
 * `report_layout`: input 0's wanted layout becomes the f32 twin of `src` (else left as is). */
anvil_status anvil__cpu_bf16_src(anvil__cpu_ctx *c, anvil__kernel *k,
                                 const dnnl_memory_desc_t *src, bool report_layout);
/* Runs the src conversion of a bf16 kernel (nothing for others). */
anvil_status anvil__cpu_bf16_src_run(anvil__cpu_ctx *c, dnnl_stream_t stream,
                                     const anvil__kernel *k, const anvil__exec_args *args);
/* Layout of a packed weight md: always a blob (a bf16 weight is never the plain f32 tensor). */
anvil_status anvil__cpu_layout_blob(const dnnl_memory_desc_t *md, const uint8_t *perm,
                                    anvil__layout *out);
/* Element type of a layout: f32 for plain, the blob's md type, undef for a bad blob. */
dnnl_data_type_t anvil__cpu_layout_dt(const anvil__layout *l);

/* ---- per-op kernels ---- */
bool anvil__cpu_conv_supported(const anvil__node *n, const anvil__tensor *in, int32_t n_in);
anvil_status anvil__cpu_conv_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k);
anvil_status anvil__cpu_deconv_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                      anvil__kernel *k);
bool anvil__cpu_matmul_supported(const anvil__node *n, const anvil__tensor *in, int32_t n_in);
anvil_status anvil__cpu_matmul_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                      anvil__kernel *k);
anvil_status anvil__cpu_gemm_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k);
/* Pooling, softmax, layer norm, batch norm, binary, eltwise (cpu_onednn_misc.c). */
int32_t anvil__cpu_misc_tactic(const anvil__node *n, const anvil__tensor *in, int32_t n_in);
anvil_status anvil__cpu_misc_create(anvil__cpu_ctx *c, const anvil__kernel_desc *d,
                                    anvil__kernel *k);

/* ---- cpu_fallback.c ---- */
bool anvil__cpu_ref_supported(const anvil__node *n);
anvil_status anvil__cpu_ref_create(const anvil__kernel_desc *d, anvil__kernel *k);
anvil_status anvil__cpu_ref_run(const anvil__kernel *k, const anvil__exec_args *args);

#endif /* ANVIL_CPU_INTERNAL_H */
