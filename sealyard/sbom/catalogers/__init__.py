"""Catalogers, one module per ecosystem, all behind :mod:`.interface`."""

from __future__ import annotations

import importlib

from sealyard.sbom.catalogers.interface import Cataloger

__all__ = ["CATALOGERS", "OS_CATALOGERS", "default_catalogers"]

#: OS package managers: files they own are not reported again by language catalogers.
OS_CATALOGERS = frozenset({"dpkg", "apk", "rpm"})

#: module:class of every cataloger, in the order they run.
CATALOGERS = (
    "dpkg:DpkgCataloger",
    "apk:ApkCataloger",
    "rpm:RpmCataloger",
    "python:PythonCataloger",
    "npm:NpmCataloger",
    "ruby:RubyCataloger",
    "php:PhpCataloger",
    "dotnet:DotnetCataloger",
    "golang:GoModuleBinaryCataloger",
    "rust:RustCargoAuditableCataloger",
    "java:JavaArchiveCataloger",
)


def default_catalogers() -> list[Cataloger]:
    """One instance of every cataloger."""
    out: list[Cataloger] = []
    for spec in CATALOGERS:
        module_name, _, class_name = spec.partition(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        out.append(getattr(module, class_name)())
    return out
