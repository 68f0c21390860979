"""DSSE v1 envelopes: sign a payload's PAE with securesystemslib signers, count trusted signers.

The envelope keeps the payload *bytes* it was created from or decoded from: signatures are
made and checked over ``PAE(payloadType, payload)`` of exactly those bytes, and the payload is
parsed from them afterwards; nothing is ever re-serialised before hashing.

:func:`verify` does not decide thresholds. It returns the keyids of the **distinct** trusted
keys with a valid signature (one key signing twice, or one key listed under two keyids, is
one signer) and the caller compares that set with its threshold.

The spec: https://github.com/secure-systems-lab/dsse (``protocol.md``, ``envelope.md``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Key, Signer
from securesystemslib.signer import Signature as SslibSignature

from sealyard.errors import SignatureError, SizeLimitError, UsageError
from sealyard.trust._json import MAX_JSON_DEPTH, parse_json_object

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_KEYID_LENGTH",
    "MAX_PAYLOAD_TYPE_BYTES",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_BYTES",
    "DsseSignature",
    "Envelope",
    "pae",
    "parse_json_object",
    "sign",
    "verify",
]

#: Largest serialised envelope accepted (the payload is base64 inside it).
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
#: Most signatures one envelope may carry; verification cost grows with it.
MAX_SIGNATURES = 64
#: Largest single signature (ML-DSA-87 is 4627 bytes, RSA-16384 2048).
MAX_SIGNATURE_BYTES = 16 * 1024
#: Longest keyid hint.
MAX_KEYID_LENGTH = 512
#: Longest payloadType, in UTF-8 bytes.
MAX_PAYLOAD_TYPE_BYTES = 256

_B64_STD = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_B64_URL = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")


# ----------------------------------------------------------------------------- the model


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding of ``payload`` with ``payload_type``.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in bytes, in decimal.
    """
    encoded = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(encoded), encoded, len(payload), payload)


def _b64decode(text: Any, what: str) -> bytes:
    """Standard or URL-safe base64 (DSSE verifiers must accept both); padding optional."""
    if not isinstance(text, str):
        raise SignatureError(f"{what} must be a base64 string")
    if _B64_STD.fullmatch(text):
        alphabet = text
    elif _B64_URL.fullmatch(text):
        alphabet = text.replace("-", "+").replace("_", "/")
    else:
        raise SignatureError(f"{what} is not base64")
    alphabet = alphabet.rstrip("=")
    if len(alphabet) % 4 == 1:
        raise SignatureError(f"{what} is not base64 (bad length)")
    try:
        return base64.b64decode(alphabet + "=" * (-len(alphabet) % 4), validate=True)
    except binascii.Error as exc:
        raise SignatureError(f"{what} is not base64: {exc}") from exc


def _check_payload_type(payload_type: Any) -> str:
    if not isinstance(payload_type, str) or not payload_type:
        raise SignatureError("payloadType must be a non-empty string")
    try:
        size = len(payload_type.encode("utf-8"))
    except UnicodeError as exc:
        raise SignatureError("payloadType is not valid Unicode") from exc
    if size > MAX_PAYLOAD_TYPE_BYTES:
        raise SignatureError(f"payloadType is longer than {MAX_PAYLOAD_TYPE_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in payload_type):
        raise SignatureError("payloadType contains control characters")
    return payload_type


@dataclass(frozen=True)
class DsseSignature:
    """One DSSE signature: raw signature bytes and an optional, unauthenticated keyid hint.

    ``keyid == ""`` means the hint is absent.
    """

    sig: bytes
    keyid: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.sig, bytes) or not self.sig:
            raise SignatureError("a signature must be non-empty bytes")
        if len(self.sig) > MAX_SIGNATURE_BYTES:
            raise SizeLimitError(f"a signature is longer than {MAX_SIGNATURE_BYTES} bytes")
        if not isinstance(self.keyid, str) or len(self.keyid) > MAX_KEYID_LENGTH:
            raise SignatureError(f"keyid must be a string of at most {MAX_KEYID_LENGTH} characters")
        try:
            self.keyid.encode("utf-8")
        except UnicodeError as exc:
            raise SignatureError("keyid is not valid Unicode") from exc

    def to_dict(self) -> dict[str, str]:
        out = {"sig": base64.b64encode(self.sig).decode("ascii")}
        if self.keyid:
            out["keyid"] = self.keyid
        return out

    @classmethod
    def from_dict(cls, value: Any) -> DsseSignature:
        """Raises: SignatureError."""
        if not isinstance(value, dict):
            raise SignatureError("each signature must be an object")
        unknown = set(value) - {"sig", "keyid"}
        if unknown:
            raise SignatureError(f"signature has unknown fields: {', '.join(sorted(unknown))}")
        keyid = value.get("keyid", "")
        if not isinstance(keyid, str):
            raise SignatureError("keyid must be a string")
        return cls(sig=_b64decode(value.get("sig"), "sig"), keyid=keyid)


