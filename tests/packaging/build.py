"""The wheel built from a copy of the checkout and installed with its dependencies from PyPI
into a fresh venv: about a minute, mostly pip unpacking onnxruntime and friends. The session
starts it in the background as soon as it knows a wheel test will run (``tests/conftest.py``),
so that the minute passes while other tests run; the wheel tests' fixture waits for it.

``python -m tests.packaging.build <folder>`` runs the build in the foreground (what the
background process is)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "worker"


def checked(args: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=280)
    if done.returncode != 0:
        raise RuntimeError(f"{args}: {done.stderr[-3000:]}")
    return done.stdout


def build_wheel(build: Path) -> Path:
    """``pip wheel`` of a copy of what the build reads, so that nothing is written into the
    checkout and no stale ``build/lib`` of an earlier build slips into the wheel."""
    source = build / "source"
    shutil.copytree(PACKAGE, source / "worker", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = build / "dist"
    checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)])
    (wheel,) = dist.glob("fraud_worker-*.whl")
    return wheel


def build_and_install(build: Path) -> None:
    """The wheel in ``build/dist``, installed into ``build/venv``."""
    wheel = build_wheel(build)
    venv = build / "venv"
    checked([sys.executable, "-m", "venv", str(venv)])
    checked([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=build)


class Background:
    """The one build of a session, in a process of its own."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None:
            return
        self.folder = Path(tempfile.mkdtemp(prefix="fraud-wheel-"))
        with (self.folder / "build.log").open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.packaging.build", str(self.folder)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self) -> Path:
        """The build folder once the build is done; raises with the build's log if it failed."""
        self.start()
        assert self._process is not None and self.folder is not None
        if self._process.wait(timeout=600) != 0:
            log = (self.folder / "build.log").read_text(errors="replace")
            raise RuntimeError(f"building and installing the wheel failed:\n{log[-4000:]}")
        return self.folder

    def clean(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


BACKGROUND = Background()

if __name__ == "__main__":
    build_and_install(Path(sys.argv[1]))
