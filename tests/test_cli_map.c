/*
 * test_cli_map.c — `anvil map` of the built tool (ANVIL_CLI_PATH) on MobileNetV2 from
 * ANVIL_SHARED_DIR/models: the written map loads with 106 entries whose counts per kind are the
 * ones printed; a checkpoint of another model (exit 1, nothing written); usage errors (exit 2,
 * naming what is wrong). Skipped (77) without the shared folder.
 */
#include "anvil.h"
#include "check.h"
#include "cli_runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL_DIR ANVIL_SHARED_DIR "/models/mobilenet_v2"
#define OTHER_CHECKPOINT ANVIL_SHARED_DIR "/models/transformer_enc/v1.safetensors"

static void check_map(const char *tmp) {
    char args[8192], out[512], line[128];
    snprintf(out, sizeof out, "%s/map.json", tmp);
    snprintf(args, sizeof args,
             "map '" MODEL_DIR "/v1.onnx' '" MODEL_DIR "/v1.safetensors' -o '%s'", out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, " ms\n");
    CHECK_CONTAINS(out_buf, out);
    CHECK_CONTAINS(out_buf, "unmatched    0\n");
    CHECK_CONTAINS(out_buf, "num_batches_tracked"); /* unused by the graph */
    anvil_name_map *map = NULL;
    CHECK_OK(anvil_name_map_load(out, &map));
    CHECK_EQ(anvil_name_map_count(map), 106);
    CHECK_EQ(anvil_name_map_unmatched_count(map), 0);
    size_t kinds[ANVIL_MAP_KIND_COUNT] = {0};
    for (size_t i = 0; i < anvil_name_map_count(map); i++) {
        anvil_map_entry e;
        CHECK_OK(anvil_name_map_entry(map, i, &e));
        if ((unsigned)e.kind < ANVIL_MAP_KIND_COUNT) kinds[e.kind]++;
    }
    CHECK_EQ(kinds[ANVIL_MAP_CONV_BN_FOLD_WEIGHT], 52);
    snprintf(line, sizeof line, "identity     %zu\n", kinds[ANVIL_MAP_IDENTITY]);
    CHECK_CONTAINS(out_buf, line);
    snprintf(line, sizeof line, "bn fold      %zu weights, %zu biases\n",
             kinds[ANVIL_MAP_CONV_BN_FOLD_WEIGHT], kinds[ANVIL_MAP_CONV_BN_FOLD_BIAS]);
    CHECK_CONTAINS(out_buf, line);
    anvil_name_map_destroy(map);
    unlink(out);
    /* --tolerance 0: exact matches only, and these are exact */
    snprintf(args, sizeof args, "map '" MODEL_DIR "/v1.onnx' '" MODEL_DIR "/v1.safetensors' -o "
             "'%s' --tolerance 0", out);
    CHECK_EQ(run_cli(args, false), 0);
    CHECK_CONTAINS(out_buf, "(106 entries)");
    unlink(out);
}

static void check_failures(const char *tmp) {
    char args[8192], out[512];
    snprintf(out, sizeof out, "%s/never.json", tmp);
    snprintf(args, sizeof args, "map '" MODEL_DIR "/v1.onnx' '" OTHER_CHECKPOINT "' -o '%s'", out);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "no initializer");
    CHECK(access(out, F_OK) != 0);
    snprintf(args, sizeof args, "map '" MODEL_DIR "/v1.onnx' '%s/nosuch.safetensors' -o '%s'",
             tmp, out);
    CHECK_EQ(run_cli(args, true), 1);
    CHECK_CONTAINS(out_buf, "nosuch.safetensors");
    CHECK(access(out, F_OK) != 0);
}

static void check_usage(void) {
    CHECK_EQ(run_cli("map --help", false), 0);
    CHECK_CONTAINS(out_buf, "USAGE");
    CHECK_CONTAINS(out_buf, "--tolerance");
    CHECK_CONTAINS(out_buf, "EXIT CODES");
    CHECK_EQ(run_cli("--help", false), 0);
    CHECK_CONTAINS(out_buf, "  map ");
    CHECK_EQ(run_cli("map '" MODEL_DIR "/v1.onnx' '" MODEL_DIR "/v1.safetensors'", true), 2);
    CHECK_CONTAINS(out_buf, "-o MAP.json");
    CHECK_EQ(run_cli("map '" MODEL_DIR "/v1.onnx' -o /tmp/never.json", true), 2);
    CHECK_CONTAINS(out_buf, "CHECKPOINT");
    CHECK_EQ(run_cli("map -o /tmp/never.json", true), 2);
    CHECK_CONTAINS(out_buf, "MODEL");
    CHECK_EQ(run_cli("map a b c -o /tmp/never.json", true), 2);
    CHECK_CONTAINS(out_buf, "3 arguments");
    CHECK_EQ(run_cli("map a b -o /tmp/never.json --tolerance -1", true), 2);
    CHECK_CONTAINS(out_buf, "--tolerance");
    CHECK_EQ(run_cli("map a b -o /tmp/never.json --tolerance x", true), 2);
    CHECK_CONTAINS(out_buf, "'x'");
    CHECK_EQ(run_cli("map a b -o /tmp/never.json --nosuch", true), 2);
    CHECK_CONTAINS(out_buf, "--nosuch");
    CHECK_EQ(run_cli("map a b -o", true), 2);
    CHECK_CONTAINS(out_buf, "needs an argument");
    CHECK(access("/tmp/never.json", F_OK) != 0);
}

int main(void) {
    if (access(ANVIL_CLI_PATH, X_OK) != 0) {
        fprintf(stderr, "CLI not built at %s\n", ANVIL_CLI_PATH);
        return 1;
    }
    check_usage();
    if (access(MODEL_DIR "/v1.safetensors", R_OK) != 0 || access(OTHER_CHECKPOINT, R_OK) != 0) {
        printf("%s missing: skipped\n", MODEL_DIR);
        return check_failures_ ? check_exit() : 77;
    }
    char tmp[] = "/tmp/anvil_test_cli_map_XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    check_map(tmp);
    check_failures(tmp);
    rmdir(tmp);
    return check_exit();
}
