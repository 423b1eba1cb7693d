/*
 * cast.c — Cast and CastLike between anvil's dtypes (floats, integers, bool, float8, float4,
 * int4/int2) with ONNX semantics: float→int truncates toward zero, →bool is x != 0, float8
 * targets honour `saturate` (opset 19+) and E8M0 honours `round_mode` (opset 25).
 * Targets anvil does not represent (string, complex) are rejected as UNSUPPORTED.
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
    {17, "FLOAT8E4M3FN", ANVIL_DTYPE_F8E4M3FN},
    {18, "FLOAT8E4M3FNUZ", ANVIL_DTYPE_F8E4M3FNUZ},
    {19, "FLOAT8E5M2", ANVIL_DTYPE_F8E5M2},
    {20, "FLOAT8E5M2FNUZ", ANVIL_DTYPE_F8E5M2FNUZ},
    {21, "UINT4", ANVIL_DTYPE_U4},
    {22, "INT4", ANVIL_DTYPE_I4},
    {23, "FLOAT4E2M1", ANVIL_DTYPE_F4E2M1},
    {24, "FLOAT8E8M0", ANVIL_DTYPE_F8E8M0},
    {25, "UINT2", ANVIL_DTYPE_U2},
    {26, "INT2", ANVIL_DTYPE_I2},
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

/* Cast's E8M0 `round_mode`: "up" (default), "down" or "nearest". */
static anvil_status round_mode(const anvil__node *n, anvil__e8m0_round *out) {
    anvil_status s = anvil__attr_expect(n, "round_mode", ANVIL_ATTR_STRING);
    if (s) return s;
    const char *m = anvil__attr_string(n, "round_mode", "up");
    if (strcmp(m, "up") == 0) *out = ANVIL_E8M0_ROUND_UP;
    else if (strcmp(m, "down") == 0) *out = ANVIL_E8M0_ROUND_DOWN;
    else if (strcmp(m, "nearest") == 0) *out = ANVIL_E8M0_ROUND_NEAREST;
    else
        return anvil__node_error(n, ANVIL_STATUS_INVALID_GRAPH,
                                 "attribute 'round_mode' is \"%s\", expected \"up\", \"down\" "
                                 "or \"nearest\"",
                                 m);
    return ANVIL_OK;
}

anvil_status anvil__op_cast_validate(const anvil__node *node, int64_t opset) {
    (void)opset;
    anvil__e8m0_round round;
    anvil_status s = anvil__attr_expect(node, "saturate", ANVIL_ATTR_INT);
    if (!s) s = round_mode(node, &round);
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
    anvil__e8m0_round round = ANVIL_E8M0_ROUND_UP; /* set by round_mode */
    anvil_status s = round_mode(ctx->node, &round);
    if (s) return s;
    bool saturate = anvil__attr_int(ctx->node, "saturate", 1) != 0;
    int64_t numel = anvil__tensor_numel(y);
    if (numel > 0)
        anvil__convert_cast(y->dtype, y->data, x->dtype, x->data, (size_t)numel, saturate,
                            round);
    return ANVIL_OK;
}
