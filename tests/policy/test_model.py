"""The policy document: strict parsing, scope, thresholds, allowlist expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sealyard.errors import UntrustedDataError
from sealyard.policy.model import PolicyError, parse_duration, parse_policy

GOOD = b"""
apiVersion: sealyard.dev/v1
kind: Policy
name: production
scope:
  repositories: ["shop/*", "payments/api"]
maxAge: 7d
stages:
  ci: {}
  scan:
    maxAge: 24h
    failOn: critical
  staging:
    threshold: 2
allowlist:
  - id: CVE-2099-0001
    expires: 2027-01-31
    reason: not reachable, see SEC-42
"""


def test_a_complete_policy() -> None:
    policy = parse_policy(GOOD)
    assert policy.name == "production"
    assert [(s.name, s.threshold, s.max_age, s.fail_on) for s in policy.stages] == [
        ("ci", 0, timedelta(days=7), None),
        ("scan", 0, timedelta(hours=24), "CRITICAL"),
        ("staging", 2, timedelta(days=7), None),
    ]
    assert policy.covers("shop/web")
    assert policy.covers("payments/api")
    assert not policy.covers("payments/api-v2")
    assert not policy.covers("shopping/web")
    before = datetime(2027, 1, 30, tzinfo=UTC)
    after = datetime(2027, 1, 31, tzinfo=UTC)
    assert policy.allowed_ids(before) == {"CVE-2099-0001"}
    assert policy.allowed_ids(after) == frozenset()
    assert policy.raw == GOOD


def test_defaults_cover_everything_without_age_limit() -> None:
    policy = parse_policy(b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: }\n")
    assert policy.covers("any/thing")
    assert policy.stages[0].max_age is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"apiVersion: v0\nkind: Policy\nname: p\nstages: {ci: {}}", "apiVersion"),
        (b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {}", "at least one"),
        (b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstage: {ci: {}}", "unknown field"),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {treshold: 2}}",
            "stages.ci: unknown field(s) treshold",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {threshold: -1}}",
            "threshold",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {threshold: true}}",
            "threshold",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {maxAge: 7 days}}",
            "stages.ci.maxAge",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {scan: {failOn: BAD}}",
            "failOn",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {}}\n"
            b"allowlist: [{id: CVE-1, reason: x}]",
            "expires is required",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {}}\n"
            b"allowlist: [{id: CVE-1, expires: 2027-01-01}]",
            "reason is required",
        ),
        (
            b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: p\nstages: {ci: {}}\n"
            b"scope: {repositories: []}",
            "scope.repositories",
        ),
        (b"apiVersion: sealyard.dev/v1\nkind: Policy\nname: Bad Name\nstages: {ci: {}}", "name"),
        (b"[not, a, mapping]", "policy must be a mapping"),
        (b"key: [unclosed", "not valid YAML"),
        (b"\xff\xfe", "not valid YAML"),
        (b"a: " + b"x" * 300_000, "larger than"),
    ],
)
def test_malformed_policies_are_refused_naming_the_field(text: bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_policy(text)


def test_policy_errors_are_untrusted_data() -> None:
    assert issubclass(PolicyError, UntrustedDataError)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1209600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "x") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0d", "7", "d", "-1h", "1y", 7, None, "1.5h"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(PolicyError):
        parse_duration(text, "x")
