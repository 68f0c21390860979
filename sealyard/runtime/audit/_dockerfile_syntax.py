"""A Dockerfile parser: directives, line continuations, heredocs, JSON form, stages.

Follows the Dockerfile reference (BuildKit frontend):

* parser directives (``# syntax=``, ``# escape=``, ``# check=``) are read only at the very
  top, before any comment, blank line or instruction; ``escape`` may be ``\\`` or a
  backtick;
* a line ending in the escape character (trailing blanks allowed) continues on the next
  line; comment lines and blank lines inside a continuation are dropped;
* ``RUN``, ``COPY`` and ``ADD`` may carry heredocs (``<<EOF``, ``<<-EOF`` strips leading
  tabs, ``<<"EOF"`` is not expanded); their bodies are the lines up to the delimiter;
* arguments in JSON array form (exec form) are decoded; anything else is shell form;
* ``FROM`` starts a stage; only ``ARG`` may precede the first ``FROM``.

Variable expansion (:func:`expand`) covers ``$VAR``, ``${VAR}``, ``${VAR:-x}``, ``${VAR-x}``,
``${VAR:+x}`` and ``${VAR+x}``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from sealyard.errors import UntrustedDataError

__all__ = [
    "Dockerfile",
    "Heredoc",
    "Instruction",
    "Stage",
    "expand",
    "parse_dockerfile",
    "split_assignments",
]

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_KNOWN_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC = re.compile(r"^<<(-?)([\"']?)([A-Za-z0-9_./-]+)\2")
_HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")


@dataclass(frozen=True)
class Heredoc:
    """A heredoc: its delimiter, its body, and whether the body is expanded."""

    name: str
    content: str
    expand: bool
    strip_tabs: bool


@dataclass(frozen=True)
class Instruction:
    """One instruction.

    Attributes:
        keyword: upper-case instruction name.
        flags: ``--name=value`` options before the arguments (``--platform=…``).
        args: the arguments as written (continuations joined), without the flags.
        json_args: the arguments when given in JSON array (exec) form.
        heredocs: heredoc bodies, in order.
        line: 1-based line the instruction starts on.
        stage: index of the stage it belongs to (``-1`` before the first ``FROM``).
    """

    keyword: str
    flags: tuple[str, ...]
    args: str
    json_args: tuple[str, ...] | None
    heredocs: tuple[Heredoc, ...]
    line: int
    stage: int

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (``""`` for a bare ``--name``), or ``None``."""
        for f in self.flags:
            key, sep, value = f[2:].partition("=")
            if key == name:
                return value if sep else ""
        return None


