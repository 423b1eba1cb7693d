/*
 * strided_copy.h — the one data-movement primitive behind the shape ops (Transpose, Slice,
 * Expand, Tile, DepthToSpace, Concat, Split, ...): copy a strided view of a tensor into a
 * dense buffer, dtype-generically (elements are opaque bytes). Plus small shared helpers for
 * reading shape-like inputs. Not an op family itself.
 */
#ifndef ANVIL_STRIDED_COPY_H
#define ANVIL_STRIDED_COPY_H

#include "ops/op.h"

/* Views may have up to twice the tensor rank (Tile views each dim as repeat x dim). */
#define ANVIL_VIEW_MAX_RANK (2 * ANVIL_MAX_RANK)

/* Fills the dense row-major buffer dst of shape (rank, dims) with elements of size esize taken
 * from src: the element at coordinate c is src[offset + sum_d c[d] * strides[d]] (strides in
 * elements, may be zero or negative). The caller guarantees every such index is in bounds. */
void anvil__strided_copy(void *dst, const void *src, size_t esize, int32_t rank,
                         const int64_t *dims, const int64_t *strides, int64_t offset);

/* Static length of a 1-D shape-like input: dims[0] when known, else -1 (also for rank ≠ 1,
 * except a 0-D input which has length 1). */
int64_t anvil__static_len(const anvil__tensor *t);

/* Reads an axes list (i64 attribute or input already read into `axes`), normalizes each
 * against `rank` and rejects duplicates (INVALID_ARGUMENT naming the node). */
anvil_status anvil__norm_axes(const anvil__node *n, int64_t *axes, size_t count, int32_t rank);

#endif /* ANVIL_STRIDED_COPY_H */
