"""Go module binaries: the build information the Go linker embeds in every executable.

Since Go 1.13 the linker writes a 32-byte header starting with ``\\xff Go buildinf:`` (in the
``.go.buildinfo`` section of ELF files): byte 14 is the pointer size, byte 15 the flags. With
flag 2 set (Go 1.18+) the Go version and the module information follow the header inline as
varint-length-prefixed strings; otherwise (Go 1.13 to 1.17) the header holds two pointers to Go
string headers, resolved here through the ELF program headers (flag 1: big-endian pointers).
The module information is the text ``go version -m`` prints (``path``, ``mod``, ``dep``,
``=>`` and ``build`` lines), framed by two 16-byte sentinels.

Packages, following Syft's conventions: every ``dep`` (its replacement when one was a module,
see :func:`module_packages`), the main module (often with version ``(devel)``) and ``stdlib``
with the toolchain version (``version="go1.22.5"``, ``purl=pkg:golang/stdlib@1.22.5``).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sealyard.errors import UntrustedDataError
from sealyard.sbom.catalogers._elf import (
    ElfFile,
    is_elf,
    looks_like_executable_path,
    machine_name,
    parse_elf,
)
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = [
    "BUILDINFO_MAGIC",
    "GoBuildInfo",
    "GoBuildInfoError",
    "GoModule",
    "GoModuleBinaryCataloger",
    "module_packages",
    "parse_modinfo",
    "read_build_info",
]

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_FLAG_BIG_ENDIAN = 0x1
_FLAG_INLINE = 0x2
_SENTINEL_SIZE = 16

#: Longest Go version string accepted (``go1.22.5 X:boringcrypto`` is typical).
MAX_VERSION_LENGTH = 4096
#: Largest module information blob accepted (a binary with 1000 deps has about 150 KiB).
MAX_MODINFO_LENGTH = 16 * 1024 * 1024
#: Most ``dep`` lines and ``build`` settings read from one binary.
MAX_MODULES = 50_000
MAX_SETTINGS = 4_096
#: Most magic-string hits examined when searching a file without an ELF section table.
MAX_MAGIC_CANDIDATES = 64

DEVEL = "(devel)"

# ELF e_machine names to GOARCH, for binaries without a GOARCH build setting (before 1.18).
_GOARCH = {
    "i386": "386",
    "x86_64": "amd64",
    "arm": "arm",
    "aarch64": "arm64",
    "mips": "mips",
    "ppc64": "ppc64",
    "s390": "s390x",
    "riscv": "riscv64",
    "loongarch": "loong64",
}
_GO_RELEASE = re.compile(r"go\d+(?:\.\d+)*")
_LOCAL_PATH = re.compile(r"^(?:\.{1,2}(?:/|\\|$)|/|\\|[A-Za-z]:[\\/])")


class GoBuildInfoError(UntrustedDataError):
    """A Go binary's build information is truncated or malformed."""


@dataclass(frozen=True)
class GoModule:
    """A module as ``runtime/debug.Module`` describes it."""

    path: str
    version: str
    sum: str = ""
    replace: GoModule | None = None


