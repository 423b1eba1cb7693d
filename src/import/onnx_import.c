/*
 * onnx_import.c — the importer's entry point: checks the protobuf wire format, unpacks the
 * model with protobuf-c while keeping initializer bytes in place, reads opsets, builds the
 * graph (onnx_graph.c), then reports everything unsupported in one message, validates each
 * node against its op, sorts and verifies the graph. Tensor decoding is in onnx_tensor.c.
 */
#include "import/onnx_internal.h"

#include "ops/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { FIELD_MODEL_GRAPH = 7, FIELD_GRAPH_INITIALIZER = 5, FIELD_TENSOR_RAW_DATA = 9 };

/* ---- unsupported things, listed together ---- */

anvil_status anvil__onnx_issue_add(anvil__onnx_ctx *c, int kind, const char *key,
                                   const char *domain, const char *name, int32_t index) {
    anvil__onnx_issue *is = NULL;
    for (size_t i = 0; i < c->n_issues && !is; i++)
        if (c->issues[i].kind == kind && strcmp(c->issues[i].key, key) == 0 &&
            strcmp(c->issues[i].domain, domain) == 0)
            is = &c->issues[i];
    if (!is) {
        if (c->n_issues == ANVIL__ONNX_MAX_ISSUES) {
            c->n_more_issues++;
            return ANVIL_OK;
        }
        is = &c->issues[c->n_issues++];
        memset(is, 0, sizeof *is);
        is->kind = kind;
        is->key = key;
        is->domain = domain;
    }
    if (is->n_where < ANVIL__ONNX_MAX_WHERE) {
        is->where[is->n_where].name = name;
        is->where[is->n_where].index = index;
    }
    is->n_where++;
    return ANVIL_OK;
}

/* Bounded appending to a fixed buffer; the message is cut (with "...") rather than lost. */
typedef struct msg_buf {
    char text[3072];
    size_t len;
} msg_buf;

static void msg_add(msg_buf *m, const char *fmt, ...) ANVIL_PRINTF(2, 3);
static void msg_add(msg_buf *m, const char *fmt, ...) {
    if (m->len >= sizeof m->text - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->text + m->len, sizeof m->text - m->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    m->len += (size_t)n;
    if (m->len >= sizeof m->text - 1) {
        m->len = sizeof m->text - 1;
        memcpy(m->text + m->len - 3, "...", 3);
    }
}

static void msg_issue(msg_buf *m, const anvil__onnx_issue *is) {
    static const char *const what[][2] = {{"node", "nodes"}, {"tensor", "tensors"},
                                          {"value", "values"}};
    if (is->domain[0]) msg_add(m, "%s.", is->domain);
    msg_add(m, "%s (%s ", is->key, what[is->kind][is->n_where > 1]);
    enum { SHOWN = ANVIL__ONNX_MAX_WHERE };
    for (size_t w = 0; w < is->n_where && w < SHOWN; w++) {
        const anvil__onnx_where *at = &is->where[w];
        if (at->name[0]) msg_add(m, "%s'%s'", w ? ", " : "", at->name);
        else msg_add(m, "%s#%d", w ? ", " : "", (int)at->index);
    }
    if (is->n_where > SHOWN) msg_add(m, " and %zu more", is->n_where - SHOWN);
    msg_add(m, ")");
}

static anvil_status report_issues(const anvil__onnx_ctx *c, const char *opset_problem) {
    static const char *const heading[] = {"unsupported ops: ", "unsupported element types: ",
                                          "unsupported value types: "};
    msg_buf m = {.len = 0};
    m.text[0] = '\0';
    for (int kind = 0; kind < 3; kind++) {
        bool first = true;
        for (size_t i = 0; i < c->n_issues; i++) {
            if (c->issues[i].kind != kind) continue;
            msg_add(&m, "%s", first ? (m.len ? "; " : "") : "; ");
            if (first) msg_add(&m, "%s", heading[kind]);
            first = false;
            msg_issue(&m, &c->issues[i]);
        }
    }
    if (c->n_more_issues) msg_add(&m, "; and %zu more", c->n_more_issues);
    if (opset_problem[0]) msg_add(&m, "%s%s", m.len ? "; " : "", opset_problem);
    if (!m.len) return ANVIL_OK;
    return anvil__error(ANVIL_STATUS_UNSUPPORTED, "%s", m.text);
}

/* ---- names in use (an unused exotic-typed weight is not an error) ---- */

static anvil_status collect_used(anvil__name_map *used, const Onnx__GraphProto *gp) {
    anvil_status s = ANVIL_OK;
    for (size_t n = 0; n < gp->n_node && s == ANVIL_OK; n++) {
        const Onnx__NodeProto *np = gp->node[n];
        for (size_t i = 0; i < np->n_input && s == ANVIL_OK; i++)
            if (np->input[i][0]) s = anvil__name_map_put(used, np->input[i], 1);
        for (size_t a = 0; a < np->n_attribute && s == ANVIL_OK; a++) {
            const Onnx__AttributeProto *ap = np->attribute[a];
            if (ap->g) s = collect_used(used, ap->g);
            for (size_t k = 0; k < ap->n_graphs && s == ANVIL_OK; k++)
                s = collect_used(used, ap->graphs[k]);
        }
    }
    for (size_t o = 0; o < gp->n_output && s == ANVIL_OK; o++)
        if (gp->output[o]->name) s = anvil__name_map_put(used, gp->output[o]->name, 1);
    return s;
}

/* ---- opsets ---- */

/* Reads the default-domain opset. Other domains are only a problem through their nodes, which
 * the op registry does not know and which are listed as unsupported ops. */
static void read_opset(const Onnx__ModelProto *mp, int64_t *opset, char *problem, size_t size) {
    bool found = false;
    *opset = 0;
    problem[0] = '\0';
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
        const char *d = op->domain ? op->domain : "";
        if (strcmp(d, "") != 0 && strcmp(d, "ai.onnx") != 0) continue;
        int64_t v = op->has_version ? op->version : 0;
        if (!found || v > *opset) *opset = v;
        found = true;
    }
    if (!found && mp->n_opset_import == 0) {
        *opset = 1; /* IR version 1-2 models predate opset_import */
        return;
    }
    if (!found)
        snprintf(problem, size, "unsupported opset: the model imports no opset of the default "
                 "ONNX domain (supported: 1..%d)", ANVIL_ONNX_MAX_OPSET);
    else if (*opset < 1 || *opset > ANVIL_ONNX_MAX_OPSET)
        snprintf(problem, size, "unsupported opset: default ONNX domain version %lld "
                 "(supported: 1..%d)", (long long)*opset, ANVIL_ONNX_MAX_OPSET);
}

