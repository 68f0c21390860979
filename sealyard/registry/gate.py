"""The registry pull gate: a manifest pull must satisfy its project's settings.

For a project whose settings name a ``policy`` and/or ``prevent_vulnerable``
(:mod:`.project_settings`), every ``GET``/``HEAD`` of an **image** manifest is judged:

* ``policy`` — the policy of that name from the project's TUF trust root as the server itself
  published it (``<data dir>/trust/<project>/published``, verified with ``load_trust`` from
  its own first root), evaluated with :func:`sealyard.policy.evaluate.evaluate` against the
  attestation bundles attached to the image as referrers, read from local storage and
  checked against their digests. An index is judged by its own digest. An image manifest
  passes if it passes itself *or* an index of the same repository listing it passes, so a
  multi-platform image is signed once, on its index.
* ``prevent_vulnerable`` — the image's live findings (:class:`~sealyard.monitor.inventory.
  Inventory`) at or above the threshold that no active allowlist entry covers block it; so
  does an image that was never scanned (or whose scan failed). For an index, every image it
  lists is checked.

Not judged, so clients can always inspect why an image is refused: evidence about images —
attestations, SBOMs, signatures (manifests whose config is not an image config) and referrer
indexes (indexes with a ``subject``) — blobs, tag lists and the referrers API. An image
manifest that carries ``subject`` or ``artifactType`` but an image config *is* judged: both
fields are claims anyone can write, and a runtime runs such a manifest like any image.

Accounts that may push to the repository (developers and up, system admins, CI robots with
``push`` or ``promote``) are not judged either: they must read what they test, scan and sign.
The gate protects the deployment path — nodes and deployers pulling with pull-only accounts.

Every judgement is written to the audit log (action ``pull.policy``). Decisions are cached for
a few seconds per image, keyed by everything they depend on (the published trust metadata,
the attached attestations, the stored scan and its alerts, the settings), so the many requests
of one pull verify once and a ``trust publish`` takes effect at the next request.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select

from sealyard.db.models import Alert, ImageScan, Manifest, ManifestRef, Repository
from sealyard.errors import (
    DigestMismatchError,
    ManifestInvalidError,
    SealyardError,
    SizeLimitError,
)
from sealyard.monitor.inventory import Inventory
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, hex_of, new_hasher, parse_digest
from sealyard.oci.manifest import ParsedManifest, parse_manifest
from sealyard.oci.names import project_of
from sealyard.policy.evaluate import Decision, evaluate
from sealyard.policy.model import PolicyError, parse_policy
from sealyard.registry.project_settings import ProjectSettings, SettingsError, is_enforcing
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES
from sealyard.trust.tufclient import TrustState, load_trust

if TYPE_CHECKING:
    from sealyard.registry.app import Registry
    from sealyard.registry.auth import Caller

__all__ = ["AUDIT_ACTION", "IMAGE_CONFIGS", "GateDecision", "PullGate", "is_image"]

log = logging.getLogger(__name__)

AUDIT_ACTION = "pull.policy"
IMAGE_CONFIGS = frozenset({mt.OCI_CONFIG, mt.DOCKER_CONFIG})
#: Most attestations read for one image; more is refused, not cut (as in ``fetch_attestations``).
MAX_ATTESTATIONS = 1000
#: Most indexes consulted when an image manifest does not pass on its own.
MAX_PARENTS = 16
#: Most vulnerability ids named in a refusal.
SHOWN_FINDINGS = 5

T = TypeVar("T")
_Generation = tuple[int, int, int]


def is_image(manifest: ParsedManifest) -> bool:
    """Whether ``manifest`` is image content a runtime would run (judged by the gate, and
    not something a ``promote``-only robot may add).

    An image manifest is an image when its config is an image config, whatever its
    ``artifactType`` or ``subject`` claim. An index is an image unless it has a ``subject``
    (then it lists evidence; each image it names is judged when pulled).
    """
    if manifest.is_index:
        return manifest.subject is None
    return manifest.config is not None and manifest.config.media_type in IMAGE_CONFIGS


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on one pull of ``repository@digest``, with what it rests on.

    ``reasons`` name each requirement that failed (a refusal's message), ``passed`` each one
    met. ``policy`` is the signature decision that counted — the image's own, or that of the
    index ``via`` which allowed it. ``exempt`` says why the caller was not judged at all.
    """

    allowed: bool
    repository: str
    digest: str
    settings: ProjectSettings
    reasons: tuple[str, ...] = ()
    passed: tuple[str, ...] = ()
    policy: Decision | None = None
    via: str | None = None
    exempt: str | None = None
    vulnerabilities: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.exempt is not None:
            return f"not judged: {self.exempt}"
        return "; ".join(self.reasons if not self.allowed else self.passed)

    def message(self) -> str:
        """The refusal as a client shows it (OCI ``DENIED``)."""
        project = project_of(self.repository)
        return (
            f"{self.repository}@{self.digest} does not meet the pull requirements of project "
            f"{project!r}: {self.summary()}"
        )

    def audit_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "policy": self.settings.policy,
            "prevent_vulnerable": self.settings.prevent_vulnerable,
            "summary": self.summary(),
            "stages": [s.to_dict() for s in self.policy.stages] if self.policy else [],
        }
        if self.via is not None:
            detail["via"] = self.via
        if self.exempt is not None:
            detail["exempt"] = self.exempt
        if self.vulnerabilities:
            detail["vulnerabilities"] = list(self.vulnerabilities)
        return detail


