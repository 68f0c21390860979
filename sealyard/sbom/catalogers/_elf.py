"""A minimal, bounded ELF reader shared by the binary catalogers (Go, Rust).

It reads what those catalogers need and nothing more: the file header, the section headers
with their names, and the program headers (to map virtual addresses to file offsets). It
handles 32- and 64-bit files of either byte order and the extended numbering used when a file
has 0xff00 sections or more. Every offset and count read from the file is checked against the
data before use, so a truncated or hostile file raises :class:`ElfError`, never an
``IndexError`` or a huge allocation.

It also holds the one location heuristic both binary catalogers use in ``wants()``, which sees
only a path: :func:`looks_like_executable_path`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Literal

from sealyard.errors import UntrustedDataError

__all__ = [
    "ELF_MAGIC",
    "MAX_SECTIONS",
    "MAX_SEGMENTS",
    "ElfError",
    "ElfFile",
    "Section",
    "Segment",
    "is_elf",
    "looks_like_executable_path",
    "machine_name",
    "parse_elf",
]

ELF_MAGIC = b"\x7fELF"

#: Most section headers read. Executables have a few dozen; object files built with
#: ``-ffunction-sections`` can have tens of thousands.
MAX_SECTIONS = 65_536
#: Most program headers read (executables have about ten).
MAX_SEGMENTS = 4_096
#: Longest section name kept; longer names are truncated (names are looked up, never trusted).
MAX_NAME_LENGTH = 256

SHT_NOBITS = 8
PT_LOAD = 1
_SHN_UNDEF = 0
_SHN_XINDEX = 0xFFFF
_PN_XNUM = 0xFFFF

# e_machine values, named as the ELF psABI supplements name the architecture.
_MACHINES: dict[int, str] = {
    2: "sparc",
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    43: "sparcv9",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
}


class ElfError(UntrustedDataError):
    """The data is not a well-formed ELF file, or a field points outside it."""


@dataclass(frozen=True, slots=True)
class Section:
    """One section header. ``offset``/``size`` are in the file; ``addr`` is the load address."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int

    @property
    def occupies_file(self) -> bool:
        """False for ``SHT_NOBITS`` sections (``.bss``), which have no bytes in the file."""
        return self.type != SHT_NOBITS


@dataclass(frozen=True, slots=True)
class Segment:
    """One program header."""

    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class ElfFile:
    """A parsed ELF file: headers only; contents are sliced from ``data`` on demand."""

    data: bytes = field(repr=False)
    bits: Literal[32, 64]
    little_endian: bool
    machine: int
    sections: tuple[Section, ...]
    segments: tuple[Segment, ...]

    @property
    def byteorder(self) -> Literal["little", "big"]:
        return "little" if self.little_endian else "big"

    @property
    def has_sections(self) -> bool:
        return bool(self.sections)

    def section(self, name: str) -> Section | None:
        """The first section called ``name``, if any."""
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def section_data(self, section: Section, max_size: int | None = None) -> bytes:
        """The bytes of ``section``.

        Raises:
            ElfError: the section lies (partly) outside the file, or is larger than
                ``max_size``.
        """
        if not section.occupies_file:
            return b""
        if max_size is not None and section.size > max_size:
            raise ElfError(
                f"section {section.name!r} is {section.size} bytes, over the {max_size} limit"
            )
        end = section.offset + section.size
        if end > len(self.data):
            raise ElfError(
                f"section {section.name!r} ends at {end}, past the end of the file "
                f"({len(self.data)} bytes)"
            )
        return self.data[section.offset : end]

    def read_vaddr(self, addr: int, size: int) -> bytes:
        """``size`` bytes at virtual address ``addr``, through the ``PT_LOAD`` segments (or,
        for files without program headers, the allocated sections).

        Raises:
            ElfError: no segment maps the whole range, or it lies outside the file.
        """
        if size < 0 or addr < 0:
            raise ElfError("negative address or size")
        ranges = [(s.vaddr, s.offset, s.filesz) for s in self.segments if s.type == PT_LOAD]
        if not ranges:
            ranges = [
                (s.addr, s.offset, s.size) for s in self.sections if s.addr and s.occupies_file
            ]
        for vaddr, offset, filesz in ranges:
            if vaddr <= addr and addr + size <= vaddr + filesz:
                start = offset + (addr - vaddr)
                if start + size > len(self.data):
                    raise ElfError(f"address {addr:#x} maps past the end of the file")
                return self.data[start : start + size]
        raise ElfError(f"no loaded segment holds {size} bytes at address {addr:#x}")


