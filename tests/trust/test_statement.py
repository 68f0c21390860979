"""in-toto Statement v1: building, strict parsing of hostile documents, and the subject check
that stops an attestation from being replayed onto another repository or image."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from sealyard.errors import SizeLimitError, UsageError, VerificationError
from sealyard.trust.statement import (
    MAX_SUBJECTS,
    STATEMENT_TYPE,
    Statement,
    Subject,
    image_statement,
    parse_statement,
)

DIGEST = "sha256:" + hashlib.sha256(b"manifest").hexdigest()
OTHER = "sha256:" + hashlib.sha256(b"other manifest").hexdigest()
PREDICATE_TYPE = "https://sealyard.dev/attestations/approval/v1"


def statement_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "library/app", "digest": {"sha256": DIGEST[7:]}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"stage": "qa"},
    }
    doc.update(changes)
    return doc


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_image_statement_round_trip() -> None:
    statement = image_statement("library/app", DIGEST, PREDICATE_TYPE, {"stage": "qa"})
    assert statement.subjects == (Subject("library/app", {"sha256": DIGEST[7:]}),)
    payload = statement.to_json()
    assert json.loads(payload) == statement_doc()
    assert payload == statement.to_json()  # deterministic bytes
    assert b" " not in payload
    parsed = parse_statement(payload)
    assert parsed == statement
    assert parsed.require_subject("library/app", DIGEST) == statement.subjects[0]


@pytest.mark.parametrize(
    ("repository", "digest"),
    [
        ("staging/app", DIGEST),  # replayed onto another repository
        ("library/app", OTHER),  # or another image
        ("library/apps", DIGEST),
        ("127.0.0.1:5000/library/app", DIGEST),  # the host is not part of the name
        ("", DIGEST),
    ],
)
def test_require_subject_rejects_other_images(repository: str, digest: str) -> None:
    statement = image_statement("library/app", DIGEST, PREDICATE_TYPE, {})
    with pytest.raises(VerificationError, match="not about"):
        statement.require_subject(repository, digest)


def test_require_subject_with_bad_digest_is_a_clear_error() -> None:
    statement = image_statement("library/app", DIGEST, PREDICATE_TYPE, {})
    with pytest.raises(VerificationError):
        statement.require_subject("library/app", "sha256:nothex")


def test_require_subject_matches_any_subject_and_only_known_algorithms() -> None:
    doc = statement_doc(
        subject=[
            {"name": "library/app", "digest": {"somecoolhash": DIGEST[7:]}},
            {"name": "other/app", "digest": {"sha256": DIGEST[7:]}},
            {"name": "library/app", "digest": {"sha512": "a" * 128, "sha256": DIGEST[7:]}},
        ]
    )
    statement = parse_statement(raw(doc))
    assert statement.require_subject("library/app", DIGEST).digest["sha512"] == "a" * 128
    only_unknown = parse_statement(raw(statement_doc(subject=doc["subject"][:1])))
    with pytest.raises(VerificationError):
        only_unknown.require_subject("library/app", DIGEST)


@pytest.mark.parametrize(
    "repository",
    [
        "127.0.0.1:5000/library/app",
        "library/app:v1",
        "library/app@" + DIGEST,
        "Library/app",
        "library//app",
        "/library/app",
        "a" * 300,
        "",
    ],
)
def test_image_statement_wants_a_repository_path(repository: str) -> None:
    with pytest.raises(UsageError):
        image_statement(repository, DIGEST, PREDICATE_TYPE, {})


def test_image_statement_misuse() -> None:
    with pytest.raises(UsageError):
        image_statement("library/app", "sha256:abc", PREDICATE_TYPE, {})
    with pytest.raises(UsageError, match="sha256"):
        image_statement("library/app", "sha512:" + "a" * 128, PREDICATE_TYPE, {})
    with pytest.raises(UsageError, match="URI"):
        image_statement("library/app", DIGEST, "not a uri", {})
    single = image_statement("app", DIGEST, PREDICATE_TYPE, {})  # other registries allow it
    assert single.subjects[0].name == "app"


def test_unknown_fields_are_ignored_and_predicate_optional() -> None:
    doc = statement_doc(extension={"x": 1})
    doc["subject"][0]["uri"] = "oci://example"
    assert parse_statement(raw(doc)).predicate == {"stage": "qa"}
    without = statement_doc()
    del without["predicate"]
    assert parse_statement(raw(without)).predicate == {}


HOSTILE: list[tuple[str, bytes]] = [
    ("not-json", b"{"),
    ("array", b"[]"),
    ("wrong-type", raw(statement_doc(_type="https://in-toto.io/Statement/v0.1"))),
    ("no-type", raw({k: v for k, v in statement_doc().items() if k != "_type"})),
    ("subject-missing", raw({k: v for k, v in statement_doc().items() if k != "subject"})),
    ("subject-object", raw(statement_doc(subject={"name": "x"}))),
    ("subject-empty", raw(statement_doc(subject=[]))),
    ("subject-entry-string", raw(statement_doc(subject=["x"]))),
    ("subject-no-digest", raw(statement_doc(subject=[{"name": "x"}]))),
    ("subject-digest-empty", raw(statement_doc(subject=[{"name": "x", "digest": {}}]))),
    ("subject-digest-list", raw(statement_doc(subject=[{"name": "x", "digest": ["a"]}]))),
    ("sha256-short", raw(statement_doc(subject=[{"digest": {"sha256": "abc"}}]))),
    ("sha256-upper", raw(statement_doc(subject=[{"digest": {"sha256": DIGEST[7:].upper()}}]))),
    ("sha256-number", raw(statement_doc(subject=[{"digest": {"sha256": 5}}]))),
    ("algorithm-weird", raw(statement_doc(subject=[{"digest": {"sha 256": "ab"}}]))),
    ("digest-value-huge", raw(statement_doc(subject=[{"digest": {"x": "a" * 5000}}]))),
    ("name-number", raw(statement_doc(subject=[{"name": 5, "digest": {"sha256": DIGEST[7:]}}]))),
    ("name-huge", raw(statement_doc(subject=[{"name": "n" * 5000, "digest": {"x": "a"}}]))),
    (
        "too-many-subjects",
        raw(statement_doc(subject=[{"digest": {"sha256": DIGEST[7:]}}] * (MAX_SUBJECTS + 1))),
    ),
    (
        "predicate-type-missing",
        raw({k: v for k, v in statement_doc().items() if k != "predicateType"}),
    ),
    ("predicate-type-not-uri", raw(statement_doc(predicateType="approval"))),
    ("predicate-type-space", raw(statement_doc(predicateType="https://x/ y"))),
    ("predicate-type-number", raw(statement_doc(predicateType=3))),
    ("predicate-list", raw(statement_doc(predicate=[]))),
    ("predicate-null", raw(statement_doc(predicate=None))),
    (
        "duplicate-subject-key",
        b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"subject":[{"name":"a",'
        b'"digest":{"sha256":"' + DIGEST[7:].encode() + b'"}}],"predicateType":"https://x/y"}',
    ),
    ("nan", raw(statement_doc()).replace(b'"qa"', b"NaN")),
    ("deep-predicate", raw(statement_doc()).replace(b'"qa"', b'{"a":' * 80 + b"1" + b"}" * 80)),
    ("utf16", json.dumps(statement_doc()).encode("utf-16")),
]


@pytest.mark.parametrize("payload", [r for _, r in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_hostile_statements_are_clear_errors(payload: bytes) -> None:
    with pytest.raises(VerificationError):
        parse_statement(payload)


def test_statement_size_cap() -> None:
    with pytest.raises(SizeLimitError):
        parse_statement(raw(statement_doc()), max_bytes=10)


def test_constructor_invariants() -> None:
    subject = Subject("a", {"sha256": DIGEST[7:]})
    with pytest.raises(VerificationError):
        Statement((), PREDICATE_TYPE)
    with pytest.raises(VerificationError):
        Statement([subject], PREDICATE_TYPE)  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        Statement((subject,), PREDICATE_TYPE, [])  # type: ignore[arg-type]
    with pytest.raises(VerificationError):
        Subject("a", {})
    # git digests may be SHA-1 or SHA-256 sized
    assert Subject("a", {"gitCommit": "a" * 40}).digest == {"gitCommit": "a" * 40}
    assert Subject("a", {"gitCommit": "a" * 64}).digest == {"gitCommit": "a" * 64}
    with pytest.raises(VerificationError):
        Subject("a", {"gitCommit": "a" * 50})
