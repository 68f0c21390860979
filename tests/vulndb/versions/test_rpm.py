"""RPM EVR ordering: rpmvercmp's hard cases, and rpm 4.18 itself (``rpm.vercmp``) as reference."""

from __future__ import annotations

import itertools
import random
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from sealyard.vulndb.versions.interface import InvalidVersionError
from sealyard.vulndb.versions.rpm import (
    MAX_VERSION_LENGTH,
    RpmVersionScheme,
    parse_evr,
    vercmp_key,
)
from tests.conftest import need

SCHEME = RpmVersionScheme()
_SIGN = {"<": -1, "=": 0, ">": 1}


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        # `~` sorts before everything, the end of the string included
        ("1.0~rc1", "<", "1.0"),
        ("1.0~rc1", "<", "1.0~rc2"),
        ("1.0~~", "<", "1.0~"),
        ("1.0~rc1", "<", "1.0~rc1.1"),
        ("1.0~", "<", "1.0^"),
        # `^` sorts after the end, before anything else
        ("1.0^git1", ">", "1.0"),
        ("1.0^git1", "<", "1.0.1"),
        ("1.0^git1", "<", "1.0a"),
        ("1.0^git1", "<", "1.0^git2"),
        ("1.0^git1", ">", "1.0^"),
        ("1.0^^", ">", "1.0^"),
        ("1.0^git1~pre", "<", "1.0^git1"),
        # separators only separate: which one and how many do not matter
        ("1.0a", "=", "1.0.a"),
        ("1.0a", "=", "1_0_a"),
        ("1..0", "=", "1.0"),
        ("1.0.", "=", "1.0"),
        ("1+0", "=", "1.0"),
        ("1.0\u00e4", "=", "1.0"),
        # numeric segments beat alphabetic ones; letters compare in ASCII order
        ("1.0.1", ">", "1.0.a"),
        ("1.0a", "<", "1.0.1"),
        ("1.0a", ">", "1.0"),
        ("1.0A", "<", "1.0a"),
        ("1.0aa", ">", "1.0a"),
        ("2.0rc1", ">", "2.0"),  # without `~`, "rc" is just more segments
        # numbers compare numerically; leading zeros do not count
        ("1.01", "=", "1.1"),
        ("1.001", "=", "1.1"),
        ("1.10", ">", "1.9"),
        ("1.0", "<", "1.0.0"),
        ("99999999999999999999999", "<", "100000000000000000000000"),
        # epochs: missing is 0; empty is 0
        ("1:1.0", ">", "2.0"),
        ("0:1.0", "=", "1.0"),
        (":1.0", "=", "1.0"),
        ("00:1.0", "=", "0:1.0"),
        ("1:1.0", "<", "2:0.1"),
        ("a:1.0", "=", "a.1.0"),  # not an epoch: the colon is a separator
        # releases: a missing release sorts before any present one
        ("1.0", "<", "1.0-1"),
        ("1.0", "<", "1.0-0"),
        ("1.0", "<", "1.0-~"),
        ("1.0", "<", "1.0-"),
        ("1.0-~", "<", "1.0-"),
        ("1.0-1", "<", "1.0-1.el9"),
        ("1.0-1.el9", "<", "1.0-1.el9_1"),
        ("1.0-1.el9_1", "<", "1.0-2.el9"),
        ("1.0-2.el9", "<", "1.0.1-1.el9"),
        ("1.0-9.fc40", "<", "1.0-10.fc40"),
        ("2:1.0-1", ">", "1:9.9-9"),
        # the release starts after the LAST hyphen
        ("1.0-1-1", ">", "1.0-1"),
        ("1.0-1-2", "<", "1.0-2-1"),
    ],
)
def test_ordering(a: str, op: str, b: str) -> None:
    assert SCHEME.compare(a, b) == _SIGN[op]
    assert SCHEME.compare(b, a) == -_SIGN[op]
    assert (SCHEME.key(a) == SCHEME.key(b)) == (op == "=")


def _shuffled(items: list[str]) -> list[str]:
    copy = list(items)
    random.Random(0).shuffle(copy)
    return copy


def test_a_fedora_history_sorts_in_order() -> None:
    history = [
        "1.0~alpha",
        "1.0~rc1-0.1.fc39",
        "1.0~rc1-1.fc39",
        "1.0",
        "1.0-1.fc39",
        "1.0-1.fc39.1",
        "1.0-2.fc39",
        "1.0^20240101git1234abc-1.fc40",
        "1.0^20240202git5678def-1.fc40",
        "1.0a-1",
        "1.0.1-1.fc40",
        "1.1-1",
        "1:0.1-1",
    ]
    assert sorted(_shuffled(history), key=SCHEME.key) == history
    keys = [SCHEME.key(v) for v in history]
    assert all(k1 < k2 for k1, k2 in itertools.pairwise(keys))


@pytest.mark.parametrize(
    ("evr", "parts"),
    [
        ("1.0", (0, "1.0", None)),
        ("1:1.0-1", (1, "1.0", "1")),
        ("1.0-1-2", (0, "1.0-1", "2")),
        (":1.0", (0, "1.0", None)),
        ("1.0-", (0, "1.0", "")),
        ("0012:3", (12, "3", None)),
        ("1:2:3", (1, "2:3", None)),
        ("a:1-2", (0, "a:1", "2")),
    ],
)
def test_parse_evr(evr: str, parts: tuple[int, str, str | None]) -> None:
    assert parse_evr(evr) == parts


