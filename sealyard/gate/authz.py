"""Docker: an authorization plugin speaking the Engine's ``authz`` protocol.

The daemon (``dockerd --authorization-plugin=sealyard``) finds the plugin's unix socket at
``/run/docker/plugins/sealyard.sock`` and POSTs JSON to it:

* ``/Plugin.Activate`` → ``{"Implements": ["authz"]}``;
* ``/AuthZPlugin.AuthZReq`` with ``User``, ``UserAuthNMethod``, ``RequestMethod``,
  ``RequestUri``, ``RequestBody`` (base64) and ``RequestHeaders`` → ``{"Allow", "Msg", "Err"}``;
* ``/AuthZPlugin.AuthZRes`` (the daemon's response) → always allowed.

Denied: ``POST /containers/create`` whose image fails verification or whose configuration
escapes the container (privileged, host namespaces, the Docker or containerd socket or a
directory above it bind-mounted, ``CapAdd`` ALL/SYS_ADMIN/…, seccomp/AppArmor/SELinux off,
host devices, custom masked paths); ``POST /containers/{id}/exec`` with ``Privileged``; and
``POST /volumes/create`` of a local volume binding a protected path. Everything else is
allowed.

The request body is read the way the daemon's Go decoder reads it: field names match
case-insensitively with Unicode folding (``hostconfig``, even a long s, U+017F, for ``s``),
so lookups here do too, and a body naming one field twice in different spellings is refused
as ambiguous. A create request whose body the daemon did not pass on (not JSON, or over its
size limit) is denied — that is the shape of CVE-2024-41110.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import posixpath
import re
import socket
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sealyard.errors import SealyardError, UntrustedDataError, UsageError
from sealyard.gate.interface import DecisionLog, Verifier, read_body, verify_images
from sealyard.oci.reference import parse_reference

__all__ = [
    "AuthzRequestError",
    "DockerSettings",
    "authz_app",
    "bind_unix_socket",
    "dangerous_create",
    "normalize_uri",
]

MEDIA_TYPE = "application/vnd.docker.plugins.v1.2+json"
DEFAULT_DENIED_CAPABILITIES = frozenset(
    {"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "DAC_READ_SEARCH", "BPF"}
)
DEFAULT_PROTECTED_PATHS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
)
_HOST_NAMESPACES = ("NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode")
_UNCONFINED = {
    ("seccomp", "unconfined"),
    ("apparmor", "unconfined"),
    ("label", "disable"),
    ("systempaths", "unconfined"),
}
_VERSION_PREFIX = re.compile(r"^/v[0-9]+(?:\.[0-9]+)*(?=/)", re.IGNORECASE)
_CREATE = re.compile(r"^/containers/create$", re.IGNORECASE)
_EXEC = re.compile(r"^/containers/[^/]+/exec$", re.IGNORECASE)
_VOLUME_CREATE = re.compile(r"^/volumes/create$", re.IGNORECASE)
_IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")


class AuthzRequestError(UntrustedDataError):
    """The plugin request (or the Docker API body inside it) cannot be read safely."""


@dataclass(frozen=True)
class DockerSettings:
    """What the plugin refuses besides unverified images.

    Attributes:
        require_digest: deny images given by tag. An authz plugin cannot rewrite the request,
            and the daemon runs whatever it has *locally* under that tag (``docker tag`` can
            point it anywhere); only a digest reference binds the verified image.
        denied_capabilities: ``CapAdd`` values refused (without the ``CAP_`` prefix).
        protected_paths: host paths that may not be bind-mounted, nor any directory above.
        timeout_seconds: deadline for verifying the image.
        max_request_bytes: largest plugin request read (the daemon passes bodies ≤ 1 MiB).
    """

    require_digest: bool = False
    denied_capabilities: frozenset[str] = DEFAULT_DENIED_CAPABILITIES
    protected_paths: tuple[str, ...] = DEFAULT_PROTECTED_PATHS
    timeout_seconds: float = 25.0
    max_request_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, doc: Mapping[str, Any]) -> DockerSettings:
        """From the ``docker`` section of the gate config.

        Raises:
            UsageError: unknown key or bad value.
        """
        known = {
            "requireDigest",
            "deniedCapabilities",
            "protectedPaths",
            "timeoutSeconds",
            "maxRequestBytes",
        }
        unknown = sorted(set(doc) - known)
        if unknown:
            raise UsageError(f"docker: unknown field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        if "requireDigest" in doc:
            if not isinstance(doc["requireDigest"], bool):
                raise UsageError("docker.requireDigest must be true or false")
            values["require_digest"] = doc["requireDigest"]
        lists = (
            ("deniedCapabilities", "denied_capabilities"),
            ("protectedPaths", "protected_paths"),
        )
        for key, attr in lists:
            if key in doc:
                items = doc[key]
                if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                    raise UsageError(f"docker.{key} must be a list of strings")
                if attr == "denied_capabilities":
                    values[attr] = frozenset(_capability(i) for i in items)
                else:
                    if not all(i.startswith("/") for i in items):
                        raise UsageError("docker.protectedPaths must be absolute paths")
                    values[attr] = tuple(items)
        numbers = (("timeoutSeconds", "timeout_seconds"), ("maxRequestBytes", "max_request_bytes"))
        for key, attr in numbers:
            if key in doc:
                value = doc[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise UsageError(f"docker.{key} must be a positive number")
                values[attr] = value if attr == "timeout_seconds" else int(value)
        return cls(**values)


# --------------------------------------------------------------------------- reading bodies


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Go's decoder matches field names case-insensitively: two spellings of one name are
    ambiguous (which one wins depends on the decoder), so they are refused."""
    out: dict[str, Any] = {}
    folded: dict[str, str] = {}
    for key, value in pairs:
        fold = key.casefold()
        if fold in folded:
            raise ValueError(f"field {key!r} appears twice (as {folded[fold]!r})")
        folded[fold] = key
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(
            raw.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_reject_constant
        )
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise AuthzRequestError(f"{what} is not valid JSON: {exc}") from exc


