"""lightning-spectral: spectral representations and band-limited convolutions for Lightning."""

__version__ = "0.1.0"
