"""Kubernetes manifests → one workload per pod template.

Understood: ``Pod``; the kinds that template pods (``Deployment``, ``StatefulSet``,
``DaemonSet``, ``ReplicaSet``, ``ReplicationController``, ``Job``, ``PodTemplate``) and
``CronJob`` (whose template is one level deeper); ``List`` and ``*List`` objects as printed
by ``kubectl get -o yaml``. Other kinds are skipped and counted.
"""

from __future__ import annotations

from sealyard.runtime.audit._docker import normalise_cap
from sealyard.runtime.audit._values import Value, parse_quantity
from sealyard.runtime.audit.interface import Resource
from sealyard.runtime.audit.model import Container, Mount, Port, SELinuxOptions, Volume, Workload

__all__ = ["TEMPLATE_PATHS", "is_kubernetes", "workloads_from_object"]

#: Where the pod template (metadata + spec) sits in each kind; ``()`` is the object itself.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "PodTemplate": ("template",),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

_PROPAGATION = {"Bidirectional": "rshared", "HostToContainer": "rslave", "None": "rprivate"}


def is_kubernetes(raw: object) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("kind"), str) and "apiVersion" in raw


def _profile(v: Value) -> str | None:
    """A ``seccompProfile`` / ``appArmorProfile`` object as ``runtime/default``,
    ``unconfined`` or ``localhost/<name>``."""
    if v.raw is None:
        return None
    kind = v["type"].string() or ""
    if kind == "RuntimeDefault":
        return "runtime/default"
    if kind == "Unconfined":
        return "unconfined"
    if kind == "Localhost":
        return f"localhost/{v['localhostProfile'].string() or ''}"
    return kind.lower() or None


def _annotation_profile(value: str | None) -> str | None:
    if value is None:
        return None
    if value in ("runtime/default", "docker/default"):
        return "runtime/default"
    return value


def _selinux(v: Value) -> SELinuxOptions | None:
    if v.raw is None:
        return None
    return SELinuxOptions(
        user=v["user"].string() or "",
        role=v["role"].string() or "",
        type=v["type"].string() or "",
        level=v["level"].string() or "",
    )


def _volumes(spec: Value) -> tuple[Volume, ...]:
    out: list[Volume] = []
    for v in spec["volumes"].entries():
        kinds = [k for k, _ in v.items() if k != "name"]
        kind = kinds[0] if kinds else "emptyDir"
        out.append(
            Volume(
                name=v["name"].string() or "",
                kind=kind,
                host_path=v["hostPath"]["path"].string() or "" if kind == "hostPath" else "",
                path=v.path,
            )
        )
    return tuple(out)


def _mounts(container: Value, volumes: dict[str, Volume]) -> tuple[Mount, ...]:
    out: list[Mount] = []
    for m in container["volumeMounts"].entries():
        volume = volumes.get(m["name"].string() or "")
        kind = volume.kind if volume else "volume"
        mode = m["mountPropagation"].string()
        out.append(
            Mount(
                destination=m["mountPath"].string() or "",
                source=volume.host_path if volume and volume.kind == "hostPath" else "",
                kind=kind,
                read_only=bool(m["readOnly"].boolean()),
                propagation=_PROPAGATION.get(mode or "", (mode or "").lower()),
                path=m.path,
            )
        )
    return tuple(out)


def _probe_hosts(container: Value) -> tuple[str, ...]:
    hosts: list[str] = []
    handlers = [container[p] for p in ("livenessProbe", "readinessProbe", "startupProbe")]
    handlers += [container["lifecycle"][h] for h in ("postStart", "preStop")]
    for h in handlers:
        for action in ("httpGet", "tcpSocket"):
            host = h[action]["host"].string()
            if host:
                hosts.append(host)
    return tuple(hosts)


