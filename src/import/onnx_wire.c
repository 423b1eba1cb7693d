/*
 * onnx_wire.c — the little of the protobuf wire format the importer reads itself: a checker
 * that bounds nesting depth before protobuf-c recurses (hostile files could nest If graphs or
 * TypeProtos deep enough to overflow the stack), and a splitter that keeps weight bytes out of
 * protobuf-c, which would copy them. Decoding proper is protobuf-c's job.
 */
#include "import/onnx_internal.h"

#include <string.h>

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

typedef struct wire_field {
    uint32_t number;
    int type;
    size_t start;   /* offset of the tag */
    size_t payload; /* offset of the payload (after the length prefix for WIRE_LEN) */
    size_t len;     /* payload length for WIRE_LEN */
    size_t end;     /* offset just past the field */
} wire_field;

static bool read_varint(const uint8_t *p, size_t size, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= size) return false;
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false; /* more than 10 bytes */
}

/* Reads the field at *pos. Returns 1 with *f filled, 0 at the end, -1 when malformed (then
 * *pos is the offset of the bad field). */
static int next_field(const uint8_t *p, size_t size, size_t *pos, wire_field *f) {
    if (*pos >= size) return 0;
    size_t start = *pos, q = *pos;
    uint64_t tag, v;
    if (!read_varint(p, size, &q, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
        *pos = start;
        return -1;
    }
    f->number = (uint32_t)(tag >> 3);
    f->type = (int)(tag & 7);
    f->start = start;
    f->len = 0;
    switch (f->type) {
    case WIRE_VARINT:
        if (!read_varint(p, size, &q, &v)) goto bad;
        f->payload = start;
        break;
    case WIRE_I64:
    case WIRE_I32: {
        size_t n = f->type == WIRE_I64 ? 8 : 4;
        if (size - q < n) goto bad;
        f->payload = q;
        q += n;
        break;
    }
    case WIRE_LEN:
        if (!read_varint(p, size, &q, &v) || v > size - q) goto bad;
        f->payload = q;
        f->len = (size_t)v;
        q += (size_t)v;
        break;
    default: /* groups (3, 4) are not used by ONNX and protobuf-c rejects them */
        goto bad;
    }
    f->end = q;
    *pos = q;
    return 1;
bad:
    *pos = start;
    return -1;
}

static anvil_status check_message(const uint8_t *base, const uint8_t *p, size_t size,
                                  const ProtobufCMessageDescriptor *desc, int depth) {
    if (depth > ANVIL_ONNX_MAX_DEPTH)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "malformed ONNX file: messages nested deeper than %d levels at "
                            "byte %zu",
                            ANVIL_ONNX_MAX_DEPTH, (size_t)(p - base));
    size_t pos = 0;
    wire_field f;
    int r;
    while ((r = next_field(p, size, &pos, &f)) > 0) {
        if (f.type != WIRE_LEN) continue;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(desc, f.number);
        if (!fd || fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        anvil_status s = check_message(base, p + f.payload, f.len,
                                       (const ProtobufCMessageDescriptor *)fd->descriptor,
                                       depth + 1);
        if (s != ANVIL_OK) return s;
    }
    if (r < 0)
        return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                            "malformed ONNX file: bad or truncated protobuf field at byte %zu "
                            "of %zu (in a %s)",
                            (size_t)(p - base) + pos, (size_t)(p - base) + size,
                            desc->short_name);
    return ANVIL_OK;
}

anvil_status anvil__onnx_wire_check(const uint8_t *data, size_t size,
                                    const ProtobufCMessageDescriptor *desc) {
    return check_message(data, data, size, desc, 1);
}

anvil_status anvil__onnx_wire_split(const anvil__onnx_span *in, size_t n_in, uint32_t field,
                                    uint8_t **rest, size_t *rest_size, anvil__onnx_span **taken,
                                    size_t *n_taken) {
    *rest = NULL;
    *taken = NULL;
    *rest_size = *n_taken = 0;
    size_t total = 0, count = 0;
    for (size_t i = 0; i < n_in; i++) {
        total += in[i].size; /* spans lie inside one buffer: no overflow */
        size_t pos = 0;
        wire_field f;
        while (next_field(in[i].data, in[i].size, &pos, &f) > 0)
            if (f.number == field && f.type == WIRE_LEN) count++;
    }
    uint8_t *out = anvil__malloc(total ? total : 1);
    anvil__onnx_span *spans = anvil__malloc_array(count ? count : 1, sizeof *spans);
    if (!out || !spans) {
        anvil__free(out);
        anvil__free(spans);
        return ANVIL_STATUS_OUT_OF_MEMORY;
    }
    size_t used = 0, k = 0;
    for (size_t i = 0; i < n_in; i++) {
        size_t pos = 0;
        wire_field f;
        while (next_field(in[i].data, in[i].size, &pos, &f) > 0) {
            if (f.number == field && f.type == WIRE_LEN) {
                spans[k].data = in[i].data + f.payload;
                spans[k++].size = f.len;
            } else {
                memcpy(out + used, in[i].data + f.start, f.end - f.start);
                used += f.end - f.start;
            }
        }
    }
    *rest = out;
    *rest_size = used;
    *taken = spans;
    *n_taken = k;
    return ANVIL_OK;
}

static void *pc_alloc(void *data, size_t size) {
    anvil__onnx_alloc *a = data;
    void *p = anvil__malloc(size);
    if (!p) a->failed = true;
    return p;
}

static void pc_free(void *data, void *p) {
    (void)data;
    anvil__free(p);
}

void anvil__onnx_alloc_init(anvil__onnx_alloc *a) {
    a->pc.alloc = pc_alloc;
    a->pc.free = pc_free;
    a->pc.allocator_data = a;
    a->failed = false;
}

anvil_status anvil__onnx_unpack_error(const anvil__onnx_alloc *a, const char *what) {
    if (a->failed)
        return anvil__error(ANVIL_STATUS_OUT_OF_MEMORY, "out of memory while decoding the %s",
                            what);
    return anvil__error(ANVIL_STATUS_PARSE_ERROR,
                        "malformed ONNX file: the %s is not a valid protobuf message "
                        "(wrong wire type for a field, or a bad enum/varint)",
                        what);
}
