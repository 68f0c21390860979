"""Read-only HTTP view of every project's *published* trust metadata.

``GET /<project>/metadata/<file>`` and ``GET /<project>/targets/policies/<file>`` (mounted under
``/trust``) serve ``<data dir>/trust/<project>/published/``, which only
:meth:`sealyard.trust.root.TrustRepository.publish` writes. Nothing here needs to be trusted by
clients — they verify everything from their pinned root — but the app still refuses any name
that is not a plain file below that directory (no ``..``, no dot files, no symlinks out).
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sealyard.errors import UsageError
from sealyard.trust.root import validate_project

__all__ = ["published_file", "trust_app"]

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_MAX_DEPTH = 2


def published_file(data_dir: Path, project: str, kind: str, path: str) -> Path | None:
    """The published file a request names, or ``None`` if it names nothing servable."""
    try:
        validate_project(project)
    except UsageError:
        return None
    parts = path.split("/")
    if (
        kind not in ("metadata", "targets")
        or not 1 <= len(parts) <= _MAX_DEPTH
        or any(not _SEGMENT.fullmatch(p) or ".." in p for p in parts)
    ):
        return None
    base = (data_dir / "trust" / project / "published" / kind).resolve()
    candidate = base.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(base) or not resolved.is_file():
        return None
    return resolved


def trust_app(data_dir: Path) -> Starlette:
    """The ASGI app serving published trust metadata; mount it at ``/trust``."""
    data_dir = Path(data_dir)

    async def serve(request: Request) -> Response:
        params = request.path_params
        file = published_file(data_dir, params["project"], params["kind"], params["path"])
        if file is None:
            return _not_found()
        try:
            body = await run_in_threadpool(file.read_bytes)
        except OSError:
            return _not_found()
        # timestamp.json (and the unversioned copies) change with every publish; versioned,
        # hash-prefixed files never change once written.
        mutable = file.name in ("timestamp.json", "snapshot.json", "root.json")
        headers = {
            "Cache-Control": "no-cache" if mutable else "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        }
        media = "application/json" if params["kind"] == "metadata" else "application/octet-stream"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(b"", media_type=media, headers=headers)
        return Response(body, media_type=media, headers=headers)

    return Starlette(routes=[Route("/{project}/{kind}/{path:path}", serve, methods=["GET"])])


def _not_found() -> Response:
    return JSONResponse(
        {"errors": [{"code": "NOT_FOUND", "message": "no such published trust file"}]},
        status_code=404,
    )
