"""A real Apicurio Registry (in memory, 127.0.0.1:18081, basic auth) for the whole session:
started once from Maven Central's distribution (``worker.stack.registry``) and stopped after.
Every start is an empty registry; tests that need a subject nobody else touches make one with
a prefix of their own."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from worker.codec import ConfluentSchemaRegistry, default_schemas_dir, local_subjects
from worker.codec.confluent import SubjectReport, register_subject
from worker.settings import Settings, load_settings
from worker.stack.registry import RegistryServer, ServerTls

ROOT = Path(__file__).resolve().parents[2] / ".stack" / "registry"
USER = "worker"
READY_TIMEOUT_S = 180.0  # a cold JVM on two busy cores; the download is before the timer


@pytest.fixture(scope="session")
def password() -> str:
    return secrets.token_urlsafe(16)


def openssl(arguments: str, **paths: Path) -> None:
    """Run ``openssl`` with ``arguments``, ``{name}`` standing for ``paths[name]``."""
    command = ["openssl", *arguments.format(**paths).split()]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""
    folder = tmp_path_factory.mktemp("registry-tls")
    files = {name: folder / f"{name}.pem" for name in ("ca", "other_ca", "server")}
    keys = {name: folder / f"{name}.key" for name in files}
    new_key = "-newkey rsa:2048 -nodes -keyout {key}"
    for name in ("ca", "other_ca"):
        openssl(
            f"req -x509 {new_key} -days 2 -subj /CN={name} -out {{cert}}",
            key=keys[name],
            cert=files[name],
        )
    csr, extensions = folder / "server.csr", folder / "server.ext"
    openssl(f"req {new_key} -subj /CN=127.0.0.1 -out {{csr}}", key=keys["server"], csr=csr)
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2 -extfile {ext} "
        "-out {cert}",
        csr=csr,
        ca=files["ca"],
        ca_key=keys["ca"],
        ext=extensions,
        cert=files["server"],
    )
    return {**files, "server_key": keys["server"]}


@pytest.fixture(scope="session")
def apicurio(password: str, tls_files: dict[str, Path]) -> Iterator[RegistryServer]:
    """Plain HTTP on 18081 and HTTPS (the session CA's certificate) on 18083."""
    tls = ServerTls(tls_files["server"], tls_files["server_key"])
    server = RegistryServer(ROOT, users={USER: password}, tls=tls)
    server.start()
    try:
        server.wait_ready(READY_TIMEOUT_S)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry(apicurio: RegistryServer, password: str) -> ConfluentSchemaRegistry:
    return ConfluentSchemaRegistry(apicurio.url, (USER, password))


@pytest.fixture(scope="session")
def registry_settings(apicurio: RegistryServer, password: str) -> Settings:
    """The worker's settings pointed at the registry, as an operator would write them."""
    schemas = {"registry_url": apicurio.url, "registry_user": USER, "registry_password": password}
    return load_settings(schemas=schemas)


@pytest.fixture(scope="session")
def registered(registry: ConfluentSchemaRegistry) -> dict[str, SubjectReport]:
    """The package's subjects under their own names: what `schemas register` leaves."""
    subjects = local_subjects(default_schemas_dir())
    return {name: register_subject(registry, name, files) for name, files in subjects.items()}


@pytest.fixture
def own_schemas(tmp_path: Path) -> Callable[[], tuple[Path, str]]:
    """A copy of the package's schema folder whose subjects carry a prefix of this test's."""

    def make() -> tuple[Path, str]:
        prefix = f"t{uuid.uuid4().hex[:8]}."
        folder = tmp_path / prefix.rstrip(".")
        folder.mkdir()
        for source in default_schemas_dir().glob("*.avsc"):
            (folder / source.name).write_text(source.read_text())
        index = (default_schemas_dir() / "registry.json").read_text()
        (folder / "registry.json").write_text(
            index.replace('"transactions', f'"{prefix}transactions')
        )
        return folder, prefix

    return make
