"""Metric names: the ones a running service exports, and the ones PromQL expressions use."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

# series names a family of each type exposes (prometheus_client's text format)
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
METRIC_NAME = re.compile(r"\b(dcgan_[a-z0-9_]+)\b")


def exported_series_names(metrics_text: str) -> set[str]:
    """Every series name the exposition declares, including families with no samples yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def used_metric_names(expression: str) -> set[str]:
    return set(METRIC_NAME.findall(expression))
