"""Every CIS Docker, Sealyard and Pod Security Standards rule, in every format it applies to:
one configuration that fails it and one that passes it, through the real loaders."""

from __future__ import annotations

from typing import Any

import pytest

from sealyard.runtime.audit import STANDARDS, Severity
from tests.runtime.audit.mutations import (
    C0,
    POD,
    PSC,
    SC,
    Case,
    H,
    Mutation,
    S,
    add,
    audit,
    both,
    drop,
    put,
)

FORMATS = ("docker-inspect", "compose", "kubernetes", "oci")
ANNOTATIONS = "spec.template.metadata.annotations"
L = "linux"
NS = "linux.namespaces"
HIGH, MEDIUM, LOW, INFO = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO


def _without_namespace(kind: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != kind]

    return apply


def _no_userns_fields(doc: dict[str, Any]) -> None:
    doc[L].pop("uidMappings")
    doc[L].pop("gidMappings")


CIS_CASES = [
    # 4.1 a user for the container
    Case("CIS-4.1", "docker-inspect", put("Config.User", ""), severity=MEDIUM, message="root"),
    Case("CIS-4.1", "docker-inspect", put("Config.User", "root:root"), label="root-name"),
    Case("CIS-4.1", "compose", put(f"{S}.user", "0"), severity=MEDIUM),
    Case("CIS-4.1", "compose", drop(f"{S}.user"), put(f"{S}.user", "app"), LOW, label="unset"),
    Case("CIS-4.1", "kubernetes", put(f"{PSC}.runAsUser", 0), severity=MEDIUM),
    Case(
        "CIS-4.1",
        "kubernetes",
        both(drop(f"{PSC}.runAsUser"), drop(f"{PSC}.runAsNonRoot")),
        drop(f"{PSC}.runAsUser"),  # runAsNonRoot: true alone is enough
        LOW,
        label="unset",
    ),
    Case(
        "CIS-4.1",
        "oci",
        both(_without_namespace("user"), _no_userns_fields),
        put("process.user.uid", 1000),
        MEDIUM,
        "no user namespace",
    ),
    Case(
        "CIS-4.1",
        "oci",
        put("linux.uidMappings.0.hostID", 0),
        label="maps-to-host-root",
    ),
    # 5.2 AppArmor
    Case("CIS-5.2", "docker-inspect", put("AppArmorProfile", "unconfined"), severity=MEDIUM),
    Case(
        "CIS-5.2",
        "docker-inspect",
        put("AppArmorProfile", ""),
        both(put("AppArmorProfile", ""), put("ProcessLabel", "system_u:system_r:container_t:s0")),
        INFO,
        label="none",
    ),
    Case("CIS-5.2", "compose", add(f"{S}.security_opt", "apparmor:unconfined")),
    Case(
        "CIS-5.2",
        "kubernetes",
        put(f"{SC}.appArmorProfile", {"type": "Unconfined"}),
        put(f"{SC}.appArmorProfile", {"type": "RuntimeDefault"}),
    ),
    Case(
        "CIS-5.2",
        "kubernetes",
        put(
            [*ANNOTATIONS.split("."), "container.apparmor.security.beta.kubernetes.io/web"],
            "unconfined",
        ),
        put(
            [*ANNOTATIONS.split("."), "container.apparmor.security.beta.kubernetes.io/web"],
            "runtime/default",
        ),
        label="annotation",
    ),
    Case("CIS-5.2", "oci", put("process.apparmorProfile", "unconfined"), severity=MEDIUM),
    Case(
        "CIS-5.2",
        "oci",
        drop("process.apparmorProfile"),
        both(
            drop("process.apparmorProfile"),
            put("process.selinuxLabel", "system_u:system_r:container_t:s0:c1,c2"),
        ),
        INFO,
        label="none",
    ),
    # 5.3 SELinux
    Case(
        "CIS-5.3",
        "docker-inspect",
        put(f"{H}.SecurityOpt", ["no-new-privileges:true", "label=disable"]),
        put("ProcessLabel", "system_u:system_r:container_t:s0:c312,c591"),
        MEDIUM,
        "disabled",
    ),
    Case(
        "CIS-5.3",
        "docker-inspect",
        put("ProcessLabel", "system_u:system_r:spc_t:s0"),
        label="spc_t",
    ),
    Case(
        "CIS-5.3",
        "docker-inspect",
        both(put("AppArmorProfile", ""), put("ProcessLabel", "")),
        label="none",
        severity=INFO,
    ),
    Case(
        "CIS-5.3",
        "compose",
        add(f"{S}.security_opt", "label:disable"),
        add(f"{S}.security_opt", "label=level:s0:c100,c200"),
    ),
    Case(
        "CIS-5.3",
        "kubernetes",
        put(f"{SC}.seLinuxOptions", {"type": "spc_t"}),
        put(f"{SC}.seLinuxOptions", {"level": "s0:c123,c456"}),
    ),
    Case(
        "CIS-5.3",
        "oci",
        put("process.selinuxLabel", "system_u:system_r:unconfined_t:s0"),
        put("process.selinuxLabel", "system_u:system_r:container_t:s0:c1,c2"),
    ),
    # 5.4 capabilities
    Case("CIS-5.4", "docker-inspect", add(f"{H}.CapAdd", "SYS_ADMIN"), severity=HIGH),
    Case(
        "CIS-5.4",
        "docker-inspect",
        put(f"{H}.CapDrop", None),
        put(f"{H}.CapAdd", ["CHOWN"]),  # a default capability, after dropping ALL
        LOW,
        "does not drop ALL",
        "no-drop",
    ),
    Case("CIS-5.4", "compose", add(f"{S}.cap_add", "NET_ADMIN"), severity=HIGH),
    Case("CIS-5.4", "compose", put(f"{S}.cap_add", ["SYS_NICE"]), severity=MEDIUM, label="nice"),
    Case("CIS-5.4", "kubernetes", add(f"{SC}.capabilities.add", "SYS_PTRACE"), severity=HIGH),
    Case("CIS-5.4", "kubernetes", drop(f"{SC}.capabilities.drop"), severity=LOW, label="no-drop"),
    Case(
        "CIS-5.4",
        "oci",
        add("process.capabilities.bounding", "CAP_SYS_ADMIN"),
        put("process.capabilities", {"bounding": [], "effective": [], "permitted": []}),
        HIGH,
    ),
    Case(
        "CIS-5.4",
        "oci",
        # A config `sealyard run` generated promised no capabilities at all.
        both(
            put("annotations", {"dev.sealyard.hardened": "v1"}),
            add("process.capabilities.ambient", "CAP_NET_RAW"),
        ),
        severity=LOW,
        message="Sealyard",
        label="beyond-sealyard-set",
    ),
    # 5.5 privileged
    Case("CIS-5.5", "docker-inspect", put(f"{H}.Privileged", True), severity=Severity.CRITICAL),
    Case("CIS-5.5", "compose", put(f"{S}.privileged", True), put(f"{S}.privileged", False)),
    Case(
        "CIS-5.5",
        "kubernetes",
        put(f"{SC}.privileged", True),
        put(f"{SC}.privileged", False),
    ),
    Case(
        "CIS-5.5",
        "oci",
        both(
            put("process.capabilities.bounding", ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]),
            drop("linux.seccomp"),
            put("linux.maskedPaths", []),
        ),
        put("process.capabilities.bounding", ["CAP_SYS_ADMIN"]),  # still filtered and masked
        message="effectively privileged",
    ),
    # 5.6 sensitive host directories
    Case(
        "CIS-5.6",
        "docker-inspect",
        add(
            "Mounts",
            {
                "Type": "bind",
                "Source": "/etc",
                "Destination": "/host/etc",
                "Mode": "",
                "RW": True,
                "Propagation": "rprivate",
            },
        ),
        add(
            "Mounts",
            {
                "Type": "bind",
                "Source": "/srv/web",
                "Destination": "/srv",
                "Mode": "",
                "RW": True,
                "Propagation": "rprivate",
            },
        ),
        HIGH,
        "/etc (read-write)",
    ),
    Case(
        "CIS-5.6",
        "docker-inspect",
        both(
            drop("Mounts"),
            put(f"{H}.Binds", ["/usr/lib/modules:/lib/modules:ro"]),
        ),
        severity=MEDIUM,
        message="read-only",
        label="binds",
    ),
    Case(
        "CIS-5.6",
        "compose",
        add(f"{S}.volumes", "/:/host:ro"),
        add(f"{S}.volumes", "/srv/shop/uploads:/uploads"),
    ),
    Case(
        "CIS-5.6",
        "compose",
        add(f"{S}.volumes", {"type": "bind", "source": "/proc", "target": "/host/proc"}),
        label="long-syntax",
    ),
    Case(
        "CIS-5.6",
        "kubernetes",
        both(
            add(f"{POD}.volumes", {"name": "etc", "hostPath": {"path": "/etc", "type": ""}}),
            add(f"{C0}.volumeMounts", {"name": "etc", "mountPath": "/host/etc"}),
        ),
    ),
    Case(
        "CIS-5.6",
        "oci",
        add(
            "mounts",
            {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "rw"]},
        ),
        both(  # how rootless runtimes mount /sys
            drop("mounts.5"),
            add(
                "mounts",
                {
                    "destination": "/sys",
                    "type": "none",
                    "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
                },
            ),
        ),
    ),
    # 5.8 privileged ports
    Case(
        "CIS-5.8",
        "docker-inspect",
        put(f"{H}.PortBindings", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "80"}]}),
        put(f"{H}.PortBindings", {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1024"}]}),
    ),
    Case(
        "CIS-5.8",
        "compose",
        put(f"{S}.ports", ["127.0.0.1:443:8443"]),
        put(f"{S}.ports", [{"target": 8443, "published": "8443", "host_ip": "127.0.0.1"}]),
    ),
    Case(
        "CIS-5.8",
        "kubernetes",
        put(f"{C0}.ports.0.hostPort", 80),
        both(put(f"{C0}.ports.0.hostPort", 8080), put(f"{C0}.ports.0.hostIP", "10.0.0.5")),
    ),
    # 5.9 only needed ports
    Case("CIS-5.9", "docker-inspect", put(f"{H}.PublishAllPorts", True)),
    # 5.10 host network
    Case("CIS-5.10", "docker-inspect", put(f"{H}.NetworkMode", "host"), severity=HIGH),
    Case("CIS-5.10", "compose", put(f"{S}.network_mode", "host"), put(f"{S}.network_mode", "none")),
    Case(
        "CIS-5.10", "kubernetes", put(f"{POD}.hostNetwork", True), put(f"{POD}.hostNetwork", False)
    ),
    Case("CIS-5.10", "oci", _without_namespace("network")),
    Case(
        "CIS-5.10",
        "oci",
        put(f"{NS}.1", {"type": "network", "path": "/proc/1/ns/net"}),
        put(f"{NS}.1", {"type": "network", "path": "/var/run/netns/web"}),
        label="joined-host",
    ),
    # 5.11 memory
    Case("CIS-5.11", "docker-inspect", put(f"{H}.Memory", 0)),
    Case(
        "CIS-5.11",
        "compose",
        drop(f"{S}.mem_limit"),
        both(drop(f"{S}.mem_limit"), put(f"{S}.deploy.resources.limits.memory", "300M")),
    ),
    Case("CIS-5.11", "kubernetes", drop(f"{C0}.resources.limits.memory")),
    Case("CIS-5.11", "oci", drop("linux.resources.memory")),
    # 5.12 CPU
    Case(
        "CIS-5.12",
        "docker-inspect",
        put(f"{H}.NanoCpus", 0),
        both(put(f"{H}.NanoCpus", 0), put(f"{H}.CpuShares", 512)),
        LOW,
    ),
    Case(
        "CIS-5.12",
        "docker-inspect",
        both(put(f"{H}.NanoCpus", 0), put(f"{H}.CpuShares", 1024)),
        both(put(f"{H}.NanoCpus", 0), put(f"{H}.CpuQuota", 50000), put(f"{H}.CpuPeriod", 100000)),
        label="default-shares",
    ),
    Case(
        "CIS-5.12",
        "compose",
        drop(f"{S}.cpus"),
        both(drop(f"{S}.cpus"), put(f"{S}.deploy.resources.limits.cpus", "0.50")),
    ),
    Case(
        "CIS-5.12",
        "kubernetes",
        both(drop(f"{C0}.resources.limits.cpu"), drop(f"{C0}.resources.requests.cpu")),
        drop(f"{C0}.resources.limits.cpu"),  # a request sets the CPU weight
    ),
    Case(
        "CIS-5.12",
        "oci",
        drop("linux.resources.cpu"),
        put("linux.resources.cpu", {"quota": 50000, "period": 100000}),
    ),
    # 5.13 read-only root
    Case("CIS-5.13", "docker-inspect", put(f"{H}.ReadonlyRootfs", False)),
    Case("CIS-5.13", "compose", drop(f"{S}.read_only")),
    Case("CIS-5.13", "kubernetes", put(f"{SC}.readOnlyRootFilesystem", False)),
    Case("CIS-5.13", "oci", put("root.readonly", False)),
    # 5.14 bind to a host interface
    Case(
        "CIS-5.14",
        "docker-inspect",
        put(f"{H}.PortBindings", {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        put(f"{H}.PortBindings", {"8080/tcp": [{"HostIp": "10.1.2.3", "HostPort": "8080"}]}),
    ),
    Case(
        "CIS-5.14",
        "docker-inspect",
        put(f"{H}.PortBindings", {"8080/tcp": [{"HostIp": "::", "HostPort": ""}]}),
        label="ipv6-any",
    ),
    Case(
        "CIS-5.14",
        "compose",
        put(f"{S}.ports", ["8080:8080"]),
        put(f"{S}.ports", ["[::1]:8080:8080/tcp"]),
    ),
    Case("CIS-5.14", "compose", put(f"{S}.ports", [8080]), label="container-port-only"),
    Case(
        "CIS-5.14",
        "kubernetes",
        put(f"{C0}.ports.0.hostPort", 8080),
        both(put(f"{C0}.ports.0.hostPort", 8080), put(f"{C0}.ports.0.hostIP", "127.0.0.1")),
    ),
    # 5.15 restart policy
    Case(
        "CIS-5.15",
        "docker-inspect",
        put(f"{H}.RestartPolicy", {"Name": "always", "MaximumRetryCount": 0}),
        put(f"{H}.RestartPolicy", {"Name": "no", "MaximumRetryCount": 0}),
    ),
    Case(
        "CIS-5.15",
        "docker-inspect",
        put(f"{H}.RestartPolicy", {"Name": "on-failure", "MaximumRetryCount": 0}),
        message="unlimited",
        label="unlimited",
    ),
    Case(
        "CIS-5.15",
        "compose",
        put(f"{S}.restart", "on-failure:6"),
        put(f"{S}.restart", "on-failure:5"),
    ),
    Case("CIS-5.15", "compose", put(f"{S}.restart", "unless-stopped"), label="unless-stopped"),
    Case(
        "CIS-5.15",
        "compose",
        both(drop(f"{S}.restart"), put(f"{S}.deploy.restart_policy", {"condition": "any"})),
        both(
            drop(f"{S}.restart"),
            put(f"{S}.deploy.restart_policy", {"condition": "on-failure", "max_attempts": 3}),
        ),
        label="deploy",
    ),
    # 5.16 PID, 5.17 IPC, 5.21 UTS namespaces
    Case(
        "CIS-5.16",
        "docker-inspect",
        put(f"{H}.PidMode", "host"),
        put(f"{H}.PidMode", "container:db"),
    ),
    Case("CIS-5.16", "compose", put(f"{S}.pid", "host")),
    Case("CIS-5.16", "kubernetes", put(f"{POD}.hostPID", True)),
    Case("CIS-5.16", "oci", _without_namespace("pid")),
    Case(
        "CIS-5.17", "docker-inspect", put(f"{H}.IpcMode", "host"), put(f"{H}.IpcMode", "shareable")
    ),
    Case("CIS-5.17", "compose", put(f"{S}.ipc", "host")),
    Case("CIS-5.17", "kubernetes", put(f"{POD}.hostIPC", True)),
    Case("CIS-5.17", "oci", _without_namespace("ipc")),
    Case("CIS-5.21", "docker-inspect", put(f"{H}.UTSMode", "host")),
    Case("CIS-5.21", "compose", put(f"{S}.uts", "host")),
    Case("CIS-5.21", "oci", _without_namespace("uts")),
    # 5.18 host devices
    Case(
        "CIS-5.18",
        "docker-inspect",
        put(
            f"{H}.Devices",
            [
                {
                    "PathOnHost": "/dev/fuse",
                    "PathInContainer": "/dev/fuse",
                    "CgroupPermissions": "rwm",
                }
            ],
        ),
    ),
    Case(
        "CIS-5.18",
        "docker-inspect",
        put(
            f"{H}.DeviceRequests",
            [
                {
                    "Driver": "nvidia",
                    "Count": -1,
                    "DeviceIDs": None,
                    "Capabilities": [["gpu"]],
                    "Options": {},
                }
            ],
        ),
        label="gpu",
    ),
    Case("CIS-5.18", "compose", put(f"{S}.devices", ["/dev/ttyUSB0:/dev/ttyUSB0"])),
    Case(
        "CIS-5.18",
        "oci",
        put("linux.devices", [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]),
    ),
    Case(
        "CIS-5.18",
        "oci",
        add("linux.resources.devices", {"allow": True, "access": "rwm"}),
        message="allow all devices",
        label="cgroup-allow-all",
    ),
    # 5.19 ulimits
    Case("CIS-5.19", "docker-inspect", put(f"{H}.Ulimits", None), severity=INFO),
    Case(
        "CIS-5.19",
        "docker-inspect",
        put(f"{H}.Ulimits", [{"Name": "core", "Hard": -1, "Soft": -1}]),
        severity=LOW,
        label="unlimited",
    ),
    Case("CIS-5.19", "compose", drop(f"{S}.ulimits"), put(f"{S}.ulimits", {"nproc": 65535})),
    Case("CIS-5.19", "oci", drop("process.rlimits")),
    # 5.20 mount propagation
    Case(
        "CIS-5.20",
        "docker-inspect",
        put("Mounts.0.Propagation", "rshared"),
        put("Mounts.0.Propagation", "rslave"),
    ),
    Case(
        "CIS-5.20",
        "compose",
        add(
            f"{S}.volumes",
            {
                "type": "bind",
                "source": "/srv/shared",
                "target": "/shared",
                "bind": {"propagation": "shared"},
            },
        ),
        add(f"{S}.volumes", "/srv/shared:/shared:rslave"),
    ),
    Case("CIS-5.20", "compose", add(f"{S}.volumes", "/mnt/media:/media:rshared"), label="short"),
    Case(
        "CIS-5.20",
        "kubernetes",
        put(f"{C0}.volumeMounts.0.mountPropagation", "Bidirectional"),
        put(f"{C0}.volumeMounts.0.mountPropagation", "HostToContainer"),
    ),
    Case("CIS-5.20", "oci", put("mounts.7.options", ["rbind", "rshared"])),
    Case(
        "CIS-5.20",
        "oci",
        put("linux.rootfsPropagation", "shared"),
        put("linux.rootfsPropagation", "rslave"),
        label="rootfs",
    ),
    # 5.22 seccomp
    Case(
        "CIS-5.22",
        "docker-inspect",
        put(f"{H}.SecurityOpt", ["no-new-privileges:true", "seccomp=unconfined"]),
        severity=HIGH,
    ),
    Case(
        "CIS-5.22",
        "compose",
        add(f"{S}.security_opt", "seccomp:unconfined"),
        add(f"{S}.security_opt", "seccomp:./seccomp/web.json"),
    ),
    Case(
        "CIS-5.22",
        "kubernetes",
        put(f"{PSC}.seccompProfile", {"type": "Unconfined"}),
        put(f"{PSC}.seccompProfile", {"type": "Localhost", "localhostProfile": "web.json"}),
        HIGH,
    ),
    Case(
        "CIS-5.22",
        "kubernetes",
        drop(f"{PSC}.seccompProfile"),
        both(
            drop(f"{PSC}.seccompProfile"),
            put(f"{SC}.seccompProfile", {"type": "RuntimeDefault"}),
            put(
                f"{POD}.initContainers.0.securityContext.seccompProfile", {"type": "RuntimeDefault"}
            ),
        ),
        MEDIUM,
        "--seccomp-default",
        "unset",
    ),
    Case("CIS-5.22", "oci", drop("linux.seccomp"), severity=HIGH),
    Case(
        "CIS-5.22",
        "oci",
        put("linux.seccomp.defaultAction", "SCMP_ACT_ALLOW"),
        put("linux.seccomp.defaultAction", "SCMP_ACT_KILL_PROCESS"),
        MEDIUM,
        "allows every system call",
        "denylist",
    ),
    # 5.25 cgroup parent
    Case("CIS-5.25", "docker-inspect", put(f"{H}.CgroupParent", "/batch.slice"), severity=INFO),
    Case("CIS-5.25", "compose", put(f"{S}.cgroup_parent", "batch.slice")),
    # 5.26 no-new-privileges
    Case(
        "CIS-5.26",
        "docker-inspect",
        put(f"{H}.SecurityOpt", None),
        put(f"{H}.SecurityOpt", ["no-new-privileges"]),
        message="not set",
    ),
    Case(
        "CIS-5.26",
        "compose",
        put(f"{S}.security_opt", ["no-new-privileges:false"]),
        put(f"{S}.security_opt", ["no-new-privileges=true"]),
        message="false",
    ),
    Case(
        "CIS-5.26", "kubernetes", drop(f"{SC}.allowPrivilegeEscalation"), message="defaults to true"
    ),
    Case("CIS-5.26", "oci", put("process.noNewPrivileges", False)),
    # 5.27 health checks
    Case("CIS-5.27", "docker-inspect", drop("Config.Healthcheck")),
    Case(
        "CIS-5.27",
        "docker-inspect",
        put("Config.Healthcheck", {"Test": ["NONE"]}),
        message="disabled",
        label="none",
    ),
    Case(
        "CIS-5.27",
        "compose",
        put(f"{S}.healthcheck", {"disable": True}),
        put(f"{S}.healthcheck", {"test": "wget -qO- localhost:8080/healthz"}),
    ),
    Case(
        "CIS-5.27",
        "kubernetes",
        both(drop(f"{C0}.livenessProbe"), drop(f"{C0}.readinessProbe")),
        drop(f"{C0}.livenessProbe"),
    ),
    # 5.29 PIDs limit
    Case("CIS-5.29", "docker-inspect", put(f"{H}.PidsLimit", None)),
    Case("CIS-5.29", "docker-inspect", put(f"{H}.PidsLimit", -1), label="minus-one"),
    Case(
        "CIS-5.29",
        "compose",
        drop(f"{S}.pids_limit"),
        both(drop(f"{S}.pids_limit"), put(f"{S}.deploy.resources.limits.pids", 100)),
    ),
    Case("CIS-5.29", "oci", drop("linux.resources.pids")),
    # 5.30 docker0
    Case(
        "CIS-5.30",
        "docker-inspect",
        both(
            put(f"{H}.NetworkMode", "bridge"),
            put("NetworkSettings.Networks", {"bridge": {"NetworkID": "b1"}}),
        ),
        put(f"{H}.NetworkMode", "default"),  # attached to appnet only
    ),
    Case("CIS-5.30", "compose", put(f"{S}.network_mode", "bridge")),
    # 5.31 user namespaces
    Case("CIS-5.31", "docker-inspect", put(f"{H}.UsernsMode", "host")),
    Case("CIS-5.31", "compose", put(f"{S}.userns_mode", "host")),
    Case(
        "CIS-5.31",
        "kubernetes",
        drop(f"{POD}.hostUsers"),
        severity=LOW,
        message="hostUsers",
    ),
    Case(
        "CIS-5.31",
        "oci",
        both(_without_namespace("user"), _no_userns_fields),
        severity=MEDIUM,
    ),
    Case(
        "CIS-5.31",
        "oci",
        put("linux.uidMappings", [{"containerID": 0, "hostID": 0, "size": 65536}]),
        message="host uid 0",
        label="identity-mapping",
    ),
    # 5.32 runtime socket
    Case(
        "CIS-5.32",
        "docker-inspect",
        add(
            "Mounts",
            {
                "Type": "bind",
                "Source": "/var/run/docker.sock",
                "Destination": "/var/run/docker.sock",
                "Mode": "ro",
                "RW": False,
                "Propagation": "rprivate",
            },
        ),
        severity=Severity.CRITICAL,
    ),
    Case("CIS-5.32", "compose", add(f"{S}.volumes", "/var/run/docker.sock:/var/run/docker.sock")),
    Case(
        "CIS-5.32",
        "kubernetes",
        both(
            add(
                f"{POD}.volumes",
                {
                    "name": "sock",
                    "hostPath": {"path": "/run/containerd/containerd.sock", "type": "Socket"},
                },
            ),
            add(f"{C0}.volumeMounts", {"name": "sock", "mountPath": "/run/containerd.sock"}),
        ),
    ),
    Case(
        "CIS-5.32",
        "oci",
        add(
            "mounts",
            {"destination": "/var/run", "type": "bind", "source": "/var/run", "options": ["rbind"]},
        ),
    ),
]

SEALYARD_CASES = [
    Case(
        "SY-1",
        "docker-inspect",
        both(put(f"{H}.MaskedPaths", []), put(f"{H}.ReadonlyPaths", [])),
        severity=HIGH,
    ),
    Case("SY-1", "docker-inspect", put(f"{H}.Privileged", True), label="privileged"),
    Case("SY-1", "compose", add(f"{S}.security_opt", "systempaths=unconfined")),
    Case(
        "SY-1", "kubernetes", put(f"{SC}.procMount", "Unmasked"), put(f"{SC}.procMount", "Default")
    ),
    Case("SY-1", "oci", put("linux.maskedPaths", ["/proc/acpi"]), message="/proc/kcore"),
    Case(
        "SY-1",
        "oci",
        put("linux.readonlyPaths", []),
        both(
            put("linux.readonlyPaths", []),
            add("linux.maskedPaths", "/proc/sys"),
            add("linux.maskedPaths", "/proc/sysrq-trigger"),
            add("linux.maskedPaths", "/proc/irq"),
            add("linux.maskedPaths", "/proc/bus"),
        ),
        label="readonly",
    ),
    Case(
        "SY-1",
        "oci",
        put("mounts.5.options", ["nosuid", "noexec", "nodev"]),
        message="/sys",
        label="sys-writable",
    ),
    Case(
        "SY-2",
        "oci",
        put("annotations", {"dev.sealyard.relaxed": "unsigned,keep-setuid"}),
        put("annotations", {"dev.sealyard.hardened": "v1"}),
        HIGH,
        "policy verification",
    ),
]

PSS_CASES = [
    Case(
        "PSS-BASELINE-HOSTPROCESS",
        "kubernetes",
        both(
            put(f"{POD}.os", {"name": "windows"}),
            put(f"{SC}.windowsOptions", {"hostProcess": True}),
        ),
        put(f"{SC}.windowsOptions", {"hostProcess": False}),
    ),
    Case(
        "PSS-BASELINE-HOSTPROCESS",
        "kubernetes",
        put(f"{PSC}.windowsOptions", {"hostProcess": True}),
        label="pod",
    ),
    Case(
        "PSS-BASELINE-HOST-NAMESPACES",
        "kubernetes",
        put(f"{POD}.hostNetwork", True),
        put(f"{POD}.hostNetwork", False),
        message="hostNetwork",
    ),
    Case(
        "PSS-BASELINE-HOST-NAMESPACES",
        "kubernetes",
        put(f"{POD}.hostPID", True),
        message="hostPID",
        label="pid",
    ),
    Case(
        "PSS-BASELINE-HOST-NAMESPACES",
        "kubernetes",
        put(f"{POD}.hostIPC", True),
        message="hostIPC",
        label="ipc",
    ),
    Case(
        "PSS-BASELINE-PRIVILEGED",
        "kubernetes",
        put(f"{POD}.initContainers.0.securityContext.privileged", True),
        severity=Severity.CRITICAL,
    ),
    Case(
        "PSS-BASELINE-CAPABILITIES",
        "kubernetes",
        add(f"{SC}.capabilities.add", "NET_RAW"),
        add(f"{SC}.capabilities.add", "CHOWN"),
        message="NET_RAW",
    ),
    Case(
        "PSS-BASELINE-HOSTPATH",
        "kubernetes",
        add(f"{POD}.volumes", {"name": "logs", "hostPath": {"path": "/var/log"}}),
    ),
    Case(
        "PSS-BASELINE-HOST-PORTS",
        "kubernetes",
        put(f"{C0}.ports.0.hostPort", 8080),
        put(f"{C0}.ports.0.hostPort", 0),
    ),
    Case(
        "PSS-BASELINE-HOST-PROBES",
        "kubernetes",
        put(f"{C0}.livenessProbe.httpGet.host", "169.254.169.254"),
        put(f"{C0}.livenessProbe.httpGet.host", ""),
    ),
    Case(
        "PSS-BASELINE-HOST-PROBES",
        "kubernetes",
        put(f"{C0}.lifecycle", {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 22}}}),
        label="lifecycle",
    ),
    Case(
        "PSS-BASELINE-APPARMOR",
        "kubernetes",
        put(f"{PSC}.appArmorProfile", {"type": "Unconfined"}),
        put(f"{PSC}.appArmorProfile", {"type": "Localhost", "localhostProfile": "k8s-web"}),
    ),
    Case(
        "PSS-BASELINE-APPARMOR",
        "kubernetes",
        put(
            [*ANNOTATIONS.split("."), "container.apparmor.security.beta.kubernetes.io/web"],
            "unconfined",
        ),
        put(
            [*ANNOTATIONS.split("."), "container.apparmor.security.beta.kubernetes.io/web"],
            "localhost/k8s-web",
        ),
        label="annotation",
    ),
    Case(
        "PSS-BASELINE-SELINUX",
        "kubernetes",
        put(f"{SC}.seLinuxOptions", {"type": "spc_t"}),
        put(f"{SC}.seLinuxOptions", {"type": "container_engine_t"}),
    ),
    Case(
        "PSS-BASELINE-SELINUX",
        "kubernetes",
        put(f"{PSC}.seLinuxOptions", {"user": "system_u", "role": "system_r"}),
        message="user set",
        label="user-role",
    ),
    Case(
        "PSS-BASELINE-PROC-MOUNT",
        "kubernetes",
        both(drop(f"{POD}.hostUsers"), put(f"{SC}.procMount", "Unmasked")),
        put(f"{SC}.procMount", "Unmasked"),  # allowed in Baseline with hostUsers: false
    ),
    Case(
        "PSS-BASELINE-SECCOMP",
        "kubernetes",
        put(f"{SC}.seccompProfile", {"type": "Unconfined"}),
        drop(f"{PSC}.seccompProfile"),  # unset is fine for Baseline
    ),
    Case(
        "PSS-BASELINE-SECCOMP",
        "kubernetes",
        both(
            drop(f"{PSC}.seccompProfile"),
            put(
                [*ANNOTATIONS.split("."), "seccomp.security.alpha.kubernetes.io/pod"], "unconfined"
            ),
        ),
        label="annotation",
    ),
    Case(
        "PSS-BASELINE-SYSCTLS",
        "kubernetes",
        put(f"{PSC}.sysctls", [{"name": "kernel.msgmax", "value": "65536"}]),
        put(
            f"{PSC}.sysctls",
            [
                {"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"},
                {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
            ],
        ),
    ),
    Case(
        "PSS-RESTRICTED-VOLUME-TYPES",
        "kubernetes",
        add(f"{POD}.volumes", {"name": "share", "nfs": {"server": "nfs.example", "path": "/x"}}),
        both(
            add(
                f"{POD}.volumes", {"name": "model", "image": {"reference": "registry.example/m:1"}}
            ),
            add(f"{POD}.volumes", {"name": "token", "projected": {"sources": []}}),
        ),
    ),
    Case(
        "PSS-RESTRICTED-PRIVILEGE-ESCALATION",
        "kubernetes",
        drop(f"{POD}.initContainers.0.securityContext.allowPrivilegeEscalation"),
        both(drop(f"{SC}.allowPrivilegeEscalation"), put(f"{POD}.os", {"name": "windows"})),
    ),
    Case(
        "PSS-RESTRICTED-RUN-AS-NON-ROOT",
        "kubernetes",
        drop(f"{PSC}.runAsNonRoot"),
        both(
            drop(f"{PSC}.runAsNonRoot"),
            put(f"{SC}.runAsNonRoot", True),
            put(f"{POD}.initContainers.0.securityContext.runAsNonRoot", True),
        ),
    ),
    Case(
        "PSS-RESTRICTED-RUN-AS-NON-ROOT",
        "kubernetes",
        put(f"{SC}.runAsNonRoot", False),
        label="container-false",
    ),
    Case(
        "PSS-RESTRICTED-RUN-AS-USER",
        "kubernetes",
        put(f"{SC}.runAsUser", 0),
        put(f"{SC}.runAsUser", 1),
    ),
    Case(
        "PSS-RESTRICTED-SECCOMP",
        "kubernetes",
        drop(f"{PSC}.seccompProfile"),
        both(
            drop(f"{PSC}.seccompProfile"),
            put(f"{SC}.seccompProfile", {"type": "Localhost", "localhostProfile": "web.json"}),
            put(
                f"{POD}.initContainers.0.securityContext.seccompProfile", {"type": "RuntimeDefault"}
            ),
        ),
    ),
    Case(
        "PSS-RESTRICTED-CAPABILITIES",
        "kubernetes",
        drop(f"{POD}.initContainers.0.securityContext.capabilities"),
        put(f"{SC}.capabilities.add", ["NET_BIND_SERVICE"]),
        message="does not drop ALL",
    ),
    Case(
        "PSS-RESTRICTED-CAPABILITIES",
        "kubernetes",
        add(f"{SC}.capabilities.add", "CHOWN"),
        label="adds",
    ),
    Case(
        "PSS-RESTRICTED-PROC-MOUNT",
        "kubernetes",
        put(f"{SC}.procMount", "Unmasked"),
    ),
]

ALL_CASES = CIS_CASES + SEALYARD_CASES + PSS_CASES


@pytest.mark.parametrize("fmt", FORMATS)
def test_hardened_documents_pass_every_rule(fmt: str) -> None:
    report = audit(fmt)
    assert report.findings == ()
    assert report.resources, "the document was loaded"
    assert len(report.rules) > 20


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_rule_fails(case: Case) -> None:
    report = audit(case.fmt, case.fail)
    hits = [f for f in report.findings if f.rule.id == case.rule]
    assert hits, f"{case.rule} did not fire; got {[f.rule.id for f in report.findings]}"
    if case.severity is not None:
        assert case.severity in {f.severity for f in hits}
    if case.message:
        assert any(case.message in f.message for f in hits), [f.message for f in hits]
    for f in hits:
        assert f.resource.source.endswith(
            ("inspect.json", "compose.yaml", "deploy.yaml", "config.json")
        )
        assert f.field


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_rule_passes(case: Case) -> None:
    report = audit(case.fmt, case.passing)
    assert [f for f in report.findings if f.rule.id == case.rule] == []


def test_every_rule_has_a_case_in_every_format_it_applies_to() -> None:
    covered = {(c.rule, c.fmt) for c in ALL_CASES}
    standards = {s for group in STANDARDS.values() for s in group}
    missing = sorted(
        (rule.id, fmt)
        for s in standards
        for rule in s.rules
        for fmt in rule.formats
        if (rule.id, fmt) not in covered
    )
    assert missing == []


def test_findings_point_at_lines_of_yaml_sources() -> None:
    report = audit("kubernetes", put(f"{POD}.hostNetwork", True))
    [hit] = [f for f in report.findings if f.rule.id == "CIS-5.10"]
    assert hit.field == f"{POD}.hostNetwork"
    assert hit.line is not None
    assert hit.line > 1


def test_pss_restricted_includes_baseline_and_baseline_excludes_restricted() -> None:
    mutation = both(put(f"{SC}.privileged", True), drop(f"{PSC}.runAsNonRoot"))
    restricted = {f.rule.id for f in audit("kubernetes", mutation, "pss-restricted").findings}
    baseline = {f.rule.id for f in audit("kubernetes", mutation, "pss-baseline").findings}
    assert "PSS-BASELINE-PRIVILEGED" in restricted
    assert "PSS-RESTRICTED-RUN-AS-NON-ROOT" in restricted
    assert baseline == {"PSS-BASELINE-PRIVILEGED"}


def test_pss_is_not_applied_to_docker_and_says_so() -> None:
    report = audit("docker-inspect", put(f"{H}.Privileged", True), "pss-baseline")
    assert report.findings == ()
    assert any("kubernetes only" in n for n in report.notes)


def test_standard_cis_reports_only_cis() -> None:
    report = audit("oci", put("linux.maskedPaths", []), "cis")
    assert {f.rule.standard for f in report.findings} <= {"cis-docker-1.6.0"}
    assert all(not f.rule.id.startswith("SY-") for f in report.findings)
