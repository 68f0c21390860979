"""OSV semantics exactly as the schema's IsVulnerable pseudocode defines them."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from sealyard.vulndb.osv import (
    OsvError,
    OsvRecord,
    affects,
    fixed_versions,
    vulnerable_and_fixed,
)
from sealyard.vulndb.versions import scheme
from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme


class Dotted(VersionScheme):
    """A minimal scheme for semantics tests: dot-separated integers."""

    name = "dotted"

    def key(self, version: str) -> Any:
        try:
            return tuple(int(p) for p in version.split("."))
        except ValueError as exc:
            raise InvalidVersionError(version) from exc


S = Dotted()


def record(*ranges: dict[str, Any], versions: list[str] | None = None) -> OsvRecord:
    affected: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": "x"}}
    if ranges:
        affected["ranges"] = list(ranges)
    if versions is not None:
        affected["versions"] = versions
    return OsvRecord.from_dict(
        {"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", "affected": [affected]}
    )


def eco(*events: dict[str, str]) -> dict[str, Any]:
    return {"type": "ECOSYSTEM", "events": list(events)}


def hit(rec: OsvRecord, version: str) -> bool:
    return affects(rec.affected[0], version, S)


def test_introduced_zero_affects_everything() -> None:
    rec = record(eco({"introduced": "0"}))
    assert hit(rec, "0.0.1")
    assert hit(rec, "999.0")


def test_fixed_is_exclusive() -> None:
    rec = record(eco({"introduced": "0"}, {"fixed": "1.0.2"}))
    assert hit(rec, "1.0.1")
    assert not hit(rec, "1.0.2")
    assert not hit(rec, "2.0")


def test_last_affected_is_inclusive() -> None:
    rec = record(eco({"introduced": "0"}, {"last_affected": "2.1.214"}))
    assert hit(rec, "2.1.214")
    assert not hit(rec, "2.1.215")


def test_multiple_intervals_in_one_range_regardless_of_event_order() -> None:
    rec = record(
        eco(
            {"fixed": "3.2.5"}, {"introduced": "3.0.0"}, {"fixed": "1.0.2"}, {"introduced": "1.0.0"}
        )
    )
    assert [
        hit(rec, v) for v in ("0.9", "1.0.0", "1.0.1", "1.0.2", "2.5", "3.0.0", "3.2.4", "3.2.5")
    ] == [False, True, True, False, False, True, True, False]


def test_introduced_above_version_does_not_affect() -> None:
    rec = record(eco({"introduced": "2.0"}))
    assert not hit(rec, "1.9")
    assert hit(rec, "2.0")


def test_limit_bounds_the_range() -> None:
    rec = record(eco({"introduced": "1.0"}, {"limit": "1.5"}))
    assert hit(rec, "1.4")
    assert not hit(rec, "1.5")
    star = record(eco({"introduced": "1.0"}, {"limit": "*"}))
    assert hit(star, "100.0")


def test_several_limits_any_of_them() -> None:
    rec = record(eco({"introduced": "1.0"}, {"limit": "1.2"}, {"limit": "3.0"}))
    assert hit(rec, "2.0")
    assert not hit(rec, "3.0")


def test_explicit_versions_match_by_equality() -> None:
    rec = record(versions=["1.0", "1.1"])
    assert hit(rec, "1.1")
    assert not hit(rec, "1.2")


def test_git_ranges_are_not_evaluated_but_versions_are() -> None:
    rec = record(
        {"type": "GIT", "repo": "https://x", "events": [{"introduced": "abc"}]}, versions=["1.0"]
    )
    assert hit(rec, "1.0")
    assert not hit(rec, "2.0")


def test_ranges_are_ored() -> None:
    rec = record(
        eco({"introduced": "1.0"}, {"fixed": "1.1"}), eco({"introduced": "2.0"}, {"fixed": "2.1"})
    )
    assert hit(rec, "1.0")
    assert hit(rec, "2.0")
    assert not hit(rec, "1.5")


def test_fixed_versions_are_upgrade_targets_above_the_version() -> None:
    rec = record(
        eco({"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.3"})
    )
    assert list(fixed_versions(rec.affected[0], "1.1", S)) == ["1.2", "2.3"]
    assert list(fixed_versions(rec.affected[0], "2.1", S)) == ["2.3"]


def test_unparseable_version_raises() -> None:
    rec = record(eco({"introduced": "0"}, {"fixed": "1.0"}))
    with pytest.raises(InvalidVersionError):
        hit(rec, "not-a-version")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"modified": "2024-01-01T00:00:00Z"}, "without an id"),
        ({"id": "X"}, "modified is required"),
        ({"id": "X", "modified": "yesterday"}, "not an RFC 3339"),
        ({"id": "X", "modified": "2024-01-01T00:00:00"}, "no time zone"),
        ({"id": "X", "modified": "2024-01-01T00:00:00Z", "affected": {}}, "must be a list"),
        ({"id": "X", "modified": "2024-01-01T00:00:00Z", "affected": [{}]}, "package"),
        (
            {
                "id": "X",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}],
                    }
                ],
            },
            "introduced",
        ),
        (
            {
                "id": "X",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [
                            {"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}
                        ],
                    }
                ],
            },
            "exactly one",
        ),
        (
            {
                "id": "X",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": "1"},
                                    {"last_affected": "2"},
                                ],
                            }
                        ],
                    }
                ],
            },
            "cannot be mixed",
        ),
        (
            {
                "id": "X",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "WEIRD", "events": [{"introduced": "0"}]}],
                    }
                ],
            },
            "range type",
        ),
    ],
)
def test_malformed_records_are_refused_with_the_field_named(
    doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(OsvError, match=message):
        OsvRecord.from_dict(doc)


def test_withdrawn_and_aliases_are_kept() -> None:
    rec = OsvRecord.from_dict(
        {
            "id": "GHSA-x",
            "modified": "2024-02-01T10:00:00Z",
            "withdrawn": "2024-02-02T00:00:00Z",
            "aliases": ["CVE-2024-1", "PYSEC-2024-2"],
            "severity": [
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
        }
    )
    assert rec.withdrawn is not None
    assert rec.aliases == ("CVE-2024-1", "PYSEC-2024-2")
    assert rec.severity[0]["type"] == "CVSS_V3"


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "advisories"


@pytest.mark.skipif(
    not (SHARED / "rustsec" / "crates").is_dir(),
    reason="../shared/data/advisories is absent (fresh clone without shared/)",
)
def test_every_rustsec_record_parses() -> None:
    files = sorted((SHARED / "rustsec" / "crates").glob("*.json"))
    assert len(files) > 100
    bad = []
    for path in files:
        try:
            OsvRecord.from_dict(json.loads(path.read_text()))
        except OsvError as exc:
            bad.append(f"{path.name}: {exc}")
    assert bad == []


def test_one_pass_evaluation_agrees_with_affects_and_fixed_versions() -> None:
    """The matcher's combined pass must decide exactly like the two reference functions."""
    rng = random.Random(4)
    vs = scheme("pep440")
    versions = [f"{a}.{b}" for a in range(4) for b in range(4)]
    for case in range(400):
        ranges = []
        for _ in range(rng.randint(1, 3)):
            events: list[dict[str, str]] = [{"introduced": rng.choice(["0", *versions])}]
            for _ in range(rng.randint(0, 3)):
                kind = rng.choice(["introduced", "fixed", "fixed", "limit"])
                events.append({kind: rng.choice(versions)})
            ranges.append({"type": "ECOSYSTEM", "events": events})
        doc = {
            "id": f"T-{case}",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "p"},
                    "ranges": ranges,
                    "versions": rng.sample(versions, rng.randint(0, 2)),
                }
            ],
        }
        entry = OsvRecord.from_dict(doc).affected[0]
        for version in versions:
            hit, fixed = vulnerable_and_fixed(entry, version, vs)
            assert hit == affects(entry, version, vs), (doc, version)
            assert sorted(set(fixed), key=vs.key) == list(fixed_versions(entry, version, vs))
