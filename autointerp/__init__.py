"""autointerp: automated interpretability evaluation of SAE features and neurons."""

__version__ = "0.1.0"
