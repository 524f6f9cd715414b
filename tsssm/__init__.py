"""tsssm: S4, Mamba and Transformer sequence models on continuous signals, measured side by side."""

__version__ = "0.1.0"
