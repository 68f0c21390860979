"""RPM package versions (EVRs), ordered exactly as rpm 4.18 orders them.

Authority: rpm's ``rpmvercmp`` (``rpmio/rpmvercmp.c``) for each component and
``rpmverParse``/``rpmverCmp`` (``rpmio/rpmver.c``) for the ``[epoch:]version[-release]``
string, which is what rpm's Lua ``rpm.vercmp`` runs (the reference the tests compare with).

Splitting an EVR (``parseEVR``):

* If the string starts with a (possibly empty) run of ASCII digits followed by ``:``, that
  run is the epoch (empty means 0); otherwise there is no epoch, which compares as 0, so
  ``0:1.0 == 1.0`` and ``1:1.0 > 2.0``.
* The release is everything after the *last* ``-``; without a ``-`` there is no release.

Comparison: epochs numerically, then versions with ``rpmvercmp``, then releases with
``rpmvercmp``, a missing release sorting before any present one (``1.0 < 1.0-0``; rpm's
dependency matching instead lets a missing release match any, which is a range rule, not
an order).
``rpmvercmp`` reads a string as a list of tokens: maximal runs of ASCII digits, maximal
runs of ASCII letters, and the single characters ``~`` and ``^``; every other character
only separates tokens (so ``1.0a == 1.0.a == 1_0_a``). Tokens compare pairwise, and the
first difference decides, with this order:

    ``~``  <  end of string  <  ``^``  <  letters (ASCII order)  <  digits (numerically)

So ``~`` marks a pre-release (``1.0~rc1 < 1.0``), ``^`` a post-release snapshot that still
sorts before the next version (``1.0 < 1.0^git1 < 1.0.1``), a numeric segment beats an
alphabetic one (``1.0.1 > 1.0.a``), and leading zeros do not count (``1.01 == 1.1``).

rpm compares any non-empty string. Here the empty string, an empty version component
(``1:``, ``-1``, ``1:-1``: rpmbuild never produces them), NUL characters and strings
longer than :data:`MAX_VERSION_LENGTH` raise :class:`InvalidVersionError`.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "RpmKey", "RpmVersionScheme", "parse_evr", "vercmp_key"]

#: Longer version strings are rejected before any parsing.
MAX_VERSION_LENGTH: Final = 256

#: One ``rpmvercmp`` token: ``(rank,)`` for ``~``, end and ``^``; ``(rank, text)`` for
#: letters; ``(rank, value)`` for digits.
RpmToken: TypeAlias = tuple[int] | tuple[int, str] | tuple[int, int]
#: ``(epoch, version tokens, release tokens)``; the release is ``()`` when absent.
RpmKey: TypeAlias = tuple[int, tuple[RpmToken, ...], tuple[RpmToken, ...]]

_TILDE: Final[RpmToken] = (0,)
_END: Final[RpmToken] = (1,)
_CARET: Final[RpmToken] = (2,)
_ALPHA: Final = 3
_DIGIT: Final = 4

_EPOCH: Final = re.compile(r"([0-9]*):", re.ASCII)
# Separators are everything but ASCII letters and digits, `~` and `^`.
_TOKEN: Final = re.compile(r"([0-9]+)|([A-Za-z]+)|(~)|(\^)", re.ASCII)


def vercmp_key(text: str) -> tuple[RpmToken, ...]:
    """The ``rpmvercmp`` key of one component (version or release), ending with ``end``."""
    tokens: list[RpmToken] = []
    for match in _TOKEN.finditer(text):
        digits, letters, tilde, _caret = match.groups()
        if digits is not None:
            tokens.append((_DIGIT, int(digits)))
        elif letters is not None:
            tokens.append((_ALPHA, letters))
        else:
            tokens.append(_TILDE if tilde else _CARET)
    tokens.append(_END)
    return tuple(tokens)


def _invalid(version: str, why: str) -> InvalidVersionError:
    return InvalidVersionError(f"invalid rpm version {version[:64]!r}: {why}")


def parse_evr(version: str) -> tuple[int, str, str | None]:
    """Split an EVR into ``(epoch, version, release)`` as rpm's ``parseEVR`` does.

    The epoch is 0 when absent; the release is ``None`` when absent.

    Raises:
        InvalidVersionError: the string is empty, has an empty version component, contains
            NUL, or is longer than :data:`MAX_VERSION_LENGTH`.
    """
    if len(version) > MAX_VERSION_LENGTH:
        raise _invalid(version, f"longer than {MAX_VERSION_LENGTH} characters")
    if "\0" in version:
        raise _invalid(version, "contains NUL")
    epoch, rest = 0, version
    match = _EPOCH.match(version)
    if match is not None:
        epoch, rest = int(match.group(1) or "0"), version[match.end() :]
    head, hyphen, release = rest.rpartition("-")
    if not hyphen:
        head = rest
    if not head:
        raise _invalid(version, "empty version")
    return epoch, head, release if hyphen else None


class RpmVersionScheme(VersionScheme):
    """RPM EVRs (Red Hat, Fedora, SUSE, Alma, Rocky, Mariner…), as rpm 4.18 orders them."""

    name = "rpm"

    def key(self, version: str) -> RpmKey:
        """The ordering key of ``version``: ``(epoch, version tokens, release tokens)``.

        Raises:
            InvalidVersionError: see :func:`parse_evr`.
        """
        epoch, ver, release = parse_evr(version)
        return epoch, vercmp_key(ver), () if release is None else vercmp_key(release)

    def __repr__(self) -> str:
        return "RpmVersionScheme()"
