"""The audit log: who did what, when, from where, with what outcome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealyard.db.engine import Database
from sealyard.db.models import AuditEvent

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def add(
        session: Session,
        actor: str,
        action: str,
        resource: str,
        *,
        outcome: str = "success",
        remote_addr: str = "",
        **detail: Any,
    ) -> None:
        """Record an event inside the caller's transaction (it commits with the change)."""
        session.add(
            AuditEvent(
                actor=actor,
                action=action,
                resource=resource,
                outcome=outcome,
                remote_addr=remote_addr,
                detail=detail,
            )
        )

    def record(self, actor: str, action: str, resource: str, **kwargs: Any) -> None:
        """Record an event in its own transaction."""
        with self.db.session() as s:
            self.add(s, actor, action, resource, **kwargs)

    def query(
        self,
        *,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        resource_prefix: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if actor:
            stmt = stmt.where(AuditEvent.actor == actor)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        if resource_prefix:
            stmt = stmt.where(AuditEvent.resource.startswith(resource_prefix, autoescape=True))
        if since is not None:
            stmt = stmt.where(AuditEvent.ts >= since)
        with self.db.session() as s:
            return [
                {
                    "id": e.id,
                    "ts": e.ts,
                    "actor": e.actor,
                    "action": e.action,
                    "resource": e.resource,
                    "outcome": e.outcome,
                    "remote_addr": e.remote_addr,
                    "detail": e.detail,
                }
                for e in s.scalars(stmt)
            ]
