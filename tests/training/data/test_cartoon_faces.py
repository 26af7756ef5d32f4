import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testkit.tools import unavailable
from training.data.cartoon_faces import (
    ATTRIBUTES,
    ATTRIBUTES_FILE,
    CartoonFacesError,
    build_cartoon_faces,
    facesjs_dir,
)


def require_facesjs() -> None:
    """Skip without Node.js + facesjs; fail instead under DCGAN_REQUIRE_FACESJS=1 (CI)."""
    if shutil.which("node") is None or not (facesjs_dir() / "node_modules" / "facesjs").is_dir():
        unavailable(
            f"needs Node.js and facesjs: npm ci --prefix {facesjs_dir()}", "DCGAN_REQUIRE_FACESJS"
        )


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_facesjs()
    out = tmp_path_factory.mktemp("cartoon")
    build_cartoon_faces(out, 64, seed=3, progress=False)
    return out


def test_builds_a_seeded_folder_of_64px_rgb_faces(faces: Path) -> None:
    files = sorted((faces / "faces").glob("*.png"))
    assert len(files) == 64 and files[0].name == "000000.png"
    images = np.stack([np.asarray(Image.open(f)) for f in files])
    assert images.shape == (64, 64, 64, 3)
    assert len({img.tobytes() for img in images}) == 64  # all different faces
    record = json.loads((faces / "dataset.json").read_text())
    assert record["count"] == 64 and record["seed"] == 3
    assert record["facesjs_version"] == "5.0.3"


def test_same_seed_same_bytes_and_other_seed_other_faces(faces: Path, tmp_path: Path) -> None:
    build_cartoon_faces(tmp_path / "again", 4, seed=3, progress=False)
    build_cartoon_faces(tmp_path / "other", 4, seed=4, progress=False)
    for i in range(4):
        name = f"{i:06d}.png"
        assert (tmp_path / "again" / "faces" / name).read_bytes() == (
            faces / "faces" / name
        ).read_bytes()
        assert (tmp_path / "other" / "faces" / name).read_bytes() != (
            faces / "faces" / name
        ).read_bytes()


def read_attributes(folder: Path) -> list[dict[str, object]]:
    lines = (folder / ATTRIBUTES_FILE).read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_every_face_has_its_facesjs_attributes_in_order(faces: Path, tmp_path: Path) -> None:
    rows = read_attributes(faces)
    assert [r["file"] for r in rows] == [f"faces/{i:06d}.png" for i in range(64)]
    assert all(set(r["attributes"]) == set(ATTRIBUTES) for r in rows)  # type: ignore[arg-type]
    # the labels vary across faces (a feature network can learn them)...
    for name in ("hair", "skin", "eye", "mouth"):
        assert len({r["attributes"][name] for r in rows}) > 1, name  # type: ignore[index]
    # ...and are a pure function of the seed, like the pixels
    build_cartoon_faces(tmp_path / "again", 4, seed=3, progress=False)
    assert read_attributes(tmp_path / "again") == rows[:4]


def test_missing_node_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CartoonFacesError, match=r"Node\.js not found"):
        build_cartoon_faces(tmp_path, 2, node="/nonexistent/node")
