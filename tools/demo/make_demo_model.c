/*
 * make_demo_model.c — writes the small CNN that `make demo` runs, so the repository ships no
 * binary model: image 1x3x32x32 → Conv+Relu → MaxPool → Conv+BatchNorm+Relu →
 * GlobalAveragePool → Flatten → Gemm → Softmax → probabilities 1x10. Weights come from a fixed
 * pseudo-random sequence, so every run writes the same bytes. The batch dim is symbolic
 * ("batch"). Also writes a matching image.npy (batch 1) and a second weight version, as a
 * fine-tune of the head would give: finetuned.safetensors (every weight, by name; the
 * classifier changed, the rest not) and demo_cnn.finetuned.onnx (the same
 * graph with those weights, for the interpreter's reference output).
 * Usage: make_demo_model OUT_DIR
 */
#include "anvil.h"
#include "onnx.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every allocation of the protobuf tree goes through keep(), so main can free them all at the
 * end (sanitizer builds run this tool in tests). */
static void *kept[256];
static int n_kept;
static void *keep(void *p) {
    if (!p || n_kept == 256) {
        fprintf(stderr, "make_demo_model: out of memory\n");
        exit(1);
    }
    return kept[n_kept++] = p;
}

static uint32_t rng_state = 12345u;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static Onnx__TensorProto *tensor(const char *name, int rank, const int64_t *dims, float scale,
                                 float offset) {
    Onnx__TensorProto *t = keep(calloc(1, sizeof *t));
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = (size_t)rank;
    t->dims = keep(malloc(sizeof(int64_t) * (size_t)rank));
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        t->dims[i] = dims[i];
        n *= (size_t)dims[i];
    }
    float *data = keep(malloc(n * sizeof(float)));
    for (size_t i = 0; i < n; i++) data[i] = offset + scale * rnd();
    t->has_raw_data = 1;
    t->raw_data.len = n * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
    return t;
}

