/* Ties in name maps: an exporter that merges weights of equal value into one initializer (as
 * PyTorch's does in eval mode) leaves one engine weight standing for several checkpoint
 * tensors, and a refit must not pick one of them silently when they differ. The model is built
 * here (ONNX bytes through protobuf-c):
 *   y = MatMul((x * ln.scale) * ln.scale + head.bias, onnx::MatMul_9)
 * from a state dict holding ln.scale and ln2.scale (equal: merged into ln.scale, read twice),
 * head.bias and ema.head.bias (equal, but head.bias is read once: an EMA copy, not a merge),
 * fc.weight and fc_copy.weight (equal; onnx::MatMul_9 is their transpose, renamed, so content
 * cannot tell which it came from). The map must hold the tie groups {ln.scale, ln2.scale} and
 * {fc.weight, fc_copy.weight}, and none for head.bias; a refit from a state dict where tied
 * tensors agree gives the slots and outputs of compile(that state dict's model); one where they
 * differ is refused naming both and changes nothing, from a file, from tensors in memory, and
 * after the engine (with its map) is saved and loaded. The same model with ln2.scale and
 * fc_copy.weight as initializers of their own ties nothing; read through an Identity node,
 * ln.scale is still read twice. `anvil map` lists the ties. */
#include "anvil.h"
#include "check.h"
#include "cli_runner.h"
#include "onnx_build.h"
#include "refit_helpers.h"

#include <stdio.h>

enum { N = 4 };
enum { LN, LN2, HEAD, EMA, FC, FC_COPY, N_CK };
static const char *const CK_NAMES[N_CK] = {"ln.scale",  "ln2.scale", "head.bias",
                                           "ema.head.bias", "fc.weight", "fc_copy.weight"};

typedef struct ckpt {
    float v[N_CK][N * N];
    anvil_tensor t[N_CK];
} ckpt;

