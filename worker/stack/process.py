"""Start, identify and stop the stack's own server processes.

A pid file holds the pid and the process's kernel start time, so ``down`` never signals a
process that merely reused a pid: it stops only what this stack started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worker.errors import StackError


@dataclass(frozen=True)
class ProcessRecord:
    """What a pid file says about a process the stack started."""

    pid: int
    start_ticks: int
    command: str


def start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after the last ')' is fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process still exists and is the same process."""
    ticks = start_ticks(record.pid)
    return ticks == record.start_ticks and not _is_zombie(record.pid)


def read_pid_file(path: Path) -> ProcessRecord | None:
    """The record in ``path``, or None when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(int(data["pid"]), int(data["start_ticks"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running(path: Path) -> ProcessRecord | None:
    """The process the pid file at ``path`` records, if it still runs (not a reused pid)."""
    record = read_pid_file(path)
    return record if record and is_running(record) else None


def spawn(command: list[str], log_path: Path, pid_path: Path, env: dict[str, str]) -> ProcessRecord:
    """Start ``command`` detached (own session, output to ``log_path``) and record it.

    posix_spawn rather than Popen: the server outlives this call, and a dropped Popen object
    would warn that its process still runs.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    executable = shutil.which(command[0]) or command[0]
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        pid = os.posix_spawn(
            executable,
            command,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log_fd)
    ticks = start_ticks(pid)
    if ticks is None:
        raise StackError(f"{command[0]} exited at once; see {log_path}:\n{tail(log_path)}")
    record = ProcessRecord(pid, ticks, command[0])
    pid_path.write_text(json.dumps(record.__dict__))
    return record


def stop(record: ProcessRecord, timeout_s: float = 20.0) -> None:
    """SIGTERM the recorded process (if it is still ours), then SIGKILL after ``timeout_s``."""
    if not is_running(record):
        return
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(record):
            _reap(record.pid)
            return
        time.sleep(0.1)
    os.kill(record.pid, signal.SIGKILL)
    _reap(record.pid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until_answers(
    name: str,
    running: Callable[[], bool],
    answers: Callable[[], bool],
    timeout_s: float,
    log_path: Path,
    poll_s: float = 0.1,
) -> None:
    """Poll ``answers()`` until it says yes; fail at once, with the end of the server's log,
    when it exited meanwhile, and after ``timeout_s`` when it never answered."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not running():
            raise StackError(
                f"{name} exited during start; the end of {log_path}:\n{tail(log_path)}"
            )
        if answers():
            return
        time.sleep(poll_s)
    raise StackError(f"{name} did not answer within {timeout_s:.0f} s; see {log_path}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, what: str, setting: str, host: str = "127.0.0.1") -> None:
    """Fail with the fix when another process holds the port."""
    if not port_is_free(port, host):
        raise StackError(
            f"port {port} for {what} is taken by another process; stop it, or pick another "
            f"port with {setting}=<port>"
        )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (0600) from the first byte on: a file that
    holds a key or a password."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