def _container(
    c: Value, role: str, volumes: dict[str, Volume], annotations: dict[str, str]
) -> Container:
    sc = c["securityContext"]
    name = c["name"].string() or "?"
    limits, requests = c["resources"]["limits"], c["resources"]["requests"]
    memory = parse_quantity(limits["memory"])
    cpu_limit = parse_quantity(limits["cpu"])
    cpu_request = parse_quantity(requests["cpu"])
    ape = sc["allowPrivilegeEscalation"].boolean()
    seccomp = _profile(sc["seccompProfile"])
    if seccomp is None:
        seccomp = _annotation_profile(
            annotations.get(f"container.seccomp.security.alpha.kubernetes.io/{name}")
        )
    apparmor = _profile(sc["appArmorProfile"])
    if apparmor is None:
        apparmor = _annotation_profile(
            annotations.get(f"container.apparmor.security.beta.kubernetes.io/{name}")
        )
    s = sc.path
    probe = next(
        (c[p].path for p in ("livenessProbe", "readinessProbe") if c[p].raw is not None),
        f"{c.path}.livenessProbe",
    )
    fields = {
        "privileged": f"{s}.privileged",
        "cap_add": f"{s}.capabilities.add",
        "cap_drop": f"{s}.capabilities.drop",
        "read_only_rootfs": f"{s}.readOnlyRootFilesystem",
        "run_as_user": f"{s}.runAsUser",
        "run_as_group": f"{s}.runAsGroup",
        "run_as_non_root": f"{s}.runAsNonRoot",
        "no_new_privileges": f"{s}.allowPrivilegeEscalation",
        "seccomp": f"{s}.seccompProfile",
        "apparmor": f"{s}.appArmorProfile",
        "selinux": f"{s}.seLinuxOptions",
        "proc_mount": f"{s}.procMount",
        "windows_host_process": f"{s}.windowsOptions.hostProcess",
        "mounts": f"{c.path}.volumeMounts",
        "ports": f"{c.path}.ports",
        "memory_limit": limits["memory"].path,
        "cpu_limit": limits["cpu"].path,
        "cpu_shares": requests["cpu"].path,
        "healthcheck": probe,
        "probe_hosts": c.path,
    }
    return Container(
        name=name,
        image=c["image"].string() or "",
        role=role,
        path=c.path,
        fields=fields,
        privileged=sc["privileged"].boolean(),
        cap_add=tuple(normalise_cap(x) for x in sc["capabilities"]["add"].strings()),
        cap_drop=tuple(normalise_cap(x) for x in sc["capabilities"]["drop"].strings()),
        read_only_rootfs=sc["readOnlyRootFilesystem"].boolean(),
        run_as_user=sc["runAsUser"].integer(),
        run_as_group=sc["runAsGroup"].integer(),
        run_as_non_root=sc["runAsNonRoot"].boolean(),
        no_new_privileges=None if ape is None else not ape,
        seccomp=seccomp,
        apparmor=apparmor,
        selinux=_selinux(sc["seLinuxOptions"]),
        proc_mount=sc["procMount"].string(),
        mounts=_mounts(c, volumes),
        ports=tuple(
            Port(
                container_port=p["containerPort"].integer(),
                host_port=p["hostPort"].integer() or None,
                host_ip=p["hostIP"].string() or "",
                protocol=(p["protocol"].string() or "TCP").lower(),
                path=p.path,
            )
            for p in c["ports"].entries()
        ),
        memory_limit=int(memory) if memory else None,
        cpu_limit=cpu_limit or None,
        cpu_shares=int(cpu_request * 1024) if cpu_request else None,
        healthcheck=True
        if (c["livenessProbe"].raw is not None or c["readinessProbe"].raw is not None)
        else None,
        probe_hosts=_probe_hosts(c),
        windows_host_process=sc["windowsOptions"]["hostProcess"].boolean(),
    )


