"""The normalised container model every audit standard evaluates.

``docker inspect`` output, compose services, Kubernetes pod templates and OCI runtime
bundles all become a :class:`Workload` holding one or more :class:`Container` objects.
``None`` always means *not set in the document* (the runtime default applies), as distinct
from an explicit ``False``, ``0`` or empty value: the standards care about that difference.

Each object also remembers where its values came from (:attr:`Workload.fields`,
:attr:`Container.fields`: attribute name to document path) so a finding can point at the
offending line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sealyard.runtime.audit.interface import Resource

__all__ = [
    "Container",
    "IdMapping",
    "Mount",
    "Port",
    "SELinuxOptions",
    "Ulimit",
    "Volume",
    "Workload",
]


@dataclass(frozen=True)
class SELinuxOptions:
    """SELinux process label parts; ``disabled`` means labelling was turned off."""

    user: str = ""
    role: str = ""
    type: str = ""
    level: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class Mount:
    """A filesystem mounted into a container.

    Attributes:
        destination: path inside the container.
        source: host path for ``bind``/``hostPath`` mounts, a volume name otherwise.
        kind: ``bind``, ``hostPath``, ``volume``, ``tmpfs``, a Kubernetes volume type, or a
            filesystem type (``proc``, ``sysfs``) for OCI mounts.
        read_only: mounted read-only.
        propagation: ``private``, ``rprivate``, ``shared``, ``rshared``, ``slave``,
            ``rslave`` or ``""`` (runtime default). Kubernetes ``Bidirectional`` is
            ``rshared``, ``HostToContainer`` is ``rslave``.
        path: where it is declared in the document.
    """

    destination: str
    source: str = ""
    kind: str = "bind"
    read_only: bool = False
    propagation: str = ""
    path: str = ""

    @property
    def from_host(self) -> bool:
        """A host path shows up inside the container."""
        return self.kind in ("bind", "hostPath")


@dataclass(frozen=True)
class Port:
    """A container port, and the host port it is published on (if any).

    ``host_ip`` ``""`` means every interface; ``host_port`` ``None`` means not published
    on the host, ``0`` means published on a port the runtime picks.
    """

    container_port: int | None
    host_port: int | None = None
    host_ip: str = ""
    protocol: str = "tcp"
    path: str = ""


@dataclass(frozen=True)
class Ulimit:
    """A resource limit; ``-1`` is unlimited."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Volume:
    """A Kubernetes pod volume: its name, its type (``hostPath``, ``emptyDir``, …)."""

    name: str
    kind: str
    host_path: str = ""
    path: str = ""


@dataclass(frozen=True)
class IdMapping:
    """One user-namespace id mapping (OCI ``uidMappings``)."""

    container_id: int
    host_id: int
    size: int


