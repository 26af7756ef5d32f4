"""`python -m training` = the `dcgan` command (also what `torchrun -m training` runs)."""

from training.cli import app

if __name__ == "__main__":
    app()
