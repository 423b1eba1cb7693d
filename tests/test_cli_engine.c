/*
 * test_cli_engine.c — the engine commands of the built `anvil` tool (ANVIL_CLI_PATH), run as a
 * user would on MobileNetV2 from ANVIL_SHARED_DIR/models: compile, inspect an engine, run an
 * engine and a model compiled in memory against the reference output, stripped engines, bad
 * profiles and bench; plus the shape and profile parsers compiled in directly. Skipped (77)
 * without the shared folder.
 */
#include "anvil.h"
#include "check.h"
#include "cli_runner.h"

#include "../tools/anvil/cli_engine.c"
#include "../tools/anvil/cli_util.c"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define MODEL_DIR ANVIL_SHARED_DIR "/models/mobilenet_v2"
#define MODEL MODEL_DIR "/v1.onnx"
#define INPUT MODEL_DIR "/input_0.npy"

static void check_parsers(void) {
    int32_t rank = -1;
    int64_t dims[ANVIL_MAX_RANK];
    CHECK(cli_parse_shape("1x3x224x224", 11, &rank, dims));
    CHECK_EQ(rank, 4);
    CHECK_EQ(dims[0], 1);
    CHECK_EQ(dims[3], 224);
    CHECK(cli_parse_shape("7", 1, &rank, dims) && rank == 1 && dims[0] == 7);
    const char *bad[] = {"", "x", "1x", "x1", "1xx3", "-1", "1x-3", "1,3", "a",
                         "1x1x1x1x1x1x1x1x1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!cli_parse_shape(bad[i], strlen(bad[i]), &rank, dims));
    char shape[64];
    CHECK_STR_EQ(cli_shape_text(3, (int64_t[]){2, -1, 5}, shape, sizeof shape), "2x?x5");

    anvil_input_profile p;
    char *name = NULL, why[256];
    CHECK(cli_parse_profile("input:1x3x8,2x3x8,4x3x8", &p, &name, why, sizeof why));
    CHECK_STR_EQ(p.name, "input");
    CHECK_EQ(p.rank, 3);
    CHECK_EQ(p.min[0], 1);
    CHECK_EQ(p.opt[0], 2);
    CHECK_EQ(p.max[0], 4);
    free(name);
    CHECK(cli_parse_profile("a:b:5x6", &p, &name, why, sizeof why)); /* name up to the last ':' */
    CHECK_STR_EQ(p.name, "a:b");
    CHECK(p.min[1] == 6 && p.opt[1] == 6 && p.max[1] == 6);
    free(name);
    const char *bad_profiles[] = {"input", ":1x2", "in:", "in:1x2,1x2", "in:1x2,1x2,1x2,1x2",
                                  "in:2x2,1x2,3x2", "in:1x2,1x2x3,1x2", "in:1x2,3x2,2x2"};
    for (size_t i = 0; i < sizeof bad_profiles / sizeof bad_profiles[0]; i++) {
        CHECK(!cli_parse_profile(bad_profiles[i], &p, &name, why, sizeof why));
        CHECK(name == NULL);
        CHECK(why[0] != '\0');
    }
}

static void check_help(void) {
    const char *cmds[] = {"compile", "bench", "run", "inspect"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        CHECK_EQ(run_cli(args, false), 0);
        CHECK_CONTAINS(out_buf, "USAGE");
        CHECK_CONTAINS(out_buf, "EXIT CODES");
    }
    CHECK_EQ(run_cli("help compile", false), 0);
    CHECK_CONTAINS(out_buf, "--profile NAME:MIN,OPT,MAX");
    CHECK_CONTAINS(out_buf, "--stripped");
    CHECK_EQ(run_cli("--help", false), 0);
    CHECK_CONTAINS(out_buf, "compile");
    CHECK_CONTAINS(out_buf, "bench");
}

/* Output 0 of an .npy the tool wrote against the stored reference, 1e-4 relative. */
static void check_output_file(const char *path) {
    check_npy_near(path, MODEL_DIR "/v1.output_0.npy");
    unlink(path);
}

/* Compiles to a name without a telling extension: run and inspect must know it by magic. */
static void check_compile(const char *engine) {
    char args[8192];
    snprintf(args, sizeof args, "compile '" MODEL "' -o '%s' --threads 2", engine);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "layers");
    CHECK_CONTAINS(out_buf, "arena");
    CHECK_CONTAINS(out_buf, "compile");
    CHECK(cli_is_engine_file(engine));
    CHECK(!cli_is_engine_file(MODEL));
}

static void check_inspect(const char *engine) {
    char args[8192];
    snprintf(args, sizeof args, "inspect '%s'", engine);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "Conv");
    CHECK_CONTAINS(out_buf, "tactic");
    CHECK_CONTAINS(out_buf, "arena");
    CHECK_CONTAINS(out_buf, "refittable");
    CHECK_CONTAINS(out_buf, "[1, 3, 224, 224]");
    CHECK_CONTAINS(out_buf, "[1, 1000]");
    /* Every layer's tactic, as the library reports it, is in the table. */
    anvil_engine *e = NULL;
    CHECK_OK(anvil_engine_load(engine, &e));
    anvil_engine_info info;
    if (e && anvil_engine_get_info(e, &info) == ANVIL_OK) {
        CHECK(info.layer_count > 0);
        CHECK_EQ(info.threads, 2);
        for (size_t i = 0; i < info.layer_count; i++) {
            anvil_layer_info l;
            CHECK_OK(anvil_engine_layer(e, i, &l));
            CHECK(l.tactic && l.tactic[0]);
            CHECK_CONTAINS(out_buf, l.tactic);
            CHECK_CONTAINS(out_buf, l.name);
        }
    }
    anvil_engine_destroy(e);
    snprintf(args, sizeof args, "inspect '%s' --graph", engine);
    CHECK_EQ(run_cli(args, true), 2);
}

