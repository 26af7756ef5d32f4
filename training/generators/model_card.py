"""What an exported version records about its quality: the manifest's ``quality`` field and
the model card (``card.md``) beside it.

The manifest is replaced atomically because a running service watches the models folder and
reloads a version whose manifest changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contract.manifest import Manifest

CARD_FILE = "card.md"


def record_quality(version_dir: Path, quality: dict[str, Any]) -> None:
    """Write ``quality`` into an exported version's manifest and its model card."""

    def change(manifest: Manifest) -> None:
        # the table is the numbers again; pictures are paths on the machine that evaluated
        manifest.quality = {k: v for k, v in quality.items() if k not in ("table", "pictures")}

    rewrite_manifest(version_dir, change)


def rewrite_manifest(version_dir: Path, change: Callable[[Manifest], None]) -> Manifest:
    """Apply ``change`` to an exported version's manifest, write it atomically (the server
    watches) and rewrite the model card (card.md) beside it."""
    # imported here: the CLI imports this module, and pydantic would double its start-up time
    from contract.manifest import MANIFEST_FILE, Manifest

    path = version_dir / MANIFEST_FILE
    manifest = Manifest.load(path)
    change(manifest)
    manifest = Manifest.model_validate(manifest.model_dump())  # the changed one, checked
    tmp = path.with_suffix(".json.tmp")
    manifest.dump(tmp)
    os.replace(tmp, path)
    (version_dir / CARD_FILE).write_text(model_card(manifest))
    return manifest


def model_card(manifest: Manifest) -> str:
    """A version's model card in Markdown: how it was trained and its recorded quality."""
    t, q = manifest.training, manifest.quality or {}
    lines = [
        f"# {manifest.name} v{manifest.version}",
        "",
        f"- architecture: `{manifest.preset}`, {manifest.image_size}×{manifest.image_size}×"
        f"{manifest.channels}, z of {manifest.nz}, {manifest.dtype} weights",
        f"- trained: `{t.command}` on {t.dataset} ({t.dataset_size:,} images), {t.steps:,} steps "
        f"in {t.wall_time_s / 60:.0f} min on {t.machine}",
    ]
    exported = (t.model_extra or {}).get("exported")
    if exported:
        lines.append(
            f"- weights: `{exported['checkpoint']}` (`--keep-best`), step {exported['step']:,} "
            f"(epoch {exported['epoch']:g}), the lowest FD of the training probe "
            f"({exported['fd']:.4g})"
        )
    if not q:
        return "\n".join([*lines, "", "No quality numbers recorded: `dcgan evaluate --record`."])
    lines += [
        f"- quality measured on {q.get('data', '?')} with `{q.get('features', '?')}` "
        f"({q.get('features_note', '')}); {q.get('samples', '?')} generated vs "
        f"{q.get('samples', '?')} real images, floors from two disjoint real halves of that size",
        f"- command: `{q.get('command', '?')}`",
        "",
        "| metric | value | real-vs-real floor | better |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {m['value']:.4g} | {m['floor']:.4g} | {m['better']} |"
        for name, m in q.get("metrics", {}).items()
    ]
    if inception := q.get("inception"):
        lines += [
            "",
            f"Standard Inception metrics ({inception['library']}, weights "
            f"`{inception['weights']}`, sha256 {inception['weights_sha256'][:12]}…; "
            f"{inception['samples']} vs {inception['samples']}):",
            "",
            "| metric | value | real-vs-real floor |",
            "|---|---|---|",
            f"| FID | {inception['fid']:.4g} | {inception['fid_floor']:.4g} |",
            f"| KID | {inception['kid']:.4g} | {inception['kid_floor']:.4g} |",
        ]
    if q.get("labels"):
        lines += ["", "| attribute | TV distance | floor | most common: real vs generated |"]
        lines += ["|---|---|---|---|"]
        for head, match in q["labels"].items():
            common = sorted(match["shares"].items(), key=lambda kv: -kv[1][0])[:3]
            shares = ", ".join(f"{k} {a:.0%} vs {b:.0%}" for k, (a, b) in common)
            lines.append(f"| {head} | {match['tv']:.3f} | {match['floor']:.3f} | {shares} |")
    if q.get("truncation"):
        lines += ["", "Truncation ψ (`truncation` on /generate and /interpolate; same seeds):", ""]
        lines += ["| ψ | fd | precision | recall | coverage |", "|---|---|---|---|---|"]
        lines += [
            f"| {c['psi']:g} | {c['fd']:.4g} | {c['precision']:.3f} | {c['recall']:.3f} | "
            f"{c['coverage']:.3f} |"
            for c in q["truncation"]
        ]
    return "\n".join(lines) + "\n"
