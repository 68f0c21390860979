"""Reading Debian security tracker DSA/DLA lists: every variant, hostile input, real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealyard.db import Database
from sealyard.errors import UsageError
from sealyard.vulndb.osv import OsvRecord, affects
from sealyard.vulndb.sources import DebianListSource, ScanProblem, SourceRecord
from sealyard.vulndb.sources.debian_lists import DebianListLimits
from sealyard.vulndb.store import AdvisoryStore, affected_for
from sealyard.vulndb.versions.dpkg import DpkgVersionScheme

REAL = Path(__file__).parents[3] / ".." / "shared" / "data" / "advisories" / "debian"
REAL_DSA = REAL / "data" / "DSA" / "list"
REAL_DLA = REAL / "data" / "DLA" / "list"
needs_real = pytest.mark.skipif(
    not REAL_DSA.is_file() or not REAL_DLA.is_file(),
    reason="../shared/data/advisories/debian is absent (a fresh clone has no ../shared)",
)

DSA_LIST = """\
[02 Apr 2023] DSA-5380-1 firefox-esr - security update
\t{CVE-2023-25751 CVE-2023-28176}
\t[bullseye] - firefox-esr 102.9.0esr-1~deb11u1
\t[bookworm] - firefox-esr 102.9.0esr-1   (maybe)
[30 Mar 2023] DSA-5379-1 xen linux - several updates
\t{CVE-2023-0001}
\t[buster] - xen 4.11.4+107-gef32c7afa2-1
\t[bullseye] - linux 5.10.178-3
\t[bullseye] - xen <not-affected> (vulnerable code not present)
\tNOTE: first note
        NOTE: second note, indented with spaces
[29 Mar 2023] DSA-5378-1 grub2 - security update
\t{CVE-2023-0002}
\t[bookworm] - grub2 <unfixed>
\t[jessie] - grub2 <end-of-life>
[18 Apr 2018] DSA-4205-1 jessie end-of-life
        NOTE: end of security support for jessie
