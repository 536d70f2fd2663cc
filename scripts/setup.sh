#!/usr/bin/env bash
# Prepare a Debian/Ubuntu machine to build and test Genrescope. Idempotent.
#  1. installs the Debian packages the build needs (only those missing; `apt-get update` once, only then);
#  2. fetches ONNX Runtime into .ort/ (`cargo xtask ort`) and the musicnn checkpoint into .musicnn/
#     (`cargo xtask musicnn`), both as SHA-256-pinned wheels from PyPI.
#  3. installs Ray (ray.data, version pinned in cluster/requirements.txt) into cluster/.venv for the
#     cluster pipeline's CI check.
# Needs: a Rust toolchain (rustup/cargo) already installed. Runs as root, or uses sudo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Build: C toolchain for -sys crates and the linker; pkg-config. Python 3 + pip: `cargo xtask ort` and
# `cargo xtask musicnn` download the onnxruntime and musicnn wheels.
# The plugin GUI (baseview/egui) loads X11/xcb/GL at run time only (x11-dl, x11rb): no headers needed
# to build; the runtime libraries below are for opening the editor.
# libclang-dev: bindgen for signalsmith-stretch (the trainer's pitch/time augmentation, `augment` feature).
# Ardour 7.3 (its headless `ardour7-lua`) + sox: the DAW test (plugin/tests/ardour.rs).
# The trainer: espeak-ng (speech among the generated out-of-set examples, so `train` reproduces the
# shipped model), ffmpeg (REPORT's codec rows), libclang-dev (bindgen for the augmentation's stretcher).
PACKAGES=(
  build-essential pkg-config ca-certificates libclang-dev
  python3 python3-pip python3-venv
  libx11-6 libx11-xcb1 libxcb1 libxcursor1 libgl1
  ardour sox libsox-fmt-all
  espeak-ng ffmpeg libclang-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  echo "setup: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages present"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust (https://rustup.rs), then rerun" >&2
  exit 1
fi

# A python3 whose pip works (a pyenv/venv python is fine too).
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "setup: python3 -m pip does not work; install pip for python3" >&2
  exit 1
fi

# `cargo xtask test` runs rustfmt and clippy first.
for c in rustfmt clippy; do
  if ! cargo "$c" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      echo "setup: adding the $c component"
      rustup component add "$c"
    else
      echo "setup: cargo $c is missing; install the $c component" >&2
      exit 1
    fi
  fi
done

# `cargo xtask test` checks for unused dependencies (a crate from crates.io, pinned).
if ! cargo machete --version >/dev/null 2>&1; then
  echo "setup: installing cargo-machete"
  cargo install --locked cargo-machete --version 0.9.2
fi

cargo xtask ort
cargo xtask musicnn

# Ray (ray.data, pinned) in a venv for the cluster pipeline's CI check (cluster/test_ray_scan.py).
if [ ! -x cluster/.venv/bin/python ] || ! cluster/.venv/bin/python -c 'import ray.data' 2>/dev/null; then
  python3 -m venv cluster/.venv
  cluster/.venv/bin/pip install -q -r cluster/requirements.txt
fi
