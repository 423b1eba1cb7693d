/*
 * cpu_layout.c — the CPU backend's layouts: plain (row-major in the ONNX order) or a oneDNN
 * blob. A blob is a 24-byte header (magic, and the physical order `perm` in which the plain
 * ONNX tensor stores the md's dims — weights of grouped/transposed ops have md dims that are a
 * split or permutation of the ONNX ones) followed by the canonical bytes of a
 * dnnl_memory_desc_t. Blobs read back from files are validated before oneDNN sees them.
 * Also the reorder entry point (weight packing and activation layout changes) with a small
 * cache of reorder primitives. Not the kernels.
 */
#include "backend/cpu/cpu_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "core/fast_hash.h"

#define BLOB_MAGIC 0x314e4441u /* "ADN1" */
#define BLOB_HEADER 24
#define BLOB_SIZE (BLOB_HEADER + (uint32_t)sizeof(dnnl_memory_desc_t))
#define CACHE_CAP 1024 /* weights of several engines, packed plain, scaled and through views */

_Static_assert(BLOB_SIZE <= ANVIL_LAYOUT_BLOB_MAX, "oneDNN md does not fit a layout blob");

typedef struct anvil__cpu_reorder_entry {
    uint64_t key; /* hash of (from, to, scale_mask, threads): compared before the descriptors */
    dnnl_memory_desc_t from, to;
    int scale_mask; /* output scales over these md dims, given at run time; 0: none */
    int threads;    /* the OpenMP thread count oneDNN planned the primitive's work split for */
    dnnl_primitive_t prim;
    size_t scratch;
} reorder_entry;

dnnl_data_type_t anvil__cpu_dnnl_dtype(anvil_dtype dt) {
    switch (dt) {
    case ANVIL_DTYPE_F32:
        return dnnl_f32;
    case ANVIL_DTYPE_F16:
        return dnnl_f16;
    case ANVIL_DTYPE_BF16:
        return dnnl_bf16;
    case ANVIL_DTYPE_I32:
        return dnnl_s32;
    case ANVIL_DTYPE_I8:
        return dnnl_s8;
    case ANVIL_DTYPE_U8:
        return dnnl_u8;
    default:
        return dnnl_data_type_undef;
    }
}

void anvil__cpu_md_canonical(const dnnl_memory_desc_t *in, dnnl_memory_desc_t *out) {
    dnnl_memory_desc_t m;
    memset(&m, 0, sizeof m);
    int n = in->ndims < 0 ? 0 : in->ndims > DNNL_MAX_NDIMS ? DNNL_MAX_NDIMS : in->ndims;
    m.ndims = n;
    m.data_type = in->data_type;
    m.offset0 = in->offset0;
    m.format_kind = in->format_kind;
    for (int d = 0; d < n; d++) {
        m.dims[d] = in->dims[d];
        m.padded_dims[d] = in->padded_dims[d];
        m.padded_offsets[d] = in->padded_offsets[d];
    }
    if (in->format_kind == dnnl_blocked) {
        const dnnl_blocking_desc_t *b = &in->format_desc.blocking;
        int nb = b->inner_nblks < 0                ? 0
                 : b->inner_nblks > DNNL_MAX_NDIMS ? DNNL_MAX_NDIMS
                                                   : b->inner_nblks;
        m.format_desc.blocking.inner_nblks = nb;
        for (int d = 0; d < n; d++)
            m.format_desc.blocking.strides[d] = b->strides[d];
        for (int i = 0; i < nb; i++) {
            m.format_desc.blocking.inner_blks[i] = b->inner_blks[i];
            m.format_desc.blocking.inner_idxs[i] = b->inner_idxs[i];
        }
    }
    m.extra.flags = in->extra.flags;
    m.extra.compensation_mask = in->extra.compensation_mask;
    m.extra.scale_adjust = in->extra.scale_adjust;
    m.extra.asymm_compensation_mask = in->extra.asymm_compensation_mask;
    *out = m;
}

