"""The hardened OCI runtime configuration (``config.json``) of ``sealyard run``.

:class:`HardenedOptions` holds every default as a field; each field that is loosened is a
*relaxation*, named in :meth:`HardenedOptions.relaxations` and recorded in the config's
``dev.sealyard.relaxed`` annotation, so the audit and a human reading the bundle see it.

The defaults, and why:

* **no capabilities at all** in any of the five sets. In a user namespace the container's
  root already owns its files (the rootfs is chowned to the mapped root), so ordinary images
  run without ``CHOWN``/``DAC_OVERRIDE``/``FOWNER``; ports below 1024 are opened through the
  ``net.ipv4.ip_unprivileged_port_start=0`` sysctl of the container's own network namespace
  instead of ``NET_BIND_SERVICE``. Images that switch users at start (``gosu``, ``su-exec``)
  need ``--cap-add SETUID --cap-add SETGID``. Added capabilities are effective only for a
  root process user; a non-root user holds them in the bounding set only (as Docker does),
  so its effective set stays empty.
* ``noNewPrivileges``: set-user-ID binaries and file capabilities grant nothing.
* the seccomp allowlist of :mod:`sealyard.runtime.seccomp` (Docker's default equivalent).
* read-only root filesystem, with a ``noexec,nosuid,nodev`` tmpfs on ``/tmp``.
* a user namespace: container ids ``0..65535`` are host ids ``100000..165535``, so uid 0
  inside is an unprivileged uid outside.
* new pid, ipc, uts, mount, cgroup and network namespaces; the network namespace has only
  a loopback interface.
* Docker's masked and read-only ``/proc`` and ``/sys`` paths; ``/sys`` read-only.
* 256 processes, 512 MiB of memory (and no swap beyond it), 1024 open files, and half the
  CPU weight of a host service (``cpu.shares`` 512): an untrusted workload yields first.
* no AppArmor profile or SELinux label unless one is named (Sealyard loads no MAC policy
  of its own); on hosts that have them, name the host's profile with ``apparmor_profile``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sealyard.errors import UntrustedDataError, UsageError
from sealyard.runtime.seccomp import default_profile, normalise_arch
from sealyard.runtime.unpack import IdMap, read_in_root

__all__ = [
    "ALL_CAPABILITIES",
    "MASKED_PATHS",
    "OCI_VERSION",
    "READONLY_PATHS",
    "RELAXED_ANNOTATION",
    "HardenedOptions",
    "ProcessSpec",
    "build_config",
    "parse_capability",
    "resolve_process",
]

OCI_VERSION = "1.0.2"
RELAXED_ANNOTATION = "dev.sealyard.relaxed"
HARDENED_ANNOTATION = "dev.sealyard.hardened"
MiB = 1024 * 1024

#: Every Linux capability, without the ``CAP_`` prefix.
ALL_CAPABILITIES = frozenset(
    (
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    )
)  # fmt: skip

#: Hidden from the container (bind-mounted over with an empty file or directory).
MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)
#: Visible but read-only.
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_ACCOUNT_FILE = 4 * MiB
_MIN_MEMORY = 6 * MiB
_RESERVED_MOUNTS = ("/proc", "/sys", "/dev")


def parse_capability(name: str) -> str:
    """``NET_RAW`` for ``net_raw``, ``CAP_NET_RAW`` …

    Raises:
        UsageError: not a Linux capability.
    """
    upper = name.strip().upper()
    bare = upper[4:] if upper.startswith("CAP_") else upper
    if bare not in ALL_CAPABILITIES:
        raise UsageError(f"unknown capability {name!r}")
    return bare


@dataclass(frozen=True)
class HardenedOptions:
    """How a container runs; every default is the hardened one.

    Attributes:
        cap_add: capabilities granted (bare names). Default: none.
        seccomp: apply the seccomp allowlist. Relaxation: ``no-seccomp``.
        user_namespace: map container ids to unprivileged host ids. Relaxation: ``no-userns``.
        readonly_rootfs: root filesystem read-only. Relaxation: ``writable-rootfs``.
        no_new_privileges: ``no_new_privs``. Relaxation: ``new-privileges``.
        pids_limit: most processes (``None``: unlimited). Higher: ``pids-limit:N``.
        memory_bytes: memory limit (``None``: unlimited). Higher: ``memory:N``.
        network: ``none`` (own namespace, loopback only) or ``host``. Relaxation:
            ``network:host``.
        host_uid, host_gid, id_count: the user-namespace mapping.
        nofile: ``RLIMIT_NOFILE`` (soft and hard).
        tmp_size_bytes: size of the ``/tmp`` tmpfs.
        cpu_shares: relative CPU weight (1024 is a host service's).
        apparmor_profile: AppArmor profile to confine the process with (must be loaded).
        selinux_label: SELinux process label.
        tmpfs: more private tmpfs mounts (``noexec,nosuid,nodev``), e.g. ``/run``.
        hostname: the container's host name.
        keep_setuid: the unpacked rootfs keeps set-user/group-ID bits. Relaxation:
            ``keep-setuid``.
        allow_unsigned: the image was run without policy verification. Relaxation:
            ``unsigned``.
        arch: OCI architecture of the seccomp profile (default: this host).
    """

    cap_add: tuple[str, ...] = ()
    seccomp: bool = True
    user_namespace: bool = True
    readonly_rootfs: bool = True
    no_new_privileges: bool = True
    pids_limit: int | None = 256
    memory_bytes: int | None = 512 * MiB
    network: Literal["none", "host"] = "none"
    host_uid: int = 100_000
    host_gid: int = 100_000
    id_count: int = 65_536
    nofile: int = 1024
    tmp_size_bytes: int = 64 * MiB
    cpu_shares: int = 512
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    tmpfs: tuple[str, ...] = ()
    hostname: str = "sealyard"
    keep_setuid: bool = False
    allow_unsigned: bool = False
    arch: str | None = None

    def __post_init__(self) -> None:
        caps = tuple(sorted({parse_capability(c) for c in self.cap_add}))
        object.__setattr__(self, "cap_add", caps)
        if self.network not in ("none", "host"):
            raise UsageError(f"network must be 'none' or 'host', not {self.network!r}")
        if self.pids_limit is not None and self.pids_limit < 1:
            raise UsageError("the pids limit must be at least 1 (or unlimited)")
        if self.memory_bytes is not None and self.memory_bytes < _MIN_MEMORY:
            raise UsageError(f"the memory limit must be at least {_MIN_MEMORY} bytes")
        if self.nofile < 16 or self.tmp_size_bytes < 1:
            raise UsageError("nofile must be at least 16 and the /tmp size positive")
        if not 2 <= self.cpu_shares <= 262_144:
            raise UsageError("cpu shares must be between 2 and 262144")
        if self.apparmor_profile in ("", "unconfined") or self.selinux_label == "":
            raise UsageError("name an AppArmor profile or SELinux label, or leave it unset")
        if self.user_namespace:
            if self.host_uid < 1 or self.host_gid < 1:
                raise UsageError(
                    "the user namespace must not map container root to host root "
                    "(use a host uid/gid base above 0)"
                )
            IdMap(self.host_uid, self.host_gid, self.id_count)  # validates the range
        for path in self.tmpfs:
            clean = posixpath.normpath(path)
            if not path.startswith("/") or clean == "/" or clean.startswith(_RESERVED_MOUNTS):
                raise UsageError(
                    f"--tmpfs needs an absolute path outside /proc, /sys, /dev: {path}"
                )
        if not self.hostname or len(self.hostname) > 63:
            raise UsageError("the hostname must have 1 to 63 characters")
        normalise_arch(self.arch)

    @property
    def ids(self) -> IdMap | None:
        """The id mapping used to own the rootfs, or ``None`` without a user namespace."""
        if not self.user_namespace:
            return None
        return IdMap(self.host_uid, self.host_gid, self.id_count)

    def relaxations(self) -> tuple[str, ...]:
        """Every default loosened, as ``dev.sealyard.relaxed`` tokens, in a fixed order."""
        default = HardenedOptions()
        out = [f"cap-add:{cap}" for cap in self.cap_add]
        if not self.seccomp:
            out.append("no-seccomp")
        if not self.user_namespace:
            out.append("no-userns")
        if not self.readonly_rootfs:
            out.append("writable-rootfs")
        if not self.no_new_privileges:
            out.append("new-privileges")
        if self.pids_limit is None:
            out.append("pids-limit:unlimited")
        elif default.pids_limit is not None and self.pids_limit > default.pids_limit:
            out.append(f"pids-limit:{self.pids_limit}")
        if self.memory_bytes is None:
            out.append("memory:unlimited")
        elif default.memory_bytes is not None and self.memory_bytes > default.memory_bytes:
            out.append(f"memory:{self.memory_bytes}")
        if self.network == "host":
            out.append("network:host")
        if self.keep_setuid:
            out.append("keep-setuid")
        if self.allow_unsigned:
            out.append("unsigned")
        return tuple(out)


@dataclass(frozen=True)
class ProcessSpec:
    """The container's process: what runs, as whom, where."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.args:
            raise UsageError("nothing to run: the image has no command; give one after --")
        if not self.cwd.startswith("/"):
            raise UsageError(f"working directory {self.cwd!r} is not absolute")


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UntrustedDataError(f"image config: {what} is not a list of strings")
    return list(value)


def _accounts(rootfs: Path | None, name: str) -> list[list[str]]:
    if rootfs is None:
        return []
    data = read_in_root(rootfs, f"/etc/{name}", _MAX_ACCOUNT_FILE)
    if data is None:
        return []
    rows = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 10 else None


def _resolve_user(spec: str, rootfs: Path | None) -> tuple[int, int, tuple[int, ...]]:
    user, _, group = spec.partition(":")
    passwd = _accounts(rootfs, "passwd")
    uid = _number(user)
    gid: int | None = None
    name = user
    if uid is None:
        for row in passwd:
            if len(row) >= 4 and row[0] == user:
                uid, gid = _number(row[2]), _number(row[3])
                break
        if uid is None:
            raise UsageError(f"user {user!r} is not in the image's /etc/passwd; use --user UID")
    else:
        for row in passwd:
            if len(row) >= 4 and _number(row[2]) == uid:
                gid, name = _number(row[3]), row[0]
                break
    groups = _accounts(rootfs, "group")
    if group:
        gid = _number(group)
        if gid is None:
            for row in groups:
                if len(row) >= 3 and row[0] == group:
                    gid = _number(row[2])
                    break
            if gid is None:
                raise UsageError(f"group {group!r} is not in the image's /etc/group")
    extra: list[int] = []
    if not group:
        for row in groups:
            members = row[3].split(",") if len(row) >= 4 else []
            number = _number(row[2]) if len(row) >= 3 else None
            if name in members and number is not None and number != gid:
                extra.append(number)
    return uid, gid or 0, tuple(sorted(set(extra)))


def resolve_process(
    image_config: Mapping[str, Any],
    *,
    rootfs: Path | None = None,
    command: Sequence[str] = (),
    entrypoint: Sequence[str] | None = None,
    user: str | None = None,
    env: Sequence[str] = (),
    workdir: str | None = None,
) -> ProcessSpec:
    """The process to run, from the image config and ``docker run``-style overrides.

    ``command`` replaces the image's ``Cmd``; ``entrypoint`` (``[]`` to clear) replaces its
    ``Entrypoint``. User and group names are looked up in ``rootfs``'s ``/etc/passwd`` and
    ``/etc/group`` (read without leaving ``rootfs``).

    Raises:
        UntrustedDataError: the image config is malformed.
        UsageError: nothing to run, or an unknown user or group.
    """
    config = image_config.get("config")
    config = {} if config is None else config
    if not isinstance(config, Mapping):
        raise UntrustedDataError("image config: 'config' is not an object")
    entry = (
        list(entrypoint)
        if entrypoint is not None
        else _strings(config.get("Entrypoint"), "Entrypoint")
    )
    cmd = list(command) if command else _strings(config.get("Cmd"), "Cmd")
    if entrypoint is not None and not command:
        cmd = []  # a new entrypoint drops the image's Cmd, as docker does
    environment = _strings(config.get("Env"), "Env")
    names = {e.split("=", 1)[0] for e in environment}
    if "PATH" not in names:
        environment.insert(0, _DEFAULT_PATH)
    for item in env:
        if "=" not in item:
            raise UsageError(f"environment entry {item!r} is not NAME=VALUE")
        key = item.split("=", 1)[0]
        environment = [e for e in environment if e.split("=", 1)[0] != key] + [item]
    raw_cwd = workdir if workdir is not None else config.get("WorkingDir") or "/"
    if not isinstance(raw_cwd, str):
        raise UntrustedDataError("image config: WorkingDir is not a string")
    cwd = posixpath.normpath(posixpath.join("/", raw_cwd))
    user_spec = user if user is not None else config.get("User") or "0"
    if not isinstance(user_spec, str):
        raise UntrustedDataError("image config: User is not a string")
    uid, gid, extra = _resolve_user(user_spec, rootfs)
    return ProcessSpec(tuple(entry + cmd), tuple(environment), cwd, uid, gid, extra)


def _mount(destination: str, kind: str, source: str, options: Sequence[str]) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def _mounts(options: HardenedOptions) -> list[dict[str, Any]]:
    safe = ["nosuid", "noexec", "nodev"]
    mounts = [
        _mount("/proc", "proc", "proc", safe),
        _mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        _mount("/dev/shm", "tmpfs", "shm", [*safe, "mode=1777", "size=65536k"]),  # noqa: S108
        _mount("/dev/mqueue", "mqueue", "mqueue", safe),
    ]
    if options.user_namespace and options.network == "host":
        # sysfs can only be mounted by the owner of the network namespace: bind the host's
        mounts.append(_mount("/sys", "none", "/sys", ["rbind", *safe, "ro"]))
    else:
        mounts.append(_mount("/sys", "sysfs", "sysfs", [*safe, "ro"]))
        mounts.append(_mount("/sys/fs/cgroup", "cgroup", "cgroup", [*safe, "relatime", "ro"]))
    tmp_size = f"size={max(options.tmp_size_bytes // 1024, 1)}k"
    mounts.append(_mount("/tmp", "tmpfs", "tmpfs", [*safe, "mode=1777", tmp_size]))  # noqa: S108
    for path in sorted(set(options.tmpfs)):
        mounts.append(_mount(posixpath.normpath(path), "tmpfs", "tmpfs", [*safe, "mode=755"]))
    return mounts


def _capabilities(options: HardenedOptions, uid: int) -> dict[str, list[str]]:
    caps = [f"CAP_{c}" for c in options.cap_add]
    active = caps if uid == 0 else []
    return {
        "bounding": caps,
        "effective": active,
        "permitted": active,
        "inheritable": [],
        "ambient": [],
    }


def _swap_accounting() -> bool:
    """Whether the host's memory cgroup can limit swap (v2, or v1 with memsw files)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers") or os.path.exists(
        "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
    )


def build_config(
    process: ProcessSpec,
    options: HardenedOptions,
    *,
    annotations: Mapping[str, str] | None = None,
    swap_accounting: bool | None = None,
) -> dict[str, Any]:
    """The OCI runtime ``config.json`` for ``process`` under ``options``.

    ``swap_accounting`` (default: probe this host) decides whether swap is limited to
    nothing beyond the memory limit.

    Raises:
        UsageError: the process user is outside the user namespace's id range.
    """
    if options.user_namespace:
        outside = [i for i in (process.uid, process.gid, *process.additional_gids)
                   if i >= options.id_count]  # fmt: skip
        if outside:
            raise UsageError(
                f"id {outside[0]} is outside the container's {options.id_count} mapped ids"
            )
    linux: dict[str, Any] = {
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
        "resources": _resources(options, swap_accounting),
    }
    if options.network == "none":
        linux["namespaces"].append({"type": "network"})
        linux["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0"}
    if options.user_namespace:
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [
            {"containerID": 0, "hostID": options.host_uid, "size": options.id_count}
        ]
        linux["gidMappings"] = [
            {"containerID": 0, "hostID": options.host_gid, "size": options.id_count}
        ]
    if options.seccomp:
        linux["seccomp"] = default_profile(options.arch, options.cap_add)
    user: dict[str, Any] = {"uid": process.uid, "gid": process.gid}
    if process.additional_gids:
        user["additionalGids"] = list(process.additional_gids)
    notes = {HARDENED_ANNOTATION: "v1", **dict(annotations or {})}
    relaxed = options.relaxations()
    if relaxed:
        notes[RELAXED_ANNOTATION] = ",".join(relaxed)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,
            "user": user,
            "args": list(process.args),
            "env": list(process.env),
            "cwd": process.cwd,
            "capabilities": _capabilities(options, process.uid),
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": options.nofile, "soft": options.nofile}],
            "noNewPrivileges": options.no_new_privileges,
            **({"apparmorProfile": options.apparmor_profile} if options.apparmor_profile else {}),
            **({"selinuxLabel": options.selinux_label} if options.selinux_label else {}),
        },
        "root": {"path": "rootfs", "readonly": options.readonly_rootfs},
        "hostname": options.hostname,
        "mounts": _mounts(options),
        "annotations": notes,
        "linux": linux,
    }


def _resources(options: HardenedOptions, swap_accounting: bool | None) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "cpu": {"shares": options.cpu_shares},
    }
    if options.pids_limit is not None:
        resources["pids"] = {"limit": options.pids_limit}
    if options.memory_bytes is not None:
        memory: dict[str, Any] = {"limit": options.memory_bytes}
        if _swap_accounting() if swap_accounting is None else swap_accounting:
            memory["swap"] = options.memory_bytes
        resources["memory"] = memory
    return resources
