"""Audit reports as a table for humans, Sealyard's JSON, or SARIF 2.1.0.

Every format carries, per finding: the check id and title, the severity, what is wrong,
why it matters, how to fix it, and where (file, document, resource, container, field,
line). Rendering is a pure function of the report: the same report renders byte for byte
the same.

SARIF: one ``reportingDescriptor`` per evaluated rule (``shortDescription`` the title,
``fullDescription`` why it matters, ``help`` how to fix it, ``properties.security-severity``
for code-scanning dashboards); one result per finding with ``level`` ``error`` (critical,
high), ``warning`` (medium) or ``note`` (low, info), a physical location (file and line when
known) and a logical one (resource/container/field), and a ``partialFingerprints`` entry
that is stable across runs. Notes (what was not checked) are tool execution notifications.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table

from sealyard import __version__
from sealyard.errors import UsageError
from sealyard.runtime.audit.host import HostReport, Status
from sealyard.runtime.audit.interface import AuditReport, Finding, Resource, Rule, Severity

__all__ = [
    "FORMATS",
    "HOST_FORMATS",
    "SARIF_SCHEMA",
    "render",
    "render_host",
    "to_json_document",
    "to_sarif_document",
]

FORMATS = ("table", "json", "sarif")
HOST_FORMATS = ("table", "json")
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub's bands: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _where(f: Finding) -> str:
    """``file:line`` or ``file``, plus the document index of multi-document files."""
    r = f.resource
    text = r.source
    if f.line is not None:
        text += f":{f.line}"
    elif r.document is not None:
        text += f" (document {r.document + 1})"
    return text


def _resource_json(r: Resource) -> dict[str, Any]:
    return {
        "source": r.source,
        "format": r.format,
        "kind": r.kind,
        "name": r.name,
        "namespace": r.namespace or None,
        "document": r.document,
    }


def _rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "standard": rule.standard,
        "title": rule.title,
        "severity": rule.severity.value,
        "formats": sorted(rule.formats),
        "why": rule.rationale,
        "fix": rule.remediation,
        "reference": rule.reference or None,
    }


def to_json_document(report: AuditReport) -> dict[str, Any]:
    """The report as Sealyard's JSON document (a plain dict)."""
    return {
        "tool": {"name": "sealyard", "version": __version__},
        "standards": list(report.standards),
        "summary": {
            "resources": len(report.resources),
            "findings": len(report.findings),
            "bySeverity": report.counts(),
            "rulesEvaluated": len(report.rules),
        },
        "findings": [
            {
                "id": f.rule.id,
                "standard": f.rule.standard,
                "title": f.rule.title,
                "severity": f.severity.value,
                "message": f.message,
                "why": f.rule.rationale,
                "fix": f.rule.remediation,
                "reference": f.rule.reference or None,
                "resource": _resource_json(f.resource),
                "container": f.container,
                "field": f.field,
                "line": f.line,
            }
            for f in report.findings
        ],
        "resources": [_resource_json(r) for r in report.resources],
        "rules": [_rule_json(r) for r in report.rules],
        "notes": list(report.notes),
    }


def _uri(source: str) -> str:
    """An RFC 3986 reference for a file name as the user gave it."""
    if PureWindowsPath(source).drive:
        return PureWindowsPath(source).as_uri()
    path = PurePosixPath(source)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix(), safe="/")


def _logical_name(f: Finding) -> str:
    parts = [f.resource.label]
    if f.container:
        parts.append(f.container)
    if f.field:
        parts.append(f.field)
    return "/".join(parts)


def _fingerprint(f: Finding) -> str:
    r = f.resource
    parts = (f.rule.id, r.source, r.label, str(r.document), f.container, f.field, f.message)
    text = "\x00".join(p or "" for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "name": rule.title,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {
            "text": f"{rule.remediation}\n\nSee {rule.reference}"
            if rule.reference
            else rule.remediation
        },
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", rule.standard],
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "precision": "high",
        },
    }
    if rule.reference:
        out["helpUri"] = rule.reference
    return out


def _sarif_result(f: Finding, index: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(f.resource.source)}}
    if f.line is not None:
        physical["region"] = {"startLine": f.line}
    return {
        "ruleId": f.rule.id,
        "ruleIndex": index,
        "kind": "fail",
        "level": _LEVEL[f.severity],
        "message": {"text": f"{f.message} ({f.rule.title}). Fix: {f.rule.remediation}"},
        "locations": [
            {
                "physicalLocation": physical,
                "logicalLocations": [{"fullyQualifiedName": _logical_name(f), "kind": "resource"}],
            }
        ],
        "partialFingerprints": {"sealyard/v1": _fingerprint(f)},
        "properties": {
            "severity": f.severity.value,
            "security-severity": _SECURITY_SEVERITY[f.severity],
            "standard": f.rule.standard,
            "resource": _resource_json(f.resource),
            "container": f.container,
            "field": f.field,
        },
    }