def test_vercmp_key_tokens() -> None:
    assert vercmp_key("1.0a~rc^2") == (
        (4, 1),
        (4, 0),
        (3, "a"),
        (0,),
        (3, "rc"),
        (2,),
        (4, 2),
        (1,),
    )
    assert vercmp_key("") == ((1,),)


@pytest.mark.parametrize(
    "version", ["", "1:", "-1", "1:-1", ":", "1.0\x00", "1" * (MAX_VERSION_LENGTH + 1)]
)
def test_invalid(version: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(version)
    assert not SCHEME.is_valid(version)


def test_longest_accepted_version() -> None:
    assert SCHEME.is_valid("1" * MAX_VERSION_LENGTH)


def test_scheme_identity() -> None:
    assert SCHEME.name == "rpm"
    assert repr(SCHEME) == "RpmVersionScheme()"


def test_keys_are_hashable_and_equal_for_equal_versions() -> None:
    assert len({SCHEME.key(v) for v in ["1.0", "0:1.0", "1.00", "1_0", ":1..0"]}) == 1


# -- rpm 4.18 as the reference ------------------------------------------------------------

_PIECES = ["0", "1", "2", "9", "10", "01", "00", "a", "b", "Z", "rc", "git", "."]
_PIECES += [".", "_", "+", "~", "~", "^", "^", "~~", "^^", "-", ":", " ", "\u00e9"]


def _random_version(rng: random.Random) -> str:
    version = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 7)))
    if rng.random() < 0.3:
        version = rng.choice(["0", "1", "2", "", "00", "10"]) + ":" + version
    return version


def _valid_versions(rng: random.Random, count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        version = _random_version(rng)
        if SCHEME.is_valid(version):
            found.add(version)
    return sorted(found)


def _lua_string(text: str) -> str:
    return '"' + "".join(f"\\{byte:03d}" for byte in text.encode()) + '"'


def _rpm_vercmp(rpm: str, tmp_path: Path, pairs: Sequence[tuple[str, str]]) -> list[int]:
    """``rpm.vercmp(a, b)`` for every pair, from one ``rpm --eval`` running a Lua script.

    rpm 4.18's Lua ``rpm.vercmp`` parses both EVRs (``rpmverParse``) and compares them with
    ``rpmverCmp``: the same function dnf uses.
    """
    script = tmp_path / "vercmp.lua"
    script.write_text(
        "".join(
            f"io.write(rpm.vercmp({_lua_string(a)}, {_lua_string(b)}), '\\n')\n" for a, b in pairs
        )
    )
    proc = subprocess.run(
        [rpm, "--eval", f'%{{lua: dofile("{script}")}}'],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answers = re.findall(r"^(-1|0|1)$", proc.stdout, re.MULTILINE)
    assert len(answers) == len(pairs), proc.stderr
    return [int(answer) for answer in answers]


@pytest.fixture(scope="module")
def rpm() -> str:
    path = need("rpm")
    probe = subprocess.run(
        [path, "--eval", '%{lua: io.write(rpm.vercmp("1:1.0", "2.0"))}'],
        capture_output=True,
        text=True,
        check=False,
    )
    if not probe.stdout.startswith("1"):
        pytest.skip(f"this rpm has no EVR-aware Lua rpm.vercmp: {probe.stdout!r}")
    return path


@pytest.mark.integration
def test_reference_harness_can_fail(rpm: str, tmp_path: Path) -> None:
    pairs = [("1.0~rc1", "1.0"), ("1.0^git1", "1.0"), ("1.0a", "1.0.a"), ("1.0", "1.0-1")]
    assert _rpm_vercmp(rpm, tmp_path, pairs) == [-1, 1, 0, -1]


@pytest.mark.integration
def test_random_pairs_match_rpm(rpm: str, tmp_path: Path) -> None:
    """5,000 pairs from a small pool (many ties and near misses) plus 1,000 neighbours."""
    rng = random.Random(4)
    pool = _valid_versions(rng, 600)
    pairs = [(rng.choice(pool), rng.choice(pool)) for _ in range(5000)]
    for _ in range(1000):
        a = rng.choice(pool)
        pos = rng.randint(0, len(a))
        b = a[:pos] + rng.choice(["~", "^", ".", "0", "a", "-1", "~~", "^^", "_"]) + a[pos:]
        if SCHEME.is_valid(b):
            pairs.append((a, b))
    ours = [SCHEME.compare(a, b) for a, b in pairs]
    theirs = _rpm_vercmp(rpm, tmp_path, pairs)
    assert 100 < ours.count(0) < len(pairs) - 100
    wrong = [(a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs, strict=True) if o != t]
    assert wrong == []


@pytest.mark.integration
def test_sorted_order_matches_rpm(rpm: str, tmp_path: Path) -> None:
    """Adjacent pairs of 3,000 versions sorted by key: rpm must agree on every one."""
    versions = sorted(_valid_versions(random.Random(5), 3000), key=SCHEME.key)
    pairs = list(itertools.pairwise(versions))
    ours = [SCHEME.compare(a, b) for a, b in pairs]
    assert set(ours) == {-1, 0}
    assert _rpm_vercmp(rpm, tmp_path, pairs) == ours
