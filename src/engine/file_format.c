/*
 * file_format.c — writes and validates the engine file container (docs/engine-format.md §2):
 * header, section table, checksums, alignment, and the slot table. It never interprets a
 * section's contents beyond the slot table; graphs and plan have their own readers. Writing
 * streams the caller's buffers to disk (no assembled copy of the weights).
 */
#include "engine/file_format.h"

#include <stdio.h>
#include <string.h>
#include "core/fast_hash.h"

/* Padding source: no pad is longer than the largest alignment. */
static const uint8_t k_zeros[ANVIL_EFILE_MAX_ALIGN];

static const char *const k_section_names[ANVIL_SECTION_TYPE_COUNT] = {
    [ANVIL_SECTION_META] = "META",
    [ANVIL_SECTION_RUN_GRAPH] = "RUN_GRAPH",
    [ANVIL_SECTION_WEIGHT_GRAPH] = "WEIGHT_GRAPH",
    [ANVIL_SECTION_PLAN] = "PLAN",
    [ANVIL_SECTION_SLOTS] = "SLOTS",
    [ANVIL_SECTION_SLOT_DATA] = "SLOT_DATA",
    [ANVIL_SECTION_SOURCE_HASHES] = "SOURCE_HASHES",
    [ANVIL_SECTION_NAME_MAP] = "NAME_MAP",
};

const char *anvil__section_name(uint32_t type) {
    return type > 0 && type < ANVIL_SECTION_TYPE_COUNT ? k_section_names[type] : "unknown";
}

static const char *backend_name(uint32_t kind) {
    return kind == ANVIL_BACKEND_CPU ? "cpu" : kind == ANVIL_BACKEND_CUDA ? "cuda" : "unknown";
}

static bool pow2_upto(uint32_t a, uint32_t max) { return a && (a & (a - 1)) == 0 && a <= max; }

static size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- writing: the file as a list of chunks (header, pads, section pieces) ---- */

typedef struct chunks {
    const void **ptr;
    size_t *size;
    size_t n, cap;
} chunks;

static anvil_status chunk_add(chunks *c, const void *p, size_t size) {
    if (size == 0) return ANVIL_OK;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        const void **np = anvil__realloc(c->ptr, cap * sizeof *np);
        if (!np) return ANVIL_STATUS_OUT_OF_MEMORY;
        c->ptr = np;
        size_t *ns = anvil__realloc(c->size, cap * sizeof *ns);
        if (!ns) return ANVIL_STATUS_OUT_OF_MEMORY;
        c->size = ns;
        c->cap = cap;
    }
    c->ptr[c->n] = p;
    c->size[c->n++] = size;
    return ANVIL_OK;
}

typedef struct layout {
    uint8_t *header; /* header_bytes bytes, owned */
    size_t header_bytes, file_size;
    chunks c; /* chunk 0 is the header */
} layout;

static anvil_status check_args(const anvil__efile_header *h, const anvil__efile_section *s,
                               size_t n) {
    if (!h || (!s && n)) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "header is NULL");
    if (n > ANVIL_EFILE_MAX_SECTIONS)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "%zu sections, at most %u", n,
                            ANVIL_EFILE_MAX_SECTIONS);
    if ((uint32_t)h->backend >= ANVIL_BACKEND_COUNT || (h->flags & ~(uint32_t)ANVIL_EFILE_STRIPPED))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "backend %d / flags 0x%x out of range",
                            (int)h->backend, (unsigned)h->flags);
    if (!h->backend_version || strlen(h->backend_version) >= ANVIL_EFILE_BACKVER_BYTES)
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT,
                            "backend version string missing or longer than %u bytes",
                            ANVIL_EFILE_BACKVER_BYTES - 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i].type == 0 || s[i].type >= ANVIL_SECTION_TYPE_COUNT)
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "section #%zu: unknown type %u", i,
                                (unsigned)s[i].type);
        for (size_t j = 0; j < i; j++)
            if (s[j].type == s[i].type)
                return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "section %s given twice",
                                    anvil__section_name(s[i].type));
        if ((s[i].align && !pow2_upto(s[i].align, ANVIL_EFILE_MAX_ALIGN)) ||
            (s[i].part_align && !pow2_upto(s[i].part_align, ANVIL_EFILE_MAX_ALIGN)))
            return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "section %s: bad alignment %u/%u",
                                anvil__section_name(s[i].type), (unsigned)s[i].align,
                                (unsigned)s[i].part_align);
    }
    return ANVIL_OK;
}

