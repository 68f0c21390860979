"""Agreement with the field's reference tools (syft, trivy) on real content of this machine.

The image is made of genuine package metadata found on this Debian host — the dpkg database
with its file lists, the dist-info of the project's own virtualenv (not dpkg-owned), npm's
bundled node_modules, a Go binary built by Debian, a Debian jar — so every ecosystem
is exercised on real files without downloading anything. The acceptance rule: every package
that *both* syft and trivy find, Sealyard finds too, with the same version. Where the tools
disagree among themselves, docs/sbom.md explains why Sealyard reports what it reports.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.images import build_image, write_oci_layout
from tests.fixtures.peers import Key, find_syft, find_trivy, run_sealyard, run_syft, run_trivy
from tests.fixtures.rootfs import layer_from_host

pytestmark = pytest.mark.integration

SITE = "usr/local/lib/python3.11/dist-packages"
VENV_SITE = (
    Path(sys.prefix)
    / "lib"
    / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    / ("site-packages")
)


def _only_dist_info(name: str) -> bool:
    """Skip everything of the virtualenv but its *.dist-info directories (metadata only)."""
    if not name.startswith(SITE + "/"):
        return False
    return ".dist-info" not in name[len(SITE) + 1 :].split("/", 1)[0]


@pytest.fixture(scope="module")
def host_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("needs a Debian host (dpkg database)")
    go_binary = shutil.which("skopeo")
    paths: list[tuple[str, Path]] = [
        ("etc/os-release", Path("/etc/os-release")),
        ("usr/lib/os-release", Path("/usr/lib/os-release")),
        ("etc/debian_version", Path("/etc/debian_version")),
        ("var/lib/dpkg/status", Path("/var/lib/dpkg/status")),
        ("var/lib/dpkg/info", Path("/var/lib/dpkg/info")),
        (SITE, VENV_SITE),
        ("usr/lib/node_modules/npm", Path("/usr/lib/node_modules/npm")),
        # A Debian jar placed where no package owns it, as an application would ship it.
        ("opt/app/lib/commons-io.jar", Path("/usr/share/java/commons-io.jar")),
    ]
    if go_binary:
        paths.append(("usr/local/bin/skopeo", Path(go_binary)))
    layer = layer_from_host(paths, skip=_only_dist_info)
    dest = tmp_path_factory.mktemp("peers") / "layout"
    write_oci_layout(dest, {"latest": build_image([layer])})
    return dest


@pytest.fixture(scope="module")
def results(host_image: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[Key]]:
    if not find_syft() or not find_trivy():
        pytest.skip("syft/trivy are not installed (scripts/install-peers.sh installs them)")
    out = tmp_path_factory.mktemp("peer-out")
    return {
        "sealyard": run_sealyard(f"oci:{host_image}:latest", out / "sealyard.json"),
        "syft": run_syft(f"oci-dir:{host_image}", out / "syft.json"),
        "trivy": run_trivy(host_image, out / "trivy.json", out / "trivy-cache"),
    }


def test_sealyard_finds_every_package_both_peers_find(results: dict[str, set[Key]]) -> None:
    both = results["syft"] & results["trivy"]
    missing = sorted(both - results["sealyard"])
    assert len(both) > 300  # the comparison is about something
    assert missing == [], f"found by syft and trivy but not by Sealyard: {missing[:20]}"


def test_every_ecosystem_of_the_image_is_found(results: dict[str, set[Key]]) -> None:
    kinds = {key[0] for key in results["sealyard"]}
    assert {"deb", "pypi", "npm", "maven"} <= kinds
    if shutil.which("skopeo"):
        assert ("golang", "stdlib") in {(k[0], k[1]) for k in results["sealyard"]}


def test_dpkg_packages_match_dpkg_query(results: dict[str, set[Key]]) -> None:
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    expected = {
        ("deb", line.split()[1], line.split()[2]) for line in listed if line.startswith("ii")
    }
    found = {key for key in results["sealyard"] if key[0] == "deb"}
    assert found == expected


def test_virtualenv_distributions_match_pip(results: dict[str, set[Key]]) -> None:
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pip", "list", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    expected = {("pypi", p["name"].lower().replace("_", "-"), p["version"]) for p in listed}
    found = {
        (k[0], k[1].replace(".", "-") if False else k[1], k[2])
        for k in results["sealyard"]
        if k[0] == "pypi"
    }
    normalise = {(k, n.replace(".", "-").replace("_", "-"), v) for k, n, v in found}
    expected = {(k, n.replace(".", "-"), v) for k, n, v in expected}
    assert expected <= normalise
