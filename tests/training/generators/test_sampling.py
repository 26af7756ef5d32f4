import os
from pathlib import Path

import numpy as np
import pytest

from training.generators import sampling, truncation_center
from training.generators.checkpoints import CHECKPOINT_FILE


def test_a_checkpoints_truncation_center_is_found_once_per_saved_state(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dcgan evaluate --truncation 0.5,0.7,0.85` on a checkpoint: one center search, not one
    per ψ (each renders 2,000 thumbnails); a new save of the checkpoint gets its own."""
    calls: list[int] = []
    real = truncation_center.find_center

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(truncation_center, "find_center", counting)
    monkeypatch.setattr(sampling, "_CHECKPOINT_CENTERS", {})
    first, _, _ = sampling.generate_images(trained, [1, 2], 0.5)
    second, _, _ = sampling.generate_images(trained, [1, 2], 0.7)
    again, _, _ = sampling.generate_images(trained, [1, 2], 0.5)
    assert len(calls) == 1 and not np.array_equal(first, second)
    assert np.array_equal(first, again)
    checkpoint = trained / CHECKPOINT_FILE
    stat = checkpoint.stat()
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    sampling.generate_images(trained, [1], 0.5)
    assert len(calls) == 2
