"""bench/bench_grpc.py: the gRPC message h2load sends is a well-formed ModelInferRequest.

Checked in a subprocess: Triton's gRPC protos (tritonclient.grpc) and KServe's
(kserve.protocol.grpc) register the same `inference.*` symbols in protobuf's default pool,
so one process can import only one of them, and the KServe client test imports the other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import struct, numpy as np
from bench.bench_grpc import grpc_message
from tritonclient.grpc import service_pb2
message = grpc_message("faces", [7, 2**64 - 1])
assert message[0] == 0  # not compressed
(length,) = struct.unpack(">I", message[1:5])
assert length == len(message) - 5
request = service_pb2.ModelInferRequest()
request.ParseFromString(message[5:])
assert request.model_name == "faces"
assert [(i.name, i.datatype, list(i.shape)) for i in request.inputs] == [("seed", "UINT64", [2])]
assert np.frombuffer(request.raw_input_contents[0], "<u8").tolist() == [7, 2**64 - 1]
assert [o.name for o in request.outputs] == ["images"]
print("ok")
"""


def test_the_message_is_one_length_prefixed_model_infer_request() -> None:
    pytest.importorskip("grpc")
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    if "No module named 'tritonclient.grpc" in done.stderr:
        pytest.skip("tritonclient[grpc] is not installed")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