@dataclass(frozen=True)
class Container:
    """One container's security-relevant settings.

    Attributes:
        name: container name (compose: service name; docker: container name).
        image: image reference.
        role: ``container``, ``init`` or ``ephemeral`` (Kubernetes).
        path: where the container is defined in the document.
        fields: attribute name → document path, for attributes the document sets or
            where a missing attribute belongs.
        privileged: ``--privileged`` / ``securityContext.privileged``.
        cap_add, cap_drop: capability names without ``CAP_``, upper case (``ALL`` kept).
        capabilities: the explicit capability set (OCI: the union of all five sets);
            ``None`` when the runtime default set applies, modified by add/drop.
        read_only_rootfs: root filesystem mounted read-only.
        user: the ``USER`` string (``uid[:gid]`` or a name); ``""`` when the document
            resolved it to the image default (docker inspect), ``None`` when unset.
        run_as_user, run_as_group, run_as_non_root: Kubernetes/OCI numeric identity.
        no_new_privileges: ``no_new_privs`` set (Kubernetes: ``allowPrivilegeEscalation``
            ``False`` maps to ``True`` here, ``True`` to ``False``).
        seccomp: ``unconfined``, ``runtime/default``, ``localhost/<name>``, ``custom``
            (an inline profile) or ``None`` (not set).
        seccomp_default_action: the inline profile's ``defaultAction`` (OCI).
        apparmor: ``unconfined``, ``runtime/default``, ``localhost/<name>``, another
            profile name, ``""`` (resolved to none) or ``None`` (not set).
        selinux: SELinux options, ``None`` when not set.
        proc_mount: Kubernetes ``procMount`` (``Default``/``Unmasked``).
        masked_paths, readonly_paths: ``None`` when not set (runtime default).
        sys_read_only: ``/sys`` mounted read-only (``None``: not decidable / default).
        mounts, ports, devices: what crosses from the host.
        memory_limit: bytes. cpu_limit: CPUs. cpu_shares: relative weight.
        pids_limit: max processes (``-1``/``0`` are unlimited).
        ulimits: ``None`` when not set.
        healthcheck: ``True`` configured, ``False`` explicitly disabled, ``None`` absent.
        probe_hosts: ``host`` values of probes and lifecycle handlers (Kubernetes).
        restart_policy, restart_max: docker/compose restart policy.
        windows_host_process: Kubernetes ``windowsOptions.hostProcess``.
    """

    name: str
    image: str = ""
    role: str = "container"
    path: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    privileged: bool | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    capabilities: tuple[str, ...] | None = None
    read_only_rootfs: bool | None = None
    user: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    no_new_privileges: bool | None = None
    seccomp: str | None = None
    seccomp_default_action: str | None = None
    apparmor: str | None = None
    selinux: SELinuxOptions | None = None
    proc_mount: str | None = None
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    sys_read_only: bool | None = None
    mounts: tuple[Mount, ...] = ()
    ports: tuple[Port, ...] = ()
    devices: tuple[str, ...] = ()
    memory_limit: int | None = None
    cpu_limit: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    ulimits: tuple[Ulimit, ...] | None = None
    healthcheck: bool | None = None
    probe_hosts: tuple[str, ...] = ()
    restart_policy: str | None = None
    restart_max: int | None = None
    windows_host_process: bool | None = None

    def where(self, attribute: str) -> str:
        """Document path of ``attribute`` (the container's own path when unknown)."""
        return self.fields.get(attribute, self.path)


@dataclass(frozen=True)
class Workload:
    """A unit that runs containers, with the settings they share.

    Attributes:
        resource: what and where it is.
        containers: its containers (one, except for Kubernetes pods).
        path: where the pod spec / service / container is in the document.
        fields: attribute name → document path (pod-level values).
        lines: document path → 1-based line, for YAML sources.
        host_network, host_pid, host_ipc, host_uts: the host's namespace is shared.
        host_users: the host's user namespace is shared (``False``: own user namespace).
        uid_mappings: OCI ``linux.uidMappings``.
        network_mode: docker/compose network mode (``default``, ``bridge``, ``host`` …).
        networks: networks the container is attached to (docker inspect).
        cgroup_parent: a custom cgroup parent.
        sysctls: ``(name, value)`` pairs.
        volumes: Kubernetes pod volumes.
        run_as_user, run_as_group, run_as_non_root, seccomp, apparmor, selinux,
        windows_host_process: pod-level security context (containers inherit them).
        supplemental_groups, fs_group: pod-level group ids.
        annotations: Kubernetes pod template annotations.
        os: Kubernetes ``spec.os.name``.
        publish_all_ports: ``docker run -P``.
    """

    resource: Resource
    containers: tuple[Container, ...]
    path: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    lines: Mapping[str, int] = field(default_factory=dict)
    host_network: bool | None = None
    host_pid: bool | None = None
    host_ipc: bool | None = None
    host_uts: bool | None = None
    host_users: bool | None = None
    uid_mappings: tuple[IdMapping, ...] = ()
    network_mode: str | None = None
    networks: tuple[str, ...] = ()
    cgroup_parent: str | None = None
    sysctls: tuple[tuple[str, str], ...] = ()
    volumes: tuple[Volume, ...] = ()
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    seccomp: str | None = None
    apparmor: str | None = None
    selinux: SELinuxOptions | None = None
    windows_host_process: bool | None = None
    supplemental_groups: tuple[int, ...] = ()
    fs_group: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    os: str | None = None
    publish_all_ports: bool | None = None

    @property
    def format(self) -> str:
        return self.resource.format

    def where(self, attribute: str) -> str:
        """Document path of the pod-level ``attribute`` (the workload's path when unknown)."""
        return self.fields.get(attribute, self.path)

    def line_of(self, path: str | None) -> int | None:
        """The line of ``path`` or of its nearest ancestor that the document has."""
        if not self.lines or path is None:
            return None
        current = path
        while current:
            line = self.lines.get(current)
            if line is not None:
                return line
            cut = max(current.rfind("."), current.rfind("["))
            if cut <= 0:
                break
            current = current[:cut]
        return self.lines.get(current) or self.lines.get("")
