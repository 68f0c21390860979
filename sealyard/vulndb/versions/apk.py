"""Alpine package versions, ordered exactly as apk-tools orders them.

Authority: apk-tools ``src/version.c`` as of its current token model (``TOKEN_INITIAL_DIGIT``
… ``TOKEN_COMMIT_HASH``, ``TOKEN_REVISION_NO``) and its ``test/unit/version.data``; the
grammar comment there reads ``digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}``.

Grammar, token by token, each allowed only after the tokens listed (anything else is
invalid, as ``apk_version_validate`` says):

* initial number ``[0-9]+``, at the start;
* number ``.[0-9]+``, after the initial number or a number;
* letter, one of ``[a-z]``, after the initial number or a number;
* suffix ``_alpha``, ``_beta``, ``_pre``, ``_rc`` (pre-release) or ``_cvs``, ``_svn``,
  ``_git``, ``_hg``, ``_p`` (post-release), after any of the above or a suffix number;
* suffix number ``[0-9]+``, right after a suffix;
* commit hash ``~[0-9a-f]+``, after any of the above;
* revision ``-r[0-9]+``, after any of the above, and last.

So ``1.2.3a_rc1_p2~c0ffee-r4`` is valid while ``1.2.3ab``, ``1.2a.3``, ``1.2a1``,
``1.2_foo``, ``1.2-r`` and ``1.2-1`` are not.

Order (``apk_version_compare``): walk both token lists in step. While the tokens at a
position are of the same kind, their values decide: numbers numerically (as 64-bit
unsigned integers, wrapping like apk's ``apk_blob_pull_uint``) — except that two
non-initial numbers are compared as *strings* when either starts with ``0`` (so
``1.01 < 1.1`` and ``8.2.0015 < 8.2.002``); letters and commit hashes as ASCII text;
suffixes by name in the order ``alpha < beta < pre < rc < cvs < svn < git < hg < p``.
At the first position where the kinds differ (one version may have ended), a pre-release
suffix is lowest; otherwise the kind earlier in the list wins, the end of the version
being lowest of all. Hence ``1.2.3_rc1 < 1.2.3 < 1.2.3-r0 < 1.2.3_p1 < 1.2.3a < 1.2.3.1``,
``2.0_alpha < 2.0_alpha0`` (a missing suffix number is not 0) and ``1.10 > 1.9``.

The key below encodes each token as ``(rank, value…)`` with the ranks, lowest first:
pre-release suffix, end, revision, commit hash, suffix number, post-release suffix,
letter, number, initial number. Comparing two key tuples therefore reproduces apk's walk.

apk-tools 2.x (``TOKEN_DIGIT_OR_ZERO``) weighted a leading-zero number by its count of
zeros and then compared the rest numerically, so ``8.2.0015 > 8.2.002`` there; it also
read numbers into a C ``int`` and knew no commit hash. This module follows the current code.
Strings longer than :data:`MAX_VERSION_LENGTH` are rejected before parsing.
"""

from __future__ import annotations

import re
from typing import Final, TypeAlias

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "ApkKey", "ApkVersionScheme"]

#: Longer version strings are rejected before any parsing.
MAX_VERSION_LENGTH: Final = 256

#: One token: ``(rank,)``, ``(rank, int)``, ``(rank, str)`` or, for numbers,
#: ``(rank, 0, digits)`` / ``(rank, 1, value)``.
ApkToken: TypeAlias = tuple[int | str, ...]
ApkKey: TypeAlias = tuple[ApkToken, ...]

# Token kinds, in apk-tools' order (a kind may only be followed by a later one, with the
# exceptions the grammar table lists).
_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION = range(7)

# Ranks in the key, lowest first.
_R_PRE, _R_END, _R_REVISION, _R_HASH, _R_SUFFIX_NO, _R_POST, _R_LETTER, _R_DIGIT = range(8)
_R_INITIAL: Final = 8

