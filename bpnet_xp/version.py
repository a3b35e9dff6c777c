"""The version of bpnet_xp (one place: the package, the model files and the CLI read it)."""

__version__ = "0.1.0"