anvil_status anvil__cpu_md_plain_perm(int ndims, const int64_t *dims, dnnl_data_type_t dt,
                                      const uint8_t *perm, dnnl_memory_desc_t *md) {
    dnnl_dims_t dd, strides;
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN tensors have 1 to %d dims, got %d",
                            DNNL_MAX_NDIMS, ndims);
    int64_t s = 1;
    for (int j = ndims - 1; j >= 0; j--) {
        int d = perm ? perm[j] : j;
        dd[d] = dims[d];
        strides[d] = s;
        if (!anvil__mul_i64(s, dims[d] > 0 ? dims[d] : 1, &s))
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "tensor too large for oneDNN");
    }
    memset(md, 0, sizeof *md);
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(md, ndims, dd, dt, strides);
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "plain memory descriptor");
    anvil__cpu_md_canonical(md, md);
    return ANVIL_OK;
}

anvil_status anvil__cpu_md_plain(const anvil__tensor *t, dnnl_memory_desc_t *md) {
    int64_t one = 1;
    dnnl_data_type_t dt = anvil__cpu_dnnl_dtype(t->dtype);
    if (dt == dnnl_data_type_undef)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN has no dtype %s",
                            anvil_dtype_name(t->dtype));
    if (t->rank == 0) return anvil__cpu_md_plain_perm(1, &one, dt, NULL, md);
    return anvil__cpu_md_plain_perm(t->rank, t->dims, dt, NULL, md);
}

/* Same bytes as the plain md `plain`: dense, unblocked, and equal strides on every dim larger
 * than 1 (the stride of a size-1 dim never matters: N=1 nhwc vs nchw of a 1x1 image). */
static bool same_as_plain(const dnnl_memory_desc_t *md, const dnnl_memory_desc_t *plain) {
    if (md->format_kind != dnnl_blocked || md->ndims != plain->ndims ||
        md->data_type != plain->data_type || md->offset0 != 0 || md->extra.flags != 0 ||
        md->format_desc.blocking.inner_nblks != 0)
        return false;
    for (int d = 0; d < md->ndims; d++) {
        if (md->dims[d] != plain->dims[d] || md->padded_dims[d] != md->dims[d] ||
            md->padded_offsets[d] != 0)
            return false;
        if (md->dims[d] > 1 &&
            md->format_desc.blocking.strides[d] != plain->format_desc.blocking.strides[d])
            return false;
    }
    return true;
}

anvil_status anvil__cpu_layout_from_md(const dnnl_memory_desc_t *md, const uint8_t *perm,
                                       anvil__layout *out) {
    dnnl_memory_desc_t plain;
    anvil_status s = anvil__cpu_md_plain_perm(md->ndims, md->dims, md->data_type, perm, &plain);
    if (s != ANVIL_OK) return s;
    memset(out, 0, sizeof *out);
    out->bytes = dnnl_memory_desc_get_size(md);
    bool identity = true;
    for (int j = 0; perm && j < md->ndims; j++)
        identity &= perm[j] == j;
    if (identity && same_as_plain(md, &plain)) return ANVIL_OK; /* kind PLAIN */
    return anvil__cpu_layout_blob(md, perm, out);
}

anvil_status anvil__cpu_layout_blob(const dnnl_memory_desc_t *md, const uint8_t *perm,
                                    anvil__layout *out) {
    if (md->ndims < 1 || md->ndims > DNNL_MAX_NDIMS)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout of %d dims", md->ndims);
    memset(out, 0, sizeof *out);
    out->bytes = dnnl_memory_desc_get_size(md);
    out->kind = ANVIL_CPU_LAYOUT_ONEDNN;
    out->size = BLOB_SIZE;
    uint32_t magic = BLOB_MAGIC;
    memcpy(out->blob, &magic, 4);
    out->blob[4] = (uint8_t)md->ndims;
    for (int j = 0; j < md->ndims; j++)
        out->blob[5 + j] = perm ? perm[j] : (uint8_t)j;
    dnnl_memory_desc_t canon;
    anvil__cpu_md_canonical(md, &canon);
    memcpy(out->blob + BLOB_HEADER, &canon, sizeof canon);
    return ANVIL_OK;
}

/* Checks a blocked md from an untrusted blob: dims, blocks and strides in range, and every
 * element's offset inside the md's size, which must equal the layout's byte count. */
