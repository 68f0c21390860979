"""Tests for CVSS vector parsing and scoring."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cvss import CVSS3, CVSS4

from sealyard.errors import UntrustedDataError
from sealyard.vulndb.cvss import (
    CvssError,
    CvssVector,
    base_score,
    environmental_score,
    nomenclature,
    parse_vector,
    roundup_v30,
    roundup_v31,
    score_of,
    severity,
    temporal_score,
)

ADVISORIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "advisories"

V4_FULL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


# --- published scores ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "rating"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "CRITICAL"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "MEDIUM"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "HIGH"),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8, "MEDIUM"),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0, "NONE"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "CRITICAL"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, "HIGH"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3, "MEDIUM"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 2.8, "LOW"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "CRITICAL"),
        # Metric order is free in v3.
        ("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N", 9.8, "CRITICAL"),
    ],
)
def test_published_base_scores(text: str, expected: float, rating: str) -> None:
    vector = parse_vector(text)
    assert base_score(vector) == expected
    assert severity(expected) == rating
    assert score_of(text) == (expected, rating)


def test_temporal_and_environmental_defaults_equal_base() -> None:
    vector = parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    assert temporal_score(vector) == 6.1
    assert environmental_score(vector) == 6.1


def test_temporal_and_environmental_scores() -> None:
    # Hand-checked against the FIRST v3.1 calculator.
    vector = parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C")
    assert base_score(vector) == 9.8
    assert temporal_score(vector) == 8.8
    assert environmental_score(vector) == 8.8
    vector = parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:L/IR:L/AR:L/MAV:L/MS:X")
    assert environmental_score(vector) == 6.6
    vector = parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MC:N/MI:N/MA:N")
    assert environmental_score(vector) == 0.0


def test_v4_is_scored() -> None:
    # Scores from FIRST's v4.0 calculator; the algorithm is tested in test_cvss4.py.
    vector = parse_vector(V4_FULL + "/E:A/MSI:S/U:Amber/AU:Y")
    assert vector.version == "4.0"
    assert vector.metrics["U"] == "Amber"
    assert base_score(vector) == 9.3  # CVSS-B: threat and environmental metrics ignored
    assert nomenclature(vector) == "CVSS-BTE"
    assert score_of(str(vector)) == (10.0, "CRITICAL")  # MSI:S (Safety) raises it
    assert score_of(V4_FULL) == (9.3, "CRITICAL")
    assert nomenclature(parse_vector(V4_FULL)) == "CVSS-B"
    assert score_of(V4_FULL + "/E:U") == (8.1, "HIGH")
    with pytest.raises(ValueError, match=r"CVSS 4\.0"):
        temporal_score(vector)
    with pytest.raises(ValueError, match=r"CVSS 4\.0"):
        environmental_score(vector)
    with pytest.raises(ValueError, match=r"CVSS 3\.1"):
        nomenclature(parse_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", "missing base.*SA"),
        (V4_FULL + "/MSC:S", "MSC has invalid value"),
        (V4_FULL + "/U:amber", "U has invalid value"),
        (V4_FULL.replace("UI:N", "UI:R"), "UI has invalid value"),
        (V4_FULL + "/RL:O", "unknown metric 'RL'"),
    ],
)
def test_v4_malformed(text: str, message: str) -> None:
    with pytest.raises(CvssError, match=message):
        parse_vector(text)


# --- Roundup (v3.1 Appendix A) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4.02, 4.1),
        (4.00, 4.0),
        (4.000000000000001, 4.0),  # float noise must not bump the score
        (0.1 + 0.2, 0.3),  # 0.30000000000000004
        (3.9999999, 4.0),
        (0.0, 0.0),
        (10.0, 10.0),
        (6.71, 6.8),
        (5.00001, 5.1),
        (5.000001, 5.0),  # Appendix A works to five decimal places
    ],
)
def test_roundup_v31(value: float, expected: float) -> None:
    assert roundup_v31(value) == expected


def test_roundup_v30_is_the_plain_ceiling() -> None:
    assert roundup_v30(4.02) == 4.1
    assert roundup_v30(4.0) == 4.0
    assert roundup_v30(2.5 * 0.92) == 2.3  # 2.3000000000000003 in binary floats
    assert roundup_v30(4.000000000000001) == 4.0
    # v3.0 has no five-decimal cut-off: any excess above one decimal rounds up.
    assert roundup_v30(5.000001) == 5.1
    assert roundup_v31(5.000001) == 5.0


# --- severity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "rating"),
    [
        (0.0, "NONE"),
        (0.1, "LOW"),
        (3.9, "LOW"),
        (4.0, "MEDIUM"),
        (6.9, "MEDIUM"),
        (7.0, "HIGH"),
        (8.9, "HIGH"),
        (9.0, "CRITICAL"),
        (10.0, "CRITICAL"),
    ],
)
def test_severity_bands(score: float, rating: str) -> None:
    assert severity(score) == rating


@pytest.mark.parametrize("score", [-0.1, 10.1, float("nan")])
def test_severity_rejects_out_of_range(score: float) -> None:
    with pytest.raises(ValueError, match="out of range"):
        severity(score)


# --- malformed vectors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "missing base metric.*A"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L", "A given more than once"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/E:P", "E given more than once"),
        ("CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV has invalid value 'Q'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:X", "A has invalid value 'X'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y", "unknown metric 'XX'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:h", "invalid value 'h'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", "malformed component ''"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A", "malformed component 'A'"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/:H", "malformed component"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H ", "invalid value 'H '"),
        ("CVSS:3.1/", "malformed component"),
        ("CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "unsupported CVSS version '3.2'"),
        ("CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P", "unsupported CVSS version"),
        ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "missing 'CVSS:<version>/' prefix"),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "prefix"),  # CVSS v2
        ("cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "prefix"),
        ("", "prefix"),
        ("garbage", "prefix"),
        ("CVSS:3.1", "prefix"),
        ("CVSS:3.1/" + "E:X/" * 200, "longer than"),
    ],
)
def test_malformed_vectors(text: str, message: str) -> None:
    with pytest.raises(CvssError, match=message) as info:
        parse_vector(text)
    assert isinstance(info.value, UntrustedDataError)
    assert score_of(text) == (None, None)


@pytest.mark.parametrize("value", [None, 9.8, b"CVSS:3.1/AV:N", ["CVSS:3.1"]])
def test_score_of_never_raises(value: object) -> None:
    assert score_of(value) == (None, None)


def test_vector_model() -> None:
    text = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P"
    vector = parse_vector(text)
    assert vector == CvssVector("3.1", dict(vector.metrics))
    assert str(vector) == text
    assert vector.value("RL") == "X"
    with pytest.raises(TypeError):
        vector.metrics["AV"] = "L"  # type: ignore[index]
    with pytest.raises(CvssError, match="missing base"):
        CvssVector("3.1", {"AV": "N"})


# --- real advisory data --------------------------------------------------------------------


def _severity_entries(doc: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(doc, dict):
        return
    for entry in doc.get("severity") or ():
        yield entry["type"], entry["score"]
    for affected in doc.get("affected") or ():
        for entry in affected.get("severity") or ():
            yield entry["type"], entry["score"]


def _shared_vectors() -> dict[str, set[str]]:
    """All OSV severity scores in the shared data, keyed by OSV severity type."""
    found: dict[str, set[str]] = {}
    rustsec = ADVISORIES / "rustsec" / "crates"
    pypa = ADVISORIES / "pypa" / "vulns"
    if not rustsec.is_dir() or not pypa.is_dir():
        pytest.skip(f"shared advisory data not present at {ADVISORIES}")
    for path in sorted(rustsec.glob("*.json")):
        for kind, score in _severity_entries(json.loads(path.read_text(encoding="utf-8"))):
            found.setdefault(kind, set()).add(score)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(pypa.glob("*/*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "CVSS" not in text:  # most advisories carry no severity; skip the slow YAML parse
            continue
        for kind, score in _severity_entries(yaml.load(text, Loader=loader)):
            found.setdefault(kind, set()).add(score)
    return found


@pytest.fixture(scope="module")
def shared_vectors() -> dict[str, set[str]]:
    return _shared_vectors()


def test_every_shared_v3_vector_scores(shared_vectors: dict[str, set[str]]) -> None:
    v3 = shared_vectors.get("CVSS_V3", set())
    assert len(v3) > 100
    for text in v3:
        vector = parse_vector(text)
        assert vector.version in ("3.0", "3.1")
        score = base_score(vector)
        assert score is not None
        assert 0.0 <= score <= 10.0, text
        assert 0.0 <= environmental_score(vector) <= 10.0
        assert score_of(text) == (score, severity(score))


def test_every_shared_v4_vector_scores(shared_vectors: dict[str, set[str]]) -> None:
    v4 = shared_vectors.get("CVSS_V4", set())
    assert len(v4) > 10
    for text in v4:
        vector = parse_vector(text)
        assert vector.version == "4.0"
        score, rating = score_of(text)
        assert score is not None
        assert 0.0 <= score <= 10.0, text
        assert rating == severity(score)


# --- reference oracle: RedHat's `cvss` package (dev dependency) -----------------------------


def _reference_scores(text: str) -> tuple[float, float, float]:
    base, temporal, environmental = CVSS3(text).scores()
    return float(base), float(temporal), float(environmental)


def _ours(text: str) -> tuple[float | None, float, float]:
    vector = parse_vector(text)
    return base_score(vector), temporal_score(vector), environmental_score(vector)


def test_shared_data_matches_reference(shared_vectors: dict[str, set[str]]) -> None:
    v3 = sorted(shared_vectors.get("CVSS_V3", set()))
    assert len(v3) > 100
    mismatches = [t for t in v3 if _ours(t) != _reference_scores(t)]
    assert mismatches == []


def _random_v3_vector(rng: random.Random) -> str:
    version = rng.choice(["3.0", "3.1"])
    parts = [
        f"AV:{rng.choice('NALP')}",
        f"AC:{rng.choice('LH')}",
        f"PR:{rng.choice('NLH')}",
        f"UI:{rng.choice('NR')}",
        f"S:{rng.choice('UC')}",
        *(f"{m}:{rng.choice('HLN')}" for m in ("C", "I", "A")),
    ]
    optional = {
        "E": "XHFPU",
        "RL": "XUWTO",
        "RC": "XCRU",
        "CR": "XHML",
        "IR": "XHML",
        "AR": "XHML",
        "MAV": "XNALP",
        "MAC": "XLH",
        "MPR": "XNLH",
        "MUI": "XNR",
        "MS": "XUC",
        "MC": "XHLN",
        "MI": "XHLN",
        "MA": "XHLN",
    }
    for name, values in optional.items():
        if rng.random() < 0.5:
            parts.append(f"{name}:{rng.choice(values)}")
    return f"CVSS:{version}/" + "/".join(parts)


def test_random_vectors_match_reference() -> None:
    rng = random.Random(20261130)
    vectors = {_random_v3_vector(rng) for _ in range(5000)}
    assert len(vectors) > 4900
    mismatches = [
        (t, _ours(t), _reference_scores(t))
        for t in sorted(vectors)
        if _ours(t) != _reference_scores(t)
    ]
    assert mismatches == []


def test_shared_v4_vectors_match_reference(shared_vectors: dict[str, set[str]]) -> None:
    v4 = sorted(shared_vectors.get("CVSS_V4", set()))
    mismatches = [
        (t, score_of(t)[0], CVSS4(t).base_score)
        for t in v4
        if score_of(t)[0] != CVSS4(t).base_score
    ]
    assert mismatches == []


def test_parse_vector_rejects_non_strings() -> None:
    with pytest.raises(CvssError, match="must be a string"):
        parse_vector(b"CVSS:3.1/AV:N")  # type: ignore[arg-type]
