"""OCI error responses and the mapping from Sealyard errors to OCI error codes."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from sealyard.errors import (
    AuthenticationError,
    ConflictError,
    DigestMismatchError,
    InvalidDigestError,
    InvalidNameError,
    InvalidReferenceError,
    ManifestInvalidError,
    NotFoundError,
    PermissionDeniedError,
    SealyardError,
    SizeLimitError,
    UsageError,
)

__all__ = ["API_VERSION_HEADERS", "OciError", "error_response", "from_exception"]

API_VERSION_HEADERS = {"Docker-Distribution-API-Version": "registry/2.0"}


class OciError(Exception):
    """An error to send as an OCI error body with ``code`` and HTTP ``status``."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int,
        *,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def error_response(err: OciError) -> Response:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.detail is not None:
        body["detail"] = err.detail
    return Response(
        json.dumps({"errors": [body]}),
        status_code=err.status,
        media_type="application/json",
        headers={**API_VERSION_HEADERS, **err.headers},
    )


def from_exception(exc: SealyardError, *, manifest: bool = False) -> OciError:
    """Translate a library error raised while serving a request into an OCI error."""
    from sealyard.registry.store import (  # local import: store imports nothing from here
        BlobUnknownError,
        ManifestBlobUnknownError,
        ManifestUnknownError,
        RepositoryUnknownError,
        UploadUnknownError,
    )

    msg = str(exc)
    mapping: list[tuple[type[BaseException], str, int]] = [
        (ManifestBlobUnknownError, "MANIFEST_BLOB_UNKNOWN", 400),
        (SizeLimitError, "MANIFEST_INVALID" if manifest else "SIZE_INVALID", 413),
        (ManifestInvalidError, "MANIFEST_INVALID", 400),
        (DigestMismatchError, "DIGEST_INVALID", 400),
        (InvalidDigestError, "DIGEST_INVALID", 400),
        (InvalidNameError, "NAME_INVALID", 400),
        (InvalidReferenceError, "MANIFEST_INVALID", 400),
        (BlobUnknownError, "BLOB_UNKNOWN", 404),
        (ManifestUnknownError, "MANIFEST_UNKNOWN", 404),
        (UploadUnknownError, "BLOB_UPLOAD_UNKNOWN", 404),
        (RepositoryUnknownError, "NAME_UNKNOWN", 404),
        (NotFoundError, "NAME_UNKNOWN", 404),
        (ConflictError, "DENIED", 409),
        (AuthenticationError, "UNAUTHORIZED", 401),
        (PermissionDeniedError, "DENIED", 403),
        (UsageError, "UNSUPPORTED", 400),
    ]
    for kind, code, status in mapping:
        if isinstance(exc, kind):
            detail = getattr(exc, "missing", None)
            return OciError(code, msg, status, detail=detail)
    return OciError("UNKNOWN", msg, 500)
