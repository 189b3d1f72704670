"""Debian's Prometheus: ``promtool`` checks and unit-tests the alert rules, and the server
scrapes the demo's workers on loopback.

Installed from Debian's packages when missing and we are root. The package would start a
system Prometheus on :9090 (and its recommended node exporter on :9100); we want the binaries
only, so services are kept from starting during the install and any that did start are
stopped and disabled after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worker.errors import StackError

PROMTOOL = Path("/usr/bin/promtool")
PROMETHEUS = Path("/usr/bin/prometheus")
PACKAGE = "prometheus"
# Debian's "no service may start" hook: exit status 101 tells invoke-rc.d to do nothing.
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
POLICY_DENY_ALL = "#!/bin/sh\n# fraud-worker: installing Prometheus's binaries only\nexit 101\n"
SERVICES = ("prometheus", "prometheus-node-exporter")
APT_TIMEOUT_S = 900


def ensure_promtool() -> str:
    """The path of ``promtool`` (installing Debian's ``prometheus`` if needed)."""
    return _ensure(PROMTOOL)


def prometheus_executable() -> str:
    """The path of the ``prometheus`` server binary (installing the package if needed)."""
    return _ensure(PROMETHEUS)


def promtool_version(executable: str) -> str:
    """The first line of ``promtool --version``."""
    result = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    if result.returncode != 0 or not lines:
        raise StackError(
            f"{executable} --version failed: reinstall it with "
            f"`apt-get install --reinstall {PACKAGE}`"
        )
    return lines[0]


def _ensure(binary: Path) -> str:
    if binary.exists():
        return str(binary)
    on_path = shutil.which(binary.name)
    if on_path:
        return on_path
    if os.geteuid() != 0:
        raise StackError(
            f"{binary.name} is not installed: run `sudo apt-get install --no-install-recommends "
            f"{PACKAGE}`"
        )
    with _services_kept_down():
        _apt(["apt-get", "update", "-q"])
        _apt(["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE])
    _stop_started_services()
    if not binary.exists():
        raise StackError(f"apt-get installed {PACKAGE} but {binary} is missing; reinstall it")
    return str(binary)


def _apt(command: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=APT_TIMEOUT_S
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise StackError(f"`{' '.join(command)}` failed ({last}); install {PACKAGE} by hand")


@contextmanager
def _services_kept_down() -> Iterator[None]:
    """A deny-all ``policy-rc.d`` while apt runs, unless the machine has one already (a
    container image usually does: then it is left exactly as it was)."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text(POLICY_DENY_ALL)
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def _stop_started_services() -> None:
    """Under systemd the package's unit may start regardless of policy-rc.d: stop it and keep
    it from starting at boot, so nothing of ours binds :9090 behind the user's back."""
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return
    for service in SERVICES:
        subprocess.run(
            [systemctl, "disable", "--now", f"{service}.service"],
            capture_output=True,
            check=False,
            timeout=120,
        )
