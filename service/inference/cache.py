"""ResponseCache: seeded responses by ETag, least recently used first out, bounded by bytes.

A seeded response is a pure function of its ETag's inputs (model, version, the ONNX file's
sha256, seeds, output options), so a repeated one costs a dictionary lookup: no inference,
no encoding. New weights under the same name and version change the sha256, hence the key;
the old entries simply age out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from service.core.metrics import Metrics


@dataclass(frozen=True)
class CachedResponse:
    body: bytes
    media_type: str


class ResponseCache:
    def __init__(self, max_bytes: int, metrics: Metrics) -> None:
        self.max_bytes, self.metrics = max_bytes, metrics
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._bytes = 0
        metrics.cache_capacity.set(max_bytes)

    def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            self.metrics.cache_requests.labels("miss").inc()
            return None
        self._entries.move_to_end(key)
        self.metrics.cache_requests.labels("hit").inc()
        return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        size = len(entry.body)
        # one response may take at most an eighth: a few huge ones must not flush the rest
        if size > self.max_bytes // 8 or key in self._entries:
            return
        while self._bytes + size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)
            self.metrics.cache_evictions.inc()
        self._entries[key] = entry
        self._bytes += size
        self.metrics.cache_bytes.set(self._bytes)
        self.metrics.cache_entries.set(len(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
