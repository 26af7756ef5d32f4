"""`python -m training` = the `dcgan` command (also what `torchrun -m training` runs)."""

from training.launch import main

if __name__ == "__main__":
    main()
