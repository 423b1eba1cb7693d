/*
 * model.c — the public model object: loads an ONNX file (mapped, weights viewed in place) or
 * an in-memory image through the importer, answers inspection queries, and runs the
 * reference interpreter. The graph is immutable after load, so every query is thread-safe.
 */
#include "api/model.h"

#include "interp/interp.h"

#include <libgen.h>
#include <string.h>

static anvil_status build_histogram(anvil_model *m) {
    const anvil__graph *g = m->graph;
    m->op_types = anvil__calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *m->op_types);
    m->op_counts = anvil__calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *m->op_counts);
    if (!m->op_types || !m->op_counts) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (int32_t n = 0; n < g->n_nodes; n++) {
        const char *op = g->nodes[n].op_type;
        size_t k = 0;
        while (k < m->n_op_types && strcmp(m->op_types[k], op) != 0) k++;
        if (k == m->n_op_types) m->op_types[m->n_op_types++] = op;
        m->op_counts[k]++;
    }
    return ANVIL_OK;
}

/* Imports from bytes that stay alive as long as the model (mapping or owned copy). */
static anvil_status finish_load(anvil_model *m, const char *base_dir, anvil_model **out) {
    anvil_status s = anvil__onnx_import(m->bytes.data, m->bytes.size, base_dir, &m->onnx);
    if (s == ANVIL_OK) {
        m->graph = m->onnx->graph;
        s = build_histogram(m);
    }
    if (s != ANVIL_OK) {
        anvil_model_destroy(m);
        return s;
    }
    *out = m;
    return ANVIL_OK;
}

anvil_status anvil_model_load(const char *path, anvil_model **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!path) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "path is NULL");
    anvil_model *m = anvil__calloc(1, sizeof *m);
    if (!m) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = anvil__map_file(path, &m->bytes);
    char *dir = anvil__strdup(path);
    if (s != ANVIL_OK || !dir) {
        anvil__free(dir);
        anvil__free(m);
        return s != ANVIL_OK ? s : ANVIL_STATUS_OUT_OF_MEMORY;
    }
    s = finish_load(m, dirname(dir), out);
    anvil__free(dir);
    if (s != ANVIL_OK) return anvil__error_prefix(s, "loading '%s'", path);
    return ANVIL_OK;
}

anvil_status anvil_model_load_memory(const void *data, size_t size, const char *base_dir,
                                     anvil_model **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data is NULL");
    anvil_model *m = anvil__calloc(1, sizeof *m);
    if (!m) return ANVIL_STATUS_OUT_OF_MEMORY;
    /* Initializers are views into these bytes, so the model keeps its own copy. */
    m->owned_bytes = anvil__malloc(size ? size : 1);
    if (!m->owned_bytes) {
        anvil__free(m);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    if (size) memcpy(m->owned_bytes, data, size);
    m->bytes.data = m->owned_bytes;
    m->bytes.size = size;
    return finish_load(m, base_dir, out);
}

void anvil_model_destroy(anvil_model *m) {
    if (!m) return;
    anvil__onnx_model_destroy(m->onnx);
    anvil__unmap(&m->bytes);
    anvil__free(m->owned_bytes);
    anvil__free(m->op_types);
    anvil__free(m->op_counts);
    anvil__free(m);
}

size_t anvil_model_input_count(const anvil_model *m) { return m ? (size_t)m->graph->n_inputs : 0; }
size_t anvil_model_output_count(const anvil_model *m) {
    return m ? (size_t)m->graph->n_outputs : 0;
}

static void fill_desc(const anvil__value *v, anvil_tensor_desc *out) {
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->dtype = v->dtype;
    out->rank = v->rank;
    for (int32_t d = 0; d < v->rank && d < ANVIL_MAX_RANK; d++) {
        out->dims[d] = v->dims[d];
        out->dim_names[d] = v->dim_names[d];
    }
}

static anvil_status describe(const anvil_model *m, const int32_t *ids, int32_t n, size_t index,
                             const char *what, anvil_tensor_desc *out) {
    if (!m || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "model or out is NULL");
    if (index >= (size_t)n)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "%s index %zu: the model has %d", what,
                            index, (int)n);
    fill_desc(&m->graph->values[ids[index]], out);
    return ANVIL_OK;
}

