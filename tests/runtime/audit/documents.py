"""Real-shaped container configurations, written by hand, for the audit tests.

Each builder returns a hardened document in the exact shape the tool prints — ``docker
inspect`` (Docker Engine 27), a compose file (Compose Specification), ``kubectl get -o
yaml`` of a Deployment, and ``runc spec`` extended the way ``sealyard run`` hardens it — that
passes every check. Tests make one change and expect exactly the rule concerned to fail.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

DIGEST = "sha256:3f1a5e0c9c5d8b7f2e4a6d1c0b9a8f7e6d5c4b3a29181716151413121110f0e1"
CONTAINER_ID = "5b2e0a7f6c4d8e1f3a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f"

DOCKER_MASKED = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def docker_inspect() -> dict[str, Any]:
    """One element of ``docker inspect web`` for a hardened container, as Docker 27 prints it.

    Started with ``docker run -d --name web --user 10001:10001 --read-only --cap-drop ALL
    --cap-add NET_BIND_SERVICE --security-opt no-new-privileges:true --memory 256m --cpus 0.5
    --pids-limit 200 --ulimit nofile=1024:1024 --restart on-failure:5 --network appnet
    -p 127.0.0.1:8080:8080 --health-cmd 'wget -qO- localhost:8080/healthz || exit 1'
    -v webdata:/var/lib/web registry.example/web:1.4.2``.
    """
    return {
        "Id": CONTAINER_ID,
        "Created": "2025-03-04T10:21:33.771204512Z",
        "Path": "/usr/local/bin/web",
        "Args": ["--listen", ":8080"],
        "State": {
            "Status": "running",
            "Running": True,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": 48211,
            "ExitCode": 0,
            "Error": "",
            "StartedAt": "2025-03-04T10:21:34.112938202Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
        },
        "Image": "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d",
        "ResolvConfPath": f"/var/lib/docker/containers/{CONTAINER_ID}/resolv.conf",
        "HostnamePath": f"/var/lib/docker/containers/{CONTAINER_ID}/hostname",
        "HostsPath": f"/var/lib/docker/containers/{CONTAINER_ID}/hosts",
        "LogPath": f"/var/lib/docker/containers/{CONTAINER_ID}/{CONTAINER_ID}-json.log",
        "Name": "/web",
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "docker-default",
        "ExecIDs": None,
        "HostConfig": {
            "Binds": None,
            "ContainerIDFile": "",
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "appnet",
            "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
            "AutoRemove": False,
            "VolumeDriver": "",
            "VolumesFrom": None,
            "ConsoleSize": [0, 0],
            "CapAdd": ["NET_BIND_SERVICE"],
            "CapDrop": ["ALL"],
            "CgroupnsMode": "private",
            "Dns": [],
            "DnsOptions": [],
            "DnsSearch": [],
            "ExtraHosts": None,
            "GroupAdd": None,
            "IpcMode": "private",
            "Cgroup": "",
            "Links": None,
            "OomScoreAdj": 0,
            "PidMode": "",
            "Privileged": False,
            "PublishAllPorts": False,
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges:true"],
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": 67108864,
            "Runtime": "runc",
            "Isolation": "",
            "CpuShares": 0,
            "Memory": 268435456,
            "NanoCpus": 500000000,
            "CgroupParent": "",
            "BlkioWeight": 0,
            "BlkioWeightDevice": [],
            "BlkioDeviceReadBps": [],
            "BlkioDeviceWriteBps": [],
            "BlkioDeviceReadIOps": [],
            "BlkioDeviceWriteIOps": [],
            "CpuPeriod": 0,
            "CpuQuota": 0,
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "CpusetCpus": "",
            "CpusetMems": "",
            "Devices": [],
            "DeviceCgroupRules": None,
            "DeviceRequests": None,
            "MemoryReservation": 0,
            "MemorySwap": 536870912,
            "MemorySwappiness": None,
            "OomKillDisable": None,
            "PidsLimit": 200,
            "Ulimits": [{"Name": "nofile", "Hard": 1024, "Soft": 1024}],
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
            "MaskedPaths": list(DOCKER_MASKED),
            "ReadonlyPaths": list(DOCKER_READONLY),
        },
        "GraphDriver": {
            "Data": {
                "LowerDir": "/var/lib/docker/overlay2/4f0e-init/diff",
                "MergedDir": "/var/lib/docker/overlay2/4f0e/merged",
                "UpperDir": "/var/lib/docker/overlay2/4f0e/diff",
                "WorkDir": "/var/lib/docker/overlay2/4f0e/work",
            },
            "Name": "overlay2",
        },
        "Mounts": [
            {
                "Type": "volume",
                "Name": "webdata",
                "Source": "/var/lib/docker/volumes/webdata/_data",
                "Destination": "/var/lib/web",
                "Driver": "local",
                "Mode": "z",
                "RW": True,
                "Propagation": "",
            }
        ],
        "Config": {
            "Hostname": "5b2e0a7f6c4d",
            "Domainname": "",
            "User": "10001:10001",
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "ExposedPorts": {"8080/tcp": {}},
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["--listen", ":8080"],
            "Healthcheck": {
                "Test": ["CMD-SHELL", "wget -qO- localhost:8080/healthz || exit 1"],
                "Interval": 30000000000,
                "Timeout": 5000000000,
                "Retries": 3,
            },
            "Image": "registry.example/web:1.4.2",
            "Volumes": None,
            "WorkingDir": "/srv",
            "Entrypoint": ["/usr/local/bin/web"],
            "OnBuild": None,
            "Labels": {"org.opencontainers.image.source": "https://git.example/web"},
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "c3d1a0e2b4f6",
            "SandboxKey": "/var/run/docker/netns/c3d1a0e2b4f6",
            "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": {
                "appnet": {
                    "IPAMConfig": None,
                    "Links": None,
                    "Aliases": ["web", "5b2e0a7f6c4d"],
                    "MacAddress": "02:42:ac:12:00:02",
                    "DriverOpts": None,
                    "NetworkID": "8d0f2a1c9b7e",
                    "EndpointID": "1e3c5a7b9d0f",
                    "Gateway": "172.18.0.1",
                    "IPAddress": "172.18.0.2",
                    "IPPrefixLen": 16,
                    "IPv6Gateway": "",
                    "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0,
                    "DNSNames": ["web", "5b2e0a7f6c4d"],
                }
            },
        },
    }


def compose() -> dict[str, Any]:
    """A compose file with one hardened service."""
    return {
        "name": "shop",
        "services": {
            "web": {
                "image": "registry.example/web:1.4.2",
                "user": "10001:10001",
                "read_only": True,
                "cap_drop": ["ALL"],
                "cap_add": ["NET_BIND_SERVICE"],
                "security_opt": ["no-new-privileges:true"],
                "mem_limit": "256m",
                "cpus": 0.5,
                "pids_limit": 200,
                "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
                "restart": "on-failure:5",
                "ports": ["127.0.0.1:8080:8080"],
                "volumes": ["webdata:/var/lib/web", "./config:/etc/web:ro"],
                "tmpfs": ["/tmp"],
                "networks": ["backend"],
                "healthcheck": {
                    "test": ["CMD", "wget", "-qO-", "http://localhost:8080/healthz"],
                    "interval": "30s",
                    "timeout": "5s",
                    "retries": 3,
                },
            }
        },
        "networks": {"backend": {}},
        "volumes": {"webdata": {}},
    }


def deployment() -> dict[str, Any]:
    """``kubectl get deployment web -o yaml`` of a hardened Deployment (restricted-compliant)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "creationTimestamp": "2025-03-04T10:21:33Z",
            "generation": 3,
            "labels": {"app.kubernetes.io/name": "web"},
            "name": "web",
            "namespace": "shop",
            "resourceVersion": "912311",
            "uid": "0c6f8a2e-3b1d-4e5f-9a7b-1c2d3e4f5a6b",
        },
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
            "strategy": {
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                "type": "RollingUpdate",
            },
            "template": {
                "metadata": {
                    "creationTimestamp": None,
                    "labels": {"app.kubernetes.io/name": "web"},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "hostUsers": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": [
                        {
                            "name": "migrate",
                            "image": f"registry.example/web-migrate@{DIGEST}",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {
                                "limits": {"cpu": "200m", "memory": "128Mi"},
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True,
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }
                    ],
                    "containers": [
                        {
                            "name": "web",
                            "image": f"registry.example/web@{DIGEST}",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                            "livenessProbe": {
                                "failureThreshold": 3,
                                "httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                "periodSeconds": 10,
                                "successThreshold": 1,
                                "timeoutSeconds": 1,
                            },
                            "readinessProbe": {
                                "failureThreshold": 3,
                                "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                                "periodSeconds": 10,
                                "successThreshold": 1,
                                "timeoutSeconds": 1,
                            },
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                                "requests": {"cpu": "250m", "memory": "128Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {
                                    "add": ["NET_BIND_SERVICE"],
                                    "drop": ["ALL"],
                                },
                                "readOnlyRootFilesystem": True,
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "volumeMounts": [
                                {"mountPath": "/tmp", "name": "tmp"},
                                {"mountPath": "/etc/web", "name": "config", "readOnly": True},
                            ],
                        }
                    ],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "terminationGracePeriodSeconds": 30,
                    "volumes": [
                        {"emptyDir": {"sizeLimit": "64Mi"}, "name": "tmp"},
                        {"configMap": {"defaultMode": 420, "name": "web-config"}, "name": "config"},
                    ],
                },
            },
        },
        "status": {
            "availableReplicas": 2,
            "observedGeneration": 3,
            "readyReplicas": 2,
            "replicas": 2,
            "updatedReplicas": 2,
        },
    }


