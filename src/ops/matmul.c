/*
 * matmul.c — MatMul (numpy matmul: batch broadcasting, 1-D operands) and Gemm (transA/transB,
 * alpha/beta, C broadcast to M x N), plus the blocked f32 GEMM the conv kernels share.
 * Floats run in f32 (the interpreter converts other float types); integer types run exactly
 * with wrap-around in a plain triple loop. Not a tuned BLAS: no SIMD intrinsics, no threads.
 */
#include "ops/nn_common.h"

#include <string.h>

/* ---- f32 GEMM ---------------------------------------------------------------------------- */

/* Column and depth block sizes: a KB x NB block of B (256 KiB) stays in L2 while every row
 * block of A streams past it. */
#define GEMM_NB 256
#define GEMM_KB 256

/* C[4 x 8] += alpha * A[4 x kb] * B[kb x 8]. The 32 sums live in local arrays with fixed-length
 * inner loops, which compilers keep in vector registers and vectorize even at -O2: this is
 * what makes the plain-C GEMM several times faster than a row-by-row loop. */
static void tile4x8(size_t kb, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                    float *c, size_t ldc) {
    float s0[8] = {0}, s1[8] = {0}, s2[8] = {0}, s3[8] = {0};
    for (size_t p = 0; p < kb; p++) {
        const float *bp = b + p * ldb;
        float a0 = a[p], a1 = a[lda + p], a2 = a[2 * lda + p], a3 = a[3 * lda + p];
        for (size_t u = 0; u < 8; u++)
            s0[u] += a0 * bp[u];
        for (size_t u = 0; u < 8; u++)
            s1[u] += a1 * bp[u];
        for (size_t u = 0; u < 8; u++)
            s2[u] += a2 * bp[u];
        for (size_t u = 0; u < 8; u++)
            s3[u] += a3 * bp[u];
    }
    for (size_t u = 0; u < 8; u++)
        c[u] += alpha * s0[u];
    for (size_t u = 0; u < 8; u++)
        c[ldc + u] += alpha * s1[u];
    for (size_t u = 0; u < 8; u++)
        c[2 * ldc + u] += alpha * s2[u];
    for (size_t u = 0; u < 8; u++)
        c[3 * ldc + u] += alpha * s3[u];
}

/* C[1 x 8] += alpha * A[1 x kb] * B[kb x 8], for the rows left over by tile4x8. */
static void tile1x8(size_t kb, float alpha, const float *a, const float *b, size_t ldb, float *c) {
    float s[8] = {0};
    for (size_t p = 0; p < kb; p++)
        for (size_t u = 0; u < 8; u++)
            s[u] += a[p] * b[p * ldb + u];
    for (size_t u = 0; u < 8; u++)
        c[u] += alpha * s[u];
}

void anvil__gemm_f32(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                     const float *b, size_t ldb, float *c, size_t ldc) {
    for (size_t j0 = 0; j0 < n; j0 += GEMM_NB) {
        size_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB, n8 = nb - nb % 8;
        for (size_t p0 = 0; p0 < k; p0 += GEMM_KB) {
            size_t kb = k - p0 < GEMM_KB ? k - p0 : GEMM_KB;
            const float *bb = b + p0 * ldb + j0;
            size_t i = 0;
            for (; i + 4 <= m; i += 4)
                for (size_t j = 0; j < n8; j += 8)
                    tile4x8(kb, alpha, a + i * lda + p0, lda, bb + j, ldb, c + i * ldc + j0 + j,
                            ldc);
            for (; i < m; i++)
                for (size_t j = 0; j < n8; j += 8)
                    tile1x8(kb, alpha, a + i * lda + p0, bb + j, ldb, c + i * ldc + j0 + j);
            for (i = 0; i < m && n8 < nb; i++) { /* the last nb % 8 columns */
                for (size_t j = n8; j < nb; j++) {
                    float s = 0.0f;
                    for (size_t p = 0; p < kb; p++)
                        s += a[i * lda + p0 + p] * bb[p * ldb + j];
                    c[i * ldc + j0 + j] += alpha * s;
                }
            }
        }
    }
}

/* ---- shared dtype rules ------------------------------------------------------------------- */

