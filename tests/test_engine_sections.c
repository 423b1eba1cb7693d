/* Tests the optional engine-file sections refit relies on: SOURCE_HASHES (the content hash of
 * each source weight, so a loaded engine refits partially) and NAME_MAP (the engine's name
 * map). Built on the demo CNN: a saved engine keeps both; a file whose section is damaged but
 * correctly checksummed (hash count wrong, map not JSON, map invalid) is refused with
 * PARSE_ERROR naming the section, never loaded half-read. */
#include "check.h"
#include "file_bytes.h"
#include "engine/engine_file.h"

#include <stdlib.h>
#include <unistd.h>

#define DIR "/tmp/anvil_test_engine_sections"

static const char k_map[] =
    "{\"format\": \"anvil-name-map\", \"version\": 1, \"initializers\": ["
    "{\"onnx\": \"fc.weight\", \"kind\": \"identity\", \"sources\": [\"head.weight\"]},"
    "{\"onnx\": \"fc.bias\", \"kind\": \"identity\", \"sources\": [\"head.bias\"]}]}";

/* The image with section `type`'s bytes replaced (a valid container: checksums recomputed). */
static void expect_refused(const uint8_t *img, size_t size, uint32_t type, const void *data,
                           size_t n, const char *message) {
    anvil__efile_view v;
    CHECK_OK(anvil__efile_parse(img, size, NULL, &v));
    anvil__efile_section sec[ANVIL_EFILE_MAX_SECTIONS];
    for (size_t i = 0; i < v.n_sections; i++) {
        sec[i] = (anvil__efile_section){v.sections[i].type, v.sections[i].data,
                                        v.sections[i].size, v.sections[i].align, NULL, NULL, 0, 0};
        if (v.sections[i].type == type) {
            sec[i].data = data;
            sec[i].size = n;
        }
    }
    anvil__efile_header h = {v.backend_kind, v.backend_version, v.flags};
    anvil__bytes out = ANVIL_BYTES_INIT;
    CHECK_OK(anvil__efile_build(&h, sec, v.n_sections, &out));
    anvil_engine *e = (anvil_engine *)1;
    CHECK_STATUS(anvil_engine_load_memory(out.data, out.len, &e), ANVIL_STATUS_PARSE_ERROR);
    CHECK(e == NULL);
    CHECK_CONTAINS(anvil_last_error(), message);
    anvil__bytes_free(&out);
}

int main(void) {
    CHECK_EQ(system("mkdir -p " DIR " && " ANVIL_DEMO_MODEL_TOOL " " DIR " >/dev/null"), 0);
    anvil_model *m = NULL;
    anvil_engine *e = NULL, *loaded = NULL;
    anvil_name_map *map = NULL;
    CHECK_OK(anvil_model_load(DIR "/demo_cnn.onnx", &m));
    if (m) CHECK_OK(anvil_engine_compile(m, NULL, &e));
    CHECK_OK(anvil_name_map_load_memory(k_map, sizeof k_map - 1, &map));
    if (!e || !map) return check_exit();
    CHECK_OK(anvil_engine_set_name_map(e, map));
    CHECK_OK(anvil_engine_save(e, DIR "/demo.anvil", NULL));
    size_t size = 0;
    uint8_t *img = read_all(DIR "/demo.anvil", &size);
    CHECK(img && size > 0);

    /* Both sections round-trip: the map is back, and the hashes make a refit with the same
     * weights a no-op. */
    CHECK_OK(anvil_engine_load_memory(img, size, &loaded));
    const anvil_name_map *back = loaded ? anvil_engine_name_map(loaded) : NULL;
    CHECK(back && anvil_name_map_count(back) == 2);
    anvil_map_entry entry;
    if (back) CHECK_OK(anvil_name_map_find(back, "fc.bias", &entry));
    if (back) CHECK_STR_EQ(entry.sources[0], "head.bias");
    anvil_refit_source src = {ANVIL_REFIT_FROM_MODEL, m, NULL, NULL, 0};
    anvil_refit_options o = anvil_refit_options_default();
    o.in_place = 1;
    anvil_refit_report r;
    anvil_engine *out = NULL;
    if (loaded) CHECK_OK(anvil_engine_refit(loaded, &src, &o, &out, &r));
    if (loaded) CHECK_EQ(r.bytes_packed, 0);
    anvil_engine_destroy(loaded);

    /* Damaged sections. */
    uint8_t hashes[12] = {1, 0, 0, 0}; /* one hash for an engine with 9 sources */
    expect_refused(img, size, ANVIL_SECTION_SOURCE_HASHES, hashes, sizeof hashes, "SOURCE_HASHES");
    expect_refused(img, size, ANVIL_SECTION_SOURCE_HASHES, hashes, 3, "SOURCE_HASHES");
    expect_refused(img, size, ANVIL_SECTION_NAME_MAP, "{not json", 9, "NAME_MAP");
    static const char no_kind[] = "{\"format\": \"anvil-name-map\", \"version\": 1, "
                                  "\"initializers\": [{\"onnx\": \"a\", \"sources\": [\"b\"]}]}";
    expect_refused(img, size, ANVIL_SECTION_NAME_MAP, no_kind, sizeof no_kind - 1, "NAME_MAP");

    free(img);
    anvil_name_map_destroy(map);
    anvil_engine_destroy(e);
    anvil_model_destroy(m);
    CHECK_EQ(system("rm -rf " DIR), 0);
    return check_exit();
}
