#!/bin/sh
# The demo `make demo` runs: generate a small CNN, inspect it, run it through the reference
# interpreter, compile it into an engine (dynamic batch 1..8), save it, load it, run it, and
# compare the two outputs; then the refit story: a fine-tuned checkpoint (safetensors, only the
# head changed) goes into the saved engine without compiling — only what changed is repacked,
# verified on a sample input — and the refitted engine is loaded and run again. Each step
# prints what it did and how long it took.
set -e
ANVIL=${1:-build/anvil}
BUILD=$(dirname "$ANVIL")
OUT=$BUILD/demo
mkdir -p "$OUT"
step() { echo; echo "== $*"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

step "1. generate a small CNN (batch dim symbolic) and an input image"
"$BUILD/make_demo_model" "$OUT"

step "2. anvil inspect $OUT/demo_cnn.onnx"
"$ANVIL" inspect "$OUT/demo_cnn.onnx"

step "3. run the model with the reference interpreter"
t=$(date +%s%N)
"$ANVIL" run "$OUT/demo_cnn.onnx" --reference -i image="$OUT/image.npy" -o "$OUT/reference"
echo "   ($(ms_since "$t") ms, process included)"

step "4. compile an engine for batch 1..8 (tuned for 4) and save it"
"$ANVIL" compile "$OUT/demo_cnn.onnx" -o "$OUT/demo_cnn.anvil" \
    --profile image:1x3x32x32,4x3x32x32,8x3x32x32

step "5. inspect the engine: layers, tactics, fused ops, memory"
"$ANVIL" inspect "$OUT/demo_cnn.anvil"

step "6. load the engine and run it"
t=$(date +%s%N)
"$ANVIL" run "$OUT/demo_cnn.anvil" -i image="$OUT/image.npy" -o "$OUT/engine"
echo "   ($(ms_since "$t") ms, process included)"

step "7. compare engine and interpreter outputs"
"$BUILD/npy_compare" "$OUT/reference/probabilities.npy" "$OUT/engine/probabilities.npy" 1e-5

step "8. benchmark the engine"
"$ANVIL" bench "$OUT/demo_cnn.anvil" --runs 50

step "9. refit the engine with a fine-tuned checkpoint (only the head changed; no compile)"
"$ANVIL" refit "$OUT/demo_cnn.anvil" "$OUT/finetuned.safetensors" -o "$OUT/demo_cnn.ft.anvil" \
    --verify image="$OUT/image.npy"

step "10. load the refitted engine, run it, and compare with the interpreter on the fine-tuned model"
t=$(date +%s%N)
"$ANVIL" run "$OUT/demo_cnn.ft.anvil" -i image="$OUT/image.npy" -o "$OUT/finetuned"
echo "   ($(ms_since "$t") ms, process included)"
"$ANVIL" run "$OUT/demo_cnn.finetuned.onnx" --reference -i image="$OUT/image.npy" \
    -o "$OUT/finetuned_reference" >/dev/null
"$BUILD/npy_compare" "$OUT/finetuned_reference/probabilities.npy" \
    "$OUT/finetuned/probabilities.npy" 1e-5

step "11. refit back to the original weights, from the ONNX model, in place"
"$ANVIL" refit "$OUT/demo_cnn.ft.anvil" "$OUT/demo_cnn.onnx" --in-place
"$ANVIL" run "$OUT/demo_cnn.ft.anvil" -i image="$OUT/image.npy" -o "$OUT/back" >/dev/null
echo "   back to the original weights (a refit is exact: bit-identical to the compiled engine):"
"$BUILD/npy_compare" "$OUT/engine/probabilities.npy" "$OUT/back/probabilities.npy" 0

echo
echo "Outputs are in $OUT/ as .npy files (numpy.load reads them)."