def _get(doc: Mapping[str, Any], name: str) -> Any:
    """The value of field ``name`` matched as Go matches it (case-insensitively)."""
    if name in doc:
        return doc[name]
    fold = name.casefold()
    return next((v for k, v in doc.items() if k.casefold() == fold), None)


def _on(value: Any) -> bool:
    """A boolean setting is on unless it is absent, null or false (anything else fails safe)."""
    return value is not None and value is not False


def _capability(name: str) -> str:
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def normalize_uri(uri: str) -> str:
    """The API path of ``uri`` with query, API version, ``%``-escapes, ``//``, ``.``/``..`` and
    trailing slashes resolved: ``/v1.45//containers/./create/?x`` → ``/containers/create``."""
    path = uri.split("?", 1)[0].split("#", 1)[0]
    path = urllib.parse.unquote(path)
    path = re.sub(r"/{2,}", "/", "/" + path)
    path = posixpath.normpath(path)
    path = re.sub(r"/{2,}", "/", path)
    path = _VERSION_PREFIX.sub("", path, count=1)
    return path.rstrip("/") or "/"


def _clean_path(path: str) -> str:
    return posixpath.normpath(re.sub(r"/{2,}", "/", path)).replace("//", "/").rstrip("/") or "/"


def _protected(source: str, settings: DockerSettings) -> str | None:
    """The protected path ``source`` exposes (itself or a directory above it), or ``None``.

    ``source`` is compared as written and, since the plugin runs on the daemon's host, with
    its symlinks resolved there as well.
    """
    candidates = [_clean_path(source)]  # as written first: it makes the clearer message
    with contextlib.suppress(OSError, ValueError):
        candidates.append(_clean_path(os.path.realpath(source)))
    protected: dict[str, str] = {}
    for p in settings.protected_paths:
        protected[_clean_path(p)] = p
        with contextlib.suppress(OSError, ValueError):
            protected.setdefault(_clean_path(os.path.realpath(p)), p)
    for cand in candidates:
        for clean, original in protected.items():
            if cand in ("/", clean) or clean.startswith(cand + "/"):
                return original
    return None


