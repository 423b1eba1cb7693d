/*
 * interp.c — executes a graph in topological order with the reference kernels. Per node:
 * gather inputs (converting f16/bf16/f64 to f32 for F32_COMPUTE ops), infer output shapes from
 * the concrete inputs, allocate, run, convert back, and free values after their last use.
 * Input validation against the model's declared inputs lives in interp_inputs.c.
 */
#include "interp/interp.h"

#include <string.h>

struct anvil__interp_env {
    const anvil__graph *g;
    anvil__tensor *vals; /* one per value id; data NULL until produced */
    bool *owned;         /* whether vals[i].data is ours to free */
    const anvil__interp_env *parent;
    /* per value: the caller's output tensor to produce it in (run_ex `into`), or NULL */
    const anvil__tensor **target;
    size_t max_value_bytes; /* 0: no limit */
};

/* Finds a value of an enclosing scope by name (subgraph outer references). */
static const anvil__tensor *lookup_outer(const anvil__interp_env *env, const char *name) {
    for (const anvil__interp_env *e = env; e; e = e->parent) {
        int32_t id = anvil__graph_find(e->g, name);
        if (id >= 0 && e->vals[id].data && !(e->g->values[id].flags & ANVIL_VALUE_OUTER))
            return &e->vals[id];
        if (id >= 0 && (e->g->values[id].flags & ANVIL_VALUE_OUTER) && e->vals[id].data)
            return &e->vals[id];
    }
    return NULL;
}

/* Adds to `last_use` the uses that subgraphs of node `ni` make of this graph's values. */
static void mark_captures(const anvil__graph *g, const anvil__graph *sub, int32_t ni,
                          int32_t *last_use) {
    for (int32_t v = 0; v < sub->n_values; v++) {
        if (!(sub->values[v].flags & ANVIL_VALUE_OUTER)) continue;
        int32_t id = anvil__graph_find(g, sub->values[v].name);
        if (id >= 0 && last_use[id] < ni) last_use[id] = ni;
    }
    for (int32_t n = 0; n < sub->n_nodes; n++)
        for (int32_t a = 0; a < sub->nodes[n].n_attrs; a++)
            if (sub->nodes[n].attrs[a].g) mark_captures(g, sub->nodes[n].attrs[a].g, ni, last_use);
}

static void compute_last_use(const anvil__graph *g, int32_t *last_use) {
    for (int32_t v = 0; v < g->n_values; v++) last_use[v] = -1;
    for (int32_t n = 0; n < g->n_nodes; n++) {
        const anvil__node *node = &g->nodes[n];
        for (int32_t i = 0; i < node->n_inputs; i++)
            if (node->inputs[i] >= 0) last_use[node->inputs[i]] = n;
        for (int32_t a = 0; a < node->n_attrs; a++)
            if (node->attrs[a].g) mark_captures(g, node->attrs[a].g, n, last_use);
    }
    for (int32_t o = 0; o < g->n_outputs; o++) last_use[g->outputs[o]] = g->n_nodes;
}

static void env_release(anvil__interp_env *env, int32_t v) {
    if (env->owned[v]) anvil__free(env->vals[v].data);
    env->owned[v] = false;
    env->vals[v].data = NULL;
}

static anvil_status run_subgraph(void *interp, const anvil__graph *g, anvil__tensor **outputs,
                                 int32_t n_outputs) {
    const anvil__interp_env *env = interp;
    if (n_outputs != g->n_outputs)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                            "subgraph '%s' has %d outputs, the node expects %d",
                            g->name ? g->name : "", (int)g->n_outputs, (int)n_outputs);
    anvil__tensor *results = anvil__calloc((size_t)(n_outputs ? n_outputs : 1), sizeof *results);
    if (!results) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = anvil__interp_run(g, env, NULL, results);
    for (int32_t i = 0; i < n_outputs; i++) {
        if (s == ANVIL_OK && outputs[i]) {
            *outputs[i] = results[i];
        } else {
            anvil__free(results[i].data);
        }
    }
    anvil__free(results);
    return s;
}

