"""Software bill of materials: read image layers, catalog packages, emit CycloneDX/SPDX."""

from __future__ import annotations

__all__: list[str] = []
