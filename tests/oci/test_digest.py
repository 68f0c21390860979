"""Digest grammar: only well-formed sha256/sha512 digests in lowercase hex are accepted."""

from __future__ import annotations

import hashlib

import pytest

from sealyard.errors import InvalidDigestError, UntrustedDataError
from sealyard.oci.digest import hex_of, new_hasher, parse_digest, sha256_digest

SHA256_HEX = hashlib.sha256(b"hello").hexdigest()
SHA512_HEX = hashlib.sha512(b"hello").hexdigest()


@pytest.mark.parametrize(
    "value",
    [f"sha256:{SHA256_HEX}", f"sha512:{SHA512_HEX}", "sha256:" + "0" * 64, "sha512:" + "f" * 128],
)
def test_valid_digests_are_returned_unchanged(value: str) -> None:
    assert parse_digest(value) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"sha256:{SHA256_HEX.upper()}", "uppercase hex"),
        (f"SHA256:{SHA256_HEX}", "uppercase algorithm"),
        (f"sha256:{SHA256_HEX[:-1]}", "one hex digit short"),
        (f"sha256:{SHA256_HEX}0", "one hex digit long"),
        (f"sha512:{SHA256_HEX}", "sha512 with a sha256-length encoding"),
        (f"sha256:{SHA512_HEX}", "sha256 with a sha512-length encoding"),
        (f"md5:{hashlib.md5(b'hello').hexdigest()}", "unknown algorithm"),
        (f"sha384:{hashlib.sha384(b'hello').hexdigest()}", "unregistered algorithm"),
        (f"sha256+b64u:{SHA256_HEX}", "grammatical but unsupported algorithm"),
        (SHA256_HEX, "missing colon and algorithm"),
        (f"sha256{SHA256_HEX}", "missing colon"),
        (f"sha256::{SHA256_HEX}", "double colon"),
        (f":{SHA256_HEX}", "empty algorithm"),
        ("sha256:", "empty encoding"),
        ("", "empty string"),
        (f"sha256:{SHA256_HEX[:-1]}g", "non-hex character"),
        (f" sha256:{SHA256_HEX}", "leading space"),
        (f"sha256:{SHA256_HEX}\n", "trailing newline"),
        (f"sha256:{SHA256_HEX[:32]}/../{SHA256_HEX[:28]}", "path separators"),
    ],
)
def test_malformed_digests_are_refused(value: str, why: str) -> None:
    with pytest.raises(InvalidDigestError):
        parse_digest(value)


@pytest.mark.parametrize("value", [None, 42, b"sha256:" + SHA256_HEX.encode(), ["sha256:x"]])
def test_non_string_digests_are_refused(value: object) -> None:
    with pytest.raises(InvalidDigestError):
        parse_digest(value)  # type: ignore[arg-type]


def test_invalid_digest_is_untrusted_data() -> None:
    with pytest.raises(UntrustedDataError, match="unsupported digest algorithm 'md5'"):
        parse_digest("md5:" + "0" * 32)


def test_sha256_digest_helpers_agree_with_hashlib() -> None:
    digest = sha256_digest(b"hello")
    assert digest == f"sha256:{SHA256_HEX}"
    assert parse_digest(digest) == digest
    assert hex_of(digest) == SHA256_HEX
    hasher = new_hasher(parse_digest(f"sha512:{SHA512_HEX}"))
    hasher.update(b"hello")
    assert hasher.hexdigest() == SHA512_HEX