def _pod(template: Value, resource: Resource, lines: dict[str, int] | None) -> Workload:
    meta, spec = template["metadata"], template["spec"]
    if not isinstance(spec.raw, dict):
        raise spec.error("expected the pod spec (a mapping)")
    annotations = {k: v.text() or "" for k, v in meta["annotations"].items()}
    volumes = _volumes(spec)
    by_name = {v.name: v for v in volumes}
    containers: list[Container] = []
    for key, role in (
        ("initContainers", "init"),
        ("containers", "container"),
        ("ephemeralContainers", "ephemeral"),
    ):
        containers += [_container(c, role, by_name, annotations) for c in spec[key].entries()]
    sc = spec["securityContext"]
    seccomp = _profile(sc["seccompProfile"])
    if seccomp is None:
        seccomp = _annotation_profile(annotations.get("seccomp.security.alpha.kubernetes.io/pod"))
    sp, s = spec.path, sc.path
    return Workload(
        resource=resource,
        containers=tuple(containers),
        path=sp,
        fields={
            "host_network": f"{sp}.hostNetwork",
            "host_pid": f"{sp}.hostPID",
            "host_ipc": f"{sp}.hostIPC",
            "host_users": f"{sp}.hostUsers",
            "sysctls": f"{s}.sysctls",
            "volumes": f"{sp}.volumes",
            "run_as_user": f"{s}.runAsUser",
            "run_as_group": f"{s}.runAsGroup",
            "run_as_non_root": f"{s}.runAsNonRoot",
            "seccomp": f"{s}.seccompProfile",
            "apparmor": f"{s}.appArmorProfile",
            "selinux": f"{s}.seLinuxOptions",
            "windows_host_process": f"{s}.windowsOptions.hostProcess",
            "supplemental_groups": f"{s}.supplementalGroups",
            "fs_group": f"{s}.fsGroup",
            "annotations": f"{meta.path}.annotations",
        },
        lines=lines or {},
        host_network=spec["hostNetwork"].boolean(),
        host_pid=spec["hostPID"].boolean(),
        host_ipc=spec["hostIPC"].boolean(),
        host_users=spec["hostUsers"].boolean(),
        sysctls=tuple(
            (x["name"].string() or "", x["value"].text() or "") for x in sc["sysctls"].entries()
        ),
        volumes=volumes,
        run_as_user=sc["runAsUser"].integer(),
        run_as_group=sc["runAsGroup"].integer(),
        run_as_non_root=sc["runAsNonRoot"].boolean(),
        seccomp=seccomp,
        apparmor=_profile(sc["appArmorProfile"]),
        selinux=_selinux(sc["seLinuxOptions"]),
        windows_host_process=sc["windowsOptions"]["hostProcess"].boolean(),
        supplemental_groups=tuple(g.integer() or 0 for g in sc["supplementalGroups"].entries()),
        fs_group=sc["fsGroup"].integer(),
        annotations=annotations,
        os=spec["os"]["name"].string(),
    )


def workloads_from_object(
    obj: Value, source: str, index: int | None, lines: dict[str, int] | None
) -> tuple[list[Workload], list[str]]:
    """The workloads in a Kubernetes object (or ``List``), and the kinds it skipped.

    Raises:
        UntrustedDataError: a field has the wrong type.
    """
    kind = obj["kind"].string() or ""
    if kind == "List" or (kind.endswith("List") and obj.has("items")):
        workloads: list[Workload] = []
        skipped: list[str] = []
        for item in obj["items"].entries():
            if not isinstance(item.raw, dict):
                raise item.error("a List item must be an object")
            item_kind = item["kind"].string() or kind.removesuffix("List")
            if not item.has("kind"):  # kubectl omits it inside typed lists
                item = Value({**item.raw, "kind": item_kind}, item.path, item.source)
            w, s = workloads_from_object(item, source, index, lines)
            workloads += w
            skipped += s
        return workloads, skipped
    route = TEMPLATE_PATHS.get(kind)
    if route is None:
        return [], [kind or "(no kind)"]
    meta = obj["metadata"]
    resource = Resource(
        source,
        "kubernetes",
        kind,
        meta["name"].string() or meta["generateName"].string() or "?",
        meta["namespace"].string() or "",
        index,
    )
    template = obj
    for step in route:
        template = template[step]
    if template.raw is None:
        raise template.error(f"a {kind} needs a pod template here")
    return [_pod(template, resource, lines)], []