@dataclass(frozen=True)
class GoBuildInfo:
    """The decoded build information of one binary (``runtime/debug.BuildInfo``).

    ``problems`` lists lines that could not be parsed; the rest is still usable.
    """

    go_version: str
    path: str = ""
    main: GoModule | None = None
    deps: tuple[GoModule, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()
    #: The ELF ``e_machine`` name (``x86_64``, …) when read from an ELF file.
    machine: str = ""

    def setting(self, key: str) -> str | None:
        for k, v in self.settings:
            if k == key:
                return v
        return None


# --- locating and decoding the blob --------------------------------------------------------


def read_build_info(data: bytes) -> GoBuildInfo | None:
    """The build information of a Go executable, or ``None`` if ``data`` is not one.

    ELF files with a section table are judged by their ``.go.buildinfo`` section alone (so a
    C binary costs one header parse); other files (stripped section tables, PE, Mach-O) are
    searched for the magic.

    Raises:
        GoBuildInfoError: the file is a Go binary but its build information is malformed.
        ElfError: the file claims to be ELF but its headers are broken.
    """
    elf: ElfFile | None = None
    if is_elf(data):
        elf = parse_elf(data)
        if elf.has_sections:
            sec = elf.section(".go.buildinfo")
            if sec is None:
                return None
            blob = elf.section_data(sec, max_size=_HEADER_SIZE + MAX_MODINFO_LENGTH + 32)
            if not blob.startswith(BUILDINFO_MAGIC):
                raise GoBuildInfoError(".go.buildinfo section does not start with the magic")
            info = _decode(blob, 0, elf)
        else:
            info = _search(data, elf)
        if info is not None:
            info = dataclasses.replace(info, machine=machine_name(elf.machine))
        return info
    return _search(data, None)


def _search(data: bytes, elf: ElfFile | None) -> GoBuildInfo | None:
    start = 0
    error: GoBuildInfoError | None = None
    for _ in range(MAX_MAGIC_CANDIDATES):
        i = data.find(BUILDINFO_MAGIC, start)
        if i < 0:
            break
        start = i + 1
        header = data[i : i + _HEADER_SIZE]
        if len(header) < _HEADER_SIZE or header[14] not in (4, 8) or header[15] & ~0x3:
            continue  # the magic as a string constant elsewhere (e.g. in the go command)
        try:
            return _decode(data, i, elf)
        except GoBuildInfoError as exc:
            error = exc
    if error is not None:
        raise error
    return None


def _decode(buf: bytes, at: int, elf: ElfFile | None) -> GoBuildInfo | None:
    if len(buf) - at < _HEADER_SIZE:
        raise GoBuildInfoError("build info header is truncated")
    ptr_size, flags = buf[at + 14], buf[at + 15]
    if flags & _FLAG_INLINE:
        pos = at + _HEADER_SIZE
        version, pos = _varint_string(buf, pos, MAX_VERSION_LENGTH, "Go version")
        modinfo, _ = _varint_string(buf, pos, MAX_MODINFO_LENGTH, "module information")
    else:
        if ptr_size not in (4, 8):
            raise GoBuildInfoError(f"pointer size {ptr_size} is neither 4 nor 8")
        if elf is None:
            raise GoBuildInfoError(
                "pre-Go 1.18 build information can only be resolved in ELF files"
            )
        order: Literal["little", "big"] = "big" if flags & _FLAG_BIG_ENDIAN else "little"
        ptrs = buf[at + 16 : at + 16 + 2 * ptr_size]
        if len(ptrs) < 2 * ptr_size:
            raise GoBuildInfoError("build info pointers are truncated")
        version = _go_string(
            elf, int.from_bytes(ptrs[:ptr_size], order), ptr_size, order, MAX_VERSION_LENGTH
        )
        modinfo = _go_string(
            elf, int.from_bytes(ptrs[ptr_size:], order), ptr_size, order, MAX_MODINFO_LENGTH
        )
    go_version = version.decode("utf-8", "replace").strip()
    if not go_version:
        return None
    if len(modinfo) >= 2 * _SENTINEL_SIZE + 1 and modinfo[-_SENTINEL_SIZE - 1] == 0x0A:
        modinfo = modinfo[_SENTINEL_SIZE:-_SENTINEL_SIZE]
    else:
        modinfo = b""  # built outside module mode: only the Go version is known
    return parse_modinfo(modinfo.decode("utf-8", "replace"), go_version=go_version)


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint as Go's ``binary.Uvarint`` does."""
    value = shift = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise GoBuildInfoError("varint is truncated")
        byte = buf[pos + i]
        if i == 9 and byte > 1:
            raise GoBuildInfoError("varint overflows 64 bits")
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + i + 1
        shift += 7
    raise GoBuildInfoError("varint overflows 64 bits")


def _varint_string(buf: bytes, pos: int, limit: int, what: str) -> tuple[bytes, int]:
    length, pos = _uvarint(buf, pos)
    if length > limit:
        raise GoBuildInfoError(f"{what} claims {length} bytes, over the {limit} limit")
    if pos + length > len(buf):
        raise GoBuildInfoError(f"{what} is truncated")
    return buf[pos : pos + length], pos + length


def _go_string(
    elf: ElfFile, addr: int, ptr_size: int, order: Literal["little", "big"], limit: int
) -> bytes:
    """Read a Go string header (data pointer, length) at ``addr``, then its bytes."""
    try:
        hdr = elf.read_vaddr(addr, 2 * ptr_size)
        data_addr = int.from_bytes(hdr[:ptr_size], order)
        length = int.from_bytes(hdr[ptr_size:], order)
        if length > limit:
            raise GoBuildInfoError(f"string at {addr:#x} claims {length} bytes, over {limit}")
        return elf.read_vaddr(data_addr, length)
    except GoBuildInfoError:
        raise
    except UntrustedDataError as exc:
        raise GoBuildInfoError(f"build info pointer does not resolve: {exc}") from exc


# --- the module information text -----------------------------------------------------------


def parse_modinfo(text: str, *, go_version: str = "") -> GoBuildInfo:
    """Parse the text ``runtime/debug.ParseBuildInfo`` reads (without the sentinels).

    Tolerant: a bad line is recorded in ``problems`` and skipped.
    """
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    problems: list[str] = []
    last: str | None = None  # "main" or "dep": what a following "=>" line replaces

    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        tag, sep, rest = line.partition("\t")
        if not sep:
            problems.append(f"line {number}: no tab-separated field")
            continue
        if tag == "go":
            go_version = go_version or rest
        elif tag == "path":
            path = rest
        elif tag in ("mod", "dep", "=>"):
            mod = _module_line(rest)
            if mod is None:
                problems.append(f"line {number}: expected 2 or 3 columns after {tag!r}")
                continue
            if tag == "mod":
                main, last = mod, "main"
            elif tag == "dep":
                if len(deps) >= MAX_MODULES:
                    problems.append(f"more than {MAX_MODULES} dependencies; the rest ignored")
                    break
                deps.append(mod)
                last = "dep"
            elif last == "main" and main is not None:
                main, last = GoModule(main.path, main.version, main.sum, mod), None
            elif last == "dep":
                d = deps[-1]
                deps[-1], last = GoModule(d.path, d.version, d.sum, mod), None
            else:
                problems.append(f"line {number}: replacement without a module before it")
        elif tag == "build":
            if len(settings) >= MAX_SETTINGS:
                problems.append(f"more than {MAX_SETTINGS} build settings; the rest ignored")
                continue
            kv = _build_setting(rest)
            if kv is None:
                problems.append(f"line {number}: malformed build setting")
            else:
                settings.append(kv)
        # Unknown tags are ignored, as Go does.
    return GoBuildInfo(
        go_version=go_version,
        path=path,
        main=main,
        deps=tuple(deps),
        settings=tuple(settings),
        problems=tuple(problems),
    )


def _module_line(rest: str) -> GoModule | None:
    cols = rest.split("\t")
    if len(cols) not in (2, 3) or not cols[0]:
        return None
    return GoModule(cols[0], cols[1], cols[2] if len(cols) == 3 else "")


def _build_setting(kv: str) -> tuple[str, str] | None:
    if not kv or kv[0] == "=":
        return None
    if kv[0] in '"`':
        quoted = _unquote_prefix(kv)
        if quoted is None or not quoted[1].startswith("="):
            return None
        key, raw = quoted[0], quoted[1][1:]
    else:
        key, sep, raw = kv.partition("=")
        if not sep:
            return None
    if raw and raw[0] in '"`':
        quoted = _unquote_prefix(raw)
        if quoted is None or quoted[1]:
            return None
        return key, quoted[0]
    return key, raw


_ESCAPES = {
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B,
    "\\": 0x5C, "'": 0x27, '"': 0x22,
}  # fmt: skip
_HEX = frozenset("0123456789abcdefABCDEF")


def _unquote_prefix(s: str) -> tuple[str, str] | None:
    """Unquote the Go string literal at the start of ``s`` (``strconv.QuotedPrefix`` +
    ``strconv.Unquote``): returns the value and the rest of ``s``, or ``None``."""
    if s[0] == "`":
        end = s.find("`", 1)
        return None if end < 0 else (s[1:end].replace("\r", ""), s[end + 1 :])
    out = bytearray()
    i, n = 1, len(s)
    while i < n:
        c = s[i]
        if c == '"':
            return out.decode("utf-8", "replace"), s[i + 1 :]
        if c == "\n":
            return None
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = s[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = s[i + 2 : i + 2 + width]
            if len(digits) != width or not set(digits) <= _HEX:
                return None
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                return None
            else:
                out += chr(value).encode()
            i += 2 + width
        elif e in "01234567":
            digits = s[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                return None
            out.append(int(digits, 8))
            i += 4
        else:
            return None
    return None


# --- packages ------------------------------------------------------------------------------


def _go_purl(module_path: str, version: str) -> str:
    namespace, _, name = module_path.rpartition("/")
    return purl("golang", name, version, namespace=namespace or None)


def _is_local(path: str) -> bool:
    return bool(_LOCAL_PATH.match(path))


_LDFLAGS_VERSION = re.compile(
    r"-X\s*=?\s*['\"]?[\w./-]*?(?:\.|/)(?:[Vv]ersion|gitVersion|GitVersion|Tag)=['\"]?"
    r"(v?[0-9][\w.+~-]*)"
)


def ldflags_version(info: GoBuildInfo) -> str | None:
    """A version injected with ``-ldflags -X pkg.Version=v1.2.3`` (the usual release idiom)."""
    match = _LDFLAGS_VERSION.search(info.setting("-ldflags") or "")
    return match.group(1) if match else None


def module_packages(
    info: GoBuildInfo,
    location: Location,
    *,
    found_by: str = "go-module-binary",
) -> list[Package]:
    """Packages for one binary's build information.

    * A ``dep`` replaced by another module (``=> example.com/fork v1.2.0``) is reported as the
      replacement, like Syft and Trivy; ``metadata["replaces"]`` names the original.
    * A ``dep`` replaced by a local directory (``=> ../fork``) keeps its module path and
      required version; ``metadata["replacedBy"]`` holds the directory.
    * The main module keeps its version, usually ``(devel)``; its build settings go in its
      metadata. ``command-line-arguments`` (``go build file.go``) is not a module: skipped.
    * ``stdlib`` is reported when the Go version is a release (not ``devel …``).
    """
    arch = info.setting("GOARCH") or _GOARCH.get(info.machine, "")
    main_path = info.main.path if info.main else info.path
    common: dict[str, Any] = {"goVersion": info.go_version, "mainModule": main_path}
    if arch:
        common["architecture"] = arch

    def make(name: str, version: str, metadata: Mapping[str, Any]) -> Package:
        return Package(
            name=name,
            version=version,
            type="golang",
            purl=_go_purl(name, version),
            found_by=found_by,
            locations=(location,),
            metadata={**common, **metadata},
            layer=location.layer,
        )

    packages: list[Package] = []
    for dep in info.deps:
        meta: dict[str, Any] = {}
        name, version, digest = dep.path, dep.version, dep.sum
        rep = dep.replace
        if rep is not None and _is_local(rep.path):
            meta["replacedBy"] = rep.path
        elif rep is not None:
            meta["replaces"] = f"{dep.path}@{dep.version}" if dep.version else dep.path
            name, version, digest = rep.path, rep.version, rep.sum
        if not name or not version:
            continue
        if digest:
            meta["h1Digest"] = digest
        packages.append(make(name, version, meta))

    main = info.main
    if main is not None and main.path and main.path != "command-line-arguments":
        meta = {"main": True, "buildSettings": dict(info.settings)}
        if main.sum:
            meta["h1Digest"] = main.sum
        released = main.version if main.version and main.version != DEVEL else None
        packages.append(make(main.path, released or ldflags_version(info) or DEVEL, meta))
    elif main is None and info.path and info.path != "command-line-arguments":
        # Built outside module mode (GOPATH, as Debian builds): only the package path is
        # known. Report it like Syft does, with a version from -ldflags when one was set.
        meta = {"main": True, "buildSettings": dict(info.settings), "gopath": True}
        packages.append(make(info.path, ldflags_version(info) or DEVEL, meta))

    release = info.go_version.split()[0] if info.go_version.split() else ""
    if _GO_RELEASE.match(release):
        packages.append(
            Package(
                name="stdlib",
                version=release,
                type="golang",
                purl=purl("golang", "stdlib", release.removeprefix("go")),
                found_by=found_by,
                locations=(location,),
                licenses=("BSD-3-Clause",),
                metadata=dict(common),
                layer=location.layer,
            )
        )
    return packages


class GoModuleBinaryCataloger(Cataloger):
    """Go executables anywhere executables usually live (see
    :func:`~sealyard.sbom.catalogers._elf.looks_like_executable_path`); the content decides."""

    name = "go-module-binary"
    max_file_size = 256 * 1024 * 1024

    def wants(self, path: str) -> bool:
        return looks_like_executable_path(path)

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in image.files:
            if record.data is not None:
                self._catalog_file(record, record.data, result)
        return result

    def _catalog_file(self, record: FileRecord, data: bytes, result: CatalogResult) -> None:
        try:
            info = read_build_info(data)
        except (UntrustedDataError, ValueError, IndexError, struct.error) as exc:
            result.warnings.append(
                warn(self.name, "unreadable", f"Go build info: {exc}", record.path, record.layer)
            )
            return
        if info is None:
            return
        for problem in info.problems:
            result.warnings.append(
                warn(self.name, "malformed-buildinfo", problem, record.path, record.layer)
            )
        result.packages.extend(
            module_packages(info, Location(record.path, record.layer), found_by=self.name)
        )
