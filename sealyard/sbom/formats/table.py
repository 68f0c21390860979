"""A plain-text table for people: ``NAME  VERSION  TYPE``, sorted, one row per package.

Names and versions come from the scanned image, which is untrusted: control characters
(terminal escape sequences included) are shown escaped, never written raw. Column widths
count East Asian wide characters as two cells so columns stay aligned.
"""

from __future__ import annotations

import unicodedata

from sealyard.sbom.formats import _common
from sealyard.sbom.formats.interface import SbomFormat
from sealyard.sbom.model import Sbom

__all__ = ["Table", "printable"]

_HEADER = ("NAME", "VERSION", "TYPE")
_GAP = "  "


def printable(text: str) -> str:
    """``text`` with control and format characters replaced by ``\\x..``/``\\u....`` escapes."""
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _width(text: str) -> int:
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in {"W", "F"} else 1
    return width


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


class Table(SbomFormat):
    """Human-readable package table (not meant to be parsed: use ``json``)."""

    name = "table"
    media_type = "text/plain; charset=utf-8"
    file_extension = ".txt"

    def render(self, sbom: Sbom, *, deterministic: bool = False) -> str:
        rows: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str, str]] = set()
        for ip in _common.identified_packages(sbom):
            pkg = ip.package
            row = (printable(pkg.name), printable(pkg.version), printable(pkg.type))
            if row not in seen:  # the same package in two places is one row for a person
                seen.add(row)
                rows.append(row)
        rows.sort(key=lambda r: (r[0].casefold(), r[0], r[1], r[2]))

        lines: list[str] = []
        if rows:
            widths = [max(_width(r[i]) for r in [_HEADER, *rows]) for i in range(3)]
            for row in [_HEADER, *rows]:
                cells = [_pad(cell, widths[i]) for i, cell in enumerate(row[:-1])]
                lines.append(_GAP.join([*cells, row[-1]]))
        else:
            lines.append("No packages found.")
        warnings = _common.sorted_warnings(sbom)
        if warnings:
            lines.append("")
            lines.append(f"{len(warnings)} warning(s):")
            for w in warnings:
                where = printable(w.path) if w.path else ""
                if w.layer is not None:
                    where = f"{where} (layer {w.layer})".strip()
                prefix = f"[{printable(w.kind)}]" + (f" {where}" if where else "")
                lines.append(f"  {prefix}: {printable(w.message)}")
        return "\n".join(lines) + "\n"
