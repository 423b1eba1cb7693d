/*
 * test_engine_format.c — the engine file container (file_format.h): round trips in memory and
 * through a file (sections, alignment, slots usable in place from the mapping, a serialized
 * graph read back from a RUN_GRAPH section), the documented byte layout, writer argument
 * checks, and one corrupt file per failure mode asserting the exact status and that the
 * message names both values.
 */
#include "anvil.h"
#include "api/model.h"
#include "check.h"
#include "engine/file_format.h"
#include "engine/serialize_graph.h"

#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#define N_SECTIONS 6
#define HEADER_BYTES (192 + 32 * N_SECTIONS + 8)

static const char *g_cpu_version; /* the CPU backend's version() */

static const uint8_t k_meta[5] = "meta";
static uint8_t g_plan[300], g_slot0[10], g_slot1[64], g_slot3[130];
static const void *const k_slots[4] = {g_slot0, g_slot1, NULL, g_slot3};
static const size_t k_slot_sizes[4] = {sizeof g_slot0, sizeof g_slot1, 0, sizeof g_slot3};

/* ---- building and patching images ---- */

static uint64_t get_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *entry(uint8_t *img, size_t i) { return img + 192 + 32 * i; }

static void rehash_header(uint8_t *img) {
    size_t hb = 192 + 32 * (size_t)get_le(img + 20, 4) + 8;
    put_le(img + hb - 8, XXH3_64bits(img, hb - 8), 8);
}

static void rehash_section(uint8_t *img, size_t i) {
    uint8_t *e = entry(img, i);
    put_le(e + 24, XXH3_64bits(img + get_le(e + 8, 8), get_le(e + 16, 8)), 8);
    rehash_header(img);
}

/* META, RUN_GRAPH (graph bytes), WEIGHT_GRAPH (empty), PLAN, SLOTS, SLOT_DATA (or stripped). */
static anvil_status build(anvil_backend backend, const char *version, bool stripped,
                          const anvil__bytes *graph, anvil__bytes *img) {
    anvil__bytes table = ANVIL_BYTES_INIT;
    anvil__efile_section s[N_SECTIONS];
    memset(s, 0, sizeof s);
    s[0] = (anvil__efile_section){.type = ANVIL_SECTION_META, .data = k_meta, .size = 5};
    s[1] = (anvil__efile_section){
        .type = ANVIL_SECTION_RUN_GRAPH, .data = graph->data, .size = graph->len, .align = 64};
    s[2] = (anvil__efile_section){.type = ANVIL_SECTION_WEIGHT_GRAPH, .align = 16};
    s[3] = (anvil__efile_section){
        .type = ANVIL_SECTION_PLAN, .data = g_plan, .size = sizeof g_plan, .align = 64};
    size_t n_slot_sections = 0;
    anvil_status st = anvil__efile_slot_sections(k_slots, k_slot_sizes, 4, stripped, &table, s + 4,
                                                 &n_slot_sections);
    anvil__efile_header h = {backend, version, stripped ? ANVIL_EFILE_STRIPPED : 0};
    if (st == ANVIL_OK) st = anvil__efile_build(&h, s, 4 + n_slot_sections, img);
    anvil__bytes_free(&table);
    return st;
}

static anvil__bytes standard_image(void) {
    anvil__bytes img = ANVIL_BYTES_INIT, graph = ANVIL_BYTES_INIT;
    anvil__bytes_put(&graph, "not really a graph", 18);
    CHECK_OK(build(ANVIL_BACKEND_CPU, g_cpu_version, false, &graph, &img));
    anvil__bytes_free(&graph);
    return img;
}

/* Parses img (size bytes) expecting `want` and a message containing a and b. */
static void expect(const uint8_t *img, size_t size, const char *version, anvil_status want,
                   const char *a, const char *b) {
    anvil__efile_view v;
    anvil__error_clear();
    anvil_status s = anvil__efile_parse(img, size, version, &v);
    CHECK_EQ(s, want);
    if (s != want) fprintf(stderr, "  message: %s\n", anvil_last_error());
    if (a) CHECK_CONTAINS(anvil_last_error(), a);
    if (b) CHECK_CONTAINS(anvil_last_error(), b);
}

