"""A :class:`~sealyard.runtime.audit.interface.Standard` built from decorated check functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from sealyard.runtime.audit.interface import Finding, Rule, Severity, Standard
from sealyard.runtime.audit.model import Container, Workload

__all__ = ["Check", "RuleSet", "finding", "names"]

Check = Callable[[Rule, Workload], Iterable[Finding]]


class RuleSet(Standard):
    """Rules registered with :meth:`rule`, evaluated in registration order."""

    def __init__(self, name: str, title: str, standard: str, reference: str) -> None:
        self.name = name
        self.title = title
        self.standard = standard
        self.reference = reference
        self._checks: list[tuple[Rule, Check]] = []

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for r, _ in self._checks)

    def rule(
        self,
        rule_id: str,
        title: str,
        severity: Severity,
        *,
        why: str,
        fix: str,
        formats: Iterable[str],
        reference: str = "",
    ) -> Callable[[Check], Check]:
        """Register the decorated function as the check of a new rule."""
        rule = Rule(
            id=rule_id,
            standard=self.standard,
            title=title,
            severity=severity,
            rationale=why,
            remediation=fix,
            formats=frozenset(formats),
            reference=reference or self.reference,
        )

        def register(fn: Check) -> Check:
            self._checks.append((rule, fn))
            return fn

        return register

    def check(self, workload: Workload) -> Iterator[Finding]:
        for rule, fn in self._checks:
            if workload.format in rule.formats:
                yield from fn(rule, workload)


def finding(
    rule: Rule,
    workload: Workload,
    message: str,
    *,
    container: Container | None = None,
    field: str | None = None,
    severity: Severity | None = None,
) -> Finding:
    """A finding of ``rule``; the line is looked up from ``field``."""
    return Finding(
        rule=rule,
        resource=workload.resource,
        message=message,
        severity=severity or rule.severity,
        container=container.name if container is not None else None,
        field=field,
        line=workload.line_of(field),
    )


def names(values: Iterable[str]) -> str:
    """``a, b, c`` in a stable order."""
    return ", ".join(sorted(set(values)))
