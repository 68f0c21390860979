"""The audit rule model: severities, rules, findings, and the interface of a standard.

A *standard* (CIS Docker Benchmark, Pod Security Standards, Sealyard's own runtime
defaults) is a set of :class:`Rule` objects and a pure function from a normalised
:class:`~sealyard.runtime.audit.model.Workload` to :class:`Finding` objects. Standards never
read files; loaders turn documents into workloads first. Every finding carries what a
human needs to act on it: which check, why it matters, how to fix it and exactly where.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sealyard.errors import UsageError

if TYPE_CHECKING:
    from sealyard.runtime.audit.model import Workload

__all__ = [
    "FORMATS",
    "AuditReport",
    "Finding",
    "Resource",
    "Rule",
    "Severity",
    "Standard",
]

#: The configuration formats loaders understand, plus ``dockerfile``.
FORMATS = frozenset({"docker-inspect", "compose", "kubernetes", "oci", "dockerfile"})


class Severity(enum.Enum):
    """How bad a finding is; ordered ``INFO < LOW < MEDIUM < HIGH < CRITICAL``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named ``text`` (any case).

        Raises:
            UsageError: not a severity name.
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise UsageError(f"unknown severity {text!r}; choose one of: {names}") from None


_RANK = {s: i for i, s in enumerate(Severity)}


@dataclass(frozen=True)
class Rule:
    """One check of a standard.

    Attributes:
        id: stable identifier, e.g. ``CIS-5.5`` or ``PSS-BASELINE-PRIVILEGED``.
        standard: the standard it belongs to (``cis-docker-1.6.0``, ``pss-baseline``, …).
        title: the check as the standard words it.
        severity: the default severity of its findings (a finding may differ).
        rationale: why it matters.
        remediation: how to fix it.
        formats: the input formats it can be decided from.
        reference: where the standard defines it.
    """

    id: str
    standard: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    formats: frozenset[str]
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.id or not self.title:
            raise ValueError("a rule needs an id and a title")
        unknown = self.formats - FORMATS
        if unknown:
            raise ValueError(f"rule {self.id}: unknown formats {sorted(unknown)}")


@dataclass(frozen=True)
class Resource:
    """What was audited: one container, compose service, pod template, bundle or Dockerfile.

    Attributes:
        source: the file it came from (as the user named it).
        format: ``docker-inspect``, ``compose``, ``kubernetes``, ``oci`` or ``dockerfile``.
        kind: ``container``, ``service``, ``bundle``, ``Dockerfile`` or a Kubernetes kind.
        name: its name.
        namespace: the Kubernetes namespace, when the manifest names one.
        document: 0-based index of the YAML document or JSON array item it came from.
    """

    source: str
    format: str
    kind: str
    name: str
    namespace: str = ""
    document: int | None = None

    @property
    def label(self) -> str:
        """``Deployment/ns/web``, ``service/web``, … for tables and messages."""
        parts = [self.kind]
        if self.namespace:
            parts.append(self.namespace)
        parts.append(self.name or "?")
        return "/".join(parts)


@dataclass(frozen=True)
class Finding:
    """A rule that failed for one resource (and, when it is per container, one container).

    Attributes:
        rule: the rule that failed.
        resource: where.
        message: what exactly is wrong, with the offending value.
        severity: this finding's severity (usually ``rule.severity``).
        container: the container, when the finding is about one.
        field: the path of the offending (or missing) field in the document.
        line: 1-based line in the source, when known.
    """

    rule: Rule
    resource: Resource
    message: str
    severity: Severity
    container: str | None = None
    field: str | None = None
    line: int | None = None

    def sort_key(self) -> tuple[object, ...]:
        r = self.resource
        return (
            r.source,
            -1 if r.document is None else r.document,
            r.label,
            -self.severity.rank,
            self.rule.id,
            self.container or "",
            self.field or "",
            self.message,
        )


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit.

    Attributes:
        findings: failed checks, sorted by source, resource and severity.
        resources: everything audited, including resources without findings.
        rules: the rules that were evaluated, by id.
        notes: what was not checked and why (skipped documents, callbacks not configured).
    """

    findings: tuple[Finding, ...]
    resources: tuple[Resource, ...]
    rules: tuple[Rule, ...]
    notes: tuple[str, ...] = ()
    standards: tuple[str, ...] = field(default=())

    def at_or_above(self, threshold: Severity) -> list[Finding]:
        """Findings rated ``threshold`` or worse."""
        return [f for f in self.findings if f.severity.rank >= threshold.rank]

    def counts(self) -> dict[str, int]:
        """Number of findings per severity name, every severity present."""
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out


class Standard(ABC):
    """A set of rules evaluated against normalised workloads.

    Attributes:
        name: the name users pick it by (``--standard cis``).
        title: the standard's full name and version.
        rules: every rule, in the standard's order.
    """

    name: str
    title: str

    @property
    @abstractmethod
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in the standard's order."""

    def applies_to(self, fmt: str) -> bool:
        return any(fmt in r.formats for r in self.rules)

    def rules_for(self, fmt: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if fmt in r.formats)

    @abstractmethod
    def check(self, workload: Workload) -> Iterator[Finding]:
        """The findings for ``workload``; rules that do not apply to its format are skipped."""


def sorted_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """``findings`` deduplicated and in report order."""
    return tuple(sorted(set(findings), key=Finding.sort_key))
