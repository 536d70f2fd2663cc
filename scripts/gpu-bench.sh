#!/usr/bin/env bash
# CPU vs CUDA training of the trainer (BENCHMARKS.md, "Training"). The GPU machine has no Rust,
# so this runs in two halves:
#   bash scripts/gpu-bench.sh build   # here: release trainer with `--features cuda` (stripped,
#                                     # gzipped), ONNX Runtime, the musicnn checkpoint and a subset
#                                     # of the dataset (5 clips per genre and fold) into target/gpu/
#                                     # (~55 MB, fits a carry)
#   bash scripts/gpu-bench.sh run     # on the GPU machine, with target/gpu carried: prints the JSON
#                                     # of `bench-train` (the heads' training epochs) on each device,
#                                     # then runs `train --report` end to end on the subset on each
#                                     # device (results and logs under $OUT when set)
# DEVICES (default "cpu cuda") picks the devices `run` uses; "cpu" checks the script without a GPU.
# CUDARC_CUDA_VERSION picks the CUDA driver API the bindings target; 13000 matches the lent
# machines (driver 580 = CUDA 13.0). Set it to your driver's version (nvidia-smi) elsewhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
gpu=target/gpu
case "${1:-}" in
build)
    export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cuda}"
    cargo build --release -p genrescope-trainer --features cuda
    rm -rf "$gpu" && mkdir -p "$gpu"
    strip -o "$gpu/genrescope-trainer" "$CARGO_TARGET_DIR/release/genrescope-trainer"
    gzip -9 -f "$gpu/genrescope-trainer"
    # The GPU machine sees only the carried paths: ORT (the trunk runs in it) and the checkpoint.
    gzip -9 -c .ort/libonnxruntime.so >"$gpu/libonnxruntime.so.gz"
    tar czf "$gpu/musicnn.tar.gz" .musicnn
    # The whole (small, incomplete) dataset would not fit beside them: the first 5 clips present
    # per genre of each fold, with their own split lists.
    src=../shared/datasets/gtzan
    mkdir -p "$gpu/gtzan/splits"
    for fold in train valid; do
        declare -A kept=()
        while read -r clip; do
            genre=${clip%%/*}
            [[ -f "$src/$clip" && ${kept[$genre]:-0} -lt 5 ]] || continue
            kept[$genre]=$((${kept[$genre]:-0} + 1))
            mkdir -p "$gpu/gtzan/$genre"
            cp "$src/$clip" "$gpu/gtzan/$clip"
            echo "$clip" >>"$gpu/gtzan/splits/$fold.txt"
        done <"$src/splits/$fold.txt"
        unset kept
    done
    du -sh "$gpu" && ls -l "$gpu"
    ;;
run)
    tmp=$(mktemp -d)
    bin="$tmp/genrescope-trainer"
    gzip -dc "$gpu/genrescope-trainer.gz" >"$bin" && chmod +x "$bin"
    gzip -dc "$gpu/libonnxruntime.so.gz" >"$tmp/libonnxruntime.so"
    tar xzf "$gpu/musicnn.tar.gz" -C "$tmp"
    export GENRESCOPE_ORT_LIB="$tmp/libonnxruntime.so"
    out="${OUT:-$(mktemp -d)}"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
    status=0
    # CPU first, so a failing CUDA run still leaves the baseline.
    for dev in ${DEVICES:-cpu cuda}; do
        "$bin" bench-train --device "$dev" --epochs 5 2>&1 | tee "$out/bench-$dev.json" || status=1
    done
    for dev in ${DEVICES:-cpu cuda}; do
        start=$(date +%s.%N)
        "$bin" train --device "$dev" --data "$gpu/gtzan" --checkpoint "$tmp/.musicnn/MSD_musicnn" \
            --out "$out/model-$dev" --work "$out/work-$dev" --cache "$out/cache-$dev" --threads 8 --report \
            >"$out/train-$dev.log" 2>&1 || { echo "train on $dev failed: see train-$dev.log"; status=1; }
        echo "train --device $dev: $(awk "BEGIN { print $(date +%s.%N) - $start }") s" | tee -a "$out/train-times.txt"
        tail -3 "$out/train-$dev.log"
        grep '^| \*\*ensemble\*\*' "$out/model-$dev/REPORT.md" || true
    done
    exit $status
    ;;
*)
    echo "usage: $0 build|run" >&2
    exit 2
    ;;
esac