/* A state dict whose tied tensors agree (ema.head.bias differs: an EMA copy), from `seed`. */
static void make_ckpt(ckpt *c, unsigned seed) {
    for (int i = 0; i < N_CK; i++)
        for (int k = 0; k < N * N; k++) {
            seed = seed * 1664525u + 1013904223u;
            c->v[i][k] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
    memcpy(c->v[LN2], c->v[LN], sizeof c->v[LN]);
    memcpy(c->v[FC_COPY], c->v[FC], sizeof c->v[FC]);
    for (int i = 0; i < N_CK; i++) {
        bool matrix = i == FC || i == FC_COPY;
        c->t[i] = (anvil_tensor){CK_NAMES[i], ANVIL_DTYPE_F32, matrix ? 2 : 1, {N, N},
                                 c->v[i], (matrix ? N * N : N) * sizeof(float)};
    }
}

/* How the exported model holds the equal tensors: merged (ln.scale read twice, fc_copy.weight
 * not in the model), merged with ln.scale read through one Identity node, or not merged
 * (ln2.scale and fc_copy.weight initializers of their own, each read once: then nothing may be
 * tied, equal as they are). */
typedef enum export_kind { MERGED, MERGED_IDENTITY, UNMERGED } export_kind;

/* The exported model of state dict c; written to save_path instead when given. */
static anvil_model *model_of(const ckpt *c, export_kind kind, const char *save_path) {
    bool merged = kind != UNMERGED;
    static float w9[N * N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) w9[i * N + j] = c->v[FC][j * N + i];
    static const int64_t d_vec[] = {N}, d_mat[] = {N, N};
    Onnx__TensorProto inits[5], *pinits[5];
    onnx_init_f32(&inits[0], "ln.scale", 1, d_vec, c->v[LN], N);
    onnx_init_f32(&inits[1], "head.bias", 1, d_vec, c->v[HEAD], N);
    onnx_init_f32(&inits[2], "onnx::MatMul_9", 2, d_mat, w9, N * N);
    onnx_init_f32(&inits[3], "ln2.scale", 1, d_vec, c->v[LN2], N);
    onnx_init_f32(&inits[4], "fc_copy.weight", 2, d_mat, c->v[FC_COPY], N * N);
    for (int i = 0; i < 5; i++) pinits[i] = &inits[i];
    static const char *m1_in[] = {"x", "ln.scale"}, *m1_out[] = {"t1"};
    static const char *m2_in[] = {"t1", "ln.scale"}, *m2_out[] = {"t2"};
    static const char *m2_own[] = {"t1", "ln2.scale"};
    static const char *id_in[] = {"ln.scale"}, *id_out[] = {"ln_id"};
    static const char *m1_id[] = {"x", "ln_id"}, *m2_id[] = {"t1", "ln_id"};
    static const char *a_in[] = {"t2", "head.bias"}, *a_out[] = {"t3"};
    static const char *mm_in[] = {"t3", "onnx::MatMul_9"}, *mm_out[] = {"y"};
    static const char *z_in[] = {"t3", "fc_copy.weight"}, *z_out[] = {"z"};
    Onnx__NodeProto nodes[6], *pnodes[6];
    int n = 0;
    if (kind == MERGED_IDENTITY) onnx_node(&nodes[n++], "Identity", 1, id_in, id_out, 0, NULL);
    onnx_node(&nodes[n++], "Mul", 2, kind == MERGED_IDENTITY ? m1_id : m1_in, m1_out, 0, NULL);
    onnx_node(&nodes[n++], "Mul", 2, kind == MERGED_IDENTITY ? m2_id : merged ? m2_in : m2_own,
              m2_out, 0, NULL);
    onnx_node(&nodes[n++], "Add", 2, a_in, a_out, 0, NULL);
    onnx_node(&nodes[n++], "MatMul", 2, mm_in, mm_out, 0, NULL);
    if (!merged) onnx_node(&nodes[n++], "MatMul", 2, z_in, z_out, 0, NULL);
    for (int i = 0; i < n; i++) pnodes[i] = &nodes[i];
    static const int64_t d_io[] = {1, N};
    onnx_io in, out[2];
    Onnx__ValueInfoProto *pin[] = {onnx_io_f32(&in, "x", 2, d_io)},
                         *pout[] = {onnx_io_f32(&out[0], "y", 2, d_io),
                                    onnx_io_f32(&out[1], "z", 2, d_io)};
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "merged";
    graph.n_node = (size_t)n, graph.node = pnodes;
    graph.n_initializer = merged ? 3 : 5, graph.initializer = pinits;
    graph.n_input = 1, graph.input = pin;
    graph.n_output = merged ? 1 : 2, graph.output = pout;
    anvil_model *m = NULL;
    if (save_path) CHECK(onnx_save_graph(&graph, 17, save_path));
    else CHECK_OK(onnx_load_graph(&graph, 17, &m));
    return m;
}

static anvil_safetensors *write_ckpt(const ckpt *c, size_t count) {
    return written_checkpoint(c->t, count);
}

static float X[N] = {0.5f, -1.25f, 2.0f, 0.75f};

static anvil_tensor_list *run_x(const anvil_engine *e) {
    anvil_tensor x = {"x", ANVIL_DTYPE_F32, 2, {1, N}, X, sizeof X};
    anvil_context *c = NULL;
    anvil_tensor_list *out = NULL;
    CHECK_OK(anvil_context_create(e, &c));
    if (c) CHECK_OK(anvil_engine_run(c, &x, 1, &out));
    anvil_context_destroy(c);
    return out;
}

/* The tie group at index g is exactly `want` (n names, in checkpoint order). */
static void check_group(const anvil_name_map *map, size_t g, const char *const *want, size_t n) {
    const char *const *names = NULL;
    size_t count = 0;
    CHECK_OK(anvil_name_map_tie(map, g, &names, &count));
    CHECK_EQ(count, n);
    for (size_t k = 0; k < count && k < n; k++) CHECK_STR_EQ(names[k], want[k]);
}

static void check_map(const anvil_name_map *map) {
    anvil_map_entry e;
    CHECK_EQ(anvil_name_map_count(map), 3);
    CHECK_OK(anvil_name_map_find(map, "onnx::MatMul_9", &e));
    CHECK(e.kind == ANVIL_MAP_TRANSPOSE);
    CHECK_STR_EQ(e.sources[0], "fc.weight");
    /* head.bias is read once: its EMA copy is not tied */
    CHECK_EQ(anvil_name_map_tie_count(map), 2);
    static const char *const ln[] = {"ln.scale", "ln2.scale"},
                             *fc[] = {"fc.weight", "fc_copy.weight"};
    check_group(map, 0, ln, 2);
    check_group(map, 1, fc, 2);
}

/* A refit of e from src must fail with a message holding `pair` and `weight`, and leave e's
 * outputs as they were. */
static void expect_refused(anvil_engine *e, const anvil_refit_source *src, const char *pair,
                           const char *weight) {
    anvil_tensor_list *before = run_x(e);
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_engine *out = NULL;
    CHECK_STATUS(anvil_engine_refit(e, src, &o, &out, NULL), ANVIL_STATUS_INVALID_GRAPH);
    CHECK(out == NULL);
    CHECK_CONTAINS(anvil_last_error(), pair);
    CHECK_CONTAINS(anvil_last_error(), weight);
    CHECK_CONTAINS(anvil_last_error(), "tied in the name map");
    anvil_tensor_list *after = run_x(e);
    CHECK(same_outputs(before, after));
    anvil_tensor_list_destroy(before);
    anvil_tensor_list_destroy(after);
}

/* e refitted from c (through its map) holds what compile(model_of(c)) holds. */
static void check_refit_to(anvil_engine *e, const ckpt *c, size_t count) {
    anvil_safetensors *st = write_ckpt(c, count);
    anvil_refit_source src = {ANVIL_REFIT_FROM_SAFETENSORS, NULL, st, NULL, 0};
    refit_in_place(e, &src);
    anvil_model *m = model_of(c, MERGED, NULL);
    anvil_engine *want = m ? compile(m) : NULL;
    if (want) {
        check_same_slots(e, want);
        anvil_tensor_list *a = run_x(e), *b = run_x(want);
        CHECK(same_outputs(a, b));
        anvil_tensor_list_destroy(a);
        anvil_tensor_list_destroy(b);
    }
    anvil_engine_destroy(want);
    anvil_model_destroy(m);
    anvil_safetensors_close(st);
}

/* `anvil map` lists the tie groups and counts the tied tensors as used. */
static void check_cli(const ckpt *v1) {
    char dir[] = "/tmp/anvil_test_tied_cli_XXXXXX", args[1024];
    if (!mkdtemp(dir)) {
        CHECK(false);
        return;
    }
    char model[256], st[256], out[256];
    snprintf(model, sizeof model, "%s/merged.onnx", dir);
    snprintf(st, sizeof st, "%s/v1.safetensors", dir);
    snprintf(out, sizeof out, "%s/map.json", dir);
    model_of(v1, MERGED, model);
    CHECK_OK(anvil_safetensors_write(st, v1->t, N_CK));
    snprintf(args, sizeof args, "map '%s' '%s' -o '%s'", model, st, out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "tied checkpoint tensors");
    CHECK_CONTAINS(out_buf, "\n  ln.scale = ln2.scale\n");
    CHECK_CONTAINS(out_buf, "\n  fc.weight = fc_copy.weight\n");
    CHECK_CONTAINS(out_buf, "tied         2 group(s)\n");
    CHECK_CONTAINS(out_buf, "unused       1 of 6 checkpoint tensors (ema.head.bias)\n");
    unlink(model);
    unlink(st);
    unlink(out);
    rmdir(dir);
}

int main(void) {
    static ckpt v1, v2, bad;
    make_ckpt(&v1, 1);
    make_ckpt(&v2, 2);
    anvil_model *m1 = model_of(&v1, MERGED, NULL);
    anvil_safetensors *st1 = write_ckpt(&v1, N_CK);
    anvil_name_map *map = NULL;
    if (m1 && st1) CHECK_OK(anvil_name_map_build(m1, st1, NULL, &map));
    if (map) check_map(map);
    anvil_engine *e = m1 ? compile(m1) : NULL;
    if (e && map) CHECK_OK(anvil_engine_set_name_map(e, map));
    if (!e || !map) return check_exit();

    check_refit_to(e, &v2, N_CK); /* tied tensors agree (and the EMA differs): taken */
    check_refit_to(e, &v1, FC_COPY); /* a tied tensor absent: nothing to disagree with */

    make_ckpt(&bad, 2); /* ln2.scale no longer equals ln.scale */
    bad.v[LN2][1] += 0.5f;
    anvil_safetensors *st_bad = write_ckpt(&bad, N_CK);
    anvil_refit_source src = {ANVIL_REFIT_FROM_SAFETENSORS, NULL, st_bad, NULL, 0};
    expect_refused(e, &src, "'ln.scale' and 'ln2.scale'", "weight 'ln.scale'");
    anvil_refit_source mem = {ANVIL_REFIT_FROM_TENSORS, NULL, NULL, bad.t, N_CK};
    expect_refused(e, &mem, "'ln.scale' and 'ln2.scale'", "weight 'ln.scale'");
    make_ckpt(&bad, 3); /* the copy of the transposed weight differs */
    bad.v[FC_COPY][5] = 9.0f;
    mem.tensors = bad.t;
    expect_refused(e, &mem, "'fc.weight' and 'fc_copy.weight'", "weight 'onnx::MatMul_9'");

    /* The ties travel with the engine's map through save and load. */
    anvil_engine *loaded = saved_and_loaded(e, false);
    if (loaded && anvil_engine_name_map(loaded)) check_map(anvil_engine_name_map(loaded));
    if (loaded) expect_refused(loaded, &src, "'ln.scale' and 'ln2.scale'", "weight 'ln.scale'");
    if (loaded) check_refit_to(loaded, &v2, N_CK);

    /* Unmerged, the same equal tensors tie nothing: each is read once under its own name. */
    anvil_model *own = model_of(&v1, UNMERGED, NULL);
    anvil_name_map *own_map = NULL;
    if (own) CHECK_OK(anvil_name_map_build(own, st1, NULL, &own_map));
    CHECK_EQ(anvil_name_map_count(own_map), 5);
    CHECK_EQ(anvil_name_map_tie_count(own_map), 0);
    anvil_name_map_destroy(own_map);
    anvil_model_destroy(own);
    /* Merged and read through an Identity node: read twice all the same. */
    anvil_model *via = model_of(&v1, MERGED_IDENTITY, NULL);
    anvil_name_map *via_map = NULL;
    if (via) CHECK_OK(anvil_name_map_build(via, st1, NULL, &via_map));
    if (via_map) check_map(via_map);
    anvil_name_map_destroy(via_map);
    anvil_model_destroy(via);

    check_cli(&v1);
    anvil_engine_destroy(loaded);
    anvil_safetensors_close(st_bad);
    anvil_engine_destroy(e);
    anvil_name_map_destroy(map);
    anvil_safetensors_close(st1);
    anvil_model_destroy(m1);
    return check_exit();
}
