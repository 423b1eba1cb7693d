#!/usr/bin/env python3
"""Writes the tiny safetensors / .npy test files (good and deliberately corrupt) used by
tests/test_safetensors.c and tests/test_npy.c, and the fuzz seed corpora.

Python 3 standard library only (no numpy, no safetensors package): the files are built byte by
byte from the format descriptions, so the C readers are checked against an independent writer.
Run from anywhere: python3 tests/data/gen/make_tensor_files.py. Output is deterministic.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
ROOT = os.path.dirname(DATA)
ST_DIR = os.path.join(DATA, "safetensors")
NPY_DIR = os.path.join(DATA, "npy")
CORPUS_ST = os.path.join(ROOT, "fuzz", "corpus_safetensors")
CORPUS_NPY = os.path.join(ROOT, "fuzz", "corpus_npy")


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# ---- safetensors ------------------------------------------------------------------------------

def st_image(header, data=b"", pad=True, length=None):
    """header: a dict (dumped as JSON) or raw bytes. Pads with spaces to 8 bytes like the
    reference writer; length overrides the 8-byte header length field."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def bf16_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def st_basic():
    """Good file: tensors deliberately not in name order, to check file order is kept."""
    parts = [
        ("a", "F32", [2, 3], struct.pack("<6f", *[0.5 * k - 1 for k in range(6)])),
        ("b", "I64", [], struct.pack("<q", -7)),
        ("c", "F16", [4], struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)),
        ("d", "BOOL", [3], bytes([1, 0, 1])),
        ("e", "U8", [0], b""),
        ("f", "BF16", [2], struct.pack("<2H", bf16_bits(1.0), bf16_bits(-3.5))),
        ("g", "U16", [2], struct.pack("<2H", 1, 65535)),
    ]
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, raw in reversed(parts):
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return st_image(header, data)


def one(entry, data=b"\0" * 16, name="w"):
    return st_image({name: entry}, data)


F32_4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}


def with_field(**kw):
    e = dict(F32_4)
    for k, v in kw.items():
        if v is None:
            e.pop(k)
        else:
            e[k] = v
    return e


