"""The container image (deploy/image/Containerfile), built with Debian's podman.

No container registry can be reached from our machines, so the base image is made here: a
Debian bookworm (its ``python3`` is 3.11) with ``debootstrap``, imported into podman once and
cached as ``fraud-worker-base:bookworm`` (the tree stays under ``<stack dir>/image/rootfs``).
The Python dependencies come from a wheelhouse that pip fills on the host, so the build itself
needs no network (``--network=none``). Where a registry and PyPI are reachable the same
Containerfile starts ``FROM python:3.11-slim`` and lets pip fetch (``build_image(pypi=True)``).

Podman runs as root with a ``containers.conf`` of ours (``CONTAINERS_CONF``): no default
ulimits and cgroupfs (without them podman fails here with "setrlimit RLIMIT_NOFILE" or
"cgroups in hybrid mode not supported") and Debian's runc.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from worker.errors import StackError

log = logging.getLogger(__name__)

IMAGE_REPOSITORY = "fraud-worker"  # the Helm chart's image.repository
BASE_IMAGE = "fraud-worker-base:bookworm"
SLIM_BASE = "python:3.11-slim"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the base needs beyond minbase: the interpreter and its venv, OpenMP for LightGBM.
BASE_PACKAGES = ("python3", "python3-venv", "libgomp1", "ca-certificates")
HOST_PACKAGES = ("podman", "runc", "debootstrap")
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOST_CA_IN = "/etc/fraud-worker-host-ca.crt"
CONTAINERFILE = Path("deploy/image/Containerfile")
CONTAINERS_CONF = """\
# fraud-worker: podman as root on our machines (see worker/stack/image.py).
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""
# debootstrap takes ~3 min, the first build ~3 min more on two cores; far longer is a hang.
STEP_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class BuiltImage:
    """The tags of a finished build and how long it took."""

    tags: tuple[str, ...]
    build_s: float


def image_dir(stack_dir: Path) -> Path:
    """Everything the image needs on the host: ``<stack dir>/image`` (git-ignored)."""
    return stack_dir.resolve() / "image"


def source_root() -> Path:
    """The checkout the image is built from: the folder above this package, when it is one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file() or not (root / CONTAINERFILE).is_file():
        raise StackError(
            f"no checkout at {root} (pyproject.toml and {CONTAINERFILE} missing): build the "
            "image from a clone of the repository with the package installed editable "
            "(`pip install -e .`)"
        )
    return root


def project_version(root: Path) -> str:
    """The package's version (pyproject.toml): the image tag and the chart's appVersion."""
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def image_tags(root: Path) -> tuple[str, str]:
    """``fraud-worker:<version>`` (what the chart pulls by default) and ``fraud-worker:latest``."""
    return f"{IMAGE_REPOSITORY}:{project_version(root)}", f"{IMAGE_REPOSITORY}:latest"


def podman_env(stack_dir: Path) -> dict[str, str]:
    """This process's environment with ``CONTAINERS_CONF`` pointing at our file (written now)."""
    conf = image_dir(stack_dir) / "containers.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    if not conf.is_file() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def ensure_host_tools() -> str:
    """The path of ``podman`` (installing Debian's podman, runc and debootstrap if needed)."""
    missing = [name for name in HOST_PACKAGES if shutil.which(name) is None]
    if missing:
        if os.geteuid() != 0:
            raise StackError(
                f"{', '.join(missing)} not installed: run `sudo apt-get install "
                f"--no-install-recommends {' '.join(HOST_PACKAGES)}`"
            )
        _apt_install(HOST_PACKAGES)
    podman = shutil.which("podman")
    if podman is None:
        raise StackError("apt-get installed podman but it is not on PATH; reinstall it")
    return podman


def ensure_base_image(stack_dir: Path) -> str:
    """``fraud-worker-base:bookworm`` in podman's store: there, imported from the cached tree,
    or debootstrapped now (a few minutes, once)."""
    env = podman_env(stack_dir)
    if _run(["podman", "image", "exists", BASE_IMAGE], env).returncode == 0:
        return BASE_IMAGE
    rootfs = image_dir(stack_dir) / "rootfs"
    done = rootfs.with_name("rootfs.complete")
    if not done.is_file():
        _debootstrap(rootfs)
        done.touch()
    log.info("importing %s into podman as %s", rootfs, BASE_IMAGE)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        imported = subprocess.run(
            ["podman", "import", "-", BASE_IMAGE],
            stdin=tar.stdout,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            check=False,
        )
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        raise StackError(
            f"podman import of {rootfs} failed ({_last_line(imported.stderr)}): remove "
            f"{rootfs.parent} and run `fraud-worker stack image` again"
        )
    return BASE_IMAGE


def project_requirements(root: Path) -> list[str]:
    """The build backend (the image builds the wheel) and the package's dependencies."""
    with (root / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)
    return [*project["build-system"]["requires"], *project["project"]["dependencies"]]


