"""A loopback Apicurio Registry, for the Schema Registry tests and local runs against one.

Apicurio Registry 3 from Maven Central (``deploy/registry/pom.xml``: the ``all`` tar.gz of
``apicurio-registry-app``, a Quarkus fast-jar), unpacked once into ``<root>/dist``, run with
in-memory storage (H2: every start is an empty registry), HTTP on 127.0.0.1. Its Confluent-
compatible API, which the worker's client speaks, is at ``/apis/ccompat/v7``. With ``users``
it asks for HTTP basic auth; their passwords go in a 0600 properties file, never on the
command line. Apicurio 3 needs Java 21+: ``JAVA_HOME``, ``java`` on the PATH, or the newest
JDK under /usr/lib/jvm.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import httpx2

from worker.errors import StackError
from worker.stack import process

DEFAULT_PORT = 18081
CCOMPAT_PATH = "/apis/ccompat/v7"
MIN_JAVA = 21
JVM_DIR = Path("/usr/lib/jvm")
RUNNER = "quarkus-run.jar"


def find_pom() -> Path:
    """The pom that names the Apicurio version, in the source tree."""
    pom = Path(__file__).resolve().parents[2] / "deploy" / "registry" / "pom.xml"
    if not pom.is_file():
        raise StackError(f"{pom} is missing: the registry runs from a source checkout")
    return pom


def java_version(java: str) -> int | None:
    """The major version ``java -version`` reports, or None."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    match = re.search(r'version "(\d+)', out.stderr)
    return int(match.group(1)) if match else None


def java_executable(jvm_dir: Path = JVM_DIR) -> str:
    """A java of ``MIN_JAVA`` or newer: $JAVA_HOME's, else the PATH's, else the newest JDK
    installed under ``jvm_dir`` (Debian 12's default java is 17, too old)."""
    java_home = os.environ.get("JAVA_HOME")
    preferred = [str(Path(java_home) / "bin" / "java")] if java_home else []
    preferred += [found] if (found := shutil.which("java")) else []
    installed = [str(path) for path in jvm_dir.glob("*/bin/java")]
    versions = {java: java_version(java) or 0 for java in dict.fromkeys(preferred + installed)}
    good = [java for java in preferred if versions[java] >= MIN_JAVA]
    good += sorted(
        (java for java in installed if versions[java] >= MIN_JAVA), key=lambda j: -versions[j]
    )
    if not good:
        raise StackError(
            f"Apicurio Registry needs Java {MIN_JAVA}+, found {sorted(set(versions.values()))}; "
            "install openjdk-21-jdk-headless (or newer), or set JAVA_HOME to one"
        )
    return good[0]