[14 Feb 2007] DSA-1260 imagemagick
\t{CVE-2007-0770}
\t[sarge] - imagemagick 6:6.0.6.2-2.9
"""

DLA_LIST = """\
[01 Apr 2023] DLA-3379-1 intel-microcode - security update
\t{CVE-2022-21216}
\t[buster] - intel-microcode 3.20230214.1~deb10u1
[30 Mar 2023] DLA-3193-2 joblib - regression update
\t[buster] - joblib 0.13.0-2+deb10u2
"""


def write(tmp_path: Path, text: str, kind: str = "DSA") -> Path:
    path = tmp_path / "data" / kind / "list"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def split(
    items: list[SourceRecord | ScanProblem],
) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    records = {i.record.id: i for i in items if isinstance(i, SourceRecord)}
    problems = [i for i in items if isinstance(i, ScanProblem)]
    return records, problems


def parse(tmp_path: Path, text: str) -> tuple[dict[str, SourceRecord], list[ScanProblem]]:
    return split(list(DebianListSource().records(write(tmp_path, text))))


def events(item: SourceRecord, index: int = 0) -> list[tuple[str, str]]:
    return [(e.kind, e.version) for e in item.record.affected[index].ranges[0].events]


def test_announcement_becomes_an_osv_record(tmp_path: Path) -> None:
    records, problems = parse(tmp_path, DSA_LIST)
    assert problems == []
    assert list(records) == ["DSA-5380-1", "DSA-5379-1", "DSA-5378-1", "DSA-4205-1", "DSA-1260"]
    item = records["DSA-5380-1"]
    rec = item.record
    assert rec.aliases == ("CVE-2023-25751", "CVE-2023-28176")
    assert rec.summary == "firefox-esr - security update"
    assert rec.published == rec.modified
    assert item.raw["published"] == "2023-04-02T00:00:00Z"
    assert [(a.ecosystem, a.name) for a in rec.affected] == [
        ("Debian:11", "firefox-esr"),
        ("Debian:12", "firefox-esr"),
    ]
    assert events(item, 0) == [("introduced", "0"), ("fixed", "102.9.0esr-1~deb11u1")]
    assert events(item, 1) == [("introduced", "0"), ("fixed", "102.9.0esr-1")]
    assert rec.affected[1].database_specific == {"release": "bookworm", "note": "(maybe)"}
    assert item.path == "DSA/list:1"
    assert OsvRecord.from_dict(item.raw) == rec  # raw is the document that was validated


def test_multi_package_entry_notes_and_not_affected(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, DSA_LIST)
    rec = records["DSA-5379-1"].record
    assert [(a.ecosystem, a.name) for a in rec.affected] == [
        ("Debian:10", "xen"),
        ("Debian:11", "linux"),
    ]  # the <not-affected> xen line yields no entry
    assert rec.details == "first note\nsecond note, indented with spaces"


def test_unfixed_and_end_of_life_leave_the_range_open(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, DSA_LIST)
    item = records["DSA-5378-1"]
    assert events(item, 0) == [("introduced", "0")]
    assert events(item, 1) == [("introduced", "0")]
    assert item.record.affected[0].database_specific["status"] == "unfixed"
    assert item.record.affected[1].database_specific["status"] == "end-of-life"
    assert affects(item.record.affected[0], "2.06-13", DpkgVersionScheme())


def test_entries_without_cves_or_packages_and_old_ids(tmp_path: Path) -> None:
    records, _ = parse(tmp_path, DSA_LIST)
    eol = records["DSA-4205-1"].record
    assert (eol.aliases, eol.affected, eol.summary) == ((), (), "jessie end-of-life")
    old = records["DSA-1260"].record
    assert old.summary == "imagemagick"
    assert (old.affected[0].ecosystem, old.affected[0].name) == ("Debian:3.1", "imagemagick")


def test_dla_list_and_source_names(tmp_path: Path) -> None:
    path = write(tmp_path, DLA_LIST, "DLA")
    source = DebianListSource.for_path(path)
    assert source.name == "debian-dla"
    records, problems = split(list(source.records(path)))
    assert problems == []
    assert list(records) == ["DLA-3379-1", "DLA-3193-2"]
    assert records["DLA-3193-2"].record.aliases == ()
    assert records["DLA-3193-2"].record.affected[0].ecosystem == "Debian:10"
    assert DebianListSource.for_path(tmp_path / "data" / "DSA").name == "debian-dsa"
    assert DebianListSource.for_path(tmp_path).name == "debian"
    with pytest.raises(UsageError):
        DebianListSource("USN")


def test_directory_reads_both_lists_or_the_chosen_kind(tmp_path: Path) -> None:
    write(tmp_path, DSA_LIST, "DSA")
    write(tmp_path, DLA_LIST, "DLA")
    both, _ = split(list(DebianListSource().records(tmp_path)))
    assert list(both)[:2] == ["DLA-3379-1", "DLA-3193-2"]
    assert "DSA-5380-1" in both
    assert both["DSA-5380-1"].path == "data/DSA/list:1"
    dsa, _ = split(list(DebianListSource("DSA").records(tmp_path)))
    assert all(ident.startswith("DSA-") for ident in dsa)
    dla, _ = split(list(DebianListSource("dla").records(tmp_path / "data" / "DLA")))
    assert list(dla) == ["DLA-3379-1", "DLA-3193-2"]


def test_unknown_codename_skips_only_that_line(tmp_path: Path) -> None:
    text = (
        "[02 Apr 2023] DSA-1-1 foo - security update\n"
        "\t[hamster] - foo 1.0-1\n"
        "\t[bookworm] - foo 1.0-2\n"
    )
    records, problems = parse(tmp_path, text)
    assert [a.ecosystem for a in records["DSA-1-1"].record.affected] == ["Debian:12"]
    assert [p.reason for p in problems] == [
        "line 2: DSA-1-1: unknown Debian release codename 'hamster'"
    ]
    assert problems[0].path == "DSA/list"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("\t[bookworm] - foo", "no version for foo in bookworm"),
        ("\t[bookworm] foo 1.0", "malformed release line"),
        ("\t[bookworm] - Foo_Bar 1.0", "invalid source package name"),
        ("\t[bookworm] - foo <postponed>", "unsupported marker '<postponed>'"),
        ("\t[bookworm] - foo 1.0:bad:", "invalid Debian version"),
        ("\t{CVE-2023-1 CVE-2023-2", "unterminated"),
        ("\t{CVE-2023-1 <script>}", "malformed alias '<script>'"),
        ("\tsomething else", "unrecognised line"),
    ],
)
def test_malformed_continuation_lines_are_problems(tmp_path: Path, line: str, reason: str) -> None:
    text = f"[02 Apr 2023] DSA-1-1 foo - security update\n{line}\n\t[bookworm] - foo 1.0-2\n"
    records, problems = parse(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].reason.startswith("line 2: DSA-1-1: ")
    assert reason in problems[0].reason
    assert [a.name for a in records["DSA-1-1"].record.affected] == ["foo"]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("[31 Foo 2023] DSA-2-1 bar - update", "malformed date"),
        ("[31 Feb 2023] DSA-2-1 bar - update", "invalid date"),
        ("[2023-02-01] DSA-2-1 bar - update", "malformed date"),
        ("[02 Apr 2023] USN-2-1 bar - update", "malformed announcement header"),
        ("DSA-2-1 bar - update", "malformed announcement header"),
    ],
)
def test_malformed_header_skips_its_announcement(tmp_path: Path, header: str, reason: str) -> None:
    text = (
        "[02 Apr 2023] DSA-1-1 foo - security update\n"
        "\t[bookworm] - foo 1.0-2\n"
        f"{header}\n"
        "\t{CVE-2023-9}\n"
        "\t[bookworm] - bar 1.0-2\n"
        "[01 Apr 2023] DSA-3-1 baz - security update\n"
        "\t[bookworm] - baz 1.0-2\n"
    )
    records, problems = parse(tmp_path, text)
    assert list(records) == ["DSA-1-1", "DSA-3-1"]
    assert [p.reason[:7] for p in problems] == ["line 3:"]
    assert reason in problems[0].reason


def test_stray_lines_blank_lines_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "DSA" / "list"
    path.parent.mkdir()
    path.write_bytes(
        b"\t[bookworm] - orphan 1.0-1\n"
        b"\n"
        b"[02 Apr 2023] DSA-1-1 foo - security update\r\n"
        b"\t{CVE-2023-1}\r\n"
        b"\tNOTE: caf\xe9\n"
        b"\n"
        b"\t[bookworm] - foo 1.0-2\n"
    )
    records, problems = split(list(DebianListSource().records(path)))
    assert records["DSA-1-1"].record.aliases == ("CVE-2023-1",)
    assert records["DSA-1-1"].record.affected[0].name == "foo"
    assert [p.reason for p in problems] == [
        "line 1: indented line outside an announcement",
        "line 5: not UTF-8; skipped",
    ]


def test_limits_bound_file_lines_and_entries(tmp_path: Path) -> None:
    long_line = "\t{" + " ".join(f"CVE-2023-{i}" for i in range(100)) + "}\n"
    text = "[02 Apr 2023] DSA-1-1 foo - security update\n" + long_line
    text += "\t[bookworm] - foo 1.0-2\n" * 3
    path = write(tmp_path, text)
    limits = DebianListLimits(max_line_bytes=200, max_entry_lines=2)
    records, problems = split(list(DebianListSource(limits=limits).records(path)))
    assert records["DSA-1-1"].record.aliases == ()
    assert len(records["DSA-1-1"].record.affected) == 2  # the third one is over the limit
    assert [p.reason for p in problems] == [
        "line 2: longer than 200 bytes; skipped",
        "line 5: DSA-1-1 has more than 2 lines",
    ]
    small = DebianListSource(limits=DebianListLimits(max_file_bytes=10))
    assert list(small.records(path)) == [
        ScanProblem("DSA/list", f"{len(text)} bytes exceeds the 10-byte limit")
    ]


def test_invalid_paths(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        DebianListSource().records(tmp_path / "missing")
    with pytest.raises(UsageError, match="no data/DSA/list"):
        DebianListSource().records(tmp_path)
    target = write(tmp_path, DSA_LIST)
    link = tmp_path / "DLA" / "list"
    link.parent.mkdir()
    link.symlink_to(target)
    assert list(DebianListSource().records(tmp_path / "DLA")) == [
        ScanProblem("DLA/list", "symbolic link not followed")
    ]


def test_store_imports_and_finds_by_release(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = AdvisoryStore(db)
    report = store.import_records(
        "debian-dsa", DebianListSource().records(write(tmp_path, DSA_LIST))
    )
    assert (report.added, report.invalid) == (5, 0)
    found = store.candidates("Debian:12", "firefox-esr")
    assert [r.id for r in found] == ["DSA-5380-1"]
    assert affected_for(found[0], "Debian:12", "firefox-esr")[0].ecosystem == "Debian:12"
    assert store.candidates("Debian:12", "xen") == []
    assert "CVE-2023-25751" in store.group("DSA-5380-1")


@needs_real
def test_real_dsa_list() -> None:
    source = DebianListSource.for_path(REAL_DSA)
    assert source.name == "debian-dsa"
    records, problems = split(list(source.records(REAL_DSA)))
    assert problems == []
    assert len(records) > 5000
    for item in records.values():
        assert OsvRecord.from_dict(item.raw) == item.record
    xorg = records["DSA-5380-1"].record
    assert xorg.aliases == ("CVE-2023-1393",)
    assert [(a.ecosystem, a.name) for a in xorg.affected] == [("Debian:11", "xorg-server")]
    assert events(records["DSA-5380-1"]) == [("introduced", "0"), ("fixed", "2:1.20.11-1+deb11u6")]


@needs_real
def test_real_dla_list() -> None:
    records, problems = split(list(DebianListSource.for_path(REAL_DLA).records(REAL_DLA)))
    assert problems == []
    assert len(records) > 3000
    systemd = records["DLA-3377-1"].record
    assert [(a.ecosystem, a.name) for a in systemd.affected] == [("Debian:10", "systemd")]
    assert systemd.affected[0].ranges[0].events[-1].version == "241-7~deb10u9"


@needs_real
def test_real_lists_import_into_the_store(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    db.migrate()
    store = AdvisoryStore(db)
    report = store.import_records("debian-dsa", DebianListSource().records(REAL_DSA))
    assert report.invalid == 0
    assert report.added > 5000
    # The 2023-04-02 snapshot predates bookworm's release: no line names it, so the newest
    # release present (bullseye, Debian 11) is queried.
    ids = [r.id for r in store.candidates("Debian:11", "xorg-server")]
    assert "DSA-5380-1" in ids
    scheme = DpkgVersionScheme()
    entry = affected_for(store.lookup("DSA-5380-1")[0], "Debian:11", "xorg-server")[0]
    assert affects(entry, "2:1.20.11-1+deb11u5", scheme)
    assert not affects(entry, "2:1.20.11-1+deb11u6", scheme)
    assert store.candidates("Debian:12", "xorg-server") == []
