"""Training recipes side by side: each trained on the same data with the same wall-clock
budget on this machine, then scored by `dcgan evaluate` on held-out images.

    .venv/bin/python bench/recipe_compare.py --data data/cartoon-faces/faces \\
        --held-out data/cartoon-faces-heldout/faces --budget-s 300 --seeds 0

The budget becomes a step count per recipe: first each recipe's training speed is measured
back to back (``--calibrate-steps`` steps, no evaluation), then each trains for
``budget × its steps/s`` steps. So a recipe whose step costs more (R1's extra D pass) gets
fewer steps, and the comparison no longer depends on what else the machine runs while the
long runs go (``--steps N`` instead gives every recipe N steps). Every run is a real
`dcgan train` + `dcgan export` (commands printed and recorded). Prints a Markdown table
(feature FD, KID, precision, recall, coverage beside their real-vs-real floors, steps, wall
time, images/s) and writes it with the raw numbers to --out. Measures; asserts nothing.
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
    # TTUR as SAGAN/BigGAN use it: D learns 4× faster than G
    "EMA + TTUR": ["--lr", "1e-4", "--lr-d", "4e-4"],
    "EMA + hinge + SN": ["--loss", "hinge", "--spectral-norm"],
    "EMA + hinge + SN + TTUR": [
        "--loss",
        "hinge",
        "--spectral-norm",
        "--lr",
        "1e-4",
        "--lr-d",
        "4e-4",
    ],
    # gamma for 64×64 faces: StyleGAN2-ADA's heuristic 0.0002·res²/batch gives ~0.013; 0.1 is
    # on the strong side of the usual 0.01..10 range for short runs
    "EMA + R1": ["--r1-gamma", "0.1"],
}


def run(args: list[str]) -> str:
    print("$ dcgan " + shlex.join(args[3:]), flush=True)
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def slug_of(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def calibrate(args: argparse.Namespace, common: list[str], name: str) -> float:
    """Training steps per second of one recipe: a short run with no evaluation; the rate
    `dcgan train` prints counts the steps' own time (no start-up, sample grids or GIF)."""
    run_dir = args.out / "calibrate" / slug_of(name)
    flags = [*common, *CANDIDATES[name], "--max-steps", str(args.calibrate_steps)]
    flags += ["--eval-every", "0", "--run-dir", str(run_dir)]
    out = run([*DCGAN, "train", *flags])
    images_per_s = re.search(r"([\d.]+) images/s", out)
    if images_per_s is None:
        raise SystemExit(f"no images/s in `dcgan train`'s output:\n{out[-2000:]}")
    return float(images_per_s[1]) / int(args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--held-out", required=True, help="real images to score on")
    parser.add_argument("--preset", default="dcgan64")
    parser.add_argument("--width", default="0.25")
    parser.add_argument("--batch-size", default="64")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget-s", type=float, help="wall-clock seconds of training each")
    budget.add_argument("--steps", type=int, help="the same step count for every recipe")
    parser.add_argument("--calibrate-steps", type=int, default=60)
    parser.add_argument("--threads", default="2", help="torch threads of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "recipes")
    args = parser.parse_args()
    common = ["--preset", args.preset, "--data", args.data, "--width", args.width]
    common += ["--batch-size", args.batch_size, "--threads", args.threads]
    common += ["--no-progress", "--overwrite"]
    steps = {name: args.steps for name in args.candidates}
    rates: dict[str, float] = {}
    if args.budget_s is not None:
        for name in args.candidates:
            rates[name] = calibrate(args, common, name)
            steps[name] = max(1, round(args.budget_s * rates[name]))
            print(f"{name}: {rates[name]:.2f} steps/s -> {steps[name]} steps", flush=True)
    rows = []
    for seed in args.seeds:
        for name in args.candidates:
            slug = slug_of(name)
            run_dir = args.out / f"{slug}-s{seed}"
            flags = [*common, *CANDIDATES[name], "--max-steps", str(steps[name])]
            flags += ["--eval-every", "2", "--seed", str(seed), "--run-dir", str(run_dir)]
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
                    "steps": record["steps"],
                    "budget_s": args.budget_s,
                    "calibrated_steps_per_s": rates.get(name),
                    "wall_time_s": record["wall_time_s"],
                    "images_per_s": record["steps"] * record["batch_size"] / record["wall_time_s"],
                    **{k: (m["value"], m["floor"]) for k, m in metrics.items()},
                    "samples": scored["samples"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    lines = [
        "| recipe | seed | FD (floor) | KID (floor) | precision (floor) | recall (floor) | "
        "coverage (floor) | steps | wall time | images/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r[m][0]:.3g} ({r[m][1]:.2g})"
            for m in ("fd", "kid", "precision", "recall", "coverage")
        ]
        lines.append(
            f"| {r['candidate']} | {r['seed']} | {' | '.join(cells)} | {r['steps']} | "
            f"{r['wall_time_s']:.0f} s | "
            f"{r['images_per_s']:.0f} |"
        )
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recipes.md").write_text(table + "\n")
    (args.out / "recipes.json").write_text(json.dumps(rows, indent=1))
    print("\n" + table)


if __name__ == "__main__":
    main()