/* Converts an f16/bf16/f64 tensor to a fresh f32 copy for F32_COMPUTE kernels. */
static anvil_status to_f32(const anvil__tensor *in, anvil__tensor *out) {
    *out = *in;
    out->dtype = ANVIL_DTYPE_F32;
    int64_t n = anvil__tensor_numel(in);
    out->bytes = (size_t)n * 4;
    out->data = anvil__malloc_array((size_t)n, 4);
    if (!out->data) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__convert(ANVIL_DTYPE_F32, out->data, in->dtype, in->data, (size_t)n);
    return ANVIL_OK;
}

static anvil_status from_f32(anvil__tensor *t, anvil_dtype to) {
    int64_t n = anvil__tensor_numel(t);
    void *data = anvil__malloc_array((size_t)n, anvil_dtype_size(to));
    if (!data) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil__convert(to, data, ANVIL_DTYPE_F32, t->data, (size_t)n);
    anvil__free(t->data);
    t->data = data;
    t->dtype = to;
    t->bytes = (size_t)n * anvil_dtype_size(to);
    return ANVIL_OK;
}

/* Ops whose kernels assign every output element (never read the output): the weight graph's
 * packing and the elementwise arithmetic of folded recipes. */
static bool writes_every_element(int32_t op) {
    switch (op) {
    case ANVIL_OP_Pack:
    case ANVIL_OP_Add:
    case ANVIL_OP_Sub:
    case ANVIL_OP_Mul:
    case ANVIL_OP_Div:
    case ANVIL_OP_Sqrt:
    case ANVIL_OP_Transpose:
    case ANVIL_OP_Cast:
        return true;
    default:
        return false;
    }
}

typedef struct node_io {
    anvil__tensor *in_ptrs[64], *out_ptrs[64];
    anvil__tensor converted[64];
    bool is_converted[64];
    anvil__tensor outs[64];
} node_io;

