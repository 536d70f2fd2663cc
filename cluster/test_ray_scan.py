#!/usr/bin/env python3
"""CI check: the Ray pipeline's library equals a single-machine `Genrescope scan` of the same files,
row for row (every column but the row id and the analysis time, plus each timeline and model).

    cluster/.venv/bin/python cluster/test_ray_scan.py --genrescope target/release/Genrescope --model models
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ray_scan  # noqa: E402

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def table(db):
    conn = sqlite3.connect(db)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(tracks)") if r[1] not in ("id", "analysed_at")]
    sql = (
        "SELECT path, " + ", ".join("t." + c for c in cols) + ", (SELECT data FROM timelines WHERE track_id = t.id),"
        " (SELECT name || ' ' || manifest_sha256 || ' ' || settings FROM models WHERE id = t.model_id)"
        " FROM tracks t ORDER BY path"
    )
    rows = {r[0]: r[1:] for r in conn.execute(sql)}
    conn.close()
    return cols, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--genrescope", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--gtzan", default=os.path.join(os.path.dirname(__file__), "../../shared/datasets/gtzan"))
    ap.add_argument("--clips", type=int, default=4)
    args = ap.parse_args()
    clips = []
    for g in GENRES[: args.clips]:
        d = os.path.join(args.gtzan, g)
        if os.path.isdir(d):
            clips.append(os.path.join(d, sorted(os.listdir(d))[0]))
    if not clips:
        sys.exit(f"no shared clips under {args.gtzan}")
    with tempfile.TemporaryDirectory(prefix="genrescope-ray-") as tmp:
        music = os.path.join(tmp, "music")
        os.mkdir(music)
        for i, c in enumerate(clips):
            os.symlink(os.path.abspath(c), os.path.join(music, f"{i}{os.path.splitext(c)[1]}"))
        # A file that does not decode is a row too (with its error), in both.
        with open(os.path.join(music, "broken.wav"), "wb") as f:
            f.write(b"RIFF\x10\x00\x00\x00WAVEjunk")
        local, cluster = os.path.join(tmp, "local.sqlite"), os.path.join(tmp, "ray.sqlite")
        subprocess.run(
            [args.genrescope, "scan", music, "--db", local, "--model", args.model, "--jobs", "1", "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ray_scan.main([music, "--genrescope", args.genrescope, "--model", args.model, "--db", cluster,
                       "--num-cpus", "2", "--batch", "2"])
        (cols_a, a), (cols_b, b) = table(local), table(cluster)
        assert cols_a == cols_b, (cols_a, cols_b)
        assert len(a) == len(clips) + 1, a.keys()
        assert a.keys() == b.keys(), (sorted(a), sorted(b))
        for path in a:
            for col, x, y in zip(cols_a + ["timeline", "model"], a[path], b[path]):
                assert x == y, f"{path}: {col} differs: local {x!r}, ray {y!r}"
        print(f"ray pipeline: {len(a)} rows, identical to the local scan")


if __name__ == "__main__":
    main()
