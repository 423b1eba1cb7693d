/*
 * deserialize_graph.c — rebuilds the IR from bytes written by serialize_graph.c, treating them
 * as hostile: every count is checked against the bytes left before anything is allocated, ids
 * against their tables, ranks, dtypes and attribute kinds against their enums, nesting depth
 * against ANVIL_GRAPH_MAX_DEPTH; op ids are looked up again by name. The finished graph must
 * pass anvil__graph_verify. Layout: docs/engine-format.md §3.
 */
#include "engine/serialize_graph.h"

#include "ops/op.h"

#include <stdio.h>
#include <string.h>

#define KNOWN_VALUE_FLAGS                                                                          \
    (ANVIL_VALUE_INPUT | ANVIL_VALUE_OUTPUT | ANVIL_VALUE_INITIALIZER | ANVIL_VALUE_OUTER)
#define KNOWN_NODE_FLAGS (ANVIL_NODE_DEAD)
#define MAX_ITEMS ((size_t)INT32_MAX / 4) /* values, nodes, ids: fits the IR's int32 counts */

typedef struct ctx {
    anvil__reader r;
    bool data_allowed; /* stream flag: initializer data may be present */
} ctx;

/* Turns a failure reported by an IR helper into the reader's error (PARSE_ERROR unless out of
 * memory), keeping the helper's message. */
static void fail_from(ctx *c, anvil_status s, const char *what) {
    if (s == ANVIL_OK || c->r.status != ANVIL_OK) return;
    if (s == ANVIL_STATUS_OUT_OF_MEMORY) {
        c->r.status = s;
        return;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "%s", anvil_last_error());
    anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "%s: %s", what, msg);
}

static void *alloc_items(ctx *c, size_t n, size_t size) {
    if (c->r.status != ANVIL_OK) return NULL;
    void *p = anvil__calloc(n ? n : 1, size);
    if (!p) c->r.status = ANVIL_STATUS_OUT_OF_MEMORY;
    return p;
}

/* A list of value ids, each in [lo, n_values). */
static int32_t *read_ids(ctx *c, int32_t n_values, int32_t lo, int32_t *count, const char *what) {
    *count = (int32_t)anvil__read_count(&c->r, MAX_ITEMS, 4, what);
    int32_t *ids = alloc_items(c, (size_t)*count, sizeof *ids);
    for (int32_t i = 0; ids && i < *count && c->r.status == ANVIL_OK; i++) {
        ids[i] = anvil__read_i32(&c->r, what);
        if (c->r.status == ANVIL_OK && (ids[i] < lo || ids[i] >= n_values))
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                               "%s #%d: value id %d is out of range [%d, %d)", what, (int)i,
                               (int)ids[i], (int)lo, (int)n_values);
    }
    if (c->r.status != ANVIL_OK) {
        anvil__free(ids);
        *count = 0;
        return NULL;
    }
    return ids;
}

/* rank (min_rank..ANVIL_MAX_RANK) then rank dims, each ≥ min_dim. */
static int32_t read_shape(ctx *c, int32_t min_rank, int64_t min_dim, int64_t *dims,
                          const char *what) {
    int32_t rank = anvil__read_i32(&c->r, what);
    if (c->r.status == ANVIL_OK && (rank < min_rank || rank > ANVIL_MAX_RANK)) {
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "%s: rank %d is out of range [%d, %d]",
                           what, (int)rank, (int)min_rank, ANVIL_MAX_RANK);
        return 0;
    }
    for (int32_t d = 0; d < rank && c->r.status == ANVIL_OK; d++) {
        dims[d] = anvil__read_i64(&c->r, what);
        if (c->r.status == ANVIL_OK && dims[d] < min_dim)
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "%s: dim %d is %lld", what, (int)d,
                               (long long)dims[d]);
    }
    return c->r.status == ANVIL_OK ? rank : 0;
}

