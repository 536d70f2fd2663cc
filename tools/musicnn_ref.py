#!/usr/bin/env python3
"""Reference front-end features and trunk outputs of musicnn (MSD_musicnn) for the Rust port.

Setup:  python3 -m venv tools/.venv-tf
        tools/.venv-tf/bin/pip install tensorflow-cpu==2.15.1 'numpy<2' librosa==0.11.0 soundfile
        tools/.venv-tf/bin/pip install --no-deps musicnn==0.1.0
Run:    tools/.venv-tf/bin/python tools/musicnn_ref.py [--gtzan ../shared/datasets/gtzan] [--features-only]

A. Front end -> core/tests/data/musicnn/ (musicnn_ref.json + per signal, little-endian float32,
   row-major [frame][mel], 96 mels):
     <name>.melpow.f32    librosa mel power spectrogram (computed in float64, rounded to f32)
     <name>.logc.f32      log10(1 + 10000*mel) in float64 from the float64 mel, rounded to f32
     <name>.logc_f16.f32  musicnn's extractor expression, verbatim:
                          m = mel.astype(np.float16); np.log10(10000 * m + 1)
                          (with numpy 1.26 the product is float32, see the JSON)
   Generated signals at 16 kHz (sine440, chirp, noise, silence) are regenerated bit-exactly by the
   Rust tests (core/tests/features_common); they are fed to librosa as float64 (the float32 samples
   upcast), like tools/librosa_ref.py. The GTZAN clip is the first 6.5 s of librosa.load(sr=16000)
   (soxr_hq from 22050 Hz), also upcast to float64; it is identified by a SHA-256 of its 22050 Hz
   PCM as decoded by soundfile. No audio is written.

B. Trunk -> trainer/tests/data/musicnn/: musicnn's own graph (musicnn/models.py, built as
   musicnn/extractor.py does, tf.compat.v1 graph mode), checkpoint MSD_musicnn restored from the
   installed package, is_training=False, one patch per run (extractor's BATCH_SIZE=1).
     patches.f32 [6,187,96], taggram.f32 [6,50], penultimate.f32 [6,200], mean_pool.f32 [6,753],
     max_pool.f32 [6,753]; the same with suffix _nof16 for the float64-log (no float16) patches;
     trunk_ref.json (tensor names, BN epsilon, variable list, f16 effect), variables.tsv.
   Debug activations for patches 0 and 4 (not committed) -> target/musicnn-debug/.
"""
import argparse, hashlib, inspect, json, os, platform, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import librosa
import scipy
import soundfile as sf
import soxr

SR, N_FFT, HOP, N_MELS = 16000, 512, 256, 96
N_PATCH = 187
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_A = os.path.join(ROOT, "core", "tests", "data", "musicnn")
OUT_B = os.path.join(ROOT, "trainer", "tests", "data", "musicnn")
OUT_DEBUG = os.path.join(ROOT, "target", "musicnn-debug")
LAYOUT = "little-endian float32, row-major (C order), shape as given"


# ---------------------------------------------------------------------------------------------
# A. signals and front end

# Committed size: only the first frames of each front-end reference (the Rust test compares
# those), and only melpow + logc (the float16 variant's effect is summarised in the JSON).
FE_FRAMES, FE_FRAMES_CLIP = 64, 187
FE_WRITTEN = ("melpow", "logc")


def lcg_noise(n, seed):
    # Same generator as the Rust tests: 64-bit LCG, top 24 bits -> uniform [-0.25, 0.25).
    s, mask, out = seed, (1 << 64) - 1, np.empty(n, dtype=np.float32)
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        out[i] = np.float32((np.float32(s >> 40) / np.float32(1 << 24) - np.float32(0.5)) * np.float32(0.5))
    return out


