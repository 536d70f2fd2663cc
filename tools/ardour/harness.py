#!/usr/bin/env python3
"""Helpers for tools/ardour/export.sh (stdlib only).

  harness.py midi2cc MIDI.tsv CC.tsv [--pc PC.tsv] [--frames N]
      The logger's raw log -> cc.tsv (sample, channel 1-16, cc, value): control changes seen while
      the transport rolled (the export proper; export pre-roll and idle cycles do not roll), at
      session sample transport_sample + time - offset. With --pc, program changes (status 0xCn,
      2 bytes as Ardour passes a VST3's kCtrlProgramChange on) the same way -> pc.tsv (sample,
      channel 1-16, program).
  harness.py report OUT [options]
      Collects OUT/work/results/*.txt (key=value lines written by the Lua scripts),
      OUT/work/attempts.tsv and the logs into OUT/report.json.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import re
import subprocess
import sys


def read_kv(path):
    d = {}
    if not os.path.exists(path):
        return d
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = num(v)
    return d


def num(v):
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v


def read_midi_log(path):
    with open(path) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [{k: int(v) for k, v in r.items()} for r in rows]


def midi_split(rows, frames=None):
    """(cc rows, program-change rows, stats) from the logger's rows."""
    cc, pc = [], []
    stats = {"logged": len(rows), "not_rolling": 0, "not_cc": 0, "other": 0, "past_end": 0}
    for r in rows:
        if not r["rolling"]:
            stats["not_rolling"] += 1
            continue
        sample = r["transport_sample"] + r["time"] - r["offset"]
        is_cc = r["size"] == 3 and (r["b0"] & 0xF0) == 0xB0
        is_pc = r["size"] == 2 and (r["b0"] & 0xF0) == 0xC0
        if not is_cc:
            stats["not_cc"] += 1
        if not (is_cc or is_pc):
            stats["other"] += 1
            continue
        if frames is not None and sample >= frames:
            stats["past_end"] += 1
            continue
        if is_cc:
            cc.append((sample, (r["b0"] & 0x0F) + 1, r["b1"], r["b2"]))
        else:
            pc.append((sample, (r["b0"] & 0x0F) + 1, r["b1"]))
    stats["cc"] = len(cc)
    stats["program_changes"] = len(pc)
    return cc, pc, stats


def write_tsv(path, header, rows):
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join("%d" % x for x in row) + "\n")


def cmd_midi2cc(a):
    cc, pc, stats = midi_split(read_midi_log(a.midi), a.frames)
    write_tsv(a.cc, ("sample", "channel", "cc", "value"), cc)
    if a.pc:
        write_tsv(a.pc, ("sample", "channel", "program"), pc)
    with open(os.path.splitext(a.cc)[0] + ".stats.json", "w") as f:
        json.dump(stats, f, indent=1)


def tool_version(cmd, pattern=r".*"):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        m = re.search(pattern, p.stdout + p.stderr)
        return m.group(0).strip() if m else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def rolling_wall(w):
    t0, t1 = w.get("logger_rolling_t0_us"), w.get("logger_rolling_t1_us")
    if isinstance(t0, int) and isinstance(t1, int) and t0 >= 0 and t1 > t0:
        return (t1 - t0) / 1e6
    return None


