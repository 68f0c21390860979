"""Maven versions: a port of ``ComparableVersion`` from maven-artifact 3.9 (OSV ``Maven``).

Maven has no version grammar: every string is a version, ordered by
``org.apache.maven.artifact.versioning.ComparableVersion``
(https://maven.apache.org/pom.html#version-order-specification). This module reproduces
maven-artifact 3.9.6 and is checked against that jar (tests/vulndb/versions/test_maven.py):

* Tokenising: the lower-cased string is split on ``.`` and ``-`` and on every transition
  between digits and letters (``1.0alpha1`` -> ``1, 0, alpha, 1``). An empty token is ``0``.
  ``-`` and a digit/letter transition open a nested list (``1-1`` -> ``[1, [1]]``); since
  3.9 (MNG-7644) a letter token after ``.`` does too, so ``2.0.X`` == ``2-X`` == ``2.0.0.X``.
* Items: numbers compare numerically (any size, leading zeroes ignored). Strings are
  qualifiers in the order ``alpha`` < ``beta`` < ``milestone`` < ``rc`` = ``cr`` <
  ``snapshot`` < ``""`` = ``ga`` = ``final`` = ``release`` < ``sp``, then unknown qualifiers
  in lexical order; ``a``, ``b``, ``m`` directly followed by a digit mean ``alpha``,
  ``beta``, ``milestone``. Across kinds: number > list > string (``1.1 > 1-1 > 1-sp``).
* Trailing "null" items (``0``, the release qualifier, an empty list) are trimmed from each
  list, also before a nested list (``1.0-SNAPSHOT`` -> ``[1, [snapshot]]``); a missing item
  compares as null (``1 == 1.0 == 1.0.0 == 1-0``, ``1-alpha < 1``, ``1-sp > 1``); a list
  against null compares its items in turn (MNG-6964).

Hence ``1-alpha < 1-beta < 1-milestone < 1-rc == 1-cr < 1-SNAPSHOT < 1 == 1-ga < 1-sp <
1-abc < 1-1 < 1.0.1``, ``1.0-RC1 == 1.0-cr1``, ``1.0-sp < 1.0.1``. Also as in 3.9.6,
``1.0.final-redhat`` (== ``1-redhat``) sorts after ``1.0-sp1-redhat``: the MNG-7714 change
merged for Maven 4 is not in it.

Maven's order is not transitive on some contrived inputs: ``1.0.alpha.1 < 1 < 1-1 <
1.0.alpha.1``, because a null atom (the ``0``) can stand in the middle of a list and a
number beats a list. The key reproduces Maven pairwise, so every comparison agrees with
Maven, and sorting is consistent on every set of versions free of such cycles.

Sealyard's limits, where Maven accepts anything: input must be 1 to 256 printable,
non-space ASCII characters (Maven lower-cases and classifies digits with Java's Unicode
rules; refusing non-ASCII keeps the port exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "MavenKey", "MavenVersionScheme"]

MAX_VERSION_LENGTH: Final = 256

_QUALIFIERS: Final = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE: Final = _QUALIFIERS.index("")
_UNKNOWN: Final = len(_QUALIFIERS)
_ALIASES: Final = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT: Final = {"a": "alpha", "b": "beta", "m": "milestone"}

# Atoms compare as tuples: strings ``(_STRING, qualifier index, text)`` sort below numbers
# ``(_NUMBER, value, "")``; lists sit between the two and are handled in ``_compare``.
_STRING: Final = 0
_NUMBER: Final = 2
_Atom: TypeAlias = tuple[int, int, str]
_ZERO: Final[_Atom] = (_NUMBER, 0, "")


def _number(digits: str) -> _Atom:
    return (_NUMBER, int(digits), "")


def _string(text: str, followed_by_digit: bool) -> _Atom:
    if followed_by_digit and len(text) == 1:
        text = _SHORT.get(text, text)
    text = _ALIASES.get(text, text)
    index = _QUALIFIERS.index(text) if text in _QUALIFIERS else _UNKNOWN
    return (_STRING, index, text)


def _atom_vs_null(atom: _Atom) -> int:
    """Maven's ``item.compareTo(null)`` for a number or a string."""
    kind, value, _ = atom
    if kind == _NUMBER:
        return 1 if value else 0
    return (value > _RELEASE) - (value < _RELEASE)


@dataclass(frozen=True, slots=True, eq=False)
class _Level:
    """One normalised Maven ``ListItem``: its atoms, then at most one nested list.

    Maven only ever appends a nested list as the last item and moves into it, so every list
    is atoms followed by an optional sub-list.
    """

    atoms: tuple[_Atom, ...]
    sub: _Level | None
    #: Maven's ``compareTo(null)`` of this list: its first item that is not null decides.
    vs_null: int


def _vs_null(atoms: tuple[_Atom, ...], sub: _Level | None) -> int:
    """``compareTo(null)`` of these items: the first one that is not null decides."""
    for atom in atoms:
        sign = _atom_vs_null(atom)
        if sign:
            return sign
    return sub.vs_null if sub is not None else 0


