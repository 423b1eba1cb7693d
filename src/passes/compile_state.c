/*
 * compile_state.c — the compile state: the run graph (a copy of the model whose initializers
 * are slots) and the weight graph (recipes over the source weights). Folding a run node into
 * the weight graph, adding recipe nodes, and keeping slot i = weights->outputs[i] =
 * run->inits[i] after compaction live here. Slot bytes are computed by the reference
 * interpreter on one-node graphs: the same kernels, in the same order, that a refit replays.
 * Deciding what to fold is the passes' job, not this file's.
 */
#include "passes/passes.h"

#include "interp/interp.h"

#include <stdio.h>
#include <string.h>

/* Data pointer for empty tensors, which may carry none: the interpreter wants one. */
static const uint8_t empty_data[8];

/* Evaluates one node (op, attributes, name and output arity from `tmpl`) on `inputs` (NULL
 * for omitted ones) with the reference interpreter. outputs[o] receives an owned tensor for
 * every tmpl->outputs[o] >= 0 (zeroed otherwise). */
static anvil_status eval_node(int64_t opset, const anvil__node *tmpl,
                              const anvil__tensor *const *inputs, anvil__tensor *outputs) {
    anvil__graph *g = anvil__graph_new(NULL);
    int32_t *ins = anvil__malloc_array((size_t)tmpl->n_inputs + 1, sizeof *ins);
    int32_t *outs = anvil__malloc_array((size_t)tmpl->n_outputs + 1, sizeof *outs);
    anvil__tensor *res = anvil__calloc((size_t)tmpl->n_outputs + 1, sizeof *res);
    anvil_status s = (g && ins && outs && res) ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    char name[32];
    if (g) g->opset = opset;
    for (int32_t i = 0; s == ANVIL_OK && i < tmpl->n_inputs; i++) {
        ins[i] = -1;
        if (!inputs[i]) continue;
        anvil__tensor t = *inputs[i];
        if (!t.data && t.bytes == 0) t.data = (void *)empty_data;
        if (!t.data) {
            s = anvil__node_error(tmpl, ANVIL_STATUS_INTERNAL, "input %d has no data", (int)i);
            break;
        }
        snprintf(name, sizeof name, "in%d", (int)i);
        s = anvil__graph_add_value(g, name, &ins[i]);
        if (s == ANVIL_OK) s = anvil__graph_add_init(g, ins[i], &t, false);
    }
    for (int32_t o = 0; s == ANVIL_OK && o < tmpl->n_outputs; o++) {
        outs[o] = -1;
        if (tmpl->outputs[o] < 0) continue;
        snprintf(name, sizeof name, "out%d", (int)o);
        s = anvil__graph_add_value(g, name, &outs[o]);
        if (s == ANVIL_OK) s = anvil__graph_add_output(g, outs[o]);
    }
    int32_t id = -1;
    if (s == ANVIL_OK)
        s = anvil__graph_add_node(g, tmpl->name, tmpl->op_type, tmpl->domain, ins, tmpl->n_inputs,
                                  outs, tmpl->n_outputs, &id);
    if (s == ANVIL_OK) {
        g->nodes[id].op = tmpl->op;
        s = anvil__pass_copy_attrs(g, id, tmpl);
    }
    if (s == ANVIL_OK) s = anvil__interp_run(g, NULL, NULL, res);
    for (int32_t o = 0, k = 0; s == ANVIL_OK && o < tmpl->n_outputs; o++) {
        memset(&outputs[o], 0, sizeof outputs[o]);
        if (outs[o] >= 0) outputs[o] = res[k++];
    }
    anvil__graph_destroy(g);
    anvil__free(ins);
    anvil__free(outs);
    anvil__free(res);
    return s;
}

const anvil__tensor *anvil__compile_slot_data(const anvil__compile_state *st, int32_t run_value) {
    if (run_value < 0 || run_value >= st->run->n_values) return NULL;
    const anvil__value *v = &st->run->values[run_value];
    if (!(v->flags & ANVIL_VALUE_INITIALIZER) || v->init < 0) return NULL;
    return &st->run->inits[v->init].t;
}

