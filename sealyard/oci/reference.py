"""Image references: ``[REGISTRY/]REPOSITORY[:TAG][@DIGEST]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sealyard.errors import InvalidDigestError, InvalidReferenceError
from sealyard.oci.digest import Digest, parse_digest

__all__ = ["ImageReference", "parse_reference"]

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> ImageReference:
    """Parse a reference the way docker does (``alpine`` → ``docker.io/library/alpine``).

    Raises:
        InvalidReferenceError: malformed reference.
    """
    rest = text.strip()
    digest = None
    if "@" in rest:
        rest, _, raw_digest = rest.partition("@")
        try:
            digest = parse_digest(raw_digest)
        except InvalidDigestError as exc:
            raise InvalidReferenceError(f"{text!r}: {exc}") from exc
    registry = DEFAULT_REGISTRY
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    tag = None
    name, colon, maybe_tag = rest.rpartition(":")
    if colon and "/" not in maybe_tag:
        rest, tag = name, maybe_tag
        if not _TAG.fullmatch(tag):
            raise InvalidReferenceError(f"{text!r}: invalid tag {tag!r}")
    if registry == DEFAULT_REGISTRY and "/" not in rest:
        rest = f"library/{rest}"
    if not _REPO.fullmatch(rest):
        raise InvalidReferenceError(f"{text!r}: invalid repository name {rest!r}")
    return ImageReference(registry, rest, tag, digest)