static Onnx__AttributeProto *attr_ints(const char *name, size_t n, const int64_t *v) {
    Onnx__AttributeProto *a = keep(calloc(1, sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->n_ints = n;
    a->ints = keep(malloc(n * sizeof(int64_t)));
    memcpy(a->ints, v, n * sizeof(int64_t));
    return a;
}

static Onnx__AttributeProto *attr_int(const char *name, int64_t v) {
    Onnx__AttributeProto *a = keep(calloc(1, sizeof *a));
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

static Onnx__NodeProto *node(const char *name, const char *op, int n_in, const char **in,
                             const char *out, int n_attr, Onnx__AttributeProto **attrs) {
    Onnx__NodeProto *n = keep(calloc(1, sizeof *n));
    onnx__node_proto__init(n);
    n->name = (char *)name;
    n->op_type = (char *)op;
    n->n_input = (size_t)n_in;
    n->input = (char **)in;
    n->n_output = 1;
    n->output = keep(malloc(sizeof(char *)));
    n->output[0] = (char *)out;
    n->n_attribute = (size_t)n_attr;
    n->attribute = keep(malloc(sizeof(*attrs) * (size_t)(n_attr ? n_attr : 1)));
    if (n_attr) memcpy(n->attribute, attrs, sizeof(*attrs) * (size_t)n_attr);
    return n;
}

/* dims[i] < 0 writes the symbolic dim "batch" (the demo's batch size is dynamic). */
static Onnx__ValueInfoProto *value_info(const char *name, int rank, const int64_t *dims) {
    Onnx__ValueInfoProto *v = keep(calloc(1, sizeof *v));
    Onnx__TypeProto *type = keep(calloc(1, sizeof *type));
    Onnx__TypeProto__Tensor *tt = keep(calloc(1, sizeof *tt));
    Onnx__TensorShapeProto *shape = keep(calloc(1, sizeof *shape));
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(type);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(shape);
    shape->n_dim = (size_t)rank;
    shape->dim = keep(malloc(sizeof(*shape->dim) * (size_t)rank));
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = keep(calloc(1, sizeof *d));
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = "batch";
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        shape->dim[i] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    v->name = (char *)name;
    v->type = type;
    return v;
}

static int write_model(const Onnx__ModelProto *model, const char *dir, const char *name,
                       size_t *size_out) {
    size_t size = onnx__model_proto__get_packed_size(model);
    uint8_t *buf = malloc(size ? size : 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = buf ? fopen(path, "wb") : NULL;
    if (f) onnx__model_proto__pack(model, buf);
    int bad = !f || fwrite(buf, 1, size, f) != size;
    if (f && fclose(f) != 0) bad = 1;
    free(buf);
    if (bad) {
        fprintf(stderr, "make_demo_model: cannot write %s\n", path);
        return 1;
    }
    if (size_out) *size_out = size;
    return 0;
}

/* Changes the classifier weights in place (as a fine-tune of the head would) and
 * writes every weight to finetuned.safetensors. */
static int write_finetuned(Onnx__TensorProto **inits, size_t n, const char *dir) {
    anvil_tensor t[16];
    for (size_t i = 0; i < n && i < 16; i++) {
        Onnx__TensorProto *p = inits[i];
        float *data = (float *)p->raw_data.data;
        size_t count = p->raw_data.len / sizeof(float);
        if (strncmp(p->name, "fc.", 3) == 0)
            for (size_t k = 0; k < count; k++) data[k] += 0.05f * rnd();
        t[i] = (anvil_tensor){p->name, ANVIL_DTYPE_F32, (int32_t)p->n_dims, {0}, data,
                              p->raw_data.len};
        for (size_t d = 0; d < p->n_dims; d++) t[i].dims[d] = p->dims[d];
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/finetuned.safetensors", dir);
    if (anvil_safetensors_write(path, t, n < 16 ? n : 16) != ANVIL_OK) {
        fprintf(stderr, "make_demo_model: %s\n", anvil_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_demo_model OUT_DIR\n");
        return 2;
    }
    static const int64_t w1d[] = {8, 3, 3, 3}, b1d[] = {8}, w2d[] = {16, 8, 3, 3}, c16[] = {16},
                         fcw[] = {10, 16}, fcb[] = {10}, in_dims[] = {-1, 3, 32, 32},
                         out_dims[] = {-1, 10};
    static const int64_t pads[] = {1, 1, 1, 1}, k2[] = {2, 2};
    Onnx__TensorProto *inits[] = {
        tensor("conv1.weight", 4, w1d, 0.3f, 0.0f), tensor("conv1.bias", 1, b1d, 0.1f, 0.0f),
        tensor("conv2.weight", 4, w2d, 0.2f, 0.0f), tensor("bn.weight", 1, c16, 0.2f, 1.0f),
        tensor("bn.bias", 1, c16, 0.1f, 0.0f),      tensor("bn.running_mean", 1, c16, 0.1f, 0.0f),
        tensor("bn.running_var", 1, c16, 0.2f, 1.0f), tensor("fc.weight", 2, fcw, 0.5f, 0.0f),
        tensor("fc.bias", 1, fcb, 0.1f, 0.0f),
    };
    static const char *conv1_in[] = {"image", "conv1.weight", "conv1.bias"};
    static const char *relu1_in[] = {"conv1_out"}, *pool_in[] = {"relu1_out"};
    static const char *conv2_in[] = {"pool_out", "conv2.weight"};
    static const char *bn_in[] = {"conv2_out", "bn.weight", "bn.bias", "bn.running_mean",
                                  "bn.running_var"};
    static const char *relu2_in[] = {"bn_out"}, *gap_in[] = {"relu2_out"}, *flat_in[] = {"gap_out"};
    static const char *fc_in[] = {"flat_out", "fc.weight", "fc.bias"}, *sm_in[] = {"logits"};
    Onnx__AttributeProto *conv_attrs[] = {attr_ints("pads", 4, pads)};
    Onnx__AttributeProto *pool_attrs[] = {attr_ints("kernel_shape", 2, k2),
                                          attr_ints("strides", 2, k2)};
    Onnx__AttributeProto *conv2_attrs[] = {attr_ints("pads", 4, pads)};
    Onnx__AttributeProto *fc_attrs[] = {attr_int("transB", 1)};
    Onnx__NodeProto *nodes[] = {
        node("conv1", "Conv", 3, conv1_in, "conv1_out", 1, conv_attrs),
        node("relu1", "Relu", 1, relu1_in, "relu1_out", 0, NULL),
        node("pool", "MaxPool", 1, pool_in, "pool_out", 2, pool_attrs),
        node("conv2", "Conv", 2, conv2_in, "conv2_out", 1, conv2_attrs),
        node("bn", "BatchNormalization", 5, bn_in, "bn_out", 0, NULL),
        node("relu2", "Relu", 1, relu2_in, "relu2_out", 0, NULL),
        node("gap", "GlobalAveragePool", 1, gap_in, "gap_out", 0, NULL),
        node("flatten", "Flatten", 1, flat_in, "flat_out", 0, NULL),
        node("fc", "Gemm", 3, fc_in, "logits", 1, fc_attrs),
        node("softmax", "Softmax", 1, sm_in, "probabilities", 0, NULL),
    };
    Onnx__ValueInfoProto *inputs[] = {value_info("image", 4, in_dims)};
    Onnx__ValueInfoProto *outputs[] = {value_info("probabilities", 2, out_dims)};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "anvil_demo_cnn";
    graph.n_node = sizeof nodes / sizeof *nodes;
    graph.node = nodes;
    graph.n_initializer = sizeof inits / sizeof *inits;
    graph.initializer = inits;
    graph.n_input = 1;
    graph.input = inputs;
    graph.n_output = 1;
    graph.output = outputs;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 17;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = 8;
    model.producer_name = "anvil make_demo_model";
    model.graph = &graph;
    model.n_opset_import = 1;
    model.opset_import = opsets;

    char path[4096];
    size_t size = 0;
    if (write_model(&model, argv[1], "demo_cnn.onnx", &size) != 0) return 1;
    size_t n_inits = sizeof inits / sizeof *inits;
    if (write_finetuned(inits, n_inits, argv[1]) != 0) return 1;
    if (write_model(&model, argv[1], "demo_cnn.finetuned.onnx", NULL) != 0) return 1;

    float *image = malloc(3 * 32 * 32 * sizeof(float));
    for (int i = 0; i < 3 * 32 * 32; i++) image[i] = rnd();
    anvil_tensor t = {"image", ANVIL_DTYPE_F32, 4, {1, 3, 32, 32}, image, sizeof(float) * 3072};
    snprintf(path, sizeof path, "%s/image.npy", argv[1]);
    if (anvil_npy_write(path, &t) != ANVIL_OK) {
        fprintf(stderr, "make_demo_model: %s\n", anvil_last_error());
        return 1;
    }
    free(image);
    for (int i = 0; i < n_kept; i++) free(kept[i]);
    printf("wrote %s/demo_cnn.onnx (%zu bytes), image.npy, finetuned.safetensors and "
           "demo_cnn.finetuned.onnx\n", argv[1], size);
    return 0;
}
