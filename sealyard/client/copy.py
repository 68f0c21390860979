"""Copy an image together with everything attached to it: attestations, SBOMs, signatures.

``skopeo copy`` moves an image but not its referrers; an air-gapped verifier needs both. A
copy reads from and writes to *endpoints* — a registry repository or an OCI image layout
directory (``oci:DIR[:TAG]``) — and moves, in dependency order:

1. every blob (config and layers of each image, of each referrer), streamed and verified;
2. child manifests of an index, then the manifest itself (tagged);
3. each referrer manifest of the image (and of its children), registered as a referrer the
   way the destination supports: the referrers API, the referrers tag, or an ``index.json``
   entry in a layout.

Manifests are copied byte for byte, so digests — and therefore every signature over them —
survive. A layout written by a copy remembers the source repository in the
``dev.sealyard.repository`` annotation: statements bind the repository, and an offline
verifier needs to know which one an image came from.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from sealyard.client.registry import RegistryClient
from sealyard.config import Limits
from sealyard.errors import DigestMismatchError, NotFoundError, UntrustedDataError, UsageError
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, hex_of, parse_digest, sha256_digest
from sealyard.oci.layout import REF_NAME, OciLayout
from sealyard.oci.manifest import Descriptor, ParsedManifest, parse_manifest
from sealyard.oci.reference import parse_reference
from sealyard.oci.verify import VerifyingReader

__all__ = [
    "REPOSITORY_ANNOTATION",
    "CopyReport",
    "Endpoint",
    "LayoutEndpoint",
    "RegistryEndpoint",
    "copy_image",
    "open_endpoint",
]

REPOSITORY_ANNOTATION = "dev.sealyard.repository"
_MAX_REFERRERS = 1000


class Endpoint(ABC):
    """One side of a copy: a repository in a registry, or an OCI layout."""

    repository: str
    tag: str | None

    @abstractmethod
    def resolve(self) -> tuple[bytes, str, Digest]:
        """The manifest the endpoint names: bytes, media type, digest."""

    @abstractmethod
    def manifest(self, digest: Digest) -> tuple[bytes, str]: ...

    @abstractmethod
    def open_blob(self, digest: Digest) -> VerifyingReader: ...

    @abstractmethod
    def referrers(self, digest: Digest) -> list[Descriptor]: ...

    @abstractmethod
    def has_blob(self, digest: Digest) -> bool: ...

    @abstractmethod
    def put_blob(self, digest: Digest, size: int, reader: IO[bytes]) -> None: ...

    @abstractmethod
    def put_manifest(
        self, data: bytes, media_type: str, *, tag: str | None, subject: Digest | None
    ) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class RegistryEndpoint(Endpoint):
    def __init__(self, client: RegistryClient, repository: str, reference: str | None) -> None:
        self.client = client
        self.repository = repository
        self.reference = reference
        self.tag = None if reference is None or ":" in reference else reference

    def resolve(self) -> tuple[bytes, str, Digest]:
        return self.client.get_manifest(self.repository, self.reference or "latest")

    def manifest(self, digest: Digest) -> tuple[bytes, str]:
        data, media_type, _ = self.client.get_manifest(self.repository, digest)
        return data, media_type

    def open_blob(self, digest: Digest) -> VerifyingReader:
        return self.client.open_blob(self.repository, digest)

    def referrers(self, digest: Digest) -> list[Descriptor]:
        from sealyard.trust.attach import list_referrers

        return list_referrers(self.client, self.repository, digest)

    def has_blob(self, digest: Digest) -> bool:
        return self.client.has_blob(self.repository, digest)

    def put_blob(self, digest: Digest, size: int, reader: IO[bytes]) -> None:
        self.client.push_blob_from(self.repository, digest, size, reader)

    def put_manifest(
        self, data: bytes, media_type: str, *, tag: str | None, subject: Digest | None
    ) -> None:
        from sealyard.trust.attach import add_to_referrers_tag

        digest = sha256_digest(data)
        pushed = self.client.put_manifest(self.repository, digest, data, media_type)
        if tag is not None:
            self.client.put_manifest(self.repository, tag, data, media_type)
        if subject is not None and pushed.subject != subject:
            parsed = parse_manifest(data, media_type)
            descriptor = Descriptor(
                media_type=media_type,
                digest=digest,
                size=len(data),
                artifact_type=parsed.referrer_artifact_type,
                annotations=parsed.annotations,
            )
            add_to_referrers_tag(self.client, self.repository, subject, descriptor)

    def close(self) -> None:
        self.client.close()


class LayoutEndpoint(Endpoint):
    """An OCI image layout; created on first write when it does not exist."""

    def __init__(self, path: Path, tag: str | None, repository: str | None, limits: Limits) -> None:
        self.path = path
        self.tag = tag
        self.limits = limits
        self._repository = repository

    @property
    def repository(self) -> str:  # type: ignore[override]
        if self._repository:
            return self._repository
        entry = self._layout().find(self.tag)
        named = (entry.get("annotations") or {}).get(REPOSITORY_ANNOTATION)
        if not isinstance(named, str) or not named:
            raise UsageError(
                f"{self.path}: the layout does not say which repository the image came from "
                f"(no {REPOSITORY_ANNOTATION} annotation); name it explicitly"
            )
        return named

    def _layout(self) -> OciLayout:
        return OciLayout(self.path, self.limits)

    def _entries(self) -> list[dict[str, Any]]:
        return [m for m in self._layout().index.get("manifests") or [] if isinstance(m, dict)]

    def resolve(self) -> tuple[bytes, str, Digest]:
        entry = self._layout().find(self.tag)
        digest = parse_digest(str(entry.get("digest")))
        data = self._layout().read_small(digest)
        return data, str(entry.get("mediaType") or mt.OCI_MANIFEST), digest

    def manifest(self, digest: Digest) -> tuple[bytes, str]:
        data = self._layout().read_small(digest)
        media_type = json.loads(data).get("mediaType") or mt.OCI_MANIFEST
        return data, str(media_type)

    def open_blob(self, digest: Digest) -> VerifyingReader:
        return self._layout().open_verified(digest)

    def referrers(self, digest: Digest) -> list[Descriptor]:
        out = []
        layout = self._layout()
        for entry in self._entries():
            if entry.get("mediaType") not in mt.MANIFEST_TYPES:
                continue
            try:
                data = layout.read_small(parse_digest(str(entry.get("digest"))))
                parsed = parse_manifest(data, str(entry.get("mediaType")))
            except (NotFoundError, UntrustedDataError):
                continue
            if parsed.subject is not None and parsed.subject.digest == digest:
                out.append(
                    Descriptor(
                        media_type=parsed.media_type,
                        digest=parsed.digest,
                        size=parsed.size,
                        artifact_type=parsed.referrer_artifact_type,
                        annotations=parsed.annotations,
                    )
                )
        return out

    def _blob_path(self, digest: Digest) -> Path:
        return self.path / "blobs" / digest.split(":", 1)[0] / hex_of(digest)

    def has_blob(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    def _ensure(self) -> None:
        if not (self.path / "oci-layout").is_file():
            self.path.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.path / "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            _atomic_write(
                self.path / "index.json",
                json.dumps({"schemaVersion": 2, "manifests": []}).encode(),
            )

    def put_blob(self, digest: Digest, size: int, reader: IO[bytes]) -> None:
        self._ensure()
        target = self._blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        verified = VerifyingReader(reader, digest, max_bytes=size)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := verified.read(1024 * 1024):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_manifest(
        self, data: bytes, media_type: str, *, tag: str | None, subject: Digest | None
    ) -> None:
        digest = sha256_digest(data)
        self.put_blob(digest, len(data), io.BytesIO(data))
        if tag is None and subject is None:
            return  # a child of an index: reachable through its parent
        entries = self._entries()
        annotations: dict[str, str] = {}
        if self._repository:
            annotations[REPOSITORY_ANNOTATION] = self._repository
        if tag is not None:
            annotations[REF_NAME] = tag
            entries = [e for e in entries if (e.get("annotations") or {}).get(REF_NAME) != tag]
        elif any(e.get("digest") == digest for e in entries):
            return
        entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if subject is not None:
            artifact = parse_manifest(data, media_type).referrer_artifact_type
            if artifact:
                entry["artifactType"] = artifact
        if annotations:
            entry["annotations"] = annotations
        entries.append(entry)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
        _atomic_write(self.path / "index.json", json.dumps(index, indent=2).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def open_endpoint(
    text: str,
    *,
    credentials: tuple[str, str] | None = None,
    insecure: bool | None = None,
    repository: str | None = None,
    limits: Limits | None = None,
) -> Endpoint:
    """``oci:DIR[:TAG]`` or a registry reference (``[docker://]HOST/REPO[:TAG|@DIGEST]``)."""
    limits = limits or Limits()
    if text.startswith("oci:"):
        rest = text[4:]
        path, _, tag = rest.partition(":")
        if not path:
            raise UsageError(f"{text!r}: oci: needs a directory")
        return LayoutEndpoint(Path(path), tag or None, repository, limits)
    ref = parse_reference(text.removeprefix("docker://"))
    client = RegistryClient(ref.registry, credentials=credentials, insecure=insecure, limits=limits)
    return RegistryEndpoint(client, ref.repository, ref.digest or ref.tag)


@dataclass
class CopyReport:
    digest: str = ""
    manifests: int = 0
    blobs_copied: int = 0
    blobs_present: int = 0
    referrers: int = 0
    skipped: list[str] = field(default_factory=list)


def _copy_blob(src: Endpoint, dst: Endpoint, desc: Descriptor, report: CopyReport) -> None:
    if desc.media_type in mt.NONDISTRIBUTABLE:
        report.skipped.append(f"{desc.digest}: non-distributable layer")
        return
    if dst.has_blob(desc.digest):
        report.blobs_present += 1
        return
    reader = src.open_blob(desc.digest)
    try:
        dst.put_blob(desc.digest, desc.size, cast(IO[bytes], reader))
    finally:
        reader.close()
    report.blobs_copied += 1


def _copy_manifest(
    src: Endpoint,
    dst: Endpoint,
    data: bytes,
    media_type: str,
    report: CopyReport,
    *,
    tag: str | None,
    subject: Digest | None,
) -> ParsedManifest:
    parsed = parse_manifest(data, media_type)
    for desc in parsed.required_blobs:
        _copy_blob(src, dst, desc, report)
    for child in parsed.manifests:
        child_data, child_type = src.manifest(child.digest)
        _copy_manifest(src, dst, child_data, child_type, report, tag=None, subject=None)
    dst.put_manifest(data, parsed.media_type, tag=tag, subject=subject)
    report.manifests += 1
    if subject is None:  # referrers of images and their platform children, not of referrers
        found = src.referrers(parsed.digest)
        if len(found) > _MAX_REFERRERS:
            raise UsageError(f"{parsed.digest} has more than {_MAX_REFERRERS} referrers")
        for ref in found:
            ref_data, ref_type = src.manifest(ref.digest)
            _copy_manifest(src, dst, ref_data, ref_type, report, tag=None, subject=parsed.digest)
            report.referrers += 1
    return parsed


def copy_image(src: Endpoint, dst: Endpoint) -> CopyReport:
    """Copy what ``src`` names, with its referrers, to ``dst`` (tagged like ``dst``/``src``).

    Raises:
        DigestMismatchError: content read does not match its digest.
        NotFoundError, TransportError, …: from either side.
    """
    report = CopyReport()
    data, media_type, digest = src.resolve()
    if digest.startswith("sha256:") and sha256_digest(data) != digest:
        raise DigestMismatchError(f"source manifest does not match {digest}")
    _copy_manifest(src, dst, data, media_type, report, tag=dst.tag or src.tag, subject=None)
    report.digest = digest
    return report
