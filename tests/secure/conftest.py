"""The secure profile's servers (Kafka over SASL_SSL with SCRAM, Redis over TLS with an ACL
user), started once for the session by the stack's own code and stopped at its end unless
they were running before (a developer's ``stack up --profile secure`` is left as it was).

Clients get the settings ``stack up --profile secure`` prints: nothing here reaches the main
stack's plaintext servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import topic_factory
from worker.chaos.stack import LOCAL_JARS, link_jars
from worker.kafka.config import client_config
from worker.kafka.topics import ensure_topics
from worker.settings import Settings
from worker.stack import Stack
from worker.stack.secure import (
    Pki,
    SecureProfile,
    client_settings,
    prepare_profile,
    secure_stack_settings,
)


@dataclass(frozen=True)
class SecureStack:
    profile: SecureProfile
    client: Settings  # what a client of the stack loads from its client.env


@pytest.fixture(scope="session")
def secure_stack(settings: Settings) -> Iterator[SecureStack]:
    own = secure_stack_settings(settings)
    profile = prepare_profile(own)
    stack = Stack(own, profile=profile)
    was_running = stack.kafka.record() is not None and stack.redis.record() is not None
    link_jars(stack.kafka.jar_dir, LOCAL_JARS)
    stack.up()
    profile.write_client_env()
    client = client_settings(profile, settings)
    # What `stack up --profile secure` does next: the worker's topics, created over SASL_SSL.
    ensure_topics(AdminClient(client_config(client)), client.topics.all_topics())
    yield SecureStack(profile, client)
    if not was_running:
        stack.down()


@pytest.fixture(scope="session")
def secure_admin(secure_stack: SecureStack) -> AdminClient:
    """An admin client of the app user, over SASL_SSL."""
    return AdminClient(client_config(secure_stack.client))


@pytest.fixture
def secure_topic(secure_admin: AdminClient) -> Iterator[Callable[[int], str]]:
    """A fresh topic per call on the secure broker (created over SASL_SSL), deleted after."""
    yield from topic_factory(secure_admin)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Another CA and a certificate it signed: nothing the secure stack trusts or presents."""
    pki = Pki(tmp_path_factory.mktemp("other-ca") / "pki")
    pki.ensure(valid_days=2)
    return pki


@pytest.fixture(scope="session")
def other_ca(other_pki: Pki) -> Path:
    """The certificate of a CA that signed nothing the secure stack presents."""
    return other_pki.ca_cert
