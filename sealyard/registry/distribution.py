"""The OCI Distribution Spec v1.1 HTTP API (endpoints end-1 … end-14).

Repository names contain slashes, so routing is done here by matching the path suffix.
Handlers are async; metadata work runs in a thread pool, blob bytes stream in the event loop.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response, StreamingResponse

from sealyard.errors import (
    ConflictError,
    InvalidDigestError,
    NotFoundError,
    SealyardError,
)
from sealyard.oci.digest import Digest, parse_digest
from sealyard.oci.manifest import ParsedManifest, parse_manifest
from sealyard.oci.mediatypes import OCI_INDEX
from sealyard.oci.names import project_of, validate_repository, validate_tag
from sealyard.registry.auth import Caller
from sealyard.registry.gate import PullGate, is_image
from sealyard.registry.rbac import promote_only
from sealyard.registry.responses import API_VERSION_HEADERS, OciError, from_exception
from sealyard.registry.store import BlobUnknownError, is_digest

if False:  # pragma: no cover - typing only, avoids an import cycle
    from sealyard.registry.app import Registry

__all__ = ["DistributionAPI"]

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?P<name>.+)/blobs/uploads/?$"), "uploads"),
    (re.compile(r"^(?P<name>.+)/blobs/uploads/(?P<upload>[^/]+)$"), "upload"),
    (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)$"), "blob"),
    (re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)$"), "manifest"),
    (re.compile(r"^(?P<name>.+)/tags/list$"), "tags"),
    (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)$"), "referrers"),
]
# ASCII digits only (``\d`` is any Unicode digit) and few enough for int() to take them.
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?([0-9]{1,18})-([0-9]{1,18})(?:/[0-9]+|/\*)?$")
_BLOB_CHUNK = 1 << 20


def _headers(**extra: str) -> dict[str, str]:
    return {**API_VERSION_HEADERS, **extra}


def _int_param(request: Request, name: str, limit: int) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # "²".isdigit() is True
        raise OciError("UNSUPPORTED", f"query parameter {name} must be a non-negative integer", 400)
    return min(int(value), limit)


class DistributionAPI:
    def __init__(self, registry: Registry) -> None:
        self.r = registry
        self.store = registry.store
        self.auth = registry.authenticator
        self.gate = PullGate(registry)

    async def dispatch(self, request: Request) -> Response:
        path = request.path_params.get("path", "")
        try:
            caller = await run_in_threadpool(self.auth.identify, request)
            if path == "_catalog":
                if request.method != "GET":
                    raise OciError("UNSUPPORTED", "method not allowed", 405)
                return await self.catalog(request, caller)
            for pattern, kind in _ROUTES:
                match = pattern.match(path)
                if match:
                    params = match.groupdict()
                    name = params.pop("name")
                    try:
                        validate_repository(name, self.r.settings.limits.max_name_length)
                    except SealyardError as exc:
                        raise from_exception(exc) from exc
                    handler = self._handler(kind, request.method)
                    if handler is None:
                        raise OciError("UNSUPPORTED", f"{request.method} not allowed here", 405)
                    return await handler(request, caller, name, **params)
            raise OciError("NAME_UNKNOWN", f"no such endpoint /v2/{path}", 404)
        except ClientDisconnect:
            # The client hung up mid-body (the upload was rolled back): nobody reads this.
            return Response(status_code=400, headers=_headers())
        except OciError as err:
            from sealyard.registry.responses import error_response

            return error_response(err)

    def _handler(self, kind: str, method: str) -> Callable[..., Awaitable[Response]] | None:
        table: dict[tuple[str, str], Callable[..., Awaitable[Response]]] = {
            ("uploads", "POST"): self.start_upload,
            ("upload", "GET"): self.upload_status,
            ("upload", "PATCH"): self.upload_chunk,
            ("upload", "PUT"): self.upload_finish,
            ("upload", "DELETE"): self.upload_cancel,
            ("blob", "GET"): self.get_blob,
            ("blob", "HEAD"): self.get_blob,
            ("blob", "DELETE"): self.delete_blob,
            ("manifest", "GET"): self.get_manifest,
            ("manifest", "HEAD"): self.get_manifest,
            ("manifest", "PUT"): self.put_manifest,
            ("manifest", "DELETE"): self.delete_manifest,
            ("tags", "GET"): self.list_tags,
            ("referrers", "GET"): self.referrers,
        }
        return table.get((kind, method))

    async def _require(self, request: Request, caller: Caller, name: str, action: str) -> None:
        await run_in_threadpool(self.auth.require, request, caller, name, action)

    async def _call(
        self, fn: Callable[..., Any], *args: Any, manifest: bool = False, **kw: Any
    ) -> Any:
        try:
            return await run_in_threadpool(fn, *args, **kw)
        except SealyardError as exc:
            raise from_exception(exc, manifest=manifest) from exc

    @staticmethod
    def _digest(value: str) -> Digest:
        try:
            return parse_digest(value)
        except InvalidDigestError as exc:
            raise OciError("DIGEST_INVALID", str(exc), 400) from exc

    # blobs (end-2, end-10)
    async def get_blob(self, request: Request, caller: Caller, name: str, digest: str) -> Response:
        await self._require(request, caller, name, "pull")
        d = self._digest(digest)
        size = await self._call(self.store.blob_size, name, d)
        if size is None:
            raise OciError("BLOB_UNKNOWN", f"blob {d} not found in {name}", 404)
        headers = _headers(**{"Docker-Content-Digest": d, "Content-Length": str(size)})
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type="application/octet-stream")
        path = self.store.blobs.local_path(d)
        if path is not None:
            del headers["Content-Length"]
            response = FileResponse(path, media_type="application/octet-stream", headers=headers)
            response.chunk_size = _BLOB_CHUNK
            return response
        handle = self.store.blobs.open(d)

        def chunks() -> Any:
            with handle:
                while chunk := handle.read(_BLOB_CHUNK):
                    yield chunk

        return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)

    async def delete_blob(
        self, request: Request, caller: Caller, name: str, digest: str
    ) -> Response:
        await self._require(request, caller, name, "delete")
        d = self._digest(digest)
        try:
            await run_in_threadpool(self.store.unlink_blob, name, d)
        except BlobUnknownError as exc:
            raise OciError("BLOB_UNKNOWN", str(exc), 404) from exc
        except ConflictError as exc:
            raise OciError("DENIED", str(exc), 409) from exc
        await run_in_threadpool(
            self.r.audit.record,
            caller.name,
            "delete",
            f"{name}@{d}",
            remote_addr=caller.remote_addr,
        )
        return Response(status_code=202, headers=_headers())

    # uploads (end-4a/b, end-5, end-6, end-11, end-13, end-14)
    def _upload_location(self, name: str, upload_id: str) -> str:
        return f"/v2/{name}/blobs/uploads/{upload_id}"

    def _upload_response(self, name: str, upload_id: str, size: int, status: int) -> Response:
        headers = _headers(
            Location=self._upload_location(name, upload_id),
            Range=f"0-{max(size - 1, 0)}",
            **{"Docker-Upload-UUID": upload_id, "Content-Length": "0"},
        )
        return Response(status_code=status, headers=headers)

    def _created(self, name: str, digest: Digest) -> Response:
        return Response(
            status_code=201,
            headers=_headers(
                Location=f"/v2/{name}/blobs/{digest}",
                **{"Docker-Content-Digest": digest, "Content-Length": "0"},
            ),
        )

    async def start_upload(self, request: Request, caller: Caller, name: str) -> Response:
        await self._require(request, caller, name, "push")
        params = request.query_params
        mount, source = params.get("mount"), params.get("from")
        if mount:
            d = self._digest(mount)
            sources = [source] if source else []
            for src in sources:
                try:
                    validate_repository(src)
                except SealyardError:
                    continue
                if await run_in_threadpool(self.auth.allowed, caller, src, "pull"):
                    size = await self._call(self.store.mount_blob, name, src, d)
                    if size is not None:
                        return self._created(name, d)
            # Mount impossible: fall through to a regular upload session (spec end-11).
        digest = params.get("digest")
        single = self._digest(digest) if digest and not mount else None
        upload_id = await self._call(self.store.start_upload, name, caller.name)
        if single is not None:
            try:
                await self._receive(request, upload_id, 0, None)
                await self._finish(name, upload_id, single)
            except Exception:
                # The client never learns this session's URL: do not leave it behind.
                with contextlib.suppress(SealyardError):
                    await run_in_threadpool(self.store.cancel_upload, name, upload_id)
                raise
            return self._created(name, single)
        return self._upload_response(name, upload_id, 0, 202)

    async def upload_status(
        self, request: Request, caller: Caller, name: str, upload: str
    ) -> Response:
        await self._require(request, caller, name, "push")
        size = await self._call(self.store.check_upload, name, upload)
        return self._upload_response(name, upload, size, 204)

    async def upload_cancel(
        self, request: Request, caller: Caller, name: str, upload: str
    ) -> Response:
        await self._require(request, caller, name, "push")
        await self._call(self.store.cancel_upload, name, upload)
        return Response(status_code=204, headers=_headers())

    def _parse_range(self, request: Request, size: int) -> tuple[int, int] | None:
        header = request.headers.get("content-range")
        if not header:
            return None
        match = _CONTENT_RANGE.match(header.strip())
        if not match:
            raise OciError("BLOB_UPLOAD_INVALID", f"malformed Content-Range {header!r}", 400)
        start, end = int(match.group(1)), int(match.group(2))
        if end < start:
            raise OciError("BLOB_UPLOAD_INVALID", f"Content-Range {header!r} is empty", 400)
        return start, end

    async def _receive(
        self, request: Request, upload_id: str, offset: int, expected: int | None
    ) -> int:
        """Stream the request body into the upload at ``offset``; return the new size.

        Nothing is kept from a body that is cut short, exceeds the limit or does not match the
        announced length: the upload is rolled back to ``offset``.
        """
        limit = self.r.settings.limits.max_blob_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and offset + int(length) > limit:
            raise OciError("SIZE_INVALID", f"blob would exceed the {limit}-byte limit", 413)
        try:
            writer = self.store.blobs.upload_writer(upload_id, offset)
        except ConflictError as exc:
            raise OciError("BLOB_UPLOAD_INVALID", str(exc), 416) from exc
        except NotFoundError as exc:
            raise OciError("BLOB_UPLOAD_UNKNOWN", str(exc), 404) from exc
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if offset + received > limit:
                    raise OciError("SIZE_INVALID", f"blob exceeds the {limit}-byte limit", 413)
                writer.write(chunk)
            if length is not None and length.isdigit() and received != int(length):
                raise OciError("BLOB_UPLOAD_INVALID", "body shorter than Content-Length", 400)
            if expected is not None and received != expected:
                raise OciError(
                    "BLOB_UPLOAD_INVALID",
                    f"Content-Range announces {expected} bytes but {received} arrived",
                    400,
                )
        except (OciError, ClientDisconnect, OSError):
            writer.abort()
            raise
        return await run_in_threadpool(writer.close)

    def _out_of_order(self, name: str, upload: str, start: int, size: int) -> OciError:
        """416 telling the client where the upload really stands (spec end-5)."""
        return OciError(
            "BLOB_UPLOAD_INVALID",
            f"chunk starts at {start}, expected {size}",
            416,
            headers={
                "Location": self._upload_location(name, upload),
                "Range": f"0-{max(size - 1, 0)}",
                "Docker-Upload-UUID": upload,
            },
        )

    async def upload_chunk(
        self, request: Request, caller: Caller, name: str, upload: str
    ) -> Response:
        await self._require(request, caller, name, "push")
        size = await self._call(self.store.check_upload, name, upload)
        rng = self._parse_range(request, size)
        expected = None
        if rng is not None:
            start, end = rng
            if start != size:
                raise self._out_of_order(name, upload, start, size)
            expected = end - start + 1
        new_size = await self._receive(request, upload, size, expected)
        return self._upload_response(name, upload, new_size, 202)

    async def _finish(self, name: str, upload_id: str, digest: Digest) -> None:
        await self._call(self.store.finish_upload, name, upload_id, digest)

    async def upload_finish(
        self, request: Request, caller: Caller, name: str, upload: str
    ) -> Response:
        await self._require(request, caller, name, "push")
        digest = request.query_params.get("digest")
        if not digest:
            raise OciError("DIGEST_INVALID", "the digest query parameter is required", 400)
        d = self._digest(digest)
        size = await self._call(self.store.check_upload, name, upload)
        rng = self._parse_range(request, size)
        expected = None
        if rng is not None:
            if rng[0] != size:
                raise self._out_of_order(name, upload, rng[0], size)
            expected = rng[1] - rng[0] + 1
        await self._receive(request, upload, size, expected)
        await self._finish(name, upload, d)
        return self._created(name, d)

    # manifests (end-3, end-7, end-9)
    async def get_manifest(
        self, request: Request, caller: Caller, name: str, reference: str
    ) -> Response:
        await self._require(request, caller, name, "pull")
        self._check_reference(reference)
        record, data = await self._call(self.store.read_manifest, name, reference, manifest=True)
        decision = await run_in_threadpool(
            self.gate.check,
            caller,
            name,
            record.digest,
            record.media_type,
            data,
            reference=reference,
            method=request.method,
        )
        if decision is not None and not decision.allowed:
            raise OciError("DENIED", decision.message(), 403)
        headers = _headers(
            **{"Docker-Content-Digest": record.digest, "Content-Length": str(record.size)}
        )
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=record.media_type)
        await run_in_threadpool(
            self.r.audit.record,
            caller.name,
            "pull",
            f"{name}@{record.digest}",
            remote_addr=caller.remote_addr,
            reference=reference,
        )
        return Response(data, status_code=200, headers=headers, media_type=record.media_type)

    def _check_reference(self, reference: str) -> None:
        if is_digest(reference):
            self._digest(reference)
        else:
            try:
                validate_tag(reference)
            except SealyardError as exc:
                raise from_exception(exc, manifest=True) from exc

    async def put_manifest(
        self, request: Request, caller: Caller, name: str, reference: str
    ) -> Response:
        await self._require(request, caller, name, "push")
        self._check_reference(reference)
        limit = self.r.settings.limits.max_manifest_bytes
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise OciError("MANIFEST_INVALID", f"manifest exceeds {limit} bytes", 413)
        except ClientDisconnect:
            return Response(status_code=400)
        if promote_only(caller.principal, project_of(name)):
            await run_in_threadpool(
                self._check_promotion,
                caller,
                name,
                bytes(body),
                request.headers.get("content-type"),
            )
        parsed = await self._call(
            self.store.put_manifest,
            name,
            reference,
            bytes(body),
            request.headers.get("content-type"),
            actor=caller.name,
            remote_addr=caller.remote_addr,
            manifest=True,
        )
        headers = _headers(
            Location=f"/v2/{name}/manifests/{parsed.digest}",
            **{"Docker-Content-Digest": parsed.digest, "Content-Length": "0"},
        )
        if parsed.subject is not None:
            headers["OCI-Subject"] = parsed.subject.digest
        return Response(status_code=201, headers=headers)

    def _check_promotion(
        self, caller: Caller, name: str, body: bytes, content_type: str | None
    ) -> None:
        """Refuse new image content from a robot whose push right is ``promote`` only.

        It may push referrer artifacts (a ``subject`` and no image config: attestations,
        SBOMs) and re-push — i.e. tag — manifests the repository already holds.
        """
        limits = self.r.settings.limits
        try:
            parsed: ParsedManifest = parse_manifest(
                body,
                content_type,
                max_bytes=limits.max_manifest_bytes,
                max_depth=limits.max_json_depth,
            )
        except SealyardError as exc:
            raise from_exception(exc, manifest=True) from exc
        if parsed.subject is not None and not is_image(parsed):
            return
        if self.store.resolve(name, parsed.digest) is not None:
            return
        self.r.audit.record(
            caller.name,
            "push",
            f"{name}@{parsed.digest}",
            outcome="denied",
            remote_addr=caller.remote_addr,
            reason="promote only",
        )
        raise OciError(
            "DENIED",
            f"{caller.name} may only promote in project {project_of(name)!r}: it can push "
            "attestations and SBOMs (manifests with a subject) and tag manifests already in "
            f"{name}, but {parsed.digest} is new image content",
            403,
        )

    async def delete_manifest(
        self, request: Request, caller: Caller, name: str, reference: str
    ) -> Response:
        await self._require(request, caller, name, "delete")
        self._check_reference(reference)
        try:
            await run_in_threadpool(
                self.store.delete_manifest,
                name,
                reference,
                actor=caller.name,
                remote_addr=caller.remote_addr,
            )
        except ConflictError as exc:
            raise OciError("DENIED", str(exc), 409) from exc
        except SealyardError as exc:
            raise from_exception(exc, manifest=True) from exc
        return Response(status_code=202, headers=_headers())

    # discovery (end-8, end-12, catalog)
    def _next_link(self, path: str, n: int, last: str, extra: dict[str, str] | None = None) -> str:
        query = urlencode({**(extra or {}), "n": n, "last": last})
        return f'<{path}?{query}>; rel="next"'

    async def list_tags(self, request: Request, caller: Caller, name: str) -> Response:
        await self._require(request, caller, name, "pull")
        n = _int_param(request, "n", self.r.settings.limits.max_tags_page)
        last = request.query_params.get("last")
        tags = await self._call(self.store.list_tags, name, n, last)
        if tags is None:
            raise OciError("NAME_UNKNOWN", f"repository {name} not found", 404)
        headers = _headers()
        if n is not None and n > 0 and len(tags) == n:
            headers["Link"] = self._next_link(f"/v2/{quote(name)}/tags/list", n, tags[-1])
        body = json.dumps({"name": name, "tags": tags})
        return Response(body, headers=headers, media_type="application/json")

    async def catalog(self, request: Request, caller: Caller) -> Response:
        n = _int_param(request, "n", self.r.settings.limits.max_tags_page)
        last = request.query_params.get("last")

        def visible() -> list[str]:
            names: list[str] = []
            cursor = last
            while n is None or len(names) < n:
                batch = self.store.list_repositories(500, cursor)
                if not batch:
                    break
                for repo, _project in batch:
                    if self.auth.may(caller, repo, "pull"):
                        names.append(repo)
                        if n is not None and len(names) == n:
                            break
                cursor = batch[-1][0]
            return names

        repos = await run_in_threadpool(visible)
        headers = _headers()
        if n is not None and n > 0 and len(repos) == n:
            headers["Link"] = self._next_link("/v2/_catalog", n, repos[-1])
        return Response(
            json.dumps({"repositories": repos}), headers=headers, media_type="application/json"
        )

    async def referrers(self, request: Request, caller: Caller, name: str, digest: str) -> Response:
        await self._require(request, caller, name, "pull")
        d = self._digest(digest)
        artifact_type = request.query_params.get("artifactType")
        manifests = await self._call(self.store.referrers, name, d, artifact_type)
        headers = _headers()
        if artifact_type:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
        return Response(body, headers=headers, media_type=OCI_INDEX)