def signals():
    """(name, float32 samples, generator parameters). Formulas = core/tests/features_common."""
    n_sine = 4 * SR
    n = np.arange(n_sine, dtype=np.float64)
    yield "sine440", (0.5 * np.sin(2 * np.pi * 440.0 * n / SR)).astype(np.float32), {
        "kind": "sine", "rust": f"sine(440.0, {SR}.0, {n_sine}, 0.5)",
        "freq_hz": 440.0, "amp": 0.5, "rate": SR, "n": n_sine,
        "formula": "f32(amp * sin(2*pi*freq*i/rate)), computed in f64"}
    m = 64123  # odd length: exercises the last partial frame
    t = np.arange(m, dtype=np.float64) / SR
    T = m / SR
    f0, f1 = 100.0, 7000.0
    ph = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * T))
    yield "chirp", (0.3 * np.sin(ph)).astype(np.float32), {
        "kind": "linear_chirp", "rust": f"chirp(100.0, 7000.0, {SR}.0, {m}, 0.3)",
        "f0_hz": f0, "f1_hz": f1, "amp": 0.3, "rate": SR, "n": m,
        "formula": "t=i/rate, dur=n/rate, ph=2*pi*(f0*t + (f1-f0)*t*t/(2*dur)), f32(amp*sin(ph)), f64"}
    n_noise = 64000
    yield "noise", lcg_noise(n_noise, 12345), {
        "kind": "lcg_noise", "rust": f"lcg_noise({n_noise}, 12345)", "seed": 12345, "n": n_noise,
        "formula": "s = s*6364136223846793005 + 1442695040888963407 (mod 2^64); "
                   "((s>>40) as f32 / 2^24 - 0.5) * 0.5, all f32"}
    yield "silence", np.zeros(56000, dtype=np.float32), {"kind": "zeros", "n": 56000}


def mel_power(y):
    """librosa mel power spectrogram, [mel, frame], in the dtype of y (float64 here)."""
    return librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS)


def musicnn_log(mel_t):
    """musicnn/extractor.py batch_data, verbatim from the .T on: cast to float16, then the
    expression as written. Returns (result, dtypes)."""
    audio_rep = mel_t.astype(np.float16)
    prod = 10000 * audio_rep
    audio_rep = np.log10(10000 * audio_rep + 1)
    return audio_rep, {"cast": str(mel_t.astype(np.float16).dtype), "product_10000_x": str(prod.dtype),
                       "result": str(audio_rep.dtype)}


def log10_f32_check():
    """numpy's float32 log10 (SIMD, CPU-dependent) vs the correctly rounded value, over every
    finite non-negative float16 input of the expression: how exact can a port be?"""
    h = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16)
    r = np.log10(10000 * h + 1)
    arg = np.float32(10000) * h.astype(np.float32) + np.float32(1)
    assert np.array_equal(arg, 10000 * h + 1)
    c = np.log10(arg.astype(np.float64)).astype(np.float32)
    simd = getattr(np.__config__, "CONFIG", {}).get("SIMD Extensions", {})
    return {"n_inputs": int(h.size), "n_differ_from_correctly_rounded": int(np.count_nonzero(r != c)),
            "max_abs_diff": float(np.abs(r.astype(np.float64) - c).max()),
            "numpy_simd_found": simd.get("found"),
            "note": "the product and +1 are plain IEEE float32 ops (f32(10000) * f32(h) + 1, each correctly rounded); only log10 "
                    "depends on the implementation"}


def front_end(y32):
    y = y32.astype(np.float64)
    mel = mel_power(y).T                       # [frame, mel], float64
    assert mel.dtype == np.float64, mel.dtype
    logc = np.log10(1 + 10000 * mel)           # float64, no float16
    logc_f16, dtypes = musicnn_log(mel)
    assert np.all(np.isfinite(logc_f16)), "float16 path overflowed"
    return {"melpow": mel.astype("<f4"), "logc": logc.astype("<f4"),
            "logc_f16": np.asarray(logc_f16, dtype="<f4")}, mel, dtypes


def diff_stats(a, b, floor):
    a = np.asarray(a, np.float64); b = np.asarray(b, np.float64)
    d = np.abs(a - b)
    rel = d / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return {"max_abs": float(d.max()), "mean_abs": float(d.mean()), "max_rel": float(rel.max()),
            "rel_floor": floor, "n_differ": int(np.count_nonzero(d)), "n": int(d.size)}


