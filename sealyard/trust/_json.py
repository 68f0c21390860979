"""Strict JSON for signed documents: what two parsers could read differently is refused.

Shared by envelopes, statements and bundles (and anything else Sealyard verifies).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from sealyard.errors import SizeLimitError, UntrustedDataError

__all__ = ["MAX_JSON_DEPTH", "parse_json_object"]

#: Deepest JSON nesting accepted in envelopes, statements and bundles.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_tree(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"nests deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, child in item.items():
                key.encode("utf-8")  # a lone surrogate escape (\ud800) raises here
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            item.encode("utf-8")


def parse_json_object(
    raw: bytes,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_JSON_DEPTH,
    error: type[UntrustedDataError] = UntrustedDataError,
) -> dict[str, Any]:
    """Parse untrusted ``raw`` bytes as one strict UTF-8 JSON object.

    Rejects what lenient parsers let through and what makes two parsers disagree: duplicate
    keys, ``NaN``/``Infinity``, other encodings than UTF-8, lone surrogates, deep nesting.

    Raises:
        SizeLimitError: ``raw`` is larger than ``max_bytes``.
        UntrustedDataError: (of class ``error``) anything else wrong.
    """
    if not isinstance(raw, bytes | bytearray):
        raise error(f"{what} must be bytes, not {type(raw).__name__}")
    if len(raw) > max_bytes:
        raise SizeLimitError(f"{what} is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = bytes(raw).decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
        _check_tree(doc, max_depth)
    except (UnicodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and huge integer literals.
        raise error(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise error(f"{what} must be a JSON object")
    return doc
