"""Matching speed: a 1,000-package SBOM against the full shared advisory data set.

    .venv/bin/python benchmarks/match.py [--advisories ../shared/data/advisories] [--runs 5]

Imports PyPA, RustSec and the Debian DSA/DLA lists into a fresh SQLite database, builds a
synthetic SBOM of 1,000 packages drawn from the advisories' own package names (PyPI, crates,
Debian sources with plausible versions, so most packages have candidates) and times
``match_sbom`` (warm: second and later runs).

Then the monitor's job: ``--sboms`` (10,000) synthetic stored scans of ``--packages`` (150)
packages each, drawn with a popularity skew from a pool of package versions the advisories
name, are recorded in the inventory; 100 advisories naming those packages are re-imported
with a change (a later ``fixed`` bound, a new severity), and ``rematch`` over the changed ids
is timed: evaluate the changed records against every stored coordinate they name, diff the
stored matches, and write the alerts for every image holding an affected coordinate.
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
    parser.add_argument("--sboms", type=int, default=10_000, help="0 skips the re-match part")
    parser.add_argument("--packages", type=int, default=150)
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
        if args.sboms:
            rematch_benchmark(db, store, index, args.sboms, args.packages)


def rematch_benchmark(
    db: Database, store: AdvisoryStore, index: AdvisoryIndex, sboms: int, per_sbom: int
) -> None:
    import json

    from sqlalchemy import func, select, update

    from sealyard.db.models import Alert, Job, Vulnerability
    from sealyard.monitor.inventory import Inventory
    from sealyard.monitor.rematch import rematch
    from sealyard.vulndb.osv import OsvRecord
    from sealyard.vulndb.sources import SourceRecord

    pool = list(synthetic_sbom(store, 3000, seed=7).packages)
    rng = random.Random(11)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(pool))]  # a few packages everywhere
    inventory = Inventory(db)
    t0 = time.perf_counter()
    for n in range(sboms):
        chosen = {id(p): p for p in rng.choices(pool, weights, k=per_sbom)}
        sbom = Sbom(
            image=ImageInfo(f"bench{n}"),
            packages=tuple(chosen.values()),
            distro=Distro("debian", "11"),
        )
        inventory.record_scan(
            repository=f"p{n % 50}/app{n}", digest=f"sha256:{n:064x}", sbom=sbom, index=index
        )
    print(
        f"recorded {sboms} stored scans of up to {per_sbom} packages "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    with db.session() as s:
        s.execute(update(Job).where(Job.status == "queued").values(status="done"))
    # 100 advisories, drawn at random among those naming a stored package, changed the way
    # feeds change them (a fix withdrawn and the severity raised: every holder is affected).
    popular = {(p.type, p.name) for p in pool}
    chosen_ids: list[str] = []
    with db.session() as s:
        rows = s.execute(select(Vulnerability.id, Vulnerability.raw)).all()
    rng.shuffle(rows)
    updated = []
    for ident, raw in rows:
        names = {a.get("package", {}).get("name") for a in raw.get("affected", [])}
        if not any(name in {n for _, n in popular} for name in names):
            continue
        doc = json.loads(json.dumps(raw))
        doc["modified"] = "2030-01-01T00:00:00Z"
        doc["database_specific"] = {**doc.get("database_specific", {}), "severity": "CRITICAL"}
        for affected in doc.get("affected", []):
            for rng_ in affected.get("ranges", []):
                rng_["events"] = [{"introduced": "0"}]  # fix withdrawn: every version affected
        updated.append(SourceRecord(OsvRecord.from_dict(doc), doc, f"{ident}.json"))
        chosen_ids.append(ident)
        if len(updated) == 100:
            break
    report = store.import_records("update", updated)
    with db.session() as s:
        ids = [
            i
            for j in s.scalars(
                select(Job).where(Job.kind == "advisories.changed", Job.status == "queued")
            )
            for i in j.payload["ids"]
        ]
    t0 = time.perf_counter()
    result = rematch(db, ids)
    elapsed = time.perf_counter() - t0
    with db.session() as s:
        alerts = s.scalar(select(func.count()).select_from(Alert))
    print(
        f"re-match after a {report.updated}-advisory update over {sboms} stored SBOMs: "
        f"{elapsed:.2f} s ({result.coordinates} coordinates evaluated, new {result.new}, "
        f"changed {result.changed}, resolved {result.resolved}; {alerts} alerts written)"
    )


if __name__ == "__main__":
    main()