static anvil_dtype read_dtype(ctx *c, bool allow_undefined, const char *what) {
    uint32_t d = anvil__read_u32(&c->r, what);
    if (c->r.status != ANVIL_OK) return ANVIL_DTYPE_UNDEFINED;
    if (d >= ANVIL_DTYPE_COUNT || (d == ANVIL_DTYPE_UNDEFINED && !allow_undefined)) {
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "%s: invalid dtype %u", what, d);
        return ANVIL_DTYPE_UNDEFINED;
    }
    return (anvil_dtype)d;
}

/* ---- values and initializers ---- */

static void read_value(ctx *c, anvil__graph *g) {
    char *name = anvil__read_str(&c->r, 0, NULL, "value name");
    int32_t id = -1;
    if (name) fail_from(c, anvil__graph_add_value(g, name, &id), "value");
    anvil__free(name);
    if (c->r.status != ANVIL_OK) return;
    anvil__value *v = &g->values[id];
    v->dtype = read_dtype(c, true, "value dtype");
    v->rank = read_shape(c, -1, -1, v->dims, "value shape");
    if (c->r.status != ANVIL_OK) v->rank = -1;
    for (int32_t d = 0; d < v->rank && c->r.status == ANVIL_OK; d++)
        v->dim_names[d] = anvil__read_str(&c->r, ANVIL_STR_NULLABLE, NULL, "dim name");
    v->flags = anvil__read_u32(&c->r, "value flags");
    v->init = anvil__read_i32(&c->r, "value initializer index");
    if (c->r.status == ANVIL_OK && (v->flags & ~(uint32_t)KNOWN_VALUE_FLAGS))
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "value '%s': unknown flags 0x%x",
                           v->name, (unsigned)v->flags);
}

static void read_values(ctx *c, anvil__graph *g) {
    uint32_t n = anvil__read_count(&c->r, MAX_ITEMS, 20, "value count");
    for (uint32_t i = 0; i < n && c->r.status == ANVIL_OK; i++)
        read_value(c, g);
}

static void read_init(ctx *c, anvil__graph *g, anvil__init *in) {
    in->value = anvil__read_i32(&c->r, "initializer value id");
    if (c->r.status == ANVIL_OK && (in->value < 0 || in->value >= g->n_values))
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                           "initializer value id %d is out of range [0, %d)", (int)in->value,
                           (int)g->n_values);
    anvil_dtype dtype = read_dtype(c, false, "initializer dtype");
    int64_t dims[ANVIL_MAX_RANK];
    int32_t rank = read_shape(c, 0, 0, dims, "initializer shape");
    uint64_t bytes = anvil__read_u64(&c->r, "initializer bytes");
    bool owned = anvil__read_bool(&c->r, "initializer owned");
    bool has_data = anvil__read_bool(&c->r, "initializer has-data");
    if (c->r.status != ANVIL_OK) return;
    const char *name = g->values[in->value].name;
    fail_from(c, anvil__tensor_shape(&in->t, dtype, rank, dims), name);
    if (c->r.status != ANVIL_OK) return;
    if (bytes != in->t.bytes || (owned && !has_data) || (has_data && !c->data_allowed)) {
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                           "initializer '%s': %llu bytes stored for a shape of %zu bytes "
                           "(owned %d, has data %d, data allowed %d)",
                           name, (unsigned long long)bytes, in->t.bytes, owned, has_data,
                           c->data_allowed);
        return;
    }
    if (!has_data) return;
    anvil__read_align(&c->r, 64, "initializer data padding");
    const uint8_t *p = anvil__read_bytes(&c->r, in->t.bytes, name);
    if (!p) return;
    if (owned) {
        if (!(in->t.data = alloc_items(c, in->t.bytes, 1))) return;
        if (in->t.bytes) memcpy(in->t.data, p, in->t.bytes);
    } else {
        in->t.data = (void *)p; /* a view: the IR never writes through initializer data */
    }
    in->owned = owned;
}

