"""The JSON management API under ``/api/v1``: projects, members, robots, users, audit log,
alerts and webhooks.

Harbor's model: a project-admin manages their own project (visibility, members, robot
accounts) without shell access; system admins manage everything. Only HTTP Basic
credentials of users and robots are accepted (registry Bearer tokens are scoped to
repositories, not to this API). Every change is written to the audit log under the action
names the CLI uses. ``GET /api/v1/openapi.json`` describes every route (see :mod:`.openapi`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sealyard.db.models import AuditEvent, Project, Repository, Tag
from sealyard.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    SealyardError,
    UntrustedDataError,
    UsageError,
)
from sealyard.monitor.alerts import KINDS, AlertQuery
from sealyard.monitor.alerts import MAX_LIMIT as MAX_ALERTS_LIMIT
from sealyard.monitor.webhooks import WebhookService
from sealyard.oci.names import project_of
from sealyard.registry.accounts import ROBOT_PREFIX
from sealyard.registry.auth import parse_basic
from sealyard.registry.openapi import openapi_document
from sealyard.registry.rbac import ROBOT_ACTIONS, ROLES, Principal, actions_for

if TYPE_CHECKING:
    from sealyard.registry.app import Registry

__all__ = ["ApiError", "ManagementAPI", "management_app"]

MAX_BODY = 64 * 1024
MAX_AUDIT_LIMIT = 1000
BASIC_CHALLENGE = 'Basic realm="sealyard"'
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_LIMIT = re.compile(r"[0-9]{1,4}")  # not str.isdigit: it accepts "²", which int() refuses
_ID = re.compile(r"[0-9]{1,18}")
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFoundError, 404, "NOT_FOUND"),
    (ConflictError, 409, "CONFLICT"),
    (UsageError, 400, "INVALID"),
    (UntrustedDataError, 400, "INVALID"),
    (AuthenticationError, 401, "UNAUTHORIZED"),
    (PermissionDeniedError, 403, "DENIED"),
)


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with HTTP ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = {"WWW-Authenticate": BASIC_CHALLENGE} if status == 401 else {}
        self.headers.update(headers or {})

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, self.status, headers=self.headers)


def to_api_error(exc: Exception) -> ApiError:
    """The API error for an exception raised while serving a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, HTTPException):
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "INVALID")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return ApiError(exc.status_code, code, message, dict(exc.headers or {}))
    for kind, status, code in _ERRORS:
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc))
    return ApiError(500, "INTERNAL", "internal error")


async def _handle(_request: Request, exc: Exception) -> Response:
    return to_api_error(exc).response()


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID", message)


@dataclass(frozen=True)
class Call:
    """One request: who sent it, from where, and its JSON body (``{}`` when none)."""

    request: Request
    principal: Principal
    remote: str
    body: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name) or None

    def fields(self, allowed: set[str], required: frozenset[str] = frozenset()) -> None:
        """Refuse unknown and missing body fields (typos must not be silently ignored)."""
        unknown = sorted(set(self.body) - allowed)
        if unknown:
            raise _invalid(f"unknown field(s): {', '.join(unknown)}")
        missing = sorted(required - set(self.body))
        if missing:
            raise _invalid(f"missing field(s): {', '.join(missing)}")

    def str_field(self, key: str) -> str:
        value = self.body.get(key)
        if not isinstance(value, str):
            raise _invalid(f"field {key!r} must be a string")
        return value

    def bool_field(self, key: str, default: bool = False) -> bool:
        value = self.body.get(key, default)
        if not isinstance(value, bool):
            raise _invalid(f"field {key!r} must be true or false")
        return value


Handler = Callable[[Call], Response]