def _list(hc: Mapping[str, Any], name: str, reasons: list[str]) -> list[Any]:
    value = _get(hc, name)
    if value is None:
        return []
    if not isinstance(value, list):
        reasons.append(f"HostConfig.{name} must be a list")
        return []
    return value


def _mounts(hc: Mapping[str, Any], settings: DockerSettings, reasons: list[str]) -> None:
    for bind in _list(hc, "Binds", reasons):
        if not isinstance(bind, str):
            reasons.append("HostConfig.Binds entries must be strings")
            continue
        source = bind.split(":", 1)[0]
        if source.startswith("/") and (hit := _protected(source, settings)):
            reasons.append(f"bind mount of {source} exposes {hit} (HostConfig.Binds)")
    for mount in _list(hc, "Mounts", reasons):
        if not isinstance(mount, Mapping):
            reasons.append("HostConfig.Mounts entries must be objects")
            continue
        source = _get(mount, "Source")
        if isinstance(source, str) and source.startswith("/"):
            if hit := _protected(source, settings):
                reasons.append(f"mount of {source} exposes {hit} (HostConfig.Mounts)")
        elif source is not None and not isinstance(source, str):
            reasons.append("HostConfig.Mounts[].Source must be a string")
        volume = _get(mount, "VolumeOptions")
        driver = _get(volume, "DriverConfig") if isinstance(volume, Mapping) else None
        options = _get(driver, "Options") if isinstance(driver, Mapping) else None
        if isinstance(options, Mapping):
            reasons += _device_reasons(options, settings, "HostConfig.Mounts[].VolumeOptions")


def _device_reasons(options: Mapping[str, Any], settings: DockerSettings, where: str) -> list[str]:
    """A local volume with ``o=bind, device=PATH`` is a bind mount of ``PATH``."""
    device = _get(options, "device")
    if isinstance(device, str) and device.startswith("/") and (hit := _protected(device, settings)):
        return [f"volume binding {device} exposes {hit} ({where})"]
    return []


def dangerous_create(body: Mapping[str, Any], settings: DockerSettings | None = None) -> list[str]:
    """Why a ``containers/create`` body escapes container isolation (empty: it does not)."""
    settings = settings or DockerSettings()
    hc = _get(body, "HostConfig")
    if hc is None:
        return []
    if not isinstance(hc, Mapping):
        return ["HostConfig must be an object"]
    reasons: list[str] = []
    if _on(_get(hc, "Privileged")):
        reasons.append("privileged container (HostConfig.Privileged)")
    for name in _HOST_NAMESPACES:
        mode = _get(hc, name)
        if mode is None:
            continue
        if not isinstance(mode, str):
            reasons.append(f"HostConfig.{name} must be a string")
        elif mode.strip().lower() == "host":
            reasons.append(f"host namespace (HostConfig.{name}=host)")
    _mounts(hc, settings, reasons)
    for cap in _list(hc, "CapAdd", reasons):
        if not isinstance(cap, str):
            reasons.append("HostConfig.CapAdd entries must be strings")
        elif _capability(cap) in settings.denied_capabilities:
            reasons.append(f"capability {cap} (HostConfig.CapAdd)")
    for opt in _list(hc, "SecurityOpt", reasons):
        if not isinstance(opt, str):
            reasons.append("HostConfig.SecurityOpt entries must be strings")
            continue
        key, _, value = _split_opt(opt)
        if (key, value) in _UNCONFINED:
            reasons.append(f"security option {opt} (HostConfig.SecurityOpt)")
    if _list(hc, "Devices", reasons):
        reasons.append("host devices (HostConfig.Devices)")
    if _list(hc, "DeviceCgroupRules", reasons):
        reasons.append("device cgroup rules (HostConfig.DeviceCgroupRules)")
    for name in ("MaskedPaths", "ReadonlyPaths"):
        if _get(hc, name) is not None:
            reasons.append(f"HostConfig.{name} replaces Docker's protection of /proc and /sys")
    return reasons


