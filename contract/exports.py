"""Opening an export as a checked onnxruntime session: the one path by which the service
serves a version and ``dcgan sample`` draws from one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from contract.folders import (
    checksum_problem,
    folder_inside,
    read_manifest,
    regular_file_inside,
    sanitize,
    version_number,
)
from contract.manifest import Manifest

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


@dataclass
class OpenedExport:
    """A version folder's manifest and session; ``reason`` says why not when either is None."""

    manifest: Manifest | None = None
    session: ort.InferenceSession | None = None
    reason: str = ""

    def run(self, latents: np.ndarray) -> np.ndarray:
        """Images [N, C, H, W] in the manifest's value range for latents [N, nz]."""
        assert self.session is not None and self.manifest is not None, self.reason
        out = self.session.run([self.manifest.output_name], {self.manifest.input_name: latents})
        return np.asarray(out[0])


def open_export(
    folder: Path,
    providers: list[str],
    options: ort.SessionOptions | None = None,
    *,
    name: str | None = None,
    root: Path | None = None,
) -> OpenedExport:
    """Open models/<name>/<version>/ (``folder``) after checking it; never raises for a bad
    export, whose reason is returned instead.

    ``root`` is the models folder (default: two levels above ``folder``): nothing that
    resolves outside it is opened, nor anything that is not a regular file. The manifest
    must name this model (``name``, default the folder's parent) and version (the folder's
    name), and the ONNX file must match its sha256 and its signature.
    """
    version = version_number(folder.name)
    if version is None:
        raise ValueError(f"not a version folder name: {folder.name!r}")
    name = folder.parent.name if name is None else name
    real_root = Path(os.path.realpath(folder.parent.parent if root is None else root))
    problem = folder_inside(real_root, folder, "the version folder")
    if problem:
        return OpenedExport(reason=problem)
    manifest = read_manifest(real_root, folder)
    if isinstance(manifest, str):
        return OpenedExport(reason=manifest)
    opened = OpenedExport(manifest)
    if manifest.name != name or manifest.version != version:
        opened.reason = (
            f"manifest says {manifest.name} v{manifest.version}, folder is {name}/{version}"
        )
        return opened
    onnx_path = folder / manifest.onnx_file
    opened.reason = regular_file_inside(real_root, onnx_path) or checksum_problem(
        onnx_path, manifest
    )
    if opened.reason:
        return opened
    try:
        session = ort.InferenceSession(str(onnx_path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises several private types for bad files
        detail = sanitize(str(exc), folder, real_root)
        opened.reason = f"onnxruntime cannot load {manifest.onnx_file}: {detail}"
        return opened
    opened.reason = check_signature(session, manifest)
    if not opened.reason:
        opened.session = session
    return opened


def check_signature(session: ort.InferenceSession, manifest: Manifest) -> str:
    """Why the session's inputs and outputs disagree with the manifest; "" when they agree."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [manifest.input_name] or manifest.output_name not in [
        o.name for o in outputs
    ]:
        return f"ONNX inputs/outputs are not {manifest.input_name} -> {manifest.output_name}"
    if list(inputs[0].shape)[1:] != [manifest.nz]:
        return f"ONNX input shape {inputs[0].shape} does not match nz={manifest.nz}"
    out_shape = next(o.shape for o in outputs if o.name == manifest.output_name)
    expected = [manifest.channels, manifest.image_size, manifest.image_size]
    if list(out_shape)[1:] != expected:
        return f"ONNX output shape {out_shape} does not match manifest [N, {expected}]"
    return ""
