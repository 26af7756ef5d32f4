"""The server a user would write by hand: FastAPI + one global torch Generator, no batching.

The comparison point for bench/bench_service.py. It builds the same architecture, at the
same size, as a model folder's ONNX export, from the manifest's ``config`` (the Generator
of ``training.nets.models``). The models folder holds ONNX files only, no torch weights, so the
weights are randomly initialised: the images are noise, but the work per image (the layers,
their shapes, float32 on the CPU) is the same, and that is what a speed comparison needs.

Each ``POST /generate`` (a sync ``def`` handler, so FastAPI runs it in its threadpool)
samples a latent with ``torch.randn``, runs the generator under ``torch.inference_mode()``,
converts to uint8 and encodes a PNG with Pillow. torch keeps its default thread count
(one per core). ``{"count": N, "grid": true}`` tiles N
images into one PNG. ``?model=`` is accepted and ignored.

    .venv/bin/python bench/naive_torch_server.py --port 8001 --model-dir models/cartoon-faces/1
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI, Response
from PIL import Image
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.nets.models import DCGANConfig, Generator

app = FastAPI()
generator: Generator | None = None


class GenerateRequest(BaseModel):
    count: int = 1
    grid: bool = False


def load_generator(model_dir: Path) -> Generator:
    """The manifest's architecture with random weights, in eval mode."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    net = Generator(DCGANConfig.from_dict(manifest["config"]))
    return net.eval()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> [N, H, W, C] uint8."""
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).numpy()


def grid(images: np.ndarray, padding: int = 2) -> np.ndarray:
    """Tile [N, H, W, C] into one [H', W', C] image, ~sqrt(N) per row."""
    n, h, w, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.zeros((padding + rows * (h + padding), padding + cols * (w + padding), c), np.uint8)
    for i, image in enumerate(images):
        y, x = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        out[y : y + h, x : x + w] = image
    return out


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return buf.getvalue()


@app.post("/generate")
def generate(req: GenerateRequest, model: str | None = None) -> Response:
    assert generator is not None
    with torch.inference_mode():
        z = torch.randn(req.count, generator.config.nz)
        images = to_uint8(generator(z))
    image = grid(images) if req.grid else images[0]
    return Response(png(image), media_type="image/png")


def main() -> None:
    global generator
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model-dir", type=Path, default=Path("models/cartoon-faces/1"))
    args = parser.parse_args()
    generator = load_generator(args.model_dir)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
