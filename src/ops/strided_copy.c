/*
 * strided_copy.c — dense copy of a strided view (see strided_copy.h), and the small helpers
 * the shape-op families share. Elements are opaque bytes, so every dtype moves the same way.
 */
#include "ops/strided_copy.h"

#include <string.h>

/* Copies `n` elements spaced `stride` apart in src into consecutive slots of dst. */
static void copy_row(uint8_t *dst, const uint8_t *src, size_t esize, int64_t n, int64_t stride) {
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * esize);
        return;
    }
    ptrdiff_t step = (ptrdiff_t)stride * (ptrdiff_t)esize;
    switch (esize) {
    case 1:
        for (int64_t i = 0; i < n; i++, src += step)
            dst[i] = *src;
        break;
    case 2:
        for (int64_t i = 0; i < n; i++, src += step)
            memcpy(dst + 2 * i, src, 2);
        break;
    case 4:
        for (int64_t i = 0; i < n; i++, src += step)
            memcpy(dst + 4 * i, src, 4);
        break;
    case 8:
        for (int64_t i = 0; i < n; i++, src += step)
            memcpy(dst + 8 * i, src, 8);
        break;
    default:
        for (int64_t i = 0; i < n; i++, src += step)
            memcpy(dst + esize * (size_t)i, src, esize);
        break;
    }
}

/* Drops size-1 dims and merges neighbours that are contiguous with each other, so the copy
 * loop runs over as few and as long rows as possible. Returns the new rank. */
static int32_t coalesce(int32_t rank, const int64_t *dims, const int64_t *strides, int64_t *cd,
                        int64_t *cs) {
    int32_t r = 0;
    for (int32_t d = 0; d < rank; d++) {
        if (dims[d] == 1) continue;
        if (r > 0 && cs[r - 1] == strides[d] * dims[d]) {
            cd[r - 1] *= dims[d];
            cs[r - 1] = strides[d];
            continue;
        }
        cd[r] = dims[d];
        cs[r] = strides[d];
        r++;
    }
    return r;
}

void anvil__strided_copy(void *dst, const void *src, size_t esize, int32_t rank,
                         const int64_t *dims, const int64_t *strides, int64_t offset) {
    int64_t cd[ANVIL_VIEW_MAX_RANK], cs[ANVIL_VIEW_MAX_RANK], coord[ANVIL_VIEW_MAX_RANK];
    for (int32_t d = 0; d < rank; d++)
        if (dims[d] == 0) return;
    int32_t r = coalesce(rank, dims, strides, cd, cs);
    const uint8_t *base = (const uint8_t *)src + offset * (ptrdiff_t)esize;
    uint8_t *out = dst;
    if (r == 0) {
        memcpy(out, base, esize);
        return;
    }
    int64_t inner = cd[r - 1], inner_stride = cs[r - 1];
    size_t row_bytes = (size_t)inner * esize;
    memset(coord, 0, sizeof coord);
    int64_t pos = 0; /* element offset of the current row's start, relative to base */
    for (;;) {
        copy_row(out, base + pos * (ptrdiff_t)esize, esize, inner, inner_stride);
        out += row_bytes;
        int32_t d = r - 2;
        for (; d >= 0; d--) {
            pos += cs[d];
            if (++coord[d] < cd[d]) break;
            pos -= cs[d] * cd[d];
            coord[d] = 0;
        }
        if (d < 0) return;
    }
}

int64_t anvil__static_len(const anvil__tensor *t) {
    if (t->rank == 0) return 1;
    if (t->rank != 1) return -1;
    return t->dims[0];
}

anvil_status anvil__norm_axes(const anvil__node *n, int64_t *axes, size_t count, int32_t rank) {
    for (size_t i = 0; i < count; i++) {
        int64_t a = axes[i];
        if (a < -(int64_t)rank || a >= rank)
            return anvil__node_error(n, ANVIL_STATUS_OUT_OF_RANGE,
                                     "axis %lld is out of range for rank %d", (long long)a,
                                     (int)rank);
        axes[i] = a < 0 ? a + rank : a;
        for (size_t j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return anvil__node_error(n, ANVIL_STATUS_INVALID_ARGUMENT, "axis %lld is repeated",
                                         (long long)a);
    }
    return ANVIL_OK;
}