static void read_inits(ctx *c, anvil__graph *g) {
    uint32_t n = anvil__read_count(&c->r, MAX_ITEMS, 22, "initializer count");
    if (c->r.status != ANVIL_OK || !(g->inits = alloc_items(c, n, sizeof *g->inits))) return;
    g->cap_inits = (int32_t)(n ? n : 1);
    for (uint32_t i = 0; i < n && c->r.status == ANVIL_OK; i++) {
        anvil__init in;
        memset(&in, 0, sizeof in);
        read_init(c, g, &in);
        if (c->r.status == ANVIL_OK)
            g->inits[g->n_inits++] = in;
        else if (in.owned)
            anvil__free(in.t.data);
    }
}

/* value.init and init.value must name each other, with the INITIALIZER flag set. */
static void check_init_links(ctx *c, const anvil__graph *g) {
    for (int32_t v = 0; v < g->n_values && c->r.status == ANVIL_OK; v++) {
        const anvil__value *val = &g->values[v];
        bool flagged = (val->flags & ANVIL_VALUE_INITIALIZER) != 0;
        bool linked = val->init >= 0 && val->init < g->n_inits && g->inits[val->init].value == v;
        if (flagged != linked || (!flagged && val->init != -1))
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                               "value '%s': initializer index %d does not match the "
                               "initializer table (%d entries, flag %d)",
                               val->name, (int)val->init, (int)g->n_inits, flagged);
    }
    for (int32_t i = 0; i < g->n_inits && c->r.status == ANVIL_OK; i++)
        if (g->values[g->inits[i].value].init != i)
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                               "initializer #%d: value '%s' does not point back to it", (int)i,
                               g->values[g->inits[i].value].name);
}

/* An op by name: anvil's internal ops (domain "anvil", e.g. the weight graph's Pack) are
 * looked up apart from model ops, which anvil__op_find alone resolves. */
static int32_t find_op(const char *op_type, const char *domain) {
    if (domain && strcmp(domain, "anvil") == 0) return anvil__op_find_internal(op_type);
    return anvil__op_find(op_type, domain ? domain : "");
}

/* ---- attributes ---- */

static void read_graph(ctx *c, anvil__graph *parent, int depth, anvil__graph **out);

static void read_tensor(ctx *c, anvil__tensor *t, const char *name) {
    anvil_dtype dtype = read_dtype(c, false, "attribute tensor dtype");
    int64_t dims[ANVIL_MAX_RANK];
    int32_t rank = read_shape(c, 0, 0, dims, "attribute tensor shape");
    uint64_t bytes = anvil__read_u64(&c->r, "attribute tensor bytes");
    bool has_data = anvil__read_bool(&c->r, "attribute tensor has-data");
    if (c->r.status != ANVIL_OK) return;
    fail_from(c, anvil__tensor_shape(t, dtype, rank, dims), name);
    if (c->r.status == ANVIL_OK && bytes != t->bytes)
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                           "attribute '%s': %llu bytes stored for a tensor of %zu bytes", name,
                           (unsigned long long)bytes, t->bytes);
    if (c->r.status != ANVIL_OK || !has_data) return;
    const uint8_t *p = anvil__read_bytes(&c->r, t->bytes, name);
    if (p && (t->data = alloc_items(c, t->bytes, 1)) && t->bytes) memcpy(t->data, p, t->bytes);
}

