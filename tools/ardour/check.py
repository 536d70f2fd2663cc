#!/usr/bin/env python3
"""Checks the output of tools/ardour/export.sh (stdlib only). Writes OUT/check.json.

usage: check.py OUT [--deterministic] [--min-top-agreement F] [--max-lag-s S] [--max-value-error V]
                    [--tol-samples N] [--channel C] [--cc-base B] [--min-program-changes N]

1. Audio (always strict): dry.wav and wet.wav (and every runs/wet-N.wav) must be bit-identical float32, sample for sample and
   channel for channel (same rate, channels, frames; every 32-bit pattern equal, so -0.0 != 0.0).
   dry.wav must also equal the converted clip (work/clip/clip-L.wav, clip-R.wav) on each channel,
   which proves the session holds exactly the clip from sample 0 (no fades, gain or offset).
   The logger's first non-zero input sample must equal the clip's (the time base of cc.tsv).

2. CC stream vs `Genrescope analyze --json` (cli.json, same converted clip, same block size).
   The plugin sends, on one channel, CC base+i = round(clamp(smoothed_i, 0, 1) * 127) for the ten
   genres and CC base+10 = top index (127 = none; then the genre CCs are 0), only for CCs whose
   value changed, and nothing before its first detection. So:
   - CLI prediction k (at t_k = time_s) gives the expected state V_k (11 values);
   - the DAW's state U(t) is the last value of each CC at sample t (events at one sample position
     form one state change: the plugin emits all changed CCs of a state in the same block).
   Structural rules (both modes): every event is a CC base..base+10 on the expected channel, and the
   first state change sets all 11 CCs.
   Async mode (default; today's plugin analyses on a thread and the export runs faster than real
   time, so the stream is late and differs run to run):
     top agreement  = fraction of [t_0, end) (t_0 = first CLI prediction) where the DAW's top CC
                      equals the CLI's top, the DAW timeline shifted earlier by a lag L in
                      [0, --max-lag-s] (default 2 s), L chosen to maximise agreement;
                      PASS needs >= --min-top-agreement (default 0.9).
     value error    = over the CLI predictions, |U_i(t_k + L) - V_k,i| for the ten genre CCs;
                      PASS needs the mean <= --max-value-error (default 6 of 127). Reported: mean,
                      95th percentile, max, and the fraction of predictions matched exactly.
   Deterministic mode (--deterministic; for a plugin that analyses synchronously when the host
   says offline): the DAW's sequence of state changes must equal, value for value, the sequence
   the CLI implies (V_k for every k whose state differs from the previous one), and each change
   must sit within --tol-samples (default: one block) after round(t_k * rate).

3. Program changes (pc.tsv, runs/pc-N.tsv) vs the plugin's rule applied to cli.json.
   Without export.sh --program-change the plugin's default is off: any program change fails.
   With it (report.json "program_change": hold H s; the host must read back "Program change" 1 and
   "Program hold" H), the expected sequence replays plugin/src/midi.rs ProgramOut::step over the
   host blocks b = 0, B, 2B, ... (< frames): the block's top genre is the `top` of the last CLI
   prediction with block_start <= b (none before the first: the plugin restarts its analysis and
   MIDI state when the transport starts); no top (gated) forgets a pending change; a top equal to
   the program sent last forgets it too; any other top is the candidate, its held samples restart
   when the candidate changes and grow by B per block; once held >= hold = (f32 H * f32 rate) as
   u64, program = the genre index (0-9) is sent at sample b (timing 0) and becomes the last sent.
   Fails if that sequence has fewer than --min-program-changes (default 1) entries (the clip and
   hold would not exercise it), if the host did not keep the parameter values, or if the DAW sent
   none while some are expected. --deterministic: the DAW's (sample, channel, program) list must
   equal the expected one exactly, and every run's pc-N.tsv must equal run 1's. Async mode: counts
   and sequences are reported only.

4. Run to run (when OUT/runs has several cc-N.tsv): whether each run's stream is identical to run 1,
   event and state-change counts, top agreement and mean genre-value difference against run 1.
   Informational (today's plugin differs run to run); fails only with --deterministic.

Exit 0 when every applicable rule passes, 1 otherwise (details in check.json and on stdout).
"""
import argparse
import bisect
import csv
import glob
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wavio  # noqa: E402