static anvil_status check_dtypes(const anvil__node *n, anvil_dtype a, anvil_dtype b) {
    if (a != ANVIL_DTYPE_UNDEFINED && b != ANVIL_DTYPE_UNDEFINED && a != b)
        return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                                 "inputs A and B have different dtypes: %s and %s",
                                 anvil_dtype_name(a), anvil_dtype_name(b));
    if (a == ANVIL_DTYPE_BOOL)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "dtype bool is not supported");
    return ANVIL_OK;
}

/* Run-time kernels accept f32 and the integer types (exact, wrapping). */
static anvil_status check_run_dtype(const anvil__node *n, anvil_dtype dt) {
    if (dt == ANVIL_DTYPE_F32 || anvil__dtype_is_int(dt)) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "dtype %s is not supported at run time",
                             anvil_dtype_name(dt));
}

/* Integer C[m x n] = A * B with strided access (exact modulo 2^64, then stored in dt). */
static void matmul_int(anvil_dtype dt, size_t m, size_t n, size_t k, const void *a, size_t a_off,
                       size_t a_rs, size_t a_cs, const void *b, size_t b_off, size_t b_rs,
                       size_t b_cs, uint64_t *acc) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            uint64_t s = 0;
            for (size_t p = 0; p < k; p++)
                s += (uint64_t)anvil__load_i64(dt, a, a_off + i * a_rs + p * a_cs) *
                     (uint64_t)anvil__load_i64(dt, b, b_off + p * b_rs + j * b_cs);
            acc[i * n + j] = s;
        }
    }
}

/* ---- MatMul ------------------------------------------------------------------------------- */

anvil_status anvil__op_matmul_validate(const anvil__node *node, int64_t opset) { return ANVIL_OK; }

/* Shapes of a MatMul: A as [batch.., m, k], B as [batch.., k, n] after promoting 1-D operands;
 * batch dims broadcast. */
typedef struct mm_shape {
    int32_t nb; /* batch rank of the output */
    int64_t batch[ANVIL_MAX_RANK];
    int64_t a_batch[ANVIL_MAX_RANK], b_batch[ANVIL_MAX_RANK]; /* right-aligned, 1 if absent */
    int64_t m, k, n;
    int32_t out_rank;
    int64_t out[ANVIL_MAX_RANK];
} mm_shape;

static anvil_status mm_shapes(const anvil__node *node, const anvil__tensor *a,
                              const anvil__tensor *b, mm_shape *s) {
    if (a->rank == 0 || b->rank == 0)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "MatMul operands must have rank >= 1, got ranks %d and %d",
                                 (int)a->rank, (int)b->rank);
    s->m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    s->k = a->dims[a->rank - 1];
    int64_t kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
    s->n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    if (s->k >= 0 && kb >= 0 && s->k != kb) {
        char sa[ANVIL_SHAPE_STR_MAX], sb[ANVIL_SHAPE_STR_MAX];
        return anvil__node_error(
            node, ANVIL_STATUS_SHAPE_MISMATCH, "A %s and B %s: inner dims differ (%lld vs %lld)",
            anvil__shape_str(a->rank, a->dims, sa, sizeof sa),
            anvil__shape_str(b->rank, b->dims, sb, sizeof sb), (long long)s->k, (long long)kb);
    }
    if (s->k < 0) s->k = kb;
    int32_t na = a->rank > 2 ? a->rank - 2 : 0, nbb = b->rank > 2 ? b->rank - 2 : 0;
    s->nb = na > nbb ? na : nbb;
    for (int32_t d = 0; d < s->nb; d++) {
        int32_t da = d - (s->nb - na), db = d - (s->nb - nbb);
        int64_t x = da >= 0 ? a->dims[da] : 1, y = db >= 0 ? b->dims[db] : 1;
        s->a_batch[d] = x;
        s->b_batch[d] = y;
        if (x == 1 || (y != 1 && x < 0)) {
            s->batch[d] = y;
        } else if (y == 1 || y < 0 || x == y) {
            s->batch[d] = x;
        } else {
            char sa[ANVIL_SHAPE_STR_MAX], sb[ANVIL_SHAPE_STR_MAX];
            return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                     "cannot broadcast batch dims of A %s and B %s",
                                     anvil__shape_str(a->rank, a->dims, sa, sizeof sa),
                                     anvil__shape_str(b->rank, b->dims, sb, sizeof sb));
        }
    }
    s->out_rank = s->nb;
    memcpy(s->out, s->batch, (size_t)s->nb * sizeof *s->out);
    if (a->rank >= 2) s->out[s->out_rank++] = s->m;
    if (b->rank >= 2) s->out[s->out_rank++] = s->n;
    return ANVIL_OK;
}