def ensure_distribution(dist_dir: Path, pom: Path) -> Path:
    """Download and unpack the registry unless ``dist_dir`` already holds this pom's."""
    stamp = dist_dir / ".pom-sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest and (dist_dir / RUNNER).is_file():
        return dist_dir
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven is missing: install it (apt-get install maven) to fetch Apicurio")
    staging = dist_dir.with_name(dist_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    download = staging.resolve() / "download"  # mvn -f resolves relative paths from the pom
    goal = ["dependency:copy-dependencies", f"-DoutputDirectory={download}"]
    result = subprocess.run(
        [mvn, "-B", "-q", "-f", str(pom), *goal],
        capture_output=True,
        text=True,
        check=False,
    )
    archives = sorted(download.glob("*.tar.gz"))
    if result.returncode != 0 or not archives:
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise StackError(
            "Maven could not download Apicurio Registry (is Maven Central reachable, or is a "
            "proxy needed in ~/.m2/settings.xml?):\n" + "\n".join(output)
        )
    with tarfile.open(archives[0]) as archive:
        archive.extractall(staging, filter="data")
    shutil.rmtree(download)
    if not (staging / RUNNER).is_file():
        raise StackError(f"{archives[0].name} holds no {RUNNER}: not a Quarkus fast-jar")
    shutil.rmtree(dist_dir, ignore_errors=True)
    staging.rename(dist_dir)
    stamp.write_text(digest)
    return dist_dir


@dataclass(frozen=True)
class ServerTls:
    """HTTPS beside plain HTTP: a PEM certificate (chain) and its key, on its own port."""

    certificate: Path
    key: Path
    port: int = DEFAULT_PORT + 2


class RegistryServer:
    """One Apicurio Registry process, its files under ``root`` (``.stack/registry``)."""

    def __init__(
        self,
        root: Path,
        port: int = DEFAULT_PORT,
        users: dict[str, str] | None = None,
        heap_mb: int = 256,
        tls: ServerTls | None = None,
    ) -> None:
        self.root = root
        self.port = port
        self.management_port = port + 1  # Quarkus's health/metrics interface: loopback too
        self.users = dict(users or {})
        self.tls = tls
        self.heap_mb = heap_mb
        self.dist_dir = root / "dist"
        self.log_path = root / "registry.log"
        self.pid_path = root / "registry.pid"
        self.config_path = root / "registry.properties"

    @property
    def url(self) -> str:
        """The Confluent-compatible API, what ``FRAUD_SCHEMAS__REGISTRY_URL`` names."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"

    @property
    def https_url(self) -> str:
        """The same API over TLS (only with ``tls``)."""
        if self.tls is None:
            raise StackError("this registry was started without TLS")
        return f"https://127.0.0.1:{self.tls.port}{CCOMPAT_PATH}"

    def record(self) -> process.ProcessRecord | None:
        """The registry this object's root started, if it still runs."""
        return process.running(self.pid_path)

    def start(self) -> process.ProcessRecord:
        """Fetch the distribution once, write the config and launch the JVM."""
        java = java_executable()
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_distribution(self.dist_dir, find_pom())
        # The setting named is `schemas serve`'s option; the management port is the next one.
        process.require_free_port(self.port, "the schema registry", "--port")
        process.require_free_port(self.management_port, "the registry's management", "--port")
        if self.tls is not None:
            process.require_free_port(self.tls.port, "the registry's HTTPS", "ServerTls.port")
        process.write_private(self.config_path, self._properties())
        command = [
            java,
            f"-Xmx{self.heap_mb}m",
            "-Djava.awt.headless=true",
            f"-Dquarkus.config.locations={self.config_path}",
            "-jar",
            str(self.dist_dir / RUNNER),
        ]
        return process.spawn(command, self.log_path, self.pid_path, dict(os.environ))

    def _properties(self) -> str:
        settings = {
            "quarkus.http.host": "127.0.0.1",
            "quarkus.http.port": str(self.port),
            "quarkus.management.host": "127.0.0.1",
            "quarkus.management.port": str(self.management_port),
            # One log line per request would bury the start-up messages that matter.
            "quarkus.http.access-log.enabled": "false",
            # Apicurio's own temporary files, kept with the rest of the stack's.
            "apicurio.storage.snapshot.location": str(self.root),
            "apicurio.import.work-dir": str(self.root),
        }
        if self.tls is not None:
            settings["quarkus.http.ssl-port"] = str(self.tls.port)
            settings["quarkus.http.ssl.certificate.files"] = str(self.tls.certificate)
            settings["quarkus.http.ssl.certificate.key-files"] = str(self.tls.key)
        if self.users:
            settings["quarkus.http.auth.basic"] = "true"
            settings["apicurio.authn.mechanism.priority"] = "basic"
            settings["quarkus.security.users.embedded.plain-text"] = "true"
            for user, password in self.users.items():
                settings[f"quarkus.security.users.embedded.users.{user}"] = password
                settings[f"quarkus.security.users.embedded.roles.{user}"] = "sr-admin"
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def answers(self) -> bool:
        """True once the Confluent API answers at all (401 included: it is up)."""
        try:
            status = httpx2.get(f"{self.url}/subjects", timeout=2.0).status_code
        except httpx2.HTTPError:
            return False
        return status < 500

    def wait_ready(self, timeout_s: float) -> None:
        process.wait_until_answers(
            "the schema registry",
            lambda: self.record() is not None,
            self.answers,
            timeout_s,
            self.log_path,
            poll_s=0.25,
        )

    def stop(self) -> None:
        record = process.read_pid_file(self.pid_path)
        if record is not None:
            process.stop(record, timeout_s=30.0)
        self.pid_path.unlink(missing_ok=True)
        self.config_path.unlink(missing_ok=True)  # it may hold the users' passwords
