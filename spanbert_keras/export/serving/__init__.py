"""Serving signatures, one module per task model."""
