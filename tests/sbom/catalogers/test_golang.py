"""The Go module binary cataloger and the ELF reader it shares with the Rust one."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from sealyard.sbom.catalogers._elf import (
    MAX_SECTIONS,
    ElfError,
    looks_like_executable_path,
    parse_elf,
)
from sealyard.sbom.catalogers.golang import (
    GoModuleBinaryCataloger,
    module_packages,
    parse_modinfo,
    read_build_info,
)
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.model import Location
from tests.conftest import need
from tests.sbom.catalogers.binary_fixtures import (
    EM_386,
    EM_AARCH64,
    EM_MIPS,
    EM_S390,
    EM_X86_64,
    GO_INFO_END,
    GO_INFO_START,
    GO_MAGIC,
    Sec,
    build_go_module_binary,
    elf,
    go_binary,
    go_binary_pointer_format,
    go_buildinfo_inline,
    go_modinfo,
    uvarint,
)

MODINFO = go_modinfo(
    path="example.com/app/cmd/server",
    main=("example.com/app", "(devel)", ""),
    deps=[
        ("github.com/spf13/cobra", "v1.8.0", "h1:7aJaZx1B85qltLMc546zn58BxxfZdR/W22ej9CFoEf0="),
        (
            "golang.org/x/net",
            "v0.17.0",
            "h1:old=",
            ("github.com/fork/net", "v0.18.0", "h1:fork="),
        ),
        ("example.com/local", "v0.0.0", "", ("../local", "", "")),
        ("gopkg.in/yaml.v3", "v3.0.1", "h1:yaml="),
    ],
    settings=[
        ("-compiler", "gc"),
        ("-ldflags", '"-s -w -X main.version=1.2.3"'),
        ("CGO_ENABLED", "0"),
        ("GOARCH", "arm64"),
        ("GOOS", "linux"),
        ("vcs", "git"),
        ("vcs.revision", "0123456789abcdef0123456789abcdef01234567"),
        ("vcs.modified", "false"),
    ],
)


def catalog(*records: FileRecord) -> CatalogResult:
    return GoModuleBinaryCataloger().catalog(ImageFiles(files=records))


def record(data: bytes | None, path: str = "usr/local/bin/server", layer: int = 2) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""), mode=0o755)


def by_name(result: CatalogResult) -> dict[str, tuple[str, str]]:
    return {p.name: (p.version, p.purl) for p in result.packages}


# --- wants() -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("usr/local/bin/server", True),
        ("usr/bin/kubectl", True),
        ("bin/busybox", True),
        ("usr/sbin/nginx", True),
        ("usr/local/go/bin/go", True),
        ("root/go/bin/dlv", True),
        ("usr/libexec/docker/cli-plugins/docker-compose", True),
        ("usr/lib/docker/cli-plugins/docker-buildx", True),
        ("manager", True),  # distroless: the binary sits in the image root
        ("app/server", True),
        ("opt/tool/tool", True),
        ("ko-app/hello", True),
        ("app/node_modules/@esbuild/linux-x64/bin/esbuild", True),
        ("usr/bin/python3.11", True),
        ("usr/bin/app.exe", True),
        ("app/node_modules/left-pad/index.js", False),
        ("app/node_modules/some/LICENSE", False),
        ("opt/venv/lib/python3.11/site-packages/x/y", False),
        ("usr/bin/script.py", False),
        ("usr/bin/helper.sh", False),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", False),
        ("opt/lib/libfoo.so", False),
        ("etc/passwd", False),
        ("usr/share/doc/go/README", False),
        ("var/lib/dpkg/status", False),
        ("app/README", False),
        (".dockerenv", False),
        ("usr/bin/", False),
    ],
)
def test_wants_executable_locations(path: str, wanted: bool) -> None:
    assert GoModuleBinaryCataloger().wants(path) is wanted
    assert looks_like_executable_path(path) is wanted


# --- the synthetic binary ------------------------------------------------------------------


def test_inline_build_info_gives_deps_main_and_stdlib() -> None:
    result = catalog(record(go_binary("go1.22.5", MODINFO)))
    assert result.warnings == []
    assert by_name(result) == {
        "github.com/spf13/cobra": ("v1.8.0", "pkg:golang/github.com/spf13/cobra@v1.8.0"),
        "github.com/fork/net": ("v0.18.0", "pkg:golang/github.com/fork/net@v0.18.0"),
        "example.com/local": ("v0.0.0", "pkg:golang/example.com/local@v0.0.0"),
        "gopkg.in/yaml.v3": ("v3.0.1", "pkg:golang/gopkg.in/yaml.v3@v3.0.1"),
        # (devel) main module: the version comes from -ldflags -X main.version=1.2.3
        "example.com/app": ("1.2.3", "pkg:golang/example.com/app@1.2.3"),
        "stdlib": ("go1.22.5", "pkg:golang/stdlib@1.22.5"),
    }
    pkgs = {p.name: p for p in result.packages}
    for p in result.packages:
        assert p.type == "golang"
        assert p.found_by == "go-module-binary"
        assert p.locations == (Location("usr/local/bin/server", 2),)
        assert p.layer == 2
        assert p.metadata["goVersion"] == "go1.22.5"
        assert p.metadata["mainModule"] == "example.com/app"
        assert p.metadata["architecture"] == "arm64"  # GOARCH beats the ELF machine
    cobra = pkgs["github.com/spf13/cobra"].metadata
    assert cobra["h1Digest"] == "h1:7aJaZx1B85qltLMc546zn58BxxfZdR/W22ej9CFoEf0="
    fork = pkgs["github.com/fork/net"].metadata
    assert fork["replaces"] == "golang.org/x/net@v0.17.0"
    assert fork["h1Digest"] == "h1:fork="
    assert pkgs["example.com/local"].metadata["replacedBy"] == "../local"
    main = pkgs["example.com/app"].metadata
    assert main["main"] is True
    assert main["buildSettings"]["-ldflags"] == "-s -w -X main.version=1.2.3"
    assert main["buildSettings"]["vcs.revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert pkgs["stdlib"].licenses == ("BSD-3-Clause",)


@pytest.mark.parametrize(
    ("bits", "little", "machine", "goarch"),
    [
        (64, True, EM_X86_64, "amd64"),
        (64, False, EM_S390, "s390x"),
        (32, True, EM_386, "386"),
        (32, False, EM_MIPS, "mips"),
    ],
)
@pytest.mark.parametrize("pointer_format", [False, True], ids=["inline", "pointers"])
def test_every_elf_class_and_byte_order(
    bits: int, little: bool, machine: int, goarch: str, pointer_format: bool
) -> None:
    modinfo = go_modinfo(deps=[("github.com/a/b", "v1.0.0", "h1:x=")])
    build = go_binary_pointer_format if pointer_format else go_binary
    data = build("go1.16.15", modinfo, bits=bits, little_endian=little, machine=machine)
    result = catalog(record(data))
    assert result.warnings == []
    assert by_name(result) == {
        "github.com/a/b": ("v1.0.0", "pkg:golang/github.com/a/b@v1.0.0"),
        "example.com/app": ("(devel)", "pkg:golang/example.com/app@%28devel%29"),
        "stdlib": ("go1.16.15", "pkg:golang/stdlib@1.16.15"),
    }
    # No GOARCH build setting before Go 1.18: the ELF machine decides.
    assert {p.metadata["architecture"] for p in result.packages} == {goarch}


def test_binary_without_section_table_is_found_by_its_magic() -> None:
    # A PE/Mach-O or section-stripped file: the magic is searched for; a stray copy of the
    # magic (as the go command carries in its rodata) is skipped.
    blob = go_buildinfo_inline("go1.21.0", go_modinfo())
    data = b"MZ" + bytes(100) + GO_MAGIC + b"not a header" + bytes(50) + blob + bytes(64)
    assert by_name(catalog(record(data, "app/server.exe")))["stdlib"] == (
        "go1.21.0",
        "pkg:golang/stdlib@1.21.0",
    )
    stripped = bytearray(go_binary("go1.21.0"))
    struct.pack_into("<Q", stripped, 0x28, 0)  # e_shoff: no section table
    struct.pack_into("<HH", stripped, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    assert "stdlib" in by_name(catalog(record(bytes(stripped))))


def test_other_files_give_nothing_and_no_warning() -> None:
    c_binary = elf([Sec(".text", b"\x90" * 32, 0x401000), Sec(".data", b"x" * 8, 0x402000)])
    result = catalog(
        record(c_binary),
        record(b"#!/bin/sh\necho hi\n", "usr/bin/hello"),
        record(b""),
        record(None, "usr/bin/huge"),  # over max_file_size: the walker already warned
    )
    assert result.packages == []
    assert result.warnings == []


def test_binary_built_outside_module_mode_reports_only_stdlib() -> None:
    data = go_binary("go1.20.3 X:boringcrypto", b"")
    result = catalog(record(data))
    assert by_name(result) == {"stdlib": ("go1.20.3", "pkg:golang/stdlib@1.20.3")}
    assert result.packages[0].metadata["goVersion"] == "go1.20.3 X:boringcrypto"


def test_devel_toolchain_and_command_line_arguments_are_not_packages() -> None:
    modinfo = go_modinfo(
        path="command-line-arguments",
        main=("command-line-arguments", "(devel)", ""),
        deps=[("github.com/a/b", "v1.0.0", "")],
    )
    result = catalog(record(go_binary("devel go1.23-abcdef Tue Jan 1 00:00:00 2024", modinfo)))
    assert by_name(result) == {"github.com/a/b": ("v1.0.0", "pkg:golang/github.com/a/b@v1.0.0")}


def test_main_module_with_a_stamped_version() -> None:
    modinfo = go_modinfo(main=("github.com/acme/tool", "v2.3.4+dirty", "h1:m="))
    result = catalog(record(go_binary("go1.24.0", modinfo)))
    assert by_name(result)["github.com/acme/tool"] == (
        "v2.3.4+dirty",
        "pkg:golang/github.com/acme/tool@v2.3.4%2Bdirty",
    )


# --- the module information text -----------------------------------------------------------


def test_parse_modinfo_quoting_and_bad_lines() -> None:
    text = "\n".join(
        [
            "path\texample.com/app",
            "mod\texample.com/app\t(devel)\t",
            "dep\tgithub.com/a/b\tv1.0.0\th1:ab=",
            "dep\tonly-one-column",
            "=>\tgithub.com/c/d\tv2.0.0\th1:cd=",  # replaces a/b: the bad line is skipped
            "=>\tgithub.com/e/f\tv1.0.0\t",  # a second replacement has nothing to replace
            "unknown\tline",
            "no-tab-here",
            "build\t-ldflags=\"-X 'main.v=1 2'\\t\\x41\\u00e9\"",
            'build\t"quoted key"=`raw value`',
            "build\tCGO_ENABLED=1",
            "build\t=novalue",
            'build\tbroken="unterminated',
            "build\tnoequals",
            "",
        ]
    )
    info = parse_modinfo(text, go_version="go1.22.0")
    assert info.path == "example.com/app"
    assert info.main is not None
    assert info.main.version == "(devel)"
    assert len(info.deps) == 1
    assert info.deps[0].replace is not None
    assert info.deps[0].replace.path == "github.com/c/d"
    assert info.setting("-ldflags") == "-X 'main.v=1 2'\tAé"
    assert info.setting("quoted key") == "raw value"
    assert info.setting("CGO_ENABLED") == "1"
    assert len(info.problems) == 6


def test_malformed_lines_become_warnings_and_the_rest_is_kept() -> None:
    modinfo = go_modinfo(deps=[("github.com/a/b", "v1.0.0", "")], raw_lines=["dep\tbad"])
    result = catalog(record(go_binary("go1.22.0", modinfo)))
    assert "github.com/a/b" in by_name(result)
    assert [w.kind for w in result.warnings] == ["malformed-buildinfo"]
    assert result.warnings[0].path == "usr/local/bin/server"
    assert result.warnings[0].source == "go-module-binary"


# --- hostile input -------------------------------------------------------------------------


def _buildinfo_elf(blob: bytes) -> bytes:
    return elf([Sec(".go.buildinfo", blob, 0x500000)])


def hostile_cases() -> dict[str, bytes]:
    header = GO_MAGIC + bytes([8, 2]) + bytes(16)
    good = go_binary()
    shoff = struct.unpack_from("<Q", good, 0x28)[0]
    past_eof = bytearray(good)
    # Point .go.buildinfo (section 2) far past the end of the file.
    struct.pack_into("<Q", past_eof, shoff + 2 * 64 + 24, len(good) + 4096)
    huge_count = bytearray(good)
    struct.pack_into("<H", huge_count, 0x3C, 0xFFFE)
    over_limit = bytearray(good)
    struct.pack_into("<H", over_limit, 0x3C, 0)  # extended numbering: count in section 0
    struct.pack_into("<Q", over_limit, shoff + 32, 10**6)
    bad_strndx = bytearray(good)
    struct.pack_into("<H", bad_strndx, 0x3E, 200)
    return {
        "truncated-header": good[:40],
        "truncated-section-table": good[: shoff + 10],
        "section-past-eof": bytes(past_eof),
        "section-table-past-eof": bytes(huge_count),
        "too-many-sections": bytes(over_limit),
        "bad-name-table-index": bytes(bad_strndx),
        "varint-overflow": _buildinfo_elf(header + b"\xff" * 11),
        "varint-truncated": _buildinfo_elf(header + b"\xff\xff"),
        "length-past-end": _buildinfo_elf(header + uvarint(8) + b"go1.22.0" + uvarint(1000)),
        "length-over-limit": _buildinfo_elf(header + uvarint(1 << 40)),
        "section-without-magic": _buildinfo_elf(b"\0" * 64),
        "pointer-unmapped": _buildinfo_elf(
            GO_MAGIC + bytes([8, 0]) + struct.pack("<QQ", 0xDEAD0000, 0xBEEF0000)
        ),
        "pointer-bad-size": _buildinfo_elf(GO_MAGIC + bytes([3, 0]) + bytes(16)),
    }


@pytest.mark.parametrize("case", sorted(hostile_cases()))
def test_hostile_binaries_become_warnings(case: str) -> None:
    result = catalog(record(hostile_cases()[case]))
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["unreadable"], case
    assert result.warnings[0].path == "usr/local/bin/server"


def test_one_bad_binary_does_not_hide_the_others() -> None:
    result = catalog(
        record(hostile_cases()["varint-overflow"], "usr/bin/bad"),
        record(go_binary(), "usr/bin/good"),
    )
    assert "stdlib" in by_name(result)
    assert [(w.kind, w.path) for w in result.warnings] == [("unreadable", "usr/bin/bad")]


def test_pointer_format_outside_elf_is_refused() -> None:
    data = b"MZ" + bytes(14) + GO_MAGIC + bytes([8, 0]) + struct.pack("<QQ", 1, 2)
    result = catalog(record(data, "app/tool.exe"))
    assert [w.kind for w in result.warnings] == ["unreadable"]


def test_sentinels_are_required_for_module_information() -> None:
    # Framing that is not Go's (no newline before the end sentinel): treated as no modules.
    bad = GO_INFO_START + b"path\tx\nmod\tx\t(devel)" + GO_INFO_END
    info = read_build_info(go_binary("go1.22.0", bad))
    assert info is not None
    assert info.main is None


# --- the ELF reader ------------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "little"), [(64, True), (64, False), (32, True), (32, False)])
def test_elf_reader_sections_segments_and_addresses(bits: int, little: bool) -> None:
    data = elf(
        [
            Sec(".text", b"code" * 4, 0x1000),
            Sec(".note.x", b"payload"),
            Sec(".bss", b"", 0x3000, 8),
        ],
        bits=bits,
        little_endian=little,
        machine=EM_AARCH64,
    )
    parsed = parse_elf(data)
    assert parsed.bits == bits
    assert parsed.byteorder == ("little" if little else "big")
    assert parsed.machine == EM_AARCH64
    assert [s.name for s in parsed.sections] == ["", ".text", ".note.x", ".bss", ".shstrtab"]
    note = parsed.section(".note.x")
    assert note is not None
    assert parsed.section_data(note) == b"payload"
    bss = parsed.section(".bss")
    assert bss is not None
    assert parsed.section_data(bss) == b""
    assert parsed.read_vaddr(0x1004, 4) == b"code"
    with pytest.raises(ElfError):
        parsed.read_vaddr(0x1000, 100)
    with pytest.raises(ElfError):
        parsed.section_data(note, max_size=3)


def test_elf_extended_section_numbering() -> None:
    data = bytearray(elf([Sec(".a", b"A"), Sec(".b", b"B")]))
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    struct.pack_into("<HH", data, 0x3C, 0, 0xFFFF)
    struct.pack_into("<Q", data, shoff + 32, shnum)  # section 0's sh_size
    struct.pack_into("<I", data, shoff + 40, shstrndx)  # section 0's sh_link
    parsed = parse_elf(bytes(data))
    assert [s.name for s in parsed.sections][1:3] == [".a", ".b"]


def test_elf_limits() -> None:
    assert MAX_SECTIONS >= 0xFF00
    with pytest.raises(ElfError):
        parse_elf(b"\x7fELF\x03\x01" + bytes(60))  # unknown class
    with pytest.raises(ElfError):
        parse_elf(b"\x7fELF\x02\x07" + bytes(60))  # unknown byte order
    with pytest.raises(ElfError):
        parse_elf(b"not elf at all")


# --- a real Go binary ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def go_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("go")
    return tmp_path_factory.mktemp("gobuild")


@pytest.mark.integration
@pytest.mark.parametrize("goarch", ["amd64", "mips"])  # 64-bit LE and 32-bit BE ELF
def test_real_go_binary(go_build_dir: Path, goarch: str) -> None:
    work = go_build_dir / goarch
    work.mkdir()
    binary = build_go_module_binary(work, goarch=goarch, go=shutil.which("go") or "go")
    data = binary.read_bytes()
    result = catalog(record(data, "usr/local/bin/app", 1))
    assert result.warnings == []
    found = by_name(result)
    info = read_build_info(data)
    assert info is not None
    go_version = info.go_version.split()[0]
    assert found == {
        "example.com/app": ("1.0", "pkg:golang/example.com/app@1.0"),  # from -ldflags -X
        "example.com/lib": ("v1.4.0", "pkg:golang/example.com/lib@v1.4.0"),
        "example.com/newlib": ("v1.1.0", "pkg:golang/example.com/newlib@v1.1.0"),
        "example.com/greeter": ("v1.2.3", "pkg:golang/example.com/greeter@v1.2.3"),
        "stdlib": (go_version, f"pkg:golang/stdlib@{go_version.removeprefix('go')}"),
    }
    pkgs = {p.name: p for p in result.packages}
    assert pkgs["example.com/lib"].metadata["h1Digest"].startswith("h1:")
    assert pkgs["example.com/newlib"].metadata["replaces"] == "example.com/oldlib@v1.0.0"
    assert pkgs["example.com/greeter"].metadata["replacedBy"] == "../greeter"
    settings = pkgs["example.com/app"].metadata["buildSettings"]
    assert settings["GOARCH"] == goarch
    assert settings["-ldflags"] == "-s -w -X main.version=1.0"


def test_gopath_build_reports_package_path_as_main() -> None:
    """Debian builds in GOPATH mode: no ``mod`` line, only ``path`` (like /usr/bin/skopeo)."""
    info = parse_modinfo("path\tgithub.com/containers/skopeo/cmd/skopeo\nbuild\tGOOS=linux\n")
    pkgs = module_packages(info, Location("usr/bin/skopeo", 0))
    main = [p for p in pkgs if p.metadata.get("main")]
    assert [(p.name, p.version) for p in main] == [
        ("github.com/containers/skopeo/cmd/skopeo", "(devel)")
    ]
    assert main[0].metadata["gopath"] is True
