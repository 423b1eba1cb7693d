/*
 * plan_build.c — turns a run graph into an execution plan for concrete input shapes: a tactic
 * per node (timed against each other on these shapes when autotuning), layouts negotiated
 * between producers and consumers (a reorder step where they differ), weights requested in the
 * layout each kernel wants (the compiler packs them), and buffers for every tensor.
 */
#include "plan/plan.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static bool layout_equal(const anvil__layout *a, const anvil__layout *b) {
    if (a->kind != b->kind) return false;
    if (a->kind == ANVIL_LAYOUT_PLAIN) return true;
    return a->size == b->size && memcmp(a->blob, b->blob, a->size) == 0;
}

static size_t layout_bytes(const anvil__layout *l, const anvil__tensor *shape) {
    return l->kind == ANVIL_LAYOUT_PLAIN ? shape->bytes : l->bytes;
}

static anvil_status grow(void **items, int32_t *cap, int32_t count, size_t elem) {
    if (count < *cap) return ANVIL_OK;
    int32_t ncap = *cap ? *cap * 2 : 64;
    void *p = anvil__realloc(*items, (size_t)ncap * elem);
    if (!p) return ANVIL_STATUS_OUT_OF_MEMORY;
    *items = p;
    *cap = ncap;
    return ANVIL_OK;
}

