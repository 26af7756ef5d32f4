"""Where a run stands, apart from its weights: the counters and histories a checkpoint
restores (``Progress``), and how its FD is measured (``Measurement``).

``training/generators/checkpoints.py`` saves and restores them;
``training/loop/run_outputs.py`` shows them in ``run.json`` and ``losses.png``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """How far a run has come."""

    step: int = 0
    wall_time: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, D, G loss)
    # quality tracking: {"epoch", "step", "fd"} per evaluation; best = the lowest so far
    quality_history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None


@dataclass(frozen=True)
class Measurement:
    """How a run's FD is measured; a history measured otherwise is not comparable."""

    features: str  # a feature network (features/NAME or a folder), or "pixels"
    samples: int
    floor: float  # the real-vs-real FD of the fixed real sample's two halves
