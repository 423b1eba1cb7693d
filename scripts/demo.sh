#!/bin/sh
# The demo `make demo` runs: generate a small CNN, inspect it, run it on an input, show outputs.
set -e
ANVIL=${1:-build/anvil}
BUILD=$(dirname "$ANVIL")
OUT=$BUILD/demo
mkdir -p "$OUT"
echo "== 1. generate a small CNN and an input image"
"$BUILD/make_demo_model" "$OUT"
echo
echo "== 2. anvil inspect $OUT/demo_cnn.onnx"
"$ANVIL" inspect "$OUT/demo_cnn.onnx"
echo
echo "== 3. anvil run (reference interpreter)"
"$ANVIL" run "$OUT/demo_cnn.onnx" -i image="$OUT/image.npy" -o "$OUT/outputs"
echo
echo "Outputs are in $OUT/outputs/ as .npy files (numpy.load reads them)."