N_GENRES = 10
NO_GENRE = 127
OTHER = 10  # top CC while "other / unsure" is claimed
PROGRAM_HOLD_RANGE = (0.0, 30.0)  # engine/src/settings.rs PROGRAM_HOLD_S (the plugin clamps to it)


# ---------------------------------------------------------------- audio
def compare_bits(a, b, what):
    """Bit-exact float32 comparison of two WAVs (all channels)."""
    r = {"what": what, "a": os.path.basename(a.path), "b": os.path.basename(b.path)}
    for k in ("rate", "channels", "frames"):
        r[k] = [getattr(a, k), getattr(b, k)]
    if not (a.is_float32 and b.is_float32):
        r.update(ok=False, error="not both 32-bit float")
        return r
    if a.rate != b.rate or a.channels != b.channels or a.frames != b.frames:
        r.update(ok=False, error="format or length differ")
        return r
    r["channels_detail"] = [compare_channel(a, b, ch, ch) for ch in range(a.channels)]
    r["ok"] = all(c["identical"] for c in r["channels_detail"])
    return r


def compare_channel(a, b, ca, cb):
    x, y = a.bits_u32(ca), b.bits_u32(cb)
    if x == y:
        return {"channel": ca, "identical": True, "mismatches": 0}
    fx, fy = a.floats(ca), b.floats(cb)
    bad = [i for i in range(min(len(x), len(y))) if x[i] != y[i]]
    return {"channel": ca, "identical": False, "mismatches": len(bad), "first_mismatch": bad[0],
            "max_abs_diff": max(abs(fx[i] - fy[i]) for i in bad)}


def first_nonzero(w, ch=0):
    f = w.floats(ch)
    return next((i for i, v in enumerate(f) if v != 0.0), None)


# ---------------------------------------------------------------- CC streams
def read_cc(path):
    with open(path) as f:
        return [tuple(int(r[k]) for k in ("sample", "channel", "cc", "value")) for r in csv.DictReader(f, delimiter="\t")]


def states(events, channel, base, n_ccs=N_GENRES + 1):
    """[(sample, state tuple of n_ccs or None entries)] after each group of events at one sample,
    plus a list of structural problems. n_ccs is 11, or 12 for a model with the out-of-set class
    (CC base+11 = its smoothed probability)."""
    problems, out, cur = [], [], [None] * n_ccs
    for i, (s, ch, cc, v) in enumerate(events):
        if ch != channel or not base <= cc < base + n_ccs:
            problems.append(f"event {i}: channel {ch} cc {cc} outside channel {channel}, CC {base}..{base + n_ccs - 1}")
            continue
        if out and s < out[-1][0]:
            problems.append(f"event {i}: sample {s} goes back in time")
        cur[cc - base] = v
        if out and out[-1][0] == s:
            out[-1] = (s, tuple(cur))
        else:
            out.append((s, tuple(cur)))
    if out and None in out[0][1]:
        problems.append(f"the first state change does not set all {n_ccs} CCs")
    return out, problems


def cc_count(cli):
    """11 CCs, or 12 when the model has the out-of-set class (plugin/src/midi.rs cc_values)."""
    return N_GENRES + 1 + (1 if (cli.get("model") or {}).get("out_of_set") else 0)