def _split_opt(opt: str) -> tuple[str, str, str]:
    """``seccomp=unconfined`` and the old ``seccomp:unconfined`` → (key, sep, value)."""
    match = re.match(r"^\s*([^=:]*)\s*([=:])\s*(.*?)\s*$", opt)
    if not match:
        return opt.strip().lower(), "", ""
    return match.group(1).lower(), match.group(2), match.group(3).lower()


# --------------------------------------------------------------------------- the plugin


def _answer(allow: bool, msg: str = "", err: str = "") -> Response:
    return JSONResponse({"Allow": allow, "Msg": msg, "Err": err}, media_type=MEDIA_TYPE)


@dataclass
class _Call:
    user: str
    method: str
    path: str
    body: bytes | None
    detail: dict[str, Any] = field(default_factory=dict)


def _parse_call(raw: bytes) -> _Call:
    doc = _json(raw, "authorization request")
    if not isinstance(doc, Mapping):
        raise AuthzRequestError("authorization request must be a JSON object")
    method = _get(doc, "RequestMethod")
    uri = _get(doc, "RequestUri")
    if not isinstance(method, str) or not method:
        raise AuthzRequestError("authorization request has no RequestMethod")
    if not isinstance(uri, str) or not uri:
        raise AuthzRequestError("authorization request has no RequestUri")
    user = _get(doc, "User")
    encoded = _get(doc, "RequestBody")
    body: bytes | None = None
    if encoded not in (None, ""):
        if not isinstance(encoded, str):
            raise AuthzRequestError("RequestBody must be base64 text")
        try:
            body = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AuthzRequestError(f"RequestBody is not valid base64: {exc}") from exc
    return _Call(
        user=user if isinstance(user, str) else "",
        method=method.upper(),
        path=normalize_uri(uri),
        body=body,
        detail={"method": method.upper(), "uri": uri[:512]},
    )