def f16_stats(mel, feats):
    """What the float16 cast does to the features (vs the float64 log)."""
    m16 = mel.astype(np.float16).astype(np.float64)
    nz = mel > 0
    tiny = np.finfo(np.float16).tiny
    st = {
        "mel_max": float(mel.max()), "mel_min_positive": float(mel[nz].min()) if nz.any() else None,
        "mel_rel_err_max_normal_f16": float((np.abs(m16 - mel)[mel >= tiny] / mel[mel >= tiny]).max())
        if (mel >= tiny).any() else None,
        "n_mel_subnormal_f16": int(np.count_nonzero((mel > 0) & (mel < tiny))),
        "n_mel_flushed_to_zero_f16": int(np.count_nonzero((mel > 0) & (m16 == 0))),
        "logc_f16_vs_logc": diff_stats(feats["logc_f16"], feats["logc"], 1e-3),
    }
    return st


def musicnn_f32_check(y32, mel, feats):
    """musicnn itself feeds librosa float32 audio, so its mel is float32. Compare its exact
    features to ours (float64 mel, then the same float16 expression)."""
    mel32 = mel_power(y32).T
    ref, _ = musicnn_log(mel32)
    ref = np.asarray(ref, np.float32)
    return {"mel_dtype": str(mel32.dtype),
            "logc_f16_musicnn_f32_vs_ours": diff_stats(ref, feats["logc_f16"], 1e-3),
            "n_f16_mel_values_differ": int(np.count_nonzero(
                mel32.astype(np.float16) != mel.astype(np.float16)))}, ref


def load_gtzan(path, seconds):
    pcm, sr0 = sf.read(path, dtype="float32", always_2d=True)
    assert pcm.shape[1] == 1, pcm.shape
    pcm = np.ascontiguousarray(pcm[:, 0])
    y, sr = librosa.load(path, sr=SR)          # what musicnn does: soundfile + soxr_hq
    assert sr == SR and y.dtype == np.float32
    n = int(round(seconds * SR))
    n0 = int(round(seconds * sr0))
    # librosa.load reads with soundfile too: check it is the same PCM before resampling
    y_native, _ = librosa.load(path, sr=None)
    assert np.array_equal(y_native, pcm)
    y_direct = soxr.resample(pcm, sr0, SR, quality="soxr_hq").astype(np.float32)
    # librosa.resample(fix=True) pads soxr's output to ceil(n * 16000 / 22050) samples; else equal
    assert np.array_equal(y_direct, y[:len(y_direct)]), "librosa.load != soxr.resample(soundfile PCM, soxr_hq)"
    n16_full = len(y)
    y = y[:n]
    info = {
        "kind": "gtzan", "clip": None, "seconds": seconds, "n": n,
        "decoder": f"soundfile {sf.__version__} / {sf.__libsndfile_version__}",
        "native_sr": int(sr0), "native_n_samples_full": int(len(pcm)),
        "resampler": f"librosa.load(sr={SR}) = soxr {soxr.__version__} resample(full decoded PCM, "
                     f"{sr0} -> {SR}, quality='soxr_hq'), then first {n} samples",
        "n_samples_16k_full": int(n16_full),
        "pcm22050_sha256_f32le_full": hashlib.sha256(pcm.astype("<f4").tobytes()).hexdigest(),
        "pcm22050_n_prefix": n0,
        "pcm22050_sha256_f32le_prefix": hashlib.sha256(pcm[:n0].astype("<f4").tobytes()).hexdigest(),
        "pcm22050_first": [float(v) for v in pcm[:8]],
        "pcm16k_sha256_f32le": hashlib.sha256(y.astype("<f4").tobytes()).hexdigest(),
        "pcm16k_first": [float(v) for v in y[:8]],
        "pcm16k_max_abs": float(np.abs(y).max()),
    }
    return y, info


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
         "librosa": librosa.__version__, "soundfile": sf.__version__,
         "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__}
    try:
        from importlib.metadata import version
        v["musicnn"] = version("musicnn")
        if "tensorflow" in sys.modules:
            v["tensorflow"] = sys.modules["tensorflow"].__version__
            v["tensorflow_cpu_dist"] = version("tensorflow-cpu")
    except Exception as e:  # noqa: BLE001
        v["error"] = repr(e)
    return v


