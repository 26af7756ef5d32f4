"""Would gRPC serve uint8 tensors faster than the binary REST path? A measurement, not a
feature: the service has no gRPC endpoint, and this decides whether it should get one.

Two contenders, side by side in one run, alternating round by round:

1. ``rest``: the service (``python -m service``) answering ``POST /v2/models/NAME/infer``
   with seeds as JSON and the ``images`` output as binary tensor data, loaded with ``wrk``;
2. ``grpc``: this script's ``--serve`` mode: the same app (``service.http.app.create_app``: the
   same model manager, micro-batcher and job runner) behind a ``grpc.aio`` server speaking
   Triton's ``inference.GRPCInferenceService/ModelInfer`` (the proto in ``tritonclient``),
   seeds in ``raw_input_contents`` and the pixels in ``raw_output_contents``, loaded with
   ``h2load`` (Debian ``nghttp2-client``) sending the same gRPC message on every stream.

Both load generators are compiled, closed loop, 64 connections one request each in flight,
on the same 2 cores as the server, 127.0.0.1 only, every phase bounded. The gRPC side skips
what the REST side pays for (API key, deadline header, metrics, access log), so it is, if
anything, favoured.

    apt-get install wrk nghttp2-client
    .venv/bin/python bench/bench_grpc.py --seconds 8 --rounds 3

Prints images/s for batches of 1 and 64 images per request (median over rounds, min–max)
and the gRPC/REST ratio. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_service import Load, cpu_model, load_average, wrk
from testkit.servers import free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
METHOD = "/inference.GRPCInferenceService/ModelInfer"
BATCHES = (1, 64)


# ---- the gRPC side: the app's own machinery behind grpc.aio ---------------------------------


async def serve_grpc(port: int, models_dir: Path, model: str) -> None:
    import grpc
    import numpy as np
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    from contract.latents import latents_for_seeds
    from service.api.lookup import resolve
    from service.api.responses import run_job
    from service.core.settings import Settings
    from service.http.app import create_app
    from service.inference.batching import Job

    app = create_app(Settings(models_dir=models_dir, default_model=model))
    manager, services = app.state.manager, app.state.services
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:  # no HTTP connection to watch
        await never.wait()
        return {"type": "http.disconnect"}

    def pixels(images: Any, check: Any) -> bytes:
        return bytes(np.ascontiguousarray(images).data)

    class Servicer(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
        async def ModelInfer(self, request: Any, context: Any) -> Any:
            entry = resolve(manager, request.model_name, None)
            manager.acquire(entry)
            try:
                seeds = np.frombuffer(request.raw_input_contents[0], "<u8").tolist()
                m = entry.manifest
                job = Job(
                    latents=functools.partial(latents_for_seeds, seeds, m.nz),
                    size=len(seeds),
                    finish=pixels,
                )
                raw = await run_job(entry, job, receive, services)
            finally:
                manager.release(entry)
            shape = [len(seeds), m.image_size, m.image_size, m.channels]
            output = service_pb2.ModelInferResponse.InferOutputTensor(
                name="images", datatype="UINT8", shape=shape
            )
            return service_pb2.ModelInferResponse(
                model_name=entry.name,
                model_version=str(entry.version),
                outputs=[output],
                raw_output_contents=[raw],
            )

    async with app.router.lifespan_context(app):
        server = grpc.aio.server(options=[("grpc.max_send_message_length", 64 << 20)])
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("serving", flush=True)
        await server.wait_for_termination()


@contextlib.contextmanager
def grpc_server(model: str) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port), "--model", model]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                log.seek(0)
                if b"serving" in log.read():
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("the gRPC server did not start")
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace"))
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# ---- the loads ------------------------------------------------------------------------------


def grpc_message(model: str, seeds: list[int]) -> bytes:
    """One length-prefixed gRPC message (uncompressed) of a ModelInferRequest."""
    import numpy as np
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(
        model_name=model,
        inputs=[
            service_pb2.ModelInferRequest.InferInputTensor(
                name="seed", datatype="UINT64", shape=[len(seeds)]
            )
        ],
        outputs=[service_pb2.ModelInferRequest.InferRequestedOutputTensor(name="images")],
        raw_input_contents=[np.array(seeds, dtype="<u8").tobytes()],
    )
    payload = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def h2load(port: int, body: Path, seconds: int) -> tuple[float, float]:
    """(requests/s, mean ms) of h2load's closed loop: 64 connections, 1 stream each."""
    command = [
        "h2load", "-c64", "-m1", "-t2", f"-D{seconds}", "-d", str(body),
        "-H", "content-type: application/grpc", "-H", "te: trailers",
        f"http://127.0.0.1:{port}{METHOD}",
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    finished = re.search(r"finished in ([\d.]+)(ms|s)", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    if not (done and finished):
        print(out, file=sys.stderr)
        return 0.0, float("nan")
    elapsed = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    mean_ms = float("nan")
    if mean:
        value = mean[1]
        mean_ms = float(value[:-2]) / 1000 if value.endswith("us") else float(value[:-2])
    return int(done[2]) / elapsed, mean_ms


def rest_lua(folder: Path, seeds: list[int]) -> Path:
    body = {
        "inputs": [{"name": "seed", "shape": [len(seeds)], "datatype": "UINT64", "data": seeds}],
        "outputs": [{"name": "images", "parameters": {"binary_data": True}}],
    }
    path = folder / f"rest-{len(seeds)}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{json.dumps(body)}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="cartoon-faces")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_grpc(args.serve, ROOT / "models", args.model))
        return
    rates: dict[tuple[str, int], list[float]] = {}
    load = Load("rest", 2, 64, {}, 1)
    print(f"# {cpu_model()}; load average before: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seeds = {n: list(range(1000, 1000 + n)) for n in BATCHES}
        lua = {n: rest_lua(folder, seeds[n]) for n in BATCHES}
        bodies = {}
        for n in BATCHES:
            bodies[n] = folder / f"grpc-{n}.bin"
            bodies[n].write_bytes(grpc_message(args.model, seeds[n]))
        for round_ in range(args.rounds):
            order = ("rest", "grpc") if round_ % 2 == 0 else ("grpc", "rest")
            for name in order:
                if name == "rest":
                    with running_server(ROOT / "models") as server:
                        url = f"{server.url}/v2/models/{args.model}/infer"
                        for n in BATCHES:
                            wrk(url, load, lua[n], 1)
                            result = wrk(url, load, lua[n], args.seconds)
                            rates.setdefault((name, n), []).append(result.ok_per_s * n)
                else:
                    with grpc_server(args.model) as port:
                        for n in BATCHES:
                            h2load(port, bodies[n], 1)
                            per_s, _ = h2load(port, bodies[n], args.seconds)
                            rates.setdefault((name, n), []).append(per_s * n)
                print(f"round {round_ + 1}: {name} done", file=sys.stderr)
    print(f"\n{args.model}, 64 connections, images/s, median of {args.rounds} (min–max)\n")
    print("| images per request | binary REST (wrk) | gRPC (h2load) | gRPC / REST |")
    print("|---|---|---|---|")
    for n in BATCHES:
        rest, grpc = rates[("rest", n)], rates[("grpc", n)]
        print(
            f"| {n} | {statistics.median(rest):.0f} ({min(rest):.0f}–{max(rest):.0f}) | "
            f"{statistics.median(grpc):.0f} ({min(grpc):.0f}–{max(grpc):.0f}) | "
            f"{statistics.median(grpc) / statistics.median(rest):.2f} |"
        )


if __name__ == "__main__":
    main()