/* ---- checks after building ---- */

static anvil_status validate_graph(const anvil__graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const anvil__node *n = &g->nodes[i];
        anvil_status s = anvil__op_validate_node(n, g->opset);
        if (s != ANVIL_OK) return s;
        for (int32_t a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].kind != ANVIL_ATTR_GRAPH) continue;
            s = validate_graph(n->attrs[a].g);
            if (s != ANVIL_OK) return s;
        }
    }
    return ANVIL_OK;
}

/* ---- unpacking with weights left in place ---- */

typedef struct unpacked {
    Onnx__ModelProto *model;
    Onnx__GraphProto *graph;
    anvil__onnx_init *inits;
    size_t n_inits;
} unpacked;

static void unpacked_free(unpacked *u, anvil__onnx_alloc *a) {
    for (size_t i = 0; i < u->n_inits; i++)
        if (u->inits[i].tp)
            onnx__tensor_proto__free_unpacked((Onnx__TensorProto *)u->inits[i].tp, &a->pc);
    anvil__free(u->inits);
    if (u->graph) onnx__graph_proto__free_unpacked(u->graph, &a->pc);
    if (u->model) onnx__model_proto__free_unpacked(u->model, &a->pc);
    memset(u, 0, sizeof *u);
}

/* One initializer: unpacked without its raw_data, whose place is remembered instead. */
static anvil_status unpack_init(anvil__onnx_alloc *a, anvil__onnx_span span,
                                anvil__onnx_init *out) {
    uint8_t *rest;
    size_t rest_size, n_raw;
    anvil__onnx_span *raw;
    anvil_status s = anvil__onnx_wire_split(&span, 1, FIELD_TENSOR_RAW_DATA, &rest, &rest_size,
                                            &raw, &n_raw);
    if (s != ANVIL_OK) return s;
    out->tp = onnx__tensor_proto__unpack(&a->pc, rest_size, rest);
    if (n_raw) { /* the last occurrence wins, as in protobuf */
        out->raw = raw[n_raw - 1];
        out->has_raw = true;
    }
    anvil__free(rest);
    anvil__free(raw);
    return out->tp ? ANVIL_OK : anvil__onnx_unpack_error(a, "initializer TensorProto");
}

