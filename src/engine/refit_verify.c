/*
 * refit_verify.c — the `verify` option of a refit: before a staged weight set is swapped in,
 * run it through the engine and compare with the reference interpreter running the engine's
 * own run graph on the same sources, unpacked (the weight graph evaluated with every Pack as
 * an identity). It checks what a refit can get wrong — recipes, packing, the kernels fed with
 * packed weights — independently of the backend; it does not re-check the compile passes.
 */
#include "engine/refit_sources.h"

#include "interp/interp.h"
#include "passes/passes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every slot in its plain layout: the weight graph with Pack nodes read as Identity (a Pack
 * with scales as their Mul). */
static anvil_status plain_slots(const anvil_engine *e, const anvil__refit_sources *src,
                                anvil__tensor *slots) {
    anvil__graph *w = NULL;
    anvil_status s = anvil__pass_clone_graph(e->weights, NULL, true, &w);
    for (int32_t n = 0; s == ANVIL_OK && n < w->n_nodes; n++)
        if (w->nodes[n].op == ANVIL_OP_Pack)
            w->nodes[n].op = w->nodes[n].n_inputs == 2 ? ANVIL_OP_Mul : ANVIL_OP_Identity;
    if (s == ANVIL_OK) s = anvil__interp_run(w, NULL, src->t, slots);
    anvil__graph_destroy(w);
    return s;
}

/* Reference outputs: the run graph interpreted with the plain slots as its initializers. */
static anvil_status reference_run(const anvil_engine *e, const anvil__tensor *slots,
                                  const anvil_tensor *given, size_t n_given, anvil__tensor *out) {
    const anvil__graph *run = e->run;
    size_t *order = anvil__calloc((size_t)run->n_inputs + 1, sizeof *order);
    anvil__tensor *in = anvil__calloc((size_t)run->n_inputs + 1, sizeof *in);
    anvil__graph *g = NULL;
    anvil_status s = order && in ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = anvil__interp_check_inputs(run, given, n_given, order);
    for (int32_t i = 0; s == ANVIL_OK && i < run->n_inputs; i++) {
        const anvil_tensor *t = &given[order[i]];
        s = anvil__tensor_shape(&in[i], t->dtype, t->rank, t->dims);
        in[i].data = t->data;
    }
    if (s == ANVIL_OK) s = anvil__pass_unfuse(run, &g); /* the interpreter has no post-ops */
    for (int32_t i = 0; s == ANVIL_OK && i < run->n_inits; i++) { /* slots come first */
        g->inits[i].t.data = slots[i].data; /* borrowed: the clone does not own it */
        g->inits[i].t.bytes = slots[i].bytes;
        g->inits[i].owned = false;
    }
    if (s == ANVIL_OK) s = anvil__interp_run(g, NULL, in, out);
    anvil__graph_destroy(g);
    anvil__free(order);
    anvil__free(in);
    return s;
}

/* max |a - b| / max |b| over two outputs of one shape (absolute when b is all zeros; any
 * difference in a non-float output counts as infinite). */
static double relative_error(const anvil_tensor *a, const anvil__tensor *b) {
    if (a->dtype != b->dtype || a->bytes != b->bytes) return INFINITY;
    size_t n = anvil_dtype_size(a->dtype) ? a->bytes / anvil_dtype_size(a->dtype) : 0;
    if (!anvil__dtype_is_float(a->dtype))
        return memcmp(a->data, b->data, a->bytes) == 0 ? 0.0 : INFINITY;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double x = anvil__load_f64(a->dtype, a->data, i), y = anvil__load_f64(b->dtype, b->data, i);
        double d = fabs(x - y);
        if (isnan(d)) d = (isnan(x) && isnan(y)) ? 0.0 : INFINITY;
        if (d > diff) diff = d;
        if (fabs(y) > scale) scale = fabs(y);
    }
    return scale > 0 ? diff / scale : diff;
}

/* The worst output: its index and relative error. */
static void compare(const anvil_engine *e, const anvil_tensor_list *got, const anvil__tensor *want,
                    double *worst, int32_t *worst_output) {
    for (int32_t o = 0; o < e->run->n_outputs; o++) {
        double err = relative_error(anvil_tensor_list_get(got, (size_t)o), &want[o]);
        if (*worst_output < 0 || err > *worst) {
            *worst = err;
            *worst_output = o;
        }
    }
}

anvil_status anvil__refit_verify(const anvil_engine *e, const anvil__weight_set *set,
                                 const anvil__refit_sources *sources,
                                 const anvil_refit_options *o, double *worst,
                                 int32_t *worst_output) {
    *worst = 0;
    *worst_output = -1;
    const anvil__graph *run = e->run;
    anvil__tensor *slots = anvil__calloc((size_t)e->weights->n_outputs + 1, sizeof *slots);
    anvil__tensor *want = anvil__calloc((size_t)run->n_outputs + 1, sizeof *want);
    anvil_context *ctx = NULL;
    anvil_tensor_list *got = NULL;
    anvil_status s = slots && want ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = plain_slots(e, sources, slots);
    if (s == ANVIL_OK) s = reference_run(e, slots, o->verify_inputs, o->n_verify_inputs, want);
    if (s == ANVIL_OK) s = anvil_context_create(e, &ctx);
    if (s == ANVIL_OK)
        s = anvil__engine_run_set(ctx, set, o->verify_inputs, o->n_verify_inputs, &got);
    if (s == ANVIL_OK) compare(e, got, want, worst, worst_output);
    anvil_tensor_list_destroy(got);
    anvil_context_destroy(ctx);
    for (int32_t i = 0; slots && i < e->weights->n_outputs; i++) anvil__free(slots[i].data);
    for (int32_t i = 0; want && i < run->n_outputs; i++) anvil__free(want[i].data);
    anvil__free(slots);
    anvil__free(want);
    return s;
}
