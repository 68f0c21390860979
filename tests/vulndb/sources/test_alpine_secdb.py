"""Reading Alpine secdb files: ids per file, identifiers, apk ordering, hostile input, matching."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sealyard.db import Database
from sealyard.errors import UsageError
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom
from sealyard.vulndb.matcher import match_sbom
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.sources import AlpineSecdbSource, ScanProblem, SourceLimits, SourceRecord
from sealyard.vulndb.sources.alpine_secdb import looks_like_secdb
from sealyard.vulndb.store import AdvisoryStore

MTIME = 1714564800  # 2024-05-01T12:00:00Z


def secdb(
    packages: list[Any], distroversion: str = "v3.20", reponame: str = "main"
) -> dict[str, Any]:
    return {
        "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/"
        "{{pkg.name}}-{{pkg.ver}}.apk",
        "archs": ["aarch64", "x86_64"],
        "reponame": reponame,
        "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
        "distroversion": distroversion,
        "packages": packages,
    }


def pkg(name: str, secfixes: Any) -> dict[str, Any]:
    return {"pkg": {"name": name, "secfixes": secfixes}}


MAIN = secdb(
    [
        pkg(
            "openssl",
            {
                "3.3.2-r0": ["CVE-2024-6119"],
                "3.3.1-r1": ["CVE-2024-5535"],
                "3.1.10-r0": ["CVE-2024-4741"],
                "3.1.9-r1": ["CVE-2024-4741"],  # lower by apk ordering, not by string ordering
                "0": ["CVE-2022-1343"],
            },
        ),
        pkg(
            "xen",
            {
                "4.18.2-r0": ["XSA-455 CVE-2024-31142 GHSA-aaaa-bbbb-cccc"],
                "4.18.0-r1": ["XSA-449", "cve-2023-46840, XSA-450"],
            },
        ),
        pkg("busybox", {"1.36.1-r29": ["CVE-2023-42363", "CVE-2024-6119"], "0": ["CVE-2024-4741"]}),
    ]
)


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    os.utime(path, (MTIME, MTIME))
    return path


def split(
    items: Iterable[SourceRecord | ScanProblem],
) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    items = list(items)
    records = {i.record.id: i for i in items if isinstance(i, SourceRecord)}
    problems = [i for i in items if isinstance(i, ScanProblem)]
    return records, problems


def parse(
    tmp_path: Path, doc: Any, limits: SourceLimits | None = None
) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    path = write(tmp_path / "v3.20" / "main.json", doc)
    return split(AlpineSecdbSource(limits).records(path))


def fixes(item: SourceRecord) -> dict[tuple[str, str], list[dict[str, str]]]:
    return {
        (a["package"]["ecosystem"], a["package"]["name"]): a["ranges"][0]["events"]
        for a in item.raw["affected"]
    }


def test_each_identifier_is_a_record_per_file(tmp_path: Path) -> None:
    records, problems = parse(tmp_path, MAIN)
    assert problems == []
    assert list(records) == sorted(records)
    item = records["ALPINE-v3.20-main-CVE-2024-6119"]
    assert item.record.aliases == ("CVE-2024-6119",)
    assert fixes(item) == {
        ("Alpine:v3.20", "busybox"): [{"introduced": "0"}, {"fixed": "1.36.1-r29"}],
        ("Alpine:v3.20", "openssl"): [{"introduced": "0"}, {"fixed": "3.3.2-r0"}],
    }
    assert item.raw["modified"] == "2024-05-01T12:00:00Z"
    assert item.raw["references"] == [
        {"type": "ADVISORY", "url": "https://security.alpinelinux.org/vuln/CVE-2024-6119"}
    ]
    assert item.raw["database_specific"] == {"distroversion": "v3.20", "reponame": "main"}
    assert item.path == "main.json:CVE-2024-6119"
    assert OsvRecord.from_dict(item.raw) == item.record
    json.dumps(item.raw)


def test_the_lowest_fixed_version_by_apk_ordering(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, MAIN)
    item = records["ALPINE-v3.20-main-CVE-2024-4741"]
    assert fixes(item) == {
        ("Alpine:v3.20", "openssl"): [{"introduced": "0"}, {"fixed": "3.1.9-r1"}],
    }
    # busybox lists it under "0": never affected, so no entry, but noted
    assert item.raw["database_specific"]["not_affected"] == ["busybox"]


def test_version_zero_means_not_affected_and_still_yields_a_record(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, MAIN)
    item = records["ALPINE-v3.20-main-CVE-2022-1343"]
    assert item.record.affected == ()
    assert item.raw["database_specific"]["not_affected"] == ["openssl"]
    assert item.record.aliases == ("CVE-2022-1343",)


def test_several_identifiers_in_one_entry(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, MAIN)
    # The first CVE-like identifier is the vulnerability, wherever it stands.
    xsa = records["ALPINE-v3.20-main-CVE-2024-31142"]
    assert xsa.record.aliases == ("CVE-2024-31142", "XSA-455", "GHSA-aaaa-bbbb-cccc")
    assert fixes(xsa) == {("Alpine:v3.20", "xen"): [{"introduced": "0"}, {"fixed": "4.18.2-r0"}]}
    # Lower-case CVEs are normalised; commas separate like spaces.
    assert records["ALPINE-v3.20-main-CVE-2023-46840"].record.aliases == (
        "CVE-2023-46840",
        "XSA-450",
    )
    # Without a CVE the identifier itself is the vulnerability; no tracker link then.
    alone = records["ALPINE-v3.20-main-XSA-449"]
    assert alone.record.aliases == ("XSA-449",)
    assert alone.raw["references"] == []
    assert "ALPINE-v3.20-main-XSA-455" not in records


def test_a_directory_of_files_gives_distinct_ids_that_alias_groups_join(
    tmp_path: Path, store: AdvisoryStore
) -> None:
    write(tmp_path / "v3.20" / "main.json", MAIN)
    community = secdb(
        [pkg("openssl1.1-compat", {"1.1.1w-r1": ["CVE-2024-6119"]})], "v3.20", "community"
    )
    write(tmp_path / "v3.20" / "community.json", community)
    old = secdb([pkg("openssl", {"3.1.7-r0": ["CVE-2024-6119"]})], "v3.19", "main")
    write(tmp_path / "v3.19" / "main.json", old)
    write(tmp_path / "v3.19" / "README.txt", "not json")
    write(tmp_path / ".git" / "x.json", "ignored: hidden directory")
    items = list(AlpineSecdbSource().records(tmp_path))
    records, problems = split(items)
    assert problems == []
    paths = list(dict.fromkeys(i.path.split(":")[0] for i in items))
    assert paths == ["v3.19/main.json", "v3.20/community.json", "v3.20/main.json"]
    assert {
        "ALPINE-v3.19-main-CVE-2024-6119",
        "ALPINE-v3.20-community-CVE-2024-6119",
        "ALPINE-v3.20-main-CVE-2024-6119",
    } <= set(records)
    assert fixes(records["ALPINE-v3.19-main-CVE-2024-6119"]) == {
        ("Alpine:v3.19", "openssl"): [{"introduced": "0"}, {"fixed": "3.1.7-r0"}]
    }
    report = store.import_records("alpine-secdb", items)
    assert report.added == len(records)
    assert {
        "ALPINE-v3.19-main-CVE-2024-6119",
        "ALPINE-v3.20-community-CVE-2024-6119",
        "ALPINE-v3.20-main-CVE-2024-6119",
    } <= set(store.group("CVE-2024-6119"))


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"\x00\x01 not json", "not valid JSON"),
        ("[1, 2]", "not an Alpine secdb document: a secdb document must be a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ({"packages": []}, "distroversion None is not like 'v3.20' or 'edge'"),
        ({**secdb([]), "distroversion": "3.20"}, "distroversion '3.20'"),
        ({**secdb([]), "distroversion": ["v3.20"]}, "distroversion ['v3.20']"),
        ({**secdb([]), "reponame": 5}, "reponame 5 is not a repository name"),
        ({**secdb([]), "reponame": "../main"}, "reponame '../main'"),
        ({**secdb([]), "packages": {"pkg": {}}}, "'packages' must be a list"),
    ],
)
def test_documents_that_are_not_secdb_are_refused(tmp_path: Path, doc: Any, reason: str) -> None:
    records, problems = parse(tmp_path, doc)
    assert records == {}
    assert len(problems) == 1
    assert reason in problems[0].reason
    assert problems[0].path == "main.json"


def test_wrong_types_inside_skip_only_that_part(tmp_path: Path) -> None:
    doc = secdb(
        [
            "not an object",
            {"pkg": "openssl"},
            {"pkg": {"secfixes": {}}},
            {"pkg": {"name": 7, "secfixes": {}}},
            pkg("bad name!", {"1.0-r0": ["CVE-2024-0001"]}),
            pkg("curl", ["8.0.0-r0"]),
            pkg("curl", None),
            pkg(
                "musl",
                {
                    "1.2.5-r1": ["CVE-2024-0002", 42, "not-an id!", "CVE-2024-0003 $$$"],
                    "not a version": ["CVE-2024-0004"],
                    "1.2.4-r2": {"CVE-2024-0005": True},
                    "1.2.4-r3": "CVE-2024-0006",
                    "1.2.4-r4": {},  # seen in real files: an empty object, nothing listed
                    "1.2.4-r5": [""],
                },
            ),
        ]
    )
    records, problems = parse(tmp_path, doc)
    reasons = [p.reason for p in problems]
    assert reasons[:7] == [
        "packages[0]: expected {'pkg': {'name': …}}",
        "packages[1]: expected {'pkg': {'name': …}}",
        "packages[2]: expected {'pkg': {'name': …}}",
        "packages[3]: expected {'pkg': {'name': …}}",
        "packages[4] 'bad name!': invalid package name",
        "packages[5] 'curl': 'secfixes' must be an object",
        "packages[6] 'curl': 'secfixes' must be an object",
    ]
    assert "packages[7] 'musl' '1.2.5-r1': 42 is not a string" in reasons
    assert "packages[7] 'musl' '1.2.5-r1': malformed identifier 'id!'" in reasons
    assert "packages[7] 'musl' '1.2.5-r1': malformed identifier '$$$'" in reasons
    assert any(
        r.startswith("packages[7] 'musl' 'not a version': not an apk version") for r in reasons
    )
    assert "packages[7] 'musl' '1.2.4-r2': must be a list of identifiers" in reasons
    assert "packages[7] 'musl' '1.2.4-r3': must be a list of identifiers" in reasons
    assert len(problems) == 13
    # "not-an id!" splits into "not-an" (a valid-looking identifier) and "id!" (refused).
    assert sorted(records) == [
        "ALPINE-v3.20-main-CVE-2024-0002",
        "ALPINE-v3.20-main-CVE-2024-0003",
        "ALPINE-v3.20-main-not-an",
    ]


def test_caps_symlinks_and_bad_paths(tmp_path: Path) -> None:
    records, problems = parse(tmp_path, MAIN, SourceLimits(max_file_bytes=100))
    assert records == {}
    assert "exceeds the 100-byte limit" in problems[0].reason
    many = tmp_path / "many"
    for version in ("v3.18", "v3.19", "v3.20"):
        write(many / version / "main.json", secdb([], version))
    _, problems = split(AlpineSecdbSource(SourceLimits(max_members=2)).records(many))
    assert problems[0].reason == "more than 2 files; the rest is ignored"
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "v3.20" / "main.json")
    _, problems = split(AlpineSecdbSource().records(link))
    assert problems == [ScanProblem("link.json", "symbolic link not followed")]
    empty = tmp_path / "empty"
    empty.mkdir()
    _, problems = split(AlpineSecdbSource().records(empty))
    assert problems[0].reason == "no .json secdb files found"
    with pytest.raises(UsageError, match="does not exist"):
        AlpineSecdbSource().records(tmp_path / "absent")
    assert AlpineSecdbSource().name == "alpine-secdb"


def test_sniffing_the_first_bytes() -> None:
    assert looks_like_secdb(json.dumps(MAIN).encode()[:40])
    assert looks_like_secdb(b'\n  {"packages": [')
    assert looks_like_secdb(b'{"distroversion": "v3.20"')
    assert not looks_like_secdb(b'{"id": "GHSA-1"}')
    assert not looks_like_secdb(b'{"openssl": {"CVE-2024-1": {}}}')
    assert not looks_like_secdb(b'["packages"]')
    assert not looks_like_secdb(b'{"packa')
    assert not looks_like_secdb(b"")


# -- end to end: the store and the matcher --------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AdvisoryStore]:
    db = Database(f"sqlite:///{tmp_path / 'adv.db'}")
    db.migrate()
    yield AdvisoryStore(db)
    db.dispose()


def apk(name: str, version: str, origin: str) -> Package:
    return Package(
        name=name,
        version=version,
        type="apk",
        purl=f"pkg:apk/alpine/{name}@{version}",
        found_by="test",
        metadata={"origin": origin},
    )


def test_matching_an_alpine_image_by_origin(tmp_path: Path, store: AdvisoryStore) -> None:
    path = write(tmp_path / "v3.20" / "main.json", MAIN)
    report = store.import_records("alpine-secdb", AlpineSecdbSource().records(path))
    assert (report.added, report.invalid) == (8, 0)
    image = Sbom(
        image=ImageInfo("alpine:3.20"),
        packages=(
            apk("libcrypto3", "3.1.10-r0", "openssl"),  # above the 3.1.9-r1 fix of CVE-2024-4741
            apk("libssl3", "3.3.1-r0", "openssl"),
            apk("busybox", "1.36.1-r29", "busybox"),  # exactly the fix
        ),
        distro=Distro("alpine", "3.20.3"),
    )
    found = {(f.package.name, f.vulnerability): f for f in match_sbom(image, store).findings}
    assert sorted(found) == [
        ("libcrypto3", "CVE-2024-5535"),
        ("libcrypto3", "CVE-2024-6119"),
        ("libssl3", "CVE-2024-5535"),
        ("libssl3", "CVE-2024-6119"),
    ]
    finding = found["libssl3", "CVE-2024-6119"]
    assert (finding.fixed, finding.fix_state) == (("3.3.2-r0",), "fixed")
    assert finding.records == ("ALPINE-v3.20-main-CVE-2024-6119",)
    assert finding.coordinates.ecosystem == "Alpine:v3.20"
    other_release = Sbom(
        image=ImageInfo("alpine:3.19"),
        packages=(apk("libssl3", "3.0.0-r0", "openssl"),),
        distro=Distro("alpine", "3.19.1"),
    )
    assert match_sbom(other_release, store).findings == []


def test_reimporting_the_same_file_adds_nothing(tmp_path: Path, store: AdvisoryStore) -> None:
    path = write(tmp_path / "v3.20" / "main.json", MAIN)
    first = store.import_records("a", AlpineSecdbSource().records(path))
    assert first.added == 8
    again = store.import_records("a", AlpineSecdbSource().records(path))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 8)
    os.utime(path, (MTIME + 86400, MTIME + 86400))  # the same content downloaded again
    fresh = store.import_records("a", AlpineSecdbSource().records(path))
    assert fresh.added == 0
