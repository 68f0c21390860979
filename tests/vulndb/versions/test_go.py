"""Go module and toolchain versions, checked against golang.org/x/mod/semver when Go is here."""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from sealyard.vulndb.versions import InvalidVersionError
from sealyard.vulndb.versions.go import GoVersionScheme, go_tag_to_semver

SCHEME = GoVersionScheme()


def _shuffled_sort(versions: list[str], seed: int) -> list[str]:
    shuffled = versions[:]
    random.Random(seed).shuffle(shuffled)
    return sorted(shuffled, key=SCHEME.key)


# Strictly increasing; pseudo-versions sort by timestamp and before their base's releases.
ORDER = [
    "v0.0.0-20180101000000-aaaaaaaaaaaa",
    "v0.0.0-20191109021931-daa7c04131f5",
    "v0.0.0-20191109021932-000000000000",
    "v0.0.0-20200101000000-ffffffffffff",
    "v0.0.1",
    "v0.1.0",
    "v1.0.0-alpha",
    "v1.0.0",
    "v1.2.3-0.20190101000000-abcdefabcdef",  # after v1.2.2, before v1.2.3 pre-releases
    "v1.2.3-0.20200101000000-abcdefabcdef",
    "v1.2.3-pre",
    "v1.2.3-pre.0.20190101000000-abcdefabcdef",  # after v1.2.3-pre
    "v1.2.3-pre.0.20200101000000-abcdefabcdef",
    "v1.2.3-pre.1",
    "v1.2.3",
    "v1.2.4-0.20210101000000-abcdefabcdef",
    "v1.10.0",
    "v2.0.0+incompatible",
    "v2.0.1",
    "v10.0.0",
]


def test_module_order() -> None:
    for a, b in itertools.pairwise(ORDER):
        assert SCHEME.compare(a, b) == -1, (a, b)
        assert SCHEME.compare(b, a) == 1
    for seed in range(10):
        assert _shuffled_sort(ORDER, seed) == ORDER


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("v1", "v1.0.0"),
        ("v1.2", "v1.2.0"),
        ("v2.0.0+incompatible", "v2.0.0"),
        ("v1.2.3+meta", "v1.2.3"),
        # OSV writes module versions without the "v"
        ("0.0.0-20191109021931-daa7c04131f5", "v0.0.0-20191109021931-daa7c04131f5"),
        ("1.2.3", "v1.2.3"),
        # toolchains, mapped as the Go vulnerability database does
        ("go1.22.5", "1.22.5"),
        ("go1.22.5", "v1.22.5"),
        ("go1.20", "1.20.0"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1.9.2rc2", "1.9.2-rc.2"),
        ("go1.8beta1", "1.8.0-beta.1"),
        ("go1", "1.0.0"),
        ("go1.21rc2", "1.21rc2"),
        ("go1.22.0 X:boringcrypto", "go1.22.0"),
    ],
)
def test_equal(a: str, b: str) -> None:
    assert SCHEME.compare(a, b) == 0
    assert SCHEME.key(a) == SCHEME.key(b)


def test_toolchain_order() -> None:
    order = [
        "go1", "go1.0.1", "go1.8beta1", "go1.8rc1", "go1.8", "go1.8.1", "go1.9.2rc2", "go1.9.2",
        "go1.10", "go1.20", "go1.20.1", "go1.21rc2", "go1.21rc3", "go1.21.0", "go1.21.1",
        "1.22.5", "go1.22.6", "v1.22.7", "go1.100",
    ]  # fmt: skip
    for a, b in itertools.pairwise(order):
        assert SCHEME.compare(a, b) == -1, (a, b)
    for seed in range(10):
        assert _shuffled_sort(order, seed) == order


@pytest.mark.parametrize(
    ("tag", "semver"),
    [
        ("go1", "v1.0.0"),
        ("go1.0", None),
        ("go1.0.1", "v1.0.1"),
        ("go1.20", "v1.20.0"),
        ("go1.21rc2", "v1.21.0-rc.2"),
        ("go1.9.2rc2", "v1.9.2-rc.2"),
        ("go1.21-pre3", "v1.21.0-pre.3"),
        ("go1.22.0 X:boringcrypto", "v1.22.0"),
        ("go1.22.0-bigcorp", None),
        ("devel go1.23-abc", None),
        ("", None),
        ("go1.21alpha1", None),
    ],
)
def test_go_tag_to_semver(tag: str, semver: str | None) -> None:
    assert go_tag_to_semver(tag) == semver


