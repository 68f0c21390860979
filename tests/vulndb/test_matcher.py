"""Matching SBOM packages against stored advisories, each ecosystem by its own rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sealyard.db import Database
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom
from sealyard.vulndb.matcher import match_sbom
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.sources import OsvSource, SourceRecord
from sealyard.vulndb.store import AdvisoryStore

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "advisories"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AdvisoryStore]:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    yield AdvisoryStore(db)
    db.dispose()


def advisory(
    ident: str, ecosystem: str, name: str, *events: dict[str, str], aliases: tuple[str, ...] = ()
) -> SourceRecord:
    raw: dict[str, Any] = {
        "id": ident,
        "modified": "2024-05-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": f"{ident} summary",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
            }
        ],
    }
    return SourceRecord(OsvRecord.from_dict(raw), raw, Path(f"{ident}.json"))


def pkg(kind: str, name: str, version: str, **meta: Any) -> Package:
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=f"pkg:{kind}/{name}@{version}",
        found_by="test",
        metadata=meta,
    )


def sbom(*packages: Package, distro: Distro | None = None) -> Sbom:
    return Sbom(image=ImageInfo("test"), packages=packages, distro=distro)


def test_pypi_match_uses_pep440_and_normalised_names(store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            advisory(
                "GHSA-1",
                "PyPI",
                "PyYAML",
                {"introduced": "0"},
                {"fixed": "5.4"},
                aliases=("CVE-2020-14343",),
            )
        ],
    )
    result = match_sbom(sbom(pkg("pypi", "pyyaml", "5.4rc1"), pkg("pypi", "PyYAML", "5.4")), store)
    assert [(f.package.version, f.records, f.fixed) for f in result.findings] == [
        ("5.4rc1", ("GHSA-1",), ("5.4",))  # 5.4rc1 < 5.4 under PEP 440
    ]
    # The CVE is the identifier people know; the record id stays an alias.
    assert result.findings[0].vulnerability == "CVE-2020-14343"
    assert result.findings[0].aliases == ("GHSA-1",)


def test_findings_carry_the_highest_cvss_score(store: AdvisoryStore) -> None:
    item = advisory("GHSA-9", "npm", "left-pad", {"introduced": "0"}, {"fixed": "2.0.0"})
    raw = dict(item.raw)
    raw["severity"] = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"},
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    ]
    store.import_records("t", [SourceRecord(OsvRecord.from_dict(raw), raw, item.path)])
    [finding] = match_sbom(sbom(pkg("npm", "left-pad", "1.0.0")), store).findings
    assert finding.score == (9.8, "CRITICAL")
    assert finding.to_dict()["rating"] == "CRITICAL"


def test_debian_packages_match_by_source_package_and_release(store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            advisory(
                "DSA-1", "Debian:12", "glibc", {"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}
            ),
            advisory("DSA-2", "Debian:11", "glibc", {"introduced": "0"}, {"fixed": "9.9"}),
        ],
    )
    bookworm = Distro("debian", "12")
    libc = pkg("deb", "libc6", "2.36-9+deb12u3", source="glibc", source_version="2.36-9+deb12u3")
    found = match_sbom(sbom(libc, distro=bookworm), store).findings
    assert [f.vulnerability for f in found] == ["DSA-1"]  # the Debian 11 advisory is not ours
    assert found[0].coordinates.name == "glibc"
    fixed = pkg("deb", "libc6", "2.36-9+deb12u4", source="glibc", source_version="2.36-9+deb12u4")
    assert match_sbom(sbom(fixed, distro=bookworm), store).findings == []


def test_dpkg_ordering_decides_not_string_ordering(store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            advisory(
                "DSA-3", "Debian:12", "openssl", {"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}
            )
        ],
    )
    bookworm = Distro("debian", "12")
    before = pkg("deb", "libssl3", "3.0.11-1~deb12u1", source="openssl")
    after = pkg("deb", "libssl3", "3.0.11-1", source="openssl")  # ~ sorts before the end
    assert len(match_sbom(sbom(before, distro=bookworm), store).findings) == 1
    assert match_sbom(sbom(after, distro=bookworm), store).findings == []


def test_go_stdlib_and_npm_semver(store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            advisory("GO-1", "Go", "stdlib", {"introduced": "0"}, {"fixed": "1.22.5"}),
            advisory("GHSA-2", "npm", "lodash", {"introduced": "0"}, {"fixed": "4.17.21"}),
        ],
    )
    result = match_sbom(
        sbom(pkg("golang", "stdlib", "go1.22.4"), pkg("npm", "lodash", "4.17.21")), store
    )
    assert [f.vulnerability for f in result.findings] == ["GO-1"]


def test_unmappable_and_unparseable_packages_are_reported_as_skipped(
    store: AdvisoryStore,
) -> None:
    result = match_sbom(
        sbom(pkg("gem", "rails", "7.0.0"), pkg("pypi", "x", "not a version")), store
    )
    reasons = dict(result.skipped)
    assert "no advisory mapping" in reasons["pkg:gem/rails@7.0.0"]
    assert "version not understood" in reasons["pkg:pypi/x@not a version"]


@pytest.mark.skipif(
    not (SHARED / "pypa").is_dir(),
    reason="../shared/data/advisories is absent (fresh clone without shared/)",
)
def test_real_pypa_data_finds_known_advisories_for_an_old_django(store: AdvisoryStore) -> None:
    django = SHARED / "pypa" / "vulns" / "django"
    if not django.is_dir():
        pytest.skip("no django advisories in the shared PyPA snapshot")
    report = store.import_records("pypa", OsvSource().records(django))
    assert report.added > 50
    old = match_sbom(sbom(pkg("pypi", "Django", "2.2.0")), store).findings
    new = match_sbom(sbom(pkg("pypi", "Django", "99.0")), store).findings
    assert len(old) > 20
    assert new == []
    assert all(f.fixed for f in old if f.vulnerability.startswith("PYSEC"))


def test_index_gives_the_store_answers_and_follows_imports(store: AdvisoryStore) -> None:
    from sealyard.vulndb.index import AdvisoryIndex

    store.import_records(
        "t", [advisory("GHSA-A", "PyPI", "Flask", {"introduced": "0"}, {"fixed": "2.0"})]
    )
    index = AdvisoryIndex(store)
    assert index.refresh() is True
    assert index.refresh() is False  # nothing changed
    the_sbom = sbom(pkg("pypi", "flask", "1.0"))
    assert [f.vulnerability for f in match_sbom(the_sbom, index).findings] == ["GHSA-A"]
    store.import_records(
        "t", [advisory("GHSA-B", "PyPI", "flask", {"introduced": "0"}, {"fixed": "3.0"})]
    )
    assert index.refresh() is True  # a new import is seen
    assert (
        [f.vulnerability for f in match_sbom(the_sbom, index).findings]
        == [f.vulnerability for f in match_sbom(the_sbom, store).findings]
        == ["GHSA-A", "GHSA-B"]
    )


def _raw(ident: str, affected: list[dict[str, Any]], **extra: Any) -> SourceRecord:
    raw: dict[str, Any] = {"id": ident, "modified": "2024-05-01T00:00:00Z", **extra}
    raw["affected"] = affected
    return SourceRecord(OsvRecord.from_dict(raw), raw, Path(f"{ident}.json"))


def _deb(name: str, *events: dict[str, str], **specific: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "package": {"ecosystem": "Debian:12", "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
    }
    entry.update(specific)
    return entry


def test_alias_records_of_one_package_merge_into_one_finding(store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            _raw(
                "DSA-5000-1",
                [_deb("openssl", {"introduced": "0"}, {"fixed": "3.0.9-1"})],
                aliases=["CVE-2023-1"],
            ),
            _raw(
                "DEBIAN-CVE-2023-1",
                [_deb("openssl", {"introduced": "0"}, {"fixed": "3.0.8-2"})],
                aliases=["CVE-2023-1"],
            ),
            _raw(
                "DEBIAN-CVE-2023-2", [_deb("openssl", {"introduced": "0"})], aliases=["CVE-2023-2"]
            ),
        ],
    )
    deb = pkg("deb", "libssl3", "3.0.8-1", source="openssl")
    result = match_sbom(sbom(deb, distro=Distro("debian", "12")), store)
    merged = {f.vulnerability: f for f in result.findings}
    assert sorted(merged) == ["CVE-2023-1", "CVE-2023-2"]
    one = merged["CVE-2023-1"]
    assert one.records == ("DEBIAN-CVE-2023-1", "DSA-5000-1")
    assert one.fixed == ("3.0.8-2", "3.0.9-1")
    assert one.fix_state == "fixed"
    assert set(one.aliases) == {"DEBIAN-CVE-2023-1", "DSA-5000-1"}
    assert merged["CVE-2023-2"].fix_state == "unfixed"
    assert merged["CVE-2023-2"].fixed == ()


@pytest.mark.parametrize(
    ("specific", "state"),
    [
        ({"ecosystem_specific": {"fix_state": "will_not_fix"}}, "will_not_fix"),
        ({"ecosystem_specific": {"fix_state": "end_of_life"}}, "end_of_life"),
        ({"database_specific": {"status": "end-of-life"}}, "end_of_life"),
        ({"database_specific": {"status": "unfixed"}}, "unfixed"),
        ({"ecosystem_specific": {"fix_state": "bogus"}}, "unfixed"),
    ],
)
def test_unfixed_states_are_kept(
    store: AdvisoryStore, specific: dict[str, Any], state: str
) -> None:
    store.import_records(
        "t", [_raw("DEBIAN-CVE-2024-9", [_deb("zlib", {"introduced": "0"}, **specific)])]
    )
    result = match_sbom(
        sbom(
            pkg("deb", "zlib1g", "1:1.2.13-1", source="zlib", source_version="1:1.2.13-1"),
            distro=Distro("debian", "12"),
        ),
        store,
    )
    assert [(f.vulnerability, f.fix_state) for f in result.findings] == [
        ("DEBIAN-CVE-2024-9", state)
    ]


@pytest.mark.parametrize(
    ("extra", "specific", "rating", "score"),
    [
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
                ]
            },
            {},
            "CRITICAL",
            9.8,
        ),
        ({"database_specific": {"severity": "MODERATE"}}, {}, "MEDIUM", None),
        ({}, {"ecosystem_specific": {"urgency": "low**"}}, "LOW", None),
        ({}, {"ecosystem_specific": {"urgency": "not yet assigned"}}, "UNKNOWN", None),
        ({}, {}, "UNKNOWN", None),
        # A CVSS vector wins over a label.
        (
            {
                "severity": [
                    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}
                ],
                "database_specific": {"severity": "CRITICAL"},
            },
            {},
            "MEDIUM",
            5.3,
        ),
    ],
)
def test_rating_from_cvss_then_database_labels(
    store: AdvisoryStore,
    extra: dict[str, Any],
    specific: dict[str, Any],
    rating: str,
    score: float | None,
) -> None:
    store.import_records(
        "t", [_raw("X-1", [_deb("zlib", {"introduced": "0"}, **specific)], **extra)]
    )
    result = match_sbom(
        sbom(pkg("deb", "zlib1g", "1.2", source="zlib"), distro=Distro("debian", "12")), store
    )
    assert [(f.rating, f.cvss_score) for f in result.findings] == [(rating, score)]
