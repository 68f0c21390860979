"""The OCI config ``sealyard run`` generates passes the audit; every relaxation shows up.

Uses the real :func:`sealyard.runtime.spec.build_config`, so this is the contract between
the runner and the audit.
"""

from __future__ import annotations

import json

import pytest

from sealyard.runtime.audit import AuditReport, Severity, audit_workloads
from sealyard.runtime.audit.loaders import load_bytes
from sealyard.runtime.spec import HardenedOptions, ProcessSpec, build_config


def _audit(options: HardenedOptions, uid: int = 0) -> AuditReport:
    config = build_config(ProcessSpec(args=("/app",), uid=uid), options, swap_accounting=False)
    result = load_bytes(json.dumps(config, indent=2).encode(), "run/web/config.json")
    return audit_workloads(result.workloads)


def test_the_hardened_defaults_pass() -> None:
    report = _audit(HardenedOptions())
    assert report.at_or_above(Severity.MEDIUM) == []
    # Not part of Sealyard's defaults: CPU weight (CIS 5.12) and an LSM profile (no
    # AppArmor profile or SELinux label is set; informational).
    assert {(f.rule.id, f.severity) for f in report.findings} <= {
        ("CIS-5.12", Severity.LOW),
        ("CIS-5.2", Severity.INFO),
        ("CIS-5.3", Severity.INFO),
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (HardenedOptions(cap_add=("SYS_ADMIN",)), {"CIS-5.4"}),
        (HardenedOptions(cap_add=("NET_RAW",)), {"CIS-5.4"}),
        (HardenedOptions(seccomp=False), {"CIS-5.22"}),
        (HardenedOptions(user_namespace=False), {"CIS-5.31", "CIS-4.1"}),
        (HardenedOptions(readonly_rootfs=False), {"CIS-5.13"}),
        (HardenedOptions(no_new_privileges=False), {"CIS-5.26"}),
        (HardenedOptions(pids_limit=None), {"CIS-5.29"}),
        (HardenedOptions(memory_bytes=None), {"CIS-5.11"}),
        (HardenedOptions(network="host"), {"CIS-5.10"}),
        (HardenedOptions(allow_unsigned=True), set()),
        (HardenedOptions(keep_setuid=True), set()),
    ],
)
def test_each_relaxation_is_reported(options: HardenedOptions, expected: set[str]) -> None:
    report = _audit(options)
    fired = {f.rule.id for f in report.findings if f.severity.rank >= Severity.LOW.rank}
    assert expected <= fired
    relaxed = [f for f in report.findings if f.rule.id == "SY-2"]
    assert len(relaxed) == len(options.relaxations()) > 0


def test_unverified_images_are_high() -> None:
    report = _audit(HardenedOptions(allow_unsigned=True))
    [hit] = [f for f in report.findings if f.rule.id == "SY-2"]
    assert hit.severity is Severity.HIGH
    assert "without policy verification" in hit.message