static void read_list(ctx *c, anvil__attr *a) {
    size_t item = a->kind == ANVIL_ATTR_INTS ? 8 : 4;
    uint32_t n = anvil__read_count(&c->r, MAX_ITEMS, item, "attribute element count");
    if (c->r.status != ANVIL_OK || n == 0) return;
    if (a->kind == ANVIL_ATTR_FLOATS) {
        if (!(a->floats = alloc_items(c, n, sizeof *a->floats))) return;
        for (uint32_t i = 0; i < n; i++)
            a->floats[i] = anvil__read_f32(&c->r, "float");
    } else if (a->kind == ANVIL_ATTR_INTS) {
        if (!(a->ints = alloc_items(c, n, sizeof *a->ints))) return;
        for (uint32_t i = 0; i < n; i++)
            a->ints[i] = anvil__read_i64(&c->r, "int");
    } else {
        if (!(a->strings = alloc_items(c, n, sizeof *a->strings))) return;
        a->n = n; /* zeroed entries are safe to free if a later string fails */
        for (uint32_t i = 0; i < n && c->r.status == ANVIL_OK; i++)
            a->strings[i] = anvil__read_str(&c->r, 0, NULL, "attribute string");
    }
    a->n = n;
}

static void read_attr(ctx *c, anvil__graph *g, anvil__attr *a, int depth) {
    a->name = anvil__read_str(&c->r, 0, NULL, "attribute name");
    uint32_t kind = anvil__read_u32(&c->r, "attribute kind");
    if (c->r.status != ANVIL_OK) return;
    if (kind == ANVIL_ATTR_UNDEFINED || kind >= ANVIL_ATTR_KIND_COUNT) {
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "attribute '%s': invalid kind %u",
                           a->name, kind);
        return;
    }
    a->kind = (anvil__attr_kind)kind;
    switch (a->kind) {
    case ANVIL_ATTR_FLOAT:
        a->f = anvil__read_f64(&c->r, "float attribute");
        break;
    case ANVIL_ATTR_INT:
        a->i = anvil__read_i64(&c->r, "int attribute");
        break;
    case ANVIL_ATTR_STRING:
        a->s = anvil__read_str(&c->r, ANVIL_STR_NULLABLE | ANVIL_STR_BINARY, &a->s_len,
                               "string attribute");
        break;
    case ANVIL_ATTR_TENSOR:
        read_tensor(c, &a->t, a->name);
        break;
    case ANVIL_ATTR_GRAPH:
        if (!anvil__read_bool(&c->r, "graph attribute present") || c->r.status != ANVIL_OK) break;
        if (depth + 1 > ANVIL_GRAPH_MAX_DEPTH)
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                               "attribute '%s': subgraphs nested deeper than %d levels", a->name,
                               ANVIL_GRAPH_MAX_DEPTH);
        else
            read_graph(c, g, depth + 1, &a->g);
        break;
    default:
        read_list(c, a);
        break;
    }
}

/* ---- nodes ---- */

static void read_post_ops(ctx *c, anvil__node *n) {
    n->n_post = (int32_t)anvil__read_count(&c->r, ANVIL_MAX_POST_OPS, 20, "post-op count");
    for (int32_t p = 0; p < n->n_post && c->r.status == ANVIL_OK; p++) {
        anvil__post_op *op = &n->post[p];
        char *name = anvil__read_str(&c->r, 0, NULL, "post-op name");
        char *domain = anvil__read_str(&c->r, 0, NULL, "post-op domain");
        op->alpha = anvil__read_f32(&c->r, "post-op alpha");
        op->beta = anvil__read_f32(&c->r, "post-op beta");
        op->input = anvil__read_i32(&c->r, "post-op input");
        if (c->r.status == ANVIL_OK && (op->op = find_op(name, domain)) < 0)
            anvil__reader_fail(&c->r, ANVIL_STATUS_UNSUPPORTED,
                               "node '%s': post-op '%s' (domain '%s') is not an op of this "
                               "library",
                               n->name ? n->name : "", name, domain);
        if (c->r.status == ANVIL_OK && (op->input < -1 || op->input >= n->n_inputs))
            anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR,
                               "node '%s': post-op %d reads input %d of %d", n->name ? n->name : "",
                               (int)p, (int)op->input, (int)n->n_inputs);
        anvil__free(name);
        anvil__free(domain);
    }
    if (c->r.status != ANVIL_OK) n->n_post = 0;
}

