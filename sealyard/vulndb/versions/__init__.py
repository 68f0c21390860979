"""Version schemes by ecosystem (OSV ecosystem names and purl types)."""

from __future__ import annotations

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["InvalidVersionError", "VersionScheme"]