def oci_config() -> dict[str, Any]:
    """``runc spec`` output hardened as ``sealyard run`` does: user namespace, seccomp
    allowlist, minimal capabilities, no_new_privs, read-only root, masked paths, limits."""
    caps = ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/usr/local/bin/web", "--listen", ":8080"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": [],
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
            "apparmorProfile": "sealyard-default",
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "web",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/srv/data",
                "type": "bind",
                "source": "/srv/web/data",
                "options": ["rbind", "rprivate", "nosuid", "nodev"],
            },
        ],
        "linux": {
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": 268435456},
                "cpu": {"shares": 512},
                "pids": {"limit": 256},
            },
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup"},
                {"type": "user"},
            ],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    {
                        "names": ["read", "write", "openat", "close", "exit_group", "futex"],
                        "action": "SCMP_ACT_ALLOW",
                    }
                ],
            },
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def base(fmt: str) -> dict[str, Any]:
    """A fresh hardened document of ``fmt``."""
    return copy.deepcopy(
        {
            "docker-inspect": docker_inspect,
            "compose": compose,
            "kubernetes": deployment,
            "oci": oci_config,
        }[fmt]()
    )


def encode(fmt: str, doc: dict[str, Any]) -> bytes:
    """The bytes the tool would print: JSON arrays for docker, YAML for compose and kubectl."""
    if fmt == "docker-inspect":
        return json.dumps([doc], indent=4).encode()
    if fmt == "oci":
        return json.dumps(doc, indent="\t").encode()
    return yaml.safe_dump(doc, sort_keys=False).encode()


# Shortcuts into the documents for mutations.


def hc(doc: dict[str, Any]) -> dict[str, Any]:
    host_config: dict[str, Any] = doc["HostConfig"]
    return host_config


def service(doc: dict[str, Any]) -> dict[str, Any]:
    web: dict[str, Any] = doc["services"]["web"]
    return web


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def container(doc: dict[str, Any]) -> dict[str, Any]:
    web: dict[str, Any] = pod(doc)["containers"][0]
    return web


def sc(doc: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = container(doc)["securityContext"]
    return context
