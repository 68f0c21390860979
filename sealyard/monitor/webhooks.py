"""Webhooks: deliver alerts as signed JSON POSTs, in order, at least once, across restarts.

Each webhook keeps a ``cursor``: the id of the last alert it delivered or filtered out. A
delivery pass reads the alerts after the cursor (at most ``batch`` of them, by increasing
id), advances over those the webhook's filters reject, and POSTs the rest as one body. The
cursor moves only in the transaction committed *after* the receiver answered 2xx, so a
crash, a timeout or an error answer leaves it where it was and the same alerts are sent
again later: delivery is at least once, and receivers deduplicate by alert id.

A failed POST (non-2xx, redirect, timeout, refused connection) sets ``next_attempt`` to now
plus ``min(3600, 2**failures)`` seconds and a little jitter; alerts keep queueing behind the
cursor and nothing is dropped, however long the receiver is down.

A pass claims a webhook by moving its ``next_attempt`` a lease into the future (one
conditional UPDATE), so concurrent workers never deliver the same webhook at once; after a
crash the webhook is retried when the lease ends.

Bodies are signed like Stripe's: ``X-Sealyard-Signature: t=<unix time>,v1=<hex>`` where
``hex`` is HMAC-SHA256 of ``f"{t}.".encode() + body`` with the webhook's secret.
:func:`verify_signature` is the receiver's side.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from sealyard.db.engine import Database
from sealyard.db.models import Alert, Project, Webhook
from sealyard.errors import ConflictError, NotFoundError, SignatureError, UsageError
from sealyard.monitor.alerts import (
    KINDS,
    MAX_LIMIT,
    alert_to_dict,
    check_kinds,
    check_rating,
    iso_time,
    rating_at_least,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EVENT",
    "LEASE_SECONDS",
    "MAX_BACKOFF",
    "DeliveryReport",
    "WebhookInfo",
    "WebhookOutcome",
    "WebhookService",
    "backoff",
    "sign",
    "verify_signature",
]

EVENT = "sealyard.alerts"
DEFAULT_TIMEOUT = 10.0
MAX_BACKOFF = 3600.0
LEASE_SECONDS = 60.0
MIN_SECRET = 16
MAX_URL = 2048
_MAX_SIGNATURE_HEADER = 4096
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


# -- signatures ----------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Sealyard-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = 300, now: float | None = None
) -> None:
    """Check an ``X-Sealyard-Signature`` header against the exact ``body`` bytes received.

    Several ``v1=`` values are accepted (any may match), so a sender can sign with an old and
    a new secret while they are rotated.

    Raises:
        SignatureError: the header is malformed, its timestamp is more than ``tolerance``
            seconds from ``now`` (a replay, or clocks apart), or no signature matches.
    """
    if len(header) > _MAX_SIGNATURE_HEADER:
        raise SignatureError("signature header is too long")
    timestamp: str | None = None
    signatures: list[bytes] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header: expected t=<time>,v1=<hex>")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value.encode())
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("signature header has no valid timestamp (t=)")
    if not signatures:
        raise SignatureError("signature header has no v1 signature")
    skew = (time.time() if now is None else now) - int(timestamp)
    if abs(skew) > tolerance:
        raise SignatureError(
            f"signature timestamp is {abs(skew):.0f} s from now (tolerance {tolerance:g} s): "
            "a replayed delivery or clocks that disagree"
        )
    expected = _mac(secret, int(timestamp), body).encode()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("signature does not match the body (wrong secret or altered body)")


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures (before jitter)."""
    return min(MAX_BACKOFF, 2.0 ** min(failures, 12))


