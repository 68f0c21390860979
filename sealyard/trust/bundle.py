"""Sigstore bundle v0.3 around a DSSE envelope: the attestation artifact stored in registries.

Sealyard writes the public-key flavour of the bundle (``sigstore_bundle.proto`` in
sigstore/protobuf-specs, JSON encoding)::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": "<keyid>"}, "tlogEntries": []},
     "dsseEnvelope": {"payload": "…", "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": "…", "keyid": "<keyid>"}]}}

No transparency log entry and no timestamp are included: trust comes from the keys in
Sealyard's TUF root, not from Fulcio/Rekor. The ``hint`` is unauthenticated; verification
uses the envelope's signatures against the trusted keys only (:func:`verify_attestation`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Key, Signer

from sealyard.errors import ExpiredMetadataError, SignatureError, VerificationError
from sealyard.trust import dsse
from sealyard.trust.dsse import MAX_ENVELOPE_BYTES, Envelope, parse_json_object
from sealyard.trust.predicates import Predicate, parse_predicate, stage_of
from sealyard.trust.statement import IN_TOTO_PAYLOAD_TYPE, Statement, parse_statement

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "CLOCK_SKEW",
    "MAX_BUNDLE_BYTES",
    "Bundle",
    "VerifiedAttestation",
    "sign_statement",
    "verify_attestation",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: The same version in the older media type spelling; accepted on read, never written.
_BUNDLE_MEDIA_TYPE_PARAM = "application/vnd.dev.sigstore.bundle+json;version=0.3"
#: Largest bundle accepted: an envelope plus room for the verification material.
MAX_BUNDLE_BYTES = MAX_ENVELOPE_BYTES + 64 * 1024
#: How far in the future an attestation timestamp may be when a max age is enforced.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Bundle:
    """A Sigstore bundle v0.3 carrying ``envelope``; ``key_hint`` is its public key hint."""

    envelope: Envelope
    key_hint: str = ""

    @classmethod
    def for_envelope(cls, envelope: Envelope) -> Bundle:
        """Wrap ``envelope``; the hint is the keyid of its first signature."""
        return cls(envelope=envelope, key_hint=envelope.signatures[0].keyid)

    def to_dict(self) -> dict[str, Any]:
        material: dict[str, Any] = {"publicKey": {"hint": self.key_hint}, "tlogEntries": []}
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": material,
            "dsseEnvelope": self.envelope.to_dict(),
        }

    def to_json(self) -> bytes:
        """The bytes to store as the registry blob (compact JSON)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
        """Parse a bundle received as ``raw`` bytes.

        Only key-based DSSE bundles are accepted: certificate chains (Fulcio) and message
        signatures are rejected as unsupported. ``tlogEntries`` and
        ``timestampVerificationData`` are ignored (Sealyard does not use a transparency log).

        Raises:
            VerificationError: not a v0.3 key-based DSSE bundle.
            SignatureError: the envelope inside is malformed.
            SizeLimitError: larger than ``max_bytes``.
        """
        doc = parse_json_object(
            raw, what="Sigstore bundle", max_bytes=max_bytes, error=VerificationError
        )
        media_type = doc.get("mediaType")
        if media_type not in (BUNDLE_MEDIA_TYPE, _BUNDLE_MEDIA_TYPE_PARAM):
            raise VerificationError(
                f"unsupported bundle mediaType {media_type!r:.100}; expected {BUNDLE_MEDIA_TYPE}"
            )
        material = doc.get("verificationMaterial")
        if not isinstance(material, dict):
            raise VerificationError("bundle has no verificationMaterial object")
        if "x509CertificateChain" in material or "certificate" in material:
            raise VerificationError(
                "certificate-based (keyless) bundles are not supported: Sealyard verifies "
                "signatures against keys from its trust root"
            )
        public_key = material.get("publicKey")
        if not isinstance(public_key, dict):
            raise VerificationError("bundle verificationMaterial has no publicKey")
        hint = public_key.get("hint", "")
        if not isinstance(hint, str) or len(hint) > dsse.MAX_KEYID_LENGTH:
            raise VerificationError("publicKey.hint must be a short string")
        if not isinstance(material.get("tlogEntries", []), list):
            raise VerificationError("tlogEntries must be a list")
        if "messageSignature" in doc:
            raise VerificationError("message-signature bundles are not supported; expected DSSE")
        if "dsseEnvelope" not in doc:
            raise VerificationError("bundle has no dsseEnvelope")
        return cls(envelope=Envelope.from_dict(doc["dsseEnvelope"]), key_hint=hint)


def sign_statement(statement: Statement, signers: Sequence[Signer]) -> Bundle:
    """Sign ``statement`` (its deterministic JSON bytes) into a bundle.

    Raises:
        UsageError: no signers.
        SignatureError: a signer's signature does not verify with its own public key.
    """
    envelope = dsse.sign(statement.to_json(), IN_TOTO_PAYLOAD_TYPE, signers)
    return Bundle.for_envelope(envelope)


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose signatures, subject and predicate all checked out.

    ``signers`` are the distinct trusted keyids that signed it; the caller compares their
    number with the stage's threshold (signers are counted across attestations by keyid).
    """

    statement: Statement
    predicate: Predicate
    stage: str
    signers: frozenset[str]
    timestamp: datetime
    envelope: Envelope


def verify_attestation(
    raw: bytes,
    trusted: Mapping[str, Key],
    *,
    repository: str,
    manifest_digest: str,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> VerifiedAttestation:
    """Verify a stored bundle for the image ``repository@manifest_digest``.

    In this order: parse the bundle; check the envelope's signatures over the exact payload
    bytes against ``trusted`` (payloadType must be in-toto); only then parse the payload as a
    statement; require a subject naming this repository and digest (no replay from another
    repository or image); validate the predicate; with ``max_age``, reject a timestamp older
    than that or more than :data:`CLOCK_SKEW` in the future.

    Raises:
        SignatureError: malformed envelope, wrong payloadType, or no trusted key signed it.
        VerificationError: malformed bundle/statement/predicate, or another subject.
        ExpiredMetadataError: older than ``max_age``.
        SizeLimitError: over a size limit.
    """
    bundle = Bundle.from_json(raw)
    signers = dsse.verify(bundle.envelope, trusted, payload_type=IN_TOTO_PAYLOAD_TYPE)
    if not signers:
        raise SignatureError("no trusted key signed this attestation")
    statement = parse_statement(bundle.envelope.payload)
    statement.require_subject(repository, manifest_digest)
    predicate = parse_predicate(statement)
    timestamp = predicate.timestamp
    if max_age is not None:
        current = now or datetime.now(UTC)
        if timestamp > current + CLOCK_SKEW:
            raise VerificationError(
                f"attestation timestamp {timestamp.isoformat()} is in the future"
            )
        if current - timestamp > max_age:
            raise ExpiredMetadataError(
                f"attestation from {timestamp.isoformat()} is older than {max_age}"
            )
    return VerifiedAttestation(
        statement=statement,
        predicate=predicate,
        stage=stage_of(predicate),
        signers=frozenset(signers),
        timestamp=timestamp,
        envelope=bundle.envelope,
    )
