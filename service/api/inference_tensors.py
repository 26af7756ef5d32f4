"""Tensors of the Open Inference Protocol (KServe v2) over HTTP/REST, in and out.

A request is a JSON header, optionally followed by raw tensor bytes (the binary tensor data
extension: ``Inference-Header-Content-Length`` says where the JSON ends, each binary input
says its ``binary_data_size``). Tensor data is little-endian and row-major; a BYTES element
is a 4-byte little-endian length and then its bytes. Everything here is plain parsing and
packing: the route (``service.api.inference_protocol``) runs it, and nothing here knows HTTP.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.imaging import UInt8Array, encode
from contract.latents import LATENT_ABS_MAX, SEED_MAX, FloatArray

HEADER_LENGTH = "inference-header-content-length"
BINARY_DATA_SIZE = "binary_data_size"
SEED, LATENT = "seed", "z"  # the inputs: one of them
IMAGES, PNG = "images", "png"  # the outputs
OUTPUTS = (IMAGES, PNG)
# little-endian, as the extension specifies
NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "UINT64": np.dtype("<u8"),
    "INT64": np.dtype("<i8"),
    "FP32": np.dtype("<f4"),
}
INPUT_TYPES = {SEED: ("UINT64", "INT64"), LATENT: ("FP32",)}


class TensorError(ValueError):
    """A request the protocol cannot serve: its message is the ``{"error": ...}`` body."""


class InputTensor(BaseModel):
    model_config = ConfigDict(extra="allow")  # the protocol allows extra fields

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: Any = None


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """The JSON header of ``POST /v2/models/{name}/infer``."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="truncation: ψ in [0, 1] (as in /generate); binary_data_output: true for "
        "every output as binary tensor data",
    )
    inputs: list[InputTensor] = Field(
        description="exactly one: seed (UINT64 or INT64 [N]) or z (FP32 [N, nz])"
    )
    outputs: list[RequestedOutput] | None = Field(
        default=None,
        description="images (UINT8 [N, H, W, C]) and/or png (BYTES [N]); absent: both. "
        "parameters.binary_data: true for raw bytes after the JSON",
    )


@dataclass(frozen=True)
class Inference:
    """A request, checked: its seeds or latents, its outputs and how each is sent."""

    id: str | None
    seeds: list[int] | None
    latents: FloatArray | None  # float32 [N, nz]
    truncation: float | None
    outputs: list[tuple[str, bool]]  # (name, binary), in the order asked

    @property
    def count(self) -> int:
        return len(self.seeds) if self.seeds is not None else len(self.latents)  # type: ignore[arg-type]


def parse_inference(body: bytes, header_length: str | None, nz: int, max_count: int) -> Inference:
    """The request in ``body`` (JSON, or JSON then binary tensors), checked against a model
    whose latents have ``nz`` numbers and the service's ``max_count``."""
    header, binary = split_body(body, header_length)
    try:
        request = InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise TensorError(f"invalid inference request: {where}: {first['msg']}") from None
    inputs = {t.name: t for t in request.inputs}
    unknown = sorted(set(inputs) - set(INPUT_TYPES))
    if unknown or len(request.inputs) != 1 or len(inputs) != 1:
        raise TensorError(
            f"give exactly one input, {SEED} (UINT64 [N]) or {LATENT} (FP32 [N, {nz}]); "
            f"got {[t.name for t in request.inputs]}"
        )
    (tensor,) = request.inputs
    data = _tensor_data(tensor, binary)
    count = tensor.shape[0] if tensor.shape else 0
    if not 1 <= count <= max_count:
        raise TensorError(f"input {tensor.name}: N must be in 1..{max_count}, got {count}")
    seeds, latents = None, None
    if tensor.name == SEED:
        if tensor.shape not in ([count], [count, 1]):
            raise TensorError(f"input seed must have shape [N] (or [N, 1]), got {tensor.shape}")
        seeds = _seeds(data)
    else:
        if tensor.shape != [count, nz]:
            raise TensorError(
                f"input z must have shape [N, {nz}] (the model's nz), got {tensor.shape}"
            )
        latents = _latents(data).reshape(count, nz)
    return Inference(
        id=request.id,
        seeds=seeds,
        latents=latents,
        truncation=_truncation(request.parameters),
        outputs=_outputs(request),
    )


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary part) of a request body."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise TensorError(
            f"Inference-Header-Content-Length must be a byte count within the body "
            f"({len(body)} bytes), got {header_length!r}"
        )
    n = int(header_length)
    return body[:n], body[n:]


