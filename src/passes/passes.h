/*
 * passes.h — the compiler's graph passes, one per file, run in order by pipeline.c.
 * A pass rewrites a compile state: the run graph (what will execute) and the weight graph
 * (recipes: how each weight slot is computed from source weights). Any computation that
 * depends only on weights moves into the weight graph, so a refit replays it exactly.
 */
#ifndef ANVIL_PASSES_H
#define ANVIL_PASSES_H

#include "ir/ir.h"

typedef struct anvil__compile_state {
    /* Run graph. Its inputs are the model inputs; its initializers are slots (run->inits[i] ↔
     * weights->outputs[i], same name) whose data is attached during compile (owned copies of
     * the slot values, kept current by passes that create slots) so shape inference and
     * decisions that need constant values (Reshape targets, Clip bounds) can read them. */
    anvil__graph *run;
    /* Weight graph. Inputs: source weights (the model's initializers, by name). Outputs:
     * slots. Evaluating it with the reference interpreter gives every slot's bytes. */
    anvil__graph *weights;
    /* Concrete input shapes to optimize for (opt profile), one per run->inputs. */
    const anvil__tensor *opt_inputs;
    uint32_t disabled; /* bit mask of 1u << anvil_pass */
    int32_t opt_level;
    /* Some input dim varies between its profile's min and max: passes must not fold values
     * that depend on input shapes (Shape, Size) into constants. */
    bool dynamic;
    /* The source graph (borrowed; set by anvil__compile_state_init, must outlive the state).
     * Slots that are exactly a source are views of its bytes (run->inits[i].owned false);
     * slots computed by a pass own their bytes. When `dynamic`, shape inference treats every
     * input dim the model does not fix as unknown (-1), so no pass specialises the graph to
     * an opt value (no Shape/Size folding of it, no fusion relying on two dims being equal). */
    const anvil__graph *model;
} anvil__compile_state;

/* Builds the initial state from a model graph (deep copies; the model is not modified):
 * run = the model graph with its initializers turned into slots, weights = identity recipes. */
anvil_status anvil__compile_state_init(anvil__compile_state *st, const anvil__graph *model);
void anvil__compile_state_free(anvil__compile_state *st);

/* Moves run-graph node `node` (all of whose inputs are slots or absent) into the weight graph:
 * its outputs become new slots whose data is computed now with the reference kernel. */
anvil_status anvil__compile_fold_node(anvil__compile_state *st, int32_t node);

/* Adds a new slot computed by `op_type` (default domain) over existing weight-graph values
 * `inputs` with attributes copied from `attrs_from` (may be NULL) — used by folds such as
 * BatchNorm into Conv. Returns the run-graph value id of the new slot. */
anvil_status anvil__compile_add_weight_node(anvil__compile_state *st, const char *op_type,
                                            const int32_t *weight_inputs, int32_t n_inputs,
                                            const char *name_hint, int32_t *out_run_value);
/* The weight-graph value id of run-graph slot value `run_value` (-1 if it is not a slot). */
int32_t anvil__compile_slot_value(const anvil__compile_state *st, int32_t run_value);

/* Runs static shape inference over the run graph with the opt input shapes and the attached
 * slot data; fills every value's dtype/rank/dims (-1 where data-dependent). */
anvil_status anvil__pass_infer_shapes(anvil__compile_state *st);

/* The passes (each a no-op when disabled). */
anvil_status anvil__pass_constant_folding(anvil__compile_state *st);
anvil_status anvil__pass_eliminate(anvil__compile_state *st);
anvil_status anvil__pass_fold_batchnorm(anvil__compile_state *st);
anvil_status anvil__pass_patterns(anvil__compile_state *st);
anvil_status anvil__pass_fuse_activation(anvil__compile_state *st);
anvil_status anvil__pass_fuse_residual(anvil__compile_state *st);
anvil_status anvil__pass_dead_code(anvil__compile_state *st);

/* Runs the pipeline in order, compacting the graphs after each pass and re-inferring shapes. */
anvil_status anvil__passes_run(anvil__compile_state *st);

/* ---- Helpers for the passes (compile_state.c, clone.c, pass_util.c) ---- */

/* Deep copy of a graph: values, nodes (attributes, subgraphs, post-ops), inputs, outputs and,
 * when with_inits, initializers (owned data copied, borrowed data borrowed again). */
