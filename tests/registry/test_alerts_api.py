"""``/api/v1/alerts`` and ``/api/v1/webhooks`` against the real server.

Alerts are appended to the server's database directly (as the monitor does); the server
shares the session with other tests, so every check looks only at this module's projects
and at alerts after the id the module started from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sealyard.db.models import Alert
from sealyard.monitor.webhooks import WebhookService
from sealyard.registry.app import Registry
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer
from tests.fixtures.webhook_receiver import insert_alerts

pytestmark = pytest.mark.integration

API = "/api/v1"
NOWHERE = "http://127.0.0.1:9/never"  # webhooks made here must never reach anything


@dataclass
class Scene:
    """A private project with a guest, another private project, a public one; their alerts."""

    project: str
    other: str
    public: str
    start: int  # alerts with a larger id are this module's
    ids: dict[str, list[int]]
    clients: dict[str, httpx.Client]
    robot: str

    def get(self, caller: str, **params: Any) -> httpx.Response:
        return self.clients[caller].get(f"{API}/alerts", params=params)

    def ours(self, response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        mine = {self.project, self.other, self.public}
        return [a["id"] for a in response.json() if a["project"] in mine]


@pytest.fixture(scope="module")
def scene(server: SealyardServer, registry: Registry) -> Iterator[Scene]:
    accounts = registry.accounts
    tag = f"{id(server) % 100000}"
    project, other, public = f"ap{tag}", f"ao{tag}", f"apub{tag}"
    accounts.create_project(project)
    accounts.create_project(other)
    accounts.create_project(public, public=True)
    guest, outsider = f"ag{tag}", f"aout{tag}"
    with ThreadPoolExecutor(2) as pool:  # Argon2 hashing releases the GIL
        list(pool.map(lambda n: accounts.create_user(n, f"pw-{n}-secret"), (guest, outsider)))
    accounts.set_member(project, guest, "guest")
    robot = accounts.create_robot(f"alerts{tag}", {project: ["pull"]}, expires_in_days=1)
    with registry.db.session() as s:
        start = int(s.scalar(select(func.max(Alert.id))) or 0)
    ids = {
        project: insert_alerts(
            registry.db,
            {"project": project, "rating": "CRITICAL"},
            {"project": project, "rating": "LOW", "kind": "resolved"},
        ),
        other: insert_alerts(registry.db, {"project": other, "rating": "HIGH"}),
        public: insert_alerts(registry.db, {"project": public, "rating": "MEDIUM"}),
    }
    credentials: dict[str, tuple[str, str] | None] = {
        "admin": ("admin", ADMIN_PASSWORD),
        "guest": (guest, f"pw-{guest}-secret"),
        "outsider": (outsider, f"pw-{outsider}-secret"),
        "robot": (robot.name, robot.secret),
        "anon": None,
    }
    clients = {
        caller: httpx.Client(base_url=server.url, auth=auth, timeout=30)
        for caller, auth in credentials.items()
    }
    yield Scene(project, other, public, start, ids, clients, robot.name)
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def openapi(server: SealyardServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.url}{API}/openapi.json").json()
    return document


def conforms(openapi: dict[str, Any], schema: str, value: Any) -> None:
    spec = openapi["components"]["schemas"][schema]
    assert isinstance(value, dict), value
    assert set(spec["required"]) <= set(value), (schema, value)
    assert set(value) <= set(spec["properties"]), (schema, value)


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return str(body["error"]["code"])


def concurrently(*requests: Callable[[], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda request: request(), requests))


def test_each_caller_sees_the_alerts_of_projects_they_can_pull(
    scene: Scene, openapi: dict[str, Any]
) -> None:
    callers = ("admin", "guest", "outsider", "robot", "anon")
    responses = dict(
        zip(
            callers,
            concurrently(
                *[lambda c=c: scene.get(c, since_id=scene.start, limit=1000) for c in callers]
            ),
            strict=True,
        )
    )
    ids = scene.ids
    everything = sorted(ids[scene.project] + ids[scene.other] + ids[scene.public])
    assert scene.ours(responses["admin"]) == everything
    assert scene.ours(responses["guest"]) == sorted(ids[scene.project] + ids[scene.public])
    assert scene.ours(responses["robot"]) == sorted(ids[scene.project] + ids[scene.public])
    assert scene.ours(responses["outsider"]) == ids[scene.public]
    assert error_code(responses["anon"], 401) == "UNAUTHORIZED"
    assert responses["anon"].headers["www-authenticate"] == 'Basic realm="sealyard"'
    for alert in responses["admin"].json():
        conforms(openapi, "Alert", alert)
    # Nobody but the admin ever sees the private project they are not in.
    for caller in ("guest", "outsider", "robot"):
        assert all(a["project"] != scene.other for a in responses[caller].json())


def test_project_filter_needs_pull_rights(scene: Scene) -> None:
    own, foreign, unknown, admin_foreign, outsider_own = concurrently(
        lambda: scene.get("guest", project=scene.project),
        lambda: scene.get("guest", project=scene.other),
        lambda: scene.get("guest", project="no-such-project"),
        lambda: scene.get("admin", project=scene.other),
        lambda: scene.get("outsider", project=scene.project),
    )
    assert [a["id"] for a in own.json()] == scene.ids[scene.project]
    assert error_code(foreign, 403) == "DENIED"
    assert error_code(unknown, 403) == "DENIED"  # existence is not revealed
    assert [a["id"] for a in admin_foreign.json()] == scene.ids[scene.other]
    assert error_code(outsider_own, 403) == "DENIED"


def test_filters_and_paging(scene: Scene) -> None:
    first, second = scene.ids[scene.project]
    crit, resolved, page, newest = concurrently(
        lambda: scene.get("guest", project=scene.project, min_rating="high"),
        lambda: scene.get("guest", project=scene.project, kind="resolved"),
        lambda: scene.get("guest", project=scene.project, since_id=first),
        lambda: scene.get("guest", project=scene.project, limit=1),
    )
    assert [a["id"] for a in crit.json()] == [first]
    assert [a["id"] for a in resolved.json()] == [second]
    assert [a["id"] for a in page.json()] == [second]
    assert [a["id"] for a in newest.json()] == [second]
    assert crit.json()[0]["ts"].endswith("Z")
    repo = scene.get("admin", repository=f"{scene.other}/app", since_id=scene.start).json()
    assert [a["id"] for a in repo] == scene.ids[scene.other]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since_id": "-1"}, "since_id"),
        ({"since_id": "²"}, "since_id"),
        ({"kind": "fixed"}, "kind"),
        ({"min_rating": "SEVERE"}, "rating"),
    ],
)
def test_bad_query_parameters_are_400(scene: Scene, params: dict[str, str], message: str) -> None:
    response = scene.get("admin", **params)
    assert error_code(response, 400) == "INVALID"
    assert message in response.json()["error"]["message"]


def test_webhooks_are_for_system_admins_only(scene: Scene, registry: Registry) -> None:
    body = {"name": "intruder", "url": NOWHERE}
    listed, created, deleted, anon = concurrently(
        lambda: scene.clients["guest"].get(f"{API}/webhooks"),
        lambda: scene.clients["robot"].post(f"{API}/webhooks", json=body),
        lambda: scene.clients["outsider"].delete(f"{API}/webhooks/anything"),
        lambda: scene.clients["anon"].get(f"{API}/webhooks"),
    )
    assert error_code(listed, 403) == "DENIED"
    assert error_code(created, 403) == "DENIED"
    assert error_code(deleted, 403) == "DENIED"
    assert error_code(anon, 401) == "UNAUTHORIZED"
    denied = registry.audit.query(action="webhook.create", actor=scene.robot)
    assert [e["outcome"] for e in denied] == ["denied"]
    assert "intruder" not in {w.name for w in WebhookService(registry.db).list()}


def test_webhook_create_list_delete(
    scene: Scene, registry: Registry, openapi: dict[str, Any]
) -> None:
    admin = scene.clients["admin"]
    name = f"hook-{scene.project}"
    created = admin.post(
        f"{API}/webhooks",
        json={"name": name, "url": NOWHERE, "project": scene.project, "min_rating": "high"},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    conforms(openapi, "WebhookCreated", hook)
    assert len(hook["secret"]) >= 40
    assert (hook["name"], hook["url"], hook["project"], hook["min_rating"]) == (
        name,
        NOWHERE,
        scene.project,
        "HIGH",
    )
    assert hook["kinds"] == ["new", "changed", "resolved"]
    assert hook["cursor"] >= max(max(v) for v in scene.ids.values())  # only future alerts

    listed = admin.get(f"{API}/webhooks")
    assert listed.status_code == 200
    mine = [w for w in listed.json() if w["name"] == name]
    assert len(mine) == 1
    conforms(openapi, "Webhook", mine[0])
    assert "secret" not in mine[0]
    assert hook["secret"] not in listed.text

    again = admin.post(f"{API}/webhooks", json={"name": name, "url": NOWHERE})
    assert error_code(again, 409) == "CONFLICT"

    assert admin.delete(f"{API}/webhooks/{name}").status_code == 204
    assert error_code(admin.delete(f"{API}/webhooks/{name}"), 404) == "NOT_FOUND"
    actions = [e["action"] for e in registry.audit.query(resource_prefix=f"webhook:{name}")]
    assert actions == ["webhook.delete", "webhook.create"]


def test_webhook_with_own_secret_and_replay(scene: Scene, registry: Registry) -> None:
    admin = scene.clients["admin"]
    name = f"replay-{scene.project}"
    created = admin.post(
        f"{API}/webhooks",
        json={
            "name": name,
            "url": NOWHERE,
            "secret": "a-secret-of-the-receiver",
            "kinds": ["resolved"],
            "since_id": scene.start,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["secret"], body["kinds"], body["cursor"]) == (
        "a-secret-of-the-receiver",
        ["resolved"],
        scene.start,
    )
    assert body["pending"] >= 4
    assert admin.delete(f"{API}/webhooks/{name}").status_code == 204


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"url": NOWHERE}, 400, "missing field(s): name"),
        ({"name": "x", "url": NOWHERE, "colour": "red"}, 400, "unknown field(s): colour"),
        ({"name": "x", "url": "ftp://example.com"}, 400, "http:// or https://"),
        ({"name": "x", "url": "http://u:p@example.com"}, 400, "credentials"),
        ({"name": "x", "url": 5}, 400, "must be a string"),
        ({"name": "Bad Name", "url": NOWHERE}, 400, "invalid webhook name"),
        ({"name": "x", "url": NOWHERE, "secret": "short"}, 400, "16 to 255"),
        ({"name": "x", "url": NOWHERE, "kinds": "new"}, 400, "'kinds'"),
        ({"name": "x", "url": NOWHERE, "kinds": []}, 400, "at least one"),
        ({"name": "x", "url": NOWHERE, "min_rating": "severe"}, 400, "unknown rating"),
        ({"name": "x", "url": NOWHERE, "since_id": True}, 400, "since_id"),
        ({"name": "x", "url": NOWHERE, "since_id": -3}, 400, "since_id"),
        ({"name": "x", "url": NOWHERE, "project": "no-such-project"}, 404, "no project"),
    ],
)
def test_webhook_create_refuses_bad_bodies(
    scene: Scene, registry: Registry, body: dict[str, Any], status: int, message: str
) -> None:
    response = scene.clients["admin"].post(f"{API}/webhooks", json=body)
    error_code(response, status)
    assert message in response.json()["error"]["message"]
    assert "x" not in {w.name for w in WebhookService(registry.db).list()}
