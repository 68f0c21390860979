"""Kubernetes Pod Security Standards: every control of the Baseline and Restricted profiles.

Follows the current page (kubernetes.io/docs/concepts/security/pod-security-standards) and
the latest policy version of ``k8s.io/pod-security-admission``: the Baseline capability
list, SELinux types including ``container_engine_t`` (1.31), the safe sysctls through
``net.ipv4.tcp_rmem``/``tcp_wmem`` (1.32), the probe/lifecycle ``host`` control (1.34), the
``procMount`` relaxation for pods with ``hostUsers: false`` (1.35, Baseline only) and
``image`` volumes (1.33, Restricted). Restricted includes Baseline; pods with
``spec.os.name: windows`` are exempt from the Linux-only Restricted controls, as in the
admission plugin. Only Kubernetes manifests are evaluated.
"""

from __future__ import annotations

from collections.abc import Iterator

from sealyard.runtime.audit._rules import RuleSet, finding, names
from sealyard.runtime.audit.interface import Finding, Rule, Severity
from sealyard.runtime.audit.model import Container, SELinuxOptions, Workload

__all__ = [
    "BASELINE_CAPABILITIES",
    "PSS_BASELINE",
    "PSS_RESTRICTED",
    "RESTRICTED_VOLUME_TYPES",
    "SAFE_SYSCTLS",
]

REFERENCE = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
PSS_BASELINE = RuleSet(
    "pss-baseline", "Kubernetes Pod Security Standards: Baseline", "pss-baseline", REFERENCE
)
PSS_RESTRICTED = RuleSet(
    "pss-restricted",
    "Kubernetes Pod Security Standards: Restricted",
    "pss-restricted",
    REFERENCE,
)
K8S = ("kubernetes",)

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def _windows(w: Workload) -> bool:
    return (w.os or "").lower() == "windows"


# --- Baseline -----------------------------------------------------------------------------


