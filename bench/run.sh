#!/bin/sh
# bench/run.sh BUILD_DIR — what `make bench` runs after building: installs ONNX Runtime for node
# into bench/node_modules when missing (npm, the version bench/package.json pins), then runs
# bench/driver.js on every ../shared/models/*/v1.onnx with BUILD_DIR/bench/bench_engine (the
# latency table) and BUILD_DIR/bench/bench_refit (the refit table).
# Settings: ANVIL_SHARED (default ../shared), and the BENCH_* variables driver.js lists.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SHARED=${ANVIL_SHARED:-$ROOT/../shared}
ENGINE=$BUILD/bench/bench_engine
REFIT=$BUILD/bench/bench_refit

for tool in node npm; do
  command -v $tool >/dev/null 2>&1 || { echo "bench: '$tool' is needed (apt-get install nodejs npm)" >&2; exit 1; }
done
for exe in "$ENGINE" "$REFIT"; do
  [ -x "$exe" ] || { echo "bench: $exe is missing; run 'make bench' (it builds first)" >&2; exit 1; }
done

cd "$ROOT/bench"
if [ ! -f node_modules/onnxruntime-node/package.json ]; then
  VERSION=$(node -p "require('./package.json').dependencies['onnxruntime-node']")
  echo "bench: installing onnxruntime-node $VERSION into bench/node_modules" >&2
  # The CPU binaries ship in the npm package; ONNXRUNTIME_NODE_INSTALL=skip stops its install
  # script from fetching the optional CUDA files from outside the npm registry.
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
    "onnxruntime-node@$VERSION" >&2
fi

set -- "$SHARED"/models/*/v1.onnx
[ -f "$1" ] || { echo "bench: no models in $SHARED/models/*/v1.onnx" >&2; exit 1; }
exec node driver.js --engine "$ENGINE" --refit "$REFIT" "$@"