/* Appends section i's pieces (and the padding between parts) to the chunk list. */
static anvil_status add_section(layout *l, const anvil__efile_section *s, size_t *size) {
    if (s->n_parts == 0) {
        *size = s->size;
        return chunk_add(&l->c, s->data, s->size);
    }
    size_t at = 0, part_align = s->part_align ? s->part_align : 1;
    anvil_status st = ANVIL_OK;
    for (size_t p = 0; p < s->n_parts && st == ANVIL_OK; p++) {
        size_t start = align_up(at, part_align);
        st = chunk_add(&l->c, k_zeros, start - at);
        if (st == ANVIL_OK) st = chunk_add(&l->c, s->parts[p], s->part_sizes[p]);
        if (!anvil__add_size(start, s->part_sizes[p], &at))
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "section too large");
    }
    *size = at;
    return st;
}

static anvil_status checksum(const chunks *c, size_t first, size_t end, uint64_t *out) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "out of memory hashing a section");
    XXH3_64bits_reset(st);
    for (size_t i = first; i < end; i++)
        XXH3_64bits_update(st, c->ptr[i], c->size[i]);
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return ANVIL_OK;
}

static void fill_fixed_header(uint8_t *hd, const anvil__efile_header *h, size_t n,
                              size_t file_size) {
    memcpy(hd, ANVIL_EFILE_MAGIC, 8);
    put_le(hd + 8, ANVIL_EFILE_FORMAT_VERSION, 4);
    put_le(hd + 12, (uint32_t)h->backend, 4);
    put_le(hd + 16, h->flags, 4);
    put_le(hd + 20, n, 4);
    put_le(hd + 24, file_size, 8);
    snprintf((char *)hd + 32, ANVIL_EFILE_LIBVER_BYTES, "%s", anvil_version());
    snprintf((char *)hd + 64, ANVIL_EFILE_BACKVER_BYTES, "%s", h->backend_version);
}

static anvil_status build_layout(const anvil__efile_header *h, const anvil__efile_section *s,
                                 size_t n, layout *l) {
    memset(l, 0, sizeof *l);
    anvil_status st = check_args(h, s, n);
    if (st != ANVIL_OK) return st;
    l->header_bytes = ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * n + 8;
    if (!(l->header = anvil__calloc(1, l->header_bytes))) return ANVIL_STATUS_OUT_OF_MEMORY;
    st = chunk_add(&l->c, l->header, l->header_bytes);
    size_t pos = l->header_bytes;
    for (size_t i = 0; i < n && st == ANVIL_OK; i++) {
        size_t align = s[i].align ? s[i].align : 8, start = align_up(pos, align), size = 0;
        st = chunk_add(&l->c, k_zeros, start - pos);
        size_t first = l->c.n;
        if (st == ANVIL_OK) st = add_section(l, &s[i], &size);
        uint64_t sum = 0;
        if (st == ANVIL_OK) st = checksum(&l->c, first, l->c.n, &sum);
        uint8_t *e = l->header + ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * i;
        put_le(e, s[i].type, 4);
        put_le(e + 4, align, 4);
        put_le(e + 8, start, 8);
        put_le(e + 16, size, 8);
        put_le(e + 24, sum, 8);
        if (st == ANVIL_OK && !anvil__add_size(start, size, &pos))
            st = anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "engine file too large");
    }
    if (st != ANVIL_OK) return st;
    l->file_size = pos;
    fill_fixed_header(l->header, h, n, pos);
    put_le(l->header + l->header_bytes - 8, XXH3_64bits(l->header, l->header_bytes - 8), 8);
    return ANVIL_OK;
}