@dataclass(frozen=True)
class Envelope:
    """A DSSE v1 envelope. ``payload`` is the exact serialised body that was signed."""

    payload_type: str
    payload: bytes
    signatures: tuple[DsseSignature, ...]

    def __post_init__(self) -> None:
        _check_payload_type(self.payload_type)
        if not isinstance(self.payload, bytes):
            raise SignatureError("payload must be bytes")
        if not isinstance(self.signatures, tuple) or not all(
            isinstance(s, DsseSignature) for s in self.signatures
        ):
            raise SignatureError("signatures must be a tuple of DsseSignature")
        if not self.signatures:
            raise SignatureError("the envelope carries no signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise SizeLimitError(
                f"the envelope carries {len(self.signatures)} signatures; "
                f"the limit is {MAX_SIGNATURES}"
            )

    def pae(self) -> bytes:
        """The bytes every signature of this envelope signs."""
        return pae(self.payload_type, self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [s.to_dict() for s in self.signatures],
        }

    def to_json(self) -> bytes:
        """Compact JSON envelope (``envelope.md``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_dict(cls, doc: Any) -> Envelope:
        """Validate a decoded JSON envelope.

        Raises:
            SignatureError: malformed envelope (missing or unknown fields, bad base64, ...).
            SizeLimitError: too many or too large signatures.
        """
        if not isinstance(doc, dict):
            raise SignatureError("a DSSE envelope must be a JSON object")
        unknown = set(doc) - {"payload", "payloadType", "signatures"}
        if unknown:
            raise SignatureError(f"envelope has unknown fields: {', '.join(sorted(unknown))}")
        for name in ("payload", "payloadType", "signatures"):
            if name not in doc:
                raise SignatureError(f"envelope has no {name!r}")
        signatures = doc["signatures"]
        if not isinstance(signatures, list):
            raise SignatureError("signatures must be a list")
        if len(signatures) > MAX_SIGNATURES:
            raise SizeLimitError(
                f"the envelope carries {len(signatures)} signatures; the limit is {MAX_SIGNATURES}"
            )
        return cls(
            payload_type=_check_payload_type(doc["payloadType"]),
            payload=_b64decode(doc["payload"], "payload"),
            signatures=tuple(DsseSignature.from_dict(s) for s in signatures),
        )

    @classmethod
    def from_json(cls, raw: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> Envelope:
        """Parse a JSON envelope received as ``raw`` bytes.

        Raises:
            SignatureError: not a valid envelope.
            SizeLimitError: larger than ``max_bytes``, or too many signatures.
        """
        doc = parse_json_object(
            raw, what="DSSE envelope", max_bytes=max_bytes, error=SignatureError
        )
        return cls.from_dict(doc)


# ----------------------------------------------------------------------------- sign / verify


def _key_identity(key: Key) -> str:
    """Who a key *is*: its public key material, however it is encoded or named.

    Two keyids for one public key are one signer. PEM and raw-hex encodings are normalised to
    the SubjectPublicKeyInfo DER; other key kinds fall back to their dict without the keyid.
    """
    keyval = getattr(key, "keyval", None)
    public = keyval.get("public") if isinstance(keyval, dict) else None
    if isinstance(public, str):
        text = public.strip()
        der: bytes | None = None
        try:
            if text.startswith("-----BEGIN"):
                der = load_pem_public_key(text.encode()).public_bytes(
                    Encoding.DER, PublicFormat.SubjectPublicKeyInfo
                )
            elif key.keytype == "ed25519":
                der = Ed25519PublicKey.from_public_bytes(bytes.fromhex(text)).public_bytes(
                    Encoding.DER, PublicFormat.SubjectPublicKeyInfo
                )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            der = None
        if der is not None:
            return "spki:" + hashlib.sha256(der).hexdigest()
        return f"{key.keytype}:{text}"
    try:
        described = key.to_dict()
    except NotImplementedError:
        return f"keyid:{key.keyid}"
    return "dict:" + json.dumps(described, sort_keys=True, default=str)


def _verifies(key: Key, sig: bytes, data: bytes) -> bool:
    try:
        key.verify_signature(SslibSignature(key.keyid, sig.hex()), data)
    except (UnverifiedSignatureError, ValueError, TypeError, NotImplementedError):
        return False
    return True


def sign(payload: bytes, payload_type: str, signers: Sequence[Signer]) -> Envelope:
    """Sign ``PAE(payload_type, payload)`` with each signer; one signature per distinct key.

    Each signature is checked against its signer's public key before it is returned, so a
    signer that signs with another key than it advertises (a misconfigured HSM slot) fails
    here rather than at verification time.

    Raises:
        UsageError: no signers, or ``payload`` is not bytes.
        SignatureError: bad ``payload_type``, or a signer's signature does not verify.
    """
    if not isinstance(payload, bytes):
        raise UsageError("the DSSE payload must be bytes")
    if not signers:
        raise UsageError("at least one signer is needed")
    _check_payload_type(payload_type)
    data = pae(payload_type, payload)
    seen: set[str] = set()
    signatures: list[DsseSignature] = []
    for signer in signers:
        key = signer.public_key
        identity = _key_identity(key)
        if identity in seen:
            continue
        seen.add(identity)
        made = signer.sign(data)
        try:
            raw = bytes.fromhex(made.signature)
        except (TypeError, ValueError) as exc:
            raise SignatureError(f"signer {key.keyid} returned a malformed signature") from exc
        if not _verifies(key, raw, data):
            raise SignatureError(
                f"signer {key.keyid} made a signature its own public key does not verify"
            )
        signatures.append(DsseSignature(sig=raw, keyid=key.keyid))
    return Envelope(payload_type, payload, tuple(signatures))


def verify(
    envelope: Envelope, trusted: Mapping[str, Key], *, payload_type: str | None = None
) -> set[str]:
    """Keyids of the distinct trusted keys that signed ``envelope``.

    For each signature: when it names a keyid, only the trusted key of that keyid is tried (an
    unknown keyid, or a keyid that lies about which key signed, is simply not counted); when
    the keyid is absent, every trusted key is tried. A key counts once however often it signs,
    and two keyids mapping to the same public key count once (the smallest keyid is reported).

    ``payload_type``, when given, is the only payload type the caller accepts.

    Raises:
        SignatureError: ``payload_type`` was given and the envelope has another one.
    """
    if payload_type is not None and envelope.payload_type != payload_type:
        raise SignatureError(
            f"unexpected payloadType {envelope.payload_type!r}; expected {payload_type!r}"
        )
    data = envelope.pae()
    identity_of: dict[str, str] = {}
    reported: dict[str, str] = {}
    for keyid in sorted(trusted):
        identity = _key_identity(trusted[keyid])
        identity_of[keyid] = identity
        reported.setdefault(identity, keyid)
    accepted: set[str] = set()
    for signature in envelope.signatures:
        if signature.keyid:
            candidates = [signature.keyid] if signature.keyid in trusted else []
        else:
            candidates = sorted(trusted)
        for keyid in candidates:
            identity = identity_of[keyid]
            if identity in accepted:
                continue
            if _verifies(trusted[keyid], signature.sig, data):
                accepted.add(identity)
                break
    return {reported[identity] for identity in accepted}
