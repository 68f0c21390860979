"""The allowlist: entries with reason and expiry, matched by id or alias and purl prefix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sealyard.errors import SizeLimitError, UsageError
from sealyard.vulndb.allowlist import (
    AllowlistEntry,
    AllowlistError,
    load_allowlist,
    parse_allowlist,
)

GOOD = b"""\
version: 1
entries:
  - id: CVE-2024-12345
    expires: 2025-06-30
    reason: the daemon is not started in this image
  - id: GHSA-jfh8-c2jp-5v3q
    expires: 2025-06-30T12:00:00+02:00
    reason: >-
      vendored copy, patched in our fork
    packages:
      - pkg:maven/org.apache.logging.log4j/log4j-core
      - pkg:deb/debian/
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_entries_parse_with_dates_and_date_times() -> None:
    allowlist = parse_allowlist(GOOD, source="allow.yaml")
    first, second = allowlist.entries
    assert allowlist.source == "allow.yaml"
    assert (first.id, first.ref, first.expires_text) == (
        "CVE-2024-12345",
        "entries[0]",
        "2025-06-30",
    )
    # A date holds through that whole day (UTC).
    assert first.expires == datetime(2025, 7, 1, tzinfo=UTC)
    assert not first.expired(at("2025-06-30T23:59:59+00:00"))
    assert first.expired(at("2025-07-01T00:00:00+00:00"))
    assert second.expires == datetime(2025, 6, 30, 10, tzinfo=UTC)
    assert second.reason == "vendored copy, patched in our fork"
    assert second.packages == ("pkg:maven/org.apache.logging.log4j/log4j-core", "pkg:deb/debian/")


def test_json_is_accepted_too() -> None:
    data = json.dumps(
        {"entries": [{"id": "CVE-2024-0001", "expires": "2030-01-01", "reason": "r"}]}
    ).encode()
    assert parse_allowlist(data).entries[0].id == "CVE-2024-0001"


def test_matching_by_id_or_alias_and_purl_prefix_at_boundaries() -> None:
    entry = AllowlistEntry(
        id="ghsa-jfh8-c2jp-5v3q",
        expires=datetime(2030, 1, 1, tzinfo=UTC),
        reason="r",
        packages=("pkg:pypi/requests", "pkg:deb/debian/"),
    )
    ids = ("CVE-2024-0001", "GHSA-jfh8-c2jp-5v3q")
    assert entry.covers(ids, "pkg:pypi/requests@2.31.0")
    assert entry.covers(ids, "pkg:pypi/requests")
    assert entry.covers(ids, "pkg:deb/debian/openssl@3?arch=amd64")
    assert not entry.covers(ids, "pkg:pypi/requests-oauthlib@1.0")  # not a purl boundary
    assert not entry.covers(ids, "pkg:deb/ubuntu/openssl@3")
    assert not entry.covers(("CVE-2024-0002",), "pkg:pypi/requests@2.31.0")
    anywhere = AllowlistEntry(
        id="CVE-2024-0001", expires=datetime(2030, 1, 1, tzinfo=UTC), reason="r"
    )
    assert anywhere.covers(ids, "pkg:npm/anything@1")


def test_find_skips_expired_entries() -> None:
    allowlist = parse_allowlist(
        b"entries:\n"
        b"  - {id: CVE-2024-0001, expires: 2024-01-01, reason: old decision}\n"
        b"  - {id: CVE-2024-0001, expires: 2030-01-01, reason: renewed}\n"
    )
    now = at("2024-06-01T00:00:00+00:00")
    found = allowlist.find(("CVE-2024-0001",), "pkg:pypi/x@1", now)
    assert found is not None
    assert found.reason == "renewed"
    assert [e.reason for e in allowlist.expired(now)] == ["old decision"]
    assert allowlist.find(("CVE-2024-0001",), "pkg:pypi/x@1", at("2031-01-01T00:00:00Z")) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "the file is empty"),
        (b"- id: CVE-2024-0001\n", "a mapping with an 'entries' list"),
        (b"entries: {}\n", "'entries' must be a list"),
        (b"entries: []\nowner: me\n", "unknown top-level key(s): owner"),
        (b"version: 2\nentries: []\n", "unsupported allowlist version 2"),
        (b"entries:\n  - CVE-2024-0001\n", "entries[0] must be a mapping"),
        (b"entries:\n  - {id: CVE-2024-0001, reason: r}\n", "entries[0].expires is required"),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: 2030-01-01}\n",
            "entries[0].reason is required",
        ),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: 2030-01-01, reason: '  '}\n",
            "reason is required",
        ),
        (b"entries:\n  - {expires: 2030-01-01, reason: r}\n", "entries[0].id is required"),
        (b"entries:\n  - {id: CVE-24-1, expires: 2030-01-01, reason: r}\n", "is not a CVE id"),
        (b"entries:\n  - {id: GHSA-1234, expires: 2030-01-01, reason: r}\n", "is not a GHSA id"),
        (
            b"entries:\n  - {id: 'not an id', expires: 2030-01-01, reason: r}\n",
            "is not a vulnerability id",
        ),
        (b"entries:\n  - {id: CVE-2024-0001, expires: 2030-02-30, reason: r}\n", "is not a date"),
        (b"entries:\n  - {id: CVE-2024-0001, expires: next year, reason: r}\n", "is not a date"),
        (b"entries:\n  - {id: CVE-2024-0001, expires: 2030, reason: r}\n", "must be a date"),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: '2030-01-01T00:00:00', reason: r}\n",
            "needs a time zone",
        ),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: 2030-01-01, reason: r, until: x}\n",
            "unknown key(s): until",
        ),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: 2030-01-01, reason: r, packages: []}\n",
            "non-empty list",
        ),
        (
            b"entries:\n  - {id: CVE-2024-0001, expires: 2030-01-01, reason: r,"
            b" packages: [requests]}\n",
            "is not a purl prefix",
        ),
        (b"entries: [\n", "not valid YAML"),
        (b"entries: !!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_bad_allowlists_are_refused_with_the_field_named(text: bytes, message: str) -> None:
    with pytest.raises(AllowlistError) as info:
        parse_allowlist(text, source="allow.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("allow.yaml: ")


def test_yaml_alias_bombs_are_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    with pytest.raises(AllowlistError, match="YAML alias bomb"):
        parse_allowlist("\n".join(lines).encode())


def test_load_allowlist_caps_the_size_and_names_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "allow.yaml"
    path.write_bytes(GOOD)
    assert len(load_allowlist(path).entries) == 2
    with pytest.raises(SizeLimitError, match="larger than 100 bytes"):
        load_allowlist(path, max_bytes=100)
    with pytest.raises(UsageError, match="cannot read allowlist"):
        load_allowlist(tmp_path / "nope.yaml")