@dataclass(frozen=True)
class _VulnResult:
    reason: str | None
    ids: tuple[str, ...] = ()


class PullGate:
    """Judges manifest pulls of enforcing projects; one per registry process (thread-safe).

    Args:
        registry: the services of the instance (settings, storage, metadata, audit).
        decision_ttl: seconds a decision is reused for the same inputs.
        trust_ttl: seconds a verified trust state is reused while its metadata is unchanged.
        max_entries: bound of the decision cache.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        decision_ttl: float = 5.0,
        trust_ttl: float = 30.0,
        max_entries: int = 4096,
    ) -> None:
        self.r = registry
        self.inventory = Inventory(registry.db)
        self.decision_ttl = decision_ttl
        self.trust_ttl = trust_ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: dict[Hashable, tuple[float, Any]] = {}
        self._settings: dict[str, tuple[dict[str, Any], ProjectSettings | SettingsError]] = {}
        self._trust: dict[str, tuple[_Generation, float, TrustState | str]] = {}
        self._trust_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ entry point

    def check(
        self,
        caller: Caller,
        repository: str,
        digest: str,
        media_type: str,
        data: bytes,
        *,
        reference: str,
        method: str,
    ) -> GateDecision | None:
        """Judge a pull of the stored manifest ``data``; ``None`` when nothing is to judge.

        Blocking (database, storage, signature checks). Every decision is audited.
        """
        settings = self._project_settings(repository)
        if settings is None:
            return None
        parsed: ParsedManifest | None = None
        unreadable = ""
        try:
            parsed = parse_manifest(
                data,
                media_type,
                max_bytes=self.r.settings.limits.max_manifest_bytes,
                max_depth=self.r.settings.limits.max_json_depth,
            )
        except SealyardError as exc:  # stored content was checked on push; fail closed anyway
            unreadable = f"the stored manifest cannot be read: {exc}"
        if parsed is not None and not is_image(parsed):
            return None
        effective = settings if isinstance(settings, ProjectSettings) else ProjectSettings()
        if self.r.authenticator.may(caller, repository, "push"):
            decision = GateDecision(
                True,
                repository,
                digest,
                effective,
                exempt=f"{caller.name} may push to {repository}",
            )
        elif isinstance(settings, SettingsError):
            reason = (
                f"the project's settings are invalid ({settings}); a project-admin must "
                "correct them with `sealyard project set`"
            )
            decision = GateDecision(False, repository, digest, effective, reasons=(reason,))
        elif parsed is None:
            decision = GateDecision(False, repository, digest, settings, reasons=(unreadable,))
        else:
            decision = self.judge(repository, digest, parsed, settings)
        self.r.audit.record(
            caller.name,
            AUDIT_ACTION,
            f"{repository}@{digest}",
            outcome="success" if decision.allowed else "denied",
            remote_addr=caller.remote_addr,
            reference=reference,
            method=method,
            **decision.audit_detail(),
        )
        return decision

    def judge(
        self, repository: str, digest: str, manifest: ParsedManifest, settings: ProjectSettings
    ) -> GateDecision:
        """Apply ``settings`` to the image ``repository@digest`` (no caller, no audit)."""
        reasons: list[str] = []
        passed: list[str] = []
        policy: Decision | None = None
        via: str | None = None
        if settings.policy is not None:
            policy = self.signature(repository, digest, settings.policy)
            if policy.allowed:
                passed.append(policy.summary())
            else:
                parent = (
                    None
                    if manifest.is_index
                    else self._passing_parent(repository, digest, settings.policy)
                )
                if parent is not None:
                    via, policy = parent
                    passed.append(f"{policy.summary()} on index {via}")
                else:
                    reasons.append(policy.summary())
        ids: tuple[str, ...] = ()
        if settings.prevent_vulnerable is not None:
            targets = self._scanned_images(repository, digest, manifest)
            results = [
                self._vulnerability(repository, target, settings, manifest.is_index)
                for target in targets
            ]
            failed = [r.reason for r in results if r.reason is not None]
            reasons += failed
            ids = tuple(dict.fromkeys(i for r in results for i in r.ids))
            if not failed:
                passed.append(
                    f"prevent_vulnerable {settings.prevent_vulnerable}: no finding at or above "
                    "it that is not allowlisted"
                )
        return GateDecision(
            not reasons,
            repository,
            digest,
            settings,
            reasons=tuple(reasons),
            passed=tuple(passed),
            policy=policy,
            via=via,
            vulnerabilities=ids,
        )

    # ------------------------------------------------------------------ settings

    def _project_settings(self, repository: str) -> ProjectSettings | SettingsError | None:
        """The project's settings if it enforces anything (``None``: the gate is off).

        The stored settings come from the accounts service's short-lived project cache; they
        are parsed again only when they change.
        """
        info = self.r.accounts.project(project_of(repository))
        if info is None or not is_enforcing(info.settings):
            return None
        with self._lock:
            hit = self._settings.get(info.name)
        if hit is not None and hit[0] == info.settings:
            return hit[1]
        try:
            parsed: ProjectSettings | SettingsError = ProjectSettings.from_stored(info.settings)
        except SettingsError as exc:
            parsed = exc
        with self._lock:
            self._settings[info.name] = (dict(info.settings), parsed)
        return parsed

    # ------------------------------------------------------------------ cache

    def _cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            value: T = hit[1]
            return value
        value = compute()
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
            self._cache[key] = (time.monotonic() + self.decision_ttl, value)
        return value

    # ------------------------------------------------------------------ signatures

    def signature(self, repository: str, digest: str, policy_name: str) -> Decision:
        """The decision of policy ``policy_name`` on ``repository@digest`` (cached briefly)."""
        project = project_of(repository)
        generation = self._trust_generation(project)
        attestations = self._attestation_digests(repository, digest)
        key = ("sig", repository, digest, policy_name, generation, attestations)
        return self._cached(
            key,
            lambda: self._evaluate(repository, digest, policy_name, generation, attestations),
        )

    def _refusal(self, repository: str, digest: str, policy: str, reason: str) -> Decision:
        return Decision(
            allowed=False, repository=repository, digest=digest, policy=policy, reasons=(reason,)
        )

    def _evaluate(
        self,
        repository: str,
        digest: str,
        policy_name: str,
        generation: _Generation | None,
        attestations: tuple[str, ...],
    ) -> Decision:
        project = project_of(repository)
        try:
            trust = self._trust_state(project, generation)
        except _Unavailable as exc:
            return self._refusal(repository, digest, policy_name, str(exc))
        raw = trust.policies.get(policy_name)
        if raw is None:
            known = ", ".join(sorted(trust.policies)) or "none"
            return self._refusal(
                repository,
                digest,
                policy_name,
                f"the trust root of project {project!r} has no policy {policy_name!r} "
                f"(published policies: {known})",
            )
        try:
            policy = parse_policy(raw)
        except PolicyError as exc:
            return self._refusal(
                repository, digest, policy_name, f"the signed policy is invalid: {exc}"
            )
        if len(attestations) > MAX_ATTESTATIONS:
            return self._refusal(
                repository,
                digest,
                policy_name,
                f"the image has more than {MAX_ATTESTATIONS} attestations; the gate reads no more",
            )
        bundles, notes = self._bundles(repository, digest, attestations)
        decision = evaluate(
            policy, trust, repository=repository, digest=digest, attestations=bundles
        )
        if not decision.allowed and notes:
            decision = dataclasses.replace(decision, reasons=(*decision.reasons, *notes))
        return decision

    def _published(self, project: str) -> Path:
        return self.r.settings.data_dir / "trust" / project / "published"

    def _trust_generation(self, project: str) -> _Generation | None:
        """Identity of the published ``timestamp.json``: every publish replaces it."""
        try:
            st = os.stat(self._published(project) / "metadata" / "timestamp.json")
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _trust_state(self, project: str, generation: _Generation | None) -> TrustState:
        """The verified trust state of ``project`` at ``generation``.

        Raises:
            _Unavailable: nothing published, or the published metadata does not verify.
        """
        if generation is None:
            raise _Unavailable(
                f"project {project!r} has no published trust root on this registry; an admin "
                "must create it and run `sealyard trust publish`"
            )
        with self._lock:
            lock = self._trust_locks.setdefault(project, threading.Lock())
        with lock:  # load_trust keeps state in its cache directory: one at a time per project
            now = time.monotonic()
            hit = self._trust.get(project)
            if hit is not None and hit[0] == generation and hit[1] > now:
                state = hit[2]
            else:
                state = self._load_trust(project)
                self._trust[project] = (generation, now + self.trust_ttl, state)
        if isinstance(state, str):
            raise _Unavailable(state)
        return state

    def _load_trust(self, project: str) -> TrustState | str:
        published = self._published(project)
        try:
            root = (published / "metadata" / "1.root.json").read_bytes()
        except OSError as exc:
            return f"the published trust root of project {project!r} is unreadable: {exc}"
        try:
            return load_trust(
                published,
                trusted_root=root,
                cache_dir=self.r.settings.data_dir / "trust-cache" / project,
                offline=True,
                project=project,
            )
        except SealyardError as exc:
            log.warning("trust root of project %s does not verify: %s", project, exc)
            return f"the published trust metadata of project {project!r} does not verify: {exc}"

    def _attestation_digests(self, repository: str, digest: str) -> tuple[str, ...]:
        """Digests of the bundle referrers of ``digest``, oldest first (one more than read)."""
        with self.r.db.session() as s:
            rows = s.scalars(
                select(Manifest.digest)
                .join(Repository, Repository.id == Manifest.repository_id)
                .where(
                    Repository.name == repository,
                    Manifest.subject_digest == digest,
                    Manifest.artifact_type == BUNDLE_MEDIA_TYPE,
                )
                .order_by(Manifest.created_at, Manifest.id)
                .limit(MAX_ATTESTATIONS + 1)
            )
            return tuple(rows)

    def _bundles(
        self, repository: str, subject: str, referrers: tuple[str, ...]
    ) -> tuple[list[tuple[str, bytes]], list[str]]:
        """``(referrer digest, bundle bytes)`` of each readable attestation, and notes on the
        unreadable ones (left out: missing evidence only makes a policy stricter)."""
        bundles: list[tuple[str, bytes]] = []
        notes: list[str] = []
        for referrer in referrers:
            try:
                bundles.append((referrer, self._bundle(repository, subject, referrer)))
            except (SealyardError, OSError) as exc:
                log.warning(
                    "attestation %s of %s@%s skipped: %s", referrer, repository, subject, exc
                )
                notes.append(f"attestation {referrer} was not used: {exc}")
        return bundles, notes

    def _bundle(self, repository: str, subject: str, referrer: str) -> bytes:
        limits = self.r.settings.limits
        record, data = self.r.store.read_manifest(repository, referrer)  # digest-checked
        manifest = parse_manifest(
            data,
            record.media_type,
            max_bytes=limits.max_manifest_bytes,
            max_depth=limits.max_json_depth,
        )
        if manifest.subject is None or manifest.subject.digest != subject:
            raise ManifestInvalidError("its subject is another manifest")
        if manifest.artifact_type != BUNDLE_MEDIA_TYPE or len(manifest.layers) != 1:
            raise ManifestInvalidError(f"it does not carry exactly one {BUNDLE_MEDIA_TYPE} layer")
        layer = manifest.layers[0]
        if layer.media_type != BUNDLE_MEDIA_TYPE:
            raise ManifestInvalidError(f"its layer is {layer.media_type}, not a bundle")
        if layer.size > MAX_BUNDLE_BYTES:
            raise SizeLimitError(f"its bundle claims {layer.size} bytes")
        with self.r.store.blobs.open(layer.digest) as fh:
            blob = fh.read(MAX_BUNDLE_BYTES + 1)
        return _checked(blob, layer.digest, layer.size)

    def _passing_parent(
        self, repository: str, digest: str, policy_name: str
    ) -> tuple[str, Decision] | None:
        """An index of ``repository`` listing ``digest`` that passes the policy, if any."""
        with self.r.db.session() as s:
            parents = list(
                s.scalars(
                    select(Manifest.digest)
                    .join(ManifestRef, ManifestRef.manifest_id == Manifest.id)
                    .join(Repository, Repository.id == Manifest.repository_id)
                    .where(
                        Repository.name == repository,
                        ManifestRef.child_digest == digest,
                        ManifestRef.kind == "manifest",
                        Manifest.media_type.in_(mt.INDEX_MANIFESTS),
                        Manifest.subject_digest.is_(None),
                    )
                    .order_by(Manifest.id.desc())
                    .limit(MAX_PARENTS)
                )
            )
        for parent in parents:
            decision = self.signature(repository, parent, policy_name)
            if decision.allowed:
                return parent, decision
        return None

    # ------------------------------------------------------------------ vulnerabilities

    def _scanned_images(self, repository: str, digest: str, manifest: ParsedManifest) -> list[str]:
        """The image manifests whose scans decide: the image itself, or an index's images."""
        if not manifest.is_index:
            return [digest]
        limits = self.r.settings.limits
        out: list[str] = []
        for child in manifest.manifests:
            try:
                record, data = self.r.store.read_manifest(repository, child.digest)
                parsed = parse_manifest(
                    data,
                    record.media_type,
                    max_bytes=limits.max_manifest_bytes,
                    max_depth=limits.max_json_depth,
                )
            except SealyardError:
                out.append(child.digest)  # unreadable: its (missing) scan decides, fail closed
                continue
            if is_image(parsed) and not parsed.is_index:
                out.append(child.digest)
        return out

    def _findings_generation(self, repository: str, digest: str) -> tuple[Any, ...]:
        """What changes when the image's findings can change: its scan, and its alerts."""
        with self.r.db.session() as s:
            scan = s.execute(
                select(ImageScan.id, ImageScan.status, ImageScan.scanned_at).where(
                    ImageScan.repository == repository, ImageScan.digest == digest
                )
            ).first()
            alert = s.scalar(
                select(func.max(Alert.id)).where(
                    Alert.repository == repository, Alert.digest == digest
                )
            )
        return (tuple(scan) if scan is not None else None, alert)

    def _vulnerability(
        self, repository: str, digest: str, settings: ProjectSettings, name_image: bool
    ) -> _VulnResult:
        key = (
            "vuln",
            repository,
            digest,
            settings.prevent_vulnerable,
            settings.allowlist,
            settings.scan_on_push,
            self._findings_generation(repository, digest),
        )
        return self._cached(
            key, lambda: self._judge_findings(repository, digest, settings, name_image)
        )

    def _judge_findings(
        self, repository: str, digest: str, settings: ProjectSettings, name_image: bool
    ) -> _VulnResult:
        threshold = settings.prevent_vulnerable
        what = f"prevent_vulnerable {threshold}: " + (f"image {digest} " if name_image else "")
        scan = self.inventory.scan(repository, digest)
        if scan is None:
            state = "on" if settings.scan_on_push else "off"
            return _VulnResult(f"{what}not scanned yet (scan on push is {state})")
        if scan["status"] != "ok":
            error = str(scan.get("error") or "unknown error")[:200]
            return _VulnResult(f"{what}its scan failed ({error}); it must be scanned again")
        allowed = settings.allowed_ids(datetime.now(UTC))
        blocking = [
            f
            for f in self.inventory.findings(repository, digest)
            if settings.blocks(f["rating"])
            and not ({f["vulnerability"], *f["aliases"], *f["records"]} & allowed)
        ]
        if not blocking:
            return _VulnResult(None)
        ids = tuple(dict.fromkeys(f["vulnerability"] for f in blocking))
        shown = ", ".join(
            f"{f['vulnerability']} ({f['rating']}, {f['package']['name']} "
            f"{f['package']['version']})"
            for f in blocking[:SHOWN_FINDINGS]
        )
        more = (
            f" and {len(blocking) - SHOWN_FINDINGS} more" if len(blocking) > SHOWN_FINDINGS else ""
        )
        return _VulnResult(
            f"{what}{len(blocking)} finding(s) at or above {threshold} not allowlisted: "
            f"{shown}{more}",
            ids,
        )


class _Unavailable(Exception):
    """The trust state cannot be had; the message says why (a refusal reason)."""


def _checked(blob: bytes, digest: Digest, size: int) -> bytes:
    """``blob`` if it has ``size`` bytes and hashes to ``digest``."""
    if len(blob) != size:
        raise ManifestInvalidError(f"bundle {digest} has {len(blob)} bytes, not {size}")
    parsed = parse_digest(digest)
    hasher = new_hasher(parsed)
    hasher.update(blob)
    if hasher.hexdigest() != hex_of(parsed):
        raise DigestMismatchError(f"stored bundle {digest} does not match its digest")
    return blob
