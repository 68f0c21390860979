"""The management API (``/api/v1``) against the real server.

Permission matrix of every endpoint family for eight callers (system admin, project-admin,
maintainer, developer, guest, outsider, robot, anonymous), the effects of allowed calls, the
audit trail, error bodies, and the OpenAPI document against the routes actually served.

Every authenticated request costs the server an Argon2 verification (the test server caches
nothing): each endpoint family gets the full eight-caller matrix once, repeated rules get a
smaller set, requests of one check run concurrently, and pushes use one Bearer token.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from sealyard.registry.app import Registry, create_app
from tests.fixtures.images import build_image, random_layer
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer, start_sealyard

pytestmark = pytest.mark.integration

API = "/api/v1"
CALLERS = ("admin", "padmin", "maintainer", "developer", "guest", "outsider", "robot", "anon")
MEMBER_ROLES = {
    "padmin": "project-admin",
    "maintainer": "maintainer",
    "developer": "developer",
    "guest": "guest",
}
BASIC = 'Basic realm="sealyard"'


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def password_of(name: str) -> str:
    return f"pw-{name}-secret"


@dataclass
class Cast:
    """One private project with a member of each role, plus an outsider and a robot."""

    server: SealyardServer
    project: str
    other: str  # private, nobody of the cast is a member
    public: str  # public, nobody of the cast is a member
    names: dict[str, str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, caller: str) -> httpx.Client:
        return self.clients[caller]

    def matrix(
        self,
        method: str,
        path: str,
        callers: tuple[str, ...] = CALLERS,
        body: Callable[[str], Any] | Any = None,
    ) -> dict[str, httpx.Response]:
        """The same request from each caller, concurrently; error bodies are checked."""

        def one(caller: str) -> httpx.Response:
            payload = body(caller) if callable(body) else body
            return self.clients[caller].request(method, API + path, json=payload)

        with ThreadPoolExecutor(len(callers)) as pool:
            responses = dict(zip(callers, pool.map(one, callers), strict=True))
        for response in responses.values():
            if response.status_code >= 400:
                assert_error(response)
        return responses


def statuses(responses: Mapping[str, httpx.Response]) -> dict[str, int]:
    return {caller: r.status_code for caller, r in responses.items()}


def expected(ok: int, allowed: set[str], callers: tuple[str, ...] = CALLERS) -> dict[str, int]:
    """``ok`` for allowed callers, 401 for an anonymous one, 403 for the rest."""
    return {c: ok if c in allowed else 401 if c == "anon" else 403 for c in callers}


def assert_error(response: httpx.Response, status: int | None = None, code: str = "") -> str:
    """Check the documented error shape; return the message."""
    codes = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND", 409: "CONFLICT", 400: "INVALID"}
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    want = code or codes.get(response.status_code)
    if want:
        assert body["error"]["code"] == want
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == BASIC
    return str(body["error"]["message"])


@pytest.fixture(scope="module")
def cast(server: SealyardServer, registry: Registry) -> Iterator[Cast]:
    accounts = registry.accounts
    project, other, public = fresh("mp"), fresh("mo"), fresh("mpub")
    accounts.create_project(project)
    accounts.create_project(other)
    accounts.create_project(public, public=True)
    names = {"admin": "admin", "anon": "anonymous"}
    credentials: dict[str, tuple[str, str] | None] = {"admin": ("admin", ADMIN_PASSWORD)}
    users = {caller: fresh("mu") for caller in (*MEMBER_ROLES, "outsider")}
    with ThreadPoolExecutor(len(users)) as pool:  # Argon2 hashing releases the GIL
        list(pool.map(lambda name: accounts.create_user(name, password_of(name)), users.values()))
    for caller, name in users.items():
        if caller in MEMBER_ROLES:
            accounts.set_member(project, name, MEMBER_ROLES[caller])
        names[caller] = name
        credentials[caller] = (name, password_of(name))
    robot = accounts.create_robot("ci", {project: ["pull", "push"]}, expires_in_days=1)
    names["robot"] = robot.name
    credentials["robot"] = (robot.name, robot.secret)
    credentials["anon"] = None
    c = Cast(server, project, other, public, names)
    for caller, auth in credentials.items():
        c.clients[caller] = httpx.Client(base_url=server.url, auth=auth, timeout=30)
    yield c
    for client in c.clients.values():
        client.close()


@pytest.fixture(scope="module")
def openapi(cast: Cast) -> dict[str, Any]:
    response = cast.client("anon").get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = json.loads(response.content)
    return document


def conforms(openapi: dict[str, Any], schema: str, value: Any) -> None:
    """``value`` has the required and no undocumented properties of a component schema."""
    spec = openapi["components"]["schemas"][schema]
    assert isinstance(value, dict), value
    assert set(spec["required"]) <= set(value), (schema, value)
    assert set(value) <= set(spec["properties"]), (schema, value)


def audit(registry: Registry, **filters: Any) -> list[dict[str, Any]]:
    """Audit events read from the database (no Argon2 round trip through the API)."""
    return registry.audit.query(
        limit=filters.pop("limit", 100), resource_prefix=filters.pop("resource", None), **filters
    )


def concurrently(*requests: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Independent requests at once (each costs the server an Argon2 verification)."""
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda request: request(), requests))


