/*
 * passes_harness.h — shared by the pass tests: building graphs by hand, running a compile
 * state's weight graph and run graph (fused post-ops expanded back into plain nodes) through
 * the reference interpreter, and comparing with the original graph.
 */
#ifndef ANVIL_PASSES_HARNESS_H
#define ANVIL_PASSES_HARNESS_H

#include "interp/interp.h"
#include "passes/passes.h"

#include "check.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

/* ---- building graphs by hand ---- */

static uint32_t rng_state = 12345;
static inline float frand(float lo, float hi) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng_state >> 8) / (float)(1u << 24);
}

static inline anvil__graph *new_graph(int64_t opset) {
    anvil__graph *g = anvil__graph_new(NULL);
    g->opset = opset;
    g->name = anvil__strdup("test");
    return g;
}

static inline int32_t add_input(anvil__graph *g, const char *name, int32_t rank,
                                const int64_t *dims) {
    int32_t v;
    CHECK_OK(anvil__graph_add_value(g, name, &v));
    g->values[v].dtype = ANVIL_DTYPE_F32;
    g->values[v].rank = rank;
    memcpy(g->values[v].dims, dims, (size_t)rank * sizeof *dims);
    CHECK_OK(anvil__graph_add_input(g, v));
    return v;
}

/* Initializer of `dtype` with values vals (or, when NULL, random f32 in [lo, hi]). */
static inline int32_t add_init(anvil__graph *g, const char *name, anvil_dtype dtype, int32_t rank,
                               const int64_t *dims, const double *vals, float lo, float hi) {
    anvil__tensor t;
    memset(&t, 0, sizeof t);
    CHECK_OK(anvil__tensor_shape(&t, dtype, rank, dims));
    CHECK_OK(anvil__tensor_alloc(&t));
    for (int64_t i = 0; i < anvil__tensor_numel(&t); i++)
        anvil__store_f64(dtype, t.data, (size_t)i, vals ? vals[i] : frand(lo, hi));
    int32_t v;
    CHECK_OK(anvil__graph_add_value(g, name, &v));
    CHECK_OK(anvil__graph_add_init(g, v, &t, true));
    return v;
}

static inline int32_t scalar(anvil__graph *g, const char *name, double x) {
    return add_init(g, name, ANVIL_DTYPE_F32, 0, NULL, &x, 0, 0);
}

/* Appends node op_type(inputs...) with one output `out`; returns the output value. */
static inline int32_t node(anvil__graph *g, const char *op_type, const char *out, int n_in, ...) {
    int32_t ins[8], v;
    va_list ap;
    va_start(ap, n_in);
    for (int i = 0; i < n_in; i++)
        ins[i] = (int32_t)va_arg(ap, int);
    va_end(ap);
    CHECK_OK(anvil__graph_value(g, out, &v));
    int32_t id;
    CHECK_OK(anvil__graph_add_node(g, out, op_type, "", ins, n_in, &v, 1, &id));
    g->nodes[id].op = anvil__op_find(op_type, "");
    CHECK(g->nodes[id].op >= 0);
    return v;
}

static inline anvil__attr *attr(anvil__graph *g, const char *name, anvil__attr_kind kind) {
    anvil__attr *a;
    CHECK_OK(anvil__node_add_attr(g, g->n_nodes - 1, name, &a));
    a->kind = kind;
    return a;
}
static inline void attr_i(anvil__graph *g, const char *name, int64_t v) {
    attr(g, name, ANVIL_ATTR_INT)->i = v;
}
static inline void attr_f(anvil__graph *g, const char *name, double v) {
    attr(g, name, ANVIL_ATTR_FLOAT)->f = v;
}
static inline void attr_ints(anvil__graph *g, const char *name, int n, const int64_t *v) {
    anvil__attr *a = attr(g, name, ANVIL_ATTR_INTS);
    a->ints = anvil__malloc((size_t)n * sizeof *v + 1);
    memcpy(a->ints, v, (size_t)n * sizeof *v);
    a->n = (size_t)n;
}
static inline void attr_tensor_i64(anvil__graph *g, const char *name, int n, const int64_t *v) {
    anvil__attr *a = attr(g, name, ANVIL_ATTR_TENSOR);
    int64_t len = n;
    CHECK_OK(anvil__tensor_shape(&a->t, ANVIL_DTYPE_I64, 1, &len));
    CHECK_OK(anvil__tensor_alloc(&a->t));
    memcpy(a->t.data, v, (size_t)n * sizeof *v);
}

static inline void add_output(anvil__graph *g, int32_t v) {
    CHECK_OK(anvil__graph_add_output(g, v));
}

/* ---- running graphs ---- */

static inline anvil__tensor *random_inputs(const anvil__graph *g) {
    anvil__tensor *in = calloc((size_t)g->n_inputs + 1, sizeof *in);
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const anvil__value *v = &g->values[g->inputs[i]];
        CHECK_OK(anvil__tensor_shape(&in[i], v->dtype, v->rank, v->dims));
        CHECK_OK(anvil__tensor_alloc(&in[i]));
        for (int64_t k = 0; k < anvil__tensor_numel(&in[i]); k++)
            ((float *)in[i].data)[k] = frand(-2, 2);
    }
    return in;
}

static inline void free_tensors(anvil__tensor *t, int32_t n) {
    for (int32_t i = 0; t && i < n; i++)
        anvil__free(t[i].data);
}