static anvil_status run_node(anvil__interp_env *env, int32_t ni, node_io *io) {
    const anvil__graph *g = env->g;
    const anvil__node *node = &g->nodes[ni];
    const anvil__op_def *def = anvil__op_get(node->op);
    if (!def) return anvil__node_error(node, ANVIL_STATUS_UNSUPPORTED, "unsupported op");
    if (node->n_inputs > 64 || node->n_outputs > 64)
        return anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                 "more than 64 inputs or outputs");
    bool f32 = (def->flags & ANVIL_OP_F32_COMPUTE) != 0;
    bool converts = false;
    anvil_dtype want[64]; /* output dtypes the op has on the unconverted inputs */
    anvil_status s = ANVIL_OK;
    memset(io->is_converted, 0, sizeof io->is_converted);
    for (int32_t i = 0; i < node->n_inputs; i++) {
        int32_t v = node->inputs[i];
        io->in_ptrs[i] = NULL;
        if (v < 0) continue;
        anvil__tensor *t = &env->vals[v];
        if (!t->data && (g->values[v].flags & ANVIL_VALUE_OUTER)) {
            const anvil__tensor *outer = lookup_outer(env->parent, g->values[v].name);
            if (outer) t = (anvil__tensor *)outer;
        }
        if (!t->data)
            return anvil__node_error(node, ANVIL_STATUS_INTERNAL, "input '%s' has no value",
                                     g->values[v].name);
        if (f32 && anvil__dtype_is_float(t->dtype) && t->dtype != ANVIL_DTYPE_F32) {
            converts = true;
            s = to_f32(t, &io->converted[i]);
            if (s != ANVIL_OK) goto done;
            io->is_converted[i] = true;
            t = &io->converted[i];
        }
        io->in_ptrs[i] = t;
    }
    memset(io->outs, 0, sizeof io->outs);
    for (int32_t o = 0; o < node->n_outputs; o++)
        io->out_ptrs[o] = node->outputs[o] >= 0 ? &io->outs[o] : NULL;
    anvil__op_ctx ctx = {node, g->opset, node->n_inputs, io->in_ptrs, node->n_outputs,
                         io->out_ptrs, run_subgraph, env};
    if (converts) { /* infer once on the original dtypes to learn each output's real dtype */
        anvil__tensor *converted_ptrs[64];
        memcpy(converted_ptrs, io->in_ptrs, sizeof(anvil__tensor *) * (size_t)node->n_inputs);
        for (int32_t i = 0; i < node->n_inputs; i++)
            if (io->is_converted[i]) io->in_ptrs[i] = &env->vals[node->inputs[i]];
        for (int32_t i = 0; i < node->n_inputs; i++) /* outer refs were converted too */
            if (io->is_converted[i] && !env->vals[node->inputs[i]].data)
                io->in_ptrs[i] = (anvil__tensor *)lookup_outer(env->parent,
                                                               g->values[node->inputs[i]].name);
        s = def->infer(&ctx);
        for (int32_t o = 0; o < node->n_outputs; o++) want[o] = io->outs[o].dtype;
        memcpy(io->in_ptrs, converted_ptrs, sizeof(anvil__tensor *) * (size_t)node->n_inputs);
        memset(io->outs, 0, sizeof io->outs);
        if (s != ANVIL_OK) goto done;
    }
    if (def->flags & ANVIL_OP_SELF_ALLOC) {
        s = def->run(&ctx);
    } else {
        s = def->infer(&ctx);
        for (int32_t o = 0; s == ANVIL_OK && o < node->n_outputs; o++) {
            if (!io->out_ptrs[o]) continue;
            if (anvil_shape_numel(io->outs[o].rank, io->outs[o].dims) < 0) {
                s = anvil__node_error(node, ANVIL_STATUS_INTERNAL,
                                      "output %d shape unknown after inference", (int)o);
                break;
            }
            if (env->max_value_bytes && io->outs[o].bytes > env->max_value_bytes) {
                s = anvil__node_error(node, ANVIL_STATUS_LIMIT_EXCEEDED,
                                      "output %d would take %zu bytes, more than the %zu this "
                                      "graph may use", (int)o, io->outs[o].bytes,
                                      env->max_value_bytes);
                break;
            }
            const anvil__tensor *target = env->target ? env->target[node->outputs[o]] : NULL;
            if (target && !converts && target->bytes == io->outs[o].bytes) {
                /* Caller memory holds old bytes; some kernels accumulate into a zeroed output
                 * (MatMul, Gemm, Conv without bias), so only those known to write every
                 * element get it as is. */
                if (!writes_every_element(node->op)) memset(target->data, 0, target->bytes);
                io->outs[o].data = target->data;
            } else
                s = anvil__tensor_alloc(&io->outs[o]);
        }
        if (s == ANVIL_OK) s = def->run(&ctx);
    }
    for (int32_t o = 0; s == ANVIL_OK && o < node->n_outputs; o++)
        if (io->out_ptrs[o] && converts && io->outs[o].dtype == ANVIL_DTYPE_F32 &&
            want[o] != ANVIL_DTYPE_F32 && anvil__dtype_is_float(want[o]))
            s = from_f32(&io->outs[o], want[o]);
    for (int32_t o = 0; o < node->n_outputs; o++) {
        if (!io->out_ptrs[o]) continue;
        int32_t v = node->outputs[o];
        bool in_target = env->target && env->target[v] && io->outs[o].data == env->target[v]->data;
        if (s == ANVIL_OK) {
            env->vals[v] = io->outs[o];
            env->owned[v] = !in_target;
        } else if (!in_target) {
            anvil__free(io->outs[o].data);
        }
    }
done:
    for (int32_t i = 0; i < node->n_inputs; i++)
        if (io->is_converted[i]) anvil__free(io->converted[i].data);
    return s;
}

/* Which nodes feed a wanted output (all of them when want is NULL or the graph has
 * subgraphs, whose captures this walk does not follow). */
