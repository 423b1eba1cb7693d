/*
 * registry.c — the op table built from ops.def: lookup by op type, and the generic part of
 * node validation (input/output counts) before each family's own validate.
 */
#include "ops/op.h"

#include <string.h>

static const anvil__op_def op_table[ANVIL_OP_COUNT] = {
#define ANVIL_OP(name, impl, min_in, max_in, min_out, max_out, flags)                      \
    [ANVIL_OP_##name] = {#name,         min_in, max_in, min_out, max_out, flags,            \
                         anvil__op_##impl##_validate, anvil__op_##impl##_infer,             \
                         anvil__op_##impl##_run},
#include "ops/ops.def"
#undef ANVIL_OP
};

const anvil__op_def *anvil__op_get(int32_t op) {
    return op >= 0 && op < ANVIL_OP_COUNT ? &op_table[op] : NULL;
}

static int32_t find(const char *op_type, bool internal) {
    for (int32_t i = 0; i < ANVIL_OP_COUNT; i++)
        if (strcmp(op_table[i].name, op_type) == 0)
            return internal == ((op_table[i].flags & ANVIL_OP_INTERNAL) != 0) ? i : -1;
    return -1;
}

/* Model files name ops of the default domain only: anvil's internal ops are never found here,
 * so a crafted model cannot reach them. */
int32_t anvil__op_find(const char *op_type, const char *domain) {
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0) return -1;
    return find(op_type, false);
}

int32_t anvil__op_find_internal(const char *op_type) { return find(op_type, true); }

/* Counts trailing omitted inputs as absent: ONNX lets "" stand for a missing optional input. */
static int32_t present_count(const int32_t *ids, int32_t n) {
    while (n > 0 && ids[n - 1] < 0) n--;
    return n;
}

anvil_status anvil__op_validate_node(const anvil__node *node, int64_t opset) {
    const anvil__op_def *def = anvil__op_get(node->op);
    if (!def)
        return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED, "unsupported op '%s'",
                                 node->op_type);
    int32_t nin = present_count(node->inputs, node->n_inputs);
    if (nin < def->min_inputs || node->n_inputs > def->max_inputs)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "expected %d to %d inputs, got %d", def->min_inputs,
                                 def->max_inputs, node->n_inputs);
    for (int32_t i = 0; i < def->min_inputs; i++)
        if (node->inputs[i] < 0)
            return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                     "required input %d is missing", (int)i);
    if (node->n_outputs < def->min_outputs || node->n_outputs > def->max_outputs)
        return anvil__node_error(node, ANVIL_STATUS_INVALID_GRAPH,
                                 "expected %d to %d outputs, got %d", def->min_outputs,
                                 def->max_outputs, node->n_outputs);
    return def->validate(node, opset);
}