def _tensor_data(tensor: InputTensor, binary: bytes) -> np.ndarray | list[Any]:
    """The tensor's elements: a NumPy array from binary data, or the JSON list, flattened."""
    allowed = INPUT_TYPES[tensor.name]
    if tensor.datatype not in allowed:
        raise TensorError(
            f"input {tensor.name} must be {' or '.join(allowed)}, got {tensor.datatype}"
        )
    if any(d < 0 for d in tensor.shape):
        raise TensorError(f"input {tensor.name}: shape {tensor.shape} has a negative size")
    elements = math.prod(tensor.shape)
    dtype = NUMPY_TYPES[tensor.datatype]
    size = tensor.parameters.get(BINARY_DATA_SIZE)
    if size is not None:
        if tensor.data is not None:
            raise TensorError(f"input {tensor.name}: give data or binary_data_size, not both")
        if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
            raise TensorError(
                f"input {tensor.name}: binary_data_size {size!r} is not the {len(binary)} bytes "
                "after the JSON header"
            )
        if size != elements * dtype.itemsize:
            raise TensorError(
                f"input {tensor.name}: {size} bytes of {tensor.datatype} are not shape "
                f"{tensor.shape} ({elements * dtype.itemsize} bytes)"
            )
        return np.frombuffer(binary, dtype=dtype)
    if binary:
        raise TensorError("binary data after the JSON header that no input claims")
    if tensor.data is None:
        raise TensorError(f"input {tensor.name} has no data (nor binary_data_size)")
    flat = list(_flatten(tensor.data))
    if len(flat) != elements:
        raise TensorError(
            f"input {tensor.name}: {len(flat)} values do not fill shape {tensor.shape}"
        )
    return flat


def _flatten(data: Any) -> Iterable[Any]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _seeds(data: np.ndarray | list[Any]) -> list[int]:
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "i" and (data < 0).any():
            raise TensorError("input seed: seeds are 0..2^64-1, got a negative one")
        return [int(s) for s in data]
    if not all(type(s) is int and 0 <= s <= SEED_MAX for s in data):
        raise TensorError("input seed: every seed is a JSON integer in 0..2^64-1")
    return list(data)


def _latents(data: np.ndarray | list[Any]) -> FloatArray:
    if isinstance(data, list):
        if not all(type(v) in (int, float) for v in data):
            raise TensorError("input z: every value is a JSON number")
        data = np.asarray(data, dtype=np.float64)
    if not np.isfinite(data).all() or np.abs(data).max(initial=0.0) > LATENT_ABS_MAX:
        raise TensorError(f"input z: every value is finite and at most {LATENT_ABS_MAX:g} in size")
    return np.ascontiguousarray(data, dtype=np.float32)


def _truncation(parameters: dict[str, Any]) -> float | None:
    psi = parameters.get("truncation")
    if psi is None:
        return None
    if type(psi) not in (int, float) or not 0 <= psi <= 1:
        raise TensorError(f"parameter truncation must be a number in [0, 1], got {psi!r}")
    return float(psi)


def _outputs(request: InferenceRequest) -> list[tuple[str, bool]]:
    default = request.parameters.get("binary_data_output", False)
    if not isinstance(default, bool):
        raise TensorError("parameter binary_data_output must be true or false")
    asked = request.outputs or [RequestedOutput(name=n) for n in OUTPUTS]
    chosen = []
    for output in asked:
        if output.name not in OUTPUTS:
            raise TensorError(f"unknown output {output.name!r}; outputs are {', '.join(OUTPUTS)}")
        binary = output.parameters.get("binary_data", default)
        if not isinstance(binary, bool):
            raise TensorError(f"output {output.name}: binary_data must be true or false")
        chosen.append((output.name, binary))
    if len({n for n, _ in chosen}) != len(chosen):
        raise TensorError("an output is asked for twice")
    return chosen


# ---- the response -------------------------------------------------------------------------

Check = Callable[[], None]


def inference_response(
    pixels: UInt8Array,
    inference: Inference,
    model: str,
    version: int,
    check: Check,
) -> tuple[bytes, bytes]:
    """(JSON header, binary part) of the answer to ``inference`` from its [N, H, W, C] uint8
    images. Binary uint8 images are the pixels' own bytes: no encoding at all."""
    outputs, binary = [], []
    for name, as_binary in inference.outputs:
        tensor: dict[str, Any]
        if name == IMAGES:
            tensor = {"name": IMAGES, "datatype": "UINT8", "shape": list(pixels.shape)}
            if as_binary:
                raw = np.ascontiguousarray(pixels).tobytes()
            else:
                tensor["data"] = pixels.reshape(-1).tolist()
        else:
            pngs = []
            for image in pixels:
                check()
                pngs.append(encode(image, "png", check=check))
            tensor = {"name": PNG, "datatype": "BYTES", "shape": [len(pngs)]}
            if as_binary:
                raw = b"".join(struct.pack("<I", len(p)) + p for p in pngs)
            else:  # JSON strings carry text: each PNG is base64 there
                tensor["data"] = [base64.b64encode(p).decode() for p in pngs]
                tensor["parameters"] = {"content_encoding": "base64"}
        if as_binary:
            tensor["parameters"] = {BINARY_DATA_SIZE: len(raw)}
            binary.append(raw)
        outputs.append(tensor)
    answer: dict[str, Any] = {"model_name": model, "model_version": str(version)}
    if inference.id is not None:
        answer["id"] = inference.id
    answer["outputs"] = outputs
    return json.dumps(answer, separators=(",", ":")).encode(), b"".join(binary)