anvil_status anvil__op_matmul_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    anvil_status st = check_dtypes(ctx->node, a->dtype, b->dtype);
    if (st != ANVIL_OK) return st;
    if (a->rank < 0 || b->rank < 0) return anvil__set_output(ctx, 0, a->dtype, -1, NULL);
    mm_shape s;
    st = mm_shapes(ctx->node, a, b, &s);
    if (st != ANVIL_OK) return st;
    return anvil__set_output(ctx, 0, a->dtype, s.out_rank, s.out);
}

/* Element offset of batch index `idx` in an operand with batch dims `dims` (broadcast dims of
 * size 1 contribute nothing), each batch holding `mat` elements. */
static size_t batch_offset(int32_t nb, const int64_t *idx, const int64_t *dims, size_t mat) {
    size_t off = 0;
    for (int32_t d = 0; d < nb; d++)
        off = off * (size_t)dims[d] + (dims[d] == 1 ? 0 : (size_t)idx[d]);
    return off * mat;
}

anvil_status anvil__op_matmul_run(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0], *b = ctx->inputs[1];
    anvil__tensor *y = ctx->outputs[0];
    mm_shape s;
    anvil_status st = check_run_dtype(ctx->node, a->dtype);
    if (st == ANVIL_OK) st = mm_shapes(ctx->node, a, b, &s);
    if (st != ANVIL_OK) return st;
    size_t m = (size_t)s.m, n = (size_t)s.n, k = (size_t)s.k;
    size_t batches = 1;
    bool b_shared = true, a_full = true; /* B the same for every batch, A not broadcast */
    for (int32_t d = 0; d < s.nb; d++) {
        batches *= (size_t)s.batch[d];
        if (s.b_batch[d] != 1) b_shared = false;
        if (s.a_batch[d] != s.batch[d]) a_full = false;
    }
    if (batches == 0 || m == 0 || n == 0) return ANVIL_OK;
    uint64_t *acc = NULL;
    if (a->dtype != ANVIL_DTYPE_F32) {
        acc = anvil__malloc_array(m * n, sizeof *acc);
        if (!acc) return ANVIL_STATUS_OUT_OF_MEMORY;
    } else if (b_shared && a_full) {
        /* One tall product: every batch of A times the same B. */
        anvil__gemm_f32(batches * m, n, k, 1.0f, a->data, k, b->data, n, y->data, n);
        return ANVIL_OK;
    }
    int64_t idx[ANVIL_MAX_RANK] = {0};
    size_t batch = 0;
    do {
        size_t ao = batch_offset(s.nb, idx, s.a_batch, m * k);
        size_t bo = batch_offset(s.nb, idx, s.b_batch, k * n);
        size_t yo = batch * m * n;
        if (!acc) {
            anvil__gemm_f32(m, n, k, 1.0f, (const float *)a->data + ao, k,
                            (const float *)b->data + bo, n, (float *)y->data + yo, n);
        } else {
            matmul_int(a->dtype, m, n, k, a->data, ao, k, 1, b->data, bo, n, 1, acc);
            for (size_t i = 0; i < m * n; i++)
                anvil__store_i64(y->dtype, y->data, yo + i, (int64_t)acc[i]);
        }
        batch++;
    } while (anvil__nn_next(s.nb, s.batch, idx));
    anvil__free(acc);
    return ANVIL_OK;
}

/* ---- Gemm --------------------------------------------------------------------------------- */

anvil_status anvil__op_gemm_validate(const anvil__node *node, int64_t opset) {
    anvil_status s = anvil__attr_expect(node, "transA", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "transB", ANVIL_ATTR_INT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "alpha", ANVIL_ATTR_FLOAT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "beta", ANVIL_ATTR_FLOAT);
    if (s == ANVIL_OK) s = anvil__attr_expect(node, "broadcast", ANVIL_ATTR_INT);
    return s;
}

