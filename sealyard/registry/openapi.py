"""Hand-written OpenAPI 3.1 description of the management API (``/api/v1/openapi.json``).

Tests compare its paths and methods with the routes the application serves, so the two
cannot drift apart silently.
"""

from __future__ import annotations

import copy
from typing import Any

from sealyard.monitor.alerts import KINDS, MAX_LIMIT
from sealyard.registry.project_settings import MAX_ALLOWLIST, PREVENT_RATINGS
from sealyard.registry.rbac import ROBOT_ACTIONS, ROLES
from sealyard.vulndb.ratings import RATINGS

__all__ = ["ERROR_CODES", "openapi_document"]

JSON = dict[str, Any]

ERROR_CODES = (
    "UNAUTHORIZED",
    "DENIED",
    "NOT_FOUND",
    "CONFLICT",
    "INVALID",
    "METHOD_NOT_ALLOWED",
    "TOO_LARGE",
    "TOO_MANY_REQUESTS",
    "INTERNAL",
)


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(items: JSON) -> JSON:
    return {"type": "array", "items": items}


def _object(required: list[str], **properties: JSON) -> JSON:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


_STR: JSON = {"type": "string"}
_BOOL: JSON = {"type": "boolean"}
_TIME: JSON = {"type": "number", "description": "Unix time in seconds"}
_NULLABLE_TIME: JSON = {"type": ["number", "null"], "description": "Unix time; null: never"}
_ROLE: JSON = {"type": "string", "enum": list(ROLES)}
_RATING: JSON = {
    "type": "string",
    "enum": list(RATINGS),
    "description": "ordered " + " < ".join(RATINGS) + "; UNKNOWN: not rated yet",
}
_KIND: JSON = {"type": "string", "enum": list(KINDS)}
_ACTIONS: JSON = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "enum": sorted(ROBOT_ACTIONS)},
    "description": "promote: push limited to attestations/SBOMs and tags of stored manifests",
}
_SETTINGS_PROPERTIES: dict[str, JSON] = {
    "policy": {
        "type": ["string", "null"],
        "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
        "description": "policy of the project's published trust root that pulls must satisfy; "
        "null: no signature enforcement",
    },
    "prevent_vulnerable": {
        "type": ["string", "null"],
        "enum": [*PREVENT_RATINGS, None],
        "description": "refuse pulls of images with a finding rated at least this that is not "
        "allowlisted, and of images not scanned yet; null: off",
    },
    "allowlist": {
        **_array(
            _object(
                ["id", "expires", "reason"],
                id={"type": "string", "examples": ["CVE-2024-3651"]},
                expires={
                    "type": "string",
                    "examples": ["2027-01-31", "2027-01-31T12:00:00Z"],
                    "description": "date or time (UTC) from which the entry no longer applies",
                },
                reason={"type": "string", "minLength": 1},
            )
        ),
        "maxItems": MAX_ALLOWLIST,
        "description": "accepted vulnerabilities (ids unique), for prevent_vulnerable",
    },
    "scan_on_push": {"type": "boolean", "description": "scan images when pushed"},
}

