"""Compose files (the Compose Specification) → one workload per service.

Values not set in the file are left ``None``: the engine's defaults apply (seccomp and
AppArmor default profiles, masked ``/proc`` paths). ``extends`` and ``include`` pointing at
other files are not followed; the audit reports that as a note.
"""

from __future__ import annotations

import re

from sealyard.runtime.audit._docker import SecurityOpts, normalise_cap, parse_security_opts
from sealyard.runtime.audit._values import Value, parse_byte_size, parse_cpu
from sealyard.runtime.audit.interface import Resource
from sealyard.runtime.audit.model import Container, Mount, Port, Ulimit, Workload

__all__ = ["is_compose", "workloads_from_compose"]

_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


def is_compose(raw: object) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("services"), dict) and "kind" not in raw


def _port_number(text: str) -> int | None:
    """The first port of ``8080`` or ``8000-8010``; ``None`` for ``${PORT}`` and the like."""
    low = text.strip().split("-", 1)[0]
    return int(low) if low.isdigit() else None


def _short_port(v: Value) -> Port:
    """``[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`` (IPv6 addresses in brackets)."""
    text = (v.text() or "").strip()
    spec, _, proto = text.partition("/")
    host_ip = ""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise v.error(f"malformed port {text!r}")
        host_ip, spec = spec[1:end], spec[end + 1 :].lstrip(":")
        parts = spec.split(":")
        host, container = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[-1])
    else:
        parts = spec.split(":")
        if len(parts) == 1:
            host, container = "", parts[0]
        elif len(parts) == 2:
            host, container = parts
        elif len(parts) == 3:
            host_ip, host, container = parts
        else:
            raise v.error(f"malformed port {text!r}")
    # A port without a host part is still published, on a port the engine picks.
    host_port = 0 if not host else _port_number(host)
    return Port(_port_number(container), host_port, host_ip, proto or "tcp", v.path)


def _ports(service: Value) -> tuple[Port, ...]:
    out: list[Port] = []
    for v in service["ports"].entries():
        if isinstance(v.raw, dict):
            published = v["published"].text()
            out.append(
                Port(
                    container_port=v["target"].integer(),
                    host_port=0 if not published else _port_number(published),
                    host_ip=v["host_ip"].string() or "",
                    protocol=v["protocol"].string() or "tcp",
                    path=v.path,
                )
            )
        else:
            out.append(_short_port(v))
    return tuple(out)


def _short_volume(v: Value) -> Mount:
    text = v.text() or ""
    parts = text.split(":")
    if len(parts) >= 2 and len(parts[0]) == 1 and parts[0].isalpha():  # C:\data on Windows
        parts = [f"{parts[0]}:{parts[1]}", *parts[2:]]
    if len(parts) == 1:
        return Mount(parts[0], "", "volume", False, "", v.path)
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) > 2 else []
    bind = src.startswith(("/", ".", "~", "$")) or (len(src) > 1 and src[1] == ":")
    propagation = next((o for o in opts if o in _PROPAGATION), "")
    return Mount(dst, src, "bind" if bind else "volume", "ro" in opts, propagation, v.path)


def _mounts(service: Value) -> tuple[Mount, ...]:
    out: list[Mount] = []
    for v in service["volumes"].entries():
        if isinstance(v.raw, dict):
            kind = (v["type"].string() or "volume").lower()
            out.append(
                Mount(
                    destination=v["target"].string() or "",
                    source=v["source"].string() or "",
                    kind=kind,
                    read_only=bool(v["read_only"].boolean()),
                    propagation=(v["bind"]["propagation"].string() or "").lower(),
                    path=v.path,
                )
            )
        else:
            out.append(_short_volume(v))
    for v in service["tmpfs"].entries() if isinstance(service["tmpfs"].raw, list) else []:
        out.append(Mount(v.text() or "", "", "tmpfs", False, "", v.path))
    return tuple(out)


