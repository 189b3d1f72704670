"""A single-node Apache Kafka 4.x (KRaft: broker and controller in one JVM) from Maven jars.

Apache's download site is out of reach on our machines, Maven Central is not: Maven resolves
``kafka_2.13`` and its dependencies from ``deploy/local/pom.xml`` once; later starts reuse the
cached jars and download nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from worker.errors import StackError
from worker.stack import process

PROBE_TOPIC = "__stack_probe"
MIN_JAVA = 17


def find_pom() -> Path:
    """The project's pom that names the Kafka version, beside the package in the source tree."""
    pom = Path(__file__).resolve().parents[2] / "deploy" / "local" / "pom.xml"
    if not pom.is_file():
        raise StackError(
            f"{pom} is missing: the local stack runs from a source checkout (pip install -e .)"
        )
    return pom


def java_executable() -> str:
    """The java to run: $JAVA_HOME/bin/java, else the one on PATH; must be 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise StackError("Java is missing: install a JDK 17+ (apt-get install openjdk-17-jdk)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < MIN_JAVA:
        raise StackError(
            f"Java {MIN_JAVA}+ is needed for Kafka 4.x, found: {out.strip().splitlines()[:1]}; "
            "install openjdk-17-jdk or set JAVA_HOME to a newer JDK"
        )
    return java


def ensure_jars(jar_dir: Path, pom: Path) -> Path:
    """Resolve the broker's jars with Maven unless the cache already matches the pom."""
    stamp = jar_dir / ".pom-sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest and any(jar_dir.glob("kafka_2.13-*.jar")):
        return jar_dir
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven is missing: install it (apt-get install maven) to fetch Kafka")
    staging = jar_dir.with_name(jar_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    result = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise StackError(
            "Maven could not download the Kafka jars (is Maven Central reachable, or is a "
            "proxy needed in ~/.m2/settings.xml?):\n" + "\n".join(output)
        )
    shutil.rmtree(jar_dir, ignore_errors=True)
    staging.rename(jar_dir)
    stamp.write_text(digest)
    return jar_dir


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """Single-node KRaft settings; every internal topic at replication factor 1."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Small internal topics start faster; the 3 s default join delay slows every test.
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass(frozen=True)
class KafkaSecurity:
    """A broker of the secure profile: clients and inter-broker traffic on one SASL_SSL
    listener (SCRAM-SHA-512), the KRaft controller on mutual TLS (KRaft's controller does
    not take SCRAM: its users live in the metadata it serves)."""

    keystore: Path  # PEM: the server key, then its certificate chain
    truststore: Path  # PEM: the CA
    admin_user: str
    admin_password: str
    # ``--add-scram`` arguments: the users, written into the metadata at format time.
    scram_users: tuple[str, ...]

    def client_config(self) -> dict[str, Any]:
        """The admin user's librdkafka settings (the stack's readiness probe)."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": self.admin_user,
            "sasl.password": self.admin_password,
            "ssl.ca.location": str(self.truststore),
        }


