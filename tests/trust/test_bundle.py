"""Sigstore bundle v0.3: the stored form of an attestation, and the whole verification of one
(signatures over the received bytes, subject binding, predicate, max age)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner, Key, Signer

from sealyard.errors import (
    ExpiredMetadataError,
    SignatureError,
    SizeLimitError,
    UntrustedDataError,
    VerificationError,
)
from sealyard.trust import dsse
from sealyard.trust.bundle import (
    BUNDLE_MEDIA_TYPE,
    MAX_BUNDLE_BYTES,
    Bundle,
    sign_statement,
    verify_attestation,
)
from sealyard.trust.predicates import APPROVAL_V1, SCAN_V1, Approval, DatabaseSource, ScanResult
from sealyard.trust.statement import IN_TOTO_PAYLOAD_TYPE, image_statement

REPO = "library/app"
DIGEST = "sha256:" + hashlib.sha256(b"the image manifest").hexdigest()
T0 = datetime(2024, 3, 8, 18, 18, 20, tzinfo=UTC)


def trust(*signers: Signer) -> dict[str, Key]:
    return {s.public_key.keyid: s.public_key for s in signers}


@pytest.fixture(scope="module")
def alice() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


@pytest.fixture(scope="module")
def bob() -> CryptoSigner:
    return CryptoSigner.generate_ecdsa()


def approval_statement(repository: str = REPO, digest: str = DIGEST, when: datetime = T0) -> Any:
    approval = Approval(stage="qa", approver="alice", approved_at=when)
    return image_statement(repository, digest, APPROVAL_V1, approval.to_dict())


def test_bundle_json_shape_and_round_trip(alice: CryptoSigner) -> None:
    bundle = sign_statement(approval_statement(), [alice])
    raw = bundle.to_json()
    doc = json.loads(raw)
    assert doc["mediaType"] == BUNDLE_MEDIA_TYPE == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert doc["verificationMaterial"] == {
        "publicKey": {"hint": alice.public_key.keyid},
        "tlogEntries": [],
    }
    envelope = doc["dsseEnvelope"]
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["payloadType"] == IN_TOTO_PAYLOAD_TYPE
    assert base64.b64decode(envelope["payload"]) == approval_statement().to_json()
    assert envelope["signatures"][0]["keyid"] == alice.public_key.keyid
    assert Bundle.from_json(raw) == bundle
    assert Bundle.from_json(raw).to_json() == raw


def test_verify_attestation(alice: CryptoSigner, bob: CryptoSigner) -> None:
    raw = sign_statement(approval_statement(), [alice, bob]).to_json()
    verified = verify_attestation(raw, trust(alice, bob), repository=REPO, manifest_digest=DIGEST)
    assert verified.signers == {alice.public_key.keyid, bob.public_key.keyid}
    assert verified.stage == "qa"
    assert verified.timestamp == T0
    assert isinstance(verified.predicate, Approval)
    assert verified.statement == approval_statement()
    # only the trusted keys count
    only_bob = verify_attestation(raw, trust(bob), repository=REPO, manifest_digest=DIGEST)
    assert only_bob.signers == {bob.public_key.keyid}


def test_scan_attestation_stage_is_signed(alice: CryptoSigner) -> None:
    scan = ScanResult.build(
        scanner_name="sealyard",
        scanner_version="0.1",
        sources=[DatabaseSource("osv", T0)],
        sbom_digest=DIGEST,
        sbom_media_type="application/vnd.cyclonedx+json",
        summary={"high": 1},
        findings=["CVE-2024-1"],
        scanned_at=T0,
    )
    statement = image_statement(REPO, DIGEST, SCAN_V1, scan.to_dict())
    raw = sign_statement(statement, [alice]).to_json()
    verified = verify_attestation(raw, trust(alice), repository=REPO, manifest_digest=DIGEST)
    assert (verified.stage, verified.predicate) == ("scan", scan)


@pytest.mark.parametrize(
    ("repository", "digest"),
    [("staging/app", DIGEST), (REPO, "sha256:" + "0" * 64)],
    ids=["other-repository", "other-image"],
)
def test_replay_onto_another_image_is_rejected(
    alice: CryptoSigner, repository: str, digest: str
) -> None:
    raw = sign_statement(approval_statement(), [alice]).to_json()
    with pytest.raises(VerificationError, match="not about"):
        verify_attestation(raw, trust(alice), repository=repository, manifest_digest=digest)


def test_untrusted_or_tampered_bundles(alice: CryptoSigner, bob: CryptoSigner) -> None:
    bundle = sign_statement(approval_statement(), [alice])
    with pytest.raises(SignatureError, match="no trusted key"):
        verify_attestation(bundle.to_json(), trust(bob), repository=REPO, manifest_digest=DIGEST)
    # payload swapped for another statement, signatures kept
    other = approval_statement(repository="staging/app").to_json()
    doc = json.loads(bundle.to_json())
    doc["dsseEnvelope"]["payload"] = base64.b64encode(other).decode()
    with pytest.raises(SignatureError, match="no trusted key"):
        verify_attestation(
            json.dumps(doc).encode(), trust(alice), repository="staging/app", manifest_digest=DIGEST
        )
    # a signed envelope of another payload type is not an attestation
    wrong_type = dsse.sign(approval_statement().to_json(), "application/json", [alice])
    with pytest.raises(SignatureError, match="payloadType"):
        verify_attestation(
            Bundle.for_envelope(wrong_type).to_json(),
            trust(alice),
            repository=REPO,
            manifest_digest=DIGEST,
        )
    # the hint is not trusted: a bundle naming bob in its hint is still alice's only
    hinted = Bundle(bundle.envelope, key_hint=bob.public_key.keyid).to_json()
    assert verify_attestation(
        hinted, trust(alice, bob), repository=REPO, manifest_digest=DIGEST
    ).signers == {alice.public_key.keyid}


def test_signed_garbage_and_unknown_predicates_are_rejected(alice: CryptoSigner) -> None:
    for payload, message in [
        (b"not json", "not valid JSON"),
        (b'{"_type":"https://in-toto.io/Statement/v0.1"}', "Statement v1"),
    ]:
        bundle = Bundle.for_envelope(dsse.sign(payload, IN_TOTO_PAYLOAD_TYPE, [alice]))
        with pytest.raises(VerificationError, match=message):
            verify_attestation(
                bundle.to_json(), trust(alice), repository=REPO, manifest_digest=DIGEST
            )
    unknown = image_statement(REPO, DIGEST, "https://example.com/x/v1", {})
    with pytest.raises(VerificationError, match="unsupported predicateType"):
        verify_attestation(
            sign_statement(unknown, [alice]).to_json(),
            trust(alice),
            repository=REPO,
            manifest_digest=DIGEST,
        )


def test_max_age(alice: CryptoSigner) -> None:
    raw = sign_statement(approval_statement(), [alice]).to_json()
    day = timedelta(days=1)
    fresh = verify_attestation(
        raw, trust(alice), repository=REPO, manifest_digest=DIGEST, max_age=day, now=T0 + day
    )
    assert fresh.timestamp == T0
    with pytest.raises(ExpiredMetadataError):
        verify_attestation(
            raw,
            trust(alice),
            repository=REPO,
            manifest_digest=DIGEST,
            max_age=day,
            now=T0 + day + timedelta(seconds=1),
        )
    with pytest.raises(VerificationError, match="future"):
        verify_attestation(
            raw,
            trust(alice),
            repository=REPO,
            manifest_digest=DIGEST,
            max_age=day,
            now=T0 - timedelta(hours=1),
        )


def _doc(alice: CryptoSigner) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(sign_statement(approval_statement(), [alice]).to_json())
    return doc


def test_other_bundle_media_type_spelling_is_read(alice: CryptoSigner) -> None:
    doc = _doc(alice)
    doc["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.3"
    doc["verificationMaterial"]["timestampVerificationData"] = {"rfc3161Timestamps": []}
    assert Bundle.from_json(json.dumps(doc).encode()).key_hint == alice.public_key.keyid


_ALICE = CryptoSigner.generate_ed25519()
_GOOD = _doc(_ALICE)


def _changed(path: str, value: Any) -> bytes:
    doc = json.loads(json.dumps(_GOOD))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return json.dumps(doc).encode()


HOSTILE = [
    ("not-json", b"\x00"),
    ("array", b"[]"),
    ("media-type-missing", _changed("mediaType", None)),
    (
        "media-type-v0.1",
        _changed("mediaType", "application/vnd.dev.sigstore.bundle+json;version=0.1"),
    ),
    ("media-type-v0.4", _changed("mediaType", "application/vnd.dev.sigstore.bundle.v0.4+json")),
    ("media-type-upper", _changed("mediaType", BUNDLE_MEDIA_TYPE.upper())),
    ("material-missing", _changed("verificationMaterial", None)),
    ("material-string", _changed("verificationMaterial", "key")),
    ("public-key-missing", _changed("verificationMaterial.publicKey", None)),
    ("hint-number", _changed("verificationMaterial.publicKey.hint", 5)),
    ("certificate", _changed("verificationMaterial.certificate", {"rawBytes": "AA=="})),
    ("chain", _changed("verificationMaterial.x509CertificateChain", {"certificates": []})),
    ("tlog-object", _changed("verificationMaterial.tlogEntries", {})),
    ("message-signature", _changed("messageSignature", {"signature": "AA=="})),
    ("envelope-missing", _changed("dsseEnvelope", None)),
    ("envelope-string", _changed("dsseEnvelope", "x")),
    ("envelope-no-signatures", _changed("dsseEnvelope.signatures", [])),
    ("envelope-bad-payload", _changed("dsseEnvelope.payload", "%%%")),
]


@pytest.mark.parametrize("raw", [r for _, r in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_hostile_bundles_are_clear_errors(raw: bytes) -> None:
    with pytest.raises(UntrustedDataError):
        Bundle.from_json(raw)
    with pytest.raises(UntrustedDataError):
        verify_attestation(raw, trust(_ALICE), repository=REPO, manifest_digest=DIGEST)


def test_bundle_size_cap() -> None:
    with pytest.raises(SizeLimitError):
        Bundle.from_json(b" " * (MAX_BUNDLE_BYTES + 1))
