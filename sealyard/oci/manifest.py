"""Manifest parsing and validation.

The registry stores manifests byte-for-byte; this module only reads them to check their
schema and to learn what they reference. Digests are always computed over the received bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sealyard.errors import InvalidDigestError, ManifestInvalidError, SizeLimitError
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, parse_digest, sha256_digest

__all__ = ["Descriptor", "ParsedManifest", "parse_manifest"]

_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out


@dataclass(frozen=True)
class ParsedManifest:
    """What the registry needs to know about a validated manifest."""

    media_type: str
    digest: Digest
    size: int
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_MANIFESTS

    @property
    def required_blobs(self) -> tuple[Descriptor, ...]:
        """Blobs that must already be in the repository (config and distributable layers)."""
        blobs = [] if self.config is None else [self.config]
        blobs += [d for d in self.layers if d.media_type not in mt.NONDISTRIBUTABLE]
        return tuple(blobs)

    @property
    def referrer_artifact_type(self) -> str | None:
        """``artifactType`` as the referrers API reports it (falls back to config type)."""
        if self.artifact_type:
            return self.artifact_type
        if self.config is not None and not self.is_index:
            return self.config.media_type
        return None


def _check_depth(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ManifestInvalidError(f"manifest nests deeper than {max_depth} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalidError(f"{where}: annotations must map strings to strings")
    return dict(value)


def _media_type(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _MEDIA_TYPE.fullmatch(value):
        raise ManifestInvalidError(f"{where}: invalid or missing mediaType {value!r}")
    return value


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalidError(f"{where}: descriptor must be an object")
    media_type = _media_type(value.get("mediaType"), where)
    try:
        digest = parse_digest(value.get("digest"))  # type: ignore[arg-type]
    except InvalidDigestError as exc:
        raise ManifestInvalidError(f"{where}: {exc}") from exc
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalidError(f"{where}: size must be a non-negative integer")
    artifact_type = value.get("artifactType")
    if artifact_type is not None:
        _media_type(artifact_type, f"{where}.artifactType")
    platform = value.get("platform")
    if platform is not None and (
        not isinstance(platform, dict)
        or not isinstance(platform.get("os"), str)
        or not isinstance(platform.get("architecture"), str)
    ):
        raise ManifestInvalidError(f"{where}: platform needs string os and architecture")
    urls = value.get("urls")
    if urls is not None and (
        not isinstance(urls, list) or not all(isinstance(u, str) for u in urls)
    ):
        raise ManifestInvalidError(f"{where}: urls must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=artifact_type,
        annotations=_string_map(value.get("annotations"), where),
        platform=platform,
    )


def _descriptor_list(value: Any, where: str) -> tuple[Descriptor, ...]:
    if not isinstance(value, list):
        raise ManifestInvalidError(f"{where} must be a list of descriptors")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(value))


def _resolve_media_type(doc: dict[str, Any], content_type: str | None) -> str:
    if doc.get("schemaVersion") == 1:
        raise ManifestInvalidError("Docker schema 1 manifests are not supported")
    body_type = doc.get("mediaType")
    header_type = (content_type or "").split(";", 1)[0].strip() or None
    if body_type is not None and not isinstance(body_type, str):
        raise ManifestInvalidError("mediaType must be a string")
    if body_type and header_type and body_type != header_type:
        raise ManifestInvalidError(
            f"Content-Type {header_type!r} does not match the manifest's mediaType {body_type!r}"
        )
    media_type = body_type or header_type
    if media_type is None:
        media_type = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if media_type not in mt.MANIFEST_TYPES:
        raise ManifestInvalidError(f"unsupported manifest media type {media_type!r}")
    if media_type in (mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST) and body_type is None:
        raise ManifestInvalidError("Docker manifests must carry their mediaType field")
    return media_type


def parse_manifest(
    raw: bytes, content_type: str | None, *, max_bytes: int = 4 * 1024 * 1024, max_depth: int = 64
) -> ParsedManifest:
    """Validate a manifest received as ``raw`` bytes.

    Raises:
        SizeLimitError: larger than ``max_bytes``.
        ManifestInvalidError: not JSON, schema violated, or media type inconsistent.
    """
    if len(raw) > max_bytes:
        raise SizeLimitError(f"manifest is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integer literals
        raise ManifestInvalidError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestInvalidError("manifest must be a JSON object")
    _check_depth(doc, max_depth)
    media_type = _resolve_media_type(doc, content_type)
    version = doc.get("schemaVersion")
    if version != 2 or not isinstance(version, int) or isinstance(version, bool):
        raise ManifestInvalidError("schemaVersion must be 2 (the integer 2)")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None:
        _media_type(artifact_type, "artifactType")
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor(doc["subject"], "subject")
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    if media_type in mt.IMAGE_MANIFESTS:
        if "manifests" in doc:
            raise ManifestInvalidError("an image manifest must not contain 'manifests'")
        config = _descriptor(doc.get("config"), "config")
        layers = _descriptor_list(doc.get("layers"), "layers")
        if media_type == mt.DOCKER_MANIFEST and not layers:
            raise ManifestInvalidError("a Docker image manifest needs at least one layer")
        if config.media_type == mt.OCI_EMPTY and artifact_type is None:
            raise ManifestInvalidError("an artifact with an empty config must set artifactType")
    else:
        if "config" in doc or "layers" in doc:
            raise ManifestInvalidError("an index must not contain 'config' or 'layers'")
        manifests = _descriptor_list(doc.get("manifests"), "manifests")
    return ParsedManifest(
        media_type=media_type,
        digest=sha256_digest(raw),
        size=len(raw),
        config=config,
        layers=layers,
        manifests=manifests,
        subject=subject,
        artifact_type=artifact_type,
        annotations=_string_map(doc.get("annotations"), "annotations"),
    )
