/* Tests the public model API on the generated demo model: inspection, and every run-time input
 * error of the reference interpreter (missing, unknown name, given twice, wrong dtype, wrong
 * fixed dim, inconsistent data size), each with its exact status and message. */
#include "check.h"
#include "anvil.h"

#include <stdlib.h>

int main(void) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "mkdir -p /tmp/anvil_test_api && %s /tmp/anvil_test_api >/dev/null",
             ANVIL_DEMO_MODEL_TOOL);
    CHECK_EQ(system(cmd), 0);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load("/tmp/anvil_test_api/demo_cnn.onnx", &m));
    if (!m) return check_exit();
    CHECK_EQ(anvil_model_input_count(m), 1);
    CHECK_EQ(anvil_model_output_count(m), 1);
    anvil_tensor_desc d;
    CHECK_OK(anvil_model_input(m, 0, &d));
    CHECK_STR_EQ(d.name, "image");
    CHECK_EQ(d.rank, 4);
    CHECK_EQ(d.dims[0], -1);
    CHECK_STR_EQ(d.dim_names[0], "batch");
    CHECK_EQ(d.dims[1], 3);
    CHECK_STATUS(anvil_model_input(m, 1, &d), ANVIL_STATUS_OUT_OF_RANGE);
    CHECK_EQ(anvil_model_initializer_count(m), 9);
    size_t bytes = 0;
    CHECK_OK(anvil_model_initializer(m, 0, &d, &bytes));
    CHECK_STR_EQ(d.name, "conv1.weight");
    CHECK_EQ(bytes, 8 * 3 * 3 * 3 * 4);
    CHECK_EQ(anvil_model_node_count(m, NULL), 10);
    CHECK_EQ(anvil_model_node_count(m, "Conv"), 2);
    size_t count = 0;
    CHECK_STR_EQ(anvil_model_op_type(m, 0, &count), "Conv");
    CHECK_EQ(count, 2);
    CHECK_EQ(anvil_model_opset(m), 17);

    static float image[2 * 3 * 32 * 32];
    anvil_tensor ok = {"image", ANVIL_DTYPE_F32, 4, {2, 3, 32, 32}, image, sizeof image};
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_model_run_reference(m, &ok, 1, &out));
    CHECK_EQ(anvil_tensor_list_get(out, 0)->dims[0], 2); /* the symbolic batch follows */
    anvil_tensor_list_destroy(out);
    out = NULL;

    CHECK_STATUS(anvil_model_run_reference(m, NULL, 0, &out), ANVIL_STATUS_MISSING_INPUT);
    CHECK_CONTAINS(anvil_last_error(), "'image' (f32 batchx3x32x32) not given");
    anvil_tensor unknown = ok;
    unknown.name = "picture";
    CHECK_STATUS(anvil_model_run_reference(m, &unknown, 1, &out), ANVIL_STATUS_NOT_FOUND);
    CHECK_CONTAINS(anvil_last_error(), "no input named 'picture'");
    anvil_tensor twice[2] = {ok, ok};
    CHECK_STATUS(anvil_model_run_reference(m, twice, 2, &out), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "given twice");
    anvil_tensor dtype = ok;
    dtype.dtype = ANVIL_DTYPE_F64;
    dtype.bytes = sizeof image * 2;
    CHECK_STATUS(anvil_model_run_reference(m, &dtype, 1, &out), ANVIL_STATUS_DTYPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "expected dtype f32, got f64");
    anvil_tensor dim = ok;
    dim.dims[1] = 4;
    CHECK_STATUS(anvil_model_run_reference(m, &dim, 1, &out), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "input 'image' dim 1: expected 3, got 4");
    anvil_tensor rank = ok;
    rank.rank = 3;
    CHECK_STATUS(anvil_model_run_reference(m, &rank, 1, &out), ANVIL_STATUS_SHAPE_MISMATCH);
    CHECK_CONTAINS(anvil_last_error(), "expected rank 4, got 3");
    anvil_tensor size = ok;
    size.bytes = 12;
    CHECK_STATUS(anvil_model_run_reference(m, &size, 1, &out), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "expected 24576 bytes of data, got 12");
    CHECK(out == NULL);
    anvil_model_destroy(m);
    anvil_model_destroy(NULL);
    return check_exit();
}
