"""Severity ratings: one vocabulary for CVSS bands, distro urgencies and ecosystem labels.

Findings, alerts, ``--fail-on`` and webhook filters all speak the same six words. Their order
is ``UNKNOWN < NONE < LOW < MEDIUM < HIGH < CRITICAL``: an advisory nobody rated yet ranks
below every rated one, so ``--fail-on LOW`` does not fail on it, while ``--fail-on UNKNOWN``
fails on anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["RATINGS", "Rating", "normalise_rating", "rating_at_least", "rating_rank"]

Rating = Literal["UNKNOWN", "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]

RATINGS: tuple[Rating, ...] = ("UNKNOWN", "NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_RANK: dict[str, int] = {name: i for i, name in enumerate(RATINGS)}

# Labels used by advisory databases, lower-cased, without decoration.
_LABELS: Mapping[str, Rating] = {
    "critical": "CRITICAL",
    "important": "HIGH",  # Red Hat
    "high": "HIGH",
    "moderate": "MEDIUM",  # GitHub, Red Hat
    "medium": "MEDIUM",
    "low": "LOW",
    "negligible": "LOW",  # Ubuntu
    "unimportant": "LOW",  # Debian urgency
    "none": "NONE",
    "unknown": "UNKNOWN",
    "not yet assigned": "UNKNOWN",  # Debian urgency
    "untriaged": "UNKNOWN",
}


def rating_rank(rating: str) -> int:
    """Position in :data:`RATINGS`; anything unrecognised ranks as ``UNKNOWN``."""
    return _RANK.get(rating.upper(), 0)


def rating_at_least(rating: str, minimum: str) -> bool:
    return rating_rank(rating) >= rating_rank(minimum)


def normalise_rating(label: Any) -> Rating | None:
    """The rating a database label means (``"MODERATE"`` → MEDIUM, Debian ``"low**"`` → LOW).

    ``None`` when the label is not a rating at all (e.g. Debian's ``"end-of-life"``).
    """
    if not isinstance(label, str):
        return None
    key = label.strip().strip("*").strip().lower()
    return _LABELS.get(key)
