/*
 * print.c — a readable listing of a graph, one line per input, initializer, node and output:
 *   %3 = Conv(%x, %w) {strides=[1,1]} : f32[1x16x112x112]  # conv1
 * Subgraphs follow their node, indented. For people and tests; it is not a file format and is
 * never parsed back.
 */
#include "ir/ir.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct line {
    char *buf;
    size_t len, cap;
    bool failed;
    anvil_write_fn write;
    void *user;
} line;

static void put(line *l, const char *fmt, ...) ANVIL_PRINTF(2, 3);
static void put(line *l, const char *fmt, ...) {
    if (l->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(l->buf + l->len, l->cap - l->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            l->failed = true;
            return;
        }
        if ((size_t)n < l->cap - l->len) {
            l->len += (size_t)n;
            return;
        }
        size_t cap = l->cap * 2 + (size_t)n;
        char *p = anvil__realloc(l->buf, cap);
        if (!p) {
            l->failed = true;
            return;
        }
        l->buf = p;
        l->cap = cap;
    }
}

static void flush(line *l) {
    if (l->failed) return;
    put(l, "\n");
    if (!l->failed) l->write(l->user, l->buf, l->len);
    l->len = 0;
    l->buf[0] = '\0';
}

static void put_shape(line *l, anvil_dtype dtype, int32_t rank, const int64_t *dims,
                      char *const *dim_names) {
    put(l, "%s", dtype == ANVIL_DTYPE_UNDEFINED ? "?" : anvil_dtype_name(dtype));
    if (rank < 0) {
        put(l, "[*]");
        return;
    }
    put(l, "[");
    for (int32_t d = 0; d < rank && d < ANVIL_MAX_RANK; d++) {
        if (d) put(l, "x");
        if (dim_names && dim_names[d]) put(l, "%s", dim_names[d]);
        else if (dims[d] < 0) put(l, "?");
        else put(l, "%lld", (long long)dims[d]);
    }
    put(l, "]");
}

static void put_value_type(line *l, const anvil__value *v) {
    put_shape(l, v->dtype, v->rank, v->dims, v->dim_names);
}

static void put_string(line *l, const char *s, size_t n) {
    put(l, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') put(l, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) put(l, "\\x%02x", c);
        else put(l, "%c", c);
    }
    put(l, "\"");
}

enum { SHOWN = 16 }; /* list elements shown before "..." */

static void put_tensor(line *l, const anvil__tensor *t) {
    put_shape(l, t->dtype, t->rank, t->dims, NULL);
    int64_t n = anvil__tensor_numel(t);
    if (!t->data || n < 0) return;
    put(l, "{");
    for (int64_t i = 0; i < n && i < SHOWN; i++) {
        if (i) put(l, ",");
        if (anvil__dtype_is_float(t->dtype))
            put(l, "%g", anvil__load_f64(t->dtype, t->data, (size_t)i));
        else
            put(l, "%lld", (long long)anvil__load_i64(t->dtype, t->data, (size_t)i));
    }
    put(l, "%s}", n > SHOWN ? ",..." : "");
}

static void put_attr(line *l, const anvil__attr *a) {
    put(l, "%s=", a->name);
    switch (a->kind) {
    case ANVIL_ATTR_FLOAT: put(l, "%g", a->f); break;
    case ANVIL_ATTR_INT: put(l, "%lld", (long long)a->i); break;
    case ANVIL_ATTR_STRING: put_string(l, a->s ? a->s : "", a->s ? a->s_len : 0); break;
    case ANVIL_ATTR_TENSOR: put_tensor(l, &a->t); break;
    case ANVIL_ATTR_GRAPH: put(l, "graph '%s'", a->g && a->g->name ? a->g->name : ""); break;
    case ANVIL_ATTR_FLOATS:
    case ANVIL_ATTR_INTS:
    case ANVIL_ATTR_STRINGS:
        put(l, "[");
        for (size_t i = 0; i < a->n && i < SHOWN; i++) {
            if (i) put(l, ",");
            if (a->kind == ANVIL_ATTR_FLOATS) put(l, "%g", (double)a->floats[i]);
            else if (a->kind == ANVIL_ATTR_INTS) put(l, "%lld", (long long)a->ints[i]);
            else put_string(l, a->strings[i], strlen(a->strings[i]));
        }
        put(l, "%s]", a->n > SHOWN ? ",..." : "");
        break;
    default: put(l, "<undefined>"); break;
    }
}

