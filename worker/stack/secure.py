"""The local stack's ``secure`` profile: a CA and a server certificate made with openssl, random
passwords for Kafka's SCRAM users and Redis's ACL user, and the FRAUD_* settings a client needs.

Everything lives under the profile's folder (``.stack-secure/`` by default, mode 0700): keys,
passwords and ``client.env`` are 0600. Certificates are made once and reused while they are
valid for another day; passwords are made once and kept with the broker's data (its SCRAM
users are written at storage format time, so new passwords mean a freshly formatted broker).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import StackError
from worker.settings import Settings
from worker.stack.kafka import KafkaSecurity
from worker.stack.process import write_private
from worker.stack.redis import RedisTls

KAFKA_ADMIN = "admin"  # inter-broker traffic and the stack's own readiness probe
APP_USER = "fraud"  # the worker's Kafka user and Redis ACL user
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
# A certificate due to expire within this long is made again at the next ``up``.
RENEW_BEFORE_S = 86_400
SERVER_NAMES = "DNS:localhost,IP:127.0.0.1"


@dataclass(frozen=True)
class Pki:
    """A CA and one server certificate (SAN localhost and 127.0.0.1) for both servers."""

    root: Path

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def keystore(self) -> Path:
        """The server key and its certificate chain in one PEM file: Kafka's PEM keystore."""
        return self.root / "server-keystore.pem"

    def ensure(self, valid_days: int) -> bool:
        """Make the CA and the server certificate unless valid ones exist; True when made."""
        if self._still_valid():
            return False
        openssl = shutil.which("openssl")
        if openssl is None:
            raise StackError("openssl is missing: install it (apt-get install openssl)")
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self._make(openssl, valid_days)
        return True

    def _still_valid(self) -> bool:
        paths = (self.ca_key, self.ca_cert, self.server_key, self.server_cert, self.keystore)
        openssl = shutil.which("openssl")
        if openssl is None or not all(path.is_file() for path in paths):
            return False
        checks = [
            ["x509", "-checkend", str(RENEW_BEFORE_S), "-noout", "-in", str(self.ca_cert)],
            ["x509", "-checkend", str(RENEW_BEFORE_S), "-noout", "-in", str(self.server_cert)],
            ["verify", "-CAfile", str(self.ca_cert), str(self.server_cert)],
        ]
        return all(_openssl(openssl, args, check=False) for args in checks)

    def _make(self, openssl: str, valid_days: int) -> None:
        days = str(valid_days)
        _openssl(openssl, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", days,
            "-keyout", str(self.ca_key), "-out", str(self.ca_cert),
            "-subj", "/CN=fraud-worker local CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])  # fmt: skip
        with tempfile.TemporaryDirectory(dir=self.root) as scratch:
            csr, extensions = Path(scratch) / "server.csr", Path(scratch) / "server.ext"
            extensions.write_text(
                f"subjectAltName={SERVER_NAMES}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                # clientAuth too: the broker presents it to its own controller listener (mTLS).
                "extendedKeyUsage=serverAuth,clientAuth\n"
            )
            _openssl(openssl, [
                "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                "-keyout", str(self.server_key), "-out", str(csr),
            ])  # fmt: skip
            _openssl(openssl, [
                "x509", "-req", "-sha256", "-days", days, "-in", str(csr),
                "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
                "-set_serial", str(secrets.randbits(63)), "-extfile", str(extensions),
                "-out", str(self.server_cert),
            ])  # fmt: skip
        for key in (self.ca_key, self.server_key):
            key.chmod(0o600)
        write_private(
            self.keystore,
            self.server_key.read_text() + self.server_cert.read_text() + self.ca_cert.read_text(),
        )


def _openssl(openssl: str, args: list[str], check: bool = True) -> bool:
    # umask 077: a key is never readable by others, not even between its write and a chmod.
    result = subprocess.run(
        [openssl, *args], capture_output=True, text=True, check=False, umask=0o077
    )
    if result.returncode != 0 and check:
        raise StackError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")
    return result.returncode == 0


@dataclass(frozen=True)
class Credentials:
    """The profile's passwords: Kafka's admin (inter-broker) and app users, Redis's app user."""

    kafka_admin: str
    kafka_app: str
    redis_app: str

    @classmethod
    def load_or_create(cls, path: Path) -> tuple[Credentials, bool]:
        """The stored passwords, or new random ones (True) written 0600 to ``path``."""
        try:
            return cls(**json.loads(path.read_text())), False
        except (OSError, ValueError, TypeError):
            pass
        made = cls(*(secrets.token_urlsafe(24) for _ in range(3)))
        write_private(path, json.dumps(made.__dict__))
        return made, True


def scram_credential(name: str, password: str, iterations: int = SCRAM_ITERATIONS) -> str:
    """A ``kafka-storage format --add-scram`` argument with the salted password (RFC 5802's
    SaltedPassword, PBKDF2-HMAC-SHA-512), so the password itself is on no command line."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    encode = base64.b64encode
    return (
        f"{SCRAM_MECHANISM}=[name={name},iterations={iterations},"
        f'salt="{encode(salt).decode()}",saltedpassword="{encode(salted).decode()}"]'
    )


@dataclass(frozen=True)
class SecureProfile:
    """Files, passwords and client settings of one secure stack (see the module docstring)."""

    root: Path
    kafka_port: int
    redis_port: int
    key_prefix: str
    credentials: Credentials
    cert_valid_days: int = 30

    @property
    def pki(self) -> Pki:
        return Pki(self.root / "pki")

    @property
    def client_env_path(self) -> Path:
        return self.root / "client.env"

    def kafka_security(self) -> KafkaSecurity:
        creds = self.credentials
        return KafkaSecurity(
            keystore=self.pki.keystore,
            truststore=self.pki.ca_cert,
            admin_user=KAFKA_ADMIN,
            admin_password=creds.kafka_admin,
            scram_users=(
                scram_credential(KAFKA_ADMIN, creds.kafka_admin),
                scram_credential(APP_USER, creds.kafka_app),
            ),
        )

    def redis_tls(self) -> RedisTls:
        pki = self.pki
        return RedisTls(
            cert_file=pki.server_cert,
            key_file=pki.server_key,
            ca_file=pki.ca_cert,
            username=APP_USER,
            password=self.credentials.redis_app,
            key_prefix=self.key_prefix,
        )

    def kafka_client_config(self, password: str | None = None) -> dict[str, str]:
        """What a client passes to librdkafka as the app user (``password`` overrides)."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": SCRAM_MECHANISM,
            "sasl.username": APP_USER,
            "sasl.password": self.credentials.kafka_app if password is None else password,
            "ssl.ca.location": str(self.pki.ca_cert),
        }

    def redis_url(self, password: str | None = None) -> str:
        secret = self.credentials.redis_app if password is None else password
        return f"rediss://{APP_USER}:{secret}@127.0.0.1:{self.redis_port}/0"

    def client_env(self) -> dict[str, str]:
        """The FRAUD_* variables of a client of this stack (secrets in the clear)."""
        return {
            "FRAUD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{self.kafka_port}",
            "FRAUD_KAFKA__CLIENT_CONFIG": json.dumps(self.kafka_client_config()),
            "FRAUD_REDIS__URL": self.redis_url(),
            "FRAUD_REDIS__SSL_CA_CERTS": str(self.pki.ca_cert),
        }

    def masked_env(self) -> dict[str, str]:
        """``client_env`` fit for a screen: every password replaced by ``***``."""
        config = {**self.kafka_client_config(), "sasl.password": "***"}
        return {
            **self.client_env(),
            "FRAUD_KAFKA__CLIENT_CONFIG": json.dumps(config),
            "FRAUD_REDIS__URL": self.redis_url("***"),
        }

    def write_client_env(self) -> Path:
        """``client.env`` (0600), for ``set -a; . .stack-secure/client.env; set +a``."""
        lines = [f"{name}={shlex.quote(value)}" for name, value in self.client_env().items()]
        write_private(self.client_env_path, "\n".join(lines) + "\n")
        return self.client_env_path