def to_sarif_document(report: AuditReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (a plain dict)."""
    rules: dict[str, Rule] = {r.id: r for r in report.rules}
    for f in report.findings:
        rules.setdefault(f.rule.id, f.rule)
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "sealyard",
                "version": __version__,
                "rules": [_sarif_rule(r) for r in rules.values()],
            }
        },
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": note}} for note in report.notes
                ],
            }
        ],
        "results": [_sarif_result(f, index[f.rule.id]) for f in report.findings],
        "properties": {"standards": list(report.standards), "resources": len(report.resources)},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _render_table(report: AuditReport, width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    if report.findings:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("severity", "check", "resource", "container", "location", "finding"):
            table.add_column(col, overflow="fold", no_wrap=col in ("severity", "check"))
        for f in report.findings:
            location = _where(f)
            if f.field:
                location += f" {f.field}"
            table.add_row(
                f.severity.value,
                f.rule.id,
                f.resource.label,
                f.container or "",
                location,
                f.message,
            )
        console.print(table)
        console.print()
        console.print("How to fix:")
        seen: dict[str, Rule] = {}
        for f in report.findings:
            seen.setdefault(f.rule.id, f.rule)
        for rule in seen.values():
            console.print(f"  {rule.id}  {rule.title}")
            console.print(f"      why: {rule.rationale}")
            console.print(f"      fix: {rule.remediation}")
    for note in report.notes:
        console.print(f"note: {note}")
    counts = report.counts()
    by = ", ".join(f"{n} {s}" for s, n in reversed(counts.items()) if n)
    console.print(
        f"{len(report.findings)} finding(s){f' ({by})' if by else ''} in "
        f"{len(report.resources)} resource(s); {len(report.rules)} check(s) evaluated"
    )
    return buffer.getvalue()


def render(report: AuditReport, fmt: str, *, width: int = 160) -> str:
    """``report`` as ``table``, ``json`` or ``sarif`` text.

    Raises:
        UsageError: unknown format.
    """
    if fmt == "json":
        return _dump(to_json_document(report))
    if fmt == "sarif":
        return _dump(to_sarif_document(report))
    if fmt == "table":
        return _render_table(report, width)
    raise UsageError(f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}")


_PROCESS_STATUS = {
    Status.AVAILABLE: "in effect",
    Status.UNAVAILABLE: "not in effect",
    Status.PARTIAL: "partial",
    Status.UNKNOWN: "unknown",
}


def render_host(report: HostReport, fmt: str, *, width: int = 160) -> str:
    """The host report as ``table`` or ``json`` text.

    Raises:
        UsageError: unknown format.
    """
    if fmt == "json":
        return _dump(
            {
                "root": report.root,
                "features": [
                    {
                        "name": f.name,
                        "scope": f.scope,
                        "status": f.status.value,
                        "detail": f.detail,
                        "usedBySealyard": f.sealyard or None,
                    }
                    for f in report.features
                ],
                "missingForSealyard": [f.name for f in report.missing_for_sealyard],
            }
        )
    if fmt != "table":
        raise UsageError(f"unknown format {fmt!r} for the host audit; choose table or json")
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    for scope, title in (("kernel", "This host offers"), ("process", "This process runs with")):
        rows = [f for f in report.features if f.scope == scope]
        if not rows:
            continue
        table = Table(title=title, title_justify="left", box=None, header_style="bold")
        table.add_column("feature", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("detail", overflow="fold")
        if scope == "kernel":
            table.add_column("used by `sealyard run` defaults", overflow="fold")
        for f in rows:
            status = f.status.value if scope == "kernel" else _PROCESS_STATUS[f.status]
            cells = [f.name, status, f.detail]
            if scope == "kernel":
                cells.append(f.sealyard or "no")
            table.add_row(*cells)
        console.print(table)
        console.print()
    missing = report.missing_for_sealyard
    if missing:
        names = ", ".join(f"{f.name} ({f.status.value})" for f in missing)
        console.print(f"`sealyard run` defaults need what this host lacks: {names}")
    else:
        console.print("This host offers every kernel feature `sealyard run` uses by default.")
    return buffer.getvalue()