static void check_run(const char *engine, const char *tmp) {
    char args[8192], path[4096];
    snprintf(args, sizeof args, "run '%s' -i input='" INPUT "' -o '%s/e'", engine, tmp);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "output f32 [1, 1000]");
    snprintf(path, sizeof path, "%s/e/output.npy", tmp);
    check_output_file(path);
    /* An ONNX model is compiled in memory. */
    snprintf(args, sizeof args, "run '" MODEL "' --no-autotune -i '" INPUT "' -o '%s/m'", tmp);
    CHECK_EQ(run_cli(args, false), 0);
    snprintf(path, sizeof path, "%s/m/output.npy", tmp);
    check_output_file(path);
    snprintf(args, sizeof args, "run '%s'", engine);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "missing input");
    CHECK_CONTAINS(out_buf, "1x3x224x224");
    snprintf(args, sizeof args, "run '%s' --reference -i '" INPUT "'", engine);
    CHECK_EQ(run_cli(args, true), 2);
    snprintf(args, sizeof args, "run '%s' --threads 1 -i '" INPUT "'", engine);
    CHECK_EQ(run_cli(args, true), 2); /* compiled for 2 */
    CHECK_CONTAINS(out_buf, "--threads");
    snprintf(path, sizeof path, "%s/e", tmp);
    rmdir(path);
    snprintf(path, sizeof path, "%s/m", tmp);
    rmdir(path);
}

static void check_stripped(const char *tmp) {
    char args[8192], engine[4096];
    snprintf(engine, sizeof engine, "%s/stripped.anvil", tmp);
    snprintf(args, sizeof args, "compile '" MODEL "' -o '%s' --stripped --no-autotune", engine);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "stripped");
    snprintf(args, sizeof args, "inspect '%s'", engine);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "needs weights  yes");
    snprintf(args, sizeof args, "run '%s' -i '" INPUT "'", engine);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "weights");
    CHECK_CONTAINS(out_buf, "anvil: ");
    unlink(engine);
}

static void check_bad_profiles(const char *tmp) {
    const char *profiles[] = {
        "input:1x3x224",                                  /* rank 3 for a rank-4 input */
        "nosuch:1x3x224x224",                             /* no such input */
        "input:1x3x224x224,1x3x224",                      /* two shapes */
        "input:4x3x224x224,1x3x224x224,8x3x224x224",      /* min > opt */
        "input:1x4x224x224",                              /* dim 1 is fixed to 3 */
        "input:1by3",                                     /* syntax */
    };
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        char args[8192];
        snprintf(args, sizeof args, "compile '" MODEL "' -o '%s/bad.anvil' --profile '%s'", tmp,
                 profiles[i]);
        CHECK_EQ(run_cli(args, true), 2);
        CHECK_CONTAINS(out_buf, "--profile");
    }
    CHECK_EQ(run_cli("compile '" MODEL "'", true), 2); /* no -o */
    CHECK_CONTAINS(out_buf, "-o");
    CHECK_EQ(run_cli("compile '" MODEL "' -o x --threads many", true), 2);
    CHECK_EQ(run_cli("compile '" MODEL "' -o x --precision f8", true), 2);
    CHECK_EQ(run_cli("compile '" MODEL "' -o x --opt-level 3", true), 2);
}

static void check_bench(const char *engine) {
    char args[8192];
    snprintf(args, sizeof args, "bench '%s' --runs 3 --warmup 1", engine);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "median");
    CHECK_CONTAINS(out_buf, "load");
    CHECK_CONTAINS(out_buf, "generated");
    snprintf(args, sizeof args, "bench '" MODEL "' --runs 3 --warmup 0 --no-autotune "
             "-i input='" INPUT "'");
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "median");
    CHECK_CONTAINS(out_buf, "compile");
    CHECK_CONTAINS(out_buf, "from file");
    snprintf(args, sizeof args, "bench '%s' --runs 0", engine);
    CHECK_EQ(run_cli(args, true), 2);
}

int main(void) {
    check_parsers();
    if (access(ANVIL_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "CLI not built at %s\n", ANVIL_CLI_PATH);
        return 1;
    }
    check_help();
    if (access(MODEL, R_OK) != 0) {
        printf("%s missing: skipped\n", MODEL);
        return check_failures_ ? check_exit() : 77;
    }
    char tmp[] = "/tmp/anvil_test_cli_engine_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char engine[4096];
    snprintf(engine, sizeof engine, "%s/mobilenet.engine.bin", tmp);
    check_compile(engine);
    check_inspect(engine);
    check_run(engine, tmp);
    check_bench(engine);
    check_stripped(tmp);
    check_bad_profiles(tmp);
    unlink(engine);
    rmdir(tmp);
    return check_exit();
}