static void free_layout(layout *l) {
    anvil__free(l->header);
    anvil__free(l->c.ptr);
    anvil__free(l->c.size);
}

anvil_status anvil__efile_write(const char *path, const anvil__efile_header *h,
                                const anvil__efile_section *sections, size_t n) {
    if (!path) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "path is NULL");
    layout l;
    anvil_status s = build_layout(h, sections, n, &l);
    if (s == ANVIL_OK)
        s = anvil__write_file_atomic(path, (const void *const *)l.c.ptr, l.c.size, l.c.n);
    free_layout(&l);
    return s;
}

anvil_status anvil__efile_build(const anvil__efile_header *h, const anvil__efile_section *sections,
                                size_t n, anvil__bytes *out) {
    layout l;
    anvil_status s = build_layout(h, sections, n, &l);
    for (size_t i = 0; s == ANVIL_OK && i < l.c.n; i++)
        s = anvil__bytes_put(out, l.c.ptr[i], l.c.size[i]);
    free_layout(&l);
    return s;
}

/* ---- slots (writing) ---- */

anvil_status anvil__efile_slot_sections(const void *const *data, const size_t *sizes, size_t n,
                                        bool stripped, anvil__bytes *table,
                                        anvil__efile_section out[2], size_t *n_out) {
    if (!table || table->len || n > UINT32_MAX || (n && (!sizes || (!stripped && !data))))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "bad slot list (%zu slots)", n);
    anvil__bytes_u32(table, (uint32_t)n);
    anvil__bytes_u32(table, 0);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t start = align_up(at, ANVIL_EFILE_SLOT_ALIGN);
        anvil__bytes_u64(table, start);
        anvil__bytes_u64(table, sizes[i]);
        if (!anvil__add_size(start, sizes[i], &at))
            return anvil__error(ANVIL_STATUS_LIMIT_EXCEEDED, "slots too large");
    }
    if (table->status != ANVIL_OK) return table->status;
    memset(out, 0, 2 * sizeof *out);
    out[0].type = ANVIL_SECTION_SLOTS;
    out[0].data = table->data;
    out[0].size = table->len;
    out[0].align = 8;
    *n_out = 1;
    if (stripped) return ANVIL_OK;
    out[1].type = ANVIL_SECTION_SLOT_DATA;
    out[1].align = ANVIL_EFILE_MAX_ALIGN; /* page: the slot region can be mapped on its own */
    out[1].parts = data;
    out[1].part_sizes = sizes;
    out[1].n_parts = n;
    out[1].part_align = ANVIL_EFILE_SLOT_ALIGN;
    *n_out = 2;
    return ANVIL_OK;
}

/* ---- parsing ---- */

static anvil_status truncated(size_t need, size_t have, const char *what) {
    return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                        "engine file is truncated: %s needs %zu bytes, the file has %zu", what,
                        need, have);
}

static anvil_status check_magic(const uint8_t *data, size_t size) {
    size_t n = size < 8 ? size : 8;
    if (memcmp(data, ANVIL_EFILE_MAGIC, n) == 0)
        return size < 8 ? truncated(ANVIL_EFILE_FIXED_BYTES + 8, size, "the header") : ANVIL_OK;
    char shown[8 * 4 + 1] = "";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = data[i];
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown),
                 ch >= 0x20 && ch < 0x7f ? "%c" : "\\x%02x", ch);
    }
    return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                        "not an anvil engine file (magic \"%s\", expected \"%s\")", shown,
                        ANVIL_EFILE_MAGIC);
}

/* A fixed-size version field: NUL-terminated inside its field. */
static anvil_status copy_field(char *dst, const uint8_t *src, size_t n, const char *what) {
    const uint8_t *nul = memchr(src, 0, n);
    if (!nul)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file header: %s is not NUL-terminated within %zu bytes", what,
                            n);
    memcpy(dst, src, (size_t)(nul - src) + 1);
    return ANVIL_OK;
}

