"""Shared plumbing: repo paths, pid files, detached processes, readiness polling.

Each service (postgres.py, kafka.py, ...) is a `Service` subclass that only knows how to
install, configure, launch and probe itself; starting, stopping and pid bookkeeping live here
so that every service behaves the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# The package lives at <repo>/devservices/, so the repo root is one level up.
REPO_ROOT = Path(__file__).resolve().parent.parent
VAR = REPO_ROOT / "var"
LOG_DIR = VAR / "log"
RUN_DIR = VAR / "run"
CACHE_DIR = VAR / "cache"

HOST = "127.0.0.1"  # every service binds to loopback only
STOP_TIMEOUT = 20.0  # seconds between the polite signal and SIGKILL
LOCK_TIMEOUT = 300.0  # a concurrent `up` may be fetching Kafka jars; wait that long for it


class DevServiceError(RuntimeError):
    """A service could not be installed, started or stopped; the message names the missing piece."""


def progress(text: str) -> None:
    """Append to the current "<service>: ..." progress line."""
    print(text, end="", flush=True)


def ensure_var() -> None:
    for directory in (LOG_DIR, RUN_DIR, CACHE_DIR):
        directory.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def exclusive_lock() -> Iterator[None]:
    """Serialise up/down across processes (e.g. several pytest-xdist workers calling up())."""
    ensure_var()
    with open(RUN_DIR / "devservices.lock", "w") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DevServiceError(
                        f"another devservices process held {handle.name} for {LOCK_TIMEOUT:.0f}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def run(cmd: list[str], what: str, timeout: float, **kwargs) -> None:
    """Run an install/setup command; on failure raise an error that says what was being done."""
    try:
        result = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, **kwargs
        )
    except FileNotFoundError:
        raise DevServiceError(f"{what}: `{cmd[0]}` is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise DevServiceError(
            f"{what}: `{' '.join(cmd)}` did not finish in {timeout:.0f}s"
        ) from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-3000:]
        raise DevServiceError(
            f"{what}: `{' '.join(cmd)}` failed (exit {result.returncode}):\n{output}"
        )


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"


# Popen objects of services started by this very process, so we can reap them (no zombies in a
# long pytest run) and so Python does not warn about children it still tracks.
_children: dict[int, subprocess.Popen] = {}


def _cmdline(pid: int) -> str:
    if not Path("/proc/self").exists():  # no /proc (macOS): ask ps
        result = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
        return result.stdout.strip()
    # Right after Popen returns, the child can still be inside execve() with an empty
    # cmdline, so give it a moment before concluding the pid is not ours.
    for _ in range(20):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # gone, or not ours to read
            return ""
        if raw:
            return raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.05)
    return ""


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie still answers kill(0) but is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


class Service:
    """One external server. Subclasses fill in the hooks; `start`/`stop` are shared."""

    name = ""
    ports: tuple[int, ...] = ()
    start_timeout = 30.0
    # Signal asking for a clean shutdown, and whether to send it to the whole process group.
    stop_signal = signal.SIGTERM
    signal_group = True

    @property
    def pid_file(self) -> Path:
        return RUN_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    # -- hooks -----------------------------------------------------------------------------
    def install(self) -> None:
        """Fetch or install whatever is missing (binaries, jars). Cheap when already present."""

    def prepare(self) -> None:
        """Write config files and initialise data directories before launching."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def popen_kwargs(self) -> dict:
        return {}

    def markers(self) -> tuple[str, ...]:
        """Strings that must appear in the command line of a pid we started (pids get reused)."""
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def after_ready(self) -> None:
        """One-off setup that needs the running server (e.g. create the database)."""

    def env(self) -> dict[str, str]:
        return {}

    # -- shared behaviour ------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """Pid of the instance devservices started, or None. Removes stale pid files."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except FileNotFoundError:
            return None
        except ValueError:
            pid = 0
        if pid > 0 and _alive(pid) and all(m in _cmdline(pid) for m in self.markers()):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> str:
        started = time.monotonic()
        pid = self.running_pid()
        if pid is not None:
            if self.is_ready():
                self.after_ready()  # cheap and idempotent; repairs e.g. a dropped database
                return "already running"
            # An earlier `up` may still be warming it up: wait instead of starting a second copy.
            progress("waiting for the running instance… ")
            self._wait_ready(pid, ours=False)
            self.after_ready()
            return f"ready in {time.monotonic() - started:.1f}s"

        if self.ports and all(port_open(port) for port in self.ports) and self.is_ready():
            # Answering like this service, started by someone else (another checkout of the
            # repository, a system service): use it, and never stop it.
            return "already running (not started by this checkout)"
        for port in self.ports:
            if port_open(port):
                raise DevServiceError(
                    f"{self.name}: {HOST}:{port} is already taken by a process devservices did not "
                    f"start (no live pid in {self.pid_file}); stop it or free the port"
                )
        self.install()
        self.prepare()
        progress("starting… ")
        with open(self.log_file, "ab") as log:
            try:
                proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group; survives the CLI and Ctrl-C
                    cwd=REPO_ROOT,
                    **self.popen_kwargs(),
                )
            except FileNotFoundError as exc:
                raise DevServiceError(f"{self.name}: cannot execute {exc.filename}") from None
        _children[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        self._wait_ready(proc.pid, ours=True)
        self.after_ready()
        return f"ready in {time.monotonic() - started:.1f}s"

    def _wait_ready(self, pid: int, ours: bool) -> None:
        """Wait for readiness; `ours` means this call launched pid and should clean up a failure."""

        def ready_or_dead() -> bool:
            return not _alive(pid) or self.is_ready()

        ok = wait_until(ready_or_dead, self.start_timeout, interval=0.3)
        if ok and _alive(pid):
            return
        reason = "exited during startup" if ok else f"not ready after {self.start_timeout:.0f}s"
        if ours:
            self.stop()  # do not leave a half-started server holding the ports
        else:
            # Started by an earlier `up` and maybe reconfigured since (e.g. DEVSERVICES_PG_PORT):
            # leave the decision to restart it to the user.
            reason += f" (pid {pid}; `python -m devservices down {self.name}` to restart it)"
        raise DevServiceError(
            f"{self.name} {reason}; last lines of {self.log_file}:\n{tail(self.log_file)}"
        )

    def stop(self) -> str:
        pid = self.running_pid()
        if pid is None:
            return "not running"
        started = time.monotonic()
        how = ""
        with contextlib.suppress(ProcessLookupError):
            if self.signal_group:
                os.killpg(pid, self.stop_signal)
            else:
                os.kill(pid, self.stop_signal)
        if not wait_until(lambda: not _alive(pid), STOP_TIMEOUT, interval=0.1):
            how = f" (SIGKILL after {STOP_TIMEOUT:.0f}s)"
        # Sweep leftovers. start_new_session made pid the group id, so this only reaches processes
        # we started (the kernel does not hand out a pid while it is still in use as a group id).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 5.0, interval=0.1)
        _children.pop(pid, None)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped in {time.monotonic() - started:.1f}s{how}"

    def status(self) -> str:
        pid = self.running_pid()
        if pid is None:
            return "stopped"
        state = "ready" if self.is_ready() else "NOT ready"
        return f"running (pid {pid}), {state}, log {self.log_file.relative_to(REPO_ROOT)}"
