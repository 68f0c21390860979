"""Attach attestations to images as OCI 1.1 referrers, and fetch them back.

An attestation is stored the way cosign's bundle spec (``specs/BUNDLE_SPEC.md``) lays it out:

* the bundle JSON as a blob of media type ``application/vnd.dev.sigstore.bundle.v0.3+json``;
* the empty config ``{}`` (``application/vnd.oci.empty.v1+json``);
* an image manifest with ``artifactType`` = the bundle media type, one layer (the bundle),
  ``subject`` = the image manifest's descriptor, and annotations
  (``dev.sealyard.stage``, ``org.opencontainers.image.created``,
  ``dev.sigstore.bundle.content``, ``dev.sigstore.bundle.predicateType``), pushed by digest.

When the registry does not answer the manifest push with ``OCI-Subject`` (it has no referrers
API), the pusher maintains the **referrers tag** ``<alg>-<hex>`` itself: an image index that
lists every referrer, updated read-modify-write (distribution spec, "Pushing Manifests with
Subject", "Referrers Tag Schema"). Readers ask ``/v2/<name>/referrers/<digest>`` and fall back
to that tag on 404.

Everything fetched is checked: manifests and blobs against their digests, sizes against their
descriptors and caps, each referrer's ``subject`` against the image asked about. The
annotations are hints for humans and filters; verification uses the signed bundle only.
"""

from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sealyard.client.registry import RegistryClient
from sealyard.errors import (
    ManifestInvalidError,
    NotFoundError,
    SizeLimitError,
    TransportError,
    UntrustedDataError,
    UsageError,
    VerificationError,
)
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, hex_of, parse_digest, sha256_digest
from sealyard.oci.manifest import Descriptor, parse_manifest
from sealyard.oci.reference import ImageReference, parse_reference
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, Bundle
from sealyard.trust.predicates import (
    APPROVAL_V1,
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    check_stage,
    format_time,
    parse_predicate,
    stage_of,
)
from sealyard.trust.statement import IN_TOTO_PAYLOAD_TYPE, parse_statement

__all__ = [
    "BUNDLE_CONTENT_ANNOTATION",
    "CREATED_ANNOTATION",
    "MAX_REFERRERS",
    "PREDICATE_TYPE_ANNOTATION",
    "STAGE_ANNOTATION",
    "AttachResult",
    "FetchedAttestation",
    "add_to_referrers_tag",
    "attach",
    "fetch_attestations",
    "list_referrers",
    "referrer_manifest",
    "referrers_tag",
    "resolve",
]

STAGE_ANNOTATION = "dev.sealyard.stage"
CREATED_ANNOTATION = "org.opencontainers.image.created"
TITLE_ANNOTATION = "org.opencontainers.image.title"
BUNDLE_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_TYPE_ANNOTATION = "dev.sigstore.bundle.predicateType"
#: Most referrers of one artifact type fetched for one image; more is refused, not cut.
MAX_REFERRERS = 1000
#: Read-modify-write attempts on the referrers tag before giving up on a racing writer.
TAG_UPDATE_ATTEMPTS = 3

KNOWN_PREDICATE_TYPES = frozenset({SLSA_PROVENANCE_V1, SCAN_V1, APPROVAL_V1})
_TAG_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


class AttachResult(NamedTuple):
    """Where an attestation went: its referrer manifest and whether the tag fallback was used."""

    descriptor: Descriptor
    manifest: bytes
    used_tag_fallback: bool


class FetchedAttestation(NamedTuple):
    """One referrer: its manifest descriptor (annotations from the verified manifest) and the
    bundle bytes exactly as received (verified against the layer digest, not yet signed-checked).
    """

    descriptor: Descriptor
    bundle: bytes