static anvil_status check_blocked(const dnnl_memory_desc_t *md, size_t bytes) {
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int n = md->ndims;
    if (md->format_kind != dnnl_blocked || md->offset0 != 0 || md->extra.flags != 0 ||
        b->inner_nblks < 0 || b->inner_nblks > DNNL_MAX_NDIMS)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: not a dense blocked layout");
    int64_t block[DNNL_MAX_NDIMS], inner = 1;
    for (int d = 0; d < n; d++)
        block[d] = 1;
    for (int i = 0; i < b->inner_nblks; i++) {
        if (b->inner_idxs[i] < 0 || b->inner_idxs[i] >= n || b->inner_blks[i] < 1 ||
            b->inner_blks[i] > 1024)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: bad inner block %d", i);
        block[b->inner_idxs[i]] *= b->inner_blks[i];
        inner *= b->inner_blks[i];
        if (inner > ((int64_t)1 << 20))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: inner blocks too large");
    }
    int64_t max_off = inner - 1;
    for (int d = 0; d < n; d++) {
        int64_t pd = md->padded_dims[d], t;
        if (md->padded_offsets[d] != 0 || pd < md->dims[d] || pd % block[d] != 0 ||
            pd > ((int64_t)1 << 40) || b->strides[d] < 0 || b->strides[d] > ((int64_t)1 << 40) ||
            !anvil__mul_i64(pd / block[d] - 1, b->strides[d], &t) || t > ((int64_t)1 << 50))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: bad dim %d", d);
        if (pd > 0) max_off += t;
    }
    size_t esize = dnnl_data_type_size(md->data_type), need = 0;
    size_t size = dnnl_memory_desc_get_size(md);
    if (esize == 0 || !anvil__mul_size((size_t)max_off + 1, esize, &need) || need > size ||
        size != bytes || size > ANVIL_MAX_ALLOC)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "layout blob: size %zu does not cover the layout (%zu bytes needed, "
                            "layout says %zu)",
                            size, need, bytes);
    return ANVIL_OK;
}

/* Decodes and validates a blob: its md and the plain storage order of the md's dims. */
static anvil_status blob_decode(const anvil__layout *l, dnnl_memory_desc_t *md, uint8_t *perm) {
    uint32_t magic = 0;
    if (l->kind != ANVIL_CPU_LAYOUT_ONEDNN)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout kind %d is not a CPU layout",
                            (int)l->kind);
    if (l->size == BLOB_SIZE) memcpy(&magic, l->blob, 4);
    if (magic != BLOB_MAGIC)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "layout blob of %u bytes is not a oneDNN %d.x layout", l->size,
                            DNNL_VERSION_MAJOR);
    memcpy(md, l->blob + BLOB_HEADER, sizeof *md);
    /* Only canonical bytes are accepted: equal layouts must compare equal byte-wise, and
     * nothing unchecked reaches oneDNN. */
    dnnl_memory_desc_t canon;
    anvil__cpu_md_canonical(md, &canon);
    bool clean = memcmp(&canon, md, sizeof canon) == 0;
    int n = l->blob[4];
    for (int i = 5 + (n > 0 && n <= DNNL_MAX_NDIMS ? n : 0); i < BLOB_HEADER; i++)
        clean &= l->blob[i] == 0;
    if (!clean) return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: non-canonical bytes");
    if (n < 1 || n > DNNL_MAX_NDIMS || md->ndims != n)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: bad rank %d", n);
    uint32_t seen = 0;
    for (int j = 0; j < n; j++) {
        perm[j] = l->blob[5 + j];
        if (perm[j] >= n || (seen & (1u << perm[j])))
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: bad dim order");
        seen |= 1u << perm[j];
    }
    if (md->data_type != dnnl_f32 && md->data_type != dnnl_bf16 && md->data_type != dnnl_f16)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: unsupported data type %d",
                            (int)md->data_type);
    for (int d = 0; d < n; d++)
        if (md->dims[d] < 1)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "layout blob: bad dim %d", d);
    return check_blocked(md, l->bytes);
}

dnnl_data_type_t anvil__cpu_layout_dt(const anvil__layout *l) {
    if (l->kind == ANVIL_LAYOUT_PLAIN) return dnnl_f32;
    dnnl_memory_desc_t md;
    uint8_t perm[DNNL_MAX_NDIMS];
    return blob_decode(l, &md, perm) == ANVIL_OK ? md.data_type : dnnl_data_type_undef;
}

