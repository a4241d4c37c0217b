"""pinwarden: a self-hosted, Seam-compatible access-code manager for smart locks."""

__version__ = "0.1.0"
