"""Alerts: their JSON shape, rating order and filtered listing on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sealyard.db.engine import Database
from sealyard.errors import UsageError
from sealyard.monitor.alerts import (
    RATINGS,
    AlertQuery,
    check_kinds,
    check_rating,
    list_alerts,
    lock_for_append,
    rating_at_least,
)
from tests.fixtures.webhook_receiver import insert_alerts


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    database.migrate()
    yield database
    database.dispose()


def test_alert_dict_has_every_field_and_utc_iso_time(db: Database) -> None:
    (alert_id,) = insert_alerts(db, {"ts": 1714564800.25, "detail": {"previous": "MEDIUM"}})
    (row,) = list_alerts(db)
    assert row == {
        "id": alert_id,
        "ts": "2024-05-01T12:00:00.250Z",
        "kind": "new",
        "project": "team",
        "repository": "team/app",
        "digest": "sha256:" + "ab" * 32,
        "vulnerability": "CVE-2099-0001",
        "aliases": ["GHSA-xxxx-yyyy-zzzz"],
        "package": {
            "name": "requests",
            "version": "2.31.0",
            "purl": "pkg:pypi/requests@2.31.0",
        },
        "rating": "HIGH",
        "score": 7.5,
        "fixed": ["2.32.0"],
        "detail": {"previous": "MEDIUM"},
    }
    assert datetime.fromisoformat(row["ts"]).utcoffset() is not None


def test_rating_order_puts_unknown_lowest() -> None:
    assert RATINGS == ("UNKNOWN", "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL")
    assert rating_at_least("CRITICAL", "HIGH")
    assert rating_at_least("HIGH", "HIGH")
    assert not rating_at_least("MEDIUM", "HIGH")
    assert not rating_at_least("UNKNOWN", "LOW")
    assert not rating_at_least("UNKNOWN", "NONE")
    assert rating_at_least("UNKNOWN", "UNKNOWN")
    assert rating_at_least("NONE", "UNKNOWN")
    assert check_rating(" high ") == "HIGH"
    with pytest.raises(UsageError, match="unknown rating 'severe'"):
        check_rating("severe")


def test_kinds_are_checked() -> None:
    assert check_kinds(["resolved", "new", "new"]) == ("new", "resolved")
    with pytest.raises(UsageError, match="fixed"):
        check_kinds(["new", "fixed"])
    with pytest.raises(UsageError, match="at least one"):
        check_kinds([])


def test_filters_combine(db: Database) -> None:
    ids = insert_alerts(
        db,
        {"rating": "CRITICAL"},
        {"rating": "LOW", "kind": "resolved"},
        {"rating": "UNKNOWN", "score": None},
        {"project": "other", "rating": "CRITICAL"},
        {"rating": "MEDIUM", "kind": "changed", "repository": "team/api"},
        {"rating": "none"},  # case of stored ratings does not matter
    )

    def listed(**filters: object) -> list[int]:
        return [row["id"] for row in list_alerts(db, **filters)]  # type: ignore[arg-type]

    assert listed() == ids
    assert listed(project="team") == [ids[0], ids[1], ids[2], ids[4], ids[5]]
    assert listed(project="other") == [ids[3]]
    assert listed(repository="team/api") == [ids[4]]
    assert listed(kind="resolved") == [ids[1]]
    assert listed(min_rating="high") == [ids[0], ids[3]]
    assert listed(min_rating="LOW") == [ids[0], ids[1], ids[3], ids[4]]
    assert listed(min_rating="NONE") == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    assert listed(min_rating="UNKNOWN") == ids
    assert listed(project="team", min_rating="MEDIUM", kind="new") == [ids[0]]
    assert listed(projects={"other"}) == [ids[3]]
    assert listed(projects=set()) == []
    assert listed(projects={"team"}, project="other") == []


def test_since_id_pages_forward_and_default_shows_the_newest(db: Database) -> None:
    ids = insert_alerts(db, *[{"vulnerability_id": f"CVE-2099-{i}"} for i in range(7)])
    assert [r["id"] for r in list_alerts(db, limit=3)] == ids[-3:]
    first = list_alerts(db, since_id=0, limit=3)
    assert [r["id"] for r in first] == ids[:3]
    second = list_alerts(db, since_id=first[-1]["id"], limit=3)
    assert [r["id"] for r in second] == ids[3:6]
    assert [r["id"] for r in list_alerts(db, since_id=ids[-1])] == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"since_id": -1}, "since_id"),
        ({"limit": 0}, "limit must be from 1 to 1000"),
        ({"limit": 1001}, "limit must be from 1 to 1000"),
        ({"kind": "fixed"}, "unknown alert kind"),
        ({"min_rating": "bad"}, "unknown rating"),
    ],
)
def test_bad_filters_are_refused(filters: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        AlertQuery(**filters)  # type: ignore[arg-type]


def test_lock_for_append_is_harmless_on_sqlite(db: Database) -> None:
    with db.session() as s:
        lock_for_append(s)
    assert list_alerts(db) == []
