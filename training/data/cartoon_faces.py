"""An offline cartoon-faces data set drawn with facesjs (npm, Apache-2.0).

``training/facesjs/render.mjs`` writes seeded SVG faces as JSON Lines; each is rasterised
with resvg (the ``resvg-py`` wheel) on a plain background, cropped to the head and resized.
The result is an ordinary image folder (``out/faces/000000.png``...) plus ``dataset.json``
recording how it was made. Node.js is needed only to build the set.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from training.errors import UserError

BACKGROUND = "#e8e8e8"
ATTRIBUTES_FILE = "attributes.jsonl"  # one {"file": ..., "attributes": {...}} per face
RENDER_SIZE = (200, 300)  # the SVG's 400x600 viewBox at half scale
# head + a little shoulder, as (left, top, right, bottom) of RENDER_SIZE: a 200 px square
CROP_BOX = (0, 25, 200, 225)


class CartoonFacesError(UserError, RuntimeError):
    """Node.js, facesjs or the renderer is missing (the message says how to install it)."""


@dataclass(frozen=True)
class CartoonFacesInfo:
    out_dir: Path
    count: int
    seed: int
    image_size: int
    facesjs_version: str
    background: str
    seconds: float


def facesjs_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "facesjs"  # training/facesjs


def _check_tools(node: str) -> str:
    if shutil.which(node) is None:
        raise CartoonFacesError(f"Node.js not found ({node!r}): install Node.js 18+ to draw faces")
    if not (facesjs_dir() / "node_modules" / "facesjs").is_dir():
        raise CartoonFacesError(f"facesjs is not installed: run `npm ci --prefix {facesjs_dir()}`")
    try:
        import resvg_py  # noqa: F401
    except ImportError:
        raise CartoonFacesError("resvg-py is not installed: pip install -e '.[train]'") from None
    version = subprocess.run(
        [node, str(facesjs_dir() / "render.mjs"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return version


# facesjs feature -> the attribute it labels: the parts visible in the head crop
ATTRIBUTES = {
    "skin": ("body", "color"),
    "head": ("head", "id"),
    "hair": ("hair", "id"),
    "hair_color": ("hair", "color"),
    "long_hair": ("hairBg", "id"),
    "eye": ("eye", "id"),
    "eyebrow": ("eyebrow", "id"),
    "nose": ("nose", "id"),
    "mouth": ("mouth", "id"),
    "ear": ("ear", "id"),
    "facial_hair": ("facialHair", "id"),
    "glasses": ("glasses", "id"),
    "accessories": ("accessories", "id"),
}


def face_attributes(face: dict[str, Any]) -> dict[str, str]:
    """A facesjs face object -> its categorical attributes (``ATTRIBUTES``)."""
    return {
        name: str(face.get(part, {}).get(key, "none")) for name, (part, key) in ATTRIBUTES.items()
    }


def _svgs(node: str, count: int, seed: int) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Stream faces from Node so 20,000 SVGs never sit in memory at once."""
    cmd = [node, str(facesjs_dir() / "render.mjs"), "--count", str(count), "--seed", str(seed)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            face = json.loads(line)
            yield int(face["index"]), str(face["svg"]), dict(face["face"])
    if proc.returncode:
        raise CartoonFacesError(f"facesjs renderer failed with exit code {proc.returncode}")


def render_face(svg: str, image_size: int) -> Image.Image:
    import resvg_py

    png = resvg_py.svg_to_bytes(
        svg_string=svg, width=RENDER_SIZE[0], height=RENDER_SIZE[1], background=BACKGROUND
    )
    face = Image.open(io.BytesIO(bytes(png))).convert("RGB").crop(CROP_BOX)
    return face.resize((image_size, image_size), Image.Resampling.LANCZOS)


def build_cartoon_faces(
    out_dir: Path,
    count: int = 20_000,
    *,
    seed: int = 0,
    image_size: int = 64,
    node: str = "node",
    progress: bool = True,
) -> CartoonFacesInfo:
    """Write ``count`` seeded faces to ``out_dir/faces`` and describe them in dataset.json."""
    if count < 1:
        raise ValueError(f"--count must be >= 1, got {count}")
    version = _check_tools(node)
    from tqdm import tqdm

    faces = out_dir / "faces"
    faces.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    attributes: list[str] = []

    def write(item: tuple[int, str, dict[str, Any]]) -> str:
        index, svg, face = item
        # no optimize/metadata: the same face gives the same bytes
        name = f"{index:06d}.png"
        render_face(svg, image_size).save(faces / name)
        return json.dumps({"file": f"faces/{name}", "attributes": face_attributes(face)})

    with ThreadPoolExecutor(max_workers=2) as pool:  # resvg releases the GIL
        for line in tqdm(
            pool.map(write, _svgs(node, count, seed)),
            total=count,
            unit="face",
            disable=not progress,
            desc="drawing",
        ):
            attributes.append(line)  # pool.map keeps the index order
    (out_dir / ATTRIBUTES_FILE).write_text("\n".join(attributes) + "\n")
    info = CartoonFacesInfo(
        out_dir, count, seed, image_size, version, BACKGROUND, round(time.perf_counter() - start, 2)
    )
    record = asdict(info) | {
        "out_dir": str(out_dir),
        "generator": f"facesjs {version} (npm, Apache-2.0), Math.random seeded per face "
        "with mulberry32(seed * 1000003 + index)",
        "renderer": "resvg-py",
        "render_size": RENDER_SIZE,
        "crop_box": CROP_BOX,
        "command": f"dcgan data cartoon-faces --out {out_dir} --count {count} --seed {seed} "
        f"--image-size {image_size}",
    }
    (out_dir / "dataset.json").write_text(json.dumps(record, indent=2) + "\n")
    return info
