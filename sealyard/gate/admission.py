"""Kubernetes admission: a ValidatingAdmissionWebhook and a mutating variant that pins digests.

The API server POSTs an ``admission.k8s.io/v1`` AdmissionReview to ``/validate`` or
``/mutate``. For a Pod, and for the workload kinds that template Pods (Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob), every image of
``containers``, ``initContainers`` and ``ephemeralContainers`` is verified, each distinct image
once, concurrently, within a deadline. The answer is an AdmissionReview with the same ``uid``:

* all images pass → allowed; ``/mutate`` adds a base64 JSONPatch replacing each tag with the
  verified ``registry/repository@sha256:…`` (an image already given by digest is left as is);
* any image fails → denied, ``status.code`` 403, the message names each failing image, its
  container and the decision's summary.

Choices (see docs/gates.md):

* DELETE and CONNECT are allowed without verification; other operations than CREATE/UPDATE
  are refused.
* ``pods/ephemeralcontainers`` (``kubectl debug``) verifies only the ephemeral containers —
  the only images that subresource can change. Other subresources (``status`` …) cannot
  change images and are allowed with a warning.
* A kind this gate does not know is allowed with a warning: the webhook's ``rules`` select
  what is sent, and the Pods any controller creates are checked at Pod level anyway.
* A review that cannot be parsed is denied (HTTP 200, ``allowed: false``) when its ``uid``
  can be read, otherwise answered 400 — either way the API server refuses the request
  (``failurePolicy: Fail``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sealyard.errors import SealyardError, UntrustedDataError, UsageError
from sealyard.gate.interface import DecisionLog, GateVerdict, Verifier, read_body, verify_images
from sealyard.oci.reference import parse_reference
from sealyard.trust._json import parse_json_object

__all__ = [
    "AdmissionRequest",
    "AdmissionSettings",
    "ImageSite",
    "ReviewError",
    "admission_app",
    "find_images",
    "json_pointer",
    "parse_review",
    "pod_spec_path",
    "webhook_configurations",
]

REVIEW_API_VERSION = "admission.k8s.io/v1"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
#: (API group, kind) → path of the PodSpec inside the object.
POD_SPEC_PATHS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
_RESOURCES = {
    "": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
    "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    "batch": ["jobs", "cronjobs"],
}
_UID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# The API server writes request.uid first; this finds it in a body too large or broken to parse.
_UID_PREFIX = re.compile(rb'"request"\s*:\s*\{\s*"uid"\s*:\s*"([A-Za-z0-9._:-]{1,128})"')
MAX_WARNINGS = 16
MAX_WARNING_CHARS = 256
MAX_MESSAGE_CHARS = 8192


class ReviewError(UntrustedDataError):
    """The AdmissionReview is malformed; ``uid`` is set when it could still be read."""

    def __init__(self, message: str, uid: str | None = None) -> None:
        super().__init__(message)
        self.uid = uid


@dataclass(frozen=True)
class AdmissionSettings:
    """Limits of the webhook.

    Attributes:
        max_review_bytes: largest AdmissionReview read (objects are ≤ 1.5 MiB in etcd; a
            review carries ``object`` and ``oldObject``).
        timeout_seconds: deadline for verifying all images; keep it below the webhook's
            ``timeoutSeconds`` so the refusal carries Sealyard's message, not a timeout.
        max_images: most distinct images one object may name.
    """

    max_review_bytes: int = 8 * 1024 * 1024
    timeout_seconds: float = 9.0
    max_images: int = 64

    @classmethod
    def from_config(cls, doc: Mapping[str, Any]) -> AdmissionSettings:
        """From the ``admission`` section of the gate config.

        Raises:
            UsageError: unknown key or bad value.
        """
        names = {
            "maxReviewBytes": "max_review_bytes",
            "timeoutSeconds": "timeout_seconds",
            "maxImages": "max_images",
        }
        unknown = sorted(set(doc) - set(names))
        if unknown:
            raise UsageError(f"admission: unknown field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, attr in names.items():
            if key in doc:
                value = doc[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise UsageError(f"admission.{key} must be a positive number")
                values[attr] = value if attr == "timeout_seconds" else int(value)
        return cls(**values)


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of ``AdmissionReview.request`` the gate uses."""

    uid: str
    group: str
    version: str
    kind: str
    operation: str
    sub_resource: str
    namespace: str
    name: str
    username: str
    dry_run: bool
    object: Mapping[str, Any] | None


@dataclass(frozen=True)
class ImageSite:
    """One image field in the object: where it is (JSON pointer parts) and whose it is."""

    path: tuple[str | int, ...]
    field: str
    index: int
    container: str
    image: str

    def describe(self) -> str:
        return f"{self.field}[{self.index}] {self.container!r}"


