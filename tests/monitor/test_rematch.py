"""Stored scans as an inventory of coordinates; incremental re-matching into alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sealyard.db import Database
from sealyard.db.models import Alert, InventoryPackage, Job, PackageMatch
from sealyard.monitor.inventory import Inventory
from sealyard.monitor.rematch import rematch
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.sources import SourceRecord
from sealyard.vulndb.store import AdvisoryStore


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'm.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def store(db: Database) -> AdvisoryStore:
    return AdvisoryStore(db)


def advisory(
    ident: str,
    ecosystem: str,
    name: str,
    *events: dict[str, str],
    modified: str = "2024-05-01T00:00:00Z",
    aliases: tuple[str, ...] = (),
    withdrawn: str | None = None,
    **extra: Any,
) -> SourceRecord:
    raw: dict[str, Any] = {
        "id": ident,
        "modified": modified,
        "aliases": list(aliases),
        "summary": f"{ident} summary",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": list(events)}],
            }
        ],
        **extra,
    }
    if withdrawn:
        raw["withdrawn"] = withdrawn
    return SourceRecord(OsvRecord.from_dict(raw), raw, f"{ident}.json")


def pypi(name: str, version: str) -> Package:
    return Package(
        name=name,
        version=version,
        type="pypi",
        purl=f"pkg:pypi/{name}@{version}",
        found_by="test",
    )


def deb(name: str, version: str, source: str) -> Package:
    return Package(
        name=name,
        version=version,
        type="deb",
        purl=f"pkg:deb/debian/{name}@{version}",
        found_by="test",
        metadata={"source": source},
    )


def image(*packages: Package, distro: Distro | None = None) -> Sbom:
    return Sbom(image=ImageInfo("test"), packages=packages, distro=distro)


def scan(db: Database, store: AdvisoryStore, repository: str, sbom: Sbom) -> None:
    index = AdvisoryIndex(store)
    index.refresh()
    Inventory(db).record_scan(
        repository=repository, digest="sha256:" + "a" * 64, sbom=sbom, index=index
    )


def changed_ids(db: Database) -> list[str]:
    """Consume the advisories.changed jobs like the worker does; return the ids."""
    with db.session() as s:
        rows = list(
            s.scalars(select(Job).where(Job.kind == "advisories.changed", Job.status == "queued"))
        )
        ids = [i for j in rows for i in j.payload["ids"]]
        for j in rows:
            j.status = "done"
    return ids


def alerts(db: Database) -> list[tuple[str, str, str, tuple[str, ...]]]:
    with db.session() as s:
        return [
            (a.kind, a.repository, a.vulnerability_id, tuple(a.package["purls"]))
            for a in s.scalars(select(Alert).order_by(Alert.id))
        ]


def test_scan_matches_new_coordinates_and_findings_join(db: Database, store: AdvisoryStore) -> None:
    store.import_records(
        "t",
        [
            advisory(
                "GHSA-1",
                "PyPI",
                "requests",
                {"introduced": "0"},
                {"fixed": "2.32.0"},
                aliases=("CVE-2024-1",),
            )
        ],
    )
    changed_ids(db)
    scan(db, store, "p/a", image(pypi("requests", "2.31.0"), pypi("idna", "3.7")))
    scan(db, store, "p/b", image(pypi("requests", "2.31.0")))  # same coordinate, not re-evaluated
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InventoryPackage)) == 2
        assert s.scalar(select(func.count()).select_from(PackageMatch)) == 1
    found = Inventory(db).findings("p/a", "sha256:" + "a" * 64)
    assert [
        (f["vulnerability"], f["package"]["purl"], f["fixedVersions"], f["records"]) for f in found
    ] == [("CVE-2024-1", "pkg:pypi/requests@2.31.0", ["2.32.0"], ["GHSA-1"])]
    assert Inventory(db).findings("p/a", "sha256:" + "b" * 64) == []


def test_new_advisory_alerts_every_image_holding_the_package(
    db: Database, store: AdvisoryStore
) -> None:
    scan(db, store, "p/a", image(pypi("urllib3", "1.26.0"), pypi("requests", "2.31.0")))
    scan(db, store, "p/b", image(pypi("urllib3", "1.26.0")))
    scan(db, store, "p/c", image(pypi("urllib3", "2.2.2")))  # not affected
    store.import_records(
        "t", [advisory("GHSA-u", "PyPI", "urllib3", {"introduced": "0"}, {"fixed": "1.26.19"})]
    )
    report = rematch(db, changed_ids(db))
    assert (report.new, report.changed, report.resolved, report.alerts) == (1, 0, 0, 2)
    assert alerts(db) == [
        ("new", "p/a", "GHSA-u", ("pkg:pypi/urllib3@1.26.0",)),
        ("new", "p/b", "GHSA-u", ("pkg:pypi/urllib3@1.26.0",)),
    ]
    assert [f["vulnerability"] for f in Inventory(db).findings("p/b", "sha256:" + "a" * 64)] == [
        "GHSA-u"
    ]
    # Re-running the same change is idempotent: nothing new to say.
    assert rematch(db, ["GHSA-u"]).alerts == 0


def test_update_then_withdrawal_alert_changed_then_resolved(
    db: Database, store: AdvisoryStore
) -> None:
    scan(db, store, "p/a", image(pypi("jinja2", "3.1.3")))
    store.import_records("t", [advisory("GHSA-j", "PyPI", "jinja2", {"introduced": "0"})])
    rematch(db, changed_ids(db))
    store.import_records(
        "t",
        [
            advisory(
                "GHSA-j",
                "PyPI",
                "jinja2",
                {"introduced": "0"},
                {"fixed": "3.1.4"},
                modified="2024-06-01T00:00:00Z",
                database_specific={"severity": "HIGH"},
            )
        ],
    )
    rematch(db, changed_ids(db))
    with db.session() as s:
        changed = s.scalars(select(Alert).where(Alert.kind == "changed")).one()
        assert changed.fixed == ["3.1.4"]
        assert changed.rating == "HIGH"
        assert changed.detail["previous"] == {
            "fixed": [],
            "rating": "UNKNOWN",
            "score": None,
            "fix_state": "unfixed",
        }
    store.import_records(
        "t",
        [
            advisory(
                "GHSA-j",
                "PyPI",
                "jinja2",
                {"introduced": "0"},
                modified="2024-07-01T00:00:00Z",
                withdrawn="2024-07-01T00:00:00Z",
            )
        ],
    )
    report = rematch(db, changed_ids(db))
    assert report.resolved == 1
    assert [a[0] for a in alerts(db)] == ["new", "changed", "resolved"]
    assert Inventory(db).findings("p/a", "sha256:" + "a" * 64) == []


def test_fix_moving_past_the_installed_version_resolves(db: Database, store: AdvisoryStore) -> None:
    scan(db, store, "p/a", image(pypi("flask", "2.3.0")))
    store.import_records(
        "t", [advisory("PYSEC-f", "PyPI", "flask", {"introduced": "0"}, {"fixed": "3.0"})]
    )
    rematch(db, changed_ids(db))
    # The advisory is corrected: only versions before 2.2.5 were ever affected.
    store.import_records(
        "t",
        [
            advisory(
                "PYSEC-f",
                "PyPI",
                "flask",
                {"introduced": "0"},
                {"fixed": "2.2.5"},
                modified="2024-08-01T00:00:00Z",
            )
        ],
    )
    rematch(db, changed_ids(db))
    assert [a[0] for a in alerts(db)] == ["new", "resolved"]


def test_a_duplicate_record_of_a_known_vulnerability_raises_no_alert(
    db: Database, store: AdvisoryStore
) -> None:
    bookworm = Distro("debian", "12")
    scan(db, store, "p/a", image(deb("libssl3", "3.0.8-1", "openssl"), distro=bookworm))
    store.import_records(
        "dsa",
        [
            advisory(
                "DSA-5000-1",
                "Debian:12",
                "openssl",
                {"introduced": "0"},
                {"fixed": "3.0.9-1"},
                aliases=("CVE-2023-7",),
            )
        ],
    )
    rematch(db, changed_ids(db))
    store.import_records(
        "tracker",
        [
            advisory(
                "DEBIAN-CVE-2023-7",
                "Debian:12",
                "openssl",
                {"introduced": "0"},
                {"fixed": "3.0.9-1"},
                aliases=("CVE-2023-7",),
            )
        ],
    )
    report = rematch(db, changed_ids(db))
    assert report.new == 0
    assert report.alerts == 0
    assert alerts(db) == [("new", "p/a", "CVE-2023-7", ("pkg:deb/debian/libssl3@3.0.8-1",))]
    # Both records are kept; the image still shows one vulnerability.
    found = Inventory(db).findings("p/a", "sha256:" + "a" * 64)
    assert [(f["vulnerability"], f["records"]) for f in found] == [
        ("CVE-2023-7", ["DEBIAN-CVE-2023-7", "DSA-5000-1"])
    ]


def test_bare_distro_advisory_reaches_release_coordinates(
    db: Database, store: AdvisoryStore
) -> None:
    scan(
        db,
        store,
        "p/a",
        image(deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"), distro=Distro("debian", "12")),
    )
    store.import_records(
        "t", [advisory("DEB-Z", "Debian", "zlib", {"introduced": "0"}, {"fixed": "1:1.3-1"})]
    )
    report = rematch(db, changed_ids(db))
    assert report.alerts == 1


def test_failed_scans_hold_no_packages_and_get_no_alerts(
    db: Database, store: AdvisoryStore
) -> None:
    Inventory(db).record_failure(
        repository="p/x", digest="sha256:" + "c" * 64, error="layer digest mismatch"
    )
    scan_row = Inventory(db).scan("p/x", "sha256:" + "c" * 64)
    assert scan_row is not None
    assert scan_row["status"] == "failed"
    assert "mismatch" in scan_row["error"]
    store.import_records("t", [advisory("GHSA-q", "PyPI", "anything", {"introduced": "0"})])
    assert rematch(db, changed_ids(db)).alerts == 0
