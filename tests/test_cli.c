/*
 * test_cli.c — runs the built `anvil` tool (ANVIL_CLI_PATH) as a user would: help texts and exit
 * codes (0 ok, 1 runtime error, 2 usage error), `inspect` and `run` on MobileNetV2 from
 * ANVIL_SHARED_DIR/models, and the output-name sanitizer compiled in directly. The model checks
 * are skipped when the shared folder is missing.
 */
#include "anvil.h"
#include "check.h"
#include "cli_runner.h"

#include "../tools/anvil/cli_util.c"

#include "onnx_build.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_DIR ANVIL_SHARED_DIR "/models/mobilenet_v2"

static void check_help(void) {
    CHECK_EQ(run_cli("--help", false), 0);
    CHECK_CONTAINS(out_buf, "EXIT CODES");
    CHECK_CONTAINS(out_buf, "inspect");
    CHECK_CONTAINS(out_buf, "run");
    const char *forms[] = {"help run", "run --help", "inspect -h", "help inspect", "help"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        CHECK_EQ(run_cli(forms[i], false), 0);
        CHECK_CONTAINS(out_buf, "EXIT CODES");
        CHECK_CONTAINS(out_buf, "USAGE");
    }
    CHECK_EQ(run_cli("help run", false), 0);
    CHECK_CONTAINS(out_buf, "--input");
    CHECK_CONTAINS(out_buf, "EXAMPLES");
    CHECK_EQ(run_cli("--version", false), 0);
    CHECK_CONTAINS(out_buf, ANVIL_VERSION_STRING);
}

static void check_usage_errors(void) {
    CHECK_EQ(run_cli("", true), 2);
    CHECK_EQ(run_cli("frobnicate", true), 2);
    CHECK_CONTAINS(out_buf, "unknown command 'frobnicate'");
    CHECK_CONTAINS(out_buf, "inspect");
    CHECK_CONTAINS(out_buf, "run");
    CHECK_EQ(run_cli("help frobnicate", true), 2);
    CHECK_EQ(run_cli("--frobnicate", true), 2);
    CHECK_EQ(run_cli("inspect", true), 2);
    CHECK_CONTAINS(out_buf, "missing MODEL");
    CHECK_EQ(run_cli("inspect a.onnx b.onnx", true), 2);
    CHECK_EQ(run_cli("run", true), 2);
    CHECK_EQ(run_cli("run x.onnx --bogus", true), 2);
    CHECK_CONTAINS(out_buf, "--bogus");
    CHECK_EQ(run_cli("run x.onnx -i", true), 2);
    CHECK_CONTAINS(out_buf, "needs an argument");
    /* A missing model file is a runtime error, reported with the library's status text. */
    CHECK_EQ(run_cli("inspect /nonexistent/model.onnx", true), 1);
    CHECK_CONTAINS(out_buf, "anvil: ");
    CHECK_CONTAINS(out_buf, "/nonexistent/model.onnx");
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Checks an .npy the tool wrote against the stored reference output. */
static void check_output_file(const char *path) { check_npy_near(path, MODEL_DIR "/v1.output_0.npy"); }

static void check_model_commands(const char *tmp) {
    char args[4096], path[4096];
    CHECK_EQ(run_cli("inspect '" MODEL_DIR "/v1.onnx'", false), 0);
    CHECK_CONTAINS(out_buf, "input");
    CHECK_CONTAINS(out_buf, "[1, 3, 224, 224]");
    CHECK_CONTAINS(out_buf, "Conv");
    CHECK_CONTAINS(out_buf, "opset");
    CHECK_CONTAINS(out_buf, "parameters");

    /* NAME=FILE form, into a folder that does not exist yet (created with its parent). */
    snprintf(args, sizeof args,
             "run '" MODEL_DIR "/v1.onnx' -i input='" MODEL_DIR "/input_0.npy' -o '%s/a/b'", tmp);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "output f32 [1, 1000]");
    snprintf(path, sizeof path, "%s/a/b/output.npy", tmp);
    CHECK(file_exists(path));
    check_output_file(path);
    unlink(path);

    /* Bare FILE form for a single-input model, --reference accepted. */
    snprintf(args, sizeof args,
             "run '" MODEL_DIR "/v1.onnx' --reference -i '" MODEL_DIR "/input_0.npy' -o '%s'",
             tmp);
    CHECK_EQ(run_cli(args, false), 0);
    snprintf(path, sizeof path, "%s/output.npy", tmp);
    CHECK(file_exists(path));
    check_output_file(path);
    unlink(path);

    /* No input: the library's MISSING_INPUT message, naming the input, its dtype and shape. */
    CHECK_EQ(run_cli("run '" MODEL_DIR "/v1.onnx'", true), 1);
    CHECK_CONTAINS(out_buf, "anvil: missing input: ");
    CHECK_CONTAINS(out_buf, "input");
    CHECK_CONTAINS(out_buf, "1x3x224x224");

    CHECK_EQ(run_cli("run '" MODEL_DIR "/v1.onnx' -i nosuch=x.npy", true), 2);
    CHECK_CONTAINS(out_buf, "no input 'nosuch'");
    CHECK_CONTAINS(out_buf, "input (f32 [1, 3, 224, 224])");
    CHECK_EQ(run_cli("run '" MODEL_DIR "/v1.onnx' -i input=/nonexistent.npy", true), 1);
    CHECK_CONTAINS(out_buf, "anvil: ");
    snprintf(args, sizeof args, "run '" MODEL_DIR "/v1.onnx' -i input='" MODEL_DIR
             "/input_0.npy' -i input='" MODEL_DIR "/input_0.npy'");
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "given twice");
    snprintf(path, sizeof path, "%s/a/b", tmp);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", tmp);
    rmdir(path);
}

