"""``fraud-worker stack …`` and ``fraud-worker topics …``: the local stack and the topics."""

from __future__ import annotations

from enum import StrEnum

import typer
from confluent_kafka.admin import AdminClient

from worker.checks import probe_broker
from worker.cli_common import command_settings
from worker.kafka.config import client_config
from worker.kafka.topics import describe_topics, ensure_topics
from worker.settings import Settings
from worker.stack import Stack
from worker.stack.browser import chromium_executable, chromium_version

stack_app = typer.Typer(
    help="The local Kafka broker, Redis and PostgreSQL servers.", no_args_is_help=True
)
topics_app = typer.Typer(help="The worker's topics.", no_args_is_help=True)


class Profile(StrEnum):
    """``default``: the development stack (.stack/, plaintext, with PostgreSQL); ``secure``:
    Kafka over SASL_SSL and Redis over TLS with an ACL user (.stack-secure/, own ports)."""

    default = "default"
    secure = "secure"


PROFILE_OPTION = typer.Option(
    Profile.default, "--profile", help="default, or secure (SASL_SSL Kafka, TLS Redis)."
)


@stack_app.command("up")
def stack_up(
    topics: bool = typer.Option(True, help="Also create the worker's topics."),
    profile: Profile = PROFILE_OPTION,
) -> None:
    """Start Kafka, Redis and PostgreSQL (or reuse the running ones) and wait until each answers;
    --profile secure: Kafka (SASL_SSL) and Redis (TLS) only, and the client's settings."""
    settings = command_settings()
    if profile is Profile.secure:
        _secure_up(settings, topics)
        return
    status = Stack(settings, with_postgres=True).up()
    typer.echo(status.describe())
    if topics:
        _create_topics()


@stack_app.command("down")
def stack_down(profile: Profile = PROFILE_OPTION) -> None:
    """Stop the servers this stack started; nothing else is touched."""
    typer.echo(_stack(command_settings(), profile).down().describe())


@stack_app.command("status")
def stack_status(profile: Profile = PROFILE_OPTION) -> None:
    """Say what runs where."""
    typer.echo(_stack(command_settings(), profile).status().describe())


def _stack(settings: Settings, profile: Profile) -> Stack:
    if profile is Profile.default:
        return Stack(settings, with_postgres=True)
    from worker.stack.secure import prepare_profile, secure_stack_settings

    own = secure_stack_settings(settings)
    return Stack(own, profile=prepare_profile(own))


def _secure_up(settings: Settings, topics: bool) -> None:
    """Start the secure profile; print its client settings (passwords masked) and write
    them, in the clear, to its client.env (0600)."""
    from worker.chaos.stack import link_jars
    from worker.stack.secure import client_settings, prepare_profile, secure_stack_settings

    own = secure_stack_settings(settings)
    profile = prepare_profile(own)
    stack = Stack(own, profile=profile)
    # The default stack's jars, hard-linked: no second download.
    link_jars(stack.kafka.jar_dir, settings.stack.dir.resolve() / "kafka" / "jars")
    typer.echo(stack.up().describe())
    path = profile.write_client_env()
    typer.echo(f"client settings (passwords in {path}, 0600; load with: set -a; . {path}; set +a):")
    for name, value in profile.masked_env().items():
        typer.echo(f"  {name}={value}")
    if topics:
        _create_topics(client_settings(profile, settings))


@stack_app.command("browser")
def stack_browser() -> None:
    """Make sure Debian's Chromium is installed (for the browser tests); say where and which."""
    command_settings()
    executable = chromium_executable()
    typer.echo(f"chromium {executable} ({chromium_version(executable)})")


@stack_app.command("tools")
def stack_tools(
    promtool: bool = typer.Option(True, help="Debian's promtool (and Prometheus), via apt-get."),
    helm: bool = typer.Option(True, help="The pinned helm, built with `go install`."),
) -> None:
    """Make sure the deployment checks' tools are there: Debian's promtool (alert rules and
    their unit tests) and the pinned helm (the chart; built once with `go install`). Apart,
    helm's build can run beside other set-up, since it takes no apt-get lock."""
    from worker.stack.prometheus import ensure_promtool, promtool_version
    from worker.stack.tools import HELM_VERSION, ensure_helm

    settings = command_settings()
    if promtool:
        found = ensure_promtool()
        typer.echo(f"promtool {found} ({promtool_version(found)})")
    if helm:
        typer.echo(f"helm {HELM_VERSION} {ensure_helm(settings.stack.dir)}")


@stack_app.command("image")
def stack_image(
    base: str | None = typer.Option(
        None,
        help="Base image; default: Debian bookworm made with debootstrap "
        "(python:3.11-slim where a registry is reachable).",
    ),
    pypi: bool = typer.Option(
        False, help="Let pip install from PyPI during the build instead of the wheelhouse."
    ),
) -> None:
    """Build the container image (deploy/image/Containerfile) with podman:
    fraud-worker:<version> and :latest."""
    from worker.stack.image import build_image

    built = build_image(command_settings().stack.dir, base=base, pypi=pypi)
    typer.echo(f"image {' '.join(built.tags)} built in {built.build_s:.0f} s")


@topics_app.command("create")
def topics_create() -> None:
    """Create the input, scored, review and dead-letter topics if they are missing."""
    _create_topics()


@topics_app.command("describe")
def topics_describe() -> None:
    """Partition count of each of the worker's topics (0 = missing)."""
    settings = command_settings()
    probe_broker(settings)
    admin = AdminClient(client_config(settings))
    for info in describe_topics(admin, list(settings.topics.all_topics())):
        typer.echo(f"{info.name:<28} partitions={info.partitions}")


def _create_topics(settings: Settings | None = None) -> None:
    settings = settings or command_settings()
    probe_broker(settings)
    admin = AdminClient(client_config(settings))
    created = ensure_topics(admin, settings.topics.all_topics())
    typer.echo(f"topics created: {', '.join(created) if created else 'none (all present)'}")
