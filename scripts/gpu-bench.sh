#!/usr/bin/env bash
# CPU vs CUDA training throughput of the trainer (BENCHMARKS.md, "Training"). The GPU machine
# has no Rust, so this runs in two halves:
#   bash scripts/gpu-bench.sh build   # here: release trainer with `--features cuda`, stripped and
#                                     # gzipped into target/gpu/ (~15 MB, fits a carry)
#   bash scripts/gpu-bench.sh run     # on the GPU machine, with target/gpu carried: prints the
#                                     # JSON of `bench-train` on cpu and on cuda, then trains the
#                                     # small grid (3 epochs) on the bundled dataset copy on each
#                                     # device, end to end through ONNX export (results and logs
#                                     # under $OUT when set)
# CUDARC_CUDA_VERSION picks the CUDA driver API the bindings target; 13000 matches the lent
# machines (driver 580 = CUDA 13.0). Set it to your driver's version (nvidia-smi) elsewhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in
build)
    export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cuda}"
    cargo build --release -p genrescope-trainer --features cuda
    mkdir -p target/gpu
    strip -o target/gpu/genrescope-trainer "$CARGO_TARGET_DIR/release/genrescope-trainer"
    gzip -9 -f target/gpu/genrescope-trainer
    # The GPU machine sees only the carried paths: take the (small, incomplete) dataset along.
    rm -rf target/gpu/gtzan
    cp -r ../shared/datasets/gtzan target/gpu/gtzan
    ls -l target/gpu
    ;;
run)
    bin=$(mktemp -d)/genrescope-trainer
    gzip -dc target/gpu/genrescope-trainer.gz >"$bin" && chmod +x "$bin"
    out="${OUT:-$(mktemp -d)}"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
    # CPU first, so a failing CUDA run still leaves the baseline.
    "$bin" bench-train --device cpu --epochs 3 | tee "$out/bench-cpu.json"
    status=0
    "$bin" bench-train --device cuda --epochs 5 2>&1 | tee "$out/bench-cuda.json" || status=1
    for dev in cpu cuda; do
        start=$(date +%s.%N)
        "$bin" train-cnn --device "$dev" --data target/gpu/gtzan --out "$out/model-$dev" \
            --work "$out/work-$dev" --cache "$out/cache-$dev" --grid small --max-epochs 3 \
            >"$out/train-$dev.log" 2>&1 || { echo "train on $dev failed: see train-$dev.log"; status=1; }
        echo "train --device $dev: $(awk "BEGIN { print $(date +%s.%N) - $start }") s" |
            tee -a "$out/train-times.txt"
        tail -5 "$out/train-$dev.log"
    done
    exit $status
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
