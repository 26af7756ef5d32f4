"""Prometheus metrics: module constants, namespace ``dcgan``, base units, explicit buckets.

Labels stay low-cardinality: model (names under models/), endpoint (route template), status
(HTTP code), provider. Tests pass a fresh ``CollectorRegistry`` to :func:`build_metrics`.

With several worker processes (DCGAN_WORKERS), prometheus_client's multiprocess mode is on
(PROMETHEUS_MULTIPROC_DIR, set by ``dcgan-serve`` before the workers start): every process
writes its values to files there and ``/metrics``, whichever worker answers, sums them.
Gauges say how to combine workers (``multiprocess_mode``): queue depth, requests in flight
and the cache's size, entries and capacity add up over live workers (each worker has a
cache of its own); the queue capacity and model_info take the maximum (every worker has
the same).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.core.multiproc import MULTIPROC_ENV, metric_file_pid, process_exists

NAMESPACE = "dcgan"
MULTIPROCESS = MULTIPROC_ENV in os.environ  # read once: workers inherit it
if MULTIPROCESS:  # a worker starting after the folder was deleted must not crash-loop
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    in_flight: Gauge
    request_duration: Histogram
    inference_duration: Histogram
    batch_size: Histogram
    queue_depth: Gauge
    queue_capacity: Gauge
    queue_wait: Histogram
    images_generated: Counter
    model_info: Gauge
    rejected: Counter
    cache_requests: Counter
    cache_evictions: Counter
    cache_bytes: Gauge
    cache_capacity: Gauge
    cache_entries: Gauge
    worker_processes: Gauge
    connections_closed: Counter


def build_metrics(registry: CollectorRegistry = REGISTRY) -> Metrics:
    return Metrics(
        requests=Counter(
            "http_requests",
            "HTTP requests handled.",
            ["endpoint", "model", "status"],
            namespace=NAMESPACE,
            registry=registry,
        ),
        in_flight=Gauge(
            "http_requests_in_flight",
            "Requests being handled now (all but /metrics): the per-pod load signal the "
            "Kubernetes HorizontalPodAutoscaler scales on (deploy/k8s).",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
        request_duration=Histogram(
            "http_request_duration_seconds",
            "HTTP request latency.",
            ["endpoint", "model", "status"],
            namespace=NAMESPACE,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        inference_duration=Histogram(
            "inference_duration_seconds",
            "Time of one onnxruntime run (one batch).",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        batch_size=Histogram(
            "batch_size_images",
            "Images per onnxruntime run (after merging requests).",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
            buckets=BATCH_BUCKETS,
        ),
        queue_depth=Gauge(
            "queue_depth_requests",
            "Requests waiting for a batch.",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
        queue_capacity=Gauge(
            "queue_capacity_requests",
            "Requests a model's queue holds before answering 503 (DCGAN_QUEUE_SIZE).",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livemax",
        ),
        queue_wait=Histogram(
            "queue_wait_seconds",
            "Time a request waited before its batch ran.",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        images_generated=Counter(
            "images_generated",
            "Images produced by generators.",
            ["model"],
            namespace=NAMESPACE,
            registry=registry,
        ),
        model_info=Gauge(
            "model_info",
            "1 for each loaded model version, with its execution provider.",
            ["model", "version", "provider"],
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livemax",
        ),
        rejected=Counter(
            "rejected_requests",
            "Requests not answered, by reason: refused with 503 (queue_full, deadline, "
            "render_pool_full, concurrency_limit), or whose client left: before anything ran "
            "(client_disconnected), after inference (abandoned_running), or during the render, "
            "which stopped at its next step (abandoned_rendering).",
            ["model", "reason"],
            namespace=NAMESPACE,
            registry=registry,
        ),
        cache_requests=Counter(
            "cache_requests",
            "Seeded requests looked up in the response cache, by result (hit, miss).",
            ["result"],
            namespace=NAMESPACE,
            registry=registry,
        ),
        cache_evictions=Counter(
            "cache_evictions",
            "Responses dropped from the cache to make room (least recently used first).",
            namespace=NAMESPACE,
            registry=registry,
        ),
        cache_bytes=Gauge(
            "cache_size_bytes",
            "Bytes of response bodies held by the cache.",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
        cache_capacity=Gauge(
            "cache_capacity_bytes",
            "The cache's limit in bytes (DCGAN_CACHE_MB).",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
        cache_entries=Gauge(
            "cache_entries",
            "Responses held by the cache.",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
        connections_closed=Counter(
            "connections_closed",
            "Connections the server closed on its own, by reason: header_timeout, "
            "body_timeout, send_timeout (DCGAN_TIMEOUT_HEADERS_S, DCGAN_TIMEOUT_BODY_S, "
            "DCGAN_TIMEOUT_SEND_S), too_many_connections (DCGAN_MAX_CONNECTIONS).",
            ["reason"],
            namespace=NAMESPACE,
            registry=registry,
        ),
        worker_processes=Gauge(
            "worker_processes",
            "Server processes answering requests (DCGAN_WORKERS; each one counts itself).",
            namespace=NAMESPACE,
            registry=registry,
            multiprocess_mode="livesum",
        ),
    )


def exposition(registry: CollectorRegistry) -> bytes:
    """The /metrics body: this process's registry, or every worker's in multiprocess mode."""
    if not MULTIPROCESS:
        return generate_latest(registry)
    folder = os.environ[MULTIPROC_ENV]
    os.makedirs(folder, exist_ok=True)  # deleted under us: dcgan-serve's parent replaces us
    forget_dead_workers(folder)
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)
    return generate_latest(combined)


def forget_dead_workers(folder: str) -> None:
    """Drop the live gauges of worker processes that no longer exist.

    A worker that exits cleanly drops its own; one that was killed (SIGKILL, the OOM killer)
    cannot, and its last values (1 worker process, 2 requests in flight) would be summed for
    ever: a false load signal for the autoscaler. Checked at every scrape: one ``kill(pid, 0)``
    per worker file."""
    files = glob.glob(os.path.join(folder, "gauge_live*_*.db"))
    for pid in {pid for name in files if (pid := metric_file_pid(name)) is not None}:
        if not process_exists(pid):
            multiprocess.mark_process_dead(pid, folder)


LabelSets = set[tuple[str, ...]]


def publish(gauge: Gauge, before: LabelSets, now: LabelSets, value: float) -> None:
    """Set ``now``'s series to ``value``; drop the series of ``before`` that are gone.

    In multiprocess mode prometheus_client cannot remove a series: it is set to 0 instead.
    """
    for labels in before - now:
        if MULTIPROCESS:
            gauge.labels(*labels).set(0)
        else:
            gauge.remove(*labels)
    for labels in now:
        gauge.labels(*labels).set(value)


@dataclass(frozen=True)
class EngineMetrics:
    """The shared engine's own series (``DCGAN_ENGINE=shared``), written by the engine
    process into the same multiprocess folder as the workers', so any worker's /metrics
    shows them. A worker's ``batch_size`` is the batch it sent; ``engine_batch_size`` is the
    run the engine made of every worker's batches that arrived together."""

    batch_size: Histogram
    merged: Histogram
    inference_duration: Histogram
    images: Counter
    workers: Gauge
    models_loaded: Gauge
    generation: Gauge