def is_elf(data: bytes) -> bool:
    """Whether ``data`` starts with the ELF magic."""
    return data[:4] == ELF_MAGIC


def machine_name(machine: int) -> str:
    """A readable name for an ``e_machine`` value (``x86_64``, ``aarch64``, …) or ``""``."""
    return _MACHINES.get(machine, "")


def parse_elf(data: bytes) -> ElfFile:
    """Parse the headers of an ELF file held in ``data``.

    Raises:
        ElfError: not ELF, truncated, or a header field points outside the data or exceeds
            :data:`MAX_SECTIONS` / :data:`MAX_SEGMENTS`.
    """
    if len(data) < 16 or not is_elf(data):
        raise ElfError("not an ELF file")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2):
        raise ElfError(f"unknown ELF class {ei_class}")
    if ei_data not in (1, 2):
        raise ElfError(f"unknown ELF data encoding {ei_data}")
    bits: Literal[32, 64] = 64 if ei_class == 2 else 32
    little = ei_data == 1
    end = "<" if little else ">"
    word = "Q" if bits == 64 else "I"

    # e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize,
    # e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    ehdr = struct.Struct(f"{end}HHI{word}{word}{word}IHHHHHH")
    if len(data) < 16 + ehdr.size:
        raise ElfError("truncated ELF header")
    (_, machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, shstrndx) = (
        ehdr.unpack_from(data, 16)
    )

    shdr = struct.Struct(
        f"{end}IIQQQQIIQQ" if bits == 64 else f"{end}IIIIIIIIII"
    )  # name, type, flags, addr, offset, size, link, info, addralign, entsize
    sections: tuple[Section, ...] = ()
    raw: list[tuple[int, int, int, int, int, int]] = []
    if shoff:
        if shentsize < shdr.size:
            raise ElfError(f"section header entries of {shentsize} bytes are too small")
        first = _unpack_entry(data, shdr, shoff, 0, shentsize, "section header")
        if shnum == 0:  # extended numbering: the real count is in section 0's sh_size
            shnum = first[5]
        if shstrndx == _SHN_XINDEX:
            shstrndx = first[6]
        if phnum == _PN_XNUM:
            phnum = first[7]
        if shnum > MAX_SECTIONS:
            raise ElfError(f"{shnum} sections, over the {MAX_SECTIONS} limit")
        if shoff + shnum * shentsize > len(data):
            raise ElfError("section header table extends past the end of the file")
        for i in range(shnum):
            name, typ, flags, addr, offset, size, *_ = _unpack_entry(
                data, shdr, shoff, i, shentsize, "section header"
            )
            raw.append((name, typ, flags, addr, offset, size))
        names = b""
        if shnum and shstrndx != _SHN_UNDEF:
            if shstrndx >= shnum:
                raise ElfError(f"section name table index {shstrndx} is out of range")
            _, ntype, _, _, noff, nsize = raw[shstrndx]
            if ntype != SHT_NOBITS:
                if noff + nsize > len(data):
                    raise ElfError("section name table extends past the end of the file")
                names = data[noff : noff + nsize]
        sections = tuple(
            Section(_name_at(names, n), typ, flags, addr, offset, size)
            for n, typ, flags, addr, offset, size in raw
        )

    phdr = struct.Struct(
        f"{end}IIQQQQQQ" if bits == 64 else f"{end}IIIIIIII"
    )  # 64: type, flags, offset, vaddr, paddr, filesz, memsz, align
    segments: list[Segment] = []
    if phoff and phnum:
        if phentsize < phdr.size:
            raise ElfError(f"program header entries of {phentsize} bytes are too small")
        if phnum > MAX_SEGMENTS:
            raise ElfError(f"{phnum} program headers, over the {MAX_SEGMENTS} limit")
        if phoff + phnum * phentsize > len(data):
            raise ElfError("program header table extends past the end of the file")
        for i in range(phnum):
            fields = _unpack_entry(data, phdr, phoff, i, phentsize, "program header")
            if bits == 64:
                ptype, _, poffset, vaddr, _, filesz, memsz, _ = fields
            else:
                ptype, poffset, vaddr, _, filesz, memsz, _, _ = fields
            segments.append(Segment(ptype, poffset, vaddr, filesz, memsz))

    return ElfFile(
        data=data,
        bits=bits,
        little_endian=little,
        machine=machine,
        sections=sections,
        segments=tuple(segments),
    )


