"""Repository names and tags, following the distribution spec grammar.

Sealyard adds one rule: a repository lives in a project, its first path component, so a
name has at least two components (``library/alpine``).
"""

from __future__ import annotations

import re

from sealyard.errors import InvalidNameError, InvalidReferenceError

__all__ = ["project_of", "validate_repository", "validate_tag"]

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def validate_repository(name: str, max_length: int = 255) -> str:
    """Return ``name`` if it is a valid repository name inside a project.

    Raises:
        InvalidNameError: grammar violated (upper case, ``..``, empty component), too long,
            or no project component.
    """
    if len(name) > max_length:
        raise InvalidNameError(f"repository name longer than {max_length} characters")
    if not _NAME.fullmatch(name):  # fullmatch: '$' alone would accept a trailing newline
        raise InvalidNameError(
            f"invalid repository name {name!r}: lowercase letters, digits and separators "
            "(. _ __ -) between path components only"
        )
    if "/" not in name:
        raise InvalidNameError(
            f"repository {name!r} has no project: use <project>/<name>, e.g. library/{name}"
        )
    return name


def project_of(name: str) -> str:
    """The project (first path component) a repository belongs to."""
    return name.split("/", 1)[0]


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it follows the tag grammar.

    Raises:
        InvalidReferenceError: the tag is malformed.
    """
    if not _TAG.fullmatch(tag):
        raise InvalidReferenceError(f"invalid tag {tag!r}")
    return tag
