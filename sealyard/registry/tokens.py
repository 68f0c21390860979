"""Docker registry token authentication.

The token endpoint authenticates the client, intersects the requested scopes with what the
principal may do, and returns an ES256-signed JWT whose ``access`` claim lists the granted
actions. The registry accepts only tokens signed by its own key, for its own service.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sealyard.errors import AuthenticationError, UsageError

__all__ = ["Scope", "TokenService", "parse_scopes"]

_SCOPE = re.compile(r"^(repository|registry):([a-z0-9._/-]+|catalog)(?:\([a-z]+\))?:([a-z*,]*)$")


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    def to_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scopes(values: list[str]) -> list[Scope]:
    """Parse ``scope`` parameters (each may hold several space-separated scopes).

    Raises:
        UsageError: a scope is malformed.
    """
    scopes: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for item in value.split():
            match = _SCOPE.match(item)
            if not match:
                raise UsageError(f"invalid scope {item!r}")
            kind, name, actions = match.groups()
            scopes.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    return [Scope(k, n, frozenset(a)) for (k, n), a in scopes.items()]


class TokenService:
    """Issues and verifies registry tokens with a key kept in ``key_dir``."""

    def __init__(self, key_dir: Path, service: str, ttl: int = 300) -> None:
        self.service = service
        self.ttl = ttl
        key_path = key_dir / "token-signing.pem"
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise UsageError(f"{key_path} is not an EC private key")
            self._key = loaded
        else:
            key_dir.mkdir(parents=True, exist_ok=True)
            self._key = ec.generate_private_key(ec.SECP256R1())
            pem = self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            tmp = key_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, key_path)
        self._public = self._key.public_key()
        self.issuer = f"{service}-token-issuer"

    def issue(self, subject: str, kind: str, access: list[Scope]) -> tuple[str, int, float]:
        """Return ``(token, expires_in, issued_at)``."""
        now = time.time()
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now) - 5,
            "exp": int(now) + self.ttl,
            "jti": secrets.token_hex(16),
            "kind": kind,
            "access": [s.to_claim() for s in access],
        }
        return jwt.encode(claims, self._key, algorithm="ES256"), self.ttl, now

    def verify(self, token: str) -> dict[str, Any]:
        """Check signature, issuer, audience and lifetime; return the claims.

        Raises:
            AuthenticationError: the token is invalid or expired.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                audience=self.service,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc
        return claims


def granted_actions(claims: dict[str, Any], kind: str, name: str) -> frozenset[str]:
    """Actions the token grants on resource ``kind:name``."""
    actions: set[str] = set()
    for entry in claims.get("access") or []:
        if isinstance(entry, dict) and entry.get("type") == kind and entry.get("name") == name:
            actions.update(a for a in entry.get("actions", []) if isinstance(a, str))
    return frozenset(actions)
