"""bench/bench_grpc.py: the gRPC message h2load sends is a well-formed ModelInferRequest."""

from __future__ import annotations

import struct

import numpy as np
import pytest

pytest.importorskip("tritonclient.grpc")

from bench.bench_grpc import grpc_message


def test_the_message_is_one_length_prefixed_model_infer_request() -> None:
    from tritonclient.grpc import service_pb2

    message = grpc_message("faces", [7, 2**64 - 1])
    assert message[0] == 0  # not compressed
    (length,) = struct.unpack(">I", message[1:5])
    assert length == len(message) - 5
    request = service_pb2.ModelInferRequest()
    request.ParseFromString(message[5:])
    assert request.model_name == "faces"
    assert [(i.name, i.datatype, list(i.shape)) for i in request.inputs] == [
        ("seed", "UINT64", [2])
    ]
    seeds = np.frombuffer(request.raw_input_contents[0], "<u8")
    assert seeds.tolist() == [7, 2**64 - 1]
    assert [o.name for o in request.outputs] == ["images"]
