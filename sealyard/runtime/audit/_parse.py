"""Bounded parsing of untrusted JSON and YAML configuration files.

* The input is capped in bytes before it is parsed, must be UTF-8 (a UTF-8 byte order
  mark is accepted) and may not contain NUL bytes.
* YAML is parsed with the safe loader only (no Python tags). Aliases are legitimate (compose
  files use anchors and ``<<`` merge keys), but their *expanded* size is computed on the
  node graph before anything is constructed, so a "billion laughs" document is rejected in
  linear time; cyclic aliases are rejected too.
* JSON rejects ``NaN``/``Infinity`` and nesting deeper than the limit.
* Every YAML document comes with a map from document path (``spec.containers[0].image``)
  to its 1-based line, so findings can point at lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sealyard.errors import SizeLimitError, UntrustedDataError

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - libyaml is optional
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = ["ParseLimits", "ParsedDocument", "child_path", "decode", "parse_json", "parse_yaml"]


@dataclass(frozen=True)
class ParseLimits:
    """Security limits for configuration files.

    Attributes:
        max_bytes: largest file accepted (8 MiB holds ``kubectl get all -A -o yaml`` of
            a sizeable cluster).
        max_nodes: most values a document may hold *after* alias expansion.
        max_depth: deepest nesting accepted.
    """

    max_bytes: int = 8 * 1024 * 1024
    max_nodes: int = 1_000_000
    max_depth: int = 100


DEFAULT_LIMITS = ParseLimits()


@dataclass(frozen=True)
class ParsedDocument:
    """One JSON value or YAML document, its index in the file and its line map."""

    value: Any
    index: int
    lines: Mapping[str, int]


def child_path(parent: str, key: object) -> str:
    """``parent.key`` or ``parent[index]`` (the path syntax of findings)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def decode(data: bytes, source: str, limits: ParseLimits = DEFAULT_LIMITS) -> str:
    """``data`` as text.

    Raises:
        SizeLimitError: larger than ``limits.max_bytes``.
        UntrustedDataError: not UTF-8, or binary.
    """
    if len(data) > limits.max_bytes:
        raise SizeLimitError(
            f"{source}: {len(data)} bytes is larger than the limit of {limits.max_bytes} bytes"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UntrustedDataError(f"{source}: UTF-16 is not supported; save the file as UTF-8")
    if b"\x00" in data:
        raise UntrustedDataError(f"{source}: binary data (NUL bytes), not a configuration file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedDataError(
            f"{source}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_depth(value: Any, source: str, limits: ParseLimits) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if depth > limits.max_depth:
            raise UntrustedDataError(f"{source}: nested deeper than {limits.max_depth} levels")
        if seen > limits.max_nodes:
            raise SizeLimitError(f"{source}: more than {limits.max_nodes} values")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_json(text: str, source: str, limits: ParseLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value in ``text``.

    Raises:
        UntrustedDataError: not JSON, ``NaN``, too deep, too many values.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise UntrustedDataError(f"{source}: nested too deeply to be a configuration") from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers with too many digits
        raise UntrustedDataError(f"{source}: not valid JSON: {exc}") from None
    _check_depth(value, source, limits)
    return value


class _Loader(_BaseLoader):
    """The safe loader; documents are composed and measured before they are built."""


def _expanded_size(
    node: yaml.Node, source: str, limits: ParseLimits, memo: dict[int, int], active: set[int]
) -> int:
    """Values in ``node`` once every alias is expanded (memoised per node, so linear)."""
    key = id(node)
    cached = memo.get(key)
    if cached is not None:
        return cached
    if key in active:
        raise UntrustedDataError(f"{source}: line {node.start_mark.line + 1}: recursive alias")
    if len(active) >= limits.max_depth:
        raise UntrustedDataError(f"{source}: nested deeper than {limits.max_depth} levels")
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, source, limits, memo, active)
            if total > limits.max_nodes:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, source, limits, memo, active)
            total += _expanded_size(v, source, limits, memo, active)
            if total > limits.max_nodes:
                break
    active.discard(key)
    if total > limits.max_nodes:
        raise SizeLimitError(
            f"{source}: more than {limits.max_nodes} values once aliases are expanded "
            "(an alias bomb?)"
        )
    memo[key] = total
    return total


def _line_map(node: yaml.Node) -> dict[str, int]:
    """Document path → line of every value in the (already size-checked) node tree."""
    lines: dict[str, int] = {"": node.start_mark.line + 1}
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.SequenceNode):
            for i, child in enumerate(current.value):
                p = child_path(path, i)
                lines.setdefault(p, child.start_mark.line + 1)
                stack.append((child, p))
        elif isinstance(current, yaml.MappingNode):
            for k, v in current.value:
                if not isinstance(k, yaml.ScalarNode):
                    continue
                p = child_path(path, k.value)
                lines.setdefault(p, k.start_mark.line + 1)
                stack.append((v, p))
    return lines


def parse_yaml(
    text: str, source: str, limits: ParseLimits = DEFAULT_LIMITS
) -> Iterator[ParsedDocument]:
    """Every non-empty document in ``text``, with its line map.

    Raises:
        UntrustedDataError: not YAML, unsafe tags, recursive aliases, too deep.
        SizeLimitError: too many values once aliases are expanded.
    """
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            _expanded_size(node, source, limits, {}, set())
            value = loader.construct_document(node)
            if value is not None:
                yield ParsedDocument(value, index, _line_map(node))
            index += 1
    except RecursionError:
        raise UntrustedDataError(f"{source}: nested too deeply to be a configuration") from None
    except yaml.MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
        raise UntrustedDataError(f"{source}: not valid YAML: {where}{exc.problem}") from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise UntrustedDataError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