int32_t anvil__compile_slot_value(const anvil__compile_state *st, int32_t run_value) {
    if (!anvil__compile_slot_data(st, run_value)) return -1;
    return anvil__graph_find(st->weights, st->run->values[run_value].name);
}

/* The bytes of weight-graph value wv: its slot's attached data, the source's bytes, or (for a
 * recipe intermediate that is no slot any more) evaluated from its producer now. *owned tells
 * whether the caller must free out->data. */
static anvil_status weight_data(const anvil__compile_state *st, int32_t wv, anvil__tensor *out,
                                bool *owned, int depth) {
    const anvil__value *v = &st->weights->values[wv];
    *owned = false;
    const anvil__tensor *t = anvil__compile_slot_data(st, anvil__graph_find(st->run, v->name));
    if (t) {
        *out = *t;
        return ANVIL_OK;
    }
    if (v->flags & ANVIL_VALUE_INPUT) {
        int32_t mv = st->model ? anvil__graph_find(st->model, v->name) : -1;
        if (mv < 0 || st->model->values[mv].init < 0)
            return anvil__error(ANVIL_STATUS_INTERNAL, "source weight '%s' has no data", v->name);
        *out = st->model->inits[st->model->values[mv].init].t;
        return ANVIL_OK;
    }
    if (v->producer < 0 || depth > 4096)
        return anvil__error(ANVIL_STATUS_INTERNAL, "weight value '%s' cannot be computed", v->name);
    const anvil__node *n = &st->weights->nodes[v->producer];
    anvil__tensor *buf = anvil__calloc((size_t)n->n_inputs + (size_t)n->n_outputs + 1, sizeof *buf);
    const anvil__tensor **ins = anvil__calloc((size_t)n->n_inputs + 1, sizeof *ins);
    bool *own = anvil__calloc((size_t)n->n_inputs + 1, sizeof *own);
    anvil_status s = buf && ins && own ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < n->n_inputs; i++) {
        if (n->inputs[i] < 0) continue;
        s = weight_data(st, n->inputs[i], &buf[i], &own[i], depth + 1);
        ins[i] = &buf[i];
    }
    anvil__tensor *res = buf ? buf + n->n_inputs : NULL;
    if (s == ANVIL_OK) s = eval_node(st->weights->opset, n, ins, res);
    for (int32_t o = 0; s == ANVIL_OK && o < n->n_outputs; o++) {
        if (n->outputs[o] == wv) {
            *out = res[o];
            *owned = true;
        } else {
            anvil__free(res[o].data);
        }
    }
    for (int32_t i = 0; buf && own && i < n->n_inputs; i++)
        if (own[i]) anvil__free(buf[i].data);
    anvil__free(buf);
    anvil__free(ins);
    anvil__free(own);
    return s;
}

/* A value name free in both graphs: `hint`, else `hint_1`, `hint_2`, ... */
static char *unique_name(const anvil__compile_state *st, const char *hint) {
    size_t len = strlen(hint) + 16;
    char *buf = anvil__malloc(len);
    if (!buf) return NULL;
    snprintf(buf, len, "%s", hint);
    for (unsigned k = 1;
         anvil__graph_find(st->run, buf) >= 0 || anvil__graph_find(st->weights, buf) >= 0; k++)
        snprintf(buf, len, "%s_%u", hint, k);
    return buf;
}

static void set_value_shape(anvil__value *v, const anvil__tensor *t) {
    v->dtype = t->dtype;
    v->rank = t->rank;
    for (int32_t d = 0; d < ANVIL_MAX_RANK; d++)
        v->dims[d] = d < t->rank ? t->dims[d] : -1;
}

/* Records `tmpl` (op, domain, attributes) over weight values `win` as a weight-graph node
 * with one output `name` whose bytes are `*data` (taken over, freed on failure), and makes that
 * output a new slot: a weight-graph output and a run-graph initializer of the same name. */
