"""``sealyard audit host``: what kernel isolation this host offers, and what Sealyard uses.

Everything is read from ``/proc`` and ``/sys`` under a root directory (``/`` normally; a
fake tree in tests), never by running tools:

* namespaces: ``/proc/self/ns/*``; user namespaces also ``/proc/sys/user/
  max_user_namespaces``, ``/proc/sys/kernel/unprivileged_userns_clone`` (Debian, Ubuntu) and
  ``/proc/sys/kernel/apparmor_restrict_unprivileged_userns`` (Ubuntu 23.10+);
* cgroups v1, v2 or hybrid: ``/sys/fs/cgroup`` and ``/proc/self/cgroup``;
* seccomp: the ``Seccomp`` field of ``/proc/self/status`` and
  ``/proc/sys/kernel/seccomp/actions_avail``;
* AppArmor: ``/sys/module/apparmor/parameters/enabled``, ``/sys/kernel/security/lsm``;
* SELinux: ``/sys/fs/selinux/enforce``;
* capabilities: ``/proc/sys/kernel/cap_last_cap``, and ``CapEff``/``CapBnd`` of this
  process from ``/proc/self/status``, decoded to names;
* ``no_new_privs``: the ``NoNewPrivs`` field of ``/proc/self/status``.

Unreadable files make a feature ``unknown``, never an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CAPABILITY_NAMES", "HostFeature", "HostReport", "Status", "audit_host", "decode_caps"]

_MAX_READ = 64 * 1024

#: Linux capability numbers → names (``include/uapi/linux/capability.h``).
CAPABILITY_NAMES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)


class Status(enum.Enum):
    AVAILABLE = "available"
    PARTIAL = "partial"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class HostFeature:
    """One isolation feature.

    Attributes:
        name: what it is.
        scope: ``kernel`` (what the host offers) or ``process`` (how this very process runs).
        status: available, partial, unavailable or unknown.
        detail: the evidence, as read.
        sealyard: what ``sealyard run``'s defaults use it for (``""``: not used).
    """

    name: str
    scope: str
    status: Status
    detail: str
    sealyard: str = ""


@dataclass(frozen=True)
class HostReport:
    """Every feature, and which of those Sealyard's defaults need are missing."""

    root: str
    features: tuple[HostFeature, ...]

    @property
    def missing_for_sealyard(self) -> tuple[HostFeature, ...]:
        return tuple(
            f
            for f in self.features
            if f.scope == "kernel" and f.sealyard and f.status is not Status.AVAILABLE
        )


def _read(path: Path) -> tuple[str | None, str]:
    """``(text, "")`` or ``(None, why)``."""
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_READ)
    except FileNotFoundError:
        return None, "absent"
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    return data.decode("utf-8", "replace"), ""


