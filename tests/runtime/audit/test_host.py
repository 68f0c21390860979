"""``sealyard audit host`` on fake /proc and /sys trees, and once on this very host."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

import pytest

from sealyard.runtime.audit.host import CAPABILITY_NAMES, Status, audit_host, decode_caps

# /proc/self/status of a process in a Docker container on a cgroup v2 host: Docker's 14
# default capabilities, seccomp filter mode, no_new_privs set.
DOCKER_STATUS = """\
Name:\tpython3
Umask:\t0022
State:\tR (running)
Tgid:\t1
Pid:\t1
PPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
Speculation_Store_Bypass:\tthread force mitigated
Cpus_allowed_list:\t0-7
"""
# /proc/self/status of a root shell on an old kernel without seccomp and no_new_privs.
OLD_STATUS = """\
Name:\tbash
State:\tS (sleeping)
Uid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t0000003fffffffff
CapEff:\t0000003fffffffff
CapBnd:\t0000003fffffffff
"""
DOCKER_DEFAULT = {
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SYS_CHROOT",
    "MKNOD",
    "AUDIT_WRITE",
    "SETFCAP",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _namespaces(root: Path, names: list[str]) -> None:
    ns = root / "proc/self/ns"
    ns.mkdir(parents=True)
    for n in names:
        (ns / n).write_text("")


def _features(root: Path) -> dict[str, tuple[Status, str, str]]:
    return {f.name: (f.status, f.detail, f.sealyard) for f in audit_host(root).features}


def test_modern_v2_host_with_apparmor(tmp_path: Path) -> None:
    _namespaces(
        tmp_path,
        ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "user", "uts"],
    )
    _write(
        tmp_path,
        {
            "proc/self/status": DOCKER_STATUS,
            "proc/self/cgroup": "0::/system.slice/docker-5b2e0a7f6c4d.scope\n",
            "proc/sys/user/max_user_namespaces": "63704\n",
            "proc/sys/kernel/unprivileged_userns_clone": "1\n",
            "proc/sys/kernel/seccomp/actions_avail": (
                "kill_process kill_thread trap errno user_notif trace log allow\n"
            ),
            "proc/sys/kernel/cap_last_cap": "40\n",
            "sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "sys/module/apparmor/parameters/enabled": "Y\n",
            "sys/kernel/security/lsm": "lockdown,capability,landlock,yama,apparmor,bpf",
        },
    )
    report = audit_host(tmp_path)
    f = _features(tmp_path)
    assert f["user namespaces"][0] is Status.AVAILABLE
    assert "max_user_namespaces=63704" in f["user namespaces"][1]
    assert f["namespaces"][0] is Status.AVAILABLE
    assert f["cgroups"][0] is Status.AVAILABLE
    assert f["cgroups"][1].startswith("v2 (unified)")
    assert "docker-5b2e0a7f6c4d.scope" in f["cgroups"][1]
    assert f["seccomp"][0] is Status.AVAILABLE
    assert f["AppArmor"][0] is Status.AVAILABLE
    assert f["SELinux"][0] is Status.UNAVAILABLE
    assert f["seccomp of this process"][:2] == (Status.AVAILABLE, "filter (1 filters)")
    assert f["no_new_privs of this process"][:2] == (Status.AVAILABLE, "set")
    effective = set(f["capabilities of this process (effective)"][1].split(", "))
    assert effective == DOCKER_DEFAULT
    assert report.missing_for_sealyard == ()
    used = {f.name for f in report.features if f.sealyard}
    assert used == {
        "user namespaces",
        "namespaces",
        "cgroups",
        "seccomp",
        "capabilities",
        "no_new_privs",
        "read-only root, masked /proc paths, read-only /sys",
    }


def test_old_v1_host_without_user_namespaces_or_seccomp(tmp_path: Path) -> None:
    _namespaces(tmp_path, ["ipc", "mnt", "net", "pid", "uts"])
    _write(
        tmp_path,
        {
            "proc/self/status": OLD_STATUS,
            "proc/self/cgroup": (
                "4:memory:/user.slice\n3:cpu,cpuacct:/user.slice\n1:name=systemd:/\n"
            ),
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.shares": "1024\n",
            "sys/fs/selinux/enforce": "1\n",
        },
    )
    report = audit_host(tmp_path)
    f = _features(tmp_path)
    assert f["user namespaces"][0] is Status.UNAVAILABLE
    assert f["namespaces"][0] is Status.PARTIAL
    assert "missing: cgroup" in f["namespaces"][1]
    assert f["cgroups"][0] is Status.PARTIAL
    assert f["cgroups"][1].startswith("v1")
    assert "missing: pids" in f["cgroups"][1]
    assert f["seccomp"][0] is Status.UNAVAILABLE
    assert f["no_new_privs"][0] is Status.UNAVAILABLE
    assert f["SELinux"][:2] == (Status.AVAILABLE, "enforcing")
    assert f["AppArmor"][0] is Status.UNAVAILABLE
    effective = f["capabilities of this process (effective)"][1]
    assert effective.split(", ") == list(CAPABILITY_NAMES[:38])  # 0x3fffffffff
    missing = {m.name for m in report.missing_for_sealyard}
    assert missing == {"user namespaces", "namespaces", "cgroups", "seccomp", "no_new_privs"}


def test_hybrid_cgroups_and_user_namespaces_for_root_only(tmp_path: Path) -> None:
    _namespaces(tmp_path, ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"])
    _write(
        tmp_path,
        {
            "proc/self/status": DOCKER_STATUS,
            "proc/sys/user/max_user_namespaces": "15000\n",
            "proc/sys/kernel/unprivileged_userns_clone": "0\n",
            "proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n",
            "sys/fs/cgroup/unified/cgroup.controllers": "",
            "sys/fs/cgroup/memory/tasks": "",
            "sys/fs/cgroup/pids/tasks": "",
            "sys/fs/cgroup/cpu,cpuacct/tasks": "",
            "sys/fs/selinux/enforce": "0\n",
            "sys/module/apparmor/parameters/enabled": "N\n",
        },
    )
    f = _features(tmp_path)
    assert f["user namespaces"][0] is Status.PARTIAL
    assert "root only" in f["user namespaces"][1]
    assert f["cgroups"][0] is Status.AVAILABLE
    assert f["cgroups"][1].startswith("hybrid")
    assert f["SELinux"][0] is Status.PARTIAL
    assert f["AppArmor"][0] is Status.UNAVAILABLE


def test_an_empty_tree_is_unknown_not_an_error(tmp_path: Path) -> None:
    report = audit_host(tmp_path)
    statuses = {f.name: f.status for f in report.features}
    assert statuses["namespaces"] is Status.UNKNOWN
    assert statuses["user namespaces"] is Status.UNKNOWN
    assert statuses["cgroups"] is Status.UNKNOWN
    assert statuses["seccomp"] is Status.UNKNOWN
    assert statuses["capabilities"] is Status.UNKNOWN
    assert not [f for f in report.features if f.scope == "process"]


def test_garbage_in_proc_files_does_not_crash(tmp_path: Path) -> None:
    _namespaces(tmp_path, ["mnt"])
    _write(
        tmp_path,
        {
            "proc/self/status": "CapEff:\tzzzz\nNoNewPrivs:\tmaybe\nSeccomp:\t9\n",
            "proc/sys/kernel/cap_last_cap": "forty\n",
            "proc/sys/user/max_user_namespaces": "\xff lots\n",
            "proc/self/cgroup": "\x00\x01garbage",
        },
    )
    f = _features(tmp_path)
    assert f["capabilities of this process (effective)"][0] is Status.UNKNOWN
    assert f["seccomp of this process"][1] == "9"


def test_decode_caps() -> None:
    assert decode_caps("0000000000000000") == ()
    assert decode_caps("0000000000000401") == ("CHOWN", "NET_BIND_SERVICE")
    assert decode_caps("000001ffffffffff") == CAPABILITY_NAMES
    assert decode_caps("0000020000000000") == ("CAP_41",)
    assert decode_caps("000001ffffffffff", last_cap=1) == ("CHOWN", "DAC_OVERRIDE")
    assert decode_caps("xyz") is None


def _prctl(option: int, arg: int = 0) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return int(libc.prctl(option, arg, 0, 0, 0))


PR_GET_SECCOMP = 21
PR_GET_NO_NEW_PRIVS = 39
PR_CAPBSET_READ = 23


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_the_real_host() -> None:
    report = audit_host()
    features = {f.name: f for f in report.features}
    assert set(features) >= {
        "user namespaces",
        "namespaces",
        "cgroups",
        "seccomp",
        "capabilities",
        "no_new_privs",
        "AppArmor",
        "SELinux",
    }
    assert all(f.status in Status for f in report.features)
    for name in os.listdir("/proc/self/ns"):
        assert name in features["namespaces"].detail
    # What the kernel says about this process, asked through prctl(2), not /proc.
    nnp = features["no_new_privs of this process"]
    assert (nnp.status is Status.AVAILABLE) == (_prctl(PR_GET_NO_NEW_PRIVS) == 1)
    seccomp = features["seccomp of this process"]
    assert (seccomp.status is Status.AVAILABLE) == (_prctl(PR_GET_SECCOMP) == 2)
    bounding = features["capabilities of this process (bounding set)"].detail
    held = [n for i, n in enumerate(CAPABILITY_NAMES) if _prctl(PR_CAPBSET_READ, i) == 1]
    if bounding.startswith("all"):
        assert bounding == f"all {len(held)}"
    else:
        assert bounding.split(", ") == held or (bounding == "none" and held == [])
