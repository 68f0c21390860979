"""One rating vocabulary for CVSS bands and database labels."""

from __future__ import annotations

import pytest

from sealyard.vulndb.ratings import RATINGS, normalise_rating, rating_at_least, rating_rank


@pytest.mark.parametrize(
    ("label", "rating"),
    [
        ("MODERATE", "MEDIUM"),
        ("important", "HIGH"),
        ("low**", "LOW"),
        (" Critical ", "CRITICAL"),
        ("unimportant", "LOW"),
        ("not yet assigned", "UNKNOWN"),
        ("end-of-life", None),
        (7, None),
        ("", None),
    ],
)
def test_database_labels(label: object, rating: str | None) -> None:
    assert normalise_rating(label) == rating


def test_order_puts_unknown_lowest() -> None:
    assert [rating_rank(r) for r in RATINGS] == list(range(6))
    assert rating_at_least("CRITICAL", "HIGH")
    assert not rating_at_least("UNKNOWN", "LOW")
    assert rating_at_least("UNKNOWN", "UNKNOWN")
    assert rating_rank("garbage") == rating_rank("UNKNOWN")
