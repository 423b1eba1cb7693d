/*
 * file_format.h — the engine file container (docs/engine-format.md §2): a checksummed header
 * naming the format, library and backend versions, then a table of typed sections (META,
 * RUN_GRAPH, WEIGHT_GRAPH, PLAN, SLOTS, SLOT_DATA), each at an aligned offset with its own
 * xxh3-64 checksum. The container knows section bytes, not their meaning; the engine's
 * save/load fill and read them. It also lays out the slot table and slot data (each slot
 * 64-byte aligned so a loader can use mmapped weights in place).
 */
#ifndef ANVIL_ENGINE_FILE_FORMAT_H
#define ANVIL_ENGINE_FILE_FORMAT_H

#include "backend/backend.h"
#include "engine/bytes.h"

#define ANVIL_EFILE_MAGIC "ANVILENG"
#define ANVIL_EFILE_FORMAT_VERSION 1u
#define ANVIL_EFILE_MAX_SECTIONS 64u
#define ANVIL_EFILE_MAX_ALIGN 4096u /* largest section alignment (one page) */
#define ANVIL_EFILE_SLOT_ALIGN 64u  /* alignment of each slot inside SLOT_DATA */
/* Fixed-size, NUL-padded version fields of the header (including the terminating NUL). */
#define ANVIL_EFILE_LIBVER_BYTES 32u
#define ANVIL_EFILE_BACKVER_BYTES 128u
/* Header layout: fixed part, then 32 bytes per section, then the 8-byte header checksum. */
#define ANVIL_EFILE_FIXED_BYTES 192u
#define ANVIL_EFILE_ENTRY_BYTES 32u

/* Section types. Values are explicit and append-only; each type appears at most once. */
typedef enum anvil__section_type {
    ANVIL_SECTION_META = 1,         /* engine-level numbers (options, arena bytes, ...) */
    ANVIL_SECTION_RUN_GRAPH = 2,    /* anvil__graph_serialize of the run graph */
    ANVIL_SECTION_WEIGHT_GRAPH = 3, /* anvil__graph_serialize of the weight graph */
    ANVIL_SECTION_PLAN = 4,         /* steps, buffers, layouts (the engine's own bytes) */
    ANVIL_SECTION_SLOTS = 5,        /* slot table: count + (offset, size) per slot */
    ANVIL_SECTION_SLOT_DATA = 6,    /* slot bytes, each slot 64-byte aligned; absent if stripped */
    ANVIL_SECTION_SOURCE_HASHES = 7, /* optional: u32 count + u64 XXH3 per source weight the
                                        saved slots were built from (partial refit after load) */
    ANVIL_SECTION_NAME_MAP = 8,      /* optional: the engine's name map, JSON text */
    ANVIL_SECTION_TYPE_COUNT
} anvil__section_type;

/* Static name of a section type ("RUN_GRAPH"), "unknown" otherwise. */
const char *anvil__section_name(uint32_t type);

/* Header flags. */
enum {
    ANVIL_EFILE_STRIPPED = 1u << 0, /* no SLOT_DATA: the engine needs a refit after load */
};

typedef struct anvil__efile_header {
    anvil_backend backend;
    const char *backend_version; /* backend->version(); at most 127 bytes (borrowed) */
    uint32_t flags;              /* ANVIL_EFILE_* */
} anvil__efile_header;

/* One section to write. Either one contiguous blob (data, size), or — when n_parts > 0 — the
 * concatenation of parts[i] (part_sizes[i] bytes each), part i starting at the next multiple of
 * part_align from the section start (zero padding between); data/size are then ignored.
 * All pointers are borrowed for the duration of the write. */
typedef struct anvil__efile_section {
    uint32_t type; /* anvil__section_type */
    const void *data;
    size_t size;
    uint32_t align; /* file offset alignment: power of two ≤ ANVIL_EFILE_MAX_ALIGN; 0 means 8 */
    const void *const *parts;
    const size_t *part_sizes;
    size_t n_parts;
    uint32_t part_align; /* power of two ≤ ANVIL_EFILE_MAX_ALIGN; 0 means 1 */
} anvil__efile_section;