def secure_server_properties(
    data_dir: Path, port: int, controller_port: int, security: KafkaSecurity
) -> str:
    """``server_properties`` with SASL_SSL for clients and brokers, mTLS to the controller;
    holds the admin password: written 0600."""
    plain = server_properties(data_dir, port, controller_port)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{security.admin_user}" password="{security.admin_password}";'
    )
    settings = {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(security.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(security.truststore),
        "ssl.endpoint.identification.algorithm": "https",
        "listener.name.controller.ssl.client.auth": "required",
    }
    lines = [line for line in plain.splitlines() if line.split("=", 1)[0] not in settings]
    return "".join(f"{line}\n" for line in lines) + "".join(
        f"{key}={value}\n" for key, value in settings.items()
    )


class KafkaNode:
    """The stack's broker: files under ``root``, listening on loopback; over SASL_SSL when
    given a ``security`` (the secure profile), else over PLAINTEXT."""

    def __init__(
        self,
        root: Path,
        port: int,
        controller_port: int,
        heap_mb: int,
        security: KafkaSecurity | None = None,
    ) -> None:
        self.root = root
        self.port = port
        self.controller_port = controller_port
        self.heap_mb = heap_mb
        self.security = security
        self.jar_dir = root / "jars"
        self.data_dir = root / "data"
        self.config_path = root / "server.properties"
        self.log_path = root / "kafka.log"
        self.pid_path = root / "kafka.pid"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self) -> process.ProcessRecord | None:
        """The broker this stack started, if it still runs."""
        return process.running(self.pid_path)

    def start(self) -> process.ProcessRecord:
        """Resolve jars, write config, format storage once, and launch the JVM."""
        java = java_executable()
        self.root.mkdir(parents=True, exist_ok=True)
        ensure_jars(self.jar_dir, find_pom())
        process.require_free_port(self.port, "the Kafka broker", "FRAUD_STACK__KAFKA_PORT")
        process.require_free_port(
            self.controller_port, "the Kafka controller", "FRAUD_STACK__CONTROLLER_PORT"
        )
        self._write_config()
        self._format_storage(java)
        command = [
            java,
            f"-Xms{self.heap_mb}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-cp",
            f"{self.jar_dir}/*",
            "kafka.Kafka",
            str(self.config_path),
        ]
        return process.spawn(command, self.log_path, self.pid_path, dict(os.environ))

    def _write_config(self) -> None:
        if self.security is None:
            self.config_path.write_text(
                server_properties(self.data_dir, self.port, self.controller_port)
            )
            return
        process.write_private(
            self.config_path,
            secure_server_properties(self.data_dir, self.port, self.controller_port, self.security),
        )

    @property
    def probe_config(self) -> dict[str, Any]:
        """The readiness probe's client settings beyond the bootstrap servers."""
        return self.security.client_config() if self.security else {}

    def _format_storage(self, java: str) -> None:
        """Format the log dir on first use; KRaft refuses to start on an unformatted one."""
        if (self.data_dir / "meta.properties").is_file():
            return
        tool = [java, "-cp", f"{self.jar_dir}/*", "kafka.tools.StorageTool"]
        cluster_id = self._run_tool([*tool, "random-uuid"]).strip().splitlines()[-1]
        users = self.security.scram_users if self.security else ()
        scram = [arg for user in users for arg in ("--add-scram", user)]
        self._run_tool(
            [*tool, "format", "--standalone", "-t", cluster_id, "-c", str(self.config_path), *scram]
        )

    def _run_tool(self, command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            # Never the --add-scram arguments: a salted SCRAM password is as good as the password.
            end = command.index("--add-scram") if "--add-scram" in command else len(command)
            raise StackError(
                f"Kafka storage tool failed ({' '.join(command[:end][-3:])}):\n"
                f"{result.stderr[-2000:]}"
            )
        return result.stdout

    def wait_ready(self, timeout_s: float) -> None:
        """Ready means: the broker answers metadata and can create a topic."""
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.record() is None:
                raise StackError(
                    f"the Kafka broker exited during start; the end of {self.log_path}:\n"
                    + process.tail(self.log_path)
                )
            try:
                probe_broker(self.bootstrap, timeout_s=5.0, config=self.probe_config)
                return
            except (KafkaException, StackError) as exc:
                last_error = str(exc)
            time.sleep(0.5)
        raise StackError(
            f"the Kafka broker was not ready within {timeout_s:.0f} s ({last_error}); raise "
            f"FRAUD_STACK__READY_TIMEOUT_S or read {self.log_path}:\n" + process.tail(self.log_path)
        )

    def stop(self) -> None:
        record = process.read_pid_file(self.pid_path)
        if record is not None:
            process.stop(record, timeout_s=30.0)
        self.pid_path.unlink(missing_ok=True)


def probe_broker(bootstrap: str, timeout_s: float, config: dict[str, Any] | None = None) -> None:
    """Raise unless the broker at ``bootstrap`` answers metadata and creates a topic;
    ``config``: the client's security settings (the secure profile)."""
    # log_level 0: while the broker starts, librdkafka would log every refused connection.
    admin = AdminClient(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": 5000,
            "log_level": 0,
        }
    )
    metadata = admin.list_topics(timeout=timeout_s)
    if not metadata.brokers:
        raise StackError(f"no broker in the metadata from {bootstrap}")
    if PROBE_TOPIC in metadata.topics:
        return
    futures = admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)], operation_timeout=timeout_s)
    try:
        futures[PROBE_TOPIC].result(timeout=timeout_s)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
