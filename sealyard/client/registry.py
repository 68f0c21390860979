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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast
from urllib.parse import urlencode

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

__all__ = ["PushedManifest", "ReferrersPages", "RegistryClient", "load_docker_credentials"]

ACCEPT_MANIFESTS = ", ".join(
    [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_LOOPBACK = ("localhost", "127.", "[::1]")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
#: Most pages of a paginated referrers answer that are followed.
MAX_REFERRERS_PAGES = 16


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


@dataclass(frozen=True)
class PushedManifest:
    """What the registry answered to a manifest ``PUT``.

    ``subject`` is the ``OCI-Subject`` header: set by a registry with the referrers API when it
    processed the manifest's ``subject`` field; ``None`` means the pusher must maintain the
    referrers tag itself.
    """

    digest: Digest
    subject: str | None


@dataclass(frozen=True)
class ReferrersPages:
    """The raw image-index pages a referrers API answered (size-capped, not yet parsed).

    ``filtered`` is true when the registry applied the ``artifactType`` filter
    (``OCI-Filters-Applied``); callers filter again either way.
    """

    pages: tuple[bytes, ...]
    filtered: bool


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
        content: bytes | Iterator[bytes] | None = None,
    ) -> httpx.Response:
        """Send a request (with ``content`` as its body, if any), answering one auth
        challenge. Raises TransportError & co."""
        request_headers = dict(headers or {})
        for attempt in range(2):
            auth = self._auth_header(scope)
            if auth:
                request_headers["Authorization"] = auth
            try:
                request = self._http.build_request(
                    method, self.base + path, headers=request_headers, content=content
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

    # uploads and discovery (OCI 1.1 referrers)
    def _local_path(self, location: str | None, what: str) -> str:
        """Path and query of a ``Location`` on this registry (relative or absolute)."""
        if not location:
            raise TransportError(f"{self.registry}: {what} answered without a Location")
        try:
            url = httpx.URL(location)
        except httpx.InvalidURL as exc:
            raise TransportError(f"{self.registry}: {what}: bad Location {location!r}") from exc
        if url.is_relative_url:
            return location if location.startswith("/") else "/" + location
        base = httpx.URL(self.base)
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            raise TransportError(
                f"{self.registry}: {what} redirects to another host ({url.host}); not supported"
            )
        return url.raw_path.decode("ascii")

    def has_blob(self, repository: str, digest: Digest) -> bool:
        try:
            self.send(
                "HEAD", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
            )
        except NotFoundError:
            return False
        return True

    def push_blob(self, repository: str, data: bytes) -> Digest:
        """Upload ``data`` as a blob of ``repository`` unless it is there; return its digest."""
        digest = sha256_digest(data)
        self.push_blob_from(repository, digest, len(data), io.BytesIO(data))
        return digest

    def push_blob_from(self, repository: str, digest: Digest, size: int, reader: IO[bytes]) -> None:
        """Stream ``size`` bytes from ``reader`` as blob ``digest`` unless it is there.

        Uses ``POST`` then one ``PUT ?digest=`` (end-4a, end-6), which every registry
        supports; the registry verifies the digest, so a reader that lies fails the upload.
        """
        scope = f"repository:{repository}:pull,push"
        try:
            self.send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope)
            return
        except NotFoundError:
            pass
        started = self.send("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        if started.status_code != 202:
            raise TransportError(
                f"{self.registry}: upload start answered {started.status_code}, expected 202"
            )
        location = self._local_path(started.headers.get("location"), "upload start")
        separator = "&" if "?" in location else "?"

        def chunks() -> Iterator[bytes]:
            while chunk := reader.read(1024 * 1024):
                yield chunk

        done = self.send(
            "PUT",
            f"{location}{separator}digest={digest}",
            scope=scope,
            content=chunks() if size else b"",
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        if done.status_code != 201:
            raise TransportError(
                f"{self.registry}: upload of {digest} answered {done.status_code}, expected 201"
            )

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> PushedManifest:
        """``PUT`` manifest ``data`` as ``reference`` (a tag or its digest).

        Raises:
            UntrustedDataError: the registry reports another digest than the bytes sent have.
        """
        response = self.send(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull,push",
            content=data,
            headers={"Content-Type": media_type},
        )
        digest = sha256_digest(data)
        reported = response.headers.get("docker-content-digest")
        if reported and reported != digest:
            raise UntrustedDataError(
                f"{self.registry}: stored manifest as {reported}, but its bytes are {digest}"
            )
        return PushedManifest(digest=digest, subject=response.headers.get("oci-subject"))

    def get_referrers(
        self, repository: str, digest: Digest, artifact_type: str | None = None
    ) -> ReferrersPages | None:
        """The referrers index of ``digest`` (end-12), following ``Link: rel="next"``.

        Returns ``None`` when the registry answers 404: it has no referrers API and the
        caller falls back to the referrers tag schema.

        Raises:
            UntrustedDataError: a page is larger than the manifest size limit, or there are
                more than :data:`MAX_REFERRERS_PAGES` pages.
        """
        scope = f"repository:{repository}:pull"
        path = f"/v2/{repository}/referrers/{digest}"
        if artifact_type:
            path += "?" + urlencode({"artifactType": artifact_type})
        pages: list[bytes] = []
        filtered = True
        while True:
            try:
                response = self.send("GET", path, scope=scope, headers={"Accept": mt.OCI_INDEX})
            except NotFoundError:
                if pages:
                    raise
                return None
            data = response.content
            if len(data) > self.limits.max_manifest_bytes:
                raise UntrustedDataError(f"referrers of {repository}@{digest} are too large")
            pages.append(data)
            applied = response.headers.get("oci-filters-applied", "")
            filtered = filtered and "artifacttype" in applied.lower().replace(" ", "").split(",")
            found = _LINK_NEXT.search(response.headers.get("link", ""))
            if found is None:
                break
            if len(pages) >= MAX_REFERRERS_PAGES:
                raise UntrustedDataError(
                    f"referrers of {repository}@{digest} span more than {MAX_REFERRERS_PAGES} pages"
                )
            path = self._local_path(found.group(1), "referrers pagination")
        return ReferrersPages(pages=tuple(pages), filtered=bool(artifact_type) and filtered)
