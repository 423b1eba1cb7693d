/*
 * test_cli_refit.c — `anvil refit` of the built tool (ANVIL_CLI_PATH), run as a user would on
 * MobileNetV2 from ANVIL_SHARED_DIR/models: compile v1, refit it from v2.onnx and check its
 * output against the stored v2 reference; a stripped engine refitted in place; a source with
 * missing weights (exit 1, nothing written); usage errors (exit 2); --verify (passes, or with
 * a tolerance no kernel meets fails and writes nothing); --map with the PyTorch state dict
 * (the map stored in the engine, so the next refit needs no --map); a refit with unchanged
 * weights repacks nothing. Skipped (77) without the shared folder.
 */
#include "anvil.h"
#include "check.h"
#include "cli_runner.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_DIR ANVIL_SHARED_DIR "/models/mobilenet_v2"
#define INPUT MODEL_DIR "/input_0.npy"
#define OTHER_CHECKPOINT ANVIL_SHARED_DIR "/models/transformer_enc/v1.safetensors"

/* Runs `engine` on the stored input with the tool and compares output 0 with `reference`
 * at 1e-4 of its largest magnitude. */
static void check_engine_output(const char *engine, const char *tmp, const char *reference) {
    char args[8192], path[512];
    snprintf(args, sizeof args, "run '%s' -i '" INPUT "' -o '%s/out'", engine, tmp);
    CHECK_EQ(run_cli(args, false), 0);
    snprintf(path, sizeof path, "%s/out/output.npy", tmp);
    check_npy_near(path, reference);
    unlink(path);
    snprintf(path, sizeof path, "%s/out", tmp);
    rmdir(path);
}

static void check_usage(const char *engine) {
    char args[8192];
    CHECK_EQ(run_cli("refit --help", false), 0);
    CHECK_CONTAINS(out_buf, "USAGE");
    CHECK_CONTAINS(out_buf, "--check-finite");
    CHECK_CONTAINS(out_buf, "EXIT CODES");
    CHECK_EQ(run_cli("--help", false), 0);
    CHECK_CONTAINS(out_buf, "refit");
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx'", engine);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "-o");
    snprintf(args, sizeof args, "refit '%s' -o /tmp/never.anvil", engine);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "SOURCE");
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o a --in-place", engine);
    CHECK_EQ(run_cli(args, true), 2);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o a --nosuch", engine);
    CHECK_EQ(run_cli(args, true), 2);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o a --tolerance -1", engine);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "--tolerance");
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o a --threads two", engine);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "--threads 'two'");
}

/* --verify passes within the default tolerance and prints the error; beyond a tolerance no
 * float kernel meets it fails (exit 1) naming the output, and writes nothing. */
static void check_verify(const char *engine, const char *tmp) {
    char args[8192], out[512];
    snprintf(out, sizeof out, "%s/verified.anvil", tmp);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --verify '" INPUT
             "'", engine, out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "verified");
    check_engine_output(out, tmp, MODEL_DIR "/v2.output_0.npy");
    unlink(out);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --verify input='"
             INPUT "' --tolerance 1e-12", engine, out);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "'output'");
    CHECK_CONTAINS(out_buf, "rolled back");
    CHECK(access(out, F_OK) != 0);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --verify nosuch='"
             INPUT "'", engine, out);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK(access(out, F_OK) != 0);
    /* --fallback-compile: the failed verify compiles v2.onnx instead, which is written */
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --verify '" INPUT
             "' --tolerance 1e-12 --fallback-compile", engine, out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "compiled the model afresh");
    check_engine_output(out, tmp, MODEL_DIR "/v2.output_0.npy");
    unlink(out);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --fallback-compile",
             engine, out);
    CHECK_EQ(run_cli(args, true), 2);
    CHECK_CONTAINS(out_buf, "--verify");
}

/* The shared v2.safetensors is a PyTorch state dict: BatchNorm unfolded, other names. With the
 * map from `anvil map` the engine takes it; the map is stored, so the written engine refits
 * from the v1 state dict without --map, and a refit with the same checkpoint repacks nothing. */
static void check_map(const char *engine, const char *tmp) {
    char args[8192], out[512], map[512];
    snprintf(out, sizeof out, "%s/mapped.anvil", tmp);
    snprintf(map, sizeof map, "%s/map.json", tmp);
    snprintf(args, sizeof args, "map '" MODEL_DIR "/v1.onnx' '" MODEL_DIR "/v1.safetensors' "
             "-o '%s'", map);
    CHECK_EQ(run_cli(args, false), 0);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.safetensors' -o '%s'", engine, out);
    CHECK_EQ(run_cli(args, true), 1); /* without the map the names do not match */
    CHECK_CONTAINS(out_buf, "does not use");
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.safetensors' -o '%s' --map '%s' "
             "--threads 1", engine, out, map);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "through the name map");
    check_engine_output(out, tmp, MODEL_DIR "/v2.output_0.npy");
    snprintf(args, sizeof args, "inspect '%s' --sources", out); /* the stored map, listed */
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "name map       106 entries");
    CHECK_CONTAINS(out_buf, "sources        106\n");
    CHECK_CONTAINS(out_buf, "onnx::Conv_538                   f32   32x3x3x3  <- bn fold weight("
                            "features.0.0.weight, features.0.1.weight");
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v1.safetensors' --in-place", out);
    CHECK_EQ(run_cli(args, false), 0);
    check_engine_output(out, tmp, MODEL_DIR "/v1.output_0.npy");
    CHECK_EQ(run_cli(args, false), 0); /* the same checkpoint again: nothing to do */
    CHECK_CONTAINS(out_buf, "(0 changed");
    CHECK_CONTAINS(out_buf, "repacked     0 B");
    /* The same weights in ONNX names: folded weights were packed through views of the
     * checkpoint, whose hashes cover the checkpoint tensors, so those repack once. */
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v1.onnx' --in-place", out);
    CHECK_EQ(run_cli(args, false), 0);
    check_engine_output(out, tmp, MODEL_DIR "/v1.output_0.npy");
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "(0 changed");
    unlink(out);
    unlink(map);
}

