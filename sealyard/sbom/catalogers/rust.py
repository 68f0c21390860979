"""Rust binaries built with ``cargo auditable``: the dependency tree embedded in ``.dep-v0``.

``cargo auditable`` links a section (``.dep-v0``; ``.rust-deps-v0`` from rust-audit 0.1)
holding zlib-compressed JSON::

    {"packages": [{"name": "serde", "version": "1.0.188", "source": "crates.io",
                   "kind": "runtime", "dependencies": [3], "root": false}, ...]}

``kind`` defaults to ``runtime`` and ``build`` dependencies (build scripts, proc macros) are
not in the binary, so they are skipped, as Syft and Trivy do. Every crate becomes
``pkg:cargo/<name>@<version>``; crates from other sources (``local``, ``git``, a registry)
keep the cargo purl and record the source in ``metadata["source"]``.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from sealyard.errors import UntrustedDataError
from sealyard.sbom.catalogers._elf import (
    ElfFile,
    is_elf,
    looks_like_executable_path,
    machine_name,
    parse_elf,
)
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = [
    "AuditDataError",
    "RustCargoAuditableCataloger",
    "audit_packages",
    "read_audit_data",
]

SECTION_NAMES = (".dep-v0", ".rust-deps-v0")
#: Largest compressed section accepted.
MAX_SECTION_SIZE = 8 * 1024 * 1024
#: Largest decompressed JSON accepted (cargo-auditable's own reader defaults to 8 MiB).
MAX_JSON_SIZE = 8 * 1024 * 1024
#: Most crates read from one binary.
MAX_PACKAGES = 50_000
#: Most dependency edges kept per crate in the metadata.
MAX_DEPENDENCIES = 10_000


class AuditDataError(UntrustedDataError):
    """A ``.dep-v0`` section could not be decompressed or does not hold the expected JSON."""


def read_audit_data(elf: ElfFile) -> list[dict[str, Any]] | None:
    """The ``packages`` list of a cargo-auditable ELF binary, ``None`` if it has none.

    Each item is a JSON object whose ``name`` and ``version`` are checked to be non-empty
    strings; other fields are as found.

    Raises:
        AuditDataError: the section exists but is corrupt, too large, or not the format.
        ElfError: the section lies outside the file.
    """
    section = next((s for name in SECTION_NAMES if (s := elf.section(name))), None)
    if section is None:
        return None
    compressed = elf.section_data(section, max_size=MAX_SECTION_SIZE)
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(compressed, MAX_JSON_SIZE + 1)
    except zlib.error as exc:
        raise AuditDataError(f"{section.name} is not zlib data: {exc}") from exc
    if len(raw) > MAX_JSON_SIZE:
        raise AuditDataError(f"{section.name} decompresses to more than {MAX_JSON_SIZE} bytes")
    if not decompressor.eof:
        raise AuditDataError(f"{section.name} holds truncated zlib data")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise AuditDataError(f"{section.name} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("packages"), list):
        raise AuditDataError(f'{section.name} JSON has no "packages" list')
    packages: list[dict[str, Any]] = doc["packages"]
    if len(packages) > MAX_PACKAGES:
        raise AuditDataError(f"{len(packages)} crates, over the {MAX_PACKAGES} limit")
    for i, item in enumerate(packages):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("name"), str)
            and item["name"]
            and isinstance(item.get("version"), str)
            and item["version"]
        ):
            raise AuditDataError(f"crate {i} has no name or version")
    return packages


def audit_packages(
    packages: list[dict[str, Any]],
    location: Location,
    *,
    found_by: str = "rust-cargo-auditable",
    architecture: str = "",
) -> list[Package]:
    """Packages for the runtime crates of one binary's audit data."""

    def ident(index: object) -> str | None:
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(packages):
            dep = packages[index]
            return f"{dep['name']}@{dep['version']}"
        return None

    result: list[Package] = []
    for item in packages:
        kind = item.get("kind", "runtime")
        if kind == "build":
            continue
        name, version = item["name"], item["version"]
        source = item.get("source", "crates.io")
        metadata: dict[str, Any] = {"source": source if isinstance(source, str) else str(source)}
        if item.get("root") is True:
            metadata["root"] = True
        deps = item.get("dependencies")
        if isinstance(deps, list):
            edges = [d for d in map(ident, deps[:MAX_DEPENDENCIES]) if d is not None]
            if edges:
                metadata["dependencies"] = sorted(set(edges))
        if architecture:
            metadata["architecture"] = architecture
        result.append(
            Package(
                name=name,
                version=version,
                type="cargo",
                purl=purl("cargo", name, version),
                found_by=found_by,
                locations=(location,),
                metadata=metadata,
                layer=location.layer,
            )
        )
    return result


class RustCargoAuditableCataloger(Cataloger):
    """Rust executables carrying ``cargo auditable`` data, wherever executables live (see
    :func:`~sealyard.sbom.catalogers._elf.looks_like_executable_path`)."""

    name = "rust-cargo-auditable"
    max_file_size = 256 * 1024 * 1024

    def wants(self, path: str) -> bool:
        return looks_like_executable_path(path)

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in image.files:
            if record.data is not None:
                self._catalog_file(record, record.data, result)
        return result

    def _catalog_file(self, record: FileRecord, data: bytes, result: CatalogResult) -> None:
        if not is_elf(data):
            return
        try:
            elf = parse_elf(data)
            packages = read_audit_data(elf)
        except (UntrustedDataError, ValueError, IndexError, struct.error) as exc:
            result.warnings.append(
                warn(
                    self.name,
                    "unreadable",
                    f"cargo-auditable data: {exc}",
                    record.path,
                    record.layer,
                )
            )
            return
        if packages:
            result.packages.extend(
                audit_packages(
                    packages,
                    Location(record.path, record.layer),
                    found_by=self.name,
                    architecture=machine_name(elf.machine),
                )
            )
