"""Audit container configurations against CIS Docker, Pod Security Standards and Sealyard's
runtime defaults; audit Dockerfiles; report what isolation the host kernel offers.

Layers: :mod:`.loaders` turn ``docker inspect`` output, compose files, Kubernetes manifests
and OCI ``config.json`` into normalised :class:`~.model.Workload` objects; standards
(:mod:`.cis_docker`, :mod:`.pss`, :mod:`.hardening`) are pure functions from workloads to
:class:`~.interface.Finding` objects; :mod:`.report` renders them. :mod:`.dockerfile` and
:mod:`.host` are the two other audits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from sealyard.errors import UsageError
from sealyard.runtime.audit.cis_docker import CIS_DOCKER
from sealyard.runtime.audit.hardening import SEALYARD_DEFAULTS
from sealyard.runtime.audit.interface import (
    AuditReport,
    Finding,
    Resource,
    Rule,
    Severity,
    Standard,
    sorted_findings,
)
from sealyard.runtime.audit.loaders import LoadResult, ParseLimits, load_path
from sealyard.runtime.audit.model import Workload
from sealyard.runtime.audit.pss import PSS_BASELINE, PSS_RESTRICTED

__all__ = [
    "STANDARDS",
    "AuditReport",
    "Finding",
    "Resource",
    "Rule",
    "Severity",
    "Standard",
    "audit_files",
    "audit_workloads",
    "standards_named",
]

#: ``--standard`` names → the standards they run (Restricted includes Baseline).
STANDARDS: Mapping[str, tuple[Standard, ...]] = MappingProxyType(
    {
        "cis": (CIS_DOCKER,),
        "pss-baseline": (PSS_BASELINE,),
        "pss-restricted": (PSS_BASELINE, PSS_RESTRICTED),
        "sealyard": (SEALYARD_DEFAULTS,),
        "all": (CIS_DOCKER, SEALYARD_DEFAULTS, PSS_BASELINE, PSS_RESTRICTED),
    }
)


def standards_named(name: str) -> tuple[Standard, ...]:
    """The standards ``--standard NAME`` selects.

    Raises:
        UsageError: unknown name.
    """
    try:
        return STANDARDS[name]
    except KeyError:
        known = ", ".join(STANDARDS)
        raise UsageError(f"unknown standard {name!r}; choose one of: {known}") from None


def audit_workloads(
    workloads: Sequence[Workload],
    standard: str = "all",
    *,
    notes: Iterable[str] = (),
) -> AuditReport:
    """Evaluate ``workloads`` against the standards ``standard`` names.

    Raises:
        UsageError: unknown standard.
    """
    standards = standards_named(standard)
    all_notes = list(notes)
    findings: list[Finding] = []
    rules: dict[str, Rule] = {}
    formats = {w.format for w in workloads}
    for s in standards:
        if standard != "all" and workloads and not any(s.applies_to(f) for f in formats):
            all_notes.append(
                f"{s.title}: applies to {', '.join(sorted(_formats_of(s)))} only; "
                f"not evaluated for {', '.join(sorted(formats))}"
            )
        for fmt in sorted(formats):
            for r in s.rules_for(fmt):
                rules.setdefault(r.id, r)
        for w in workloads:
            findings.extend(s.check(w))
    return AuditReport(
        findings=sorted_findings(findings),
        resources=tuple(w.resource for w in workloads),
        rules=tuple(rules.values()),
        notes=tuple(dict.fromkeys(all_notes)),
        standards=tuple(s.name for s in standards),
    )


def _formats_of(standard: Standard) -> set[str]:
    return {f for r in standard.rules for f in r.formats}


def audit_files(
    paths: Iterable[Path], standard: str = "all", *, limits: ParseLimits | None = None
) -> AuditReport:
    """Load every file in ``paths`` and audit the workloads in them.

    Raises:
        UsageError: a file cannot be read, or the standard is unknown.
        UntrustedDataError: a file is malformed, hostile or not a container configuration.
    """
    standards_named(standard)
    results: list[LoadResult] = [
        load_path(p) if limits is None else load_path(p, limits=limits) for p in paths
    ]
    workloads = [w for r in results for w in r.workloads]
    notes = [n for r in results for n in r.notes]
    return audit_workloads(workloads, standard, notes=notes)
