"""`python -m service.healthcheck`: exit 0 when the local server answers /healthz, else 1.

The container HEALTHCHECK uses it because the slim serving image has no curl. It reads the
same DCGAN_ settings as the server, so a changed DCGAN_PORT needs no second edit.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

from service.core.settings import Settings


def check(url: str, timeout_s: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {getattr(exc, 'reason', exc)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.healthcheck", description=__doc__)
    parser.add_argument("--url", help="default: http://127.0.0.1:$DCGAN_PORT/healthz")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds")
    args = parser.parse_args(argv)
    url = args.url or f"http://127.0.0.1:{Settings().port}/healthz"
    ok, message = check(url, args.timeout)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