static void fmt(char *buf, size_t size, const char *f, uint64_t v) { snprintf(buf, size, f, v); }

/* ---- round trips ---- */

static void check_view(const anvil__efile_view *v, const uint8_t *base, bool stripped) {
    CHECK_EQ(v->format_version, 1);
    CHECK_EQ(v->backend_kind, ANVIL_BACKEND_CPU);
    CHECK(v->backend != NULL);
    CHECK_STR_EQ(v->library_version, anvil_version());
    CHECK_STR_EQ(v->backend_version, g_cpu_version);
    CHECK_EQ(v->n_sections, stripped ? 5 : 6);
    for (size_t i = 0; i < v->n_sections; i++)
        CHECK_EQ((size_t)(v->sections[i].data - base) % v->sections[i].align, 0);
    const anvil__efile_sview *m = anvil__efile_find(v, ANVIL_SECTION_META);
    CHECK(m && m->size == 5 && memcmp(m->data, k_meta, 5) == 0 && m->align == 8);
    const anvil__efile_sview *p = anvil__efile_find(v, ANVIL_SECTION_PLAN);
    CHECK(p && p->size == sizeof g_plan && memcmp(p->data, g_plan, sizeof g_plan) == 0);
    const anvil__efile_sview *w = anvil__efile_find(v, ANVIL_SECTION_WEIGHT_GRAPH);
    CHECK(w && w->size == 0);
    CHECK((anvil__efile_find(v, ANVIL_SECTION_SLOT_DATA) == NULL) == stripped);
    anvil__efile_slot *slots = NULL;
    size_t n = 0;
    CHECK_OK(anvil__efile_slots(v, &slots, &n));
    CHECK_EQ(n, 4);
    for (size_t i = 0; slots && i < n; i++) {
        CHECK_EQ(slots[i].size, k_slot_sizes[i]);
        if (stripped) {
            CHECK(slots[i].data == NULL);
            continue;
        }
        CHECK_EQ((size_t)(slots[i].data - base) % 64, 0);
        CHECK(k_slot_sizes[i] == 0 || memcmp(slots[i].data, k_slots[i], k_slot_sizes[i]) == 0);
    }
    anvil__free(slots);
}

static void test_round_trip(void) {
    for (size_t i = 0; i < sizeof g_plan; i++)
        g_plan[i] = (uint8_t)(i * 7 + 1);
    memset(g_slot0, 0x11, sizeof g_slot0);
    memset(g_slot1, 0x22, sizeof g_slot1);
    memset(g_slot3, 0x33, sizeof g_slot3);
    anvil__bytes img = standard_image();
    anvil__efile_view v;
    CHECK_OK(anvil__efile_parse(img.data, img.len, NULL, &v));
    check_view(&v, img.data, false);
    CHECK_OK(anvil__efile_parse(img.data, img.len, g_cpu_version, &v));

    /* The documented layout (docs/engine-format.md §2), read independently of the parser. */
    CHECK(memcmp(img.data, "ANVILENG", 8) == 0);
    CHECK_EQ(get_le(img.data + 8, 4), 1);
    CHECK_EQ(get_le(img.data + 12, 4), ANVIL_BACKEND_CPU);
    CHECK_EQ(get_le(img.data + 20, 4), N_SECTIONS);
    CHECK_EQ(get_le(img.data + 24, 8), img.len);
    CHECK_EQ(get_le(img.data + HEADER_BYTES - 8, 8), XXH3_64bits(img.data, HEADER_BYTES - 8));
    CHECK_EQ(get_le(entry(img.data, 3), 4), ANVIL_SECTION_PLAN);
    uint64_t plan_off = get_le(entry(img.data, 3) + 8, 8);
    CHECK_EQ(plan_off % 64, 0);
    CHECK_EQ(get_le(entry(img.data, 3) + 24, 8), XXH3_64bits(img.data + plan_off, sizeof g_plan));
    CHECK_EQ(get_le(entry(img.data, 5) + 8, 8) % 4096, 0); /* SLOT_DATA is page aligned */
    anvil__bytes_free(&img);

    anvil__bytes graph = ANVIL_BYTES_INIT;
    CHECK_OK(build(ANVIL_BACKEND_CPU, g_cpu_version, true, &graph, &img));
    CHECK_OK(anvil__efile_parse(img.data, img.len, NULL, &v));
    check_view(&v, img.data, true);
    anvil__bytes_free(&img);
}