def referrers_tag(digest: str) -> str:
    """The referrers tag of ``digest``: ``<alg[:32]>-<encoded[:64]>``, unsafe chars → ``-``."""
    algorithm, _, encoded = digest.partition(":")
    return _TAG_UNSAFE.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def referrer_manifest(bundle: bytes, subject: Descriptor, annotations: dict[str, str]) -> bytes:
    """The artifact manifest bytes that attach ``bundle`` to ``subject`` (pure)."""
    bundle_digest = sha256_digest(bundle)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "digest": sha256_digest(mt.EMPTY_JSON),
            "size": len(mt.EMPTY_JSON),
        },
        "layers": [
            {
                "mediaType": BUNDLE_MEDIA_TYPE,
                "digest": bundle_digest,
                "size": len(bundle),
                "annotations": {TITLE_ANNOTATION: f"sha256-{hex_of(bundle_digest)}.sigstore.json"},
            }
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
        "annotations": dict(sorted(annotations.items())),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def resolve(client: RegistryClient, reference: str | ImageReference) -> Digest:
    """The manifest digest ``reference`` (``host/repo:tag`` or ``host/repo@digest``) names.

    The digest is computed from the manifest bytes received (or they are checked against the
    pinned digest); the registry's ``Docker-Content-Digest`` header is not trusted.

    Raises:
        InvalidReferenceError: malformed reference.
        UsageError: the reference names another registry than ``client``'s.
        NotFoundError: no such manifest.
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if ref.registry != client.registry:
        raise UsageError(
            f"{ref} is on registry {ref.registry}, but this client talks to {client.registry}"
        )
    _, _, digest = client.get_manifest(ref.repository, ref.reference)
    return digest


def _subject_descriptor(client: RegistryClient, repository: str, digest: Digest) -> Descriptor:
    data, media_type, _ = client.get_manifest(repository, digest)
    parsed = parse_manifest(data, media_type or None, max_bytes=client.limits.max_manifest_bytes)
    return Descriptor(media_type=parsed.media_type, digest=digest, size=len(data))


def _annotations(
    bundle: Bundle, repository: str, digest: Digest, stage: str | None, created: datetime
) -> dict[str, str]:
    envelope = bundle.envelope
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise UsageError(f"the bundle carries {envelope.payload_type!r}, not an in-toto statement")
    try:
        statement = parse_statement(envelope.payload)
        statement.require_subject(repository, digest)
    except UntrustedDataError as exc:
        raise UsageError(f"refusing to attach this bundle to {repository}@{digest}: {exc}") from exc
    signed_stage: str | None = None  # a predicate type Sealyard does not know has none
    if statement.predicate_type in KNOWN_PREDICATE_TYPES:
        try:
            signed_stage = stage_of(parse_predicate(statement))
        except VerificationError as exc:
            raise UsageError(f"refusing to attach an invalid predicate: {exc}") from exc
    if stage is not None:
        try:
            check_stage(stage)
        except VerificationError as exc:
            raise UsageError(str(exc)) from exc
    if stage is not None and signed_stage is not None and stage != signed_stage:
        raise UsageError(f"the attestation is for stage {signed_stage!r}, not {stage!r}")
    out = {
        CREATED_ANNOTATION: format_time(created),
        BUNDLE_CONTENT_ANNOTATION: "dsse-envelope",
        PREDICATE_TYPE_ANNOTATION: statement.predicate_type,
    }
    if stage or signed_stage:
        out[STAGE_ANNOTATION] = stage or signed_stage or ""
    return out


def attach(
    client: RegistryClient,
    repository: str,
    manifest_digest: str,
    bundle: Bundle | bytes,
    *,
    stage: str | None = None,
    created: datetime | None = None,
) -> AttachResult:
    """Attach ``bundle`` to the image ``repository@manifest_digest`` as an OCI 1.1 referrer.

    The bundle's statement must name this repository and digest (a bundle is never attached
    to an image it is not about). ``stage`` defaults to the one the signed predicate implies.
    Falls back to the referrers tag when the registry does not confirm the subject with
    ``OCI-Subject``.

    Raises:
        UsageError: the bundle is not about this image, or ``stage`` contradicts it.
        NotFoundError: the image manifest does not exist.
        ManifestInvalidError: the referrers tag holds something other than an OCI index.
        UntrustedDataError: the registry reports a different subject or digest.
        TransportError: the registry failed, or a concurrent writer kept winning the tag.
    """
    digest = parse_digest(manifest_digest)
    parsed_bundle = bundle if isinstance(bundle, Bundle) else Bundle.from_json(bundle)
    raw = bundle if isinstance(bundle, bytes) else bundle.to_json()
    if len(raw) > MAX_BUNDLE_BYTES:
        raise SizeLimitError(f"the bundle is {len(raw)} bytes; the limit is {MAX_BUNDLE_BYTES}")
    annotations = _annotations(
        parsed_bundle, repository, digest, stage, created or datetime.now(UTC)
    )
    subject = _subject_descriptor(client, repository, digest)
    client.push_blob(repository, raw)
    client.push_blob(repository, mt.EMPTY_JSON)
    manifest = referrer_manifest(raw, subject, annotations)
    referrer_digest = sha256_digest(manifest)
    pushed = client.put_manifest(repository, referrer_digest, manifest, mt.OCI_MANIFEST)
    descriptor = Descriptor(
        media_type=mt.OCI_MANIFEST,
        digest=referrer_digest,
        size=len(manifest),
        artifact_type=BUNDLE_MEDIA_TYPE,
        annotations=annotations,
    )
    if pushed.subject == digest:
        return AttachResult(descriptor, manifest, used_tag_fallback=False)
    if pushed.subject is not None:
        raise UntrustedDataError(
            f"{client.registry} says it linked the referrer to {pushed.subject!r}, not {digest}"
        )
    add_to_referrers_tag(client, repository, digest, descriptor)
    return AttachResult(descriptor, manifest, used_tag_fallback=True)


def _read_referrers_tag(client: RegistryClient, repository: str, tag: str) -> list[dict[str, Any]]:
    """The raw entries of the referrers tag index ([] when the tag does not exist)."""
    try:
        data, media_type, _ = client.get_manifest(repository, tag)
    except NotFoundError:
        return []
    parsed = parse_manifest(data, media_type or None, max_bytes=client.limits.max_manifest_bytes)
    if parsed.media_type != mt.OCI_INDEX:
        raise ManifestInvalidError(
            f"{repository}:{tag} should be the referrers index but is a {parsed.media_type}"
        )
    entries = json.loads(data)["manifests"]  # validated by parse_manifest above
    return [dict(e) for e in entries]


def add_to_referrers_tag(
    client: RegistryClient, repository: str, subject: Digest, descriptor: Descriptor
) -> None:
    tag = referrers_tag(subject)
    for _ in range(TAG_UPDATE_ATTEMPTS):
        entries = _read_referrers_tag(client, repository, tag)
        if not any(e.get("digest") == descriptor.digest for e in entries):
            entries.append(descriptor.to_dict())
            index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
            body = json.dumps(index, separators=(",", ":")).encode()
            client.put_manifest(repository, tag, body, mt.OCI_INDEX)
        # Another pusher may have written the tag between our read and write: check.
        if any(
            e.get("digest") == descriptor.digest
            for e in _read_referrers_tag(client, repository, tag)
        ):
            return
    raise TransportError(
        f"could not add {descriptor.digest} to {repository}:{tag}: other writers kept "
        "replacing the referrers index"
    )


def list_referrers(
    client: RegistryClient, repository: str, digest: Digest, artifact_type: str | None = None
) -> list[Descriptor]:
    """Descriptors of ``digest``'s referrers: the referrers API (asked to filter by
    ``artifact_type``), or the referrers tag where the registry has none. Registries may
    ignore the filter and the tag index is unfiltered: callers check the artifact type."""
    found = client.get_referrers(repository, digest, artifact_type)
    listed: list[Descriptor] = []
    if found is None:  # no referrers API: the tag schema
        try:
            data, media_type, _ = client.get_manifest(repository, referrers_tag(digest))
        except NotFoundError:
            return []
        pages: tuple[tuple[bytes, str | None], ...] = ((data, media_type or None),)
    else:
        pages = tuple((page, mt.OCI_INDEX) for page in found.pages)
    for page, content_type in pages:
        parsed = parse_manifest(page, content_type, max_bytes=client.limits.max_manifest_bytes)
        if parsed.media_type != mt.OCI_INDEX:
            raise ManifestInvalidError(
                f"the referrers of {repository}@{digest} are listed in a {parsed.media_type}, "
                "not an OCI image index"
            )
        listed.extend(parsed.manifests)
    return listed


def fetch_attestations(
    client: RegistryClient,
    repository: str,
    manifest_digest: str,
    *,
    artifact_type: str = BUNDLE_MEDIA_TYPE,
    max_referrers: int = MAX_REFERRERS,
    cache: MutableMapping[str, tuple[str, FetchedAttestation]] | None = None,
) -> list[FetchedAttestation]:
    """The attestation bundles attached to ``repository@manifest_digest``, oldest first as the
    registry lists them, each verified against its digests and size limits.

    ``cache`` (referrer digest → (subject, attestation)) lets a long-running verifier skip
    refetching referrers it already verified: a referrer manifest's digest fixes its
    content, its subject and its bundle's digest, so only the list is asked for again.

    Uses the referrers API and, when the registry answers 404, the referrers tag. A listed
    referrer whose manifest or bundle is gone (404) is skipped; every other inconsistency is
    an error, so a gate fails closed.

    Raises:
        DigestMismatchError: a manifest or bundle does not match its digest.
        ManifestInvalidError: a referrers list or referrer manifest is malformed, has another
            subject, or does not carry exactly one bundle layer.
        SizeLimitError: too many referrers, or a bundle over :data:`MAX_BUNDLE_BYTES`.
        TransportError, AuthenticationError, PermissionDeniedError: from the registry.
    """
    digest = parse_digest(manifest_digest)
    seen: set[str] = set()
    wanted: list[Descriptor] = []
    for entry in list_referrers(client, repository, digest, artifact_type):
        if entry.artifact_type != artifact_type or entry.media_type != mt.OCI_MANIFEST:
            continue
        if entry.digest in seen:
            continue
        seen.add(entry.digest)
        wanted.append(entry)
    if len(wanted) > max_referrers:
        raise SizeLimitError(
            f"{repository}@{digest} has {len(wanted)} attestations; the limit is {max_referrers}"
        )
    out: list[FetchedAttestation] = []
    for entry in wanted:
        cached = cache.get(entry.digest) if cache is not None else None
        if cached is not None and cached[0] == digest:
            out.append(cached[1])
            continue
        try:
            fetched = _fetch_one(client, repository, digest, entry, artifact_type)
            if cache is not None:
                cache[entry.digest] = (digest, fetched)
            out.append(fetched)
        except NotFoundError:
            # Listed but gone (deleted since, or a stale referrers tag). Skipping it is safe:
            # missing evidence can only make a policy stricter, never more permissive.
            continue
    return out


def _fetch_one(
    client: RegistryClient,
    repository: str,
    subject: Digest,
    entry: Descriptor,
    artifact_type: str,
) -> FetchedAttestation:
    where = f"referrer {entry.digest} of {repository}@{subject}"
    if entry.size > client.limits.max_manifest_bytes:
        raise SizeLimitError(f"{where} claims {entry.size} bytes")
    data, media_type, _ = client.get_manifest(repository, entry.digest)  # checks the digest
    if len(data) != entry.size:
        raise ManifestInvalidError(
            f"{where} is {len(data)} bytes, its descriptor says {entry.size}"
        )
    manifest = parse_manifest(data, media_type or None, max_bytes=client.limits.max_manifest_bytes)
    if manifest.subject is None or manifest.subject.digest != subject:
        raise ManifestInvalidError(f"{where} is not about {subject} (its subject differs)")
    if manifest.artifact_type != artifact_type:
        raise ManifestInvalidError(f"{where} has artifactType {manifest.artifact_type!r}")
    layers = [layer for layer in manifest.layers if layer.media_type == artifact_type]
    if len(layers) != 1 or len(manifest.layers) != 1:
        raise ManifestInvalidError(f"{where} must have exactly one {artifact_type} layer")
    layer = layers[0]
    if layer.size > MAX_BUNDLE_BYTES:
        raise SizeLimitError(f"{where}: its bundle claims {layer.size} bytes")
    blob = client.fetch_blob(repository, layer.digest, limit=MAX_BUNDLE_BYTES)  # checks digest
    if len(blob) != layer.size:
        raise ManifestInvalidError(
            f"{where}: the bundle is {len(blob)} bytes, its descriptor says {layer.size}"
        )
    descriptor = Descriptor(
        media_type=manifest.media_type,
        digest=entry.digest,
        size=len(data),
        artifact_type=manifest.artifact_type,
        annotations=manifest.annotations,
    )
    return FetchedAttestation(descriptor, blob)
