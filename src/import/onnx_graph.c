/*
 * onnx_graph.c — one ONNX GraphProto → anvil__graph: initializers, inputs (those that are
 * also initializers are not caller inputs), value types from type protos, nodes and every
 * attribute kind, GRAPH attributes as subgraphs with outer references. It records what is
 * unsupported and leaves checking the result (validate, toposort, verify) to onnx_import.c.
 */
#include "import/onnx_internal.h"

#include "ops/op.h"

#include <string.h>

static const char *str(const char *s) { return s ? s : ""; }

static bool used(const anvil__onnx_ctx *c, const char *name) {
    return anvil__name_map_get(&c->used, name) >= 0;
}

/* ---- value types ---- */

static const char *type_case_name(Onnx__TypeProto__ValueCase vc) {
    switch (vc) {
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "sequence";
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "map";
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "optional";
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "sparse tensor";
    default: return "unknown type";
    }
}

static anvil_status set_shape(anvil__value *v, const Onnx__TensorShapeProto *sh) {
    if (sh->n_dim > ANVIL_MAX_RANK)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "value '%s' has rank %zu, over the maximum of %d", v->name, sh->n_dim,
                            ANVIL_MAX_RANK);
    for (size_t d = 0; d < sh->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = sh->dim[d];
        anvil__free(v->dim_names[d]);
        v->dim_names[d] = NULL;
        v->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0)
                return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                    "value '%s': dim %zu is negative (%lld)", v->name, d,
                                    (long long)dim->dim_value);
            v->dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param && dim->dim_param[0]) {
            if (!(v->dim_names[d] = anvil__strdup(dim->dim_param)))
                return ANVIL_STATUS_OUT_OF_MEMORY;
        }
    }
    v->rank = (int32_t)sh->n_dim;
    return ANVIL_OK;
}

/* Sets a value's dtype and shape from a type proto. Types anvil cannot represent are recorded
 * as issues when `interface` (graph inputs/outputs) or the value is used; otherwise they are
 * only a hint and are ignored. */
static anvil_status set_type(anvil__onnx_ctx *c, anvil__graph *g, int32_t id,
                             const Onnx__TypeProto *tp, bool interface) {
    anvil__value *v = &g->values[id];
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return ANVIL_OK;
    bool needed = interface || used(c, v->name);
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return needed ? anvil__onnx_issue_add(c, ANVIL__ONNX_ISSUE_TYPE,
                                              type_case_name(tp->value_case), "", v->name, -1)
                      : ANVIL_OK;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != 0) {
        anvil_dtype dt;
        if (anvil__onnx_dtype(tt->elem_type, &dt)) {
            v->dtype = dt;
        } else if (needed) {
            anvil_status s = anvil__onnx_issue_add(c, ANVIL__ONNX_ISSUE_DTYPE,
                                                   anvil__onnx_type_name(tt->elem_type), "",
                                                   v->name, -1);
            if (s != ANVIL_OK) return s;
        }
    }
    return tt->shape ? set_shape(v, tt->shape) : ANVIL_OK;
}

/* ---- initializers and inputs ---- */

static anvil_status add_init(anvil__onnx_ctx *c, anvil__graph *g, const anvil__onnx_init *in,
                             bool may_view, size_t index) {
    const Onnx__TensorProto *tp = in->tp;
    const char *name = str(tp->name);
    if (!name[0])
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "initializer #%zu of graph '%s' has no name",
                            index, str(g->name));
    anvil_dtype dt;
    if (tp->has_data_type && tp->data_type != 0 && !anvil__onnx_dtype(tp->data_type, &dt))
        return used(c, name) ? anvil__onnx_issue_add(c, ANVIL__ONNX_ISSUE_DTYPE,
                                                     anvil__onnx_type_name(tp->data_type), "",
                                                     name, -1)
                             : ANVIL_OK; /* an unused weight of an exotic type: harmless */
    anvil__tensor t;
    bool owned;
    anvil_status s = anvil__onnx_tensor(c, tp, in->has_raw ? &in->raw : NULL, may_view, name, &t,
                                        &owned);
    if (s != ANVIL_OK) return s;
    int32_t id;
    s = anvil__graph_add_value(g, name, &id);
    if (s == ANVIL_OK) s = anvil__graph_add_init(g, id, &t, owned);
    if (s != ANVIL_OK && owned) anvil__free(t.data);
    return s;
}

static anvil_status add_inputs(anvil__onnx_ctx *c, anvil__graph *g, const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = str(vi->name);
        if (!name[0])
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "input #%zu of graph '%s' has no name",
                                i, str(g->name));
        int32_t id = anvil__graph_find(g, name);
        /* ONNX IR < 4 lists initializers among the inputs too: they stay initializers. */
        if (id >= 0 && (g->values[id].flags & ANVIL_VALUE_INITIALIZER)) continue;
        if (id >= 0)
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "graph '%s': input '%s' is defined twice", str(g->name), name);
        anvil_status s = anvil__graph_add_value(g, name, &id);
        if (s == ANVIL_OK) s = set_type(c, g, id, vi->type, true);
        if (s == ANVIL_OK) s = anvil__graph_add_input(g, id);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

