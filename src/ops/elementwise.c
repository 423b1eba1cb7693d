/*
 * elementwise.c — the broadcasting row iterator and dtype checks shared by the elementwise
 * op families. No op semantics live here.
 */
#include "ops/elementwise.h"

#include <string.h>

/* True when input `t` is broadcast along output dim `d` (it lacks the dim or has size 1 there
 * while the output does not). */
static bool is_bcast(const anvil__tensor *t, int32_t out_rank, int32_t d, int64_t out_dim) {
    int32_t id = d - (out_rank - t->rank);
    if (id < 0) return true;
    return t->dims[id] == 1 && out_dim != 1;
}

void anvil__ew_init(anvil__ew_iter *it, const anvil__tensor *out, const anvil__tensor *const *in,
                    int32_t n_in) {
    memset(it, 0, sizeof *it);
    it->n_in = n_in;
    bool pat[ANVIL_MAX_RANK][ANVIL_EW_MAX_IN];
    int32_t r = 0;
    for (int32_t d = 0; d < out->rank; d++) {
        int64_t od = out->dims[d];
        if (od == 1) continue; /* size-1 dims change no offsets */
        bool cur[ANVIL_EW_MAX_IN] = {false};
        for (int32_t k = 0; k < n_in; k++) cur[k] = is_bcast(in[k], out->rank, d, od);
        if (r > 0 && memcmp(cur, pat[r - 1], sizeof cur) == 0) {
            it->dims[r - 1] *= od;
        } else {
            memcpy(pat[r], cur, sizeof cur);
            it->dims[r++] = od;
        }
    }
    if (r == 0) { /* scalar or all-ones output: one element */
        for (int32_t k = 0; k < ANVIL_EW_MAX_IN; k++) pat[0][k] = false;
        it->dims[r++] = 1;
    }
    it->rank = r;
    for (int32_t k = 0; k < n_in; k++) {
        int64_t s = 1;
        for (int32_t d = r - 1; d >= 0; d--) {
            if (pat[d][k]) {
                it->strides[k][d] = 0;
            } else {
                it->strides[k][d] = s;
                s *= it->dims[d];
            }
        }
        it->step[k] = (size_t)it->strides[k][r - 1];
    }
    it->inner = (size_t)it->dims[r - 1];
    it->rows = 1;
    for (int32_t d = 0; d < r - 1; d++) it->rows *= (size_t)it->dims[d];
    if (it->inner == 0) it->rows = 0;
}

bool anvil__ew_next(anvil__ew_iter *it) {
    if (it->row >= it->rows) return false;
    if (it->row > 0) {
        for (int32_t d = it->rank - 2; d >= 0; d--) {
            it->coord[d]++;
            for (int32_t k = 0; k < it->n_in; k++) it->in_off[k] += (size_t)it->strides[k][d];
            if (it->coord[d] < it->dims[d]) break;
            for (int32_t k = 0; k < it->n_in; k++)
                it->in_off[k] -= (size_t)(it->strides[k][d] * it->dims[d]);
            it->coord[d] = 0;
        }
        it->out_off += it->inner;
    }
    it->row++;
    return true;
}

anvil_status anvil__ew_same_dtype(const anvil__node *n, anvil_dtype a, anvil_dtype b,
                                  const char *what) {
    if (a == ANVIL_DTYPE_UNDEFINED || b == ANVIL_DTYPE_UNDEFINED || a == b) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH,
                             "%s must have the same dtype, got %s and %s", what,
                             anvil_dtype_name(a), anvil_dtype_name(b));
}

static unsigned dtype_class(anvil_dtype d) {
    if (anvil__dtype_is_float(d)) return ANVIL_EW_FLOAT;
    if (anvil__dtype_is_signed(d)) return ANVIL_EW_SIGNED;
    if (anvil__dtype_is_int(d)) return ANVIL_EW_UNSIGNED;
    if (d == ANVIL_DTYPE_BOOL) return ANVIL_EW_BOOL;
    return 0;
}

static const char *class_text(unsigned classes) {
    switch (classes) {
    case ANVIL_EW_FLOAT: return "a float dtype (f32, f16, bf16, f64)";
    case ANVIL_EW_BOOL: return "bool";
    case ANVIL_EW_NUMERIC: return "a numeric dtype (float or integer)";
    case ANVIL_EW_FLOAT | ANVIL_EW_SIGNED: return "a float or signed integer dtype";
    case ANVIL_EW_INT: return "an integer dtype";
    default: return "a supported dtype";
    }
}

anvil_status anvil__ew_accept(const anvil__node *n, anvil_dtype dtype, unsigned classes,
                              const char *what) {
    if (dtype == ANVIL_DTYPE_UNDEFINED || (dtype_class(dtype) & classes)) return ANVIL_OK;
    return anvil__node_error(n, ANVIL_STATUS_DTYPE_MISMATCH, "%s must be %s, got %s", what,
                             class_text(classes), anvil_dtype_name(dtype));
}

anvil_status anvil__ew_broadcast_output(anvil__op_ctx *ctx, anvil_dtype dtype) {
    int32_t rank = 0;
    int64_t dims[ANVIL_MAX_RANK];
    const anvil__tensor *const *ins = (const anvil__tensor *const *)ctx->inputs;
    anvil_status s = anvil__broadcast(ctx->node, ins, ctx->n_inputs, &rank, dims);
    if (s) return s;
    return anvil__set_output(ctx, 0, dtype, rank, dims);
}