static anvil_status new_slot(anvil__compile_state *st, const char *name, const anvil__node *tmpl,
                             const int32_t *win, int32_t n_in, anvil__tensor *data,
                             int32_t *out_rv) {
    anvil__graph *w = st->weights;
    int32_t wv, nid, rv;
    anvil_status s = anvil__graph_add_value(w, name, &wv);
    if (s == ANVIL_OK) {
        set_value_shape(&w->values[wv], data);
        s = anvil__graph_add_node(w, name, tmpl->op_type, tmpl->domain, win, n_in, &wv, 1, &nid);
    }
    if (s == ANVIL_OK) {
        w->nodes[nid].op = tmpl->op;
        s = anvil__pass_copy_attrs(w, nid, tmpl);
    }
    if (s == ANVIL_OK) s = anvil__graph_add_output(w, wv);
    if (s == ANVIL_OK) s = anvil__graph_add_value(st->run, name, &rv);
    if (s == ANVIL_OK) s = anvil__graph_add_init(st->run, rv, data, true);
    if (s != ANVIL_OK) {
        anvil__free(data->data);
        data->data = NULL;
        return s;
    }
    *out_rv = rv;
    return ANVIL_OK;
}

/* Evaluates `tmpl` over weight values `win` and records it as a new slot named after hint. */
static anvil_status add_weight(anvil__compile_state *st, const anvil__node *tmpl,
                               const int32_t *win, int32_t n_in, const char *hint,
                               int32_t *out_rv) {
    anvil__tensor *buf = anvil__calloc((size_t)n_in + 1, sizeof *buf);
    const anvil__tensor **ins = anvil__calloc((size_t)n_in + 1, sizeof *ins);
    bool *own = anvil__calloc((size_t)n_in + 1, sizeof *own);
    anvil_status s = buf && ins && own ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < n_in; i++) {
        if (win[i] < 0) continue;
        if (win[i] >= st->weights->n_values) {
            s = anvil__error(ANVIL_STATUS_INTERNAL, "bad weight value id %d", (int)win[i]);
            break;
        }
        s = weight_data(st, win[i], &buf[i], &own[i], 0);
        ins[i] = &buf[i];
    }
    anvil__tensor res;
    memset(&res, 0, sizeof res);
    if (s == ANVIL_OK) s = eval_node(st->weights->opset, tmpl, ins, &res);
    for (int32_t i = 0; buf && own && i < n_in; i++)
        if (own[i]) anvil__free(buf[i].data);
    anvil__free(buf);
    anvil__free(ins);
    anvil__free(own);
    if (s != ANVIL_OK) return s;
    char *name = unique_name(st, hint);
    if (!name) {
        anvil__free(res.data);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    s = new_slot(st, name, tmpl, win, n_in, &res, out_rv);
    anvil__free(name);
    return s;
}

anvil_status anvil__compile_add_weight_node_attrs(anvil__compile_state *st, const char *op_type,
                                                  const int32_t *weight_inputs, int32_t n_inputs,
                                                  const anvil__node *attrs_from,
                                                  const char *name_hint, int32_t *out_run_value) {
    int32_t op = anvil__op_find(op_type, "");
    if (op < 0) return anvil__error(ANVIL_STATUS_INTERNAL, "no op '%s' for a recipe", op_type);
    int32_t out0 = 0;
    anvil__node tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.name = (char *)name_hint;
    tmpl.op_type = (char *)op_type;
    tmpl.domain = (char *)"";
    tmpl.op = op;
    tmpl.n_inputs = n_inputs;
    tmpl.inputs = (int32_t *)weight_inputs;
    tmpl.n_outputs = 1;
    tmpl.outputs = &out0;
    if (attrs_from) {
        tmpl.n_attrs = attrs_from->n_attrs;
        tmpl.attrs = attrs_from->attrs;
    }
    return add_weight(st, &tmpl, weight_inputs, n_inputs, name_hint, out_run_value);
}

anvil_status anvil__compile_add_weight_node(anvil__compile_state *st, const char *op_type,
                                            const int32_t *weight_inputs, int32_t n_inputs,
                                            const char *name_hint, int32_t *out_run_value) {
    return anvil__compile_add_weight_node_attrs(st, op_type, weight_inputs, n_inputs, NULL,
                                                name_hint, out_run_value);
}

anvil_status anvil__compile_add_weight_const(anvil__compile_state *st, const anvil__tensor *t,
                                             const char *name_hint, int32_t *out_run_value) {
    anvil__attr value;
    memset(&value, 0, sizeof value);
    value.name = (char *)"value";
    value.kind = ANVIL_ATTR_TENSOR;
    value.t = *t;
    anvil__node holder;
    memset(&holder, 0, sizeof holder);
    holder.n_attrs = 1;
    holder.attrs = &value;
    return anvil__compile_add_weight_node_attrs(st, "Constant", NULL, 0, &holder, name_hint,
                                                out_run_value);
}

