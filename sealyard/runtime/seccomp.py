"""The seccomp allowlist of ``sealyard run``, as OCI ``linux.seccomp`` JSON.

The profile is equivalent to Docker's default: every system call not listed fails with
``EPERM``; ordinary programs find everything they use. On top of the plain allowlist it
keeps Docker's conditional rules:

* ``socket`` is allowed for every address family except ``AF_VSOCK`` (host/guest sockets);
* ``personality`` only with the harmless personas (Linux, 32-bit ``PER_LINUX32``,
  ``UNAME26`` and the query value ``0xffffffff``), so ``ADDR_NO_RANDOMIZE`` is refused;
* ``clone`` only without namespace flags, and ``clone3`` (whose flags live in memory that
  seccomp cannot read) answers ``ENOSYS`` so C libraries fall back to ``clone`` — unless
  ``CAP_SYS_ADMIN`` is granted;
* calls that only make sense with a capability (``mount``, ``unshare``, ``setns``,
  ``ptrace``, ``chroot``, ``reboot``, module loading, clock setting, …) are allowed only when
  the container is granted that capability.

The profile is computed for one architecture (``amd64`` or ``arm64``) and includes the
compat architectures the kernel can run there (x86 and x32 on amd64, 32-bit ARM on arm64).
"""

from __future__ import annotations

import errno
import os
import platform
from collections.abc import Collection, Iterable
from typing import Any

from sealyard.errors import UsageError

__all__ = ["ARCHITECTURES", "default_profile", "normalise_arch", "profile_syscalls"]

#: Seccomp architecture tokens per OCI architecture: the native one first.
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "amd64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "arm64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
}
_ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

# --- the unconditional allowlist, grouped by what the calls are for -------------------

_FILES = """
    access faccessat faccessat2 chdir fchdir getcwd chmod fchmod fchmodat chown chown32
    fchown fchown32 fchownat lchown lchown32 creat open openat openat2 close close_range
    name_to_handle_at link linkat symlink symlinkat unlink unlinkat rename renameat renameat2
    mkdir mkdirat rmdir mknod mknodat readlink readlinkat stat stat64 lstat lstat64 fstat
    fstat64 fstatat64 newfstatat statx statfs statfs64 fstatfs fstatfs64 truncate truncate64
    ftruncate ftruncate64 fallocate getdents getdents64 umask utime utimes utimensat
    utimensat_time64 futimesat flock fcntl fcntl64 fadvise64 fadvise64_64 readahead
    fsync fdatasync sync syncfs sync_file_range copy_file_range
    inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark
"""
_XATTRS = """
    getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr llistxattr flistxattr
    removexattr lremovexattr fremovexattr
"""
_IO = """
    read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2 lseek _llseek
    sendfile sendfile64 splice tee vmsplice dup dup2 dup3 pipe pipe2 ioctl
    select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait
    epoll_pwait2 eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_gettime
    timerfd_gettime64 timerfd_settime timerfd_settime64
    io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64
    io_uring_setup io_uring_enter io_uring_register
"""
_MEMORY = """
    brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall munlock
    munlockall remap_file_pages memfd_create memfd_secret membarrier pkey_alloc pkey_free
    pkey_mprotect
"""
_PROCESSES = """
    execve execveat exit exit_group fork vfork wait4 waitid waitpid kill tkill tgkill
    pidfd_open pidfd_send_signal process_mrelease getpid getppid gettid getpgid setpgid
    getpgrp getsid setsid prctl capget capset seccomp set_tid_address get_robust_list
    set_robust_list rseq restart_syscall get_thread_area set_thread_area futex futex_time64
    futex_waitv
    getpriority setpriority ioprio_get ioprio_set sched_yield sched_getaffinity
    sched_setaffinity sched_getattr sched_setattr sched_getparam sched_setparam
    sched_getscheduler sched_setscheduler sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval sched_rr_get_interval_time64 getcpu
    getrlimit setrlimit ugetrlimit prlimit64 getrusage times sysinfo uname
    landlock_create_ruleset landlock_add_rule landlock_restrict_self
"""
_SIGNALS = """
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_tgsigqueueinfo rt_sigreturn
    rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 sigaltstack sigprocmask sigreturn
    pause alarm getitimer setitimer
"""
_IDENTITY = """
    getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid
    getresuid32 getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid setgid32
    setreuid setreuid32 setregid setregid32 setresuid setresuid32 setresgid setresgid32
    setfsuid setfsuid32 setfsgid setfsgid32 setgroups setgroups32
"""
_TIME = """
    time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64
    clock_nanosleep clock_nanosleep_time64 nanosleep clock_adjtime clock_adjtime64 adjtimex
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
    timer_settime64
"""
_IPC = """
    ipc msgget msgctl msgsnd msgrcv semget semctl semop semtimedop semtimedop_time64 shmget
    shmctl shmat shmdt mq_open mq_unlink mq_getsetattr mq_notify mq_timedsend
    mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64
"""
_NETWORK = """
    socketpair socketcall bind connect listen accept accept4 getsockname getpeername
    getsockopt setsockopt shutdown send sendto sendmsg sendmmsg recv recvfrom recvmsg
    recvmmsg recvmmsg_time64
"""
_ENTROPY = "getrandom"

