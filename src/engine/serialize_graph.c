/*
 * serialize_graph.c — writes the IR as bytes (layout: docs/engine-format.md §3). Only what the
 * IR holds is written; derived fields (value producers, op ids, the name index) are rebuilt by
 * the reader (deserialize_graph.c). Not a general exchange format: versioned with the engine
 * file, read only by the same format version.
 */
#include "engine/serialize_graph.h"

#include "ops/op.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KNOWN_VALUE_FLAGS                                                                          \
    (ANVIL_VALUE_INPUT | ANVIL_VALUE_OUTPUT | ANVIL_VALUE_INITIALIZER | ANVIL_VALUE_OUTER)
#define KNOWN_NODE_FLAGS (ANVIL_NODE_DEAD)

typedef struct writer {
    anvil__bytes *b;
    size_t base; /* b->len when the stream started: alignment is relative to it */
    uint32_t flags;
} writer;

static anvil_status bad(writer *w, const char *fmt, ...) ANVIL_PRINTF(2, 3);
static anvil_status bad(writer *w, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return w->b->status = anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "cannot serialize: %s", msg);
}

static void put_ids(writer *w, const int32_t *ids, int32_t n) {
    anvil__bytes_u32(w->b, (uint32_t)n);
    for (int32_t i = 0; i < n; i++)
        anvil__bytes_i32(w->b, ids[i]);
}

static anvil_status put_shape(writer *w, int32_t rank, const int64_t *dims, const char *name) {
    if (rank < -1 || rank > ANVIL_MAX_RANK)
        return bad(w, "'%s': rank %d is out of range", name, (int)rank);
    anvil__bytes_i32(w->b, rank);
    for (int32_t d = 0; d < rank; d++)
        anvil__bytes_i64(w->b, dims[d]);
    return w->b->status;
}

static anvil_status put_values(writer *w, const anvil__graph *g) {
    anvil__bytes_u32(w->b, (uint32_t)g->n_values);
    for (int32_t i = 0; i < g->n_values && w->b->status == ANVIL_OK; i++) {
        const anvil__value *v = &g->values[i];
        if (v->flags & ~(uint32_t)KNOWN_VALUE_FLAGS)
            return bad(w, "value '%s': unknown flag bits 0x%x", v->name,
                       (unsigned)(v->flags & ~(uint32_t)KNOWN_VALUE_FLAGS));
        anvil__bytes_cstr(w->b, v->name ? v->name : "");
        anvil__bytes_u32(w->b, (uint32_t)v->dtype);
        if (put_shape(w, v->rank, v->dims, v->name ? v->name : "") != ANVIL_OK) break;
        for (int32_t d = 0; d < v->rank; d++)
            anvil__bytes_cstr(w->b, v->dim_names[d]);
        anvil__bytes_u32(w->b, v->flags);
        anvil__bytes_i32(w->b, v->init);
    }
    return w->b->status;
}

static anvil_status put_inits(writer *w, const anvil__graph *g) {
    anvil__bytes_u32(w->b, (uint32_t)g->n_inits);
    for (int32_t i = 0; i < g->n_inits && w->b->status == ANVIL_OK; i++) {
        const anvil__init *in = &g->inits[i];
        bool data = (w->flags & ANVIL_GRAPH_SER_INIT_DATA) && in->t.data;
        if (in->t.rank < 0) return bad(w, "initializer #%d: rank %d", (int)i, (int)in->t.rank);
        anvil__bytes_i32(w->b, in->value);
        anvil__bytes_u32(w->b, (uint32_t)in->t.dtype);
        put_shape(w, in->t.rank, in->t.dims, "initializer");
        anvil__bytes_u64(w->b, (uint64_t)in->t.bytes);
        /* Ownership only means something when the data travels with the graph. */
        anvil__bytes_u8(w->b, data && in->owned);
        anvil__bytes_u8(w->b, data);
        if (data) {
            anvil__bytes_align(w->b, w->base, 64);
            anvil__bytes_put(w->b, in->t.data, in->t.bytes);
        }
    }
    return w->b->status;
}

static anvil_status put_graph(writer *w, const anvil__graph *g);

static anvil_status put_tensor(writer *w, const anvil__tensor *t, const char *name) {
    if (t->rank < 0) return bad(w, "attribute '%s': tensor rank %d", name, (int)t->rank);
    anvil__bytes_u32(w->b, (uint32_t)t->dtype);
    put_shape(w, t->rank, t->dims, name);
    anvil__bytes_u64(w->b, (uint64_t)t->bytes);
    anvil__bytes_u8(w->b, t->data != NULL);
    if (t->data) anvil__bytes_put(w->b, t->data, t->bytes);
    return w->b->status;
}

