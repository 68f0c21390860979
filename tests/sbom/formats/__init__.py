"""Hand-built SBOMs shared by the format tests."""

from __future__ import annotations

from sealyard.sbom.model import (
    Distro,
    ImageInfo,
    LayerInfo,
    Location,
    Package,
    Sbom,
    ScanWarning,
)
from sealyard.sbom.purl import purl

_DEB12 = {"arch": "amd64", "distro": "debian-12"}
_DEB12_ALL = {"arch": "all", "distro": "debian-12"}
MANIFEST_DIGEST = "sha256:" + "a" * 64
CONFIG_DIGEST = "sha256:" + "c" * 64
REFERENCE = "registry.example.com:5000/team/app:1.2.3"

IMAGE = ImageInfo(
    reference=REFERENCE,
    manifest_digest=MANIFEST_DIGEST,
    config_digest=CONFIG_DIGEST,
    platform="linux/amd64",
    layers=(
        LayerInfo(
            0,
            "sha256:" + "0" * 64,
            "sha256:" + "d0" * 32,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            1234,
        ),
        LayerInfo(
            1,
            "sha256:" + "1" * 64,
            "sha256:" + "d1" * 32,
            "application/vnd.oci.image.layer.v1.tar+zstd",
            99,
        ),
    ),
    repo_digests=("registry.example.com:5000/team/app@" + MANIFEST_DIGEST,),
)

DISTRO = Distro(
    id="debian",
    version_id="12",
    version_codename="bookworm",
    name="Debian GNU/Linux",
    pretty_name="Debian GNU/Linux 12 (bookworm)",
)


def _pkg(
    name: str,
    version: str,
    type_: str,
    purl: str,
    found_by: str,
    paths: tuple[tuple[str, int | None], ...],
    licenses: tuple[str, ...] = (),
    metadata: dict[str, object] | None = None,
    layer: int | None = None,
    introduced: int | None = None,
) -> Package:
    return Package(
        name=name,
        version=version,
        type=type_,
        purl=purl,
        found_by=found_by,
        locations=tuple(Location(p, lay) for p, lay in paths),
        licenses=licenses,
        metadata=metadata or {},
        layer=layer,
        introduced_layer=introduced,
    )


# Several ecosystems, a scoped npm name, unicode, versions with + ~ :, licenses valid,
# invalid, mixed and empty, and the same package in two places.
LIBC = _pkg(
    "libc6",
    "2.36-9+deb12u4",
    "deb",
    purl("deb", "libc6", "2.36-9+deb12u4", namespace="debian", qualifiers=_DEB12),
    "dpkg-cataloger",
    (("var/lib/dpkg/status", 0),),
    licenses=("LGPL-2.1-or-later", "GPL-2.0+"),
    metadata={"source": "glibc", "arch": "amd64", "files": ("lib/x86_64-linux-gnu/libc.so.6",)},
    layer=0,
    introduced=0,
)
TZDATA = _pkg(
    "tzdata",
    "2024a-0+deb12u1",
    "deb",
    purl("deb", "tzdata", "2024a-0+deb12u1", namespace="debian", qualifiers=_DEB12_ALL),
    "dpkg-cataloger",
    (("var/lib/dpkg/status", 0),),
    licenses=("public-domain",),
    layer=0,
    introduced=0,
)
OPENSSL = _pkg(
    "openssl",
    "1:3.0.11-1~deb12u2",
    "deb",
    purl(
        "deb",
        "openssl",
        "1:3.0.11-1~deb12u2",
        namespace="debian",
        qualifiers={**_DEB12, "epoch": "1"},
    ),
    "dpkg-cataloger",
    (("var/lib/dpkg/status", 1),),
    licenses=("Apache-2.0", "Artistic license", "GPL-2.0-only WITH OpenSSL-exception"),
    metadata={"epoch": 1, "upstream": {"version": "3.0.11", "vendor": "OpenSSL"}},
    layer=1,
    introduced=0,
)
BABEL = _pkg(
    "@babel/core",
    "7.24.0",
    "npm",
    purl("npm", "core", "7.24.0", namespace="@babel"),
    "npm-package-cataloger",
    (("app/node_modules/@babel/core/package.json", 1),),
    licenses=("mit",),
    layer=1,
    introduced=1,
)
REQUESTS_A = _pkg(
    "requests",
    "2.31.0",
    "pypi",
    purl("pypi", "requests", "2.31.0"),
    "python-installed-cataloger",
    (("usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", 1),),
    licenses=("Apache-2.0",),
    layer=1,
    introduced=1,
)
REQUESTS_B = _pkg(
    "requests",
    "2.31.0",
    "pypi",
    purl("pypi", "requests", "2.31.0"),
    "python-installed-cataloger",
    (("opt/venv/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA", 1),),
    licenses=("Apache 2.0",),
    layer=1,
    introduced=1,
)
UNICODE = _pkg(
    "naïve-日本語",
    "1.0.0+local.1",
    "pypi",
    purl("pypi", "naïve-日本語", "1.0.0+local.1"),
    "python-installed-cataloger",
    (("usr/lib/python3/dist-packages/naïve.dist-info/METADATA", 1),),
    licenses=("MIT OR Apache-2.0", "LicenseRef-Custom-EULA"),
    layer=1,
    introduced=1,
)
GOMOD = _pkg(
    "github.com/spf13/cobra",
    "v1.8.0",
    "golang",
    purl("golang", "cobra", "v1.8.0", namespace="github.com/spf13"),
    "go-module-binary-cataloger",
    (("usr/local/bin/app", 1),),
    licenses=(),
    metadata={"goCompiledVersion": "go1.22.1", "mainModule": "example.com/app", "h1": None},
    layer=1,
    introduced=1,
)
MAVEN = _pkg(
    "jackson-databind",
    "2.16.1",
    "maven",
    purl("maven", "jackson-databind", "2.16.1", namespace="com.fasterxml.jackson.core"),
    "java-archive-cataloger",
    (("app/lib/app.jar", None),),
    licenses=("The Apache Software License, Version 2.0", "", "NOASSERTION"),
    metadata={"groupId": "com.fasterxml.jackson.core", "tags": frozenset({"b", "a"})},
)

PACKAGES = (LIBC, TZDATA, OPENSSL, BABEL, REQUESTS_A, REQUESTS_B, UNICODE, GOMOD, MAVEN)

WARNINGS = (
    ScanWarning(
        "unreadable",
        "rpmdb is not a sqlite database",
        "var/lib/rpm/rpmdb.sqlite",
        1,
        "rpm-cataloger",
    ),
    ScanWarning("path-escape", "member escapes the root: ../../etc/passwd", "", 0, "layer-reader"),
)


def sample_sbom(**overrides: object) -> Sbom:
    """A realistic SBOM; packages deliberately unsorted."""
    fields: dict[str, object] = {
        "image": IMAGE,
        "packages": tuple(reversed(PACKAGES)),
        "distro": DISTRO,
        "warnings": WARNINGS,
        "tool_version": "0.1.0",
        "created": "2024-05-01T12:30:00+02:00",
    }
    fields.update(overrides)
    return Sbom(**fields)  # type: ignore[arg-type]


def empty_sbom() -> Sbom:
    return Sbom(image=ImageInfo(reference="scratch-image"), packages=())