def push_image(
    server: SealyardServer, auth: tuple[str, str], repositories: list[str], tags: list[str]
) -> list[int]:
    """Push one small image to each repository using a single token (one Argon2 check).

    Returns, per repository, 201 or the status of the first refused request.
    """
    scopes = " ".join(f"repository:{repo}:pull,push" for repo in repositories)
    token = httpx.get(
        f"{server.url}/token", params={"service": "sealyard", "scope": scopes}, auth=auth
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    image = build_image([random_layer(256, seed=len(tags))])
    blobs = [(layer.digest, layer.data) for layer in image.layers]
    blobs.append((image.config_digest, image.config))

    def push(client: httpx.Client, repo: str) -> int:
        for digest, data in blobs:
            r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data)
            if r.status_code != 201:
                return r.status_code
        for tag in tags:
            r = client.put(
                f"/v2/{repo}/manifests/{tag}",
                content=image.manifest,
                headers={"Content-Type": image.media_type},
            )
            if r.status_code != 201:
                return r.status_code
        return 201

    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        return [push(client, repo) for repo in repositories]


# --- who am I, projects ------------------------------------------------------------------


def test_me(cast: Cast, openapi: dict[str, Any]) -> None:
    responses = cast.matrix("GET", "/me")
    assert statuses(responses) == expected(200, set(CALLERS) - {"anon"})
    for caller, r in responses.items():
        if caller == "anon":
            continue
        me = r.json()
        conforms(openapi, "Me", me)
        assert me["name"] == cast.names[caller]
        assert me["kind"] == ("robot" if caller == "robot" else "user")
        assert me["admin"] is (caller == "admin")
        roles = {cast.project: MEMBER_ROLES[caller]} if caller in MEMBER_ROLES else {}
        assert me["roles"] == roles
    assert responses["robot"].json()["permissions"] == {cast.project: ["pull", "push"]}