anvil_status anvil__pass_clone_graph(const anvil__graph *src, anvil__graph *parent,
                                     bool with_inits, anvil__graph **out);

/* A copy of a run graph with every node's fused post-ops expanded back into plain ONNX nodes
 * (unfuse.c), so the reference interpreter can run it. */
anvil_status anvil__pass_unfuse(const anvil__graph *run, anvil__graph **out);

/* Copies every attribute of `from` onto node `node` of g (tensors and subgraphs deep-copied). */
anvil_status anvil__pass_copy_attrs(anvil__graph *g, int32_t node, const anvil__node *from);

/* As anvil__compile_add_weight_node, with the attributes of `attrs_from` copied (may be NULL). */
anvil_status anvil__compile_add_weight_node_attrs(anvil__compile_state *st, const char *op_type,
                                                  const int32_t *weight_inputs, int32_t n_inputs,
                                                  const anvil__node *attrs_from,
                                                  const char *name_hint, int32_t *out_run_value);
/* Adds a new slot holding a copy of `t` (dtype, shape, data), recorded in the weight graph as a
 * Constant node with a `value` attribute. Returns the run-graph value id of the slot. */
anvil_status anvil__compile_add_weight_const(anvil__compile_state *st, const anvil__tensor *t,
                                             const char *name_hint, int32_t *out_run_value);
/* The attached data of run-graph slot value `run_value`, NULL if it is not a slot. */
const anvil__tensor *anvil__compile_slot_data(const anvil__compile_state *st, int32_t run_value);
/* After a pass: toposorts and compacts the run graph (dropping dead nodes and slots nobody
 * reads), then re-derives the slot list (weights->outputs[i] = run->inits[i], by name), drops
 * weight-graph nodes no slot needs and compacts the weight graph. Weight inputs never change
 * (weights->inputs = the model's initializers, in order, whether still read or not). */
anvil_status anvil__compile_compact(anvil__compile_state *st);

/* Fused post-op conventions written by the fusion passes (anvil__post_op):
 *   Relu, Sigmoid, Tanh, HardSwish: no parameter (alpha = beta = 0).
 *   Clip: alpha = min, beta = max (-inf / +inf for an absent bound input; before opset 11 the
 *         attributes, whose defaults are -FLT_MAX / FLT_MAX).
 *   LeakyRelu, Elu: alpha.  HardSigmoid: alpha, beta.  Gelu: alpha 0 (erf) or 1 (tanh).
 *   SiLU, x * Sigmoid(x): op = ANVIL__POST_SILU (not an ONNX op; just past the registry ids).
 *   Add: input = index in node->inputs of the other operand (appended after the op's own
 *        inputs): a residual of exactly the output's shape, or (MatMul only) a bias slot of
 *        shape [N] broadcast over the rows of the [..., N] output.
 * Post-ops apply in order (e.g. bias, residual sum, then an activation). */
#define ANVIL__POST_SILU ((int32_t)ANVIL_OP_COUNT)

/* Whether pass p is switched off (its bit is set in st->disabled). */
bool anvil__pass_disabled(const anvil__compile_state *st, anvil_pass p);

/* Readers of each run value, kept current by the edit helpers below so a pass never recounts
 * (passes stay linear in the graph size). count[v]: references live nodes make to v, once per
 * input position and once per node whose subgraph captures v by name. reader[v]: some live
 * node reading v as an input (a hint, checked before use). Values added after counting (new
 * slots) read as 0 until a node reads them. */
typedef struct anvil__uses {
    int32_t *count;
    int32_t *reader;
    int32_t n, cap;
    bool captures; /* some live node has a subgraph */
} anvil__uses;
/* Counts (or recounts) g's readers into u, which must be zeroed before its first use. */
anvil_status anvil__pass_uses_init(const anvil__graph *g, anvil__uses *u);
void anvil__pass_uses_free(anvil__uses *u);
/* One rewrite step of a pass at live run node `node`, with u kept current; *changed tells
 * whether it changed the graph. */
typedef anvil_status (*anvil__pass_node_fn)(anvil__compile_state *st, anvil__uses *u,
                                            int32_t node, bool *changed);
/* Runs pass p unless it is disabled: counts the run graph's readers, then calls fn once on
 * each live node in order (nodes appended meanwhile included), stopping at the first failure. */
anvil_status anvil__pass_each_node(anvil__compile_state *st, anvil_pass p,
                                   anvil__pass_node_fn fn);
