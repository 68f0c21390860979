"""Semantic Versioning 2.0.0 precedence (npm, crates.io, Hex, Pub, OSV ``SEMVER`` ranges).

Rules, from https://semver.org/spec/v2.0.0.html:

* Grammar (§2, §9, §10): ``MAJOR.MINOR.PATCH`` of non-negative integers without leading
  zeroes, then optionally ``-`` and a pre-release of dot-separated identifiers from
  ``[0-9A-Za-z-]`` (non-empty; numeric ones without leading zeroes), then optionally ``+``
  and build metadata of dot-separated non-empty identifiers from ``[0-9A-Za-z-]``.
* Precedence (§11): major, minor, patch compare numerically; a version with a pre-release
  sorts *before* the same version without one; pre-releases compare identifier by
  identifier: numeric ones numerically, alphanumeric ones in ASCII order, numeric below
  alphanumeric, and a shorter list that is a prefix of a longer one sorts first. So
  ``1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta < 1.0.0-beta.2 <
  1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0``.
* Build metadata is ignored (§10): ``1.0.0+a`` and ``1.0.0+b`` have the same key.
  Numbers have arbitrary precision.

The default, strict mode accepts exactly the SemVer 2.0.0 grammar (what Cargo's ``semver``
crate and the OSV schema expect). ``SemverVersionScheme(tolerant=True)`` accepts exactly
what node-semver 7 (``npm``) accepts with ``{loose: true}``, and orders the same way:

* surrounding ASCII whitespace, and any run of ``v``, ``=`` and whitespace before the
  version (``v1.2.3``, ``=1.2.3``, ``= v1.2.3``; not ``V1.2.3``);
* leading zeroes in numbers (``01.2.3`` == ``1.2.3``; ``1.2.3-01`` == ``1.2.3-1``);
* a pre-release without its hyphen (``1.2.3beta.1`` == ``1.2.3-beta.1``).

Deliberate differences from node-semver: input must be ASCII (node also trims Unicode
spaces), and numbers keep arbitrary precision in both modes (node rejects major, minor or
patch above 2**53 - 1 and compares huge numeric pre-release identifiers as doubles).
Input longer than 256 characters is rejected, as node-semver does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, TypeAlias

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "SemverKey", "SemverVersionScheme", "precedence_key"]

#: Longer version strings are rejected before any parsing (node-semver's limit too).
MAX_VERSION_LENGTH: Final = 256

#: One pre-release identifier: ``(0, n, "")`` for numeric, ``(1, 0, s)`` for alphanumeric.
_IdentifierKey: TypeAlias = tuple[int, int, str]
#: ``(major, minor, patch, 0, identifiers)`` for a pre-release, ``(…, 1, ())`` for a release.
SemverKey: TypeAlias = tuple[int, int, int, int, tuple[_IdentifierKey, ...]]

_NUMERIC: Final = re.compile(r"[0-9]+")
_IDENTIFIER: Final = re.compile(r"[0-9A-Za-z-]+")

# node-semver 7 `re[t.LOOSE]`, with `\d` spelled `[0-9]` and `\s` restricted to ASCII.
_NUM_LOOSE: Final = r"[0-9]+"
_NON_NUMERIC: Final = r"[0-9]*[a-zA-Z-][a-zA-Z0-9-]*"
_PRE_ID_LOOSE: Final = rf"(?:{_NON_NUMERIC}|{_NUM_LOOSE})"
_BUILD_ID: Final = r"[a-zA-Z0-9-]+"
_LOOSE: Final = re.compile(
    rf"[v=\s]*({_NUM_LOOSE})\.({_NUM_LOOSE})\.({_NUM_LOOSE})"
    rf"(?:-?({_PRE_ID_LOOSE}(?:\.{_PRE_ID_LOOSE})*))?"
    rf"(?:\+({_BUILD_ID}(?:\.{_BUILD_ID})*))?",
    re.ASCII,
)
_ASCII_SPACE: Final = " \t\n\r\f\v"


def precedence_key(major: int, minor: int, patch: int, prerelease: Sequence[str]) -> SemverKey:
    """The SemVer §11 precedence key of already-validated components.

    ``prerelease`` holds the dot-separated identifiers (empty for a release); an identifier
    made only of ASCII digits is numeric.
    """
    if not prerelease:
        return (major, minor, patch, 1, ())
    ids = tuple(
        (0, int(ident), "") if _NUMERIC.fullmatch(ident) else (1, 0, ident) for ident in prerelease
    )
    return (major, minor, patch, 0, ids)


def _invalid(version: str, why: str) -> InvalidVersionError:
    return InvalidVersionError(f"invalid SemVer version {version[:64]!r}: {why}")


def _check_length(version: str) -> None:
    if len(version) > MAX_VERSION_LENGTH:
        raise _invalid(version, f"longer than {MAX_VERSION_LENGTH} characters")
    if not version.isascii():
        raise _invalid(version, "not ASCII")


def _number(version: str, text: str) -> int:
    if not _NUMERIC.fullmatch(text):
        raise _invalid(version, f"{text!r} is not a number")
    if len(text) > 1 and text[0] == "0":
        raise _invalid(version, f"{text!r} has a leading zero")
    return int(text)


def _parse_strict(version: str) -> SemverKey:
    rest, plus, build = version.partition("+")
    if plus and not all(_IDENTIFIER.fullmatch(ident) for ident in build.split(".")):
        raise _invalid(version, "bad build metadata")
    core, dash, pre = rest.partition("-")
    parts = core.split(".")
    if len(parts) != 3:
        raise _invalid(version, "expected MAJOR.MINOR.PATCH")
    major, minor, patch = (_number(version, part) for part in parts)
    identifiers = pre.split(".") if dash else []
    for ident in identifiers:
        if not _IDENTIFIER.fullmatch(ident):
            raise _invalid(version, f"bad pre-release identifier {ident[:64]!r}")
        if len(ident) > 1 and ident[0] == "0" and _NUMERIC.fullmatch(ident):
            raise _invalid(version, f"numeric identifier {ident!r} has a leading zero")
    return precedence_key(major, minor, patch, identifiers)


def _parse_loose(version: str) -> SemverKey:
    match = _LOOSE.fullmatch(version.strip(_ASCII_SPACE))
    if match is None:
        raise _invalid(version, "not a node-semver loose version")
    major, minor, patch, pre, _build = match.groups()
    identifiers = pre.split(".") if pre else []
    return precedence_key(int(major), int(minor), int(patch), identifiers)


class SemverVersionScheme(VersionScheme):
    """SemVer 2.0.0 precedence; ``tolerant=True`` also accepts node-semver's loose forms."""

    name = "semver"

    def __init__(self, *, tolerant: bool = False) -> None:
        self.tolerant = tolerant

    def key(self, version: str) -> SemverKey:
        """The precedence key of ``version``.

        Raises:
            InvalidVersionError: ``version`` breaks the grammar of the selected mode, is not
                ASCII, or is longer than :data:`MAX_VERSION_LENGTH`.
        """
        _check_length(version)
        return _parse_loose(version) if self.tolerant else _parse_strict(version)

    def __repr__(self) -> str:
        return f"SemverVersionScheme(tolerant={self.tolerant})"
