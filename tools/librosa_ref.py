#!/usr/bin/env python3
"""Reference log-mel / MFCC from librosa for core/tests/features_librosa.rs.

Setup:  python3 -m venv tools/.venv && tools/.venv/bin/pip install librosa soundfile
Run:    tools/.venv/bin/python tools/librosa_ref.py [--gtzan ../shared/datasets/gtzan]

Writes core/tests/data/librosa_ref.json (metadata) and, per signal, <name>.mfcc.f32 and
<name>.logmel.f32: little-endian float32, row-major [frame][coef]. No audio is written:
generated signals are regenerated bit-exactly by the Rust test (same formulas / LCG),
the GTZAN clip is decoded there with symphonia and identified by a SHA-256 of its PCM.

The signal is passed to librosa as float64 (after rounding to float32, which is what the
Rust side receives), so librosa computes STFT/mel/dB/DCT in float64; the mel basis keeps
librosa's default float32 dtype. Settings mirror FeatureConfig::default() with top_db=None.
"""
import argparse, hashlib, inspect, json, os, sys

import numpy as np
import librosa
import scipy
import soundfile as sf

SR, N_FFT, HOP, N_MELS, N_MFCC = 22050, 2048, 512, 128, 13
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "core", "tests", "data")


def lcg_noise(n, seed):
    # Same generator as the Rust tests: 64-bit LCG, top 24 bits -> uniform [-0.25, 0.25).
    s, mask, out = seed, (1 << 64) - 1, np.empty(n, dtype=np.float32)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        out[i] = np.float32((np.float32(s >> 40) / np.float32(1 << 24) - np.float32(0.5)) * np.float32(0.5))
    return out


def signals():
    n = np.arange(2 * SR, dtype=np.float64)
    yield "sine440", (0.5 * np.sin(2 * np.pi * 440.0 * n / SR)).astype(np.float32), {}
    m = 40123  # odd length: exercises the last partial frame
    t = np.arange(m, dtype=np.float64) / SR
    T = m / SR
    # linear chirp 100 Hz -> 8000 Hz
    ph = 2 * np.pi * (100.0 * t + (8000.0 - 100.0) * t * t / (2 * T))
    yield "chirp", (0.3 * np.sin(ph)).astype(np.float32), {}
    yield "noise", lcg_noise(2 * SR, 12345), {"seed": 12345}
    yield "silence", np.zeros(SR, dtype=np.float32), {}


def features(y32):
    y = y32.astype(np.float64)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    S = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=S, n_mfcc=N_MFCC)  # dct_type=2, norm='ortho', lifter=0
    return S.T.astype("<f4"), mfcc.T.astype("<f4")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gtzan", default=os.path.join(ROOT, "..", "shared", "datasets", "gtzan"))
    ap.add_argument("--clip", default="blues/blues.00042.ogg")
    ap.add_argument("--clip-seconds", type=float, default=3.0)
    args = ap.parse_args()
    items = list(signals())
    clip_path = os.path.join(args.gtzan, args.clip)
    if os.path.exists(clip_path):
        y, sr = sf.read(clip_path, dtype="float32", always_2d=True)
        assert sr == SR, sr
        y = np.ascontiguousarray(y.mean(axis=1) if y.shape[1] > 1 else y[:, 0], dtype=np.float32)
        y = y[: int(args.clip_seconds * SR)]
        items.append(("gtzan_clip", y, {
            "clip": args.clip, "decoder": f"soundfile {sf.__version__} / {sf.__libsndfile_version__}",
            "pcm_sha256_f32le": hashlib.sha256(y.astype("<f4").tobytes()).hexdigest(),
            "pcm_first": [float(v) for v in y[:8]],
        }))
    else:
        print(f"warning: {clip_path} not found, skipping the GTZAN clip", file=sys.stderr)
    meta = {
        "librosa": librosa.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
        "stft_pad_mode_default": inspect.signature(librosa.stft).parameters["pad_mode"].default,
        "settings": {"sr": SR, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS, "n_mfcc": N_MFCC,
                     "window": "hann", "center": True, "power": 2.0, "htk": False, "norm": "slaney",
                     "ref": 1.0, "amin": 1e-10, "top_db": None, "dct_type": 2, "dct_norm": "ortho",
                     "input_dtype": "float32 rounded, computed as float64"},
        "signals": [],
    }
    os.makedirs(OUT, exist_ok=True)
    for name, y, extra in items:
        logmel, mfcc = features(y)
        logmel.tofile(os.path.join(OUT, f"{name}.logmel.f32"))
        mfcc.tofile(os.path.join(OUT, f"{name}.mfcc.f32"))
        meta["signals"].append({"name": name, "n_samples": int(len(y)), "n_frames": int(mfcc.shape[0]), **extra})
        print(name, len(y), mfcc.shape, float(mfcc.min()), float(mfcc.max()))
    with open(os.path.join(OUT, "librosa_ref.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