# -- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook as shown to operators; the secret is never part of it.

    ``pending`` counts the alerts after the cursor, before the webhook's filters.
    """

    name: str
    url: str
    project: str | None
    min_rating: str
    kinds: tuple[str, ...]
    enabled: bool
    cursor: int
    pending: int
    failures: int
    next_attempt: float
    last_error: str | None
    last_delivery: float | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "project": self.project,
            "min_rating": self.min_rating,
            "kinds": list(self.kinds),
            "enabled": self.enabled,
            "cursor": self.cursor,
            "pending": self.pending,
            "failures": self.failures,
            "next_attempt": self.next_attempt,
            "last_error": self.last_error,
            "last_delivery": self.last_delivery,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class WebhookOutcome:
    """What one delivery pass did for one webhook; ``error`` is set when a POST failed."""

    name: str
    delivered: int
    skipped: int
    requests: int
    cursor: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "delivered": self.delivered,
            "skipped": self.skipped,
            "requests": self.requests,
            "cursor": self.cursor,
            "error": self.error,
        }


@dataclass(frozen=True)
class DeliveryReport:
    """The outcomes of one delivery pass, one per webhook that was due."""

    outcomes: tuple[WebhookOutcome, ...] = ()

    @property
    def delivered(self) -> int:
        return sum(o.delivered for o in self.outcomes)

    @property
    def failed(self) -> tuple[WebhookOutcome, ...]:
        return tuple(o for o in self.outcomes if o.error is not None)


@dataclass(frozen=True)
class _Claimed:
    """A webhook's settings and cursor as read when it was claimed for one batch."""

    id: int
    name: str
    url: str
    secret: str
    project: str | None
    min_rating: str
    kinds: tuple[str, ...]
    cursor: int
    failures: int

    def wants(self, alert: dict[str, Any]) -> bool:
        return (
            (self.project is None or alert["project"] == self.project)
            and (not self.kinds or alert["kind"] in self.kinds)  # empty: every kind
            and rating_at_least(str(alert["rating"]), self.min_rating)
        )


