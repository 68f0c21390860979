"""Authentication and authorization of registry requests.

A request carries Basic credentials, a Bearer token from ``/token``, or nothing. The
rights checked are always the principal's *current* ones (so revoking a membership takes
effect within seconds, not at token expiry); a Bearer token additionally limits them to the
scopes it was granted.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from sealyard.errors import AuthenticationError
from sealyard.oci.names import project_of
from sealyard.registry.accounts import AccountService
from sealyard.registry.audit import AuditLog
from sealyard.registry.ratelimit import LoginThrottle
from sealyard.registry.rbac import Principal, actions_for
from sealyard.registry.responses import OciError
from sealyard.registry.tokens import TokenService, granted_actions

__all__ = ["Authenticator", "Caller", "parse_basic"]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    token_claims: dict[str, Any] | None  # set when authenticated by a bearer token
    remote_addr: str

    @property
    def name(self) -> str:
        return self.principal.name


def parse_basic(header: str) -> tuple[str, str] | None:
    """Decode ``Basic base64(user:password)``; ``None`` if the header is not Basic."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("malformed Basic credentials") from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationError("malformed Basic credentials")
    return user, password


class Authenticator:
    def __init__(
        self,
        accounts: AccountService,
        tokens: TokenService,
        public_url: str | None,
        audit: AuditLog | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.audit = audit
        self.throttle = throttle or LoginThrottle(0)
        self.accounts = accounts
        self.tokens = tokens
        self.public_url = public_url

    def realm(self, request: Request) -> str:
        base = self.public_url or f"{request.url.scheme}://{request.headers.get('host', '')}"
        return base.rstrip("/") + "/token"

    def challenge(self, request: Request, scope: str | None, error: str | None = None) -> str:
        parts = [f'realm="{self.realm(request)}"', f'service="{self.tokens.service}"']
        if scope:
            parts.append(f'scope="{scope}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    def unauthorized(
        self, request: Request, message: str, scope: str | None = None, error: str | None = None
    ) -> OciError:
        return OciError(
            "UNAUTHORIZED",
            message,
            401,
            headers={"WWW-Authenticate": self.challenge(request, scope, error)},
        )

    def identify(self, request: Request) -> Caller:
        """Who sent ``request`` (blocking: may hit the database).

        Raises:
            OciError: credentials were sent but are invalid (401 with a challenge).
        """
        remote = request.client.host if request.client else ""
        header = request.headers.get("authorization")
        if not header:
            return Caller(Principal.anonymous(), None, remote)
        try:
            basic = parse_basic(header)
            if basic is not None:
                self.check_throttle(remote, basic[0])
                try:
                    principal = self.accounts.authenticate(*basic)
                except AuthenticationError:
                    self.throttle.failed(remote, basic[0])
                    raise
                self.throttle.succeeded(remote, basic[0])
                return Caller(principal, None, remote)
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise AuthenticationError(f"unsupported authorization scheme {scheme!r}")
            claims = self.tokens.verify(token.strip())
            kind = claims.get("kind", "user")
            if claims["sub"] == "anonymous" and kind == "anonymous":
                return Caller(Principal.anonymous(), claims, remote)
            return Caller(self.accounts.principal(kind, claims["sub"]), claims, remote)
        except AuthenticationError as exc:
            raise self.unauthorized(request, str(exc), error="invalid_token") from exc

    def check_throttle(self, remote: str, account: str) -> None:
        """Raise ``429 TOOMANYREQUESTS`` while ``remote`` is locked out for ``account``."""
        wait = self.throttle.retry_after(remote, account)
        if wait > 0:
            raise OciError(
                "TOOMANYREQUESTS",
                f"too many failed logins from {remote}; retry in {int(wait) + 1} s",
                429,
                headers={"Retry-After": str(int(wait) + 1)},
            )

    def allowed(self, caller: Caller, repository: str, action: str) -> bool:
        project = self.accounts.project(project_of(repository))
        if project is None:
            return False
        actions = actions_for(caller.principal, project.name, public=project.public)
        if caller.token_claims is not None:
            granted = granted_actions(caller.token_claims, "repository", repository)
            if "*" not in granted:
                actions &= granted
        return action in actions

    def require(self, request: Request, caller: Caller, repository: str, action: str) -> None:
        """Raise an :class:`OciError` unless ``caller`` may ``action`` on ``repository``."""
        if self.allowed(caller, repository, action):
            return
        wanted = "pull" if action == "pull" else f"pull,{action}"
        scope = f"repository:{repository}:{wanted}"
        if caller.principal.is_anonymous:
            raise self.unauthorized(request, "authentication required", scope)
        if caller.token_claims is not None and self.may(caller, repository, action):
            raise self.unauthorized(request, "token lacks scope", scope, "insufficient_scope")
        project = project_of(repository)
        if self.audit is not None:
            self.audit.record(
                caller.name, action, repository, outcome="denied", remote_addr=caller.remote_addr
            )
        raise OciError(
            "DENIED",
            f"requested access to {repository} is denied: {caller.name} may not {action} in "
            f"project {project!r} (it does not exist or the role does not allow it)",
            403,
        )

    def may(self, caller: Caller, repository: str, action: str) -> bool:
        """What the principal's role allows, regardless of the token's scopes."""
        project = self.accounts.project(project_of(repository))
        return project is not None and action in actions_for(
            caller.principal, project.name, public=project.public
        )