anvil_status anvil__cpu_md_from_layout(const anvil__layout *l, const dnnl_memory_desc_t *plain,
                                       dnnl_memory_desc_t *md) {
    if (l->kind == ANVIL_LAYOUT_PLAIN) {
        *md = *plain;
        return ANVIL_OK;
    }
    uint8_t perm[DNNL_MAX_NDIMS];
    anvil_status s = blob_decode(l, md, perm);
    if (s != ANVIL_OK) return s;
    bool same = md->ndims == plain->ndims && md->data_type == plain->data_type;
    for (int d = 0; same && d < md->ndims; d++)
        same = md->dims[d] == plain->dims[d];
    if (!same)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "layout describes another tensor (rank %d, dim 0 = %lld) than the one "
                            "expected (rank %d, dim 0 = %lld)",
                            md->ndims, (long long)md->dims[0], plain->ndims,
                            (long long)plain->dims[0]);
    return ANVIL_OK;
}

/* The md and plain storage order of one side of a reorder; a plain side takes its md dims from
 * the other side (`other`), or from the shape when both are plain. */
static anvil_status side_md(const anvil__tensor *shape, const anvil__layout *l,
                            const dnnl_memory_desc_t *other, const uint8_t *other_perm,
                            dnnl_memory_desc_t *md, uint8_t *perm) {
    if (l->kind != ANVIL_LAYOUT_PLAIN) return blob_decode(l, md, perm);
    if (!other) return anvil__cpu_md_plain(shape, md);
    /* Plain is the tensor's own dtype; the other side may differ (f32 packed as bf16). */
    dnnl_data_type_t dt = anvil__cpu_dnnl_dtype(shape->dtype);
    if (dt == dnnl_data_type_undef)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN has no dtype %s",
                            anvil_dtype_name(shape->dtype));
    return anvil__cpu_md_plain_perm(other->ndims, other->dims, dt, other_perm, md);
}

static anvil_status check_side(const anvil__tensor *shape, const dnnl_memory_desc_t *md,
                               const anvil__layout *l, const char *which) {
    int64_t n = 1, want = anvil__tensor_numel(shape);
    bool fits = true;
    for (int d = 0; d < md->ndims; d++)
        fits &= anvil__mul_i64(n, md->dims[d], &n);
    /* A blob of an f32 tensor may hold bf16 (weights packed for bf16 compute). */
    dnnl_data_type_t dt = anvil__cpu_dnnl_dtype(shape->dtype);
    bool type_ok = md->data_type == dt || (l->kind != ANVIL_LAYOUT_PLAIN && dt == dnnl_f32 &&
                                           md->data_type == dnnl_bf16);
    if (!fits || want < 0 || n != want || !type_ok)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "reorder %s layout holds %lld elements of dnnl type %d, the tensor "
                            "has %lld of %s",
                            which, (long long)n, (int)md->data_type, (long long)want,
                            anvil_dtype_name(shape->dtype));
    size_t size = dnnl_memory_desc_get_size(md);
    size_t expect = l->kind == ANVIL_LAYOUT_PLAIN ? shape->bytes : l->bytes;
    if (size != expect)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                            "reorder %s layout needs %zu bytes, buffer has %zu", which, size,
                            expect);
    return ANVIL_OK;
}

/* The thread count a reorder called now runs on. Inside a parallel region (refit packs one
 * weight per thread) oneDNN runs it on the calling thread alone; a primitive planned there
 * for the whole team splits its work for threads it never gets, and runs at half speed
 * (a 5 MB transposing reorder: 1.1 against 0.5 ms warm, 1.75 against 0.9 ms cold). */
