#!/usr/bin/env python3
"""Writes the name map test files of tests/test_name_map.c (one good map, many corrupt ones)
and the seeds of tests/fuzz/corpus_name_map.

Python 3 standard library only. Run from anywhere: python3 tests/data/namemap/make_files.py.
Output is deterministic. Each corrupt file breaks one rule of the format (docs/cli.md,
include/anvil.h "Name maps"); the test checks the PARSE_ERROR message names the entry and field.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus_name_map")

W = ["conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
B = ["", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
FC = ["fc2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"]
UP = ["up.weight", "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var"]


def good_entries():
    return [
        {"onnx": "fc.weight", "kind": "identity", "sources": ["fc.weight"]},
        {"onnx": "onnx::MatMul_7", "kind": "transpose", "sources": ["proj.weight"],
         "perm": [1, 0]},
        {"onnx": "onnx::Conv_9", "kind": "conv_bn_fold_weight", "sources": W, "eps": 1e-5},
        {"onnx": "onnx::Conv_10", "kind": "conv_bn_fold_bias", "sources": B, "eps": 0.001},
        {"onnx": "onnx::Gemm_11", "kind": "conv_bn_fold_weight", "sources": FC, "eps": 1e-5,
         "perm": [1, 0]},
        {"onnx": "onnx::ConvTranspose_12", "kind": "conv_bn_fold_weight", "sources": UP,
         "eps": 1e-5, "axis": 1},
        {"onnx": "ln.weight", "kind": "identity", "sources": ["ln0.weight"]},
    ]


def doc(entries, **top):
    d = {"format": "anvil-name-map", "version": 3, "initializers": entries,
         "unmatched": ["onnx::Constant_3"],
         "tied": [["ln0.weight", "ln1.weight", "ln2.weight"], ["proj.weight", "proj2.weight"]]}
    d.update(top)
    return d


def with_entry(**changes):
    """The good map with entry 1 (the transpose) changed; a value None removes the field."""
    entries = good_entries()
    for k, v in changes.items():
        if v is None:
            entries[1].pop(k, None)
        else:
            entries[1][k] = v
    return doc(entries)


def dump(d):
    return json.dumps(d, indent=1).encode()


CORRUPT = {
    "not_json.json": b'{"format": "anvil-name-map", "version": 1, "initializers": [',
    "not_object.json": b"[1, 2, 3]\n",
    "trailing_garbage.json": dump(doc(good_entries())) + b"\n}x",
    "wrong_format.json": dump(doc(good_entries(), format="anvil-engine")),
    "wrong_version.json": dump(doc(good_entries(), version=4)),
    "version_fraction.json": dump(doc(good_entries(), version=1.5)),
    "version_string.json": dump(doc(good_entries(), version="1")),
    "missing_initializers.json": b'{"format": "anvil-name-map", "version": 1}',
    "unknown_top_field.json": dump(doc(good_entries(), model="mobilenet")),
    "entry_not_object.json": dump(doc([1])),
    "missing_onnx.json": dump(with_entry(onnx=None)),
    "onnx_not_string.json": dump(with_entry(onnx=7)),
    "missing_kind.json": dump(with_entry(kind=None)),
    "unknown_kind.json": dump(with_entry(kind="rotate")),
    "missing_sources.json": dump(with_entry(sources=None)),
    "sources_count.json": dump(with_entry(sources=["a", "b"])),
    "fold_sources_count.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight",
                                          "sources": W[:4], "eps": 1e-5}])),
    "source_not_string.json": dump(with_entry(sources=[3])),
    "source_empty.json": dump(with_entry(sources=[""])),
    "fold_weight_empty_conv.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight",
                                              "sources": B, "eps": 1e-5}])),
    "huge_sources.json": dump(with_entry(sources=["s%d" % i for i in range(1000)])),
    "perm_missing.json": dump(with_entry(perm=None)),
    "perm_not_permutation.json": dump(with_entry(perm=[0, 0])),
    "perm_out_of_range.json": dump(with_entry(perm=[0, 2])),
    "perm_not_integer.json": dump(with_entry(perm=[0.5, 1])),
    "perm_negative.json": dump(with_entry(perm=[-1, 0])),
    "perm_empty.json": dump(with_entry(perm=[])),
    "huge_perm.json": dump(with_entry(perm=list(range(100)))),
    "perm_on_identity.json": dump(doc([{"onnx": "a", "kind": "identity", "sources": ["a"],
                                       "perm": [0]}])),
    "perm_on_fold_bias.json": dump(doc([{"onnx": "b", "kind": "conv_bn_fold_bias", "sources": B,
                                        "eps": 1e-5, "perm": [1, 0]}])),
    "fold_perm_not_permutation.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight",
                                                 "sources": W, "eps": 1e-5, "perm": [0, 0]}])),
    "axis_on_identity.json": dump(doc([{"onnx": "a", "kind": "identity", "sources": ["a"],
                                        "axis": 1}])),
    "axis_out_of_range.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight",
                                         "sources": W, "eps": 1e-5, "axis": 8}])),
    "axis_not_integer.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight",
                                        "sources": W, "eps": 1e-5, "axis": 0.5}])),
    "eps_missing.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight", "sources": W}])),
    "eps_negative.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight", "sources": W,
                                   "eps": -1e-5}])),
    "eps_string.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_bias", "sources": B,
                                 "eps": "1e-5"}])),
    "eps_huge.json": dump(doc([{"onnx": "w", "kind": "conv_bn_fold_weight", "sources": W}]))
                     .replace(b'"sources"', b'"eps": 1e999, "sources"'),
    "eps_on_transpose.json": dump(with_entry(eps=1e-5)),
    "tied_not_array.json": dump(doc(good_entries(), tied="a.weight")),
    "tied_group_not_array.json": dump(doc(good_entries(), tied=[["a", "b"], "c"])),
    "tied_not_string.json": dump(doc(good_entries(), tied=[["a.weight", 5]])),
    "tied_empty_name.json": dump(doc(good_entries(), tied=[["a.weight", ""]])),
    "tied_single.json": dump(doc(good_entries(), tied=[["a.weight"]])),
    "tied_twice.json": dump(doc(good_entries(), tied=[["a.weight", "b", "a.weight"]])),
    "tied_in_entry.json": dump(with_entry(tied=["a.weight"])),
    "unknown_field.json": dump(with_entry(note="why")),
    "duplicate_field.json": dump(doc(good_entries())).replace(
        b'"kind": "transpose"', b'"kind": "transpose", "kind": "identity"'),
    "duplicate_onnx.json": dump(doc(good_entries() + [good_entries()[0]])),
    "long_name.json": dump(with_entry(onnx="x" * 5000)),
    "unmatched_duplicate.json": dump(doc(good_entries()) | {"unmatched": ["fc.weight"]}),
    "unmatched_not_string.json": dump(doc(good_entries()) | {"unmatched": [["x"]]}),
    "nul_byte.json": dump(doc(good_entries())).replace(b"fc.weight", b"fc\x00weight", 1),
}


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    write(HERE, "good.json", dump(doc(good_entries())))
    for name, data in CORRUPT.items():
        write(HERE, name, data)
    write(CORPUS, "good.json", json.dumps(doc(good_entries())).encode())
    write(CORPUS, "empty.json", b'{"format":"anvil-name-map","version":1,"initializers":[]}')
    for name in ("perm_not_permutation.json", "duplicate_onnx.json", "eps_string.json"):
        write(CORPUS, name, CORRUPT[name])


if __name__ == "__main__":
    main()
