"""The advisory store: incremental import, withdrawal, alias groups, candidate lookup."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sealyard.db import Database
from sealyard.db.models import AffectedPackage, Vulnerability
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.sources import OsvSource, ScanProblem, SourceRecord
from sealyard.vulndb.store import AdvisoryStore, affected_for, normalise_name

ADVISORIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "advisories"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'v.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> AdvisoryStore:
    return AdvisoryStore(db, batch_size=2)  # small batches exercise the batching


def doc(
    ident: str,
    *,
    modified: str = "2024-01-01T00:00:00Z",
    packages: tuple[tuple[str, str], ...] = (("PyPI", "demo"),),
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ident,
        "modified": modified,
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
            for eco, name in packages
        ],
    }
    out.update(extra)
    return out


def item(raw: dict[str, Any]) -> SourceRecord:
    return SourceRecord(record=OsvRecord.from_dict(raw), raw=raw, path=f"{raw['id']}.json")


def ids(records: list[OsvRecord]) -> list[str]:
    return [r.id for r in records]


def test_import_then_reimport_is_incremental(store: AdvisoryStore) -> None:
    docs = [doc("GHSA-a"), doc("GHSA-b"), doc("GHSA-c")]
    first = store.import_records("test", [item(d) for d in docs])
    assert first.as_dict() == {
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "invalid": 0,
    }
    again = store.import_records("test", [item(d) for d in docs])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    newer = doc("GHSA-b", modified="2024-02-01T00:00:00Z", packages=(("PyPI", "other"),))
    older = doc("GHSA-c", modified="2023-01-01T00:00:00Z", packages=(("PyPI", "other"),))
    third = store.import_records("test", [item(docs[0]), item(newer), item(older)])
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    assert ids(store.candidates("PyPI", "other")) == ["GHSA-b"]  # the older copy was ignored
    assert ids(store.candidates("PyPI", "demo")) == ["GHSA-a", "GHSA-c"]


def test_duplicate_ids_in_one_import_keep_the_newest(store: AdvisoryStore) -> None:
    old = doc("GHSA-d", packages=(("PyPI", "old"),))
    new = doc("GHSA-d", modified="2024-05-01T00:00:00Z", packages=(("PyPI", "new"),))
    report = AdvisoryStore(store.db).import_records("test", [item(old), item(new)])
    assert (report.added, report.unchanged) == (1, 1)
    assert ids(store.candidates("PyPI", "new")) == ["GHSA-d"]
    assert store.candidates("PyPI", "old") == []


def test_withdrawn_records_are_kept_but_never_match(store: AdvisoryStore, db: Database) -> None:
    store.import_records("test", [item(doc("GHSA-w", aliases=["CVE-2099-1"]))])
    assert ids(store.candidates("PyPI", "demo")) == ["GHSA-w"]
    retired = doc("GHSA-w", modified="2024-03-01T00:00:00Z", withdrawn="2024-03-01T00:00:00Z")
    report = store.import_records("test", [item(retired)])
    assert (report.withdrawn, report.updated, report.added) == (1, 0, 0)
    assert store.candidates("PyPI", "demo") == []
    [kept] = store.lookup("CVE-2099-1")
    assert kept.withdrawn is not None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AffectedPackage)) == 0
        assert s.scalar(select(func.count()).select_from(Vulnerability)) == 1
    # A later, un-withdrawn version brings it back.
    revived = doc("GHSA-w", modified="2024-04-01T00:00:00Z")
    assert store.import_records("test", [item(revived)]).updated == 1
    assert ids(store.candidates("PyPI", "demo")) == ["GHSA-w"]


def test_aliases_merge_records_into_one_group(store: AdvisoryStore) -> None:
    store.import_records(
        "test",
        [
            item(doc("PYSEC-2099-1", aliases=["CVE-2099-7"])),
            item(doc("GHSA-zzzz", aliases=["GHSA-yyyy"])),
            item(doc("OSV-2099-9")),
        ],
    )
    assert store.group("CVE-2099-7") == ["CVE-2099-7", "PYSEC-2099-1"]
    assert store.group("GHSA-yyyy") == ["GHSA-yyyy", "GHSA-zzzz"]
    # A record sharing an alias with each group links both into one.
    store.import_records("test", [item(doc("GHSA-bridge", aliases=["CVE-2099-7", "GHSA-yyyy"]))])
    group = ["CVE-2099-7", "GHSA-bridge", "GHSA-yyyy", "GHSA-zzzz", "PYSEC-2099-1"]
    for identifier in group:
        assert store.group(identifier) == group
        assert ids(store.lookup(identifier)) == ["GHSA-bridge", "GHSA-zzzz", "PYSEC-2099-1"]
    assert ids(store.lookup("OSV-2099-9")) == ["OSV-2099-9"]
    assert store.lookup("CVE-0000-0") == []
    assert store.group("CVE-0000-0") == []


def test_candidates_normalise_pypi_names(store: AdvisoryStore) -> None:
    store.import_records(
        "test",
        [
            item(doc("PYSEC-1", packages=(("PyPI", "Zope.Interface"),))),
            item(doc("RUSTSEC-1", packages=(("crates.io", "Foo_Bar"),))),
        ],
    )
    for spelling in ("zope-interface", "ZOPE_interface", "zope..interface", "Zope.Interface"):
        assert ids(store.candidates("PyPI", spelling)) == ["PYSEC-1"]
    assert ids(store.candidates("crates.io", "Foo_Bar")) == ["RUSTSEC-1"]
    assert store.candidates("crates.io", "foo-bar") == []  # only PyPI names are normalised
    assert store.candidates("npm", "zope-interface") == []
    assert normalise_name("PyPI", "A_b.C") == "a-b-c"


def test_candidates_with_distro_release_include_the_bare_distro(store: AdvisoryStore) -> None:
    store.import_records(
        "test",
        [
            item(doc("DSA-1", packages=(("Debian", "openssl"),))),
            item(doc("DEBIAN-12", packages=(("Debian:12", "openssl"),))),
            item(doc("DEBIAN-11", packages=(("Debian:11", "openssl"),))),
        ],
    )
    assert ids(store.candidates("Debian:12", "openssl")) == ["DEBIAN-12", "DSA-1"]
    assert ids(store.candidates("Debian:11", "openssl")) == ["DEBIAN-11", "DSA-1"]
    assert ids(store.candidates("Debian", "openssl")) == ["DSA-1"]
    [record] = store.candidates("Debian:12", "openssl")[:1]
    assert [a.ecosystem for a in affected_for(record, "Debian:12", "openssl")] == ["Debian:12"]


def test_candidates_return_the_stored_document(store: AdvisoryStore) -> None:
    raw = doc(
        "GHSA-full",
        packages=(("PyPI", "a"), ("PyPI", "b")),
        summary="both",
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}],
        database_specific={"k": [1, 2]},
    )
    store.import_records("test", [item(raw)])
    [record] = store.candidates("PyPI", "b")
    assert record == OsvRecord.from_dict(raw)
    assert [a.name for a in affected_for(record, "PyPI", "B")] == ["b"]


def test_problems_count_as_invalid_and_status_per_source(store: AdvisoryStore) -> None:
    before = time.time()
    report = store.import_records(
        "one",
        [
            item(doc("A-1", modified="2024-01-01T00:00:00Z")),
            ScanProblem("bad.json", "not valid JSON"),
            item(doc("X" * 200)),
            item(doc("A-2", modified="2024-06-01T00:00:00Z")),
        ],
    )
    assert (report.added, report.invalid) == (2, 2)
    assert [p.path for p in report.problems] == ["bad.json", f"{'X' * 200}.json"]
    store.import_records("two", [item(doc("B-1", modified="2023-01-01T00:00:00Z"))])
    status = store.status()
    assert [s["name"] for s in status] == ["one", "two"]
    one, two = status
    assert one["records"] == 2
    assert one["newest_modified"] == pytest.approx(1717200000.0)
    assert one["last_import"] >= before
    assert two["records"] == 1


def test_import_from_a_source_reads_json_and_yaml(tmp_path: Path, store: AdvisoryStore) -> None:
    (tmp_path / "a.json").write_text(json.dumps(doc("RUSTSEC-2099-1")))
    (tmp_path / "b.yaml").write_text(
        "id: PYSEC-2099-5\nmodified: 2024-01-01T00:00:00Z\naffected:\n"
        "- package: {ecosystem: PyPI, name: Demo_Pkg}\n"
    )
    (tmp_path / "c.json").write_text("{")
    report = store.import_records("dir", OsvSource().records(tmp_path))
    assert (report.added, report.invalid) == (2, 1)
    assert ids(store.candidates("PyPI", "demo-pkg")) == ["PYSEC-2099-5"]


@pytest.mark.skipif(
    not (ADVISORIES / "pypa").is_dir() or not (ADVISORIES / "rustsec").is_dir(),
    reason=f"shared advisory snapshots not found at {ADVISORIES} (a fresh clone has none)",
)
def test_real_pypa_and_rustsec_snapshots(db: Database) -> None:
    store = AdvisoryStore(db)
    source = OsvSource()
    first = {
        name: store.import_records(name, source.records(ADVISORIES / name))
        for name in ("pypa", "rustsec")
    }
    for report in first.values():
        assert report.invalid == 0, report.problems[:5]
        assert report.added + report.withdrawn > 1000
    status = {s["name"]: s for s in store.status()}
    assert status["pypa"]["records"] == first["pypa"].added + first["pypa"].withdrawn
    again = {
        name: store.import_records(name, source.records(ADVISORIES / name))
        for name in ("pypa", "rustsec")
    }
    for name, report in again.items():
        total = first[name].added + first[name].withdrawn
        assert report.as_dict() == {
            "added": 0,
            "updated": 0,
            "unchanged": total,
            "withdrawn": 0,
            "invalid": 0,
        }
    assert "PYSEC-2020-342" in ids(store.candidates("PyPI", "Apache_SkyWalking"))
    assert "PYSEC-2020-342" in ids(store.lookup("CVE-2020-13921"))
    assert store.candidates("crates.io", "tokio")


def test_newer_stamp_with_identical_content_is_unchanged(store: AdvisoryStore) -> None:
    store.import_records("t", [item(doc("A-1")), item(doc("A-2"))])
    again = store.import_records(
        "t",
        [
            item(doc("A-1", modified="2025-01-01T00:00:00Z")),  # same content, new stamp
            item(doc("A-2", modified="2025-01-01T00:00:00Z", summary="now explained")),
        ],
    )
    assert (again.unchanged, again.updated) == (1, 1)


def test_every_write_enqueues_the_changed_ids_for_the_monitor(
    store: AdvisoryStore, db: Database
) -> None:
    from sealyard.db.models import Job

    store.import_records("t", [item(doc("A-1")), item(doc("A-2")), item(doc("A-3"))])
    store.import_records(
        "t", [item(doc("A-1")), item(doc("A-2", modified="2025-01-01T00:00:00Z", summary="x"))]
    )
    with db.session() as s:
        payloads = [
            j.payload["ids"]
            for j in s.scalars(select(Job).where(Job.kind == "advisories.changed").order_by(Job.id))
        ]
    # batch_size=2: the first import wrote two batches; the re-import wrote only A-2.
    assert payloads == [["A-1", "A-2"], ["A-3"], ["A-2"]]