static anvil_status unpack_graph(anvil__onnx_alloc *a, const anvil__onnx_span *spans, size_t n,
                                 unpacked *u) {
    uint8_t *rest;
    size_t rest_size, n_init;
    anvil__onnx_span *init_spans;
    anvil_status s = anvil__onnx_wire_split(spans, n, FIELD_GRAPH_INITIALIZER, &rest, &rest_size,
                                            &init_spans, &n_init);
    if (s != ANVIL_OK) return s;
    u->graph = onnx__graph_proto__unpack(&a->pc, rest_size, rest);
    anvil__free(rest);
    if (!u->graph) s = anvil__onnx_unpack_error(a, "GraphProto");
    if (s == ANVIL_OK && !(u->inits = anvil__calloc(n_init ? n_init : 1, sizeof *u->inits)))
        s = ANVIL_STATUS_OUT_OF_MEMORY;
    for (size_t i = 0; i < n_init && s == ANVIL_OK; i++) {
        s = unpack_init(a, init_spans[i], &u->inits[i]);
        u->n_inits = i + 1;
    }
    anvil__free(init_spans);
    return s;
}

static anvil_status unpack_model(anvil__onnx_alloc *a, const uint8_t *data, size_t size,
                                 unpacked *u) {
    anvil_status s = anvil__onnx_wire_check(data, size, &onnx__model_proto__descriptor);
    if (s != ANVIL_OK) return s;
    anvil__onnx_span all = {data, size}, *graphs;
    uint8_t *rest;
    size_t rest_size, n_graphs;
    s = anvil__onnx_wire_split(&all, 1, FIELD_MODEL_GRAPH, &rest, &rest_size, &graphs, &n_graphs);
    if (s != ANVIL_OK) return s;
    u->model = onnx__model_proto__unpack(&a->pc, rest_size, rest);
    anvil__free(rest);
    if (!u->model) s = anvil__onnx_unpack_error(a, "ModelProto");
    else if (n_graphs == 0)
        s = anvil__error(ANVIL_STATUS_PARSE_ERROR,
                         "malformed ONNX file: the model has no graph (%zu bytes read)", size);
    else s = unpack_graph(a, graphs, n_graphs, u);
    anvil__free(graphs);
    return s;
}

/* ---- entry points ---- */

static char *dup_or_empty(const char *s) { return anvil__strdup(s ? s : ""); }

static anvil_status import_model(anvil__onnx_ctx *c, const uint8_t *data, size_t size,
                                 unpacked *u) {
    anvil__onnx_model *m = c->model;
    anvil_status s = unpack_model(&c->alloc, data, size, u);
    if (s != ANVIL_OK) return s;
    const Onnx__ModelProto *mp = u->model;
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->model_version = mp->has_model_version ? mp->model_version : 0;
    if (!(m->producer_name = dup_or_empty(mp->producer_name)) ||
        !(m->producer_version = dup_or_empty(mp->producer_version)) ||
        !(m->graph = anvil__graph_new(NULL)))
        return ANVIL_STATUS_OUT_OF_MEMORY;
    char opset_problem[200];
    read_opset(mp, &m->opset, opset_problem, sizeof opset_problem);
    m->graph->opset = m->opset;
    s = collect_used(&c->used, u->graph);
    if (s == ANVIL_OK) s = anvil__onnx_build_graph(c, u->graph, u->inits, u->n_inits, m->graph);
    /* A graph that cannot run anyway fails with the full list of what is missing. */
    if (s == ANVIL_OK || s == ANVIL_STATUS_INVALID_GRAPH) {
        anvil_status unsupported = report_issues(c, opset_problem);
        if (unsupported != ANVIL_OK) return unsupported;
    }
    if (s == ANVIL_OK) s = validate_graph(m->graph);
    if (s == ANVIL_OK) s = anvil__graph_toposort(m->graph);
    if (s == ANVIL_OK) s = anvil__graph_verify(m->graph);
    return s;
}

anvil_status anvil__onnx_import(const uint8_t *data, size_t size, const char *base_dir,
                                anvil__onnx_model **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data is NULL");
    if (size == 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "malformed ONNX file: it is empty");
    anvil__onnx_ctx c;
    memset(&c, 0, sizeof c);
    c.base_dir = base_dir;
    anvil__onnx_alloc_init(&c.alloc);
    if (!(c.model = anvil__calloc(1, sizeof *c.model))) return ANVIL_STATUS_OUT_OF_MEMORY;
    unpacked u;
    memset(&u, 0, sizeof u);
    anvil_status s = import_model(&c, data, size, &u);
    anvil__name_map_free(&c.used);
    unpacked_free(&u, &c.alloc);
    anvil__onnx_ctx_free(&c);
    if (s != ANVIL_OK) {
        anvil__onnx_model_destroy(c.model);
        return s;
    }
    *out = c.model;
    return ANVIL_OK;
}

void anvil__onnx_model_destroy(anvil__onnx_model *m) {
    if (!m) return;
    anvil__graph_destroy(m->graph);
    for (size_t i = 0; i < m->n_files; i++) anvil__unmap(&m->files[i]);
    anvil__free(m->files);
    anvil__free(m->producer_name);
    anvil__free(m->producer_version);
    anvil__free(m);
}