def test_reading_projects(cast: Cast, openapi: dict[str, Any]) -> None:
    listed = cast.matrix("GET", "/projects")
    assert statuses(listed) == dict.fromkeys(CALLERS, 200)
    seen = {c: {p["name"] for p in r.json()} for c, r in listed.items()}
    for caller in CALLERS:
        assert cast.public in seen[caller]
        assert (cast.project in seen[caller]) is (caller not in {"outsider", "anon"})
        assert (cast.other in seen[caller]) is (caller == "admin")
    for row in listed["padmin"].json():
        conforms(openapi, "Project", row)
    mine = next(p for p in listed["padmin"].json() if p["name"] == cast.project)
    assert (mine["role"], mine["public"]) == ("project-admin", False)
    assert mine["actions"] == ["admin", "delete", "pull", "push"]

    pullers = {"admin", "padmin", "maintainer", "developer", "guest", "robot"}
    one = cast.matrix("GET", f"/projects/{cast.project}")
    assert statuses(one) == expected(200, pullers)
    assert one["guest"].json()["actions"] == ["pull"]
    assert one["robot"].json()["actions"] == ["pull", "push"]
    # Public: anyone. Unknown: 404 only for whoever could see it, else the same as private.
    public = cast.matrix("GET", f"/projects/{cast.public}", ("outsider", "anon"))
    assert statuses(public) == {"outsider": 200, "anon": 200}
    callers = ("admin", "outsider", "anon")
    missing = cast.matrix("GET", f"/projects/{fresh('nope')}", callers)
    assert statuses(missing) == {"admin": 404, "outsider": 403, "anon": 401}


def test_changing_projects(cast: Cast, registry: Registry) -> None:
    patched = cast.matrix("PATCH", f"/projects/{cast.project}", body={"public": False})
    assert statuses(patched) == expected(200, {"admin", "padmin"})
    assert patched["padmin"].json()["public"] is False
    denied = audit(registry, action="project.update", actor=cast.names["developer"])
    assert [(e["resource"], e["outcome"]) for e in denied] == [
        (f"project:{cast.project}", "denied")
    ]

    wanted = {c: fresh("mnew") for c in CALLERS}
    callers = ("padmin", "robot", "anon", "admin")
    created = cast.matrix("POST", "/projects", callers, body=lambda c: {"name": wanted[c]})
    assert statuses(created) == expected(201, {"admin"}, callers)
    assert (created["admin"].json()["name"], created["admin"].json()["public"]) == (
        wanted["admin"],
        False,
    )
    for caller in callers:
        assert (registry.accounts.project(wanted[caller]) is not None) is (caller == "admin")

    # A project-admin may change visibility of their project, but not delete it.
    doomed = fresh("mdel")
    registry.accounts.create_project(doomed)
    registry.accounts.set_member(doomed, cast.names["padmin"], "project-admin")
    anon, path = cast.client("anon"), f"{API}/projects/{doomed}"
    assert_error(anon.get(path), 401)
    r = cast.client("padmin").patch(path, json={"public": True})
    assert (r.status_code, r.json()["public"]) == (200, True)
    assert anon.get(path).json()["actions"] == ["pull"]
    assert doomed in {p["name"] for p in anon.get(f"{API}/projects").json()}
    refused = ("padmin", "outsider", "anon")
    assert statuses(cast.matrix("DELETE", f"/projects/{doomed}", refused)) == expected(
        204, set(), refused
    )
    assert registry.accounts.project(doomed) is not None
    r = cast.client("admin").delete(path)
    assert (r.status_code, r.content) == (204, b"")
    assert registry.accounts.project(doomed) is None
    assert_error(cast.client("admin").delete(path), 404)

    events = audit(registry, resource=f"project:{doomed}")
    summary = [(e["action"], e["actor"], e["outcome"]) for e in events]
    assert summary[0] == ("project.delete", "admin", "success")
    assert sorted(summary[1:3]) == sorted(
        ("project.delete", cast.names[c], "denied") for c in ("padmin", "outsider")
    )
    assert summary[3:] == [("project.update", cast.names["padmin"], "success")]
    assert (events[3]["detail"], events[3]["remote_addr"]) == ({"public": True}, "127.0.0.1")


# --- members -------------------------------------------------------------------------------