ST_CORRUPT = {
    "short": b"\x10\0\0\0\0",
    "truncated_header": st_image(b'{"w": {"dtype": "F32"', pad=False, length=100),
    "huge_header_len": st_image(b"{}", pad=False, length=1 << 40),
    "not_json": st_image(b'{"w": {"dtype": F32}}'),
    "not_object": st_image(b"[1, 2]"),
    "trailing_garbage": st_image(b"{}x"),
    "entry_not_object": one(5),
    "missing_dtype": one(with_field(dtype=None)),
    "missing_shape": one(with_field(shape=None)),
    "missing_offsets": one(with_field(data_offsets=None)),
    "dtype_not_string": one(with_field(dtype=1)),
    "shape_not_array": one(with_field(shape="4")),
    "dim_not_integer": one(with_field(shape=[2, 1.5])),
    "offsets_not_pair": one(with_field(data_offsets=[0, 8, 16])),
    "metadata_not_strings": st_image({"__metadata__": {"a": 1}}),
    "offsets_past_end": one(F32_4, data=b"\0" * 8),
    "end_before_begin": one(with_field(data_offsets=[16, 0])),
    "size_mismatch": one(with_field(shape=[3])),
    "overlap": st_image({"a": F32_4, "b": with_field(data_offsets=[8, 24])}, b"\0" * 24),
    "duplicate_name": st_image(b'{"w": ' + json.dumps(F32_4).encode() + b', "w": '
                               + json.dumps(F32_4).encode() + b"}", b"\0" * 16),
    "unknown_dtype": one(with_field(dtype="F8_E4M3")),
    "rank_too_large": one(with_field(shape=[1] * 9, data_offsets=[0, 4])),
    "dims_overflow": one(with_field(shape=[1 << 32, 1 << 32, 16])),
    "negative_dim": one(with_field(shape=[-2, 2])),
    "huge_dim": one(with_field(shape=[1e300])),
    "bad_bool": one({"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}, bytes([1, 2])),
}


# ---- npy --------------------------------------------------------------------------------------

def npy_dict(descr, shape, fortran=False):
    """The dict literal exactly as numpy writes it."""
    if len(shape) == 1:
        tup = "(%d,)" % shape[0]
    else:
        tup = "(" + ", ".join(str(d) for d in shape) + ")"
    return "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, tup)


def npy_image(header, data=b"", version=(1, 0), length=None):
    """Pads the header with spaces and a newline so the data starts on 64 bytes."""
    text = header.encode() if isinstance(header, str) else header
    prefix = 10 if version[0] == 1 else 12
    text += b" " * (-(prefix + len(text) + 1) % 64) + b"\n"
    n = len(text) if length is None else length
    size = struct.pack("<H" if prefix == 10 else "<I", n)
    return b"\x93NUMPY" + bytes(version) + size + text + data


# (file, descr, struct code, values): 5 values each, the type's extremes included.
NPY_TYPES = [
    ("i1", "|i1", "b", [-128, -1, 0, 1, 127]),
    ("u1", "|u1", "B", [0, 1, 2, 254, 255]),
    ("i2", "<i2", "h", [-32768, -1, 0, 1, 32767]),
    ("u2", "<u2", "H", [0, 1, 2, 65534, 65535]),
    ("i4", "<i4", "i", [-2**31, -1, 0, 1, 2**31 - 1]),
    ("u4", "<u4", "I", [0, 1, 2, 2**32 - 2, 2**32 - 1]),
    ("i8", "<i8", "q", [-2**63, -1, 0, 1, 2**63 - 1]),
    ("u8", "<u8", "Q", [0, 1, 2, 2**64 - 2, 2**64 - 1]),
    ("b1", "|b1", "?", [True, False, True, True, False]),
    ("f2", "<f2", "e", [1.0, -2.0, 0.5, 65504.0, 0.0]),
    ("f8", "<f8", "d", [1.0, -2.5, 1e300, -1e-300, 0.0]),
    ("u1_big_endian", ">u1", "B", [0, 1, 2, 254, 255]),
]

F4_2X3 = struct.pack("<6f", *[0.5 * k - 1 for k in range(6)])


def npy_good():
    files = {"f4_2x3": npy_image(npy_dict("<f4", [2, 3]), F4_2X3)}
    for name, descr, code, values in NPY_TYPES:
        files[name] = npy_image(npy_dict(descr, [5]), struct.pack("<5" + code, *values))
    files["f8_scalar"] = npy_image(npy_dict("<f8", []), struct.pack("<d", 3.25))
    files["f4_empty_0x3"] = npy_image(npy_dict("<f4", [0, 3]))
    files["v2"] = npy_image(npy_dict("<f4", [2, 3]), F4_2X3, version=(2, 0))
    files["v3"] = npy_image(npy_dict("<f4", [2, 3]), F4_2X3, version=(3, 0))
    files["keys_reordered"] = npy_image(
        '{"shape": (2,3), "fortran_order": False, "descr": "<f4"}', F4_2X3)
    return files


def f4_bad_dict(text, data=F4_2X3):
    return npy_image(text, data)


NPY_CORRUPT = {
    "bad_magic": b"\x93NUMPZ" + npy_image(npy_dict("<f4", [2, 3]), F4_2X3)[6:],
    "short": b"\x93NUMPY\x01\x00",
    "bad_version": npy_image(npy_dict("<f4", [2, 3]), F4_2X3, version=(4, 0)),
    "header_past_end": npy_image(npy_dict("<f4", [2, 3]), length=4000),
    "truncated_data": npy_image(npy_dict("<f4", [2, 3]), F4_2X3[:20]),
    "trailing_data": npy_image(npy_dict("<f4", [2, 3]), F4_2X3 + b"\0" * 4),
    "descr_complex": npy_image(npy_dict("<c8", [2]), b"\0" * 16),
    "descr_bfloat16": npy_image(npy_dict("<V2", [2]), b"\0" * 4),
    "descr_object": npy_image(npy_dict("|O", [1]), b"\0" * 8),
    "big_endian": npy_image(npy_dict(">f4", [2, 3]), F4_2X3),
    "structured": f4_bad_dict(
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }"),
    "fortran_order": npy_image(npy_dict("<f4", [2, 3], fortran=True), F4_2X3),
    "missing_key": f4_bad_dict("{'descr': '<f4', 'fortran_order': False, }"),
    "unknown_key": f4_bad_dict(npy_dict("<f4", [2, 3])[:-1] + "'foo': 1, }"),
    "duplicate_key": f4_bad_dict(npy_dict("<f4", [2, 3])[:-1] + "'descr': '<f4', }"),
    "shape_not_tuple": f4_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (6), }"),
    "unclosed_dict": f4_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"),
    "not_a_dict": f4_bad_dict("['descr', '<f4']"),
    "garbage_after_dict": f4_bad_dict(npy_dict("<f4", [2, 3]) + " x"),
    "fortran_not_bool": f4_bad_dict("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }"),
    "negative_dim": f4_bad_dict(npy_dict("<f4", [2, 3]).replace("(2, 3)", "(-2, 3)")),
    "rank_too_large": npy_image(npy_dict("<f4", [1] * 9), b"\0" * 4),
    "dim_too_large": npy_image(npy_dict("<f4", [99999999999999999999])),
    "dims_overflow": npy_image(npy_dict("<f4", [1 << 32, 1 << 32, 4])),
    "bad_bool": npy_image(npy_dict("|b1", [2]), bytes([1, 2])),
}


def main():
    write(ST_DIR, "basic.safetensors", st_basic())
    for name, image in ST_CORRUPT.items():
        write(ST_DIR, name + ".safetensors", image)
    good = npy_good()
    for name, image in good.items():
        write(NPY_DIR, name + ".npy", image)
    for name, image in NPY_CORRUPT.items():
        write(NPY_DIR, name + ".npy", image)

    write(CORPUS_ST, "basic", st_basic())
    for name in ["overlap", "offsets_past_end", "unknown_dtype", "rank_too_large",
                 "metadata_not_strings", "duplicate_name", "bad_bool"]:
        write(CORPUS_ST, name, ST_CORRUPT[name])
    for name in ["f4_2x3", "f8_scalar", "v2", "keys_reordered", "b1"]:
        write(CORPUS_NPY, name, good[name])
    for name in ["structured", "truncated_data", "negative_dim", "shape_not_tuple"]:
        write(CORPUS_NPY, name, NPY_CORRUPT[name])


if __name__ == "__main__":
    main()
