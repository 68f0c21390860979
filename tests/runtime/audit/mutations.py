"""Small edits applied to the documents of :mod:`tests.runtime.audit.documents`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sealyard.runtime.audit import AuditReport, Severity, audit_workloads
from sealyard.runtime.audit.loaders import load_bytes
from tests.runtime.audit.documents import base, encode

Mutation = Callable[[dict[str, Any]], None]
Path = str | Sequence[str | int]

SOURCES = {
    "docker-inspect": "inspect.json",
    "compose": "compose.yaml",
    "kubernetes": "deploy.yaml",
    "oci": "bundle/config.json",
}
POD = "spec.template.spec"
C0 = f"{POD}.containers.0"
SC = f"{C0}.securityContext"
PSC = f"{POD}.securityContext"
H = "HostConfig"
S = "services.web"


def _steps(path: Path) -> list[str | int]:
    if isinstance(path, str):
        return [int(p) if p.isdigit() else p for p in path.split(".")]
    return list(path)


def _walk(doc: Any, steps: list[str | int]) -> Any:
    for step in steps:
        doc = doc[step] if isinstance(step, int) else doc.setdefault(step, {})
    return doc


def put(path: Path, value: Any) -> Mutation:
    """Set ``path`` to ``value`` (creating mappings on the way)."""

    def apply(doc: dict[str, Any]) -> None:
        steps = _steps(path)
        _walk(doc, steps[:-1])[steps[-1]] = json.loads(json.dumps(value))

    return apply


def drop(path: Path) -> Mutation:
    """Remove ``path`` (a key or a list item)."""

    def apply(doc: dict[str, Any]) -> None:
        steps = _steps(path)
        parent = _walk(doc, steps[:-1])
        last = steps[-1]
        if isinstance(parent, list):
            assert isinstance(last, int)
            parent.pop(last)
        else:
            parent.pop(last, None)

    return apply


def add(path: Path, value: Any) -> Mutation:
    """Append ``value`` to the list at ``path``."""

    def apply(doc: dict[str, Any]) -> None:
        steps = _steps(path)
        parent = _walk(doc, steps[:-1])
        parent.setdefault(steps[-1], []).append(json.loads(json.dumps(value)))

    return apply


def both(*mutations: Mutation) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for m in mutations:
            m(doc)

    return apply


def nothing(doc: dict[str, Any]) -> None:
    """The hardened document as it is."""


def audit(fmt: str, mutation: Mutation = nothing, standard: str = "all") -> AuditReport:
    """Audit the hardened ``fmt`` document after ``mutation``, through the real loader."""
    doc = base(fmt)
    mutation(doc)
    result = load_bytes(encode(fmt, doc), SOURCES[fmt])
    return audit_workloads(result.workloads, standard, notes=result.notes)


@dataclass(frozen=True)
class Case:
    """One rule, one format: a failing edit and (optionally) a passing edit."""

    rule: str
    fmt: str
    fail: Mutation
    passing: Mutation = nothing
    severity: Severity | None = None
    message: str = ""
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.fmt}{'-' + self.label if self.label else ''}"
