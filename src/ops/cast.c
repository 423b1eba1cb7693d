/*
 * cast.c — Cast and CastLike between anvil's dtypes (floats, integers, bool) with ONNX
 * semantics: float→int truncates toward zero, →bool is x != 0. Targets anvil does not
 * represent (string, complex, float8, int4/int2, float4) are rejected as UNSUPPORTED.
 * The `saturate` attribute only affects float8 targets, so it is accepted and ignored.
 */
#include "ops/elementwise.h"

#include <string.h>

/* ONNX TensorProto.DataType numbers and names, with anvil's dtype (UNDEFINED: unsupported). */
static const struct {
    int64_t onnx;
    const char *name;
    anvil_dtype dtype;
} onnx_types[] = {
    {1, "FLOAT", ANVIL_DTYPE_F32},
    {2, "UINT8", ANVIL_DTYPE_U8},
    {3, "INT8", ANVIL_DTYPE_I8},
    {4, "UINT16", ANVIL_DTYPE_U16},
    {5, "INT16", ANVIL_DTYPE_I16},
    {6, "INT32", ANVIL_DTYPE_I32},
    {7, "INT64", ANVIL_DTYPE_I64},
    {8, "STRING", ANVIL_DTYPE_UNDEFINED},
    {9, "BOOL", ANVIL_DTYPE_BOOL},
    {10, "FLOAT16", ANVIL_DTYPE_F16},
    {11, "DOUBLE", ANVIL_DTYPE_F64},
    {12, "UINT32", ANVIL_DTYPE_U32},
    {13, "UINT64", ANVIL_DTYPE_U64},
    {14, "COMPLEX64", ANVIL_DTYPE_UNDEFINED},
    {15, "COMPLEX128", ANVIL_DTYPE_UNDEFINED},
    {16, "BFLOAT16", ANVIL_DTYPE_BF16},
    {17, "FLOAT8E4M3FN", ANVIL_DTYPE_UNDEFINED},
    {18, "FLOAT8E4M3FNUZ", ANVIL_DTYPE_UNDEFINED},
    {19, "FLOAT8E5M2", ANVIL_DTYPE_UNDEFINED},
    {20, "FLOAT8E5M2FNUZ", ANVIL_DTYPE_UNDEFINED},
    {21, "UINT4", ANVIL_DTYPE_UNDEFINED},
    {22, "INT4", ANVIL_DTYPE_UNDEFINED},
    {23, "FLOAT4E2M1", ANVIL_DTYPE_UNDEFINED},
    {24, "FLOAT8E8M0", ANVIL_DTYPE_UNDEFINED},
    {25, "UINT2", ANVIL_DTYPE_UNDEFINED},
    {26, "INT2", ANVIL_DTYPE_UNDEFINED},
};
#define N_ONNX_TYPES (sizeof onnx_types / sizeof *onnx_types)

/* The Cast target from attribute `to`: an int (opset 6+) or a type name (opset 1). */
static anvil_status cast_target(const anvil__node *n, anvil_dtype *out) {
    const anvil__attr *a = anvil__node_attr(n, "to");
    if (!a)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "missing required attribute 'to'");
    if (a->kind != ANVIL_ATTR_INT && a->kind != ANVIL_ATTR_STRING)
        return anvil__attr_require(n, "to", ANVIL_ATTR_INT);
    for (size_t i = 0; i < N_ONNX_TYPES; i++) {
        bool match = a->kind == ANVIL_ATTR_INT ? a->i == onnx_types[i].onnx
                                               : strcmp(a->s, onnx_types[i].name) == 0;
        if (!match) continue;
        if (onnx_types[i].dtype == ANVIL_DTYPE_UNDEFINED)
            return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED,
                                     "cast to %s is not supported (anvil has no %s dtype)",
                                     onnx_types[i].name, onnx_types[i].name);
        *out = onnx_types[i].dtype;
        return ANVIL_OK;
    }
    if (a->kind == ANVIL_ATTR_INT)
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "attribute 'to' is not a known ONNX data type: %lld",
                                 (long long)a->i);
    return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                             "attribute 'to' is not a known ONNX data type: \"%s\"", a->s);
}

anvil_status anvil__op_cast_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    anvil_status s = anvil__attr_expect(node, "saturate", ANVIL_ATTR_INT);
    if (s || node->op != ANVIL_OP_Cast) return s;
    anvil_dtype to;
    return cast_target(node, &to);
}

anvil_status anvil__op_cast_infer(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil_dtype to = ANVIL_DTYPE_UNDEFINED;
    if (ctx->node->op == ANVIL_OP_Cast) {
        anvil_status s = cast_target(ctx->node, &to);
        if (s) return s;
    } else {
        to = ctx->inputs[1]->dtype; /* CastLike: the dtype of target_type */
    }
    return anvil__set_output(ctx, 0, to, x->rank, x->dims);
}

anvil_status anvil__op_cast_run(anvil__op_ctx *ctx) {
    const anvil__tensor *x = ctx->inputs[0];
    anvil__tensor *y = ctx->outputs[0];
    if (!anvil__dtype_valid(x->dtype) || !anvil__dtype_valid(y->dtype))
        return anvil__node_error(ctx->node, ANVIL_STATUS_UNSUPPORTED, "cannot cast %s to %s",
                                 anvil_dtype_name(x->dtype), anvil_dtype_name(y->dtype));
    int64_t numel = anvil__tensor_numel(y);
    if (numel > 0) anvil__convert(y->dtype, y->data, x->dtype, x->data, (size_t)numel);
    return ANVIL_OK;
}
