"""Sealyard: a self-hosted, secure-by-default container software supply chain."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