/* max |a - b| / max(max |b|, 1e-30) over f32 tensors; 1e30 on a shape mismatch. */
static inline double rel_error(const anvil__tensor *a, const anvil__tensor *b) {
    if (a->dtype != b->dtype || a->bytes != b->bytes || a->rank != b->rank) return 1e30;
    int64_t n = anvil__tensor_numel(a);
    double err = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double x = anvil__load_f64(a->dtype, a->data, (size_t)i);
        double y = anvil__load_f64(b->dtype, b->data, (size_t)i);
        err = fmax(err, fabs(x - y));
        scale = fmax(scale, fabs(y));
    }
    return err / scale;
}

/* A copy of `run` with its post-ops expanded into plain nodes (the interpreter can run it). */
static inline anvil__graph *unfuse(const anvil__graph *run) {
    anvil__graph *g = NULL;
    CHECK_OK(anvil__pass_unfuse(run, &g));
    return g;
}

/* Sources of the weight graph (model initializers by name), borrowed. */
static inline anvil__tensor *sources_of(const anvil__graph *w, const anvil__graph *model) {
    anvil__tensor *src = calloc((size_t)w->n_inputs + 1, sizeof *src);
    for (int32_t i = 0; i < w->n_inputs; i++) {
        int32_t mv = anvil__graph_find(model, w->values[w->inputs[i]].name);
        CHECK(mv >= 0 && model->values[mv].init >= 0);
        if (mv >= 0 && model->values[mv].init >= 0) src[i] = model->inits[model->values[mv].init].t;
    }
    return src;
}

/* Checks that the state computes what `model` does on `inputs` (relative tolerance tol), with
 * slots from evaluating the recipes on the sources of `model`: the model the state was built
 * from, whose slots the recipes must then reproduce bit for bit, or another version of it with
 * other weights (a refit). Returns the relative error. */
static inline double check_state(const anvil__graph *model, const anvil__compile_state *st,
                                 const anvil__tensor *inputs, double tol) {
    const anvil__graph *w = st->weights, *run = st->run;
    CHECK_EQ(w->n_outputs, run->n_inits);
    anvil__tensor *src = sources_of(w, model);
    anvil__tensor *slots = calloc((size_t)w->n_outputs + 1, sizeof *slots);
    CHECK_OK(anvil__interp_run(w, NULL, src, slots));
    anvil__graph *g = unfuse(run);
    for (int32_t i = 0; i < w->n_outputs && i < run->n_inits; i++) {
        CHECK_STR_EQ(w->values[w->outputs[i]].name, run->values[run->inits[i].value].name);
        const anvil__tensor *a = &run->inits[i].t;
        CHECK_EQ(slots[i].bytes, a->bytes);
        if (model == st->model && slots[i].bytes == a->bytes && a->bytes &&
            memcmp(slots[i].data, a->data, a->bytes) != 0) {
            fprintf(stderr, "slot '%s' differs from its recipe's result\n",
                    w->values[w->outputs[i]].name);
            CHECK(false);
        }
        if (g->inits[i].owned) anvil__free(g->inits[i].t.data);
        g->inits[i].t = slots[i];  /* the unfused copy keeps the init order */
        g->inits[i].owned = false; /* slots are freed below */
    }
    anvil__tensor *want = calloc((size_t)model->n_outputs + 1, sizeof *want);
    anvil__tensor *got = calloc((size_t)run->n_outputs + 1, sizeof *got);
    double err = 1e30;
    CHECK_EQ(model->n_outputs, run->n_outputs);
    CHECK_OK(anvil__interp_run(model, NULL, inputs, want));
    if (anvil__interp_run(g, NULL, inputs, got) == ANVIL_OK) {
        err = 0;
        for (int32_t o = 0; o < model->n_outputs; o++) {
            CHECK_STR_EQ(model->values[model->outputs[o]].name, run->values[run->outputs[o]].name);
            err = fmax(err, rel_error(&got[o], &want[o]));
        }
    } else {
        fprintf(stderr, "optimized graph failed: %s\n", anvil_last_error());
    }
    if (!(err <= tol)) fprintf(stderr, "relative error %g over %g\n", err, tol);
    CHECK(err <= tol);
    anvil__graph_destroy(g);
    free_tensors(slots, w->n_outputs);
    free_tensors(want, model->n_outputs);
    free_tensors(got, run->n_outputs);
    free(slots);
    free(src);
    free(want);
    free(got);
    return err;
}

static inline int count_op(const anvil__graph *g, const char *op_type) {
    int n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        if (!(g->nodes[i].flags & ANVIL_NODE_DEAD) && strcmp(g->nodes[i].op_type, op_type) == 0)
            n++;
    return n;
}

static inline int count_fused(const anvil__graph *g) {
    int n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        n += g->nodes[i].n_post;
    return n;
}

/* Initializes a state over `model` at opt level 2 with the model's declared input shapes. */
static inline void state_init(anvil__compile_state *st, const anvil__graph *model,
                              const anvil__tensor *opt) {
    memset(st, 0, sizeof *st);
    CHECK_OK(anvil__compile_state_init(st, model));
    st->opt_inputs = opt;
    st->opt_level = 2;
}

/* Runs one pass (with shape inference before and compaction after). */
static inline void run_pass(anvil__compile_state *st,
                            anvil_status (*pass)(anvil__compile_state *)) {
    CHECK_OK(anvil__pass_infer_shapes(st));
    CHECK_OK(pass(st));
    CHECK_OK(anvil__compile_compact(st));
    CHECK_OK(anvil__pass_infer_shapes(st));
    CHECK_OK(anvil__graph_verify(st->run));
    CHECK_OK(anvil__graph_verify(st->weights));
}

#endif /* ANVIL_PASSES_HARNESS_H */
