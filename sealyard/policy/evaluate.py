"""Evaluate a policy against an image's attestations: the one :class:`Decision` every gate uses.

Inputs are all verified or verifiable data, no I/O: the policy (already verified as a TUF
target), the project's :class:`~sealyard.trust.tufclient.TrustState` (who may sign each
stage, and how many must), and the attestation bundles attached to the image, as bytes.

For every stage the policy requires:

1. each bundle is checked against **that stage's** keys only (a key trusted for ``ci`` never
   counts for ``staging``), its subject must be this repository and digest (no replay), and
   its signed predicate must attest this stage;
2. its signed timestamp must be within the stage's ``maxAge`` (and not in the future);
3. for a stage with ``failOn``, the newest such scan attestation must show no finding at or
   above that rating except allowlisted ones;
4. the **distinct** trusted keys over all accepted attestations are counted — one key that
   signed twice is one signer — against ``max(role threshold, policy threshold)``.

The decision lists, per stage, the signers found, the threshold, the newest age and every
attestation's fate, so a refusal explains itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sealyard.errors import SealyardError
from sealyard.policy.model import Policy, StageRule
from sealyard.trust.bundle import CLOCK_SKEW, Bundle, VerifiedAttestation, verify_attestation
from sealyard.trust.predicates import SEVERITIES, ScanResult, parse_predicate, stage_of
from sealyard.trust.statement import parse_statement
from sealyard.trust.tufclient import StageTrust, TrustState
from sealyard.vulndb.ratings import rating_rank

__all__ = ["Decision", "Evidence", "StageResult", "evaluate"]


@dataclass(frozen=True)
class Evidence:
    """What became of one attestation for one stage."""

    attestation: str  # the referrer digest (or an index) naming the bundle
    stage: str
    accepted: bool
    reason: str
    signers: tuple[str, ...] = ()
    timestamp: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attestation": self.attestation,
            "stage": self.stage,
            "accepted": self.accepted,
            "reason": self.reason,
            "signers": list(self.signers),
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
        }


@dataclass(frozen=True)
class StageResult:
    stage: str
    threshold: int
    signers: tuple[str, ...]
    met: bool
    reasons: tuple[str, ...] = ()
    newest: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "threshold": self.threshold,
            "signers": list(self.signers),
            "met": self.met,
            "reasons": list(self.reasons),
            "newest": self.newest.isoformat() if self.newest else None,
        }


@dataclass(frozen=True)
class Decision:
    """Whether ``repository@digest`` may pass under ``policy``, and why."""

    allowed: bool
    repository: str
    digest: str
    policy: str
    stages: tuple[StageResult, ...] = ()
    reasons: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    evaluated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    trust: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Every reason the image is refused, most important first."""
        out = list(self.reasons)
        for stage in self.stages:
            if not stage.met:
                out += [f"stage {stage.stage}: {r}" for r in stage.reasons]
        return out

    def summary(self) -> str:
        """One line, for a refusal message (OCI ``DENIED``, admission, authz)."""
        if self.allowed:
            met = ", ".join(f"{s.stage} {len(s.signers)}-of-{s.threshold}" for s in self.stages)
            return f"policy {self.policy!r} satisfied ({met})"
        return f"policy {self.policy!r} not satisfied: " + "; ".join(self.failures)

    def explain(self) -> list[str]:
        """Human-readable lines: the verdict, then each stage with its evidence."""
        lines = [
            f"{'ALLOWED' if self.allowed else 'DENIED'}: {self.repository}@{self.digest} "
            f"under policy {self.policy!r}"
        ]
        lines += [f"  ! {r}" for r in self.reasons]
        for stage in self.stages:
            mark = "ok " if stage.met else "FAIL"
            age = ""
            if stage.newest is not None:
                seconds = int((self.evaluated_at - stage.newest).total_seconds())
                age = f", newest {_age(seconds)} old"
            lines.append(
                f"  [{mark}] {stage.stage}: {len(stage.signers)} of {stage.threshold} "
                f"distinct trusted signer(s){age}"
            )
            for keyid in stage.signers:
                lines.append(f"         signer {keyid[:16]}")
            lines += [f"         - {r}" for r in stage.reasons]
            for ev in self.evidence:
                if ev.stage == stage.stage and not ev.accepted:
                    lines.append(f"         x {ev.attestation[:19]}: {ev.reason}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "repository": self.repository,
            "digest": self.digest,
            "policy": self.policy,
            "summary": self.summary(),
            "reasons": list(self.reasons),
            "stages": [s.to_dict() for s in self.stages],
            "evidence": [e.to_dict() for e in self.evidence],
            "evaluatedAt": self.evaluated_at.isoformat(),
            "trust": dict(self.trust),
        }


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _blocking(scan: ScanResult, rule: StageRule, allowed: frozenset[str]) -> str | None:
    """Why ``scan`` fails the stage's ``failOn`` condition, or ``None``."""
    assert rule.fail_on is not None
    buckets = [s for s in SEVERITIES if rating_rank(s.upper()) >= rating_rank(rule.fail_on)]
    if scan.finding_ratings and not scan.findings_truncated:
        hits = sorted(
            i for i, r in scan.finding_ratings.items() if r in buckets and i not in allowed
        )
        if hits:
            shown = ", ".join(hits[:5]) + (" …" if len(hits) > 5 else "")
            return f"scan found {len(hits)} finding(s) at or above {rule.fail_on}: {shown}"
        return None
    count = sum(int(scan.summary.get(b, 0)) for b in buckets)
    if count:
        return (
            f"scan found {count} finding(s) at or above {rule.fail_on} (the attestation does "
            "not rate each finding, so the allowlist cannot apply)"
        )
    return None