def _devices(service: Value) -> tuple[str, ...]:
    out: list[str] = []
    for v in service["devices"].entries():
        if isinstance(v.raw, dict):
            out.append(v["source"].string() or "?")
        else:
            out.append((v.text() or "").split(":", 1)[0])
    out += [f"cgroup rule {r}" for r in service["device_cgroup_rules"].strings()]
    if service.has("gpus"):
        out.append("gpus")
    reservations = service["deploy"]["resources"]["reservations"]
    for d in reservations["devices"].entries():
        out.append(f"device request ({', '.join(d['capabilities'].strings()) or 'device'})")
    return tuple(out)


def _ulimits(service: Value) -> tuple[Ulimit, ...] | None:
    if service["ulimits"].raw is None:
        return None
    out: list[Ulimit] = []
    for name, v in service["ulimits"].items():
        if isinstance(v.raw, dict):
            out.append(Ulimit(name.lower(), v["soft"].integer() or 0, v["hard"].integer() or 0))
        else:
            n = v.integer() or 0
            out.append(Ulimit(name.lower(), n, n))
    return tuple(out)


def _healthcheck(service: Value) -> bool | None:
    hc = service["healthcheck"]
    if hc.raw is None:
        return None
    if hc["disable"].boolean():
        return False
    test = hc["test"]
    tests = (test.text() or "",) if isinstance(test.raw, str) else test.strings()
    return not (tests and tests[0].upper() == "NONE")


def _restart(service: Value) -> tuple[str | None, int | None, str]:
    policy = service["deploy"]["restart_policy"]
    text = service["restart"].text()
    if text is not None:
        name, _, count = text.partition(":")
        if count and not count.strip().isdigit():
            raise service["restart"].error(f"malformed restart policy {text!r}")
        return name.strip().lower(), int(count) if count else None, service["restart"].path
    if policy.raw is not None:
        condition = (policy["condition"].string() or "any").lower()
        name = {"any": "always", "none": "no"}.get(condition, condition)
        return name, policy["max_attempts"].integer(), policy.path
    return None, None, service["restart"].path


def _sysctls(service: Value) -> tuple[tuple[str, str], ...]:
    s = service["sysctls"]
    if isinstance(s.raw, list):
        return tuple((t.partition("=")[0], t.partition("=")[2]) for t in s.strings())
    return tuple((k, v.text() or "") for k, v in s.items())


def _host(value: str | None) -> bool | None:
    return True if value == "host" else None


