"""Alerts as data: their JSON shape and filtered queries over the append-only ``alerts`` table.

An alert records one change in an image's findings: ``new`` (a vulnerability now affects the
image), ``changed`` (its rating, score or fix changed) or ``resolved`` (it no longer does).
The same dictionary (:func:`alert_to_dict`) is listed by ``sealyard alerts``, served by
``GET /api/v1/alerts`` and delivered to webhooks, so every consumer sees one shape.

Ratings and their order come from :mod:`sealyard.vulndb.ratings`
(``UNKNOWN < NONE < LOW < MEDIUM < HIGH < CRITICAL``): an alert nobody rated yet passes only
a ``min_rating`` of ``UNKNOWN``, which is therefore "everything".

Producers must append alerts in commit order (see :func:`lock_for_append`): webhooks read
them by increasing id from a cursor, so an id that becomes visible after a larger one would
be skipped.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from sealyard.db.engine import Database
from sealyard.db.models import Alert
from sealyard.errors import UsageError
from sealyard.vulndb.ratings import RATINGS, Rating, rating_at_least, rating_rank

__all__ = [
    "KINDS",
    "MAX_LIMIT",
    "RATINGS",
    "AlertQuery",
    "alert_to_dict",
    "check_kinds",
    "check_rating",
    "iso_time",
    "list_alerts",
    "lock_for_append",
    "rating_at_least",
]

KINDS: tuple[str, ...] = ("new", "changed", "resolved")
MAX_LIMIT = 1000


def iso_time(ts: float) -> str:
    """``ts`` (Unix seconds) as ISO-8601 UTC with milliseconds: ``2024-05-01T12:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """The JSON form of ``alert`` shared by the CLI, the API and webhook payloads."""
    return {
        "id": alert.id,
        "ts": iso_time(alert.ts),
        "kind": alert.kind,
        "project": alert.project,
        "repository": alert.repository,
        "digest": alert.digest,
        "vulnerability": alert.vulnerability_id,
        "aliases": list(alert.aliases or []),
        "package": dict(alert.package or {}),
        "rating": alert.rating,
        "score": alert.score,
        "fixed": list(alert.fixed or []),
        "detail": dict(alert.detail or {}),
    }


def check_rating(value: str) -> Rating:
    """``value`` as one of :data:`RATINGS` (case-insensitive).

    Raises:
        UsageError: ``value`` is not a rating.
    """
    upper = value.strip().upper()
    for rating in RATINGS:
        if rating == upper:
            return rating
    raise UsageError(f"unknown rating {value!r}; choose one of {', '.join(RATINGS)}")


def check_kinds(values: Collection[str]) -> tuple[str, ...]:
    """``values`` as a non-empty, duplicate-free tuple of alert kinds in :data:`KINDS` order.

    Raises:
        UsageError: empty, or an unknown kind.
    """
    unknown = sorted(set(values) - set(KINDS))
    if unknown:
        raise UsageError(f"unknown alert kind(s) {', '.join(unknown)}; use {', '.join(KINDS)}")
    if not values:
        raise UsageError(f"at least one alert kind is needed ({', '.join(KINDS)})")
    return tuple(k for k in KINDS if k in values)


def _ratings_from(minimum: str) -> list[str]:
    return [r for r in RATINGS if rating_rank(r) >= rating_rank(minimum)]


@dataclass(frozen=True)
class AlertQuery:
    """Which alerts to list; invalid values are refused when the query is made.

    ``since_id`` ``None`` selects the newest ``limit`` alerts; a number selects the first
    ``limit`` alerts with a larger id (page forward by passing the last id seen). Either way
    the result is in increasing id order. ``projects``, when given, restricts the result to
    alerts of those projects (what the caller may read); ``project`` is the caller's filter.

    Raises:
        UsageError: negative ``since_id``, ``limit`` outside 1..:data:`MAX_LIMIT`, unknown
            ``kind`` or ``min_rating``.
    """

    since_id: int | None = None
    project: str | None = None
    repository: str | None = None
    kind: str | None = None
    min_rating: str | None = None
    limit: int = 100
    projects: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.since_id is not None and self.since_id < 0:
            raise UsageError("since_id must not be negative")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise UsageError(f"limit must be from 1 to {MAX_LIMIT}")
        if self.kind is not None:
            check_kinds([self.kind])
        if self.min_rating is not None:
            object.__setattr__(self, "min_rating", check_rating(self.min_rating))

    def statement(self) -> Select[Alert]:
        stmt = select(Alert)
        if self.projects is not None:
            stmt = stmt.where(Alert.project.in_(sorted(self.projects)))
        if self.project is not None:
            stmt = stmt.where(Alert.project == self.project)
        if self.repository is not None:
            stmt = stmt.where(Alert.repository == self.repository)
        if self.kind is not None:
            stmt = stmt.where(Alert.kind == self.kind)
        if self.min_rating is not None and self.min_rating != RATINGS[0]:
            stmt = stmt.where(func.upper(Alert.rating).in_(_ratings_from(self.min_rating)))
        if self.since_id is None:
            return stmt.order_by(Alert.id.desc()).limit(self.limit)
        return stmt.where(Alert.id > self.since_id).order_by(Alert.id).limit(self.limit)

    def run(self, session: Session) -> list[dict[str, Any]]:
        rows = [alert_to_dict(a) for a in session.scalars(self.statement())]
        return sorted(rows, key=lambda row: int(row["id"]))


def list_alerts(
    db: Database,
    *,
    since_id: int | None = None,
    project: str | None = None,
    repository: str | None = None,
    kind: str | None = None,
    min_rating: str | None = None,
    limit: int = 100,
    projects: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Alerts matching the filters, as :func:`alert_to_dict` dictionaries (see :class:`AlertQuery`).

    Raises:
        UsageError: a filter value is invalid.
    """
    query = AlertQuery(
        since_id=since_id,
        project=project,
        repository=repository,
        kind=kind,
        min_rating=min_rating,
        limit=limit,
        projects=None if projects is None else frozenset(projects),
    )
    with db.session() as s:
        return query.run(s)


def lock_for_append(session: Session) -> None:
    """Serialise alert writers until ``session`` commits; call it before adding alerts.

    Webhook cursors assume ids become visible in increasing order. On PostgreSQL two
    transactions may take ids 10 and 11 and commit 11 first; a delivery in between would
    move its cursor past 10 for good. The lock (which does not block readers) prevents that.
    SQLite already allows one writer at a time, so there it does nothing.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE"))