/* Writes through the atomic writer, maps the file: slots are usable in place. */
static void test_file(void) {
    char dir[] = "/tmp/anvil_efmt_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/e.anvil", dir);
    anvil__bytes table = ANVIL_BYTES_INIT, img = standard_image();
    anvil__efile_section s[N_SECTIONS];
    size_t n = 0;
    memset(s, 0, sizeof s);
    CHECK_OK(anvil__efile_slot_sections(k_slots, k_slot_sizes, 4, false, &table, s, &n));
    anvil__efile_section all[N_SECTIONS] = {
        {.type = ANVIL_SECTION_META, .data = k_meta, .size = 5},
        {.type = ANVIL_SECTION_RUN_GRAPH, .data = "not really a graph", .size = 18, .align = 64},
        {.type = ANVIL_SECTION_WEIGHT_GRAPH, .align = 16},
        {.type = ANVIL_SECTION_PLAN, .data = g_plan, .size = sizeof g_plan, .align = 64},
        s[0],
        s[1]};
    anvil__efile_header h = {ANVIL_BACKEND_CPU, g_cpu_version, 0};
    CHECK_OK(anvil__efile_write(path, &h, all, N_SECTIONS));
    anvil__mapping m;
    CHECK_OK(anvil__map_file(path, &m));
    CHECK(m.size == img.len && memcmp(m.data, img.data, img.len) == 0); /* same bytes */
    anvil__efile_view v;
    CHECK_OK(anvil__efile_parse(m.data, m.size, NULL, &v));
    anvil__efile_slot *slots = NULL;
    CHECK_OK(anvil__efile_slots(&v, &slots, &n));
    for (size_t i = 0; slots && i < n; i++)
        CHECK_EQ((uintptr_t)slots[i].data % 64, 0);
    anvil__free(slots);
    anvil__unmap(&m);
    unlink(path);
    rmdir(dir);
    anvil__bytes_free(&table);
    anvil__bytes_free(&img);
}

/* A real graph in a RUN_GRAPH section, read back from a mapped file: borrowed weights are
 * views into the mapping, 64-byte aligned. */