/* Lists the backends this library can use, e.g. "cpu". */
static void available_backends(char *buf, size_t size) {
    buf[0] = '\0';
    for (uint32_t k = 0; k < ANVIL_BACKEND_COUNT; k++) {
        const anvil__backend *b = NULL;
        if (anvil__backend_get((anvil_backend)k, &b) != ANVIL_OK || !b) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", len ? ", " : "", backend_name(k));
    }
    if (!buf[0]) snprintf(buf, size, "none");
}

static anvil_status check_backend(anvil__efile_view *v, const char *expected) {
    char avail[64];
    if (v->backend_kind >= ANVIL_BACKEND_COUNT) {
        available_backends(avail, sizeof avail);
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "engine file is for backend kind %u, unknown to this library "
                            "(available here: %s)",
                            (unsigned)v->backend_kind, avail);
    }
    if (anvil__backend_get(v->backend_kind, &v->backend) != ANVIL_OK || !v->backend) {
        available_backends(avail, sizeof avail);
        v->backend = NULL;
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "engine file is for the %s backend, which this library cannot use "
                            "here (available here: %s)",
                            backend_name(v->backend_kind), avail);
    }
    if (!expected) expected = v->backend->version(v->backend->ctx);
    if (!expected) expected = "";
    if (strcmp(expected, v->backend_version) != 0)
        return anvil__error(ANVIL_STATUS_VERSION_MISMATCH,
                            "engine file was built with %s backend version '%s', this library "
                            "has '%s'",
                            backend_name(v->backend_kind), v->backend_version, expected);
    return ANVIL_OK;
}

/* Magic, format version, header size and checksum, fixed fields. */
static anvil_status parse_header(const uint8_t *data, size_t size, anvil__efile_view *v,
                                 size_t *header_bytes) {
    anvil_status s = check_magic(data, size);
    if (s != ANVIL_OK) return s;
    if (size < 12) return truncated(ANVIL_EFILE_FIXED_BYTES + 8, size, "the header");
    v->format_version = (uint32_t)get_le(data + 8, 4);
    if (v->format_version > ANVIL_EFILE_FORMAT_VERSION)
        return anvil__error(ANVIL_STATUS_VERSION_MISMATCH,
                            "engine format version %u is newer than this library's %u",
                            (unsigned)v->format_version, ANVIL_EFILE_FORMAT_VERSION);
    if (v->format_version == 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "engine format version 0 is invalid");
    if (size < 24) return truncated(ANVIL_EFILE_FIXED_BYTES + 8, size, "the header");
    uint32_t count = (uint32_t)get_le(data + 20, 4);
    if (count > ANVIL_EFILE_MAX_SECTIONS)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file header: section count %u is out of range (max %u)",
                            (unsigned)count, ANVIL_EFILE_MAX_SECTIONS);
    *header_bytes = ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * (size_t)count + 8;
    if (size < *header_bytes) return truncated(*header_bytes, size, "the header");
    uint64_t stored = get_le(data + *header_bytes - 8, 8);
    uint64_t computed = XXH3_64bits(data, *header_bytes - 8);
    if (stored != computed)
        return anvil__error(ANVIL_STATUS_CHECKSUM_MISMATCH,
                            "engine file header: stored checksum 0x%016llx, computed 0x%016llx",
                            (unsigned long long)stored, (unsigned long long)computed);
    v->backend_kind = (anvil_backend)get_le(data + 12, 4);
    v->flags = (uint32_t)get_le(data + 16, 4);
    v->n_sections = count;
    uint64_t file_size = get_le(data + 24, 8);
    if (v->flags & ~(uint32_t)ANVIL_EFILE_STRIPPED)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "engine file header: unknown flags 0x%x",
                            (unsigned)v->flags);
    s = copy_field(v->library_version, data + 32, ANVIL_EFILE_LIBVER_BYTES, "library version");
    if (s == ANVIL_OK)
        s = copy_field(v->backend_version, data + 64, ANVIL_EFILE_BACKVER_BYTES, "backend version");
    if (s != ANVIL_OK) return s;
    if (file_size > size)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file is truncated: the header says %llu bytes, the file has "
                            "%zu",
                            (unsigned long long)file_size, size);
    if (file_size < size)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file has %zu bytes, the header says %llu (trailing data)", size,
                            (unsigned long long)file_size);
    v->file_size = size;
    return ANVIL_OK;
}

