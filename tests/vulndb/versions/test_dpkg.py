"""dpkg version ordering: Debian Policy §5.6.12 cases, and the real ``dpkg`` as the reference."""

from __future__ import annotations

import itertools
import random
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest

from sealyard.vulndb.versions.dpkg import (
    MAX_VERSION_LENGTH,
    DpkgVersionScheme,
    Weights,
    parse_version,
)
from sealyard.vulndb.versions.interface import InvalidVersionError
from tests.conftest import need

SCHEME = DpkgVersionScheme()
_SIGN = {"<": -1, "=": 0, ">": 1}


@pytest.mark.parametrize(
    ("a", "op", "b"),
    [
        # epochs trump everything; a missing epoch is 0
        ("1:1.0", ">", "2.0"),
        ("0:1.0", "=", "1.0"),
        ("00:1.0", "=", "1.0"),
        ("1:0", ">", "0:99999"),
        ("10:1", ">", "9:1"),
        # `~` sorts before everything, even the end of the string
        ("1.0~rc1", "<", "1.0"),
        ("1.0~~", "<", "1.0~"),
        ("1.0~", "<", "1.0"),
        ("1.0~~a", "<", "1.0~"),
        ("1.0~rc1", "<", "1.0~rc2"),
        ("1.0~rc1-1", "<", "1.0-1"),
        ("1.0-1~bpo1", "<", "1.0-1"),
        # anything else after the end is newer: binNMUs, security updates, backports
        ("1.0+b1", ">", "1.0"),
        ("1.0-1+b1", ">", "1.0-1"),
        ("2.36-9+deb12u4", "<", "2.36-9+deb12u10"),
        ("2.36-9+deb12u10", "<", "2.36-10"),
        ("1.0-1", "<", "1.0-1.1"),
        ("1.0-1.1", "<", "1.0-2"),
        # letters sort before non-letters, in ASCII order
        ("1.2.3a", "<", "1.2.3+"),
        ("1.2.3a", "<", "1.2.3."),
        ("1.2.3A", "<", "1.2.3a"),
        ("1.2.3z", "<", "1.2.3+"),
        ("1.2.3+", "<", "1.2.3."),
        ("1.0a", ">", "1.0"),
        ("1.0a", "<", "1.0.1"),
        ("1.0.", ">", "1.0"),
        # numbers compare numerically; leading zeros and absent numbers are 0
        ("1.01", "=", "1.1"),
        ("1.001", "=", "1.1"),
        ("1.10", ">", "1.9"),
        ("1.0", "<", "1.0.0"),
        ("1a", "=", "1a0"),
        ("1.0", "=", "1.00"),
        ("99999999999999999999999", "<", "100000000000000000000000"),
        # revision absent compares as empty, which equals 0
        ("1.0", "=", "1.0-0"),
        ("1.0", "=", "1.0-00"),
        ("1.0", "<", "1.0-1"),
        ("1.0", ">", "1.0-~"),
        ("1.0-0", "<", "1.0-0.1"),
        # the revision starts after the LAST hyphen; upstream may contain hyphens and colons
        ("1.0-1-1", ">", "1.0-1"),
        ("1.0-2-1", ">", "1.0-1-2"),
        ("1:1:1.0", ">", "1:1.0"),
        ("1:2:0", ">", "1:2.0"),
        # dpkg only warns about these, and still compares them
        ("a1.0", ">", "1.0"),
        ("1_0", ">", "1.0"),
        ("1.0-a_b", ">", "1.0-a.b"),
        # surrounding blanks are trimmed
        (" 1.0\t", "=", "1.0"),
        ("+1:1.0", "=", "1:1.0"),
        ("-0:1.0", "=", "1.0"),
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


def test_a_debian_release_history_sorts_in_order() -> None:
    history = [
        "1.0~~pre",
        "1.0~alpha1",
        "1.0~beta1",
        "1.0~rc1",
        "1.0",
        "1.0-0.1",
        "1.0-1~bpo11+1",
        "1.0-1",
        "1.0-1+b1",
        "1.0-1+deb12u1",
        "1.0-1+deb12u2",
        "1.0-1+deb12u10",
        "1.0-1.1",
        "1.0-2",
        "1.0a",
        "1.0+dfsg",
        "1.0+dfsg-1",
        "1.0.1",
        "1.1~rc1",
        "1.1",
        "1:0.1",
        "2:0",
    ]
    keys = [SCHEME.key(v) for v in history]
    assert all(k1 < k2 for k1, k2 in itertools.pairwise(keys))
    assert sorted(_shuffled(history), key=SCHEME.key) == history


@pytest.mark.parametrize(
    ("version", "parts"),
    [
        ("1.0", (0, "1.0", "")),
        ("1:1.0-1", (1, "1.0", "1")),
        ("2:1.0-1-2", (2, "1.0-1", "2")),
        ("1:2:3", (1, "2:3", "")),
        ("1.2.3+dfsg-1ubuntu0.1", (0, "1.2.3+dfsg", "1ubuntu0.1")),
        ("  7:1  ", (7, "1", "")),
        ("2147483647:1", (2147483647, "1", "")),
        ("\n3:1", (3, "1", "")),
        ("<unknown>", (0, "<unknown>", "")),
    ],
)
def test_parse_version(version: str, parts: tuple[int, str, str]) -> None:
    assert parse_version(version) == parts


@pytest.mark.parametrize(
    "version",
    [
        "",
        " \t ",
        "1.0-",
        "-1",
        "1:-1",
        ":1.0",
        "a:1.0",
        "1a:1.0",
        "1:",
        "-1:1.0",
        "1 0",
        "1.0 -1",
        "1\t0",
        "2147483648:1",
        "99999999999999999999:1",
        "1.0\u00e4",
        "1.0\x00",
        "1" * (MAX_VERSION_LENGTH + 1),
    ],
)
def test_invalid(version: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(version)
    assert not SCHEME.is_valid(version)


def test_longest_accepted_version() -> None:
    assert SCHEME.is_valid("1" * MAX_VERSION_LENGTH)


def test_error_message_is_bounded() -> None:
    with pytest.raises(InvalidVersionError) as info:
        SCHEME.key("1 " * 1000)
    assert len(str(info.value)) < 200


def test_scheme_identity() -> None:
    assert SCHEME.name == "dpkg"
    assert repr(SCHEME) == "DpkgVersionScheme()"


def test_keys_are_hashable_and_equal_for_equal_versions() -> None:
    assert len({SCHEME.key(v) for v in ["1.0", "0:1.0", "1.00", "1.0-0", "1.0-00"]}) == 1


def test_weights_operators_agree() -> None:
    short, long_ = Weights((0, 1)), Weights((0, 1, -1))  # "1" and "1~"
    assert long_ < short
    assert long_ <= short
    assert short > long_
    assert short >= long_
    assert not short < long_
    assert not short <= long_
    assert short <= Weights((0, 1))
    assert short >= Weights((0, 1))


# -- the real dpkg as the reference -------------------------------------------------------

_NUMBERS = ["0", "1", "2", "9", "10", "01", "00", "100"]
_PIECES = [*_NUMBERS, "a", "b", "z", "A", "Z", ".", ".", "+", "~", "~", "~~", "-", ":"]


def _random_part(rng: random.Random, pieces: list[str]) -> str:
    first = rng.choice(_NUMBERS) if rng.random() < 0.9 else rng.choice(["a", "~", "+", "."])
    return first + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))


def _random_version(rng: random.Random) -> str:
    version = _random_part(rng, [p for p in _PIECES if p not in "-:"])
    if rng.random() < 0.5:
        version += "-" + _random_part(rng, [p for p in _PIECES if p not in "-:"])
    if rng.random() < 0.1:
        version = _random_part(rng, _PIECES) + "-" + version
    if rng.random() < 0.3:
        version = rng.choice(["0", "1", "2", "00", "+1", "-0"]) + ":" + version
    return version


def _mutate(rng: random.Random, version: str) -> str:
    """A close neighbour of ``version``, so that near-equal pairs get compared."""
    pos = rng.randint(0, len(version))
    edit = rng.choice(["~", "0", "00", ".", "+", "a", "-0", "-1", ".0", "~~", "1"])
    if rng.random() < 0.3:
        return version[:pos] + version[pos + 1 :]
    if rng.random() < 0.2:
        return "0:" + version if ":" not in version else version.replace(":", "0:", 1)
    return version[:pos] + edit + version[pos:]


def _valid_versions(rng: random.Random, count: int) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        version = _random_version(rng)
        if rng.random() < 0.5:
            version = _mutate(rng, version)
        if SCHEME.is_valid(version):
            found.add(version)
    return sorted(found)


def _dpkg_agrees(dpkg: str, claims: Iterable[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The claims ``(a, op, b)`` that ``dpkg --compare-versions`` calls false."""

    def check(claim: tuple[str, str, str]) -> bool:
        a, op, b = claim
        proc = subprocess.run(
            [dpkg, "--compare-versions", "--", a, op, b], capture_output=True, check=False
        )
        assert proc.returncode in (0, 1), (claim, proc.stderr)
        return proc.returncode == 0

    claims = list(claims)
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(check, claims))
    return [claim for claim, ok in zip(claims, verdicts, strict=True) if not ok]


def _claim(a: str, b: str) -> tuple[str, str, str]:
    return a, {-1: "lt", 0: "eq", 1: "gt"}[SCHEME.compare(a, b)], b


@pytest.fixture(scope="module")
def dpkg() -> str:
    return need("dpkg")


@pytest.mark.integration
def test_reference_harness_can_fail(dpkg: str) -> None:
    assert _dpkg_agrees(dpkg, [("1.0~", "gt", "1.0"), ("1.0", "eq", "1.0-0")]) == [
        ("1.0~", "gt", "1.0")
    ]


@pytest.mark.integration
def test_sorted_order_matches_dpkg(dpkg: str) -> None:
    """Sort 900 generated versions by key; dpkg must agree on every adjacent pair.

    dpkg's order is a total preorder, so agreeing on all adjacent pairs (< or =) means
    agreeing on all ~400,000 pairs of the list.
    """
    versions = sorted(_valid_versions(random.Random(1), 900), key=SCHEME.key)
    claims = [_claim(a, b) for a, b in itertools.pairwise(versions)]
    ties = [(a, b) for a, op, b in claims if op == "eq"]
    assert len(ties) > 20  # the generator does produce ties
    assert all(SCHEME.key(a) == SCHEME.key(b) for a, b in ties)
    assert all(hash(SCHEME.key(a)) == hash(SCHEME.key(b)) for a, b in ties)
    assert _dpkg_agrees(dpkg, claims) == []


@pytest.mark.integration
def test_random_pairs_match_dpkg(dpkg: str) -> None:
    """1,500 pairs, half of them a version and a close neighbour of it."""
    rng = random.Random(2)
    pool = _valid_versions(rng, 400)
    claims: list[tuple[str, str, str]] = []
    while len(claims) < 1500:
        a = rng.choice(pool)
        b = _mutate(rng, a) if rng.random() < 0.5 else rng.choice(pool)
        if SCHEME.is_valid(b):
            claims.append(_claim(a, b))
    assert _dpkg_agrees(dpkg, claims) == []


@pytest.mark.integration
def test_validity_matches_dpkg(dpkg: str) -> None:
    """Accept exactly what dpkg accepts (warnings included), over mangled versions."""
    rng = random.Random(3)
    candidates: set[str] = set()
    while len(candidates) < 400:
        version = _random_version(rng)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(version))
            junk = rng.choice(["-", ":", " ", "\t", "_", "!", "-r", "x:", ":-", "\n", "="])
            version = version[:pos] + junk + version[pos:]
        candidates.add(version)
    candidates.discard("")  # dpkg's CLI reads "" as "no version"; parseversion rejects it

    def dpkg_accepts(version: str) -> bool:
        proc = subprocess.run(
            [dpkg, "--compare-versions", "--", version, "eq", version],
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    ordered = sorted(candidates)
    with ThreadPoolExecutor(max_workers=4) as pool:
        verdicts = list(pool.map(dpkg_accepts, ordered))
    assert 50 < sum(verdicts) < len(ordered) - 50  # both kinds are well represented
    wrong = [v for v, ok in zip(ordered, verdicts, strict=True) if SCHEME.is_valid(v) != ok]
    assert wrong == []