/* Registers every node output before the nodes are read, so a subgraph can tell a name of its
 * enclosing graph from an undefined one, whatever the node order. */
static anvil_status register_outputs(anvil__graph *g, const Onnx__GraphProto *gp) {
    for (size_t n = 0; n < gp->n_node; n++) {
        const Onnx__NodeProto *np = gp->node[n];
        for (size_t o = 0; o < np->n_output; o++) {
            const char *name = np->output[o];
            if (!name[0]) continue;
            int32_t id = anvil__graph_find(g, name);
            if (id >= 0) {
                const anvil__value *v = &g->values[id];
                const char *other = v->flags & ANVIL_VALUE_INITIALIZER ? "an initializer"
                                    : v->flags & ANVIL_VALUE_INPUT     ? "a graph input"
                                                                       : "node";
                const char *other_node =
                    v->producer >= 0 ? str(gp->node[v->producer]->name) : NULL;
                return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                    "value '%s' is defined twice: by %s%s%s%s and by node '%s' "
                                    "(%s)",
                                    name, other, other_node ? " '" : "",
                                    other_node ? other_node : "", other_node ? "'" : "",
                                    str(np->name), str(np->op_type));
            }
            anvil_status s = anvil__graph_add_value(g, name, &id);
            if (s != ANVIL_OK) return s;
            g->values[id].producer = (int32_t)n; /* add_node sets the same index later */
        }
    }
    return ANVIL_OK;
}

/* Resolves a name read in `g`: its own value, else a value of an enclosing graph (added as an
 * ANVIL_VALUE_OUTER reference), else a new undefined value that verify will report. */
static anvil_status resolve(anvil__graph *g, const char *name, int32_t *out) {
    *out = anvil__graph_find(g, name);
    if (*out >= 0) return ANVIL_OK;
    for (const anvil__graph *p = g->parent; p; p = p->parent) {
        int32_t pid = anvil__graph_find(p, name);
        if (pid < 0) continue;
        anvil_status s = anvil__graph_add_value(g, name, out);
        if (s != ANVIL_OK) return s;
        const anvil__value *pv = &p->values[pid];
        anvil__value *v = &g->values[*out];
        v->flags |= ANVIL_VALUE_OUTER;
        v->dtype = pv->dtype;
        v->rank = pv->rank;
        memcpy(v->dims, pv->dims, sizeof v->dims);
        return ANVIL_OK;
    }
    return anvil__graph_add_value(g, name, out);
}

/* ---- attributes ---- */

static int attr_kind(const Onnx__AttributeProto *ap) {
    if (ap->has_type && ap->type != 0) return (int)ap->type;
    /* Old exporters leave `type` unset: infer it from the field that holds the value. */
    if (ap->has_f) return ANVIL_ATTR_FLOAT;
    if (ap->has_i) return ANVIL_ATTR_INT;
    if (ap->has_s) return ANVIL_ATTR_STRING;
    if (ap->t) return ANVIL_ATTR_TENSOR;
    if (ap->g) return ANVIL_ATTR_GRAPH;
    if (ap->n_floats) return ANVIL_ATTR_FLOATS;
    if (ap->n_ints) return ANVIL_ATTR_INTS;
    if (ap->n_strings) return ANVIL_ATTR_STRINGS;
    return 0;
}

/* Empty bytes fields have a NULL data pointer. */
static char *bytes_dup(const ProtobufCBinaryData *b) {
    return anvil__strndup(b->len ? (const char *)b->data : "", b->len);
}

static anvil_status attr_strings(anvil__attr *a, const Onnx__AttributeProto *ap) {
    a->strings = anvil__calloc(ap->n_strings ? ap->n_strings : 1, sizeof *a->strings);
    if (!a->strings) return ANVIL_STATUS_OUT_OF_MEMORY;
    a->n = ap->n_strings;
    for (size_t i = 0; i < ap->n_strings; i++)
        if (!(a->strings[i] = bytes_dup(&ap->strings[i])))
            return ANVIL_STATUS_OUT_OF_MEMORY;
    return ANVIL_OK;
}

static anvil_status attr_array(void **dst, size_t *n, const void *src, size_t count,
                               size_t elem) {
    *dst = anvil__malloc_array(count ? count : 1, elem);
    if (!*dst) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (count) memcpy(*dst, src, count * elem);
    *n = count;
    return ANVIL_OK;
}

