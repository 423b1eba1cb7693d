/*
 * serialize_graph.h — the IR (ir.h) as bytes, for engine files: the run graph and the weight
 * graph. Full fidelity: deserialize(serialize(g)) prints like g and serializes to the same
 * bytes. The byte layout is specified in docs/engine-format.md §3.
 */
#ifndef ANVIL_ENGINE_SERIALIZE_GRAPH_H
#define ANVIL_ENGINE_SERIALIZE_GRAPH_H

#include "engine/bytes.h"
#include "ir/ir.h"

#define ANVIL_GRAPH_FORMAT_VERSION 1u
/* Deepest nesting of subgraphs (graph attributes) the reader accepts. */
#define ANVIL_GRAPH_MAX_DEPTH 64

/* Serialize flags. */
enum {
    /* Write initializer data (otherwise only their dtype and shape: a stripped graph, whose
     * initializers come back with data NULL). Initializers whose data is NULL are written
     * without data either way. */
    ANVIL_GRAPH_SER_INIT_DATA = 1u << 0,
};

/* Appends the serialized graph (with its subgraphs) to `out`. Initializer data, when written,
 * starts at a multiple of 64 bytes from where this call started appending, so a reader whose
 * buffer is 64-byte aligned can use it in place. The graph is borrowed and not modified.
 * Errors: INVALID_ARGUMENT for a graph that cannot be represented (rank out of range, an
 * attribute of kind UNDEFINED, a post-op with an unknown op, unknown flag bits), OUT_OF_MEMORY.
 * `out` keeps what was appended before a failure; its sticky status is set. */
anvil_status anvil__graph_serialize(const anvil__graph *g, uint32_t flags, anvil__bytes *out);

/* Rebuilds a graph from bytes written by anvil__graph_serialize. The bytes are untrusted:
 * every count, id, rank, dtype, attribute kind, string and nesting level is checked, op ids are
 * re-resolved by name with anvil__op_find (stored ids are never trusted), and the result must
 * pass anvil__graph_verify. `parent` is the enclosing graph when `data` holds a subgraph
 * (NULL for a main graph). On success *out owns everything except the data of initializers
 * that were stored as borrowed (anvil__init.owned false): those point into `data`, which must
 * outlive the graph and, for typed access, be 64-byte aligned. Owned initializers and attribute
 * tensors are copied. Errors: PARSE_ERROR naming the field and offset at fault, UNSUPPORTED
 * (an op this library does not know, naming it and the node), OUT_OF_MEMORY. *out is NULL on
 * failure. */
anvil_status anvil__graph_deserialize(const uint8_t *data, size_t size, anvil__graph *parent,
                                      anvil__graph **out);

#endif /* ANVIL_ENGINE_SERIALIZE_GRAPH_H */