def cmd_report(a):
    out = a.out
    work = os.path.join(out, "work")
    results = {os.path.basename(p)[:-4]: read_kv(p) for p in sorted(glob.glob(os.path.join(work, "results", "*.txt")))}
    probe_events = results.pop("probe-events", None)
    with open(os.path.join(work, "attempts.tsv")) as f:
        attempts = [dict(r, try_=None) for r in csv.DictReader(f, delimiter="\t")]
    for r in attempts:
        del r["try_"]
        r["try"], r["rc"], r["seconds"] = int(r["try"]), int(r["rc"]), float(r["seconds"])

    wet = [results.get(f"wet-{n}", {}) for n in range(1, a.runs + 1)]
    runs = []
    for n, w in enumerate(wet, 1):
        stats_path = os.path.join(out, "runs", f"cc-{n}.stats.json")
        stats = json.load(open(stats_path)) if os.path.exists(stats_path) else {}
        runs.append({
            "run": n,
            "export_s": w.get("export_s"),
            "export_speed_x": w.get("export_speed"),
            "midi_events_logged": w.get("midi_events"),
            "events_before_export": w.get("events_before_export"),
            "cc_events": stats.get("cc"),
            "program_changes": stats.get("program_changes"),
            "midi_filter": stats,
            "cycles": w.get("logger_cycles"),
            "rolling_cycles": w.get("logger_rolling_cycles"),
            "first_rolling_sample": w.get("logger_first_rolling_sample"),
            "last_rolling_end": w.get("logger_last_rolling_end"),
            "first_nonzero_sample": w.get("logger_first_nonzero_sample"),
            "split_cycles": w.get("logger_offset_cycles"),
            "rolling_wall_s": rolling_wall(w),
            "rolling_speed_x": round(a.frames / a.rate / rolling_wall(w), 1) if rolling_wall(w) else None,
            "dropped_events": w.get("logger_dropped"),
            "wav": f"runs/wet-{n}.wav",
            "cc_tsv": f"runs/cc-{n}.tsv",
            "midi_tsv": f"runs/midi-{n}.tsv",
            "pc_tsv": f"runs/pc-{n}.tsv",
        })
    first = wet[0] if wet else {}
    nframes = sorted({w.get("logger_min_nframes") for w in wet} | {w.get("logger_max_nframes") for w in wet} - {None})
    realtime = bool(first.get("realtime_export"))
    speeds = [r["rolling_speed_x"] for r in runs if r.get("rolling_speed_x")]

    probe = None
    if probe_events is not None:
        with open(os.path.join(work, "results", "probe-events.txt")) as f:
            lines = [l.strip() for l in f if l.strip()]
        probe = {
            "what": "gdb breakpoints in libardour's VST3PI::update_processor (setupProcessing) and "
                    "VST3PI::process (ProcessData.processMode) during one wet export; see probe_processmode.gdb.py",
            "events": lines,
            "setupProcessing_modes": sorted({m.group(1) for l in lines for m in [re.search(r"setupProcessing processMode=(\w+)", l)] if m}),
            "process_mode_counts": next((l.split(": ", 1)[1] for l in lines if l.startswith("process() calls")), None),
        }

    report = {
        "harness": "tools/ardour/export.sh",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {
            "ardour_package": tool_version(["dpkg-query", "-W", "-f=${Version}", "ardour"]),
            "ardour_lua": tool_version(["ardour7-lua", "--version"], r"ardour-lua version \S+"),
            "backend": first.get("backend") or results.get("create", {}).get("backend"),
            "sox": tool_version(["sox", "--version"], r"v\S+"),
        },
        "clip": {"source": a.clip, "frames": a.frames, "duration_s": a.frames / a.rate,
                 "pad_start_s": a.pad_start, "converted": "work/clip/clip-L.wav, clip-R.wav (float32, session rate)"},
        "plugin": {"vst3": a.vst3, "name": first.get("plugin_name"), "latency": first.get("plugin_latency"),
                   "processors": first.get("processors")},
        "session": {
            "rate": results.get("dry", {}).get("session_rate"),
            "block_requested": a.block,
            "block_session": results.get("dry", {}).get("block"),
            "block_seen_by_logger": nframes,
            "superclock": results.get("create", {}).get("superclock"),
        },
        "export": {
            "kind": export_kind(probe, speeds),
            "session_option_realtime_export": realtime,
            "preroll_s": first.get("export_preroll_s"),
            "dry_s": results.get("dry", {}).get("export_s"),
            "dry_speed_x": results.get("dry", {}).get("export_speed"),
            "settle_s": a.settle,
        },
        "program_change": {
            "enabled": a.program_hold is not None,
            "hold_s": a.program_hold,
            "set_by": "export_session.lua: ARDOUR.LuaAPI.set_processor_param (plain values) after the insert",
            "read_back": {k[len("param_"):]: v for k, v in first.items() if k.startswith("param_")},
        },
        "vst3_process_mode_probe": probe or "not run (export.sh --probe)",
        "runs": runs,
        "steps": results,
        "attempts": attempts,
        "retries": sum(1 for r in attempts if r["reason"] != "ok"),
        "failed_tries": [r for r in attempts if r["reason"] != "ok"],
        "seconds_total": a.seconds,
        "files": {k: k for k in ("dry.wav", "wet.wav", "cc.tsv", "pc.tsv", "cli.json") if os.path.exists(os.path.join(out, k))},
        "cli": a.cli or None,
    }
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")


def export_kind(probe, speeds):
    if probe and any(e.startswith("AudioEngine::freewheel(1)") for e in probe["events"]):
        return "freewheel (gdb probe: AudioEngine::freewheel(1) during the export)"
    if speeds and min(speeds) > 1.5:
        return f"faster than real time ({min(speeds)}x or more while rolling): freewheel"
    if speeds:
        return f"about real time ({min(speeds)}x while rolling)"
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("midi2cc")
    p.add_argument("midi")
    p.add_argument("cc")
    p.add_argument("--pc")
    p.add_argument("--frames", type=int)
    p.set_defaults(fn=cmd_midi2cc)
    p = sub.add_parser("report")
    p.add_argument("out")
    for k in ("rate", "block", "frames", "runs", "tries"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--pad-start", type=float, default=0.0)
    p.add_argument("--realtime-export", type=int, default=0)
    p.add_argument("--clip")
    p.add_argument("--vst3")
    p.add_argument("--cli", default="")
    p.add_argument("--seconds", type=float)
    p.add_argument("--program-hold", type=float, help="seconds; given = the wet runs had 'Program change' on")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
