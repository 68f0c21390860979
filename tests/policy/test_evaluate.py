"""Policy evaluation over real signed attestations: the happy path and each attack.

The trust state is built directly (the TUF layer that produces it has its own attack tests
in tests/trust); every attestation here is a real DSSE bundle signed with real keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from securesystemslib.signer import CryptoSigner, Signer

from sealyard.policy.evaluate import Decision, evaluate
from sealyard.policy.model import Policy, parse_policy
from sealyard.trust.bundle import sign_statement
from sealyard.trust.predicates import (
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    STAGE_PARAMETER,
    Approval,
    DatabaseSource,
    Provenance,
    ScanResult,
)
from sealyard.trust.statement import image_statement
from sealyard.trust.tufclient import RoleVersion, StageTrust, TrustState

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REPO = "shop/app"
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
SBOM = "sha256:" + "ef" * 32

POLICY = b"""
apiVersion: sealyard.dev/v1
kind: Policy
name: production
scope: {repositories: ["shop/*"]}
maxAge: 7d
stages:
  ci: {}
  scan: {maxAge: 24h, failOn: CRITICAL}
  staging: {}
allowlist:
  - {id: CVE-2099-0009, expires: 2027-01-01, reason: not reachable}
"""

KEYS: dict[str, list[Signer]] = {
    "ci": [CryptoSigner.generate_ed25519() for _ in range(2)],
    "scan": [CryptoSigner.generate_ecdsa()],
    "staging": [CryptoSigner.generate_ed25519() for _ in range(3)],
}
OUTSIDER = CryptoSigner.generate_ed25519()


def trust(
    thresholds: dict[str, int] | None = None, drop: dict[str, int] | None = None
) -> TrustState:
    thresholds = thresholds or {"ci": 1, "scan": 1, "staging": 2}
    stages = {}
    for name, signers in KEYS.items():
        kept = [s for i, s in enumerate(signers) if i != (drop or {}).get(name)]
        stages[name] = StageTrust(
            name=name,
            threshold=thresholds[name],
            keys={s.public_key.keyid: s.public_key for s in kept},
            version=1,
            expires=NOW + timedelta(days=90),
        )
    return TrustState(
        project="shop",
        stages=stages,
        policies={"production": POLICY},
        roles={"root": RoleVersion(1, NOW + timedelta(days=365))},
    )


def provenance(at: datetime, stage: str = "ci") -> tuple[str, dict[str, object]]:
    return SLSA_PROVENANCE_V1, Provenance(
        build_type="https://sealyard.dev/build/test/v1",
        external_parameters={"repository": "https://git.example/shop/app"},
        builder_id="https://ci.example/runner/1",
        finished_on=at,
        internal_parameters={STAGE_PARAMETER: stage},
    ).to_dict()


def scan(at: datetime, ratings: dict[str, str] | None = None) -> tuple[str, dict[str, object]]:
    ratings = ratings or {}
    summary = {
        s: list(ratings.values()).count(s) for s in ("critical", "high", "medium", "low", "unknown")
    }
    return SCAN_V1, ScanResult.build(
        scanner_name="sealyard",
        scanner_version="0.1.0",
        sources=[DatabaseSource("pypa", at - timedelta(hours=1))],
        sbom_digest=SBOM,
        sbom_media_type="application/vnd.cyclonedx+json",
        summary=summary,
        findings=list(ratings),
        ratings=ratings,
        scanned_at=at,
    ).to_dict()


def approval(stage: str, at: datetime) -> tuple[str, dict[str, object]]:
    from sealyard.trust.predicates import APPROVAL_V1

    return APPROVAL_V1, Approval(stage=stage, approver="qa@example", approved_at=at).to_dict()


def attest(
    predicate: tuple[str, dict[str, object]],
    signers: Sequence[Signer],
    *,
    repository: str = REPO,
    digest: str = DIGEST,
) -> bytes:
    statement = image_statement(repository, digest, predicate[0], predicate[1])
    return sign_statement(statement, signers).to_json()


def happy() -> list[bytes]:
    hour = timedelta(hours=1)
    return [
        attest(provenance(NOW - 2 * hour), [KEYS["ci"][0]]),
        attest(scan(NOW - hour), [KEYS["scan"][0]]),
        attest(approval("staging", NOW - hour / 2), [KEYS["staging"][0]]),
        attest(approval("staging", NOW - hour / 3), [KEYS["staging"][2]]),
    ]


def decide(
    bundles: Sequence[bytes],
    state: TrustState | None = None,
    policy: Policy | None = None,
    repository: str = REPO,
    now: datetime = NOW,
) -> Decision:
    return evaluate(
        policy or parse_policy(POLICY),
        state or trust(),
        repository=repository,
        digest=DIGEST,
        attestations=[(f"att{i}", b) for i, b in enumerate(bundles)],
        now=now,
    )


def stage(decision: Decision, name: str) -> tuple[bool, int, int, tuple[str, ...]]:
    result = next(s for s in decision.stages if s.stage == name)
    return result.met, len(result.signers), result.threshold, result.reasons


def test_ci_1_of_2_scan_1_of_1_staging_2_of_3_passes() -> None:
    decision = decide(happy())
    assert decision.allowed, decision.explain()
    assert [(s.stage, len(s.signers), s.threshold) for s in decision.stages] == [
        ("ci", 1, 1),
        ("scan", 1, 1),
        ("staging", 2, 2),
    ]
    assert "satisfied" in decision.summary()
    assert decision.to_dict()["allowed"] is True


def test_removing_one_staging_signers_key_fails() -> None:
    decision = decide(happy(), state=trust(drop={"staging": 2}))
    assert not decision.allowed
    met, signers, threshold, reasons = stage(decision, "staging")
    assert (met, signers, threshold) == (False, 1, 2)
    assert "threshold not met: 1 of 2" in reasons[0]
    assert "not counted" in reasons[1]  # the revoked signer's attestation is named as ignored
    assert "stage staging" in decision.summary()


def test_signer_not_in_the_stages_role_does_not_count() -> None:
    bundles = [*happy()[:3], attest(approval("staging", NOW), [OUTSIDER])]
    assert stage(decide(bundles), "staging")[:2] == (False, 1)


def test_a_ci_key_cannot_approve_staging() -> None:
    bundles = [*happy()[:3], attest(approval("staging", NOW), [KEYS["ci"][1]])]
    assert stage(decide(bundles), "staging")[:2] == (False, 1)


def test_one_key_signing_two_attestations_counts_once() -> None:
    twice = [
        attest(approval("staging", NOW - timedelta(minutes=5)), [KEYS["staging"][0]]),
        attest(approval("staging", NOW - timedelta(minutes=4)), [KEYS["staging"][0]]),
    ]
    decision = decide(happy()[:2] + twice)
    assert stage(decision, "staging")[:3] == (False, 1, 2)


def test_one_envelope_signed_twice_by_the_same_key_counts_once() -> None:
    doubled = attest(approval("staging", NOW), [KEYS["staging"][1], KEYS["staging"][1]])
    assert stage(decide([*happy()[:2], doubled]), "staging")[:2] == (False, 1)


def test_attestation_for_another_digest_is_not_evidence() -> None:
    replayed = [attest(p, [KEYS["ci"][0]], digest=OTHER) for p in [provenance(NOW)]]
    decision = decide(replayed + happy()[1:])
    met, _, _, reasons = stage(decision, "ci")
    assert not met
    assert any(e.stage == "ci" and "subject" in e.reason for e in decision.evidence)
    assert reasons == ("no valid attestation signed by this stage's trusted keys",)


def test_attestation_replayed_from_another_repository_is_not_evidence() -> None:
    replayed = attest(provenance(NOW), [KEYS["ci"][0]], repository="shop/other")
    decision = decide([replayed, *happy()[1:]])
    assert not stage(decision, "ci")[0]
    assert any("shop/other" in e.reason or "subject" in e.reason for e in decision.evidence)


def test_stage_attestation_older_than_its_max_age_fails() -> None:
    stale_scan = attest(scan(NOW - timedelta(hours=25)), [KEYS["scan"][0]])
    decision = decide([happy()[0], stale_scan, *happy()[2:]])
    assert not stage(decision, "scan")[0]
    assert any("older than the allowed 1 day" in e.reason for e in decision.evidence)
    # The default maxAge (7d) applies to stages without their own.
    old_ci = attest(provenance(NOW - timedelta(days=8)), [KEYS["ci"][0]])
    assert not stage(decide([old_ci, *happy()[1:]]), "ci")[0]


def test_future_timestamps_are_refused() -> None:
    future = attest(provenance(NOW + timedelta(hours=1)), [KEYS["ci"][0]])
    decision = decide([future, *happy()[1:]])
    assert not stage(decision, "ci")[0]
    assert any("future" in e.reason for e in decision.evidence)


def test_tampered_bundle_is_not_evidence() -> None:
    bundles = happy()
    bundles[0] = bundles[0].replace(b'"payload":"', b'"payload":"X', 1)
    decision = decide(bundles)
    assert not decision.allowed
    assert not stage(decision, "ci")[0]


def test_scan_with_a_critical_finding_fails_unless_allowlisted() -> None:
    critical = attest(
        scan(NOW, {"CVE-2099-0001": "critical", "CVE-2099-0002": "high"}), [KEYS["scan"][0]]
    )
    decision = decide([happy()[0], critical, *happy()[2:]])
    met, _, _, reasons = stage(decision, "scan")
    assert not met
    assert "CVE-2099-0001" in reasons[0]
    accepted = attest(
        scan(NOW, {"CVE-2099-0009": "critical", "CVE-2099-0002": "high"}), [KEYS["scan"][0]]
    )
    assert decide([happy()[0], accepted, *happy()[2:]]).allowed
    # The allowlist entry expires on 2027-01-01.
    later = NOW + timedelta(days=40)
    fresh = [
        attest(provenance(later), [KEYS["ci"][0]]),
        attest(scan(later, {"CVE-2099-0009": "critical"}), [KEYS["scan"][0]]),
        attest(approval("staging", later), [KEYS["staging"][0]]),
        attest(approval("staging", later), [KEYS["staging"][1]]),
    ]
    assert not decide(fresh, now=later).allowed


def test_the_newest_scan_decides() -> None:
    clean_then_critical = [
        attest(scan(NOW - timedelta(hours=3)), [KEYS["scan"][0]]),
        attest(scan(NOW - timedelta(hours=1), {"CVE-2099-0001": "critical"}), [KEYS["scan"][0]]),
    ]
    assert not stage(decide([happy()[0], *clean_then_critical, *happy()[2:]]), "scan")[0]


def test_policy_threshold_only_raises_the_roles() -> None:
    raised = parse_policy(POLICY.replace(b"staging: {}", b"staging: {threshold: 3}"))
    assert stage(decide(happy(), policy=raised), "staging")[:3] == (False, 2, 3)
    lowered = parse_policy(POLICY.replace(b"staging: {}", b"staging: {threshold: 1}"))
    assert stage(decide(happy(), policy=lowered), "staging")[2] == 2


def test_repository_outside_the_policy_scope_is_denied() -> None:
    decision = decide(happy(), repository="payments/api")
    assert not decision.allowed
    assert "does not cover" in decision.reasons[0]


def test_a_stage_missing_from_the_trust_root_fails() -> None:
    extra = parse_policy(POLICY.replace(b"  staging: {}", b"  staging: {}\n  pentest: {}"))
    met, _, _, reasons = stage(decide(happy(), policy=extra), "pentest")
    assert not met
    assert "defines no stage 'pentest'" in reasons[0]


def test_explain_names_signers_thresholds_and_rejections() -> None:
    stale = attest(provenance(NOW - timedelta(days=9)), [KEYS["ci"][0]])
    lines = "\n".join(decide([stale, *happy()[1:]]).explain())
    assert lines.startswith("DENIED: shop/app@sha256:")
    assert "[FAIL] ci: 0 of 1 distinct trusted signer(s)" in lines
    assert "[ok ] staging: 2 of 2" in lines
    assert "older than the allowed 7 days" in lines


@pytest.mark.parametrize("junk", [b"", b"{}", b"not json", b"\x00" * 100, b"[" * 10000])
def test_garbage_bundles_never_crash(junk: bytes) -> None:
    decision = decide([junk, *happy()])
    assert decision.allowed
