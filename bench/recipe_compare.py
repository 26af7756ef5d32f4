"""Training recipes side by side: each trained on the same data with the same step budget,
one after the other on this machine, then scored by `dcgan evaluate` on held-out images.

    .venv/bin/python bench/recipe_compare.py --data data/cartoon-faces/faces \\
        --held-out data/cartoon-faces-heldout/faces --steps 3000 --seeds 0

Every run is a real `dcgan train` + `dcgan export` (commands printed and recorded). Prints a
Markdown table (feature FD, KID, precision, recall, coverage beside their real-vs-real
floors, wall time, images/s) and writes it with the raw numbers to --out. Measures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DCGAN = [sys.executable, "-m", "training"]

# name -> `dcgan train` flags on top of the common ones
CANDIDATES = {
    "plain (pytorch/examples)": ["--no-ema"],
    "EMA": [],
    "EMA + DiffAugment": ["--augment", "color,translation,cutout"],
    "EMA + DiffAugment (translation, cutout)": ["--augment", "translation,cutout"],
}


def run(args: list[str]) -> str:
    print("$ dcgan " + shlex.join(args[3:]), flush=True)
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--held-out", required=True, help="real images to score on")
    parser.add_argument("--preset", default="dcgan64")
    parser.add_argument("--width", default="0.25")
    parser.add_argument("--batch-size", default="64")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "recipes")
    args = parser.parse_args()
    common = ["--preset", args.preset, "--data", args.data, "--width", args.width]
    common += ["--batch-size", args.batch_size, "--max-steps", str(args.steps)]
    common += ["--eval-every", "2", "--no-progress", "--overwrite"]
    rows = []
    for seed in args.seeds:
        for name in args.candidates:
            slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
            run_dir = args.out / f"{slug}-s{seed}"
            flags = [*common, *CANDIDATES[name], "--seed", str(seed), "--run-dir", str(run_dir)]
            run([*DCGAN, "train", *flags])
            record = json.loads((run_dir / "run.json").read_text())
            models = args.out / "models"
            out = run(
                [
                    *DCGAN,
                    "export",
                    str(run_dir),
                    "--name",
                    f"{slug}-s{seed}",
                    "--models-dir",
                    str(models),
                    "--quality-data",
                    "none",
                ]
            )
            version = re.search(r"^exported .* to (\S+)$", out, re.M)[1]  # type: ignore[index]
            scored = json.loads(
                run(
                    [
                        *DCGAN,
                        "evaluate",
                        version,
                        "--data",
                        args.held_out,
                        "--samples",
                        str(args.samples),
                        "--json",
                    ]
                )
            )
            metrics = scored["metrics"]
            rows.append(
                {
                    "candidate": name,
                    "seed": seed,
                    "command": record["command"],
                    "wall_time_s": record["wall_time_s"],
                    "images_per_s": record["steps"] * record["batch_size"] / record["wall_time_s"],
                    **{k: (m["value"], m["floor"]) for k, m in metrics.items()},
                    "samples": scored["samples"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        "| recipe | seed | FD (floor) | KID (floor) | precision (floor) | recall (floor) | "
        "coverage (floor) | wall time | images/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r[m][0]:.3g} ({r[m][1]:.2g})"
            for m in ("fd", "kid", "precision", "recall", "coverage")
        ]
        lines.append(
            f"| {r['candidate']} | {r['seed']} | {' | '.join(cells)} | {r['wall_time_s']:.0f} s | "
            f"{r['images_per_s']:.0f} |"
        )
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recipes.md").write_text(table + "\n")
    (args.out / "recipes.json").write_text(json.dumps(rows, indent=1))
    print("\n" + table)


if __name__ == "__main__":
    main()