static int reorder_threads(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

/* Finds or creates the reorder primitive from `a` to `b` (with run-time output scales over
 * the md dims of scale_mask when it is not 0) for the calling thread's thread count, cached
 * in the backend; *owned when the cache is full and the caller must destroy it after use. */
static anvil_status get_reorder(anvil__cpu_ctx *c, const dnnl_memory_desc_t *a,
                                const dnnl_memory_desc_t *b, int scale_mask,
                                dnnl_primitive_t *prim, size_t *scratch, bool *owned) {
    dnnl_memory_desc_t ca, cb;
    *owned = false;
    anvil__cpu_md_canonical(a, &ca);
    anvil__cpu_md_canonical(b, &cb);
    int threads = reorder_threads();
    uint64_t key = XXH3_64bits_withSeed(&ca, sizeof ca, (uint64_t)scale_mask) ^
                   XXH3_64bits_withSeed(&cb, sizeof cb, 0x746f /* "to" */ + (uint64_t)threads);
    pthread_mutex_lock(&c->cache_lock);
    for (int32_t i = 0; i < c->cache_count; i++) {
        reorder_entry *e = &c->cache[i];
        if (e->key == key && e->scale_mask == scale_mask && e->threads == threads &&
            memcmp(&e->from, &ca, sizeof ca) == 0 && memcmp(&e->to, &cb, sizeof cb) == 0) {
            *prim = e->prim;
            *scratch = e->scratch;
            pthread_mutex_unlock(&c->cache_lock);
            return ANVIL_OK;
        }
    }
    pthread_mutex_unlock(&c->cache_lock);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    anvil_status s = anvil__cpu_attr(NULL, &attr);
    if (s != ANVIL_OK) return s;
    const float runtime = DNNL_RUNTIME_F32_VAL;
    dnnl_status_t st = scale_mask ? dnnl_primitive_attr_set_output_scales(attr, 1, scale_mask,
                                                                          &runtime)
                                  : dnnl_success;
    int prev = omp_get_max_threads(); /* oneDNN reads it while creating: the calling thread's */
    if (prev != threads) omp_set_num_threads(threads);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, &ca, c->engine, &cb, c->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    dnnl_status_t made = st == dnnl_success ? dnnl_primitive_create(prim, pd) : st;
    if (prev != threads) omp_set_num_threads(prev);
    if (st == dnnl_unimplemented && scale_mask)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "oneDNN has no scaled reorder here");
    if (st != dnnl_success) return anvil__cpu_dnnl_error(st, "reorder between layouts");
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *scratch = smd ? dnnl_memory_desc_get_size(smd) : 0;
    dnnl_primitive_desc_destroy(pd);
    if (made != dnnl_success) return anvil__cpu_dnnl_error(made, "reorder primitive");
    pthread_mutex_lock(&c->cache_lock);
    if (c->cache_count < CACHE_CAP) { /* a full cache just stops caching */
        c->cache[c->cache_count++] = (reorder_entry){key, ca, cb, scale_mask, threads, *prim, *scratch};
        pthread_mutex_unlock(&c->cache_lock);
        return ANVIL_OK;
    }
    pthread_mutex_unlock(&c->cache_lock);
    *owned = true;
    return ANVIL_OK;
}

/* The scales argument of a scaled reorder: n f32 values. */
static dnnl_status_t scales_memory(anvil__cpu_ctx *c, const float *scale, int64_t n,
                                   dnnl_memory_t *out) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {n};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    return st == dnnl_success ? dnnl_memory_create(out, &md, c->engine, (void *)scale) : st;
}

/* Runs the reorder from `a` to `b`; with scale_mask, each element is multiplied by its entry
 * of `scale` (n_scales values over the masked md dims). */
static anvil_status run_reorder(anvil__cpu_ctx *c, const dnnl_memory_desc_t *a, const void *src,
                                const dnnl_memory_desc_t *b, void *dst, int scale_mask,
                                const float *scale, int64_t n_scales) {
    dnnl_primitive_t prim = NULL;
    size_t scratch = 0;
    bool owned = false;
    anvil_status s = get_reorder(c, a, b, scale_mask, &prim, &scratch, &owned);
    if (s != ANVIL_OK) return s;
    dnnl_stream_t stream = NULL;
    dnnl_memory_t m[4] = {NULL, NULL, NULL, NULL};
    void *pad = scratch ? anvil__malloc(scratch) : NULL;
    dnnl_status_t st = dnnl_success;
    s = anvil__cpu_stream(c, &stream);
    if (s == ANVIL_OK && scratch && !pad) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) {
        dnnl_exec_arg_t ea[4];
        int n = 0;
        st = dnnl_memory_create(&m[0], a, c->engine, (void *)src);
        ea[n++] = (dnnl_exec_arg_t){DNNL_ARG_FROM, m[0]};
        if (st == dnnl_success) st = dnnl_memory_create(&m[1], b, c->engine, dst);
        ea[n++] = (dnnl_exec_arg_t){DNNL_ARG_TO, m[1]};
        if (st == dnnl_success && scratch) {
            const_dnnl_primitive_desc_t pd = NULL;
            dnnl_primitive_get_primitive_desc(prim, &pd);
            const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
            st = dnnl_memory_create(&m[2], smd, c->engine, pad);
            ea[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m[2]};
        }
        if (st == dnnl_success && scale_mask) {
            st = scales_memory(c, scale, n_scales, &m[3]);
            ea[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_OUTPUT_SCALES, m[3]};
        }
        if (st == dnnl_success) st = dnnl_primitive_execute(prim, stream, n, ea);
        if (st == dnnl_success) st = dnnl_stream_wait(stream);
        if (st != dnnl_success) s = anvil__cpu_dnnl_error(st, "reorder");
    }
    for (int i = 0; i < 4; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    anvil__free(pad);
    if (owned) dnnl_primitive_destroy(prim);
    return s;
}

