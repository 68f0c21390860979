"""``docker inspect CONTAINER`` output → :class:`~sealyard.runtime.audit.model.Workload`.

``docker inspect`` prints a JSON array of container objects. The values in it are
*resolved*: ``Config.User`` is the effective user (the image's ``USER`` unless overridden),
``AppArmorProfile`` is the profile the container actually got (``docker-default``,
``unconfined``, or ``""`` on hosts without AppArmor), ``ProcessLabel`` is the SELinux label.
Settings the daemon applies globally (``userns-remap``, a daemon-wide
``no-new-privileges``) are not visible in it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sealyard.runtime.audit._values import Value
from sealyard.runtime.audit.interface import Resource
from sealyard.runtime.audit.model import Container, Mount, Port, SELinuxOptions, Ulimit, Workload

__all__ = [
    "SecurityOpts",
    "is_container_inspect",
    "is_image_inspect",
    "normalise_cap",
    "parse_security_opts",
    "parse_selinux_label",
    "workload_from_inspect",
]


def normalise_cap(name: str) -> str:
    """``cap_net_admin`` / ``CAP_NET_ADMIN`` / ``NET_ADMIN`` → ``NET_ADMIN``."""
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


@dataclass(frozen=True)
class SecurityOpts:
    """What a ``--security-opt`` / compose ``security_opt`` list sets, and where."""

    seccomp: str | None = None
    seccomp_path: str = ""
    apparmor: str | None = None
    apparmor_path: str = ""
    selinux: SELinuxOptions | None = None
    selinux_path: str = ""
    no_new_privileges: bool | None = None
    no_new_privileges_path: str = ""
    systempaths_unconfined: bool = False
    systempaths_path: str = ""


def _split_opt(text: str) -> tuple[str, str]:
    """``key=value`` or the legacy ``key:value`` (whichever separator comes first)."""
    cuts = [i for i in (text.find("="), text.find(":")) if i >= 0]
    if not cuts:
        return text.strip().lower(), ""
    cut = min(cuts)
    return text[:cut].strip().lower(), text[cut + 1 :].strip()


def parse_security_opts(values: list[Value]) -> SecurityOpts:
    """Parse docker ``--security-opt`` entries (``seccomp=unconfined``, ``label:disable``,
    ``no-new-privileges:true``, ``apparmor=PROFILE``, ``systempaths=unconfined``, …).

    Unknown options are ignored; a malformed boolean raises ``UntrustedDataError``.
    """
    found: dict[str, object] = {}
    label = SELinuxOptions()
    label_path = ""
    for v in values:
        text = v.text() or ""
        key, value = _split_opt(text)
        if key == "seccomp":
            profile = value.lower()
            if profile in ("unconfined", ""):
                found["seccomp"] = "unconfined"
            elif profile in ("builtin", "default", "runtime/default", "docker/default"):
                found["seccomp"] = "runtime/default"
            else:  # a profile path (compose) or the profile JSON (docker CLI inlines it)
                found["seccomp"] = "custom"
            found["seccomp_path"] = v.path
        elif key == "apparmor":
            found["apparmor"] = "unconfined" if value.lower() == "unconfined" else value
            found["apparmor_path"] = v.path
        elif key == "label":
            label_path = v.path
            part, _, rest = value.partition(":")
            part = part.lower()
            if part == "disable":
                label = SELinuxOptions(disabled=True)
            elif part in ("user", "role", "type", "level"):
                label = SELinuxOptions(
                    user=rest if part == "user" else label.user,
                    role=rest if part == "role" else label.role,
                    type=rest if part == "type" else label.type,
                    level=rest if part == "level" else label.level,
                    disabled=label.disabled,
                )
        elif key == "no-new-privileges":
            flag = value.lower() if value else "true"
            if flag not in ("true", "false"):
                raise v.error(f"no-new-privileges must be true or false, got {value!r}")
            found["no_new_privileges"] = flag == "true"
            found["no_new_privileges_path"] = v.path
        elif key == "systempaths" and value.lower() == "unconfined":
            found["systempaths_unconfined"] = True
            found["systempaths_path"] = v.path
    if label_path:
        found["selinux"] = label
        found["selinux_path"] = label_path
    return SecurityOpts(**found)  # type: ignore[arg-type]


def parse_selinux_label(label: str) -> SELinuxOptions | None:
    """``system_u:system_r:container_t:s0:c1,c2`` → its parts (``None`` for ``""``)."""
    if not label:
        return None
    parts = label.split(":", 3)
    parts += [""] * (4 - len(parts))
    return SELinuxOptions(user=parts[0], role=parts[1], type=parts[2], level=parts[3])


def is_container_inspect(raw: object) -> bool:
    return isinstance(raw, dict) and "HostConfig" in raw and "Config" in raw


def is_image_inspect(raw: object) -> bool:
    return (
        isinstance(raw, dict)
        and "HostConfig" not in raw
        and ("RootFS" in raw or "ContainerConfig" in raw)
        and "RepoTags" in raw
    )


def _ports(hc: Value) -> tuple[Port, ...]:
    out: list[Port] = []
    for spec, bindings in hc["PortBindings"].items():
        number, _, proto = spec.partition("/")
        container_port = int(number) if number.isdigit() else None
        for b in bindings.entries():
            host_port_text = (b["HostPort"].text() or "").strip()
            low = host_port_text.split("-", 1)[0]
            host_port = int(low) if low.isdigit() else (0 if not host_port_text else None)
            out.append(
                Port(
                    container_port=container_port,
                    host_port=host_port,
                    host_ip=b["HostIp"].string() or "",
                    protocol=proto or "tcp",
                    path=b.path,
                )
            )
    return tuple(out)


def _bind_mount(text: str, path: str) -> Mount | None:
    """A ``HostConfig.Binds`` entry ``src:dst[:opts]``."""
    parts = text.split(":")
    if len(parts) < 2:
        return None
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) > 2 else []
    propagation = next(
        (o for o in opts if o in ("shared", "rshared", "slave", "rslave", "private", "rprivate")),
        "",
    )
    kind = "bind" if src.startswith("/") else "volume"
    return Mount(dst, src, kind, "ro" in opts, propagation, path)


def _mounts(item: Value, hc: Value) -> tuple[Mount, ...]:
    mounts = item["Mounts"]
    if mounts.raw is not None:
        out: list[Mount] = []
        for m in mounts.entries():
            kind = (m["Type"].string() or "bind").lower()
            out.append(
                Mount(
                    destination=m["Destination"].string() or "",
                    source=m["Source"].string() or m["Name"].string() or "",
                    kind=kind,
                    read_only=m["RW"].boolean() is False,
                    propagation=(m["Propagation"].string() or "").lower(),
                    path=m.path,
                )
            )
        return tuple(out)
    binds = [_bind_mount(b.text() or "", b.path) for b in hc["Binds"].entries()]
    return tuple(b for b in binds if b is not None)


def _devices(hc: Value) -> tuple[str, ...]:
    out = [d["PathOnHost"].string() or "?" for d in hc["Devices"].entries()]
    out += [f"cgroup rule {r}" for r in hc["DeviceCgroupRules"].strings()]
    for req in hc["DeviceRequests"].entries():
        out.append(f"device request ({req['Driver'].string() or 'default driver'})")
    return tuple(out)


def _cpu(hc: Value) -> float | None:
    nano = hc["NanoCpus"].integer() or 0
    if nano > 0:
        return nano / 1e9
    quota, period = hc["CpuQuota"].integer() or 0, hc["CpuPeriod"].integer() or 0
    if quota > 0:
        return quota / (period or 100_000)
    return None


def _ulimits(hc: Value) -> tuple[Ulimit, ...] | None:
    limits = hc["Ulimits"]
    if limits.raw is None:
        return None
    return tuple(
        Ulimit(
            (u["Name"].string() or "").lower(),
            u["Soft"].integer() or 0,
            u["Hard"].integer() or 0,
        )
        for u in limits.entries()
    )


def _healthcheck(cfg: Value) -> bool | None:
    hc = cfg["Healthcheck"]
    if hc.raw is None:
        return None
    test = hc["Test"].strings()
    return bool(test) and test[0].upper() != "NONE"


def workload_from_inspect(item: Value, index: int | None, source: str) -> Workload:
    """The workload of one ``docker inspect`` container object.

    Raises:
        UntrustedDataError: a field has the wrong type.
    """
    hc, cfg = item["HostConfig"], item["Config"]
    p = item.path
    name = (item["Name"].string() or "").lstrip("/") or (item["Id"].string() or "")[:12] or "?"
    privileged = bool(hc["Privileged"].boolean())
    opts = parse_security_opts(hc["SecurityOpt"].entries())
    apparmor = item["AppArmorProfile"].string()
    if apparmor is None:
        apparmor = opts.apparmor
    selinux = opts.selinux if opts.selinux is not None else None
    label = item["ProcessLabel"].string()
    if selinux is None or not selinux.disabled:
        selinux = parse_selinux_label(label or "") or selinux
    seccomp = "unconfined" if privileged else (opts.seccomp or "runtime/default")
    masked = hc["MaskedPaths"]
    readonly = hc["ReadonlyPaths"]
    restart = hc["RestartPolicy"]
    memory = hc["Memory"].integer() or 0
    shares = hc["CpuShares"].integer() or 0
    h = f"{p}.HostConfig" if p else "HostConfig"
    c = f"{p}.Config" if p else "Config"
    fields = {
        "privileged": f"{h}.Privileged",
        "cap_add": f"{h}.CapAdd",
        "cap_drop": f"{h}.CapDrop",
        "read_only_rootfs": f"{h}.ReadonlyRootfs",
        "user": f"{c}.User",
        "no_new_privileges": opts.no_new_privileges_path or f"{h}.SecurityOpt",
        "seccomp": opts.seccomp_path or f"{h}.SecurityOpt",
        "apparmor": f"{p}.AppArmorProfile" if p else "AppArmorProfile",
        "selinux": opts.selinux_path or (f"{p}.ProcessLabel" if p else "ProcessLabel"),
        "masked_paths": opts.systempaths_path or f"{h}.MaskedPaths",
        "mounts": f"{p}.Mounts" if p else "Mounts",
        "ports": f"{h}.PortBindings",
        "devices": f"{h}.Devices",
        "memory_limit": f"{h}.Memory",
        "cpu_limit": f"{h}.NanoCpus",
        "cpu_shares": f"{h}.CpuShares",
        "pids_limit": f"{h}.PidsLimit",
        "ulimits": f"{h}.Ulimits",
        "healthcheck": f"{c}.Healthcheck",
        "restart_policy": f"{h}.RestartPolicy",
    }
    container = Container(
        name=name,
        image=cfg["Image"].string() or item["Image"].string() or "",
        path=p,
        fields=fields,
        privileged=privileged,
        cap_add=tuple(normalise_cap(x) for x in hc["CapAdd"].strings()),
        cap_drop=tuple(normalise_cap(x) for x in hc["CapDrop"].strings()),
        read_only_rootfs=bool(hc["ReadonlyRootfs"].boolean()),
        user=cfg["User"].text() or "",
        no_new_privileges=opts.no_new_privileges,
        seccomp=seccomp,
        apparmor=apparmor,
        selinux=selinux,
        masked_paths=None if masked.raw is None else masked.strings(),
        readonly_paths=None if readonly.raw is None else readonly.strings(),
        sys_read_only=False if privileged else None,
        mounts=_mounts(item, hc),
        ports=_ports(hc),
        devices=_devices(hc),
        memory_limit=memory if memory > 0 else None,
        cpu_limit=_cpu(hc),
        cpu_shares=shares if shares > 0 else None,
        pids_limit=hc["PidsLimit"].integer(),
        ulimits=_ulimits(hc),
        healthcheck=_healthcheck(cfg),
        restart_policy=(restart["Name"].string() or "no").lower(),
        restart_max=restart["MaximumRetryCount"].integer(),
    )
    if opts.systempaths_unconfined:
        container = replace(container, masked_paths=(), readonly_paths=())
    networks = tuple(name for name, _ in item["NetworkSettings"]["Networks"].items())
    sysctls = tuple((k, v.text() or "") for k, v in hc["Sysctls"].items())
    return Workload(
        resource=Resource(source, "docker-inspect", "container", name, document=index),
        containers=(container,),
        path=p,
        fields={
            "host_network": f"{h}.NetworkMode",
            "host_pid": f"{h}.PidMode",
            "host_ipc": f"{h}.IpcMode",
            "host_uts": f"{h}.UTSMode",
            "host_users": f"{h}.UsernsMode",
            "network_mode": f"{h}.NetworkMode",
            "cgroup_parent": f"{h}.CgroupParent",
            "sysctls": f"{h}.Sysctls",
            "publish_all_ports": f"{h}.PublishAllPorts",
        },
        host_network=(hc["NetworkMode"].string() or "") == "host",
        host_pid=(hc["PidMode"].string() or "") == "host",
        host_ipc=(hc["IpcMode"].string() or "") == "host",
        host_uts=(hc["UTSMode"].string() or "") == "host",
        host_users=True if (hc["UsernsMode"].string() or "") == "host" else None,
        network_mode=hc["NetworkMode"].string() or "default",
        networks=networks,
        cgroup_parent=hc["CgroupParent"].string() or None,
        sysctls=sysctls,
        publish_all_ports=bool(hc["PublishAllPorts"].boolean()),
    )
