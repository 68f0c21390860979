"""Maven ComparableVersion: Maven's own test cases, generated orders, and the real jar."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sealyard.vulndb.versions import InvalidVersionError
from sealyard.vulndb.versions.maven import MavenVersionScheme

SCHEME = MavenVersionScheme()

# ComparableVersionTest (maven-artifact 3.9) VERSIONS_QUALIFIER: strictly increasing.
VERSIONS_QUALIFIER = [
    "1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
    "1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc",
    "1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123",
]  # fmt: skip
# VERSIONS_NUMBER as of 3.9 (MNG-7644 made "2.0.0.a" equal to "2.0.a").
VERSIONS_NUMBER = [
    "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
    "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11",
    "11.a", "11b", "11c", "11m",
]  # fmt: skip

EQUAL = [
    # testVersionsEqual
    ("1", "1"), ("1", "1.0"), ("1", "1.0.0"), ("1.0", "1.0.0"), ("1", "1-0"), ("1", "1.0-0"),
    ("1.0", "1.0-0"), ("1a", "1.a"), ("1a", "1-a"), ("1a", "1.0-a"), ("1a", "1.0.0-a"),
    ("1.0a", "1.0.a"), ("1.0.0a", "1.0.0.a"), ("1x", "1.x"), ("1x", "1-x"), ("1x", "1.0-x"),
    ("1x", "1.0.0-x"), ("1.0x", "1.0.x"), ("1.0.0x", "1.0.0.x"), ("1ga", "1"),
    ("1release", "1"), ("1final", "1"), ("1cr", "1rc"), ("1a1", "1alpha1"), ("1b2", "1beta2"),
    ("1m3", "1milestone3"), ("1X", "1x"), ("1A", "1a"), ("1B", "1b"), ("1M", "1m"),
    ("1Ga", "1"), ("1GA", "1"), ("1RELEASE", "1"), ("1release", "1"), ("1RELeaSE", "1"),
    ("1Final", "1"), ("1FinaL", "1"), ("1FINAL", "1"), ("1Cr", "1Rc"), ("1cR", "1rC"),
    ("1m3", "1Milestone3"), ("1m3", "1MileStone3"), ("1m3", "1MILESTONE3"),
    # testLocaleIndependent
    ("1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    # the brief's hard cases, and the pom reference's "1.ga = 1-ga = 1-0 = 1.0 = 1"
    ("1.0-RC1", "1.0-cr1"), ("1.ga", "1-ga"), ("1-ga", "1-0"), ("1.0.RELEASE", "1.0.Final"),
    # MNG-6572: leading zeroes
    ("0000000000000000001", "1"), ("000000000000000000000", "0"), ("00000000001", "1.0"),
    ("01.002.0003", "1.2.3"), ("000000000000000000000000000000000000042", "42"),
    # MNG-7644: 2.0.X == 2-X == 2.0.0.X
    *((f"2-{x}", f"2.0.{x}") for x in ["abc", "alpha", "a", "beta", "b", "def", "m", "RC"]),
    *((f"2-{x}", f"2.0.0.{x}") for x in ["abc", "alpha", "a", "beta", "b", "def", "m", "RC"]),
]  # fmt: skip

LESS = [
    # testVersionComparing
    ("1", "2"), ("1.5", "2"), ("1", "2.5"), ("1.0", "1.1"), ("1.1", "1.2"), ("1.0.0", "1.1"),
    ("1.0.1", "1.1"), ("1.1", "1.2.0"), ("1.0-alpha-1", "1.0"), ("1.0-alpha-1", "1.0-alpha-2"),
    ("1.0-alpha-1", "1.0-beta-1"), ("1.0-beta-1", "1.0-SNAPSHOT"), ("1.0-SNAPSHOT", "1.0"),
    ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"), ("1.0", "1.0-1"), ("1.0-1", "1.0-2"),
    ("1.0.0", "1.0-1"), ("2.0-1", "2.0.1"), ("2.0.1-klm", "2.0.1-lmn"), ("2.0.1", "2.0.1-xyz"),
    ("2.0.1", "2.0.1-123"), ("2.0.1-xyz", "2.0.1-123"),
    # the brief's hard cases
    ("1-alpha", "1"), ("1.0-SNAPSHOT", "1.0"), ("1.0-sp", "1.0.1"), ("1", "1-sp"),
    ("1-sp", "1-abc"), ("1.0.RC2", "1.0-RC3"), ("1.0-RC3", "1.0.1"),
    # MNG-5568
    ("6.1.0rc3", "6.1.0"), ("6.1.0", "6.1H.5-beta"), ("6.1.0rc3", "6.1H.5-beta"),
    # MNG-6964: a list is compared with null item by item
    ("1-0.alpha", "1"), ("1-0.beta", "1"), ("1-0.alpha", "1-0.beta"),
    # leading zeroes, and numbers past int/long range
    ("0.7", "2"), ("0.2", "1.0.7"), ("999999999", "1000000000"),
    ("999999999999999999", "1000000000000000000"),
    ("1000000000000000000", "99999999999999999999"), ("2147483648", "9223372036854775808"),
    # MNG-7644: 1.0.0.X1 < 1.0.0-X2
    *((f"1.0.0.{x}1", f"1.0.0-{x}2") for x in ["abc", "alpha", "a", "beta", "b", "def", "m"]),
    ("1.0.0.RC1", "1.0.0-RC2"),
    # maven-artifact 3.9.6 does not have MNG-7714 (fixed for Maven 4): final-X > sp1-X
    ("1.0-sp1-redhat", "1.0.final-redhat"), ("1.0-sp-1-redhat", "1.0.final-redhat"),
]  # fmt: skip


def _shuffled_sort(versions: list[str], seed: int) -> list[str]:
    shuffled = versions[:]
    random.Random(seed).shuffle(shuffled)
    return sorted(shuffled, key=SCHEME.key)


@pytest.mark.parametrize("versions", [VERSIONS_QUALIFIER, VERSIONS_NUMBER], ids=["qual", "num"])
def test_maven_test_suite_orders(versions: list[str]) -> None:
    for low in range(len(versions)):
        for high in range(low + 1, len(versions)):
            assert SCHEME.compare(versions[low], versions[high]) == -1, versions[low : high + 1]
            assert SCHEME.compare(versions[high], versions[low]) == 1
    for seed in range(20):
        assert _shuffled_sort(versions, seed) == versions


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal(a: str, b: str) -> None:
    assert SCHEME.compare(a, b) == 0
    assert SCHEME.compare(b, a) == 0
    assert SCHEME.key(a) == SCHEME.key(b)
    assert hash(SCHEME.key(a)) == hash(SCHEME.key(b))
    assert SCHEME.key(a).canonical == SCHEME.key(b).canonical


@pytest.mark.parametrize(("a", "b"), LESS)
def test_less(a: str, b: str) -> None:
    assert SCHEME.compare(a, b) == -1
    assert SCHEME.compare(b, a) == 1
    ka, kb = SCHEME.key(a), SCHEME.key(b)
    assert [ka < kb, ka <= kb, kb > ka, kb >= ka, ka != kb] == [True] * 5
    assert [ka > kb, ka >= kb, kb < ka, kb <= ka, ka == kb] == [False] * 5


def test_qualifier_ladder_and_canonical_forms() -> None:
    ladder = [
        "1-alpha-1", "1-a2", "1-beta-1", "1-b2", "1-milestone-1", "1-m2", "1-rc-1", "1-cr-2",
        "1-SNAPSHOT", "1", "1-sp-1", "1-aaa", "1-redhat-1", "1-zzz", "1-1", "1-2", "1.0.1",
    ]  # fmt: skip
    assert _shuffled_sort(ladder, 7) == ladder
    assert SCHEME.key("1.0-RC1").canonical == "1-rc-1"
    assert SCHEME.key("1.0.final.1").canonical == "1.0..1"
    assert SCHEME.key("1.0-SNAPSHOT").canonical == "1-snapshot"
    assert SCHEME.key("1-0.alpha").canonical == "1-alpha"
    assert SCHEME.key("-1").canonical == "1"
    assert repr(SCHEME.key("1.0.0")) == "MavenKey('1')"


def test_generated_order() -> None:
    bases = ["0.9", "1", "1.0.1", "1.1", "1.1.1", "2", "10"]
    suffixes = [
        "-alpha-1", "-alpha-2", "-beta-1", "-milestone-1", "-rc-1", "-rc-2", "-SNAPSHOT", "",
        "-sp-1", "-abc", "-xyz", "-1", "-2", "-10",
    ]  # fmt: skip
    versions = [base + suffix for base in bases for suffix in suffixes]
    for seed in range(5):
        assert _shuffled_sort(versions, seed) == versions


def test_not_transitive_like_maven() -> None:
    """Maven 3.9.6 itself orders 1.0.alpha.1 < 1 < 1-1 < 1.0.alpha.1; the key follows it."""
    assert SCHEME.compare("1.0.alpha.1", "1") == -1
    assert SCHEME.compare("1", "1-1") == -1
    assert SCHEME.compare("1-1", "1.0.alpha.1") == -1


@pytest.mark.parametrize(
    "bad", ["", "1.0 ", " 1", "1\t0", "1.0\n", "1.0\x00", "1.0-\u00e9", "\u0661.0"]
)
def test_rejects_outside_printable_ascii(bad: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(bad)
    assert not SCHEME.is_valid(bad)


def test_length_cap_and_hostile_input_is_fast() -> None:
    assert SCHEME.is_valid("1" * 256)
    with pytest.raises(InvalidVersionError):
        SCHEME.key("1" * 257)
    hostile = ["-" * 256, "1-" * 128, "a1" * 128, "0." * 128, "9" * 256, "final-" * 42]
    for a in hostile:
        for b in hostile:
            SCHEME.compare(a, b)  # bounded: no recursion, no quadratic blow-up
    assert SCHEME.compare("-" * 256, "0") == 0
    assert SCHEME.compare("1-" * 128, "1-" * 127 + "2") == -1
    deep = SCHEME.key("a1" * 128)  # 256 nested lists
    assert deep == SCHEME.key("A1" * 128)
    assert hash(deep) == hash(SCHEME.key("a1" * 64 + "A1" * 64))
    assert {deep, SCHEME.key("a1" * 127)} == {deep, SCHEME.key("a1" * 127 + "ga")}


def test_keys_only_compare_with_keys() -> None:
    key = SCHEME.key("1")
    assert key != "1"
    for other in ["1", 1, None]:
        with pytest.raises(TypeError):
            _ = key < other
        with pytest.raises(TypeError):
            _ = key <= other
        with pytest.raises(TypeError):
            _ = key > other
        with pytest.raises(TypeError):
            _ = key >= other


# ---------------------------------------------------------------------------- reference jar


def _maven_artifact_jar() -> Path:
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    env = os.environ.get("SEALYARD_MAVEN_ARTIFACT_JAR")
    if env:
        return Path(env)
    repo = Path.home() / ".m2/repository/org/apache/maven/maven-artifact"
    jars = sorted(
        repo.glob("3.9.*/maven-artifact-3.9.*.jar"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)],
    )
    if not jars:
        pytest.skip("no maven-artifact 3.9.x jar in ~/.m2 (set SEALYARD_MAVEN_ARTIFACT_JAR)")
    return jars[-1]


def _random_version(rng: random.Random) -> str:
    tokens = [
        "0", "1", "2", "10", "01", "000", "123", "999999999", "1000000000",
        "99999999999999999999", "a", "b", "m", "c", "alpha", "beta", "milestone", "rc", "cr",
        "snapshot", "ga", "final", "release", "sp", "abc", "x", "pom", "RC", "SNAPSHOT",
        "Final", "a1", "b2", "m3", "1a", "sp1", "_", "+",
    ]  # fmt: skip
    seps = [".", "-", "", "", ".", "--", ".-"]
    out = rng.choice(tokens)
    for _ in range(rng.randint(0, 6)):
        out += rng.choice(seps) + rng.choice(tokens)
    if rng.random() < 0.1:
        out = rng.choice(".-") + out
    if rng.random() < 0.1:
        out += rng.choice(".-")
    return out


@pytest.mark.integration
def test_agrees_with_maven_artifact_jar() -> None:
    """``java -cp maven-artifact.jar ComparableVersion v1 v2 …`` parses every argument and
    compares each with the next: check every canonical form and every comparison."""
    jar = _maven_artifact_jar()
    rng = random.Random(20240611)
    versions: list[str] = []
    for a, b in [*EQUAL, *LESS]:
        versions += [a, b]
    versions += VERSIONS_QUALIFIER + VERSIONS_NUMBER
    for _ in range(300):
        v = _random_version(rng)
        versions += [v, v + rng.choice([".", "-", ""]) + rng.choice(["0", "1", "sp", "rc1"])]
    versions += [_random_version(rng) for _ in range(300)]

    proc = subprocess.run(
        [
            "java",
            "-cp",
            str(jar),
            "org.apache.maven.artifact.versioning.ComparableVersion",
            *versions,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    canonicals: list[str] = []
    comparisons: list[str] = []
    for line in proc.stdout.splitlines()[1:]:
        parsed = re.match(r"\d+\. (.*) -> (.*); tokens: ", line)
        if parsed:
            canonicals.append(parsed.group(2))
        else:
            comparisons.append(line.strip())
    assert len(canonicals) == len(versions)
    assert len(comparisons) == len(versions) - 1

    mismatches = []
    for version, canonical in zip(versions, canonicals, strict=True):
        ours = SCHEME.key(version).canonical
        if ours != canonical:
            mismatches.append(f"canonical({version}): maven {canonical}, ours {ours}")
    ops = {"<": -1, "==": 0, ">": 1}
    for i, line in enumerate(comparisons):
        a, b = versions[i], versions[i + 1]
        assert line.startswith(f"{a} "), line
        assert line.endswith(f" {b}"), line
        expected = ops[line[len(a) + 1 : len(line) - len(b) - 1]]
        if SCHEME.compare(a, b) != expected:
            mismatches.append(f"{a} vs {b}: maven {expected}, ours {SCHEME.compare(a, b)}")
    assert not mismatches, f"{jar.name}: " + "\n".join(mismatches[:20])
