"""Reading the Debian security tracker's JSON export: states, grouping, hostile input, matching."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealyard.db import Database
from sealyard.errors import UsageError
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom
from sealyard.vulndb.matcher import match_sbom
from sealyard.vulndb.osv import OsvRecord, affects
from sealyard.vulndb.sources import DebianTrackerSource, ScanProblem, SourceLimits, SourceRecord
from sealyard.vulndb.sources.debian_tracker import looks_like_tracker
from sealyard.vulndb.store import AdvisoryStore
from sealyard.vulndb.versions.dpkg import DpkgVersionScheme

MTIME = 1714564800  # 2024-05-01T12:00:00Z


def release(status: str, urgency: str = "low", **extra: Any) -> dict[str, Any]:
    return {"status": status, "repositories": {"bookworm": "1.0-1"}, "urgency": urgency, **extra}


TRACKER: dict[str, Any] = {
    "openssl": {
        "CVE-2024-0001": {
            "description": "Buffer overflow in openssl",
            "scope": "remote",
            "debianbug": 1060001,
            "releases": {
                "bookworm": release("resolved", "medium", fixed_version="3.0.13-1~deb12u1"),
                "bullseye": release("open", "low"),
                "buster": release("undetermined", "not yet assigned"),
                "trixie": release("resolved", "unimportant", fixed_version="0"),
                "sid": release("resolved", fixed_version="3.1.5-1"),
            },
        },
        "TEMP-0000000-1A2B3C": {"description": "no CVE yet", "releases": {}},
    },
    "zlib": {
        "CVE-2023-45853": {
            "description": "MiniZip integer overflow",
            "scope": "local",
            "releases": {
                "bookworm": release(
                    "open", "unimportant", nodsa="minizip not built", nodsa_reason="ignored"
                ),
                "bullseye": release("open", "low", nodsa="Minor issue", nodsa_reason="postponed"),
                "buster": release("open", "end-of-life"),
                "stretch": release("open", "end-of-life", nodsa_reason="ignored"),
            },
        }
    },
    "minizip": {
        "CVE-2023-45853": {
            "description": "MiniZip integer overflow (minizip)",
            "releases": {
                "bookworm": release("resolved", "low", fixed_version="1.1-8+deb12u1"),
                "hamster": release("open"),
                "experimental": release("open"),
            },
        }
    },
}


def write(tmp_path: Path, doc: Any, name: str = "tracker.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    os.utime(path, (MTIME, MTIME))
    return path


def split(
    items: Iterator[SourceRecord | ScanProblem] | list[SourceRecord | ScanProblem],
) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    items = list(items)
    records = {i.record.id: i for i in items if isinstance(i, SourceRecord)}
    problems = [i for i in items if isinstance(i, ScanProblem)]
    return records, problems


def parse(
    tmp_path: Path, doc: Any, limits: SourceLimits | None = None
) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    return split(DebianTrackerSource(limits).records(write(tmp_path, doc)))


def entries(item: SourceRecord) -> dict[tuple[str, str], dict[str, Any]]:
    return {(a["package"]["name"], a["package"]["ecosystem"]): a for a in item.raw["affected"]}


def events(affected: dict[str, Any]) -> list[dict[str, str]]:
    events: list[dict[str, str]] = affected["ranges"][0]["events"]
    return events


def test_one_record_per_cve_named_like_osv(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, TRACKER)
    assert list(records) == ["DEBIAN-CVE-2023-45853", "DEBIAN-CVE-2024-0001"]
    item = records["DEBIAN-CVE-2024-0001"]
    rec = item.record
    assert rec.aliases == ("CVE-2024-0001",)
    assert item.raw["upstream"] == ["CVE-2024-0001"]
    assert rec.details == "Buffer overflow in openssl"
    assert rec.references[0]["url"] == "https://security-tracker.debian.org/tracker/CVE-2024-0001"
    assert item.raw["modified"] == "2024-05-01T12:00:00Z"  # the snapshot's mtime, UTC
    assert item.path == "tracker.json:CVE-2024-0001"
    assert OsvRecord.from_dict(item.raw) == rec
    json.dumps(item.raw)  # storable as is


def test_resolved_open_undetermined_and_not_affected(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, TRACKER)
    item = records["DEBIAN-CVE-2024-0001"]
    found = entries(item)
    # trixie resolved "0": not affected, no entry; sid: no release number, no entry.
    assert sorted(found) == [
        ("openssl", "Debian:10"),
        ("openssl", "Debian:11"),
        ("openssl", "Debian:12"),
    ]
    fixed = found["openssl", "Debian:12"]
    assert events(fixed) == [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]
    assert fixed["ecosystem_specific"] == {"urgency": "medium", "fix_state": "fixed"}
    assert fixed["database_specific"] == {
        "release": "bookworm",
        "status": "resolved",
        "debianbug": 1060001,
    }
    opened = found["openssl", "Debian:11"]
    assert events(opened) == [{"introduced": "0"}]
    assert opened["ecosystem_specific"] == {"urgency": "low", "fix_state": "unfixed"}
    undetermined = found["openssl", "Debian:10"]
    assert events(undetermined) == [{"introduced": "0"}]
    assert undetermined["ecosystem_specific"]["fix_state"] == "unfixed"
    assert undetermined["database_specific"]["status"] == "undetermined"
    assert item.raw["database_specific"] == {"not_affected": {"openssl": ["trixie"]}}


def test_nodsa_reasons_and_end_of_life(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, TRACKER)
    found = entries(records["DEBIAN-CVE-2023-45853"])
    ignored = found["zlib", "Debian:12"]
    assert ignored["ecosystem_specific"] == {
        "urgency": "unimportant",
        "fix_state": "will_not_fix",
        "nodsa_reason": "ignored",
    }
    assert ignored["database_specific"]["nodsa"] == "minizip not built"
    postponed = found["zlib", "Debian:11"]
    assert postponed["ecosystem_specific"] == {
        "urgency": "low",
        "fix_state": "unfixed",
        "nodsa_reason": "postponed",
    }
    assert found["zlib", "Debian:10"]["ecosystem_specific"] == {
        "urgency": "end-of-life",
        "fix_state": "end_of_life",
    }
    # support ended: that outranks "ignored"
    assert found["zlib", "Debian:9"]["ecosystem_specific"]["fix_state"] == "end_of_life"
    for affected in records["DEBIAN-CVE-2023-45853"].record.affected:
        if affected.name == "zlib":  # no fix anywhere: every version is affected
            assert affects(affected, "1:99", DpkgVersionScheme())


def test_a_cve_across_source_packages_is_one_record(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, TRACKER)
    item = records["DEBIAN-CVE-2023-45853"]
    names = [(a.name, a.ecosystem) for a in item.record.affected]
    assert names == [  # by package, then release age
        ("minizip", "Debian:12"),
        ("zlib", "Debian:9"),
        ("zlib", "Debian:10"),
        ("zlib", "Debian:11"),
        ("zlib", "Debian:12"),
    ]
    assert events(entries(item)["minizip", "Debian:12"]) == [
        {"introduced": "0"},
        {"fixed": "1.1-8+deb12u1"},
    ]
    assert item.record.details == "MiniZip integer overflow (minizip)"  # first package's


def test_unknown_codenames_are_reported_once_sid_and_temp_silently_skipped(
    tmp_path: Path,
) -> None:
    doc = json.loads(json.dumps(TRACKER))
    doc["zlib"]["CVE-2023-45853"]["releases"]["hamster"] = release("open")
    records, problems = parse(tmp_path, doc)
    assert [p.reason for p in problems] == ["unknown Debian release 'hamster': 2 entries skipped"]
    assert not any("TEMP" in ident for ident in records)
    ecosystems = {a.ecosystem for r in records.values() for a in r.record.affected}
    assert all(e.split(":")[1].replace(".", "").isdigit() for e in ecosystems)


def test_every_cve_gets_a_record_even_when_never_affected(tmp_path: Path) -> None:
    never = release("resolved", fixed_version="0")
    doc = {"bash": {"CVE-2024-9999": {"releases": {"bookworm": never}}}}
    records, problems = parse(tmp_path, doc)
    assert problems == []
    rec = records["DEBIAN-CVE-2024-9999"]
    assert rec.record.affected == ()
    assert rec.raw["database_specific"] == {"not_affected": {"bash": ["bookworm"]}}
    assert "details" not in rec.raw


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ('{"openssl": {"CVE-2024-1": ', "not valid tracker JSON"),
        ("not json at all", "not valid tracker JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"a": {}} trailing', "extra data"),
        ('{"a" 1}', "expected ':'"),
        ('{"a": {}, 5: {}}', "expected a package name"),
        ('{"a": {} "b": {}}', "expected ',' or '}'"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "not valid tracker JSON"),
        ("", "not a JSON object"),
    ],
)
def test_a_document_that_is_not_json_is_refused_whole(
    tmp_path: Path, doc: str, reason: str
) -> None:
    records, problems = parse(tmp_path, doc)
    assert records == {}
    assert len(problems) == 1
    assert reason in problems[0].reason
    assert problems[0].path == "tracker.json"


def test_a_truncated_download_imports_nothing(tmp_path: Path) -> None:
    text = json.dumps(TRACKER)
    records, problems = parse(tmp_path, text[: len(text) - 40])
    assert records == {}
    assert "nothing imported" in problems[0].reason


def test_wrong_types_at_every_level_skip_only_that_part(tmp_path: Path) -> None:
    good = {"releases": {"bookworm": release("resolved", fixed_version="1.0-2")}}
    doc: dict[str, Any] = {
        "aaa": ["not", "an", "object"],
        "Bad Name": {"CVE-2024-0002": good},
        "bbb": {
            "CVE-2024-0003": "not an object",
            "CVE-2024-0004": {"releases": ["bookworm"]},
            "GHSA-xxxx": good,
            "CVE-2024-0005": {
                "description": 42,
                "debianbug": "1234",
                "releases": {
                    "bookworm": "resolved",
                    "bullseye": release("fixed"),
                    "buster": {"status": ["open"]},
                    "stretch": release("open", urgency=7),
                    "jessie": release("resolved", fixed_version=3),
                    "wheezy": release("resolved", fixed_version="not a version!"),
                    "squeeze": release("resolved"),
                    "lenny": release("open", nodsa=["x"]),
                    "trixie": release("resolved", fixed_version="2.0-1"),
                },
            },
        },
        "ccc": {"CVE-2024-0006": good},
    }
    records, problems = parse(tmp_path, doc)
    reasons = [p.reason for p in problems]
    expected = [
        "package 'aaa': must be an object of issues",
        "package 'Bad Name': invalid source package name",
        "package 'bbb', 'CVE-2024-0003': must be an object with a 'releases' object",
        "package 'bbb', 'CVE-2024-0004': must be an object with a 'releases' object",
        "package 'bbb', 'GHSA-xxxx': not a CVE or TEMP- id",
        "package 'bbb', 'CVE-2024-0005': description is not a string",
        "package 'bbb', 'CVE-2024-0005': debianbug is not a number",
        "package 'bbb', 'CVE-2024-0005', bookworm: must be an object",
        "package 'bbb', 'CVE-2024-0005', bullseye: unknown status 'fixed'",
        "package 'bbb', 'CVE-2024-0005', buster: unknown status ['open']",
        "package 'bbb', 'CVE-2024-0005', stretch: urgency must be a string, not int",
        "package 'bbb', 'CVE-2024-0005', jessie: fixed_version must be a string, not int",
        "package 'bbb', 'CVE-2024-0005', squeeze: resolved without a fixed_version",
        "package 'bbb', 'CVE-2024-0005', lenny: nodsa must be a string, not list",
    ]
    for reason in expected:
        assert reason in reasons
    assert any(
        r.startswith("package 'bbb', 'CVE-2024-0005', wheezy: invalid Debian") for r in reasons
    )
    assert len(problems) == len(expected) + 1
    assert sorted(records) == ["DEBIAN-CVE-2024-0005", "DEBIAN-CVE-2024-0006"]
    kept = records["DEBIAN-CVE-2024-0005"].record
    assert [(a.name, a.ecosystem) for a in kept.affected] == [("bbb", "Debian:13")]
    assert "debianbug" not in kept.affected[0].database_specific


def test_repeated_package_keys_are_reported(tmp_path: Path) -> None:
    one = '{"releases": {"bookworm": {"status": "open", "urgency": "low"}}}'
    text = f'{{"foo": {{"CVE-2024-0001": {one}}}, "foo": {{"CVE-2024-0002": {one}}}}}'
    records, problems = parse(tmp_path, text)
    assert list(records) == ["DEBIAN-CVE-2024-0001"]
    assert [p.reason for p in problems] == ["package 'foo' appears twice; repeat ignored"]


def test_size_cap_encoding_symlinks_and_bad_paths(tmp_path: Path) -> None:
    path = write(tmp_path, TRACKER)
    small = DebianTrackerSource(SourceLimits(max_snapshot_bytes=100))
    _, problems = split(small.records(path))
    assert len(problems) == 1
    assert "exceeds the 100-byte limit" in problems[0].reason
    (tmp_path / "latin1.json").write_bytes(b'{"caf\xe9": {}}')
    _, problems = split(DebianTrackerSource().records(tmp_path / "latin1.json"))
    assert problems[0].reason.startswith("not UTF-8")
    link = tmp_path / "link.json"
    link.symlink_to(path)
    _, problems = split(DebianTrackerSource().records(link))
    assert problems[0].reason == "symbolic link not followed"
    with pytest.raises(UsageError, match="does not exist"):
        DebianTrackerSource().records(tmp_path / "absent.json")
    with pytest.raises(UsageError, match="not a file"):
        DebianTrackerSource().records(tmp_path)
    assert DebianTrackerSource().name == "debian-tracker"


def test_sniffing_the_first_bytes() -> None:
    head = json.dumps(TRACKER).encode()[:60]
    assert looks_like_tracker(head)
    assert looks_like_tracker(b' \n{ "0ad" : { "TEMP-0000000-1" : {')
    assert not looks_like_tracker(b'{"id": "GHSA-1", "modified": "2024-01-01T00:00:00Z"}')
    assert not looks_like_tracker(b'{"distroversion": "v3.20", "packages": []}')
    assert not looks_like_tracker(b'{"openssl": {"not-a-cve": {}}}')
    assert not looks_like_tracker(b'{"openssl": ["CVE-2024-1"]}')
    assert not looks_like_tracker(b"[]")
    assert not looks_like_tracker(b'{"openss')
    assert not looks_like_tracker(b"")


# -- end to end: the store and the matcher --------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AdvisoryStore]:
    db = Database(f"sqlite:///{tmp_path / 'adv.db'}")
    db.migrate()
    yield AdvisoryStore(db)
    db.dispose()


def deb(name: str, version: str, source: str, source_version: str = "") -> Package:
    return Package(
        name=name,
        version=version,
        type="deb",
        purl=f"pkg:deb/debian/{name}@{version}",
        found_by="test",
        metadata={"source": source, "source_version": source_version or version},
    )


def test_matching_a_debian_image_by_source_package_and_release(
    tmp_path: Path, store: AdvisoryStore
) -> None:
    path = write(tmp_path, TRACKER)
    report = store.import_records("debian-tracker", DebianTrackerSource().records(path))
    assert (report.added, report.invalid) == (2, 1)  # the 'hamster' problem
    packages = (
        deb("libssl3", "3.0.11-1~deb12u2", "openssl"),  # below the bookworm fix
        deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),  # open, nodsa ignored: no fix
        deb("libminizip1", "1.1-8+deb12u1", "minizip"),  # exactly the fix
    )
    bookworm = Sbom(image=ImageInfo("t"), packages=packages, distro=Distro("debian", "12.5"))
    found = {(f.package.name, f.vulnerability): f for f in match_sbom(bookworm, store).findings}
    assert sorted(found) == [("libssl3", "CVE-2024-0001"), ("zlib1g", "CVE-2023-45853")]
    ssl = found["libssl3", "CVE-2024-0001"]
    assert ssl.records == ("DEBIAN-CVE-2024-0001",)
    assert (ssl.fixed, ssl.fix_state) == (("3.0.13-1~deb12u1",), "fixed")
    assert ssl.coordinates.ecosystem == "Debian:12"
    zlib = found["zlib1g", "CVE-2023-45853"]
    assert (zlib.fixed, zlib.fix_state) == ((), "will_not_fix")  # reported, without a fix
    assert zlib.records == ("DEBIAN-CVE-2023-45853",)
    # trixie says "not affected": nothing there.
    trixie = Sbom(
        image=ImageInfo("t"),
        packages=(deb("libssl3", "3.0.0-1", "openssl"),),
        distro=Distro("debian", "13"),
    )
    assert match_sbom(trixie, store).findings == []
    assert store.group("CVE-2024-0001") == ["CVE-2024-0001", "DEBIAN-CVE-2024-0001"]


def test_reimporting_the_same_snapshot_adds_nothing(tmp_path: Path, store: AdvisoryStore) -> None:
    path = write(tmp_path, TRACKER)
    first = store.import_records("t", DebianTrackerSource().records(path))
    assert first.added == 2
    again = store.import_records("t", DebianTrackerSource().records(path))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)  # same mtime
    os.utime(path, (MTIME + 86400, MTIME + 86400))  # a fresh download of the same content
    fresh = store.import_records("t", DebianTrackerSource().records(path))
    assert fresh.added == 0
    # Whether ``fresh`` counts as unchanged depends on the store comparing content.