anvil_status anvil__cpu_reorder(void *ctx, const anvil__tensor *shape, const anvil__layout *from,
                                const void *src, const anvil__layout *to, void *dst) {
    anvil__cpu_ctx *c = ctx;
    if (!shape || !from || !to || (!src && shape->bytes) || (!dst && shape->bytes))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "reorder: NULL argument");
    if (from->kind == ANVIL_LAYOUT_PLAIN && to->kind == ANVIL_LAYOUT_PLAIN) {
        if (src != dst && shape->bytes) memmove(dst, src, shape->bytes);
        return ANVIL_OK;
    }
    if (anvil__tensor_numel(shape) <= 0)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "reorder of an empty tensor");
    dnnl_memory_desc_t a, b;
    uint8_t pa[DNNL_MAX_NDIMS], pb[DNNL_MAX_NDIMS];
    anvil_status s;
    if (from->kind != ANVIL_LAYOUT_PLAIN) {
        s = side_md(shape, from, NULL, NULL, &a, pa);
        if (s == ANVIL_OK) s = side_md(shape, to, &a, pa, &b, pb);
    } else {
        s = side_md(shape, to, NULL, NULL, &b, pb);
        if (s == ANVIL_OK) s = side_md(shape, from, &b, pb, &a, pa);
    }
    if (s == ANVIL_OK && from->kind != ANVIL_LAYOUT_PLAIN && to->kind != ANVIL_LAYOUT_PLAIN) {
        bool same = a.ndims == b.ndims;
        for (int d = 0; same && d < a.ndims; d++)
            same = a.dims[d] == b.dims[d];
        if (!same)
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                                "reorder between layouts of different tensors");
    }
    if (s == ANVIL_OK) s = check_side(shape, &a, from, "source");
    if (s == ANVIL_OK) s = check_side(shape, &b, to, "destination");
    if (s == ANVIL_OK) s = run_reorder(c, &a, src, &b, dst, 0, NULL, 0);
    return s;
}

anvil_status anvil__cpu_check_layout(void *ctx, const anvil__tensor *shape, const anvil__layout *l) {
    (void)ctx;
    if (l->kind == ANVIL_LAYOUT_PLAIN)
        return l->bytes == shape->bytes
                   ? ANVIL_OK
                   : anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "plain layout of %zu bytes for a "
                                  "tensor of %zu", l->bytes, shape->bytes);
    dnnl_memory_desc_t md;
    uint8_t perm[DNNL_MAX_NDIMS];
    anvil_status s = blob_decode(l, &md, perm); /* its size must be l->bytes */
    return s == ANVIL_OK ? check_side(shape, &md, l, "packed") : s;
}

/* Rewrites the strides of `md`, the dense plain md of `shape` (its dims possibly a split or
 * permutation of the ONNX dims), for a source whose ONNX element (i_0, ...) lies at
 * sum_d i_d * view[d]; *mask gets the md dims that index ONNX dim 0, which must enumerate it
 * in row-major order for oneDNN's per-dimension scales. The md dims on each ONNX dim must
 * split it exactly (steps 1, n_1, n_1 n_2, ... up to its extent): a layout read from a file
 * that merges dims would otherwise walk past the view. UNSUPPORTED otherwise. */