def _unpack_entry(
    data: bytes, st: struct.Struct, table: int, index: int, entsize: int, what: str
) -> tuple[int, ...]:
    start = table + index * entsize
    if start + st.size > len(data):
        raise ElfError(f"{what} {index} extends past the end of the file")
    return tuple(st.unpack_from(data, start))


def _name_at(names: bytes, offset: int) -> str:
    if offset >= len(names):
        return ""
    end = names.find(b"\0", offset, offset + MAX_NAME_LENGTH)
    raw = names[offset : end if end >= 0 else offset + MAX_NAME_LENGTH]
    return raw.decode("utf-8", "replace")


# --- where executables live ---------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# A directory component that holds executables wherever it is (usr/local/bin, go/bin,
# node_modules/@esbuild/linux-x64/bin, usr/libexec/docker/cli-plugins, …).
_BIN_COMPONENTS = frozenset({"bin", "sbin", "libexec", "cli-plugins"})
# Top-level directories where images commonly put application binaries (ko uses /ko-app).
_APP_ROOTS = frozenset({"app", "opt", "srv", "ko-app"})
# Trees full of interpreted code; skipped under the app roots (a bin/ inside still counts).
_LIBRARY_COMPONENTS = frozenset({"node_modules", "site-packages", "dist-packages", "vendor"})
# Extensions that are certainly not executables.
_NOT_BINARY_EXTENSIONS = _words(
    """
    a o la lo so dll dylib lib pc cmake mk m4 in am ac h hh hpp hxx c cc cpp cxx go rs s asm
    py pyc pyo pyi pyd pxd pyx js mjs cjs ts tsx jsx map json jsonl yaml yml toml xml xsd
    xsl html htm xhtml css scss less md markdown rst txt text csv tsv ini cfg conf config
    properties env sh bash zsh fish csh ksh ps1 psm1 bat cmd pl pm pod t rb erb gemspec php
    lua tcl awk sed vim el elc java class jar war ear kt kts scala groovy gradle clj mo po
    pot gz tgz bz2 tbz xz txz zst lz4 lzma zip tar 7z rar deb rpm apk whl egg gem png jpg
    jpeg gif bmp svg ico webp tif tiff ttf otf woff woff2 eot pem crt cer key pub der p12
    pfx csr asc sig gpg pdf ps eps doc docx xls xlsx db sqlite sqlite3 log lock pid sock
    service socket timer target mount rules policy desktop dat idx pack rev hash sum mod
    tmpl tpl template j2 jinja proto thrift graphql gql sql prisma wasm license
    """
)
_NOT_BINARY_NAMES = _words(
    """
    license licence copying notice readme authors contributors changelog changes history
    makefile dockerfile patents codeowners
    """
)


def looks_like_executable_path(path: str) -> bool:
    """Whether a normalised path is a plausible place for a compiled executable.

    ``wants()`` only sees the path (not the mode, not the content), so the binary catalogers
    read files at the usual places for executables and let the content decide:

    * any file with a ``bin``, ``sbin``, ``libexec`` or ``cli-plugins`` directory component
      (``usr/bin/x``, ``usr/local/go/bin/go``, ``root/go/bin/x``, ``home/u/.local/bin/x``);
    * files directly in the image root (``/manager``, ``/server`` in distroless and scratch
      images);
    * files under ``app/``, ``opt/``, ``srv/`` and ``ko-app/``, except inside
      ``node_modules``/``site-packages``/``vendor`` trees;

    and, in all of these, never a file whose extension or name says it is not an executable
    (``.py``, ``.so``, ``.so.1``, ``.json``, ``LICENSE``, …). Dot-files are skipped.
    """
    head, _, base = path.rpartition("/")
    if not base or base[0] == ".":
        return False
    lower = base.lower()
    if ".so." in lower or lower in _NOT_BINARY_NAMES:
        return False
    dot = lower.rfind(".")
    if dot > 0 and lower[dot + 1 :] in _NOT_BINARY_EXTENSIONS:
        return False
    if not head:
        return True
    parts = head.split("/")
    if any(p in _BIN_COMPONENTS for p in parts):
        return True
    if parts[0] in _APP_ROOTS:
        return not any(p in _LIBRARY_COMPONENTS for p in parts)
    return False
