"""Typed, path-aware access to untrusted JSON/YAML values.

A :class:`Value` wraps a parsed value and its document path. Reading a field of the wrong
type raises :class:`~sealyard.errors.UntrustedDataError` naming the file, the path and
what was expected, so a malformed document is rejected with a message a user can act
on, never with a ``KeyError`` or ``AttributeError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from sealyard.errors import UntrustedDataError
from sealyard.runtime.audit._parse import child_path

__all__ = ["Value", "parse_byte_size", "parse_cpu", "parse_quantity"]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Value:
    """An untrusted value at ``path`` in ``source``."""

    __slots__ = ("path", "raw", "source")

    def __init__(self, raw: Any, path: str, source: str) -> None:
        self.raw = raw
        self.path = path
        self.source = source

    def error(self, message: str) -> UntrustedDataError:
        where = self.path or "top level"
        return UntrustedDataError(f"{self.source}: {where}: {message}")

    def _expected(self, what: str) -> UntrustedDataError:
        shown = repr(self.raw)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return self.error(f"expected {what}, got {_type_name(self.raw)} {shown}")

    @property
    def missing(self) -> bool:
        return self.raw is None

    def __getitem__(self, key: str) -> Value:
        """The field ``key`` (a missing field is a ``Value`` of ``None``)."""
        if self.raw is None:
            return Value(None, child_path(self.path, key), self.source)
        if not isinstance(self.raw, dict):
            raise self._expected("a mapping")
        return Value(self.raw.get(key), child_path(self.path, key), self.source)

    def has(self, key: str) -> bool:
        return isinstance(self.raw, dict) and key in self.raw

    def mapping(self) -> dict[Any, Any] | None:
        if self.raw is None or isinstance(self.raw, dict):
            return self.raw
        raise self._expected("a mapping")

    def items(self) -> Iterator[tuple[str, Value]]:
        """The mapping's entries; keys are rendered as strings."""
        for key, raw in (self.mapping() or {}).items():
            name = str(key)
            yield name, Value(raw, child_path(self.path, name), self.source)

    def entries(self) -> list[Value]:
        """The list's items (``[]`` when missing)."""
        if self.raw is None:
            return []
        if not isinstance(self.raw, list):
            raise self._expected("a list")
        return [Value(v, child_path(self.path, i), self.source) for i, v in enumerate(self.raw)]

    def string(self) -> str | None:
        if self.raw is None or isinstance(self.raw, str):
            return self.raw
        raise self._expected("a string")

    def text(self) -> str | None:
        """A string, or a number rendered as one (YAML turns ``80`` and ``0.5`` into numbers)."""
        if isinstance(self.raw, bool):
            raise self._expected("a string")
        if isinstance(self.raw, int | float):
            return str(self.raw)
        return self.string()

    def boolean(self) -> bool | None:
        if self.raw is None or isinstance(self.raw, bool):
            return self.raw
        if isinstance(self.raw, str) and self.raw.lower() in ("true", "false"):
            return self.raw.lower() == "true"
        raise self._expected("a boolean")

    def integer(self) -> int | None:
        if self.raw is None:
            return None
        if isinstance(self.raw, int) and not isinstance(self.raw, bool):
            return self.raw
        if isinstance(self.raw, float) and self.raw.is_integer():
            return int(self.raw)
        if isinstance(self.raw, str) and re.fullmatch(r"-?\d{1,19}", self.raw.strip()):
            return int(self.raw)
        raise self._expected("an integer")

    def strings(self) -> tuple[str, ...]:
        """A list of strings (numbers are accepted and rendered)."""
        return tuple(v.text() or "" for v in self.entries())


_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[kMGTPE]|m|u|n)?")
_BINARY = {"ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4, "pi": 1024**5, "ei": 1024**6}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15, "e": 10**18}


def parse_quantity(v: Value) -> float | None:
    """A Kubernetes resource quantity (``512Mi``, ``1.5G``, ``500m``, ``129e6``) as a number.

    Raises:
        UntrustedDataError: not a quantity.
    """
    if v.raw is None:
        return None
    if isinstance(v.raw, int | float) and not isinstance(v.raw, bool):
        number = float(v.raw)
    else:
        text = (v.string() or "").strip()
        m = _QUANTITY.fullmatch(text)
        if m is None:
            raise v.error(f"not a Kubernetes quantity: {text!r}")
        number = float(m.group(1))
        suffix = m.group(2) or ""
        if suffix[:1] in ("e", "E"):
            number *= 10.0 ** int(suffix[1:])
        elif suffix.lower() in _BINARY:
            number *= _BINARY[suffix.lower()]
        elif suffix == "m":
            number /= 1000
        elif suffix == "u":
            number /= 1_000_000
        elif suffix == "n":
            number /= 1_000_000_000
        elif suffix:
            number *= _DECIMAL[suffix.lower()]
    if not math.isfinite(number):
        raise v.error("quantity out of range")
    return number


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_byte_size(v: Value) -> int | None:
    """A docker/compose byte size (``512m``, ``1gb``, ``2g``, plain bytes) in bytes.

    Raises:
        UntrustedDataError: not a byte size.
    """
    if v.raw is None:
        return None
    if isinstance(v.raw, int) and not isinstance(v.raw, bool):
        return v.raw
    text = (v.text() or "").strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", text)
    if m is None:
        raise v.error(f"not a byte size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_cpu(v: Value) -> float | None:
    """A CPU count given as a number or a string (``0.5``, ``"1.5"``)."""
    if v.raw is None:
        return None
    if isinstance(v.raw, int | float) and not isinstance(v.raw, bool):
        return float(v.raw)
    text = (v.text() or "").strip()
    try:
        number = float(text)
    except ValueError:
        raise v.error(f"not a CPU count: {text!r}") from None
    if not math.isfinite(number):
        raise v.error("CPU count out of range")
    return number
