/*
 * ir.h — anvil's graph IR: values (tensors with dtype and possibly symbolic shape), nodes
 * (an op applied to values, with attributes), initializers (named source weights, usually
 * zero-copy views into a mapped file) and subgraphs (If branches). Passes and the interpreter
 * work on this; importers build it. Not part of the public API.
 */
#ifndef ANVIL_IR_H
#define ANVIL_IR_H

#include "core/core.h"

typedef struct anvil__graph anvil__graph;

/* A dense tensor inside anvil: the interpreter's runtime values, constant attributes,
 * initializers. `data` is NULL in static shape inference when the value is not known. */
typedef struct anvil__tensor {
    anvil_dtype dtype;
    int32_t rank;                 /* -1: unknown rank (static inference only) */
    int64_t dims[ANVIL_MAX_RANK]; /* -1: unknown dim (static inference only) */
    void *data;
    size_t bytes;
} anvil__tensor;

int64_t anvil__tensor_numel(const anvil__tensor *t); /* -1 if unknown or overflow */
/* Fills dtype/rank/dims and checks limits (rank ≤ ANVIL_MAX_RANK, dims ≥ 0, byte count fits). */
anvil_status anvil__tensor_shape(anvil__tensor *t, anvil_dtype dtype, int32_t rank,
                                 const int64_t *dims);
/* Allocates data for a tensor whose dtype and shape are set (zero-filled). */
anvil_status anvil__tensor_alloc(anvil__tensor *t);

/* A tensor read in place from another one's memory: element (i_0, ..., i_r-1) is
 * base[sum_d i_d * strides[d]] (strides in elements), times scale[i_0] when scale is set
 * (f32 only). Name-map results (a checkpoint tensor transposed, or with a BatchNorm folded
 * in) reach weight packing this way, so a refit does not write them out first. */
typedef struct anvil__tensor_view {
    const void *base;  /* NULL: not a view */
    size_t base_bytes; /* the base tensor's bytes (what its content hash covers) */
    int64_t strides[ANVIL_MAX_RANK];
    float *scale;      /* one per index of dim 0 (owned by the view's maker), or NULL */
} anvil__tensor_view;

typedef enum anvil__attr_kind {
    ANVIL_ATTR_UNDEFINED = 0,
    ANVIL_ATTR_FLOAT = 1,
    ANVIL_ATTR_INT = 2,
    ANVIL_ATTR_STRING = 3,
    ANVIL_ATTR_TENSOR = 4,
    ANVIL_ATTR_GRAPH = 5,
    ANVIL_ATTR_FLOATS = 6,
    ANVIL_ATTR_INTS = 7,
    ANVIL_ATTR_STRINGS = 8,
    ANVIL_ATTR_KIND_COUNT
} anvil__attr_kind;

typedef struct anvil__attr {
    char *name;
    anvil__attr_kind kind;
    double f;          /* FLOAT */
    int64_t i;         /* INT */
    char *s;           /* STRING (NUL-terminated; s_len excludes the NUL) */
    size_t s_len;
    size_t n;          /* element count of FLOATS / INTS / STRINGS */
    float *floats;
    int64_t *ints;
    char **strings;
    anvil__tensor t;   /* TENSOR (data owned by the graph) */
    anvil__graph *g;   /* GRAPH (owned) */
} anvil__attr;

/* Value flags. */
enum {
    ANVIL_VALUE_INPUT = 1 << 0,       /* graph input fed by the caller */
    ANVIL_VALUE_OUTPUT = 1 << 1,      /* graph output */
    ANVIL_VALUE_INITIALIZER = 1 << 2, /* constant source weight (init index in `init`) */
    ANVIL_VALUE_OUTER = 1 << 3,       /* subgraph reference to a value of an enclosing graph */
};

typedef struct anvil__value {
    char *name;
    anvil_dtype dtype;            /* UNDEFINED when not yet known */
    int32_t rank;                 /* -1 when unknown */
    int64_t dims[ANVIL_MAX_RANK]; /* -1 for unknown / symbolic */
    char *dim_names[ANVIL_MAX_RANK]; /* symbolic name or NULL */
    uint32_t flags;
    int32_t producer; /* node index, -1 for inputs, initializers, outer refs */
    int32_t init;     /* index in graph->inits when INITIALIZER, else -1 */
} anvil__value;

/* An op fused into a node by the compiler (activation after Conv/MatMul/Gemm, or a residual
 * Add). alpha/beta carry the activation's parameters (Clip: min/max; LeakyRelu/Elu/Celu: alpha;
 * HardSigmoid: alpha/beta; Gelu: alpha 1 for the tanh approximation); `input` is the index in
 * node->inputs of the other operand of a binary post-op (Add), -1 otherwise. */
#define ANVIL_MAX_POST_OPS 4
typedef struct anvil__post_op {
    int32_t op; /* anvil__op_id */
    float alpha, beta;
    int32_t input;
} anvil__post_op;

