"""Command-line tools that shipping needs and Debian does not package: Helm, built once.

``helm`` for ``helm lint`` / ``helm template`` of the chart (deploy/helm/fraud-worker). It is
taken from ``<stack dir>/tools/bin`` or PATH when it is the pinned version, else built with
``go install`` through the Go module proxy into ``<stack dir>/tools`` (git-ignored), so a
second run finds it at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
from pathlib import Path

from worker.errors import StackError
from worker.settings import load_settings

log = logging.getLogger(__name__)

HELM_VERSION = "v3.22.0"
HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"
# A release binary says "v3.22.0"; one built by `go install` says "v3.22" (the patch level
# only comes from the release's linker flags).
HELM_REPORTED = (HELM_VERSION, HELM_VERSION.rsplit(".", 1)[0])
# Two minutes on two idle cores; far longer means a hung download.
BUILD_TIMEOUT_S = 1200.0


def tools_dir(stack_dir: Path | None = None) -> Path:
    """Where the built tools live: ``<stack dir>/tools`` (the settings' stack dir by default)."""
    return (stack_dir if stack_dir is not None else load_settings().stack.dir).resolve() / "tools"


def ensure_helm(stack_dir: Path | None = None) -> Path:
    """The pinned helm: cached, on PATH, or built now (a few minutes, once). A second caller
    while a build runs (``make test`` builds it in the background) waits for that build."""
    root = tools_dir(stack_dir)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        cached = root / "bin" / "helm"
        on_path = shutil.which("helm")
        for candidate in (cached, Path(on_path) if on_path else None):
            if candidate is not None and helm_version(candidate) in HELM_REPORTED:
                return candidate
        return build_helm(root)


def helm_version(helm: Path) -> str | None:
    """What ``helm version`` says (``v3.22.0``), or None when it is not a working helm."""
    try:
        result = subprocess.run(
            [str(helm), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def build_helm(root: Path) -> Path:
    """``go install`` the pinned helm into ``root/bin``, with Go's caches under ``root``."""
    go = shutil.which("go")
    if go is None:
        raise StackError(
            f"helm {HELM_VERSION} is needed and Go is not installed to build it: install Go "
            f"(https://go.dev/dl/ or `apt-get install golang`), or put helm {HELM_VERSION} on PATH"
        )
    log.info("building helm %s with go install (a few minutes, once)", HELM_VERSION)
    command = [go, "install", f"{HELM_PACKAGE}@{HELM_VERSION}"]
    try:
        result = subprocess.run(
            command,
            env=go_environment(root),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackError(_build_failed(f"no result after {BUILD_TIMEOUT_S:g} s")) from None
    if result.returncode != 0:
        raise StackError(_build_failed(_last_line(result.stderr)))
    # The compiled packages are only worth keeping for another build; the binary is what counts.
    shutil.rmtree(root / "go-build", ignore_errors=True)
    helm = root / "bin" / "helm"
    if helm_version(helm) not in HELM_REPORTED:
        raise StackError(_build_failed(f"{helm} does not report version {HELM_VERSION}"))
    return helm


def go_environment(root: Path) -> dict[str, str]:
    """Go's binary, module and build caches under ``root``: git-ignored, kept between runs,
    removable with the stack (``-modcacherw``: the module cache is not read-only)."""
    flags = " ".join(filter(None, [os.environ.get("GOFLAGS", ""), "-modcacherw"]))
    return {
        **os.environ,
        "GOBIN": str(root / "bin"),
        "GOPATH": str(root / "go"),
        "GOMODCACHE": str(root / "go" / "pkg" / "mod"),
        "GOCACHE": str(root / "go-build"),
        "GOFLAGS": flags,
    }


def _build_failed(why: str) -> str:
    proxy = os.environ.get("GOPROXY") or "https://proxy.golang.org,direct"
    return (
        f"cannot build helm {HELM_VERSION} with `go install` ({why}): make the Go module proxy "
        f"reachable (GOPROXY={proxy}), or put helm {HELM_VERSION} on PATH"
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