/* Writes an engine file atomically (temp file, fsync, rename) without assembling it in memory.
 * Sections are stored in the order given. The library version written is anvil_version().
 * Errors: INVALID_ARGUMENT (unknown or repeated section type, bad alignment, too many
 * sections, version string too long, unknown flags, backend out of range), IO_ERROR. */
anvil_status anvil__efile_write(const char *path, const anvil__efile_header *h,
                                const anvil__efile_section *sections, size_t n);
/* The same file image, built in memory (appended to `out`): for load_memory, tests, fuzzing. */
anvil_status anvil__efile_build(const anvil__efile_header *h, const anvil__efile_section *sections,
                                size_t n, anvil__bytes *out);

/* A validated section: a view into the parsed bytes. */
typedef struct anvil__efile_sview {
    uint32_t type;
    uint32_t align;
    const uint8_t *data;
    size_t offset, size; /* offset from the start of the file */
} anvil__efile_sview;

typedef struct anvil__efile_view {
    uint32_t format_version;
    anvil_backend backend_kind;
    const anvil__backend *backend; /* resolved with anvil__backend_get */
    uint32_t flags;
    char library_version[ANVIL_EFILE_LIBVER_BYTES];
    char backend_version[ANVIL_EFILE_BACKVER_BYTES];
    size_t file_size;
    size_t n_sections;
    anvil__efile_sview sections[ANVIL_EFILE_MAX_SECTIONS]; /* in table order */
} anvil__efile_view;

/* Validates an engine file image (borrowed; the views point into it) and fills *out:
 *   PARSE_ERROR  "not an anvil engine file (magic ...)"; truncated (expected vs. actual size);
 *                format version 0; unknown flags; section count out of range; a section
 *                offset/size out of range, misaligned or overlapping another (naming the
 *                sections and the values); unknown or repeated section types;
 *   VERSION_MISMATCH  format version newer than ANVIL_EFILE_FORMAT_VERSION (both numbers);
 *                backend version string different from the expected one (both strings);
 *   UNSUPPORTED  backend kind unknown to this library or not built/usable here (naming the
 *                file's backend and this library's);
 *   CHECKSUM_MISMATCH  header or section checksum (naming it, stored and computed values).
 * expected_backend_version: the string to compare with; NULL compares with the resolved
 * backend's own version(). Views are aligned as the sections were written relative to `data`:
 * pass a 64-byte (page) aligned buffer, such as a file mapping, to use slots in place. */
anvil_status anvil__efile_parse(const uint8_t *data, size_t size,
                                const char *expected_backend_version, anvil__efile_view *out);
/* The section of `type`, or NULL when the file has none. */
const anvil__efile_sview *anvil__efile_find(const anvil__efile_view *v, uint32_t type);

/* ---- slots ---- */

/* Describes n slots (data[i] of sizes[i] bytes, borrowed until the write) as the SLOTS section
 * and, unless `stripped`, the SLOT_DATA section: fills `table` (an empty anvil__bytes that
 * receives the SLOTS section's bytes; the caller frees it after writing) and out[0..*n_out).
 * Slot i is placed at the first multiple of 64 after slot i-1 (docs/engine-format.md §2.6). */
anvil_status anvil__efile_slot_sections(const void *const *data, const size_t *sizes, size_t n,
                                        bool stripped, anvil__bytes *table,
                                        anvil__efile_section out[2], size_t *n_out);

typedef struct anvil__efile_slot {
    const uint8_t *data; /* into SLOT_DATA; NULL for a stripped file */
    size_t size;
} anvil__efile_slot;

/* Reads and validates the slot table of a parsed file: every slot inside SLOT_DATA, 64-byte
 * aligned, in increasing non-overlapping order; SLOT_DATA present exactly when the file is not
 * stripped. *out is an array of *n slots (anvil__free it; NULL when n is 0).
 * Errors: PARSE_ERROR naming the slot and values, OUT_OF_MEMORY. */
anvil_status anvil__efile_slots(const anvil__efile_view *v, anvil__efile_slot **out, size_t *n);

#endif /* ANVIL_ENGINE_FILE_FORMAT_H */
