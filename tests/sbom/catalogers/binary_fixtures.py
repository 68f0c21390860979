"""Artifacts for the binary and archive catalogers, built by code.

Synthetic ones (always available): ELF files of either class and byte order with chosen
sections, Go build information in both encodings, cargo-auditable ``.dep-v0`` data, and
zip archives (jars, wars, ears, bombs). Real ones (integration tests, when the tool is
installed): a Go module binary built offline from a file-system module proxy, and a Rust
binary with a ``.dep-v0`` section added by ``objcopy``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GO_MAGIC = b"\xff Go buildinf:"
# cmd/go/internal/modload's infoStart / infoEnd sentinels around the module information.
GO_INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
GO_INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")

EM_X86_64 = 62
EM_386 = 3
EM_MIPS = 8
EM_S390 = 22
EM_AARCH64 = 183


# --- ELF -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sec:
    """A section to put in a synthetic ELF file; ``addr`` non-zero makes it loaded."""

    name: str
    data: bytes
    addr: int = 0
    type: int = 1  # SHT_PROGBITS


def elf(
    sections: Sequence[Sec] = (),
    *,
    bits: int = 64,
    little_endian: bool = True,
    machine: int = EM_X86_64,
    load: bool = True,
) -> bytes:
    """A minimal but well-formed ELF executable holding ``sections`` (plus the null section
    and ``.shstrtab``); with ``load``, one ``PT_LOAD`` segment per section with an address."""
    end = "<" if little_endian else ">"
    w = "Q" if bits == 64 else "I"
    ehsize = 64 if bits == 64 else 52
    phentsize = 56 if bits == 64 else 32
    shentsize = 64 if bits == 64 else 40
    loaded = [s for s in sections if s.addr] if load else []

    names = bytearray(b"\0")
    name_offsets = []
    for s in [*sections, Sec(".shstrtab", b"")]:
        name_offsets.append(len(names))
        names += s.name.encode() + b"\0"

    body = bytearray()
    cursor = ehsize + phentsize * len(loaded)
    offsets = []
    for s in sections:
        pad = (-cursor) % 16
        body += b"\0" * pad
        cursor += pad
        offsets.append(cursor)
        body += s.data
        cursor += len(s.data)
    shstr_off = cursor
    body += names
    cursor += len(names)
    pad = (-cursor) % 8
    body += b"\0" * pad
    cursor += pad
    shoff = cursor
    shnum = len(sections) + 2

    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little_endian else 2, 1]) + bytes(9)
    header = ident + struct.pack(
        f"{end}HHI{w}{w}{w}IHHHHHH",
        2,  # ET_EXEC
        machine,
        1,
        0x401000,
        ehsize if loaded else 0,
        shoff,
        0,
        ehsize,
        phentsize,
        len(loaded),
        shentsize,
        shnum,
        shnum - 1,
    )
    phdrs = bytearray()
    for s in loaded:
        off = offsets[sections.index(s)]
        if bits == 64:
            phdrs += struct.pack(
                f"{end}IIQQQQQQ", 1, 4, off, s.addr, s.addr, len(s.data), len(s.data), 0x1000
            )
        else:
            phdrs += struct.pack(
                f"{end}IIIIIIII", 1, off, s.addr, s.addr, len(s.data), len(s.data), 4, 0x1000
            )

    def shdr(name: int, typ: int, addr: int, off: int, size: int) -> bytes:
        if bits == 64:
            return struct.pack(
                f"{end}IIQQQQIIQQ", name, typ, 2 if addr else 0, addr, off, size, 0, 0, 1, 0
            )
        return struct.pack(
            f"{end}IIIIIIIIII", name, typ, 2 if addr else 0, addr, off, size, 0, 0, 1, 0
        )

    table = bytearray(bytes(shentsize))
    for i, s in enumerate(sections):
        table += shdr(name_offsets[i], s.type, s.addr, offsets[i], len(s.data))
    table += shdr(name_offsets[-1], 3, 0, shstr_off, len(names))  # SHT_STRTAB
    return bytes(header + phdrs + body + table)


# --- Go ------------------------------------------------------------------------------------


def uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def go_modinfo(
    *,
    path: str = "example.com/app",
    main: tuple[str, str, str] | None = ("example.com/app", "(devel)", ""),
    deps: Sequence[tuple[str, str, str] | tuple[str, str, str, tuple[str, str, str]]] = (),
    settings: Sequence[tuple[str, str]] = (),
    raw_lines: Sequence[str] = (),
) -> bytes:
    """The module information text as ``cmd/go`` writes it, framed by the sentinels.

    A dep given as ``(path, version, sum, (rpath, rversion, rsum))`` gets a ``=>`` line.
    Build settings are written verbatim (quote them as Go would in the test).
    """
    lines = [f"path\t{path}"]
    if main is not None:
        lines.append("mod\t" + "\t".join(main))
    for dep in deps:
        lines.append(f"dep\t{dep[0]}\t{dep[1]}\t{dep[2]}")
        if len(dep) == 4:
            lines.append("=>\t" + "\t".join(dep[3]))
    lines += [f"build\t{k}={v}" for k, v in settings]
    lines += raw_lines
    return GO_INFO_START + ("\n".join(lines) + "\n").encode() + GO_INFO_END


def go_buildinfo_inline(
    version: str, modinfo: bytes, *, ptr_size: int = 8, big_endian: bool = False
) -> bytes:
    """A Go 1.18+ ``.go.buildinfo`` blob: header, then varint-prefixed version and modinfo."""
    flags = 0x2 | (0x1 if big_endian else 0)
    header = GO_MAGIC + bytes([ptr_size, flags]) + bytes(16)
    v = version.encode()
    return header + uvarint(len(v)) + v + uvarint(len(modinfo)) + modinfo


def go_binary(
    version: str = "go1.22.5",
    modinfo: bytes | None = None,
    *,
    bits: int = 64,
    little_endian: bool = True,
    machine: int = EM_X86_64,
) -> bytes:
    """A synthetic ELF Go binary with an inline-format ``.go.buildinfo`` section."""
    if modinfo is None:
        modinfo = go_modinfo()
    blob = go_buildinfo_inline(version, modinfo, ptr_size=bits // 8, big_endian=not little_endian)
    return elf(
        [Sec(".text", b"\x90" * 64, 0x401000), Sec(".go.buildinfo", blob, 0x500000)],
        bits=bits,
        little_endian=little_endian,
        machine=machine,
    )


def go_binary_pointer_format(
    version: str = "go1.16.15",
    modinfo: bytes | None = None,
    *,
    bits: int = 64,
    little_endian: bool = True,
    machine: int = EM_X86_64,
) -> bytes:
    """A synthetic ELF Go binary in the Go 1.13-1.17 layout: the header holds pointers to Go
    string headers in ``.data``, which point to the bytes."""
    if modinfo is None:
        modinfo = go_modinfo()
    ptr = bits // 8
    order = "<" if little_endian else ">"
    fmt = f"{order}{'Q' if ptr == 8 else 'I'}"
    data_addr = 0x600000
    v = version.encode()
    ver_hdr, mod_hdr = data_addr, data_addr + 2 * ptr
    ver_at = data_addr + 4 * ptr
    mod_at = ver_at + len(v)
    data = (
        struct.pack(fmt, ver_at)
        + struct.pack(fmt, len(v))
        + struct.pack(fmt, mod_at)
        + struct.pack(fmt, len(modinfo))
        + v
        + modinfo
    )
    header = GO_MAGIC + bytes([ptr, 0 if little_endian else 1])
    header += struct.pack(fmt, ver_hdr) + struct.pack(fmt, mod_hdr)
    header += bytes(32 - len(header))
    return elf(
        [
            Sec(".text", b"\x90" * 64, 0x401000),
            Sec(".go.buildinfo", header, 0x500000),
            Sec(".data", data, data_addr),
        ],
        bits=bits,
        little_endian=little_endian,
        machine=machine,
    )


def build_go_module_binary(work: Path, *, goarch: str = "amd64", go: str = "go") -> Path:
    """Build a real Go binary offline: ``example.com/app`` requiring

    * ``example.com/lib v1.4.0`` from a ``file://`` module proxy made here (real go.sum),
    * ``example.com/oldlib v1.0.0`` replaced by module ``example.com/newlib v1.1.0``,
    * ``example.com/greeter v1.2.3`` replaced by the local directory ``../greeter``,

    with ``-ldflags`` containing spaces (so the build setting is quoted).
    """
    proxy = work / "proxy"

    def publish(proxy_path: str, module: str, version: str, pkg: str) -> None:
        d = proxy / proxy_path / "@v"
        d.mkdir(parents=True, exist_ok=True)
        gomod = f"module {module}\n\ngo 1.19\n"
        (d / f"{version}.mod").write_text(gomod)
        (d / f"{version}.info").write_text(json.dumps({"Version": version}))
        with (d / "list").open("a") as fh:
            fh.write(version + "\n")
        with zipfile.ZipFile(d / f"{version}.zip", "w") as zf:
            zf.writestr(f"{proxy_path}@{version}/go.mod", gomod)
            zf.writestr(
                f"{proxy_path}@{version}/{pkg}.go",
                f'package {pkg}\n\nfunc Name() string {{ return "{pkg}" }}\n',
            )

    publish("example.com/lib", "example.com/lib", "v1.4.0", "lib")
    publish("example.com/newlib", "example.com/oldlib", "v1.1.0", "oldlib")

    greeter = work / "greeter"
    greeter.mkdir()
    (greeter / "go.mod").write_text("module example.com/greeter\n\ngo 1.19\n")
    (greeter / "greeter.go").write_text(
        'package greeter\n\nfunc Hello() string { return "hello" }\n'
    )
    app = work / "app"
    app.mkdir()
    (app / "go.mod").write_text(
        "module example.com/app\n\ngo 1.19\n\n"
        "require (\n\texample.com/greeter v1.2.3\n\texample.com/lib v1.4.0\n"
        "\texample.com/oldlib v1.0.0\n)\n\n"
        "replace example.com/greeter => ../greeter\n\n"
        "replace example.com/oldlib => example.com/newlib v1.1.0\n"
    )
    (app / "main.go").write_text(
        "package main\n\n"
        'import (\n\t"fmt"\n\n\t"example.com/greeter"\n\t"example.com/lib"\n'
        '\t"example.com/oldlib"\n)\n\n'
        "func main() { fmt.Println(greeter.Hello(), lib.Name(), oldlib.Name()) }\n"
    )
    env = {
        **os.environ,
        "GOPROXY": f"file://{proxy}",
        "GOFLAGS": "-mod=mod -modcacherw",
        "GOSUMDB": "off",
        "GONOSUMDB": "*",
        "GOPATH": str(work / "gopath"),
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
        "GOOS": "linux",
        "GOARCH": goarch,
    }
    if "GOCACHE" not in env and "HOME" not in env:
        env["GOCACHE"] = str(work / "gocache")  # go needs one; a warm user cache is faster
    out = work / f"app-{goarch}"
    subprocess.run(
        [
            go,
            "build",
            "-buildvcs=false",
            "-ldflags=-s -w -X main.version=1.0",
            "-o",
            str(out),
            ".",
        ],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


# --- Rust ----------------------------------------------------------------------------------


def rust_dep_v0(packages: Sequence[Mapping[str, Any]]) -> bytes:
    """The ``.dep-v0`` payload cargo-auditable writes: zlib-compressed JSON."""
    return zlib.compress(json.dumps({"packages": list(packages)}).encode())


AUDITABLE_PACKAGES: list[dict[str, Any]] = [
    {
        "name": "hello",
        "version": "0.1.0",
        "source": "local",
        "dependencies": [1, 2, 3],
        "root": True,
    },
    {"name": "serde", "version": "1.0.188", "source": "crates.io", "dependencies": [4]},
    {"name": "mygit", "version": "0.3.0", "source": "git", "kind": "runtime"},
    {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
    {"name": "serde_derive", "version": "1.0.188", "source": "crates.io"},
]


def rust_binary(
    packages: Sequence[Mapping[str, Any]] = AUDITABLE_PACKAGES,
    *,
    bits: int = 64,
    little_endian: bool = True,
    machine: int = EM_X86_64,
    section: str = ".dep-v0",
    payload: bytes | None = None,
) -> bytes:
    """A synthetic ELF with a cargo-auditable section."""
    data = rust_dep_v0(packages) if payload is None else payload
    return elf(
        [Sec(".text", b"\xc3" * 16, 0x401000), Sec(section, data)],
        bits=bits,
        little_endian=little_endian,
        machine=machine,
    )


def build_rust_auditable_binary(
    work: Path, packages: Sequence[Mapping[str, Any]], *, rustc: str, objcopy: str
) -> Path:
    """Compile a tiny Rust program and add a ``.dep-v0`` section to it as cargo-auditable
    would (it links the section in; ``objcopy --add-section`` gives the same file layout)."""
    src = work / "hello.rs"
    src.write_text('fn main() { println!("hello"); }\n')
    plain = work / "hello"
    subprocess.run(
        [rustc, "-O", "-o", str(plain), str(src)], check=True, capture_output=True, timeout=600
    )
    payload = work / "dep-v0.bin"
    payload.write_bytes(rust_dep_v0(packages))
    out = work / "hello-auditable"
    subprocess.run(
        [
            objcopy,
            "--add-section",
            f".dep-v0={payload}",
            "--set-section-flags",
            ".dep-v0=noload,readonly",
            str(plain),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


# --- Java archives -------------------------------------------------------------------------


def pom_properties(group: str, artifact: str, version: str) -> str:
    return (
        "#Created by Apache Maven 3.9.6\n"
        f"groupId={group}\nartifactId={artifact}\nversion={version}\n"
    )


def manifest(attrs: Mapping[str, str]) -> str:
    """A MANIFEST.MF main section, with lines wrapped at 72 bytes as the JDK writes them."""
    out = []
    for key, value in {"Manifest-Version": "1.0", **attrs}.items():
        line = f"{key}: {value}"
        out.append(line[:72])
        rest = line[72:]
        while rest:
            out.append(" " + rest[:71])
            rest = rest[71:]
    return "\r\n".join(out) + "\r\n\r\n"


def jar(entries: Mapping[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive with ``entries`` (path → content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buf.getvalue()


def maven_jar(
    group: str,
    artifact: str,
    version: str,
    *,
    extra: Mapping[str, bytes | str] | None = None,
    manifest_attrs: Mapping[str, str] | None = None,
) -> bytes:
    """A library jar as Maven builds it: pom.properties, a manifest and one class."""
    entries: dict[str, bytes | str] = {
        "META-INF/MANIFEST.MF": manifest(
            manifest_attrs or {"Implementation-Title": artifact, "Implementation-Version": version}
        ),
        f"META-INF/maven/{group}/{artifact}/pom.properties": pom_properties(
            group, artifact, version
        ),
        f"{group.replace('.', '/')}/Main.class": b"\xca\xfe\xba\xbe" + bytes(32),
    }
    entries.update(extra or {})
    return jar(entries)


def declare_size(archive: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size ``member`` declares (central directory and local
    header), as a zip bomb or a lying archive would."""
    data = bytearray(archive)
    name = member.encode()
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, at + 28)
        if data[at + 46 : at + 46 + name_len] == name:
            struct.pack_into("<I", data, at + 24, size)
            (local,) = struct.unpack_from("<I", data, at + 42)
            struct.pack_into("<I", data, local + 22, size)
            return bytes(data)
        at += 46 + name_len + extra_len + comment_len
    raise KeyError(member)
