"""Scan on push: read a pushed image from the registry's own storage, keep its SBOM.

For every image manifest pushed (the ``image.pushed`` job), the scanner builds the SBOM
exactly as ``sealyard sbom`` would from a pull — layers streamed from the blob store and
verified against their digests — then

1. attaches the SBOM (CycloneDX 1.6 JSON) to the image as an OCI 1.1 referrer, so any client
   can fetch it with the referrers API, and
2. records the image's packages in the inventory and matches the coordinates never seen
   before (:class:`~sealyard.monitor.inventory.Inventory`).

Indexes are not scanned themselves (each platform's image manifest was pushed, and scanned,
before the index). Artifacts — signatures, attestations, SBOMs, including the scanner's
own — are not images and are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sealyard import __version__
from sealyard.config import Limits
from sealyard.db import Database
from sealyard.monitor.inventory import Inventory, ScanSummary
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.oci.names import project_of
from sealyard.oci.platform import host_platform
from sealyard.oci.verify import VerifyingReader, read_verified
from sealyard.registry.project_settings import scan_on_push
from sealyard.registry.store import RegistryStore
from sealyard.sbom.formats.cyclonedx import to_document
from sealyard.sbom.scan import scan_image
from sealyard.sbom.source import BlobImageSource
from sealyard.vulndb.index import AdvisoryIndex

__all__ = ["SBOM_ARTIFACT_TYPE", "SCANNER_ACTOR", "ImageScanner", "ScanOutcome"]

SBOM_ARTIFACT_TYPE = "application/vnd.cyclonedx+json"
SCANNER_ACTOR = "sealyard-scanner"
_IMAGE_CONFIGS = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})


@dataclass(frozen=True)
class ScanOutcome:
    """What happened to one pushed manifest: ``scanned`` or ``skipped`` (with the reason)."""

    status: str
    reason: str = ""
    summary: ScanSummary | None = None
    sbom_digest: str | None = None


class ImageScanner:
    """Scans images stored in ``store`` and records them in ``db``'s inventory."""

    def __init__(
        self, db: Database, store: RegistryStore, limits: Limits, index: AdvisoryIndex
    ) -> None:
        self.db = db
        self.store = store
        self.limits = limits
        self.index = index
        self.inventory = Inventory(db)

    @staticmethod
    def wants(payload: dict[str, Any]) -> str | None:
        """Why a pushed manifest is not scanned, or ``None`` when it is an image to scan."""
        if payload.get("actor") == SCANNER_ACTOR:
            return "pushed by the scanner itself"
        if payload.get("media_type") not in mt.IMAGE_MANIFESTS:
            return "not an image manifest (index or unknown type)"
        artifact = payload.get("artifact_type")
        if artifact is not None and artifact not in _IMAGE_CONFIGS:
            return f"an artifact ({artifact}), not a container image"
        return None

    def handle_pushed(self, payload: dict[str, Any]) -> ScanOutcome:
        reason = self.wants(payload)
        if reason is None and not scan_on_push(self.db, project_of(str(payload["repository"]))):
            reason = "scan on push is off for the project"
        if reason is not None:
            return ScanOutcome("skipped", reason)
        return self.scan(str(payload["repository"]), str(payload["digest"]))

    def _read_blob(self, digest: Digest) -> bytes:
        with self.store.blobs.open(digest) as fh:
            return read_verified(fh, digest, self.limits.max_manifest_bytes)

    def _open_blob(self, digest: Digest) -> VerifyingReader:
        return VerifyingReader(self.store.blobs.open(digest), digest)

    def scan(self, repository: str, digest: str) -> ScanOutcome:
        """Scan ``repository@digest`` now, attach its SBOM and record it.

        Raises:
            UntrustedDataError: the stored image does not verify or cannot be read.
            StorageError: the blob store failed (worth retrying).
        """
        self.index.refresh()
        record, _ = self.store.read_manifest(repository, digest)

        def read_manifest(d: Digest) -> bytes:
            return self.store.read_manifest(repository, d)[1]

        source = BlobImageSource(
            f"{repository}@{digest}",
            {"digest": digest, "mediaType": record.media_type, "size": record.size},
            read_manifest=read_manifest,
            read_blob=self._read_blob,
            open_blob=self._open_blob,
            platform=host_platform(),
            limits=self.limits,
        )
        with source:
            sbom = scan_image(source)
        sbom_digest = self.attach_sbom(
            repository, parse_digest(digest), record.media_type, record.size, to_document(sbom)
        )
        summary = self.inventory.record_scan(
            repository=repository,
            digest=digest,
            sbom=sbom,
            index=self.index,
            sbom_digest=sbom_digest,
        )
        return ScanOutcome("scanned", summary=summary, sbom_digest=sbom_digest)

    def attach_sbom(
        self,
        repository: str,
        subject: Digest,
        subject_media_type: str,
        subject_size: int,
        document: dict[str, Any],
    ) -> str:
        """Store ``document`` as a referrer of ``subject``; returns the referrer's digest."""
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        layer = self.store.put_blob(repository, body)
        config = self.store.put_blob(repository, mt.EMPTY_JSON)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": SBOM_ARTIFACT_TYPE,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": config, "size": len(mt.EMPTY_JSON)},
            "layers": [{"mediaType": SBOM_ARTIFACT_TYPE, "digest": layer, "size": len(body)}],
            "subject": {"mediaType": subject_media_type, "digest": subject, "size": subject_size},
            "annotations": {
                "org.opencontainers.image.created": datetime.now(UTC)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z"),
                "dev.sealyard.sbom.generator": f"sealyard {__version__}",
            },
        }
        raw = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        parsed = self.store.put_manifest(
            repository, sha256_digest(raw), raw, mt.OCI_MANIFEST, actor=SCANNER_ACTOR
        )
        return str(parsed.digest)
