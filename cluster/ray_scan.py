#!/usr/bin/env python3
"""A Genrescope library scan as a Ray Data pipeline.

The per-file work is `Genrescope analyze --jsonl` (the scan's map step: one self-contained JSON row
per file); Ray only spreads batches of paths over its workers and collects the rows; one
`Genrescope import` then merges them into the SQLite library (one writer). Nothing here schedules
or retries by itself: that is Ray's job.

    python cluster/ray_scan.py --genrescope target/bundled/Genrescope --model models \
        --db /shared/library.sqlite [--address auto] [--rows rows.jsonl] FOLDER_OR_LIST...

Inputs are folders (walked for audio files) or text files with one path per line. The binary and
the model folder must be at the same path on every worker (a shared mount; or ship them with a
runtime_env `working_dir`), and so must the music: rows are merged by their canonical path.
"""
import argparse
import json
import os
import subprocess
import sys

import ray

AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac", ".mp4", ".au", ".snd"}


def list_files(inputs):
    files = []
    for item in inputs:
        if os.path.isdir(item):
            for root, _, names in os.walk(item):
                files += [os.path.join(root, n) for n in names if os.path.splitext(n)[1].lower() in AUDIO]
        else:
            with open(item, encoding="utf-8") as f:
                files += [line.strip() for line in f if line.strip()]
    return sorted(files)


class MapStep:
    """One `Genrescope analyze --jsonl` process per batch of paths (the model loads once per batch)."""

    def __init__(self, genrescope, model, jobs):
        self.cmd = [genrescope, "analyze", "--jsonl", "--model", model, "--jobs", str(jobs)]

    def __call__(self, batch):
        paths = list(batch["path"])
        out = subprocess.run(
            self.cmd, input="".join(p + "\n" for p in paths), capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            # Only a model that does not load fails the map step; a bad file is a row with its error.
            raise RuntimeError(f"Genrescope analyze --jsonl failed ({out.returncode}): {out.stderr.strip()}")
        rows = out.stdout.splitlines()
        if len(rows) != len(paths):
            raise RuntimeError(f"{len(paths)} paths gave {len(rows)} rows")
        return {"row": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="folders to walk, or files with one path per line")
    ap.add_argument("--genrescope", required=True, help="the Genrescope binary (same path on every worker)")
    ap.add_argument("--model", required=True, help="the model folder (same path on every worker)")
    ap.add_argument("--db", required=True, help="the library to import into")
    ap.add_argument("--rows", help="also keep the rows in this JSONL file")
    ap.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    ap.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    ap.add_argument("--batch", type=int, default=32, help="files per map task")
    ap.add_argument("--jobs", type=int, default=1, help="engines per map task (CPUs it asks Ray for)")
    args = ap.parse_args(argv)

    genrescope, model = os.path.abspath(args.genrescope), os.path.abspath(args.model)
    files = [os.path.abspath(f) for f in list_files(args.inputs)]
    if not files:
        sys.exit("no audio files found")
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False)
    ds = ray.data.from_items([{"path": f} for f in files])
    rows = ds.map_batches(
        MapStep,
        fn_constructor_args=(genrescope, model, args.jobs),
        batch_size=args.batch,
        num_cpus=args.jobs,
        concurrency=(1, max(1, int(ray.available_resources().get("CPU", 1)) // args.jobs)),
    )
    lines = [r["row"] for r in rows.iter_rows()]
    ray.shutdown()
    # Rows are self-contained, so their order does not matter to the import.
    rows_path = args.rows or args.db + ".rows.jsonl"
    with open(rows_path, "w", encoding="utf-8") as f:
        for line in lines:
            json.loads(line)  # a partial line would be an import error later; fail here instead
            f.write(line + "\n")
    subprocess.run([genrescope, "import", rows_path, "--db", args.db], check=True)
    if not args.rows:
        os.remove(rows_path)
    print(f"{len(lines)} rows from {len(files)} files imported into {args.db}")


if __name__ == "__main__":
    main()
