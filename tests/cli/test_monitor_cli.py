"""``sealyard alerts`` and ``sealyard webhook`` on a data directory, delivering to a real
receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from sealyard.cli.monitor import alerts, webhook
from sealyard.config import load_settings
from sealyard.errors import NotFoundError, UsageError
from sealyard.monitor.webhooks import verify_signature
from sealyard.registry.app import Registry, open_registry
from tests.fixtures.webhook_receiver import WebhookReceiver, insert_alerts

SECRET = "cli-secret-0123456789abcdef"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def registry(data: Path) -> Iterator[Registry]:
    reg = open_registry(load_settings(None, data_dir=data))
    reg.accounts.create_project("team")
    yield reg
    reg.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def invoke(
    command: click.Command, data: Path, *args: str, code: int = 0, env: dict[str, str] | None = None
) -> Result:
    env = {"COLUMNS": "300", **(env or {})}  # wide enough that tables are not truncated
    result = CliRunner().invoke(command, [*args, "--data", str(data)], env=env)
    assert result.exit_code == code, (result.output, result.exception)
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_alerts_lists_and_filters(registry: Registry, data: Path) -> None:
    ids = insert_alerts(
        registry.db,
        {"rating": "CRITICAL", "vulnerability_id": "CVE-2099-1111"},
        {"rating": "LOW", "kind": "resolved"},
        {"rating": "HIGH", "project": "other", "repository": "other/web"},
    )
    listed = as_json(invoke(alerts, data, "-o", "json"))
    assert [a["id"] for a in listed] == ids
    assert listed[0]["vulnerability"] == "CVE-2099-1111"
    assert listed[0]["ts"].endswith("Z")

    def ids_of(*args: str) -> list[int]:
        return [a["id"] for a in as_json(invoke(alerts, data, "-o", "json", *args))]

    assert ids_of("--min-rating", "high") == [ids[0], ids[2]]
    assert ids_of("--project", "team", "--kind", "resolved") == [ids[1]]
    assert ids_of("--repository", "other/web") == [ids[2]]
    assert ids_of("--since-id", str(ids[0]), "--limit", "1") == [ids[1]]
    assert ids_of("--limit", "1") == [ids[2]]

    table = invoke(alerts, data).stdout
    assert "CVE-2099-1111" in table
    assert "requests 2.31.0" in table
    assert "CRITICAL" in table


def test_alerts_refuses_bad_options(registry: Registry, data: Path) -> None:
    bad = invoke(alerts, data, "--min-rating", "SEVERE", code=2)
    assert "SEVERE" in bad.output
    assert "--limit" in invoke(alerts, data, "--limit", "0", code=2).output
    assert "--kind" in invoke(alerts, data, "--kind", "fixed", code=2).output


def test_webhook_lifecycle_with_delivery(
    registry: Registry, data: Path, receiver: WebhookReceiver
) -> None:
    insert_alerts(registry.db, {})  # older than the webhook: not delivered
    added = invoke(webhook, data, "add", "ops", receiver.url, "--min-rating", "medium")
    secret = added.stdout.split("secret:")[1].split()[0]
    assert len(secret) >= 40
    assert "shown only now" in added.stderr

    listed = as_json(invoke(webhook, data, "list", "-o", "json"))
    assert [(w["name"], w["min_rating"], w["cursor"], w["pending"]) for w in listed] == [
        ("ops", "MEDIUM", 1, 0)
    ]
    table = invoke(webhook, data, "list").stdout
    assert secret not in table
    assert secret not in json.dumps(listed)
    assert ">=MEDIUM" in table

    ids = insert_alerts(registry.db, {"rating": "HIGH"}, {"rating": "LOW"})
    delivered = as_json(invoke(webhook, data, "deliver", "-o", "json"))
    assert delivered == [
        {
            "name": "ops",
            "delivered": 1,
            "skipped": 1,
            "requests": 1,
            "cursor": ids[-1],
            "error": None,
        }
    ]
    (request,) = receiver.requests
    verify_signature(secret, request.headers["x-sealyard-signature"], request.body)
    assert [a["id"] for a in request.json()["alerts"]] == [ids[0]]

    # A failing receiver: exit 1, the failure is shown, nothing is lost.
    receiver.fail(1, status=500)
    more = insert_alerts(registry.db, {"rating": "CRITICAL"})
    failed = invoke(webhook, data, "deliver", code=1)
    assert "HTTP 500" in failed.stdout
    state = as_json(invoke(webhook, data, "list", "-o", "json"))[0]
    assert (state["failures"], state["cursor"], state["pending"]) == (1, ids[-1], 1)
    assert state["last_error"].startswith("HTTP 500")
    assert state["next_attempt"] > 0

    invoke(webhook, data, "reset", "ops")
    assert as_json(invoke(webhook, data, "deliver", "-o", "json"))[0]["delivered"] == 1
    assert [a["id"] for a in receiver.requests[-1].json()["alerts"]] == more

    invoke(webhook, data, "disable", "ops")
    insert_alerts(registry.db, {"rating": "CRITICAL"})
    assert as_json(invoke(webhook, data, "deliver", "-o", "json")) == []
    invoke(webhook, data, "enable", "ops")
    assert as_json(invoke(webhook, data, "deliver", "-o", "json"))[0]["delivered"] == 1

    invoke(webhook, data, "reset", "ops", "--cursor", "0")
    replay = as_json(invoke(webhook, data, "deliver", "-o", "json"))[0]
    assert (replay["delivered"], replay["skipped"]) == (4, 1)  # all five, LOW filtered

    assert "removed webhook ops" in invoke(webhook, data, "remove", "ops").stdout
    assert as_json(invoke(webhook, data, "list", "-o", "json")) == []

    actions = [e["action"] for e in registry.audit.query(resource_prefix="webhook:ops")]
    assert sorted(set(actions)) == ["webhook.create", "webhook.delete", "webhook.update"]


def test_webhook_add_with_a_secret_from_the_environment(
    registry: Registry, data: Path, receiver: WebhookReceiver
) -> None:
    added = invoke(
        webhook,
        data,
        "add",
        "team-hook",
        receiver.url,
        "--secret-env",
        "HOOK_SECRET",
        "--project",
        "team",
        "--kind",
        "new",
        "--kind",
        "resolved",
        "--since-id",
        "0",
        "-o",
        "json",
        env={"HOOK_SECRET": SECRET},
    )
    info = as_json(added)
    assert "secret" not in info  # the operator already has it
    assert (info["project"], info["kinds"], info["cursor"]) == ("team", ["new", "resolved"], 0)
    ids = insert_alerts(registry.db, {}, {"kind": "changed"}, {"project": "other"})
    invoke(webhook, data, "deliver")
    (request,) = receiver.requests
    verify_signature(SECRET, request.headers["x-sealyard-signature"], request.body)
    assert [a["id"] for a in request.json()["alerts"]] == [ids[0]]


def test_webhook_errors_are_clear(registry: Registry, data: Path) -> None:
    missing = invoke(
        webhook, data, "add", "x", "https://example.com", "--secret-env", "NOPE", code=2
    )
    assert "NOPE is not set" in missing.output

    bad_url = invoke(webhook, data, "add", "x", "ftp://example.com", code=1)
    assert isinstance(bad_url.exception, UsageError)
    assert "http:// or https://" in str(bad_url.exception)

    invoke(webhook, data, "add", "x", "https://example.com")
    dup = invoke(webhook, data, "add", "x", "https://example.com", code=1)
    assert "already exists" in str(dup.exception)

    ghost = invoke(webhook, data, "remove", "ghost", code=1)
    assert isinstance(ghost.exception, NotFoundError)
    assert "no webhook 'ghost'" in str(ghost.exception)
    assert (
        "--min-rating"
        in invoke(webhook, data, "add", "y", "https://e.com", "--min-rating", "x", code=2).output
    )
