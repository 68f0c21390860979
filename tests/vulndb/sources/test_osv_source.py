"""Reading OSV snapshots: directories, zips, YAML, and hostile or broken files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sealyard.errors import UsageError
from sealyard.vulndb.sources import OsvSource, ScanProblem, SourceLimits, SourceRecord

YAML_DOC = """\
id: PYSEC-2099-1
modified: 2024-01-02T03:04:05.123456Z
published: 2024-01-01T00:00:00Z
aliases:
- CVE-2099-0001
summary: a yaml advisory
affected:
- package:
    ecosystem: PyPI
    name: Some_Package
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: "1.2"
"""


def osv(ident: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": ident,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "crates.io", "name": "demo"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}],
            }
        ],
    }
    doc.update(extra)
    return doc


def split(items: list[SourceRecord | ScanProblem]) -> tuple[list[SourceRecord], list[ScanProblem]]:
    records = [i for i in items if isinstance(i, SourceRecord)]
    problems = [i for i in items if isinstance(i, ScanProblem)]
    return records, problems


def test_directory_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "b" / "deep" / "RUSTSEC-2099-2.json").write_text(json.dumps(osv("RUSTSEC-2099-2")))
    (tmp_path / "a.json").write_text(json.dumps(osv("RUSTSEC-2099-1")))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "PYSEC-2099-1.yaml").write_text(YAML_DOC)
    (tmp_path / "README.md").write_text("not an advisory")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.json").write_text("{")
    records, problems = split(list(OsvSource().records(tmp_path)))
    assert problems == []
    assert [r.record.id for r in records] == ["RUSTSEC-2099-1", "RUSTSEC-2099-2", "PYSEC-2099-1"]
    assert records[1].path == str(Path("b", "deep", "RUSTSEC-2099-2.json"))


def test_yaml_times_stay_strings_and_raw_is_the_document(tmp_path: Path) -> None:
    (tmp_path / "x.yml").write_text(YAML_DOC)
    [item] = list(OsvSource().records(tmp_path / "x.yml"))
    assert isinstance(item, SourceRecord)
    assert item.raw["modified"] == "2024-01-02T03:04:05.123456Z"
    assert item.record.modified.microsecond == 123456
    assert item.record.aliases == ("CVE-2099-0001",)
    json.dumps(item.raw)  # storable as JSON


def test_zip_archive_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("GHSA-2.json", json.dumps(osv("GHSA-2")))
        zf.writestr("sub/GHSA-1.json", json.dumps(osv("GHSA-1")))
        zf.writestr("p/PYSEC-2099-1.yaml", YAML_DOC)
        zf.writestr("notes.txt", "ignored")
    records, problems = split(list(OsvSource().records(archive)))
    assert problems == []
    assert [r.record.id for r in records] == ["GHSA-2", "PYSEC-2099-1", "GHSA-1"]
    assert records[0].path == "all.zip!GHSA-2.json"


def test_bad_files_become_problems_naming_file_and_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "noid.json").write_text(json.dumps({"modified": "2024-01-01T00:00:00Z"}))
    (tmp_path / "badtime.json").write_text(json.dumps(osv("X-1", modified="yesterday")))
    (tmp_path / "tag.yaml").write_text("id: X-2\nmodified: !!binary aGVsbG8=\n")
    (tmp_path / "syntax.yaml").write_text("id: [unclosed\n")
    (tmp_path / "ok.json").write_text(json.dumps(osv("X-3")))
    records, problems = split(list(OsvSource().records(tmp_path)))
    assert [r.record.id for r in records] == ["X-3"]
    reasons = {p.path: p.reason for p in problems}
    assert set(reasons) == {
        "broken.json",
        "list.json",
        "noid.json",
        "badtime.json",
        "tag.yaml",
        "syntax.yaml",
    }
    assert "not valid JSON" in reasons["broken.json"]
    assert "must be an object" in reasons["list.json"]
    assert "without an id" in reasons["noid.json"]
    assert "modified" in reasons["badtime.json"]
    assert "bytes is not JSON data" in reasons["tag.yaml"]
    assert "not valid YAML" in reasons["syntax.yaml"]


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["id: BOMB-1", "modified: 2024-01-01T00:00:00Z"]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    [problem] = list(OsvSource().records(tmp_path))
    assert isinstance(problem, ScanProblem)
    assert "alias bomb" in problem.reason


def test_oversized_file_is_skipped_unread(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text(json.dumps(osv("BIG-1", details="x" * 5000)))
    (tmp_path / "small.json").write_text(json.dumps(osv("SMALL-1")))
    source = OsvSource(SourceLimits(max_file_bytes=1000))
    records, problems = split(list(source.records(tmp_path)))
    assert [r.record.id for r in records] == ["SMALL-1"]
    assert problems[0].path == "big.json"
    assert "1000-byte limit" in problems[0].reason


def test_zip_bomb_member_is_refused_on_its_declared_size(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.json", b" " * 5_000_000 + b"{}")  # ~5 kB compressed
        zf.writestr("ok.json", json.dumps(osv("OK-1")))
    assert archive.stat().st_size < 100_000
    source = OsvSource(SourceLimits(max_file_bytes=1_000_000))
    records, problems = split(list(source.records(archive)))
    assert [r.record.id for r in records] == ["OK-1"]
    assert problems[0].path == "bomb.zip!bomb.json"
    assert "declares 5000002 bytes" in problems[0].reason


def test_zip_member_lying_about_its_size_stops_at_the_cap(tmp_path: Path) -> None:
    archive = tmp_path / "liar.zip"
    payload = json.dumps(osv("LIAR-1", details="y" * 4000)).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.json", payload)
    data = bytearray(archive.read_bytes())
    # Rewrite the uncompressed size in the local header (offset 22) and central directory.
    real = len(payload).to_bytes(4, "little")
    fake = (100).to_bytes(4, "little")
    assert data.count(real) == 2
    archive.write_bytes(bytes(data).replace(real, fake))
    source = OsvSource(SourceLimits(max_file_bytes=1000))
    [problem] = list(source.records(archive))
    assert isinstance(problem, ScanProblem)
    assert problem.path == "liar.zip!liar.json"


def test_archive_total_size_is_capped(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(10):
            zf.writestr(f"M-{i}.json", json.dumps(osv(f"M-{i}", details="z" * 300)))
    size = len(json.dumps(osv("M-0", details="z" * 300)))
    source = OsvSource(SourceLimits(max_total_bytes=3 * size + 10))
    records, problems = split(list(source.records(archive)))
    assert len(records) == 3
    assert len(problems) == 1
    assert "remaining members skipped" in problems[0].reason


def test_corrupt_zip_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        OsvSource().records(tmp_path / "nope")
    (tmp_path / "data.bin").write_bytes(b"\0" * 10)
    with pytest.raises(UsageError, match="neither"):
        OsvSource().records(tmp_path / "data.bin")
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("A-1.json", json.dumps(osv("A-1", details="q" * 2000)))
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # inside the compressed stream: CRC or inflate error
    archive.write_bytes(bytes(data))
    [problem] = list(OsvSource().records(archive))
    assert isinstance(problem, ScanProblem)
    assert "unreadable member" in problem.reason


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(osv("OUT-1")))
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.json").symlink_to(outside)
    [problem] = list(OsvSource().records(root))
    assert isinstance(problem, ScanProblem)
    assert "symbolic link" in problem.reason
