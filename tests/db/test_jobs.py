"""The job queue: enqueue, claim with a lease, complete, fail with backoff."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from sealyard.db import Database, jobs
from sealyard.db.models import Job


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 't.db'}")
    database.migrate()
    yield database
    database.dispose()


def _enqueue(db: Database, kind: str = "scan", delay: float = 0.0, **payload: object) -> int:
    with db.session() as s:
        job = jobs.enqueue(s, kind, dict(payload), delay=delay)
        s.flush()
        return job.id


def _claim(db: Database, worker: str = "w1", **kw: object) -> Job | None:
    with db.session() as s:
        return jobs.claim(s, worker, **kw)  # type: ignore[arg-type]


def _get(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _make_runnable(db: Database, job_id: int) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(run_after=time.time() - 1))


def test_enqueue_claim_complete(db: Database) -> None:
    job_id = _enqueue(db, "image.pushed", repository="library/alpine")
    queued = _get(db, job_id)
    assert (queued.status, queued.attempts, queued.locked_by) == ("queued", 0, None)
    before = time.time()
    job = _claim(db, "worker-1", lease=60)
    assert job is not None
    assert job.id == job_id
    assert job.kind == "image.pushed"
    assert job.payload == {"repository": "library/alpine"}
    stored = _get(db, job_id)
    assert (stored.status, stored.attempts, stored.locked_by) == ("running", 1, "worker-1")
    assert stored.locked_until is not None
    assert before + 60 <= stored.locked_until <= time.time() + 60
    with db.session() as s:
        jobs.complete(s, job_id)
    done = _get(db, job_id)
    assert (done.status, done.locked_by, done.locked_until) == ("done", None, None)
    assert _claim(db) is None


def test_enqueue_is_part_of_the_callers_transaction(db: Database) -> None:
    def failing_change() -> None:
        with db.session() as s:
            jobs.enqueue(s, "scan", {})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert _claim(db) is None


def test_running_job_with_a_live_lease_is_not_claimed_twice(db: Database) -> None:
    _enqueue(db)
    assert _claim(db, "w1") is not None
    assert _claim(db, "w2") is None
    assert _claim(db, "w1") is None


def test_expired_lease_is_reclaimable(db: Database) -> None:
    job_id = _enqueue(db)
    first = _claim(db, "w1", lease=-1.0)  # the worker died; its lease is already over
    assert first is not None
    second = _claim(db, "w2", lease=60)
    assert second is not None
    assert second.id == job_id
    stored = _get(db, job_id)
    assert (stored.locked_by, stored.attempts, stored.status) == ("w2", 2, "running")
    assert _claim(db, "w3") is None


def test_claim_takes_the_oldest_runnable_job_of_the_wanted_kinds(db: Database) -> None:
    scan1 = _enqueue(db, "scan")
    sign = _enqueue(db, "sign")
    scan2 = _enqueue(db, "scan")
    later = _enqueue(db, "scan", delay=3600)
    claimed = [_claim(db, kinds=["scan"]) for _ in range(3)]
    assert [j.id if j else None for j in claimed] == [scan1, scan2, None]
    job = _claim(db, kinds=["sign", "other"])
    assert job is not None
    assert job.id == sign
    assert _claim(db) is None
    _make_runnable(db, later)
    job = _claim(db)
    assert job is not None
    assert job.id == later


def test_fail_retries_with_exponential_backoff(db: Database) -> None:
    job_id = _enqueue(db)
    delays = []
    for attempt in range(1, 4):
        job = _claim(db, lease=60)
        assert job is not None
        assert job.attempts == attempt
        now = time.time()
        with db.session() as s:
            jobs.fail(s, job_id, f"boom {attempt}", max_attempts=5)
        stored = _get(db, job_id)
        assert stored.status == "queued"
        assert stored.last_error == f"boom {attempt}"
        assert (stored.locked_by, stored.locked_until) == (None, None)
        delays.append(stored.run_after - now)
        assert _claim(db) is None  # backing off
        _make_runnable(db, job_id)
    assert [round(d) for d in delays] == [2, 4, 8]


def test_backoff_is_capped_at_an_hour(db: Database) -> None:
    job_id = _enqueue(db)
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(attempts=20))
    assert _claim(db) is not None
    now = time.time()
    with db.session() as s:
        jobs.fail(s, job_id, "still failing", max_attempts=100)
    assert _get(db, job_id).run_after - now == pytest.approx(3600, abs=5)


def test_fail_gives_up_after_max_attempts(db: Database) -> None:
    job_id = _enqueue(db)
    for _ in range(3):
        assert _claim(db) is not None
        with db.session() as s:
            jobs.fail(s, job_id, "x" * 10_000, max_attempts=3)
        _make_runnable(db, job_id)
    stored = _get(db, job_id)
    assert stored.status == "failed"
    assert stored.attempts == 3
    assert stored.last_error == "x" * 4000
    assert _claim(db) is None


def test_complete_and_fail_of_unknown_jobs_are_ignored(db: Database) -> None:
    with db.session() as s:
        jobs.complete(s, 12345)
        jobs.fail(s, 12345, "nothing")
    assert _claim(db) is None
