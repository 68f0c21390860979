"""Advisory data: sources, per-ecosystem version comparison, storage and matching."""

from __future__ import annotations

__all__: list[str] = []