static bool has_subgraph(const anvil__node *n) {
    for (int32_t a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].g) return true;
    return false;
}

/* Moves node `ni` into the weight graph once its outputs are computed into `res`. */
static anvil_status move_node(anvil__compile_state *st, int32_t ni, const int32_t *win,
                              anvil__tensor *res) {
    anvil__graph *run = st->run, *w = st->weights;
    const anvil__node *n = &run->nodes[ni];
    int32_t *wout = anvil__malloc_array((size_t)n->n_outputs + 1, sizeof *wout);
    if (!wout) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = ANVIL_OK;
    for (int32_t o = 0; s == ANVIL_OK && o < n->n_outputs; o++) {
        wout[o] = -1;
        if (n->outputs[o] < 0) continue;
        const char *name = run->values[n->outputs[o]].name;
        if (anvil__graph_find(w, name) >= 0)
            s = anvil__error(ANVIL_STATUS_INTERNAL, "value '%s' already exists in the recipes",
                             name);
        if (s == ANVIL_OK) s = anvil__graph_add_value(w, name, &wout[o]);
        if (s == ANVIL_OK) set_value_shape(&w->values[wout[o]], &res[o]);
    }
    int32_t nid = -1;
    if (s == ANVIL_OK)
        s = anvil__graph_add_node(w, n->name, n->op_type, n->domain, win, n->n_inputs, wout,
                                  n->n_outputs, &nid);
    if (s == ANVIL_OK) {
        w->nodes[nid].op = n->op;
        s = anvil__pass_copy_attrs(w, nid, n);
    }
    for (int32_t o = 0; s == ANVIL_OK && o < n->n_outputs; o++) {
        int32_t rv = n->outputs[o];
        if (rv < 0) continue;
        s = anvil__graph_add_output(w, wout[o]);
        if (s == ANVIL_OK) s = anvil__graph_add_init(run, rv, &res[o], true);
        if (s == ANVIL_OK) {
            res[o].data = NULL; /* owned by the run graph now */
            run->values[rv].producer = -1;
        }
    }
    if (s == ANVIL_OK) run->nodes[ni].flags |= ANVIL_NODE_DEAD;
    anvil__free(wout);
    return s;
}

anvil_status anvil__compile_fold_node(anvil__compile_state *st, int32_t node) {
    anvil__graph *run = st->run;
    if (node < 0 || node >= run->n_nodes || (run->nodes[node].flags & ANVIL_NODE_DEAD))
        return anvil__error(ANVIL_STATUS_INTERNAL, "fold: bad node %d", (int)node);
    const anvil__node *n = &run->nodes[node];
    if (has_subgraph(n) || n->n_post > 0)
        return anvil__node_error(n, ANVIL_STATUS_INTERNAL,
                                 "a node with subgraphs or fused ops cannot be folded");
    int32_t *win = anvil__malloc_array((size_t)n->n_inputs + 1, sizeof *win);
    const anvil__tensor **ins = anvil__calloc((size_t)n->n_inputs + 1, sizeof *ins);
    anvil__tensor *res = anvil__calloc((size_t)n->n_outputs + 1, sizeof *res);
    anvil_status s = win && ins && res ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; s == ANVIL_OK && i < n->n_inputs; i++) {
        win[i] = -1;
        if (n->inputs[i] < 0) continue;
        ins[i] = anvil__compile_slot_data(st, n->inputs[i]);
        win[i] = anvil__compile_slot_value(st, n->inputs[i]);
        if (!ins[i] || win[i] < 0)
            s = anvil__node_error(n, ANVIL_STATUS_INTERNAL, "fold: input '%s' is not a slot",
                                  run->values[n->inputs[i]].name);
    }
    if (s == ANVIL_OK) s = eval_node(run->opset, n, ins, res);
    if (s == ANVIL_OK) s = move_node(st, node, win, res);
    for (int32_t o = 0; res && o < n->n_outputs; o++)
        anvil__free(res[o].data);
    anvil__free(win);
    anvil__free(ins);
    anvil__free(res);
    return s;
}