def test_members(
    cast: Cast,
    registry: Registry,
    openapi: dict[str, Any],
    make_user: Callable[..., tuple[str, str]],
) -> None:
    members = cast.matrix("GET", f"/projects/{cast.project}/members")
    assert statuses(members) == expected(200, {"admin", *MEMBER_ROLES})
    for row in members["guest"].json():
        conforms(openapi, "Member", row)
    listed = {m["username"]: m["role"] for m in members["guest"].json()}
    assert listed == {cast.names[c]: role for c, role in MEMBER_ROLES.items()}
    # Pull rights alone (a public project) do not reveal who the members are.
    public = cast.matrix("GET", f"/projects/{cast.public}/members", ("outsider", "anon"))
    assert statuses(public) == {"outsider": 403, "anon": 401}

    user, password = make_user()
    path = f"/projects/{cast.project}/members/{user}"
    added = cast.matrix("PUT", path, body={"role": "developer"})
    assert statuses(added) == expected(200, {"admin", "padmin"})
    assert added["padmin"].json() == {"username": user, "role": "developer"}
    padmin = cast.client("padmin")
    with httpx.Client(base_url=cast.server.url, auth=(user, password), timeout=30) as as_user:
        assert as_user.get(f"{API}/projects/{cast.project}").json()["actions"] == ["pull", "push"]
        # No granting in another project, not even to themselves.
        elsewhere, promote = concurrently(
            lambda: padmin.put(
                f"{API}/projects/{cast.other}/members/{user}", json={"role": "guest"}
            ),
            lambda: padmin.put(
                f"{API}/projects/{cast.other}/members/{cast.names['padmin']}",
                json={"role": "project-admin"},
            ),
        )
        assert_error(elsewhere, 403)
        assert_error(promote, 403)
        assert registry.accounts.list_members(cast.other) == []
        callers = ("maintainer", "robot", "anon", "padmin")
        removed = cast.matrix("DELETE", path, callers)
        assert statuses(removed) == expected(204, {"padmin"}, callers)
        assert_error(as_user.get(f"{API}/projects/{cast.project}"), 403)

    events = audit(registry, resource=f"project:{cast.project}", actor=cast.names["padmin"])
    assert [(e["action"], e["detail"], e["outcome"]) for e in events[:2]] == [
        ("member.remove", {"user": user}, "success"),
        ("member.set", {"user": user, "role": "developer"}, "success"),
    ]
    denied = audit(
        registry, resource=f"project:{cast.other}", actor=cast.names["padmin"], action="member.set"
    )
    assert [e["outcome"] for e in denied] == ["denied", "denied"]


# --- robots and repositories ---------------------------------------------------------------


