"""Debian package versions, ordered exactly as ``dpkg --compare-versions`` orders them.

Authority: Debian Policy §5.6.12 "Version", and dpkg's own implementation (``parseversion``
in ``lib/dpkg/parsehelp.c``, ``verrevcmp`` in ``lib/dpkg/version.c``; checked against
dpkg 1.21). Where Policy and dpkg differ, dpkg wins: it is what decides upgrades.

Grammar, ``[epoch:]upstream_version[-debian_revision]``:

* Surrounding spaces and tabs are ignored; a space or tab inside is an error.
* The epoch is everything before the *first* colon: an unsigned decimal number up to
  2**31 - 1 (C ``strtol`` syntax, so ``+1:`` and ``-0:`` pass; default 0). Something must
  follow the colon. Without an epoch there is no colon in the string at all.
* The revision is everything after the *last* hyphen and must not be empty; without a
  hyphen the revision is empty, which compares equal to ``0`` (so ``1.0 == 1.0-0``).
* The upstream version must not be empty. Policy wants it to start with a digit and to use
  only ``[A-Za-z0-9.+~-]`` (``:`` too when there is an epoch), and the revision only
  ``[A-Za-z0-9.+~]``; dpkg merely *warns* about other characters and still compares, so
  they are accepted here too.

Order: epochs numerically, then upstream versions, then revisions, each with dpkg's
``verrevcmp``: the string is read as alternating non-digit and digit runs. Non-digit runs
compare character by character with the weights ``~`` < end of run < letters (ASCII) <
every other character (ASCII + 256); digit runs compare numerically (leading zeros do not
count, an absent run is 0). Hence ``1.0~rc1 < 1.0 < 1.0+b1``, ``1.0~~ < 1.0~``, ``1.01 ==
1.1`` and ``1:1.0 > 2.0``.

Deliberate differences from ``dpkg --compare-versions``:

* The empty string raises :class:`InvalidVersionError`; dpkg's CLI treats ``""`` and
  ``<unknown>`` as "no version", which is not a version string (``<unknown>`` is read
  literally here, as ``parseversion`` reads it).
* Non-ASCII characters raise: dpkg only warns about them, and then orders their bytes
  through a C ``char``, signed on amd64 and unsigned on arm64, so no single order is right.
* NUL characters and strings longer than :data:`MAX_VERSION_LENGTH` raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeAlias

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "DpkgKey", "DpkgVersionScheme", "Weights", "parse_version"]

#: Longer version strings are rejected before any parsing.
MAX_VERSION_LENGTH: Final = 256

#: dpkg keeps the epoch in a C ``int``; ``parseversion`` rejects anything larger.
_MAX_EPOCH: Final = 2**31 - 1

_BLANKS: Final = " \t"
# strtol: leading C ``isspace``, an optional sign, decimal digits.
_EPOCH: Final = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]+)", re.ASCII)
_RUNS: Final = re.compile(r"([^0-9]*)([0-9]*)", re.ASCII)


@dataclass(frozen=True)
class Weights:
    """One ``verrevcmp`` operand as a flat sequence of integer weights.

    Each non-digit run contributes one weight per character and a 0 for its end; each digit
    run contributes its value. dpkg's comparison is then the lexicographic comparison of two
    such sequences with the shorter one padded by zeros (an exhausted string reads as empty
    runs), so trailing zeros are dropped to make equal operands equal (``1a == 1a0``).
    """

    items: tuple[int, ...]

    def _padded(self, other: Weights) -> tuple[tuple[int, ...], tuple[int, ...]]:
        a, b = self.items, other.items
        return a + (0,) * (len(b) - len(a)), b + (0,) * (len(a) - len(b))

    def __lt__(self, other: Weights) -> bool:
        a, b = self._padded(other)
        return a < b

    def __le__(self, other: Weights) -> bool:
        a, b = self._padded(other)
        return a <= b

    def __gt__(self, other: Weights) -> bool:
        a, b = self._padded(other)
        return a > b

    def __ge__(self, other: Weights) -> bool:
        a, b = self._padded(other)
        return a >= b


#: ``(epoch, upstream_version, debian_revision)``.
DpkgKey: TypeAlias = tuple[int, Weights, Weights]


def _weight(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():  # ASCII only: input is checked to be ASCII
        return ord(char)
    return ord(char) + 256


def _weights(text: str) -> Weights:
    """The ``verrevcmp`` weights of an upstream version or revision (ASCII)."""
    items: list[int] = []
    for match in _RUNS.finditer(text):
        letters, digits = match.groups()
        if not letters and not digits:
            continue  # finditer's final empty match
        items.extend(_weight(char) for char in letters)
        items.append(0)
        items.append(int(digits) if digits else 0)
    while items and items[-1] == 0:
        items.pop()
    return Weights(tuple(items))


def _invalid(version: str, why: str) -> InvalidVersionError:
    return InvalidVersionError(f"invalid dpkg version {version[:64]!r}: {why}")


def parse_version(version: str) -> tuple[int, str, str]:
    """Split ``version`` into ``(epoch, upstream_version, debian_revision)`` as dpkg does.

    Raises:
        InvalidVersionError: dpkg rejects ``version``, or it is empty, not ASCII, contains
            NUL, or is longer than :data:`MAX_VERSION_LENGTH`.
    """
    if len(version) > MAX_VERSION_LENGTH:
        raise _invalid(version, f"longer than {MAX_VERSION_LENGTH} characters")
    if not version.isascii():
        raise _invalid(version, "not ASCII")
    if "\0" in version:
        raise _invalid(version, "contains NUL")
    text = version.strip(_BLANKS)
    if not text:
        raise _invalid(version, "empty")
    if " " in text or "\t" in text:
        raise _invalid(version, "embedded spaces")
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon:
        match = _EPOCH.fullmatch(head)
        if match is None:
            raise _invalid(version, "epoch is not a number")
        sign, digits = match.groups()
        epoch = int(digits)
        if sign == "-" and epoch:
            raise _invalid(version, "epoch is negative")
        if epoch > _MAX_EPOCH:
            raise _invalid(version, "epoch is too big")
        if not rest:
            raise _invalid(version, "nothing after the epoch colon")
        text = rest
    upstream, hyphen, revision = text.rpartition("-")
    if not hyphen:
        upstream, revision = text, ""
    elif not revision:
        raise _invalid(version, "empty revision")
    if not upstream:
        raise _invalid(version, "empty upstream version")
    return epoch, upstream, revision


class DpkgVersionScheme(VersionScheme):
    """Debian (and Ubuntu) package versions, as ``dpkg --compare-versions`` orders them."""

    name = "dpkg"

    def key(self, version: str) -> DpkgKey:
        """The ordering key of ``version``: ``(epoch, upstream weights, revision weights)``.

        Raises:
            InvalidVersionError: see :func:`parse_version`.
        """
        epoch, upstream, revision = parse_version(version)
        return epoch, _weights(upstream), _weights(revision)

    def __repr__(self) -> str:
        return "DpkgVersionScheme()"