def cli_states(cli, labels):
    """[(time_s, expected state)] for every CLI prediction (what midi.rs cc_values would send):
    "other / unsure" claimed = genre CCs as usual, top CC = OTHER (10); nothing claimed = zeros
    and NO_GENRE; with the out-of-set class, CC base+11 = the smoothed out-of-set probability."""
    scaled = lambda x: int(round(min(max(x, 0.0), 1.0) * 127))
    oos = cc_count(cli) > N_GENRES + 1
    out = []
    for p in cli["predictions"]:
        if p["top"] is None and not p.get("out_of_set"):
            v = (0,) * N_GENRES + (NO_GENRE,) + ((0,) if oos else ())
        else:
            top = OTHER if p.get("out_of_set") else labels.index(p["top"])
            v = tuple(scaled(x) for x in p["smoothed"]) + (top,)
            if oos:
                v += (scaled(p.get("smoothed_other", 0.0)),)
        out.append((p["time_s"], v))
    return out


def cli_blocks(cli):
    """Per CLI prediction, the host sample where the plugin (rendering offline at the CLI's block
    size) sends its MIDI, when the CLI says (`block_start`); else None."""
    return [p.get("block_start") for p in cli["predictions"]]


def state_at(timeline, t):
    """The state of a [(time, state)] timeline at time t (None before the first entry)."""
    i = bisect.bisect_right([x[0] for x in timeline], t) - 1
    return timeline[i][1] if i >= 0 else None


def top_agreement(ref, test, t0, t_end, lag, step=0.01):
    """Fraction of [t0, t_end) where test's top (at t + lag) equals ref's top (at t)."""
    ref_t, test_t = [x[0] for x in ref], [x[0] for x in test]
    n = agree = 0
    t = t0
    while t < t_end:
        i = bisect.bisect_right(ref_t, t) - 1
        j = bisect.bisect_right(test_t, t + lag) - 1
        if i >= 0:
            n += 1
            if j >= 0 and test[j][1][N_GENRES] == ref[i][1][N_GENRES]:
                agree += 1
        t += step
    return agree / n if n else 0.0


def best_lag(ref, test, t0, t_end, max_lag, step=0.02):
    best = (top_agreement(ref, test, t0, t_end, 0.0), 0.0)
    lag = step
    while lag <= max_lag + 1e-9:
        a = top_agreement(ref, test, t0, t_end, lag)
        if a > best[0] + 1e-12:
            best = (a, lag)
        lag += step
    return best


def value_errors(ref, test, lag):
    errs, exact = [], 0
    test_t = [x[0] for x in test]
    for t, v in ref:
        j = bisect.bisect_right(test_t, t + lag) - 1
        if j < 0:
            continue
        u = test[j][1]
        e = [abs((u[i] if u[i] is not None else 0) - v[i]) for i in range(N_GENRES)]
        errs.extend(e)
        exact += u == v
    if not errs:
        return {"n": 0}
    s = sorted(errs)
    return {"n_predictions": len(ref), "mean": sum(errs) / len(errs), "p95": s[int(0.95 * (len(s) - 1))],
            "max": s[-1], "exact_state_fraction": exact / len(ref)}


