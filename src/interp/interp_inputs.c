/*
 * interp_inputs.c — checks the caller's tensors against a graph's declared inputs before a run:
 * every input present (one message listing all missing ones with dtype and shape), dtypes
 * equal, ranks equal, fixed dims equal, one symbolic name bound to one size, byte counts right.
 */
#include "interp/interp.h"

#include <stdio.h>
#include <string.h>

static const char *desc(const anvil__value *v, char *buf, size_t size) {
    char shape[ANVIL_SHAPE_STR_MAX];
    size_t used = 0;
    shape[0] = '\0';
    if (v->rank < 0) snprintf(shape, sizeof shape, "?");
    if (v->rank == 0) snprintf(shape, sizeof shape, "scalar");
    for (int32_t d = 0; d < v->rank && used < sizeof shape; d++) {
        int w = v->dims[d] >= 0
                    ? snprintf(shape + used, sizeof shape - used, "%s%lld", d ? "x" : "",
                               (long long)v->dims[d])
                    : snprintf(shape + used, sizeof shape - used, "%s%s", d ? "x" : "",
                               v->dim_names[d] ? v->dim_names[d] : "?");
        if (w < 0) break;
        used += (size_t)w;
    }
    snprintf(buf, size, "%s %s", anvil_dtype_name(v->dtype), shape);
    return buf;
}

static anvil_status check_one(const anvil__graph *g, const anvil__value *v, const anvil_tensor *t,
                              int64_t *sym_size, const char **sym_name, int *n_sym) {
    if (v->dtype != ANVIL_DTYPE_UNDEFINED && t->dtype != v->dtype)
        return anvil__error(ANVIL_STATUS_DTYPE_MISMATCH, "input '%s': expected dtype %s, got %s",
                            v->name, anvil_dtype_name(v->dtype), anvil_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "input '%s': invalid rank %d", v->name,
                            (int)t->rank);
    if (v->rank >= 0 && t->rank != v->rank)
        return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "input '%s': expected rank %d, got %d",
                            v->name, (int)v->rank, (int)t->rank);
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0)
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH, "input '%s' dim %d: negative size %lld",
                                v->name, (int)d, (long long)t->dims[d]);
        if (v->rank >= 0 && v->dims[d] >= 0 && t->dims[d] != v->dims[d])
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                                "input '%s' dim %d: expected %lld, got %lld", v->name, (int)d,
                                (long long)v->dims[d], (long long)t->dims[d]);
        const char *sym = v->rank >= 0 && v->dims[d] < 0 ? v->dim_names[d] : NULL;
        if (!sym) continue;
        int k = 0;
        while (k < *n_sym && strcmp(sym_name[k], sym) != 0) k++;
        if (k < *n_sym && sym_size[k] != t->dims[d])
            return anvil__error(ANVIL_STATUS_SHAPE_MISMATCH,
                                "input '%s' dim %d ('%s'): expected %lld as bound by an earlier "
                                "input, got %lld",
                                v->name, (int)d, sym, (long long)sym_size[k], (long long)t->dims[d]);
        if (k == *n_sym && k < 64) {
            sym_name[k] = sym;
            sym_size[k] = t->dims[d];
            (*n_sym)++;
        }
    }
    int64_t n = anvil_shape_numel(t->rank, t->dims);
    size_t bytes;
    if (n < 0 || !anvil__mul_size((size_t)n, anvil_dtype_size(t->dtype), &bytes))
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "input '%s': shape too large", v->name);
    if (t->bytes != bytes || (bytes > 0 && !t->data))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "input '%s': expected %zu bytes of data, got %zu%s", v->name, bytes,
                            t->bytes, t->data ? "" : " (data is NULL)");
    (void)g;
    return ANVIL_OK;
}

anvil_status anvil__interp_check_inputs(const anvil__graph *g, const anvil_tensor *given,
                                        size_t n_given, size_t *order) {
    for (int32_t i = 0; i < g->n_inputs; i++) order[i] = SIZE_MAX;
    for (size_t k = 0; k < n_given; k++) {
        int32_t slot = -1;
        if (given[k].name) {
            for (int32_t i = 0; i < g->n_inputs && slot < 0; i++)
                if (strcmp(g->values[g->inputs[i]].name, given[k].name) == 0) slot = i;
            if (slot < 0)
                return anvil__error(ANVIL_STATUS_NOT_FOUND, "the model has no input named '%s'",
                                    given[k].name);
        } else {
            if (k >= (size_t)g->n_inputs)
                return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                                    "%zu inputs given, the model has %d", n_given,
                                    (int)g->n_inputs);
            slot = (int32_t)k;
        }
        if (order[slot] != SIZE_MAX)
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "input '%s' is given twice",
                                g->values[g->inputs[slot]].name);
        order[slot] = k;
    }
    char msg[2048], buf[ANVIL_SHAPE_STR_MAX + 32];
    size_t used = 0;
    int missing = 0;
    for (int32_t i = 0; i < g->n_inputs; i++) {
        if (order[i] != SIZE_MAX) continue;
        const anvil__value *v = &g->values[g->inputs[i]];
        int w = snprintf(msg + used, sizeof msg - used, "%s'%s' (%s)", missing ? ", " : "",
                         v->name, desc(v, buf, sizeof buf));
        if (w > 0 && (size_t)w < sizeof msg - used) used += (size_t)w;
        missing++;
    }
    if (missing)
        return anvil__error(ANVIL_STATUS_MISSING_INPUT, "%s not given", msg);
    int64_t sym_size[64];
    const char *sym_name[64];
    int n_sym = 0;
    for (int32_t i = 0; i < g->n_inputs; i++) {
        anvil_status s = check_one(g, &g->values[g->inputs[i]], &given[order[i]], sym_size,
                                   sym_name, &n_sym);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}