typedef struct gemm_shape {
    int64_t m, k, n;
    int64_t c_rows, c_cols; /* C as a (c_rows x c_cols) matrix broadcast to m x n */
} gemm_shape;

static anvil_status gemm_shapes(const anvil__node *node, const anvil__tensor *a,
                                const anvil__tensor *b, const anvil__tensor *c, gemm_shape *s) {
    char sa[ANVIL_SHAPE_STR_MAX], sb[ANVIL_SHAPE_STR_MAX];
    if (a->rank != 2 || b->rank != 2)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "A and B must be 2-D, got %s and %s",
                                 anvil__shape_str(a->rank, a->dims, sa, sizeof sa),
                                 anvil__shape_str(b->rank, b->dims, sb, sizeof sb));
    bool ta = anvil__attr_int(node, "transA", 0) != 0, tb = anvil__attr_int(node, "transB", 0) != 0;
    s->m = a->dims[ta ? 1 : 0];
    s->k = a->dims[ta ? 0 : 1];
    int64_t kb = b->dims[tb ? 1 : 0];
    s->n = b->dims[tb ? 0 : 1];
    if (s->k >= 0 && kb >= 0 && s->k != kb)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH,
                                 "A %s (transA=%d) and B %s (transB=%d): inner dims differ "
                                 "(%lld vs %lld)",
                                 anvil__shape_str(a->rank, a->dims, sa, sizeof sa), (int)ta,
                                 anvil__shape_str(b->rank, b->dims, sb, sizeof sb), (int)tb,
                                 (long long)s->k, (long long)kb);
    if (s->k < 0) s->k = kb;
    s->c_rows = s->c_cols = 1;
    if (!c || c->rank < 0) return ANVIL_OK;
    if (c->rank > 2)
        return anvil__node_error(node, ANVIL_STATUS_SHAPE_MISMATCH, "C must have rank <= 2, got %s",
                                 anvil__shape_str(c->rank, c->dims, sa, sizeof sa));
    if (c->rank == 2) s->c_rows = c->dims[0];
    if (c->rank >= 1) s->c_cols = c->dims[c->rank - 1];
    bool rows_ok = s->c_rows == 1 || s->c_rows < 0 || s->m < 0 || s->c_rows == s->m;
    bool cols_ok = s->c_cols == 1 || s->c_cols < 0 || s->n < 0 || s->c_cols == s->n;
    if (!rows_ok || !cols_ok)
        return anvil__node_error(
            node, ANVIL_STATUS_SHAPE_MISMATCH, "C %s does not broadcast to the output %lldx%lld",
            anvil__shape_str(c->rank, c->dims, sa, sizeof sa), (long long)s->m, (long long)s->n);
    return ANVIL_OK;
}

static const anvil__tensor *gemm_c(const anvil__op_ctx *ctx) {
    return ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
}

anvil_status anvil__op_gemm_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0], *b = ctx->inputs[1], *c = gemm_c(ctx);
    anvil_status st = check_dtypes(ctx->node, a->dtype, b->dtype);
    if (st == ANVIL_OK && c) st = check_dtypes(ctx->node, a->dtype, c->dtype);
    if (st != ANVIL_OK) return st;
    int64_t dims[2] = {-1, -1};
    if (a->rank >= 0 && b->rank >= 0) {
        gemm_shape s;
        st = gemm_shapes(ctx->node, a, b, c, &s);
        if (st != ANVIL_OK) return st;
        dims[0] = s.m;
        dims[1] = s.n;
    }
    return anvil__set_output(ctx, 0, a->dtype, 2, dims);
}

/* Row-major transpose of an r x c f32 matrix into a fresh buffer. */
static float *transposed(const float *src, size_t r, size_t c) {
    float *t = anvil__malloc_array(r * c > 0 ? r * c : 1, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < r; i++)
        for (size_t j = 0; j < c; j++)
            t[j * r + i] = src[i * c + j];
    return t;
}

