"""The Open Inference Protocol routes' own rules: binary tensor data in and out, the checks
on tensors, the protocol's error shape on /v2 only, and the shared limits and metrics.
(tritonclient and the KServe client: test_inference_protocol_clients.py.)"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

INFER = "/v2/models/tiny/infer"


def seeds_request(seeds: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "seed", "shape": [len(seeds)], "datatype": "UINT64", "data": seeds}],
        **extra,
    }


def split(r: Any) -> tuple[dict[str, Any], bytes]:
    n = int(r.headers["inference-header-content-length"])
    return json.loads(r.content[:n]), r.content[n:]


def generate_pixels(client: TestClient, seeds: list[int]) -> list[np.ndarray]:
    return [
        np.asarray(
            Image.open(io.BytesIO(client.post("/generate?model=tiny", json={"seed": s}).content))
        )
        for s in seeds
    ]


def test_binary_images_are_the_pixels_with_no_encoding(client: TestClient) -> None:
    body = seeds_request([4, 9], outputs=[{"name": "images", "parameters": {"binary_data": True}}])
    r = client.post(INFER, json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    header, raw = split(r)
    (out,) = header["outputs"]
    assert out == {
        "name": "images",
        "datatype": "UINT8",
        "shape": [2, 16, 16, 3],
        "parameters": {"binary_data_size": 2 * 16 * 16 * 3},
    }
    images = np.frombuffer(raw, dtype=np.uint8).reshape(2, 16, 16, 3)
    expected = generate_pixels(client, [4, 9])
    assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True))
    assert header["model_name"] == "tiny" and header["model_version"] == "2"


def test_binary_png_elements_are_length_prefixed(client: TestClient) -> None:
    body = seeds_request([4, 9], parameters={"binary_data_output": True}, outputs=[{"name": "png"}])
    header, raw = split(client.post(INFER, json=body))
    assert header["outputs"][0]["parameters"]["binary_data_size"] == len(raw)
    pngs = []
    while raw:
        (n,) = struct.unpack("<I", raw[:4])
        pngs.append(raw[4 : 4 + n])
        raw = raw[4 + n :]
    assert pngs == [client.post("/generate?model=tiny", json={"seed": s}).content for s in (4, 9)]


def test_json_outputs_and_both_by_default(client: TestClient) -> None:
    r = client.post(INFER, json=seeds_request([4], id="req-1"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert "inference-header-content-length" not in r.headers
    answer = r.json()
    assert answer["id"] == "req-1"
    images, png = answer["outputs"]  # no outputs asked: all of them, in order
    assert images["name"] == "images" and png["name"] == "png"
    pixels = np.array(images["data"], dtype=np.uint8).reshape(images["shape"])
    assert np.array_equal(pixels[0], generate_pixels(client, [4])[0])
    assert png["parameters"] == {"content_encoding": "base64"}


def test_binary_inputs_of_both_kinds(client: TestClient) -> None:
    seeds = np.array([4, 9], dtype="<u8").tobytes()
    z = (
        np.stack(
            [
                np.random.Generator(np.random.PCG64(s)).standard_normal(8, dtype=np.float32)
                for s in (4, 9)
            ]
        )
        .astype("<f4")
        .tobytes()
    )
    for name, datatype, shape, raw in (
        ("seed", "UINT64", [2], seeds),
        ("seed", "INT64", [2, 1], np.array([4, 9], dtype="<i8").tobytes()),
        ("z", "FP32", [2, 8], z),
    ):
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": name,
                        "shape": shape,
                        "datatype": datatype,
                        "parameters": {"binary_data_size": len(raw)},
                    }
                ],
                "outputs": [{"name": "images", "parameters": {"binary_data": True}}],
            }
        ).encode()
        r = client.post(
            INFER,
            content=header + raw,
            headers={
                "Inference-Header-Content-Length": str(len(header)),
                "content-type": "application/octet-stream",
            },
        )
        assert r.status_code == 200, (name, datatype, r.text)
        images = np.frombuffer(split(r)[1], dtype=np.uint8).reshape(2, 16, 16, 3)
        expected = generate_pixels(client, [4, 9])
        assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True)), name


def binary_body(
    inputs: list[dict[str, Any]], raw: bytes, length: str | None = None
) -> dict[str, Any]:
    header = json.dumps({"inputs": inputs}).encode()
    return {
        "content": header + raw,
        "headers": {"Inference-Header-Content-Length": length or str(len(header))},
    }


def test_the_limits_themselves_are_served(client: TestClient) -> None:
    """The bounds are inclusive: N of exactly DCGAN_MAX_COUNT (64 here) seeds, and latent
    values of exactly ±1000 (LATENT_ABS_MAX); one more of either is 400 (below)."""
    images = [{"name": "images", "parameters": {"binary_data": True}}]
    r = client.post(INFER, json=seeds_request(list(range(64)), outputs=images))
    assert r.status_code == 200, r.text
    assert split(r)[0]["outputs"][0]["shape"] == [64, 16, 16, 3]
    edge = {"name": "z", "shape": [1, 8], "datatype": "FP32", "data": [1000.0, -1000.0] + [0.0] * 6}
    r = client.post(INFER, json={"inputs": [edge], "outputs": images})
    assert r.status_code == 200, r.text
    assert len(split(r)[1]) == 16 * 16 * 3


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"json": {"inputs": []}}, "give exactly one input"),
        (
            {"json": {"inputs": [{"name": "x", "shape": [1], "datatype": "UINT64", "data": [1]}]}},
            "give exactly one input",
        ),
        (
            {"json": seeds_request([1]) | {"inputs": seeds_request([1])["inputs"] * 2}},
            "give exactly one input",
        ),
        (
            {
                "json": {
                    "inputs": [{"name": "seed", "shape": [1], "datatype": "FP32", "data": [1.0]}]
                }
            },
            "seed must be UINT64 or INT64",
        ),
        (
            {
                "json": {
                    "inputs": [{"name": "seed", "shape": [2], "datatype": "UINT64", "data": [1]}]
                }
            },
            "1 values do not fill shape [2]",
        ),
        (
            {
                "json": {
                    "inputs": [{"name": "seed", "shape": [1], "datatype": "UINT64", "data": [1.5]}]
                }
            },
            "JSON integer",
        ),
        (
            {
                "json": {
                    "inputs": [{"name": "seed", "shape": [1], "datatype": "UINT64", "data": [-1]}]
                }
            },
            "JSON integer",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {"name": "seed", "shape": [1], "datatype": "UINT64", "data": [2**64]}
                    ]
                }
            },
            "JSON integer",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {"name": "seed", "shape": [1, 2], "datatype": "UINT64", "data": [1, 2]}
                    ]
                }
            },
            "shape [N]",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {
                            "name": "seed",
                            "shape": [65],
                            "datatype": "UINT64",
                            "data": list(range(65)),
                        }
                    ]
                }
            },
            "N must be in 1..64",
        ),
        (
            {
                "json": {
                    "inputs": [{"name": "seed", "shape": [0], "datatype": "UINT64", "data": []}]
                }
            },
            "N must be in 1..64",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {"name": "z", "shape": [1, 7], "datatype": "FP32", "data": [0.0] * 7}
                    ]
                }
            },
            "[N, 8]",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {
                            "name": "z",
                            "shape": [1, 8],
                            "datatype": "FP32",
                            "data": [1001.0] + [0.0] * 7,
                        }
                    ]
                }
            },
            "at most 1000",
        ),
        (
            {
                "json": {
                    "inputs": [
                        {"name": "z", "shape": [1, 8], "datatype": "FP32", "data": ["0"] * 8}
                    ]
                }
            },
            "JSON number",
        ),
        ({"json": seeds_request([1], outputs=[{"name": "jpeg"}])}, "unknown output 'jpeg'"),
        ({"json": seeds_request([1], parameters={"truncation": 1.5})}, "truncation"),
        (
            {"json": seeds_request([1], parameters={"binary_data_output": "yes"})},
            "binary_data_output",
        ),
        ({"content": b"{not json"}, "invalid inference request"),
        ({"json": {"id": 1, "inputs": []}}, "invalid inference request: id"),
        (
            binary_body(
                [
                    {
                        "name": "seed",
                        "shape": [1],
                        "datatype": "UINT64",
                        "parameters": {"binary_data_size": 8},
                    }
                ],
                b"\0" * 7,
            ),
            "binary_data_size 8 is not the 7 bytes",
        ),
        (
            binary_body(
                [
                    {
                        "name": "seed",
                        "shape": [2],
                        "datatype": "UINT64",
                        "parameters": {"binary_data_size": 8},
                    }
                ],
                b"\0" * 8,
            ),
            "are not shape [2]",
        ),
        (
            binary_body(
                [{"name": "seed", "shape": [1], "datatype": "UINT64", "data": [1]}], b"\0" * 8
            ),
            "no input claims",
        ),
        (
            binary_body(
                [{"name": "seed", "shape": [1], "datatype": "UINT64", "data": [1]}], b"", "99999"
            ),
            "Inference-Header-Content-Length",
        ),
        (
            binary_body(
                [
                    {
                        "name": "z",
                        "shape": [1, 8],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 32},
                    }
                ],
                np.full(8, np.nan, "<f4").tobytes(),
            ),
            "finite",
        ),
        (
            binary_body(
                [
                    {
                        "name": "seed",
                        "shape": [2],
                        "datatype": "INT64",
                        "parameters": {"binary_data_size": 16},
                    }
                ],
                np.array([5, -1], "<i8").tobytes(),
            ),
            "negative",
        ),
        (
            {"json": seeds_request([1], outputs=[{"name": "png"}, {"name": "png"}])},
            "asked for twice",
        ),
    ],
)
def test_bad_requests_are_400_with_the_protocols_error(
    client: TestClient, kwargs: dict[str, Any], said: str
) -> None:
    r = client.post(INFER, **kwargs)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and said in r.json()["error"], r.json()  # a string


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v2/models/nope", 404),
        ("get", "/v2/models/tiny/versions/9", 404),
        ("get", "/v2/models/tiny/versions/x", 404),
        ("post", "/v2/models/nope/infer", 404),
        ("get", "/v2/models/tiny/infer", 405),
        ("get", "/v2/nothing/here", 404),
        ("get", "/v2/models/corrupt/ready", 503),
    ],
)
def test_protocol_routes_answer_errors_in_the_protocols_shape(
    client: TestClient, method: str, path: str, status: int
) -> None:
    r = getattr(client, method)(path, **({"json": seeds_request([1])} if method == "post" else {}))
    assert r.status_code == status
    body = r.json()  # {"error": "message"}, not the image API's {"error": {"code", ...}}
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    # the image API keeps its own shape
    assert set(client.get("/models/nope").json()["error"]) == {"code", "message", "details"}


def test_a_declared_body_over_the_cap_is_413_in_the_protocols_shape(client: TestClient) -> None:
    cap = client.app.settings.max_body_bytes  # type: ignore[attr-defined]
    r = client.post(INFER, content=b"x" * (cap + 1))
    assert r.status_code == 413 and isinstance(r.json()["error"], str)
    assert "DCGAN_MAX_BODY_BYTES" in r.json()["error"]


def test_a_bad_deadline_header_is_400(client: TestClient) -> None:
    r = client.post(INFER, json=seeds_request([1]), headers={"X-Request-Timeout-Ms": "soon"})
    assert r.status_code == 400 and "x-request-timeout-ms" in r.json()["error"]


def test_truncation_without_a_center_is_400_naming_the_command(client: TestClient) -> None:
    from pathlib import Path

    manifest = Path(client.app.settings.models_dir) / "tiny" / "2" / "manifest.json"  # type: ignore[attr-defined]
    data = json.loads(manifest.read_text())
    data.pop("truncation", None)
    manifest.write_text(json.dumps(data))
    assert client.post("/admin/reload").status_code == 200
    r = client.post(INFER, json=seeds_request([1], parameters={"truncation": 0.5}))
    assert r.status_code == 400 and "dcgan truncation-center" in r.json()["error"]


def test_infer_requests_are_counted_under_their_route(client: TestClient) -> None:
    for _ in range(3):
        assert client.post(INFER, json=seeds_request([1])).status_code == 200
    client.post("/v2/models/tiny/versions/1/infer", json=seeds_request([1, 2]))
    text = client.get("/metrics").text
    infer = [
        line
        for line in text.splitlines()
        if line.startswith("dcgan_http_requests_total") and "/v2/models/{name}/infer" in line
    ]
    assert infer and infer[0].endswith(" 3.0"), infer
    assert any("/v2/models/{name}/versions/{version}/infer" in line for line in text.splitlines())


def test_ready_answers_as_readyz_does(tmp_path: Any) -> None:
    """No model loaded: /v2/health/ready is 503 with /readyz's reason, in the protocol's shape."""
    from service.core.settings import Settings
    from service.http.app import create_app

    with TestClient(create_app(Settings(models_dir=tmp_path))) as empty:
        r, readyz = empty.get("/v2/health/ready"), empty.get("/readyz")
        assert r.status_code == readyz.status_code == 503
        assert r.json() == {"error": readyz.json()["error"]["message"]}
        assert empty.get("/v2/health/live").json() == {"live": True}


def test_metadata_lists_only_the_versions_that_can_serve(client: TestClient) -> None:
    """A version whose files do not match its manifest is unavailable: the model's metadata
    leaves it out of ``versions`` and its readiness is 503 with the reason."""
    import shutil
    from pathlib import Path

    tiny = Path(client.app.settings.models_dir) / "tiny"  # type: ignore[attr-defined]
    shutil.copytree(tiny / "2", tiny / "3")
    (tiny / "3" / "generator.onnx").write_bytes(b"not the exported generator")
    assert client.post("/admin/reload").status_code == 200
    metadata = client.get("/v2/models/tiny").json()
    assert metadata["versions"] == ["1", "2"], metadata
    broken = client.get("/v2/models/tiny/versions/3/ready")
    assert broken.status_code == 503 and set(broken.json()) == {"error"}
    assert client.get("/v2/models/tiny/versions/2/ready").status_code == 200
