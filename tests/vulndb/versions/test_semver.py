"""SemVer 2.0.0 precedence, strict and tolerant, checked against node-semver when available."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from sealyard.vulndb.versions import InvalidVersionError
from sealyard.vulndb.versions.semver import SemverVersionScheme, precedence_key

STRICT = SemverVersionScheme()
TOLERANT = SemverVersionScheme(tolerant=True)

# semver.org §11 example, in precedence order.
SPEC_ORDER = [
    "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
    "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
]  # fmt: skip

# The valid and invalid examples published with the semver.org regular expression.
VALID = [
    "0.0.4", "1.2.3", "10.20.30", "1.1.2-prerelease+meta", "1.1.2+meta", "1.1.2+meta-valid",
    "1.0.0-alpha", "1.0.0-beta", "1.0.0-alpha.beta", "1.0.0-alpha.beta.1", "1.0.0-alpha.1",
    "1.0.0-alpha0.valid", "1.0.0-alpha.0valid",
    "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay", "1.0.0-rc.1+build.1",
    "2.0.0-rc.1+build.123", "1.2.3-beta", "10.2.3-DEV-SNAPSHOT", "1.2.3-SNAPSHOT-123",
    "1.0.0", "2.0.0", "1.1.7", "2.0.0+build.1848", "2.0.1-alpha.1227", "1.0.0-alpha+beta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12+788", "1.2.3----R-S.12.9.1--.12+meta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12", "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
    "99999999999999999999999.999999999999999999.99999999999999999", "1.0.0-0A.is.legal",
]  # fmt: skip
INVALID = [
    "1", "1.2", "1.2.3-0123", "1.2.3-0123.0123", "1.1.2+.123", "+invalid", "-invalid",
    "-invalid+invalid", "-invalid.01", "alpha", "alpha.beta", "alpha.beta.1", "alpha.1",
    "alpha+beta", "alpha_beta", "alpha.", "alpha..", "beta", "1.0.0-alpha_beta", "-alpha.",
    "1.0.0-alpha..", "1.0.0-alpha..1", "1.0.0-alpha...1", "1.0.0-alpha....1",
    "1.0.0-alpha.....1", "1.0.0-alpha......1", "1.0.0-alpha.......1", "01.1.1", "1.01.1",
    "1.1.01", "1.2.3.DEV", "1.2-SNAPSHOT", "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788",
    "1.2-RC-SNAPSHOT", "-1.0.3-gamma+b7718", "+justmeta", "9.8.7+meta+meta",
    "9.8.7-whatever+meta+meta",
    "99999999999999999999999.999999999999999999.99999999999999999----RC-SNAPSHOT.12.09.1"
    "--------------------------------..12",
    # and the forms only the tolerant mode takes
    "", "v1.2.3", "=1.2.3", " 1.2.3", "1.2.3 ", "1.2.3beta", "1.2.3-", "1.2.3+", "1.2.3-a.",
    "1.2.3-\u00e9", "\uff11.2.3", "1.2.3\n",
]  # fmt: skip


def _shuffled_sort(scheme: SemverVersionScheme, versions: list[str], seed: int) -> list[str]:
    shuffled = versions[:]
    random.Random(seed).shuffle(shuffled)
    return sorted(shuffled, key=scheme.key)


def test_spec_precedence() -> None:
    for a, b in itertools.pairwise(SPEC_ORDER):
        assert STRICT.compare(a, b) == -1, (a, b)
        assert STRICT.compare(b, a) == 1
    for seed in range(10):
        assert _shuffled_sort(STRICT, SPEC_ORDER, seed) == SPEC_ORDER


def test_generated_order() -> None:
    """A list built in precedence order from its parts, shuffled and sorted back."""
    pres = [
        "-0", "-0.a", "-1", "-1.1", "-1.a", "-2", "-10", "-A", "-Z", "-a", "-a.0", "-a.1",
        "-a.2", "-a.10", "-a.a", "-a.a.a", "-a-", "-aa", "-b", "-beta.1", "-rc.1", "",
    ]  # fmt: skip
    versions = [
        f"{major}.{minor}.{patch}{pre}"
        for major, minor, patch in itertools.product([0, 1, 2, 10], [0, 3, 12], [0, 9, 10])
        for pre in pres
    ]
    for seed in range(3):
        assert _shuffled_sort(STRICT, versions, seed) == versions
        assert _shuffled_sort(TOLERANT, versions, seed) == versions


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0+build.1", "1.0.0+build.2"),
        ("1.0.0-rc.1+x", "1.0.0-rc.1"),
        ("1.0.0+0.0.0", "1.0.0"),
    ],
)
def test_build_metadata_is_ignored(a: str, b: str) -> None:
    assert STRICT.compare(a, b) == 0
    assert STRICT.key(a) == STRICT.key(b)


def test_numbers_have_arbitrary_precision() -> None:
    assert STRICT.compare("1.0.0-9007199254740993", "1.0.0-9007199254740992") == 1
    assert STRICT.compare("18446744073709551616.0.0", "18446744073709551615.0.0") == 1
    assert STRICT.compare("1.0.0-99999999999999999999", "1.0.0-a") == -1


@pytest.mark.parametrize("version", VALID)
def test_valid(version: str) -> None:
    assert STRICT.is_valid(version)
    assert TOLERANT.is_valid(version)


@pytest.mark.parametrize("version", INVALID)
def test_invalid_strict(version: str) -> None:
    with pytest.raises(InvalidVersionError):
        STRICT.key(version)


@pytest.mark.parametrize(
    ("loose", "strict"),
    [
        ("v1.2.3", "1.2.3"),
        ("=1.2.3", "1.2.3"),
        ("= v1.2.3", "1.2.3"),
        ("v=v 1.2.3", "1.2.3"),
        (" 1.2.3 ", "1.2.3"),
        ("\t1.2.3\n", "1.2.3"),
        ("01.02.03", "1.2.3"),
        ("1.2.3-01", "1.2.3-1"),
        ("1.2.3beta.1", "1.2.3-beta.1"),
        ("1.2.3a1", "1.2.3-a1"),
        ("1.2.3-", "1.2.3--"),
        ("v1.2.3-rc.1+build", "1.2.3-rc.1"),
    ],
)
def test_tolerant_forms(loose: str, strict: str) -> None:
    assert not STRICT.is_valid(loose)
    assert TOLERANT.key(loose) == STRICT.key(strict)


@pytest.mark.parametrize(
    "version", ["V1.2.3", "1.2", "1.2.3.4", "1.2.3+", "1.2.3-a..b", "v 1.2", "x1.2.3", "1.2.3_"]
)
def test_tolerant_still_rejects(version: str) -> None:
    with pytest.raises(InvalidVersionError):
        TOLERANT.key(version)


def test_length_cap_and_hostile_input() -> None:
    longest = "1.2.3-" + "a" * 250
    assert STRICT.is_valid(longest)
    assert TOLERANT.is_valid(longest)
    for scheme in (STRICT, TOLERANT):
        with pytest.raises(InvalidVersionError):
            scheme.key(longest + "a")
        # near-misses that make a backtracking regex work hard; each must fail fast
        for hostile in ["1.2.3" + "1" * 250 + "!", "1.2.3-" + "0." * 125 + "!", "v" * 256]:
            assert not scheme.is_valid(hostile)


def test_precedence_key_helper() -> None:
    assert precedence_key(1, 0, 0, []) > precedence_key(1, 0, 0, ["rc", "1"])
    assert precedence_key(1, 0, 0, ["1"]) < precedence_key(1, 0, 0, ["a"])
    assert repr(TOLERANT) == "SemverVersionScheme(tolerant=True)"


# ---------------------------------------------------------------------- node-semver reference

_NODE_SCRIPT = """
const semver = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const valid = (v, loose) => {
  try { new semver.SemVer(v, {loose}); return true } catch { return false }
};
process.stdout.write(JSON.stringify({
  strictValid: input.strict.map((v) => valid(v, false)),
  looseValid: input.loose.map((v) => valid(v, true)),
  compare: input.pairs.map(([a, b]) => semver.compare(a, b, {loose: true})),
}));
"""


@pytest.fixture(scope="module")
def node_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node-semver 7 installed into a temporary directory, or a skip."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node and npm are not installed")
    prefix = tmp_path_factory.mktemp("node-semver")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "semver@7"],
            capture_output=True,
            timeout=120,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot install node-semver with npm: {exc}")
    return prefix / "node_modules" / "semver"


def _random_version(rng: random.Random, loose: bool) -> str:
    def num() -> str:
        n = rng.choice(["0", "1", "2", "9", "10", "11", "123"])
        return "0" + n if loose and rng.random() < 0.1 else n

    ids = ["alpha", "beta", "rc", "a", "b", "A", "Z", "x-y", "-", "0a", "1", "2", "10", "0"]
    out = ".".join(num() for _ in range(3))
    if rng.random() < 0.7:
        pre = ".".join(rng.choice(ids) for _ in range(rng.randint(1, 3)))
        out += ("" if loose and rng.random() < 0.2 and pre[0].isalpha() else "-") + pre
    if rng.random() < 0.2:
        out += "+" + rng.choice(["build", "1", "sha.abc", "0-0"])
    if loose:
        out = rng.choice(["", "", "v", "=", "=v", " ", "v "]) + out + rng.choice(["", "", " "])
    return out


def _mangle(rng: random.Random, version: str) -> str:
    """Near-miss strings, so validity is compared on rejects too."""
    i = rng.randrange(len(version) + 1)
    return (
        version[:i]
        + rng.choice([".", "-", "+", "v", "=", " ", "0", "a", "_", ""])
        + (version[i + rng.randint(0, 2) :])
    )


@pytest.mark.integration
def test_agrees_with_node_semver(node_semver: Path) -> None:
    rng = random.Random(20240611)
    strict = [_random_version(rng, loose=False) for _ in range(300)]
    strict += [_mangle(rng, v) for v in strict] + VALID + INVALID[:40]
    loose = [_random_version(rng, loose=True) for _ in range(300)]
    loose += [_mangle(rng, v) for v in loose]
    valid_loose = [v for v in loose if TOLERANT.is_valid(v)]
    pairs = [(rng.choice(valid_loose), rng.choice(valid_loose)) for _ in range(600)]
    pairs += list(itertools.pairwise(SPEC_ORDER))
    # node-semver's strict mode also takes "v1.2.3" and surrounding spaces; ours does not.
    # node-semver rejects numbers past 2**53 - 1; ours keeps arbitrary precision.
    strict = [v for v in strict if v == v.strip() and not v.startswith("v") and "9" * 17 not in v]

    proc = subprocess.run(
        ["node", "-e", _NODE_SCRIPT, str(node_semver)],
        input=json.dumps({"strict": strict, "loose": loose, "pairs": pairs}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    node = json.loads(proc.stdout)
    mismatches = [
        f"strict {v!r}: node {ok}" for v, ok in zip(strict, node["strictValid"], strict=True)
        if STRICT.is_valid(v) != ok
    ] + [
        f"loose {v!r}: node {ok}" for v, ok in zip(loose, node["looseValid"], strict=True)
        if TOLERANT.is_valid(v) != ok
    ] + [
        f"{a!r} vs {b!r}: node {c}" for (a, b), c in zip(pairs, node["compare"], strict=True)
        if TOLERANT.compare(a, b) != c
    ]  # fmt: skip
    assert not mismatches, "\n".join(mismatches[:20])
    assert sum(node["looseValid"]) > 300  # the generator makes enough valid versions
    assert len(set(node["compare"])) == 3
