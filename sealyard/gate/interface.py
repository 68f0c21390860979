"""What every gate asks: *may this image run?* — the :class:`Verifier` seam and its rules.

A gate (admission webhook, Docker authz plugin) collects image references and asks a
:class:`Verifier` about each one. The answer is a :class:`GateVerdict`: allowed or not, a
message a human can act on, the digest-pinned reference when verification resolved one, and
the policy :class:`~sealyard.policy.evaluate.Decision` behind it.

:class:`PolicyVerifier` is the production verifier. Its :class:`GateRules` say which images
need which policy (first matching pattern wins; ``exempt`` skips verification; images no rule
covers are denied unless configured otherwise). It calls
:func:`sealyard.policy.verify.verify_image` (resolve in the registry, fetch attestations, load
the TUF trust state, evaluate), caches answers briefly (digest references longer than tags),
and fails closed: any exception becomes a denial that carries the error.

Every decision is written by a :class:`DecisionLog`: one structured log line, and an audit
event when a Sealyard data directory is configured.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
import yaml

from sealyard.errors import InvalidDigestError, SealyardError, UsageError
from sealyard.oci.digest import parse_digest
from sealyard.oci.reference import ImageReference, parse_reference

if TYPE_CHECKING:  # the policy and registry stacks load only when used
    from starlette.requests import Request

    from sealyard.policy.evaluate import Decision
    from sealyard.registry.audit import AuditLog

__all__ = [
    "EXEMPT",
    "CacheSettings",
    "DecisionLog",
    "GateConfig",
    "GateConfigError",
    "GateRules",
    "GateVerdict",
    "PolicyVerifier",
    "Rule",
    "Verifier",
    "VerifyImage",
    "canonical_name",
    "load_gate_config",
    "parse_gate_config",
    "read_body",
    "verify_images",
    "verify_safely",
]

API_VERSION = "sealyard.dev/v1"
EXEMPT = "exempt"
MAX_CONFIG_BYTES = 1024 * 1024
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PATTERN = re.compile(r"^[A-Za-z0-9.*?:_/\[\]-]{1,255}$")
_DOCKER_HUB_ALIASES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
log = logging.getLogger("sealyard.gate")


class GateConfigError(UsageError):
    """The gate configuration is malformed; the message names the field."""


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class GateVerdict:
    """The answer for one image.

    Attributes:
        image: the reference as the workload gave it.
        allowed: whether it may run.
        message: why, in one line (a decision's ``summary()``, an error, an exemption).
        pinned: ``registry/repository@sha256:…`` when verification resolved the digest.
        decision: the policy decision, when one was made.
        rule: the policy name applied, ``exempt``, or ``None`` when no rule covered the image.
    """

    image: str
    allowed: bool
    message: str
    pinned: str | None = None
    decision: Decision | None = None
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "allowed": self.allowed,
            "message": self.message,
            "pinned": self.pinned,
            "rule": self.rule,
            "decision": self.decision.to_dict() if self.decision is not None else None,
        }


@runtime_checkable
class Verifier(Protocol):
    """Decides whether one image reference may run. Implementations should not raise;
    the gates still treat an exception as a denial (see :func:`verify_safely`)."""

    def verify(self, image: str) -> GateVerdict: ...


class VerifyImage(Protocol):
    """The shape of :func:`sealyard.policy.verify.verify_image`: ``(decision, digest)``."""

    def __call__(
        self,
        reference: str,
        *,
        policy: str,
        trust: str | None,
        root: Path | None,
        credentials: tuple[str, str] | None = None,
        insecure: bool | None = None,
        offline: bool = False,
    ) -> tuple[Decision, str]: ...


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verify_safely(verifier: Verifier, image: str) -> GateVerdict:
    """``verifier.verify(image)``, failing closed: an exception becomes a denial naming it."""
    try:
        verdict = verifier.verify(image)
    except Exception as exc:  # fail closed on anything, including programmer errors
        log.exception("verifier raised for %r", image)
        return GateVerdict(image, False, f"verification failed: {type(exc).__name__}: {exc}")
    if not isinstance(verdict, GateVerdict):
        return GateVerdict(image, False, "verification failed: the verifier gave no verdict")
    return verdict


async def verify_images(
    verifier: Verifier, images: Sequence[str], timeout: float
) -> dict[str, GateVerdict]:
    """Verify distinct ``images`` concurrently in worker threads, within ``timeout`` seconds.

    An image whose verification did not finish in time is denied; its thread is abandoned
    (its eventual answer is dropped), so a hung registry cannot hold the caller past the
    deadline.
    """
    results: dict[str, GateVerdict] = {}

    async def one(image: str) -> None:
        results[image] = await anyio.to_thread.run_sync(
            verify_safely, verifier, image, abandon_on_cancel=True
        )

    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as group:
            for image in dict.fromkeys(images):
                group.start_soon(one, image)
    for image in images:
        if image not in results:
            results[image] = GateVerdict(
                image, False, f"verification did not finish within {timeout:g} s"
            )
    return results


# --------------------------------------------------------------------------- rules


def canonical_name(ref: ImageReference) -> str:
    """``registry/repository`` as rules match it: host lower-cased, Docker Hub aliases folded."""
    registry = ref.registry.lower()
    if registry in _DOCKER_HUB_ALIASES:
        registry = "docker.io"
    return f"{registry}/{ref.repository}"


@functools.lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one path component; ``**`` crosses ``/``."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class Rule:
    """Images matching one of ``patterns`` need ``policy`` (or are ``exempt``).

    ``trust`` (a trust URL, directory or bundle) and ``root`` (the pinned root file) may
    contain ``{project}``, replaced by the first component of the repository path.
    """

    patterns: tuple[str, ...]
    policy: str
    trust: str | None = None
    root: str | None = None
    offline: bool = False
    insecure: bool | None = None

    @property
    def exempt(self) -> bool:
        return self.policy == EXEMPT

    def matches(self, name: str) -> bool:
        return any(_glob(p).fullmatch(name) for p in self.patterns)

    def describe(self) -> str:
        return ", ".join(self.patterns)


@dataclass(frozen=True)
class GateRules:
    """Ordered rules (the first match wins) and what happens to images none covers."""

    rules: tuple[Rule, ...] = ()
    unmatched: str = "deny"

    def match(self, ref: ImageReference) -> Rule | None:
        name = canonical_name(ref)
        return next((r for r in self.rules if r.matches(name)), None)


@dataclass(frozen=True)
class CacheSettings:
    """How long verdicts are reused: digest references are immutable, tags move."""

    tag_seconds: float = 30.0
    digest_seconds: float = 300.0
    max_entries: int = 4096
    #: how long verified TUF trust metadata is reused before it is fetched again
    trust_seconds: float = 60.0


@dataclass(frozen=True)
class GateConfig:
    """A parsed gate configuration file; ``admission`` and ``docker`` are read by their gates."""

    rules: GateRules = field(default_factory=GateRules)
    cache: CacheSettings = field(default_factory=CacheSettings)
    admission: Mapping[str, Any] = field(default_factory=dict)
    docker: Mapping[str, Any] = field(default_factory=dict)


def _mapping(doc: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise GateConfigError(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise GateConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return doc


def _opt_str(doc: Mapping[str, Any], key: str, where: str) -> str | None:
    value = doc.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise GateConfigError(f"{where}.{key} must be a non-empty string")
    return value


def _opt_bool(doc: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, bool):
        raise GateConfigError(f"{where}.{key} must be true or false")
    return value


def _seconds(doc: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86400:
        raise GateConfigError(f"{where}.{key} must be a number of seconds from 0 to 86400")
    return float(value)


def _located(value: str | None, base_dir: Path | None) -> str | None:
    """A relative file path in the config is relative to the config file."""
    if value is None or base_dir is None or "://" in value or Path(value).is_absolute():
        return value
    return str(base_dir / value)


def _rule(doc: Any, where: str, defaults: Mapping[str, Any], base_dir: Path | None) -> Rule:
    body = _mapping(doc, where, {"images", "policy", "trust", "root", "offline", "insecure"})
    patterns = body.get("images")
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns:
        raise GateConfigError(f"{where}.images must be a non-empty list of patterns")
    for p in patterns:
        if not isinstance(p, str) or not _PATTERN.fullmatch(p):
            raise GateConfigError(f"{where}.images: {p!r:.60} is not an image pattern")
    policy = body.get("policy")
    if not isinstance(policy, str) or not _POLICY_NAME.fullmatch(policy):
        raise GateConfigError(f"{where}.policy must be a policy name or {EXEMPT!r}")
    merged = {**defaults, **body}
    trust = _opt_str(merged, "trust", where)
    root = _opt_str(merged, "root", where)
    offline = _opt_bool(merged, "offline", where)
    return Rule(
        patterns=tuple(patterns),
        policy=policy,
        trust=_located(trust, base_dir),
        root=_located(root, base_dir),
        offline=bool(offline),
        insecure=_opt_bool(merged, "insecure", where),
    )


def parse_gate_config(raw: bytes, *, base_dir: Path | None = None) -> GateConfig:
    """Parse a gate configuration (YAML)::

        apiVersion: sealyard.dev/v1
        kind: GateConfig
        unmatched: deny                 # or allow: images no rule covers
        defaults: {trust: https://registry.example/trust/{project}, root: roots/{project}.json}
        rules:
          - images: ["registry.example/shop/**"]
            policy: production
          - images: ["registry.k8s.io/pause"]
            policy: exempt
        cache: {tagSeconds: 30, digestSeconds: 300, trustSeconds: 60}
        admission: {timeoutSeconds: 9}
        docker: {requireDigest: false}

    Raises:
        GateConfigError: the document is malformed (the message names the field).
    """
    if len(raw) > MAX_CONFIG_BYTES:
        raise GateConfigError(f"gate config is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise GateConfigError(f"gate config is not valid YAML: {exc}") from exc
    top = _mapping(
        doc,
        "gate config",
        {"apiVersion", "kind", "unmatched", "defaults", "rules", "cache", "admission", "docker"},
    )
    if top.get("apiVersion") != API_VERSION or top.get("kind") != "GateConfig":
        raise GateConfigError(
            f"gate config must declare apiVersion: {API_VERSION}, kind: GateConfig"
        )
    unmatched = top.get("unmatched", "deny")
    if unmatched not in ("deny", "allow"):
        raise GateConfigError("unmatched must be deny or allow")
    defaults = _mapping(top.get("defaults"), "defaults", {"trust", "root", "offline", "insecure"})
    rules_doc = top.get("rules") or []
    if not isinstance(rules_doc, list):
        raise GateConfigError("rules must be a list")
    rules = tuple(_rule(r, f"rules[{i}]", defaults, base_dir) for i, r in enumerate(rules_doc))
    cache_doc = _mapping(
        top.get("cache"), "cache", {"tagSeconds", "digestSeconds", "maxEntries", "trustSeconds"}
    )
    entries = cache_doc.get("maxEntries", CacheSettings.max_entries)
    if isinstance(entries, bool) or not isinstance(entries, int) or not 0 <= entries <= 1_000_000:
        raise GateConfigError("cache.maxEntries must be an integer from 0 to 1000000")
    cache = CacheSettings(
        tag_seconds=_seconds(cache_doc, "tagSeconds", "cache", CacheSettings.tag_seconds),
        digest_seconds=_seconds(cache_doc, "digestSeconds", "cache", CacheSettings.digest_seconds),
        max_entries=entries,
        trust_seconds=_seconds(cache_doc, "trustSeconds", "cache", CacheSettings.trust_seconds),
    )
    for section in ("admission", "docker"):
        if top.get(section) is not None and not isinstance(top[section], Mapping):
            raise GateConfigError(f"{section} must be a mapping")
    return GateConfig(
        rules=GateRules(rules, unmatched),
        cache=cache,
        admission=dict(top.get("admission") or {}),
        docker=dict(top.get("docker") or {}),
    )


def load_gate_config(path: Path) -> GateConfig:
    """Read and parse the gate configuration file at ``path``.

    Raises:
        GateConfigError: unreadable or malformed.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GateConfigError(f"cannot read gate config {path}: {exc}") from exc
    try:
        return parse_gate_config(raw, base_dir=path.resolve().parent)
    except GateConfigError as exc:
        raise GateConfigError(f"{path}: {exc}") from exc


# --------------------------------------------------------------------------- PolicyVerifier


def _default_verify_image(trust_seconds: float) -> VerifyImage:
    # The registry/TUF stack loads on first use; one TrustCache per verifier keeps verified
    # trust metadata for ``trust_seconds`` (revocations take effect after at most that).
    from sealyard.policy.verify import TrustCache, verify_image

    cache = TrustCache(trust_seconds)

    def bound(
        reference: str,
        *,
        policy: str,
        trust: str | None,
        root: Path | None,
        credentials: tuple[str, str] | None = None,
        insecure: bool | None = None,
        offline: bool = False,
    ) -> tuple[Decision, str]:
        return verify_image(
            reference,
            policy=policy,
            trust=trust,
            root=root,
            credentials=credentials,
            insecure=insecure,
            offline=offline,
            trust_cache=cache,
        )

    return bound


class PolicyVerifier:
    """The production :class:`Verifier`: rules → ``verify_image`` → a cached verdict.

    ``verify_image`` defaults to :func:`sealyard.policy.verify.verify_image` (imported on first
    use); tests and embedders may pass any function of that shape. ``clock`` is monotonic
    seconds. Only verdicts backed by a policy decision are cached; errors are retried on the
    next request.
    """

    def __init__(
        self,
        rules: GateRules,
        *,
        cache: CacheSettings | None = None,
        verify_image: VerifyImage | None = None,
        credentials: tuple[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.cache_settings = cache or CacheSettings()
        self._verify_image = verify_image
        self._credentials = credentials
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, GateVerdict]] = OrderedDict()
        self._lock = threading.Lock()

    # -- cache

    def _cached(self, key: str) -> GateVerdict | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            expires, verdict = hit
            if self._clock() >= expires:
                del self._cache[key]
                return None
            return verdict

    def _store(self, key: str, verdict: GateVerdict, ttl: float) -> None:
        if ttl <= 0 or self.cache_settings.max_entries <= 0:
            return
        with self._lock:
            self._cache[key] = (self._clock() + ttl, verdict)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_settings.max_entries:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # -- verification

    def verify(self, image: str) -> GateVerdict:
        try:
            ref = parse_reference(image)
        except SealyardError as exc:
            return GateVerdict(image, False, f"not a valid image reference: {exc}")
        rule = self.rules.match(ref)
        name = canonical_name(ref)
        if rule is None:
            if self.rules.unmatched == "allow":
                return GateVerdict(
                    image, True, f"no gate rule covers {name}; allowed (unmatched: allow)"
                )
            return GateVerdict(
                image, False, f"no gate rule covers {name}; images no rule covers are denied"
            )
        if rule.exempt:
            return GateVerdict(
                image, True, f"exempt from verification ({rule.describe()})", rule=EXEMPT
            )
        reference = str(ref) if ref.tag or ref.digest else f"{ref}:latest"
        key = f"{rule.policy}\0{reference}"
        cached = self._cached(key)
        if cached is not None:
            return GateVerdict(
                image, cached.allowed, cached.message, cached.pinned, cached.decision, cached.rule
            )
        verdict = self._evaluate(image, ref, reference, rule)
        if verdict.decision is not None:
            ttl = (
                self.cache_settings.digest_seconds
                if ref.digest
                else self.cache_settings.tag_seconds
            )
            self._store(key, verdict, ttl)
        return verdict

    def _evaluate(self, image: str, ref: ImageReference, reference: str, rule: Rule) -> GateVerdict:
        project = ref.repository.split("/", 1)[0]
        trust = rule.trust.replace("{project}", project) if rule.trust else None
        root = Path(rule.root.replace("{project}", project)) if rule.root else None
        try:
            with self._lock:
                if self._verify_image is None:
                    self._verify_image = _default_verify_image(self.cache_settings.trust_seconds)
                verify_image = self._verify_image
            decision, digest = verify_image(
                reference,
                policy=rule.policy,
                trust=trust,
                root=root,
                credentials=self._credentials,
                insecure=rule.insecure,
                offline=rule.offline,
            )
        except Exception as exc:  # fail closed: unreachable registry, bad trust root, bugs
            return GateVerdict(
                image,
                False,
                f"verification failed: {type(exc).__name__}: {_short(str(exc))}",
                rule=rule.policy,
            )
        try:
            digest = parse_digest(digest)
        except InvalidDigestError as exc:
            return GateVerdict(
                image, False, f"verification returned a bad digest: {exc}", rule=rule.policy
            )
        if ref.digest is not None and digest != ref.digest:
            return GateVerdict(
                image,
                False,
                f"verification resolved {digest}, not the requested {ref.digest}",
                rule=rule.policy,
            )
        if decision.digest != digest:
            return GateVerdict(
                image,
                False,
                f"the decision is about {decision.digest}, not the resolved {digest}",
                rule=rule.policy,
            )
        pinned = f"{ref.registry}/{ref.repository}@{digest}"
        return GateVerdict(
            image, decision.allowed, decision.summary(), pinned, decision, rule.policy
        )


# --------------------------------------------------------------------------- recording


class DecisionLog:
    """Writes each gate decision: one JSON log line, and an audit event (``gate.<gate>``)
    when an :class:`~sealyard.registry.audit.AuditLog` is given. A failing audit write is
    logged, never turned into an allow or a crash."""

    def __init__(
        self, gate: str, audit: AuditLog | None = None, logger: logging.Logger | None = None
    ) -> None:
        self.gate = gate
        self.audit = audit
        self.logger = logger or logging.getLogger(f"sealyard.gate.{gate}")

    def record(
        self,
        resource: str,
        allowed: bool,
        summary: str,
        *,
        actor: str = "",
        remote_addr: str = "",
        **detail: Any,
    ) -> None:
        line = {
            "gate": self.gate,
            "image": resource,
            "allowed": allowed,
            "summary": summary,
            **({"actor": actor} if actor else {}),
            **{k: v for k, v in detail.items() if v is not None},
        }
        self.logger.log(
            logging.INFO if allowed else logging.WARNING,
            "%s",
            json.dumps(line, sort_keys=True, default=str),
        )
        if self.audit is None:
            return
        try:
            self.audit.record(
                actor or "anonymous",
                f"gate.{self.gate}",
                resource[:1024],
                outcome="success" if allowed else "denied",
                remote_addr=remote_addr,
                allowed=allowed,
                summary=summary,
                **{k: v for k, v in detail.items() if v is not None},
            )
        except Exception as exc:  # the decision stands; the operator sees the failure
            self.logger.error("could not write the audit event for %s: %s", resource, exc)

    def verdict(
        self, verdict: GateVerdict, *, actor: str = "", remote_addr: str = "", **detail: Any
    ) -> None:
        self.record(
            verdict.image,
            verdict.allowed,
            verdict.message,
            actor=actor,
            remote_addr=remote_addr,
            pinned=verdict.pinned,
            policy=verdict.rule,
            **detail,
        )


# --------------------------------------------------------------------------- HTTP helper


async def read_body(
    request: Request, limit: int, *, drain_limit: int = 64 * 1024 * 1024
) -> tuple[bytes, int]:
    """Read at most ``limit + 1`` bytes of the body; return them and the total size seen.

    The rest is read and discarded (up to ``drain_limit``) so the client gets a clean
    answer instead of a reset connection; beyond that, reading stops.
    """
    kept = bytearray()
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if len(kept) <= limit:
            kept += chunk[: limit + 1 - len(kept)]
        if total > drain_limit:
            break
    return bytes(kept), total