static void mark_needed(const anvil__graph *g, const bool *want, bool *needed_value,
                        bool *needed_node) {
    bool all = !want;
    for (int32_t n = 0; !all && n < g->n_nodes; n++)
        for (int32_t a = 0; a < g->nodes[n].n_attrs; a++) all |= g->nodes[n].attrs[a].g != NULL;
    for (int32_t n = 0; n < g->n_nodes; n++) needed_node[n] = all;
    if (all) return;
    for (int32_t o = 0; o < g->n_outputs; o++)
        if (want[o]) needed_value[g->outputs[o]] = true;
    for (int32_t n = g->n_nodes - 1; n >= 0; n--) {
        const anvil__node *node = &g->nodes[n];
        for (int32_t o = 0; o < node->n_outputs; o++)
            needed_node[n] |= node->outputs[o] >= 0 && needed_value[node->outputs[o]];
        if (!needed_node[n]) continue;
        for (int32_t i = 0; i < node->n_inputs; i++)
            if (node->inputs[i] >= 0) needed_value[node->inputs[i]] = true;
    }
}

/* Hands graph output o to the caller: moved when the environment owns it (and no later output
 * repeats it), written into the caller's memory with `into`, else copied. */
static anvil_status take_output(anvil__interp_env *env, int32_t o, bool into,
                                anvil__tensor *out) {
    const anvil__graph *g = env->g;
    int32_t v = g->outputs[o];
    const anvil__tensor *t = &env->vals[v];
    if (!t->data && (g->values[v].flags & ANVIL_VALUE_OUTER))
        t = lookup_outer(env->parent, g->values[v].name);
    if (!t || !t->data)
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH, "output '%s' was never computed",
                            g->values[v].name);
    void *dst = into ? out->data : NULL;
    if (into && !dst)
        return anvil__error(ANVIL_STATUS_INTERNAL, "output '%s' has no caller buffer",
                            g->values[v].name);
    if (dst) {
        if (out->bytes != t->bytes)
            return anvil__error(ANVIL_STATUS_INTERNAL, "output '%s' has %zu bytes, its buffer %zu",
                                g->values[v].name, t->bytes, out->bytes);
        if (t->data != dst) memcpy(dst, t->data, t->bytes);
        *out = *t;
        out->data = dst;
        return ANVIL_OK;
    }
    *out = *t;
    if (env->owned[v]) {
        bool again = false;
        for (int32_t k = o + 1; k < g->n_outputs; k++) again |= g->outputs[k] == v;
        if (!again) {
            env->owned[v] = false;
            env->vals[v].data = NULL;
            return ANVIL_OK;
        }
    }
    out->data = anvil__malloc(t->bytes ? t->bytes : 1);
    if (!out->data) return ANVIL_STATUS_OUT_OF_MEMORY;
    memcpy(out->data, t->data, t->bytes);
    return ANVIL_OK;
}