#: Debugging other processes of the container; safe from kernel 4.8 on (before, ptrace
#: could bypass seccomp).
_PTRACE = ("ptrace", "process_vm_readv", "process_vm_writev")
_PTRACE_MIN_KERNEL = (4, 8)

_ARCH_EXTRAS: dict[str, tuple[str, ...]] = {
    "amd64": ("arch_prctl", "modify_ldt"),
    "arm64": (
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ),
}

#: Calls allowed only when the container holds the capability (without ``CAP_``).
_BY_CAPABILITY: dict[str, tuple[str, ...]] = {
    "SYS_ADMIN": (
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
        "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
        "syslog", "umount", "umount2", "unshare",
    ),
    "DAC_READ_SEARCH": ("open_by_handle_at",),
    "SYS_BOOT": ("reboot",),
    "SYS_CHROOT": ("chroot",),
    "SYS_MODULE": ("init_module", "finit_module", "delete_module"),
    "SYS_PACCT": ("acct",),
    "SYS_PTRACE": ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                   "process_madvise"),
    "SYS_RAWIO": ("iopl", "ioperm"),
    "SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_settime64"),
    "SYS_TTY_CONFIG": ("vhangup",),
    "SYS_NICE": ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    "SYSLOG": ("syslog",),
    "BPF": ("bpf",),
    "PERFMON": ("perf_event_open",),
}  # fmt: skip

_AF_VSOCK = 40
#: personality(2) values programs legitimately use: PER_LINUX, PER_LINUX32, UNAME26,
#: UNAME26|PER_LINUX32, and 0xffffffff (query the current persona).
_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
#: clone(2) flags that create namespaces; a plain clone must have none of them.
_CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)


def _names(*groups: str) -> set[str]:
    return {name for group in groups for name in group.split()}


_COMMON = _names(
    _FILES, _XATTRS, _IO, _MEMORY, _PROCESSES, _SIGNALS, _IDENTITY, _TIME, _IPC, _NETWORK,
    _ENTROPY,
)  # fmt: skip


def normalise_arch(arch: str | None = None) -> str:
    """``amd64`` or ``arm64`` for ``arch`` (OCI or kernel spelling; default: this host).

    Raises:
        UsageError: an architecture the profile is not defined for.
    """
    name = (arch or platform.machine()).lower()
    try:
        return _ARCH_ALIASES[name]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UsageError(f"no seccomp profile for architecture {name!r} (known: {known})") from None


def _host_kernel() -> tuple[int, int]:
    release = os.uname().release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def _strip_cap(name: str) -> str:
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def profile_syscalls(
    arch: str, capabilities: Iterable[str] = (), kernel: tuple[int, int] | None = None
) -> set[str]:
    """Every system call the profile allows unconditionally (no argument filter)."""
    caps = {_strip_cap(c) for c in capabilities}
    allowed = set(_COMMON) | set(_ARCH_EXTRAS[normalise_arch(arch)])
    if (kernel or _host_kernel()) >= _PTRACE_MIN_KERNEL:
        allowed.update(_PTRACE)
    for cap, calls in _BY_CAPABILITY.items():
        if cap in caps:
            allowed.update(calls)
    return allowed


def _rule(names: Collection[str], action: str = "SCMP_ACT_ALLOW", **extra: Any) -> dict[str, Any]:
    return {"names": sorted(names), "action": action, **extra}


def _arg(index: int, value: int, op: str, value_two: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "value": value, "op": op}
    if op == "SCMP_CMP_MASKED_EQ":
        out["valueTwo"] = value_two
    return out


def default_profile(
    arch: str | None = None,
    capabilities: Iterable[str] = (),
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object for ``arch`` and the granted ``capabilities``.

    ``capabilities`` are names with or without ``CAP_``; ``kernel`` (major, minor) defaults
    to the running kernel.

    Raises:
        UsageError: unknown architecture.
    """
    name = normalise_arch(arch)
    caps = {_strip_cap(c) for c in capabilities}
    syscalls = [_rule(profile_syscalls(name, caps, kernel))]
    syscalls.append(_rule(["socket"], args=[_arg(0, _AF_VSOCK, "SCMP_CMP_NE")]))
    syscalls += [
        _rule(["personality"], args=[_arg(0, persona, "SCMP_CMP_EQ")]) for persona in _PERSONAS
    ]
    if "SYS_ADMIN" not in caps:
        syscalls.append(
            _rule(["clone"], args=[_arg(0, _CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ", 0)])
        )
        syscalls.append(_rule(["clone3"], "SCMP_ACT_ERRNO", errnoRet=errno.ENOSYS))
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": list(ARCHITECTURES[name]),
        "syscalls": syscalls,
    }