static void put_ids(line *l, const anvil__graph *g, const int32_t *ids, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        if (i) put(l, ", ");
        if (ids[i] < 0 || ids[i] >= g->n_values) put(l, "_");
        else put(l, "%%%s", g->values[ids[i]].name);
    }
}

static void print_graph(line *l, const anvil__graph *g, int indent);

static void print_node(line *l, const anvil__graph *g, const anvil__node *n, int indent) {
    put(l, "%*s", indent, "");
    put_ids(l, g, n->outputs, n->n_outputs);
    put(l, " = %s%s%s(", n->domain && n->domain[0] ? n->domain : "",
        n->domain && n->domain[0] ? "." : "", n->op_type);
    put_ids(l, g, n->inputs, n->n_inputs);
    put(l, ")");
    if (n->n_attrs > 0) {
        put(l, " {");
        for (int32_t a = 0; a < n->n_attrs; a++) {
            if (a) put(l, ", ");
            put_attr(l, &n->attrs[a]);
        }
        put(l, "}");
    }
    put(l, " : ");
    for (int32_t o = 0; o < n->n_outputs; o++) {
        if (o) put(l, ", ");
        if (n->outputs[o] < 0 || n->outputs[o] >= g->n_values) put(l, "_");
        else put_value_type(l, &g->values[n->outputs[o]]);
    }
    if (n->name && n->name[0]) put(l, "  # %s", n->name);
    flush(l);
    for (int32_t a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].kind == ANVIL_ATTR_GRAPH && n->attrs[a].g)
            print_graph(l, n->attrs[a].g, indent + 4);
}

static void print_value_line(line *l, const anvil__graph *g, int32_t v, const char *what,
                             int indent) {
    if (v < 0 || v >= g->n_values) return;
    put(l, "%*s%s %%%s : ", indent, "", what, g->values[v].name);
    put_value_type(l, &g->values[v]);
    flush(l);
}

static void print_graph(line *l, const anvil__graph *g, int indent) {
    put(l, "%*sgraph '%s' (opset %lld): %d inputs, %d initializers, %d nodes, %d outputs",
        indent, "", g->name ? g->name : "", (long long)g->opset, (int)g->n_inputs,
        (int)g->n_inits, (int)g->n_nodes, (int)g->n_outputs);
    flush(l);
    indent += 2;
    for (int32_t i = 0; i < g->n_inputs; i++) print_value_line(l, g, g->inputs[i], "input", indent);
    for (int32_t v = 0; v < g->n_values; v++)
        if (g->values[v].flags & ANVIL_VALUE_OUTER) print_value_line(l, g, v, "outer", indent);
    for (int32_t i = 0; i < g->n_inits; i++) {
        const anvil__init *in = &g->inits[i];
        if (in->value < 0 || in->value >= g->n_values) continue;
        put(l, "%*sinit %%%s : ", indent, "", g->values[in->value].name);
        put_shape(l, in->t.dtype, in->t.rank, in->t.dims, NULL);
        put(l, " (%zu bytes%s)", in->t.bytes, in->owned ? "" : ", in place");
        flush(l);
    }
    for (int32_t i = 0; i < g->n_nodes; i++) print_node(l, g, &g->nodes[i], indent);
    for (int32_t i = 0; i < g->n_outputs; i++)
        print_value_line(l, g, g->outputs[i], "output", indent);
}

anvil_status anvil__graph_print(const anvil__graph *g, anvil_write_fn write, void *user) {
    if (!g || !write) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "graph or write is NULL");
    line l = {NULL, 0, 256, false, write, user};
    if (!(l.buf = anvil__malloc(l.cap))) return ANVIL_STATUS_OUT_OF_MEMORY;
    l.buf[0] = '\0';
    print_graph(&l, g, 0);
    anvil__free(l.buf);
    return l.failed ? anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "out of memory printing the graph")
                    : ANVIL_OK;
}