def test_robots(cast: Cast, registry: Registry, openapi: dict[str, Any]) -> None:
    base = f"/projects/{cast.project}/robots"
    listing = cast.matrix("GET", base)
    assert statuses(listing) == expected(200, {"admin", "padmin"})
    assert cast.names["robot"] in {r["name"] for r in listing["padmin"].json()}

    short = {c: fresh("bot") for c in CALLERS}
    spec = {"actions": ["push", "pull"], "expires_days": 1, "description": "deploys"}
    created = cast.matrix("POST", base, body=lambda c: {"name": short[c], **spec})
    assert statuses(created) == expected(201, {"admin", "padmin"})
    robots = {r["name"] for r in registry.accounts.list_robots()}
    for caller, name in short.items():
        assert (f"robot${cast.project}+{name}" in robots) is (caller in {"admin", "padmin"})
    made = created["padmin"].json()
    conforms(openapi, "RobotCreated", made)
    assert made["name"] == f"robot${cast.project}+{short['padmin']}"
    assert made["actions"] == ["pull", "push"]
    assert abs(made["expires_at"] - (time.time() + 86400)) < 120
    padmin = cast.client("padmin")
    duplicate, elsewhere = concurrently(
        lambda: padmin.post(API + base, json={"name": short["padmin"]}),
        lambda: padmin.post(f"{API}/projects/{cast.other}/robots", json={"name": "x"}),
    )
    assert_error(duplicate, 409)
    assert_error(elsewhere, 403)
    assert not [r for r in registry.accounts.list_robots() if cast.other in r["permissions"]]

    # The secret works with the registry, in that project only.
    robot_auth = (made["name"], made["secret"])
    assert httpx.get(f"{cast.server.url}/v2/", auth=robot_auth).status_code == 200
    pushed = push_image(
        cast.server, robot_auth, [f"{cast.project}/app", f"{cast.other}/app"], ["1", "2"]
    )
    assert pushed == [201, 403]
    repos = padmin.get(f"{API}/projects/{cast.project}/repositories").json()
    assert [(r["name"], r["tags"]) for r in repos] == [(f"{cast.project}/app", 2)]
    conforms(openapi, "Repository", repos[0])

    # Listed without secrets; only robots scoped to exactly this project.
    multi = registry.accounts.create_robot(
        fresh("multi"), {cast.project: ["pull"], cast.other: ["pull"]}
    )
    foreign = registry.accounts.create_robot("ci", {cast.other: ["pull"]})
    strangers = (multi.name, foreign.name)
    listed = padmin.get(API + base).json()
    assert all("secret" not in row for row in listed)
    mine = next(row for row in listed if row["name"] == made["name"])
    conforms(openapi, "Robot", mine)
    assert (mine["created_by"], mine["description"]) == (cast.names["padmin"], "deploys")
    assert not set(strangers) & {row["name"] for row in listed}
    for response in concurrently(
        *(lambda n=n: padmin.delete(f"{API}{base}/{n}") for n in strangers)
    ):
        assert_error(response, 404)
    assert set(strangers) <= {r["name"] for r in registry.accounts.list_robots()}

    callers = ("maintainer", "robot", "anon", "padmin")
    deleted = cast.matrix("DELETE", f"{base}/{short['padmin']}", callers)  # short name works
    assert statuses(deleted) == expected(204, {"padmin"}, callers)
    assert_error(httpx.get(f"{cast.server.url}{API}/me", auth=robot_auth), 401)
    full_name = created["admin"].json()["name"]
    assert cast.client("admin").delete(f"{API}{base}/{full_name}").status_code == 204

    events = audit(registry, resource=f"robot:{made['name']}")
    assert [(e["action"], e["actor"]) for e in events] == [
        ("robot.delete", cast.names["padmin"]),
        ("robot.create", cast.names["padmin"]),
    ]
    assert events[1]["detail"] == {"permissions": {cast.project: ["pull", "push"]}}


def test_repositories(cast: Cast) -> None:
    pullers = {"admin", "padmin", "maintainer", "developer", "guest", "robot"}
    listed = cast.matrix("GET", f"/projects/{cast.project}/repositories")
    assert statuses(listed) == expected(200, pullers)
    assert all(isinstance(r.json(), list) for r in listed.values() if r.status_code == 200)
    public = cast.matrix("GET", f"/projects/{cast.public}/repositories", ("anon",))
    assert (public["anon"].status_code, public["anon"].json()) == (200, [])


# --- users -----------------------------------------------------------------------------------


def test_users(cast: Cast, registry: Registry, openapi: dict[str, Any]) -> None:
    listing = cast.matrix("GET", "/users")
    assert statuses(listing) == expected(200, {"admin"})
    assert cast.names["guest"] in {u["username"] for u in listing["admin"].json()}
    for row in listing["admin"].json():
        conforms(openapi, "User", row)

    wanted = {c: fresh("mnu") for c in CALLERS}
    callers = ("padmin", "robot", "anon", "admin")
    created = cast.matrix(
        "POST",
        "/users",
        callers,
        body=lambda c: {"username": wanted[c], "password": password_of(c)},
    )
    assert statuses(created) == expected(201, {"admin"}, callers)
    conforms(openapi, "UserCreated", created["admin"].json())
    users = {u["username"] for u in registry.accounts.list_users()}
    for caller in callers:
        assert (wanted[caller] in users) is (caller == "admin")
    events = audit(registry, action="user.create", resource=f"user:{wanted['admin']}")
    assert [(e["actor"], e["detail"]) for e in events] == [("admin", {"admin": False})]

    # Someone else's password: system admins only, no old password needed.
    new_user = wanted["admin"]
    changed = cast.matrix(
        "PUT", f"/users/{new_user}/password", body={"new_password": "set-by-the-admin"}
    )
    assert statuses(changed) == expected(204, {"admin"})
    me = httpx.get(f"{cast.server.url}{API}/me", auth=(new_user, "set-by-the-admin"))
    assert me.json()["name"] == new_user