def make_wheelhouse(stack_dir: Path, root: Path, base: str) -> Path:
    """Wheels of every dependency (and of the build backend), fetched by pip *inside* the base
    image with the host's network and trust store: markers such as ``python_full_version <
    "3.11.3"`` (bookworm has 3.11.2) are resolved for the image's Python, not this host's."""
    requirements = project_requirements(root)
    wheelhouse = image_dir(stack_dir) / "wheelhouse"
    stamp = wheelhouse / ".requirements"
    wanted = f"{base}\n" + "\n".join(requirements)
    if stamp.is_file() and stamp.read_text() == wanted:
        return wheelhouse
    shutil.rmtree(wheelhouse, ignore_errors=True)  # nothing left of an older resolution
    wheelhouse.mkdir(parents=True)
    log.info("filling the wheelhouse %s inside %s", wheelhouse, base)
    pip = 'python3 -m venv /tmp/venv && /tmp/venv/bin/pip wheel -q -w /wheelhouse "$@"'
    command = [
        "podman", "run", "--rm", "--network=host", "-v", f"{wheelhouse}:/wheelhouse",
        *_host_trust(), *_passed_env(), base, "sh", "-c", pip, "pip", *requirements,
    ]  # fmt: skip
    result = _run(command, podman_env(stack_dir))
    if result.returncode != 0:
        raise StackError(
            f"pip could not fetch the image's dependencies ({_last_line(result.stderr)}): make "
            "PyPI (or your PIP_INDEX_URL) reachable"
        )
    stamp.write_text(wanted)  # only a complete wheelhouse is reused
    return wheelhouse


def _host_trust() -> list[str]:
    """The host's CA bundle for pip in the container: what the host trusts (a proxy's CA
    among them), the container trusts too."""
    bundle = Path(ssl.get_default_verify_paths().cafile or HOST_CA_BUNDLE)
    if not bundle.is_file():
        return []
    return ["-v", f"{bundle}:{HOST_CA_IN}:ro", "-e", f"PIP_CERT={HOST_CA_IN}"]


def _passed_env() -> list[str]:
    """The host's index and proxy settings, for pip in the container."""
    names = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    return [arg for name in names if name in os.environ for arg in ("-e", name)]


def stage_context(root: Path, context: Path, wheelhouse: Path | None) -> None:
    """The build context, only what the Containerfile copies: the package's source (no
    caches), pyproject.toml, README.md, requirements.txt (from pyproject.toml: the dependencies'
    layer is reused while they stay the same), the models and the wheelhouse (empty for PyPI)."""
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    shutil.copytree(root / "worker", context / "worker", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, context / name)
    (context / "requirements.txt").write_text("\n".join(project_requirements(root)) + "\n")
    models = root / "models"
    if not (models / "manifest.json").is_file():
        raise StackError(
            f"no models in {models} (manifest.json missing): train them first "
            "(`fraud-worker train`), the image bakes them in"
        )
    shutil.copytree(models, context / "models", ignore=ignore)
    if wheelhouse is None:
        (context / "wheelhouse").mkdir()
    else:
        shutil.copytree(wheelhouse, context / "wheelhouse")


def build_image(stack_dir: Path, *, base: str | None = None, pypi: bool = False) -> BuiltImage:
    """Build deploy/image/Containerfile as ``fraud-worker:<version>`` and ``:latest``.

    By default from our debootstrapped base and the host's wheelhouse, offline; ``base`` names
    another base image (``python:3.11-slim`` where a registry is reachable) and ``pypi`` lets
    pip install from PyPI during the build instead of the wheelhouse."""
    started = time.monotonic()
    root = source_root()
    ensure_host_tools()
    folder = image_dir(stack_dir)
    from_image = base or ensure_base_image(stack_dir)
    wheelhouse = None if pypi else make_wheelhouse(stack_dir, root, from_image)
    context = folder / "context"
    stage_context(root, context, wheelhouse)
    tags = image_tags(root)
    command = [
        "podman", "build", "--layers", "-f", str(root / CONTAINERFILE),
        "--build-arg", f"BASE={from_image}",
        *(["--build-arg", "PIP_INDEX_OPTIONS="] if pypi else ["--network=none"]),
        *[arg for tag in tags for arg in ("-t", tag)],
        str(context),
    ]  # fmt: skip
    _podman_build(command, podman_env(stack_dir), folder / "build.log")
    return BuiltImage(tags, time.monotonic() - started)


def _podman_build(command: list[str], env: dict[str, str], log_path: Path) -> None:
    log.info("podman build (log: %s)", log_path)
    with log_path.open("w") as output:
        try:
            result = subprocess.run(
                command,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=STEP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise StackError(
                f"podman build gave no result after {STEP_TIMEOUT_S:g} s: see {log_path}"
            ) from None
    if result.returncode != 0:
        why = _last_line(log_path.read_text())
        raise StackError(f"podman build failed ({why}): the whole output is in {log_path}")


def _debootstrap(rootfs: Path) -> None:
    log.info("debootstrap %s into %s (a few minutes, once)", SUITE, rootfs)
    shutil.rmtree(rootfs, ignore_errors=True)
    command = [
        "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
        SUITE, str(rootfs), MIRROR,
    ]  # fmt: skip
    result = _run(command, dict(os.environ))
    if result.returncode != 0:
        raise StackError(
            f"debootstrap of {SUITE} failed ({_last_line(result.stdout + result.stderr)}): "
            f"make {MIRROR} reachable"
        )


def _apt_install(packages: tuple[str, ...]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    for command in (["apt-get", "update", "-q"], install):
        result = _run(command, env)
        if result.returncode != 0:
            raise StackError(
                f"`{' '.join(command)}` failed ({_last_line(result.stderr)}): install "
                f"{' '.join(packages)} yourself"
            )


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run to the end, output captured; the caller turns a failure into its one line."""
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
