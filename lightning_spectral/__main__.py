"""``python -m lightning_spectral``: the same command line as ``lightning-spectral``."""

from lightning_spectral.cli import main

if __name__ == "__main__":
    main(prog="python -m lightning_spectral")