/* Node flags. */
enum {
    ANVIL_NODE_DEAD = 1 << 0, /* removed by a pass; dropped by anvil__graph_compact */
};

typedef struct anvil__node {
    char *name;
    char *op_type;
    char *domain;
    int32_t op;        /* anvil__op_id, or -1 when unsupported */
    int32_t n_inputs;
    int32_t *inputs;   /* value ids; -1 for an omitted optional input ("") */
    int32_t n_outputs;
    int32_t *outputs;  /* value ids; -1 for an omitted optional output */
    int32_t n_attrs;
    anvil__attr *attrs;
    uint32_t flags;
    int32_t n_post; /* ops fused after this one, applied in order */
    anvil__post_op post[ANVIL_MAX_POST_OPS];
    char *fused;    /* human-readable list of ops folded into this node ("BatchNormalization"),
                       NULL if none; for inspect only */
} anvil__node;

/* A named source weight. Data is either a view into a mapping owned by the model (borrowed)
 * or owned by the graph (owned = true). */
typedef struct anvil__init {
    int32_t value; /* value id */
    anvil__tensor t;
    bool owned;
} anvil__init;

struct anvil__graph {
    char *name;
    anvil__graph *parent; /* enclosing graph of a subgraph, NULL for the main graph */
    int64_t opset;        /* default-domain opset (inherited by subgraphs) */

    anvil__value *values;
    int32_t n_values, cap_values;
    anvil__node *nodes;
    int32_t n_nodes, cap_nodes;
    anvil__init *inits;
    int32_t n_inits, cap_inits;

    int32_t *inputs; /* value ids of caller-fed inputs (initializers excluded), in order */
    int32_t n_inputs;
    int32_t *outputs; /* value ids of outputs, in order */
    int32_t n_outputs;

    anvil__name_map names; /* value name → id */
};

anvil__graph *anvil__graph_new(anvil__graph *parent);
void anvil__graph_destroy(anvil__graph *g);

/* Finds a value by name in this graph only; -1 if absent. */
int32_t anvil__graph_find(const anvil__graph *g, const char *name);
/* Adds a value (name copied; must be unique in the graph: INVALID_GRAPH otherwise). */
anvil_status anvil__graph_add_value(anvil__graph *g, const char *name, int32_t *out_id);
/* Returns the id of `name`, adding an unknown-typed value if absent. */
anvil_status anvil__graph_value(anvil__graph *g, const char *name, int32_t *out_id);
/* Appends a node; strings copied; inputs/outputs arrays copied. Attributes are added after. */
anvil_status anvil__graph_add_node(anvil__graph *g, const char *name, const char *op_type,
                                   const char *domain, const int32_t *inputs, int32_t n_inputs,
                                   const int32_t *outputs, int32_t n_outputs, int32_t *out_id);
/* Appends an attribute slot to node `node` and returns it zeroed with its name set. */
anvil_status anvil__node_add_attr(anvil__graph *g, int32_t node, const char *name,
                                  anvil__attr **out);
anvil_status anvil__graph_add_input(anvil__graph *g, int32_t value);
anvil_status anvil__graph_add_output(anvil__graph *g, int32_t value);
/* Marks value as an initializer holding tensor t (data borrowed unless owned). */
anvil_status anvil__graph_add_init(anvil__graph *g, int32_t value, const anvil__tensor *t,
                                   bool owned);

/* Frees everything a node owns and zeroes it. */
void anvil__node_clear(anvil__node *n);
/* Removes nodes flagged ANVIL_NODE_DEAD and values no node, input, output or initializer
 * refers to any more; renumbers ids. Used by passes after they rewrite a graph. */
anvil_status anvil__graph_compact(anvil__graph *g);
/* Sets input `index` of node `node` (growing the input array if index == n_inputs). */
anvil_status anvil__node_set_input(anvil__graph *g, int32_t node, int32_t index, int32_t value);
/* Appends `text` to node->fused ("A+B"). */
anvil_status anvil__node_note_fused(anvil__node *n, const char *text);

/* Attribute lookup on a node: NULL if absent. */
const anvil__attr *anvil__node_attr(const anvil__node *n, const char *name);

/* Verifies structure: every node input defined before use (inputs, initializers, outer refs or
 * an earlier node's output), single assignment, no cycles (nodes are in topological order after
 * anvil__graph_toposort), valid dtypes and ranks. Recurses into subgraphs. Message names the
 * node and value at fault. */
anvil_status anvil__graph_verify(const anvil__graph *g);
/* Reorders nodes topologically (stable); INVALID_GRAPH naming a node on a cycle. */
anvil_status anvil__graph_toposort(anvil__graph *g);
/* Writes a textual listing. */
anvil_status anvil__graph_print(const anvil__graph *g, anvil_write_fn write, void *user);

#endif /* ANVIL_IR_H */
