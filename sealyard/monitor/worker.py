"""The background worker: runs queued jobs and delivers webhooks.

One loop serves both kinds of job the registry and the advisory store enqueue:

* ``image.pushed`` → :class:`~sealyard.monitor.scanner.ImageScanner` (scan on push);
* ``advisories.changed`` → :func:`~sealyard.monitor.rematch.rematch` (alerts);

and, between jobs, a webhook delivery pass. Jobs are claimed with a lease from the
``jobs`` table, so a worker killed mid-job leaves the job to be claimed again after the lease,
and several workers (threads of ``sealyard serve`` or ``sealyard worker`` processes on other
hosts) share the queue. A job whose input is bad (an image that does not verify) is finished
with its reason recorded; a job that failed for a passing reason is retried with backoff.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from sealyard.db import jobs
from sealyard.errors import UntrustedDataError, UsageError
from sealyard.monitor.rematch import rematch
from sealyard.monitor.scanner import ImageScanner
from sealyard.monitor.webhooks import WebhookService
from sealyard.registry.app import Registry
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.store import AdvisoryStore

__all__ = ["JOB_KINDS", "Worker", "WorkerStats"]

log = logging.getLogger("sealyard.worker")

JOB_KINDS = ["image.pushed", "advisories.changed"]


@dataclass
class WorkerStats:
    """Counters since start (tests and ``/healthz`` use them)."""

    scanned: int = 0
    skipped: int = 0
    scan_failures: int = 0
    rematched_records: int = 0
    alerts: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


class Worker:
    """Claims and runs jobs on ``registry``'s database; see the module docstring."""

    def __init__(self, registry: Registry, name: str | None = None, lease: float = 600.0) -> None:
        self.registry = registry
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.lease = lease
        self.index = AdvisoryIndex(AdvisoryStore(registry.db))
        self.scanner = ImageScanner(
            registry.db, registry.store, registry.settings.limits, self.index
        )
        self.webhooks = WebhookService(registry.db)
        self.stats = WorkerStats()

    def run_once(self) -> bool:
        """Run one job if one is due; ``True`` when a job was run."""
        with self.registry.db.session() as s:
            job = jobs.claim(s, self.name, JOB_KINDS, lease=self.lease)
            if job is None:
                return False
            job_id, kind, payload = job.id, job.kind, dict(job.payload)
        try:
            if kind == "image.pushed":
                self._scan(payload)
            else:
                report = rematch(self.registry.db, list(payload.get("ids") or []))
                self.stats.rematched_records += report.records
                self.stats.alerts += report.alerts
                log.info("re-matched %s", report.as_dict())
        except Exception as exc:  # any failure is recorded on the job
            log.warning("job %s (%s) failed: %s", job_id, kind, exc)
            self.stats.retried += 1
            self.stats.errors = [*self.stats.errors[-9:], f"{kind}: {exc}"]
            with self.registry.db.session() as s:
                jobs.fail(s, job_id, f"{type(exc).__name__}: {exc}")
            return True
        with self.registry.db.session() as s:
            jobs.complete(s, job_id)
        return True

    def _scan(self, payload: dict[str, object]) -> None:
        repository, digest = str(payload.get("repository")), str(payload.get("digest"))
        try:
            outcome = self.scanner.handle_pushed(dict(payload))
        except (UntrustedDataError, UsageError) as exc:
            # Retrying cannot help: the stored image is bad or gone. Keep the reason.
            self.stats.scan_failures += 1
            self.scanner.inventory.record_failure(
                repository=repository, digest=digest, error=str(exc)
            )
            log.warning("scan of %s@%s failed: %s", repository, digest, exc)
            return
        if outcome.status == "scanned":
            self.stats.scanned += 1
            log.info("scanned %s@%s: %s", repository, digest, outcome.summary)
        else:
            self.stats.skipped += 1

    def deliver(self) -> None:
        try:
            self.webhooks.deliver_pending()
        except Exception as exc:  # delivery must never stop the worker
            log.warning("webhook delivery pass failed: %s", exc)

    def run(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Work until ``stop`` is set: jobs first, webhooks between them."""
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception as exc:  # e.g. the database is briefly locked
                log.warning("worker loop: %s", exc)
                worked = False
            self.deliver()
            if not worked:
                stop.wait(poll)

    def start(self, stop: threading.Event, poll: float = 0.5) -> threading.Thread:
        thread = threading.Thread(
            target=self.run, args=(stop, poll), name=f"sealyard-worker-{self.name}", daemon=True
        )
        thread.start()
        return thread
