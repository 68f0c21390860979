"""Helpers shared by the report formats: where an id is documented, how a verdict reads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sealyard.vulndb.matcher import Finding
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.suppress import Assessment

__all__ = [
    "advisory_urls",
    "dump_json",
    "fix_text",
    "iso",
    "source_of",
    "verdict_text",
]

_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/{}"),
    ("GHSA-", "GitHub Advisory Database", "https://github.com/advisories/{}"),
    ("DSA-", "Debian Security Tracker", "https://security-tracker.debian.org/tracker/{}"),
    ("DLA-", "Debian Security Tracker", "https://security-tracker.debian.org/tracker/{}"),
)
_ADVISORY_TYPES = ("ADVISORY", "WEB", "REPORT", "ARTICLE")


def source_of(ident: str) -> tuple[str, str]:
    """``(name, url)`` of the database that publishes ``ident`` (OSV for unknown prefixes)."""
    for prefix, name, url in _SOURCES:
        if ident.startswith(prefix):
            return name, url.format(ident)
    return "OSV", f"https://osv.dev/vulnerability/{ident}"


def advisory_urls(finding: Finding, records: Iterable[OsvRecord]) -> list[str]:
    """Advisory pages for ``finding``: the records' advisory references, else the source page."""
    urls: list[str] = []
    for record in records:
        for ref in record.references:
            url = ref.get("url")
            if (
                ref.get("type") in _ADVISORY_TYPES
                and isinstance(url, str)
                and url.startswith(("https://", "http://"))
            ):
                urls.append(url)
    urls.append(source_of(finding.vulnerability)[1])
    return list(dict.fromkeys(urls))


def fix_text(finding: Finding) -> str:
    """``upgrade to 1.2.3`` or why there is no upgrade."""
    if finding.fixed:
        return f"upgrade {finding.package.name} to {finding.fixed[0]}"
    return {
        "will_not_fix": "no fix: the distribution will not fix it",
        "end_of_life": "no fix: the release is end of life",
    }.get(finding.fix_state, "no fix is available yet")


def iso(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.isoformat()).replace("+00:00", "Z")


def verdict_text(a: Assessment) -> str:
    """One line saying who suppressed (or annotated) a finding, and why."""
    where = f"{a.source} {a.ref}".strip()
    if a.by == "allowlist":
        if len(a.expires_text) == 10:  # a date: the entry holds through that day
            until = f"through {a.expires_text}"
        else:
            until = f"until {iso(a.expires) or a.expires_text or '?'}"
        return f"allowlisted {until}: {a.reason} ({where})"
    parts = [f"VEX {a.label or a.status}"]
    if a.justification:
        parts.append(a.justification)
    if a.reason:
        parts.append(a.reason)
    if a.action:
        parts.append(f"action: {a.action}")
    return f"{': '.join(parts)} ({where})"


def dump_json(document: Any) -> str:
    """2-space indented JSON, UTF-8 text kept, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
