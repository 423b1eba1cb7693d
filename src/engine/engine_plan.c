/*
 * engine_plan.c — glue between the planner and the engine: builds the compile-time plan,
 * turns the planner's pack requests into Pack ops of the weight graph (new slots), and
 * replans for other input shapes with the same tactics and weight layouts.
 */
#include "engine/engine_internal.h"

#include <stdio.h>
#include <string.h>

static anvil_status set_int_attr(anvil__graph *g, int32_t node, const char *name, int64_t v) {
    anvil__attr *a;
    anvil_status s = anvil__node_add_attr(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_INT;
    a->i = v;
    return ANVIL_OK;
}

static bool same_shape(const anvil__value *a, const anvil__value *b) {
    if (a->dtype != b->dtype || a->rank != b->rank) return false;
    for (int32_t d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d] || a->dims[d] < 0) return false;
    return true;
}

/* When weight value `v` is Mul(X, R) with R an f32 scale per index of dim 0 ([C, 1, ...]),
 * the Pack reads (X, R) and scales while packing (a folded BatchNorm), so a refit does not
 * write the product; the Mul stays for anything else that reads v. */
static void fuse_scale(const anvil_engine *e, int32_t v, int32_t *ins, int32_t *n_ins) {
    const anvil__graph *w = e->weights;
    int32_t p = w->values[v].producer;
    if (!e->backend->pack_view || p < 0 || w->nodes[p].op != ANVIL_OP_Mul ||
        w->nodes[p].n_inputs != 2)
        return;
    const anvil__value *out = &w->values[v];
    for (int32_t k = 0; k < 2; k++) {
        int32_t x = w->nodes[p].inputs[k], r = w->nodes[p].inputs[1 - k];
        if (x < 0 || r < 0 || x == r) continue;
        const anvil__value *xv = &w->values[x], *rv = &w->values[r];
        anvil__tensor weight = {.dtype = out->dtype, .rank = out->rank};
        memcpy(weight.dims, out->dims, sizeof weight.dims);
        if (!same_shape(xv, out) || !anvil__pack_scale_fits(rv->dtype, rv->rank, rv->dims, &weight))
            continue;
        ins[0] = x;
        ins[1] = r;
        *n_ins = 2;
        return;
    }
}

/* Adds slot = Pack(slot `plain`, layout) to the weight graph and the run graph. */
static anvil_status add_pack_slot(anvil_engine *e, int32_t plain, const anvil__layout *layout,
                                  int32_t *new_slot) {
    anvil__graph *w = e->weights, *run = e->run;
    if (run->n_inits != w->n_outputs)
        return anvil__error(ANVIL_STATUS_INTERNAL, "slot tables out of step (%d vs %d)",
                            (int)run->n_inits, (int)w->n_outputs);
    const anvil__value *src = &run->values[run->inits[plain].value];
    char name[512];
    int32_t wv = -1, rv = -1, node = -1;
    for (int k = 0;; k++) { /* a name unused in both graphs */
        snprintf(name, sizeof name, "%s#packed%d", src->name, k);
        if (anvil__graph_find(w, name) < 0 && anvil__graph_find(run, name) < 0) break;
    }
    int32_t w_in[2] = {w->outputs[plain], -1}, n_in = 1;
    fuse_scale(e, w_in[0], w_in, &n_in);
    anvil_status s = anvil__graph_add_value(w, name, &wv);
    if (s == ANVIL_OK) s = anvil__graph_add_node(w, name, "Pack", "anvil", w_in, n_in, &wv, 1, &node);
    if (s != ANVIL_OK) return s;
    w->nodes[node].op = anvil__op_find_internal("Pack");
    anvil__attr *a;
    s = set_int_attr(w, node, "backend", (int64_t)e->backend->kind);
    if (s == ANVIL_OK) s = set_int_attr(w, node, "kind", layout->kind);
    if (s == ANVIL_OK) s = set_int_attr(w, node, "bytes", (int64_t)layout->bytes);
    if (s == ANVIL_OK) s = anvil__node_add_attr(w, node, "layout", &a);
    if (s != ANVIL_OK) return s;
    a->kind = ANVIL_ATTR_STRING;
    a->s = anvil__malloc(layout->size + 1);
    if (!a->s) return ANVIL_STATUS_OUT_OF_MEMORY;
    memcpy(a->s, layout->blob, layout->size);
    a->s[layout->size] = '\0';
    a->s_len = layout->size;
    anvil__value *wval = &w->values[wv];
    wval->dtype = src->dtype;
    wval->rank = src->rank;
    memcpy(wval->dims, src->dims, sizeof src->dims);
    s = anvil__graph_add_output(w, wv);
    if (s == ANVIL_OK) s = anvil__graph_add_value(run, name, &rv);
    if (s != ANVIL_OK) return s;
    anvil__tensor t = run->inits[plain].t; /* the run graph keeps the logical shape */
    t.data = NULL;
    s = anvil__graph_add_init(run, rv, &t, false);
    if (s != ANVIL_OK) return s;
    anvil__slot_info *slots = anvil__realloc(e->slots, (size_t)(run->n_inits + 1) * sizeof *slots);
    if (!slots) return ANVIL_STATUS_OUT_OF_MEMORY;
    e->slots = slots;
    anvil__slot_info *si = &slots[run->n_inits - 1];
    memset(si, 0, sizeof *si);
    si->shape = t;
    si->shape.bytes = layout->bytes; /* padded blocked formats can be larger */
    si->layout = *layout;
    *new_slot = run->n_inits - 1;
    return ANVIL_OK;
}