def json_pointer(parts: Sequence[str | int]) -> str:
    """RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``, each part prefixed by ``/``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _string(doc: Mapping[str, Any], key: str, where: str, uid: str | None) -> str:
    value = doc.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewError(f"{where}.{key} must be a string", uid)
    return value


def _fish_uid(raw: bytes) -> str | None:
    match = _UID_PREFIX.search(raw[:65536])
    return match.group(1).decode("ascii") if match else None


def parse_review(
    raw: bytes, *, max_bytes: int = AdmissionSettings.max_review_bytes
) -> AdmissionRequest:
    """Parse an ``admission.k8s.io/v1`` AdmissionReview strictly.

    Raises:
        ReviewError: not a v1 AdmissionReview request, or a field of the wrong type; ``uid``
            is set on the error when it could be read.
    """
    try:
        doc = parse_json_object(raw, what="AdmissionReview", max_bytes=max_bytes, max_depth=100)
    except UntrustedDataError as exc:
        raise ReviewError(str(exc), _fish_uid(raw)) from exc
    request = doc.get("request")
    uid = request.get("uid") if isinstance(request, Mapping) else None
    if not isinstance(uid, str) or not _UID.fullmatch(uid):
        raise ReviewError("AdmissionReview has no valid request.uid")
    if doc.get("apiVersion") != REVIEW_API_VERSION or doc.get("kind") != "AdmissionReview":
        raise ReviewError(
            f"expected apiVersion {REVIEW_API_VERSION}, kind AdmissionReview; got "
            f"{doc.get('apiVersion')!r:.60}, {doc.get('kind')!r:.40} (configure the webhook "
            "with admissionReviewVersions: [v1])",
            uid,
        )
    assert isinstance(request, Mapping)
    gvk = request.get("kind")
    if not isinstance(gvk, Mapping):
        raise ReviewError("request.kind must be an object (group, version, kind)", uid)
    group = _string(gvk, "group", "request.kind", uid)
    version = _string(gvk, "version", "request.kind", uid)
    kind = _string(gvk, "kind", "request.kind", uid)
    if not kind:
        raise ReviewError("request.kind.kind is missing", uid)
    operation = _string(request, "operation", "request", uid)
    if operation not in OPERATIONS:
        raise ReviewError(
            f"request.operation {operation!r:.40} is not one of {', '.join(OPERATIONS)}", uid
        )
    obj = request.get("object")
    if operation in ("CREATE", "UPDATE"):
        if not isinstance(obj, Mapping):
            raise ReviewError(f"request.object must be an object for {operation}", uid)
        declared = obj.get("kind")
        if declared is not None and declared != kind:
            raise ReviewError(
                f"request.object.kind {declared!r:.40} contradicts request.kind {kind!r:.40}", uid
            )
    user = request.get("userInfo")
    username = (
        _string(user, "username", "request.userInfo", uid) if isinstance(user, Mapping) else ""
    )
    dry_run = request.get("dryRun", False)
    if not isinstance(dry_run, bool | None):
        raise ReviewError("request.dryRun must be a boolean", uid)
    return AdmissionRequest(
        uid=uid,
        group=group,
        version=version,
        kind=kind,
        operation=operation,
        sub_resource=_string(request, "subResource", "request", uid),
        namespace=_string(request, "namespace", "request", uid),
        name=_string(request, "name", "request", uid),
        username=username,
        dry_run=bool(dry_run),
        object=obj if isinstance(obj, Mapping) else None,
    )


def pod_spec_path(group: str, kind: str) -> tuple[str, ...] | None:
    """Where the PodSpec of ``kind`` lives, or ``None`` for a kind the gate does not know."""
    return POD_SPEC_PATHS.get((group, kind))


def find_images(
    obj: Mapping[str, Any],
    spec_path: Sequence[str],
    fields: Sequence[str] = CONTAINER_FIELDS,
    *,
    uid: str | None = None,
) -> tuple[list[ImageSite], list[str]]:
    """Every image of ``fields`` in the PodSpec at ``spec_path``, and warnings.

    A missing (or null) spec or list means no containers there; a value of the wrong type is
    an error, because the object is what would be stored.

    Raises:
        ReviewError: a field on the way has the wrong type.
    """
    node: Any = obj
    where = "object"
    for key in spec_path:
        if not isinstance(node, Mapping):
            raise ReviewError(f"{where} must be an object", uid)
        node = node.get(key)
        where = f"{where}.{key}"
        if node is None:
            return [], [f"{where} is missing: no containers to verify"]
    if not isinstance(node, Mapping):
        raise ReviewError(f"{where} must be an object", uid)
    sites: list[ImageSite] = []
    warnings: list[str] = []
    for field_name in fields:
        items = node.get(field_name)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ReviewError(f"{where}.{field_name} must be a list", uid)
        for i, container in enumerate(items):
            at = f"{where}.{field_name}[{i}]"
            if not isinstance(container, Mapping):
                raise ReviewError(f"{at} must be an object", uid)
            name = container.get("name", f"#{i}")
            if not isinstance(name, str):
                raise ReviewError(f"{at}.name must be a string", uid)
            image = container.get("image")
            if image is None or image == "":
                warnings.append(f"{at} ({name}) has no image; nothing to verify")
                continue
            if not isinstance(image, str):
                raise ReviewError(f"{at}.image must be a string", uid)
            sites.append(
                ImageSite((*spec_path, field_name, i, "image"), field_name, i, name, image)
            )
    return sites, warnings


# --------------------------------------------------------------------------- responses


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _review(
    uid: str,
    allowed: bool,
    *,
    message: str | None = None,
    code: int = 403,
    warnings: Sequence[str] = (),
    patch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {
            "status": "Failure",
            "code": code,
            "reason": "Forbidden" if code == 403 else "BadRequest",
            "message": _trim(message or "denied by the Sealyard gate", MAX_MESSAGE_CHARS),
        }
    if warnings:
        unique = list(dict.fromkeys(warnings))
        response["warnings"] = [_trim(w, MAX_WARNING_CHARS) for w in unique[:MAX_WARNINGS]]
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(
            json.dumps(patch, separators=(",", ":")).encode()
        ).decode("ascii")
    return {"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response}


def _has_digest(image: str) -> bool:
    try:
        return parse_reference(image).digest is not None
    except SealyardError:
        return False


class _Webhook:
    def __init__(self, verifier: Verifier, settings: AdmissionSettings, log: DecisionLog) -> None:
        self.verifier = verifier
        self.settings = settings
        self.log = log

    async def _record(self, *records: tuple[str, bool, str, dict[str, Any]]) -> None:
        def write() -> None:
            for resource, allowed, summary, detail in records:
                self.log.record(resource, allowed, summary, **detail)

        await anyio.to_thread.run_sync(write)

    async def handle(self, request: Request, *, mutate: bool) -> Response:
        remote = request.client.host if request.client else ""
        limit = self.settings.max_review_bytes
        raw, total = await read_body(request, limit)
        try:
            if total > limit:
                raise ReviewError(
                    f"AdmissionReview is {total} bytes; the limit is {limit}", _fish_uid(raw)
                )
            review = parse_review(raw, max_bytes=limit)
        except ReviewError as exc:
            message = f"malformed AdmissionReview: {exc}"
            await self._record(
                ("AdmissionReview", False, message, {"remote_addr": remote, "uid": exc.uid})
            )
            if exc.uid is None:
                return JSONResponse({"message": message}, status_code=400)
            return JSONResponse(_review(exc.uid, False, message=message, code=400))
        try:
            body = await self._decide(review, remote, mutate=mutate)
        except ReviewError as exc:
            message = f"malformed {review.kind}: {exc}"
            detail = {"remote_addr": remote, "uid": review.uid, "actor": review.username}
            await self._record(("AdmissionReview", False, message, detail))
            body = _review(review.uid, False, message=message, code=400)
        return JSONResponse(body)

    async def _decide(
        self, review: AdmissionRequest, remote: str, *, mutate: bool
    ) -> dict[str, Any]:
        uid = review.uid
        if review.operation in ("DELETE", "CONNECT"):
            return _review(uid, True)
        target = f"{review.kind} {review.namespace + '/' if review.namespace else ''}{review.name}"
        fields: Sequence[str] = CONTAINER_FIELDS
        spec_path = pod_spec_path(review.group, review.kind)
        if review.sub_resource == "ephemeralcontainers":
            fields = ("ephemeralContainers",)
            if review.group == "" and review.kind == "EphemeralContainers":  # Kubernetes < 1.22
                spec_path = ()
            elif (review.group, review.kind) != ("", "Pod"):
                raise ReviewError(
                    f"subresource ephemeralcontainers applies to Pods, not {review.kind}", uid
                )
        elif review.sub_resource:
            note = (
                f"sealyard: subresource {review.sub_resource!r} of {target} was not checked "
                "(it cannot change images)"
            )
            return _review(uid, True, warnings=[note])
        if spec_path is None:
            group = f"{review.group}/" if review.group else ""
            note = (
                f"sealyard: kind {group}{review.kind} is not one the gate knows; its images "
                "were not verified (the Pods it creates are)"
            )
            return _review(uid, True, warnings=[note])
        assert review.object is not None
        sites, warnings = find_images(review.object, spec_path, fields, uid=uid)
        images = list(dict.fromkeys(s.image for s in sites))
        if len(images) > self.settings.max_images:
            raise ReviewError(
                f"{len(images)} distinct images; the gate verifies at most "
                f"{self.settings.max_images}",
                uid,
            )
        verdicts = await verify_images(self.verifier, images, self.settings.timeout_seconds)
        context = {
            "remote_addr": remote,
            "actor": review.username,
            "uid": uid,
            "kind": review.kind,
            "namespace": review.namespace,
            "name": review.name,
            "operation": review.operation,
            "webhook": "mutate" if mutate else "validate",
        }
        await self._record(
            *(
                (v.image, v.allowed, v.message, {**context, "pinned": v.pinned, "policy": v.rule})
                for v in (verdicts[i] for i in images)
            )
        )
        denied = [s for s in sites if not verdicts[s.image].allowed]
        warnings += [
            f"sealyard: {s.image} ({s.describe()}): {verdicts[s.image].message}"
            for s in sites
            if verdicts[s.image].allowed and verdicts[s.image].decision is None
        ]
        if denied:
            return _review(uid, False, message=_denial(target, denied, verdicts), warnings=warnings)
        patch = _pin_patch(sites, verdicts) if mutate else None
        return _review(uid, True, warnings=warnings, patch=patch)


def _denial(target: str, denied: Sequence[ImageSite], verdicts: Mapping[str, GateVerdict]) -> str:
    by_image: dict[str, list[ImageSite]] = {}
    for site in denied:
        by_image.setdefault(site.image, []).append(site)
    parts = [
        f"image {image} ({', '.join(s.describe() for s in sites)}): "
        f"{_trim(verdicts[image].message, 1500)}"
        for image, sites in by_image.items()
    ]
    return f"Sealyard gate denied {target}: " + "; ".join(parts)


def _pin_patch(
    sites: Sequence[ImageSite], verdicts: Mapping[str, GateVerdict]
) -> list[dict[str, Any]]:
    patch: list[dict[str, Any]] = []
    for site in sites:
        pinned = verdicts[site.image].pinned
        if pinned and pinned != site.image and not _has_digest(site.image):
            patch.append({"op": "replace", "path": json_pointer(site.path), "value": pinned})
    return patch


def admission_app(
    verifier: Verifier,
    *,
    settings: AdmissionSettings | None = None,
    log: DecisionLog | None = None,
) -> Starlette:
    """The webhook: ``POST /validate``, ``POST /mutate``, ``GET /healthz``."""
    hook = _Webhook(verifier, settings or AdmissionSettings(), log or DecisionLog("admission"))

    async def validate(request: Request) -> Response:
        return await hook.handle(request, mutate=False)

    async def mutate(request: Request) -> Response:
        return await hook.handle(request, mutate=True)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/validate", validate, methods=["POST"]),
            Route("/mutate", mutate, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


# --------------------------------------------------------------------------- configuration


def webhook_configurations(
    url: str,
    ca_bundle: bytes,
    *,
    name: str = "sealyard-gate",
    timeout_seconds: int = 10,
    exclude_namespaces: Sequence[str] = ("kube-system",),
    mutating: bool = True,
) -> list[dict[str, Any]]:
    """The ValidatingWebhookConfiguration (and MutatingWebhookConfiguration) for the gate
    served at ``url`` with a certificate issued by ``ca_bundle`` (PEM).

    Raises:
        UsageError: ``url`` is not https, or the timeout is outside 1 to 30 s.
    """
    if not url.startswith("https://"):
        raise UsageError("the API server calls webhooks over https only: --url must be https://…")
    if not 1 <= timeout_seconds <= 30:
        raise UsageError("timeoutSeconds must be between 1 and 30")
    base = url.rstrip("/")
    rules = [
        {
            "apiGroups": [group],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": resources,
            "scope": "Namespaced",
        }
        for group, resources in _RESOURCES.items()
    ]

    def webhook(kind: str, path: str) -> dict[str, Any]:
        hook: dict[str, Any] = {
            "name": f"{kind}.gate.sealyard.dev",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "timeoutSeconds": timeout_seconds,
            "clientConfig": {
                "url": f"{base}{path}",
                "caBundle": base64.b64encode(ca_bundle).decode("ascii"),
            },
            "rules": rules,
        }
        if exclude_namespaces:
            hook["namespaceSelector"] = {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "NotIn",
                        "values": list(exclude_namespaces),
                    }
                ]
            }
        if kind == "pin":
            hook["reinvocationPolicy"] = "IfNeeded"
        return hook

    docs = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [webhook("verify", "/validate")],
        }
    ]
    if mutating:
        docs.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": name},
                "webhooks": [webhook("pin", "/mutate")],
            }
        )
    return docs