class _Plugin:
    def __init__(self, verifier: Verifier, settings: DockerSettings, log: DecisionLog) -> None:
        self.verifier = verifier
        self.settings = settings
        self.log = log

    async def _record(self, call: _Call | None, resource: str, allowed: bool, summary: str) -> None:
        detail = dict(call.detail) if call else {}
        actor = call.user if call else ""
        await anyio.to_thread.run_sync(
            lambda: self.log.record(resource, allowed, summary, actor=actor, **detail)
        )

    async def authz_req(self, request: Request) -> Response:
        limit = self.settings.max_request_bytes
        raw, total = await read_body(request, limit)
        call: _Call | None = None
        try:
            if total > limit:
                raise AuthzRequestError(
                    f"authorization request is {total} bytes; the limit is {limit}"
                )
            call = _parse_call(raw)
            if call.method != "POST":
                return _answer(True)
            if _CREATE.fullmatch(call.path):
                return await self._create(call)
            if _EXEC.fullmatch(call.path):
                return await self._exec(call)
            if _VOLUME_CREATE.fullmatch(call.path):
                return await self._volume(call)
            return _answer(True)
        except AuthzRequestError as exc:
            message = f"Sealyard: refused: {exc}"
            await self._record(call, "docker request", False, message)
            return _answer(False, message, message)

    def _body(self, call: _Call, what: str) -> Mapping[str, Any]:
        if call.body is None:
            raise AuthzRequestError(
                f"the daemon passed no request body for {what}, so it cannot be checked "
                "(send it as application/json, under the daemon's size limit)"
            )
        doc = _json(call.body, f"the {what} body")
        if not isinstance(doc, Mapping):
            raise AuthzRequestError(f"the {what} body must be a JSON object")
        return doc

    async def _create(self, call: _Call) -> Response:
        body = self._body(call, "containers/create")
        image = _get(body, "Image")
        if not isinstance(image, str) or not image.strip():
            raise AuthzRequestError("containers/create names no Image")
        reasons = dangerous_create(body, self.settings)
        if reasons:
            msg = f"Sealyard: container refused: {'; '.join(reasons)}"
            await self._record(call, image, False, msg)
            return _answer(False, msg)
        if _IMAGE_ID.fullmatch(image.strip()):
            msg = (
                f"Sealyard: image {image} is given by a local image ID; only registry "
                "references (repository@sha256:…) can be verified"
            )
            await self._record(call, image, False, msg)
            return _answer(False, msg)
        verdict = (await verify_images(self.verifier, [image], self.settings.timeout_seconds))[
            image
        ]
        call.detail.update(pinned=verdict.pinned, policy=verdict.rule)
        if not verdict.allowed:
            msg = f"Sealyard: image {image} refused: {verdict.message}"
            await self._record(call, image, False, msg)
            return _answer(False, msg)
        if self.settings.require_digest and not _has_digest(image):
            pin = f" — run {verdict.pinned}" if verdict.pinned else ""
            msg = (
                f"Sealyard: image {image} must be given by digest: a local tag may name "
                f"another image than the verified one{pin}"
            )
            await self._record(call, image, False, msg)
            return _answer(False, msg)
        await self._record(call, image, True, verdict.message)
        return _answer(True)

    async def _exec(self, call: _Call) -> Response:
        body = self._body(call, "exec")
        if _on(_get(body, "Privileged")):
            container = call.path.split("/")[2]
            msg = "Sealyard: privileged exec refused (Privileged: true)"
            await self._record(call, f"container {container}", False, msg)
            return _answer(False, msg)
        return _answer(True)

    async def _volume(self, call: _Call) -> Response:
        body = self._body(call, "volumes/create")
        options = _get(body, "DriverOpts")
        reasons = (
            _device_reasons(options, self.settings, "DriverOpts")
            if isinstance(options, Mapping)
            else []
        )
        if reasons:
            name = _get(body, "Name")
            msg = f"Sealyard: volume refused: {'; '.join(reasons)}"
            await self._record(call, f"volume {name if isinstance(name, str) else ''}", False, msg)
            return _answer(False, msg)
        return _answer(True)


def _has_digest(image: str) -> bool:
    try:
        return parse_reference(image).digest is not None
    except SealyardError:
        return False


def authz_app(
    verifier: Verifier,
    *,
    settings: DockerSettings | None = None,
    log: DecisionLog | None = None,
) -> Starlette:
    """The plugin: ``/Plugin.Activate``, ``/AuthZPlugin.AuthZReq``, ``/AuthZPlugin.AuthZRes``."""
    plugin = _Plugin(verifier, settings or DockerSettings(), log or DecisionLog("authz"))

    async def activate(_request: Request) -> Response:
        return JSONResponse({"Implements": ["authz"]}, media_type=MEDIA_TYPE)

    async def authz_res(_request: Request) -> Response:
        return _answer(True)

    return Starlette(
        routes=[
            Route("/Plugin.Activate", activate, methods=["POST"]),
            Route("/AuthZPlugin.AuthZReq", plugin.authz_req, methods=["POST"]),
            Route("/AuthZPlugin.AuthZRes", authz_res, methods=["POST"]),
        ]
    )


def bind_unix_socket(path: Path, *, mode: int = 0o600) -> socket.socket:
    """A listening unix socket at ``path``, private to its owner from the first moment.

    A stale socket file is replaced; any other file at ``path`` is left alone.

    Raises:
        UsageError: ``path`` exists and is not a socket, or cannot be bound.
    """
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
        else:
            raise UsageError(f"{path} exists and is not a socket; refusing to replace it")
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {path}: {exc}") from exc
    finally:
        os.umask(old)
    os.chmod(path, mode)
    sock.listen(128)
    return sock
