"""Platforms (``os/arch[/variant]``) and choosing one from an index."""

from __future__ import annotations

import platform as _platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealyard.errors import UsageError

__all__ = ["Platform", "host_platform", "select_platform"]

_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``. Raises UsageError."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"platform {text!r} is not os/arch[/variant]")
        return cls(
            parts[0], _ARCH_ALIASES.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else ""
        )

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Platform:
        return cls(
            str(value.get("os", "")),
            str(value.get("architecture", "")),
            str(value.get("variant", "") or ""),
        )

    def matches(self, other: Platform) -> bool:
        """``other`` (from an index) satisfies this request; an empty variant matches any,
        and arm64's default variant is v8, arm's v7 (as containerd normalises them)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if not self.variant:
            return True
        theirs = other.variant or _DEFAULT_VARIANTS.get(other.architecture, "")
        return self.variant == theirs

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    machine = _platform.machine().lower()
    return Platform("linux", _ARCH_ALIASES.get(machine, machine))


def select_platform(manifests: Sequence[Mapping[str, Any]], wanted: Platform) -> Mapping[str, Any]:
    """The descriptor of ``manifests`` (an index's entries) for ``wanted``.

    Attestation manifests (``unknown/unknown``) never match. Raises UsageError listing the
    available platforms when none matches.
    """
    for entry in manifests:
        plat = entry.get("platform")
        if isinstance(plat, Mapping) and wanted.matches(Platform.from_dict(plat)):
            return entry
    available = sorted(
        str(Platform.from_dict(e["platform"]))
        for e in manifests
        if isinstance(e.get("platform"), Mapping)
    )
    raise UsageError(
        f"no image for platform {wanted} in the index; available: {', '.join(available) or 'none'}"
    )