def secure_stack_settings(settings: Settings) -> Settings:
    """The settings of the secure profile's own servers: the stack section pointed at the
    profile's folder and ports, and no external Kafka or Redis (a client.env sourced in this
    shell must not turn the profile's servers into someone else's)."""
    secure = settings.stack.secure
    stack = settings.stack.model_copy(
        update={
            "dir": secure.dir,
            "kafka_port": secure.kafka_port,
            "controller_port": secure.controller_port,
            "redis_port": secure.redis_port,
        }
    )
    data: dict[str, Any] = settings.model_dump()
    data.update(stack=stack.model_dump(), kafka={}, redis={"key_prefix": settings.redis.key_prefix})
    return Settings.model_validate(data)


def prepare_profile(settings: Settings) -> SecureProfile:
    """The profile of ``settings`` (as made by ``secure_stack_settings``), with its folder and
    passwords in place; the certificates are made by ``Stack.up`` (``Pki.ensure``)."""
    root = settings.stack.dir.resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    root.chmod(0o700)
    credentials, created = Credentials.load_or_create(root / "credentials.json")
    kafka_data = root / "kafka" / "data"
    if created and kafka_data.exists():
        # Its SCRAM users hold the old passwords: format the broker again with the new ones.
        shutil.rmtree(kafka_data)
    return SecureProfile(
        root=root,
        kafka_port=settings.stack.kafka_port,
        redis_port=settings.stack.redis_port,
        key_prefix=settings.redis.key_prefix,
        credentials=credentials,
        cert_valid_days=settings.stack.secure.cert_valid_days,
    )


def client_settings(profile: SecureProfile, base: Settings) -> Settings:
    """``base`` as a client of the profile's servers would see it with ``client_env`` set."""
    data: dict[str, Any] = base.model_dump()
    data["kafka"] = {
        "bootstrap_servers": f"127.0.0.1:{profile.kafka_port}",
        "client_config": profile.kafka_client_config(),
    }
    data["redis"] = {
        **data["redis"],
        "url": profile.redis_url(),
        "ssl_ca_certs": profile.pki.ca_cert,
    }
    return Settings.model_validate(data)
