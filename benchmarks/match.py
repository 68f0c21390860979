"""Matching speed: a 1,000-package SBOM against the full shared advisory data set.

    .venv/bin/python benchmarks/match.py [--advisories ../shared/data/advisories] [--runs 5]

Imports PyPA, RustSec and the Debian DSA/DLA lists into a fresh SQLite database, builds a
synthetic SBOM of 1,000 packages drawn from the advisories' own package names (PyPI, crates,
Debian sources with plausible versions, so most packages have candidates) and times
``match_sbom`` (warm: second and later runs). The re-evaluation of 10,000 stored SBOMs after a
100-advisory update (the monitor) is not built yet.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sealyard.db import Database  # noqa: E402
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom  # noqa: E402
from sealyard.vulndb.index import AdvisoryIndex  # noqa: E402
from sealyard.vulndb.matcher import match_sbom  # noqa: E402
from sealyard.vulndb.sources import DebianListSource, OsvSource  # noqa: E402
from sealyard.vulndb.store import AdvisoryStore  # noqa: E402


def synthetic_sbom(store: AdvisoryStore, size: int, seed: int) -> Sbom:
    from sqlalchemy import select

    from sealyard.db.models import AffectedPackage

    with store.db.session() as s:
        rows = s.execute(select(AffectedPackage.ecosystem, AffectedPackage.name).distinct()).all()
    rng = random.Random(seed)
    rng.shuffle(rows)
    packages = []
    for ecosystem, name in rows:
        if len(packages) == size:
            break
        if ecosystem == "PyPI":
            packages.append(
                Package(name, f"1.{rng.randint(0, 9)}.0", "pypi", f"pkg:pypi/{name}@1.0", "bench")
            )
        elif ecosystem == "crates.io":
            packages.append(
                Package(
                    name, f"0.{rng.randint(0, 20)}.1", "cargo", f"pkg:cargo/{name}@0.1.1", "bench"
                )
            )
        elif ecosystem == "Debian:11":
            packages.append(
                Package(
                    name,
                    f"1.{rng.randint(0, 9)}-1",
                    "deb",
                    f"pkg:deb/debian/{name}@1.0-1",
                    "bench",
                    metadata={"source": name},
                )
            )
    return Sbom(image=ImageInfo("bench"), packages=tuple(packages), distro=Distro("debian", "11"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--advisories", type=Path, default=ROOT.parent / "shared" / "data" / "advisories"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        db = Database(f"sqlite:///{Path(work) / 'bench.db'}")
        db.migrate()
        store = AdvisoryStore(db)
        start = time.perf_counter()
        total = 0
        for name in ("pypa", "rustsec"):
            total += store.import_records(name, OsvSource().records(args.advisories / name)).added
        debian = args.advisories / "debian"
        total += store.import_records("debian", DebianListSource().records(debian)).added
        print(f"imported {total} advisories in {time.perf_counter() - start:.1f} s")
        sbom = synthetic_sbom(store, args.size, seed=1)
        times, findings = [], 0
        for _ in range(args.runs + 1):
            t0 = time.perf_counter()
            findings = len(match_sbom(sbom, store).findings)
            times.append(time.perf_counter() - t0)
        warm = times[1:]
        print(
            f"SBOM of {len(sbom.packages)} packages: {findings} findings; match_sbom on the "
            f"store: cold {times[0]:.3f} s, warm median {statistics.median(warm):.3f} s"
        )
        index = AdvisoryIndex(store)
        t0 = time.perf_counter()
        index.refresh()
        load = time.perf_counter() - t0
        itimes = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            assert len(match_sbom(sbom, index).findings) == findings
            itimes.append(time.perf_counter() - t0)
        print(
            f"in-memory index: load {load:.2f} s once; match_sbom median "
            f"{statistics.median(itimes):.3f} s, min {min(itimes):.3f} s"
        )


if __name__ == "__main__":
    main()