static void test_graph_section(void) {
    char path[512], dir[] = "/tmp/anvil_efmt_XXXXXX", file[256];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2/v1.onnx", ANVIL_SHARED_DIR);
    anvil_model *model = NULL;
    if (access(path, R_OK) != 0 || anvil_model_load(path, &model) != ANVIL_OK) {
        printf("skipping the graph section test (%s not loadable)\n", path);
        return;
    }
    anvil__bytes graph = ANVIL_BYTES_INIT, img = ANVIL_BYTES_INIT;
    CHECK_OK(anvil__graph_serialize(model->graph, ANVIL_GRAPH_SER_INIT_DATA, &graph));
    CHECK_OK(build(ANVIL_BACKEND_CPU, g_cpu_version, false, &graph, &img));
    CHECK(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/g.anvil", dir);
    CHECK_OK(anvil__write_file_atomic(file, (const void *const[]){img.data}, &img.len, 1));
    anvil__mapping m;
    anvil__efile_view v;
    anvil__graph *g = NULL;
    CHECK_OK(anvil__map_file(file, &m));
    CHECK_OK(anvil__efile_parse(m.data, m.size, NULL, &v));
    const anvil__efile_sview *run = anvil__efile_find(&v, ANVIL_SECTION_RUN_GRAPH);
    CHECK(run != NULL);
    if (run) CHECK_OK(anvil__graph_deserialize(run->data, run->size, NULL, &g));
    int views = 0;
    for (int32_t i = 0; g && i < g->n_inits; i++) {
        const anvil__init *in = &g->inits[i];
        CHECK(memcmp(in->t.data, model->graph->inits[i].t.data, in->t.bytes) == 0);
        if (in->owned) continue;
        views++;
        CHECK_EQ((uintptr_t)in->t.data % 64, 0);
        CHECK((const uint8_t *)in->t.data >= m.data &&
              (const uint8_t *)in->t.data < m.data + m.size);
    }
    CHECK(!g || views > 0);
    anvil__graph_destroy(g);
    anvil__unmap(&m);
    unlink(file);
    rmdir(dir);
    anvil__bytes_free(&graph);
    anvil__bytes_free(&img);
    anvil_model_destroy(model);
}

static void test_writer_arguments(void) {
    anvil__bytes img = ANVIL_BYTES_INIT;
    anvil__efile_header h = {ANVIL_BACKEND_CPU, "v", 0};
    anvil__efile_section twice[2] = {{.type = ANVIL_SECTION_PLAN}, {.type = ANVIL_SECTION_PLAN}};
    CHECK_STATUS(anvil__efile_build(&h, twice, 2, &img), ANVIL_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(anvil_last_error(), "PLAN given twice");
    anvil__efile_section odd = {.type = ANVIL_SECTION_META, .align = 24};
    CHECK_STATUS(anvil__efile_build(&h, &odd, 1, &img), ANVIL_STATUS_INVALID_ARGUMENT);
    anvil__efile_section zero = {.type = 0};
    CHECK_STATUS(anvil__efile_build(&h, &zero, 1, &img), ANVIL_STATUS_INVALID_ARGUMENT);
    char long_version[200];
    memset(long_version, 'v', sizeof long_version - 1);
    long_version[sizeof long_version - 1] = 0;
    h.backend_version = long_version;
    CHECK_STATUS(anvil__efile_build(&h, NULL, 0, &img), ANVIL_STATUS_INVALID_ARGUMENT);
    h.backend_version = "v";
    h.flags = 2;
    CHECK_STATUS(anvil__efile_build(&h, NULL, 0, &img), ANVIL_STATUS_INVALID_ARGUMENT);
    h.flags = 0;
    CHECK_STATUS(anvil__efile_write("/nonexistent-dir/x.anvil", &h, NULL, 0),
                 ANVIL_STATUS_IO_ERROR);
    CHECK_EQ(img.len, 0);
}

/* ---- one corrupt file per failure mode ---- */

static void test_corrupt_header(const anvil__bytes *img) {
    char a[64], b[64];
    uint8_t *c = anvil__malloc(img->len + 1);
    /* Truncated: inside the sections, inside the header, before the magic ends. */
    fmt(a, sizeof a, "the header says %" PRIu64 " bytes", img->len);
    fmt(b, sizeof b, "the file has %" PRIu64, img->len - 1);
    expect(img->data, img->len - 1, NULL, ANVIL_STATUS_PARSE_ERROR, a, b);
    expect(img->data, 100, NULL, ANVIL_STATUS_PARSE_ERROR, "the header needs 392 bytes",
           "the file has 100");
    expect(img->data, 300, NULL, ANVIL_STATUS_PARSE_ERROR, "needs 392 bytes", "has 300");
    expect(img->data, 5, NULL, ANVIL_STATUS_PARSE_ERROR, "truncated", "the file has 5");
    expect((const uint8_t *)"ONNX", 4, NULL, ANVIL_STATUS_PARSE_ERROR, "not an anvil engine file",
           "ANVILENG");
    /* Trailing bytes. */
    memcpy(c, img->data, img->len);
    c[img->len] = 0;
    fmt(a, sizeof a, "has %" PRIu64 " bytes", img->len + 1);
    fmt(b, sizeof b, "the header says %" PRIu64, img->len);
    expect(c, img->len + 1, NULL, ANVIL_STATUS_PARSE_ERROR, a, b);
    /* Wrong magic. */
    c[0] = 'X';
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR,
           "not an anvil engine file (magic \"XNVILENG\"", "expected \"ANVILENG\"");
    /* Newer format version (checked before anything a newer layout may have moved). */
    memcpy(c, img->data, img->len);
    put_le(c + 8, 7, 4);
    expect(c, img->len, NULL, ANVIL_STATUS_VERSION_MISMATCH,
           "engine format version 7 is newer than this library's 1", NULL);
    put_le(c + 8, 0, 4);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "format version 0", NULL);
    /* Header checksum: a changed byte in the backend version. */
    memcpy(c, img->data, img->len);
    c[64] ^= 1;
    fmt(a, sizeof a, "stored checksum 0x%016" PRIx64, get_le(img->data + HEADER_BYTES - 8, 8));
    fmt(b, sizeof b, "computed 0x%016" PRIx64, XXH3_64bits(c, HEADER_BYTES - 8));
    expect(c, img->len, NULL, ANVIL_STATUS_CHECKSUM_MISMATCH, a, b);
    /* Counts out of range. */
    memcpy(c, img->data, img->len);
    put_le(c + 20, 65, 4);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "section count 65 is out of range",
           "(max 64)");
    /* Unknown flags; version field without its NUL. */
    memcpy(c, img->data, img->len);
    put_le(c + 16, 0x80, 4);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "unknown flags 0x80", NULL);
    memcpy(c, img->data, img->len);
    memset(c + 32, 'z', 32);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "library version is not NUL-terminated",
           NULL);
    anvil__free(c);
}