def build_engine_metrics(registry: CollectorRegistry = REGISTRY) -> EngineMetrics:
    common: dict[str, Any] = {"namespace": NAMESPACE, "registry": registry}
    return EngineMetrics(
        batch_size=Histogram(
            "engine_batch_size",
            "Images per onnxruntime run of the shared engine (all workers' batches merged).",
            ["model"],
            buckets=BATCH_BUCKETS,
            **common,
        ),
        merged=Histogram(
            "engine_merged_batches",
            "Worker batches merged into one run of the shared engine.",
            ["model"],
            buckets=BATCH_BUCKETS,
            **common,
        ),
        inference_duration=Histogram(
            "engine_inference_duration_seconds",
            "One run of the shared engine: onnxruntime and the uint8 conversion.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            **common,
        ),
        images=Counter(
            "engine_images",
            "Images the shared engine generated.",
            ["model"],
            **common,
        ),
        workers=Gauge(
            "engine_workers",
            "HTTP workers connected to the shared engine.",
            multiprocess_mode="livemax",
            **common,
        ),
        models_loaded=Gauge(
            "engine_models_loaded",
            "Ready model versions in the shared engine.",
            multiprocess_mode="livemax",
            **common,
        ),
        generation=Gauge(
            "engine_generation",
            "How many engines the parent has started (1 + restarts).",
            multiprocess_mode="max",
            **common,
        ),
    )