/* A value info "name: f32[2]". */
static Onnx__ValueInfoProto *f32_vec2(onnx_io *v, const char *name) {
    static const int64_t two[1] = {2};
    return onnx_io_f32(v, name, 1, two);
}

/* Writes a model with inputs x, y:0 and outputs "a/b" = Identity(x), "a_b" = Identity(y:0):
 * two output names that sanitize to the same file stem. */
static bool write_odd_names_model(const char *path) {
    onnx_io vx, vy, va, vb;
    Onnx__ValueInfoProto *ins[2] = {f32_vec2(&vx, "x"), f32_vec2(&vy, "y:0")};
    Onnx__ValueInfoProto *outs[2] = {f32_vec2(&va, "a/b"), f32_vec2(&vb, "a_b")};
    char *n1_in[] = {"x"}, *n1_out[] = {"a/b"}, *n2_in[] = {"y:0"}, *n2_out[] = {"a_b"};
    Onnx__NodeProto n1, n2, *nodes[2] = {&n1, &n2};
    onnx__node_proto__init(&n1);
    onnx__node_proto__init(&n2);
    n1.op_type = n2.op_type = "Identity";
    n1.n_input = n1.n_output = n2.n_input = n2.n_output = 1;
    n1.input = n1_in, n1.output = n1_out, n2.input = n2_in, n2.output = n2_out;
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "odd_names";
    g.n_node = 2, g.node = nodes, g.n_input = 2, g.input = ins, g.n_output = 2, g.output = outs;
    Onnx__OperatorSetIdProto opset, *opsets[1] = {&opset};
    onnx__operator_set_id_proto__init(&opset);
    opset.domain = "";
    opset.has_version = 1, opset.version = 14;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1, m.ir_version = 8;
    m.n_opset_import = 1, m.opset_import = opsets;
    m.graph = &g;
    size_t size = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = malloc(size);
    FILE *f = fopen(path, "wb");
    bool ok = buf && f && onnx__model_proto__pack(&m, buf) == size &&
              fwrite(buf, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = false;
    free(buf);
    return ok;
}

static bool npy_equals(const char *path, const float *expect) {
    anvil_tensor_list *l = NULL;
    if (anvil_npy_read(path, &l) != ANVIL_OK) return false;
    const anvil_tensor *t = anvil_tensor_list_get(l, 0);
    bool ok = t->dtype == ANVIL_DTYPE_F32 && t->rank == 1 && t->dims[0] == 2 &&
              memcmp(t->data, expect, 2 * sizeof(float)) == 0;
    anvil_tensor_list_destroy(l);
    return ok;
}

/* Output names with characters outside [A-Za-z0-9._-], two of them clashing once sanitized,
 * and input names with ':' given as NAME=FILE. */
static void check_odd_names(const char *tmp) {
    char model[4096], xf[4096], yf[4096], args[16384], a[4096], b[4096];
    snprintf(model, sizeof model, "%s/odd.onnx", tmp);
    snprintf(xf, sizeof xf, "%s/x.npy", tmp);
    snprintf(yf, sizeof yf, "%s/y.npy", tmp);
    snprintf(a, sizeof a, "%s/out/a_b.npy", tmp);
    snprintf(b, sizeof b, "%s/out/a_b_2.npy", tmp);
    float x[2] = {1.5f, -2.0f}, y[2] = {3.25f, 4.0f};
    anvil_tensor tx = {NULL, ANVIL_DTYPE_F32, 1, {2}, x, sizeof x};
    anvil_tensor ty = {NULL, ANVIL_DTYPE_F32, 1, {2}, y, sizeof y};
    CHECK(write_odd_names_model(model));
    CHECK_OK(anvil_npy_write(xf, &tx));
    CHECK_OK(anvil_npy_write(yf, &ty));
    snprintf(args, sizeof args, "run '%s' -i 'y:0=%s' -i x='%s' -o '%s/out'", model, yf, xf, tmp);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "a/b f32 [2] -> ");
    CHECK_CONTAINS(out_buf, "/out/a_b.npy");
    CHECK_CONTAINS(out_buf, "/out/a_b_2.npy");
    CHECK(npy_equals(a, x));
    CHECK(npy_equals(b, y));
    snprintf(args, sizeof args, "run '%s' -i '%s'", model, xf);
    CHECK_EQ(run_cli(args, true), 2); /* two inputs: NAME= is needed */
    CHECK_CONTAINS(out_buf, "y:0 (f32 [2])");
    unlink(a);
    unlink(b);
    unlink(model);
    unlink(xf);
    unlink(yf);
    snprintf(a, sizeof a, "%s/out", tmp);
    rmdir(a);
}

