"""Debian's Chromium, the browser that the triage app's browser tests drive through Playwright.

``playwright install`` cannot download its own browser on our machines; Debian's package can
be installed, and Playwright drives it through ``executable_path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from worker.errors import StackError

CHROMIUM = Path("/usr/bin/chromium")
# Headless without a sandbox (containers run as root) and without anything that reaches out
# to the network on its own: our machines reach no Google service, and a test must not wait.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_executable() -> str:
    """Debian's chromium; installed from Debian's packages when we are root."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0:
        raise StackError("Chromium is not installed: run `sudo apt-get install chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise StackError(f"`{' '.join(command)}` failed ({last}); install chromium by hand")
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        raise StackError("apt-get installed chromium but it is not at /usr/bin/chromium")
    return str(found)


def chromium_version(executable: str) -> str:
    """What ``chromium --version`` says (one line)."""
    result = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=False, timeout=60
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise StackError(
            f"{executable} --version failed: reinstall it with `apt-get install --reinstall "
            "chromium`"
        )
    return lines[0]