@pytest.mark.parametrize(
    "bad",
    [
        "", "v", "go", "go1.0", "V1.2.3", "v01.2.3", "v1.02.3", "v1.2.03", "v1.2.3-01",
        "v1.2.3-", "v1.2.3+", "v1.2.3-a..b", "v1.2-pre", "v1+meta", "v1.2.3.4", "v1.2.3 ",
        " v1.2.3", "1.2.3 junk", "go1.09", "go1.2.3.4", "gox", "latest", "v1.2.3-\u00e9",
        "1" * 257,
    ],
)  # fmt: skip
def test_invalid(bad: str) -> None:
    with pytest.raises(InvalidVersionError):
        SCHEME.key(bad)


def test_hostile_input_is_bounded() -> None:
    assert SCHEME.is_valid("v1.2.3-" + "a" * 249)
    assert not SCHEME.is_valid("v1.2.3-" + "a" * 250)
    for hostile in ["v" + "1" * 255, "v1.2.3-" + "0." * 124 + "!", "go" + "1." * 127]:
        SCHEME.is_valid(hostile)


# ----------------------------------------------------------- golang.org/x/mod/semver reference

_GO_MAIN = """package main

import (
	"bufio"
	"fmt"
	"os"

	"xmodref/semver"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		a := in.Text()
		in.Scan()
		b := in.Text()
		fmt.Println(semver.IsValid(a), semver.IsValid(b), semver.Compare(a, b))
	}
}
"""


@pytest.fixture(scope="module")
def xmod_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A program comparing versions with the copy of x/mod/semver vendored in GOROOT."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed")
    goroot = subprocess.run(
        [go, "env", "GOROOT"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    source = Path(goroot, "src/cmd/vendor/golang.org/x/mod/semver/semver.go")
    if not source.is_file():
        pytest.skip(f"{source} is missing")
    work = tmp_path_factory.mktemp("xmodref")
    (work / "semver").mkdir()
    (work / "semver" / "semver.go").write_bytes(source.read_bytes())
    (work / "go.mod").write_text("module xmodref\n\ngo 1.16\n")
    (work / "main.go").write_text(_GO_MAIN)
    subprocess.run(
        [go, "build", "-o", "xmodref", "."],
        cwd=work,
        capture_output=True,
        check=True,
        timeout=120,
        env={**os.environ, "GOFLAGS": "", "GOPROXY": "off", "GOTOOLCHAIN": "local"},
    )
    return work / "xmodref"


def _random_module_version(rng: random.Random) -> str:
    nums = ["0", "1", "2", "10", "123", "0", "1", "2", "10", "123", "01"]
    out = "v" + ".".join(rng.choice(nums) for _ in range(rng.choice([1, 2, 3, 3, 3])))
    if rng.random() < 0.5:
        ids = ["alpha", "rc", "0", "1", "10", "x-y", "-", "20191109021931-daa7c04131f5", "01"]
        out += "-" + ".".join(rng.choice(ids) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.2:
        out += rng.choice(["+incompatible", "+incompatible", "+meta.1", "+", "+a..b"])
    if rng.random() < 0.1:
        i = rng.randrange(len(out) + 1)
        out = out[:i] + rng.choice([".", "-", "+", "v", "a", ""]) + out[i + 1 :]
    return out


@pytest.mark.integration
def test_agrees_with_x_mod_semver(xmod_semver: Path) -> None:
    rng = random.Random(20240611)
    pairs = [(_random_module_version(rng), _random_module_version(rng)) for _ in range(2000)]
    pairs += list(itertools.pairwise(ORDER))
    # same version, other spellings: the interesting equal and near-equal cases
    pairs += [(a, a.split("+")[0] + rng.choice(["", ".0", "+x"])) for a, _ in pairs[:300]]
    # x/mod/semver requires the "v"; GoVersionScheme also reads OSV's bare and go1.x forms
    pairs = [(a, b) for a, b in pairs if a.startswith("v") and b.startswith("v")]
    proc = subprocess.run(
        [str(xmod_semver)],
        input="".join(f"{a}\n{b}\n" for a, b in pairs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == len(pairs)
    mismatches = []
    both_valid = 0
    for (a, b), line in zip(pairs, lines, strict=True):
        valid_a, valid_b, cmp = line.split()
        if (valid_a == "true", valid_b == "true") != (SCHEME.is_valid(a), SCHEME.is_valid(b)):
            mismatches.append(f"validity of {a!r}, {b!r}: go says {valid_a} {valid_b}")
        elif valid_a == valid_b == "true":
            both_valid += 1
            if SCHEME.compare(a, b) != int(cmp):
                mismatches.append(f"{a} vs {b}: go {cmp}, ours {SCHEME.compare(a, b)}")
    assert not mismatches, "\n".join(mismatches[:20])
    assert both_valid > 400
