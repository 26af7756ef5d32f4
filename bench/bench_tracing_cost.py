"""What OpenTelemetry tracing costs the request path: off (the default) and on, against the
code from before tracing existed.

Side by side in one run, alternating round by round, each contender started, warmed up,
measured and stopped in its turn, on one model (default ``fashion``: the smallest, where the
request path weighs most against inference):

1. ``before``: the service at ``--base`` (a git revision from before ``service/core/tracing.py``),
   unpacked with ``git archive`` and run from there (``PYTHONPATH``), same venv;
2. ``off``: this tree, ``OTEL_EXPORTER_OTLP_ENDPOINT`` unset;
3. ``on``: this tree exporting every request's spans over OTLP/HTTP to a receiver in this
   process (``testkit.otlp_receiver``, which decodes them: a collector sharing the cores,
   so this row is an upper bound of the cost on this machine).

Load: ``wrk -t2 -c64`` and ``wrk -t1 -c1``, ``POST /generate?model=MODEL`` with ``{}`` (one
PNG, random seed: no response cache), 1 s warm-up then ``--seconds`` measured; wrk runs on
the same 2 cores as the server. 127.0.0.1 only, every phase bounded.

    .venv/bin/python bench/bench_tracing_cost.py --base 81dfa55~1 --seconds 8 --rounds 3

Prints requests/s and p50/p99 per contender (median over rounds, min–max) and the ratios to
``before``. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_service import LOADS, Load, cpu_model, load_average, write_lua, wrk
from testkit.servers import running_server

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("before", "off", "on")


@contextlib.contextmanager
def source_at(revision: str) -> Iterator[Path]:
    """The repository's files at ``revision`` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="dcgan-base-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


@contextlib.contextmanager
def contender(name: str, base: Path, model: str) -> Iterator[str]:
    env = {"DCGAN_DEFAULT_MODEL": model}
    if name == "before":
        env["PYTHONPATH"] = str(base)
    if name != "on":
        with running_server(ROOT / "models", env) as server:
            yield server.url
        return
    from testkit.otlp_receiver import otlp_receiver

    with otlp_receiver() as receiver:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        with running_server(ROOT / "models", env) as server:
            yield server.url
        print(f"  (receiver got {len(receiver.snapshot())} spans)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="81dfa55~1", help="a revision from before tracing")
    parser.add_argument("--model", default="fashion")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    loads: tuple[Load, ...] = tuple(load for load in LOADS if load.key in ("c1", "c64"))
    rates: dict[tuple[str, str], list[float]] = {}
    p50s: dict[tuple[str, str], list[float]] = {}
    p99s: dict[tuple[str, str], list[float]] = {}
    print(f"# {cpu_model()}; load average before: {load_average()}")
    with source_at(args.base) as base, tempfile.TemporaryDirectory() as tmp:
        scripts = {load.key: write_lua(Path(tmp), load) for load in loads}
        for round_ in range(args.rounds):
            # a different order each round: no contender always goes first
            order = CONTENDERS[round_ % 3 :] + CONTENDERS[: round_ % 3]
            for name in order:
                with contender(name, base, args.model) as url:
                    for load in loads:
                        target = f"{url}/generate?model={args.model}"
                        wrk(target, load, scripts[load.key], 1)
                        result = wrk(target, load, scripts[load.key], args.seconds)
                        if result.non_2xx or result.socket_errors:
                            print(
                                f"  {name} {load.key}: {result.non_2xx} non-2xx, "
                                f"{result.socket_errors}",
                                file=sys.stderr,
                            )
                        rates.setdefault((name, load.key), []).append(result.ok_per_s)
                        p50s.setdefault((name, load.key), []).append(result.p50_ms)
                        p99s.setdefault((name, load.key), []).append(result.p99_ms)
                print(f"round {round_ + 1}: {name} done", file=sys.stderr)
    print(f"\n{args.model}, `POST /generate` `{{}}`, median of {args.rounds} rounds (min–max)\n")
    print(
        "| contender | "
        + " | ".join(f"{load.key} req/s | {load.key} p50 / p99 ms" for load in loads)
        + " |"
    )
    print("|---|" + "---|---|" * len(loads))
    for name in CONTENDERS:
        cells = []
        for load in loads:
            r = rates[(name, load.key)]
            cells.append(f"{statistics.median(r):.0f} ({min(r):.0f}–{max(r):.0f})")
            cells.append(
                f"{statistics.median(p50s[(name, load.key)]):.1f} / "
                f"{statistics.median(p99s[(name, load.key)]):.1f}"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    for load in loads:
        before = statistics.median(rates[("before", load.key)])
        for name in ("off", "on"):
            ratio = statistics.median(rates[(name, load.key)]) / before
            print(f"{load.key}: {name} / before = {ratio:.3f}")


if __name__ == "__main__":
    main()
