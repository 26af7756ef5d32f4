"""The `dcgan` command's entry point, importable without the training dependencies.

`make serve` and `pip install 'dcgan-serve[cpu]'` install the serving set only, yet the
package still puts `dcgan` on the PATH: run there, it says which extra to install instead
of dying with ``ModuleNotFoundError: typer``.
"""

from __future__ import annotations

import sys

# what the `train` extra brings (the import names of its packages)
TRAIN_EXTRA = {"typer", "torch", "onnx", "onnxconverter_common", "tqdm", "matplotlib", "sklearn"}


def main() -> None:
    try:
        from training.cli import app
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAIN_EXTRA:
            raise
        print(
            f"error: the dcgan command needs the training dependencies ({exc.name} is missing): "
            "pip install 'dcgan-serve[cpu,train]' (or `make test`, which sets up .venv with "
            "them); serving alone needs only dcgan-serve",
            file=sys.stderr,
        )
        sys.exit(2)
    app()
