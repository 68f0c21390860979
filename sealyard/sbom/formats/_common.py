"""Helpers shared by the formats: stable ids, ordering, timestamps, image identity."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sealyard import __version__
from sealyard.sbom.model import ImageInfo, LayerInfo, Location, Package, Sbom, ScanWarning
from sealyard.sbom.purl import purl

__all__ = [
    "EPOCH",
    "IdentifiedPackage",
    "document_uuid",
    "dump_json",
    "identified_packages",
    "image_purl",
    "jsonable",
    "layer_at",
    "package_properties",
    "sorted_locations",
    "sorted_warnings",
    "timestamp",
    "tool_name",
    "tool_version",
]

EPOCH = "1970-01-01T00:00:00Z"
# A fixed namespace for name-based (v5) UUIDs of Sealyard documents.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sealyard:sbom")
# Scanner sources that name a local file or directory rather than a registry repository.
_LOCAL_SOURCE = re.compile(r"(?:oci|oci-archive|docker-archive|dir):(?![0-9]+/)")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True)
class IdentifiedPackage:
    """A package with its stable identifier (a hash of purl, identity and locations)."""

    id: str
    package: Package


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data with mapping keys sorted and sets ordered.

    Catalogers' ``metadata`` may hold tuples, sets or other objects; anything that is not
    JSON data becomes its ``str``.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def dump_json(document: Any) -> str:
    """Serialise a document: 2-space indent, UTF-8 text kept, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _canonical(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _package_hash(pkg: Package) -> str:
    identity = {
        "purl": pkg.purl,
        "type": pkg.type,
        "name": pkg.name,
        "version": pkg.version,
        "locations": [list(_location_key(loc)) for loc in sorted_locations(pkg)],
    }
    return hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()[:16]


def identified_packages(sbom: Sbom) -> list[IdentifiedPackage]:
    """The packages of ``sbom`` in a stable order, each with a stable unique id.

    The id is a hash of the purl, type, name, version and locations, so the same package
    found at the same place gets the same id in every run. Packages equal in every field are
    reported once; packages that share an identity but differ otherwise (say, two
    catalogers disagreeing on metadata) get ``-2``, ``-3`` … suffixes in sorted order.
    """
    keyed = sorted(
        ((_package_hash(p), _canonical(p.to_dict()), p) for p in sbom.packages),
        key=lambda t: (t[2].sort_key, t[0], t[1]),
    )
    result: list[IdentifiedPackage] = []
    seen: dict[str, list[str]] = {}
    for base, canonical, pkg in keyed:
        variants = seen.setdefault(base, [])
        if canonical in variants:
            continue
        variants.append(canonical)
        pid = base if len(variants) == 1 else f"{base}-{len(variants)}"
        result.append(IdentifiedPackage(id=pid, package=pkg))
    return result


def sorted_warnings(sbom: Sbom) -> list[ScanWarning]:
    return sorted(
        set(sbom.warnings),
        key=lambda w: (w.kind, w.path, -1 if w.layer is None else w.layer, w.source, w.message),
    )


def tool_name(sbom: Sbom) -> str:
    return sbom.tool or "sealyard"


def tool_version(sbom: Sbom) -> str:
    return sbom.tool_version or __version__


def timestamp(sbom: Sbom, *, deterministic: bool) -> str:
    """The document creation time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).

    ``sbom.created`` if set; otherwise the Unix epoch when ``deterministic``, else now.

    Raises:
        ValueError: ``sbom.created`` is not an ISO 8601 date-time.
    """
    if sbom.created:
        when = datetime.fromisoformat(sbom.created)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    elif deterministic:
        return EPOCH
    else:
        when = datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _image_identity(sbom: Sbom) -> str:
    image = sbom.image
    digest = image.manifest_digest or _split_reference(image.reference)[2]
    if digest:
        return digest
    if image.config_digest:
        return image.config_digest
    # No digest (e.g. a directory scan): fall back to the reference and the content.
    ids = ",".join(ip.id for ip in identified_packages(sbom))
    return f"{image.reference}|{ids}"


def document_uuid(sbom: Sbom, fmt: str, *, deterministic: bool) -> uuid.UUID:
    """The document's UUID: random, or when ``deterministic`` derived from the image.

    The deterministic UUID is a version-5 UUID of the manifest digest (else the digest in
    the reference, else the config digest, else the reference plus the package ids), the
    format name and the tool version, so a
    new Sealyard release or another format gives a new document identity.
    """
    if not deterministic:
        return uuid.uuid4()
    name = f"{fmt}|{tool_name(sbom)}|{tool_version(sbom)}|{_image_identity(sbom)}"
    return uuid.uuid5(_UUID_NAMESPACE, name)


def _split_reference(reference: str) -> tuple[str, str, str]:
    """``(repository, tag, digest)`` of an image reference; parts may be empty."""
    rest, _, digest = reference.partition("@")
    repository, tag = rest, ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
    return repository, tag, digest


def image_purl(image: ImageInfo) -> str | None:
    """``pkg:oci/<name>@<digest>?repository_url=…&tag=…&arch=…`` when derivable.

    Derivable means a digest is known and the reference names a repository: local sources
    (``oci:DIR``, ``docker-archive:FILE``, ``dir:PATH``) have none and get no purl.
    ``repository_url`` is included only when the reference names a registry host (its first
    component contains ``.`` or ``:`` or is ``localhost``); a bare ``library/alpine`` is
    ambiguous and is left out rather than guessed.
    """
    reference = image.reference.removeprefix("docker://")
    if _LOCAL_SOURCE.match(reference):
        return None
    repository, tag, ref_digest = _split_reference(reference)
    digest = image.manifest_digest or ref_digest
    if not repository or not _DIGEST.fullmatch(digest):
        return None
    name = repository.rsplit("/", 1)[-1].lower()
    if not name:
        return None
    first, sep, _ = repository.partition("/")
    has_registry = bool(sep) and ("." in first or ":" in first or first == "localhost")
    arch = ""
    if image.platform:
        parts = image.platform.split("/")
        arch = parts[1] if len(parts) > 1 else ""
    return purl(
        "oci",
        name,
        digest,
        qualifiers={
            "repository_url": repository.lower() if has_registry else None,
            "tag": tag or None,
            "arch": arch or None,
        },
    )


def layer_at(image: ImageInfo, index: int | None) -> LayerInfo | None:
    if index is None:
        return None
    for layer in image.layers:
        if layer.index == index:
            return layer
    return None


def _metadata_value(value: Any) -> str | None:
    value = jsonable(value)
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _location_key(loc: Location) -> tuple[str, int]:
    return (loc.path, -1 if loc.layer is None else loc.layer)


def sorted_locations(pkg: Package) -> list[Location]:
    return sorted(pkg.locations, key=_location_key)


def package_properties(pkg: Package, image: ImageInfo) -> Iterator[tuple[str, str]]:
    """``sealyard:*`` name/value pairs describing where and how a package was found.

    Layer properties give the index; the ``…-diff-id`` twin names the layer by its
    uncompressed digest when the image's layer list has it.
    """
    yield "sealyard:package:type", pkg.type
    if pkg.found_by:
        yield "sealyard:found-by", pkg.found_by
    for prop, index in (("layer", pkg.layer), ("introduced-layer", pkg.introduced_layer)):
        if index is None:
            continue
        yield f"sealyard:{prop}", str(index)
        info = layer_at(image, index)
        if info is not None and info.diff_id:
            yield f"sealyard:{prop}-diff-id", info.diff_id
    for n, loc in enumerate(sorted_locations(pkg)):
        yield f"sealyard:location:{n}:path", loc.path
        if loc.layer is not None:
            yield f"sealyard:location:{n}:layer", str(loc.layer)
            info = layer_at(image, loc.layer)
            if info is not None and info.diff_id:
                yield f"sealyard:location:{n}:layer-diff-id", info.diff_id
    for key in sorted(pkg.metadata, key=str):
        value = _metadata_value(pkg.metadata[key])
        if value is not None:
            yield f"sealyard:metadata:{key}", value