anvil_status anvil__engine_plan(anvil_engine *e, const anvil__tensor *input_shapes, bool compile,
                               anvil_progress_fn progress, void *progress_user) {
    anvil__plan_request req = {e->backend,
                               e->run,
                               input_shapes,
                               e->slots,
                               e->options.threads,
                               compile && e->options.autotune,
                               (e->options.disabled_passes & (1u << ANVIL_PASS_LAYOUT)) != 0 ||
                                   e->options.opt_level == 0,
                               e->options.precision,
                               compile ? NULL : e->plan,
                               progress,
                               progress_user};
    anvil__plan *plan = NULL;
    anvil__pack_request *packs = NULL;
    int32_t n_packs = 0;
    anvil_status s = anvil__plan_build(&req, &plan, &packs, &n_packs);
    if (s != ANVIL_OK) return s;
    for (int32_t i = 0; i < n_packs && s == ANVIL_OK; i++) {
        int32_t slot = -1;
        s = add_pack_slot(e, packs[i].slot, &packs[i].layout, &slot);
        if (s == ANVIL_OK) plan->bufs[packs[i].buf].index = slot;
    }
    anvil__free(packs);
    if (s != ANVIL_OK) {
        anvil__plan_destroy(e->backend, plan);
        return s;
    }
    e->plan = plan;
    return ANVIL_OK;
}

anvil_status anvil__engine_replan(const anvil_engine *e, const anvil__tensor *input_shapes,
                                  anvil__plan **out) {
    anvil__plan_request req = {e->backend, e->run, input_shapes, e->slots, e->options.threads,
                               false,
                               (e->options.disabled_passes & (1u << ANVIL_PASS_LAYOUT)) != 0 ||
                                   e->options.opt_level == 0,
                               e->options.precision, e->plan, NULL, NULL};
    anvil__pack_request *packs = NULL;
    int32_t n_packs = 0;
    anvil_status s = anvil__plan_build(&req, out, &packs, &n_packs);
    anvil__free(packs);
    if (s == ANVIL_OK && n_packs)
        s = anvil__error(ANVIL_STATUS_INTERNAL, "replanning asked for new weight layouts");
    return s;
}

/* Per slot: whether the plan reads it, for all slots in one pass over the plan's buffers. */
static void slots_read_by_plan(const anvil_engine *e, bool *read) {
    const anvil__plan *p = e->plan;
    int32_t n = e->weights->n_outputs;
    memset(read, 0, (size_t)n * sizeof *read);
    for (int32_t i = 0; i < p->n_bufs; i++)
        if (p->bufs[i].kind == ANVIL_BUF_SLOT && p->bufs[i].last >= 0 && p->bufs[i].index >= 0 &&
            p->bufs[i].index < n)
            read[p->bufs[i].index] = true;
}

static bool slot_read_by_plan(const anvil_engine *e, int32_t slot) {
    const anvil__plan *p = e->plan;
    for (int32_t i = 0; i < p->n_bufs; i++)
        if (p->bufs[i].kind == ANVIL_BUF_SLOT && p->bufs[i].index == slot && p->bufs[i].last >= 0)
            return true;
    return false;
}

bool anvil__slot_stored(const anvil_engine *e, int32_t slot) {
    return slot_read_by_plan(e, slot) || e->slots[slot].shape.bytes <= ANVIL_SMALL_SLOT_BYTES;
}

void anvil__slots_stored(const anvil_engine *e, bool *stored) {
    slots_read_by_plan(e, stored);
    for (int32_t i = 0; i < e->weights->n_outputs; i++)
        stored[i] |= e->slots[i].shape.bytes <= ANVIL_SMALL_SLOT_BYTES;
}

void anvil__weights_live_at_run(const anvil_engine *e, bool *live) {
    const anvil__graph *w = e->weights;
    memset(live, 0, (size_t)w->n_values * sizeof *live);
    bool *read = anvil__calloc((size_t)w->n_outputs + 1, sizeof *read);
    if (read) slots_read_by_plan(e, read);
    for (int32_t i = 0; i < w->n_outputs; i++) /* without memory: one slot at a time */
        if (read ? read[i] : slot_read_by_plan(e, i)) live[w->outputs[i]] = true;
    anvil__free(read);
    anvil__weights_live_back(w, live); /* a Pack's input feeds its packed slot */
}

void anvil__weights_live_back(const anvil__graph *w, bool *live) {
    for (int32_t n = w->n_nodes - 1; n >= 0; n--) { /* nodes are in topological order */
        const anvil__node *node = &w->nodes[n];
        bool l = false;
        for (int32_t o = 0; o < node->n_outputs; o++) l |= node->outputs[o] >= 0 && live[node->outputs[o]];
        for (int32_t k = 0; l && k < node->n_inputs; k++)
            if (node->inputs[k] >= 0) live[node->inputs[k]] = true;
    }
}
