"""The secure profile's files and settings, without servers: what the broker's properties and
Redis's config must hold, the certificates openssl makes, the client settings, and the hints
that name the setting of a refused client."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import subprocess
from pathlib import Path

import pytest
import redis
from confluent_kafka import KafkaError

from worker.access import (
    KAFKA_CA_HINT,
    KAFKA_CREDENTIALS_HINT,
    REDIS_CA_HINT,
    REDIS_CREDENTIALS_HINT,
    kafka_reason,
    kafka_refusal,
    redis_refusal,
)
from worker.errors import ConfigError
from worker.redis_client import tls_options
from worker.settings import Settings, load_settings
from worker.stack.kafka import KafkaSecurity, secure_server_properties, server_properties
from worker.stack.redis import RedisNode
from worker.stack.secure import (
    Credentials,
    Pki,
    SecureProfile,
    client_settings,
    prepare_profile,
    scram_credential,
    secure_stack_settings,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = Pki(tmp_path_factory.mktemp("secure") / "pki")
    assert made.ensure(valid_days=3)
    return made


def profile_at(pki: Pki) -> SecureProfile:
    passwords = Credentials("adm-pw", "app-pw", "red-pw")
    return SecureProfile(pki.root.parent, 30092, 30379, "fw:", passwords)


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_the_broker_takes_clients_and_brokers_on_sasl_ssl_and_the_controller_on_mtls(
    tmp_path: Path, pki: Pki
) -> None:
    security = profile_at(pki).kafka_security()
    props = properties(secure_server_properties(tmp_path / "data", 30092, 30093, security))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:30092,CONTROLLER://127.0.0.1:30093"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:30092"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    jaas = props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert 'username="admin" password="adm-pw";' in jaas and "ScramLoginModule required" in jaas
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.keystore.location"] == str(pki.keystore)
    assert props["ssl.truststore.location"] == str(pki.ca_cert)
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert "PLAINTEXT" not in "".join(props.values())
    # Everything else as in the default stack's broker.
    plain = properties(server_properties(tmp_path / "data", 30092, 30093))
    listeners = {"listeners", "advertised.listeners", "listener.security.protocol.map"}
    kept = set(plain) - listeners - {"inter.broker.listener.name"}
    assert {key: props[key] for key in kept} == {key: plain[key] for key in kept}


def test_the_scram_users_are_written_salted_not_in_the_clear() -> None:
    argument = scram_credential("fraud", "s3cret", iterations=4096)
    match = re.fullmatch(
        r'SCRAM-SHA-512=\[name=fraud,iterations=4096,salt="([^"]+)",saltedpassword="([^"]+)"\]',
        argument,
    )
    assert match, argument
    salt, salted = (base64.b64decode(part) for part in match.groups())
    assert salted == hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 4096)
    assert "s3cret" not in argument
    assert scram_credential("fraud", "s3cret") != scram_credential("fraud", "s3cret")  # salted


def test_redis_listens_on_tls_only_with_the_default_user_off(tmp_path: Path, pki: Pki) -> None:
    tls = profile_at(pki).redis_tls()
    config = tls.config(30379).splitlines()
    assert "port 0" in config and "tls-port 30379" in config
    assert f"tls-cert-file {pki.server_cert}" in config
    assert f"tls-key-file {pki.server_key}" in config
    assert f"tls-ca-cert-file {pki.ca_cert}" in config
    assert "user default off" in config
    acl = tls.acl_line().split()
    assert acl[:3] == ["user", "fraud", "on"]
    assert f"#{hashlib.sha256(b'red-pw').hexdigest()}" in acl and "red-pw" not in tls.config(1)
    assert "~fw:*" in acl and "resetkeys" in acl
    for grant in ("+@read", "+@write", "+@scripting", "-@dangerous", "+info"):
        assert grant in acl
    assert acl.index("-@dangerous") < acl.index("+info")  # INFO is "dangerous": allowed after


def test_redis_starts_from_its_config_file_with_tls_and_from_flags_without(
    tmp_path: Path, pki: Pki
) -> None:
    tls = RedisNode(tmp_path / "r", 30379, profile_at(pki).redis_tls())
    command = tls.command("redis-server")
    assert command[:2] == ["redis-server", str(tls.config_path)]
    assert "--port" not in command and command[command.index("--bind") + 1] == "127.0.0.1"
    assert tls.url == "rediss://127.0.0.1:30379/0"
    plain = RedisNode(tmp_path / "p", 16379)
    assert plain.command("redis-server")[:3] == ["redis-server", "--port", "16379"]
    assert plain.url == "redis://127.0.0.1:16379/0"


def test_the_certificates_chain_to_the_ca_name_loopback_and_keep_their_keys_private(
    pki: Pki,
) -> None:
    assert pki.root.stat().st_mode & 0o777 == 0o700
    for key in (pki.ca_key, pki.server_key, pki.keystore):
        assert key.stat().st_mode & 0o777 == 0o600
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))  # the key fits
    text = subprocess.run(
        ["openssl", "x509", "-in", str(pki.server_cert), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text and "TLS Web Client Authentication" in text
    keystore = pki.keystore.read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka's PEM wants
    assert keystore.count("BEGIN CERTIFICATE") == 2


def test_valid_certificates_are_reused_and_expiring_ones_made_again(tmp_path: Path) -> None:
    lasting = Pki(tmp_path / "lasting")
    assert lasting.ensure(valid_days=3)
    before = lasting.server_cert.read_bytes()
    assert not lasting.ensure(valid_days=3)
    assert lasting.server_cert.read_bytes() == before
    expiring = Pki(tmp_path / "expiring")
    assert expiring.ensure(valid_days=1)  # expires within the renewal margin of a day
    assert expiring.ensure(valid_days=1)


def test_passwords_are_made_once_and_kept_private(tmp_path: Path) -> None:
    first, made = Credentials.load_or_create(tmp_path / "credentials.json")
    again, made_again = Credentials.load_or_create(tmp_path / "credentials.json")
    assert made and not made_again and first == again
    assert len({first.kafka_admin, first.kafka_app, first.redis_app}) == 3
    assert (tmp_path / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_the_client_settings_load_and_mask_every_password(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_at(pki)
    for name, value in profile.client_env().items():
        monkeypatch.setenv(name, value)
    loaded = load_settings()
    assert loaded.kafka_bootstrap == "127.0.0.1:30092"
    assert loaded.kafka.client_config == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "fraud",
        "sasl.password": "app-pw",
        "ssl.ca.location": str(pki.ca_cert),
    }
    assert loaded.redis_url == "rediss://fraud:red-pw@127.0.0.1:30379/0"
    assert tls_options(loaded.redis) == {"ssl_ca_certs": str(pki.ca_cert)}
    assert client_settings(profile, Settings()).model_dump() == loaded.model_dump()
    shown = json.dumps(profile.masked_env())
    assert "app-pw" not in shown and "red-pw" not in shown and "***" in shown
    written = profile.write_client_env()
    assert written.stat().st_mode & 0o777 == 0o600 and "app-pw" in written.read_text()


def test_the_profile_has_its_own_folder_and_ports_and_ignores_external_servers(
    tmp_path: Path,
) -> None:
    base = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "elsewhere:9092"},
            "redis": {"url": "redis://elsewhere:6379/0", "key_prefix": "fw:"},
            "stack": {"secure": {"dir": tmp_path / "secure", "kafka_port": 41000}},
        }
    )
    own = secure_stack_settings(base)
    assert own.stack.dir == tmp_path / "secure" and own.stack.kafka_port == 41000
    assert (own.stack.controller_port, own.stack.redis_port) == (30093, 30379)
    assert own.kafka.bootstrap_servers is None and own.redis.url is None
    profile = prepare_profile(own)
    assert profile.root.stat().st_mode & 0o777 == 0o700
    assert not profile.pki.root.exists()  # made by Stack.up, not by looking at the status


@pytest.mark.parametrize(
    ("redis_settings", "named"),
    [
        ({"url": "redis://h:6379/0", "ssl_ca_certs": "/etc/hostname"}, "FRAUD_REDIS__SSL_CA_CERTS"),
        ({"url": "rediss://h:6379/0", "ssl_ca_certs": "/no/such/ca.crt"}, "/no/such/ca.crt"),
        ({"url": "rediss://h:6379/0", "ssl_certfile": "/etc/hostname"}, "ssl_keyfile"),
    ],
)
def test_a_bad_redis_tls_setting_is_named(
    redis_settings: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_settings.items():
        monkeypatch.setenv(f"FRAUD_REDIS__{key.upper()}", value)
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings()


def test_a_plain_redis_url_gets_no_tls_options() -> None:
    assert tls_options(Settings().redis) == {}


def kafka_error(code: int, text: str) -> KafkaError:
    return KafkaError(code, text)


def test_librdkafka_refusals_name_the_client_config_key() -> None:
    auth = kafka_error(
        KafkaError._AUTHENTICATION,
        "sasl_ssl://127.0.0.1:30092/bootstrap: SASL authentication error: Authentication "
        "failed (after 363ms in state AUTH_REQ)",
    )
    untrusted = kafka_error(
        KafkaError._SSL,
        "sasl_ssl://127.0.0.1:30092/bootstrap: SSL handshake failed: error:0A000086:SSL "
        "routines::certificate verify failed: broker certificate could not be verified "
        "(after 10ms in state SSL_HANDSHAKE)",
    )
    down = kafka_error(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
    refused = kafka_error(KafkaError._TRANSPORT, "Connect to ipv4#127.0.0.1:1 failed")
    assert kafka_refusal([down, auth]) == (
        "SASL authentication error: Authentication failed",
        KAFKA_CREDENTIALS_HINT,
    )
    assert kafka_refusal([untrusted, down]) == (kafka_reason(untrusted), KAFKA_CA_HINT)
    assert "ssl.ca.location" in KAFKA_CA_HINT and "sasl.password" in KAFKA_CREDENTIALS_HINT
    assert kafka_refusal([refused, down]) is None


def test_redis_refusals_name_the_url_or_the_ca_setting() -> None:
    assert redis_refusal(redis.AuthenticationError("invalid password")) == REDIS_CREDENTIALS_HINT
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as cause:
            raise redis.ConnectionError("Error 1 connecting to 127.0.0.1:30379.") from cause
    except redis.ConnectionError as exc:
        untrusted = exc
    assert redis_refusal(untrusted) == REDIS_CA_HINT
    assert redis_refusal(redis.ConnectionError("Error 111 connecting. Connection refused.")) is None
    assert "FRAUD_REDIS__URL" in REDIS_CREDENTIALS_HINT
    assert "FRAUD_REDIS__SSL_CA_CERTS" in REDIS_CA_HINT


def test_the_readiness_probe_of_a_secure_broker_is_the_admin_user(tmp_path: Path) -> None:
    security = KafkaSecurity(tmp_path / "k.pem", tmp_path / "ca.crt", "admin", "pw", ())
    assert security.client_config() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": "pw",
        "ssl.ca.location": str(tmp_path / "ca.crt"),
    }
