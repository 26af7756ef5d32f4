"""bench/bench_gpu.py: its parsing, and a whole run on the CPU at tiny sizes (so it never rots)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from bench.bench_gpu import ENGINE_MODES, NO_GPU, SECTIONS, VARIANTS
from testkit.load import parse_hey, python_load

REPO = Path(__file__).resolve().parents[2]

HEY_OUTPUT = """
Summary:
  Total:\t2.0000 secs
  Slowest:\t0.0300 secs
  Fastest:\t0.0010 secs
  Average:\t0.0050 secs
  Requests/sec:\t9999.0000

Latency distribution:
  10% in 0.0020 secs
  50% in 0.0040 secs
  99% in 0.0250 secs

Status code distribution:
  [200]\t600 responses
  [503]\t20 responses

Error distribution:
  [7]\tPost "http://127.0.0.1:8000/generate": dial tcp 127.0.0.1:8000: connect: refused
"""


def test_hey_rate_counts_only_200_responses() -> None:
    # hey's own Requests/sec counts failures too; the bench must not report those as served
    result = parse_hey(HEY_OUTPUT)
    assert result.requests_per_s == pytest.approx(300.0)
    assert result.p50_ms == pytest.approx(4.0)
    assert result.p99_ms == pytest.approx(25.0)
    assert result.non_200 == 27


def test_hey_output_without_responses_is_zero_not_a_crash() -> None:
    result = parse_hey("Summary:\n  Total:\t1.0 secs\n\nError distribution:\n  [3]\tPost x\n")
    assert result.requests_per_s == 0
    assert result.non_200 == 3


class _Answers(BaseHTTPRequestHandler):
    """200 on /ok, 503 on /busy, and a dropped connection on /drop."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status = 200 if self.path == "/ok" else 503
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # the stdlib's listen backlog of 5 resets some of 16 simultaneous connects
    request_queue_size = 128


@pytest.fixture
def answers_url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_python_load_rates_served_requests_from_every_connection(answers_url: str) -> None:
    result = python_load(f"{answers_url}/ok", connections=16, seconds=0.3)
    assert result.requests_per_s > 0
    assert result.non_200 == 0
    assert result.p50_ms <= result.p99_ms


@pytest.mark.parametrize("path", ["/busy", "/drop"])
def test_python_load_counts_refused_and_broken_requests(answers_url: str, path: str) -> None:
    # a 503 or a dropped connection is a failure, never a served request, never a dead thread
    result = python_load(f"{answers_url}{path}", connections=4, seconds=0.2)
    assert result.requests_per_s == 0
    assert result.non_200 > 0


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU form; on a GPU run make bench-gpu")
def test_tiny_cpu_run_measures_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_gpu.py", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert NO_GPU in done.stdout
    assert f"wrote {tmp_path / 'bench-gpu.md'} and {tmp_path / 'bench-gpu.json'}" in done.stdout
    markdown = (tmp_path / "bench-gpu.md").read_text()
    assert NO_GPU in markdown
    results = json.loads((tmp_path / "bench-gpu.json").read_text())
    assert results["environment"]["device"] == NO_GPU

    no_compiler = shutil.which("cc") is None and shutil.which("gcc") is None
    for section in SECTIONS:
        assert f"## {section}" in markdown
        rows = results[section]
        assert rows, section
        for row in rows:
            if "compile" in row.get("loop", "") and no_compiler:
                continue  # torch.compile on the CPU needs a C compiler
            assert "error" not in row, row
    training = results["training"]
    # per preset: the pytorch/examples loop and every `dcgan train` variant, all measured
    assert len(training) == 2 * (1 + len(VARIANTS))
    assert all(r["images_per_s"] > 0 for r in training if "error" not in r)
    assert {r["runtime"] for r in results["inference"]} == {
        "onnxruntime CPU",
        "torch eager cpu",
    }
    assert {r["precision"] for r in results["inference"]} == {"fp32", "fp16"}
    assert all(r["images_per_s"] > 0 for r in results["inference"])
    service = results["service"]
    assert {(r["batching"], r["connections"]) for r in service} == {
        ("on", 1),
        ("on", 64),
        ("off", 1),
        ("off", 64),
    }
    assert all(r["requests_per_s"] > 0 and r["non_200"] == 0 for r in service)
    # every worker count in both engine modes, and the log says the mode asked for ran
    workers = results["workers"]
    assert {(r["workers"], r["engine"]) for r in workers} == {
        (w, e) for w in (1, 2) for e in ENGINE_MODES
    }
    assert all(r["engine_seen"] == (r["engine"] == "shared") for r in workers)
    assert all(r["requests_per_s"] > 0 and r["non_200"] == 0 for r in workers)