anvil_status anvil_model_input(const anvil_model *m, size_t index, anvil_tensor_desc *out) {
    return describe(m, m ? m->graph->inputs : NULL, m ? m->graph->n_inputs : 0, index, "input",
                    out);
}

anvil_status anvil_model_output(const anvil_model *m, size_t index, anvil_tensor_desc *out) {
    return describe(m, m ? m->graph->outputs : NULL, m ? m->graph->n_outputs : 0, index,
                    "output", out);
}

size_t anvil_model_initializer_count(const anvil_model *m) {
    return m ? (size_t)m->graph->n_inits : 0;
}

anvil_status anvil_model_initializer(const anvil_model *m, size_t index, anvil_tensor_desc *out,
                                     size_t *bytes) {
    if (!m || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "model or out is NULL");
    if (index >= (size_t)m->graph->n_inits)
        return anvil__error(ANVIL_STATUS_OUT_OF_RANGE, "initializer index %zu: the model has %d",
                            index, (int)m->graph->n_inits);
    const anvil__init *in = &m->graph->inits[index];
    fill_desc(&m->graph->values[in->value], out);
    if (bytes) *bytes = in->t.bytes;
    return ANVIL_OK;
}

size_t anvil_model_node_count(const anvil_model *m, const char *op_type) {
    if (!m) return 0;
    if (!op_type) return (size_t)m->graph->n_nodes;
    for (size_t k = 0; k < m->n_op_types; k++)
        if (strcmp(m->op_types[k], op_type) == 0) return m->op_counts[k];
    return 0;
}

const char *anvil_model_op_type(const anvil_model *m, size_t index, size_t *count) {
    if (!m || index >= m->n_op_types) return NULL;
    if (count) *count = m->op_counts[index];
    return m->op_types[index];
}

int64_t anvil_model_opset(const anvil_model *m) { return m ? m->graph->opset : 0; }

anvil_status anvil_model_print(const anvil_model *m, anvil_write_fn write, void *user) {
    if (!m || !write) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "model or write is NULL");
    return anvil__graph_print(m->graph, write, user);
}

anvil_status anvil_model_run_reference(const anvil_model *m, const anvil_tensor *inputs,
                                       size_t n_inputs, anvil_tensor_list **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!m || (n_inputs && !inputs))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "model or inputs is NULL");
    const anvil__graph *g = m->graph;
    size_t *order = anvil__calloc((size_t)g->n_inputs + 1, sizeof *order);
    anvil__tensor *in = anvil__calloc((size_t)g->n_inputs + 1, sizeof *in);
    anvil__tensor *res = anvil__calloc((size_t)g->n_outputs + 1, sizeof *res);
    anvil_tensor_list *list = anvil__tensor_list_new((size_t)g->n_outputs);
    anvil_status s = ANVIL_STATUS_OUT_OF_MEMORY;
    if (!order || !in || !res || !list) goto done;
    s = anvil__interp_check_inputs(g, inputs, n_inputs, order);
    if (s != ANVIL_OK) goto done;
    for (int32_t i = 0; i < g->n_inputs; i++) {
        const anvil_tensor *t = &inputs[order[i]];
        in[i].dtype = t->dtype;
        in[i].rank = t->rank;
        memcpy(in[i].dims, t->dims, sizeof t->dims);
        in[i].data = t->data;
        in[i].bytes = t->bytes;
        if (!in[i].data) in[i].data = (void *)""; /* empty tensor: any non-NULL pointer */
    }
    s = anvil__interp_run(g, NULL, in, res);
    for (int32_t o = 0; o < g->n_outputs; o++) {
        if (s == ANVIL_OK) {
            s = anvil__tensor_list_set(list, (size_t)o, g->values[g->outputs[o]].name,
                                       res[o].dtype, res[o].rank, res[o].dims, res[o].data,
                                       res[o].bytes);
            if (s == ANVIL_OK) res[o].data = NULL;
        }
        anvil__free(res[o].data);
    }
done:
    anvil__free(order);
    anvil__free(in);
    anvil__free(res);
    if (s != ANVIL_OK) {
        anvil_tensor_list_destroy(list);
        return s;
    }
    *out = list;
    return ANVIL_OK;
}
