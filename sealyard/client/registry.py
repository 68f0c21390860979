"""A registry client: challenge → token auth, manifests, verified blob streams.

One network seam (:meth:`RegistryClient.send`): auth, size caps and error wrapping live
there, so every caller gets them.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import httpx

from sealyard.config import Limits
from sealyard.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UntrustedDataError,
)
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.oci.verify import VerifyingReader, read_verified

__all__ = ["RegistryClient", "load_docker_credentials"]

ACCEPT_MANIFESTS = ", ".join(
    [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LOOPBACK = ("localhost", "127.", "[::1]")


def load_docker_credentials(registry: str) -> tuple[str, str] | None:
    """Credentials for ``registry`` from docker's or containers' auth files, if any."""
    candidates = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        candidates.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    docker_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    candidates.append(docker_dir / "config.json")
    for path in candidates:
        try:
            auths = json.loads(path.read_text()).get("auths", {})
        except (OSError, ValueError, AttributeError):
            continue
        for key in (registry, f"https://{registry}", f"http://{registry}"):
            entry = auths.get(key)
            if isinstance(entry, dict) and entry.get("auth"):
                try:
                    raw = base64.b64decode(entry["auth"], validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    continue
                user, sep, password = raw.partition(":")
                if sep and user:
                    return user, password
    return None


class _StreamReader(io.RawIOBase):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_raw(1 << 20)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            try:
                self._pending = next(self._chunks, b"")
            except httpx.HTTPError as exc:
                raise TransportError(f"blob download failed: {exc}") from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._response.close()
        super().close()


class RegistryClient:
    """Talks to one registry host."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: tuple[str, str] | None = None,
        insecure: bool | None = None,
        limits: Limits | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        if insecure is None:
            insecure = registry.startswith(_LOOPBACK)
        self.base = f"{'http' if insecure else 'https'}://{registry}"
        self.credentials = credentials or load_docker_credentials(registry)
        self.limits = limits or Limits()
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        self._tokens: dict[str, str] = {}
        self._basic = False

    def close(self) -> None:
        self._http.close()

    # the seam
    def send(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request, answering one auth challenge. Raises TransportError & co."""
        request_headers = dict(headers or {})
        for attempt in range(2):
            auth = self._auth_header(scope)
            if auth:
                request_headers["Authorization"] = auth
            try:
                request = self._http.build_request(
                    method, self.base + path, headers=request_headers
                )
                response = self._http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise TransportError(f"{method} {self.base}{path}: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("www-authenticate", "")
                response.close()
                self._answer(challenge, scope)
                continue
            break
        if response.status_code >= 400:
            if stream:
                response.read()
            self._raise(response, f"{method} {path}")
        return response

    def _auth_header(self, scope: str) -> str | None:
        if scope in self._tokens:
            return f"Bearer {self._tokens[scope]}"
        if self._basic and self.credentials:
            raw = f"{self.credentials[0]}:{self.credentials[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    def _answer(self, challenge: str, scope: str) -> None:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not self.credentials:
                raise AuthenticationError(f"{self.registry} requires credentials")
            self._basic = True
            return
        if scheme != "bearer":
            raise AuthenticationError(f"{self.registry}: unsupported challenge {challenge!r}")
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise AuthenticationError(f"{self.registry}: challenge without realm")
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        auth = None
        if self.credentials:
            auth = httpx.BasicAuth(*self.credentials)
        try:
            response = self._http.get(realm, params=query, auth=auth)
        except httpx.HTTPError as exc:
            raise TransportError(f"token request to {realm} failed: {exc}") from exc
        if response.status_code != 200:
            raise AuthenticationError(
                f"{self.registry}: token request refused ({response.status_code})"
            )
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise AuthenticationError(f"{self.registry}: token response without token")
        self._tokens[scope] = token

    def _raise(self, response: httpx.Response, what: str) -> None:
        message = response.text[:500]
        try:
            errors = response.json().get("errors") or []
            if errors:
                message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError):
            pass
        status = response.status_code
        text = f"{self.registry}: {what}: {status} {message}"
        if status == 401:
            raise AuthenticationError(text)
        if status == 403:
            raise PermissionDeniedError(text)
        if status == 404:
            raise NotFoundError(text)
        raise TransportError(text)

    # registry operations
    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, Digest]:
        """Manifest bytes, media type and digest; verified when ``reference`` is a digest."""
        response = self.send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        data = response.content
        if len(data) > self.limits.max_manifest_bytes:
            raise UntrustedDataError(f"manifest of {repository}:{reference} is too large")
        if ":" in reference:
            digest = parse_digest(reference)
            read_verified(io.BytesIO(data), digest, self.limits.max_manifest_bytes)
        else:
            digest = sha256_digest(data)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return data, media_type, digest

    def fetch_blob(self, repository: str, digest: Digest, limit: int | None = None) -> bytes:
        response = self.send(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
        )
        return read_verified(
            io.BytesIO(response.content), digest, limit or self.limits.max_manifest_bytes
        )

    def open_blob(self, repository: str, digest: Digest) -> VerifyingReader:
        response = self.send(
            "GET",
            f"/v2/{repository}/blobs/{digest}",
            scope=f"repository:{repository}:pull",
            stream=True,
        )
        return VerifyingReader(
            cast(BinaryIO, io.BufferedReader(_StreamReader(response), 1 << 20)),
            digest,
            max_bytes=self.limits.max_blob_bytes,
        )