def _check_url(url: str) -> str:
    if len(url) > MAX_URL:
        raise UsageError(f"webhook URL is longer than {MAX_URL} characters")
    if any(c.isspace() for c in url):
        raise UsageError(f"invalid webhook URL {url!r}: it contains white space")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UsageError(f"invalid webhook URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"webhook URL {url!r} must be an absolute http:// or https:// URL")
    if "%" in parsed.host or not 0 < (parsed.port or 80) < 65536:
        raise UsageError(f"invalid webhook URL {url!r}: bad host or port")
    if parsed.userinfo:
        raise UsageError(
            "webhook URLs must not contain credentials; receivers authenticate deliveries "
            "by their signature"
        )
    return url


# -- the service ---------------------------------------------------------------------------


class WebhookService:
    """Webhook configuration and delivery on the metadata database ``db``.

    ``timeout`` bounds each POST's connect, write and read steps; ``lease`` is how long a
    delivery pass owns a webhook (it must exceed ``timeout``).
    """

    def __init__(
        self, db: Database, *, timeout: float = DEFAULT_TIMEOUT, lease: float = LEASE_SECONDS
    ) -> None:
        if lease <= timeout:
            raise UsageError("the delivery lease must be longer than the POST timeout")
        self.db = db
        self.timeout = timeout
        self.lease = lease

    # configuration
    def add(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        project: str | None = None,
        min_rating: str = "UNKNOWN",
        kinds: Collection[str] = KINDS,
        since_id: int | None = None,
    ) -> tuple[WebhookInfo, str]:
        """Create a webhook; return it and its secret (generated unless given).

        Delivery starts after alert ``since_id``; by default after the newest alert that
        exists now (``0`` replays every stored alert).

        Raises:
            UsageError: invalid name, URL, secret, rating or kinds.
            NotFoundError: ``project`` does not exist.
            ConflictError: a webhook of that name exists.
        """
        if not _NAME.fullmatch(name):
            raise UsageError(
                f"invalid webhook name {name!r}: up to 64 lowercase letters, digits, . _ -"
            )
        _check_url(url)
        if secret is None:
            secret = secrets.token_urlsafe(32)
        elif len(secret) < MIN_SECRET or len(secret) > 255:
            raise UsageError(f"a webhook secret must have {MIN_SECRET} to 255 characters")
        rating = check_rating(min_rating)
        wanted = check_kinds(kinds)
        if since_id is not None and since_id < 0:
            raise UsageError("since_id must not be negative")
        try:
            with self.db.session() as s:
                if (
                    project is not None
                    and s.scalar(select(Project.id).where(Project.name == project)) is None
                ):
                    raise NotFoundError(f"no project {project!r}")
                if since_id is None:
                    since_id = int(s.scalar(select(func.max(Alert.id))) or 0)
                s.add(
                    Webhook(
                        name=name,
                        url=url,
                        secret=secret,
                        project=project,
                        min_rating=rating,
                        kinds=list(wanted),
                        cursor=since_id,
                    )
                )
        except IntegrityError as exc:
            raise ConflictError(f"webhook {name!r} already exists") from exc
        return self.get(name), secret

    def get(self, name: str) -> WebhookInfo:
        """Raises: NotFoundError."""
        for info in self.list():
            if info.name == name:
                return info
        raise NotFoundError(f"no webhook {name!r}")

    def remove(self, name: str) -> None:
        """Delete a webhook (its undelivered alerts stay in the alert log).

        Raises: NotFoundError.
        """
        with self.db.session() as s:
            hook = s.scalar(select(Webhook).where(Webhook.name == name))
            if hook is None:
                raise NotFoundError(f"no webhook {name!r}")
            s.delete(hook)

    def enable(self, name: str) -> None:
        """Resume deliveries at once (a pending backoff is cancelled). Raises: NotFoundError."""
        self._change(name, enabled=True, next_attempt=0.0)

    def disable(self, name: str) -> None:
        """Stop deliveries; alerts keep queueing behind the cursor. Raises: NotFoundError."""
        self._change(name, enabled=False)

    def reset(self, name: str, *, cursor: int | None = None) -> None:
        """Clear failures and backoff so the next pass retries; optionally move the cursor.

        ``cursor=0`` replays every stored alert; a larger id skips the alerts up to it.

        Raises:
            UsageError: negative cursor.
            NotFoundError: no such webhook.
        """
        values: dict[str, Any] = {"failures": 0, "next_attempt": 0.0, "last_error": None}
        if cursor is not None:
            if cursor < 0:
                raise UsageError("the cursor must not be negative")
            values["cursor"] = cursor
        self._change(name, **values)

    def _change(self, name: str, **values: Any) -> None:
        with self.db.session() as s:
            hook = s.scalar(select(Webhook).where(Webhook.name == name))
            if hook is None:
                raise NotFoundError(f"no webhook {name!r}")
            for key, value in values.items():
                setattr(hook, key, value)

    def list(self) -> builtins.list[WebhookInfo]:
        """Every webhook, by name, with its delivery state."""
        with self.db.session() as s:
            hooks = s.scalars(select(Webhook).order_by(Webhook.name)).all()
            return [
                WebhookInfo(
                    name=h.name,
                    url=h.url,
                    project=h.project,
                    min_rating=h.min_rating,
                    kinds=tuple(h.kinds or KINDS),
                    enabled=h.enabled,
                    cursor=h.cursor,
                    pending=int(
                        s.scalar(select(func.count(Alert.id)).where(Alert.id > h.cursor)) or 0
                    ),
                    failures=h.failures,
                    next_attempt=h.next_attempt,
                    last_error=h.last_error,
                    last_delivery=h.last_delivery,
                    created_at=h.created_at,
                )
                for h in hooks
            ]

    # delivery
    def deliver_pending(
        self, *, client: httpx.Client | None = None, now: float | None = None, batch: int = 100
    ) -> DeliveryReport:
        """Deliver the alerts queued for every enabled webhook that is due.

        Each webhook is served in batches of up to ``batch`` alerts until it has caught up or
        a POST fails. ``now`` (default: the clock) is the time used for due dates,
        signatures and backoff. Without ``client`` a fresh ``httpx.Client`` is used; redirects
        are never followed either way.

        Raises:
            UsageError: ``batch`` outside 1..1000.
        """
        if not 1 <= batch <= MAX_LIMIT:
            raise UsageError(f"batch must be from 1 to {MAX_LIMIT}")
        at = time.time() if now is None else now
        with self.db.session() as s:
            due = s.scalars(
                select(Webhook.id)
                .where(Webhook.enabled.is_(True), Webhook.next_attempt <= at)
                .order_by(Webhook.id)
            ).all()
        if not due:
            return DeliveryReport()
        http = client if client is not None else httpx.Client(timeout=self.timeout)
        try:
            outcomes = [self._serve(http, hook_id, at, batch) for hook_id in due]
        finally:
            if client is None:
                http.close()
        return DeliveryReport(tuple(o for o in outcomes if o is not None))

    def _serve(
        self, http: httpx.Client, hook_id: int, now: float, batch: int
    ) -> WebhookOutcome | None:
        """Deliver one webhook's backlog; ``None`` if it could not be claimed at all."""
        delivered = skipped = requests = 0
        name, cursor = "", 0
        while True:
            claimed = self._claim(hook_id, now, batch)
            if claimed is None:  # disabled, deleted or taken by another worker meanwhile
                break
            hook, alerts = claimed
            name, cursor = hook.name, hook.cursor
            if not alerts:
                self._release(hook)
                break
            wanted = [a for a in alerts if hook.wants(a)]
            if wanted:
                requests += 1
                error = self._post(http, hook, wanted, now)
                if error is not None:
                    self._failed(hook, error, now)
                    return WebhookOutcome(name, delivered, skipped, requests, cursor, error)
            last = int(alerts[-1]["id"])
            if not self._advance(hook, last, now, delivered=bool(wanted)):
                break  # the cursor was reset meanwhile; the next pass starts from there
            delivered += len(wanted)
            skipped += len(alerts) - len(wanted)
            cursor = last
            if len(alerts) < batch:
                break
        return WebhookOutcome(name, delivered, skipped, requests, cursor) if name else None

    def _claim(
        self, hook_id: int, now: float, batch: int
    ) -> tuple[_Claimed, builtins.list[dict[str, Any]]] | None:
        """Take the webhook for one batch (if still due) and read the alerts after its cursor."""
        with self.db.session() as s:
            taken = s.execute(
                update(Webhook)
                .where(
                    Webhook.id == hook_id,
                    Webhook.enabled.is_(True),
                    Webhook.next_attempt <= now,
                )
                .values(next_attempt=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) != 1:
                return None
            h = s.get_one(Webhook, hook_id)
            claimed = _Claimed(
                id=h.id,
                name=h.name,
                url=h.url,
                secret=h.secret,
                project=h.project,
                min_rating=h.min_rating,
                kinds=tuple(h.kinds or ()),
                cursor=h.cursor,
                failures=h.failures,
            )
            rows = s.scalars(
                select(Alert).where(Alert.id > h.cursor).order_by(Alert.id).limit(batch)
            )
            return claimed, [alert_to_dict(a) for a in rows]

    def _post(
        self, http: httpx.Client, hook: _Claimed, alerts: Sequence[dict[str, Any]], now: float
    ) -> str | None:
        """POST one signed body; ``None`` on 2xx, else why it failed."""
        delivery = f"{hook.name}-{alerts[0]['id']}-{alerts[-1]['id']}"
        payload = {"event": EVENT, "delivery": delivery, "sent_at": iso_time(now), "alerts": alerts}
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sealyard-webhook",
            "X-Sealyard-Event": EVENT,
            "X-Sealyard-Delivery": delivery,
            "X-Sealyard-Signature": sign(hook.secret, body, int(now)),
        }
        try:
            with http.stream(
                "POST",
                hook.url,
                content=body,
                headers=headers,
                timeout=self.timeout,
                follow_redirects=False,
            ) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return None
                if response.is_redirect:
                    where = response.headers.get("location", "?")
                    return f"HTTP {status} redirect to {where[:200]} (redirects are not followed)"
                text = _head(response)
                return f"HTTP {status}" + (f": {text}" if text else "")
        except httpx.TimeoutException:
            return f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:1000]

    def _release(self, hook: _Claimed) -> None:
        with self.db.session() as s:
            s.execute(
                update(Webhook)
                .where(Webhook.id == hook.id)
                .values(next_attempt=0.0)
                .execution_options(synchronize_session=False)
            )

    def _advance(self, hook: _Claimed, last: int, now: float, *, delivered: bool) -> bool:
        """Move the cursor past ``last`` (committed only now, after the 2xx)."""
        values: dict[str, Any] = {"cursor": last, "next_attempt": 0.0}
        if delivered:
            values.update(failures=0, last_error=None, last_delivery=now)
        with self.db.session() as s:
            moved = s.execute(
                update(Webhook)
                .where(Webhook.id == hook.id, Webhook.cursor == hook.cursor)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return getattr(moved, "rowcount", 0) == 1

    def _failed(self, hook: _Claimed, error: str, now: float) -> None:
        failures = hook.failures + 1
        delay = backoff(failures)
        jitter = random.uniform(0.0, delay / 10)  # noqa: S311 - spreads retries, not a secret
        with self.db.session() as s:
            s.execute(
                update(Webhook)
                .where(Webhook.id == hook.id)
                .values(failures=failures, next_attempt=now + delay + jitter, last_error=error)
                .execution_options(synchronize_session=False)
            )


def _head(response: httpx.Response, limit: int = 200) -> str:
    """The start of an error answer's body, as one line (never the whole body)."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass
    return " ".join(data[:limit].decode("utf-8", "replace").split())