static anvil_status put_attr(writer *w, const anvil__attr *a) {
    anvil__bytes_cstr(w->b, a->name ? a->name : "");
    anvil__bytes_u32(w->b, (uint32_t)a->kind);
    switch (a->kind) {
    case ANVIL_ATTR_FLOAT:
        return anvil__bytes_f64(w->b, a->f);
    case ANVIL_ATTR_INT:
        return anvil__bytes_i64(w->b, a->i);
    case ANVIL_ATTR_STRING:
        return anvil__bytes_str(w->b, a->s, a->s ? a->s_len : 0);
    case ANVIL_ATTR_TENSOR:
        return put_tensor(w, &a->t, a->name);
    case ANVIL_ATTR_GRAPH:
        anvil__bytes_u8(w->b, a->g != NULL);
        return a->g ? put_graph(w, a->g) : w->b->status;
    case ANVIL_ATTR_FLOATS:
    case ANVIL_ATTR_INTS:
    case ANVIL_ATTR_STRINGS:
        if (a->n > UINT32_MAX) return bad(w, "attribute '%s': %zu elements", a->name, a->n);
        anvil__bytes_u32(w->b, (uint32_t)a->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->kind == ANVIL_ATTR_FLOATS)
                anvil__bytes_f32(w->b, a->floats[i]);
            else if (a->kind == ANVIL_ATTR_INTS)
                anvil__bytes_i64(w->b, a->ints[i]);
            else
                anvil__bytes_cstr(w->b, a->strings[i] ? a->strings[i] : "");
        }
        return w->b->status;
    default:
        return bad(w, "attribute '%s' has kind %d", a->name, (int)a->kind);
    }
}

static anvil_status put_post_ops(writer *w, const anvil__node *n) {
    if (n->n_post < 0 || n->n_post > ANVIL_MAX_POST_OPS)
        return bad(w, "node '%s': %d post-ops", n->name, (int)n->n_post);
    anvil__bytes_u32(w->b, (uint32_t)n->n_post);
    for (int32_t p = 0; p < n->n_post; p++) {
        const anvil__op_def *def = anvil__op_get(n->post[p].op);
        if (!def)
            return bad(w, "node '%s': post-op %d has unknown op id %d", n->name, (int)p,
                       (int)n->post[p].op);
        /* By name: op ids are an implementation detail that changes between versions. */
        anvil__bytes_cstr(w->b, def->name);
        anvil__bytes_cstr(w->b, (def->flags & ANVIL_OP_INTERNAL) ? "anvil" : "");
        anvil__bytes_f32(w->b, n->post[p].alpha);
        anvil__bytes_f32(w->b, n->post[p].beta);
        anvil__bytes_i32(w->b, n->post[p].input);
    }
    return w->b->status;
}

static anvil_status put_node(writer *w, const anvil__node *n) {
    if (n->flags & ~(uint32_t)KNOWN_NODE_FLAGS)
        return bad(w, "node '%s': unknown flag bits 0x%x", n->name,
                   (unsigned)(n->flags & ~(uint32_t)KNOWN_NODE_FLAGS));
    anvil__bytes_cstr(w->b, n->name);
    anvil__bytes_cstr(w->b, n->op_type ? n->op_type : "");
    anvil__bytes_cstr(w->b, n->domain);
    put_ids(w, n->inputs, n->n_inputs);
    put_ids(w, n->outputs, n->n_outputs);
    anvil__bytes_u32(w->b, n->flags);
    anvil__bytes_u32(w->b, (uint32_t)n->n_attrs);
    for (int32_t a = 0; a < n->n_attrs && w->b->status == ANVIL_OK; a++)
        put_attr(w, &n->attrs[a]);
    if (put_post_ops(w, n) != ANVIL_OK) return w->b->status;
    return anvil__bytes_cstr(w->b, n->fused);
}

static anvil_status put_graph(writer *w, const anvil__graph *g) {
    anvil__bytes_cstr(w->b, g->name);
    anvil__bytes_i64(w->b, g->opset);
    if (put_values(w, g) != ANVIL_OK || put_inits(w, g) != ANVIL_OK) return w->b->status;
    anvil__bytes_u32(w->b, (uint32_t)g->n_nodes);
    for (int32_t i = 0; i < g->n_nodes && w->b->status == ANVIL_OK; i++)
        put_node(w, &g->nodes[i]);
    put_ids(w, g->inputs, g->n_inputs);
    put_ids(w, g->outputs, g->n_outputs);
    return w->b->status;
}

anvil_status anvil__graph_serialize(const anvil__graph *g, uint32_t flags, anvil__bytes *out) {
    if (!g || !out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "graph or buffer is NULL");
    if (out->status != ANVIL_OK) return out->status;
    writer w = {out, out->len, flags};
    anvil__bytes_put(out, "AGRF", 4);
    anvil__bytes_u32(out, ANVIL_GRAPH_FORMAT_VERSION);
    anvil__bytes_u32(out, flags & ANVIL_GRAPH_SER_INIT_DATA);
    return put_graph(&w, g);
}
