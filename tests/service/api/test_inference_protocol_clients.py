"""The Open Inference Protocol (v2) routes, spoken to by clients nobody here wrote:
tritonclient's HTTP client and the KServe SDK's REST client, against a real dcgan-serve
process with the tiny test models (nz 8, 16×16 RGB) behind an API key."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from testkit.servers import running_server

tritonhttp = pytest.importorskip("tritonclient.http")
kserve = pytest.importorskip("kserve")
from tritonclient.utils import InferenceServerException  # noqa: E402

KEY = "v2-test-key"
AUTH = {"X-API-Key": KEY}


def auth() -> dict[str, str]:
    """A fresh header dict: tritonclient adds its own headers to the one it is given."""
    return dict(AUTH)


@pytest.fixture(scope="module")
def server(prepared_models: Path) -> Iterator[str]:
    with running_server(prepared_models, {"DCGAN_API_KEY": KEY, "DCGAN_MAX_COUNT": "16"}) as s:
        yield s.url


@pytest.fixture(scope="module")
def triton(server: str) -> Any:
    return tritonhttp.InferenceServerClient(server.removeprefix("http://"))


def generated(server: str, body: dict[str, Any], version: int | None = None) -> list[np.ndarray]:
    """POST /generate's images (JSON format), as pixel arrays."""
    import base64

    query = "model=tiny" + (f"&version={version}" if version else "")
    r = httpx.post(f"{server}/generate?{query}", json={**body, "format": "json"}, headers=AUTH)
    assert r.status_code == 200, r.text
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(i["png"])))) for i in r.json()["images"]
    ]


def seed_input(seeds: list[int], binary: bool) -> Any:
    tensor = tritonhttp.InferInput("seed", [len(seeds)], "UINT64")
    tensor.set_data_from_numpy(np.array(seeds, dtype=np.uint64), binary_data=binary)
    return tensor


def test_tritonclient_sees_a_live_ready_server_and_the_models_metadata(triton: Any) -> None:
    assert triton.is_server_live(headers=auth()) and triton.is_server_ready(headers=auth())
    assert triton.is_model_ready("tiny", headers=auth())
    assert triton.is_model_ready("tiny", "2", headers=auth())
    assert not triton.is_model_ready("corrupt", headers=auth())  # a broken export
    server = triton.get_server_metadata(headers=auth())
    assert server["name"] == "dcgan-serve" and "binary_tensor_data" in server["extensions"]
    meta = triton.get_model_metadata("tiny", headers=auth())
    assert meta["versions"] == ["1", "2"]
    assert {i["name"]: (i["datatype"], i["shape"]) for i in meta["inputs"]} == {
        "seed": ("UINT64", [-1]),
        "z": ("FP32", [-1, 8]),
    }
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == {
        "images": ("UINT8", [-1, 16, 16, 3]),
        "png": ("BYTES", [-1]),
    }
    assert triton.get_model_metadata("tiny", "1", headers=auth())["versions"] == ["1"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_seeds_give_the_pixels_of_generate(
    triton: Any, server: str, binary: bool
) -> None:
    seeds = [3, 2**64 - 1, 0]
    result = triton.infer(
        "tiny",
        [seed_input(seeds, binary)],
        outputs=[
            tritonhttp.InferRequestedOutput("images", binary_data=binary),
            tritonhttp.InferRequestedOutput("png", binary_data=binary),
        ],
        headers=auth(),
    )
    images = result.as_numpy("images")
    assert images.dtype == np.uint8 and images.shape == (3, 16, 16, 3)
    expected = generated(server, {"seeds": seeds})
    assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True))
    pngs = result.as_numpy("png")
    if binary:
        decoded = [np.asarray(Image.open(io.BytesIO(p))) for p in pngs]
    else:  # JSON strings carry text: base64
        import base64

        decoded = [np.asarray(Image.open(io.BytesIO(base64.b64decode(p)))) for p in pngs]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected, strict=True))
    assert result.get_response()["model_version"] == "2"  # the default: the newest


def test_tritonclient_latents_truncation_and_a_pinned_version(triton: Any, server: str) -> None:
    """A seed's latent as the z input gives the seed's pixels; ψ and the version apply."""
    z = np.stack(
        [
            np.random.Generator(np.random.PCG64(s)).standard_normal(8, dtype=np.float32)
            for s in (5, 6)
        ]
    )
    tensor = tritonhttp.InferInput("z", [2, 8], "FP32")
    tensor.set_data_from_numpy(z, binary_data=True)
    out = [tritonhttp.InferRequestedOutput("images", binary_data=True)]
    result = triton.infer(
        "tiny",
        [tensor],
        outputs=out,
        model_version="2",
        parameters={"truncation": 0.5},
        headers=auth(),
    )
    expected = generated(server, {"seeds": [5, 6], "truncation": 0.5}, version=2)
    assert all(
        np.array_equal(a, b) for a, b in zip(result.as_numpy("images"), expected, strict=True)
    )
    assert not np.array_equal(expected[0], generated(server, {"seed": 5}, version=2)[0])


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (
            lambda t: t.infer("nope", [seed_input([1], True)], headers=auth()),
            "unknown model 'nope'",
        ),
        (lambda t: t.infer("tiny", [seed_input([1], True)]), "API key"),
        (
            lambda t: t.infer("tiny", [seed_input(list(range(17)), True)], headers=auth()),
            "N must be in 1..16",
        ),
        (
            lambda t: t.infer("tiny", [seed_input([1], True)], model_version="9", headers=auth()),
            "version",
        ),
    ],
)
def test_tritonclient_errors_carry_the_servers_message(triton: Any, call: Any, said: str) -> None:
    with pytest.raises(InferenceServerException) as raised:
        call(triton)
    assert said in raised.value.message()


def test_the_kserve_rest_client_infers_with_seeds_and_latents(server: str) -> None:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def run() -> tuple[Any, Any, bool, bool]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        try:
            live = await client.is_server_live(server, headers=auth())
            ready = await client.is_model_ready(server, "tiny", headers=auth())
            seeds = InferInput("seed", [2], "UINT64", data=[7, 8])
            by_seed = await client.infer(
                server, InferRequest("tiny", [seeds], parameters={}), "tiny", headers=auth()
            )
            z = np.random.Generator(np.random.PCG64(7)).standard_normal(8, dtype=np.float32)
            latent = InferInput("z", [1, 8], "FP32")
            latent.set_data_from_numpy(z[None], binary_data=True)
            by_latent = await client.infer(
                server, InferRequest("tiny", [latent], parameters={}), "tiny", headers=auth()
            )
            return by_seed, by_latent, live, ready
        finally:
            await client.close()

    by_seed, by_latent, live, ready = asyncio.run(run())
    assert live and ready
    expected = generated(server, {"seeds": [7, 8]})
    images = {o.name: o for o in by_seed.outputs}["images"].as_numpy()
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True))
    from_latent = {o.name: o for o in by_latent.outputs}["images"].as_numpy()
    assert np.array_equal(from_latent[0], expected[0])


def test_health_is_open_and_everything_else_needs_the_key(server: str) -> None:
    assert httpx.get(f"{server}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server}/v2/health/ready").json() == {"ready": True}
    for path in ("/v2", "/v2/models/tiny", "/v2/models/tiny/ready"):
        r = httpx.get(server + path)
        assert r.status_code == 401 and set(r.json()) == {"error"}, path