/* Marks dead every weight-graph node that no output needs (sweeping back from the outputs). */
static anvil_status drop_unneeded_recipes(anvil__graph *w) {
    bool *live = anvil__calloc((size_t)w->n_values + 1, sizeof *live);
    if (!live) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t o = 0; o < w->n_outputs; o++)
        live[w->outputs[o]] = true;
    for (int32_t ni = w->n_nodes - 1; ni >= 0; ni--) {
        anvil__node *n = &w->nodes[ni];
        bool needed = false;
        for (int32_t o = 0; o < n->n_outputs; o++)
            needed |= n->outputs[o] >= 0 && live[n->outputs[o]];
        if (!needed) {
            n->flags |= ANVIL_NODE_DEAD;
            continue;
        }
        for (int32_t i = 0; i < n->n_inputs; i++)
            if (n->inputs[i] >= 0) live[n->inputs[i]] = true;
    }
    anvil__free(live);
    return ANVIL_OK;
}

anvil_status anvil__compile_compact(anvil__compile_state *st) {
    anvil__graph *run = st->run, *w = st->weights;
    /* Dead nodes may still name values that became slots: drop them before sorting. */
    anvil_status s = anvil__graph_compact(run);
    if (s == ANVIL_OK) s = anvil__graph_toposort(run);
    if (s != ANVIL_OK) return s;
    int32_t *outs = anvil__malloc_array((size_t)run->n_inits + 1, sizeof *outs);
    if (!outs) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < run->n_inits; i++) {
        const char *name = run->values[run->inits[i].value].name;
        outs[i] = anvil__graph_find(w, name);
        if (outs[i] < 0) {
            anvil__free(outs);
            return anvil__error(ANVIL_STATUS_INTERNAL, "slot '%s' has no recipe", name);
        }
    }
    for (int32_t v = 0; v < w->n_values; v++)
        w->values[v].flags &= ~(uint32_t)ANVIL_VALUE_OUTPUT;
    for (int32_t i = 0; i < run->n_inits; i++)
        w->values[outs[i]].flags |= ANVIL_VALUE_OUTPUT;
    anvil__free(w->outputs);
    w->outputs = outs;
    w->n_outputs = run->n_inits;
    s = drop_unneeded_recipes(w);
    if (s == ANVIL_OK) s = anvil__graph_compact(w);
    return s;
}

static anvil_status init_weights(anvil__compile_state *st, const anvil__graph *model) {
    anvil__graph *w = anvil__graph_new(NULL);
    if (!w) return ANVIL_STATUS_OUT_OF_MEMORY;
    st->weights = w;
    w->opset = model->opset;
    if (!(w->name = anvil__strdup("weights"))) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t i = 0; i < model->n_inits; i++) {
        const anvil__init *in = &model->inits[i];
        int32_t wv;
        anvil_status s = anvil__graph_add_value(w, model->values[in->value].name, &wv);
        if (s == ANVIL_OK) {
            set_value_shape(&w->values[wv], &in->t);
            s = anvil__graph_add_input(w, wv);
        }
        if (s == ANVIL_OK) s = anvil__graph_add_output(w, wv);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

anvil_status anvil__compile_state_init(anvil__compile_state *st, const anvil__graph *model) {
    st->run = st->weights = NULL;
    st->model = model;
    anvil_status s = anvil__pass_clone_graph(model, NULL, false, &st->run);
    /* Slot i is model initializer i, a view of the model's bytes (the value ids match). */
    for (int32_t i = 0; s == ANVIL_OK && i < model->n_inits; i++)
        s = anvil__graph_add_init(st->run, model->inits[i].value, &model->inits[i].t, false);
    if (s == ANVIL_OK) s = anvil__graph_toposort(st->run);
    if (s == ANVIL_OK) s = init_weights(st, model);
    if (s != ANVIL_OK) anvil__compile_state_free(st);
    return s;
}

void anvil__compile_state_free(anvil__compile_state *st) {
    if (!st) return;
    anvil__graph_destroy(st->run);
    anvil__graph_destroy(st->weights);
    st->run = st->weights = NULL;
}