async def _read_json(request: Request) -> dict[str, Any]:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ApiError(413, "TOO_LARGE", f"request body exceeds {MAX_BODY} bytes")
    if not data.strip():
        return {}
    try:
        value = json.loads(bytes(data))
    except (ValueError, RecursionError) as exc:
        raise _invalid("request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise _invalid("request body must be a JSON object")
    return value


def _no_content() -> Response:
    return Response(status_code=204)


class ManagementAPI:
    """Handlers of the management API; each runs in the thread pool (they block)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.accounts = registry.accounts

    def routes(self) -> list[Route]:
        r = self._route
        return [
            Route("/openapi.json", self.openapi, methods=["GET"]),
            r("/me", GET=self.me),
            r("/projects", GET=self.list_projects, POST=self.create_project),
            r(
                "/projects/{project}",
                GET=self.get_project,
                PATCH=self.update_project,
                DELETE=self.delete_project,
            ),
            r("/projects/{project}/members", GET=self.list_members),
            r(
                "/projects/{project}/members/{username}",
                PUT=self.set_member,
                DELETE=self.remove_member,
            ),
            r("/projects/{project}/robots", GET=self.list_robots, POST=self.create_robot),
            r("/projects/{project}/robots/{name}", DELETE=self.delete_robot),
            r("/projects/{project}/repositories", GET=self.list_repositories),
            r("/projects/{project}/findings", GET=self.findings),
            r("/users", GET=self.list_users, POST=self.create_user),
            r("/users/{username}/password", PUT=self.set_password),
            r("/audit-log", GET=self.audit_log),
            r("/alerts", GET=self.list_alerts),
            r("/webhooks", GET=self.list_webhooks, POST=self.create_webhook),
            r("/webhooks/{name}", DELETE=self.delete_webhook),
        ]

    def _route(self, path: str, **handlers: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            remote = request.client.host if request.client else ""
            principal = await run_in_threadpool(self._identify, request, remote)
            body = await _read_json(request) if method in _WITH_BODY else {}
            return await run_in_threadpool(handlers[method], Call(request, principal, remote, body))

        return Route(path, endpoint, methods=list(handlers))

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(openapi_document())

    # authentication and authorization
    def _identify(self, request: Request, remote: str) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            return Principal.anonymous()
        user = "?"
        throttle = self.registry.authenticator.throttle
        try:
            if header.partition(" ")[0].lower() != "basic":
                raise AuthenticationError(
                    "the management API accepts only Basic credentials, not registry tokens"
                )
            credentials = parse_basic(header)
            assert credentials is not None
            user = credentials[0]
            self._check_throttle(remote, user)
            try:
                principal = self.accounts.authenticate(*credentials)
            except AuthenticationError:
                throttle.failed(remote, user)
                raise
            throttle.succeeded(remote, user)
            return principal
        except AuthenticationError as exc:
            self.registry.audit.record(
                user[:128] or "?",
                "login",
                "api",
                outcome="failure",
                remote_addr=remote,
                reason=str(exc),
            )
            raise

    def _check_throttle(self, remote: str, account: str) -> None:
        """429 while ``remote`` is locked out after failed logins (shared with ``/v2/``)."""
        wait = self.registry.authenticator.throttle.retry_after(remote, account)
        if wait > 0:
            seconds = str(int(wait) + 1)
            message = f"too many failed logins from {remote}; retry in {seconds} s"
            raise ApiError(429, "TOO_MANY_REQUESTS", message, {"Retry-After": seconds})

    def _audit(self, call: Call, action: str, resource: str, **detail: Any) -> None:
        self.registry.audit.record(
            call.principal.name, action, resource, remote_addr=call.remote, **detail
        )

    def _deny(self, call: Call, message: str, action: str | None, resource: str) -> ApiError:
        if call.principal.is_anonymous:
            return ApiError(401, "UNAUTHORIZED", "authentication required")
        if action is not None:
            self.registry.audit.record(
                call.principal.name, action, resource, outcome="denied", remote_addr=call.remote
            )
        return ApiError(403, "DENIED", message)

    def _need_login(self, call: Call) -> None:
        if call.principal.is_anonymous:
            raise ApiError(401, "UNAUTHORIZED", "authentication required")

    def _need_system_admin(self, call: Call, action: str | None, resource: str) -> None:
        if not call.principal.is_admin:
            raise self._deny(call, "only system administrators may do this", action, resource)

    def _need_project(
        self, call: Call, right: str, action: str | None = None, *, name: str | None = None
    ) -> str:
        """The project (default: named in the path), if the caller may ``right`` in it.

        Callers without the right get 403 (401 if anonymous) whether or not the project
        exists, so its existence is not revealed; those with it get 404 if it is gone.
        """
        name = call.path("project") if name is None else name
        info = self.accounts.project(name)
        allowed = actions_for(call.principal, name, public=info is not None and info.public)
        if right not in allowed:
            message = (
                f"{call.principal.name} may not {right} in project {name!r} "
                "(it does not exist or the role does not allow it)"
            )
            raise self._deny(call, message, action, f"project:{name}")
        if info is None:
            raise NotFoundError(f"no project {name!r}")
        return name

    # who am I
    def me(self, call: Call) -> Response:
        self._need_login(call)
        p = call.principal
        out: dict[str, Any] = {
            "name": p.name,
            "kind": p.kind,
            "admin": p.is_admin,
            "roles": dict(sorted(p.roles.items())),
        }
        if p.kind == "robot":
            out["permissions"] = {k: sorted(v) for k, v in sorted(p.robot_permissions.items())}
        return JSONResponse(out)

    # projects
    def _project_json(self, call: Call, row: dict[str, Any]) -> dict[str, Any]:
        actions = actions_for(call.principal, row["name"], public=row["public"])
        return {
            "name": row["name"],
            "public": row["public"],
            "created_at": row["created_at"],
            "role": call.principal.roles.get(row["name"]),
            "actions": sorted(actions),
        }

    def _project_row(self, name: str) -> dict[str, Any]:
        for row in self.accounts.list_projects():
            if row["name"] == name:
                return row
        raise NotFoundError(f"no project {name!r}")

    def list_projects(self, call: Call) -> Response:
        rows = [self._project_json(call, row) for row in self.accounts.list_projects()]
        return JSONResponse([row for row in rows if row["actions"]])

    def create_project(self, call: Call) -> Response:
        self._need_system_admin(call, "project.create", "projects")
        call.fields({"name", "public"}, frozenset({"name"}))
        name, public = call.str_field("name"), call.bool_field("public")
        self.accounts.create_project(name, public=public)
        self._audit(call, "project.create", f"project:{name}", public=public)
        return JSONResponse(self._project_json(call, self._project_row(name)), 201)

    def get_project(self, call: Call) -> Response:
        """The project; its settings too for callers granted anything in it (not merely
        pulling a public project: the allowlist's reasons are the project's business)."""
        name = self._need_project(call, "pull")
        out = self._project_json(call, self._project_row(name))
        if actions_for(call.principal, name, public=False):
            out["settings"] = self.accounts.project_settings(name).to_dict()
        return JSONResponse(out)

    def update_project(self, call: Call) -> Response:
        """Change visibility and/or settings; ``settings`` holds only the settings to change."""
        name = self._need_project(call, "admin", "project.update")
        call.fields({"public", "settings"})
        if not call.body:
            raise _invalid("missing field(s): public and/or settings")
        public = call.bool_field("public") if "public" in call.body else None
        changes = call.body.get("settings", {})
        if not isinstance(changes, dict):
            raise _invalid("field 'settings' must be an object of the settings to change")
        settings = self.accounts.update_project(name, public=public, settings=changes)
        detail: dict[str, Any] = {} if public is None else {"public": public}
        if "settings" in call.body:
            shown = settings.to_dict()
            detail["settings"] = {k: shown[k] for k in changes}
        self._audit(call, "project.update", f"project:{name}", **detail)
        out = self._project_json(call, self._project_row(name))
        out["settings"] = settings.to_dict()
        return JSONResponse(out)

    def delete_project(self, call: Call) -> Response:
        name = call.path("project")
        self._need_system_admin(call, "project.delete", f"project:{name}")
        self.accounts.delete_project(name)
        self._audit(call, "project.delete", f"project:{name}")
        return _no_content()

    # members
    def list_members(self, call: Call) -> Response:
        name = call.path("project")
        p = call.principal
        if not (p.is_admin or (p.kind == "user" and name in p.roles)):
            raise self._deny(call, f"only members of {name!r} may list its members", None, "")
        return JSONResponse(self.accounts.list_members(name))

    def set_member(self, call: Call) -> Response:
        project = self._need_project(call, "admin", "member.set")
        username = call.path("username")
        call.fields({"role"}, frozenset({"role"}))
        role = call.str_field("role")
        if role not in ROLES:
            raise _invalid(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        self.accounts.set_member(project, username, role)
        self._audit(call, "member.set", f"project:{project}", user=username, role=role)
        return JSONResponse({"username": username, "role": role})

    def remove_member(self, call: Call) -> Response:
        project = self._need_project(call, "admin", "member.remove")
        username = call.path("username")
        self.accounts.remove_member(project, username)
        self._audit(call, "member.remove", f"project:{project}", user=username)
        return _no_content()

    # robots
    def _project_robots(self, project: str) -> dict[str, dict[str, Any]]:
        """Robots whose grants cover exactly ``project``, by full name."""
        return {
            r["name"]: {
                "name": r["name"],
                "actions": sorted(r["permissions"][project]),
                "expires_at": r["expires_at"],
                "disabled": r["disabled"],
                "description": r["description"],
                "created_by": r["created_by"],
            }
            for r in self.accounts.list_robots()
            if set(r["permissions"]) == {project}
        }

    def list_robots(self, call: Call) -> Response:
        project = self._need_project(call, "admin")
        return JSONResponse(list(self._project_robots(project).values()))

    def create_robot(self, call: Call) -> Response:
        project = self._need_project(call, "admin", "robot.create")
        call.fields({"name", "actions", "expires_days", "description"}, frozenset({"name"}))
        name = call.str_field("name")
        actions = call.body.get("actions", ["pull"])
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, str) and a in ROBOT_ACTIONS for a in actions)
        ):
            raise _invalid(
                f"'actions' must be a non-empty list of {', '.join(sorted(ROBOT_ACTIONS))}"
            )
        days = call.body.get("expires_days", 30)
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not math.isfinite(days)
            or days <= 0
        ):
            raise _invalid("'expires_days' must be a positive number, or null for never")
        description = call.body.get("description", "")
        if not isinstance(description, str):
            raise _invalid("field 'description' must be a string")
        created = self.accounts.create_robot(
            name,
            {project: actions},
            expires_in_days=days,
            description=description,
            created_by=call.principal.name,
        )
        grant = {project: sorted(set(actions))}
        self._audit(call, "robot.create", f"robot:{created.name}", permissions=grant)
        body = {
            "name": created.name,
            "secret": created.secret,
            "expires_at": created.expires_at,
            "actions": grant[project],
        }
        return JSONResponse(body, 201)

    def delete_robot(self, call: Call) -> Response:
        project = self._need_project(call, "admin", "robot.delete")
        name = call.path("name")
        full = name if name.startswith(ROBOT_PREFIX) else f"{ROBOT_PREFIX}{project}+{name}"
        if full not in self._project_robots(project):
            raise NotFoundError(f"no robot {name!r} in project {project!r}")
        self.accounts.delete_robot(full)
        self._audit(call, "robot.delete", f"robot:{full}")
        return _no_content()

    # repositories
    def list_repositories(self, call: Call) -> Response:
        project = self._need_project(call, "pull")
        stmt = (
            select(Repository.name, Repository.created_at, func.count(Tag.name))
            .join(Project, Project.id == Repository.project_id)
            .outerjoin(Tag, Tag.repository_id == Repository.id)
            .where(Project.name == project)
            .group_by(Repository.id, Repository.name, Repository.created_at)
            .order_by(Repository.name)
        )
        with self.registry.db.session() as s:
            rows = [{"name": n, "created_at": c, "tags": t} for n, c, t in s.execute(stmt)]
        return JSONResponse(rows)

    def findings(self, call: Call) -> Response:
        from sealyard.monitor.inventory import Inventory

        project = self._need_project(call, "pull")
        repository = call.query("repository") or ""
        if project_of(repository) != project or "/" not in repository:
            raise _invalid(f"repository must name a repository of project {project!r}")
        record = self.registry.store.resolve(repository, call.query("reference") or "latest")
        if record is None:
            raise NotFoundError(f"no image {call.query('reference') or 'latest'} in {repository}")
        inventory = Inventory(self.registry.db)
        return JSONResponse(
            {
                "repository": repository,
                "digest": record.digest,
                "scan": inventory.scan(repository, record.digest),
                "findings": inventory.findings(repository, record.digest),
            }
        )

    # users
    def list_users(self, call: Call) -> Response:
        self._need_system_admin(call, None, "users")
        return JSONResponse(self.accounts.list_users())

    def create_user(self, call: Call) -> Response:
        self._need_system_admin(call, "user.create", "users")
        call.fields({"username", "password", "admin", "email"}, frozenset({"username", "password"}))
        username, password = call.str_field("username"), call.str_field("password")
        admin = call.bool_field("admin")
        email = call.str_field("email") if call.body.get("email") is not None else None
        self.accounts.create_user(username, password, admin=admin, email=email)
        self._audit(call, "user.create", f"user:{username}", admin=admin)
        return JSONResponse({"username": username, "admin": admin, "email": email}, 201)

    def set_password(self, call: Call) -> Response:
        self._need_login(call)
        username, p = call.path("username"), call.principal
        resource = f"user:{username}"
        own = p.kind == "user" and p.name == username
        if not own and not p.is_admin:
            message = "you may change only your own password"
            raise self._deny(call, message, "user.password", resource)
        call.fields({"old_password", "new_password"}, frozenset({"new_password"}))
        new = call.str_field("new_password")
        if own and (not p.is_admin or "old_password" in call.body):
            if "old_password" not in call.body:
                raise _invalid("missing field(s): old_password")
            old = call.str_field("old_password")
            self._check_throttle(call.remote, username)
            try:
                self.accounts.authenticate(username, old)
            except AuthenticationError:
                self.registry.authenticator.throttle.failed(call.remote, username)
                raise self._deny(call, "old_password is wrong", "user.password", resource) from None
        self.accounts.set_password(username, new)
        self._audit(call, "user.password", resource)
        return _no_content()

    # audit log
    def audit_log(self, call: Call) -> Response:
        self._need_login(call)
        raw_limit = call.query("limit") or "100"
        if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_AUDIT_LIMIT:
            raise _invalid(f"'limit' must be an integer from 1 to {MAX_AUDIT_LIMIT}")
        project = call.query("project")
        if project is not None:
            self._need_project(call, "admin", name=project)
        elif not call.principal.is_admin:
            raise self._deny(call, "the 'project' query parameter is required", None, "")
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(int(raw_limit))
        if actor := call.query("actor"):
            stmt = stmt.where(AuditEvent.actor == actor)
        if action := call.query("action"):
            stmt = stmt.where(AuditEvent.action == action)
        if resource := call.query("resource"):
            stmt = stmt.where(AuditEvent.resource.startswith(resource, autoescape=True))
        if project is not None:
            stmt = stmt.where(
                or_(
                    AuditEvent.resource.startswith(f"{project}/", autoescape=True),
                    AuditEvent.resource == f"project:{project}",
                    AuditEvent.resource.startswith(
                        f"robot:{ROBOT_PREFIX}{project}+", autoescape=True
                    ),
                )
            )
        with self.registry.db.session() as s:
            events = [
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
        return JSONResponse(events)

    # alerts
    def list_alerts(self, call: Call) -> Response:
        """Alerts of the projects the caller may pull from (system admins: all)."""
        self._need_login(call)
        p = call.principal
        raw_limit = call.query("limit") or "100"
        if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_ALERTS_LIMIT:
            raise _invalid(f"'limit' must be an integer from 1 to {MAX_ALERTS_LIMIT}")
        raw_since = call.query("since_id")
        if raw_since is not None and not _ID.fullmatch(raw_since):
            raise _invalid("'since_id' must be a non-negative integer")
        project = call.query("project")
        if project is not None and not p.is_admin:
            self._need_project(call, "pull", name=project)
        visible = None
        if not p.is_admin:
            visible = frozenset(
                row["name"]
                for row in self.accounts.list_projects()
                if "pull" in actions_for(p, row["name"], public=row["public"])
            )
        query = AlertQuery(
            since_id=None if raw_since is None else int(raw_since),
            project=project,
            repository=call.query("repository"),
            kind=call.query("kind"),
            min_rating=call.query("min_rating"),
            limit=int(raw_limit),
            projects=visible,
        )
        with self.registry.db.session() as s:
            return JSONResponse(query.run(s))

    # webhooks
    def list_webhooks(self, call: Call) -> Response:
        self._need_system_admin(call, None, "webhooks")
        hooks = WebhookService(self.registry.db).list()
        return JSONResponse([hook.to_dict() for hook in hooks])

    def create_webhook(self, call: Call) -> Response:
        self._need_system_admin(call, "webhook.create", "webhooks")
        call.fields(
            {"name", "url", "secret", "project", "min_rating", "kinds", "since_id"},
            frozenset({"name", "url"}),
        )
        name, url = call.str_field("name"), call.str_field("url")
        secret = call.str_field("secret") if call.body.get("secret") is not None else None
        project = call.str_field("project") if call.body.get("project") is not None else None
        min_rating = call.str_field("min_rating") if "min_rating" in call.body else "UNKNOWN"
        kinds = call.body.get("kinds", list(KINDS))
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise _invalid("'kinds' must be a list of new, changed, resolved")
        since_id = call.body.get("since_id")
        if since_id is not None and (
            isinstance(since_id, bool) or not isinstance(since_id, int) or since_id < 0
        ):
            raise _invalid("'since_id' must be a non-negative integer, or null for new alerts")
        info, secret = WebhookService(self.registry.db).add(
            name,
            url,
            secret=secret,
            project=project,
            min_rating=min_rating,
            kinds=kinds,
            since_id=since_id,
        )
        self._audit(call, "webhook.create", f"webhook:{name}", url=url, project=project)
        return JSONResponse({**info.to_dict(), "secret": secret}, 201)

    def delete_webhook(self, call: Call) -> Response:
        name = call.path("name")
        self._need_system_admin(call, "webhook.delete", f"webhook:{name}")
        WebhookService(self.registry.db).remove(name)
        self._audit(call, "webhook.delete", f"webhook:{name}")
        return _no_content()


def management_app(registry: Registry) -> Starlette:
    """The management API as an ASGI app, to mount at ``/api/v1``."""
    return Starlette(
        routes=ManagementAPI(registry).routes(),
        exception_handlers={
            ApiError: _handle,
            SealyardError: _handle,
            HTTPException: _handle,
            Exception: _handle,  # anything else: a JSON 500 (and the traceback is logged)
        },
    )
