"""Image encoders on real generator output: µs per picture and bytes, side by side.

Renders the bundled models' images (seeds 0..N, as the service does: to_uint8, grids with
the service's padding) and encodes each picture with every candidate available here:

- PNG: Pillow (default level, level 1), fpng (PyPI ``fpng``), the zlib writer of
  contract/imaging.py, OpenCV's imencode (if ``opencv-python-headless`` is installed), and
  what the service uses (``contract.imaging.encode_png``). Every lossless candidate is
  decoded and compared with its input: a mismatch is printed, never hidden.
- JPEG q90, WebP q90 at several ``method`` values (libwebp's effort), lossless WebP;
- GIF of an 8-frame interpolation: Pillow's median cut (its default) and fast octree.

    .venv/bin/python bench/bench_encoders.py
    .venv/bin/python bench/bench_encoders.py --models-dir models --repeat 200

Prints Markdown tables. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract import imaging
from contract.folders import version_number
from contract.latents import latents_for_seeds, lerp
from contract.manifest import Manifest
from service.inference.rendering import GRID_PADDING

REPO = Path(__file__).resolve().parents[1]
Encoder = Callable[[np.ndarray], bytes]


def pillow_png(level: int | None) -> Encoder:
    def encode(pixels: np.ndarray) -> bytes:
        buf = io.BytesIO()
        kwargs = {} if level is None else {"compress_level": level}
        imaging.to_pil(pixels).save(buf, format="PNG", **kwargs)
        return buf.getvalue()

    return encode


def pillow(fmt: str, **options: object) -> Encoder:
    def encode(pixels: np.ndarray) -> bytes:
        buf = io.BytesIO()
        imaging.to_pil(pixels).save(buf, format=fmt, **options)
        return buf.getvalue()

    return encode


def png_candidates() -> dict[str, Encoder]:
    found: dict[str, Encoder] = {
        "Pillow, default level": pillow_png(None),
        "Pillow, compress_level=1": pillow_png(1),
        "zlib writer (contract/imaging.py)": imaging._png_with_zlib,
    }
    try:
        import fpng

        found["fpng"] = lambda p: bytes(fpng.from_ndarray(np.ascontiguousarray(p)))
    except ImportError:
        pass
    try:
        import cv2

        found["OpenCV imencode"] = lambda p: cv2.imencode(".png", p[:, :, ::-1])[1].tobytes()
    except ImportError:
        pass
    found["the service (encode_png)"] = imaging.encode_png
    return found


def time_us(encode: Encoder, picture: np.ndarray, repeat: int) -> float:
    encode(picture)
    runs = []
    for _ in range(max(3, repeat // 20)):
        t0 = time.perf_counter()
        for _ in range(20):
            encode(picture)
        runs.append((time.perf_counter() - t0) / 20)
    return statistics.median(runs) * 1e6


def decodes_to(data: bytes, picture: np.ndarray) -> bool:
    image = Image.open(io.BytesIO(data))
    # WebP has no grayscale mode: a one-channel picture comes back as RGB
    decoded = np.asarray(image.convert("L") if picture.shape[2] == 1 else image)
    return decoded.reshape(picture.shape).tobytes() == picture.tobytes()


def generate(version_dir: Path, count: int) -> tuple[Manifest, np.ndarray]:
    manifest = Manifest.load(version_dir / "manifest.json")
    session = ort.InferenceSession(str(version_dir / manifest.onnx_file))
    z = latents_for_seeds(list(range(count)), manifest.nz)
    (out,) = session.run([manifest.output_name], {manifest.input_name: z})
    return manifest, imaging.to_uint8(out, manifest.value_range)


def row(name: str, encode: Encoder, picture: np.ndarray, repeat: int, lossless: bool) -> str:
    data = encode(picture)
    check = ("yes" if decodes_to(data, picture) else "**NO**") if lossless else "lossy"
    return f"| {name} | {time_us(encode, picture, repeat):,.0f} | {len(data):,} | {check} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--repeat", type=int, default=400, help="encodes per small picture")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.orig_argv)}\nPillow {Image.__version__}\n")
    for model_dir in sorted(p for p in args.models_dir.iterdir() if p.is_dir()):
        version_dir = max(
            (p for p in model_dir.iterdir() if version_number(p.name) is not None),
            key=lambda p: int(p.name),
        )
        manifest, pixels = generate(version_dir, 16)
        grid = imaging.make_grid(pixels, padding=GRID_PADDING)
        pictures = {"one image": pixels[0], "16-image grid": grid}
        for label, picture in pictures.items():
            h, w, c = picture.shape
            repeat = args.repeat if h * w <= 4096 else max(20, args.repeat // 10)
            print(f"### {model_dir.name}, {label} ({w}×{h}×{c})\n")
            print("| encoder | µs | bytes | decodes to the same array |\n|---|---|---|---|")
            for name, encode in png_candidates().items():
                if c == 1 and name == "fpng":
                    continue  # fpng encodes RGB and RGBA only
                print(row(f"PNG: {name}", encode, picture, repeat, True))
            print(row("JPEG q90", pillow("JPEG", quality=90), picture, repeat, False))
            for method in (0, 2, 4, 6):
                webp = pillow("WEBP", quality=90, method=method)
                print(row(f"WebP q90, method {method}", webp, picture, repeat, False))
            print(row("WebP lossless", pillow("WEBP", lossless=True), picture, repeat // 4, True))
            print()
        # an 8-step interpolation as GIF (the /interpolate default length)
        _, walk = (
            manifest,
            imaging.to_uint8(
                ort.InferenceSession(str(version_dir / manifest.onnx_file)).run(
                    [manifest.output_name],
                    {
                        manifest.input_name: lerp(
                            *latents_for_seeds([0, 1], manifest.nz),
                            np.linspace(0, 1, 8, dtype=np.float32),
                        )
                    },
                )[0],
                manifest.value_range,
            ),
        )
        print(f"### {model_dir.name}, 8-frame animation\n")
        print("| encoder | µs | bytes |\n|---|---|---|")
        for name, method in (
            ("GIF, median cut (Pillow's default)", None),
            ("GIF, fast octree", Image.Quantize.FASTOCTREE),
        ):

            def gif(frames: np.ndarray, method: Image.Quantize | None = method) -> bytes:
                pictures = [imaging.to_pil(f).convert("RGB") for f in frames]
                if method is not None:
                    pictures = [p.quantize(256, method=method) for p in pictures]
                buf = io.BytesIO()
                pictures[0].save(buf, format="GIF", save_all=True, append_images=pictures[1:])
                return buf.getvalue()

            print(f"| {name} | {time_us(gif, walk, 40):,.0f} | {len(gif(walk)):,} |")
        for fmt in ("gif", "webp"):
            service = lambda f, fmt=fmt: imaging.encode_animation(f, fmt, 100)  # noqa: E731
            took = time_us(service, walk, 40)
            print(f"| the service ({fmt}, there and back) | {took:,.0f} | {len(service(walk)):,} |")
        print()


if __name__ == "__main__":
    main()
