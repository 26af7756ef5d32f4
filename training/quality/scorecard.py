"""A generator's quality numbers, each beside its real-vs-real floor: `dcgan evaluate`.

Images are embedded with the data set's feature network (``feature_extractor``) when it
has one; every metric of ``metrics`` is computed on those embeddings, and
each head's predicted labels give a distribution match ("glasses 14% vs 15%"). Without a
feature network the same metrics run on 8×8 pixel thumbnails, labelled as the weaker
fallback: they see colour and layout, not the objects in the images.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.data.cartoon_faces import ATTRIBUTES_FILE
from training.quality.feature_extractor import FeatureExtractor
from training.quality.feature_files import DATA_TO_FEATURES, FEATURE_JSON, FEATURES_DIR
from training.quality.metrics import LabelMatch, QualityReport, label_matches, quality_report
from training.quality.pixel_checks import pixel_features

PIXELS = "pixels"
# the held-out set `dcgan export` measures a model on, by the data set it was trained on
HELD_OUT_DATA = {"fashion-mnist": "fashion-mnist-test", "digits": "digits"}
PIXELS_NOTE = "8×8 pixel thumbnails (weaker fallback: no feature network for this data)"


@dataclass(frozen=True)
class Scorecard:
    data: str
    features: str  # the feature network's folder, or PIXELS
    features_note: str
    report: QualityReport
    labels: dict[str, LabelMatch] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "features": self.features,
            "features_note": self.features_note,
            **self.report.to_dict(),
            "labels": {head: match.to_dict() for head, match in self.labels.items()},
            "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def table(self, top: int = 3) -> str:
        r = self.report
        lines = [
            f"features: {self.features} ({self.features_note})",
            f"samples: {r.samples} generated vs {r.samples} real (real half A); floor: real half "
            f"A vs the disjoint real half B ({r.samples} each; {r.real_total} real images "
            f"loaded, {r.fake_total} generated)",
            "",
            f"{'metric':<12} {'value':>10} {'floor':>10}  note",
        ]
        for name, value, floor, note in r.rows():
            lines.append(f"{name:<12} {value:>10.4g} {floor:>10.4g}  {note}")
        if self.labels:
            lines += [
                "",
                f"{'attribute':<14} {'TV':>6} {'floor':>6}  most common (real vs generated)",
            ]
            for head, match in self.labels.items():
                common = sorted(match.shares.items(), key=lambda kv: -kv[1][0])[:top]
                shares = ", ".join(f"{k} {a:.0%} vs {b:.0%}" for k, (a, b) in common)
                lines.append(f"{head:<14} {match.tv:>6.3f} {match.floor:>6.3f}  {shares}")
        return "\n".join(lines)


def resolve_features(spec: str, data: str, features_dir: Path = FEATURES_DIR) -> Path | None:
    """``auto``: the network that belongs to ``data`` (if shipped); ``pixels``: none; else a
    network name under ``features_dir`` or a folder."""
    if spec == PIXELS:
        return None
    if spec == "auto":
        name = DATA_TO_FEATURES.get(data)
        if name is None and (Path(data).parent / ATTRIBUTES_FILE).is_file():
            name = "cartoon-faces"  # a `dcgan data cartoon-faces` folder's faces/
        folder = features_dir / name if name else None
        return folder if folder is not None and (folder / FEATURE_JSON).is_file() else None
    folder = Path(spec) if Path(spec).is_dir() else features_dir / spec
    if not (folder / FEATURE_JSON).is_file():
        raise FileNotFoundError(
            f"no feature network at {folder}: build it with `dcgan features NAME`, or use "
            "--features pixels"
        )
    return folder


def score(
    real_u8: np.ndarray, fake_u8: np.ndarray, *, data: str, features: Path | None, seed: int = 0
) -> Scorecard:
    """Embed both sides and compute every metric with its floor (see module docstring)."""
    if features is None:
        report = quality_report(pixel_features(real_u8), pixel_features(fake_u8), seed=seed)
        return Scorecard(data, PIXELS, PIXELS_NOTE, report)
    extractor = FeatureExtractor(features)
    real_emb, real_labels = extractor(real_u8)
    fake_emb, fake_labels = extractor(fake_u8)
    report = quality_report(real_emb, fake_emb, seed=seed)
    accuracy = ", ".join(f"{h} {a:.0%}" for h, a in extractor.record.accuracy.items())
    note = f"feature network {extractor.record.name}, held-out accuracy {accuracy}"
    labels = label_matches(real_labels, fake_labels, seed=seed)
    return Scorecard(data, portable(features), note, report, labels)


def portable(folder: Path) -> str:
    """A shipped network as ``features/NAME`` (no host paths in manifests)."""
    resolved = folder.resolve()
    if resolved.is_relative_to(FEATURES_DIR):
        return str(Path(FEATURES_DIR.name) / resolved.relative_to(FEATURES_DIR))
    return str(folder)