/* One table entry: type, alignment, offset and size inside the file. */
static anvil_status parse_entry(const uint8_t *e, size_t i, size_t header_bytes,
                                anvil__efile_view *v) {
    anvil__efile_sview *sv = &v->sections[i];
    sv->type = (uint32_t)get_le(e, 4);
    sv->align = (uint32_t)get_le(e + 4, 4);
    uint64_t off = get_le(e + 8, 8), size = get_le(e + 16, 8);
    const char *name = anvil__section_name(sv->type);
    if (sv->type == 0 || sv->type >= ANVIL_SECTION_TYPE_COUNT)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR, "section #%zu has unknown type %u", i,
                            (unsigned)sv->type);
    for (size_t j = 0; j < i; j++)
        if (v->sections[j].type == sv->type)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "section %s appears twice (#%zu and #%zu)", name, j, i);
    if (!pow2_upto(sv->align, ANVIL_EFILE_MAX_ALIGN))
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "section %s: alignment %u is not a power of two up to %u", name,
                            (unsigned)sv->align, ANVIL_EFILE_MAX_ALIGN);
    if (off < header_bytes || off > v->file_size || size > v->file_size - off)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "section %s: offset %llu + size %llu is out of range: sections lie "
                            "in [%zu, %zu)",
                            name, (unsigned long long)off, (unsigned long long)size, header_bytes,
                            v->file_size);
    if (off % sv->align)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "section %s: offset %llu is not a multiple of its alignment %u", name,
                            (unsigned long long)off, (unsigned)sv->align);
    sv->offset = (size_t)off;
    sv->size = (size_t)size;
    return ANVIL_OK;
}

static anvil_status check_overlaps(const anvil__efile_view *v) {
    for (size_t i = 0; i < v->n_sections; i++)
        for (size_t j = i + 1; j < v->n_sections; j++) {
            const anvil__efile_sview *a = &v->sections[i], *b = &v->sections[j];
            if (a->size && b->size && a->offset < b->offset + b->size &&
                b->offset < a->offset + a->size)
                return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                    "sections %s [%zu, %zu) and %s [%zu, %zu) overlap",
                                    anvil__section_name(a->type), a->offset, a->offset + a->size,
                                    anvil__section_name(b->type), b->offset, b->offset + b->size);
        }
    return ANVIL_OK;
}

anvil_status anvil__efile_parse(const uint8_t *data, size_t size,
                                const char *expected_backend_version, anvil__efile_view *out) {
    if (!out || (!data && size))
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "data or out is NULL");
    memset(out, 0, sizeof *out);
    if (!data) data = k_zeros;
    size_t header_bytes = 0;
    anvil_status s = parse_header(data, size, out, &header_bytes);
    if (s == ANVIL_OK) s = check_backend(out, expected_backend_version);
    for (size_t i = 0; i < out->n_sections && s == ANVIL_OK; i++)
        s = parse_entry(data + ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * i, i,
                        header_bytes, out);
    if (s == ANVIL_OK) s = check_overlaps(out);
    for (size_t i = 0; i < out->n_sections && s == ANVIL_OK; i++) {
        anvil__efile_sview *sv = &out->sections[i];
        const uint8_t *e = data + ANVIL_EFILE_FIXED_BYTES + ANVIL_EFILE_ENTRY_BYTES * i;
        uint64_t stored = get_le(e + 24, 8), computed = XXH3_64bits(data + sv->offset, sv->size);
        if (stored != computed)
            s = anvil__error(ANVIL_STATUS_CHECKSUM_MISMATCH,
                             "section %s: stored checksum 0x%016llx, computed 0x%016llx",
                             anvil__section_name(sv->type), (unsigned long long)stored,
                             (unsigned long long)computed);
        sv->data = data + sv->offset;
    }
    if (s != ANVIL_OK) {
        memset(out, 0, sizeof *out);
        return s;
    }
    return ANVIL_OK;
}

