"""Webhook configuration, signatures and delivery to a real HTTP receiver on loopback.

Time is passed explicitly (``now=``) so backoff and leases are checked without sleeping;
the HTTP side is real: refused connections, 500s, redirects and a receiver that hangs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealyard.db.engine import Database
from sealyard.errors import ConflictError, NotFoundError, SignatureError, UsageError
from sealyard.monitor.webhooks import (
    EVENT,
    LEASE_SECONDS,
    MAX_BACKOFF,
    WebhookService,
    backoff,
    sign,
    verify_signature,
)
from sealyard.registry.accounts import AccountService
from tests.fixtures.net import free_port
from tests.fixtures.webhook_receiver import Answer, WebhookReceiver, insert_alerts

SECRET = "s3cret-for-tests-0123456789"
T0 = 1_700_000_000.0


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'w.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.migrate()
    AccountService(database).create_project("team")
    AccountService(database).create_project("other")
    yield database
    database.dispose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def service(db: Database) -> WebhookService:
    return WebhookService(db, timeout=2.0)


def alert_ids(received: Any) -> list[int]:
    return [a["id"] for a in received.json()["alerts"]]


# -- signatures ----------------------------------------------------------------------------


def test_signature_round_trip_and_rejections() -> None:
    body = b'{"event":"sealyard.alerts","alerts":[]}'
    header = sign(SECRET, body, int(T0))
    assert header.startswith(f"t={int(T0)},v1=")
    verify_signature(SECRET, header, body, now=T0 + 299)
    verify_signature(SECRET, header, body, now=T0 - 299)  # sender's clock slightly ahead

    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, header, body + b" ", now=T0)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET + "x", header, body, now=T0)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, header, body, now=T0 + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, header, body, now=T0 + 31, tolerance=30)
    # The timestamp is signed: moving it forward breaks the signature.
    _, _, mac = header.partition(",v1=")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, f"t={int(T0) + 100},v1={mac}", body, now=T0 + 100)


def test_signature_header_variants() -> None:
    body = b"{}"
    good = sign(SECRET, body, int(T0)).partition(",v1=")[2]
    # Several v1 values (secret rotation): any one may match, in any order and spacing.
    verify_signature(SECRET, f"v1={'0' * 64}, t={int(T0)}, v1={good}", body, now=T0)
    for header, message in [
        ("", "malformed"),
        ("garbage", "malformed"),
        (f"v1={good}", "no valid timestamp"),
        (f"t=²,v1={good}", "no valid timestamp"),
        (f"t=-5,v1={good}", "no valid timestamp"),
        (f"t={int(T0)}", "no v1 signature"),
        (f"t={int(T0)},v1=ünïcode", "does not match"),
        ("t=1," + "v1=aa," * 1000, "too long"),
    ]:
        with pytest.raises(SignatureError, match=message):
            verify_signature(SECRET, header, body, now=T0)


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3, 10)] == [2, 4, 8, 1024]
    assert backoff(12) == MAX_BACKOFF == 3600
    assert backoff(10_000) == MAX_BACKOFF


# -- configuration -------------------------------------------------------------------------


def test_add_list_remove(service: WebhookService, db: Database) -> None:
    insert_alerts(db, {}, {})
    info, secret = service.add("ops", "https://hooks.example.com/sealyard", project="team")
    assert len(secret) >= 40  # token_urlsafe(32)
    assert info.cursor == 2  # starts after the newest alert: no flood of old ones
    assert (info.project, info.min_rating, info.kinds) == (
        "team",
        "UNKNOWN",
        ("new", "changed", "resolved"),
    )
    assert (info.enabled, info.failures, info.pending, info.last_delivery) == (True, 0, 0, None)
    assert "secret" not in info.to_dict()
    assert secret not in json.dumps(info.to_dict())

    replay, given = service.add(
        "replay",
        "http://127.0.0.1:9/x",
        secret=SECRET,
        since_id=0,
        min_rating="high",
        kinds=["resolved"],
    )
    assert given == SECRET
    assert (replay.cursor, replay.pending, replay.min_rating, replay.kinds) == (
        0,
        2,
        "HIGH",
        ("resolved",),
    )
    assert [w.name for w in service.list()] == ["ops", "replay"]
    service.remove("ops")
    assert [w.name for w in service.list()] == ["replay"]
    with pytest.raises(NotFoundError, match="no webhook 'ops'"):
        service.remove("ops")
    with pytest.raises(NotFoundError):
        service.enable("ops")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"url": "ftp://example.com/x"}, UsageError, "http:// or https://"),
        ({"url": "/relative/path"}, UsageError, "http:// or https://"),
        ({"url": "http://"}, UsageError, "absolute"),
        ({"url": "http://a:99999/"}, UsageError, "bad host or port"),
        ({"url": "http://a/\x00"}, UsageError, "invalid webhook URL"),
        ({"url": "http://user:pw@example.com/"}, UsageError, "credentials"),
        ({"url": "http://example.com/" + "a" * 2048}, UsageError, "longer than"),
        ({"url": "http://exa mple.com/"}, UsageError, "white space"),
        ({"name": "Bad Name"}, UsageError, "invalid webhook name"),
        ({"name": ""}, UsageError, "invalid webhook name"),
        ({"secret": "short"}, UsageError, "16 to 255"),
        ({"project": "ghost"}, NotFoundError, "no project 'ghost'"),
        ({"min_rating": "SEVERE"}, UsageError, "unknown rating"),
        ({"kinds": []}, UsageError, "at least one"),
        ({"kinds": ["new", "fixed"]}, UsageError, "fixed"),
        ({"since_id": -1}, UsageError, "negative"),
    ],
)
def test_add_refuses_bad_input(
    service: WebhookService, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"name": "hook", "url": "https://example.com/hook", **kwargs}
    with pytest.raises(error, match=message):
        service.add(args.pop("name"), args.pop("url"), **args)
    assert service.list() == []


def test_duplicate_name_conflicts(service: WebhookService) -> None:
    service.add("hook", "https://example.com/a")
    with pytest.raises(ConflictError, match="already exists"):
        service.add("hook", "https://example.com/b")


def test_service_refuses_a_lease_shorter_than_the_timeout(db: Database) -> None:
    with pytest.raises(UsageError, match="lease"):
        WebhookService(db, timeout=30, lease=10)
    with pytest.raises(UsageError, match="batch"):
        WebhookService(db).deliver_pending(batch=0)


# -- delivery ------------------------------------------------------------------------------


def test_delivery_posts_one_signed_body(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url, secret=SECRET)
    ids = insert_alerts(db, {"rating": "CRITICAL"}, {"kind": "resolved", "rating": "LOW"})
    report = service.deliver_pending(now=T0)
    assert report.delivered == 2
    assert report.failed == ()
    (outcome,) = report.outcomes
    assert outcome.to_dict() == {
        "name": "ops",
        "delivered": 2,
        "skipped": 0,
        "requests": 1,
        "cursor": ids[-1],
        "error": None,
    }

    (request,) = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-sealyard-event"] == EVENT
    delivery = f"ops-{ids[0]}-{ids[1]}"
    assert request.headers["x-sealyard-delivery"] == delivery
    verify_signature(SECRET, request.headers["x-sealyard-signature"], request.body, now=T0)
    assert request.headers["x-sealyard-signature"].startswith(f"t={int(T0)},")
    body = request.json()
    assert body["event"] == EVENT
    assert body["delivery"] == delivery
    assert body["sent_at"] == "2023-11-14T22:13:20.000Z"
    assert [a["id"] for a in body["alerts"]] == ids
    assert body["alerts"][0]["rating"] == "CRITICAL"
    assert body["alerts"][1]["kind"] == "resolved"
    assert set(body["alerts"][0]) >= {"vulnerability", "package", "digest", "repository", "ts"}

    info = service.get("ops")
    assert (info.cursor, info.pending, info.failures, info.last_delivery) == (ids[-1], 0, 0, T0)
    # Caught up: the next pass sends nothing.
    assert service.deliver_pending(now=T0 + 1).delivered == 0
    assert len(receiver.requests) == 1


def test_filters_skip_alerts_and_advance_the_cursor(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("crit", receiver.url, min_rating="HIGH", project="team", kinds=["new", "changed"])
    ids = insert_alerts(
        db,
        {"rating": "CRITICAL"},  # yes
        {"rating": "MEDIUM"},  # too low
        {"rating": "UNKNOWN"},  # unrated ranks lowest
        {"rating": "HIGH", "project": "other"},  # other project
        {"rating": "HIGH", "kind": "resolved"},  # kind not wanted
        {"rating": "HIGH", "kind": "changed"},  # yes
    )
    report = service.deliver_pending(now=T0)
    (outcome,) = report.outcomes
    assert (outcome.delivered, outcome.skipped, outcome.requests) == (2, 4, 1)
    assert [alert_ids(r) for r in receiver.requests] == [[ids[0], ids[5]]]
    assert service.get("crit").cursor == ids[-1]

    # A batch with nothing wanted is passed over without a request.
    more = insert_alerts(db, {"rating": "LOW"}, {"project": "other"})
    (outcome,) = service.deliver_pending(now=T0 + 1).outcomes
    assert (outcome.delivered, outcome.skipped, outcome.requests) == (0, 2, 0)
    assert service.get("crit").cursor == more[-1]
    assert len(receiver.requests) == 1


def test_large_backlog_goes_out_in_ordered_batches(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url)
    ids = insert_alerts(db, *[{"vulnerability_id": f"CVE-2099-{i}"} for i in range(25)])
    report = service.deliver_pending(now=T0, batch=10)
    assert report.delivered == 25
    batches = [alert_ids(r) for r in receiver.requests]
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [i for b in batches for i in b] == ids
    deliveries = [r.headers["x-sealyard-delivery"] for r in receiver.requests]
    assert deliveries == [f"ops-{b[0]}-{b[-1]}" for b in batches]


def test_failures_back_off_and_lose_nothing(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url, secret=SECRET)
    first = insert_alerts(db, {}, {})
    receiver.fail(2, status=500)

    report = service.deliver_pending(now=T0)
    (failed,) = report.failed
    assert failed.error is not None
    assert failed.error.startswith("HTTP 500")
    info = service.get("ops")
    assert (info.cursor, info.failures, info.pending) == (0, 1, 2)
    assert info.last_error == failed.error
    assert T0 + 2 <= info.next_attempt <= T0 + 2 * 1.1
    assert info.last_delivery is None

    # Not due yet: no request at all.
    assert service.deliver_pending(now=T0 + 1).outcomes == ()
    assert len(receiver.requests) == 1

    # New alerts queue behind the cursor while the receiver is failing.
    second = insert_alerts(db, {"kind": "changed"})
    service.deliver_pending(now=T0 + 3)
    info = service.get("ops")
    assert (info.cursor, info.failures) == (0, 2)
    assert T0 + 3 + 4 <= info.next_attempt <= T0 + 3 + 4 * 1.1

    report = service.deliver_pending(now=T0 + 10)
    assert report.delivered == 3
    assert [alert_ids(r) for r in receiver.requests] == [first, first + second, first + second]
    assert [r.answered for r in receiver.requests] == [500, 500, 204]
    info = service.get("ops")
    assert (info.cursor, info.failures, info.last_error, info.next_attempt) == (
        second[-1],
        0,
        None,
        0.0,
    )
    assert info.last_delivery == T0 + 10


def test_redirects_are_failures_and_not_followed(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url)
    insert_alerts(db, {})
    receiver.plan(Answer(302, location=receiver.url + "/elsewhere"))
    (failed,) = service.deliver_pending(now=T0).failed
    assert failed.error is not None
    assert "redirect" in failed.error
    assert "/elsewhere" in failed.error
    assert len(receiver.requests) == 1  # the Location was not requested
    assert service.get("ops").cursor == 0


def test_a_receiver_that_hangs_times_out(db: Database, receiver: WebhookReceiver) -> None:
    service = WebhookService(db, timeout=0.5)
    service.add("slow", receiver.url)
    insert_alerts(db, {})
    receiver.plan(Answer(204, hang=20))
    started = time.monotonic()
    (failed,) = service.deliver_pending(now=T0).failed
    assert time.monotonic() - started < 5
    assert failed.error == "timed out after 0.5 s"
    info = service.get("slow")
    assert (info.cursor, info.failures, info.last_error) == (0, 1, "timed out after 0.5 s")


def test_refused_connection_is_a_failure(service: WebhookService, db: Database) -> None:
    service.add("gone", f"http://127.0.0.1:{free_port()}/hook")
    insert_alerts(db, {})
    (failed,) = service.deliver_pending(now=T0).failed
    assert failed.error is not None
    assert failed.error.startswith("ConnectError")
    assert service.get("gone").failures == 1


def test_webhooks_are_independent(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    with WebhookReceiver() as broken:
        service.add("good", receiver.url)
        service.add("bad", broken.url)
        broken.fail(1, status=503)
        ids = insert_alerts(db, {}, {})
        report = service.deliver_pending(now=T0)
        assert {o.name: o.error for o in report.outcomes} == {
            "good": None,
            "bad": "HTTP 503: answer 503",
        }
        assert service.get("good").cursor == ids[-1]
        assert service.get("bad").cursor == 0
        later = insert_alerts(db, {})
        report = service.deliver_pending(now=T0 + 60)
        assert {o.name: o.delivered for o in report.outcomes} == {"good": 1, "bad": 3}
        assert [alert_ids(r) for r in broken.accepted()] == [ids + later]
        assert [alert_ids(r) for r in receiver.accepted()] == [ids, later]


def test_disable_enable_and_reset(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url)
    ids = insert_alerts(db, {}, {})
    service.disable("ops")
    assert service.deliver_pending(now=T0).outcomes == ()
    assert service.get("ops").enabled is False
    service.enable("ops")
    assert service.deliver_pending(now=T0).delivered == 2

    receiver.fail(1)
    more = insert_alerts(db, {})
    service.deliver_pending(now=T0)
    assert service.get("ops").next_attempt > T0
    service.reset("ops")  # retry now, not after the backoff
    info = service.get("ops")
    assert (info.failures, info.next_attempt, info.last_error) == (0, 0.0, None)
    assert service.deliver_pending(now=T0).delivered == 1

    service.reset("ops", cursor=0)  # replay everything
    assert service.deliver_pending(now=T0).delivered == 3
    assert alert_ids(receiver.requests[-1]) == ids + more
    with pytest.raises(UsageError, match="negative"):
        service.reset("ops", cursor=-1)


def test_a_restart_continues_from_the_cursor(
    db: Database, db_url: str, receiver: WebhookReceiver
) -> None:
    WebhookService(db).add("ops", receiver.url)
    before = insert_alerts(db, {}, {})
    WebhookService(db).deliver_pending(now=T0)
    db.dispose()

    reopened = Database(db_url)
    try:
        after = insert_alerts(reopened, {})
        report = WebhookService(reopened).deliver_pending(now=T0 + 1)
        assert report.delivered == 1
    finally:
        reopened.dispose()
    assert [alert_ids(r) for r in receiver.requests] == [before, after]


def test_a_crash_during_a_post_loses_nothing(
    db: Database, db_url: str, receiver: WebhookReceiver
) -> None:
    """Kill the delivering process while the receiver holds the request: the cursor never
    moved, the webhook stays leased (no second sender), then the same alerts go out again."""
    service = WebhookService(db)
    service.add("ops", receiver.url)
    ids = insert_alerts(db, {}, {})
    receiver.plan(Answer(204, hang=30))
    code = (
        "import sys\n"
        "from sealyard.db.engine import Database\n"
        "from sealyard.monitor.webhooks import WebhookService\n"
        "WebhookService(Database(sys.argv[1])).deliver_pending(now=float(sys.argv[2]))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, db_url, str(T0)])
    try:
        receiver.wait_for(1, timeout=30)
    finally:
        process.kill()
        process.wait(10)

    info = service.get("ops")
    assert (info.cursor, info.failures, info.last_delivery) == (0, 0, None)
    assert info.next_attempt == T0 + LEASE_SECONDS
    assert service.deliver_pending(now=T0 + LEASE_SECONDS - 1).outcomes == ()
    assert len(receiver.requests) == 1

    report = service.deliver_pending(now=T0 + LEASE_SECONDS)
    assert report.delivered == 2
    assert [alert_ids(r) for r in receiver.requests] == [ids, ids]
    assert service.get("ops").cursor == ids[-1]


def test_a_caller_supplied_client_still_does_not_follow_redirects(
    service: WebhookService, db: Database, receiver: WebhookReceiver
) -> None:
    service.add("ops", receiver.url)
    insert_alerts(db, {})
    receiver.plan(Answer(307, location=receiver.url))
    with httpx.Client(follow_redirects=True) as client:
        (failed,) = service.deliver_pending(client=client, now=T0).failed
        assert failed.error is not None
        assert "redirect" in failed.error
        assert len(receiver.requests) == 1
        # The caller's client is not closed by the service.
        assert service.deliver_pending(client=client, now=T0 + 10).delivered == 1
