"""Sealyard's runtime defaults as checks, where no CIS recommendation covers them.

``sealyard run`` generates OCI configs with a user namespace, a seccomp allowlist, a minimal
capability set, ``no_new_privs``, a read-only root, masked ``/proc`` paths with a read-only
``/sys``, and PIDs and memory limits. CIS covers all but the masked paths (5.31, 5.22, 5.4,
5.26, 5.13, 5.29, 5.11); SY-1 adds the check for those. SY-2 reports the relaxations
``sealyard run`` records in the bundle's ``dev.sealyard.relaxed`` annotation, including
the ones a config cannot show (an image run without policy verification, kept setuid bits).
"""

from __future__ import annotations

from collections.abc import Iterator

from sealyard.runtime.audit._rules import RuleSet, finding, names
from sealyard.runtime.audit.interface import Finding, Rule, Severity
from sealyard.runtime.audit.model import Workload

__all__ = [
    "RELAXED_ANNOTATION",
    "REQUIRED_MASKED_PATHS",
    "REQUIRED_READONLY_PATHS",
    "SEALYARD_DEFAULTS",
]

SEALYARD_DEFAULTS = RuleSet(
    "sealyard",
    "Sealyard runtime defaults",
    "sealyard-runtime",
    "https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#masked-paths",
)

#: Paths that leak host kernel state (memory, keys, timers, scheduler, firmware).
REQUIRED_MASKED_PATHS = (
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/sys/firmware",
)
#: Paths through which a process could reconfigure the host kernel (masking them is fine too).
REQUIRED_READONLY_PATHS = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus")


@SEALYARD_DEFAULTS.rule(
    "SY-1",
    "Ensure /proc paths are masked and /sys is read-only",
    Severity.HIGH,
    why="/proc/kcore, /proc/keys, /proc/timer_list and friends expose host kernel memory and "
    "state; writable /proc/sys, /proc/sysrq-trigger or /sys let a container reconfigure or "
    "reboot the host kernel. Runtimes mask them by default; privileged mode, "
    "`systempaths=unconfined` and `procMount: Unmasked` undo it.",
    fix="Keep the runtime's masked and read-only paths: no `--privileged`, no "
    "`--security-opt systempaths=unconfined`, no `procMount: Unmasked`; OCI configs list "
    "them in `linux.maskedPaths`/`linux.readonlyPaths` and mount /sys with `ro`.",
    formats=("docker-inspect", "compose", "kubernetes", "oci"),
)
def _masked(rule: Rule, w: Workload) -> Iterator[Finding]:
    for c in w.containers:
        field = c.where("masked_paths")
        if w.format == "kubernetes":
            if c.privileged:
                yield finding(
                    rule,
                    w,
                    "privileged: /proc and /sys are unmasked",
                    container=c,
                    field=c.where("privileged"),
                )
            elif c.proc_mount not in (None, "Default"):
                yield finding(
                    rule,
                    w,
                    f"procMount is {c.proc_mount}: /proc is not masked",
                    container=c,
                    field=c.where("proc_mount"),
                )
        elif w.format == "oci":
            masked = set(c.masked_paths or ())
            hidden_or_ro = masked | set(c.readonly_paths or ())
            missing_masked = [p for p in REQUIRED_MASKED_PATHS if p not in masked]
            missing_ro = [p for p in REQUIRED_READONLY_PATHS if p not in hidden_or_ro]
            if missing_masked:
                yield finding(
                    rule,
                    w,
                    f"linux.maskedPaths lacks {names(missing_masked)}",
                    container=c,
                    field=field,
                )
            if missing_ro:
                yield finding(
                    rule,
                    w,
                    f"linux.readonlyPaths lacks {names(missing_ro)}",
                    container=c,
                    field=c.where("readonly_paths"),
                )
            if c.sys_read_only is False:
                yield finding(
                    rule,
                    w,
                    "/sys is mounted writable",
                    container=c,
                    field=c.where("sys_read_only"),
                )
        elif c.privileged:
            yield finding(
                rule,
                w,
                "privileged: /proc and /sys are unmasked",
                container=c,
                field=c.where("privileged"),
            )
        elif c.masked_paths == ():
            yield finding(
                rule,
                w,
                "no masked /proc paths (systempaths=unconfined)",
                container=c,
                field=field,
            )


#: The annotation ``sealyard run`` records its relaxations in (``sealyard.runtime.spec``).
RELAXED_ANNOTATION = "dev.sealyard.relaxed"
#: Relaxations the config itself cannot show; the others are also found by CIS checks.
_RELAXATION_SEVERITY = {"unsigned": Severity.HIGH, "keep-setuid": Severity.MEDIUM}
_RELAXATION_TEXT = {
    "unsigned": "the image ran without policy verification",
    "keep-setuid": "set-user-ID and set-group-ID bits were kept in the unpacked rootfs",
    "no-seccomp": "the seccomp allowlist is off (also CIS-5.22)",
    "no-userns": "no user namespace (also CIS-5.31)",
    "writable-rootfs": "the root filesystem is writable (also CIS-5.13)",
    "new-privileges": "no_new_privs is off (also CIS-5.26)",
    "network:host": "the host's network namespace is used (also CIS-5.10)",
}


def _relaxation_text(token: str) -> str:
    kind, _, value = token.partition(":")
    if kind == "cap-add":
        return f"capability {value} added (also CIS-5.4)"
    if kind == "pids-limit":
        return f"PIDs limit raised to {value} (CIS-5.29 if unlimited)"
    if kind == "memory":
        return f"memory limit raised to {value} (CIS-5.11 if unlimited)"
    return _RELAXATION_TEXT.get(token, f"relaxation {token!r}")


@SEALYARD_DEFAULTS.rule(
    "SY-2",
    "Ensure Sealyard's hardened defaults are not relaxed",
    Severity.MEDIUM,
    why="`sealyard run` records every default it was told to loosen in the "
    f"`{RELAXED_ANNOTATION}` annotation of the bundle's config.json. Some relaxations "
    "(running an unverified image, keeping setuid bits) leave no other trace in the config.",
    fix="Run without the options that loosened these defaults, or record why each exception "
    "is needed; verify the image under policy before it runs.",
    formats=("oci",),
)
def _relaxed(rule: Rule, w: Workload) -> Iterator[Finding]:
    text = w.annotations.get(RELAXED_ANNOTATION, "")
    for token in dict.fromkeys(t.strip() for t in text.split(",") if t.strip()):
        yield finding(
            rule,
            w,
            f"relaxed: {_relaxation_text(token)}",
            field=f"{w.where('annotations')}.{RELAXED_ANNOTATION}",
            severity=_RELAXATION_SEVERITY.get(token, Severity.INFO),
        )
