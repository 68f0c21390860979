"""Deciding whether declared license text is an SPDX license expression.

Catalogers record what a package declares: sometimes a clean SPDX expression
(``MIT OR Apache-2.0``), often free text (``Apache 2.0``, ``BSD``, ``GPLv2+``). The formats
need to know which is which: CycloneDX puts valid expressions in ``expression`` and the rest
in ``license.name``; SPDX accepts only expressions and needs a ``LicenseRef-`` for the rest.

Validation uses ``license-expression`` with the SPDX license list it ships, so a key is
valid only if it is on that list or is a local ``LicenseRef-[idstring]``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from license_expression import Licensing, get_spdx_licensing  # type: ignore[import-untyped]

__all__ = ["DeclaredLicenses", "LicenseText", "classify", "normalize_expression"]

# SPDX 2.3 Annex D: "LicenseRef-" idstring, letters, digits, "." and "-".
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_ABSENT = frozenset({"", "NOASSERTION"})


@functools.cache
def _licensing() -> Licensing:
    return get_spdx_licensing()


@functools.lru_cache(maxsize=4096)
def normalize_expression(text: str) -> str | None:
    """The canonical form of ``text`` if it is a valid SPDX license expression, else ``None``.

    Case is normalised (``mit`` → ``MIT``) and deprecated ``+`` forms are rewritten
    (``GPL-2.0+`` → ``GPL-2.0-or-later``). Keys must be on the SPDX license list or be
    ``LicenseRef-`` references; ``DocumentRef-`` references, ``NONE`` and ``NOASSERTION``
    are not accepted because these documents carry no external document references.
    """
    text = text.strip()
    if not text:
        return None
    licensing = _licensing()
    try:
        parsed: Any = licensing.parse(text, validate=False, strict=True)
    except Exception:  # the parser raises several unrelated types, some by accident
        return None
    if parsed is None:
        return None
    unknown: list[str] = licensing.unknown_license_keys(parsed)
    if any(not _LICENSE_REF.fullmatch(key) for key in unknown):
        return None
    rendered: str = parsed.render()
    return rendered


def license_refs(expression: str) -> tuple[str, ...]:
    """The ``LicenseRef-`` keys used in a valid, normalised ``expression``, sorted."""
    licensing = _licensing()
    parsed: Any = licensing.parse(expression, validate=False, strict=True)
    keys: list[str] = licensing.license_keys(parsed)
    return tuple(sorted({k for k in keys if _LICENSE_REF.fullmatch(k)}))


def is_simple_license_id(expression: str) -> bool:
    """True for a normalised expression that is one SPDX-listed license, no operators."""
    licensing = _licensing()
    parsed: Any = licensing.parse(expression, validate=False, strict=True)
    keys: list[str] = licensing.license_keys(parsed)
    return len(keys) == 1 and keys[0] == expression and not _LICENSE_REF.fullmatch(expression)


@dataclass(frozen=True)
class LicenseText:
    """One declared license string and what it turned out to be."""

    text: str
    expression: str | None  # normalised SPDX expression, None if the text is not one

    @property
    def license_ref(self) -> str:
        """A stable ``LicenseRef-`` id standing for this (non-SPDX) text in SPDX documents.

        The text itself when it is already a safe idstring (``LicenseRef-BSD``), else the
        sanitised text plus a hash of the original so different texts never share an id.
        """
        sanitized = _UNSAFE_ID_CHARS.sub("-", self.text).strip("-.")[:64] or "unknown"
        if sanitized == self.text:
            return f"LicenseRef-{sanitized}"
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]
        return f"LicenseRef-{sanitized}-{digest}"


@dataclass(frozen=True)
class DeclaredLicenses:
    """The licenses a package declares, classified, de-duplicated, in declaration order."""

    items: tuple[LicenseText, ...]

    @property
    def all_valid(self) -> bool:
        return bool(self.items) and all(item.expression is not None for item in self.items)

    def combined_expression(self) -> str | None:
        """All items joined with ``AND`` if every one is a valid expression, else ``None``."""
        if not self.all_valid:
            return None
        return _and([item.expression for item in self.items if item.expression is not None])

    def spdx_expression(self) -> str | None:
        """All items joined with ``AND``, non-SPDX texts replaced by their ``LicenseRef-``.

        ``None`` when nothing was declared.
        """
        if not self.items:
            return None
        parts = [item.expression or item.license_ref for item in self.items]
        return _and(parts)


def classify(texts: Iterable[str]) -> DeclaredLicenses:
    """Classify a package's declared license strings; blanks and ``NOASSERTION`` are dropped."""
    seen: set[str] = set()
    items: list[LicenseText] = []
    for raw in texts:
        text = raw.strip()
        if text.upper() in _ABSENT:
            continue
        expression = normalize_expression(text)
        key = expression if expression is not None else text
        if key in seen:
            continue
        seen.add(key)
        items.append(LicenseText(text=text, expression=expression))
    return DeclaredLicenses(items=tuple(items))


def _and(expressions: list[str]) -> str:
    if len(expressions) == 1:
        return expressions[0]
    joined = " AND ".join(f"({e})" for e in expressions)
    normalized = normalize_expression(joined)
    if normalized is None:  # pragma: no cover - parts are valid, so is their conjunction
        raise AssertionError(f"conjunction of valid expressions did not parse: {joined!r}")
    return normalized
