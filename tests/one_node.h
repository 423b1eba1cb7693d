/*
 * one_node.h — a graph holding a single node, for op unit tests: inputs i0.., outputs o0..,
 * the node named ONE_NODE_NAME ("one_node" unless the test defines it before including).
 */
#ifndef ANVIL_ONE_NODE_H
#define ANVIL_ONE_NODE_H

#include "ops/op.h"

#include <stdio.h>

#ifndef ONE_NODE_NAME
#define ONE_NODE_NAME "one_node"
#endif

typedef struct one_node {
    anvil__graph *g;
    int32_t id;
} one_node;

/* absent_mask bit k omits input k (an optional input left out). */
static one_node mk_node(const char *op, int32_t n_in, int32_t n_out, unsigned absent_mask) {
    one_node r = {anvil__graph_new(NULL), -1};
    int32_t ins[8], outs[4];
    char name[16];
    for (int32_t i = 0; i < n_in; i++) {
        ins[i] = -1;
        if (absent_mask & (1u << i)) continue;
        snprintf(name, sizeof name, "i%d", (int)i);
        anvil__graph_add_value(r.g, name, &ins[i]);
    }
    for (int32_t i = 0; i < n_out; i++) {
        snprintf(name, sizeof name, "o%d", (int)i);
        anvil__graph_add_value(r.g, name, &outs[i]);
    }
    anvil__graph_add_node(r.g, ONE_NODE_NAME, op, "", ins, n_in, outs, n_out, &r.id);
    r.g->nodes[r.id].op = anvil__op_find(op, "");
    return r;
}

#endif /* ANVIL_ONE_NODE_H */