@PSS_BASELINE.rule(
    "PSS-BASELINE-HOSTPROCESS",
    "HostProcess",
    Severity.HIGH,
    why="Windows HostProcess containers run directly on the node with its privileges.",
    fix="Remove `windowsOptions.hostProcess: true` from the pod and its containers.",
    formats=K8S,
)
def _host_process(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.windows_host_process:
        yield finding(
            rule, w, "the pod is a HostProcess pod", field=w.where("windows_host_process")
        )
    for c in w.containers:
        if c.windows_host_process:
            yield finding(
                rule,
                w,
                "windowsOptions.hostProcess is true",
                container=c,
                field=c.where("windows_host_process"),
            )


@PSS_BASELINE.rule(
    "PSS-BASELINE-HOST-NAMESPACES",
    "Host Namespaces",
    Severity.HIGH,
    why="Sharing the node's network, PID or IPC namespace lets the pod see and reach the "
    "node's interfaces, processes and shared memory.",
    fix="Remove `hostNetwork`, `hostPID` and `hostIPC` (or set them to false).",
    formats=K8S,
)
def _host_namespaces(rule: Rule, w: Workload) -> Iterator[Finding]:
    for attribute, name in (
        ("host_network", "hostNetwork"),
        ("host_pid", "hostPID"),
        ("host_ipc", "hostIPC"),
    ):
        if getattr(w, attribute):
            yield finding(rule, w, f"{name} is true", field=w.where(attribute))


@PSS_BASELINE.rule(
    "PSS-BASELINE-PRIVILEGED",
    "Privileged Containers",
    Severity.CRITICAL,
    why="Privileged pods disable most security mechanisms.",
    fix="Remove `securityContext.privileged: true`.",
    formats=K8S,
)
def _privileged(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.privileged:
            yield finding(rule, w, "privileged is true", container=c, field=c.where("privileged"))


@PSS_BASELINE.rule(
    "PSS-BASELINE-CAPABILITIES",
    "Capabilities",
    Severity.HIGH,
    why="Capabilities beyond the default set (such as SYS_ADMIN or NET_ADMIN) allow known "
    "privilege escalations.",
    fix=f"Add only capabilities from the default set: {names(BASELINE_CAPABILITIES)}.",
    formats=K8S,
)
def _capabilities(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        extra = set(c.cap_add) - BASELINE_CAPABILITIES
        if extra:
            yield finding(rule, w, f"adds {names(extra)}", container=c, field=c.where("cap_add"))


@PSS_BASELINE.rule(
    "PSS-BASELINE-HOSTPATH",
    "HostPath Volumes",
    Severity.HIGH,
    why="hostPath volumes expose the node's filesystem to the pod.",
    fix="Replace hostPath volumes with emptyDir, configMap, secret or a PersistentVolumeClaim.",
    formats=K8S,
)
def _host_path(rule: Rule, w: Workload) -> Iterator[Finding]:
    for v in w.volumes:
        if v.kind == "hostPath":
            yield finding(rule, w, f"volume {v.name!r} is hostPath {v.host_path}", field=v.path)


@PSS_BASELINE.rule(
    "PSS-BASELINE-HOST-PORTS",
    "Host Ports",
    Severity.MEDIUM,
    why="hostPort binds a port on the node itself, bypassing Services and network policy "
    "and colliding with node services.",
    fix="Remove `hostPort` and expose the pod through a Service.",
    formats=K8S,
)
def _host_ports(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        for p in c.ports:
            if p.host_port:
                yield finding(
                    rule,
                    w,
                    f"hostPort {p.host_port} (container port {p.container_port})",
                    container=c,
                    field=f"{p.path}.hostPort" if p.path else c.where("ports"),
                )


@PSS_BASELINE.rule(
    "PSS-BASELINE-HOST-PROBES",
    "Host Probes / Lifecycle Hooks",
    Severity.MEDIUM,
    why="A probe or lifecycle hook with a `host` makes the kubelet connect to an arbitrary "
    "address from the node, which can reach node-local services.",
    fix="Remove `host` from httpGet/tcpSocket probes and lifecycle handlers; they then "
    "target the pod's own IP.",
    formats=K8S,
)
def _host_probes(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        if c.probe_hosts:
            yield finding(
                rule,
                w,
                f"probe or lifecycle host set: {names(c.probe_hosts)}",
                container=c,
                field=c.where("probe_hosts"),
            )


def _apparmor_ok(profile: str | None) -> bool:
    return profile is None or profile == "runtime/default" or profile.startswith("localhost/")


@PSS_BASELINE.rule(
    "PSS-BASELINE-APPARMOR",
    "AppArmor",
    Severity.MEDIUM,
    why="On AppArmor hosts the runtime's default profile confines the pod; overriding it "
    "with `Unconfined` removes that confinement.",
    fix="Use `appArmorProfile: {type: RuntimeDefault}` or a `Localhost` profile (or the "
    "`runtime/default` / `localhost/…` annotation values).",
    formats=K8S,
)
def _apparmor(rule: Rule, w: Workload) -> Iterator[Finding]:
    if not _apparmor_ok(w.apparmor):
        yield finding(rule, w, f"pod AppArmor profile is {w.apparmor}", field=w.where("apparmor"))
    for c in w.containers:
        if not _apparmor_ok(c.apparmor):
            yield finding(
                rule,
                w,
                f"AppArmor profile is {c.apparmor}",
                container=c,
                field=c.where("apparmor"),
            )


def _selinux_problems(s: SELinuxOptions | None) -> list[str]:
    if s is None:
        return []
    out = []
    if s.type not in SELINUX_TYPES:
        out.append(f"type {s.type}")
    if s.user:
        out.append("user set")
    if s.role:
        out.append("role set")
    return out


@PSS_BASELINE.rule(
    "PSS-BASELINE-SELINUX",
    "SELinux",
    Severity.MEDIUM,
    why="Custom SELinux users, roles or types (such as spc_t) escape the confinement of "
    "the container types.",
    fix="Set only `seLinuxOptions.type` to container_t, container_init_t, container_kvm_t or "
    "container_engine_t (or leave it unset); do not set user or role.",
    formats=K8S,
)
def _selinux(rule: Rule, w: Workload) -> Iterator[Finding]:
    problems = _selinux_problems(w.selinux)
    if problems:
        yield finding(
            rule, w, f"pod seLinuxOptions: {', '.join(problems)}", field=w.where("selinux")
        )
    for c in w.containers:
        problems = _selinux_problems(c.selinux)
        if problems:
            yield finding(
                rule,
                w,
                f"seLinuxOptions: {', '.join(problems)}",
                container=c,
                field=c.where("selinux"),
            )


@PSS_BASELINE.rule(
    "PSS-BASELINE-PROC-MOUNT",
    "/proc Mount Type",
    Severity.MEDIUM,
    why="The default /proc masks hide host kernel information; `Unmasked` removes them. It "
    "is allowed only for pods in their own user namespace (`hostUsers: false`).",
    fix="Remove `procMount` or set it to `Default` (or run the pod with `hostUsers: false`).",
    formats=K8S,
)
def _proc_mount(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_users is False:
        return
    for c in w.containers:
        if c.proc_mount not in (None, "Default"):
            yield finding(
                rule, w, f"procMount is {c.proc_mount}", container=c, field=c.where("proc_mount")
            )


def _seccomp_field(c: Container, w: Workload) -> str:
    return c.where("seccomp") if c.seccomp is not None else w.where("seccomp")


@PSS_BASELINE.rule(
    "PSS-BASELINE-SECCOMP",
    "Seccomp",
    Severity.HIGH,
    why="Seccomp blocks dangerous system calls; `Unconfined` removes the filter.",
    fix="Remove `seccompProfile: {type: Unconfined}` (and the legacy `unconfined` annotations).",
    formats=K8S,
)
def _seccomp_baseline(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.seccomp == "unconfined":
        yield finding(rule, w, "pod seccomp profile is Unconfined", field=w.where("seccomp"))
    for c in w.containers:
        if c.seccomp == "unconfined":
            yield finding(
                rule, w, "seccomp profile is Unconfined", container=c, field=c.where("seccomp")
            )


@PSS_BASELINE.rule(
    "PSS-BASELINE-SYSCTLS",
    "Sysctls",
    Severity.MEDIUM,
    why="Sysctls outside the namespaced, pod-isolated safe set can disable security "
    "mechanisms or affect every pod on the node.",
    fix=f"Use only the safe sysctls: {names(SAFE_SYSCTLS)}.",
    formats=K8S,
)
def _sysctls(rule: Rule, w: Workload) -> Iterator[Finding]:
    unsafe = [name for name, _ in w.sysctls if name not in SAFE_SYSCTLS]
    if unsafe:
        yield finding(rule, w, f"unsafe sysctls: {names(unsafe)}", field=w.where("sysctls"))


# --- Restricted ---------------------------------------------------------------------------


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-VOLUME-TYPES",
    "Volume Types",
    Severity.MEDIUM,
    why="Beyond hostPath, volume types such as nfs, iscsi, rbd or flexVolume reach storage "
    "directly from the node instead of through PersistentVolumes.",
    fix=f"Use only {names(RESTRICTED_VOLUME_TYPES)} volumes.",
    formats=K8S,
)
def _volume_types(rule: Rule, w: Workload) -> Iterator[Finding]:
    for v in w.volumes:
        if v.kind not in RESTRICTED_VOLUME_TYPES:
            yield finding(rule, w, f"volume {v.name!r} has type {v.kind}", field=v.path)


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-PRIVILEGE-ESCALATION",
    "Privilege Escalation",
    Severity.MEDIUM,
    why="Unless allowPrivilegeEscalation is false, setuid binaries and file capabilities "
    "can raise a process's privileges.",
    fix="Set `securityContext.allowPrivilegeEscalation: false` on every container.",
    formats=K8S,
)
def _privilege_escalation(rule: Rule, w: Workload) -> Iterator[Finding]:
    if _windows(w):
        return
    for c in w.containers:
        if c.no_new_privileges is not True:
            state = "true" if c.no_new_privileges is False else "not set"
            yield finding(
                rule,
                w,
                f"allowPrivilegeEscalation is {state} (must be false)",
                container=c,
                field=c.where("no_new_privileges"),
            )


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-RUN-AS-NON-ROOT",
    "Running as Non-root",
    Severity.MEDIUM,
    why="With runAsNonRoot the kubelet refuses to start a container whose user is root.",
    fix="Set `securityContext.runAsNonRoot: true` on the pod (or on every container).",
    formats=K8S,
)
def _run_as_non_root(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.run_as_non_root is False:
        yield finding(rule, w, "pod runAsNonRoot is false", field=w.where("run_as_non_root"))
    for c in w.containers:
        if c.run_as_non_root is False:
            yield finding(
                rule, w, "runAsNonRoot is false", container=c, field=c.where("run_as_non_root")
            )
        elif c.run_as_non_root is None and w.run_as_non_root is not True:
            yield finding(
                rule,
                w,
                "runAsNonRoot is set neither on the container nor on the pod",
                container=c,
                field=c.where("run_as_non_root"),
            )


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-RUN-AS-USER",
    "Running as Non-root user",
    Severity.MEDIUM,
    why="runAsUser: 0 runs the container as root whatever the image says.",
    fix="Set `runAsUser` to a non-zero uid, or leave it unset with `runAsNonRoot: true`.",
    formats=K8S,
)
def _run_as_user(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.run_as_user == 0:
        yield finding(rule, w, "pod runAsUser is 0", field=w.where("run_as_user"))
    for c in w.containers:
        if c.run_as_user == 0:
            yield finding(rule, w, "runAsUser is 0", container=c, field=c.where("run_as_user"))


def _restricted_seccomp(profile: str | None) -> bool:
    return profile == "runtime/default" or (profile or "").startswith("localhost/")


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-SECCOMP",
    "Seccomp",
    Severity.MEDIUM,
    why="Restricted pods must run under a seccomp filter; an unset profile can mean Unconfined.",
    fix="Set `securityContext.seccompProfile: {type: RuntimeDefault}` on the pod (or a "
    "`Localhost` profile).",
    formats=K8S,
)
def _seccomp_restricted(rule: Rule, w: Workload) -> Iterator[Finding]:
    if _windows(w):
        return
    for c in w.containers:
        profile = c.seccomp if c.seccomp is not None else w.seccomp
        if not _restricted_seccomp(profile):
            state = "not set" if profile is None else profile
            yield finding(
                rule,
                w,
                f"seccomp profile is {state} (must be RuntimeDefault or Localhost)",
                container=c,
                field=_seccomp_field(c, w),
            )


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-CAPABILITIES",
    "Capabilities",
    Severity.MEDIUM,
    why="Restricted containers drop every capability and may add back only NET_BIND_SERVICE.",
    fix="Set `capabilities: {drop: [ALL]}` and add nothing but NET_BIND_SERVICE.",
    formats=K8S,
)
def _capabilities_restricted(rule: Rule, w: Workload) -> Iterator[Finding]:
    if _windows(w):
        return
    for c in w.containers:
        if "ALL" not in c.cap_drop:
            yield finding(
                rule, w, "does not drop ALL capabilities", container=c, field=c.where("cap_drop")
            )
        extra = set(c.cap_add) - {"NET_BIND_SERVICE"}
        if extra:
            yield finding(rule, w, f"adds {names(extra)}", container=c, field=c.where("cap_add"))


@PSS_RESTRICTED.rule(
    "PSS-RESTRICTED-PROC-MOUNT",
    "/proc Mount Type",
    Severity.MEDIUM,
    why="Restricted pods keep the default /proc masks even in their own user namespace.",
    fix="Remove `procMount` or set it to `Default`.",
    formats=K8S,
)
def _proc_mount_restricted(rule: Rule, w: Workload) -> Iterator[Finding]:
    if w.host_users is not False:
        return  # Baseline already reports it
    for c in w.containers:
        if c.proc_mount not in (None, "Default"):
            yield finding(
                rule, w, f"procMount is {c.proc_mount}", container=c, field=c.where("proc_mount")
            )
