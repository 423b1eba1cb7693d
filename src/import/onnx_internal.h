/*
 * onnx_internal.h — what the ONNX importer's files share: a minimal protobuf wire-format walker
 * (to find weights in place and bound nesting before protobuf-c runs), the import context,
 * and the TensorProto converter. Only src/import/onnx_*.c include it.
 */
#ifndef ANVIL_IMPORT_ONNX_INTERNAL_H
#define ANVIL_IMPORT_ONNX_INTERNAL_H

#include "import/onnx.h"
#include "onnx.pb-c.h"

/* A byte range inside the caller's buffer. */
typedef struct anvil__onnx_span {
    const uint8_t *data;
    size_t size;
} anvil__onnx_span;

/* ---- onnx_wire.c ---- */

/* Walks the whole message with its protobuf-c descriptor: checks every tag, varint and length
 * and that message nesting stays within ANVIL_ONNX_MAX_DEPTH. PARSE_ERROR with the byte offset
 * (relative to `data`) of the first problem. */
anvil_status anvil__onnx_wire_check(const uint8_t *data, size_t size,
                                    const ProtobufCMessageDescriptor *desc);

/* Splits the concatenation of the messages in `in` (protobuf merges repeated occurrences of an
 * embedded message field, which is the same as parsing their concatenation): every field
 * numbered `field` (length-delimited) goes to *taken as a span of its payload, every other
 * field is copied unchanged into *rest (anvil__malloc'd, never NULL). The input must have
 * passed anvil__onnx_wire_check. */
anvil_status anvil__onnx_wire_split(const anvil__onnx_span *in, size_t n_in, uint32_t field,
                                    uint8_t **rest, size_t *rest_size, anvil__onnx_span **taken,
                                    size_t *n_taken);

/* protobuf-c allocator over anvil__malloc / anvil__free; `failed` records an allocation
 * failure so an unpack that returns NULL can be told apart from malformed input. */
typedef struct anvil__onnx_alloc {
    ProtobufCAllocator pc;
    bool failed;
} anvil__onnx_alloc;
void anvil__onnx_alloc_init(anvil__onnx_alloc *a);
/* Status for an unpack of `what` that returned NULL. */
anvil_status anvil__onnx_unpack_error(const anvil__onnx_alloc *a, const char *what);

/* ---- import context (onnx_import.c owns it) ---- */

/* Something unsupported, collected over the whole model so one error lists all of it. */
enum { ANVIL__ONNX_ISSUE_OP, ANVIL__ONNX_ISSUE_DTYPE, ANVIL__ONNX_ISSUE_TYPE };
typedef struct anvil__onnx_where {
    const char *name; /* node or tensor name (borrowed); "" → shown as #index */
    int32_t index;
} anvil__onnx_where;
/* Bounds on what is kept for the message, so a hostile file with 100k distinct unknown op
 * types costs neither quadratic time nor memory. */
#define ANVIL__ONNX_MAX_ISSUES 32
#define ANVIL__ONNX_MAX_WHERE 8
/* Attributes per node (ONNX ops have at most a few dozen); keeps the duplicate check cheap. */
#define ANVIL__ONNX_MAX_ATTRS 1024
typedef struct anvil__onnx_issue {
    int kind;
    const char *key;    /* op type / element type name / value type (borrowed) */
    const char *domain; /* op domain ("" for the default one) */
    anvil__onnx_where where[ANVIL__ONNX_MAX_WHERE];
    size_t n_where;     /* may exceed ANVIL__ONNX_MAX_WHERE: only the first are kept */
} anvil__onnx_issue;

typedef struct anvil__onnx_ctx {
    anvil__onnx_model *model; /* receives external-data mappings */
    char **file_paths;        /* real paths of model->files, same order */
    const char *base_dir;     /* NULL: external data cannot be resolved */
    char *base_real;          /* realpath(base_dir), computed on first use */
    anvil__onnx_alloc alloc;
    anvil__name_map used;     /* every name a node reads or a graph outputs (any graph) */
    anvil__onnx_issue issues[ANVIL__ONNX_MAX_ISSUES];
    size_t n_issues;
    size_t n_more_issues;     /* distinct issues beyond ANVIL__ONNX_MAX_ISSUES */
} anvil__onnx_ctx;

/* Records one unsupported thing at `name`/`index` (strings borrowed until the import ends). */
anvil_status anvil__onnx_issue_add(anvil__onnx_ctx *c, int kind, const char *key,
                                   const char *domain, const char *name, int32_t index);

/* A TensorProto with, for main-graph initializers, where its raw_data lies in the caller's
 * buffer (they are unpacked without it; see anvil__onnx_wire_split). */
typedef struct anvil__onnx_init {
    const Onnx__TensorProto *tp;
    anvil__onnx_span raw;
    bool has_raw; /* raw is valid */
} anvil__onnx_init;

/* ---- onnx_graph.c ---- */

/* Fills `g` (created by the caller, opset set) from a GraphProto: initializers (inits; for a
 * subgraph pass NULL and they are taken from gp), inputs, nodes (with node->op; unsupported
 * ones are recorded as issues), outputs, value_info types. GRAPH attributes recurse, with
 * names from enclosing graphs added as ANVIL_VALUE_OUTER values. No validation here. */
anvil_status anvil__onnx_build_graph(anvil__onnx_ctx *c, const Onnx__GraphProto *gp,
                                     const anvil__onnx_init *inits, size_t n_inits,
                                     anvil__graph *g);

/* ---- onnx_tensor.c ---- */

/* ONNX TensorProto.DataType → anvil dtype; false for types anvil does not support. */
bool anvil__onnx_dtype(int32_t onnx_type, anvil_dtype *out);
/* Lower-case ONNX name of an element type ("string", "complex64", "float8e4m3fn", ...). */
const char *anvil__onnx_type_name(int32_t onnx_type);

/* Converts a TensorProto into `out`. raw: where its raw_data lies in the caller's buffer (the
 * importer unpacks initializers without raw_data so weights are never copied), or NULL to use
 * tp->raw_data. may_view: data may stay a view into the caller's buffer or a mapping (main
 * graph initializers); otherwise it is always copied. *owned tells which it is. `what` names
 * the tensor in messages when tp->name is empty. */
anvil_status anvil__onnx_tensor(anvil__onnx_ctx *c, const Onnx__TensorProto *tp,
                                const anvil__onnx_span *raw, bool may_view, const char *what,
                                anvil__tensor *out, bool *owned);

/* Releases the context's own allocations (not the model). */
void anvil__onnx_ctx_free(anvil__onnx_ctx *c);

#endif /* ANVIL_IMPORT_ONNX_INTERNAL_H */