static void read_node(ctx *c, anvil__graph *g, anvil__node *n, int depth) {
    n->name = anvil__read_str(&c->r, ANVIL_STR_NULLABLE, NULL, "node name");
    n->op_type = anvil__read_str(&c->r, 0, NULL, "node op type");
    n->domain = anvil__read_str(&c->r, ANVIL_STR_NULLABLE, NULL, "node domain");
    if (c->r.status != ANVIL_OK) return;
    const char *label = n->name ? n->name : "";
    /* Stored op ids are never trusted: resolve the op by name in this library's registry. */
    if ((n->op = find_op(n->op_type, n->domain)) < 0) {
        anvil__reader_fail(&c->r, ANVIL_STATUS_UNSUPPORTED,
                           "node '%s': op '%s' (domain '%s') is not an op of this library", label,
                           n->op_type, n->domain ? n->domain : "");
        return;
    }
    n->inputs = read_ids(c, g->n_values, -1, &n->n_inputs, "node input");
    n->outputs = read_ids(c, g->n_values, -1, &n->n_outputs, "node output");
    n->flags = anvil__read_u32(&c->r, "node flags");
    if (c->r.status == ANVIL_OK && (n->flags & ~(uint32_t)KNOWN_NODE_FLAGS))
        anvil__reader_fail(&c->r, ANVIL_STATUS_PARSE_ERROR, "node '%s': unknown flags 0x%x", label,
                           (unsigned)n->flags);
    uint32_t n_attrs = anvil__read_count(&c->r, MAX_ITEMS, 8, "attribute count");
    if (c->r.status != ANVIL_OK || !(n->attrs = alloc_items(c, n_attrs, sizeof *n->attrs))) return;
    n->n_attrs = (int32_t)n_attrs; /* zeroed attributes are safe to free */
    for (uint32_t a = 0; a < n_attrs && c->r.status == ANVIL_OK; a++)
        read_attr(c, g, &n->attrs[a], depth);
    read_post_ops(c, n);
    n->fused = anvil__read_str(&c->r, ANVIL_STR_NULLABLE, NULL, "fused text");
}

static void read_nodes(ctx *c, anvil__graph *g, int depth) {
    uint32_t n = anvil__read_count(&c->r, MAX_ITEMS, 36, "node count");
    if (c->r.status != ANVIL_OK || !(g->nodes = alloc_items(c, n, sizeof *g->nodes))) return;
    g->cap_nodes = (int32_t)(n ? n : 1);
    for (uint32_t i = 0; i < n && c->r.status == ANVIL_OK; i++) {
        anvil__node node;
        memset(&node, 0, sizeof node);
        read_node(c, g, &node, depth);
        if (c->r.status != ANVIL_OK) {
            anvil__node_clear(&node);
            return;
        }
        g->nodes[g->n_nodes++] = node;
    }
    /* Producers are derived, not stored (verify rejects a value written twice). */
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0) g->values[g->nodes[i].outputs[k]].producer = i;
}

static void read_graph(ctx *c, anvil__graph *parent, int depth, anvil__graph **out) {
    *out = NULL;
    anvil__graph *g = anvil__graph_new(parent);
    if (!g) {
        c->r.status = ANVIL_STATUS_OUT_OF_MEMORY;
        return;
    }
    g->name = anvil__read_str(&c->r, ANVIL_STR_NULLABLE, NULL, "graph name");
    g->opset = anvil__read_i64(&c->r, "opset");
    read_values(c, g);
    read_inits(c, g);
    if (c->r.status == ANVIL_OK) check_init_links(c, g);
    read_nodes(c, g, depth);
    if (c->r.status == ANVIL_OK)
        g->inputs = read_ids(c, g->n_values, 0, &g->n_inputs, "graph input");
    if (c->r.status == ANVIL_OK)
        g->outputs = read_ids(c, g->n_values, 0, &g->n_outputs, "graph output");
    if (c->r.status != ANVIL_OK) {
        anvil__graph_destroy(g);
        return;
    }
    *out = g;
}

