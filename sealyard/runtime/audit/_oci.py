"""OCI runtime ``config.json`` (runc, crun, ``sealyard run``) → one workload.

An OCI config is explicit: what it does not grant, the container does not get. No
``capabilities`` means none; a namespace type missing from ``linux.namespaces`` means the
host's namespace is shared; no ``linux.seccomp`` means no syscall filter at all;
``noNewPrivileges`` and ``root.readonly`` default to ``false``. The normalised values below
say so explicitly rather than leaving ``None`` (which elsewhere means "runtime default").
"""

from __future__ import annotations

from sealyard.runtime.audit._docker import normalise_cap, parse_selinux_label
from sealyard.runtime.audit._values import Value
from sealyard.runtime.audit.interface import Resource
from sealyard.runtime.audit.model import Container, IdMapping, Mount, Ulimit, Workload

__all__ = ["is_oci_config", "workload_from_oci"]

_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
_PROPAGATION = ("rshared", "shared", "rslave", "slave", "rprivate", "private", "runbindable")


def is_oci_config(raw: object) -> bool:
    return (
        isinstance(raw, dict)
        and isinstance(raw.get("ociVersion"), str)
        and any(k in raw for k in ("process", "root", "linux", "mounts"))
    )


def _mount(m: Value) -> Mount:
    fs_type = m["type"].string() or ""
    options = m["options"].strings()
    bind = fs_type == "bind" or "bind" in options or "rbind" in options
    return Mount(
        destination=m["destination"].string() or "",
        source=m["source"].string() or "",
        kind="bind" if bind else (fs_type or "none"),
        read_only="ro" in options,
        propagation=next((o for o in options if o in _PROPAGATION), ""),
        path=m.path,
    )


def _namespace_shared(namespaces: dict[str, Value], kind: str) -> bool:
    """The host's namespace is used: not listed, or joined through the host's init process."""
    ns = namespaces.get(kind)
    if ns is None:
        return True
    target = ns["path"].string() or ""
    return target.startswith("/proc/1/ns/")


def _devices(linux: Value) -> tuple[str, ...]:
    out = [d["path"].string() or "?" for d in linux["devices"].entries()]
    for rule in linux["resources"]["devices"].entries():
        if not rule["allow"].boolean():
            continue
        kind = rule["type"].string() or "a"
        major, minor = rule["major"].integer(), rule["minor"].integer()
        access = rule["access"].string() or "rwm"
        if kind == "a" and major is None:
            out.append(f"cgroup rule: allow all devices ({access})")
        else:
            nums = f"{'*' if major is None else major}:{'*' if minor is None else minor}"
            out.append(f"cgroup rule: allow {kind} {nums} {access}")
    return tuple(out)


