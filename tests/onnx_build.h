/* onnx_build.h — small ONNX models built in tests and fuzzers through protobuf-c: float
 * initializers, value infos, single-output nodes, and the packed model loaded with
 * anvil_model_load_memory or written to a file. The protobuf structs point into the caller's storage (stack or
 * static); nothing here allocates but the packed bytes. Header-only: each test is one
 * executable. */
#ifndef ANVIL_TEST_ONNX_BUILD_H
#define ANVIL_TEST_ONNX_BUILD_H

#include "anvil.h"
#include "onnx.pb-c.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* A float initializer holding n floats of data (borrowed). */
static inline void onnx_init_f32(Onnx__TensorProto *t, const char *name, int rank,
                                 const int64_t *dims, const float *data, size_t n) {
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)rank;
    t->dims = (int64_t *)dims;
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
}

/* A node with one output (named after it). */
static inline void onnx_node(Onnx__NodeProto *n, const char *op, size_t n_in, const char **in,
                             const char **out, size_t n_attr, Onnx__AttributeProto **attrs) {
    onnx__node_proto__init(n);
    n->name = (char *)out[0];
    n->op_type = (char *)op;
    n->n_input = n_in;
    n->input = (char **)in;
    n->n_output = 1;
    n->output = (char **)out;
    n->n_attribute = n_attr;
    n->attribute = attrs;
}

/* A graph input or output "name: f32[dims]" (rank up to 4). */
typedef struct onnx_io {
    Onnx__ValueInfoProto v;
    Onnx__TypeProto type;
    Onnx__TypeProto__Tensor tt;
    Onnx__TensorShapeProto shape;
    Onnx__TensorShapeProto__Dimension dims[4], *pdims[4];
} onnx_io;

static inline Onnx__ValueInfoProto *onnx_io_f32(onnx_io *p, const char *name, int rank,
                                                const int64_t *dims) {
    onnx__value_info_proto__init(&p->v);
    onnx__type_proto__init(&p->type);
    onnx__type_proto__tensor__init(&p->tt);
    onnx__tensor_shape_proto__init(&p->shape);
    for (int i = 0; i < rank && i < 4; i++) {
        onnx__tensor_shape_proto__dimension__init(&p->dims[i]);
        p->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        p->dims[i].dim_value = dims[i];
        p->pdims[i] = &p->dims[i];
    }
    p->shape.n_dim = (size_t)(rank < 4 ? rank : 4);
    p->shape.dim = p->pdims;
    p->tt.has_elem_type = 1;
    p->tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    p->tt.shape = &p->shape;
    p->type.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    p->type.tensor_type = &p->tt;
    p->v.name = (char *)name;
    p->v.type = &p->type;
    return &p->v;
}

/* The bytes of a model of the default domain at `opset` holding `graph` (malloc'ed), NULL if
 * out of memory. */
static inline uint8_t *onnx_pack_graph(Onnx__GraphProto *graph, int64_t opset, size_t *size) {
    Onnx__OperatorSetIdProto set = ONNX__OPERATOR_SET_ID_PROTO__INIT, *sets[] = {&set};
    set.domain = "", set.has_version = 1, set.version = opset;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1, model.ir_version = 8;
    model.graph = graph, model.n_opset_import = 1, model.opset_import = sets;
    *size = onnx__model_proto__get_packed_size(&model);
    uint8_t *bytes = malloc(*size ? *size : 1);
    if (bytes && onnx__model_proto__pack(&model, bytes) != *size) {
        free(bytes);
        bytes = NULL;
    }
    return bytes;
}

/* Packs `graph` (see onnx_pack_graph) and loads it. */
static inline anvil_status onnx_load_graph(Onnx__GraphProto *graph, int64_t opset,
                                           anvil_model **out) {
    size_t size = 0;
    uint8_t *bytes = onnx_pack_graph(graph, opset, &size);
    anvil_status s = bytes ? anvil_model_load_memory(bytes, size, NULL, out)
                           : ANVIL_STATUS_OUT_OF_MEMORY;
    free(bytes);
    return s;
}

/* Packs `graph` (see onnx_pack_graph) into the file `path`; false on failure. */
static inline bool onnx_save_graph(Onnx__GraphProto *graph, int64_t opset, const char *path) {
    size_t size = 0;
    uint8_t *bytes = onnx_pack_graph(graph, opset, &size);
    FILE *f = bytes ? fopen(path, "wb") : NULL;
    bool ok = f && fwrite(bytes, 1, size, f) == size;
    if (f) ok = fclose(f) == 0 && ok;
    free(bytes);
    return ok;
}

#endif /* ANVIL_TEST_ONNX_BUILD_H */
