"""CIS Docker Benchmark v1.6.0: the checks that can be decided from configuration.

Section 5 ("Container Runtime Configuration") and recommendation 4.1, numbered as in
v1.6.0 (which added 5.1 "swarm mode" and so moved every earlier 5.x up by one). Checks that
need the running system (5.1 swarm mode, 5.7 sshd, 5.23/5.24 ``docker exec``, 5.28 image
freshness) are out of scope. The checks read ``docker inspect`` output, compose services,
Kubernetes pod templates and OCI runtime configs; each rule lists the formats it applies
to, and the messages say when a value is the runtime's default rather than written down.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from sealyard.runtime.audit._rules import RuleSet, finding, names
from sealyard.runtime.audit.interface import Finding, Rule, Severity
from sealyard.runtime.audit.model import Container, Workload

__all__ = [
    "CIS_DOCKER",
    "DANGEROUS_CAPABILITIES",
    "DOCKER_DEFAULT_CAPABILITIES",
    "SEALYARD_CAPABILITIES",
]

REFERENCE = "https://www.cisecurity.org/benchmark/docker"
CIS_DOCKER = RuleSet("cis", "CIS Docker Benchmark v1.6.0", "cis-docker-1.6.0", REFERENCE)

ALL = ("docker-inspect", "compose", "kubernetes", "oci")
DOCKER = ("docker-inspect", "compose")

#: The capabilities Docker and containerd grant by default.
DOCKER_DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
#: The set ``sealyard run`` keeps by default: none (see docs/running-containers.md — the
#: rootfs belongs to the mapped root and low ports are unprivileged in its network
#: namespace). Any capability in an OCI config is a relaxation of Sealyard's defaults.
SEALYARD_CAPABILITIES: frozenset[str] = frozenset()
#: Capabilities that amount to (or easily lead to) control of the host.
DANGEROUS_CAPABILITIES = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "SYS_MODULE",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_BOOT",
        "SYS_TIME",
        "DAC_READ_SEARCH",
        "NET_ADMIN",
        "BPF",
        "PERFMON",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "LINUX_IMMUTABLE",
        "AUDIT_CONTROL",
        "SYSLOG",
    }
)
SENSITIVE_HOST_PATHS = (
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/proc",
    "/sys",
    "/usr",
    "/root",
    "/var/lib/docker",
    "/var/lib/kubelet",
)
RUNTIME_SOCKETS = frozenset(
    {"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "cri-dockerd.sock"}
)
RUNTIME_SOCKET_DIRS = frozenset(
    {"/run", "/var/run", "/run/docker", "/var/run/docker", "/run/containerd", "/var/run/containerd"}
)
UNCONFINED_SELINUX_TYPES = frozenset({"spc_t", "unconfined_t", "container_runtime_t", "kernel_t"})


def _effective_user(c: Container, w: Workload) -> tuple[int | None, bool | None]:
    uid = c.run_as_user if c.run_as_user is not None else w.run_as_user
    non_root = c.run_as_non_root if c.run_as_non_root is not None else w.run_as_non_root
    return uid, non_root


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("", "root", "0")


def _maps_root_away(w: Workload) -> int | None:
    """The host uid container uid 0 maps to, when a user namespace maps it."""
    if w.host_users:
        return None
    for m in w.uid_mappings:
        if m.container_id <= 0 < m.container_id + m.size:
            return m.host_id + (0 - m.container_id)
    return None


@CIS_DOCKER.rule(
    "CIS-4.1",
    "Ensure that a user for the container has been created",
    Severity.MEDIUM,
    why="A process running as root in the container is root on the host as soon as it "
    "escapes (unless a user namespace maps it away), and root inside can change anything in "
    "the container's filesystem.",
    fix="Create an unprivileged user in the image (`RUN useradd -r app` and `USER app`) or "
    "run with `--user UID:GID` / compose `user:` / Kubernetes `runAsNonRoot: true` and a "
    "non-zero `runAsUser`.",
    formats=ALL,
)
def _user(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if w.format == "kubernetes":
            uid, non_root = _effective_user(c, w)
            field = c.where("run_as_user")
            if uid == 0:
                yield finding(rule, w, "runs as root (runAsUser: 0)", container=c, field=field)
            elif uid is None and not non_root:
                yield finding(
                    rule,
                    w,
                    "neither runAsNonRoot nor runAsUser is set: the image's USER applies, "
                    "which is root unless the image sets another",
                    container=c,
                    field=c.where("run_as_non_root"),
                    severity=Severity.LOW,
                )
        elif w.format == "oci":
            if c.run_as_user == 0:
                host = _maps_root_away(w)
                if host is None or host == 0:
                    yield finding(
                        rule,
                        w,
                        "process.user.uid is 0 and no user namespace maps it to an "
                        "unprivileged host uid",
                        container=c,
                        field=c.where("user"),
                    )
        elif c.user is None:
            yield finding(
                rule,
                w,
                "no `user:` set: the image's USER applies, which is root unless the image "
                "sets another",
                container=c,
                field=c.where("user"),
                severity=Severity.LOW,
            )
        elif _is_root(c.user):
            shown = c.user or '"" (the image sets no USER)'
            yield finding(
                rule, w, f"runs as root (user {shown})", container=c, field=c.where("user")
            )


def _apparmor(c: Container, w: Workload) -> str | None:
    return c.apparmor if c.apparmor is not None else w.apparmor


def _selinux_set(c: Container, w: Workload) -> bool:
    s = c.selinux or w.selinux
    return s is not None and not s.disabled and bool(s.type or s.user or s.role or s.level)


@CIS_DOCKER.rule(
    "CIS-5.2",
    "Ensure that, if applicable, an AppArmor Profile is enabled",
    Severity.MEDIUM,
    why="AppArmor confines what the container's processes may touch (mounts, /proc, raw "
    "sockets) even when other defences fail; `unconfined` removes that layer.",
    fix="Drop `apparmor=unconfined` / `appArmorProfile: Unconfined`; keep the runtime "
    "default (`docker-default`, `RuntimeDefault`) or a tailored profile. On hosts without "
    "AppArmor use SELinux instead (CIS 5.3).",
    formats=ALL,
)
def _apparmor_check(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        profile = _apparmor(c, w)
        field = c.where("apparmor")
        if profile == "unconfined":
            yield finding(rule, w, "AppArmor is disabled (unconfined)", container=c, field=field)
        elif profile == "" and not _selinux_set(c, w) and not c.privileged:
            yield finding(
                rule,
                w,
                "no AppArmor profile and no SELinux label: the container runs without a "
                "mandatory access control profile (normal only on hosts that have neither)",
                container=c,
                field=field,
                severity=Severity.INFO,
            )


@CIS_DOCKER.rule(
    "CIS-5.3",
    "Ensure that, if applicable, SELinux security options are set",
    Severity.MEDIUM,
    why="SELinux labels keep a container's processes from the host's files and from other "
    "containers; disabling labelling, or running as an unconfined type such as spc_t, "
    "removes that separation.",
    fix="Remove `label=disable` / `label:disable` and unconfined types (`spc_t`, "
    "`unconfined_t`); let the runtime assign `container_t` with a unique MCS level.",
    formats=ALL,
)
def _selinux_check(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        s = c.selinux or w.selinux
        field = w.where("selinux") if c.selinux is None and w.selinux else c.where("selinux")
        if s is not None and s.disabled:
            yield finding(rule, w, "SELinux labelling is disabled", container=c, field=field)
        elif s is not None and s.type in UNCONFINED_SELINUX_TYPES:
            yield finding(
                rule, w, f"runs as the unconfined SELinux type {s.type}", container=c, field=field
            )
        elif (
            w.format in ("docker-inspect", "oci")
            and s is None
            and _apparmor(c, w) in ("", None)
            and not c.privileged
        ):
            yield finding(
                rule,
                w,
                "no SELinux label and no AppArmor profile (normal only on hosts that have neither)",
                container=c,
                field=field,
                severity=Severity.INFO,
            )


@CIS_DOCKER.rule(
    "CIS-5.4",
    "Ensure that Linux kernel capabilities are restricted within containers",
    Severity.MEDIUM,
    why="Capabilities split root's power; every one granted is kernel attack surface. "
    "SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE and the like are close to full root on the "
    "host. The runtime default set still includes NET_RAW, MKNOD and others few programs need.",
    fix="Drop everything and add back only what the program needs: `--cap-drop ALL "
    "--cap-add NET_BIND_SERVICE`, compose `cap_drop: [ALL]`, Kubernetes "
    "`capabilities: {drop: [ALL]}`.",
    formats=ALL,
)
def _capabilities(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.privileged:
            continue  # CIS 5.5 covers it
        if w.format == "oci":
            granted = set(c.capabilities or ())
            beyond = granted - DOCKER_DEFAULT_CAPABILITIES - SEALYARD_CAPABILITIES
            extra = (granted & DOCKER_DEFAULT_CAPABILITIES) - SEALYARD_CAPABILITIES
            if beyond:
                dangerous = beyond & DANGEROUS_CAPABILITIES
                yield finding(
                    rule,
                    w,
                    f"grants capabilities beyond the runtime default: {names(beyond)}",
                    container=c,
                    field=c.where("capabilities"),
                    severity=Severity.HIGH if dangerous else Severity.MEDIUM,
                )
            if extra and "dev.sealyard.hardened" in w.annotations:
                # Only a config `sealyard run` generated promised to keep none of them.
                yield finding(
                    rule,
                    w,
                    f"grants {names(extra)}, which Sealyard's defaults drop (it keeps none)",
                    container=c,
                    field=c.where("capabilities"),
                    severity=Severity.LOW,
                )
            continue
        added = set(c.cap_add)
        beyond = added - DOCKER_DEFAULT_CAPABILITIES
        if beyond:
            dangerous = beyond & DANGEROUS_CAPABILITIES
            yield finding(
                rule,
                w,
                f"adds capabilities: {names(beyond)}",
                container=c,
                field=c.where("cap_add"),
                severity=Severity.HIGH if dangerous else Severity.MEDIUM,
            )
        if "ALL" not in c.cap_drop:
            yield finding(
                rule,
                w,
                "does not drop ALL capabilities: the runtime's default set (including "
                "NET_RAW and MKNOD) stays",
                container=c,
                field=c.where("cap_drop"),
                severity=Severity.LOW,
            )


def _effectively_privileged(c: Container) -> bool:
    caps = set(c.capabilities or ())
    return "SYS_ADMIN" in caps and c.seccomp == "unconfined" and not c.masked_paths


@CIS_DOCKER.rule(
    "CIS-5.5",
    "Ensure that privileged containers are not used",
    Severity.CRITICAL,
    why="A privileged container gets every capability, every host device, no seccomp "
    "filter, no AppArmor/SELinux confinement and writable /sys and /proc: escaping to the "
    "host is trivial.",
    fix="Remove `--privileged` / `privileged: true`; grant the specific capability or "
    "device the workload needs instead.",
    formats=ALL,
)
def _privileged(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.privileged:
            yield finding(rule, w, "runs privileged", container=c, field=c.where("privileged"))
        elif w.format == "oci" and _effectively_privileged(c):
            yield finding(
                rule,
                w,
                "effectively privileged: CAP_SYS_ADMIN, no seccomp filter and no masked paths",
                container=c,
                field=c.where("capabilities"),
            )


def _normal(path: str) -> str:
    if not path.startswith("/"):
        return ""
    return posixpath.normpath(path).replace("//", "/")


def _sensitive(source: str) -> str | None:
    path = _normal(source)
    if not path:
        return None
    for s in SENSITIVE_HOST_PATHS:
        if path == s or (s != "/" and path.startswith(s + "/")):
            return s
    return None


def _runtime_socket(source: str) -> bool:
    path = _normal(source)
    if not path:
        return False
    return posixpath.basename(path) in RUNTIME_SOCKETS or path in RUNTIME_SOCKET_DIRS


@CIS_DOCKER.rule(
    "CIS-5.6",
    "Ensure sensitive host system directories are not mounted on containers",
    Severity.HIGH,
    why="Host directories such as /, /etc, /boot, /dev, /proc, /sys, /usr or /lib let the "
    "container read secrets and, when writable, change the host's binaries and "
    "configuration.",
    fix="Mount only the specific, non-system directories the workload needs, read-only "
    "where possible; use named volumes for data.",
    formats=ALL,
)
def _sensitive_mounts(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        for m in c.mounts:
            if not m.from_host or _runtime_socket(m.source):
                continue
            if (
                w.format == "oci"
                and _normal(m.source) == "/sys"
                and m.destination.rstrip("/") == "/sys"
                and m.read_only
            ):
                continue  # how rootless runtimes provide a read-only /sys
            hit = _sensitive(m.source)
            if hit is None:
                continue
            mode = "read-only" if m.read_only else "read-write"
            yield finding(
                rule,
                w,
                f"mounts host path {m.source} ({mode}) at {m.destination}",
                container=c,
                field=m.path or c.where("mounts"),
                severity=Severity.MEDIUM if m.read_only else Severity.HIGH,
            )


@CIS_DOCKER.rule(
    "CIS-5.8",
    "Ensure privileged ports are not mapped within containers",
    Severity.LOW,
    why="Ports below 1024 are reserved for privileged services; publishing a container "
    "on one lets it pose as a system service of the host.",
    fix="Publish on a port of 1024 or above (`-p 8080:80`) and put a proxy or load "
    "balancer in front if the public port must be low.",
    formats=("docker-inspect", "compose", "kubernetes"),
)
def _privileged_ports(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        for p in c.ports:
            if p.host_port is not None and 0 < p.host_port < 1024:
                yield finding(
                    rule,
                    w,
                    f"publishes container port {p.container_port} on privileged host port "
                    f"{p.host_port}",
                    container=c,
                    field=p.path or c.where("ports"),
                )


@CIS_DOCKER.rule(
    "CIS-5.9",
    "Ensure that only needed ports are open on the container",
    Severity.LOW,
    why="`docker run -P` publishes every port the image EXPOSEs, including ones meant only "
    "for debugging or for other containers.",
    fix="Publish the ports you need explicitly with `-p HOST:CONTAINER` instead of `-P`.",
    formats=("docker-inspect",),
)
def _publish_all(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.publish_all_ports:
        yield finding(
            rule,
            w,
            "publishes every exposed port (-P / PublishAllPorts)",
            field=w.where("publish_all_ports"),
        )


@CIS_DOCKER.rule(
    "CIS-5.10",
    "Ensure that the host's network namespace is not shared",
    Severity.HIGH,
    why="With the host's network namespace the container sees every host interface, can "
    "bind any host address, reach services listening on localhost and sniff traffic.",
    fix="Remove `--network host` / `network_mode: host` / `hostNetwork: true`; publish "
    "the needed ports instead.",
    formats=ALL,
)
def _host_network(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_network:
        yield finding(rule, w, "shares the host's network namespace", field=w.where("host_network"))


def _resource_containers(w: Workload) -> list[Container]:
    """Containers that can carry resource limits (not Kubernetes ephemeral containers)."""
    return [c for c in w.containers if c.role != "ephemeral"]


@CIS_DOCKER.rule(
    "CIS-5.11",
    "Ensure that the memory usage for containers is limited",
    Severity.MEDIUM,
    why="Without a memory limit one container can exhaust the host's memory and have the "
    "kernel's OOM killer take down other containers or host services.",
    fix="Set a limit: `--memory 512m`, compose `mem_limit` or `deploy.resources.limits."
    "memory`, Kubernetes `resources.limits.memory`, OCI `linux.resources.memory.limit`.",
    formats=ALL,
)
def _memory(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in _resource_containers(w):
        if not c.memory_limit:
            yield finding(rule, w, "no memory limit", container=c, field=c.where("memory_limit"))


@CIS_DOCKER.rule(
    "CIS-5.12",
    "Ensure that CPU priority is set appropriately on containers",
    Severity.LOW,
    why="Without CPU shares or a CPU limit a busy container competes equally with every "
    "other one and can starve latency-sensitive services.",
    fix="Set `--cpus` or `--cpu-shares`, compose `cpus`/`cpu_shares`, Kubernetes "
    "`resources.requests.cpu` and `limits.cpu`.",
    formats=ALL,
)
def _cpu(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in _resource_containers(w):
        shares = c.cpu_shares
        if w.format in DOCKER and shares == 1024:
            shares = None  # docker's default weight: nothing was set
        if not c.cpu_limit and not shares:
            yield finding(
                rule, w, "no CPU shares and no CPU limit", container=c, field=c.where("cpu_limit")
            )


@CIS_DOCKER.rule(
    "CIS-5.13",
    "Ensure that the container's root filesystem is mounted as read only",
    Severity.MEDIUM,
    why="A writable root filesystem lets an intruder drop tools and persist changes in the "
    "container; a read-only one forces writes into explicit volumes and tmpfs.",
    fix="Run with `--read-only` (compose `read_only: true`, Kubernetes "
    "`readOnlyRootFilesystem: true`, OCI `root.readonly: true`) and mount a tmpfs or volume "
    "where the program must write.",
    formats=ALL,
)
def _read_only(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.read_only_rootfs is not True:
            yield finding(
                rule,
                w,
                "root filesystem is writable",
                container=c,
                field=c.where("read_only_rootfs"),
            )


_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - what we look for


@CIS_DOCKER.rule(
    "CIS-5.14",
    "Ensure that incoming container traffic is bound to a specific host interface",
    Severity.LOW,
    why="A port published on 0.0.0.0 is reachable on every interface of the host, "
    "including public ones, and Docker's iptables rules bypass host firewalls such as ufw.",
    fix="Publish on the interface that should receive traffic: `-p 127.0.0.1:8080:80`, "
    'compose `"127.0.0.1:8080:80"` or `host_ip`, Kubernetes `hostIP`.',
    formats=("docker-inspect", "compose", "kubernetes"),
)
def _host_interface(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_network:
        return
    for c in w.containers:
        for p in c.ports:
            if p.host_port is not None and p.host_ip in _ANY_ADDRESS:
                shown = p.host_port or "a random port"
                yield finding(
                    rule,
                    w,
                    f"publishes container port {p.container_port} on every host interface "
                    f"(host port {shown})",
                    container=c,
                    field=p.path or c.where("ports"),
                )


@CIS_DOCKER.rule(
    "CIS-5.15",
    "Ensure that the 'on-failure' container restart policy is set to '5'",
    Severity.LOW,
    why="`always` or unlimited `on-failure` restarts turn a crash loop (or an exploit that "
    "crashes the service) into endless restarts that hide the problem and load the host.",
    fix="Use `--restart on-failure:5` (compose `restart: on-failure:5` or "
    "`deploy.restart_policy: {condition: on-failure, max_attempts: 5}`).",
    formats=DOCKER,
)
def _restart(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        policy, count = c.restart_policy, c.restart_max
        field = c.where("restart_policy")
        if policy in ("always", "unless-stopped"):
            yield finding(rule, w, f"restart policy is {policy}", container=c, field=field)
        elif policy == "on-failure" and (not count or count > 5):
            shown = "unlimited" if not count else str(count)
            yield finding(
                rule,
                w,
                f"on-failure restart policy allows {shown} restarts",
                container=c,
                field=field,
            )


@CIS_DOCKER.rule(
    "CIS-5.16",
    "Ensure that the host's process namespace is not shared",
    Severity.HIGH,
    why="In the host's PID namespace the container sees every host process and, with "
    "enough privilege, can signal, trace or read the memory of them.",
    fix="Remove `--pid host` / `pid: host` / `hostPID: true`.",
    formats=ALL,
)
def _host_pid(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_pid:
        yield finding(rule, w, "shares the host's PID namespace", field=w.where("host_pid"))


@CIS_DOCKER.rule(
    "CIS-5.17",
    "Ensure that the host's IPC namespace is not shared",
    Severity.MEDIUM,
    why="The host's IPC namespace exposes shared memory segments, semaphores and message "
    "queues of host processes to the container.",
    fix="Remove `--ipc host` / `ipc: host` / `hostIPC: true`.",
    formats=ALL,
)
def _host_ipc(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_ipc:
        yield finding(rule, w, "shares the host's IPC namespace", field=w.where("host_ipc"))


@CIS_DOCKER.rule(
    "CIS-5.18",
    "Ensure that host devices are not directly exposed to containers",
    Severity.MEDIUM,
    why="A host device node gives the container direct access to hardware or kernel "
    "drivers (disks, GPUs, /dev/mem), bypassing the usual isolation.",
    fix="Remove `--device` / `devices:` / device cgroup rules unless the workload cannot "
    "work without them, and grant only the needed access (`r` rather than `rwm`).",
    formats=("docker-inspect", "compose", "oci"),
)
def _devices(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.devices:
            yield finding(
                rule,
                w,
                f"host devices exposed: {names(c.devices)}",
                container=c,
                field=c.where("devices"),
            )


@CIS_DOCKER.rule(
    "CIS-5.19",
    "Ensure that the default ulimit is overwritten at runtime if needed",
    Severity.INFO,
    why="Per-container ulimits (open files, processes) contain a runaway or malicious "
    "container; without them the daemon-wide defaults apply, and `-1` means unlimited.",
    fix="Set the limits the workload needs: `--ulimit nofile=1024:2048`, compose "
    "`ulimits:`, OCI `process.rlimits`.",
    formats=("docker-inspect", "compose", "oci"),
)
def _ulimits(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.ulimits is None:
            yield finding(
                rule,
                w,
                "no per-container ulimits: the daemon defaults apply",
                container=c,
                field=c.where("ulimits"),
            )
            continue
        unlimited = [u.name for u in c.ulimits if u.soft < 0 or u.hard < 0]
        if unlimited:
            yield finding(
                rule,
                w,
                f"unlimited ulimits: {names(unlimited)}",
                container=c,
                field=c.where("ulimits"),
                severity=Severity.LOW,
            )


@CIS_DOCKER.rule(
    "CIS-5.20",
    "Ensure mount propagation mode is not set to shared",
    Severity.MEDIUM,
    why="With shared propagation, mounts the container makes appear on the host (and "
    "vice versa), so a compromised container can change the host's mount table.",
    fix="Use the default `rprivate` propagation (or `rslave` when host mounts must reach "
    "the container); avoid `shared`/`rshared` and Kubernetes `Bidirectional`.",
    formats=ALL,
)
def _propagation(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        for m in c.mounts:
            if m.propagation in ("shared", "rshared"):
                yield finding(
                    rule,
                    w,
                    f"{m.destination} is mounted with {m.propagation} propagation",
                    container=c,
                    field=m.path or c.where("mounts"),
                )


@CIS_DOCKER.rule(
    "CIS-5.21",
    "Ensure that the host's UTS namespace is not shared",
    Severity.LOW,
    why="In the host's UTS namespace the container can change the host's hostname and NIS "
    "domain name.",
    fix="Remove `--uts host` / `uts: host`; OCI configs need a `uts` namespace.",
    formats=("docker-inspect", "compose", "oci"),
)
def _host_uts(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_uts:
        yield finding(rule, w, "shares the host's UTS namespace", field=w.where("host_uts"))


def _seccomp(c: Container, w: Workload) -> str | None:
    return c.seccomp if c.seccomp is not None else w.seccomp


@CIS_DOCKER.rule(
    "CIS-5.22",
    "Ensure the default seccomp profile is not Disabled",
    Severity.HIGH,
    why="Seccomp blocks the system calls containers have no business making (keyctl, "
    "bpf, mount, unshare, …), which is where many kernel exploits start.",
    fix="Remove `seccomp=unconfined` / `seccompProfile: Unconfined`; in Kubernetes set "
    "`seccompProfile: {type: RuntimeDefault}`; in an OCI config keep `linux.seccomp` with "
    "an allowlist (`defaultAction: SCMP_ACT_ERRNO`).",
    formats=ALL,
)
def _seccomp_check(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.privileged:
            continue  # CIS 5.5 covers it
        profile = _seccomp(c, w)
        field = c.where("seccomp") if c.seccomp is not None else w.where("seccomp")
        if profile == "unconfined":
            what = "no linux.seccomp filter" if w.format == "oci" else "seccomp is unconfined"
            yield finding(rule, w, what, container=c, field=field)
        elif profile is None and w.format == "kubernetes":
            yield finding(
                rule,
                w,
                "no seccompProfile: the kubelet runs the container Unconfined unless it was "
                "started with --seccomp-default",
                container=c,
                field=field,
                severity=Severity.MEDIUM,
            )
        elif profile == "custom" and (c.seccomp_default_action or "").upper() in (
            "SCMP_ACT_ALLOW",
            "SCMP_ACT_LOG",
        ):
            yield finding(
                rule,
                w,
                f"the seccomp profile's defaultAction is {c.seccomp_default_action}: it "
                "allows every system call it does not list",
                container=c,
                field=f"{field}.defaultAction",
                severity=Severity.MEDIUM,
            )


@CIS_DOCKER.rule(
    "CIS-5.25",
    "Ensure that cgroup usage is confirmed",
    Severity.INFO,
    why="A custom cgroup parent moves the container out of the runtime's cgroup hierarchy "
    "and its limits; it should be deliberate.",
    fix="Confirm the cgroup parent is intended, or remove `--cgroup-parent` / `cgroup_parent`.",
    formats=DOCKER,
)
def _cgroup(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.cgroup_parent:
        yield finding(
            rule,
            w,
            f"runs under the custom cgroup parent {w.cgroup_parent}",
            field=w.where("cgroup_parent"),
        )


@CIS_DOCKER.rule(
    "CIS-5.26",
    "Ensure that the container is restricted from acquiring additional privileges",
    Severity.MEDIUM,
    why="Without no_new_privs a process can gain privileges through setuid/setgid "
    "binaries or file capabilities inside the container.",
    fix="Run with `--security-opt no-new-privileges` (compose `security_opt: "
    '["no-new-privileges:true"]`, Kubernetes `allowPrivilegeEscalation: false`, OCI '
    "`process.noNewPrivileges: true`), or set it daemon-wide in daemon.json.",
    formats=ALL,
)
def _no_new_privileges(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.no_new_privileges is True:
            continue
        field = c.where("no_new_privileges")
        if w.format == "kubernetes":
            text = (
                "allowPrivilegeEscalation is true"
                if c.no_new_privileges is False
                else "allowPrivilegeEscalation is not set (it defaults to true)"
            )
        elif w.format == "oci":
            text = "process.noNewPrivileges is not true"
        else:
            text = (
                "no-new-privileges is false"
                if c.no_new_privileges is False
                else "no-new-privileges is not set (unless the daemon sets it globally)"
            )
        yield finding(rule, w, text, container=c, field=field)


@CIS_DOCKER.rule(
    "CIS-5.27",
    "Ensure that container health is checked at runtime",
    Severity.LOW,
    why="Without a health check a hung or compromised service keeps receiving traffic and "
    "is never restarted.",
    fix="Add a HEALTHCHECK to the image or `--health-cmd` / compose `healthcheck:`; in "
    "Kubernetes add liveness and readiness probes.",
    formats=("docker-inspect", "compose", "kubernetes"),
)
def _health(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.role != "container":
            continue
        field = c.where("healthcheck")
        if c.healthcheck is False:
            yield finding(rule, w, "the health check is disabled", container=c, field=field)
        elif c.healthcheck is None:
            text = {
                "docker-inspect": "no health check (neither the image nor the run sets one)",
                "compose": "no healthcheck in the service (the image may define one)",
                "kubernetes": "no liveness or readiness probe",
            }[w.format]
            yield finding(rule, w, text, container=c, field=field)


@CIS_DOCKER.rule(
    "CIS-5.29",
    "Ensure that the PIDs cgroup limit is used",
    Severity.MEDIUM,
    why="Without a PIDs limit a fork bomb in one container exhausts the host's process table.",
    fix="Set `--pids-limit 512` (compose `pids_limit`, OCI `linux.resources.pids.limit`).",
    formats=("docker-inspect", "compose", "oci"),
)
def _pids(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.pids_limit is None or c.pids_limit <= 0:
            yield finding(rule, w, "no PIDs limit", container=c, field=c.where("pids_limit"))


@CIS_DOCKER.rule(
    "CIS-5.30",
    'Ensure that Docker\'s default bridge "docker0" is not used',
    Severity.LOW,
    why="Every container on the default bridge can reach every other one, and the "
    "default bridge has no embedded DNS or network separation.",
    fix="Create a user-defined network (`docker network create app`) and attach the "
    "container to it; compose does this unless `network_mode: bridge`.",
    formats=DOCKER,
)
def _docker0(rule: Rule, w: Workload) -> Iterator[Finding]:
    mode = w.network_mode
    field = w.where("network_mode")
    if w.format == "compose":
        if mode == "bridge":
            yield finding(rule, w, "network_mode is bridge (docker0)", field=field)
        return
    if mode in ("default", "bridge") and (not w.networks or "bridge" in w.networks):
        yield finding(rule, w, "attached to the default bridge network (docker0)", field=field)


@CIS_DOCKER.rule(
    "CIS-5.31",
    "Ensure that the host's user namespaces are not shared",
    Severity.MEDIUM,
    why="In the host's user namespace uid 0 in the container is uid 0 on the host; a "
    "private user namespace maps it to an unprivileged host uid, so an escape lands as "
    "nobody.",
    fix="Remove `--userns host` / `userns_mode: host`; enable userns-remap in the daemon; "
    "in Kubernetes set `hostUsers: false`; OCI configs need a `user` namespace with "
    "`uidMappings` that map 0 to an unprivileged host uid.",
    formats=ALL,
)
def _userns(rule: Rule, w: Workload) -> Iterator[Finding]:
    field = w.where("host_users")
    if w.format == "kubernetes":
        if w.host_users is not False:
            yield finding(
                rule,
                w,
                "hostUsers is not false: the pod shares the node's user namespace",
                field=field,
                severity=Severity.LOW,
            )
    elif w.format == "oci":
        if w.host_users:
            yield finding(rule, w, "no user namespace in linux.namespaces", field=field)
        elif _maps_root_away(w) == 0:
            yield finding(
                rule,
                w,
                "the user namespace maps container uid 0 to host uid 0",
                field=w.where("uid_mappings"),
            )
    elif w.host_users:
        yield finding(rule, w, "shares the host's user namespace", field=field)


@CIS_DOCKER.rule(
    "CIS-5.32",
    "Ensure that the Docker socket is not mounted inside any containers",
    Severity.CRITICAL,
    why="Whoever can talk to the container runtime's socket can start a privileged "
    "container with the host's root filesystem mounted: it is root on the host.",
    fix="Do not mount docker.sock (or containerd/CRI-O/podman sockets, or /run); use a "
    "narrowly scoped API proxy if a tool must talk to the engine.",
    formats=ALL,
)
def _socket(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        for m in c.mounts:
            if m.from_host and _runtime_socket(m.source):
                yield finding(
                    rule,
                    w,
                    f"mounts the container runtime socket {m.source} at {m.destination}",
                    container=c,
                    field=m.path or c.where("mounts"),
                )