def _status_fields(text: str | None) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def decode_caps(mask: str, last_cap: int | None = None) -> tuple[str, ...] | None:
    """The capability names set in a hex mask such as ``CapEff: 000001ffffffffff``."""
    try:
        value = int(mask, 16)
    except ValueError:
        return None
    names = []
    bit = 0
    while value >> bit:
        if (value >> bit) & 1 and (last_cap is None or bit <= last_cap):
            names.append(CAPABILITY_NAMES[bit] if bit < len(CAPABILITY_NAMES) else f"CAP_{bit}")
        bit += 1
    return tuple(names)


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _namespaces(root: Path) -> tuple[HostFeature, HostFeature]:
    ns_dir = root / "proc/self/ns"
    try:
        present = sorted(p.name for p in ns_dir.iterdir())
    except FileNotFoundError:
        present = []
    except OSError as exc:
        why = exc.strerror or str(exc)
        return (
            HostFeature("namespaces", "kernel", Status.UNKNOWN, f"{ns_dir}: {why}", _NS_USE),
            HostFeature("user namespaces", "kernel", Status.UNKNOWN, why, _USERNS_USE),
        )
    needed = ("pid", "net", "ipc", "uts", "mnt", "cgroup")
    missing = [n for n in needed if n not in present]
    if not present:
        ns = HostFeature(
            "namespaces", "kernel", Status.UNKNOWN, f"{ns_dir} is not readable", _NS_USE
        )
    else:
        ns = HostFeature(
            "namespaces",
            "kernel",
            Status.PARTIAL if missing else Status.AVAILABLE,
            ", ".join(present) + (f" (missing: {', '.join(missing)})" if missing else ""),
            _NS_USE,
        )
    max_ns_text, _ = _read(root / "proc/sys/user/max_user_namespaces")
    max_ns = _int(max_ns_text)
    clone_text, _ = _read(root / "proc/sys/kernel/unprivileged_userns_clone")
    clone = _int(clone_text)
    restrict_text, _ = _read(root / "proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    restrict = _int(restrict_text)
    details = []
    if max_ns is not None:
        details.append(f"max_user_namespaces={max_ns}")
    if clone is not None:
        details.append(f"unprivileged_userns_clone={clone}")
    if restrict is not None:
        details.append(f"apparmor_restrict_unprivileged_userns={restrict}")
    if "user" not in present and present:
        status, details = Status.UNAVAILABLE, ["the kernel has no user namespaces", *details]
    elif max_ns == 0:
        status = Status.UNAVAILABLE
        details.insert(0, "disabled")
    elif clone == 0 or restrict == 1:
        status = Status.PARTIAL
        details.insert(0, "root only: unprivileged users cannot create them")
    elif not present:
        status = Status.UNKNOWN
    else:
        status = Status.AVAILABLE
    return ns, HostFeature("user namespaces", "kernel", status, "; ".join(details), _USERNS_USE)


_NS_USE = "new pid, ipc, uts, mount, cgroup and network namespaces"
_USERNS_USE = "container root mapped to an unprivileged host uid"


def _cgroups(root: Path) -> HostFeature:
    use = "PIDs and memory limits"
    base = root / "sys/fs/cgroup"
    proc_text, _ = _read(root / "proc/self/cgroup")
    lines = [line for line in (proc_text or "").splitlines() if line.strip()]
    v2_lines = [line for line in lines if line.startswith("0::")]
    v1_lines = [line for line in lines if not line.startswith("0::")]
    unified, _ = _read(base / "cgroup.controllers")
    hybrid, _ = _read(base / "unified/cgroup.controllers")
    controllers: list[str]
    if unified is not None:
        mode, controllers = "v2 (unified)", unified.split()
    else:
        try:
            controllers = sorted(
                c
                for p in base.iterdir()
                if p.is_dir() and p.name != "unified"
                for c in p.name.split(",")
            )
        except OSError:
            controllers = []
        if hybrid is not None:
            mode = "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)"
        elif controllers:
            mode = "v1"
        elif v2_lines and not v1_lines:
            mode = "v2 (unified)"
        else:
            return HostFeature("cgroups", "kernel", Status.UNKNOWN, f"{base} is not readable", use)
    path = v2_lines[0][3:] if v2_lines else ""
    wanted = [c for c in ("memory", "pids") if c not in controllers]
    detail = f"{mode}; controllers: {' '.join(controllers) or 'none delegated'}"
    if path:
        detail += f"; this process is in {path}"
    if wanted:
        detail += f" (missing: {', '.join(wanted)})"
    return HostFeature(
        "cgroups", "kernel", Status.PARTIAL if wanted else Status.AVAILABLE, detail, use
    )


def _seccomp(root: Path, status: dict[str, str]) -> list[HostFeature]:
    use = "system call allowlist (Docker's default profile equivalent)"
    actions_text, why = _read(root / "proc/sys/kernel/seccomp/actions_avail")
    actions = (actions_text or "").split()
    mode = status.get("Seccomp")
    if actions:
        filter_ok = "errno" in actions and "allow" in actions
        kernel = HostFeature(
            "seccomp",
            "kernel",
            Status.AVAILABLE if filter_ok else Status.PARTIAL,
            f"actions: {' '.join(actions)}",
            use,
        )
    elif mode is not None:
        kernel = HostFeature("seccomp", "kernel", Status.AVAILABLE, "Seccomp field present", use)
    elif why == "absent" and status:
        kernel = HostFeature(
            "seccomp", "kernel", Status.UNAVAILABLE, "kernel built without seccomp", use
        )
    else:
        kernel = HostFeature("seccomp", "kernel", Status.UNKNOWN, why or "unreadable", use)
    out = [kernel]
    if mode is not None:
        label = {"0": "disabled", "1": "strict", "2": "filter"}.get(mode, mode)
        filters = status.get("Seccomp_filters")
        detail = label + (f" ({filters} filters)" if filters else "")
        out.append(
            HostFeature(
                "seccomp of this process",
                "process",
                Status.AVAILABLE if mode == "2" else Status.UNAVAILABLE,
                detail,
            )
        )
    return out


def _apparmor(root: Path) -> HostFeature:
    enabled, why = _read(root / "sys/module/apparmor/parameters/enabled")
    lsm, _ = _read(root / "sys/kernel/security/lsm")
    active = (lsm or "").strip().split(",") if lsm else []
    detail = f"active LSMs: {', '.join(active)}" if active else ""
    if enabled is None:
        status = Status.UNAVAILABLE if why == "absent" else Status.UNKNOWN
        shown = "not enabled" if why == "absent" else why
        return HostFeature("AppArmor", "kernel", status, detail or shown, "")
    on = enabled.strip().upper().startswith("Y") and (not active or "apparmor" in active)
    text = "enabled" if on else "disabled"
    return HostFeature(
        "AppArmor",
        "kernel",
        Status.AVAILABLE if on else Status.UNAVAILABLE,
        f"{text}; {detail}" if detail else text,
        "",
    )


def _selinux(root: Path) -> HostFeature:
    enforce, why = _read(root / "sys/fs/selinux/enforce")
    if enforce is None:
        status = Status.UNAVAILABLE if why == "absent" else Status.UNKNOWN
        return HostFeature("SELinux", "kernel", status, "not enabled" if why == "absent" else why)
    mode = enforce.strip()
    if mode == "1":
        return HostFeature("SELinux", "kernel", Status.AVAILABLE, "enforcing")
    return HostFeature("SELinux", "kernel", Status.PARTIAL, "permissive (policy not enforced)")


def _capabilities(root: Path, status: dict[str, str]) -> list[HostFeature]:
    use = "every capability dropped except those explicitly requested"
    last_text, why = _read(root / "proc/sys/kernel/cap_last_cap")
    last = _int(last_text)
    if last is not None:
        kernel = HostFeature(
            "capabilities", "kernel", Status.AVAILABLE, f"{last + 1} capabilities", use
        )
    elif "CapBnd" in status:
        kernel = HostFeature("capabilities", "kernel", Status.AVAILABLE, "CapBnd present", use)
    else:
        kernel = HostFeature("capabilities", "kernel", Status.UNKNOWN, why or "unreadable", use)
    out = [kernel]
    total = (last + 1) if last is not None else len(CAPABILITY_NAMES)
    for key, label in (("CapEff", "effective"), ("CapBnd", "bounding set")):
        if key not in status:
            continue
        names = decode_caps(status[key], last)
        if names is None:
            detail, state = f"unreadable mask {status[key]!r}", Status.UNKNOWN
        elif len(names) >= total:
            detail, state = f"all {len(names)}", Status.AVAILABLE
        else:
            detail, state = (", ".join(names) or "none"), Status.AVAILABLE
        out.append(HostFeature(f"capabilities of this process ({label})", "process", state, detail))
    return out


def _no_new_privs(status: dict[str, str]) -> list[HostFeature]:
    use = "no_new_privs on the container process"
    value = status.get("NoNewPrivs")
    if value is None:
        state = Status.UNKNOWN if not status else Status.UNAVAILABLE
        return [HostFeature("no_new_privs", "kernel", state, "NoNewPrivs field absent", use)]
    return [
        HostFeature("no_new_privs", "kernel", Status.AVAILABLE, "supported", use),
        HostFeature(
            "no_new_privs of this process",
            "process",
            Status.AVAILABLE if value == "1" else Status.UNAVAILABLE,
            "set" if value == "1" else "not set",
        ),
    ]


def _mounts(ns: HostFeature) -> HostFeature:
    """Read-only root, masked /proc paths and read-only /sys need mount namespaces."""
    mnt = "mnt" in ns.detail
    return HostFeature(
        "read-only root, masked /proc paths, read-only /sys",
        "kernel",
        Status.AVAILABLE if mnt else ns.status,
        "via mount namespaces" if mnt else "needs mount namespaces",
        "read-only root with tmpfs /tmp; masked /proc paths; read-only /sys",
    )


def audit_host(root: Path = Path("/")) -> HostReport:
    """Read the isolation features of the host whose ``/proc`` and ``/sys`` are under ``root``."""
    status_text, _ = _read(root / "proc/self/status")
    status = _status_fields(status_text)
    ns, userns = _namespaces(root)
    features = [
        userns,
        ns,
        _cgroups(root),
        *_seccomp(root, status),
        *_capabilities(root, status),
        *_no_new_privs(status),
        _mounts(ns),
        _apparmor(root),
        _selinux(root),
    ]
    kernel = [f for f in features if f.scope == "kernel"]
    process = [f for f in features if f.scope == "process"]
    return HostReport(str(root), tuple(kernel + process))