/* Sum of x[p] * y[p] over 8 lanes (vectorizes like the GEMM tiles). */
static float dot_f32(size_t k, const float *x, const float *y) {
    float s[8] = {0}, t = 0.0f;
    size_t k8 = k - k % 8;
    for (size_t p = 0; p < k8; p += 8)
        for (size_t u = 0; u < 8; u++)
            s[u] += x[p + u] * y[p + u];
    for (size_t p = k8; p < k; p++)
        t += x[p] * y[p];
    for (size_t u = 0; u < 8; u++)
        t += s[u];
    return t;
}

static anvil_status gemm_f32(const gemm_shape *s, bool ta, bool tb, float alpha, float beta,
                             const float *a, const float *b, const float *c, float *y) {
    size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
    if (c && beta != 0.0f) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                y[i * n + j] =
                    beta *
                    c[(s->c_rows == 1 ? 0 : i) * (size_t)s->c_cols + (s->c_cols == 1 ? 0 : j)];
    }
    if (tb && !ta && m < 8) {
        /* Few rows (a classifier's 1 x K input): dot products of rows of A and B read B once
         * and skip the transpose. */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                y[i * n + j] += alpha * dot_f32(k, a + i * k, b + j * k);
        return ANVIL_OK;
    }
    /* Materialize transposed operands so the GEMM always streams rows. */
    float *at = ta ? transposed(a, k, m) : NULL, *bt = tb ? transposed(b, n, k) : NULL;
    if ((ta && !at) || (tb && !bt)) {
        anvil__free(at);
        anvil__free(bt);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    anvil__gemm_f32(m, n, k, alpha, ta ? at : a, k, tb ? bt : b, n, y, n);
    anvil__free(at);
    anvil__free(bt);
    return ANVIL_OK;
}

static anvil_status gemm_int(const gemm_shape *s, bool ta, bool tb, double alpha, double beta,
                             const anvil__tensor *a, const anvil__tensor *b, const anvil__tensor *c,
                             anvil__tensor *y) {
    size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
    uint64_t *acc = anvil__malloc_array(m * n > 0 ? m * n : 1, sizeof *acc);
    if (!acc) return ANVIL_STATUS_OUT_OF_MEMORY;
    matmul_int(a->dtype, m, n, k, a->data, 0, ta ? 1 : k, ta ? m : 1, b->data, 0, tb ? 1 : n,
               tb ? k : 1, acc);
    bool exact = alpha == 1.0 && (beta == 1.0 || !c);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            int64_t cv = c ? anvil__load_i64(c->dtype, c->data,
                                             (s->c_rows == 1 ? 0 : i) * (size_t)s->c_cols +
                                                 (s->c_cols == 1 ? 0 : j))
                           : 0;
            uint64_t v = acc[i * n + j];
            if (exact) {
                anvil__store_i64(y->dtype, y->data, i * n + j, (int64_t)(v + (uint64_t)cv));
            } else {
                double r = alpha * (double)(int64_t)v + beta * (double)cv;
                anvil__store_f64(y->dtype, y->data, i * n + j, r);
            }
        }
    }
    anvil__free(acc);
    return ANVIL_OK;
}

anvil_status anvil__op_gemm_run(anvil__op_ctx *ctx) {
    const anvil__tensor *a = ctx->inputs[0], *b = ctx->inputs[1], *c = gemm_c(ctx);
    gemm_shape s;
    anvil_status st = check_run_dtype(ctx->node, a->dtype);
    if (st == ANVIL_OK) st = gemm_shapes(ctx->node, a, b, c, &s);
    if (st != ANVIL_OK) return st;
    bool ta = anvil__attr_int(ctx->node, "transA", 0) != 0;
    bool tb = anvil__attr_int(ctx->node, "transB", 0) != 0;
    double alpha = anvil__attr_float(ctx->node, "alpha", 1.0);
    double beta = anvil__attr_float(ctx->node, "beta", 1.0);
    if (a->dtype == ANVIL_DTYPE_F32)
        return gemm_f32(&s, ta, tb, (float)alpha, (float)beta, a->data, b->data, c ? c->data : NULL,
                        ctx->outputs[0]->data);
    return gemm_int(&s, ta, tb, alpha, beta, a, b, c, ctx->outputs[0]);
}