static anvil_status view_md(const anvil__tensor *shape, const int64_t *view,
                            dnnl_memory_desc_t *md, int *mask) {
    int64_t dense[ANVIL_MAX_RANK], step[DNNL_MAX_NDIMS], expect = 1;
    int32_t onnx_dim[DNNL_MAX_NDIMS];
    anvil__strides(shape->rank, shape->dims, dense);
    int64_t *strides = md->format_desc.blocking.strides;
    int mapped = 0, used = 0, seen = 0;
    for (int k = 0; k < md->ndims; k++) {
        onnx_dim[k] = -1;
        if (md->dims[k] == 1) continue; /* its stride never moves */
        for (int32_t j = 0; j < shape->rank && onnx_dim[k] < 0; j++)
            if (shape->dims[j] > 1 && strides[k] >= dense[j] &&
                strides[k] < dense[j] * shape->dims[j] && strides[k] % dense[j] == 0)
                onnx_dim[k] = j;
        if (onnx_dim[k] < 0)
            return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout splits dims unevenly");
        step[k] = strides[k] / dense[onnx_dim[k]];
        mapped++;
    }
    for (int32_t d = 0; d < shape->rank; d++) {
        int64_t covered = 1;
        for (bool grew = shape->dims[d] > 1; grew;) {
            grew = false;
            for (int k = 0; k < md->ndims && !grew; k++) {
                if (onnx_dim[k] != d || step[k] != covered || (seen & (1 << k))) continue;
                seen |= 1 << k;
                used++;
                grew = anvil__mul_i64(covered, md->dims[k], &covered);
            }
        }
        if (shape->dims[d] > 1 && covered != shape->dims[d])
            return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout does not split dim %d", (int)d);
    }
    if (used != mapped) return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout repeats a dim");
    *mask = 0;
    for (int k = 0; k < md->ndims; k++) {
        if (onnx_dim[k] < 0) continue;
        if (onnx_dim[k] == 0) *mask |= 1 << k;
        strides[k] = step[k] * view[onnx_dim[k]];
    }
    for (int k = md->ndims - 1; k >= 0; k--) { /* scales index the masked dims row-major */
        if (!(*mask & (1 << k))) continue;
        if (step[k] != expect)
            return anvil__error(ANVIL_STATUS_UNSUPPORTED, "layout reorders output channels");
        expect *= md->dims[k];
    }
    return ANVIL_OK;
}

anvil_status anvil__cpu_pack_view(void *ctx, const anvil__tensor *shape, const int64_t *strides,
                                  const void *src, const float *scale, const anvil__layout *to,
                                  void *dst) {
    anvil__cpu_ctx *c = ctx;
    if (!shape || !src || !to || !dst)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "pack_view: NULL argument");
    if (shape->rank < 1 || anvil__tensor_numel(shape) <= 0 ||
        (scale && shape->dtype != ANVIL_DTYPE_F32))
        return anvil__error(ANVIL_STATUS_UNSUPPORTED, "pack_view of this tensor");
    int64_t dense[ANVIL_MAX_RANK];
    anvil__strides(shape->rank, shape->dims, dense);
    dnnl_memory_desc_t a, b;
    uint8_t pa[DNNL_MAX_NDIMS], pb[DNNL_MAX_NDIMS];
    const anvil__layout plain = {0};
    anvil_status s = side_md(shape, to, NULL, NULL, &b, pb);
    if (s == ANVIL_OK && to->kind == ANVIL_LAYOUT_PLAIN) a = b; /* both dense, ONNX order */
    else if (s == ANVIL_OK) s = side_md(shape, &plain, &b, pb, &a, pa);
    if (s == ANVIL_OK) s = check_side(shape, &a, &plain, "source");
    if (s == ANVIL_OK) s = check_side(shape, &b, to, "destination");
    int mask = 0;
    if (s == ANVIL_OK) s = view_md(shape, strides ? strides : dense, &a, &mask);
    if (s == ANVIL_OK && scale && !mask) /* one output channel: mask 0 would mean no scales */
        s = anvil__error(ANVIL_STATUS_UNSUPPORTED, "pack_view of one scaled channel");
    if (s == ANVIL_OK) s = run_reorder(c, &a, src, &b, dst, scale ? mask : 0, scale,
                                       shape->dims[0]);
    return s;
}

anvil_status anvil__cpu_reorder_cache_init(anvil__cpu_ctx *c) {
    c->cache = anvil__calloc(CACHE_CAP, sizeof *c->cache);
    c->cache_count = 0;
    return c->cache ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
}