static anvil_status attr_tensor(anvil__onnx_ctx *c, const anvil__node *n, anvil__attr *a,
                                const Onnx__TensorProto *tp, int32_t node_index) {
    anvil_dtype dt;
    if (tp->has_data_type && tp->data_type != 0 && !anvil__onnx_dtype(tp->data_type, &dt)) {
        a->kind = ANVIL_ATTR_UNDEFINED; /* reported below; the import fails */
        return anvil__onnx_issue_add(c, ANVIL__ONNX_ISSUE_DTYPE,
                                     anvil__onnx_type_name(tp->data_type), "", n->name,
                                     node_index);
    }
    bool owned;
    anvil_status s = anvil__onnx_tensor(c, tp, NULL, false, a->name, &a->t, &owned);
    if (s != ANVIL_OK)
        return anvil__error_prefix(s, "node '%s' (%s): attribute '%s'", n->name, n->op_type,
                                   a->name);
    return ANVIL_OK;
}

static anvil_status add_attr(anvil__onnx_ctx *c, anvil__graph *g, int32_t node,
                             const Onnx__AttributeProto *ap, int32_t node_index) {
    const anvil__node *n = &g->nodes[node];
    const char *name = str(ap->name);
    if (!name[0])
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "node '%s' (%s): an attribute has no name",
                            n->name, n->op_type);
    if (n->n_attrs >= ANVIL__ONNX_MAX_ATTRS)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED,
                            "node '%s' (%s) has more than %d attributes", n->name, n->op_type,
                            ANVIL__ONNX_MAX_ATTRS);
    if (anvil__node_attr(n, name))
        return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                            "node '%s' (%s): attribute '%s' is given twice", n->name, n->op_type,
                            name);
    if (ap->ref_attr_name && ap->ref_attr_name[0])
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "node '%s' (%s): attribute '%s' refers to a function attribute",
                            n->name, n->op_type, name);
    int kind = attr_kind(ap);
    anvil__attr *a;
    anvil_status s = anvil__node_add_attr(g, node, name, &a);
    if (s != ANVIL_OK) return s;
    n = &g->nodes[node];
    a->kind = (anvil__attr_kind)kind;
    switch (kind) {
    case ANVIL_ATTR_FLOAT: a->f = ap->f; return ANVIL_OK;
    case ANVIL_ATTR_INT: a->i = ap->i; return ANVIL_OK;
    case ANVIL_ATTR_STRING:
        a->s = bytes_dup(&ap->s);
        a->s_len = ap->s.len;
        return a->s ? ANVIL_OK : ANVIL_STATUS_OUT_OF_MEMORY;
    case ANVIL_ATTR_FLOATS:
        return attr_array((void **)&a->floats, &a->n, ap->floats, ap->n_floats, sizeof(float));
    case ANVIL_ATTR_INTS:
        return attr_array((void **)&a->ints, &a->n, ap->ints, ap->n_ints, sizeof(int64_t));
    case ANVIL_ATTR_STRINGS: return attr_strings(a, ap);
    case ANVIL_ATTR_TENSOR:
        if (!ap->t) break;
        return attr_tensor(c, n, a, ap->t, node_index);
    case ANVIL_ATTR_GRAPH:
        if (!ap->g) break;
        if (!(a->g = anvil__graph_new(g))) return ANVIL_STATUS_OUT_OF_MEMORY;
        return anvil__onnx_build_graph(c, ap->g, NULL, 0, a->g);
    default:
        a->kind = ANVIL_ATTR_UNDEFINED;
        if (kind == 0)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "node '%s' (%s): attribute '%s' has no type and no value",
                                n->name, n->op_type, name);
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "node '%s' (%s): attribute '%s' has kind %d (tensors, graphs, "
                            "sparse tensors and type protos are not supported)",
                            n->name, n->op_type, name, kind);
    }
    a->kind = ANVIL_ATTR_UNDEFINED;
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "node '%s' (%s): attribute '%s' has no value",
                        n->name, n->op_type, name);
}

/* ---- nodes ---- */

static anvil_status node_ids(anvil__graph *g, char **names, size_t count, bool is_input,
                             int32_t **ids) {
    if (count > INT32_MAX / 2)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "a node has %zu %s", count,
                            is_input ? "inputs" : "outputs");
    *ids = anvil__malloc_array(count ? count : 1, sizeof **ids);
    if (!*ids) return ANVIL_STATUS_OUT_OF_MEMORY;
    for (size_t i = 0; i < count; i++) {
        (*ids)[i] = -1; /* "" marks an omitted optional input or output */
        if (!names[i][0]) continue;
        if (is_input) {
            anvil_status s = resolve(g, names[i], &(*ids)[i]);
            if (s != ANVIL_OK) return s;
        } else {
            (*ids)[i] = anvil__graph_find(g, names[i]); /* registered beforehand */
        }
    }
    return ANVIL_OK;
}

