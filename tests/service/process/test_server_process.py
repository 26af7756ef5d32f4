"""Real servers: `python -m service` on loopback ports, talked to over HTTP."""

from pathlib import Path

import httpx

from testkit.servers import server


def test_same_seed_same_bytes_from_two_server_processes(
    models_dir: Path, engine_env: dict[str, str]
) -> None:
    """Also with truncation: ψ turns each seed's latent toward the version's center, with no
    state that differs between processes; the second server runs its models in process or in
    the shared engine."""
    bodies = [
        {"seeds": [0, 1, 2, 3], "grid": True},
        {"seeds": [0, 1, 2, 3], "grid": True, "truncation": 0.5},
    ]
    with server(models_dir, {"DCGAN_ENGINE": "inprocess"}) as url:
        first = [httpx.post(f"{url}/generate?model=tiny", json=b, timeout=10) for b in bodies]
    with server(models_dir, engine_env) as url:
        # the other order: a cached untruncated answer must not leak into the truncated one
        second = [
            httpx.post(f"{url}/generate?model=tiny", json=b, timeout=10) for b in bodies[::-1]
        ][::-1]
        assert httpx.get(f"{url}/healthz").status_code == 200
    for a, b in zip(first, second, strict=True):
        assert a.status_code == b.status_code == 200
        assert a.content == b.content
        assert a.headers["etag"] == b.headers["etag"]
    assert first[0].content != first[1].content
    assert first[0].headers["etag"] != first[1].headers["etag"]