static void test_corrupt_backend(const anvil__bytes *img) {
    char a[64];
    uint8_t *c = anvil__malloc(img->len);
    memcpy(c, img->data, img->len);
    put_le(c + 12, 7, 4);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_UNSUPPORTED, "backend kind 7", "available here: cpu");
    anvil__free(c);
    const anvil__backend *cuda = NULL;
    anvil__bytes other = ANVIL_BYTES_INIT, graph = ANVIL_BYTES_INIT;
    if (anvil__backend_get(ANVIL_BACKEND_CUDA, &cuda) != ANVIL_OK) { /* not built here */
        CHECK_OK(build(ANVIL_BACKEND_CUDA, "cuda 12", false, &graph, &other));
        expect(other.data, other.len, NULL, ANVIL_STATUS_UNSUPPORTED, "for the cuda backend",
               "available here: cpu");
        anvil__bytes_free(&other);
    }
    /* Backend version: the caller's expectation, and the backend's own version(). */
    expect(img->data, img->len, "onednn 0.0 test", ANVIL_STATUS_VERSION_MISMATCH, g_cpu_version,
           "'onednn 0.0 test'");
    CHECK_OK(build(ANVIL_BACKEND_CPU, "onednn 9.9 avx9", false, &graph, &other));
    snprintf(a, sizeof a, "'%.60s'", g_cpu_version);
    expect(other.data, other.len, NULL, ANVIL_STATUS_VERSION_MISMATCH, "'onednn 9.9 avx9'", a);
    anvil__bytes_free(&other);
}

static void test_corrupt_sections(const anvil__bytes *img) {
    char a[128], b[128];
    uint8_t *c = anvil__malloc(img->len);
    uint64_t plan_off = get_le(entry(img->data, 3) + 8, 8);
    /* Bad section checksum. */
    memcpy(c, img->data, img->len);
    c[plan_off + 10] ^= 0x40;
    fmt(a, sizeof a, "section PLAN: stored checksum 0x%016" PRIx64, get_le(entry(c, 3) + 24, 8));
    fmt(b, sizeof b, "computed 0x%016" PRIx64, XXH3_64bits(c + plan_off, sizeof g_plan));
    expect(c, img->len, NULL, ANVIL_STATUS_CHECKSUM_MISMATCH, a, b);
    /* Offset out of range, size overflowing, offset inside the header, misaligned. */
    memcpy(c, img->data, img->len);
    put_le(entry(c, 3) + 8, img->len + 64, 8);
    rehash_header(c);
    fmt(a, sizeof a, "section PLAN: offset %" PRIu64 " + size 300", img->len + 64);
    fmt(b, sizeof b, "in [392, %" PRIu64 ")", img->len);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, a, b);
    memcpy(c, img->data, img->len);
    put_le(entry(c, 3) + 16, UINT64_MAX, 8);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "size 18446744073709551615",
           "out of range");
    memcpy(c, img->data, img->len);
    put_le(entry(c, 0) + 8, 64, 8);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "section META: offset 64", "[392,");
    memcpy(c, img->data, img->len);
    put_le(entry(c, 3) + 8, plan_off + 8, 8);
    rehash_header(c);
    fmt(a, sizeof a, "offset %" PRIu64 " is not a multiple of its alignment 64", plan_off + 8);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "section PLAN", a);
    /* Overlapping sections: SLOTS moved onto META. */
    memcpy(c, img->data, img->len);
    uint64_t meta_off = get_le(entry(c, 0) + 8, 8), slots_size = get_le(entry(c, 4) + 16, 8);
    put_le(entry(c, 4) + 8, meta_off, 8);
    rehash_header(c);
    fmt(a, sizeof a, "sections META [%" PRIu64, meta_off);
    snprintf(b, sizeof b, "SLOTS [%" PRIu64 ", %" PRIu64 ") overlap", meta_off,
             meta_off + slots_size);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, a, b);
    /* Unknown and repeated section types. */
    memcpy(c, img->data, img->len);
    put_le(entry(c, 2), 99, 4);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "section #2 has unknown type 99", NULL);
    put_le(entry(c, 2), ANVIL_SECTION_META, 4);
    rehash_header(c);
    expect(c, img->len, NULL, ANVIL_STATUS_PARSE_ERROR, "section META appears twice",
           "(#0 and #2)");
    anvil__free(c);
}

