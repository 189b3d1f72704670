"""What ``fraud-worker bench e2e`` needs beside the worker, built once under the stack dir:

- ``<stack dir>/bench-venv``: a virtual environment with the project and its ``bench`` extra
  (Quix Streams). Not the project's venv: quixstreams pins an older confluent-kafka than ours.
  Rebuilt when ``pyproject.toml`` changes (a stamp holds its hash).
- ``<stack dir>/bench-tools``: ``org.apache.kafka:kafka-tools`` of the local stack's Kafka
  version (ProducerPerformance, ConsumerPerformance), resolved by Maven from
  ``deploy/bench/pom.xml`` the way the broker's jars are (``worker.stack.kafka.ensure_jars``).

A file lock makes a second caller wait for a build in progress instead of starting another.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from worker.errors import StackError
from worker.stack.kafka import ensure_jars, find_pom

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
# Minutes on two idle cores (the project's wheels and quixstreams'); far longer means a hang.
VENV_TIMEOUT_S = 1800.0


def kafka_version(pom: Path | None = None) -> str:
    """The ``<kafka.version>`` the local stack's pom names (``4.1.1``)."""
    text = (pom or find_pom()).read_text()
    start = text.find("<kafka.version>")
    if start < 0:
        raise StackError(f"{pom or find_pom()} names no <kafka.version>; restore it from git")
    start += len("<kafka.version>")
    return text[start : text.index("<", start)].strip()


def bench_pom() -> Path:
    pom = REPO / "deploy" / "bench" / "pom.xml"
    if not pom.is_file():
        raise StackError(f"{pom} is missing: the benchmark runs from a source checkout")
    return pom


def ensure_perf_tools(stack_dir: Path) -> Path:
    """The directory of jars that runs Kafka's perf tools (``java -cp '<dir>/*'``)."""
    root = stack_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    jar_dir = root / "bench-tools"
    with (root / ".bench-tools.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not any(jar_dir.glob(f"kafka-tools-{kafka_version()}.jar")):
            # The stamp covers this pom, not its parent's version: a new Kafka version
            # in deploy/local/pom.xml must fetch again.
            (jar_dir / ".pom-sha256").unlink(missing_ok=True)
        return ensure_jars(jar_dir, bench_pom())


def _digest(pyproject: Path) -> str:
    return hashlib.sha256(pyproject.read_bytes()).hexdigest()


def ensure_bench_venv(stack_dir: Path, repo: Path = REPO) -> Path:
    """The python of ``<stack dir>/bench-venv`` (the project + its ``bench`` extra), built
    now when missing or older than ``pyproject.toml`` (minutes, once)."""
    root = stack_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / "bench-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".pyproject-sha256"
    digest = _digest(repo / "pyproject.toml")
    with (root / ".bench-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.is_file() and stamp.read_text() == digest:
            return python
        log.info("building the benchmark's venv at %s (a few minutes, once)", venv)
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "create the venv")
        _run(
            [str(python), "-m", "pip", "install", "-q", "-e", f"{repo}[bench]"],
            "install the project with its bench extra",
        )
        stamp.write_text(digest)
        return python


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=VENV_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise StackError(_venv_failed(what, f"no result after {VENV_TIMEOUT_S:g} s")) from None
    if result.returncode != 0:
        raise StackError(_venv_failed(what, _last_line(result.stderr or result.stdout)))


def _venv_failed(what: str, why: str) -> str:
    return (
        f"cannot build the benchmark's Quix Streams venv ({what}: {why}); make PyPI reachable "
        "for pip (or set PIP_INDEX_URL), or run without the quix designs "
        "(--design passthrough --design ours ...)"
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