/* v1 engine + v2 weights must compute what the v2 model computes. */
static void check_refit_v2(const char *engine, const char *tmp) {
    char args[8192], out[512];
    snprintf(out, sizeof out, "%s/v2.anvil", tmp);
    snprintf(args, sizeof args, "refit '%s' '" MODEL_DIR "/v2.onnx' -o '%s' --check-finite",
             engine, out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "repacked");
    CHECK_CONTAINS(out_buf, " ms");
    CHECK_CONTAINS(out_buf, out);
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_load(out, &e));
    if (e) {
        char count[64];
        size_t n = anvil_engine_refit_source_count(e);
        snprintf(count, sizeof count, "sources      %zu (%zu changed", n, n); /* all differ */
        CHECK(anvil_engine_refit_source_count(e) > 0);
        CHECK_CONTAINS(out_buf, count);
    }
    anvil_engine_destroy(e);
    check_engine_output(out, tmp, MODEL_DIR "/v2.output_0.npy");
    /* The input engine is left as it was: it still computes v1. */
    check_engine_output(engine, tmp, MODEL_DIR "/v1.output_0.npy");
    unlink(out);
}

/* A stripped engine gets its weights from a refit in place, from a model without .onnx. */
static void check_stripped_in_place(const char *tmp) {
    char args[8192], engine[512], model[512];
    snprintf(engine, sizeof engine, "%s/stripped.anvil", tmp);
    snprintf(model, sizeof model, "%s/model.bin", tmp);
    snprintf(args, sizeof args, "cp '" MODEL_DIR "/v2.onnx' '%s'", model);
    CHECK_EQ(system(args), 0);
    snprintf(args, sizeof args, "compile '" MODEL_DIR "/v1.onnx' -o '%s' --stripped "
             "--no-autotune --threads 2", engine);
    CHECK_EQ(run_cli(args, false), 0);
    snprintf(args, sizeof args, "refit '%s' '%s' --in-place", engine, model);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "ONNX model");
    CHECK_CONTAINS(out_buf, "in place");
    check_engine_output(engine, tmp, MODEL_DIR "/v2.output_0.npy");
    unlink(engine);
    unlink(model);
}

/* A checkpoint of another model: exit 1, the message names a missing weight, nothing written. */
static void check_missing_weights(const char *engine, const char *tmp) {
    char args[8192], out[512];
    snprintf(out, sizeof out, "%s/never.anvil", tmp);
    snprintf(args, sizeof args, "refit '%s' '" OTHER_CHECKPOINT "' -o '%s'", engine, out);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "anvil: not found: ");
    CHECK_CONTAINS(out_buf, "missing");
    anvil_engine *e = NULL;
    anvil_tensor_desc d;
    CHECK_OK(anvil_engine_load(engine, &e));
    if (e && anvil_engine_refit_source(e, 0, &d) == ANVIL_OK) {
        char name[512];
        snprintf(name, sizeof name, "'%s'", d.name);
        CHECK_CONTAINS(out_buf, name);
    }
    anvil_engine_destroy(e);
    CHECK(access(out, F_OK) != 0);
    snprintf(args, sizeof args, "refit '%s' '%s/nosuch.safetensors' -o '%s'", engine, tmp, out);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK(access(out, F_OK) != 0);
}

int main(void) {
    if (access(ANVIL_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "CLI not built at %s\n", ANVIL_CLI_PATH);
        return 1;
    }
    if (access(MODEL_DIR "/v1.onnx", R_OK) != 0 || access(OTHER_CHECKPOINT, R_OK) != 0) {
        printf("%s missing: skipped\n", MODEL_DIR);
        return 77;
    }
    char tmp[] = "/tmp/anvil_test_cli_refit_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char args[8192], engine[512];
    snprintf(engine, sizeof engine, "%s/v1.anvil", tmp);
    snprintf(args, sizeof args, "compile '" MODEL_DIR "/v1.onnx' -o '%s' --threads 2", engine);
    CHECK_EQ(run_cli(args, false), 0);
    check_usage(engine);
    check_refit_v2(engine, tmp);
    check_stripped_in_place(tmp);
    check_missing_weights(engine, tmp);
    check_verify(engine, tmp);
    check_map(engine, tmp);
    unlink(engine);
    rmdir(tmp);
    return check_exit();
}
