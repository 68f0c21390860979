"""PEP 440 ordering: the specification's examples, normalisation, and a generated order."""

from __future__ import annotations

import itertools
import random

import pytest

from sealyard.vulndb.versions import InvalidVersionError
from sealyard.vulndb.versions.pep440 import Pep440VersionScheme

SCHEME = Pep440VersionScheme()

# The specification's "Summary of permitted suffixes and relative ordering" example.
SPEC_ORDER = [
    "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
    "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5",
    "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1",
]  # fmt: skip


def _shuffled_sort(versions: list[str], seed: int) -> list[str]:
    shuffled = versions[:]
    random.Random(seed).shuffle(shuffled)
    return sorted(shuffled, key=SCHEME.key)


def test_spec_order() -> None:
    for a, b in itertools.pairwise(SPEC_ORDER):
        assert SCHEME.compare(a, b) == -1, (a, b)
        assert SCHEME.compare(b, a) == 1
    for seed in range(10):
        assert _shuffled_sort(SPEC_ORDER, seed) == SPEC_ORDER


def test_generated_order() -> None:
    """Built in order from epoch, release and suffix; shuffled and sorted back."""
    suffixes = [
        ".dev0", ".dev1", "a1.dev1", "a1", "a1.post1", "a2", "b1", "rc1.dev1", "rc1", "rc2",
        "", "+local", "+local.1", "+local.2", "+1", "+1.a", ".post1.dev1", ".post1",
        ".post1+abc", ".post2",
    ]  # fmt: skip
    releases = ["0.1", "0.9.9", "1", "1.0.1", "1.1", "1.10", "2"]
    versions = [
        f"{epoch}{release}{suffix}"
        for epoch in ["", "1!"]
        for release in releases
        for suffix in suffixes
    ]
    for seed in range(3):
        assert _shuffled_sort(versions, seed) == versions


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0", "1.0"),
        ("1.0.0.0", "1"),
        ("v1.0", "1.0"),
        ("V1.0", "1.0"),
        (" 1.0\n", "1.0"),
        ("1.0-1", "1.0.post1"),
        ("1.0-r1", "1.0.post1"),
        ("1.0.rev1", "1.0.post1"),
        ("1.0post", "1.0.post0"),
        ("1.0alpha1", "1.0a1"),
        ("1.0-ALPHA.1", "1.0a1"),
        ("1.0c1", "1.0rc1"),
        ("1.0pre1", "1.0rc1"),
        ("1.0preview1", "1.0rc1"),
        ("1.0a", "1.0a0"),
        ("1.0-dev", "1.0.dev0"),
        ("1.0_b_2", "1.0b2"),
        ("0!1.0", "1.0"),
        ("01.002", "1.2"),
        ("1.0+ABC", "1.0+abc"),
        ("1.0+abc-1", "1.0+abc.1"),
        ("1.0+abc_1", "1.0+abc.1"),
        ("1.0+00", "1.0+0"),
    ],
)
def test_normalisation(a: str, b: str) -> None:
    assert SCHEME.compare(a, b) == 0
    assert SCHEME.key(a) == SCHEME.key(b)
    assert hash(SCHEME.key(a)) == hash(SCHEME.key(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.dev1", "1.0a1"),
        ("1.0a1", "1.0b1"),
        ("1.0b1", "1.0rc1"),
        ("1.0rc1", "1.0"),
        ("1.0", "1.0.post1"),
        ("1.0", "1.0+local"),
        ("1.0+local", "1.0.post1"),
        ("1.0+abc", "1.0+1"),  # numeric local segments sort above alphanumeric ones
        ("1.0+1", "1.0+1.0"),
        ("1.0+2", "1.0+10"),
        ("2.0", "1!0.1"),
        ("1.0.post1.dev1", "1.0.post1"),
        ("1.0a1.dev1", "1.0a1"),
        ("1.0a1.post1", "1.0b1"),
        ("1.9", "1.10"),
        ("1.0rc1+local", "1.0"),
    ],
)
def test_less(a: str, b: str) -> None:
    assert SCHEME.compare(a, b) == -1
    assert SCHEME.compare(b, a) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "", "french toast", "1.0-foo", "1.0+", "1..0", "1.0.", ".1", "1.0+local+local",
        "1.0a1a2", "1!", "!1.0", "1.0 .post1", "2.0-beta_x", "1.0-\u00e9", "\u0661.0",
        "1" * 257,
    ],
)  # fmt: skip
def test_invalid(bad: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(bad)
    assert not SCHEME.is_valid(bad)


def test_error_chains_the_parser_error() -> None:
    with pytest.raises(InvalidVersionError) as info:
        SCHEME.key("1.0-foo")
    assert info.value.__cause__ is not None


def test_length_cap_and_hostile_input() -> None:
    assert SCHEME.is_valid("1." * 127 + "1")
    assert not SCHEME.is_valid("1." * 128 + "1")
    for hostile in ["1" + ".0" * 127 + "!", "1.0+" + "a." * 126 + "!", "1.0" + "-" * 250]:
        assert not SCHEME.is_valid(hostile)
