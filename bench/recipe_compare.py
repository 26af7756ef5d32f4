"""Training recipes side by side: each trained on the same data with the same wall-clock
budget on this machine, then scored by `dcgan evaluate` on held-out images.

    .venv/bin/python bench/recipe_compare.py --data data/cartoon-faces/faces \\
        --held-out data/cartoon-faces-heldout/faces --budget-steps 2500 --seeds 0

The budget is the time the first recipe (the plain one) takes for ``--budget-steps`` steps.
Each recipe's cost per step is timed first, interleaved in one process (rounds of a few
steps, one recipe after another, the median round each), and each recipe then trains for the
steps that fit that time: a recipe whose step costs more (R1's extra D pass) gets fewer. Only
the ratios of step costs are used; still, on a machine busy with other work they swung by
±15% (docs/benchmarks.md, round 2), so use it on an idle one (``--steps N`` instead gives
every recipe N steps). Every run is a real `dcgan train` +
`dcgan export` (commands printed and recorded). Prints a Markdown table (feature FD, KID,
precision, recall, coverage beside their real-vs-real floors, steps, wall time, images/s)
and writes it with the raw numbers to --out. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from training.nets.config import TrainConfig  # noqa: E402  (after the repo is importable)

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
    # G at its plain rate, D twice as fast: does TTUR above fail because G learns slowly?
    "EMA + TTUR (G 2e-4, D 4e-4)": ["--lr-d", "4e-4"],
    "EMA + R1 (gamma 1)": ["--r1-gamma", "1"],
    "EMA + R1 + DiffAugment (translation, cutout)": [
        "--r1-gamma",
        "0.1",
        "--augment",
        "translation,cutout",
    ],
}


def run(args: list[str]) -> str:
    print("$ dcgan " + shlex.join(args[3:]), flush=True)
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def slug_of(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def train_config(flags: list[str]) -> TrainConfig:
    """The TrainConfig that `dcgan train FLAGS` runs, parsed by that command itself."""
    import typer

    from training.cli import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    params = command.make_context("train", list(flags)).params
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in params.items() if k in fields})


def step_costs(args: argparse.Namespace, names: list[str]) -> dict[str, float]:
    """CPU seconds per training step of each recipe, timed interleaved in one process: rounds
    of ``--calibrate-steps`` steps, one recipe after another (a rotating order), the median
    round per recipe. Only the ratios are used."""
    import torch

    from training.loop.train import Trainer

    # one thread: its CPU time is the work itself; with more, threads that spin at a barrier
    # while the machine is busy bill CPU time that is not work
    torch.set_num_threads(1)
    trainers = {}
    for name in names:
        flags = ["--preset", args.preset, "--data", args.data, "--width", args.width]
        flags += ["--batch-size", args.batch_size, "--limit", str(4 * int(args.batch_size))]
        flags += ["--eval-every", "0", "--no-progress", *CANDIDATES[name]]
        flags += ["--run-dir", str(args.out / "calibrate" / slug_of(name))]
        trainers[name] = Trainer(train_config(flags))
    rounds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.calibrate_rounds + 1):  # the first round warms up, not counted
        order = names[r % len(names) :] + names[: r % len(names)]  # nobody always goes first
        for name in order:
            trainer = trainers[name]
            batch = trainer.data.images[: trainer.batch]
            # CPU time of this process: other processes on the machine barely move it
            start = time.process_time()
            for _ in range(args.calibrate_steps):
                trainer.train_step(batch)
                trainer.step += 1
            rounds[name].append((time.process_time() - start) / args.calibrate_steps)
    for trainer in trainers.values():
        trainer.close()
    return {name: statistics.median(times[1:]) for name, times in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--held-out", required=True, help="real images to score on")
    parser.add_argument("--preset", default="dcgan64")
    parser.add_argument("--width", default="0.25")
    parser.add_argument("--batch-size", default="64")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument(
        "--budget-steps",
        type=int,
        help="the wall-clock budget, as steps of the first recipe: every other recipe gets "
        "the steps that take it the same time (from the measured step costs)",
    )
    budget.add_argument("--steps", type=int, help="the same step count for every recipe")
    parser.add_argument(
        "--calibrate-steps", type=int, default=16, help="steps a round (a multiple of R1's 16)"
    )
    parser.add_argument("--calibrate-rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        default="1",
        help="torch threads of every run (1 holds up best on a busy machine)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "recipes")
    args = parser.parse_args()
    common = ["--preset", args.preset, "--data", args.data, "--width", args.width]
    common += ["--batch-size", args.batch_size, "--threads", args.threads]
    common += ["--no-progress", "--overwrite"]
    steps = {name: args.steps for name in args.candidates}
    costs: dict[str, float] = {}
    if args.budget_steps is not None:
        costs = step_costs(args, args.candidates)
        reference = args.candidates[0]
        budget_s = args.budget_steps * costs[reference]
        for name in args.candidates:
            steps[name] = max(1, round(budget_s / costs[name]))
            print(
                f"{name}: {costs[name] * 1e3:.0f} ms of CPU a step "
                f"({costs[name] / costs[reference]:.3f}x {reference}) -> {steps[name]} steps",
                flush=True,
            )
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
                    "budget_steps": args.budget_steps,
                    "budget_reference": args.candidates[0],
                    "step_cost_s": costs.get(name),
                    "relative_step_cost": (
                        costs[name] / costs[args.candidates[0]] if costs else None
                    ),
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
