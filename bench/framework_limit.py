"""The HTTP layer's own ceiling: a bare ASGI app on uvicorn that answers every request with
fixed bytes (no validation, no model, no metrics), one process, uvicorn's defaults (uvloop,
httptools). bench/bench_service.py runs it as the "framework limit" contender: how close the
service is to what the server layer alone can do on this machine.

    python bench/framework_limit.py --port 8001 --size 1100
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn


def make_app(size: int) -> Any:
    body = b"\x89PNG" + bytes(max(0, size - 4))
    headers = [(b"content-type", b"image/png"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=1100, help="response body bytes")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.size),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
