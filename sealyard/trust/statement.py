"""in-toto Statement v1: what an attestation is about (subjects) and what it says (predicate).

Sealyard attests images. The statement of an image has exactly one subject:

* ``name`` — the **repository path** as the registry API names it (``<name>`` in
  ``/v2/<name>/manifests/...``), e.g. ``library/app``, *without* the registry host. The same
  repository is reached under several host names (loopback, load balancer, ``public_url``, an
  air-gapped copy), so the host is not part of the identity; the repository is what RBAC and
  policy are keyed on. Binding it stops an attestation made for ``staging/app`` from being
  replayed next to the same digest in ``prod/app``.
* ``digest`` — ``{"sha256": <hex>}`` of the image manifest (or index) bytes.

Use :meth:`Statement.require_subject` to enforce both on verification.

The spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealyard.errors import InvalidDigestError, UsageError, VerificationError
from sealyard.oci.digest import Digest, hex_of, parse_digest
from sealyard.trust.dsse import MAX_ENVELOPE_BYTES, parse_json_object

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_SUBJECTS",
    "STATEMENT_TYPE",
    "Statement",
    "Subject",
    "check_digest_set",
    "check_uri",
    "image_statement",
    "parse_statement",
]

#: DSSE ``payloadType`` of an in-toto statement.
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: Most subjects a statement may list.
MAX_SUBJECTS = 1024
MAX_NAME_LENGTH = 1024
MAX_URI_LENGTH = 1024

_DIGEST_ALGORITHM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HEX = re.compile(r"^[a-f0-9]+$")
#: Lowercase-hex lengths of the DigestSet algorithms whose encoding the spec fixes.
_HEX_LENGTHS: dict[str, tuple[int, ...]] = {
    "sha224": (56,),
    "sha256": (64,),
    "sha384": (96,),
    "sha512": (128,),
    "sha1": (40,),
    "md5": (32,),
    "gitCommit": (40, 64),
    "gitTree": (40, 64),
    "gitBlob": (40, 64),
    "gitTag": (40, 64),
}
MAX_DIGEST_VALUE_LENGTH = 1024
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+$")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


def check_uri(value: Any, where: str) -> str:
    """``value`` if it is an absolute URI without whitespace; else VerificationError."""
    if not isinstance(value, str) or len(value) > MAX_URI_LENGTH or not _URI.fullmatch(value):
        raise VerificationError(f"{where} must be an absolute URI, got {value!r:.80}")
    return value


def check_digest_set(value: Any, where: str) -> dict[str, str]:
    """Validate an in-toto DigestSet; VerificationError if it is malformed."""
    if not isinstance(value, Mapping) or not value:
        raise VerificationError(f"{where} must be a non-empty object")
    if len(value) > 16:
        raise VerificationError(f"{where} lists more than 16 algorithms")
    for algorithm, encoded in value.items():
        if not isinstance(algorithm, str) or not _DIGEST_ALGORITHM.fullmatch(algorithm):
            raise VerificationError(f"{where}: invalid digest algorithm {algorithm!r:.80}")
        if not isinstance(encoded, str) or not 0 < len(encoded) <= MAX_DIGEST_VALUE_LENGTH:
            raise VerificationError(f"{where}: {algorithm} must be a short string")
        lengths = _HEX_LENGTHS.get(algorithm)
        if lengths is not None and (len(encoded) not in lengths or not _HEX.fullmatch(encoded)):
            raise VerificationError(
                f"{where}: {algorithm} must be {' or '.join(map(str, lengths))} "
                "lowercase hex characters"
            )
    return dict(value)


@dataclass(frozen=True)
class Subject:
    """One attested artifact: a name and a DigestSet (``algorithm -> encoded digest``).

    Algorithms with a fixed encoding in the spec (``sha256``, ``gitCommit``, ...) must be
    lowercase hex of the right length; other algorithms are kept but never matched.
    """

    name: str
    digest: Mapping[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or len(self.name) > MAX_NAME_LENGTH:
            raise VerificationError(
                f"subject name must be a string of at most {MAX_NAME_LENGTH} characters"
            )
        check_digest_set(self.digest, "subject digest")
        object.__setattr__(self, "digest", dict(self.digest))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": dict(self.digest)}

    @classmethod
    def from_dict(cls, value: Any) -> Subject:
        if not isinstance(value, dict):
            raise VerificationError("each subject must be an object")
        return cls(
            name=value.get("name", ""),
            digest=check_digest_set(value.get("digest"), "subject digest"),
        )


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement v1. ``predicate`` is the raw JSON object; see ``predicates``."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.subjects, tuple) or not all(
            isinstance(s, Subject) for s in self.subjects
        ):
            raise VerificationError("subjects must be a tuple of Subject")
        if not self.subjects:
            raise VerificationError("a statement needs at least one subject")
        if len(self.subjects) > MAX_SUBJECTS:
            raise VerificationError(f"a statement lists more than {MAX_SUBJECTS} subjects")
        check_uri(self.predicate_type, "predicateType")
        if not isinstance(self.predicate, Mapping):
            raise VerificationError("predicate must be a JSON object")

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def to_json(self) -> bytes:
        """Deterministic compact JSON: the bytes to put in a DSSE envelope and sign."""
        return json.dumps(
            self.to_dict(), separators=(",", ":"), sort_keys=True, ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def from_dict(cls, doc: Any) -> Statement:
        """Validate a decoded statement.

        Unknown fields are ignored, as the spec's parsing rules require (they cannot change
        the meaning of known fields, and the signed bytes are kept, not re-serialised).

        Raises:
            VerificationError: not a valid in-toto Statement v1.
        """
        if not isinstance(doc, dict):
            raise VerificationError("a statement must be a JSON object")
        if doc.get("_type") != STATEMENT_TYPE:
            raise VerificationError(f"not an in-toto Statement v1 (_type {doc.get('_type')!r:.80})")
        subjects = doc.get("subject")
        if not isinstance(subjects, list):
            raise VerificationError("subject must be a list")
        if len(subjects) > MAX_SUBJECTS:
            raise VerificationError(f"a statement lists more than {MAX_SUBJECTS} subjects")
        predicate = doc.get("predicate", {})
        if not isinstance(predicate, dict):
            raise VerificationError("predicate must be a JSON object")
        return cls(
            subjects=tuple(Subject.from_dict(s) for s in subjects),
            predicate_type=check_uri(doc.get("predicateType"), "predicateType"),
            predicate=predicate,
        )

    def require_subject(self, repository: str, manifest_digest: str) -> Subject:
        """The subject naming ``repository`` with ``manifest_digest``; the replay check.

        Raises:
            VerificationError: no subject binds this repository to this digest.
        """
        try:
            digest = parse_digest(manifest_digest)
        except InvalidDigestError as exc:
            raise VerificationError(str(exc)) from exc
        algorithm = digest.split(":", 1)[0]
        for subject in self.subjects:
            if subject.name == repository and subject.digest.get(algorithm) == hex_of(digest):
                return subject
        named = ", ".join(f"{s.name}@{sorted(s.digest)}" for s in self.subjects[:5])
        raise VerificationError(
            f"the statement is not about {repository}@{manifest_digest} (its subjects: {named})"
        )


def parse_statement(payload: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> Statement:
    """Parse the verified DSSE payload bytes as a statement.

    Raises:
        VerificationError: not strict JSON, or not a valid in-toto Statement v1.
        SizeLimitError: larger than ``max_bytes``.
    """
    doc = parse_json_object(
        payload, what="in-toto statement", max_bytes=max_bytes, error=VerificationError
    )
    return Statement.from_dict(doc)


def image_statement(
    repository: str, manifest_digest: str, predicate_type: str, predicate: Mapping[str, Any]
) -> Statement:
    """The statement of one image: subject ``repository`` (a path, no host) at its digest.

    Raises:
        UsageError: ``repository`` is not a repository path (has a host, a tag, upper case),
            or ``manifest_digest`` is not a sha256 digest.
    """
    if (
        not isinstance(repository, str)
        or len(repository) > 255
        or not _REPOSITORY.fullmatch(repository)
    ):
        raise UsageError(
            f"{repository!r:.80} is not a repository path such as library/app "
            "(no registry host, tag or digest)"
        )
    try:
        digest: Digest = parse_digest(manifest_digest)
    except InvalidDigestError as exc:
        raise UsageError(str(exc)) from exc
    if not digest.startswith("sha256:"):
        raise UsageError("image statements name the manifest by its sha256 digest")
    try:
        return Statement(
            subjects=(Subject(repository, {"sha256": hex_of(digest)}),),
            predicate_type=predicate_type,
            predicate=dict(predicate),
        )
    except VerificationError as exc:
        raise UsageError(str(exc)) from exc
