"""The ``/token`` endpoint of Docker token authentication (GET, and OAuth2 password POST)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sealyard.errors import AuthenticationError, UsageError
from sealyard.oci.names import project_of
from sealyard.registry.accounts import AccountService
from sealyard.registry.audit import AuditLog
from sealyard.registry.auth import Authenticator, parse_basic
from sealyard.registry.rbac import Principal, actions_for
from sealyard.registry.responses import OciError, error_response
from sealyard.registry.tokens import Scope, TokenService, parse_scopes

__all__ = ["TokenEndpoint"]


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


class TokenEndpoint:
    def __init__(
        self,
        accounts: AccountService,
        tokens: TokenService,
        audit: AuditLog,
        authenticator: Authenticator,
    ) -> None:
        self.authenticator = authenticator
        self.accounts = accounts
        self.tokens = tokens
        self.audit = audit

    def grant(self, principal: Principal, requested: list[Scope]) -> list[Scope]:
        """The intersection of what was asked for and what ``principal`` may do."""
        granted: list[Scope] = []
        for scope in requested:
            if scope.type == "registry" and scope.name == "catalog":
                if not principal.is_anonymous:
                    granted.append(Scope("registry", "catalog", frozenset({"*"})))
                continue
            if scope.type != "repository" or "/" not in scope.name:
                continue
            project = self.accounts.project(project_of(scope.name))
            if project is None:
                continue
            allowed = actions_for(principal, project.name, public=project.public)
            wanted = set(scope.actions)
            if "*" in wanted:
                wanted = {"pull", "push", "delete"}
            actions = frozenset(wanted & allowed)
            if actions:
                granted.append(Scope("repository", scope.name, actions))
        return granted

    def _issue(
        self, principal: Principal, scopes: list[str], remote: str, *, oauth: bool
    ) -> Response:
        try:
            requested = parse_scopes(scopes)
        except UsageError as exc:
            return _json({"errors": [{"code": "UNSUPPORTED", "message": str(exc)}]}, 400)
        granted = self.grant(principal, requested)
        token, ttl, issued = self.tokens.issue(principal.name, principal.kind, granted)
        if not principal.is_anonymous:
            self.audit.record(
                principal.name,
                "login",
                "token",
                remote_addr=remote,
                requested=[str(s) for s in requested],
                granted=[str(s) for s in granted],
            )
        issued_at = datetime.fromtimestamp(issued, UTC).isoformat().replace("+00:00", "Z")
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": ttl,
            "issued_at": issued_at,
        }
        if oauth:
            body["scope"] = " ".join(str(s) for s in granted)
        return _json(body)

    def _login(self, remote: str, username: str, password: str) -> Principal:
        throttle = self.authenticator.throttle
        self.authenticator.check_throttle(remote, username)
        try:
            principal = self.accounts.authenticate(username, password)
        except AuthenticationError:
            throttle.failed(remote, username)
            raise
        throttle.succeeded(remote, username)
        return principal

    def _fail(self, username: str, remote: str, message: str) -> Response:
        self.audit.record(
            username or "?", "login", "token", outcome="failure", remote_addr=remote, reason=message
        )
        return _json(
            {"errors": [{"code": "UNAUTHORIZED", "message": message}]},
            401,
            **{"WWW-Authenticate": 'Basic realm="sealyard"'},
        )

    async def get(self, request: Request) -> Response:
        remote = request.client.host if request.client else ""
        scopes = request.query_params.getlist("scope")

        def work() -> Response:
            header = request.headers.get("authorization")
            username = ""
            try:
                creds = parse_basic(header) if header else None
                if creds is None:
                    principal = Principal.anonymous()
                else:
                    username = creds[0]
                    principal = self._login(remote, *creds)
            except AuthenticationError as exc:
                return self._fail(username, remote, str(exc))
            except OciError as err:
                return error_response(err)
            return self._issue(principal, scopes, remote, oauth=False)

        return await run_in_threadpool(work)

    async def post(self, request: Request) -> Response:
        remote = request.client.host if request.client else ""
        form = await request.form()
        grant_type = str(form.get("grant_type", ""))
        if grant_type != "password":
            return _json({"error": "unsupported_grant_type"}, 400)
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        scopes = [str(v) for v in form.getlist("scope")]

        def work() -> Response:
            try:
                principal = self._login(remote, username, password)
            except AuthenticationError as exc:
                return self._fail(username, remote, str(exc))
            except OciError as err:
                return error_response(err)
            return self._issue(principal, scopes, remote, oauth=True)

        return await run_in_threadpool(work)