/* ---- verification ---- */

/* anvil__graph_verify insists that initializers with bytes have data; a stripped graph's
 * initializers legitimately have none (slots whose bytes live elsewhere). Verify structure
 * with a placeholder pointer that verify only compares with NULL, then restore NULL. */
static const uint8_t k_placeholder[1];

static void mark_dataless(anvil__graph *g, bool set) {
    for (int32_t i = 0; i < g->n_inits; i++) {
        anvil__tensor *t = &g->inits[i].t;
        if (set && !t->data && t->bytes)
            t->data = (void *)k_placeholder;
        else if (!set && t->data == (const void *)k_placeholder)
            t->data = NULL;
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int32_t a = 0; a < g->nodes[i].n_attrs; a++)
            if (g->nodes[i].attrs[a].kind == ANVIL_ATTR_GRAPH && g->nodes[i].attrs[a].g)
                mark_dataless(g->nodes[i].attrs[a].g, set);
}

static anvil_status verify_loaded(anvil__graph *g) {
    mark_dataless(g, true);
    anvil_status s = anvil__graph_verify(g);
    mark_dataless(g, false);
    if (s == ANVIL_OK || s == ANVIL_STATUS_OUT_OF_MEMORY) return s;
    char msg[400];
    snprintf(msg, sizeof msg, "%s", anvil_last_error());
    return anvil__error(ANVIL_STATUS_PARSE_ERROR, "serialized graph fails verification: %s", msg);
}

anvil_status anvil__graph_deserialize(const uint8_t *data, size_t size, anvil__graph *parent,
                                      anvil__graph **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data && size) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data is NULL");
    ctx c;
    anvil__reader_init(&c.r, data, size, "serialized graph");
    const uint8_t *magic = anvil__read_bytes(&c.r, 4, "magic");
    if (magic && memcmp(magic, "AGRF", 4) != 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "not a serialized anvil graph (magic %02x %02x %02x %02x, expected "
                            "\"AGRF\")",
                            magic[0], magic[1], magic[2], magic[3]);
    uint32_t version = anvil__read_u32(&c.r, "graph format version");
    uint32_t flags = anvil__read_u32(&c.r, "graph flags");
    if (c.r.status == ANVIL_OK && version != ANVIL_GRAPH_FORMAT_VERSION)
        anvil__reader_fail(&c.r, ANVIL_STATUS_PARSE_ERROR,
                           "graph format version %u, this library reads %u", version,
                           ANVIL_GRAPH_FORMAT_VERSION);
    if (c.r.status == ANVIL_OK && (flags & ~(uint32_t)ANVIL_GRAPH_SER_INIT_DATA))
        anvil__reader_fail(&c.r, ANVIL_STATUS_PARSE_ERROR, "unknown graph flags 0x%x",
                           (unsigned)flags);
    if (c.r.status != ANVIL_OK) return c.r.status;
    c.data_allowed = (flags & ANVIL_GRAPH_SER_INIT_DATA) != 0;
    anvil__graph *g = NULL;
    read_graph(&c, parent, 0, &g);
    if (c.r.status == ANVIL_OK && anvil__reader_left(&c.r) != 0)
        anvil__reader_fail(&c.r, ANVIL_STATUS_PARSE_ERROR, "%zu unexpected bytes after the graph",
                           anvil__reader_left(&c.r));
    anvil_status s = c.r.status;
    if (s == ANVIL_OK) s = verify_loaded(g);
    if (s != ANVIL_OK) {
        anvil__graph_destroy(g);
        if (s == ANVIL_STATUS_OUT_OF_MEMORY && !anvil_last_error()[0])
            anvil__error(s, "out of memory reading a serialized graph");
        return s;
    }
    *out = g;
    return ANVIL_OK;
}
