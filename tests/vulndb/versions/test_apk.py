"""apk version ordering: apk-tools' own test vectors, and a step-by-step port of its compare.

Debian 12 does not ship apk-tools, so there is no ``apk version -t`` to ask. The reference
is therefore (1) rows of apk-tools' ``test/unit/version.data`` and (2) an oracle below that
ports ``apk_version_compare`` from ``src/version.c`` statement by statement (token walk,
``token_cmp``, the tail rules), independent of the rank encoding the scheme's key uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from sealyard.vulndb.versions.apk import MAX_VERSION_LENGTH, ApkVersionScheme
from sealyard.vulndb.versions.interface import InvalidVersionError

SCHEME = ApkVersionScheme()
_SIGN = {"<": -1, "=": 0, ">": 1}

# Rows of apk-tools test/unit/version.data (a selection: every row with a suffix, letter,
# leading zero, revision or commit hash, plus plain ones).
_APK_TOOLS_ROWS = """
2.34 > 0.1.0_alpha
23_foo > 4_beta
0.1.0_alpha = 0.1.0_alpha
0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha
0.1.0_alpha < 2.2.39-r1
1.0.4-r3 < 1.0.4-r4
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.2 < 1.3_alpha
1.3_alpha < 1.3_alpha2
0.7.0 < 0.8_beta1
0.8_beta4 < 4.8-r1
3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2
0.12.3 > 0.12
0.12 < 0.13_beta1
0.13_beta5 > 0.9.12
1.2.11 < 1.2.12.1
0.2.0-r1 < 3.1_p16
3.1_p16 < 3.1_p17
3.1_p17 > 1.06-r6
1.06-r6 < 006
006 > 1.0.0
1.2.2-r1 > 1.2.2
20050718-r2 > 3.9.8-r5
3.9.8-r5 > 2.01.01_alpha10
2.01.01_alpha10 > 0.94
1.0 > 0.99.3.20040818
1.39 > 1.00_beta2
1.00_beta2 > 0.9.2
7.15.1-r1 > 1.02
1.02 < 1.03-r1
0.5.2.7 < 4.2.52_p2-r1
4.2.52_p2-r1 < 4.2.52_p4-r2
4.2.52_p4-r2 > 1.02.07
1.02.07 < 1.02.10-r1
2.18.3-r10 > 1.05-r18
1.05-r18 < 1.05-r19
2.2.5 < 2.8
2.8 < 2.20.1
2.11-r1 > 2.11
20060720 > 3.0.20060720
2.5.1-r8 < 2.5.1a-r1
1.3.5-r10 > 1.3.5-r8
20040401 > 2.0.0_rc3-r1
3.0.0-r2 < 021109-r3
021109-r3 < 20060512
0.9.16-r1 < 3.9_pre20060124
3.9_pre20060124 > 0.01
0.01 < 0.06
1.1.7 < 6b-r7
6b-r7 > 1.12-r7
0.10.0-r1 > 0.10.0
0.10.0 < 0.10.1_rc1
2.0.2 > 1.1a
1.1a < 1.3a
1.0-r1 > 0.15.1b
0.15.1b-r2 > 0.15.1b
0.0.31 < 0.0.50
2.1_pre20 < 2.1_pre26
2.10.1 > 02.08.01b
02.08.01b < 4.77
5.1 > 2.02.06
2.02.06 < 2.02.10
3.81 > 1.6d
1.6d > 1.2.07.8
1.2.07.8 < 1.2.12.04
1.2.12.04 < 1.2.12.05
1.07-r1 < 1.07.5
1.07.5 > 1.07
20061003 > 0.1_pre20060810
0.1_pre20060810 < 0.1_pre20060817
3.3.17 > 0.59s-r11
4.01 < 4.20
4.20 > 0.20070118
0.20070118 < 0.20070207_rc1
0.20070207_rc1 < 1.0
4.5_p1-r1 > 4.5_p1
4.5_p1 > 0.9.8c-r1
0.9.8c-r1 < 0.9.8d
2.2.3-r2 < 013
013 < 014-r1
0.3.1_rc8 < 22.2
5.7-r3 > 5.1_p4
1.7 < 1.7b
1.8.5 < 1.8.5_p2
1.4.9-r2 < 2.9.11_pre20051101-r2
2.9.11_pre20051101-r3 > 2.9.11_pre20051101
2.6.1.3-r1 > 2.6.1.3
1.6.8_p12-r1 > 1.6.8_p9-r2
0.9.28.1 < 087-r1
087-r1 < 103
104-r11 > 104-r9
1.23 < 1.23-r1
5.52-r1 > 1.2.5_rc2
20040406-r1 > 2.12r-r4
2.12r-r4 < 2.12r-r5
7.0.17 < 7.0.174
1.1.1-r3 > 0.3.4_pre20061029
1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
6.0_pre1 < 6.0
6.1_pre1 < 6.1
6.0_p1 > 6.0
6.1_p1 > 6.1
8.2.0 < 8.2.001
8.2.0015 < 8.2.002
1.0~1234 < 1.0~2345
1.0~1234-r1 < 1.0~2345-r0
1.0~1234-r1 > 1.0~1234-r0
"""

# The validity rows of the same file ("!" marks an invalid version; "!" alone is "").
_APK_TOOLS_VALID = ["1.2", "0.1_pre2", "0.1_pre2~1234abcd", "0.1_p1_pre2", "0.1_alpha1_pre2"]
_APK_TOOLS_VALID += ["0.1_git20240101_pre1"]
_APK_TOOLS_INVALID = ["", "0.1bc", "0.1bc1", "0.1a1", "0.1a.1", "0.1_pre2~", "0.1_pre2~1234xbcd"]
_APK_TOOLS_INVALID += ["0.1_pre2~1234abcd_pre1", "0.1_pre2-r1~1234xbcd", "0.1_foobar"]
_APK_TOOLS_INVALID += ["0.1_foobar1", "0.1-pre1.1", "0.1-r", "0.1-r2_pre1", "0.1-r2_p3_pre1"]
_APK_TOOLS_INVALID += ["0.1-r2-r3", "0.1-r2.1", ".1", "a", "_pre1", "-r1", "0.1_", "0.1_-r0"]
_APK_TOOLS_INVALID += ["0.1__alpha", "0.1_1_alpha"]


def _rows() -> list[tuple[str, str, str]]:
    return [
        (a, op, b) for a, op, b in (line.split() for line in _APK_TOOLS_ROWS.splitlines() if line)
    ]


@pytest.mark.parametrize(("a", "op", "b"), [r for r in _rows() if r[0] != "23_foo"])
def test_apk_tools_vectors(a: str, op: str, b: str) -> None:
    assert SCHEME.compare(a, b) == _SIGN[op]
    assert SCHEME.compare(b, a) == -_SIGN[op]
    assert (SCHEME.key(a) == SCHEME.key(b)) == (op == "=")


def test_apk_tools_vector_with_invalid_operand_is_rejected() -> None:
    # apk still orders "23_foo > 4_beta" on the first number; a validated key refuses it.
    assert not SCHEME.is_valid("23_foo")
    assert _oracle_compare("23_foo", "4_beta") == 1


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        ("1.2.3-r0", "<", "1.2.3-r10"),
        ("1.2.3_rc1", "<", "1.2.3"),
        ("1.2.3_p1", ">", "1.2.3"),
        ("1.2.3a", ">", "1.2.3"),
        ("1.10", ">", "1.9"),
        ("2.0_alpha", "<", "2.0_beta1"),
        # suffix order: alpha < beta < pre < rc < (none) < cvs < svn < git < hg < p
        ("1.0_alpha9", "<", "1.0_beta"),
        ("1.0_beta9", "<", "1.0_pre"),
        ("1.0_pre9", "<", "1.0_rc"),
        ("1.0_rc9", "<", "1.0"),
        ("1.0", "<", "1.0_cvs"),
        ("1.0_cvs9", "<", "1.0_svn"),
        ("1.0_svn9", "<", "1.0_git"),
        ("1.0_git9", "<", "1.0_hg"),
        ("1.0_hg9", "<", "1.0_p"),
        # a missing suffix number is not 0; what follows a bare suffix decides
        ("1.0_alpha", "<", "1.0_alpha0"),
        ("1.0_rc_beta", "<", "1.0_rc0"),
        ("1.0_rc0", "<", "1.0_rc_p"),
        ("1.0_p1", "<", "1.0_p_p"),
        ("1.0_p1", "<", "1.0_p1_p"),
        ("1.0_p1", ">", "1.0_p1_rc"),
        # the release itself, -r0, post suffixes, letters, more numbers
        ("1.2.3", "<", "1.2.3-r0"),
        ("1.2.3-r99", "<", "1.2.3_p0"),
        ("1.2.3_p99", "<", "1.2.3a"),
        ("1.2.3z", "<", "1.2.3.0"),
        ("1.2.3~abc", "<", "1.2.3_p0"),
        ("1.2.3~abc", ">", "1.2.3-r9"),
        ("1.2.3_rc1~ff", "<", "1.2.3"),
        ("1.2.3~abc", "<", "1.2.3~abd"),
        ("1.2.3~ab", "<", "1.2.3~abc"),
        ("1.2.3~a", ">", "1.2.3~9"),
        # numbers: the first always numerically, later ones as text when either has a leading 0
        ("01", "=", "1"),
        ("001.2", "=", "1.2"),
        ("1.01", "<", "1.1"),
        ("1.0", "<", "1.00"),
        ("1.00", "<", "1.001"),
        ("1.001", "<", "1.01"),
        ("1.09", "<", "1.1"),
        ("1.09", "<", "1.10"),
        ("1.9", "<", "1.10"),
        ("1.0", "<", "1.1"),
        # numbers are 64-bit unsigned and wrap, as apk_blob_pull_uint does
        ("18446744073709551616", "=", "0"),
        ("1.18446744073709551617", "=", "1.1"),
        ("1.2-r18446744073709551615", ">", "1.2-r18446744073709551616"),
    ],
)
def test_ordering(a: str, op: str, b: str) -> None:
    assert SCHEME.compare(a, b) == _SIGN[op]
    assert SCHEME.compare(b, a) == -_SIGN[op]
    assert (SCHEME.key(a) == SCHEME.key(b)) == (op == "=")
    assert _oracle_compare(a, b) == _SIGN[op]


def _shuffled(items: list[str]) -> list[str]:
    copy = list(items)
    random.Random(0).shuffle(copy)
    return copy


def test_an_alpine_history_sorts_in_order() -> None:
    history = [
        "3.0.0_alpha1-r0",
        "3.0.0_beta2-r0",
        "3.0.0_pre1-r0",
        "3.0.0_rc1-r0",
        "3.0.0_rc1-r1",
        "3.0.0",
        "3.0.0-r0",
        "3.0.0-r1",
        "3.0.0-r10",
        "3.0.0_git20240101-r0",
        "3.0.0_p1-r0",
        "3.0.0a-r0",
        "3.0.1-r0",
        "3.0.10-r0",
        "3.1.0-r0",
    ]
    assert sorted(_shuffled(history), key=SCHEME.key) == history


@pytest.mark.parametrize("version", _APK_TOOLS_VALID)
def test_apk_tools_valid(version: str) -> None:
    assert SCHEME.is_valid(version)


@pytest.mark.parametrize(
    "version",
    [
        *_APK_TOOLS_INVALID,
        "1.2.3ab",
        "1.2a.3",
        "1.2_foo",
        "1.2-1",
        "1.2-r1-r2",
        "1.2.",
        "1..2",
        "1.2~",
        "1.2~ABC",
        "1.2~abc~def",
        "1.2~abc_p1",
        "1.2-r1~abc",
        "1.2A",
        "1.2_Alpha",
        "1.2_p1.1",
        "1.2 ",
        " 1.2",
        "v1.2",
        "1:1.2",
        "1.2\u00e4",
        "1.2\x00",
        "\u0661.2",  # a non-ASCII digit
    ],
)
def test_invalid(version: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(version)
    assert not SCHEME.is_valid(version)
    assert not _oracle_validate(version)


def test_length_is_capped() -> None:
    assert SCHEME.is_valid("1" * MAX_VERSION_LENGTH)
    with pytest.raises(InvalidVersionError, match="longer than"):
        SCHEME.key("1" * (MAX_VERSION_LENGTH + 1))


def test_scheme_identity() -> None:
    assert SCHEME.name == "apk"
    assert repr(SCHEME) == "ApkVersionScheme()"


def test_keys_are_hashable_and_equal_for_equal_versions() -> None:
    assert len({SCHEME.key(v) for v in ["1.2", "01.2", "001.2", "1.2"]}) == 1


# -- oracle: apk-tools src/version.c, step by step ----------------------------------------

_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END, _INVALID = range(9)
_SUFFIX_NAMES = ["", "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"]
_SUFFIX_NONE = 5


@dataclass
class _Token:
    """``struct token_state`` plus the blob being read."""

    text: str
    pos: int = 0
    token: int = _INITIAL
    suffix: int = 0
    number: int = 0
    value: str = ""

    def span(self, allowed: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def parse_digits(self) -> None:
        self.value = self.span("0123456789")
        self.number = int(self.value or "0") % 2**64
        if not self.value:
            self.token = _INVALID

    def next(self) -> None:
        if self.pos == len(self.text):
            self.token = _END
            return
        char = self.text[self.pos]
        if char in "abcdefghijklmnopqrstuvwxyz":
            if self.token > _DIGIT:
                self.token = _INVALID
                return
            self.value, self.token = char, _LETTER
            self.pos += 1
        elif char in ".0123456789":
            if char == ".":
                if self.token > _DIGIT:
                    self.token = _INVALID
                    return
                self.pos += 1
            if self.token in (_INITIAL, _DIGIT):
                self.token = _DIGIT
            elif self.token == _SUFFIX:
                self.token = _SUFFIX_NO
            else:
                self.token = _INVALID
                return
            self.parse_digits()
        elif char == "_":
            if self.token > _SUFFIX_NO:
                self.token = _INVALID
                return
            self.pos += 1
            self.value = self.span("abcdefghijklmnopqrstuvwxyz")
            names = [i for i, name in enumerate(_SUFFIX_NAMES) if name and name == self.value]
            self.suffix = names[0] if names else 0
            self.token = _SUFFIX if self.suffix else _INVALID
        elif char == "~":
            if self.token >= _HASH:
                self.token = _INVALID
                return
            self.pos += 1
            self.value = self.span("0123456789abcdef")
            self.token = _HASH if self.value else _INVALID
        elif char == "-":
            if self.token >= _REVISION or not self.text.startswith("-r", self.pos):
                self.token = _INVALID
                return
            self.pos += 2
            self.token = _REVISION
            self.parse_digits()
        else:
            self.token = _INVALID


def _first(text: str) -> _Token:
    token = _Token(text)
    token.parse_digits()
    return token


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _token_cmp(ta: _Token, tb: _Token) -> int:
    if ta.token == _DIGIT and (ta.value[0] == "0" or tb.value[0] == "0"):
        return _cmp(ta.value, tb.value)
    if ta.token in (_INITIAL, _DIGIT, _SUFFIX_NO, _REVISION):
        return _cmp(ta.number, tb.number)
    if ta.token == _SUFFIX:
        return _cmp(ta.suffix, tb.suffix)
    return _cmp(ta.value, tb.value)  # letter, commit hash


def _oracle_compare(a: str, b: str) -> int:
    ta, tb = _first(a), _first(b)
    while ta.token == tb.token and ta.token < _END:
        result = _token_cmp(ta, tb)
        if result:
            return result
        ta.next()
        tb.next()
    if ta.token == tb.token:
        return 0
    if ta.token == _SUFFIX and ta.suffix < _SUFFIX_NONE:
        return -1
    if tb.token == _SUFFIX and tb.suffix < _SUFFIX_NONE:
        return 1
    return _cmp(tb.token, ta.token)  # the kind later in the grammar is lower


def _oracle_validate(text: str) -> bool:
    token = _first(text)
    while token.token < _END:
        token.next()
    return token.token == _END


def test_oracle_agrees_with_apk_tools_vectors() -> None:
    assert all(_oracle_compare(a, b) == _SIGN[op] for a, op, b in _rows())
    assert all(_oracle_validate(v) for v in _APK_TOOLS_VALID)
    assert not any(_oracle_validate(v) for v in _APK_TOOLS_INVALID)


_NUMBERS = ["0", "1", "2", "9", "10", "01", "00", "010", "18446744073709551617"]
_SUFFIXES = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]


def _random_version(rng: random.Random) -> str:
    version = rng.choice(_NUMBERS)
    version += "".join("." + rng.choice(_NUMBERS) for _ in range(rng.randint(0, 3)))
    if rng.random() < 0.3:
        version += rng.choice("abz")
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        version += "_" + rng.choice(_SUFFIXES)
        if rng.random() < 0.5:
            version += rng.choice(_NUMBERS)
    if rng.random() < 0.2:
        version += "~" + rng.choice(["0", "9", "a", "ab", "abc", "c0ffee", "f"])
    if rng.random() < 0.5:
        version += "-r" + rng.choice(_NUMBERS)
    return version


def _mangle(rng: random.Random, version: str) -> str:
    for _ in range(rng.randint(1, 2)):
        pos = rng.randint(0, len(version))
        junk = rng.choice([".", "_", "-", "-r", "~", "a", "b", "A", "1", "_p", "_x", "r", " ", "é"])
        if rng.random() < 0.3:
            version = version[:pos] + version[pos + 1 :]
        else:
            version = version[:pos] + junk + version[pos:]
    return version


def test_key_order_matches_the_oracle_on_all_pairs() -> None:
    """Every pair of 300 generated versions (~45,000 comparisons)."""
    rng = random.Random(6)
    versions = sorted({_random_version(rng) for _ in range(300)})
    keys = [SCHEME.key(v) for v in versions]
    wrong = [
        (a, b)
        for a, ka in zip(versions, keys, strict=True)
        for b, kb in zip(versions, keys, strict=True)
        if _cmp(ka, kb) != _oracle_compare(a, b)
    ]
    assert wrong == []
    assert len(set(keys)) < len(versions)  # ties (wrapping, leading zeros) occur


def test_key_order_matches_the_oracle_on_neighbours() -> None:
    """A version against a close (valid) mangling of itself."""
    rng = random.Random(7)
    checked = 0
    for _ in range(6000):
        a = _random_version(rng)
        b = _mangle(rng, a)
        if SCHEME.is_valid(b):
            checked += 1
            assert SCHEME.compare(a, b) == _oracle_compare(a, b), (a, b)
    assert checked > 1000


def test_validity_matches_the_oracle() -> None:
    rng = random.Random(8)
    candidates = [_mangle(rng, _random_version(rng)) for _ in range(6000)]
    verdicts = [_oracle_validate(v) for v in candidates]
    assert 1000 < sum(verdicts) < len(candidates) - 1000
    assert [v for v, ok in zip(candidates, verdicts, strict=True) if SCHEME.is_valid(v) != ok] == []