def collapse(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def top_names(timeline, labels):
    def name(top):
        if top is None or top == NO_GENRE:
            return "none"
        return labels[top] if top < N_GENRES else "other"
    return collapse([name(v[N_GENRES]) for _, v in timeline])


def deterministic_match(daw, expected, blocks, rate, tol):
    """DAW state changes (samples) vs the CLI's implied changes (times, or block starts)."""
    exp, prev = [], None
    for (t, v), at in zip(expected, blocks):
        if v[N_GENRES] == NO_GENRE and prev is None:
            continue  # nothing is sent before the first detection
        if v != prev:
            exp.append((t, v, at))
            prev = v
    r = {"expected_changes": len(exp), "daw_changes": len(daw), "tol_samples": tol}
    bad = []
    for k in range(max(len(exp), len(daw))):
        if k >= len(exp) or k >= len(daw):
            bad.append({"index": k, "problem": "missing" if k >= len(daw) else "extra"})
            continue
        (t, v, at), (s, u) = exp[k], daw[k]
        # With the CLI's block positions the match is exact; without, within `tol` after the time.
        want = at if at is not None else round(t * rate)
        if u != v or not 0 <= s - want <= (0 if at is not None else tol):
            bad.append({"index": k, "expected_sample": want, "daw_sample": s, "expected": v, "daw": u})
    r["mismatches"] = len(bad)
    r["first_mismatches"] = bad[:5]
    r["ok"] = not bad
    return r


# ---------------------------------------------------------------- program changes
def read_pc(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return [tuple(int(r[k]) for k in ("sample", "channel", "program")) for r in csv.DictReader(f, delimiter="\t")]


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def expected_programs(cli, labels, block, frames, rate, hold_s):
    """[(sample, program)] that ProgramOut::step (plugin/src/midi.rs) sends for the CLI's
    predictions, replayed block by block (see the module docstring)."""
    hold_s = min(max(f32(hold_s), PROGRAM_HOLD_RANGE[0]), PROGRAM_HOLD_RANGE[1])
    hold = int(f32(hold_s * f32(rate)))  # f32 * f32, rounded to f32, `as u64`
    preds = sorted(cli["predictions"], key=lambda p: p["block_start"])
    out, sent, candidate, held, k, top = [], None, None, 0, 0, None
    for b in range(0, frames, block):
        while k < len(preds) and preds[k]["block_start"] <= b:
            top = None if preds[k]["top"] is None else labels.index(preds[k]["top"])
            k += 1
        if top is None or top == sent:
            candidate = None  # silence, or back on the program sent: forget a pending change
            continue
        if candidate != top:
            candidate, held = top, 0
        held += block
        if held >= hold:
            sent, candidate = top, None
            out.append((b, top))
    return out, hold


def program_check(out, report, cli, labels, frames, rate, block, a):
    """The program-change rule's result dict and failures."""
    fails = []
    pcfg = report.get("program_change") or {}
    runs = sorted(glob.glob(os.path.join(out, "runs", "pc-*.tsv")), key=lambda p: int(p.rsplit("-", 1)[1][:-4]))
    daw = read_pc(os.path.join(out, "pc.tsv"))
    per_run = [(os.path.basename(p), read_pc(p)) for p in runs]
    r = {"enabled": bool(pcfg.get("enabled")), "hold_s": pcfg.get("hold_s"), "read_back": pcfg.get("read_back"),
         "daw": [{"sample": s, "time_s": round(s / rate, 3), "channel": c, "program": p,
                  "genre": labels[p] if labels and p < len(labels) else None} for s, c, p in daw or []],
         "runs": [{"run": n, "program_changes": len(x or []), "identical_to_run_1": x == daw} for n, x in per_run]}
    if daw is None:
        r["ok"] = False
        return r, ["no pc.tsv (export.sh from before program changes were logged?)"]
    if not r["enabled"]:
        n = sum(len(x or []) for _, x in per_run) or len(daw)
        if n:
            fails.append(f"{n} program changes although 'Program change' was off (the plugin's default)")
        r["ok"] = not fails
        return r, fails
    hold_s = float(pcfg["hold_s"])
    rb = pcfg.get("read_back") or {}
    if rb.get("program_change") != 1 or rb.get("program_hold") is None or abs(rb["program_hold"] - hold_s) > 1e-6:
        fails.append(f"the host did not keep the parameters: read back {rb}, wanted program_change 1, "
                     f"program_hold {hold_s}")
    bad = [x for x in daw if x[1] != a.channel or not 0 <= x[2] < N_GENRES]
    if bad:
        fails.append(f"program change {bad[0]} is not a genre index (0-{N_GENRES - 1}) on channel {a.channel}")
    if cli is None:
        r["expected"] = "skipped: no cli.json"
        r["ok"] = not fails
        return r, fails
    exp, hold = expected_programs(cli, labels, block, frames, rate, hold_s)
    r["hold_samples"] = hold
    r["expected"] = [{"sample": s, "time_s": round(s / rate, 3), "program": p, "genre": labels[p]} for s, p in exp]
    if len(exp) < a.min_program_changes:
        fails.append(f"the CLI's predictions imply {len(exp)} program changes with hold {hold_s} s, fewer than "
                     f"--min-program-changes {a.min_program_changes}: pick a clip with more genre changes or a "
                     f"shorter hold")
    if exp and not daw:
        fails.append(f"no program changes from the DAW, {len(exp)} expected (is 'Program change' reaching the "
                     f"plugin? does the logger see status 0xC0?)")
    want = [(s, a.channel, p) for s, p in exp]
    mism = [{"index": k, "expected": want[k] if k < len(want) else None, "daw": daw[k] if k < len(daw) else None}
            for k in range(max(len(want), len(daw))) if k >= len(want) or k >= len(daw) or want[k] != daw[k]]
    r["mismatches"] = len(mism)
    r["first_mismatches"] = mism[:5]
    r["all_runs_identical"] = all(x == daw for _, x in per_run)
    if a.deterministic and daw:
        if mism:
            fails.append(f"program changes: {len(mism)} of {max(len(want), len(daw))} differ from the rule applied "
                         f"to the CLI (first: {mism[0]})")
        if not r["all_runs_identical"]:
            fails.append("program changes differ between runs (deterministic mode)")
    r["ok"] = not fails
    return r, fails


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--min-top-agreement", type=float, default=0.9)
    ap.add_argument("--max-lag-s", type=float, default=2.0)
    ap.add_argument("--max-value-error", type=float, default=6.0)
    ap.add_argument("--tol-samples", type=int)
    ap.add_argument("--channel", type=int, default=1)
    ap.add_argument("--cc-base", type=int, default=20)
    ap.add_argument("--min-program-changes", type=int, default=1)
    a = ap.parse_args()
    out = a.out
    report = json.load(open(os.path.join(out, "report.json")))
    rate = report["session"]["rate"]
    block = report["session"]["block_session"]
    tol = a.tol_samples if a.tol_samples is not None else block
    res = {"mode": "deterministic" if a.deterministic else "async", "rules": {}}
    fails = []

    # 1. audio
    dry, wet = wavio.read(os.path.join(out, "dry.wav")), wavio.read(os.path.join(out, "wet.wav"))
    r = compare_bits(dry, wet, "wet == dry, bit for bit")
    res["rules"]["wet_equals_dry"] = r
    if not r["ok"]:
        fails.append("wet.wav differs from dry.wav")
    extra = sorted(glob.glob(os.path.join(out, "runs", "wet-*.wav")))
    per_run = [compare_bits(dry, wavio.read(p), "run wet == dry") for p in extra]
    res["rules"]["every_wet_run_equals_dry"] = {"runs": len(per_run), "ok": all(r["ok"] for r in per_run),
                                                "failed": [r["b"] for r in per_run if not r["ok"]]}
    if not res["rules"]["every_wet_run_equals_dry"]["ok"]:
        fails.append("a wet run differs from dry.wav")
    clip = [wavio.read(os.path.join(out, "work", "clip", f"clip-{c}.wav")) for c in "LR"]
    dc = {"what": "dry == converted clip, bit for bit", "channels_detail": []}
    if dry.frames == clip[0].frames and dry.rate == clip[0].rate and dry.channels == 2:
        dc["channels_detail"] = [compare_channel(dry, clip[ch], ch, 0) for ch in range(2)]
        dc["ok"] = all(c["identical"] for c in dc["channels_detail"])
    else:
        dc.update(ok=False, error=f"dry {dry.frames} frames/{dry.channels} ch vs clip {clip[0].frames}")
    res["rules"]["dry_equals_clip"] = dc
    if not dc["ok"]:
        fails.append("dry.wav is not the clip")
    fnz = first_nonzero(clip[0])
    logged = [run.get("first_nonzero_sample") for run in report["runs"]]
    tb = {"what": "logger's first non-zero input sample == clip's", "clip": fnz, "runs": logged,
          "ok": all(x == fnz for x in logged)}
    res["rules"]["time_base"] = tb
    if not tb["ok"]:
        fails.append("time base: logger's first non-zero sample differs from the clip's")

    # 2. CC stream vs CLI
    cli_path = os.path.join(out, "cli.json")
    duration = dry.frames / rate
    if os.path.exists(cli_path):
        cli = json.load(open(cli_path))
        labels = cli["labels"]
        expected = cli_states(cli, labels)
        daw, problems = states(read_cc(os.path.join(out, "cc.tsv")), a.channel, a.cc_base, cc_count(cli))
        daw_t = [(s / rate, v) for s, v in daw]
        cc = {"cli_predictions": len(expected), "daw_state_changes": len(daw), "structure_problems": problems[:10],
              "cli_top_sequence": top_names(expected, labels), "daw_top_sequence": top_names(daw_t, labels),
              "daw_first_change_s": daw_t[0][0] if daw_t else None,
              "cli_first_prediction_s": expected[0][0] if expected else None}
        if problems:
            fails.append(f"CC structure: {problems[0]}")
        if not daw:
            fails.append("no CC events")
        elif a.deterministic:
            d = deterministic_match(daw, expected, cli_blocks(cli), rate, tol)
            cc["deterministic"] = d
            if not d["ok"]:
                fails.append(f"deterministic: {d['mismatches']} state changes differ from the CLI")
        else:
            t0 = expected[0][0]
            agree, lag = best_lag(expected, daw_t, t0, duration, a.max_lag_s)
            cc["top_agreement"] = {"lag_s": round(lag, 3), "fraction": round(agree, 4),
                                   "at_lag_0": round(top_agreement(expected, daw_t, t0, duration, 0.0), 4),
                                   "min": a.min_top_agreement}
            ve = value_errors(expected, daw_t, lag)
            cc["value_error"] = dict(ve, limit_mean=a.max_value_error)
            if agree < a.min_top_agreement:
                fails.append(f"top agreement {agree:.3f} < {a.min_top_agreement}")
            if ve.get("mean", 1e9) > a.max_value_error:
                fails.append(f"mean genre-value error {ve.get('mean')} > {a.max_value_error}")
        res["rules"]["cc_vs_cli"] = cc
    else:
        res["rules"]["cc_vs_cli"] = "skipped: no cli.json (export.sh --cli PATH)"

    # 3. program changes
    cli_doc = json.load(open(cli_path)) if os.path.exists(cli_path) else None
    labels = cli_doc["labels"] if cli_doc else None
    if cli_doc and cli_doc["settings"]["block"] != block:
        fails.append(f"cli.json was made with block {cli_doc['settings']['block']}, the session's is {block}")
    pr, pfails = program_check(out, report, cli_doc, labels, dry.frames, rate, block, a)
    res["rules"]["program_change"] = pr
    fails.extend(pfails)

    # 4. run to run
    n_ccs = cc_count(cli_doc) if cli_doc else N_GENRES + 1
    paths = sorted(glob.glob(os.path.join(out, "runs", "cc-*.tsv")), key=lambda p: int(p.rsplit("-", 1)[1][:-4]))
    if len(paths) > 1:
        ref_ev = read_cc(paths[0])
        ref, _ = states(ref_ev, a.channel, a.cc_base, n_ccs)
        ref_t = [(s / rate, v) for s, v in ref]
        runs = []
        for p in paths:
            ev = read_cc(p)
            st, _ = states(ev, a.channel, a.cc_base, n_ccs)
            st_t = [(s / rate, v) for s, v in st]
            first_diff = next((i for i, (x, y) in enumerate(zip(ev, ref_ev)) if x != y),
                              None if len(ev) == len(ref_ev) else min(len(ev), len(ref_ev)))
            t0 = max(ref_t[0][0], st_t[0][0]) if ref_t and st_t else 0.0
            runs.append({
                "run": os.path.basename(p), "identical_to_run_1": ev == ref_ev, "events": len(ev),
                "state_changes": len(st), "first_event_s": ev[0][0] / rate if ev else None,
                "first_differing_event": first_diff,
                "first_differing_row": {"run_1": ref_ev[first_diff] if first_diff is not None and first_diff < len(ref_ev) else None,
                                        "this": ev[first_diff] if first_diff is not None and first_diff < len(ev) else None},
                "top_agreement_vs_run_1": round(top_agreement(ref_t, st_t, t0, duration, 0.0), 4) if st_t else None,
                "mean_value_diff_vs_run_1": value_errors(ref_t, st_t, 0.0).get("mean") if st_t else None,
                "top_sequence": top_names(st_t, labels) if os.path.exists(cli_path) else None,
            })
        rr = {"runs": runs, "all_identical": all(r["identical_to_run_1"] for r in runs)}
        res["rules"]["run_to_run"] = rr
        if a.deterministic and not rr["all_identical"]:
            fails.append("runs differ (deterministic mode)")

    res["fails"] = fails
    res["ok"] = not fails
    with open(os.path.join(out, "check.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    summary(res)
    return 0 if res["ok"] else 1


def summary(res):
    r = res["rules"]
    print(f"check.py ({res['mode']}): {'PASS' if res['ok'] else 'FAIL'}")
    ev = r["every_wet_run_equals_dry"]
    print(f"  wet == dry (bit exact): {r['wet_equals_dry']['ok']} (all {ev['runs']} runs: {ev['ok']})   "
          f"dry == clip: {r['dry_equals_clip']['ok']}   "
          f"time base: {r['time_base']['ok']}")
    cc = r.get("cc_vs_cli")
    if isinstance(cc, dict):
        print(f"  CC: {cc['daw_state_changes']} state changes, first at {cc['daw_first_change_s']:.3f} s; "
              f"CLI: {cc['cli_predictions']} predictions from {cc['cli_first_prediction_s']:.3f} s")
        print(f"  top sequence  CLI: {' > '.join(cc['cli_top_sequence'])}")
        print(f"                DAW: {' > '.join(cc['daw_top_sequence'])}")
        if "top_agreement" in cc:
            ta, ve = cc["top_agreement"], cc["value_error"]
            print(f"  top agreement {ta['fraction']:.3f} at lag {ta['lag_s']} s ({ta['at_lag_0']:.3f} at 0); "
                  f"genre value error mean {ve.get('mean', float('nan')):.2f} p95 {ve.get('p95')} max {ve.get('max')}, "
                  f"exact states {ve.get('exact_state_fraction', 0):.2f}")
        if "deterministic" in cc:
            d = cc["deterministic"]
            print(f"  deterministic: {d['mismatches']} mismatches of {d['expected_changes']} expected changes")
    elif cc:
        print(f"  CC: {cc}")
    rr = r.get("run_to_run")
    if rr:
        for x in rr["runs"]:
            print(f"  {x['run']}: {x['events']} events, {x['state_changes']} changes, identical to run 1: "
                  f"{x['identical_to_run_1']}, top agreement {x['top_agreement_vs_run_1']}, "
                  f"mean value diff {x['mean_value_diff_vs_run_1'] if x['mean_value_diff_vs_run_1'] is None else round(x['mean_value_diff_vs_run_1'], 2)}")
    if isinstance(r.get("program_change"), dict):
        summary_pc(r["program_change"])
    for f in res["fails"]:
        print(f"  FAIL: {f}")


def summary_pc(pr):
    def seq(xs):
        return ", ".join(f"{x['program']} ({x['genre']}) @ {x['time_s']:.3f} s" for x in xs) or "none"
    if not pr.get("enabled"):
        print(f"  program change: off; DAW sent {len(pr.get('daw', []))}")
        return
    print(f"  program change (hold {pr['hold_s']} s = {pr.get('hold_samples')} samples):")
    print(f"    DAW: {seq(pr['daw'])}")
    if isinstance(pr.get("expected"), list):
        print(f"    CLI rule: {seq(pr['expected'])}")
        print(f"    mismatches: {pr['mismatches']}, runs identical: {pr['all_runs_identical']} "
              f"({', '.join(str(x['program_changes']) for x in pr['runs'])} per run)")


if __name__ == "__main__":
    sys.exit(main())