static anvil_status run_graph(const anvil__graph *g, const anvil__interp_env *parent,
                              const anvil__tensor *inputs, anvil__tensor *outputs,
                              const anvil__interp_opts *opts) {
    anvil__interp_env env = {g, NULL, NULL, parent, NULL,
                             opts ? opts->max_value_bytes : parent ? parent->max_value_bytes : 0};
    bool into = opts && opts->into;
    const bool *want = opts ? opts->want : NULL;
    size_t nv = (size_t)(g->n_values ? g->n_values : 1);
    env.vals = anvil__calloc(nv, sizeof *env.vals);
    env.owned = anvil__calloc(nv, sizeof *env.owned);
    int32_t *last_use = anvil__calloc(nv, sizeof *last_use);
    bool *needed_value = anvil__calloc(nv, sizeof *needed_value);
    bool *needed_node = anvil__calloc((size_t)g->n_nodes + 1, sizeof *needed_node);
    if (into) env.target = anvil__calloc(nv, sizeof *env.target);
    node_io *io = anvil__malloc(sizeof *io);
    anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (!env.vals || !env.owned || !last_use || !needed_value || !needed_node || !io ||
        (into && !env.target))
        goto done;
    compute_last_use(g, last_use);
    int32_t n_keep = opts && opts->keep ? opts->n_keep : 0;
    for (int32_t k = 0; k < n_keep; k++) { /* kept values live to the end, and are needed */
        if (opts->keep[k] < 0 || opts->keep[k] >= g->n_values) {
            s = anvil__error(ANVIL_STATUS_INTERNAL, "kept value %d out of range", (int)opts->keep[k]);
            goto done;
        }
        last_use[opts->keep[k]] = g->n_nodes;
        needed_value[opts->keep[k]] = true;
    }
    mark_needed(g, want, needed_value, needed_node);
    for (int32_t o = 0; into && o < g->n_outputs; o++) {
        int32_t v = g->outputs[o];
        bool repeated = false; /* a value listed twice is computed once and copied */
        for (int32_t k = 0; k < g->n_outputs; k++) repeated |= k != o && g->outputs[k] == v;
        if ((!want || want[o]) && outputs[o].data && !repeated) env.target[v] = &outputs[o];
    }
    for (int32_t i = 0; i < g->n_inits; i++) env.vals[g->inits[i].value] = g->inits[i].t;
    for (int32_t i = 0; i < g->n_inputs; i++) env.vals[g->inputs[i]] = inputs[i];
    s = ANVIL_OK;
    for (int32_t n = 0; n < g->n_nodes && s == ANVIL_OK; n++) {
        if (!needed_node[n]) continue;
        s = run_node(&env, n, io);
        const anvil__node *node = &g->nodes[n];
        for (int32_t i = 0; i < node->n_inputs; i++) {
            int32_t v = node->inputs[i];
            if (v >= 0 && last_use[v] == n) env_release(&env, v);
        }
        for (int32_t o = 0; o < node->n_outputs; o++) { /* outputs nobody reads */
            int32_t v = node->outputs[o];
            if (v >= 0 && last_use[v] < 0) env_release(&env, v);
        }
    }
    for (int32_t o = 0; s == ANVIL_OK && o < g->n_outputs; o++) {
        if (want && !want[o]) {
            if (!into) outputs[o].data = NULL;
            continue;
        }
        s = take_output(&env, o, into, &outputs[o]);
    }
    for (int32_t k = 0; s == ANVIL_OK && k < n_keep; k++) {
        const anvil__tensor *t = &env.vals[opts->keep[k]];
        if (!t->data || t->bytes != opts->kept[k].bytes || t->dtype != opts->kept[k].dtype)
            s = anvil__error(ANVIL_STATUS_INTERNAL, "kept value '%s': %zu bytes, expected %zu",
                             g->values[opts->keep[k]].name, t->data ? t->bytes : 0,
                             opts->kept[k].bytes);
        else if (t->bytes)
            memcpy(opts->kept[k].data, t->data, t->bytes);
    }
    if (s != ANVIL_OK && outputs && !into)
        for (int32_t o = 0; o < g->n_outputs; o++) {
            anvil__free(outputs[o].data);
            outputs[o].data = NULL;
        }
done:
    if (env.vals && env.owned)
        for (int32_t v = 0; v < g->n_values; v++) env_release(&env, v);
    anvil__free(env.vals);
    anvil__free(env.owned);
    anvil__free(env.target);
    anvil__free(last_use);
    anvil__free(needed_value);
    anvil__free(needed_node);
    anvil__free(io);
    return s;
}

anvil_status anvil__interp_run(const anvil__graph *g, const anvil__interp_env *parent,
                               const anvil__tensor *inputs, anvil__tensor *outputs) {
    return run_graph(g, parent, inputs, outputs, NULL);
}

anvil_status anvil__interp_run_ex(const anvil__graph *g, const anvil__tensor *inputs,
                                  anvil__tensor *outputs, const anvil__interp_opts *opts) {
    return run_graph(g, NULL, inputs, outputs, opts);
}
