from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from service.core.metrics import build_metrics
from service.core.settings import Settings
from service.http.app import create_app
from service.inference.cache import CachedResponse, ResponseCache
from tests.service.api.test_api_batching_and_auth import count


def sample(text: str, line_start: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start))


def test_a_repeated_seed_costs_no_inference_and_gives_the_same_bytes(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        body = {"seeds": [1, 2, 3, 4], "grid": True}
        first = client.post("/generate?model=tiny", json=body)
        runs = count(client.get("/metrics").text, "dcgan_inference_duration_seconds_count")
        again = client.post("/generate?model=tiny", json=body)
        frames = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=4&format=gif"
        assert client.get(frames).content == client.get(frames).content
        text = client.get("/metrics").text
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "image/png"
    # the repeat and the second walk ran nothing
    assert count(text, "dcgan_inference_duration_seconds_count") == runs + 1
    assert sample(text, 'dcgan_cache_requests_total{result="hit"}') == 2
    assert sample(text, 'dcgan_cache_requests_total{result="miss"}') == 2
    assert sample(text, 'dcgan_images_generated_total{model="tiny"}') == 8


def test_unseeded_requests_are_never_cached(client: TestClient) -> None:
    first, second = client.post("/generate?model=tiny"), client.post("/generate?model=tiny")
    assert first.content != second.content
    assert 'dcgan_cache_requests_total{result="hit"}' not in client.get("/metrics").text


def test_cache_off(models_dir: Path) -> None:
    with TestClient(create_app(Settings(models_dir=models_dir, cache_mb=0))) as client:
        for _ in range(2):
            client.post("/generate?model=tiny", json={"seed": 1})
        text = client.get("/metrics").text
    assert count(text, "dcgan_inference_duration_seconds_count") >= 2
    assert "dcgan_cache_requests_total{" not in text


def entry(size: int) -> CachedResponse:
    return CachedResponse(b"x" * size, "image/png")


def test_the_least_recently_used_goes_first_and_the_bytes_stay_bounded() -> None:
    metrics = build_metrics(CollectorRegistry())
    cache = ResponseCache(800, metrics)
    for key in "abcd":
        cache.put(key, entry(100))
    assert cache.get("a") is not None  # a is now the most recently used
    for key in "efghi":
        cache.put(key, entry(100))  # 900 bytes wanted: b goes
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 8
    cache.put("big", entry(101))  # over an eighth of the capacity: not kept
    assert cache.get("big") is None
    assert metrics.cache_evictions._value.get() == 1
    assert metrics.cache_bytes._value.get() == 800


def test_eviction_keeps_the_byte_count_of_what_is_held() -> None:
    """Entries of mixed sizes: after evictions, the bytes counted (and exported) are exactly
    the bodies still held, and the oldest went first."""
    prom = CollectorRegistry()
    cache = ResponseCache(800, build_metrics(prom))  # one entry may take 100 bytes
    for i in range(8):
        cache.put(f"k{i}", CachedResponse(b"x" * 100, "image/png"))
    cache.put("small", CachedResponse(b"y" * 60, "image/png"))  # evicts k0 (100 bytes)
    cache.put("mid", CachedResponse(b"z" * 90, "image/png"))  # 760 + 90 > 800: evicts k1
    held = [k for k in ["small", "mid", *(f"k{i}" for i in range(8))] if cache.get(k)]
    assert held == ["small", "mid", *(f"k{i}" for i in range(2, 8))]
    assert prom.get_sample_value("dcgan_cache_size_bytes") == 60 + 90 + 6 * 100
    assert prom.get_sample_value("dcgan_cache_entries") == 8
    assert prom.get_sample_value("dcgan_cache_evictions_total") == 2


def test_the_cache_never_answers_one_option_with_another(models_dir: Path) -> None:
    """Every option that changes the bytes is in the key: upscale filters, frame times."""
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        body = {"seed": 3, "upscale": 4}
        nearest = client.post("/generate?model=tiny", json=body | {"upscale_filter": "nearest"})
        lanczos = client.post("/generate?model=tiny", json=body | {"upscale_filter": "lanczos"})
        walk = "/interpolate?model=tiny&seed_a=1&seed_b=2&steps=3&format=gif&frame_ms="
        fast, slow = client.get(walk + "40"), client.get(walk + "80")
    assert nearest.headers["etag"] != lanczos.headers["etag"]
    assert nearest.content != lanczos.content
    assert fast.headers["etag"] != slow.headers["etag"]
    assert fast.content != slow.content
