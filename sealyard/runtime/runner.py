"""Run an OCI bundle with runc (or crun) and always clean up after it.

A bundle lives in a private directory (mode ``0711``: the user namespace's mapped root may
traverse it, nobody may list it) holding ``config.json`` and ``rootfs/``. The runtime keeps
its state under its own root directory, apart from other users of runc on the host.

Whatever happens — the container exits, times out, the caller is interrupted — the
container is killed if it still runs, deleted from the runtime's state, and the bundle is
removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sealyard.errors import TransportError, UsageError

__all__ = [
    "RUNTIMES",
    "Bundle",
    "RunResult",
    "Runner",
    "create_bundle",
    "default_bundle_parent",
    "new_container_id",
]

RUNTIMES = ("runc", "crun")
_STATE_ROOT = Path("/run/sealyard")
_KILL_GRACE = 10.0

Stream = int | IO[Any] | None


@dataclass(frozen=True)
class Bundle:
    """An OCI bundle directory: ``config.json`` and ``rootfs/`` inside ``path``."""

    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    def write_config(self, config: Mapping[str, Any]) -> None:
        """Write ``config.json`` (atomically, readable by the runtime only)."""
        tmp = self.path / ".config.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, self.config)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass(frozen=True)
class RunResult:
    """How a container ended: its exit status (``128+N`` for signal ``N``)."""

    exit_code: int
    timed_out: bool = False


def default_bundle_parent() -> Path:
    """``$SEALYARD_RUN_DIR`` or ``/var/tmp``: on disk, not in memory, since rootfs are big."""
    return Path(os.environ.get("SEALYARD_RUN_DIR") or "/var/tmp")  # noqa: S108 - private subdirs


def new_container_id() -> str:
    return f"sealyard-{secrets.token_hex(6)}"


def _check_traversable(path: Path) -> None:
    """Every directory above the bundle must let "others" (the mapped uid) pass through."""
    for directory in [path, *path.parents]:
        try:
            mode = directory.stat().st_mode
        except OSError as exc:
            raise UsageError(f"cannot use {path} for bundles: {exc}") from exc
        if not mode & stat.S_IXOTH:
            raise UsageError(
                f"{directory} is not traversable by other users (mode "
                f"{stat.filemode(mode)}): the container's mapped root could not reach its "
                "root filesystem; choose another --bundle-dir"
            )


def create_bundle(parent: Path | None = None) -> Bundle:
    """A fresh, private bundle directory below ``parent``.

    Raises:
        UsageError: ``parent`` is missing or not traversable by the mapped user.
    """
    parent = Path(parent or default_bundle_parent()).resolve()
    _check_traversable(parent)
    try:
        path = Path(tempfile.mkdtemp(prefix="sealyard-bundle-", dir=parent))
    except OSError as exc:
        raise UsageError(f"cannot create a bundle in {parent}: {exc}") from exc
    os.chmod(path, 0o711)  # noqa: S103 - traversable by the mapped root, not listable
    return Bundle(path)


class Runner:
    """Runs bundles with one OCI runtime (``runc`` or ``crun``).

    Args:
        runtime: the runtime's name or path.
        state_root: where the runtime keeps container state (default
            ``/run/sealyard/<runtime>``).
    """

    def __init__(self, runtime: str = "runc", *, state_root: Path | None = None) -> None:
        resolved = shutil.which(runtime)
        if resolved is None:
            raise UsageError(f"OCI runtime {runtime!r} not found; install runc (or crun)")
        self.runtime = resolved
        name = Path(resolved).name
        self.state_root = state_root or _STATE_ROOT / name

    def _cmd(self, *args: str) -> list[str]:
        return [self.runtime, "--root", str(self.state_root), *args]

    def _quiet(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[bytes]:
        """Run a runtime subcommand; a hung or missing runtime is a failed result."""
        command = self._cmd(*args)
        try:
            return subprocess.run(  # noqa: S603 - fixed runtime binary, no shell
                command, capture_output=True, timeout=timeout, check=False
            )
        except (subprocess.TimeoutExpired, OSError) as exc:
            return subprocess.CompletedProcess(command, -1, b"", str(exc).encode())

    def state(self, container_id: str) -> dict[str, Any] | None:
        """The runtime's ``state`` of the container, or ``None`` if it does not exist."""
        done = self._quiet("state", container_id)
        if done.returncode != 0:
            return None
        try:
            doc = json.loads(done.stdout)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def kill(self, container_id: str, sig: str = "KILL") -> None:
        """Signal the container's init process (and, for KILL, every process in it)."""
        args = (
            ["kill", "--all", container_id, sig] if sig == "KILL" else ["kill", container_id, sig]
        )
        self._quiet(*args)

    def delete(self, container_id: str) -> None:
        """Remove the container from the runtime's state (killing what still runs)."""
        self._quiet("delete", "--force", container_id)

    def run(
        self,
        bundle: Bundle,
        container_id: str | None = None,
        *,
        stdin: Stream = subprocess.DEVNULL,
        stdout: Stream = None,
        stderr: Stream = None,
        timeout: float | None = None,
        remove_bundle: bool = True,
    ) -> RunResult:
        """Run the bundle in the foreground; the container's output goes to ``stdout`` and
        ``stderr`` (inherited by default), its exit status is returned.

        The container is deleted and (unless ``remove_bundle`` is false) the bundle removed
        afterwards, also when this raises (``KeyboardInterrupt`` included).

        Raises:
            TransportError: the runtime could not be started.
        """
        container_id = container_id or new_container_id()
        self.state_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        proc: subprocess.Popen[bytes] | None = None
        try:
            # An interrupt between the runtime starting and `proc` being known would leave
            # the container running with nobody to stop it: hold SIGINT/SIGTERM until then.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                proc = subprocess.Popen(  # noqa: S603 - fixed runtime binary, no shell
                    self._cmd("run", "--bundle", str(bundle.path), container_id),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,  # the terminal's Ctrl-C reaches us, not runc
                )
            except OSError as exc:
                raise TransportError(f"cannot start {self.runtime}: {exc}") from exc
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._stop(proc, container_id)
                return RunResult(proc.returncode if proc.returncode is not None else 137, True)
            return RunResult(_status(code))
        finally:
            if proc is not None and proc.poll() is None:
                self._stop(proc, container_id)
            self.delete(container_id)
            if remove_bundle:
                bundle.remove()

    def _stop(self, proc: subprocess.Popen[bytes], container_id: str) -> None:
        """Kill the container, then the runtime process if it lingers."""
        self.kill(container_id, "KILL")
        try:
            proc.wait(timeout=_KILL_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    @contextlib.contextmanager
    def started(
        self, bundle: Bundle, container_id: str | None = None, **kwargs: Any
    ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        """Start a container in the background (for tests and supervisors).

        Yields ``(container_id, runtime process)`` once the runtime reports it running;
        on exit it is killed, deleted and the bundle removed.
        """
        container_id = container_id or new_container_id()
        self.state_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        proc = subprocess.Popen(  # noqa: S603 - fixed runtime binary, no shell
            self._cmd("run", "--bundle", str(bundle.path), container_id),
            start_new_session=True,
            **kwargs,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                state = self.state(container_id)
                if state and state.get("status") == "running":
                    break
                if proc.poll() is not None:
                    raise TransportError(f"container exited early with status {proc.returncode}")
                time.sleep(0.05)
            else:
                raise TransportError(f"container {container_id} did not start within 30 s")
            yield container_id, proc
        finally:
            if proc.poll() is None:
                self._stop(proc, container_id)
            self.delete(container_id)
            bundle.remove()


def _status(code: int) -> int:
    """Popen reports death by signal N as ``-N``; shells and docker say ``128+N``."""
    return 128 - code if code < 0 else code