static anvil_status add_node(anvil__onnx_ctx *c, anvil__graph *g, const Onnx__NodeProto *np,
                             int32_t index) {
    const char *op_type = str(np->op_type), *domain = str(np->domain);
    if (!op_type[0])
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "node '%s' (#%d) has no op_type",
                            str(np->name), (int)index);
    if (strcmp(domain, "ai.onnx") == 0) domain = ""; /* two spellings of the default domain */
    int32_t *in = NULL, *out = NULL, id = -1;
    anvil_status s = node_ids(g, np->input, np->n_input, true, &in);
    if (s == ANVIL_OK) s = node_ids(g, np->output, np->n_output, false, &out);
    if (s == ANVIL_OK)
        s = anvil__graph_add_node(g, str(np->name), op_type, domain, in, (int32_t)np->n_input,
                                  out, (int32_t)np->n_output, &id);
    anvil__free(in);
    anvil__free(out);
    if (s != ANVIL_OK) return s;
    anvil__node *n = &g->nodes[id];
    n->op = anvil__op_find(op_type, domain);
    if (n->op < 0) /* no attributes needed: the import fails with the list of these */
        return anvil__onnx_issue_add(c, ANVIL__ONNX_ISSUE_OP, np->op_type, str(np->domain),
                                     str(np->name), index);
    for (size_t a = 0; a < np->n_attribute && s == ANVIL_OK; a++)
        s = add_attr(c, g, id, np->attribute[a], index);
    return s;
}

/* ---- outputs, value_info ---- */

static anvil_status add_outputs(anvil__onnx_ctx *c, anvil__graph *g, const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *name = str(vi->name);
        if (!name[0])
            return anvil__error(ANVIL_STATUS_PARSE_ERROR, "output #%zu of graph '%s' has no name",
                                i, str(g->name));
        int32_t id;
        anvil_status s = resolve(g, name, &id);
        if (s != ANVIL_OK) return s;
        if (g->values[id].flags & ANVIL_VALUE_OUTPUT)
            return anvil__error(ANVIL_STATUS_INVALID_GRAPH,
                                "graph '%s': output '%s' is listed twice", str(g->name), name);
        const anvil__value *v = &g->values[id];
        if (v->dtype == ANVIL_DTYPE_UNDEFINED && v->rank < 0)
            s = set_type(c, g, id, vi->type, true);
        if (s == ANVIL_OK) s = anvil__graph_add_output(g, id);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

static anvil_status apply_value_info(anvil__onnx_ctx *c, anvil__graph *g,
                                     const Onnx__GraphProto *gp) {
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int32_t id = anvil__graph_find(g, str(vi->name));
        if (id < 0) continue; /* type of a value nothing uses */
        const anvil__value *v = &g->values[id];
        if (v->dtype != ANVIL_DTYPE_UNDEFINED || v->rank >= 0) continue;
        anvil_status s = set_type(c, g, id, vi->type, false);
        if (s != ANVIL_OK) return s;
    }
    return ANVIL_OK;
}

anvil_status anvil__onnx_build_graph(anvil__onnx_ctx *c, const Onnx__GraphProto *gp,
                                     const anvil__onnx_init *inits, size_t n_inits,
                                     anvil__graph *g) {
    if (!(g->name = anvil__strdup(str(gp->name)))) return ANVIL_STATUS_OUT_OF_MEMORY;
    if (gp->n_node > INT32_MAX / 4 || gp->n_initializer > INT32_MAX / 4)
        return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "graph '%s' is too large", g->name);
    if (gp->n_sparse_initializer)
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "graph '%s' has sparse initializers ('%s'), which are not supported",
                            g->name, str(gp->sparse_initializer[0]->values
                                             ? gp->sparse_initializer[0]->values->name
                                             : NULL));
    anvil_status s = ANVIL_OK;
    if (inits) {
        for (size_t i = 0; i < n_inits && s == ANVIL_OK; i++) s = add_init(c, g, &inits[i], true, i);
    } else {
        for (size_t i = 0; i < gp->n_initializer && s == ANVIL_OK; i++) {
            anvil__onnx_init in = {gp->initializer[i], {NULL, 0}, false};
            s = add_init(c, g, &in, false, i);
        }
    }
    if (s == ANVIL_OK) s = add_inputs(c, g, gp);
    if (s == ANVIL_OK) s = register_outputs(g, gp);
    for (size_t n = 0; n < gp->n_node && s == ANVIL_OK; n++)
        s = add_node(c, g, gp->node[n], (int32_t)n);
    if (s == ANVIL_OK) s = add_outputs(c, g, gp);
    if (s == ANVIL_OK) s = apply_value_info(c, g, gp);
    return s;
}
