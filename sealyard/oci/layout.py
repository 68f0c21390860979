"""Reading OCI image layouts (``oci:DIR[:TAG]``) and resolving an image in them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sealyard.config import Limits
from sealyard.errors import NotFoundError, UntrustedDataError, UsageError
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, hex_of, parse_digest
from sealyard.oci.platform import Platform, select_platform
from sealyard.oci.verify import VerifyingReader, read_verified

__all__ = ["OciLayout", "ResolvedImage", "resolve_image"]

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class ResolvedImage:
    """An image manifest chosen (through an index if needed), with its parsed config."""

    manifest_digest: Digest
    manifest: dict[str, Any]
    config_digest: Digest
    config: dict[str, Any]
    index_digest: Digest | None = None

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("layers") or [])

    @property
    def diff_ids(self) -> list[str]:
        rootfs = self.config.get("rootfs") or {}
        return list(rootfs.get("diff_ids") or [])

    @property
    def platform(self) -> str:
        parts = [self.config.get("os", ""), self.config.get("architecture", "")]
        if self.config.get("variant"):
            parts.append(self.config["variant"])
        return "/".join(p for p in parts if p)


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise UntrustedDataError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UntrustedDataError(f"{what} is not a JSON object")
    return doc


def resolve_image(
    fetch: Callable[[Digest], bytes],
    descriptor: dict[str, Any],
    platform: Platform,
    limits: Limits,
    fetch_config: Callable[[Digest], bytes] | None = None,
) -> ResolvedImage:
    """Follow ``descriptor`` (manifest or index) to one image manifest and its config.

    ``fetch(digest)`` returns *verified* manifest content, ``fetch_config(digest)`` verified
    blob content (defaults to ``fetch``: in a layout both are blobs).
    """
    digest = parse_digest(str(descriptor.get("digest")))
    data = fetch(digest)
    doc = _json(data, f"manifest {digest}")
    index_digest = None
    media_type = doc.get("mediaType") or descriptor.get("mediaType")
    if media_type in mt.INDEX_MANIFESTS or "manifests" in doc:
        index_digest = digest
        chosen = select_platform(list(doc.get("manifests") or []), platform)
        digest = parse_digest(str(chosen.get("digest")))
        doc = _json(fetch(digest), f"manifest {digest}")
        if "manifests" in doc:
            raise UntrustedDataError(f"nested index {digest} where an image was expected")
    config = doc.get("config")
    if not isinstance(config, dict):
        raise UntrustedDataError(f"manifest {digest} has no config")
    config_digest = parse_digest(str(config.get("digest")))
    config_doc = _json((fetch_config or fetch)(config_digest), f"config {config_digest}")
    return ResolvedImage(digest, doc, config_digest, config_doc, index_digest)


class OciLayout:
    """An OCI image layout directory."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or Limits()
        marker = self.root / "oci-layout"
        if not marker.is_file():
            raise UsageError(f"{root} is not an OCI image layout (no oci-layout file)")
        version = _json(marker.read_bytes(), "oci-layout").get("imageLayoutVersion")
        if version != "1.0.0":
            raise UntrustedDataError(f"unsupported imageLayoutVersion {version!r}")
        try:
            index = (self.root / "index.json").read_bytes()
        except OSError as exc:
            raise UntrustedDataError(f"{root}: cannot read index.json: {exc}") from exc
        self.index = _json(index, "index.json")

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.split(":", 1)[0] / hex_of(digest)

    def open_blob(self, digest: Digest) -> BinaryIO:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} missing from layout {self.root}") from exc

    def read_small(self, digest: Digest) -> bytes:
        with self.open_blob(digest) as fh:
            return read_verified(fh, digest, self.limits.max_manifest_bytes)

    def open_verified(self, digest: Digest) -> VerifyingReader:
        return VerifyingReader(self.open_blob(digest), digest)

    def find(self, reference: str | None) -> dict[str, Any]:
        """The index.json descriptor for a tag, ``@digest``, or the only image."""
        manifests = [m for m in self.index.get("manifests") or [] if isinstance(m, dict)]
        if reference and reference.startswith("@"):
            wanted = parse_digest(reference[1:])
            for m in manifests:
                if m.get("digest") == wanted:
                    return m
            return {"digest": wanted, "mediaType": mt.OCI_MANIFEST}
        if reference:
            for m in manifests:
                if (m.get("annotations") or {}).get(REF_NAME) == reference:
                    return m
            raise NotFoundError(f"tag {reference!r} not found in layout {self.root}")
        if len(manifests) == 1:
            return manifests[0]
        tags = sorted(str((m.get("annotations") or {}).get(REF_NAME)) for m in manifests)
        raise UsageError(f"layout {self.root} holds several images; name one of: {', '.join(tags)}")