def _claimed_stage(raw: bytes) -> str | None:
    """The stage an attestation *claims*, read without verifying it — for messages only."""
    try:
        statement = parse_statement(Bundle.from_json(raw).envelope.payload)
        return stage_of(parse_predicate(statement))
    except SealyardError:
        return None


def _judge(
    name: str,
    raw: bytes,
    role: StageTrust,
    rule: StageRule,
    repository: str,
    digest: str,
    now: datetime,
) -> tuple[Evidence, VerifiedAttestation | None]:
    try:
        verified = verify_attestation(raw, role.keys, repository=repository, manifest_digest=digest)
    except SealyardError as exc:
        return Evidence(name, rule.name, False, str(exc)), None
    signers = tuple(sorted(verified.signers))
    if verified.stage != rule.name:
        return (
            Evidence(
                name,
                rule.name,
                False,
                f"attests stage {verified.stage!r}, not {rule.name!r}",
                signers,
                verified.timestamp,
            ),
            None,
        )
    if verified.timestamp > now + CLOCK_SKEW:
        return (
            Evidence(
                name, rule.name, False, "timestamp is in the future", signers, verified.timestamp
            ),
            None,
        )
    if rule.max_age is not None and now - verified.timestamp > rule.max_age:
        age = _age(int((now - verified.timestamp).total_seconds()))
        return (
            Evidence(
                name,
                rule.name,
                False,
                f"{age} old, older than the allowed {rule.max_age}",
                signers,
                verified.timestamp,
            ),
            None,
        )
    return Evidence(name, rule.name, True, "verified", signers, verified.timestamp), verified


def evaluate(
    policy: Policy,
    trust: TrustState,
    *,
    repository: str,
    digest: str,
    attestations: Sequence[tuple[str, bytes]],
    now: datetime | None = None,
) -> Decision:
    """Judge ``repository@digest`` with its ``attestations`` (``(name, bundle bytes)`` pairs)."""
    now = now or datetime.now(UTC)
    trust_info = {
        "project": trust.project,
        **{role: v.version for role, v in getattr(trust, "roles", {}).items()},
    }
    if not policy.covers(repository):
        return Decision(
            allowed=False,
            repository=repository,
            digest=digest,
            policy=policy.name,
            reasons=(f"policy {policy.name!r} does not cover repository {repository!r}",),
            evaluated_at=now,
            trust=trust_info,
        )
    allowlisted = policy.allowed_ids(now)
    # Which stage each bundle claims (unverified; it only decides which stage's keys to try:
    # the verified predicate must then say the same). Unreadable ones are tried everywhere
    # so their errors are reported.
    claims = [(name, raw, _claimed_stage(raw)) for name, raw in attestations]
    results: list[StageResult] = []
    evidence: list[Evidence] = []
    for rule in policy.stages:
        role = trust.stages.get(rule.name)
        if role is None:
            results.append(
                StageResult(
                    rule.name,
                    max(rule.threshold, 1),
                    (),
                    False,
                    (f"the trust root of {trust.project!r} defines no stage {rule.name!r}",),
                )
            )
            continue
        threshold = max(role.threshold, rule.threshold)
        accepted: list[tuple[Evidence, VerifiedAttestation]] = []
        untrusted = 0
        for name, raw, claimed in claims:
            if claimed is not None and claimed != rule.name:
                continue
            ev, verified = _judge(name, raw, role, rule, repository, digest, now)
            if verified is None:
                if "no trusted key signed" in ev.reason:
                    untrusted += claimed == rule.name
                elif "attests stage" not in ev.reason:
                    evidence.append(ev)
                continue
            accepted.append((ev, verified))
        reasons: list[str] = []
        if rule.fail_on is not None and accepted:
            _, newest = max(accepted, key=lambda a: a[1].timestamp)
            blocking = (
                _blocking(newest.predicate, rule, allowlisted)
                if isinstance(newest.predicate, ScanResult)
                else "the stage's attestation is not a scan result"
            )
            if blocking is not None:
                reasons.append(blocking)
                accepted = []
        evidence += [ev for ev, _ in accepted]
        signers = tuple(sorted({k for _, v in accepted for k in v.signers}))
        if len(signers) < threshold and not reasons:
            reasons.append(
                f"threshold not met: {len(signers)} of {threshold} distinct trusted signers"
                if accepted
                else "no valid attestation signed by this stage's trusted keys"
            )
            if untrusted:
                reasons.append(
                    f"{untrusted} {rule.name} attestation(s) signed only by keys this stage "
                    "does not trust (not in its role, or revoked) were not counted"
                )
        newest_ts = max((v.timestamp for _, v in accepted), default=None)
        results.append(
            StageResult(rule.name, threshold, signers, not reasons, tuple(reasons), newest_ts)
        )
    return Decision(
        allowed=all(r.met for r in results),
        repository=repository,
        digest=digest,
        policy=policy.name,
        stages=tuple(results),
        evidence=tuple(evidence),
        evaluated_at=now,
        trust=trust_info,
    )