const anvil__efile_sview *anvil__efile_find(const anvil__efile_view *v, uint32_t type) {
    for (size_t i = 0; v && i < v->n_sections; i++)
        if (v->sections[i].type == type) return &v->sections[i];
    return NULL;
}

/* ---- slots (reading) ---- */

static anvil_status read_slot_table(const anvil__efile_view *v, const anvil__efile_sview *table,
                                    const anvil__efile_sview *data, anvil__efile_slot *slots,
                                    size_t n) {
    anvil__reader r;
    anvil__reader_init(&r, table->data, table->size, "engine slot table");
    r.pos = 8;
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t off = anvil__read_u64(&r, "slot offset"), size = anvil__read_u64(&r, "slot size");
        if (r.status != ANVIL_OK) return r.status;
        const char *why =
            off % ANVIL_EFILE_SLOT_ALIGN                            ? "is not 64-byte aligned"
            : off < end                                             ? "overlaps the previous slot"
            : data && (off > data->size || size > data->size - off) ? "is past the end of SLOT_DATA"
            : !data && (size > ANVIL_MAX_ALLOC || off > ANVIL_MAX_ALLOC) ? "is over the size limit"
                                                                         : NULL;
        if (why)
            return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                "slot %zu: offset %llu, size %llu %s (previous slot ends at %zu, "
                                "SLOT_DATA has %zu bytes)",
                                i, (unsigned long long)off, (unsigned long long)size, why, end,
                                data ? data->size : (size_t)0);
        slots[i].data = data ? data->data + off : NULL;
        slots[i].size = (size_t)size;
        end = (size_t)(off + size);
    }
    return ANVIL_OK;
}

anvil_status anvil__efile_slots(const anvil__efile_view *v, anvil__efile_slot **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const anvil__efile_sview *table = anvil__efile_find(v, ANVIL_SECTION_SLOTS);
    const anvil__efile_sview *data = anvil__efile_find(v, ANVIL_SECTION_SLOT_DATA);
    bool stripped = (v->flags & ANVIL_EFILE_STRIPPED) != 0;
    if (!table)
        return data ? anvil__error(ANVIL_STATUS_PARSE_ERROR,
                                   "engine file has SLOT_DATA but no SLOTS table")
                    : ANVIL_OK;
    if (stripped && data)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file is marked stripped but has a SLOT_DATA section");
    uint64_t count = table->size >= 8 ? get_le(table->data, 4) : 0;
    uint32_t reserved = table->size >= 8 ? (uint32_t)get_le(table->data + 4, 4) : 0;
    if (table->size < 8 || reserved != 0 || count > (table->size - 8) / 16 ||
        table->size != 8 + 16 * count)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "slot table: slot count %llu needs %llu bytes, the SLOTS section has "
                            "%zu",
                            (unsigned long long)count, (unsigned long long)(8 + 16 * count),
                            table->size);
    if (!stripped && !data && count > 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "engine file has %llu slots but no SLOT_DATA and is not stripped",
                            (unsigned long long)count);
    if (count == 0) return ANVIL_OK;
    anvil__efile_slot *slots = anvil__calloc((size_t)count, sizeof *slots);
    if (!slots) return ANVIL_STATUS_OUT_OF_MEMORY;
    anvil_status s = read_slot_table(v, table, data, slots, (size_t)count);
    if (s != ANVIL_OK) {
        anvil__free(slots);
        return s;
    }
    *out = slots;
    *n = (size_t)count;
    return ANVIL_OK;
}
