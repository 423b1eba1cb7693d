#!/usr/bin/env python3
"""Writes the small ONNX models of tests/data/onnx/ (good ones and one per failure mode) and a
few fuzz seeds, encoding the protobuf wire format by hand (python3 stdlib only: no onnx
package here). Run from the repository root:  python3 tests/data/gen/make_onnx_files.py
Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ...)."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "onnx")
FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fuzz",
                    "corpus_onnx")

# TensorProto.DataType
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64, STRING, BOOL, FLOAT16, DOUBLE, UINT32, \
    UINT64 = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13
BFLOAT16 = 16
# AttributeProto.AttributeType
A_FLOAT, A_INT, A_STRING, A_TENSOR, A_GRAPH, A_FLOATS, A_INTS, A_STRINGS = 1, 2, 3, 4, 5, 6, 7, 8


# ---- wire format ----
def varint(n):
    n &= (1 << 64) - 1  # negative int64 → two's complement, 10 bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def f_int(field, v):
    return tag(field, 0) + varint(v)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return tag(field, 2) + varint(len(b)) + b


def f_float(field, x):
    return tag(field, 5) + struct.pack("<f", x)


def packed(field, fmt, values):
    if fmt == "varint":
        body = b"".join(varint(v) for v in values)
    else:
        body = b"".join(struct.pack(fmt, v) for v in values)
    return f_bytes(field, body)


# ---- messages ----
def tensor(name, dtype, dims, raw=None, floats=None, int32s=None, int64s=None, doubles=None,
           uint64s=None, external=None, pad=b""):
    m = b"".join(f_int(1, d) for d in dims) + f_int(2, dtype) + f_bytes(8, name)
    if pad:
        m += f_bytes(12, pad)  # doc_string, used to place raw_data at a chosen offset
    if floats is not None:
        m += packed(4, "<f", floats)
    if int32s is not None:
        m += packed(5, "varint", int32s)
    if int64s is not None:
        m += packed(7, "varint", int64s)
    if doubles is not None:
        m += packed(10, "<d", doubles)
    if uint64s is not None:
        m += packed(11, "varint", uint64s)
    if raw is not None:
        m += f_bytes(9, raw)
    if external is not None:
        for k, v in external:
            m += f_bytes(13, f_bytes(1, k) + f_bytes(2, v))
        m += f_int(14, 1)
    return m


def type_tensor(elem, dims):
    shape = b""
    for d in dims or ():
        if d is None:
            shape += f_bytes(1, b"")
        elif isinstance(d, str):
            shape += f_bytes(1, f_bytes(2, d))
        else:
            shape += f_bytes(1, f_int(1, d))
    t = f_int(1, elem)
    if dims is not None:
        t += f_bytes(2, shape)
    return f_bytes(1, t)  # TypeProto.tensor_type


def value_info(name, elem=FLOAT, dims=(), type_proto=None):
    tp = type_proto if type_proto is not None else type_tensor(elem, dims)
    return f_bytes(1, name) + f_bytes(2, tp)


def attr(name, kind=None, f=None, i=None, s=None, t=None, g=None, floats=None, ints=None,
         strings=None):
    m = f_bytes(1, name)
    if kind is not None:
        m += f_int(20, kind)
    if f is not None:
        m += f_float(2, f)
    if i is not None:
        m += f_int(3, i)
    if s is not None:
        m += f_bytes(4, s)
    if t is not None:
        m += f_bytes(5, t)
    if g is not None:
        m += f_bytes(6, g)
    if floats is not None:
        m += packed(7, "<f", floats)
    if ints is not None:
        m += packed(8, "varint", ints)
    if strings is not None:
        m += b"".join(f_bytes(9, x) for x in strings)
    return m


def node(op, inputs, outputs, name="", attrs=(), domain=None):
    m = b"".join(f_bytes(1, x) for x in inputs) + b"".join(f_bytes(2, x) for x in outputs)
    if name:
        m += f_bytes(3, name)
    m += f_bytes(4, op)
    m += b"".join(f_bytes(5, a) for a in attrs)
    if domain is not None:
        m += f_bytes(7, domain)
    return m


def graph(name, nodes=(), inits=(), inputs=(), outputs=(), value_infos=()):
    m = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, name)
    m += b"".join(f_bytes(5, t) for t in inits)
    m += b"".join(f_bytes(11, v) for v in inputs)
    m += b"".join(f_bytes(12, v) for v in outputs)
    m += b"".join(f_bytes(13, v) for v in value_infos)
    return m


def model(g, opset=14, ir=8, domains=()):
    m = f_int(1, ir) + f_bytes(2, "anvil-gen") + f_bytes(3, "1")
    if opset is not None:
        m += f_bytes(8, f_bytes(1, "") + f_int(2, opset))
    for d, v in domains:
        m += f_bytes(8, f_bytes(1, d) + f_int(2, v))
    return m + f_bytes(7, g)


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


# ---- the models ----
def add_model(pad_w, pad_b):
    """y = (x + w) * b with x: f32[N,3]; w and b raw initializers."""
    w = tensor("w", FLOAT, [3], raw=f32(1.0, 2.0, 3.0), pad=pad_w)
    b = tensor("b", FLOAT, [3], raw=f32(0.5, 0.25, 2.0), pad=pad_b)
    g = graph("add_mul",
              nodes=[node("Add", ["x", "w"], ["t"], "add0"),
                     node("Mul", ["t", "b"], ["y"], "mul0")],
              inits=[w, b],
              inputs=[value_info("x", FLOAT, ["N", 3])],
              outputs=[value_info("y", FLOAT, ["N", 3])])
    return model(g)


def make_add():
    """Pads doc_strings so that w's raw_data is 4-byte aligned in the file and b's is not."""
    w_raw, b_raw = f32(1.0, 2.0, 3.0), f32(0.5, 0.25, 2.0)
    for pw in range(8):
        for pb in range(8):
            m = add_model(b"p" * pw, b"q" * pb)
            ow, ob = m.find(w_raw), m.find(b_raw)
            if ow % 8 == 0 and ob % 4 == 2:
                return m
    raise SystemExit("no padding gives the wanted alignment")


def make_typed():
    """Initializers in every typed field, Constant nodes and every attribute kind."""
    inits = [
        tensor("f32", FLOAT, [2], floats=[1.5, -2.0]),
        tensor("f64", DOUBLE, [2], doubles=[0.125, -1e300]),
        tensor("i64", INT64, [3], int64s=[-1, 2 ** 40, -(2 ** 62)]),
        tensor("i32", INT32, [2], int32s=[-7, 2 ** 31 - 1]),
        tensor("i16", INT16, [2], int32s=[-300, 300]),
        tensor("u16", UINT16, [2], int32s=[65535, 1]),
        tensor("i8", INT8, [2], int32s=[-128, 127]),
        tensor("u8", UINT8, [2], int32s=[255, 0]),
        tensor("b", BOOL, [3], int32s=[1, 0, 1]),
        tensor("h", FLOAT16, [2], int32s=[0x3C00, 0xC000]),     # 1.0, -2.0
        tensor("bf", BFLOAT16, [2], int32s=[0x3F80, 0x4040]),   # 1.0, 3.0
        tensor("u32", UINT32, [2], uint64s=[4294967295, 7]),
        tensor("u64", UINT64, [1], uint64s=[2 ** 64 - 1]),
        tensor("scalar", FLOAT, [], floats=[42.0]),
        tensor("empty", FLOAT, [0, 3]),
        tensor("unused_string", STRING, [1]),                    # never read: ignored
    ]
    attrs = [
        attr("a_f", A_FLOAT, f=0.5), attr("a_i", A_INT, i=-3), attr("a_s", A_STRING, s="hi"),
        attr("a_t", A_TENSOR, t=tensor("t", INT64, [2], int64s=[4, 5])),
        attr("a_fs", A_FLOATS, floats=[1.0, 2.0]), attr("a_is", A_INTS, ints=[1, -1]),
        attr("a_ss", A_STRINGS, strings=["x", "yz"]),
        # Old exporters leave `type` unset: the kind comes from the field that is set.
        attr("old_i", i=9), attr("old_fs", floats=[3.0]), attr("old_s", s="abc"),
    ]
    nodes = [
        node("Identity", ["f32"], ["id_out"], "ident", attrs),
        node("Constant", [], ["c_floats"], "c1", [attr("value_floats", A_FLOATS,
                                                       floats=[1.0, 2.0, 3.0])]),
        node("Constant", [], ["c_tensor"], "c2", [attr("value", A_TENSOR,
                                                       t=tensor("", INT32, [2],
                                                                raw=struct.pack("<2i", 3, -4)))]),
    ]
    outs = [value_info("id_out", FLOAT, [2]), value_info("c_floats", FLOAT, None),
            value_info("c_tensor", INT32, [2])]
    outs += [value_info(n, FLOAT, None) for n in ("f64", "i64", "i32", "i16", "u16", "i8", "u8",
                                                  "b", "h", "bf", "u32", "u64", "scalar",
                                                  "empty")]  # types come from the initializers
    g = graph("typed", nodes=nodes, inits=inits, outputs=outs)
    return model(g, opset=13)


def make_if():
    """If with outer references; the node the then-branch reads comes after If in the file."""
    then_g = graph("then", nodes=[node("Add", ["xn", "k"], ["t_out"], "then_add")],
                   outputs=[value_info("t_out", FLOAT, [2])])
    else_g = graph("else", nodes=[node("Mul", ["x", "two"], ["e_out"], "else_mul")],
                   inits=[tensor("two", FLOAT, [2], floats=[2.0, 2.0])],
                   outputs=[value_info("e_out", FLOAT, [2])])
    g = graph("main",
              nodes=[node("If", ["cond"], ["y"], "if0",
                          [attr("then_branch", A_GRAPH, g=then_g),
                           attr("else_branch", A_GRAPH, g=else_g)]),
                     node("Neg", ["x"], ["xn"], "neg0")],
              inits=[tensor("k", FLOAT, [2], raw=f32(10.0, 20.0))],
              inputs=[value_info("cond", BOOL, []), value_info("x", FLOAT, [2])],
              outputs=[value_info("y", FLOAT, [2])])
    return model(g, opset=16)


def ext_model(location, offset=8, length=16, name="w"):
    info = [("location", location), ("offset", str(offset)), ("length", str(length))]
    w = tensor(name, FLOAT, [4], external=info)
    v = tensor("v", FLOAT, [2], external=[("location", "external.bin"), ("offset", "24"),
                                          ("length", "8")])
    g = graph("ext", nodes=[node("Add", ["x", name], ["y"], "add0"),
                            node("Identity", ["v"], ["z"], "id0")],
              inits=[w, v], inputs=[value_info("x", FLOAT, [4])],
              outputs=[value_info("y", FLOAT, [4]), value_info("z", FLOAT, [2])])
    return model(g)


def make_ir3():
    """IR 3 lists initializers among the graph inputs too."""
    g = graph("ir3", nodes=[node("Add", ["x", "w"], ["y"], "add0")],
              inits=[tensor("w", FLOAT, [2], floats=[1.0, 2.0])],
              inputs=[value_info("x", FLOAT, [2]), value_info("w", FLOAT, [2])],
              outputs=[value_info("y", FLOAT, [2])])
    return model(g, opset=8, ir=3)


def make_unsorted():
    """Nodes in reverse order: the importer sorts them."""
    g = graph("unsorted",
              nodes=[node("Relu", ["b"], ["y"], "n3"), node("Neg", ["a"], ["b"], "n2"),
                     node("Abs", ["x"], ["a"], "n1")],
              inputs=[value_info("x", FLOAT, [2])], outputs=[value_info("y", FLOAT, [2])])
    return model(g)


def simple(nodes, inits=(), inputs=None, outputs=None, opset=14, name="g", **kw):
    inputs = inputs if inputs is not None else [value_info("x", FLOAT, [2])]
    outputs = outputs if outputs is not None else [value_info("y", FLOAT, [2])]
    return model(graph(name, nodes=nodes, inits=inits, inputs=inputs, outputs=outputs), opset,
                 **kw)


def with_init(t):
    return simple([node("Add", ["x", "w"], ["y"], "add0")], inits=[t])


def make_deep():
    """A graph input whose type nests sequence(sequence(...)) 60 times: 120 message levels."""
    tp = type_tensor(FLOAT, [2])
    for _ in range(60):
        tp = f_bytes(4, f_bytes(1, tp))  # TypeProto.sequence_type.elem_type
    return simple([node("Identity", ["x"], ["y"], "id0")],
                  inputs=[value_info("x", type_proto=tp)])


def files():
    add = make_add()
    out = {
        "add.onnx": add,
        "typed.onnx": make_typed(),
        "if.onnx": make_if(),
        "external.onnx": ext_model("external.bin"),
        "ir3.onnx": make_ir3(),
        "unsorted.onnx": make_unsorted(),
        "opset28.onnx": simple([node("Relu", ["x"], ["y"], "relu0")], opset=28),
        "bad_truncated.onnx": add[: len(add) * 2 // 3],
        "bad_garbage.onnx": b"this is not an ONNX model \xff\xfe\x00\x01",
        "bad_negative_dim.onnx": with_init(tensor("w", FLOAT, [2, -3], floats=[])),
        "bad_dims_overflow.onnx": with_init(tensor("w", FLOAT, [2 ** 40, 2 ** 40, 2 ** 40])),
        "bad_rank.onnx": with_init(tensor("w", FLOAT, [1] * 9, floats=[1.0])),
        "bad_rank_input.onnx": simple([node("Relu", ["x"], ["y"], "relu0")],
                                      inputs=[value_info("x", FLOAT, [1] * 9)]),
        "bad_raw_size.onnx": with_init(tensor("w", FLOAT, [2, 3], raw=b"\0" * 20)),
        "bad_typed_count.onnx": with_init(tensor("w", FLOAT, [2, 3], floats=[1.0] * 5)),
        "bad_ext_missing.onnx": ext_model("missing.bin"),
        "bad_ext_escape.onnx": ext_model("../external.bin"),
        "bad_ext_absolute.onnx": ext_model("/etc/passwd"),
        "bad_ext_offset.onnx": ext_model("external.bin", offset=1000),
        "bad_ext_length.onnx": ext_model("external.bin", length=12),
        "bad_cycle.onnx": simple([node("Add", ["x", "c"], ["a"], "loop_add"),
                                  node("Relu", ["a"], ["c"], "loop_relu"),
                                  node("Neg", ["a"], ["y"], "out_neg")]),
        "bad_unknown_op.onnx": simple([node("Foo", ["x"], ["a"], "a"),
                                       node("Foo", ["a"], ["b"], "b"),
                                       node("Bar", ["b"], ["c"], "c"),
                                       node("Baz", ["c"], ["y"], "d", domain="com.example")],
                                      domains=[("com.example", 1)]),
        "bad_missing_attr.onnx": simple([node("Cast", ["x"], ["y"], "cast0")]),
        "bad_undefined.onnx": simple([node("Add", ["x", "nowhere"], ["y"], "add0")]),
        "bad_defined_twice.onnx": simple([node("Relu", ["x"], ["t"], "first"),
                                          node("Neg", ["x"], ["t"], "second"),
                                          node("Abs", ["t"], ["y"], "abs0")]),
        "bad_opset.onnx": simple([node("Relu", ["x"], ["y"], "relu0")], opset=99),
        "bad_dtype.onnx": simple([node("Identity", ["x"], ["y"], "id0")],
                                 inputs=[value_info("x", STRING, [2])],
                                 outputs=[value_info("y", STRING, [2])]),
        "bad_deep.onnx": make_deep(),
        "bad_no_graph.onnx": f_int(1, 8) + f_bytes(8, f_bytes(1, "") + f_int(2, 14)),
    }
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    data = files()
    for name, blob in sorted(data.items()):
        assert len(blob) < 2048, (name, len(blob))
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
    # external.bin: f32 0..7; w reads 4 floats at offset 8 (2,3,4,5), v 2 floats at 24 (6,7).
    with open(os.path.join(OUT, "external.bin"), "wb") as f:
        f.write(f32(*[float(i) for i in range(8)]))
    if "--fuzz" in sys.argv:
        os.makedirs(FUZZ, exist_ok=True)
        for name in ("add.onnx", "typed.onnx", "if.onnx", "ir3.onnx", "unsorted.onnx",
                     "bad_cycle.onnx", "bad_unknown_op.onnx", "bad_defined_twice.onnx",
                     "bad_negative_dim.onnx", "bad_deep.onnx"):
            with open(os.path.join(FUZZ, name), "wb") as f:
                f.write(data[name])
    print("wrote %d files to %s" % (len(data) + 1, os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
