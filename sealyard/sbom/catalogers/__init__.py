"""Catalogers, one module per ecosystem, all behind :mod:`.interface`."""

from __future__ import annotations

__all__: list[str] = []