int32_t anvil__pass_uses_of(const anvil__uses *u, int32_t v);
/* Adds `delta` to the count of every input of `node`: call with -1 before changing a node's
 * inputs and +1 after (the edit helpers below do). */
anvil_status anvil__pass_uses_node(const anvil__graph *g, anvil__uses *u, int32_t node,
                                   int32_t delta);
/* Marks `node` dead and releases what it read. */
anvil_status anvil__pass_kill(anvil__graph *g, anvil__uses *u, int32_t node);
/* anvil__node_set_input (index == n_inputs appends), keeping u current. */
anvil_status anvil__pass_set_input(anvil__graph *g, anvil__uses *u, int32_t node, int32_t index,
                                   int32_t value);
/* The live node reading v when v has exactly one reference, from an input position (not a
 * subgraph capture), and is not a graph output; -1 otherwise. */
int32_t anvil__pass_sole_consumer(const anvil__graph *g, const anvil__uses *u, int32_t v);
/* The live node producing v, -1 for inputs, slots and values of dead nodes. */
int32_t anvil__pass_producer(const anvil__graph *g, int32_t v);
/* Whether run value v is a slot holding exactly one number; *out receives it as double. */
bool anvil__pass_scalar(const anvil__compile_state *st, int32_t v, double *out);
/* Whether every dim of the value is known (rank >= 0, dims >= 0). */
bool anvil__pass_shape_known(const anvil__value *v);
/* Whether two values have the same dtype and the same fully known shape. */
bool anvil__pass_same_shape(const anvil__value *a, const anvil__value *b);
/* Rewrites live node `node` in place as `op_type` (default domain) reading `inputs`; its
 * attributes and post-ops are dropped; its name, outputs and `fused` note are kept. u (may be
 * NULL when the caller keeps no counts) is kept current. */
anvil_status anvil__pass_rewrite_node(anvil__graph *g, anvil__uses *u, int32_t node,
                                      const char *op_type, const int32_t *inputs,
                                      int32_t n_inputs);
/* Makes `node` write `value` as its output `index` (taking over a value another node wrote;
 * the value it wrote before is left without a producer). */
void anvil__pass_take_output(anvil__graph *g, int32_t node, int32_t index, int32_t value);
/* For a live node computing `out` equal to `in` (same dtype, shape and bytes): kills it
 * after making every reader of `out` read `in` or, when `out` is a graph output, after making
 * the producer of `in` write `out` (only if `in` has no other reader and is not an output).
 * *done is false, and nothing changes, when neither is possible or `out` is captured by a
 * subgraph. */
anvil_status anvil__pass_bypass(anvil__graph *g, anvil__uses *u, int32_t node, int32_t in,
                                int32_t out, bool *done);
/* The sole consumer of v (see anvil__pass_sole_consumer) when it is op `op`, else -1. */
int32_t anvil__pass_consumer_op(const anvil__graph *g, const anvil__uses *u, int32_t v,
                                int32_t op);
/* The input of two-input node n that is not v (-1 if v is not exactly one of its inputs). */
int32_t anvil__pass_other_input(const anvil__node *n, int32_t v);
/* Whether run value v is a one-element slot within rel_tol (relative) of `target`. */
bool anvil__pass_is_const(const anvil__compile_state *st, int32_t v, double target,
                          double rel_tol);
/* GELU recognition (patterns_gelu.c), run by the patterns pass on each Erf or Tanh node:
 * rewrites x * 0.5 * (1 + erf(x / sqrt 2)) (any association torch emits) as Gelu, and the tanh
 * form 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) as Gelu approximate="tanh". */
anvil_status anvil__pass_gelu(anvil__compile_state *st, anvil__uses *u, int32_t node,
                              bool *changed);
/* Attribute setters on node `node` (replacing an attribute of the same name). */
anvil_status anvil__pass_set_attr_int(anvil__graph *g, int32_t node, const char *name,
                                      int64_t v);
anvil_status anvil__pass_set_attr_float(anvil__graph *g, int32_t node, const char *name,
                                        double v);
anvil_status anvil__pass_set_attr_string(anvil__graph *g, int32_t node, const char *name,
                                         const char *v);
anvil_status anvil__pass_set_attr_ints(anvil__graph *g, int32_t node, const char *name,
                                       const int64_t *v, size_t n);

#endif /* ANVIL_PASSES_H */