static anvil_status add_buf(anvil__plan *p, anvil__buf_kind kind, int32_t index, int32_t value,
                            const anvil__tensor *shape, const anvil__layout *layout,
                            int32_t *out) {
    anvil_status s = grow((void **)&p->bufs, &p->cap_bufs, p->n_bufs, sizeof *p->bufs);
    if (s != ANVIL_OK) return s;
    anvil__buf *b = &p->bufs[p->n_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->index = index;
    b->value = value;
    b->shape = *shape;
    b->shape.data = NULL;
    b->layout = *layout;
    b->bytes = layout_bytes(layout, shape);
    b->first = b->last = -1;
    b->alias_of = -1;
    *out = p->n_bufs++;
    return ANVIL_OK;
}

static anvil_status add_step(anvil__plan *p, int32_t node, int32_t tactic, anvil__kernel *k,
                             int32_t n_in, const int32_t *in, int32_t n_out, const int32_t *out,
                             size_t scratch) {
    anvil_status s = grow((void **)&p->steps, &p->cap_steps, p->n_steps, sizeof *p->steps);
    if (s != ANVIL_OK) return s;
    anvil__plan_step *st = &p->steps[p->n_steps];
    memset(st, 0, sizeof *st);
    st->in = anvil__malloc_array((size_t)(n_in ? n_in : 1), sizeof *st->in);
    st->out = anvil__malloc_array((size_t)(n_out ? n_out : 1), sizeof *st->out);
    if (!st->in || !st->out) {
        anvil__free(st->in);
        anvil__free(st->out);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    memcpy(st->in, in, sizeof *in * (size_t)n_in);
    memcpy(st->out, out, sizeof *out * (size_t)n_out);
    st->node = node;
    st->tactic = tactic;
    st->kernel = k;
    st->n_in = n_in;
    st->n_out = n_out;
    st->scratch_bytes = scratch;
    if (scratch > p->scratch_bytes) p->scratch_bytes = scratch;
    p->n_steps++;
    return ANVIL_OK;
}

typedef struct builder {
    const anvil__plan_request *req;
    int32_t *ref_step;      /* replanning: per node, its step in the reference plan */
    anvil__plan *plan;
    anvil__tensor *shapes;  /* per value */
    int32_t *home;          /* per value: buffer holding it as produced */
    anvil__pack_request *packs;
    int32_t n_packs, cap_packs;
} builder;

/* Buffer holding value v in `want`, adding a reorder step from its home buffer if needed. */
static anvil_status buffer_in_layout(builder *b, int32_t v, const anvil__layout *want,
                                     int32_t *out) {
    anvil__plan *p = b->plan;
    int32_t home = b->home[v];
    if (layout_equal(&p->bufs[home].layout, want)) {
        *out = home;
        return ANVIL_OK;
    }
    for (int32_t i = 0; i < p->n_bufs; i++) /* reuse an earlier reorder of the same value */
        if (p->bufs[i].value == v && p->bufs[i].kind == ANVIL_BUF_ARENA &&
            layout_equal(&p->bufs[i].layout, want)) {
            *out = i;
            return ANVIL_OK;
        }
    anvil_status s = add_buf(p, ANVIL_BUF_ARENA, -1, v, &b->shapes[v], want, out);
    if (s == ANVIL_OK) s = add_step(p, -1, -1, NULL, 1, &home, 1, out, 0);
    return s;
}

/* The reference plan's buffer for input i of node ni (replanning). */
static const anvil__buf *reference_input(const builder *b, int32_t ni, int32_t i) {
    const anvil__plan *ref = b->req->reference;
    const anvil__plan_step *st = &ref->steps[b->ref_step[ni]];
    return i < st->n_in && st->in[i] >= 0 ? &ref->bufs[st->in[i]] : NULL;
}

/* Buffer for a weight input wanted in `want`: the slot itself, or a packed copy (at compile
 * time a pack request; when replanning, the slot the compiled plan packed). */
static anvil_status weight_buffer(builder *b, int32_t ni, int32_t i, const anvil__layout *want,
                                  int32_t *out) {
    const anvil__graph *run = b->req->run;
    int32_t v = run->nodes[ni].inputs[i];
    int32_t slot = run->values[v].init;
    int32_t home = b->home[v];
    if (layout_equal(&b->plan->bufs[home].layout, want)) {
        *out = home;
        return ANVIL_OK;
    }
    if (b->req->reference) {
        const anvil__buf *rb = b->ref_step[ni] >= 0 ? reference_input(b, ni, i) : NULL;
        if (!rb || rb->kind != ANVIL_BUF_SLOT || !layout_equal(&rb->layout, want))
            return anvil__error(ANVIL_STATUS_INTERNAL,
                                "weight '%s' is packed in another layout than the kernel wants",
                                run->values[v].name);
        for (int32_t k = 0; k < b->plan->n_bufs; k++)
            if (b->plan->bufs[k].kind == ANVIL_BUF_SLOT && b->plan->bufs[k].index == rb->index) {
                *out = k;
                return ANVIL_OK;
            }
        return add_buf(b->plan, ANVIL_BUF_SLOT, rb->index, v, &b->shapes[v], want, out);
    }
    for (int32_t k = 0; k < b->n_packs; k++)
        if (b->packs[k].slot == slot && layout_equal(&b->packs[k].layout, want)) {
            *out = b->packs[k].buf;
            return ANVIL_OK;
        }
    anvil_status s = add_buf(b->plan, ANVIL_BUF_SLOT, -1, v, &b->shapes[v], want, out);
    if (s == ANVIL_OK) s = grow((void **)&b->packs, &b->cap_packs, b->n_packs, sizeof *b->packs);
    if (s != ANVIL_OK) return s;
    b->packs[b->n_packs].slot = slot;
    b->packs[b->n_packs].buf = *out;
    b->packs[b->n_packs].layout = *want;
    b->n_packs++;
    return ANVIL_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Times a kernel on scratch buffers of the right sizes (values do not matter for speed;
 * integer inputs are zero so index ops stay in range). Returns seconds of the best of 3. */
static double time_kernel(builder *b, const anvil__node *n, anvil__kernel *k,
                          const anvil__tensor *ins, const anvil__tensor *outs) {
    const anvil__backend *be = b->req->backend;
    void *in_ptrs[64] = {0}, *out_ptrs[64] = {0};
    double best = 1e30;
    void *scratch = NULL;
    size_t sb = be->kernel_scratch_bytes(be->ctx, k);
    bool ok = (scratch = be->alloc(be->ctx, sb ? sb : 1)) != NULL;
    for (int32_t i = 0; ok && i < n->n_inputs; i++) {
        if (n->inputs[i] < 0) continue;
        anvil__layout l;
        be->kernel_input_layout(be->ctx, k, i, &l);
        size_t bytes = layout_bytes(&l, &ins[i]);
        ok = (in_ptrs[i] = be->alloc(be->ctx, bytes ? bytes : 1)) != NULL;
        if (ok) memset(in_ptrs[i], 0, bytes);
    }
    for (int32_t o = 0; ok && o < n->n_outputs; o++) {
        anvil__layout l;
        be->kernel_output_layout(be->ctx, k, o, &l);
        size_t bytes = layout_bytes(&l, &outs[o]);
        ok = (out_ptrs[o] = be->alloc(be->ctx, bytes ? bytes : 1)) != NULL;
    }
    anvil__exec_args args = {in_ptrs, out_ptrs, ins, outs, scratch};
    for (int rep = 0; ok && rep < 4; rep++) {
        double t0 = now_seconds();
        if (be->kernel_run(be->ctx, k, &args) != ANVIL_OK) {
            best = 1e30;
            break;
        }
        double t = now_seconds() - t0;
        if (rep > 0 && t < best) best = t; /* the first run warms caches */
    }
    for (int32_t i = 0; i < 64; i++) {
        if (in_ptrs[i]) be->free(be->ctx, in_ptrs[i]);
        if (out_ptrs[i]) be->free(be->ctx, out_ptrs[i]);
    }
    if (scratch) be->free(be->ctx, scratch);
    return best;
}

/* Creates the kernel for node ni: every candidate tactic, timed against each other when
 * autotuning, else the first that the backend accepts. */
static anvil_status choose_kernel(builder *b, int32_t ni, int32_t *tactic, anvil__kernel **out) {
    const anvil__plan_request *req = b->req;
    const anvil__backend *be = req->backend;
    const anvil__node *n = &req->run->nodes[ni];
    anvil__tensor ins[64], outs[64];
    anvil__layout in_layouts[64];
    bool is_weight[64];
    if (n->n_inputs > 64 || n->n_outputs > 64)
        return anvil__node_error(n, ANVIL_STATUS_LIMIT_EXCEEDED, "more than 64 inputs/outputs");
    for (int32_t i = 0; i < n->n_inputs; i++) {
        int32_t v = n->inputs[i];
        memset(&ins[i], 0, sizeof ins[i]);
        memset(&in_layouts[i], 0, sizeof in_layouts[i]);
        is_weight[i] = false;
        if (v < 0) continue;
        ins[i] = b->shapes[v];
        is_weight[i] = (req->run->values[v].flags & ANVIL_VALUE_INITIALIZER) != 0;
        if (!is_weight[i]) in_layouts[i] = b->plan->bufs[b->home[v]].layout;
        if (!is_weight[i]) ins[i].data = NULL; /* only constants' data is meaningful */
    }
    for (int32_t o = 0; o < n->n_outputs; o++)
        outs[o] = n->outputs[o] >= 0 ? b->shapes[n->outputs[o]] : (anvil__tensor){0};
    int32_t cands[16], n_cands;
    if (req->reference && b->ref_step[ni] >= 0) {
        cands[0] = req->reference->steps[b->ref_step[ni]].tactic;
        n_cands = 1;
    } else {
        n_cands = be->tactics(be->ctx, n, ins, n->n_inputs, cands, 16);
    }
    if (n_cands <= 0)
        return anvil__node_error(n, ANVIL_STATUS_UNSUPPORTED, "the %s backend cannot run this op",
                                 be->name);
    anvil__layout fixed[64];
    bool has_ref = req->reference && b->ref_step[ni] >= 0;
    for (int32_t i = 0; has_ref && i < n->n_inputs; i++) {
        const anvil__buf *rb = is_weight[i] ? reference_input(b, ni, i) : NULL;
        if (rb) fixed[i] = rb->layout;
        else memset(&fixed[i], 0, sizeof fixed[i]);
    }
    anvil__kernel *best = NULL;
    double best_time = 1e30;
    anvil_status last = ANVIL_OK;
    char first_error[512] = "";
    for (int32_t c = 0; c < n_cands; c++) {
        bool is_ref = strcmp(be->tactic_name(be->ctx, cands[c]), "ref") == 0;
        if (best && (is_ref || !req->autotune)) break;
        anvil__kernel_desc d = {n, req->run->opset, cands[c], n->n_inputs, n->n_outputs, ins,
                                outs, is_weight, in_layouts,
                                has_ref ? fixed : NULL, req->threads,
                                req->plain_layouts, req->precision};
        anvil__kernel *k = NULL;
        anvil_status s = be->kernel_create(be->ctx, &d, &k);
        if (s != ANVIL_OK) {
            if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", anvil_last_error());
            last = s;
            continue;
        }
        double t = (req->autotune && n_cands > 1) ? time_kernel(b, n, k, ins, outs) : 0.0;
        if (!best || t < best_time) {
            if (best) be->kernel_destroy(be->ctx, best);
            best = k;
            best_time = t;
            *tactic = cands[c];
        } else {
            be->kernel_destroy(be->ctx, k);
        }
    }
    if (!best)
        return anvil__node_error(n, last ? last : ANVIL_STATUS_UNSUPPORTED,
                                 "no tactic could be created: %s", first_error);
    *out = best;
    return ANVIL_OK;
}

/* Ops that only change the shape: on a plain input their output is the same bytes. */
static bool is_view_op(const anvil__node *n) {
    return (n->op == ANVIL_OP_Reshape || n->op == ANVIL_OP_Flatten || n->op == ANVIL_OP_Squeeze ||
            n->op == ANVIL_OP_Unsqueeze || n->op == ANVIL_OP_Identity) &&
           n->n_post == 0 && n->n_outputs == 1 && n->outputs[0] >= 0;
}

/* A view: the output buffer aliases the input's memory, no step runs. Inputs and slots are
 * not aliased (an output must not be the caller's buffer; slots change on refit). */
static anvil_status plan_view(builder *b, int32_t ni, bool *done) {
    const anvil__node *n = &b->req->run->nodes[ni];
    *done = false;
    int32_t v = n->inputs[0], home = b->home[v];
    anvil__plan *p = b->plan;
    if (p->bufs[home].kind != ANVIL_BUF_ARENA || p->bufs[home].layout.kind != ANVIL_LAYOUT_PLAIN)
        return ANVIL_OK;
    int32_t base = p->bufs[home].alias_of >= 0 ? p->bufs[home].alias_of : home;
    int32_t out = -1, vo = n->outputs[0];
    anvil__layout plain = {0};
    anvil_status s = add_buf(p, ANVIL_BUF_ARENA, -1, vo, &b->shapes[vo], &plain, &out);
    if (s != ANVIL_OK) return s;
    p->bufs[out].alias_of = base;
    b->home[vo] = out;
    *done = true;
    return ANVIL_OK;
}

static anvil_status plan_node(builder *b, int32_t ni) {
    const anvil__backend *be = b->req->backend;
    const anvil__node *n = &b->req->run->nodes[ni];
    if (is_view_op(n)) {
        bool done;
        anvil_status vs = plan_view(b, ni, &done);
        if (vs != ANVIL_OK || done) return vs;
    }
    int32_t tactic = -1;
    anvil__kernel *k = NULL;
    anvil_status s = choose_kernel(b, ni, &tactic, &k);
    if (s != ANVIL_OK) return s;
    int32_t in[64], out[64];
    for (int32_t i = 0; i < n->n_inputs && s == ANVIL_OK; i++) {
        int32_t v = n->inputs[i];
        in[i] = -1;
        if (v < 0) continue;
        anvil__layout want;
        be->kernel_input_layout(be->ctx, k, i, &want);
        s = (b->req->run->values[v].flags & ANVIL_VALUE_INITIALIZER)
                ? weight_buffer(b, ni, i, &want, &in[i])
                : buffer_in_layout(b, v, &want, &in[i]);
    }
    for (int32_t o = 0; o < n->n_outputs && s == ANVIL_OK; o++) {
        int32_t v = n->outputs[o];
        out[o] = -1;
        if (v < 0) continue;
        anvil__layout l;
        be->kernel_output_layout(be->ctx, k, o, &l);
        s = add_buf(b->plan, ANVIL_BUF_ARENA, -1, v, &b->shapes[v], &l, &out[o]);
        if (s == ANVIL_OK) b->home[v] = out[o];
    }
    if (s == ANVIL_OK)
        s = add_step(b->plan, ni, tactic, k, n->n_inputs, in, n->n_outputs, out,
                     be->kernel_scratch_bytes(be->ctx, k));
    if (s != ANVIL_OK) be->kernel_destroy(be->ctx, k);
    return s;
}

static anvil_status plan_sources(builder *b) {
    const anvil__graph *run = b->req->run;
    anvil__layout plain = {0};
    anvil_status s = ANVIL_OK;
    for (int32_t i = 0; i < run->n_inputs && s == ANVIL_OK; i++)
        s = add_buf(b->plan, ANVIL_BUF_INPUT, i, run->inputs[i], &b->shapes[run->inputs[i]],
                    &plain, &b->home[run->inputs[i]]);
    for (int32_t i = 0; i < run->n_inits && s == ANVIL_OK; i++) {
        int32_t v = run->inits[i].value;
        s = add_buf(b->plan, ANVIL_BUF_SLOT, i, v, &b->shapes[v], &b->req->slots[i].layout,
                    &b->home[v]);
    }
    return s;
}

static anvil_status plan_outputs(builder *b) {
    const anvil__graph *run = b->req->run;
    anvil__plan *p = b->plan;
    p->output_bufs = anvil__malloc_array((size_t)(run->n_outputs + 1), sizeof *p->output_bufs);
    if (!p->output_bufs) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__layout plain = {0};
    for (int32_t o = 0; o < run->n_outputs; o++) {
        anvil_status s = buffer_in_layout(b, run->outputs[o], &plain, &p->output_bufs[o]);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static void mark_lifetimes(anvil__plan *p) {
    for (int32_t si = 0; si < p->n_steps; si++) {
        const anvil__plan_step *st = &p->steps[si];
        for (int32_t i = 0; i < st->n_in; i++)
            if (st->in[i] >= 0) p->bufs[st->in[i]].last = si;
        for (int32_t o = 0; o < st->n_out; o++)
            if (st->out[o] >= 0) {
                anvil__buf *buf = &p->bufs[st->out[o]];
                if (buf->first < 0) buf->first = si;
                if (buf->last < si) buf->last = si;
            }
    }
}

/* Graph outputs are read after the last step, so their buffers live to the end; a view keeps
 * the buffer it views alive as long as itself. */
static void keep_outputs(anvil__plan *p, int32_t n_outputs) {
    for (int32_t o = 0; o < n_outputs; o++) p->bufs[p->output_bufs[o]].last = p->n_steps;
    for (int32_t i = 0; i < p->n_bufs; i++) {
        anvil__buf *a = &p->bufs[i];
        if (a->alias_of >= 0 && a->last > p->bufs[a->alias_of].last)
            p->bufs[a->alias_of].last = a->last;
    }
}

anvil_status anvil__plan_build(const anvil__plan_request *req, anvil__plan **out,
                               anvil__pack_request **packs, int32_t *n_packs) {
    *out = NULL;
    if (packs) *packs = NULL;
    if (n_packs) *n_packs = 0;
    const anvil__graph *run = req->run;
    builder b = {req, NULL, NULL, NULL, NULL, NULL, 0, 0};
    anvil_status s = anvil__infer_concrete(run, req->input_shapes, req->slots, &b.shapes);
    if (s != ANVIL_OK) return s;
    if (req->reference) {
        b.ref_step = anvil__malloc_array((size_t)(run->n_nodes + 1), sizeof *b.ref_step);
        if (!b.ref_step) s = ANVIL_STATUS_OUT_OF_MEMORY;
        for (int32_t i = 0; s == ANVIL_OK && i < run->n_nodes; i++) b.ref_step[i] = -1;
        for (int32_t i = 0; s == ANVIL_OK && i < req->reference->n_steps; i++)
            if (req->reference->steps[i].node >= 0)
                b.ref_step[req->reference->steps[i].node] = i;
    }
    b.plan = anvil__calloc(1, sizeof *b.plan);
    b.home = anvil__malloc_array((size_t)(run->n_values + 1), sizeof *b.home);
    if (!b.plan || !b.home) s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (s == ANVIL_OK) s = plan_sources(&b);
    for (int32_t ni = 0; ni < run->n_nodes && s == ANVIL_OK; ni++) {
        s = plan_node(&b, ni);
        if (req->progress)
            req->progress(req->progress_user, req->autotune ? "autotune" : "plan",
                          (double)(ni + 1) / run->n_nodes);
    }
    if (s == ANVIL_OK) s = plan_outputs(&b);
    if (s == ANVIL_OK) {
        b.plan->n_inputs = run->n_inputs;
        b.plan->input_shapes =
            anvil__malloc_array((size_t)(run->n_inputs + 1), sizeof *b.plan->input_shapes);
        if (!b.plan->input_shapes) s = ANVIL_STATUS_OUT_OF_MEMORY;
        for (int32_t i = 0; s == ANVIL_OK && i < run->n_inputs; i++) {
            b.plan->input_shapes[i] = req->input_shapes[i];
            b.plan->input_shapes[i].data = NULL;
        }
    }
    if (s == ANVIL_OK) {
        mark_lifetimes(b.plan);
        keep_outputs(b.plan, run->n_outputs);
        s = anvil__memory_plan(b.plan);
    }
    anvil__shapes_free(run, b.shapes);
    anvil__free(b.home);
    anvil__free(b.ref_step);
    if (s != ANVIL_OK) {
        anvil__plan_destroy(req->backend, b.plan);
        anvil__free(b.packs);
        return s;
    }
    *out = b.plan;
    if (packs) *packs = b.packs;
    else anvil__free(b.packs);
    if (n_packs) *n_packs = b.n_packs;
    return ANVIL_OK;
}

void anvil__plan_destroy(const anvil__backend *be, anvil__plan *p) {
    if (!p) return;
    for (int32_t i = 0; i < p->n_steps; i++) {
        if (p->steps[i].kernel) be->kernel_destroy(be->ctx, p->steps[i].kernel);
        anvil__free(p->steps[i].in);
        anvil__free(p->steps[i].out);
    }
    anvil__free(p->steps);
    anvil__free(p->bufs);
    anvil__free(p->output_bufs);
    anvil__free(p->input_shapes);
    anvil__free(p);
}