@dataclass(frozen=True)
class Stage:
    """A build stage: its index, its ``AS`` name, its base image text and instructions."""

    index: int
    name: str
    base: str
    line: int
    platform: str | None
    instructions: tuple[Instruction, ...]

    @property
    def label(self) -> str:
        return f"stage {self.index} ({self.name})" if self.name else f"stage {self.index}"


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile."""

    directives: Mapping[str, str]
    escape: str
    global_args: tuple[Instruction, ...]
    stages: tuple[Stage, ...]

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return self.global_args + tuple(i for s in self.stages for i in s.instructions)

    def stage_named(self, name: str) -> Stage | None:
        lowered = name.lower()
        return next((s for s in self.stages if s.name and s.name.lower() == lowered), None)


def _directives(lines: list[str], source: str) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = _DIRECTIVE.match(line)
        if m is None or m.group(1).lower() not in _KNOWN_DIRECTIVES:
            return found, i
        key = m.group(1).lower()
        if key in found:
            raise UntrustedDataError(f"{source}: line {i + 1}: the {key} directive is repeated")
        found[key] = m.group(2)
    return found, len(lines)


def _continues(line: str, escape: str) -> bool:
    return line.rstrip(" \t").endswith(escape)


def _strip_continuation(line: str) -> str:
    return line.rstrip(" \t")[:-1]


def _split_flags(rest: str) -> tuple[tuple[str, ...], str]:
    flags: list[str] = []
    text = rest.lstrip()
    while text.startswith("--"):
        m = re.match(r"--\S+", text)
        if m is None:  # pragma: no cover - "--" always matches
            break
        flags.append(m.group(0))
        text = text[m.end() :].lstrip()
    return tuple(flags), text


def _json_args(args: str) -> tuple[str, ...] | None:
    text = args.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse_dockerfile(text: str, source: str) -> Dockerfile:
    """Parse ``text``.

    Raises:
        UntrustedDataError: an invalid directive, an unterminated heredoc, an instruction
            before the first ``FROM`` other than ``ARG``, or no ``FROM`` at all.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    directives, i = _directives(lines, source)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise UntrustedDataError(f"{source}: invalid escape directive {escape!r} (use \\ or `)")
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    current: list[Instruction] = []
    head: tuple[int, str, str, int, str | None] | None = None
    while i < len(lines):
        start = i
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while _continues(parts[-1], escape) and i < len(lines):
            parts[-1] = _strip_continuation(parts[-1])
            nxt = lines[i]
            i += 1
            if nxt.lstrip().startswith("#") or not nxt.strip():
                parts.append(escape)  # keep the continuation going
                continue
            parts.append(nxt)
        if _continues(parts[-1], escape):
            parts[-1] = _strip_continuation(parts[-1])
        logical = "".join(p for p in parts if p != escape)
        keyword, _, rest = logical.strip().partition(" ")
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            rest = f"{more} {rest}"
        keyword = keyword.upper()
        if not re.fullmatch(r"[A-Z]+", keyword):
            raise UntrustedDataError(f"{source}: line {start + 1}: not an instruction: {keyword!r}")
        flags, args = _split_flags(rest)
        heredocs: list[Heredoc] = []
        if keyword in _HEREDOC_INSTRUCTIONS:
            for word in args.split():
                m = _HEREDOC.match(word)
                if m is None or word.startswith("<<<"):
                    continue
                strip, quote, name = m.group(1) == "-", m.group(2), m.group(3)
                body: list[str] = []
                while True:
                    if i >= len(lines):
                        raise UntrustedDataError(
                            f"{source}: line {start + 1}: heredoc {name!r} is never terminated"
                        )
                    raw = lines[i]
                    i += 1
                    candidate = raw.lstrip("\t") if strip else raw
                    if candidate == name:
                        break
                    body.append(candidate)
                heredocs.append(Heredoc(name, "\n".join(body) + "\n", not quote, strip))
        if keyword == "FROM":
            if head is not None:
                stages.append(_stage(head, current))
                current = []
            words = args.split()
            if not words:
                raise UntrustedDataError(f"{source}: line {start + 1}: FROM needs an image")
            name = ""
            if len(words) >= 3 and words[1].lower() == "as":
                name = words[2]
            platform = next(
                (f.partition("=")[2] for f in flags if f.startswith("--platform=")), None
            )
            head = (len(stages), name, words[0], start + 1, platform)
        elif head is None and keyword != "ARG":
            raise UntrustedDataError(
                f"{source}: line {start + 1}: {keyword} before the first FROM "
                "(only ARG may come first)"
            )
        stage_index = -1 if head is None else head[0]
        instruction = Instruction(
            keyword, flags, args, _json_args(args), tuple(heredocs), start + 1, stage_index
        )
        if head is None:
            global_args.append(instruction)
        else:
            current.append(instruction)
    if head is None:
        raise UntrustedDataError(f"{source}: no FROM instruction: not a Dockerfile")
    stages.append(_stage(head, current))
    return Dockerfile(directives, escape, tuple(global_args), tuple(stages))


def _stage(head: tuple[int, str, str, int, str | None], instructions: list[Instruction]) -> Stage:
    index, name, base, line, platform = head
    return Stage(index, name, base, line, platform, tuple(instructions))


_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def expand(text: str, env: Mapping[str, str]) -> tuple[str, bool]:
    """``text`` with variables from ``env`` substituted, and whether all were known."""
    complete = True

    def replace(m: re.Match[str]) -> str:
        nonlocal complete
        name = m.group("braced") or m.group("plain")
        op, word = m.group("op"), m.group("word") or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return word
            return value
        if op in (":+", "+"):
            if value is None or (op == ":+" and value == ""):
                return ""
            return word
        if value is None:
            complete = False
            return m.group(0)
        return value

    return _VARIABLE.sub(replace, text), complete


def split_assignments(args: str) -> list[tuple[str, str | None]]:
    """``ENV``/``ARG``/``LABEL`` arguments as ``(name, value)`` pairs.

    Understands ``a=b c="d e"``, the legacy ``ENV name value with spaces`` and ``ARG name``
    without a default (value ``None``).
    """
    text = args.strip()
    if not text:
        return []
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    if words and "=" not in words[0] and len(words) > 1:
        first = text.split(None, 1)
        return [(first[0], first[1].strip().strip("\"'") if len(first) > 1 else "")]
    out: list[tuple[str, str | None]] = []
    for word in words:
        name, sep, value = word.partition("=")
        out.append((name, value if sep else None))
    return out