static void check_helpers(void) {
    char buf[64];
    CHECK_STR_EQ(cli_sanitize_name("output", buf, sizeof buf), "output");
    CHECK_STR_EQ(cli_sanitize_name("a/b:c d", buf, sizeof buf), "a_b_c_d");
    CHECK_STR_EQ(cli_sanitize_name("../../etc/passwd", buf, sizeof buf), ".._.._etc_passwd");
    CHECK_STR_EQ(cli_sanitize_name("onnx::Conv_538", buf, sizeof buf), "onnx__Conv_538");
    CHECK_STR_EQ(cli_sanitize_name("x.y-z_0", buf, sizeof buf), "x.y-z_0");
    CHECK_STR_EQ(cli_sanitize_name("caf\xc3\xa9", buf, sizeof buf), "caf__");
    CHECK_STR_EQ(cli_sanitize_name("", buf, sizeof buf), "_");
    CHECK_STR_EQ(cli_sanitize_name(NULL, buf, sizeof buf), "_");
    CHECK_STR_EQ(cli_sanitize_name("abcdef", buf, 4), "abc");

    CHECK_STR_EQ(cli_format_count(0, buf, sizeof buf), "0");
    CHECK_STR_EQ(cli_format_count(999, buf, sizeof buf), "999");
    CHECK_STR_EQ(cli_format_count(1000, buf, sizeof buf), "1,000");
    CHECK_STR_EQ(cli_format_count(14019488, buf, sizeof buf), "14,019,488");
    CHECK_STR_EQ(cli_format_bytes(512, buf, sizeof buf), "512 B");
    CHECK_STR_EQ(cli_format_bytes(1536, buf, sizeof buf), "1.5 KiB");
    CHECK_STR_EQ(cli_format_bytes(14019488, buf, sizeof buf), "13.4 MiB");

    int64_t dims[3] = {-1, 3, -1};
    const char *names[3] = {"batch", NULL, NULL};
    CHECK_STR_EQ(cli_format_shape(3, dims, names, buf, sizeof buf), "[batch, 3, ?]");
    CHECK_STR_EQ(cli_format_shape(0, dims, NULL, buf, sizeof buf), "[]");
    CHECK_STR_EQ(cli_format_shape(-1, dims, NULL, buf, sizeof buf), "[...]");
    CHECK_STR_EQ(cli_format_shape(3, dims, names, buf, 6), "[batc");
}

int main(void) {
    check_helpers();
    if (!file_exists(ANVIL_CLI_PATH)) {
        fprintf(stderr, "CLI not built at %s\n", ANVIL_CLI_PATH);
        return 1;
    }
    check_help();
    check_usage_errors();
    char tmp[] = "/tmp/anvil_test_cli_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    check_odd_names(tmp);
    if (!file_exists(MODEL_DIR "/v1.onnx")) {
        printf("%s missing: model checks skipped\n", MODEL_DIR);
    } else {
        check_model_commands(tmp);
    }
    rmdir(tmp);
    return check_exit();
}