def part_a(args):
    items = list(signals())
    clip_path = os.path.join(args.gtzan, args.clip)
    if os.path.exists(clip_path):
        y, info = load_gtzan(clip_path, args.clip_seconds)
        info["clip"] = args.clip
        items.append(("gtzan_clip", y, info))
    else:
        print(f"warning: {clip_path} not found, skipping the GTZAN clip", file=sys.stderr)
    os.makedirs(OUT_A, exist_ok=True)
    meta = {
        "tool": "tools/musicnn_ref.py",
        "versions": versions(),
        "stft_pad_mode_default": inspect.signature(librosa.stft).parameters["pad_mode"].default,
        "settings": {"sr": SR, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS, "window": "hann",
                     "center": True, "pad_mode": "constant", "power": 2.0, "htk": False,
                     "norm": "slaney", "fmin": 0.0, "fmax": SR / 2, "mel_basis_dtype": "float32",
                     "input": "float32 samples upcast to float64; STFT, power and mel in float64"},
        "layout": LAYOUT + "; each file [n_frames, 96], n_frames = 1 + n_samples // 256",
        "files": {
            "melpow": "<name>.melpow.f32: mel power, float64 rounded to f32",
            "logc": "<name>.logc.f32: log10(1 + 10000*mel), float64 from the float64 mel, rounded to f32",
            "logc_f16": "not written (see float16_effect): musicnn's path np.log10(10000 * mel.astype(np.float16) + 1) "
                        "with numpy 1.26 (float16 cast of the float64 mel; the product and log are float32)",
            "frames": "only the first frames_written frames of each signal are written",
        },
        "float16_path": None,
        "signals": [],
    }
    feats_all = {}
    for name, y, extra in items:
        feats, mel, dtypes = front_end(y)
        meta["float16_path"] = {"expression": "np.log10(10000 * mel.astype(np.float16) + 1)",
                                "dtypes": dtypes, "numpy": np.__version__,
                                "note": "numpy 1.x value-based casting: 10000 needs uint16, "
                                        "float16*uint16 -> float32, so 10000*x cannot overflow here "
                                        "(under numpy>=2 it stays float16 and overflows above 6.55)",
                                "log10_float32": log10_f32_check()}
        keep = FE_FRAMES_CLIP if name == "gtzan_clip" else FE_FRAMES
        for k, a in feats.items():
            assert a.shape == (1 + len(y) // HOP, N_MELS), a.shape
            if k in FE_WRITTEN:
                a[:keep].tofile(os.path.join(OUT_A, f"{name}.{k}.f32"))
        chk, _ = musicnn_f32_check(y, mel, feats)
        meta["signals"].append({"name": name, "n_samples": int(len(y)), "n_frames": int(feats["melpow"].shape[0]),
                                "frames_written": int(min(keep, feats["melpow"].shape[0])),
                                "generator": extra, "float16_effect": f16_stats(mel, feats),
                                "musicnn_float32_input": chk,
                                "ranges": {k: [float(a.min()), float(a.max())] for k, a in feats.items()}})
        feats_all[name] = feats
        print(name, len(y), feats["melpow"].shape, "mel max %.4g" % mel.max(),
              "max|f16-f64| %.3g" % meta["signals"][-1]["float16_effect"]["logc_f16_vs_logc"]["max_abs"])
    return meta, feats_all


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# B. trunk

LAYERS = [  # (variable scope, kernel/param shape check, description) in graph-construction order
    ("batch_normalization", (1,), "input BN on expand_dims(x,3) [N,187,96,1], before the time padding"),
    ("conv2d", (7, 38, 1, 204), "front-end timbral conv 7x38 (time x freq), 204 filters, input padded 3+3 in time, valid in freq; ReLU"),
    ("batch_normalization_1", (204,), "BN after timbral 7x38 ReLU; then max over freq"),
    ("conv2d_1", (7, 67, 1, 204), "front-end timbral conv 7x67, 204 filters, same padding as 7x38; ReLU"),
    ("batch_normalization_2", (204,), "BN after timbral 7x67 ReLU; then max over freq"),
    ("conv2d_2", (128, 1, 1, 51), "front-end temporal conv 128x1, 51 filters, TF 'same' on the BN'd input (pad 63 before, 64 after); ReLU"),
    ("batch_normalization_3", (51,), "BN after temporal 128x1 ReLU; then max over freq"),
    ("conv2d_3", (64, 1, 1, 51), "front-end temporal conv 64x1, 51 filters, TF 'same' (pad 31/32); ReLU"),
    ("batch_normalization_4", (51,), "BN after temporal 64x1 ReLU; then max over freq"),
    ("conv2d_4", (32, 1, 1, 51), "front-end temporal conv 32x1, 51 filters, TF 'same' (pad 15/16); ReLU"),
    ("batch_normalization_5", (51,), "BN after temporal 32x1 ReLU; then max over freq"),
    ("conv2d_5", (7, 561, 1, 64), "mid-end conv1: 7x561 over concat(front end) [187,561], time pad 3+3, 64 filters; ReLU"),
    ("batch_normalization_6", (64,), "BN after mid-end conv1 ReLU (= cnn1)"),
    ("conv2d_6", (7, 64, 1, 64), "mid-end conv2: 7x64, time pad 3+3, 64 filters; ReLU"),
    ("batch_normalization_7", (64,), "BN after mid-end conv2 ReLU; + cnn1 (residual) = cnn2"),
    ("conv2d_7", (7, 64, 1, 64), "mid-end conv3: 7x64, time pad 3+3, 64 filters; ReLU"),
    ("batch_normalization_8", (64,), "BN after mid-end conv3 ReLU; + cnn2 (residual) = cnn3"),
    ("batch_normalization_9", (1506,), "back-end BN on flatten(concat([max_pool, mean_pool], 2)): index 2*c = max, 2*c+1 = mean (interleaved)"),
    ("dense", (1506, 200), "back-end dense 1506 -> 200 (kernel [in, out]); ReLU"),
    ("batch_normalization_10", (200,), "BN after dense ReLU = penultimate"),
    ("dense_1", (200, 50), "output dense 200 -> 50 logits (kernel [in, out]); taggram = sigmoid"),
]
PARAM_DESC = {"gamma": "BN scale", "beta": "BN offset", "moving_mean": "BN moving mean (inference)",
              "moving_variance": "BN moving variance (inference)", "kernel": "weights", "bias": "bias"}


def build_graph(tf, models, config):
    """As musicnn/extractor.py: reset graph, name_scope 'model', placeholders, define_model, sigmoid."""
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, N_PATCH, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penultimate = \
            models.define_model(x, is_training, "MSD_musicnn", len(config.MSD_LABELS))
        normalized_y = tf.nn.sigmoid(y)
    g = tf.compat.v1.get_default_graph()
    outputs = {"taggram": normalized_y, "penultimate": penultimate, "mean_pool": mean_pool, "max_pool": max_pool}
    debug = {"input_bn": g.get_tensor_by_name("model/batch_normalization/cond/Identity:0"),
             "timbral": timbral, "temporal": temporal, "cnn1": cnn1, "cnn2": cnn2, "cnn3": cnn3,
             "backend_bn": g.get_tensor_by_name("model/batch_normalization_9/batchnorm/add_1:0"),
             "dense_relu": g.get_tensor_by_name("model/dense/Relu:0"),
             "logits": y}
    # the input BN tensor is the one padded by the timbral branch and fed to the temporal convs
    assert g.get_operation_by_name("model/Pad").inputs[0] is debug["input_bn"]
    return g, x, is_training, outputs, debug


def bn_epsilons(tf, g):
    """epsilon of every batch-norm op, fused (inside the cond branch functions) or not."""
    gd = g.as_graph_def()
    found = []
    for f in gd.library.function:
        for n in f.node_def:
            if n.op.startswith("FusedBatchNorm"):
                found.append({"function": f.signature.name, "op": n.op, "is_training": bool(n.attr["is_training"].b),
                              "epsilon": float(n.attr["epsilon"].f)})
    for n in gd.node:
        if n.op == "Const" and n.name.endswith("/batchnorm/add/y"):
            found.append({"node": n.name, "op": "Const (non-fused: rsqrt(moving_variance + y))",
                          "epsilon": float(tf.make_ndarray(n.attr["value"].tensor))})
    return found


def part_b(args, feats_all, meta_a):
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    from musicnn import models, configuration as config
    import musicnn
    pkgdir = os.path.dirname(musicnn.__file__)
    prefix = os.path.join(pkgdir, "MSD_musicnn") + "/"

    g, x, is_training, outputs, debug = build_graph(tf, models, config)
    sess = tf.compat.v1.Session(graph=g)
    sess.run(tf.compat.v1.global_variables_initializer())
    saver = tf.compat.v1.train.Saver()
    saver.restore(sess, prefix)  # extractor.py swallows errors here; we don't

    # every graph variable equals its checkpoint tensor (i.e. the restore really happened)
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    ck_shapes, ck_dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    gvars = tf.compat.v1.global_variables()
    trainable = {v.name for v in tf.compat.v1.trainable_variables()}
    values = sess.run(gvars)
    layer_of = {s: (shape, d) for s, shape, d in LAYERS}
    assert len(gvars) == 4 * 11 + 2 * 10, len(gvars)
    var_list = []
    for i, (v, val) in enumerate(zip(gvars, values)):
        key = v.name[:-2]
        scope, param = key.split("/")
        assert np.array_equal(val, reader.get_tensor(key)), key
        shape0, desc = layer_of[scope]
        if param in ("kernel", "gamma"):
            assert tuple(val.shape) == shape0, (key, val.shape)
        var_list.append({"index": i, "name": key, "tf_name": v.name, "shape": list(val.shape),
                         "dtype": str(val.dtype), "trainable": v.name in trainable,
                         "layer": f"{PARAM_DESC[param]} of {scope}: {desc}"})
    n_params = int(sum(np.prod(v["shape"]) for v in var_list if v["trainable"]))
    extra_keys = sorted(k for k in ck_shapes if k + ":0" not in {v.name for v in gvars})

    assert "gtzan_clip" in feats_all, "part B needs the GTZAN clip"
    # patches: frames 0..187 of each generated signal, 0..187 and 187..374 of the GTZAN clip
    prov = [(s, 0) for s in ("sine440", "chirp", "noise", "silence")] + [("gtzan_clip", 0), ("gtzan_clip", N_PATCH)]
    variants = {"f16": "logc_f16", "nof16": "logc"}
    patches = {v: np.stack([feats_all[s][k][f:f + N_PATCH] for s, f in prov]).astype(np.float32)
               for v, k in variants.items()}
    for a in patches.values():
        assert a.shape == (len(prov), N_PATCH, N_MELS)

    def run(batch, fetch):
        # one patch per sess.run, as musicnn's extractor (BATCH_SIZE = 1)
        outs = [sess.run(fetch, feed_dict={x: batch[i:i + 1], is_training: False}) for i in range(len(batch))]
        return {k: np.concatenate([o[k] for o in outs], axis=0) for k in fetch}

    res = {v: run(p, outputs) for v, p in patches.items()}
    # batched run (all six at once): same numbers?
    batched = sess.run(outputs, feed_dict={x: patches["f16"], is_training: False})
    batch_vs_single = {k: float(np.abs(batched[k] - res["f16"][k]).max()) for k in outputs}

    os.makedirs(OUT_B, exist_ok=True)
    files = {}
    # Only the f16 variant (musicnn's own input) is committed; the no-f16 run is summarised in f16_effect.
    for v, suffix in (("f16", ""),):
        fn = f"patches{suffix}.f32"
        patches[v].astype("<f4").tofile(os.path.join(OUT_B, fn))
        files[fn] = {"shape": list(patches[v].shape), "what": f"inputs fed to model/Placeholder:0 ({variants[v]} features)"}
        for k in outputs:
            a = res[v][k].astype("<f4")
            fn = f"{k}{suffix}.f32"
            a.tofile(os.path.join(OUT_B, fn))
            files[fn] = {"shape": list(a.shape), "tensor": outputs[k].name, "patches": f"patches{suffix}.f32"}

    eff = {}
    for k in outputs:
        a, b = res["f16"][k].astype(np.float64), res["nof16"][k].astype(np.float64)
        d = np.abs(a - b)
        eff[k] = {"max_abs": float(d.max()), "mean_abs": float(d.mean()),
                  "max_rel": float((d / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-6)).max()),
                  "max_abs_over_max_magnitude": float(d.max() / max(np.abs(b).max(), 1e-30)),
                  "per_patch_max_abs": [float(r) for r in d.reshape(len(prov), -1).max(axis=1)]}
    eff["patches"] = {"max_abs": float(np.abs(patches["f16"] - patches["nof16"]).max())}
    tags = config.MSD_LABELS
    top = []
    for i in range(len(prov)):
        t = res["f16"]["taggram"][i]
        o = np.argsort(-t)[:5]
        top.append([[tags[j], float(t[j])] for j in o])
    top1_same = [int(np.argmax(res["f16"]["taggram"][i]) == np.argmax(res["nof16"]["taggram"][i])) for i in range(len(prov))]

    # musicnn's own batch_data on the GTZAN file (float32 mel): are our GTZAN patches what it feeds?
    extractor_check = None
    if "gtzan_clip" in feats_all:
        from musicnn import extractor
        clip_path = os.path.join(args.gtzan, args.clip)
        batch, _ = extractor.batch_data(clip_path, N_PATCH, N_PATCH)
        ours = patches["f16"][4:6]
        ex = batch[:2].astype(np.float32)
        ex_out = run(ex, outputs)
        extractor_check = {
            "what": "musicnn.extractor.batch_data(clip, 187, 187)[:2] (librosa on float32 audio, full clip) "
                    "vs our patches 4,5 (float64 mel); trunk outputs compared too",
            "batch_dtype": str(batch.dtype), "n_patches_in_clip": int(batch.shape[0]),
            "patches": diff_stats(ex, ours, 1e-3),
            "outputs_max_abs": {k: float(np.abs(ex_out[k] - res["f16"][k][4:6]).max()) for k in outputs},
        }

    eps = bn_epsilons(tf, g)
    eps_values = sorted({e["epsilon"] for e in eps})
    trunk = {
        "tool": "tools/musicnn_ref.py",
        "versions": versions(),
        "env": {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                "note": "unset = TensorFlow's default (oneDNN on for x86 Linux)"},
        "model": {"name": "MSD_musicnn", "builder": "musicnn.models.define_model(x, is_training, 'MSD_musicnn', 50)"
                  " = build_musicnn(num_filt_midend=64, num_units_backend=200)",
                  "checkpoint_prefix": "<site-packages>/musicnn/MSD_musicnn/",
                  "checkpoint_sha256": {fn: hashlib.sha256(open(prefix + fn, "rb").read()).hexdigest()
                                        for fn in (".index", ".data-00000-of-00001")},
                  "checkpoint_entries": len(ck_shapes),
                  "checkpoint_entries_not_in_graph": {"count": len(extra_keys), "keys": extra_keys},
                  "trainable_parameters": n_params,
                  "tags": list(tags)},
        "graph": {"mode": "tf.compat.v1 graph (disable_eager_execution), name_scope 'model', control flow v2",
                  "input": {"name": x.name, "shape": [None, N_PATCH, N_MELS], "dtype": "float32"},
                  "is_training": {"name": is_training.name, "fed": False},
                  "feeding": "one patch per session.run (extractor BATCH_SIZE=1)",
                  "outputs": {k: {"name": t.name, "shape": [None] + t.shape.as_list()[1:]} for k, t in outputs.items()},
                  "debug_tensors": {k: {"name": t.name, "shape": [None] + t.shape.as_list()[1:]} for k, t in debug.items()},
                  "batched_vs_single_max_abs": batch_vs_single},
        "batch_norm": {"epsilon": eps_values[0] if len(eps_values) == 1 else eps_values,
                       "epsilon_note": "float32 1e-3 (attr/const value as stored: float32 0.001)",
                       "inference": "fused (rank-4 BNs 0-8): y = (x - moving_mean) * rsqrt(moving_variance + eps) * gamma + beta; "
                                    "non-fused (rank-2 BNs 9, 10): inv = rsqrt(moving_variance + eps) * gamma; y = x*inv + (beta - moving_mean*inv)",
                       "ops": eps},
        "layout": LAYOUT,
        "files": files,
        "patches": [{"index": i, "signal": s, "frames": [f, f + N_PATCH],
                     "source": {v: f"core/tests/data/musicnn/{s}.{k}.f32" for v, k in variants.items()},
                     "variant": {"patches.f32": "logc_f16 (musicnn's float16 path)", "patches_nof16.f32": "logc (float64 log)"}}
                    for i, (s, f) in enumerate(prov)],
        "f16_effect": {"what": "outputs of patches.f32 vs patches_nof16.f32; max_rel = max |a-b|/max(|a|,|b|,1e-6)",
                       **eff, "top1_tag_same": top1_same},
        "top5_tags_f16": top,
        "musicnn_extractor_check": extractor_check,
        "variables": var_list,
    }
    write_json(os.path.join(OUT_B, "trunk_ref.json"), trunk)
    with open(os.path.join(OUT_B, "variables.tsv"), "w") as f:
        f.write("index\tname\tshape\tdtype\ttrainable\tlayer\n")
        for v in var_list:
            f.write(f"{v['index']}\t{v['name']}\t{'x'.join(map(str, v['shape']))}\t{v['dtype']}\t"
                    f"{str(v['trainable']).lower()}\t{v['layer']}\n")

    # debug activations (not committed)
    os.makedirs(OUT_DEBUG, exist_ok=True)
    lines = ["# musicnn debug activations (tools/musicnn_ref.py; not committed)", "",
             LAYOUT + "; batch dim squeezed. Input: trainer/tests/data/musicnn/patches.f32 [patch].", "",
             "| file | tensor | shape |", "|---|---|---|"]
    for p in (0, 4):
        d = sess.run(debug, feed_dict={x: patches["f16"][p:p + 1], is_training: False})
        for k, a in d.items():
            a = np.squeeze(a, axis=0)
            if a.ndim == 3:
                a = np.squeeze(a, axis=-1)
            fn = f"p{p}.{k}.f32"
            a.astype("<f4").tofile(os.path.join(OUT_DEBUG, fn))
            lines.append(f"| {fn} | {debug[k].name} | {list(a.shape)} |")
    lines += ["", f"patch 0 = {prov[0][0]} frames 0..187, patch 4 = {prov[4][0]} frames 0..187 (logc_f16)."]
    with open(os.path.join(OUT_DEBUG, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    sess.close()
    print("f16 effect:", {k: (v["max_abs"], v["max_rel"]) for k, v in eff.items() if "max_rel" in v})
    print("batched vs single:", batch_vs_single)
    if extractor_check:
        print("extractor check:", extractor_check["patches"]["max_abs"], extractor_check["outputs_max_abs"])
    print("BN eps:", eps_values, "params:", n_params)
    return trunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gtzan", default=os.path.join(ROOT, "..", "shared", "datasets", "gtzan"))
    ap.add_argument("--clip", default="blues/blues.00042.ogg")
    ap.add_argument("--clip-seconds", type=float, default=6.5)
    ap.add_argument("--features-only", action="store_true", help="part A only (no TensorFlow)")
    args = ap.parse_args()
    if not args.features_only:
        import tensorflow  # noqa: F401  (so its version lands in both JSON files)
    meta_a, feats = part_a(args)
    write_json(os.path.join(OUT_A, "musicnn_ref.json"), meta_a)
    if not args.features_only:
        part_b(args, feats, meta_a)


if __name__ == "__main__":
    main()