def _service(name: str, service: Value, source: str, index: int | None) -> Workload:
    if not isinstance(service.raw, dict):
        raise service.error("a service must be a mapping")
    opts: SecurityOpts = parse_security_opts(service["security_opt"].entries())
    limits = service["deploy"]["resources"]["limits"]
    memory = parse_byte_size(service["mem_limit"])
    memory_path = service["mem_limit"].path
    if memory is None and limits["memory"].raw is not None:
        memory, memory_path = parse_byte_size(limits["memory"]), limits["memory"].path
    cpus = parse_cpu(service["cpus"])
    cpus_path = service["cpus"].path
    if cpus is None and limits["cpus"].raw is not None:
        cpus, cpus_path = parse_cpu(limits["cpus"]), limits["cpus"].path
    quota = service["cpu_quota"].integer()
    if cpus is None and quota:
        cpus = quota / (service["cpu_period"].integer() or 100_000)
        cpus_path = service["cpu_quota"].path
    pids = service["pids_limit"].integer()
    pids_path = service["pids_limit"].path
    if pids is None and limits["pids"].raw is not None:
        pids, pids_path = limits["pids"].integer(), limits["pids"].path
    restart, restart_max, restart_path = _restart(service)
    privileged = service["privileged"].boolean()
    p = service.path
    f = {
        key: f"{p}.{key}"
        for key in ("privileged", "cap_add", "cap_drop", "user", "ports", "devices")
    }
    f |= {
        "read_only_rootfs": f"{p}.read_only",
        "no_new_privileges": opts.no_new_privileges_path or f"{p}.security_opt",
        "seccomp": opts.seccomp_path or f"{p}.security_opt",
        "apparmor": opts.apparmor_path or f"{p}.security_opt",
        "selinux": opts.selinux_path or f"{p}.security_opt",
        "masked_paths": opts.systempaths_path or f"{p}.security_opt",
        "mounts": f"{p}.volumes",
        "memory_limit": memory_path,
        "cpu_limit": cpus_path,
        "cpu_shares": f"{p}.cpu_shares",
        "pids_limit": pids_path,
        "ulimits": f"{p}.ulimits",
        "healthcheck": f"{p}.healthcheck",
        "restart_policy": restart_path,
    }
    container = Container(
        name=name,
        image=service["image"].string() or "(built from source)",
        path=p,
        fields=f,
        privileged=privileged,
        cap_add=tuple(normalise_cap(c) for c in service["cap_add"].strings()),
        cap_drop=tuple(normalise_cap(c) for c in service["cap_drop"].strings()),
        read_only_rootfs=service["read_only"].boolean(),
        user=service["user"].text(),
        no_new_privileges=opts.no_new_privileges,
        seccomp="unconfined" if privileged else (opts.seccomp or "runtime/default"),
        apparmor="unconfined" if privileged else opts.apparmor,
        selinux=opts.selinux,
        masked_paths=() if (opts.systempaths_unconfined or privileged) else None,
        readonly_paths=() if (opts.systempaths_unconfined or privileged) else None,
        sys_read_only=False if privileged else None,
        mounts=_mounts(service),
        ports=_ports(service),
        devices=_devices(service),
        memory_limit=memory,
        cpu_limit=cpus,
        cpu_shares=service["cpu_shares"].integer(),
        pids_limit=pids,
        ulimits=_ulimits(service),
        healthcheck=_healthcheck(service),
        restart_policy=restart,
        restart_max=restart_max,
    )
    network_mode = service["network_mode"].string()
    return Workload(
        resource=Resource(source, "compose", "service", name, document=index),
        containers=(container,),
        path=p,
        fields={
            "host_network": f"{p}.network_mode",
            "network_mode": f"{p}.network_mode",
            "host_pid": f"{p}.pid",
            "host_ipc": f"{p}.ipc",
            "host_uts": f"{p}.uts",
            "host_users": f"{p}.userns_mode",
            "cgroup_parent": f"{p}.cgroup_parent",
            "sysctls": f"{p}.sysctls",
        },
        host_network=_host(network_mode),
        host_pid=_host(service["pid"].string()),
        host_ipc=_host(service["ipc"].string()),
        host_uts=_host(service["uts"].string()),
        host_users=_host(service["userns_mode"].string()),
        network_mode=network_mode,
        cgroup_parent=service["cgroup_parent"].string() or None,
        sysctls=_sysctls(service),
    )


_INTERPOLATION = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_]\w*")


def workloads_from_compose(
    doc: Value, source: str, index: int | None
) -> tuple[list[Workload], list[str]]:
    """One workload per service, and notes on what could not be followed.

    Raises:
        UntrustedDataError: a service or one of its fields has the wrong type.
    """
    workloads: list[Workload] = []
    notes: list[str] = []
    for name, service in doc["services"].items():
        workloads.append(_service(name, service, source, index))
        if service.has("extends"):
            notes.append(
                f"{source}: service {name!r} extends another service; settings it inherits "
                "were not audited (run `docker compose config` and audit its output)"
            )
    if doc.has("include"):
        notes.append(f"{source}: `include`d compose files were not followed")
    if _INTERPOLATION.search(repr(doc.raw)):
        notes.append(
            f"{source}: contains ${{VARIABLE}} interpolation; values that depend on it were "
            "audited as written (audit `docker compose config` output for resolved values)"
        )
    return workloads, notes