_SCHEMAS: JSON = {
    "Error": _object(
        ["error"],
        error=_object(
            ["code", "message"], code={"type": "string", "enum": list(ERROR_CODES)}, message=_STR
        ),
    ),
    "Me": _object(
        ["name", "kind", "admin", "roles"],
        name=_STR,
        kind={"type": "string", "enum": ["user", "robot"]},
        admin=_BOOL,
        roles={"type": "object", "additionalProperties": _ROLE, "description": "project → role"},
        permissions={
            "type": "object",
            "additionalProperties": _array(_STR),
            "description": "robots only: project (or *) → actions",
        },
    ),
    "Project": _object(
        ["name", "public", "created_at", "role", "actions"],
        name=_STR,
        public=_BOOL,
        created_at=_TIME,
        role={"type": ["string", "null"], "description": "the caller's role, if a member"},
        actions={**_array(_STR), "description": "what the caller may do in the project"},
        settings={
            **_ref("ProjectSettings"),
            "description": "GET and PATCH of one project, for callers granted anything in it",
        },
    ),
    "ProjectCreate": _object(["name"], name=_STR, public={**_BOOL, "default": False}),
    "ProjectUpdate": {
        **_object([], public=_BOOL, settings=_ref("ProjectSettingsChange")),
        "minProperties": 1,
    },
    "ProjectSettings": _object(list(_SETTINGS_PROPERTIES), **_SETTINGS_PROPERTIES),
    "ProjectSettingsChange": {
        **_object([], **_SETTINGS_PROPERTIES),
        "description": "only the settings to change; the result is validated as a whole",
    },
    "Member": _object(["username", "role"], username=_STR, role=_ROLE),
    "MemberRole": _object(["role"], role=_ROLE),
    "Robot": _object(
        ["name", "actions", "expires_at", "disabled", "description", "created_by"],
        name={"type": "string", "examples": ["robot$team+ci"]},
        actions=_ACTIONS,
        expires_at=_NULLABLE_TIME,
        disabled=_BOOL,
        description=_STR,
        created_by=_STR,
    ),
    "RobotCreate": _object(
        ["name"],
        name={"type": "string", "description": "short name; the robot is robot$PROJECT+NAME"},
        actions={**_ACTIONS, "default": ["pull"]},
        expires_days={
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "default": 30,
            "description": "lifetime in days; null: never expires",
        },
        description={**_STR, "default": ""},
    ),
    "RobotCreated": _object(
        ["name", "secret", "expires_at", "actions"],
        name=_STR,
        secret={"type": "string", "description": "shown only in this response"},
        expires_at=_NULLABLE_TIME,
        actions=_ACTIONS,
    ),
    "Repository": _object(
        ["name", "created_at", "tags"],
        name=_STR,
        created_at=_TIME,
        tags={"type": "integer", "minimum": 0},
    ),
    "User": _object(
        ["username", "admin", "disabled", "email", "created_at"],
        username=_STR,
        admin=_BOOL,
        disabled=_BOOL,
        email={"type": ["string", "null"]},
        created_at=_TIME,
    ),
    "UserCreate": _object(
        ["username", "password"],
        username={"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
        password={"type": "string", "minLength": 8},
        admin={**_BOOL, "default": False},
        email={"type": ["string", "null"]},
    ),
    "UserCreated": _object(
        ["username", "admin", "email"],
        username=_STR,
        admin=_BOOL,
        email={"type": ["string", "null"]},
    ),
    "PasswordChange": _object(
        ["new_password"],
        old_password={
            "type": "string",
            "description": "required when changing your own password (unless system admin)",
        },
        new_password={"type": "string", "minLength": 8},
    ),
    "AuditEvent": _object(
        ["id", "ts", "actor", "action", "resource", "outcome", "remote_addr", "detail"],
        id={"type": "integer"},
        ts=_TIME,
        actor=_STR,
        action={"type": "string", "examples": ["member.set", "push", "robot.create"]},
        resource={"type": "string", "examples": ["project:team", "team/app:1.0"]},
        outcome={"type": "string", "examples": ["success", "denied", "failure"]},
        remote_addr=_STR,
        detail={"type": "object"},
    ),
    "Findings": _object(
        ["repository", "digest", "scan", "findings"],
        repository=_STR,
        digest=_STR,
        scan={"type": ["object", "null"]},
        findings=_array({"type": "object"}),
    ),
    "Alert": _object(
        [
            "id",
            "ts",
            "kind",
            "project",
            "repository",
            "digest",
            "vulnerability",
            "aliases",
            "package",
            "rating",
            "score",
            "fixed",
            "detail",
        ],
        id={"type": "integer", "description": "increasing; page with since_id"},
        ts={"type": "string", "format": "date-time", "examples": ["2024-05-01T12:00:00.000Z"]},
        kind={**_KIND, "description": "new, changed or resolved finding"},
        project=_STR,
        repository={"type": "string", "examples": ["team/app"]},
        digest={"type": "string", "description": "the image manifest digest"},
        vulnerability={"type": "string", "examples": ["CVE-2024-3651"]},
        aliases=_array(_STR),
        package={"type": "object", "description": "the affected package (name, version, purl)"},
        rating=_RATING,
        score={"type": ["number", "null"], "description": "CVSS base score, if known"},
        fixed={**_array(_STR), "description": "versions that fix it"},
        detail={"type": "object", "description": "what changed, for changed alerts"},
    ),
    "Webhook": _object(
        [
            "name",
            "url",
            "project",
            "min_rating",
            "kinds",
            "enabled",
            "cursor",
            "pending",
            "failures",
            "next_attempt",
            "last_error",
            "last_delivery",
            "created_at",
        ],
        name=_STR,
        url={"type": "string", "format": "uri"},
        project={"type": ["string", "null"], "description": "only alerts of this project"},
        min_rating=_RATING,
        kinds=_array(_KIND),
        enabled=_BOOL,
        cursor={"type": "integer", "description": "id of the last alert delivered or skipped"},
        pending={"type": "integer", "description": "alerts after the cursor (before filters)"},
        failures={"type": "integer", "description": "consecutive failed deliveries"},
        next_attempt={"type": "number", "description": "Unix time; 0: due now"},
        last_error={"type": ["string", "null"]},
        last_delivery=_NULLABLE_TIME,
        created_at=_TIME,
    ),
    "WebhookCreate": _object(
        ["name", "url"],
        name={"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
        url={"type": "string", "format": "uri", "description": "http(s), no credentials"},
        secret={
            "type": ["string", "null"],
            "minLength": 16,
            "maxLength": 255,
            "description": "HMAC-SHA256 signing secret; null or absent: generated",
        },
        project={"type": ["string", "null"], "description": "an existing project"},
        min_rating={**_RATING, "default": "UNKNOWN"},
        kinds={**_array(_KIND), "minItems": 1, "default": list(KINDS)},
        since_id={
            "type": ["integer", "null"],
            "minimum": 0,
            "default": None,
            "description": "deliver alerts after this id; 0: all stored; null: only new ones",
        },
    ),
}
_SCHEMAS["WebhookCreated"] = copy.deepcopy(_SCHEMAS["Webhook"])
_SCHEMAS["WebhookCreated"]["required"].append("secret")
_SCHEMAS["WebhookCreated"]["properties"]["secret"] = {
    "type": "string",
    "description": "the signing secret; shown only in this response",
}

_ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("Invalid", "INVALID: malformed JSON, unknown or missing field, bad value"),
    "401": ("Unauthorized", "UNAUTHORIZED: no or bad Basic credentials (or a Bearer token)"),
    "403": ("Denied", "DENIED: authenticated, but not allowed"),
    "404": ("NotFound", "NOT_FOUND: no such object"),
    "409": ("Conflict", "CONFLICT: already exists, or still in use"),
    "413": ("TooLarge", "TOO_LARGE: request body over 64 KiB"),
    "429": ("TooManyRequests", "TOO_MANY_REQUESTS: too many failed logins; see Retry-After"),
}


def _error_response(description: str, *, challenge: str | None = None) -> JSON:
    response: JSON = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if challenge:
        response["headers"] = {
            challenge: {"description": _HEADERS[challenge], "schema": {"type": "string"}}
        }
    return response


_HEADERS = {
    "WWW-Authenticate": 'Basic realm="sealyard"',
    "Retry-After": "seconds until the next login attempt is allowed",
}
_RESPONSES: JSON = {
    name: _error_response(
        text, challenge={"401": "WWW-Authenticate", "429": "Retry-After"}.get(status)
    )
    for status, (name, text) in _ERROR_RESPONSES.items()
}

_ANONYMOUS_OK: list[JSON] = [{}, {"basic": []}]


def _op(
    op_id: str,
    summary: str,
    *,
    ok: str = "200",
    result: JSON | None = None,
    errors: tuple[str, ...] = ("401", "403"),
    body: str | None = None,
    query: tuple[JSON, ...] = (),
    anonymous: bool = False,
    description: str = "",
) -> JSON:
    """One operation object (401 and 403 unless ``errors`` says otherwise)."""
    success: JSON = {"description": "success" if result is not None else "done"}
    if result is not None:
        success["content"] = {"application/json": {"schema": result}}
    responses: JSON = {ok: success}
    if body is not None:
        errors = (*errors, "400", "413")
    if "401" in errors:
        errors = (*errors, "429")  # Basic credentials are throttled after failed logins
    for status in sorted(set(errors)):
        responses[status] = {"$ref": f"#/components/responses/{_ERROR_RESPONSES[status][0]}"}
    op: JSON = {"operationId": op_id, "summary": summary, "responses": responses}
    if description:
        op["description"] = description
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if query:
        op["parameters"] = list(query)
    if anonymous:
        op["security"] = _ANONYMOUS_OK
    return op


def _path_params(*names: str) -> list[JSON]:
    return [{"name": n, "in": "path", "required": True, "schema": _STR} for n in names]


def _query(name: str, description: str, schema: JSON = _STR, required: bool = False) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


_PATHS: JSON = {
    "/openapi.json": {
        "get": {
            "operationId": "getOpenAPI",
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/me": {"get": _op("getMe", "Who am I", result=_ref("Me"), errors=("401",))},
    "/projects": {
        "get": _op(
            "listProjects",
            "Projects the caller can see",
            result=_array(_ref("Project")),
            errors=("401",),
            anonymous=True,
            description="System admins see all; others public projects and their own.",
        ),
        "post": _op(
            "createProject",
            "Create a project (system admin)",
            ok="201",
            result=_ref("Project"),
            errors=("401", "403", "409"),
            body="ProjectCreate",
        ),
    },
    "/projects/{project}": {
        "parameters": _path_params("project"),
        "get": _op(
            "getProject",
            "One project (pull rights)",
            result=_ref("Project"),
            errors=("401", "403", "404"),
            anonymous=True,
        ),
        "patch": _op(
            "updateProject",
            "Change visibility and/or settings (project-admin)",
            result=_ref("Project"),
            errors=("401", "403", "404"),
            body="ProjectUpdate",
            description=(
                "Settings: the policy pulls must satisfy, prevent_vulnerable with its "
                "allowlist, scan_on_push (see docs/registry-gate.md). Audited as "
                "project.update with the changed values."
            ),
        ),
        "delete": _op(
            "deleteProject",
            "Delete an empty project (system admin)",
            ok="204",
            errors=("401", "403", "404", "409"),
            description="Refused with 409 while the project has repositories.",
        ),
    },
    "/projects/{project}/members": {
        "parameters": _path_params("project"),
        "get": _op(
            "listMembers",
            "Members and roles (project members, system admin)",
            result=_array(_ref("Member")),
            errors=("401", "403", "404"),
        ),
    },
    "/projects/{project}/members/{username}": {
        "parameters": _path_params("project", "username"),
        "put": _op(
            "setMember",
            "Add a member or change the role (project-admin)",
            result=_ref("Member"),
            errors=("401", "403", "404"),
            body="MemberRole",
        ),
        "delete": _op(
            "removeMember",
            "Remove a member (project-admin)",
            ok="204",
            errors=("401", "403", "404"),
        ),
    },
    "/projects/{project}/robots": {
        "parameters": _path_params("project"),
        "get": _op(
            "listRobots",
            "Robots scoped to exactly this project, without secrets (project-admin)",
            result=_array(_ref("Robot")),
            errors=("401", "403", "404"),
        ),
        "post": _op(
            "createRobot",
            "Create a robot for this project; the secret is returned once (project-admin)",
            ok="201",
            result=_ref("RobotCreated"),
            errors=("401", "403", "404", "409"),
            body="RobotCreate",
        ),
    },
    "/projects/{project}/robots/{name}": {
        "parameters": _path_params("project", "name"),
        "delete": _op(
            "deleteRobot",
            "Delete a robot of this project (project-admin)",
            ok="204",
            errors=("401", "403", "404"),
            description="`name` is the full name (robot$PROJECT+NAME) or the short name.",
        ),
    },
    "/projects/{project}/repositories": {
        "parameters": _path_params("project"),
        "get": _op(
            "listRepositories",
            "Repositories with their tag counts (pull rights)",
            result=_array(_ref("Repository")),
            errors=("401", "403", "404"),
            anonymous=True,
        ),
    },
    "/projects/{project}/findings": {
        "parameters": _path_params("project"),
        "get": _op(
            "getFindings",
            "The stored scan of an image and its current findings (pull rights)",
            result=_ref("Findings"),
            errors=("400", "401", "403", "404"),
            anonymous=True,
            description=(
                "Findings are today's: advisories imported after the scan are matched "
                "against the stored SBOM without rescanning. `scan` is null until the image "
                "was scanned."
            ),
            query=(
                _query("repository", "repository in this project, e.g. team/app", required=True),
                _query("reference", "tag or digest (default latest)"),
            ),
        ),
    },
    "/users": {
        "get": _op("listUsers", "All users (system admin)", result=_array(_ref("User"))),
        "post": _op(
            "createUser",
            "Create a user (system admin)",
            ok="201",
            result=_ref("UserCreated"),
            errors=("401", "403", "409"),
            body="UserCreate",
        ),
    },
    "/users/{username}/password": {
        "parameters": _path_params("username"),
        "put": _op(
            "setPassword",
            "Change a password (the user, with old_password; or a system admin)",
            ok="204",
            errors=("401", "403", "404"),
            body="PasswordChange",
        ),
    },
    "/audit-log": {
        "get": _op(
            "getAuditLog",
            "Audit events, newest first",
            result=_array(_ref("AuditEvent")),
            errors=("400", "401", "403", "404"),
            query=(
                _query(
                    "project",
                    "only events of this project (its repositories, project:NAME and its "
                    "robots); required unless system admin; needs project-admin",
                ),
                _query(
                    "limit",
                    "at most this many events",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                ),
                _query("actor", "exact actor name"),
                _query("action", "exact action, e.g. push or member.set"),
                _query("resource", "resource prefix, e.g. team/app"),
            ),
        )
    },
    "/alerts": {
        "get": _op(
            "listAlerts",
            "Alerts of the projects the caller may pull from, in id order",
            result=_array(_ref("Alert")),
            errors=("400", "401", "403"),
            description=(
                "System admins see every alert. Without since_id: the newest `limit` "
                "alerts; with it: the first `limit` alerts after that id (pass the last id "
                "seen to page forward)."
            ),
            query=(
                _query("since_id", "only alerts after this id", {"type": "integer", "minimum": 0}),
                _query("project", "only this project (pull rights needed)"),
                _query("repository", "only this repository, e.g. team/app"),
                _query("kind", "only this kind", _KIND),
                _query("min_rating", "only alerts rated at least this", _RATING),
                _query(
                    "limit",
                    "at most this many alerts",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
                ),
            ),
        )
    },
    "/webhooks": {
        "get": _op(
            "listWebhooks",
            "Webhooks and their delivery state, without secrets (system admin)",
            result=_array(_ref("Webhook")),
        ),
        "post": _op(
            "createWebhook",
            "Add a webhook; the signing secret is returned once (system admin)",
            ok="201",
            result=_ref("WebhookCreated"),
            errors=("401", "403", "404", "409"),
            body="WebhookCreate",
            description="404: the named project does not exist.",
        ),
    },
    "/webhooks/{name}": {
        "parameters": _path_params("name"),
        "delete": _op(
            "deleteWebhook",
            "Remove a webhook (system admin)",
            ok="204",
            errors=("401", "403", "404"),
        ),
    },
}

_DOCUMENT: JSON = {
    "openapi": "3.1.0",
    "info": {
        "title": "Sealyard management API",
        "version": "1",
        "description": (
            "Projects, members, robot accounts, users, the audit log, alerts and webhooks. "
            "HTTP Basic credentials of users and robots only; registry Bearer tokens are "
            "refused. "
            'Errors: {"error": {"code", "message"}}.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"basic": []}],
    "paths": _PATHS,
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": _SCHEMAS,
        "responses": _RESPONSES,
    },
}


def openapi_document() -> JSON:
    """A fresh copy of the OpenAPI document."""
    return copy.deepcopy(_DOCUMENT)
