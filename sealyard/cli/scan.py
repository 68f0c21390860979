"""``sealyard scan IMAGE``: SBOM plus findings from the local advisory database."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sealyard.cli._common import data_options, open_from_ctx, parse_creds

if TYPE_CHECKING:
    from sealyard.sbom.model import Sbom
    from sealyard.vulndb.matcher import Finding
    from sealyard.vulndb.osv import OsvRecord
    from sealyard.vulndb.store import AdvisoryStore
    from sealyard.vulndb.suppress import Judgement

__all__ = ["scan"]

FORMATS = ["table", "json", "sarif", "cyclonedx-json"]
THRESHOLDS = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
_NEEDS_ADVISORIES = {"sarif", "cyclonedx-json"}


def _advisories(store: AdvisoryStore, findings: Iterable[Finding]) -> dict[str, OsvRecord]:
    """The records behind ``findings`` by id (references, CWEs and details for reports)."""
    records: dict[str, OsvRecord] = {}
    for vulnerability in dict.fromkeys(f.vulnerability for f in findings):
        for record in store.lookup(vulnerability):
            records.setdefault(record.id, record)
    return records


def _attest(path: Path, sbom: Sbom, judgement: Judgement, store: AdvisoryStore) -> None:
    from sealyard.sbom.formats.cyclonedx import to_document
    from sealyard.vulndb.attest import scan_predicate

    body = json.dumps(to_document(sbom), sort_keys=True, separators=(",", ":")).encode()
    sbom_path = path.with_name(path.name + ".cdx.json")
    _write(body.decode(), sbom_path)
    doc = scan_predicate(
        sbom_bytes=sbom_path.read_bytes(),
        sbom_media_type="application/vnd.cyclonedx+json",
        active=judgement.active,
        sources=store.status(),
    )
    _write(json.dumps(doc, indent=2), path)
    click.echo(f"scan predicate written to {path} (SBOM: {sbom_path})", err=True)


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    tmp = output_file.with_name(f".{output_file.name}.tmp{os.getpid()}")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.replace(tmp, output_file)


@click.command()
@data_options
@click.argument("image")
@click.option(
    "-o", "--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option(
    "--output-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here (atomically) instead of stdout.",
)
@click.option(
    "--fail-on",
    type=click.Choice(THRESHOLDS, case_sensitive=False),
    help="Exit 1 when an active (not suppressed) finding is rated this or higher. "
    "UNKNOWN < LOW < MEDIUM < HIGH < CRITICAL; unrated findings fail only --fail-on UNKNOWN.",
)
@click.option(
    "--fail-on-findings",
    is_flag=True,
    help="Exit 1 when any finding is active (same as --fail-on UNKNOWN).",
)
@click.option(
    "--vex",
    "vex_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="OpenVEX or CycloneDX VEX document (repeatable; the latest statement wins).",
)
@click.option(
    "--allowlist",
    "allowlist_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML/JSON allowlist of accepted vulnerabilities, each with reason and expiry.",
)
@click.option("--platform", help="os/arch[/variant] to pick from a multi-platform index.")
@click.option("--creds", help="USER:PASSWORD for a registry.")
@click.option("--insecure", is_flag=True, default=None, help="Plain HTTP to the registry.")
@click.option(
    "--deterministic",
    is_flag=True,
    help="Derive the CycloneDX serial number from the image digest (as `sealyard sbom`).",
)
@click.option(
    "--attest",
    "attest_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the scan-stage predicate here (for `sealyard sign --stage scan "
    "--predicate FILE`) and the SBOM it names next to it (FILE.cdx.json).",
)
def scan(
    data_dir: Path | None,
    config_file: Path | None,
    image: str,
    fmt: str,
    output_file: Path | None,
    fail_on: str | None,
    fail_on_findings: bool,
    vex_files: tuple[Path, ...],
    allowlist_file: Path | None,
    platform: str | None,
    creds: str | None,
    insecure: bool | None,
    deterministic: bool,
    attest_file: Path | None,
) -> None:
    """Catalog IMAGE and match its packages against the advisories in --data.

    Findings covered by a VEX statement (not_affected, fixed) or an unexpired allowlist
    entry are reported as suppressed, never dropped, and do not count for --fail-on.
    Import advisories first with `sealyard db import`. Works without a server.
    """
    from sealyard.sbom.scan import scan_image
    from sealyard.sbom.source import open_source
    from sealyard.vulndb.allowlist import load_allowlist
    from sealyard.vulndb.matcher import match_sbom
    from sealyard.vulndb.report import ScanReport, render
    from sealyard.vulndb.store import AdvisoryStore
    from sealyard.vulndb.suppress import apply
    from sealyard.vulndb.vex import VexSet, load_vex

    vex = VexSet(tuple(load_vex(path) for path in vex_files))
    allowlist = load_allowlist(allowlist_file) if allowlist_file is not None else None
    registry = open_from_ctx(data_dir, config_file)
    with open_source(
        image, platform=platform, credentials=parse_creds(creds), insecure=insecure
    ) as source:
        sbom = scan_image(source)
    store = AdvisoryStore(registry.db)
    result = match_sbom(sbom, store)
    judgement = apply(
        result.findings, vex=vex, allowlist=allowlist, now=datetime.now(UTC), sbom=sbom
    )
    report = ScanReport(
        sbom=sbom,
        judgement=judgement,
        skipped=tuple(result.skipped),
        advisories=_advisories(store, result.findings) if fmt in _NEEDS_ADVISORIES else {},
    )
    _write(render(report, fmt, deterministic=deterministic), output_file)
    if attest_file is not None:
        _attest(attest_file, sbom, judgement, store)

    for warning in judgement.warnings:
        click.echo(f"warning: {warning.message}", err=True)
    click.echo(
        f"{len(judgement.active)} active and {len(judgement.suppressed)} suppressed findings "
        f"in {len(sbom.packages)} packages "
        f"({len(result.skipped)} packages could not be matched)",
        err=True,
    )
    threshold = "UNKNOWN" if fail_on_findings else fail_on
    if threshold is not None:
        failing = judgement.at_or_above(threshold)
        if failing:
            click.echo(
                f"{len(failing)} active finding(s) rated {threshold.upper()} or higher", err=True
            )
            raise SystemExit(1)
