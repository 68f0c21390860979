"""Assembly of the registry: one object holding the services, and the ASGI application."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sealyard.config import Settings
from sealyard.db.engine import Database
from sealyard.registry.accounts import AccountService
from sealyard.registry.audit import AuditLog
from sealyard.registry.auth import Authenticator
from sealyard.registry.distribution import DistributionAPI
from sealyard.registry.management import management_app
from sealyard.registry.ratelimit import LoginThrottle
from sealyard.registry.responses import API_VERSION_HEADERS, OciError, error_response
from sealyard.registry.store import RegistryStore
from sealyard.registry.token_endpoint import TokenEndpoint
from sealyard.registry.tokens import TokenService
from sealyard.storage.filesystem import FilesystemBlobStore
from sealyard.trust.serve import trust_app

__all__ = ["Registry", "create_app", "open_registry"]


@dataclass
class Registry:
    """The services of one Sealyard instance, opened on its data directory."""

    settings: Settings
    db: Database
    store: RegistryStore
    accounts: AccountService
    audit: AuditLog
    tokens: TokenService
    authenticator: Authenticator

    def close(self) -> None:
        self.db.dispose()


def open_registry(settings: Settings, *, migrate: bool = True) -> Registry:
    """Open (and, on first use, initialise) the data directory described by ``settings``."""
    if not settings.data_dir.exists():
        # Private by default: the directory holds password hashes and the token signing key.
        settings.data_dir.mkdir(parents=True, mode=0o700)
    db = Database(settings.db_url)
    if migrate:
        db.migrate()
    blobs = FilesystemBlobStore(settings.data_dir / "storage")
    blobs.recover()
    accounts = AccountService(db, cache_seconds=settings.limits.auth_cache_seconds)
    if migrate:
        accounts.ensure_defaults()
    tokens = TokenService(
        settings.data_dir / "keys", settings.service, settings.limits.token_ttl_seconds
    )
    audit = AuditLog(db)
    return Registry(
        settings=settings,
        db=db,
        store=RegistryStore(db, blobs, settings.limits),
        accounts=accounts,
        audit=audit,
        tokens=tokens,
        authenticator=Authenticator(
            accounts,
            tokens,
            settings.public_url,
            audit,
            LoginThrottle(settings.limits.login_failures_per_minute),
        ),
    )


def create_app(registry: Registry) -> Starlette:
    api = DistributionAPI(registry)
    token = TokenEndpoint(
        registry.accounts, registry.tokens, registry.audit, registry.authenticator
    )
    auth = registry.authenticator

    async def base(request: Request) -> Response:
        """end-1: tells clients this is a v2 registry and how to authenticate."""
        try:
            caller = await run_in_threadpool(auth.identify, request)
            if caller.principal.is_anonymous:
                raise auth.unauthorized(request, "authentication required")
        except OciError as err:
            return error_response(err)
        return JSONResponse({}, headers=API_VERSION_HEADERS)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v2/", base, methods=["GET", "HEAD"]),
            Route("/v2", base, methods=["GET", "HEAD"]),
            Route("/token", token.get, methods=["GET"]),
            Route("/token", token.post, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
            Mount("/api/v1", app=management_app(registry)),
            Mount("/trust", app=trust_app(registry.settings.data_dir)),
            Route(
                "/v2/{path:path}",
                api.dispatch,
                methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            ),
        ]
    )
