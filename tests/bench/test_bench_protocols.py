"""bench/bench_protocols.py: its request bodies, Lua strings and metric parsing, and a whole
short run against the bundled model (slow)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.bench_protocols import (
    BIG,
    lua_string,
    parse_generated,
    routes,
    v2_binary_seeds,
    v2_json_seeds,
    write_lua,
)
from service.api.inference_tensors import HEADER_LENGTH, IMAGES, parse_inference

REPO = Path(__file__).resolve().parents[2]


def lua_bytes(literal: str) -> bytes:
    """What Lua makes of a string literal of decimal escapes only (lua_string's form)."""
    assert literal[0] == literal[-1] == '"'
    escapes = re.fullmatch(r"(?:\\\d{1,3})*", literal[1:-1])
    assert escapes is not None, "only decimal escapes: no byte can end the literal early"
    return bytes(int(d) for d in re.findall(r"\\(\d{1,3})", literal))


@pytest.mark.parametrize("data", [b"", b'{"a": "\\"q\\""}', bytes(range(256)), b"\n\r\0]]"])
def test_lua_strings_carry_any_bytes(data: bytes) -> None:
    assert lua_bytes(lua_string(data)) == data


@pytest.mark.parametrize("build", [v2_json_seeds, v2_binary_seeds])
@pytest.mark.parametrize("seeds", [[7], list(range(7, 7 + BIG)), [2**64 - 1]])
def test_infer_bodies_parse_as_the_service_parses_them(
    build: Callable[[list[int]], tuple[bytes, dict[str, str]]], seeds: list[int]
) -> None:
    body, headers = build(seeds)
    length = {k.lower(): v for k, v in headers.items()}.get(HEADER_LENGTH)
    inference = parse_inference(body, length, nz=100, max_count=BIG)
    assert inference.seeds == seeds
    assert inference.outputs == [(IMAGES, True)]  # binary uint8 images: nothing encoded


def test_binary_seeds_are_eight_bytes_each_after_the_header() -> None:
    body, headers = v2_binary_seeds(list(range(BIG)))
    header_length = int(headers["Inference-Header-Content-Length"])
    assert len(body) - header_length == 8 * BIG
    json.loads(body[:header_length])


def test_generate_bodies_are_unseeded_so_the_response_cache_never_answers() -> None:
    found = {r.key: r for r in routes("cartoon-faces")}
    assert set(found) == {f"{kind}-{n}" for kind in ("v2-json", "v2-bin", "png") for n in (1, BIG)}
    assert json.loads(found["png-1"].body) == {}
    assert json.loads(found[f"png-{BIG}"].body) == {"count": BIG, "format": "json"}
    assert all(r.images == int(key.rsplit("-", 1)[1]) for key, r in found.items())


def test_lua_script_posts_the_body_with_its_headers(tmp_path: Path) -> None:
    route = next(r for r in routes("cartoon-faces") if r.key == "v2-bin-1")
    text = write_lua(tmp_path, route).read_text()
    assert 'wrk.method = "POST"' in text
    (literal,) = re.findall(r"^wrk\.body = (.*)$", text, re.M)
    assert lua_bytes(literal) == route.body
    assert 'wrk.headers["Inference-Header-Content-Length"]' in text
    assert 'wrk.headers["Content-Type"] = "application/octet-stream"' in text


def test_images_generated_is_read_for_its_model() -> None:
    metrics = (
        "# TYPE dcgan_images_generated_total counter\n"
        'dcgan_images_generated_total{model="fashion"} 5.0\n'
        'dcgan_images_generated_total{model="cartoon-faces"} 1234.0\n'
    )
    assert parse_generated(metrics, "cartoon-faces") == 1234.0
    assert parse_generated(metrics, "absent") != parse_generated(metrics, "absent")  # NaN


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install wrk)")
def test_short_run_measures_every_route() -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_protocols.py", "--seconds", "1", "--rounds", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for label in ("/v2 infer, JSON seeds", "/v2 infer, binary seeds", "/generate `{}`"):
        assert label in done.stdout
    assert "raw onnxruntime, batch 64" in done.stdout
    assert "ratios (medians over rounds)" in done.stdout