_PRE_RELEASE: Final = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4}
_POST_RELEASE: Final = {"cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
_UINT64: Final = 2**64

_DIGITS: Final = re.compile(r"[0-9]*", re.ASCII)
_LOWER: Final = re.compile(r"[a-z]*", re.ASCII)
_HEX: Final = re.compile(r"[0-9a-f]*", re.ASCII)


def _invalid(version: str, why: str) -> InvalidVersionError:
    return InvalidVersionError(f"invalid apk version {version[:64]!r}: {why}")


def _digits(version: str, pos: int) -> tuple[str, int]:
    match = _DIGITS.match(version, pos)
    assert match is not None  # `*` always matches
    if not match.group():
        raise _invalid(version, f"expected a number at offset {pos}")
    return match.group(), match.end()


def _tokens(version: str) -> ApkKey:
    """Tokenize and validate ``version`` in one pass, as ``token_first``/``token_next``."""
    digits, pos = _digits(version, 0)
    tokens: list[ApkToken] = [(_R_INITIAL, int(digits) % _UINT64)]
    kind = _INITIAL
    end = len(version)
    while pos < end:
        char = version[pos]
        if "a" <= char <= "z":
            if kind > _DIGIT:
                raise _invalid(version, f"unexpected letter at offset {pos}")
            tokens.append((_R_LETTER, char))
            kind, pos = _LETTER, pos + 1
        elif char == "." or "0" <= char <= "9":
            if char == ".":
                if kind > _DIGIT:
                    raise _invalid(version, f"unexpected '.' at offset {pos}")
                pos += 1
            digits, pos = _digits(version, pos)
            if kind in (_INITIAL, _DIGIT):
                kind = _DIGIT
                number = (0, digits) if digits[0] == "0" else (1, int(digits) % _UINT64)
                tokens.append((_R_DIGIT, *number))
            elif kind == _SUFFIX:
                kind = _SUFFIX_NO
                tokens.append((_R_SUFFIX_NO, int(digits) % _UINT64))
            else:
                raise _invalid(version, f"unexpected number at offset {pos}")
        elif char == "_":
            if kind > _SUFFIX_NO:
                raise _invalid(version, f"unexpected suffix at offset {pos}")
            match = _LOWER.match(version, pos + 1)
            assert match is not None
            name = match.group()
            if name in _PRE_RELEASE:
                tokens.append((_R_PRE, _PRE_RELEASE[name]))
            elif name in _POST_RELEASE:
                tokens.append((_R_POST, _POST_RELEASE[name]))
            else:
                raise _invalid(version, f"unknown suffix {name!r}")
            kind, pos = _SUFFIX, match.end()
        elif char == "~":
            match = _HEX.match(version, pos + 1)
            assert match is not None
            if kind >= _HASH or not match.group():
                raise _invalid(version, f"bad commit hash at offset {pos}")
            tokens.append((_R_HASH, match.group()))
            kind, pos = _HASH, match.end()
        elif char == "-":
            if kind >= _REVISION or not version.startswith("-r", pos):
                raise _invalid(version, f"expected '-r<number>' at offset {pos}")
            digits, pos = _digits(version, pos + 2)
            tokens.append((_R_REVISION, int(digits) % _UINT64))
            kind = _REVISION
        else:
            raise _invalid(version, f"unexpected {char!r} at offset {pos}")
    tokens.append((_R_END,))
    return tuple(tokens)


class ApkVersionScheme(VersionScheme):
    """Alpine Linux (apk) package versions, as apk-tools orders them."""

    name = "apk"

    def key(self, version: str) -> ApkKey:
        """The ordering key of ``version``: one ``(rank, value…)`` tuple per token.

        Raises:
            InvalidVersionError: ``version`` breaks apk's grammar or is longer than
                :data:`MAX_VERSION_LENGTH`.
        """
        if len(version) > MAX_VERSION_LENGTH:
            raise _invalid(version, f"longer than {MAX_VERSION_LENGTH} characters")
        return _tokens(version)

    def __repr__(self) -> str:
        return "ApkVersionScheme()"
