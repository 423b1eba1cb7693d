/*
 * test_passes_models.c — the whole pass pipeline on the real models of ANVIL_SHARED_DIR/models
 * (v1.onnx; skipped, exit 77, when none is there). Prints the op histogram before and after and
 * checks what the passes must achieve (no BatchNormalization left in mobilenet_v2_bn, 8
 * LayerNormalization and no ReduceMean in transformer_enc), that the optimized graphs give the
 * original outputs on input_0.npy, and that the recipes refit to v2.onnx where it exists.
 */
#include "api/model.h"
#include "passes_harness.h"

static void print_histogram(const char *label, const anvil__graph *g) {
    const char *types[64];
    int counts[64], n = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        int k = 0;
        while (k < n && strcmp(types[k], g->nodes[i].op_type) != 0)
            k++;
        if (k == n && n < 64) {
            types[n] = g->nodes[i].op_type;
            counts[n++] = 0;
        }
        if (k < 64) counts[k]++;
    }
    printf("  %-8s %4d nodes:", label, (int)g->n_nodes);
    for (int k = 0; k < n; k++)
        printf(" %s %d", types[k], counts[k]);
    printf("\n");
}

/* Loads dir/v1.onnx; NULL (skipped) when absent. */
static anvil_model *load_model(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/%s", ANVIL_SHARED_DIR, dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    anvil_model *m = NULL;
    CHECK_OK(anvil_model_load(path, &m));
    return m;
}

/* input_0.npy of the model folder as the model's one input, or random data. */
static anvil__tensor *model_inputs(const char *dir, const anvil__graph *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/input_0.npy", ANVIL_SHARED_DIR, dir);
    anvil_tensor_list *list = NULL;
    if (g->n_inputs != 1 || anvil_npy_read(path, &list) != ANVIL_OK) return random_inputs(g);
    const anvil_tensor *t = anvil_tensor_list_get(list, 0);
    anvil__tensor *in = calloc(2, sizeof *in);
    CHECK_OK(anvil__tensor_shape(&in[0], t->dtype, t->rank, t->dims));
    in[0].data = anvil__malloc(t->bytes);
    memcpy(in[0].data, t->data, t->bytes);
    anvil_tensor_list_destroy(list);
    return in;
}

static int test_models(void) {
    const char *dirs[3] = {"mobilenet_v2", "mobilenet_v2_bn", "transformer_enc"};
    int ran = 0;
    for (int k = 0; k < 3; k++) {
        anvil_model *m = load_model(dirs[k], "v1.onnx");
        if (!m) continue;
        ran++;
        const anvil__graph *g = m->graph;
        anvil__tensor *in = model_inputs(dirs[k], g);
        anvil__compile_state st;
        state_init(&st, g, in);
        printf("%s:\n", dirs[k]);
        print_histogram("before", g);
        CHECK_OK(anvil__passes_run(&st));
        CHECK_OK(anvil__graph_verify(st.run));
        CHECK_OK(anvil__graph_verify(st.weights));
        print_histogram("after", st.run);
        print_histogram("recipes", st.weights);
        printf("  slots %d, sources %d, fused post-ops %d\n", (int)st.run->n_inits,
               (int)st.weights->n_inputs, count_fused(st.run));
        CHECK_EQ(count_op(st.run, "Constant"), 0);
        if (k == 1) CHECK_EQ(count_op(st.run, "BatchNormalization"), 0);
        if (k < 2) CHECK_EQ(count_op(st.run, "Clip"), 0); /* ReLU6 fused into its Conv */
        if (k == 2) {
            CHECK_EQ(count_op(st.run, "LayerNormalization"), 8);
            CHECK_EQ(count_op(st.run, "ReduceMean"), 0);
            CHECK_EQ(count_op(st.run, "Shape"), 0);
        }
        printf("  relative error vs. the original graph: %.3g\n", check_state(g, &st, in, 1e-4));
        anvil_model *v2 = load_model(dirs[k], "v2.onnx");
        if (v2) {
            printf("  refit to v2, relative error vs. v2: %.3g\n",
                   check_state(v2->graph, &st, in, 1e-4));
            anvil_model_destroy(v2);
        }
        anvil__compile_state_free(&st);
        free_tensors(in, g->n_inputs);
        free(in);
        anvil_model_destroy(m);
    }
    return ran;
}

int main(void) {
    if (test_models() == 0) {
        printf("no models under %s/models: skipped\n", ANVIL_SHARED_DIR);
        return 77;
    }
    return check_exit();
}