def test_own_password_needs_the_old_one(
    cast: Cast, registry: Registry, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, password = make_user()
    path = f"{API}/users/{user}/password"
    new = "brand-new-secret"
    with httpx.Client(base_url=cast.server.url, auth=(user, password), timeout=30) as client:
        missing, wrong, short, others = concurrently(
            lambda: client.put(path, json={"new_password": new}),
            lambda: client.put(path, json={"old_password": "not-it-at-all", "new_password": new}),
            lambda: client.put(path, json={"old_password": password, "new_password": "short"}),
            lambda: client.put(
                f"{API}/users/{cast.names['guest']}/password",
                json={"old_password": password, "new_password": new},
            ),
        )
        assert "old_password" in assert_error(missing, 400)
        assert "wrong" in assert_error(wrong, 403)
        assert "8 characters" in assert_error(short, 400)
        assert_error(others, 403)
        good = {"old_password": password, "new_password": new}
        assert client.put(path, json=good).status_code == 204
        assert_error(client.get(f"{API}/me"), 401)
    assert httpx.get(f"{cast.server.url}{API}/me", auth=(user, new)).json()["name"] == user
    events = audit(registry, action="user.password", resource=f"user:{user}")
    assert [(e["actor"], e["outcome"]) for e in events] == [(user, "success"), (user, "denied")]


# --- audit log ---------------------------------------------------------------------------------


def test_audit_log(cast: Cast, registry: Registry, openapi: dict[str, Any]) -> None:
    # Events of a project whose name extends this one's must stay out of its log.
    lookalike = f"{cast.project}x"
    registry.audit.record("admin", "project.update", f"project:{cast.project}")
    registry.audit.record("admin", "robot.create", f"robot:robot${cast.project}+audit")
    registry.audit.record("admin", "project.create", f"project:{lookalike}")
    registry.audit.record("admin", "push", f"{lookalike}/app:1")
    registry.audit.record("admin", "robot.create", f"robot:robot${lookalike}+ci")
    registry.audit.record("admin", "push", f"{cast.project}/app:audit")

    callers = ("admin", "padmin", "robot", "anon")
    everything = cast.matrix("GET", "/audit-log?limit=3", callers)
    assert statuses(everything) == expected(200, {"admin"}, callers)
    assert [e["resource"] for e in everything["admin"].json()] == [
        f"{cast.project}/app:audit",
        f"robot:robot${lookalike}+ci",
        f"{lookalike}/app:1",
    ]
    scoped = cast.matrix("GET", f"/audit-log?project={cast.project}")
    assert statuses(scoped) == expected(200, {"admin", "padmin"})
    events = scoped["padmin"].json()
    assert events == scoped["admin"].json()
    assert events[0]["resource"] == f"{cast.project}/app:audit"
    for event in events:
        conforms(openapi, "AuditEvent", event)
        resource = event["resource"]
        assert (
            resource == f"project:{cast.project}"
            or resource.startswith(f"{cast.project}/")
            or resource.startswith(f"robot:robot${cast.project}+")
        ), event
    assert {f"project:{cast.project}", f"robot:robot${cast.project}+audit"} <= {
        e["resource"] for e in events
    }

    padmin = cast.client("padmin")
    filtered, other, *bad = concurrently(
        lambda: padmin.get(
            f"{API}/audit-log",
            params={"project": cast.project, "action": "project.update", "limit": "1"},
        ),
        lambda: padmin.get(f"{API}/audit-log", params={"project": cast.other}),
        *(
            lambda v=v: padmin.get(f"{API}/audit-log", params={"project": cast.project, "limit": v})
            for v in ("0", "1001", "many", "²", "9" * 5000)
        ),
    )
    assert [e["action"] for e in filtered.json()] == ["project.update"]
    assert_error(other, 403)
    for response in bad:
        assert "limit" in assert_error(response, 400)


# --- authentication and errors -------------------------------------------------------------


def test_bearer_tokens_and_bad_credentials_are_refused(cast: Cast, registry: Registry) -> None:
    token = cast.client("admin").get(
        "/token", params={"service": "sealyard", "scope": f"repository:{cast.project}/app:pull"}
    )
    assert token.status_code == 200
    anon = cast.client("anon")
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    assert "Basic" in assert_error(anon.get(f"{API}/me", headers=bearer), 401)
    assert_error(anon.get(f"{API}/me", headers={"Authorization": "Basic !!!"}), 401)
    wrong = httpx.get(f"{cast.server.url}{API}/me", auth=("admin", "wrong-password"))
    assert_error(wrong, 401)
    failures = audit(registry, action="login", resource="api", limit=3)
    assert ("admin", "failure") in [(e["actor"], e["outcome"]) for e in failures]


def test_failed_logins_are_throttled_like_the_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("strict-api") / "data"
    with start_sealyard(data, login_failures_per_minute=2) as strict:
        url, guess = f"{strict.url}{API}/me", ("victim", "wrong-guess")
        for _ in range(2):
            assert_error(httpx.get(url, auth=guess), 401)
        locked = httpx.get(url, auth=guess)
        assert "failed logins" in assert_error(locked, 429, "TOO_MANY_REQUESTS")
        assert int(locked.headers["retry-after"]) > 0
        # One lockout for both APIs: the registry refuses the account too.
        r = httpx.get(f"{strict.url}/v2/", auth=guess)
        assert (r.status_code, r.json()["errors"][0]["code"]) == (429, "TOOMANYREQUESTS")


def test_error_bodies(cast: Cast, registry: Registry) -> None:
    admin, anon = cast.client("admin"), cast.client("anon")
    full = fresh("mfull")
    registry.accounts.create_project(full)
    assert push_image(cast.server, ("admin", ADMIN_PASSWORD), [f"{full}/app"], ["1"]) == [201]
    projects, json_type = f"{API}/projects", {"Content-Type": "application/json"}
    members = f"{API}/projects/{cast.project}/members"
    robots = f"{API}/projects/{cast.project}/robots"
    # (method, url, request arguments, status, code, part of the message)
    cases: list[tuple[str, str, dict[str, Any], int, str, str]] = [
        ("POST", projects, {"content": b"{not json", "headers": json_type}, 400, "", "JSON"),
        ("POST", projects, {"content": b"[1, 2]", "headers": json_type}, 400, "", "object"),
        ("POST", projects, {"content": b"[" * 50_000, "headers": json_type}, 400, "", "JSON"),
        ("POST", projects, {"content": b" " * 70_000}, 413, "TOO_LARGE", "exceeds"),
        ("POST", projects, {"json": {"name": fresh("m"), "publik": True}}, 400, "", "publik"),
        ("POST", projects, {"json": {"name": fresh("m"), "public": "yes"}}, 400, "", "public"),
        ("POST", projects, {"json": {"name": "Bad Name"}}, 400, "", "Bad Name"),
        ("POST", projects, {"json": {"name": cast.project}}, 409, "", "exists"),
        ("DELETE", f"{projects}/{full}", {}, 409, "", "repositories"),
        ("PUT", f"{members}/{cast.names['guest']}", {"json": {"role": "owner"}}, 400, "", "role"),
        ("PUT", f"{members}/{fresh('ghost')}", {"json": {"role": "guest"}}, 404, "", "ghost"),
        (
            "POST",
            robots,
            {"json": {"name": "x", "actions": ["admin", ["pull"]]}},
            400,
            "",
            "actions",
        ),
        ("POST", robots, {"json": {"name": "x", "expires_days": 0}}, 400, "", "expires_days"),
        ("POST", robots, {"json": {"name": "Bad$Name"}}, 400, "", "Bad$Name"),
        (
            "PUT",
            f"{API}/users/{fresh('ghost')}/password",
            {"json": {"new_password": "long-enough"}},
            404,
            "",
            "ghost",
        ),
    ]

    def send(case: tuple[str, str, dict[str, Any], int, str, str]) -> Callable[[], httpx.Response]:
        return lambda: admin.request(case[0], case[1], **case[2])

    for case, response in zip(cases, concurrently(*map(send, cases)), strict=True):
        method, url, _, status, code, text = case
        assert text in assert_error(response, status, code), (method, url)
    # Routing errors come before authentication, in the same shape.
    assert "endpoint" in assert_error(anon.get(f"{API}/nothing-here"), 404)
    r = anon.put(projects)
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


# --- OpenAPI ----------------------------------------------------------------------------


def served_routes(registry: Registry) -> set[tuple[str, str]]:
    """``(path, method)`` of every route the application serves under /api/v1."""
    app = create_app(registry)
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == API]
    assert len(mounts) == 1
    served = set()
    for route in mounts[0].routes:
        assert isinstance(route, Route)
        assert route.methods
        served |= {(route.path, m.lower()) for m in route.methods if m != "HEAD"}
    return served