def _compare(a: _Level, b: _Level) -> int:
    """``ListItem.compareTo``: -1, 0 or 1, iteratively along the chain of nested lists."""
    while True:
        na, nb = len(a.atoms), len(b.atoms)
        for x, y in zip(a.atoms, b.atoms, strict=False):
            if x != y:
                return -1 if x < y else 1
        if na > nb:
            if b.sub is None:
                return _vs_null(a.atoms[nb:], a.sub)
            return 1 if a.atoms[nb][0] == _NUMBER else -1  # number > list > string
        if nb > na:
            if a.sub is None:
                return -_vs_null(b.atoms[na:], b.sub)
            return -1 if b.atoms[na][0] == _NUMBER else 1
        if a.sub is None or b.sub is None:
            if a.sub is not None:
                return a.sub.vs_null
            return -b.sub.vs_null if b.sub is not None else 0
        a, b = a.sub, b.sub


class MavenKey:
    """A parsed Maven version, ordered exactly as ``ComparableVersion.compareTo``.

    Equal keys are the versions Maven calls equal; they hash alike.
    """

    __slots__ = ("_flat", "_level", "canonical")

    def __init__(self, level: _Level) -> None:
        self._level = level
        flat: list[tuple[_Atom, ...]] = []
        current: _Level | None = level
        while current is not None:
            flat.append(current.atoms)
            current = current.sub
        # Normalised lists are equal exactly when Maven compares them equal, and a chain is
        # determined by the atoms of its levels: flat, so hashing never recurses.
        self._flat = tuple(flat)
        #: ``ComparableVersion.getCanonical()``: ``1.0-RC1`` -> ``1-rc-1``.
        self.canonical = _canonical(level)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return self._flat == other._flat

    def __hash__(self) -> int:
        return hash(self._flat)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return _compare(self._level, other._level) < 0

    def __le__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return _compare(self._level, other._level) <= 0

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return _compare(self._level, other._level) > 0

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, MavenKey):
            return NotImplemented
        return _compare(self._level, other._level) >= 0

    def __repr__(self) -> str:
        return f"MavenKey({self.canonical!r})"


def _canonical(level: _Level) -> str:
    """``ListItem.toString``: items joined by ``.``, a nested list preceded by ``-``."""
    levels: list[_Level] = []
    current: _Level | None = level
    while current is not None:
        levels.append(current)
        current = current.sub
    inner = ""
    for lvl in reversed(levels):
        out = ""
        for kind, value, text in lvl.atoms:
            if out:
                out += "."
            out += text if kind == _STRING else str(value)
        if lvl.sub is not None:
            out += ("-" if out else "") + inner
        inner = out
    return inner


def _parse(version: str) -> _Level:
    """``ComparableVersion.parseVersion`` followed by ``ListItem.normalize``.

    ``chain[k]`` holds the atoms of the k-th list; every list but the last ends with the
    next one, which is where Maven appends it.
    """
    text = version.lower()
    chain: list[list[_Atom]] = [[]]

    def item(digits: bool, token: str) -> _Atom:
        return _number(token) if digits else _string(token, followed_by_digit=False)

    digits = False
    start = 0
    for i, c in enumerate(text):
        if c in ".-":
            chain[-1].append(_ZERO if i == start else item(digits, text[start:i]))
            start = i + 1
            if c == "-":
                chain.append([])
        elif "0" <= c <= "9":
            if not digits and i > start:
                if chain[-1]:  # 1.0.0.X1 < 1.0.0-X2: treat .X as -X (MNG-7644)
                    chain.append([])
                chain[-1].append(_string(text[start:i], followed_by_digit=True))
                start = i
                chain.append([])
            digits = True
        else:
            if digits and i > start:
                chain[-1].append(_number(text[start:i]))
                start = i
                chain.append([])
            digits = False
    if len(text) > start:
        if not digits and chain[-1]:  # treat .X as -X (MNG-7644)
            chain.append([])
        chain[-1].append(item(digits, text[start:]))

    # ListItem.normalize(), innermost list first as Maven pops its stack: trailing null
    # atoms go (a non-empty sub-list is skipped over), and an empty sub-list is dropped.
    level: _Level | None = None
    for atoms in reversed(chain):
        while atoms and _atom_vs_null(atoms[-1]) == 0:
            atoms.pop()
        if atoms or level is not None:
            level = _Level(tuple(atoms), level, _vs_null(tuple(atoms), level))
    return level if level is not None else _Level((), None, 0)


class MavenVersionScheme(VersionScheme):
    """Maven's ``ComparableVersion`` order (maven-artifact 3.9)."""

    name = "maven"

    def key(self, version: str) -> MavenKey:
        """The Maven order key of ``version``.

        Raises:
            InvalidVersionError: ``version`` is empty, longer than 256 characters, or holds
                a character outside printable non-space ASCII.
        """
        if not 0 < len(version) <= MAX_VERSION_LENGTH:
            raise InvalidVersionError(
                f"invalid Maven version {version[:64]!r}: must be 1 to "
                f"{MAX_VERSION_LENGTH} characters"
            )
        if not all("!" <= c <= "~" for c in version):
            raise InvalidVersionError(
                f"invalid Maven version {version[:64]!r}: only printable non-space ASCII"
            )
        return MavenKey(_parse(version))