/* Slot table problems pass the container checks and are caught by anvil__efile_slots. */
static void expect_slots(uint8_t *c, size_t size, const char *a, const char *b) {
    anvil__efile_view v;
    anvil__efile_slot *slots = NULL;
    size_t n = 0;
    CHECK_OK(anvil__efile_parse(c, size, NULL, &v));
    CHECK_STATUS(anvil__efile_slots(&v, &slots, &n), ANVIL_STATUS_PARSE_ERROR);
    CHECK(slots == NULL && n == 0);
    CHECK_CONTAINS(anvil_last_error(), a);
    if (b) CHECK_CONTAINS(anvil_last_error(), b);
}

static void test_corrupt_slots(const anvil__bytes *img) {
    uint8_t *c = anvil__malloc(img->len);
    uint64_t tab = get_le(entry(img->data, 4) + 8, 8);
    memcpy(c, img->data, img->len);
    put_le(c + tab, 1000, 4);
    rehash_section(c, 4);
    expect_slots(c, img->len, "slot count 1000 needs 16008 bytes", "the SLOTS section has 72");
    memcpy(c, img->data, img->len);
    put_le(c + tab + 8 + 16, 65, 8); /* slot 1 offset: misaligned */
    rehash_section(c, 4);
    expect_slots(c, img->len, "slot 1: offset 65, size 64 is not 64-byte aligned", "ends at 10");
    memcpy(c, img->data, img->len);
    put_le(c + tab + 8 + 16 * 3 + 8, 1u << 20, 8); /* slot 3 size: past SLOT_DATA */
    rehash_section(c, 4);
    expect_slots(c, img->len, "slot 3: offset 128, size 1048576 is past the end of SLOT_DATA",
                 "SLOT_DATA has 258 bytes");
    memcpy(c, img->data, img->len);
    put_le(c + 16, ANVIL_EFILE_STRIPPED, 4);
    rehash_header(c);
    expect_slots(c, img->len, "marked stripped but has a SLOT_DATA section", NULL);
    anvil__free(c);
}

static void test_corrupt(void) {
    anvil__bytes img = standard_image();
    test_corrupt_header(&img);
    test_corrupt_backend(&img);
    test_corrupt_sections(&img);
    test_corrupt_slots(&img);
    anvil__bytes_free(&img);
}

int main(void) {
    const anvil__backend *cpu = NULL;
    if (anvil__backend_get(ANVIL_BACKEND_CPU, &cpu) != ANVIL_OK || !cpu) {
        printf("skipped: no CPU backend (%s)\n", anvil_last_error());
        return 77;
    }
    g_cpu_version = cpu->version(cpu->ctx);
    test_round_trip();
    test_file();
    test_graph_section();
    test_writer_arguments();
    test_corrupt();
    return check_exit();
}