def documented_operations(openapi: dict[str, Any]) -> set[tuple[str, str]]:
    verbs = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {(p, m) for p, item in openapi["paths"].items() for m in item if m in verbs}


def test_openapi_lists_exactly_the_served_routes(
    openapi: dict[str, Any], registry: Registry
) -> None:
    served = served_routes(registry)
    assert len(served) == 23
    assert documented_operations(openapi) == served


def test_openapi_document_is_consistent(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1.")
    assert openapi["servers"] == [{"url": API}]
    assert openapi["components"]["securitySchemes"] == {
        "basic": {"type": "http", "scheme": "basic"}
    }
    assert openapi["security"] == [{"basic": []}]

    def resolve(pointer: str) -> Any:
        assert pointer.startswith("#/")
        node: Any = openapi
        for part in pointer[2:].split("/"):
            node = node[part]
        return node

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    refs = set(walk(openapi))
    assert refs
    for ref in refs:
        assert isinstance(resolve(ref), dict), ref
    ids = []
    for path, item in openapi["paths"].items():
        params = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert params == set(path.replace("}", "{").split("{")[1::2]), path
        for method, op in item.items():
            if method == "parameters":
                continue
            ids.append(op["operationId"])
            assert op["responses"], (path, method)
            assert any(code.startswith("2") for code in op["responses"]), (path, method)
            if method in {"post", "put", "patch"}:
                assert "requestBody" in op, (path, method)
            if op.get("security") != []:
                assert "401" in op["responses"], (path, method)
    assert len(ids) == len(set(ids))


def test_every_documented_operation_is_answered(cast: Cast, openapi: dict[str, Any]) -> None:
    """Anonymous calls reach each documented handler: 200 or 401, never 404/405."""
    anon = cast.client("anon")
    for path, method in sorted(documented_operations(openapi)):
        url = API + path.format(project=cast.public, username="someone", name="bot")
        r = anon.request(
            method.upper(), url, json={} if method in {"post", "put", "patch"} else None
        )
        required = [
            q["name"]
            for q in openapi["paths"][path][method].get("parameters", [])
            if q.get("in") == "query" and q.get("required")
        ]
        if r.status_code == 400 and required:
            continue  # reached the handler, which wants its required query parameters
        if r.status_code != 200:
            assert_error(r, 401)
