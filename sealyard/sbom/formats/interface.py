"""The SBOM output format interface.

A format turns a :class:`~sealyard.sbom.model.Sbom` into text. It is a pure function of its
input: no I/O, no network, and the same ``Sbom`` always renders to the same document,
except the creation time and the document identity (CycloneDX ``serialNumber``, SPDX
``documentNamespace``). With ``deterministic=True`` those two are derived from the input
too (the image digest, or ``Sbom.created`` for the time), so the output is byte-for-byte
reproducible.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from sealyard.sbom.model import Sbom

__all__ = ["SbomFormat"]


class SbomFormat(ABC):
    """One way to write an SBOM.

    Attributes:
        name: the name users pick it by (``--output cyclonedx-json``).
        media_type: the IANA / OCI media type of the rendered document.
        file_extension: the conventional file name suffix, with its leading dot.
    """

    name: str
    media_type: str
    file_extension: str

    @abstractmethod
    def render(self, sbom: Sbom, *, deterministic: bool = False) -> str:
        """The document for ``sbom``.

        Args:
            sbom: what was found.
            deterministic: derive time and document identity from ``sbom`` instead of
                the clock and a random UUID.

        Raises:
            ValueError: ``sbom.created`` is set but is not an ISO 8601 date-time.
        """