def workload_from_oci(doc: Value, source: str, name: str) -> Workload:
    """The workload an OCI runtime config describes.

    Raises:
        UntrustedDataError: a field has the wrong type.
    """
    process, linux, root = doc["process"], doc["linux"], doc["root"]
    caps = process["capabilities"]
    capabilities: list[str] = []
    for key in _CAP_SETS:
        for cap in caps[key].strings():
            norm = normalise_cap(cap)
            if norm not in capabilities:
                capabilities.append(norm)
    uid = process["user"]["uid"].integer() or 0
    gid = process["user"]["gid"].integer() or 0
    mounts = [_mount(m) for m in doc["mounts"].entries()]
    rootfs_propagation = linux["rootfsPropagation"].string()
    if rootfs_propagation:
        mounts.append(Mount("/", "", "rootfs", False, rootfs_propagation, linux.path))
    sys_mount = next((m for m in mounts if m.destination.rstrip("/") == "/sys"), None)
    seccomp = linux["seccomp"]
    resources = linux["resources"]
    memory = resources["memory"]["limit"].integer()
    cpu = resources["cpu"]
    quota, period = cpu["quota"].integer() or 0, cpu["period"].integer() or 0
    rlimits = process["rlimits"]
    namespaces = {(ns["type"].string() or ""): ns for ns in linux["namespaces"].entries()}
    lp = linux.path
    pp = process.path
    fields = {
        "cap_add": f"{pp}.capabilities",
        "capabilities": f"{pp}.capabilities",
        "privileged": f"{pp}.capabilities",
        "read_only_rootfs": f"{root.path}.readonly",
        "user": f"{pp}.user.uid",
        "run_as_user": f"{pp}.user.uid",
        "no_new_privileges": f"{pp}.noNewPrivileges",
        "seccomp": seccomp.path,
        "apparmor": f"{pp}.apparmorProfile",
        "selinux": f"{pp}.selinuxLabel",
        "masked_paths": f"{lp}.maskedPaths",
        "readonly_paths": f"{lp}.readonlyPaths",
        "sys_read_only": sys_mount.path if sys_mount else doc["mounts"].path,
        "mounts": doc["mounts"].path,
        "devices": f"{lp}.devices",
        "memory_limit": f"{lp}.resources.memory.limit",
        "cpu_limit": f"{lp}.resources.cpu",
        "cpu_shares": f"{lp}.resources.cpu.shares",
        "pids_limit": f"{lp}.resources.pids.limit",
        "ulimits": rlimits.path,
    }
    container = Container(
        name=name,
        image=doc["annotations"]["org.opencontainers.image.ref.name"].string() or "",
        path=doc.path,
        fields=fields,
        capabilities=tuple(capabilities),
        read_only_rootfs=bool(root["readonly"].boolean()),
        user=f"{uid}:{gid}",
        run_as_user=uid,
        run_as_group=gid,
        no_new_privileges=bool(process["noNewPrivileges"].boolean()),
        seccomp="unconfined" if seccomp.raw is None else "custom",
        seccomp_default_action=seccomp["defaultAction"].string(),
        apparmor=process["apparmorProfile"].string() or "",
        selinux=parse_selinux_label(process["selinuxLabel"].string() or ""),
        masked_paths=linux["maskedPaths"].strings(),
        readonly_paths=linux["readonlyPaths"].strings(),
        sys_read_only=True if sys_mount is None else sys_mount.read_only,
        mounts=tuple(mounts),
        devices=_devices(linux),
        memory_limit=memory if memory and memory > 0 else None,
        cpu_limit=quota / (period or 100_000) if quota > 0 else None,
        cpu_shares=cpu["shares"].integer() or None,
        pids_limit=resources["pids"]["limit"].integer(),
        ulimits=None
        if rlimits.raw is None
        else tuple(
            Ulimit(
                (r["type"].string() or "").lower().removeprefix("rlimit_"),
                r["soft"].integer() or 0,
                r["hard"].integer() or 0,
            )
            for r in rlimits.entries()
        ),
    )
    mappings = tuple(
        IdMapping(
            m["containerID"].integer() or 0,
            m["hostID"].integer() or 0,
            m["size"].integer() or 0,
        )
        for m in linux["uidMappings"].entries()
    )
    return Workload(
        resource=Resource(source, "oci", "bundle", name),
        containers=(container,),
        path=doc.path,
        fields={
            "host_network": f"{lp}.namespaces",
            "host_pid": f"{lp}.namespaces",
            "host_ipc": f"{lp}.namespaces",
            "host_uts": f"{lp}.namespaces",
            "host_users": f"{lp}.namespaces",
            "uid_mappings": f"{lp}.uidMappings",
            "sysctls": f"{lp}.sysctl",
            "annotations": doc["annotations"].path,
        },
        host_network=_namespace_shared(namespaces, "network"),
        host_pid=_namespace_shared(namespaces, "pid"),
        host_ipc=_namespace_shared(namespaces, "ipc"),
        host_uts=_namespace_shared(namespaces, "uts"),
        host_users=_namespace_shared(namespaces, "user"),
        uid_mappings=mappings,
        sysctls=tuple((k, v.text() or "") for k, v in linux["sysctl"].items()),
        annotations={k: v.text() or "" for k, v in doc["annotations"].items()},
    )
