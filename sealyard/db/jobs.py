"""The job queue: a table in the metadata database, so no extra broker is needed.

Producers call :func:`enqueue` inside their own transaction, so an event exists exactly when
the change that caused it was committed. Workers :func:`claim` jobs with a lease; on
PostgreSQL concurrent workers skip each other's rows (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sealyard.db.models import Job

__all__ = ["claim", "complete", "enqueue", "fail"]


def enqueue(session: Session, kind: str, payload: dict[str, Any], delay: float = 0.0) -> Job:
    job = Job(kind=kind, payload=payload, run_after=time.time() + delay)
    session.add(job)
    return job


def claim(
    session: Session, worker: str, kinds: list[str] | None = None, lease: float = 300.0
) -> Job | None:
    """Take the oldest runnable job (queued, or running with an expired lease)."""
    now = time.time()
    query = (
        select(Job)
        .where(
            or_(
                (Job.status == "queued") & (Job.run_after <= now),
                (Job.status == "running") & (Job.locked_until < now),
            )
        )
        .order_by(Job.id)
        .limit(1)
    )
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job = session.scalars(query).first()
    if job is None:
        return None
    job.status = "running"
    job.attempts += 1
    job.locked_by = worker
    job.locked_until = now + lease
    return job


def complete(session: Session, job_id: int) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        job.status = "done"
        job.locked_by = None
        job.locked_until = None


def fail(session: Session, job_id: int, error: str, max_attempts: int = 8) -> None:
    """Record a failure; retry later with exponential backoff until ``max_attempts``."""
    job = session.get(Job, job_id)
    if job is None:
        return
    job.last_error = error[:4000]
    job.locked_by = None
    job.locked_until = None
    if job.attempts >= max_attempts:
        job.status = "failed"
    else:
        job.status = "queued"
        job.run_after = time.time() + min(3600.0, 2.0**job.attempts)
