#!/usr/bin/env python3
"""Load Genrescope.vst3 in a real VST3 host (Spotify's pedalboard, i.e. JUCE's VST3 hosting) and
check that audio passes through unchanged.

Usage: vst3_pedalboard.py BUNDLE.vst3 [--clip FILE.ogg] [--json OUT.json]

Prints a JSON report (also to --json): plugin identity, parameters as pedalboard sees them, and one
entry per run (sample rate, channels, buffer size, max |out - in|, bit-exact flag). Exit status 0
when every run is bit exact or within 1e-7, 1 when a run differs, 2 when the plugin cannot load.
Without --clip (or if it is missing) a synthetic signal is used and the report says so.
"""
import argparse
import json
import os
import sys
import time
import traceback

import numpy as np
import pedalboard
from pedalboard.io import AudioFile

TOLERANCE = 1e-7


def synthetic(rate: float, seconds: float = 8.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    tone = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    noise = np.random.default_rng(7).uniform(-1, 1, t.size) * 0.3 * np.exp(-((t * 2) % 1) * 20)
    return np.stack([tone + noise, 0.8 * tone - noise]).astype(np.float32)


def load_audio(clip, rate=None):
    """(samples [channels, frames] float32, rate, source description)."""
    if clip:
        try:
            with AudioFile(clip) as f:
                if rate is not None and rate != f.samplerate:
                    with f.resampled_to(rate) as r:
                        return r.read(r.frames).astype(np.float32), float(rate), f"{clip} resampled"
                return f.read(f.frames).astype(np.float32), float(f.samplerate), clip
        except (OSError, ValueError) as e:
            print(f"cannot read {clip}: {e}; using a synthetic signal", file=sys.stderr)
    r = float(rate or 44100)
    return synthetic(r), r, "synthetic"


def ort_loaded():
    with open("/proc/self/maps") as f:
        return "libonnxruntime" in f.read()


def thread_names(prefix):
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith(prefix):
            names.append(name)
    return sorted(names)


def param_report(plugin):
    visible = plugin.parameters
    out = []
    for p in plugin._parameters:  # everything the plugin exports, incl. parameters pedalboard hides
        python_name = next((k for k, v in visible.items() if v.name == p.name), None)
        entry = {"name": p.name, "python_name": python_name, "raw_value": p.raw_value}
        if python_name:
            v = visible[python_name]
            entry.update(
                value=str(v.string_value),
                label=v.label,
                range=[v.min_value, v.max_value, v.step_size],
            )
        out.append(entry)
    return out


def run_case(plugin, audio, rate, source, buffer_size):
    plugin.reset()
    out = plugin.process(audio, rate, buffer_size=buffer_size, reset=True)
    same_shape = out.shape == audio.shape
    diff = float(np.max(np.abs(out.astype(np.float64) - audio))) if same_shape else float("inf")
    bit_exact = bool(same_shape and np.array_equal(out.view(np.uint32), audio.view(np.uint32)))
    return {
        "source": source,
        "sample_rate": rate,
        "channels": int(audio.shape[0]),
        "frames": int(audio.shape[1]),
        "buffer_size": buffer_size,
        "out_shape": list(out.shape),
        "max_abs_diff": diff,
        "bit_exact": bit_exact,
        "ok": bool(bit_exact or diff <= TOLERANCE),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--clip")
    ap.add_argument("--json")
    ap.add_argument("--expect-ort", action="store_true")
    ap.add_argument("--wait-seconds", type=float, default=30.0)
    args = ap.parse_args()
    report = {"pedalboard": pedalboard.__version__, "bundle": args.bundle, "runs": []}

    def finish(code):
        text = json.dumps(report, indent=2)
        print(text)
        if args.json:
            with open(args.json, "w") as f:
                f.write(text)
        sys.exit(code)

    try:
        plugin = pedalboard.load_plugin(args.bundle)
    except Exception as e:  # noqa: BLE001 - report whatever JUCE says
        report["load_error"] = f"{type(e).__name__}: {e}"
        report["traceback"] = traceback.format_exc()
        finish(2)
    report["plugin"] = {
        "type": type(plugin).__name__,
        "name": plugin.name,
        "manufacturer": plugin.manufacturer_name,
        "version": plugin.version,
        "category": plugin.category,
        "is_effect": plugin.is_effect,
        "is_instrument": plugin.is_instrument,
        "latency_samples": plugin.reported_latency_samples,
    }
    report["parameters"] = param_report(plugin)

    native, native_rate, source = load_audio(args.clip)
    at48, _, source48 = load_audio(args.clip, 48000)
    stereo = lambda a: a if a.shape[0] == 2 else np.repeat(a[:1], 2, axis=0)  # noqa: E731
    cases = [
        (native, native_rate, source, 512),
        (stereo(native), native_rate, source, 333),
        (at48, 48000.0, source48, 512),
        (stereo(at48), 48000.0, source48, 1024),
    ]
    for audio, rate, src, block in cases:
        report["runs"].append(run_case(plugin, np.ascontiguousarray(audio), rate, src, block))

    # Threads the plugin started in this (host) process: its analysis thread, plus ONNX Runtime's
    # environment thread once a model loaded (created from the analysis thread, same name).
    # The model loads asynchronously (seconds on a loaded machine): wait, bounded, until the
    # plugin has loaded ONNX Runtime into this process, which it does only to load a model.
    deadline = time.monotonic() + args.wait_seconds
    while args.expect_ort and not ort_loaded() and time.monotonic() < deadline:
        time.sleep(0.1)
    report["plugin_threads"] = thread_names("genrescope")
    report["ort_loaded"] = ort_loaded()

    # The state round trip through the host (VST3 component + controller state).
    state = plugin.raw_state
    plugin.raw_state = state
    report["state_bytes"] = len(state)
    report["state_roundtrip_same"] = plugin.raw_state == state
    finish(0 if all(r["ok"] for r in report["runs"]) and report["state_roundtrip_same"] else 1)


if __name__ == "__main__":
    main()
